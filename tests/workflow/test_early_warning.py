"""Warnings and rectification: measures on crafted facts, rules on crafted histories, the task."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import audit_rows
from tests.workflow.test_concurrency import HOLDS, race
from tests.workflow.test_operations import jpeg_bytes
from workflow import early_warning, reminders, tracking
from workflow.early_warning import Facts, compute_measures, conditions_text, rule_holds
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import (
    Declaration,
    Notification,
    ProjectWarning,
    RectificationTask,
    User,
    WarningRule,
)
from workflow.operations import local_today
from workflow.storage import upload_path
from workflow.workdays import add_working_days

D = Decimal


def facts(**overrides) -> Facts:
    values = dict(
        maturity="funded",
        planned_start=date(2026, 3, 1),
        planned_end=date(2026, 12, 1),
        approved_on=date(2026, 1, 15),
        total_investment=D("1000"),
    )
    values.update(overrides)
    return Facts(**values)


# --- measures (pure) -------------------------------------------------------------------------


def test_an_unstarted_project_counts_days_from_the_first_day_of_its_planned_month():
    measures = compute_measures(facts(), date(2026, 4, 15))
    assert measures["days_late_start"] == D(45)
    # Not yet due: zero days late, not unknown.
    assert compute_measures(facts(), date(2026, 2, 20))["days_late_start"] == D(0)


@pytest.mark.parametrize(
    "started",
    [
        {"actual_start_on": date(2026, 3, 20)},
        {"maturity": "under_construction"},
        {"maturity": "accepted"},
    ],
)
def test_a_started_project_has_no_late_start(started):
    assert compute_measures(facts(**started), date(2026, 4, 15))["days_late_start"] is None


def test_a_start_reported_for_a_later_day_does_not_count_yet():
    later = facts(actual_start_on=date(2026, 5, 1))
    assert compute_measures(later, date(2026, 4, 15))["days_late_start"] == D(45)


def test_progress_lag_is_the_elapsed_share_of_the_plan_less_reported_progress():
    plan = facts(planned_start=date(2026, 1, 1), planned_end=date(2026, 12, 1))
    # 1 January to 31 December is 364 days; 2 July is day 182: half the plan.
    assert compute_measures(plan, date(2026, 7, 2))["progress_lag"] == D("50.00")
    reported = facts(
        planned_start=date(2026, 1, 1), planned_end=date(2026, 12, 1), progress_percent=D("30")
    )
    assert compute_measures(reported, date(2026, 7, 2))["progress_lag"] == D("20.00")
    # Clamped to the plan: before the start nothing is due, after the end everything is.
    assert compute_measures(reported, date(2025, 10, 1))["progress_lag"] == D("-30.00")
    assert compute_measures(plan, date(2027, 3, 1))["progress_lag"] == D("100.00")
    assert compute_measures(facts(planned_end=None), date(2026, 7, 2))["progress_lag"] is None


def test_payment_and_investment_rates_and_their_unknowns():
    paid = facts(funds_received=D("200"), payment=D("70"), investment_completed=D("125"))
    measures = compute_measures(paid, date(2026, 7, 1))
    assert (measures["payment_rate"], measures["investment_rate"]) == (D("35.00"), D("12.50"))
    nothing = compute_measures(facts(funds_received=D(0), payment=D(0)), date(2026, 7, 1))
    assert nothing["payment_rate"] is None
    unreported = compute_measures(facts(), date(2026, 7, 1))
    assert (unreported["payment_rate"], unreported["investment_rate"]) == (None, None)
    no_total = facts(total_investment=None, investment_completed=D("10"))
    assert compute_measures(no_total, date(2026, 7, 1))["investment_rate"] is None


def test_completion_is_late_only_after_the_planned_month():
    assert compute_measures(facts(), date(2026, 12, 31))["days_past_planned_end"] == D(0)
    assert compute_measures(facts(), date(2027, 1, 10))["days_past_planned_end"] == D(10)
    done = facts(maturity="completed")
    assert compute_measures(done, date(2027, 1, 10))["days_past_planned_end"] is None


def test_months_since_approval_count_whole_months():
    assert compute_measures(facts(), date(2026, 7, 14))["months_since_approval"] == D(5)
    assert compute_measures(facts(), date(2026, 7, 15))["months_since_approval"] == D(6)
    assert (
        compute_measures(facts(approved_on=None), date(2026, 7, 15))["months_since_approval"]
        is None
    )
    assert compute_measures(facts(overdue_reports=3), date(2026, 7, 1))["overdue_reports"] == 3


LOW_PAYMENT = [
    {"measure": "payment_rate", "op": "<", "value": "50"},
    {"measure": "months_since_approval", "op": ">=", "value": "6"},
]


@pytest.mark.parametrize(
    ("measures", "holds"),
    [
        ({"payment_rate": D("49.99"), "months_since_approval": D(6)}, True),
        ({"payment_rate": D("50"), "months_since_approval": D(6)}, False),
        ({"payment_rate": D("10"), "months_since_approval": D(5)}, False),
        # A measure that cannot be known never holds.
        ({"payment_rate": None, "months_since_approval": D(12)}, False),
    ],
)
def test_a_rule_holds_when_all_its_conditions_hold(measures, holds):
    assert rule_holds(LOW_PAYMENT, measures) is holds


def test_a_rule_without_conditions_or_with_a_broken_one_never_holds():
    measures = {"overdue_reports": D(5)}
    assert rule_holds([], measures) is False
    assert rule_holds([{"measure": "overdue_reports", "op": "≈", "value": "1"}], measures) is False
    assert rule_holds([{"measure": "overdue_reports", "op": ">", "value": "x"}], measures) is False


def test_conditions_read_in_chinese():
    assert conditions_text(LOW_PAYMENT) == "资金支付率 < 50% 且 批复后的月数 ≥ 6"


def test_the_message_names_the_figures_and_the_threshold():
    rule = [{"measure": "days_late_start", "op": ">=", "value": "30"}]
    on = date(2026, 4, 15)
    message = early_warning.describe(rule, compute_measures(facts(), on), facts(), on)
    assert message == "计划2026年03月开工,已超过45天未开工(阈值:≥30天)"
    paid = facts(funds_received=D("200"), payment=D("70"), approved_on=date(2025, 12, 1))
    message = early_warning.describe(LOW_PAYMENT, compute_measures(paid, on), paid, on)
    assert message == (
        "资金支付率35%(累计支付70万元,到位资金200万元)(阈值:<50%);批复已4个月(阈值:≥6)"
    )


@pytest.mark.parametrize(
    ("conditions", "fragment"),
    [
        ([], "至少设置一个条件"),
        ([{"measure": "weather", "op": ">=", "value": "1"}], "监测指标"),
        ([{"measure": "payment_rate", "op": "!=", "value": "1"}], "比较方式"),
        ([{"measure": "payment_rate", "op": "<", "value": "五十"}], "阈值应为数字"),
        ([{"measure": "payment_rate", "op": "<", "value": "1.234"}], "两位小数"),
        ([{"measure": "payment_rate", "op": "<", "value": "1"}] * 4, "最多 3 个条件"),
    ],
)
def test_condition_errors(conditions, fragment):
    assert any(fragment in e for e in early_warning.condition_errors(conditions))


# --- crafted histories -----------------------------------------------------------------------


def this_month() -> date:
    return tracking.month_start(local_today())


def months(n: int) -> date:
    """The first day of the month n months from this one."""
    return tracking.add_months(this_month(), n)


def funded(cast, *, approved: int, start: int, end: int) -> Declaration:
    """A declaration approved ``approved`` months back, its project planned from ``start`` to
    ``end`` months from now (through the real workflow)."""
    project = cast.project(planned_start=months(start), planned_end=months(end))
    decl = cast.declaration_in("approved", program=factories.program(), project=project)
    decl.approved_on = months(-approved)  # the approval date the manager typed
    db.session.commit()
    return decl


def accepted(cast, decl, period: date, **figures):
    """File, submit and accept one period's report."""
    values = {
        "progress_text": "按计划推进",
        "progress_percent": D("0"),
        "investment_completed": D("0"),
        "payment_cumulative": D("0"),
    }
    values.update(figures)
    report = tracking.create_report(decl, period, values, actor=cast.world.staff)
    tracking.submit_report(report, actor=cast.world.staff)
    tracking.review_report(report, True, "", actor=cast.world.reviewer)
    db.session.commit()
    return report


