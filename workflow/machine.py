"""The declaration workflow: its transition table as data, its guards, and one shared machine.

Only this module changes a declaration's ``stage``. One ``transitions.Machine`` serves every
row (``model=None``): events are fired with ``machine.events[name].trigger(declaration, ...)``
so no declaration is ever registered on the machine and nothing accumulates per row.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from transitions import Machine

from . import maturity, vocab
from .errors import Refusal
from .extensions import db
from .models import AuditEvent, Declaration, ReviewOpinion, User
from .rules import missing_for_submission
from .types import utcnow


@dataclass(frozen=True)
class Context:
    """What a guard may know beyond the declaration and the actor."""

    today: date
    city_code: str
    comment: str = ""
    approval: dict | None = None  # 批复文号, 下达金额, date: for record_approval


@dataclass(frozen=True)
class Guard:
    """A named predicate with the reason it gives when it says no."""

    name: str
    check: Callable[[Declaration, User, Context], bool]
    reason: Callable[[Declaration, User, Context], list[str]]


def _static(message: str) -> Callable[[Declaration, User, Context], list[str]]:
    return lambda decl, actor, ctx: [message]


def _in_own_district(decl: Declaration, actor: User, ctx: Context) -> bool:
    return not actor.is_district_user or actor.district_id == decl.project.district_id


def _within_district_window(decl: Declaration, actor: User, ctx: Context) -> bool:
    program = decl.program
    return program.status == "open" and program.opens_on <= ctx.today <= program.district_deadline


def _district_window_reason(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    program = decl.program
    if program.status != "open":
        return [f"申报批次「{program.title}」当前{program.status_label},不接受提交"]
    if ctx.today < program.opens_on:
        return [f"申报批次尚未开放,开放日期为 {program.opens_on.isoformat()}"]
    return [f"已超过区县申报截止日期 {program.district_deadline.isoformat()}"]


def _within_city_window(decl: Declaration, actor: User, ctx: Context) -> bool:
    return ctx.today <= decl.program.city_deadline


def _is_complete(decl: Declaration, actor: User, ctx: Context) -> bool:
    return not missing_for_submission(decl, ctx.city_code, ctx.today)


def _has_comment(decl: Declaration, actor: User, ctx: Context) -> bool:
    return bool(ctx.comment.strip())


def _is_positive(amount) -> bool:
    try:
        return amount is not None and Decimal(str(amount)) > 0
    except InvalidOperation:
        return False


def _has_approval_record(decl: Declaration, actor: User, ctx: Context) -> bool:
    return not _approval_record_gaps(decl, actor, ctx)


def _approval_record_gaps(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    # A blank 文号 or a 下达金额 of zero records nothing an auditor could trace upstream.
    approval = ctx.approval or {}
    amount = approval.get("amount")
    gaps = []
    if (
        not (approval.get("doc_number") or "").strip()
        or amount is None
        or approval.get("approved_on") is None
    ):
        gaps.append("请填写批复文号、下达金额和批复日期")
    if amount is not None and not _is_positive(amount):
        gaps.append("下达金额必须大于 0")
    return gaps


in_own_district = Guard("in_own_district", _in_own_district, _static("只能处理本区县的申报"))
within_district_window = Guard(
    "within_district_window", _within_district_window, _district_window_reason
)


def _within_revision_window(decl: Declaration, actor: User, ctx: Context) -> bool:
    # A declaration sent back for revision is already in the pipeline: it may come back until
    # the city's own deadline, or a return after the district deadline could only end in 撤回.
    return decl.program.status in ("open", "closed") and ctx.today <= decl.program.city_deadline


def _revision_window_reason(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    program = decl.program
    if program.status not in ("open", "closed"):
        return [f"申报批次「{program.title}」当前{program.status_label},不接受提交"]
    return [f"已超过市级审核截止日期 {program.city_deadline.isoformat()},不能重新提交"]


within_revision_window = Guard(
    "within_revision_window", _within_revision_window, _revision_window_reason
)
within_city_window = Guard(
    "within_city_window",
    _within_city_window,
    lambda d, a, c: [f"已超过市级审核截止日期 {d.program.city_deadline.isoformat()}"],
)
is_complete = Guard(
    "is_complete", _is_complete, lambda d, a, c: missing_for_submission(d, c.city_code, c.today)
)
has_comment = Guard(
    "has_comment", _has_comment, _static("请填写意见(退回、不予推荐、未获批时必填)")
)
has_approval_record = Guard("has_approval_record", _has_approval_record, _approval_record_gaps)


def needs_expert_review(decl: Declaration) -> bool:
    """Whether the program asks for expert review first (a branch, not a refusal)."""
    return decl.program.requires_expert_review


STAFF = ("district_staff",)
DISTRICT_REVIEWER = ("district_reviewer",)
CITY = ("city_reviewer",)
RESULT_RECORDERS = ("manager", "city_reviewer")


@dataclass(frozen=True)
class Step:
    """One row of the transition table."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[Guard, ...] = ()
    # A branch condition: the row applies only when it returns this value.
    branch: Callable[[Declaration], bool] | None = None
    branch_value: bool = True
    opinion: bool = True  # a reviewer's action leaves a review opinion
    label: str = field(default="")


