"""Matching a program to the reserve: the ranked list, and the city's invitations to districts.

Also gives the project page and the inbox what they show of this feature (template helpers):
a project's maturity score with its parts, and its open invitations.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from forms.matching import InvitationForm

from .. import matching, prerequisites
from ..errors import OperationError
from ..extensions import db
from ..models import District, FundingProgram, Project
from ..operations import local_today
from ..paging import ListPage, page_number
from . import form_status

bp = Blueprint("matching", __name__, url_prefix="/programs")
PER_PAGE = 50


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.app_template_global()
def prerequisite_score(project: Project) -> prerequisites.Score:
    """The project's maturity score today, for its page."""
    return prerequisites.maturity_score(project, local_today())


@bp.app_template_global()
def project_invitations(project: Project) -> list:
    """The project's invitations that still wait for a declaration, as the viewer may see them."""
    return matching.open_invitations(current_user, local_today(), project_id=project.id)


def _program_for_viewer(program_id: int) -> FundingProgram:
    if current_user.role not in matching.VIEWERS:
        abort(403, "只有市级审核员和管理人员可以查看储备项目匹配")
    return db.session.get(FundingProgram, program_id) or abort(404)


def _int_value(source, name: str) -> int | None:
    value = source.get(name, "")
    return int(value) if value.isdigit() else None


def _render(
    program: FundingProgram,
    *,
    form: InvitationForm | None = None,
    error: str | None = None,
    status: int = 200,
    source=None,
):
    """The ranked list, filtered and paged by ``source`` (the query string, or the posted form)."""
    source = request.args if source is None else source
    district_id = _int_value(source, "district")
    only_fit = source.get("fit") == "1"
    matches = matching.match_program(program, district_id=district_id)
    fitting = sum(1 for m in matches if m.fits)
    shown = [m for m in matches if m.fits] if only_fit else matches
    number = page_number(source)
    listing = ListPage(
        shown[(number - 1) * PER_PAGE : number * PER_PAGE], number, PER_PAGE, len(shown)
    )
    form = form or InvitationForm(formdata=None)
    return render_template(
        "matching/index.html",
        program=program,
        listing=listing,
        total=len(matches),
        fitting=fitting,
        only_fit=only_fit,
        district_id=district_id,
        districts=db.session.scalars(select(District).order_by(District.sort_order)).all(),
        form=form,
        ticked=set(form.project_ids.data or []),
        refusal=matching.invitation_refusal(program, current_user, local_today()),
        error=error,
    ), status


@bp.route("/<int:program_id>/matches")
def index(program_id: int):
    """Reserve projects ranked by how well they fit the program, with each reason."""
    return _render(_program_for_viewer(program_id))


@bp.route("/<int:program_id>/invitations", methods=["POST"])
def invite(program_id: int):
    """Invite the owning districts to declare the ticked projects."""
    program = _program_for_viewer(program_id)
    if current_user.role not in matching.INVITERS:
        abort(403, "只有市级审核员可以邀请区县申报")
    form = InvitationForm()
    if not form.validate_on_submit():
        # Show the list again with the ticks and the note kept, the message at the top.
        messages = [e for errors in form.errors.values() for e in errors]
        return _render(
            program,
            form=form,
            error=";".join(messages),
            status=form_status(form),
            source=request.form,
        )
    projects = db.session.scalars(
        select(Project).where(Project.id.in_(form.project_ids.data)).order_by(Project.id)
    ).all()
    try:
        result = matching.invite_to_program(
            program, list(projects), actor=current_user, message=form.message.data or ""
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render(
            program, form=form, error=error.message, status=error.status, source=request.form
        )
    if result.created:
        districts = sorted({i.project.district.name for i in result.created})
        flash(
            f"已邀请 {len(result.created)} 个项目,已通知{'、'.join(districts)}的区县填报员",
            "success",
        )
    for project, why in result.skipped:
        flash(f"「{project.name}」未邀请:{why}", "info")
    args = {k: request.form[k] for k in ("fit", "district", "page") if request.form.get(k)}
    return redirect(url_for("matching.index", program_id=program.id, **args))
