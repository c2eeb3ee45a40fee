"""Background jobs. They take ids, reload their rows, and commit their own unit of work."""

import hashlib
import io
import logging
import os
import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import Flask, current_app, has_app_context
from pypdf import PdfReader
from rq.cron import CronJob, CronScheduler
from rq.utils import now as rq_now

from . import monthly
from .dossier_data import dossier_data
from .extensions import db
from .models import Dossier, MonthlyReport
from .storage import atomic_write, dossier_path
from .types import utcnow

log = logging.getLogger(__name__)


@contextmanager
def job_context():
    """An app context for a job, with database connections of this process only.

    A forked RQ work-horse inherits the parent's pooled connections; sharing a socket between
    two processes corrupts both, so the child drops them (without closing the parent's).
    """
    if has_app_context():
        app = current_app._get_current_object()
        if app.extensions.get("creator_pid") != os.getpid():
            db.engine.dispose(close=False)
            app.extensions["creator_pid"] = os.getpid()
        yield app
        return
    from . import create_app

    app = create_app()
    with app.app_context():
        yield app


STALE_DATA = (
    "申报数据已更新(现为申报第 {decl} 版 / 项目第 {project} 版),"
    "本份材料对应的版本已不存在,未予生成。请按最新数据重新生成。"
)


def _stale_reason(dossier: Dossier) -> str | None:
    """Why this dossier can no longer be made from the data it promises, if it cannot."""
    if dossier.is_current:
        return None
    decl = dossier.declaration
    return STALE_DATA.format(decl=decl.version, project=decl.project.version)


def _fail(model: type[Dossier | MonthlyReport], row_id: int, reason: str) -> None:
    """Mark a document's row failed with a reason the user can read."""
    row = db.session.get(model, row_id)
    row.status, row.finished_at, row.error = "failed", utcnow(), reason[:2000]
    db.session.commit()


def render_dossier(dossier_id: int) -> str:
    """Render one dossier's PDF and record the outcome; returns the file name."""
    from documents import render_dossier_pdf

    with job_context():
        dossier = db.session.get(Dossier, dossier_id)
        if dossier is None:
            log.warning("dossier %s vanished before rendering", dossier_id)
            return ""
        # The data may have moved on while the job waited: a dossier labelled with one version
        # must never carry another version's content.
        stale = _stale_reason(dossier)
        if stale:
            _fail(Dossier, dossier_id, stale)
            return ""
        dossier.status, dossier.started_at, dossier.error = "running", utcnow(), None
        db.session.commit()
        try:
            data = dossier_data(dossier.declaration)
            db.session.commit()  # end the read, so the check below sees later commits
            pdf = render_dossier_pdf(data)
        except Exception as exc:
            db.session.rollback()
            log.exception("dossier %s failed", dossier_id)
            _fail(Dossier, dossier_id, f"生成申报材料时出错:{type(exc).__name__}: {exc}")
            raise
        dossier = db.session.get(Dossier, dossier_id)
        stale = _stale_reason(dossier)
        if stale:
            _fail(Dossier, dossier_id, stale)
            return ""
        file_name = (
            f"dossier-{dossier.id}-d{dossier.declaration_version}-p{dossier.project_version}.pdf"
        )
        atomic_write(dossier_path(file_name), pdf)
        dossier.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
        dossier.file_name, dossier.size = file_name, len(pdf)
        dossier.fingerprint, dossier.sha256 = data["fingerprint"], hashlib.sha256(pdf).hexdigest()
        dossier.status, dossier.finished_at = "ready", utcnow()
        db.session.commit()
        return file_name


def render_monthly_report(report_id: int, on_date: str | None = None) -> str:
    """Render a monthly tracking report's PDF and record the outcome; returns the file name.

    The data is gathered again here; if it no longer matches the fingerprint the report was
    asked for, the file is not made (it would carry other figures than its row promises).
    """
    from documents.monthly import render_monthly_pdf

    from .operations import local_today

    with job_context():
        report = db.session.get(MonthlyReport, report_id)
        if report is None:
            log.warning("monthly report %s vanished before rendering", report_id)
            return ""
        report.status, report.started_at, report.error = "running", utcnow(), None
        db.session.commit()
        today = date.fromisoformat(on_date) if on_date else local_today()
        try:
            data = monthly.monthly_data(report.month, report.district_id, today=today)
            fresh = monthly.data_hash(data)
            db.session.commit()
            if fresh != report.data_hash:
                _fail(MonthlyReport, report_id, monthly.STALE_DATA)
                return ""
            pdf = render_monthly_pdf(monthly.printable(data, fresh))
        except Exception as exc:
            db.session.rollback()
            log.exception("monthly report %s failed", report_id)
            _fail(MonthlyReport, report_id, f"生成月度调度报告时出错:{type(exc).__name__}: {exc}")
            raise
        report = db.session.get(MonthlyReport, report_id)
        file_name = monthly.file_name_of(report)
        atomic_write(dossier_path(file_name), pdf)
        report.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
        report.file_name, report.size = file_name, len(pdf)
        report.sha256 = hashlib.sha256(pdf).hexdigest()
        report.status, report.finished_at = "ready", utcnow()
        db.session.commit()
        return file_name


