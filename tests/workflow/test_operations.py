"""Operations besides the transitions: declarations, projects, attachments and dossiers."""

import hashlib
import io
import struct
import zipfile
import zlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests import factories
from tests.workflow.conftest import PATHS, audit_rows, has_chinese
from workflow import operations, vocab
from workflow.errors import Conflict, Invalid, NotPermitted
from workflow.extensions import db
from workflow.models import Attachment, Declaration, Dossier

# --- creating declarations ------------------------------------------------------------------

ACTIVE_STAGES = [s for s in PATHS if s != "withdrawn"]


@pytest.mark.parametrize("stage", ACTIVE_STAGES)
def test_a_project_is_declared_to_a_program_once(cast, stage):
    first = cast.declaration_in(stage)
    with pytest.raises(Conflict) as refused:
        operations.create_declaration(
            first.project,
            first.program,
            {"requested_amount": Decimal("100")},
            actor=cast.actor("district_staff"),
        )
    assert refused.value.message == f"该项目已申报本批次(申报 #{first.id}),不能重复申报"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Declaration)) == 1


def test_a_withdrawn_declaration_can_be_started_again(cast):
    first = cast.declaration_in("withdrawn")
    again = cast.declaration(project=first.project)
    assert (again.stage, again.program_id) == ("draft", first.program_id)
    assert again.id != first.id


def test_the_same_project_may_go_to_another_program(cast):
    first = cast.declaration_in("district_review")
    other = cast.declaration(project=first.project, program=cast.expert_program)
    assert other.stage == "draft"


@pytest.mark.parametrize(
    ("status", "label"), [("closed", "已截止"), ("draft", "草稿"), ("archived", "已归档")]
)
def test_no_declaration_to_a_program_that_is_not_open(cast, status, label):
    program = factories.program(status=status)
    with pytest.raises(Conflict) as refused:
        operations.create_declaration(
            cast.project(), program, {}, actor=cast.actor("district_staff")
        )
    assert refused.value.message == f"申报批次「{program.title}」当前{label},不能新建申报"


def test_no_declaration_of_a_removed_project(cast):
    project = cast.project(maturity="removed", removed_reason="项目取消")
    with pytest.raises(Conflict, match="该项目已出库,不能申报"):
        operations.create_declaration(
            project, cast.world.program, {}, actor=cast.actor("district_staff")
        )


@pytest.mark.parametrize("role", [r for r in vocab.ROLES if r != "district_staff"])
def test_only_district_staff_start_declarations(cast, role):
    with pytest.raises(NotPermitted) as refused:
        operations.create_declaration(
            cast.project(), cast.world.program, {}, actor=cast.actor(role)
        )
    assert has_chinese(refused.value.message)


def test_staff_of_another_district_cannot_declare_the_project(cast):
    with pytest.raises(NotPermitted, match="只能填报本区县的项目"):
        operations.create_declaration(
            cast.project(), cast.world.program, {}, actor=cast.world.other_staff
        )


# --- editing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(PATHS))
def test_a_declaration_is_edited_only_while_draft_or_returned(bank, stage):
    with bank.declaration_in(stage) as decl:
        staff = bank.actor("district_staff")
        version, amount = decl.version, decl.requested_amount
        change = {"requested_amount": Decimal("250.00")}
        if stage in ("draft", "returned"):
            operations.update_declaration(decl, change, actor=staff, expected_version=version)
            assert (decl.requested_amount, decl.version) == (Decimal("250.00"), version + 1)
            return
        with pytest.raises(Conflict) as refused:
            operations.update_declaration(decl, change, actor=staff, expected_version=version)
        assert refused.value.message == f"申报当前为「{vocab.STAGES[stage]}」,不能修改"
        db.session.rollback()
        assert (decl.requested_amount, decl.version) == (amount, version)


@pytest.mark.parametrize("role", ["district_reviewer", "city_reviewer", "manager", "admin"])
def test_only_staff_edit_a_declaration(cast, role):
    decl = cast.declaration()
    with pytest.raises(NotPermitted):
        operations.update_declaration(
            decl, {"requested_amount": Decimal("1")}, actor=cast.actor(role), expected_version=None
        )


@pytest.mark.parametrize(
    ("stage", "editable"),
    [
        ("draft", True),
        ("district_review", False),
        ("city_review", False),
        ("recommended", False),
        ("returned", True),
        ("approved", True),
        ("not_recommended", True),
        ("withdrawn", True),
    ],
)
def test_a_project_under_review_cannot_be_edited(cast, stage, editable):
    """The reviewers review what was submitted; the README's choice."""
    project = cast.declaration_in(stage).project
    staff = cast.actor("district_staff")
    change = {"name": "改名后的项目"}
    if editable:
        operations.update_project(project, change, actor=staff, expected_version=project.version)
        assert project.name == "改名后的项目"
        return
    with pytest.raises(Conflict, match="该项目有正在审核中的申报"):
        operations.update_project(project, change, actor=staff, expected_version=project.version)
    db.session.rollback()
    assert project.name != "改名后的项目"


