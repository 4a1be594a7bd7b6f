"""The node's spool: received instances are durable here before they are acknowledged, and a
complete series is handed to analysis from here exactly once per generation (issue 15 items
1 and 2; SRS-093, SRS-095, SRS-096, SRS-097).

Layout under ``DEVICE_AI_HOME/node`` (every folder owner-only)::

    serve.lock                  flock held by the one process (serve or watch) using this home
    tmp/                        instances being received (``*.part``); removed on start
    series/<S>/                 one folder per series; S = pseudonym("series", SeriesInstanceUID)
      open/                     the generation being received
        <I>.dcm                 I = pseudonym("instance", SOPInstanceUID): the Part 10 file as received
        .received               the idle timer: {"last": epoch s, "study": pseudonym}; rewritten
                                atomically on every instance, so it survives a restart
      .last-generation          the highest generation number ever given (numbers are never reused)
      .gen-NNNN.staging/        hand-off of generation N in progress (rolled forward on start)
      gen-NNNN/                 generation N: every instance of the series when it went idle
                                (the open ones plus hard links to generation N-1's others); never
                                changed again
    ready/<S>.gen-NNNN.json     the hand-off marker of generation N: created once (hard link of a
                                complete, fsynced file; never replaced, never rewritten)
    ready/<S>.gen-NNNN.announced  empty; created once the Series Ready audit entry is durable

States of a series: *receiving* (``open/`` exists) -> *handing off* (``.gen-N.staging/``) ->
*ready* (``gen-N/`` and its marker). An instance that arrives after generation N was handed off
opens generation N+1 (a late instance): it holds every instance of N plus the new or changed
ones, so the worker analyses the whole series again and must give its results new UIDs
(the marker's ``generation`` and ``supersedes`` say so). An instance re-sent with the same
bytes as in the last generation (a sender retrying after a lost response) changes nothing.

Crash safety (SIGKILL at any moment): an instance is acknowledged only after its file and the
folder entry are fsynced (:meth:`Spool.commit`). On start, :meth:`Spool.recover` removes
partial receives, rolls every staging folder forward, and writes the marker of any generation
that has none; markers are created with ``link()``, which fails if the name exists, so a
generation becomes ready exactly once however often the device restarts. Its Series Ready audit
entry is written after the marker and acknowledged by ``.announced``; a marker found without it
on start is announced again (the trail may then hold that entry twice, the second flagged
``announced_late``, never zero times).

The worker (issue 15 item 3) consumes ``ready/*.json`` (:func:`ready_markers`; best those whose
``.announced`` exists, so that its Analysis Run entry follows the Series Ready entry in the
trail), reads the instances from ``Ready.files()`` (never ``open/``), and keeps its own progress
elsewhere (e.g. ``DEVICE_AI_HOME/node/work/<S>.gen-NNNN/``). Result UIDs must depend on the
generation (a new generation is a new analysis, never the same UIDs); a generation superseded
by a newer ready one may be skipped. A marker is never deleted while its generation folder
still exists (recovery would write it again): :mod:`device_ai.node.retention` purges the
generation folder first, then its marker and ``.announced``, and keeps
``series/<S>/.last-generation``. Generation folders share unchanged instances by hard link.
One process serves a home at a time (:meth:`Spool.lock`); the spool's methods are thread-safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device_ai.atomic_io import fsync_directory, replace_durably, write_once
from device_ai.errors import ConfigError

OPEN = "open"
TIMER = ".received"
COUNTER = ".last-generation"  # the highest generation number ever given to the series
PURGED = ".purged"  # digests of the instances of the series' newest generation when the retention deleted it
INSTANCE_SUFFIX = ".dcm"
MARKER_FORMAT = 1
_GEN = re.compile(r"^gen-(\d{4,})$")
_STAGING = re.compile(r"^\.gen-(\d{4,})\.staging$")


def generation_name(number: int) -> str:
    return f"gen-{number:04d}"


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class InstanceKey:
    """Where one received instance goes: pseudonyms only (no UID in a path or log)."""

    study: str  # pseudonym("study", StudyInstanceUID)
    series: str  # pseudonym("series", SeriesInstanceUID)
    instance: str  # pseudonym("instance", SOPInstanceUID)


@dataclass(frozen=True)
class Stored:
    """What :meth:`Spool.commit` did with an instance."""

    key: InstanceKey
    path: Path
    late_after: int | None  # the generation already handed off that this instance follows, if any
    duplicate: bool  # identical to the instance in the last handed-off generation: nothing changed


@dataclass(frozen=True)
class Ready:
    """A generation handed to analysis (the content of its marker)."""

    series: str
    study: str
    generation: int
    folder: Path
    instances: tuple[str, ...]
    supersedes: int | None
    last_received_utc: str
    ready_utc: str
    marker: Path
    recovered: bool = False  # written by recovery on start (the hand-off was interrupted)
    purged_missing: int = 0  # instances of the series deleted by the retention that this generation lacks

    def files(self) -> list[Path]:
        return [self.folder / name for name in self.instances]


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.series_root = self.root / "series"
        self.ready_root = self.root / "ready"
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        for folder in (self.root, self.tmp, self.series_root, self.ready_root):
            _private(folder)

    # --- one server per home ---

    def lock(self) -> None:
        """Hold ``serve.lock`` for this process's lifetime; a second ``serve`` or ``watch`` on the
        same home is refused (two would break exactly-once)."""
        fd = os.open(self.root / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"another device-ai serve or watch is already using the spool in {self.root}",
                              hint="stop it first, or give this one its own DEVICE_AI_HOME") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- receiving ---

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def write_temp(self, data: bytes) -> Path:
        """``data`` in a new fsynced file under ``tmp/`` (0600); the caller commits or discards it."""
        fd, name = tempfile.mkstemp(prefix="rx-", suffix=".part", dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return Path(name)

    @staticmethod
    def discard(temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)

    def commit(self, temp: Path, key: InstanceKey, now: float | None = None) -> Stored:
        """Move the fsynced ``temp`` into its series' open generation, reset the series' idle
        timer, and fsync the folders: durable when this returns (acknowledge only then)."""
        now = time.time() if now is None else now
        with self._lock:
            series = self.series_root / key.series
            _make_dir(series)
            name = key.instance + INSTANCE_SUFFIX
            last = self.last_generation(series)
            open_dir = series / OPEN
            if not open_dir.exists() and last is not None:
                previous = series / generation_name(last) / name
                if previous.exists() and filecmp.cmp(temp, previous, shallow=False):
                    self.discard(temp)
                    return Stored(key, previous, late_after=last, duplicate=True)
            _make_dir(open_dir)
            target = open_dir / name
            os.replace(temp, target)
            _write_durably(open_dir / TIMER, json.dumps({"last": now, "study": key.study}).encode())
            # _write_durably fsynced open/ after its own rename: the instance's entry is durable too
            return Stored(key, target, late_after=last, duplicate=False)

    # --- assembly ---

    @staticmethod
    def last_generation(series: Path) -> int | None:
        numbers = [int(m[1]) for child in _names(series) if (m := _GEN.match(child) or _STAGING.match(child))]
        return max(numbers) if numbers else None

    def _last_marked(self, series_name: str) -> int:
        prefix = f"{series_name}.gen-"
        numbers = [int(n[len(prefix):-5]) for n in _names(self.ready_root)
                   if n.startswith(prefix) and n.endswith(".json") and n[len(prefix):-5].isdigit()]
        return max(numbers, default=0)

    def open_series(self) -> list[tuple[str, float, str]]:
        """(series, last receipt as epoch seconds, study) of every series receiving now."""
        found = []
        for name in _names(self.series_root):
            open_dir = self.series_root / name / OPEN
            if not open_dir.is_dir():
                continue
            last, study = _timer(open_dir)
            found.append((name, last, study))
        return found

    def hand_off(self, series_name: str, *, idle_s: float = 0.0, now: float | None = None) -> Ready | None:
        """Turn the open generation of ``series_name`` into the next generation and write its
        marker, if no instance arrived for ``idle_s`` seconds (checked under the lock, so an
        instance arriving meanwhile keeps the series open); None when nothing was handed off."""
        now = time.time() if now is None else now
        with self._lock:
            series = self.series_root / series_name
            open_dir = series / OPEN
            if not open_dir.is_dir() or now - _timer(open_dir)[0] < idle_s:
                return None
            if not any(n.endswith(INSTANCE_SUFFIX) for n in _names(open_dir)):
                shutil.rmtree(open_dir)  # a timer without instances (cannot be acknowledged data)
                fsync_directory(series)
                return None
            if self._unchanged_since_purge(series, open_dir):
                shutil.rmtree(open_dir)  # re-sent with the bytes they had when purged: nothing new (SRS-097)
                fsync_directory(series)
                return None
            # markers and the counter count too: a worker may have purged old generations (folders,
            # markers): a number is never used twice for a series, so neither are result UIDs made from it
            number = max(self.last_generation(series) or 0, self._last_marked(series.name), _counter(series)) + 1
            staging = series / f".gen-{number:04d}.staging"
            os.rename(open_dir, staging)
            fsync_directory(series)
            return self._finish(series, number, now=now)

    def _unchanged_since_purge(self, series: Path, open_dir: Path) -> bool:
        """Every instance received since the series' newest generation was purged has the bytes
        it had then (a sender retrying, a study sent again): no new generation is made. With one
        new or changed instance, the generation holds every instance received, identical or not,
        so a whole series sent again after a purge is analysed again (the worker refuses one made
        from a part of it: ``purged_missing``)."""
        purged_generation, purged = _purged(series)
        if purged_generation is None or self.last_generation(series) is not None:
            return False  # no record, or a generation is still on disk (the commit compared with it)
        names = [n for n in _names(open_dir) if n.endswith(INSTANCE_SUFFIX)]
        return all(purged.get(n) == instance_digest(open_dir / n) for n in names)

    def _finish(self, series: Path, number: int, *, now: float | None = None, recovered: bool = False) -> Ready | None:
        """Roll the staging folder of generation ``number`` forward (idempotent): link the
        previous generation's other instances in, fsync, rename, write the marker once."""
        staging = series / f".gen-{number:04d}.staging"
        final = series / generation_name(number)
        previous = series / generation_name(number - 1) if number > 1 else None
        if staging.is_dir():
            if _counter(series) < number:  # before the generation can be marked (and later purged)
                _write_durably(series / COUNTER, str(number).encode())
            for leftover in staging.glob(".*.tmp"):
                leftover.unlink()
            if previous is not None and previous.is_dir():
                for name in _names(previous):
                    if name.endswith(INSTANCE_SUFFIX) and not (staging / name).exists():
                        os.link(previous / name, staging / name)
            fsync_directory(staging)
            os.rename(staging, final)
            fsync_directory(series)
        return self._mark(series, number, now=now, recovered=recovered)

    def _mark(self, series: Path, number: int, *, now: float | None = None, recovered: bool = False) -> Ready | None:
        final = series / generation_name(number)
        instances = tuple(sorted(n for n in _names(final) if n.endswith(INSTANCE_SUFFIX)))
        last, study = _timer(final)
        ready_at = time.time() if now is None else now
        marker = self.ready_root / f"{series.name}.{generation_name(number)}.json"
        content = {
            "format": MARKER_FORMAT, "series": series.name, "study": study, "generation": number,
            "folder": str(final.relative_to(self.root)), "instances": list(instances),
            "supersedes": number - 1 if number > 1 else None, "last_received_utc": utc_text(last),
            "ready_utc": utc_text(ready_at), "recovered": recovered,
            # instances of the purged generation this one was not made with (they are gone)
            "purged_missing": _missing_after_purge(series, instances),
        }
        if not _create_once(marker, json.dumps(content, indent=1, sort_keys=True).encode()):
            return None  # already ready: never twice
        return _ready(self.root, marker)

    # --- announcing (the Series Ready audit entry) ---

    def announced(self, ready: Ready) -> None:
        """Record that ``ready`` was announced (its audit entry is durable): ``<marker>.announced``."""
        _create_once(ready.marker.with_suffix(".announced"), b"")

    def unannounced(self) -> list[Ready]:
        """Generations ready but not announced yet: the process died between the marker and its
        audit entry. Announced again on start, so every hand-off is in the trail at least once."""
        return [r for r in ready_markers(self.root) if not r.marker.with_suffix(".announced").exists()]

    # --- start-up ---

    def recover(self) -> list[Ready]:
        """Make the spool consistent after a crash (see the module doc); returns the generations
        that became ready only now. Call with :meth:`lock` held, before serving."""
        with self._lock:
            for folder in (self.tmp, self.ready_root):  # partial receives, unlinked marker temp files
                for name in _names(folder):
                    if folder == self.tmp or name.endswith(".tmp"):
                        (folder / name).unlink()
                fsync_directory(folder)
            return self.complete_hand_offs()

    def complete_hand_offs(self) -> list[Ready]:
        """Finish every interrupted hand-off (staging folder rolled forward, missing marker
        written); safe while serving (receives in progress are untouched). Returns what became
        ready only now."""
        became_ready: list[Ready] = []
        with self._lock:
            for series_name in _names(self.series_root):
                series = self.series_root / series_name
                if not series.is_dir():
                    continue
                for leftover in series.glob(".*.tmp"):  # an interrupted write of the generation counter
                    leftover.unlink()
                open_dir = series / OPEN
                if open_dir.is_dir():
                    for leftover in open_dir.glob(".*.tmp"):
                        leftover.unlink()
                    if not any(n.endswith(INSTANCE_SUFFIX) for n in _names(open_dir)):
                        shutil.rmtree(open_dir)  # created, then killed before its first instance landed
                        fsync_directory(series)
                staged = sorted(int(m[1]) for n in _names(series) if (m := _STAGING.match(n)))
                for number in staged:
                    ready = self._finish(series, number, recovered=True)
                    if ready is not None:
                        became_ready.append(ready)
                for number in sorted(int(m[1]) for n in _names(series) if (m := _GEN.match(n))):
                    ready = self._mark(series, number, recovered=True)
                    if ready is not None:
                        became_ready.append(ready)
        return became_ready


