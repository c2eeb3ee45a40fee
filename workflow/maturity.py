"""A project's maturity (成熟度): its transition table as data, its guards, and one shared machine.

Only this module changes a project's ``maturity``. Like the declaration workflow, one
``transitions.Machine`` serves every project (``model=None``): events are fired with
``machine.events[name].trigger(project, ...)``, so no project is registered on the machine.

Some triggers belong to people (纳入储备, 开工, 竣工, 验收, 出库, 恢复入库); the others are fired
only by the declaration workflow (``follow``), never from a page.
"""

from collections.abc import Callable
from dataclasses import dataclass

from transitions import Machine

from . import vocab
from .errors import Refusal
from .extensions import db
from .models import AuditEvent, Project, User
from .types import utcnow


@dataclass(frozen=True)
class Context:
    """What a guard may know beyond the project and the actor."""

    reason: str = ""  # what the person typed (出库 needs one)
    system: bool = False  # fired by another workflow, not by a person
    cause: str = ""  # for system moves: which declaration outcome moved the project


@dataclass(frozen=True)
class Guard:
    """A named predicate with the reason it gives when it says no."""

    name: str
    check: Callable[[Project, User, Context], bool]
    message: str


def _in_own_district(project: Project, actor: User, ctx: Context) -> bool:
    return not actor.is_district_user or actor.district_id == project.district_id


def _has_reason(project: Project, actor: User, ctx: Context) -> bool:
    return bool(ctx.reason.strip())


def _has_no_open_declaration(project: Project, actor: User, ctx: Context) -> bool:
    return not any(d.stage in vocab.EDITABLE_STAGES for d in project.declarations)


in_own_district = Guard("in_own_district", _in_own_district, "只能处理本区县的项目")
# A draft left behind by 出库 could never be submitted; it is withdrawn first, on purpose.
has_no_open_declaration = Guard(
    "has_no_open_declaration",
    _has_no_open_declaration,
    "该项目还有草稿或退回修改的申报,请先撤回该申报",
)
has_reason = Guard("has_reason", _has_reason, "请填写出库原因")

# Choices (DOMAIN.md names the stages, not who moves between them):
# - district staff answer for their own district's projects, the city reviewer for all of them;
#   district reviewers review declarations, not the library, and 验收 and 恢复入库 are the city's.
# - SYSTEM triggers are fired only by the declaration workflow (submit → 申报中, approved →
#   已获批, not approved / not recommended / withdrawn → back to 储备); no person fires them.
# - a planned project may be submitted straight away (谋划 → 申报中), as before this machine.
# - 出库 only before declaring (谋划 / 储备) and with a reason; 恢复入库 puts it back in 储备.
STAFF_OR_CITY = ("district_staff", "city_reviewer")
CITY = ("city_reviewer",)
SYSTEM: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One row of the transition table."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    guards: tuple[Guard, ...] = ()

    @property
    def is_system(self) -> bool:
        return not self.roles


def _step(trigger, sources, dest, roles, guards=()) -> Step:
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    return Step(trigger, sources, dest, roles, tuple(guards))


TRANSITIONS: tuple[Step, ...] = (
    _step("admit_to_reserve", "planning", "reserve", STAFF_OR_CITY, (in_own_district,)),
    _step("start_declaring", ("planning", "reserve"), "declaring", SYSTEM),
    _step("fund", "declaring", "funded", SYSTEM),
    _step("return_to_reserve", "declaring", "reserve", SYSTEM),
    _step("start_construction", "funded", "under_construction", STAFF_OR_CITY, (in_own_district,)),
    _step(
        "complete_construction",
        "under_construction",
        "completed",
        STAFF_OR_CITY,
        (in_own_district,),
    ),
    _step("accept", "completed", "accepted", CITY),
    _step(
        "remove",
        ("planning", "reserve"),
        "removed",
        STAFF_OR_CITY,
        (in_own_district, has_reason, has_no_open_declaration),
    ),
    _step("restore", "removed", "reserve", CITY),
)

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(s.trigger for s in TRANSITIONS))
USER_TRIGGERS: tuple[str, ...] = tuple(s.trigger for s in TRANSITIONS if not s.is_system)
REASON_REQUIRED = frozenset(s.trigger for s in TRANSITIONS if has_reason in s.guards)


