"""Shared fixtures: an app per database backend, a client, and factories that return callables.

``TEST_DATABASES`` lists the backends every test runs on (``sqlite``, ``postgresql``);
``make test`` sets both. A listed backend that cannot be reached fails the run: it never skips.
"""

import os
import shutil
import uuid
from functools import partial
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from tests import factories
from tests.client import drop_session
from workflow import create_app, models
from workflow.extensions import db

BACKENDS = [b.strip() for b in os.environ.get("TEST_DATABASES", "sqlite").split(",") if b.strip()]
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _migrate(url: str, data_dir: Path) -> None:
    """Build a schema the way production does: through the migrations."""
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(data_dir)})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file that each test copies, so every test starts clean and fast."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    _migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory) -> str:
    """A fresh, migrated PostgreSQL database for this test session."""
    base = make_url(POSTGRES_URL)
    name = f"workflow_test_{os.getpid()}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    _migrate(url, tmp_path_factory.mktemp("pg-migrate"))
    yield url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all() -> None:
    """Empty every table; the audit log's append-only triggers are bypassed for this session only
    (``replica`` mode skips ordinary triggers; the test role is a superuser)."""
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """The database this test runs on, empty and migrated."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_database")
    raise pytest.UsageError(f"unknown backend in TEST_DATABASES: {request.param}")


@pytest.fixture
def app_config(database_url, tmp_path) -> dict:
    """Settings of the app under test; tests may change them before the app is built."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "WTF_CSRF_ENABLED": False,
        "EMBEDDED_WORKER": False,
        "REDIS_URL": None,
        "DOSSIER_QUEUE": f"dossiers-{uuid.uuid4().hex[:8]}",
        # Tests make many calls from one address; the limits have tests of their own.
        "API_RATE_LIMIT": "100000/minute",
        "API_TOKEN_RATE_LIMIT": "100000/minute",
    }


class FreshSessionClient(FlaskClient):
    """A test client whose requests see the database as a real request would.

    Flask reuses the test's app context for requests, and with it the test's session; without
    expiring it, a view would read objects cached by earlier requests instead of what a worker
    has committed since.
    """

    def open(self, *args, **kwargs):
        db.session.expire_all()
        response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture
def app(app_config):
    """The app, inside an app context, on an empty database."""
    app = create_app(app_config)
    app.test_client_class = FreshSessionClient
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A browser-like test client."""
    return app.test_client()


@pytest.fixture
def login(client):
    """Sign a user in on the test client: ``login(user)``; the previous user's session is dropped.

    Dropping the session (rather than posting /logout) keeps the next page free of the
    "已退出登录" notice, so tests can assert exactly what a user is told.
    """

    def sign_in(user, password=factories.PASSWORD):
        drop_session(client)
        response = client.post("/login", data={"username": user.username, "password": password})
        assert response.status_code == 302, response.text
        return client

    return sign_in


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """Scrypt costs 0.1 s per user and per sign-in; the suite makes thousands of both."""
    monkeypatch.setattr(
        models, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1")
    )


@pytest.fixture
def make_district(app):
    """``make_district(code=..., name=...)`` → a committed District."""
    return factories.district


@pytest.fixture
def make_user(app):
    """``make_user(role, district=None)`` → a committed User with the test password."""
    return factories.user


@pytest.fixture
def make_program(app):
    """``make_program(**overrides)`` → an open program, window around today."""
    return factories.program


@pytest.fixture
def make_project(app):
    """``make_project(district, **overrides)`` → a complete, valid project."""
    return factories.project


@pytest.fixture
def make_declaration(app):
    """``make_declaration(project, program, by=user, **overrides)`` → a complete draft."""
    return factories.declaration


@pytest.fixture
def world(app):
    """Two districts with staff and reviewers, the city roles, and an open program."""
    return factories.world()
