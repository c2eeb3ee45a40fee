"""Expert review pages: experts see only their own assignments; the city assigns and ranks."""

import pytest
from sqlalchemy import select

from tests import factories
from tests.factories import act
from tests.views.html import page
from tests.views.objects import USER_ROUTES, call, snapshot, yandu_objects
from workflow import experts
from workflow.extensions import db
from workflow.models import ExpertAssignment, Notification

EXPERT_ROUTES = [r for r in USER_ROUTES if r.endpoint.startswith("experts.")]
SHEET = {
    "s_compliance": "90",
    "s_necessity": "80",
    "s_feasibility": "85",
    "s_benefit": "75",
    "comment": "建设必要性充分,建议支持。",
}


def in_expert_review(world, program=None, **project_values):
    """A 盐都区 declaration driven to 专家评审 (program asking for expert review)."""
    program = program or factories.program(workflow_name="expert_review")
    project = factories.project(world.yandu, **project_values)
    decl = factories.declaration(project, program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer, "同意")
    act(decl, "approve", world.city, "同意")
    return decl


def new_expert(organization="江苏省信息中心", district=None):
    user = factories.user("expert", district)
    user.organization = organization
    db.session.commit()
    return user


def assigned(world, decl, expert):
    assignment = experts.assign_expert(decl, expert, actor=world.city)
    db.session.commit()
    return assignment


# --- isolation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", EXPERT_ROUTES, ids=lambda r: r.id)
def test_an_assignment_is_404_to_everyone_but_its_expert(world, login, route):
    objects = yandu_objects(world)
    before = snapshot()
    for intruder in (
        objects.spare_expert,
        world.staff,
        world.reviewer,
        world.other_staff,
        world.city,
        world.manager,
        world.admin,
    ):
        response = call(login(intruder), route, objects)
        assert response.status_code == 404, (intruder.role, response.status_code)
        assert page(response).h1 == "页面不存在"
        assert objects.expert_declaration.project.name not in page(response).text
        assert "Content-Disposition" not in response.headers
    assert snapshot() == before
    response = call(login(world.expert), route, objects)
    assert response.status_code == route.owner_status, page(response).text[:400]


def test_an_assigned_expert_still_gets_404_on_the_declaration_pages(world, login):
    objects = yandu_objects(world)
    decl = objects.expert_declaration
    client = login(world.expert)
    for path in (
        f"/declarations/{decl.id}",
        f"/projects/{decl.project.id}",
        f"/attachments/{decl.attachments[0].id}",
    ):
        assert client.get(path).status_code == 404, path
    assert decl.project.name not in page(client.get("/declarations")).text


