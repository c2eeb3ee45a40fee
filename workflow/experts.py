"""Expert review (专家评审): assignments of experts to declarations, their scores, the ranking.

The city assigns experts while a declaration sits in a stage of kind ``expert_review``; an
expert from the applicant's district or unit is refused (conflict of interest). Each expert
fills the program's score sheet (weighted criteria, 0–100 each, with a written opinion); the
weighted total is Σ score × weight / 100. An expert may correct their sheet until the
declaration leaves the stage: the city concludes on the sheets as they then stand, and every
correction is in the audit log. A return for revision voids the round (``void_assignments``):
the revised declaration is scored afresh. Assigning and scoring bump the declaration's version,
so they serialize with the workflow's own transitions (a score cannot slip in after the city
has concluded or returned the declaration).
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import machine, vocab
from .audit import record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import (
    Declaration,
    ExpertAssignment,
    ExpertScore,
    FundingProgram,
    Project,
    User,
)
from .types import utcnow

ASSIGNERS = frozenset({"city_reviewer"})
# Who sees the scores of a declaration and a program's ranking.
SCORE_VIEWERS = frozenset({"city_reviewer", "manager"})
CRITERIA_EDITORS = frozenset({"city_reviewer", "admin"})
CENT = Decimal("0.01")
MAX_CRITERIA = 12
MAX_LABEL = 20
# Where an expert scores an assignment (a plain path: notifications are made outside requests).
REVIEW_PATH = "/reviews/{id}"

ASSIGNMENT_STATUSES = {
    "pending": "待评分",
    "scored": "已评分",
    "closed": "评审已结束",
    "voided": "已作废",
}


# --- the current round ----------------------------------------------------------------------


def active_assignments(decl: Declaration) -> list[ExpertAssignment]:
    """The declaration's assignments of the current round (not voided by a return)."""
    return list(
        db.session.scalars(
            select(ExpertAssignment)
            .where(ExpertAssignment.declaration_id == decl.id, ExpertAssignment.voided_at.is_(None))
            .options(selectinload(ExpertAssignment.score), selectinload(ExpertAssignment.expert))
            .order_by(ExpertAssignment.id)
        )
    )


def scoring_gaps(decl: Declaration, *, min_experts: int = 1) -> list[str]:
    """Why the city cannot conclude the expert review yet (empty when it can)."""
    assignments = active_assignments(decl)
    gaps = []
    if len(assignments) < min_experts:
        gaps.append(f"至少需要 {min_experts} 位专家评审,目前已分配 {len(assignments)} 位")
    waiting = [a.expert.display_name for a in assignments if a.score is None]
    if waiting:
        gaps.append(f"尚有 {len(waiting)} 位专家未提交评分:{'、'.join(waiting)}")
    return gaps


