"""Background jobs. They take ids, reload their rows, and commit their own unit of work.

Document jobs (a dossier, a monthly report, a batch dossier) never mark their row failed when
they raise: RQ retries them (workflow/queue.py), and ``record_failure`` /
``record_killed_work_horse`` write on the row whether another run is coming and why this one
failed. Refusals that a retry cannot cure (the data moved on) are not exceptions: the job marks
the row failed and returns. A file is written whole (``atomic_write``) before its row says
"ready", so a run killed at any moment leaves no half file behind a download link.
"""

import hashlib
import io
import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import Flask, current_app, has_app_context
from pypdf import PdfReader
from rq import get_current_job
from rq.cron import CronJob, CronScheduler
from rq.exceptions import AbandonedJobError
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException
from rq.utils import now as rq_now
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from . import monthly
from .dossier_data import dossier_data
from .extensions import db
from .models import BatchDossier, Dossier, MonthlyReport
from .storage import atomic_write, data_dir, dossier_path
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


def report_progress(done: int, total: int) -> None:
    """Store how far the running job is (``{"done", "total"}`` in its RQ meta); no-op outside one.

    Status endpoints read it back with ``queue.job_progress(job_id)``.
    """
    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = {"done": int(done), "total": int(total)}
    job.save_meta()


def wait_at_test_gate() -> None:
    """Test hook: while the file DOCUMENT_JOB_GATE names exists, wait before writing the file.

    The worker tests (tests/test_worker_*.py) hold a job here to kill its work-horse mid-job or
    to see two jobs run at once. The setting is unset in production, where this returns at once;
    the job's timeout bounds the wait in any case.
    """
    gate = current_app.config.get("DOCUMENT_JOB_GATE")
    while gate and os.path.exists(gate):
        time.sleep(0.05)


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


def _fail(model: type[Dossier | MonthlyReport | BatchDossier], row_id: int, reason: str) -> None:
    """Mark a document's row failed with a reason the user can read."""
    row = db.session.get(model, row_id)
    row.status, row.finished_at, row.error = "failed", utcnow(), reason[:2000]
    db.session.commit()


def _already_made(row: Dossier | MonthlyReport) -> bool:
    """Whether an earlier run made the file and recorded it, but died before RQ heard of it."""
    return row.status == "ready" and bool(row.file_name) and dossier_path(row.file_name).exists()


def _store(row: Dossier | MonthlyReport, file_name: str, pdf: bytes) -> None:
    """Write the file whole, then mark the row ready with the file's name, pages, size and hash:
    a row is never ready before its file is complete."""
    atomic_write(dossier_path(file_name), pdf)
    row.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
    row.file_name, row.size, row.sha256 = file_name, len(pdf), hashlib.sha256(pdf).hexdigest()
    row.status, row.finished_at, row.error = "ready", utcnow(), None
    db.session.commit()


def render_dossier(dossier_id: int) -> str:
    """Render one dossier's PDF and record the outcome; returns the file name."""
    from documents import render_dossier_pdf

    with job_context():
        dossier = db.session.get(Dossier, dossier_id)
        if dossier is None:
            log.warning("dossier %s vanished before rendering", dossier_id)
            return ""
        if _already_made(dossier):
            file_name = dossier.file_name
            db.session.rollback()  # end the read
            return file_name
        # The data may have moved on while the job waited: a dossier labelled with one version
        # must never carry another version's content.
        stale = _stale_reason(dossier)
        if stale:
            _fail(Dossier, dossier_id, stale)
            return ""
        # A retry keeps the note of the failed run on the row until it succeeds.
        dossier.status, dossier.started_at = "running", utcnow()
        db.session.commit()
        report_progress(0, 3)
        data = dossier_data(dossier.declaration)
        db.session.commit()  # end the read, so the check below sees later commits
        report_progress(1, 3)
        pdf = render_dossier_pdf(data)
        report_progress(2, 3)
        wait_at_test_gate()
        dossier = db.session.get(Dossier, dossier_id)
        stale = _stale_reason(dossier)
        if stale:
            _fail(Dossier, dossier_id, stale)
            return ""
        file_name = (
            f"dossier-{dossier.id}-d{dossier.declaration_version}-p{dossier.project_version}.pdf"
        )
        dossier.fingerprint = data["fingerprint"]
        _store(dossier, file_name, pdf)
        report_progress(3, 3)
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
        if _already_made(report):
            file_name = report.file_name
            db.session.rollback()  # end the read
            return file_name
        report.status, report.started_at = "running", utcnow()
        db.session.commit()
        report_progress(0, 2)
        today = date.fromisoformat(on_date) if on_date else local_today()
        data = monthly.monthly_data(report.month, report.district_id, today=today)
        fresh = monthly.data_hash(data)
        db.session.commit()
        if fresh != report.data_hash:
            _fail(MonthlyReport, report_id, monthly.STALE_DATA)
            return ""
        pdf = render_monthly_pdf(monthly.printable(data, fresh))
        report_progress(1, 2)
        wait_at_test_gate()
        report = db.session.get(MonthlyReport, report_id)
        file_name = monthly.file_name_of(report)
        _store(report, file_name, pdf)
        report_progress(2, 2)
        return file_name


