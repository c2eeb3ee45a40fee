"""The dashboard (数据看板): what a manager reads at a glance, citywide or for one district.

``dashboard_data`` gathers plain, frozen data (no ORM objects), so the page and the monthly
report PDF (documents/) render the same figures; ``dashboard_charts`` draws each chart as SVG.

Choices where the brief left room:

- Declarations count by their *current* stage: a stage keeps no dated history, so the as-of
  date does not move these counts.
- 申请 / 下达 / 到位 / 支付 by channel cover the same set as the 四率: declarations funded
  (「已获批」, approved on or before the date), so the four bars of a channel are one funnel.
- The rates over time are taken at the end of each of the last twelve months (the last point
  is the as-of date itself); a report counts from its period, as in workflow/figures.py.
- Open warnings are those raised on or before the date and not yet closed (销号); their
  rectification tasks count while not closed, and as overdue once their due date has passed.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from markupsafe import Markup
from sqlalchemy import case, func, select

from . import charts, figures, tracking, vocab
from .extensions import db
from .models import (
    Declaration,
    District,
    Project,
    ProjectWarning,
    RectificationTask,
    TrackingReport,
)

ZERO = Decimal(0)
MONTHS = 12
CITY = "全市"
# The stages gathered into what a manager asks of a district: how many are where.
STAGE_GROUPS = {
    "填报中": ("draft", "returned"),
    "审核中": ("district_review", "city_review", "expert_review", "joint_signoff"),
    "已推荐上报": ("recommended",),
    "已获批": ("approved",),
    "未获支持": ("not_approved", "not_recommended"),
    "已撤回或逾期": ("withdrawn", "expired"),
}
# Colours of the groups, as the stage badges of the pages have them (static/css/app.css).
STAGE_GROUP_COLORS = ("#d97706", "#1d4ed8", "#0f766e", "#15803d", "#9ca3af", "#d1d5db")
MONEY = {"requested": "申请", "issued": "下达", "received": "到位", "paid": "支付"}
ALERTS = {"overdue_reports": "逾期未报", "yellow": "黄色预警", "red": "红色预警"}
ALERT_COLORS = ("#1d4ed8", "#eab308", "#b91c1c")
OPEN_TASK_STATUSES = ("open", "submitted", "returned")


# --- plain data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A district as the dashboard names it."""

    id: int
    name: str


@dataclass(frozen=True)
class StageCount:
    """How many declarations are in one stage, per district in the dashboard's order."""

    code: str
    label: str
    by_district: tuple[int, ...]

    @property
    def total(self) -> int:
        """All districts together."""
        return sum(self.by_district)


@dataclass(frozen=True)
class ChannelMoney:
    """The funded declarations' money of one fund channel (or of all: code ``total``)."""

    code: str
    label: str
    count: int
    requested: Decimal
    issued: Decimal
    received: Decimal
    paid: Decimal

    def amount(self, key: str) -> Decimal:
        """One of the MONEY figures by its key."""
        return getattr(self, key)


@dataclass(frozen=True)
class RatePoint:
    """The four rates as of one day (a month's end, or the as-of date for the last month)."""

    on: date
    label: str
    rates: figures.Rates


@dataclass(frozen=True)
class DistrictAlerts:
    """What needs chasing in one district: overdue reports, open warnings and rectifications."""

    district: Area
    overdue_reports: int
    yellow: int
    red: int
    open_tasks: int
    overdue_tasks: int

    @property
    def any(self) -> bool:
        """Whether anything at all needs chasing."""
        return bool(self.overdue_reports or self.yellow or self.red or self.open_tasks)


