"""Warnings and rectification (预警与整改) over funded declarations.

A warning rule is a list of conditions over the measures of one funded declaration (stage
「已获批」) as of a date; a rule holds when all of its conditions hold. Each hit raises a warning
(at most one per rule, declaration and month, and none while an earlier one is still open) and
opens its rectification task: the district's staff explain what they did and upload evidence,
the city reviews it and closes (销号) the task and the warning, or returns it.

Choices where the brief left room:

- Planned dates are months (拟开工年月 / 拟建成年月). A start is late counted from the first
  day of the planned month (the default 30 days means "not started within that month"); a
  completion is late only after the planned month has ended, so a project planned to be built
  "in December" is on time until 31 December. Planned progress runs over the same span.
- Measures that cannot be known are None and no condition on them holds: payment rate without
  money received, investment rate without an accepted report or a total investment, anything
  needing a planned date the project lacks. Progress with no accepted report counts as 0 %.
- A project counts as started when an accepted report up to the date names an actual start on
  or before it, or when its maturity is 在建/竣工/验收 today (maturity keeps no dated history).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import Select, false, func, select
from sqlalchemy.exc import IntegrityError

from . import figures, tracking, vocab
from .audit import column_changes, events_of, record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import (
    AuditEvent,
    Declaration,
    District,
    Project,
    ProjectWarning,
    RectificationEvidence,
    RectificationTask,
    TrackingReport,
    User,
    WarningRule,
)
from .notifications import active_users, notify
from .operations import (
    expect_version,
    flush_or_conflict,
    insert_ignoring_duplicates,
    keep_upload,
)
from .permissions import CITY_WIDE_ROLES
from .types import utcnow
from .workdays import add_working_days, working_days_between

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# How a measure reads in a condition (「资金支付率 < 50%」) and the unit of its threshold.
MEASURE_NAMES = {
    "days_late_start": "逾期未开工天数",
    "progress_lag": "形象进度落后计划",
    "payment_rate": "资金支付率",
    "investment_rate": "投资完成率",
    "days_past_planned_end": "超期未完工天数",
    "months_since_approval": "批复后的月数",
    "overdue_reports": "逾期未报调度报告",
}
MEASURE_UNITS = {
    "days_late_start": "天",
    "progress_lag": "个百分点",
    "payment_rate": "%",
    "investment_rate": "%",
    "days_past_planned_end": "天",
    "months_since_approval": "",
    "overdue_reports": "份",
}
MAX_CONDITIONS = 3
# A threshold beyond this is a typing mistake, not a rule.
MAX_THRESHOLD = Decimal(100000)
MAX_RECTIFY_DAYS = 60
# The four rules of the domain, created when missing; the city may change their thresholds.
BUILTIN_RULES = (
    {
        "code": "late_start",
        "name": "未按时开工",
        "description": "超过计划开工月份仍未开工。",
        "level": "yellow",
        "conditions": [{"measure": "days_late_start", "op": ">=", "value": "30"}],
        "evidence_required": "开工报告或施工许可证、现场照片",
    },
    {
        "code": "behind_schedule",
        "name": "进度滞后",
        "description": "形象进度明显落后于按计划工期推算的进度。",
        "level": "yellow",
        "conditions": [{"measure": "progress_lag", "op": ">=", "value": "20"}],
        "evidence_required": "赶工计划、最新现场照片、监理或建设单位进度说明",
    },
    {
        "code": "low_payment",
        "name": "资金支付率低",
        "description": "批复半年以上,已到位资金支付不足一半。",
        "level": "yellow",
        "conditions": [
            {"measure": "payment_rate", "op": "<", "value": "50"},
            {"measure": "months_since_approval", "op": ">=", "value": "6"},
        ],
        "evidence_required": "资金支付凭证、支付计划",
    },
    {
        "code": "overdue_completion",
        "name": "超期未完工",
        "description": "超过计划建成月份仍未竣工。",
        "level": "red",
        "conditions": [{"measure": "days_past_planned_end", "op": ">=", "value": "1"}],
        "evidence_required": "延期情况说明、完工计划、现场照片",
    },
)
RULE_EDITORS = CITY_WIDE_ROLES
# Who runs 立即检查 and reviews rectifications (销号审核).
CHECKERS = CITY_WIDE_ROLES
REVIEWERS = frozenset({"city_reviewer", "manager"})
EDITABLE_STATUSES = ("open", "returned")
EVIDENCE_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
# A task due within this many working days is reminded once; an overdue one once more.
DUE_SOON_WORKING_DAYS = 2
MAX_RESPONSE = 4000


# --- plain facts and pure measures -----------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the measures need of one funded declaration, its project and its accepted reports."""

    maturity: str
    planned_start: date | None
    planned_end: date | None
    approved_on: date | None
    total_investment: Decimal | None
    # The earliest actual start any accepted report up to the date names.
    actual_start_on: date | None = None
    # From the latest accepted report up to the date; None when there is none.
    progress_percent: Decimal | None = None
    investment_completed: Decimal | None = None
    funds_received: Decimal | None = None
    payment: Decimal | None = None
    overdue_reports: int = 0


