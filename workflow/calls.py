"""Collection calls (征集通知): the city asks districts for projects, districts answer, the city
decides; with the per-district board and the working-day reminders before the deadline.

Choices where the brief was silent:
- Creating, editing and closing a call is for the city reviewer and the manager; deciding on
  proposals is the city reviewer's. Districts answer through their staff (区县填报员).
- A district adds and proposes projects only while the call is open and its deadline has not
  passed; the city extends the deadline (edit) to let a late district in. Withdrawing a proposal
  (back to draft) stays possible while the call is open and the city has not decided.
- The city decides on proposals whether or not the call is closed: it usually decides after.
- Declining needs a comment (the district should learn why); accepting does not.
- Purpose and program cannot change once a district answered, and a district that has proposals
  cannot be dropped from the call; districts added later get the call's message too.
- Accepting for the reserve admits the project through ``reserve.admit_to_reserve``; a project
  already in the reserve keeps its plan line (the acceptance is recorded, nothing is re-admitted).
  The planned start year is kept within the reserve's rule (at most 3 years before declaring).
- A program call's acceptance needs the program still open or draft: a closed program can no
  longer be declared to.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from . import vocab
from .audit import column_changes, record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import (
    CallProposal,
    CollectionCall,
    District,
    FundingProgram,
    ProgramInvitation,
    Project,
    User,
    call_districts,
)
from .notifications import notify
from .operations import expect_version, flush_or_conflict, local_today
from .reserve import START_BEFORE_DECLARE, YEARS_AHEAD, YEARS_BACK, admit_to_reserve
from .types import utcnow
from .workdays import working_days_before, working_days_between

CALL_EDITORS = frozenset({"city_reviewer", "manager"})
DECIDERS = frozenset({"city_reviewer"})
# A district has answered once it sent at least one project (a draft is not an answer yet).
ANSWERED_STATUSES = ("proposed", "accepted", "declined")
CALL_FIELDS = (
    "title",
    "purpose",
    "program_id",
    "year",
    "notice",
    "deadline",
    "remind_working_days",
)
MAX_REMIND_WORKING_DAYS = 30


def _require_editor(actor: User) -> None:
    if actor.role not in CALL_EDITORS:
        raise NotPermitted("只有市级审核员和管理人员可以发布和管理征集通知")


def _district_staff(district_ids) -> list[User]:
    """The active staff of these districts, in one query."""
    ids = list(district_ids)
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.role == "district_staff",
                User.active.is_(True),
                User.district_id.in_(ids),
            )
            .order_by(User.id)
        )
    )


def call_link(call: CollectionCall) -> str:
    """The call's page, as a path (messages are also made outside a request)."""
    return f"/calls/{call.id}"


def reminder_date(call: CollectionCall) -> date:
    """The day the reminder goes out: the deadline less the call's working days."""
    return working_days_before(call.deadline, call.remind_working_days)


def is_past_deadline(call: CollectionCall, today: date) -> bool:
    """Whether the deadline day is over (the call may still be open until someone closes it)."""
    return today > call.deadline


# --- calls ----------------------------------------------------------------------------------


