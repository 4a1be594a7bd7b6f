"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Write to a temporary file in the same directory, fsync it, rename over the target, then
fsync the directory so the rename itself survives a crash (reference/audit_security.md §3.1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from device_ai.errors import OutputError


def fsync_directory(directory: Path) -> None:
    """fsync a directory so that a create or rename inside it is durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        fsync_directory(path.parent)
    except OSError as exc:
        raise OutputError(
            f"could not write {path}: {exc.strerror or exc}",
            hint="check that the output folder exists, is writable and has free space",
        ) from exc
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """UTF-8 text variant of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staged_directory(final_dir: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``final_dir`` in one rename.

    On any exception the staging folder is removed and ``final_dir`` is left untouched,
    so a refused or failed run leaves no partial outputs (issue: "no output file is ever
    half-written"). Files written inside should still be fsynced by their writers.
    """
    final_dir = Path(final_dir)
    parent = final_dir.parent
    _refuse_non_empty(final_dir)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".staging", dir=parent))
    except OSError as exc:
        raise OutputError(
            f"could not create the output folder under {parent}: {exc.strerror or exc}",
            hint="check that the output location is writable and has free space",
        ) from exc
    try:
        yield staging
        for child in staging.iterdir():
            if child.is_file():
                _fsync_file(child)
        fsync_directory(staging)
        _refuse_non_empty(final_dir)
        try:
            if final_dir.exists():
                final_dir.rmdir()
            os.replace(staging, final_dir)
            try:
                fsync_directory(parent)
            except OSError:
                shutil.rmtree(final_dir, ignore_errors=True)  # not durable: not published either
                raise
        except OSError as exc:
            raise OutputError(
                f"could not publish the output folder {final_dir}: {exc.strerror or exc}; nothing was kept",
                hint="check free space and permissions of the output location, then run again",
            ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _refuse_non_empty(final_dir: Path) -> None:
    if final_dir.exists() and not final_dir.is_dir():
        raise OutputError(f"output {final_dir} is a file, not a folder", hint="give a folder path that does not exist yet")
    if final_dir.exists() and any(final_dir.iterdir()):
        raise OutputError(
            f"output folder {final_dir} already exists and is not empty",
            hint="choose a new --out folder; results are never overwritten",
        )


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
