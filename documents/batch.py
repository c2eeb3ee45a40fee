"""Assemble a program's batch dossier (批量申报材料) from its parts with pypdf.

Order: front matter (cover, 目录, 汇总表), then each declaration's section followed by its
attachments in place (PDF pages appended, images placed on a page, anything else replaced by a
notice page), then the manifest (材料清单). Every page then gets the footer 「第 N 页 共 M 页 ·
数据指纹 …」. The 目录's page numbers are those of the merged file: every part is counted first and
the front matter rendered with the real numbers (again, if its own length moved them).

This module receives plain data and file paths, never ORM objects. Pages from elsewhere are
drawn as form XObjects (a page's content wrapped, not parsed), so stamping a thousand pages or
placing an image costs microseconds; WeasyPrint renders only what is new, since rendered parts
are kept in a cache folder by the hash of their HTML.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import weasyprint
from PIL import Image, ImageOps
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
)

from .dossier import PRINT_ENV
from .fontmerge import merge_font_subsets
from .pdf import html_to_pdf
from .pdfobjects import add_indirect

__all__ = [
    "AttachmentFile",
    "BatchPdf",
    "SectionFile",
    "assemble_batch",
    "cache_hit",
    "prune_cache",
    "render_cached",
]

log = logging.getLogger(__name__)

# A4 in points, the size of every page this module makes.
A4_WIDTH, A4_HEIGHT = 595.28, 841.89
MM = 72 / 25.4
# Where an image may go on its page: below the caption, above the footer.
IMAGE_BOX = (18 * MM, 24 * MM, A4_WIDTH - 36 * MM, A4_HEIGHT - 52 * MM)  # x, y, width, height
IMAGE_MAX_PIXELS = 2480  # the long side at 300 dpi on A4: more is only file size
IMAGE_DPI = 150  # natural size of an image that fits without scaling
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
# Numbers of the 「第 N 页」 layer are rendered in blocks of this many pages, once per cache.
STAMP_BLOCK = 100
# Text formats a reader can name on a notice page.
FORMAT_NAMES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
}


@dataclass(frozen=True)
class AttachmentFile:
    """One uploaded file of a declaration, as recorded and where it lies."""

    name: str
    kind_label: str
    content_type: str
    sha256: str  # recorded at upload; the file must still match it to be merged
    path: Path


@dataclass(frozen=True)
class SectionFile:
    """One declaration's rendered section and its attachments, in print order."""

    number: int
    title: str
    district: str
    pdf_path: Path
    attachments: tuple[AttachmentFile, ...] = ()


@dataclass
class BatchPdf:
    """What the merged file holds."""

    pages: int
    front_pages: int
    manifest: list[dict] = field(default_factory=list)
    toc: list[dict] = field(default_factory=list)


@dataclass
class _Placement:
    """How one attachment goes into the file: its pages, or the reason it does not."""

    attachment: AttachmentFile
    index: int
    kind: str  # "pdf", "image" or "notice"
    pages: int = 1
    reason: str = ""
    start: int = 0


# --- rendering with a cache --------------------------------------------------------------------


def render_cached(html: str, cache_dir: Path | None) -> bytes:
    """Render HTML to PDF, or return the PDF rendered before from the same HTML.

    The key covers WeasyPrint's version too, since a new one may lay the same HTML out anew.
    Files are written whole (temporary name, then rename), so a reader never sees half of one.
    """
    if cache_dir is None:
        return html_to_pdf(html)
    key = hashlib.sha256(f"{weasyprint.__version__}\n{html}".encode()).hexdigest()
    path = cache_dir / "parts" / f"{key}.pdf"
    cached = _read_cached(path)
    if cached is not None:
        return cached
    pdf = html_to_pdf(html)
    _write_whole(path, pdf)
    return pdf


def cache_hit(path: Path) -> bool:
    """Whether a cache entry exists; a hit marks it used now, which prune_cache goes by."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:  # a store that refuses the touch: the entry is still there to use
        return path.exists()
    return True


def _read_cached(path: Path) -> bytes | None:
    """A cache entry's content, marked used; None when there is no such entry."""
    if not cache_hit(path):
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:  # pruned between the two calls
        return None


