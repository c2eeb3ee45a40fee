"""Tracking report pages (调度报告): filling in, refusals that keep the typing, review, photos."""

import io

from sqlalchemy import select

from tests import factories
from tests.views.html import page
from tests.views.objects import yandu_objects
from workflow import tracking
from workflow.extensions import db
from workflow.models import ReportPhoto, TrackingReport
from workflow.operations import local_today

FIGURES = {
    "progress_text": "机房建设完成,设备进场",
    "progress_percent": "45",
    "investment_completed": "130",
    "received_central": "100",
    "received_local": "50",
    "payment_cumulative": "90",
}


def _this_month() -> str:
    return tracking.month_start(local_today()).isoformat()


def test_staff_file_a_report_through_the_form_and_submit_it(world, login):
    objects = yandu_objects(world)
    decl = objects.funded_declaration
    client = login(world.staff)
    listing = page(client.get("/tracking"))
    assert decl.project.name in listing.by_id("funded").text
    form = page(client.get(f"/declarations/{decl.id}/reports/new"))
    assert form.value("period") == _this_month()  # the only period without a report
    response = client.post(
        f"/declarations/{decl.id}/reports/new", data={"period": _this_month(), **FIGURES}
    )
    assert response.status_code == 302
    report = db.session.scalars(
        select(TrackingReport).where(TrackingReport.period == tracking.month_start(local_today()))
    ).one()
    assert (report.status, str(report.funds_received())) == ("draft", "150.00")
    shown = page(client.get(response.headers["Location"]))
    assert "累计到位资金合计(万元) 150.00" in " ".join(shown.by_id("funds-total").text.split())
    response = client.post(f"/reports/{report.id}/submit", data={"version": str(report.version)})
    assert response.status_code == 302
    db.session.refresh(report)
    assert report.status == "submitted"
    shown = page(client.get(f"/reports/{report.id}"))
    assert shown.by_id("report-status").text == "待区县审核"
    assert shown.by_id("submit-form") is None
    assert "报送调度报告" in shown.by_id("history").text


def test_a_wrong_figure_keeps_the_typing_and_says_why(world, login):
    objects = yandu_objects(world)
    decl = objects.funded_declaration
    client = login(world.staff)
    typed = {**FIGURES, "payment_cumulative": "999", "received_other": "300"}
    response = client.post(
        f"/declarations/{decl.id}/reports/new", data={"period": _this_month(), **typed}
    )
    assert response.status_code == 422
    shown = page(response)
    assert any(
        "累计支付 999.00 万元超过累计到位资金 450.00 万元" in e
        for e in shown.field_errors("payment_cumulative")
    )
    assert "超过下达金额 280.00 万元" in shown.by_id("funds-received-error").text
    for name, value in typed.items():
        assert shown.value(name) == value, name
    assert shown.value("period") == _this_month()
    assert (
        db.session.scalar(select(TrackingReport.id).where(TrackingReport.id != objects.report.id))
        is None
    )
    # With an explanation the same figures are accepted.
    response = client.post(
        f"/declarations/{decl.id}/reports/new",
        data={"period": _this_month(), **typed, "explanation": "含上级提前下达的下年度资金"},
    )
    assert response.status_code == 302


def test_the_reviewer_returns_with_a_comment_then_accepts(world, login):
    objects = yandu_objects(world)
    report = objects.report
    staff = login(world.staff)
    assert staff.post(f"/reports/{report.id}/submit", data={"version": "1"}).status_code == 302
    reviewer = login(world.reviewer)
    shown = page(reviewer.get(f"/reports/{report.id}"))
    assert shown.by_id("review-form") is not None
    version = shown.value("version", "review-form")
    response = reviewer.post(
        f"/reports/{report.id}/review",
        data={"decision": "return", "comment": "", "version": version},
    )
    assert response.status_code == 422
    assert "退回修改时请填写审核意见" in page(response).text
    response = reviewer.post(
        f"/reports/{report.id}/review",
        data={"decision": "return", "comment": "请补充支付凭证", "version": version},
    )
    assert response.status_code == 302
    db.session.refresh(report)
    assert (report.status, report.review_comment) == ("returned", "请补充支付凭证")
    staff = login(world.staff)
    shown = page(staff.get(f"/reports/{report.id}"))
    assert "请补充支付凭证" in shown.by_id("review-result").text
    assert (
        staff.post(
            f"/reports/{report.id}/submit", data={"version": str(report.version)}
        ).status_code
        == 302
    )
    reviewer = login(world.reviewer)
    db.session.refresh(report)
    response = reviewer.post(
        f"/reports/{report.id}/review",
        data={"decision": "accept", "comment": "", "version": str(report.version)},
    )
    assert response.status_code == 302
    db.session.refresh(report)
    assert report.status == "accepted"
    history = page(reviewer.get(f"/reports/{report.id}")).by_id("history").text
    assert history.count("退回修改") == 1 and "审核通过" in history
    # An accepted report can no longer be edited.
    assert login(world.staff).get(f"/reports/{report.id}/edit").status_code == 409


