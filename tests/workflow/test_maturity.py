"""The project's maturity (成熟度): every maturity × trigger × role, reasons, audit, declarations.

``EXPECTED`` is typed out from DOMAIN.md's maturity chain and the README's recorded choices,
independently of ``maturity.TRANSITIONS``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from tests import factories
from tests.conftest import BACKENDS
from tests.workflow.conftest import audit_count, audit_rows, build_cast, has_chinese
from workflow import create_app, maturity, operations, vocab
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Project, User

STAFF_OR_CITY = frozenset({"district_staff", "city_reviewer"})
CITY = frozenset({"city_reviewer"})
REASON = "建设条件发生变化,项目取消"

# (maturity, trigger) -> (destination, roles that may fire it). Every other pair is refused.
EXPECTED: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("planning", "admit_to_reserve"): ("reserve", STAFF_OR_CITY),
    ("planning", "remove"): ("removed", STAFF_OR_CITY),
    ("reserve", "remove"): ("removed", STAFF_OR_CITY),
    ("funded", "start_construction"): ("under_construction", STAFF_OR_CITY),
    ("under_construction", "complete_construction"): ("completed", STAFF_OR_CITY),
    ("completed", "accept"): ("accepted", CITY),
    ("removed", "restore"): ("reserve", CITY),
}
# Fired only by the declaration workflow: no person may fire them, from any role.
SYSTEM_FROM = {
    ("planning", "start_declaring"),
    ("reserve", "start_declaring"),
    ("declaring", "fund"),
    ("declaring", "return_to_reserve"),
}

MATURITIES = list(vocab.MATURITIES)
TRIGGERS = list(vocab.MATURITY_ACTIONS)
ROLES = list(vocab.ROLES)


def expected_outcome(current: str, trigger: str, role: str) -> str | type[Exception]:
    """The destination maturity, or the error class the product answers with."""
    if (current, trigger) in SYSTEM_FROM:
        return NotPermitted
    if (current, trigger) not in EXPECTED:
        return Conflict
    dest, roles = EXPECTED[current, trigger]
    return dest if role in roles else NotPermitted


def change(project, trigger, actor, reason=REASON):
    """Change maturity as the page does: with the version the user saw."""
    return operations.change_maturity(
        project, trigger, actor=actor, reason=reason, expected_version=project.version
    )


def stored(project_id: int) -> tuple[str, int]:
    """The maturity and version the database holds, read past the identity map."""
    row = db.session.execute(
        select(Project.maturity, Project.version).where(Project.id == project_id)
    ).one()
    return row.maturity, row.version


def assert_refused(project, trigger, actor, error_class, reason=REASON):
    """Refused with the error class and a Chinese reason; nothing changes."""
    before = stored(project.id)
    audits = audit_count("project", project.id)
    with pytest.raises(error_class) as refused:
        change(project, trigger, actor, reason)
    error = refused.value
    assert type(error) is error_class
    assert error.status == {Conflict: 409, NotPermitted: 403, Invalid: 422}[error_class]
    assert has_chinese(error.message)
    assert error.reasons and all(has_chinese(r) for r in error.reasons)
    assert stored(project.id) == before
    assert (project.maturity, project.version) == before
    assert audit_count("project", project.id) == audits
    return error


# --- projects in every maturity, reached through the real workflows -------------------------


def _project_in(cast, target: str) -> Project:
    staff, city = cast.actor("district_staff"), cast.actor("city_reviewer")
    project = cast.project(maturity="planning")
    if target == "planning":
        return project
    change(project, "admit_to_reserve", staff, "")
    if target == "removed":
        change(project, "remove", staff)
    elif target != "reserve":
        decl = cast.declaration(project=project)
        cast.drive_to(decl, "approved" if target != "declaring" else "district_review")
        for trigger, reached in (
            ("start_construction", "under_construction"),
            ("complete_construction", "completed"),
            ("accept", "accepted"),
        ):
            if project.maturity == target:
                break
            change(project, trigger, city, "")
            assert project.maturity == reached
    db.session.commit()
    assert project.maturity == target
    return project


@dataclass
class Library:
    """Committed projects in every maturity; each case rolls its changes back."""

    app: Flask
    project_ids: dict[str, int]
    user_ids: dict[str, int]
    outsider_id: int

    @contextmanager
    def project_in(self, current: str) -> Iterator[Project]:
        with self.app.app_context():
            try:
                yield db.session.get(Project, self.project_ids[current])
            finally:
                db.session.rollback()

    def actor(self, role: str) -> User:
        return db.session.get(User, self.user_ids[role])

    def outsider(self) -> User:
        return db.session.get(User, self.outsider_id)


@pytest.fixture(scope="module", params=BACKENDS)
def library(request, own_database, tmp_path_factory, cheap_password_hashes) -> Iterator[Library]:
    """Projects in every maturity on a database of the module's own."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": own_database(request.param),
            "DATA_DIR": str(tmp_path_factory.mktemp("maturity-data")),
            "REDIS_URL": None,
            "EMBEDDED_WORKER": False,
        }
    )
    with app.app_context():
        cast = build_cast()
        ids = {m: _project_in(cast, m).id for m in MATURITIES}
        users = {role: user.id for role, user in cast.world.users().items()}
        outsider = cast.world.other_staff.id
    yield Library(app, ids, users, outsider)
    with app.app_context():
        db.engine.dispose()


