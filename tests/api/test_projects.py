"""Projects through the API: list, create, read and edit, with the page's rules and isolation."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api.conftest import assert_error
from tests.factories import act, credit_code
from workflow import rules
from workflow.extensions import db
from workflow.models import AuditEvent, Project

LIST = "/api/v1/projects"
CITY = "320900"

VALID = {
    "code": "2025-320903-65-01-123456",
    "name": "盐都区公共数据授权运营平台",
    "applicant_unit": "盐城测试科技有限公司",
    "applicant_uscc": credit_code(7),
    "category": "digital_government",
    "industry_chain": "数据产业",
    "nature": "new",
    "location": "盐都区潘黄街道",
    "planned_start": "2026-03-15",
    "planned_end": "2027-12-01",
    "total_investment": "1000.50",
    "fund_central": "300",
    "fund_local_fiscal": "200.50",
    "fund_self": "500.00",
    "content": "建设公共数据授权运营平台",
    "data_content": "汇聚公共数据 2 亿条",
    "is_key": True,
    "contact_name": "王磊",
    "contact_mobile": "13912345678",
}


def with_(**changes) -> dict:
    return {**VALID, **changes}


def one(path: str) -> str:
    return f"{LIST}/{path}"


def project_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Project))


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


# --- every endpoint needs a token -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", LIST, None),
        ("POST", LIST, VALID),
        ("GET", "/api/v1/projects/{id}", None),
        ("PATCH", "/api/v1/projects/{id}", {"version": 1, "name": "改名"}),
    ],
)
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_every_project_endpoint_needs_a_valid_token(
    world, api, make_project, method, path, body, token
):
    project = make_project(world.yandu)
    client = api(None)
    client.token = token
    response = client.request(method, path.format(id=project.id), json=body)
    assert_error(response, 401, "unauthorized")
    db.session.refresh(project)
    assert project.name != "改名" and project_count() == 1


# --- list -------------------------------------------------------------------------------------


def test_a_district_user_lists_only_their_district(world, api, make_project):
    mine = [make_project(world.yandu) for _ in range(2)]
    theirs = make_project(world.tinghu)
    for user in (world.staff, world.reviewer):
        client = api(user)
        assert sorted(ids(client.get(LIST))) == sorted(p.id for p in mine)
        # Asking for another district does not widen a district user's view.
        assert sorted(ids(client.get(f"{LIST}?district={world.tinghu.id}"))) == sorted(
            p.id for p in mine
        )
    assert ids(api(world.other_staff).get(LIST)) == [theirs.id]


@pytest.mark.parametrize("role", ["city", "manager", "admin"])
def test_city_roles_list_every_district_and_can_filter_one(world, api, make_project, role):
    yandu = make_project(world.yandu)
    tinghu = make_project(world.tinghu)
    client = api(getattr(world, role))
    assert sorted(ids(client.get(LIST))) == sorted([yandu.id, tinghu.id])
    assert ids(client.get(f"{LIST}?district={world.tinghu.id}")) == [tinghu.id]
    assert ids(client.get(f"{LIST}?district={world.yandu.id}")) == [yandu.id]


def test_an_expert_lists_no_projects(world, api, make_project):
    make_project(world.yandu)
    response = api(world.expert).get(LIST)
    assert response.get_json() == {"items": [], "total": 0, "page": 1, "per_page": 20}


def test_list_items_carry_money_as_strings_and_dates_as_iso(world, api, make_project):
    project = make_project(world.yandu, total_investment=Decimal("1234.5"), fund_self=None)
    item = api(world.staff).get(LIST).get_json()["items"][0]
    assert item["id"] == project.id
    assert item["total_investment"] == "1234.50"
    assert item["fund_central"] == "300.00" and item["fund_self"] is None
    assert item["planned_start"] == "2026-03-01"
    assert item["district"] == {"id": world.yandu.id, "code": "320903", "name": "盐都区"}


@pytest.mark.parametrize(
    ("param", "value", "field"),
    [
        ("category", "data_security", "category"),
        ("maturity", "funded", "maturity"),
    ],
)
def test_list_filters_by_category_and_maturity(world, api, make_project, param, value, field):
    hit = make_project(world.yandu, **{field: value})
    make_project(world.yandu)  # digital_economy, reserve
    client = api(world.city)
    assert ids(client.get(f"{LIST}?{param}={value}")) == [hit.id]
    assert len(ids(client.get(LIST))) == 2


def test_list_filters_by_declaration_stage(world, api, make_project, make_declaration):
    submitted = make_project(world.yandu)
    decl = make_declaration(submitted, world.program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    drafted = make_project(world.yandu)
    make_declaration(drafted, world.program, by=world.staff)
    make_project(world.yandu)
    client = api(world.staff)
    assert ids(client.get(f"{LIST}?stage=district_review")) == [submitted.id]
    assert ids(client.get(f"{LIST}?stage=draft")) == [drafted.id]


@pytest.mark.parametrize(
    ("field", "stored", "query"),
    [
        ("name", "盐都区公共数据授权运营平台", "授权运营"),
        ("applicant_unit", "江苏盐都算力有限公司", "算力有限"),
        ("content", "建设城市数据底座", "数据底座"),
        ("code", "2025-320903-65-01-777777", "777777"),
    ],
)
def test_list_searches_name_unit_content_and_code(world, api, make_project, field, stored, query):
    hit = make_project(world.yandu, **{field: stored})
    make_project(world.yandu)
    assert ids(api(world.staff).get(LIST, query_string={"q": query})) == [hit.id]


def test_search_takes_like_wildcards_literally(world, api, make_project):
    hit = make_project(world.yandu, name="覆盖率100%提升工程")
    make_project(world.yandu, name="覆盖率100倍提升工程")
    assert ids(api(world.staff).get(LIST, query_string={"q": "100%"})) == [hit.id]


def test_blank_filters_mean_no_filter(world, api, make_project):
    projects = [make_project(world.yandu), make_project(world.tinghu)]
    response = api(world.city).get(f"{LIST}?district=&category=&maturity=&stage=&q=&page=")
    assert sorted(ids(response)) == sorted(p.id for p in projects)


def test_the_last_allowed_page_is_merely_empty(world, api, make_project):
    make_project(world.yandu)
    body = api(world.city).get(f"{LIST}?page=1000000&per_page=100").get_json()
    assert body == {"items": [], "total": 1, "page": 1000000, "per_page": 100}


def test_list_is_paginated_newest_change_first(world, api, make_project):
    projects = [make_project(world.yandu) for _ in range(5)]
    client = api(world.staff)
    pages = [client.get(f"{LIST}?per_page=2&page={n}").get_json() for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 and p["per_page"] == 2 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    seen = [item["id"] for p in pages for item in p["items"]]
    assert seen == [p.id for p in reversed(projects)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("district=abc", "district"),
        ("district=99999999999", "district"),
        ("page=1000001", "page"),
        ("page=" + "9" * 30, "page"),
        ("category=finance", "category"),
        ("maturity=dreaming", "maturity"),
        ("stage=limbo", "stage"),
        ("q=" + "长" * 101, "q"),
        ("categroy=data_security", "categroy"),
    ],
)
def test_bad_list_parameters_are_refused(world, api, query, field):
    error = assert_error(api(world.city).get(f"{LIST}?{query}"), 422, "validation_failed")
    assert list(error["fields"]) == [field]
    assert has_chinese(error["fields"][field])


# --- create -----------------------------------------------------------------------------------


def test_district_staff_create_a_project_in_their_district(world, api):
    client = api(world.staff)
    response = client.post(LIST, json=VALID)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/projects/{body['id']}")
    assert body["district"] == {"id": world.yandu.id, "code": "320903", "name": "盐都区"}
    assert body["maturity"] == "planning" and body["version"] == 1
    assert body["prerequisites"] == [] and body["declaration_ids"] == []
    # Stored as the page stores a 年月: the first of the month.
    assert body["planned_start"] == "2026-03-01" and body["planned_end"] == "2027-12-01"
    assert body["total_investment"] == "1000.50" and body["fund_local_fiscal"] == "200.50"
    assert body["fund_provincial"] is None
    for field in ("code", "name", "applicant_uscc", "category", "content", "contact_mobile"):
        assert body[field] == VALID[field]
    assert body["is_key"] is True
    assert client.get(response.headers["Location"]).get_json() == body

    project = db.session.get(Project, body["id"])
    assert project.total_investment == Decimal("1000.50")
    assert project.planned_start == date(2026, 3, 1)
    assert project.created_by_id == world.staff.id
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.object_type == "project", AuditEvent.object_id == project.id
        )
    )
    assert event.action == "create" and event.actor_id == world.staff.id


def test_a_project_needs_only_a_name_and_a_category_while_planned(world, api):
    response = api(world.staff).post(
        LIST, json={"name": "谋划中的项目", "category": "data_security"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] is None and body["total_investment"] is None
    assert body["contact_mobile"] == "" and body["is_key"] is False


def test_create_tidies_input_as_the_page_does(world, api):
    response = api(world.staff).post(
        LIST,
        json=with_(
            name="  盐都区数据港\u3000",
            applicant_uscc=f" {VALID['applicant_uscc'].lower()} ",
            code="",
            contact_mobile=None,
        ),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "盐都区数据港"
    assert body["applicant_uscc"] == VALID["applicant_uscc"]
    assert body["code"] is None and body["contact_mobile"] == ""


@pytest.mark.parametrize("role", ["reviewer", "city", "manager", "expert", "admin"])
def test_only_district_staff_create_projects(world, api, role):
    error = assert_error(api(getattr(world, role)).post(LIST, json=VALID), 403, "forbidden")
    assert error["fields"] == {}
    assert project_count() == 0


BAD_RULES = [
    ("code", "2025_320903_65_01_123456", rules.project_code_error("x", CITY)),
    ("code", "2025-310101-65-01-123456", "项目代码中的区划代码 310101 不属于本市(320900)"),
    ("code", "1999-320903-65-01-123456", "项目代码中的年份 1999 不合理"),
    ("applicant_uscc", credit_code(7)[:-1] + "0", rules.uscc_error("x")),
    ("applicant_uscc", "91320903MA00000", rules.uscc_error("x")),
    ("contact_mobile", "1391234567", rules.mobile_error("x")),
    ("contact_mobile", "23912345678", rules.mobile_error("x")),
    ("industry_chain", "房地产", "产业链应为系统配置的产业链之一,不属于特定产业链时留空"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_RULES)
def test_create_applies_each_rule_of_the_form(world, api, field, value, message):
    error = assert_error(
        api(world.staff).post(LIST, json=with_(**{field: value})), 422, "validation_failed"
    )
    assert error["fields"] == {field: message}
    assert project_count() == 0


def test_create_refuses_funding_that_does_not_add_up(world, api):
    error = assert_error(
        api(world.staff).post(LIST, json=with_(fund_self="400")), 422, "validation_failed"
    )
    assert error["fields"] == {
        "total_investment": "各项资金来源合计 900.50 万元,与总投资 1000.50 万元不一致"
    }


def test_create_refuses_an_end_before_the_start(world, api):
    error = assert_error(
        api(world.staff).post(
            LIST, json=with_(planned_start="2027-05-01", planned_end="2027-04-30")
        ),
        422,
    )
    assert error["fields"] == {"planned_end": "拟建成年月不能早于拟开工年月"}


def test_create_accepts_start_and_end_in_the_same_month(world, api):
    response = api(world.staff).post(
        LIST, json=with_(planned_start="2027-05-20", planned_end="2027-05-02")
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_create_reports_every_broken_rule_at_once(world, api):
    error = assert_error(
        api(world.staff).post(
            LIST,
            json=with_(code="bad", contact_mobile="123", fund_self="1", planned_end="2020-01-01"),
        ),
        422,
    )
    assert set(error["fields"]) == {"code", "contact_mobile", "total_investment", "planned_end"}


BAD_TYPES = [
    ("total_investment", 1000.5, '金额请用字符串表示,例如 "1234.50"'),
    ("fund_central", 300, '金额请用字符串表示,例如 "1234.50"'),
    ("fund_self", "1e3", None),
    ("fund_self", "-1", "金额不能为负数"),
    ("fund_self", "1,000", None),
    ("fund_self", "0.001", "最多两位小数"),
    ("fund_self", "1000000000000", "金额过大"),
    ("name", "", "不能为空"),
    ("name", "   ", "不能为空"),
    ("name", "长" * 201, "过长"),
    ("name", 12, "应为字符串"),
    ("category", "finance", "取值不在允许范围内"),
    ("nature", "rebuilt", "取值不在允许范围内"),
    ("planned_start", "2026-03", "应为日期,格式 YYYY-MM-DD"),
    ("planned_start", 1767225600, "应为日期,格式 YYYY-MM-DD"),
    ("planned_end", "2026-02-30", "应为日期,格式 YYYY-MM-DD"),
    ("is_key", "yes", "应为 true 或 false"),
    ("content", "长" * 5001, "过长"),
    ("maturity", "reserve", "不认识的字段"),
    ("district_id", 2, "不认识的字段"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_TYPES)
def test_create_refuses_values_of_the_wrong_shape(world, api, field, value, message):
    error = assert_error(
        api(world.staff).post(LIST, json=with_(**{field: value})), 422, "validation_failed"
    )
    assert list(error["fields"]) == [field]
    assert has_chinese(error["fields"][field])
    if message:
        assert error["fields"][field] == message
    assert project_count() == 0


@pytest.mark.parametrize("field", ["name", "category"])
def test_create_needs_a_name_and_a_category(world, api, field):
    body = {k: v for k, v in VALID.items() if k != field}
    error = assert_error(api(world.staff).post(LIST, json=body), 422)
    assert error["fields"] == {field: "必填"}


def test_create_wants_a_json_body(world, api):
    client = api(world.staff)
    error = assert_error(client.post(LIST, data={"name": "表单"}), 422, "validation_failed")
    assert list(error["fields"]) == ["body"]
    assert_error(
        client.post(LIST, data="{", headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    error = assert_error(client.post(LIST, json=["not", "an", "object"]), 422)
    assert error["fields"]
    assert project_count() == 0


# --- read one ---------------------------------------------------------------------------------


def test_a_project_shows_its_district_maturity_prerequisites_and_declarations(
    world, api, make_project, make_declaration
):
    project = make_project(world.yandu)
    decl = make_declaration(project, world.program, by=world.staff)
    body = api(world.staff).get(one(project.id)).get_json()
    assert body["id"] == project.id and body["version"] == project.version
    assert body["district"] == {"id": world.yandu.id, "code": "320903", "name": "盐都区"}
    assert body["maturity"] == "reserve" and body["is_under_review"] is False
    assert body["declaration_ids"] == [decl.id]
    [prereq] = body["prerequisites"]
    assert prereq == {
        "id": project.prerequisites[0].id,
        "kind": "feasibility_approval",
        "doc_number": "盐发改〔2025〕1号",
        "issued_on": "2025-01-01",
        "valid_until": "2030-12-31",
    }
    assert body["total_investment"] == "1000.00" and body["planned_end"] == "2027-12-01"


@pytest.mark.parametrize("role", ["staff", "reviewer", "city", "manager", "admin"])
def test_who_may_read_a_project(world, api, make_project, role):
    project = make_project(world.yandu)
    assert api(getattr(world, role)).get(one(project.id)).get_json()["id"] == project.id


@pytest.mark.parametrize("role", ["other_staff", "other_reviewer", "expert"])
def test_another_districts_project_is_not_found(world, api, make_project, role):
    project = make_project(world.yandu)
    missing = assert_error(api(getattr(world, role)).get(one(project.id)), 404, "not_found")
    # The same answer as for a project that does not exist: nothing tells them it does.
    assert missing == assert_error(api(getattr(world, role)).get(one(999999)), 404)


# --- edit -------------------------------------------------------------------------------------


def test_staff_change_some_fields_and_the_rest_stays(world, api, make_project):
    project = make_project(world.yandu)
    before = api(world.staff).get(one(project.id)).get_json()
    client = api(world.staff)
    response = client.patch(
        one(project.id),
        json={
            "version": project.version,
            "name": "改名后的项目",
            "fund_central": "200",
            "fund_self": "600.00",
            "planned_end": "2028-06-30",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    after = response.get_json()
    assert after["version"] == before["version"] + 1
    assert after["name"] == "改名后的项目"
    assert after["fund_central"] == "200.00" and after["fund_self"] == "600.00"
    assert after["planned_end"] == "2028-06-01"
    unchanged = set(before) - {"version", "name", "fund_central", "fund_self", "planned_end"}
    assert {k: after[k] for k in unchanged - {"updated_at"}} == {
        k: before[k] for k in unchanged - {"updated_at"}
    }
    assert client.get(one(project.id)).get_json() == after
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == project.id, AuditEvent.action == "update")
    ).one()
    assert event.actor_id == world.staff.id and event.after["name"] == "改名后的项目"


def test_null_clears_an_optional_field(world, api, make_project):
    project = make_project(world.yandu, fund_loan=None)
    response = api(world.staff).patch(
        one(project.id),
        json={
            "version": project.version,
            "code": None,
            "nature": None,
            "planned_start": None,
            "total_investment": None,
            "contact_mobile": None,
            "data_content": "",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] is None and body["nature"] is None and body["planned_start"] is None
    assert body["total_investment"] is None and body["fund_central"] == "300.00"
    assert body["contact_mobile"] == "" and body["data_content"] == ""
    db.session.refresh(project)
    assert project.code is None and project.contact_mobile == ""


@pytest.mark.parametrize("field", ["name", "category", "is_key"])
def test_required_fields_cannot_be_cleared(world, api, make_project, field):
    project = make_project(world.yandu)
    error = assert_error(
        api(world.staff).patch(one(project.id), json={"version": project.version, field: None}),
        422,
        "validation_failed",
    )
    assert error["fields"] == {field: "此项不能清空"}


def test_only_the_version_changes_nothing(world, api, make_project):
    project = make_project(world.yandu)
    response = api(world.staff).patch(one(project.id), json={"version": project.version})
    assert response.status_code == 200
    assert response.get_json()["version"] == project.version


def test_a_stale_version_is_a_conflict_and_changes_nothing(world, api, make_project):
    project = make_project(world.yandu)
    seen = project.version
    client = api(world.staff)
    assert (
        client.patch(one(project.id), json={"version": seen, "name": "第一次"}).status_code == 200
    )
    error = assert_error(
        client.patch(one(project.id), json={"version": seen, "name": "第二次", "fund_self": "500"}),
        409,
        "conflict",
    )
    assert f"第 {seen} 版" in error["message"]
    db.session.refresh(project)
    assert project.name == "第一次" and project.version == seen + 1
    assert client.get(one(project.id)).get_json()["name"] == "第一次"


def test_a_project_under_review_cannot_be_changed(world, api, make_project, make_declaration):
    project = make_project(world.yandu)
    factories.act(make_declaration(project, world.program, by=world.staff), "submit", world.staff)
    db.session.refresh(project)
    client = api(world.staff)
    assert client.get(one(project.id)).get_json()["is_under_review"] is True
    error = assert_error(
        client.patch(one(project.id), json={"version": project.version, "name": "审核中改名"}),
        409,
        "conflict",
    )
    assert "审核" in error["message"]
    db.session.refresh(project)
    assert project.name != "审核中改名"


@pytest.mark.parametrize("role", ["other_staff", "other_reviewer", "expert"])
def test_another_districts_project_cannot_be_changed_nor_found(world, api, make_project, role):
    project = make_project(world.yandu)
    body = {"version": project.version, "name": "越权修改"}
    assert_error(api(getattr(world, role)).patch(one(project.id), json=body), 404, "not_found")
    assert_error(api(world.staff).patch(one(999999), json=body), 404, "not_found")
    db.session.refresh(project)
    assert project.name != "越权修改"


@pytest.mark.parametrize("role", ["reviewer", "city", "manager", "admin"])
def test_only_district_staff_change_projects(world, api, make_project, role):
    project = make_project(world.yandu)
    body = {"version": project.version, "name": "越权修改"}
    assert_error(api(getattr(world, role)).patch(one(project.id), json=body), 403, "forbidden")
    db.session.refresh(project)
    assert project.name != "越权修改" and project.version == body["version"]


@pytest.mark.parametrize(("field", "value", "message"), BAD_RULES)
def test_edit_applies_each_rule_of_the_form(world, api, make_project, field, value, message):
    project = make_project(world.yandu)
    error = assert_error(
        api(world.staff).patch(one(project.id), json={"version": project.version, field: value}),
        422,
        "validation_failed",
    )
    assert error["fields"] == {field: message}
    db.session.refresh(project)
    assert getattr(project, field) != value


def test_edit_checks_the_sources_against_the_stored_total(world, api, make_project):
    project = make_project(world.yandu)  # 1000 = 300 + 200 + 500
    error = assert_error(
        api(world.staff).patch(
            one(project.id), json={"version": project.version, "fund_self": "600"}
        ),
        422,
    )
    assert error["fields"] == {
        "total_investment": "各项资金来源合计 1100.00 万元,与总投资 1000.00 万元不一致"
    }


def test_edit_checks_a_new_start_against_the_stored_end(world, api, make_project):
    project = make_project(world.yandu)  # ends 2027-12
    error = assert_error(
        api(world.staff).patch(
            one(project.id), json={"version": project.version, "planned_start": "2028-01-01"}
        ),
        422,
    )
    assert error["fields"] == {"planned_end": "拟建成年月不能早于拟开工年月"}


def test_edit_does_not_answer_for_fields_it_left_alone(world, api, make_project):
    # Data from before a rule existed (here: a sum that does not add up) blocks nothing else.
    project = make_project(world.yandu, fund_self=Decimal("1"))
    response = api(world.staff).patch(
        one(project.id), json={"version": project.version, "name": "只改名称"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "无版本"}, "version", "必填"),
        ({"version": "1"}, "version", "应为整数"),
        ({"version": 0}, "version", "数值过小"),
        ({"version": 1, "total_investment": 1000}, "total_investment", None),
        ({"version": 1, "maturity": "removed"}, "maturity", "不认识的字段"),
        ({"version": 1, "district": 2}, "district", "不认识的字段"),
        ({"version": 1, "planned_end": "明年"}, "planned_end", None),
    ],
)
def test_edit_refuses_values_of_the_wrong_shape(world, api, make_project, body, field, message):
    project = make_project(world.yandu)
    error = assert_error(api(world.staff).patch(one(project.id), json=body), 422)
    assert list(error["fields"]) == [field]
    assert has_chinese(error["fields"][field])
    if message:
        assert error["fields"][field] == message
    db.session.refresh(project)
    assert project.version == 1 and project.total_investment == Decimal("1000.00")


def test_edit_wants_a_json_body(world, api, make_project):
    project = make_project(world.yandu)
    client = api(world.staff)
    error = assert_error(client.patch(one(project.id), data={"version": "1"}), 422)
    assert list(error["fields"]) == ["body"]
    assert_error(
        client.patch(one(project.id), data="{", headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )


# --- the OpenAPI document -----------------------------------------------------------------------


def test_the_openapi_document_describes_the_project_endpoints(world, api):
    document = api(None).get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    expected = {
        ("/api/v1/projects", "get"): {"200", "401", "422", "429"},
        ("/api/v1/projects", "post"): {"201", "400", "401", "403", "409", "422", "429"},
        ("/api/v1/projects/{project_id}", "get"): {"200", "401", "404", "422", "429"},
        ("/api/v1/projects/{project_id}", "patch"): {
            "200",
            "400",
            "401",
            "403",
            "404",
            "409",
            "422",
            "429",
        },
    }
    for (path, method), statuses in expected.items():
        operation = paths[path][method]
        assert set(operation["responses"]) == statuses, (path, method)
        assert operation["tags"] == ["projects"]
    query = {p["name"] for p in paths["/api/v1/projects"]["get"]["parameters"]}
    assert query == {"district", "category", "maturity", "stage", "q", "page", "per_page"}
    schemas = document["components"]["schemas"]
    create, update = schemas["ProjectCreate"], schemas["ProjectUpdate"]
    assert create["additionalProperties"] is False and set(create["required"]) == {
        "name",
        "category",
    }
    assert update["required"] == ["version"]
    assert set(VALID) <= set(create["properties"]) and set(VALID) <= set(update["properties"])
    money = schemas["ProjectOut"]["properties"]["total_investment"]["anyOf"][0]
    assert money["type"] == "string" and money["pattern"]


# --- prerequisites (前期要件) -----------------------------------------------------------------

PREREQ = {"kind": "land_site", "doc_number": "盐自然资预〔2026〕3号", "issued_on": "2026-02-01"}


def test_prerequisites_are_added_and_removed_through_the_api(world, api, make_project):
    project = make_project(world.yandu)
    version_before = project.version
    client = api(world.staff)
    response = client.post(f"/api/v1/projects/{project.id}/prerequisites", json=PREREQ)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    added = next(p for p in body["prerequisites"] if p["kind"] == "land_site")
    assert added["doc_number"] == "盐自然资预〔2026〕3号" and added["valid_until"] is None
    assert body["version"] > version_before  # a dossier printed before is now outdated

    response = client.delete(f"/api/v1/projects/{project.id}/prerequisites/{added['id']}")
    assert response.status_code == 200
    assert "land_site" not in {p["kind"] for p in response.get_json()["prerequisites"]}


def test_prerequisite_rules_and_refusals(world, api, make_project, make_declaration):
    project = make_project(world.yandu)
    client = api(world.staff)
    bad = {**PREREQ, "issued_on": "2026-02-01", "valid_until": "2026-01-01"}
    assert_error(client.post(f"/api/v1/projects/{project.id}/prerequisites", json=bad), 422)
    error = assert_error(
        client.post(f"/api/v1/projects/{project.id}/prerequisites", json={**PREREQ, "kind": "x"}),
        422,
    )
    assert "kind" in error["fields"]
    other = api(world.other_staff)
    assert_error(other.post(f"/api/v1/projects/{project.id}/prerequisites", json=PREREQ), 404)
    assert_error(
        api(world.reviewer).post(f"/api/v1/projects/{project.id}/prerequisites", json=PREREQ), 403
    )
    prereq_id = project.prerequisites[0].id
    assert_error(other.delete(f"/api/v1/projects/{project.id}/prerequisites/{prereq_id}"), 404)
    assert_error(client.delete(f"/api/v1/projects/{project.id}/prerequisites/999999"), 404)

    act(make_declaration(project, world.program, by=world.staff), "submit", world.staff)
    assert_error(client.post(f"/api/v1/projects/{project.id}/prerequisites", json=PREREQ), 409)
    assert_error(client.delete(f"/api/v1/projects/{project.id}/prerequisites/{prereq_id}"), 409)
