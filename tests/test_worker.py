"""A real RQ worker process, against real Redis, renders a dossier requested through the page."""

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import REDIS_URL
from tests.factories import act
from workflow.extensions import db
from workflow.models import Dossier

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.worker


@pytest.fixture
def app_config(app_config):
    """The app talks to the real Redis server, on a queue of its own."""
    app_config["REDIS_URL"] = REDIS_URL
    app_config["DOSSIER_QUEUE"] = f"dossiers-test-{uuid.uuid4().hex[:10]}"
    return app_config


def worker_env(app_config: dict, **settings: str) -> dict:
    """The environment of a worker process sharing the test's database, Redis, queue and files."""
    return {
        **os.environ,
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app_config["REDIS_URL"],
        "DATA_DIR": app_config["DATA_DIR"],
        "DOSSIER_QUEUE": app_config["DOSSIER_QUEUE"],
        **settings,
    }


def run_worker(app_config: dict) -> subprocess.CompletedProcess:
    """`flask --app wsgi worker --burst` in its own process, as an operator would start it."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
        cwd=ROOT,
        env=worker_env(app_config),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_worker_process_renders_the_requested_dossier(
    app, app_config, world, make_project, make_declaration, login
):
    project = make_project(world.yandu, name="盐都区新能源数据产品专区建设项目")
    decl = make_declaration(project, world.program, by=world.staff)
    act(decl, "submit", world.staff)
    client = login(world.manager)

    response = client.post(f"/declarations/{decl.id}/dossiers")
    assert response.status_code == 302
    dossier = db.session.scalars(db.select(Dossier)).one()
    assert dossier.status == "queued"
    status = client.get(f"/dossiers/{dossier.id}/status").get_json()
    assert status["status"] == "queued" and status["download_url"] is None

    result = run_worker(app_config)
    assert result.returncode == 0, result.stderr

    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "ready", dossier.error
    status = client.get(f"/dossiers/{dossier.id}/status").get_json()
    with client.get(status["download_url"]) as pdf:
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf.data))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "盐都区新能源数据产品专区建设项目" in text
    assert dossier.page_count == len(reader.pages)
    assert f"共 {len(reader.pages)} 页" in reader.pages[-1].extract_text()
    assert "草稿" not in reader.pages[1].extract_text()  # submitted: no draft watermark


def test_same_version_is_queued_once(app, app_config, world, make_project, make_declaration, login):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.staff)
    first = client.post(f"/declarations/{decl.id}/dossiers")
    second = client.post(f"/declarations/{decl.id}/dossiers")
    assert first.headers["Location"] == second.headers["Location"]

    from rq import Queue

    from workflow.queue import connection

    queue = Queue(app_config["DOSSIER_QUEUE"], connection=connection())
    assert queue.count == 1
    assert run_worker(app_config).returncode == 0
    db.session.expire_all()
    assert db.session.scalars(db.select(Dossier)).one().status == "ready"
