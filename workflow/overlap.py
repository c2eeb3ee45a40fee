"""The duplicate and overlap guard (重复/交叉申报提示).

Before a project enters the library, and before a project is declared, look for:

- another project with the same 项目代码 (a code is issued once per real project);
- another project of the same 统一社会信用代码 whose name is similar: ``fuzz.ratio`` ≥ 80 on
  normalized names (one company often runs several different projects, so the credit code alone
  says nothing);
- another project in the same district with a very similar name (``fuzz.ratio`` ≥ 90), even
  when neither has a code yet (谋划 projects usually have none);
- for a declaration, the same project (or one sharing its code) already active in a program of
  another funding channel in the same year: the classic double funding (重复申报) of one project
  through 中央预算内投资 and 超长期特别国债, say.

Names are compared with ``rapidfuzz.fuzz.ratio`` (normalized Indel similarity) after
normalization: NFKC, lower case, only letters and digits kept, and the generic words
项目/建设/工程 removed, so "智慧交通平台建设项目" and "智慧医疗平台建设项目" are not similar
merely for sharing a suffix. Chinese names carry no spaces, so ``token_set_ratio`` would score
the same as ``ratio`` here; ``partial_ratio`` and ``WRatio`` would match every short name inside
a long one.

Nothing here loads the library: each check narrows its candidates in SQL first (the code's index,
the credit code, the district plus pieces of the name) and scores at most a bounded number of
names in Python. The guard only warns; the operations refuse to go on without a written reason.
"""

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import case, literal, or_, select
from sqlalchemy.orm import joinedload

from . import vocab
from .errors import OverlapWarning
from .extensions import db
from .models import Declaration, FundingProgram, Project

SIMILAR_NAME = 80  # same credit code: a similar name is probably the same project
VERY_SIMILAR_NAME = 90  # same district, no code in common: only near-identical names
GENERIC_WORDS = ("项目", "建设", "工程")
# Stages in which a declaration no longer competes for money.
INACTIVE_STAGES = frozenset({"withdrawn", "not_approved", "not_recommended"})
# Bounds on what a check reads; far above any real overlap, far below a district's library.
MAX_SAME_USCC = 500
MAX_NAME_CANDIDATES = 2000
MAX_WARNINGS = 20


@dataclass(frozen=True)
class Overlap:
    """One thing the guard found: another project (or declaration) and why it looks the same."""

    kind: str  # "duplicate" (another library project) or "other_channel" (another declaration)
    project_id: int
    project_name: str
    district_id: int
    district: str
    maturity: str
    reasons: tuple[str, ...]
    declaration_id: int | None = None
    program_title: str | None = None
    channel: str | None = None
    stage: str | None = None

    @property
    def message(self) -> str:
        """The warning as one Chinese sentence."""
        who = f"项目 #{self.project_id}「{self.project_name}」({self.district},{self.maturity})"
        if self.kind == "other_channel":
            return (
                f"{who}已有申报 #{self.declaration_id} 在「{self.program_title}」"
                f"({self.channel},{self.stage}):{';'.join(self.reasons)}"
            )
        return f"{who}:{';'.join(self.reasons)}"

    def as_dict(self) -> dict:
        """Plain values for the API and the audit log."""
        return {
            "kind": self.kind,
            "project_id": self.project_id,
            "project_name": self.project_name,
            "district_id": self.district_id,
            "district": self.district,
            "maturity": self.maturity,
            "reasons": list(self.reasons),
            "declaration_id": self.declaration_id,
            "program_title": self.program_title,
            "channel": self.channel,
            "stage": self.stage,
            "message": self.message,
        }


_NOT_WORD = re.compile(r"[\W_]+")


def normalize_name(name: str | None) -> str:
    """A name reduced to what tells projects apart: letters and digits, no generic words."""
    text = unicodedata.normalize("NFKC", name or "").lower()
    text = _NOT_WORD.sub("", text)
    for word in GENERIC_WORDS:
        text = text.replace(word, "")
    return text


def name_similarity(a: str | None, b: str | None) -> float:
    """How alike two project names are, 0–100 (``fuzz.ratio`` on normalized names)."""
    left, right = normalize_name(a), normalize_name(b)
    if not left or not right:
        return 0.0
    return fuzz.ratio(left, right)


def name_pieces(normalized: str) -> tuple[list[str], int]:
    """Pieces of a normalized name, and how many of them any ≥ 90 similar name contains.

    ``fuzz.ratio`` ≥ 90 allows at most 0.1·(m+n) insertions and deletions, and the other name is
    at most 11/9 as long, so at most d = 2m/9 edits. Each edit breaks at most one piece: split
    into d + 2 pieces and at least two survive intact. Asking SQL for two of them (not just one)
    keeps the candidates few even in a library of look-alike names, and misses no match.
    """
    length = len(normalized)
    if length == 0:
        return [], 0
    edits = 2 * length // 9
    count = min(length, edits + 2)
    bounds = [round(i * length / count) for i in range(count + 1)]
    pieces = [normalized[bounds[i] : bounds[i + 1]] for i in range(count)]
    return pieces, count - edits