@dataclass(frozen=True)
class OverdueReport:
    """One tracking report past its due date and not yet delivered."""

    declaration_id: int
    project: str
    district: str
    period: str
    due_on: date


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows, as of one date, citywide or for one district."""

    as_of: date
    scope: str
    district_id: int | None
    districts: tuple[Area, ...]
    stages: tuple[StageCount, ...]
    channels: tuple[ChannelMoney, ...]
    money: ChannelMoney
    rates: figures.Rates
    trend: tuple[RatePoint, ...]
    alerts: tuple[DistrictAlerts, ...]
    overdue: tuple[OverdueReport, ...]

    @property
    def declarations(self) -> int:
        """Every declaration counted, in any stage."""
        return sum(s.total for s in self.stages)

    @property
    def open_warnings(self) -> int:
        """Warnings raised and not yet closed."""
        return sum(a.yellow + a.red for a in self.alerts)

    @property
    def open_tasks(self) -> int:
        """Rectification tasks not yet closed."""
        return sum(a.open_tasks for a in self.alerts)

    def stage_groups(self) -> list[tuple[str, tuple[int, ...]]]:
        """(group label, count per district) for STAGE_GROUPS, in order."""
        counts = {s.code: s.by_district for s in self.stages}
        empty = (0,) * len(self.districts)
        return [
            (
                label,
                tuple(
                    sum(column)
                    for column in zip(*(counts.get(c, empty) for c in codes), strict=True)
                ),
            )
            for label, codes in STAGE_GROUPS.items()
        ]

    def district_totals(self) -> tuple[int, ...]:
        """Declarations per district, every stage together."""
        return tuple(
            sum(column) for column in zip(*(s.by_district for s in self.stages), strict=True)
        ) or (0,) * len(self.districts)


# --- gathering --------------------------------------------------------------------------------


def _month_end(month: date) -> date:
    return tracking.add_months(month, 1) - timedelta(days=1)


def trend_days(as_of: date, months: int = MONTHS) -> list[date]:
    """The last day of each of the last ``months`` months up to as_of (as_of itself last)."""
    first = tracking.add_months(tracking.month_start(as_of), -(months - 1))
    return [min(_month_end(tracking.add_months(first, i)), as_of) for i in range(months)]


def month_label(day: date, first: bool) -> str:
    """「2026年1月」 for the first point and each January, 「2月」 otherwise."""
    return f"{day.year}年{day.month}月" if first or day.month == 1 else f"{day.month}月"


def _districts(district_id: int | None) -> tuple[Area, ...]:
    query = select(District.id, District.name).order_by(
        District.sort_order, District.code, District.id
    )
    if district_id is not None:
        query = query.where(District.id == district_id)
    return tuple(Area(row.id, row.name) for row in db.session.execute(query))


def _stage_counts(areas: tuple[Area, ...], district_id: int | None) -> tuple[StageCount, ...]:
    query = (
        select(Project.district_id, Declaration.stage, func.count(Declaration.id))
        .join(Project, Declaration.project_id == Project.id)
        .group_by(Project.district_id, Declaration.stage)
    )
    if district_id is not None:
        query = query.where(Project.district_id == district_id)
    counts = {(d, stage): n for d, stage, n in db.session.execute(query)}
    rows = []
    for code, label in vocab.STAGES.items():
        by_district = tuple(counts.get((a.id, code), 0) for a in areas)
        if any(by_district):
            rows.append(StageCount(code, label, by_district))
    return tuple(rows)


def _channel_money(code: str, label: str, rows: list) -> ChannelMoney:
    return ChannelMoney(
        code=code,
        label=label,
        count=len(rows),
        requested=sum((d.requested_amount or ZERO for d, _ in rows), ZERO),
        issued=sum((d.approved_amount or ZERO for d, _ in rows), ZERO),
        received=sum((r.funds_received() if r else ZERO for _, r in rows), ZERO),
        paid=sum(((r.payment_cumulative or ZERO) if r else ZERO for _, r in rows), ZERO),
    )


def _money(funded: list) -> tuple[tuple[ChannelMoney, ...], ChannelMoney]:
    by_channel: dict[str, list] = {}
    for decl, _project, program, _district, report in funded:
        by_channel.setdefault(figures.channel_of(decl, program), []).append((decl, report))
    order = list(vocab.CHANNELS)
    channels = tuple(
        _channel_money(code, vocab.label(vocab.CHANNELS, code), rows)
        for code, rows in sorted(
            by_channel.items(),
            key=lambda item: (order.index(item[0]) if item[0] in order else len(order), item[0]),
        )
    )
    everything = [(decl, report) for decl, _p, _g, _d, report in funded]
    return channels, _channel_money("total", "合计", everything)


def _trend(funded: list, as_of: date) -> tuple[RatePoint, ...]:
    """The rates at each month's end, from one query of the funded declarations' reports."""
    reports: dict[int, list[TrackingReport]] = {}
    if funded:
        for report in db.session.scalars(
            select(TrackingReport)
            .where(
                TrackingReport.declaration_id.in_([decl.id for decl, *_ in funded]),
                TrackingReport.status == "accepted",
                TrackingReport.period <= as_of,
            )
            .order_by(TrackingReport.period)
        ):
            reports.setdefault(report.declaration_id, []).append(report)
    periods = {key: [r.period for r in rs] for key, rs in reports.items()}
    points = []
    for index, day in enumerate(trend_days(as_of)):
        items = []
        for decl, project, *_ in funded:
            if decl.approved_on is not None and decl.approved_on > day:
                continue
            mine = reports.get(decl.id, [])
            at = bisect_right(periods.get(decl.id, []), day)
            items.append(figures.funded_of(project, mine[at - 1] if at else None))
        points.append(
            RatePoint(day, month_label(day, index == 0), figures.compute_rates(items, day))
        )
    return tuple(points)


def _alerts(
    areas: tuple[Area, ...], as_of: date, district_id: int | None, overdue: list
) -> tuple[DistrictAlerts, ...]:
    warnings = select(ProjectWarning.district_id, ProjectWarning.level, func.count()).where(
        ProjectWarning.status == "open", ProjectWarning.raised_on <= as_of
    )
    tasks = (
        select(
            RectificationTask.district_id,
            func.count(),
            func.sum(case((RectificationTask.due_on < as_of, 1), else_=0)),
        )
        .join(ProjectWarning, RectificationTask.warning_id == ProjectWarning.id)
        .where(
            RectificationTask.status.in_(OPEN_TASK_STATUSES),
            ProjectWarning.raised_on <= as_of,
        )
    )
    if district_id is not None:
        warnings = warnings.where(ProjectWarning.district_id == district_id)
        tasks = tasks.where(RectificationTask.district_id == district_id)
    levels = {
        (d, level): n
        for d, level, n in db.session.execute(
            warnings.group_by(ProjectWarning.district_id, ProjectWarning.level)
        )
    }
    open_tasks = {
        d: (n, int(late or 0))
        for d, n, late in db.session.execute(tasks.group_by(RectificationTask.district_id))
    }
    late_reports: dict[int, int] = {}
    for due in overdue:
        key = due.declaration.project.district_id
        late_reports[key] = late_reports.get(key, 0) + 1
    return tuple(
        DistrictAlerts(
            district=a,
            overdue_reports=late_reports.get(a.id, 0),
            yellow=levels.get((a.id, "yellow"), 0),
            red=levels.get((a.id, "red"), 0),
            open_tasks=open_tasks.get(a.id, (0, 0))[0],
            overdue_tasks=open_tasks.get(a.id, (0, 0))[1],
        )
        for a in areas
    )


def dashboard_data(as_of: date, *, district_id: int | None = None) -> Dashboard:
    """The dashboard's figures as of a date: citywide, or of one district when given."""
    areas = _districts(district_id)
    query = figures.funded_declarations(as_of).order_by(Declaration.id)
    if district_id is not None:
        query = query.where(Project.district_id == district_id)
    funded = db.session.execute(query).all()
    channels, money = _money(funded)
    # The program rows above are in the session, so period_months() needs no further query.
    overdue = tracking.due_reports(as_of, [decl for decl, *_ in funded])
    names = {a.id: a.name for a in areas}
    return Dashboard(
        as_of=as_of,
        scope=names.get(district_id, "") if district_id is not None else CITY,
        district_id=district_id,
        districts=areas,
        stages=_stage_counts(areas, district_id),
        channels=channels,
        money=money,
        rates=figures.compute_rates(
            [figures.funded_of(project, report) for _d, project, _g, _a, report in funded], as_of
        ),
        trend=_trend(funded, as_of),
        alerts=_alerts(areas, as_of, district_id, overdue),
        overdue=tuple(
            OverdueReport(
                declaration_id=due.declaration.id,
                project=due.declaration.project.name,
                district=names.get(due.declaration.project.district_id, ""),
                period=due.label,
                due_on=due.due_on,
            )
            for due in sorted(overdue, key=lambda d: (d.due_on, d.declaration.id))
        ),
    )


