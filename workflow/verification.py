"""Checking a PDF against the records (材料核验): is it a file this system made, and still current?

A file is first matched whole, by its SHA-256, against every dossier, batch dossier and monthly
report made. Matched, it is current while the data it was made from is unchanged, else outdated.
Unmatched, its own fingerprint (the batch's metadata, or the 「数据指纹」 printed in the footer)
may still name a record: then the file was made here but changed since, and is unknown. A user
is only ever told about records they may see; anything else reads as unknown.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy import select

from . import batch as batches
from . import monthly
from .dossier_data import dossier_data
from .extensions import db
from .models import BatchDossier, Dossier, MonthlyReport, User
from .operations import local_today
from .permissions import CITY_WIDE_ROLES

log = logging.getLogger(__name__)

STATUS_LABELS = {"current": "最新版本", "outdated": "已过期", "unknown": "无法确认"}
KIND_LABELS = {"dossier": "申报材料", "batch": "批量申报材料", "monthly": "月度调度报告"}
FOOTER_FINGERPRINT = re.compile(r"数据指纹\s*[::]?\s*([0-9a-f]{12,64})")
SHA256 = re.compile(r"[0-9a-f]{64}")
# Pages read for a printed fingerprint: the footer is on every page, the first and last do.
PAGES_READ = (0, -1)
# Also what a user hears of a record they may not see, so it must not say which it is.
UNKNOWN = (
    "系统中没有与该文件一致、且您有权查看的记录:它可能不是本系统生成的文件、已被修改,"
    "或属于您无权查看的范围。如需核对,请由有权限的人员(如市级管理人员)核验。"
)
MODIFIED = "该文件的数据指纹与{what}相符,但文件内容与系统记录不一致(可能被修改)。"


@dataclass(frozen=True)
class Verdict:
    """What a file was found to be."""

    status: str  # current | outdated | unknown
    kind: str | None = None  # dossier | batch | monthly
    record: Dossier | BatchDossier | MonthlyReport | None = None
    explanation: str = ""
    sha256: str = ""
    # For an outdated or changed file: the copy made from the data as it stands now, if any.
    latest: Dossier | BatchDossier | MonthlyReport | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind or "", "")


# --- who may hear about a record ----------------------------------------------------------------


def _may_see(user: User | None, kind: str, record) -> bool:
    """None is the operator at the command line, who sees everything."""
    if user is None:
        return True
    if kind == "batch":
        return user.role in batches.REQUESTERS
    if kind == "dossier":
        district_id = record.declaration.project.district_id
    else:
        district_id = record.district_id
        if district_id is None:  # a city-wide monthly report
            return user.role in CITY_WIDE_ROLES
    if user.is_district_user:
        return district_id == user.district_id
    return user.role in CITY_WIDE_ROLES


# --- what a record is, and whether its data moved on --------------------------------------------


def _describe(kind: str, record) -> str:
    if kind == "dossier":
        versions = f"申报第 {record.declaration_version} 版 / 项目第 {record.project_version} 版"
        return f"申报材料 #{record.id}({record.declaration.project.name},{versions})"
    if kind == "batch":
        return (
            f"批量申报材料 #{record.id}({record.program.title},{record.declaration_count} 个项目)"
        )
    scope = record.district.name if record.district else "全市"
    return f"月度调度报告 #{record.id}({scope} {monthly.month_label(record.month)})"


def _is_current(kind: str, record) -> bool:
    if kind == "dossier":
        decl = record.declaration
        return record.is_current and dossier_data(decl)["fingerprint"] == record.fingerprint
    if kind == "batch":
        return batches.is_current(record)
    fresh = monthly.current_hash(record.month, record.district_id, today=local_today())
    return fresh == record.data_hash


def _judged(kind: str, record, sha256: str) -> Verdict:
    what = _describe(kind, record)
    if _is_current(kind, record):
        return Verdict(
            "current",
            kind,
            record,
            f"与{what}完全一致,生成以来数据没有变化,是最新版本。",
            sha256,
        )
    latest = _latest(kind, record)
    advice = (
        f"系统中已有按最新数据生成的{_describe(kind, latest)},请改用该版本。"
        if latest is not None
        else "请在系统中按最新数据重新生成。"
    )
    return Verdict(
        "outdated",
        kind,
        record,
        f"是{what}的原件,但生成以来数据已更新,该文件已过期。{advice}",
        sha256,
        latest,
    )


def _latest(kind: str, record):
    """The newest ready copy of the same thing made from the data as it stands now, or None."""
    if kind == "dossier":
        newest = db.session.scalar(
            select(Dossier)
            .where(Dossier.declaration_id == record.declaration_id, Dossier.status == "ready")
            .order_by(Dossier.id.desc())
            .limit(1)
        )
    elif kind == "batch":
        # Found by the current fingerprint: current by construction, no second reckoning.
        newest = batches.current_batch(record.program)
        ready = newest is not None and newest.status == "ready" and newest.id != record.id
        return newest if ready else None
    else:
        newest = db.session.scalar(
            select(MonthlyReport)
            .where(
                MonthlyReport.month == record.month,
                MonthlyReport.district_id.is_(None)
                if record.district_id is None
                else MonthlyReport.district_id == record.district_id,
                MonthlyReport.status == "ready",
            )
            .order_by(MonthlyReport.id.desc())
            .limit(1)
        )
    if newest is None or newest.id == record.id or newest.status != "ready":
        return None
    return newest if _is_current(kind, newest) else None


# --- matching -----------------------------------------------------------------------------------

_TABLES = (
    ("dossier", Dossier, "sha256"),
    ("batch", BatchDossier, "sha256"),
    ("monthly", MonthlyReport, "sha256"),
)
_FINGERPRINTS = (
    ("dossier", Dossier, "fingerprint"),
    ("batch", BatchDossier, "fingerprint"),
    ("monthly", MonthlyReport, "data_hash"),
)


def verify_sha256(sha256: str, *, viewer: User | None = None) -> Verdict:
    """Judge a file known only by its SHA-256 (for files too large to upload)."""
    sha256 = sha256.strip().lower()
    for kind, model, column in _TABLES:
        record = db.session.scalar(
            select(model)
            .where(getattr(model, column) == sha256, model.status == "ready")
            .order_by(model.id.desc())
            .limit(1)
        )
        if record is not None and _may_see(viewer, kind, record):
            return _judged(kind, record, sha256)
    return Verdict("unknown", explanation=UNKNOWN, sha256=sha256)


def verify_pdf(content: bytes, *, viewer: User | None = None) -> Verdict:
    """Judge an uploaded PDF: current, outdated or unknown, and against which record."""
    sha256 = hashlib.sha256(content).hexdigest()
    verdict = verify_sha256(sha256, viewer=viewer)
    if verdict.status != "unknown":
        return verdict
    for fingerprint in fingerprints_in(content):
        for kind, model, column in _FINGERPRINTS:
            field = getattr(model, column)
            # A full fingerprint (batch metadata) or the 12 characters a footer prints.
            match = (
                field == fingerprint if len(fingerprint) == 64 else field.startswith(fingerprint)
            )
            record = db.session.scalar(
                select(model)
                .where(match, model.status == "ready")
                .order_by(model.id.desc())
                .limit(1)
            )
            if record is not None and _may_see(viewer, kind, record):
                return Verdict(
                    "unknown",
                    kind,
                    record,
                    MODIFIED.format(what=_describe(kind, record)),
                    sha256,
                    # The genuine file to use instead: that record itself, or a newer one.
                    record if _is_current(kind, record) else _latest(kind, record),
                )
    return Verdict("unknown", explanation=UNKNOWN, sha256=sha256)


def fingerprints_in(content: bytes) -> list[str]:
    """The data fingerprints a PDF carries: the batch's metadata first, then its footers."""
    try:
        reader = PdfReader(io.BytesIO(content))
        found: list[str] = []
        metadata = reader.metadata or {}
        value = str(metadata.get("/BatchFingerprint") or "")
        if SHA256.fullmatch(value):
            found.append(value)
        if reader.pages:
            for index in PAGES_READ:
                text = reader.pages[index].extract_text() or ""
                found.extend(m for m in FOOTER_FINGERPRINT.findall(text) if m not in found)
        return found
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.info("verification could not read the PDF: %s", exc)
        return []