def falls_behind(cast) -> Declaration:
    """Approved five months ago and started, yet a year's plan stands at 10 % after five months."""
    decl = funded(cast, approved=5, start=-5, end=6)
    for step, period in enumerate(tracking.periods_until(decl, months(-1)), start=1):
        accepted(
            cast,
            decl,
            period,
            actual_start_on=months(-5) + timedelta(days=9),
            progress_percent=D(2 * step),
            investment_completed=D(20 * step),
            received_central=D("100"),
            payment_cumulative=D(10 * step),
        )
    return decl


def messages(kind: str, user: User | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.kind == kind)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    return list(db.session.scalars(query.order_by(Notification.id)))


def test_the_builtin_rules_are_created_once(app):
    first = early_warning.ensure_builtin_rules()
    early_warning.ensure_builtin_rules()
    db.session.commit()
    assert set(first) == {"late_start", "behind_schedule", "low_payment", "overdue_completion"}
    assert db.session.scalar(select(func.count()).select_from(WarningRule)) == 4
    assert conditions_text(first["low_payment"].conditions) == (
        "资金支付率 < 50% 且 批复后的月数 ≥ 6"
    )
    assert first["overdue_completion"].level == "red"
    assert first["late_start"].evidence_required == "开工报告或施工许可证、现场照片"
    assert len(audit_rows(first["late_start"].id, "warning_rule")) == 1


