"""The dashboard's figures on a hand-computed fixture, citywide and for one district."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from tests import factories
from tests.workflow.conftest import COMMENT, approval
from workflow import dashboard, figures, tracking, vocab
from workflow.dashboard import Area, ChannelMoney, StageCount, dashboard_charts, dashboard_data
from workflow.extensions import db
from workflow.figures import Rate
from workflow.models import (
    Declaration,
    District,
    FundingProgram,
    ProjectWarning,
    RectificationTask,
    TrackingReport,
    User,
    WarningRule,
)

D = Decimal
AS_OF = date(2026, 6, 30)
NO_RATE = Rate(D(0), D(0))


@dataclass
class City:
    """Two districts, five declarations, two funded with reports, one overdue, one warning.

    亭湖区 (code 320902, listed first): E funded 2026-05-20, 下达 200 through 超长期特别国债, no
    report (its May report is overdue since 2026-06-05), an open yellow warning whose task was due
    2026-06-24; a withdrawn declaration.
    盐都区: a draft, a submitted one (待区县初审), and C funded 2026-03-10, 下达 280 through
    中央预算内投资, reports March accepted (invest 100, received 100, paid 50), April accepted
    (started 04-05, invest 200, received 150 + 100 self-raised, paid 120), May only submitted
    (ignored by the figures, but delivered, so not overdue). Its red warning was closed, and
    another is raised only after the date (neither counts).
    Every project: total investment 1000, funding plan 1000, planned end 2027-12-01.
    """

    world: factories.World
    funded_yandu: Declaration
    funded_tinghu: Declaration
    may_report: TrackingReport


def fund(world, district, staff, reviewer, *, amount, on) -> Declaration:
    """A fresh project's declaration driven through the real workflow to 已获批."""
    decl = factories.declaration(factories.project(district), world.program, by=staff)
    factories.act(decl, "submit", staff, COMMENT)
    factories.act(decl, "approve", reviewer, COMMENT)
    factories.act(decl, "approve", world.city, COMMENT)
    factories.act(
        decl,
        "record_approval",
        world.manager,
        COMMENT,
        approval=approval(amount=D(amount), approved_on=on),
    )
    return decl


def report(decl, period, status="accepted", **values) -> TrackingReport:
    """A report row as the district's review left it."""
    row = TrackingReport(declaration=decl, period=period, status=status, **values)
    db.session.add(row)
    db.session.commit()
    return row


def warning(decl, district, *, raised_on, level, status="open", due_on) -> ProjectWarning:
    """A warning with its rectification task, as the warning engine writes them."""
    rule = db.session.query(WarningRule).filter_by(name="进度滞后").one_or_none()
    if rule is None:
        rule = WarningRule(
            name="进度滞后",
            level="yellow",
            conditions=[{"measure": "progress_lag", "op": ">=", "value": "20"}],
        )
    row = ProjectWarning(
        rule=rule,
        declaration=decl,
        district=district,
        raised_on=raised_on,
        month=raised_on.replace(day=1),
        level=level,
        message="形象进度落后于计划",
        status=status,
    )
    task = RectificationTask(
        warning=row,
        district=district,
        due_on=due_on,
        status="closed" if status == "closed" else "open",
    )
    db.session.add_all([row, task])
    db.session.commit()
    return row


def build_city(world) -> City:
    """Build the fixture of the City docstring."""
    drafted = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    submitted = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    factories.act(submitted, "submit", world.staff)
    c = fund(world, world.yandu, world.staff, world.reviewer, amount=280, on=date(2026, 3, 10))
    e = fund(
        world,
        world.tinghu,
        world.other_staff,
        world.other_reviewer,
        amount=200,
        on=date(2026, 5, 20),
    )
    tracking.record_approval_channel(e, "special_treasury_bond", actor=world.manager)
    withdrawn = factories.declaration(
        factories.project(world.tinghu), world.program, by=world.other_staff
    )
    factories.act(withdrawn, "withdraw", world.other_staff)
    assert (drafted.stage, submitted.stage, withdrawn.stage) == (
        "draft",
        "district_review",
        "withdrawn",
    )
    report(
        c,
        date(2026, 3, 1),
        investment_completed=D(100),
        received_central=D(100),
        payment_cumulative=D(50),
    )
    report(
        c,
        date(2026, 4, 1),
        actual_start_on=date(2026, 4, 5),
        investment_completed=D(200),
        received_central=D(150),
        received_self=D(100),
        payment_cumulative=D(120),
    )
    may = report(
        c,
        date(2026, 5, 1),
        status="submitted",
        investment_completed=D(300),
        received_central=D(280),
        payment_cumulative=D(200),
    )
    warning(e, world.tinghu, raised_on=date(2026, 6, 10), level="yellow", due_on=date(2026, 6, 24))
    warning(
        c,
        world.yandu,
        raised_on=date(2026, 6, 12),
        level="red",
        status="closed",
        due_on=date(2026, 6, 26),
    )
    warning(c, world.yandu, raised_on=date(2026, 7, 3), level="red", due_on=date(2026, 7, 17))
    return City(world=world, funded_yandu=c, funded_tinghu=e, may_report=may)


