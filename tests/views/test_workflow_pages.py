"""Workflow pages: the definitions for the city, each declaration's diagram, a program's choice."""

from dataclasses import replace

import pytest
from sqlalchemy import select

from tests import factories
from tests.factories import act
from tests.views.html import has_cjk, page
from workflow import diagram, machine, vocab
from workflow.extensions import db
from workflow.models import AuditEvent, FundingProgram

VIEWERS = ["city", "manager", "admin"]
OTHERS = ["staff", "reviewer", "expert"]
PROGRAM_FIELDS = (
    "title",
    "level",
    "issuer",
    "channel",
    "year",
    "batch",
    "support_areas",
    "notice",
    "opens_on",
    "district_deadline",
    "city_deadline",
    "upstream_deadline",
    "min_request",
    "max_request",
    "max_ratio_percent",
    "workflow_name",
    "status",
    "version",
)


@pytest.fixture(autouse=True)
def fresh_diagrams():
    """Pictures drawn for one test (some with a workflow only it has) do not outlive it."""
    diagram.clear_cache()
    yield
    diagram.clear_cache()


def shown(response, status: int = 200):
    """The page, checked to be the expected status and in Chinese."""
    assert response.status_code == status, response.text[:400]
    result = page(response)
    assert has_cjk(result.h1), result.h1
    return result


def stage_nodes(node) -> dict[str, object]:
    """The stage boxes of the diagram inside a page element, by stage code."""
    return {
        g.attrs["id"].removeprefix("stage-"): g
        for g in node.find_all("g", class_="node")
        if g.attrs.get("id", "").startswith("stage-")
    }


def current_stages(node) -> list[str]:
    return [code for code, g in stage_nodes(node).items() if "current" in g.classes]


# --- who sees the definitions -----------------------------------------------------------------


@pytest.mark.parametrize("role", VIEWERS)
def test_the_city_sees_every_definition_and_who_uses_it(world, login, role, make_declaration):
    make_declaration(_project(world), world.program, by=world.staff)
    factories.program(title="专家评审批次", workflow_name="expert_review")

    listing = shown(login(getattr(world, role)).get("/workflows"))
    assert listing.h1 == "审核流程"
    rows = {r.attrs["id"]: r for r in listing.by_id("workflows").find_all("tr") if "id" in r.attrs}
    assert set(rows) == {f"workflow-{w.name}-v{w.version}" for w in machine.all_workflows()}
    default = rows["workflow-default-v1"]
    assert "标准流程" in default.text and "第 1 版" in default.text and "新申报使用" in default.text
    assert world.program.title in default.find("td", class_="programs").text
    assert "专家评审批次" not in default.text
    assert default.find_all("td")[-1].text == "1"  # the one declaration above follows it
    expert = rows["workflow-expert_review-v1"]
    assert "专家评审批次" in expert.text and expert.find_all("td")[-1].text == "0"
    link = default.find("a")
    assert link.attrs["href"] == "/workflows/view?name=default&version=1"


@pytest.mark.parametrize("role", OTHERS)
def test_districts_and_experts_may_not_open_the_definitions(world, login, role):
    client = login(getattr(world, role))
    for path in ("/workflows", "/workflows/view?name=default&version=1"):
        refused = shown(client.get(path), 403)
        assert "只有市级审核员、管理人员和系统管理员可以查看审核流程定义" in refused.text


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in ("/workflows", "/workflows/view?name=default&version=1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- one definition ---------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", machine.all_workflows(), ids=lambda w: w.name)
def test_a_definition_page_shows_the_running_definition(world, login, workflow):
    query = {"name": workflow.name, "version": workflow.version}
    detail = shown(login(world.city).get("/workflows/view", query_string=query))
    assert detail.h1.startswith(workflow.definition.title)
    assert f"第 {workflow.version} 版" in detail.h1
    nodes = stage_nodes(detail.by_id("workflow-diagram"))
    assert set(nodes) == {s.code for s in workflow.definition.stages}
    assert current_stages(detail.by_id("workflow-diagram")) == []
    mermaid = detail.by_id("workflow-mermaid")
    assert mermaid.tag == "details"
    assert mermaid.find("pre").text.startswith("stateDiagram-v2")
    stages = detail.by_id("workflow-stages").text
    transitions = detail.by_id("workflow-transitions")
    for stage in workflow.definition.stages:
        assert stage.label in stages
    rows = transitions.find_all("tr")[1:]
    assert len(rows) == len(workflow.steps)
    for row, step in zip(rows, workflow.steps, strict=True):
        cells = [c.text for c in row.find_all("td")]
        assert cells[0] == f"{step.label} {step.trigger}"
        for name in (g.name for g in step.guards):
            assert diagram.GUARD_LABELS[name] in cells[4]
        roles = "、".join(vocab.ROLES[r] for r in step.roles)
        assert cells[3] == ("系统自动执行" if step.is_system else roles)


