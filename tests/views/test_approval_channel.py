"""Recording the upstream result names the fund channel the money came through."""

from tests.factories import act
from tests.views.html import facts, page
from workflow.extensions import db
from workflow.models import AuditEvent


def _recommended(world, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer)
    act(decl, "approve", world.city)
    return decl


def _record(client, decl, **extra):
    return client.post(
        f"/declarations/{decl.id}/actions",
        data={
            "action": "record_approval",
            "comment": "已批复",
            "version": str(decl.version),
            "approval_doc_number": "发改投资〔2026〕88号",
            "approved_amount": "280",
            "approved_on": "2026-06-30",
            **extra,
        },
    )


def test_the_channel_defaults_to_the_programs_and_may_differ(
    world, login, make_project, make_declaration
):
    decl = _recommended(world, make_project, make_declaration)
    client = login(world.manager)
    shown = page(client.get(f"/declarations/{decl.id}"))
    assert shown.value("approved_channel") == world.program.channel == "central_budget"

    response = _record(client, decl, approved_channel="special_treasury_bond")
    assert response.status_code == 302
    db.session.refresh(decl)
    assert (decl.stage, decl.approved_channel) == ("approved", "special_treasury_bond")
    assert facts(page(client.get(f"/declarations/{decl.id}")))["下达资金渠道"] == "超长期特别国债"
    row = db.session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    assert (row.object_type, row.action, row.after) == (
        "declaration",
        "update",
        {"approved_channel": "special_treasury_bond"},
    )


def test_a_blank_channel_means_the_programs(world, login, make_project, make_declaration):
    decl = _recommended(world, make_project, make_declaration)
    client = login(world.manager)
    assert _record(client, decl, approved_channel="").status_code == 302
    db.session.refresh(decl)
    assert decl.approved_channel == "central_budget"


def test_an_unknown_channel_changes_nothing(world, login, make_project, make_declaration):
    decl = _recommended(world, make_project, make_declaration)
    client = login(world.manager)
    assert _record(client, decl, approved_channel="made_up").status_code == 400
    db.session.refresh(decl)
    assert (decl.stage, decl.approved_channel) == ("recommended", None)
