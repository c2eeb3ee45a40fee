"""Batch dossiers (批量申报材料): one PDF per program with every recommended declaration.

A manager sends upstream one bundle per program: a cover, the 汇总表, then each recommended
declaration's section with its attachments, and a manifest. The batch's fingerprint hashes what
it prints (the program's fields, the summary rows, each section's cache key, each attachment's
SHA-256), so asking twice for unchanged data joins the batch already made, and a batch whose
data has moved on since is shown as outdated.

Each section is kept in a cache folder of the shared file store under a key made of its data's
fingerprint, its number in the batch and the section template's hash: rebuilding a batch of a
hundred declarations after one changed renders one section.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask import abort, current_app
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import joinedload, selectinload

from . import vocab
from .audit import record
from .dossier_data import dossier_data
from .errors import Conflict, Invalid, NotPermitted
from .extensions import db
from .formatting import day, money
from .models import BatchDossier, Declaration, District, FundingProgram, Project, User
from .operations import insert_ignoring_duplicates, local_today
from .permissions import CITY_WIDE_ROLES
from .storage import atomic_file, atomic_write, data_dir, dossier_path, upload_path
from .types import utcnow

log = logging.getLogger(__name__)

# Declarations the city has recommended upward, whatever upstream has answered since.
BATCH_STAGES = ("recommended", "approved", "not_approved")
# No step of a batch job takes this long (a section renders in under a second, the finishing
# steps of a 300-declaration batch in seconds); a job silent for longer has likely lost its worker.
STALLED_AFTER = 60
# How old a half-written file in the store must be before the nightly prune deletes it.
STALE_TEMPORARY = 86400
# Who sends bundles upstream; district users do not.
REQUESTERS = CITY_WIDE_ROLES
# Statuses a request joins instead of starting another job.
LIVE_STATUSES = ("queued", "running", "ready")
STALE_DATA = (
    "生成期间申报数据已更新,本份批量申报材料对应的数据已不存在,未予生成。请按最新数据重新生成。"
)
NOT_PERMITTED = "只有市级审核员、管理人员和系统管理员可以生成和下载批量申报材料"


class StaleBatch(Conflict):
    """The program's data no longer gives the fingerprint the batch was asked for."""


# --- the data -----------------------------------------------------------------------------------


@dataclass
class Section:
    """One declaration's part of a batch: its number, cache key, data and attachments."""

    number: int
    key: str
    title: str
    district: str
    data: dict
    attachments: list[dict]


@dataclass
class BatchData:
    """Everything a batch prints, as plain data, with its fingerprint."""

    program_id: int
    program: dict
    summary: list[dict]
    totals: dict
    sections: list[Section] = field(default_factory=list)
    fingerprint: str = ""

    def front(self) -> dict:
        """What the front matter and the manifest print."""
        return {
            "program": self.program,
            "summary": self.summary,
            "totals": self.totals,
            "generated_on": day(local_today()),
        }


def _section_renderer() -> tuple[Callable[..., bytes], str]:
    """The section renderer and the hash of its templates (documents/dossier.py)."""
    from documents import dossier

    return dossier.render_section_pdf, dossier.SECTION_TEMPLATE_HASH


def section_key(fingerprint: str, number: int, template_hash: str) -> str:
    """The cache key of a section: its data, its place in the batch, the template it is drawn by."""
    return hashlib.sha256(f"{fingerprint}\n{number}\n{template_hash}".encode()).hexdigest()


def batch_declarations(program_id: int) -> list[Declaration]:
    """The program's recommended declarations, by district (in the city's order), then by id."""
    return list(
        db.session.scalars(
            select(Declaration)
            .join(Project, Declaration.project_id == Project.id)
            .join(District, Project.district_id == District.id)
            .where(Declaration.program_id == program_id, Declaration.stage.in_(BATCH_STAGES))
            .options(
                joinedload(Declaration.project).joinedload(Project.district),
                selectinload(Declaration.attachments),
            )
            .order_by(District.sort_order, District.id, Declaration.id)
        )
    )


