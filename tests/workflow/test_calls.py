"""Collection calls (征集通知): the rules of calls and proposals, the board, and the reminders."""

from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from tests import factories
from tests.workflow.conftest import audit_rows, days, has_chinese
from workflow import calls, reminders
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import (
    CallProposal,
    CollectionCall,
    Notification,
    ProgramInvitation,
    Project,
    ReserveAdjustment,
    ReserveEntry,
)

# A Friday just after National Day 2026: three working days back is Tuesday 09-29 (10-01..07 off).
NATIONAL_DAY_DEADLINE = date(2026, 10, 9)


def call_values(world, **overrides) -> dict:
    """A valid reserve call to both districts, due in ten days."""
    values = {
        "title": "关于征集2026年度数据领域储备项目的通知",
        "purpose": "reserve",
        "year": days(0).year,
        "notice": "请各区县于截止日期前报送。",
        "deadline": days(10),
        "remind_working_days": 3,
        "district_ids": [world.yandu.id, world.tinghu.id],
    }
    values.update(overrides)
    return values


def make_call(world, *, actor=None, **overrides) -> CollectionCall:
    """A call created through the operation and committed."""
    call = calls.create_call(call_values(world, **overrides), actor=actor or world.city)
    db.session.commit()
    return call


@contextmanager
def on_day(monkeypatch, day: date):
    """Operations see ``day`` as today (deadlines are checked against it)."""
    with monkeypatch.context() as patch:
        patch.setattr(calls, "local_today", lambda: day)
        yield


def proposed(world, call, *, project=None, staff=None) -> CallProposal:
    """A project of 盐都区 put on the call and proposed, committed."""
    staff = staff or world.staff
    project = project or factories.project(staff.district)
    proposal = calls.add_proposal(call, project, "符合征集方向", actor=staff)
    calls.propose(proposal, actor=staff)
    db.session.commit()
    return proposal


def messages(user, kind: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)
        )
    )


# --- calls ----------------------------------------------------------------------------------


def test_the_city_publishes_a_call_and_the_districts_staff_are_told(world):
    call = make_call(world)
    assert call.status == "open" and call.version == 1
    assert {d.code for d in call.districts} == {"320903", "320902"}
    for staff in (world.staff, world.other_staff):
        (message,) = messages(staff, "call_opened")
        assert message.link == f"/calls/{call.id}"
        assert call.title in message.title
        assert call.deadline.isoformat() in message.body
    assert messages(world.reviewer, "call_opened") == []
    (row,) = audit_rows(call.id, "call")
    assert row.action == "create" and row.actor_id == world.city.id
    assert set(row.after["districts"]) == {"320903", "320902"}


def test_a_manager_may_publish_a_call_too(world):
    assert make_call(world, actor=world.manager).created_by_id == world.manager.id


@pytest.mark.parametrize("role", ["staff", "reviewer", "expert", "admin"])
def test_other_roles_may_not_publish(world, role):
    with pytest.raises(NotPermitted) as refused:
        calls.create_call(call_values(world), actor=getattr(world, role))
    assert has_chinese(refused.value.message)
    assert db.session.scalar(select(func.count()).select_from(CollectionCall)) == 0


def test_a_program_call_takes_the_program_year(world):
    call = make_call(world, purpose="program", program_id=world.program.id, year=None)
    assert call.program_id == world.program.id and call.year == world.program.year


def test_a_reserve_call_has_no_program(world):
    call = make_call(world, program_id=world.program.id)
    assert call.program_id is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"purpose": "other"}, "purpose"),
        ({"purpose": "program", "program_id": None}, "program_id"),
        ({"purpose": "reserve", "year": None}, "year"),
        ({"purpose": "reserve", "year": 2001}, "year"),
        ({"district_ids": []}, "district_ids"),
        ({"district_ids": [987654]}, "district_ids"),
        ({"deadline": None}, "deadline"),
        ({"deadline": "yesterday"}, "deadline"),
        ({"remind_working_days": -1}, "remind_working_days"),
        ({"remind_working_days": 31}, "remind_working_days"),
    ],
)
def test_a_call_with_bad_values_is_refused_field_by_field(world, overrides, field):
    if overrides.get("deadline") == "yesterday":
        overrides = {"deadline": days(-1)}  # today is only known inside the app
    with pytest.raises(Invalid) as refused:
        calls.create_call(call_values(world, **overrides), actor=world.city)
    assert field in refused.value.fields
    assert has_chinese(refused.value.fields[field])


