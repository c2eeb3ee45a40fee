"""Messages to users (reminders, warnings, invitations), shown in their 待办 inbox.

Scheduled jobs may run more than once a day; a ``dedupe_key`` makes each message arrive once.
"""

from collections.abc import Iterable

from sqlalchemy import func, select, update

from .extensions import db
from .models import Notification, User
from .operations import insert_ignoring_duplicates
from .types import utcnow


def notify(
    users: Iterable[User],
    kind: str,
    title: str,
    *,
    body: str = "",
    link: str = "",
    dedupe_key: str | None = None,
) -> int:
    """Queue one message per user in the session; returns how many were new.

    With a ``dedupe_key``, a user who already has a message under that key gets no second one.
    """
    rows = [
        {
            "user_id": user.id,
            "kind": kind,
            "title": title,
            "body": body,
            "link": link,
            "dedupe_key": dedupe_key,
            "created_at": utcnow(),
        }
        for user in users
        if user.active
    ]
    if not rows:
        return 0
    # SQLAlchemy keeps an INSERT's row count only when asked (psycopg's would read -1 otherwise).
    result = db.session.execute(
        insert_ignoring_duplicates(Notification)
        .values(rows)
        .execution_options(preserve_rowcount=True)
    )
    return max(result.rowcount, 0)


def active_users(*, role: str, district_id: int | None = None) -> list[User]:
    """The active users of one role, within one district when given."""
    query = select(User).where(User.role == role, User.active.is_(True))
    if district_id is not None:
        query = query.where(User.district_id == district_id)
    return list(db.session.scalars(query.order_by(User.id)))


def unread_of(user: User, *, limit: int = 20) -> list[Notification]:
    """The user's unread messages, newest first."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def unread_count(user: User) -> int:
    """How many unread messages the user has."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def mark_read(user: User, notification_id: int | None = None) -> None:
    """Mark one of the user's messages as read, or all of them."""
    query = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    db.session.execute(query.values(read_at=utcnow()))
