"""Countersign stages (会签): several reviewers sign before a declaration moves on.

A countersign stage names the roles whose users sign (its seats) and a rule: ``all`` of them,
``any`` one, or a ``quorum`` of N. Each 同意 is a StageSignature; the declaration leaves the
stage when the rule is met. A return for revision voids the stage's signatures, so a revised
declaration is signed afresh. A delegate signs in the seat of the reviewer they stand in for.
"""

from datetime import datetime

from sqlalchemy import select, update

from .definitions import StageDef
from .extensions import db
from .models import Declaration, StageSignature, User


def seats(decl: Declaration, stage: StageDef) -> list[User]:
    """The users who sign in this stage: active users of the signer roles (of its district)."""
    query = select(User).where(User.role.in_(stage.signers), User.active.is_(True))
    rows = db.session.scalars(query.order_by(User.id)).all()
    return [u for u in rows if not u.is_district_user or u.district_id == decl.district_id]


def signatures(decl: Declaration, stage_code: str) -> list[StageSignature]:
    """The stage's signatures that still count (not voided by a return)."""
    return list(
        db.session.scalars(
            select(StageSignature)
            .where(
                StageSignature.declaration_id == decl.id,
                StageSignature.stage == stage_code,
                StageSignature.voided_at.is_(None),
            )
            .order_by(StageSignature.id)
        )
    )


def needed(decl: Declaration, stage: StageDef) -> int:
    """How many signatures the rule asks for now."""
    if stage.rule == "any":
        return 1
    if stage.rule == "quorum":
        return stage.quorum or 1
    return max(len(seats(decl, stage)), 1)


def quorum_met(decl: Declaration, stage: StageDef) -> bool:
    """Whether the signatures gathered satisfy the stage's rule."""
    signed = {s.signer_id for s in signatures(decl, stage.code)}
    if stage.rule == "all":
        return bool(signed) and all(u.id in signed for u in seats(decl, stage))
    return len(signed) >= needed(decl, stage)


def still_needed(decl: Declaration, stage: StageDef) -> int:
    """How many more signatures the rule asks for."""
    if stage.rule == "all":
        return len(pending_signers(decl, stage))
    return max(needed(decl, stage) - len({s.signer_id for s in signatures(decl, stage.code)}), 0)


def pending_signers(decl: Declaration, stage: StageDef) -> list[User]:
    """The seats that have not signed yet."""
    signed = {s.signer_id for s in signatures(decl, stage.code)}
    return [u for u in seats(decl, stage) if u.id not in signed]


def sign_refusal(
    decl: Declaration, stage: StageDef, signer: User, acted_by: User | None = None
) -> list[str]:
    """Why this signer (through ``acted_by``, a delegate) cannot sign now; empty when they can.

    One person signs once per round, for themself or for someone else: a joint sign-off needs
    as many people as signatures, or a delegate could meet a quorum alone.
    """
    if signer.id not in {u.id for u in seats(decl, stage)}:
        return [f"{signer.display_name}不是「{stage.label}」的签署人"]
    signed = signatures(decl, stage.code)
    if any(s.signer_id == signer.id for s in signed):
        return [f"{signer.display_name}已签署,无需重复签署"]
    hand = acted_by or signer
    if any(s.acted_by_id == hand.id for s in signed):
        return [f"{hand.display_name}在本轮会签中已签署过一次,同一人只能签署一次"]
    return []


def record(
    decl: Declaration, stage: StageDef, *, signer: User, acted_by: User, comment: str, at: datetime
) -> StageSignature:
    """Add one signature to the session."""
    signature = StageSignature(
        declaration=decl,
        stage=stage.code,
        signer=signer,
        acted_by=acted_by,
        comment=comment,
        created_at=at,
    )
    db.session.add(signature)
    return signature


def void(decl: Declaration, stage_code: str, at: datetime) -> int:
    """Void the stage's signatures (the declaration was sent back); returns how many."""
    result = db.session.execute(
        update(StageSignature)
        .where(
            StageSignature.declaration_id == decl.id,
            StageSignature.stage == stage_code,
            StageSignature.voided_at.is_(None),
        )
        .values(voided_at=at)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    return max(result.rowcount, 0)
