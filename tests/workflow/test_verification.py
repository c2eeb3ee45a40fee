"""材料核验: a PDF is current, outdated or unknown, judged against the records a user may see."""

import io

import pytest
from pypdf import PdfReader, PdfWriter

from tests import factories
from tests.workflow.test_batch import declare, record_approval
from workflow import batch as batches
from workflow import jobs, monthly, operations
from workflow.extensions import db
from workflow.models import BatchDossier, Dossier, MonthlyReport
from workflow.storage import dossier_path
from workflow.verification import MODIFIED, UNKNOWN, verify_pdf, verify_sha256


def rewritten(content: bytes) -> bytes:
    """The same pages and metadata saved again with one more metadata field: other bytes."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    writer.add_metadata({"/Title": "另存的副本"})
    out = io.BytesIO()
    writer.write(out)
    assert out.getvalue() != content
    return out.getvalue()


def file_of(row) -> bytes:
    db.session.expire_all()
    row = db.session.get(type(row), row.id)
    assert row.status == "ready", row.error
    return dossier_path(row.file_name).read_bytes()


@pytest.fixture
def dossier(world):
    decl = factories.declaration(
        factories.project(world.yandu, name="盐都区城市数据大脑"), world.program, by=world.staff
    )
    row, _ = operations.request_dossier(decl, actor=world.staff)
    db.session.commit()
    jobs.render_dossier(row.id)
    return db.session.get(Dossier, row.id)


def test_a_dossier_just_made_is_current_for_those_who_may_see_it(world, dossier):
    content = file_of(dossier)
    for viewer in (world.staff, world.reviewer, world.manager, None):
        verdict = verify_pdf(content, viewer=viewer)
        assert (verdict.status, verdict.kind, verdict.record.id) == (
            "current",
            "dossier",
            dossier.id,
        )
        assert "盐都区城市数据大脑" in verdict.explanation and "是最新版本" in verdict.explanation
    assert verify_sha256(verdict.sha256.upper(), viewer=world.staff).status == "current"


def test_another_district_learns_nothing_about_a_dossier(world, dossier):
    content = file_of(dossier)
    for viewer in (world.other_staff, world.other_reviewer, world.expert):
        verdict = verify_pdf(content, viewer=viewer)
        assert verdict.status == "unknown" and verdict.record is None
        assert verdict.explanation == UNKNOWN
        assert "盐都区城市数据大脑" not in verdict.explanation


def test_a_dossier_whose_declaration_changed_since_is_outdated(world, dossier):
    content = file_of(dossier)
    operations.add_attachment(
        dossier.declaration,
        kind="other",
        filename="补充材料.pdf",
        content=factories.pdf_bytes(),
        actor=world.staff,
    )
    db.session.commit()
    verdict = verify_pdf(content, viewer=world.staff)
    assert (verdict.status, verdict.record.id, verdict.latest) == ("outdated", dossier.id, None)
    assert "该文件已过期" in verdict.explanation and "请在系统中按最新数据重新生成" in (
        verdict.explanation
    )

    # Once a dossier of the data as it stands is made, the verdict points to it.
    newer, _ = operations.request_dossier(dossier.declaration, actor=world.staff)
    db.session.commit()
    jobs.render_dossier(newer.id)
    verdict = verify_pdf(content, viewer=world.staff)
    assert (verdict.status, verdict.latest.id) == ("outdated", newer.id)
    assert f"系统中已有按最新数据生成的申报材料 #{newer.id}" in verdict.explanation
    assert verify_pdf(file_of(newer), viewer=world.staff).latest is None  # current: none newer


def test_a_changed_copy_of_a_dossier_is_unknown_but_named_by_its_fingerprint(world, dossier):
    verdict = verify_pdf(rewritten(file_of(dossier)), viewer=world.staff)
    assert verdict.status == "unknown" and verdict.record.id == dossier.id
    assert verdict.explanation == MODIFIED.format(
        what=f"申报材料 #{dossier.id}(盐都区城市数据大脑,申报第 {dossier.declaration_version} 版"
        f" / 项目第 {dossier.project_version} 版)"
    )
    assert "可能被修改" in verdict.explanation


def test_a_file_the_system_never_made_is_unknown(world, dossier):
    verdict = verify_pdf(factories.pdf_bytes(), viewer=world.manager)
    assert (verdict.status, verdict.record, verdict.explanation) == ("unknown", None, UNKNOWN)
    assert verify_pdf(b"%PDF-1.7 not really", viewer=world.manager).status == "unknown"


@pytest.fixture
def batch(world):
    for district, name in ((world.yandu, "盐都区城市数据大脑"), (world.tinghu, "亭湖区智慧农业")):
        declare(world, district, "recommended", name=name)
    row, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    batches.render_batch(row.id)
    return db.session.get(BatchDossier, row.id)


def test_a_batch_is_current_then_outdated_when_a_declaration_moves_on(world, batch):
    content = file_of(batch)
    verdict = verify_pdf(content, viewer=world.city)
    assert (verdict.status, verdict.kind, verdict.record.id) == ("current", "batch", batch.id)
    assert f"批量申报材料 #{batch.id}({world.program.title},2 个项目)" in verdict.explanation

    # Any change to what it prints: here one declaration is approved upstream.
    record_approval(world, batches.batch_declarations(world.program.id)[0])
    verdict = verify_pdf(content, viewer=world.manager)
    assert (verdict.status, verdict.record.id, verdict.latest) == ("outdated", batch.id, None)

    newer, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    assert verify_pdf(content, viewer=world.manager).latest is None  # asked for, not made yet
    batches.render_batch(newer.id)
    verdict = verify_pdf(content, viewer=world.manager)
    assert (verdict.status, verdict.latest.id) == ("outdated", newer.id)
    assert f"系统中已有按最新数据生成的批量申报材料 #{newer.id}" in verdict.explanation


def test_a_changed_copy_of_a_batch_is_unknown_and_district_users_hear_nothing(world, batch):
    copy = rewritten(file_of(batch))
    verdict = verify_pdf(copy, viewer=world.admin)
    assert verdict.status == "unknown" and verdict.record.id == batch.id
    assert "文件内容与系统记录不一致(可能被修改)" in verdict.explanation
    assert verdict.latest.id == batch.id  # the genuine file, still current, is the one to use

    record_approval(world, batches.batch_declarations(world.program.id)[0])
    assert verify_pdf(copy, viewer=world.admin).latest is None  # none of today's data yet
    newer, _ = batches.request_batch(world.program, actor=world.manager)
    db.session.commit()
    batches.render_batch(newer.id)
    assert verify_pdf(copy, viewer=world.admin).latest.id == newer.id
    for viewer in (world.staff, world.other_reviewer):
        for content in (copy, file_of(batch)):
            verdict = verify_pdf(content, viewer=viewer)
            assert (verdict.status, verdict.record, verdict.explanation) == (
                "unknown",
                None,
                UNKNOWN,
            )


def test_a_monthly_report_is_matched_within_its_district(world):
    today = operations.local_today()
    month = today.replace(day=1)
    report, _ = monthly.request_monthly_report(
        month, world.yandu.id, actor=world.reviewer, today=today
    )
    db.session.commit()
    jobs.render_monthly_report(report.id, today.isoformat())
    content = file_of(db.session.get(MonthlyReport, report.id))

    verdict = verify_pdf(content, viewer=world.staff)
    assert (verdict.status, verdict.kind, verdict.record.id) == ("current", "monthly", report.id)
    assert "月度调度报告" in verdict.explanation and "盐都区" in verdict.explanation
    assert verify_pdf(content, viewer=world.other_staff).record is None
    modified = verify_pdf(rewritten(content), viewer=world.city)
    assert modified.status == "unknown" and modified.record.id == report.id