def test_another_district_gets_404(world, login):
    objects = yandu_objects(world)
    client = login(world.other_staff)
    for path in (
        f"/reports/{objects.report.id}",
        f"/report-photos/{objects.photo.id}",
        f"/declarations/{objects.funded_declaration.id}/reports/new",
    ):
        assert client.get(path).status_code == 404, path
    assert objects.funded_declaration.project.name not in page(client.get("/tracking")).text


def test_photo_upload_refuses_what_is_not_an_image(world, login):
    objects = yandu_objects(world)
    client = login(world.staff)
    response = client.post(
        f"/reports/{objects.report.id}/photos",
        data={"file": (io.BytesIO(factories.pdf_bytes()), "现场照片.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "只能是 JPG 或 PNG 图片" in page(response).text
    assert db.session.scalars(select(ReportPhoto)).all() == [objects.photo]
    download = client.get(f"/report-photos/{objects.photo.id}")
    assert download.status_code == 200
    assert download.mimetype == "image/jpeg"
    download.close()


def test_the_excel_export_holds_the_users_reports_only(world, login):
    from openpyxl import load_workbook

    objects = yandu_objects(world)
    report = objects.report
    report.problems = '=HYPERLINK("http://x")'
    db.session.commit()
    own = login(world.staff).get("/tracking/export.xlsx")
    assert own.status_code == 200
    cells = [
        str(c.value)
        for row in load_workbook(io.BytesIO(own.data)).active.iter_rows()
        for c in row
        if c.value is not None
    ]
    assert objects.funded_declaration.project.name in cells
    assert '\'=HYPERLINK("http://x")' in cells  # never a live formula
    other = login(world.other_staff).get("/tracking/export.xlsx")
    other_cells = {
        str(c.value)
        for row in load_workbook(io.BytesIO(other.data)).active.iter_rows()
        for c in row
    }
    assert objects.funded_declaration.project.name not in other_cells
    assert login(world.expert).get("/tracking/export.xlsx").status_code == 404


def test_the_inbox_lists_owed_reports_for_staff_and_submitted_ones_for_the_reviewer(world, login):
    objects = yandu_objects(world)
    decl, report = objects.funded_declaration, objects.report
    today = local_today()
    due = tracking.due_on(decl, report.period)  # last month's period has ended by today
    staff = login(world.staff)
    card = page(staff.get("/inbox")).by_id("owed-reports")
    row = next(tr for tr in card.find("tbody").find_all("tr") if decl.project.name in tr.text)
    assert tracking.period_label(decl, report.period) in row.text
    assert due.isoformat() in row.text
    assert ("已逾期" in row.text) == (due < today) == ("overdue" in row.classes)
    link = row.find_all("a")[-1]
    assert (link.text, link.attrs["href"]) == ("继续填写", f"/reports/{report.id}/edit")
    assert page(login(world.other_staff).get("/inbox")).by_id("owed-reports") is None
    assert page(login(world.reviewer).get("/inbox")).by_id("reports-to-review") is None

    tracking.update_report(report, FIGURES, actor=world.staff, expected_version=None)
    tracking.submit_report(report, actor=world.staff)
    db.session.commit()
    assert page(login(world.staff).get("/inbox")).by_id("owed-reports") is None
    waiting = page(login(world.reviewer).get("/inbox")).by_id("reports-to-review")
    assert decl.project.name in waiting.text
    link = waiting.find("tbody").find_all("a")[-1]
    assert (link.text, link.attrs["href"]) == ("审核", f"/reports/{report.id}")
