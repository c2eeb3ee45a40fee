"""Attachments: the bytes decide the type, the size is limited, names are safe both ways."""

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from werkzeug.http import parse_options_header

from tests.factories import act, pdf_bytes
from tests.views.html import has_cjk, page
from workflow.extensions import db
from workflow.models import Attachment


def png_bytes() -> bytes:
    """A real 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def office_bytes(folder: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<doc/>")
    return out.getvalue()


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


@pytest.fixture
def draft(world, make_project, make_declaration):
    return make_declaration(make_project(world.yandu), world.program, by=world.staff)


@pytest.fixture
def uploads(app_config) -> Path:
    return Path(app_config["DATA_DIR"]) / "uploads"


def upload(client, decl, content: bytes, filename: str, kind: str = "feasibility_report"):
    return client.post(
        f"/declarations/{decl.id}/attachments",
        data={"kind": kind, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def stored(decl) -> list[Attachment]:
    db.session.expire_all()
    return db.session.scalars(
        select(Attachment).where(Attachment.declaration_id == decl.id).order_by(Attachment.id)
    ).all()


@pytest.mark.parametrize(
    ("content", "filename", "mime", "extension"),
    [
        (png_bytes(), "现场照片.pdf", "image/png", "png"),  # a PNG renamed .pdf is a PNG
        (JPEG, "扫描件.png", "image/jpeg", "jpg"),
        (pdf_bytes(), "可研报告", "application/pdf", "pdf"),
        (
            office_bytes("word"),
            "申报书.doc",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "docx",
        ),
        (
            office_bytes("xl"),
            "投资明细.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    ],
)
def test_the_type_is_judged_by_the_content(
    world, login, draft, uploads, content, filename, mime, extension
):
    client = login(world.staff)
    response = upload(client, draft, content, filename)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/declarations/{draft.id}#attachments")
    attachment = stored(draft)[-1]
    assert attachment.content_type == mime
    assert attachment.original_name == filename
    assert attachment.size == len(content)
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{extension}", attachment.stored_name)
    assert (uploads / attachment.stored_name).read_bytes() == content
    shown = page(client.get(f"/declarations/{draft.id}"))
    assert "附件已上传" in shown.alerts()
    assert filename in shown.by_id("attachments").text


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"<!doctype html><html><body><script>alert(1)</script></body></html>", "申报书.pdf"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "图.png"),
        ("这是一段纯文本,不是 PDF".encode(), "说明.pdf"),
        (b"MZ\x90\x00" + b"\x00" * 200, "承诺函.pdf"),
        (b"GIF89a" + b"\x00" * 40, "照片.jpg"),
        (office_bytes("other"), "压缩包.docx"),
    ],
    ids=["html", "svg", "text", "exe", "gif", "zip"],
)
def test_other_content_is_refused_in_chinese_and_nothing_is_stored(
    world, login, draft, uploads, content, filename
):
    before = {p.name for p in uploads.iterdir()}
    count = len(stored(draft))
    client = login(world.staff)
    response = upload(client, draft, content, filename)
    assert response.status_code == 422
    shown = page(response)
    message = shown.by_id("page-error").text
    assert "只能上传 PDF、JPG、PNG、DOCX、XLSX 文件" in message and "与扩展名无关" in message
    assert len(stored(draft)) == count
    assert {p.name for p in uploads.iterdir()} == before
    assert shown.value("kind") == "feasibility_report"  # the chosen kind is kept


def test_an_empty_file_or_no_file_is_refused(world, login, draft):
    client = login(world.staff)
    response = upload(client, draft, b"", "空文件.pdf")
    assert response.status_code == 422
    assert has_cjk(page(response).by_id("page-error").text)
    response = client.post(
        f"/declarations/{draft.id}/attachments",
        data={"kind": "other"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "请选择要上传的文件" in page(response).by_id("page-error").text


def test_an_unknown_kind_is_refused(world, login, draft):
    client = login(world.staff)
    response = upload(client, draft, pdf_bytes(), "a.pdf", kind="selfie")
    assert response.status_code == 422
    assert "不是有效的选择" in page(response).by_id("page-error").text


def test_uploads_stop_once_the_declaration_is_submitted(world, login, draft):
    act(draft, "submit", world.staff)
    client = login(world.staff)
    count = len(stored(draft))
    response = upload(client, draft, pdf_bytes(), "补充.pdf")
    assert response.status_code == 409
    assert "不能上传附件" in page(response).by_id("page-error").text
    assert len(stored(draft)) == count
    assert page(client.get(f"/declarations/{draft.id}")).value("kind") is None  # no upload form


@pytest.fixture
def small_limit(app_config):
    app_config["MAX_CONTENT_LENGTH"] = 4096
    return 4096


def test_a_file_over_the_size_limit_gets_a_readable_413(small_limit, world, login, draft, uploads):
    before = {p.name for p in uploads.iterdir()}
    count = len(stored(draft))
    client = login(world.staff)
    response = upload(client, draft, b"%PDF-1.4\n" + b"0" * 10_000, "很大的扫描件.pdf")
    assert response.status_code == 413
    shown = page(response)
    assert shown.h1 == "文件过大"
    assert "4.0 KB" in shown.text and "请压缩或拆分后重新上传" in shown.text
    assert len(stored(draft)) == count
    assert {p.name for p in uploads.iterdir()} == before
    # A file under the limit still goes through.
    assert upload(client, draft, pdf_bytes(), "小文件.pdf").status_code == 302


@pytest.mark.parametrize(
    "name",
    [
        "申报书(盖章版).pdf",
        "2026年 可研报告 final.pdf",
        "分号;百分号%20与'撇号'.pdf",
        "résumé 附件.pdf",
    ],
)
def test_the_download_keeps_the_chinese_name_in_a_safe_header(world, login, draft, name):
    client = login(world.staff)
    assert upload(client, draft, pdf_bytes(), name).status_code == 302
    attachment = stored(draft)[-1]
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.data == pdf_bytes()
    response.close()
    header = response.headers["Content-Disposition"]
    header.encode("ascii")  # raises if any raw non-ASCII reached the header
    assert "\r" not in header and "\n" not in header
    assert f"filename*=UTF-8''{quote(name, safe='')}" in header
    assert f'filename="attachment-{attachment.id}.pdf"' in header  # a plain fallback
    disposition, options = parse_options_header(header)
    assert disposition == "attachment"
    assert options["filename"] == name
    assert response.headers["Content-Type"] == "application/pdf"


def test_the_stored_name_never_comes_from_the_user(world, login, draft, uploads):
    client = login(world.staff)
    hostile = "../../../etc/申报书.pdf"
    assert upload(client, draft, pdf_bytes(), hostile).status_code == 302
    attachment = stored(draft)[-1]
    assert attachment.original_name == "申报书.pdf"  # folders a browser sends are dropped
    assert "申报书" not in attachment.stored_name and ".." not in attachment.stored_name
    files = list(uploads.iterdir())
    assert all(re.fullmatch(r"[0-9a-f]{32}\.\w+", p.name) for p in files)
    assert not (uploads.parent.parent / "etc").exists()


def test_deleting_an_attachment(world, login, draft):
    client = login(world.staff)
    attachment = stored(draft)[0]
    response = client.post(f"/attachments/{attachment.id}/delete")
    assert response.status_code == 302
    assert "附件已删除" in page(client.get(response.headers["Location"])).alerts()
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert client.get(f"/attachments/{attachment.id}").status_code == 404
