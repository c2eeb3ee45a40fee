"""The one place this package adds a free-standing object to a pypdf writer."""

from __future__ import annotations

from pypdf import PdfWriter
from pypdf.generic import IndirectObject, PdfObject

__all__ = ["add_indirect"]


def add_indirect(writer: PdfWriter, obj: PdfObject) -> IndirectObject:
    """Add a new object to the writer and return its reference.

    Streams (content, forms, font programs) must be indirect objects, and pypdf has no public call
    that adds one: ``PdfWriter._add_object`` is what its own methods use. pypdf is pinned in
    constraints.txt, and tests/documents/test_batch.py goes through every caller, so an upgrade
    that changes this fails there first.
    """
    return writer._add_object(obj)