# --- failed runs: retried, or failed for good, with the reason on the row ----------------------

# Each kind of document job (workflow/queue.py DOCUMENT_JOBS): its row and what users call it.
DOCUMENT_ROWS = {
    "dossier": (Dossier, "申报材料"),
    "monthly_report": (MonthlyReport, "月度调度报告"),
    "batch": (BatchDossier, "批量申报材料"),
}
ABANDONED = "处理该任务的后台进程已停止响应(进程被终止或所在服务器故障)"


def failure_reason(what: str, exc_type: type | None, exc: BaseException | None, job) -> str:
    """Why a run failed, in words a user can read (and an operator can act on)."""
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        return f"生成{what}超时:超过 {job.timeout} 秒仍未完成"
    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        return ABANDONED
    if isinstance(exc, OSError) and _in_file_store(getattr(exc, "filename", None)):
        return f"生成{what}时写入文件存储失败({exc.strerror or type(exc).__name__})"
    if isinstance(exc, OperationalError):
        return f"生成{what}时数据库暂时不可用:{str(exc.orig).strip()[:200]}"
    name = exc_type.__name__ if exc_type is not None else "Error"
    return f"生成{what}时出错:{name}: {exc}"


def _in_file_store(filename) -> bool:
    """Whether a path an error names lies in the shared file store (DATA_DIR)."""
    if not filename:
        return False
    return Path(os.fsdecode(filename)).resolve().is_relative_to(data_dir().resolve())


def _record_run_failed(job, reason_of) -> None:
    """Write on a document's row that this run failed: "queued" with a retry note, or "failed".

    RQ calls the failure hooks before it decides on the retry, so ``retries_left`` still counts
    the retry about to be made.
    """
    kind = (job.meta or {}).get("kind")
    if kind not in DOCUMENT_ROWS:
        return  # not a document job (the scheduled jobs): RQ's failed registry has it
    model, what = DOCUMENT_ROWS[kind]
    retries_left = job.retries_left or 0
    attempt = (job.meta.get("retries") or 0) - retries_left + 1
    with job_context():
        reason = reason_of(what)
        db.session.rollback()  # whatever the failed run left in the session is void
        row = db.session.get(model, job.args[0])
        if row is None or row.job_id != job.id or row.status == "ready":
            db.session.rollback()  # end the read: a worker process keeps its session
            return  # gone, asked for again under another job, or made after all
        if retries_left > 0:
            row.status = "queued"
            row.error = f"第 {attempt} 次生成失败,正在重试:{reason}"[:2000]
        else:
            row.status, row.finished_at = "failed", utcnow()
            row.error = (reason if attempt == 1 else f"共尝试 {attempt} 次均失败:{reason}")[:2000]
        db.session.commit()
    log.warning("%s %s run %s failed: %s", kind, job.args[0], attempt, reason)


def record_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback of document jobs: an exception, a timeout, or an abandoned run."""
    _record_run_failed(job, lambda what: failure_reason(what, exc_type, exc_value, job))


def record_killed_work_horse(job, retpid, ret_val, rusage) -> None:
    """The worker's handler for a work-horse that died mid-job (kill -9, out of memory)."""
    signalled = bool(ret_val) and os.WIFSIGNALED(ret_val)
    how = f"信号 {os.WTERMSIG(ret_val)}" if signalled else f"退出码 {ret_val}"
    _record_run_failed(
        job, lambda what: f"生成{what}的后台进程被终止({how}),可能是内存不足或被强制结束"
    )


# --- the safety net: rows whose job is gone ---------------------------------------------------

