"""Property-based tests: random sequences of actions by random users through every workflow.

For every shipped definition, hypothesis drives fresh declarations with random actions — mostly
ones the current stage knows (so deep stages are reached), some anything at all — by every role,
users of two districts, delegates (valid, expired, ended, claimed without a delegation), with
blank or typed comments, complete or broken approval records, stale versions, expert scores in
专家评审 and signatures in 会签. After every step the invariants of the workflow must hold:

- no stage is skipped: every stage change is one row of the definition's table;
- every state change has exactly one audit row (action = trigger, before/after = the row);
- a countersign signature has its own "sign" row and moves the stage only when the rule is met;
- ``version`` only grows, and grows on every change;
- a refused action changes nothing;
- no actor acts outside their role or district (a delegate: the principal's role and district).
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests import factories
from tests.conftest import BACKENDS
from tests.workflow.conftest import COMMENT, score_by_experts
from workflow import create_app, experts, machine, operations, vocab
from workflow.definitions import StageDef
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.machine import Step, Workflow
from workflow.models import (
    AuditEvent,
    Declaration,
    Delegation,
    ExpertAssignment,
    FundingProgram,
    ReviewOpinion,
    StageSignature,
    User,
)

# Deterministic (the same examples on every run and machine), no example database left on disk,
# and few enough examples that the whole module stays well under a minute per backend. The
# fixture is module-scoped: each example makes its own declaration, so reusing it is safe.
PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
)
MAX_STEPS = 16

# The cast: who exists, by key. Two district reviewers of 盐都区 so one can stand in for the
# other; two city reviewers and a manager, the seats of the 联合会签 stage.
USERS = {
    "staff": ("district_staff", "yandu"),
    "reviewer": ("district_reviewer", "yandu"),
    "reviewer2": ("district_reviewer", "yandu"),
    "other_staff": ("district_staff", "tinghu"),
    "other_reviewer": ("district_reviewer", "tinghu"),
    "city": ("city_reviewer", None),
    "city2": ("city_reviewer", None),
    "manager": ("manager", None),
    "expert": ("expert", None),
    "admin": ("admin", None),
}
# Delegations in the database: (delegate, principal) → how it stands today.
DELEGATIONS = {
    ("reviewer2", "reviewer"): "active",
    ("city2", "city"): "active",
    ("reviewer", "reviewer2"): "expired",  # its last day was yesterday
    ("city", "city2"): "ended",  # ended early by hand
}
ACTIVE_DELEGATIONS = frozenset(pair for pair, state in DELEGATIONS.items() if state == "active")
# Who acts, and for whom: everyone as themselves, every delegation above, and claims to stand in
# for someone without any delegation.
ACTOR_SPECS: tuple[tuple[str, str | None], ...] = (
    *((key, None) for key in USERS),
    *DELEGATIONS,
    ("other_reviewer", "reviewer"),
    ("manager", "city"),
    ("expert", "city"),
    ("reviewer", "reviewer"),
)
APPROVALS = {
    "none": None,
    "complete": {"doc_number": "发改投资〔2026〕18号", "amount": Decimal("280.00")},
    "blank_number": {"doc_number": "  ", "amount": Decimal("280.00")},
    "zero_amount": {"doc_number": "发改投资〔2026〕18号", "amount": Decimal("0")},
    "no_date": {"doc_number": "发改投资〔2026〕18号", "amount": Decimal("280.00")},
}
REFUSALS = (Conflict, NotPermitted, Invalid)

# Control characters are left out: PostgreSQL refuses a NUL in text whatever the workflow does
# (a form-level concern, reported on its own).
comments = st.one_of(
    st.just(""),
    st.sampled_from([" ", "\u3000", "\n\t", COMMENT]),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        min_size=1,
        max_size=20,
    ),
)


@dataclass(repr=False)  # hypothesis prints the arguments of a failing example
class Harness:
    """An app on a database of the module's own, with the cast and a program per workflow."""

    app: Flask
    user_ids: dict[str, int]
    program_ids: dict[str, int]


