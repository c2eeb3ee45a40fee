"""Declarations (申报): detail with timeline, the program's form, attachments, review actions."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from forms.declaration import AttachmentUploadForm, ReviewActionForm, declaration_edit_form
from forms.dossier import DossierRequestForm
from forms.project import VersionForm

from .. import countersign, delegations, machine, operations, tracking, vocab
from ..audit import events_of
from ..errors import OperationError
from ..extensions import db
from ..models import (
    Attachment,
    Declaration,
    District,
    Dossier,
    FundingProgram,
    Project,
)
from ..permissions import attachment_or_404, declaration_or_404, scope_declarations
from ..rules import missing_for_submission
from ..storage import upload_path
from . import form_errors, form_status, send_download

EXPERT_ACTIONS = frozenset({"assign_expert", "unassign_expert", "score"})
bp = Blueprint("declarations", __name__)
# The review form's fields a person types into (the others come from the page itself).
USER_TYPED = ("comment", "approval_doc_number", "approved_amount", "approved_on")


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.route("/declarations")
def index():
    """Declarations the user may see, filtered by program, stage and district."""
    query = scope_declarations(select(Declaration), current_user).options(
        joinedload(Declaration.program), joinedload(Declaration.project)
    )
    program_id = request.args.get("program", "")
    stage = request.args.get("stage", "")
    district = request.args.get("district", "")
    if program_id.isdigit():
        query = query.where(Declaration.program_id == int(program_id))
    if stage in vocab.STAGES:
        query = query.where(Declaration.stage == stage)
    if district.isdigit() and not current_user.is_district_user:
        query = query.where(Project.district_id == int(district))
    page = db.paginate(query.order_by(Declaration.updated_at.desc()), per_page=30, error_out=False)
    programs = db.session.scalars(select(FundingProgram).order_by(FundingProgram.id.desc())).all()
    districts = db.session.scalars(select(District).order_by(District.sort_order)).all()
    return render_template(
        "declarations/index.html",
        page=page,
        programs=programs,
        districts=districts,
        program_id=program_id,
        stage=stage,
        district=district,
    )


def _render_detail(
    decl: Declaration,
    *,
    action_form: ReviewActionForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    context = operations.workflow_context()
    allowed = machine.allowed_triggers(decl, current_user, context)
    missing = (
        missing_for_submission(decl, context.city_code, context.today) if decl.is_editable else []
    )
    # What keeps the applicant from submitting: the content, and also the program's window
    # (a closed program or a passed deadline), which a content checklist alone would hide.
    submit_trigger = {"draft": "submit", "returned": "resubmit"}.get(decl.stage)
    blockers = missing
    if submit_trigger and current_user.role == "district_staff" and submit_trigger not in allowed:
        blockers = machine.refusal_reasons(decl, submit_trigger, current_user, context)
    events = events_of("declaration", decl.id)
    if current_user.is_district_user:
        # The applicant's page does not name the experts who were assigned or who scored; the
        # dossier, the official package sent upstream, does.
        events = [e for e in events if e.action not in EXPERT_ACTIONS]
    dossiers = db.session.scalars(
        select(Dossier).where(Dossier.declaration_id == decl.id).order_by(Dossier.id.desc())
    ).all()
    form = action_form or ReviewActionForm(
        formdata=None, version=decl.version, approved_channel=decl.program.channel
    )
    return render_template(
        "declarations/detail.html",
        decl=decl,
        allowed=allowed,
        missing=missing,
        blockers=blockers,
        submit_trigger=submit_trigger,
        events=events,
        dossiers=dossiers,
        action_form=form,
        upload_form=AttachmentUploadForm(),
        dossier_form=DossierRequestForm(),
        delete_form=VersionForm(),
        error=error,
        comment_required=machine.comment_required(decl),
    ), status


@bp.route("/declarations/<int:declaration_id>")
def detail(declaration_id: int):
    """A declaration with its content, what is missing, the timeline and the actions."""
    return _render_detail(declaration_or_404(declaration_id, current_user))


@bp.route("/declarations/<int:declaration_id>/edit", methods=["GET", "POST"])
def edit(declaration_id: int):
    """Fill the program's form; saving as a draft is always possible."""
    decl = declaration_or_404(declaration_id, current_user)
    if current_user.role != "district_staff":
        abort(403, "只有区县填报员可以填写申报")
    if not decl.is_editable:
        flash(f"申报当前为「{decl.stage_label}」,不能修改", "warning")
        return redirect(url_for("declarations.detail", declaration_id=decl.id))
    form = declaration_edit_form(decl.program, decl.project)
    if request.method == "GET":
        form.requested_amount.data = decl.requested_amount
        form.version.data = decl.version
        for spec in decl.program.form_fields or []:
            form[f"f_{spec['name']}"].data = decl.form_data.get(spec["name"], "")
    if form.validate_on_submit():
        seen = int(form.version.data) if str(form.version.data).isdigit() else None
        try:
            operations.update_declaration(
                decl,
                {"requested_amount": form.requested_amount.data, "form_data": form.form_data()},
                actor=current_user,
                expected_version=seen,
            )
            db.session.commit()
        except OperationError as error:
            db.session.rollback()
            return render_template(
                "declarations/form.html", form=form, decl=decl, error=error.message
            ), error.status
        flash("申报已保存为草稿" if decl.stage == "draft" else "申报已保存", "success")
        return redirect(url_for("declarations.detail", declaration_id=decl.id))
    return render_template("declarations/form.html", form=form, decl=decl), form_status(form)