@pytest.mark.parametrize(("stage", "editable"), [("draft", True), ("city_review", False)])
def test_prerequisites_follow_the_project_editing_rule(cast, stage, editable):
    """前期要件 are part of the project: no adding or removing them while it is under review."""
    project = cast.declaration_in(stage).project
    staff = cast.actor("district_staff")
    values = {
        "kind": "environmental",
        "doc_number": "盐环审〔2025〕3号",
        "issued_on": date(2025, 3, 1),
    }
    if editable:
        operations.add_prerequisite(project, values, actor=staff)
        operations.remove_prerequisite(project.prerequisites[0], actor=staff)
        db.session.commit()
        assert [p.kind for p in project.prerequisites] == ["environmental"]
        return
    with pytest.raises(Conflict, match="该项目有正在审核中的申报"):
        operations.add_prerequisite(project, values, actor=staff)
    db.session.rollback()
    with pytest.raises(Conflict, match="该项目有正在审核中的申报"):
        operations.remove_prerequisite(project.prerequisites[0], actor=staff)
    db.session.rollback()
    assert [p.kind for p in project.prerequisites] == ["feasibility_approval"]


# --- attachments ----------------------------------------------------------------------------


def png_bytes() -> bytes:
    """A real 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """The start of a JPEG (JFIF) file, which is all a content sniffer reads."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