# --- the whole table ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("current", MATURITIES)
def test_maturity_table(library, current, trigger, role):
    """Every maturity × trigger × role does exactly what the product says."""
    with library.project_in(current) as project:
        assert project.maturity == current
        outcome = expected_outcome(current, trigger, role)
        if isinstance(outcome, str):
            version = project.version
            change(project, trigger, library.actor(role))
            assert project.maturity == outcome
            assert stored(project.id) == (outcome, version + 1)
            row = audit_rows(project.id, "project")[-1]
            assert (row.action, row.before["maturity"], row.after["maturity"]) == (
                trigger,
                current,
                outcome,
            )
            assert row.actor_id == library.user_ids[role]
        else:
            assert_refused(project, trigger, library.actor(role), outcome)


def test_the_table_is_what_the_machine_runs():
    """Each user trigger and system row above is one row of the table, and no more."""
    rows = {(source, s.trigger) for s in maturity.TRANSITIONS for source in s.sources}
    assert rows == set(EXPECTED) | SYSTEM_FROM


@pytest.mark.parametrize(
    ("current", "trigger"),
    [(m, t) for (m, t), (_, roles) in EXPECTED.items() if "district_staff" in roles],
)
def test_staff_of_another_district_are_refused(library, current, trigger):
    with library.project_in(current) as project:
        error = assert_refused(project, trigger, library.outsider(), Invalid)
        assert error.reasons == ["只能处理本区县的项目"]


@pytest.mark.parametrize("current", ["planning", "reserve"])
@pytest.mark.parametrize("role", sorted(STAFF_OR_CITY))
@pytest.mark.parametrize("reason", ["", "   "])
def test_removing_needs_a_reason(library, current, role, reason):
    with library.project_in(current) as project:
        error = assert_refused(project, "remove", library.actor(role), Invalid, reason)
        assert error.reasons == ["请填写出库原因"]


def test_unknown_trigger_is_a_conflict(library):
    with library.project_in("reserve") as project:
        assert_refused(project, "teleport", library.actor("city_reviewer"), Conflict)


def test_system_triggers_say_the_declaration_workflow_fires_them(library):
    with library.project_in("declaring") as project:
        error = assert_refused(project, "fund", library.actor("city_reviewer"), NotPermitted)
        assert "申报流程自动执行" in error.message


def test_a_stale_version_is_a_conflict(library):
    with library.project_in("reserve") as project:
        seen = project.version - 1
        with pytest.raises(Conflict, match=f"第 {seen} 版"):
            operations.change_maturity(
                project,
                "remove",
                actor=library.actor("city_reviewer"),
                reason=REASON,
                expected_version=seen,
            )
        assert stored(project.id) == ("reserve", seen + 1)


# --- the reason, the audit rows, the versions ------------------------------------------------


def test_remove_keeps_the_reason_and_restore_clears_it(cast):
    project = cast.project()
    staff, city = cast.actor("district_staff"), cast.actor("city_reviewer")
    change(project, "remove", staff, f"  {REASON} ")
    db.session.commit()
    assert (project.maturity, project.removed_reason) == ("removed", REASON)
    removed = audit_rows(project.id, "project")[-1]
    assert (removed.action, removed.before, removed.after, removed.comment, removed.actor_id) == (
        "remove",
        {"maturity": "reserve"},
        {"maturity": "removed", "removed_reason": REASON},
        REASON,
        staff.id,
    )
    change(project, "restore", city, "")
    db.session.commit()
    assert (project.maturity, project.removed_reason) == ("reserve", None)
    restored = audit_rows(project.id, "project")[-1]
    assert (restored.action, restored.before, restored.after, restored.comment) == (
        "restore",
        {"maturity": "removed", "removed_reason": REASON},
        {"maturity": "reserve"},
        None,
    )
    assert restored.action_label == "恢复入库"


def test_a_project_with_a_draft_declaration_is_removed_only_after_withdrawing_it(cast):
    decl = cast.declaration()
    project, staff = decl.project, cast.actor("district_staff")
    assert project.maturity == "reserve"
    assert "remove" not in maturity.allowed_triggers(project, staff)
    with pytest.raises(Invalid) as refused:
        change(project, "remove", staff)
    assert "请先撤回该申报" in refused.value.message
    db.session.rollback()
    cast.act(decl, "withdraw", "district_staff")
    change(project, "remove", staff)
    db.session.commit()
    assert project.maturity == "removed"


