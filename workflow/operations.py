"""Every state change of the app: mutate, flush, log. The caller commits once.

Operations trust nothing about the actor but what they check here, so the web pages, the CLI
and any later API share one copy of the rules.
"""

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import filetype
from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from . import countersign, machine, maturity, overlap, vocab
from .audit import column_changes, record
from .errors import STALE_MESSAGE, Conflict, Invalid, NotPermitted, Refusal
from .extensions import db
from .models import (
    ApiToken,
    Attachment,
    Declaration,
    Dossier,
    FundingProgram,
    Prerequisite,
    Project,
    ReviewOpinion,
    User,
)
from .storage import atomic_write, new_stored_name, upload_path
from .types import utcnow

PROJECT_FIELDS = (
    "code",
    "name",
    "applicant_unit",
    "applicant_uscc",
    "category",
    "industry_chain",
    "nature",
    "location",
    "planned_start",
    "planned_end",
    "total_investment",
    *vocab.FUND_SOURCES,
    "content",
    "data_content",
    "is_key",
    "contact_name",
    "contact_mobile",
)

log = logging.getLogger(__name__)

# Upload types judged by the file's bytes; the name the user gave decides nothing.
ALLOWED_UPLOADS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


# After a lost race the winner's version number is not known without another query.
STALE_UNKNOWN_MESSAGE = (
    "该记录已被他人修改(您看到的是第 {seen} 版,他人刚刚保存了更新的版本),请刷新页面后重试。"
)
# The other writer still holds the row (or the database): trying again in a moment will do.
BUSY_MESSAGE = "该记录正由他人保存,请稍后刷新页面重试。"
# PostgreSQL's lock_not_available, deadlock_detected and serialization_failure.
LOCK_SQLSTATES = frozenset({"55P03", "40P01", "40001"})


def local_today() -> date:
    """Today's date in the bureau's time zone; deadlines are local calendar days."""
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def workflow_context(
    comment: str = "",
    approval: dict | None = None,
    *,
    on_behalf_of: User | None = None,
    system: bool = False,
) -> machine.Context:
    """The context guards read: today, the city, what the actor typed, and for whom they act."""
    return machine.Context(
        today=local_today(),
        city_code=current_app.config["CITY_CODE"],
        comment=comment or "",
        approval=approval,
        on_behalf_of=on_behalf_of,
        system=system,
    )


def expect_version(obj, expected_version: int | None) -> None:
    """Refuse to change obj when the page that asked for it showed an older version."""
    if expected_version is not None and obj.version != expected_version:
        raise Conflict(STALE_MESSAGE.format(seen=expected_version, current=obj.version))


@contextmanager
def _stale_is_conflict(obj, expected_version: int | None):
    """Turn a concurrent writer's win, found when our UPDATE matches no row, into a conflict.

    Any query inside the block may autoflush, so the whole change sits inside, not only the
    final flush.
    """
    seen = expected_version if expected_version is not None else obj.version
    try:
        yield
    except StaleDataError as exc:
        raise Conflict(STALE_UNKNOWN_MESSAGE.format(seen=seen)) from exc
    except OperationalError as exc:
        if not _is_lock_timeout(exc):
            raise
        log.warning("write to %r waited too long for a lock: %s", obj, exc.orig)
        raise Conflict(BUSY_MESSAGE) from exc


def _is_lock_timeout(exc: OperationalError) -> bool:
    """SQLite's busy_timeout ran out, or PostgreSQL gave up waiting (or found a deadlock)."""
    if getattr(exc.orig, "sqlstate", None) in LOCK_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def flush_or_conflict(obj, expected_version: int | None) -> None:
    """Flush; a concurrent writer that won the race surfaces here as a conflict."""
    with _stale_is_conflict(obj, expected_version):
        db.session.flush()


def _touch(obj) -> None:
    """Give obj a new version although none of its own columns changed.

    Attachments and prerequisites live in their own tables, yet a dossier printed before they
    changed is out of date: bumping the owner's version says so, and a reviewer acting on the
    version they saw learns that the material moved under them.
    """
    obj.updated_at = utcnow()


