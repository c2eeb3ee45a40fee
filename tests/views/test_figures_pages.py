"""The 四率 page and the project funnel page: who sees what."""

from datetime import date
from decimal import Decimal

from tests import factories
from tests.views.html import page
from tests.workflow.conftest import COMMENT, approval
from workflow.extensions import db
from workflow.models import TrackingReport


def funded(world, district, staff, reviewer, *, received):
    """A funded declaration of a fresh project with one accepted report."""
    project = factories.project(district)
    decl = factories.declaration(project, world.program, by=staff)
    factories.act(decl, "submit", staff, COMMENT)
    factories.act(decl, "approve", reviewer, COMMENT)
    factories.act(decl, "approve", world.city, COMMENT)
    factories.act(
        decl,
        "record_approval",
        world.manager,
        COMMENT,
        approval=approval(amount=Decimal(280), approved_on=date(2026, 1, 15)),
    )
    db.session.add(
        TrackingReport(
            declaration=decl,
            period=date(2026, 3, 1),
            status="accepted",
            investment_completed=Decimal(100),
            received_central=received,
            payment_cumulative=Decimal(50),
            reviewed_by=world.manager,
        )
    )
    db.session.commit()
    return project


def test_the_city_sees_every_district_and_the_nav_link(world, login):
    funded(world, world.yandu, world.staff, world.reviewer, received=Decimal(250))
    funded(world, world.tinghu, world.other_staff, world.other_reviewer, received=Decimal(100))
    shown = page(login(world.city).get("/figures?by=district&on=2026-06-30"))
    rows = [r.text for r in shown.root.find_all("tr", class_="figures-row")]
    assert len(rows) == 2
    assert any("盐都区" in r and "25.0%" in r for r in rows)  # 资金到位率 250 / 1000
    assert any("亭湖区" in r and "10.0%" in r for r in rows)
    assert any("四率统计" in a.text for a in shown.root.find_all("a"))


def test_a_district_user_sees_one_row_of_their_own(world, login):
    funded(world, world.yandu, world.staff, world.reviewer, received=Decimal(250))
    funded(world, world.tinghu, world.other_staff, world.other_reviewer, received=Decimal(100))
    shown = page(login(world.other_staff).get("/figures?by=district&on=2026-06-30"))
    rows = [r.text for r in shown.root.find_all("tr", class_="figures-row")]
    assert len(rows) == 1 and "亭湖区" in rows[0]
    assert not any("四率统计" in a.text for a in shown.root.find_all("a"))


def test_experts_do_not_see_the_figures(world, login):
    assert login(world.expert).get("/figures").status_code == 404


def test_an_unreadable_date_is_explained_and_today_used(world, login):
    response = login(world.manager).get("/figures?by=channel&on=2026-13-45")
    assert response.status_code == 200
    assert "格式不正确" in page(response).text


def test_the_funnel_page_shows_figures_checks_and_history(world, login):
    project = funded(world, world.yandu, world.staff, world.reviewer, received=Decimal(300))
    client = login(world.staff)
    detail = page(client.get(f"/projects/{project.id}"))
    assert detail.by_id("funnel-link") is not None
    shown = page(client.get(f"/projects/{project.id}/funnel?on=2026-06-30"))
    assert "280.00" in shown.by_id("funnel-issued").text
    assert "300.00" in shown.by_id("funnel-received").text
    assert "到位资金 ≤ 下达资金:不符合" in shown.by_id("funnel-checks").text
    assert "发改投资〔2026〕18号" in shown.by_id("funnel-history").text


def test_another_districts_funnel_is_not_found(world, login):
    project = funded(world, world.yandu, world.staff, world.reviewer, received=Decimal(300))
    assert login(world.other_staff).get(f"/projects/{project.id}/funnel").status_code == 404
    assert login(world.manager).get(f"/projects/{project.id}/funnel").status_code == 200