def test_a_call_for_a_closed_program_is_refused(world):
    closed = factories.program(status="closed", title="已截止批次")
    with pytest.raises(Invalid) as refused:
        calls.create_call(
            call_values(world, purpose="program", program_id=closed.id), actor=world.city
        )
    assert "已截止批次" in refused.value.fields["program_id"]


def test_a_call_due_today_is_accepted(world):
    assert make_call(world, deadline=days(0), remind_working_days=0).deadline == days(0)


def test_editing_a_call_checks_the_version_and_tells_new_districts(world, make_district):
    third = make_district("320904", "大丰区")
    third_staff = factories.user("district_staff", third)
    call = make_call(world, district_ids=[world.yandu.id])
    with pytest.raises(Conflict):
        calls.update_call(call, {"title": "新标题"}, actor=world.city, expected_version=99)
    db.session.rollback()
    calls.update_call(
        call,
        {"district_ids": [world.yandu.id, third.id], "deadline": days(20)},
        actor=world.city,
        expected_version=1,
    )
    db.session.commit()
    assert call.version == 2
    assert len(messages(third_staff, "call_opened")) == 1
    assert len(messages(world.staff, "call_opened")) == 1  # not told twice
    assert messages(world.other_staff, "call_opened") == []
    row = audit_rows(call.id, "call")[-1]
    assert row.action == "update"
    assert row.before["districts"] == ["320903"]
    assert set(row.after["districts"]) == {"320903", "320904"}
    assert row.after["deadline"] == days(20).isoformat()


def test_changing_only_the_districts_still_makes_a_new_version(world):
    call = make_call(world, district_ids=[world.yandu.id])
    calls.update_call(
        call,
        {"district_ids": [world.yandu.id, world.tinghu.id]},
        actor=world.city,
        expected_version=1,
    )
    db.session.commit()
    assert call.version == 2


def test_a_district_that_answered_cannot_be_dropped(world):
    call = make_call(world)
    proposed(world, call)
    with pytest.raises(Invalid) as refused:
        calls.update_call(
            call, {"district_ids": [world.tinghu.id]}, actor=world.city, expected_version=None
        )
    assert "盐都区" in refused.value.message


def test_purpose_cannot_change_once_districts_answered(world):
    call = make_call(world)
    proposed(world, call)
    with pytest.raises(Conflict):
        calls.update_call(
            call,
            {"purpose": "program", "program_id": world.program.id},
            actor=world.city,
            expected_version=None,
        )


def test_closing_a_call(world):
    call = make_call(world)
    calls.close_call(call, actor=world.city, expected_version=1)
    db.session.commit()
    assert call.status == "closed"
    assert audit_rows(call.id, "call")[-1].action == "close"
    with pytest.raises(Conflict):
        calls.close_call(call, actor=world.city, expected_version=None)
    with pytest.raises(Conflict):
        calls.update_call(call, {"title": "x"}, actor=world.city, expected_version=None)
    with pytest.raises(NotPermitted):
        calls.close_call(make_call(world), actor=world.staff, expected_version=None)


# --- proposals ------------------------------------------------------------------------------


def test_staff_add_and_propose_their_project(world):
    call = make_call(world)
    project = factories.project(world.yandu)
    proposal = calls.add_proposal(call, project, " 前期要件齐全 ", actor=world.staff)
    db.session.commit()
    assert (proposal.status, proposal.district_id, proposal.note) == (
        "draft",
        world.yandu.id,
        "前期要件齐全",
    )
    calls.propose(proposal, actor=world.staff, expected_version=proposal.version)
    db.session.commit()
    assert proposal.status == "proposed" and proposal.proposed_at is not None
    assert [r.action for r in audit_rows(proposal.id, "call_proposal")] == ["create", "propose"]


def test_a_project_of_another_district_is_refused(world):
    call = make_call(world)
    with pytest.raises(NotPermitted) as refused:
        calls.add_proposal(call, factories.project(world.tinghu), "", actor=world.staff)
    assert "本区县" in refused.value.message


