"""Retention of the node's spool (issue 15; SRS-148): the received instances and the results of
a generation are deleted ``node_retention_hours`` after its outcome, so the node never becomes a
second, unmanaged archive of patient data and its disk does not fill up until it refuses every
association (0xA700).

A generation's outcome, and the time it counts from:

* *delivered*: done, and every result queued for it is confirmed by its destination (``sent/``)
  or given up by the operator (``device-ai requeue --discard``: ``discarded/``); none pending,
  none dead-lettered; from the newest of those.
* *refused* (no result; the reason stays in ``refused/K.json``) or *superseded* (a newer
  generation holds all its instances): from that decision.

Never purged: a generation still being analysed or sent, one with a dead-lettered result (the
operator decides: ``device-ai status`` lists it), one whose results were never queued because no
destination was configured (they are sent once one is), and the newest generation of a series
that is receiving again (a late instance's generation is made from it).

Order of a purge (SIGKILL at any moment leaves nothing that could be analysed, announced or
sent again): what will be deleted is counted into ``work/K/purging.json``; the generation folder
is renamed to ``.purging-gen-NNNN`` (under the spool's lock, so no hand-off links from it
meanwhile) and removed; the result folder is removed; the audit entry (Received Series Purged,
action D, with the counts from ``purging.json``) is written, then ``work/K/purged.json``; then
the queue entries, the marker and its ``.announced``, and ``work/K``. A purge found half done on
a later pass is finished; its entry is written at least once, and one written by a resumed
purge says so (the process may have died after writing it and before ``purged.json``). ``series/<S>/.last-generation``
stays: a series sent again after its purge gets the next generation number, so its results never
reuse a purged generation's UIDs. Purging a generation that was analysed keeps the SHA-256 of
its instances (``series/<S>/.purged``, merged with those of earlier analysed ones; no patient
data): the series as last analysed. Once no generation of the series is left, instances that
arrive with the bytes they had then make no generation (SRS-097); with one new or changed
instance every instance received makes the next generation, and the worker refuses any
generation that lacks an instance of that record (``purged_missing``: a part of a series is
never analysed alone): send the whole series again. A refused or superseded generation is
never recorded (it may hold a part of the series only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from device_ai.atomic_io import fsync_directory
from device_ai.node.outbound import queue_lock
from device_ai.node.spool import (_GEN, _STAGING, OPEN, PURGED, Ready, Spool, _create_once, _make_dir, _names, _purged,
                                  _write_durably, generation_name, instance_digest, ready_markers, utc_text)
from device_ai.node.worker import generation_state, key_of

LOG = logging.getLogger("device_ai.node.retention")
QUEUE_STATES = ("pending", "sent", "dead", "discarded")
PURGING_PREFIX = ".purging-"


@dataclass(frozen=True)
class GenerationOutcome:
    kind: str  # delivered, refused or superseded
    since: float  # epoch seconds the retention counts from


@dataclass(frozen=True)
class Purged:
    ready: Ready
    outcome: GenerationOutcome
    instances: int  # instance files removed with the generation folder (0 when a pass before removed them)


def queue_entries(root: Path, key: str) -> dict[str, list[Path]]:
    """The outbound queue's entries of generation ``key``, by state, for every destination folder."""
    base, prefix = Path(root) / "outbound", f"{key}."
    return {state: [base / state / dest / name for dest in _names(base / state)
                    for name in _names(base / state / dest) if name.startswith(prefix) and name.endswith(".json")]
            for state in QUEUE_STATES}


def outcome_of(root: Path, ready: Ready) -> GenerationOutcome | None:
    """The generation's final outcome, or None while it may still change (see the module doc)."""
    root, key = Path(root), key_of(ready)
    work = root / "work" / key
    state = generation_state(root, key)
    if state == "refused":
        return GenerationOutcome("refused", _mtime(root / "refused" / f"{key}.json"))
    if state == "superseded":
        return GenerationOutcome("superseded", _mtime(work / "superseded.json"))
    if state != "done":
        return None
    with queue_lock(root):  # no entry is between two states while they are listed
        entries = queue_entries(root, key)
    if entries["pending"] or entries["dead"] or not (entries["sent"] or entries["discarded"]):
        return None  # being sent, given up (the operator's decision), or never queued (no destination yet)
    return GenerationOutcome("delivered", max(_mtime(path) for path in [*entries["sent"], *entries["discarded"],
                                                                         work / "done.json"]))


def expired(root: Path, retention_s: float, now: float | None = None) -> list[tuple[Ready, GenerationOutcome]]:
    """Generations whose outcome is at least ``retention_s`` old, oldest first."""
    now = time.time() if now is None else now
    found = []
    for ready in ready_markers(root):
        outcome = _resumed(root, ready) or outcome_of(root, ready)
        if outcome is not None and now - outcome.since >= retention_s:
            found.append((ready, outcome))
    return found


def purge_expired(spool: Spool, retention_s: float, trail=None, now: float | None = None) -> list[Purged]:  # noqa: ANN001
    """Purge every expired generation (see the module doc); returns what was purged. ``trail``
    (a NodeTrail) records each purge; None only in tests of the spool itself."""
    purged = []
    for ready, outcome in expired(spool.root, retention_s, now):
        done = _purge(spool, ready, outcome, trail, retention_s)
        if done is not None:
            purged.append(done)
    _sweep(spool.root)
    return purged


