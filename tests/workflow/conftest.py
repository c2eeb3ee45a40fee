"""Fixtures of the workflow tests: cheap users, a cast per role, a declaration driven to any stage.

``drive_to`` moves a declaration through the real workflow (``operations.act_on_declaration``),
never by writing ``stage``, so every stage a test starts from is one users can reach.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from tests import factories
from tests.conftest import BACKENDS, POSTGRES_URL, _migrate
from workflow import create_app, operations, vocab
from workflow.extensions import db
from workflow.models import (
    AuditEvent,
    Declaration,
    ExpertAssignment,
    ExpertScore,
    FundingProgram,
    Project,
    User,
)

COMMENT = "材料齐全,同意。"

# Each reachable stage and the shortest real path to it: (trigger, role) in order.
PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "draft": (),
    "district_review": (("submit", "district_staff"),),
    "city_review": (("submit", "district_staff"), ("approve", "district_reviewer")),
    "expert_review": (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
    ),
    "recommended": (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
    ),
    "approved": (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
        ("record_approval", "manager"),
    ),
    "not_approved": (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("approve", "city_reviewer"),
        ("record_rejection", "manager"),
    ),
    "returned": (("submit", "district_staff"), ("return_for_revision", "district_reviewer")),
    "not_recommended": (
        ("submit", "district_staff"),
        ("approve", "district_reviewer"),
        ("reject", "city_reviewer"),
    ),
    "withdrawn": (("withdraw", "district_staff"),),
}
# expert_review is reached only on a program that asks for expert review.
EXPERT_STAGES = frozenset({"expert_review"})


def approval(**overrides) -> dict:
    """A complete upstream approval record (批复文号, 下达金额, 批复日期)."""
    values = {
        "doc_number": "发改投资〔2026〕18号",
        "amount": Decimal("280.00"),
        "approved_on": operations.local_today(),
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="module", autouse=True)
def cheap_password_hashes():
    """The workflow never checks passwords; hashing one with scrypt costs 0.1 s per user."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "workflow.models.generate_password_hash",
            partial(generate_password_hash, method="pbkdf2:sha256:1"),
        )
        yield


@dataclass
class Cast:
    """Someone in every role, a second district's pair, and two open programs."""

    world: factories.World
    expert_program: FundingProgram

    def actor(self, role: str) -> User:
        """The user of a role; district roles come from the project's district (盐都区)."""
        return self.world.users()[role]

    def project(self, **overrides) -> Project:
        """A complete project in 盐都区."""
        return factories.project(self.world.yandu, **overrides)

    def declaration(
        self, *, program: FundingProgram | None = None, project: Project | None = None, **values
    ) -> Declaration:
        """A complete draft declaration of a fresh project."""
        return factories.declaration(
            project or self.project(), program or self.world.program, by=self.world.staff, **values
        )

    def act(self, decl: Declaration, trigger: str, role: str, **kwargs) -> Declaration:
        """Fire a trigger as the role's user with a valid comment and approval, and commit."""
        kwargs.setdefault("comment", COMMENT)
        if trigger == "record_approval":
            kwargs.setdefault("approval", approval())
        return factories.act(decl, trigger, self.actor(role), **kwargs)

    def drive_to(self, decl: Declaration, stage: str) -> Declaration:
        """Move a fresh draft to the stage through the real workflow."""
        for trigger, role in PATHS[stage]:
            self.act(decl, trigger, role)
        assert decl.stage == stage
        return decl

    def declaration_in(self, stage: str, **kwargs) -> Declaration:
        """A declaration in the stage, reached through the real workflow.

        In 专家评审 the experts the stage asks for have already scored, so the city may conclude.
        """
        if stage in EXPERT_STAGES:
            kwargs.setdefault("program", self.expert_program)
        decl = self.drive_to(self.declaration(**kwargs), stage)
        if stage in EXPERT_STAGES:
            score_by_experts(decl)
        return decl


def score_by_experts(decl: Declaration, count: int = 2) -> list[ExpertAssignment]:
    """Assign ``count`` new experts (from no district or unit of the applicant) who all score."""
    made = []
    for _ in range(count):
        expert = factories.user("expert")
        assignment = ExpertAssignment(declaration=decl, expert=expert)
        assignment.score = ExpertScore(
            scores={c["name"]: 80 for c in vocab.DEFAULT_SCORE_CRITERIA}, total=Decimal("80.00")
        )
        db.session.add(assignment)
        made.append(assignment)
    db.session.commit()
    return made