def test_an_attachment_of_another_declaration_is_404_through_an_assignment(world, login):
    objects = yandu_objects(world)
    client = login(world.expert)
    foreign = objects.attachment  # of the other (default workflow) declaration
    response = client.get(f"/reviews/{objects.assignment.id}/attachments/{foreign.id}")
    assert response.status_code == 404
    own = objects.expert_declaration.attachments[0]
    response = client.get(f"/reviews/{objects.assignment.id}/attachments/{own.id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    response.close()  # a streamed file is closed here, not left to the collector


def test_only_experts_have_a_review_list(world, login):
    for user in (world.staff, world.city):
        response = login(user).get("/reviews")
        assert response.status_code == 403
        assert "评审专家" in page(response).text


# --- the expert's side --------------------------------------------------------------------------


def test_the_expert_lists_only_their_own_assignments(world, login):
    decl = in_expert_review(world)
    mine = assigned(world, decl, world.expert)
    other = new_expert()
    assigned(world, decl, other)
    shown = page(login(world.expert).get("/reviews"))
    rows = shown.rows("assignments")
    assert len(rows) == 1 and decl.project.name in rows[0] and "待评分" in rows[0]
    assert f"/reviews/{mine.id}" in shown.links()
    inbox = page(login(world.expert).get("/inbox"))
    assert decl.project.name in " ".join(inbox.rows("pending-reviews"))


def test_the_expert_reads_the_declaration_and_scores_it(world, login):
    decl = in_expert_review(world)
    assignment = assigned(world, decl, world.expert)
    client = login(world.expert)
    shown = page(client.get(f"/reviews/{assignment.id}"))
    assert decl.project.name in shown.h1
    assert "300.00 万元" in shown.text  # the requested amount
    assert "已填写" in shown.text  # the program's form field
    assert decl.attachments[0].original_name in shown.text
    assert shown.value("s_compliance") == "" and shown.value("comment") == ""

    response = client.post(f"/reviews/{assignment.id}/score", data=SHEET)
    assert response.status_code == 302
    shown = page(client.get(response.headers["Location"]))
    assert "评分已提交:加权总分 82.50" in shown.alerts()
    assert shown.by_id("assignment-status").text == "已评分"
    assert shown.value("s_compliance") == "90"  # the sheet may be corrected while the stage lasts
    assert page(client.get("/inbox")).rows("pending-reviews") == []


def test_a_wrong_sheet_keeps_what_was_typed_and_says_what_is_wrong(world, login):
    decl = in_expert_review(world)
    assignment = assigned(world, decl, world.expert)
    client = login(world.expert)
    typed = {**SHEET, "s_compliance": "105", "s_benefit": "八十", "s_necessity": "", "comment": ""}
    response = client.post(f"/reviews/{assignment.id}/score", data=typed)
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("s_compliance") == ["分数应在 0 到 100 之间"]
    assert shown.field_errors("s_benefit") == ["请填写 0 到 100 之间的数字"]
    assert shown.field_errors("s_necessity") == ["请为「必要性」打分"]
    assert shown.field_errors("comment") == ["请填写评审意见"]
    assert shown.value("s_compliance") == "105" and shown.value("s_benefit") == "八十"
    assert shown.value("s_feasibility") == "85"
    db.session.expire_all()
    assert db.session.get(ExpertAssignment, assignment.id).score is None


def test_after_a_return_the_experts_page_shows_the_round_as_void(world, login):
    decl = in_expert_review(world)
    assignment = assigned(world, decl, world.expert)
    act(decl, "return_for_revision", world.city, "请补充数据资源清单")
    client = login(world.expert)
    shown = page(client.get("/reviews"))
    assert "已作废" in shown.rows("assignments")[0]
    shown = page(client.get(f"/reviews/{assignment.id}"))
    assert shown.by_id("assignment-status").text == "已作废"
    assert shown.by_id("voided") is not None
    assert shown.value("s_compliance") is None  # no sheet to fill
    assert decl.attachments[0].original_name not in shown.text
    response = client.post(f"/reviews/{assignment.id}/score", data=SHEET)
    assert response.status_code == 409
    assert "已作废" in " ".join(page(response).alerts())
    assert page(response).value("comment") == SHEET["comment"]  # what was typed is kept
    attachment = decl.attachments[0]
    assert client.get(f"/reviews/{assignment.id}/attachments/{attachment.id}").status_code == 404
    assert page(client.get("/inbox")).rows("pending-reviews") == []


# --- the city's side ----------------------------------------------------------------------------


def test_the_city_assigns_from_the_declaration_page(world, login):
    decl = in_expert_review(world, applicant_unit="盐城测试科技有限公司")
    free = new_expert("南京大学")
    insider = new_expert("盐城测试科技 有限公司")
    client = login(world.city)
    shown = page(client.get(f"/declarations/{decl.id}"))
    card = shown.by_id("expert-review")
    assert card is not None and "至少 2 位专家" in card.text
    options = [o.attrs.get("value") for o in shown.by_id("assign-expert").find_all("option")]
    assert str(free.id) in options and str(insider.id) not in options
    assert "申报单位" in shown.by_id("excluded-experts").text

    response = client.post(f"/declarations/{decl.id}/experts", data={"expert_id": str(free.id)})
    assert response.status_code == 302
    shown = page(client.get(response.headers["Location"]))
    assert any("已分配评审专家" in a for a in shown.alerts())
    assert free.display_name in " ".join(shown.rows("expert-assignments"))
    message = db.session.scalars(select(Notification).where(Notification.user_id == free.id)).one()
    assert message.link.startswith("/reviews/")


def test_a_refused_assignment_says_why_on_the_declaration_page(world, login):
    decl = in_expert_review(world, applicant_unit="盐城测试科技有限公司")
    insider = new_expert("盐城测试科技有限公司")
    local = new_expert("盐城工学院", world.yandu)
    client = login(world.city)
    for who, words in ((insider, "申报单位"), (local, "盐都区")):
        before = snapshot()
        response = client.post(f"/declarations/{decl.id}/experts", data={"expert_id": str(who.id)})
        assert response.status_code == 422
        assert any("回避" in a and words in a for a in page(response).alerts())
        assert snapshot() == before
    response = client.post(f"/declarations/{decl.id}/experts", data={"expert_id": ""})
    assert response.status_code == 422
    assert "请选择评审专家" in " ".join(page(response).alerts())


def test_the_manager_sees_the_scores_but_cannot_assign_and_districts_see_nothing(world, login):
    decl = in_expert_review(world)
    assignment = assigned(world, decl, world.expert)
    experts.submit_score(assignment, {"compliance": 90, "necessity": 80, "feasibility": 85,
                                      "benefit": 75}, "建议支持", actor=world.expert)  # fmt: skip
    db.session.commit()
    shown = page(login(world.manager).get(f"/declarations/{decl.id}"))
    assert "82.50" in " ".join(shown.rows("expert-assignments"))
    assert shown.by_id("assign-expert") is None
    response = login(world.manager).post(
        f"/declarations/{decl.id}/experts", data={"expert_id": str(new_expert().id)}
    )
    assert response.status_code == 403
    for user in (world.staff, world.reviewer):
        shown = page(login(user).get(f"/declarations/{decl.id}"))
        assert shown.by_id("expert-review") is None
        assert "建议支持" not in shown.text


def test_the_city_takes_back_an_unscored_assignment(world, login):
    decl = in_expert_review(world)
    assignment = assigned(world, decl, world.expert)
    client = login(world.city)
    response = client.post(f"/assignments/{assignment.id}/unassign")
    assert response.status_code == 302
    assert experts.active_assignments(decl) == []
    assert client.post(f"/assignments/{assignment.id}/unassign").status_code == 404


def test_the_ranking_page_lists_declarations_best_first(world, login):
    program = factories.program(workflow_name="expert_review")
    weak, strong = in_expert_review(world, program), in_expert_review(world, program)
    for decl, value in ((weak, 70), (strong, 90)):
        for _ in range(2):
            assignment = assigned(world, decl, new_expert())
            values = dict.fromkeys(("compliance", "necessity", "feasibility", "benefit"), value)
            experts.submit_score(assignment, values, "意见", actor=assignment.expert)
            db.session.commit()
    for user in (world.city, world.manager):
        client = login(user)
        assert (
            f"/programs/{program.id}/ranking" in page(client.get(f"/programs/{program.id}")).links()
        )
        shown = page(client.get(f"/programs/{program.id}/ranking"))
        rows = shown.rows("ranking")
        assert rows[0].startswith("1 " + strong.project.name) and "90.00" in rows[0]
        assert rows[1].startswith("2 " + weak.project.name) and "70.00" in rows[1]
        assert f"/declarations/{strong.id}#expert-review" in shown.links()
    for user in (world.staff, world.expert):
        assert login(user).get(f"/programs/{program.id}/ranking").status_code == 403


def test_the_city_edits_a_programs_sheet_until_the_first_score(world, login):
    program = factories.program(workflow_name="expert_review")
    client = login(world.city)
    shown = page(client.get(f"/programs/{program.id}/criteria"))
    assert shown.value("criteria") == "合规性:25\n必要性:25\n可行性:25\n预期效益:25"

    response = client.post(
        f"/programs/{program.id}/criteria", data={"criteria": "政策符合度:50\n技术方案 30"}
    )
    assert response.status_code == 422
    shown = page(response)
    assert shown.field_errors("criteria") == ["各评分项权重之和应为 100,现为 80"]
    assert shown.value("criteria") == "政策符合度:50\n技术方案 30"
    response = client.post(f"/programs/{program.id}/criteria", data={"criteria": "政策符合度:五十"})
    assert (
        "第 1 行「政策符合度:五十」应写成「名称:权重」"
        in page(response).field_errors("criteria")[0]
    )

    text = "政策符合度:50\n技术方案:30\n合规性:20"
    response = client.post(f"/programs/{program.id}/criteria", data={"criteria": text})
    assert response.status_code == 302
    db.session.expire_all()
    assert program.score_criteria == [
        {"name": "c1", "label": "政策符合度", "weight": 50},
        {"name": "c2", "label": "技术方案", "weight": 30},
        {"name": "compliance", "label": "合规性", "weight": 20},
    ]
    assert "政策符合度 50%" in " ".join(
        page(client.get(f"/programs/{program.id}")).rows("score-criteria")
    )

    decl = in_expert_review(world, program)
    assignment = assigned(world, decl, world.expert)
    experts.submit_score(assignment, {"c1": 80, "c2": 70, "compliance": 90}, "意见",
                         actor=world.expert)  # fmt: skip
    db.session.commit()
    shown = page(client.get(f"/programs/{program.id}/criteria"))
    assert shown.by_id("criteria-locked") is not None and shown.value("criteria") is None
    response = client.post(f"/programs/{program.id}/criteria", data={"criteria": ""})
    assert response.status_code == 409
    assert "已有专家提交评分" in " ".join(page(response).alerts())
    for user in (world.manager, world.staff):
        assert login(user).get(f"/programs/{program.id}/criteria").status_code == 403


def test_the_applicants_history_does_not_name_the_experts(world, login):
    decl = in_expert_review(world)
    expert = new_expert(organization="南京大学", district=None)
    expert.display_name = "评审专家 孙立"
    db.session.commit()
    assignment = assigned(world, decl, expert)
    experts.submit_score(
        assignment,
        {"compliance": 90, "necessity": 80, "feasibility": 85, "benefit": 75},
        "建议支持",
        actor=expert,
    )
    db.session.commit()
    for user in (world.staff, world.reviewer):
        history = page(login(user).get(f"/declarations/{decl.id}")).by_id("history").text
        assert "孙立" not in history and "提交专家评分" not in history
    city = page(login(world.city).get(f"/declarations/{decl.id}")).by_id("history").text
    assert "孙立" in city and "提交专家评分" in city
