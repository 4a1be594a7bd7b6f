"""What a worker process does for one unit: de-identify its files into a private staging
folder, with the single run's code (``Deidentifier.run``, one process), and return what the
coordinator needs to record and publish it.

The worker never writes the audit log, the ledger or anything outside its own staging
folders (OUT/.device-ai-batch/staging/<attempt> and its quarantine twin): a worker lost half
way leaves an attempt folder that no one publishes and the coordinator removes. What it
returns carries no PHI (counts, reason codes, the PHI-free report, digests); the quarantine
index, which names input paths, stays in the quarantine staging folder.

The secret is the worker's own (its device key store): it never travels to the scheduler.
The task carries a keyed check value so that a worker with another secret refuses the unit
instead of writing other pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from device_ai.dicom.deidentify.burned_in import PixelRule
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.reader import ReadLimits
from device_ai.batch.unit_failure import run_unit
from device_ai.errors import DeviceAIError

STAGING = "staging"
OUTPUT = "out"
CROSSWALK_PART = "crosswalk.part"  # in the unit's quarantine folder: encrypted, never in OUT
_CHECK = b"device-ai batch secret check"
_DEIDENTIFIERS: dict[tuple, object] = {}  # per worker process: the rule tables load once


def secret_check(secret: bytes) -> str:
    """A value that tells whether two processes hold the same secret, revealing nothing of it."""
    return hmac.new(secret, _CHECK, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class UnitTask:
    """One unit for a worker (picklable; paths, never file contents)."""

    unit: str
    files: tuple[str, ...]
    staging_root: str  # OUT/.device-ai-batch/staging
    quarantine_root: str  # QUARANTINE/.device-ai-batch/staging
    options: frozenset[Option]
    pixel_rules: tuple[PixelRule, ...]
    limits: ReadLimits
    secret_check: str
    crosswalk_check: str = ""  # the crosswalk key's check value when a crosswalk is wanted, else ""


@dataclass
class UnitResult:
    """What came of one unit (picklable, PHI-free)."""

    unit: str
    attempt: str  # the attempt folder's name under the staging roots
    worker_pid: int
    error_code: str = ""  # a unit-level failure: nothing to publish
    error_class: str = ""
    error_exit: int = 0
    error_input: bool = False  # a refusal of the unit's input (InputRefused family)
    outputs: list[str] = field(default_factory=list)  # names under the unit's output folder
    output_digest: str = ""
    report: dict = field(default_factory=dict)  # the single run's PHI-free report of this unit
    files_in: int = 0
    written: int = 0
    quarantined: int = 0
    skipped: int = 0
    withheld: int = 0
    quarantine_codes: dict[str, int] = field(default_factory=dict)
    table_edition: str = ""
    options: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


def deidentify_unit(task: UnitTask) -> UnitResult:
    """De-identify one unit into a new attempt folder; never raises for the unit's own
    failure (it is returned, typed), so no exception object crosses the wire."""
    attempt = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    result = UnitResult(unit=task.unit, attempt=attempt, worker_pid=os.getpid())
    run_unit(result, lambda: _run(task, attempt, result), lambda note: _write_error_note(task, attempt, note))
    return result


def _run(task: UnitTask, attempt: str, result: UnitResult) -> None:
    from device_ai.dicom.deidentify.keyed import KeyedReplacer, site_secret

    from device_ai.batch.errors import UnitMismatch, WorkerSecretMismatch

    secret = site_secret()
    if secret_check(secret) != task.secret_check:
        raise WorkerSecretMismatch(
            f"worker process {os.getpid()} holds another de-identification secret than the coordinator; "
            "its pseudonyms would differ", hint="give every worker the site's key store (DEVICE_AI_HOME/keys)")
    if task.crosswalk_check:
        from device_ai.dicom.deidentify.crosswalk import KEY_NAME
        from device_ai.keystore import secret as keystore_secret

        if secret_check(keystore_secret(KEY_NAME)) != task.crosswalk_check:
            raise WorkerSecretMismatch(
                f"worker process {os.getpid()} holds another crosswalk key than the coordinator; the coordinator "
                "could not read its part of the crosswalk", hint="give every worker the site's key store "
                                                                 "(DEVICE_AI_HOME/keys)")
    deidentifier = _deidentifier(task, secret)
    deidentifier.replacer = KeyedReplacer(secret)  # a unit's entries only: a long-lived worker does not grow
    out = Path(task.staging_root) / attempt / OUTPUT
    quarantine = Path(task.quarantine_root) / attempt
    out.parent.mkdir(mode=0o700, parents=True)
    run = deidentifier.run([Path(f) for f in task.files], out, quarantine)
    folder = out / task.unit if task.unit != _unassigned() else None
    names = sorted(_files_under(out))
    expected_prefix = f"{task.unit}/"
    report_name = _report_name()
    stray = [n for n in names if n != report_name and (folder is None or not n.startswith(expected_prefix))]
    if stray:
        raise UnitMismatch(f"unit {task.unit}: the de-identified output holds {len(stray)} file(s) outside the unit's "
                           "study folder (the files' identity read now differs from discovery); nothing was published",
                           hint="run the command again; if it repeats, de-identify these files without --batch")
    if task.crosswalk_check:  # this unit's part, encrypted under the crosswalk key, beside its quarantine
        from device_ai.dicom.deidentify.crosswalk import write_crosswalk

        quarantine.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_crosswalk(quarantine / CROSSWALK_PART, run.replacer)
    result.outputs = [n[len(expected_prefix):] for n in names if n != report_name]
    result.output_digest = folder_digest(folder) if folder is not None and folder.exists() else ""
    result.report = run.report()
    result.files_in, result.written = run.files_in, len(run.written)
    result.quarantined, result.skipped = len(run.quarantined), len(run.skipped)
    result.withheld = run.withheld_by_self_check
    codes: dict[str, int] = {}
    for item in run.quarantined:
        codes[item.code] = codes.get(item.code, 0) + 1
    result.quarantine_codes = codes
    result.table_edition = deidentifier.table.edition
    result.options = ",".join(sorted(o.cli_name for o in deidentifier.policy.options))


def _deidentifier(task: UnitTask, secret: bytes):  # noqa: ANN202 - Deidentifier
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig

    key = (task.options, task.pixel_rules, task.limits, task.secret_check)
    if key not in _DEIDENTIFIERS:
        # workers=1: the unit runs in this process (the cluster's processes are the parallelism)
        _DEIDENTIFIERS[key] = Deidentifier(RunConfig(options=task.options, pixel_rules=task.pixel_rules,
                                                     limits=task.limits, secret=secret, workers=1))
    return _DEIDENTIFIERS[key]


def _unassigned() -> str:
    from device_ai.batch.units import UNASSIGNED

    return UNASSIGNED


def _report_name() -> str:
    from device_ai.dicom.deidentify.run import REPORT_NAME

    return REPORT_NAME


def _files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]


def folder_digest(folder: Path) -> str:
    """SHA-256 over the sorted (relative name, SHA-256 of the bytes) of every file under
    ``folder``: what the ledger records and a re-run checks."""
    outer = hashlib.sha256()
    for name in sorted(_files_under(folder)):
        inner = hashlib.sha256()
        with open(folder / name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(name.encode() + b"\x00" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()


def _write_error_note(task: UnitTask, attempt: str, message: str) -> None:
    """The detailed message (it may name an input file) goes to the quarantine side, which
    stays in the hospital; the coordinator moves it to the unit's quarantine folder."""
    from device_ai.atomic_io import atomic_write_text

    try:
        atomic_write_text(Path(task.quarantine_root) / attempt / "unit-error.txt", message + "\n")
    except DeviceAIError:
        pass  # the code is in the result; the detail is lost, not the outcome
