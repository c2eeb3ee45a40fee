"""Reserve pages: the three-year plan, adjustments with the city's decision, snapshots, Excel."""

import io
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from tests import factories
from tests.views.html import page
from workflow import reserve
from workflow.extensions import db
from workflow.models import Declaration, ReserveAdjustment, ReserveSnapshot
from workflow.operations import local_today


def admit(world, project, **overrides):
    year = local_today().year
    plan = {
        "declare_year": year,
        "start_year": year,
        "planned_amount": Decimal("300.00"),
        "priority": 1,
        "is_key": False,
    }
    plan.update(overrides)
    reserve.admit_to_reserve(project, plan, actor=world.city, reason_code="other", reason="入库")
    db.session.commit()


def test_the_plan_shows_three_years_sums_and_overdue_lines_in_the_users_district(world, login):
    year = local_today().year
    late = factories.project(world.yandu, name="逾期项目", maturity="planning")
    admit(world, late, declare_year=year - 1, start_year=year)
    nxt = factories.project(world.yandu, name="明年项目", maturity="planning")
    admit(world, nxt, declare_year=year + 1, planned_amount=Decimal("1234.50"))
    theirs = factories.project(world.tinghu, name="亭湖项目", maturity="planning")
    admit(world, theirs)

    shown = page(login(world.staff).get("/reserve"))
    this_col = shown.root.find(id=f"plan-{year}")
    assert "逾期项目" in this_col.text and f"{year - 1}年逾期未申报" in this_col.text
    assert "300.00" in this_col.text
    next_col = shown.root.find(id=f"plan-{year + 1}")
    assert "明年项目" in next_col.text and "1,234.50" in next_col.text
    assert "亭湖项目" not in shown.text
    assert "储备库" in shown.root.find("nav").text

    city = page(login(world.city).get("/reserve", query_string={"district": world.tinghu.id}))
    assert "亭湖项目" in city.text and "明年项目" not in city.text
    keyed = page(login(world.city).get("/reserve", query_string={"key": "1"}))
    assert "明年项目" not in keyed.text


