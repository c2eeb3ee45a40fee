"""One embedded copy of each font for a merged document's own pages, instead of one per part.

Every part of a batch dossier is rendered on its own (and cached), so each embeds its own subset
of Noto Sans CJK: a hundred sections carried a hundred subsets, most of the batch's size. WeasyPrint
subsets with HarfBuzz keeping the original glyph numbering (CIDToGIDMap /Identity), so every part
draws a glyph with the same number; one subset of the installed font holding the union of the
glyphs every part uses can stand in for all of them. Each part keeps its own font dictionary
(its widths); only the font program is shared.

A font is merged only when the installed face is the very one the parts were made from (same
PostScript name, revision and modification time); otherwise the parts keep their own subsets.
Attachments' fonts are never touched: only the pages and forms the caller names are walked.
"""

from __future__ import annotations

import ctypes.util
import io
import logging
import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

from cffi import FFI
from fontTools.ttLib import TTFont, TTLibError
from pypdf import PdfWriter
from pypdf.filters import decode_stream_data
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
)

from .pdfobjects import add_indirect

__all__ = ["merge_font_subsets"]

log = logging.getLogger(__name__)

_FONT_FILES = ("/FontFile2", "/FontFile3")
# Tables WeasyPrint drops when it subsets (weasyprint.pdf.fonts.Font._harfbuzz_subset).
_DROP_TABLES = (b"BASE", b"DSIG", b"EBDT", b"EBLC", b"EBSC", b"GPOS", b"GSUB", b"JSTF", b"LTSH",
                b"PCLT", b"SVG ")  # fmt: skip

_ffi = FFI()
_ffi.cdef(
    """
    typedef struct hb_blob_t hb_blob_t;
    typedef struct hb_face_t hb_face_t;
    typedef struct hb_set_t hb_set_t;
    typedef struct hb_subset_input_t hb_subset_input_t;
    typedef uint32_t hb_codepoint_t;
    typedef uint32_t hb_tag_t;
    hb_blob_t *hb_blob_create_from_file_or_fail (const char *file_name);
    void hb_blob_destroy (hb_blob_t *blob);
    const char *hb_blob_get_data (hb_blob_t *blob, unsigned int *length);
    hb_face_t *hb_face_create (hb_blob_t *blob, unsigned int index);
    void hb_face_destroy (hb_face_t *face);
    hb_blob_t *hb_face_reference_blob (hb_face_t *face);
    hb_tag_t hb_tag_from_string (const char *str, int len);
    void hb_set_add_sorted_array (hb_set_t *set, const hb_codepoint_t *array, unsigned int n);
    hb_subset_input_t *hb_subset_input_create_or_fail (void);
    void hb_subset_input_destroy (hb_subset_input_t *input);
    hb_set_t *hb_subset_input_glyph_set (hb_subset_input_t *input);
    hb_set_t *hb_subset_input_set (hb_subset_input_t *input, int set_type);
    void hb_subset_input_set_flags (hb_subset_input_t *input, unsigned int value);
    hb_face_t *hb_subset_or_fail (hb_face_t *source, const hb_subset_input_t *input);
    """
)
# hb-subset.h's values (stable ABI since HarfBuzz 2.9).
NO_HINTING, RETAIN_GIDS, DESUBROUTINIZE = 0x1, 0x2, 0x4
PASSTHROUGH_UNRECOGNIZED, NOTDEF_OUTLINE = 0x20, 0x40
SETS_DROP_TABLE_TAG = 3


@cache
def _harfbuzz():
    """libharfbuzz and libharfbuzz-subset, or None where either is missing."""
    try:
        hb = _ffi.dlopen(ctypes.util.find_library("harfbuzz") or "libharfbuzz.so.0")
        hb_subset = _ffi.dlopen(
            ctypes.util.find_library("harfbuzz-subset") or "libharfbuzz-subset.so.0"
        )
    except OSError:
        log.info("font merging off: libharfbuzz-subset not found")
        return None
    return hb, hb_subset


@dataclass
class _Group:
    """Subsets of one installed face, and the font descriptors that point at them."""

    file_key: str  # /FontFile2 (TrueType) or /FontFile3 (OpenType CFF)
    gids: set[int] = field(default_factory=lambda: {0})
    descriptors: list[DictionaryObject] = field(default_factory=list)
    streams: set[int] = field(default_factory=set)


