"""The collection call pages as the city and the districts use them."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.views.html import facts, page
from tests.views.test_pages import assert_chinese_page
from workflow import calls
from workflow.extensions import db
from workflow.models import CallProposal, CollectionCall, Notification, ProgramInvitation
from workflow.operations import local_today
from workflow.workdays import working_days_before


def form_data(world, **overrides) -> dict:
    """What the city types into the call form."""
    data = {
        "title": "关于征集数据领域储备项目的通知",
        "purpose": "reserve",
        "program_id": "",
        "year": str(local_today().year),
        "districts": [str(world.yandu.id), str(world.tinghu.id)],
        "deadline": (local_today() + timedelta(days=15)).isoformat(),
        "remind_working_days": "3",
        "notice": "请各区县认真组织,按时报送。",
    }
    data.update(overrides)
    return data


def make_call(world, **overrides) -> CollectionCall:
    values = {
        "title": "关于征集数据领域储备项目的通知",
        "purpose": "reserve",
        "year": local_today().year,
        "notice": "请各区县认真组织,按时报送。",
        "deadline": local_today() + timedelta(days=15),
        "remind_working_days": 3,
        "district_ids": [world.yandu.id, world.tinghu.id],
    }
    values.update(overrides)
    call = calls.create_call(values, actor=world.city)
    db.session.commit()
    return call


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_nav_links_to_the_calls(world, login):
    shown = page(login(world.staff).get("/inbox"))
    assert "/calls" in shown.links()
    assert "项目征集" in shown.text


def test_the_city_publishes_a_call_from_the_form(world, login):
    client = login(world.city)
    form = assert_chinese_page(client.get("/calls/new"))
    assert form.value("year") == str(local_today().year)
    assert form.value("remind_working_days") == "3"
    response = client.post("/calls/new", data=form_data(world))
    assert response.status_code == 302
    call = db.session.scalars(select(CollectionCall)).one()
    assert response.location == f"/calls/{call.id}"
    shown = assert_chinese_page(client.get(response.location))
    assert "已通知 2 个区县的填报员" in " ".join(shown.alerts())
    shown_facts = facts(shown)
    assert shown_facts["截止日期"].startswith(call.deadline.isoformat())
    assert working_days_before(call.deadline, 3).isoformat() in shown_facts["截止提醒"]
    assert "盐都区" in shown_facts["征集区县"] and "亭湖区" in shown_facts["征集区县"]
    assert "请各区县认真组织" in shown.by_id("notice").text
    rows = shown.rows("board-table")
    assert len(rows) == 2 and all("未报送" in r for r in rows)
    assert "盐都区" in shown.by_id("not-answered").text
    assert count(Notification) == 2  # one per district's staff


def test_a_wrong_call_form_keeps_what_was_typed(world, login):
    client = login(world.city)
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    response = client.post(
        "/calls/new",
        data=form_data(world, title="", districts=[], deadline=yesterday, notice="正文保留"),
    )
    shown = assert_chinese_page(response, 422)
    assert shown.field_errors("title") == ["请填写征集通知标题"]
    assert shown.field_errors("districts") == ["请至少选择一个征集区县"]
    assert shown.field_errors("deadline") == [f"截止日期不能早于今天({local_today().isoformat()})"]
    assert shown.value("notice") == "正文保留"
    assert shown.value("deadline") == yesterday
    assert count(CollectionCall) == 0


def test_a_program_call_needs_a_program(world, login):
    client = login(world.city)
    response = client.post("/calls/new", data=form_data(world, purpose="program", year=""))
    shown = assert_chinese_page(response, 422)
    assert shown.field_errors("program_id") == ["专项申报征集须选择申报批次"]
    assert sorted(shown.checked("districts")) == sorted([str(world.yandu.id), str(world.tinghu.id)])
    response = client.post(
        "/calls/new",
        data=form_data(world, purpose="program", year="", program_id=str(world.program.id)),
    )
    assert response.status_code == 302
    call = db.session.scalars(select(CollectionCall)).one()
    assert (call.program_id, call.year) == (world.program.id, world.program.year)


@pytest.mark.parametrize("role", ["staff", "reviewer", "expert", "admin"])
def test_only_the_city_and_managers_publish(world, login, role):
    client = login(getattr(world, role))
    assert_chinese_page(client.get("/calls/new"), 403)
    assert client.post("/calls/new", data=form_data(world)).status_code == 403
    assert count(CollectionCall) == 0


def test_a_manager_publishes_too(world, login):
    client = login(world.manager)
    assert client.post("/calls/new", data=form_data(world)).status_code == 302


def test_districts_see_only_the_calls_sent_to_them(world, login):
    mine = make_call(world, title="发给盐都区的征集", district_ids=[world.yandu.id])
    theirs = make_call(world, title="只发给亭湖区的征集", district_ids=[world.tinghu.id])
    client = login(world.staff)
    listing = assert_chinese_page(client.get("/calls"))
    assert "发给盐都区的征集" in listing.text and "只发给亭湖区的征集" not in listing.text
    assert "尚未报送" in listing.text
    assert_chinese_page(client.get(f"/calls/{theirs.id}"), 404)
    assert_chinese_page(client.get(f"/calls/{mine.id}"))
    city = assert_chinese_page(login(world.city).get("/calls"))
    assert "只发给亭湖区的征集" in city.text
    assert "0 / 1 个区县已报送" in city.text


def test_a_district_answers_a_call_on_its_page(world, login):
    call = make_call(world)
    project = factories.project(world.yandu, name="盐都区公共数据授权运营平台")
    removed = factories.project(
        world.yandu, name="已出库的项目", maturity="removed", removed_reason="取消"
    )
    factories.project(world.tinghu, name="亭湖区的项目")
    client = login(world.staff)
    shown = assert_chinese_page(client.get(f"/calls/{call.id}"))
    options = shown.by_id("add-proposal").text
    assert project.name in options
    assert removed.name not in options and "亭湖区的项目" not in options
    # Only their own district's row.
    assert [r.split()[0] for r in shown.rows("board-table")] == ["盐都区"]

    response = client.post(
        f"/calls/{call.id}/proposals", data={"project_id": str(project.id), "note": "已完成可研"}
    )
    assert response.status_code == 302
    proposal = db.session.scalars(select(CallProposal)).one()
    assert proposal.status == "draft"
    shown = page(client.get(f"/calls/{call.id}"))
    assert "已完成可研" in shown.by_id("proposal-list").text
    assert project.name not in shown.by_id("add-proposal").text  # already on the call

    response = client.post(
        f"/proposals/{proposal.id}/propose", data={"version": str(proposal.version)}
    )
    assert response.status_code == 302
    shown = page(client.get(f"/calls/{call.id}"))
    assert "已报送" in shown.by_id(f"proposal-{proposal.id}").text
    assert "已报送 1 个" in shown.rows("board-table")[0]

    response = client.post(
        f"/proposals/{proposal.id}/withdraw", data={"version": str(proposal.version)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CallProposal, proposal.id).status == "draft"


def test_a_wrong_proposal_keeps_the_note(world, login):
    call = make_call(world)
    factories.project(world.yandu)
    client = login(world.staff)
    response = client.post(f"/calls/{call.id}/proposals", data={"project_id": "", "note": "说明"})
    shown = assert_chinese_page(response, 422)
    assert shown.field_errors("project_id") == ["请选择要报送的项目"]
    assert shown.value("note") == "说明"
    assert count(CallProposal) == 0


def test_another_districts_project_cannot_be_slipped_in(world, login):
    call = make_call(world)
    factories.project(world.yandu)
    theirs = factories.project(world.tinghu)
    client = login(world.staff)
    response = client.post(
        f"/calls/{call.id}/proposals", data={"project_id": str(theirs.id), "note": "说明"}
    )
    shown = assert_chinese_page(response, 422)
    assert shown.field_errors("project_id") == ["不是有效的选择。"]
    assert shown.value("note") == "说明"
    assert count(CallProposal) == 0


def test_after_the_call_closes_the_district_is_told_and_keeps_its_note(world, login):
    call = make_call(world)
    project = factories.project(world.yandu)
    client = login(world.staff)
    calls.close_call(call, actor=world.city, expected_version=None)
    db.session.commit()
    shown = assert_chinese_page(client.get(f"/calls/{call.id}"))
    assert shown.by_id("add-proposal") is None
    response = client.post(
        f"/calls/{call.id}/proposals", data={"project_id": str(project.id), "note": "迟到的说明"}
    )
    assert response.status_code in (409, 422)
    shown = page(response)
    assert shown.h1  # the call's page again, not an error page
    assert count(CallProposal) == 0


def test_the_city_accepts_and_declines_on_the_page(world, login):
    call = make_call(world, purpose="program", program_id=world.program.id)
    first, second = (
        calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
        for _ in range(2)
    )
    for proposal in (first, second):
        calls.propose(proposal, actor=world.staff)
    db.session.commit()
    client = login(world.city)
    shown = assert_chinese_page(client.get(f"/calls/{call.id}"))
    assert shown.by_id(f"decision-{first.id}") is not None
    response = client.post(
        f"/proposals/{first.id}/accept", data={"comment": "", "version": str(first.version)}
    )
    assert response.status_code == 302
    assert count(ProgramInvitation) == 1

    # Declining without a reason: refused, the page says why.
    response = client.post(
        f"/proposals/{second.id}/decline", data={"comment": "", "version": str(second.version)}
    )
    shown = assert_chinese_page(response, 422)
    assert "请填写不予采纳的理由" in " ".join(shown.alerts())
    response = client.post(
        f"/proposals/{second.id}/decline",
        data={"comment": "与数据领域关联不足", "version": str(second.version)},
    )
    assert response.status_code == 302
    shown = page(client.get(f"/calls/{call.id}"))
    assert "与数据领域关联不足" in shown.by_id(f"proposal-{second.id}").text
    (board,) = [r for r in shown.rows("board-table") if "盐都区" in r]
    assert "已报送 2 个" in board
    assert shown.by_id(f"decision-{second.id}") is None


def test_a_decision_on_a_stale_page_keeps_the_comment(world, login):
    call = make_call(world)
    proposal = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    calls.propose(proposal, actor=world.staff)
    db.session.commit()
    seen = proposal.version
    calls.decline_proposal(proposal, "已由他人处理", actor=world.city)
    db.session.commit()
    client = login(world.city)
    response = client.post(
        f"/proposals/{proposal.id}/accept", data={"comment": "我写的意见", "version": str(seen)}
    )
    shown = assert_chinese_page(response, 409)
    assert "已被他人修改" in " ".join(shown.alerts())
    assert "我写的意见" in shown.by_id("kept-comment").text


def test_district_staff_cannot_decide(world, login):
    call = make_call(world)
    proposal = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    calls.propose(proposal, actor=world.staff)
    db.session.commit()
    client = login(world.staff)
    shown = page(client.get(f"/calls/{call.id}"))
    assert shown.by_id(f"decision-{proposal.id}") is None
    response = client.post(f"/proposals/{proposal.id}/accept", data={"comment": "自己采纳"})
    assert_chinese_page(response, 403)
    db.session.expire_all()
    assert db.session.get(CallProposal, proposal.id).status == "proposed"


def test_editing_a_call_on_a_stale_page_keeps_the_typing(world, login):
    call = make_call(world)
    client = login(world.city)
    shown = assert_chinese_page(client.get(f"/calls/{call.id}/edit"))
    assert shown.value("title") == call.title
    assert sorted(shown.checked("districts")) == sorted([str(world.yandu.id), str(world.tinghu.id)])
    calls.update_call(call, {"notice": "他人修改"}, actor=world.manager, expected_version=1)
    db.session.commit()
    response = client.post(
        f"/calls/{call.id}/edit", data=form_data(world, title="我的新标题", version="1")
    )
    shown = assert_chinese_page(response, 409)
    assert shown.value("title") == "我的新标题"
    assert "已被他人修改" in " ".join(shown.alerts())
    response = client.post(
        f"/calls/{call.id}/edit",
        data=form_data(world, title="我的新标题", version=str(call.version)),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CollectionCall, call.id).title == "我的新标题"


def test_a_district_that_answered_cannot_be_unticked(world, login):
    call = make_call(world)
    proposal = calls.add_proposal(call, factories.project(world.yandu), "", actor=world.staff)
    db.session.commit()
    assert proposal.id
    client = login(world.city)
    response = client.post(
        f"/calls/{call.id}/edit",
        data=form_data(world, districts=[str(world.tinghu.id)], version=str(call.version)),
    )
    shown = assert_chinese_page(response, 422)
    assert shown.field_errors("districts") == ["盐都区已填报项目,不能从征集区县中移除"]


def test_closing_and_the_past_deadline_mark(world, login, monkeypatch):
    call = make_call(world, deadline=local_today() + timedelta(days=1))
    client = login(world.city)
    monkeypatch.setattr(
        "workflow.views.calls.local_today", lambda: local_today() + timedelta(days=2)
    )
    shown = assert_chinese_page(client.get(f"/calls/{call.id}"))
    assert "已过截止日期" in shown.by_id("past-deadline").text
    listing = page(client.get("/calls"))
    assert "已过截止日期" in listing.text
    response = client.post(f"/calls/{call.id}/close", data={"version": str(call.version)})
    assert response.status_code == 302
    shown = page(client.get(f"/calls/{call.id}"))
    assert shown.by_id("past-deadline") is None
    assert "已截止" in shown.h1
    response = client.post(f"/calls/{call.id}/close", data={"version": str(call.version)})
    shown = assert_chinese_page(response, 409)
    assert "该征集已截止" in " ".join(shown.alerts())


def test_an_expert_reads_the_notice_but_not_the_board(world, login):
    call = make_call(world)
    shown = assert_chinese_page(login(world.expert).get(f"/calls/{call.id}"))
    assert shown.by_id("notice") is not None
    assert shown.by_id("board") is None and shown.by_id("proposals") is None