def _checked_call_values(
    values: dict, *, today: date, call: CollectionCall | None = None
) -> tuple[dict, list[District]]:
    """The call's column values and target districts, or Invalid with a message per field."""
    errors: dict[str, str] = {}
    merged = {k: getattr(call, k) for k in CALL_FIELDS} if call is not None else {}
    merged.update({k: values[k] for k in CALL_FIELDS if k in values})
    title = (merged.get("title") or "").strip()
    if not title:
        errors["title"] = "请填写征集通知标题"
    elif len(title) > 200:
        errors["title"] = "标题不能超过 200 字"
    merged["title"] = title
    purpose = merged.get("purpose")
    if purpose not in vocab.CALL_PURPOSES:
        errors["purpose"] = "请选择征集用途"
    if purpose == "program":
        program = (
            db.session.get(FundingProgram, merged["program_id"])
            if merged.get("program_id")
            else None
        )
        if program is None:
            errors["program_id"] = "专项申报征集须选择申报批次"
        elif program.status not in ("open", "draft") and (
            call is None or call.program_id != program.id
        ):
            errors["program_id"] = f"申报批次「{program.title}」{program.status_label},不能征集"
        elif not merged.get("year"):
            merged["year"] = program.year
    elif purpose == "reserve":
        merged["program_id"] = None
        year = merged.get("year")
        if not year:
            errors["year"] = "年度储备征集须填写年度"
        elif not today.year - YEARS_BACK <= year <= today.year + YEARS_AHEAD:
            errors["year"] = (
                f"储备年度须在 {today.year - YEARS_BACK} 年至 {today.year + YEARS_AHEAD} 年之间"
            )
    deadline = merged.get("deadline")
    if deadline is None:
        errors["deadline"] = "请填写截止日期"
    elif deadline < today and (call is None or deadline != call.deadline):
        errors["deadline"] = f"截止日期不能早于今天({today.isoformat()})"
    remind = merged.get("remind_working_days")
    if remind is None:
        merged["remind_working_days"] = remind = 3
    if isinstance(remind, bool) or not isinstance(remind, int) or remind < 0:
        errors["remind_working_days"] = "提前提醒的工作日数不能为负数"
    elif remind > MAX_REMIND_WORKING_DAYS:
        errors["remind_working_days"] = f"提前提醒的工作日数不能超过 {MAX_REMIND_WORKING_DAYS}"
    merged["notice"] = (merged.get("notice") or "").strip()
    districts: list[District] = list(call.districts) if call is not None else []
    if "district_ids" in values or call is None:
        ids = {int(i) for i in values.get("district_ids") or []}
        districts = (
            list(
                db.session.scalars(
                    select(District)
                    .where(District.id.in_(ids))
                    .order_by(District.sort_order, District.code)
                )
            )
            if ids
            else []
        )
        if len(districts) != len(ids):
            errors["district_ids"] = "所选区县不存在,请刷新页面后重新选择"
        elif not districts:
            errors["district_ids"] = "请至少选择一个征集区县"
    if errors:
        raise Invalid("征集通知填写有误:" + ";".join(errors.values()), fields=errors)
    return {k: merged[k] for k in CALL_FIELDS}, districts


def _announce(call: CollectionCall, district_ids) -> int:
    """Tell the staff of these districts about the call; returns how many messages went out."""
    return notify(
        _district_staff(district_ids),
        "call_opened",
        f"征集通知:{call.title}",
        body=f"{call.purpose_label},请于 {call.deadline.isoformat()} 前报送项目。",
        link=call_link(call),
        dedupe_key=f"call-{call.id}-opened",
    )


def _call_after(call: CollectionCall) -> dict:
    return {
        "title": call.title,
        "purpose": call.purpose,
        "program_id": call.program_id,
        "year": call.year,
        "deadline": call.deadline.isoformat(),
        "remind_working_days": call.remind_working_days,
        "districts": [d.code for d in call.districts],
    }


def create_call(values: dict, *, actor: User) -> CollectionCall:
    """Publish a call to some districts; their staff get a message in 待办."""
    _require_editor(actor)
    columns, districts = _checked_call_values(values, today=local_today())
    call = CollectionCall(**columns, status="open", created_by_id=actor.id)
    call.districts = districts
    db.session.add(call)
    db.session.flush()
    record(actor, "call", call.id, "create", after=_call_after(call))
    _announce(call, [d.id for d in districts])
    return call


def update_call(
    call: CollectionCall, values: dict, *, actor: User, expected_version: int | None
) -> CollectionCall:
    """Change an open call; districts added now get the call's message."""
    _require_editor(actor)
    expect_version(call, expected_version)
    if call.status != "open":
        raise Conflict("该征集已截止,不能修改")
    columns, districts = _checked_call_values(values, today=local_today(), call=call)
    answered = {
        district_id
        for (district_id,) in db.session.execute(
            select(CallProposal.district_id).where(CallProposal.call_id == call.id).distinct()
        )
    }
    if answered and (
        columns["purpose"] != call.purpose or columns["program_id"] != call.program_id
    ):
        raise Conflict("已有区县报送项目,不能再修改征集用途或申报批次")
    kept = {d.id for d in districts}
    dropped = [d.name for d in call.districts if d.id in answered and d.id not in kept]
    if dropped:
        message = f"{'、'.join(dropped)}已填报项目,不能从征集区县中移除"
        raise Invalid(message, fields={"district_ids": message})
    old = list(call.districts)
    old_ids = [d.id for d in old]
    for key, value in columns.items():
        setattr(call, key, value)
    before, after = column_changes(call)
    if old_ids != [d.id for d in districts]:
        before["districts"] = [d.code for d in old]
        after["districts"] = [d.code for d in districts]
        call.districts = districts
        # The districts live in their own table; a new version still tells others it changed.
        flag_modified(call, "title")
    flush_or_conflict(call, expected_version)
    if after:
        record(actor, "call", call.id, "update", before=before, after=after)
    added = [d.id for d in districts if d.id not in old_ids]
    if added:
        _announce(call, added)
    return call