def project_warnings(values: dict, *, exclude_id: int | None = None) -> list[Overlap]:
    """Library projects that look like the one about to be created or edited.

    ``values`` holds the project's ``name``, ``code``, ``applicant_uscc`` and ``district_id``
    (any may be missing); ``exclude_id`` is the project itself when it already exists.
    """
    found: dict[int, list[str]] = {}

    def note(project_id: int, reason: str) -> None:
        reasons = found.setdefault(project_id, [])
        if reason not in reasons:
            reasons.append(reason)

    def others(query):
        return query if exclude_id is None else query.where(Project.id != exclude_id)

    name = values.get("name") or ""
    code = values.get("code")
    if code:
        query = select(Project.id).where(Project.code == code).limit(MAX_WARNINGS)
        for project_id in db.session.scalars(others(query)):
            note(project_id, f"项目代码 {code} 相同")
    uscc = values.get("applicant_uscc")
    if uscc and normalize_name(name):
        # A project taken out of the library (出库) no longer counts as a duplicate by name.
        query = (
            select(Project.id, Project.name)
            .where(Project.applicant_uscc == uscc, Project.maturity != "removed")
            .limit(MAX_SAME_USCC)
        )
        for project_id, other_name in db.session.execute(others(query)):
            score = name_similarity(name, other_name)
            if score >= SIMILAR_NAME:
                note(project_id, f"统一社会信用代码相同且名称相似(相似度 {score:.0f}%)")
    district_id = values.get("district_id")
    pieces, need = name_pieces(normalize_name(name))
    if district_id is not None and pieces:
        found_pieces = [Project.name.icontains(piece, autoescape=True) for piece in pieces]
        query = (
            select(Project.id, Project.name)
            .where(
                Project.district_id == district_id,
                Project.maturity != "removed",
                or_(*found_pieces),
                sum((case((found, 1), else_=0) for found in found_pieces), literal(0)) >= need,
            )
            .limit(MAX_NAME_CANDIDATES)
        )
        for project_id, other_name in db.session.execute(others(query)):
            score = name_similarity(name, other_name)
            if score >= VERY_SIMILAR_NAME:
                note(project_id, f"同一区县内项目名称高度相似(相似度 {score:.0f}%)")
    if not found:
        return []
    ids = sorted(found)[:MAX_WARNINGS]
    projects = db.session.scalars(
        select(Project).options(joinedload(Project.district)).where(Project.id.in_(ids))
    ).all()
    return [
        Overlap(
            kind="duplicate",
            project_id=p.id,
            project_name=p.name,
            district_id=p.district_id,
            district=p.district.name,
            maturity=p.maturity_label,
            reasons=tuple(found[p.id]),
        )
        for p in sorted(projects, key=lambda p: p.id)
    ]


def declaration_warnings(project: Project, program: FundingProgram) -> list[Overlap]:
    """What to check before declaring ``project`` to ``program``: the same project active in
    another channel's program of the same year, and the project's own duplicates."""
    same_project = [project.id]
    if project.code:
        same_project += list(
            db.session.scalars(
                select(Project.id)
                .where(Project.code == project.code, Project.id != project.id)
                .limit(MAX_WARNINGS)
            )
        )
    rows = db.session.execute(
        select(Declaration, FundingProgram)
        .join(FundingProgram, Declaration.program_id == FundingProgram.id)
        .options(joinedload(Declaration.project).joinedload(Project.district))
        .where(
            Declaration.project_id.in_(same_project),
            Declaration.stage.not_in(INACTIVE_STAGES),
            FundingProgram.year == program.year,
            FundingProgram.channel != program.channel,
        )
        .order_by(Declaration.id)
        .limit(MAX_WARNINGS)
    ).all()
    warnings = [
        Overlap(
            kind="other_channel",
            project_id=decl.project.id,
            project_name=decl.project.name,
            district_id=decl.project.district_id,
            district=decl.project.district.name,
            maturity=decl.project.maturity_label,
            reasons=(
                f"同一项目 {other.year} 年度已在「{other.channel_label}」渠道申报,"
                f"本次申报渠道为「{program.channel_label}」"
                + ("" if decl.project.id == project.id else "(项目代码相同)"),
            ),
            declaration_id=decl.id,
            program_title=other.title,
            channel=other.channel_label,
            stage=vocab.label(vocab.STAGES, decl.stage),
        )
        for decl, other in rows
    ]
    return warnings + project_warnings(
        {
            "name": project.name,
            "code": project.code,
            "applicant_uscc": project.applicant_uscc,
            "district_id": project.district_id,
        },
        exclude_id=project.id,
    )


def audit_comment(warnings: list[Overlap], reason: str) -> str:
    """The audit row's comment: what the guard warned about and the reason given to go on."""
    listed = ";".join(w.message for w in warnings)
    return f"重复/交叉申报提示:{listed}。继续的理由:{reason}"


def require_reason(warnings: list[Overlap], reason: str | None, what: str) -> str | None:
    """The reason to keep, or OverlapWarning when the guard warned and none was written.

    Without warnings nothing is kept, even a reason sent in advance: the dossier's 说明 block
    appears only where the guard actually found something.
    """
    if not warnings:
        return None
    reason = (reason or "").strip()
    if not reason:
        raise OverlapWarning(
            f"{what}前发现 {len(warnings)} 处可能重复或交叉申报的情况,请核实;"
            "如确需继续,请填写继续的理由",
            warnings=warnings,
        )
    return reason