def ready_markers(root: Path) -> list[Ready]:
    """Every hand-off marker in the spool at ``root`` (``DEVICE_AI_HOME/node``), oldest first."""
    ready_root = Path(root) / "ready"
    markers = []
    for name in _names(ready_root):
        if name.endswith(".json"):
            with contextlib.suppress(FileNotFoundError):  # purged since the listing (node.retention)
                markers.append(_ready(Path(root), ready_root / name))
    return sorted(markers, key=lambda r: (r.ready_utc, r.series, r.generation))


def _ready(root: Path, marker: Path) -> Ready:
    content = json.loads(marker.read_text(encoding="utf-8"))
    return Ready(series=content["series"], study=content["study"], generation=content["generation"],
                 folder=root / content["folder"], instances=tuple(content["instances"]),
                 supersedes=content["supersedes"], last_received_utc=content["last_received_utc"],
                 ready_utc=content["ready_utc"], marker=marker, recovered=content["recovered"],
                 purged_missing=int(content.get("purged_missing", 0)))


def instance_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _purged(series: Path) -> tuple[int | None, dict[str, str]]:
    """(generation, instance name -> SHA-256) of the series' newest generation when the retention
    deleted it; (None, {}) when none was."""
    try:
        content = json.loads((series / PURGED).read_bytes())
        return int(content["generation"]), dict(content["instances"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}


def _missing_after_purge(series: Path, instances: tuple[str, ...]) -> int:
    """How many instances of the series as last analysed (the retention's record) a generation
    holding ``instances`` lacks. Generations only grow (each holds its predecessor's instances), so only a
    purge can make one lack an instance that an analysed generation held."""
    return len(set(_purged(series)[1]) - set(instances))


def _counter(series: Path) -> int:
    try:
        return int((series / COUNTER).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0


def _names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def _private(folder: Path) -> None:
    try:
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_directory(folder.parent)
    except OSError as exc:
        raise ConfigError(f"cannot create the spool folder {folder}: {exc.strerror or exc}",
                          hint="check DEVICE_AI_HOME: it must be writable by this service") from exc


def _make_dir(folder: Path) -> None:
    """Create ``folder`` (0700) durably: its entry in the parent is fsynced."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700)
        fsync_directory(folder.parent)


def _write_durably(path: Path, data: bytes) -> None:
    """Atomic replace of ``path`` with ``data``: temp file fsynced, renamed, folder fsynced."""
    replace_durably(path, data)


def _create_once(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless the name exists (then False, nothing changed): the
    name never holds a partial file and is never replaced (``atomic_io.write_once``)."""
    if path.exists():
        return False
    try:
        return write_once(path, data)
    except FileExistsError:
        return False  # another writer created it first with other bytes: theirs stays


def _timer(folder: Path) -> tuple[float, str]:
    """(last receipt, study pseudonym) of an open or handed-off generation; a missing or torn
    timer (cannot be: it is replaced atomically) falls back to the newest instance's mtime."""
    try:
        content = json.loads((folder / TIMER).read_bytes())
        return float(content["last"]), str(content["study"])
    except (OSError, ValueError, KeyError, TypeError):
        times = [(folder / n).stat().st_mtime for n in _names(folder) if n.endswith(INSTANCE_SUFFIX)]
        return (max(times) if times else time.time()), ""
