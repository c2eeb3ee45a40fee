"""Attachments through the API: multipart uploads judged by their bytes, safe downloads."""

import hashlib
import io
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select
from werkzeug.http import parse_options_header

from tests.api.conftest import assert_error
from tests.api.declaration_helpers import drive, fresh, multipart
from tests.factories import pdf_bytes
from tests.views.objects import snapshot
from tests.views.test_uploads import JPEG, png_bytes
from workflow.extensions import db
from workflow.models import Attachment


@pytest.fixture
def draft(world, make_project, make_declaration):
    return make_declaration(make_project(world.yandu), world.program, by=world.staff)


@pytest.fixture
def uploads(app_config) -> Path:
    return Path(app_config["DATA_DIR"]) / "uploads"


def stored(decl) -> list[Attachment]:
    db.session.expire_all()
    return db.session.scalars(
        select(Attachment).where(Attachment.declaration_id == decl.id).order_by(Attachment.id)
    ).all()


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def upload(client, decl, content: bytes, filename: str, kind: str = "feasibility_report"):
    return client.post(
        f"/api/v1/declarations/{decl.id}/attachments", **multipart(content, filename, kind)
    )


# --- POST /api/v1/declarations/{id}/attachments ---------------------------------------------


def test_an_upload_is_stored_and_described(world, api, draft, uploads):
    content = pdf_bytes()
    seen = draft.version
    response = upload(api(world.staff), draft, content, "可行性研究报告(盖章版).pdf")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    attachment = stored(draft)[-1]
    assert response.headers["Location"] == f"/api/v1/attachments/{attachment.id}"
    assert body == {
        "id": attachment.id,
        "kind": "feasibility_report",
        "kind_label": "可研报告",
        "filename": "可行性研究报告(盖章版).pdf",
        "content_type": "application/pdf",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "uploaded_at": body["uploaded_at"],
        "url": f"/api/v1/attachments/{attachment.id}",
    }
    assert (uploads / attachment.stored_name).read_bytes() == content
    # A dossier printed before the upload is out of date: the declaration has a new version.
    assert fresh(draft).version == seen + 1
    listed = api(world.reviewer).get(f"/api/v1/declarations/{draft.id}").get_json()
    assert [a["id"] for a in listed["attachments"]] == [a.id for a in stored(draft)]


@pytest.mark.parametrize(
    ("content", "filename", "mime"),
    [
        (png_bytes(), "现场照片.pdf", "image/png"),
        (JPEG, "扫描件.png", "image/jpeg"),
        (pdf_bytes(), "可研报告", "application/pdf"),
    ],
)
def test_the_type_is_judged_by_the_content(world, api, draft, content, filename, mime):
    body = upload(api(world.staff), draft, content, filename).get_json()
    assert (body["content_type"], body["filename"]) == (mime, filename)


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"<!doctype html><html><script>alert(1)</script></html>", "申报书.pdf"),
        ("这是一段纯文本,不是 PDF".encode(), "说明.pdf"),
        (b"MZ\x90\x00" + b"\x00" * 200, "承诺函.pdf"),
        (b"GIF89a" + b"\x00" * 40, "照片.jpg"),
    ],
    ids=["html", "text", "exe", "gif"],
)
def test_other_content_is_refused_and_nothing_is_stored(
    world, api, draft, uploads, content, filename
):
    client = api(world.staff)
    before, files = snapshot(), files_in(uploads)
    error = assert_error(upload(client, draft, content, filename), 422, "validation_failed")
    assert error["fields"] == {"file": "文件类型不受支持"}
    assert "只能上传 PDF、JPG、PNG、DOCX、XLSX 文件" in error["message"]
    assert snapshot() == before and files_in(uploads) == files


def a_pdf(name: str = "a.pdf") -> tuple:
    return (io.BytesIO(pdf_bytes()), name)


# Bodies are built per test: a stream read by one test's request would be empty in the next.
MALFORMED_UPLOADS = {
    "empty": (lambda: {"kind": "other", "file": (io.BytesIO(b""), "空.pdf")}, "file", "文件是空的"),
    "no-file": (lambda: {"kind": "other"}, "file", "必填"),
    "text-not-file": (lambda: {"kind": "other", "file": "不是文件"}, "file", "请以文件形式上传"),
    "no-kind": (lambda: {"file": a_pdf()}, "kind", "必填"),
    "unknown-kind": (lambda: {"kind": "selfie", "file": a_pdf()}, "kind", "取值不在允许范围内"),
    "extra-field": (
        lambda: {"kind": "other", "file": a_pdf(), "note": "x"},
        "note",
        "不认识的字段",
    ),
    "extra-file": (
        lambda: {"kind": "other", "file": a_pdf(), "scan": a_pdf("b.pdf")},
        "scan",
        "不认识的字段",
    ),
}


