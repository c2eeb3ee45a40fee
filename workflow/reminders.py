"""The daily reminders: each function sends one kind of message and returns how many went out.

``flask --app wsgi reminders send`` runs them in order once a day (see workflow/cli.py), and so
does the scheduled job (workflow/jobs.py, ``flask --app wsgi scheduler``), both through
``send_daily``. A new kind of reminder is one more ``f(today) -> int`` in DAILY_REMINDERS; each
must be safe to run twice on the same day (use ``notify``'s ``dedupe_key``) and must not commit:
``send_daily`` does.
"""

import logging
from collections.abc import Callable
from datetime import date

from . import calls, deadlines, early_warning, prerequisites, tracking
from .extensions import db

log = logging.getLogger(__name__)

DAILY_REMINDERS: list[Callable[[date], int]] = [
    calls.send_due_reminders,
    prerequisites.send_expiry_warnings,
    deadlines.send_stage_reminders,
    deadlines.escalate_overdue,
    tracking.send_report_reminders,
    early_warning.send_warnings,
    early_warning.send_rectification_reminders,
]


def reminder_name(send: Callable[[date], int]) -> str:
    """How logs and the command name one kind of reminder: ``module.function``."""
    return f"{send.__module__.rsplit('.', 1)[-1]}.{send.__name__}"


def send_daily(today: date) -> tuple[dict[str, int], list[str]]:
    """Run every daily reminder, each committed on its own; (messages by name, names that failed).

    One broken kind of reminder must not keep the others from going out: it is rolled back and
    logged, and the rest still run.
    """
    sent: dict[str, int] = {}
    failed: list[str] = []
    for send in DAILY_REMINDERS:
        name = reminder_name(send)
        try:
            sent[name] = send(today)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("daily reminder %s failed for %s", name, today)
            failed.append(name)
    return sent, failed
