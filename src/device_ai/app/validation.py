"""``validate``: the standalone performance study on held-out phantoms, audited; the report
file is written only after the Validation Run entry is durable."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from device_ai.app import preconditions
from device_ai.app.audited import audited
from device_ai.app.context import Context
from device_ai.app.model import load_engine, model_object
from device_ai.audit.entry import VALIDATION_RUN


def validate(ctx: Context, *, patients: int, seed: int, out: Path | None = None,
             model: Path | None = None) -> dict[str, Any]:
    """The validation report (its ``summary`` says whether the acceptance criteria passed: a
    study whose criteria fail is a completed action, recorded as such)."""
    from device_ai.training.evaluate import MIN_PATIENTS, run_validation

    with ctx.open_audit_log() as log, audited(log, VALIDATION_RUN) as action:
        engine = start_validation(ctx, log, action, patients=patients, seed=seed, out=out, model=model,
                                  min_patients=MIN_PATIENTS)
        report = run_validation(engine, patients=patients, base_seed=seed, progress=ctx.progress("validation cases"))
        passed = report["summary"]["acceptance"]["passed"]
        action.succeeded({"acceptance": "passed" if passed else "failed", "report": "written" if out else "none"})
        if out is not None:
            publish_report(Path(out), report)
    return report


def start_validation(ctx: Context, log, action, *, patients: int, seed: int, out: Path | None,  # noqa: ANN001, ANN201
                     model: Path | None, min_patients: int):
    """What every validation run does first, in one process or on a cluster (batch): the
    arguments and the output checked, the model verified and named in the action; the engine."""
    action.details = {"patients": str(patients), "base_seed": str(seed)}
    preconditions.check_patients(patients, min_patients)
    preconditions.check_seed(seed)
    if out is not None:
        preconditions.check_output_file(Path(out))
    engine = load_engine(ctx, log, model, patient_data=False)  # the device's own phantoms
    action.objects = (model_object(engine),)
    return engine


def publish_report(out: Path, report: dict[str, Any]) -> None:
    """Write the report; if the write fails after its rename (the folder sync), the report of a
    failed action is removed again, so it is not visible."""
    from device_ai.training.evaluate import report_text, write_report

    try:
        write_report(out, report)
    except BaseException:
        with contextlib.suppress(OSError):
            if out.read_text(encoding="utf-8") == report_text(report):
                out.unlink()
        raise
