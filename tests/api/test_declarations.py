"""Declarations through the API: create, read, edit, act, history, and who may see them."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import select

from tests import factories
from tests.api.conftest import assert_error
from tests.api.declaration_helpers import COMMENT, drive, fresh, multipart
from tests.views.objects import Objects, snapshot, yandu_objects
from workflow import operations
from workflow.extensions import db
from workflow.models import AuditEvent, Declaration


@pytest.fixture
def project(world, make_project):
    return make_project(world.yandu, name="盐都区城市生命线感知平台")


@pytest.fixture
def draft(world, project, make_declaration):
    return make_declaration(project, world.program, by=world.staff)


def body_for(project, program, **overrides) -> dict:
    body = {
        "project_id": project.id,
        "program_id": program.id,
        "requested_amount": "300.00",
        "data": {"necessity": "城市生命线安全运行需要实时感知。"},
    }
    body.update(overrides)
    return body


def declarations() -> list[Declaration]:
    db.session.expire_all()
    return db.session.scalars(select(Declaration).order_by(Declaration.id)).all()


# --- POST /api/v1/declarations --------------------------------------------------------------


def test_district_staff_start_a_draft(world, api, project):
    response = api(world.staff).post(
        "/api/v1/declarations",
        json=body_for(project, world.program, data={"necessity": "  需要实时感知。\u3000"}),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    (decl,) = declarations()
    assert response.headers["Location"] == f"/api/v1/declarations/{decl.id}"
    assert body["id"] == decl.id
    assert (body["project_id"], body["program_id"]) == (project.id, world.program.id)
    assert (body["stage"], body["stage_label"], body["version"]) == ("draft", "草稿", decl.version)
    assert body["requested_amount"] == "300.00" and decl.requested_amount == Decimal("300.00")
    # Trimmed as the page form trims, full-width spaces included.
    assert body["data"] == {"necessity": "需要实时感知。"} == decl.form_data
    assert body["attachments"] == [] and body["submitted_at"] is None
    assert body["missing"] == ["缺少附件「申报书」"]
    assert body["allowed_actions"] == ["withdraw"]  # submit waits for the attachment
    assert body["approval_doc_number"] is None and body["approved_amount"] is None
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "declaration")
    ).one()
    assert (created.action, created.actor_id) == ("create", world.staff.id)


def test_the_amount_and_the_form_may_wait_for_later(world, api, project):
    response = api(world.staff).post(
        "/api/v1/declarations", json={"project_id": project.id, "program_id": world.program.id}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["requested_amount"] is None and body["data"] == {}
    assert "请填写申请资金" in body["missing"] and "请填写「项目建设必要性」" in body["missing"]


@pytest.mark.parametrize("role", ["district_reviewer", "city_reviewer", "manager", "admin"])
def test_only_district_staff_start_declarations(world, api, project, make_user, role):
    client = api(make_user(role, world.yandu if role == "district_reviewer" else None))
    before = snapshot()
    error = assert_error(
        client.post("/api/v1/declarations", json=body_for(project, world.program)),
        403,
        "forbidden",
    )
    assert "只有区县填报员可以填报项目和申报" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("who", ["other_staff", "other_reviewer", "expert"])
def test_a_project_out_of_sight_is_not_found(world, api, project, who):
    client = api(getattr(world, who))
    before = snapshot()
    assert_error(
        client.post("/api/v1/declarations", json=body_for(project, world.program)),
        404,
        "not_found",
    )
    assert snapshot() == before


def test_a_missing_project_or_program_is_not_found(world, api, project):
    client = api(world.staff)
    response = client.post(
        "/api/v1/declarations", json=body_for(project, world.program, project_id=999999)
    )
    assert_error(response, 404, "not_found")
    response = client.post(
        "/api/v1/declarations", json=body_for(project, world.program, program_id=999999)
    )
    assert "申报批次不存在" in assert_error(response, 404, "not_found")["message"]
    assert declarations() == []


def test_a_project_is_declared_to_a_program_once(world, api, draft, project):
    error = assert_error(
        api(world.staff).post("/api/v1/declarations", json=body_for(project, world.program)),
        409,
        "conflict",
    )
    assert error["message"] == f"该项目已申报本批次(申报 #{draft.id}),不能重复申报"
    assert len(declarations()) == 1


@pytest.mark.parametrize(("status", "label"), [("closed", "已截止"), ("draft", "草稿")])
def test_no_declaration_to_a_program_that_is_not_open(world, api, project, status, label):
    program = factories.program(status=status)
    error = assert_error(
        api(world.staff).post("/api/v1/declarations", json=body_for(project, program)),
        409,
        "conflict",
    )
    assert error["message"] == f"申报批次「{program.title}」当前{label},不能新建申报"


def test_no_declaration_of_a_removed_project(world, api, make_project):
    removed = make_project(world.yandu, maturity="removed", removed_reason="项目取消")
    error = assert_error(
        api(world.staff).post("/api/v1/declarations", json=body_for(removed, world.program)),
        409,
    )
    assert "该项目已出库" in error["message"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"data": {"colour": "红"}}, "data.colour", "不认识的字段"),
        ({"data": {"necessity": "字" * 3001}}, "data.necessity", "不能超过 3000 字"),
        ({"data": {"necessity": 3}}, "data.necessity", "应为字符串"),
        ({"data": ["necessity"]}, "data", "应为 JSON 对象"),
        ({"requested_amount": "1000.01"}, "requested_amount", "不得超过本批次上限 1000"),
        ({"requested_amount": "5.00"}, "requested_amount", "不得低于本批次下限 10"),
        # The project invests 1000 and the program allows half of it.
        ({"requested_amount": "600.00"}, "requested_amount", "本项目最多可申请 500.00 万元"),
        ({"requested_amount": "0"}, "requested_amount", "申请资金必须大于 0"),
        ({"requested_amount": 300}, "requested_amount", "金额请用字符串表示"),
        ({"requested_amount": "3.001"}, "requested_amount", "最多两位小数"),
        ({"requested_amount": "-3"}, "requested_amount", "不能为负数"),
        ({"colour": "红"}, "colour", "不认识的字段"),
        ({"project_id": None}, "project_id", "应为整数"),
        ({"program_id": 0}, "program_id", "数值过小"),
        ({"program_id": 2**40}, "program_id", "数值过大"),
    ],
)
def test_content_the_page_form_would_refuse_is_refused_field_by_field(
    world, api, project, overrides, field, message
):
    response = api(world.staff).post(
        "/api/v1/declarations", json=body_for(project, world.program, **overrides)
    )
    error = assert_error(response, 422, "validation_failed")
    assert message in error["fields"][field], error
    assert declarations() == []


def test_a_body_without_the_required_fields_says_which(world, api):
    error = assert_error(api(world.staff).post("/api/v1/declarations", json={}), 422)
    assert error["fields"] == {"project_id": "必填", "program_id": "必填"}


def test_a_program_field_without_its_own_limit_gets_the_page_forms_limit(
    world, api, project, make_program
):
    program = make_program(
        form_fields=[{"name": "summary", "label": "项目概述", "kind": "textarea"}]
    )
    client = api(world.staff)
    error = assert_error(
        client.post(
            "/api/v1/declarations", json=body_for(project, program, data={"summary": "字" * 5001})
        ),
        422,
    )
    assert error["fields"] == {"data.summary": "「项目概述」不能超过 5000 字"}
    response = client.post(
        "/api/v1/declarations", json=body_for(project, program, data={"summary": "字" * 5000})
    )
    assert response.status_code == 201


def test_a_body_that_is_not_json_is_refused(world, api, project):
    client = api(world.staff)
    response = client.post(
        "/api/v1/declarations",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")
    response = client.post("/api/v1/declarations", data={"project_id": str(project.id)})
    assert "application/json" in assert_error(response, 422)["fields"]["body"]
    assert declarations() == []


# --- GET /api/v1/declarations/{id} ----------------------------------------------------------


def test_a_declaration_with_its_attachments_and_what_the_caller_may_do(world, api, draft):
    body = api(world.staff).get(f"/api/v1/declarations/{draft.id}").get_json()
    assert body["version"] == draft.version and body["stage"] == "draft"
    assert body["data"] == {"necessity": "已填写"} and body["requested_amount"] == "300.00"
    assert body["missing"] == []
    assert body["allowed_actions"] == ["submit", "withdraw"]
    (attachment,) = body["attachments"]
    stored = draft.attachments[0]
    assert attachment == {
        "id": stored.id,
        "kind": "application",
        "kind_label": "申报书",
        "filename": "application.pdf",
        "content_type": "application/pdf",
        "size": stored.size,
        "sha256": stored.sha256,
        "uploaded_at": attachment["uploaded_at"],
        "url": f"/api/v1/attachments/{stored.id}",
    }
    assert attachment["uploaded_at"].endswith("Z") or "+00:00" in attachment["uploaded_at"]


@pytest.mark.parametrize(
    ("stage", "role", "allowed"),
    [
        ("draft", "district_staff", ["submit", "withdraw"]),
        ("draft", "district_reviewer", []),
        ("draft", "city_reviewer", []),
        ("district_review", "district_staff", []),
        ("district_review", "district_reviewer", ["approve", "return_for_revision"]),
        ("city_review", "district_reviewer", []),
        ("city_review", "city_reviewer", ["approve", "return_for_revision", "reject"]),
        ("recommended", "manager", ["record_approval", "record_rejection"]),
        ("recommended", "district_staff", []),
        ("returned", "district_staff", ["resubmit", "withdraw"]),
        ("approved", "city_reviewer", []),
    ],
)
def test_allowed_actions_follow_the_stage_and_the_callers_role(
    world, api, draft, stage, role, allowed
):
    drive(draft, stage, world)
    body = api(world.users()[role]).get(f"/api/v1/declarations/{draft.id}").get_json()
    assert (body["stage"], body["allowed_actions"]) == (stage, allowed)


def test_missing_lists_what_keeps_a_draft_from_submission(world, api, project):
    decl = operations.create_declaration(project, world.program, {}, actor=world.staff)
    db.session.commit()
    body = api(world.staff).get(f"/api/v1/declarations/{decl.id}").get_json()
    assert body["missing"] == [
        "请填写申请资金",
        "请填写「项目建设必要性」",
        "缺少附件「申报书」",
    ]
    assert body["allowed_actions"] == ["withdraw"]


def test_missing_is_empty_once_the_declaration_left_the_applicant(world, api, draft):
    drive(draft, "district_review", world)
    # The city asks for one more attachment after the submission: that is no longer the
    # applicant's to fix until the declaration comes back.
    world.program.required_attachments = ["application", "commitment_letter"]
    db.session.commit()
    body = api(world.reviewer).get(f"/api/v1/declarations/{draft.id}").get_json()
    assert body["missing"] == []
    drive_back = api(world.reviewer).post(
        f"/api/v1/declarations/{draft.id}/actions",
        json={"action": "return_for_revision", "comment": "请补承诺函", "version": body["version"]},
    )
    assert drive_back.get_json()["stage"] == "returned"
    body = api(world.staff).get(f"/api/v1/declarations/{draft.id}").get_json()
    assert body["missing"] == ["缺少附件「承诺函」"]


def test_an_unknown_declaration_is_not_found(world, api):
    assert_error(api(world.city).get("/api/v1/declarations/999999"), 404, "not_found")
    # Beyond PostgreSQL's integer range: still a plain 404, not a database error.
    assert_error(api(world.city).get(f"/api/v1/declarations/{2**40}"), 404, "not_found")
    assert_error(api(world.city).get("/api/v1/declarations/abc"), 404, "not_found")


# --- PATCH /api/v1/declarations/{id} --------------------------------------------------------


def test_a_draft_is_edited_field_by_field(world, api, make_project, make_program):
    program = make_program(form_fields=current_app.config["DEFAULT_FORM_FIELDS"])
    decl = operations.create_declaration(
        make_project(world.yandu),
        program,
        {"form_data": {"necessity": "旧的必要性", "performance_goals": "旧的目标"}},
        actor=world.staff,
    )
    db.session.commit()
    seen = decl.version
    response = api(world.staff).patch(
        f"/api/v1/declarations/{decl.id}",
        json={
            "version": seen,
            "requested_amount": "250.50",
            "data": {"performance_goals": " 新的目标 "},
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["version"] == seen + 1
    assert body["requested_amount"] == "250.50"
    # Fields the request left out keep their answers.
    assert body["data"] == {"necessity": "旧的必要性", "performance_goals": "新的目标"}
    decl = fresh(decl)
    assert decl.requested_amount == Decimal("250.50")
    update = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.object_id == decl.id)
    ).one()
    assert update.after["requested_amount"] == "250.50"
    # Leaving the amount out keeps it; null clears it.
    body = (
        api(world.staff)
        .patch(f"/api/v1/declarations/{decl.id}", json={"version": decl.version, "data": {}})
        .get_json()
    )
    assert body["requested_amount"] == "250.50" and body["version"] == decl.version
    body = (
        api(world.staff)
        .patch(
            f"/api/v1/declarations/{decl.id}",
            json={"version": decl.version, "requested_amount": None},
        )
        .get_json()
    )
    assert body["requested_amount"] is None and "请填写申请资金" in body["missing"]


def test_a_returned_declaration_is_editable_again(world, api, draft):
    drive(draft, "returned", world)
    response = api(world.staff).patch(
        f"/api/v1/declarations/{draft.id}",
        json={"version": draft.version, "data": {"necessity": "按意见补充"}},
    )
    assert response.status_code == 200
    assert response.get_json()["allowed_actions"] == ["resubmit", "withdraw"]


def test_a_stale_version_is_a_conflict_and_changes_nothing(world, api, draft):
    seen = draft.version
    operations.update_declaration(
        draft, {"requested_amount": Decimal("200")}, actor=world.staff, expected_version=seen
    )
    db.session.commit()
    client = api(world.staff)
    before = snapshot()
    error = assert_error(
        client.patch(
            f"/api/v1/declarations/{draft.id}", json={"version": seen, "requested_amount": "250"}
        ),
        409,
        "conflict",
    )
    assert f"您看到的是第 {seen} 版" in error["message"]
    assert snapshot() == before
    assert fresh(draft).requested_amount == Decimal("200.00")


@pytest.mark.parametrize("stage", ["district_review", "city_review", "approved", "withdrawn"])
def test_only_drafts_and_returned_declarations_are_edited(world, api, draft, stage):
    drive(draft, stage, world)
    client = api(world.staff)
    before = snapshot()
    error = assert_error(
        client.patch(
            f"/api/v1/declarations/{draft.id}",
            json={"version": draft.version, "requested_amount": "250"},
        ),
        409,
        "conflict",
    )
    assert "不能修改" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("role", ["district_reviewer", "city_reviewer", "manager"])
def test_reviewers_do_not_edit_declarations(world, api, draft, role):
    client = api(world.users()[role])
    before = snapshot()
    assert_error(
        client.patch(
            f"/api/v1/declarations/{draft.id}",
            json={"version": draft.version, "requested_amount": "250"},
        ),
        403,
        "forbidden",
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"data": {"colour": "红"}}, "data.colour", "不认识的字段"),
        ({"data": {"necessity": "字" * 3001}}, "data.necessity", "不能超过 3000 字"),
        ({"requested_amount": "600"}, "requested_amount", "本项目最多可申请 500.00 万元"),
        ({"stage": "approved"}, "stage", "不认识的字段"),
        ({"version": "one"}, "version", "应为整数"),
    ],
)
def test_edits_the_page_form_would_refuse_are_refused(world, api, draft, body, field, message):
    client = api(world.staff)
    before = snapshot()
    error = assert_error(
        client.patch(f"/api/v1/declarations/{draft.id}", json={"version": draft.version, **body}),
        422,
        "validation_failed",
    )
    assert message in error["fields"][field]
    assert snapshot() == before


def test_an_edit_needs_the_version(world, api, draft):
    error = assert_error(
        api(world.staff).patch(f"/api/v1/declarations/{draft.id}", json={"data": {}}), 422
    )
    assert error["fields"] == {"version": "必填"}


# --- POST /api/v1/declarations/{id}/actions -------------------------------------------------


def act_on(client, decl, action, version=None, **extra):
    return client.post(
        f"/api/v1/declarations/{decl.id}/actions",
        json={"action": action, "version": decl.version if version is None else version, **extra},
    )


def test_submit_answers_with_the_new_state(world, api, draft):
    seen = draft.version
    response = act_on(api(world.staff), draft, "submit", comment="")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["stage"], body["stage_label"]) == ("district_review", "待区县初审")
    assert body["version"] == seen + 1 and body["submitted_at"]
    assert body["allowed_actions"] == [] and body["missing"] == []
    assert fresh(draft).stage == "district_review"


def test_a_return_keeps_the_reviewers_comment(world, api, draft):
    drive(draft, "district_review", world)
    response = act_on(api(world.reviewer), draft, "return_for_revision", comment="请补充绩效目标")
    assert response.get_json()["stage"] == "returned"
    (opinion,) = fresh(draft).opinions
    assert (opinion.action, opinion.comment) == ("return_for_revision", "请补充绩效目标")


def test_the_upstream_approval_is_recorded(world, api, draft):
    drive(draft, "recommended", world)
    response = act_on(
        api(world.manager),
        draft,
        "record_approval",
        approval={
            "doc_number": "发改投资〔2026〕18号",
            "amount": "280.00",
            "approved_on": "2026-05-08",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["stage"] == "approved"
    assert body["approval_doc_number"] == "发改投资〔2026〕18号"
    assert (body["approved_amount"], body["approved_on"]) == ("280.00", "2026-05-08")
    assert fresh(draft).project.maturity == "funded"


@pytest.mark.parametrize(
    ("stage", "role", "action"),
    [
        ("draft", "district_reviewer", "approve"),
        ("district_review", "district_staff", "submit"),
        ("approved", "district_staff", "withdraw"),
        ("city_review", "manager", "record_approval"),
    ],
)
def test_an_action_the_stage_does_not_allow_is_a_conflict(world, api, draft, stage, role, action):
    drive(draft, stage, world)
    client = api(world.users()[role])
    before = snapshot()
    error = assert_error(act_on(client, draft, action), 409, "conflict")
    assert f"当前阶段「{fresh(draft).stage_label}」不能执行" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("stage", "role", "action"),
    [
        ("draft", "city_reviewer", "submit"),
        ("district_review", "district_staff", "approve"),
        ("district_review", "city_reviewer", "approve"),
        ("city_review", "district_reviewer", "reject"),
        ("recommended", "district_staff", "record_approval"),
    ],
)
def test_an_action_of_another_role_is_forbidden(world, api, draft, stage, role, action):
    drive(draft, stage, world)
    client = api(world.users()[role])
    before = snapshot()
    error = assert_error(act_on(client, draft, action, comment=COMMENT), 403, "forbidden")
    assert "只能由" in error["message"]
    assert snapshot() == before


def test_an_incomplete_submission_lists_every_reason(world, api, project):
    decl = operations.create_declaration(project, world.program, {}, actor=world.staff)
    db.session.commit()
    client = api(world.staff)
    before = snapshot()
    error = assert_error(act_on(client, decl, "submit"), 422, "validation_failed")
    assert error["fields"] == {
        "action": "请填写申请资金;请填写「项目建设必要性」;缺少附件「申报书」"
    }
    assert error["message"].startswith("无法执行「提交」")
    assert snapshot() == before


def test_no_submission_after_the_district_deadline(world, api, draft):
    yesterday = operations.local_today() - timedelta(days=1)
    world.program.district_deadline = yesterday
    db.session.commit()
    error = assert_error(act_on(api(world.staff), draft, "submit"), 422)
    assert error["fields"]["action"] == f"已超过区县申报截止日期 {yesterday.isoformat()}"
    assert fresh(draft).stage == "draft"


@pytest.mark.parametrize(
    ("stage", "role", "action", "extra", "reason"),
    [
        ("district_review", "district_reviewer", "return_for_revision", {}, "请填写意见"),
        ("city_review", "city_reviewer", "reject", {"comment": "  "}, "请填写意见"),
        ("recommended", "manager", "record_rejection", {}, "请填写意见"),
        ("recommended", "manager", "record_approval", {}, "请填写批复文号、下达金额和批复日期"),
        (
            "recommended",
            "manager",
            "record_approval",
            {"approval": {"doc_number": "盐发改〔2026〕1号", "approved_on": "2026-05-08"}},
            "请填写批复文号、下达金额和批复日期",
        ),
        (
            "recommended",
            "city_reviewer",
            "record_approval",
            {"approval": {"doc_number": "文号", "amount": "0", "approved_on": "2026-05-08"}},
            "下达金额必须大于 0",
        ),
    ],
)
def test_what_an_action_needs_typed_in_is_asked_for(
    world, api, draft, stage, role, action, extra, reason
):
    drive(draft, stage, world)
    client = api(world.users()[role])
    before = snapshot()
    error = assert_error(act_on(client, draft, action, **extra), 422)
    assert reason in error["fields"]["action"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"action": "approve_everything"}, "action", "取值不在允许范围内"),
        ({"action": None}, "action", "取值不在允许范围内"),
        ({"comment": "字" * 2001}, "comment", "过长"),
        ({"approval": {"amount": 280}}, "approval.amount", "金额请用字符串表示"),
        ({"approval": {"approved_on": "2026-13-01"}}, "approval.approved_on", "应为日期"),
        ({"approval": {"doc_number": "文号", "by": "我"}}, "approval.by", "不认识的字段"),
        (
            {"approval": {"doc_number": "文号", "amount": "1", "approved_on": "2026-05-08"}},
            "approval",
            "只有登记批复(record_approval)时才填写",
        ),
    ],
)
def test_malformed_actions_are_refused_field_by_field(world, api, draft, body, field, message):
    client = api(world.staff)
    before = snapshot()
    error = assert_error(
        client.post(
            f"/api/v1/declarations/{draft.id}/actions",
            json={"action": "submit", "version": draft.version, **body},
        ),
        422,
    )
    assert message in error["fields"][field]
    assert snapshot() == before


def test_two_reviewers_on_one_version_one_wins(world, api, draft, make_user):
    drive(draft, "district_review", world)
    seen = draft.version
    second = make_user("district_reviewer", world.yandu)
    assert act_on(api(world.reviewer), draft, "approve", version=seen).status_code == 200
    error = assert_error(
        act_on(api(second), draft, "return_for_revision", version=seen, comment="退回"),
        409,
        "conflict",
    )
    assert f"您看到的是第 {seen} 版" in error["message"]
    assert fresh(draft).stage == "city_review"


# --- GET /api/v1/declarations/{id}/history --------------------------------------------------


def test_the_history_tells_who_did_what_and_the_opinions(world, api, draft):
    drive(draft, "district_review", world)
    act_on(api(world.reviewer), draft, "return_for_revision", comment="请补充绩效目标")
    body = api(world.staff).get(f"/api/v1/declarations/{draft.id}/history").get_json()
    events = body["events"]
    assert [e["action"] for e in events] == ["create", "upload", "submit", "return_for_revision"]
    create, upload, submit, returned = events
    assert create["actor"] == {
        "id": world.staff.id,
        "display_name": world.staff.display_name,
        "role": "district_staff",
    }
    assert (create["from_stage"], create["to_stage"]) == (None, None)
    assert upload["after"]["kind"] == "application" and upload["action_label"] == "上传附件"
    assert (submit["from_stage"], submit["to_stage"], submit["action_label"]) == (
        "draft",
        "district_review",
        "提交",
    )
    assert returned["actor"]["id"] == world.reviewer.id
    assert (returned["from_stage"], returned["to_stage"]) == ("district_review", "returned")
    assert returned["comment"] == "请补充绩效目标"
    (opinion,) = body["opinions"]
    assert opinion["reviewer"]["display_name"] == world.reviewer.display_name
    assert (opinion["stage"], opinion["action"], opinion["comment"]) == (
        "district_review",
        "return_for_revision",
        "请补充绩效目标",
    )


def test_the_history_of_an_unknown_declaration_is_not_found(world, api):
    assert_error(api(world.city).get("/api/v1/declarations/999999/history"), 404, "not_found")


# --- every object endpoint: a token, and the district's walls --------------------------------


@dataclass(frozen=True)
class Call:
    """One request to an endpoint that names a district's object, and what its owner gets."""

    method: str
    rule: str
    path: Callable[[Objects], str]
    kwargs: Callable[[Objects], dict]
    owner_status: int

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


