"""The dossier queue on RQ: real Redis when REDIS_URL is set, else an in-process stand-in.

The embedded mode keeps RQ's whole code path (enqueue, job ids, statuses, a worker loop) on a
fakeredis server shared inside the process, with one worker thread started on first use, so
``make run`` needs no server at all.
"""

import logging
import threading

import fakeredis
import redis
from flask import Flask, current_app
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)

ACTIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
)


class ThreadWorker(SimpleWorker):
    """An RQ worker that runs inside a thread: no signal handlers, timer-based timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        """Signals belong to the main thread; the app process owns them."""


def init_app(app: Flask) -> None:
    """Bind a Redis connection (real or embedded) to the app."""
    url = app.config.get("REDIS_URL")
    if url:
        connection = redis.Redis.from_url(url)
    else:
        connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    app.extensions["rq"] = {
        "connection": connection,
        "embedded": not url,
        "thread": None,
        "lock": threading.Lock(),
    }


def connection() -> redis.Redis:
    """The app's Redis connection."""
    return current_app.extensions["rq"]["connection"]


def dossier_queue() -> Queue:
    """The queue dossier jobs go to."""
    return Queue(current_app.config["DOSSIER_QUEUE"], connection=connection())


def enqueue_dossier(dossier_id: int, job_id: str) -> Job:
    """Queue a dossier render; a still-active job with the same id is joined, not repeated."""
    return _enqueue("workflow.jobs.render_dossier", dossier_id, job_id)


def enqueue_monthly_report(report_id: int, job_id: str) -> Job:
    """Queue a monthly tracking report render, joined like a dossier's."""
    return _enqueue("workflow.jobs.render_monthly_report", report_id, job_id)


def _enqueue(function: str, row_id: int, job_id: str) -> Job:
    """Queue a document render under a stable job id; a still-active job is joined."""
    queue = dossier_queue()
    try:
        existing = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        existing = None
    if existing is not None:
        if existing.get_status(refresh=True) in ACTIVE_STATUSES:
            return existing
        existing.delete()  # a finished or failed run of this version: make room for a new one
    try:
        job = queue.enqueue(
            function,
            row_id,
            job_id=job_id,
            job_timeout=current_app.config["DOSSIER_JOB_TIMEOUT"],
            result_ttl=3600,
            failure_ttl=86400,
            unique=True,
        )
    except DuplicateJobError:
        job = Job.fetch(job_id, connection=queue.connection)
    start_embedded_worker(current_app._get_current_object())
    return job


def start_embedded_worker(app: Flask) -> None:
    """Start the in-process worker thread once, in embedded mode only."""
    state = app.extensions["rq"]
    if not state["embedded"] or app.config.get("EMBEDDED_WORKER") is False:
        return
    with state["lock"]:
        if state["thread"] is not None and state["thread"].is_alive():
            return

        def work() -> None:
            with app.app_context():
                worker = ThreadWorker([dossier_queue()], connection=connection())
                worker.work(logging_level="WARNING")

        state["thread"] = threading.Thread(target=work, name="embedded-rq-worker", daemon=True)
        state["thread"].start()


def run_pending_jobs() -> bool:
    """Run every queued job now in this process (the CLI and tests use it); True if any ran."""
    worker = SimpleWorker([dossier_queue()], connection=connection())
    return worker.work(burst=True, logging_level="WARNING")


def worker_state() -> dict:
    """What /healthz reports about the queue and the workers."""
    state = current_app.extensions["rq"]
    conn = connection()
    conn.ping()
    workers = Worker.all(connection=conn)
    thread = state["thread"]
    return {
        "mode": "embedded" if state["embedded"] else "redis",
        "queued": dossier_queue().count,
        "workers": len(workers),
        "embedded_worker_alive": bool(thread and thread.is_alive()),
    }
