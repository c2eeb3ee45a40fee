"""The factory and the embedded mode a new user gets from `make run`."""

import logging
import time

import pytest

from workflow import create_app
from workflow.extensions import db
from workflow.models import Dossier


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_normalised_for_psycopg3(given, used, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": given, "DATA_DIR": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == used


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "", "DATA_DIR": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/workflow.db")
    assert app.extensions["rq"]["embedded"] is True


def test_start_up_warns_when_harfbuzz_subsetting_is_missing(tmp_path, monkeypatch, caplog):
    import documents

    monkeypatch.setattr(documents, "subsetting_path", lambda: "fonttools")
    with caplog.at_level(logging.WARNING, logger="workflow"):
        app = create_app({"DATA_DIR": str(tmp_path)})
    assert app.extensions["pdf_subsetting"] == "fonttools"
    assert any("libharfbuzz-subset0" in r.getMessage() for r in caplog.records)


def test_start_up_is_quiet_with_harfbuzz(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="workflow"):
        app = create_app({"DATA_DIR": str(tmp_path)})
    assert app.extensions["pdf_subsetting"] == "harfbuzz"
    assert not [r for r in caplog.records if "harfbuzz" in r.getMessage().lower()]


@pytest.fixture
def embedded_worker(app_config):
    app_config["EMBEDDED_WORKER"] = True
    return app_config


def test_embedded_worker_thread_renders_without_any_server(
    embedded_worker, app, world, make_project, make_declaration, login
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.staff)
    client.post(f"/declarations/{decl.id}/dossiers")
    dossier_id = db.session.scalars(db.select(Dossier.id)).one()
    deadline = time.monotonic() + 60
    status = {}
    while time.monotonic() < deadline:
        status = client.get(f"/dossiers/{dossier_id}/status").get_json()
        if status["status"] in ("ready", "failed"):
            break
        time.sleep(0.2)
    assert status["status"] == "ready", status
    health = client.get("/healthz").get_json()
    assert health["queue"]["mode"] == "embedded"
    assert health["queue"]["embedded_worker_alive"] is True
