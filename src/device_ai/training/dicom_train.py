"""``device-ai train --data DIR``: train on the user's labelled DICOM, then export, parity-check,
validate on the held-out patients and sign, as the demo model's release (``training.train``).

1. options checked, signing key read, output folder refused if it exists and is not empty;
   the backbone's start (random, or an official checkpoint verified by SHA-256 and loaded
   strictly, ``training.backbone_weights``), all before any data are read;
2. the folder read and refused as a whole on any problem (``training.dicom_dataset``), split by
   patient and checked for leakage (``training.dicom_splits``), the data manifest hashed
   (``training.dicom_manifest``);
3. training on the train patients' slices, preprocessed exactly as the engine does;
4. ONNX export and parity on the held-out slices (SRS-006);
5. validation of the exported bytes through the locked engine on every held-out series, against
   its SEG truth: Dice, lesion detection and false positives with 95% CIs
   (``training.subgroups``, the external validation's analysis);
6. manifest (data manifest digest, split record, backbone start, metrics) and signature,
   written in one rename: a refusal or failure at any step leaves no package.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from device_ai.errors import ConfigError, OutputRefused
from device_ai.training.backbone_weights import BackboneStart
from device_ai.training.train import TrainingPlan

Progress = Callable[[int, int], None]
DEFAULT_INTENDED_USE = (
    "Research use only, trained on the manufacturer's own labelled CT series: segmentation of one organ and focal "
    "lesions in axial CT slices within the stated input contract. Not validated for clinical use."
)
MAX_PARITY_SLICES = 32


@dataclass(frozen=True)
class DicomTrainingRequest:
    """Everything ``train --data`` needs; ``training`` holds the optimisation plan and the segmenter."""

    data: Path
    out: Path
    signing_key: Path
    training: TrainingPlan = field(default_factory=lambda: TrainingPlan(steps=300))
    start: BackboneStart = field(default_factory=BackboneStart)
    split_file: Path | None = None
    test_fraction: float = 0.25
    backbone_lr_factor: float = 0.1
    name: str = "site-dinov2-seg"
    version: str = "0.1.0"
    intended_use: str = DEFAULT_INTENDED_USE
    absent_means_empty: tuple[str, ...] = ()  # label names (e.g. "Lesion"): no segment in a SEG = none present

    def absent_roles(self) -> tuple:  # noqa: ANN201 - tuple[LabelRole, ...]
        from device_ai.model.package.manifest import find_label
        from device_ai.training.labels import DEMO_LABELS

        roles = []
        for name in self.absent_means_empty:
            try:
                roles.append(find_label(DEMO_LABELS, name=name).role)
            except ValueError as exc:
                names = ", ".join(label.name for label in DEMO_LABELS)
                raise ConfigError(f"--absent-means-empty {name!r} is not a label of this model",
                                  hint=f"use one of: {names}") from exc
        return tuple(roles)


def request_from_options(*, data: Path, out: Path, signing_key: Path, seed: int = 0, steps: int | None = None,
                         batch_size: int | None = None, learning_rate: float | None = None,
                         backbone: str | None = None, backbone_weights: Path | None = None,
                         backbone_sha256: str | None = None, mode: str | None = None, head: str | None = None,
                         input_size: int | None = None, split_file: Path | None = None,
                         test_fraction: float | None = None, name: str | None = None, version: str | None = None,
                         intended_use: str | None = None,
                         absent_means_empty: tuple[str, ...] = ()) -> DicomTrainingRequest:
    """The request with every default resolved: with backbone weights the mode defaults to
    ``frozen``, the backbone to ``dinov2_vits14_reg4`` and the head to ``linear`` (linear probe);
    without, ``scratch`` on the demo backbone with the light decoder."""
    from device_ai.model.segmenter import DEMO_SEGMENTER
    from device_ai.training.backbone_weights import segmenter_config
    from device_ai.training.labels import DEMO_LABELS

    weights = backbone_weights is not None or backbone_sha256 is not None
    mode = mode or ("frozen" if weights else "scratch")
    backbone = backbone or ("dinov2_vits14_reg4" if mode != "scratch" else DEMO_SEGMENTER.backbone)
    head = head or ("linear" if mode == "frozen" else "light_decoder")
    start = BackboneStart(mode, backbone_weights, backbone_sha256)  # type: ignore[arg-type]
    segmenter = segmenter_config(backbone, head, input_size or DEMO_SEGMENTER.input_size, 1 + len(DEMO_LABELS))
    defaults = TrainingPlan()
    steps = steps if steps is not None else 300
    plan = TrainingPlan(seed=seed, steps=steps, batch_size=batch_size or defaults.batch_size,
                        learning_rate=learning_rate or defaults.learning_rate,
                        warmup_steps=min(defaults.warmup_steps, max(1, steps // 10)), segmenter=segmenter)
    return DicomTrainingRequest(
        data=Path(data), out=Path(out), signing_key=Path(signing_key), training=plan, start=start,
        split_file=Path(split_file) if split_file else None,
        test_fraction=test_fraction if test_fraction is not None else 0.25,
        name=name or "site-dinov2-seg", version=version or "0.1.0", intended_use=intended_use or DEFAULT_INTENDED_USE,
        absent_means_empty=tuple(absent_means_empty))


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputRefused(f"output {out} exists and is not an empty folder; nothing was read or trained",
                            hint="choose a new --out folder; packages are never overwritten")


def _pool(items: list, size: int, digest: str):  # noqa: ANN001, ANN202 - SlicePool
    from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, windowed_plane
    from device_ai.training.data import SlicePool, nearest_labels

    planes, labels, ids = [], [], []
    for item in items:
        for index in range(item.series.hu.shape[0]):
            planes.append(windowed_plane(item.series.hu[index], size, DEFAULT_PREPROCESSING))
            labels.append(nearest_labels(item.label_map[index], size))
            ids.append(item.patient_id)
    return SlicePool(np.stack(planes), np.stack(labels), tuple(ids), digest, generator="dicom", domain=None)


def _validate(engine, items: list, labels) -> dict[str, Any]:  # noqa: ANN001
    """The held-out series through the locked engine, compared with their SEG truth. Truth is
    in the training labels' values, the prediction in the manifest's: each looked up by role."""
    from device_ai.inference.analyze import segment_volume, series_spacing
    from device_ai.model.package.manifest import LabelRole, find_label
    from device_ai.training.subgroups import CaseArrays, case_record, summarize_study

    truth_organ = find_label(labels, role=LabelRole.ORGAN).value
    truth_lesion = find_label(labels, role=LabelRole.LESION).value
    organ_value = engine.manifest.label_value(LabelRole.ORGAN)
    lesion_value = engine.manifest.label_value(LabelRole.LESION)
    records = []
    for item in items:
        predicted = segment_volume(engine, item.series.hu, series_spacing(item.series))
        arrays = CaseArrays(item.series.hu, item.label_map == truth_organ, item.label_map == truth_lesion,
                            predicted == organ_value, predicted == lesion_value, series_spacing(item.series))
        records.append(case_record(arrays))
    study = summarize_study(records)
    return {**study["metrics"], "acceptance": study["acceptance"], "worst_subgroup": study["worst_subgroup"],
            "validated_on": "held-out patients of the training folder (split by PatientID)"}


def _fields(request: DicomTrainingRequest, plan: TrainingPlan, record: dict[str, Any], digest: str,
            dataset_counts: dict[str, int], split: dict[str, Any], wall: float, twin_sha: str, report,  # noqa: ANN001
            metrics: dict[str, Any]) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    from device_ai.dicom.contract import DEMO_CONTRACT
    from device_ai.inference.postprocess import DEFAULT_POSTPROCESSING
    from device_ai.inference.preprocess import DEFAULT_PREPROCESSING
    from device_ai.model.dinov2 import get_config
    from device_ai.model.export import EXPORTER, INPUT_NAME, OPSET, OUTPUT_NAME
    from device_ai.training.dicom_manifest import DATA_MANIFEST_FORMAT
    from device_ai.training.labels import DEMO_LABELS
    from device_ai.training.train import backbone_record, head_record

    segmenter = plan.segmenter
    size = segmenter.input_size
    vit = get_config(segmenter.backbone)
    start = ("an official DINOv2 checkpoint (" + record["mode"] + ")" if record["mode"] != "scratch"
             else "random weights")
    return {
        "name": request.name,
        "version": request.version,
        "description": (f"DINOv2-architecture ViT {segmenter.backbone} ({vit.embed_dim}-d, {vit.depth} blocks, "
                        f"{vit.num_heads} heads, {vit.num_register_tokens} registers, patch {vit.patch_size}) with a "
                        f"{segmenter.head.replace('_', ' ')} head, started from {start} and trained on "
                        f"{split['train']['patients']} patients of labelled DICOM (CT + SEG)."),
        "intended_use": request.intended_use,
        "clinical_use": False,
        "architecture": segmenter.to_config_dict(),
        "input_contract": DEMO_CONTRACT.model_dump(mode="json"),
        "input": {"name": INPUT_NAME, "shape": (1, 3, size, size), "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": (1, segmenter.num_classes, size, size), "dtype": "float32"},
        "labels": [label.model_dump(mode="json") for label in DEMO_LABELS],
        "preprocessing": DEFAULT_PREPROCESSING.model_dump(mode="json"),
        "postprocessing": DEFAULT_POSTPROCESSING.model_dump(mode="json"),
        "training": {
            "seed": plan.seed,
            "data_manifest_sha256": digest,
            "train_patients": split["train"]["patients"],
            "verification_patients": split["test"]["patients"],
            "steps": plan.steps,
            "wall_time_s": round(wall, 1),
            "torch_threads": plan.threads,
            "twin_weights_sha256": twin_sha,
            "batch_size": plan.batch_size,
            "learning_rate": plan.learning_rate,
            "weight_decay": plan.weight_decay,
            "warmup_steps": plan.warmup_steps,
            "dice_weight": plan.dice_weight,
            "data_source": {"kind": "labelled DICOM (CT + SEG)", "format": DATA_MANIFEST_FORMAT, **dataset_counts,
                            "absent_means_empty": list(request.absent_means_empty)},
            "split": split,
            "backbone_init": {**record, "backbone_lr_factor": request.backbone_lr_factor}
            if record["mode"] == "finetune" else record,
        },
        "export": {
            "opset": OPSET, "exporter": EXPORTER, "torch_version": torch.__version__,
            "onnx_version": onnx.__version__, "onnxruntime_version": onnxruntime.__version__,
            "parity_max_abs_logit_diff": report.max_abs_logit_diff,
            "parity_mask_agreement": report.mask_agreement, "parity_cases": report.cases,
        },
        "metrics": metrics,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backbone_config": backbone_record(segmenter),
        "head_config": head_record(segmenter),
    }


def train_on_dicom(request: DicomTrainingRequest, progress: Progress | None = None,
                   announce: Callable[[str], None] = print) -> Path:
    """Steps 1-6 of the module doc; returns the package folder."""
    from device_ai.inference.engine import LockedEngine
    from device_ai.model.package import signing
    from device_ai.model.package.build import build_manifest, write_package
    from device_ai.model.release import twin_bytes
    from device_ai.training.backbone_weights import build_segmenter
    from device_ai.training.dicom_dataset import read_labelled_folder
    from device_ai.training.dicom_manifest import data_manifest, data_manifest_sha256, split_record
    from device_ai.training.dicom_splits import check_split, seeded_split, split_from_file
    from device_ai.training.train import export_with_parity, train_model

    started = time.perf_counter()
    plan = request.training
    if not plan.steps or plan.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {plan.steps}")
    if request.backbone_lr_factor <= 0:
        raise ConfigError(f"the backbone learning-rate factor must be positive, got {request.backbone_lr_factor}")
    absent = request.absent_roles()
    out = Path(request.out)
    _check_out(out)
    key = signing.load_private_key(request.signing_key)
    model = build_segmenter(plan.segmenter, request.start, plan.seed)  # checkpoint verified and loaded first
    dataset = read_labelled_folder(Path(request.data), absent_empty=absent)
    patients = dataset.patients()
    split = (split_from_file(request.split_file, patients) if request.split_file
             else seeded_split(patients, plan.seed, request.test_fraction))
    check_split(dataset, split)
    size = plan.segmenter.input_size
    manifest_data = data_manifest(dataset, split, size)
    digest = data_manifest_sha256(manifest_data)
    record = split_record(manifest_data)
    train_items = [item for item in dataset.series if item.patient_id in set(split.train)]
    test_items = [item for item in dataset.series if item.patient_id in set(split.test)]
    counts = {"patients": len(patients), "series": len(dataset.series),
              "slices": sum(int(item.series.hu.shape[0]) for item in dataset.series)}
    announce(f"data: {counts['series']} series of {counts['patients']} patients; train {record['train']['patients']} "
             f"patients ({record['train']['slices']} slices), held out {record['test']['patients']} patients "
             f"({record['test']['slices']} slices); data manifest sha256 {digest}")
    pool = _pool(train_items, size, digest)
    held_out = _pool(test_items, size, digest)
    model = train_model(plan, pool, progress, model=model,
                        backbone_lr_factor=request.backbone_lr_factor if request.start.mode == "finetune" else 1.0)
    wall = time.perf_counter() - started
    parity_planes = held_out.planes[:: max(1, -(-len(held_out.planes) // MAX_PARITY_SLICES))]
    onnx_bytes, report = export_with_parity(model, size, parity_planes, plan.threads)
    twin = twin_bytes(model)
    twin_sha = hashlib.sha256(twin).hexdigest()
    start_record = request.start.record(plan.segmenter)
    trusted = {signing.key_id(key.public_key()): key.public_key()}
    with tempfile.TemporaryDirectory(prefix="device-ai-train-") as tmp:
        provisional = build_manifest(_fields(request, plan, start_record, digest, counts, record, wall, twin_sha,
                                             report, {}), onnx_bytes, twin)
        write_package(Path(tmp) / "pkg", provisional, onnx_bytes, twin, key)
        engine = LockedEngine.load(Path(tmp) / "pkg", trusted_keys=trusted)
        metrics = _validate(engine, test_items, dataset.labels)
    announce(f"validation on {len(test_items)} held-out series: Organ Dice {metrics['organ_dice']['mean']}, "
             f"Lesion Dice {metrics['lesion_dice']['mean']}, acceptance "
             f"{'met' if metrics['acceptance']['passed'] else 'NOT met'}")
    manifest = build_manifest(_fields(request, plan, start_record, digest, counts, record, wall, twin_sha, report,
                                      metrics), onnx_bytes, twin)
    return write_package(out, manifest, onnx_bytes, twin, key)