def close_call(
    call: CollectionCall, *, actor: User, expected_version: int | None
) -> CollectionCall:
    """End a call: districts can no longer add or propose; decisions on proposals go on."""
    _require_editor(actor)
    expect_version(call, expected_version)
    if call.status != "open":
        raise Conflict("该征集已截止")
    call.status = "closed"
    flush_or_conflict(call, expected_version)
    record(actor, "call", call.id, "close", before={"status": "open"}, after={"status": "closed"})
    return call


# --- proposals ------------------------------------------------------------------------------


def _require_district_staff(actor: User, district_id: int) -> None:
    if actor.role != "district_staff":
        raise NotPermitted("只有区县填报员可以报送征集项目")
    if actor.district_id != district_id:
        raise NotPermitted("只能报送本区县的项目")


def _require_accepting(call: CollectionCall, today: date) -> None:
    if call.status != "open":
        raise Conflict(f"征集「{call.title}」已截止,不能再报送项目")
    if is_past_deadline(call, today):
        raise Conflict(
            f"征集「{call.title}」已于 {call.deadline.isoformat()} 截止,不能再报送项目;"
            "如需补报请联系市数据局延长截止日期"
        )


def add_proposal(call: CollectionCall, project: Project, note: str, *, actor: User) -> CallProposal:
    """Put one of the district's projects on a call, as a draft to propose later."""
    _require_district_staff(actor, project.district_id)
    if actor.district_id not in {d.id for d in call.districts}:
        raise NotPermitted("本征集未面向您所在的区县")
    _require_accepting(call, local_today())
    if project.maturity == "removed":
        raise Conflict(f"项目「{project.name}」已出库,不能报送")
    existing = db.session.scalar(
        select(CallProposal).where(
            CallProposal.call_id == call.id, CallProposal.project_id == project.id
        )
    )
    if existing is not None:
        raise Conflict(
            f"项目「{project.name}」已在本征集中(状态:{existing.status_label}),不能重复添加"
        )
    proposal = CallProposal(
        call=call,
        project=project,
        district_id=project.district_id,
        status="draft",
        note=(note or "").strip(),
        created_by_id=actor.id,
    )
    db.session.add(proposal)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Someone added the same project a moment ago; the unique constraint let one through.
        raise Conflict(f"项目「{project.name}」刚刚已被他人添加到本征集,请刷新页面查看") from exc
    record(
        actor,
        "call_proposal",
        proposal.id,
        "create",
        after={"call_id": call.id, "project_id": project.id, "note": proposal.note},
    )
    return proposal


def _move(
    proposal: CallProposal,
    status: str,
    action: str,
    *,
    actor: User,
    expected_version: int | None,
    comment: str | None = None,
    extra: dict | None = None,
) -> CallProposal:
    before = {"status": proposal.status}
    proposal.status = status
    flush_or_conflict(proposal, expected_version)
    record(
        actor,
        "call_proposal",
        proposal.id,
        action,
        before=before,
        after={"status": status, **(extra or {})},
        comment=comment or None,
    )
    return proposal


def propose(
    proposal: CallProposal, *, actor: User, expected_version: int | None = None
) -> CallProposal:
    """Send a drafted proposal to the city (草稿 → 已报送)."""
    _require_district_staff(actor, proposal.district_id)
    expect_version(proposal, expected_version)
    if proposal.status != "draft":
        raise Conflict(f"该项目当前为「{proposal.status_label}」,不能报送")
    _require_accepting(proposal.call, local_today())
    if proposal.project.maturity == "removed":
        raise Conflict(f"项目「{proposal.project.name}」已出库,不能报送")
    proposal.proposed_at = utcnow()
    return _move(proposal, "proposed", "propose", actor=actor, expected_version=expected_version)


def withdraw_proposal(
    proposal: CallProposal, *, actor: User, expected_version: int | None = None
) -> CallProposal:
    """Take a proposal back to draft while the city has not decided on it."""
    _require_district_staff(actor, proposal.district_id)
    expect_version(proposal, expected_version)
    if proposal.status in ("accepted", "declined"):
        raise Conflict(f"市级已{proposal.status_label},不能撤回")
    if proposal.status != "proposed":
        raise Conflict("该项目尚未报送,无需撤回")
    if proposal.call.status != "open":
        raise Conflict("该征集已截止,不能撤回")
    proposal.proposed_at = None
    return _move(proposal, "draft", "withdraw", actor=actor, expected_version=expected_version)


