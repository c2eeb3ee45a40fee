"""Background jobs. They take ids, reload their rows, and commit their own unit of work."""

import io
import logging
import os
from contextlib import contextmanager

from flask import current_app, has_app_context
from pypdf import PdfReader

from .dossier_data import dossier_data
from .extensions import db
from .models import Dossier
from .storage import atomic_write, dossier_path
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


def _fail(dossier_id: int, reason: str) -> None:
    dossier = db.session.get(Dossier, dossier_id)
    dossier.status, dossier.finished_at, dossier.error = "failed", utcnow(), reason[:2000]
    db.session.commit()


def render_dossier(dossier_id: int) -> str:
    """Render one dossier's PDF and record the outcome; returns the file name."""
    from documents import render_dossier_pdf

    with job_context():
        dossier = db.session.get(Dossier, dossier_id)
        if dossier is None:
            log.warning("dossier %s vanished before rendering", dossier_id)
            return ""
        # The data may have moved on while the job waited: a dossier labelled with one version
        # must never carry another version's content.
        stale = _stale_reason(dossier)
        if stale:
            _fail(dossier_id, stale)
            return ""
        dossier.status, dossier.started_at, dossier.error = "running", utcnow(), None
        db.session.commit()
        try:
            data = dossier_data(dossier.declaration)
            db.session.commit()  # end the read, so the check below sees later commits
            pdf = render_dossier_pdf(data)
        except Exception as exc:
            db.session.rollback()
            log.exception("dossier %s failed", dossier_id)
            _fail(dossier_id, f"生成申报材料时出错:{type(exc).__name__}: {exc}")
            raise
        dossier = db.session.get(Dossier, dossier_id)
        stale = _stale_reason(dossier)
        if stale:
            _fail(dossier_id, stale)
            return ""
        file_name = (
            f"dossier-{dossier.id}-d{dossier.declaration_version}-p{dossier.project_version}.pdf"
        )
        atomic_write(dossier_path(file_name), pdf)
        dossier.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
        dossier.file_name, dossier.size = file_name, len(pdf)
        dossier.status, dossier.finished_at = "ready", utcnow()
        db.session.commit()
        return file_name