def recommended_count(program_id: int) -> int:
    """How many declarations a batch of the program would hold."""
    return db.session.scalar(
        select(func.count())
        .select_from(Declaration)
        .where(Declaration.program_id == program_id, Declaration.stage.in_(BATCH_STAGES))
    )


def _program_fields(program: FundingProgram) -> dict:
    return {
        "title": program.title,
        "issuer": program.issuer,
        "level_label": program.level_label,
        "channel_label": program.channel_label,
        "year": str(program.year),
        "batch": program.batch or "",
        "upstream_deadline": day(program.upstream_deadline),
        "city": current_app.config["CITY_NAME"],
    }


def batch_data(program: FundingProgram) -> BatchData:
    """The batch of the program's data as it stands now."""
    _, template_hash = _section_renderer()
    decls = batch_declarations(program.id)
    summary, sections = [], []
    total_investment, requested = Decimal(0), Decimal(0)
    for number, decl in enumerate(decls, start=1):
        project = decl.project
        data = dossier_data(decl)
        summary.append(
            {
                "number": number,
                "project": project.name,
                "district": project.district.name,
                "unit": project.applicant_unit,
                "total_investment": money(project.total_investment),
                "requested_amount": money(decl.requested_amount),
                "stage": decl.stage_label,
            }
        )
        total_investment += project.total_investment or 0
        requested += decl.requested_amount or 0
        sections.append(
            Section(
                number=number,
                key=section_key(data["fingerprint"], number, template_hash),
                title=project.name,
                district=project.district.name,
                data=data,
                attachments=[
                    {
                        "name": a.original_name,
                        "kind_label": a.kind_label,
                        "content_type": a.content_type,
                        "sha256": a.sha256,
                        "stored_name": a.stored_name,
                    }
                    for a in decl.attachments
                ],
            )
        )
    result = BatchData(
        program_id=program.id,
        program=_program_fields(program),
        summary=summary,
        totals={
            "count": len(decls),
            "total_investment": money(total_investment),
            "requested_amount": money(requested),
        },
        sections=sections,
    )
    result.fingerprint = fingerprint_of(result)
    return result