@pytest.fixture(scope="module", params=BACKENDS)
def harness(request, own_database, tmp_path_factory, cheap_password_hashes) -> Iterator[Harness]:
    """The cast, the delegations and one open program per shipped workflow name."""
    url = own_database(request.param)
    data_dir: Path = tmp_path_factory.mktemp("properties-data")
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
        districts = {
            "yandu": factories.district("320903", "盐都区"),
            "tinghu": factories.district("320902", "亭湖区"),
        }
        users = {
            key: factories.user(role, districts[where] if where else None)
            for key, (role, where) in USERS.items()
        }
        today = operations.local_today()
        periods = {
            "active": (today - timedelta(days=3), today + timedelta(days=3), False),
            "expired": (today - timedelta(days=10), today - timedelta(days=1), False),
            "ended": (today - timedelta(days=3), today + timedelta(days=3), True),
        }
        for (delegate, principal), state in DELEGATIONS.items():
            starts_on, ends_on, ended = periods[state]
            db.session.add(
                Delegation(
                    delegator=users[principal],
                    delegate=users[delegate],
                    starts_on=starts_on,
                    ends_on=ends_on,
                    reason="休假",
                    created_by_id=users["admin"].id,
                    ended_at=operations.utcnow() if ended else None,
                )
            )
        db.session.commit()
        programs = {
            name: factories.program(workflow_name=name).id for name in machine.workflow_names()
        }
        user_ids = {key: user.id for key, user in users.items()}
    yield Harness(app, user_ids, programs)
    with app.app_context():
        db.engine.dispose()


# --- what the database holds, read past the identity map ----------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A declaration's state and everything an action may add to it."""

    stage: str
    version: int
    audit_ids: tuple[int, ...]
    opinions: int
    signers: dict[str, frozenset[int]] = field(default_factory=dict)  # live signatures, by stage
    assignments: int = 0  # live expert assignments
    scoring_gaps: tuple[str, ...] = ()


def snapshot(decl_id: int, workflow: Workflow) -> Snapshot:
    """What the database says about the declaration now."""
    stage, version = db.session.execute(
        select(Declaration.stage, Declaration.version).where(Declaration.id == decl_id)
    ).one()
    audit_ids = tuple(
        db.session.scalars(
            select(AuditEvent.id)
            .where(AuditEvent.object_type == "declaration", AuditEvent.object_id == decl_id)
            .order_by(AuditEvent.id)
        )
    )
    opinions = db.session.scalar(
        select(func.count())
        .select_from(ReviewOpinion)
        .where(ReviewOpinion.declaration_id == decl_id)
    )
    signers: dict[str, set[int]] = {}
    for code, signer_id in db.session.execute(
        select(StageSignature.stage, StageSignature.signer_id).where(
            StageSignature.declaration_id == decl_id, StageSignature.voided_at.is_(None)
        )
    ):
        signers.setdefault(code, set()).add(signer_id)
    assignments = db.session.scalar(
        select(func.count())
        .select_from(ExpertAssignment)
        .where(ExpertAssignment.declaration_id == decl_id, ExpertAssignment.voided_at.is_(None))
    )
    gaps: tuple[str, ...] = ()
    here = workflow.stage(stage)
    if here is not None and here.kind == "expert_review":
        decl = db.session.get(Declaration, decl_id)
        gaps = tuple(experts.scoring_gaps(decl, min_experts=here.min_experts))
    frozen = {code: frozenset(ids) for code, ids in signers.items()}
    return Snapshot(stage, version, audit_ids, opinions, frozen, assignments, gaps)


