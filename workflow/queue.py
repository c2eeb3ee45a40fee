"""The document queue on RQ: real Redis when REDIS_URL is set, else an in-process stand-in.

The embedded mode keeps RQ's whole code path (enqueue, job ids, statuses, retries, a worker
loop) on a fakeredis server shared inside the process, with one worker thread started on first
use, so ``make run`` needs no server at all.

Every document job (a dossier, a monthly report, a batch dossier) is enqueued here with its own
timeout, retries with back-off, and a failure callback (``workflow.jobs.record_failure``) that
writes a readable reason on the job's row. README "Workers: retries, killed workers and scaling
out" says what happens when a worker dies.
"""

import logging
import threading

import fakeredis
import redis
from flask import Flask, current_app
from rq import Callback, Queue, Retry, SimpleWorker, Worker
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.timeouts import TimerDeathPenalty
from rq.utils import current_timestamp

log = logging.getLogger(__name__)

ACTIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
)

# Each kind of document: the job function (by dotted path, so RQ imports it in the worker) and
# the setting that bounds one run. The failure callback and the safety net look kinds up here.
DOCUMENT_JOBS = {
    "dossier": ("workflow.jobs.render_dossier", "DOSSIER_JOB_TIMEOUT"),
    "monthly_report": ("workflow.jobs.render_monthly_report", "MONTHLY_REPORT_JOB_TIMEOUT"),
    "batch": ("workflow.batch.render_batch", "BATCH_JOB_TIMEOUT"),
}


class ThreadWorker(SimpleWorker):
    """An RQ worker that runs inside a thread: no signal handlers, timer-based timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        """Signals belong to the main thread; the app process owns them."""

    def run_maintenance_tasks(self):
        """Clean the registries, and start the retries whose back-off is over.

        RQ's scheduler runs in a process of its own, which cannot share the in-process fakeredis
        server, so the embedded worker moves due retries to the queue itself.
        """
        super().run_maintenance_tasks()
        for queue in self.queues:
            registry = queue.scheduled_job_registry
            for job_id in registry.get_jobs_to_schedule(current_timestamp()):
                _requeue_scheduled(registry, job_id)


class DocumentWorker(Worker):
    """RQ's forking worker, with a configurable grace before a silent job counts as abandoned.

    RQ lets a job's heartbeat lapse 60 s after the next expected check; this grace is
    WORKER_HEARTBEAT_GRACE instead, so a deployment (or a test) can notice a dead worker sooner.
    """

    heartbeat_grace = 60

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds until the job's heartbeat lapses: the next check, plus the grace."""
        until_next_check = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            until_next_check = min(job.timeout - working_time, until_next_check)
        return int(until_next_check) + self.heartbeat_grace


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
    """The queue document jobs (and the scheduled jobs) go to."""
    return Queue(current_app.config["DOSSIER_QUEUE"], connection=connection())


def enqueue_dossier(dossier_id: int, job_id: str) -> Job:
    """Queue a dossier render; a still-active job with the same id is joined, not repeated."""
    return enqueue_document("dossier", dossier_id, job_id)


def enqueue_monthly_report(report_id: int, job_id: str) -> Job:
    """Queue a monthly tracking report render, joined like a dossier's."""
    return enqueue_document("monthly_report", report_id, job_id)


def enqueue_batch(batch_id: int, job_id: str) -> Job:
    """Queue a program's batch dossier (``workflow.batch.render_batch``), joined likewise."""
    return enqueue_document("batch", batch_id, job_id)


def retry_policy() -> Retry | None:
    """How failed document jobs are tried again: DOCUMENT_JOB_RETRIES times, backing off."""
    retries = current_app.config["DOCUMENT_JOB_RETRIES"]
    if retries < 1:
        return None
    return Retry(max=retries, interval=current_app.config["DOCUMENT_RETRY_INTERVALS"] or 0)


def enqueue_document(kind: str, row_id: int, job_id: str) -> Job:
    """Queue a document render under a stable job id; a still-active job is joined.

    "Active" includes a job waiting out its back-off before a retry: asking again then joins
    that retry instead of starting a second run of the same version.
    """
    function, timeout_setting = DOCUMENT_JOBS[kind]
    queue = dossier_queue()
    try:
        existing = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        existing = None
    if existing is not None:
        # Only a job of this queue is joined: one left on a queue no worker serves any more
        # (DOSSIER_QUEUE renamed; each test has its own) would never run.
        if existing.origin == queue.name and existing.get_status(refresh=True) in ACTIVE_STATUSES:
            return existing
        # A finished or failed run of this version: make room for a new one.
        try:
            existing.delete()
        except ValueError:
            # RQ keeps a killed run's execution listed for a minute after its record expired,
            # and trips over it; the job's own key is what blocks the new run.
            existing.connection.delete(existing.key)
    retry = retry_policy()
    try:
        job = queue.enqueue(
            function,
            row_id,
            job_id=job_id,
            job_timeout=current_app.config[timeout_setting],
            result_ttl=3600,
            failure_ttl=86400,
            retry=retry,
            on_failure=Callback("workflow.jobs.record_failure"),
            # The callback reads the kind, and how many runs there are in all, from here.
            meta={"kind": kind, "retries": retry.max if retry else 0},
            unique=True,
        )
    except DuplicateJobError:  # another request enqueued the same version a moment ago
        job = Job.fetch(job_id, connection=queue.connection)
    start_embedded_worker(current_app._get_current_object())
    return job


