"""The daily reminders: each function sends one kind of message and returns how many went out.

``flask --app wsgi reminders send`` runs them in order once a day (see workflow/cli.py). A new
kind of reminder is one more ``f(today) -> int`` in DAILY_REMINDERS; each must be safe to run
twice on the same day (use ``notify``'s ``dedupe_key``) and must not commit: the command does.
"""

from collections.abc import Callable
from datetime import date

from . import calls, prerequisites

DAILY_REMINDERS: list[Callable[[date], int]] = [
    calls.send_due_reminders,
    prerequisites.send_expiry_warnings,
]
