"""The reason given to the overlap guard is printed in the dossier (重复/交叉申报说明)."""

import io
import re

from pypdf import PdfReader

from documents import dossier_html, render_dossier_pdf
from tests import factories
from workflow.dossier_data import dossier_data

PROJECT_REASON = "一期已验收,本项目为二期扩容"
DECLARATION_REASON = "国债资金仅用于硬件,预算内资金用于软件"


def pdf_text(pdf: bytes) -> str:
    """The PDF's text with line breaks and spaces taken out (long cells wrap)."""
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", "", text)


def test_the_reasons_are_printed_in_their_own_block(world):
    project = factories.project(world.yandu, overlap_reason=PROJECT_REASON)
    factories.declaration(project, world.program, by=world.staff)
    bond = factories.program(channel="special_treasury_bond")
    decl = factories.declaration(project, bond, by=world.staff, overlap_reason=DECLARATION_REASON)

    text = pdf_text(render_dossier_pdf(dossier_data(decl)))
    assert "重复/交叉申报说明" in text
    assert "项目入库时" + PROJECT_REASON in text
    assert "本次申报时" + DECLARATION_REASON in text


def test_without_a_reason_there_is_no_block(world):
    decl = factories.declaration(factories.project(world.yandu), world.program, by=world.staff)
    data = dossier_data(decl)
    assert data["overlap_reasons"] == []
    assert "重复/交叉申报说明" not in dossier_html(data)
