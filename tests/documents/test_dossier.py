"""Tests for the 申报材料 PDF dossier (documents package)."""

from __future__ import annotations

import io
import re
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from documents import (
    RefusedURLError,
    SafeURLFetcher,
    dossier_html,
    harfbuzz_subsetting_available,
    render_dossier_pdf,
    safe_url_fetcher,
    subsetting_path,
)
from documents.dossier import SECTIONS
from documents.pdf import STATIC_DIR, html_to_pdf
from documents.sample import sample_dossier_data

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECTION_HEADINGS = [heading for _, heading in SECTIONS]
EXPECTED_HEADINGS = [
    "一、项目基本信息",
    "二、资金构成",
    "三、申报信息",
    "四、前期要件",
    "五、附件清单",
    "六、审核意见",
    "七、流转记录",
]
# Distinct from any status label, so counting it cannot be confused with body text.
WATERMARK = "内部审阅稿"


def page_texts(pdf: bytes) -> list[str]:
    """Extract the text of every page."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def footer_pattern(page: int | str, total: int | str) -> re.Pattern[str]:
    """Match the footer 「第 X 页 共 Y 页」, tolerant of extraction spacing."""
    return re.compile(rf"第\s*{page}\s*页\s*共\s*{total}\s*页")


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return sample_dossier_data(watermark=WATERMARK)


@pytest.fixture(scope="module")
def pdf_with_watermark(sample: dict[str, Any]) -> bytes:
    return render_dossier_pdf(sample)


@pytest.fixture(scope="module")
def pdf_without_watermark(sample: dict[str, Any]) -> bytes:
    return render_dossier_pdf({**sample, "watermark": None})


@pytest.fixture(scope="module")
def texts(pdf_without_watermark: bytes) -> list[str]:
    return page_texts(pdf_without_watermark)


# --- content and pagination -------------------------------------------------------------------


def test_sample_builder_returns_fresh_copies_and_applies_overrides() -> None:
    first = sample_dossier_data()
    first["project"]["name"] = "changed"
    assert sample_dossier_data()["project"]["name"] != "changed"
    assert sample_dossier_data(watermark=None)["watermark"] is None
    assert sample_dossier_data()["watermark"] == "草稿"


def test_pdf_is_multi_page_and_contains_project_name(
    sample: dict[str, Any], pdf_without_watermark: bytes, texts: list[str]
) -> None:
    assert pdf_without_watermark.startswith(b"%PDF-")
    assert len(texts) >= 5
    full = "\n".join(texts)
    assert sample["project"]["name"] in full
    assert "政策资金项目申报材料" in texts[0]


def test_every_page_has_footer_with_real_page_count(texts: list[str]) -> None:
    total = len(texts)
    assert footer_pattern(1, total).search(texts[0])
    for number, text in enumerate(texts, start=1):
        assert footer_pattern(number, total).search(text), f"page {number}"
        # A wrong total must not match, otherwise the check above proves nothing.
        assert not footer_pattern(number, total + 1).search(text)


def test_every_page_has_running_header_with_project_name(
    sample: dict[str, Any], texts: list[str]
) -> None:
    for number, text in enumerate(texts, start=1):
        assert sample["title"] in text, f"page {number}"


def test_cover_shows_required_fields(sample: dict[str, Any], texts: list[str]) -> None:
    cover = texts[0]
    for value in (
        sample["program"]["issuer"],
        sample["project"]["applicant_unit"],
        sample["project"]["district"],
        sample["generated_at"],
        sample["data_version"],
    ):
        assert value in cover
    # The program title may wrap on the cover; compare without line breaks.
    assert sample["program"]["title"] in re.sub(r"\s+", "", cover)


def test_sections_are_in_order_after_the_toc(texts: list[str]) -> None:
    assert SECTION_HEADINGS == EXPECTED_HEADINGS
    body = "\n".join(texts[2:])
    positions = [body.index(heading) for heading in EXPECTED_HEADINGS]
    assert positions == sorted(positions)


def _toc_entries(toc_text: str) -> dict[str, int]:
    entries: dict[str, int] = {}
    for line in toc_text.splitlines():
        match = re.match(r"^\s*([一二三四五六七]、\S+?)\s*[.．·…\s]*(\d+)\s*$", line)
        if match:
            entries[match[1]] = int(match[2])
    return entries


def _section_start_pages(texts: list[str], after: int) -> dict[str, int]:
    starts: dict[str, int] = {}
    for index in range(after + 1, len(texts)):
        lines = {line.strip() for line in texts[index].splitlines()}
        for heading in EXPECTED_HEADINGS:
            if heading in lines and heading not in starts:
                starts[heading] = index + 1
    return starts


def test_toc_page_numbers_match_where_sections_start(texts: list[str]) -> None:
    toc_index = 1
    assert re.search(r"目\s*录", texts[toc_index])
    entries = _toc_entries(texts[toc_index])
    assert list(entries) == EXPECTED_HEADINGS
    starts = _section_start_pages(texts, after=toc_index)
    assert list(starts) == EXPECTED_HEADINGS
    assert entries == starts
    # The sample is long enough that sections do not all start on one page.
    assert len(set(starts.values())) >= 3


def test_long_form_field_is_complete_across_pages() -> None:
    markers = [f"第{n:03d}段" for n in range(1, 121)]
    sentence = "盐城市数据要素市场化配置改革试点项目实施方案内容。"
    long_value = "\n".join(f"{m}：{sentence}" * 2 for m in markers)
    data = sample_dossier_data(watermark=None)
    data["declaration"]["form_fields"] = [{"label": "实施方案", "value": long_value}]
    pages = page_texts(render_dossier_pdf(data))
    pages_with_markers = [i for i, t in enumerate(pages) if "第001段" in t or "第120段" in t]
    full = re.sub(r"\s+", "", "".join(pages))
    missing = [m for m in markers if m not in full]
    assert not missing, f"text lost across page breaks: {missing[:5]}"
    # The field spans pages instead of being clipped to one.
    assert pages_with_markers[0] != pages_with_markers[-1]


def test_newlines_in_long_text_are_kept_as_line_breaks(texts: list[str]) -> None:
    lines = {line.strip() for line in "\n".join(texts).splitlines()}
    # These are separate lines of project.content in the sample and each is short enough
    # to fit on one line, so they come out as lines of their own only if \n is honoured.
    assert "一、建设背景" in lines
    assert "二、建设内容" in lines


def test_funding_table_lists_sources_and_total(sample: dict[str, Any], texts: list[str]) -> None:
    full = "\n".join(texts)
    for row in sample["funding"]:
        assert re.search(rf"{re.escape(row['label'])}\s+{re.escape(row['amount'])}", full)
        assert row["share"] in full
    assert re.search(rf"合计\s+{re.escape(sample['funding_total'])}", full)


def test_attachment_rows_show_chinese_filename_and_short_hash(
    sample: dict[str, Any], texts: list[str]
) -> None:
    full = re.sub(r"\s+", "", "".join(texts))
    for row in sample["attachments"]:
        assert re.sub(r"\s+", "", row["filename"]) in full
        assert row["sha256"][:12] in full
        assert row["sha256"] not in full


# --- watermark --------------------------------------------------------------------------------


def test_watermark_appears_on_every_page(
    pdf_with_watermark: bytes, pdf_without_watermark: bytes
) -> None:
    with_mark = page_texts(pdf_with_watermark)
    without_mark = page_texts(pdf_without_watermark)
    # The watermark is out of flow, so pagination must not change.
    assert len(with_mark) == len(without_mark)
    for number, (marked, plain) in enumerate(zip(with_mark, without_mark, strict=True), 1):
        assert marked.count(WATERMARK) == plain.count(WATERMARK) + 1, f"page {number}"


def test_no_watermark_when_not_set(texts: list[str]) -> None:
    assert all(WATERMARK not in text for text in texts)


@pytest.mark.parametrize("value", [None, ""])
def test_falsy_watermark_renders_no_watermark_element(value: str | None) -> None:
    html = dossier_html(sample_dossier_data(watermark=value))
    assert 'class="watermark"' not in html


def test_default_draft_watermark_on_every_page() -> None:
    pdf = render_dossier_pdf(sample_dossier_data())
    assert all("草稿" in text for text in page_texts(pdf))


# --- fonts ------------------------------------------------------------------------------------


def _page_fonts(reader: PdfReader) -> list[DictionaryObject]:
    fonts: list[DictionaryObject] = []
    for page in reader.pages:
        resources = page.get("/Resources")
        font_dict = resources.get_object().get("/Font") if resources else None
        if font_dict:
            fonts.extend(ref.get_object() for ref in font_dict.get_object().values())
    return fonts


def test_fonts_are_embedded_subsets_of_noto_cjk(pdf_without_watermark: bytes) -> None:
    fonts = _page_fonts(PdfReader(io.BytesIO(pdf_without_watermark)))
    assert fonts
    for font in fonts:
        base_font = str(font["/BaseFont"])
        assert re.fullmatch(r"/[A-Z]{6}\+\S+", base_font), base_font
        # Noto Sans CJK for all text; DejaVu Sans Mono only for the digests of the 材料清单.
        assert re.search(r"\+(NotoSansCJK|DejaVuSansMono)", base_font.replace("-", "")), base_font
        descendants = font.get("/DescendantFonts")
        descendant = descendants[0].get_object() if descendants else font
        descriptor = descendant["/FontDescriptor"].get_object()
        keys = {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor)
        assert keys, f"{base_font} is not embedded"
        program = descriptor[keys.pop()].get_object().get_data()
        # A whole Noto Sans CJK face is ~20 MB; WeasyPrint prefixes the tag even with
        # full_fonts=True, so only the size tells a real subset apart.
        assert len(program) < 4_000_000, f"{base_font} embedded whole ({len(program)} bytes)"


def test_subsetting_path_matches_harfbuzz_availability() -> None:
    assert subsetting_path() == ("harfbuzz" if harfbuzz_subsetting_available() else "fonttools")
    assert subsetting_path() in {"harfbuzz", "fonttools"}


# --- URL fetcher ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.png",
        "https://example.com/x.css",
        "HTTPS://example.com/x.css",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "data:text/plain,hello",
        "//example.com/x.png",
        "/etc/passwd",
        "static:../pyproject.toml",
        "static:%2e%2e/pyproject.toml",
        "../pyproject.toml",
    ],
)
def test_safe_fetcher_refuses_everything_outside_static(url: str) -> None:
    with pytest.raises(RefusedURLError):
        safe_url_fetcher(url)
    with pytest.raises(ValueError):
        safe_url_fetcher.fetch(url)


def test_default_static_dir_is_the_project_static_folder() -> None:
    assert STATIC_DIR == PROJECT_ROOT / "static"
    assert safe_url_fetcher.static_dir == (PROJECT_ROOT / "static").resolve()


def test_safe_fetcher_serves_static_files_only(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "print.css").write_text("p { color: red }", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (static / "escape.txt").symlink_to(tmp_path / "secret.txt")
    fetcher = SafeURLFetcher(static_dir=static)

    for url in (
        "static:css/print.css",
        "static:/css/print.css",
        "/static/css/print.css",
        "static/css/print.css",
        "css/print.css",
        str(static / "css" / "print.css"),
    ):
        response = fetcher(url)
        try:
            assert response.read() == b"p { color: red }", url
            assert response.content_type == "text/css"
        finally:
            response.close()

    for url in ("static:escape.txt", "static:../secret.txt", "static:css/missing.css", "static:"):
        with pytest.raises(RefusedURLError):
            fetcher(url)
    with pytest.raises(RefusedURLError):
        fetcher(f"file://{static / 'css' / 'print.css'}")


class RecordingFetcher(SafeURLFetcher):
    """Safe fetcher that remembers what WeasyPrint asked for and how it ended."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, str]] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
        try:
            response = super().fetch(url, headers)
        except Exception as exc:
            self.calls.append((url, type(exc).__name__))
            raise
        self.calls.append((url, "ok"))
        return response


