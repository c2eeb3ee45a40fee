"""The declaration workflows: each definition (workflow/definitions.py) as one shared machine.

Only this module changes a declaration's ``stage``. Each checked definition becomes a
``Workflow``: its transition table with the guards resolved by name, and one
``transitions.Machine`` (``model=None``) that serves every declaration following that
definition and version; events are fired with ``machine.events[name].trigger(decl, ...)``, so no
declaration is registered on a machine and nothing accumulates per row. A declaration follows
the definition and version it started with (``workflow_name``, ``workflow_version``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app
from transitions import Machine

from . import countersign, definitions, delegations, experts, maturity, vocab
from .definitions import Definition, StageDef
from .errors import Refusal
from .extensions import db
from .models import AuditEvent, Declaration, FundingProgram, ReviewOpinion, User
from .rules import missing_for_submission
from .types import utcnow
from .workdays import add_working_days


@dataclass(frozen=True)
class Context:
    """What a guard may know beyond the declaration and the actor."""

    today: date
    city_code: str
    comment: str = ""
    approval: dict | None = None  # 批复文号, 下达金额, date: for record_approval
    on_behalf_of: User | None = None  # a delegate acts for this reviewer (代理)
    system: bool = False  # fired by the system (a scheduled job), not by a person


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


def _scoring_gaps(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    stage = workflow_for(decl).definition.stage(decl.stage)
    return experts.scoring_gaps(decl, min_experts=stage.min_experts if stage else 1)


experts_have_scored = Guard(
    "experts_have_scored", lambda d, a, c: not _scoring_gaps(d, a, c), _scoring_gaps
)

# Every guard a definition may name, by name.
GUARDS: dict[str, Guard] = {
    g.name: g
    for g in (
        in_own_district,
        within_district_window,
        within_revision_window,
        within_city_window,
        is_complete,
        has_comment,
        has_approval_record,
        experts_have_scored,
    )
}


@dataclass(frozen=True)
class Step:
    """One row of a workflow's transition table, its guards resolved."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]  # empty: fired by the system only
    guards: tuple[Guard, ...] = ()
    opinion: bool = True  # a reviewer's action leaves a review opinion
    label: str = field(default="")

    @property
    def is_system(self) -> bool:
        return not self.roles


# The maturity trigger a declaration outcome fires on its project (see workflow/maturity.py).
MATURITY_TRIGGER_AFTER = {
    "district_review": "start_declaring",
    "approved": "fund",
    "not_approved": "return_to_reserve",
    "not_recommended": "return_to_reserve",
    "withdrawn": "return_to_reserve",
    "expired": "return_to_reserve",
}


