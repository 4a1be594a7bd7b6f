"""Publishing one unit's attempt (the coordinator only): its quarantine folder first, then its
study folder into OUT in one rename, the commit point, each folder fsynced.

Every step can be repeated after a kill: a folder already moved is not moved again, and a
study folder never replaces anything (a name that exists is an error, never an overwrite).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from device_ai.atomic_io import fsync_directory
from device_ai.batch.unit_work import OUTPUT
from device_ai.errors import OutputError

JOB_FOLDER = ".device-ai-batch"  # under OUT (ledger, lock, staging) and under QUARANTINE (staging)
STAGING = "staging"


def staging_root(root: Path) -> Path:
    return Path(root) / JOB_FOLDER / STAGING


def attempt_output(out: Path, attempt: str, unit: str) -> Path:
    return staging_root(out) / attempt / OUTPUT / unit


def publish(out: Path, quarantine: Path | None, unit: str, label: str, attempt: str, has_output: bool) -> None:
    """Move the attempt's quarantine folder to QUARANTINE/<label> (replacing an earlier failed
    attempt's), then its study folder to OUT/<unit>; then remove what is left of the attempt.
    A job without a quarantine (``analyze --batch``) passes None."""
    staged_quarantine = staging_root(quarantine) / attempt if quarantine is not None else None
    if staged_quarantine is not None and staged_quarantine.exists():
        final = Path(quarantine) / label
        if final.exists():  # an earlier attempt that failed: this unit was never published
            shutil.rmtree(final)
        _rename(staged_quarantine, final)
    if has_output:
        source = attempt_output(out, attempt, unit)
        target = Path(out) / unit
        if source.exists():
            try:
                target.parent.mkdir(mode=0o700, exist_ok=True)
                fsync_directory(target.parent.parent)
            except OSError as exc:
                raise _error(target.parent, exc) from exc
            if os.path.lexists(target):
                raise _error(target, FileExistsError(errno.EEXIST, "a unit folder of that name is already published"))
            _rename(source, target)
        elif not target.exists():
            raise OutputError(f"unit {unit}: its output files are gone from the staging folder; nothing "
                              "was published", hint="run the command again: the unit runs again")
    discard(out, quarantine, attempt)


def discard(out: Path, quarantine: Path | None, attempt: str) -> None:
    """Remove an attempt's staging folders (a duplicate result, a failure, or what publication left)."""
    for root in (staging_root(out), *((staging_root(quarantine),) if quarantine is not None else ())):
        shutil.rmtree(root / attempt, ignore_errors=True)


def _rename(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
        fsync_directory(target.parent)
    except OSError as exc:
        raise _error(target, exc) from exc


def _error(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"could not publish {path}: {exc.strerror or exc}",
                       hint="check free space and permissions of the output location, then run the command again")
