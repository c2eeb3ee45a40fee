"""Optimistic locking: a stale version is refused, and of two simultaneous writers exactly one wins.

The races are real: two threads, each in its own app context (so its own session and database
connection), read the same version, meet at a barrier, and then write. The loser must get a
``Conflict`` with the Chinese message — never a 500 (``OperationalError``), never a silent
overwrite — on SQLite (a WAL file with busy_timeout) and PostgreSQL alike.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import COMMENT, audit_rows, stored_stage_and_version
from workflow import operations
from workflow.errors import STALE_MESSAGE, Conflict
from workflow.extensions import db
from workflow.models import Declaration, Dossier, FundingProgram, Project, User

STALE_START = "该记录已被他人修改"
# How long writer 0 keeps its transaction open after its write: 0 lets both writes meet head-on;
# with a pause, whenever writer 0 wins the other one has to wait on its lock first.
HOLDS = pytest.mark.parametrize("hold", [0.0, 0.3], ids=["head-on", "winner-holds-lock"])


def race(app, writers: list[Callable[[], Callable[[], object]]], hold: float) -> list[object]:
    """Run each writer in its own thread and app context; the results, or the exceptions raised.

    A writer reads what it needs and returns the write to perform; every thread reads before any
    thread writes.
    """
    barrier = threading.Barrier(len(writers))

    def run(index: int, prepare):
        with app.app_context():
            try:
                write = prepare()
                barrier.wait(timeout=10)
                result = write()
                db.session.flush()
                if hold and index == 0:
                    time.sleep(hold)
                db.session.commit()
                return result
            except Exception as exc:  # the test inspects what each thread got
                db.session.rollback()
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        futures = [pool.submit(run, i, prepare) for i, prepare in enumerate(writers)]
        return [f.result(timeout=60) for f in futures]


def one_winner(results: list[object]) -> int:
    """The winner's index; the other must have been told of the conflict in Chinese."""
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(losers) == 1, results
    loser = losers[0]
    assert type(loser) is Conflict, repr(loser)
    assert loser.status == 409
    assert loser.message.startswith(STALE_START), loser.message
    return next(i for i, r in enumerate(results) if not isinstance(r, Exception))


def _acting(decl_id: int, user_id: int, trigger: str, version: int):
    def prepare():
        decl = db.session.get(Declaration, decl_id)
        actor = db.session.get(User, user_id)
        assert decl.version == version
        return lambda: operations.act_on_declaration(
            decl, trigger, actor=actor, comment=COMMENT, expected_version=version
        )

    return prepare


RACES = [
    # stage, (trigger, role) of each reviewer
    (
        "district_review",
        ("approve", "district_reviewer"),
        ("return_for_revision", "district_reviewer"),
    ),
    ("city_review", ("approve", "city_reviewer"), ("reject", "city_reviewer")),
    ("city_review", ("approve", "city_reviewer"), ("approve", "city_reviewer")),
]
DESTINATION = {
    ("district_review", "approve"): "city_review",
    ("district_review", "return_for_revision"): "returned",
    ("city_review", "approve"): "recommended",
    ("city_review", "reject"): "not_recommended",
}


@HOLDS
@pytest.mark.parametrize(("stage", "first", "second"), RACES)
def test_two_reviewers_acting_at_once(app, cast, stage, first, second, hold):
    """Both saw the same version; one action happens, the other reviewer gets a conflict."""
    decl = cast.declaration_in(stage)
    district = cast.world.yandu if first[1] == "district_reviewer" else None
    reviewers = [cast.actor(first[1]), factories.user(second[1], district)]
    version, events = decl.version, len(audit_rows(decl.id))
    actions = [first[0], second[0]]
    results = race(
        app,
        [_acting(decl.id, r.id, t, version) for r, t in zip(reviewers, actions, strict=True)],
        hold,
    )
    winner = one_winner(results)
    db.session.expire_all()
    dest = DESTINATION[stage, actions[winner]]
    assert stored_stage_and_version(decl.id) == (dest, version + 1)
    new = audit_rows(decl.id)[events:]
    assert [(e.action, e.actor_id, e.after["stage"]) for e in new] == [
        (actions[winner], reviewers[winner].id, dest)
    ]
    opinions = db.session.get(Declaration, decl.id).opinions
    assert [(o.reviewer_id, o.action) for o in opinions if o.stage == stage] == [
        (reviewers[winner].id, actions[winner])
    ]