def _step(trigger, sources, dest, roles, guards=(), **kw) -> Step:
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    return Step(trigger, sources, dest, roles, tuple(guards), label=vocab.ACTIONS[trigger], **kw)


TRANSITIONS: tuple[Step, ...] = (
    _step(
        "submit",
        "draft",
        "district_review",
        STAFF,
        (in_own_district, within_district_window, is_complete),
        opinion=False,
    ),
    _step(
        "resubmit",
        "returned",
        "district_review",
        STAFF,
        (in_own_district, within_revision_window, is_complete),
        opinion=False,
    ),
    _step("withdraw", ("draft", "returned"), "withdrawn", STAFF, (in_own_district,), opinion=False),
    _step("approve", "district_review", "city_review", DISTRICT_REVIEWER, (in_own_district,)),
    _step(
        "return_for_revision",
        "district_review",
        "returned",
        DISTRICT_REVIEWER,
        (in_own_district, has_comment),
    ),
    _step(
        "approve",
        "city_review",
        "expert_review",
        CITY,
        (within_city_window,),
        branch=needs_expert_review,
        branch_value=True,
    ),
    _step(
        "approve",
        "city_review",
        "recommended",
        CITY,
        (within_city_window,),
        branch=needs_expert_review,
        branch_value=False,
    ),
    _step("approve", "expert_review", "recommended", CITY, (within_city_window,)),
    _step(
        "return_for_revision", ("city_review", "expert_review"), "returned", CITY, (has_comment,)
    ),
    _step("reject", ("city_review", "expert_review"), "not_recommended", CITY, (has_comment,)),
    _step("record_approval", "recommended", "approved", RESULT_RECORDERS, (has_approval_record,)),
    _step("record_rejection", "recommended", "not_approved", RESULT_RECORDERS, (has_comment,)),
)

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(s.trigger for s in TRANSITIONS))
# Triggers whose comment is required; the forms mark the field accordingly.
COMMENT_REQUIRED = frozenset(s.trigger for s in TRANSITIONS if has_comment in s.guards)


def steps_for(trigger: str, stage: str) -> list[Step]:
    """The table rows a trigger could take from a stage."""
    return [s for s in TRANSITIONS if s.trigger == trigger and stage in s.sources]


def step_for(trigger: str, decl: Declaration) -> Step | None:
    """The one row that applies to this declaration now, after branch conditions."""
    for step in steps_for(trigger, decl.stage):
        if step.branch is None or step.branch(decl) == step.branch_value:
            return step
    return None


def check_action(decl: Declaration, trigger: str, actor: User, ctx: Context) -> Refusal | None:
    """None when the actor may fire this trigger now, else the refusal with its reasons."""
    if trigger not in vocab.ACTIONS:
        return Refusal("stage", [f"未知的操作「{trigger}」"])
    step = step_for(trigger, decl)
    if step is None:
        return Refusal(
            "stage", [f"当前阶段「{decl.stage_label}」不能执行「{vocab.ACTIONS[trigger]}」"]
        )
    if actor.role not in step.roles:
        allowed = "、".join(vocab.ROLES[r] for r in step.roles)
        return Refusal("role", [f"「{vocab.ACTIONS[trigger]}」只能由{allowed}执行"])
    reasons: list[str] = []
    for guard in step.guards:
        if not guard.check(decl, actor, ctx):
            reasons.extend(guard.reason(decl, actor, ctx))
    return Refusal("guard", reasons) if reasons else None


def refusal_reasons(decl: Declaration, trigger: str, actor: User, ctx: Context) -> list[str]:
    """Why the actor may not fire this trigger now; an empty list means they may."""
    refusal = check_action(decl, trigger, actor, ctx)
    return refusal.reasons if refusal else []


_ANY_APPROVAL = {"doc_number": "-", "amount": 1, "approved_on": date.min}


