"""The 四率 and the money funnel, on hand-computed fixtures."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event

from tests import factories
from tests.workflow.conftest import COMMENT, approval
from workflow import figures
from workflow.extensions import db
from workflow.figures import Funded, Rate, compute_rates, funnel_checks, funnel_figures
from workflow.models import Declaration, Project, TrackingReport

D = Decimal
JUNE = date(2026, 6, 30)
APRIL = date(2026, 4, 15)


# --- pure functions ----------------------------------------------------------------------------


def test_a_rate_with_a_zero_denominator_has_no_ratio():
    assert Rate(D(0), D(0)).ratio is None
    assert Rate(D(3), D(0)).ratio is None
    assert Rate(D(1), D(3)).ratio == D("0.3333")


def test_no_funded_declarations_give_no_ratios_and_no_division():
    rates = compute_rates([], JUNE)
    assert rates.count == 0
    assert [rate.ratio for _, _, rate in rates.items()] == [None, None, None, None]


def test_rates_count_reported_starts_up_to_the_date_and_blank_figures_as_zero():
    reported_late = Funded("funded", D(100), D(100), None, actual_start_on=date(2026, 7, 1))
    reported = Funded(
        "funded",
        None,
        D(0),
        date(2026, 1, 1),
        actual_start_on=date(2026, 6, 1),
        investment_completed=D(40),
    )
    rates = compute_rates([reported_late, reported], JUNE)
    assert (rates.started.numerator, rates.started.denominator) == (1, 2)
    # The blank total investment counts as zero; its completed investment still counts.
    assert (rates.invested.numerator, rates.invested.denominator) == (D(40), D(100))
    assert rates.invested.ratio == D("0.4000")
    # Only the second is due to be completed, and it is not.
    assert (rates.on_time.numerator, rates.on_time.denominator) == (0, 1)
    assert rates.on_time.ratio == D(0)
    assert rates.funds_in.ratio == D(0)


def test_funnel_checks_flag_each_figure_exceeding_the_next_and_skip_unknowns():
    figures_ = funnel_figures(
        D(1000),
        [(D(300), D(280)), (D(100), None)],
        [(D(500), D(600), D(450))],
    )
    assert figures_ == {
        "total": D(1000),
        "requested": D(400),
        "issued": D(280),
        "received": D(500),
        "completed": D(600),
        "paid": D(450),
    }
    checks = {(c.smaller, c.larger): c.ok for c in funnel_checks(figures_)}
    assert checks == {
        ("paid", "received"): True,
        ("received", "issued"): False,
        ("issued", "requested"): True,
        ("requested", "total"): True,
    }
    unknown = funnel_checks(funnel_figures(None, [], []))
    assert [c.ok for c in unknown] == [None, None, None, None]


# --- queries over the database -------------------------------------------------------------------


@dataclass
class City:
    p1: Project
    p2: Project
    p3: Project
    d1: Declaration
    d2: Declaration
    d3: Declaration


def _approve(decl, staff, reviewer, cast, *, amount, on):
    """Drive a draft through the real workflow to 已获批 with the given approval."""
    factories.act(decl, "submit", staff, COMMENT)
    factories.act(decl, "approve", reviewer, COMMENT)
    factories.act(decl, "approve", cast.world.city, COMMENT)
    factories.act(
        decl,
        "record_approval",
        cast.world.manager,
        COMMENT,
        approval=approval(amount=amount, approved_on=on),
    )
    assert decl.stage == "approved"
    return decl


def _report(decl, period, **values):
    row = TrackingReport(
        declaration=decl,
        period=period,
        status=values.pop("status", "accepted"),
        reviewed_at=datetime(period.year, period.month, 20, 2, tzinfo=UTC),
        **values,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def city(cast) -> City:
    """Three funded declarations, hand-computed in the tests below.

    d1 盐都 program A (central budget, this year): total 1000, plan 1000, due 2026-05-01, completed;
       reports March (start 03-10, invest 400, received 400, paid 300) and May (600 / 500 / 450),
       a June report only submitted (ignored).
    d2 盐都 program B (provincial fund, 2025): total 2000, plan 2000, due 2027-12-01, no report.
    d3 亭湖 program A but issued through 超长期特别国债: total 500, plan 500, due 2026-06-01,
       under construction; report April (invest 100, received 150, paid 50).
    """
    world = cast.world
    program_a = world.program
    program_b = factories.program(year=2025, channel="provincial_fund")
    p1 = factories.project(world.yandu, planned_end=date(2026, 5, 1))
    p2 = factories.project(
        world.yandu,
        total_investment=D(2000),
        fund_central=D(500),
        fund_local_fiscal=None,
        fund_self=D(1500),
        planned_end=date(2027, 12, 1),
    )
    p3 = factories.project(
        world.tinghu,
        total_investment=D(500),
        fund_central=D(200),
        fund_local_fiscal=None,
        fund_self=D(300),
        planned_end=date(2026, 6, 1),
    )
    jan = date(2026, 1, 15)
    d1 = _approve(
        factories.declaration(p1, program_a, by=world.staff),
        world.staff,
        world.reviewer,
        cast,
        amount=D(280),
        on=jan,
    )
    d2 = _approve(
        factories.declaration(p2, program_b, by=world.staff, requested_amount=D(500)),
        world.staff,
        world.reviewer,
        cast,
        amount=D(400),
        on=jan,
    )
    d3 = _approve(
        factories.declaration(p3, program_a, by=world.other_staff, requested_amount=D(200)),
        world.other_staff,
        world.other_reviewer,
        cast,
        amount=D(150),
        on=jan,
    )
    d3.approved_channel = "special_treasury_bond"
    # The maturity machine's own tests cover the moves; here only the resulting state matters.
    p1.maturity = "completed"
    p3.maturity = "under_construction"
    db.session.commit()
    manager = world.manager
    _report(
        d1,
        date(2026, 3, 1),
        actual_start_on=date(2026, 3, 10),
        investment_completed=D(400),
        received_central=D(250),
        received_self=D(150),
        payment_cumulative=D(300),
        reviewed_by=manager,
    )
    _report(
        d1,
        date(2026, 5, 1),
        actual_start_on=date(2026, 3, 10),
        investment_completed=D(600),
        received_central=D(280),
        received_self=D(220),
        payment_cumulative=D(450),
        explanation="自筹资金先行到位",
        reviewed_by=manager,
    )
    _report(d1, date(2026, 6, 1), investment_completed=D(900), status="submitted")
    _report(
        d3,
        date(2026, 4, 1),
        actual_start_on=date(2026, 4, 2),
        investment_completed=D(100),
        received_central=D(150),
        payment_cumulative=D(50),
        reviewed_by=manager,
    )
    return City(p1, p2, p3, d1, d2, d3)


def _pairs(rate):
    return (rate.numerator, rate.denominator, rate.ratio)


def test_the_city_rates_as_of_june(city):
    groups, total = figures.rates_by("year", JUNE)
    assert total.count == 3
    assert _pairs(total.started) == (2, 3, D("0.6667"))
    assert _pairs(total.invested) == (D(700), D(3500), D("0.2000"))
    assert _pairs(total.funds_in) == (D(650), D(3500), D("0.1857"))
    assert _pairs(total.on_time) == (1, 2, D("0.5000"))
    assert [(g.label, g.rates.count) for g in groups] == [("2026年", 2), ("2025年", 1)]


def test_rates_by_district_take_the_latest_accepted_report_as_of_the_date(city):
    groups, _ = figures.rates_by("district", JUNE)
    by_name = {g.label: g.rates for g in groups}
    assert set(by_name) == {"盐都区", "亭湖区"}
    yandu, tinghu = by_name["盐都区"], by_name["亭湖区"]
    assert _pairs(yandu.started) == (1, 2, D("0.5000"))
    assert _pairs(yandu.invested) == (D(600), D(3000), D("0.2000"))
    assert _pairs(yandu.funds_in) == (D(500), D(3000), D("0.1667"))
    assert _pairs(yandu.on_time) == (1, 1, D("1.0000"))
    assert _pairs(tinghu.funds_in) == (D(150), D(500), D("0.3000"))
    assert _pairs(tinghu.on_time) == (0, 1, D(0))

    groups, _ = figures.rates_by("district", APRIL)
    yandu = {g.label: g.rates for g in groups}["盐都区"]
    # In mid-April the March report is the latest accepted one; nothing was due yet.
    assert _pairs(yandu.invested) == (D(400), D(3000), D("0.1333"))
    assert _pairs(yandu.on_time) == (0, 0, None)


def test_rates_by_channel_use_the_approved_channel_over_the_programs(city):
    groups, _ = figures.rates_by("channel", JUNE)
    assert [(g.key, g.label, g.rates.count) for g in groups] == [
        ("central_budget", "中央预算内投资", 1),
        ("special_treasury_bond", "超长期特别国债", 1),
        ("provincial_fund", "省级专项资金", 1),
    ]


def test_rates_by_program_and_before_any_approval(city):
    groups, _ = figures.rates_by("program", JUNE)
    assert sorted(g.rates.count for g in groups) == [1, 2]
    groups, total = figures.rates_by("program", date(2026, 1, 10))
    assert groups == []
    assert total.count == 0 and total.invested.ratio is None


def test_a_district_user_sees_only_their_district(city):
    groups, total = figures.rates_by("district", JUNE, user=city.d3.created_by)
    assert [g.label for g in groups] == ["亭湖区"]
    assert total.count == 1


def test_each_grouping_is_one_query(city):
    statements = []

    def count(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        db.session.expire_all()
        for by in figures.GROUPINGS:
            figures.rates_by(by, JUNE)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == len(figures.GROUPINGS)


def test_the_funnel_of_a_project_and_its_checks(city):
    funnel = figures.project_funnel(city.p1, JUNE)
    assert funnel.figures == {
        "total": D(1000),
        "requested": D(300),
        "issued": D(280),
        "received": D(500),
        "completed": D(600),
        "paid": D(450),
    }
    failing = [c.text for c in funnel.checks if c.ok is False]
    assert failing == ["到位资金 ≤ 下达资金"]

    april = figures.project_funnel(city.p1, APRIL)
    assert (april.figures["received"], april.figures["paid"]) == (D(400), D(300))

    unreported = figures.project_funnel(city.p2, JUNE)
    assert unreported.figures["issued"] == D(400)
    assert unreported.figures["received"] is None
    assert [c.ok for c in unreported.checks] == [None, None, True, True]


def test_the_funnel_history_says_who_when_and_why(city):
    rows = figures.history_tuples(figures.project_funnel(city.p1, JUNE))
    issued = [r for r in rows if r[0].startswith("下达资金")]
    assert len(issued) == 1
    figure, value, actor, at, reason = issued[0]
    assert value == D(280)
    assert actor.role == "manager" and at is not None
    assert "发改投资〔2026〕18号" in reason
    received = [(r[1], r[4]) for r in rows if r[0] == "到位资金"]
    assert [v for v, _ in received] == [D(400), D(500)]
    assert "自筹资金先行到位" in received[1][1]
    # The June report was never accepted, so it is no source of any figure.
    assert all("6月" not in r[4] for r in rows)
    assert len(figures.project_funnel(city.p1, APRIL).history) == 4