def prune_cache(cache_dir: Path, unused_for: float, pattern: str = "*") -> tuple[int, int]:
    """Delete the files (matching ``pattern``) not used for ``unused_for`` seconds below the
    folder; returns (files, bytes) deleted.

    Always safe on the cache: an entry deleted is rendered or worked out again when next needed.
    Left-overs of writers killed mid-write (``.tmp-*``) go the same way.
    """
    if not cache_dir.is_dir():
        return 0, 0
    cutoff = time.time() - unused_for
    files = size = 0
    for path in cache_dir.rglob(pattern):
        try:
            stat = path.stat()
            if not path.is_file() or stat.st_mtime >= cutoff:
                continue
            path.unlink()
        except FileNotFoundError:  # another worker's prune or rename got there first
            continue
        files += 1
        size += stat.st_size
    return files, size


def _write_whole(path: Path, data: bytes) -> None:
    """Write under a name of this writer's own, then rename: workers sharing the cache may
    write the same entry at once, and a reader must never see half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _pages_and_hash(path: Path, cache_dir: Path | None) -> tuple[int, str]:
    """A rendered part's page count and SHA-256; the count is kept in the cache by the hash
    (counting means parsing the whole file, hashing it costs next to nothing)."""
    content = path.read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    known = cache_dir / "pages" / sha256 if cache_dir else None
    counted = _read_cached(known) if known is not None else None
    if counted is not None:
        return int(counted), sha256
    pages = _page_count(content)
    if known is not None:
        _write_whole(known, str(pages).encode())
    return pages, sha256


# --- attachments -------------------------------------------------------------------------------


def _plan_attachment(
    attachment: AttachmentFile, index: int, cache_dir: Path | None = None
) -> _Placement:
    """Decide how an attachment goes in, counting its pages; a bad file becomes a notice.

    Stored files never change, so what was found out about a file is kept in the cache by its
    SHA-256: the next batch only reads and hashes it.
    """
    place = _Placement(attachment, index, "notice")
    try:
        content = attachment.path.read_bytes()
    except OSError:
        place.reason = "附件无法合并:文件缺失"
        return place
    if hashlib.sha256(content).hexdigest() != attachment.sha256:
        place.reason = "附件无法合并:文件与上传时登记的校验值不一致"
        return place
    known = cache_dir / "attachments" / f"{attachment.sha256}.json" if cache_dir else None
    judged = _read_cached(known) if known is not None else None
    if judged is not None:
        found = json.loads(judged)
        place.kind, place.pages, place.reason = found["kind"], found["pages"], found["reason"]
        return place
    _judge(place, content)
    if known is not None:
        found = {"kind": place.kind, "pages": place.pages, "reason": place.reason}
        _write_whole(known, json.dumps(found).encode())
    return place


def _judge(place: _Placement, content: bytes) -> None:
    """Open the file to learn its pages, or why it cannot be merged."""
    attachment = place.attachment
    if attachment.content_type == "application/pdf":
        reader, reason = _open_pdf(content)
        if reader is None:
            place.reason = f"附件无法合并:{reason}"
        else:
            place.kind, place.pages = "pdf", len(reader.pages)
        return
    if attachment.content_type in IMAGE_TYPES:
        try:
            _image_page(content)
        except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            place.reason = "附件无法合并:图片文件已损坏或过大"
        else:
            place.kind = "image"
        return
    label = FORMAT_NAMES.get(attachment.content_type) or attachment.content_type
    place.reason = f"该附件为 {label} 格式,未合入,见清单"


def _open_pdf(content: bytes) -> tuple[PdfReader | None, str]:
    """A reader over the whole file, or why the file cannot be merged."""
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            return None, "文件已加密"
        if not reader.pages:
            return None, "文件没有页面"
        for page in reader.pages:  # a broken page tree shows here, not halfway through the merge
            page.mediabox  # noqa: B018
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.info("attachment PDF refused: %s", exc)
        return None, "文件已损坏,无法读取"
    except NotImplementedError:  # pypdf's answer to an encryption algorithm it cannot read
        return None, "文件的加密方式不受支持"
    return reader, ""


def _image_page(content: bytes) -> PdfReader:
    """An image as a one-page PDF of its own size (turned upright, at most A4 at 300 dpi)."""
    with warnings.catch_warnings():
        # A decompression bomb warns first; here it is refused like a broken file.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(content)) as opened:
            opened.draft("RGB", (IMAGE_MAX_PIXELS, IMAGE_MAX_PIXELS))  # JPEG: decode smaller
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or (
                image.mode == "P" and "transparency" in image.info
            ):
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
            elif image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            image.thumbnail((IMAGE_MAX_PIXELS, IMAGE_MAX_PIXELS))
            out = io.BytesIO()
            image.save(out, "PDF", resolution=IMAGE_DPI, quality=88)
    return PdfReader(io.BytesIO(out.getvalue()))


# --- page arithmetic ---------------------------------------------------------------------------


# Rows per separately rendered run of the 汇总表 (about a page) and sections per run of the
# manifest: a change re-renders its run, not the whole table.
SUMMARY_RUN = 20
MANIFEST_RUN = 10


def _runs(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


@dataclass
class _Front:
    """The rendered front matter: cover and 目录, then the 汇总表's runs."""

    parts: list[bytes]
    pages: int
    toc: list[dict]