def test_a_project_that_falls_behind_raises_a_warning_and_a_task(cast):
    decl = falls_behind(cast)
    today = local_today()
    raised = early_warning.evaluate(today)
    db.session.commit()
    assert [w.rule.code for w in raised] == ["behind_schedule"]
    warning = raised[0]
    assert (warning.declaration, warning.district, warning.status, warning.level) == (
        decl,
        cast.world.yandu,
        "open",
        "yellow",
    )
    assert "已审核的形象进度为10%" in warning.message
    assert "(阈值:≥20个百分点)" in warning.message
    assert warning.measures["values"]["days_late_start"] is None  # it has started
    task = warning.task
    assert (task.owner, task.status, task.district_id) == (
        cast.world.staff,
        "open",
        cast.world.yandu.id,
    )
    assert task.due_on == add_working_days(today, 10)
    assert task.evidence_required == warning.rule.evidence_required
    told = {m.user_id for m in messages("warning_raised")}
    assert told == {cast.world.staff.id, cast.world.reviewer.id}
    assert [r.action for r in audit_rows(warning.id, "warning")] == ["raise"]
    assert [r.action for r in audit_rows(task.id, "rectification")] == ["create"]


def test_only_accepted_reports_count(cast):
    decl = falls_behind(cast)
    # This month's report claims great progress but is still a draft.
    tracking.create_report(
        decl,
        this_month(),
        {"progress_percent": D("95"), "received_central": D("100"), "payment_cumulative": D("50")},
        actor=cast.world.staff,
    )
    db.session.commit()
    assert [w.rule.code for w in early_warning.evaluate(local_today())] == ["behind_schedule"]


def test_running_twice_raises_once_and_tells_once(cast):
    falls_behind(cast)
    today = local_today()
    first = early_warning.send_warnings(today)
    db.session.commit()
    assert first == 2  # the district's staff and reviewer
    assert early_warning.send_warnings(today) == 0
    assert early_warning.evaluate(today) == []
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ProjectWarning)) == 1
    assert early_warning.send_warnings in reminders.DAILY_REMINDERS
    assert early_warning.send_rectification_reminders in reminders.DAILY_REMINDERS


def test_this_months_warning_is_never_raised_twice_even_at_once(cast):
    """Two evaluations at the same moment both get past the open-warning check."""
    decl = falls_behind(cast)
    rule = early_warning.ensure_builtin_rules()["behind_schedule"]
    (item,) = early_warning.funded_as_of(local_today(), [decl.id])
    warning, sent = early_warning.raise_warning(rule, item, local_today())
    again, sent_again = early_warning.raise_warning(rule, item, local_today())
    db.session.commit()
    assert warning is not None and sent == 2
    assert (again, sent_again) == (None, 0)
    assert db.session.scalar(select(func.count()).select_from(RectificationTask)) == 1