@pytest.fixture
def city(world) -> City:
    return build_city(world)


def _parts(rate: Rate) -> tuple[Decimal, Decimal]:
    return rate.numerator, rate.denominator


# --- citywide ---------------------------------------------------------------------------------


def test_declarations_count_by_stage_and_district(city):
    d = dashboard_data(AS_OF)
    assert d.scope == "全市"
    assert d.districts == (
        Area(city.world.tinghu.id, "亭湖区"),
        Area(city.world.yandu.id, "盐都区"),
    )
    assert d.stages == (
        StageCount("draft", "草稿", (0, 1)),
        StageCount("district_review", "待区县初审", (0, 1)),
        StageCount("approved", "已获批", (1, 1)),
        StageCount("withdrawn", "已撤回", (1, 0)),
    )
    assert d.declarations == 5
    assert d.district_totals() == (2, 3)
    assert dict(d.stage_groups()) == {
        "填报中": (0, 1),
        "审核中": (0, 1),
        "已推荐上报": (0, 0),
        "已获批": (1, 1),
        "未获支持": (0, 0),
        "已撤回或逾期": (1, 0),
    }


def test_every_stage_belongs_to_one_group():
    grouped = [code for codes in dashboard.STAGE_GROUPS.values() for code in codes]
    assert sorted(grouped) == sorted(vocab.STAGES)


def test_money_by_channel_from_the_latest_accepted_report(city):
    d = dashboard_data(AS_OF)
    assert d.channels == (
        ChannelMoney("central_budget", "中央预算内投资", 1, D(300), D(280), D(250), D(120)),
        ChannelMoney("special_treasury_bond", "超长期特别国债", 1, D(300), D(200), D(0), D(0)),
    )
    assert d.money == ChannelMoney("total", "合计", 2, D(600), D(480), D(250), D(120))


def test_the_four_rates_as_of_the_date_match_the_figures_page(city):
    d = dashboard_data(AS_OF)
    assert d.rates.count == 2
    assert _parts(d.rates.started) == (1, 2)
    assert _parts(d.rates.invested) == (D(200), D(2000))
    assert _parts(d.rates.funds_in) == (D(250), D(2000))
    assert d.rates.funds_in.ratio == D("0.125")
    assert d.rates.on_time == NO_RATE  # no project is due to be completed yet
    assert d.rates == figures.rates_by("district", AS_OF)[1]
    assert d.trend[-1].rates == d.rates


def test_the_rates_at_each_months_end_of_the_last_year(city):
    d = dashboard_data(AS_OF)
    assert [p.on for p in d.trend] == [
        date(2025, 7, 31),
        date(2025, 8, 31),
        date(2025, 9, 30),
        date(2025, 10, 31),
        date(2025, 11, 30),
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]
    assert [p.label for p in d.trend][:2] == ["2025年7月", "8月"]
    assert [p.label for p in d.trend][6:] == ["2026年1月", "2月", "3月", "4月", "5月", "6月"]
    rows = [
        (p.rates.count, _parts(p.rates.started), _parts(p.rates.invested), _parts(p.rates.funds_in))
        for p in d.trend
    ]
    nothing = (0, (0, 0), (0, 0), (0, 0))
    assert rows[:8] == [nothing] * 8  # nothing funded before C's approval in March
    assert rows[8:] == [
        (1, (0, 1), (D(100), D(1000)), (D(100), D(1000))),  # C's March report
        (1, (1, 1), (D(200), D(1000)), (D(250), D(1000))),  # April: started, more money
        (2, (1, 2), (D(200), D(2000)), (D(250), D(2000))),  # May: E funded, no report
        (2, (1, 2), (D(200), D(2000)), (D(250), D(2000))),
    ]


def test_accepting_a_report_moves_the_rates_from_its_month_on(city):
    before = dashboard_data(AS_OF).trend
    city.may_report.status = "accepted"
    db.session.commit()
    after = dashboard_data(AS_OF).trend
    assert [p.rates for p in after[:10]] == [p.rates for p in before[:10]]
    for point in after[10:]:
        assert _parts(point.rates.invested) == (D(300), D(2000))
        assert _parts(point.rates.funds_in) == (D(280), D(2000))


def test_overdue_reports_warnings_and_rectifications_by_district(city):
    d = dashboard_data(AS_OF)
    tinghu, yandu = d.alerts
    assert (tinghu.district.name, yandu.district.name) == ("亭湖区", "盐都区")
    assert (tinghu.overdue_reports, tinghu.yellow, tinghu.red) == (1, 1, 0)
    assert (tinghu.open_tasks, tinghu.overdue_tasks) == (1, 1)
    # 盐都区's red warning was closed, and its other one was raised after the date.
    assert (yandu.overdue_reports, yandu.yellow, yandu.red, yandu.open_tasks) == (0, 0, 0, 0)
    assert (d.open_warnings, d.open_tasks) == (1, 1)
    (late,) = d.overdue
    assert late.declaration_id == city.funded_tinghu.id
    assert (late.district, late.period, late.due_on) == ("亭湖区", "2026年05月", date(2026, 6, 5))
    assert late.project == city.funded_tinghu.project.name