def office_bytes(parts: dict[str, str]) -> bytes:
    """A minimal Office Open XML package, [Content_Types].xml first as Office writes it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, xml)
    return out.getvalue()


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{type}"/></Types>'
)


def docx_bytes() -> bytes:
    return office_bytes(
        {
            "[Content_Types].xml": CONTENT_TYPES.format(
                part="word/document.xml",
                type="application/vnd.openxmlformats-officedocument.wordprocessingml."
                "document.main+xml",
            ),
            "_rels/.rels": "<Relationships/>",
            "word/document.xml": '<w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>申报书</w:t></w:r></w:p>'
            "</w:body></w:document>",
        }
    )


def xlsx_bytes() -> bytes:
    return office_bytes(
        {
            "[Content_Types].xml": CONTENT_TYPES.format(
                part="xl/workbook.xml",
                type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            ),
            "_rels/.rels": "<Relationships/>",
            "xl/workbook.xml": '<workbook xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><sheets/></workbook>',
        }
    )


ACCEPTED = [
    ("pdf", "可行性研究报告.pdf", factories.pdf_bytes, "application/pdf", "pdf"),
    ("png-named-pdf", "现场照片.pdf", png_bytes, "image/png", "png"),
    ("jpeg-named-png", "现场照片.png", jpeg_bytes, "image/jpeg", "jpg"),
    (
        "docx",
        "申报书(盖章版).docx",
        docx_bytes,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    (
        "xlsx",
        "投资估算表.xlsx",
        xlsx_bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
]


@pytest.mark.parametrize(
    ("filename", "make", "mime", "extension"),
    [a[1:] for a in ACCEPTED],
    ids=[a[0] for a in ACCEPTED],
)
def test_attachment_type_comes_from_its_bytes(cast, filename, make, mime, extension):
    decl = cast.declaration()
    content = make()
    attachment = operations.add_attachment(
        decl, kind="other", filename=filename, content=content, actor=cast.actor("district_staff")
    )
    db.session.commit()
    assert attachment.original_name == filename
    assert attachment.content_type == mime
    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    stored = Path(current_app.config["DATA_DIR"]) / "uploads" / attachment.stored_name
    assert stored.read_bytes() == content
    assert attachment.stored_name.endswith(f".{extension}")
    stem = attachment.stored_name.removesuffix(f".{extension}")
    assert len(stem) == 32 and all(c in "0123456789abcdef" for c in stem)
    assert audit_rows(decl.id)[-1].after["name"] == filename


def test_stored_names_never_repeat(cast):
    decl = cast.declaration()
    staff = cast.actor("district_staff")
    names = {
        operations.add_attachment(
            decl, kind="other", filename="同名.pdf", content=factories.pdf_bytes(), actor=staff
        ).stored_name
        for _ in range(3)
    }
    assert len(names) == 3


REFUSED = [
    ("text-named-pdf", "申报书.pdf", "这不是 PDF 文件".encode()),
    ("html-named-pdf", "申报书.pdf", b"<!DOCTYPE html><html><body>x</body></html>"),
    ("exe-named-docx", "申报书.docx", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64),
    ("plain-zip-named-xlsx", "表.xlsx", office_bytes({"readme.txt": "hello"})),
    ("gif", "动图.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
]


@pytest.mark.parametrize(
    ("filename", "content"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_attachment_of_another_type_is_refused(cast, filename, content):
    decl = cast.declaration()
    uploads = Path(current_app.config["DATA_DIR"]) / "uploads"
    files_before = sorted(uploads.iterdir())
    count = len(decl.attachments)
    with pytest.raises(Invalid) as refused:
        operations.add_attachment(
            decl,
            kind="other",
            filename=filename,
            content=content,
            actor=cast.actor("district_staff"),
        )
    assert refused.value.message.startswith("只能上传 PDF、JPG、PNG、DOCX、XLSX 文件")
    assert refused.value.fields == {"file": "文件类型不受支持"}
    db.session.rollback()
    assert len(decl.attachments) == count
    assert sorted(uploads.iterdir()) == files_before


def test_empty_upload_is_refused(cast):
    with pytest.raises(Invalid, match="上传的文件是空的"):
        operations.add_attachment(
            cast.declaration(),
            kind="other",
            filename="空.pdf",
            content=b"",
            actor=cast.actor("district_staff"),
        )


def test_unknown_attachment_kind_is_refused(cast):
    with pytest.raises(Invalid, match="请选择附件类型"):
        operations.add_attachment(
            cast.declaration(),
            kind="video",
            filename="a.pdf",
            content=factories.pdf_bytes(),
            actor=cast.actor("district_staff"),
        )


@pytest.mark.parametrize("stage", ["district_review", "recommended", "approved", "withdrawn"])
def test_attachments_change_only_while_editable(cast, stage):
    decl = cast.declaration_in(stage)
    staff = cast.actor("district_staff")
    with pytest.raises(Conflict, match="不能上传附件"):
        operations.add_attachment(
            decl, kind="other", filename="补充.pdf", content=factories.pdf_bytes(), actor=staff
        )
    db.session.rollback()
    with pytest.raises(Conflict, match="不能删除附件"):
        operations.remove_attachment(decl.attachments[0], actor=staff)


def test_removing_an_attachment_keeps_the_file_and_logs_it(cast):
    decl = cast.declaration()
    attachment = decl.attachments[0]
    stored = Path(current_app.config["DATA_DIR"]) / "uploads" / attachment.stored_name
    operations.remove_attachment(attachment, actor=cast.actor("district_staff"))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert stored.exists()
    assert audit_rows(decl.id)[-1].before["sha256"] == attachment.sha256


# --- dossiers -------------------------------------------------------------------------------


def _ask(decl, cast):
    dossier, needs_job = operations.request_dossier(decl, actor=cast.actor("manager"))
    db.session.commit()
    return dossier, needs_job


def test_same_data_version_gives_the_same_dossier(cast):
    decl = cast.declaration_in("city_review")
    first, queued = _ask(decl, cast)
    again, queued_again = _ask(decl, cast)
    assert (queued, queued_again) == (True, False)
    assert again.id == first.id
    assert (first.declaration_version, first.project_version) == (
        decl.version,
        decl.project.version,
    )
    assert first.job_id == f"dossier-{decl.id}-d{decl.version}-p{decl.project.version}"
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1


def _update_declaration(decl, cast):
    operations.update_declaration(
        decl,
        {"requested_amount": Decimal("310")},
        actor=cast.actor("district_staff"),
        expected_version=decl.version,
    )


def _update_project(decl, cast):
    operations.update_project(
        decl.project,
        {"content": "新增建设内容"},
        actor=cast.actor("district_staff"),
        expected_version=decl.project.version,
    )


def _add_attachment(decl, cast):
    operations.add_attachment(
        decl,
        kind="feasibility_report",
        filename="可研报告.pdf",
        content=factories.pdf_bytes(),
        actor=cast.actor("district_staff"),
    )


def _remove_attachment(decl, cast):
    operations.remove_attachment(decl.attachments[0], actor=cast.actor("district_staff"))


def _add_prerequisite(decl, cast):
    operations.add_prerequisite(
        decl.project,
        {"kind": "energy", "doc_number": "盐能审〔2025〕9号", "issued_on": date(2025, 5, 1)},
        actor=cast.actor("district_staff"),
    )


def _act(decl, cast):
    cast.act(decl, "submit", "district_staff")


DATA_CHANGES = [
    ("declaration-edited", _update_declaration),
    ("project-edited", _update_project),
    ("attachment-added", _add_attachment),
    ("attachment-removed", _remove_attachment),
    ("prerequisite-added", _add_prerequisite),
    ("stage-changed", _act),
]


@pytest.mark.parametrize("change", [c[1] for c in DATA_CHANGES], ids=[c[0] for c in DATA_CHANGES])
def test_changed_data_gives_a_new_dossier(cast, change):
    """Anything the dossier prints that changes makes the old dossier outdated."""
    decl = cast.declaration()
    first, _ = _ask(decl, cast)
    change(decl, cast)
    db.session.commit()
    db.session.refresh(first)
    assert not first.is_current
    second, queued = _ask(decl, cast)
    assert queued and second.id != first.id
    assert second.is_current


def test_a_failed_dossier_is_asked_for_again(cast):
    decl = cast.declaration_in("city_review")
    first, _ = _ask(decl, cast)
    first.status, first.error = "failed", "字体缺失"
    db.session.commit()
    again, queued = _ask(decl, cast)
    assert (again.id, again.status, again.error, queued) == (first.id, "queued", None, True)


def test_asking_for_a_dossier_commits_nothing_by_itself(cast):
    """The operation flushes; only the caller's commit keeps the dossier and its audit row."""
    decl = cast.declaration_in("city_review")
    audits = len(audit_rows(decl.id))
    operations.request_dossier(decl, actor=cast.actor("manager"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 0
    assert len(audit_rows(decl.id)) == audits