@HOLDS
def test_two_evaluations_at_once_raise_one_warning_and_neither_fails(app, cast, hold):
    falls_behind(cast)
    today = local_today()

    def evaluating():
        return lambda: early_warning.evaluate(today)

    results = race(app, [evaluating, evaluating], hold)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(len(r) for r in results) == [0, 1]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ProjectWarning)) == 1
    assert db.session.scalar(select(func.count()).select_from(RectificationTask)) == 1
    assert len(messages("warning_raised")) == 2


def test_an_open_warning_holds_off_next_month_and_a_closed_one_does_not(cast):
    falls_behind(cast)
    (warning,) = early_warning.evaluate(local_today())
    db.session.commit()
    next_month = months(1) + timedelta(days=14)
    assert early_warning.evaluate(next_month) == []  # still being rectified
    close(cast, warning.task)
    # Closed this month: the rule still holds, but not again this month.
    assert early_warning.evaluate(local_today()) == []
    again = early_warning.evaluate(next_month)
    db.session.commit()
    assert [w.rule.code for w in again] == ["behind_schedule"]
    assert again[0].month == months(1) and again[0].task.status == "open"


def test_a_late_start_warning_on_a_crafted_history(cast):
    decl = funded(cast, approved=4, start=-3, end=12)
    accepted(cast, decl, months(-4), received_central=D("100"))
    accepted(cast, decl, months(-3), received_central=D("100"))
    today = local_today()
    late = (today - months(-3)).days
    codes = {w.rule.code: w for w in early_warning.evaluate(today)}
    assert "late_start" in codes
    assert codes["late_start"].message == (
        f"计划{months(-3):%Y年%m月}开工,已超过{late}天未开工(阈值:≥30天)"
    )
    # Once an accepted report names the start, the project is no longer late.
    accepted(cast, decl, months(-2), actual_start_on=months(-2), received_central=D("100"))
    (item,) = early_warning.funded_as_of(today, [decl.id])
    assert item.facts.actual_start_on == months(-2)
    assert compute_measures(item.facts, today)["days_late_start"] is None


def test_low_payment_and_overdue_completion(cast):
    decl = funded(cast, approved=8, start=-14, end=-1)
    accepted(
        cast,
        decl,
        months(-8),
        actual_start_on=months(-8),
        progress_percent=D("90"),
        investment_completed=D("500"),
        received_central=D("200"),
        payment_cumulative=D("60"),
    )
    found = {w.rule.code: w for w in early_warning.evaluate(local_today())}
    assert set(found) == {"low_payment", "overdue_completion"}
    assert found["overdue_completion"].level == "red"
    assert "资金支付率30%(累计支付60万元,到位资金200万元)" in found["low_payment"].message
    assert "批复已8个月(阈值:≥6)" in found["low_payment"].message


def test_a_rule_of_the_citys_own_and_a_disabled_rule(cast):
    decl = funded(cast, approved=4, start=-4, end=24)
    accepted(cast, decl, months(-4), actual_start_on=months(-4), progress_percent=D("10"))
    rule = early_warning.create_rule(
        {
            "name": "调度报告逾期",
            "description": "",
            "level": "red",
            "conditions": [{"measure": "overdue_reports", "op": ">=", "value": "2.0"}],
            "rectify_working_days": 5,
            "evidence_required": "补报的调度报告",
            "enabled": True,
        },
        actor=cast.world.city,
    )
    db.session.commit()
    assert rule.conditions == [{"measure": "overdue_reports", "op": ">=", "value": "2"}]
    overdue = len(tracking.due_reports(local_today(), [decl]))
    assert overdue >= 2
    (warning,) = early_warning.evaluate(local_today())
    assert warning.rule == rule
    assert warning.message == f"逾期未报调度报告{overdue}份(阈值:≥2份)"
    assert warning.task.due_on == add_working_days(local_today(), 5)
    db.session.rollback()
    early_warning.update_rule(
        rule,
        {**rule_values(rule), "enabled": False},
        actor=cast.world.manager,
        expected_version=rule.version,
    )
    assert early_warning.evaluate(local_today()) == []


def test_the_owner_is_the_author_or_else_the_first_active_staff_member(cast):
    decl = falls_behind(cast)
    assert early_warning.task_owner(decl, cast.world.yandu.id) == cast.world.staff
    cast.world.staff.active = False
    second = factories.user("district_staff", cast.world.yandu)
    db.session.commit()
    (warning,) = early_warning.evaluate(local_today())
    assert warning.task.owner == second


