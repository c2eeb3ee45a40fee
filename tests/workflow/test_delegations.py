"""Delegation (代理): who may hand their reviews to whom, for how long, and when it ends."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tests.workflow.conftest import audit_rows, days
from workflow import delegations, machine, operations
from workflow.delegations import create_delegation, end_delegation, is_delegate, principals_of
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Delegation, Notification


def delegate_for(world, role: str = "city_reviewer"):
    """A second active user of the role (in 盐都区 for a district role)."""
    district = world.yandu if role == "district_reviewer" else None
    return factories.user(role, district)


def delegated(delegator, delegate, start: int = 0, end: int = 6, *, actor=None):
    made = create_delegation(
        delegator, delegate, days(start), days(end), "出差", actor=actor or delegator
    )
    db.session.commit()
    return made


@pytest.mark.parametrize("role", delegations.DELEGATING_ROLES)
def test_a_reviewer_hands_their_reviews_to_a_colleague(world, role):
    delegator = {"district_reviewer": world.reviewer, "city_reviewer": world.city}.get(
        role, world.manager
    )
    colleague = delegate_for(world, role)
    made = delegated(delegator, colleague)
    today = operations.local_today()
    assert is_delegate(colleague, delegator, today)
    assert not is_delegate(delegator, colleague, today), "a delegation goes one way"
    assert principals_of(colleague, today) == [delegator]
    assert delegations.status_label(made, today) == "生效中"
    (row,) = audit_rows(made.id, "delegation")
    assert (row.action, row.action_label, row.actor_id) == ("create", "设置代理", delegator.id)
    assert row.after["delegate_id"] == colleague.id and row.comment == "出差"
    message = db.session.scalars(select(Notification)).one()
    assert (message.user_id, message.kind) == (colleague.id, "delegation")
    assert delegator.display_name in message.title and message.link == "/delegations"


def test_the_delegate_must_be_an_active_colleague_of_the_same_role(world):
    inactive = factories.user("city_reviewer", active=False)
    cases = [
        (world.manager, "代理人须与委托人同为市级审核员"),
        (world.city, "不能委托给自己"),
        (inactive, "已停用"),
        (None, "请选择代理人"),
    ]
    for delegate, message in cases:
        with pytest.raises(Invalid) as refused:
            create_delegation(world.city, delegate, days(0), days(3), "出差", actor=world.city)
        assert message in refused.value.message
        assert "delegate_id" in refused.value.fields
    assert db.session.scalars(select(Delegation)).all() == []


def test_a_district_reviewer_delegates_only_within_their_district(world):
    with pytest.raises(Invalid, match="只能委托本区县的审核员"):
        create_delegation(
            world.reviewer, world.other_reviewer, days(0), days(3), "休假", actor=world.reviewer
        )
    assert delegations.eligible_delegates(world.reviewer) == []
    colleague = delegate_for(world, "district_reviewer")
    assert delegations.eligible_delegates(world.reviewer) == [colleague]


@pytest.mark.parametrize("role", ["staff", "expert", "admin"])
def test_only_reviewers_delegate(world, role):
    user = getattr(world, role)
    with pytest.raises(NotPermitted, match="可以设置代理"):
        create_delegation(user, world.city, days(0), days(3), "出差", actor=user)
    assert delegations.eligible_delegates(user) == []


def test_only_the_delegator_or_an_admin_sets_it_up(world):
    colleague = delegate_for(world)
    with pytest.raises(NotPermitted, match="只能为自己设置代理"):
        create_delegation(world.city, colleague, days(0), days(3), "出差", actor=colleague)
    made = delegated(world.city, colleague, actor=world.admin)
    (row,) = audit_rows(made.id, "delegation")
    assert row.actor_id == world.admin.id and made.created_by_id == world.admin.id
    assert made.delegator_id == world.city.id


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (-1, 3, "starts_on", "开始日期不能早于今天"),
        (3, 2, "ends_on", "结束日期不能早于开始日期"),
        (0, delegations.MAX_DAYS, "ends_on", "代理期限最长 90 天"),
        (None, 3, "starts_on", "请填写开始日期"),
        (0, None, "ends_on", "请填写结束日期"),
    ],
)
def test_the_period_starts_today_or_later_and_lasts_at_most_90_days(
    world, start, end, field, message
):
    colleague = delegate_for(world)
    with pytest.raises(Invalid) as refused:
        create_delegation(
            world.city,
            colleague,
            None if start is None else days(start),
            None if end is None else days(end),
            "出差",
            actor=world.city,
        )
    assert message in refused.value.fields[field]


def test_ninety_days_including_both_ends_is_allowed_and_a_reason_is_required(world):
    colleague = delegate_for(world)
    with pytest.raises(Invalid, match="请填写代理事由"):
        create_delegation(world.city, colleague, days(0), days(3), "  ", actor=world.city)
    made = delegated(world.city, colleague, 1, delegations.MAX_DAYS)
    assert (made.ends_on - made.starts_on).days + 1 == 90


def test_periods_of_one_delegator_do_not_overlap(world):
    colleague, another = delegate_for(world), delegate_for(world)
    first = delegated(world.city, colleague, 0, 6)
    with pytest.raises(Conflict, match="期限不能重叠"):
        create_delegation(world.city, another, days(6), days(9), "培训", actor=world.city)
    delegated(world.city, another, 7, 9)  # the day after the first one's last day is free
    end_delegation(first, actor=world.city)
    db.session.commit()
    third = delegated(world.city, another, 0, 3)  # an ended delegation no longer blocks
    assert third.delegate_id == another.id


def test_nobody_stands_in_while_they_are_away_themself(world):
    colleague, third = delegate_for(world), delegate_for(world)
    delegated(world.city, colleague, 2, 5)
    with pytest.raises(Conflict, match="已将自己的审核工作委托他人"):
        create_delegation(third, world.city, days(0), days(3), "出差", actor=third)
    delegated(third, world.city, 0, 1)  # before the city reviewer leaves, they may stand in


def test_a_delegation_ends_by_itself_the_day_after_its_last_day(world, monkeypatch):
    colleague = delegate_for(world)
    made = delegated(world.city, colleague, 0, 2)
    assert is_delegate(colleague, world.city, days(2))
    assert not is_delegate(colleague, world.city, days(3))
    assert principals_of(colleague, days(3)) == []
    assert made.is_active_on(days(2)) and not made.is_active_on(days(3))
    assert delegations.status_of(made, days(3)) == "ended"
    # The machine refuses the delegate on that day, in the words a user reads.
    program = factories.program(workflow_name="joint_signoff")
    decl = factories.declaration(factories.project(world.yandu), program, by=world.staff)
    for trigger, actor in (("submit", world.staff), ("approve", world.reviewer)):
        factories.act(decl, trigger, actor)
    later = operations.local_today() + timedelta(days=3)
    monkeypatch.setattr(operations, "local_today", lambda: later)
    refusal = machine.check_action(
        decl, "approve", colleague, operations.workflow_context(on_behalf_of=world.city)
    )
    assert refusal.kind == "role"
    assert refusal.reasons == [f"您不是{world.city.display_name}的有效代理人"]
    with pytest.raises(Conflict, match="已结束"):
        end_delegation(made, actor=world.city)


def test_a_delegation_not_yet_started_gives_no_rights_and_can_be_called_off(world):
    colleague = delegate_for(world)
    made = delegated(world.city, colleague, 1, 3)
    today = operations.local_today()
    assert delegations.status_label(made, today) == "未开始"
    assert not is_delegate(colleague, world.city, today)
    end_delegation(made, actor=world.city)
    db.session.commit()
    assert not is_delegate(colleague, world.city, days(1))


def test_ending_early_stops_the_delegate_at_once(world):
    colleague = delegate_for(world)
    made = delegated(world.city, colleague)
    with pytest.raises(NotPermitted, match="只有委托人或管理员"):
        end_delegation(made, actor=colleague)
    end_delegation(made, actor=world.city)
    db.session.commit()
    today = operations.local_today()
    assert made.ended_at is not None
    assert not is_delegate(colleague, world.city, today)
    assert delegations.status_label(made, today) == "已结束"
    rows = audit_rows(made.id, "delegation")
    assert [(r.action, r.action_label) for r in rows] == [
        ("create", "设置代理"),
        ("end", "结束代理"),
    ]
    assert rows[1].before == {"ends_on": made.ends_on.isoformat(), "ended_at": None}
    titles = [n.title for n in db.session.scalars(select(Notification).order_by(Notification.id))]
    assert len(titles) == 2 and "结束" in titles[1]
    with pytest.raises(Conflict, match="该代理已结束"):
        end_delegation(made, actor=world.city)


def test_an_admin_ends_anyones_delegation(world):
    made = delegated(world.manager, delegate_for(world, "manager"))
    end_delegation(made, actor=world.admin)
    db.session.commit()
    assert audit_rows(made.id, "delegation")[-1].actor_id == world.admin.id


def test_a_disabled_delegator_has_no_delegate(world):
    colleague = delegate_for(world)
    delegated(world.city, colleague)
    world.city.active = False
    db.session.commit()
    today = operations.local_today()
    assert not is_delegate(colleague, world.city, today)
    assert principals_of(colleague, today) == []


def test_my_delegations_given_and_received(world):
    colleague = delegate_for(world)
    later = delegated(world.city, colleague, 10, 12)
    sooner = delegated(world.city, colleague, 0, 2)
    back = delegated(colleague, world.city, 20, 21)
    assert delegations.given_by(world.city) == [later, sooner]
    assert delegations.received_by(colleague) == [later, sooner]
    assert delegations.received_by(world.city) == [back]
    assert delegations.in_force(operations.local_today()) == [sooner, later, back]


def test_acting_name_names_both(world):
    colleague = delegate_for(world)
    assert delegations.acting_name(colleague, world.city) == (
        f"{colleague.display_name}(代 {world.city.display_name})"
    )
    assert delegations.acting_name(colleague) == colleague.display_name
    assert delegations.acting_name(None) == "系统"
