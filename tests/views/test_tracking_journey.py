"""Issue 6's story through the pages: a funded project reports monthly, falls behind, is warned,
rectifies, and a manager sees it on the dashboard and in the monthly PDF."""

import io
from datetime import timedelta
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from tests import factories
from tests.views.html import page
from workflow import queue, tracking
from workflow.extensions import db
from workflow.models import MonthlyReport, ProjectWarning, TrackingReport
from workflow.operations import local_today

NAME = "盐都区智慧水务调度平台"


def funded_three_months_ago(world):
    """A project planned from three months back over a year, approved in its first month."""
    this_month = tracking.month_start(local_today())
    start = tracking.add_months(this_month, -3)
    project = factories.project(
        world.yandu,
        name=NAME,
        planned_start=start,
        planned_end=tracking.add_months(start, 12) - timedelta(days=1),
    )
    decl = factories.declaration(project, world.program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    approval = {"doc_number": "发改投资〔2026〕31号", "amount": Decimal("300.00")}
    factories.act(
        decl, "record_approval", world.manager, "同意", approval={**approval, "approved_on": start}
    )
    return decl, [tracking.add_months(start, n) for n in range(3)]


def test_falls_behind_is_warned_rectified_and_seen_by_the_manager(world, login):
    decl, periods = funded_three_months_ago(world)

    # Three monthly reports, each filed and sent by the district staff and accepted.
    for number, period in enumerate(periods, start=1):
        staff = login(world.staff)
        response = staff.post(
            f"/declarations/{decl.id}/reports/new",
            data={
                "period": period.isoformat(),
                "actual_start_on": periods[0].isoformat(),
                "progress_text": f"第{number}个月:设备采购中",
                "progress_percent": str(number),
                "investment_completed": str(10 * number),
                "received_central": "100",
                "payment_cumulative": str(5 * number),
            },
        )
        assert response.status_code == 302, page(response).text
        report = db.session.scalar(select(TrackingReport).where(TrackingReport.period == period))
        staff.post(f"/reports/{report.id}/submit", data={"version": str(report.version)})
        db.session.refresh(report)
        reviewer = login(world.reviewer)
        response = reviewer.post(
            f"/reports/{report.id}/review",
            data={"decision": "accept", "comment": "", "version": str(report.version)},
        )
        assert response.status_code == 302
        db.session.refresh(report)
        assert report.status == "accepted"

    # Three months into a year-long plan at 3 %: the city's check raises 进度滞后.
    city = login(world.city)
    checked = city.post("/warnings/check", follow_redirects=True)
    assert any("新增预警" in alert for alert in page(checked).alerts())
    warning = db.session.scalar(
        select(ProjectWarning).where(ProjectWarning.declaration_id == decl.id)
    )
    assert warning.rule.name == "进度滞后" and warning.task.owner == world.staff
    path = f"/warnings/{warning.id}"
    board = page(login(world.manager).get("/dashboard"))
    assert board.by_id("kpi-warnings").find("strong").text == "1"

    # The district answers with evidence; the city closes it.
    staff = login(world.staff)
    assert NAME in page(staff.get("/inbox")).by_id("rectifications").text
    staff.post(
        f"{path}/evidence",
        data={"file": (io.BytesIO(factories.pdf_bytes()), "赶工计划.pdf")},
        content_type="multipart/form-data",
    )
    db.session.refresh(warning.task)
    response = staff.post(
        f"{path}/response",
        data={
            "response": "已调整施工组织,增加作业班组,报送赶工计划。",
            "action": "submit",
            "version": str(warning.task.version),
        },
    )
    assert response.status_code == 302
    db.session.refresh(warning.task)
    manager = login(world.manager)
    response = manager.post(
        f"{path}/review",
        data={"decision": "close", "comment": "", "version": str(warning.task.version)},
    )
    assert response.status_code == 302
    assert page(manager.get(path)).by_id("task-status").text == "已销号"

    # The manager's dashboard: the funded project, its money, started, nothing left open.
    board = page(manager.get("/dashboard"))
    figures = {
        key: board.by_id(f"kpi-{key}").find("strong").text
        for key in ("funded", "issued", "started", "overdue", "warnings")
    }
    assert figures == {
        "funded": "1",
        "issued": "300.00",
        "started": "100.0%",
        "overdue": "0",
        "warnings": "0",
    }

    # This month's PDF names the project, the warning raised and closed this month, and the
    # three accepted reports in its trend.
    this_month = tracking.month_start(local_today())
    response = manager.post(
        "/tracking/monthly", data={"month": this_month.isoformat(), "district_id": ""}
    )
    assert response.status_code == 302
    monthly = db.session.scalar(select(MonthlyReport))
    assert queue.run_pending_jobs()
    download = manager.get(f"/monthly-reports/{monthly.id}/download")
    assert download.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(download.data)).pages)
    download.close()
    flat = text.replace("\n", "")
    assert NAME in flat and "本月新增" in flat
    assert "进度滞后" in flat and "已销号" in flat
