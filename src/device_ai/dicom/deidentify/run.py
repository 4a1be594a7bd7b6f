"""One de-identification run over files or folders: read, decide, de-identify, self-check,
write atomically, report.

- The input is only read, never modified.
- Files that cannot be read (not DICOM, no File Meta, unknown transfer syntax, malformed
  sequences), that may carry burned-in identity, or that fail for any other reason go to the
  quarantine folder with a reason; the run goes on with the rest. The quarantine folder holds
  the originals: it stays inside the hospital, apart from the output.
- Every output file passes the leak self-check (``leakcheck``) before it is kept. If any file
  fails it, nothing is published: the whole output is discarded and the run fails.
- The output appears in one rename when the run is complete (``atomic_io.staged_directory``);
  files are named by their pseudonyms only (``<patient>/<study>/<series>/<instance>.dcm``),
  never by input names, which can hold names or IDs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from device_ai.atomic_io import atomic_write_bytes, atomic_write_text, fsync_directory
from device_ai.dicom.deidentify.burned_in import PixelRule, burned_in_reason, clean_pixels
from device_ai.dicom.deidentify.engine import Engine, FileState, Policy
from device_ai.dicom.deidentify.keyed import KeyedReplacer, site_secret
from device_ai.dicom.deidentify.leakcheck import Leak, find_leaks, identifying_values
from device_ai.dicom.deidentify.marking import mark, new_file_meta
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.safe_private import load_safe_private
from device_ai.dicom.reader import ReadLimits, collect_input_files, read_dataset
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import DeidentificationConfigError, DeidentificationFailed, DicomReadError, OutputError

REPORT_NAME = "deidentification-report.json"
QUARANTINE_INDEX = "quarantine.json"
Progress = Callable[[int, int], None]
_WRITER_THREADS = 8
_BATCH_FILES = 64  # outputs held in memory at most before they go to the staging folder
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class RunConfig:
    """What the operator chose for a run."""

    options: frozenset[Option] = frozenset({Option.BASIC})
    pixel_rules: tuple[PixelRule, ...] = ()
    limits: ReadLimits = field(default_factory=ReadLimits)
    secret: bytes | None = None  # None: the site secret from the device key store


@dataclass(frozen=True)
class Quarantined:
    """A file that was not de-identified, and why (``source`` stays in the quarantine folder)."""

    index: int
    source: Path
    reason: str
    sha256: str


@dataclass
class RunResult:
    """What a run did; ``report()`` is the PHI-free summary written next to the outputs."""

    edition: str
    options: frozenset[Option]
    files_in: int = 0
    written: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    leaks: dict[str, list[Leak]] = field(default_factory=dict)
    actions: Counter = field(default_factory=Counter)
    replacer: KeyedReplacer | None = None

    @property
    def self_check_passed(self) -> bool:
        return not self.leaks

    def report(self) -> dict[str, object]:
        per_attribute: dict[str, dict[str, int]] = {}
        for (label, action), count in sorted(self.actions.items()):
            per_attribute.setdefault(label, {})[action] = count
        return {
            "table_edition": self.edition,
            "options": sorted(o.cli_name for o in self.options),
            "files_processed": self.files_in,
            "files_written": len(self.written),
            "outputs": sorted(self.written),
            "quarantined": [{"index": q.index, "reason": q.reason, "sha256": q.sha256} for q in self.quarantined],
            "self_check": {"passed": self.self_check_passed,
                           "files_failed": len(self.leaks),
                           "leaks": {k: [f"{leak.where} ({leak.length} characters)" for leak in v]
                                     for k, v in sorted(self.leaks.items())}},
            "actions_per_attribute": per_attribute,
            "uid_method": "HMAC-SHA256(site secret, original UID) as 2.25.<decimal of first 128 bits>",
            "date_method": ("keyed per-patient whole-day offset (365-3650 days back); times kept"
                            if Option.RETAIN_LONG_MODIFIED_DATES in self.options else
                            "kept" if Option.RETAIN_LONG_FULL_DATES in self.options else "removed per the profile"),
        }


def _reason_for_unreadable(ds: Dataset) -> str | None:
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        return "not a composite instance (no SOP Class or SOP Instance UID)"
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if not syntax.is_transfer_syntax:
        return f"unknown transfer syntax {syntax}"
    return None


class Deidentifier:
    """Runs the profile over files; one instance per run keeps pseudonyms consistent."""

    def __init__(self, config: RunConfig) -> None:
        if Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in config.options:
            # Nothing here removes faces from pixels or volumes; selecting the option would
            # claim (0028,0302) NO and code 113102 for work that was not done (E.3.2).
            raise DeidentificationConfigError(
                "option clean-recognizable-visual-features is not supported: this device does not "
                "remove or distort faces in pixel data",
                hint="run without it; head CT/MR volumes may still allow a face to be reconstructed")
        self.config = config
        self.table = load_rule_table()
        self.policy = Policy(self.table, frozenset(config.options) | {Option.BASIC}, load_safe_private())
        self.engine = Engine(self.policy)
        self.replacer = KeyedReplacer(config.secret if config.secret is not None else site_secret())

    def deidentify(self, ds: Dataset) -> tuple[Dataset, bytes, FileState, list[Leak]]:
        """De-identify one parsed instance (a copy is made); returns the output data set, its
        Part 10 bytes, the per-file state and any leaks the self-check found."""
        return self._deidentify_owned(copy.deepcopy(ds))

    def _deidentify_owned(self, ds: Dataset) -> tuple[Dataset, bytes, FileState, list[Leak]]:
        """:meth:`deidentify` of a data set no one else holds (just read by the run): changed
        in place, without the deep copy (which also copies the read buffer, the whole file)."""
        pixels_cleaned = False
        reason = burned_in_reason(ds)
        if reason is not None:
            rule = None
            if Option.CLEAN_PIXEL_DATA in self.policy.options and self.config.pixel_rules:
                rule = clean_pixels(ds, self.config.pixel_rules)
            if rule is None:
                raise _Quarantine(reason + ("" if Option.CLEAN_PIXEL_DATA not in self.policy.options
                                            else "; no configured pixel cleaning rule covers it"))
            pixels_cleaned = True
        needles = identifying_values(ds, self.table, self.policy.options)
        identifiers = tuple(sorted({n.value for n in needles}, key=len, reverse=True))
        state = FileState(sop_class_uid=str(ds.SOPClassUID), original_patient_id=str(ds.get("PatientID", "") or ""),
                          replacer=self.replacer, policy=self.policy, identifiers=identifiers)
        syntax = UID(str(ds.file_meta.TransferSyntaxUID))
        self.engine.apply(ds, state)
        state.written.update(mark(ds, self.policy.options, self.table.edition, pixels_cleaned))
        ds.file_meta = new_file_meta(ds, syntax)
        data = part10_bytes(ds)
        return ds, data, state, find_leaks(data, needles, state.written)

    def run(self, inputs: list[Path], out: Path, quarantine: Path, progress: Progress | None = None,
            before_commit: Callable[[RunResult], None] | None = None) -> RunResult:
        """De-identify every file under ``inputs`` into the new folder ``out``.

        ``before_commit(result)`` runs when every output is in the staging folder and the
        self-check passed, before the folder becomes ``out`` (the audit entry); if it raises,
        nothing is published."""
        from device_ai.atomic_io import staged_directory

        files = [f for path in inputs for f in collect_input_files(Path(path), self.config.limits)]
        result = RunResult(edition=self.table.edition, options=self.policy.options, files_in=len(files),
                           replacer=self.replacer)
        names: set[str] = set()
        with staged_directory(Path(out)) as stage:
            # Outputs go into the private staging folder in batches, so memory stays bounded
            # by one batch however long the study; nothing is visible before the final rename,
            # and a failed self-check below discards the staging folder with everything in it.
            batch: dict[str, bytes] = {}
            for done, path in enumerate(files, start=1):
                self._one(path, result, batch, names)
                if len(batch) >= _BATCH_FILES:
                    _write_staged(stage, batch)
                    batch.clear()
                if progress is not None:
                    progress(done, len(files))
            _write_staged(stage, batch)
            if result.quarantined or result.leaks:
                _write_quarantine(quarantine, result)
            if result.leaks:
                raise DeidentificationFailed(
                    f"self-check failed: identifying values of the input were found in {len(result.leaks)} output "
                    "file(s); nothing was written",
                    hint=f"see {quarantine / QUARANTINE_INDEX} for the attributes involved and report it to the "
                         "manufacturer",
                )
            atomic_write_text(stage / REPORT_NAME, json.dumps(result.report(), indent=2, sort_keys=True) + "\n")
            if before_commit is not None:
                before_commit(result)
        return result

    def _one(self, path: Path, result: RunResult, outputs: dict[str, bytes], names: set[str]) -> None:
        index = len(result.quarantined) + len(result.written) + len(result.leaks) + 1
        try:
            ds = read_dataset(path, self.config.limits)
            reason = _reason_for_unreadable(ds)
            if reason is not None:
                raise _Quarantine(reason)
            out_ds, data, state, leaks = self._deidentify_owned(ds)
        except DicomReadError as exc:
            result.quarantined.append(_quarantined(index, path, exc.one_line().split(": ", 1)[-1]))
            return
        except _Quarantine as exc:
            result.quarantined.append(_quarantined(index, path, str(exc)))
            return
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            result.quarantined.append(_quarantined(index, path, f"could not be de-identified: {type(exc).__name__}"))
            return
        name = "/".join((str(out_ds.PatientID), str(out_ds.StudyInstanceUID), str(out_ds.SeriesInstanceUID),
                         f"{out_ds.SOPInstanceUID}.dcm"))
        if leaks:
            result.leaks[f"file {index}"] = leaks
            result.quarantined.append(_quarantined(index, path, "failed the leak self-check"))
            return
        if name in names:
            result.quarantined.append(_quarantined(index, path, "duplicate SOP Instance UID in this run"))
            return
        names.add(name)
        outputs[name] = data
        result.written.append(name)
        result.actions.update(state.actions)


def _syncfs() -> Callable[[int], int] | None:
    """Linux ``syncfs(2)``: one call makes every file written into a file system durable."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_SYNCFS = _syncfs()


