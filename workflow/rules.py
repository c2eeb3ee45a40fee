"""Business rules as pure functions, shared by forms, the workflow guards and the API.

Each checker returns a Chinese message when the value is wrong and None when it is fine,
so a form can show it beside the field and a guard can list it.
"""

import re
from datetime import date
from decimal import ROUND_DOWN, Decimal

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

from . import vocab

# ASCII digits only (``\d`` also takes full-width ２); used with ``fullmatch`` so that a
# trailing newline, which ``$`` lets through, is refused too.
PROJECT_CODE_RE = re.compile(r"(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})", re.ASCII)
MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)


def project_code_error(code: str, city_code: str, today: date | None = None) -> str | None:
    """Check a 项目代码 (GB/T 40058-2021): its shape, its year and that its region is in the city.

    The check digit's algorithm is not public, so it is not verified.
    """
    match = PROJECT_CODE_RE.fullmatch(code or "")
    if not match:
        return "项目代码格式应为 YYYY-RRRRRR-DD-TT-NNNNNN,例如 2025-320903-65-01-123456"
    year, region = int(match.group(1)), match.group(2)
    this_year = (today or date.today()).year
    if not 2000 <= year <= this_year + 1:
        return f"项目代码中的年份 {year} 不合理"
    if region[:4] != city_code[:4]:
        return f"项目代码中的区划代码 {region} 不属于本市({city_code})"
    return None


def uscc_error(value: str) -> str | None:
    """Check a 统一社会信用代码 with its GB 32100-2015 checksum.

    ``validate`` would accept spaces, hyphens and lower case and hand back the cleaned code; a
    stored code must already be that clean 18-character form (the forms upper-case and strip).
    """
    try:
        valid = uscc.validate(value or "") == value
    except ValidationError:
        valid = False
    return None if valid else "统一社会信用代码无效(应为 18 位,且校验位正确)"


def mobile_error(value: str) -> str | None:
    """Check an 11-digit mainland mobile number."""
    if not MOBILE_RE.fullmatch(value or ""):
        return "手机号码应为 11 位大陆手机号"
    return None


def funding_sum_error(total: Decimal | None, sources: dict[str, Decimal | None]) -> str | None:
    """The funding sources must add up to the total investment."""
    if total is None or all(v is None for v in sources.values()):
        return None
    added = sum((v or Decimal(0) for v in sources.values()), Decimal(0))
    if added != total:
        return f"各项资金来源合计 {added} 万元,与总投资 {total} 万元不一致"
    return None


def date_order_error(
    start: date | None, end: date | None, start_label: str, end_label: str
) -> str | None:
    """A start date must not come after its end."""
    if start and end and end < start:
        return f"{end_label}不能早于{start_label}"
    return None


PROJECT_DATE_LABELS = ("拟开工年月", "拟建成年月")


def project_field_errors(
    values: dict,
    city_code: str,
    *,
    industry_chains: list[str] | None = None,
    today: date | None = None,
    changed: set[str] | frozenset[str] | None = None,
) -> dict[str, str]:
    """Every rule of a project's own fields, as field → Chinese message (empty when all is well).

    ``values`` is the project's whole state (missing keys count as blank), so the rules that
    span fields see them all. With ``changed``, only the rules that read one of those fields
    apply: a partial update does not answer for what it left alone. ``industry_chains`` is the
    configured list; None skips that check.
    """
    sources = {name: values.get(name) for name in vocab.FUND_SOURCES}
    checks = [
        (
            "code",
            {"code"},
            lambda: values.get("code") and project_code_error(values["code"], city_code, today),
        ),
        (
            "applicant_uscc",
            {"applicant_uscc"},
            lambda: values.get("applicant_uscc") and uscc_error(values["applicant_uscc"]),
        ),
        (
            "contact_mobile",
            {"contact_mobile"},
            lambda: values.get("contact_mobile") and mobile_error(values["contact_mobile"]),
        ),
        (
            "industry_chain",
            {"industry_chain"},
            lambda: (
                industry_chains is not None
                and values.get("industry_chain")
                and values["industry_chain"] not in industry_chains
                and "产业链应为系统配置的产业链之一,不属于特定产业链时留空"
            ),
        ),
        (
            "total_investment",
            {"total_investment", *vocab.FUND_SOURCES},
            lambda: funding_sum_error(values.get("total_investment"), sources),
        ),
        (
            "planned_end",
            {"planned_start", "planned_end"},
            lambda: date_order_error(
                values.get("planned_start"), values.get("planned_end"), *PROJECT_DATE_LABELS
            ),
        ),
    ]
    errors = {}
    for field, reads, check in checks:
        if changed is not None and not reads & set(changed):
            continue
        message = check()
        if message:
            errors[field] = message
    return errors


