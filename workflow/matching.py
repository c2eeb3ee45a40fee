"""Matching a program to the reserve (储备库): reserve projects ranked by fit, with the reason for
every criterion, and the city's invitations to the owning districts to declare them.

The rules, where the brief was silent:

- **支持领域** (hard). ``program.support_areas`` is split into terms at punctuation (、,;/ …),
  each stripped of framing words (支持, 重点支持, 等, 领域, 方向, 项目). A project fits when
  one term contains its category's label or one of that category's keywords
  (``CATEGORY_KEYWORDS``, e.g. 数字基础设施 ↔ 算力), or contains its 产业链 (or is contained in
  it), or appears in the project's name. An empty text limits nothing.
- **申请金额** (hard). The amount is the reserve plan's 计划申请资金; without one, the funding
  source the program's level pays (国家级 → 中央资金, 省级 → 省级资金, 市级 → 地方财政配套).
  It must lie within ``min_request`` .. ``max_request``; an unknown amount fails.
- **资金比例** (hard). amount / 总投资 must not exceed ``max_ratio`` nor the amount the total.
- **前期要件** (hard). The program's required documents must be present and valid through its
  市级审核截止日 (``rules.prerequisite_problems``, the same check as submission).
- **计划申报年度** (soft). Passes when the plan's declare year has come (≤ the program's year);
  a project planned for a later year, or not in the plan at all, may still be declared.
- **储备优先级** and **重点项目** are ranking factors shown with the criteria: neither pass
  nor fail.

Ranking: projects that pass every hard rule first; then fewer hard failures; the declare year
reached; priority 高 → 中 → 低 (no plan line last); key projects first; the higher maturity score
on the city deadline (``prerequisites.maturity_score``); finally the project id, so it is stable.

Who: the city reviewer and the manager see the matches (district users answer to invitations,
not to the ranking of other districts' projects); only the city reviewer, who runs programs,
invites. An invitation is open while its program is open, the district deadline has not passed,
the project has not been removed and has no live declaration to that program.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from . import rules, vocab
from .audit import record
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .models import Declaration, FundingProgram, ProgramInvitation, Project, ReserveEntry, User
from .notifications import active_users, notify
from .operations import local_today
from .permissions import scope_projects
from .prerequisites import Score, maturity_score

VIEWERS = frozenset({"city_reviewer", "manager"})
INVITERS = frozenset({"city_reviewer"})

CRITERION_LABELS = {
    "support_area": "支持领域",
    "amount": "申请金额",
    "ratio": "资金比例",
    "prerequisites": "前期要件",
    "declare_year": "计划申报年度",
    "priority": "储备优先级",
    "key": "重点项目",
}
HARD_CRITERIA = ("support_area", "amount", "ratio", "prerequisites")

# Words under which a support-area text names each of the six plan areas.
CATEGORY_KEYWORDS = {
    "digital_economy": ("数字经济", "数字产业", "数字化转型", "数据要素", "数据产业", "数据产品"),
    "digital_society": ("数字社会", "公共服务", "民生", "智慧社区", "智慧医疗", "智慧教育"),
    "digital_government": ("数字政府", "政务", "城市治理", "一网通办", "一网统管"),
    "data_security": ("数据安全", "网络安全", "安全防护"),
    "digital_infrastructure": ("数字基础设施", "数据基础设施", "算力", "网络基础设施"),
    "data_technology": ("数据科技", "人工智能", "大数据", "数据标注", "区块链"),
}
# The funding source a program of each level pays, when the plan names no amount.
SOURCE_BY_LEVEL = {
    "national": "fund_central",
    "provincial": "fund_provincial",
    "city": "fund_local_fiscal",
}
TERM_SPLIT = re.compile(r"[、,,;;。::/|\s()()]+")
TERM_LEAD = re.compile(r"^(重点)?(支持|围绕|聚焦)")
TERM_TAIL = ("项目", "领域", "方向", "相关", "类", "等")
NO_PRIORITY = len(vocab.RESERVE_PRIORITIES) + 1


@dataclass(frozen=True)
class Criterion:
    """One rule checked for one project: passed (True/False, None for a ranking factor) and why."""

    code: str
    passed: bool | None
    reason: str

    @property
    def label(self) -> str:
        return CRITERION_LABELS[self.code]

    @property
    def hard(self) -> bool:
        """Whether failing it means the project does not fit."""
        return self.code in HARD_CRITERIA


@dataclass
class Match:
    """A reserve project measured against a program."""

    project: Project
    entry: ReserveEntry | None
    amount: Decimal | None
    amount_source: str
    criteria: tuple[Criterion, ...]
    score: Score
    declared: bool = False  # it already has a live declaration to this program
    invitation: ProgramInvitation | None = None
    rank: int = 0

    @property
    def failures(self) -> list[Criterion]:
        """The hard rules the project breaks."""
        return [c for c in self.criteria if c.hard and not c.passed]

    @property
    def fits(self) -> bool:
        """Whether it passes every hard rule."""
        return not self.failures

    def criterion(self, code: str) -> Criterion:
        """The criterion of that code."""
        return next(c for c in self.criteria if c.code == code)

    def sort_key(self) -> tuple:
        """Fit first, then fewer failures, year reached, priority, key project, maturity score."""
        return (
            not self.fits,
            len(self.failures),
            not self.criterion("declare_year").passed,
            self.entry.priority if self.entry else NO_PRIORITY,
            not self.project.is_key,
            -self.score.total,
            self.project.id,
        )


# --- the rules (pure) ---------------------------------------------------------------------


def wan(value: Decimal) -> str:
    """An amount in 万元 as people write it in a sentence: 800, 1,234.5."""
    return f"{value.normalize():,f}"


def percent(value: Decimal, places: int = 2) -> str:
    """A fraction as a percentage without trailing zeros: 0.5 → 50%, 0.3333 → 33.33%."""
    shown = (value * 100).quantize(Decimal(1).scaleb(-places)).normalize()
    return f"{shown:f}%"


def support_terms(text: str) -> list[str]:
    """The support areas of a program as short terms, framing words removed."""
    terms = []
    for raw in TERM_SPLIT.split(text or ""):
        term = TERM_LEAD.sub("", raw.strip())
        stripped = True
        while stripped:
            stripped = False
            for tail in TERM_TAIL:
                if term.endswith(tail) and len(term) > len(tail):
                    term, stripped = term[: -len(tail)], True
        if len(term) >= 2 and term not in terms:
            terms.append(term)
    return terms


def support_area_criterion(project: Project, terms: list[str]) -> Criterion:
    """Whether the project's category, industry chain or name falls in the support areas."""
    if not terms:
        return Criterion("support_area", True, "本批次未限定支持领域")
    category = project.category_label
    keywords = (category, *CATEGORY_KEYWORDS.get(project.category, ()))
    for term in terms:
        if any(k in term for k in keywords):
            return Criterion("support_area", True, f"所属领域「{category}」符合支持方向「{term}」")
    chain = project.industry_chain
    if chain:
        for term in terms:
            if chain in term or term in chain:
                return Criterion("support_area", True, f"产业链「{chain}」符合支持方向「{term}」")
    for term in terms:
        if term in project.name:
            return Criterion("support_area", True, f"项目名称含支持方向「{term}」")
    what = f"所属领域「{category}」" + (f"、产业链「{chain}」" if chain else "")
    return Criterion("support_area", False, f"{what}及项目名称均不在本批次支持领域内")