def _refuse_while_under_review(project: Project) -> None:
    if project.is_under_review:
        raise Conflict("该项目有正在审核中的申报,审核结束或退回后才能修改项目信息")


def _refuse(refusal: Refusal, action_label: str) -> NoReturn:
    """Raise what a workflow refusal means: 409 wrong stage, 403 wrong role, 422 failed guard."""
    error = {"stage": Conflict, "role": NotPermitted, "guard": Invalid}[refusal.kind]
    raise error(f"无法执行「{action_label}」:{';'.join(refusal.reasons)}", reasons=refusal.reasons)


def _require_district_staff(actor: User, district_id: int) -> None:
    if actor.role != "district_staff":
        raise NotPermitted("只有区县填报员可以填报项目和申报")
    if actor.district_id != district_id:
        raise NotPermitted("只能填报本区县的项目")


# --- projects -------------------------------------------------------------------------------


def create_project(values: dict, *, actor: User, overlap_reason: str | None = None) -> Project:
    """Add a project to the library in the actor's district, at the planning stage.

    When the overlap guard finds a likely duplicate, ``overlap_reason`` must say why it is not
    one (OverlapWarning otherwise); the reason is kept on the project and in the audit row.
    """
    if actor.district_id is None:
        raise NotPermitted("只有区县填报员可以新建项目")
    _require_district_staff(actor, actor.district_id)
    warnings = overlap.project_warnings(values | {"district_id": actor.district_id})
    reason = overlap.require_reason(warnings, overlap_reason, "新建项目")
    project = Project(
        district_id=actor.district_id,
        created_by_id=actor.id,
        maturity="planning",
        overlap_reason=reason,
        **{k: values[k] for k in PROJECT_FIELDS if k in values},
    )
    db.session.add(project)
    db.session.flush()
    record(
        actor,
        "project",
        project.id,
        "create",
        after={
            k: str(v) if v is not None else None for k, v in values.items() if k in PROJECT_FIELDS
        },
        comment=overlap.audit_comment(warnings, reason) if reason else None,
    )
    return project


def update_project(
    project: Project, values: dict, *, actor: User, expected_version: int | None
) -> Project:
    """Change a project's fields; refuses when someone else saved first."""
    _require_district_staff(actor, project.district_id)
    expect_version(project, expected_version)
    _refuse_while_under_review(project)
    for key in PROJECT_FIELDS:
        if key in values:
            setattr(project, key, values[key])
    before, after = column_changes(project)
    flush_or_conflict(project, expected_version)
    if after:
        record(actor, "project", project.id, "update", before=before, after=after)
    return project


def add_prerequisite(project: Project, values: dict, *, actor: User) -> Prerequisite:
    """Record a preliminary approval document (前期要件) of a project."""
    _require_district_staff(actor, project.district_id)
    _refuse_while_under_review(project)
    prereq = Prerequisite(
        project=project,
        kind=values["kind"],
        doc_number=values["doc_number"],
        issued_on=values["issued_on"],
        valid_until=values.get("valid_until"),
    )
    db.session.add(prereq)
    _touch(project)
    flush_or_conflict(project, None)
    record(
        actor,
        "project",
        project.id,
        "add_prerequisite",
        after={
            "kind": prereq.kind,
            "doc_number": prereq.doc_number,
            "issued_on": prereq.issued_on.isoformat(),
            "valid_until": prereq.valid_until.isoformat() if prereq.valid_until else None,
        },
    )
    return prereq


def remove_prerequisite(prereq: Prerequisite, *, actor: User) -> None:
    """Remove a preliminary approval document entered by mistake."""
    project = prereq.project
    _require_district_staff(actor, project.district_id)
    _refuse_while_under_review(project)
    record(
        actor,
        "project",
        project.id,
        "remove_prerequisite",
        before={"kind": prereq.kind, "doc_number": prereq.doc_number},
    )
    db.session.delete(prereq)
    _touch(project)
    flush_or_conflict(project, None)


