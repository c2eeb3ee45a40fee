"""The overlap guard through the API: a 409 ``overlap`` listing the warnings, then the same
request with ``overlap_reason`` goes through and keeps the reason."""

from sqlalchemy import func, select

from tests import factories
from workflow.extensions import db
from workflow.models import AuditEvent, Declaration, Project

NAME = "盐都区公共数据授权运营平台"
REASON = "原项目为一期,本项目为二期扩容,建设内容不重复。"


def overlap_error(response) -> dict:
    """The guard's answer: 409, code overlap, the reason asked for, the warnings listed."""
    assert response.status_code == 409, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "overlap"
    assert "理由" in error["message"]
    assert set(error["fields"]) == {"overlap_reason"}
    return error


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_duplicate_project_is_refused_with_its_warnings_until_a_reason_is_sent(world, api):
    other = factories.project(world.tinghu, name="亭湖区数据要素流通平台")
    body = {"name": NAME, "category": "digital_government", "code": other.code}
    client = api(world.staff)

    error = overlap_error(client.post("/api/v1/projects", json=body))
    (warning,) = error["warnings"]
    assert warning["kind"] == "duplicate"
    assert (warning["project_id"], warning["district"], warning["maturity"]) == (
        other.id,
        "亭湖区",
        "储备",
    )
    assert warning["reasons"] == [f"项目代码 {other.code} 相同"]
    overlap_error(client.post("/api/v1/projects", json=body | {"overlap_reason": "   "}))
    assert count(Project) == 1

    response = client.post("/api/v1/projects", json=body | {"overlap_reason": REASON})
    assert response.status_code == 201, response.get_json()
    project = db.session.get(Project, response.get_json()["id"])
    assert project.overlap_reason == REASON
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "project", AuditEvent.object_id == project.id
        )
    )
    assert REASON in event.comment and f"#{other.id}" in event.comment


def test_a_second_channel_in_the_same_year_is_refused_until_a_reason_is_sent(world, api):
    project = factories.project(world.yandu, name=NAME)
    first = factories.declaration(project, world.program, by=world.staff)
    bond = factories.program(channel="special_treasury_bond")
    body = {
        "project_id": project.id,
        "program_id": bond.id,
        "requested_amount": "300.00",
        "data": {"necessity": "需要。"},
    }
    client = api(world.staff)

    error = overlap_error(client.post("/api/v1/declarations", json=body))
    (warning,) = error["warnings"]
    assert warning["kind"] == "other_channel"
    assert (warning["declaration_id"], warning["channel"], warning["stage"]) == (
        first.id,
        "中央预算内投资",
        "草稿",
    )
    assert count(Declaration) == 1

    response = client.post("/api/v1/declarations", json=body | {"overlap_reason": REASON})
    assert response.status_code == 201, response.get_json()
    assert db.session.get(Declaration, response.get_json()["id"]).overlap_reason == REASON


def test_the_document_shows_the_reason_field_and_the_warnings(world, api):
    document = api(None).get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "overlap_reason" in schemas["ProjectCreate"]["properties"]
    assert "overlap_reason" in schemas["DeclarationCreate"]["properties"]
    for path in ("/api/v1/projects", "/api/v1/declarations"):
        conflict = document["paths"][path]["post"]["responses"]["409"]
        reference = conflict["content"]["application/json"]["schema"]["$ref"]
        assert reference.endswith("/OverlapErrorResponse")
    assert "warnings" in schemas["OverlapErrorDetail"]["properties"]
