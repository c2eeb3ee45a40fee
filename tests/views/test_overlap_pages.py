"""The overlap guard on the pages: the warnings shown, the reason required, what was typed kept,
and with a reason the project or declaration made, the reason shown and in the history."""

from sqlalchemy import func, select

from tests import factories
from tests.views.html import facts, page
from tests.views.test_excel_pages import counts, filled_template, good_row, upload
from workflow.extensions import db
from workflow.models import AuditEvent, Declaration, Project

NAME = "盐都区数据要素流通服务平台"
REASON = "本项目为二期,建设内容与一期不重复。"
FORM = {
    "name": NAME + "(二期)",
    "category": "digital_economy",
    "applicant_unit": "盐城数据要素科技有限公司",
    "location": "盐都区潘黄街道",
    "total_investment": "2,000",
    "fund_self": "2000",
    "content": "建设数据要素流通服务平台二期",
}


def project_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Project))


def test_a_similar_project_is_shown_and_a_reason_required_with_everything_kept(world, login):
    first = factories.project(world.yandu, name=NAME)
    twin = factories.project(world.tinghu, code="2025-320902-65-01-000777")
    client = login(world.staff)
    typed = FORM | {"code": "2025-320902-65-01-000777"}

    response = client.post("/projects/new", data=typed)
    assert response.status_code == 409
    shown = page(response)
    warnings = shown.by_id("overlap-warnings").text
    assert f"#{first.id}「{NAME}」(盐都区,储备)" in warnings
    assert "同一区县内项目名称高度相似" in warnings
    # Another district's project is named, but not linked: its page would be a 404.
    assert f"#{twin.id}「{twin.name}」(亭湖区,储备):项目代码" in warnings
    assert f"/projects/{first.id}" in shown.links()
    assert f"/projects/{twin.id}" not in shown.links()
    assert shown.value("overlap_reason") == ""
    assert shown.field_errors("overlap_reason") == []
    for name in ("name", "applicant_unit", "location", "content", "code"):
        assert shown.value(name) == typed[name]
    assert shown.value("total_investment") == "2,000"  # as typed

    blank = page(client.post("/projects/new", data=typed | {"overlap_reason": "  "}))
    assert blank.field_errors("overlap_reason") == ["请填写继续的理由"]
    assert blank.value("name") == typed["name"]
    assert project_count() == 2


def test_with_a_reason_the_project_is_made_and_the_reason_shown(world, login):
    factories.project(world.yandu, name=NAME)
    client = login(world.staff)
    response = client.post("/projects/new", data=FORM | {"overlap_reason": REASON})
    assert response.status_code == 302
    project = db.session.scalar(select(Project).where(Project.name == FORM["name"]))
    assert project.overlap_reason == REASON
    detail = page(client.get(response.headers["Location"]))
    assert facts(detail)["重复/交叉申报说明"] == REASON
    assert REASON in detail.by_id("history").text
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "project", AuditEvent.object_id == project.id
        )
    )
    assert "重复/交叉申报提示" in event.comment and REASON in event.comment


def test_a_project_like_no_other_is_saved_without_any_question(world, login):
    factories.project(world.yandu, name="盐都区智慧农业物联网平台")
    response = login(world.staff).post("/projects/new", data=FORM)
    assert response.status_code == 302
    project = db.session.scalar(select(Project).where(Project.name == FORM["name"]))
    assert project.overlap_reason is None


def test_declaring_in_a_second_channel_asks_for_a_reason_then_goes_on(world, login):
    project = factories.project(world.yandu, name=NAME)
    first = factories.declaration(project, world.program, by=world.staff)
    bond = factories.program(channel="special_treasury_bond", title="超长期特别国债第二批")
    client = login(world.staff)
    url = f"/projects/{project.id}/declarations"

    response = client.post(url, data={"program_id": bond.id})
    assert response.status_code == 409
    shown = page(response)
    warnings = shown.by_id("overlap-warnings").text
    assert f"已有申报 #{first.id} 在「{world.program.title}」(中央预算内投资,草稿)" in warnings
    assert shown.value("program_id") == str(bond.id)
    assert any("理由" in alert for alert in shown.alerts())

    blank = page(client.post(url, data={"program_id": bond.id, "overlap_reason": ""}))
    assert blank.field_errors("overlap_reason") == ["请填写继续的理由"]
    assert blank.value("program_id") == str(bond.id)
    assert db.session.scalar(select(func.count()).select_from(Declaration)) == 1

    response = client.post(url, data={"program_id": bond.id, "overlap_reason": REASON})
    assert response.status_code == 302
    decl = db.session.scalar(select(Declaration).where(Declaration.program_id == bond.id))
    assert decl.overlap_reason == REASON
    detail = page(client.get(f"/declarations/{decl.id}"))
    assert facts(detail)["重复/交叉申报说明"] == REASON


# --- the Excel import -----------------------------------------------------------------------


def test_an_imported_row_like_a_library_project_is_refused_with_the_reason(world, login):
    other = factories.project(world.tinghu, code="2026-320903-65-01-000002")
    client = login(world.staff)
    content = filled_template(client, [good_row(1), good_row(2), good_row(3)])
    response = upload(client, content)
    assert response.status_code == 422
    (problem,) = page(response).rows("import-errors")
    assert problem.startswith("4 ")
    assert f"#{other.id}「{other.name}」(亭湖区,储备):项目代码" in problem
    assert "新建项目" in problem and "理由" in problem
    assert counts() == (1, 0)


def test_two_rows_of_one_sheet_alike_are_refused(world, login):
    client = login(world.staff)
    alike = {"项目名称": NAME, "统一社会信用代码": factories.credit_code(5)}
    content = filled_template(client, [good_row(1, **alike), good_row(2), good_row(3, **alike)])
    response = upload(client, content)
    assert response.status_code == 422
    (problem,) = page(response).rows("import-errors")
    assert problem.startswith("5 ") and "与本表第 3 行的项目可能重复" in problem
    assert counts() == (0, 0)
