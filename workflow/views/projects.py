"""The project library (项目库): list with filters, detail, create, edit, prerequisites."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from forms.declaration import DeclarationStartForm
from forms.fields import choices
from forms.project import MaturityActionForm, PrerequisiteForm, ProjectEditForm, VersionForm

from .. import maturity, operations, vocab
from ..audit import events_of
from ..errors import OperationError, OverlapWarning
from ..extensions import db
from ..library import library_page
from ..models import District, FundingProgram, Prerequisite, Project
from ..operations import PROJECT_FIELDS
from ..permissions import project_or_404
from . import form_status

bp = Blueprint("projects", __name__, url_prefix="/projects")
PER_PAGE = 20


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.route("")
def index():
    """The library with filters by district, category, maturity, declaration stage and text."""
    filters = {k: request.args.get(k, "").strip() for k in ("category", "maturity", "stage", "q")}
    district_id = _int_arg("district")
    page = library_page(request.args, current_user, per_page=PER_PAGE)
    districts = db.session.scalars(select(District).order_by(District.sort_order)).all()
    return render_template(
        "projects/index.html",
        page=page,
        filters=filters,
        district_id=district_id,
        districts=districts,
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    """A new project in the user's district."""
    _require_staff()
    form = ProjectEditForm()
    if form.validate_on_submit():
        try:
            project = operations.create_project(
                form.cleaned(*PROJECT_FIELDS),
                actor=current_user,
                overlap_reason=form.overlap_reason.data,
            )
        except OverlapWarning as warning:
            # Show what looks the same and ask for a reason; everything typed stays on the page.
            db.session.rollback()
            if "overlap_reason" in request.form:  # the reason was asked for and left blank
                form.overlap_reason.errors = ["请填写继续的理由"]
            return render_template(
                "projects/form.html", form=form, project=None, overlaps=warning.warnings
            ), warning.status
        db.session.commit()
        flash("项目已保存", "success")
        return redirect(url_for("projects.detail", project_id=project.id))
    return render_template("projects/form.html", form=form, project=None), form_status(form)


@bp.route("/<int:project_id>")
def detail(project_id: int):
    """A project with its prerequisites, declarations and history."""
    return render_detail(project_or_404(project_id, current_user))


def render_detail(
    project: Project,
    *,
    prerequisite_form: PrerequisiteForm | None = None,
    maturity_form: MaturityActionForm | None = None,
    start_form: DeclarationStartForm | None = None,
    overlaps: list | None = None,
    redeclare_form=None,
    redeclare_overlaps: list | None = None,
    error: str | None = None,
    status: int = 200,
):
    """The project page, with the forms as the user left them and any refusal explained."""
    events = events_of("project", project.id, newest_first=True)
    return render_template(
        "projects/detail.html",
        project=project,
        events=events,
        maturity_allowed=maturity.allowed_triggers(project, current_user),
        maturity_form=maturity_form or MaturityActionForm(formdata=None, version=project.version),
        reason_required=maturity.REASON_REQUIRED,
        prerequisite_form=prerequisite_form or PrerequisiteForm(formdata=None),
        start_form=start_form or _start_form(project),
        overlaps=overlaps or [],
        redeclare_bound=redeclare_form,
        redeclare_overlaps=redeclare_overlaps or [],
        delete_form=VersionForm(formdata=None),
        error=error or ("前期要件未添加,请按提示修改后重新提交" if prerequisite_form else None),
    ), status


def _require_staff() -> None:
    """Only district staff fill in projects; reviewers and the city read them."""
    if current_user.role != "district_staff":
        abort(403, "只有区县填报员可以填报和修改项目")


def _start_form(project: Project) -> DeclarationStartForm:
    form = DeclarationStartForm()
    programs = db.session.scalars(
        select(FundingProgram)
        .where(FundingProgram.status == "open")
        .order_by(FundingProgram.district_deadline)
    ).all()
    declared = {d.program_id for d in project.declarations if d.stage != "withdrawn"}
    form.program_id.choices = choices(
        (p.id, f"{p.title}(区县截止 {p.district_deadline})")
        for p in programs
        if p.id not in declared
    )
    return form