def allowed_triggers(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    """The triggers this actor could fire now, assuming they will type the comment asked for."""
    hypothetical = replace(ctx, comment=ctx.comment or "-", approval=ctx.approval or _ANY_APPROVAL)
    return [t for t in TRIGGERS if not refusal_reasons(decl, t, actor, hypothetical)]


# --- the shared machine -------------------------------------------------------------------


def _condition(guard: Guard):
    def check(event) -> bool:
        return guard.check(event.model, event.kwargs["actor"], event.kwargs["context"])

    check.__name__ = guard.name
    return check


def _branch_condition(step: Step):
    def check(event) -> bool:
        return step.branch(event.model) == step.branch_value

    check.__name__ = f"branch_{step.trigger}_{step.dest}"
    return check


def _role_condition(roles: Iterable[str]):
    roles = frozenset(roles)

    def check(event) -> bool:
        return event.kwargs["actor"].role in roles

    check.__name__ = "has_role"
    return check


# The maturity trigger a declaration outcome fires on its project (see workflow/maturity.py).
MATURITY_TRIGGER_AFTER = {
    "district_review": "start_declaring",
    "approved": "fund",
    "not_approved": "return_to_reserve",
    "not_recommended": "return_to_reserve",
    "withdrawn": "return_to_reserve",
}


def _after_state_change(event) -> None:
    """Write the audit row, the review opinion and the effects of the new stage."""
    decl: Declaration = event.model
    actor: User = event.kwargs["actor"]
    ctx: Context = event.kwargs["context"]
    step: Step = event.kwargs["step"]
    source, dest = event.transition.source, event.transition.dest
    now = utcnow()
    after = {"stage": dest}
    if dest == "district_review":
        decl.submitted_at = now
    if dest == "approved":
        approval = ctx.approval or {}
        decl.approval_doc_number = approval["doc_number"].strip()
        decl.approved_amount = approval["amount"]
        decl.approved_on = approval["approved_on"]
        after.update(
            approval_doc_number=decl.approval_doc_number,
            approved_amount=str(decl.approved_amount),
            approved_on=decl.approved_on.isoformat(),
        )
    if step.opinion:
        db.session.add(
            ReviewOpinion(
                declaration=decl,
                stage=source,
                action=step.trigger,
                comment=ctx.comment.strip(),
                reviewer=actor,
                created_at=now,
            )
        )
    db.session.add(
        AuditEvent(
            at=now,
            actor=actor,
            object_type="declaration",
            object_id=decl.id,
            action=step.trigger,
            before={"stage": source, "version": decl.version},
            after=after,
            comment=ctx.comment.strip() or None,
        )
    )
    _move_project_maturity(decl, dest, actor)


def _move_project_maturity(decl: Declaration, dest: str, actor: User) -> None:
    """Fire the maturity machine's system trigger for this declaration outcome."""
    trigger = MATURITY_TRIGGER_AFTER.get(dest)
    if trigger is None:
        return
    if trigger == "return_to_reserve" and any(
        d.id != decl.id and d.stage not in vocab.FINAL_STAGES | {"draft"}
        for d in decl.project.declarations
    ):
        return  # another declaration of the project is still under way: it stays 申报中
    maturity.follow(
        decl.project, trigger, actor=actor, cause=f"申报 #{decl.id} {vocab.STAGES[dest]}"
    )


machine = Machine(
    model=None,
    states=list(vocab.STAGES),
    initial="draft",
    transitions=[
        {
            "trigger": step.trigger,
            "source": list(step.sources),
            "dest": step.dest,
            "conditions": [_role_condition(step.roles)]
            + ([_branch_condition(step)] if step.branch else [])
            + [_condition(g) for g in step.guards],
        }
        for step in TRANSITIONS
    ],
    auto_transitions=False,
    send_event=True,
    model_attribute="stage",
    after_state_change=_after_state_change,
)


def fire(decl: Declaration, trigger: str, *, actor: User, context: Context) -> bool:
    """Fire a trigger on the shared machine; returns whether a transition happened."""
    step = step_for(trigger, decl)
    return machine.events[trigger].trigger(decl, actor=actor, context=context, step=step)


def mermaid_diagram(current: str | None = None) -> str:
    """The workflow as Mermaid state-diagram text, built from the table that runs."""
    lines = ["stateDiagram-v2", "    [*] --> draft"]
    for code, name in vocab.STAGES.items():
        lines.append(f"    {code} : {name}")
    for step in TRANSITIONS:
        for source in step.sources:
            note = ""
            if step.branch is not None:
                note = "(需专家评审)" if step.branch_value else "(无需专家评审)"
            lines.append(f"    {source} --> {step.dest} : {step.label}{note}")
    for final in sorted(vocab.FINAL_STAGES):
        lines.append(f"    {final} --> [*]")
    if current:
        lines.append("    classDef current fill:#fde68a,stroke:#b45309,stroke-width:2px")
        lines.append(f"    class {current} current")
    return "\n".join(lines) + "\n"
