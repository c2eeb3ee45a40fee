"""Countersign stages (会签): all / any / N-of-M counting, delegates in seats, voiding on return,
and the audit rows they leave."""

import pytest
from sqlalchemy import select

from tests import factories
from tests.workflow.conftest import COMMENT, audit_rows
from workflow import countersign, definitions, machine, operations
from workflow.delegations import create_delegation
from workflow.errors import Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import AuditEvent, Declaration, ReviewOpinion, StageSignature

# The shipped joint_signoff definition with another rule: a test-only definition of its own.
SHIPPED = definitions.load_file(definitions.FOLDER / "joint_signoff.v1.yaml", guards=machine.GUARDS)


def _variant(name: str, rule: str, quorum: int | None = None) -> machine.Workflow:
    stages = []
    for stage in SHIPPED.stages:
        raw = {"code": stage.code, "kind": stage.kind}
        if stage.kind == "countersign":
            raw.update(signers=list(stage.signers), rule=rule)
            if quorum:
                raw["quorum"] = quorum
        stages.append(raw)
    transitions = [
        {
            "trigger": t.trigger,
            "from": list(t.sources),
            "to": t.dest,
            "roles": list(t.roles),
            "guards": list(t.guards),
            "opinion": t.opinion,
        }
        for t in SHIPPED.transitions
    ]
    data = {"name": name, "version": 1, "stages": stages, "transitions": transitions}
    defn, problems = definitions.parse(data, f"<test {name}>")
    assert not problems
    assert definitions.check(defn, guards=machine.GUARDS) == []
    return machine.Workflow(defn)


@pytest.fixture
def test_workflows(monkeypatch):
    """The shipped definitions plus signoff_all (all sign) and signoff_any (any one signs)."""
    extra = {
        ("signoff_all", 1): _variant("signoff_all", "all"),
        ("signoff_any", 1): _variant("signoff_any", "any"),
    }
    combined = {**machine._registry(), **extra}
    monkeypatch.setattr(machine, "_registry", lambda: combined)
    return extra


def in_signoff(world, workflow_name: str = "joint_signoff") -> Declaration:
    """A declaration of a program with this workflow, driven to its countersign stage."""
    program = factories.program(workflow_name=workflow_name)
    decl = factories.declaration(factories.project(world.yandu), program, by=world.staff)
    factories.act(decl, "submit", world.staff)
    factories.act(decl, "approve", world.reviewer, COMMENT)
    factories.act(decl, "approve", world.city, COMMENT)
    assert decl.stage == "joint_signoff"
    return decl


def sign(decl, actor, **kwargs) -> Declaration:
    return factories.act(decl, "approve", actor, "同意", **kwargs)


def stage_def(decl):
    return machine.workflow_for(decl).stage("joint_signoff")


def sign_rows(decl) -> list[AuditEvent]:
    return [r for r in audit_rows(decl.id) if r.action == "sign"]


def stage_changes_from_signoff(decl) -> list[AuditEvent]:
    return [
        r
        for r in audit_rows(decl.id)
        if (r.before or {}).get("stage") == "joint_signoff" and "stage" in (r.after or {})
    ]


def test_two_of_the_seats_suffice_in_the_shipped_joint_signoff(world):
    third = factories.user("city_reviewer")
    decl = in_signoff(world)
    stage = stage_def(decl)
    assert stage.rule_label == "2 人签署即可"
    assert [u.id for u in countersign.seats(decl, stage)] == [
        world.city.id,
        world.manager.id,
        third.id,
    ]
    assert countersign.needed(decl, stage) == 2
    sign(decl, world.manager)
    assert decl.stage == "joint_signoff"
    assert not countersign.quorum_met(decl, stage)
    assert [u.id for u in countersign.pending_signers(decl, stage)] == [world.city.id, third.id]
    sign(decl, third)
    assert decl.stage == "recommended"
    rows = sign_rows(decl)
    assert [r.after["signatures"] for r in rows] == [1, 2]
    assert [r.after["quorum_met"] for r in rows] == [False, True]
    assert [r.actor_id for r in rows] == [world.manager.id, third.id]
    (change,) = stage_changes_from_signoff(decl)
    assert (change.action, change.after["stage"]) == ("approve", "recommended")


def test_the_same_person_cannot_sign_twice(world):
    decl = in_signoff(world)
    sign(decl, world.city)
    with pytest.raises(Invalid) as refused:
        sign(decl, world.city)
    assert f"{world.city.display_name}已签署,无需重复签署" in refused.value.reasons
    db.session.rollback()
    assert len(countersign.signatures(decl, "joint_signoff")) == 1
    assert len(sign_rows(decl)) == 1
    assert decl.stage == "joint_signoff"


def test_who_is_no_signer_cannot_sign(world):
    decl = in_signoff(world)
    assert "approve" not in machine.allowed_triggers(
        decl, world.admin, operations.workflow_context()
    )
    with pytest.raises(NotPermitted, match="只能由市级审核员、管理人员执行"):
        sign(decl, world.reviewer)
    db.session.rollback()
    assert countersign.signatures(decl, "joint_signoff") == []