def test_a_district_the_call_does_not_target_is_refused(world):
    call = make_call(world, district_ids=[world.tinghu.id])
    with pytest.raises(NotPermitted) as refused:
        calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    assert "未面向" in refused.value.message


@pytest.mark.parametrize("role", ["reviewer", "city", "manager"])
def test_only_district_staff_add_proposals(world, role):
    call = make_call(world)
    with pytest.raises(NotPermitted):
        calls.add_proposal(call, factories.project(world.yandu), "", actor=getattr(world, role))


def test_a_closed_call_takes_no_proposals(world):
    call = make_call(world)
    draft = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    calls.close_call(call, actor=world.city, expected_version=None)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    assert "已截止" in refused.value.message
    with pytest.raises(Conflict):
        calls.propose(draft, actor=world.staff)


def test_after_the_deadline_districts_cannot_propose_until_it_is_extended(world, monkeypatch):
    call = make_call(world, deadline=days(2))
    draft = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    db.session.commit()
    with on_day(monkeypatch, days(3)):
        with pytest.raises(Conflict) as refused:
            calls.propose(draft, actor=world.staff)
        assert "延长截止日期" in refused.value.message
        with pytest.raises(Conflict):
            calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
        calls.update_call(
            call, {"deadline": days(5)}, actor=world.city, expected_version=call.version
        )
        calls.propose(draft, actor=world.staff)
        db.session.commit()
    assert draft.status == "proposed"


def test_a_removed_project_cannot_be_proposed(world):
    call = make_call(world)
    project = factories.project(world.yandu, maturity="removed", removed_reason="项目取消")
    with pytest.raises(Conflict) as refused:
        calls.add_proposal(call, project, "", actor=world.staff)
    assert "出库" in refused.value.message


def test_a_project_is_proposed_once_per_call(world):
    call = make_call(world)
    project = factories.project(world.yandu)
    calls.add_proposal(call, project, "", actor=world.staff)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        calls.add_proposal(call, project, "再报一次", actor=world.staff)
    assert "不能重复添加" in refused.value.message
    # The same project may answer another call.
    calls.add_proposal(make_call(world), project, "", actor=world.staff)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CallProposal)) == 2


def test_withdraw_goes_back_to_draft_until_the_city_decides(world):
    call = make_call(world)
    proposal = proposed(world, call)
    calls.withdraw_proposal(proposal, actor=world.staff, expected_version=proposal.version)
    db.session.commit()
    assert proposal.status == "draft" and proposal.proposed_at is None
    with pytest.raises(Conflict):
        calls.withdraw_proposal(proposal, actor=world.staff)
    calls.propose(proposal, actor=world.staff)
    calls.decline_proposal(proposal, "不符合支持方向", actor=world.city)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        calls.withdraw_proposal(proposal, actor=world.staff)
    assert "不能撤回" in refused.value.message


def test_another_districts_staff_cannot_touch_a_proposal(world):
    proposal = proposed(world, make_call(world))
    for act in (calls.withdraw_proposal, calls.propose):
        with pytest.raises(NotPermitted):
            act(proposal, actor=world.other_staff)


def test_a_stale_version_is_a_conflict(world):
    proposal = proposed(world, make_call(world))
    with pytest.raises(Conflict) as refused:
        calls.accept_proposal(proposal, "", actor=world.city, expected_version=1)
    assert "第 1 版" in refused.value.message


# --- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "reviewer", "manager", "admin"])
def test_only_the_city_reviewer_decides(world, role):
    proposal = proposed(world, make_call(world))
    with pytest.raises(NotPermitted):
        calls.accept_proposal(proposal, "", actor=getattr(world, role))
    with pytest.raises(NotPermitted):
        calls.decline_proposal(proposal, "理由", actor=getattr(world, role))


@pytest.mark.parametrize("decide", ["accept", "decline"])
def test_only_a_proposed_project_is_decided_and_only_once(world, decide):
    call = make_call(world)
    draft = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    act = {"accept": calls.accept_proposal, "decline": calls.decline_proposal}[decide]
    with pytest.raises(Conflict):
        act(draft, "理由", actor=world.city)
    proposal = proposed(world, call)
    act(proposal, "理由", actor=world.city)
    db.session.commit()
    assert proposal.status == {"accept": "accepted", "decline": "declined"}[decide]
    assert proposal.decided_by_id == world.city.id and proposal.decided_at is not None
    for again in (calls.accept_proposal, calls.decline_proposal):
        with pytest.raises(Conflict):
            again(proposal, "理由", actor=world.city)