def planned_end_day(planned_end: date) -> date:
    """The last day of the planned completion month."""
    return tracking.add_months(planned_end, 1) - timedelta(days=1)


def is_started(facts: Facts, as_of: date) -> bool:
    """Whether the project had started by the date."""
    return facts.maturity in figures.STARTED_MATURITIES or (
        facts.actual_start_on is not None and facts.actual_start_on <= as_of
    )


def planned_progress(facts: Facts, as_of: date) -> Decimal | None:
    """The share (%) of the planned span from start to completion that has passed, 0–100."""
    if facts.planned_start is None or facts.planned_end is None:
        return None
    start = tracking.month_start(facts.planned_start)
    end = planned_end_day(facts.planned_end)
    span = (end - start).days
    if span <= 0:
        return None
    elapsed = min(max((as_of - start).days, 0), span)
    return (Decimal(elapsed) * HUNDRED / Decimal(span)).quantize(CENT)


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part * HUNDRED / whole).quantize(CENT)


def _whole_months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def compute_measures(facts: Facts, as_of: date) -> dict[str, Decimal | None]:
    """Every measure of vocab.WARNING_MEASURES as of the date; None where the data is missing."""
    started = is_started(facts, as_of)
    late_start = None
    if not started and facts.planned_start is not None:
        late_start = Decimal(max((as_of - tracking.month_start(facts.planned_start)).days, 0))
    past_end = None
    if facts.maturity not in figures.COMPLETED_MATURITIES and facts.planned_end is not None:
        past_end = Decimal(max((as_of - planned_end_day(facts.planned_end)).days, 0))
    planned = planned_progress(facts, as_of)
    lag = None
    if planned is not None:
        lag = planned - (facts.progress_percent or ZERO)
    payment_rate = None
    if facts.funds_received and facts.payment is not None:
        payment_rate = _percent(facts.payment, facts.funds_received)
    investment_rate = None
    if facts.total_investment and facts.investment_completed is not None:
        investment_rate = _percent(facts.investment_completed, facts.total_investment)
    months = None
    if facts.approved_on is not None:
        months = Decimal(_whole_months(facts.approved_on, as_of))
    return {
        "days_late_start": late_start,
        "progress_lag": lag,
        "payment_rate": payment_rate,
        "investment_rate": investment_rate,
        "days_past_planned_end": past_end,
        "months_since_approval": months,
        "overdue_reports": Decimal(facts.overdue_reports),
    }


_COMPARE = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def condition_holds(condition: dict, measures: dict[str, Decimal | None]) -> bool:
    """Whether one condition holds; never on an unknown measure or a broken condition."""
    value = measures.get(condition.get("measure"))
    compare = _COMPARE.get(condition.get("op"))
    if value is None or compare is None:
        return False
    try:
        threshold = Decimal(str(condition.get("value")))
    except InvalidOperation:
        return False
    return threshold.is_finite() and compare(value, threshold)


def rule_holds(conditions: Iterable[dict], measures: dict[str, Decimal | None]) -> bool:
    """Whether every condition holds (a rule without conditions never does)."""
    conditions = list(conditions)
    return bool(conditions) and all(condition_holds(c, measures) for c in conditions)


# --- words -----------------------------------------------------------------------------------


