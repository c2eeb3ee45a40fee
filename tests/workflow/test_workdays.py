"""Chinese working days: holidays, 调休 make-up days, and the Monday–Friday fallback."""

import logging
from datetime import date

import pytest

from workflow import workdays
from workflow.workdays import (
    add_working_days,
    has_holiday_data,
    is_working_day,
    working_days_before,
    working_days_between,
)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 30), True),  # Wednesday before National Day
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 5), False),  # a Monday inside the holiday
        (date(2026, 10, 7), False),  # last day off
        (date(2026, 10, 8), True),  # back to work on a Thursday
        (date(2026, 9, 20), True),  # 调休: a Sunday worked
        (date(2026, 10, 10), True),  # 调休: a Saturday worked
        (date(2026, 9, 19), False),  # an ordinary Saturday
        (date(2026, 9, 25), False),  # Mid-autumn Festival, a Friday
        (date(2026, 2, 14), True),  # 调休 Saturday before Spring Festival
        (date(2026, 2, 16), False),  # 除夕 week
        (date(2026, 2, 23), False),  # last day of Spring Festival, a Monday
        (date(2026, 2, 24), True),  # back to work
        (date(2026, 2, 28), True),  # 调休 Saturday after Spring Festival
        (date(2026, 3, 2), True),  # an ordinary Monday
    ],
)
def test_holidays_and_make_up_days(day, working):
    assert is_working_day(day) is working


def test_n_working_days_before_a_deadline_skips_national_day():
    # Friday 2026-10-09: one working day back is Thursday 10-08, the next two skip 10-01..10-07.
    assert working_days_before(date(2026, 10, 9), 1) == date(2026, 10, 8)
    assert working_days_before(date(2026, 10, 9), 2) == date(2026, 9, 30)
    assert working_days_before(date(2026, 10, 9), 3) == date(2026, 9, 29)
    assert working_days_before(date(2026, 10, 9), 0) == date(2026, 10, 9)


def test_a_make_up_saturday_counts_as_a_working_day():
    # Monday 2026-10-12: back over 10-10 (调休 Saturday) to 10-09 and 10-08.
    assert working_days_before(date(2026, 10, 12), 1) == date(2026, 10, 10)
    assert working_days_before(date(2026, 10, 12), 3) == date(2026, 10, 8)
    # Before the holiday the make-up Sunday 09-20 sits between two ordinary weeks.
    assert working_days_before(date(2026, 9, 21), 1) == date(2026, 9, 20)
    assert working_days_before(date(2026, 9, 21), 2) == date(2026, 9, 18)


def test_spring_festival_2026():
    # From the last working day before the break to the first one after it: one step.
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
    assert working_days_before(date(2026, 2, 24), 1) == date(2026, 2, 14)
    assert working_days_before(date(2026, 2, 25), 3) == date(2026, 2, 13)
    # Feb 24 (Tue) to Mar 2 (Mon): 25, 26, 27, 28 (调休 Saturday), Mar 2.
    assert working_days_between(date(2026, 2, 24), date(2026, 3, 2)) == 5


def test_adding_forward_and_back_agree():
    start = date(2026, 9, 28)
    assert add_working_days(start, 3) == date(2026, 10, 8)
    assert add_working_days(date(2026, 10, 8), -3) == start
    assert add_working_days(start, 0) == start


def test_working_days_between_counts_the_end_not_the_start():
    assert working_days_between(date(2026, 9, 29), date(2026, 10, 9)) == 3
    assert working_days_between(date(2026, 10, 9), date(2026, 10, 9)) == 0
    assert working_days_between(date(2026, 10, 1), date(2026, 10, 7)) == 0
    assert working_days_between(date(2026, 10, 9), date(2026, 9, 29)) == -3
    for n in range(0, 12):
        deadline = date(2026, 10, 16)
        assert working_days_between(working_days_before(deadline, n), deadline) == n


def test_a_negative_count_before_a_deadline_is_refused():
    with pytest.raises(ValueError):
        working_days_before(date(2026, 10, 9), -1)


def test_a_year_without_holiday_data_falls_back_to_monday_to_friday(caplog, monkeypatch):
    monkeypatch.setattr(workdays, "_warned_years", set())
    assert not has_holiday_data(2099)
    assert has_holiday_data(2026)
    with caplog.at_level(logging.WARNING, logger="workflow.workdays"):
        assert is_working_day(date(2099, 1, 1)) is True  # a Thursday; its holiday is unknown
        assert is_working_day(date(2099, 1, 3)) is False  # Saturday
        # Friday 2099-01-09, three working days back: Tue 01-06.
        assert working_days_before(date(2099, 1, 9), 3) == date(2099, 1, 6)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per unknown year, not one per day"
    assert "2099" in warnings[0].getMessage()


def test_counting_across_into_an_unknown_year_does_not_crash(monkeypatch):
    monkeypatch.setattr(workdays, "_warned_years", set())
    # 2026-12-31 is a Thursday; the first days of 2027 fall back to Monday–Friday if unknown.
    end = add_working_days(date(2026, 12, 30), 3)
    assert end > date(2026, 12, 31)
    assert working_days_between(date(2026, 12, 30), end) == 3