def new_audit_rows(decl_id: int, before: Snapshot) -> list[AuditEvent]:
    """The declaration's audit rows written since the snapshot, oldest first."""
    last = max(before.audit_ids, default=0)
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "declaration",
                AuditEvent.object_id == decl_id,
                AuditEvent.id > last,
            )
            .order_by(AuditEvent.id)
        )
    )


# --- the moves -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One thing that happens to the declaration; printed by hypothesis when a property fails."""

    kind: str  # act / expire / score
    trigger: str = ""
    actor: str = ""
    on_behalf_of: str | None = None
    comment: str = ""
    approval: str = "none"
    stale: bool = False
    experts: int = 0
    scored: bool = True


def proper(spec: tuple[str, str | None], roles: tuple[str, ...]) -> bool:
    """Whether the actor (or their principal, under a live delegation) fits the row."""
    role, where = USERS[spec[1] or spec[0]]
    in_place = where in (None, "yandu")  # the declarations are 盐都区's
    return role in roles and in_place and (spec[1] is None or spec in ACTIVE_DELEGATIONS)


def draw_move(data: st.DataObject, workflow: Workflow, stage: str) -> Move:
    """A move: mostly one the current stage knows, by someone the row names, sometimes anything.

    "careful" moves are what a diligent user would do (the right person, a comment, a complete
    approval record) so that deep stages are reached; "guided" ones fire a row of the stage by
    anyone who could claim it, typing anything; "anything" is any trigger by anyone.
    """
    here = workflow.stage(stage)
    scoring = here is not None and here.kind == "expert_review"
    kinds = ("careful",) * 5 + ("guided",) * 3 + ("anything", "expire")
    kind = data.draw(st.sampled_from(kinds + ("score",) * (6 if scoring else 1)))
    if kind == "expire":
        return Move("expire")
    if kind == "score":
        return Move(
            "score",
            experts=data.draw(st.integers(min_value=1, max_value=2)),
            scored=data.draw(st.sampled_from((True, True, False))),
        )
    rows = [s for s in workflow.steps if stage in s.sources and not s.is_system]
    if kind == "anything" or not rows:
        trigger = data.draw(st.sampled_from(tuple(vocab.ACTIONS)))
        specs = ACTOR_SPECS
    else:
        # Rows to a final stage are drawn less often, so more examples go deep before ending.
        finals = set(workflow.definition.final_stages)
        trigger = data.draw(
            st.sampled_from([r.trigger for r in rows for _ in range(1 if r.dest in finals else 3)])
        )
        row = workflow.step_for(trigger, stage)
        fitting = [spec for spec in ACTOR_SPECS if USERS[spec[1] or spec[0]][0] in row.roles]
        if kind == "careful":
            fitting = [spec for spec in fitting if proper(spec, row.roles)]
        specs = tuple(fitting) or ACTOR_SPECS
    actor, on_behalf_of = data.draw(st.sampled_from(specs))
    if kind == "careful":
        return Move(
            "act",
            trigger=trigger,
            actor=actor,
            on_behalf_of=on_behalf_of,
            comment=COMMENT,
            approval="complete",
        )
    return Move(
        "act",
        trigger=trigger,
        actor=actor,
        on_behalf_of=on_behalf_of,
        comment=data.draw(comments),
        approval=data.draw(st.sampled_from(tuple(APPROVALS))),
        stale=data.draw(st.sampled_from((False,) * 9 + (True,))),
    )


def approval_record(key: str) -> dict | None:
    """The approval record a move types (批复文号, 下达金额, 批复日期)."""
    values = APPROVALS[key]
    if values is None:
        return None
    day = None if key == "no_date" else operations.local_today()
    return {**values, "approved_on": day}


# --- the checks ----------------------------------------------------------------------------------


def check_refused(decl: Declaration, decl_id: int, workflow: Workflow, before: Snapshot) -> None:
    """A refused action changes nothing, neither in the session nor in the database."""
    assert (decl.stage, decl.version) == (before.stage, before.version), "moved in the session"
    assert not db.session.new and not db.session.dirty, "a refused action left pending changes"
    db.session.rollback()
    assert snapshot(decl_id, workflow) == before, "a refused action left a trace"


