"""Batch dossiers: the declarations, fingerprint, section cache, requests, job and CLI."""

import hashlib
import io
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import audit_rows
from workflow import batch as batches
from workflow import jobs, operations, queue
from workflow.errors import Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import BatchDossier
from workflow.storage import dossier_path, upload_path


def multipage_pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def declare(world, district, stage: str, *, name: str, extra=()):
    """A declaration of a fresh project driven to the stage by the district's own people."""
    staff, reviewer = (
        (world.staff, world.reviewer)
        if district == world.yandu
        else (world.other_staff, world.other_reviewer)
    )
    decl = factories.declaration(factories.project(district, name=name), world.program, by=staff)
    for filename, content in extra:
        operations.add_attachment(
            decl, kind="other", filename=filename, content=content, actor=staff
        )
    db.session.commit()
    steps = {
        "draft": [],
        "city_review": [("submit", staff), ("approve", reviewer)],
        "recommended": [("submit", staff), ("approve", reviewer), ("approve", world.city)],
        "not_recommended": [("submit", staff), ("approve", reviewer), ("reject", world.city)],
    }
    for trigger, actor in steps.get(stage, steps["recommended"]):
        factories.act(decl, trigger, actor, "同意")
    if stage == "approved":
        record_approval(world, decl)
    if stage == "not_approved":
        factories.act(decl, "record_rejection", world.manager, "未获批")
    assert decl.stage == stage
    return decl


def record_approval(world, decl):
    approval = {"doc_number": "发改投资〔2026〕18号", "amount": decl.requested_amount}
    approval["approved_on"] = operations.local_today()
    return factories.act(decl, "record_approval", world.manager, "同意", approval=approval)


@pytest.fixture
def program_decls(world):
    """Three recommended declarations (one with a 4-page PDF and a photo), and two that are not."""
    tinghu = declare(world, world.tinghu, "recommended", name="亭湖区智慧农业平台")
    yandu = declare(
        world,
        world.yandu,
        "approved",
        name="盐都区城市数据大脑",
        extra=[("可研报告.pdf", multipage_pdf(4)), ("现场照片.png", png_bytes())],
    )
    late = declare(world, world.yandu, "not_approved", name="盐都区数据要素市场")
    declare(world, world.yandu, "draft", name="盐都区草稿项目")
    declare(world, world.tinghu, "not_recommended", name="亭湖区未推荐项目")
    return [yandu, late, tinghu]  # by district (盐都区 was made first), then by id


def build(program, tmp_path, name="batch.pdf"):
    return batches.build_batch_file(program.id, tmp_path / name)


def test_a_batch_holds_the_recommended_declarations_by_district_then_id(world, program_decls):
    data = batches.batch_data(world.program)
    assert [s.data["declaration_id"] for s in data.sections] == [d.id for d in program_decls]
    assert [row["project"] for row in data.summary] == [
        "盐都区城市数据大脑",
        "盐都区数据要素市场",
        "亭湖区智慧农业平台",
    ]
    assert [row["stage"] for row in data.summary] == ["已获批", "未获批", "已推荐上报"]
    assert data.totals == {"count": 3, "total_investment": "3,000.00", "requested_amount": "900.00"}


def test_the_fingerprint_is_the_same_for_the_same_data_and_changes_with_it(
    world, program_decls, tmp_path
):
    first = build(world.program, tmp_path, "a.pdf")
    again = build(world.program, tmp_path, "b.pdf")
    assert first.fingerprint == again.fingerprint == batches.current_fingerprint(world.program)
    # The same data gives the same file, byte for byte, so a copy made twice verifies either way.
    assert first.sha256 == again.sha256
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    record_approval(world, program_decls[2])
    assert batches.current_fingerprint(world.program) != first.fingerprint


def test_sections_come_from_the_cache_and_only_a_changed_one_is_rendered_again(
    world, program_decls, tmp_path
):
    full = build(world.program, tmp_path)
    assert (full.sections_rendered, full.sections_cached) == (3, 0)
    again = build(world.program, tmp_path)
    assert (again.sections_rendered, again.sections_cached) == (0, 3)

    record_approval(world, program_decls[2])  # 亭湖区's recommended one is approved upstream
    changed = build(world.program, tmp_path)
    assert (changed.sections_rendered, changed.sections_cached) == (1, 2)
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "batch.pdf").pages)
    assert "已获批" in text.split("亭湖区智慧农业平台")[1]  # the summary row moved on too


