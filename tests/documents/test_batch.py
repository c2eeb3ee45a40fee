"""Assembling a batch dossier: page numbers after merging, attachments, manifest, footers."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NumberObject, RectangleObject

import documents.batch as batch_pdf
from documents import fontmerge
from documents.batch import AttachmentFile, SectionFile, assemble_batch
from documents.pdf import html_to_pdf

FINGERPRINT = hashlib.sha256(b"batch data").hexdigest()
FRONT = {
    "program": {
        "title": "2026年数字经济领域中央预算内投资项目",
        "issuer": "国家发展改革委",
        "channel_label": "中央预算内投资",
        "year": "2026",
        "batch": "第一批",
        "city": "盐城市",
    },
    "summary": [
        {
            "number": n,
            "project": name,
            "district": "盐都区",
            "unit": "盐城测试科技有限公司",
            "total_investment": "1,000.00",
            "requested_amount": "300.00",
            "stage": "已推荐上报",
        }
        for n, name in ((1, "甲项目"), (2, "乙项目"), (3, "丙项目"))
    ],
    "totals": {"count": 3, "total_investment": "3,000.00", "requested_amount": "900.00"},
    "generated_on": "2026-11-26",
}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def text_pdf(*pages: str) -> bytes:
    """A PDF with one line of text per page."""
    body = "".join(f'<p style="break-before: page">{text}</p>' for text in pages)
    return html_to_pdf(f"<style>@page {{ size: A4; margin: 20mm }}</style>{body}")


def image_bytes(size=(1200, 800), fmt="PNG", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(out, fmt, **save)
    return out.getvalue()


def assemble(*args, **kwargs):
    """Assemble into memory; the result carries the file's bytes as ``content``."""
    out = io.BytesIO()
    result = assemble_batch(*args, out=out, **kwargs)
    result.content = out.getvalue()
    return result


def texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


class Files:
    """Section and attachment files in a temporary folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def section(self, number: int, title: str, *extra_pages: str, attachments=()) -> SectionFile:
        path = self.folder / f"section-{number}.pdf"
        path.write_bytes(text_pdf(f"第{number}项 {title}", *extra_pages))
        return SectionFile(number, title, "盐都区", path, tuple(attachments))

    def attachment(self, name: str, content: bytes, content_type="application/pdf", **kw):
        path = self.folder / f"upload-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        path.write_bytes(content)
        values = {"sha256": hashlib.sha256(content).hexdigest(), **kw}
        return AttachmentFile(name, "其他材料", content_type, values["sha256"], path)


@pytest.fixture
def files(tmp_path) -> Files:
    return Files(tmp_path)


def toc_of(pages: list[str]) -> dict[str, int]:
    """The 目录's entries and the page numbers it prints."""
    toc_page = next(text for text in pages if text.startswith("目 录"))
    entries = {}
    for line in toc_page.splitlines():
        found = re.match(r"(第\d+项 \S+|汇总表|材料清单)\s.*?(\d+)$", line.strip())
        if found:
            entries[found.group(1)] = int(found.group(2))
    return entries


def test_toc_page_numbers_are_those_of_the_merged_file(files):
    appendix = files.attachment(
        "可研报告.pdf", text_pdf(*(f"可研报告第{n}页" for n in range(1, 6)))
    )
    sections = [
        files.section(1, "甲项目", "甲项目续页", attachments=[appendix]),
        files.section(
            2, "乙项目", attachments=[files.attachment("现场.png", image_bytes(), "image/png")]
        ),
        files.section(3, "丙项目", "丙项目续页一", "丙项目续页二"),
    ]
    result = assemble(FRONT, sections, fingerprint=FINGERPRINT)
    pages = texts(result.content)

    toc = toc_of(pages)
    assert set(toc) == {"汇总表", "第1项 甲项目", "第2项 乙项目", "第3项 丙项目", "材料清单"}
    for heading, number in toc.items():
        assert pages[number - 1].startswith(
            heading.replace("汇总表", "汇 总 表").replace("材料清单", "材 料 清 单")
        )
    # Section 1 (2 pages) and its 5-page attachment come before section 2.
    first = toc["第1项 甲项目"]
    assert toc["第2项 乙项目"] == first + 2 + 5
    assert [pages[first + 1 + n].startswith(f"可研报告第{n + 1}页") for n in range(5)] == [True] * 5
    assert toc["第3项 丙项目"] == toc["第2项 乙项目"] + 2  # a section page and the image's page
    assert len(pages) == result.pages


