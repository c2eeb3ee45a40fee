"""The matching page, invitations from it, and what districts see of them and of expiring
前期要件 (inbox cards, project page)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.views.html import page
from workflow.extensions import db
from workflow.models import Prerequisite, ProgramInvitation, ReserveEntry
from workflow.operations import local_today


def reserve_project(district, *, amount="300", priority=2, **overrides):
    project = factories.project(district, **overrides)
    year = local_today().year
    db.session.add(
        ReserveEntry(
            project=project,
            declare_year=year,
            start_year=year,
            planned_amount=Decimal(amount),
            priority=priority,
        )
    )
    db.session.commit()
    return project


def invitations() -> int:
    return db.session.scalar(select(func.count()).select_from(ProgramInvitation))


@pytest.fixture
def reserve(world):
    """A fitting 盐都区 project, a 亭湖区 one over the limit, and one project not in the reserve."""
    return {
        "fits": reserve_project(world.yandu, name="盐都区数据要素流通平台", priority=1),
        "too_much": reserve_project(world.tinghu, name="亭湖区算力中心", amount="1500"),
        "planning": factories.project(world.yandu, name="谋划中的项目", maturity="planning"),
    }


def test_the_city_sees_ranked_projects_with_reasons(world, login, reserve):
    client = login(world.city)
    detail = page(client.get(f"/programs/{world.program.id}"))
    assert f"/programs/{world.program.id}/matches" in detail.links()
    response = client.get(f"/programs/{world.program.id}/matches")
    assert response.status_code == 200
    shown = page(response)
    assert shown.h1 == f"储备项目匹配:{world.program.title}"
    assert "储备库共 2 个项目,其中符合全部硬性条件 1 个" in shown.by_id("match-summary").text
    rows = shown.rows("matches")
    assert len(rows) == 2
    assert "盐都区数据要素流通平台" in rows[0] and "符合" in rows[0]
    assert "✓ 支持领域:所属领域「数字经济」符合支持方向「数字经济」" in rows[0]
    assert "· 储备优先级:「高」" in rows[0]
    assert "亭湖区算力中心" in rows[1] and "不符合" in rows[1]
    assert "✗ 申请金额:申请资金 1,500 万元超过上限 1,000 万元" in rows[1]
    assert "谋划中的项目" not in shown.text
    assert shown.rows("matches")[0].startswith("1 ")  # the checkbox cell is empty text


def test_only_fitting_and_one_district(world, login, reserve):
    client = login(world.city)
    only_fit = page(client.get(f"/programs/{world.program.id}/matches?fit=1"))
    assert only_fit.checked("fit") == ["1"]
    assert [r.split(" ")[1] for r in only_fit.rows("matches")] == ["盐都区数据要素流通平台"]
    tinghu = page(client.get(f"/programs/{world.program.id}/matches?district={world.tinghu.id}"))
    assert len(tinghu.rows("matches")) == 1 and "亭湖区算力中心" in tinghu.rows("matches")[0]
    nothing = page(
        client.get(f"/programs/{world.program.id}/matches?fit=1&district={world.tinghu.id}")
    )
    assert nothing.rows("matches") == ["没有符合条件的储备项目"]


def test_a_long_list_is_paged(world, login):
    for _ in range(51):
        reserve_project(world.yandu)
    client = login(world.city)
    first = page(client.get(f"/programs/{world.program.id}/matches"))
    assert len(first.rows("matches")) == 50
    assert "第 1 / 2 页,共 51 个项目" in first.text
    next_link = next(link for link in first.links() if "page=2" in link)
    second = page(client.get(next_link))
    assert len(second.rows("matches")) == 1
    assert second.rows("matches")[0].split(" ")[0] == "51"


@pytest.mark.parametrize("role", ["staff", "reviewer", "expert", "admin"])
def test_only_the_city_reviewer_and_the_manager_see_matches(world, login, reserve, role):
    client = login(getattr(world, role))
    detail = page(client.get(f"/programs/{world.program.id}"))
    assert f"/programs/{world.program.id}/matches" not in detail.links()
    response = client.get(f"/programs/{world.program.id}/matches")
    assert response.status_code == 403
    assert "只有市级审核员和管理人员可以查看储备项目匹配" in page(response).text
    response = client.post(
        f"/programs/{world.program.id}/invitations",
        data={"project_ids": str(reserve["fits"].id)},
    )
    assert response.status_code == 403
    assert invitations() == 0


def test_the_manager_reads_but_does_not_invite(world, login, reserve):
    client = login(world.manager)
    shown = page(client.get(f"/programs/{world.program.id}/matches"))
    assert len(shown.rows("matches")) == 2
    assert shown.root.find_all("input", name="project_ids") == []
    assert shown.by_id("invite") is None
    response = client.post(
        f"/programs/{world.program.id}/invitations",
        data={"project_ids": str(reserve["fits"].id)},
    )
    assert response.status_code == 403
    assert "只有市级审核员可以邀请区县申报" in page(response).text
    assert invitations() == 0


def test_the_city_invites_and_the_district_sees_it(world, login, reserve):
    project = reserve["fits"]
    client = login(world.city)
    response = client.post(
        f"/programs/{world.program.id}/invitations",
        data={"project_ids": [str(project.id)], "message": "请于截止前申报", "fit": "1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/programs/{world.program.id}/matches?fit=1"
    shown = page(client.get(response.headers["Location"]))
    assert "已邀请 1 个项目,已通知盐都区的区县填报员" in shown.alerts()
    row = shown.by_id(f"match-{project.id}")
    assert "已邀请" in row.text
    assert row.find("input", name="project_ids") is None  # cannot be ticked again
    assert invitations() == 1

    staff = login(world.staff)
    inbox = page(staff.get("/inbox"))
    assert "申报邀请:盐都区数据要素流通平台" in inbox.by_id("messages").text
    card = inbox.by_id("invitations")
    assert card is not None and "申报邀请" in card.text
    assert "盐都区数据要素流通平台" in card.text and "请于截止前申报" in card.text
    project_page = page(staff.get(f"/projects/{project.id}"))
    assert world.program.title in project_page.by_id("invitations").text
    assert "请于截止前申报" in project_page.by_id("invitations").text

    other = login(world.other_staff)
    assert page(other.get("/inbox")).by_id("invitations") is None

    # Once declared, the invitation has been answered and leaves the inbox.
    factories.declaration(project, world.program, by=world.staff)
    staff = login(world.staff)
    assert page(staff.get("/inbox")).by_id("invitations") is None
    assert page(staff.get(f"/projects/{project.id}")).by_id("invitations") is None


def test_inviting_twice_says_why_nothing_happened(world, login, reserve):
    project = reserve["fits"]
    client = login(world.city)
    url = f"/programs/{world.program.id}/invitations"
    client.post(url, data={"project_ids": [str(project.id)]})
    response = client.post(url, data={"project_ids": [str(project.id)]})
    assert response.status_code == 302
    assert (
        "「盐都区数据要素流通平台」未邀请:已邀请过" in page(client.get(response.location)).alerts()
    )
    assert invitations() == 1


def test_nothing_ticked_keeps_the_note(world, login, reserve):
    client = login(world.city)
    response = client.post(
        f"/programs/{world.program.id}/invitations", data={"message": "请尽快申报"}
    )
    assert response.status_code == 422
    shown = page(response)
    assert "请至少勾选一个项目" in shown.by_id("page-error").text
    assert shown.value("message") == "请尽快申报"
    assert len(shown.rows("matches")) == 2
    assert invitations() == 0


def test_a_bad_id_is_refused_and_ticks_are_kept(world, login, reserve):
    client = login(world.city)
    response = client.post(
        f"/programs/{world.program.id}/invitations",
        data={"project_ids": [str(reserve["fits"].id), "x"], "message": "说明"},
    )
    assert response.status_code == 422
    assert "所选项目无效" in page(response).by_id("page-error").text
    assert invitations() == 0


def test_a_closed_program_shows_why_and_refuses(world, login, reserve):
    program = factories.program(status="closed", title="已截止的批次")
    client = login(world.city)
    shown = page(client.get(f"/programs/{program.id}/matches"))
    assert "当前已截止,不能邀请申报" in shown.by_id("invite-closed").text
    assert shown.root.find_all("input", name="project_ids") == []
    response = client.post(
        f"/programs/{program.id}/invitations",
        data={"project_ids": [str(reserve["fits"].id)], "message": "保留的说明"},
    )
    assert response.status_code == 409
    assert "当前已截止,不能邀请申报" in page(response).by_id("page-error").text
    assert invitations() == 0


def test_a_missing_program_is_404(world, login):
    client = login(world.city)
    assert client.get("/programs/9999/matches").status_code == 404
    assert client.post("/programs/9999/invitations", data={"project_ids": "1"}).status_code == 404


# --- the maturity score on the project page, and expiring 前期要件 in the inbox ----------------


def test_the_project_page_explains_the_maturity_score(world, login):
    project = factories.project(world.yandu)  # a 可研批复 valid until 2030
    db.session.add(
        Prerequisite(
            project=project,
            kind="environmental",
            doc_number="盐环审〔2020〕1号",
            issued_on=date(2020, 1, 1),
            valid_until=date(2021, 1, 1),
        )
    )
    db.session.commit()
    shown = page(login(world.staff).get(f"/projects/{project.id}"))
    assert "成熟度评分 35 分" in shown.by_id("maturity-score").text
    assert shown.rows("maturity-score-parts") == [
        "可研批复 35 有效 35",
        "用地预审/选址意见 20 缺少 0",
        "规划许可 20 缺少 0",
        "环评 15 已过期(有效期至 2021-01-01) 0",
        "能评 10 缺少 0",
    ]


def test_expiring_prerequisites_in_the_inbox(world, login):
    mine = factories.project(world.yandu, name="盐都区即将到期项目")
    theirs = factories.project(world.tinghu, name="亭湖区即将到期项目")
    mine.prerequisites[0].valid_until = local_today() + timedelta(days=5)
    theirs.prerequisites[0].valid_until = local_today()
    db.session.commit()
    staff_card = page(login(world.staff).get("/inbox")).by_id("expiring-prerequisites")
    assert "要件即将到期" in staff_card.text and "30 天内到期" in staff_card.text
    rows = page(login(world.staff).get("/inbox")).rows("expiring-list")
    assert len(rows) == 1 and "盐都区即将到期项目" in rows[0] and "5 天" in rows[0]
    city_rows = page(login(world.city).get("/inbox")).rows("expiring-list")
    assert [r.split(" ")[0] for r in city_rows] == ["亭湖区即将到期项目", "盐都区即将到期项目"]
    assert "今天到期" in city_rows[0]
    assert page(login(world.expert).get("/inbox")).by_id("expiring-prerequisites") is None
