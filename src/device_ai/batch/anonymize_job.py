"""``anonymize --batch IN OUT``: the coordinator of a de-identification job.

One process, the coordinator, owns everything that must happen once: the job ledger, the
audit log (the single writer), publication and the merged report. Worker processes (an
engine: in this process, a local Dask cluster, or an existing one) only de-identify units into
private attempt folders (:mod:`device_ai.batch.unit_work`).

For each unit result, in the coordinator, one at a time:

1. the ledger is asked first: a unit already published (a second run of a unit whose worker
   was lost after finishing, or a re-run of the job) is discarded, never published twice;
2. the ledger records ``recording`` with the attempt (durable);
3. the unit's De-identification entry is appended (durable; the fields a single run writes,
   plus ``batch_job``, ``batch_unit``, ``batch_attempt``, and the study pseudonym as object);
4. its quarantine folder, then its study folder, are renamed into place (the study folder in
   one rename: the commit point);
5. the ledger records ``published`` with the entry's sequence number.

A unit that failed (typed error from the worker, a worker lost too often, a publication that
failed) gets its failure entry with the error code (superseding its success entry if one was
made), the ledger says ``failed`` with the code, and the job goes on; the next run of the same
command retries it. A coordinator killed anywhere is resolved by the next run: a unit left in
``recording`` is published from its attempt folder if that is intact (its entry appended only
if the log does not hold it already), else superseded and run again; a published unit is
skipped once its folder in OUT shows the recorded digest.

The job's own start and end are entries too (De-identification, ``batch_step``
started/finished); the end entry's outcome says how the job ended.

OUT is the job's root: new (or empty) on the first run, or holding this job's ledger
(``OUT/.device-ai-batch/ledger.sqlite``) on a re-run; the same input folder, options and site
secret are required (keyed digests in the ledger), else the run is refused before any work.
Unlike a single run, OUT is visible while the job runs: each study folder appears in one rename
after its audit entry, and the merged ``deidentification-report.json`` at the end.

Exit code of the job (``JobResult.exit_code``): a unit that failed for a reason other than its
input (output, worker lost, internal) gives that error's exit code (the job is incomplete: run
it again); otherwise 11 when the self-check withheld files, 3 when files were quarantined or a
unit's input was refused, else 0, as for a single run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from device_ai.app import preconditions
from device_ai.app.audited import audited, outcome_of
from device_ai.app.context import Context
from device_ai.atomic_io import atomic_write_text
from device_ai.audit.entry import DEIDENTIFICATION, AuditObject, Outcome
from device_ai.batch import publish as publication
from device_ai.batch.cluster_security import SiteScheduler, site_scheduler
from device_ai.batch.coordination import logged_attempts, run_units, unit_failure
from device_ai.batch.engines import engine_for
from device_ai.batch.errors import JobMismatch, PublishedOutputAltered
from device_ai.batch.job_root import check_apart, check_job_root, job_folder, keyed
from device_ai.batch.ledger import FAILED, PENDING, PUBLISHED, RECORDING, Ledger
from device_ai.batch.progress import JobProgress
from device_ai.batch.report import merged_report
from device_ai.batch.unit_work import UnitResult, UnitTask, deidentify_unit, folder_digest, secret_check
from device_ai.batch.units import UNASSIGNED, Discovery, Unit, discover
from device_ai.errors import (AuditError, DeidentificationConfigError, DeidentificationFailed, DeviceAIError, InputRefused,
                              OutputError, OutputRefused, ReadLimitExceeded)

WALK_INDEX = "walk.json"
MAX_ATTEMPTS_PER_RUN = 3  # a unit whose worker is lost is handed out again, up to this, per run


@dataclass(frozen=True)
class BatchAnonymizeRequest:
    input: Path
    out: Path
    options: list[str] = field(default_factory=list)
    quarantine: Path | None = None  # default: OUT-quarantine beside OUT
    pixel_rules: Path | None = None
    crosswalk: Path | None = None  # the job's encrypted crosswalk (batch.crosswalk)
    workers: int = 0  # local cluster worker processes; 0: one per usable core
    scheduler: str | None = None  # tls://HOST:PORT of an existing Dask scheduler (cluster_security)

    @property
    def quarantine_folder(self) -> Path:
        return Path(self.quarantine) if self.quarantine else Path(self.out).with_name(Path(self.out).name + "-quarantine")


@dataclass
class JobResult:
    job: str
    engine: str = ""
    dashboard: str | None = None
    units: int = 0
    already_published: int = 0
    published: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # unit -> error code
    failed_exit: dict[str, int] = field(default_factory=dict)  # unit -> exit code of a non-input failure
    duplicates_discarded: int = 0
    resumed: int = 0  # units found half-published by a killed coordinator and completed
    files_in: int = 0
    written: int = 0
    quarantined: int = 0
    withheld: int = 0
    skipped: int = 0
    edition: str = ""
    options: str = ""

    @property
    def exit_code(self) -> int:
        for unit in sorted(self.failed_exit):
            return self.failed_exit[unit]
        if self.withheld:
            return DeidentificationFailed.exit_code
        if self.quarantined or self.failed:
            return InputRefused.exit_code
        return 0

    @property
    def outcome(self) -> Outcome:
        if self.failed_exit:
            return Outcome.SERIOUS_FAILURE
        return Outcome.MINOR_FAILURE if self.exit_code else Outcome.SUCCESS


def anonymize_batch(ctx: Context, request: BatchAnonymizeRequest,
                    engine_factory: Callable[..., object] = engine_for) -> JobResult:
    """Run (or resume) the job; see the module docstring."""
    from device_ai.dicom.deidentify.burned_in import load_pixel_rules
    from device_ai.dicom.deidentify.keyed import site_secret
    from device_ai.dicom.deidentify.options import Option, parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig

    # an unsecured --scheduler is refused before the audit log or OUT are touched (SRS-220)
    scheduler = site_scheduler(request.scheduler, ctx.settings)
    with ctx.open_audit_log() as log, audited(log, DEIDENTIFICATION) as job_action:
        options = parse_options(request.options)
        rules = load_pixel_rules(Path(request.pixel_rules)) if request.pixel_rules else ()
        if Option.CLEAN_PIXEL_DATA in options and not rules:
            raise DeidentificationConfigError(
                "option clean-pixel-data needs --pixel-rules: without configured regions no pixel is cleaned",
                hint="pass --pixel-rules FILE with the regions to blank, or run without clean-pixel-data")
        out, quarantine = Path(request.out), request.quarantine_folder
        _check_input(Path(request.input))
        check_apart(Path(request.input), {"OUT": out, "--quarantine": quarantine})
        check_job_root(out)
        preconditions.check_writable_location(quarantine, "--quarantine")
        secret = site_secret()
        limits = ctx.read_limits()
        naming = Deidentifier(RunConfig(options=options, pixel_rules=rules, limits=limits, secret=secret, workers=1))
        option_names = ",".join(sorted(o.cli_name for o in naming.policy.options))
        job_action.details = {"options": option_names, "table_edition": naming.table.edition}
        if request.crosswalk is not None:
            preconditions.check_output_file(Path(request.crosswalk), "--crosswalk")
        with job_folder(out, Ledger) as ledger:
            job = _job_identity(ledger, request, secret, option_names, naming.table.edition)
            job_action.details["batch_job"] = job
            crosswalk_check = _check_crosswalk(ledger, request)
            result = JobResult(job=job, edition=naming.table.edition, options=option_names)
            coordinator = _Coordinator(ctx, log, ledger, request, result, UnitTask(
                unit="", files=(), staging_root=str(publication.staging_root(out)),
                quarantine_root=str(publication.staging_root(quarantine)), options=frozenset(naming.policy.options),
                pixel_rules=tuple(rules), limits=limits, secret_check=secret_check(secret),
                crosswalk_check=crosswalk_check), scheduler)
            discovery = discover(Path(request.input), limits, lambda p, s: _unit_id(naming, p, s), secret)
            coordinator.run(discovery, engine_factory)
            pending = coordinator.prepare_crosswalk()
            try:
                job_action.succeeded(coordinator.end_details(), outcome=result.outcome)
                coordinator.write_report(discovery)
                coordinator.finish_crosswalk(pending)
            finally:
                if pending is not None:
                    with contextlib.suppress(OSError):
                        pending.unlink()
        return result


def _check_input(folder: Path) -> None:
    if not folder.is_dir():
        raise InputRefused(f"IN {folder} is not a folder; --batch de-identifies the studies found under a folder",
                           hint="pass the folder holding the studies, or run without --batch for single files")


def _check_crosswalk(ledger: Ledger, request: BatchAnonymizeRequest) -> str:
    """The crosswalk key's check value for the workers ("" without --crosswalk); FILE must be new
    or the crosswalk this job wrote (a re-run replaces it with a larger one), never another file."""
    if request.crosswalk is None:
        return ""
    from device_ai.batch.crosswalk import sha256_of
    from device_ai.dicom.deidentify.crosswalk import KEY_NAME
    from device_ai.keystore import secret as keystore_secret

    existing = sha256_of(Path(request.crosswalk))
    identity = ledger.identity()
    if existing is not None and existing not in (identity.get("crosswalk_sha256"), identity.get("crosswalk_pending_sha256")):
        raise OutputRefused(f"--crosswalk {request.crosswalk} already exists and is not this job's crosswalk; it may "
                            "be the only way back from an earlier run", hint="give --crosswalk a new file name")
    return secret_check(keystore_secret(KEY_NAME))


def _job_identity(ledger: Ledger, request: BatchAnonymizeRequest, secret: bytes, options: str, edition: str) -> str:
    """The job id; a new job records what it is, a re-run must be the same job."""
    wanted = {"input": keyed(secret, "input", str(Path(request.input).resolve())),
              "crosswalk": "yes" if request.crosswalk is not None else "no",
              "quarantine": keyed(secret, "quarantine", str(request.quarantine_folder.resolve())),
              "options": options, "table_edition": edition, "secret_check": secret_check(secret)}
    recorded = ledger.identity()
    if not recorded:
        job = uuid.uuid4().hex
        ledger.set_identity({**wanted, "job": job})
        return job
    differ = sorted(key for key, value in wanted.items() if recorded.get(key) != value)
    if differ:
        raise JobMismatch(f"OUT {request.out} holds the ledger of another job (its {', '.join(differ)} differ)",
                          hint="re-run with the same IN, options, --quarantine and site secret, or choose a new OUT")
    return recorded["job"]


class _Coordinator:
    def __init__(self, ctx: Context, log, ledger: Ledger, request: BatchAnonymizeRequest,  # noqa: ANN001
                 result: JobResult, template: UnitTask, scheduler: SiteScheduler | None = None) -> None:
        self.ctx, self.log, self.ledger, self.request, self.result = ctx, log, ledger, request, result
        self.scheduler = scheduler
        self.out, self.quarantine = Path(request.out), request.quarantine_folder
        self.template = template
        self._logged_attempts: dict[str, int] | None = None
        self._resumed: set[str] = set()  # completed from a killed run's leftovers: published now, not before

    # -- the run ------------------------------------------------------------------------------

    def run(self, discovery: Discovery, engine_factory: Callable[..., object]) -> None:
        units = {unit.id: unit for unit in discovery.units}
        self.result.units = len(units)
        self._check_inputs_unchanged(units)
        self.ledger.add_units([(u.id, len(u.files), u.input_digest) for u in units.values()])
        self.log.append(DEIDENTIFICATION, action="E", details={
            **self._job_details(), "batch_step": "started", "units": str(len(units)),
            "units_published_before": str(len(self.ledger.units_where("state = ?", (PUBLISHED,))))})
        self._resolve_recording()
        self._clear_staging()
        self._check_published(units)
        to_run = [units[r.unit] for r in self.ledger.units_where("state IN (?, ?)", (PENDING, FAILED)) if r.unit in units]
        over = [u for u in to_run if len(u.files) > self.template.limits.max_files]
        for unit in over:
            self._record_failure(unit.id, "", ReadLimitExceeded(
                f"unit {unit.id} holds {len(unit.files)} files, above max_files {self.template.limits.max_files}",
                hint="raise max_files in the configuration if such studies are expected"))
        to_run = [u for u in to_run if u not in over]
        self._write_walk_index(discovery)
        if to_run:
            self._run_units(to_run, engine_factory, refused=[u.id for u in over])
        self._clear_staging()
        self._tally(discovery)

    def _run_units(self, to_run: list[Unit], engine_factory: Callable[..., object], refused: list[str]) -> None:
        """``refused``: this run's units refused before running (counted as failed in the progress)."""
        for root in (publication.staging_root(self.out), publication.staging_root(self.quarantine)):
            try:  # private: the quarantine side holds copies of identifiable originals
                root.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(root.parent, 0o700)
            except OSError as exc:
                raise OutputRefused(f"cannot create the staging folder {root}: {exc.strerror or exc}",
                                    hint="check the permissions of OUT and --quarantine") from exc
        engine = engine_factory(self.request.workers, self.scheduler, len(to_run))
        try:
            self.result.engine, self.result.dashboard = engine.name, engine.dashboard
            progress = JobProgress(len(to_run) + len(refused), self.ctx.status, what="units (studies)")
            progress.announce(engine.name, engine.dashboard)
            for unit in refused:
                progress.refused(unit)
            run_units(engine, deidentify_unit, to_run, self._task, self._take,
                      lambda unit, error: self._record_failure(unit, "", error),
                      lambda unit: unit in self.result.failed, progress, MAX_ATTEMPTS_PER_RUN)
        finally:
            engine.close()

    def _task(self, unit: Unit) -> UnitTask:
        self.ledger.started(unit.id)
        t = self.template
        return UnitTask(unit=unit.id, files=tuple(str(f) for f in unit.files), staging_root=t.staging_root,
                        quarantine_root=t.quarantine_root, options=t.options, pixel_rules=t.pixel_rules,
                        limits=t.limits, secret_check=t.secret_check, crosswalk_check=t.crosswalk_check)

    # -- one result ---------------------------------------------------------------------------

    def _take(self, outcome: UnitResult) -> None:
        record = self.ledger.unit(outcome.unit)
        if record.state == PUBLISHED:  # ran twice (a worker lost after finishing, a re-run): never published twice
            publication.discard(self.out, self.quarantine, outcome.attempt)
            self.result.duplicates_discarded += 1
            return
        if outcome.failed:
            self._keep_error_note(outcome.unit, outcome.attempt)
            publication.discard(self.out, self.quarantine, outcome.attempt)
            self._record_failure(outcome.unit, outcome.attempt, unit_failure(
                outcome.error_code, outcome.error_input, f"unit {outcome.unit}: {outcome.error_class}",
                outcome.error_exit))
            return
        self.ledger.recording(outcome.unit, outcome.attempt, outcome.output_digest, None, outcome.report)
        self._record_and_publish(outcome.unit, outcome.attempt, outcome.output_digest, outcome.report, entry_seq=None)

    def _record_and_publish(self, unit: str, attempt: str, digest: str, report: dict, entry_seq: int | None) -> None:
        """The unit's entry (unless ``entry_seq`` says the log holds it already), then publication,
        then the ledger. A failed publication gets a failure entry superseding the success entry
        (as ``app.audited`` does for a single run) and fails the unit; the job goes on."""
        if entry_seq is None:
            quarantined = int(report.get("files_quarantined", 0))
            withheld = int(report.get("self_check", {}).get("files_withheld", 0))
            entry_seq = self.log.append(DEIDENTIFICATION, action="C", objects=self._objects(unit), details={
                **self._unit_details(unit, attempt), "files": str(report.get("files_processed", 0)),
                "written": str(report.get("files_written", 0)), "quarantined": str(quarantined), "skipped": "0",
                "self_check": f"withheld {withheld}" if withheld else "passed",
                "crosswalk": "yes" if self.request.crosswalk is not None else "no"},
                outcome=Outcome.MINOR_FAILURE if quarantined else Outcome.SUCCESS).seq
        try:
            publication.publish(self.out, self.quarantine, unit, _label(unit), attempt, has_output=bool(digest))
        except AuditError:
            raise
        except DeviceAIError as exc:
            self.log.append(DEIDENTIFICATION, action="C", outcome=outcome_of(exc), objects=self._objects(unit),
                            details={**self._unit_details(unit, attempt), "error": exc.code,
                                     "supersedes": str(entry_seq)})
            publication.discard(self.out, self.quarantine, attempt)
            self._failed(unit, exc)
            return
        self.ledger.published(unit, entry_seq)
        self.result.published += 1

    def _record_failure(self, unit: str, attempt: str, error: DeviceAIError) -> None:
        """The unit's failure entry with the error's code; the ledger says failed; the job goes on."""
        self.log.append(DEIDENTIFICATION, action="C", outcome=outcome_of(error), objects=self._objects(unit),
                        details={**self._unit_details(unit, attempt), "error": error.code})
        self._failed(unit, error)

    def _failed(self, unit: str, error: DeviceAIError) -> None:
        self.ledger.failed(unit, error.code)
        self.result.failed[unit] = error.code
        if not isinstance(error, InputRefused):
            self.result.failed_exit[unit] = error.exit_code

    # -- a killed coordinator's leftovers --------------------------------------------------------

    def _resolve_recording(self) -> None:
        """Units a killed coordinator left between 'recording' and 'published'."""
        for record in self.ledger.units_where("state = ?", (RECORDING,)):
            final = self.out / record.unit
            staged_quarantine = publication.staging_root(self.quarantine) / record.attempt
            published = (final.is_dir() and folder_digest(final) == record.output_digest) if record.output_digest else (
                # a unit without output (all quarantined): its quarantine folder was renamed into place
                not staged_quarantine.exists() and (Path(self.quarantine) / _label(record.unit)).is_dir())
            if published:
                seq = self._entry_of(record.attempt)
                self.ledger.published(record.unit, seq if seq is not None else -1)
                publication.discard(self.out, self.quarantine, record.attempt)
                self.result.resumed += 1
                self.result.published += 1
                self._resumed.add(record.unit)
                continue
            staged = publication.attempt_output(self.out, record.attempt, record.unit)
            intact = (staged.is_dir() and folder_digest(staged) == record.output_digest) if record.output_digest else \
                (publication.staging_root(self.quarantine) / record.attempt).is_dir()
            seq = self._entry_of(record.attempt)
            if intact:
                self._record_and_publish(record.unit, record.attempt, record.output_digest, record.report, seq)
                self.result.resumed += 1
                self._resumed.add(record.unit)
                continue
            if seq is not None:  # recorded but its files are gone: say so, then run it again
                self.log.append(DEIDENTIFICATION, action="C", outcome=Outcome.SERIOUS_FAILURE,
                                objects=self._objects(record.unit),
                                details={**self._unit_details(record.unit, record.attempt), "error": "DAI-500",
                                         "supersedes": str(seq),
                                         "reason": "the coordinator stopped before publishing and the unit's "
                                                   "de-identified files are gone; the unit runs again"})
            self.ledger.failed(record.unit, "DAI-500")

    def _entry_of(self, attempt: str) -> int | None:
        """The sequence number of the success entry the log holds for ``attempt``, if any."""
        if self._logged_attempts is None:
            self._logged_attempts = logged_attempts(self.ctx.audit_folder, DEIDENTIFICATION.code)
        return self._logged_attempts.get(attempt)

    def _clear_staging(self) -> None:
        """Attempt folders no ledger row needs (workers lost half way, earlier runs)."""
        keep = {r.attempt for r in self.ledger.units_where("state = ?", (RECORDING,))}
        for root in (publication.staging_root(self.out), publication.staging_root(self.quarantine)):
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
                              hint="the job's published studies are kept as they are: de-identify the changed "
                                   "studies into a new OUT")

    def _check_published(self, units: dict[str, Unit]) -> None:
        """A published unit is skipped only if its folder still shows the recorded digest."""
        for record in self.ledger.units_where("state = ?", (PUBLISHED,)):
            if record.unit in self._resumed:
                continue
            self.result.already_published += 1
            if not record.output_digest:
                continue
            final = self.out / record.unit
            if not final.is_dir() or folder_digest(final) != record.output_digest:
                error = PublishedOutputAltered(
                    f"unit {record.unit} is recorded as published, but its folder in OUT is "
                    f"{'missing' if not final.is_dir() else 'altered'}",
                    hint="restore it from a copy, or de-identify that study into a new OUT; it is not written again")
                self.result.failed[record.unit] = error.code
                self.result.failed_exit[record.unit] = error.exit_code

    # -- details, report ----------------------------------------------------------------------

    def _job_details(self) -> dict[str, str]:
        return {"options": self.result.options, "table_edition": self.result.edition, "batch_job": self.result.job}

    def _unit_details(self, unit: str, attempt: str) -> dict[str, str]:
        return {**self._job_details(), "batch_unit": unit, "batch_attempt": attempt}

    @staticmethod
    def _objects(unit: str) -> tuple[AuditObject, ...]:
        return () if unit == UNASSIGNED else (AuditObject(kind="study", id=unit.rsplit("/", 1)[-1]),)

    def _keep_error_note(self, unit: str, attempt: str) -> None:
        note = publication.staging_root(self.quarantine) / attempt / "unit-error.txt"
        if note.is_file():
            with contextlib.suppress(DeviceAIError, OSError):
                atomic_write_text(self.quarantine / _label(unit) / "unit-error.txt", note.read_text())

    def _write_walk_index(self, discovery: Discovery) -> None:
        if discovery.skipped or discovery.unfollowable:
            atomic_write_text(self.quarantine / WALK_INDEX, json.dumps({
                "skipped": [{"source": str(s.source), "code": s.code} for s in discovery.skipped],
                "quarantined_unread": [{"source": str(p), "code": c, "reason": r}
                                       for p, (c, r) in sorted(discovery.unfollowable.items())]},
                indent=2, sort_keys=True) + "\n")

    def _tally(self, discovery: Discovery) -> None:
        reports = {r.unit: r.report for r in self.ledger.units_where("state = ?", (PUBLISHED,))}
        result = self.result
        result.files_in = sum(int(r.get("files_processed", 0)) for r in reports.values()) + len(discovery.unfollowable)
        result.written = sum(int(r.get("files_written", 0)) for r in reports.values())
        result.quarantined = sum(int(r.get("files_quarantined", 0)) for r in reports.values()) + \
            len(discovery.unfollowable)
        result.withheld = sum(int(r.get("self_check", {}).get("files_withheld", 0)) for r in reports.values())
        result.skipped = len(discovery.skipped)

    def end_details(self) -> dict[str, str]:
        r = self.result
        return {"batch_step": "finished", "units": str(r.units), "units_published": str(r.published),
                "units_already_published": str(r.already_published), "units_failed": str(len(r.failed)),
                "units_resumed": str(r.resumed), "duplicates_discarded": str(r.duplicates_discarded),
                "files": str(r.files_in), "written": str(r.written), "quarantined": str(r.quarantined),
                "engine": r.engine or "none (nothing to run)",
                "crosswalk": "yes" if self.request.crosswalk is not None else "no"}

    def prepare_crosswalk(self) -> Path | None:
        """The union of the published units' parts, encrypted under a pending name beside FILE
        (its digest in the ledger first, so a kill after the rename leaves FILE this job's)."""
        if self.request.crosswalk is None:
            return None
        from device_ai.batch.crosswalk import merged_content, part_of, write_content

        published = [r.unit for r in self.ledger.units_where("state = ?", (PUBLISHED,))]
        parts = [part_of(self.quarantine, _label(unit)) for unit in published]
        missing = [unit for unit, part in zip(published, parts, strict=True) if not part.is_file()]
        if missing:
            raise OutputError(f"the crosswalk parts of {len(missing)} published unit(s) are missing from "
                              f"{self.quarantine} (e.g. {missing[0]}); no crosswalk was written",
                              hint="restore the quarantine folder from its copy; the published outputs stay")
        final = Path(self.request.crosswalk)
        pending = final.with_name(f".{final.name}.pending")
        digest = write_content(pending, merged_content(parts))
        self.ledger.set_identity({"crosswalk_pending_sha256": digest})
        return pending

    def finish_crosswalk(self, pending: Path | None) -> None:
        if pending is None:
            return
        from device_ai.batch.crosswalk import put_in_place, sha256_of

        digest = sha256_of(pending)
        put_in_place(pending, Path(self.request.crosswalk))
        self.ledger.set_identity({"crosswalk_sha256": digest or ""})

    def write_report(self, discovery: Discovery) -> None:
        reports = {r.unit: r.report for r in self.ledger.units_where("state = ?", (PUBLISHED,))}
        skipped: dict[str, int] = {}
        for item in discovery.skipped:
            skipped[item.code] = skipped.get(item.code, 0) + 1
        r = self.result
        batch = {"job": r.job, "units": r.units, "units_published": len(reports),
                 "units_failed": [{"unit": u, "error": c} for u, c in sorted(r.failed.items())]}
        from device_ai.dicom.deidentify.run import REPORT_NAME

        atomic_write_text(self.out / REPORT_NAME, json.dumps(
            merged_report(reports, skipped, len(discovery.unfollowable), batch), indent=2, sort_keys=True) + "\n")


def _unit_id(naming, patient: str, study: str) -> str:  # noqa: ANN001 - Deidentifier
    """``<patient>/<study>``: the keyed folder the de-identifier names this study's outputs in."""
    return naming.output_name(patient, study, study, study).rsplit("/", 2)[0]


def _label(unit: str) -> str:
    return unit.replace("/", "_")