def test_every_page_carries_its_number_the_total_and_the_fingerprint(files):
    result = assemble(FRONT, [files.section(1, "甲项目", "续页")], fingerprint=FINGERPRINT)
    pages = texts(result.content)
    assert len(pages) == result.pages
    for number, text in enumerate(pages, start=1):
        assert re.search(
            rf"第 {number} 页\s*共 {len(pages)} 页 · 数据指纹 {FINGERPRINT[:12]}", text
        )
    metadata = PdfReader(io.BytesIO(result.content)).metadata
    assert metadata["/BatchFingerprint"] == FINGERPRINT


def test_the_manifest_lists_every_part_and_attachment_with_its_sha256(files):
    report = text_pdf("可研报告正文")
    photo = image_bytes(fmt="JPEG")
    sections = [
        files.section(
            1,
            "甲项目",
            attachments=[
                files.attachment("可研报告.pdf", report),
                files.attachment("现场照片.jpg", photo, "image/jpeg"),
            ],
        ),
        files.section(2, "乙项目"),
    ]
    result = assemble(FRONT, sections, fingerprint=FINGERPRINT)
    pages = texts(result.content)
    manifest = "\n".join(pages[toc_of(pages)["材料清单"] - 1 :])

    assert FINGERPRINT in manifest
    for section in sections:
        assert hashlib.sha256(section.pdf_path.read_bytes()).hexdigest() in manifest
    for content in (report, photo):
        assert hashlib.sha256(content).hexdigest() in manifest
    assert "可研报告.pdf" in manifest and "现场照片.jpg" in manifest
    rows = {row["name"]: row for row in result.manifest}
    assert rows["其他材料:可研报告.pdf"]["pages"] == str(toc_of(pages)["第1项 甲项目"] + 1)


def test_an_image_is_placed_on_a_page_of_its_own_scaled_to_fit(files):
    # 4000 × 1000 pixels would be far wider than A4 at any natural size.
    wide = files.attachment("全景照片.png", image_bytes((4000, 1000)), "image/png")
    result = assemble(
        FRONT, [files.section(1, "甲项目", attachments=[wide])], fingerprint=FINGERPRINT
    )
    reader = PdfReader(io.BytesIO(result.content))
    page = reader.pages[toc_of(texts(result.content))["第1项 甲项目"]]
    assert "附件1 其他材料:全景照片.png" in page.extract_text()
    drawn = page["/Resources"]["/XObject"]["/BatchImage"].get_object()
    image = next(iter(drawn["/Resources"]["/XObject"].values())).get_object()
    assert image["/Width"] == batch_pdf.IMAGE_MAX_PIXELS  # shrunk to at most A4 at 300 dpi
    scale = _drawn_scale(page, "/BatchImage")
    width_pt = float(drawn["/BBox"][2]) * scale
    assert width_pt <= batch_pdf.A4_WIDTH - 36 * batch_pdf.MM + 0.01


def test_an_image_is_turned_upright_from_its_exif_orientation(files):
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone on its side: rotate 90° to show
    sideways = image_bytes((400, 200), "JPEG", exif=exif.tobytes())
    result = assemble(
        FRONT,
        [
            files.section(
                1, "甲项目", attachments=[files.attachment("a.jpg", sideways, "image/jpeg")]
            )
        ],
        fingerprint=FINGERPRINT,
    )
    page = PdfReader(io.BytesIO(result.content)).pages[
        toc_of(texts(result.content))["第1项 甲项目"]
    ]
    drawn = page["/Resources"]["/XObject"]["/BatchImage"].get_object()
    image = next(iter(drawn["/Resources"]["/XObject"].values())).get_object()
    assert (image["/Width"], image["/Height"]) == (200, 400)


