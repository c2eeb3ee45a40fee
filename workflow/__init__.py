"""The policy-funding declaration workflow engine: the application factory."""

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import api, queue, vocab
from .config import PROJECT_ROOT, Config
from .extensions import csrf, db, login_manager, migrate
from .formatting import FILTERS

log = logging.getLogger(__name__)


def _database_url(url: str, instance_path: str) -> str:
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "workflow.db")
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, let writers wait for each other instead of failing at once."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides settings (tests pass their database here)."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url(
        app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path
    )
    app.extensions["creator_pid"] = os.getpid()

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    queue.init_app(app)

    from . import (
        audit,  # noqa: F401  (registers the append-only listeners)
        machine,
    )
    from .cli import register_cli
    from .views import register_views

    # A broken workflow definition stops the app here, with every reason, not at a user's click.
    machine.all_workflows()
    register_views(app)
    api.init_app(app)
    register_cli(app)
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["vocab"] = vocab
    _warn_without_harfbuzz(app)
    if app.config["START_EMBEDDED_WORKER"]:
        queue.start_embedded_worker(app)
        from .jobs import start_embedded_scheduler

        # Without Redis there is no `flask scheduler` process: the nightly jobs run in a thread.
        start_embedded_scheduler(app)
    return app


def _warn_without_harfbuzz(app: Flask) -> None:
    """PDF font subsetting without HarfBuzz works but takes ~15x longer: say so loudly."""
    from documents import subsetting_path

    path = subsetting_path()
    app.extensions["pdf_subsetting"] = path
    if path != "harfbuzz":
        log.warning(
            "HarfBuzz 字体子集化不可用(缺少 libharfbuzz-subset0),WeasyPrint 将改用 "
            "fontTools,生成中文 PDF 会慢十余倍。请安装 Debian 软件包 libharfbuzz-subset0。"
        )
