"""The audit log: one row per transition, column-level changes, and nobody can rewrite history."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from tests.workflow.conftest import (
    COMMENT,
    EXPERT_STAGES,
    PATHS,
    approval,
    audit_count,
    audit_rows,
)
from workflow import operations
from workflow.errors import NotPermitted
from workflow.extensions import db
from workflow.models import AuditEvent

# Every stage that takes at least one transition to reach.
FULL_PATHS = [stage for stage in PATHS if PATHS[stage]]


@pytest.mark.parametrize("stage", FULL_PATHS)
def test_every_transition_writes_one_audit_row(cast, stage):
    """Who moved it, from where to where, with what comment, and the version before."""
    program = cast.expert_program if stage in EXPERT_STAGES else cast.world.program
    decl = cast.declaration(program=program)
    start = len(audit_rows(decl.id))
    steps, versions = [], [decl.version]
    for trigger, role in PATHS[stage]:
        source = decl.stage
        actor = cast.actor(role)
        comment = f"{actor.display_name}的意见"
        operations.act_on_declaration(
            decl,
            trigger,
            actor=actor,
            comment=f"  {comment} ",
            expected_version=decl.version,
            approval=approval() if trigger == "record_approval" else None,
        )
        db.session.commit()
        steps.append((trigger, source, decl.stage, actor.id, comment, versions[-1]))
        versions.append(decl.version)
    assert decl.stage == stage
    rows = audit_rows(decl.id)[start:]
    assert [
        (r.action, r.before["stage"], r.after["stage"], r.actor_id, r.comment, r.before["version"])
        for r in rows
    ] == steps
    assert versions == sorted(set(versions)), "the version only grows"
    for row in rows:
        assert row.at.tzinfo is not None and row.at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - row.at) < timedelta(minutes=1)


def test_a_refused_action_leaves_no_audit_row(cast):
    decl = cast.declaration_in("district_review")
    before = audit_count()
    with pytest.raises(NotPermitted):
        operations.act_on_declaration(
            decl, "approve", actor=cast.actor("city_reviewer"), expected_version=decl.version
        )
    db.session.rollback()
    assert audit_count() == before


def test_creation_and_uploads_are_logged(cast):
    decl = cast.declaration()
    actions = [(r.action, r.actor_id) for r in audit_rows(decl.id)]
    staff = cast.actor("district_staff").id
    assert actions == [("create", staff), ("upload", staff)]
    upload = audit_rows(decl.id)[1]
    assert upload.after["kind"] == "application"
    assert len(upload.after["sha256"]) == 64


@pytest.fixture
def logged(cast):
    """A committed audit row to attack."""
    decl = cast.declaration_in("district_review")
    return audit_rows(decl.id)[-1]


def test_orm_cannot_change_an_audit_row(logged):
    original = logged.comment
    logged.comment = "篡改"
    with pytest.raises(RuntimeError, match="审计记录只能追加,不能修改"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, logged.id).comment == original == COMMENT


def test_orm_cannot_delete_an_audit_row(logged):
    db.session.delete(logged)
    with pytest.raises(RuntimeError, match="审计记录只能追加,不能删除"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, logged.id) is not None


TAMPERING = [
    ("sql-update", lambda id_: text(f"UPDATE audit_events SET comment = 'x' WHERE id = {id_}")),
    ("sql-delete", lambda id_: text(f"DELETE FROM audit_events WHERE id = {id_}")),
    ("sql-delete-all", lambda id_: text("DELETE FROM audit_events")),
    # ORM bulk statements skip the mapper's events; the database still says no.
    ("bulk-update", lambda id_: update(AuditEvent).where(AuditEvent.id == id_).values(action="x")),
    ("bulk-delete", lambda id_: delete(AuditEvent).where(AuditEvent.id == id_)),
]


@pytest.mark.parametrize("statement", [t[1] for t in TAMPERING], ids=[t[0] for t in TAMPERING])
def test_database_refuses_to_rewrite_the_audit_log(logged, statement):
    """The migration's triggers guard the table on SQLite and PostgreSQL alike."""
    before = audit_count()
    snapshot = (logged.id, logged.action, logged.comment)
    with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(statement(logged.id))
        conn.commit()
    db.session.expire_all()
    assert audit_count() == before
    row = db.session.get(AuditEvent, logged.id)
    assert (row.id, row.action, row.comment) == snapshot