def fingerprint_of(data: BatchData) -> str:
    """The SHA-256 of what the batch prints: the same data always gives the same fingerprint."""
    printed = {
        "program": data.program,
        "summary": data.summary,
        "totals": data.totals,
        "sections": [s.key for s in data.sections],
        "attachments": [[a["sha256"] for a in s.attachments] for s in data.sections],
    }
    canonical = json.dumps(printed, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_fingerprint(program: FundingProgram) -> str:
    """The fingerprint a batch of the program would have now."""
    return batch_data(program).fingerprint


# --- the section cache --------------------------------------------------------------------------


def cache_dir() -> Path:
    """The cache folder in the shared file store; every worker reads and fills the same one."""
    return data_dir() / "cache"


def section_path(key: str) -> Path:
    """Where a section's PDF is kept."""
    return cache_dir() / "sections" / f"{key}.pdf"


def section_pdf(section: Section) -> tuple[Path, bool]:
    """The section's PDF file, rendered now only when the cache lacks it; True if rendered."""
    from documents.batch import cache_hit

    path = section_path(section.key)
    if cache_hit(path):
        return path, False
    render, _ = _section_renderer()
    pdf = render(section.data, number=section.number)
    atomic_write(path, pdf)  # whole or not at all: a worker killed mid-write leaves no entry
    return path, True


def prune_cache(days: int | None = None) -> tuple[int, int]:
    """Delete what the cache holds that no build used for ``days`` days (DOSSIER_CACHE_DAYS by
    default); returns (files, bytes) deleted. Sections of the programs still being worked on are
    used by every rebuild, so they stay.

    Half-written files that a worker killed mid-write left in the file store (``.tmp-*``, never
    served: files are renamed into place only when whole) go too once a day old.
    """
    from documents.batch import prune_cache as prune

    days = current_app.config["DOSSIER_CACHE_DAYS"] if days is None else days
    files, size = prune(cache_dir(), days * 86400)
    for folder in ("dossiers", "uploads"):
        left, left_size = prune(data_dir() / folder, STALE_TEMPORARY, ".tmp-*")
        files, size = files + left, size + left_size
    return files, size


# --- building the file --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchStats:
    """What building a batch file did."""

    pages: int
    sections_rendered: int
    sections_cached: int
    seconds: float
    fingerprint: str
    sha256: str
    size: int
    declaration_count: int


def build_batch_file(
    program_id: int,
    out_path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    expect: str | None = None,
) -> BatchStats:
    """Build the program's batch dossier into out_path (written whole or not at all).

    ``progress(done, total)`` is called after each step (progress_steps: each section rendered,
    then each merged with its attachments); ``expect`` refuses to build when the data no longer
    has that fingerprint (StaleBatch). The CLI, the job and the benchmark call it.
    """
    from documents.batch import AttachmentFile, SectionFile, assemble_batch

    started = time.perf_counter()
    program = db.session.get(FundingProgram, program_id)
    if program is None:
        raise Invalid(f"申报批次 #{program_id} 不存在")
    data = batch_data(program)
    db.session.commit()  # end the read: rendering takes long and must not hold the database
    if not data.sections:
        raise Invalid(
            f"申报批次「{data.program['title']}」还没有已推荐上报的申报,无法生成批量申报材料"
        )
    if expect is not None and data.fingerprint != expect:
        raise StaleBatch(STALE_DATA)
    total, rendered, files = len(data.sections), 0, []
    steps = progress_steps(total)
    report = progress or (lambda _done, _total: None)

    def finished(stage: str) -> None:
        if stage in FINISHING:
            report(2 * total + 1 + FINISHING.index(stage), steps)

    for done, section in enumerate(data.sections, start=1):
        path, fresh = section_pdf(section)
        rendered += fresh
        files.append(
            SectionFile(
                number=section.number,
                title=section.title,
                district=section.district,
                pdf_path=path,
                attachments=tuple(
                    AttachmentFile(
                        name=a["name"],
                        kind_label=a["kind_label"],
                        content_type=a["content_type"],
                        sha256=a["sha256"],
                        path=upload_path(a["stored_name"]),
                    )
                    for a in section.attachments
                ),
            )
        )
        report(done, steps)
    with atomic_file(out_path) as out:
        result = assemble_batch(
            data.front(),
            files,
            fingerprint=data.fingerprint,
            out=out,
            cache_dir=cache_dir(),
            on_merged=lambda merged: report(total + merged, steps),
            on_step=finished,
        )
    sha256, size = _hash_file(out_path)
    return BatchStats(
        pages=result.pages,
        sections_rendered=rendered,
        sections_cached=total - rendered,
        seconds=time.perf_counter() - started,
        fingerprint=data.fingerprint,
        sha256=sha256,
        size=size,
        declaration_count=total,
    )


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- requests -----------------------------------------------------------------------------------


def job_id_of(program_id: int, fingerprint: str) -> str:
    """One job id per program and data, so the same batch is never built twice at once."""
    return f"batch-{program_id}-{fingerprint[:16]}"


def request_batch(program: FundingProgram, *, actor: User) -> tuple[BatchDossier, bool]:
    """The batch of the program's current data; returns it and whether a job must be queued.

    Asking again while the data is unchanged returns the same batch; a failed one is retried.
    """
    if actor.role not in REQUESTERS:
        raise NotPermitted(NOT_PERMITTED)
    data = batch_data(program)
    if not data.sections:
        raise Invalid(f"申报批次「{program.title}」还没有已推荐上报的申报,无法生成批量申报材料")
    key = {"program_id": program.id, "fingerprint": data.fingerprint}
    batch = db.session.scalar(select(BatchDossier).filter_by(**key))
    if batch is not None and batch.status in LIVE_STATUSES:
        return batch, False
    if batch is None:
        inserted = db.session.execute(
            insert_ignoring_duplicates(BatchDossier)
            .values(
                **key,
                job_id=job_id_of(program.id, data.fingerprint),
                status="queued",
                progress_done=0,
                progress_total=progress_steps(len(data.sections)),
                declaration_count=len(data.sections),
                attempts=0,
                requested_by_id=actor.id,
                created_at=utcnow(),
            )
            .returning(BatchDossier.id)
        ).scalar()
        if inserted is None:  # someone asked for the same data a moment ago: join theirs
            return request_batch(program, actor=actor)
        batch = db.session.get(BatchDossier, inserted)
    else:
        batch.status, batch.error, batch.progress_done = "queued", None, 0
        db.session.flush()
    record(
        actor,
        "batch_dossier",
        batch.id,
        "request",
        after={
            "program_id": program.id,
            "fingerprint": data.fingerprint,
            "declarations": len(data.sections),
        },
    )
    return batch, True


# --- the job ------------------------------------------------------------------------------------


def file_name_of(batch: BatchDossier) -> str:
    """The stored file's name: id and the start of the fingerprint."""
    return f"batch-{batch.id}-{batch.fingerprint[:12]}.pdf"


def download_name(batch: BatchDossier) -> str:
    """The name a downloaded file carries: 申报材料汇编-<program>-<fingerprint>.pdf."""
    return f"申报材料汇编-{batch.program.title}-{batch.fingerprint[:8]}.pdf"


def _set(batch_id: int, **values) -> None:
    """Change the row in a transaction of its own (progress must show while the job runs)."""
    db.session.execute(update(BatchDossier).where(BatchDossier.id == batch_id).values(**values))
    db.session.commit()


def render_batch(batch_id: int) -> str:
    """Build a batch dossier's PDF and record the outcome; returns the file name.

    An exception is left to RQ, which retries the job and records why on the row
    (``jobs.record_failure``). Running again after a worker died in the middle simply builds the
    file again; the sections rendered before the crash come from the cache.
    """
    from . import jobs

    with jobs.job_context():
        batch = db.session.get(BatchDossier, batch_id)
        if batch is None:
            log.warning("batch dossier %s vanished before rendering", batch_id)
            return ""
        if batch.status == "ready" and batch.file_name and dossier_path(batch.file_name).exists():
            return batch.file_name  # an earlier run made it but died before RQ heard of it
        attempts = (batch.attempts or 0) + 1
        program_id, fingerprint = batch.program_id, batch.fingerprint
        file_name = file_name_of(batch)
        # A retry keeps the note of the failed run on the row until it succeeds.
        now = utcnow()
        _set(
            batch_id,
            status="running",
            attempts=attempts,
            started_at=now,
            progress_at=now,
            progress_done=0,
        )

        def progress(done: int, total: int) -> None:
            _set(batch_id, progress_done=done, progress_total=total, progress_at=utcnow())
            jobs.report_progress(done, total)
            if done == total - 1:
                jobs.wait_at_test_gate()  # every section made and merged, nothing written yet

        try:
            stats = build_batch_file(
                program_id, dossier_path(file_name), progress=progress, expect=fingerprint
            )
        except StaleBatch as stale:
            # No retry can cure this: the data this batch stands for is gone.
            db.session.rollback()
            _set(batch_id, status="failed", finished_at=utcnow(), error=stale.message)
            return ""
        _set(
            batch_id,
            status="ready",
            finished_at=utcnow(),
            error=None,
            file_name=file_name,
            sha256=stats.sha256,
            size=stats.size,
            page_count=stats.pages,
            sections_rendered=stats.sections_rendered,
            declaration_count=stats.declaration_count,
            progress_done=progress_steps(stats.declaration_count),
            progress_total=progress_steps(stats.declaration_count),
        )
        log.info(
            "batch dossier %s: %s pages, %s of %s sections rendered, %.1f s",
            batch_id,
            stats.pages,
            stats.sections_rendered,
            stats.declaration_count,
            stats.seconds,
        )
        return file_name


# --- reading ------------------------------------------------------------------------------------


def require_reader(user: User) -> None:
    """District users may not (403); experts do not learn batches exist (404)."""
    if user.role in REQUESTERS:
        return
    if user.is_district_user:
        abort(403, NOT_PERMITTED)
    abort(404)


def batch_or_404(batch_id: int, user: User) -> BatchDossier:
    """The batch if the user may see batches at all."""
    require_reader(user)
    batch = db.session.get(BatchDossier, batch_id)
    if batch is None:
        abort(404)
    return batch


def batches_of(program_id: int, limit: int = 10) -> list[BatchDossier]:
    """The program's latest batches, newest first."""
    return list(
        db.session.scalars(
            batches_query()
            .where(BatchDossier.program_id == program_id)
            .order_by(BatchDossier.created_at.desc(), BatchDossier.id.desc())
            .limit(limit)
        )
    )


def batches_query() -> Select:
    """Batch dossiers with who asked for them."""
    return select(BatchDossier).options(joinedload(BatchDossier.requested_by))


def current_batch(program: FundingProgram, fingerprint: str | None = None) -> BatchDossier | None:
    """The batch of the program's data as it stands now (ready or on its way), if one was asked
    for; one row per fingerprint, so there is at most one. ``fingerprint``: the current one, if
    the caller has it already."""
    return db.session.scalar(
        batches_query().where(
            BatchDossier.program_id == program.id,
            BatchDossier.fingerprint == (fingerprint or current_fingerprint(program)),
        )
    )


def is_current(batch: BatchDossier, current: str | None = None) -> bool:
    """Whether the program's data still gives the batch's fingerprint."""
    if current is None:
        current = current_fingerprint(batch.program)
    return batch.fingerprint == current


def progress_steps(sections: int) -> int:
    """A batch job's steps: render each section (or find it cached), merge each with its
    attachments, then the manifest, the page numbers, and the fonts and the file."""
    return 2 * sections + len(FINISHING) + 1


def sections_of(steps: int) -> int:
    """How many sections a job of this many progress_steps() has."""
    return (steps - len(FINISHING) - 1) // 2


# The stages after the merge that assemble_batch names when each is done, in order.
FINISHING = ("manifest", "stamped")


def describe_progress(done: int, sections: int) -> str:
    """What a batch job is doing once ``done`` of its progress_steps(sections) are done."""
    if done <= sections:
        return f"排版 {done} / {sections} 个项目"
    if done < 2 * sections:
        return f"合并第 {done - sections} / {sections} 个项目的材料和附件"
    return {
        2 * sections: "生成材料清单",
        2 * sections + 1: "编页码",
        2 * sections + 2: "合并字体并写入文件",
    }.get(done, f"共 {sections} 个项目")


def progress_text(batch: BatchDossier) -> str:
    """The words beside a batch's progress bar."""
    sections = batch.declaration_count or 0
    if batch.status == "ready":
        return describe_progress(progress_steps(sections), sections)
    if batch.status == "queued":  # not started, or waiting to be tried again
        return "排队等待后台处理"
    return describe_progress(batch.progress_done or 0, sections)


def is_stalled(batch: BatchDossier, now: datetime | None = None) -> bool:
    """Whether a running job has made no progress for STALLED_AFTER seconds: its worker may be
    gone. RQ notices a lost worker by its missing heartbeat and retries the job; until then the
    page says so rather than showing a bar that simply stopped."""
    if batch.status != "running" or batch.progress_at is None:
        return False
    return ((now or utcnow()) - batch.progress_at).total_seconds() > STALLED_AFTER


def progress_percent(batch: BatchDossier) -> int:
    """How far the job is, in whole percent."""
    if batch.status == "ready":
        return 100
    if not batch.progress_total:
        return 0
    return min(100, batch.progress_done * 100 // batch.progress_total)


def status_label(batch: BatchDossier) -> str:
    """The status, naming the merge once every section is rendered."""
    if batch.status == "running" and (batch.progress_done or 0) > (batch.declaration_count or 0):
        return "合并与编页中"
    return vocab.label(vocab.DOSSIER_STATUSES, batch.status)