@pytest.fixture
def io_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every urllib open, DNS lookup and socket connection (the last two are blocked)."""
    calls: list[str] = []
    real_open = urllib.request.OpenerDirector.open

    def spy_open(self: urllib.request.OpenerDirector, url: Any, *args: Any, **kw: Any) -> Any:
        calls.append(url if isinstance(url, str) else url.full_url)
        return real_open(self, url, *args, **kw)

    def no_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"dns:{host}")
        raise socket.gaierror("DNS disabled in tests")

    def no_connect(self: socket.socket, address: Any) -> None:
        calls.append(f"socket:{address}")
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", spy_open)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    return calls


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 0, 0)).save(path)
    return path


def _image_count(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


HOSTILE_HTML = """<!DOCTYPE html><html lang="zh-CN"><head>
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="stylesheet" href="{css}">
</head><body><p>外部资源测试</p>
<img src="http://example.com/x.png"><img src="{png}">
</body></html>"""


def test_hostile_html_renders_without_any_fetch(tmp_path: Path, io_spy: list[str]) -> None:
    png = _png(tmp_path / "x.png")
    css = tmp_path / "x.css"
    css.write_text("p { color: red }", encoding="utf-8")
    fetcher = RecordingFetcher()
    html = HOSTILE_HTML.format(css=css.as_uri(), png=png.as_uri())

    pdf = html_to_pdf(html, url_fetcher=fetcher)

    assert "外部资源测试" in page_texts(pdf)[0]
    assert io_spy == []
    refused = dict(fetcher.calls)
    assert refused["file:///etc/passwd"] == "RefusedURLError"
    assert refused["http://example.com/x.png"] == "RefusedURLError"
    assert refused[png.as_uri()] == "RefusedURLError"
    assert "ok" not in refused.values()
    assert _image_count(pdf) == 0


def test_io_spy_and_image_check_do_detect_a_real_fetch(tmp_path: Path, io_spy: list[str]) -> None:
    """Control: with WeasyPrint's default fetcher the same checks do trip."""
    from weasyprint.urls import URLFetcher

    png = _png(tmp_path / "x.png")
    html = (
        f'<html><body><img src="{png.as_uri()}"><img src="http://example.com/x.png"></body></html>'
    )

    pdf = html_to_pdf(html, url_fetcher=URLFetcher())

    assert png.as_uri() in io_spy
    assert "http://example.com/x.png" in io_spy
    assert "dns:example.com" in io_spy
    assert _image_count(pdf) == 1