def _render_front(
    front: Mapping[str, Any],
    section_starts: list[int],
    sections: Sequence[SectionFile],
    manifest_start: int,
    cache_dir: Path | None,
) -> _Front:
    """The front matter with the merged file's page numbers in its 目录.

    The numbers are offsets past the front matter, whose 目录 may itself take more pages with
    them, so the cover and 目录 are rendered again until their length stops moving.
    """
    summary_template = PRINT_ENV.get_template("batch_summary.html")
    runs = _runs(front["summary"], SUMMARY_RUN)
    summary = [
        render_cached(
            summary_template.render(
                front,
                rows=run,
                first=index == 0,
                totals=front["totals"] if index == len(runs) - 1 else None,
            ),
            cache_dir,
        )
        for index, run in enumerate(runs)
    ]
    summary_pages = sum(_page_count(part) for part in summary)
    cover_template = PRINT_ENV.get_template("batch_cover.html")
    cover_pages = 0
    for _ in range(5):
        offset = cover_pages + summary_pages
        toc = [
            {"number": s.number, "title": s.title, "district": s.district, "page": offset + start}
            for s, start in zip(sections, section_starts, strict=True)
        ]
        html = cover_template.render(
            front, toc=toc, summary_page=cover_pages + 1, manifest_page=offset + manifest_start
        )
        cover = render_cached(html, cache_dir)
        pages = _page_count(cover)
        if pages == cover_pages:
            return _Front([cover, *summary], cover_pages + summary_pages, toc)
        cover_pages = pages
    raise RuntimeError("front matter length does not settle")


# --- pages as form XObjects --------------------------------------------------------------------


def _as_form(writer: PdfWriter, page) -> IndirectObject:
    """Another document's page as a form XObject of the writer's (its resources copied once)."""
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if isinstance(contents, ArrayObject):
        data = b"\n".join(part.get_object().get_data() for part in contents)
    else:
        data = contents.get_data() if contents is not None else b""
    form = DecodedStreamObject()
    form.set_data(data)
    box = page.mediabox
    resources = page.get("/Resources")
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                FloatObject(v) for v in (box.left, box.bottom, box.right, box.top)
            ),
            NameObject("/Resources"): resources.get_object().clone(writer)
            if resources is not None
            else DictionaryObject(),
        }
    )
    return add_indirect(writer, form.flate_encode())


def _footer_matrix(page) -> tuple[float, ...]:
    """Where an A4 footer stamp goes on a page, as a matrix into the page's own space.

    Centred at the foot of the page as displayed: pages of other sizes, rotated pages and crop
    boxes not at the origin all get the footer where a reader expects it.
    """
    box = page.cropbox
    x0, y0, width, height = float(box.left), float(box.bottom), float(box.width), float(box.height)
    rotation = (page.rotation or 0) % 360
    shown_width = height if rotation in (90, 270) else width
    shift = (shown_width - A4_WIDTH) / 2
    # Displayed (xd, yd) → page space; the stamp's own (x, y) → displayed (x + shift, y).
    if rotation == 90:
        return (0, 1, -1, 0, x0 + width, y0 + shift)
    if rotation == 180:
        return (-1, 0, 0, -1, x0 + width - shift, y0 + height)
    if rotation == 270:
        return (0, -1, 1, 0, x0, y0 + height - shift)
    return (1, 0, 0, 1, x0 + shift, y0)