def _drawn_scale(page, name: str) -> float:
    """The scale of the matrix a stamp was drawn with (q a 0 0 d e f cm /Name Do Q)."""
    contents = b"".join(part.get_object().get_data() for part in page["/Contents"])
    found = re.search(
        rb"q ([\d.]+) 0 0 [\d.]+ [\d.\-]+ [\d.\-]+ cm " + name.encode() + rb" Do Q", contents
    )
    return float(found.group(1))


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_attachments_that_cannot_be_merged_become_notice_pages_instead_of_failing(files):
    missing = files.attachment("丢失的文件.pdf", text_pdf("x"))
    missing.path.unlink()
    changed = files.attachment("被替换的文件.pdf", text_pdf("原件"))
    changed.path.write_bytes(text_pdf("替换件"))
    attachments = [
        files.attachment("损坏的文件.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage"),
        files.attachment("加密的文件.pdf", encrypted_pdf()),
        files.attachment("承诺函.docx", b"PK\x03\x04 docx bytes", DOCX),
        missing,
        changed,
    ]
    result = assemble(
        FRONT, [files.section(1, "甲项目", attachments=attachments)], fingerprint=FINGERPRINT
    )
    pages = texts(result.content)
    start = toc_of(pages)["第1项 甲项目"]
    notices = pages[start : start + 5]
    assert "附件无法合并:文件已损坏,无法读取" in notices[0] and "损坏的文件.pdf" in notices[0]
    assert "附件无法合并:文件已加密" in notices[1]
    assert "该附件为 DOCX 格式,未合入,见清单" in notices[2]
    assert "附件无法合并:文件缺失" in notices[3]
    assert "附件无法合并:文件与上传时登记的校验值不一致" in notices[4]
    assert [row["pages"] for row in result.manifest if row["kind"] == "attachment"] == [
        "未合入"
    ] * 5
    assert pages[start + 5].startswith("材 料 清 单")


def test_rotated_and_odd_sized_pages_get_the_footer_at_their_displayed_foot(files):
    writer = PdfWriter()
    writer.add_blank_page(612, 792)  # US Letter
    writer.add_blank_page(595, 842).rotate(90)  # A4 shown landscape
    cropped = writer.add_blank_page(700, 900)
    cropped.cropbox = RectangleObject((50, 60, 650, 860))
    out = io.BytesIO()
    writer.write(out)
    result = assemble(
        FRONT,
        [files.section(1, "甲项目", attachments=[files.attachment("扫描件.pdf", out.getvalue())])],
        fingerprint=FINGERPRINT,
    )
    reader = PdfReader(io.BytesIO(result.content))
    first = toc_of(texts(result.content))["第1项 甲项目"]
    for page in reader.pages[first - 1 : first + 3]:  # an A4 section page, then the three
        box = page.cropbox
        shown_width = float(box.height if page.rotation in (90, 270) else box.width)
        # The stamp is drawn for A4: the middle of its foot must land on the displayed foot.
        x, y = _displayed(page, _stamp_point(page, batch_pdf.A4_WIDTH / 2, 10))
        assert (round(x, 2), round(y, 2)) == (round(shown_width / 2, 2), 10), page.rotation


def _stamp_point(page, x: float, y: float) -> tuple[float, float]:
    """Where a point of the footer stamp lands in the page's space (its drawing matrix)."""
    contents = b"".join(part.get_object().get_data() for part in page["/Contents"])
    number = rb"(-?[\d.]+) "
    found = re.search(b"q " + number * 6 + rb"cm /BatchPageNo Do Q", contents)
    a, b, c, d, e, f = (float(v) for v in found.groups())
    return a * x + c * y + e, b * x + d * y + f


def _displayed(page, point: tuple[float, float]) -> tuple[float, float]:
    """A point of the page's space as seen on screen (origin at the displayed bottom left)."""
    box = page.cropbox
    x, y = point[0] - float(box.left), point[1] - float(box.bottom)
    width, height = float(box.width), float(box.height)
    return {
        0: (x, y),
        90: (y, width - x),
        180: (width - x, height - y),
        270: (height - y, x),
    }[page.rotation % 360]


def test_parts_rendered_once_come_from_the_cache_after(files, tmp_path, monkeypatch):
    sections = [
        files.section(
            1, "甲项目", attachments=[files.attachment("a.png", image_bytes(), "image/png")]
        )
    ]
    first = assemble(FRONT, sections, fingerprint=FINGERPRINT, cache_dir=tmp_path / "cache")
    rendered = []
    real = batch_pdf.html_to_pdf
    monkeypatch.setattr(batch_pdf, "html_to_pdf", lambda html: rendered.append(html) or real(html))
    again = assemble(FRONT, sections, fingerprint=FINGERPRINT, cache_dir=tmp_path / "cache")
    assert rendered == []
    assert again.content == first.content  # the same parts give the same file, byte for byte


