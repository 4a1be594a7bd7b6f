"""The files an action published, by digest (SRS-222, threat THR-015): what its success entry
records, and how a result folder compares with that record.

Each published file is an ``AuditObject(kind="file", id=<SHA-256 of its bytes, hex>,
role=<its name in the result folder>)``. The digests are taken in the staging folder once every
output is written, so they are of the bytes that the one rename publishes. The names are the
device's own (``segmentation.dcm``, ``preview_slice0001.png``, ``explanation.json``): a name
outside that form could carry what a caller put in it, so it is refused (a defect, not input).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from device_ai.audit.entry import AuditObject
from device_ai.errors import InternalError

FILE_KIND = "file"
DEVICE_NAME = re.compile(r"[a-z0-9_]{1,64}\.(?:dcm|png|json)")  # the device's result names; no identifier fits
CHUNK = 1 << 20  # a SEG of a long series is hundreds of MB: hashed a chunk at a time

UNCHANGED = "unchanged"
ALTERED = "altered"
MISSING = "missing"
UNREADABLE = "unreadable"
EXTRA = "not published by the device"


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a regular file's bytes. A link is not followed and anything else (a
    pipe, a device) is not read: OSError, as for a file that cannot be opened."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))  # a pipe must not block
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def published_files(folder: Path, names: Iterable[str] | None = None) -> tuple[AuditObject, ...]:
    """The file objects of ``names`` in ``folder`` (every entry of the folder when None), sorted
    by name. Every one must be a regular file with a device name (else InternalError)."""
    folder = Path(folder)
    chosen = sorted(set(names) if names is not None else os.listdir(folder))
    for name in chosen:
        if not DEVICE_NAME.fullmatch(name) or not stat.S_ISREG(os.lstat(folder / name).st_mode):
            raise InternalError(f"a result file to record is not a regular file with a device name: {name!r}")
    return tuple(AuditObject(kind=FILE_KIND, id=file_digest(folder / name), role=name) for name in chosen)


def listed_files(objects: Iterable[dict]) -> dict[str, str]:
    """name -> digest of the file objects of an entry (as the log stores it: dicts)."""
    return {o["role"]: o["id"] for o in objects if o.get("kind") == FILE_KIND and o.get("role")}


@dataclass(frozen=True)
class FileState:
    name: str  # relative to the result folder
    state: str  # UNCHANGED, ALTERED, MISSING, UNREADABLE or EXTRA
    note: str = ""


def folder_files(folder: Path) -> dict[str, Path]:
    """Every entry under ``folder`` that is not a folder, by its path relative to it ('/'-separated);
    links are listed, never followed. OSError when the folder cannot be listed."""
    found: dict[str, Path] = {}

    def fail(error: OSError) -> None:
        raise error

    for here, folders, files in os.walk(folder, onerror=fail):
        links = [name for name in folders if os.path.islink(os.path.join(here, name))]
        folders[:] = [name for name in folders if name not in links]
        for name in [*files, *links]:
            path = Path(here) / name
            found[path.relative_to(folder).as_posix()] = path
    return found


def compare(folder: Path, listed: dict[str, str], present: dict[str, Path] | None = None,
            known: dict[str, str] | None = None) -> list[FileState]:
    """Each file ``listed`` (name -> digest) and each other file found in ``folder``, with its
    state; ``known``: digests already taken of files found (a large SEG is read once)."""
    present = folder_files(folder) if present is None else present
    known = known or {}
    states = []
    for name in sorted({*listed, *present}):
        if name not in listed:
            states.append(FileState(name, EXTRA))
        elif name not in present:
            states.append(FileState(name, MISSING))
        else:
            if os.path.islink(present[name]):
                states.append(FileState(name, UNREADABLE, "a link, not the file the device wrote"))
                continue
            try:
                digest = known[name] if name in known else file_digest(present[name])
            except OSError as exc:  # not a regular file, or one this account cannot read
                states.append(FileState(name, UNREADABLE, exc.strerror or str(exc)))
                continue
            states.append(FileState(name, UNCHANGED if digest == listed[name] else ALTERED))
    return states