@bp.route("/declarations/<int:declaration_id>/actions", methods=["POST"])
def act(declaration_id: int):
    """Submit, approve, return, reject, withdraw or record a result; one transaction each."""
    decl = declaration_or_404(declaration_id, current_user)
    form = ReviewActionForm()
    if not form.validate_on_submit():
        typed = [m for name in USER_TYPED for m in form[name].errors]
        if typed and not (form.action.errors or form.version.errors):
            # Something the user typed (an amount, a date) is wrong: say what, keep the rest.
            return _render_detail(decl, action_form=form, error=";".join(typed), status=422)
        return _render_detail(decl, action_form=form, error="请求无效,请刷新页面后重试", status=400)
    approval = None
    if form.action.data == "record_approval":
        approval = {
            "doc_number": form.approval_doc_number.data,
            "amount": form.approved_amount.data,
            "approved_on": form.approved_on.data,
        }
    on_behalf_of = None
    if form.on_behalf_of.data:
        # An id that names no reviewer the user stands in for today must not fall back to
        # acting as themself.
        on_behalf_of = delegations.principal_of(
            current_user, form.on_behalf_of.data, operations.local_today()
        )
        if on_behalf_of is None:
            return _render_detail(
                decl, action_form=form, error=delegations.NOT_A_PRINCIPAL, status=403
            )
    stage_before = decl.stage
    try:
        operations.act_on_declaration(
            decl,
            form.action.data,
            actor=current_user,
            comment=form.comment.data or "",
            expected_version=int(form.version.data),
            approval=approval,
            on_behalf_of=on_behalf_of,
        )
        if form.action.data == "record_approval":
            channel = form.approved_channel.data or decl.program.channel
            tracking.record_approval_channel(decl, channel, actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        decl = declaration_or_404(declaration_id, current_user)
        return _render_detail(decl, action_form=form, error=error.message, status=error.status)
    stage = machine.workflow_for(decl).stage(decl.stage)
    if decl.stage == stage_before and stage is not None and stage.kind == "countersign":
        waiting = countersign.still_needed(decl, stage)
        flash(f"已会签同意,还需 {waiting} 人签署", "success")
    else:
        flash(f"已{vocab.ACTIONS[form.action.data]}:申报现为「{decl.stage_label}」", "success")
    return redirect(url_for("declarations.detail", declaration_id=decl.id))


@bp.route("/declarations/<int:declaration_id>/attachments", methods=["POST"])
def upload(declaration_id: int):
    """Upload an attachment; the file's bytes decide its type."""
    decl = declaration_or_404(declaration_id, current_user)
    form = AttachmentUploadForm()
    if not form.validate_on_submit():
        return _render_detail(decl, error=form_errors(form), status=422)
    file = form.file.data
    try:
        operations.add_attachment(
            decl,
            kind=form.kind.data,
            filename=file.filename or "",
            content=file.read(),
            actor=current_user,
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        return _render_detail(decl, error=error.message, status=error.status)
    flash("附件已上传", "success")
    return redirect(url_for("declarations.detail", declaration_id=decl.id) + "#attachments")


def attachment_download(attachment: Attachment):
    """The stored file under its original (Chinese) name; 404 when the file is gone.

    The API's download answers with this same response.
    """
    path = upload_path(attachment.stored_name)
    if not path.exists():
        abort(404)
    extension = attachment.stored_name.rsplit(".", 1)[-1]
    return send_download(
        path,
        attachment.content_type,
        attachment.original_name,
        fallback=f"attachment-{attachment.id}.{extension}",
    )


@bp.route("/attachments/<int:attachment_id>")
def download_attachment(attachment_id: int):
    """The stored file under its original (Chinese) name."""
    return attachment_download(attachment_or_404(attachment_id, current_user))


@bp.route("/attachments/<int:attachment_id>/delete", methods=["POST"])
def delete_attachment(attachment_id: int):
    """Remove an attachment while the declaration is editable."""
    attachment = attachment_or_404(attachment_id, current_user)
    if not VersionForm().validate_on_submit():
        abort(400)
    declaration_id = attachment.declaration_id
    operations.remove_attachment(attachment, actor=current_user)
    db.session.commit()
    flash("附件已删除", "success")
    return redirect(url_for("declarations.detail", declaration_id=declaration_id) + "#attachments")
