"""Build the 申报材料 HTML from plain dicts with Jinja2 and render it to PDF."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Undefined

from .pdf import html_to_pdf

__all__ = ["PRINT_ENV", "SECTIONS", "TEMPLATE_DIR", "dossier_html", "render_dossier_pdf"]

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


def _make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code; skip per-render mtime checks.
        auto_reload=False,
    )
    env.filters["v"] = _value
    env.filters["short_hash"] = _short_hash
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
    return context


def dossier_html(data: Mapping[str, Any]) -> str:
    """Return the dossier as a self-contained HTML string (CSS inlined, no external URLs)."""
    return PRINT_ENV.get_template("dossier.html").render(_context(data))


def render_dossier_pdf(data: Mapping[str, Any]) -> bytes:
    """Render the dossier for ``data`` to PDF bytes."""
    return html_to_pdf(dossier_html(data))
