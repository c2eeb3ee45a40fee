"""Tracking after approval: the fund channel, report validation, the report lifecycle, reminders."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import factories
from tests.workflow.conftest import audit_rows
from tests.workflow.test_operations import jpeg_bytes, png_bytes
from workflow import reminders, tracking
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Declaration, Notification, TrackingReport
from workflow.operations import local_today
from workflow.storage import upload_path

TODAY = date(2026, 6, 15)
D = Decimal


def funded(cast, *, months_ago: int = 0, every: int = 1) -> Declaration:
    """A declaration approved (through the real workflow) in the month ``months_ago`` back."""
    program = factories.program(report_period_months=every)
    decl = cast.declaration_in("approved", program=program)
    # The approval date the manager typed: back-dated so that past periods exist.
    decl.approved_on = tracking.add_months(tracking.month_start(local_today()), -months_ago)
    db.session.commit()
    return decl


def this_month() -> date:
    return tracking.month_start(local_today())


# --- validation (pure) ----------------------------------------------------------------------


def _decl(amount: str | None = "100") -> Declaration:
    return Declaration(approved_amount=D(amount) if amount else None)


PREVIOUS = TrackingReport(
    progress_percent=D("40"),
    investment_completed=D("60"),
    received_central=D("20"),
    payment_cumulative=D("10"),
)


@pytest.mark.parametrize(
    ("values", "previous", "field", "fragment"),
    [
        ({"progress_percent": D("100.5")}, None, "progress_percent", "0–100"),
        ({"progress_percent": D("-1")}, None, "progress_percent", "不能为负数"),
        ({"investment_completed": D("-0.01")}, None, "investment_completed", "不能为负数"),
        ({"received_loan": D("1.234")}, None, "received_loan", "两位小数"),
        ({"investment_completed": D("59.99")}, PREVIOUS, "investment_completed", "60"),
        ({"progress_percent": D("30")}, PREVIOUS, "progress_percent", "更正说明"),
        ({"received_central": D("19")}, PREVIOUS, "received_central", "累计数"),
        (
            {"received_central": D("20"), "payment_cumulative": D("9")},
            PREVIOUS,
            "payment_cumulative",
            "累计数",
        ),
        (
            {"received_central": D("20"), "payment_cumulative": D("20.01")},
            None,
            "payment_cumulative",
            "超过累计到位资金",
        ),
        (
            {"received_central": D("60"), "received_self": D("40.01")},
            None,
            "funds_received",
            "超过下达金额 100",
        ),
        ({"actual_start_on": TODAY + timedelta(days=1)}, None, "actual_start_on", "不能晚于今天"),
    ],
)
def test_report_errors_name_the_field_and_the_rule(values, previous, field, fragment):
    errors = tracking.report_errors(values, previous, _decl(), today=TODAY)
    assert field in errors
    assert fragment in errors[field]


@pytest.mark.parametrize(
    ("values", "previous"),
    [
        ({}, None),
        ({"progress_percent": D("100"), "investment_completed": D("0")}, None),
        ({"received_loan": D("1.20"), "actual_start_on": TODAY}, None),
        # Equal to the last accepted report is no decrease.
        (
            {
                "progress_percent": D("40"),
                "investment_completed": D("60"),
                "received_central": D("20"),
                "payment_cumulative": D("10"),
            },
            PREVIOUS,
        ),
        # A decrease with a reason is a correction.
        ({"investment_completed": D("50"), "correction_reason": "上期误报"}, PREVIOUS),
        # Payment beyond receipts, receipts beyond the amount issued: explained.
        (
            {
                "received_central": D("100"),
                "received_self": D("50"),
                "payment_cumulative": D("160"),
                "explanation": "企业先行垫付",
            },
            None,
        ),
    ],
)
def test_report_errors_accept_valid_values(values, previous):
    assert tracking.report_errors(values, previous, _decl(), today=TODAY) == {}


def test_a_blank_reason_is_no_reason():
    errors = tracking.report_errors(
        {"investment_completed": D("50"), "correction_reason": "  "}, PREVIOUS, _decl(), today=TODAY
    )
    assert "investment_completed" in errors


def test_without_an_issued_amount_receipts_are_not_capped():
    values = {"received_central": D("999")}
    assert tracking.report_errors(values, None, _decl(None), today=TODAY) == {}


# --- periods (pure) -------------------------------------------------------------------------


def test_period_arithmetic_crosses_years():
    assert tracking.add_months(date(2026, 11, 20), 3) == date(2027, 2, 1)
    assert tracking.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert tracking.months_between(date(2025, 11, 1), date(2026, 2, 1)) == 3


# --- the fund channel of the upstream result -------------------------------------------------


def test_the_manager_records_the_channel_with_an_audit_row(cast):
    decl = cast.declaration_in("approved")
    tracking.record_approval_channel(decl, "special_treasury_bond", actor=cast.world.manager)
    db.session.commit()
    assert decl.approved_channel == "special_treasury_bond"
    row = audit_rows(decl.id)[-1]
    assert (row.action, row.after) == ("update", {"approved_channel": "special_treasury_bond"})


@pytest.mark.parametrize(
    ("stage", "role", "channel", "error"),
    [
        ("approved", "district_staff", "central_budget", NotPermitted),
        ("recommended", "manager", "central_budget", Conflict),
        ("approved", "manager", "made_up", Invalid),
    ],
)
def test_the_channel_is_refused(cast, stage, role, channel, error):
    decl = cast.declaration_in(stage)
    with pytest.raises(error):
        tracking.record_approval_channel(decl, channel, actor=cast.actor(role))
    assert decl.approved_channel is None


# --- creating reports -----------------------------------------------------------------------


def test_staff_create_a_draft_report_with_an_audit_row(cast):
    decl = funded(cast, months_ago=1)
    period = tracking.add_months(this_month(), -1)
    report = tracking.create_report(
        decl, period, {"progress_text": " 主体施工 ", "progress_percent": D("1")},
        actor=cast.world.staff,
    )  # fmt: skip
    db.session.commit()
    assert (report.status, report.progress_text, report.created_by) == (
        "draft",
        "主体施工",
        cast.world.staff,
    )
    row = audit_rows(report.id, "tracking_report")[-1]
    assert row.action == "create"
    assert row.after == {"declaration_id": decl.id, "period": period.isoformat()}


@pytest.mark.parametrize("who", ["other_staff", "reviewer", "manager"])
def test_only_the_districts_staff_create_reports(cast, who):
    decl = funded(cast)
    with pytest.raises(NotPermitted):
        tracking.create_report(decl, this_month(), {}, actor=getattr(cast.world, who))


def test_reports_need_a_funded_declaration(cast):
    decl = cast.declaration_in("recommended")
    with pytest.raises(Conflict, match="批复后"):
        tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)


@pytest.mark.parametrize(
    ("every", "months_ago", "offset", "day", "fragment"),
    [
        (1, 2, 0, 2, "第一天"),
        (1, 0, 1, 1, "未来"),
        (1, 2, -3, 1, "早于批复月份"),
        (3, 4, -2, 1, "每 3 个月"),
    ],
)
def test_periods_must_be_first_days_aligned_and_not_future(
    cast, every, months_ago, offset, day, fragment
):
    decl = funded(cast, months_ago=months_ago, every=every)
    period = tracking.add_months(this_month(), offset).replace(day=day)
    with pytest.raises(Invalid, match=fragment) as caught:
        tracking.create_report(decl, period, {}, actor=cast.world.staff)
    assert "period" in caught.value.fields


def test_quarterly_periods_count_from_the_approval_month(cast):
    decl = funded(cast, months_ago=3, every=3)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    assert report.period == this_month()


def test_one_report_per_period(cast):
    decl = funded(cast)
    tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    db.session.commit()
    with pytest.raises(Conflict, match="已经存在"):
        tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)


def test_invalid_values_create_nothing(cast):
    decl = funded(cast)
    with pytest.raises(Invalid) as caught:
        tracking.create_report(
            decl, this_month(), {"progress_percent": D("120")}, actor=cast.world.staff
        )
    assert set(caught.value.fields) == {"progress_percent"}
    db.session.rollback()
    assert db.session.scalar(select(TrackingReport.id)) is None


# --- editing, submitting, reviewing ---------------------------------------------------------


def full_values(**overrides) -> dict:
    values = {
        "progress_text": "设备安装中",
        "progress_percent": D("1"),
        "investment_completed": D("120"),
        "received_central": D("100"),
        "payment_cumulative": D("80"),
    }
    values.update(overrides)
    return values


def submitted(cast, decl, period, **overrides) -> TrackingReport:
    report = tracking.create_report(decl, period, full_values(**overrides), actor=cast.world.staff)
    tracking.submit_report(report, actor=cast.world.staff)
    db.session.commit()
    return report


def test_progress_is_stored_up_to_100_percent(cast):
    """Fails on SQLite while migration 0007's CHECK compares SQLite's scaled integers to 100."""
    decl = funded(cast)
    report = tracking.create_report(
        decl, this_month(), {"progress_percent": D("100")}, actor=cast.world.staff
    )
    db.session.commit()
    db.session.expire(report)
    assert report.progress_percent == D("100.00")


def test_update_checks_the_version_and_audits_the_change(cast):
    decl = funded(cast)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    db.session.commit()
    seen = report.version
    tracking.update_report(
        report, {"progress_percent": D("0.5")}, actor=cast.world.staff, expected_version=seen
    )
    db.session.commit()
    row = audit_rows(report.id, "tracking_report")[-1]
    assert (row.action, row.before, row.after) == (
        "update",
        {"progress_percent": None},
        {"progress_percent": "0.50"},
    )
    with pytest.raises(Conflict, match="已被他人修改"):
        tracking.update_report(
            report, {"progress_percent": D("1")}, actor=cast.world.staff, expected_version=seen
        )


def test_submission_needs_the_required_figures(cast):
    decl = funded(cast)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    with pytest.raises(Invalid) as caught:
        tracking.submit_report(report, actor=cast.world.staff)
    assert set(caught.value.fields) == set(tracking.REQUIRED_TO_SUBMIT)
    assert report.status == "draft"


def test_a_submitted_report_cannot_be_edited(cast):
    decl = funded(cast)
    report = submitted(cast, decl, this_month())
    assert report.status == "submitted" and report.submitted_at is not None
    with pytest.raises(Conflict, match="不能修改"):
        tracking.update_report(report, {}, actor=cast.world.staff, expected_version=None)
    assert audit_rows(report.id, "tracking_report")[-1].action == "submit"


def test_returning_needs_a_comment_and_tells_the_author(cast):
    decl = funded(cast)
    report = submitted(cast, decl, this_month())
    with pytest.raises(Invalid, match="请填写意见"):
        tracking.review_report(report, False, " ", actor=cast.world.reviewer)
    tracking.review_report(report, False, "支付数据有误", actor=cast.world.reviewer)
    db.session.commit()
    assert (report.status, report.reviewed_by, report.review_comment) == (
        "returned",
        cast.world.reviewer,
        "支付数据有误",
    )
    note = db.session.scalars(select(Notification)).one()
    assert (note.user_id, note.kind, note.body) == (
        cast.world.staff.id,
        "report_reviewed",
        "支付数据有误",
    )
    assert "退回" in note.title
    assert audit_rows(report.id, "tracking_report")[-1].action == "return"
    # Returned reports are edited and submitted again.
    tracking.update_report(
        report, {"payment_cumulative": D("70")}, actor=cast.world.staff, expected_version=None
    )
    tracking.submit_report(report, actor=cast.world.staff)
    assert report.status == "submitted"


@pytest.mark.parametrize("who", ["other_reviewer", "staff", "city"])
def test_only_the_districts_reviewer_reviews(cast, who):
    decl = funded(cast)
    report = submitted(cast, decl, this_month())
    with pytest.raises(NotPermitted):
        tracking.review_report(report, True, "", actor=getattr(cast.world, who))
    assert report.status == "submitted"


def test_drafts_cannot_be_reviewed(cast):
    decl = funded(cast)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    with pytest.raises(Conflict):
        tracking.review_report(report, True, "", actor=cast.world.reviewer)


def test_an_accepted_report_sets_the_floor_of_the_next(cast):
    decl = funded(cast, months_ago=1)
    first = submitted(cast, decl, tracking.add_months(this_month(), -1))
    tracking.review_report(first, True, "", actor=cast.world.reviewer)
    db.session.commit()
    assert audit_rows(first.id, "tracking_report")[-1].action == "accept"
    with pytest.raises(Invalid) as caught:
        tracking.create_report(
            decl, this_month(), {"investment_completed": D("100")}, actor=cast.world.staff
        )
    assert "120" in caught.value.fields["investment_completed"]
    report = tracking.create_report(
        decl,
        this_month(),
        {"investment_completed": D("100"), "correction_reason": "上期含未结算工程款"},
        actor=cast.world.staff,
    )
    assert report.correction_reason == "上期含未结算工程款"


# --- photos ---------------------------------------------------------------------------------


def test_photos_are_images_judged_by_their_bytes(cast):
    decl = funded(cast)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    photo = tracking.add_report_photo(
        report, filename="../工地.pdf", content=png_bytes(), actor=cast.world.staff
    )
    db.session.commit()
    assert (photo.content_type, photo.original_name) == ("image/png", "工地.pdf")
    assert upload_path(photo.stored_name).read_bytes() == png_bytes()
    jpeg = tracking.add_report_photo(
        report, filename="a.jpg", content=jpeg_bytes(), actor=cast.world.staff
    )
    assert jpeg.content_type == "image/jpeg"
    assert audit_rows(report.id, "tracking_report")[-1].action == "upload"
    with pytest.raises(Invalid, match="JPG 或 PNG"):
        tracking.add_report_photo(
            report, filename="a.png", content=factories.pdf_bytes(), actor=cast.world.staff
        )


def test_photos_are_capped_at_the_upload_limit(cast, app):
    decl = funded(cast)
    report = tracking.create_report(decl, this_month(), {}, actor=cast.world.staff)
    app.config["MAX_CONTENT_LENGTH"] = len(png_bytes()) - 1
    with pytest.raises(Invalid, match="不能超过"):
        tracking.add_report_photo(
            report, filename="a.png", content=png_bytes(), actor=cast.world.staff
        )


def test_photos_are_refused_once_submitted(cast):
    decl = funded(cast)
    report = submitted(cast, decl, this_month())
    with pytest.raises(Conflict):
        tracking.add_report_photo(
            report, filename="a.png", content=png_bytes(), actor=cast.world.staff
        )


# --- what is due ----------------------------------------------------------------------------


def test_due_reports_lists_ended_periods_past_their_grace_days(cast):
    decl = funded(cast, months_ago=3)
    today = local_today()
    expected = [
        period
        for period in tracking.periods_until(decl, today)
        if tracking.due_on(decl, period) < today
    ]
    # Three months back: at least the two oldest periods are past their grace days.
    assert len(expected) >= 2
    assert [d.period for d in tracking.due_reports(today)] == expected
    submitted(cast, decl, expected[0])
    remaining = [d.period for d in tracking.due_reports(today)]
    assert remaining == expected[1:]


def test_the_grace_runs_in_working_days_after_the_period_ends(cast):
    decl = funded(cast)
    period = this_month()
    end = tracking.period_end(decl, period)
    deadline = tracking.due_on(decl, period)
    assert end.month == period.month and (end + timedelta(days=1)).day == 1
    assert deadline > end + timedelta(days=4)
    assert [d.period for d in tracking.due_reports(deadline)] == []
    overdue = tracking.due_reports(deadline + timedelta(days=1))
    assert [(d.period, d.due_on) for d in overdue] == [(period, deadline)]


def test_drafts_do_not_count_and_declarations_not_funded_are_ignored(cast):
    decl = funded(cast, months_ago=2)
    cast.declaration_in("recommended")
    tracking.create_report(decl, tracking.first_period(decl), {}, actor=cast.world.staff)
    db.session.commit()
    later = tracking.add_months(this_month(), 2)
    assert tracking.first_period(decl) in [d.period for d in tracking.due_reports(later)]
    assert {d.declaration.id for d in tracking.due_reports(later)} == {decl.id}


def test_reminders_go_to_the_districts_staff_once_per_period(cast):
    decl = funded(cast, months_ago=2)
    later = tracking.add_months(this_month(), 1)
    overdue = tracking.due_reports(later)
    assert overdue
    assert tracking.send_report_reminders(later) == len(overdue)
    db.session.commit()
    assert tracking.send_report_reminders(later) == 0
    notes = db.session.scalars(select(Notification)).all()
    assert {n.user_id for n in notes} == {cast.world.staff.id}
    assert {n.kind for n in notes} == {"report_due"}
    assert all(n.link == f"/declarations/{decl.id}" for n in notes)
    assert tracking.send_report_reminders in reminders.DAILY_REMINDERS


def test_national_day_and_its_make_up_saturday_move_the_due_date(cast):
    """September 2026's report: 10月1–7日 are holidays, Saturday 10月10日 is a working day."""
    decl = funded(cast)
    decl.approved_on = date(2026, 9, 15)
    db.session.commit()
    september = date(2026, 9, 1)
    # Oct 8, 9, 10 (调休 Saturday), 12, 13: the fifth working day after Sept 30.
    assert tracking.due_on(decl, september) == date(2026, 10, 13)
    assert tracking.due_reports(date(2026, 10, 13)) == []
    assert [d.period for d in tracking.due_reports(date(2026, 10, 14))] == [september]


