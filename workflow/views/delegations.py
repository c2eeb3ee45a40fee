"""Delegation (代理) pages, and what the declaration page and the inbox show of delegation and
countersign stages (template helpers).

``/delegations`` lists the delegations a reviewer gave and received and sets up a new one; a
delegation belongs to its delegator (anyone else gets 404; an admin sees them all). The
declaration page gets an "代 X 办理" form for each reviewer the signed-in user stands in for,
and, in a countersign stage (会签), a card of the seats and who signed; the inbox lists the
signatures a user (or the reviewers they stand in for) still owes.
"""

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from forms.delegation import DelegationCreateForm
from forms.fields import choices

from .. import countersign, delegations, machine, operations
from ..definitions import StageDef
from ..errors import OperationError
from ..extensions import db
from ..models import Declaration, Delegation, StageSignature, User
from ..permissions import scope_declarations
from . import form_status

bp = Blueprint("delegations", __name__)
# Who opens the page: those who may delegate, and admins who set delegations up for them.
PAGE_ROLES = frozenset(delegations.DELEGATING_ROLES) | {"admin"}


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


# --- template helpers for other pages ------------------------------------------------------


@bp.app_template_global()
def acting_name(actor: User | None, on_behalf_of: User | None = None) -> str:
    """ "张三", or "张三(代 李四)" when a delegate acted for a reviewer."""
    return delegations.acting_name(actor, on_behalf_of)


@dataclass
class OnBehalf:
    """A reviewer the signed-in user stands in for, and what they may do for them here."""

    principal: User
    triggers: list[str]


@bp.app_template_global()
def delegate_actions(decl: Declaration) -> list[OnBehalf]:
    """For each reviewer the signed-in user stands in for today, the actions open to them."""
    today = operations.local_today()
    workflow = machine.workflow_for(decl)
    found = []
    for principal in delegations.principals_of(current_user, today):
        context = operations.workflow_context(on_behalf_of=principal)
        triggers = workflow.allowed_triggers(decl, current_user, context)
        if triggers:
            found.append(OnBehalf(principal, triggers))
    return found


@dataclass
class Seat:
    """One signer of a countersign stage and their signature, if given."""

    user: User
    signature: StageSignature | None


@dataclass
class CountersignCard:
    """What the declaration page shows of a countersign stage."""

    stage: StageDef
    seats: list[Seat]
    signed: int
    needed: int
    more: int  # signatures still needed before the rule is met
    pending: list[User]
    voided: int  # signatures of earlier rounds, voided by a return for revision


def _countersign_stage(decl: Declaration) -> StageDef | None:
    stage = machine.workflow_for(decl).stage(decl.stage)
    return stage if stage is not None and stage.kind == "countersign" else None


@bp.app_template_global()
def countersign_card(decl: Declaration) -> CountersignCard | None:
    """The seats of the declaration's countersign stage and who signed; None in other stages."""
    stage = _countersign_stage(decl)
    if stage is None:
        return None
    seats = countersign.seats(decl, stage)
    signatures = {s.signer_id: s for s in countersign.signatures(decl, stage.code)}
    rows = [Seat(user, signatures.get(user.id)) for user in seats]
    # A signer who left the seat since (disabled) still counts: show the signature anyway.
    seated = {user.id for user in seats}
    rows += [Seat(s.signer, s) for signer_id, s in signatures.items() if signer_id not in seated]
    pending = countersign.pending_signers(decl, stage)
    needed = countersign.needed(decl, stage)
    more = len(pending) if stage.rule == "all" else max(needed - len(signatures), 0)
    voided = db.session.scalar(
        select(func.count())
        .select_from(StageSignature)
        .where(
            StageSignature.declaration_id == decl.id,
            StageSignature.stage == stage.code,
            StageSignature.voided_at.is_not(None),
        )
    )
    return CountersignCard(stage, rows, len(signatures), needed, more, pending, voided)


@dataclass
class Signoff:
    """A signature the signed-in user owes, themself or for a reviewer they stand in for."""

    declaration: Declaration
    stage: StageDef
    on_behalf_of: User | None
    due_on: date | None


def _countersign_stages() -> dict[tuple[str, int], set[str]]:
    """The countersign stages of every definition and version."""
    found: dict[tuple[str, int], set[str]] = {}
    for workflow in machine.all_workflows():
        codes = {s.code for s in workflow.definition.stages if s.kind == "countersign"}
        if codes:
            found[(workflow.name, workflow.version)] = codes
    return found