@pytest.mark.parametrize(
    ("data", "field", "message"), MALFORMED_UPLOADS.values(), ids=MALFORMED_UPLOADS.keys()
)
def test_a_malformed_upload_says_which_field(world, api, draft, data, field, message):
    client = api(world.staff)
    before = snapshot()
    response = client.post(
        f"/api/v1/declarations/{draft.id}/attachments",
        data=data(),
        content_type="multipart/form-data",
    )
    error = assert_error(response, 422, "validation_failed")
    assert message in error["fields"][field], error
    assert snapshot() == before


def test_an_upload_sent_as_json_is_refused(world, api, draft):
    response = api(world.staff).post(
        f"/api/v1/declarations/{draft.id}/attachments", json={"kind": "other", "file": "JVBERi0="}
    )
    assert "multipart/form-data" in assert_error(response, 422)["fields"]["body"]


@pytest.fixture
def small_limit(app_config):
    app_config["MAX_CONTENT_LENGTH"] = 4096
    return 4096


def test_a_file_over_the_size_limit_is_a_json_413(small_limit, world, api, draft, uploads):
    client = api(world.staff)
    before, files = snapshot(), files_in(uploads)
    response = upload(client, draft, b"%PDF-1.4\n" + b"0" * 10_000, "很大的扫描件.pdf")
    error = assert_error(response, 413, "payload_too_large")
    assert "4.0 KB" in error["message"]
    assert snapshot() == before and files_in(uploads) == files
    assert upload(client, draft, pdf_bytes(), "小文件.pdf").status_code == 201


@pytest.mark.parametrize("stage", ["district_review", "recommended", "withdrawn"])
def test_uploads_stop_once_the_declaration_left_the_applicant(world, api, draft, stage):
    drive(draft, stage, world)
    client = api(world.staff)
    before = snapshot()
    error = assert_error(upload(client, draft, pdf_bytes(), "补充.pdf"), 409, "conflict")
    assert "不能上传附件" in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("role", ["district_reviewer", "city_reviewer", "manager"])
def test_only_district_staff_upload(world, api, draft, role):
    client = api(world.users()[role])
    before = snapshot()
    assert_error(upload(client, draft, pdf_bytes(), "补充.pdf"), 403, "forbidden")
    assert snapshot() == before


def test_an_upload_to_an_unknown_declaration_is_not_found(world, api):
    response = api(world.staff).post(
        "/api/v1/declarations/999999/attachments", **multipart(pdf_bytes(), "a.pdf")
    )
    assert_error(response, 404, "not_found")


# --- GET /api/v1/attachments/{id} -----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "申报书(盖章版).pdf",
        "2026年 可研报告 final.pdf",
        "分号;百分号%20与'撇号'.pdf",
        "résumé 附件.pdf",
    ],
)
def test_the_download_keeps_the_chinese_name_in_a_safe_header(world, api, draft, name):
    content = pdf_bytes()
    attachment_id = upload(api(world.staff), draft, content, name).get_json()["id"]
    # Everyone who may see the declaration may download its files.
    for user in (world.staff, world.reviewer, world.city, world.manager):
        response = api(user).get(f"/api/v1/attachments/{attachment_id}")
        assert response.status_code == 200
        assert response.data == content
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Length"] == str(len(content))
        header = response.headers["Content-Disposition"]
        assert header.isascii() and "\n" not in header
        kind, options = parse_options_header(header)
        assert kind == "attachment"
        assert options["filename"] == name  # werkzeug decodes filename* (RFC 5987)
        assert f"filename*=UTF-8''{quote(name, safe='')}" in header
        assert f'filename="attachment-{attachment_id}.pdf"' in header


def test_a_file_gone_from_the_store_is_not_found(world, api, draft, uploads):
    attachment = draft.attachments[0]
    (uploads / attachment.stored_name).unlink()
    assert_error(api(world.staff).get(f"/api/v1/attachments/{attachment.id}"), 404, "not_found")


def test_an_unknown_attachment_is_not_found(world, api):
    assert_error(api(world.city).get("/api/v1/attachments/999999"), 404, "not_found")