def number(value: Decimal | int | str | None) -> str:
    """A figure as people write it: 45, 12.5, 33.33 (no trailing zeros)."""
    if value is None:
        return "—"
    value = Decimal(str(value)).quantize(CENT)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _threshold(condition: dict, *, spaced: bool) -> str:
    op = vocab.WARNING_OPERATORS.get(condition["op"], condition["op"])
    unit = MEASURE_UNITS.get(condition["measure"], "")
    gap = " " if spaced else ""
    return f"{op}{gap}{number(condition['value'])}{unit}"


def condition_text(condition: dict) -> str:
    """One condition in words: 「资金支付率 < 50%」."""
    name = MEASURE_NAMES.get(condition["measure"], condition["measure"])
    return f"{name} {_threshold(condition, spaced=True)}"


def conditions_text(conditions: Iterable[dict]) -> str:
    """A rule's conditions in words, joined by 且."""
    return " 且 ".join(condition_text(c) for c in conditions)


def _phrase(condition: dict, measures: dict, facts: Facts, as_of: date) -> str:
    """What one condition found, with the figures behind it and its threshold."""
    measure = condition["measure"]
    value = measures.get(measure)
    limit = f"(阈值:{_threshold(condition, spaced=False)})"
    if measure == "days_late_start":
        return f"计划{facts.planned_start:%Y年%m月}开工,已超过{number(value)}天未开工{limit}"
    if measure == "days_past_planned_end":
        return f"计划{facts.planned_end:%Y年%m月}建成,已超期{number(value)}天未完工{limit}"
    if measure == "progress_lag":
        return (
            f"按计划工期截至{as_of:%Y年%m月%d日}应完成{number(planned_progress(facts, as_of))}%,"
            f"已审核的形象进度为{number(facts.progress_percent or ZERO)}%,"
            f"落后{number(value)}个百分点{limit}"
        )
    if measure == "payment_rate":
        return (
            f"资金支付率{number(value)}%(累计支付{number(facts.payment)}万元,"
            f"到位资金{number(facts.funds_received)}万元){limit}"
        )
    if measure == "investment_rate":
        return (
            f"投资完成率{number(value)}%(累计完成投资{number(facts.investment_completed)}万元,"
            f"总投资{number(facts.total_investment)}万元){limit}"
        )
    if measure == "months_since_approval":
        return f"批复已{number(value)}个月{limit}"
    if measure == "overdue_reports":
        return f"逾期未报调度报告{number(value)}份{limit}"
    return f"{MEASURE_NAMES.get(measure, measure)}为{number(value)}{limit}"


def describe(conditions: Iterable[dict], measures: dict, facts: Facts, as_of: date) -> str:
    """The warning's message: each condition's finding with its figures and threshold."""
    return ";".join(_phrase(c, measures, facts, as_of) for c in conditions)


# --- rules -----------------------------------------------------------------------------------


def condition_errors(conditions: list[dict]) -> list[str]:
    """What is wrong with a rule's conditions (an empty list means nothing)."""
    if not conditions:
        return ["请至少设置一个条件"]
    if len(conditions) > MAX_CONDITIONS:
        return [f"一条规则最多 {MAX_CONDITIONS} 个条件"]
    errors = []
    for number_, condition in enumerate(conditions, start=1):
        if condition.get("measure") not in vocab.WARNING_MEASURES:
            errors.append(f"条件{number_}:请选择监测指标")
        if condition.get("op") not in vocab.WARNING_OPERATORS:
            errors.append(f"条件{number_}:请选择比较方式")
        try:
            value = Decimal(str(condition.get("value", "")).strip())
        except InvalidOperation:
            errors.append(f"条件{number_}:阈值应为数字")
            continue
        if not value.is_finite() or abs(value) > MAX_THRESHOLD:
            errors.append(f"条件{number_}:阈值应为 ±{MAX_THRESHOLD} 以内的数字")
        elif value != value.quantize(CENT):
            errors.append(f"条件{number_}:阈值最多保留两位小数")
    return errors


def _clean_conditions(conditions: list[dict]) -> list[dict]:
    """Conditions as stored: the threshold a plain decimal string (「50」, 「12.5」)."""
    return [
        {"measure": c["measure"], "op": c["op"], "value": number(Decimal(str(c["value"]).strip()))}
        for c in conditions
    ]


