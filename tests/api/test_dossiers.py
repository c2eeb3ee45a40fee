"""Dossiers through the API: asked for once per data version, rendered by the queue, downloaded."""

import io
from decimal import Decimal
from urllib.parse import quote

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.api.conftest import assert_error
from tests.api.declaration_helpers import drive
from tests.factories import pdf_bytes
from tests.views.objects import snapshot
from workflow import operations, queue
from workflow.extensions import db
from workflow.models import Dossier
from workflow.storage import atomic_write, dossier_path


@pytest.fixture
def draft(world, make_project, make_declaration):
    project = make_project(world.yandu, name="盐都区城市生命线感知平台")
    return make_declaration(project, world.program, by=world.staff)


def dossiers() -> list[Dossier]:
    db.session.expire_all()
    return db.session.scalars(select(Dossier).order_by(Dossier.id)).all()


def queued_jobs() -> list[str]:
    return queue.dossier_queue().get_job_ids()


def ready(dossier: Dossier, content: bytes | None = None) -> Dossier:
    """Mark a dossier rendered without running the renderer (its own tests do that)."""
    file_name = f"dossier-{dossier.id}.pdf"
    atomic_write(dossier_path(file_name), content or pdf_bytes())
    dossier.status, dossier.file_name, dossier.page_count = "ready", file_name, 1
    db.session.commit()
    return dossier


# --- POST /api/v1/declarations/{id}/dossiers ------------------------------------------------


def test_a_request_is_accepted_at_once_and_queued_after_the_commit(world, api, draft):
    response = api(world.manager).post(f"/api/v1/declarations/{draft.id}/dossiers")
    assert response.status_code == 202
    (dossier,) = dossiers()
    url = f"/api/v1/dossiers/{dossier.id}"
    assert response.get_json() == {"id": dossier.id, "status": "queued", "url": url}
    assert response.headers["Location"] == url
    assert (dossier.declaration_version, dossier.project_version) == (
        draft.version,
        draft.project.version,
    )
    assert queued_jobs() == [dossier.job_id]


@pytest.mark.parametrize("role", ["district_staff", "district_reviewer", "city_reviewer", "admin"])
def test_everyone_who_sees_the_declaration_may_ask(world, api, draft, role):
    response = api(world.users()[role]).post(f"/api/v1/declarations/{draft.id}/dossiers")
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"


def test_asking_twice_for_the_same_version_returns_the_same_dossier(world, api, draft):
    first = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    again = api(world.manager).post(f"/api/v1/declarations/{draft.id}/dossiers")
    assert again.status_code == 202
    assert again.get_json() == first
    assert len(dossiers()) == 1 and len(queued_jobs()) == 1
    # Once the data moves on, a new version gets a dossier of its own.
    operations.update_declaration(
        draft, {"requested_amount": Decimal("250")}, actor=world.staff, expected_version=None
    )
    db.session.commit()
    third = api(world.manager).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    assert third["id"] != first["id"]
    assert len(dossiers()) == 2 and len(queued_jobs()) == 2


def test_a_ready_dossier_is_returned_without_a_new_job(world, api, draft):
    first = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    queue.dossier_queue().empty()
    ready(dossiers()[0])
    again = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    assert again == {**first, "status": "ready"}
    assert queued_jobs() == []


def test_a_failed_dossier_is_tried_again(world, api, draft):
    first = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    queue.dossier_queue().empty()
    (dossier,) = dossiers()
    dossier.status, dossier.error = "failed", "字体缺失"
    db.session.commit()
    again = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    assert again == {**first, "status": "queued"}
    assert queued_jobs() == [dossier.job_id]


def test_a_dossier_of_an_unknown_declaration_is_not_found(world, api):
    client = api(world.manager)
    before = snapshot()
    assert_error(client.post("/api/v1/declarations/999999/dossiers"), 404, "not_found")
    assert snapshot() == before and queued_jobs() == []


# --- GET /api/v1/dossiers/{id} and its PDF --------------------------------------------------


def test_status_from_queued_to_ready_and_the_pdf(world, api, draft):
    drive(draft, "district_review", world)
    client = api(world.reviewer)
    ticket = client.post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    status = client.get(ticket["url"]).get_json()
    assert status["status"] == "queued" and status["status_label"] == "排队中"
    assert status["download_url"] is None and status["current"] is True
    assert (status["declaration_version"], status["declaration_id"]) == (draft.version, draft.id)
    error = assert_error(client.get(f"/api/v1/dossiers/{ticket['id']}/pdf"), 404, "not_ready")
    assert "排队中" in error["message"]

    assert queue.run_pending_jobs()

    status = client.get(ticket["url"]).get_json()
    assert status["status"] == "ready" and status["error"] is None
    assert status["download_url"] == f"/api/v1/dossiers/{ticket['id']}/pdf"
    assert status["page_count"] >= 1 and status["size"] > 0 and status["finished_at"]
    response = client.get(status["download_url"])
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "盐都区城市生命线感知平台" in text
    name = f"申报材料-盐都区城市生命线感知平台-v{draft.version}.pdf"
    header = response.headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote(name, safe='')}" in header and header.isascii()


def test_a_dossier_says_when_the_data_moved_on(world, api, draft):
    ticket = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    ready(dossiers()[0])
    operations.update_declaration(
        draft, {"requested_amount": Decimal("250")}, actor=world.staff, expected_version=None
    )
    db.session.commit()
    status = api(world.manager).get(ticket["url"]).get_json()
    assert status["status"] == "ready" and status["current"] is False
    assert status["download_url"]  # the older version stays downloadable


def test_a_failed_dossier_says_why_and_has_no_pdf(world, api, draft):
    ticket = api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers").get_json()
    (dossier,) = dossiers()
    dossier.status, dossier.error = "failed", "生成申报材料时出错:字体缺失"
    db.session.commit()
    client = api(world.manager)
    status = client.get(ticket["url"]).get_json()
    assert (status["status"], status["error"]) == ("failed", "生成申报材料时出错:字体缺失")
    assert status["download_url"] is None
    assert_error(client.get(f"/api/v1/dossiers/{dossier.id}/pdf"), 404, "not_ready")


def test_a_pdf_gone_from_the_store_is_not_found(world, api, draft):
    api(world.staff).post(f"/api/v1/declarations/{draft.id}/dossiers")
    dossier = ready(dossiers()[0])
    dossier_path(dossier.file_name).unlink()
    assert_error(api(world.staff).get(f"/api/v1/dossiers/{dossier.id}/pdf"), 404, "not_found")


def test_unknown_dossiers_are_not_found(world, api):
    client = api(world.city)
    assert_error(client.get("/api/v1/dossiers/999999"), 404, "not_found")
    assert_error(client.get("/api/v1/dossiers/999999/pdf"), 404, "not_found")
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 0