def change_maturity(
    project: Project,
    trigger: str,
    *,
    actor: User,
    reason: str = "",
    expected_version: int | None,
) -> Project:
    """Move a project's maturity (纳入储备, 开工, 竣工, 验收, 出库, 恢复入库) with its audit row."""
    expect_version(project, expected_version)
    context = maturity.Context(reason=reason or "")
    refusal = maturity.check_action(project, trigger, actor, context)
    if refusal is not None:
        _refuse(refusal, vocab.MATURITY_ACTIONS.get(trigger, trigger))
    with _stale_is_conflict(project, expected_version):
        if not maturity.fire(project, trigger, actor=actor, context=context):
            # The guards passed a moment ago; only a concurrent change can make the machine refuse.
            raise Conflict("项目成熟度已变化,请刷新页面后重试")
        db.session.flush()
    return project


# --- declarations ---------------------------------------------------------------------------


def create_declaration(
    project: Project,
    program: FundingProgram,
    values: dict,
    *,
    actor: User,
    overlap_reason: str | None = None,
) -> Declaration:
    """Start a draft declaration of a project to a program.

    When the overlap guard warns (the project active in another channel this year, or a likely
    duplicate in the library), ``overlap_reason`` must explain why (OverlapWarning otherwise).
    """
    _require_district_staff(actor, project.district_id)
    if program.status != "open":
        raise Conflict(f"申报批次「{program.title}」当前{program.status_label},不能新建申报")
    if project.maturity == "removed":
        raise Conflict("该项目已出库,不能申报")
    active = db.session.scalar(
        select(Declaration.id).where(
            Declaration.project_id == project.id,
            Declaration.program_id == program.id,
            Declaration.stage != "withdrawn",
        )
    )
    if active:
        raise Conflict(f"该项目已申报本批次(申报 #{active}),不能重复申报")
    warnings = overlap.declaration_warnings(project, program)
    reason = overlap.require_reason(warnings, overlap_reason, "申报")
    workflow = machine.workflow_for_program(program)
    decl = Declaration(
        project=project,
        program=program,
        stage=workflow.definition.start,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        stage_entered_at=utcnow(),
        created_by_id=actor.id,
        requested_amount=values.get("requested_amount"),
        form_data=values.get("form_data") or {},
        overlap_reason=reason,
    )
    db.session.add(decl)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Two people declared the same project to the same program at the same moment and the
        # partial unique index let only one through. No savepoint: on SQLite one would commit.
        raise Conflict("该项目刚刚已被他人申报到本批次,请刷新页面查看") from exc
    record(
        actor,
        "declaration",
        decl.id,
        "create",
        after={
            "project_id": project.id,
            "program_id": program.id,
            "requested_amount": str(decl.requested_amount)
            if decl.requested_amount is not None
            else None,
        },
        comment=overlap.audit_comment(warnings, reason) if reason else None,
    )
    return decl


def update_declaration(
    decl: Declaration, values: dict, *, actor: User, expected_version: int | None
) -> Declaration:
    """Save the declaration's content; only while it is a draft or returned."""
    _require_district_staff(actor, decl.project.district_id)
    expect_version(decl, expected_version)
    if not decl.is_editable:
        raise Conflict(f"申报当前为「{decl.stage_label}」,不能修改")
    if "requested_amount" in values:
        decl.requested_amount = values["requested_amount"]
    if "form_data" in values:
        decl.form_data = dict(values["form_data"])
    before, after = column_changes(decl)
    flush_or_conflict(decl, expected_version)
    if after:
        record(actor, "declaration", decl.id, "update", before=before, after=after)
    return decl


