"""Batch dossiers (批量申报材料) per program, and checking a dossier file (材料核验)."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from forms.batch import BatchRequestForm, DossierVerifyForm

from .. import batch as batches
from .. import queue
from ..errors import OperationError
from ..extensions import db
from ..formatting import file_size
from ..models import BatchDossier, FundingProgram
from ..verification import verify_pdf, verify_sha256
from . import form_status, send_document

bp = Blueprint("batches", __name__)
LIST_ROWS = 10


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.app_template_global()
def program_batches(program: FundingProgram) -> dict | None:
    """The program page's 「批量申报材料」 panel, for the city, managers and admins."""
    if current_user.role not in batches.REQUESTERS:
        return None
    rows = batches.batches_of(program.id, LIST_ROWS)
    count = batches.recommended_count(program.id)
    # The current fingerprint reads every recommended declaration: only when something is listed.
    current = batches.current_fingerprint(program) if rows and count else None
    return {
        "count": count,
        "rows": [_status(b, current=b.fingerprint == current) for b in rows],
        "form": BatchRequestForm(),
        "list_rows": LIST_ROWS,
    }


@bp.route("/programs/<int:program_id>/batches", methods=["POST"])
def request_batch(program_id: int):
    """Ask for the batch dossier of the program's current data; returns at once."""
    batches.require_reader(current_user)
    program = db.session.get(FundingProgram, program_id) or abort(404)
    if not BatchRequestForm().validate_on_submit():
        abort(400)
    try:
        batch, needs_job = batches.request_batch(program, actor=current_user)
        db.session.commit()
    except OperationError as failure:
        db.session.rollback()
        flash(failure.message, "danger")
        return redirect(url_for("programs.detail", program_id=program.id, _anchor="batches"))
    if batch.status != "ready":
        # After the commit, so the worker finds the row. A job still running for the same data
        # is joined; one lost with its worker is started again.
        queue.enqueue_batch(batch.id, batch.job_id)
    if not needs_job:
        flash(
            "数据没有变化,已生成的批量申报材料可直接下载,无需重复生成"
            if batch.status == "ready"
            else "同一数据的批量申报材料正在生成,已为您接入该任务,无需重复申请",
            "info",
        )
    return redirect(url_for("batches.detail", batch_id=batch.id))


def _status(batch: BatchDossier, *, current: bool) -> dict:
    return {
        "id": batch.id,
        "status": batch.status,
        "status_label": batches.status_label(batch),
        "error": batch.error,
        "current": current,
        "fingerprint": batch.fingerprint[:12],
        "progress_done": batch.progress_done,
        "progress_total": batch.progress_total,
        "percent": batches.progress_percent(batch),
        "progress_text": batches.progress_text(batch),
        "declaration_count": batch.declaration_count,
        "sections_rendered": batch.sections_rendered,
        "attempts": batch.attempts,
        "stalled": batches.is_stalled(batch),
        "page_count": batch.page_count,
        "size": file_size(batch.size) if batch.size else None,
        "created_at": batch.created_at,
        "requested_by": batch.requested_by.display_name if batch.requested_by else None,
        "status_url": url_for("batches.status", batch_id=batch.id),
        "detail_url": url_for("batches.detail", batch_id=batch.id),
        "download_url": url_for("batches.download", batch_id=batch.id)
        if batch.status == "ready"
        else None,
    }


def _json(status: dict) -> dict:
    return {k: v for k, v in status.items() if k != "created_at"}


@bp.route("/batches/<int:batch_id>")
def detail(batch_id: int):
    """A batch's status page; its progress bar follows the job until the file is ready."""
    batch = batches.batch_or_404(batch_id, current_user)
    fingerprint = batches.current_fingerprint(batch.program)
    current = batch.fingerprint == fingerprint
    return render_template(
        "batches/detail.html",
        batch=batch,
        status=_status(batch, current=current),
        # An outdated batch points to the one of today's data when someone asked for it.
        latest=None if current else batches.current_batch(batch.program, fingerprint),
        form=BatchRequestForm(),
    )


@bp.route("/batches/<int:batch_id>/status")
def status(batch_id: int):
    """The batch's status and progress as JSON, for the pages' polling."""
    batch = batches.batch_or_404(batch_id, current_user)
    # Outdated is only worth working out once there is a file to be outdated.
    current = batches.is_current(batch) if batch.status == "ready" else True
    return jsonify(_json(_status(batch, current=current)))


@bp.route("/batches/<int:batch_id>/download")
def download(batch_id: int):
    """The PDF, once ready."""
    batch = batches.batch_or_404(batch_id, current_user)
    return send_document(batch, batches.download_name(batch), fallback=batch.file_name)


@bp.route("/dossiers/verify", methods=["GET", "POST"])
def verify():
    """Check a PDF (or its SHA-256) against the records: current, outdated or unknown."""
    if current_user.role == "expert":
        abort(404)
    form = DossierVerifyForm()
    verdict = None
    if form.validate_on_submit():
        content = form.content()
        if content is not None:
            verdict = verify_pdf(content, viewer=current_user)
        else:
            verdict = verify_sha256(form.sha256.data, viewer=current_user)
    links = _record_links(verdict) if verdict and verdict.record is not None else {}
    return render_template(
        "batches/verify.html", form=form, verdict=verdict, links=links
    ), form_status(form)


# Each kind of record's page: its endpoint and the name of its id.
_DETAIL_PAGES = {
    "dossier": ("dossiers.detail", "dossier_id"),
    "batch": ("batches.detail", "batch_id"),
    "monthly": ("monthly.detail", "monthly_report_id"),
}


def _record_links(verdict) -> dict:
    """The matched record's page, the newest current copy's page, and where to make a new one."""
    endpoint, id_name = _DETAIL_PAGES[verdict.kind]
    record, latest = verdict.record, verdict.latest
    if verdict.kind == "dossier":
        fresh = url_for("declarations.detail", declaration_id=record.declaration_id)
    elif verdict.kind == "batch":
        fresh = url_for("programs.detail", program_id=record.program_id, _anchor="batches")
    else:
        fresh = url_for("monthly.index")
    return {
        "detail": url_for(endpoint, **{id_name: record.id}),
        "fresh": fresh,
        "latest": url_for(endpoint, **{id_name: latest.id}) if latest is not None else None,
    }