def ensure_builtin_rules() -> dict[str, WarningRule]:
    """The four built-in rules by code, created when missing (safe to run at the same time)."""
    existing = {
        rule.code: rule
        for rule in db.session.scalars(select(WarningRule).where(WarningRule.code.is_not(None)))
    }
    missing = [spec for spec in BUILTIN_RULES if spec["code"] not in existing]
    for spec in missing:
        # Another request may be seeding the same rule: its row wins, ours is skipped.
        inserted = db.session.execute(
            insert_ignoring_duplicates(WarningRule)
            .values(
                **spec,
                rectify_working_days=10,
                enabled=True,
                created_at=utcnow(),
                version=1,
            )
            .returning(WarningRule.id)
        ).scalar()
        if inserted is not None:
            record(None, "warning_rule", inserted, "create", after={"code": spec["code"]})
    if missing:
        existing = {
            rule.code: rule
            for rule in db.session.scalars(select(WarningRule).where(WarningRule.code.is_not(None)))
        }
    return existing


def all_rules() -> list[WarningRule]:
    """Every rule, the built-in ones first (created when missing)."""
    ensure_builtin_rules()
    order = {spec["code"]: i for i, spec in enumerate(BUILTIN_RULES)}
    rules = db.session.scalars(select(WarningRule)).all()
    return sorted(rules, key=lambda r: (order.get(r.code, len(order)), r.id))


RULE_FIELDS = (
    "name",
    "description",
    "level",
    "conditions",
    "rectify_working_days",
    "evidence_required",
    "enabled",
)


