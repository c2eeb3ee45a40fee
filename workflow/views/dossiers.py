"""Dossier requests with live status, and downloads."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from forms.dossier import DossierRequestForm

from .. import operations, queue
from ..extensions import db
from ..models import Dossier
from ..permissions import declaration_or_404, dossier_or_404
from . import send_document

bp = Blueprint("dossiers", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.route("/declarations/<int:declaration_id>/dossiers", methods=["POST"])
def request_dossier(declaration_id: int):
    """Ask for the dossier of the declaration's current data; returns at once."""
    decl = declaration_or_404(declaration_id, current_user)
    if not DossierRequestForm().validate_on_submit():
        abort(400)
    dossier, needs_job = operations.request_dossier(decl, actor=current_user)
    db.session.commit()
    if needs_job:  # enqueue only after the commit, so the worker finds the row
        queue.enqueue_dossier(dossier.id, dossier.job_id)
    elif dossier.status == "ready":
        flash("该版本的申报材料已生成,可直接下载,无需重复申请", "info")
    else:
        flash("该版本的申报材料正在生成,请稍候,无需重复申请", "info")
    return redirect(url_for("dossiers.detail", dossier_id=dossier.id))


def _status(dossier: Dossier) -> dict:
    return {
        "id": dossier.id,
        "status": dossier.status,
        "status_label": dossier.status_label,
        "error": dossier.error,
        "current": dossier.is_current,
        "page_count": dossier.page_count,
        "download_url": url_for("dossiers.download", dossier_id=dossier.id)
        if dossier.status == "ready"
        else None,
    }


@bp.route("/dossiers/<int:dossier_id>")
def detail(dossier_id: int):
    """The dossier's status page; it refreshes itself until the file is ready or failed."""
    dossier = dossier_or_404(dossier_id, current_user)
    return render_template(
        "dossiers/detail.html", dossier=dossier, status=_status(dossier), form=DossierRequestForm()
    )


@bp.route("/dossiers/<int:dossier_id>/status")
def status(dossier_id: int):
    """The dossier's status as JSON, for the page's polling."""
    return jsonify(_status(dossier_or_404(dossier_id, current_user)))


def dossier_download(dossier: Dossier):
    """The PDF under a name that says whose and which version; 404 until it is ready.

    The API's download answers with this same response.
    """
    project = dossier.declaration.project
    name = f"申报材料-{project.name}-v{dossier.declaration_version}.pdf"
    return send_document(dossier, name, fallback=f"dossier-{dossier.id}.pdf")


@bp.route("/dossiers/<int:dossier_id>/download")
def download(dossier_id: int):
    """The PDF, once ready."""
    return dossier_download(dossier_or_404(dossier_id, current_user))
