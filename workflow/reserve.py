"""The rolling reserve (储备库): the three-year plan, its approved adjustments, snapshots and diffs,
and re-declaration of a reserve project to a new program.

The plan changes only through the city: an immediate 调入 (``admit_to_reserve``, e.g. when the
city accepts a call proposal) or an adjustment a district asks for and the city approves
(``request_adjustment`` → ``decide_adjustment``). Every step writes audit rows on the adjustment
and on the project; the project's maturity moves only through the maturity machine.

Choices where the brief was silent:
- ``changes`` of an admit holds the whole plan; of a change, only the values that differ; of a
  remove, nothing. ``before`` holds the entry's values and ``version`` when the request was made
  (None when the project had no entry), and approval is refused when the entry moved since.
- 调出 of a project that has already moved on (申报中, 已获批, …, or 出库 from its own page) only
  deletes the plan line: the maturity machine has no 出库 from those stages, and none is needed.
- The project's own audit rows use the action ``update`` with a Chinese comment, so its timeline
  reads 「修改 — 储备库调入(新谋划项目):…」 rather than an untranslated action code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import operations, vocab
from .audit import record
from .errors import STALE_MESSAGE, Conflict, Invalid, NotPermitted
from .extensions import db
from .models import (
    Declaration,
    FundingProgram,
    Project,
    ReserveAdjustment,
    ReserveEntry,
    ReserveSnapshot,
    User,
)
from .notifications import notify
from .permissions import scope_projects
from .types import utcnow

PLAN_KEYS = ("declare_year", "start_year", "planned_amount", "priority", "is_key")
PLAN_LABELS = {
    "declare_year": "计划申报年度",
    "start_year": "计划开工年度",
    "planned_amount": "计划申请资金(万元)",
    "priority": "优先级",
    "is_key": "重点项目",
}
YEARS_BACK, YEARS_AHEAD = 1, 5
START_BEFORE_DECLARE = 3
CENT = Decimal("0.01")
PLAN_COLUMNS = 3  # this year, next year, the year after
# Maturities from which a project may enter the plan, and the trigger that takes it to 储备.
ADMIT_TRIGGERS = {"planning": "admit_to_reserve", "removed": "restore", "reserve": None}
DECIDERS = frozenset({"city_reviewer"})
REQUESTERS = frozenset({"district_staff", "city_reviewer"})


# --- rules (pure) ---------------------------------------------------------------------------


def year_error(value: Any, this_year: int, label: str) -> str | None:
    """Why a plan year is not acceptable, or None."""
    if value is None or value == "":
        return f"请填写{label}"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{label}须为四位年份"
    low, high = this_year - YEARS_BACK, this_year + YEARS_AHEAD
    if not low <= value <= high:
        return f"{label}须在 {low} 年至 {high} 年之间"
    return None


def amount_error(value: Any) -> str | None:
    """Why a planned amount (万元) is not acceptable, or None; blank means not yet known."""
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        return "计划申请资金须为金额(万元)"
    if value < 0:
        return "计划申请资金不能为负数"
    if value != value.quantize(CENT):
        return "计划申请资金最多保留两位小数"
    if value >= Decimal("1e12"):
        return "计划申请资金过大"
    return None


def priority_error(value: Any) -> str | None:
    """Why a priority is not one of 高/中/低 (1..3), or None."""
    if isinstance(value, bool) or value not in vocab.RESERVE_PRIORITIES:
        return "请选择优先级(高、中、低)"
    return None


def plan_errors(plan: Mapping[str, Any], this_year: int) -> dict[str, str]:
    """Every rule of a plan line, as {key: Chinese message}; empty when the plan is fine."""
    errors: dict[str, str] = {}
    for key in ("declare_year", "start_year"):
        message = year_error(plan.get(key), this_year, PLAN_LABELS[key])
        if message:
            errors[key] = message
    if not errors:
        declare, start = plan["declare_year"], plan["start_year"]
        if start < declare - START_BEFORE_DECLARE:
            errors["start_year"] = (
                f"计划开工年度不能早于计划申报年度 {START_BEFORE_DECLARE} 年以上"
                f"(最早 {declare - START_BEFORE_DECLARE} 年)"
            )
    message = amount_error(plan.get("planned_amount"))
    if message:
        errors["planned_amount"] = message
    message = priority_error(plan.get("priority"))
    if message:
        errors["priority"] = message
    if not isinstance(plan.get("is_key", False), bool):
        errors["is_key"] = "重点项目只能选择是或否"
    return errors


def plan_column(declare_year: int, this_year: int) -> int:
    """Which column of the three-year plan a declare year falls in: 0, 1, 2, or 3 for later.

    Earlier years roll into this year's column (逾期未申报).
    """
    return min(max(declare_year - this_year, 0), PLAN_COLUMNS)


def is_overdue(declare_year: int, this_year: int) -> bool:
    """Whether the project should have been declared in an earlier year (逾期未申报)."""
    return declare_year < this_year


# --- plain values ---------------------------------------------------------------------------


def _amount_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _amount_value(text: str | None) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def plain_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A plan as JSON-safe values (money as a string)."""
    out = {k: plan[k] for k in PLAN_KEYS if k in plan}
    if "planned_amount" in out:
        out["planned_amount"] = _amount_text(out["planned_amount"])
    return out


