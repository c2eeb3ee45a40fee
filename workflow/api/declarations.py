"""Declarations, their actions, attachments and dossiers through the API.

The same calls the pages make: ``permissions`` to find an object (another district's is a 404),
``operations`` to change it (their refusals become 403, 409 or 422), one commit, then the job.
"""

from collections.abc import Iterable
from decimal import Decimal

from flask import Response, abort, g, url_for
from spectree import Response as SpecResponse

from forms.declaration import field_max_length
from forms.fields import strip

from .. import delegations, machine, operations, queue, rules
from ..audit import events_of
from ..errors import Invalid, NotPermitted
from ..extensions import db
from ..models import Attachment, AuditEvent, Declaration, Dossier, FundingProgram, Project
from ..permissions import (
    attachment_or_404,
    declaration_or_404,
    dossier_or_404,
    project_or_404,
)
from ..views.declarations import attachment_download
from ..views.dossiers import dossier_download
from . import bp, responses, spec
from .declaration_schemas import (
    ActionRequest,
    Actor,
    AttachmentOut,
    AttachmentUpload,
    DeclarationCreate,
    DeclarationHistory,
    DeclarationOut,
    DeclarationUpdate,
    DossierOut,
    DossierTicket,
    HistoryEvent,
    ReviewOpinionOut,
)
from .errors import error_response
from .projects import responses_with_overlap


class FileResponse(SpecResponse):
    """Documented responses whose success is a file of the given media types, not JSON."""

    def __init__(self, media_types: Iterable[str], description: str, *errors: int):
        # The errors every endpoint documents, from the one helper that lists them.
        errors_documented = responses("HTTP_200", None, *errors)._raw_code_models
        super().__init__(**errors_documented, HTTP_200=(None, description))
        self.media_types = tuple(media_types)

    def generate_spec(self, *args, **kwargs) -> dict:
        generated = super().generate_spec(*args, **kwargs)
        binary = {"schema": {"type": "string", "format": "binary"}}
        generated["200"]["content"] = {media_type: binary for media_type in self.media_types}
        return generated


def _file(response: Response) -> Response:
    """A file response read into memory, its file closed, so spectree can pass it on.

    Spectree reads every response body (``get_data``) and answers with a copy, which a file
    streamed in direct-passthrough mode refuses, and the original (holding the open file) is
    never closed. Both kinds of file here are bounded (an upload by MAX_CONTENT_LENGTH, a
    dossier by what one declaration holds), so reading them whole is fine.
    """
    response.direct_passthrough = False
    response.make_sequence()
    response.close()
    return response


def _require_multipart(form):
    """Spectree hands a form view no form when the body is of another kind (JSON, say)."""
    if form is None:
        message = "请以 multipart/form-data 上传文件"
        abort(error_response(422, "validation_failed", message, {"body": message}))
    return form


# --- what the API shows ---------------------------------------------------------------------


def attachment_out(attachment: Attachment) -> AttachmentOut:
    """The API's view of an attachment."""
    return AttachmentOut(
        id=attachment.id,
        kind=attachment.kind,
        kind_label=attachment.kind_label,
        filename=attachment.original_name,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        uploaded_at=attachment.created_at,
        url=url_for("api.get_attachment", attachment_id=attachment.id),
    )


def declaration_out(decl: Declaration) -> DeclarationOut:
    """The API's view of a declaration, with what the caller may do next."""
    context = operations.workflow_context()
    missing = (
        rules.missing_for_submission(decl, context.city_code, context.today)
        if decl.is_editable
        else []
    )
    return DeclarationOut(
        id=decl.id,
        project_id=decl.project_id,
        program_id=decl.program_id,
        stage=decl.stage,
        stage_label=decl.stage_label,
        version=decl.version,
        requested_amount=decl.requested_amount,
        data={name: "" if value is None else str(value) for name, value in decl.form_data.items()},
        created_at=decl.created_at,
        updated_at=decl.updated_at,
        submitted_at=decl.submitted_at,
        approval_doc_number=decl.approval_doc_number,
        approved_amount=decl.approved_amount,
        approved_on=decl.approved_on,
        attachments=[attachment_out(a) for a in decl.attachments],
        missing=missing,
        allowed_actions=machine.allowed_triggers(decl, g.api_user, context),
    )


def _actor(user) -> Actor | None:
    if user is None:
        return None
    return Actor(id=user.id, display_name=user.display_name, role=user.role)


def _stages(event: AuditEvent) -> dict:
    """The stages a workflow transition went from and to; other records have none."""
    before, after = event.before or {}, event.after or {}
    if "stage" in before and "stage" in after:
        return {"from_stage": before["stage"], "to_stage": after["stage"]}
    return {"from_stage": None, "to_stage": None}


def dossier_out(dossier: Dossier) -> DossierOut:
    """The API's view of a dossier; ``download_url`` once the PDF is ready."""
    ready = dossier.status == "ready"
    return DossierOut(
        id=dossier.id,
        declaration_id=dossier.declaration_id,
        status=dossier.status,
        status_label=dossier.status_label,
        declaration_version=dossier.declaration_version,
        project_version=dossier.project_version,
        current=dossier.is_current,
        error=dossier.error,
        page_count=dossier.page_count,
        size=dossier.size,
        created_at=dossier.created_at,
        finished_at=dossier.finished_at,
        download_url=url_for("api.get_dossier_pdf", dossier_id=dossier.id) if ready else None,
    )