def _require_decidable(proposal: CallProposal, actor: User, expected_version: int | None) -> None:
    if actor.role not in DECIDERS:
        raise NotPermitted("只有市级审核员可以决定是否采纳征集项目")
    expect_version(proposal, expected_version)
    if proposal.status != "proposed":
        raise Conflict(f"该项目当前为「{proposal.status_label}」,只能对已报送的项目作出决定")


def _reserve_plan(call: CollectionCall, project: Project) -> dict:
    """The plan line a project enters the reserve with when a reserve call accepts it."""
    start = project.planned_start.year if project.planned_start else call.year
    return {
        "declare_year": call.year,
        "start_year": max(start, call.year - START_BEFORE_DECLARE),
        "planned_amount": None,
        "priority": 2,
        "is_key": bool(project.is_key),
    }


def _invite(call: CollectionCall, project: Project, comment: str, actor: User) -> dict:
    """Invite the district to declare the project to the call's program, and tell its staff."""
    program = call.program
    if program.status not in ("open", "draft"):
        raise Conflict(f"申报批次「{program.title}」{program.status_label},不能再采纳项目")
    invitation = db.session.scalar(
        select(ProgramInvitation).where(
            ProgramInvitation.program_id == program.id,
            ProgramInvitation.project_id == project.id,
        )
    )
    if invitation is None:
        invitation = ProgramInvitation(
            program=program,
            project=project,
            message=comment or f"征集通知「{call.title}」采纳",
            invited_by_id=actor.id,
        )
        db.session.add(invitation)
        db.session.flush()
    notify(
        _district_staff([project.district_id]),
        "invitation",
        f"请申报:{project.name}",
        body=f"征集通知「{call.title}」已采纳该项目,请申报到「{program.title}」"
        f"(区县截止 {program.district_deadline.isoformat()})。",
        link=f"/projects/{project.id}",
        dedupe_key=f"invite-{program.id}-{project.id}",  # as matching.invite_to_program
    )
    return {"invitation_id": invitation.id}


def accept_proposal(
    proposal: CallProposal, comment: str, *, actor: User, expected_version: int | None = None
) -> CallProposal:
    """Accept a proposal: into the reserve, or an invitation to declare to the program."""
    _require_decidable(proposal, actor, expected_version)
    call, project = proposal.call, proposal.project
    if project.maturity == "removed":
        raise Conflict(f"项目「{project.name}」已出库,不能采纳")
    comment = (comment or "").strip()
    if call.purpose == "reserve":
        if project.reserve_entry is None:
            entry = admit_to_reserve(
                project,
                _reserve_plan(call, project),
                actor=actor,
                reason_code="newly_planned",
                reason=f"征集通知「{call.title}」采纳",
            )
            extra = {"reserve_entry_id": entry.id}
        else:
            extra = {"reserve_entry_id": project.reserve_entry.id, "already_in_reserve": True}
    else:
        extra = _invite(call, project, comment, actor)
    proposal.decided_by_id = actor.id
    proposal.decided_at = utcnow()
    proposal.decision_comment = comment or None
    return _move(
        proposal,
        "accepted",
        "accept",
        actor=actor,
        expected_version=expected_version,
        comment=comment,
        extra=extra,
    )


def decline_proposal(
    proposal: CallProposal, comment: str, *, actor: User, expected_version: int | None = None
) -> CallProposal:
    """Decline a proposal, with the reason the district will read."""
    _require_decidable(proposal, actor, expected_version)
    comment = (comment or "").strip()
    if not comment:
        raise Invalid("请填写不予采纳的理由", fields={"comment": "请填写不予采纳的理由"})
    proposal.decided_by_id = actor.id
    proposal.decided_at = utcnow()
    proposal.decision_comment = comment
    return _move(
        proposal,
        "declined",
        "decline",
        actor=actor,
        expected_version=expected_version,
        comment=comment,
    )


# --- queries --------------------------------------------------------------------------------


