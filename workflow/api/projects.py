"""Projects (项目库) through the API: the library's list, one project, create and edit.

The same operations and permissions as the pages. Pydantic checks types and lengths; the rules
the page's form applies come from ``rules.project_field_errors``, so what one accepts the other
accepts too.
"""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from flask import abort, current_app, g, jsonify, url_for
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from spectree import Response as SpecResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from .. import operations, rules, vocab
from ..errors import Invalid, OverlapWarning
from ..extensions import db
from ..models import Declaration, Prerequisite, Project
from ..operations import PROJECT_FIELDS
from ..permissions import CITY_WIDE_ROLES, project_or_404, scope_projects
from . import bp, responses, spec
from .schemas import (
    Category,
    ErrorDetail,
    Maturity,
    MoneyIn,
    MoneyOut,
    Nature,
    Stage,
    Strict,
)

# --- request schemas ------------------------------------------------------------------------

# Ids and versions are INTEGER columns: PostgreSQL refuses to compare them with anything larger.
INT_MAX = 2**31 - 1
# Far beyond any library, and small enough that the OFFSET stays an INTEGER.
MAX_PAGE = 1_000_000

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _iso_day(value: Any) -> Any:
    # Pydantic alone would also take a Unix timestamp or "2026-03-01T00:00:00" for a date.
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value.strip()):
        raise ValueError("应为日期,格式 YYYY-MM-DD")
    return value.strip()


MonthIn = Annotated[
    date,
    BeforeValidator(_iso_day),
    # The page asks for a year and month and stores the 1st; the API stores the same.
    AfterValidator(lambda day: day.replace(day=1)),
]


def _text(max_length: int):
    return Annotated[str, Field(max_length=max_length)]


# Identifiers checked by the rules, whose messages say more than "too long"; the bound only
# keeps absurd input out.
IdentifierIn = Annotated[str, Field(max_length=64)]

# Columns that are NOT NULL with a blank default: null clears them to "".
BLANK_WHEN_NULL = frozenset(
    {
        "applicant_unit",
        "industry_chain",
        "location",
        "content",
        "data_content",
        "contact_name",
        "contact_mobile",
    }
)


def _no_default(schema: dict) -> None:
    # None only marks "absent" (leave as is, or no filter); it is not a value one may send.
    schema.pop("default", None)


class ProjectFields(Strict):
    """The optional fields of a project; ``null`` (or "") clears one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: IdentifierIn | None = Field(
        None,
        description="项目代码(国家投资项目在线审批监管平台赋码),格式 "
        "YYYY-RRRRRR-DD-TT-NNNNNN,区划须属本市;谋划阶段可空,申报前必填",
        examples=["2025-320903-65-01-123456"],
    )
    applicant_unit: _text(200) | None = Field(None, description="申报单位")
    applicant_uscc: IdentifierIn | None = Field(
        None, description="统一社会信用代码,18 位,校验位须正确(小写会转为大写)"
    )
    industry_chain: _text(100) | None = Field(
        None, description="产业链:系统配置的产业链之一,空表示不属于特定产业链"
    )
    nature: Nature | None = Field(None, description="建设性质")
    location: _text(200) | None = Field(None, description="建设地点")
    planned_start: MonthIn | None = Field(None, description="拟开工年月(存为当月 1 日)")
    planned_end: MonthIn | None = Field(
        None, description="拟建成年月(存为当月 1 日),不得早于拟开工年月"
    )
    total_investment: MoneyIn | None = Field(
        None, description="总投资(万元);填写资金来源时须与各项来源之和相等"
    )
    fund_central: MoneyIn | None = Field(None, description="中央资金(万元)")
    fund_provincial: MoneyIn | None = Field(None, description="省级资金(万元)")
    fund_local_fiscal: MoneyIn | None = Field(None, description="地方财政配套(万元)")
    fund_self: MoneyIn | None = Field(None, description="企业自筹(万元)")
    fund_loan: MoneyIn | None = Field(None, description="银行贷款(万元)")
    fund_other: MoneyIn | None = Field(None, description="其他资金(万元)")
    content: _text(5000) | None = Field(None, description="建设内容")
    data_content: _text(5000) | None = Field(
        None, description="含数量:数据资源、公共数据、数据量、数据产品、算力"
    )
    contact_name: _text(50) | None = Field(None, description="联系人")
    contact_mobile: IdentifierIn | None = Field(None, description="联系电话,11 位大陆手机号")

    @field_validator("code", "applicant_uscc")
    @classmethod
    def _blank_identifier_is_none(cls, value: str | None) -> str | None:
        # As on the page: credit codes are printed in capitals, and "" means "not yet".
        if value is None:
            return None
        return value.upper() or None


Name = Annotated[str, Field(min_length=1, max_length=200, description="项目名称")]

OverlapReason = Annotated[
    str | None,
    Field(
        max_length=2000,
        description="继续的理由:仅当不带此项的请求返回 409 overlap(发现可能重复或交叉申报)时需要;"
        "说明为何不属于重复申报,记入审计日志并打印在申报材料中",
    ),
]


class ProjectCreate(ProjectFields):
    """A new project in the caller's district (区县填报员 only); it starts at 谋划."""

    name: Name
    category: Category = Field(description="所属领域")
    is_key: StrictBool = Field(False, description="是否重点项目")
    overlap_reason: OverlapReason = None


