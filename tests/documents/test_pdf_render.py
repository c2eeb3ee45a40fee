"""What a warm worker keeps between renders, and what it must not keep."""

import gc
import hashlib

import pytest
from weasyprint import Document

from documents import pdf
from documents.dossier import render_dossier_pdf
from documents.pdf import RENDER_GC_THRESHOLD, font_configuration, html_to_pdf
from documents.sample import sample_dossier_data

HTML = '<html lang="zh-CN"><body style="font-family: Noto Sans CJK SC">申报材料</body></html>'


def test_renders_share_one_font_configuration():
    html_to_pdf(HTML)
    config = font_configuration()
    html_to_pdf(HTML)
    assert font_configuration() is config


def test_a_warm_process_renders_the_same_data_to_the_same_bytes():
    data = sample_dossier_data()
    first = hashlib.sha256(render_dossier_pdf(data)).hexdigest()
    html_to_pdf(HTML.replace("申报材料", "另一份文件,用到别的字"))
    assert hashlib.sha256(render_dossier_pdf(data)).hexdigest() == first


def test_the_collector_runs_less_often_during_a_render_and_as_before_after_it(monkeypatch):
    before = gc.get_threshold()
    seen = []
    write_pdf = Document.write_pdf

    def spy(self, *args, **kwargs):
        seen.append(gc.get_threshold())
        return write_pdf(self, *args, **kwargs)

    monkeypatch.setattr(Document, "write_pdf", spy)
    html_to_pdf(HTML)
    assert seen and seen[0][0] >= RENDER_GC_THRESHOLD
    assert gc.get_threshold() == before


def test_a_failed_render_restores_the_collector_and_releases_the_lock(monkeypatch):
    before = gc.get_threshold()

    def broken(self, *args, **kwargs):
        raise RuntimeError("layout failed")

    monkeypatch.setattr(Document, "write_pdf", broken)
    with pytest.raises(RuntimeError):
        html_to_pdf(HTML)
    assert gc.get_threshold() == before
    assert not pdf._render_lock.locked()
