"""Reading the small files beside an audit log: checkpoint notes and the log's signer file.

Anyone who can write in a copy location can put any file there: a FIFO must not block the
reader (O_NONBLOCK) and a huge file must not be read into memory (a size cap).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from device_ai.errors import AuditIntegrityError

CHECKPOINT_DIR = "checkpoints"  # every note the log signed, beside the log
LATEST_NAME = "checkpoint.note"  # a copy of the latest of them
MAX_NOTE_BYTES = 64 * 1024  # a checkpoint note is under 1 KiB; anything far larger is not one
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def notes_in(*folders: Path | None) -> list[Path]:
    """The checkpoint notes (regular files ``*.note``) in each folder that exists."""
    places = [Path(f) for f in folders if f is not None]
    return sorted(path for place in places if place.is_dir() for path in place.glob("*.note") if path.is_file())


def read_note(path: Path, what: str = "the checkpoint", hint: str = "remove it from the checkpoint folder") -> bytes:
    """The bytes of ``path``, read only if it is a regular file of at most MAX_NOTE_BYTES;
    otherwise an AuditIntegrityError naming the file and ``what`` it should be."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise AuditIntegrityError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AuditIntegrityError(f"{path}: cannot read {what}: not a regular file (a folder, FIFO, "
                                      "device or socket named like a note); not read", hint=hint)
        if info.st_size > MAX_NOTE_BYTES:
            raise AuditIntegrityError(_too_large(path, what, info.st_size), hint=hint)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_NOTE_BYTES + 1)  # one byte more: a file that grew meanwhile is seen
    except OSError as exc:
        raise AuditIntegrityError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_NOTE_BYTES:
        raise AuditIntegrityError(_too_large(path, what, len(data)), hint=hint)
    return data


def _too_large(path: Path, what: str, size: int) -> str:
    return (f"{path}: cannot read {what}: {size} bytes, larger than any checkpoint note can be "
            f"({MAX_NOTE_BYTES} bytes at most); not read")