class ProjectUpdate(ProjectFields):
    """A change to a project: ``version`` plus any fields; absent fields stay as they are."""

    version: StrictInt = Field(
        ge=1, le=INT_MAX, description="读取项目时看到的 version;他人已先保存时返回 409,不作任何修改"
    )
    # Required columns may be changed but not cleared; None is only the "absent" marker.
    name: Name = Field(None, json_schema_extra=_no_default)  # type: ignore[assignment]
    category: Category = Field(None, description="所属领域", json_schema_extra=_no_default)
    is_key: StrictBool = Field(None, description="是否重点项目", json_schema_extra=_no_default)

    @field_validator("name", "category", "is_key", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("此项不能清空")
        return value


def _use_default_when_blank(value: Any) -> Any:
    # "?district=&q=" is what a form with empty filters sends: no filter, as on the page.
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PydanticUseDefault()
    return value


class ProjectQuery(Strict):
    """Filters of the project library; empty parameters mean "no filter"."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    district: int = Field(
        None,
        ge=1,
        le=INT_MAX,
        description="区县 id;仅市级角色有效,区县用户始终只看到本区县",
        json_schema_extra=_no_default,
    )
    category: Category = Field(None, description="所属领域", json_schema_extra=_no_default)
    maturity: Maturity = Field(None, description="成熟度", json_schema_extra=_no_default)
    stage: Stage = Field(None, description="有处于该申报阶段的申报", json_schema_extra=_no_default)
    q: str = Field(
        None,
        max_length=100,
        description="在项目名称、申报单位、建设内容、项目代码中查找",
        json_schema_extra=_no_default,
    )
    page: int = Field(1, ge=1, le=MAX_PAGE, description="页码,从 1 开始")
    per_page: int = Field(20, ge=1, le=100, description="每页条数,1–100")

    _blank = field_validator("*", mode="before")(_use_default_when_blank)


# --- response schemas -----------------------------------------------------------------------


class DistrictOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


PrerequisiteKind = Literal[tuple(vocab.PREREQUISITE_KINDS)]  # type: ignore[valid-type]


class PrerequisiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: PrerequisiteKind
    doc_number: str
    issued_on: date
    valid_until: date | None = Field(description="有效期至;null 表示长期有效")


class ProjectOut(BaseModel):
    """A project as the library shows it."""

    id: int
    version: int = Field(description="修改时原样带回,用于检测他人的并发修改")
    code: str | None
    name: str
    district: DistrictOut
    applicant_unit: str
    applicant_uscc: str | None
    category: Category
    industry_chain: str
    nature: Nature | None
    location: str
    planned_start: date | None
    planned_end: date | None
    total_investment: MoneyOut | None
    fund_central: MoneyOut | None
    fund_provincial: MoneyOut | None
    fund_local_fiscal: MoneyOut | None
    fund_self: MoneyOut | None
    fund_loan: MoneyOut | None
    fund_other: MoneyOut | None
    content: str
    data_content: str
    is_key: bool
    contact_name: str
    contact_mobile: str
    maturity: Maturity
    removed_reason: str | None
    is_under_review: bool = Field(description="有申报正在审核中;此时项目信息不能修改(409)")
    prerequisites: list[PrerequisiteOut]
    declaration_ids: list[int]
    created_at: datetime
    updated_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]
    total: int
    page: int
    per_page: int


class OverlapOut(BaseModel):
    """One warning of the overlap guard: the other project (or declaration) and why."""

    kind: Literal["duplicate", "other_channel"] = Field(
        description="duplicate:项目库中相似的项目;other_channel:同一项目同年度已在其他资金渠道申报"
    )
    project_id: int
    project_name: str
    district_id: int
    district: str
    maturity: str = Field(description="成熟度(中文)")
    reasons: list[str]
    declaration_id: int | None
    program_title: str | None
    channel: str | None = Field(description="资金渠道(中文)")
    stage: str | None = Field(description="申报阶段(中文)")
    message: str


class OverlapErrorDetail(ErrorDetail):
    warnings: list[OverlapOut] = Field(
        default_factory=list,
        description="code 为 overlap 时:发现的可能重复或交叉申报;带 overlap_reason 重发即可继续",
    )


class OverlapErrorResponse(BaseModel):
    """A 409: a conflict, or (code ``overlap``) likely duplicates listed in ``warnings``."""

    error: OverlapErrorDetail


def responses_with_overlap(ok: str, model, *errors: int) -> SpecResponse:
    """Like ``responses``, with the 409 documented as the overlap guard's answer."""
    documented = responses(ok, model, *errors)._raw_code_models
    return SpecResponse(
        **documented,
        HTTP_409=(OverlapErrorResponse, "冲突;code 为 overlap 时 warnings 列出可能的重复申报"),
    )


@bp.errorhandler(OverlapWarning)
def overlap_found(warning: OverlapWarning):
    """The guard's 409 with its warnings listed, from whichever endpoint met it."""
    db.session.rollback()
    response = jsonify(
        {
            "error": {
                "code": warning.code,
                "message": warning.message,
                "fields": warning.fields,
                "warnings": [w.as_dict() for w in warning.warnings],
            }
        }
    )
    response.status_code = warning.status
    return response


def project_out(project: Project) -> ProjectOut:
    """The API's view of a project."""
    values = {
        name: getattr(project, name)
        for name in ProjectOut.model_fields
        if name != "declaration_ids"
    }
    values["declaration_ids"] = [d.id for d in project.declarations]
    return ProjectOut.model_validate(values)


# --- views ----------------------------------------------------------------------------------


def _project_values(body: ProjectFields, *, sent_only: bool) -> dict:
    """The project columns a request body sets: every field, or only those it sent."""
    names = body.model_fields_set if sent_only else type(body).model_fields
    values = {}
    for name in PROJECT_FIELDS:
        if name in names:
            value = getattr(body, name)
            values[name] = "" if value is None and name in BLANK_WHEN_NULL else value
    return values


def _refuse_rule_breaks(state: dict, changed: set[str] | None = None) -> None:
    """The page form's rules; each broken one is reported under its field."""
    errors = rules.project_field_errors(
        state,
        current_app.config["CITY_CODE"],
        industry_chains=current_app.config.get("INDUSTRY_CHAINS") or [],
        today=operations.local_today(),
        changed=changed,
    )
    if errors:
        raise Invalid("项目信息不符合要求,请按字段说明修改", fields=errors)


@bp.get("/projects")
@spec.validate(query=ProjectQuery, resp=responses("HTTP_200", ProjectList), tags=["projects"])
def list_projects(query: ProjectQuery):
    """The library, newest change first: district users see their district, experts nothing."""
    select_projects = scope_projects(select(Project), g.api_user)
    if query.district and g.api_user.role in CITY_WIDE_ROLES:
        select_projects = select_projects.where(Project.district_id == query.district)
    if query.category:
        select_projects = select_projects.where(Project.category == query.category)
    if query.maturity:
        select_projects = select_projects.where(Project.maturity == query.maturity)
    if query.stage:
        select_projects = select_projects.where(
            Project.id.in_(select(Declaration.project_id).where(Declaration.stage == query.stage))
        )
    if query.q:
        # Escaped, unlike the page: "100%" finds 100%, not every name with 100 in it.
        columns = (Project.name, Project.applicant_unit, Project.content, Project.code)
        select_projects = select_projects.where(
            or_(*(column.icontains(query.q, autoescape=True) for column in columns))
        )
    page = db.paginate(
        select_projects.options(
            selectinload(Project.district),
            selectinload(Project.prerequisites),
            selectinload(Project.declarations),
        ).order_by(Project.updated_at.desc(), Project.id.desc()),
        page=query.page,
        per_page=query.per_page,
        max_per_page=100,
        error_out=False,
    )
    return ProjectList(
        items=[project_out(p) for p in page.items],
        total=page.total or 0,
        page=query.page,
        per_page=query.per_page,
    )


@bp.post("/projects")
@spec.validate(
    json=ProjectCreate,
    resp=responses_with_overlap("HTTP_201", ProjectOut, 400, 403),
    tags=["projects"],
)
def create_project(json: ProjectCreate):
    """Add a project to the caller's district (区县填报员 only); it starts at 谋划.

    A likely duplicate in the library (same code, same credit code and a similar name, or a
    near-identical name in the district) answers 409 ``overlap`` listing ``warnings``, unless
    the request carries ``overlap_reason``.
    """
    values = _project_values(json, sent_only=False)
    _refuse_rule_breaks(values)
    project = operations.create_project(
        values, actor=g.api_user, overlap_reason=json.overlap_reason
    )
    db.session.commit()
    location = url_for("api.get_project", project_id=project.id)
    return project_out(project), 201, {"Location": location}


@bp.get("/projects/<int:project_id>")
@spec.validate(resp=responses("HTTP_200", ProjectOut, 404), tags=["projects"])
def get_project(project_id: int):
    """One project with its district, maturity, prerequisites and declarations' ids."""
    return project_out(project_or_404(project_id, g.api_user))


@bp.patch("/projects/<int:project_id>")
@spec.validate(
    json=ProjectUpdate,
    resp=responses("HTTP_200", ProjectOut, 400, 403, 404, 409),
    tags=["projects"],
)
def update_project(project_id: int, json: ProjectUpdate):
    """Change some fields of a project; refused while it is under review or after another save."""
    project = project_or_404(project_id, g.api_user)
    changes = _project_values(json, sent_only=True)
    # The rules that span fields (sources add up, end after start) see the stored rest.
    state = {name: getattr(project, name) for name in PROJECT_FIELDS} | changes
    _refuse_rule_breaks(state, changed=set(changes))
    operations.update_project(project, changes, actor=g.api_user, expected_version=json.version)
    db.session.commit()
    return project_out(project)


DayIn = Annotated[date, BeforeValidator(_iso_day)]


class PrerequisiteCreate(Strict):
    """A 前期要件 with its document number, date and validity."""

    kind: PrerequisiteKind
    doc_number: str = Field(min_length=1, max_length=100)
    issued_on: DayIn
    valid_until: DayIn | None = Field(default=None, description="有效期至;省略或 null 表示长期有效")

    @model_validator(mode="after")
    def _valid_after_issue(self):
        if self.valid_until is not None and self.valid_until < self.issued_on:
            raise ValueError("有效期不能早于印发日期")
        return self


@bp.post("/projects/<int:project_id>/prerequisites")
@spec.validate(
    json=PrerequisiteCreate,
    resp=responses("HTTP_201", ProjectOut, 400, 403, 404, 409),
    tags=["projects"],
)
def add_prerequisite(project_id: int, json: PrerequisiteCreate):
    """Record a 前期要件 of the project (区县填报员; refused while the project is under review)."""
    project = project_or_404(project_id, g.api_user)
    values = json.model_dump()
    values["doc_number"] = values["doc_number"].strip()
    if not values["doc_number"]:
        raise Invalid("请填写文号", fields={"doc_number": "请填写文号"})
    operations.add_prerequisite(project, values, actor=g.api_user)
    db.session.commit()
    return project_out(project), 201


@bp.delete("/projects/<int:project_id>/prerequisites/<int:prerequisite_id>")
@spec.validate(resp=responses("HTTP_200", ProjectOut, 403, 404, 409), tags=["projects"])
def remove_prerequisite(project_id: int, prerequisite_id: int):
    """Remove a 前期要件 entered by mistake."""
    project = project_or_404(project_id, g.api_user)
    prereq = db.session.get(Prerequisite, prerequisite_id)
    if prereq is None or prereq.project_id != project.id:
        abort(404)
    operations.remove_prerequisite(prereq, actor=g.api_user)
    db.session.commit()
    return project_out(project)
