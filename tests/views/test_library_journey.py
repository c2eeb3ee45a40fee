"""The project library's year, through the pages only: a call, the reserve, matching, re-declaring.

The city runs a collection call and the districts answer it; a project not funded this year
rests in the reserve with a three-year plan; a newly opened program is matched against the
reserve; a project is re-declared from it with its diff — all in the audit log and in Excel.
"""

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from tests import factories
from tests.factories import act
from tests.views.html import page
from workflow.audit import events_of
from workflow.extensions import db
from workflow.models import CallProposal, CollectionCall, Declaration, ReserveAdjustment
from workflow.operations import local_today


def sheet_text(response) -> str:
    """Every cell of the first sheet of a downloaded workbook, as one string."""
    assert response.status_code == 200
    rows = load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    return " ".join(str(v) for row in rows for v in row if v is not None)


def test_a_year_of_the_library_through_the_pages(world, login):
    today, year = local_today(), local_today().year

    # The city publishes a call for next year's reserve to both districts.
    city = login(world.city)
    response = city.post(
        "/calls/new",
        data={
            "title": "关于征集数据领域储备项目的通知",
            "purpose": "reserve",
            "program_id": "",
            "year": str(year + 1),
            "districts": [str(world.yandu.id), str(world.tinghu.id)],
            "deadline": (today + timedelta(days=20)).isoformat(),
            "remind_working_days": "3",
            "notice": "请各区县按时报送储备项目。",
        },
    )
    assert response.status_code == 302
    call = db.session.scalars(select(CollectionCall)).one()

    # 盐都区 answers with a newly planned project; 亭湖区 does not answer.
    planned = factories.project(world.yandu, name="盐都区智慧养老服务平台", maturity="planning")
    staff = login(world.staff)
    assert "征集通知" in page(staff.get("/inbox")).by_id("messages").text
    staff.post(
        f"/calls/{call.id}/proposals", data={"project_id": str(planned.id), "note": "可研已批复"}
    )
    proposal = db.session.scalars(select(CallProposal)).one()
    staff.post(f"/proposals/{proposal.id}/propose", data={"version": str(proposal.version)})
    db.session.refresh(proposal)
    board = page(login(world.city).get(f"/calls/{call.id}"))
    assert "亭湖区" in board.by_id("not-answered").text
    response = login(world.city).post(
        f"/proposals/{proposal.id}/accept",
        data={"comment": "同意纳入储备", "version": str(proposal.version)},
    )
    assert response.status_code == 302, page(response).text
    db.session.expire_all()
    assert planned.maturity == "reserve" and planned.reserve_entry.declare_year == year + 1

    # A project declared this year and not funded goes back to the reserve; its district asks
    # for it to be planned for next year, and the city approves.
    unfunded = factories.project(world.yandu, name="盐都区数据要素流通平台", maturity="reserve")
    first = factories.declaration(unfunded, world.program, by=world.staff)
    for trigger, who in (
        ("submit", world.staff),
        ("approve", world.reviewer),
        ("approve", world.city),
        ("record_rejection", world.manager),
    ):
        act(first, trigger, who, comment="本批次未获上级支持")
    db.session.expire_all()
    assert unfunded.maturity == "reserve"
    staff = login(world.staff)
    response = staff.post(
        f"/reserve/projects/{unfunded.id}/adjust",
        data={
            "kind": "admit",
            "declare_year": str(year + 1),
            "start_year": str(year + 1),
            "planned_amount": "300",
            "priority": "1",
            "reason_code": "not_funded",
            "reason": "本年度未获支持,完善后明年再报",
        },
    )
    assert response.status_code == 302, page(response).text
    adjustment = db.session.scalars(select(ReserveAdjustment)).all()[-1]
    response = login(world.city).post(
        f"/reserve/adjustments/{adjustment.id}/decide",
        data={"decision": "approve", "version": str(adjustment.version), "comment": "同意"},
    )
    assert response.status_code == 302
    plan = page(login(world.city).get("/reserve"))
    next_year = plan.by_id(f"plan-{year + 1}").text
    assert "盐都区智慧养老服务平台" in next_year and "盐都区数据要素流通平台" in next_year

    # A new program opens; the city matches it against the reserve and invites the district.
    program = factories.program(title="新开放的数字经济批次", support_areas="数字经济")
    city = login(world.city)
    matches = page(city.get(f"/programs/{program.id}/matches"))
    row = matches.by_id(f"match-{unfunded.id}")
    assert row is not None and "申请资金" in row.text
    response = city.post(
        f"/programs/{program.id}/invitations",
        data={"project_ids": [str(unfunded.id)], "message": "请抓紧申报"},
    )
    assert response.status_code == 302

    # The district re-declares it from the reserve and sees what changed against last time.
    staff = login(world.staff)
    assert "新开放的数字经济批次" in page(staff.get("/inbox")).by_id("invitations").text
    response = staff.post(
        f"/reserve/projects/{unfunded.id}/redeclare", data={"program_id": str(program.id)}
    )
    assert response.status_code == 302
    again = db.session.scalars(
        select(Declaration).where(Declaration.program_id == program.id)
    ).one()
    assert again.previous_id == first.id and again.requested_amount == first.requested_amount
    staff.post(
        f"/declarations/{again.id}/edit",
        data={"requested_amount": "280", "version": str(again.version)},
    )
    diff = page(staff.get(f"/declarations/{again.id}")).by_id("redeclare-diff").text
    assert "新开放的数字经济批次" in diff and "280.00" in diff

    # All of it is in the audit log ...
    assert {e.action for e in events_of("call", call.id)} >= {"create"}
    assert [e.action for e in events_of("call_proposal", proposal.id)] == [
        "create",
        "propose",
        "accept",
    ]
    assert [e.action for e in events_of("reserve_adjustment", adjustment.id)] == [
        "request",
        "approve",
    ]
    assert "从储备库申报" in " ".join(e.comment or "" for e in events_of("declaration", again.id))

    # ... and in Excel: the library and the reserve plan.
    city = login(world.city)
    library = sheet_text(city.get("/projects/export.xlsx"))
    assert "盐都区智慧养老服务平台" in library and "盐都区数据要素流通平台" in library
    reserve_plan = sheet_text(city.get("/reserve/plan.xlsx"))
    assert "盐都区智慧养老服务平台" in reserve_plan
    assert f"盐都区数据要素流通平台 盐都区 数字经济 1000 300 {year + 1}年" in reserve_plan
