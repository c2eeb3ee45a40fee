"""Expert review (专家评审): conflict-of-interest assignment, score sheets, aggregation, voiding."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from documents import dossier_html
from tests import factories
from tests.workflow.conftest import COMMENT, audit_rows
from workflow import experts, operations, vocab
from workflow.dossier_data import dossier_data
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Declaration, ExpertAssignment, Notification

GOOD = {"compliance": 90, "necessity": 80, "feasibility": 85, "benefit": 75}


def in_expert_review(cast, **project_values) -> Declaration:
    """A fresh 盐都区 declaration of the expert program, driven to 专家评审 with nobody assigned."""
    decl = cast.declaration(program=cast.expert_program, project=cast.project(**project_values))
    return cast.drive_to(decl, "expert_review")


def expert(organization: str = "江苏省信息中心", district=None):
    """An active expert of a unit (and, if given, a district)."""
    user = factories.user("expert", district)
    user.organization = organization
    db.session.commit()
    return user


def assign(cast, decl: Declaration, who=None) -> ExpertAssignment:
    assignment = experts.assign_expert(decl, who or expert(), actor=cast.actor("city_reviewer"))
    db.session.commit()
    return assignment


def score(assignment: ExpertAssignment, scores=None, comment: str = "建议支持") -> None:
    experts.submit_score(assignment, scores or GOOD, comment, actor=assignment.expert)
    db.session.commit()


# --- assignment ---------------------------------------------------------------------------------


def test_the_city_assigns_an_expert_who_is_told_and_the_audit_log_says_so(cast):
    decl = in_expert_review(cast)
    version = decl.version
    reviewer = expert()
    assignment = assign(cast, decl, reviewer)

    assert [a.expert_id for a in experts.active_assignments(decl)] == [reviewer.id]
    assert decl.version == version + 1  # a page showing the old round is out of date
    row = audit_rows(decl.id)[-1]
    assert (row.action, row.actor_id) == ("assign_expert", cast.actor("city_reviewer").id)
    assert row.after["expert_id"] == reviewer.id
    assert row.action_label == "分配评审专家"
    message = db.session.scalars(
        select(Notification).where(Notification.user_id == reviewer.id)
    ).one()
    assert message.kind == "expert_assigned"
    assert message.link == f"/reviews/{assignment.id}"
    assert decl.project.name in message.title


def test_an_expert_from_the_applicants_district_is_refused(cast):
    decl = in_expert_review(cast)
    local = expert(district=cast.world.yandu)
    with pytest.raises(Invalid) as refused:
        experts.assign_expert(decl, local, actor=cast.actor("city_reviewer"))
    assert "回避" in refused.value.message and "盐都区" in refused.value.message
    assert experts.active_assignments(decl) == []
    # An expert of another district may review it.
    assign(cast, decl, expert(district=cast.world.tinghu))
    assert len(experts.active_assignments(decl)) == 1


@pytest.mark.parametrize(
    "organization",
    [
        "盐城ABC数据科技有限公司",
        " 盐城 abc 数据科技 有限公司 ",
        "盐城ＡＢＣ数据科技(有限公司)",
        "盐城ABC数据科技有限公司。",
    ],
)
def test_an_expert_of_the_applicant_unit_is_refused_however_the_name_is_typed(cast, organization):
    decl = in_expert_review(cast, applicant_unit="盐城ABC数据科技有限公司")
    with pytest.raises(Invalid) as refused:
        experts.assign_expert(decl, expert(organization), actor=cast.actor("city_reviewer"))
    assert "申报单位「盐城ABC数据科技有限公司」" in refused.value.message
    assert experts.active_assignments(decl) == []


def test_unit_names_are_compared_after_nfkc_and_without_spaces_or_punctuation():
    assert experts.normalized_unit("ＡＢＣ 数据（集团）有限公司") == experts.normalized_unit(
        "abc数据(集团)有限公司"
    )
    assert experts.normalized_unit("盐城·数据 集团") == "盐城数据集团"
    assert experts.normalized_unit("盐城数据集团") != experts.normalized_unit("盐城数据研究院")
    assert experts.normalized_unit("") == ""


def test_an_expert_without_a_unit_is_not_taken_for_the_applicant(cast):
    decl = in_expert_review(cast)
    assign(cast, decl, expert(organization=""))
    assert len(experts.active_assignments(decl)) == 1


def test_the_same_expert_is_not_assigned_twice_in_a_round(cast):
    decl = in_expert_review(cast)
    reviewer = expert()
    assign(cast, decl, reviewer)
    with pytest.raises(Conflict, match="不能重复分配"):
        experts.assign_expert(decl, reviewer, actor=cast.actor("city_reviewer"))
    assert len(experts.active_assignments(decl)) == 1


@pytest.mark.parametrize("stage", ["district_review", "city_review"])
def test_experts_are_assigned_only_in_the_expert_stage(cast, stage):
    decl = cast.declaration_in(stage, program=cast.expert_program)
    with pytest.raises(Conflict) as refused:
        experts.assign_expert(decl, expert(), actor=cast.actor("city_reviewer"))
    assert "不在专家评审阶段" in refused.value.message
    assert decl.stage_label in refused.value.message


def test_a_declaration_of_the_default_workflow_never_takes_experts(cast):
    decl = cast.declaration_in("city_review")
    with pytest.raises(Conflict, match="不在专家评审阶段"):
        experts.assign_expert(decl, expert(), actor=cast.actor("city_reviewer"))


@pytest.mark.parametrize("role", ["manager", "admin", "district_reviewer", "expert"])
def test_only_the_city_reviewer_assigns(cast, role):
    decl = in_expert_review(cast)
    with pytest.raises(NotPermitted, match="只有市级审核员"):
        experts.assign_expert(decl, expert(), actor=cast.actor(role))
    assert experts.active_assignments(decl) == []


def test_only_active_experts_can_be_assigned(cast):
    decl = in_expert_review(cast)
    city = cast.actor("city_reviewer")
    with pytest.raises(Invalid, match="不是在用的评审专家"):
        experts.assign_expert(decl, cast.actor("manager"), actor=city)
    retired = expert()
    retired.active = False
    db.session.commit()
    with pytest.raises(Invalid, match="不是在用的评审专家"):
        experts.assign_expert(decl, retired, actor=city)


def test_the_candidates_list_says_why_each_excluded_expert_is_excluded(cast):
    decl = in_expert_review(cast, applicant_unit="盐城测试科技有限公司")
    free = expert("南京大学")
    local = expert("盐城工学院", district=cast.world.yandu)
    insider = expert("盐城测试科技有限公司")
    taken = expert("东南大学")
    assign(cast, decl, taken)

    by_id = {c.expert.id: c for c in experts.expert_candidates(decl)}
    assert by_id[free.id].eligible and by_id[free.id].reasons == []
    assert by_id[local.id].reasons == ["专家来自申报项目所在的盐都区"]
    assert by_id[insider.id].reasons == ["专家所在单位即申报单位「盐城测试科技有限公司」"]
    assert by_id[taken.id].reasons == ["已分配本轮评审"]
    assert cast.actor("manager").id not in by_id  # only experts are candidates


def test_an_unscored_assignment_can_be_taken_back(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    who = assignment.expert
    experts.unassign_expert(assignment, actor=cast.actor("city_reviewer"))
    db.session.commit()
    assert experts.active_assignments(decl) == []
    row = audit_rows(decl.id)[-1]
    assert row.action == "unassign_expert" and row.before["expert_id"] == who.id
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == who.id))
    assert any(t.startswith("评审任务已撤销") for t in titles)


def test_a_scored_assignment_cannot_be_taken_back(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    score(assignment)
    with pytest.raises(Conflict, match="已提交评分"):
        experts.unassign_expert(assignment, actor=cast.actor("city_reviewer"))
    with pytest.raises(NotPermitted):
        experts.unassign_expert(assignment, actor=cast.actor("manager"))
    assert len(experts.active_assignments(decl)) == 1


# --- the score sheet ----------------------------------------------------------------------------


def test_a_score_is_weighted_and_audited(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    score(assignment, {"compliance": 90, "necessity": "80", "feasibility": 85.5, "benefit": 75})
    sheet = assignment.score
    # (90 + 80 + 85.5 + 75) × 25 / 100
    assert sheet.total == Decimal("82.63")
    assert sheet.scores == {"compliance": 90, "necessity": 80, "feasibility": 85.5, "benefit": 75}
    row = audit_rows(decl.id)[-1]
    assert (row.action, row.actor_id) == ("score", assignment.expert_id)
    assert row.after["total"] == "82.63" and row.after["comment"] == "建议支持"
    assert row.action_label == "提交专家评分"


def test_the_total_follows_the_programs_own_weights(cast):
    cast.expert_program.score_criteria = [
        {"name": "c1", "label": "政策符合度", "weight": 40},
        {"name": "c2", "label": "技术方案", "weight": 35},
        {"name": "c3", "label": "数据资源", "weight": 25},
    ]
    db.session.commit()
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    score(assignment, {"c1": 100, "c2": "60.5", "c3": 70})
    # 100 × 0.40 + 60.5 × 0.35 + 70 × 0.25 = 40 + 21.175 + 17.5 = 78.675 → 78.68 (half up)
    assert assignment.score.total == Decimal("78.68")


@pytest.mark.parametrize(
    ("scores", "field", "message"),
    [
        ({**GOOD, "benefit": None}, "benefit", "请为「预期效益」打分"),
        ({k: v for k, v in GOOD.items() if k != "necessity"}, "necessity", "请为「必要性」打分"),
        ({**GOOD, "compliance": 101}, "compliance", "「合规性」的分数应在 0 到 100 之间"),
        ({**GOOD, "compliance": "-1"}, "compliance", "「合规性」的分数应在 0 到 100 之间"),
        ({**GOOD, "feasibility": "八十"}, "feasibility", "「可行性」的分数应为数字"),
        ({**GOOD, "feasibility": "NaN"}, "feasibility", "「可行性」的分数应为数字"),
        ({**GOOD, "feasibility": True}, "feasibility", "「可行性」的分数应为数字"),
        ({**GOOD, "benefit": "80.125"}, "benefit", "「预期效益」的分数最多保留两位小数"),
        ({**GOOD, "novelty": 90}, "novelty", "评分表中没有「novelty」这一项"),
    ],
)
def test_a_bad_score_sheet_is_refused_naming_the_criterion(cast, scores, field, message):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    with pytest.raises(Invalid) as refused:
        experts.submit_score(assignment, scores, "意见", actor=assignment.expert)
    assert refused.value.fields[field] == message
    db.session.rollback()
    assert assignment.score is None


def test_the_opinion_is_required(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    with pytest.raises(Invalid) as refused:
        experts.submit_score(assignment, GOOD, "   ", actor=assignment.expert)
    assert refused.value.fields == {"comment": "请填写评审意见"}
    # Both at once: the sheet's problems and the missing opinion are reported together.
    with pytest.raises(Invalid) as refused:
        experts.submit_score(assignment, {**GOOD, "benefit": 200}, "", actor=assignment.expert)
    assert set(refused.value.fields) == {"benefit", "comment"}


def test_boundary_scores_are_accepted(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    score(assignment, {"compliance": 0, "necessity": 100, "feasibility": "0.01", "benefit": 99.99})
    assert assignment.score.total == Decimal("50.00")


def test_only_the_assigned_expert_scores(cast):
    decl = in_expert_review(cast)
    assignment = assign(cast, decl)
    for intruder in (expert(), cast.actor("city_reviewer")):
        with pytest.raises(NotPermitted, match="被分配的专家本人"):
            experts.submit_score(assignment, GOOD, "意见", actor=intruder)
    assert assignment.score is None


def test_an_expert_corrects_the_sheet_until_the_city_concludes(cast):
    decl = in_expert_review(cast)
    first, second = assign(cast, decl), assign(cast, decl)
    score(first)
    score(second)
    score(first, {**GOOD, "benefit": 95}, "修改后:效益更明显")
    assert first.score.total == Decimal("87.50")
    assert first.score.comment == "修改后:效益更明显"
    correction = audit_rows(decl.id)[-1]
    assert correction.before["total"] == "82.50" and correction.after["total"] == "87.50"
    assert experts.assignment_status(first) == "scored" and experts.can_correct(first)

    cast.act(decl, "approve", "city_reviewer")
    assert decl.stage == "recommended"
    with pytest.raises(Conflict, match="评分已结束"):
        experts.submit_score(first, GOOD, "再改", actor=first.expert)
    assert not experts.can_correct(first)
    assert first.score.total == Decimal("87.50")
    with pytest.raises(Conflict, match="「已推荐上报」,不在专家评审阶段"):
        experts.assign_expert(decl, expert(), actor=cast.actor("city_reviewer"))


# --- the guard, the return, the ranking ---------------------------------------------------------


def test_the_city_concludes_only_once_the_stage_minimum_has_scored(cast):
    decl = in_expert_review(cast)
    city = cast.actor("city_reviewer")
    context = operations.workflow_context(COMMENT)

    def reasons():
        from workflow import machine

        return machine.refusal_reasons(decl, "approve", city, context)

    assert reasons() == ["至少需要 2 位专家评审,目前已分配 0 位"]  # min_experts: 2 in the YAML
    first = assign(cast, decl)
    score(first)
    assert reasons() == ["至少需要 2 位专家评审,目前已分配 1 位"]
    second = assign(cast, decl)
    assert reasons() == [f"尚有 1 位专家未提交评分:{second.expert.display_name}"]
    with pytest.raises(Invalid):
        cast.act(decl, "approve", "city_reviewer")
    db.session.rollback()
    score(second)
    assert reasons() == []
    cast.act(decl, "approve", "city_reviewer")
    assert decl.stage == "recommended"


def test_a_return_voids_the_round_and_the_revised_declaration_is_scored_afresh(cast):
    decl = in_expert_review(cast)
    scored, waiting = assign(cast, decl), assign(cast, decl)
    score(scored)
    cast.act(decl, "return_for_revision", "city_reviewer", comment="请补充数据资源清单")
    db.session.expire_all()

    assert decl.stage == "returned"
    assert experts.active_assignments(decl) == []
    assert {a.id for a in experts.past_assignments(decl)} == {scored.id, waiting.id}
    assert experts.assignment_status(scored) == "voided"
    assert experts.assignment_status(waiting) == "voided"
    with pytest.raises(Conflict, match="已作废"):
        experts.submit_score(waiting, GOOD, "意见", actor=waiting.expert)
    assert experts.assignments_of(waiting.expert, pending_only=True) == []
    assert experts.program_ranking(cast.expert_program) == []
    assert experts.dossier_block(decl) is None

    # Back in the stage, the same expert may be assigned again to the revised text.
    for trigger, role in (
        ("resubmit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
    ):
        cast.act(decl, trigger, role)
    again = assign(cast, decl, scored.expert)
    assert experts.assignment_status(again) == "pending"
    assert experts.scoring_gaps(decl, min_experts=2)[0].startswith("至少需要 2 位")


def test_the_ranking_orders_by_mean_total_and_ties_share_a_rank(cast):
    program = cast.expert_program
    low, high, tie_more, tie_fewer, unscored = (in_expert_review(cast) for _ in range(5))
    for decl, sheets in (
        (low, [(60, 60, 60, 60), (70, 70, 70, 70)]),  # 60, 70 → 65.00
        (high, [(90, 90, 90, 90), (100, 80, 90, 90)]),  # 90, 90 → 90.00
        (tie_more, [(80, 80, 80, 80), (80, 80, 80, 80)]),  # 80.00 from two
        (tie_fewer, [(80, 80, 80, 80)]),  # 80.00 from one (the other waits)
    ):
        for values in sheets:
            score(assign(cast, decl), dict(zip(GOOD, values, strict=True)))
    assign(cast, tie_fewer)
    assign(cast, unscored)

    rows = experts.program_ranking(program)
    assert [(r.rank, r.declaration.id) for r in rows] == [
        (1, high.id),
        (2, tie_more.id),
        (2, tie_fewer.id),
        (4, low.id),
    ]
    top = rows[0].summary
    assert top.mean_total == Decimal("90.00")
    assert top.criterion_means == {
        "compliance": Decimal("95.00"),
        "necessity": Decimal("85.00"),
        "feasibility": Decimal("90.00"),
        "benefit": Decimal("90.00"),
    }
    assert (rows[2].summary.assigned, len(rows[2].summary.scored)) == (2, 1)
    assert not rows[2].summary.complete and rows[1].summary.complete


def test_means_round_half_up_to_cents():
    assert experts.mean([Decimal("80.00"), Decimal("80.01")]) == Decimal("80.01")  # 80.005
    assert experts.mean([Decimal("82.63"), Decimal("82.62"), Decimal("82.62")]) == Decimal("82.62")
    assert experts.mean([]) is None


# --- the score sheet of a program -----------------------------------------------------------


def test_the_city_sets_a_programs_criteria_until_the_first_score(cast):
    program = cast.expert_program
    sheet = [
        {"name": "c1", "label": "政策符合度", "weight": 60},
        {"name": "c2", "label": "实施条件", "weight": 40},
    ]
    experts.set_score_criteria(program, sheet, actor=cast.actor("admin"))
    db.session.commit()
    assert experts.score_criteria(program) == sheet
    row = audit_rows(program.id, "program")[-1]
    assert row.action == "update" and row.after == {"score_criteria": sheet}

    decl = in_expert_review(cast)
    score(assign(cast, decl), {"c1": 80, "c2": 90})
    assert experts.program_has_scores(program)
    with pytest.raises(Conflict, match="已有专家提交评分"):
        experts.set_score_criteria(program, [], actor=cast.actor("city_reviewer"))


def test_a_program_without_criteria_uses_the_default_sheet(cast):
    assert experts.score_criteria(cast.expert_program) == list(vocab.DEFAULT_SCORE_CRITERIA)
    assert sum(c["weight"] for c in vocab.DEFAULT_SCORE_CRITERIA) == 100


@pytest.mark.parametrize(
    ("sheet", "problem"),
    [
        (
            [
                {"name": "a", "label": "甲", "weight": 50},
                {"name": "b", "label": "乙", "weight": 40},
            ],
            "各评分项权重之和应为 100,现为 90",
        ),
        (
            [
                {"name": "a", "label": "甲", "weight": 0},
                {"name": "b", "label": "乙", "weight": 100},
            ],
            "评分项「甲」的权重应为正整数",
        ),
        (
            [
                {"name": "a", "label": "甲", "weight": 50},
                {"name": "a", "label": "甲", "weight": 50},
            ],
            "评分项「甲」重复",
        ),
    ],
)
def test_a_bad_sheet_is_refused(cast, sheet, problem):
    with pytest.raises(Invalid) as refused:
        experts.set_score_criteria(cast.expert_program, sheet, actor=cast.actor("city_reviewer"))
    assert problem in refused.value.reasons


def test_only_the_city_and_admins_set_criteria(cast):
    with pytest.raises(NotPermitted):
        experts.set_score_criteria(cast.expert_program, [], actor=cast.actor("manager"))


# --- the dossier --------------------------------------------------------------------------------


def test_the_dossier_prints_each_experts_total_and_opinion_and_the_mean(cast):
    decl = in_expert_review(cast)
    first, second = assign(cast, decl), assign(cast, decl)
    score(first, GOOD, "数据资源丰富,建议支持")
    score(second, {**GOOD, "benefit": 95}, "效益测算充分")

    block = dossier_data(decl)["expert_review"]
    assert [(e["name"], e["total"], e["comment"]) for e in block["experts"]] == [
        (first.expert.display_name, "82.50", "数据资源丰富,建议支持"),
        (second.expert.display_name, "87.50", "效益测算充分"),
    ]
    assert block["mean"] == "85.00"
    html = dossier_html(dossier_data(decl))
    assert "专家评审" in html and "85.00" in html and "效益测算充分" in html


def test_a_dossier_without_scores_has_no_expert_block(cast):
    decl = in_expert_review(cast)
    assign(cast, decl)
    data = dossier_data(decl)
    assert data["expert_review"] is None
    assert 'id="expert-review"' not in dossier_html(data)