@bp.route("/<int:project_id>/edit", methods=["GET", "POST"])
def edit(project_id: int):
    """Edit a project; a stale version is refused with the user's input kept on the page."""
    project = project_or_404(project_id, current_user)
    _require_staff()
    form = ProjectEditForm(obj=project)
    if request.method == "GET":
        form.version.data = project.version
    if form.validate_on_submit():
        seen = int(form.version.data) if str(form.version.data).isdigit() else None
        try:
            operations.update_project(
                project, form.cleaned(*PROJECT_FIELDS), actor=current_user, expected_version=seen
            )
            db.session.commit()
        except OperationError as error:
            # Keep what the user typed on the page; nothing of theirs is saved or lost.
            db.session.rollback()
            return render_template(
                "projects/form.html", form=form, project=project, error=error.message
            ), error.status
        flash("项目已保存", "success")
        return redirect(url_for("projects.detail", project_id=project.id))
    return render_template("projects/form.html", form=form, project=project), form_status(form)


@bp.route("/<int:project_id>/maturity", methods=["POST"])
def change_maturity(project_id: int):
    """纳入储备, 开工, 竣工, 验收, 出库 or 恢复入库; one transaction each."""
    project = project_or_404(project_id, current_user)
    form = MaturityActionForm()
    if not form.validate_on_submit():
        if form.reason.errors and not (form.action.errors or form.version.errors):
            return render_detail(
                project, maturity_form=form, error=";".join(form.reason.errors), status=422
            )
        return render_detail(
            project, maturity_form=form, error="请求无效,请刷新页面后重试", status=400
        )
    try:
        operations.change_maturity(
            project,
            form.action.data,
            actor=current_user,
            reason=form.reason.data or "",
            expected_version=int(form.version.data),
        )
        db.session.commit()
    except OperationError as error:
        # Keep the reason the user typed; nothing of theirs is saved or lost.
        db.session.rollback()
        project = project_or_404(project_id, current_user)
        return render_detail(project, maturity_form=form, error=error.message, status=error.status)
    flash(
        f"已{vocab.MATURITY_ACTIONS[form.action.data]}:项目成熟度现为「{project.maturity_label}」",
        "success",
    )
    return redirect(url_for("projects.detail", project_id=project.id) + "#maturity")


@bp.route("/<int:project_id>/prerequisites", methods=["POST"])
def add_prerequisite(project_id: int):
    """Add a 前期要件."""
    project = project_or_404(project_id, current_user)
    form = PrerequisiteForm()
    if not form.validate_on_submit():
        # Show the page again with what was typed, the messages beside the fields.
        return render_detail(project, prerequisite_form=form, status=422)
    try:
        operations.add_prerequisite(project, form.cleaned(), actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return render_detail(
            project, prerequisite_form=form, error=error.message, status=error.status
        )
    flash("前期要件已添加", "success")
    return redirect(url_for("projects.detail", project_id=project.id) + "#prerequisites")


@bp.route("/<int:project_id>/prerequisites/<int:prereq_id>/delete", methods=["POST"])
def remove_prerequisite(project_id: int, prereq_id: int):
    """Remove a 前期要件 entered by mistake."""
    project = project_or_404(project_id, current_user)
    prereq = db.session.get(Prerequisite, prereq_id)
    if prereq is None or prereq.project_id != project.id or not VersionForm().validate_on_submit():
        abort(404)
    try:
        operations.remove_prerequisite(prereq, actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return render_detail(project, error=error.message, status=error.status)
    flash("前期要件已删除", "success")
    return redirect(url_for("projects.detail", project_id=project.id) + "#prerequisites")


@bp.route("/<int:project_id>/declarations", methods=["POST"])
def start_declaration(project_id: int):
    """Start a draft declaration of this project to an open program."""
    project = project_or_404(project_id, current_user)
    form = _start_form(project)
    if not form.validate_on_submit():
        flash("请选择一个开放中的申报批次", "danger")
        return redirect(url_for("projects.detail", project_id=project.id))
    program = db.session.get(FundingProgram, form.program_id.data)
    try:
        decl = operations.create_declaration(
            project, program, {}, actor=current_user, overlap_reason=form.overlap_reason.data
        )
    except OverlapWarning as warning:
        # The page again, the program still chosen, the warnings and a reason to write.
        db.session.rollback()
        if "overlap_reason" in request.form:  # the reason was asked for and left blank
            form.overlap_reason.errors = ["请填写继续的理由"]
        project = project_or_404(project_id, current_user)
        return render_detail(
            project,
            start_form=form,
            overlaps=warning.warnings,
            error=warning.message,
            status=warning.status,
        )
    db.session.commit()
    flash("申报草稿已创建,请填写申报信息", "success")
    return redirect(url_for("declarations.edit", declaration_id=decl.id))