def entry_values(entry: ReserveEntry) -> dict[str, Any]:
    """The entry's plan values (JSON-safe) and version, as an adjustment's ``before`` keeps them."""
    return {
        "declare_year": entry.declare_year,
        "start_year": entry.start_year,
        "planned_amount": _amount_text(entry.planned_amount),
        "priority": entry.priority,
        "is_key": bool(entry.project.is_key),
        "version": entry.version,
    }


def value_text(key: str, value: Any) -> str:
    """A plan value as a person reads it."""
    if value is None or value == "":
        return "—"
    if key in ("declare_year", "start_year"):
        return f"{value}年"
    if key == "priority":
        return vocab.RESERVE_PRIORITIES.get(value, str(value))
    if key == "is_key":
        return "是" if value else "否"
    if key == "planned_amount":
        amount = _amount_value(value)
        return f"{amount:,.2f}" if amount is not None else str(value)
    if key == "maturity":
        return vocab.label(vocab.MATURITIES, value)
    return str(value)


def _this_year() -> int:
    return operations.local_today().year


def _require_valid(plan: Mapping[str, Any]) -> None:
    errors = plan_errors(plan, _this_year())
    if errors:
        raise Invalid("储备计划填写有误:" + ";".join(errors.values()), fields=errors)


def _describe(adj_kind: str, reason_code: str, reason: str) -> str:
    label = vocab.ADJUSTMENT_KINDS[adj_kind]
    text = f"储备库{label}({vocab.label(vocab.RESERVE_REASONS, reason_code)})"
    return f"{text}:{reason}" if reason else text


def _check_reason(kind: str, reason_code: str, reason: str) -> None:
    fields = {}
    if reason_code not in vocab.REASONS_BY_ADJUSTMENT.get(kind, ()):
        allowed = "、".join(vocab.RESERVE_REASONS[c] for c in vocab.REASONS_BY_ADJUSTMENT[kind])
        fields["reason_code"] = f"{vocab.ADJUSTMENT_KINDS[kind]}的原因只能是:{allowed}"
    if not (reason or "").strip():
        fields["reason"] = "请填写调整理由"
    if fields:
        raise Invalid(";".join(fields.values()), fields=fields)


# --- operations -----------------------------------------------------------------------------


