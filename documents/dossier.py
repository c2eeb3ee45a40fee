"""Build the 申报材料 HTML from plain dicts with Jinja2 and render it to PDF.

Two documents share one body (templates/print/_dossier_body.html): the single dossier (cover,
目录, body, 材料清单; page numbers and the data fingerprint in the footer) and a batch's section
(「第N项 …」 and the body only, the page margins left for the batch to stamp).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment, FileSystemLoader, Undefined

from .pdf import html_to_pdf

__all__ = [
    "MANIFEST_HEADING",
    "PRINT_ENV",
    "SECTIONS",
    "SECTION_SOURCES",
    "SECTION_TEMPLATE_HASH",
    "TEMPLATE_DIR",
    "dossier_html",
    "render_dossier_pdf",
    "render_section_pdf",
    "section_html",
]

TEMPLATE_DIR: Path = Path(__file__).resolve().parent.parent / "templates" / "print"
MISSING = "—"

# (anchor, heading) in document order; the template and the 目录 both read this.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("sec-project", "一、项目基本信息"),
    ("sec-funding", "二、资金构成"),
    ("sec-declaration", "三、申报信息"),
    ("sec-prerequisites", "四、前期要件"),
    ("sec-attachments", "五、附件清单"),
    ("sec-opinions", "六、审核意见"),
    ("sec-history", "七、流转记录"),
)

MANIFEST_ANCHOR, MANIFEST_HEADING = "manifest", "材料清单"
# How much of the data fingerprint the footer and the cover print.
SHORT_FINGERPRINT = 12
_HEX = re.compile(r"[0-9a-f]+")

# Every template and stylesheet a section is drawn from; SECTION_TEMPLATE_HASH covers them, and
# a test checks that rendering a section reads no other file.
SECTION_SOURCES: tuple[str, ...] = ("_dossier_section.html", "_dossier_body.html", "dossier.css")

_MAPPINGS = ("program", "project", "declaration")
_LISTS = ("funding", "prerequisites", "attachments", "opinions", "history")


def _value(value: Any) -> str:
    """Stringify a cell value, printing a dash for anything missing or blank."""
    if value is None or isinstance(value, Undefined):
        return MISSING
    text = str(value)
    return text if text.strip() else MISSING


def _short_hash(value: Any, length: int = 12) -> str:
    """Shorten a hex digest for display; the full value lives in the system, not on paper."""
    text = _value(value)
    return text if text == MISSING or len(text) <= length else text[:length] + "…"


def _short_fingerprint(value: Any) -> str:
    """The first hex digits of a fingerprint, as the footer prints them; a dash if there is none."""
    text = _value(value)
    return text[:SHORT_FINGERPRINT] if _HEX.fullmatch(text) else MISSING


def _make_environment(loader: BaseLoader | None = None) -> Environment:
    env = Environment(
        loader=loader or FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code; skip per-render mtime checks.
        auto_reload=False,
    )
    env.filters["v"] = _value
    env.filters["short_hash"] = _short_hash
    env.filters["short_fingerprint"] = _short_fingerprint
    return env


PRINT_ENV = _make_environment()


def _context(data: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise the input so the template never sees None where it iterates or looks up."""
    context: dict[str, Any] = dict(data)
    for key in _MAPPINGS:
        context[key] = dict(data.get(key) or {})
    for key in _LISTS:
        context[key] = [dict(row or {}) for row in data.get(key) or ()]
    declaration = context["declaration"]
    declaration["form_fields"] = [dict(f or {}) for f in declaration.get("form_fields") or ()]
    # The title doubles as the running header; fall back to the project's own name.
    context["title"] = data.get("title") or context["project"].get("name")
    context["watermark"] = data.get("watermark") or None
    context["sections"] = SECTIONS
    context["manifest"] = [dict(row or {}) for row in data.get("manifest") or ()]
    context["manifest_anchor"], context["manifest_heading"] = MANIFEST_ANCHOR, MANIFEST_HEADING
    context["toc"] = (*SECTIONS, (MANIFEST_ANCHOR, MANIFEST_HEADING))
    return context


def template_hash(names: tuple[str, ...], directory: Path = TEMPLATE_DIR) -> str:
    """SHA-256 over the named template files, each with its name, in the given order."""
    digest = hashlib.sha256()
    for name in names:
        source = (directory / name).read_bytes()
        digest.update(f"{name}\0{len(source)}\0".encode())
        digest.update(source)
    return digest.hexdigest()


# Computed once at import: templates ship with the code and are not reloaded (auto_reload=False).
SECTION_TEMPLATE_HASH: str = template_hash(SECTION_SOURCES)


def dossier_html(data: Mapping[str, Any]) -> str:
    """Return the dossier as a self-contained HTML string (CSS inlined, no external URLs)."""
    return PRINT_ENV.get_template("dossier.html").render(_context(data))


def render_dossier_pdf(data: Mapping[str, Any]) -> bytes:
    """Render the dossier for ``data`` to PDF bytes."""
    return html_to_pdf(dossier_html(data))


def section_html(data: Mapping[str, Any], *, number: int) -> str:
    """Return one declaration's batch section, headed 「第{number}项 {title}」, as HTML."""
    context = _context(data)
    context["number"] = int(number)
    return PRINT_ENV.get_template("_dossier_section.html").render(context)


def render_section_pdf(data: Mapping[str, Any], *, number: int) -> bytes:
    """Render one declaration's batch section to PDF bytes (no cover, 目录, 材料清单 or footer)."""
    return html_to_pdf(section_html(data, number=number))