def act_on_declaration(
    decl: Declaration,
    trigger: str,
    *,
    actor: User,
    comment: str = "",
    expected_version: int | None,
    approval: dict | None = None,
    on_behalf_of: User | None = None,
) -> Declaration:
    """Move a declaration through its workflow, with its audit row, in the caller's transaction.

    In a countersign stage 通过 adds the actor's signature (in ``on_behalf_of``'s seat for a
    delegate); the declaration moves on once the stage's rule is met.
    """
    expect_version(decl, expected_version)
    context = workflow_context(comment, approval, on_behalf_of=on_behalf_of)
    refusal = machine.check_action(decl, trigger, actor, context)
    if refusal is not None:
        _refuse(refusal, vocab.ACTIONS.get(trigger, trigger))
    workflow = machine.workflow_for(decl)
    with _stale_is_conflict(decl, expected_version):
        signing = workflow.is_countersign_approval(decl, trigger)
        if signing and not _sign(decl, workflow, actor=actor, context=context):
            return decl  # more signatures are needed before the declaration moves on
        if not workflow.fire(decl, trigger, actor=actor, context=context):
            # The guards passed a moment ago; only a concurrent change can make the machine refuse.
            raise Conflict("申报状态已变化,请刷新页面后重试")
        db.session.flush()
    return decl


def _sign(decl: Declaration, workflow, *, actor: User, context: machine.Context) -> bool:
    """Record a countersign signature with its audit row; returns whether the rule is now met."""
    stage = workflow.stage(decl.stage)
    signer = context.on_behalf_of or actor
    now = utcnow()
    countersign.record(
        decl, stage, signer=signer, acted_by=actor, comment=context.comment.strip(), at=now
    )
    db.session.add(
        ReviewOpinion(
            declaration=decl,
            stage=stage.code,
            action="sign",
            comment=context.comment.strip(),
            reviewer=actor,
            on_behalf_of=context.on_behalf_of,
            created_at=now,
        )
    )
    _touch(decl)
    db.session.flush()
    met = countersign.quorum_met(decl, stage)
    signed = len(countersign.signatures(decl, stage.code))
    record(
        actor,
        "declaration",
        decl.id,
        "sign",
        before={"stage": decl.stage},
        after={"signer_id": signer.id, "signatures": signed, "quorum_met": met},
        comment=context.comment.strip() or None,
        on_behalf_of=context.on_behalf_of,
    )
    return met


def expire_declaration(decl: Declaration, *, cause: str) -> bool:
    """Close a draft whose program window has closed (system trigger 逾期自动关闭).

    Returns False when the declaration's workflow has no such step from its stage.
    """
    context = workflow_context(cause, system=True)
    if machine.check_action(decl, "expire", None, context) is not None:
        return False
    with _stale_is_conflict(decl, None):
        if not machine.fire(decl, "expire", actor=None, context=context):
            return False
        db.session.flush()
    return True


# --- attachments ----------------------------------------------------------------------------


def display_name(filename: str) -> str:
    """The name the browser sent, less any folder: ``C:\\a\\申报书.pdf`` → ``申报书.pdf``."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


def judge_upload(
    content: bytes, allowed: Mapping[str, str], *, refusal: str, field_message: str = ""
) -> tuple[str, str]:
    """The upload's type and file extension, judged by its bytes, never by its name.

    Invalid when it is empty or of a type not in ``allowed`` (MIME type → extension).
    """
    if not content:
        raise Invalid("上传的文件是空的", fields={"file": "上传的文件是空的"})
    guess = filetype.guess(content)
    extension = allowed.get(guess.mime) if guess else None
    if extension is None:
        raise Invalid(refusal, fields={"file": field_message or refusal})
    return guess.mime, extension


def stored_file(
    filename: str, content: bytes, mime: str, extension: str, *, fallback: str, actor: User
) -> dict:
    """The columns of an upload kept under a generated name and shown under its own."""
    return {
        "original_name": display_name(filename)[:255] or f"{fallback}.{extension}",
        "stored_name": new_stored_name(extension),
        "content_type": mime,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "uploaded_by_id": actor.id,
    }


def keep_upload(
    make_row: Callable[..., Any],
    owner: Any,
    *,
    filename: str,
    content: bytes,
    allowed: Mapping[str, str],
    refusal: str,
    fallback: str,
    actor: User,
    field_message: str = "",
) -> Any:
    """Keep an upload: judged by its bytes, its row made by ``make_row(**stored columns)`` and
    flushed against the owner's version, and only then its file written, so a refused or
    conflicting upload leaves no stray file behind. ``fallback`` names the file in messages."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and len(content) > limit:
        message = f"{fallback}不能超过 {limit // (1024 * 1024)} MB"
        raise Invalid(message, fields={"file": message})
    mime, extension = judge_upload(content, allowed, refusal=refusal, field_message=field_message)
    row = make_row(
        **stored_file(filename, content, mime, extension, fallback=fallback, actor=actor)
    )
    db.session.add(row)
    flush_or_conflict(owner, None)
    atomic_write(upload_path(row.stored_name), content)
    return row


