"""Real worker processes against real Redis: killed work-horses and workers, retries with
back-off, progress, joining a running job, and two workers side by side.

A job is held mid-way by the test gate (``DOCUMENT_JOB_GATE``, workflow/jobs.py
``wait_at_test_gate``): while the file exists, a document job waits just before writing its PDF.
The tests wait for states, never for a fixed time; the deadline in ``wait_for`` only stops a
hung test.
"""

import contextlib
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from tests.conftest import REDIS_URL
from tests.test_worker import ROOT, worker_env
from workflow import queue
from workflow.extensions import db
from workflow.models import Dossier

pytestmark = pytest.mark.worker

# Workers that notice a dead colleague within seconds: a check every second, a 2 s grace on
# the heartbeat, registries cleaned every second, an idle wait of one second.
QUICK_WORKER = {
    "WORKER_JOB_MONITORING_INTERVAL": "1",
    "WORKER_HEARTBEAT_GRACE": "2",
    "WORKER_MAINTENANCE_INTERVAL": "1",
    "WORKER_TTL": "16",
    "WORKER_WARM_UP": "0",
}


@pytest.fixture
def app_config(app_config, tmp_path):
    """The app talks to the real Redis server on a queue of its own; retries come after 1 s."""
    app_config["REDIS_URL"] = REDIS_URL
    app_config["DOSSIER_QUEUE"] = f"dossiers-test-{uuid.uuid4().hex[:10]}"
    app_config["DOCUMENT_JOB_RETRIES"] = 2
    app_config["DOCUMENT_RETRY_INTERVALS"] = [1]
    app_config["DOCUMENT_JOB_GATE"] = str(tmp_path / "gate")
    return app_config


@pytest.fixture
def gate(app_config) -> Path:
    """The file that holds document jobs just before they write their PDF; closed at the end."""
    path = Path(app_config["DOCUMENT_JOB_GATE"])
    path.touch()
    yield path
    path.unlink(missing_ok=True)


def _processes() -> dict[int, tuple[int, int]]:
    """Every process's parent and process group, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def _descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and theirs."""
    table = _processes()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