def _write_staged(stage: Path, outputs: dict[str, bytes]) -> None:
    """Write the outputs durably into the staging folder.

    Where Linux ``syncfs(2)`` is available the files are written, then made durable together
    with one call on the staging folder's file system (folders included); elsewhere every file
    and folder is fsynced. A temporary name and rename per file (``atomic_write_bytes``) would
    add nothing: the staging folder is private until ``staged_directory`` renames it into
    place, after fsyncing it."""
    folders: set[Path] = set()
    durable_each = _SYNCFS is None
    with ThreadPoolExecutor(max_workers=_WRITER_THREADS) as pool:
        written = []
        for name, data in sorted(outputs.items()):
            path = stage / name
            if path.parent not in folders:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise _write_error(path, exc) from exc
                within = Path(name).parent
                folders.update(stage / f for f in (within, *within.parents) if f != Path("."))
            written.append(pool.submit(_write_file, path, data, durable_each))
        for future in written:
            future.result()
    if not durable_each:
        fd = os.open(stage, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
        for name in outputs:  # syncfs failed: fall back to one fsync per file
            _fsync_path(stage / name)
    for path in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            fsync_directory(path)
        except OSError as exc:
            raise _write_error(path, exc) from exc


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from exc


def _write_file(path: Path, data: bytes, durable: bool = True) -> None:
    """Create ``path`` (mode 0600, as ``mkstemp`` does), write ``data``, fsync it if asked."""
    try:
        with os.fdopen(os.open(path, _CREATE_FLAGS, 0o600), "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        raise _write_error(path, exc) from exc


def _write_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"could not write {path}: {exc.strerror or exc}",
                       hint="check that the output folder exists, is writable and has free space")


class _Quarantine(Exception):
    """Internal: this file goes to quarantine with the message as its reason."""


def _quarantined(index: int, path: Path, reason: str) -> Quarantined:
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = ""
    return Quarantined(index=index, source=Path(path), reason=reason, sha256=digest)


def _write_quarantine(folder: Path, result: RunResult) -> None:
    """Copy the quarantined originals (by index) and their reasons into ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the quarantine folder {folder}: {exc.strerror}",
                          hint="pass --quarantine with a writable folder") from exc
    entries = []
    for item in result.quarantined:
        if item.sha256:
            atomic_write_bytes(folder / f"{item.index:06d}-{item.sha256[:16]}.dcm", item.source.read_bytes())
        entries.append({"index": item.index, "source": str(item.source), "reason": item.reason, "sha256": item.sha256})
    atomic_write_text(folder / QUARANTINE_INDEX, json.dumps(
        {"quarantined": entries, "self_check": result.report()["self_check"]}, indent=2, sort_keys=True) + "\n")