def _matrix_ops(matrix: tuple[float, ...]) -> bytes:
    return " ".join(f"{v:.4f}".rstrip("0").rstrip(".") for v in matrix).encode() + b" cm"


class _Stamper:
    """Draws form XObjects over pages without touching their content streams."""

    def __init__(self, writer: PdfWriter):
        self.writer = writer
        self.open_ref = self._stream(b"q\n")
        self._closers: dict[bytes, IndirectObject] = {}

    def _stream(self, data: bytes) -> IndirectObject:
        stream = DecodedStreamObject()
        stream.set_data(data)
        return add_indirect(self.writer, stream)

    def draw(self, page, forms: Sequence[tuple[str, IndirectObject, tuple[float, ...]]]) -> None:
        """Wrap the page's content in q … Q and draw each (name, form, matrix) after it."""
        resources = page.get("/Resources")
        resources = (
            DictionaryObject(resources.get_object())
            if resources is not None
            else DictionaryObject()
        )
        xobjects = resources.get("/XObject")
        # Copies: several pages may share one resource dictionary.
        xobjects = (
            DictionaryObject(xobjects.get_object()) if xobjects is not None else DictionaryObject()
        )
        ops = [b"\nQ"]
        for name, form, matrix in forms:
            xobjects[NameObject(name)] = form
            ops.append(b"q " + _matrix_ops(matrix) + f" {name} Do Q".encode())
        resources[NameObject("/XObject")] = xobjects
        page[NameObject("/Resources")] = resources
        closing = b"\n".join(ops) + b"\n"
        closer = self._closers.get(closing)
        if closer is None:
            closer = self._closers[closing] = self._stream(closing)
        contents = page.get("/Contents")
        parts = ArrayObject([self.open_ref])
        if isinstance(contents, IndirectObject) and isinstance(contents.get_object(), ArrayObject):
            parts.extend(contents.get_object())
        elif isinstance(contents, ArrayObject):
            parts.extend(contents)
        elif isinstance(contents, IndirectObject):
            parts.append(contents)
        elif contents is not None:
            parts.append(add_indirect(self.writer, contents))
        parts.append(closer)
        page[NameObject("/Contents")] = parts


def _stamp_numbers(writer: PdfWriter, total: int, cache_dir: Path | None) -> list[IndirectObject]:
    """Forms of 「第 1 页」 … 「第 total 页」, from cached blocks of STAMP_BLOCK pages."""
    template = PRINT_ENV.get_template("batch_stamp.html")
    forms: list[IndirectObject] = []
    for first in range(1, total + 1, STAMP_BLOCK):
        block = list(range(first, first + STAMP_BLOCK))
        reader = PdfReader(io.BytesIO(render_cached(template.render(numbers=block), cache_dir)))
        for n, page in zip(block, reader.pages, strict=True):
            if n > total:
                break
            forms.append(_as_form(writer, page))
    return forms


# --- assembly ----------------------------------------------------------------------------------


def _render_manifest(
    front: Mapping[str, Any], rows: list[dict], cache_dir: Path | None
) -> list[bytes]:
    """The manifest in runs of MANIFEST_RUN sections (the front matter's row goes first)."""
    template = PRINT_ENV.get_template("batch_manifest.html")
    runs: list[list[dict]] = [[]]
    sections_in_run = 0
    for row in rows:
        if row["kind"] == "section":
            if sections_in_run == MANIFEST_RUN:
                runs.append([])
                sections_in_run = 0
            sections_in_run += 1
        runs[-1].append(row)
    return [
        render_cached(template.render(front, rows=run, first=index == 0), cache_dir)
        for index, run in enumerate(runs)
    ]


def _span(start: int, pages: int) -> str:
    return str(start) if pages == 1 else f"{start}–{start + pages - 1}"


