"""The analyze pipeline (DESIGN.md, "The main path"):

read with limits -> input contract -> preprocess -> locked engine -> postprocess ->
DICOM SEG + TID 1500 Comprehensive 3D SR (measurements, SRS-100..104) + JSON summary + PNG
previews, written into a staging folder that replaces the
output folder in one rename only when everything succeeded (SRS-016). A refused input
raises before anything is written. The folder and every file in it get ``access``: private
(0700/0600) by default, ``Access.GROUP`` (0750/0640) when the site sets
``results_group_readable`` (threat THR-018); private while being staged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import device_ai
from device_ai.atomic_io import Access, atomic_write_bytes, atomic_write_text, staged_directory
from device_ai.dicom.contract import InputContract
from device_ai.errors import ContractViolation, OutputError
from device_ai.dicom.reader import ReadLimits, collect_input_files
from device_ai.dicom.lineage import Replaces
from device_ai.dicom.seg import AlgorithmIdentity, SegmentSpec, build_seg, write_seg
from device_ai.dicom.series import CTSeries, load_series
from device_ai.dicom.sr import LesionFinding, SegmentVolume, build_sr, write_sr
from device_ai.inference.engine import LockedEngine
from device_ai.inference.postprocess import Measurements, clean_labels, logits_to_labels, measure
from device_ai.inference.preprocess import preprocess_slice
from device_ai.inference.previews import (
    SLICE_NUMBERING,
    preview_name,
    render_preview,
    select_preview_slices,
    slice_position,
)
from device_ai.model.package.manifest import LabelRole, ModelManifest, find_label

SEG_NAME = "segmentation.dcm"
SR_NAME = "measurements.dcm"  # TID 1500 Comprehensive 3D SR
SUMMARY_NAME = "summary.json"
SUMMARY_SCHEMA = "device_ai.analysis-summary/1"
Progress = Callable[[int, int], None]
SliceObserver = Callable[[int, np.ndarray, np.ndarray], None]  # (slice index, model input, engine logits)


@dataclass(frozen=True)
class AnalysisResult:
    out_dir: Path
    summary: dict[str, Any]
    labels: np.ndarray
    series: CTSeries


def segment_specs(manifest: ModelManifest) -> list[SegmentSpec]:
    """The SEG's segments: one per manifest label, in the manifest's order."""
    return [SegmentSpec.from_label(label) for label in manifest.labels]


def algorithm_identity(engine: LockedEngine) -> AlgorithmIdentity:
    manifest = engine.manifest
    return AlgorithmIdentity(
        name=manifest.name,
        version=manifest.version,
        family="Artificial Intelligence",
        model_digest=engine.package.manifest_sha256,
        manufacturer="device_ai",
        software_version=device_ai.__version__,
    )


def segment_volume(
    engine: LockedEngine, hu: np.ndarray, spacing_zyx_mm: tuple[float, float, float], progress: Progress | None = None,
    observe: SliceObserver | None = None,
) -> np.ndarray:
    """Label volume (Z, R, C) of a HU volume that passed the contract, cleaned per the manifest.
    ``observe(index, image, logits)`` sees every slice's model input and engine output.

    ``hu`` is read one slice at a time (``hu[index]``): a series' :class:`HUVolume` decodes
    each slice on demand, so only the uint8 labels grow with the series."""
    manifest = engine.manifest
    size = manifest.input.shape[-1]
    depth, rows, cols = hu.shape
    labels = np.zeros((depth, rows, cols), dtype=np.uint8)
    for index in range(depth):
        image = preprocess_slice(hu[index], size, manifest.preprocessing)
        logits = engine.run(image)
        if observe is not None:
            observe(index, image, logits)
        labels[index] = logits_to_labels(logits[0], rows, cols)
        if progress is not None:
            progress(index + 1, depth)
    voxel = float(np.prod(spacing_zyx_mm))
    return clean_labels(labels, voxel, manifest.postprocessing, label_defs=manifest.labels, in_place=True)


def held_bytes_per_voxel(manifest: ModelManifest) -> float:
    """What an analysis holds at its peak per voxel of its series, charged to the input's
    memory budget before the series is decoded (:func:`load_series`): the uint8 label volume
    (1 byte) and the SEG: highdicom's BINARY frames (one bit per voxel and segment) while it is
    built, and while it is written those frames and about twice more (the encoded data set and
    the bytes written), 3 bits per voxel and segment. ``dicom.seg`` checks the label values
    without a sorted copy of the label map (it took 1 byte per voxel more until issue 22's
    realistic-header measurement). Measured at 1000 slices of 512 x 512 and two segments
    (benchmarks/analyze_profile.py, "realistic-after"): see SRS-172."""
    segments = len(manifest.labels)
    return 1.0 + 3 * segments / 8


def build_report(engine: LockedEngine, series: CTSeries, seg, measurements: Measurements,  # noqa: ANN001, ANN201
                 uid: Callable[[str], str] | None = None, replaces: Replaces | None = None):
    """The TID 1500 SR of ``measurements`` (from :func:`measure`), referencing ``seg``."""
    specs = segment_specs(engine.manifest)
    counts = measurements.voxel_counts or {}
    volumes = [SegmentVolume(spec, counts.get(spec.name, 0) * measurements.voxel_volume_mm3 / 1000.0)
               for spec in specs]
    lesion_value = find_label(engine.manifest.labels, role=LabelRole.LESION).value
    lesion_spec = next(spec for spec in specs if spec.label_value == lesion_value)
    lesions = [LesionFinding(number=lesion.index, volume_mm3=lesion.volume_mm3,
                             max_inplane_diameter_mm=lesion.max_inplane_diameter_mm,
                             slices=tuple(range(lesion.slices[0], lesion.slices[1] + 1)),
                             diameter_slice=lesion.diameter_slice)
               for lesion in measurements.lesions]
    return build_sr(series, seg, volumes, lesions, lesion_spec, algorithm_identity(engine), uid=uid, replaces=replaces)


def preflight_outputs(engine: LockedEngine, series: CTSeries) -> None:
    """Build a SEG and an SR of a one-voxel label map before inference, so that a value of the
    input the results must repeat (Patient and Study modules, character set) and that highdicom
    refuses is an input refusal up front, not a device error after inference (issue 22). The
    writers themselves decide, so this check cannot drift from them (~0.1 s for 48 slices)."""
    labels = np.zeros(series.hu.shape, np.uint8)
    labels[(0,) * labels.ndim] = min(label.value for label in engine.manifest.labels if label.value)
    # The one labelled voxel is in the first slice, so that slice's measurements are the whole
    # volume's: measuring it alone spares two component passes over every slice (2.2 s at 300).
    measurements = measure(labels[:1], series_spacing(series), label_defs=engine.manifest.labels)
    try:
        seg = build_seg(series, labels, segment_specs(engine.manifest), algorithm_identity(engine))
        build_report(engine, series, seg, measurements)
    except OutputError as exc:
        reason = " ".join(str(exc.__cause__ or exc.message).split())[:160]
        raise ContractViolation(
            f"the results (SEG, SR) cannot repeat this series' Patient/Study attributes: {reason}",
            hint="correct the named value in the source images (or send them through a DICOM normalizer), "
                 "then send the series again",
        ) from exc


def series_spacing(series: CTSeries) -> tuple[float, float, float]:
    return (series.slice_spacing_mm, series.pixel_spacing_mm[0], series.pixel_spacing_mm[1])


def build_summary(
    engine: LockedEngine, series: CTSeries, measurements: Measurements, outputs: list[str], elapsed_s: float,
    previews: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The summary; ``volumes_ml`` is keyed by the manifest's label names, ``previews`` says
    which slice each preview file shows (``SLICE_NUMBERING``)."""
    manifest = engine.manifest
    return {
        "schema": SUMMARY_SCHEMA,
        "software": {"name": "device_ai", "version": device_ai.__version__},
        "model": {
            "name": manifest.name,
            "version": manifest.version,
            "manifest_sha256": engine.package.manifest_sha256,
            "signer_key_id": engine.package.signer_key_id,
            "pinned_release": engine.package.pinned_release,
            "clinical_use": manifest.clinical_use,
            "intended_use": manifest.intended_use,
            "preprocessing": manifest.preprocessing.version,
            "postprocessing": manifest.postprocessing.version,
        },
        "input": {
            "study_instance_uid": series.study_instance_uid,
            "series_instance_uid": series.series_instance_uid,
            "slices": len(series.datasets),
            "rows": int(series.hu.shape[1]),
            "columns": int(series.hu.shape[2]),
            "pixel_spacing_mm": list(series.pixel_spacing_mm),
            "slice_spacing_mm": series.slice_spacing_mm,
        },
        "volumes_ml": dict(measurements.volumes_ml),
        "lesion_count": measurements.lesion_count,
        "lesions": [
            {
                "index": lesion.index,
                "volume_ml": lesion.volume_ml,
                "max_inplane_extent_mm": lesion.max_inplane_extent_mm,
                "max_inplane_diameter_mm": round(lesion.max_inplane_diameter_mm, 2),
                "first_slice": lesion.slices[0],
                "last_slice": lesion.slices[1],
            }
            for lesion in measurements.lesions
        ],
        "previews": {"numbering": SLICE_NUMBERING, "files": list(previews or [])},
        "outputs": outputs,
        "elapsed_s": round(elapsed_s, 3),
        "statement": "Demonstration model trained on synthetic phantoms. Not for clinical use."
        if not manifest.clinical_use
        else manifest.intended_use,
    }