def test_each_change_is_one_audit_row_and_one_new_version(cast):
    project = cast.project(maturity="planning")
    staff, city = cast.actor("district_staff"), cast.actor("city_reviewer")
    versions = [project.version]
    change(project, "admit_to_reserve", staff, "")
    db.session.commit()
    versions.append(project.version)
    cast.drive_to(cast.declaration(project=project), "approved")
    versions.append(project.version)
    for trigger in ("start_construction", "complete_construction", "accept"):
        change(project, trigger, city, "")
        db.session.commit()
        versions.append(project.version)
    assert versions == sorted(set(versions))
    assert project.maturity == "accepted"
    rows = [
        (r.action, r.before["maturity"], r.after["maturity"])
        for r in audit_rows(project.id, "project")
        if "maturity" in (r.before or {})
    ]
    assert rows == [
        ("admit_to_reserve", "planning", "reserve"),
        ("start_declaring", "reserve", "declaring"),
        ("fund", "declaring", "funded"),
        ("start_construction", "funded", "under_construction"),
        ("complete_construction", "under_construction", "completed"),
        ("accept", "completed", "accepted"),
    ]


# --- declaration outcomes move the maturity ---------------------------------------------------

# The declaration's stage, then the maturity triggers its project went through, in order.
OUTCOMES = [
    ("district_review", ["start_declaring"], "declaring"),
    ("recommended", ["start_declaring"], "declaring"),
    ("approved", ["start_declaring", "fund"], "funded"),
    ("not_approved", ["start_declaring", "return_to_reserve"], "reserve"),
    ("not_recommended", ["start_declaring", "return_to_reserve"], "reserve"),
    ("withdrawn", [], "reserve"),  # withdrawn as a draft: it never left the reserve
]


def maturity_actions(project_id: int) -> list[str]:
    return [
        r.action
        for r in audit_rows(project_id, "project")
        if r.action in vocab.MATURITY_ACTIONS and r.object_type == "project"
    ]


@pytest.mark.parametrize(("stage", "triggers", "final"), OUTCOMES)
def test_declaration_outcomes_fire_the_maturity_machine(cast, stage, triggers, final):
    decl = cast.declaration()
    cast.drive_to(decl, stage)
    assert decl.project.maturity == final
    assert maturity_actions(decl.project.id) == triggers
    rows = [r for r in audit_rows(decl.project.id, "project") if r.action in triggers]
    assert all(r.comment.startswith(f"申报 #{decl.id} ") for r in rows)


def test_withdrawing_a_returned_declaration_returns_the_project_to_reserve(cast):
    decl = cast.declaration_in("returned")
    cast.act(decl, "withdraw", "district_staff")
    assert decl.project.maturity == "reserve"
    assert maturity_actions(decl.project.id) == ["start_declaring", "return_to_reserve"]
    row = audit_rows(decl.project.id, "project")[-1]
    assert row.comment == f"申报 #{decl.id} 已撤回"
    assert row.actor_id == cast.actor("district_staff").id


def test_a_planned_project_goes_straight_to_declaring(cast):
    decl = cast.declaration(project=cast.project(maturity="planning"))
    cast.drive_to(decl, "district_review")
    assert decl.project.maturity == "declaring"
    assert audit_rows(decl.project.id, "project")[-1].before == {"maturity": "planning"}


@pytest.mark.parametrize("later", ["under_construction", "completed", "accepted"])
def test_another_approval_never_moves_a_project_back(cast, later):
    """A project already under construction stays there when a second declaration is approved."""
    project = cast.project()
    cast.drive_to(cast.declaration(project=project), "approved")
    for trigger in ("start_construction", "complete_construction", "accept"):
        if project.maturity == later:
            break
        change(project, trigger, cast.actor("city_reviewer"), "")
        db.session.commit()
    assert project.maturity == later
    moves = maturity_actions(project.id)
    cast.drive_to(cast.declaration(project=project, program=factories.program()), "approved")
    assert project.maturity == later
    assert maturity_actions(project.id) == moves


# --- the shared machine -----------------------------------------------------------------------


def test_one_shared_machine_registers_no_project(cast):
    projects = [cast.project(maturity="planning") for _ in range(3)]
    for project in projects:
        change(project, "admit_to_reserve", cast.actor("district_staff"), "")
        change(project, "remove", cast.actor("city_reviewer"))
    db.session.commit()
    assert maturity.machine.models == []
    for project in projects:
        assert not hasattr(project, "trigger")
        assert not any(hasattr(project, name) for name in ("remove", "may_remove", "restore"))


def test_allowed_triggers_are_what_the_page_offers(library):
    with library.project_in("reserve") as project:
        assert maturity.allowed_triggers(project, library.actor("district_staff")) == ["remove"]
        assert maturity.allowed_triggers(project, library.actor("district_reviewer")) == []
        assert maturity.allowed_triggers(project, library.outsider()) == []
    with library.project_in("removed") as project:
        assert maturity.allowed_triggers(project, library.actor("city_reviewer")) == ["restore"]
        assert maturity.allowed_triggers(project, library.actor("district_staff")) == []