def merge_font_subsets(
    writer: PdfWriter, pages: Iterable[DictionaryObject], forms: Iterable[IndirectObject] = ()
) -> int:
    """Give the fonts the named pages and forms draw with one shared program per face.

    Returns how many embedded font programs were replaced. The replaced programs are left for
    the caller to drop (``writer.compress_identical_objects``), since nothing refers to them.
    """
    groups: dict[tuple, _Group] = {}
    for font in _type0_fonts(pages, forms):
        _add(groups, font)
    replaced = 0
    for key, group in groups.items():
        if len(group.streams) < 2:
            continue
        program = _subset_installed(key, sorted(group.gids))
        if program is None:
            continue
        stream = DecodedStreamObject()
        stream.set_data(program)
        if group.file_key == "/FontFile3":
            stream[NameObject("/Subtype")] = NameObject("/OpenType")
        else:
            stream[NameObject("/Length1")] = NumberObject(len(program))
        reference = add_indirect(writer, stream.flate_encode())
        for descriptor in group.descriptors:
            descriptor[NameObject(group.file_key)] = reference
        replaced += len(group.streams)
    return replaced


def _type0_fonts(
    pages: Iterable[DictionaryObject], forms: Iterable[IndirectObject]
) -> Iterator[DictionaryObject]:
    """Each composite font the pages and forms (and forms drawn in them) use, once."""
    seen: set[int] = set()

    def walk(resources) -> Iterator[DictionaryObject]:
        if resources is None:
            return
        resources = resources.get_object()
        for reference in (resources.get("/Font") or DictionaryObject()).values():
            if isinstance(reference, IndirectObject) and reference.idnum in seen:
                continue
            if isinstance(reference, IndirectObject):
                seen.add(reference.idnum)
            font = reference.get_object()
            if font.get("/Subtype") == "/Type0":
                yield font
        for reference in (resources.get("/XObject") or DictionaryObject()).values():
            if not isinstance(reference, IndirectObject) or reference.idnum in seen:
                continue
            seen.add(reference.idnum)
            xobject = reference.get_object()
            if xobject.get("/Subtype") == "/Form":
                yield from walk(xobject.get("/Resources"))

    for page in pages:
        yield from walk(page.get("/Resources"))
    for form in forms:
        if form.idnum not in seen:
            seen.add(form.idnum)
            yield from walk(form.get_object().get("/Resources"))


def _add(groups: dict[tuple, _Group], font: DictionaryObject) -> None:
    """File the font's subset under its face, with the glyphs its widths name."""
    descendants = font.get("/DescendantFonts")
    if font.get("/Encoding") != "/Identity-H" or not descendants:
        return
    cid_font = descendants.get_object()[0].get_object()
    # Only subsets that kept the face's glyph numbering can share one program.
    if cid_font.get("/CIDToGIDMap", "/Identity") != "/Identity":
        return
    descriptor = cid_font.get("/FontDescriptor")
    if descriptor is None:
        return
    descriptor = descriptor.get_object()
    file_key = next((k for k in _FONT_FILES if k in descriptor), None)
    if file_key is None or not isinstance(descriptor.raw_get(file_key), IndirectObject):
        return
    reference = descriptor.raw_get(file_key)
    face = _face_of(reference)
    if face is None:
        return
    group = groups.setdefault((file_key, *face), _Group(file_key))
    group.descriptors.append(descriptor)
    group.streams.add(reference.idnum)
    group.gids.update(_widths_gids(cid_font.get("/W")))


def _face_of(reference: IndirectObject) -> tuple[str, float, int] | None:
    """(PostScript name, revision, modified) of an embedded font program."""
    try:
        # Decoded here, not with get_data(), which keeps every decoded stream on the object:
        # a hundred decoded subsets of a CJK face were 90 MB of a batch worker's memory.
        font = TTFont(io.BytesIO(decode_stream_data(reference.get_object())), lazy=True)
        return (font["name"].getDebugName(6), font["head"].fontRevision, font["head"].modified)
    except (TTLibError, KeyError, AssertionError, ValueError) as error:
        log.debug("embedded font not readable (%s): left as it is", error)
        return None


def _widths_gids(widths) -> set[int]:
    """The glyph numbers a /W array gives widths for: ``c [w …]`` and ``first last w`` runs."""
    gids: set[int] = set()
    if widths is None:
        return gids
    items = list(widths.get_object())
    index = 0
    while index < len(items):
        first = int(items[index])
        following = items[index + 1].get_object()
        if isinstance(following, ArrayObject):
            gids.update(range(first, first + len(following)))
            index += 2
        else:
            gids.update(range(first, int(following) + 1))
            index += 3
    return gids


