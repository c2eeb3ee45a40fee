"""Delegation (代理): a reviewer's tasks handed to another user of the same role for a period.

The delegate acts "on behalf of" the reviewer: the audit row and the review opinion name both,
and the dossier prints it. A delegation ends by itself after its last day (``ends_on`` is
inclusive); the delegator or an admin may end it earlier.

Rules chosen where the issue is silent: only reviewers delegate (区县审核员, 市级审核员, 管理人员);
a period is at most ``MAX_DAYS`` calendar days (a quarter: longer absences are a change of post,
not a stand-in); one delegator has at most one delegation in force on any day; and nobody is
made a delegate for days on which they have handed their own tasks away.
"""

from datetime import date

from sqlalchemy import select

from . import vocab
from .audit import record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import Delegation, User
from .types import utcnow

# The roles whose users review and may therefore hand their reviews to a colleague.
DELEGATING_ROLES = ("district_reviewer", "city_reviewer", "manager")
MAX_DAYS = 90
REASON_MAX_LENGTH = 500
STATUSES = {"active": "生效中", "upcoming": "未开始", "ended": "已结束"}
NOT_A_PRINCIPAL = "您不是该用户的有效代理人,不能代其办理"


def _active(day: date):
    return (
        Delegation.ended_at.is_(None),
        Delegation.starts_on <= day,
        Delegation.ends_on >= day,
    )


def _today() -> date:
    # Imported here: operations imports the machine, which imports this module.
    from .operations import local_today

    return local_today()


def is_delegate(actor: User, principal: User, day: date) -> bool:
    """Whether ``actor`` may act for ``principal`` on that day."""
    if actor.id == principal.id or not principal.active:
        return False
    found = db.session.scalar(
        select(Delegation.id).where(
            Delegation.delegator_id == principal.id,
            Delegation.delegate_id == actor.id,
            *_active(day),
        )
    )
    return found is not None


def principals_of(actor: User, day: date) -> list[User]:
    """The users ``actor`` stands in for on that day."""
    return list(
        db.session.scalars(
            select(User)
            .join(Delegation, Delegation.delegator_id == User.id)
            .where(Delegation.delegate_id == actor.id, User.active.is_(True), *_active(day))
            .order_by(User.id)
            .distinct()
        )
    )


def principal_of(actor: User, user_id, day: date) -> User | None:
    """The user with this id (a form's or a request's text or int) if ``actor`` stands in for
    them that day, else None."""
    if isinstance(user_id, str):
        user_id = int(user_id) if user_id.strip().isdigit() else None
    if not isinstance(user_id, int):
        return None
    principal = db.session.get(User, user_id)
    if principal is None or not is_delegate(actor, principal, day):
        return None
    return principal


def acting_name(actor: User | None, on_behalf_of: User | None = None) -> str:
    """How a record names who acted: "张三", "张三(代 李四)" for a delegate, "系统" for a job."""
    if actor is None:
        return "系统"
    if on_behalf_of is None:
        return actor.display_name
    return f"{actor.display_name}(代 {on_behalf_of.display_name})"


def status_of(delegation: Delegation, day: date) -> str:
    """active, upcoming or ended (by hand, or by itself after its last day)."""
    if delegation.ended_at is not None or delegation.ends_on < day:
        return "ended"
    if delegation.starts_on > day:
        return "upcoming"
    return "active"


def status_label(delegation: Delegation, day: date) -> str:
    """生效中, 未开始 or 已结束."""
    return STATUSES[status_of(delegation, day)]


def can_manage(delegation: Delegation, user: User) -> bool:
    """Whether the user may see and end this delegation: its delegator, or an admin."""
    return user.role == "admin" or delegation.delegator_id == user.id


def eligible_delegates(delegator: User) -> list[User]:
    """The users a delegator may hand their tasks to: active colleagues of the same role
    (of the same district for a district reviewer)."""
    if delegator.role not in DELEGATING_ROLES:
        return []
    query = select(User).where(
        User.role == delegator.role, User.active.is_(True), User.id != delegator.id
    )
    if delegator.role in vocab.DISTRICT_ROLES:
        query = query.where(User.district_id == delegator.district_id)
    return list(db.session.scalars(query.order_by(User.id)))


