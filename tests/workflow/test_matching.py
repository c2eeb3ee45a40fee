"""Matching a program to the reserve: every criterion, the ranking, and invitations."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from tests import factories
from workflow import matching
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.matching import (
    invite_to_program,
    match_program,
    measure,
    open_invitations,
    support_terms,
)
from workflow.models import (
    AuditEvent,
    Notification,
    Prerequisite,
    ProgramInvitation,
    ReserveEntry,
)
from workflow.operations import local_today
from workflow.rules import prerequisite_problems


def reserve_project(
    district,
    *,
    amount: Decimal | None = Decimal("300"),
    declare_year: int | None = None,
    priority: int = 2,
    planned: bool = True,
    **overrides,
):
    """A reserve project with its plan line (none when ``planned`` is False)."""
    project = factories.project(district, **overrides)
    if planned:
        year = declare_year or local_today().year
        db.session.add(
            ReserveEntry(
                project=project,
                declare_year=year,
                start_year=year,
                planned_amount=amount,
                priority=priority,
            )
        )
        db.session.commit()
    return project


def check(project, program, code: str):
    return measure(project, program).criterion(code)


# --- 支持领域 ----------------------------------------------------------------------------------


def test_support_areas_are_split_into_terms():
    text = "重点支持数据基础设施、数据要素流通等领域;人工智能项目/智慧文旅方向,数"
    assert support_terms(text) == ["数据基础设施", "数据要素流通", "人工智能", "智慧文旅"]
    assert support_terms("") == []


@pytest.mark.parametrize(
    ("support_areas", "overrides", "passed", "reason"),
    [
        ("数字经济核心产业", {}, True, "所属领域「数字经济」符合支持方向「数字经济核心产业」"),
        (
            "算力基础设施、数据安全",
            {"category": "digital_infrastructure"},
            True,
            "所属领域「数字基础设施」符合支持方向「算力基础设施」",
        ),
        (
            "新能源汽车产业链",
            {"category": "digital_society", "industry_chain": "汽车"},
            True,
            "产业链「汽车」符合支持方向「新能源汽车产业链」",
        ),
        (
            "城市生命线",
            {"category": "digital_society", "industry_chain": "", "name": "盐都区城市生命线平台"},
            True,
            "项目名称含支持方向「城市生命线」",
        ),
        (
            "数据安全",
            {"category": "digital_society", "industry_chain": "汽车"},
            False,
            "所属领域「数字社会」、产业链「汽车」及项目名称均不在本批次支持领域内",
        ),
        (
            "数据安全",
            {"category": "digital_society", "industry_chain": ""},
            False,
            "所属领域「数字社会」及项目名称均不在本批次支持领域内",
        ),
        ("", {"category": "digital_society"}, True, "本批次未限定支持领域"),
    ],
)
def test_support_area(world, support_areas, overrides, passed, reason):
    project = reserve_project(world.yandu, **overrides)
    program = factories.program(support_areas=support_areas)
    criterion = check(project, program, "support_area")
    assert (criterion.passed, criterion.reason) == (passed, reason)
    assert criterion.hard and criterion.label == "支持领域"


# --- 申请金额 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "limits", "passed", "reason"),
    [
        ("800", ("10", "500"), False, "申请资金 800 万元超过上限 500 万元"),
        ("5", ("10", "500"), False, "申请资金 5 万元低于下限 10 万元"),
        ("500", ("10", "500"), True, "申请资金 500 万元,在 10–500 万元之间"),
        ("10", ("10", "500"), True, "申请资金 10 万元,在 10–500 万元之间"),
        ("1234.5", (None, "2000"), True, "申请资金 1,234.5 万元,未超过上限 2,000 万元"),
        ("300", ("100", None), True, "申请资金 300 万元,不低于下限 100 万元"),
        ("300", (None, None), True, "申请资金 300 万元,本批次未限定金额"),
        ("0", (None, None), False, "计划申请资金为 0,无法申报"),
    ],
)
def test_amount_limits(world, amount, limits, passed, reason):
    project = reserve_project(world.yandu, amount=Decimal(amount), total_investment=None)
    low, high = (Decimal(v) if v else None for v in limits)
    program = factories.program(min_request=low, max_request=high)
    criterion = check(project, program, "amount")
    assert (criterion.passed, criterion.reason) == (passed, reason)


def test_without_a_planned_amount_the_level_funding_source_is_used(world):
    project = reserve_project(world.yandu, amount=None)  # fund_central 300 in the factory
    national = measure(project, factories.program(level="national"))
    assert (national.amount, national.amount_source) == (Decimal("300.00"), "资金来源中的中央资金")
    assert national.criterion("amount").passed
    provincial = measure(project, factories.program(level="provincial"))  # no provincial funds
    assert provincial.amount is None
    assert provincial.criterion("amount").reason == "未填写计划申请资金,无法核对金额限制"
    assert not provincial.criterion("amount").passed
    assert not provincial.fits
    unplanned = reserve_project(world.yandu, planned=False)
    assert measure(unplanned, world.program).amount_source == "资金来源中的中央资金"
    planned = reserve_project(world.yandu, amount=Decimal("120"))
    assert measure(planned, world.program).amount_source == "储备计划申请资金"


# --- 资金比例 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "max_ratio", "passed", "reason"),
    [
        ("600", "0.5", False, "申请资金占总投资 60%,超过上限 50%(最多可申请 500 万元)"),
        ("500", "0.5", True, "申请资金占总投资 50%,未超过上限 50%"),
        (
            "333.34",
            "0.3333",
            False,
            "申请资金占总投资 33.33%,超过上限 33.33%(最多可申请 333.3 万元)",
        ),
        ("900", None, True, "申请资金占总投资 90%,本批次未限定比例"),
        ("1200", None, False, "申请资金 1,200 万元超过项目总投资 1,000 万元"),
    ],
)
def test_ratio(world, amount, max_ratio, passed, reason):
    project = reserve_project(world.yandu, amount=Decimal(amount))  # total 1000
    program = factories.program(
        max_request=None, max_ratio=Decimal(max_ratio) if max_ratio else None
    )
    criterion = check(project, program, "ratio")
    assert (criterion.passed, criterion.reason) == (passed, reason)


def test_ratio_needs_the_total_investment(world):
    project = reserve_project(world.yandu, total_investment=None, fund_central=None,
                              fund_local_fiscal=None, fund_self=None)  # fmt: skip
    criterion = check(project, world.program, "ratio")
    assert (criterion.passed, criterion.reason) == (False, "项目未填写总投资,无法核对占总投资比例")


# --- 前期要件 ----------------------------------------------------------------------------------


def test_required_prerequisites_present_and_valid(world):
    project = reserve_project(world.yandu)
    program = factories.program(required_prerequisites=["feasibility_approval"])
    criterion = check(project, program, "prerequisites")
    assert criterion.passed
    assert criterion.reason == (
        f"可研批复齐全,有效期覆盖市级审核截止日 {program.city_deadline.isoformat()}"
    )


def test_a_missing_prerequisite_fails(world):
    project = reserve_project(world.yandu)
    program = factories.program(required_prerequisites=["feasibility_approval", "environmental"])
    criterion = check(project, program, "prerequisites")
    assert (criterion.passed, criterion.reason) == (False, "缺少前期要件「环评」")


def test_a_prerequisite_must_last_through_the_city_deadline(world):
    program = factories.program()
    project = reserve_project(world.yandu)
    project.prerequisites[0].valid_until = program.city_deadline
    db.session.commit()
    assert check(project, program, "prerequisites").passed  # the deadline day itself counts
    project.prerequisites[0].valid_until = program.city_deadline - timedelta(days=1)
    db.session.commit()
    criterion = check(project, program, "prerequisites")
    assert (criterion.passed, criterion.reason) == (
        False,
        "前期要件「可研批复」在市级审核截止日前已过期",
    )


def test_no_required_prerequisites(world):
    project = reserve_project(world.yandu)
    project.prerequisites.clear()
    db.session.commit()
    program = factories.program(required_prerequisites=[])
    assert check(project, program, "prerequisites").reason == "本批次未要求前期要件"


# --- soft criteria and ranking factors ------------------------------------------------------


def test_declare_year_is_soft(world):
    year = local_today().year
    program = factories.program(year=year)
    cases = {
        year: (True, f"计划 {year} 年申报,与本批次年度一致"),
        year - 1: (True, f"计划 {year - 1} 年申报,已到申报年度"),
        year + 1: (False, f"计划 {year + 1} 年申报,本批次为 {year} 年,需提前申报"),
    }
    for declare_year, expected in cases.items():
        match = measure(reserve_project(world.yandu, declare_year=declare_year), program)
        criterion = match.criterion("declare_year")
        assert (criterion.passed, criterion.reason) == expected
        assert not criterion.hard
        assert match.fits  # a soft criterion never makes a project unfit
    unplanned = measure(reserve_project(world.yandu, planned=False), program)
    assert unplanned.criterion("declare_year").reason == "未编入三年滚动计划"
    assert unplanned.fits


def test_priority_and_key_flag_are_shown_but_neither_pass_nor_fail(world):
    match = measure(reserve_project(world.yandu, priority=1, is_key=True), world.program)
    assert match.criterion("priority").passed is None
    assert match.criterion("priority").reason == "「高」"
    assert match.criterion("key").reason == "是,同等条件下优先"
    plain = measure(reserve_project(world.yandu, planned=False), world.program)
    assert plain.criterion("priority").reason == "未编入储备计划,排在有优先级的项目之后"
    assert plain.criterion("key").reason == "否"


def test_the_maturity_score_is_taken_on_the_city_deadline(world):
    program = factories.program()
    project = reserve_project(world.yandu)
    db.session.add(
        Prerequisite(
            project=project,
            kind="environmental",
            doc_number="盐环审〔2025〕1号",
            issued_on=date(2025, 1, 1),
            valid_until=program.city_deadline - timedelta(days=1),
        )
    )
    db.session.commit()
    match = measure(project, program)
    assert match.score.on == program.city_deadline
    assert match.score.total == 35  # the 环评 lapses before the deadline


# --- ranking ----------------------------------------------------------------------------------


def test_ranking_order(world):
    year = local_today().year
    program = factories.program(max_request=Decimal("500"), year=year)
    made = {
        "two_failures": reserve_project(
            world.yandu, amount=Decimal("800"), category="digital_society", industry_chain=""
        ),
        "one_failure": reserve_project(world.yandu, amount=Decimal("800"), priority=1, is_key=True),
        "later_year": reserve_project(world.yandu, declare_year=year + 1, priority=1, is_key=True),
        "medium": reserve_project(world.yandu, priority=2),
        "medium_key": reserve_project(world.yandu, priority=2, is_key=True),
        "high": reserve_project(world.yandu, priority=1),
        "unplanned": reserve_project(world.tinghu, planned=False),
    }  # fmt: skip
    # Equal to "medium" but with more documents: the maturity score breaks the tie.
    richer = reserve_project(world.yandu, priority=2)
    db.session.add(
        Prerequisite(project=richer, kind="land_site", doc_number="盐自然资预〔2025〕2号",
                     issued_on=date(2025, 1, 1), valid_until=None)
    )  # fmt: skip
    db.session.commit()
    made["medium_richer"] = richer
    names = {p.id: name for name, p in made.items()}
    matches = match_program(program)
    assert [names[m.project.id] for m in matches] == [
        "high",
        "medium_key",
        "medium_richer",
        "medium",
        "later_year",  # the year not reached yet; priority 高 before no plan line at all
        "unplanned",
        "one_failure",
        "two_failures",
    ]
    assert [m.rank for m in matches] == list(range(1, 9))
    assert [m.fits for m in matches] == [True] * 6 + [False] * 2
    assert [c.reason for c in matches[-1].failures] == [
        "所属领域「数字社会」及项目名称均不在本批次支持领域内",
        "申请资金 800 万元超过上限 500 万元",
        "申请资金占总投资 80%,超过上限 50%(最多可申请 500 万元)",
    ]


def test_only_reserve_projects_are_matched(world):
    listed = reserve_project(world.yandu)
    for maturity in ("planning", "declaring", "funded", "removed"):
        reserve_project(world.yandu, maturity=maturity)
    assert [m.project.id for m in match_program(world.program)] == [listed.id]


def test_matching_one_district(world):
    mine = reserve_project(world.yandu)
    theirs = reserve_project(world.tinghu)
    assert [m.project.id for m in match_program(world.program, district_id=world.yandu.id)] == [
        mine.id
    ]
    assert {m.project.id for m in match_program(world.program)} == {mine.id, theirs.id}


def test_invited_and_declared_projects_are_marked(world):
    invited = reserve_project(world.yandu)
    declared = reserve_project(world.yandu)
    invite_to_program(world.program, [invited], actor=world.city)
    db.session.commit()
    factories.declaration(declared, world.program, by=world.staff)
    by_id = {m.project.id: m for m in match_program(world.program)}
    assert by_id[invited.id].invitation is not None and not by_id[invited.id].declared
    assert by_id[declared.id].declared and by_id[declared.id].invitation is None


def count_queries(callable_):
    statements = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        callable_()
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    return len(statements)


def test_matching_costs_the_same_queries_for_many_projects(world):
    """No query per project: the number of statements does not grow with the reserve."""
    for _ in range(3):
        reserve_project(world.yandu)
    db.session.expire_all()
    few = count_queries(lambda: match_program(world.program))
    for n in range(40):
        reserve_project(world.tinghu if n % 2 else world.yandu, planned=n % 3 != 0)
    db.session.expire_all()
    many = count_queries(lambda: [m.project.district.name for m in match_program(world.program)])
    assert many == few


# --- invitations --------------------------------------------------------------------------


def test_the_city_invites_and_each_district_is_told(world):
    second_staff = factories.user("district_staff", world.yandu)
    a = reserve_project(world.yandu, name="盐都区数据要素平台")
    b = reserve_project(world.tinghu, name="亭湖区算力中心")
    result = invite_to_program(world.program, [a, b], actor=world.city, message="请于截止前申报")
    db.session.commit()
    assert [i.project_id for i in result.created] == [a.id, b.id]
    assert result.skipped == []
    rows = db.session.scalars(select(ProgramInvitation).order_by(ProgramInvitation.id)).all()
    assert [(r.program_id, r.project_id, r.invited_by_id, r.message) for r in rows] == [
        (world.program.id, a.id, world.city.id, "请于截止前申报"),
        (world.program.id, b.id, world.city.id, "请于截止前申报"),
    ]
    audits = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "program_invitation")
    ).all()
    assert [(e.object_id, e.action, e.actor_id, e.after["project_id"]) for e in audits] == [
        (rows[0].id, "invite", world.city.id, a.id),
        (rows[1].id, "invite", world.city.id, b.id),
    ]
    assert audits[0].comment == "请于截止前申报"
    sent = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert {(m.user_id, m.link) for m in sent} == {
        (world.staff.id, f"/projects/{a.id}#invitations"),
        (second_staff.id, f"/projects/{a.id}#invitations"),
        (world.other_staff.id, f"/projects/{b.id}#invitations"),
    }
    message = next(m for m in sent if m.user_id == world.other_staff.id)
    assert message.kind == "invitation"
    assert message.title == "申报邀请:亭湖区算力中心"
    assert f"申报「{world.program.title}」" in message.body
    assert "说明:请于截止前申报" in message.body


def test_inviting_again_skips_what_was_already_invited(world):
    a = reserve_project(world.yandu, name="已邀请项目")
    invite_to_program(world.program, [a], actor=world.city)
    db.session.commit()
    b = reserve_project(world.yandu)
    result = invite_to_program(world.program, [a, b, b], actor=world.city)
    db.session.commit()
    assert [i.project_id for i in result.created] == [b.id]
    assert [(p.id, why) for p, why in result.skipped] == [(a.id, "已邀请过")]
    assert db.session.scalar(select(db.func.count()).select_from(ProgramInvitation)) == 2
    # The first project's staff got one message, not two.
    assert (
        db.session.scalar(
            select(db.func.count())
            .select_from(Notification)
            .where(Notification.dedupe_key == f"invite-{world.program.id}-{a.id}")
        )
        == 1
    )


def test_declared_and_non_reserve_projects_are_skipped(world):
    declared = reserve_project(world.yandu)
    factories.declaration(declared, world.program, by=world.staff)
    planning = reserve_project(world.yandu, maturity="planning")
    result = invite_to_program(world.program, [declared, planning], actor=world.city)
    assert result.created == []
    assert [why for _, why in result.skipped] == ["已申报本批次", "不在储备库中(当前为「谋划」)"]


@pytest.mark.parametrize("role", ["manager", "staff", "reviewer", "expert", "admin"])
def test_only_the_city_reviewer_invites(world, role):
    project = reserve_project(world.yandu)
    with pytest.raises(NotPermitted, match="只有市级审核员可以邀请区县申报"):
        invite_to_program(world.program, [project], actor=getattr(world, role))


def test_a_closed_program_or_a_passed_deadline_refuses_invitations(world):
    project = reserve_project(world.yandu)
    closed = factories.program(status="closed", title="已截止批次")
    with pytest.raises(Conflict, match="申报批次「已截止批次」当前已截止,不能邀请申报"):
        invite_to_program(closed, [project], actor=world.city)
    late = factories.program(district_deadline=local_today() - timedelta(days=1))
    with pytest.raises(Conflict, match="区县申报已于 .* 截止,不能再邀请申报"):
        invite_to_program(late, [project], actor=world.city)
    on_the_day = factories.program(district_deadline=local_today())
    assert invite_to_program(on_the_day, [project], actor=world.city).created


def test_nothing_ticked_is_refused(world):
    with pytest.raises(Invalid, match="请至少勾选一个项目"):
        invite_to_program(world.program, [], actor=world.city)


# --- open invitations ---------------------------------------------------------------------


def test_open_invitations_until_the_project_is_declared(world):
    mine = reserve_project(world.yandu)
    theirs = reserve_project(world.tinghu)
    invite_to_program(world.program, [mine, theirs], actor=world.city)
    db.session.commit()
    today = local_today()
    assert [i.project_id for i in open_invitations(world.staff, today)] == [mine.id]
    assert [i.project_id for i in open_invitations(world.other_staff, today)] == [theirs.id]
    assert len(open_invitations(world.city, today)) == 2
    assert open_invitations(world.expert, today) == []
    assert open_invitations(world.staff, today, project_id=theirs.id) == []
    decl = factories.declaration(mine, world.program, by=world.staff)
    assert open_invitations(world.staff, today) == []
    factories.act(decl, "withdraw", world.staff)
    assert [i.project_id for i in open_invitations(world.staff, today)] == [mine.id]


def test_invitations_close_with_the_program_window(world):
    project = reserve_project(world.yandu)
    invite_to_program(world.program, [project], actor=world.city)
    db.session.commit()
    deadline = world.program.district_deadline
    assert open_invitations(world.staff, deadline)
    assert open_invitations(world.staff, deadline + timedelta(days=1)) == []
    world.program.status = "closed"
    db.session.commit()
    assert open_invitations(world.staff, local_today()) == []


def test_invitation_refusal_explains_itself(world):
    today = local_today()
    assert matching.invitation_refusal(world.program, world.city, today) is None
    assert "市级审核员" in matching.invitation_refusal(world.program, world.manager, today)


def test_rules_share_the_prerequisite_check_with_submission(world):
    """Matching and submission read the same rule; only the deadline differs."""
    project = reserve_project(world.yandu)
    deadline = project.prerequisites[0].valid_until + timedelta(days=1)
    assert prerequisite_problems(project.prerequisites, ["feasibility_approval"], deadline) == [
        "前期要件「可研批复」在申报截止日前已过期"
    ]