def _enter_reserve(project: Project, plan: Mapping[str, Any], *, actor: User) -> ReserveEntry:
    """Create the plan line and move the maturity to 储备 (shared by both ways of 调入)."""
    if project.reserve_entry is not None:
        raise Conflict(f"项目「{project.name}」已在储备库中,如需修改请申请调整")
    if project.maturity not in ADMIT_TRIGGERS:
        raise Conflict(
            f"项目当前成熟度为「{project.maturity_label}」,不能调入储备库"
            "(只有谋划、储备或已出库的项目可以调入)"
        )
    trigger = ADMIT_TRIGGERS[project.maturity]
    if trigger is not None:
        operations.change_maturity(project, trigger, actor=actor, expected_version=None)
    if "is_key" in plan:
        project.is_key = bool(plan["is_key"])
    entry = ReserveEntry(
        project=project,
        declare_year=plan["declare_year"],
        start_year=plan["start_year"],
        planned_amount=plan.get("planned_amount"),
        priority=plan.get("priority", 2),
    )
    db.session.add(entry)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # The unique project_id: someone admitted it a moment ago. No savepoint (SQLite).
        raise Conflict("该项目刚刚已被他人调入储备库,请刷新页面查看") from exc
    return entry


def admit_to_reserve(
    project: Project, plan: dict, *, actor: User, reason_code: str, reason: str
) -> ReserveEntry:
    """An immediate 调入 decided by the city: the plan line, an approved adjustment, 储备."""
    if actor.role not in DECIDERS:
        raise NotPermitted("只有市级审核员可以直接调入储备库")
    _check_reason("admit", reason_code, reason)
    _require_valid(plan)
    entry = _enter_reserve(project, plan, actor=actor)
    now = utcnow()
    adj = ReserveAdjustment(
        project=project,
        kind="admit",
        changes=plain_plan(plan),
        before=None,
        reason_code=reason_code,
        reason=reason.strip(),
        status="approved",
        requested_by_id=actor.id,
        requested_at=now,
        decided_by_id=actor.id,
        decided_at=now,
    )
    db.session.add(adj)
    db.session.flush()
    record(
        actor,
        "reserve_adjustment",
        adj.id,
        "approve",
        after={"kind": "admit", "project_id": project.id, **adj.changes},
        comment=reason.strip() or None,
    )
    record(
        actor,
        "project",
        project.id,
        "update",
        after={"reserve": adj.changes},
        comment=_describe("admit", reason_code, reason.strip()),
    )
    return entry


def pending_adjustment(project: Project) -> ReserveAdjustment | None:
    """The project's adjustment waiting for the city, if any."""
    return db.session.scalar(
        select(ReserveAdjustment).where(
            ReserveAdjustment.project_id == project.id, ReserveAdjustment.status == "pending"
        )
    )


def _lock_project(project: Project) -> None:
    """Serialise requests on one project (PostgreSQL row lock; SQLite writes one at a time)."""
    db.session.execute(select(Project.id).where(Project.id == project.id).with_for_update())


