"""Funding programs (申报批次): list, detail, and editing by the city."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from forms.program import ProgramEditForm

from .. import machine, operations
from ..errors import OperationError
from ..extensions import db
from ..models import Declaration, FundingProgram
from ..permissions import scope_declarations
from . import form_status

bp = Blueprint("programs", __name__, url_prefix="/programs")
EDITORS = frozenset({"city_reviewer", "admin"})


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.route("")
def index():
    """Every program, newest first."""
    programs = db.session.scalars(
        select(FundingProgram).order_by(FundingProgram.year.desc(), FundingProgram.id.desc())
    ).all()
    return render_template(
        "programs/index.html", programs=programs, can_edit=current_user.role in EDITORS
    )


@bp.route("/<int:program_id>")
def detail(program_id: int):
    """A program's notice, windows, limits and requirements, with declarations by stage."""
    program = db.session.get(FundingProgram, program_id) or abort(404)
    by_stage = dict(
        db.session.execute(
            scope_declarations(
                select(Declaration.stage, func.count())
                .where(Declaration.program_id == program.id)
                .group_by(Declaration.stage),
                current_user,
            )
        ).all()
    )
    workflow = machine.latest(program.workflow_name)
    return render_template(
        "programs/detail.html",
        program=program,
        workflow_title=workflow.definition.title if workflow else program.workflow_name,
        by_stage=by_stage,
        can_edit=current_user.role in EDITORS,
    )


def _require_editor() -> None:
    if current_user.role not in EDITORS:
        abort(403, "只有市级审核员和系统管理员可以维护申报批次")


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new program."""
    _require_editor()
    form = ProgramEditForm()
    if form.validate_on_submit():
        program = operations.create_program(form.program_values(), actor=current_user)
        db.session.commit()
        flash("申报批次已创建", "success")
        return redirect(url_for("programs.detail", program_id=program.id))
    return render_template("programs/form.html", form=form, program=None), form_status(form)


@bp.route("/<int:program_id>/edit", methods=["GET", "POST"])
def edit(program_id: int):
    """Change a program's settings."""
    _require_editor()
    program = db.session.get(FundingProgram, program_id) or abort(404)
    form = ProgramEditForm(obj=program)
    if not form.is_submitted():
        form.version.data = program.version
        if program.max_ratio is not None:
            form.max_ratio_percent.data = program.max_ratio * 100
    if form.validate_on_submit():
        seen = int(form.version.data) if str(form.version.data).isdigit() else None
        try:
            operations.update_program(
                program, form.program_values(), actor=current_user, expected_version=seen
            )
            db.session.commit()
        except OperationError as error:
            db.session.rollback()
            return render_template(
                "programs/form.html", form=form, program=program, error=error.message
            ), error.status
        flash("申报批次已保存", "success")
        return redirect(url_for("programs.detail", program_id=program.id))
    return render_template("programs/form.html", form=form, program=program), form_status(form)