def job_status(job_id: str) -> JobStatus | None:
    """The RQ status of a job, or None when Redis no longer has it."""
    try:
        return Job.fetch(job_id, connection=connection()).get_status(refresh=False)
    except NoSuchJobError:
        return None


def job_progress(job_id: str) -> dict | None:
    """A running job's progress, ``{"done": n, "total": m}``, or None if it reported none."""
    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        return None
    progress = job.get_meta(refresh=False).get("progress")
    return dict(progress) if progress else None


def last_failure(job_id: str) -> str:
    """The last line of the exception that ended a failed job, for a reason on its row."""
    try:
        result = Job.fetch(job_id, connection=connection()).latest_result()
    except NoSuchJobError:
        return ""
    lines = [line for line in ((result and result.exc_string) or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def reap_abandoned_jobs() -> None:
    """Hand the jobs of dead workers (heartbeat lapsed) to RQ: retried, or failed when out of tries.

    Workers do this in their maintenance; the safety net calls it too, so that one sweep sees
    the outcome. The failure callback runs under a timer, since this may run in a work-horse
    whose own timeout already holds the alarm signal.
    """
    queue = dossier_queue()
    StartedJobRegistry(queue=queue, death_penalty_class=TimerDeathPenalty).cleanup()


def _requeue_scheduled(registry, job_id: str) -> None:
    """Move one job from the scheduled registry to its queue now."""
    try:
        registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):  # gone or moved meanwhile: nothing to start
        log.debug("scheduled job %s could not be requeued", job_id, exc_info=True)


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
                # A short idle wait, so due retries start within seconds.
                worker = ThreadWorker(
                    [dossier_queue()],
                    connection=connection(),
                    worker_ttl=20,
                    maintenance_interval=5,
                )
                worker.work(logging_level="WARNING")

        state["thread"] = threading.Thread(target=work, name="embedded-rq-worker", daemon=True)
        state["thread"].start()


def run_pending_jobs() -> bool:
    """Run every queued job now in this process (the CLI and tests use it); True if any ran.

    Retries run too, at once rather than after their back-off, so this returns with every
    document made or failed for good.
    """
    queue = dossier_queue()
    ran = False
    for _ in range(50):  # retries are bounded; this bound only guards against a loop
        worker = SimpleWorker([queue], connection=connection())
        ran = worker.work(burst=True, logging_level="WARNING") or ran
        waiting = queue.scheduled_job_registry.get_job_ids()
        if not waiting:
            break
        for job_id in waiting:
            _requeue_scheduled(queue.scheduled_job_registry, job_id)
    return ran


def build_worker() -> DocumentWorker:
    """A worker process's RQ worker, set up from the app's WORKER_* settings."""
    from .jobs import record_killed_work_horse

    config = current_app.config
    worker = DocumentWorker(
        [dossier_queue()],
        connection=connection(),
        job_monitoring_interval=config["WORKER_JOB_MONITORING_INTERVAL"],
        maintenance_interval=config["WORKER_MAINTENANCE_INTERVAL"],
        worker_ttl=config["WORKER_TTL"],
        # RQ runs no failure callback when a work-horse dies (kill -9, out of memory); this does
        # the same record in the worker process.
        work_horse_killed_handler=record_killed_work_horse,
    )
    worker.heartbeat_grace = config["WORKER_HEARTBEAT_GRACE"]
    return worker


def work(*, burst: bool = False) -> bool:
    """Run this process as a worker (``flask --app wsgi worker``); start N processes for N.

    Each worker also offers to run RQ's scheduler, which starts retries after their back-off;
    one of them holds it at a time, and another takes over within a minute if that one dies.
    """
    if current_app.config["WORKER_WARM_UP"]:
        warm_up()
    return build_worker().work(burst=burst, logging_level="INFO", with_scheduler=True)


def warm_up() -> None:
    """Render a sample dossier once, so forked work-horses inherit loaded fonts and styles."""
    from documents import render_dossier_pdf
    from documents.sample import sample_dossier_data

    try:
        render_dossier_pdf(sample_dossier_data())
    except Exception:  # a cold start is slower, not broken: the jobs will say what is wrong
        log.exception("worker warm-up render failed")


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
