"""Schemas of the declaration, attachment and dossier endpoints.

Requests are ``Strict`` (unknown fields refused); responses are plain models. Money is a
decimal string, dates and times are ISO 8601 (times in UTC).
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails
from werkzeug.datastructures import FileStorage

from .schemas import Action, AttachmentKind, DossierStatus, MoneyIn, MoneyOut, Stage, Strict

# Row ids and versions are PostgreSQL integers: a larger number can only be a mistake.
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
FormData = Annotated[
    dict[str, str],
    Field(
        description=(
            "本批次申报表的字段(字段名见 `GET /api/v1/programs/{id}` 的 `form_fields[].name`),"
            "值为文本;只能使用本批次的字段,长度不超过字段的 `max_length`"
        ),
        examples=[{"necessity": "项目建设必要性……"}],
    ),
]


def _uploaded_file(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise ValueError("请以文件形式上传(multipart/form-data 中的文件部分)")
    return value


UploadedFile = Annotated[
    Any,
    PlainValidator(_uploaded_file),
    WithJsonSchema({"type": "string", "format": "binary", "description": "文件内容"}),
]


# --- requests -------------------------------------------------------------------------------


class DeclarationCreate(Strict):
    """Start a draft declaration of a project to a program."""

    project_id: Id
    program_id: Id
    requested_amount: MoneyIn | None = Field(
        None, description="申请资金(万元);草稿可暂不填写,提交前必填"
    )
    data: FormData = Field(default_factory=dict)
    overlap_reason: str | None = Field(
        None,
        max_length=2000,
        description="继续的理由:仅当不带此项的请求返回 409 overlap(同一项目同年度已在其他资金渠道"
        "申报,或项目库中有疑似重复项目)时需要;记入审计日志并打印在申报材料中",
    )


class DeclarationUpdate(Strict):
    """Change a draft or returned declaration; only the given fields change."""

    version: Id = Field(description="您看到的版本号;他人已先保存时返回 409")
    requested_amount: MoneyIn | None = Field(
        None, description="申请资金(万元);不传则不变,传 null 则清空"
    )
    data: FormData = Field(
        default_factory=dict, description="要修改的申报表字段;未列出的字段保持不变"
    )


class ApprovalIn(Strict):
    """The upstream approval (批复), for ``record_approval`` only."""

    doc_number: str = Field("", max_length=100, description="批复文号")
    amount: MoneyIn | None = Field(None, description="下达金额(万元)")
    approved_on: date | None = Field(None, description="批复日期")


class ActionRequest(Strict):
    """Move a declaration through the workflow."""

    action: Action = Field(description="操作;当前可执行的操作见申报的 `allowed_actions`")
    comment: str = Field(
        "",
        max_length=2000,
        description="意见;退回修改、不予推荐、登记未获批时必填",
    )
    version: Id = Field(description="您看到的版本号;他人已先操作时返回 409")
    approval: ApprovalIn | None = Field(None, description="登记批复(record_approval)时必填")
    on_behalf_of: Id | None = Field(
        None,
        description=(
            "代理办理(代理人代被代理的审核人办理)时填被代理人的用户 id;"
            "须有当天生效的代理,否则返回 403。流转记录与审核意见记为「代理人(代 被代理人)」"
        ),
    )


def _without_files(value: Any) -> Any:
    if isinstance(value, FileStorage):
        return value.filename or ""
    if isinstance(value, dict):
        return {key: _without_files(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_files(item) for item in value]
    return value


class AttachmentUpload(Strict):
    """One file with its kind, sent as multipart/form-data."""

    kind: AttachmentKind = Field(description="附件类型")
    file: UploadedFile = Field(
        description="文件;按文件内容判断类型,只接受 PDF、JPG、PNG、DOCX、XLSX"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _errors_name_files_by_their_names(cls, data: Any, handler):
        """Spectree turns a refusal's errors, with their input, into JSON before our own error
        answer replaces them; an uploaded file in that input would make it a 500."""
        try:
            return handler(data)
        except ValidationError as refused:
            details = [
                InitErrorDetails(
                    type=error["type"],
                    loc=error["loc"],
                    input=_without_files(error["input"]),
                    **({"ctx": error["ctx"]} if "ctx" in error else {}),
                )
                for error in refused.errors()
            ]
            raise ValidationError.from_exception_data(refused.title, details) from None


# --- responses ------------------------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: int
    kind: AttachmentKind
    kind_label: str
    filename: str = Field(description="上传时的文件名")
    content_type: str = Field(description="按文件内容判断出的类型")
    size: int = Field(description="字节数")
    sha256: str
    uploaded_at: datetime
    url: str = Field(description="下载地址")


class DeclarationOut(BaseModel):
    id: int
    project_id: int
    program_id: int
    stage: Stage
    stage_label: str
    version: int = Field(description="修改和操作时带上,用于发现并发修改")
    requested_amount: MoneyOut | None
    data: dict[str, str] = Field(description="本批次申报表的内容")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    approval_doc_number: str | None = Field(description="批复文号")
    approved_amount: MoneyOut | None = Field(description="下达金额(万元)")
    approved_on: date | None = Field(description="批复日期")
    attachments: list[AttachmentOut]
    missing: list[str] = Field(description="提交前还缺什么(草稿或退回修改时);为空表示材料齐全")
    allowed_actions: list[Action] = Field(description="调用者现在可以执行的操作")


class Actor(BaseModel):
    id: int
    display_name: str
    role: str


class HistoryEvent(BaseModel):
    at: datetime
    actor: Actor | None
    action: str = Field(description="操作代码,如 submit、approve、update、upload")
    action_label: str
    from_stage: Stage | None = Field(description="流转前的阶段;非流转的记录为 null")
    to_stage: Stage | None = Field(description="流转后的阶段;非流转的记录为 null")
    comment: str | None
    before: dict[str, Any] | None = Field(description="改动前的值")
    after: dict[str, Any] | None = Field(description="改动后的值")
    on_behalf_of: Actor | None = Field(None, description="代理办理时,被代理的审核人")


class ReviewOpinionOut(BaseModel):
    at: datetime
    reviewer: Actor
    stage: Stage = Field(description="给出意见时所处的阶段")
    action: Action | Literal["sign"] = Field(description="操作;会签环节的同意为 sign")
    comment: str
    on_behalf_of: Actor | None = Field(None, description="代理办理时,被代理的审核人")


class DeclarationHistory(BaseModel):
    """The audit trail of a declaration and its review opinions, oldest first."""

    events: list[HistoryEvent]
    opinions: list[ReviewOpinionOut]


class DossierTicket(BaseModel):
    """Where to follow a requested dossier."""

    id: int
    status: DossierStatus
    url: str = Field(description="查询状态的地址")


class DossierOut(BaseModel):
    id: int
    declaration_id: int
    status: DossierStatus
    status_label: str
    declaration_version: int
    project_version: int
    current: bool = Field(description="数据在申请之后未再变化")
    error: str | None
    page_count: int | None
    size: int | None
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(description="生成完毕后的 PDF 下载地址")