def request_adjustment(
    project: Project,
    kind: str,
    plan: dict | None,
    *,
    actor: User,
    reason_code: str,
    reason: str,
) -> ReserveAdjustment:
    """Ask the city for a 调入, 调出 or 调整 of one project; it waits as ``pending``."""
    if actor.role not in REQUESTERS:
        raise NotPermitted("只有区县填报员和市级审核员可以申请储备库调整")
    if actor.is_district_user and actor.district_id != project.district_id:
        raise NotPermitted("只能申请调整本区县的项目")
    if kind not in vocab.ADJUSTMENT_KINDS:
        raise Invalid("请选择调整类型", fields={"kind": "请选择调整类型"})
    _check_reason(kind, reason_code, reason)
    _lock_project(project)
    waiting = pending_adjustment(project)
    if waiting is not None:
        raise Conflict(
            f"该项目已有一项待审批的{waiting.kind_label}申请(#{waiting.id}),"
            "请等市级审批后再提出新的申请"
        )
    entry = project.reserve_entry
    if kind == "admit":
        if entry is not None:
            raise Conflict("该项目已在储备库中,请申请「调整」")
        if project.maturity not in ADMIT_TRIGGERS:
            raise Conflict(f"项目当前成熟度为「{project.maturity_label}」,不能调入储备库")
        _require_valid(plan or {})
        changes = plain_plan(plan)
    elif entry is None:
        raise Conflict("该项目不在储备库中,请申请「调入」")
    elif kind == "remove":
        changes = {}
    else:
        current = entry_values(entry)
        _require_valid({**current, "planned_amount": entry.planned_amount, **(plan or {})})
        wanted = plain_plan(plan or {})
        changes = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not changes:
            raise Invalid("调整后的计划与现有计划相同,没有需要审批的变化")
    adj = ReserveAdjustment(
        project=project,
        kind=kind,
        changes=changes,
        before=entry_values(entry) if entry is not None else None,
        reason_code=reason_code,
        reason=reason.strip(),
        status="pending",
        requested_by_id=actor.id,
        requested_at=utcnow(),
    )
    db.session.add(adj)
    db.session.flush()
    record(
        actor,
        "reserve_adjustment",
        adj.id,
        "request",
        before=adj.before,
        after={"kind": kind, "project_id": project.id, **changes},
        comment=adj.reason,
    )
    record(
        actor,
        "project",
        project.id,
        "update",
        after={"reserve_adjustment_id": adj.id, "status": "pending"},
        comment="申请" + _describe(kind, reason_code, adj.reason),
    )
    return adj


def _refuse_if_entry_moved(adj: ReserveAdjustment) -> None:
    """Optimistic check: the plan line must be as it was when the request was made."""
    entry = adj.project.reserve_entry
    if adj.before is None and entry is None:
        return
    if adj.before is None:
        raise Conflict("申请提出后该项目已被调入储备库,本申请已过时,请驳回后按现状重新申请")
    if entry is None:
        raise Conflict("申请提出后该项目已被调出储备库,本申请已过时,请驳回后按现状重新申请")
    if entry.version != adj.before.get("version") or bool(entry.project.is_key) != bool(
        adj.before.get("is_key")
    ):
        raise Conflict(
            f"申请提出后该项目的储备计划已被修改(申请时为第 {adj.before.get('version')} 版,"
            f"现为第 {entry.version} 版),本申请已过时,请驳回后按现状重新申请"
        )


def _apply(adj: ReserveAdjustment, *, actor: User) -> None:
    project = adj.project
    if adj.kind == "admit":
        plan = dict(adj.changes)
        plan["planned_amount"] = _amount_value(plan.get("planned_amount"))
        _require_valid(plan)
        _enter_reserve(project, plan, actor=actor)
    elif adj.kind == "remove":
        if project.maturity in ("planning", "reserve"):
            operations.change_maturity(
                project,
                "remove",
                actor=actor,
                reason=f"{adj.reason_label}:{adj.reason}",
                expected_version=None,
            )
        db.session.delete(project.reserve_entry)
        db.session.flush()
        db.session.expire(project, ["reserve_entry"])
    else:
        entry = project.reserve_entry
        values = {k: adj.changes[k] for k in PLAN_KEYS if k in adj.changes}
        if "planned_amount" in values:
            values["planned_amount"] = _amount_value(values["planned_amount"])
        current = {
            "declare_year": entry.declare_year,
            "start_year": entry.start_year,
            "planned_amount": entry.planned_amount,
            "priority": entry.priority,
            "is_key": bool(project.is_key),
        }
        _require_valid({**current, **values})
        for key, value in values.items():
            if key == "is_key":
                project.is_key = bool(value)
            else:
                setattr(entry, key, value)
        entry.updated_at = utcnow()
        operations.flush_or_conflict(entry, None)


