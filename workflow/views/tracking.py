"""Tracking reports (调度报告): the funded projects' periodic reports, filled, sent and reviewed."""

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from documents import excel as sheets
from forms.tracking import ReportForm, ReportPhotoForm, ReviewForm, SubmitReportForm

from .. import tracking, vocab
from ..audit import events_of
from ..errors import Conflict, OperationError
from ..extensions import db
from ..models import Declaration, ReportPhoto, TrackingReport
from ..operations import local_today
from ..permissions import CITY_WIDE_ROLES, declaration_or_404, scope_declarations
from ..storage import upload_path
from . import act_from_page, send_download
from .exports import xlsx_response

bp = Blueprint("tracking", __name__)
# Operation errors not tied to one form field, shown beside the fields they concern.
GROUP_ERRORS = ("funds_received",)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


def report_or_404(report_id: int) -> TrackingReport:
    """The report if the user may see its declaration (another district's: 404)."""
    report = db.session.get(TrackingReport, report_id)
    if report is None:
        abort(404)
    declaration_or_404(report.declaration_id, current_user)
    return report


def _is_staff_of(decl: Declaration) -> bool:
    return (
        current_user.role == "district_staff"
        and current_user.district_id == decl.project.district_id
    )


def _is_reviewer_of(decl: Declaration) -> bool:
    return (
        current_user.role == "district_reviewer"
        and current_user.district_id == decl.project.district_id
    )


def _version(raw) -> int | None:
    return int(raw) if raw and str(raw).isdigit() else None


@bp.app_template_global("period_label")
def _period_label(decl: Declaration, period: date) -> str:
    """A report period as pages name it."""
    return tracking.period_label(decl, period)


# --- the list -------------------------------------------------------------------------------


@bp.route("/tracking/export.xlsx")
def export():
    """Every report of the funded declarations in the user's scope, in Excel."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)
    reports = db.session.scalars(
        scope_declarations(select(TrackingReport).join(TrackingReport.declaration), current_user)
        .options(
            joinedload(TrackingReport.declaration).joinedload(Declaration.project),
            joinedload(TrackingReport.declaration).joinedload(Declaration.program),
        )
        .order_by(TrackingReport.declaration_id, TrackingReport.period)
    ).all()
    rows = [
        {
            "seq": number,
            "project": r.declaration.project.name,
            "district": r.declaration.project.district.name,
            "program": r.declaration.program.title,
            "period": tracking.period_label(r.declaration, r.period),
            "status": r.status_label,
            "approved_amount": r.declaration.approved_amount,
            "actual_start_on": r.actual_start_on.isoformat() if r.actual_start_on else "",
            "progress_percent": r.progress_percent,
            "investment_completed": r.investment_completed,
            "funds_received": r.funds_received(),
            "payment_cumulative": r.payment_cumulative,
            "progress_text": r.progress_text,
            "problems": r.problems,
        }
        for number, r in enumerate(reports, start=1)
    ]
    today = local_today()
    scope = current_user.district.name if current_user.is_district_user else "全市"
    content = sheets.tracking_workbook(
        rows,
        title=f"{scope}政策资金项目调度报告",
        subtitle=f"导出日期:{today.isoformat()}  金额单位:万元",
    )
    stamp = today.strftime("%Y%m%d")
    return xlsx_response(content, f"调度报告-{stamp}.xlsx", f"tracking-reports-{stamp}.xlsx")


@bp.route("/tracking")
def index():
    """Funded declarations in the user's scope, each with its latest report and overdue periods."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)
    decls = db.session.scalars(
        scope_declarations(select(Declaration), current_user)
        .where(Declaration.stage == "approved")
        .options(joinedload(Declaration.program), joinedload(Declaration.project))
        .order_by(Declaration.approved_on.desc(), Declaration.id.desc())
    ).all()
    latest: dict[int, TrackingReport] = {}
    if decls:
        reports = db.session.scalars(
            select(TrackingReport)
            .where(TrackingReport.declaration_id.in_([d.id for d in decls]))
            .order_by(TrackingReport.period.desc())
        )
        for report in reports:
            latest.setdefault(report.declaration_id, report)
    overdue: dict[int, list[tracking.DueReport]] = {}
    for due in tracking.due_reports(local_today(), list(decls)):
        overdue.setdefault(due.declaration.id, []).append(due)
    return render_template(
        "tracking/index.html",
        decls=decls,
        latest=latest,
        overdue=overdue,
        is_staff=current_user.role == "district_staff",
        grace_days=tracking.GRACE_WORKING_DAYS,
    )