def test_postgresql_refuses_to_truncate_the_audit_log(logged):
    """Row triggers never see TRUNCATE; a statement trigger does."""
    if db.engine.dialect.name != "postgresql":
        return  # SQLite has no TRUNCATE statement at all
    before = audit_count()
    db.session.commit()  # release the session's read lock, which TRUNCATE would wait for
    with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("TRUNCATE audit_events CASCADE"))
        conn.commit()
    assert audit_count() == before


def test_database_accepts_new_audit_rows(app):
    """Append-only, not read-only."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, object_type, object_id, action) "
                "VALUES (:at, 'program', 1, 'create')"
            ),
            {"at": datetime.now(UTC)},
        )
    assert audit_count("program") == 1


def test_update_project_records_column_level_changes(cast):
    project = cast.project()
    staff = cast.actor("district_staff")
    operations.update_project(
        project,
        {
            "name": "盐都区城市数据底座项目",
            "total_investment": Decimal("1200.00"),
            "fund_self": Decimal("700.00"),
            "planned_end": date(2028, 6, 1),
            "contact_mobile": project.contact_mobile,  # unchanged: not logged
            "is_key": True,
        },
        actor=staff,
        expected_version=project.version,
    )
    db.session.commit()
    row = audit_rows(project.id, "project")[-1]
    assert (row.action, row.actor_id) == ("update", staff.id)
    assert row.before == {
        "name": row.before["name"],
        "total_investment": "1000.00",
        "fund_self": "500.00",
        "planned_end": "2027-12-01",
        "is_key": False,
    }
    assert row.before["name"].startswith("测试项目")
    assert row.after == {
        "name": "盐都区城市数据底座项目",
        "total_investment": "1200.00",
        "fund_self": "700.00",
        "planned_end": "2028-06-01",
        "is_key": True,
    }


def test_saving_an_unchanged_project_logs_nothing(cast):
    project = cast.project()
    before, version = audit_count("project", project.id), project.version
    operations.update_project(
        project,
        {"name": project.name, "total_investment": project.total_investment},
        actor=cast.actor("district_staff"),
        expected_version=project.version,
    )
    db.session.commit()
    assert audit_count("project", project.id) == before
    assert project.version == version


def test_update_declaration_records_column_level_changes(cast):
    decl = cast.declaration()
    operations.update_declaration(
        decl,
        {"requested_amount": Decimal("320.00"), "form_data": {"necessity": "补充后的必要性"}},
        actor=cast.actor("district_staff"),
        expected_version=decl.version,
    )
    db.session.commit()
    row = audit_rows(decl.id)[-1]
    assert row.action == "update"
    assert row.before == {"requested_amount": "300.00", "form_data": {"necessity": "已填写"}}
    assert row.after == {"requested_amount": "320.00", "form_data": {"necessity": "补充后的必要性"}}


def test_maturity_changes_are_logged_on_the_project(cast):
    decl = cast.declaration()
    cast.act(decl, "submit", "district_staff", comment="")
    row = audit_rows(decl.project.id, "project")[-1]
    assert (row.action, row.before, row.after, row.actor_id) == (
        "start_declaring",
        {"maturity": "reserve"},
        {"maturity": "declaring"},
        cast.actor("district_staff").id,
    )
    assert row.comment == f"申报 #{decl.id} 待区县初审"


def test_submit_without_comment_stores_no_comment(cast):
    decl = cast.declaration()
    cast.act(decl, "submit", "district_staff", comment="")
    assert audit_rows(decl.id)[-1].comment is None
    cast.act(decl, "approve", "district_reviewer", comment=COMMENT)
    assert audit_rows(decl.id)[-1].comment == COMMENT
