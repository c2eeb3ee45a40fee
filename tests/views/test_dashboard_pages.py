"""The dashboard page: the fixture's numbers in tiles and tables, per role, with inline charts."""

import pytest

from tests.views.html import page
from tests.views.test_pages import assert_chinese_page
from tests.workflow.test_dashboard import AS_OF, build_city

URL = f"/dashboard?on={AS_OF.isoformat()}"


@pytest.fixture
def city(world):
    return build_city(world)


def _rows(shown, table_id: str) -> list[list[str]]:
    table = shown.by_id(table_id)
    return [
        [cell.text for cell in row.find_all() if cell.tag in ("td", "th")]
        for row in table.find_all("tr")
    ]


def _tile(shown, key: str) -> str:
    """A KPI tile as 「name value note」."""
    tile = shown.by_id(f"kpi-{key}")
    return " ".join(
        part.text for part in tile.find_all() if part.tag in ("span", "strong", "small")
    )


def test_the_city_reads_every_number_at_a_glance(city, login):
    shown = assert_chinese_page(login(city.world.manager).get(URL))
    assert shown.h1 == "数据看板 · 全市(截至 2026-06-30)"
    assert _tile(shown, "declarations") == "申报总数 5 项"
    assert _tile(shown, "funded") == "获批项目 2 项"
    assert _tile(shown, "issued") == "下达资金 480.00 万元"
    assert _tile(shown, "started") == "开工率 50.0% 1 / 2 项"
    assert _tile(shown, "invested") == "投资完成率 10.0% 200.00 / 2,000.00 万元"
    assert _tile(shown, "funds_in") == "资金到位率 12.5% 250.00 / 2,000.00 万元"
    assert _tile(shown, "on_time") == "按期竣工率 — 0 / 0 项"
    assert shown.by_id("kpi-funds_in").attrs["title"] == "资金到位率 = 250.00 / 2,000.00 万元"
    assert _tile(shown, "overdue") == "逾期未报 1 期调度报告"
    assert _tile(shown, "warnings") == "未销号预警 1 整改中 1 项"

    assert _rows(shown, "stages-table")[1:] == [
        ["草稿", "1"],
        ["待区县初审", "1"],
        ["已获批", "2"],
        ["已撤回", "1"],
        ["合计", "5"],
    ]
    assert _rows(shown, "districts-table")[1:] == [
        ["亭湖区", "0", "0", "0", "1", "0", "1", "2"],
        ["盐都区", "1", "1", "0", "1", "0", "0", "3"],
    ]
    assert _rows(shown, "money-table")[1:] == [
        ["中央预算内投资", "1", "300.00", "280.00", "250.00", "120.00"],
        ["超长期特别国债", "1", "300.00", "200.00", "0.00", "0.00"],
        ["合计", "2", "600.00", "480.00", "250.00", "120.00"],
    ]
    trend = _rows(shown, "rates-table")
    assert len(trend) == 13
    assert trend[8] == ["2026-02-28", "0", "—", "—", "—", "—"]
    assert trend[9] == ["2026-03-31", "1", "0.0%", "10.0%", "10.0%", "—"]
    assert trend[12] == ["2026-06-30", "2", "50.0%", "10.0%", "12.5%", "—"]
    assert _rows(shown, "alerts-table")[1:] == [
        ["亭湖区", "1", "1", "0", "1", "1"],
        ["盐都区", "0", "0", "0", "0", "0"],
    ]
    (_, overdue) = _rows(shown, "overdue-table")
    assert overdue == [city.funded_tinghu.project.name, "亭湖区", "2026年05月", "2026-06-05"]


def test_the_charts_are_inline_svg_without_scripts(city, login):
    response = login(city.world.city).get(URL)
    shown = page(response)
    charts = shown.root.find_all("svg")
    assert len(charts) == 5
    labels = [svg.attrs.get("aria-label") for svg in charts]
    assert labels == [
        "各阶段申报数量",
        "各区县申报数量",
        "各资金渠道资金情况(万元)",
        "四率变化趋势(近12个月)",
        "逾期未报与未销号预警",
    ]
    # The only script on the page is the app's own file, loaded after the content.
    assert [s.attrs.get("src") for s in shown.root.find_all("script")] == ["/static/js/app.js"]
    assert "http://" not in response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_city_may_look_at_one_district(city, login):
    client = login(city.world.admin)
    shown = assert_chinese_page(client.get(f"{URL}&district={city.world.tinghu.id}"))
    assert shown.h1 == "数据看板 · 亭湖区(截至 2026-06-30)"
    assert _tile(shown, "declarations") == "申报总数 2 项"
    assert _tile(shown, "issued") == "下达资金 200.00 万元"
    assert shown.by_id("districts-table") is None
    assert "盐都区" not in shown.by_id("kpis").text + shown.by_id("alerts-table").text
    # An unknown district shows the whole city again.
    shown = page(client.get(f"{URL}&district=99999"))
    assert _tile(shown, "declarations") == "申报总数 5 项"


@pytest.mark.parametrize("who", ["staff", "reviewer"])
def test_a_district_user_sees_their_district_only(city, login, who):
    world = city.world
    # Asking for the other district changes nothing: a district user's scope is their own.
    response = login(getattr(world, who)).get(f"{URL}&district={world.tinghu.id}")
    shown = assert_chinese_page(response)
    assert shown.h1 == "数据看板 · 盐都区(截至 2026-06-30)"
    assert shown.by_id("dashboard-district") is None
    assert _tile(shown, "declarations") == "申报总数 3 项"
    assert _tile(shown, "funded") == "获批项目 1 项"
    assert _tile(shown, "issued") == "下达资金 280.00 万元"
    assert _tile(shown, "overdue") == "逾期未报 0 期调度报告"
    assert _rows(shown, "money-table")[1:] == [
        ["中央预算内投资", "1", "300.00", "280.00", "250.00", "120.00"],
        ["合计", "1", "300.00", "280.00", "250.00", "120.00"],
    ]
    assert "亭湖区" not in response.text
    assert city.funded_tinghu.project.name not in response.text
    assert "超长期特别国债" not in response.text
    assert len(shown.root.find_all("svg")) == 4  # no comparison of districts


def test_the_other_district_sees_its_overdue_report(city, login):
    response = login(city.world.other_staff).get(URL)
    shown = page(response)
    assert _tile(shown, "overdue") == "逾期未报 1 期调度报告"
    assert _rows(shown, "alerts-table")[1:] == [["亭湖区", "1", "1", "0", "1", "1"]]
    assert "盐都区" not in response.text
    assert city.funded_yandu.project.name not in response.text


def test_experts_get_404_and_no_link(city, login):
    client = login(city.world.expert)
    assert client.get("/dashboard").status_code == 404
    nav = page(client.get("/inbox")).root.find("nav")
    assert "数据看板" not in nav.text


@pytest.mark.parametrize("who", ["staff", "reviewer", "city", "manager", "admin"])
def test_everyone_else_has_the_link_in_the_nav(world, login, who):
    nav = page(login(getattr(world, who)).get("/inbox")).root.find("nav")
    link = next(a for a in nav.find_all("a") if a.text == "数据看板")
    assert link.attrs["href"] == "/dashboard"


def test_an_unreadable_date_is_explained_and_today_used(world, login):
    shown = assert_chinese_page(login(world.manager).get("/dashboard?on=2026-02-30"))
    assert "格式不正确" in shown.by_id("page-error").text
    assert "暂无数据" in shown.html  # an empty city: notes instead of charts