def test_owed_reports_are_due_in_the_grace_days_then_overdue(cast):
    decl = funded(cast)
    decl.approved_on = date(2026, 9, 15)
    db.session.commit()
    september, october = date(2026, 9, 1), date(2026, 10, 1)
    # While a period runs nothing is owed; from the day after its end it is due.
    assert tracking.reports_owed(date(2026, 9, 30), [decl]) == []
    owed = tracking.reports_owed(date(2026, 10, 2), [decl])
    assert [(o.period, o.due_on, o.overdue, o.report) for o in owed] == [
        (september, date(2026, 10, 13), False, None)
    ]
    later = tracking.reports_owed(date(2026, 11, 2), [decl])
    assert [(o.period, o.overdue) for o in later] == [(september, True), (october, False)]
    # A draft still counts as owed (and is offered to continue); a submitted one does not.
    draft = tracking.create_report(decl, september, {}, actor=cast.world.staff)
    db.session.commit()
    assert tracking.reports_owed(date(2026, 11, 2), [decl])[0].report == draft
    tracking.update_report(draft, full_values(), actor=cast.world.staff, expected_version=None)
    tracking.submit_report(draft, actor=cast.world.staff)
    db.session.commit()
    assert [o.period for o in tracking.reports_owed(date(2026, 11, 2), [decl])] == [october]
