"""The maturity buttons on the project page and their POST route."""

from tests.views.html import facts, page
from workflow.extensions import db


def buttons(shown) -> list[str]:
    section = shown.by_id("maturity")
    return [b.text for b in section.find_all("button")] if section else []


def test_staff_remove_a_project_with_a_reason(world, login, make_project):
    project = make_project(world.yandu, maturity="planning")
    client = login(world.staff)
    assert buttons(page(client.get(f"/projects/{project.id}"))) == ["纳入储备", "出库"]
    response = client.post(
        f"/projects/{project.id}/maturity",
        data={"action": "remove", "reason": "项目取消", "version": str(project.version)},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/projects/{project.id}#maturity")
    shown = page(client.get(response.headers["Location"]))
    assert "已出库:项目成熟度现为「出库」" in shown.alerts()
    assert facts(shown)["成熟度"] == "出库" and facts(shown)["出库原因"] == "项目取消"
    assert "出库:谋划 → 出库" in shown.by_id("history").text
    assert buttons(shown) == []  # only the city restores
    city = login(world.city)
    assert buttons(page(city.get(f"/projects/{project.id}"))) == ["恢复入库"]


def test_a_missing_reason_is_refused_on_the_page(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    response = client.post(
        f"/projects/{project.id}/maturity",
        data={"action": "remove", "reason": " ", "version": str(project.version)},
    )
    assert response.status_code == 422
    assert "请填写出库原因" in page(response).by_id("page-error").text
    db.session.refresh(project)
    assert project.maturity == "reserve"


def test_a_stale_version_keeps_the_typed_reason(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    response = client.post(
        f"/projects/{project.id}/maturity",
        data={"action": "remove", "reason": "与其他项目合并", "version": str(project.version - 1)},
    )
    assert response.status_code == 409
    shown = page(response)
    assert "已被他人修改" in shown.by_id("page-error").text
    assert shown.value("reason") == "与其他项目合并"
    db.session.refresh(project)
    assert project.maturity == "reserve"


def test_the_district_reviewer_sees_no_buttons_and_is_refused(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.reviewer)
    assert buttons(page(client.get(f"/projects/{project.id}"))) == []
    response = client.post(
        f"/projects/{project.id}/maturity",
        data={"action": "remove", "reason": "项目取消", "version": str(project.version)},
    )
    assert response.status_code == 403
    assert "区县填报员、市级审核员" in page(response).by_id("page-error").text