def build_cast() -> Cast:
    """Build the cast inside the current app context."""
    return Cast(
        world=factories.world(), expert_program=factories.program(workflow_name="expert_review")
    )


@pytest.fixture
def cast(app) -> Cast:
    """A cast on the test's own empty database."""
    return build_cast()


def audit_count(object_type: str = "declaration", object_id: int | None = None) -> int:
    """How many audit rows there are (for one object when given)."""
    query = (
        select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == object_type)
    )
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    return db.session.scalar(query)


def audit_rows(object_id: int, object_type: str = "declaration") -> list[AuditEvent]:
    """The audit rows of one object, oldest first."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
            .order_by(AuditEvent.id)
        )
    )


def stored_stage_and_version(decl_id: int) -> tuple[str, int]:
    """What the database holds, read past the identity map."""
    row = db.session.execute(
        select(Declaration.stage, Declaration.version).where(Declaration.id == decl_id)
    ).one()
    return row.stage, row.version


def has_chinese(text: str) -> bool:
    """Whether a message is written for a Chinese user (contains CJK ideographs)."""
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# --- databases of their own, for module-scoped setups and multi-threaded tests ------------------


@pytest.fixture(scope="module")
def own_database(request, tmp_path_factory) -> Callable[[str], str]:
    """``own_database(backend)`` → the URL of a migrated database only this module uses.

    The shared PostgreSQL database is truncated by every function-scoped ``app``; data built
    once per module must live elsewhere.
    """
    made: list[str] = []

    def build(backend: str) -> str:
        folder = tmp_path_factory.mktemp(f"own-{backend}")
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'own.db'}"
        elif backend == "postgresql":
            base = make_url(POSTGRES_URL)
            name = f"workflow_test_{os.getpid()}_{request.module.__name__.rsplit('.', 1)[-1]}"
            with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            made.append(name)
            url = base.set(database=name).render_as_string(hide_password=False)
        else:
            raise pytest.UsageError(f"unknown backend in TEST_DATABASES: {backend}")
        _migrate(url, folder)
        return url

    yield build
    for name in made:
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_dsn() -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Bank:
    """Committed declarations in every stage, built once per backend and module.

    Tests act on them inside an app context and roll back, so each case starts from the same
    committed state.
    """

    app: Flask
    declaration_ids: dict[str, int]
    user_ids: dict[str, int]
    other_district_user_ids: dict[str, int]

    @contextmanager
    def declaration_in(self, stage: str) -> Iterator[Declaration]:
        """The declaration in the stage, in a fresh app context; all changes are rolled back."""
        with self.app.app_context():
            try:
                yield db.session.get(Declaration, self.declaration_ids[stage])
            finally:
                db.session.rollback()

    def actor(self, role: str) -> User:
        """The user of a role (district roles from the declarations' district)."""
        return db.session.get(User, self.user_ids[role])

    def outsider(self, role: str) -> User:
        """A district user of another district (亭湖区)."""
        return db.session.get(User, self.other_district_user_ids[role])


@pytest.fixture(scope="module", params=BACKENDS)
def bank(request, own_database, tmp_path_factory, cheap_password_hashes) -> Iterator[Bank]:
    """Declarations in every stage on a database of the module's own."""
    url = own_database(request.param)
    data_dir: Path = tmp_path_factory.mktemp("bank-data")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": url,
            "DATA_DIR": str(data_dir),
            "REDIS_URL": None,
            "EMBEDDED_WORKER": False,
        }
    )
    with app.app_context():
        cast = build_cast()
        ids = {stage: cast.declaration_in(stage).id for stage in PATHS}
        users = {role: user.id for role, user in cast.world.users().items()}
        others = {
            "district_staff": cast.world.other_staff.id,
            "district_reviewer": cast.world.other_reviewer.id,
        }
    yield Bank(app, ids, users, others)
    with app.app_context():
        db.engine.dispose()


def days(n: int) -> date:
    """Today in the bureau's time zone, shifted by n days."""
    return operations.local_today() + timedelta(days=n)