# --- one font program for the batch's own pages -----------------------------------------------


def font_programs(pdf: bytes, pages=None) -> dict[int, bytes]:
    """The embedded font programs the given pages (all by default) draw with, by object."""
    reader = PdfReader(io.BytesIO(pdf))
    programs = {}

    def walk(resources):
        resources = resources.get_object() if resources is not None else {}
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                for key in ("/FontFile2", "/FontFile3"):
                    if key in descriptor:
                        ref = descriptor.raw_get(key)
                        programs[ref.idnum] = ref.get_object().get_data()
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Form":
                walk(xobject.get("/Resources"))

    for index in range(len(reader.pages)) if pages is None else pages:
        walk(reader.pages[index].get("/Resources"))
    return programs


def faces(pdf: bytes) -> list[str]:
    """The PostScript name of each embedded font program."""
    names = []
    for program in font_programs(pdf).values():
        with TTFont(io.BytesIO(program), lazy=True) as font:
            names.append(font["name"].getDebugName(6))
    return names


def page_images(pdf: bytes, folder: Path) -> list[bytes]:
    """Every page drawn by poppler at 100 dpi, as PPM bytes."""
    folder.mkdir()
    (folder / "in.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "100", folder / "in.pdf", folder / "page"], check=True)
    return [path.read_bytes() for path in sorted(folder.glob("page-*.ppm"))]


def merged_and_not(files, sections, tmp_path, monkeypatch):
    merged = assemble(FRONT, sections, fingerprint=FINGERPRINT)
    with monkeypatch.context() as patch:
        patch.setattr(batch_pdf, "merge_font_subsets", lambda *args: 0)
        separate = assemble(FRONT, sections, fingerprint=FINGERPRINT)
    return merged, separate


def test_the_sections_share_one_copy_of_the_font_and_print_the_same(files, tmp_path, monkeypatch):
    sections = [
        files.section(1, "甲项目", "建设内容:政务数据共享平台"),
        files.section(2, "乙项目", "建设内容:城市运行管理中心 ABC-123"),
        files.section(3, "丙项目", "资金来源:中央预算内投资、地方配套"),
    ]
    merged, separate = merged_and_not(files, sections, tmp_path, monkeypatch)

    # A subset of a face per rendered part before; one program per face after.
    assert max(Counter(faces(separate.content)).values()) > 3
    assert sorted(faces(merged.content)) == sorted(set(faces(separate.content)))
    assert len(merged.content) < len(separate.content) / 2
    assert texts(merged.content) == texts(separate.content)
    assert page_images(merged.content, tmp_path / "merged") == page_images(
        separate.content, tmp_path / "separate"
    )


def test_an_attachments_own_fonts_are_left_as_they_are(files, tmp_path, monkeypatch):
    # Made the same way as the sections, so its font is the same face: still not touched.
    report = text_pdf("可研报告正文:附件自带字体")
    sections = [
        files.section(1, "甲项目", attachments=[files.attachment("可研报告.pdf", report)]),
        files.section(2, "乙项目"),
    ]
    merged, separate = merged_and_not(files, sections, tmp_path, monkeypatch)

    own = set(font_programs(report).values())
    at = toc_of(texts(merged.content))["第1项 甲项目"]  # the section's one page, then the report
    assert own <= set(font_programs(merged.content, pages=[at]).values())
    assert page_images(merged.content, tmp_path / "merged") == page_images(
        separate.content, tmp_path / "separate"
    )


def test_parts_keep_their_own_fonts_when_the_face_they_were_made_from_is_gone(files, monkeypatch):
    sections = [files.section(1, "甲项目"), files.section(2, "乙项目")]
    monkeypatch.setattr(fontmerge, "_installed", lambda *key: None)  # e.g. the fonts were updated
    result = assemble(FRONT, sections, fingerprint=FINGERPRINT)
    assert max(Counter(faces(result.content)).values()) > 1
    assert "甲项目" in "".join(texts(result.content))


def test_glyph_numbers_are_read_from_both_forms_of_a_widths_array():
    widths = [1, [224], 66, [563, 618, 510], 100, 102, 500]
    assert fontmerge._widths_gids(
        ArrayObject(
            NumberObject(w) if isinstance(w, int) else ArrayObject(NumberObject(x) for x in w)
            for w in widths
        )
    ) == {1, 66, 67, 68, 100, 101, 102}
