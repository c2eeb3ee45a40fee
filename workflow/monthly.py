"""The monthly tracking report (月度调度报告): one month of tracking as a PDF, by an RQ job.

A report covers the city or one district. Its figures are taken as of the month's last day, or
as of today while the month runs. ``monthly_data`` gathers them as plain data (the dashboard's
figures and charts, every funded declaration's report for the month, the overdue reports, the
warnings and rectification tasks); ``data_hash`` fingerprints that data, so asking twice for an
unchanged month joins the file already made (or being made), and a file whose data has moved on
since is shown as outdated.
"""

import hashlib
import json
from calendar import monthrange
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

from flask import abort
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from . import dashboard, tracking, vocab
from .audit import record
from .errors import Invalid, NotPermitted
from .extensions import db
from .models import (
    Declaration,
    District,
    MonthlyReport,
    Project,
    ProjectWarning,
    RectificationTask,
    TrackingReport,
    User,
)
from .operations import insert_ignoring_duplicates
from .permissions import CITY_WIDE_ROLES
from .types import utcnow

# How far back the month picker reaches.
MONTHS_OFFERED = 12
STALE_DATA = (
    "生成期间数据已更新(调度报告、预警或批复有变化),本份报告未予生成。请按最新数据重新生成。"
)
# Statuses a request joins instead of starting another job.
LIVE_STATUSES = ("queued", "running", "ready")


# --- months and scopes ----------------------------------------------------------------------


def month_end(month: date) -> date:
    """The last day of the month."""
    return month.replace(day=monthrange(month.year, month.month)[1])


def as_of_for(month: date, today: date) -> date:
    """The day a month's figures are taken on: its last day, or today while it runs."""
    return min(month_end(month), today)


def months_offered(today: date) -> list[date]:
    """The months a report may be asked for, newest first."""
    this_month = tracking.month_start(today)
    return [tracking.add_months(this_month, -n) for n in range(MONTHS_OFFERED)]


def month_label(month: date) -> str:
    """How pages name a month: 2026年11月."""
    return f"{month:%Y年%m月}"


def scope_key(district_id: int | None) -> str:
    """The scope column's value: "city" or the district's id."""
    return "city" if district_id is None else str(district_id)


def allowed_district(user: User, district_id: int | None) -> int | None:
    """The district a user's report covers: district users always their own district."""
    if user.is_district_user:
        return user.district_id
    if user.role not in CITY_WIDE_ROLES:
        raise NotPermitted("只有区县和市级用户可以生成月度调度报告")
    return district_id


# --- the data -------------------------------------------------------------------------------


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _scoped(query: Select, district_id: int | None) -> Select:
    return query if district_id is None else query.where(Project.district_id == district_id)


