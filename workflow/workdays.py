"""Chinese working days (工作日): public holidays and 调休 make-up days from ``chinese_calendar``.

The State Council publishes each year's holiday arrangement in the preceding winter, and
``chinese_calendar`` only knows the years it has been released for (it raises
NotImplementedError for the others). For such a year this module falls back to plain
Monday–Friday, logs a warning once per year so operators know to upgrade the package, and
never crashes: a reminder a day early around an unknown holiday beats no reminder at all.

Conventions: ``add_working_days(d, n)`` steps over n working days (d itself is not counted),
and ``working_days_between(a, b)`` counts the working days after a up to and including b, so
``working_days_between(working_days_before(x, n), x) == n``.
"""

import logging
from datetime import date, timedelta

import chinese_calendar

log = logging.getLogger(__name__)

# Years we already warned about, so a loop over a whole year logs one line, not 365.
_warned_years: set[int] = set()


def is_working_day(day: date) -> bool:
    """Whether people work on this day: Monday–Friday less holidays, plus 调休 weekend days."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinese_calendar %s has no holiday data for %s; counting Monday–Friday as "
                "working days for that year (upgrade the chinesecalendar package)",
                getattr(chinese_calendar, "__version__", "?"),
                day.year,
            )
        return day.weekday() < 5


def has_holiday_data(year: int) -> bool:
    """Whether the installed calendar knows the official holidays of that year."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def add_working_days(day: date, n: int) -> date:
    """The date n working days after day (before it when n < 0); n = 0 gives day itself."""
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_before(deadline: date, n: int) -> date:
    """The date n working days before a deadline (e.g. when its reminder goes out)."""
    if n < 0:
        raise ValueError("n must not be negative")
    return add_working_days(deadline, -n)


def working_days_between(start: date, end: date) -> int:
    """Working days after start up to and including end; negative when end is before start."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count
