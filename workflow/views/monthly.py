"""Monthly tracking reports (月度调度报告): ask for a month's PDF, watch it being made, download."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from forms.tracking import MonthlyReportRequestForm

from .. import monthly, queue
from ..errors import OperationError
from ..extensions import db
from ..models import District, MonthlyReport
from ..operations import local_today
from ..permissions import CITY_WIDE_ROLES
from . import form_status, send_document

bp = Blueprint("monthly", __name__)
LIST_ROWS = 50


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user, of a district or the city."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)


def _form() -> MonthlyReportRequestForm:
    form = MonthlyReportRequestForm()
    districts = (
        []
        if current_user.is_district_user
        else db.session.execute(
            select(District.id, District.name).order_by(District.sort_order, District.id)
        ).all()
    )
    today = local_today()
    form.set_options(
        [(m, monthly.month_label(m)) for m in monthly.months_offered(today)], list(districts)
    )
    return form


def _current_hashes(reports: list[MonthlyReport]) -> dict[tuple, str]:
    """The data fingerprint of each (month, district) listed, as it stands now."""
    today = local_today()
    return {
        key: monthly.current_hash(key[0], key[1], today=today)
        for key in {(r.month, r.district_id) for r in reports}
    }


@bp.route("/tracking/monthly", methods=["GET", "POST"])
def index():
    """The monthly reports made so far, newest first, and the form to ask for one."""
    form = _form()
    if form.validate_on_submit():
        try:
            report, needs_job = monthly.request_monthly_report(
                form.month.data, form.district(), actor=current_user, today=local_today()
            )
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            flash(failure.message, "danger")
            return redirect(url_for("monthly.index"))
        if needs_job:  # enqueue only after the commit, so the worker finds the row
            queue.enqueue_monthly_report(report.id, report.job_id)
        elif report.status == "ready":
            flash("该月数据没有变化,已生成的报告可直接下载", "info")
        else:
            flash("该月报告正在生成,请稍候,无需重复申请", "info")
        return redirect(url_for("monthly.detail", monthly_report_id=report.id))
    reports = db.session.scalars(
        monthly.visible_reports(current_user)
        .order_by(MonthlyReport.month.desc(), MonthlyReport.created_at.desc())
        .limit(LIST_ROWS)
    ).all()
    hashes = _current_hashes([r for r in reports if r.status == "ready"])
    return (
        render_template(
            "tracking/monthly.html",
            form=form,
            reports=reports,
            current={
                r.id: hashes[(r.month, r.district_id)] == r.data_hash
                for r in reports
                if r.status == "ready"
            },
            list_rows=LIST_ROWS,
        ),
        form_status(form),
    )


def _status(report: MonthlyReport, current: bool) -> dict:
    return {
        "id": report.id,
        "status": report.status,
        "status_label": report.status_label,
        "error": report.error,
        "current": current,
        "page_count": report.page_count,
        "download_url": url_for("monthly.download", monthly_report_id=report.id)
        if report.status == "ready"
        else None,
    }


def _is_current(report: MonthlyReport) -> bool:
    today = local_today()
    return monthly.current_hash(report.month, report.district_id, today=today) == report.data_hash


@bp.route("/monthly-reports/<int:monthly_report_id>")
def detail(monthly_report_id: int):
    """A monthly report's status page; it refreshes itself until the file is ready or failed."""
    report = monthly.monthly_report_or_404(monthly_report_id, current_user)
    form = _form()
    form.month.data = report.month
    form.district_id.data = str(report.district_id or "")
    return render_template(
        "tracking/monthly_detail.html",
        report=report,
        status=_status(report, _is_current(report)),
        form=form,
    )


@bp.route("/monthly-reports/<int:monthly_report_id>/status")
def status(monthly_report_id: int):
    """The report's status as JSON, for the page's polling."""
    report = monthly.monthly_report_or_404(monthly_report_id, current_user)
    return jsonify(_status(report, _is_current(report)))


@bp.route("/monthly-reports/<int:monthly_report_id>/download")
def download(monthly_report_id: int):
    """The PDF, once ready."""
    report = monthly.monthly_report_or_404(monthly_report_id, current_user)
    return send_document(report, monthly.download_name(report), fallback=report.file_name)
