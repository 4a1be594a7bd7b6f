"""Clauses of SRS-026 and SRS-028 the issue 22 review found untested: writers in different
processes are serialized by the file lock, and `audit verify` reports two checkpoints of the
log's key that disagree (a fork) or are not consistent."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device_ai.audit.entry import ANALYSIS_RUN, Actor, AuditEntry, Outcome, utc_now
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, notes_in
from device_ai.audit.store import frame, scan
from device_ai.audit.verify import verify_log

CHILD = """
import sys
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.log import AuditLog
log = AuditLog.open(sys.argv[1])
print("OPEN", flush=True)
sys.stdin.readline()
entry = log.append(ANALYSIS_RUN, details={"writer": "child"})
print("ACK", entry.seq, flush=True)
log.close()
"""


def _line(process: subprocess.Popen, timeout: float) -> str | None:
    """The child's next line, or None if none came within ``timeout`` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if ready else None


def _append_raw(folder: Path, seq: int) -> None:
    """Append one record as another writer would, under the lock the caller holds."""
    entry = AuditEntry(seq=seq, time_utc=utc_now(), event=ANALYSIS_RUN, action="E", outcome=Outcome.SUCCESS,
                       actor=Actor.current(), details={"writer": "other process"})
    fd = os.open(folder / LOG_NAME, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, frame(entry.leaf_bytes()))
        os.fsync(fd)
    finally:
        os.close(fd)


def _child_appends_while(folder: Path, hold_lock: bool) -> tuple[str | None, str | None]:
    """(what the child said within 3 s of being told to append, what it said in the end)."""
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert _line(process, 60) == "OPEN"
        lock = os.open(folder / "audit.lock", os.O_RDWR)
        try:
            if hold_lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # as another process's writer between read and append
            process.stdin.write("go\n")
            process.stdin.flush()
            early = _line(process, 3)
            if hold_lock:
                _append_raw(folder, len(scan((folder / LOG_NAME).read_bytes()).records))
        finally:
            os.close(lock)  # releases the lock
        final = early or _line(process, 60)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return early, final


@pytest.mark.req("SRS-026")
def test_a_writer_in_another_process_waits_for_the_lock_and_numbers_after_what_was_appended_meanwhile(
        tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    with AuditLog.open(folder) as log:
        log.append(ANALYSIS_RUN)
        vkey = log.public_key()
    early, final = _child_appends_while(folder, hold_lock=True)
    assert early is None, f"the child appended while another writer held the lock: {early}"
    assert final == "ACK 2", final  # record 1 was appended while it waited: it read it first
    entries = [json.loads(r.payload) for r in scan((folder / LOG_NAME).read_bytes()).records]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert [e["details"].get("writer") for e in entries] == [None, "other process", "child"]
    assert verify_log(folder, vkey).ok


@pytest.mark.req("SRS-026")
def test_negative_control_without_the_lock_held_the_child_appends_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    with AuditLog.open(folder) as log:
        log.append(ANALYSIS_RUN)
    started = time.monotonic()
    early, final = _child_appends_while(folder, hold_lock=False)
    assert early == final == "ACK 1" and time.monotonic() - started < 60


def _fill(folder: Path, count: int, tag: str) -> str:
    with AuditLog.open(folder, checkpoint_every=2) as log:
        for i in range(count):
            log.append(ANALYSIS_RUN, details={"log": tag, "i": str(i)})
        return log.public_key()


@pytest.mark.req("SRS-028")
def test_checkpoints_of_the_same_key_that_disagree_are_reported_as_a_fork_and_as_inconsistent(
        tmp_path: Path) -> None:
    vkey = _fill(tmp_path / "a", 4, "a")  # signed at sizes 2 and 4
    _fill(tmp_path / "b", 3, "b")  # the same key and origin (one device home), other records: sizes 2 and 3
    forked = notes_in(tmp_path / "b" / CHECKPOINT_DIR)
    report = verify_log(tmp_path / "a", vkey, forked)
    assert "two checkpoints of size 2 disagree: the log forked" in report.problems, report.problems
    assert any(p.startswith("checkpoints 3 and 4 are not consistent") for p in report.problems), report.problems
    control = verify_log(tmp_path / "a", vkey, notes_in(tmp_path / "a" / CHECKPOINT_DIR))  # the same notes twice
    assert control.ok and len(control.checkpoints) == 4, control.problems