# --- filling in -----------------------------------------------------------------------------


def _open_periods(decl: Declaration) -> list[date]:
    """Periods begun by today that have no report yet, oldest first."""
    taken = set(
        db.session.scalars(
            select(TrackingReport.period).where(TrackingReport.declaration_id == decl.id)
        )
    )
    return [p for p in tracking.periods_until(decl, local_today()) if p not in taken]


def _show_errors(form: ReportForm, fields: dict[str, str]) -> dict[str, str]:
    """Put an operation's field errors on the form; return those that belong to no one field."""
    others = {}
    for name, message in fields.items():
        if name in form and name != "csrf_token":
            form[name].errors = [*form[name].errors, message]
        else:
            others[name] = message
    return others


def _render_form(
    decl, form, *, report=None, error=None, group_errors=None, status=200, may_fill=True
):
    return (
        render_template(
            "tracking/form.html",
            decl=decl,
            form=form,
            report=report,
            previous=tracking.previous_accepted(decl, report.period if report else date.max),
            issued=decl.approved_amount,
            error=error,
            group_errors=group_errors or {},
            may_fill=may_fill,
        ),
        status,
    )


@bp.route("/declarations/<int:declaration_id>/reports/new", methods=["GET", "POST"])
def new(declaration_id: int):
    """Start a report for one period of a funded declaration (the district's staff)."""
    decl = declaration_or_404(declaration_id, current_user)
    may_fill = _is_staff_of(decl)
    if request.method == "POST" and not may_fill:
        abort(403, "只有项目所属区县填报员可以填写调度报告")
    if decl.stage != "approved":
        raise Conflict(f"申报当前为「{decl.stage_label}」,批复后才需要填写调度报告")
    periods = _open_periods(decl)
    form = ReportForm()
    form.set_periods([(p, tracking.period_label(decl, p)) for p in reversed(periods)])
    if request.method == "GET":
        wanted = request.args.get("period", "")
        form.period.data = next((p for p in periods if p.isoformat() == wanted), None) or (
            periods[0] if periods else None
        )
        # Figures are cumulative: start from the last accepted report so only changes are typed.
        previous = tracking.previous_accepted(decl, form.period.data or date.max)
        if previous is not None:
            form.actual_start_on.data = previous.actual_start_on
            for name in tracking.CUMULATIVE_FIELDS:
                form[name].data = getattr(previous, name)
    if may_fill and not periods and request.method == "GET":
        flash("目前没有需要填写的报告期:已开始的报告期都已有调度报告", "info")
    if form.validate_on_submit():
        try:
            report = tracking.create_report(
                decl, form.period.data, form.values(), actor=current_user
            )
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            others = _show_errors(form, failure.fields)
            return _render_form(
                decl, form, error=failure.message, group_errors=others, status=failure.status
            )
        flash(f"已保存{tracking.period_label(decl, report.period)}的调度报告草稿", "success")
        return redirect(url_for("tracking.detail", report_id=report.id))
    status = 422 if form.errors else 200
    error = "请按提示修改后再保存" if form.errors else None
    return _render_form(decl, form, error=error, status=status, may_fill=may_fill)


@bp.route("/reports/<int:report_id>/edit", methods=["GET", "POST"])
def edit(report_id: int):
    """Change a draft or returned report (the district's staff)."""
    report = report_or_404(report_id)
    decl = report.declaration
    if not _is_staff_of(decl):
        abort(403, "只有项目所属区县填报员可以修改调度报告")
    if report.status not in tracking.EDITABLE_STATUSES:
        raise Conflict(f"调度报告当前为「{report.status_label}」,不能修改")
    form = ReportForm(obj=report) if request.method == "GET" else ReportForm()
    # The period is fixed once the report exists.
    del form.period
    if request.method == "GET":
        form.version.data = report.version
    if form.validate_on_submit():
        try:
            tracking.update_report(
                report,
                form.values(),
                actor=current_user,
                expected_version=_version(form.version.data),
            )
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            others = _show_errors(form, failure.fields)
            return _render_form(
                decl,
                form,
                report=report,
                error=failure.message,
                group_errors=others,
                status=failure.status,
            )
        flash("调度报告已保存", "success")
        return redirect(url_for("tracking.detail", report_id=report.id))
    status = 422 if form.errors else 200
    error = "请按提示修改后再保存" if form.errors else None
    return _render_form(decl, form, report=report, error=error, status=status)


