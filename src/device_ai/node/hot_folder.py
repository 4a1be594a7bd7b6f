"""``device-ai watch IN OUT``: the node's hot folder, for workstations without DICOM networking
(issue 15 item 5; SRS-136 to SRS-139). Files dropped into IN go through the same spool, idle
timer, worker and outbound queue as what ``device-ai serve`` receives
(:class:`device_ai.node.runtime.NodeRuntime`); only the way instances arrive differs.

**When a file is taken (SRS-136).** IN is polled (every ``node_watch_settle_s / 4`` seconds, at
most 1 s; no inotify) down to ``MAX_DEPTH`` folders, looking at most ``MAX_FILES_PER_PASS``
files per pass. Names starting with ``.`` or ``~`` and names ending in a temporary suffix
(``TEMPORARY_SUFFIXES``: ``.part``, ``.tmp``, ...) are never looked at: write under such a name
and rename it into place, and the file appears whole. Any other regular file is taken only
once its device, inode, size, modification and change times were seen unchanged for
``node_watch_settle_s`` (default 5 s): a copy still running, even a slow one, keeps changing
them. When taken, the file is opened without following links, checked against that signature,
read, and checked again, so bytes that changed while being read are never used. Hidden folders
are not entered. A copy that stalls for longer than the settle interval cannot be told from a
finished one by any poller; a file cut short that way is refused (the reader finds it
truncated) rather than analysed, unless it is cut exactly between two data elements.

**More files than one pass looks at (THR-005; review 134 T1, re-review 141 D1/D2).** A pass
lists IN (names only, folder by folder, by name: at most ``MAX_LISTED`` files; the names past
that are not looked at until others leave IN, said once in the log) and looks at the files
(``lstat``). While IN holds at most ``MAX_FILES_PER_PASS`` files every pass looks at all of them.
Beyond that IN is looked at in turns, taken from a queue: each name joins it at the first
listing that showed it, and a file's turn key is (when it joined, its place in the listing). A
turn is the first ``MAX_FILES_PER_PASS`` files in that order, fixed at the turn's first pass and
looked at by every pass for ``node_watch_settle_s``; then its files still in IN join the queue
again, at its back, and the next turn lists IN again. A renamed or new file is a new name, so it
comes after every file already waiting. A file that stops changing is therefore taken within
ceil(k / ``MAX_FILES_PER_PASS``) + 1 turns of the first listing after its last change (k: the
files before it in that order then), whatever is added, renamed or kept changing later: files
that never settle delay it, never hide it. A file seen changing (its signature differs from an
earlier sighting; a first sighting is no evidence) for ``unsettled_report_s`` (max(60 s, 12
settle intervals)) without settling is left in IN, not moved: a writer that keeps writing would
follow the file into the rejected folder and could start another at once, and a slow copy that is
still running would be cut off. It is reported instead, once per file (at most
``MAX_FILES_PER_PASS`` files are followed for this report at a time): a warning in the log and an
audit entry (``Hot Folder Files Not Settling``: how many, for how long; no file name), at most
one entry per ``unsettled_report_s``.

**Taking a file (SRS-137).** Its bytes are written to the spool's ``tmp/`` and fsynced, read
back with the device's reader and limits (:func:`device_ai.node.services.identify`, what
``serve`` checks), committed (:meth:`Spool.commit`: renamed into its series, idle timer reset,
folders fsynced), the take recorded in the audit trail, and only then is the file removed from
IN (and IN's folder fsynced). A crash at any moment leaves the file in IN, in the spool, or in
both; in both, it is taken again after a restart, and the spool's rule for instances already
there applies: identical bytes change nothing. So a file is never lost and never analysed
twice. Empty folders left in IN are not removed (a copy may be about to fill them).

**Re-dropped files (the spool's rule, as for ``serve``).** A file whose SOP Instance UID is
already in the spool is taken and removed from IN like any other: with the same bytes it
changes nothing (while its series is still open it replaces itself; after the series was
handed off it is recorded as a duplicate, no new generation, no new result); with different
bytes (a corrected image) it replaces the open one, or, after the hand-off, opens the next
generation of its series, which is analysed again and whose results have new UIDs, written
beside the previous generation's in OUT. An identical re-drop never gives a second result.

**Results (SRS-138).** OUT is a destination of the outbound queue, ``WATCH_DESTINATION``, of
kind ``folder`` (:func:`device_ai.node.outbound.write_to_folder`): each generation's SEG and SR
are created once as ``OUT/<study>/<series>.gen-NNNN/segmentation.dcm`` and ``measurements.dcm``
(keyed pseudonyms, as in the audit trail and ``device-ai status``; no UID or patient value in a
name), each by one hard link of a complete, fsynced file, with the modes of analyze's results
whatever the umask (SRS-217: 0700/0600, or 0750/0640 with ``results_group_readable``; OUT itself,
when watch creates it, too). The destinations of ``node_destinations`` get the results too, as
from ``serve``.

**Refused files (SRS-139).** A file that is not readable DICOM within the reading limits, is
larger than ``node_max_instance_mb``, lacks an identifying UID, is not CT Image Storage or uses
a transfer syntax ``serve`` does not accept, is a DICOMDIR, or is a symbolic link, is moved to
the rejected folder (default ``OUT/rejected``) under its path relative to IN (`` (1)`` added
before the extension when that name is taken), beside ``<name>.reason.txt`` (error code, the
device's reason, the reader's message, what to do; no traceback), and recorded in the audit
trail (error code and the device's fixed reason, the instance by pseudonym when it could be
read; never the file's name). The reason file is written and the refusal audited before the
move, so a crash repeats them at worst. The other files go on. Where the file's place under the
rejected folder would pass the system's path limits, it goes directly into the rejected folder
under a short name: the first characters of its name after a digest of its path relative to IN
(the reason file keeps that path). A file whose own path is longer than the system allows
cannot be opened by it: it is refused (DAI-201) and moved aside by its folder the same way.
Refused files are kept as dropped, bytes, preamble and name, as the site's evidence, but not
handed to other systems (THR-016): the rejected folder and the folders below it are created
owner-only (0700) whatever the umask, an existing one open to group or others is refused at
start (DAI-100), and the reason files and the moved files this account owns are 0600 (a file
another account wrote into IN keeps its mode; the folder keeps others out).

**Paths (SRS-109, SRS-017).** IN is an input: a path the system cannot look at is refused as a
missing IN is (DAI-100, exit 2). OUT and the rejected folder are output paths, checked before
anything is written: a symbolic link, a file, a name or path too long for what is written inside
(``preconditions.check_output_place``) is refused with DAI-501 (exit 6). They may already exist and
hold earlier results.

One process uses a home's spool (``serve`` or ``watch``); ``watch`` stops on SIGTERM or
Ctrl-C after the file it is taking (the CLI sets the stop event), then stops the worker and
the outbound queue like ``serve``.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import shutil
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from device_ai import cleartext
from device_ai.app import preconditions
from device_ai.app.context import Context
from device_ai.atomic_io import Access, fsync_directory, make_dirs_durably, replace_durably, result_access
from device_ai.config import Destination
from device_ai.dicom.paths import length_problem
from device_ai.errors import ConfigError
from device_ai.node import services
from device_ai.node.runtime import NodeRuntime
from device_ai.node.spool import utc_text
from device_ai.node.trail import HOT_FOLDER

LOG = logging.getLogger("device_ai.node.hot_folder")
MIB = 1024 * 1024
WATCH_DESTINATION = "watch-out"  # the outbound queue's name for OUT (outbound/<state>/watch-out/)
REJECTED_FOLDER = "rejected"
REASON_SUFFIX = ".reason.txt"
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart", ".swp")
MAX_DEPTH = 32
MAX_FILES_PER_PASS = 10_000
MAX_LISTED = 200_000  # names one listing gives (measured: 0.4-0.5 s of CPU and ~70 MiB, once per turn)
RETRY_AFTER_FAILURE_S = 30.0
UNSETTLED_REPORT_MIN_S = 60.0  # a file changing this long (and 12 settle intervals) is reported (THR-005)

Signature = tuple[int, int, int, int, int]  # device, inode, size, mtime ns, ctime ns
Sighting = tuple[Signature, float, float]  # the signature, when first seen with it, when last seen


@dataclass(frozen=True)
class Turn:
    """Files of IN looked at by every pass for one settle interval (IN holds more than one pass looks at)."""

    started: float  # monotonic time of its first pass
    files: list[str]  # fixed at its first pass, in turn-key order


@dataclass(frozen=True)
class Refusal:
    code: str  # DAI-xxx
    reason: str  # the device's fixed text: audit trail and reason file
    detail: str = ""  # the reader's message (it may name the file): the reason file only
    hint: str = ""
    sop_class: str = ""  # a standard SOP Class UID, or empty
    instance: str | None = None  # pseudonym of the SOP Instance UID, when it could be read


@dataclass
class Pass:
    """What one scan of IN did."""

    taken: int = 0
    duplicates: int = 0  # taken; identical to the instance already handed off: nothing changed
    rejected: int = 0
    waiting: int = 0  # seen, not settled yet (or not taken now: spool nearly full, changed meanwhile)


def _signature(info: os.stat_result) -> Signature:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _skipped(name: str) -> bool:
    return name.startswith((".", "~")) or name.lower().endswith(TEMPORARY_SUFFIXES)


_READ_REASONS = {
    "DAI-201": "not a readable DICOM Part 10 file",
    "DAI-202": "truncated, or beyond a reading limit (size, elements, nesting, inflation)",
}


class HotFolder:
    """``start()``, then ``scan_once()`` or ``run(stop)``, then ``stop()``."""

    def __init__(self, ctx: Context, inbox: Path, out: Path, *, rejected: Path | None = None,
                 settle_s: float | None = None, pipeline: bool = True) -> None:
        settings = ctx.settings
        self.inbox = Path(inbox).absolute()
        self._prefix = os.path.join(str(self.inbox), "")  # of every path listed under IN
        self.out = Path(out).absolute()
        self.rejected = Path(rejected).absolute() if rejected is not None else self.out / REJECTED_FOLDER
        self.settle_s = settings.node_watch_settle_s if settle_s is None else settle_s
        self.poll_s = max(0.05, min(1.0, self.settle_s / 4))
        if any(d.name == WATCH_DESTINATION for d in settings.node_destinations):
            raise ConfigError(f"node_destinations has a destination named {WATCH_DESTINATION}, the name of watch's OUT",
                              hint="rename that destination")
        out_destination = Destination(name=WATCH_DESTINATION, kind="folder", path=self.out)
        self.ctx = dataclasses.replace(ctx, settings=settings.model_copy(
            update={"node_destinations": (*settings.node_destinations, out_destination)}))
        self.runtime = NodeRuntime(self.ctx, pipeline=pipeline)
        self.spool = self.runtime.spool
        self.limits = ctx.read_limits()
        self.max_bytes = settings.node_max_instance_mb * MIB
        self.min_free = settings.node_min_free_mb * MIB
        self._check_paths()
        self._folders()
        self._watched: dict[Path, Sighting] = {}  # the files the latest pass looked at
        self._kept: dict[Path, Signature] = {}  # taken, but IN would not let it be removed: not taken again
        self._retry_after: dict[Path, float] = {}  # a take that failed (not the file's fault): wait
        self._warned: set[str] = set()
        # IN looked at in turns once it holds more than MAX_FILES_PER_PASS files (review 134 T1, re-review 141 D1):
        # a queue of the names of the latest listing, each with the time it joined it (first listed, or its turn ended)
        self._queued: dict[str, float] = {}
        self._turn: Turn | None = None
        # files seen changing, not settled yet: path -> [changing since, reported]; at most MAX_FILES_PER_PASS
        self._unsettled: dict[Path, list] = {}
        self.unsettled_report_s = max(UNSETTLED_REPORT_MIN_S, 12 * self.settle_s)
        self._unreported = 0  # files past the report interval not yet in an audit entry
        self._last_report: float | None = None

    @property
    def trail(self):  # noqa: ANN201 - NodeTrail
        return self.runtime.trail

    def _check_paths(self) -> None:
        """IN (an input) can be looked at; OUT and the rejected folder are usable output places
        (not a link, not a file, room for what is written inside): before anything is created."""
        preconditions.check_input_path(self.inbox, "the IN folder")  # missing: refused by _folders
        preconditions.check_output_place(self.out, "OUT")
        preconditions.check_output_place(self.rejected, "--rejected")

    def _folders(self) -> None:
        """IN must exist; IN, OUT, the rejected folder and the spool must not hold one another
        (what the device writes would be taken as input). OUT and the rejected folder are created
        by :meth:`start`, once the audit log has accepted this device's key and origin."""
        if not self.inbox.is_dir():
            raise ConfigError(f"the IN folder {self.inbox} does not exist or is not a folder",
                              hint="create it, or give the folder files are dropped into")
        mode = stat.S_IMODE(self.inbox.stat().st_mode)
        if mode & stat.S_IWOTH:  # any account of the host could drop a study as the site's (THR-004)
            raise ConfigError(f"the IN folder {self.inbox} is writable by every account (mode {mode:04o}); "
                              "files dropped there would be analysed as the site's studies",
                              hint=f"let only the accounts that export studies write to it: chmod o-w {self.inbox}")
        named = {"IN": self.inbox.resolve(), "OUT": self.out.resolve(),
                 "the rejected folder": self.rejected.resolve(), "the spool": self.spool.root.resolve()}
        for one, other in (("IN", "OUT"), ("IN", "the rejected folder"), ("IN", "the spool"), ("OUT", "the spool"),
                           ("the rejected folder", "the spool")):
            a, b = named[one], named[other]
            if a.is_relative_to(b) or b.is_relative_to(a):
                raise ConfigError(f"{one} ({a}) and {other} ({b}) overlap: what the device writes would be taken as "
                                  "input, or written over what it keeps",
                                  hint="give IN, OUT and the rejected folder as separate folders, none inside another "
                                       "(OUT may hold the rejected folder) nor inside DEVICE_AI_HOME/node")
        self._check_rejected_private()

    def _check_rejected_private(self) -> None:
        """The rejected folder keeps refused files as dropped (any preamble, any name: THR-016) for
        the site's evidence, not for other systems: one that exists open to group or others is
        refused, never re-moded (the site decides), as the key store's folders are."""
        try:
            info = self.rejected.stat()
        except OSError:
            return  # made owner-only by _make_folders
        if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o077:
            raise ConfigError(f"the rejected folder {self.rejected} has mode {stat.S_IMODE(info.st_mode):04o}: other "
                              "accounts can reach the refused files kept there as dropped (an executable preamble "
                              "or name included)",
                              hint=f"make it owner-only (chmod 700 {self.rejected}), or give another --rejected folder")

    def _make_folders(self) -> None:
        """OUT with the results' folder mode (SRS-217), the rejected folder owner-only (THR-016),
        whatever the umask; a folder that exists keeps the modes the site gave it (the rejected
        folder is checked by :meth:`_folders`)."""
        results = result_access(self.ctx.settings.results_group_readable)
        for folder, access in ((self.out, results), (self.rejected, Access.PRIVATE)):
            try:
                if not folder.is_dir():
                    folder.mkdir(mode=access.folder_mode(), parents=True, exist_ok=True)
                    os.chmod(folder, access.folder_mode())  # the umask narrows mkdir's mode
            except OSError as exc:
                raise ConfigError(f"cannot create {folder}: {exc.strerror or exc}",
                                  hint="give an OUT (and rejected) folder this service can write") from None

    # --- life cycle ---

    def start(self) -> None:
        self.runtime.open()  # the audit log first: a refused log (DAI-701) leaves no OUT behind
        try:
            self._make_folders()
            self.trail.started({"source": HOT_FOLDER, "in": str(self.inbox), "out": str(self.out),
                                "rejected": str(self.rejected), "settle_s": f"{self.settle_s:g}",
                                "series_idle_s": f"{self.runtime.idle_s:g}",
                                **cleartext.accepted(self.ctx.settings.node_destinations)})  # SRS-226
            self.runtime.start()
        except BaseException:
            self.runtime.close()
            raise

    def stop(self) -> None:
        """Stop assembling, the worker and the outbound queue; record the stop (call once)."""
        self.runtime.stop()
        try:
            if self.trail is not None:
                self.trail.stopped({"source": HOT_FOLDER, "in": str(self.inbox)})
        finally:
            self.runtime.close()

    def run(self, stop: threading.Event) -> None:
        """Scan IN every ``poll_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.scan_once(stop=stop)
            except Exception:  # keep watching; what was not taken stays in IN
                LOG.exception("hot folder pass failed; retrying")
            stop.wait(self.poll_s)

    # --- scanning ---

    def order(self, path: Path | str) -> tuple:
        """Where ``path`` comes in :meth:`listing`'s order: folders breadth first, each folder's
        entries by name, so (depth, the names of its path relative to IN)."""
        parts = tuple(str(path)[len(self._prefix):].split(os.sep))
        return (len(parts), parts)

    def turn_key(self, path: str) -> tuple:
        """Where ``path`` comes in the turns: (:meth:`queued_since`, :meth:`order`). A renamed or new
        file comes after every file already known, a file whose turn ended after every file waiting."""
        return (self.queued_since(path), self.order(path))

    def queued_since(self, path: str) -> float:
        """When ``path``'s name joined the queue of turns: the first listing that showed it, or the
        end of its last turn (kept while listings show the name)."""
        return self._queued[path]

    def listing(self) -> list[str]:
        """The paths of the regular files and links under IN that are not skipped, folder by folder
        in name order, at most ``MAX_LISTED``: names only (each folder's entry types, no stat of a
        file), without entering hidden folders, links to folders or folders that every account can
        write (THR-004)."""
        found: list[str] = []
        queue = deque([(str(self.inbox), 0)])
        while queue:
            folder, depth = queue.popleft()
            try:
                with os.scandir(folder) as scanned:
                    entries = sorted(scanned, key=lambda e: e.name)
            except OSError:
                continue  # removed meanwhile, or not readable: looked at again next listing
            for entry in entries:
                if _skipped(entry.name):
                    continue
                kind = _kind(entry)
                if kind == "file":
                    if len(found) >= MAX_LISTED:
                        self._warn(f"{self.inbox} holds more than {MAX_LISTED} files; the files past the first "
                                   f"{MAX_LISTED} (folder by folder, by name) are not looked at until others leave it")
                        return found
                    found.append(entry.path)
                elif kind == "folder":
                    self._enter(entry, depth, queue)
        return found

    def _enter(self, entry: os.DirEntry, depth: int, queue: deque) -> None:
        """Queue a folder of IN to be listed, unless every account can write it or it is too deep."""
        info = _entry_lstat(entry)
        if info is None or not stat.S_ISDIR(info.st_mode):
            return
        if info.st_mode & stat.S_IWOTH:  # any account could drop a study there (THR-004, review 120)
            self._warn(f"folders under {self.inbox} that every account can write are not looked into; "
                       "let only the accounts that export studies write to them (chmod o-w)")
        elif depth < MAX_DEPTH:
            queue.append((entry.path, depth + 1))
        else:
            self._warn(f"folders deeper than {MAX_DEPTH} levels under {self.inbox} are not looked into")

    def candidates(self, paths: list[str] | None = None) -> Iterator[tuple[Path, os.stat_result]]:
        """(path, lstat) of the regular files and links among ``paths`` (default: :meth:`listing`)
        that are still there, without files that every account can write (THR-004)."""
        for name in self.listing() if paths is None else paths:
            path = Path(name)
            try:
                info = _lstat(path)
            except OSError:
                continue
            if info is None:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mode & stat.S_IWOTH:
                # any account could rewrite it before it settles (THR-004, review 127 defect 3): left in IN
                self._warn(f"files under {self.inbox} that every account can write are not taken; let the "
                           "exporting accounts write them without the other-write bit (umask 002 or 022)")
            elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                yield path, info

    def next_turn(self, listed: list[str]) -> list[str]:
        """The first ``MAX_FILES_PER_PASS`` files of ``listed`` in turn-key order."""
        return sorted(listed, key=self.queued_since)[:MAX_FILES_PER_PASS]  # stable; a listing is in order()

    def _files_of_this_pass(self, now: float) -> list[str]:
        """The turn's files; else IN listed again: all of it, or, beyond ``MAX_FILES_PER_PASS``
        files, a new turn's."""
        if self._turn is not None:
            return self._turn.files
        listed = self.listing()
        self._queued = {path: self._queued.get(path, now) for path in listed}
        names = set(listed)
        self._kept = {p: s for p, s in self._kept.items() if str(p) in names}  # state of names still in IN only
        self._retry_after = {p: t for p, t in self._retry_after.items() if str(p) in names}
        self._unsettled = {p: state for p, state in self._unsettled.items() if str(p) in names}
        if len(listed) <= MAX_FILES_PER_PASS:  # every file of IN is looked at: no turns (again)
            return listed
        files = self.next_turn(listed)
        self._turn = Turn(now, files)
        self._warn(f"{self.inbox} holds more than {MAX_FILES_PER_PASS} files; they are looked at in turns of "
                   f"{MAX_FILES_PER_PASS}, each for node_watch_settle_s, the files waiting longest first")
        return files

    def scan_once(self, now: float | None = None, stop: threading.Event | None = None) -> Pass:
        """Look at IN once and take every file that has settled (``now``: a monotonic time, given
        by tests)."""
        now = time.monotonic() if now is None else now
        done = Pass()
        watched: dict[Path, Sighting] = {}
        due: list[tuple[Path, os.stat_result]] = []
        for path, info in self.candidates(self._files_of_this_pass(now)):
            signature = _signature(info)
            if self._kept.get(path) == signature:  # taken, IN would not let it go: not taken again
                continue
            self._kept.pop(path, None)
            seen = self._watched.get(path)
            changed = seen is not None and seen[0] != signature  # a first sighting is no evidence of change
            since = now if seen is None or changed else seen[1]
            watched[path] = (signature, since, now)
            if now - since >= self.settle_s and now >= self._retry_after.get(path, 0.0):
                due.append((path, info))
                self._unsettled.pop(path, None)
            else:
                done.waiting += 1
                if changed:  # since the sighting before (review 141 D2: a first sighting is no evidence)
                    self._follow_unsettled(path, now, changing_since=seen[2])
        self._watched = watched
        self._retry_after = {p: t for p, t in self._retry_after.items() if t > now}
        for path, info in due:
            if stop is not None and stop.is_set():
                break
            try:
                outcome = self.take(path, info)
            except Exception:  # not the file's fault (spool or trail not writable, a defect): it stays in IN
                LOG.exception("could not take a file from the hot folder; trying again in %g s", RETRY_AFTER_FAILURE_S)
                self._retry_after[path] = now + RETRY_AFTER_FAILURE_S
                outcome = "waiting"
            setattr(done, outcome, getattr(done, outcome) + 1)
        if self._turn is not None and now - self._turn.started >= self.settle_s:  # the turn had its settle interval
            self._queued.update((path, now) for path in self._turn.files if path in self._queued)  # to the back
            self._turn = None
        self._report_unsettled(now)
        return done

    def _follow_unsettled(self, path: Path, now: float, changing_since: float) -> None:
        """Count a file seen changing (since the sighting before the change, ``changing_since``);
        once it has been seen changing for ``unsettled_report_s`` it is due for the report (once)."""
        state = self._unsettled.get(path)
        if state is None:
            if len(self._unsettled) < MAX_FILES_PER_PASS:  # bounded: the report says "at least"
                self._unsettled[path] = [changing_since, False]
            return
        if not state[1] and now - state[0] >= self.unsettled_report_s:
            state[1] = True
            self._unreported += 1

    def _report_unsettled(self, now: float) -> None:
        """Log and audit the files that kept changing for ``unsettled_report_s`` (left in IN), at
        most once per that interval; the entry names no file."""
        if not self._unreported:
            return
        if self._last_report is not None and now - self._last_report < self.unsettled_report_s:
            return
        self.trail.unsettled(count=self._unreported, seconds=self.unsettled_report_s)  # raises: tried next pass
        LOG.warning("%d file(s) in %s kept changing for more than %g s without settling; they are left there and "
                    "looked at again (a copy that never finishes, or files written on purpose to flood IN)",
                    self._unreported, self.inbox, self.unsettled_report_s)
        self._unreported, self._last_report = 0, now

    # --- one file ---

    def take(self, path: Path, info: os.stat_result) -> str:
        """Take one settled file: ``taken``, ``duplicates``, ``rejected`` or ``waiting``."""
        signature = _signature(info)
        if (too_long := length_problem(path)) is not None:  # cannot be opened by its path
            return self._reject(path, signature, Refusal(
                "DAI-201", "a path longer than this system allows", detail=too_long,
                hint="drop files into IN under shorter folder and file names"))
        if stat.S_ISLNK(info.st_mode):
            return self._reject(path, signature, Refusal("DAI-201", "a symbolic link (links are not followed)",
                                                         hint="copy the file itself into the folder"))
        if path.name.upper() == "DICOMDIR":
            return self._reject(path, signature, Refusal(
                "DAI-210", "a DICOMDIR (a file-set index, not an image)",
                hint="nothing to do: the image files it indexes are taken on their own"))
        if info.st_size > self.max_bytes:
            return self._reject(path, signature, Refusal(
                "DAI-202", "larger than node_max_instance_mb",
                detail=f"{info.st_size} bytes; node_max_instance_mb is {self.max_bytes // MIB}",
                hint="a CT slice is far smaller; raise node_max_instance_mb if such files are expected"))
        try:
            free = self.spool.free_bytes()
        except OSError:
            free = 0
        if free - info.st_size < self.min_free:
            self._warn(f"the spool's disk is nearly full (node_min_free_mb): files wait in {self.inbox}")
            return "waiting"
        data = _read_unchanged(path, signature)
        if data is None:  # changed since it settled: it settles again
            self._watched.pop(path, None)
            return "waiting"
        temp = self.spool.write_temp(data)
        try:
            found = services.identify(temp, self.limits)
            refusal = _refusal(found, temp.name, str(path.relative_to(self.inbox)))
            if refusal is not None:
                return self._reject(path, signature, refusal)
            key = found.key()
            stored = self.spool.commit(temp, key)
            self.trail.taken(key, sop_class=found.uids["SOPClassUID"], transfer_syntax=found.transfer_syntax,
                             size=len(data), late_after=stored.late_after, duplicate=stored.duplicate)
        finally:
            self.spool.discard(temp)
        self._remove(path, signature)
        return "duplicates" if stored.duplicate else "taken"

    def _remove(self, path: Path, signature: Signature) -> None:
        """Remove a file from IN once it is durable in the spool and audited."""
        self._watched.pop(path, None)
        try:
            if _signature(os.lstat(path)) != signature:
                return  # written again since it was read: the new content settles and is taken on its own
            os.unlink(path)
            fsync_directory(path.parent)
        except FileNotFoundError:
            return
        except OSError as exc:  # a read-only share: the spool has it; do not take it again in this run
            self._kept[path] = signature
            self._warn(f"cannot remove taken files from {self.inbox} ({exc.strerror or exc}); they are kept there "
                       "and not taken again while this process runs")

    def _reject(self, path: Path, signature: Signature, refusal: Refusal) -> str:
        """Reason file, audit entry, then the file moved to the rejected folder."""
        self._watched.pop(path, None)
        relative = path.relative_to(self.inbox)
        target = self._rejected_place(relative)
        lines = ["device-ai watch refused this file; it was not analyzed.", f"file: {relative}",
                 f"error: {refusal.code}", f"reason: {refusal.reason}"]
        if refusal.detail:
            lines.append(f"detail: {' '.join(refusal.detail.split())}")
        if refusal.hint:
            lines.append(f"what to do: {refusal.hint}")
        lines.append(f"when: {utc_text(time.time())}")
        replace_durably(target.with_name(target.name + REASON_SUFFIX), ("\n".join(lines) + "\n").encode(),
                        Access.PRIVATE.file_mode())
        self.trail.rejected(code=refusal.code, reason=refusal.reason, sop_class=refusal.sop_class,
                            instance=refusal.instance)
        try:
            if (now := _lstat(path)) is not None and _signature(now) == signature:
                _move(path, target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._kept[path] = signature
            self._warn(f"cannot move refused files out of {self.inbox} ({exc.strerror or exc}); see their reason files "
                       f"in {self.rejected}")
        return "rejected"

    def _rejected_place(self, relative: Path) -> Path:
        """A free name for a refused file: its path relative to IN under the rejected folder, or,
        when that (with a ' (n)' and the reason suffix) would pass the system's limits, a short
        name directly in the rejected folder: a digest of ``relative`` and the first characters
        of its name (at most 48 characters: 192 bytes, within NAME_MAX with the suffixes)."""
        room = len(REASON_SUFFIX) + 8
        if length_problem(self.rejected / relative, sibling_extra=room) is None:
            folder = make_dirs_durably(self.rejected, relative.parent, access=Access.PRIVATE)
            return _free_name(folder / relative.name)
        digest = hashlib.sha256(os.fsencode(relative)).hexdigest()[:16]
        return _free_name(self.rejected / f"{digest}-{relative.name[:48]}")

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            LOG.warning(message)


def _kind(entry: os.DirEntry) -> str | None:
    """``file`` (a regular file or a link), ``folder`` (not a link), or None (anything else, or
    gone), from the entry's type as its folder gives it (no stat where the file system says)."""
    try:
        if entry.is_symlink() or entry.is_file(follow_symlinks=False):
            return "file"
        return "folder" if entry.is_dir(follow_symlinks=False) else None
    except OSError:  # the type needed an lstat, and the path is too long for one: through its folder
        info = _entry_lstat(entry)
    if info is None:
        return None
    if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return "file"
    return "folder" if stat.S_ISDIR(info.st_mode) else None


def _entry_lstat(entry: os.DirEntry) -> os.stat_result | None:
    """``lstat`` of a folder's entry (a path too long for the system: through its folder); None when gone."""
    try:
        return entry.stat(follow_symlinks=False)
    except OSError:
        try:
            return _lstat(Path(entry.path))
        except OSError:
            return None


def _refusal(found: services.Identified, temp_name: str, name: str) -> Refusal | None:
    """Why an identified instance cannot be taken, or None (the reader's message names the spool's
    temporary file ``temp_name``: shown as the dropped file's ``name``)."""
    from pydicom.uid import UID_dictionary

    from device_ai.pseudonyms import pseudonym

    if found.error is not None:
        error = found.error
        return Refusal(found.code, _READ_REASONS.get(found.code, _READ_REASONS["DAI-201"]),
                       detail=error.message.replace(temp_name, name), hint=error.hint or "")
    if found.problem:
        return Refusal(found.code, found.problem, hint="the file is not a complete DICOM instance")
    sop_class = found.uids["SOPClassUID"]
    standard = sop_class if sop_class in UID_dictionary else ""
    instance = pseudonym("instance", found.uids["SOPInstanceUID"])
    if sop_class not in services.ACCEPTED_SOP_CLASSES:
        return Refusal("DAI-210", "SOP class outside the intended use (CT Image Storage only)",
                       detail=f"SOP Class UID {sop_class}", sop_class=standard, instance=instance,
                       hint="drop the CT images of the series only")
    if found.transfer_syntax not in services.ACCEPTED_TRANSFER_SYNTAXES:
        return Refusal("DAI-210", "transfer syntax not accepted (uncompressed or lossless compression only)",
                       detail=f"Transfer Syntax UID {found.transfer_syntax}", sop_class=standard, instance=instance,
                       hint="export the images uncompressed or losslessly compressed")
    return None


def _read_unchanged(path: Path, signature: Signature) -> bytes | None:
    """The file's bytes if it still has ``signature`` before and after they were read (not
    following a link), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if _signature(os.fstat(handle.fileno())) != signature:
                return None
            data = handle.read(signature[2] + 1)  # one byte more than settled: a file that grew is seen
            if len(data) != signature[2] or _signature(os.fstat(handle.fileno())) != signature:
                return None
    except OSError:
        return None
    try:
        return data if _signature(os.lstat(path)) == signature else None
    except OSError:
        return None


def _parent_fd(path: Path) -> int:
    """A descriptor of ``path``'s folder, for a name whose whole path is too long to use."""
    return os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def _lstat(path: Path) -> os.stat_result | None:
    """``lstat`` of ``path``, through its folder when the whole path is too long; None when gone."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    fd = _parent_fd(path)
    try:
        return os.stat(path.name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)


def _free_name(path: Path) -> Path:
    """``path``, or ``stem (n)suffix`` for the first n whose name is free."""
    n = 0
    candidate = path
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def _move(source: Path, target: Path) -> None:
    """Move a file (or a link) durably: a rename within a file system, else a copy fsynced and
    renamed into place (a link: created again), then the source removed. ``target`` must be a
    free name."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # the source's path is too long: renamed through its folder
            fd = _parent_fd(source)
            try:
                os.rename(source.name, target, src_dir_fd=fd)  # another file system (EXDEV): left, warned
                os.fsync(fd)
            finally:
                os.close(fd)
            _owner_only(target)
            fsync_directory(target.parent)
            return
        if exc.errno != errno.EXDEV:
            raise
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
            fsync_directory(target.parent)
        else:
            with open(source, "rb") as src:
                replace_durably(target, lambda handle: shutil.copyfileobj(src, handle, MIB), Access.PRIVATE.file_mode())
        os.unlink(source)
    else:
        _owner_only(target)
        fsync_directory(target.parent)
    fsync_directory(source.parent)


def _owner_only(path: Path) -> None:
    """A refused file renamed into the rejected folder: 0600 when this account owns it (THR-016).
    A file another account wrote into IN keeps its mode (only its owner or root may change it); the
    owner-only rejected folder keeps every other account from reaching it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a link is left as it is
    except OSError:
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except OSError:
        pass  # the folder still keeps other accounts out
    finally:
        os.close(fd)


def watch_until(ctx: Context, inbox: Path, out: Path, stop: threading.Event, *, rejected: Path | None = None,
                announce: Callable[..., None] = print) -> int:
    """Run the hot folder until ``stop`` is set (the CLI sets it on SIGTERM or SIGINT)."""
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    folder = HotFolder(ctx, inbox, out, rejected=rejected)
    folder.start()
    try:
        announce(f"device-ai watch: taking DICOM files from {folder.inbox} once unchanged for {folder.settle_s:g} s; "
                 f"results in {folder.out}; refused files in {folder.rejected}; spool {folder.spool.root}; series "
                 f"ready after {folder.runtime.idle_s:g} s idle", flush=True)
        accepted = cleartext.accepted(folder.ctx.settings.node_destinations)
        if accepted:  # said once, at start; the same is in the start's audit entry (SRS-226)
            announce("device-ai watch: clear text on the network, accepted by the site (stated reason): "
                     + "; ".join(f"destination {key.removeprefix('cleartext_destination_')} {value}"
                                 for key, value in accepted.items()), flush=True)
        folder.run(stop)
    finally:
        folder.stop()
    return 0