def check_unchanged(decl_id: int, workflow: Workflow, before: Snapshot, why: str) -> None:
    """Nothing of the declaration changed."""
    after = snapshot(decl_id, workflow)
    assert (after.stage, after.version, after.audit_ids, after.opinions) == (
        before.stage,
        before.version,
        before.audit_ids,
        before.opinions,
    ), why


def check_transition_row(row: AuditEvent, workflow: Workflow, trigger: str, source: str) -> str:
    """The audit row of a state change is one row of the definition's table; returns its dest."""
    step = workflow.step_for(trigger, source)
    assert step is not None, f"{source} has no row for {trigger}, yet the stage changed"
    assert row.action == trigger
    assert row.before["stage"] == source
    assert row.after["stage"] == step.dest, f"{source} --{trigger}--> {row.after['stage']}"
    return step.dest


def seats(stage: StageDef, harness: Harness) -> set[int]:
    """Who signs in a countersign stage, by the definition: users of its roles (盐都区's)."""
    return {
        harness.user_ids[key]
        for key, (role, where) in USERS.items()
        if role in stage.signers and where in (None, "yandu")
    }


def rule_met(stage: StageDef, signers: frozenset[int], harness: Harness) -> bool:
    """The countersign rule, worked out from the definition alone."""
    if stage.rule == "any":
        return len(signers) >= 1
    if stage.rule == "quorum":
        return len(signers) >= stage.quorum
    return seats(stage, harness) <= signers


def check_acted(
    decl_id: int,
    workflow: Workflow,
    move: Move,
    before: Snapshot,
    actor: User,
    principal: User | None,
    harness: Harness,
) -> None:
    """The invariants of an action the workflow accepted."""
    after = snapshot(decl_id, workflow)
    decl = db.session.get(Declaration, decl_id)
    source = before.stage
    step = workflow.step_for(move.trigger, source)
    assert step is not None, f"{move.trigger} accepted in {source}, which has no such row"

    # Nobody acts outside their role or district; a delegate acts only under a live delegation.
    acting_as = principal or actor
    assert acting_as.role in step.roles, f"{acting_as.role} fired {move.trigger} in {source}"
    if acting_as.role in vocab.DISTRICT_ROLES:
        assert acting_as.district_id == decl.district_id, "acted in another district"
    if principal is not None:
        assert (move.actor, move.on_behalf_of) in ACTIVE_DELEGATIONS, "acted without a delegation"
        event(f"{move.trigger} by a delegate")

    rows = new_audit_rows(decl_id, before)
    assert rows, "an accepted action left no audit row"
    for row in rows:
        assert row.actor_id == actor.id
        assert row.on_behalf_of_id == (principal.id if principal else None)
    signs = [r for r in rows if r.action == "sign"]
    changes = [r for r in rows if r.action != "sign"]
    stage_def = workflow.stage(source)
    signing = move.trigger == "approve" and stage_def.kind == "countersign"

    if signing:
        assert len(signs) == 1, "a countersign approval is one signature with one sign row"
        sign = signs[0]
        assert sign.before["stage"] == source
        assert sign.after["signer_id"] == acting_as.id
        signed_before = before.signers.get(source, frozenset())
        signed_after = after.signers.get(source, frozenset())
        assert acting_as.id in seats(stage_def, harness), "someone outside the seats signed"
        assert signed_after == signed_before | {acting_as.id}, "not one new signature"
        assert acting_as.id not in signed_before, "the same seat signed twice"
        assert bool(changes) == rule_met(stage_def, signed_after, harness), (
            f"{len(signed_after)} signature(s) under rule {stage_def.rule}/{stage_def.quorum}"
        )
        # The stage moves on exactly when the rule is met, and then with one row of its own.
        assert len(changes) == (1 if sign.after["quorum_met"] else 0)
        assert sign.after["signatures"] == len(signed_after)
    else:
        assert not signs, f"{move.trigger} outside a countersign stage wrote a sign row"
        assert len(changes) == 1, "a state change has exactly one audit row"

    assert after.version > before.version, "an accepted action did not grow the version"
    opinions = len(signs) + (1 if changes and step.opinion else 0)
    assert after.opinions == before.opinions + opinions

    if not changes:
        assert after.stage == source, "the stage changed without an audit row"
        event(f"{source}: signed, the rule not met yet")
        return
    dest = check_transition_row(changes[0], workflow, move.trigger, source)
    assert after.stage == dest
    event(f"{source} --{move.trigger}--> {dest}")  # --hypothesis-show-statistics lists them
    if stage_def.kind == "expert_review" and move.trigger == "approve":
        assert not before.scoring_gaps, f"left 专家评审 with gaps {before.scoring_gaps}"
    if workflow.stage(dest).kind == "revision":
        # A return voids what was gathered in the stage it leaves.
        if stage_def.kind == "countersign":
            assert not after.signers.get(source), "signatures survived a return"
        if stage_def.kind == "expert_review":
            assert after.assignments == 0, "expert assignments survived a return"