def test_declining_needs_a_reason(world):
    proposal = proposed(world, make_call(world))
    with pytest.raises(Invalid) as refused:
        calls.decline_proposal(proposal, "  ", actor=world.city)
    assert refused.value.fields == {"comment": "请填写不予采纳的理由"}
    calls.decline_proposal(proposal, "建设内容与数据领域关联不足", actor=world.city)
    db.session.commit()
    row = audit_rows(proposal.id, "call_proposal")[-1]
    assert (row.action, row.before, row.after["status"], row.comment) == (
        "decline",
        {"status": "proposed"},
        "declined",
        "建设内容与数据领域关联不足",
    )


def test_accepting_for_the_reserve_admits_the_project_with_the_default_plan(world):
    call = make_call(world, title="年度储备征集")
    project = factories.project(
        world.yandu, maturity="planning", planned_start=date(2027, 6, 1), is_key=True
    )
    proposal = proposed(world, call, project=project)
    calls.accept_proposal(proposal, "同意纳入储备", actor=world.city)
    db.session.commit()
    entry = db.session.scalar(select(ReserveEntry).where(ReserveEntry.project_id == project.id))
    assert (entry.declare_year, entry.start_year, entry.planned_amount, entry.priority) == (
        call.year,
        2027,
        None,
        2,
    )
    assert project.maturity == "reserve" and project.is_key is True
    adjustment = db.session.scalar(select(ReserveAdjustment))
    assert (adjustment.kind, adjustment.reason_code, adjustment.status) == (
        "admit",
        "newly_planned",
        "approved",
    )
    assert adjustment.reason == "征集通知「年度储备征集」采纳"
    row = audit_rows(proposal.id, "call_proposal")[-1]
    assert row.action == "accept" and row.after["reserve_entry_id"] == entry.id


def test_a_project_already_in_the_reserve_keeps_its_plan_line(world):
    project = factories.project(world.yandu, maturity="planning")
    first = proposed(world, make_call(world), project=project)
    calls.accept_proposal(first, "", actor=world.city)
    db.session.commit()
    second = proposed(world, make_call(world, title="第二次征集"), project=project)
    calls.accept_proposal(second, "", actor=world.city)
    db.session.commit()
    assert second.status == "accepted"
    assert db.session.scalar(select(func.count()).select_from(ReserveEntry)) == 1
    assert audit_rows(second.id, "call_proposal")[-1].after["already_in_reserve"] is True


def test_the_plan_start_year_without_a_planned_start_is_the_call_year(world):
    project = factories.project(world.yandu, maturity="planning", planned_start=None)
    proposal = proposed(world, make_call(world), project=project)
    calls.accept_proposal(proposal, "", actor=world.city)
    db.session.commit()
    assert project.reserve_entry.start_year == proposal.call.year


def test_accepting_for_a_program_invites_the_district_to_declare(world):
    call = make_call(world, purpose="program", program_id=world.program.id)
    proposal = proposed(world, call)
    calls.accept_proposal(proposal, "请抓紧申报", actor=world.city)
    db.session.commit()
    invitation = db.session.scalar(select(ProgramInvitation))
    assert (invitation.program_id, invitation.project_id, invitation.invited_by_id) == (
        world.program.id,
        proposal.project_id,
        world.city.id,
    )
    (message,) = messages(world.staff, "invitation")
    assert proposal.project.name in message.title
    assert message.link == f"/projects/{proposal.project_id}"
    assert messages(world.other_staff, "invitation") == []
    assert db.session.scalar(select(func.count()).select_from(ReserveEntry)) == 0


def test_an_existing_invitation_is_not_doubled(world):
    project = factories.project(world.yandu)
    db.session.add(ProgramInvitation(program=world.program, project=project, message="已邀请"))
    db.session.commit()
    call = make_call(world, purpose="program", program_id=world.program.id)
    calls.accept_proposal(proposed(world, call, project=project), "", actor=world.city)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ProgramInvitation)) == 1