@cache
def _installed_faces() -> dict[str, list[tuple[str, int]]]:
    """PostScript name → (file, face index) of every installed font, from fontconfig."""
    try:
        listing = subprocess.run(
            ["fc-list", "--format", "%{postscriptname}\t%{file}\t%{index}\n"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        log.info("font merging off: fc-list failed (%s)", error)
        return {}
    faces: dict[str, list[tuple[str, int]]] = {}
    for line in listing.splitlines():
        name, _, rest = line.partition("\t")
        path, _, index = rest.partition("\t")
        if name and path and index.isdigit():
            faces.setdefault(name, []).append((path, int(index)))
    return faces


@cache
def _installed(name: str, revision: float, modified: int) -> tuple[str, int] | None:
    """The installed file and face index of exactly that font, if it is installed."""
    for path, index in _installed_faces().get(name, ()):
        try:
            with TTFont(path, fontNumber=index, lazy=True) as font:
                head = font["head"]
                same = head.fontRevision == revision and head.modified == modified
        except (TTLibError, OSError, KeyError) as error:
            log.debug("%s (face %d) not readable: %s", path, index, error)
            continue
        if same:
            return path, index
    return None


def _subset_installed(key: tuple, gids: list[int]) -> bytes | None:
    """The installed face subset to ``gids`` as WeasyPrint subsets (numbering kept)."""
    _file_key, name, revision, modified = key
    libraries = _harfbuzz()
    found = _installed(name, revision, modified)
    if libraries is None or found is None:
        log.info("font %s not merged: the face it was made from is not installed", name)
        return None
    hb, hb_subset = libraries
    path, index = found
    blob = hb.hb_blob_create_from_file_or_fail(os.fsencode(path))
    if blob == _ffi.NULL:
        return None
    face = _ffi.gc(hb.hb_face_create(blob, index), hb.hb_face_destroy)
    hb.hb_blob_destroy(blob)  # the face holds its own reference
    subset_input = hb_subset.hb_subset_input_create_or_fail()
    if subset_input == _ffi.NULL:
        return None
    subset_input = _ffi.gc(subset_input, hb_subset.hb_subset_input_destroy)
    glyphs = hb_subset.hb_subset_input_glyph_set(subset_input)
    tags = sorted(hb.hb_tag_from_string(tag, len(tag)) for tag in _DROP_TABLES)
    _add_sorted(hb, hb_subset.hb_subset_input_set(subset_input, SETS_DROP_TABLE_TAG), tags)
    # First the glyphs, numbering kept; then the empty glyphs after the last one dropped.
    _add_sorted(hb, glyphs, gids)
    kept = _subset_pass(
        libraries,
        face,
        subset_input,
        RETAIN_GIDS | PASSTHROUGH_UNRECOGNIZED | DESUBROUTINIZE | NOTDEF_OUTLINE,
    )
    if kept is None:
        return None
    _add_sorted(hb, glyphs, range(gids[-1] + 1))
    final = _subset_pass(
        libraries,
        kept,
        subset_input,
        PASSTHROUGH_UNRECOGNIZED | DESUBROUTINIZE | NO_HINTING | NOTDEF_OUTLINE,
    )
    if final is None:
        return None
    blob = hb.hb_face_reference_blob(final)
    try:
        length = _ffi.new("unsigned int *")
        data = hb.hb_blob_get_data(blob, length)
        return bytes(_ffi.buffer(data, length[0])) if length[0] else None
    finally:
        hb.hb_blob_destroy(blob)


def _add_sorted(hb, target, values: Sequence[int]) -> None:
    """Add ascending numbers to a HarfBuzz set."""
    hb.hb_set_add_sorted_array(target, _ffi.new("hb_codepoint_t[]", list(values)), len(values))


def _subset_pass(libraries, face, subset_input, flags: int):
    """One hb_subset run with these flags; the new face, or None if HarfBuzz refused."""
    hb, hb_subset = libraries
    hb_subset.hb_subset_input_set_flags(subset_input, flags)
    result = hb_subset.hb_subset_or_fail(face, subset_input)
    return None if result == _ffi.NULL else _ffi.gc(result, hb.hb_face_destroy)