@HOLDS
def test_two_edits_of_a_project_at_once(app, cast, hold):
    """Two staff save the same version of a project: one save stands, the other is refused."""
    project = cast.project()
    staff = [cast.actor("district_staff"), factories.user("district_staff", cast.world.yandu)]
    names = ["甲:城市数据底座", "乙:城市数据底座(修订)"]
    version, events = project.version, len(audit_rows(project.id, "project"))

    def editing(user_id: int, name: str):
        def prepare():
            row = db.session.get(Project, project.id)
            actor = db.session.get(User, user_id)
            return lambda: operations.update_project(
                row, {"name": name}, actor=actor, expected_version=version
            )

        return prepare

    results = race(app, [editing(u.id, n) for u, n in zip(staff, names, strict=True)], hold)
    winner = one_winner(results)
    db.session.expire_all()
    saved = db.session.get(Project, project.id)
    assert (saved.name, saved.version) == (names[winner], version + 1)
    new = audit_rows(project.id, "project")[events:]
    assert [(e.action, e.actor_id, e.after) for e in new] == [
        ("update", staff[winner].id, {"name": names[winner]})
    ]


@HOLDS
def test_two_edits_of_a_declaration_at_once(app, cast, hold):
    decl = cast.declaration()
    staff = [cast.actor("district_staff"), factories.user("district_staff", cast.world.yandu)]
    amounts = [Decimal("120.00"), Decimal("450.00")]
    version, events = decl.version, len(audit_rows(decl.id))

    def editing(user_id: int, amount: Decimal):
        def prepare():
            row = db.session.get(Declaration, decl.id)
            actor = db.session.get(User, user_id)
            return lambda: operations.update_declaration(
                row, {"requested_amount": amount}, actor=actor, expected_version=version
            )

        return prepare

    results = race(app, [editing(u.id, a) for u, a in zip(staff, amounts, strict=True)], hold)
    winner = one_winner(results)
    db.session.expire_all()
    saved = db.session.get(Declaration, decl.id)
    assert (saved.requested_amount, saved.version) == (amounts[winner], version + 1)
    new = audit_rows(decl.id)[events:]
    assert [(e.action, e.actor_id, e.after) for e in new] == [
        ("update", staff[winner].id, {"requested_amount": str(amounts[winner])})
    ]


@HOLDS
def test_two_uploads_at_once(app, cast, hold):
    """An upload changes the declaration's version; the loser keeps no row and no stray file."""
    decl = cast.declaration()
    staff = [cast.actor("district_staff"), factories.user("district_staff", cast.world.yandu)]
    uploads = Path(current_app.config["DATA_DIR"]) / "uploads"
    files_before = {p.name for p in uploads.iterdir()}

    def uploading(user_id: int, name: str):
        def prepare():
            row = db.session.get(Declaration, decl.id)
            actor = db.session.get(User, user_id)
            return lambda: (
                operations.add_attachment(
                    row, kind="other", filename=name, content=factories.pdf_bytes(), actor=actor
                ).stored_name
            )

        return prepare

    results = race(app, [uploading(staff[0].id, "甲.pdf"), uploading(staff[1].id, "乙.pdf")], hold)
    winner = one_winner(results)
    db.session.expire_all()
    names = [a.original_name for a in db.session.get(Declaration, decl.id).attachments]
    assert names == ["application.pdf", ["甲.pdf", "乙.pdf"][winner]]
    assert {p.name for p in uploads.iterdir()} - files_before == {results[winner]}


@HOLDS
def test_two_declarations_of_one_project_to_one_program_at_once(app, cast, hold):
    """Both pass the application's duplicate check; the partial unique index lets one through."""
    project = cast.project()
    staff = [cast.actor("district_staff"), factories.user("district_staff", cast.world.yandu)]

    def declaring(user_id: int):
        def prepare():
            row = db.session.get(Project, project.id)
            program = db.session.get(FundingProgram, cast.world.program.id)
            actor = db.session.get(User, user_id)
            return lambda: operations.create_declaration(row, program, {}, actor=actor).id

        return prepare

    results = race(app, [declaring(staff[0].id), declaring(staff[1].id)], hold)
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(losers) == 1, results
    # Which check catches the loser depends on timing; either way it is a 409 in Chinese.
    assert type(losers[0]) is Conflict
    assert "申报到本批次" in losers[0].message or "已申报本批次" in losers[0].message
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Declaration)) == 1