def check_expired(decl_id: int, workflow: Workflow, before: Snapshot) -> None:
    """The system's 逾期自动关闭: one row of the table, one audit row without a person."""
    after = snapshot(decl_id, workflow)
    rows = new_audit_rows(decl_id, before)
    assert len(rows) == 1, "a state change has exactly one audit row"
    assert rows[0].actor_id is None and rows[0].on_behalf_of_id is None
    step = workflow.step_for("expire", before.stage)
    assert step is not None and step.is_system
    assert after.stage == check_transition_row(rows[0], workflow, "expire", before.stage)
    assert after.version > before.version
    assert after.opinions == before.opinions
    event(f"{before.stage} --expire--> {after.stage} (system)")


def check_history(decl_id: int, workflow: Workflow) -> None:
    """The audit rows of state changes chain from the start stage to the current stage.

    Other rows of the declaration (create, upload, sign, ...) are not state changes.
    """
    stage = workflow.definition.start
    for row in new_audit_rows(decl_id, Snapshot("", 0, (), 0)):
        if row.action in vocab.ACTIONS:
            assert row.before["stage"] == stage, f"history jumps from {stage} to {row.before}"
            stage = check_transition_row(row, workflow, row.action, stage)
    assert db.session.get(Declaration, decl_id).stage == stage


# --- the property --------------------------------------------------------------------------------


def fresh_declaration(harness: Harness, workflow: Workflow) -> Declaration:
    """A complete draft of a new 盐都区 project, following this workflow and version."""
    staff = db.session.get(User, harness.user_ids["staff"])
    program = db.session.get(FundingProgram, harness.program_ids[workflow.name])
    decl = factories.declaration(factories.project(staff.district), program, by=staff)
    if decl.workflow_version != workflow.version:
        # An older version still runs the declarations made before the newer one appeared
        # (test_definitions.py shows how they keep it); this draft stands for one of them.
        decl.workflow_version = workflow.version
        decl.stage = workflow.definition.start
        db.session.commit()
    assert (decl.workflow_name, decl.stage) == (workflow.name, workflow.definition.start)
    assert machine.workflow_for(decl) is workflow
    return decl