def _purge(spool: Spool, ready: Ready, outcome: GenerationOutcome, trail, retention_s: float) -> Purged | None:  # noqa: ANN001
    """One generation, in the order of the module doc; None when its series is receiving again."""
    root, key = spool.root, key_of(ready)
    work = root / "work" / key
    _make_dir(work)
    intent = work / "purging.json"  # what is about to be deleted, counted before anything is
    resumed = intent.exists()
    if not resumed:
        deleted, kept = _instance_counts(ready.folder)
        _create_once(intent, json.dumps({"instances": deleted, "kept_by_later_generation": kept,
                                         "results": _count(work / "result"), "outcome": outcome.kind,
                                         "since": outcome.since, "utc": utc_text(time.time())}).encode())
    counts = json.loads(intent.read_bytes())
    if not _remove_generation(spool, ready, analysed=counts["outcome"] == "delivered"):
        intent.unlink()  # nothing was deleted: the next pass starts afresh
        fsync_directory(work)
        return None
    if (work / "result").exists():
        shutil.rmtree(work / "result")
        fsync_directory(work)
    if not (work / "purged.json").exists():
        if trail is not None:  # durable before purged.json: written at least once; a repeat says so
            trail.series_purged(ready, outcome=counts["outcome"], outcome_utc=utc_text(counts["since"]),
                                instances=counts["instances"], results=counts["results"],
                                kept=counts["kept_by_later_generation"], retention_hours=retention_s / 3600,
                                resumed=resumed)
        _create_once(work / "purged.json", json.dumps({"generation": ready.generation, "utc": utc_text(time.time())}).encode())
    with queue_lock(root):
        for paths in queue_entries(root, key).values():
            for path in paths:
                path.unlink(missing_ok=True)
            for folder in {path.parent for path in paths}:
                fsync_directory(folder)
    ready.marker.unlink(missing_ok=True)  # the marker before .announced: never an unannounced marker
    fsync_directory(ready.marker.parent)
    ready.marker.with_suffix(".announced").unlink(missing_ok=True)
    shutil.rmtree(work)
    fsync_directory(work.parent)
    return Purged(ready, GenerationOutcome(counts["outcome"], counts["since"]), counts["instances"])


def _remove_generation(spool: Spool, ready: Ready, *, analysed: bool) -> bool:
    """Remove the generation's folder (renamed first, so a half-removed folder is never taken
    for a generation); False when it is its series' newest and the series is receiving again or
    a hand-off is under way (the next generation is made from it). Removing a generation that
    was analysed records its instances' digests (``series/<S>/.purged``, see the module doc); a
    refused or superseded one is never the baseline (it may be a part of the series)."""
    series = ready.folder.parent
    purging = series / f"{PURGING_PREFIX}{generation_name(ready.generation)}"
    with spool._lock:
        names = _names(series)
        newest = max((int(m[1]) for n in names if (m := _GEN.match(n))), default=0)
        busy = OPEN in names or any(_STAGING.match(n) for n in names)
        if ready.generation >= newest and busy:
            return False
        if ready.folder.is_dir():
            recorded, known = _purged(series)
            if analysed and ready.generation > (recorded or 0):  # the series as last analysed (module doc)
                digests = {**known, **{n: instance_digest(ready.folder / n) for n in _names(ready.folder)
                                       if n.endswith(".dcm")}}
                _write_durably(series / PURGED, json.dumps({"generation": ready.generation,
                                                            "instances": digests}, sort_keys=True).encode())
            os.rename(ready.folder, purging)
            fsync_directory(series)
    if purging.exists():  # no hand-off links from a .purging- folder: removed outside the lock
        shutil.rmtree(purging)
        fsync_directory(series)
    return True


def _resumed(root: Path, ready: Ready) -> GenerationOutcome | None:
    """A purge begun on an earlier pass (its queue entries may be gone already): always finished."""
    intent = Path(root) / "work" / key_of(ready) / "purging.json"
    try:
        content = json.loads(intent.read_bytes())
        return GenerationOutcome(content["outcome"], float(content["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _instance_counts(folder: Path) -> tuple[int, int]:
    """(instance files this purge deletes, those a later generation still holds by hard link)."""
    deleted = kept = 0
    for name in _names(folder):
        if name.endswith(".dcm"):
            try:
                links = (folder / name).stat().st_nlink
            except FileNotFoundError:
                continue
            deleted, kept = (deleted + 1, kept) if links <= 1 else (deleted, kept + 1)
    return deleted, kept


def _count(folder: Path, suffix: str = "") -> int:
    return sum(1 for name in _names(folder) if name.endswith(suffix) and not name.startswith("."))


def _sweep(root: Path) -> None:
    """What a purge killed half-way left: ``.announced`` files without their marker, work folders
    whose purge was recorded, ``.purging-`` folders (their generation's marker is gone)."""
    ready_root = root / "ready"
    for name in _names(ready_root):
        if name.endswith(".announced") and not (ready_root / f"{name[:-len('.announced')]}.json").exists():
            (ready_root / name).unlink(missing_ok=True)
    for name in _names(root / "work"):
        folder = root / "work" / name
        if (folder / "purged.json").exists() and not (ready_root / f"{name}.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
    for series in _names(root / "series"):
        for name in _names(root / "series" / series):
            if name.startswith(PURGING_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(root / "series" / series / name)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()  # cannot tell: counts from now, never purged early
