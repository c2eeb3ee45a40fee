"""Printable documents (申报材料 PDF dossier) built from plain data with WeasyPrint."""

from .dossier import dossier_html, render_dossier_pdf
from .pdf import (
    RefusedURLError,
    SafeURLFetcher,
    harfbuzz_subsetting_available,
    safe_url_fetcher,
    subsetting_path,
)

__all__ = [
    "RefusedURLError",
    "SafeURLFetcher",
    "dossier_html",
    "harfbuzz_subsetting_available",
    "render_dossier_pdf",
    "safe_url_fetcher",
    "subsetting_path",
]