def step_once(decl: Declaration, workflow: Workflow, move: Move, harness: Harness) -> None:
    """Make the move and check the invariants that follow from its outcome."""
    note(f"in {decl.stage}: {move}")
    decl_id = decl.id
    before = snapshot(decl_id, workflow)
    if move.kind == "score":
        stage = workflow.stage(before.stage)
        if stage.kind != "expert_review":
            return
        if move.scored:
            score_by_experts(decl, count=move.experts)
        else:
            for _ in range(move.experts):
                db.session.add(ExpertAssignment(declaration=decl, expert=factories.user("expert")))
            db.session.commit()
        check_unchanged(decl_id, workflow, before, "scoring changed the declaration")
        return
    if move.kind == "expire":
        if operations.expire_declaration(decl, cause="申报批次已截止,草稿逾期自动关闭"):
            db.session.commit()
            check_expired(decl_id, workflow, before)
        else:
            check_refused(decl, decl_id, workflow, before)
        return
    actor = db.session.get(User, harness.user_ids[move.actor])
    principal = (
        db.session.get(User, harness.user_ids[move.on_behalf_of]) if move.on_behalf_of else None
    )
    try:
        operations.act_on_declaration(
            decl,
            move.trigger,
            actor=actor,
            comment=move.comment,
            expected_version=decl.version - 1 if move.stale else decl.version,
            approval=approval_record(move.approval),
            on_behalf_of=principal,
        )
    except REFUSALS as refusal:
        event(f"refused: {type(refusal).__name__}")
        assert refusal.args and any("\u4e00" <= ch <= "\u9fff" for ch in str(refusal))
        check_refused(decl, decl_id, workflow, before)
        return
    assert not move.stale, "an action on a stale version was accepted"
    db.session.commit()
    check_acted(decl_id, workflow, move, before, actor, principal, harness)


def route(workflow: Workflow, source: str, target: str) -> list[Step]:
    """The shortest chain of people's rows from one stage to another."""
    paths: dict[str, list[Step]] = {source: []}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        for row in workflow.steps:
            if here in row.sources and not row.is_system and row.dest not in paths:
                paths[row.dest] = [*paths[here], row]
                queue.append(row.dest)
    return paths[target]


def advance(decl: Declaration, workflow: Workflow, harness: Harness, target: str) -> None:
    """Take the declaration to the stage as diligent users would, checking every step."""
    while decl.stage != target:
        row = route(workflow, decl.stage, target)[0]
        here = workflow.stage(decl.stage)
        selves = [(key, None) for key in USERS if proper((key, None), row.roles)]
        if row.trigger == "approve" and here.kind == "expert_review":
            step_once(decl, workflow, Move("score", experts=here.min_experts), harness)
        if not (row.trigger == "approve" and here.kind == "countersign"):
            selves = selves[:1]
        left = decl.stage
        for actor, _ in selves:  # in a countersign stage, seat after seat until the rule is met
            move = Move(
                "act", trigger=row.trigger, actor=actor, comment=COMMENT, approval="complete"
            )
            step_once(decl, workflow, move, harness)
            if decl.stage != left:
                break
        assert decl.stage == row.dest, f"diligent users could not take {left} to {row.dest}"


@pytest.mark.parametrize(
    "key",
    [w.definition.key for w in machine.all_workflows()],
    ids=lambda key: f"{key[0]}-v{key[1]}" if isinstance(key, tuple) else str(key),
)
@PROPERTIES
@given(data=st.data())
def test_random_actions_keep_the_workflow_invariants(harness, key, data):
    """Random users acting at random never skip a stage, lose an audit row or cross a line."""
    workflow = machine.get(*key)
    with harness.app.app_context():
        try:
            decl = fresh_declaration(harness, workflow)
            # Start anywhere a declaration can wait, so that every stage meets random users.
            waiting = [s.code for s in workflow.definition.stages if s.kind != "final"]
            advance(decl, workflow, harness, data.draw(st.sampled_from(waiting), label="start in"))
            steps = data.draw(st.integers(min_value=1, max_value=MAX_STEPS), label="steps")
            for _ in range(steps):
                step_once(decl, workflow, draw_move(data, workflow, decl.stage), harness)
            check_history(decl.id, workflow)
        finally:
            db.session.rollback()
            db.session.remove()