@bp.app_template_global()
def pending_signoffs() -> list[Signoff]:
    """Declarations waiting for the signed-in user's signature (or a principal's), due first."""
    stages = _countersign_stages()
    if not stages:
        return []
    in_stage = or_(
        *(
            and_(
                Declaration.workflow_name == name,
                Declaration.workflow_version == version,
                Declaration.stage.in_(sorted(codes)),
            )
            for (name, version), codes in stages.items()
        )
    )
    query = scope_declarations(
        select(Declaration)
        .where(in_stage)
        .options(joinedload(Declaration.program), joinedload(Declaration.project)),
        current_user,
    )
    principals = delegations.principals_of(current_user, operations.local_today())
    found = []
    for decl in db.session.scalars(query.order_by(Declaration.id)).unique():
        stage = _countersign_stage(decl)
        waiting = {u.id for u in countersign.pending_signers(decl, stage)}
        for signer in (None, *principals):
            if (signer or current_user).id in waiting:
                found.append(Signoff(decl, stage, signer, decl.stage_due_on))
    found.sort(key=lambda s: (s.due_on or date.max, s.declaration.id))
    return found


@bp.app_template_global()
def delegation_status(delegation: Delegation) -> str:
    """生效中, 未开始 or 已结束, as of today."""
    return delegations.status_label(delegation, operations.local_today())


# --- the delegation pages -------------------------------------------------------------------


def _may_use_page() -> None:
    if current_user.role not in PAGE_ROLES:
        abort(403, "只有区县审核员、市级审核员、管理人员(及系统管理员)可以设置代理")


def _delegation_or_404(delegation_id: int) -> Delegation:
    """A delegation belongs to its delegator: anyone else but an admin gets 404."""
    delegation = db.session.get(Delegation, delegation_id)
    if delegation is None or not delegations.can_manage(delegation, current_user):
        abort(404)
    return delegation


def _new_form(**kwargs) -> DelegationCreateForm:
    form = DelegationCreateForm(**kwargs)
    if current_user.role == "admin":
        form.delegator_id.choices = choices(
            (u.id, f"{u.display_name}({u.role_label}{_district(u)})")
            for u in delegations.delegators()
        )
        candidates = delegations.delegators()
    else:
        del form.delegator_id
        candidates = delegations.eligible_delegates(current_user)
    form.delegate_id.choices = choices(
        (u.id, f"{u.display_name}({u.role_label}{_district(u)})") for u in candidates
    )
    return form


def _district(user: User) -> str:
    return f" · {user.district.name}" if user.district else ""


def _render(form: DelegationCreateForm, *, error: str | None = None, status: int = 200):
    today = operations.local_today()
    return render_template(
        "delegations/index.html",
        form=form,
        given=delegations.given_by(current_user),
        received=delegations.received_by(current_user),
        overview=delegations.in_force(today) if current_user.role == "admin" else [],
        can_delegate=current_user.role in delegations.DELEGATING_ROLES,
        max_days=delegations.MAX_DAYS,
        today=today,
        error=error,
    ), status


@bp.get("/delegations")
def index():
    """My delegations (given and received) and the form to hand my reviews to a colleague."""
    _may_use_page()
    today = operations.local_today()
    return _render(_new_form(formdata=None, data={"starts_on": today, "ends_on": today}))


@bp.post("/delegations")
def create():
    """Set up a delegation; the delegate is told in their inbox."""
    _may_use_page()
    form = _new_form()
    if not form.validate_on_submit():
        return _render(form, status=form_status(form))
    if current_user.role == "admin":
        delegator = db.session.get(User, form.delegator_id.data)
    else:
        delegator = current_user
    try:
        delegation = delegations.create_delegation(
            delegator,
            db.session.get(User, form.delegate_id.data),
            form.starts_on.data,
            form.ends_on.data,
            form.reason.data,
            actor=current_user,
        )
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        for name, message in error.fields.items():
            if name in form:
                form[name].errors = [*form[name].errors, message]
        return _render(form, error=error.message, status=error.status)
    flash(
        f"已设置代理:{delegation.delegate.display_name}代{delegation.delegator.display_name}"
        f"办理({delegations.period_of(delegation)})",
        "success",
    )
    return redirect(url_for("delegations.index"))


@bp.post("/delegations/<int:delegation_id>/end")
def end(delegation_id: int):
    """End a delegation early (or call off one not yet started)."""
    delegation = _delegation_or_404(delegation_id)
    try:
        delegations.end_delegation(delegation, actor=current_user)
        db.session.commit()
    except OperationError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("delegations.index"))
    flash(f"已结束{delegation.delegate.display_name}的代理", "success")
    return redirect(url_for("delegations.index"))
