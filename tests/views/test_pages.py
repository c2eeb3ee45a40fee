"""Every page in Chinese for every role, and the declaration's path through the pages."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import factories
from tests.factories import act
from tests.views.html import facts, has_cjk, page
from tests.views.objects import snapshot, yandu_objects
from workflow import library as library_module
from workflow.extensions import db
from workflow.models import Declaration, FundingProgram, Project
from workflow.operations import local_today

ROLES = ["staff", "reviewer", "city", "manager", "expert", "admin"]
ENGLISH_LEAKS = re.compile(
    r"Not Found|Forbidden|Internal Server Error|Method Not Allowed|Bad Request|\bNone\b|"
    r"Not a valid|This field is required|Traceback|undefined"
)


def assert_chinese_page(response, status: int = 200):
    """The page a user sees: the expected status, Chinese headings, nothing leaking in English."""
    assert response.status_code == status, response.text[:400]
    shown = page(response)
    assert '<html lang="zh-CN">' in shown.html
    assert has_cjk(shown.title) and has_cjk(shown.h1), (shown.title, shown.h1)
    leak = ENGLISH_LEAKS.search(shown.text)
    assert leak is None, f"{leak.group(0)!r} shown on {response.request.path}"
    return shown


# --- every page, every role -------------------------------------------------------------------


def _expected(role: str) -> dict[str, int]:
    return {
        "inbox": 200,
        "projects": 200,
        "project": 404 if role == "expert" else 200,
        "project_new": 200 if role == "staff" else 403,
        "project_edit": 404 if role == "expert" else 200 if role == "staff" else 403,
        "declarations": 200,
        "declaration": 404 if role == "expert" else 200,
        "declaration_edit": 404 if role == "expert" else 200 if role == "staff" else 403,
        "programs": 200,
        "program": 200,
        "program_new": 200 if role in ("city", "admin") else 403,
        "program_edit": 200 if role in ("city", "admin") else 403,
        "dossier": 404 if role == "expert" else 200,
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_in_chinese_for_every_role(world, login, role):
    o = yandu_objects(world)
    client = login(getattr(world, role))
    paths = {
        "inbox": "/inbox",
        "projects": "/projects",
        "project": f"/projects/{o.project.id}",
        "project_new": "/projects/new",
        "project_edit": f"/projects/{o.project.id}/edit",
        "declarations": "/declarations",
        "declaration": f"/declarations/{o.declaration.id}",
        "declaration_edit": f"/declarations/{o.declaration.id}/edit",
        "programs": "/programs",
        "program": f"/programs/{o.program.id}",
        "program_new": "/programs/new",
        "program_edit": f"/programs/{o.program.id}/edit",
        "dossier": f"/dossiers/{o.dossier.id}",
    }
    expected = _expected(role)
    for name, path in paths.items():
        shown = assert_chinese_page(client.get(path), expected[name])
        who = getattr(world, role)
        assert who.display_name in shown.text  # the top bar says who is signed in
    assert client.get("/").headers["Location"] == "/inbox"
    assert client.get("/login").headers["Location"] == "/inbox"


def test_the_login_page_and_a_wrong_password(world, client):
    assert_chinese_page(client.get("/login"))
    response = client.post("/login", data={"username": world.staff.username, "password": "错的"})
    shown = assert_chinese_page(response)
    assert shown.field_errors("password") == ["用户名或密码错误"]
    assert shown.value("username") == world.staff.username
    assert shown.value("password") == ""  # never echoed back


def test_a_disabled_account_cannot_sign_in(app, client, make_district):
    user = factories.user("district_staff", make_district(), active=False)
    response = client.post(
        "/login", data={"username": user.username, "password": factories.PASSWORD}
    )
    assert page(response).field_errors("username") == ["该账号已停用,请联系管理员"]


def test_signing_out(world, login):
    client = login(world.staff)
    response = client.post("/logout", follow_redirects=True)
    shown = assert_chinese_page(response)
    assert "已退出登录" in shown.alerts()
    assert client.get("/inbox").status_code == 302


def test_a_get_on_a_post_only_route_is_explained_in_chinese(world, login):
    o = yandu_objects(world)
    client = login(world.staff)
    response = client.get(f"/declarations/{o.declaration.id}/actions")
    assert_chinese_page(response, 405)


def test_error_pages_offer_a_way_back_only_within_the_site(world, login):
    client = login(world.staff)
    shown = page(client.get("/programs/new", headers={"Referer": "http://localhost/projects"}))
    assert shown.h1 == "无权操作"
    assert "http://localhost/projects" in shown.links() and "/inbox" in shown.links()
    shown = page(client.get("/programs/new", headers={"Referer": "https://evil.example/x"}))
    assert "https://evil.example/x" not in shown.links()
    assert "返回上一页" not in shown.text


def test_a_refused_form_says_so_at_the_top(world, login):
    client = login(world.staff)
    response = client.post(
        "/projects/new", data={"name": "", "category": "", "contact_mobile": "1"}
    )
    shown = assert_chinese_page(response, 422)
    assert shown.by_id("form-errors").text.startswith("有 3 处需要修改")


# --- the inbox --------------------------------------------------------------------------------


@pytest.fixture
def stages(world, make_project, make_declaration):
    """A declaration waiting in each stage, in 盐都区, plus one in 亭湖区 under district review."""
    today = local_today()

    def declared(name, district=world.yandu, staff=world.staff, program=world.program):
        return make_declaration(make_project(district, name=name), program, by=staff)

    draft = declared("草稿中的项目")
    returned = act(declared("被退回的项目"), "submit", world.staff)
    act(returned, "return_for_revision", world.reviewer, "请补充绩效目标")
    district_review = act(declared("待初审的项目"), "submit", world.staff)
    city_review = act(declared("待复审的项目"), "submit", world.staff)
    act(city_review, "approve", world.reviewer)
    recommended = act(declared("已推荐的项目"), "submit", world.staff)
    act(recommended, "approve", world.reviewer)
    act(recommended, "approve", world.city)
    tinghu = act(
        declared("亭湖区待初审项目", world.tinghu, world.other_staff), "submit", world.other_staff
    )
    late = factories.program(
        title="已过截止的批次",
        opens_on=today - timedelta(days=30),
        district_deadline=today - timedelta(days=3),
        city_deadline=today + timedelta(days=5),
    )
    overdue = declared("逾期未提交的项目", program=late)
    return {
        "draft": draft,
        "returned": returned,
        "district_review": district_review,
        "city_review": city_review,
        "recommended": recommended,
        "tinghu": tinghu,
        "overdue": overdue,
    }


INBOX = {
    "staff": ["逾期未提交的项目", "草稿中的项目", "被退回的项目"],
    "reviewer": ["待初审的项目"],
    "other_reviewer": ["亭湖区待初审项目"],
    "other_staff": [],
    "city": ["待复审的项目"],
    "manager": ["已推荐的项目"],
    "expert": [],
    "admin": [],
}


@pytest.mark.parametrize("role", list(INBOX))
def test_the_inbox_shows_each_role_its_own_tasks_soonest_deadline_first(world, login, stages, role):
    client = login(getattr(world, role))
    shown = assert_chinese_page(client.get("/inbox"))
    rows = shown.rows("tasks")
    names = [name for row in rows for name in INBOX_NAMES if name in row]
    assert names == INBOX[role]
    assert f"共 {len(INBOX[role])} 件" in shown.text
    if not INBOX[role] and role not in ("expert", "admin"):
        assert "暂无待办" in shown.text


INBOX_NAMES = sorted({n for names in INBOX.values() for n in names}, key=len, reverse=True)


@pytest.mark.parametrize(
    ("role", "project", "deadline", "left"),
    [
        ("staff", "草稿中的项目", "district_deadline", "10 天"),
        ("staff", "逾期未提交的项目", "district_deadline", "已逾期 3 天"),
        # A stage with a time limit shows its own due date, in working days (办理时限).
        ("reviewer", "待初审的项目", "stage_due_on", "5 个工作日"),
        ("city", "待复审的项目", "stage_due_on", "10 个工作日"),
        ("manager", "已推荐的项目", "upstream_deadline", "30 天"),
    ],
)
def test_inbox_rows_show_the_deadline_and_the_days_left(
    world, login, stages, role, project, deadline, left
):
    client = login(getattr(world, role))
    shown = page(client.get("/inbox"))
    table = shown.by_id("tasks")
    row = next(tr for tr in table.find("tbody").find_all("tr") if project in tr.text)
    decl = db.session.scalar(select(Declaration).join(Project).where(Project.name == project))
    shown_deadline = getattr(decl, deadline, None) or getattr(decl.program, deadline)
    assert shown_deadline.isoformat() in row.text
    assert row.text.endswith(left)
    assert ("overdue" in row.classes) == left.startswith("已逾期")


def test_experts_and_admins_are_told_why_their_inbox_is_empty(world, login, stages):
    assert "评审任务由市级审核员分配" in page(login(world.expert).get("/inbox")).text
    assert "系统管理员不参与审核流转" in page(login(world.admin).get("/inbox")).text


def test_the_inbox_counts_the_library_by_maturity_in_the_users_scope(world, login, stages):
    shown = page(login(world.other_staff).get("/inbox"))
    stats = {li.text.rsplit(" ", 1)[0]: li.text.rsplit(" ", 1)[1] for li in
             shown.root.find("ul", class_="stats").find_all("li")}  # fmt: skip
    assert stats["申报中"] == "1"  # only 亭湖区's own project
    assert stats["储备"] == "0"


# --- the library ------------------------------------------------------------------------------


@pytest.fixture
def library(world, make_project, make_declaration):
    a = make_project(
        world.yandu, name="甲数据产业园", applicant_unit="甲数据公司", category="digital_economy"
    )
    b = make_project(
        world.tinghu,
        name="乙安全平台",
        category="data_security",
        maturity="planning",
        content="基于隐私计算的数据安全平台",
    )
    c = make_project(
        world.yandu,
        name="丙政务中台",
        category="digital_government",
        code="2025-320903-65-01-777777",
    )
    act(make_declaration(c, world.program, by=world.staff), "submit", world.staff)
    return a, b, c


def library_names(client, **filters) -> list[str]:
    shown = assert_chinese_page(client.get("/projects", query_string=filters))
    return sorted(row.split(" ")[0] for row in shown.rows("projects") if "没有符合" not in row)


def test_the_library_filters_actually_filter(world, login, library):
    client = login(world.city)
    assert library_names(client) == ["丙政务中台", "乙安全平台", "甲数据产业园"]
    assert library_names(client, district=world.yandu.id) == ["丙政务中台", "甲数据产业园"]
    assert library_names(client, district=world.tinghu.id) == ["乙安全平台"]
    assert library_names(client, category="data_security") == ["乙安全平台"]
    assert library_names(client, maturity="planning") == ["乙安全平台"]
    assert library_names(client, maturity="declaring") == ["丙政务中台"]
    assert library_names(client, stage="district_review") == ["丙政务中台"]
    assert library_names(client, stage="approved") == []
    assert library_names(client, q="隐私计算") == ["乙安全平台"]
    assert library_names(client, q="777777") == ["丙政务中台"]
    assert library_names(client, q="甲数据公司") == ["甲数据产业园"]
    assert library_names(client, district=world.yandu.id, category="digital_economy") == [
        "甲数据产业园"
    ]
    # Unknown filter values are ignored, not errors.
    assert len(library_names(client, category="bogus", maturity="x", stage="y", district="z")) == 3


def test_the_library_keeps_the_chosen_filters_in_the_form(world, login, library):
    client = login(world.city)
    shown = page(
        client.get(
            "/projects",
            query_string={"district": world.tinghu.id, "category": "data_security", "q": "隐私"},
        )
    )
    assert shown.value("district") == str(world.tinghu.id)
    assert shown.value("category") == "data_security"
    assert shown.value("q") == "隐私"
    assert "没有符合条件的项目" in page(client.get("/projects", query_string={"q": "不存在"})).text


def test_a_district_user_cannot_filter_their_way_into_another_district(world, login, library):
    client = login(world.other_staff)
    assert library_names(client) == ["乙安全平台"]
    assert library_names(client, district=world.yandu.id) == ["乙安全平台"]
    assert page(client.get("/projects")).value("district") is None  # no district filter shown


def test_experts_see_an_empty_library(world, login, library):
    assert library_names(login(world.expert)) == []


def test_the_declaration_list_filters_by_program_stage_and_district(world, login, stages):
    client = login(world.city)

    def listed(**filters):
        shown = assert_chinese_page(client.get("/declarations", query_string=filters))
        return sorted(n for row in shown.rows("declarations") for n in INBOX_NAMES if n in row)

    assert listed(stage="district_review") == ["亭湖区待初审项目", "待初审的项目"]
    assert listed(stage="district_review", district=world.tinghu.id) == ["亭湖区待初审项目"]
    late = db.session.scalar(select(FundingProgram).where(FundingProgram.title == "已过截止的批次"))
    assert listed(program=late.id) == ["逾期未提交的项目"]
    assert "亭湖区待初审项目" not in page(login(world.staff).get("/declarations")).text


# --- projects through the form ----------------------------------------------------------------

PROJECT = {
    "code": "2025-320903-65-01-246810",
    "name": "盐都区数据要素流通服务平台",
    "applicant_unit": "盐城数据要素科技有限公司",
    "applicant_uscc": factories.credit_code(99),
    "category": "digital_economy",
    "industry_chain": "数据产业",
    "nature": "new",
    "location": "盐都区",
    "planned_start": "2026-03",
    "planned_end": "2027-06",
    "total_investment": "2,000",
    "fund_central": "600",
    "fund_local_fiscal": "400",
    "fund_self": "1000",
    "content": "建设数据要素流通服务平台",
    "data_content": "接入公共数据 120 类",
    "contact_name": "王芳",
    "contact_mobile": "13800001111",
}


def test_create_and_edit_a_project_through_the_form(world, login):
    client = login(world.staff)
    assert_chinese_page(client.get("/projects/new"))
    response = client.post("/projects/new", data=PROJECT)
    assert response.status_code == 302
    project = db.session.scalar(select(Project).where(Project.name == PROJECT["name"]))
    assert response.headers["Location"] == f"/projects/{project.id}"
    assert project.district_id == world.yandu.id and project.maturity == "planning"
    assert project.total_investment == Decimal("2000.00")
    assert project.fund_provincial is None

    detail = assert_chinese_page(client.get(response.headers["Location"]))
    assert "项目已保存" in detail.alerts()
    shown = facts(detail)
    assert shown["项目代码"] == PROJECT["code"]
    assert shown["建设周期"] == "2026年03月 至 2027年06月"
    assert "创建" in detail.by_id("history").text

    edit = assert_chinese_page(client.get(f"/projects/{project.id}/edit"))
    assert edit.value("total_investment") == "2000.00"
    assert edit.value("planned_start") == "2026-03"
    assert edit.value("version") == str(project.version)
    changed = {
        **PROJECT,
        "name": "盐都区数据要素流通服务平台(二期)",
        "version": edit.value("version"),
    }
    response = client.post(f"/projects/{project.id}/edit", data=changed)
    assert response.status_code == 302
    detail = page(client.get(response.headers["Location"]))
    assert detail.h1 == "盐都区数据要素流通服务平台(二期)"
    assert "修改" in detail.by_id("history").text


def test_a_stale_project_edit_is_refused_and_keeps_the_typing(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    seen = page(client.get(f"/projects/{project.id}/edit")).value("version")
    project.location = "别人改过的地点"
    db.session.commit()
    response = client.post(
        f"/projects/{project.id}/edit", data={**PROJECT, "name": "我的修改", "version": seen}
    )
    shown = assert_chinese_page(response, 409)
    assert any("已被他人修改" in alert for alert in shown.alerts())
    assert shown.value("name") == "我的修改"
    db.session.expire_all()
    assert project.name != "我的修改"


def test_a_project_under_review_cannot_be_edited(world, login, make_project, make_declaration):
    project = make_project(world.yandu)
    act(make_declaration(project, world.program, by=world.staff), "submit", world.staff)
    client = login(world.staff)
    response = client.post(
        f"/projects/{project.id}/edit", data={**PROJECT, "version": str(project.version)}
    )
    shown = assert_chinese_page(response, 409)
    assert any("正在审核中" in alert for alert in shown.alerts())


def test_prerequisites_of_a_project_under_review_are_frozen_on_the_page(
    world, login, make_project, make_declaration
):
    project = make_project(world.yandu)
    act(make_declaration(project, world.program, by=world.staff), "submit", world.staff)
    client = login(world.staff)
    detail = client.get(f"/projects/{project.id}")
    assert "添加要件" not in detail.text and "修改项目</a>" not in detail.text
    assert "审核结束或被退回后才能修改" in detail.text
    typed = {"kind": "environmental", "doc_number": "盐环审〔2026〕7号", "issued_on": "2026-01-05"}
    response = client.post(f"/projects/{project.id}/prerequisites", data=typed)
    shown = assert_chinese_page(response, 409)
    assert any("正在审核中" in alert for alert in shown.alerts())
    prereq = project.prerequisites[0]
    response = client.post(f"/projects/{project.id}/prerequisites/{prereq.id}/delete")
    assert_chinese_page(response, 409)
    assert len(project.prerequisites) == 1


def test_prerequisites_are_added_and_removed_on_the_project_page(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    response = client.post(
        f"/projects/{project.id}/prerequisites",
        data={
            "kind": "environmental",
            "doc_number": "盐环审〔2026〕7号",
            "issued_on": "2026-01-05",
        },
    )
    assert response.status_code == 302
    shown = page(client.get(response.headers["Location"]))
    row = next(r for r in shown.rows("prerequisite-list") if "环评" in r)
    assert "盐环审〔2026〕7号" in row and "长期有效" in row
    prereq = project.prerequisites[-1]
    response = client.post(f"/projects/{project.id}/prerequisites/{prereq.id}/delete")
    assert response.status_code == 302
    assert "环评" not in " ".join(
        page(client.get(f"/projects/{project.id}")).rows("prerequisite-list")
    )


# --- a declaration from start to finish -------------------------------------------------------


def test_start_a_declaration_from_the_project_page(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    shown = page(client.get(f"/projects/{project.id}"))
    assert world.program.title in shown.by_id("declarations").text
    response = client.post(
        f"/projects/{project.id}/declarations", data={"program_id": world.program.id}
    )
    decl = db.session.scalar(select(Declaration).where(Declaration.project_id == project.id))
    assert response.headers["Location"] == f"/declarations/{decl.id}/edit"
    form = assert_chinese_page(client.get(response.headers["Location"]))
    assert "申报草稿已创建,请填写申报信息" in form.alerts()
    assert decl.stage == "draft"
    # The program now has a declaration of this project: it is no longer offered.
    again = page(client.get(f"/projects/{project.id}"))
    assert again.value("program_id") is None
    assert "没有可申报的开放批次" in again.text


def test_starting_without_a_program_says_so(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    response = client.post(f"/projects/{project.id}/declarations", data={"program_id": "9999"})
    assert response.status_code == 302
    assert "请选择一个开放中的申报批次" in page(client.get(response.headers["Location"])).alerts()


def test_fill_the_declaration_form(world, login, make_project):
    project = make_project(world.yandu)
    client = login(world.staff)
    client.post(f"/projects/{project.id}/declarations", data={"program_id": world.program.id})
    decl = project.declarations[0]
    before = page(client.get(f"/declarations/{decl.id}"))
    missing = before.by_id("completeness").text
    assert "请填写申请资金" in missing and "请填写「项目建设必要性」" in missing
    assert "缺少附件「申报书」" in missing

    form = page(client.get(f"/declarations/{decl.id}/edit"))
    response = client.post(
        f"/declarations/{decl.id}/edit",
        data={
            "requested_amount": "450",
            "f_necessity": "填补全市数据要素流通空白",
            "version": form.value("version"),
        },
    )
    assert response.status_code == 302
    detail = assert_chinese_page(client.get(response.headers["Location"]))
    assert "申报已保存为草稿" in detail.alerts()
    assert facts(detail)["申请资金"] == "450.00 万元(占总投资 45.0%)"
    assert "填补全市数据要素流通空白" in detail.text
    assert "请填写申请资金" not in detail.by_id("completeness").text


def post_action(client, decl, action, comment="", version=None, **extra):
    return client.post(
        f"/declarations/{decl.id}/actions",
        data={
            "action": action,
            "comment": comment,
            "version": str(decl.version if version is None else version),
            **extra,
        },
    )


def test_submit_review_return_resubmit_and_recommend(world, login, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    staff = login(world.staff)
    shown = page(staff.get(f"/declarations/{decl.id}"))
    assert [b.text for b in shown.by_id("actions").find_all("button")] == ["提交", "撤回"]
    response = post_action(staff, decl, "submit")
    assert response.status_code == 302
    assert "已提交:申报现为「待区县初审」" in page(staff.get(response.headers["Location"])).alerts()

    reviewer = login(world.reviewer)
    actions = page(reviewer.get(f"/declarations/{decl.id}")).by_id("actions")
    buttons = [b.text for b in actions.find_all("button")]
    assert buttons == ["通过", "退回修改"]
    assert actions.find("small", class_="hint").text == "退回修改时必填"
    response = post_action(reviewer, decl, "return_for_revision", "请补充可研批复扫描件")
    assert response.status_code == 302
    db.session.refresh(decl)
    assert decl.stage == "returned"

    staff = login(world.staff)
    assert post_action(staff, decl, "resubmit").status_code == 302
    reviewer = login(world.reviewer)
    assert post_action(reviewer, decl, "approve", "同意上报").status_code == 302
    city = login(world.city)
    assert post_action(city, decl, "approve").status_code == 302
    db.session.refresh(decl)
    assert decl.stage == "recommended"

    detail = assert_chinese_page(city.get(f"/declarations/{decl.id}"))
    history = detail.by_id("history").text
    for step in (
        "提交:草稿 → 待区县初审",
        "退回修改:待区县初审 → 退回修改",
        "请补充可研批复扫描件",
        "重新提交:退回修改 → 待区县初审",
        "通过:待区县初审 → 待市级复审",
        "通过:待市级复审 → 已推荐上报",
    ):
        assert step in history, step
    opinions = detail.rows("opinion-list")
    assert any("退回修改" in r and "请补充可研批复扫描件" in r and world.reviewer.display_name in r
               for r in opinions)  # fmt: skip
    assert any("同意上报" in r for r in opinions)

    project = page(city.get(f"/projects/{decl.project_id}"))
    assert "进入申报:储备 → 申报中" in project.by_id("history").text
    assert facts(project)["成熟度"] == "申报中"


@pytest.mark.parametrize("action", ["return_for_revision", "reject"])
def test_a_missing_comment_is_refused_with_the_reason(
    world, login, make_project, make_declaration, action
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer)
    client = login(world.city)
    before = snapshot()
    response = post_action(client, decl, action, comment="  \u3000 ")
    shown = assert_chinese_page(response, 422)
    assert "请填写意见(退回、不予推荐、未获批时必填)" in shown.by_id("page-error").text
    assert shown.value("version") == str(decl.version)
    assert snapshot() == before


def test_a_refused_approval_record_keeps_what_was_typed(
    world, login, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer)
    act(decl, "approve", world.city)
    client = login(world.manager)
    response = post_action(
        client,
        decl,
        "record_approval",
        comment="国家发展改革委已批复",
        approval_doc_number="发改投资〔2026〕88号",
        approved_amount="280",
        approved_on="",
    )
    shown = assert_chinese_page(response, 422)
    assert "请填写批复文号、下达金额和批复日期" in shown.by_id("page-error").text
    assert shown.value("approval_doc_number") == "发改投资〔2026〕88号"
    assert shown.value("approved_amount") == "280"
    assert shown.value("comment") == "国家发展改革委已批复"

    response = post_action(
        client, decl, "record_approval", approval_doc_number="发改投资〔2026〕88号",
        approved_amount="两百八十", approved_on="2026-06-30",
    )  # fmt: skip
    shown = assert_chinese_page(response, 422)
    assert "请输入数字金额(单位:万元)" in shown.by_id("page-error").text
    assert shown.value("approved_amount") == "两百八十"

    response = post_action(
        client, decl, "record_approval", approval_doc_number="发改投资〔2026〕88号",
        approved_amount="280", approved_on="2026-06-30",
    )  # fmt: skip
    assert response.status_code == 302
    detail = facts(page(client.get(f"/declarations/{decl.id}")))
    assert detail["批复文号"] == "发改投资〔2026〕88号"
    assert detail["下达金额"] == "280.00 万元(2026-06-30)"


def test_a_stale_version_is_a_409_with_a_chinese_message(
    world, login, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    client = login(world.reviewer)
    seen = decl.version
    other = factories.user("district_reviewer", world.yandu)
    act(decl, "return_for_revision", other, "先到先得")
    response = post_action(client, decl, "approve", comment="我的意见", version=seen)
    shown = assert_chinese_page(response, 409)
    assert "已被他人修改" in shown.by_id("page-error").text
    assert f"第 {seen} 版" in shown.by_id("page-error").text
    assert shown.value("comment") == "我的意见"
    db.session.refresh(decl)
    assert decl.stage == "returned"


def test_submitting_an_incomplete_declaration_lists_what_is_missing(
    world, login, make_project, make_declaration
):
    project = make_project(world.yandu, contact_mobile="")
    decl = make_declaration(project, world.program, by=world.staff, requested_amount=None)
    client = login(world.staff)
    shown = assert_chinese_page(post_action(client, decl, "submit"), 422)
    error = shown.by_id("page-error").text
    assert "无法执行「提交」" in error
    assert "请填写申请资金" in error and "项目缺少「联系电话」" in error


def test_a_role_that_may_not_act_gets_403(world, login, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.reviewer)
    shown = assert_chinese_page(post_action(client, decl, "submit"), 403)
    assert "只能由区县填报员执行" in shown.text


def test_an_action_that_does_not_fit_the_stage_is_a_conflict(
    world, login, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    client = login(world.staff)
    shown = assert_chinese_page(post_action(client, decl, "resubmit"), 409)
    assert "当前阶段「草稿」不能执行「重新提交」" in shown.text


def test_a_declaration_in_review_is_not_editable(world, login, make_project, make_declaration):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    act(decl, "submit", world.staff)
    client = login(world.staff)
    response = client.get(f"/declarations/{decl.id}/edit")
    assert response.status_code == 302
    assert "不能修改" in " ".join(page(client.get(response.headers["Location"])).alerts())


# --- programs ---------------------------------------------------------------------------------

PROGRAM = {
    "title": "2026年省级数字经济专项",
    "level": "provincial",
    "issuer": "江苏省数据局",
    "channel": "provincial_fund",
    "year": "2026",
    "batch": "第二批",
    "support_areas": "数据要素应用场景",
    "notice": "请各区县于截止日前报送",
    "opens_on": "2026-03-01",
    "district_deadline": "2026-03-20",
    "city_deadline": "2026-03-31",
    "upstream_deadline": "",
    "min_request": "100",
    "max_request": "5,000",
    "max_ratio_percent": "30",
    "required_attachments": ["application"],
    "required_prerequisites": ["feasibility_approval", "environmental"],
    "workflow_name": "joint_signoff",
    "status": "open",
}


@pytest.mark.parametrize("role", ["city", "admin"])
def test_the_city_creates_and_edits_programs(world, login, role):
    client = login(getattr(world, role))
    assert_chinese_page(client.get("/programs/new"))
    response = client.post("/programs/new", data=PROGRAM)
    assert response.status_code == 302
    program = db.session.scalar(
        select(FundingProgram).where(FundingProgram.title == PROGRAM["title"])
    )
    assert program.max_ratio == Decimal("0.3") and program.form_fields

    detail = assert_chinese_page(client.get(response.headers["Location"]))
    shown = facts(detail)
    assert shown["申请资金"] == "100.00 – 5,000.00 万元"
    assert shown["占总投资比例上限"] == "30.0%"
    assert shown["必备前期要件"] == "可研批复、环评"
    assert shown["上报截止"] == "—"
    assert PROGRAM["title"] in page(client.get("/programs")).by_id("programs").text

    edit = page(client.get(f"/programs/{program.id}/edit"))
    assert edit.value("max_ratio_percent") == "30.00"
    assert edit.checked("required_prerequisites") == ["feasibility_approval", "environmental"]
    response = client.post(
        f"/programs/{program.id}/edit",
        data={**PROGRAM, "max_ratio_percent": "40", "version": edit.value("version")},
    )
    assert response.status_code == 302
    db.session.refresh(program)
    assert program.max_ratio == Decimal("0.4")


@pytest.mark.parametrize("role", ["staff", "reviewer", "manager", "expert"])
def test_other_roles_may_not_create_programs(world, login, role):
    client = login(getattr(world, role))
    for response in (client.get("/programs/new"), client.post("/programs/new", data=PROGRAM)):
        shown = assert_chinese_page(response, 403)
        assert "只有市级审核员和系统管理员可以维护申报批次" in shown.text
    assert (
        db.session.scalar(select(FundingProgram).where(FundingProgram.title == PROGRAM["title"]))
        is None
    )
    assert "新建批次" not in page(client.get("/programs")).text


def test_the_program_page_counts_declarations_in_the_users_scope(world, login, stages):
    city = page(login(world.city).get(f"/programs/{world.program.id}"))
    counts = city.by_id("by-stage").text
    assert "待区县初审 2" in counts
    tinghu = page(login(world.other_staff).get(f"/programs/{world.program.id}"))
    assert "待区县初审 1" in tinghu.by_id("by-stage").text


def test_a_closed_program_is_named_as_what_blocks_the_submission(
    world, login, make_project, make_declaration
):
    decl = make_declaration(make_project(world.yandu), world.program, by=world.staff)
    world.program.status = "closed"
    db.session.commit()
    shown = assert_chinese_page(login(world.staff).get(f"/declarations/{decl.id}"))
    checks = shown.by_id("completeness").text
    assert f"申报批次「{world.program.title}」当前已截止,不接受提交" in checks
    assert "材料已齐全" not in checks
    button = next(b for b in shown.by_id("actions").find_all("button") if b.text == "提交")
    assert "disabled" in button.attrs
    # A reviewer reading the draft sees the content checklist, without buttons of the applicant.
    reviewer = page(login(world.reviewer).get(f"/declarations/{decl.id}"))
    assert "材料已齐全,可以提交。" in reviewer.by_id("completeness").text
    assert reviewer.by_id("actions") is None


def test_a_broad_search_shows_a_capped_total_and_asks_to_narrow_it(
    world, login, make_project, monkeypatch
):
    monkeypatch.setattr(library_module, "SEARCH_COUNT_CAP", 3)
    for n in range(5):
        make_project(world.yandu, name=f"智慧城市平台{n}")
    make_project(world.yandu, name="另一个项目")
    client = login(world.city)
    shown = page(client.get("/projects", query_string={"q": "平台"}))
    assert "共 3+ 条" in shown.text
    assert "超过 3 条" in shown.text and "请增加筛选条件" in shown.text
    assert len(shown.rows("projects")) == 5  # the page itself is not cut, only the count
    # Without a search term the total stays exact.
    plain = page(client.get("/projects"))
    assert "共 6 条" in plain.text and "请增加筛选条件" not in plain.text
    # A narrow search below the cap gets its exact total.
    narrow = page(client.get("/projects", query_string={"q": "平台4"}))
    assert "共 1 条" in narrow.text and "+" not in narrow.text.split("共 1")[1][:3]


def test_library_pages_past_the_end_are_empty_not_errors(world, login, make_project):
    make_project(world.yandu, name="唯一的项目")
    client = login(world.city)
    shown = page(client.get("/projects", query_string={"page": 9}))
    assert "没有符合条件的项目" in shown.text
    assert page(client.get("/projects", query_string={"page": "x"})).rows("projects")


def test_a_nul_character_typed_into_a_form_is_dropped_not_a_server_error(world, login):
    """PostgreSQL stores no NUL in text; a pasted one must not turn a save into a 500."""
    client = login(world.staff)
    response = client.post(
        "/projects/new",
        data={
            "name": "含空字符\x00的项目",
            "category": "digital_economy",
            "content": "建设\x00内容",
        },
    )
    assert response.status_code == 302, response.text
    project = db.session.scalars(select(Project).where(Project.name == "含空字符的项目")).one()
    assert project.content == "建设内容"
