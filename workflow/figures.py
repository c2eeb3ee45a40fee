"""The city's 四率 over funded declarations and each project's money funnel (资金链条).

The unit of every rate is one funded declaration (a declaration in stage 「已获批」): a project
funded by two programs counts once under each, which is what grouping by program or channel needs.
Figures come from the declaration's latest *accepted* tracking report whose period is on or
before the as-of date; drafts, submitted and returned reports never count.

Choices where the brief left room:

- 资金到位率 = Σ funds received (all six sources) / Σ the project's funding plan (the six
  ``fund_*`` columns added up). The numerator covers every source, so the denominator does too;
  dividing by the amount issued alone would exceed 100% as soon as self-raised money arrives.
- A declaration counts from its ``approved_on`` (批复日期): one approved after the as-of date
  is not yet funded then.
- 开工 uses the report's ``actual_start_on`` as of the date, or the project's *current*
  maturity (在建/竣工/验收): maturity keeps no dated history of its own.
- 按期竣工率 counts only declarations whose project has a ``planned_end`` on or before the date.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from . import vocab
from .extensions import db
from .models import (
    AuditEvent,
    Declaration,
    District,
    FundingProgram,
    Project,
    TrackingReport,
    User,
)
from .permissions import scope_declarations

ZERO = Decimal(0)
STARTED_MATURITIES = frozenset({"under_construction", "completed", "accepted"})
COMPLETED_MATURITIES = frozenset({"completed", "accepted"})
# The four rates in the order pages show them: code → Chinese name.
RATES = {
    "started": "开工率",
    "invested": "投资完成率",
    "funds_in": "资金到位率",
    "on_time": "按期竣工率",
}
GROUPINGS = {"district": "区县", "program": "申报批次", "channel": "资金渠道", "year": "年度"}


# --- plain data and pure functions -----------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """One rate: numerator over denominator; ``ratio`` is None when there is nothing to divide."""

    numerator: Decimal
    denominator: Decimal

    @property
    def ratio(self) -> Decimal | None:
        """numerator / denominator to four decimals (0.1234 = 12.34%), None for a zero base."""
        if not self.denominator:
            return None
        return (self.numerator / self.denominator).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Funded:
    """What the rates need of one funded declaration and its latest accepted report."""

    maturity: str
    total_investment: Decimal | None
    planned_funds: Decimal
    planned_end: date | None
    actual_start_on: date | None = None
    investment_completed: Decimal | None = None
    funds_received: Decimal = ZERO
    payment: Decimal | None = None


@dataclass(frozen=True)
class Rates:
    """The four rates of a set of funded declarations."""

    count: int
    started: Rate
    invested: Rate
    funds_in: Rate
    on_time: Rate

    def items(self) -> list[tuple[str, str, Rate]]:
        """(code, Chinese name, rate) in display order."""
        return [(code, name, getattr(self, code)) for code, name in RATES.items()]


def _count(flags: Iterable[bool]) -> tuple[Decimal, Decimal]:
    flags = list(flags)
    return Decimal(sum(flags)), Decimal(len(flags))


def compute_rates(items: Iterable[Funded], as_of: date) -> Rates:
    """The 四率 of the funded declarations as of a date."""
    items = list(items)
    started = _count(
        (i.actual_start_on is not None and i.actual_start_on <= as_of)
        or i.maturity in STARTED_MATURITIES
        for i in items
    )
    due = [i for i in items if i.planned_end is not None and i.planned_end <= as_of]
    on_time = _count(i.maturity in COMPLETED_MATURITIES for i in due)
    return Rates(
        count=len(items),
        started=Rate(*started),
        invested=Rate(
            sum((i.investment_completed or ZERO for i in items), ZERO),
            sum((i.total_investment or ZERO for i in items), ZERO),
        ),
        funds_in=Rate(
            sum((i.funds_received for i in items), ZERO),
            sum((i.planned_funds for i in items), ZERO),
        ),
        on_time=Rate(*on_time),
    )


@dataclass(frozen=True)
class GroupRates:
    """The rates of one group (a district, program, channel or year)."""

    key: object
    label: str
    rates: Rates


def group_rates(
    rows: Iterable[tuple[object, str, Funded]], as_of: date
) -> tuple[list[GroupRates], Rates]:
    """Rates per group key (in first-seen order) and over all rows together."""
    groups: dict[object, tuple[str, list[Funded]]] = {}
    everything = []
    for key, label, item in rows:
        groups.setdefault(key, (label, []))[1].append(item)
        everything.append(item)
    return (
        [
            GroupRates(key, label, compute_rates(items, as_of))
            for key, (label, items) in groups.items()
        ],
        compute_rates(everything, as_of),
    )


# --- queries ---------------------------------------------------------------------------------


def latest_accepted_report(as_of: date):
    """An alias of TrackingReport and the join condition picking each declaration's latest
    accepted report with a period on or before the date (outer-join it to Declaration)."""
    report = aliased(TrackingReport)
    newer = aliased(TrackingReport)
    latest_period = (
        select(func.max(newer.period))
        .where(
            newer.declaration_id == Declaration.id,
            newer.status == "accepted",
            newer.period <= as_of,
        )
        .correlate(Declaration)
        .scalar_subquery()
    )
    return report, and_(
        report.declaration_id == Declaration.id,
        report.status == "accepted",
        report.period == latest_period,
    )


def funded_declarations(as_of: date) -> Select:
    """Funded declarations as of the date, with project, program, district and latest report."""
    report, on = latest_accepted_report(as_of)
    return (
        select(Declaration, Project, FundingProgram, District, report)
        .join(Project, Declaration.project_id == Project.id)
        .join(FundingProgram, Declaration.program_id == FundingProgram.id)
        .join(District, Project.district_id == District.id)
        .outerjoin(report, on)
        .where(
            Declaration.stage == "approved",
            (Declaration.approved_on.is_(None)) | (Declaration.approved_on <= as_of),
        )
    )


def funded_of(project: Project, report: TrackingReport | None) -> Funded:
    """The plain figures of one funded declaration's project and report."""
    return Funded(
        maturity=project.maturity,
        total_investment=project.total_investment,
        planned_funds=project.funding_sum(),
        planned_end=project.planned_end,
        actual_start_on=report.actual_start_on if report else None,
        investment_completed=report.investment_completed if report else None,
        funds_received=report.funds_received() if report else ZERO,
        payment=report.payment_cumulative if report else None,
    )