# --- rules -----------------------------------------------------------------------------------


def rule_values(rule: WarningRule, **overrides) -> dict:
    values = {name: getattr(rule, name) for name in early_warning.RULE_FIELDS}
    values["conditions"] = [dict(c) for c in rule.conditions]
    values.update(overrides)
    return values


def test_the_city_changes_a_threshold_with_an_audit_row(cast):
    rule = early_warning.ensure_builtin_rules()["late_start"]
    db.session.commit()
    seen = rule.version
    conditions = [{"measure": "days_late_start", "op": ">=", "value": "45"}]
    early_warning.update_rule(
        rule, rule_values(rule, conditions=conditions), actor=cast.world.city, expected_version=seen
    )
    db.session.commit()
    assert rule.conditions == conditions and rule.version == seen + 1
    row = audit_rows(rule.id, "warning_rule")[-1]
    assert row.action == "update" and row.after["conditions"] == conditions
    with pytest.raises(Conflict, match="已被他人修改"):
        early_warning.update_rule(
            rule, rule_values(rule, rectify_working_days=5), actor=cast.world.city,
            expected_version=seen,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"conditions": [{"measure": "progress_lag", "op": ">=", "value": "30"}]}, "conditions",
         "只能修改阈值"),
        ({"name": "开工迟缓"}, "name", "不能改名"),
        ({"level": "purple"}, "level", "预警等级"),
        ({"rectify_working_days": 0}, "rectify_working_days", "1–60"),
    ],
)  # fmt: skip
def test_a_builtin_rule_keeps_what_it_watches(cast, overrides, field, fragment):
    rule = early_warning.ensure_builtin_rules()["late_start"]
    with pytest.raises(Invalid) as caught:
        early_warning.update_rule(
            rule, rule_values(rule, **overrides), actor=cast.world.city, expected_version=None
        )
    assert fragment in caught.value.fields[field]


def test_rule_names_are_unique_and_only_the_city_configures_rules(cast):
    early_warning.ensure_builtin_rules()
    values = {
        "name": "进度滞后",
        "level": "yellow",
        "conditions": [{"measure": "investment_rate", "op": "<", "value": "10"}],
        "rectify_working_days": 10,
        "enabled": True,
    }
    with pytest.raises(Invalid, match="已有名为「进度滞后」的规则"):
        early_warning.create_rule(values, actor=cast.world.city)
    for who in ("staff", "reviewer", "expert"):
        with pytest.raises(NotPermitted):
            early_warning.create_rule({**values, "name": "新规则"}, actor=getattr(cast.world, who))
    rule = early_warning.create_rule({**values, "name": "投资完成率低"}, actor=cast.world.admin)
    assert rule.code is None and rule.created_by_id == cast.world.admin.id


# --- the rectification task ------------------------------------------------------------------


@pytest.fixture
def task(cast) -> RectificationTask:
    falls_behind(cast)
    (warning,) = early_warning.evaluate(local_today())
    db.session.commit()
    return warning.task


def evidence(cast, task, content=None, name="施工许可证.pdf"):
    return early_warning.add_evidence(
        task, filename=name, content=content or factories.pdf_bytes(), actor=cast.world.staff
    )


def submit(cast, task, text="已调整施工组织,增加两个作业班组", who=None):
    early_warning.submit_rectification(
        task, text, actor=who or cast.world.staff, expected_version=task.version
    )
    db.session.commit()


def close(cast, task):
    if task.status != "submitted":
        if not task.evidence:
            evidence(cast, task)
        submit(cast, task)
    early_warning.review_rectification(
        task, True, "整改到位", actor=cast.world.city, expected_version=task.version
    )
    db.session.commit()


