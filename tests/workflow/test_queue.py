"""Document jobs on the queue: timeouts, retries, the readable failure record, progress, joining.

These run jobs in the test's own process (``queue.run_pending_jobs``) or in the embedded worker
thread; tests/test_worker_recovery.py does the same with real worker processes.
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from rq.exceptions import AbandonedJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException

import documents
import documents.monthly
from tests.conftest import REDIS_URL
from workflow import create_app, jobs, monthly, operations, queue, tracking
from workflow.extensions import db
from workflow.models import BatchDossier, Declaration, Dossier, MonthlyReport, User


@pytest.fixture
def decl(world, make_project, make_declaration):
    return make_declaration(make_project(world.yandu), world.program, by=world.staff)


def requested(decl, actor) -> Dossier:
    """A dossier asked for and queued, as the page does it."""
    dossier, needs_job = operations.request_dossier(decl, actor=actor)
    db.session.commit()
    assert needs_job
    queue.enqueue_dossier(dossier.id, dossier.job_id)
    return dossier


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def failing(times: int, message: str = "字体文件暂时不可读"):
    """A dossier renderer that fails ``times`` times, then renders for real."""
    real = documents.render_dossier_pdf
    calls = []

    def render(data):
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError(message)
        return real(data)

    render.calls = calls
    return render


@pytest.mark.parametrize(
    ("kind", "function", "timeout"),
    [
        ("dossier", "workflow.jobs.render_dossier", "DOSSIER_JOB_TIMEOUT"),
        ("monthly_report", "workflow.jobs.render_monthly_report", "MONTHLY_REPORT_JOB_TIMEOUT"),
        ("batch", "workflow.batch.render_batch", "BATCH_JOB_TIMEOUT"),
    ],
)
def test_each_document_job_has_its_timeout_retries_and_failure_record(app, kind, function, timeout):
    app.config[timeout] = 1234
    app.config["DOCUMENT_JOB_RETRIES"] = 3
    app.config["DOCUMENT_RETRY_INTERVALS"] = [5, 30, 120]
    job = queue.enqueue_document(kind, 7, f"{kind}-7")
    assert job.func_name == function and job.args == (7,)
    assert job.timeout == 1234
    assert (job.retries_left, job.retry_intervals) == (3, [5, 30, 120])
    assert job.failure_callback is jobs.record_failure
    assert job.meta == {"kind": kind, "retries": 3}


def test_enqueue_batch_queues_the_batch_renderer(app):
    job = queue.enqueue_batch(3, "batch-3-abc")
    assert job.id == "batch-3-abc" and job.func_name == "workflow.batch.render_batch"
    assert job.timeout == app.config["BATCH_JOB_TIMEOUT"]
    assert queue.dossier_queue().job_ids == ["batch-3-abc"]


def test_a_transient_failure_is_retried_and_the_dossier_made(world, decl, monkeypatch):
    render = failing(times=2)
    monkeypatch.setattr(documents, "render_dossier_pdf", render)
    dossier = requested(decl, world.staff)
    assert queue.run_pending_jobs()
    row = fresh(Dossier, dossier.id)
    assert (row.status, row.error) == ("ready", None)
    assert len(render.calls) == 3
    assert Job.fetch(row.job_id, connection=queue.connection()).retries_left == 1


def test_while_a_retry_waits_the_row_says_which_run_failed_and_why(world, decl, monkeypatch):
    monkeypatch.setattr(documents, "render_dossier_pdf", failing(times=1))
    dossier = requested(decl, world.staff)
    worker = queue.SimpleWorker([queue.dossier_queue()], connection=queue.connection())
    worker.work(burst=True, logging_level="WARNING")  # one run; the retry waits its back-off

    row = fresh(Dossier, dossier.id)
    assert row.status == "queued"
    assert (
        row.error == "第 1 次生成失败,正在重试:生成申报材料时出错:RuntimeError: 字体文件暂时不可读"
    )
    job = Job.fetch(row.job_id, connection=queue.connection())
    assert job.get_status() == JobStatus.SCHEDULED
    # Asking again meanwhile joins the waiting retry instead of queueing a second run.
    assert queue.enqueue_dossier(row.id, row.job_id).id == job.id
    assert queue.dossier_queue().count == 0

    assert queue.run_pending_jobs()
    row = fresh(Dossier, dossier.id)
    assert (row.status, row.error) == ("ready", None)


def test_a_failure_that_persists_ends_failed_with_the_reason_and_the_count(
    app, world, decl, monkeypatch
):
    app.config["DOCUMENT_JOB_RETRIES"] = 2
    render = failing(times=99, message="模板缺少字段 project")
    monkeypatch.setattr(documents, "render_dossier_pdf", render)
    dossier = requested(decl, world.staff)
    queue.run_pending_jobs()
    row = fresh(Dossier, dossier.id)
    assert row.status == "failed" and row.finished_at is not None
    assert row.error == "共尝试 3 次均失败:生成申报材料时出错:RuntimeError: 模板缺少字段 project"
    assert len(render.calls) == 3
    assert Job.fetch(row.job_id, connection=queue.connection()).get_status() == JobStatus.FAILED


def test_a_render_over_its_time_limit_fails_with_a_readable_timeout(app, world, decl, monkeypatch):
    app.config["DOSSIER_JOB_TIMEOUT"] = 1
    app.config["DOCUMENT_JOB_RETRIES"] = 0

    def hanging(data):
        time.sleep(30)

    monkeypatch.setattr(documents, "render_dossier_pdf", hanging)
    dossier = requested(decl, world.staff)
    queue.run_pending_jobs()
    row = fresh(Dossier, dossier.id)
    assert (row.status, row.error) == ("failed", "生成申报材料超时:超过 1 秒仍未完成")


def test_a_data_change_is_refused_once_and_not_retried(world, decl, monkeypatch):
    dossier = requested(decl, world.staff)
    operations.update_declaration(
        decl,
        {"requested_amount": Decimal("250.00")},
        actor=world.staff,
        expected_version=decl.version,
    )
    db.session.commit()
    render = failing(times=0)
    monkeypatch.setattr(documents, "render_dossier_pdf", render)
    queue.run_pending_jobs()
    row = fresh(Dossier, dossier.id)
    assert row.status == "failed" and "申报数据已更新" in row.error
    assert "重试" not in row.error and not render.calls
    job = Job.fetch(row.job_id, connection=queue.connection())
    assert job.get_status() == JobStatus.FINISHED and job.retries_left == 3


def test_failure_reasons_say_what_went_wrong_in_chinese(app):
    job = SimpleNamespace(timeout=300)
    in_store = str(Path(app.config["DATA_DIR"]) / "dossiers" / "dossier-1.pdf")
    font = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    cases = [
        (JobTimeoutException("late"), "生成申报材料超时:超过 300 秒仍未完成"),
        (AbandonedJobError(), "处理该任务的后台进程已停止响应(进程被终止或所在服务器故障)"),
        (
            PermissionError(13, "Permission denied", in_store),
            "生成申报材料时写入文件存储失败(Permission denied)",
        ),
        (  # an OSError outside the file store is not the store's fault
            FileNotFoundError(2, "No such file or directory", font),
            f"生成申报材料时出错:FileNotFoundError: [Errno 2] No such file or directory: '{font}'",
        ),
    ]
    for exc, reason in cases:
        assert jobs.failure_reason("申报材料", type(exc), exc, job) == reason


def test_a_monthly_report_failure_is_recorded_on_its_row(world, monkeypatch):
    def broken(data):
        raise RuntimeError("图表字体缺失")

    monkeypatch.setattr(documents.monthly, "render_monthly_pdf", broken)
    month = tracking.add_months(tracking.month_start(operations.local_today()), -1)
    report, _ = monthly.request_monthly_report(
        month, None, actor=world.manager, today=operations.local_today()
    )
    db.session.commit()
    queue.enqueue_monthly_report(report.id, report.job_id)
    queue.run_pending_jobs()
    row = fresh(MonthlyReport, report.id)
    assert row.status == "failed"
    assert row.error == "共尝试 4 次均失败:生成月度调度报告时出错:RuntimeError: 图表字体缺失"


def test_the_failure_record_on_a_batch_dossier(app, world):
    batch = BatchDossier(
        program_id=world.program.id, fingerprint="f" * 64, job_id="batch-1-ffff", status="running"
    )
    db.session.add(batch)
    db.session.commit()
    job = queue.enqueue_batch(batch.id, batch.job_id)

    job.retries_left = 1  # one retry left: back to the queue, with the reason
    jobs.record_failure(job, job.connection, MemoryError, MemoryError("内存不足"), None)
    row = fresh(BatchDossier, batch.id)
    assert row.status == "queued"
    assert row.error == "第 3 次生成失败,正在重试:生成批量申报材料时出错:MemoryError: 内存不足"

    job.retries_left = 0  # the last run: failed for good
    jobs.record_killed_work_horse(job, 4242, 9, None)  # waitpid status 9: killed by SIGKILL
    row = fresh(BatchDossier, batch.id)
    assert row.status == "failed"
    assert row.error == (
        "共尝试 4 次均失败:生成批量申报材料的后台进程被终止(信号 9),可能是内存不足或被强制结束"
    )


def test_the_failure_record_leaves_a_finished_row_alone(world, decl):
    dossier = requested(decl, world.staff)
    queue.run_pending_jobs()
    job = Job.fetch(dossier.job_id, connection=queue.connection())
    # A run that made the file but died before RQ heard of it: the file stays offered.
    jobs.record_killed_work_horse(job, 4242, 9, None)
    row = fresh(Dossier, dossier.id)
    assert (row.status, row.error) == ("ready", None)


def test_progress_is_stored_in_the_job_and_read_back(world, decl):
    dossier = requested(decl, world.staff)
    assert queue.job_progress(dossier.job_id) is None
    assert queue.job_progress("no-such-job") is None
    jobs.report_progress(1, 2)  # outside a job: nothing to store, nothing raised
    queue.run_pending_jobs()
    assert queue.job_progress(dossier.job_id) == {"done": 3, "total": 3}


def test_the_embedded_worker_starts_a_retry_after_its_back_off(
    app_config, app, world, decl, monkeypatch
):
    embedded = create_app({**app_config, "EMBEDDED_WORKER": True, "DOCUMENT_RETRY_INTERVALS": [1]})
    monkeypatch.setattr(documents, "render_dossier_pdf", failing(times=1))
    # Read the ids here: the test's objects would reload through the embedded app's engine.
    decl_id, staff_id = decl.id, world.staff.id
    with embedded.app_context():
        dossier = requested(db.session.get(Declaration, decl_id), db.session.get(User, staff_id))
        deadline = time.monotonic() + 60
        row = fresh(Dossier, dossier.id)
        while row.status != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
            row = fresh(Dossier, dossier.id)
        assert (row.status, row.error) == ("ready", None)
        db.session.remove()
        db.engine.dispose()


# --- against real Redis ------------------------------------------------------------------------


@pytest.fixture
def redis_config(app_config):
    app_config["REDIS_URL"] = REDIS_URL
    app_config["DOSSIER_QUEUE"] = f"queue-test-{uuid.uuid4().hex[:10]}"
    return app_config


@pytest.mark.worker
def test_simultaneous_requests_for_one_version_make_one_job(redis_config, app):
    job_id = f"dossier-race-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(8)

    def ask() -> str:
        with app.app_context():
            barrier.wait(timeout=10)
            return queue.enqueue_dossier(1, job_id).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: ask(), range(8)))
    assert set(ids) == {job_id}
    assert queue.dossier_queue().job_ids == [job_id]
    queue.dossier_queue().empty()