def test_dossier_html_has_no_external_references(sample: dict[str, Any]) -> None:
    html = dossier_html(sample)
    assert not re.search(r"""(src|href)=["'](?!#)""", html)
    assert "url(" not in html
    assert "@import" not in html
    assert "<style>" in html  # the stylesheet is inlined, not linked


# --- escaping and missing data ----------------------------------------------------------------


def test_markup_in_data_is_escaped_and_shown_as_text() -> None:
    name = "<script>alert('x')</script>盐城&项目"
    data = sample_dossier_data(title=name, watermark=None)
    data["project"]["name"] = name
    data["declaration"]["form_fields"] = [{"label": "<b>说明</b>", "value": "<img src=x>"}]

    html = dossier_html(data)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;盐城&amp;项目" in html
    assert "<img" not in html and "<b>" not in html

    texts = page_texts(render_dossier_pdf(data))
    assert name in texts[0]
    assert "<img src=x>" in "\n".join(texts)


EMPTY_LISTS = ("funding", "prerequisites", "attachments", "opinions", "history")


def test_empty_and_missing_values_render_placeholders() -> None:
    data = sample_dossier_data(watermark=None, **{key: [] for key in EMPTY_LISTS})
    data["declaration"]["form_fields"] = []
    data["project"]["code"] = None
    data["project"]["location"] = ""
    data["funding_total"] = None

    html = dossier_html(data)
    # One "无" row per empty table: five lists, the form fields and the 材料清单 (no manifest).
    assert html.count('<td class="none"') == len(EMPTY_LISTS) + 2
    assert "None" not in html

    texts = page_texts(render_dossier_pdf(data))
    full = "\n".join(texts)
    assert re.search(r"项目编号\s+—", full)
    assert re.search(r"建设地点\s+—", full)
    assert re.search(r"合计\s+—", full)
    assert full.count("无") >= len(EMPTY_LISTS) + 1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"program": None, "project": None, "declaration": None, "funding": None},
        {"declaration": {"form_fields": None}, "history": [None]},
    ],
)
def test_minimal_input_still_renders(data: dict[str, Any]) -> None:
    html = dossier_html(data)
    assert all(heading in html for heading in EXPECTED_HEADINGS)
    texts = page_texts(render_dossier_pdf(data))
    assert footer_pattern(1, len(texts)).search(texts[0])