def test_a_later_date_counts_the_warning_raised_since(city):
    d = dashboard_data(date(2026, 7, 10))
    yandu = d.alerts[1]
    assert (yandu.red, yandu.open_tasks, yandu.overdue_tasks) == (1, 1, 0)


def test_an_earlier_date_knows_nothing_of_later_approvals(city):
    d = dashboard_data(date(2026, 4, 30))
    assert d.rates.count == 1
    assert [c.code for c in d.channels] == ["central_budget"]
    assert d.overdue == ()  # C's March and April reports were delivered
    assert d.open_warnings == 0


# --- one district -----------------------------------------------------------------------------


def test_a_district_dashboard_holds_nothing_of_another_district(city):
    d = dashboard_data(AS_OF, district_id=city.world.yandu.id)
    assert d.scope == "盐都区"
    assert d.districts == (Area(city.world.yandu.id, "盐都区"),)
    assert d.declarations == 3
    assert [(s.code, s.by_district) for s in d.stages] == [
        ("draft", (1,)),
        ("district_review", (1,)),
        ("approved", (1,)),
    ]
    assert d.money == ChannelMoney("total", "合计", 1, D(300), D(280), D(250), D(120))
    assert [c.code for c in d.channels] == ["central_budget"]
    assert _parts(d.rates.funds_in) == (D(250), D(1000))
    assert d.trend[-1].rates.count == 1
    assert d.overdue == ()
    assert [a.district.name for a in d.alerts] == ["盐都区"]
    assert d.open_warnings == 0
    charts = dashboard_charts(d)
    assert "districts" not in charts  # one district needs no comparison
    assert all("亭湖区" not in str(svg) for svg in charts.values())


def test_the_other_district_sees_its_own_figures(city):
    d = dashboard_data(AS_OF, district_id=city.world.tinghu.id)
    assert d.declarations == 2
    assert d.money == ChannelMoney("total", "合计", 1, D(300), D(200), D(0), D(0))
    assert len(d.overdue) == 1 and d.open_warnings == 1


# --- charts and queries -----------------------------------------------------------------------


def test_the_charts_show_the_dashboards_labels(city):
    charts = dashboard_charts(dashboard_data(AS_OF))
    assert list(charts) == ["stages", "districts", "money", "rates", "alerts"]
    assert "待区县初审" in charts["stages"]
    assert "亭湖区" in charts["districts"] and "盐都区" in charts["districts"]
    assert "中央预算内投资·下达:280.00万元" in charts["money"]
    assert "6月·资金到位率:12.5%" in charts["rates"]
    assert "亭湖区·逾期未报:1项" in charts["alerts"]
    assert "盐都区" not in charts["alerts"]  # nothing to chase there
    assert charts == dashboard_charts(dashboard_data(AS_OF))


def test_an_empty_city_draws_notes_not_errors(world):
    d = dashboard_data(AS_OF)
    assert (d.declarations, d.rates.count, d.overdue, d.channels) == (0, 0, (), ())
    assert all(p.rates.count == 0 for p in d.trend)
    charts = dashboard_charts(d)
    assert "暂无获批项目" in charts["money"] and "暂无获批项目" in charts["rates"]
    assert "暂无数据" in charts["stages"]


def _statements(action) -> int:
    statements = []

    def count(*args):
        statements.append(args[2])

    db.session.expunge_all()  # as a fresh request would: nothing cached
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


def test_the_number_of_queries_does_not_grow_with_the_projects(city):
    world = city.world
    ids = {name: getattr(world, name).id for name in ("other_staff", "other_reviewer", "city")}
    ids |= {"manager": world.manager.id, "tinghu": world.tinghu.id, "program": world.program.id}
    first = _statements(lambda: dashboard_data(AS_OF))
    # The counting left the session empty; the world's rows are read again to build more.
    world.tinghu, world.program = (
        db.session.get(District, ids["tinghu"]),
        db.session.get(FundingProgram, ids["program"]),
    )
    for name in ("other_staff", "other_reviewer", "city", "manager"):
        setattr(world, name, db.session.get(User, ids[name]))
    for on in (date(2026, 2, 3), date(2026, 4, 8)):
        decl = fund(world, world.tinghu, world.other_staff, world.other_reviewer, amount=100, on=on)
        report(decl, on.replace(day=1), investment_completed=D(10), received_central=D(10))
    assert dashboard_data(AS_OF).rates.count == 4
    assert _statements(lambda: dashboard_data(AS_OF)) == first
    assert first <= 7, first
