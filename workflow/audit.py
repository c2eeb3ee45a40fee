"""The append-only audit log: rows are added, never changed or removed."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, select

from .extensions import db
from .models import AuditEvent, User
from .types import utcnow


def _plain(value: Any) -> Any:
    """A JSON-safe form of a column value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def column_changes(obj) -> tuple[dict[str, Any], dict[str, Any]]:
    """The before and after values of every column changed on obj in this unit of work."""
    before, after = {}, {}
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in ("updated_at", "version"):
            continue
        history = state.attrs[attr.key].history
        if history.has_changes():
            before[attr.key] = _plain(history.deleted[0]) if history.deleted else None
            after[attr.key] = _plain(history.added[0]) if history.added else None
    return before, after


def record(
    actor: User | None,
    object_type: str,
    object_id: int,
    action: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
    comment: str | None = None,
    on_behalf_of: User | None = None,
) -> AuditEvent:
    """Add one audit row to the session; the caller's commit makes it permanent.

    ``on_behalf_of`` names the reviewer a delegate (the actor) stood in for.
    """
    row = AuditEvent(
        at=utcnow(),
        actor=actor,
        on_behalf_of=on_behalf_of,
        object_type=object_type,
        object_id=object_id,
        action=action,
        before=before,
        after=after,
        comment=comment,
    )
    db.session.add(row)
    return row


def events_of(
    object_type: str, object_id: int, *, actions=None, newest_first: bool = False
) -> list[AuditEvent]:
    """The audit trail of one object, oldest first unless asked otherwise."""
    query = select(AuditEvent).where(
        AuditEvent.object_type == object_type, AuditEvent.object_id == object_id
    )
    if actions is not None:
        query = query.where(AuditEvent.action.in_(list(actions)))
    order = (
        (AuditEvent.at.desc(), AuditEvent.id.desc())
        if newest_first
        else (AuditEvent.at, AuditEvent.id)
    )
    return list(db.session.scalars(query.order_by(*order)))


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(mapper, connection, target):
    raise RuntimeError("审计记录只能追加,不能修改")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise RuntimeError("审计记录只能追加,不能删除")
