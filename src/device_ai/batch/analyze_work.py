"""What a worker process does for one series of ``analyze --batch``: the single ``analyze``'s
pipeline (read with limits, input contract, locked engine, SEG + SR + summary + previews,
``inference.analyze.analyze``) into a private attempt folder, and the Analysis Run record the
single run would write, returned to the coordinator instead of written.

The worker verifies the model package itself (``batch.worker_engine``: a package whose manifest
digest is not the coordinator's is refused) and never writes the audit log, the ledger or
anything outside OUT/.device-ai-batch/staging/<attempt>. What it returns carries no PHI: keyed
pseudonyms (its own key store: the task carries a check value, so a worker with another
pseudonym key refuses the unit instead of naming series otherwise), counts, error codes, the
output digest and each published file's digest (SRS-222, taken in the pipeline's staging
folder); the refusal's message, which may name input files, goes to the attempt folder for the
coordinator to keep beside the job's ledger.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from device_ai.atomic_io import Access
from device_ai.audit.entry import AuditObject
from device_ai.audit.result_files import published_files
from device_ai.batch.unit_work import OUTPUT, folder_digest, secret_check
from device_ai.dicom.reader import ReadLimits
from device_ai.batch.unit_failure import run_unit
from device_ai.errors import DeviceAIError

ERROR_NOTE = "unit-error.txt"


@dataclass(frozen=True)
class SeriesTask:
    """One series for a worker (picklable; paths, never file contents)."""

    unit: str
    files: tuple[str, ...]
    staging_root: str  # OUT/.device-ai-batch/staging
    package: str
    manifest_sha256: str
    trusted_keys: tuple[str, ...]  # base64 public keys, as in the settings
    limits: ReadLimits
    pseudonym_check: str  # the coordinator's pseudonym key, as a check value
    access: Access = Access.PRIVATE  # of the unit's result files (THR-018: results_group_readable)


@dataclass
class SeriesResult:
    """What came of one series (picklable, PHI-free)."""

    unit: str
    attempt: str
    worker_pid: int
    objects: tuple[AuditObject, ...] = ()  # the Analysis Run entry's objects, as the single run names them
    details: dict[str, str] = field(default_factory=dict)  # its details (slices, lesion count)
    output_digest: str = ""
    error_code: str = ""
    error_class: str = ""
    error_exit: int = 0
    error_input: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


def analyze_unit(task: SeriesTask) -> SeriesResult:
    """Analyze one series into a new attempt folder; never raises for the unit's own failure
    (returned typed), so no exception object crosses the wire."""
    attempt = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    result = SeriesResult(unit=task.unit, attempt=attempt, worker_pid=os.getpid())
    run_unit(result, lambda: _run(task, attempt, result), lambda note: _write_error_note(task, attempt, note))
    return result


def _run(task: SeriesTask, attempt: str, result: SeriesResult) -> None:
    from device_ai.app.model import model_object
    from device_ai.app.subjects import analysis_details, series_objects
    from device_ai.batch.errors import WorkerSecretMismatch
    from device_ai.batch.worker_engine import verified_engine
    from device_ai.inference.analyze import analyze as run_pipeline
    from device_ai.keystore import secret
    from device_ai.pseudonyms import SECRET_NAME

    if secret_check(secret(SECRET_NAME)) != task.pseudonym_check:
        raise WorkerSecretMismatch(
            f"worker process {os.getpid()} holds another pseudonym key than the coordinator; its audit entries "
            "would name the series otherwise", hint="give every worker the site's key store (DEVICE_AI_HOME/keys)")
    engine = verified_engine(task.package, task.manifest_sha256, task.trusted_keys)
    result.objects = (model_object(engine),)  # as the single run names a failure before the series is read

    def loaded(series) -> None:  # noqa: ANN001 - from here on, the entry names the study and series
        result.objects = series_objects(series, engine)

    published: list[AuditObject] = []

    def sealed(stage: Path, summary: dict) -> None:  # noqa: ARG001 - the files as the coordinator will publish them
        published.extend(published_files(stage))

    out = Path(task.staging_root) / attempt / OUTPUT / task.unit
    out.parent.mkdir(mode=0o700, parents=True)
    analysis = run_pipeline([Path(f) for f in task.files], out, engine, limits=task.limits, loaded=loaded,
                            sealed=sealed, access=task.access)
    result.objects = (*result.objects, *published)
    result.details = analysis_details(analysis.summary)
    result.output_digest = folder_digest(out)


def _write_error_note(task: SeriesTask, attempt: str, message: str) -> None:
    from device_ai.atomic_io import atomic_write_text

    try:
        atomic_write_text(Path(task.staging_root) / attempt / ERROR_NOTE, message + "\n")
    except DeviceAIError:
        pass  # the code is in the result; the detail is lost, not the outcome
