"""Tracking after approval (跟踪调度): the fund channel of the upstream result and periodic reports.

A funded declaration (stage "approved") reports once per period of its program's
``report_period_months`` (1 monthly, 3 quarterly), counted from the month of its approval. Each
report holds cumulative figures, so a figure below the last accepted report's is a correction
and needs a reason; payment beyond the money received, or money received beyond the amount
issued, needs an explanation. District staff fill and submit reports; the district's reviewer
accepts them or returns them with a comment.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from . import vocab
from .audit import column_changes, record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import Declaration, Project, ReportPhoto, TrackingReport, User
from .notifications import active_users, notify
from .operations import (
    expect_version,
    flush_or_conflict,
    keep_upload,
    local_today,
)
from .types import utcnow
from .workdays import add_working_days

CENT = Decimal("0.01")
# Roles that record the upstream result (the record_approval transition of every workflow).
APPROVAL_ROLES = ("manager", "city_reviewer")
# Working days after a period ends before its report counts as overdue.
GRACE_WORKING_DAYS = 5
# Cumulative figures: each may only grow from one accepted report to the next.
CUMULATIVE_FIELDS = (
    "progress_percent",
    "investment_completed",
    *vocab.RECEIVED_SOURCES,
    "payment_cumulative",
)
FIGURE_LABELS = {
    "progress_percent": "形象进度",
    "investment_completed": "累计完成投资",
    **vocab.RECEIVED_SOURCES,
    "payment_cumulative": "累计支付",
}
TEXT_FIELDS = ("progress_text", "problems", "suggestions")
OPTIONAL_TEXT_FIELDS = ("correction_reason", "explanation")
# Everything a report form may set.
REPORT_FIELDS = ("actual_start_on", *TEXT_FIELDS, *CUMULATIVE_FIELDS, *OPTIONAL_TEXT_FIELDS)
# What a report must hold before it is submitted (a draft may be saved half-filled).
REQUIRED_TO_SUBMIT = {
    "progress_text": "请填写形象进度说明",
    "progress_percent": "请填写形象进度百分比",
    "investment_completed": "请填写累计完成投资",
    "payment_cumulative": "请填写累计支付",
}
EDITABLE_STATUSES = ("draft", "returned")
# A report in these states counts as delivered for its period.
DELIVERED_STATUSES = ("submitted", "accepted")
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png"}


# --- the upstream result's fund channel -----------------------------------------------------


def record_approval_channel(decl: Declaration, channel: str, *, actor: User) -> None:
    """Note the fund channel the approved money came through (may differ from the program's)."""
    if actor.role not in APPROVAL_ROLES:
        raise NotPermitted("只有市级审核人员或项目管理员可以登记资金渠道")
    if decl.stage != "approved":
        raise Conflict(f"申报当前为「{decl.stage_label}」,登记批复后才能记录资金渠道")
    if channel not in vocab.CHANNELS:
        raise Invalid("请选择资金渠道", fields={"approved_channel": "请选择资金渠道"})
    if decl.approved_channel == channel:
        return
    before = decl.approved_channel
    decl.approved_channel = channel
    flush_or_conflict(decl, None)
    record(
        actor,
        "declaration",
        decl.id,
        "update",
        before={"approved_channel": before},
        after={"approved_channel": channel},
    )


# --- periods --------------------------------------------------------------------------------


def month_start(day: date) -> date:
    """The first day of day's month."""
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after day's month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start's month to end's month."""
    return (end.year - start.year) * 12 + end.month - start.month


def period_months(decl: Declaration) -> int:
    """How many months one report covers (the program's setting; monthly when unset)."""
    return max(decl.program.report_period_months or 1, 1)


def period_end(decl: Declaration, period: date) -> date:
    """The last day a report of this period covers."""
    return add_months(period, period_months(decl)) - timedelta(days=1)


def due_on(decl: Declaration, period: date) -> date:
    """The last day the period's report may arrive on time: its end plus the grace days."""
    return add_working_days(period_end(decl, period), GRACE_WORKING_DAYS)


def first_period(decl: Declaration) -> date | None:
    """The first period to report on: the month of approval (None without an approval date)."""
    return month_start(decl.approved_on) if decl.approved_on else None


def period_errors(decl: Declaration, period: date, today: date) -> str | None:
    """Why a report may not be made for this period, or None."""
    first = first_period(decl)
    if first is None:
        return "该申报没有批复日期,无法确定报告期"
    if period.day != 1:
        return "报告期应为某月的第一天"
    if period > month_start(today):
        return "不能填报未来月份的调度报告"
    step = period_months(decl)
    offset = months_between(first, period)
    if offset < 0:
        return f"报告期不能早于批复月份({first:%Y年%m月})"
    if offset % step:
        return f"该项目每 {step} 个月报告一次,报告期应从批复月份({first:%Y年%m月})起算"
    return None


def periods_until(decl: Declaration, today: date) -> list[date]:
    """Every period that has begun by today, oldest first."""
    first = first_period(decl)
    if first is None:
        return []
    step = period_months(decl)
    periods = []
    period = first
    while period <= today:
        periods.append(period)
        period = add_months(period, step)
    return periods


def period_label(decl: Declaration, period: date) -> str:
    """How pages name a period: 2026年05月, or 2026年04月–06月 for a quarter."""
    if period_months(decl) == 1:
        return f"{period:%Y年%m月}"
    last = period_end(decl, period)
    if last.year == period.year:
        return f"{period:%Y年%m月}–{last:%m月}"
    return f"{period:%Y年%m月}–{last:%Y年%m月}"


# --- validation -----------------------------------------------------------------------------


def _figure(values: dict, name: str) -> Decimal | None:
    value = values.get(name)
    return Decimal(value) if value is not None and value != "" else None


def _has_text(values: dict, name: str) -> bool:
    return bool((values.get(name) or "").strip())


def _funds_received(values: dict) -> Decimal:
    return sum((_figure(values, name) or Decimal(0) for name in vocab.RECEIVED_SOURCES), Decimal(0))


def report_errors(
    values: dict,
    previous_accepted: TrackingReport | None,
    declaration: Declaration,
    *,
    today: date | None = None,
) -> dict[str, str]:
    """What is wrong with a report's values, by field; an empty dict means nothing.

    Blank figures are allowed here (a draft may be half-filled); a ``funds_received`` key
    stands for the received_* figures together.
    """
    today = today or local_today()
    errors: dict[str, str] = {}
    for name in CUMULATIVE_FIELDS:
        value = _figure(values, name)
        label = FIGURE_LABELS[name]
        if value is None:
            continue
        if not value.is_finite():
            errors[name] = f"{label}不是有效的数字"
        elif value < 0:
            errors[name] = f"{label}不能为负数"
        elif value != value.quantize(CENT):
            errors[name] = f"{label}最多保留两位小数"
        elif name == "progress_percent" and value > 100:
            errors[name] = "形象进度应在 0–100 之间"
    if errors:
        return errors
    if previous_accepted is not None and not _has_text(values, "correction_reason"):
        for name in CUMULATIVE_FIELDS:
            value = _figure(values, name)
            before = getattr(previous_accepted, name)
            if value is not None and before is not None and value < before:
                errors[name] = (
                    f"{FIGURE_LABELS[name]}为累计数,不能小于上期已审核报告的 {before}"
                    "(如确需更正,请填写更正说明)"
                )
    if not _has_text(values, "explanation"):
        received = _funds_received(values)
        payment = _figure(values, "payment_cumulative")
        if payment is not None and payment > received:
            errors["payment_cumulative"] = (
                f"累计支付 {payment} 万元超过累计到位资金 {received} 万元(如属实,请填写情况说明)"
            )
        issued = declaration.approved_amount
        if issued is not None and received > issued:
            errors["funds_received"] = (
                f"累计到位资金 {received} 万元超过下达金额 {issued} 万元(如属实,请填写情况说明)"
            )
    start = values.get("actual_start_on")
    if start is not None and start > today:
        errors["actual_start_on"] = "实际开工日期不能晚于今天"
    return errors


def _raise_if_errors(errors: dict[str, str]) -> None:
    if errors:
        raise Invalid(";".join(errors.values()), fields=errors)


def previous_accepted(decl: Declaration, period: date) -> TrackingReport | None:
    """The latest accepted report of an earlier period: the figures a new one must not undercut."""
    return db.session.scalars(
        select(TrackingReport)
        .where(
            TrackingReport.declaration_id == decl.id,
            TrackingReport.status == "accepted",
            TrackingReport.period < period,
        )
        .order_by(TrackingReport.period.desc())
        .limit(1)
    ).first()


# --- operations -----------------------------------------------------------------------------


def _require_staff(actor: User, decl: Declaration) -> None:
    if actor.role != "district_staff":
        raise NotPermitted("只有区县填报员可以填写调度报告")
    if actor.district_id != decl.project.district_id:
        raise NotPermitted("只能填写本区县项目的调度报告")


def _require_editable(report: TrackingReport) -> None:
    if report.status not in EDITABLE_STATUSES:
        raise Conflict(f"调度报告当前为「{report.status_label}」,不能修改")


def _assign(report: TrackingReport, values: dict) -> None:
    for name in REPORT_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if name in TEXT_FIELDS:
            value = (value or "").strip()
        elif name in OPTIONAL_TEXT_FIELDS:
            value = (value or "").strip() or None
        elif name in CUMULATIVE_FIELDS and value is not None and value != "":
            # Validated to two decimals already; the audit row shows what is stored.
            value = Decimal(value).quantize(CENT)
        elif name in CUMULATIVE_FIELDS:
            value = None
        setattr(report, name, value)


def _values_of(report: TrackingReport) -> dict:
    return {name: getattr(report, name) for name in REPORT_FIELDS}


def create_report(decl: Declaration, period: date, values: dict, *, actor: User) -> TrackingReport:
    """Start the report of one period of a funded declaration, as a draft."""
    _require_staff(actor, decl)
    if decl.stage != "approved":
        raise Conflict(f"申报当前为「{decl.stage_label}」,批复后才需要填写调度报告")
    problem = period_errors(decl, period, local_today())
    if problem:
        raise Invalid(problem, fields={"period": problem})
    existing = db.session.scalar(
        select(TrackingReport.id).where(
            TrackingReport.declaration_id == decl.id, TrackingReport.period == period
        )
    )
    if existing is not None:
        raise Conflict(f"{period_label(decl, period)}的调度报告已经存在,请打开它修改")
    _raise_if_errors(report_errors(values, previous_accepted(decl, period), decl))
    report = TrackingReport(declaration=decl, period=period, status="draft", created_by=actor)
    _assign(report, values)
    db.session.add(report)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Someone else created this period's report between our check and our insert; the
        # caller rolls back. No savepoint: on SQLite one would commit.
        raise Conflict(f"{period_label(decl, period)}的调度报告已由他人创建,请刷新页面") from exc
    record(
        actor,
        "tracking_report",
        report.id,
        "create",
        after={"declaration_id": decl.id, "period": period.isoformat()},
    )
    return report


def update_report(
    report: TrackingReport, values: dict, *, actor: User, expected_version: int | None
) -> None:
    """Change a draft or returned report's figures and texts."""
    decl = report.declaration
    _require_staff(actor, decl)
    _require_editable(report)
    expect_version(report, expected_version)
    merged = {**_values_of(report), **values}
    _raise_if_errors(report_errors(merged, previous_accepted(decl, report.period), decl))
    _assign(report, values)
    before, after = column_changes(report)
    if not after:
        return
    flush_or_conflict(report, expected_version)
    record(actor, "tracking_report", report.id, "update", before=before, after=after)


def submit_report(
    report: TrackingReport, *, actor: User, expected_version: int | None = None
) -> None:
    """Send a complete report to the district's reviewer."""
    decl = report.declaration
    _require_staff(actor, decl)
    _require_editable(report)
    expect_version(report, expected_version)
    values = _values_of(report)
    missing = {
        name: message
        for name, message in REQUIRED_TO_SUBMIT.items()
        if values[name] is None or values[name] == ""
    }
    _raise_if_errors(missing)
    # Checked again: a report accepted since this one was saved may have raised the bar.
    _raise_if_errors(report_errors(values, previous_accepted(decl, report.period), decl))
    report.status = "submitted"
    report.submitted_at = utcnow()
    flush_or_conflict(report, expected_version)
    record(actor, "tracking_report", report.id, "submit")


def review_report(
    report: TrackingReport,
    accept: bool,
    comment: str,
    *,
    actor: User,
    expected_version: int | None = None,
) -> None:
    """Accept a submitted report, or return it with a comment; its author is told either way."""
    decl = report.declaration
    if actor.role != "district_reviewer":
        raise NotPermitted("只有区县审核员可以审核调度报告")
    if actor.district_id != decl.project.district_id:
        raise NotPermitted("只能审核本区县项目的调度报告")
    if report.status != "submitted":
        raise Conflict(f"调度报告当前为「{report.status_label}」,不能审核")
    expect_version(report, expected_version)
    comment = (comment or "").strip()
    if not accept and not comment:
        raise Invalid("退回修改时请填写意见", fields={"comment": "退回修改时请填写意见"})
    report.status = "accepted" if accept else "returned"
    report.reviewed_by = actor
    report.reviewed_at = utcnow()
    report.review_comment = comment or None
    flush_or_conflict(report, expected_version)
    record(actor, "tracking_report", report.id, "accept" if accept else "return", comment=comment)
    label = period_label(decl, report.period)
    outcome = "已审核通过" if accept else "被退回修改"
    notify(
        _authors(report),
        "report_reviewed",
        f"调度报告{outcome}:{decl.project.name} {label}"[:200],
        body=comment,
        link=f"/reports/{report.id}",
    )


def _authors(report: TrackingReport) -> list[User]:
    """Who hears about a review: the report's author, or the district's staff if they left."""
    author = report.created_by
    if author is not None and author.active:
        return [author]
    return active_users(role="district_staff", district_id=report.declaration.project.district_id)


def add_report_photo(
    report: TrackingReport, *, filename: str, content: bytes, actor: User
) -> ReportPhoto:
    """Attach a site photo (JPEG or PNG, judged by its bytes) to a draft or returned report."""
    _require_staff(actor, report.declaration)
    _require_editable(report)
    photo = keep_upload(
        lambda **stored: ReportPhoto(report=report, **stored),
        report,
        filename=filename,
        content=content,
        allowed=PHOTO_TYPES,
        refusal="现场照片只能是 JPG 或 PNG 图片(按文件内容判断,与扩展名无关)",
        fallback="现场照片",
        actor=actor,
    )
    record(
        actor,
        "tracking_report",
        report.id,
        "upload",
        after={"photo_id": photo.id, "name": photo.original_name, "sha256": photo.sha256},
    )
    return photo


# --- what is due ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueReport:
    """A period whose report is overdue: the grace days after its end have passed."""

    declaration: Declaration
    period: date
    due_on: date

    @property
    def label(self) -> str:
        """The period as pages name it."""
        return period_label(self.declaration, self.period)


def funded_declarations() -> list[Declaration]:
    """Every declaration in stage "approved", with its program and project loaded."""
    return list(
        db.session.scalars(
            select(Declaration)
            .join(Project, Declaration.project_id == Project.id)
            .where(Declaration.stage == "approved")
            .options(joinedload(Declaration.program), joinedload(Declaration.project))
            .order_by(Project.district_id, Declaration.id)
        )
    )


def delivered_periods(declaration_ids: list[int]) -> set[tuple[int, date]]:
    """(declaration id, period) of every submitted or accepted report of these declarations."""
    if not declaration_ids:
        return set()
    rows = db.session.execute(
        select(TrackingReport.declaration_id, TrackingReport.period).where(
            TrackingReport.declaration_id.in_(declaration_ids),
            TrackingReport.status.in_(DELIVERED_STATUSES),
        )
    )
    return {(row.declaration_id, row.period) for row in rows}


def overdue_for(
    decl: Declaration, today: date, delivered: set[tuple[int, date]]
) -> list[DueReport]:
    """The declaration's periods past their due date with no submitted report, oldest first."""
    overdue = []
    for period in periods_until(decl, today):
        deadline = due_on(decl, period)
        if deadline >= today:
            break
        if (decl.id, period) not in delivered:
            overdue.append(DueReport(decl, period, deadline))
    return overdue


def due_reports(today: date, declarations: list[Declaration] | None = None) -> list[DueReport]:
    """Overdue reports of every funded declaration (or of the ones given), by declaration."""
    decls = funded_declarations() if declarations is None else declarations
    delivered = delivered_periods([d.id for d in decls])
    return [due for decl in decls for due in overdue_for(decl, today, delivered)]


@dataclass(frozen=True)
class OwedReport:
    """A period that has ended with no report delivered: due soon, or overdue after its grace."""

    declaration: Declaration
    period: date
    due_on: date
    overdue: bool
    report: TrackingReport | None  # a draft or a returned report already started, if any

    @property
    def label(self) -> str:
        """The period as pages name it."""
        return period_label(self.declaration, self.period)


def reports_owed(today: date, declarations: list[Declaration]) -> list[OwedReport]:
    """Ended periods of these declarations still waiting for a report, soonest due first.

    What district staff see in 待办: a period counts from the day after it ends, so a report
    shows as due during its grace days and as overdue after them.
    """
    if not declarations:
        return []
    started = {
        (r.declaration_id, r.period): r
        for r in db.session.scalars(
            select(TrackingReport).where(
                TrackingReport.declaration_id.in_([d.id for d in declarations])
            )
        )
    }
    owed = []
    for decl in declarations:
        for period in periods_until(decl, today):
            if period_end(decl, period) >= today:
                break
            report = started.get((decl.id, period))
            if report is not None and report.status in DELIVERED_STATUSES:
                continue
            deadline = due_on(decl, period)
            owed.append(OwedReport(decl, period, deadline, deadline < today, report))
    owed.sort(key=lambda o: (o.due_on, o.declaration.id))
    return owed


def send_report_reminders(today: date) -> int:
    """Tell the district's staff of each overdue report, once per declaration and period."""
    sent = 0
    for due in due_reports(today):
        decl = due.declaration
        sent += notify(
            active_users(role="district_staff", district_id=decl.project.district_id),
            "report_due",
            f"调度报告逾期未报:{decl.project.name} {due.label}"[:200],
            body=f"该报告期的调度报告应于 {due.due_on.isoformat()} 前报送,请尽快填写并报送。",
            link=f"/declarations/{decl.id}",
            dedupe_key=f"report_due:{decl.id}:{due.period.isoformat()}",
        )
    return sent