def _location(response_model, status: int, endpoint: str, **values):
    return response_model, status, {"Location": url_for(endpoint, **values)}


# --- the content rules, shared with the page form -------------------------------------------


def _content_errors(
    program: FundingProgram,
    project: Project,
    data: dict[str, str],
    *,
    amount: Decimal | None = None,
    check_amount: bool = False,
) -> dict[str, str]:
    """What the page form would refuse in this content, keyed by the API's field names."""
    errors: dict[str, str] = {}
    fields = program.form_fields or []
    known = {spec["name"] for spec in fields}
    for name in data:
        if name not in known:
            errors[f"data.{name}"] = "不认识的字段:本批次的申报表没有这一项"
    limited = [{**spec, "max_length": field_max_length(spec)} for spec in fields]
    for name, message in rules.form_field_errors(limited, data, for_submission=False).items():
        errors[f"data.{name}"] = message
    if check_amount:
        refused = rules.requested_amount_errors(amount, project.total_investment, program)
        if refused:
            errors["requested_amount"] = ";".join(refused)
    return errors


def _refuse_content(errors: dict[str, str]) -> None:
    if errors:
        raise Invalid("申报内容不符合要求,请按字段说明修改", fields=errors)


def _cleaned(data: dict[str, str]) -> dict[str, str]:
    """Answers trimmed as the page form trims them."""
    return {name: strip(value) for name, value in data.items()}


# --- declarations ---------------------------------------------------------------------------


@bp.post("/declarations")
@spec.validate(
    json=DeclarationCreate,
    resp=responses_with_overlap("HTTP_201", DeclarationOut, 400, 403, 404),
    tags=["declarations"],
)
def create_declaration(json: DeclarationCreate):
    """Start a draft declaration of a project to an open program (区县填报员).

    The project must be the caller's; one live declaration per project and program (409).
    The same project active in another channel this year, or a likely duplicate in the library,
    answers 409 ``overlap`` listing ``warnings``, unless the request carries ``overlap_reason``.
    """
    project = project_or_404(json.project_id, g.api_user)
    program = db.session.get(FundingProgram, json.program_id)
    if program is None:
        return error_response(404, "not_found", "申报批次不存在")
    data = _cleaned(json.data)
    _refuse_content(
        _content_errors(program, project, data, amount=json.requested_amount, check_amount=True)
    )
    decl = operations.create_declaration(
        project,
        program,
        {"requested_amount": json.requested_amount, "form_data": data},
        actor=g.api_user,
        overlap_reason=json.overlap_reason,
    )
    db.session.commit()
    return _location(declaration_out(decl), 201, "api.get_declaration", declaration_id=decl.id)


@bp.get("/declarations/<int:declaration_id>")
@spec.validate(resp=responses("HTTP_200", DeclarationOut, 404), tags=["declarations"])
def get_declaration(declaration_id: int):
    """A declaration: its stage and version, content, attachments, what is missing, and the
    actions the caller may take now."""
    return declaration_out(declaration_or_404(declaration_id, g.api_user))


@bp.patch("/declarations/<int:declaration_id>")
@spec.validate(
    json=DeclarationUpdate,
    resp=responses("HTTP_200", DeclarationOut, 400, 403, 404, 409),
    tags=["declarations"],
)
def update_declaration(declaration_id: int, json: DeclarationUpdate):
    """Change the requested amount or answers of a draft or returned declaration (区县填报员)."""
    decl = declaration_or_404(declaration_id, g.api_user)
    values: dict = {}
    data = _cleaned(json.data)
    if data:
        values["form_data"] = {**decl.form_data, **data}
    amount_given = "requested_amount" in json.model_fields_set
    if amount_given:
        values["requested_amount"] = json.requested_amount
    _refuse_content(
        _content_errors(
            decl.program,
            decl.project,
            data,
            amount=json.requested_amount,
            check_amount=amount_given,
        )
    )
    operations.update_declaration(decl, values, actor=g.api_user, expected_version=json.version)
    db.session.commit()
    return declaration_out(decl)


