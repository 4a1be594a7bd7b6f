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

**More files than one pass looks at (THR-005, review 134 defect T1).** Files are looked at in
order (folder by folder, by name). While IN holds fewer than ``MAX_FILES_PER_PASS`` files every
pass looks at all of them. When a pass reaches the cap, IN is looked at in turns: a turn is the
first ``MAX_FILES_PER_PASS`` files after where the previous turn ended (wrapping round to the
start), looked at by every pass for ``node_watch_settle_s``; then the next turn starts after the
last file the turn's first pass saw. Files that never settle (kept growing, or rewritten) can
therefore delay the others by one turn each (every ``MAX_FILES_PER_PASS`` files cost one settle
interval), never hide them: a file that stays unchanged is taken in the first turn that saw it
from its start. A file seen changing for ``unsettled_report_s`` (max(60 s, 12 settle
intervals)) without settling is left in IN, not moved: a writer that keeps writing would follow
the file into the rejected folder and could start another at once, and a slow copy that is
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
RETRY_AFTER_FAILURE_S = 30.0
UNSETTLED_REPORT_MIN_S = 60.0  # a file changing this long (and 12 settle intervals) is reported (THR-005)

Signature = tuple[int, int, int, int, int]  # device, inode, size, mtime ns, ctime ns


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
        self._watched: dict[Path, tuple[Signature, float]] = {}  # path -> (signature, first seen with it)
        self._kept: dict[Path, Signature] = {}  # taken, but IN would not let it be removed: not taken again
        self._retry_after: dict[Path, float] = {}  # a take that failed (not the file's fault): wait
        self._warned: set[str] = set()
        # IN looked at in turns once a pass reaches MAX_FILES_PER_PASS (review 134 defect T1)
        self._cursor: tuple | None = None  # the order key after which the current turn starts
        self._turn: tuple[float, tuple] | None = None  # (when the turn started, order key of its first pass's last file)
        # files not settled yet: path -> [first seen, reported]; at most MAX_FILES_PER_PASS, kept across turns
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

    def order(self, path: Path) -> tuple:
        """Where ``path`` comes in :meth:`candidates`' order: folders breadth first, each folder's
        entries by name, so (depth, the names of its path relative to IN)."""
        parts = path.relative_to(self.inbox).parts
        return (len(parts), parts)

    def candidates(self, after: tuple | None = None) -> Iterator[tuple[Path, os.stat_result]]:
        """(path, lstat) of at most ``MAX_FILES_PER_PASS`` regular files and links under IN that
        are not skipped, folder by folder in name order, without entering hidden folders, links to
        folders or folders that every account can write, and without files that every account can
        write (THR-004). With ``after`` (an :meth:`order` key), the files after it come first,
        then those from the start of IN up to it: the pass starts where the previous turn ended."""
        count = 0
        ranges = [None] if after is None else [lambda key: key > after, lambda key: key <= after]
        for in_range in ranges:
            for found in self._walk(in_range):
                yield found
                count += 1
                if count >= MAX_FILES_PER_PASS:
                    return

    def _walk(self, in_range: Callable[[tuple], bool] | None) -> Iterator[tuple[Path, os.stat_result]]:
        """Every file :meth:`candidates` may give, in its order; with ``in_range``, only the files
        whose order key it accepts (the others are passed over without a stat)."""
        queue = deque([(self.inbox, 0)])
        while queue:
            folder, depth = queue.popleft()
            try:
                with os.scandir(folder) as entries:
                    found = sorted(entries, key=lambda e: e.name)
            except OSError:
                continue  # removed meanwhile, or not readable: looked at again next pass
            for entry in found:
                if _skipped(entry.name):
                    continue
                if in_range is not None and not _is_folder(entry) and not in_range(self.order(Path(entry.path))):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:  # a path too long for the system: looked at through its folder
                    try:
                        info = _lstat(Path(entry.path)) if exc.errno == errno.ENAMETOOLONG else None
                    except OSError:
                        info = None
                    if info is None:
                        continue
                if stat.S_ISDIR(info.st_mode):
                    if info.st_mode & stat.S_IWOTH:  # any account could drop a study there (THR-004, review 120)
                        self._warn(f"folders under {self.inbox} that every account can write are not looked into; "
                                   "let only the accounts that export studies write to them (chmod o-w)")
                    elif depth < MAX_DEPTH:
                        queue.append((Path(entry.path), depth + 1))
                    else:
                        self._warn(f"folders deeper than {MAX_DEPTH} levels under {self.inbox} are not looked into")
                elif stat.S_ISREG(info.st_mode) and info.st_mode & stat.S_IWOTH:
                    # any account could rewrite it before it settles (THR-004, review 127 defect 3): left in IN
                    self._warn(f"files under {self.inbox} that every account can write are not taken; let the "
                               "exporting accounts write them without the other-write bit (umask 002 or 022)")
                elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                    yield Path(entry.path), info

    def scan_once(self, now: float | None = None, stop: threading.Event | None = None) -> Pass:
        """Look at IN once and take every file that has settled (``now``: a monotonic time, given
        by tests)."""
        now = time.monotonic() if now is None else now
        done = Pass()
        watched: dict[Path, tuple[Signature, float]] = {}
        kept: dict[Path, Signature] = {}
        due: list[tuple[Path, os.stat_result]] = []
        listed = list(self.candidates(after=self._cursor))
        in_turns = len(listed) >= MAX_FILES_PER_PASS
        if not in_turns:  # every file of IN was looked at: no turns (again)
            self._cursor = self._turn = None
        elif self._turn is None:
            self._turn = (now, self.order(listed[-1][0]))
            self._warn(f"{self.inbox} holds more than {MAX_FILES_PER_PASS} files; they are looked at in turns of "
                       f"{MAX_FILES_PER_PASS}, each for node_watch_settle_s")
        for path, info in listed:
            signature = _signature(info)
            if self._kept.get(path) == signature:
                kept[path] = signature
                continue
            seen = self._watched.get(path)
            if seen is None or seen[0] != signature:
                seen = (signature, now)
            watched[path] = seen
            if now - seen[1] >= self.settle_s and now >= self._retry_after.get(path, 0.0):
                due.append((path, info))
                self._unsettled.pop(path, None)
            else:
                done.waiting += 1
                if now - seen[1] < self.settle_s:  # changed within the settle interval
                    self._follow_unsettled(path, now)
        self._watched = watched
        # outside turns a pass sees every file; in turns, files taken and not removable (a read-only IN)
        # are remembered until a pass that sees every file no longer lists them
        self._kept = kept if not in_turns else {**self._kept, **kept}
        self._retry_after = {p: t for p, t in self._retry_after.items() if (p in watched or in_turns) and t > now}
        seen_now = {path for path, _ in listed}
        last = self.order(listed[-1][0]) if listed else ()
        self._unsettled = {p: state for p, state in self._unsettled.items()  # gone from what this pass covered
                           if p in seen_now or (in_turns and not _covered(self.order(p), self._cursor, last))}
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
        if self._turn is not None and now - self._turn[0] >= self.settle_s:  # the turn had its settle interval
            self._cursor, self._turn = self._turn[1], None
        self._report_unsettled(now)
        return done

    def _follow_unsettled(self, path: Path, now: float) -> None:
        """Count a file that changed within the settle interval; once it has been seen changing
        for ``unsettled_report_s`` it is due for the report (once)."""
        state = self._unsettled.get(path)
        if state is None:
            if len(self._unsettled) < MAX_FILES_PER_PASS:  # bounded: the report says "at least"
                self._unsettled[path] = [now, False]
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


def _covered(key: tuple, after: tuple | None, last: tuple) -> bool:
    """Whether a pass that started after ``after`` (None: at the start) and ended at ``last``
    (wrapping round when ``last`` is not after ``after``) passed the order key ``key``."""
    if after is None or last > after:
        return (after is None or key > after) and key <= last
    return key > after or key <= last


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


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