def planned_amount(
    project: Project, entry: ReserveEntry | None, program: FundingProgram
) -> tuple[Decimal | None, str]:
    """The funds the project would ask for, and where that figure comes from."""
    if entry is not None and entry.planned_amount is not None:
        return entry.planned_amount, "储备计划申请资金"
    source = SOURCE_BY_LEVEL.get(program.level)
    value = getattr(project, source) if source else None
    if value:
        return value, f"资金来源中的{vocab.FUND_SOURCES[source]}"
    return None, ""


def amount_criterion(amount: Decimal | None, program: FundingProgram) -> Criterion:
    """Whether the amount lies within the program's limits."""
    low, high = program.min_request, program.max_request
    if amount is None:
        return Criterion("amount", False, "未填写计划申请资金,无法核对金额限制")
    if amount <= 0:
        return Criterion("amount", False, "计划申请资金为 0,无法申报")
    if high is not None and amount > high:
        return Criterion("amount", False, f"申请资金 {wan(amount)} 万元超过上限 {wan(high)} 万元")
    if low is not None and amount < low:
        return Criterion("amount", False, f"申请资金 {wan(amount)} 万元低于下限 {wan(low)} 万元")
    if low is not None and high is not None:
        within = f"在 {wan(low)}–{wan(high)} 万元之间"
    elif high is not None:
        within = f"未超过上限 {wan(high)} 万元"
    elif low is not None:
        within = f"不低于下限 {wan(low)} 万元"
    else:
        within = "本批次未限定金额"
    return Criterion("amount", True, f"申请资金 {wan(amount)} 万元,{within}")


