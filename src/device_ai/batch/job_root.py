"""A batch job's root, OUT, shared by every kind of job (``anonymize --batch``, ``analyze
--batch``): new or empty on the first run, or holding the job's ledger on a re-run; apart from
IN; locked by one coordinator at a time; keyed values that tell a re-run it is the same job."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

from device_ai.app import preconditions
from device_ai.atomic_io import fsync_directory
from device_ai.batch.errors import JobLocked
from device_ai.batch.ledger import Ledger
from device_ai.batch.publish import JOB_FOLDER
from device_ai.errors import OutputRefused

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "job.lock"


def check_apart(folder: Path, targets: dict[str, Path]) -> None:
    """Every target (option -> folder) outside IN, and IN outside each: a re-run walks IN again,
    and would take the job's own outputs (or quarantined originals) for new input."""
    source = folder.resolve()
    for option, target in targets.items():
        place = Path(target).resolve()
        if place.is_relative_to(source) or source.is_relative_to(place):
            raise OutputRefused(f"{option} {target} and IN {folder} lie one inside the other; a re-run of the job "
                                "would read its own outputs as input",
                                hint=f"choose an {option} folder outside IN")


def check_job_root(out: Path) -> None:
    """OUT is new or empty (a new job), or holds a job ledger (a re-run); nothing else."""
    if (out / JOB_FOLDER / LEDGER_NAME).is_file() and not out.is_symlink():
        preconditions.check_path_names(out, "OUT", room_inside=preconditions.ROOM_INSIDE_BYTES)
        return
    try:
        preconditions.check_output_folder(out, "OUT")
    except OutputRefused as exc:
        raise OutputRefused(f"{exc.message} (and it holds no batch job ledger to resume)", hint=exc.hint) from exc


@contextlib.contextmanager
def job_folder(out: Path, ledger_class: type[Ledger] = Ledger) -> Iterator[Ledger]:
    """OUT and its job folder (0700), the coordinator's lock (one coordinator per job), the ledger."""
    folder = out / JOB_FOLDER
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        fsync_directory(out)
        fsync_directory(out.parent)
        lock = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise OutputRefused(f"cannot create the job folder {folder}: {exc.strerror or exc}",
                            hint="choose an OUT location you can write to") from exc
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise JobLocked(f"another coordinator is running the job in {out}",
                            hint="wait for it to finish, or stop it; then run the command again") from exc
        ledger = ledger_class(folder / LEDGER_NAME)
        try:
            yield ledger
        finally:
            ledger.close()
    finally:
        os.close(lock)


def keyed(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"device-ai batch {kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