def _period_of(decl: Declaration, month: date) -> date | None:
    """The report period that covers the month (quarterly programs: the quarter's first month)."""
    first = tracking.first_period(decl)
    if first is None or month < first:
        return None
    step = tracking.period_months(decl)
    return tracking.add_months(first, tracking.months_between(first, month) // step * step)


def _report_rows(month: date, as_of: date, today: date, district_id: int | None) -> list[dict]:
    """Every declaration funded by the month's end with its report for the month."""
    decls = db.session.scalars(
        _scoped(
            select(Declaration)
            .join(Project, Declaration.project_id == Project.id)
            .join(District, Project.district_id == District.id)
            .where(Declaration.stage == "approved", Declaration.approved_on <= as_of)
            .options(joinedload(Declaration.project), joinedload(Declaration.program))
            .order_by(District.sort_order, District.id, Declaration.approved_on, Declaration.id),
            district_id,
        )
    ).all()
    periods = {decl.id: _period_of(decl, month) for decl in decls}
    reports = {
        (r.declaration_id, r.period): r
        for r in db.session.scalars(
            select(TrackingReport).where(
                TrackingReport.declaration_id.in_([d.id for d in decls]),
                TrackingReport.period.in_({p for p in periods.values() if p}),
            )
        )
    }
    rows = []
    for decl in decls:
        period = periods[decl.id]
        report = reports.get((decl.id, period))
        delivered = report is not None and report.status in tracking.DELIVERED_STATUSES
        due = tracking.due_on(decl, period) if period else None
        if delivered:
            status = report.status_label
        elif due is not None and due < today:
            status = "逾期未报"
        else:
            status = "未报送"
        rows.append(
            {
                "project": decl.project.name,
                "district": decl.project.district.name,
                "program": decl.program.title,
                "period": tracking.period_label(decl, period) if period else "",
                "due_on": due.isoformat() if due else None,
                "status": status,
                "overdue": status == "逾期未报",
                "approved_amount": _money(decl.approved_amount),
                "progress_percent": _money(report.progress_percent) if delivered else None,
                "investment_completed": _money(report.investment_completed) if delivered else None,
                "funds_received": _money(report.funds_received()) if delivered else None,
                "payment": _money(report.payment_cumulative) if delivered else None,
                "problems": report.problems if delivered else "",
            }
        )
    return rows


def _warning_rows(month: date, as_of: date, district_id: int | None) -> list[dict]:
    """Warnings raised in the month, and older ones still open, with their tasks."""
    query = (
        select(ProjectWarning)
        .where(
            ProjectWarning.raised_on <= as_of,
            (ProjectWarning.raised_on >= month) | (ProjectWarning.status == "open"),
        )
        .options(
            joinedload(ProjectWarning.rule),
            joinedload(ProjectWarning.district),
            joinedload(ProjectWarning.task).joinedload(RectificationTask.owner),
            joinedload(ProjectWarning.declaration).joinedload(Declaration.project),
        )
        .order_by(ProjectWarning.raised_on, ProjectWarning.id)
    )
    if district_id is not None:
        query = query.where(ProjectWarning.district_id == district_id)
    rows = []
    for warning in db.session.scalars(query).unique():
        task = warning.task
        rows.append(
            {
                "raised_on": warning.raised_on.isoformat(),
                "new": warning.raised_on >= month,
                "district": warning.district.name,
                "project": warning.declaration.project.name,
                "rule": warning.rule.name,
                "level": warning.level_label,
                "message": warning.message,
                "status": warning.status_label,
                "task_status": task.status_label if task else "",
                "owner": task.owner.display_name if task and task.owner else "",
                "due_on": task.due_on.isoformat() if task else None,
                "task_overdue": bool(task and task.status != "closed" and task.due_on < as_of),
            }
        )
    return rows


def _jsonable(value: Any) -> Any:
    """Dataclasses, decimals and dates as plain JSON values (for the fingerprint)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


def monthly_data(month: date, district_id: int | None, *, today: date) -> dict[str, Any]:
    """Everything the month's report shows, as plain data (see documents/monthly.py)."""
    as_of = as_of_for(month, today)
    district = db.session.get(District, district_id) if district_id is not None else None
    figures = dashboard.dashboard_data(as_of, district_id=district_id)
    reports = _report_rows(month, as_of, today, district_id)
    warnings = _warning_rows(month, as_of, district_id)
    return {
        "month": month.isoformat(),
        "month_label": month_label(month),
        "scope": district.name if district else "全市",
        "as_of": as_of.isoformat(),
        "dashboard": figures,
        "reports": reports,
        "report_counts": {
            "total": len(reports),
            "delivered": sum(1 for r in reports if r["progress_percent"] is not None),
            "overdue": sum(1 for r in reports if r["overdue"]),
        },
        "warnings": warnings,
        "warning_counts": {
            "new": sum(1 for w in warnings if w["new"]),
            "open": sum(1 for w in warnings if w["status"] == vocab.WARNING_STATUSES["open"]),
            "task_overdue": sum(1 for w in warnings if w["task_overdue"]),
        },
        "levels": vocab.WARNING_LEVELS,
    }


def printable(data: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """The data as the PDF shows it: the dashboard's charts drawn as SVG text, the fingerprint
    of the data in every page's footer."""
    charts = dashboard.dashboard_charts(data["dashboard"])
    return {
        **data,
        "charts": {name: str(svg) for name, svg in charts.items()},
        "fingerprint": fingerprint[:12],
    }


def data_hash(data: dict[str, Any]) -> str:
    """The SHA-256 of the data in a canonical JSON form."""
    canonical = json.dumps(_jsonable(data), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_hash(month: date, district_id: int | None, *, today: date) -> str:
    """The fingerprint of the month's data as it stands now."""
    return data_hash(monthly_data(month, district_id, today=today))


# --- requests -------------------------------------------------------------------------------


def request_monthly_report(
    month: date, district_id: int | None, *, actor: User, today: date
) -> tuple[MonthlyReport, bool]:
    """The report of the month's current data; returns it and whether a job must be queued.

    Asking again while the data is unchanged returns the same report; a failed one is retried.
    """
    district_id = allowed_district(actor, district_id)
    if month.day != 1 or month not in months_offered(today):
        raise Invalid(
            f"只能生成最近 {MONTHS_OFFERED} 个月的月度调度报告",
            fields={"month": "请选择月份"},
        )
    if district_id is not None and db.session.get(District, district_id) is None:
        raise Invalid("请选择区县", fields={"district_id": "请选择区县"})
    fingerprint = current_hash(month, district_id, today=today)
    key = {"month": month, "scope": scope_key(district_id), "data_hash": fingerprint}
    report = db.session.scalar(select(MonthlyReport).filter_by(**key))
    if report is not None and report.status in LIVE_STATUSES:
        return report, False
    if report is None:
        inserted = db.session.execute(
            insert_ignoring_duplicates(MonthlyReport)
            .values(
                **key,
                district_id=district_id,
                job_id=f"monthly-{uuid4().hex}",
                status="queued",
                requested_by_id=actor.id,
                created_at=utcnow(),
            )
            .returning(MonthlyReport.id)
        ).scalar()
        if inserted is None:  # someone asked for the same data a moment ago: join theirs
            return request_monthly_report(month, district_id, actor=actor, today=today)
        report = db.session.get(MonthlyReport, inserted)
    else:
        report.status, report.error, report.job_id = "queued", None, f"monthly-{uuid4().hex}"
        db.session.flush()
    record(
        actor,
        "monthly_report",
        report.id,
        "request",
        after={"month": month.isoformat(), "scope": report.scope, "data_hash": fingerprint},
    )
    return report, True


# --- reading --------------------------------------------------------------------------------


def visible_reports(user: User) -> Select:
    """The monthly reports a user may see: district users their district's, the city all."""
    query = select(MonthlyReport).options(joinedload(MonthlyReport.district))
    if user.is_district_user:
        return query.where(MonthlyReport.district_id == user.district_id)
    if user.role in CITY_WIDE_ROLES:
        return query
    return query.where(False)


def monthly_report_or_404(report_id: int, user: User) -> MonthlyReport:
    """The report if the user may see it (another district's, or an expert: 404)."""
    report = db.session.scalar(visible_reports(user).where(MonthlyReport.id == report_id))
    if report is None:
        abort(404)
    return report


def file_name_of(report: MonthlyReport) -> str:
    """The stored file's name: id, month and the start of the fingerprint."""
    return f"monthly-{report.id}-{report.month:%Y%m}-{report.data_hash[:12]}.pdf"


def download_name(report: MonthlyReport) -> str:
    """The name a downloaded file carries: 月度调度报告-盐都区-2026年11月.pdf."""
    scope = report.district.name if report.district else "全市"
    return f"月度调度报告-{scope}-{month_label(report.month)}.pdf"