def decide_adjustment(
    adj: ReserveAdjustment,
    approve: bool,
    *,
    actor: User,
    comment: str = "",
    expected_version: int | None,
) -> ReserveAdjustment:
    """The city approves (and applies) or rejects a pending adjustment; the requester is told."""
    if actor.role not in DECIDERS:
        raise NotPermitted("只有市级审核员可以审批储备库调整")
    if expected_version is not None and adj.version != expected_version:
        raise Conflict(STALE_MESSAGE.format(seen=expected_version, current=adj.version))
    if adj.status != "pending":
        raise Conflict(f"该申请已{adj.status_label},不能重复审批")
    comment = (comment or "").strip()
    if not approve and not comment:
        raise Invalid("不予批准时请填写审批意见", fields={"comment": "请填写审批意见"})
    if approve:
        _refuse_if_entry_moved(adj)
        _apply(adj, actor=actor)
    adj.status = "approved" if approve else "rejected"
    adj.decided_by_id = actor.id
    adj.decided_at = utcnow()
    adj.decision_comment = comment or None
    operations.flush_or_conflict(adj, expected_version)
    record(
        actor,
        "reserve_adjustment",
        adj.id,
        "approve" if approve else "reject",
        before={"status": "pending"},
        after={"status": adj.status},
        comment=comment or None,
    )
    verdict = "批准" if approve else "未批准"
    record(
        actor,
        "project",
        adj.project_id,
        "update",
        after={"reserve_adjustment_id": adj.id, "status": adj.status},
        comment=f"市级{verdict}"
        + _describe(adj.kind, adj.reason_code, adj.reason)
        + (f"。审批意见:{comment}" if comment else ""),
    )
    if adj.requested_by is not None and adj.requested_by_id != actor.id:
        notify(
            [adj.requested_by],
            "adjustment_decided",
            f"储备库{adj.kind_label}申请已{verdict}:{adj.project.name}",
            body=comment,
            link=f"/reserve/adjustments/{adj.id}",
            dedupe_key=f"adjustment-{adj.id}",
        )
    return adj


def adjustment_rows(adj: ReserveAdjustment) -> list[tuple[str, str, str]]:
    """What an adjustment changes, as (label, before, after) for a page."""
    before = adj.before or {}
    if adj.kind == "remove":
        return [(PLAN_LABELS[k], value_text(k, before.get(k)), "—") for k in PLAN_KEYS]
    return [
        (PLAN_LABELS[k], value_text(k, before.get(k)), value_text(k, adj.changes[k]))
        for k in PLAN_KEYS
        if k in adj.changes
    ]


# --- queries --------------------------------------------------------------------------------


@dataclass
class PlanFilters:
    """The reserve page's filters; blanks mean all."""

    district_id: int | None = None
    category: str = ""
    priority: int | None = None
    key_only: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> PlanFilters:
        """Read the filters from a query string, ignoring anything unreadable."""
        district = (args.get("district") or "").strip()
        priority = (args.get("priority") or "").strip()
        category = (args.get("category") or "").strip()
        return cls(
            district_id=int(district) if district.isdigit() else None,
            category=category if category in vocab.CATEGORIES else "",
            priority=int(priority) if priority.isdigit() and int(priority) in (1, 2, 3) else None,
            key_only=(args.get("key") or "") in ("1", "on", "true"),
        )


def plan_entries(user: User, filters: PlanFilters | None = None) -> list[ReserveEntry]:
    """The plan lines the user may see, filtered, in plan order (year, priority, district)."""
    filters = filters or PlanFilters()
    query = scope_projects(
        select(ReserveEntry).join(Project, ReserveEntry.project_id == Project.id), user
    ).options(selectinload(ReserveEntry.project).selectinload(Project.district))
    if filters.district_id is not None:
        query = query.where(Project.district_id == filters.district_id)
    if filters.category:
        query = query.where(Project.category == filters.category)
    if filters.priority is not None:
        query = query.where(ReserveEntry.priority == filters.priority)
    if filters.key_only:
        query = query.where(Project.is_key.is_(True))
    query = query.order_by(
        ReserveEntry.declare_year, ReserveEntry.priority, Project.district_id, Project.id
    )
    return list(db.session.scalars(query))


