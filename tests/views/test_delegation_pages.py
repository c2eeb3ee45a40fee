"""The 代理设置 page, acting on behalf of a reviewer from the declaration page, the countersign
card and the inbox's 待我会签 list."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.views.html import page
from workflow import countersign, machine, operations
from workflow.delegations import create_delegation
from workflow.dossier_data import dossier_data
from workflow.extensions import db
from workflow.models import AuditEvent, Delegation, Notification, StageSignature


def day(n: int) -> str:
    return (operations.local_today() + timedelta(days=n)).isoformat()


def in_signoff(world):
    """A declaration of a joint sign-off program, waiting for its signatures (会签)."""
    program = factories.program(workflow_name="joint_signoff")
    decl = factories.declaration(factories.project(world.yandu), program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    return decl


@pytest.fixture
def colleague(world):
    """A second city reviewer, who stands in for world.city."""
    return factories.user("city_reviewer", username="city_reviewer_2")


@pytest.fixture
def standing_in(world, colleague):
    """world.city has handed their reviews to the colleague from today for a week."""
    today = operations.local_today()
    made = create_delegation(
        world.city, colleague, today, today + timedelta(days=6), "出差", actor=world.city
    )
    db.session.commit()
    return made


def test_a_reviewer_sets_up_a_delegation_from_the_page(world, login, colleague):
    client = login(world.city)
    shown = page(client.get("/inbox"))
    assert "/delegations" in shown.links()
    form = page(client.get("/delegations"))
    assert form.h1 == "代理设置"
    assert form.value("starts_on") == day(0)
    options = form.root.find("select", name="delegate_id").text
    assert colleague.display_name in options and world.manager.display_name not in options
    response = client.post(
        "/delegations",
        data={
            "delegate_id": str(colleague.id),
            "starts_on": day(0),
            "ends_on": day(4),
            "reason": "赴省厅参加培训",
        },
    )
    assert response.status_code == 302
    listed = page(client.get(response.headers["Location"]))
    assert f"已设置代理:{colleague.display_name}代{world.city.display_name}办理" in " ".join(
        listed.alerts()
    )
    (row,) = listed.rows("given")
    assert colleague.display_name in row and "赴省厅参加培训" in row and "生效中" in row
    assert "提前结束" in row
    delegate_view = page(login(colleague).get("/delegations"))
    (received,) = delegate_view.rows("received")
    assert world.city.display_name in received and "生效中" in received
    inbox = page(login(colleague).get("/inbox"))
    assert f"{world.city.display_name}委托您代理审核" in inbox.by_id("messages").text


def test_a_refused_delegation_says_why_and_keeps_what_was_typed(world, login, colleague):
    client = login(world.city)
    response = client.post(
        "/delegations",
        data={
            "delegate_id": str(colleague.id),
            "starts_on": day(3),
            "ends_on": day(1),
            "reason": "休假",
        },
    )
    assert response.status_code == 422
    shown = page(response)
    assert "结束日期不能早于开始日期" in " ".join(shown.alerts())
    assert shown.field_errors("ends_on") == ["结束日期不能早于开始日期"]
    assert shown.value("reason") == "休假" and shown.value("starts_on") == day(3)
    assert db.session.scalars(select(Delegation)).all() == []
    empty = page(client.post("/delegations", data={"delegate_id": str(colleague.id)}))
    assert empty.field_errors("reason") == ["请填写代理事由"]
    assert empty.field_errors("starts_on") == ["请填写开始日期"]


def test_the_delegator_ends_it_and_nobody_else_sees_it(world, login, colleague, standing_in):
    path = f"/delegations/{standing_in.id}/end"
    for outsider in (colleague, world.manager):
        assert login(outsider).post(path).status_code == 404
    client = login(world.city)
    response = client.post(path)
    assert response.status_code == 302
    listed = page(client.get("/delegations"))
    assert f"已结束{colleague.display_name}的代理" in " ".join(listed.alerts())
    (row,) = listed.rows("given")
    assert "已结束" in row and "提前结束" in row  # "… 提前结束" says when it was ended
    assert listed.root.find("form", action=path) is None
    again = client.post(path)
    assert "该代理已结束" in " ".join(page(client.get(again.headers["Location"])).alerts())


def test_an_admin_sees_every_delegation_and_sets_one_up_for_a_reviewer(
    world, login, colleague, standing_in
):
    client = login(world.admin)
    shown = page(client.get("/delegations"))
    (row,) = shown.rows("all-delegations")
    assert world.city.display_name in row and colleague.display_name in row
    other_manager = factories.user("manager")
    response = client.post(
        "/delegations",
        data={
            "delegator_id": str(world.manager.id),
            "delegate_id": str(other_manager.id),
            "starts_on": day(1),
            "ends_on": day(2),
            "reason": "休假",
        },
    )
    assert response.status_code == 302
    made = db.session.scalars(select(Delegation).order_by(Delegation.id.desc())).first()
    assert (made.delegator_id, made.delegate_id, made.created_by_id) == (
        world.manager.id,
        other_manager.id,
        world.admin.id,
    )
    assert login(world.admin).post(f"/delegations/{made.id}/end").status_code == 302


@pytest.mark.parametrize("role", ["staff", "expert"])
def test_who_does_not_review_has_no_delegation_page(world, login, role):
    client = login(getattr(world, role))
    assert "/delegations" not in page(client.get("/inbox")).links()
    response = client.get("/delegations")
    assert response.status_code == 403
    assert "可以设置代理" in page(response).text


def test_the_delegate_signs_for_the_reviewer_from_the_declaration_page(
    world, login, colleague, standing_in
):
    decl = in_signoff(world)
    client = login(colleague)
    shown = page(client.get(f"/declarations/{decl.id}"))
    card = shown.by_id("countersign")
    assert "规则:2 人签署即可;已签署 0 人,还需 2 人签署" in card.text
    behalf = shown.by_id(f"on-behalf-{world.city.id}")
    assert behalf is not None and f"代 {world.city.display_name} 办理" in behalf.text
    assert f"代{world.city.display_name}通过" in behalf.text
    response = client.post(
        f"/declarations/{decl.id}/actions",
        data={
            "action": "approve",
            "version": str(decl.version),
            "on_behalf_of": str(world.city.id),
            "comment": "代为会签,同意",
        },
    )
    assert response.status_code == 302
    (signature,) = db.session.scalars(select(StageSignature)).all()
    assert (signature.signer_id, signature.acted_by_id) == (world.city.id, colleague.id)
    row = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sign", AuditEvent.object_id == decl.id)
    ).one()
    assert (row.actor_id, row.on_behalf_of_id) == (colleague.id, world.city.id)
    named = f"{colleague.display_name}(代 {world.city.display_name})"
    after = page(client.get(f"/declarations/{decl.id}"))
    assert "已会签同意,还需 1 人签署" in " ".join(after.alerts())
    assert named in after.by_id("history").text
    assert any(named in r and "代为会签,同意" in r for r in after.rows("opinion-list"))
    seats = after.rows("countersign-seats")
    assert any(world.city.display_name in r and "已签署" in r and named in r for r in seats)
    assert "已签署 1 人,还需 1 人签署" in after.by_id("countersign").text
    # The seat is filled: 代…通过 is gone (退回, 不予推荐 remain), and the colleague, who has
    # signed once this round, may not sign again in their own seat.
    behalf = after.by_id(f"on-behalf-{world.city.id}").text
    assert f"代{world.city.display_name}通过" not in behalf
    assert f"代{world.city.display_name}退回修改" in behalf
    assert "通过" not in after.by_id("actions").text
    data = dossier_data(decl)
    assert any(o["reviewer"] == named for o in data["opinions"])
    manager = login(world.manager)
    manager.post(
        f"/declarations/{decl.id}/actions",
        data={"action": "approve", "version": str(decl.version), "comment": "同意"},
    )
    db.session.expire_all()
    assert decl.stage == "recommended"
    assert page(manager.get(f"/declarations/{decl.id}")).by_id("countersign") is None


def test_a_delegate_approving_in_an_ordinary_stage_is_printed_in_the_dossier_history(
    world, login, make_user
):
    second = make_user("district_reviewer", world.yandu)
    today = operations.local_today()
    create_delegation(world.reviewer, second, today, today, "休假", actor=world.reviewer)
    decl = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    client = login(second)
    response = client.post(
        f"/declarations/{decl.id}/actions",
        data={
            "action": "approve",
            "version": str(decl.version),
            "on_behalf_of": str(world.reviewer.id),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert decl.stage == "city_review"
    named = f"{second.display_name}(代 {world.reviewer.display_name})"
    data = dossier_data(decl)
    assert [h["actor"] for h in data["history"]][-1] == named
    assert data["opinions"][-1]["reviewer"] == named


def test_acting_for_someone_one_does_not_stand_in_for_is_refused(world, login, colleague):
    decl = in_signoff(world)
    client = login(colleague)
    for bogus in (str(world.city.id), str(world.manager.id), "99999", "abc"):
        response = client.post(
            f"/declarations/{decl.id}/actions",
            data={
                "action": "approve",
                "version": str(decl.version),
                "on_behalf_of": bogus,
                "comment": "我想代签",
            },
        )
        assert response.status_code == 403, bogus
        shown = page(response)
        assert "您不是该用户的有效代理人,不能代其办理" in " ".join(shown.alerts())
    assert db.session.scalars(select(StageSignature)).all() == []


def test_the_countersign_card_counts_a_new_round_after_a_return(world, login):
    decl = in_signoff(world)
    factories.act(decl, "approve", world.manager, "同意")
    factories.act(decl, "return_for_revision", world.city, "请补充材料")
    factories.act(decl, "resubmit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    shown = page(login(world.manager).get(f"/declarations/{decl.id}"))
    assert "已签署 0 人,还需 2 人签署" in shown.by_id("countersign").text
    assert "此前有 1 个签署因退回修改而作废" in shown.by_id("countersign-voided").text
    pending = shown.by_id("countersign-pending").text
    assert world.city.display_name in pending and world.manager.display_name in pending


def test_the_inbox_lists_signatures_owed_by_me_and_for_whom_i_stand_in(
    world, login, colleague, standing_in
):
    decl = in_signoff(world)
    rows = page(login(colleague).get("/inbox")).rows("signoff-list")
    assert len(rows) == 2
    assert "本人" in rows[0] and f"代 {world.city.display_name}" in rows[1]
    assert all(decl.project.name in r and "2 人签署即可" in r for r in rows)
    factories.act(decl, "approve", world.city, "同意")
    rows = page(login(colleague).get("/inbox")).rows("signoff-list")
    assert len(rows) == 1 and "本人" in rows[0]
    assert page(login(world.reviewer).get("/inbox")).by_id("signoffs") is None
    stage = machine.workflow_for(decl).stage(decl.stage)
    assert {u.id for u in countersign.pending_signers(decl, stage)} == {
        world.manager.id,
        colleague.id,
    }
    messages = db.session.scalars(select(Notification.kind)).all()
    assert messages == ["delegation"]