def test_the_task_is_submitted_returned_resubmitted_and_closed(cast, task):
    with pytest.raises(Invalid) as caught:
        early_warning.submit_rectification(
            task, "  ", actor=cast.world.staff, expected_version=task.version
        )
    assert set(caught.value.fields) == {"response", "file"}
    stored = evidence(cast, task, jpeg_bytes(), "现场照片.jpg")
    db.session.commit()
    assert upload_path(stored.stored_name).read_bytes() == jpeg_bytes()
    submit(cast, task)
    assert (task.status, task.response) == ("submitted", "已调整施工组织,增加两个作业班组")
    told = {m.user_id for m in messages("rectification_submitted")}
    assert told == {cast.world.city.id, cast.world.manager.id}
    with pytest.raises(Conflict, match="不能修改"):
        evidence(cast, task)
    with pytest.raises(Invalid, match="请填写意见"):
        early_warning.review_rectification(
            task, False, " ", actor=cast.world.city, expected_version=task.version
        )
    early_warning.review_rectification(
        task,
        False,
        "请补充监理单位的进度说明",
        actor=cast.world.city,
        expected_version=task.version,
    )
    db.session.commit()
    assert (task.status, task.review_comment) == ("returned", "请补充监理单位的进度说明")
    assert task.warning.status == "open"
    assert [m.body for m in messages("rectification_reviewed", cast.world.staff)] == [
        "请补充监理单位的进度说明"
    ]
    evidence(cast, task, name="监理进度说明.pdf")
    submit(cast, task, "已补充监理单位进度说明")
    early_warning.review_rectification(
        task, True, "", actor=cast.world.manager, expected_version=task.version
    )
    db.session.commit()
    assert (task.status, task.warning.status) == ("closed", "closed")
    assert task.closed_at is not None and task.warning.closed_at is not None
    assert [e.action for e in early_warning.history(task.warning)] == [
        "raise",
        "create",
        "upload",
        "submit",
        "return",
        "upload",
        "submit",
        "close",
        "close",
    ]


@pytest.mark.parametrize("who", ["reviewer", "other_staff", "city", "manager"])
def test_only_the_districts_staff_work_on_the_task(cast, task, who):
    actor = getattr(cast.world, who)
    with pytest.raises(NotPermitted):
        early_warning.add_evidence(
            task, filename="a.pdf", content=factories.pdf_bytes(), actor=actor
        )
    with pytest.raises(NotPermitted):
        early_warning.submit_rectification(task, "说明", actor=actor, expected_version=None)


def test_any_staff_member_of_the_district_may_submit(cast, task):
    colleague = factories.user("district_staff", cast.world.yandu)
    early_warning.add_evidence(
        task, filename="a.pdf", content=factories.pdf_bytes(), actor=colleague
    )
    submit(cast, task, who=colleague)
    assert task.status == "submitted"


@pytest.mark.parametrize("who", ["staff", "reviewer", "admin", "expert"])
def test_only_the_city_reviewer_or_manager_closes(cast, task, who):
    evidence(cast, task)
    submit(cast, task)
    with pytest.raises(NotPermitted):
        early_warning.review_rectification(
            task, True, "", actor=getattr(cast.world, who), expected_version=task.version
        )
    assert task.status == "submitted"


def test_evidence_is_judged_by_its_bytes(cast, task):
    with pytest.raises(Invalid, match="PDF、JPG 或 PNG"):
        evidence(cast, task, b"PK\x03\x04 not really a pdf", "伪装.pdf")


def test_a_stale_version_is_a_conflict(cast, task):
    seen = task.version
    early_warning.save_response(task, "初稿", actor=cast.world.staff, expected_version=seen)
    db.session.commit()
    assert task.version == seen + 1
    with pytest.raises(Conflict, match="已被他人修改"):
        early_warning.save_response(task, "另一稿", actor=cast.world.staff, expected_version=seen)
    evidence(cast, task)
    submit(cast, task)
    with pytest.raises(Conflict, match="已被他人修改"):
        early_warning.review_rectification(
            task, True, "", actor=cast.world.city, expected_version=seen
        )


def test_reminders_before_and_after_the_due_date_go_out_once(cast, task):
    today = local_today()
    task.due_on = add_working_days(today, 5)
    db.session.commit()
    assert early_warning.send_rectification_reminders(today) == 0
    task.due_on = add_working_days(today, 2)
    db.session.commit()
    assert early_warning.send_rectification_reminders(today) == 1  # the owner
    assert early_warning.send_rectification_reminders(today) == 0
    task.due_on = today - timedelta(days=1)
    db.session.commit()
    assert early_warning.send_rectification_reminders(today) == 2  # staff and reviewer
    assert early_warning.send_rectification_reminders(today) == 0
    titles = [m.title for m in messages("warning_raised", cast.world.staff)]
    assert any(t.startswith("整改即将到期") for t in titles)
    assert any(t.startswith("整改已逾期") for t in titles)
