"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Write to a temporary file in the same directory, fsync it, rename over the target, then
fsync the directory so the rename itself survives a crash (reference/audit_security.md §3.1).

Who may read what the device writes is one rule, :class:`Access`, asked for by every writer:
``PRIVATE`` (0600 files, 0700 folders; the default) for keys, the audit trail, de-identified
outputs, quarantine and, unless the site chooses ``GROUP`` (0640 and 0750, setting
``results_group_readable``), the outputs of ``analyze`` and ``explain`` and the node's copies of
them in a folder destination or watch's OUT (threat THR-018: results hold the patient's
identity); ``PUBLIC`` (the process umask's modes: 0644 and 0755 under umask 022) for documents.
A staging folder is private while it is being filled, whatever its final access, and gets its
final mode just before it is renamed into place.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from device_ai.errors import OutputError


def fsync_directory(directory: Path) -> None:
    """fsync a directory so that a create or rename inside it is durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def process_umask() -> int:
    """The process umask. Read from /proc where it can be; otherwise by setting a restrictive
    umask for an instant, so a file another thread creates meanwhile is never more open than
    intended."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


class Access(enum.Enum):
    """Who may read an output the device writes (file or folder)."""

    PRIVATE = "private"
    """Owner only: files 0600 (as ``mkstemp`` creates them), folders 0700 (as ``mkdtemp``).
    Keys, the audit trail, de-identified outputs, quarantine, watch's rejected files, crosswalks:
    the default."""
    PUBLIC = "public"
    """What ``open()``/``mkdir()`` give under the process umask: files 0666 and folders 0777
    less the umask (0644 and 0755 under umask 022). Rendered documents."""
    GROUP = "group"
    """Owner and group read, nobody else, whatever the umask: files 0640, folders 0750. Results of
    ``analyze``/``explain`` when the site sets ``results_group_readable``."""

    def file_mode(self) -> int:
        fixed = {Access.PRIVATE: 0o600, Access.GROUP: 0o640}
        return fixed.get(self, 0o666 & ~process_umask())

    def folder_mode(self) -> int:
        fixed = {Access.PRIVATE: 0o700, Access.GROUP: 0o750}
        return fixed.get(self, 0o777 & ~process_umask())


def result_access(group_readable: bool) -> Access:
    """The access of analysis and explanation results: private unless the site opts for group read."""
    return Access.GROUP if group_readable else Access.PRIVATE


def _durable_temp(path: Path, data: bytes | Callable[[BinaryIO], object], mode: int | None = None) -> str:
    """``data`` (bytes, or a function writing into the open file) written and fsynced in a new
    temporary file beside ``path`` (0600 from ``mkstemp``, or ``mode`` set before the fsync so it
    is as durable as the data); its name. Nothing is left behind on failure."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def replace_durably(path: Path, data: bytes | Callable[[BinaryIO], object], mode: int | None = None) -> None:
    """Atomic replace of ``path`` (its folder must exist): temporary file fsynced, renamed,
    folder fsynced; ``data`` as for :func:`_durable_temp` (a function streams a large copy).
    OS errors propagate as they are."""
    path = Path(path)
    tmp_name = _durable_temp(path, data, mode)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(path.parent)


def make_dirs_durably(root: Path, relative: Path, *, access: Access = Access.PRIVATE) -> Path:
    """``root / relative``, each missing folder below ``root`` created with ``access``'s mode
    (a fixed one whatever the umask: set again after mkdir, which the umask narrows) and its entry
    fsynced in its parent (``root`` itself must exist). OS errors propagate."""
    here = Path(root)
    for part in Path(relative).parts:
        here = here / part
        if not here.is_dir():
            here.mkdir(mode=access.folder_mode())
            if access is not Access.PUBLIC:
                os.chmod(here, access.folder_mode())
            fsync_directory(here.parent)
    return here


def atomic_write_bytes(path: Path, data: bytes, *, access: Access = Access.PRIVATE) -> Path:
    """Write ``data`` to ``path`` atomically and durably, with the mode of ``access``.

    The temporary file is created 0600 by ``mkstemp``; a public file gets its mode once its
    data are written and before the fsync, so the mode is as durable as the data."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(path, data, None if access is Access.PRIVATE else access.file_mode())
    except OSError as exc:
        raise OutputError(
            f"could not write {path}: {exc.strerror or exc}",
            hint="check that the output folder exists, is writable and has free space",
        ) from exc
    return path


def write_once(path: Path, data: bytes, mode: int | None = None) -> bool:
    """Create ``path`` durably with ``data``, never replacing an existing file (0600, or
    ``mode``, set before the fsync).

    The data are written and fsynced under a temporary name, then hard-linked to ``path``,
    which fails if the name exists: a file once written here is never overwritten. Returns
    True when created, False when an identical file was already there; a different file
    under the same name is a :class:`FileExistsError`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = _durable_temp(path, data, mode)
    try:
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            if path.read_bytes() != data:
                raise
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    fsync_directory(path.parent)
    return True


def atomic_write_text(path: Path, text: str, *, access: Access = Access.PRIVATE) -> Path:
    """UTF-8 text variant of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"), access=access)


@contextlib.contextmanager
def staged_directory(final_dir: Path, *, access: Access = Access.PRIVATE) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``final_dir`` in one rename.

    On any exception the staging folder is removed and ``final_dir`` is left untouched,
    so a refused or failed run leaves no partial outputs (issue: "no output file is ever
    half-written"). Files written inside should still be fsynced by their writers.

    The staging folder is created 0700 (``mkdtemp``) and stays so while it is filled; when
    everything in it is written it gets ``access``'s folder mode, then is fsynced and renamed.
    The modes of the files inside are their writers' (``atomic_write_bytes(access=...)``).
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
        if access is not Access.PRIVATE:
            try:
                os.chmod(staging, access.folder_mode())
            except OSError as exc:
                raise OutputError(f"could not set the mode of the output folder {final_dir}: {exc.strerror or exc}; "
                                  "nothing was kept",
                                  hint="check the permissions of the output location, then run again") from exc
        fsync_directory(staging)
        _refuse_non_empty(final_dir)
        try:
            if final_dir.exists():
                final_dir.rmdir()
            os.replace(staging, final_dir)
            try:
                fsync_directory(parent)
            except BaseException:  # not durable (or interrupted before it was): not published either
                shutil.rmtree(final_dir, ignore_errors=True)
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
