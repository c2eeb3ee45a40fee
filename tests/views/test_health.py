"""/healthz: what a load balancer or an operator reads about the database and the queue."""

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REDIS_URL
from workflow import create_app
from workflow.extensions import db


def test_healthy_reports_the_database_backend_and_the_queue(app, client, database_url):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    report = response.get_json()
    assert report["status"] == "ok"
    assert report["database"] == {"ok": True, "backend": make_url(database_url).get_backend_name()}
    assert report["queue"]["ok"] is True
    assert report["queue"]["mode"] == "embedded"
    assert report["queue"]["queued"] == 0


def test_no_sign_in_is_needed(app, client):
    assert client.get("/healthz").status_code == 200


def _bad_database(database_url: str, tmp_path) -> str:
    if make_url(database_url).get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path}/no-such-folder/workflow.db"
    # A port nothing listens on: the connection is refused at once.
    return make_url(database_url).set(port=1).render_as_string(hide_password=False)


@pytest.fixture
def isolated_app(app_config):
    """Build an app from app_config without touching its database, and clean it up after."""
    built = []

    def build(**changes):
        instance = create_app({**app_config, **changes})
        built.append(instance)
        return instance

    yield build
    for instance in built:
        with instance.app_context():
            db.engine.dispose()


def test_an_unreachable_database_answers_503(isolated_app, app_config, database_url, tmp_path):
    broken = isolated_app(SQLALCHEMY_DATABASE_URI=_bad_database(database_url, tmp_path))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "error"
    assert report["database"]["ok"] is False
    assert report["database"]["error"]
    assert "backend" not in report["database"]
    assert report["queue"]["ok"] is True  # the queue is reported on its own


def test_an_unreachable_queue_answers_503(isolated_app):
    broken = isolated_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    report = response.get_json()
    assert report["database"]["ok"] is True
    assert report["queue"]["ok"] is False and report["queue"]["error"]


def test_a_real_redis_is_reported_as_such(isolated_app):
    real = isolated_app(REDIS_URL=REDIS_URL)
    response = real.test_client().get("/healthz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["queue"]["mode"] == "redis"