def channel_of(decl: Declaration, program: FundingProgram) -> str:
    """The channel the money came through: the approval's, else the program's."""
    return decl.approved_channel or program.channel


_KEYS: dict[str, Callable] = {
    "district": lambda d, p, g, dist: (dist.sort_order, dist.code, dist.id, dist.name),
    "program": lambda d, p, g, dist: (-g.year, g.id, g.title),
    "channel": lambda d, p, g, dist: (
        list(vocab.CHANNELS).index(channel_of(d, g)) if channel_of(d, g) in vocab.CHANNELS else 99,
        channel_of(d, g),
        vocab.label(vocab.CHANNELS, channel_of(d, g)),
    ),
    "year": lambda d, p, g, dist: (-g.year, g.year, f"{g.year}年"),
}


def rates_by(by: str, as_of: date, *, user: User | None = None) -> tuple[list[GroupRates], Rates]:
    """The 四率 grouped by district, program, channel or year, in one query; scoped to the user."""
    if by not in _KEYS:
        raise ValueError(f"unknown grouping {by!r}")
    query = funded_declarations(as_of)
    if user is not None:
        # funded_declarations already joins Project; scope by the user's district directly.
        query = _scoped(query, user)
    rows = []
    for decl, project, program, district, report in db.session.execute(query):
        *order, key, label = _KEYS[by](decl, project, program, district)
        rows.append(((tuple(order), key), label, funded_of(project, report)))
    rows.sort(key=lambda row: row[0])
    groups, total = group_rates(rows, as_of)
    return [GroupRates(g.key[1], g.label, g.rates) for g in groups], total


def _scoped(query: Select, user: User) -> Select:
    """The query limited to what the user may see (it already joins Project)."""
    probe = scope_declarations(select(Declaration.id), user)
    return query.where(Declaration.id.in_(probe))


# --- the funnel ------------------------------------------------------------------------------

FUNNEL = {
    "total": "总投资",
    "requested": "申请资金",
    "issued": "下达资金",
    "received": "到位资金",
    "completed": "完成投资",
    "paid": "支付资金",
}
# Each check: (smaller, larger) — the smaller figure should not exceed the larger one.
CHECKS = (
    ("paid", "received"),
    ("received", "issued"),
    ("issued", "requested"),
    ("requested", "total"),
)


@dataclass(frozen=True)
class Check:
    """One consistency check of the funnel; ``ok`` is None when a figure is unknown."""

    smaller: str
    larger: str
    ok: bool | None

    @property
    def text(self) -> str:
        """The check in words, e.g. 「支付资金 ≤ 到位资金」."""
        return f"{FUNNEL[self.smaller]} ≤ {FUNNEL[self.larger]}"


def funnel_checks(figures: dict[str, Decimal | None]) -> list[Check]:
    """The consistency checks (支付 ≤ 到位 ≤ 下达 ≤ 申请 ≤ 总投资) of a funnel's figures."""
    checks = []
    for smaller, larger in CHECKS:
        a, b = figures.get(smaller), figures.get(larger)
        checks.append(Check(smaller, larger, None if a is None or b is None else a <= b))
    return checks


@dataclass(frozen=True)
class HistoryRow:
    """Who set a key figure, when, and why."""

    figure: str
    value: Decimal | None
    actor: User | None
    at: datetime | None
    reason: str


@dataclass
class Funnel:
    """A project's money from plan to payment, with checks and the history behind the figures."""

    project: Project
    as_of: date
    declarations: list[Declaration]
    reports: dict[int, TrackingReport]  # declaration id → latest accepted report
    figures: dict[str, Decimal | None]
    checks: list[Check]
    history: list[HistoryRow] = field(default_factory=list)

    def steps(self) -> list[tuple[str, str, Decimal | None]]:
        """(code, Chinese name, amount) from 总投资 down to 支付."""
        return [(code, name, self.figures.get(code)) for code, name in FUNNEL.items()]


