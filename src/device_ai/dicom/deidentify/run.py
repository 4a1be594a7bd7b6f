"""One de-identification run over files or folders: read, decide, de-identify, self-check,
write atomically, report.

- The input is only read, never modified.
- Every entry found under the inputs is counted: de-identified, quarantined, or skipped (hidden
  files and DICOMDIR file-set indexes, which are not images), each with a typed reason code
  (``REASON_CODES``, ``SKIP_CODES``).
- Per-file isolation: a file that cannot be de-identified for any reason (not a regular file,
  over the size limit, unreadable, not DICOM, no Patient ID or Study/Series/SOP Instance UID, a
  value that makes the engine fail, possible burned-in identity, an identifying input value
  found in its output by the leak self-check) is quarantined with its reason code and the run
  goes on with the rest. A FIFO or device is refused from ``stat`` before anything opens it; a
  file over ``max_file_bytes`` is refused by its size, never read (so neither hashed nor
  copied).
- The quarantine folder holds the originals and their input paths: it stays inside the
  hospital, apart from the output. The output and ``deidentification-report.json`` hold nothing
  derived from input names, paths or values: files are named by keyed pseudonyms computed
  here from the original Patient ID and UIDs (``<patient>/<study>/<series>/<instance>.dcm``,
  ``DAI-<hex>`` and ``2.25.<decimal>``, also with ``retain-uids``), every name is checked
  against that pattern and to stay inside the output folder, and quarantined files are named
  by their index (``file-000007``) with a reason code and a fixed text.
- The output appears in one rename when the run is complete (``atomic_io.staged_directory``),
  after the quarantine copies, the report and ``before_commit`` (the crosswalk and the audit
  entry, durable first).
- Files are de-identified (read, engine, self-check) by this process and a pool of forked
  worker processes, one process per usable core by default (``RunConfig.workers``) and only as
  many as fit 1 GiB together (each forked process is resident with this one's pages), this
  process taking every chunk of files that falls to it in turn, at most 8 files per worker
  ahead of this process, so memory stays bounded. A worker writes an output that passed the self-check into
  the private staging folder under its input index (``.incoming/000007.dcm``), never a file that
  failed it; this process takes the outcomes in input order, moves each accepted file to its
  pseudonymous name (or deletes a duplicate), makes each batch durable (``syncfs``, or an fsync
  per file) and does the quarantine, the report and the publication. The output bytes never
  travel between processes. Small runs, and a process that runs other threads, de-identify in
  this process, the same way.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import gc
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import signal
import stat
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from device_ai.atomic_io import Access, atomic_write_bytes, atomic_write_text, fsync_directory, make_dirs_durably
from device_ai.dicom.deidentify.burned_in import PixelRule, burned_in_reason, clean_pixels
from device_ai.dicom.deidentify.engine import Engine, FileState, Policy
from device_ai.dicom.deidentify.keyed import MAX_OFFSET_DAYS, MIN_OFFSET_DAYS, UID_ROOT, KeyedReplacer, site_secret
from device_ai.dicom.deidentify.leakcheck import Leak, find_leaks, identifying_values
from device_ai.dicom.deidentify.marking import mark, new_file_meta
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.safe_private import load_safe_private
from device_ai.dicom.paths import path_problem, status
from device_ai.dicom.reader import InputBudget, ReadLimits, read_dataset
from device_ai.dicom.writer import part10_bytes_with_meta
from device_ai.errors import (AuditError, DeidentificationConfigError, DicomReadError, OutputError,
                              ReadLimitExceeded)

REPORT_NAME = "deidentification-report.json"
QUARANTINE_INDEX = "quarantine.json"
REPORT_FORMAT = 2
Progress = Callable[[int, int], None]
_BATCH_FILES = 64  # outputs moved to their names and made durable together
_INCOMING = ".incoming"  # in the staging folder: outputs as the workers wrote them, by input index
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# What to do about a file over its memory budget (InputBudget, one per file: review 62)
_MEMORY_HINT = ("remove the file's large private or binary data, or leave the file out; the limit keeps de-identifying "
                "one file (its values, its pixel data, its output's bytes and the self-check's search for each value) "
                "within the memory the device is specified for")
# Opening an input to copy it into the quarantine: never blocks on a FIFO that replaced it
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_COPY_CHUNK = 1024 * 1024
# Quarantined without a copy: refused before opening, or never a file that could be read
_NOT_COPIED = frozenset({"not-regular-file", "over-size-limit", "link-outside-input", "link-loop", "unreadable",
                         "unreadable-folder"})
MAX_LEAK_LINES = 20  # per withheld file in the published report (the quarantine index lists all)

# Why a file was not de-identified: the code and the fixed text the published report carries
# (the quarantine index, which stays with the originals, adds the details).
REASON_CODES: dict[str, str] = {
    "not-regular-file": "not a regular file (FIFO, device, socket); refused before opening",
    "over-size-limit": "larger than the configured max_file_mb; refused by its size, not read",
    "unreadable": "the file could not be opened or read",
    "not-dicom": "not a DICOM Part 10 file, or not parseable as one",
    "read-limit": "exceeds a configured reading limit (elements, value size, nesting, inflation, memory for one file)",
    "link-outside-input": "a symbolic link leading outside the input folder; not followed",
    "link-loop": "a symbolic link that cannot be resolved (a link loop); not followed",
    "unreadable-folder": "a folder that could not be looked at or listed (a path longer than the system allows, "
                         "no permission); its files were not read",
    "not-composite": "not a composite instance (no SOP Class or SOP Instance UID)",
    "unknown-transfer-syntax": "transfer syntax not known",
    "missing-identity": "no Patient ID, Study, Series or SOP Instance UID to name the output by",
    "burned-in": "may carry burned-in identity in its pixel data (or an encapsulated document)",
    "processing-error": "a value made the de-identification fail (e.g. a value that does not match its VR)",
    "self-check": "the leak self-check found an identifying input value in its output; withheld",
    "duplicate-instance": "duplicate SOP Instance UID in this run",
}
SKIP_CODES: dict[str, str] = {
    "hidden": "hidden file or folder entry (name starts with a dot); not read",
    "dicomdir": "DICOMDIR file-set index (not an image; its paths are never followed)",
    "link-to-folder": "a symbolic link to a folder; not followed (the folder's own files are listed if inside)",
}
# Action codes of actions_per_attribute (PS3.15 Table E.1-1 and what the engine adds)
ACTION_CODES: dict[str, str] = {
    "D": "replaced with a non-zero-length dummy value",
    "Z": "replaced with a zero-length value (or a dummy where the attribute is Type 1)",
    "X": "removed",
    "K": "kept",
    "C": "cleaned: identifying text removed, dates shifted where an option keeps them",
    "U": "replaced with a keyed UID (HMAC-SHA256 under the site secret)",
    "keyed pseudonym": "Patient ID or Patient's Name replaced with the keyed patient pseudonym",
    "Z (unshiftable date)": "a date that could not be shifted, replaced with a zero-length value",
    "X (binary cannot be cleaned)": "a binary value that Clean would have to read, removed",
}
_NAME_PART = re.compile(r"DAI-[0-9A-F]{16}|2\.25\.[1-9][0-9]{0,38}|2\.25\.0")


@dataclass(frozen=True)
class RunConfig:
    """What the operator chose for a run."""

    options: frozenset[Option] = frozenset({Option.BASIC})
    pixel_rules: tuple[PixelRule, ...] = ()
    limits: ReadLimits = field(default_factory=ReadLimits)
    secret: bytes | None = None  # None: the site secret from the device key store
    workers: int = 0  # processes de-identifying files; 0: one per usable core, 1: in this process


@dataclass(frozen=True)
class Quarantined:
    """A file that was not de-identified, and why (``source`` stays in the quarantine folder).

    ``code`` is one of ``REASON_CODES``; ``reason`` is the detailed reason, which may name
    input values and goes only to the quarantine index, never into the output or its report."""

    index: int
    source: Path
    reason: str
    sha256: str = ""
    code: str = "processing-error"

    @property
    def label(self) -> str:
        return f"file-{self.index:06d}"


@dataclass(frozen=True)
class Skipped:
    """An input entry that is not a file to de-identify (``SKIP_CODES``)."""

    source: Path
    code: str


@dataclass
class RunResult:
    """What a run did; ``report()`` is the PHI-free summary written next to the outputs."""

    edition: str
    options: frozenset[Option]
    files_in: int = 0
    written: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    leaks: dict[str, list[Leak]] = field(default_factory=dict)
    actions: Counter = field(default_factory=Counter)
    replacer: KeyedReplacer | None = None
    pixels_cleaned: int = 0
    workers: int = 1  # processes that de-identified the files (1: this process)

    @property
    def self_check_passed(self) -> bool:
        return not self.leaks

    @property
    def withheld_by_self_check(self) -> int:
        """Files the self-check held back (quarantined, not published)."""
        return sum(1 for q in self.quarantined if q.code == "self-check")

    def leak_lines(self, limit: int | None = None) -> dict[str, list[str]]:
        """Per withheld file, where each identifying input value was found: attribute paths
        and lengths only, never the value; at most ``limit`` lines per file, then a count."""
        lines: dict[str, list[str]] = {}
        for label, leaks in sorted(self.leaks.items()):
            found = []
            for leak in leaks:
                found_in = getattr(leak, "found_in", "")
                found.append(f"{leak.where}" + (f" found in {found_in}" if found_in else "")
                             + f" ({leak.length} characters)")
            if limit is not None and len(found) > limit:
                found = found[:limit] + [f"and {len(found) - limit} more"]
            lines[label] = found
        return lines

    def report(self) -> dict[str, object]:
        per_attribute: dict[str, dict[str, int]] = {}
        for (label, action), count in sorted(self.actions.items()):
            per_attribute.setdefault(label, {})[action] = count
        used_reasons = sorted({q.code for q in self.quarantined})
        skipped = Counter(s.code for s in self.skipped)
        modified_dates = Option.RETAIN_LONG_MODIFIED_DATES in self.options
        return {
            "report_format": REPORT_FORMAT,
            "table_edition": self.edition,
            "options": sorted(o.cli_name for o in self.options),
            "input_entries": self.files_in + len(self.skipped),
            "files_skipped": {code: skipped[code] for code in sorted(skipped)},
            "files_processed": self.files_in,
            "files_written": len(self.written),
            "files_quarantined": len(self.quarantined),
            "files_pixel_cleaned": self.pixels_cleaned,
            "outputs": sorted(self.written),
            "quarantined": [{"file": q.label, "index": q.index, "code": q.code, "reason": REASON_CODES[q.code],
                             "sha256": q.sha256} for q in self.quarantined],
            "self_check": {"passed": self.self_check_passed,
                           "files_failed": len(self.leaks),
                           "files_withheld": self.withheld_by_self_check,
                           "leaks": self.leak_lines(limit=MAX_LEAK_LINES)},
            "actions_per_attribute": per_attribute,
            "codes": {
                "actions": ACTION_CODES,
                "quarantine_reasons": {code: REASON_CODES[code] for code in used_reasons},
                "skipped": {code: SKIP_CODES[code] for code in sorted(skipped)},
                "counts": "input_entries = files_skipped (all codes) + files_processed; "
                          "files_processed = files_written + files_quarantined",
                "file_names": "outputs: <patient pseudonym>/<study>/<series>/<instance>.dcm, keyed pseudonyms "
                              "(HMAC-SHA256 under the site secret) of the original Patient ID and UIDs; "
                              "quarantined files: file-<index in input order>",
            },
            "uid_method": "HMAC-SHA256(site secret, original UID) as 2.25.<decimal of first 128 bits>"
                          + ("; UIDs kept (retain-uids), file names keyed all the same"
                             if Option.RETAIN_UIDS in self.options else ""),
            "date_method": ("keyed per-patient whole-day offset; times kept"
                            if modified_dates else
                            "kept" if Option.RETAIN_LONG_FULL_DATES in self.options else "removed per the profile"),
            "date_offset": ({"direction": "earlier: output date = input date - offset days",
                             "days_min": MIN_OFFSET_DAYS, "days_max": MAX_OFFSET_DAYS,
                             "per": "patient (the same offset for every date of one patient, in every run "
                                    "under the same site secret)"}
                            if modified_dates else None),
        }


def _reason_for_unreadable(ds: Dataset) -> tuple[str, str] | None:
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        return "not-composite", "not a composite instance (no SOP Class or SOP Instance UID)"
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if not _is_transfer_syntax(syntax):
        return "unknown-transfer-syntax", f"unknown transfer syntax {syntax}"
    return None


@lru_cache(64)
def _is_transfer_syntax(uid: str) -> bool:
    """``UID.is_transfer_syntax`` (raises for a private UID, as it does), looked up once per UID."""
    return UID(uid).is_transfer_syntax


_IDENTITY = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _identity(ds: Dataset) -> tuple[str, str, str, str]:
    """The original Patient ID and Study, Series, SOP Instance UIDs the output is named by.

    Patient ID is Type 2: present but empty is conformant (keyed like any other value), absent
    is not; the UIDs are Type 1 and must hold one value."""
    values = []
    for keyword in _IDENTITY:
        value = ds[keyword].value if keyword in ds else None
        if keyword == "PatientID" and keyword in ds and value in (None, ""):
            value = ""
        elif not isinstance(value, str) or not value.strip("\0 "):
            raise _Quarantine("missing-identity", f"{keyword} is missing, empty or not a single value")
        values.append(str(value) if keyword == "PatientID" else value.strip("\0 "))  # the Patient ID as the engine keys it
    return values[0], values[1], values[2], values[3]


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
        self.pool_memory_bytes: int | None = None  # in a pooled run, each file's memory budget (review 70)
        self.table = load_rule_table()
        self.policy = Policy(self.table, frozenset(config.options) | {Option.BASIC}, load_safe_private())
        self.engine = Engine(self.policy)
        self.replacer = KeyedReplacer(config.secret if config.secret is not None else site_secret())
        self._unfollowable: dict[Path, tuple[str, str]] = {}
        self._incoming: Path | None = None  # where _process writes the outputs of a run

    def deidentify(self, ds: Dataset) -> tuple[Dataset, bytes, FileState, list[Leak]]:
        """De-identify one parsed instance (a copy is made); returns the output data set, its
        Part 10 bytes, the per-file state and any leaks the self-check found."""
        return self._deidentify_owned(copy.deepcopy(ds))

    def _deidentify_owned(self, ds: Dataset, budget: InputBudget | None = None,
                          name: str = "") -> tuple[Dataset, bytes, FileState, list[Leak]]:
        """:meth:`deidentify` of a data set no one else holds (just read by the run): changed
        in place, without the deep copy (which also copies the read buffer, the whole file).
        With ``budget`` (the file's, charged by its reading), the self-check's search list is
        charged to it too (``name``: the file, for its refusal)."""
        pixels_cleaned = False
        reason = burned_in_reason(ds)
        if reason is not None:
            rule = None
            if Option.CLEAN_PIXEL_DATA in self.policy.options and self.config.pixel_rules:
                rule = clean_pixels(ds, self.config.pixel_rules)
            if rule is None:
                raise _Quarantine("burned-in", reason + ("" if Option.CLEAN_PIXEL_DATA not in self.policy.options
                                                         else "; no configured pixel cleaning rule covers it"))
            pixels_cleaned = True
        needles = identifying_values(ds, self.table, self.policy.options, budget=budget, name=name)
        identifiers = tuple(sorted({n.value for n in needles}, key=len, reverse=True))
        state = FileState(sop_class_uid=str(ds.SOPClassUID), original_patient_id=str(ds.get("PatientID", "") or ""),
                          replacer=self.replacer, policy=self.policy, identifiers=identifiers)
        syntax = UID(str(ds.file_meta.TransferSyntaxUID))
        self.engine.apply(ds, state)
        state.written.update(mark(ds, self.policy.options, self.table.edition, pixels_cleaned))
        ds.file_meta = new_file_meta(ds, syntax)
        data = part10_bytes_with_meta(ds)  # pydicom's bytes (tests/dicom/test_writer_meta.py), a plain meta encoded directly
        return ds, data, state, find_leaks(data, needles, state.written)

    def output_name(self, patient_id: str, study: str, series: str, instance: str) -> str:
        """``<patient>/<study>/<series>/<instance>.dcm`` from keyed pseudonyms of the originals.

        The UID parts are the keyed UIDs the engine writes when it remaps UIDs; with
        ``retain-uids`` they are computed the same way but not recorded in the crosswalk (the
        output keeps the original UIDs). Every part is checked against the pseudonym pattern."""
        parts = [self.replacer.patient_id(patient_id), *(self._keyed_uid(uid) for uid in (study, series, instance))]
        for part in parts:
            if not _NAME_PART.fullmatch(part):  # never: a defect, not an input problem
                raise AssertionError("an output name part is not a keyed pseudonym")
        return "/".join(parts[:3]) + f"/{parts[3]}.dcm"

    def _keyed_uid(self, original: str) -> str:
        if Option.RETAIN_UIDS not in self.policy.options:
            return self.replacer.uid(original)
        original = original.strip("\0 ")
        digest = hmac.new(self.replacer.secret, f"uid\x1f{original}".encode(), hashlib.sha256).digest()
        return f"{UID_ROOT}{int.from_bytes(digest[:16], 'big')}"

    def run(self, inputs: list[Path], out: Path, quarantine: Path, progress: Progress | None = None,
            before_commit: Callable[[RunResult], None] | None = None) -> RunResult:
        """De-identify every file under ``inputs`` into the new folder ``out``.

        Files that cannot be de-identified, or whose output fails the self-check, are
        quarantined and the others published (``result.withheld_by_self_check`` counts the
        self-check's). ``before_commit(result)`` runs when every output, the quarantine copies
        and the report are written, before the folder becomes ``out`` (the crosswalk and the
        audit entry); if it raises, nothing is published."""
        from device_ai.atomic_io import staged_directory

        files: list[Path] = []
        skipped: list[Skipped] = []
        self._unfollowable = {}
        for path in inputs:
            collect_entries(Path(path), self.config.limits, files, skipped, self._unfollowable)
        result = RunResult(edition=self.table.edition, options=self.policy.options, files_in=len(files),
                           replacer=self.replacer, skipped=skipped)
        names: set[str] = set()
        with staged_directory(Path(out)) as stage, self._incoming_folder(stage) as incoming, \
                _outcomes(self, files) as (result.workers, outcomes):
            # Outputs are written into the private staging folder as they pass the self-check
            # (no output is held in memory past its file) and moved to their names in batches;
            # nothing is visible before the final rename.
            batch: dict[str, Path] = {}
            for done, outcome in enumerate(outcomes, start=1):
                self._take(outcome, result, batch, names, incoming)
                if len(batch) >= _BATCH_FILES:
                    _write_staged(stage, batch)
                    batch.clear()
                if progress is not None:
                    progress(done, len(files))
            _write_staged(stage, batch)
            _remove_incoming(incoming)
            if result.quarantined or result.skipped:
                _write_quarantine(quarantine, result, self.config.limits)
            atomic_write_text(stage / REPORT_NAME, json.dumps(result.report(), indent=2, sort_keys=True) + "\n")
            if before_commit is not None:
                before_commit(result)
        return result

    @contextlib.contextmanager
    def _incoming_folder(self, stage: Path) -> Iterator[Path]:
        """The folder of the staging folder where ``_process`` writes the outputs of this run
        (created before the worker processes fork, so that they inherit it)."""
        incoming = stage / _INCOMING
        try:
            incoming.mkdir(mode=0o700)
        except OSError as exc:
            raise _write_error(incoming, exc) from exc
        self._incoming = incoming
        try:
            yield incoming
        finally:
            self._incoming = None

    def _process(self, path: Path, index: int) -> _Outcome:
        """De-identify one file (in a worker process, or in this one); no shared state changes
        except this de-identifier's keyed replacer, whose new entries the outcome carries, and
        the output file written under the input index into the run's incoming folder when the
        file passed the self-check."""
        logged = _logged(self.replacer)
        before = tuple(len(mapping.order) for mapping in logged) if logged else ()
        budget = None
        try:
            if path in self._unfollowable:
                raise _Quarantine(*self._unfollowable[path])
            refusal = _refuse_before_opening(path, self.config.limits)
            if refusal is not None:
                raise _Quarantine(*refusal)
            # One file is one input here: what reading it and the self-check's search list hold is
            # charged to one budget (max_input_memory_mb; review 62: 3 x 15 MiB of random private
            # bytes peaked at 10 GB), a file over it quarantined as over a reading limit.
            limits = self.config.limits
            if self.pool_memory_bytes is not None:  # one of the pool's processes: its share of the run's bound
                limits = dataclasses.replace(limits, max_input_memory_bytes=self.pool_memory_bytes)
            budget = InputBudget(limits, hint=_MEMORY_HINT)
            ds = read_dataset(path, self.config.limits, raw_private=True, budget=budget)  # private: not converted
            unreadable = _reason_for_unreadable(ds)
            if unreadable is not None:
                raise _Quarantine(*unreadable)
            identity = _identity(ds)
            _hold_for_deidentifying(budget, ds, path)
            out_ds, data, state, leaks = self._deidentify_owned(ds, budget, path.name)
            name = self.output_name(*identity)
        except ReadLimitExceeded as exc:  # with what to do: the index is where the operator reads it
            reason = _detail(exc) + (f" ({exc.hint})" if exc.hint else "")
            return _Outcome(index, path, quarantine=("read-limit", reason),
                            over_memory=budget is not None and budget.over_memory)
        except DicomReadError as exc:
            code = "unreadable" if "cannot read the file" in exc.message else "not-dicom"
            return _Outcome(index, path, quarantine=(code, _detail(exc)))
        except _Quarantine as exc:
            return _Outcome(index, path, quarantine=(exc.code, exc.reason))
        except (OutputError, AuditError):  # not about this file: the run cannot go on
            raise
        except Exception as exc:  # noqa: BLE001 - per-file isolation: any failure quarantines this file alone
            return _Outcome(index, path, quarantine=("processing-error",
                                                     f"could not be de-identified: {type(exc).__name__}"))
        cleaned = Option.CLEAN_PIXEL_DATA in self.policy.options and out_ds.get("BurnedInAnnotation") == "NO" and \
            any(i.CodeValue == Option.CLEAN_PIXEL_DATA.code for i in out_ds.DeidentificationMethodCodeSequence)
        staged = self._stage_output(index, data) if not leaks else ""  # a file that failed the self-check is never written
        return _Outcome(index, path, name=name, staged=staged, actions=state.actions, leaks=leaks,
                        pixels_cleaned=cleaned,
                        keyed=tuple({key: m[key] for key in m.order[n:]} for m, n in zip(logged, before, strict=True))
                        if logged else None)

    def _stage_output(self, index: int, data: bytes) -> str:
        """Write one output into the run's incoming folder, named by its input index; returns
        that name. Without ``syncfs`` the file is fsynced here (else the batch is synced)."""
        if self._incoming is None:
            raise AssertionError("_process runs only inside run()")
        staged = f"{index:06d}.dcm"
        _write_file(self._incoming / staged, data, durable=_SYNCFS is None)
        return staged

    def _take(self, outcome: _Outcome, result: RunResult, outputs: dict[str, Path], names: set[str],
              incoming: Path) -> None:
        """Record one file's outcome in ``result`` (in this process, in input order); an
        accepted output goes into ``outputs`` (its name -> the file a worker wrote), the file of
        a duplicate is deleted."""
        index, path = outcome.index, outcome.path
        if outcome.keyed is not None:  # made in a worker process: the crosswalk needs them here
            uids, patients, offsets = outcome.keyed
            self.replacer.uids.update(uids)
            self.replacer.patients.update(patients)
            self.replacer.offsets.update(offsets)
        if outcome.quarantine is not None:
            result.quarantined.append(Quarantined(index, path, outcome.quarantine[1], code=outcome.quarantine[0]))
            return
        if outcome.leaks:
            quarantined = Quarantined(index, path, "failed the leak self-check", code="self-check")
            result.leaks[quarantined.label] = outcome.leaks
            result.quarantined.append(quarantined)
            return
        staged = incoming / outcome.staged
        if outcome.name in names:
            try:
                staged.unlink()
            except OSError as exc:
                raise _write_error(staged, exc) from exc
            result.quarantined.append(Quarantined(index, path, "duplicate SOP Instance UID in this run",
                                                  code="duplicate-instance"))
            return
        names.add(outcome.name)
        outputs[outcome.name] = staged
        result.written.append(outcome.name)
        result.actions.update(outcome.actions)
        result.pixels_cleaned += bool(outcome.pixels_cleaned)


@dataclass
class _Outcome:
    """What de-identifying one file gave (picklable: it comes back from a worker process)."""

    index: int
    path: Path
    quarantine: tuple[str, str] | None = None  # reason code, detailed reason
    name: str = ""
    staged: str = ""  # the output file in the run's incoming folder (a plain name; none if withheld)
    actions: Counter = field(default_factory=Counter)
    leaks: list[Leak] = field(default_factory=list)
    pixels_cleaned: bool = False
    keyed: tuple[dict, dict, dict] | None = None  # the replacer's entries this file added
    over_memory: bool = False  # refused by its memory budget (a pooled file: tried again alone)


class _Logged(dict):
    """A dict that remembers the order its keys were added (a worker's replacer maps, so
    each outcome carries only the entries its file added, without rescanning the map)."""

    def __init__(self, initial: dict) -> None:
        super().__init__(initial)
        self.order: list = list(initial)

    def __setitem__(self, key: object, value: object) -> None:
        if key not in self:
            self.order.append(key)
        super().__setitem__(key, value)


def _logged(replacer: KeyedReplacer) -> tuple[_Logged, _Logged, _Logged] | None:
    maps = (replacer.uids, replacer.patients, replacer.offsets)
    return maps if all(isinstance(m, _Logged) for m in maps) else None  # type: ignore[return-value]


# -- worker processes ---------------------------------------------------------------------------

def _hold_for_deidentifying(budget: InputBudget, ds: Dataset, path: Path) -> None:
    """Charge what de-identifying a read file holds besides its parsed values (review 70: a
    580-frame CT admitted at 2 x its bytes peaked at 4 x): the read buffer pydicom's data set
    keeps (the file's bytes), the pixel data the engine keeps, and the output's Part 10 bytes
    twice (the buffer they are encoded in and the bytes returned: the values and the pixel
    data again). Refused (over the file's budget) before any of it is allocated."""
    value = ds.get("PixelData")
    pixels = len(value) if isinstance(value, bytes | bytearray) else 0
    output = budget.value_bytes + pixels
    budget.reserve(path.name, path.stat().st_size + pixels + 2 * output,
                   "de-identifying it (its pixel data and its output's bytes)")


_MIN_FILES_PER_WORKER = 8  # fewer files than this per worker: the pool costs more than it saves
# What the run's processes may hold together, resident memory summed over them (SRS-111: a run
# peaks below 1 GiB). A forked worker starts resident with every page this process holds (RSS
# counts a shared page in each process that maps it), so each process costs about this one's
# size, whatever the input.
_RUN_MEMORY_BYTES = 1024 * 1024 * 1024
# What de-identifying one file may add to the process that does it, measured: a 512x512 CT slice
# 2-3 MiB, a slice carrying a 16 MiB private OB (deflated) 32 MiB, a file of 99,000 private
# elements (just under max_elements) 62 MiB.
_FILE_RESERVE_BYTES = 64 * 1024 * 1024
# Files go to a worker 4 at a time and come back together (a quarter of the parent's hand-offs,
# which cost it about 1 ms per file one by one); a worker holds one file's data at a time and
# the outcomes waiting here carry no output bytes, so 8 files per worker ahead stay small.
_CHUNK = 4
_IN_FLIGHT_PER_WORKER = 8  # files handed to each worker ahead of this process
_WORKER: dict[str, Deidentifier] = {}


def worker_count(config: RunConfig, files: int, resident: int | None = None) -> int:
    """Processes that de-identify (this one included): ``config.workers``, or with 0 the
    usable cores, as many as fit ``_RUN_MEMORY_BYTES`` (``resident``: this process's resident
    bytes, read from /proc when not given); at most one per ``_MIN_FILES_PER_WORKER`` files;
    1 means this process only."""
    most = files // _MIN_FILES_PER_WORKER
    wanted = config.workers
    if wanted <= 0 and most > 1:
        wanted = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        wanted = min(wanted, processes_within_memory(_resident_bytes() if resident is None else resident,
                                                     config.limits.max_input_memory_bytes))
    return max(1, min(wanted, most))


def processes_within_memory(resident: int, per_file: int = _FILE_RESERVE_BYTES) -> int:
    """Processes that fit the run's memory bound: this one (``resident`` bytes) and each forked
    worker (starting at ``resident``), each with the file it de-identifies (``per_file``: its
    memory budget), together within ``_RUN_MEMORY_BYTES``."""
    return max(1, _RUN_MEMORY_BYTES // (resident + per_file))


def pool_plan(config: RunConfig, files: int, resident: int | None = None) -> tuple[int, int]:
    """(processes, each file's memory budget in them). Review 70: a process may hold a whole
    per-file budget (640 MiB by default), so the pool shares the run's bound instead: as many
    processes as fit with ``_FILE_RESERVE_BYTES`` a file (what an ordinary CT file costs, with
    room), each file's budget then the bound shared among them, never more than configured; so
    processes x (resident + budget) stays within ``_RUN_MEMORY_BYTES``. A pooled file over its
    share is de-identified again after the pool, in this process alone, with the configured
    budget (:func:`_processes`)."""
    resident = _resident_bytes() if resident is None else resident
    budget = config.limits.max_input_memory_bytes
    ordinary = dataclasses.replace(config, limits=dataclasses.replace(
        config.limits, max_input_memory_bytes=min(budget, _FILE_RESERVE_BYTES)))
    workers = worker_count(ordinary, files, resident)
    if workers > 1:
        budget = min(budget, max(_FILE_RESERVE_BYTES, _RUN_MEMORY_BYTES // workers - resident))
    return workers, budget


def _resident_bytes() -> int:
    """This process's resident memory (VmRSS) after returning freed heap to the system (what a
    forked worker would start with); 0 where /proc cannot tell (no bound applied)."""
    _trim_heap()
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _trim_heap() -> None:
    """glibc ``malloc_trim(0)``: freed heap goes back to the system instead of being inherited,
    resident, by every forked worker (41 MiB of a 345 MiB process, measured)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it ends the pool)
    replacer = _WORKER["deidentifier"].replacer
    replacer.uids, replacer.patients, replacer.offsets = (
        _Logged(replacer.uids), _Logged(replacer.patients), _Logged(replacer.offsets))


def _work(item: tuple[int, str]) -> _Outcome:
    index, path = item
    return _WORKER["deidentifier"]._process(Path(path), index)


@contextlib.contextmanager
def _outcomes(deidentifier: Deidentifier, files: list[Path]) -> Iterator[tuple[int, Iterator[_Outcome]]]:
    """(processes used, the outcome of every file in input order).

    With ``workers`` processes, ``workers - 1`` forked worker processes (each inherits the
    loaded tables and the run's keyed replacer) take every chunk of ``_CHUNK`` files but one in
    ``workers``, at most ``_IN_FLIGHT_PER_WORKER`` files per worker ahead of the caller, and
    this process de-identifies the remaining chunks itself as the caller reaches them (it would
    otherwise only wait: one process fewer holds a copy of this one). In this process alone
    when one process is enough, ``fork`` is not available or other threads run in this process."""
    workers, budget = pool_plan(deidentifier.config, len(files))
    # The objects of this process (rule and IOD tables, caches) are frozen for the run: the many
    # garbage collections of a run (a file of 99,000 elements allocates as many objects) do not
    # scan them again each time (a fifth of such a file's time), and a forked worker's do not
    # touch (and copy) them, shared page by page until written.
    gc.freeze()
    try:
        with _processes(deidentifier, files, workers, budget) as outcomes:
            yield outcomes
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _processes(deidentifier: Deidentifier, files: list[Path], workers: int, budget: int | None = None
               ) -> Iterator[tuple[int, Iterator[_Outcome]]]:
    # fork only from a single-threaded process: a lock another thread holds at the fork (a
    # server calling this) would stay locked forever in the children
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        yield 1, (deidentifier._process(path, index) for index, path in enumerate(files, start=1))
        return
    forked = workers - 1
    _WORKER["deidentifier"] = deidentifier
    slots = threading.Semaphore(forked * _IN_FLIGHT_PER_WORKER)
    stop = threading.Event()

    def pooled(index: int) -> bool:  # chunks 0, workers, 2 workers, ... are this process's
        return (index - 1) // _CHUNK % workers != 0

    def tasks() -> Iterator[tuple[int, str]]:
        for index, path in enumerate(files, start=1):
            if not pooled(index):
                continue
            slots.acquire()  # runs in the pool's feeder thread: waits for the caller to take results
            if stop.is_set():
                return
            yield index, str(path)

    def in_order(results: Iterator[_Outcome]) -> Iterator[_Outcome]:
        again: list[tuple[int, Path]] = []  # over the pool's share of memory: tried alone after the pool
        for index, path in enumerate(files, start=1):
            if pooled(index):
                outcome = next(results)  # imap keeps the order the tasks were given in
                slots.release()
            else:
                outcome = deidentifier._process(path, index)
            if outcome.over_memory and deidentifier.pool_memory_bytes is not None:
                again.append((index, path))
            else:
                yield outcome
        if again:
            pool.close()
            pool.join()  # the workers have exited: this process alone holds a file now
            deidentifier.pool_memory_bytes = None
            for index, path in again:
                yield deidentifier._process(path, index)

    def release_feeder() -> None:
        stop.set()
        slots.release()  # the feeder waits for at most one slot

    if budget is not None and budget < deidentifier.config.limits.max_input_memory_bytes:
        deidentifier.pool_memory_bytes = budget  # the workers fork with it
    try:
        pool = multiprocessing.get_context("fork").Pool(forked, initializer=_init_worker)
    except BaseException:
        deidentifier.pool_memory_bytes = None
        raise
    try:
        yield workers, in_order(pool.imap(_work, tasks(), chunksize=_CHUNK))
        pool.close()
    except BaseException:
        release_feeder()
        pool.terminate()
        raise
    finally:
        release_feeder()
        pool.join()
        _WORKER.clear()
        deidentifier.pool_memory_bytes = None


def _detail(exc: DicomReadError) -> str:
    return exc.one_line().split(": ", 1)[-1]


def _refuse_before_opening(path: Path, limits: ReadLimits) -> tuple[str, str] | None:
    """A reason code when ``path`` must not be opened: not a regular file (``stat`` never opens
    it, so a FIFO cannot block the run), or larger than the limit (never read)."""
    try:
        info = status(path, follow_links=True)
    except DicomReadError as exc:
        return "unreadable", exc.message
    if info is None:
        return "unreadable", "the file is gone (no such file)"
    if not stat.S_ISREG(info.st_mode):
        return "not-regular-file", "not a regular file (a FIFO, device or socket)"
    if info.st_size > limits.max_file_bytes:
        return "over-size-limit", f"file is {info.st_size} bytes, above the limit of {limits.max_file_bytes}"
    return None


def collect_entries(input_path: Path, limits: ReadLimits, files: list[Path], skipped: list[Skipped],
                    unfollowable: dict[Path, tuple[str, str]]) -> None:
    """Append the files of one input to ``files`` and every other entry to ``skipped``.

    Like ``reader.collect_input_files`` (sorted, DICOMDIR never followed, no link leading
    outside the input followed), but per entry: a link that leads outside the input, a link
    loop, or a folder that cannot be looked at or listed (a path longer than the system allows,
    no permission: ``paths.status``) goes into ``unfollowable`` with its quarantine code and
    reason and is quarantined unread, not a refusal of the whole run; hidden files and DICOMDIR
    are counted, not silently left out. An input that cannot be looked at itself, or more than
    ``max_files`` files, is refused."""
    input_path = Path(input_path)
    info = status(input_path, follow_links=True)
    if info is None:
        raise DicomReadError(f"input {input_path} does not exist", hint="pass DICOM files or folders")
    if not stat.S_ISDIR(info.st_mode):
        if input_path.name.upper() == "DICOMDIR":
            skipped.append(Skipped(input_path, "dicomdir"))
        else:
            files.append(input_path)
        return
    root = input_path.resolve()
    found: list[Path] = []

    def add(path: Path) -> None:
        found.append(path)
        if len(found) > limits.max_files:
            raise ReadLimitExceeded(f"input holds more than {limits.max_files} files",
                                    hint="pass fewer files at once, or raise max_files in the configuration")

    def quarantine_unread(path: Path, code: str, reason: str) -> None:
        unfollowable[path] = (code, reason)
        add(path)

    def unlistable(exc: OSError) -> None:  # os.walk would skip the folder silently
        quarantine_unread(Path(exc.filename), "unreadable-folder", path_problem(exc.filename, exc))

    for dirpath, dirnames, filenames in os.walk(input_path, onerror=unlistable):
        here = Path(dirpath)
        kept = []
        for dirname in sorted(dirnames):
            if dirname.startswith("."):
                skipped.append(Skipped(here / dirname, "hidden"))
                continue
            try:
                entry = status(here / dirname)
            except DicomReadError as exc:  # not looked at: not listed either (one quarantine entry)
                quarantine_unread(here / dirname, "unreadable-folder", exc.message)
                continue
            if entry is not None and stat.S_ISLNK(entry.st_mode):
                skipped.append(Skipped(here / dirname, "link-to-folder"))
            kept.append(dirname)
        dirnames[:] = kept
        for filename in sorted(filenames):
            path = here / filename
            if filename.startswith("."):
                skipped.append(Skipped(path, "hidden"))
            elif filename.upper() == "DICOMDIR":
                skipped.append(Skipped(path, "dicomdir"))
            else:
                link = _link_code(path, root)
                if link is not None:
                    quarantine_unread(path, link, REASON_CODES[link])
                else:
                    add(path)
    if not found and not skipped:
        raise DicomReadError(f"folder {input_path} holds no files", hint="pass DICOM files or folders")
    files.extend(sorted(found))


def _link_code(path: Path, root: Path) -> str | None:
    """The quarantine code of a symbolic link that must not be followed, or None (also when
    ``path`` cannot be looked at: ``_refuse_before_opening`` quarantines it with the reason)."""
    try:
        info = status(path)
    except DicomReadError:
        return None
    if info is None or not stat.S_ISLNK(info.st_mode):
        return None
    try:
        return None if path.resolve().is_relative_to(root) else "link-outside-input"
    except (RuntimeError, OSError):  # a loop: resolve raises RuntimeError before Python 3.13
        return "link-loop"


class _Quarantine(Exception):
    """Internal: this file goes to quarantine with a reason code and a detailed reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


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


def _write_staged(stage: Path, outputs: dict[str, Path]) -> None:
    """Move a batch of outputs (``outputs``: name -> the file its worker wrote in the incoming
    folder) to their names in the staging folder, and make the batch durable.

    Where Linux ``syncfs(2)`` is available one call on the staging folder's file system makes
    the batch durable, files, renames and folders (whichever process wrote them); elsewhere
    each file was fsynced by its writer and every folder is fsynced here. An output never
    replaces an existing entry. The staging folder is private until ``staged_directory``
    renames it into place, after fsyncing it."""
    folders: set[Path] = set()
    root = stage.resolve()
    for name, staged in sorted(outputs.items()):
        path = stage / name
        if not _inside(root, name):
            raise OutputError(f"refused to write an output outside the output folder ({len(name)} characters)",
                              hint="report it to the manufacturer: output names are keyed pseudonyms")
        if path.parent not in folders:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _write_error(path, exc) from exc
            within = Path(name).parent
            folders.update(stage / f for f in (within, *within.parents) if f != Path("."))
        _move_new(staged, path)
    if _SYNCFS is not None:
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


def _move_new(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, which must not exist (rename would replace it)."""
    try:
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "an entry of that name exists already")
        os.rename(source, target)
    except OSError as exc:
        raise _write_error(target, exc) from exc


def _remove_incoming(incoming: Path) -> None:
    """Remove the emptied incoming folder: every file in it was moved to its name or deleted,
    so anything left is an output no outcome accounted for, and the run is refused."""
    try:
        incoming.rmdir()
    except OSError as exc:
        raise OutputError(f"could not remove the staging folder's incoming files ({exc.strerror or exc}); "
                          "nothing was published",
                          hint="report it to the manufacturer: every de-identified file is accounted for") from exc


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
    """Create ``path`` (mode 0600, as ``mkstemp`` does), write ``data``, fsync it if asked.

    Not fsynced here (``syncfs`` makes the batch durable later), its writeback is started now
    (Linux ``POSIX_FADV_DONTNEED`` writes dirty pages back without waiting), so that the batch's
    ``syncfs`` finds most of it on disk already; durability still comes from ``syncfs`` alone."""
    try:
        with os.fdopen(os.open(path, _CREATE_FLAGS, 0o600), "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            elif _START_WRITEBACK is not None:
                os.posix_fadvise(handle.fileno(), 0, 0, _START_WRITEBACK)
    except OSError as exc:
        raise _write_error(path, exc) from exc


_START_WRITEBACK = getattr(os, "POSIX_FADV_DONTNEED", None) if sys.platform.startswith("linux") else None


def _write_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"could not write {path}: {exc.strerror or exc}",
                       hint="check that the output folder exists, is writable and has free space")


def _inside(root: Path, name: str) -> bool:
    """Whether ``name`` is a plain relative path that stays inside ``root`` (no ``..``, no
    absolute part, no link followed out)."""
    relative = Path(name)
    if relative.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")) or "\\" in name:
        return False
    return (root / relative).resolve().is_relative_to(root)


def _read_regular(source: Path, limits: ReadLimits) -> tuple[bytearray, str] | None:
    """The bytes and SHA-256 of ``source`` if it is still a regular file within the size
    limit, else ``None``. Opened without blocking (a FIFO swapped in since cannot hang the
    run), checked with ``fstat`` on the open file, read in chunks of at most 1 MiB into one
    buffer of the stat'ed size (one copy of the file in memory, not chunks and their join)."""
    try:
        fd = os.open(source, _READ_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limits.max_file_bytes:
            return None
        digest = hashlib.sha256()
        buffer = bytearray(info.st_size)
        view = memoryview(buffer)
        done = 0
        while done < info.st_size:
            got = os.readv(fd, [view[done : done + _COPY_CHUNK]])
            if not got:
                break
            digest.update(view[done : done + got])
            done += got
        del view
        del buffer[done:]  # a file that shrank since fstat: what was read
    except OSError:
        return None
    finally:
        os.close(fd)
    return buffer, digest.hexdigest()


def _write_quarantine(folder: Path, result: RunResult, limits: ReadLimits = ReadLimits()) -> None:
    """Copy the quarantined originals (named by index) into ``folder`` with an index of their
    sources, reason codes and detailed reasons; records each copy's SHA-256 in ``result``.

    Files refused before opening (not regular, over the size limit, links leading outside the
    input) are listed but not copied: their originals stay where they are. The copies (byte for
    byte, preamble included) and the index are 0600, and the folders created for them 0700,
    whatever the umask: they are the site's evidence, not outputs for other systems (THR-016)."""
    try:  # owner-only whatever the umask (THR-016): it keeps the originals as they came, preamble included
        existing = next(above for above in (folder, *folder.parents) if above.exists())
        make_dirs_durably(existing, folder.relative_to(existing), access=Access.PRIVATE)
    except OSError as exc:
        raise OutputError(f"cannot create the quarantine folder {folder}: {exc.strerror}",
                          hint="pass --quarantine with a writable folder") from exc
    entries = []
    for position, item in enumerate(result.quarantined):
        copied = None
        original = None
        if item.code not in _NOT_COPIED:
            original = _read_regular(item.source, limits)
        if original is not None:
            digest = original[1]
            copied = f"{item.label}-{digest[:16]}.dcm"  # the digest keeps another run's copy apart
            atomic_write_bytes(folder / copied, original[0])
            original = None  # one original in memory at a time: the next may be as large
            item = Quarantined(item.index, item.source, item.reason, digest, item.code)
            result.quarantined[position] = item
        entries.append({"file": item.label, "index": item.index, "source": str(item.source), "code": item.code,
                        "reason": item.reason, "sha256": item.sha256, "copied": copied})
    skipped = [{"source": str(s.source), "code": s.code} for s in result.skipped]
    atomic_write_text(folder / QUARANTINE_INDEX, json.dumps(
        {"quarantined": entries, "skipped": skipped, "reason_codes": REASON_CODES, "skip_codes": SKIP_CODES,
         "self_check": {**result.report()["self_check"], "leaks": result.leak_lines()}},
        indent=2, sort_keys=True) + "\n")