@dataclass
class BoardRow:
    """One district's answer to a call."""

    district: District
    proposed: int = 0
    accepted: int = 0
    declined: int = 0
    draft: int = 0

    @property
    def submitted(self) -> int:
        """Projects the district sent to the city, whatever the decision."""
        return self.proposed + self.accepted + self.declined

    @property
    def answered(self) -> bool:
        """Whether the district sent at least one project."""
        return self.submitted > 0


@dataclass
class Board:
    """Every target district's answer, with totals."""

    rows: list[BoardRow]
    past_deadline: bool
    totals: BoardRow = field(init=False)

    def __post_init__(self):
        self.totals = BoardRow(
            district=None,  # type: ignore[arg-type]
            proposed=sum(r.proposed for r in self.rows),
            accepted=sum(r.accepted for r in self.rows),
            declined=sum(r.declined for r in self.rows),
            draft=sum(r.draft for r in self.rows),
        )

    @property
    def answered_count(self) -> int:
        return sum(1 for r in self.rows if r.answered)

    @property
    def not_answered(self) -> list[District]:
        """The districts that have not sent anything yet."""
        return [r.district for r in self.rows if not r.answered]


def call_board(call: CollectionCall, *, today: date, district_id: int | None = None) -> Board:
    """Per target district: proposed, accepted, declined, drafts, answered; in one query."""
    counts = [
        func.coalesce(func.sum(case((CallProposal.status == status, 1), else_=0)), 0)
        for status in ("proposed", "accepted", "declined", "draft")
    ]
    query = (
        select(District, *counts)
        .join(call_districts, call_districts.c.district_id == District.id)
        .outerjoin(
            CallProposal,
            and_(
                CallProposal.call_id == call_districts.c.call_id,
                CallProposal.district_id == District.id,
            ),
        )
        .where(call_districts.c.call_id == call.id)
        .group_by(District.id)
        .order_by(District.sort_order, District.code)
    )
    if district_id is not None:
        query = query.where(District.id == district_id)
    rows = [
        BoardRow(district, int(proposed), int(accepted), int(declined), int(draft))
        for district, proposed, accepted, declined, draft in db.session.execute(query)
    ]
    return Board(rows=rows, past_deadline=is_past_deadline(call, today))


@dataclass(frozen=True)
class CallSummary:
    """A call's answer at a glance, for the list page."""

    districts: int
    answered: int
    submitted: int


def call_summaries(call_ids) -> dict[int, CallSummary]:
    """For each call: how many districts it targets, how many answered, projects sent; one query."""
    ids = list(call_ids)
    if not ids:
        return {}
    is_answer = CallProposal.status.in_(ANSWERED_STATUSES)
    query = (
        select(
            call_districts.c.call_id,
            func.count(distinct(call_districts.c.district_id)),
            func.count(distinct(case((is_answer, CallProposal.district_id)))),
            func.coalesce(func.sum(case((is_answer, 1), else_=0)), 0),
        )
        .outerjoin(
            CallProposal,
            and_(
                CallProposal.call_id == call_districts.c.call_id,
                CallProposal.district_id == call_districts.c.district_id,
            ),
        )
        .where(call_districts.c.call_id.in_(ids))
        .group_by(call_districts.c.call_id)
    )
    return {
        call_id: CallSummary(int(districts), int(answered), int(submitted))
        for call_id, districts, answered, submitted in db.session.execute(query)
    }


# --- reminders ------------------------------------------------------------------------------


def send_due_reminders(today: date) -> int:
    """Remind the staff of districts that have not answered, from the reminder day to the deadline.

    Each user gets one reminder per call (its dedupe key), however often this runs.
    """
    sent = 0
    calls = db.session.scalars(
        select(CollectionCall)
        .where(CollectionCall.status == "open", CollectionCall.deadline >= today)
        .order_by(CollectionCall.deadline, CollectionCall.id)
    )
    for call in calls:
        if not reminder_date(call) <= today <= call.deadline:
            continue
        silent = [d.id for d in call_board(call, today=today).not_answered]
        if not silent:
            continue
        left = working_days_between(today, call.deadline)
        when = (
            f"今天({call.deadline.isoformat()})截止"
            if today == call.deadline
            else f"将于 {call.deadline.isoformat()} 截止,还剩 {left} 个工作日"
        )
        sent += notify(
            _district_staff(silent),
            "call_reminder",
            f"征集即将截止:{call.title}",
            body=f"征集通知「{call.title}」{when},贵区县尚未报送项目,请尽快报送。",
            link=call_link(call),
            dedupe_key=f"call-{call.id}-remind",
        )
    return sent
