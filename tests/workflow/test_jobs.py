"""The dossier job keeps a dossier's label and its content in step."""

from decimal import Decimal

from tests.factories import act
from workflow import operations
from workflow.extensions import db
from workflow.jobs import render_dossier
from workflow.models import Dossier


def test_a_dossier_whose_data_moved_on_while_queued_is_not_rendered(
    world, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, queued = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    assert queued
    operations.update_declaration(
        decl,
        {"requested_amount": Decimal("250.00")},
        actor=world.staff,
        expected_version=decl.version,
    )
    db.session.commit()

    assert render_dossier(dossier.id) == ""
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "failed" and dossier.file_name is None
    assert f"现为申报第 {decl.version} 版" in dossier.error


def test_data_changed_during_the_render_fails_the_dossier(
    world, make_project, make_declaration, monkeypatch
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    import documents

    real_render = documents.render_dossier_pdf

    def render_while_a_reviewer_acts(data):
        pdf = real_render(data)
        act(db.session.get(type(decl), decl.id), "submit", world.staff)
        return pdf

    monkeypatch.setattr(documents, "render_dossier_pdf", render_while_a_reviewer_acts)
    assert render_dossier(dossier.id) == ""
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "failed" and "已更新" in dossier.error


def test_a_current_dossier_is_rendered_with_its_page_count(world, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    dossier, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    file_name = render_dossier(dossier.id)
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.status == "ready" and dossier.file_name == file_name
    assert dossier.page_count >= 3 and dossier.size > 10_000