def assemble_batch(
    front: Mapping[str, Any],
    sections: Sequence[SectionFile],
    *,
    fingerprint: str,
    out: BinaryIO,
    cache_dir: Path | None = None,
    on_step: Callable[[str], None] | None = None,
    on_merged: Callable[[int], None] | None = None,
) -> BatchPdf:
    """Merge the parts into one PDF with correct 目录 page numbers, a manifest and footers.

    ``front`` is what the cover, the 汇总表 and the manifest print (program, summary, totals,
    generated_on); ``fingerprint`` is the data's, printed in every footer and the metadata.
    The PDF is written to ``out``. ``on_step(name)`` is called after each stage, ``on_merged(n)``
    after the n-th section is merged with its attachments.
    """
    step = on_step or (lambda _name: None)
    front = {**front, "fingerprint": fingerprint}

    # 1. Count every part's pages; the front matter comes first, so numbers are offsets past it.
    section_pages, section_hashes = zip(
        *(_pages_and_hash(s.pdf_path, cache_dir) for s in sections), strict=True
    )
    placements = [
        [_plan_attachment(a, i, cache_dir) for i, a in enumerate(s.attachments, start=1)]
        for s in sections
    ]
    section_starts, cursor = [], 1
    for pages, places in zip(section_pages, placements, strict=True):
        section_starts.append(cursor)
        cursor += pages
        for place in places:
            place.start = cursor
            cursor += place.pages
    manifest_start = cursor
    step("counted")

    # 2. Pages added in place of attachments: captions for images, notices for the rest.
    extras = [
        {
            "number": s.number,
            "index": p.index,
            "kind_label": p.attachment.kind_label,
            "name": p.attachment.name,
            "sha256": p.attachment.sha256,
            "reason": p.reason,
        }
        for s, places in zip(sections, placements, strict=True)
        for p in places
        if p.kind != "pdf"
    ]
    extras_reader = None
    if extras:
        html = PRINT_ENV.get_template("batch_extras.html").render(front, pages=extras)
        extras_reader = PdfReader(io.BytesIO(render_cached(html, cache_dir)))
        if len(extras_reader.pages) != len(extras):
            raise RuntimeError("an attachment page did not fit on one page")

    # 3. The front matter, with the numbers of the merged file.
    rendered = _render_front(front, section_starts, sections, manifest_start, cache_dir)
    front_pages = rendered.pages
    step("front")

    # 4. Merge, section by section; nothing but the writer holds the pages.
    writer = PdfWriter()
    front_hash = hashlib.sha256()
    for part in rendered.parts:
        writer.append(io.BytesIO(part), import_outline=False)
        front_hash.update(part)
    writer.add_outline_item(title="封面、目录及汇总表", page_number=0)
    stamper = _Stamper(writer)
    rows = [
        {
            "kind": "front",
            "label": "前置部分",
            "name": "封面、目录及汇总表",
            "pages": _span(1, front_pages),
            # Over its parts in order: the front matter is merged from several renderings.
            "sha256": front_hash.hexdigest(),
        }
    ]
    extra_pages = iter(extras_reader.pages if extras_reader else ())
    merged = _Merged(writer, stamper)
    ours = list(range(front_pages))  # pages rendered here, whose fonts may be merged
    merged_sections = on_merged or (lambda _count: None)
    for count, (section, start, pages, sha256, places) in enumerate(
        zip(sections, section_starts, section_pages, section_hashes, placements, strict=True),
        start=1,
    ):
        at = len(writer.pages)
        if at != front_pages + start - 1:
            raise RuntimeError(f"page arithmetic went wrong before section {section.number}")
        merged.append_file(section.pdf_path, pages)
        ours.extend(range(at, at + pages))
        parent = writer.add_outline_item(
            title=f"第{section.number}项 {section.title}", page_number=at
        )
        rows.append(
            {
                "kind": "section",
                "label": f"第{section.number}项",
                "name": f"{section.title}({section.district})申报材料",
                "pages": _span(front_pages + start, pages),
                "sha256": sha256,
            }
        )
        for place in places:
            at = len(writer.pages)
            attachment = place.attachment
            if place.kind == "pdf":
                merged.append_attachment(attachment, place.pages)
            else:
                ours.append(at)
                writer.add_page(next(extra_pages))
                if place.kind == "image":
                    merged.place_image(attachment)
            writer.add_outline_item(
                title=f"附件{place.index} {attachment.name}", page_number=at, parent=parent
            )
            rows.append(
                {
                    "kind": "attachment",
                    "label": f"附件{place.index}",
                    "name": f"{attachment.kind_label}:{attachment.name}",
                    "pages": _span(front_pages + place.start, place.pages)
                    if place.kind != "notice"
                    else "未合入",
                    "sha256": attachment.sha256,
                }
            )
        merged_sections(count)
    step("merged")

    # 5. The manifest closes the file; its length only changes the total.
    at = len(writer.pages)
    for part in _render_manifest(front, rows, cache_dir):
        writer.append(io.BytesIO(part), import_outline=False)
    writer.add_outline_item(title="材料清单", page_number=at)
    total = len(writer.pages)
    ours.extend(range(at, total))
    step("manifest")

    # 6. Footers: 「第 N 页」 forms from the cache, one 「共 M 页 · 数据指纹」 form for all pages.
    numbers = _stamp_numbers(writer, total, cache_dir)
    tail_html = PRINT_ENV.get_template("batch_stamp.html").render(
        numbers=None, total=total, fingerprint=fingerprint
    )
    tail = _as_form(writer, PdfReader(io.BytesIO(render_cached(tail_html, cache_dir))).pages[0])
    for page, number in zip(writer.pages, numbers, strict=True):
        matrix = _footer_matrix(page)
        stamper.draw(page, [("/BatchPageNo", number, matrix), ("/BatchPageTail", tail, matrix)])
    step("stamped")

    # 7. One copy of each font for every part rendered here (not one per section), and the
    # copies it replaces dropped.
    if merge_font_subsets(writer, [writer.pages[i] for i in ours], [*numbers, tail]):
        writer.compress_identical_objects(remove_duplicates=False, remove_unreferenced=True)

    writer.add_metadata(
        {
            "/Title": f"{front['program'].get('title', '')} 申报材料汇编",
            "/Subject": "批量申报材料",
            "/Keywords": f"数据指纹 {fingerprint}",
            "/BatchFingerprint": fingerprint,
            "/Producer": "policy-declaration documents",
        }
    )
    writer.write(out)  # straight to the file: no second copy of a large batch in memory
    return BatchPdf(
        pages=total,
        front_pages=front_pages,
        manifest=rows,
        toc=rendered.toc,
    )


