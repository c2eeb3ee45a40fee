"""前期要件 beyond the submission check: a project's maturity score and warnings before expiry.

Choices where the brief was silent:
- The weights follow the order in which a Chinese investment project is prepared and how much
  each document decides whether it can be declared: 可研批复 35, 用地预审/选址意见 20,
  规划许可 20, 环评 15, 能评 10 (they add up to 100, so the score reads as a percentage).
- A document counts on a date when it has no expiry or expires on or after that date (the
  expiry day itself is still valid, as deadlines include their last day). Its issue date is not
  checked, as in the submission check of ``rules.prerequisite_problems``. Several documents of
  one kind count once: the kind is 有效 when any of them is.
- Warnings concern projects whose documents still matter: 谋划, 储备, 申报中 and 已获批 (not yet
  under construction). A document is not warned about when the project has another of the same
  kind that stays valid longer (it was renewed). Warnings go to the owning district's 区县填报员,
  who maintain the documents; each gets one message per document and expiry date, so a renewed
  document with a new date is warned about again.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import aliased, contains_eager

from . import vocab
from .extensions import db
from .models import Prerequisite, Project, User
from .notifications import active_users, notify
from .permissions import scope_projects

WEIGHTS = {
    "feasibility_approval": 35,
    "land_site": 20,
    "planning_permit": 20,
    "environmental": 15,
    "energy": 10,
}
STATUS_LABELS = {"present": "有效", "absent": "缺少", "expired": "已过期"}
# Before construction starts the documents decide whether a project can be declared and built.
WATCHED_MATURITIES = ("planning", "reserve", "declaring", "funded")


@dataclass(frozen=True)
class Part:
    """One kind of 前期要件 in a score: its weight, what the project has, the points earned."""

    kind: str
    weight: int
    status: str  # present / absent / expired
    points: int
    doc_number: str | None = None
    valid_until: date | None = None

    @property
    def label(self) -> str:
        return vocab.label(vocab.PREREQUISITE_KINDS, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class Score:
    """A project's maturity score (0–100) on one date, with the part each kind contributes."""

    total: int
    on: date
    parts: tuple[Part, ...]

    @property
    def missing(self) -> list[Part]:
        """The kinds that earn nothing: absent or expired."""
        return [p for p in self.parts if p.status != "present"]

    @property
    def level(self) -> str:
        """A word for the score, for lists where the parts do not fit."""
        if self.total >= 80:
            return "成熟"
        if self.total >= 50:
            return "较成熟"
        return "待完善"


def is_valid_on(prereq: Prerequisite, on: date) -> bool:
    """Whether the document is still valid on the date (its expiry day included)."""
    return prereq.valid_until is None or prereq.valid_until >= on


def maturity_score(project: Project, on: date) -> Score:
    """The project's maturity score from its 前期要件 valid on the date."""
    parts = []
    for kind, weight in WEIGHTS.items():
        docs = [p for p in project.prerequisites if p.kind == kind]
        valid = [p for p in docs if is_valid_on(p, on)]
        if valid:
            # The one valid longest explains the points (no expiry counts as the longest).
            best = max(valid, key=lambda p: (p.valid_until is None, p.valid_until or date.min))
            parts.append(Part(kind, weight, "present", weight, best.doc_number, best.valid_until))
        elif docs:
            latest = max(docs, key=lambda p: p.valid_until)
            parts.append(Part(kind, weight, "expired", 0, latest.doc_number, latest.valid_until))
        else:
            parts.append(Part(kind, weight, "absent", 0))
    return Score(sum(p.points for p in parts), on, tuple(parts))


def expiring_query(on: date, within_days: int) -> Select:
    """Documents that are valid on the date and expire within the days, soonest first.

    Joined to their project (loaded with it); renewed documents and projects past the stages
    where documents matter are left out.
    """
    renewal = aliased(Prerequisite)
    renewed = (
        select(renewal.id)
        .where(
            renewal.project_id == Prerequisite.project_id,
            renewal.kind == Prerequisite.kind,
            renewal.id != Prerequisite.id,
            or_(renewal.valid_until.is_(None), renewal.valid_until > Prerequisite.valid_until),
        )
        .exists()
    )
    return (
        select(Prerequisite)
        .join(Prerequisite.project)
        .options(contains_eager(Prerequisite.project).joinedload(Project.district))
        .where(
            and_(
                Prerequisite.valid_until >= on,
                Prerequisite.valid_until <= on + timedelta(days=within_days),
            ),
            Project.maturity.in_(WATCHED_MATURITIES),
            ~renewed,
        )
        .order_by(Prerequisite.valid_until, Prerequisite.id)
    )


def expiring(
    on: date, within_days: int, *, user: User | None = None, limit: int | None = None
) -> list[Prerequisite]:
    """Documents expiring within the days, limited to what the user may see when given."""
    query = expiring_query(on, within_days)
    if user is not None:
        query = scope_projects(query, user)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def warning_days() -> int:
    """How many days ahead expiry warnings look (PREREQUISITE_WARNING_DAYS)."""
    return int(current_app.config.get("PREREQUISITE_WARNING_DAYS", 30))


def send_expiry_warnings(today: date) -> int:
    """Tell each owning district's staff about documents expiring soon; returns new messages.

    Safe to run several times a day: each document and expiry date is announced once per user.
    The caller commits.
    """
    staff_by_district: dict[int, list[User]] = {}
    sent = 0
    for prereq in expiring(today, warning_days()):
        project = prereq.project
        if project.district_id not in staff_by_district:
            staff_by_district[project.district_id] = active_users(
                role="district_staff", district_id=project.district_id
            )
        days_left = (prereq.valid_until - today).days
        when = "今天到期" if days_left == 0 else f"还有 {days_left} 天到期"
        sent += notify(
            staff_by_district[project.district_id],
            "prerequisite_expiring",
            f"前期要件即将到期:{project.name}",
            body=(
                f"「{prereq.kind_label}」(文号 {prereq.doc_number})有效期至 "
                f"{prereq.valid_until.isoformat()},{when},请及时办理延期或重新取得。"
            ),
            link=f"/projects/{project.id}#prerequisites",
            dedupe_key=f"prereq-{prereq.id}-{prereq.valid_until.isoformat()}",
        )
    return sent
