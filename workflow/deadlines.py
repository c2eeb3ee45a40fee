"""Deadlines and time: stage reminders, escalation of overdue stages, and closing stale drafts.

The engine (workflow/machine.py) gives a declaration its ``stage_due_on`` when it enters a
stage with ``due_working_days``, counted in Chinese working days (workflow/workdays.py). From
that date this module:

- reminds the people who can act in the stage, from ``remind_before`` working days before the
  due date up to the due date (``send_stage_reminders``);
- after the due date, tells the stage's ``escalate_to`` roles (督办) and the people who can act
  (``escalate_overdue``);
- closes drafts whose program window has closed, through the system trigger 逾期自动关闭
  (``close_expired_drafts``, run by the scheduler at night, see workflow/jobs.py).

Each message goes out once per stage entry (its ``dedupe_key`` names the declaration, the stage
and when it was entered), so the jobs may run any number of times a day, and a declaration that
comes back to a stage after a return is reminded afresh.
"""

import logging
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from . import countersign, experts, machine, operations, vocab
from .definitions import StageDef
from .extensions import db
from .models import Declaration, Delegation, FundingProgram, User
from .notifications import active_users, notify
from .workdays import working_days_before, working_days_between

log = logging.getLogger(__name__)

# Notification titles are 200 characters at most; a long project name is cut, not refused.
TITLE_LIMIT = 200
# Programs in these states take no more submissions: their drafts can never be submitted.
CLOSED_PROGRAM_STATUSES = ("closed", "archived")


def stage_of(decl: Declaration) -> StageDef | None:
    """The definition of the stage the declaration is in (None if its workflow is unknown)."""
    try:
        return machine.workflow_for(decl).stage(decl.stage)
    except LookupError:
        # A definition file removed while declarations still used it: the admin must restore it;
        # the other declarations' reminders still go out.
        log.exception("declaration %s: workflow definition missing", decl.id)
        return None


def reminder_day(decl: Declaration, stage: StageDef | None = None) -> date | None:
    """The first day the people who act in the stage are reminded of its due date."""
    stage = stage or stage_of(decl)
    if decl.stage_due_on is None or stage is None:
        return None
    return working_days_before(decl.stage_due_on, stage.remind_before)


def working_days_left(decl: Declaration, today: date) -> int | None:
    """Working days from today to the stage's due date (negative once it is overdue)."""
    if decl.stage_due_on is None:
        return None
    return working_days_between(today, decl.stage_due_on)


def _entry_key(decl: Declaration) -> str:
    """What tells one stay in a stage from the next (a return and resubmission re-enters)."""
    entered = decl.stage_entered_at.strftime("%Y%m%d%H%M%S%f") if decl.stage_entered_at else "-"
    return f"{decl.id}-{decl.stage}-{entered}"


def _title(prefix: str, decl: Declaration) -> str:
    return f"{prefix}{decl.project.name}"[:TITLE_LIMIT]


def _link(decl: Declaration) -> str:
    return f"/declarations/{decl.id}"


def _role_users(roles, decl: Declaration) -> list[User]:
    """Active users of these roles; district roles only in the declaration's district."""
    users: list[User] = []
    for role in dict.fromkeys(roles):
        district_id = decl.district_id if role in vocab.DISTRICT_ROLES else None
        users.extend(active_users(role=role, district_id=district_id))
    return users


def _delegates_of(users: list[User], today: date) -> list[User]:
    """Who stands in today for any of these users (代理): they do the work, so they hear of it."""
    if not users:
        return []
    return list(
        db.session.scalars(
            select(User)
            .join(Delegation, Delegation.delegate_id == User.id)
            .where(
                Delegation.delegator_id.in_([u.id for u in users]),
                Delegation.ended_at.is_(None),
                Delegation.starts_on <= today,
                Delegation.ends_on >= today,
                User.active.is_(True),
            )
            .order_by(User.id)
            .distinct()
        )
    )


def _unique(users: list[User]) -> list[User]:
    return list({u.id: u for u in users}.values())


def stage_actors(decl: Declaration, today: date) -> list[User]:
    """The users who can act on the declaration in its current stage, and their delegates.

    The roles of the steps leaving the stage (system-only steps have none); district roles only
    within the declaration's district. In a countersign stage the signers who have signed are
    done, so only the pending seats count; in an expert review the assigned experts who have not
    scored yet are part of the work too.
    """
    workflow = machine.workflow_for(decl)
    stage = workflow.stage(decl.stage)
    roles = [r for step in workflow.steps if decl.stage in step.sources for r in step.roles]
    if stage is not None and stage.kind == "countersign":
        users = countersign.pending_signers(decl, stage)
        users += _role_users([r for r in roles if r not in stage.signers], decl)
    else:
        users = _role_users(roles, decl)
    if stage is not None and stage.kind == "expert_review":
        users += [a.expert for a in experts.active_assignments(decl) if a.score is None]
    users = _unique(users)
    return _unique(users + _delegates_of(users, today))


