"""The 材料清单 and the data fingerprint of a dossier made from the database."""

import io
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from documents import render_dossier_pdf
from tests import factories
from workflow import dossier_data as dossier_data_module
from workflow.dossier_data import dossier_data
from workflow.extensions import db


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def squeeze(text: str) -> str:
    """Text without whitespace: long cells and digests wrap."""
    return re.sub(r"\s+", "", text)


def footer(page: int, total: int, short: str) -> re.Pattern[str]:
    return re.compile(rf"第\s*{page}\s*页\s*共\s*{total}\s*页\s*数据指纹\s*{short}")


@pytest.fixture
def decl(world):
    project = factories.project(world.yandu, name="盐都区公共数据授权运营平台")
    return factories.declaration(project, world.program, by=world.staff)


def test_the_last_page_lists_every_part_and_attachment_with_its_sha256(decl):
    data = dossier_data(decl)
    assert len(data["manifest"]) == 1 + len(decl.attachments) >= 2

    texts = page_texts(render_dossier_pdf(data))

    last = squeeze(texts[-1])
    assert last.startswith("材料清单")
    for number, row in enumerate(data["manifest"], start=1):
        assert f"{number}{squeeze(row['part'])}{squeeze(row['name'])}{row['sha256']}" in last
    # Every digest is printed whole, once per row, and the data fingerprint once more below.
    expected = Counter(row["sha256"] for row in data["manifest"])
    expected[data["fingerprint"]] += 1
    for digest, times in expected.items():
        assert last.count(digest) == times
    assert f"数据指纹（SHA-256）{data['fingerprint']}" in last


def test_every_page_footer_carries_the_short_fingerprint(decl):
    data = dossier_data(decl)
    texts = page_texts(render_dossier_pdf(data))

    short = data["fingerprint"][:12]
    for number, text in enumerate(texts, start=1):
        assert footer(number, len(texts), short).search(text), f"page {number}"
    # The footer and the cover print the short form; the whole one only in the 材料清单.
    assert data["fingerprint"] not in squeeze("".join(texts[:-1]))
    assert f"数据指纹{short}" in squeeze(texts[0])


def test_the_same_data_gives_the_same_fingerprint_whenever_it_is_rendered(decl, monkeypatch):
    first = dossier_data(decl)
    monkeypatch.setattr(dossier_data_module, "utcnow", lambda: datetime(2031, 1, 2, 3, tzinfo=UTC))
    later = dossier_data(decl)

    assert later["generated_at"] != first["generated_at"]
    assert later["fingerprint"] == first["fingerprint"]
    first_pages, later_pages = (page_texts(render_dossier_pdf(d)) for d in (first, later))
    assert first["generated_at"] in first_pages[0] and later["generated_at"] in later_pages[0]
    short = first["fingerprint"][:12]
    assert all(footer(n, len(later_pages), short).search(t) for n, t in enumerate(later_pages, 1))


def test_changed_data_changes_the_fingerprint_on_every_page(decl):
    before = dossier_data(decl)["fingerprint"]
    decl.project.location = "盐都区数据产业园 2 号楼"
    db.session.commit()

    after = dossier_data(decl)
    texts = page_texts(render_dossier_pdf(after))

    assert after["fingerprint"] != before
    assert all(after["fingerprint"][:12] in text for text in texts)
    assert not any(before[:12] in text for text in texts)