def test_two_dossier_requests_at_once_share_one_dossier(app, cast):
    decl = cast.declaration_in("city_review")
    manager = cast.actor("manager")

    def asking():
        row = db.session.get(Declaration, decl.id)
        actor = db.session.get(User, manager.id)

        def write():
            dossier, queued = operations.request_dossier(row, actor=actor)
            return dossier.id, queued

        return write

    results = race(app, [asking, asking], 0.3)
    assert not any(isinstance(r, Exception) for r in results), results
    assert {r[0] for r in results} == {db.session.scalar(select(Dossier.id))}
    assert sorted(r[1] for r in results) == [False, True], "exactly one job is queued"
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1


# --- a stale version, without threads -------------------------------------------------------


def test_acting_on_a_stale_version_is_refused(cast):
    decl = cast.declaration_in("district_review")
    version, events = decl.version, len(audit_rows(decl.id))
    with pytest.raises(Conflict) as refused:
        operations.act_on_declaration(
            decl,
            "approve",
            actor=cast.actor("district_reviewer"),
            comment=COMMENT,
            expected_version=version - 1,
        )
    assert refused.value.message == STALE_MESSAGE.format(seen=version - 1, current=version)
    assert refused.value.status == 409
    db.session.rollback()
    assert stored_stage_and_version(decl.id) == ("district_review", version)
    assert len(audit_rows(decl.id)) == events


def test_editing_a_stale_project_is_refused(cast):
    project = cast.project()
    version = project.version
    with pytest.raises(Conflict) as refused:
        operations.update_project(
            project,
            {"name": "过时的修改"},
            actor=cast.actor("district_staff"),
            expected_version=version + 3,
        )
    assert refused.value.message == STALE_MESSAGE.format(seen=version + 3, current=version)
    db.session.rollback()
    assert project.name != "过时的修改"


def test_editing_a_stale_declaration_is_refused(cast):
    decl = cast.declaration()
    version = decl.version
    with pytest.raises(Conflict, match=STALE_START):
        operations.update_declaration(
            decl,
            {"requested_amount": Decimal("99")},
            actor=cast.actor("district_staff"),
            expected_version=version - 1,
        )
    db.session.rollback()
    assert (decl.requested_amount, decl.version) == (Decimal("300.00"), version)


def test_a_stale_object_in_the_session_is_caught_at_flush(app, cast):
    """Even without a version from the page, a row changed since it was read is not overwritten."""
    decl = cast.declaration_in("district_review")
    version = decl.version
    with app.app_context():  # another request moves it on meanwhile
        other = db.session.get(Declaration, decl.id)
        reviewer = db.session.get(User, cast.actor("district_reviewer").id)
        operations.act_on_declaration(
            other, "approve", actor=reviewer, comment=COMMENT, expected_version=version
        )
        db.session.commit()
    with pytest.raises(Conflict, match=STALE_START):
        operations.act_on_declaration(
            decl,
            "return_for_revision",
            actor=cast.actor("district_reviewer"),
            comment="退回",
            expected_version=None,
        )
    db.session.rollback()
    assert stored_stage_and_version(decl.id) == ("city_review", version + 1)


@contextmanager
def row_locked_elsewhere(decl_id: int):
    """Another connection holds the declaration's row (SQLite: the whole database) for writing."""
    with db.engine.connect() as other:
        if other.dialect.name == "sqlite":
            other.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            other.execute(select(Declaration.id).where(Declaration.id == decl_id).with_for_update())
        try:
            yield
        finally:
            other.rollback()


def wait_briefly_for_locks() -> None:
    """Make this session's connection give up on a lock after 0.2 s instead of 15 s."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA busy_timeout = 200")
    else:
        connection.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")


def test_a_lock_held_too_long_is_a_conflict_not_a_server_error(cast):
    """ "database is locked" / lock_not_available reach the user as 409 with a Chinese message."""
    decl = cast.declaration_in("district_review")
    version = decl.version
    wait_briefly_for_locks()
    with row_locked_elsewhere(decl.id), pytest.raises(Conflict) as refused:
        operations.act_on_declaration(
            decl,
            "approve",
            actor=cast.actor("district_reviewer"),
            comment=COMMENT,
            expected_version=version,
        )
    assert refused.value.message == operations.BUSY_MESSAGE
    assert refused.value.status == 409
    db.session.rollback()
    assert stored_stage_and_version(decl.id) == ("district_review", version)