class _Merged:
    """Appends parts to the writer; a file met again in the same batch is not read again.

    The same 承诺函 template or policy document attached to many declarations is appended
    once: later copies are new pages drawing the same content and resources, which costs
    neither parsing nor file size.
    """

    def __init__(self, writer: PdfWriter, stamper: _Stamper):
        self.writer = writer
        self.stamper = stamper
        self._pages: dict[str, list[int]] = {}  # attachment SHA-256 → its pages in the writer
        self._images: dict[str, tuple[IndirectObject, float, float]] = {}

    def append_file(self, path: Path, pages: int) -> None:
        """Append a whole PDF whose page count is known."""
        at = len(self.writer.pages)
        self.writer.append(io.BytesIO(path.read_bytes()), import_outline=False)
        self._check(at, pages, path.name)

    def append_attachment(self, attachment: AttachmentFile, pages: int) -> None:
        """Append an attachment's pages (a repeated file reuses the first copy's content)."""
        at = len(self.writer.pages)
        first = self._pages.get(attachment.sha256)
        if first is None:
            reader, _ = _open_pdf(attachment.path.read_bytes())
            self.writer.append(reader, import_outline=False)
            self._pages[attachment.sha256] = list(range(at, len(self.writer.pages)))
        else:
            for index in first:
                source = self.writer.pages[index]
                copy = PageObject(self.writer)
                copy.update({k: v for k, v in source.items() if k != "/Parent"})
                self.writer.add_page(copy)
        self._check(at, pages, attachment.name)

    def _check(self, at: int, pages: int, name: str) -> None:
        if len(self.writer.pages) - at != pages:
            raise RuntimeError(
                f"{name}: expected {pages} pages, merged {len(self.writer.pages) - at}"
            )

    def place_image(self, attachment: AttachmentFile) -> None:
        """Draw an image on the caption page just added, scaled down to fit below the caption."""
        known = self._images.get(attachment.sha256)
        if known is None:
            image_page = _image_page(attachment.path.read_bytes()).pages[0]
            known = (
                _as_form(self.writer, image_page),
                float(image_page.mediabox.width),
                float(image_page.mediabox.height),
            )
            self._images[attachment.sha256] = known
        form, width, height = known
        x, y, box_width, box_height = IMAGE_BOX
        scale = min(1.0, box_width / width, box_height / height)
        left = x + (box_width - width * scale) / 2
        top = y + box_height  # pinned under the caption
        matrix = (scale, 0, 0, scale, left, top - height * scale)
        self.stamper.draw(self.writer.pages[-1], [("/BatchImage", form, matrix)])