def _decl(suffix: str = "") -> Callable[[Objects], str]:
    return lambda o: f"/api/v1/declarations/{o.declaration.id}{suffix}"


CALLS = (
    Call(
        "POST",
        "/api/v1/declarations",
        lambda o: "/api/v1/declarations",
        lambda o: {"json": {"project_id": o.project.id, "program_id": o.other_program.id}},
        201,
    ),
    Call("GET", "/api/v1/declarations/<int:declaration_id>", _decl(), lambda o: {}, 200),
    Call(
        "PATCH",
        "/api/v1/declarations/<int:declaration_id>",
        _decl(),
        lambda o: {"json": {"version": o.declaration.version, "requested_amount": "250"}},
        200,
    ),
    Call(
        "POST",
        "/api/v1/declarations/<int:declaration_id>/actions",
        _decl("/actions"),
        lambda o: {"json": {"action": "withdraw", "version": o.declaration.version}},
        200,
    ),
    Call(
        "GET",
        "/api/v1/declarations/<int:declaration_id>/history",
        _decl("/history"),
        lambda o: {},
        200,
    ),
    Call(
        "POST",
        "/api/v1/declarations/<int:declaration_id>/attachments",
        _decl("/attachments"),
        lambda o: multipart(factories.pdf_bytes(), "补充材料.pdf"),
        201,
    ),
    Call(
        "GET",
        "/api/v1/attachments/<int:attachment_id>",
        lambda o: f"/api/v1/attachments/{o.attachment.id}",
        lambda o: {},
        200,
    ),
    Call(
        "POST",
        "/api/v1/declarations/<int:declaration_id>/dossiers",
        _decl("/dossiers"),
        lambda o: {},
        202,
    ),
    Call(
        "GET",
        "/api/v1/dossiers/<int:dossier_id>",
        lambda o: f"/api/v1/dossiers/{o.dossier.id}",
        lambda o: {},
        200,
    ),
    Call(
        "GET",
        "/api/v1/dossiers/<int:dossier_id>/pdf",
        lambda o: f"/api/v1/dossiers/{o.dossier.id}/pdf",
        lambda o: {},
        200,
    ),
)
OBJECT_IDS = ("declaration_id", "attachment_id", "dossier_id")


def test_the_table_covers_every_declaration_attachment_and_dossier_endpoint(app):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        and (
            any(name in rule.arguments for name in OBJECT_IDS)
            or rule.rule.endswith("/declarations")
        )
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == {(call.method, call.rule) for call in CALLS}


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.id)
def test_another_districts_users_and_experts_get_404_and_change_nothing(world, api, call):
    objects = yandu_objects(world)
    outsiders = [api(user) for user in (world.other_staff, world.other_reviewer, world.expert)]
    before = snapshot()
    for client in outsiders:
        response = client.request(call.method, call.path(objects), **call.kwargs(objects))
        assert_error(response, 404, "not_found")
        assert snapshot() == before
    # The same request from the owner goes through: the 404 was the wall, not the request.
    response = api(world.staff).request(call.method, call.path(objects), **call.kwargs(objects))
    assert response.status_code == call.owner_status, response.get_data(as_text=True)
    response.close()


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.id)
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_every_endpoint_needs_a_valid_token(world, api, call, token):
    objects = yandu_objects(world)
    before = snapshot()
    client = api(None)
    client.token = token
    response = client.request(call.method, call.path(objects), **call.kwargs(objects))
    assert_error(response, 401, "unauthorized")
    assert snapshot() == before