class Workflow:
    """One definition, ready to run: its steps, its stages, and its one shared machine."""

    def __init__(self, definition: Definition):
        self.definition = definition
        self.steps: tuple[Step, ...] = tuple(
            Step(
                t.trigger,
                t.sources,
                t.dest,
                t.roles,
                tuple(GUARDS[name] for name in t.guards),
                t.opinion,
                label=vocab.ACTIONS[t.trigger],
            )
            for t in definition.transitions
        )
        self.triggers: tuple[str, ...] = tuple(dict.fromkeys(s.trigger for s in self.steps))
        # Triggers whose comment is required; the forms mark the field accordingly.
        self.comment_required = frozenset(s.trigger for s in self.steps if has_comment in s.guards)
        self.machine = Machine(
            model=None,
            states=[s.code for s in definition.stages],
            initial=definition.start,
            transitions=[
                {
                    "trigger": step.trigger,
                    "source": list(step.sources),
                    "dest": step.dest,
                    "conditions": [_who_may(step)]
                    + ([_quorum_condition(self)] if step.trigger == "approve" else [])
                    + [_condition(g) for g in step.guards],
                }
                for step in self.steps
            ],
            auto_transitions=False,
            send_event=True,
            model_attribute="stage",
            after_state_change=_after_state_change,
        )

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def version(self) -> int:
        return self.definition.version

    def stage(self, code: str) -> StageDef | None:
        """The definition's stage with this code."""
        return self.definition.stage(code)

    def step_for(self, trigger: str, stage: str) -> Step | None:
        """The one row a trigger takes from a stage, if any."""
        return next((s for s in self.steps if s.trigger == trigger and stage in s.sources), None)

    def check_action(
        self, decl: Declaration, trigger: str, actor: User | None, ctx: Context
    ) -> Refusal | None:
        """None when the actor may fire this trigger now, else the refusal with its reasons."""
        if trigger not in vocab.ACTIONS:
            return Refusal("stage", [f"未知的操作「{trigger}」"])
        label = vocab.ACTIONS[trigger]
        step = self.step_for(trigger, decl.stage)
        if step is None:
            return Refusal("stage", [f"当前阶段「{decl.stage_label}」不能执行「{label}」"])
        if step.is_system or ctx.system or actor is None:
            if step.is_system and ctx.system:
                return None
            if step.is_system:
                return Refusal("role", [f"「{label}」由系统自动执行,不能手工操作"])
            return Refusal("role", [f"「{label}」只能由人工执行"])
        # A delegate acts with the rights of the reviewer they stand in for.
        principal = ctx.on_behalf_of or actor
        if ctx.on_behalf_of is not None and not delegations.is_delegate(
            actor, ctx.on_behalf_of, ctx.today
        ):
            return Refusal("role", [f"您不是{ctx.on_behalf_of.display_name}的有效代理人"])
        if principal.role not in step.roles:
            allowed = "、".join(vocab.ROLES[r] for r in step.roles)
            return Refusal("role", [f"「{label}」只能由{allowed}执行"])
        reasons: list[str] = []
        for guard in step.guards:
            if not guard.check(decl, principal, ctx):
                reasons.extend(guard.reason(decl, principal, ctx))
        stage = self.stage(decl.stage)
        if trigger == "approve" and stage is not None and stage.kind == "countersign":
            reasons.extend(countersign.sign_refusal(decl, stage, principal, actor))
        return Refusal("guard", reasons) if reasons else None

    def allowed_triggers(self, decl: Declaration, actor: User, ctx: Context) -> list[str]:
        """The triggers this actor could fire now, assuming they type the comment asked for."""
        hypothetical = replace(
            ctx, comment=ctx.comment or "-", approval=ctx.approval or _ANY_APPROVAL
        )
        return [t for t in self.triggers if self.check_action(decl, t, actor, hypothetical) is None]

    def is_countersign_approval(self, decl: Declaration, trigger: str) -> bool:
        """Whether this trigger adds a signature in a countersign stage rather than moving on."""
        stage = self.stage(decl.stage)
        return trigger == "approve" and stage is not None and stage.kind == "countersign"

    def fire(
        self, decl: Declaration, trigger: str, *, actor: User | None, context: Context
    ) -> bool:
        """Fire a trigger on this workflow's machine; returns whether a transition happened."""
        step = self.step_for(trigger, decl.stage)
        return self.machine.events[trigger].trigger(
            decl, actor=actor, context=context, step=step, workflow=self
        )

    def mermaid(self, current: str | None = None) -> str:
        """The workflow as Mermaid state-diagram text, built from the table that runs."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.definition.start}"]
        for stage in self.definition.stages:
            plain = ("start", "approval", "revision", "final")
            kind = "" if stage.kind in plain else f"({_kind_note(stage)})"
            lines.append(f"    {stage.code} : {stage.label}{kind}")
        for step in self.steps:
            for source in step.sources:
                who = "(系统)" if step.is_system else ""
                lines.append(f"    {source} --> {step.dest} : {step.label}{who}")
        for final in self.definition.final_stages:
            lines.append(f"    {final} --> [*]")
        if current:
            lines.append("    classDef current fill:#fde68a,stroke:#b45309,stroke-width:2px")
            lines.append(f"    class {current} current")
        return "\n".join(lines) + "\n"


def _kind_note(stage: StageDef) -> str:
    if stage.kind == "countersign":
        return f"会签:{stage.rule_label}"
    return definitions.STAGE_KINDS[stage.kind]


_ANY_APPROVAL = {"doc_number": "-", "amount": 1, "approved_on": date.min}


# --- the machines' callbacks ----------------------------------------------------------------


def _condition(guard: Guard):
    def check(event) -> bool:
        ctx: Context = event.kwargs["context"]
        principal = ctx.on_behalf_of or event.kwargs["actor"]
        return guard.check(event.model, principal, ctx)

    check.__name__ = guard.name
    return check


def _who_may(step: Step):
    roles = frozenset(step.roles)

    def check(event) -> bool:
        ctx: Context = event.kwargs["context"]
        if step.is_system:
            return ctx.system
        principal = ctx.on_behalf_of or event.kwargs["actor"]
        return not ctx.system and principal is not None and principal.role in roles

    check.__name__ = "is_system" if step.is_system else "has_role"
    return check


def _quorum_condition(workflow: Workflow):
    def check(event) -> bool:
        stage = workflow.stage(event.model.stage)
        if stage is None or stage.kind != "countersign":
            return True
        return countersign.quorum_met(event.model, stage)

    check.__name__ = "quorum_met"
    return check


def _local_today() -> date:
    return utcnow().astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()


def _after_state_change(event) -> None:
    """Write the audit row, the review opinion and the effects of the new stage."""
    decl: Declaration = event.model
    actor: User | None = event.kwargs["actor"]
    ctx: Context = event.kwargs["context"]
    step: Step = event.kwargs["step"]
    workflow: Workflow = event.kwargs["workflow"]
    source, dest = event.transition.source, event.transition.dest
    now = utcnow()
    after: dict = {"stage": dest}
    decl.stage_entered_at = now
    stage = workflow.stage(dest)
    decl.stage_due_on = (
        add_working_days(_local_today(), stage.due_working_days)
        if stage is not None and stage.due_working_days
        else None
    )
    if decl.stage_due_on:
        after["due_on"] = decl.stage_due_on.isoformat()
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
    left = workflow.stage(source)
    if dest == "returned" and left is not None:
        # Sent back: what was gathered in the stage it leaves no longer speaks for the new text.
        if left.kind == "countersign":
            after["voided_signatures"] = countersign.void(decl, source, now)
        if left.kind == "expert_review":
            after["voided_expert_assignments"] = experts.void_assignments(decl, now)
    if step.opinion and actor is not None:
        db.session.add(
            ReviewOpinion(
                declaration=decl,
                stage=source,
                action=step.trigger,
                comment=ctx.comment.strip(),
                reviewer=actor,
                on_behalf_of=ctx.on_behalf_of,
                created_at=now,
            )
        )
    db.session.add(
        AuditEvent(
            at=now,
            actor=actor,
            on_behalf_of=ctx.on_behalf_of,
            object_type="declaration",
            object_id=decl.id,
            action=step.trigger,
            before={"stage": source, "version": decl.version},
            after=after,
            comment=ctx.comment.strip() or None,
        )
    )
    _move_project_maturity(decl, dest, actor)


def _move_project_maturity(decl: Declaration, dest: str, actor: User | None) -> None:
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


# --- the registry of workflows ---------------------------------------------------------------


@cache
def _registry() -> dict[tuple[str, int], Workflow]:
    """Every shipped definition, checked and built once per process."""
    found = definitions.load_folder(definitions.FOLDER, guards=GUARDS)
    return {key: Workflow(defn) for key, defn in sorted(found.items())}


def all_workflows() -> list[Workflow]:
    """Every definition and version, by name then version."""
    return list(_registry().values())


def latest(name: str) -> Workflow | None:
    """The newest version of a definition, for new declarations."""
    versions = [w for (n, _), w in _registry().items() if n == name]
    return versions[-1] if versions else None


def workflow_names() -> dict[str, str]:
    """The definitions a program may choose: name → title of the newest version."""
    return {w.name: w.definition.title for w in all_workflows() if latest(w.name) is w}


def get(name: str, version: int) -> Workflow | None:
    """One definition at one version."""
    return _registry().get((name, version))


def workflow_for(decl: Declaration) -> Workflow:
    """The definition and version a declaration started with."""
    found = get(decl.workflow_name, decl.workflow_version)
    if found is None:
        raise LookupError(
            f"申报 #{decl.id} 使用的流程 {decl.workflow_name} 第 {decl.workflow_version} 版不存在"
        )
    return found


def workflow_for_program(program: FundingProgram) -> Workflow:
    """The definition new declarations of this program start with (its newest version)."""
    found = latest(program.workflow_name)
    if found is None:
        raise LookupError(f"申报批次使用的流程「{program.workflow_name}」不存在")
    return found


# The module-level API the rest of the app uses: each call goes to the declaration's workflow.


def check_action(
    decl: Declaration, trigger: str, actor: User | None, ctx: Context
) -> Refusal | None:
    """None when the actor may fire this trigger now, else the refusal with its reasons."""
    return workflow_for(decl).check_action(decl, trigger, actor, ctx)


def refusal_reasons(decl: Declaration, trigger: str, actor: User, ctx: Context) -> list[str]:
    """Why the actor may not fire this trigger now; an empty list means they may."""
    refusal = check_action(decl, trigger, actor, ctx)
    return refusal.reasons if refusal else []


def allowed_triggers(decl: Declaration, actor: User, ctx: Context) -> list[str]:
    """The triggers this actor could fire now, assuming they type the comment asked for."""
    return workflow_for(decl).allowed_triggers(decl, actor, ctx)


def comment_required(decl: Declaration) -> frozenset[str]:
    """The triggers of the declaration's workflow that need a comment."""
    return workflow_for(decl).comment_required


def fire(decl: Declaration, trigger: str, *, actor: User | None, context: Context) -> bool:
    """Fire a trigger on the declaration's machine; returns whether a transition happened."""
    return workflow_for(decl).fire(decl, trigger, actor=actor, context=context)


def mermaid_diagram(current: str | None = None, *, name: str = "default") -> str:
    """The newest version of a definition as Mermaid text, the current stage highlighted."""
    workflow = latest(name)
    if workflow is None:
        raise LookupError(f"流程「{name}」不存在")
    return workflow.mermaid(current)
