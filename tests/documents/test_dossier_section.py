"""A batch's section of one declaration: the dossier's body under 「第N项 …」, margins blank."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from jinja2 import FileSystemLoader
from pypdf import PdfReader

from documents.dossier import (
    SECTION_SOURCES,
    SECTION_TEMPLATE_HASH,
    SECTIONS,
    TEMPLATE_DIR,
    _context,
    _make_environment,
    dossier_html,
    render_dossier_pdf,
    render_section_pdf,
    section_html,
    template_hash,
)
from documents.sample import sample_dossier_data

MM = 72 / 25.4
A4_HEIGHT = 297 * MM
NUMBER = 7


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    sample = sample_dossier_data(watermark=None)
    sample["fingerprint"] = hashlib.sha256(b"section test").hexdigest()
    sample["manifest"] = [{"part": "申报材料正文", "name": sample["title"], "sha256": "ab" * 32}]
    return sample


@pytest.fixture(scope="module")
def section_pdf(data: dict[str, Any]) -> bytes:
    return render_section_pdf(data, number=NUMBER)


@pytest.fixture(scope="module")
def dossier_pdf(data: dict[str, Any]) -> bytes:
    return render_dossier_pdf(data)


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_heights(pdf: bytes) -> list[list[float]]:
    """Per page, the height above the bottom edge (pt) of every piece of text drawn."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        heights: list[float] = []

        def visit(text, cm, tm, font, size, heights=heights):
            if text.strip():
                heights.append(cm[1] * tm[4] + cm[3] * tm[5] + cm[5])

        page.extract_text(visitor_text=visit)
        pages.append(heights)
    return pages


def test_the_section_opens_with_its_number_and_title(data, section_pdf):
    first = squeeze(page_texts(section_pdf)[0])
    assert first.startswith(f"第{NUMBER}项{squeeze(data['title'])}一、项目基本信息")


def test_the_section_prints_the_body_and_nothing_of_the_dossier_around_it(data, section_pdf):
    text = squeeze("".join(page_texts(section_pdf)))

    headings = [heading for _, heading in SECTIONS]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    for value in (
        data["project"]["applicant_uscc"],
        data["funding"][1]["label"],
        data["declaration"]["form_fields"][2]["label"],
        data["attachments"][0]["sha256"][:12],
        data["opinions"][0]["comment"],
        data["history"][-1]["actor"],
    ):
        assert squeeze(value) in text
    for absent in ("政策资金项目申报材料", "材料清单", "数据指纹", data["generated_at"]):
        assert absent not in text
    assert not re.search(r"第\d+页", text)  # no footer
    assert not re.search(r"一、项目基本信息\d", text)  # no 目录 entry with its page number


def test_the_section_and_the_dossier_share_one_body(data):
    dossier = re.search(r"<main>(.*)</main>", dossier_html(data), re.S)
    section = re.search(
        r'<main class="section">\s*<h1 class="section-title">[^<]*</h1>(.*)</main>',
        section_html(data, number=NUMBER),
        re.S,
    )
    assert dossier and section
    assert section[1].strip() == dossier[1].strip()
    assert 'id="sec-history"' in section[1]


def test_the_section_leaves_the_page_margins_for_the_batch_to_stamp(section_pdf, dossier_pdf):
    section_pages = text_heights(section_pdf)
    assert len(section_pages) >= 2
    for number, heights in enumerate(section_pages, start=1):
        assert min(heights) >= 14 * MM, f"page {number}: text in the bottom 14 mm"
        assert max(heights) <= A4_HEIGHT - 20 * MM, f"page {number}: text in the top margin"
    # Control: the dossier's footer and running header are seen where the section has none.
    assert all(min(h) < 14 * MM for h in text_heights(dossier_pdf))
    assert all(max(h) > A4_HEIGHT - 20 * MM for h in text_heights(dossier_pdf))


class RecordingLoader(FileSystemLoader):
    """A loader that remembers every template it was asked for."""

    def __init__(self, searchpath: Path) -> None:
        super().__init__(searchpath)
        self.loaded: list[str] = []

    def get_source(self, environment, template):
        self.loaded.append(template)
        return super().get_source(environment, template)


def test_the_template_hash_covers_every_file_a_section_is_drawn_from(data):
    loader = RecordingLoader(TEMPLATE_DIR)
    environment = _make_environment(loader)
    environment.get_template("_dossier_section.html").render({**_context(data), "number": 1})

    assert set(loader.loaded) == set(SECTION_SOURCES)
    assert template_hash(SECTION_SOURCES) == SECTION_TEMPLATE_HASH
    assert re.fullmatch(r"[0-9a-f]{64}", SECTION_TEMPLATE_HASH)


def test_the_template_hash_changes_when_any_of_its_files_does(tmp_path):
    for name in (*SECTION_SOURCES, "dossier.html"):
        shutil.copy(TEMPLATE_DIR / name, tmp_path / name)
    original = template_hash(SECTION_SOURCES, tmp_path)
    assert original == SECTION_TEMPLATE_HASH

    (tmp_path / "dossier.html").write_text("<p>只有整份申报材料用到</p>", encoding="utf-8")
    assert template_hash(SECTION_SOURCES, tmp_path) == original
    for name in SECTION_SOURCES:
        path = tmp_path / name
        source = path.read_bytes()
        path.write_bytes(source + b"\n")
        assert template_hash(SECTION_SOURCES, tmp_path) != original, name
        path.write_bytes(source)