def _rule_errors(values: dict, rule: WarningRule | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写规则名称"
    elif len(name) > 100:
        errors["name"] = "规则名称不能超过 100 个字"
    else:
        taken = db.session.scalar(
            select(WarningRule.id).where(
                WarningRule.name == name, WarningRule.id != (rule.id if rule else -1)
            )
        )
        if taken is not None:
            errors["name"] = f"已有名为「{name}」的规则"
    if values.get("level") not in vocab.WARNING_LEVELS:
        errors["level"] = "请选择预警等级"
    days = values.get("rectify_working_days")
    if not isinstance(days, int) or not 1 <= days <= MAX_RECTIFY_DAYS:
        errors["rectify_working_days"] = f"整改期限应为 1–{MAX_RECTIFY_DAYS} 个工作日"
    problems = condition_errors(values.get("conditions") or [])
    if problems:
        errors["conditions"] = ";".join(problems)
    if rule is not None and rule.code:
        # A built-in rule keeps what it watches; only its thresholds and handling change.
        if name and name != rule.name:
            errors["name"] = "内置规则不能改名"
        shape = [(c.get("measure"), c.get("op")) for c in values.get("conditions") or []]
        if not problems and shape != [(c["measure"], c["op"]) for c in rule.conditions]:
            errors["conditions"] = "内置规则只能修改阈值,不能更换指标或比较方式"
    return errors


def _raise_if_errors(errors: dict[str, str]) -> None:
    if errors:
        raise Invalid(";".join(errors.values()), fields=errors)


def _require_rule_editor(actor: User) -> None:
    if actor.role not in RULE_EDITORS:
        raise NotPermitted("只有市级审核员、管理人员或系统管理员可以配置预警规则")


def _assign_rule(rule: WarningRule, values: dict) -> None:
    rule.name = values["name"].strip()
    rule.description = (values.get("description") or "").strip()
    rule.level = values["level"]
    rule.conditions = _clean_conditions(values["conditions"])
    rule.rectify_working_days = values["rectify_working_days"]
    rule.evidence_required = (values.get("evidence_required") or "").strip()
    rule.enabled = bool(values.get("enabled"))


def _flush_rule(rule: WarningRule, expected_version: int | None) -> None:
    try:
        flush_or_conflict(rule, expected_version)
    except IntegrityError as exc:
        # The same name saved by someone else a moment ago; the caller rolls back.
        message = f"已有名为「{rule.name}」的规则"
        raise Invalid(message, fields={"name": message}) from exc


def create_rule(values: dict, *, actor: User) -> WarningRule:
    """Add a rule of the city's own from the same measures and operators."""
    _require_rule_editor(actor)
    _raise_if_errors(_rule_errors(values, None))
    rule = WarningRule(code=None, created_by_id=actor.id)
    _assign_rule(rule, values)
    db.session.add(rule)
    _flush_rule(rule, None)
    record(
        actor,
        "warning_rule",
        rule.id,
        "create",
        after={name: getattr(rule, name) for name in RULE_FIELDS},
    )
    return rule


def update_rule(
    rule: WarningRule, values: dict, *, actor: User, expected_version: int | None
) -> None:
    """Change a rule's thresholds, level, days, evidence or whether it is enabled."""
    _require_rule_editor(actor)
    expect_version(rule, expected_version)
    _raise_if_errors(_rule_errors(values, rule))
    _assign_rule(rule, values)
    before, after = column_changes(rule)
    if not after:
        return
    _flush_rule(rule, expected_version)
    record(actor, "warning_rule", rule.id, "update", before=before, after=after)


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funded:
    """One funded declaration with its project, district and facts as of a date."""

    declaration: Declaration
    project: Project
    district: District
    facts: Facts


def _start_dates(ids: list[int], as_of: date) -> dict[int, date]:
    """The earliest actual start each declaration's accepted reports up to the date name."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(TrackingReport.declaration_id, func.min(TrackingReport.actual_start_on))
        .where(
            TrackingReport.declaration_id.in_(ids),
            TrackingReport.status == "accepted",
            TrackingReport.period <= as_of,
            TrackingReport.actual_start_on.is_not(None),
            TrackingReport.actual_start_on <= as_of,
        )
        .group_by(TrackingReport.declaration_id)
    )
    return {decl_id: start for decl_id, start in rows}


def funded_as_of(as_of: date, declaration_ids: list[int] | None = None) -> list[Funded]:
    """Every funded declaration as of the date (or the given ones) with its facts."""
    query = figures.funded_declarations(as_of).order_by(Project.district_id, Declaration.id)
    if declaration_ids is not None:
        query = query.where(Declaration.id.in_(declaration_ids))
    rows = db.session.execute(query).all()
    ids = [row[0].id for row in rows]
    starts = _start_dates(ids, as_of)
    delivered = tracking.delivered_periods(ids)
    funded = []
    for decl, project, _program, district, report in rows:
        facts = Facts(
            maturity=project.maturity,
            planned_start=project.planned_start,
            planned_end=project.planned_end,
            approved_on=decl.approved_on,
            total_investment=project.total_investment,
            actual_start_on=starts.get(decl.id),
            progress_percent=report.progress_percent if report else None,
            investment_completed=report.investment_completed if report else None,
            funds_received=report.funds_received() if report else None,
            payment=report.payment_cumulative if report else None,
            overdue_reports=len(tracking.overdue_for(decl, as_of, delivered)),
        )
        funded.append(Funded(decl, project, district, facts))
    return funded


def task_owner(decl: Declaration, district_id: int) -> User | None:
    """Who owns a rectification: the declaration's author while an active staff member of the
    district, else the district's first active staff member."""
    author = decl.created_by
    if (
        author is not None
        and author.active
        and author.role == "district_staff"
        and author.district_id == district_id
    ):
        return author
    staff = active_users(role="district_staff", district_id=district_id)
    return staff[0] if staff else None


def _stored_measures(rule: WarningRule, measures: dict, facts: Facts) -> dict:
    """What a warning keeps of the moment it was raised."""
    return {
        "values": {name: None if v is None else str(v) for name, v in measures.items()},
        "conditions": conditions_text(rule.conditions),
        "planned_start": facts.planned_start.isoformat() if facts.planned_start else None,
        "planned_end": facts.planned_end.isoformat() if facts.planned_end else None,
    }


def raise_warning(
    rule: WarningRule, item: Funded, as_of: date, *, actor: User | None = None
) -> tuple[ProjectWarning | None, int]:
    """Raise the rule's warning on one funded declaration and open its rectification task.

    Returns the warning (None when this month's already exists) and how many messages went out.
    """
    measures = compute_measures(item.facts, as_of)
    message = describe(rule.conditions, measures, item.facts, as_of)
    district_id = item.project.district_id
    # INSERT .. ON CONFLICT DO NOTHING: two evaluations at once raise one warning, and neither
    # fails (a SAVEPOINT would commit the caller's work on SQLite when released).
    warning_id = db.session.execute(
        insert_ignoring_duplicates(ProjectWarning)
        .values(
            rule_id=rule.id,
            declaration_id=item.declaration.id,
            district_id=district_id,
            raised_on=as_of,
            month=tracking.month_start(as_of),
            level=rule.level,
            measures=_stored_measures(rule, measures, item.facts),
            message=message,
            status="open",
            created_at=utcnow(),
        )
        .returning(ProjectWarning.id)
    ).scalar()
    if warning_id is None:
        return None, 0
    warning = db.session.get(ProjectWarning, warning_id)
    owner = task_owner(item.declaration, district_id)
    task = RectificationTask(
        warning=warning,
        district_id=district_id,
        owner=owner,
        due_on=add_working_days(as_of, rule.rectify_working_days),
        evidence_required=rule.evidence_required,
        status="open",
    )
    db.session.add(task)
    db.session.flush()
    record(
        actor,
        "warning",
        warning.id,
        "raise",
        after={
            "rule": rule.name,
            "declaration_id": item.declaration.id,
            "level": rule.level,
            "raised_on": as_of.isoformat(),
        },
        comment=message,
    )
    record(
        actor,
        "rectification",
        task.id,
        "create",
        after={
            "warning_id": warning.id,
            "owner": owner.display_name if owner else None,
            "due_on": task.due_on.isoformat(),
        },
    )
    people = active_users(role="district_staff", district_id=district_id) + active_users(
        role="district_reviewer", district_id=district_id
    )
    sent = notify(
        people,
        "warning_raised",
        f"{rule.level_label}:{item.project.name} {rule.name}"[:200],
        body=f"{message}。请于 {task.due_on.isoformat()} 前完成整改并上传佐证材料。",
        link=f"/warnings/{warning.id}",
        dedupe_key=f"warning_raised:{warning.id}",
    )
    return warning, sent


def _evaluate(as_of: date, actor: User | None) -> tuple[list[ProjectWarning], int]:
    rules = [rule for rule in all_rules() if rule.enabled]
    if not rules:
        return [], 0
    still_open = {
        (rule_id, decl_id)
        for rule_id, decl_id in db.session.execute(
            select(ProjectWarning.rule_id, ProjectWarning.declaration_id).where(
                ProjectWarning.status == "open"
            )
        )
    }
    raised: list[ProjectWarning] = []
    sent = 0
    for item in funded_as_of(as_of):
        measures = compute_measures(item.facts, as_of)
        for rule in rules:
            if (rule.id, item.declaration.id) in still_open:
                continue
            if not rule_holds(rule.conditions, measures):
                continue
            warning, messages = raise_warning(rule, item, as_of, actor=actor)
            if warning is not None:
                raised.append(warning)
                sent += messages
    return raised, sent


def evaluate(as_of: date, *, actor: User | None = None) -> list[ProjectWarning]:
    """Check every enabled rule on every funded declaration; returns the warnings raised now."""
    return _evaluate(as_of, actor)[0]


def check_now(today: date, *, actor: User) -> list[ProjectWarning]:
    """立即检查: the city runs the daily evaluation by hand."""
    if actor.role not in CHECKERS:
        raise NotPermitted("只有市级审核员、管理人员或系统管理员可以运行预警检查")
    return evaluate(today, actor=actor)


def send_warnings(today: date) -> int:
    """The daily evaluation; returns how many messages went out (safe to run twice a day)."""
    return _evaluate(today, None)[1]


def send_rectification_reminders(today: date) -> int:
    """Remind of tasks due within two working days, and of overdue ones, once each."""
    tasks = db.session.scalars(
        select(RectificationTask)
        .where(RectificationTask.status.in_(EDITABLE_STATUSES))
        .order_by(RectificationTask.due_on, RectificationTask.id)
    ).all()
    sent = 0
    for task in tasks:
        warning = task.warning
        project = warning.declaration.project
        if today > task.due_on:
            people = active_users(
                role="district_staff", district_id=task.district_id
            ) + active_users(role="district_reviewer", district_id=task.district_id)
            sent += notify(
                people,
                "warning_raised",
                f"整改已逾期:{project.name} {warning.rule.name}"[:200],
                body=f"整改期限为 {task.due_on.isoformat()},请尽快提交整改情况和佐证材料。",
                link=f"/warnings/{warning.id}",
                dedupe_key=f"rectification_overdue:{task.id}",
            )
        elif working_days_between(today, task.due_on) <= DUE_SOON_WORKING_DAYS:
            sent += notify(
                _task_people(task),
                "warning_raised",
                f"整改即将到期:{project.name} {warning.rule.name}"[:200],
                body=f"整改期限为 {task.due_on.isoformat()},请按要求提交整改情况和佐证材料。",
                link=f"/warnings/{warning.id}",
                dedupe_key=f"rectification_due:{task.id}",
            )
    return sent


def _task_people(task: RectificationTask) -> list[User]:
    """Who hears about a task: its owner, or the district's staff when the owner has left."""
    owner = task.owner
    if owner is not None and owner.active and owner.district_id == task.district_id:
        return [owner]
    return active_users(role="district_staff", district_id=task.district_id)


# --- the rectification task ------------------------------------------------------------------


def _require_staff(actor: User, task: RectificationTask) -> None:
    if actor.role != "district_staff" or actor.district_id != task.district_id:
        raise NotPermitted("只有项目所属区县的填报员可以办理整改")


def _require_editable(task: RectificationTask) -> None:
    if task.status not in EDITABLE_STATUSES:
        raise Conflict(f"整改任务当前为「{task.status_label}」,不能修改")


def _response(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_RESPONSE:
        message = f"整改情况说明不能超过 {MAX_RESPONSE} 个字"
        raise Invalid(message, fields={"response": message})
    return text


def save_response(
    task: RectificationTask, response: str, *, actor: User, expected_version: int | None
) -> None:
    """Keep the 整改情况说明 written so far, without submitting it."""
    _require_staff(actor, task)
    _require_editable(task)
    expect_version(task, expected_version)
    text = _response(response)
    if text == task.response:
        return
    before = task.response
    task.response = text
    flush_or_conflict(task, expected_version)
    record(
        actor,
        "rectification",
        task.id,
        "update",
        before={"response": before},
        after={"response": text},
    )


def add_evidence(
    task: RectificationTask, *, filename: str, content: bytes, actor: User
) -> RectificationEvidence:
    """Attach a PDF or photo proving the rectification (judged by its bytes)."""
    _require_staff(actor, task)
    _require_editable(task)
    evidence = keep_upload(
        lambda **stored: RectificationEvidence(task=task, **stored),
        task,
        filename=filename,
        content=content,
        allowed=EVIDENCE_TYPES,
        refusal="整改佐证只能是 PDF、JPG 或 PNG 文件(按文件内容判断,与扩展名无关)",
        fallback="整改佐证",
        actor=actor,
    )
    record(
        actor,
        "rectification",
        task.id,
        "upload",
        after={
            "evidence_id": evidence.id,
            "name": evidence.original_name,
            "sha256": evidence.sha256,
        },
    )
    return evidence


def submit_rectification(
    task: RectificationTask, response: str, *, actor: User, expected_version: int | None
) -> None:
    """Send the rectification to the city for 销号审核: a written account and evidence needed."""
    _require_staff(actor, task)
    _require_editable(task)
    expect_version(task, expected_version)
    text = _response(response)
    errors = {}
    if not text:
        errors["response"] = "请填写整改情况说明"
    if not task.evidence:
        errors["file"] = "请至少上传一份整改佐证材料"
    _raise_if_errors(errors)
    task.response = text
    task.status = "submitted"
    task.submitted_at = utcnow()
    flush_or_conflict(task, expected_version)
    record(
        actor,
        "rectification",
        task.id,
        "submit",
        after={"response": text, "evidence": len(task.evidence)},
    )
    warning = task.warning
    notify(
        active_users(role="city_reviewer") + active_users(role="manager"),
        "rectification_submitted",
        f"整改待销号审核:{warning.declaration.project.name} {warning.rule.name}"[:200],
        body=text[:200],
        link=f"/warnings/{warning.id}",
    )


def review_rectification(
    task: RectificationTask,
    close: bool,
    comment: str,
    *,
    actor: User,
    expected_version: int | None,
) -> None:
    """Close (销号) a submitted rectification and its warning, or return it with a comment."""
    if actor.role not in REVIEWERS:
        raise NotPermitted("只有市级审核员或管理人员可以审核销号")
    if task.status != "submitted":
        raise Conflict(f"整改任务当前为「{task.status_label}」,不能审核")
    expect_version(task, expected_version)
    comment = (comment or "").strip()
    if not close and not comment:
        raise Invalid("退回整改时请填写意见", fields={"comment": "退回整改时请填写意见"})
    now = utcnow()
    warning = task.warning
    task.status = "closed" if close else "returned"
    task.reviewed_by = actor
    task.reviewed_at = now
    task.review_comment = comment or None
    if close:
        task.closed_at = now
        warning.status = "closed"
        warning.closed_at = now
    flush_or_conflict(task, expected_version)
    record(actor, "rectification", task.id, "close" if close else "return", comment=comment or None)
    if close:
        record(actor, "warning", warning.id, "close")
    outcome = "已审核销号" if close else "被退回整改"
    notify(
        active_users(role="district_staff", district_id=task.district_id),
        "rectification_reviewed",
        f"整改{outcome}:{warning.declaration.project.name} {warning.rule.name}"[:200],
        body=comment,
        link=f"/warnings/{warning.id}",
    )


# --- reading ---------------------------------------------------------------------------------


def scope_warnings(query: Select, user: User) -> Select:
    """Limit a query over ProjectWarning to what the user may see."""
    if user.is_district_user:
        return query.where(ProjectWarning.district_id == user.district_id)
    if user.role in CITY_WIDE_ROLES:
        return query
    return query.where(false())


def may_see_warnings(user: User) -> bool:
    """Whether the user has a warnings page at all (experts do not)."""
    return user.is_district_user or user.role in CITY_WIDE_ROLES


def is_overdue(task: RectificationTask, today: date) -> bool:
    """Whether the district still owes the task after its due date."""
    return task.status in EDITABLE_STATUSES and today > task.due_on


@dataclass(frozen=True)
class DistrictCount:
    """One district's warnings: open ones, red among them, overdue tasks, closed ones."""

    district: District
    open: int
    red: int
    overdue: int
    closed: int


def district_counts(today: date) -> list[DistrictCount]:
    """Warnings per district, citywide (districts with none are left out)."""
    open_ = ProjectWarning.status == "open"
    late = RectificationTask.status.in_(EDITABLE_STATUSES) & (RectificationTask.due_on < today)
    rows = db.session.execute(
        select(
            District,
            func.count().filter(open_),
            func.count().filter(open_ & (ProjectWarning.level == "red")),
            func.count().filter(late),
            func.count().filter(ProjectWarning.status == "closed"),
        )
        .join(ProjectWarning, ProjectWarning.district_id == District.id)
        .join(RectificationTask, RectificationTask.warning_id == ProjectWarning.id)
        .group_by(District.id)
        .order_by(District.sort_order, District.id)
    ).all()
    return [DistrictCount(*row) for row in rows]


def inbox_tasks(user: User) -> list[RectificationTask]:
    """Tasks waiting for the user: their district's open or returned ones (district staff),
    or those waiting for 销号审核 (city reviewers and managers)."""
    query = select(RectificationTask)
    if user.role == "district_staff":
        query = query.where(
            RectificationTask.district_id == user.district_id,
            RectificationTask.status.in_(EDITABLE_STATUSES),
        ).order_by(RectificationTask.due_on, RectificationTask.id)
    elif user.role in REVIEWERS:
        query = query.where(RectificationTask.status == "submitted").order_by(
            RectificationTask.submitted_at, RectificationTask.id
        )
    else:
        return []
    return list(db.session.scalars(query))


def history(warning: ProjectWarning) -> list[AuditEvent]:
    """The warning's and its task's audit rows together, oldest first."""
    events = events_of("warning", warning.id)
    if warning.task is not None:
        events += events_of("rectification", warning.task.id)
    return sorted(events, key=lambda e: (e.at, e.id))