def void_assignments(decl: Declaration, at: datetime) -> int:
    """Void the current round (the declaration was sent back); returns how many."""
    result = db.session.execute(
        update(ExpertAssignment)
        .where(ExpertAssignment.declaration_id == decl.id, ExpertAssignment.voided_at.is_(None))
        .values(voided_at=at)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    return max(result.rowcount, 0)


def past_assignments(decl: Declaration) -> list[ExpertAssignment]:
    """The declaration's voided assignments (earlier rounds), newest first."""
    return list(
        db.session.scalars(
            select(ExpertAssignment)
            .where(
                ExpertAssignment.declaration_id == decl.id,
                ExpertAssignment.voided_at.is_not(None),
            )
            .options(selectinload(ExpertAssignment.score), selectinload(ExpertAssignment.expert))
            .order_by(ExpertAssignment.id.desc())
        )
    )


def expert_stage(decl: Declaration):
    """The declaration's current stage definition when it is an expert review, else None."""
    stage = machine.workflow_for(decl).stage(decl.stage)
    return stage if stage is not None and stage.kind == "expert_review" else None


def in_expert_stage(decl: Declaration) -> bool:
    """Whether the declaration sits in an expert review stage of its workflow."""
    return expert_stage(decl) is not None


def _operations():
    # operations imports machine, which imports this module: operations is reached at call time.
    from . import operations

    return operations


def _touch(decl: Declaration) -> None:
    # A new version makes the change collide with a concurrent transition of the declaration,
    # and marks dossiers printed before it as out of date.
    decl.updated_at = utcnow()


def _flush(decl: Declaration, expected_version: int | None) -> None:
    try:
        _operations().flush_or_conflict(decl, expected_version)
    except IntegrityError as exc:
        raise Conflict("评审记录已被他人同时修改,请刷新页面后重试") from exc


# --- conflict of interest and assignment ----------------------------------------------------

# Everything that is not a letter, digit or CJK character: spaces, punctuation, brackets.
_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def normalized_unit(name: str | None) -> str:
    """A unit's name for comparison: NFKC, case folded, spaces and punctuation removed.

    "盐城 测试科技(有限公司)" and "盐城测试科技(有限公司)" are the same unit.
    """
    return _NOISE.sub("", unicodedata.normalize("NFKC", name or "").casefold())


def conflict_reasons(decl: Declaration, expert: User) -> list[str]:
    """Why this expert may not review this declaration (conflict of interest); empty if none."""
    project = decl.project
    reasons = []
    if expert.district_id is not None and expert.district_id == project.district_id:
        reasons.append(f"专家来自申报项目所在的{project.district.name}")
    unit = normalized_unit(expert.organization)
    if unit and unit == normalized_unit(project.applicant_unit):
        reasons.append(f"专家所在单位即申报单位「{project.applicant_unit}」")
    return reasons


@dataclass
class Candidate:
    """An active expert and why they cannot be assigned to a declaration (empty: they can)."""

    expert: User
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.reasons


def expert_candidates(decl: Declaration) -> list[Candidate]:
    """Every active expert with the reasons any is excluded from this declaration."""
    assigned = {a.expert_id for a in active_assignments(decl)}
    experts = db.session.scalars(
        select(User).where(User.role == "expert", User.active.is_(True)).order_by(User.id)
    ).all()
    candidates = []
    for expert in experts:
        reasons = conflict_reasons(decl, expert)
        if expert.id in assigned:
            reasons.append("已分配本轮评审")
        candidates.append(Candidate(expert, reasons))
    return candidates


def _stage_refusal(decl: Declaration, what: str) -> Conflict:
    return Conflict(f"申报当前为「{decl.stage_label}」,不在专家评审阶段,不能{what}")


def assign_expert(
    decl: Declaration, expert: User, *, actor: User, expected_version: int | None = None
) -> ExpertAssignment:
    """Ask an expert to score the declaration in this round, and tell them so."""
    if actor.role not in ASSIGNERS:
        raise NotPermitted("只有市级审核员可以分配评审专家")
    _operations().expect_version(decl, expected_version)
    if not in_expert_stage(decl):
        raise _stage_refusal(decl, "分配评审专家")
    if expert.role != "expert" or not expert.active:
        raise Invalid(
            f"{expert.display_name}不是在用的评审专家,不能分配",
            fields={"expert_id": "请选择在用的评审专家"},
        )
    reasons = conflict_reasons(decl, expert)
    if reasons:
        message = f"不能分配{expert.display_name}(回避):{';'.join(reasons)}"
        raise Invalid(message, reasons=reasons, fields={"expert_id": message})
    if any(a.expert_id == expert.id for a in active_assignments(decl)):
        raise Conflict(f"{expert.display_name}已分配本轮评审,不能重复分配")
    assignment = ExpertAssignment(
        declaration=decl, expert=expert, assigned_by=actor, assigned_at=utcnow()
    )
    db.session.add(assignment)
    _touch(decl)
    _flush(decl, expected_version)
    record(
        actor,
        "declaration",
        decl.id,
        "assign_expert",
        before={"stage": decl.stage},
        after={
            "expert_id": expert.id,
            "expert": expert.display_name,
            "assignment_id": assignment.id,
        },
    )
    # Imported here: notifications imports operations, which imports this module (via machine).
    from .notifications import notify

    due = f",请于 {decl.stage_due_on.isoformat()} 前提交评分" if decl.stage_due_on else ""
    notify(
        [expert],
        "expert_assigned",
        f"请评审:{decl.project.name}",
        body=f"{decl.program.title}{due}",
        link=REVIEW_PATH.format(id=assignment.id),
    )
    return assignment


def unassign_expert(assignment: ExpertAssignment, *, actor: User) -> None:
    """Take back an assignment the expert has not scored yet (the row goes; the audit stays)."""
    if actor.role not in ASSIGNERS:
        raise NotPermitted("只有市级审核员可以撤销评审分配")
    decl = assignment.declaration
    if assignment.voided_at is not None:
        raise Conflict("该评审分配已作废,无需撤销")
    if not in_expert_stage(decl):
        raise _stage_refusal(decl, "撤销评审分配")
    if assignment.score is not None:
        raise Conflict(f"{assignment.expert.display_name}已提交评分,不能撤销分配")
    expert = assignment.expert
    details = {
        "expert_id": expert.id,
        "expert": expert.display_name,
        "assignment_id": assignment.id,
    }
    db.session.delete(assignment)
    _touch(decl)
    _flush(decl, None)
    record(actor, "declaration", decl.id, "unassign_expert", before=details)
    from .notifications import notify  # see assign_expert

    notify(
        [expert],
        "expert_assigned",
        f"评审任务已撤销:{decl.project.name}",
        body="市级审核员撤销了对您的评审分配,无需再评分",
        link="/reviews",
    )


# --- the score sheet ------------------------------------------------------------------------


def score_criteria(program: FundingProgram) -> list[dict]:
    """The program's score sheet: [{"name", "label", "weight"}], weights adding up to 100."""
    return [dict(c) for c in (program.score_criteria or vocab.DEFAULT_SCORE_CRITERIA)]


def criteria_problems(criteria: list[dict]) -> list[str]:
    """What is wrong with a score sheet (empty when it can be used)."""
    if not criteria:
        return []  # the default sheet
    problems = []
    if len(criteria) > MAX_CRITERIA:
        problems.append(f"评分项最多 {MAX_CRITERIA} 项")
    labels, names = set(), set()
    for c in criteria:
        label, weight = c.get("label", ""), c.get("weight")
        if not label:
            problems.append("评分项名称不能为空")
        elif len(label) > MAX_LABEL:
            problems.append(f"评分项「{label}」的名称不能超过 {MAX_LABEL} 字")
        if label in labels or c.get("name") in names:
            problems.append(f"评分项「{label}」重复")
        labels.add(label)
        names.add(c.get("name"))
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            problems.append(f"评分项「{label}」的权重应为正整数")
    weights = [c.get("weight") for c in criteria]
    if all(isinstance(w, int) for w in weights) and sum(weights) != 100:
        problems.append(f"各评分项权重之和应为 100,现为 {sum(weights)}")
    return problems


def program_has_scores(program: FundingProgram) -> bool:
    """Whether any expert has scored a declaration of the program (its sheet is then fixed)."""
    return bool(
        db.session.scalar(
            select(
                exists()
                .where(ExpertScore.assignment_id == ExpertAssignment.id)
                .where(ExpertAssignment.declaration_id == Declaration.id)
                .where(Declaration.program_id == program.id)
            )
        )
    )


def set_score_criteria(
    program: FundingProgram,
    criteria: list[dict],
    *,
    actor: User,
    expected_version: int | None = None,
) -> FundingProgram:
    """Change a program's score sheet (empty: the default one) until the first score is in."""
    if actor.role not in CRITERIA_EDITORS:
        raise NotPermitted("只有市级审核员和系统管理员可以设置评分表")
    _operations().expect_version(program, expected_version)
    if program_has_scores(program):
        raise Conflict("该批次已有专家提交评分,评分表不能再修改")
    problems = criteria_problems(criteria)
    if problems:
        raise Invalid(";".join(problems), reasons=problems, fields={"criteria": problems[0]})
    before = list(program.score_criteria or [])
    program.score_criteria = [
        {"name": c["name"], "label": c["label"], "weight": c["weight"]} for c in criteria
    ]
    _operations().flush_or_conflict(program, expected_version)
    if before != program.score_criteria:
        record(
            actor,
            "program",
            program.id,
            "update",
            before={"score_criteria": before},
            after={"score_criteria": program.score_criteria},
        )
    return program


def _as_decimal(value) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def checked_scores(criteria: list[dict], scores: Mapping) -> dict[str, Decimal]:
    """Each criterion's score as a Decimal; Invalid, naming each bad criterion, otherwise."""
    fields: dict[str, str] = {}
    known = {c["name"] for c in criteria}
    for name in scores:
        if name not in known:
            fields[str(name)] = f"评分表中没有「{name}」这一项"
    values: dict[str, Decimal] = {}
    for c in criteria:
        raw = scores.get(c["name"])
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            fields[c["name"]] = f"请为「{c['label']}」打分"
            continue
        number = _as_decimal(raw)
        if number is None:
            fields[c["name"]] = f"「{c['label']}」的分数应为数字"
        elif not Decimal(0) <= number <= Decimal(100):
            fields[c["name"]] = f"「{c['label']}」的分数应在 0 到 100 之间"
        elif number != number.quantize(CENT):
            fields[c["name"]] = f"「{c['label']}」的分数最多保留两位小数"
        else:
            values[c["name"]] = number
    if fields:
        raise Invalid("评分表有误:" + ";".join(fields.values()), fields=fields)
    return values


def weighted_total(criteria: list[dict], scores: Mapping[str, Decimal]) -> Decimal:
    """Σ score × weight / 100, to two places (half up)."""
    total = sum((Decimal(str(scores[c["name"]])) * c["weight"] for c in criteria), start=Decimal(0))
    return (total / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _stored(number: Decimal) -> int | float:
    # JSON has no decimals: whole scores stay integers, others keep their (≤ 2) places exactly
    # through float's shortest repr, which Decimal(str(x)) reads back unchanged.
    return int(number) if number == number.to_integral_value() else float(number)


def score_refusal(assignment: ExpertAssignment, actor: User) -> Conflict | NotPermitted | None:
    """Why this user cannot fill the assignment's score sheet now (None when they can)."""
    if actor.id != assignment.expert_id:
        return NotPermitted("只有被分配的专家本人可以评分")
    if assignment.voided_at is not None:
        return Conflict("该评审任务已作废(申报已退回修改),不能再评分")
    decl = assignment.declaration
    if not in_expert_stage(decl):
        return Conflict(f"申报已离开专家评审阶段(当前为「{decl.stage_label}」),评分已结束")
    return None


def submit_score(
    assignment: ExpertAssignment, scores: Mapping, comment: str, *, actor: User
) -> ExpertScore:
    """Fill (or correct, while the stage lasts) the expert's score sheet, with its audit row."""
    refusal = score_refusal(assignment, actor)
    if refusal is not None:
        raise refusal
    decl = assignment.declaration
    criteria = score_criteria(decl.program)
    comment = (comment or "").strip()
    try:
        values = checked_scores(criteria, scores)
    except Invalid as error:
        if not comment:
            error.fields["comment"] = "请填写评审意见"
            error.message += ";请填写评审意见"
        raise
    if not comment:
        raise Invalid("请填写评审意见", fields={"comment": "请填写评审意见"})
    total = weighted_total(criteria, values)
    stored = {name: _stored(number) for name, number in values.items()}
    sheet = assignment.score
    before = None
    if sheet is None:
        sheet = ExpertScore(assignment=assignment)
        db.session.add(sheet)
    else:
        before = {"scores": dict(sheet.scores), "total": str(sheet.total), "comment": sheet.comment}
    sheet.scores, sheet.total, sheet.comment, sheet.submitted_at = stored, total, comment, utcnow()
    _touch(decl)
    _flush(decl, None)
    record(
        actor,
        "declaration",
        decl.id,
        "score",
        before=before,
        # The opinion stays in the row's data, not its comment: the declaration's timeline,
        # which the applicant reads, prints comments.
        after={
            "assignment_id": assignment.id,
            "scores": stored,
            "total": str(total),
            "comment": comment,
        },
    )
    return sheet


# --- what each side sees --------------------------------------------------------------------


def assignment_status(assignment: ExpertAssignment) -> str:
    """pending / scored / closed / voided (see ASSIGNMENT_STATUSES)."""
    if assignment.voided_at is not None:
        return "voided"
    if assignment.score is not None:
        return "scored"
    return "pending" if in_expert_stage(assignment.declaration) else "closed"


def can_correct(assignment: ExpertAssignment) -> bool:
    """Whether the expert may still fill or correct the sheet."""
    return score_refusal(assignment, assignment.expert) is None


def assignments_of(expert: User, *, pending_only: bool = False) -> list[ExpertAssignment]:
    """The expert's own assignments, newest first (only those waiting for a score if asked)."""
    query = (
        select(ExpertAssignment)
        .where(ExpertAssignment.expert_id == expert.id)
        .options(
            selectinload(ExpertAssignment.score),
            selectinload(ExpertAssignment.declaration).selectinload(Declaration.project),
            selectinload(ExpertAssignment.declaration).selectinload(Declaration.program),
        )
        .order_by(ExpertAssignment.assigned_at.desc(), ExpertAssignment.id.desc())
    )
    if pending_only:
        query = query.where(
            ExpertAssignment.voided_at.is_(None),
            ~exists().where(ExpertScore.assignment_id == ExpertAssignment.id),
        )
    rows = list(db.session.scalars(query))
    if pending_only:
        rows = [a for a in rows if in_expert_stage(a.declaration)]
    return rows


def mean(values: Iterable[Decimal]) -> Decimal | None:
    """The mean to two places (half up); None for no values."""
    values = [Decimal(str(v)) for v in values]
    if not values:
        return None
    return (sum(values, start=Decimal(0)) / len(values)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class RoundSummary:
    """The current round of one declaration: who scored, the mean total, per-criterion means."""

    declaration: Declaration
    assignments: list[ExpertAssignment]  # the whole round, scored or not
    scored: list[ExpertAssignment]
    mean_total: Decimal | None
    criterion_means: dict[str, Decimal | None]

    @property
    def assigned(self) -> int:
        return len(self.assignments)

    @property
    def complete(self) -> bool:
        return self.assigned == len(self.scored)


def round_summary(decl: Declaration, criteria: list[dict] | None = None) -> RoundSummary:
    """The declaration's current round, aggregated over its scored assignments."""
    criteria = criteria if criteria is not None else score_criteria(decl.program)
    assignments = active_assignments(decl)
    scored = [a for a in assignments if a.score is not None]
    return RoundSummary(
        declaration=decl,
        assignments=assignments,
        scored=scored,
        mean_total=mean(a.score.total for a in scored),
        criterion_means={
            c["name"]: mean(
                a.score.scores[c["name"]] for a in scored if c["name"] in a.score.scores
            )
            for c in criteria
        },
    )


@dataclass
class RankedRow:
    """One line of a program's ranking."""

    rank: int
    summary: RoundSummary

    @property
    def declaration(self) -> Declaration:
        return self.summary.declaration


def program_ranking(program: FundingProgram) -> list[RankedRow]:
    """The program's declarations with a scored current round, best mean total first.

    Ties share a rank (1, 2, 2, 4); among them the declaration with more scores comes first.
    """
    criteria = score_criteria(program)
    declarations = db.session.scalars(
        select(Declaration)
        .join(Project, Declaration.project_id == Project.id)
        .where(
            Declaration.program_id == program.id,
            exists()
            .where(ExpertAssignment.declaration_id == Declaration.id)
            .where(ExpertAssignment.voided_at.is_(None))
            .where(ExpertScore.assignment_id == ExpertAssignment.id),
        )
        .options(selectinload(Declaration.project).selectinload(Project.district))
        .order_by(Declaration.id)
    ).all()
    summaries = [round_summary(d, criteria) for d in declarations]
    summaries.sort(key=lambda s: (-s.mean_total, -len(s.scored), s.declaration.id))
    rows: list[RankedRow] = []
    for position, summary in enumerate(summaries, start=1):
        tied = rows and rows[-1].summary.mean_total == summary.mean_total
        rows.append(RankedRow(rows[-1].rank if tied else position, summary))
    return rows


def dossier_block(decl: Declaration) -> dict | None:
    """The 专家评审 block of the dossier: each expert's total and opinion, and the mean.

    None when no expert of the current round has scored (a voided round is not printed: it
    judged a text that has since been revised).
    """
    criteria = score_criteria(decl.program)
    summary = round_summary(decl, criteria)
    if not summary.scored:
        return None
    return {
        "criteria": "、".join(f"{c['label']}({c['weight']}%)" for c in criteria),
        "experts": [
            {
                "name": a.expert.display_name,
                "scores": ";".join(
                    f"{c['label']} {a.score.scores.get(c['name'], '—')}" for c in criteria
                ),
                "total": f"{a.score.total:.2f}",
                "comment": a.score.comment,
            }
            for a in summary.scored
        ],
        "mean": f"{summary.mean_total:.2f}",
        "count": f"{len(summary.scored)} 位专家评分(本轮共分配 {summary.assigned} 位)",
    }
