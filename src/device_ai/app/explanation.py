"""Explanations: ``explain`` on its own, and the step that ``analyze --explain`` adds before
its outputs are published (SRS-033, SRS-034)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device_ai.app import preconditions
from device_ai.app.audited import AuditedAction, audited
from device_ai.app.context import Context
from device_ai.app.model import load_engine
from device_ai.app.subjects import series_objects
from device_ai.audit.entry import EXPLANATION
from device_ai.audit.result_files import published_files


@dataclass(frozen=True)
class ExplainRequest:
    input: Path
    out: Path
    label: str
    slices: int = 3
    model: Path | None = None


@dataclass(frozen=True)
class ExplainResult:
    out_dir: Path
    files: list[str]  # empty: the label was found in no slice, and nothing was written
    label: str


def explain_into(ctx: Context, step: AuditedAction, folder: Path, engine, series, label: int,  # noqa: ANN001
                 max_slices: int, recorded=None) -> list[str]:  # noqa: ANN001
    """Explanations of ``label`` written into ``folder`` (a staging folder); ``step`` (an
    Explanation Produced action) records them, each file with its digest (SRS-222). [] when the
    label was predicted nowhere."""
    from device_ai.explain.outputs import write_explanations
    from device_ai.explain.pipeline import METHOD, explain_series
    from device_ai.model.twin import load_twin

    name = next(item.name for item in engine.manifest.labels if item.value == label)
    step.details = {"method": METHOD, "label": name}
    explanations = explain_series(engine, load_twin(engine.package), series, label, max_slices=max_slices,
                                  recorded=recorded, progress=ctx.progress("explaining slices"),
                                  scan_progress=ctx.progress("finding slices to explain"))
    written = (write_explanations(folder, engine, series, explanations, name, ctx.result_access())
               if explanations else [])
    step.succeeded({"slices": str(len(explanations))}, published=published_files(folder, written))
    return written


def explain(ctx: Context, request: ExplainRequest) -> ExplainResult:
    """``explain``: Grad-CAM explanations of one label for one series, in a new folder."""
    from device_ai.atomic_io import staged_directory
    from device_ai.dicom.contract import InputContract
    from device_ai.dicom.reader import collect_input_files
    from device_ai.dicom.series import load_series

    with ctx.open_audit_log() as log, audited(log, EXPLANATION) as action:
        action.details = {"label": request.label}
        preconditions.check_output_folder(request.out)
        preconditions.require_explanations()
        engine = load_engine(ctx, log, request.model)
        label = preconditions.label_value(engine.manifest, request.label, "--label")
        limits = ctx.read_limits()
        contract = InputContract.model_validate(engine.manifest.input_contract)
        series = load_series(collect_input_files(Path(request.input), limits), contract, limits)
        action.objects = series_objects(series, engine)
        written: list[str] = []
        try:
            with staged_directory(request.out, access=ctx.result_access()) as stage:
                written = explain_into(ctx, action, stage, engine, series, label, request.slices)
                if not written:
                    raise _NothingToExplain  # discards the empty staging folder
        except _NothingToExplain:
            pass
    return ExplainResult(out_dir=Path(request.out), files=written, label=request.label)


class _NothingToExplain(Exception):
    """Internal: the label was predicted nowhere."""
