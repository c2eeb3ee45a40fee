"""Acting on behalf of a reviewer (代理) through the API: ``on_behalf_of`` on the action."""

from datetime import timedelta

from sqlalchemy import select

from tests import factories
from tests.api.conftest import assert_error
from workflow import operations
from workflow.delegations import create_delegation
from workflow.extensions import db
from workflow.models import StageSignature


def in_signoff(world):
    program = factories.program(workflow_name="joint_signoff")
    decl = factories.declaration(factories.project(world.yandu), program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, "同意")
    factories.act(decl, "approve", world.city, "同意")
    return decl


def test_a_delegate_signs_for_the_reviewer_and_the_history_names_both(world, api):
    colleague = factories.user("city_reviewer")
    today = operations.local_today()
    create_delegation(
        world.city, colleague, today, today + timedelta(days=2), "出差", actor=world.city
    )
    db.session.commit()
    decl = in_signoff(world)
    client = api(colleague)
    response = client.post(
        f"/api/v1/declarations/{decl.id}/actions",
        json={
            "action": "approve",
            "version": decl.version,
            "comment": "代为会签",
            "on_behalf_of": world.city.id,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stage"] == "joint_signoff"
    (signature,) = db.session.scalars(select(StageSignature)).all()
    assert (signature.signer_id, signature.acted_by_id) == (world.city.id, colleague.id)
    history = client.get(f"/api/v1/declarations/{decl.id}/history").get_json()
    sign = next(e for e in history["events"] if e["action"] == "sign")
    assert sign["actor"]["id"] == colleague.id
    assert sign["on_behalf_of"] == {
        "id": world.city.id,
        "display_name": world.city.display_name,
        "role": "city_reviewer",
    }
    opinion = next(o for o in history["opinions"] if o["action"] == "sign")
    assert opinion["on_behalf_of"]["id"] == world.city.id
    assert all(e["on_behalf_of"] is None for e in history["events"] if e is not sign)


def test_on_behalf_of_someone_without_a_delegation_is_forbidden(world, api):
    decl = in_signoff(world)
    response = api(world.manager).post(
        f"/api/v1/declarations/{decl.id}/actions",
        json={"action": "approve", "version": decl.version, "on_behalf_of": world.city.id},
    )
    error = assert_error(response, 403, "forbidden")
    assert error["message"] == "您不是该用户的有效代理人,不能代其办理"
    assert db.session.scalars(select(StageSignature)).all() == []


def test_the_document_describes_on_behalf_of(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    request = next(s for name, s in schemas.items() if name.startswith("ActionRequest"))
    assert "代理" in request["properties"]["on_behalf_of"]["description"]
