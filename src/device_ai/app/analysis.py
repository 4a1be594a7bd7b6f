"""``analyze`` (and ``demo``, which analyzes a synthetic study): one audited action from the
input to the published result (SRS-016, SRS-029, SRS-030).

Order: the output folder, the model and the requested explanation label are checked before
any slice is read; the Analysis Run success entry is the last thing written before the staging
folder becomes the output, after any explanations (which are audited as a nested step) and the
summary: it lists every file published with the SHA-256 of its bytes (SRS-222).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_ai.app import preconditions
from device_ai.app.audited import audited
from device_ai.app.context import Context
from device_ai.app.explanation import explain_into
from device_ai.app.model import load_engine, model_object
from device_ai.app.subjects import analysis_details, series_objects
from device_ai.audit.entry import ANALYSIS_RUN, EXPLANATION
from device_ai.audit.result_files import published_files
from device_ai.dicom.lineage import Replaces
from device_ai.errors import ConfigError

EXPLAINED_SLICES = 3  # analyze --explain explains the three slices with the largest predicted area
# What analyze --explain holds besides the analysis, loaded while the labels and the SEG are
# held: PyTorch and the twin's graph, and the twin's weights twice (package bytes, tensors).
# Measured with the demo model (8 MB of weights): analyze --explain of 2 slices peaks 345 MiB
# above analyze (675 against 330 MiB).
PYTORCH_HELD_BYTES = 336 * 1024 * 1024


def explanation_held_bytes(engine) -> int:  # noqa: ANN001 - inference.engine.LockedEngine
    """What the explanation step of ``analyze --explain`` holds, charged to the input's budget."""
    from device_ai.model.package.manifest import TWIN_NAME

    return PYTORCH_HELD_BYTES + 2 * len(engine.package.files[TWIN_NAME])


@dataclass(frozen=True)
class AnalysisRequest:
    input: Path
    out: Path
    model: Path | None = None
    threads: int | None = None
    explain: str | None = None  # a label name of the model
    uid_seed: str | None = None  # result UIDs derived from it (dicom.uids.derived_uids); random when None
    replaces: Replaces | None = None  # the earlier result of the series this one replaces (the node)
    synthetic_input: bool = False  # the input is the device's own phantom (demo): no patient data


def analyze(ctx: Context, request: AnalysisRequest):  # noqa: ANN201 - inference.analyze.AnalysisResult
    """Analyze one CT series into ``request.out``; returns the published result."""
    with ctx.open_audit_log() as log:
        return _analyze(ctx, log, request)


def _analyze(ctx: Context, log, request: AnalysisRequest, prepare: Callable[[], None] | None = None,  # noqa: ANN001
             out_option: str = "--out"):  # noqa: ANN202
    """The audited analysis; ``prepare()`` (the demo's synthetic study) runs inside the action,
    after the preconditions and before the input is read."""
    from device_ai.dicom.uids import derived_uids
    from device_ai.inference.analyze import analyze as run_pipeline

    with audited(log, ANALYSIS_RUN) as action:
        preconditions.check_output_folder(request.out, out_option)
        if request.explain:
            preconditions.require_explanations()
        engine = load_engine(ctx, log, request.model, request.threads, patient_data=not request.synthetic_input)
        action.objects = (model_object(engine),)
        label = preconditions.label_value(engine.manifest, request.explain, "--explain") if request.explain else None
        recorder = None
        if label is not None:  # keep the engine outputs the explanations need (no second inference)
            from device_ai.explain.recorded import SliceRecorder

            recorder = SliceRecorder(keep=EXPLAINED_SLICES)
        if prepare is not None:
            prepare()

        def loaded(series) -> None:  # noqa: ANN001 - from here on, failures name the study
            action.objects = series_objects(series, engine)

        def before_commit(stage: Path, series, summary: dict) -> list[str]:  # noqa: ANN001
            written: list[str] = []
            if label is not None:
                with action.nested(EXPLANATION) as step:
                    written = explain_into(ctx, step, stage, engine, series, label, EXPLAINED_SLICES, recorder)
            return written

        def sealed(stage: Path, summary: dict) -> None:  # every output written: the entry names them all
            action.succeeded(analysis_details(summary), published=published_files(stage))

        return run_pipeline(request.input, request.out, engine, limits=ctx.read_limits(),
                            progress=ctx.progress("analyzing slices"), observe=recorder, loaded=loaded,
                            before_commit=before_commit, sealed=sealed,
                            uid=derived_uids(request.uid_seed) if request.uid_seed is not None else None,
                            replaces=request.replaces,
                            access=ctx.result_access(),
                            held_besides={"the explanation model that --explain loads (PyTorch and the twin)":
                                          explanation_held_bytes(engine)} if label is not None else None)


@dataclass(frozen=True)
class DemoResult:
    analysis: object  # inference.analyze.AnalysisResult
    patient_id: str
    placed_lesions: int
    study_dir: Path


def demo(ctx: Context, out: Path, *, seed: int, slices: int | None, model: Path | None = None,
         announce: Callable[[str], None] = print) -> DemoResult:
    """Generate a synthetic CT study in ``out/input-series`` and analyze it into ``out/result``,
    as one audited analysis: writing the study is part of it, and a failed run keeps neither.
    ``announce`` receives one line per step (the front end prints them)."""
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    out = Path(out)
    study_dir = out / "input-series"
    created: list[Path] = []
    cases = []

    def prepare() -> None:
        preconditions.check_output_folder(study_dir, "demo --out (its input-series folder)")
        if slices is not None and slices < 1:
            raise ConfigError(f"--slices {slices}: a study needs at least 1 slice", hint="pass --slices 1 or more")
        preconditions.check_seed(seed)
        case = generate_case(split_seeds("test", 1, base_seed=seed)[0], split="test", n_slices=slices)
        cases.append(case)
        announce(f"generating synthetic study {case.patient_id}: {case.hu.shape[0]} slices "
                 f"{case.hu.shape[1]}x{case.hu.shape[2]}, {len(case.lesions)} lesion(s) -> {study_dir}")
        created.append(study_dir)
        write_ct_series(case, study_dir)

    with ctx.open_audit_log() as log:
        try:
            result = _analyze(ctx, log, AnalysisRequest(input=study_dir, out=out / "result", model=model,
                                                            synthetic_input=True),
                              prepare=prepare, out_option="demo --out (its result folder)")
        except BaseException:  # not published: keep no synthetic study (a published one keeps its input)
            for folder in created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
    return DemoResult(analysis=result, patient_id=cases[0].patient_id, placed_lesions=len(cases[0].lesions),
                      study_dir=study_dir)