def test_staff_request_a_change_and_the_city_approves_it(world, login):
    project = factories.project(world.yandu, name="调整项目", maturity="planning")
    admit(world, project)
    year = local_today().year
    client = login(world.staff)
    form = page(client.get(f"/reserve/projects/{project.id}/adjust?kind=change"))
    assert form.value("declare_year") == str(year)
    response = client.post(
        f"/reserve/projects/{project.id}/adjust",
        data={
            "kind": "change",
            "declare_year": str(year + 2),
            "start_year": str(year + 2),
            "planned_amount": "500",
            "priority": "2",
            "reason_code": "schedule_changed",
            "reason": "用地预审推迟",
        },
    )
    assert response.status_code == 302
    adj = db.session.scalars(
        select(ReserveAdjustment).where(ReserveAdjustment.status == "pending")
    ).one()
    shown = page(login(world.city).get(f"/reserve/adjustments/{adj.id}"))
    assert "用地预审推迟" in shown.text and f"{year}年" in shown.root.find(id="changes").text
    response = login(world.city).post(
        f"/reserve/adjustments/{adj.id}/decide",
        data={"decision": "approve", "version": str(adj.version), "comment": "同意"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert project.reserve_entry.declare_year == year + 2
    inbox = page(login(world.staff).get("/inbox"))
    assert "储备库调整申请已批准" in inbox.text


def test_a_bad_request_keeps_what_was_typed_and_says_why(world, login):
    project = factories.project(world.yandu, maturity="planning")
    client = login(world.staff)
    response = client.post(
        f"/reserve/projects/{project.id}/adjust",
        data={
            "kind": "admit",
            "declare_year": "20x7",
            "start_year": "1999",
            "planned_amount": "1.234",
            "priority": "1",
            "reason_code": "funded",
            "reason": "我写的理由",
        },
    )
    assert response.status_code == 422
    shown = page(response)
    assert "四位年份" in shown.text and "两位小数" in shown.text
    assert "调入的原因只能是" in shown.text
    assert shown.value("declare_year") == "20x7"
    assert "我写的理由" in shown.text
    assert db.session.scalars(select(ReserveAdjustment)).all() == []


def test_a_rejection_without_comment_is_refused_and_a_stale_approval_is_a_conflict(world, login):
    project = factories.project(world.yandu, maturity="planning")
    admit(world, project)
    adj = reserve.request_adjustment(
        project, "remove", None, actor=world.staff, reason_code="cancelled", reason="取消"
    )
    db.session.commit()
    client = login(world.city)
    url = f"/reserve/adjustments/{adj.id}/decide"
    response = client.post(url, data={"decision": "reject", "version": str(adj.version)})
    assert response.status_code == 422
    assert "审批意见" in " ".join(page(response).alerts())
    project.reserve_entry.priority = 3
    db.session.commit()
    response = client.post(url, data={"decision": "approve", "version": str(adj.version)})
    assert response.status_code == 409
    assert "已被修改" in " ".join(page(response).alerts())
    assert world.staff.role == "district_staff"
    response = login(world.staff).post(url, data={"decision": "approve", "version": "1"})
    assert response.status_code == 403


def test_snapshots_and_their_diff_page(world, login):
    client = login(world.city)
    assert client.post("/reserve/snapshots", data={"label": "2026年第一轮"}).status_code == 302
    project = factories.project(world.yandu, name="新入库项目", maturity="planning")
    admit(world, project)
    assert client.post("/reserve/snapshots", data={"label": "2026年第二轮"}).status_code == 302
    listing = page(client.get("/reserve/snapshots"))
    assert "2026年第一轮" in listing.text and "2026年第二轮" in listing.text
    assert client.post("/reserve/snapshots", data={"label": " "}).status_code == 422
    first, second = sorted(r.id for r in db.session.scalars(select(ReserveSnapshot)))
    response = client.get("/reserve/snapshots/compare", query_string={"old": first, "new": second})
    assert response.headers["Location"].endswith(f"/reserve/snapshots/{first}/diff/{second}")
    shown = page(client.get(f"/reserve/snapshots/{first}/diff/{second}"))
    added = shown.root.find(id="added")
    assert "新入库项目" in added.text and "入库" in added.text
    other = page(login(world.other_staff).get(f"/reserve/snapshots/{first}/diff/{second}"))
    assert "新入库项目" not in other.text
    assert login(world.staff).post("/reserve/snapshots", data={"label": "x"}).status_code == 403


def test_redeclare_from_the_reserve_shows_the_diff(world, login):
    project = factories.project(world.yandu, maturity="planning")
    admit(world, project)
    old = factories.declaration(
        project, world.program, by=world.staff, form_data={"necessity": "旧的必要性"}
    )
    new_program = factories.program(title="第二批次")
    client = login(world.staff)
    detail = page(client.get(f"/projects/{project.id}"))
    assert "从储备库申报" in detail.root.find(id="reserve").text
    response = client.post(
        f"/reserve/projects/{project.id}/redeclare", data={"program_id": str(new_program.id)}
    )
    assert response.status_code == 302
    decl = db.session.scalars(
        select(Declaration).where(Declaration.program_id == new_program.id)
    ).one()
    assert decl.previous_id == old.id
    client.post(
        f"/declarations/{decl.id}/edit",
        data={"requested_amount": "350", "f_necessity": "新的必要性", "version": str(decl.version)},
    )
    shown = page(client.get(f"/declarations/{decl.id}"))
    diff = shown.root.find(id="redeclare-diff").text
    assert "旧的必要性" in diff and "新的必要性" in diff and "第二批次" in diff
    form = page(client.get(f"/declarations/{decl.id}/edit"))
    assert form.root.find(id="redeclare-diff") is not None


def test_redeclaring_into_a_second_channel_asks_for_a_reason_first(world, login):
    project = factories.project(world.yandu, maturity="planning")
    admit(world, project)
    factories.declaration(project, world.program, by=world.staff)  # central budget, this year
    provincial = factories.program(title="省级专项", channel="provincial_fund")
    client = login(world.staff)
    target = f"/reserve/projects/{project.id}/redeclare"

    refused = client.post(target, data={"program_id": str(provincial.id)})
    assert refused.status_code == 409
    shown = page(refused)
    warnings = shown.root.find(id="redeclare-overlap-warnings").text
    assert world.program.title in warnings
    assert shown.value("program_id") == str(provincial.id)  # the choice is kept
    assert (
        db.session.scalar(select(Declaration).where(Declaration.program_id == provincial.id))
        is None
    )

    blank = page(client.post(target, data={"program_id": str(provincial.id), "overlap_reason": ""}))
    assert "请填写继续的理由" in blank.text

    done = client.post(
        target,
        data={"program_id": str(provincial.id), "overlap_reason": "省级资金支持二期建设内容"},
    )
    assert done.status_code == 302
    decl = db.session.scalars(
        select(Declaration).where(Declaration.program_id == provincial.id)
    ).one()
    assert decl.overlap_reason == "省级资金支持二期建设内容"


def test_plan_export_is_the_users_district_and_neutralises_formulas(world, login):
    project = factories.project(world.yandu, name="=1+1 恶意项目", maturity="planning")
    admit(world, project, planned_amount=Decimal("120.50"))
    theirs = factories.project(world.tinghu, name="亭湖项目", maturity="planning")
    admit(world, theirs)
    response = login(world.staff).get("/reserve/plan.xlsx")
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.data)).active
    assert "盐都区" in ws["A1"].value
    names = [row[1].value for row in ws.iter_rows(min_row=4)]
    assert names == ["'=1+1 恶意项目", "共 1 个项目"]
    assert "亭湖项目" not in names


def test_experts_have_no_reserve(world, login):
    assert login(world.expert).get("/reserve").status_code == 404