def add_attachment(
    decl: Declaration, *, kind: str, filename: str, content: bytes, actor: User
) -> Attachment:
    """Store an uploaded file under a generated name after checking what its bytes really are."""
    _require_district_staff(actor, decl.project.district_id)
    if not decl.is_editable:
        raise Conflict(f"申报当前为「{decl.stage_label}」,不能上传附件")
    if kind not in vocab.ATTACHMENT_KINDS:
        raise Invalid("请选择附件类型", fields={"kind": "请选择附件类型"})
    _touch(decl)
    attachment = keep_upload(
        lambda **stored: Attachment(declaration=decl, kind=kind, **stored),
        decl,
        filename=filename,
        content=content,
        allowed=ALLOWED_UPLOADS,
        refusal="只能上传 PDF、JPG、PNG、DOCX、XLSX 文件(按文件内容判断,与扩展名无关)",
        field_message="文件类型不受支持",
        fallback="附件",
        actor=actor,
    )
    record(
        actor,
        "declaration",
        decl.id,
        "upload",
        after={
            "attachment_id": attachment.id,
            "kind": kind,
            "name": attachment.original_name,
            "sha256": attachment.sha256,
        },
    )
    return attachment


def remove_attachment(attachment: Attachment, *, actor: User) -> None:
    """Remove an attachment from an editable declaration (the file stays for the audit trail)."""
    decl = attachment.declaration
    _require_district_staff(actor, decl.project.district_id)
    if not decl.is_editable:
        raise Conflict(f"申报当前为「{decl.stage_label}」,不能删除附件")
    record(
        actor,
        "declaration",
        decl.id,
        "remove_attachment",
        before={
            "attachment_id": attachment.id,
            "name": attachment.original_name,
            "sha256": attachment.sha256,
        },
    )
    db.session.delete(attachment)
    _touch(decl)
    flush_or_conflict(decl, None)


# --- dossiers -------------------------------------------------------------------------------


def dossier_job_id(decl: Declaration) -> str:
    """One job id per data version, so the same version is never rendered twice at once."""
    return f"dossier-{decl.id}-d{decl.version}-p{decl.project.version}"


def insert_ignoring_duplicates(model):
    """INSERT .. ON CONFLICT DO NOTHING on the two backends the app supports."""
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return insert(model).on_conflict_do_nothing()


def request_dossier(decl: Declaration, *, actor: User) -> tuple[Dossier, bool]:
    """The dossier for the declaration's current data; returns it and whether a job must be queued.

    Asking again for the same data version returns the same dossier; a failed one is retried.
    """
    dossier = db.session.scalar(
        select(Dossier).where(
            Dossier.declaration_id == decl.id,
            Dossier.declaration_version == decl.version,
            Dossier.project_version == decl.project.version,
        )
    )
    if dossier is not None and dossier.status != "failed":
        return dossier, False
    if dossier is None:
        # INSERT .. ON CONFLICT DO NOTHING rather than a SAVEPOINT: on SQLite, pysqlite lets the
        # RELEASE of a first savepoint commit the whole transaction behind the caller's back.
        inserted = db.session.execute(
            insert_ignoring_duplicates(Dossier)
            .values(
                declaration_id=decl.id,
                declaration_version=decl.version,
                project_version=decl.project.version,
                job_id=dossier_job_id(decl),
                requested_by_id=actor.id,
                status="queued",
                created_at=utcnow(),
            )
            .returning(Dossier.id)
        ).scalar()
        if inserted is None:
            # Someone asked for the same version a moment ago: join theirs.
            return request_dossier(decl, actor=actor)
        dossier = db.session.get(Dossier, inserted)
    else:
        dossier.status, dossier.error = "queued", None
        db.session.flush()
    record(
        actor,
        "declaration",
        decl.id,
        "request_dossier",
        after={
            "dossier_id": dossier.id,
            "declaration_version": decl.version,
            "project_version": decl.project.version,
        },
    )
    return dossier, True