# --- charts -----------------------------------------------------------------------------------


def _percent(rate: figures.Rate) -> Decimal | None:
    return None if rate.ratio is None else rate.ratio * 100


def dashboard_charts(d: Dashboard) -> dict[str, Markup]:
    """Each chart of the dashboard as SVG, by key; 「districts」 only when there are several."""
    drawn = {
        "stages": charts.bar_chart(
            "各阶段申报数量",
            [s.label for s in d.stages],
            {"申报数": [s.total for s in d.stages]},
            unit="项",
            horizontal=True,
        )
    }
    if len(d.districts) > 1:
        drawn["districts"] = charts.bar_chart(
            "各区县申报数量",
            [a.name for a in d.districts],
            dict(d.stage_groups()),
            unit="项",
            stacked=True,
            horizontal=True,
            colors=STAGE_GROUP_COLORS,
        )
    drawn["money"] = charts.bar_chart(
        "各资金渠道资金情况(万元)",
        [c.label for c in d.channels],
        {name: [c.amount(key) for c in d.channels] for key, name in MONEY.items()},
        unit="万元",
        empty_text="暂无获批项目",
    )
    drawn["rates"] = charts.line_chart(
        f"四率变化趋势(近{MONTHS}个月)",
        [p.label for p in d.trend],
        {
            name: [_percent(getattr(p.rates, code)) for p in d.trend]
            for code, name in figures.RATES.items()
        },
        unit="%",
        empty_text="暂无获批项目",
    )
    shown = [a for a in d.alerts if a.overdue_reports or a.yellow or a.red]
    drawn["alerts"] = charts.bar_chart(
        "逾期未报与未销号预警",
        [a.district.name for a in shown],
        {name: [getattr(a, key) for a in shown] for key, name in ALERTS.items()},
        unit="项",
        horizontal=True,
        empty_text="暂无逾期未报的调度报告和未销号的预警",
        colors=ALERT_COLORS,
    )
    return drawn