def _total(values: Iterable[Decimal | None]) -> Decimal | None:
    """The sum, or None when every value is unknown."""
    known = [v for v in values if v is not None]
    return sum(known, ZERO) if known else None


def funnel_figures(
    total_investment: Decimal | None,
    declarations: Iterable[tuple[Decimal | None, Decimal | None]],
    reports: Iterable[tuple[Decimal, Decimal | None, Decimal | None]],
) -> dict[str, Decimal | None]:
    """The funnel's figures from (requested, approved) per declaration and (received,
    investment completed, payment) per latest accepted report; unknown stays None."""
    declarations, reports = list(declarations), list(reports)
    return {
        "total": total_investment,
        "requested": _total(r for r, _ in declarations),
        "issued": _total(a for _, a in declarations),
        "received": _total(r for r, _, _ in reports),
        "completed": _total(c for _, c, _ in reports),
        "paid": _total(p for _, _, p in reports),
    }


def project_funnel(project: Project, as_of: date) -> Funnel:
    """The money funnel of one project as of a date, over its funded declarations."""
    report, on = latest_accepted_report(as_of)
    rows = db.session.execute(
        select(Declaration, report)
        .outerjoin(report, on)
        .where(
            Declaration.project_id == project.id,
            Declaration.stage == "approved",
            (Declaration.approved_on.is_(None)) | (Declaration.approved_on <= as_of),
        )
        .order_by(Declaration.id)
    ).all()
    declarations = [decl for decl, _ in rows]
    reports = {decl.id: r for decl, r in rows if r is not None}
    figures = funnel_figures(
        project.total_investment,
        ((d.requested_amount, d.approved_amount) for d in declarations),
        (
            (r.funds_received(), r.investment_completed, r.payment_cumulative)
            for r in reports.values()
        ),
    )
    return Funnel(
        project=project,
        as_of=as_of,
        declarations=declarations,
        reports=reports,
        figures=figures,
        checks=funnel_checks(figures),
        history=funnel_history(declarations, as_of),
    )


def _reason(*parts: str | None) -> str:
    return ";".join(p.strip() for p in parts if p and p.strip())


def funnel_history(declarations: list[Declaration], as_of: date) -> list[HistoryRow]:
    """Who set each key figure, when and why: the approval rows of the funded declarations and
    the accepted reports (up to the date) of their tracking; oldest first."""
    if not declarations:
        return []
    ids = [d.id for d in declarations]
    by_id = {d.id: d for d in declarations}
    history: list[HistoryRow] = []
    approvals = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "declaration",
            AuditEvent.object_id.in_(ids),
            AuditEvent.action == "record_approval",
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    for event in approvals:
        after = event.after or {}
        decl = by_id[event.object_id]
        amount = after.get("approved_amount")
        history.append(
            HistoryRow(
                figure=f"下达资金({decl.program.title})",
                value=Decimal(amount) if amount is not None else None,
                actor=event.actor,
                at=event.at,
                reason=_reason(
                    f"批复文号 {after['approval_doc_number']}"
                    if after.get("approval_doc_number")
                    else None,
                    event.comment,
                ),
            )
        )
    reports = list(
        db.session.scalars(
            select(TrackingReport)
            .where(
                TrackingReport.declaration_id.in_(ids),
                TrackingReport.status == "accepted",
                TrackingReport.period <= as_of,
            )
            .order_by(TrackingReport.period, TrackingReport.id)
        )
    )
    accepted = {}
    if reports:
        # The accept row says who accepted the figures and when; the latest one wins.
        for event in db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "tracking_report",
                AuditEvent.object_id.in_([r.id for r in reports]),
                AuditEvent.action == "accept",
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        ):
            accepted[event.object_id] = event
    for r in reports:
        event = accepted.get(r.id)
        actor = event.actor if event else r.reviewed_by
        at = event.at if event else r.reviewed_at
        reason = _reason(
            f"{r.period.year}年{r.period.month}月调度报告",
            f"更正说明:{r.correction_reason}" if r.correction_reason else None,
            f"情况说明:{r.explanation}" if r.explanation else None,
            f"审核意见:{r.review_comment}" if r.review_comment else None,
        )
        for figure, value in (
            ("到位资金", r.funds_received()),
            ("完成投资", r.investment_completed),
            ("支付资金", r.payment_cumulative),
        ):
            history.append(HistoryRow(figure, value, actor, at, reason))
    history.sort(key=lambda h: (h.at is None, h.at.timestamp() if h.at else 0.0))
    return history


def history_tuples(
    funnel: Funnel,
) -> list[tuple[str, Decimal | None, User | None, datetime | None, str]]:
    """The funnel's history as plain (figure, value, actor, at, reason) tuples."""
    return [(h.figure, h.value, h.actor, h.at, h.reason) for h in funnel.history]