# --- programs -------------------------------------------------------------------------------

PROGRAM_FIELDS = (
    "title",
    "level",
    "issuer",
    "channel",
    "year",
    "batch",
    "support_areas",
    "notice",
    "opens_on",
    "district_deadline",
    "city_deadline",
    "upstream_deadline",
    "min_request",
    "max_request",
    "max_ratio",
    "required_attachments",
    "required_prerequisites",
    "workflow_name",
    "status",
)
PROGRAM_EDITORS = frozenset({"city_reviewer", "admin"})


def _check_workflow_name(values: dict) -> None:
    name = values.get("workflow_name")
    if name is not None and machine.latest(name) is None:
        raise Invalid(
            f"审核流程「{name}」不存在", fields={"workflow_name": "请选择系统中已有的审核流程"}
        )


def create_program(values: dict, *, actor: User) -> FundingProgram:
    """Add a funding program; it gets the default declaration form."""
    if actor.role not in PROGRAM_EDITORS:
        raise NotPermitted("只有市级审核员和系统管理员可以维护申报批次")
    _check_workflow_name(values)
    program = FundingProgram(
        **{k: values[k] for k in PROGRAM_FIELDS if k in values},
        form_fields=current_app.config["DEFAULT_FORM_FIELDS"],
    )
    db.session.add(program)
    db.session.flush()
    record(actor, "program", program.id, "create", after={"title": program.title})
    return program


def update_program(
    program: FundingProgram, values: dict, *, actor: User, expected_version: int | None
) -> FundingProgram:
    """Change a program's settings, with the changes in the audit log."""
    if actor.role not in PROGRAM_EDITORS:
        raise NotPermitted("只有市级审核员和系统管理员可以维护申报批次")
    expect_version(program, expected_version)
    _check_workflow_name(values)
    for key in PROGRAM_FIELDS:
        if key in values:
            setattr(program, key, values[key])
    before, after = column_changes(program)
    flush_or_conflict(program, expected_version)
    if after:
        record(actor, "program", program.id, "update", before=before, after=after)
    return program


# --- API tokens -----------------------------------------------------------------------------


def issue_api_token(user: User, *, hours: int) -> tuple[str, ApiToken]:
    """A new bearer token for the user; the plain token is returned once and never stored."""
    plain = secrets.token_urlsafe(32)
    row = ApiToken(
        user=user,
        token_hash=hashlib.sha256(plain.encode()).hexdigest(),
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(row)
    db.session.flush()
    record(user, "user", user.id, "issue_token", after={"token_id": row.id})
    return plain, row


def revoke_api_token(row: ApiToken, *, actor: User) -> None:
    """Make a token unusable from now on."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.flush()
        record(actor, "user", row.user_id, "revoke_token", after={"token_id": row.id})


def set_user_active(user: User, active: bool, *, actor: User | None) -> None:
    """Enable or disable an account; a disabled one can neither sign in nor use its tokens.

    Disabling also revokes the tokens, so re-enabling an account whose token leaked does not
    bring that token back to life.
    """
    if user.active == active:
        return
    user.active = active
    if not active:
        now = utcnow()
        for token in db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = now
    db.session.flush()
    record(actor, "user", user.id, "enable" if active else "disable")
