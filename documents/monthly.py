"""Build the 月度调度报告 HTML from plain data (workflow/monthly.py) and render it to PDF."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from .dossier import PRINT_ENV
from .pdf import html_to_pdf

__all__ = ["monthly_html", "render_monthly_pdf"]


def monthly_html(data: Mapping[str, Any]) -> str:
    """Return the monthly report as a self-contained HTML string (charts inline as SVG)."""
    context = dict(data)
    # The charts are SVG the app drew itself (workflow/charts.py), never user text.
    context["charts"] = {name: Markup(svg) for name, svg in (data.get("charts") or {}).items()}
    return PRINT_ENV.get_template("monthly.html").render(context)


def render_monthly_pdf(data: Mapping[str, Any]) -> bytes:
    """Render the monthly report for ``data`` to PDF bytes."""
    return html_to_pdf(monthly_html(data))