def test_stage_rules_and_guards_read_in_chinese(world, login):
    client = login(world.admin)
    default = shown(client.get("/workflows/view?name=default&version=1"))
    city_review = default.by_id("stage-row-city_review").find_all("td")
    assert [c.text for c in city_review[1:5]] == [
        "审核",
        "10 个工作日",
        "前 3 个工作日",
        "管理人员",
    ]
    submit = default.by_id("workflow-transitions").find_all("tr")[1].text
    assert "提交 submit 草稿 待区县初审 区县填报员 本区县;区县申报期内;材料齐全" in submit
    expire = default.by_id("workflow-transitions").find_all("tr")[4].text
    assert "系统自动执行" in expire
    assert "须填写意见" in default.by_id("workflow-transitions").text

    joint = shown(client.get("/workflows/view?name=joint_signoff&version=1"))
    signoff = joint.by_id("stage-row-joint_signoff").text
    assert "会签" in signoff and "签署人:市级审核员、管理人员;2 人签署即可" in signoff
    approve_rows = [
        r.text
        for r in joint.by_id("workflow-transitions").find_all("tr")
        if r.text.startswith("通过") and "联合会签 已推荐上报" in r.text
    ]
    assert len(approve_rows) == 1 and "会签达到规则(2 人签署即可)" in approve_rows[0]

    expert = shown(client.get("/workflows/view?name=expert_review&version=1"))
    assert "至少 2 位专家评分" in expert.by_id("stage-row-expert_review").text
    assert "专家已完成评分" in expert.by_id("workflow-transitions").text


def test_a_definition_page_can_mark_a_stage(world, login):
    client = login(world.city)
    marked = shown(client.get("/workflows/view?name=default&version=1&current=city_review"))
    assert current_stages(marked.by_id("workflow-diagram")) == ["city_review"]
    assert "class city_review current" in marked.by_id("workflow-mermaid").text
    ignored = shown(client.get("/workflows/view?name=default&version=1&current=nonsense"))
    assert current_stages(ignored.by_id("workflow-diagram")) == []


@pytest.mark.parametrize(
    "query",
    ["name=nonexistent&version=1", "name=default&version=99", "name=default&version=abc", ""],
)
def test_an_unknown_definition_is_404(world, login, query):
    response = login(world.city).get(f"/workflows/view?{query}")
    assert response.status_code == 404
    assert page(response).h1 == "页面不存在"


def test_without_a_version_the_newest_is_shown(world, login):
    newest = shown(login(world.city).get("/workflows/view?name=joint_signoff"))
    assert newest.h1.startswith("联合会签流程 第 1 版")


def test_a_failing_graphviz_leaves_the_rest_of_the_page(world, login, monkeypatch):
    monkeypatch.setattr(diagram, "DOT_PROGRAM", "/nonexistent/dot")
    detail = shown(login(world.city).get("/workflows/view?name=default&version=1"))
    assert detail.root.find("svg") is None
    warning = detail.by_id("diagram-error").text
    assert "流程图暂时无法生成:未找到 Graphviz" in warning and "graphviz" in warning
    assert "待市级复审" in detail.by_id("workflow-stages").text
    assert "stateDiagram-v2" in detail.by_id("workflow-mermaid").text


# --- a declaration's own diagram ---------------------------------------------------------------


def _project(world):
    return factories.project(world.yandu)


def test_a_declaration_shows_its_own_workflow_with_its_stage_marked(world, login, make_declaration):
    world.program.workflow_name = "joint_signoff"
    db.session.commit()
    decl = make_declaration(_project(world), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer)
    for user in (world.staff, world.reviewer, world.city):
        detail = shown(login(user).get(f"/declarations/{decl.id}"))
        panel = detail.by_id("declaration-workflow")
        assert panel.tag == "details"
        summary = panel.find("summary").text
        assert "联合会签流程(第 1 版),当前「待市级复审」" in summary
        assert "办理期限" in summary  # city review has a due date in working days
        assert "joint_signoff" in stage_nodes(panel)
        assert current_stages(panel) == ["city_review"]
        link = detail.by_id("declaration-workflow-link")
        if user is world.city:
            assert link.attrs["href"] == (
                "/workflows/view?name=joint_signoff&version=1&current=city_review"
            )
        else:
            assert link is None  # the definition pages are for the city