def _with_due_dates(*conditions) -> list[Declaration]:
    return list(
        db.session.scalars(
            select(Declaration)
            .where(Declaration.stage_due_on.is_not(None), *conditions)
            .options(joinedload(Declaration.project), joinedload(Declaration.program))
            .order_by(Declaration.stage_due_on, Declaration.id)
        ).unique()
    )


def send_stage_reminders(today: date) -> int:
    """Remind who can act of each stage due soon, from its reminder day to its due date.

    Once per user and stage entry; returns how many messages were new. The caller commits.
    """
    sent = 0
    for decl in _with_due_dates(Declaration.stage_due_on >= today):
        stage = stage_of(decl)
        start = reminder_day(decl, stage)
        if start is None or not start <= today <= decl.stage_due_on:
            continue
        due = decl.stage_due_on.isoformat()
        left = working_days_left(decl, today)
        when = f"今天({due})到期" if left <= 0 else f"将于 {due} 到期,还剩 {left} 个工作日"
        sent += notify(
            stage_actors(decl, today),
            "stage_due",
            _title("审核即将到期:", decl),
            body=(
                f"{decl.project.district.name}申报「{decl.project.name}」处于"
                f"「{decl.stage_label}」阶段,办理时限{when},请及时处理。"
            ),
            link=_link(decl),
            dedupe_key=f"stage-due-{_entry_key(decl)}",
        )
    return sent


def escalate_overdue(today: date) -> int:
    """After a stage's due date, tell its ``escalate_to`` roles (督办) and who can act, once.

    Returns how many messages were new. The caller commits.
    """
    sent = 0
    for decl in _with_due_dates(Declaration.stage_due_on < today):
        stage = stage_of(decl)
        if stage is None:
            continue
        due = decl.stage_due_on.isoformat()
        late = working_days_between(decl.stage_due_on, today)
        # Days after the due date that are all holidays count 0 working days: still overdue.
        lateness = f"已逾期 {late} 个工作日" if late > 0 else "已逾期"
        where = (
            f"{decl.project.district.name}申报「{decl.project.name}」在"
            f"「{decl.stage_label}」阶段超过办理时限 {due},{lateness}"
        )
        key = f"stage-overdue-{_entry_key(decl)}"
        actors = stage_actors(decl, today)
        acting = {u.id for u in actors}
        # Someone who both supervises and acts (a manager who also signs) gets the call to act.
        supervisors = [u for u in _role_users(stage.escalate_to, decl) if u.id not in acting]
        sent += notify(
            supervisors,
            "stage_overdue",
            _title("审核逾期督办:", decl),
            body=f"{where},请督促办理。",
            link=_link(decl),
            dedupe_key=key,
        )
        sent += notify(
            actors,
            "stage_overdue",
            _title("审核已逾期:", decl),
            body=f"{where},请尽快处理。",
            link=_link(decl),
            dedupe_key=key,
        )
    return sent


def draft_expiry_cause(program: FundingProgram, today: date) -> str:
    """Why a draft of this program is closed, as the audit row and the staff will read it."""
    if program.district_deadline < today:
        return (
            f"申报批次「{program.title}」已于 {program.district_deadline.isoformat()} 截止,"
            "草稿逾期未提交,系统自动关闭"
        )
    return f"申报批次「{program.title}」{program.status_label},不再接受提交,草稿未提交,系统自动关闭"


def _expired_draft_ids(today: date) -> list[int]:
    starts = {w.definition.start for w in machine.all_workflows()}
    return list(
        db.session.scalars(
            select(Declaration.id)
            .join(FundingProgram, Declaration.program_id == FundingProgram.id)
            .where(
                Declaration.stage.in_(starts),
                or_(
                    FundingProgram.district_deadline < today,
                    FundingProgram.status.in_(CLOSED_PROGRAM_STATUSES),
                ),
            )
            .order_by(Declaration.id)
        )
    )


def close_expired_drafts(today: date) -> int:
    """Close every draft whose program window has closed (逾期自动关闭); returns how many.

    Each declaration is its own transaction (with its audit row and the message to its
    district's staff), so one that fails is logged and the others are still closed.
    """
    closed = 0
    for decl_id in _expired_draft_ids(today):
        try:
            decl = db.session.get(Declaration, decl_id)
            stage = stage_of(decl)
            if stage is None or stage.kind != "start":
                continue  # its own workflow starts elsewhere, or it moved on since the query
            cause = draft_expiry_cause(decl.program, today)
            if not operations.expire_declaration(decl, cause=cause):
                log.warning("draft declaration %s cannot expire in its workflow", decl_id)
                db.session.rollback()
                continue
            notify(
                active_users(role="district_staff", district_id=decl.district_id),
                "stage_overdue",
                _title("草稿已逾期关闭:", decl),
                body=f"{cause}。如仍需申报,请关注后续批次。",
                link=_link(decl),
                dedupe_key=f"draft-expired-{decl.id}",
            )
            db.session.commit()
            closed += 1
        except Exception:
            db.session.rollback()
            log.exception("closing expired draft declaration %s failed", decl_id)
    return closed