@bp.post("/declarations/<int:declaration_id>/actions")
@spec.validate(
    json=ActionRequest,
    resp=responses("HTTP_200", DeclarationOut, 400, 403, 404, 409),
    tags=["declarations"],
)
def act_on_declaration(declaration_id: int, json: ActionRequest):
    """Submit, approve, return, reject, withdraw or record the upstream result.

    409: the stage does not allow it or the version is stale; 403: the caller's role may not;
    422: a guard refused (incomplete, outside the window, no comment), reasons in
    ``fields.action``. A delegate (代理人) acting for a reviewer sends ``on_behalf_of``; 403 when
    no delegation in force names them.
    """
    decl = declaration_or_404(declaration_id, g.api_user)
    on_behalf_of = None
    if json.on_behalf_of is not None:
        on_behalf_of = delegations.principal_of(
            g.api_user, json.on_behalf_of, operations.local_today()
        )
        if on_behalf_of is None:
            raise NotPermitted(delegations.NOT_A_PRINCIPAL)
    approval = None
    if json.approval is not None:
        if json.action != "record_approval":
            raise Invalid(
                "只有登记批复时才填写批复信息",
                fields={"approval": "只有登记批复(record_approval)时才填写"},
            )
        approval = json.approval.model_dump()
    try:
        operations.act_on_declaration(
            decl,
            json.action,
            actor=g.api_user,
            comment=json.comment,
            expected_version=json.version,
            approval=approval,
            on_behalf_of=on_behalf_of,
        )
    except Invalid as refused:
        raise Invalid(refused.message, fields={"action": ";".join(refused.reasons)}) from refused
    db.session.commit()
    return declaration_out(decl)


@bp.get("/declarations/<int:declaration_id>/history")
@spec.validate(resp=responses("HTTP_200", DeclarationHistory, 404), tags=["declarations"])
def declaration_history(declaration_id: int):
    """Who did what to the declaration and when (the audit trail), and the review opinions."""
    decl = declaration_or_404(declaration_id, g.api_user)
    events = events_of("declaration", decl.id)
    return DeclarationHistory(
        events=[
            HistoryEvent(
                at=event.at,
                actor=_actor(event.actor),
                action=event.action,
                action_label=event.action_label,
                **_stages(event),
                comment=event.comment,
                before=event.before,
                after=event.after,
                on_behalf_of=_actor(event.on_behalf_of),
            )
            for event in events
        ],
        opinions=[
            ReviewOpinionOut(
                at=opinion.created_at,
                reviewer=_actor(opinion.reviewer),
                stage=opinion.stage,
                action=opinion.action,
                comment=opinion.comment,
                on_behalf_of=_actor(opinion.on_behalf_of),
            )
            for opinion in decl.opinions
        ],
    )


# --- attachments ----------------------------------------------------------------------------


@bp.post("/declarations/<int:declaration_id>/attachments")
@spec.validate(
    form=AttachmentUpload,
    resp=responses("HTTP_201", AttachmentOut, 400, 403, 404, 409, 413),
    tags=["attachments"],
)
def upload_attachment(declaration_id: int, form: AttachmentUpload):
    """Upload a file to a draft or returned declaration (区县填报员); its bytes decide its type.

    413 when the request is larger than the upload limit.
    """
    form = _require_multipart(form)
    decl = declaration_or_404(declaration_id, g.api_user)
    attachment = operations.add_attachment(
        decl,
        kind=form.kind,
        filename=form.file.filename or "",
        content=form.file.read(),
        actor=g.api_user,
    )
    db.session.commit()
    return _location(
        attachment_out(attachment), 201, "api.get_attachment", attachment_id=attachment.id
    )


@bp.get("/attachments/<int:attachment_id>")
@spec.validate(
    resp=FileResponse(operations.ALLOWED_UPLOADS, "文件本身(类型见 Content-Type)", 404),
    tags=["attachments"],
)
def get_attachment(attachment_id: int):
    """The file under its original name (``Content-Disposition`` with ``filename*``)."""
    return _file(attachment_download(attachment_or_404(attachment_id, g.api_user)))


# --- dossiers -------------------------------------------------------------------------------


@bp.post("/declarations/<int:declaration_id>/dossiers")
@spec.validate(resp=responses("HTTP_202", DossierTicket, 400, 404), tags=["dossiers"])
def request_dossier(declaration_id: int):
    """Ask for the PDF dossier of the declaration's current data; answers at once.

    Asking again for the same data version returns the same dossier.
    """
    decl = declaration_or_404(declaration_id, g.api_user)
    dossier, needs_job = operations.request_dossier(decl, actor=g.api_user)
    db.session.commit()
    if needs_job:  # only after the commit, so the worker finds the row
        queue.enqueue_dossier(dossier.id, dossier.job_id)
    url = url_for("api.get_dossier", dossier_id=dossier.id)
    return DossierTicket(id=dossier.id, status=dossier.status, url=url), 202, {"Location": url}


@bp.get("/dossiers/<int:dossier_id>")
@spec.validate(resp=responses("HTTP_200", DossierOut, 404), tags=["dossiers"])
def get_dossier(dossier_id: int):
    """A dossier's status; ``download_url`` once it is ready."""
    return dossier_out(dossier_or_404(dossier_id, g.api_user))


@bp.get("/dossiers/<int:dossier_id>/pdf")
@spec.validate(
    resp=FileResponse(["application/pdf"], "申报材料 PDF", 404),
    tags=["dossiers"],
)
def get_dossier_pdf(dossier_id: int):
    """The dossier's PDF; 404 until it is ready."""
    dossier = dossier_or_404(dossier_id, g.api_user)
    if dossier.status != "ready":
        return error_response(
            404, "not_ready", f"申报材料{dossier.status_label},生成完毕后才能下载"
        )
    return _file(dossier_download(dossier))