def delegators() -> list[User]:
    """Every active user who may delegate (an admin sets delegations up for them)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_(DELEGATING_ROLES), User.active.is_(True))
            .order_by(User.role, User.district_id, User.id)
        )
    )


def given_by(user: User) -> list[Delegation]:
    """The delegations the user made, newest period first."""
    return list(
        db.session.scalars(
            select(Delegation)
            .where(Delegation.delegator_id == user.id)
            .order_by(Delegation.starts_on.desc(), Delegation.id.desc())
        )
    )


def received_by(user: User) -> list[Delegation]:
    """The delegations that make the user a delegate, newest period first."""
    return list(
        db.session.scalars(
            select(Delegation)
            .where(Delegation.delegate_id == user.id)
            .order_by(Delegation.starts_on.desc(), Delegation.id.desc())
        )
    )


def in_force(day: date) -> list[Delegation]:
    """Every delegation active or still to come on that day (the admin's overview)."""
    return list(
        db.session.scalars(
            select(Delegation)
            .where(Delegation.ended_at.is_(None), Delegation.ends_on >= day)
            .order_by(Delegation.starts_on, Delegation.id)
        )
    )


def _overlapping(user_column, user: User, starts_on: date, ends_on: date):
    """Live delegations of the user (as delegator or delegate) whose period meets this one."""
    return select(Delegation).where(
        user_column == user.id,
        Delegation.ended_at.is_(None),
        Delegation.starts_on <= ends_on,
        Delegation.ends_on >= starts_on,
    )


def _period(starts_on: date, ends_on: date) -> str:
    return f"{starts_on.isoformat()} 至 {ends_on.isoformat()}"


def _refuse_delegate(delegator: User, delegate: User | None) -> None:
    message = None
    if delegate is None:
        message = "请选择代理人"
    elif delegate.id == delegator.id:
        message = "不能委托给自己"
    elif not delegate.active:
        message = f"{delegate.display_name}已停用,不能作为代理人"
    elif delegate.role != delegator.role:
        message = f"代理人须与委托人同为{delegator.role_label}"
    elif delegator.role in vocab.DISTRICT_ROLES and delegate.district_id != delegator.district_id:
        message = "区县审核员只能委托本区县的审核员"
    if message:
        raise Invalid(message, fields={"delegate_id": message})


def _refuse_period(starts_on: date | None, ends_on: date | None, today: date) -> None:
    fields = {}
    if starts_on is None:
        fields["starts_on"] = "请填写开始日期"
    elif starts_on < today:
        fields["starts_on"] = f"开始日期不能早于今天({today.isoformat()})"
    if ends_on is None:
        fields["ends_on"] = "请填写结束日期"
    elif starts_on is not None and ends_on < starts_on:
        fields["ends_on"] = "结束日期不能早于开始日期"
    elif starts_on is not None and (ends_on - starts_on).days + 1 > MAX_DAYS:
        fields["ends_on"] = f"代理期限最长 {MAX_DAYS} 天(含首尾两天)"
    if fields:
        raise Invalid(";".join(fields.values()), fields=fields)


def create_delegation(
    delegator: User,
    delegate: User | None,
    starts_on: date | None,
    ends_on: date | None,
    reason: str,
    *,
    actor: User,
) -> Delegation:
    """Hand the delegator's reviews to a colleague from ``starts_on`` to ``ends_on`` (inclusive).

    The delegator sets it up themself, or an admin does for them; the delegate is told.
    """
    if actor.role != "admin" and actor.id != delegator.id:
        raise NotPermitted("只能为自己设置代理(管理员可为他人设置)")
    if delegator.role not in DELEGATING_ROLES:
        allowed = "、".join(vocab.ROLES[r] for r in DELEGATING_ROLES)
        raise NotPermitted(f"只有{allowed}可以设置代理")
    if not delegator.active:
        raise Invalid(f"{delegator.display_name}已停用,不能设置代理")
    _refuse_delegate(delegator, delegate)
    _refuse_period(starts_on, ends_on, _today())
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("请填写代理事由", fields={"reason": "请填写代理事由"})
    if len(reason) > REASON_MAX_LENGTH:
        message = f"代理事由不能超过 {REASON_MAX_LENGTH} 字"
        raise Invalid(message, fields={"reason": message})
    clash = db.session.scalars(
        _overlapping(Delegation.delegator_id, delegator, starts_on, ends_on)
    ).first()
    if clash is not None:
        raise Conflict(
            f"{delegator.display_name}在 {_period(clash.starts_on, clash.ends_on)} 已委托"
            f"{clash.delegate.display_name}代理,期限不能重叠;请先结束该代理或另选日期"
        )
    # A delegate who is away themself could not do the work: delegations do not chain.
    away = db.session.scalars(
        _overlapping(Delegation.delegator_id, delegate, starts_on, ends_on)
    ).first()
    if away is not None:
        message = (
            f"{delegate.display_name}在 {_period(away.starts_on, away.ends_on)} "
            "已将自己的审核工作委托他人,不能再作为代理人"
        )
        raise Conflict(message, fields={"delegate_id": message})
    delegation = Delegation(
        delegator=delegator,
        delegate=delegate,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason,
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.session.add(delegation)
    db.session.flush()
    record(
        actor,
        "delegation",
        delegation.id,
        "create",
        after={
            "delegator_id": delegator.id,
            "delegate_id": delegate.id,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
        },
        comment=reason,
    )
    _tell_delegate(
        delegation,
        f"{delegator.display_name}委托您代理审核({_period(starts_on, ends_on)})",
        body=reason,
    )
    return delegation


def end_delegation(delegation: Delegation, *, actor: User) -> Delegation:
    """End a delegation before its last day (or call off one not yet started)."""
    if not can_manage(delegation, actor):
        raise NotPermitted("只有委托人或管理员可以结束代理")
    today = _today()
    if status_of(delegation, today) == "ended":
        raise Conflict("该代理已结束,无需再次结束")
    before = {"ends_on": delegation.ends_on.isoformat(), "ended_at": None}
    delegation.ended_at = utcnow()
    db.session.flush()
    record(
        actor,
        "delegation",
        delegation.id,
        "end",
        before=before,
        after={"ended_at": delegation.ended_at.isoformat()},
    )
    _tell_delegate(
        delegation,
        f"{delegation.delegator.display_name}委托您的代理已于 {today.isoformat()} 结束",
    )
    return delegation


def _tell_delegate(delegation: Delegation, title: str, *, body: str = "") -> None:
    # Imported here: notifications imports operations, which imports this module.
    from .notifications import notify

    notify([delegation.delegate], "delegation", title, body=body, link="/delegations")


def period_of(delegation: Delegation) -> str:
    """The delegation's days as text, e.g. "2026-05-01 至 2026-05-07"."""
    return _period(delegation.starts_on, delegation.ends_on)