STUCK_KEY = "workflow:stuck:{kind}:{id}"
REQUEUED_KEY = "workflow:requeued:{kind}:{id}"


def _stuck_for(connection, kind: str, row_id: int, state: str) -> float:
    """Seconds this row has been seen stuck in this job state (0 on the first sighting)."""
    key = STUCK_KEY.format(kind=kind, id=row_id)
    seen = connection.hgetall(key)
    now = time.time()
    if seen.get(b"state", b"").decode() != state:
        connection.hset(key, mapping={"state": state, "since": now})
        connection.expire(key, 86400)
        return 0.0
    return now - float(seen[b"since"])


def recover_stuck_documents() -> dict[str, int]:
    """Find documents left queued/running without a live job; queue them again or fail them.

    A sweep first lets RQ retry the jobs of dead workers (``queue.reap_abandoned_jobs``). A row
    whose job is missing or ended without recording anything (its worker's Redis or database
    went away at the wrong moment) is queued again, at most STUCK_JOB_REQUEUES times; a row
    whose job failed with no retries left is marked failed with the job's last error. A row must
    look stuck for STUCK_JOB_GRACE seconds first, so a request between its commit and its
    enqueue is never mistaken for one. Returns how many rows were requeued and failed.
    """
    from . import queue

    with job_context():
        config = current_app.config
        queue.reap_abandoned_jobs()
        connection = queue.connection()
        counts = {"requeued": 0, "failed": 0}
        for kind, (model, what) in DOCUMENT_ROWS.items():
            rows = db.session.scalars(
                select(model).where(model.status.in_(("queued", "running"))).limit(500)
            ).all()
            for row in rows:
                state = queue.job_status(row.job_id)
                if state in queue.ACTIVE_STATUSES:
                    connection.delete(STUCK_KEY.format(kind=kind, id=row.id))
                    continue
                label = state.value if state is not None else "missing"
                if _stuck_for(connection, kind, row.id, label) < config["STUCK_JOB_GRACE"]:
                    continue
                connection.delete(STUCK_KEY.format(kind=kind, id=row.id))
                if state == JobStatus.FAILED:
                    last = queue.last_failure(row.job_id)
                    reason = f"生成{what}失败,后台任务已停止重试" + (f":{last}" if last else "")
                    _fail(model, row.id, reason)
                    counts["failed"] += 1
                    continue
                requeued_key = REQUEUED_KEY.format(kind=kind, id=row.id)
                times = connection.incr(requeued_key)
                connection.expire(requeued_key, 7 * 86400)
                if times > config["STUCK_JOB_REQUEUES"]:
                    _fail(
                        model,
                        row.id,
                        f"生成{what}的后台任务多次意外中断,已停止自动重试;请稍后重新生成",
                    )
                    counts["failed"] += 1
                    continue
                row.status = "queued"
                row.error = f"后台任务意外中断,已自动重新排队(第 {times} 次)"
                db.session.commit()
                queue.enqueue_document(kind, row.id, row.job_id)
                counts["requeued"] += 1
        # End the read: an idle transaction would hold its locks until the next sweep.
        db.session.commit()
        if any(counts.values()):
            log.warning("stuck documents: %s", counts)
        return counts


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


def prune_dossier_cache() -> int:
    """Delete the batch dossier cache's entries unused for DOSSIER_CACHE_DAYS, and half-written
    files a day old in the file store; returns how many files went."""
    from .batch import prune_cache

    with job_context():
        files, size = prune_cache()
        if files:
            log.info("dossier cache: deleted %s unused files (%.1f MB)", files, size / 1e6)
        return files


# What the scheduler runs and when; cron fields (minute hour day month weekday) are read in the
# app's TIMEZONE (Asia/Shanghai), whatever the server's own zone.
SCHEDULE = (
    # Just after midnight: a draft may be submitted through its deadline day, not after it.
    ("close_expired_drafts", "30 0 * * *", close_expired_drafts),
    # At the start of the working day, when people read their 待办.
    ("daily_reminders", "30 8 * * *", send_daily_reminders),
    # The safety net under RQ's own retries: documents whose job was lost are queued again.
    ("recover_stuck_documents", "*/5 * * * *", recover_stuck_documents),
    # At night, when no one builds batches: the cache keeps what was used in the last 30 days.
    ("prune_dossier_cache", "0 3 * * *", prune_dossier_cache),
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