def step_for(trigger: str, maturity: str) -> Step | None:
    """The table row a trigger takes from a maturity, if any."""
    return next((s for s in TRANSITIONS if s.trigger == trigger and maturity in s.sources), None)


def check_action(project: Project, trigger: str, actor: User, ctx: Context) -> Refusal | None:
    """None when the actor may fire this trigger now, else the refusal with its reasons."""
    if trigger not in vocab.MATURITY_ACTIONS:
        return Refusal("stage", [f"未知的操作「{trigger}」"])
    label = vocab.MATURITY_ACTIONS[trigger]
    step = step_for(trigger, project.maturity)
    if step is None:
        return Refusal(
            "stage", [f"项目当前成熟度为「{project.maturity_label}」,不能执行「{label}」"]
        )
    if step.is_system:
        return Refusal("role", [f"「{label}」由申报流程自动执行,不能手工操作"])
    if actor.role not in step.roles:
        allowed = "、".join(vocab.ROLES[r] for r in step.roles)
        return Refusal("role", [f"「{label}」只能由{allowed}执行"])
    reasons = [g.message for g in step.guards if not g.check(project, actor, ctx)]
    return Refusal("guard", reasons) if reasons else None


def allowed_triggers(project: Project, actor: User) -> list[str]:
    """The triggers this actor could fire now, assuming they will type the reason asked for."""
    hypothetical = Context(reason="-")
    return [t for t in USER_TRIGGERS if check_action(project, t, actor, hypothetical) is None]


# --- the shared machine -------------------------------------------------------------------


def _condition(guard: Guard):
    def check(event) -> bool:
        return guard.check(event.model, event.kwargs["actor"], event.kwargs["context"])

    check.__name__ = guard.name
    return check


def _who_may(step: Step):
    roles = frozenset(step.roles)

    def check(event) -> bool:
        ctx: Context = event.kwargs["context"]
        # System rows only for the declaration workflow; people's rows only for people.
        return ctx.system if step.is_system else event.kwargs["actor"].role in roles

    check.__name__ = "is_system" if step.is_system else "has_role"
    return check


def _after_state_change(event) -> None:
    """Write the project's audit row and keep the 出库 reason."""
    project: Project = event.model
    ctx: Context = event.kwargs["context"]
    source, dest = event.transition.source, event.transition.dest
    before, after = {"maturity": source}, {"maturity": dest}
    reason = ctx.reason.strip()
    if dest == "removed":
        project.removed_reason = reason
        after["removed_reason"] = reason
    elif source == "removed":
        before["removed_reason"] = project.removed_reason
        project.removed_reason = None
    db.session.add(
        AuditEvent(
            at=utcnow(),
            actor=event.kwargs["actor"],
            object_type="project",
            object_id=project.id,
            action=event.event.name,
            before=before,
            after=after,
            comment=(reason or ctx.cause) or None,
        )
    )


machine = Machine(
    model=None,
    states=list(vocab.MATURITIES),
    initial="planning",
    transitions=[
        {
            "trigger": step.trigger,
            "source": list(step.sources),
            "dest": step.dest,
            "conditions": [_who_may(step)] + [_condition(g) for g in step.guards],
        }
        for step in TRANSITIONS
    ],
    auto_transitions=False,
    send_event=True,
    model_attribute="maturity",
    after_state_change=_after_state_change,
)


def fire(project: Project, trigger: str, *, actor: User, context: Context) -> bool:
    """Fire a trigger on the shared machine; returns whether a transition happened."""
    return machine.events[trigger].trigger(project, actor=actor, context=context)


def follow(project: Project, trigger: str, *, actor: User, cause: str) -> bool:
    """Fire a system trigger for another workflow's outcome; a no-op where the table has no row.

    A project already funded (or further) has no row for 申报中 or 储备, so it keeps its maturity.
    """
    if step_for(trigger, project.maturity) is None:
        return False
    return fire(project, trigger, actor=actor, context=Context(system=True, cause=cause))
