"""The health check operators and load balancers poll."""

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .. import queue
from ..extensions import csrf, db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
@csrf.exempt
def healthz():
    """JSON with the state of the database, the queue and the workers; 503 when one is down."""
    report = {
        "database": {"ok": False},
        "queue": {"ok": False},
        "pdf": {"font_subsetting": current_app.extensions.get("pdf_subsetting")},
    }
    try:
        db.session.execute(text("SELECT 1"))
        report["database"] = {"ok": True, "backend": db.engine.dialect.name}
    except Exception as exc:  # the point of the endpoint is to report, not to raise
        log.warning("health: database down: %s", exc)
        db.session.rollback()  # leave the request's session usable for teardown
        report["database"]["error"] = str(exc)[:200]
    try:
        report["queue"] = {"ok": True, **queue.worker_state()}
    except Exception as exc:
        log.warning("health: queue down: %s", exc)
        report["queue"]["error"] = str(exc)[:200]
    healthy = report["database"]["ok"] and report["queue"]["ok"]
    report["status"] = "ok" if healthy else "error"
    return jsonify(report), 200 if healthy else 503