def test_a_closed_program_can_no_longer_accept(world):
    call = make_call(world, purpose="program", program_id=world.program.id)
    proposal = proposed(world, call)
    world.program.status = "closed"
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        calls.accept_proposal(proposal, "", actor=world.city)
    assert world.program.title in refused.value.message


def test_the_city_decides_after_the_call_is_closed(world):
    call = make_call(world)
    proposal = proposed(world, call)
    calls.close_call(call, actor=world.city, expected_version=None)
    calls.decline_proposal(proposal, "资金需求过大", actor=world.city)
    db.session.commit()
    assert proposal.status == "declined"


# --- the board ------------------------------------------------------------------------------


@contextmanager
def counted_queries():
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_board_counts_each_district_and_who_has_not_answered(world, make_district):
    third = make_district("320904", "大丰区")
    call = make_call(world, district_ids=[world.yandu.id, world.tinghu.id, third.id])
    a, b, c = (proposed(world, call) for _ in range(3))
    calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    calls.accept_proposal(a, "", actor=world.city)
    calls.decline_proposal(b, "不符合", actor=world.city)
    # 亭湖区 only drafted: it has not answered yet.
    calls.add_proposal(call, factories.project(world.tinghu), "", actor=world.other_staff)
    db.session.commit()
    db.session.expire_all()
    assert call.deadline  # the call itself is loaded; the board is what is counted
    with counted_queries() as statements:
        board = calls.call_board(call, today=days(0))
        rows = {r.district.name: r for r in board.rows}
    assert len(statements) == 1
    yandu, tinghu, dafeng = rows["盐都区"], rows["亭湖区"], rows["大丰区"]
    assert (yandu.proposed, yandu.accepted, yandu.declined, yandu.draft) == (1, 1, 1, 1)
    assert yandu.answered and yandu.submitted == 3
    assert (tinghu.draft, tinghu.answered) == (1, False)
    assert (dafeng.proposed, dafeng.draft, dafeng.answered) == (0, 0, False)
    assert [d.name for d in board.not_answered] == ["亭湖区", "大丰区"]
    assert board.answered_count == 1
    t = board.totals
    assert (t.proposed, t.accepted, t.declined, t.draft) == (1, 1, 1, 2)
    assert c.status == "proposed"
    assert not board.past_deadline
    assert calls.call_board(call, today=call.deadline + timedelta(days=1)).past_deadline


def test_a_district_sees_only_its_own_row(world):
    call = make_call(world)
    proposed(world, call)
    board = calls.call_board(call, today=days(0), district_id=world.tinghu.id)
    assert [r.district.name for r in board.rows] == ["亭湖区"]
    assert board.totals.proposed == 0


def test_call_summaries_for_the_list_in_one_query(world):
    first = make_call(world)
    second = make_call(world, district_ids=[world.tinghu.id])
    proposed(world, first)
    proposed(world, first)
    calls.add_proposal(second, factories.project(world.tinghu), "", actor=world.other_staff)
    db.session.commit()
    ids = [first.id, second.id]
    with counted_queries() as statements:
        summaries = calls.call_summaries(ids)
    assert len(statements) == 1
    assert summaries[first.id] == calls.CallSummary(districts=2, answered=1, submitted=2)
    assert summaries[second.id] == calls.CallSummary(districts=1, answered=0, submitted=0)
    assert calls.call_summaries([]) == {}


# --- reminders ------------------------------------------------------------------------------


@pytest.fixture
def holiday_call(world, monkeypatch):
    """A call due Friday 2026-10-09, reminding 3 working days before (Tuesday 09-29)."""
    with on_day(monkeypatch, date(2026, 9, 1)):
        return make_call(world, deadline=NATIONAL_DAY_DEADLINE, remind_working_days=3)


def test_the_reminder_day_counts_back_over_national_day(holiday_call):
    assert calls.reminder_date(holiday_call) == date(2026, 9, 29)


def test_reminders_go_out_on_the_right_working_day_and_only_once(world, holiday_call):
    second_staff = factories.user("district_staff", world.yandu)
    assert calls.send_due_reminders(date(2026, 9, 28)) == 0
    assert calls.send_due_reminders(date(2026, 9, 29)) == 3
    db.session.commit()
    for staff in (world.staff, second_staff, world.other_staff):
        (message,) = messages(staff, "call_reminder")
        assert message.dedupe_key == f"call-{holiday_call.id}-remind"
        assert message.link == f"/calls/{holiday_call.id}"
        assert "还剩 3 个工作日" in message.body
    assert messages(world.reviewer, "call_reminder") == []
    # The daily job runs again the next days: nobody is reminded twice.
    assert calls.send_due_reminders(date(2026, 9, 29)) == 0
    assert calls.send_due_reminders(date(2026, 10, 8)) == 0


