"""``validate --workers N``: the standalone performance study with its cases (one phantom
patient each) evaluated by worker processes, the figures computed by the coordinator.

The coordinator verifies the model package (the Model Verified entry, as a single run), hands
each worker the package's path and manifest digest, and takes the case results back; every
worker loads and verifies the package itself and refuses a package whose digest is not the
coordinator's. Cases are put back in seed order before ``summarize``, so the report is the
single run's: the figures do not depend on how many workers made them or in which order they
finished. The report file is written after the Validation Run entry, as by ``app.validate``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_ai.app.audited import audited
from device_ai.app.context import Context
from device_ai.app.model import model_path
from device_ai.app.validation import publish_report, start_validation
from device_ai.audit.entry import VALIDATION_RUN
from device_ai.batch.cluster_security import site_scheduler
from device_ai.batch.engines import Lost, engine_for
from device_ai.batch.progress import JobProgress
from device_ai.errors import DeviceAIError, InputRefused, InternalError

MAX_ATTEMPTS = 3  # a case whose worker was lost is handed out again, up to this


@dataclass(frozen=True)
class CaseTask:
    number: int  # position in the study (1-based), the report's order
    seed: int
    package: str
    manifest_sha256: str
    trusted_keys: tuple[str, ...]  # base64 public keys, as in the settings


@dataclass
class CaseResult:
    number: int
    result: dict[str, Any] | None = None
    error_code: str = ""
    error_message: str = ""
    error_input: bool = False
    error_exit: int = 0


def evaluate_case_task(task: CaseTask) -> CaseResult:
    """One phantom patient through the whole input path and the locked engine (in a worker)."""
    from device_ai.training.evaluate import evaluate_case
    from device_ai.training.phantoms import generate_case

    try:
        engine = _engine(task)
        with tempfile.TemporaryDirectory(prefix="device-ai-validation-") as tmp:
            return CaseResult(task.number, evaluate_case(engine, generate_case(task.seed, split="test"), Path(tmp)))
    except DeviceAIError as exc:
        return CaseResult(task.number, error_code=exc.code, error_message=exc.message,
                          error_input=isinstance(exc, InputRefused), error_exit=exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - returned typed: no exception object crosses the wire
        return CaseResult(task.number, error_code=InternalError.code, error_exit=InternalError.exit_code,
                          error_message=f"{InternalError.code}: {type(exc).__name__} in validation case {task.number}")


def _engine(task: CaseTask):  # noqa: ANN202 - LockedEngine
    from device_ai.batch.worker_engine import verified_engine

    return verified_engine(task.package, task.manifest_sha256, task.trusted_keys)


def validate_batch(ctx: Context, *, patients: int, seed: int, out: Path | None = None, model: Path | None = None,
                   workers: int = 0, scheduler: str | None = None,
                   engine_factory: Callable[..., object] = engine_for) -> dict[str, Any]:
    """The validation report, as ``app.validate`` returns it, with the cases on workers."""
    from device_ai.training.evaluate import MIN_PATIENTS, summarize
    from device_ai.training.phantoms import split_seeds

    site = site_scheduler(scheduler, ctx.settings)  # refused before the audit log is touched (SRS-220)
    with ctx.open_audit_log() as log, audited(log, VALIDATION_RUN) as action:
        engine = start_validation(ctx, log, action, patients=patients, seed=seed, out=out, model=model,
                                  min_patients=MIN_PATIENTS)
        package = str(Path(model_path(ctx, model)).resolve())
        tasks = [CaseTask(number, case_seed, package, engine.package.manifest_sha256,
                          tuple(ctx.settings.trusted_model_keys))
                 for number, case_seed in enumerate(split_seeds("test", patients, base_seed=seed), start=1)]
        cases = _run_cases(ctx, tasks, engine_factory(workers, site, len(tasks)), action)
        report = {"summary": summarize(cases, engine.package.manifest_sha256, engine.manifest.identity),
                  "protocol": "validation/PROTOCOL.md", "cases": cases}
        passed = report["summary"]["acceptance"]["passed"]
        action.succeeded({"acceptance": "passed" if passed else "failed", "report": "written" if out else "none"})
        if out is not None:
            publish_report(Path(out), report)
    return report


def _run_cases(ctx: Context, tasks: list[CaseTask], engine, action) -> list[dict[str, Any]]:  # noqa: ANN001
    from device_ai.batch.errors import WorkerLost

    results: dict[int, dict[str, Any]] = {}
    tries = {task.number: 0 for task in tasks}
    try:
        action.details["engine"] = engine.name
        progress = JobProgress(len(tasks), ctx.status, what="validation cases")
        progress.announce(engine.name, engine.dashboard)
        queue = list(tasks)
        while queue:
            retry = []

            def handed(pending: list[CaseTask]):  # noqa: ANN202
                for task in pending:
                    tries[task.number] += 1
                    yield task

            for outcome in engine.run(evaluate_case_task, handed(queue)):
                if isinstance(outcome, Lost):
                    if tries[outcome.task.number] >= MAX_ATTEMPTS:
                        raise WorkerLost(f"validation case {outcome.task.number}: its worker processes died "
                                         f"{MAX_ATTEMPTS} times", hint=outcome.error.hint)
                    retry.append(outcome.task)
                    continue
                if outcome.error_code:  # as the single run: a case that fails fails the study
                    raise _case_error(outcome)
                results[outcome.number] = outcome.result
                progress.finished(str(outcome.number))
            queue = retry
        progress.end()
    finally:
        engine.close()
    return [results[number] for number in sorted(results)]


def _case_error(outcome: CaseResult) -> DeviceAIError:
    error = (InputRefused if outcome.error_input else DeviceAIError)(outcome.error_message)
    error.code, error.exit_code = outcome.error_code, outcome.error_exit  # the worker's, recorded as such
    return error
