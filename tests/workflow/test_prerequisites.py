"""The maturity score from 前期要件, and warnings before a document expires."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from workflow import prerequisites, vocab
from workflow.extensions import db
from workflow.models import Notification, Prerequisite
from workflow.operations import local_today
from workflow.prerequisites import WEIGHTS, expiring, maturity_score, send_expiry_warnings

ON = date(2026, 6, 30)


def bare_project(district, **overrides):
    """A project without any 前期要件 (the factory gives it a 可研批复)."""
    project = factories.project(district, **overrides)
    project.prerequisites.clear()
    db.session.commit()
    return project


def add(project, kind: str, valid_until: date | None, number: str = "") -> Prerequisite:
    prereq = Prerequisite(
        project=project,
        kind=kind,
        doc_number=number or f"盐{kind}〔2025〕{len(project.prerequisites) + 1}号",
        issued_on=date(2025, 1, 1),
        valid_until=valid_until,
    )
    db.session.add(prereq)
    db.session.commit()
    return prereq


def parts(score) -> dict[str, tuple[str, int]]:
    return {p.kind: (p.status, p.points) for p in score.parts}


def test_the_weights_cover_every_kind_and_add_up_to_100():
    assert set(WEIGHTS) == set(vocab.PREREQUISITE_KINDS)
    assert sum(WEIGHTS.values()) == 100
    assert WEIGHTS["feasibility_approval"] == max(WEIGHTS.values())


def test_a_project_without_documents_scores_zero(world):
    project = bare_project(world.yandu)
    score = maturity_score(project, ON)
    assert score.total == 0
    assert [p.kind for p in score.parts] == list(WEIGHTS)
    assert all(p.status == "absent" and p.points == 0 for p in score.parts)
    assert score.level == "待完善"
    # Parts come heaviest first, each under its Chinese name.
    assert [p.label for p in score.missing] == [
        "可研批复",
        "用地预审/选址意见",
        "规划许可",
        "环评",
        "能评",
    ]


def test_present_absent_and_expired_documents(world):
    project = bare_project(world.yandu)
    add(project, "feasibility_approval", None)
    add(project, "land_site", date(2027, 1, 1))
    add(project, "environmental", date(2026, 1, 1))  # expired before ON
    score = maturity_score(project, ON)
    assert parts(score) == {
        "feasibility_approval": ("present", 35),
        "land_site": ("present", 20),
        "planning_permit": ("absent", 0),
        "environmental": ("expired", 0),
        "energy": ("absent", 0),
    }
    assert score.total == 55
    assert score.level == "较成熟"
    expired = next(p for p in score.parts if p.kind == "environmental")
    assert expired.status_label == "已过期" and expired.valid_until == date(2026, 1, 1)


def test_every_kind_valid_scores_100(world):
    project = bare_project(world.yandu)
    for kind in WEIGHTS:
        add(project, kind, date(2030, 1, 1))
    score = maturity_score(project, ON)
    assert score.total == 100
    assert score.level == "成熟"
    assert score.missing == []


@pytest.mark.parametrize(
    ("valid_until", "status"),
    [
        (ON, "present"),  # the expiry day itself is still valid
        (ON - timedelta(days=1), "expired"),
        (ON + timedelta(days=1), "present"),
        (None, "present"),  # no expiry
    ],
)
def test_the_expiry_day_is_included(world, valid_until, status):
    project = bare_project(world.yandu)
    add(project, "feasibility_approval", valid_until)
    score = maturity_score(project, ON)
    assert parts(score)["feasibility_approval"][0] == status
    assert score.total == (35 if status == "present" else 0)


def test_the_same_date_scores_differently_later(world):
    project = bare_project(world.yandu)
    add(project, "planning_permit", date(2026, 12, 31))
    assert maturity_score(project, date(2026, 12, 31)).total == 20
    assert maturity_score(project, date(2027, 1, 1)).total == 0


def test_a_renewed_document_counts_once(world):
    project = bare_project(world.yandu)
    add(project, "environmental", date(2025, 12, 31), "旧文号")
    add(project, "environmental", date(2028, 12, 31), "新文号")
    add(project, "environmental", date(2027, 12, 31), "中间文号")
    score = maturity_score(project, ON)
    assert score.total == 15
    part = next(p for p in score.parts if p.kind == "environmental")
    assert (part.status, part.doc_number, part.valid_until) == (
        "present",
        "新文号",
        date(2028, 12, 31),
    )


# --- expiring documents ----------------------------------------------------------------------


def today_plus(days: int) -> date:
    return local_today() + timedelta(days=days)


def test_expiring_takes_documents_within_the_window_inclusive(world):
    project = bare_project(world.yandu)
    inside = [
        add(project, "feasibility_approval", today_plus(0)),
        add(project, "land_site", today_plus(30)),
        add(project, "environmental", today_plus(12)),
    ]
    add(project, "planning_permit", today_plus(31))  # beyond the window
    add(project, "energy", today_plus(-1))  # already expired: not "about to"
    other = bare_project(world.yandu)
    add(other, "feasibility_approval", None)  # never expires
    found = expiring(local_today(), 30)
    assert [p.id for p in found] == [inside[0].id, inside[2].id, inside[1].id]  # soonest first


def test_a_renewed_document_is_not_warned_about(world):
    project = bare_project(world.yandu)
    add(project, "environmental", today_plus(5))
    add(project, "environmental", today_plus(400))
    assert expiring(local_today(), 30) == []
    unlimited = bare_project(world.yandu)
    add(unlimited, "land_site", today_plus(5))
    add(unlimited, "land_site", None)
    assert expiring(local_today(), 30) == []


@pytest.mark.parametrize(
    ("maturity", "warned"),
    [
        ("planning", True),
        ("reserve", True),
        ("declaring", True),
        ("funded", True),
        ("under_construction", False),
        ("completed", False),
        ("accepted", False),
        ("removed", False),
    ],
)
def test_only_projects_not_yet_built_are_watched(world, maturity, warned):
    project = bare_project(world.yandu, maturity=maturity)
    add(project, "feasibility_approval", today_plus(3))
    assert bool(expiring(local_today(), 30)) is warned


def test_expiring_is_scoped_to_what_the_user_sees(world):
    mine = bare_project(world.yandu)
    theirs = bare_project(world.tinghu)
    mine_doc = add(mine, "feasibility_approval", today_plus(3))
    their_doc = add(theirs, "feasibility_approval", today_plus(4))
    today = local_today()
    assert [p.id for p in expiring(today, 30, user=world.staff)] == [mine_doc.id]
    assert [p.id for p in expiring(today, 30, user=world.other_staff)] == [their_doc.id]
    assert [p.id for p in expiring(today, 30, user=world.city)] == [mine_doc.id, their_doc.id]
    assert expiring(today, 30, user=world.expert) == []
    assert [p.id for p in expiring(today, 30, user=world.city, limit=1)] == [mine_doc.id]


# --- warnings --------------------------------------------------------------------------------


def messages() -> list[Notification]:
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def test_warnings_go_once_to_the_owning_districts_staff(world):
    second_staff = factories.user("district_staff", world.yandu)
    factories.user("district_staff", world.yandu, active=False)
    project = bare_project(world.yandu, name="盐都区智慧停车平台")
    prereq = add(project, "environmental", today_plus(7), "盐环审〔2025〕9号")
    assert send_expiry_warnings(local_today()) == 2
    db.session.commit()
    sent = messages()
    assert {m.user_id for m in sent} == {world.staff.id, second_staff.id}
    first = sent[0]
    assert first.kind == "prerequisite_expiring"
    assert first.kind_label == "要件到期预警"
    assert first.title == "前期要件即将到期:盐都区智慧停车平台"
    assert "「环评」(文号 盐环审〔2025〕9号)" in first.body
    assert f"有效期至 {today_plus(7).isoformat()},还有 7 天到期" in first.body
    assert first.link == f"/projects/{project.id}#prerequisites"
    assert first.dedupe_key == f"prereq-{prereq.id}-{today_plus(7).isoformat()}"
    # The scheduler runs again the same day and the next: nobody is told twice.
    assert send_expiry_warnings(local_today()) == 0
    assert send_expiry_warnings(today_plus(1)) == 0
    db.session.commit()
    assert len(messages()) == 2


def test_a_new_expiry_date_is_warned_about_again(world):
    project = bare_project(world.yandu)
    prereq = add(project, "energy", today_plus(2))
    assert send_expiry_warnings(local_today()) == 1
    prereq.valid_until = today_plus(20)  # corrected date, still inside the window
    db.session.commit()
    assert send_expiry_warnings(local_today()) == 1
    db.session.commit()
    assert [m.dedupe_key for m in messages()] == [
        f"prereq-{prereq.id}-{today_plus(2).isoformat()}",
        f"prereq-{prereq.id}-{today_plus(20).isoformat()}",
    ]


def test_other_districts_and_other_roles_are_not_warned(world):
    project = bare_project(world.tinghu)
    add(project, "land_site", today_plus(0))
    assert send_expiry_warnings(local_today()) == 1
    db.session.commit()
    (only,) = messages()
    assert only.user_id == world.other_staff.id
    assert "今天到期" in only.body


def test_nothing_to_warn_about_sends_nothing(world):
    project = bare_project(world.yandu)
    add(project, "feasibility_approval", today_plus(31))
    assert send_expiry_warnings(local_today()) == 0
    assert messages() == []


def test_the_window_comes_from_the_configuration(app, world):
    assert prerequisites.warning_days() == 30  # the default
    app.config["PREREQUISITE_WARNING_DAYS"] = 10
    assert prerequisites.warning_days() == 10
    project = bare_project(world.yandu)
    add(project, "feasibility_approval", today_plus(10))
    add(project, "land_site", today_plus(11))
    assert send_expiry_warnings(local_today()) == 1
    db.session.commit()
    assert "用地预审/选址意见" not in messages()[0].body
