"""WeasyPrint rendering with a URL fetcher that never leaves the app's own static folder."""

from __future__ import annotations

import gc
import mimetypes
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote

with warnings.catch_warnings():
    # WeasyPrint warns at import time when libharfbuzz-subset is missing; that case is
    # reported by subsetting_path() instead of crashing imports under ``-W error``.
    warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
    from weasyprint import HTML
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher, URLFetcherResponse

__all__ = [
    "STATIC_BASE_URL",
    "STATIC_DIR",
    "RefusedURLError",
    "SafeURLFetcher",
    "font_configuration",
    "harfbuzz_subsetting_available",
    "html_to_pdf",
    "safe_url_fetcher",
    "subsetting_path",
]

STATIC_DIR: Path = Path(__file__).resolve().parent.parent / "static"
# A non-hierarchical base URL: urljoin() leaves relative references untouched, so they reach
# the fetcher as plain paths instead of being turned into file: URLs.
STATIC_BASE_URL = "static:/"


class RefusedURLError(ValueError):
    """Raised when a document asks for a resource outside the app's static folder."""


class SafeURLFetcher(URLFetcher):
    """WeasyPrint 70 URL fetcher serving only files under the static folder."""

    def __init__(self, static_dir: Path | str | None = None, **kwargs: Any) -> None:
        """Create a fetcher rooted at ``static_dir`` (defaults to the project's static/)."""
        # An empty allow-list makes the inherited urllib machinery refuse everything, in case
        # anything ever reaches it despite the override of fetch() below.
        kwargs.setdefault("allowed_protocols", ())
        kwargs.setdefault("fail_on_errors", False)
        super().__init__(**kwargs)
        self.static_dir = Path(static_dir if static_dir is not None else STATIC_DIR).resolve()

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return a static file's content, or raise RefusedURLError for anything else."""
        path = self.resolve(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), headers={"Content-Type": content_type})

    def resolve(self, url: str) -> Path:
        """Map a ``static:`` URL or a static path to a file inside the static folder."""
        scheme, sep, rest = url.partition(":")
        # Per RFC 3986 a ":" before any "/" ends a scheme; "img/a:b.png" stays a plain path.
        has_scheme = bool(sep) and "/" not in scheme and scheme != ""
        if has_scheme and scheme.lower() != "static":
            raise RefusedURLError(f"refusing to fetch {scheme.lower()}: URL {url!r}")
        raw = unquote((rest if has_scheme else url).split("?", 1)[0].split("#", 1)[0])
        candidate = self._candidate(raw)
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.static_dir):
            raise RefusedURLError(f"refusing {url!r}: path escapes the static folder")
        if not resolved.is_file():
            raise RefusedURLError(f"refusing {url!r}: no such static file")
        return resolved

    def _candidate(self, raw: str) -> Path:
        path = Path(raw)
        if path.is_absolute() and path.resolve().is_relative_to(self.static_dir):
            return path
        parts = PurePosixPath(raw.lstrip("/")).parts
        # Flask-style "/static/css/x.css" and "static/css/x.css" name the same file.
        if parts and parts[0] == "static":
            parts = parts[1:]
        if not parts:
            raise RefusedURLError(f"refusing {raw!r}: not a static file path")
        return self.static_dir.joinpath(*parts)


safe_url_fetcher: SafeURLFetcher = SafeURLFetcher()


def harfbuzz_subsetting_available() -> bool:
    """Tell whether WeasyPrint will subset embedded fonts with HarfBuzz."""
    # Same condition as weasyprint.pdf.fonts.Font.subset(); it is inline there, not a function.
    return bool(harfbuzz_subset) and bool(harfbuzz.hb_version_atleast(4, 1, 0))


def subsetting_path() -> Literal["harfbuzz", "fonttools"]:
    """Return which library WeasyPrint uses to subset fonts: "harfbuzz" or "fonttools"."""
    return "harfbuzz" if harfbuzz_subsetting_available() else "fonttools"


# A warm worker renders with what earlier renders set up: one font configuration (Pango's font
# map with its loaded faces and caches) for the life of the process, instead of a new one per
# document. WeasyPrint's objects are not thread-safe, so renders in one process take turns.
_font_config: FontConfiguration | None = None
_render_lock = threading.Lock()
# WeasyPrint allocates boxes by the hundred thousand, and the collector's default first
# threshold (700) ran 150 collections during one 15-page dossier; at 20,000 it runs 8, and the
# render takes 8 % less CPU. The threshold is put back when the render ends.
RENDER_GC_THRESHOLD = 20_000


def font_configuration() -> FontConfiguration:
    """The process's WeasyPrint font configuration, made on first use and then reused."""
    global _font_config
    if _font_config is None:
        _font_config = FontConfiguration()
    return _font_config


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold for the duration of one render."""
    first, *rest = gc.get_threshold()
    gc.set_threshold(max(first, RENDER_GC_THRESHOLD), *rest)
    try:
        yield
    finally:
        gc.set_threshold(first, *rest)


def html_to_pdf(html: str, url_fetcher: URLFetcher | None = None) -> bytes:
    """Render an HTML string to PDF bytes with embedded, subset fonts and no outside fetches."""
    document = HTML(
        string=html,
        base_url=STATIC_BASE_URL,
        url_fetcher=url_fetcher if url_fetcher is not None else safe_url_fetcher,
        media_type="print",
    )
    with _render_lock, _fewer_collections():
        # full_fonts=False keeps font subsetting on; spelled out because file size depends on it.
        pdf = document.write_pdf(full_fonts=False, hinting=False, font_config=font_configuration())
    assert pdf is not None  # write_pdf() only returns None when given a target
    return pdf