def analyze(
    input_path: Path | list[Path],
    out_dir: Path,
    engine: LockedEngine,
    *,
    limits: ReadLimits | None = None,
    progress: Progress | None = None,
    observe: SliceObserver | None = None,
    loaded: Callable[[CTSeries], None] | None = None,
    before_commit: Callable[[Path, CTSeries, dict[str, Any]], list[str]] | None = None,
    sealed: Callable[[Path, dict[str, Any]], None] | None = None,
    uid: Callable[[str], str] | None = None,
    replaces: Replaces | None = None,
    held_besides: dict[str, int] | None = None,
    access: Access = Access.PRIVATE,
) -> AnalysisResult:
    """Analyze one CT series (a file, a folder, or the list of its files that ``analyze --batch``
    found by Series Instance UID) into ``out_dir`` (which must not exist or be empty).

    ``observe``: see :func:`segment_volume`; ``loaded(series)`` runs once the series passed the
    contract (the audit names it from then on). ``before_commit(stage, series, summary)`` runs when the outputs are written into the
    staging folder but before they become visible (extra outputs, the audit entry); it returns
    the names of any files it added. ``sealed(stage, summary)`` runs once every output, the
    summary included, is in the staging folder, just before the rename: what it reads there are
    the bytes published (the audit entry's file digests, SRS-222). If either raises, nothing is
    kept. ``uid(role)`` gives the
    result UIDs (:func:`device_ai.dicom.uids.derived_uids`: deterministic; random by default).
    ``replaces``: the earlier result of the series that this one replaces (the node's late
    instances; :mod:`device_ai.dicom.lineage`). ``held_besides``: what ``before_commit`` will
    hold beside the results (what -> bytes), charged to the input's memory budget first.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    limits = limits or ReadLimits()
    contract = InputContract.model_validate(engine.manifest.input_contract)
    files = [Path(f) for f in input_path] if isinstance(input_path, list) else collect_input_files(Path(input_path),
                                                                                                     limits)
    series = load_series(files, contract, limits, held_per_voxel=held_bytes_per_voxel(engine.manifest),
                         held_besides=held_besides)
    preflight_outputs(engine, series)
    if loaded is not None:
        loaded(series)
    labels = segment_volume(engine, series.hu, series_spacing(series), progress, observe)
    measurements = measure(labels, series_spacing(series), label_defs=engine.manifest.labels)
    seg = build_seg(series, labels, segment_specs(engine.manifest), algorithm_identity(engine), uid=uid,
                    replaces=replaces)
    report = build_report(engine, series, seg, measurements, uid=uid, replaces=replaces)
    with staged_directory(out_dir, access=access) as stage:
        try:
            outputs = [SEG_NAME]
            write_seg(seg, stage / SEG_NAME, access=access)
            write_sr(report, stage / SR_NAME, access=access)
            outputs.append(SR_NAME)
            caption = f"NOT FOR CLINICAL USE\n{engine.manifest.identity}"
            previews = []
            for index in select_preview_slices(labels, engine.manifest.labels):
                position = slice_position(series.datasets, index)
                name = preview_name(position.number)
                png = render_preview(series.hu[index], labels[index], engine.manifest.labels,
                                     engine.manifest.preprocessing, caption, position.text())
                atomic_write_bytes(stage / name, png, access=access)
                outputs.append(name)
                previews.append({"file": name, **position.as_dict()})
            summary = build_summary(engine, series, measurements, outputs, time.perf_counter() - started, previews)
            if before_commit is not None:
                summary["outputs"] += before_commit(stage, series, summary)
            summary["outputs"].append(SUMMARY_NAME)
            summary["elapsed_s"] = round(time.perf_counter() - started, 3)
            atomic_write_text(stage / SUMMARY_NAME, json.dumps(summary, indent=2, sort_keys=True) + "\n",
                              access=access)
            if sealed is not None:
                sealed(stage, summary)
        except OSError as exc:
            raise OutputError(
                f"could not write the results: {exc.strerror or exc}; nothing was kept",
                hint="check free space and permissions of the output location, then run again",
            ) from exc
    return AnalysisResult(out_dir=out_dir, summary=summary, labels=labels, series=series)