def ratio_criterion(
    amount: Decimal | None, total: Decimal | None, program: FundingProgram
) -> Criterion:
    """Whether the amount stays within the program's share of the total investment."""
    if amount is None or amount <= 0:
        return Criterion("ratio", False, "缺少申请资金,无法核对占总投资比例")
    if not total:
        return Criterion("ratio", False, "项目未填写总投资,无法核对占总投资比例")
    if amount > total:
        return Criterion(
            "ratio", False, f"申请资金 {wan(amount)} 万元超过项目总投资 {wan(total)} 万元"
        )
    share = percent(amount / total)
    limit = program.max_ratio
    if limit is None:
        return Criterion("ratio", True, f"申请资金占总投资 {share},本批次未限定比例")
    if amount / total > limit:
        ceiling = (total * limit).quantize(Decimal("0.01"), ROUND_DOWN)
        return Criterion(
            "ratio",
            False,
            f"申请资金占总投资 {share},超过上限 {percent(limit)}(最多可申请 {wan(ceiling)} 万元)",
        )
    return Criterion("ratio", True, f"申请资金占总投资 {share},未超过上限 {percent(limit)}")


def prerequisite_criterion(project: Project, program: FundingProgram) -> Criterion:
    """Whether the required 前期要件 are present and valid through the city deadline."""
    required = program.required_prerequisites or []
    problems = rules.prerequisite_problems(
        project.prerequisites, required, program.city_deadline, "市级审核截止日"
    )
    if problems:
        return Criterion("prerequisites", False, ";".join(problems))
    if not required:
        return Criterion("prerequisites", True, "本批次未要求前期要件")
    names = "、".join(vocab.label(vocab.PREREQUISITE_KINDS, k) for k in required)
    return Criterion(
        "prerequisites",
        True,
        f"{names}齐全,有效期覆盖市级审核截止日 {program.city_deadline.isoformat()}",
    )


def declare_year_criterion(entry: ReserveEntry | None, program: FundingProgram) -> Criterion:
    """Whether the plan's declare year has come by the program's year."""
    if entry is None:
        return Criterion("declare_year", False, "未编入三年滚动计划")
    planned = entry.declare_year
    if planned == program.year:
        return Criterion("declare_year", True, f"计划 {planned} 年申报,与本批次年度一致")
    if planned < program.year:
        return Criterion("declare_year", True, f"计划 {planned} 年申报,已到申报年度")
    return Criterion(
        "declare_year", False, f"计划 {planned} 年申报,本批次为 {program.year} 年,需提前申报"
    )


def priority_criterion(entry: ReserveEntry | None) -> Criterion:
    """The plan's priority, as a ranking factor."""
    if entry is None:
        return Criterion("priority", None, "未编入储备计划,排在有优先级的项目之后")
    return Criterion("priority", None, f"「{entry.priority_label}」")


def key_criterion(project: Project) -> Criterion:
    """The key-project flag, as a ranking factor."""
    return Criterion("key", None, "是,同等条件下优先" if project.is_key else "否")


def measure(project: Project, program: FundingProgram, terms: list[str] | None = None) -> Match:
    """Check one reserve project against the program (its prerequisites and plan line loaded)."""
    entry = project.reserve_entry
    amount, source = planned_amount(project, entry, program)
    if terms is None:
        terms = support_terms(program.support_areas)
    criteria = (
        support_area_criterion(project, terms),
        amount_criterion(amount, program),
        ratio_criterion(amount, project.total_investment, program),
        prerequisite_criterion(project, program),
        declare_year_criterion(entry, program),
        priority_criterion(entry),
        key_criterion(project),
    )
    return Match(
        project=project,
        entry=entry,
        amount=amount,
        amount_source=source,
        criteria=criteria,
        score=maturity_score(project, program.city_deadline),
    )


def rank(matches: list[Match]) -> list[Match]:
    """Sort by fit and number the places from 1."""
    matches.sort(key=Match.sort_key)
    for place, match in enumerate(matches, start=1):
        match.rank = place
    return matches


# --- reading ---------------------------------------------------------------------------------


def match_program(program: FundingProgram, *, district_id: int | None = None) -> list[Match]:
    """Every reserve project (of one district when given), ranked for the program.

    Five queries whatever the number of projects: the projects with their districts, their
    前期要件, their plan lines, then this program's invitations and live declarations.
    """
    query = (
        select(Project)
        .where(Project.maturity == "reserve")
        .options(
            joinedload(Project.district),
            selectinload(Project.prerequisites),
            selectinload(Project.reserve_entry),
        )
    )
    if district_id is not None:
        query = query.where(Project.district_id == district_id)
    projects = db.session.scalars(query).all()
    invitations = {
        inv.project_id: inv
        for inv in db.session.scalars(
            select(ProgramInvitation)
            .where(ProgramInvitation.program_id == program.id)
            .options(joinedload(ProgramInvitation.invited_by))
        )
    }
    declared = set(
        db.session.scalars(
            select(Declaration.project_id).where(
                Declaration.program_id == program.id, Declaration.stage != "withdrawn"
            )
        )
    )
    terms = support_terms(program.support_areas)
    matches = []
    for project in projects:
        match = measure(project, program, terms)
        match.invitation = invitations.get(project.id)
        match.declared = project.id in declared
        matches.append(match)
    return rank(matches)