def requested_amount_errors(amount: Decimal | None, total: Decimal | None, program) -> list[str]:
    """Check a requested amount against the program's limits and ratio and the total investment."""
    if amount is None:
        return []
    errors = []
    if amount <= 0:
        errors.append("申请资金必须大于 0")
    if program.min_request is not None and amount < program.min_request:
        errors.append(f"申请资金不得低于本批次下限 {program.min_request} 万元")
    if program.max_request is not None and amount > program.max_request:
        errors.append(f"申请资金不得超过本批次上限 {program.max_request} 万元")
    if total:
        if amount > total:
            errors.append("申请资金不能超过项目总投资")
        elif program.max_ratio is not None and amount / total > program.max_ratio:
            # Rounded percentages can read "30.0% 超过 30%"; the largest allowed amount cannot.
            ceiling = (total * program.max_ratio).quantize(Decimal("0.01"), ROUND_DOWN)
            errors.append(
                f"申请资金占总投资比例 {amount / total:.2%} 超过本批次上限 "
                f"{program.max_ratio:.0%},本项目最多可申请 {ceiling} 万元"
            )
    return errors


def form_field_errors(fields: list[dict], data: dict, *, for_submission: bool) -> dict[str, str]:
    """Check a declaration's program-specific form data against the program's field list."""
    errors = {}
    for field in fields:
        value = (
            (data.get(field["name"]) or "").strip()
            if isinstance(data.get(field["name"]), str)
            else data.get(field["name"])
        )
        if for_submission and field.get("required") and not value:
            errors[field["name"]] = f"请填写「{field['label']}」"
        max_length = field.get("max_length")
        if isinstance(value, str) and max_length and len(value) > max_length:
            errors[field["name"]] = f"「{field['label']}」不能超过 {max_length} 字"
    return errors


PROJECT_REQUIRED_FIELDS = {
    "code": "项目代码",
    "name": "项目名称",
    "applicant_unit": "申报单位",
    "applicant_uscc": "统一社会信用代码",
    "category": "所属领域",
    "nature": "建设性质",
    "location": "建设地点",
    "planned_start": "拟开工年月",
    "planned_end": "拟建成年月",
    "total_investment": "总投资",
    "content": "建设内容",
    "contact_name": "联系人",
    "contact_mobile": "联系电话",
}


def missing_for_submission(declaration, city_code: str, today: date) -> list[str]:
    """Everything that keeps a declaration from being submitted, in words one can act on."""
    project, program = declaration.project, declaration.program
    problems = []
    if project.maturity == "removed":
        problems.append("该项目已出库,不能申报")
    for field, label_text in PROJECT_REQUIRED_FIELDS.items():
        if getattr(project, field) in (None, ""):
            problems.append(f"项目缺少「{label_text}」")
    checks = [
        project.code and project_code_error(project.code, city_code, today),
        project.applicant_uscc and uscc_error(project.applicant_uscc),
        project.contact_mobile and mobile_error(project.contact_mobile),
        funding_sum_error(project.total_investment, project.funding_sources()),
        date_order_error(project.planned_start, project.planned_end, "拟开工年月", "拟建成年月"),
    ]
    problems.extend(p for p in checks if p)
    if project.total_investment is not None and all(
        v is None for v in project.funding_sources().values()
    ):
        problems.append("请填写资金来源")
    if declaration.requested_amount is None:
        problems.append("请填写申请资金")
    problems.extend(
        requested_amount_errors(declaration.requested_amount, project.total_investment, program)
    )
    problems.extend(
        form_field_errors(
            program.form_fields or [], declaration.form_data or {}, for_submission=True
        ).values()
    )
    present_kinds = {a.kind for a in declaration.attachments}
    for kind in program.required_attachments or []:
        if kind not in present_kinds:
            problems.append(f"缺少附件「{vocab.label(vocab.ATTACHMENT_KINDS, kind)}」")
    problems.extend(
        prerequisite_problems(
            project.prerequisites, program.required_prerequisites, program.district_deadline
        )
    )
    return problems


def prerequisite_problems(
    prerequisites, required: list[str] | None, deadline: date, deadline_label: str = "申报截止日"
) -> list[str]:
    """The required 前期要件 that are absent or expire before the deadline (inclusive)."""
    valid = {p.kind for p in prerequisites if p.valid_until is None or p.valid_until >= deadline}
    present = {p.kind for p in prerequisites}
    problems = []
    for kind in required or []:
        name = vocab.label(vocab.PREREQUISITE_KINDS, kind)
        if kind not in present:
            problems.append(f"缺少前期要件「{name}」")
        elif kind not in valid:
            problems.append(f"前期要件「{name}」在{deadline_label}前已过期")
    return problems
