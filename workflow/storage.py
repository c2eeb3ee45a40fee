"""The file store for uploads and dossiers: generated names, atomic writes."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import current_app


def data_dir() -> Path:
    """The root of the shared file store (one folder that every worker can reach)."""
    configured = current_app.config.get("DATA_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "data"


def upload_path(stored_name: str) -> Path:
    """Where an uploaded file lives."""
    return data_dir() / "uploads" / stored_name


def dossier_path(file_name: str) -> Path:
    """Where a rendered dossier lives."""
    return data_dir() / "dossiers" / file_name


def new_stored_name(extension: str) -> str:
    """A fresh, unguessable file name that never reuses what the user typed."""
    return f"{uuid.uuid4().hex}.{extension}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see either nothing or the whole file, never half of it."""
    with atomic_file(path) as handle:
        handle.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to stream into, written under a temporary name and renamed once complete, so
    readers see either nothing or the whole file (and a large file is not held in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