def open_invitations(
    user: User, today: date, *, project_id: int | None = None
) -> list[ProgramInvitation]:
    """Invitations the user may see that still wait for a declaration, nearest deadline first."""
    live = (
        select(Declaration.id)
        .where(
            Declaration.project_id == ProgramInvitation.project_id,
            Declaration.program_id == ProgramInvitation.program_id,
            Declaration.stage != "withdrawn",
        )
        .exists()
    )
    query = (
        select(ProgramInvitation)
        .join(ProgramInvitation.project)
        .join(ProgramInvitation.program)
        .options(
            contains_eager(ProgramInvitation.project),
            contains_eager(ProgramInvitation.program),
            joinedload(ProgramInvitation.invited_by),
        )
        .where(
            FundingProgram.status == "open",
            FundingProgram.district_deadline >= today,
            Project.maturity != "removed",
            ~live,
        )
        .order_by(FundingProgram.district_deadline, ProgramInvitation.id)
    )
    if project_id is not None:
        query = query.where(ProgramInvitation.project_id == project_id)
    return list(db.session.scalars(scope_projects(query, user)))


# --- inviting --------------------------------------------------------------------------------


def invitation_refusal(program: FundingProgram, actor: User, today: date) -> str | None:
    """Why the actor cannot invite districts to this program now, or None."""
    if actor.role not in INVITERS:
        return "只有市级审核员可以邀请区县申报"
    if program.status != "open":
        return f"申报批次「{program.title}」当前{program.status_label},不能邀请申报"
    if today > program.district_deadline:
        return f"本批次区县申报已于 {program.district_deadline.isoformat()} 截止,不能再邀请申报"
    return None


@dataclass
class Invited:
    """What an invitation request did: the new invitations and the projects passed over, why."""

    created: list[ProgramInvitation] = field(default_factory=list)
    skipped: list[tuple[Project, str]] = field(default_factory=list)


def invite_to_program(
    program: FundingProgram, projects: list[Project], *, actor: User, message: str = ""
) -> Invited:
    """Invite the owning districts to declare reserve projects to the program.

    Projects already invited, declared to it, or no longer in the reserve are passed over and
    reported; each new invitation gets an audit row and a message to its district's staff.
    """
    refusal = invitation_refusal(program, actor, local_today())
    if refusal:
        raise (NotPermitted if actor.role not in INVITERS else Conflict)(refusal)
    if not projects:
        raise Invalid("请至少勾选一个项目", fields={"project_ids": "请至少勾选一个项目"})
    ids = [p.id for p in projects]
    invited = set(
        db.session.scalars(
            select(ProgramInvitation.project_id).where(
                ProgramInvitation.program_id == program.id, ProgramInvitation.project_id.in_(ids)
            )
        )
    )
    declared = set(
        db.session.scalars(
            select(Declaration.project_id).where(
                Declaration.program_id == program.id,
                Declaration.project_id.in_(ids),
                Declaration.stage != "withdrawn",
            )
        )
    )
    result = Invited()
    seen: set[int] = set()
    for project in projects:
        if project.id in seen:
            continue
        seen.add(project.id)
        if project.id in invited:
            result.skipped.append((project, "已邀请过"))
        elif project.id in declared:
            result.skipped.append((project, "已申报本批次"))
        elif project.maturity != "reserve":
            result.skipped.append((project, f"不在储备库中(当前为「{project.maturity_label}」)"))
        else:
            invitation = ProgramInvitation(
                program=program, project=project, message=message, invited_by_id=actor.id
            )
            db.session.add(invitation)
            result.created.append(invitation)
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Another city reviewer invited one of these projects at the same moment.
        raise Conflict("其中有项目刚刚已被他人邀请,请刷新页面后重试") from exc
    staff_by_district: dict[int, list[User]] = {}
    for invitation in result.created:
        project = invitation.project
        record(
            actor,
            "program_invitation",
            invitation.id,
            "invite",
            after={
                "program_id": program.id,
                "project_id": project.id,
                "district_id": project.district_id,
            },
            comment=message or None,
        )
        if project.district_id not in staff_by_district:
            staff_by_district[project.district_id] = active_users(
                role="district_staff", district_id=project.district_id
            )
        body = (
            f"市数据局邀请项目「{project.name}」申报「{program.title}」,"
            f"区县申报截止 {program.district_deadline.isoformat()}。"
        )
        notify(
            staff_by_district[project.district_id],
            "invitation",
            f"申报邀请:{project.name}",
            body=body + (f"说明:{message}" if message else ""),
            link=f"/projects/{project.id}#invitations",
            dedupe_key=f"invite-{program.id}-{project.id}",
        )
    return result