# --- the report page ------------------------------------------------------------------------


def _render_detail(report, *, review_form=None, error=None, status=200):
    decl = report.declaration
    siblings = db.session.scalars(
        select(TrackingReport)
        .where(TrackingReport.declaration_id == decl.id)
        .order_by(TrackingReport.period.desc())
    ).all()
    editable = report.status in tracking.EDITABLE_STATUSES
    return (
        render_template(
            "tracking/detail.html",
            report=report,
            decl=decl,
            previous=tracking.previous_accepted(decl, report.period),
            siblings=siblings,
            events=events_of("tracking_report", report.id),
            photos=sorted(report.photos, key=lambda p: p.id),
            may_edit=editable and _is_staff_of(decl),
            may_review=report.status == "submitted" and _is_reviewer_of(decl),
            submit_form=SubmitReportForm(formdata=None, version=report.version),
            photo_form=ReportPhotoForm(formdata=None),
            review_form=review_form or ReviewForm(formdata=None, version=report.version),
            figure_labels=tracking.FIGURE_LABELS,
            sources=vocab.RECEIVED_SOURCES,
            error=error,
        ),
        status,
    )


@bp.route("/reports/<int:report_id>")
def detail(report_id: int):
    """One report: figures beside the last accepted ones, photos, history, and its actions."""
    return _render_detail(report_or_404(report_id))


@bp.route("/reports/<int:report_id>/submit", methods=["POST"])
def submit(report_id: int):
    """Send the report to the district's reviewer."""
    report = report_or_404(report_id)
    if not _is_staff_of(report.declaration):
        abort(403, "只有项目所属区县填报员可以报送调度报告")
    form = SubmitReportForm()
    return act_from_page(
        form,
        lambda: tracking.submit_report(
            report, actor=current_user, expected_version=_version(form.version.data)
        ),
        refused=lambda error, status: _render_detail(
            report_or_404(report_id), error=error, status=status
        ),
        invalid="请求无效,请刷新页面后重试",
        done="调度报告已报送区县审核",
        then=url_for("tracking.detail", report_id=report.id),
    )


@bp.route("/reports/<int:report_id>/review", methods=["POST"])
def review(report_id: int):
    """The district reviewer accepts the report or returns it with a comment."""
    report = report_or_404(report_id)
    if not _is_reviewer_of(report.declaration):
        abort(403, "只有本区县的审核员可以审核调度报告")
    form = ReviewForm()
    accept = form.decision.data == "accept"
    return act_from_page(
        form,
        lambda: tracking.review_report(
            report,
            accept,
            form.comment.data or "",
            actor=current_user,
            expected_version=_version(form.version.data),
        ),
        refused=lambda error, status: _render_detail(
            report_or_404(report_id), review_form=form, error=error, status=status
        ),
        done="调度报告已审核通过" if accept else "调度报告已退回修改",
        then=url_for("tracking.detail", report_id=report.id),
    )


@bp.route("/reports/<int:report_id>/photos", methods=["POST"])
def upload_photo(report_id: int):
    """Attach a site photo (JPG or PNG, judged by its bytes)."""
    report = report_or_404(report_id)
    if not _is_staff_of(report.declaration):
        abort(403, "只有项目所属区县填报员可以上传现场照片")
    form = ReportPhotoForm()
    return act_from_page(
        form,
        lambda: tracking.add_report_photo(
            report,
            filename=form.file.data.filename or "",
            content=form.file.data.read(),
            actor=current_user,
        ),
        refused=lambda error, status: _render_detail(
            report_or_404(report_id), error=error, status=status
        ),
        done="现场照片已上传",
        then=url_for("tracking.detail", report_id=report.id) + "#photos",
    )


@bp.route("/report-photos/<int:photo_id>")
def download_photo(photo_id: int):
    """A site photo under its original name."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None:
        abort(404)
    report_or_404(photo.report_id)
    path = upload_path(photo.stored_name)
    if not path.exists():
        abort(404)
    extension = photo.stored_name.rsplit(".", 1)[-1]
    return send_download(
        path, photo.content_type, photo.original_name, fallback=f"photo-{photo.id}.{extension}"
    )
