"""The whole journey through the API alone: from a token to the downloaded dossier's bytes.

Each step reads only what an integrator would have: the OpenAPI document's paths, and what the
previous answers returned (ids, versions, allowed actions, URLs).
"""

import io

from pypdf import PdfReader

from tests import factories
from tests.api.conftest import ApiClient
from tests.factories import PASSWORD
from workflow import queue

PROJECT_NAME = "盐都区城市生命线安全感知平台"


def sign_in(client, user) -> ApiClient:
    """A bearer token from the token endpoint, the way a script gets one."""
    response = client.post(
        "/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.get_json()
    return ApiClient(client, response.get_json()["token"])


def has_route(app, method: str, rule: str) -> bool:
    return any(r.rule == rule and method in r.methods for r in app.url_map.iter_rules())


def create_project(app, staff: ApiClient, world) -> int:
    """A complete project of the staff's district, through POST /api/v1/projects when the
    API has it (it is built alongside this one), else through the library's factory."""
    if not has_route(app, "POST", "/api/v1/projects"):
        return factories.project(world.yandu, name=PROJECT_NAME).id
    response = staff.post(
        "/api/v1/projects",
        json={
            "name": PROJECT_NAME,
            "category": "digital_government",
            "code": "2025-320903-65-01-123456",
            "applicant_unit": "盐城市盐都区城市运行管理中心",
            "applicant_uscc": factories.credit_code(4242),
            "industry_chain": "数据产业",
            "nature": "new",
            "location": "盐都区",
            "planned_start": "2026-03-01",
            "planned_end": "2027-12-01",
            "total_investment": "1000.00",
            "fund_central": "300.00",
            "fund_local_fiscal": "200.00",
            "fund_self": "500.00",
            "content": "建设城市生命线安全运行感知网络与监测平台",
            "data_content": "接入燃气、供水、桥梁传感器 12000 个,日增数据 30 GB",
            "contact_name": "王磊",
            "contact_mobile": "13912345678",
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def act(client: ApiClient, declaration: dict, action: str, comment: str = "") -> dict:
    """Fire an action the declaration offers the caller, on the version the caller saw."""
    assert action in declaration["allowed_actions"], declaration["allowed_actions"]
    response = client.post(
        f"/api/v1/declarations/{declaration['id']}/actions",
        json={"action": action, "comment": comment, "version": declaration["version"]},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_from_a_token_to_the_dossier_pdf_through_the_api_alone(app, client, world):
    # The API has no endpoint for 前期要件, so the program asks for none: a project made through
    # the API can then be complete. The program itself is the city's (read-only in the API).
    program = factories.program(title="2026年数据领域中央预算内投资", required_prerequisites=[])
    staff = sign_in(client, world.staff)

    programs = staff.get("/api/v1/programs").get_json()["items"]
    (program_out,) = [p for p in programs if p["id"] == program.id]
    assert program_out["required_attachments"] == ["application"]
    form_fields = [f["name"] for f in program_out["form_fields"]]

    project_id = create_project(app, staff, world)

    response = staff.post(
        "/api/v1/declarations",
        json={
            "project_id": project_id,
            "program_id": program.id,
            "requested_amount": "300.00",
            "data": {name: "按申报通知要求填写的内容" for name in form_fields},
        },
    )
    assert response.status_code == 201, response.get_json()
    declaration = response.get_json()
    assert declaration["missing"] == ["缺少附件「申报书」"]

    response = staff.post(
        f"/api/v1/declarations/{declaration['id']}/attachments",
        data={"kind": "application", "file": (io.BytesIO(factories.pdf_bytes()), "申报书.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    declaration = staff.get(f"/api/v1/declarations/{declaration['id']}").get_json()
    assert declaration["missing"] == []

    declaration = act(staff, declaration, "submit")
    assert declaration["stage"] == "district_review"

    reviewer = sign_in(client, world.reviewer)
    declaration = reviewer.get(f"/api/v1/declarations/{declaration['id']}").get_json()
    declaration = act(reviewer, declaration, "approve", "材料齐全,同意报市级复审。")
    assert declaration["stage"] == "city_review"

    city = sign_in(client, world.city)
    declaration = city.get(f"/api/v1/declarations/{declaration['id']}").get_json()
    declaration = act(city, declaration, "approve", "同意推荐上报。")
    assert declaration["stage"] == "recommended"

    manager = sign_in(client, world.manager)
    response = manager.post(f"/api/v1/declarations/{declaration['id']}/dossiers")
    assert response.status_code == 202
    ticket = response.get_json()
    assert manager.get(ticket["url"]).get_json()["status"] == "queued"

    assert queue.run_pending_jobs()

    status = manager.get(ticket["url"]).get_json()
    assert status["status"] == "ready", status
    assert status["current"] is True
    pdf = manager.get(status["download_url"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert PROJECT_NAME in text

    history = manager.get(f"/api/v1/declarations/{declaration['id']}/history").get_json()
    transitions = [(e["from_stage"], e["to_stage"]) for e in history["events"] if e["to_stage"]]
    assert transitions == [
        ("draft", "district_review"),
        ("district_review", "city_review"),
        ("city_review", "recommended"),
    ]
    assert [o["comment"] for o in history["opinions"]] == [
        "材料齐全,同意报市级复审。",
        "同意推荐上报。",
    ]