def age(path: Path, days: float) -> None:
    """Make a cache entry look last used ``days`` days ago."""
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_the_cache_keeps_what_builds_use_and_prunes_the_rest(app, world, program_decls, tmp_path):
    build(world.program, tmp_path)
    cache = batches.cache_dir()
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert {p.parent.name for p in entries} >= {"sections", "parts", "pages"}
    for path in entries:
        age(path, 40)
    leftover = cache / "sections" / ".tmp-crashed"  # a writer killed mid-write
    leftover.write_bytes(b"half")
    age(leftover, 40)
    unused = cache / "sections" / f"{'0' * 64}.pdf"  # a section no batch asks for any more
    unused.write_bytes(b"%PDF-")
    age(unused, 40)

    again = build(world.program, tmp_path)  # every entry it reads is marked used today
    assert again.sections_rendered == 0
    files, size = batches.prune_cache()  # DOSSIER_CACHE_DAYS: 30
    assert files == 2 and size == len(b"half") + len(b"%PDF-")
    assert not leftover.exists() and not unused.exists()
    assert all(p.exists() for p in entries)

    # Half-written files of killed workers in the store go once a day old, whole files stay.
    dossiers = dossier_path("x").parent
    dossiers.mkdir(parents=True, exist_ok=True)
    stale, fresh = dossiers / ".tmp-killed.pdf", dossiers / ".tmp-writing-now.pdf"
    whole, upload = dossiers / "batch-1-old.pdf", upload_path("x").parent / ".tmp-upload"
    for path in (stale, fresh, whole, upload):
        path.write_bytes(b"%PDF-")
    for path in (stale, whole, upload):
        age(path, 1.5)
    assert batches.prune_cache()[0] == 2
    assert not stale.exists() and not upload.exists() and fresh.exists() and whole.exists()
    fresh.unlink()

    for path in entries:
        age(path, 10)
    assert batches.prune_cache(7)[0] == len(entries)
    rebuilt = build(world.program, tmp_path)  # deleting was safe: rendered again
    assert rebuilt.sections_rendered == len(program_decls)
    assert batches.prune_cache()[0] == 0


