"""``analyze --batch IN OUT``: the coordinator of an analysis job, one unit per CT series.

Units: the files under IN sharing a Series Instance UID (read from each header within the
read limits, ``units.header_series``), each named by the series' keyed pseudonym
(``series-<hex>``, as the audit log names it); files without one form the unit ``unassigned``,
which the pipeline refuses like any input that is not a CT series; entries the walk does not
follow (links leading outside IN, folders that cannot be listed) form the unit ``not-followed``,
refused by the coordinator (DAI-201) and never read. Worker processes run the
single ``analyze`` pipeline on a unit (:mod:`device_ai.batch.analyze_work`) and return its
Analysis Run record; the coordinator alone writes the audit log and the ledger and publishes.

The model is verified by the coordinator first (the Model Verified entry, as a single run),
and by every worker again. Per unit result, one at a time, as for ``anonymize --batch``: a unit
the ledger records as published is discarded; else the ledger says ``recording``, the unit's
Analysis Run entry is appended (the single run's objects and details plus ``batch_job``,
``batch_unit``, ``batch_attempt``; durable), its folder is renamed into OUT/<unit> (the commit
point), and the ledger says ``published``. A failed unit gets its failure entry with the
error code and the job goes on; the next run of the same command retries it. A re-run skips
published units whose folder shows the recorded digest and completes a unit a killed
coordinator left in ``recording`` without a second entry.

Exit code (``AnalyzeJobResult.exit_code``): a unit that failed for another reason than its input
gives that error's exit code (the job is incomplete: run it again); else 3 when a unit's input
was refused; else 0.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from device_ai.app.audited import audited, outcome_of
from device_ai.app.context import Context
from device_ai.app.model import load_engine, model_object, model_path
from device_ai.atomic_io import atomic_write_text
from device_ai.audit.entry import ANALYSIS_RUN, AuditObject, Outcome
from device_ai.batch import publish as publication
from device_ai.batch.analyze_work import ERROR_NOTE, SeriesResult, SeriesTask, analyze_unit
from device_ai.batch.cluster_security import SiteScheduler, site_scheduler
from device_ai.batch.coordination import logged_attempts, run_units, unit_failure
from device_ai.batch.engines import engine_for
from device_ai.batch.errors import JobMismatch, PublishedOutputAltered
from device_ai.batch.job_root import check_apart, check_job_root, job_folder, keyed
from device_ai.batch.ledger import FAILED, PENDING, PUBLISHED, RECORDING, Ledger
from device_ai.batch.progress import JobProgress
from device_ai.batch.unit_work import folder_digest, secret_check
from device_ai.batch.units import UNASSIGNED, Discovery, Unit, discover_units, header_series
from device_ai.errors import (
    AuditError, ConfigError, DeviceAIError, DicomReadError, InputRefused, OutputRefused, ReadLimitExceeded,
)

MAX_ATTEMPTS_PER_RUN = 3  # a unit whose worker is lost is handed out again, up to this, per run
NOT_FOLLOWED = "not-followed"  # the unit of the entries the walk did not follow: refused, never read
FAILED_NOTES = "failed"  # OUT/.device-ai-batch/failed/<unit>.txt: why a unit was refused (may name input files)


@dataclass(frozen=True)
class BatchAnalyzeRequest:
    input: Path
    out: Path
    model: Path | None = None
    workers: int = 0  # local cluster worker processes; 0: one per usable core
    scheduler: str | None = None  # tls://HOST:PORT of an existing Dask scheduler (cluster_security)


@dataclass
class AnalyzeJobResult:
    job: str
    engine: str = ""
    dashboard: str | None = None
    units: int = 0
    already_published: int = 0
    published: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # unit -> error code
    failed_exit: dict[str, int] = field(default_factory=dict)  # unit -> exit code of a non-input failure
    duplicates_discarded: int = 0
    resumed: int = 0

    @property
    def exit_code(self) -> int:
        for unit in sorted(self.failed_exit):
            return self.failed_exit[unit]
        return InputRefused.exit_code if self.failed else 0

    @property
    def outcome(self) -> Outcome:
        if self.failed_exit:
            return Outcome.SERIOUS_FAILURE
        return Outcome.MINOR_FAILURE if self.failed else Outcome.SUCCESS


def analyze_batch(ctx: Context, request: BatchAnalyzeRequest,
                  engine_factory: Callable[..., object] = engine_for) -> AnalyzeJobResult:
    """Run (or resume) the job; see the module docstring."""
    from device_ai.keystore import secret
    from device_ai.pseudonyms import SECRET_NAME, pseudonym

    # an unsecured --scheduler is refused before the audit log, OUT or the model are touched (SRS-220)
    scheduler = site_scheduler(request.scheduler, ctx.settings)
    with ctx.open_audit_log() as log, audited(log, ANALYSIS_RUN) as job_action:
        source, out = Path(request.input), Path(request.out)
        if not source.is_dir():
            raise InputRefused(f"IN {source} is not a folder; --batch analyzes the series found under a folder",
                               hint="pass the folder holding the series, or run without --batch for one series")
        check_apart(source, {"OUT": out})
        check_job_root(out)
        if ctx.settings.inference_device != "cpu":  # the workers build CPU engines: never run elsewhere than configured
            raise ConfigError(f"analyze --batch runs its workers on the CPU; inference_device is "
                              f"{ctx.settings.inference_device}; nothing was run",
                              hint="run the job with DEVICE_AI_INFERENCE_DEVICE=cpu, or analyze the series one by one "
                                   "(without --batch) on the accelerator")
        engine = load_engine(ctx, log, request.model, threads=1)  # the Model Verified entry, as a single run
        job_action.objects = (model_object(engine),)
        key = secret(SECRET_NAME)
        limits = ctx.read_limits()
        with job_folder(out, Ledger) as ledger:
            job = _job_identity(ledger, request, key, engine.package.manifest_sha256)
            job_action.details["batch_job"] = job
            result = AnalyzeJobResult(job=job)
            template = SeriesTask(unit="", files=(), staging_root=str(publication.staging_root(out)),
                                  package=str(Path(model_path(ctx, request.model)).resolve()),
                                  manifest_sha256=engine.package.manifest_sha256,
                                  trusted_keys=tuple(ctx.settings.trusted_model_keys), limits=limits,
                                  pseudonym_check=secret_check(key), access=ctx.result_access())

            def unit_of(path: Path) -> str:
                uid = header_series(path, limits)
                return UNASSIGNED if uid is None else pseudonym("series", uid)

            coordinator = _Coordinator(ctx, log, ledger, out, result, template, scheduler)
            coordinator.run(discover_units(source, limits, unit_of, key), engine_factory, request)
            job_action.succeeded(coordinator.end_details(), outcome=result.outcome)
        return result


def _job_identity(ledger: Ledger, request: BatchAnalyzeRequest, key: bytes, manifest_sha256: str) -> str:
    """The job id; a new job records what it is (input, model, pseudonym key), a re-run must be the same job."""
    wanted = {"kind": "analyze", "input": keyed(key, "input", str(Path(request.input).resolve())),
              "model": manifest_sha256, "secret_check": secret_check(key)}
    recorded = ledger.identity()
    if not recorded:
        job = uuid.uuid4().hex
        ledger.set_identity({**wanted, "job": job})
        return job
    differ = sorted(k for k, value in wanted.items() if recorded.get(k) != value)
    if differ:
        raise JobMismatch(f"OUT {request.out} holds the ledger of another job (its {', '.join(differ)} differ)",
                          hint="re-run with the same IN, model and key store, or choose a new OUT")
    return recorded["job"]


def _failure(outcome: SeriesResult) -> DeviceAIError:
    return unit_failure(outcome.error_code, outcome.error_input, f"unit {outcome.unit}: {outcome.error_class}",
                        outcome.error_exit)


class _Coordinator:
    def __init__(self, ctx: Context, log, ledger: Ledger, out: Path, result: AnalyzeJobResult,  # noqa: ANN001
                 template: SeriesTask, scheduler: SiteScheduler | None = None) -> None:
        self.ctx, self.log, self.ledger, self.out, self.result, self.template = ctx, log, ledger, out, result, template
        self.scheduler = scheduler
        self._logged_attempts: dict[str, int] | None = None
        self._resumed: set[str] = set()

    def run(self, discovery: Discovery, engine_factory: Callable[..., object], request: BatchAnalyzeRequest) -> None:
        units = {unit.id: unit for unit in discovery.units}
        if discovery.unfollowable:  # links out of IN, folders that cannot be listed: never read, refused here
            units[NOT_FOLLOWED] = Unit(NOT_FOLLOWED, tuple(sorted(discovery.unfollowable)), "not read")
        self.result.units = len(units)
        self._check_inputs_unchanged(units)
        self.ledger.add_units([(u.id, len(u.files), u.input_digest) for u in units.values()])
        self.log.append(ANALYSIS_RUN, action="E", details={
            **self._job_details(), "batch_step": "started", "units": str(len(units)),
            "units_published_before": str(len(self.ledger.units_where("state = ?", (PUBLISHED,))))})
        self._resolve_recording()
        self._clear_staging()
        self._check_published()
        to_run = [units[r.unit] for r in self.ledger.units_where("state IN (?, ?)", (PENDING, FAILED)) if r.unit in units]
        over = [u for u in to_run if len(u.files) > self.template.limits.max_files]
        for unit in over:
            self._record_failure(unit.id, "", (), ReadLimitExceeded(
                f"unit {unit.id} holds {len(unit.files)} files, above max_files {self.template.limits.max_files}",
                hint="raise max_files in the configuration if such series are expected"))
        for unit in [u for u in to_run if u.id == NOT_FOLLOWED]:
            over.append(unit)
            reasons = sorted({reason for _, reason in discovery.unfollowable.values()})
            self._keep_note(unit.id, "\n".join(f"{path}: {reason}" for path, (_, reason) in
                                               sorted(discovery.unfollowable.items())))
            self._record_failure(unit.id, "", (), DicomReadError(
                f"{len(unit.files)} entries under IN were not read ({'; '.join(reasons)[:200]})",
                hint="move the files into IN, or make the folders readable; then run the command again"))
        to_run = [u for u in to_run if u not in over]
        if to_run:
            self._run_units(to_run, engine_factory, request, refused=[u.id for u in over])
        self._clear_staging()

    def _run_units(self, to_run: list[Unit], engine_factory: Callable[..., object], request: BatchAnalyzeRequest,
                   refused: list[str]) -> None:
        root = publication.staging_root(self.out)
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputRefused(f"cannot create the staging folder {root}: {exc.strerror or exc}",
                                hint="check the permissions of OUT") from exc
        engine = engine_factory(request.workers, self.scheduler, len(to_run))
        try:
            self.result.engine, self.result.dashboard = engine.name, engine.dashboard
            progress = JobProgress(len(to_run) + len(refused), self.ctx.status, what="units (series)")
            progress.announce(engine.name, engine.dashboard)
            for unit in refused:
                progress.refused(unit)
            run_units(engine, analyze_unit, to_run, self._task, self._take,
                      lambda unit, error: self._record_failure(unit, "", (), error),
                      lambda unit: unit in self.result.failed, progress, MAX_ATTEMPTS_PER_RUN)
        finally:
            engine.close()

    def _task(self, unit: Unit) -> SeriesTask:
        self.ledger.started(unit.id)
        t = self.template
        return SeriesTask(unit=unit.id, files=tuple(str(f) for f in unit.files), staging_root=t.staging_root,
                          package=t.package, manifest_sha256=t.manifest_sha256, trusted_keys=t.trusted_keys,
                          limits=t.limits, pseudonym_check=t.pseudonym_check, access=t.access)

    # -- one result ---------------------------------------------------------------------------

    def _take(self, outcome: SeriesResult) -> None:
        if self.ledger.unit(outcome.unit).state == PUBLISHED:  # ran twice: never published twice
            publication.discard(self.out, None, outcome.attempt)
            self.result.duplicates_discarded += 1
            return
        if outcome.failed:
            self._keep_error_note(outcome.unit, outcome.attempt)
            publication.discard(self.out, None, outcome.attempt)
            self._record_failure(outcome.unit, outcome.attempt, outcome.objects, _failure(outcome))
            return
        record = {"objects": [o.model_dump() for o in outcome.objects], "details": outcome.details}
        self.ledger.recording(outcome.unit, outcome.attempt, outcome.output_digest, None, record)
        self._record_and_publish(outcome.unit, outcome.attempt, record, entry_seq=None)

    def _record_and_publish(self, unit: str, attempt: str, record: dict, entry_seq: int | None) -> bool:
        """The unit's entry (unless ``entry_seq`` says the log holds it), publication, the ledger;
        whether it was published. A failed publication gets a failure entry superseding the
        success entry; the job goes on."""
        objects = tuple(AuditObject(**o) for o in record["objects"])
        if entry_seq is None:
            entry_seq = self.log.append(ANALYSIS_RUN, action="C", objects=objects, details={
                **record["details"], **self._unit_details(unit, attempt)}).seq
        try:
            publication.publish(self.out, None, unit, unit, attempt, has_output=True)
        except AuditError:
            raise
        except DeviceAIError as exc:
            self.log.append(ANALYSIS_RUN, action="C", outcome=outcome_of(exc), objects=objects,
                            details={**self._unit_details(unit, attempt), "error": exc.code,
                                     "supersedes": str(entry_seq)})
            publication.discard(self.out, None, attempt)
            self._failed(unit, exc)
            return False
        self.ledger.published(unit, entry_seq)
        self.result.published += 1
        return True

    def _record_failure(self, unit: str, attempt: str, objects: tuple[AuditObject, ...], error: DeviceAIError) -> None:
        self.log.append(ANALYSIS_RUN, action="C", outcome=outcome_of(error), objects=objects or self._model(),
                        details={**self._unit_details(unit, attempt), "error": error.code})
        self._failed(unit, error)

    def _failed(self, unit: str, error: DeviceAIError) -> None:
        self.ledger.failed(unit, error.code)
        self.result.failed[unit] = error.code
        if not isinstance(error, InputRefused):
            self.result.failed_exit[unit] = error.exit_code

    # -- a killed coordinator's leftovers ----------------------------------------------------

    def _resolve_recording(self) -> None:
        """Units a killed coordinator left between 'recording' and 'published'."""
        for record in self.ledger.units_where("state = ?", (RECORDING,)):
            final = self.out / record.unit
            seq = self._entry_of(record.attempt)
            staged = publication.attempt_output(self.out, record.attempt, record.unit)
            if final.is_dir() and folder_digest(final) == record.output_digest:  # renamed, not yet recorded
                self.ledger.published(record.unit, seq if seq is not None else -1)
                publication.discard(self.out, None, record.attempt)
                self.result.published += 1
            elif staged.is_dir() and folder_digest(staged) == record.output_digest:
                if not self._record_and_publish(record.unit, record.attempt, record.report, seq):
                    continue
            else:
                if seq is not None:  # recorded but its results are gone: say so, then run it again
                    self.log.append(ANALYSIS_RUN, action="C", outcome=Outcome.SERIOUS_FAILURE,
                                    objects=tuple(AuditObject(**o) for o in record.report.get("objects", [])),
                                    details={**self._unit_details(record.unit, record.attempt), "error": "DAI-500",
                                             "supersedes": str(seq),
                                             "reason": "the coordinator stopped before publishing and the unit's "
                                                       "results are gone; the unit runs again"})
                self.ledger.failed(record.unit, "DAI-500")
                continue
            self.result.resumed += 1
            self._resumed.add(record.unit)

    def _entry_of(self, attempt: str) -> int | None:
        """The sequence number of the success entry the log holds for ``attempt``, if any."""
        if self._logged_attempts is None:
            self._logged_attempts = logged_attempts(self.ctx.audit_folder, ANALYSIS_RUN.code)
        return self._logged_attempts.get(attempt)

    def _clear_staging(self) -> None:
        keep = {r.attempt for r in self.ledger.units_where("state = ?", (RECORDING,))}
        root = publication.staging_root(self.out)
        if root.is_dir():
            for attempt in root.iterdir():
                if attempt.name not in keep:
                    shutil.rmtree(attempt, ignore_errors=True)

    def _check_inputs_unchanged(self, units: dict[str, Unit]) -> None:
        changed = [r.unit for r in self.ledger.units_where("state = ?", (PUBLISHED,))
                   if r.unit in units and units[r.unit].input_digest != r.input_digest]
        if changed:
            raise JobMismatch(f"{len(changed)} published unit(s) have other files under IN than when they were "
                              f"published (e.g. {changed[0]})",
                              hint="the job's published results are kept as they are: analyze the changed series "
                                   "into a new OUT")

    def _check_published(self) -> None:
        """A published unit is skipped only if its folder still shows the recorded digest."""
        for record in self.ledger.units_where("state = ?", (PUBLISHED,)):
            if record.unit in self._resumed:
                continue
            self.result.already_published += 1
            final = self.out / record.unit
            if not final.is_dir() or folder_digest(final) != record.output_digest:
                error = PublishedOutputAltered(
                    f"unit {record.unit} is recorded as published, but its folder in OUT is "
                    f"{'missing' if not final.is_dir() else 'altered'}",
                    hint="restore it from a copy, or analyze that series into a new OUT; it is not written again")
                self.result.failed[record.unit] = error.code
                self.result.failed_exit[record.unit] = error.exit_code

    # -- details ------------------------------------------------------------------------------

    def _job_details(self) -> dict[str, str]:
        return {"batch_job": self.result.job}

    def _unit_details(self, unit: str, attempt: str) -> dict[str, str]:
        return {**self._job_details(), "batch_unit": unit, "batch_attempt": attempt}

    def _model(self) -> tuple[AuditObject, ...]:
        return (AuditObject(kind="model", id=self.template.manifest_sha256),)

    def _keep_error_note(self, unit: str, attempt: str) -> None:
        note = publication.staging_root(self.out) / attempt / ERROR_NOTE
        if note.is_file():
            with contextlib.suppress(OSError):
                self._keep_note(unit, note.read_text())

    def _keep_note(self, unit: str, text: str) -> None:
        with contextlib.suppress(DeviceAIError, OSError):
            failed_note(self.out, unit).parent.mkdir(mode=0o700, exist_ok=True)
            atomic_write_text(failed_note(self.out, unit), text.rstrip("\n") + "\n")

    def end_details(self) -> dict[str, str]:
        r = self.result
        return {"batch_step": "finished", "units": str(r.units), "units_published": str(r.published),
                "units_already_published": str(r.already_published), "units_failed": str(len(r.failed)),
                "units_resumed": str(r.resumed), "duplicates_discarded": str(r.duplicates_discarded),
                "engine": r.engine or "none (nothing to run)"}


def failed_note(out: Path, unit: str) -> Path:
    """Where the job keeps why ``unit`` was refused (the worker's message; it may name input files)."""
    return Path(out) / publication.JOB_FOLDER / FAILED_NOTES / f"{unit}.txt"