# --- scheduled jobs: RQ's cron scheduler -----------------------------------------------------


def send_daily_reminders(on_date: str | None = None) -> int:
    """The daily reminders (workflow/reminders.py) as a job; returns how many messages were new."""
    from .operations import local_today
    from .reminders import send_daily

    with job_context():
        today = date.fromisoformat(on_date) if on_date else local_today()
        sent, failed = send_daily(today)
        if failed:
            # The others went out; a failed job lands in RQ's failed registry, where operators look.
            raise RuntimeError(f"daily reminders failed on {today}: {', '.join(failed)}")
        return sum(sent.values())


def close_expired_drafts(on_date: str | None = None) -> int:
    """Close the drafts whose program window has closed (逾期自动关闭); returns how many."""
    from . import deadlines
    from .operations import local_today

    with job_context():
        today = date.fromisoformat(on_date) if on_date else local_today()
        closed = deadlines.close_expired_drafts(today)
        log.info("closed %s expired drafts on %s", closed, today)
        return closed


# What the scheduler runs and when; cron fields (minute hour day month weekday) are read in the
# app's TIMEZONE (Asia/Shanghai), whatever the server's own zone.
SCHEDULE = (
    # Just after midnight: a draft may be submitted through its deadline day, not after it.
    ("close_expired_drafts", "30 0 * * *", close_expired_drafts),
    # At the start of the working day, when people read their 待办.
    ("daily_reminders", "30 8 * * *", send_daily_reminders),
)
SCHEDULED_JOB_TIMEOUT = 1800


class ZonedCronJob(CronJob):
    """A cron job whose fields are read in one time zone rather than the server's.

    RQ reads cron fields in the process's local time, so on a server set to UTC "30 8 * * *"
    would run at 16:30 in Beijing. Here the next run is worked out in the given zone.
    """

    def __init__(self, *args, timezone: ZoneInfo, **kwargs):
        self.timezone = timezone  # CronJob.__init__ already computes the first run with it
        super().__init__(*args, **kwargs)

    def get_next_enqueue_time(self) -> datetime:
        """The next run after the latest one (or now), as an aware UTC time."""
        if not self.cron:
            return super().get_next_enqueue_time()
        base = (self.latest_enqueue_time or rq_now()).astimezone(self.timezone)
        return croniter(self.cron, base).get_next(datetime).astimezone(UTC)


class ZonedCronScheduler(CronScheduler):
    """RQ's CronScheduler with its cron fields in one time zone, runnable in a thread."""

    def __init__(self, connection, *, timezone: ZoneInfo, handle_signals: bool = True, **kwargs):
        super().__init__(connection, **kwargs)
        self.timezone = timezone
        self.handle_signals = handle_signals

    def register(self, func, queue_name: str, **options) -> CronJob:
        """Register a function to run on a cron schedule read in the scheduler's time zone."""
        job = ZonedCronJob(queue_name=queue_name, func=func, timezone=self.timezone, **options)
        self._cron_jobs.append(job)
        self.log.info("Registered %s on %s: %s (%s)", job.name, queue_name, job.cron, self.timezone)
        return job

    def _install_signal_handlers(self):
        """Only the main thread may install signal handlers; a thread leaves them to the app."""
        if self.handle_signals:
            super()._install_signal_handlers()


def build_scheduler(app: Flask, *, handle_signals: bool = True) -> ZonedCronScheduler:
    """The app's cron scheduler: SCHEDULE on the dossier queue (which the workers listen to)."""
    scheduler = ZonedCronScheduler(
        app.extensions["rq"]["connection"],
        timezone=ZoneInfo(app.config["TIMEZONE"]),
        handle_signals=handle_signals,
    )
    for name, cron, func in SCHEDULE:
        scheduler.register(
            func,
            app.config["DOSSIER_QUEUE"],
            cron=cron,
            name=name,
            job_timeout=SCHEDULED_JOB_TIMEOUT,
            result_ttl=7 * 86400,
            failure_ttl=30 * 86400,
        )
    return scheduler


def start_embedded_scheduler(app: Flask) -> None:
    """In embedded mode, run the scheduler in a thread of the app process (``make run``)."""
    from . import queue

    state = app.extensions["rq"]
    if not state["embedded"] or app.config.get("EMBEDDED_WORKER") is False:
        return
    with state["lock"]:
        thread = state.get("scheduler_thread")
        if thread is not None and thread.is_alive():
            return
        scheduler = build_scheduler(app, handle_signals=False)

        def run() -> None:
            try:
                scheduler.start()
            except Exception:
                log.exception("embedded scheduler stopped")

        state["scheduler_thread"] = threading.Thread(
            target=run, name="embedded-rq-scheduler", daemon=True
        )
        state["scheduler_thread"].start()
    # What the scheduler enqueues needs someone to run it.
    queue.start_embedded_worker(app)