def test_cli_prunes_the_cache(app, world, program_decls, tmp_path):
    build(world.program, tmp_path)
    for path in batches.cache_dir().rglob("*"):
        age(path, 3)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dossier", "prune-cache"])
    assert result.exit_code == 0 and "已清理缓存文件 0 个" in result.output
    result = runner.invoke(args=["dossier", "prune-cache", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "已清理缓存文件 0 个" not in result.output
    assert not [p for p in batches.cache_dir().rglob("*") if p.is_file()]
    result = runner.invoke(args=["dossier", "prune-cache", "--days", "-1"])
    assert result.exit_code == 2


def test_a_section_key_names_its_data_its_place_and_its_template():
    key = batches.section_key("f" * 64, 1, "t" * 64)
    assert key == batches.section_key("f" * 64, 1, "t" * 64)
    assert key != batches.section_key("e" * 64, 1, "t" * 64)
    assert key != batches.section_key("f" * 64, 2, "t" * 64)  # 「第2项」 is printed in it
    assert key != batches.section_key("f" * 64, 1, "u" * 64)


def toc_entries(pages: list[str]) -> dict[str, int]:
    toc = next(text for text in pages if text.startswith("目 录"))
    found = re.findall(r"第\d+项 (\S+) .*?(\d+)\n", toc + "\n")
    return {name: int(page) for name, page in found}


def test_toc_numbers_point_at_each_section_after_merging_attachments(
    world, program_decls, tmp_path
):
    build(world.program, tmp_path)
    pages = [p.extract_text() for p in PdfReader(tmp_path / "batch.pdf").pages]
    toc = toc_entries(pages)
    assert list(toc) == ["盐都区城市数据大脑", "盐都区数据要素市场", "亭湖区智慧农业平台"]
    for index, (name, number) in enumerate(toc.items(), start=1):
        heading = re.compile(rf"第{index}项\s{name}")  # how a section begins
        assert heading.match(pages[number - 1])
        assert not heading.search(pages[number - 2])  # the page before is the part before's
    first, second = toc["盐都区城市数据大脑"], toc["盐都区数据要素市场"]
    section_pages = len(PdfReader(batches.section_path(_keys(world)[0])).pages)
    # The section, the required application (1 page), the 4-page report, the photo's page.
    assert second - first == section_pages + 1 + 4 + 1
    photo_page = pages[second - 2]
    assert "第1项 附件3 其他:现场照片.png" in photo_page


def _keys(world) -> list[str]:
    return [s.key for s in batches.batch_data(world.program).sections]


def test_the_manifest_lists_every_part_and_attachment_with_its_sha256(
    world, program_decls, tmp_path
):
    stats = build(world.program, tmp_path)
    reader = PdfReader(tmp_path / "batch.pdf")
    pages = [p.extract_text() for p in reader.pages]
    manifest = "\n".join(pages[toc_entries_manifest(pages) - 1 :])
    assert stats.fingerprint in manifest
    for key in _keys(world):
        assert hashlib.sha256(batches.section_path(key).read_bytes()).hexdigest() in manifest
    attachments = [a for d in program_decls for a in d.attachments]
    assert len(attachments) == 5
    for attachment in attachments:
        content = upload_path(attachment.stored_name).read_bytes()
        assert hashlib.sha256(content).hexdigest() in manifest
        assert attachment.original_name in manifest
    assert reader.metadata["/BatchFingerprint"] == stats.fingerprint


def toc_entries_manifest(pages: list[str]) -> int:
    toc = next(text for text in pages if text.startswith("目 录"))
    return int(re.search(r"材料清单 .*?(\d+)", toc).group(1))


# --- requests and the job -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "reviewer", "expert"])
def test_only_the_city_roles_may_ask_for_a_batch(world, program_decls, role):
    with pytest.raises(NotPermitted, match="只有市级审核员、管理人员和系统管理员"):
        batches.request_batch(world.program, actor=getattr(world, role))


def test_a_program_without_recommended_declarations_has_no_batch(world):
    declare(world, world.yandu, "city_review", name="待复审项目")
    with pytest.raises(Invalid, match="还没有已推荐上报的申报"):
        batches.request_batch(world.program, actor=world.manager)


def test_asking_again_joins_the_same_batch_and_a_failed_one_is_retried(world, program_decls):
    batch, needs_job = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    assert needs_job and batch.status == "queued" and batch.declaration_count == 3
    assert batch.job_id == f"batch-{world.program.id}-{batch.fingerprint[:16]}"
    again, needs_job = batches.request_batch(world.program, actor=world.city)
    assert again.id == batch.id and not needs_job

    batch.status, batch.error = "failed", "出错了"
    db.session.commit()
    retried, needs_job = batches.request_batch(world.program, actor=world.city)
    db.session.commit()
    assert retried.id == batch.id and needs_job
    assert (retried.status, retried.error) == ("queued", None)
    assert [row.action for row in audit_rows(batch.id, "batch_dossier")] == ["request", "request"]

    record_approval(world, program_decls[2])
    newer, needs_job = batches.request_batch(world.program, actor=world.city)
    assert newer.id != batch.id and needs_job


def test_the_job_builds_the_file_and_reports_progress_per_section_rendered_and_merged(
    world, program_decls, monkeypatch
):
    batch, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    seen = []

    def spy(done, total):
        # What the row says at the moment the job reports: the page's progress bar reads it.
        row = db.session.execute(
            select(BatchDossier.progress_done, BatchDossier.progress_total, BatchDossier.status)
        ).one()
        seen.append(((done, total), tuple(row)))

    monkeypatch.setattr(jobs, "report_progress", spy)
    assert batches.render_batch(batch.id) == f"batch-{batch.id}-{batch.fingerprint[:12]}.pdf"
    # Three sections rendered, three merged, the manifest, the page numbers; then the file.
    assert seen == [((n, 9), (n, 9, "running")) for n in range(1, 9)]

    db.session.expire_all()
    batch = db.session.get(BatchDossier, batch.id)
    assert batch.status == "ready" and batch.error is None and batch.attempts == 1
    content = dossier_path(batch.file_name).read_bytes()
    assert batch.sha256 == hashlib.sha256(content).hexdigest()
    assert batch.size == len(content) and batch.page_count == len(
        PdfReader(io.BytesIO(content)).pages
    )
    assert (batch.sections_rendered, batch.progress_done, batch.progress_total) == (3, 9, 9)
    assert batch.started_at <= batch.progress_at <= batch.finished_at


def test_a_job_whose_data_moved_on_while_it_waited_makes_no_file(world, program_decls):
    batch, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    record_approval(world, program_decls[2])
    assert batches.render_batch(batch.id) == ""
    db.session.expire_all()
    batch = db.session.get(BatchDossier, batch.id)
    assert batch.status == "failed" and batch.error == batches.STALE_DATA
    assert batch.file_name is None
    assert not list(dossier_path("x").parent.glob("batch-*.pdf"))


def test_a_failed_run_is_retried_and_the_retry_reuses_the_sections_already_made(
    world, program_decls, monkeypatch
):
    from documents import batch as batch_pdf

    real = batch_pdf.assemble_batch
    runs = []

    def flaky(*args, **kwargs):
        runs.append(1)
        if len(runs) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_pdf, "assemble_batch", flaky)
    batch, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    queue.enqueue_batch(batch.id, batch.job_id)
    queue.run_pending_jobs()  # runs the retry at once instead of after its back-off

    db.session.expire_all()
    batch = db.session.get(BatchDossier, batch.id)
    assert batch.status == "ready" and batch.attempts == 2 and len(runs) == 2
    assert batch.sections_rendered == 0  # the first run's sections were in the cache


def test_the_same_batch_is_queued_once(world, program_decls):
    for actor in (world.manager, world.city):
        batch, _ = batches.request_batch(world.program, actor=actor)
        db.session.commit()
        queue.enqueue_batch(batch.id, batch.job_id)
    assert queue.dossier_queue().count == 1
    assert db.session.scalar(select(func.count()).select_from(BatchDossier)) == 1


# --- the command line ---------------------------------------------------------------------------


def test_cli_builds_a_batch_and_says_what_it_did(app, world, program_decls, tmp_path):
    out = tmp_path / "汇编.pdf"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dossier", "batch", str(world.program.id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    fingerprint = batches.current_fingerprint(world.program)
    pages = len(PdfReader(out).pages)
    assert f"共 {pages} 页,3 个项目,重新排版 3 个,取自缓存 0 个" in result.output
    assert f"数据指纹 {fingerprint}" in result.output
    # Progress, a line per step: each section rendered, then each merged with its attachments.
    assert (
        "排版 3 / 3 个项目" in result.output and "合并第 2 / 3 个项目的材料和附件" in result.output
    )
    assert "编页码" in result.output and "合并字体并写入文件" in result.output

    again = runner.invoke(args=["dossier", "batch", str(world.program.id), "-o", str(out)])
    assert "重新排版 0 个,取自缓存 3 个" in again.output


def test_cli_refuses_an_unknown_program_or_one_without_recommendations(app, world, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["dossier", "batch", "9999", "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code == 1 and "申报批次 #9999 不存在" in result.output
    result = runner.invoke(
        args=["dossier", "batch", str(world.program.id), "-o", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code == 1 and "还没有已推荐上报的申报" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_cli_verify_exits_with_the_verdict(app, world, program_decls, tmp_path):
    batch, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    batches.render_batch(batch.id)
    db.session.expire_all()
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(dossier_path(db.session.get(BatchDossier, batch.id).file_name).read_bytes())
    runner = app.test_cli_runner()

    result = runner.invoke(args=["dossier", "verify", str(copy)])
    assert result.exit_code == 0 and result.output.startswith("current(最新版本)")
    assert f"批量申报材料 #{batch.id}" in result.output

    record_approval(world, program_decls[2])
    result = runner.invoke(args=["dossier", "verify", str(copy)])
    assert result.exit_code == 1 and result.output.startswith("outdated(已过期)")

    (tmp_path / "other.pdf").write_bytes(multipage_pdf(1))
    result = runner.invoke(args=["dossier", "verify", str(tmp_path / "other.pdf")])
    assert result.exit_code == 2 and result.output.startswith("unknown(无法确认)")