def test_a_district_that_answered_is_not_reminded(world, holiday_call, monkeypatch):
    with on_day(monkeypatch, date(2026, 9, 2)):
        proposed(world, holiday_call)
    assert calls.send_due_reminders(date(2026, 9, 30)) == 1
    db.session.commit()
    assert messages(world.staff, "call_reminder") == []
    assert len(messages(world.other_staff, "call_reminder")) == 1


def test_a_draft_is_not_an_answer(world, holiday_call, monkeypatch):
    with on_day(monkeypatch, date(2026, 9, 2)):
        calls.add_proposal(holiday_call, factories.project(world.yandu), "", actor=world.staff)
    assert calls.send_due_reminders(date(2026, 9, 29)) == 2


def test_a_holiday_inside_the_window_still_reminds_with_the_working_days_left(world, holiday_call):
    # The job did not run before the holiday; on 10-05 (a day off) one working day remains.
    assert calls.send_due_reminders(date(2026, 10, 5)) == 2
    (message,) = messages(world.staff, "call_reminder")
    assert "还剩 2 个工作日" in message.body  # 10-08 and 10-09


def test_on_the_deadline_the_reminder_says_today(world, holiday_call):
    assert calls.send_due_reminders(NATIONAL_DAY_DEADLINE) == 2
    (message,) = messages(world.staff, "call_reminder")
    assert "今天" in message.body


def test_no_reminder_after_the_deadline_or_for_a_closed_call(world, holiday_call, monkeypatch):
    assert calls.send_due_reminders(NATIONAL_DAY_DEADLINE + timedelta(days=1)) == 0
    calls.close_call(holiday_call, actor=world.city, expected_version=None)
    assert calls.send_due_reminders(date(2026, 9, 30)) == 0


def test_zero_working_days_reminds_on_the_deadline_only(world, monkeypatch):
    with on_day(monkeypatch, date(2026, 9, 1)):
        call = make_call(world, deadline=date(2026, 9, 30), remind_working_days=0)
    assert calls.reminder_date(call) == date(2026, 9, 30)
    assert calls.send_due_reminders(date(2026, 9, 29)) == 0
    assert calls.send_due_reminders(date(2026, 9, 30)) == 2


def test_the_daily_command_sends_the_reminders(app, world, holiday_call):
    assert calls.send_due_reminders in reminders.DAILY_REMINDERS
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reminders", "send", "--date", "2026-09-29"])
    assert result.exit_code == 0, result.output
    assert "calls.send_due_reminders: 2 条" in result.output
    assert "2026-09-29 共发送提醒 2 条" in result.output
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "call_reminder")
        )
        == 2
    )
    again = runner.invoke(args=["reminders", "send", "--date", "2026-09-29"])
    assert "共发送提醒 0 条" in again.output


def test_the_daily_command_refuses_a_bad_date(app):
    result = app.test_cli_runner().invoke(args=["reminders", "send", "--date", "09/29/2026"])
    assert result.exit_code != 0


def test_one_failing_reminder_does_not_stop_the_others(app, world, holiday_call, monkeypatch):
    def broken(today):
        raise RuntimeError("boom")

    monkeypatch.setattr(reminders, "DAILY_REMINDERS", [broken, calls.send_due_reminders])
    result = app.test_cli_runner().invoke(args=["reminders", "send", "--date", "2026-09-29"])
    assert result.exit_code == 1
    assert "calls.send_due_reminders: 2 条" in result.output
    assert "broken" in result.output


def test_project_rows_are_untouched_by_a_refused_proposal(world):
    call = make_call(world, district_ids=[world.tinghu.id])
    project = factories.project(world.yandu)
    version = project.version
    with pytest.raises(NotPermitted):
        calls.add_proposal(call, project, "", actor=world.staff)
    db.session.rollback()
    assert db.session.get(Project, project.id).version == version
    assert db.session.scalar(select(func.count()).select_from(CallProposal)) == 0