def test_a_delegate_signs_in_the_seat_of_the_reviewer_they_stand_in_for(world):
    colleague = factories.user("city_reviewer")
    create_delegation(
        world.city,
        colleague,
        operations.local_today(),
        operations.local_today(),
        "出差",
        actor=world.city,
    )
    db.session.commit()
    decl = in_signoff(world)
    stage = stage_def(decl)
    sign(decl, colleague, on_behalf_of=world.city)
    (signature,) = countersign.signatures(decl, "joint_signoff")
    assert (signature.signer_id, signature.acted_by_id) == (world.city.id, colleague.id)
    (row,) = sign_rows(decl)
    assert (row.actor_id, row.on_behalf_of_id) == (colleague.id, world.city.id)
    assert row.after == {"signer_id": world.city.id, "signatures": 1, "quorum_met": False}
    opinion = db.session.scalars(select(ReviewOpinion).where(ReviewOpinion.action == "sign")).one()
    assert (opinion.reviewer_id, opinion.on_behalf_of_id) == (colleague.id, world.city.id)
    # The seat is filled once: neither the reviewer nor their delegate signs it again.
    for actor, kwargs in ((world.city, {}), (colleague, {"on_behalf_of": world.city})):
        with pytest.raises(Invalid, match="已签署"):
            sign(decl, actor, **kwargs)
        db.session.rollback()
    assert [u.id for u in countersign.pending_signers(decl, stage)] == [
        world.manager.id,
        colleague.id,
    ]
    # Nor does the delegate also sign in their own seat: one person, one signature per round,
    # or a delegate could meet the quorum alone.
    with pytest.raises(Invalid, match="同一人只能签署一次"):
        sign(decl, colleague)
    db.session.rollback()
    sign(decl, world.manager)
    assert decl.stage == "recommended"
    assert {s.signer_id for s in countersign.signatures(decl, "joint_signoff")} == {
        world.city.id,
        world.manager.id,
    }


def test_a_return_voids_the_signatures_and_the_next_round_starts_from_zero(world):
    decl = in_signoff(world)
    sign(decl, world.manager)
    factories.act(decl, "return_for_revision", world.city, "请补充数据资源清单")
    assert decl.stage == "returned"
    voided = db.session.scalars(select(StageSignature)).all()
    assert len(voided) == 1 and voided[0].voided_at is not None
    (returned,) = stage_changes_from_signoff(decl)
    assert returned.after["voided_signatures"] == 1
    factories.act(decl, "resubmit", world.staff)
    factories.act(decl, "approve", world.reviewer, COMMENT)
    factories.act(decl, "approve", world.city, COMMENT)
    assert decl.stage == "joint_signoff"
    assert countersign.signatures(decl, "joint_signoff") == []
    sign(decl, world.manager)  # the manager signs again: the old signature no longer counts
    assert decl.stage == "joint_signoff"
    sign(decl, world.city)
    assert decl.stage == "recommended"
    assert [r.after["signatures"] for r in sign_rows(decl)] == [1, 1, 2]


def test_all_must_sign_under_the_all_rule(world, test_workflows):
    third = factories.user("manager")
    decl = in_signoff(world, "signoff_all")
    stage = stage_def(decl)
    assert stage.rule_label == "全部签署"
    assert countersign.needed(decl, stage) == 3
    sign(decl, world.city)
    sign(decl, world.manager)
    assert decl.stage == "joint_signoff"
    assert [u.id for u in countersign.pending_signers(decl, stage)] == [third.id]
    sign(decl, third)
    assert decl.stage == "recommended"
    assert len(sign_rows(decl)) == 3
    assert len(stage_changes_from_signoff(decl)) == 1


def test_a_disabled_signer_no_longer_holds_up_the_all_rule(world, test_workflows):
    absent = factories.user("manager")
    decl = in_signoff(world, "signoff_all")
    sign(decl, world.city)
    absent.active = False
    db.session.commit()
    sign(decl, world.manager)
    assert decl.stage == "recommended"


def test_one_signature_suffices_under_the_any_rule(world, test_workflows):
    decl = in_signoff(world, "signoff_any")
    assert stage_def(decl).rule_label == "任一签署"
    sign(decl, world.manager)
    assert decl.stage == "recommended"
    assert len(sign_rows(decl)) == 1
    (change,) = stage_changes_from_signoff(decl)
    assert change.actor_id == world.manager.id


def test_every_signature_has_one_sign_row_and_the_move_one_stage_row(world):
    decl = in_signoff(world)
    before = len(audit_rows(decl.id))
    sign(decl, world.city)
    sign(decl, world.manager)
    rows = audit_rows(decl.id)[before:]
    assert [r.action for r in rows] == ["sign", "sign", "approve"]
    assert [r.after.get("stage") for r in rows] == [None, None, "recommended"]
