"""The rolling reserve: plan rules, 调入/调出/调整 with the city's approval, snapshots and diffs."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import factories
from tests.workflow.conftest import audit_rows
from workflow import reserve, vocab
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Notification, ReserveAdjustment, ReserveEntry
from workflow.operations import local_today


def this_year() -> int:
    return local_today().year


def plan(**overrides) -> dict:
    """A valid plan line for this year."""
    y = this_year()
    values = {
        "declare_year": y + 1,
        "start_year": y + 1,
        "planned_amount": Decimal("300.00"),
        "priority": 1,
        "is_key": True,
    }
    values.update(overrides)
    return values


# --- admit_to_reserve ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maturity", "trigger"),
    [("planning", "admit_to_reserve"), ("removed", "restore"), ("reserve", None)],
)
def test_admit_to_reserve_creates_the_entry_and_moves_maturity(cast, maturity, trigger):
    city = cast.actor("city_reviewer")
    project = cast.project(maturity=maturity, is_key=False)
    entry = reserve.admit_to_reserve(
        project, plan(), actor=city, reason_code="newly_planned", reason="新谋划的重点项目"
    )
    db.session.commit()
    assert project.maturity == "reserve"
    assert project.is_key is True
    assert (entry.declare_year, entry.start_year) == (this_year() + 1, this_year() + 1)
    assert entry.planned_amount == Decimal("300.00") and entry.priority == 1
    adj = db.session.scalars(select(ReserveAdjustment)).one()
    assert (adj.kind, adj.status, adj.decided_by_id) == ("admit", "approved", city.id)
    assert adj.changes["planned_amount"] == "300.00"
    assert adj.reason_code == "newly_planned" and adj.reason == "新谋划的重点项目"
    assert [e.action for e in audit_rows(adj.id, "reserve_adjustment")] == ["approve"]
    project_actions = [e.action for e in audit_rows(project.id, "project")]
    assert project_actions == ([trigger] if trigger else []) + ["update"]
    assert "储备库调入" in audit_rows(project.id, "project")[-1].comment


def test_admit_refuses_bad_plans_reasons_roles_and_stages(cast):
    city = cast.actor("city_reviewer")
    project = cast.project(maturity="planning")
    with pytest.raises(Invalid) as bad:
        reserve.admit_to_reserve(
            project, plan(priority=4), actor=city, reason_code="newly_planned", reason="x"
        )
    assert "priority" in bad.value.fields
    with pytest.raises(Invalid) as wrong_reason:
        reserve.admit_to_reserve(project, plan(), actor=city, reason_code="funded", reason="x")
    assert "reason_code" in wrong_reason.value.fields
    with pytest.raises(NotPermitted):
        reserve.admit_to_reserve(
            project, plan(), actor=cast.actor("district_staff"), reason_code="other", reason="x"
        )
    funded = cast.project(maturity="funded")
    with pytest.raises(Conflict, match="已获批"):
        reserve.admit_to_reserve(funded, plan(), actor=city, reason_code="other", reason="x")
    db.session.rollback()
    reserve.admit_to_reserve(project, plan(), actor=city, reason_code="other", reason="x")
    with pytest.raises(Conflict, match="已在储备库中"):
        reserve.admit_to_reserve(project, plan(), actor=city, reason_code="other", reason="x")
    db.session.rollback()
    assert db.session.scalars(select(ReserveEntry)).all() == []


# --- plan rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({}, None, None),
        ({"declare_year": 2025}, None, None),  # this year - 1 is the earliest
        ({"declare_year": 2031, "start_year": 2031}, None, None),  # this year + 5 the latest
        ({"declare_year": 2024}, "declare_year", "2025 年至 2031 年"),
        ({"declare_year": 2032}, "declare_year", "2025 年至 2031 年"),
        ({"declare_year": None}, "declare_year", "请填写计划申报年度"),
        ({"declare_year": "2027"}, "declare_year", "四位年份"),
        ({"declare_year": True}, "declare_year", "四位年份"),
        ({"start_year": 2030}, None, None),
        ({"declare_year": 2030, "start_year": 2027}, None, None),  # three years earlier is fine
        ({"declare_year": 2030, "start_year": 2026}, "start_year", "最早 2027 年"),
        ({"start_year": 2024}, "start_year", "2025 年至 2031 年"),
        ({"planned_amount": None}, None, None),
        ({"planned_amount": Decimal("0")}, None, None),
        ({"planned_amount": Decimal("-1")}, "planned_amount", "不能为负数"),
        ({"planned_amount": Decimal("1.234")}, "planned_amount", "两位小数"),
        ({"planned_amount": Decimal("NaN")}, "planned_amount", "金额"),
        ({"planned_amount": 12.5}, "planned_amount", "金额"),
        ({"priority": 0}, "priority", "优先级"),
        ({"priority": 3}, None, None),
        ({"priority": "1"}, "priority", "优先级"),
        ({"is_key": "yes"}, "is_key", "是或否"),
    ],
)
def test_plan_rules(overrides, field, message):
    values = {
        "declare_year": 2027,
        "start_year": 2027,
        "planned_amount": Decimal("300.00"),
        "priority": 1,
        "is_key": False,
    }
    values.update(overrides)
    errors = reserve.plan_errors(values, 2026)
    if field is None:
        assert errors == {}
    else:
        assert list(errors) == [field]
        assert message in errors[field]


@pytest.mark.parametrize(
    ("declare_year", "column", "overdue"),
    [
        (2024, 0, True),
        (2025, 0, True),
        (2026, 0, False),
        (2027, 1, False),
        (2028, 2, False),
        (2029, 3, False),
        (2031, 3, False),
    ],
)
def test_plan_columns_roll_earlier_years_into_this_year(declare_year, column, overdue):
    assert reserve.plan_column(declare_year, 2026) == column
    assert reserve.is_overdue(declare_year, 2026) is overdue


# --- adjustments ----------------------------------------------------------------------------


def admitted(cast, **plan_overrides):
    project = cast.project(maturity="planning")
    reserve.admit_to_reserve(
        project,
        plan(**plan_overrides),
        actor=cast.actor("city_reviewer"),
        reason_code="newly_planned",
        reason="新谋划",
    )
    db.session.commit()
    return project


def ask(cast, project, kind, plan_values=None, *, role="district_staff", code=None, reason="理由"):
    code = code or vocab.REASONS_BY_ADJUSTMENT[kind][0]
    adj = reserve.request_adjustment(
        project, kind, plan_values, actor=cast.actor(role), reason_code=code, reason=reason
    )
    db.session.commit()
    return adj


def decide(cast, adj, approve=True, comment="同意"):
    reserve.decide_adjustment(
        adj,
        approve,
        actor=cast.actor("city_reviewer"),
        comment=comment,
        expected_version=adj.version,
    )
    db.session.commit()
    return adj


def test_an_admit_request_waits_for_the_city_then_enters_the_plan(cast):
    project = cast.project(maturity="planning")
    adj = ask(cast, project, "admit", plan(priority=3, is_key=False))
    assert adj.status == "pending" and adj.before is None
    assert project.reserve_entry is None and project.maturity == "planning"
    decide(cast, adj)
    assert adj.status == "approved" and adj.decided_by_id == cast.actor("city_reviewer").id
    assert project.maturity == "reserve"
    assert project.reserve_entry.priority == 3 and project.is_key is False
    note = db.session.scalars(select(Notification)).one()
    assert note.user_id == cast.actor("district_staff").id
    assert note.kind == "adjustment_decided" and "已批准" in note.title
    actions = [e.action for e in audit_rows(adj.id, "reserve_adjustment")]
    assert actions == ["request", "approve"]


def test_a_change_updates_the_entry_and_the_key_flag(cast):
    project = admitted(cast)
    y = this_year()
    adj = ask(
        cast,
        project,
        "change",
        plan(declare_year=y + 2, planned_amount=Decimal("450.50"), is_key=False),
    )
    assert adj.changes == {"declare_year": y + 2, "planned_amount": "450.50", "is_key": False}
    assert adj.before["declare_year"] == y + 1 and adj.before["planned_amount"] == "300.00"
    assert reserve.adjustment_rows(adj)[0] == ("计划申报年度", f"{y + 1}年", f"{y + 2}年")
    decide(cast, adj)
    entry = project.reserve_entry
    assert (entry.declare_year, entry.planned_amount) == (y + 2, Decimal("450.50"))
    assert project.is_key is False


def test_a_remove_deletes_the_entry_and_takes_the_project_out_with_the_reason(cast):
    project = admitted(cast)
    adj = ask(cast, project, "remove", code="cancelled", reason="单位撤销建设计划")
    decide(cast, adj)
    db.session.expire_all()
    assert project.reserve_entry is None
    assert project.maturity == "removed"
    assert (
        "项目取消或终止" in project.removed_reason and "单位撤销建设计划" in project.removed_reason
    )
    assert adj.before["planned_amount"] == "300.00"  # the last values are kept


def test_a_remove_of_a_project_that_moved_on_only_deletes_the_line(cast):
    project = admitted(cast)
    adj = ask(cast, project, "remove", code="funded")
    project.maturity = "funded"  # as the declaration workflow would have moved it
    db.session.commit()
    decide(cast, adj)
    db.session.expire_all()
    assert project.reserve_entry is None and project.maturity == "funded"


def test_a_rejection_needs_a_comment_changes_nothing_and_tells_the_requester(cast):
    project = admitted(cast)
    adj = ask(cast, project, "change", plan(priority=3))
    with pytest.raises(Invalid, match="审批意见"):
        decide(cast, adj, approve=False, comment=" ")
    db.session.rollback()
    decide(cast, adj, approve=False, comment="优先级不宜下调")
    assert adj.status == "rejected" and adj.decision_comment == "优先级不宜下调"
    assert project.reserve_entry.priority == 1
    note = db.session.scalars(select(Notification)).one()
    assert "未批准" in note.title and note.body == "优先级不宜下调"


def test_approval_is_refused_when_the_entry_changed_since_the_request(cast):
    project = admitted(cast)
    first = ask(cast, project, "change", plan(priority=2), role="city_reviewer")
    # The city changes the line directly in the meantime (through another approved change).
    db.session.delete(first)  # free the one-pending slot for the test's setup
    db.session.commit()
    stale = ask(cast, project, "change", plan(priority=3))
    project.reserve_entry.start_year = this_year() + 2
    db.session.commit()
    with pytest.raises(Conflict, match="已被修改"):
        decide(cast, stale)
    db.session.rollback()
    assert stale.status == "pending" and project.reserve_entry.priority == 1


def test_approval_is_refused_when_the_project_left_the_plan_since_the_request(cast):
    project = admitted(cast)
    adj = ask(cast, project, "change", plan(priority=3))
    db.session.delete(project.reserve_entry)
    db.session.commit()
    with pytest.raises(Conflict, match="调出储备库"):
        decide(cast, adj)


def test_a_stale_decision_version_and_a_second_decision_are_conflicts(cast):
    project = admitted(cast)
    adj = ask(cast, project, "change", plan(priority=3))
    with pytest.raises(Conflict, match="第 0 版"):
        reserve.decide_adjustment(adj, True, actor=cast.actor("city_reviewer"), expected_version=0)
    db.session.rollback()
    decide(cast, adj)
    with pytest.raises(Conflict, match="已批准"):
        decide(cast, adj)


def test_requests_are_refused_with_reasons(cast):
    project = admitted(cast)
    staff = cast.actor("district_staff")
    with pytest.raises(Invalid) as wrong:
        reserve.request_adjustment(
            project, "remove", None, actor=staff, reason_code="schedule_changed", reason="x"
        )
    assert "reason_code" in wrong.value.fields
    with pytest.raises(Invalid) as blank:
        reserve.request_adjustment(
            project, "remove", None, actor=staff, reason_code="cancelled", reason="  "
        )
    assert "reason" in blank.value.fields
    with pytest.raises(Conflict, match="已在储备库中"):
        reserve.request_adjustment(
            project, "admit", plan(), actor=staff, reason_code="other", reason="x"
        )
    with pytest.raises(Invalid, match="相同"):
        reserve.request_adjustment(
            project, "change", plan(), actor=staff, reason_code="other", reason="x"
        )
    with pytest.raises(Invalid) as bad_plan:
        reserve.request_adjustment(
            project, "change", plan(start_year=1990), actor=staff, reason_code="other", reason="x"
        )
    assert "start_year" in bad_plan.value.fields
    with pytest.raises(NotPermitted):
        reserve.request_adjustment(
            project,
            "remove",
            None,
            actor=cast.world.other_staff,
            reason_code="cancelled",
            reason="x",
        )
    with pytest.raises(NotPermitted):
        reserve.request_adjustment(
            project,
            "remove",
            None,
            actor=cast.actor("district_reviewer"),
            reason_code="cancelled",
            reason="x",
        )
    outside = cast.project(maturity="planning")
    with pytest.raises(Conflict, match="请申请「调入」"):
        reserve.request_adjustment(
            outside, "change", plan(), actor=staff, reason_code="other", reason="x"
        )
    db.session.rollback()
    ask(cast, project, "change", plan(priority=2))
    with pytest.raises(Conflict, match="待审批"):
        ask(cast, project, "remove", code="cancelled")
    db.session.rollback()
    with pytest.raises(NotPermitted):
        reserve.decide_adjustment(
            reserve.pending_adjustment(project), True, actor=staff, expected_version=None
        )


# --- snapshots and diffs --------------------------------------------------------------------


def snap(cast, label):
    row = reserve.take_snapshot(label, actor=cast.actor("city_reviewer"))
    db.session.commit()
    return row


def test_a_snapshot_keeps_plain_lines(cast):
    project = admitted(cast)
    row = snap(cast, "2026年第一轮")
    line = row.entries[0]
    assert line == {
        "project_id": project.id,
        "code": project.code,
        "name": project.name,
        "district_id": project.district_id,
        "district_name": "盐都区",
        "declare_year": this_year() + 1,
        "start_year": this_year() + 1,
        "planned_amount": "300.00",
        "priority": 1,
        "is_key": True,
        "maturity": "reserve",
    }
    with pytest.raises(Invalid):
        reserve.take_snapshot("  ", actor=cast.actor("city_reviewer"))
    with pytest.raises(NotPermitted):
        reserve.take_snapshot("x", actor=cast.actor("district_staff"))


def test_the_diff_says_who_moved_in_out_or_changed_and_why(cast):
    y = this_year()
    stays = admitted(cast)
    changes = admitted(cast)
    leaves = admitted(cast)
    early_change = ask(cast, changes, "change", plan(priority=2), role="city_reviewer")
    decide(cast, early_change)  # approved before the first snapshot: not a reason for the diff
    first = snap(cast, "第一轮")
    adj_change = ask(
        cast,
        changes,
        "change",
        plan(priority=2, declare_year=y + 2, planned_amount=Decimal("99.90")),
        code="schedule_changed",
        reason="用地手续推迟",
    )
    decide(cast, adj_change)
    adj_out = ask(cast, leaves, "remove", code="cancelled", reason="单位撤销")
    decide(cast, adj_out)
    rejected = ask(cast, stays, "change", plan(priority=3))
    decide(cast, rejected, approve=False, comment="不同意")
    newcomer = cast.project(maturity="planning", name="新调入项目")
    adj_in = ask(cast, newcomer, "admit", plan(), code="policy_fit", reason="符合新政策")
    decide(cast, adj_in)
    second = snap(cast, "第二轮")

    diff = reserve.diff_snapshots(first, second)
    assert [d.project_id for d in diff.added] == [newcomer.id]
    assert [d.project_id for d in diff.removed] == [leaves.id]
    assert [d.project_id for d in diff.changed] == [changes.id]
    assert diff.unchanged == 1
    changed = diff.changed[0]
    assert changed.changes == [
        ("计划申报年度", f"{y + 1}年", f"{y + 2}年"),
        ("计划申请资金(万元)", "300.00", "99.90"),
    ]
    city = cast.actor("city_reviewer").display_name
    [why] = changed.reasons
    assert (why.kind, why.reason_label, why.reason, why.approved_by) == (
        "调整",
        "建设或申报计划调整",
        "用地手续推迟",
        city,
    )
    assert [(r.kind, r.reason) for r in diff.removed[0].reasons] == [("调出", "单位撤销")]
    assert "成熟度" not in [c[0] for c in diff.removed[0].changes]
    assert diff.removed[0].changes[0] == ("计划申报年度", f"{y + 1}年", "—")
    assert [(r.kind, r.reason_label) for r in diff.added[0].reasons] == [
        ("调入", "符合新出台政策方向")
    ]
    assert diff.added[0].changes[3] == ("优先级", "—", "高")

    # Either order gives the same answer; a snapshot against itself shows nothing.
    assert [d.project_id for d in reserve.diff_snapshots(second, first).added] == [newcomer.id]
    same = reserve.diff_snapshots(first, first)
    assert same.is_empty and same.unchanged == 3
    other = reserve.diff_snapshots(first, second).for_district(cast.world.tinghu.id)
    assert other.is_empty


def test_a_changed_line_without_an_approved_adjustment_has_no_reason(cast):
    project = admitted(cast)
    first = snap(cast, "一")
    project.maturity = "declaring"
    db.session.commit()
    second = snap(cast, "二")
    [line] = reserve.diff_snapshots(first, second).changed
    assert line.changes == [("成熟度", "储备", "申报中")]
    assert line.reasons == []


def test_the_plan_query_scopes_filters_and_sums(cast):
    y = this_year()
    a = admitted(cast, declare_year=y - 1, planned_amount=Decimal("100.00"))
    b = admitted(cast, declare_year=y, planned_amount=Decimal("50.25"), priority=2, is_key=False)
    c = admitted(cast, declare_year=y + 4, planned_amount=None, priority=3)
    theirs = factories.project(cast.world.tinghu, maturity="planning")
    reserve.admit_to_reserve(
        theirs, plan(), actor=cast.actor("city_reviewer"), reason_code="other", reason="x"
    )
    db.session.commit()
    staff = cast.actor("district_staff")
    mine = reserve.plan_entries(staff)
    assert {e.project_id for e in mine} == {a.id, b.id, c.id}
    assert len(reserve.plan_entries(cast.actor("city_reviewer"))) == 4
    columns = reserve.plan_columns(mine, y)
    assert [col.title for col in columns] == [
        f"{y}年",
        f"{y + 1}年",
        f"{y + 2}年",
        f"{y + 3}年及以后",
    ]
    assert [e.project_id for e in columns[0].entries] == [a.id, b.id]
    assert columns[0].total == Decimal("150.25")
    assert columns[3].total == Decimal("0")
    assert reserve.plan_columns([], y)[-1].title == f"{y + 2}年"
    assert [
        e.project_id for e in reserve.plan_entries(staff, reserve.PlanFilters(key_only=True))
    ] == [a.id, c.id]
    assert [e.project_id for e in reserve.plan_entries(staff, reserve.PlanFilters(priority=3))] == [
        c.id
    ]
    rows = reserve.plan_rows(reserve.plan_entries(staff))
    assert rows[0]["declare_year"] == f"{y - 1}年(逾期未申报)"
    assert rows[0]["priority"] == "高" and rows[0]["is_key"] == "是"