def test_a_declaration_keeps_its_version_after_the_definition_changes(
    world, login, make_declaration, monkeypatch
):
    first = make_declaration(_project(world), world.program, by=world.staff)
    revised = replace(
        machine.get("default", 1).definition, version=2, title="标准流程(修订)", source="v2"
    )
    monkeypatch.setitem(machine._registry(), ("default", 2), machine.Workflow(revised))
    second = make_declaration(_project(world), world.program, by=world.staff)
    assert (first.workflow_version, second.workflow_version) == (1, 2)

    client = login(world.city)
    old = shown(client.get(f"/declarations/{first.id}")).by_id("declaration-workflow")
    assert "标准流程(第 1 版)" in old.find("summary").text
    assert old.find("svg").attrs["aria-label"] == "标准流程(第 1 版)"
    new = shown(client.get(f"/declarations/{second.id}")).by_id("declaration-workflow")
    assert new.find("svg").attrs["aria-label"] == "标准流程(修订)(第 2 版)"

    listing = shown(client.get("/workflows"))
    v1, v2 = listing.by_id("workflow-default-v1"), listing.by_id("workflow-default-v2")
    assert "新申报已使用第 2 版" in v1.text and v1.find_all("td")[-1].text == "1"
    assert world.program.title in v2.text and v2.find_all("td")[-1].text == "1"
    newest = shown(client.get("/workflows/view?name=default"))
    assert "第 2 版" in newest.h1
    assert "第 1 版" in newest.by_id("workflow-versions").text


# --- the program chooses its workflow ---------------------------------------------------------


def _form_data(edit_page) -> dict:
    data = {name: edit_page.value(name) or "" for name in PROGRAM_FIELDS}
    for name in ("required_attachments", "required_prerequisites"):
        data[name] = edit_page.checked(name)
    return data


@pytest.mark.parametrize("role", ["city", "admin"])
def test_the_city_and_admins_choose_a_programs_workflow(world, login, role, make_declaration):
    before = make_declaration(_project(world), world.program, by=world.staff)
    client = login(getattr(world, role))
    edit = shown(client.get(f"/programs/{world.program.id}/edit"))
    options = {
        o.attrs["value"]: o.text
        for o in edit.root.find("select", name="workflow_name").find_all("option")
    }
    assert options == machine.workflow_names()
    assert edit.value("workflow_name") == "default"
    assert edit.by_id("workflow-definitions-link").find("a").attrs["href"] == "/workflows"

    response = client.post(
        f"/programs/{world.program.id}/edit",
        data={**_form_data(edit), "workflow_name": "expert_review"},
    )
    assert response.status_code == 302, page(response).text[:400]
    db.session.refresh(world.program)
    assert world.program.workflow_name == "expert_review"
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "program", AuditEvent.action == "update")
    ).one()
    assert audit.after["workflow_name"] == "expert_review"

    detail = shown(client.get(f"/programs/{world.program.id}"))
    chosen = detail.by_id("program-workflow").find("a")
    assert chosen.text == "专家评审流程"
    assert chosen.attrs["href"] == "/workflows/view?name=expert_review"

    after = make_declaration(_project(world), world.program, by=world.staff)
    db.session.refresh(before)
    assert (before.workflow_name, before.workflow_version) == ("default", 1)
    assert (after.workflow_name, after.workflow_version) == ("expert_review", 1)
    old = shown(client.get(f"/declarations/{before.id}")).by_id("declaration-workflow")
    assert "expert_review" not in stage_nodes(old)
    new = shown(client.get(f"/declarations/{after.id}")).by_id("declaration-workflow")
    assert "expert_review" in stage_nodes(new)


def test_an_unknown_workflow_is_refused_in_chinese_and_nothing_typed_is_lost(world, login):
    client = login(world.admin)
    edit = shown(client.get(f"/programs/{world.program.id}/edit"))
    typed = {**_form_data(edit), "title": "改过的批次名称", "workflow_name": "no_such_flow"}
    refused = shown(client.post(f"/programs/{world.program.id}/edit", data=typed), 422)
    assert refused.field_errors("workflow_name") == ["不是有效的选择。"]
    assert refused.value("title") == "改过的批次名称"
    db.session.refresh(world.program)
    assert world.program.workflow_name == "default"
    assert world.program.title != "改过的批次名称"


def test_a_new_program_starts_with_its_chosen_workflow(world, login):
    client = login(world.city)
    edit = shown(client.get(f"/programs/{world.program.id}/edit"))
    data = {**_form_data(edit), "title": "会签新批次", "workflow_name": "joint_signoff"}
    data.pop("version")
    response = client.post("/programs/new", data=data)
    assert response.status_code == 302, page(response).text[:400]
    program = db.session.scalar(select(FundingProgram).where(FundingProgram.title == "会签新批次"))
    assert program.workflow_name == "joint_signoff"


def test_the_program_page_names_the_workflow_without_a_link_for_districts(world, login):
    detail = shown(login(world.staff).get(f"/programs/{world.program.id}"))
    assert detail.by_id("program-workflow").text == "标准流程"
    assert detail.by_id("program-workflow").find("a") is None