class WorkerProcess:
    """`flask --app wsgi worker`, as an operator starts it, with its output in a log file."""

    def __init__(self, env: dict, log_path: Path):
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def work_horse(self) -> int | None:
        """The forked process running the current job (RQ puts it in a process group of its own)."""
        table = _processes()
        horses = [p for p, (ppid, group) in table.items() if ppid == self.pid and group == p]
        return horses[0] if horses else None

    def kill(self) -> None:
        """SIGKILL the worker with everything it started, as if its machine died."""
        for pid in [self.pid, *_descendants(self.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the worker (warm shutdown), and anything it left running."""
        left = _descendants(self.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def workers(app_config, tmp_path):
    """``workers.start(**settings)`` starts a worker process; all are stopped at the end."""

    class Workers(list):
        def start(self, **settings: str) -> WorkerProcess:
            env = worker_env(
                app_config,
                DOCUMENT_JOB_GATE=app_config["DOCUMENT_JOB_GATE"],
                **{**QUICK_WORKER, **settings},
            )
            worker = WorkerProcess(env, tmp_path / f"worker-{len(self)}.log")
            self.append(worker)
            return worker

        def logs(self) -> str:
            return "\n".join(f"--- worker {w.pid}\n{w.output()[-4000:]}" for w in self)

    started = Workers()
    yield started
    Path(app_config["DOCUMENT_JOB_GATE"]).unlink(missing_ok=True)
    for worker in started:
        worker.stop()


def wait_for(check, what: str, workers=(), timeout: float = 90):
    """Poll until ``check()`` returns something true, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    logs = workers.logs() if workers else ""
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def dossier_row(dossier_id: int) -> Dossier:
    """The row as the workers left it (a fresh read, not the session's copy)."""
    db.session.rollback()
    return db.session.get(Dossier, dossier_id)


def request(client, decl) -> Dossier:
    """Ask for the dossier through the page, as a user does; the row it made."""
    response = client.post(f"/declarations/{decl.id}/dossiers")
    assert response.status_code == 302
    dossier_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return dossier_row(dossier_id)


def in_state(dossier_id: int, status: str):
    """A check for ``wait_for``: the row, once it has this status."""

    def check():
        row = dossier_row(dossier_id)
        return row if row.status == status else None

    return check


def retrying(dossier_id: int):
    """A check for ``wait_for``: the row, once a failed run has put it back in the queue."""

    def check():
        row = dossier_row(dossier_id)
        return row if row.status == "queued" and row.error else None

    return check


def assert_served_whole(client, row: Dossier, project_name: str) -> None:
    """The file offered for download is the complete PDF the row describes."""
    status = client.get(f"/dossiers/{row.id}/status").get_json()
    with client.get(status["download_url"]) as response:
        assert response.status_code == 200
        body = response.data
    assert hashlib.sha256(body).hexdigest() == row.sha256
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == row.page_count
    assert project_name in "".join(p.extract_text() for p in reader.pages).replace("\n", "")


@pytest.fixture
def decl(world, make_project, make_declaration):
    project = make_project(world.yandu, name="盐都区新能源数据产品专区建设项目")
    return make_declaration(project, world.program, by=world.staff)


def test_a_killed_work_horse_is_retried_and_only_the_whole_file_is_served(
    app_config, world, decl, login, gate, workers
):
    client = login(world.staff)
    dossier = request(client, decl)
    worker = workers.start()
    wait_for(in_state(dossier.id, "running"), "the job to start", workers)
    horse = wait_for(worker.work_horse, "the work-horse", workers)
    # Held mid-job: nothing to download yet.
    assert client.get(f"/dossiers/{dossier.id}/status").get_json()["download_url"] is None

    os.kill(horse, signal.SIGKILL)  # what the out-of-memory killer does

    row = wait_for(retrying(dossier.id), "the failure to be recorded", workers)
    assert row.error == (
        "第 1 次生成失败,正在重试:生成申报材料的后台进程被终止(信号 9),可能是内存不足或被强制结束"
    )
    shown = client.get(f"/dossiers/{dossier.id}").text
    assert "第 1 次生成失败,正在重试" in shown
    assert client.get(f"/dossiers/{dossier.id}/download").status_code == 404
    assert not list((Path(app_config["DATA_DIR"]) / "dossiers").glob("*.pdf"))

    gate.unlink()
    row = wait_for(in_state(dossier.id, "ready"), "the retry to finish", workers)
    assert row.error is None
    assert_served_whole(client, row, "盐都区新能源数据产品专区建设项目")
    assert Job.fetch(row.job_id, connection=queue.connection()).retries_left == 1  # one used
    assert worker.process.poll() is None  # the worker itself lived on


def test_a_job_of_a_dead_worker_is_finished_by_another(
    app, app_config, world, decl, login, gate, workers
):
    # The retry is due at once: RQ's scheduler, which starts retries after a back-off, died with
    # the first worker and its lock lasts a minute; the back-off has a test of its own below.
    app.config["DOCUMENT_RETRY_INTERVALS"] = [0]
    client = login(world.staff)
    dossier = request(client, decl)
    first = workers.start()
    wait_for(in_state(dossier.id, "running"), "the job to start", workers)
    wait_for(first.work_horse, "the work-horse", workers)
    jobs = queue.connection()
    first_name = Job.fetch(dossier.job_id, connection=jobs).worker_name

    first.kill()  # the worker, its scheduler and its work-horse: the machine is gone
    gate.unlink()
    workers.start()

    row = wait_for(in_state(dossier.id, "ready"), "another worker to finish the job", workers)
    job = Job.fetch(row.job_id, connection=jobs)
    assert job.worker_name and job.worker_name != first_name
    assert job.retries_left == 1
    assert_served_whole(client, row, "盐都区新能源数据产品专区建设项目")


def block_file_store(app_config) -> Path:
    """Make the dossier folder unusable (a file where the folder should be)."""
    blocker = Path(app_config["DATA_DIR"]) / "dossiers"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    return blocker


def test_a_transient_failure_is_retried_after_a_back_off_and_succeeds(
    app, app_config, world, decl, login, workers
):
    app.config["DOCUMENT_RETRY_INTERVALS"] = [3]
    blocker = block_file_store(app_config)
    client = login(world.staff)
    dossier = request(client, decl)
    workers.start()

    row = wait_for(retrying(dossier.id), "the first run to fail", workers)
    assert row.error == "第 1 次生成失败,正在重试:生成申报材料时写入文件存储失败(File exists)"
    # The retry waits out its back-off in RQ's scheduled registry instead of running at once.
    scheduled = ScheduledJobRegistry(app_config["DOSSIER_QUEUE"], connection=queue.connection())
    wait_for(lambda: row.job_id in scheduled, "the retry to be scheduled", workers)
    blocker.unlink()  # the file store is back

    row = wait_for(in_state(dossier.id, "ready"), "the retry to succeed", workers)
    assert row.error is None
    assert_served_whole(client, row, "盐都区新能源数据产品专区建设项目")


def test_a_permanent_failure_ends_failed_with_the_reason(app_config, world, decl, login, workers):
    block_file_store(app_config)
    client = login(world.staff)
    dossier = request(client, decl)
    workers.start()

    row = wait_for(in_state(dossier.id, "failed"), "the last retry to fail", workers)
    assert row.error == "共尝试 3 次均失败:生成申报材料时写入文件存储失败(File exists)"
    job = Job.fetch(row.job_id, connection=queue.connection())
    assert job.get_status() == JobStatus.FAILED and not job.retries_left
    status = client.get(f"/dossiers/{dossier.id}/status").get_json()
    assert status["status_label"] == "生成失败" and status["download_url"] is None
    assert "写入文件存储失败" in status["error"]


def test_progress_is_visible_while_the_job_runs(world, decl, login, gate, workers):
    dossier = request(login(world.staff), decl)
    assert queue.job_progress(dossier.job_id) is None  # queued: nothing done yet
    workers.start()
    wait_for(in_state(dossier.id, "running"), "the job to start", workers)
    progress = wait_for(
        lambda: queue.job_progress(dossier.job_id) == {"done": 2, "total": 3},
        "the render step to be reported",
        workers,
    )
    assert progress
    assert dossier_row(dossier.id).status == "running"
    gate.unlink()
    wait_for(in_state(dossier.id, "ready"), "the job to finish", workers)
    assert queue.job_progress(dossier.job_id) == {"done": 3, "total": 3}


def test_asking_again_while_it_runs_joins_the_running_job(world, decl, login, gate, workers):
    client = login(world.staff)
    dossier = request(client, decl)
    workers.start()
    wait_for(in_state(dossier.id, "running"), "the job to start", workers)

    again = client.post(f"/declarations/{decl.id}/dossiers", follow_redirects=True)
    assert "该版本的申报材料正在生成,请稍候,无需重复申请" in again.text
    # Even a second enqueue of the same version (two requests racing past the row) joins it.
    job = queue.enqueue_dossier(dossier.id, dossier.job_id)
    assert job.id == dossier.job_id and job.get_status() == JobStatus.STARTED
    assert queue.dossier_queue().count == 0

    gate.unlink()
    row = wait_for(in_state(dossier.id, "ready"), "the job to finish", workers)
    assert row.error is None
    assert queue.dossier_queue().count == 0  # nothing left to run twice


def test_two_workers_render_two_dossiers_at_the_same_time(
    world, make_project, make_declaration, login, gate, workers
):
    names = ["盐都区城市数据大脑建设项目", "盐都区工业互联网标识解析节点项目"]
    decls = [
        make_declaration(make_project(world.yandu, name=name), world.program, by=world.staff)
        for name in names
    ]
    client = login(world.staff)
    dossiers = [request(client, d) for d in decls]
    workers.start()
    workers.start()

    # Both held at the gate at once: each worker took one.
    wait_for(
        lambda: all(dossier_row(d.id).status == "running" for d in dossiers),
        "both jobs to run at once",
        workers,
    )
    jobs = queue.connection()
    running_on = {Job.fetch(d.job_id, connection=jobs).worker_name for d in dossiers}
    assert len(running_on) == 2

    gate.unlink()
    for dossier, name in zip(dossiers, names, strict=True):
        row = wait_for(in_state(dossier.id, "ready"), "both to finish", workers)
        assert_served_whole(client, row, name)