@dataclass
class PlanColumn:
    """One column of the rolling plan: its year (None for later years), lines and sum."""

    year: int | None
    title: str
    entries: list[ReserveEntry] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """The planned amounts added up (blanks as zero)."""
        return sum((e.planned_amount or Decimal(0) for e in self.entries), Decimal(0))


def plan_columns(entries: list[ReserveEntry], this_year: int) -> list[PlanColumn]:
    """This year (with overdue lines), next year, the year after, and later years if any."""
    columns = [PlanColumn(this_year + i, f"{this_year + i}年") for i in range(PLAN_COLUMNS)]
    later = PlanColumn(None, f"{this_year + PLAN_COLUMNS}年及以后")
    for entry in entries:
        index = plan_column(entry.declare_year, this_year)
        (later if index == PLAN_COLUMNS else columns[index]).entries.append(entry)
    return columns + ([later] if later.entries else [])


def unplanned_reserve(user: User, *, limit: int = 50) -> list[Project]:
    """Projects in 储备 that have no plan line yet (e.g. back from a declaration not funded)."""
    query = (
        scope_projects(select(Project), user)
        .outerjoin(ReserveEntry, ReserveEntry.project_id == Project.id)
        .where(Project.maturity == "reserve", ReserveEntry.id.is_(None))
        .options(selectinload(Project.district))
        .order_by(Project.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def visible_adjustments(user: User, *, status: str | None = None) -> list[ReserveAdjustment]:
    """Adjustments of the projects the user may see, pending first, newest first."""
    query = scope_projects(
        select(ReserveAdjustment).join(Project, ReserveAdjustment.project_id == Project.id), user
    ).options(selectinload(ReserveAdjustment.project).selectinload(Project.district))
    if status:
        query = query.where(ReserveAdjustment.status == status)
    query = query.order_by(ReserveAdjustment.requested_at.desc(), ReserveAdjustment.id.desc())
    rows = list(db.session.scalars(query))
    return sorted(rows, key=lambda a: a.status != "pending")


def plan_rows(entries: list[ReserveEntry]) -> list[dict]:
    """Plan lines as plain rows for the Excel sheet."""
    this_year = _this_year()
    return [
        {
            "name": e.project.name,
            "district": e.project.district.name,
            "category": e.project.category_label,
            "total_investment": e.project.total_investment,
            "planned_amount": e.planned_amount,
            "declare_year": f"{e.declare_year}年"
            + ("(逾期未申报)" if is_overdue(e.declare_year, this_year) else ""),
            "start_year": f"{e.start_year}年",
            "priority": e.priority_label,
            "is_key": "是" if e.project.is_key else "否",
            "maturity": e.project.maturity_label,
        }
        for e in entries
    ]


# --- snapshots and their diffs --------------------------------------------------------------

SNAPSHOT_FIELDS = (
    "code",
    "name",
    "district_name",
    "declare_year",
    "start_year",
    "planned_amount",
    "priority",
    "is_key",
    "maturity",
)
SNAPSHOT_LABELS = {
    "code": "项目代码",
    "name": "项目名称",
    "district_name": "区县",
    **PLAN_LABELS,
    "maturity": "成熟度",
}


def snapshot_line(entry: ReserveEntry) -> dict[str, Any]:
    """One plan line as the plain dict a snapshot keeps."""
    project = entry.project
    return {
        "project_id": project.id,
        "code": project.code or "",
        "name": project.name,
        "district_id": project.district_id,
        "district_name": project.district.name,
        "declare_year": entry.declare_year,
        "start_year": entry.start_year,
        "planned_amount": _amount_text(entry.planned_amount),
        "priority": entry.priority,
        "is_key": bool(project.is_key),
        "maturity": project.maturity,
    }


def take_snapshot(label: str, *, actor: User) -> ReserveSnapshot:
    """Freeze the whole plan (every district) under a label such as 「2026年第二轮」."""
    if actor.role not in DECIDERS:
        raise NotPermitted("只有市级审核员可以保存储备计划快照")
    label = (label or "").strip()
    if not label:
        raise Invalid("请填写快照名称,例如「2026年第二轮」", fields={"label": "请填写快照名称"})
    entries = db.session.scalars(
        select(ReserveEntry)
        .options(selectinload(ReserveEntry.project).selectinload(Project.district))
        .order_by(ReserveEntry.project_id)
    )
    snap = ReserveSnapshot(
        label=label[:100],
        taken_at=utcnow(),
        taken_by_id=actor.id,
        entries=[snapshot_line(e) for e in entries],
    )
    db.session.add(snap)
    db.session.flush()
    record(
        actor,
        "reserve_snapshot",
        snap.id,
        "create",
        after={"label": snap.label, "entries": len(snap.entries)},
    )
    return snap


@dataclass(frozen=True)
class Reason:
    """Why a line moved: one approved adjustment decided between the two snapshots."""

    kind: str
    reason_label: str
    reason: str
    approved_by: str
    decided_at: datetime | None


@dataclass
class LineDiff:
    """One project that moved in, out or changed between two snapshots."""

    project_id: int
    name: str
    district_name: str
    district_id: int | None
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)
    reasons: list[Reason] = field(default_factory=list)


@dataclass
class SnapshotDiff:
    """Who moved in, out, or changed between two snapshots, and why."""

    added: list[LineDiff]
    removed: list[LineDiff]
    changed: list[LineDiff]
    unchanged: int

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def for_district(self, district_id: int) -> SnapshotDiff:
        """The same diff limited to one district's projects."""

        def mine(lines):
            return [d for d in lines if d.district_id == district_id]

        return SnapshotDiff(mine(self.added), mine(self.removed), mine(self.changed), 0)


def line_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The fields of one line that differ, as (label, old, new) in reading order."""
    return [
        (SNAPSHOT_LABELS[k], value_text(k, old.get(k)), value_text(k, new.get(k)))
        for k in SNAPSHOT_FIELDS
        if old.get(k) != new.get(k)
    ]


def _reasons(project_ids: set[int], start: datetime, end: datetime) -> dict[int, list[Reason]]:
    if not project_ids:
        return {}
    rows = db.session.scalars(
        select(ReserveAdjustment)
        .where(
            ReserveAdjustment.project_id.in_(project_ids),
            ReserveAdjustment.status == "approved",
            ReserveAdjustment.decided_at > start,
            ReserveAdjustment.decided_at <= end,
        )
        .options(selectinload(ReserveAdjustment.decided_by))
        .order_by(ReserveAdjustment.decided_at, ReserveAdjustment.id)
    )
    found: dict[int, list[Reason]] = {}
    for adj in rows:
        found.setdefault(adj.project_id, []).append(
            Reason(
                kind=adj.kind_label,
                reason_label=adj.reason_label,
                reason=adj.reason,
                approved_by=adj.decided_by.display_name if adj.decided_by else "",
                decided_at=adj.decided_at,
            )
        )
    return found


def diff_snapshots(old: ReserveSnapshot, new: ReserveSnapshot) -> SnapshotDiff:
    """Compare two snapshots (older first) line by line, with the approved reasons in between."""
    if old.taken_at > new.taken_at:
        old, new = new, old
    before = {line["project_id"]: line for line in old.entries}
    after = {line["project_id"]: line for line in new.entries}

    def line(pid: int, values: Mapping[str, Any]) -> LineDiff:
        return LineDiff(
            pid, values.get("name", ""), values.get("district_name", ""), values.get("district_id")
        )

    added = [line(pid, after[pid]) for pid in after if pid not in before]
    removed = [line(pid, before[pid]) for pid in before if pid not in after]
    changed, unchanged = [], 0
    for pid in after:
        if pid in before:
            differences = line_changes(before[pid], after[pid])
            if differences:
                diff = line(pid, after[pid])
                diff.changes = differences
                changed.append(diff)
            else:
                unchanged += 1
    for diff in added:
        diff.changes = [
            (SNAPSHOT_LABELS[k], "—", value_text(k, after[diff.project_id].get(k)))
            for k in PLAN_KEYS
        ]
    for diff in removed:
        diff.changes = [
            (SNAPSHOT_LABELS[k], value_text(k, before[diff.project_id].get(k)), "—")
            for k in PLAN_KEYS
        ]
    moved = added + removed + changed
    reasons = _reasons({d.project_id for d in moved}, old.taken_at, new.taken_at)
    for diff in moved:
        diff.reasons = reasons.get(diff.project_id, [])

    def order(lines):
        return sorted(lines, key=lambda d: (d.district_name, d.name, d.project_id))

    return SnapshotDiff(order(added), order(removed), order(changed), unchanged)


# --- re-declaration -------------------------------------------------------------------------


def last_declaration(project: Project) -> Declaration | None:
    """The project's latest declaration that was not withdrawn, else its latest one."""
    declarations = sorted(project.declarations, key=lambda d: d.id, reverse=True)
    live = [d for d in declarations if d.stage != "withdrawn"]
    return (live or declarations or [None])[0]


def redeclare(
    project: Project, program: FundingProgram, *, actor: User, overlap_reason: str | None = None
) -> Declaration:
    """Declare a reserve project to an open program, starting from its last declaration's data.

    Like any declaration it passes the overlap guard (``overlap_reason`` when it warns).
    """
    if project.reserve_entry is None and project.maturity != "reserve":
        raise Conflict("该项目不在储备库中,请从项目库申报")
    previous = last_declaration(project)
    values: dict[str, Any] = {}
    if previous is not None:
        names = {f["name"] for f in program.form_fields}
        values["requested_amount"] = previous.requested_amount
        values["form_data"] = {k: v for k, v in (previous.form_data or {}).items() if k in names}
    elif project.reserve_entry is not None:
        values["requested_amount"] = project.reserve_entry.planned_amount
    decl = operations.create_declaration(
        project, program, values, actor=actor, overlap_reason=overlap_reason
    )
    if previous is not None:
        decl.previous_id = previous.id
        db.session.flush()
    record(
        actor,
        "declaration",
        decl.id,
        "update",
        after={"previous_id": previous.id if previous else None, "source": "reserve"},
        comment=(
            f"从储备库申报,沿用申报 #{previous.id}({previous.program.title})的数据"
            if previous
            else "从储备库申报"
        ),
    )
    return decl


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def declaration_diff(decl: Declaration) -> list[tuple[str, str, str]]:
    """Field by field, what differs from the previous declaration: (label, old, new)."""
    previous = decl.previous
    if previous is None:
        return []
    rows = []
    if previous.program_id != decl.program_id:
        rows.append(("申报批次", previous.program.title, decl.program.title))
    if previous.requested_amount != decl.requested_amount:
        rows.append(
            (
                "申请资金(万元)",
                _shown(previous.requested_amount),
                _shown(decl.requested_amount),
            )
        )
    specs: dict[str, str] = {}
    for spec in list(decl.program.form_fields) + list(previous.program.form_fields):
        specs.setdefault(spec["name"], spec.get("label") or spec["name"])
    old_data, new_data = previous.form_data or {}, decl.form_data or {}
    for name, label in specs.items():
        old, new = old_data.get(name), new_data.get(name)
        if (old or "") != (new or ""):
            rows.append((label, _shown(old), _shown(new)))
    return rows
