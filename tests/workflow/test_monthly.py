"""The monthly tracking report: its data, its fingerprint, joining requests, the rendered PDF."""

import io
from datetime import date
from decimal import Decimal as D

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.workflow.test_tracking import full_values
from workflow import jobs, monthly, tracking
from workflow.errors import Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import MonthlyReport
from workflow.storage import dossier_path

OCTOBER = date(2026, 10, 1)
# October's reports are due 5 working days after the 31st (a Saturday): Friday 6 November.
TODAY = date(2026, 11, 10)


def funded(cast, name: str):
    decl = cast.declaration_in("approved", project=cast.project(name=name))
    decl.approved_on = date(2026, 9, 15)
    db.session.commit()
    return decl


def filed(cast, decl, period, *, accept: bool, **figures):
    report = tracking.create_report(decl, period, full_values(**figures), actor=cast.world.staff)
    tracking.submit_report(report, actor=cast.world.staff)
    if accept:
        tracking.review_report(report, True, "", actor=cast.world.reviewer)
    db.session.commit()
    return report


@pytest.fixture
def month(cast):
    """Three projects funded in September: one accepted, one submitted, one silent in October."""
    accepted = funded(cast, "已审核的项目")
    filed(cast, accepted, date(2026, 9, 1), accept=True, progress_percent=D("10"))
    filed(cast, accepted, OCTOBER, accept=True, progress_percent=D("35.5"), problems="征地滞后")
    waiting = funded(cast, "待审核的项目")
    filed(cast, waiting, OCTOBER, accept=False)
    silent = funded(cast, "未报送的项目")
    return accepted, waiting, silent


def test_the_months_rows_say_what_each_funded_project_reported(cast, month):
    data = monthly.monthly_data(OCTOBER, None, today=TODAY)
    rows = {row["project"]: row for row in data["reports"]}
    assert (data["month_label"], data["scope"], data["as_of"]) == (
        "2026年10月",
        "全市",
        "2026-10-31",
    )
    accepted = rows["已审核的项目"]
    assert (accepted["status"], accepted["progress_percent"]) == ("已审核", "35.50")
    assert (accepted["funds_received"], accepted["payment"]) == ("100.00", "80.00")
    assert accepted["problems"] == "征地滞后" and accepted["period"] == "2026年10月"
    assert rows["待审核的项目"]["status"] == "待区县审核"
    silent = rows["未报送的项目"]
    assert (silent["status"], silent["overdue"], silent["due_on"]) == (
        "逾期未报",
        True,
        "2026-11-06",
    )
    assert silent["progress_percent"] is None
    assert data["report_counts"] == {"total": 3, "delivered": 2, "overdue": 1}
    # Before the grace days run out the silent one is only not yet reported.
    early = monthly.monthly_data(OCTOBER, None, today=date(2026, 11, 5))
    assert {r["project"]: r["status"] for r in early["reports"]}["未报送的项目"] == "未报送"


def test_a_district_report_holds_only_that_district(cast, month):
    yandu = monthly.monthly_data(OCTOBER, cast.world.yandu.id, today=TODAY)
    tinghu = monthly.monthly_data(OCTOBER, cast.world.tinghu.id, today=TODAY)
    assert (yandu["scope"], len(yandu["reports"])) == ("盐都区", 3)
    assert (tinghu["scope"], tinghu["reports"]) == ("亭湖区", [])


def test_the_fingerprint_is_stable_and_moves_with_the_data(cast, month):
    _, waiting, _ = month
    first = monthly.current_hash(OCTOBER, None, today=TODAY)
    assert monthly.current_hash(OCTOBER, None, today=TODAY) == first
    report = db.session.scalar(
        select(tracking.TrackingReport).where(tracking.TrackingReport.declaration_id == waiting.id)
    )
    tracking.review_report(report, True, "", actor=cast.world.reviewer)
    db.session.commit()
    assert monthly.current_hash(OCTOBER, None, today=TODAY) != first


def test_asking_twice_for_unchanged_data_joins_the_first_request(cast, month):
    manager = cast.actor("manager")
    report, needs_job = monthly.request_monthly_report(OCTOBER, None, actor=manager, today=TODAY)
    db.session.commit()
    assert needs_job and report.status == "queued" and report.scope == "city"
    again, needs_job = monthly.request_monthly_report(OCTOBER, None, actor=manager, today=TODAY)
    assert (again.id, needs_job) == (report.id, False)
    report.status = "failed"
    db.session.commit()
    retried, needs_job = monthly.request_monthly_report(OCTOBER, None, actor=manager, today=TODAY)
    assert (retried.id, retried.status, needs_job) == (report.id, "queued", True)
    assert db.session.scalar(select(func.count()).select_from(MonthlyReport)) == 1


def test_district_users_get_their_own_district_and_experts_nothing(cast, month):
    other = cast.world.other_staff
    report, _ = monthly.request_monthly_report(
        OCTOBER, cast.world.yandu.id, actor=other, today=TODAY
    )
    assert (report.district_id, report.scope) == (other.district_id, str(other.district_id))
    with pytest.raises(NotPermitted):
        monthly.request_monthly_report(OCTOBER, None, actor=cast.actor("expert"), today=TODAY)
    with pytest.raises(Invalid, match="最近 12 个月"):
        monthly.request_monthly_report(
            date(2025, 1, 1), None, actor=cast.actor("manager"), today=TODAY
        )


def test_the_job_renders_the_month_into_a_pdf(cast, month):
    report, _ = monthly.request_monthly_report(
        OCTOBER, None, actor=cast.actor("manager"), today=TODAY
    )
    db.session.commit()
    assert jobs.render_monthly_report(report.id, TODAY.isoformat())
    db.session.refresh(report)
    assert report.status == "ready" and report.page_count >= 2
    pdf = dossier_path(report.file_name).read_bytes()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "全市政策资金项目月度调度报告" in text
    for name in ("已审核的项目", "待审核的项目", "未报送的项目", "逾期未报", "征地滞后"):
        assert name in text
    assert report.data_hash[:12] in text


def test_the_job_refuses_data_that_moved_on_while_it_waited(cast, month):
    _, _, silent = month
    report, _ = monthly.request_monthly_report(
        OCTOBER, None, actor=cast.actor("manager"), today=TODAY
    )
    db.session.commit()
    filed(cast, silent, OCTOBER, accept=False)
    assert jobs.render_monthly_report(report.id, TODAY.isoformat()) == ""
    db.session.refresh(report)
    assert report.status == "failed" and "数据已更新" in report.error and not report.file_name
