"""Monthly tracking report pages: ask, watch, download; outdated marks; who may see which."""

from datetime import date

from sqlalchemy import select

from tests.views.html import has_cjk, page
from tests.views.objects import yandu_objects
from workflow import monthly, queue, tracking
from workflow.extensions import db
from workflow.models import MonthlyReport
from workflow.operations import local_today


def newest() -> MonthlyReport:
    """The report asked for last (yandu_objects holds one made before)."""
    return db.session.scalar(select(MonthlyReport).order_by(MonthlyReport.id.desc()).limit(1))


def city_row(client):
    """The listing's row of the citywide report."""
    table = page(client.get("/tracking/monthly")).by_id("monthly-reports")
    return next(tr for tr in table.find("tbody").find_all("tr") if "全市" in tr.text)


def last_month() -> date:
    return tracking.add_months(tracking.month_start(local_today()), -1)


def test_a_manager_asks_for_a_month_and_downloads_the_pdf(world, login):
    objects = yandu_objects(world)
    client = login(world.manager)
    form = page(client.get("/tracking/monthly"))
    assert form.value("month") == tracking.month_start(local_today()).isoformat()
    response = client.post(
        "/tracking/monthly", data={"month": last_month().isoformat(), "district_id": ""}
    )
    assert response.status_code == 302
    report = newest()
    assert response.headers["Location"] == f"/monthly-reports/{report.id}"
    shown = page(client.get(response.headers["Location"]))
    assert shown.by_id("dossier-status").text == "排队中"

    assert queue.run_pending_jobs()
    status = client.get(f"/monthly-reports/{report.id}/status").get_json()
    assert (status["status"], status["current"]) == ("ready", True)
    pdf = client.get(status["download_url"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "filename*=UTF-8''" in pdf.headers["Content-Disposition"]
    pdf.close()
    assert "已生成" in city_row(client).text and "已过期" not in city_row(client).text

    # Asking again for unchanged data does not start another job.
    again = client.post(
        "/tracking/monthly", data={"month": last_month().isoformat(), "district_id": ""}
    )
    assert again.headers["Location"] == f"/monthly-reports/{report.id}"
    assert not queue.run_pending_jobs()

    # A report accepted since changes the month's data: the file is marked outdated.
    draft = objects.report
    tracking.update_report(
        draft,
        {
            "progress_text": "主体完工",
            "progress_percent": 60,
            "investment_completed": 100,
            "payment_cumulative": 10,
        },
        actor=world.staff,
        expected_version=None,
    )
    tracking.submit_report(draft, actor=world.staff)
    db.session.commit()
    assert client.get(f"/monthly-reports/{report.id}/status").get_json()["current"] is False
    assert page(client.get(f"/monthly-reports/{report.id}")).by_id("monthly-outdated")
    assert "已过期" in city_row(client).text


def test_district_reports_stay_in_their_district(world, login):
    yandu_objects(world)
    own = login(world.staff).post(
        "/tracking/monthly",
        data={"month": last_month().isoformat(), "district_id": str(world.tinghu.id)},
    )
    report = newest()
    assert own.status_code == 302 and report.district_id == world.yandu.id
    assert monthly.download_name(report).startswith("月度调度报告-盐都区-")
    assert login(world.other_staff).get(f"/monthly-reports/{report.id}").status_code == 404
    assert login(world.reviewer).get(f"/monthly-reports/{report.id}").status_code == 200
    assert login(world.manager).get(f"/monthly-reports/{report.id}").status_code == 200
    assert login(world.expert).get("/tracking/monthly").status_code == 404


def test_a_month_outside_the_offer_is_refused_in_chinese(world, login):
    client = login(world.manager)
    response = client.post("/tracking/monthly", data={"month": "2001-01-01", "district_id": ""})
    assert response.status_code == 422
    error = page(response).root.find("span", class_="error")
    assert has_cjk(error.text)
    assert db.session.scalar(select(MonthlyReport)) is None
