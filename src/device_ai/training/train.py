"""Reproducible training of the demo model, then export, parity check, evaluation and signing.

One command (`device-ai train` / `make model`) goes from a seed to a signed package:

1. phantoms of the train and verification splits (disjoint synthetic patients);
2. AdamW + cosine schedule on cross-entropy + soft Dice, seeded, deterministic algorithms,
   fixed thread count, so the same seed on the same software gives the same weights;
3. ONNX export (static shape, opset 17) and the parity check on every verification slice
   (SRS-006: max-abs logit difference <= 1e-4, mask agreement >= 99.9%; refused otherwise);
4. evaluation of the exported model through the locked engine on held-out test phantoms;
5. manifest with every digest, the training record and the metrics; Ed25519 signature.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F


from device_ai.errors import DeviceAIError
from device_ai.inference.engine import LockedEngine
from device_ai.inference.postprocess import DEFAULT_POSTPROCESSING
from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, normalize
from device_ai.model.export import EXPORTER, INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, parity
from device_ai.model.package import signing
from device_ai.model.package.build import build_manifest, write_package
from device_ai.model.release import twin_bytes
from device_ai.model.dinov2 import get_config
from device_ai.model.segmenter import DEMO_SEGMENTER, DinoSegmenter, SegmenterConfig
from device_ai.training.data import SlicePool, build_pool
from device_ai.training.labels import DEMO_LABELS

Progress = Callable[[int, int], None]

INTENDED_USE = (
    "Demonstration only: segmentation of one organ and focal lesions in axial CT slices of synthetic "
    "phantoms (256-512 px square, pixel spacing 0.5-1.0 mm, slice thickness 1-5 mm). Not for clinical use."
)


@dataclass(frozen=True)
class TrainingPlan:
    """Everything that determines the trained weights. Defaults are the released plan."""

    seed: int = 0
    steps: int | None = None
    train_patients: int | None = None
    verification_patients: int = 12
    test_patients: int = 40
    slices_per_patient: int = 8
    batch_size: int = 8
    learning_rate: float = 1.5e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    dice_weight: float = 1.0
    threads: int = 2
    segmenter: SegmenterConfig = DEMO_SEGMENTER
    # Phantom generator of the training and verification pools. Version 1 (no domain) is what
    # reproduces the released 1.0.0 package; for version 2 the training pool is drawn from
    # ``domain`` (default: the wider training domain) and the verification pool from the
    # intended use.
    generator_version: int = 1
    domain: str | None = None
    package_version: str = "1.0.0"

    def resolved(self) -> TrainingPlan:
        return replace(self, steps=self.steps or 1600, train_patients=self.train_patients or 300)


def describe(segmenter: SegmenterConfig) -> str:
    """One line naming the architecture, derived from the config (never typed by hand)."""
    vit = get_config(segmenter.backbone)
    return (
        f"DINOv2-architecture ViT ({vit.embed_dim}-d, {vit.depth} blocks, {vit.num_heads} heads, "
        f"{vit.num_register_tokens} registers, patch {vit.patch_size}) with a "
        f"{segmenter.head.replace('_', ' ')} head, trained from scratch on synthetic CT phantoms."
    )


def backbone_record(segmenter: SegmenterConfig) -> dict:
    """The full backbone configuration as the running code builds it (manifest ``backbone_config``)."""
    vit = get_config(segmenter.backbone)
    return {**vit.to_dict(), "input_size": segmenter.input_size, "layers": list(segmenter.layers)}


def head_record(segmenter: SegmenterConfig) -> dict:
    """The head as the running code builds it (manifest ``head_config``): type and widths, read
    from a constructed head so the record is what the weights were trained in."""
    from device_ai.model.heads import LightDecoderHead, LiteDecoderHead

    vit = get_config(segmenter.backbone)
    in_channels = vit.embed_dim * len(segmenter.layers)
    record: dict = {"type": segmenter.head, "in_channels": in_channels, "num_classes": segmenter.num_classes,
                    "widths": None, "token_channels": None}
    decoders = {"light_decoder": LightDecoderHead, "lite_decoder": LiteDecoderHead}
    if segmenter.head in decoders:
        head = decoders[segmenter.head](in_channels, segmenter.num_classes)
        record["widths"] = [head.stem1[0].out_channels, head.stem2[0].out_channels, head.stem4[0].out_channels]
        record["token_channels"] = head.project[0].out_channels
    return record


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor,
                   classes: tuple[int, ...] = tuple(label.value for label in DEMO_LABELS)) -> torch.Tensor:
    """Mean over ``classes`` (the phantom truth's label values) of 1 - soft Dice, over the whole batch."""
    probs = logits.softmax(dim=1)
    losses = []
    for cls in classes:
        p = probs[:, cls]
        t = (target == cls).float()
        losses.append(1.0 - (2.0 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0))
    return torch.stack(losses).mean()


def _batch(pool: SlicePool, index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    planes = pool.planes[index]
    labels = pool.labels[index]
    # Flips keep the anatomy plausible for phantoms and double the effective data.
    if rng.random() < 0.5:
        planes, labels = planes[:, :, ::-1], labels[:, :, ::-1]
    if rng.random() < 0.5:
        planes, labels = planes[:, ::-1, :], labels[:, ::-1, :]
    images = normalize(np.ascontiguousarray(planes), DEFAULT_PREPROCESSING)
    return torch.from_numpy(images), torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))


def train_model(plan: TrainingPlan, pool: SlicePool, progress: Progress | None = None,
                model: DinoSegmenter | None = None, backbone_lr_factor: float = 1.0) -> DinoSegmenter:
    """Train from ``plan.seed``; deterministic on a given machine and software stack.

    ``model``: start from this segmenter (e.g. an official backbone, see
    ``training.backbone_weights``) instead of a new one; only its parameters that require
    gradients are trained, the backbone's at ``backbone_lr_factor`` times the learning rate.
    """
    plan = plan.resolved()
    torch.set_num_threads(plan.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)
    model = model if model is not None else DinoSegmenter(plan.segmenter)
    model.train()
    if backbone_lr_factor == 1.0:
        groups: list = [p for p in model.parameters() if p.requires_grad]
    else:
        backbone = {id(p) for p in model.backbone.parameters()}
        groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in backbone]},
                  {"params": [p for p in model.backbone.parameters() if p.requires_grad],
                   "lr": plan.learning_rate * backbone_lr_factor}]
        groups = [group for group in groups if group["params"]]
    optimizer = torch.optim.AdamW(groups, lr=plan.learning_rate, weight_decay=plan.weight_decay)
    steps = int(plan.steps or 0)

    def lr_factor(step: int) -> float:
        if step < plan.warmup_steps:
            return (step + 1) / plan.warmup_steps
        progress_ratio = (step - plan.warmup_steps) / max(1, steps - plan.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress_ratio))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    for step in range(steps):
        index = rng.choice(len(pool.planes), size=min(plan.batch_size, len(pool.planes)), replace=False)
        images, target = _batch(pool, index, rng)
        logits = model(images)
        loss = F.cross_entropy(logits, target) + plan.dice_weight * soft_dice_loss(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if progress is not None:
            progress(step + 1, steps)
    return model.eval()


def _training_fields(plan: TrainingPlan, pool: SlicePool, verification: SlicePool, wall: float,
                     twin_sha: str, timings: dict | None = None) -> dict:
    training = {
        "seed": plan.seed,
        "data_manifest_sha256": pool.manifest_sha256,
        "train_patients": len(set(pool.patient_ids)),
        "verification_patients": len(set(verification.patient_ids)),
        "steps": plan.steps,
        "wall_time_s": round(wall, 1),
        "torch_threads": plan.threads,
        "twin_weights_sha256": twin_sha,
    }
    if plan.generator_version != 1:
        # Additive fields (ANOM-005): the 1.0.0 plan keeps its record byte for byte.
        timings = timings or {}
        training.update({
            "generator": pool.generator,
            "domain": pool.domain,
            "verification_generator": verification.generator,
            "verification_domain": verification.domain,
            "slices_per_patient": plan.slices_per_patient,
            "batch_size": plan.batch_size,
            "learning_rate": plan.learning_rate,
            "weight_decay": plan.weight_decay,
            "warmup_steps": plan.warmup_steps,
            "dice_weight": plan.dice_weight,
            "data_wall_time_s": timings.get("data"),
            "train_wall_time_s": timings.get("train"),
        })
    return training


def _manifest_fields(plan: TrainingPlan, pool: SlicePool, verification: SlicePool, wall: float,
                     twin_sha: str, report, metrics: dict, timings: dict | None = None) -> dict:  # noqa: ANN001
    size = plan.segmenter.input_size
    fields = {
        "name": "demo-dinov2-seg",
        "version": plan.package_version,
        "description": describe(plan.segmenter),
        "intended_use": INTENDED_USE,
        "clinical_use": False,
        "architecture": plan.segmenter.to_config_dict(),
        "input_contract": _demo_contract(),
        "input": {"name": INPUT_NAME, "shape": (1, 3, size, size), "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": (1, plan.segmenter.num_classes, size, size), "dtype": "float32"},
        "labels": [label.model_dump(mode="json") for label in DEMO_LABELS],
        "preprocessing": DEFAULT_PREPROCESSING.model_dump(mode="json"),
        "postprocessing": DEFAULT_POSTPROCESSING.model_dump(mode="json"),
        "training": _training_fields(plan, pool, verification, wall, twin_sha, timings),
        "export": {
            "opset": OPSET,
            "exporter": EXPORTER,
            "torch_version": torch.__version__,
            "onnx_version": onnx.__version__,
            "onnxruntime_version": onnxruntime.__version__,
            "parity_max_abs_logit_diff": report.max_abs_logit_diff,
            "parity_mask_agreement": report.mask_agreement,
            "parity_cases": report.cases,
        },
        "metrics": metrics,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if plan.generator_version != 1 or plan.segmenter != DEMO_SEGMENTER:
        # The full configuration (ANOM-007), for every package trained by this code but the
        # 1.0.0 plan, whose manifest must keep its bytes.
        fields["backbone_config"] = backbone_record(plan.segmenter)
        fields["head_config"] = head_record(plan.segmenter)
    return fields


def export_with_parity(model: DinoSegmenter, size: int, planes: np.ndarray, threads: int):  # noqa: ANN201
    """ONNX export and the parity check (SRS-006) on every plane of ``planes`` (N, S, S);
    returns (onnx bytes, report); a failed check is an error and nothing is released."""
    onnx_bytes = export_onnx(model, size)
    images = [normalize(planes[i : i + 1]) for i in range(len(planes))]
    report = parity(model, onnx_bytes, images, threads=threads)
    print(f"parity on {report.cases} verification slices: max-abs {report.max_abs_logit_diff:.2e}, "
          f"mask agreement {report.mask_agreement:.6f}", flush=True)
    if not report.passes():
        raise DeviceAIError(
            f"export parity failed (max-abs {report.max_abs_logit_diff:.2e}, agreement {report.mask_agreement:.6f})",
            hint="the ONNX graph does not reproduce the PyTorch model; the package was not released",
        )
    return onnx_bytes, report


def train_and_release(plan: TrainingPlan, out_dir: Path, signing_key: Path, progress: Progress | None = None) -> Path:
    """Run steps 1-5 and write the signed package to ``out_dir``."""
    from device_ai.training.evaluate import run_validation

    plan = plan.resolved()
    key = signing.load_private_key(signing_key)
    size = plan.segmenter.input_size
    started = time.perf_counter()
    version = plan.generator_version
    print(f"generating {plan.train_patients} training and {plan.verification_patients} verification phantoms "
          f"(generator {version}{', domain ' + str(plan.domain) if plan.domain else ''})", flush=True)
    pool = build_pool("train", int(plan.train_patients or 0), size, base_seed=plan.seed,
                      slices_per_patient=plan.slices_per_patient, version=version,
                      domain=plan.domain if version != 1 else None)
    verification = build_pool("verification", plan.verification_patients, size, base_seed=plan.seed,
                              version=version)
    data_done = time.perf_counter()
    print(f"data: {data_done - started:.1f} s; training {plan.steps} steps on {len(pool.planes)} slices", flush=True)
    model = train_model(plan, pool, progress)
    wall = time.perf_counter() - started
    timings = {"data": round(data_done - started, 1), "train": round(wall - (data_done - started), 1)}
    print(f"training: {timings['train']:.1f} s", flush=True)
    export_started = time.perf_counter()
    onnx_bytes, report = export_with_parity(model, size, verification.planes, plan.threads)
    print(f"export + parity: {time.perf_counter() - export_started:.1f} s", flush=True)
    twin = twin_bytes(model)
    twin_sha = hashlib.sha256(twin).hexdigest()
    eval_started = time.perf_counter()
    # Evaluate the exact exported bytes through the locked engine, from a provisional package.
    with tempfile.TemporaryDirectory() as tmp:
        provisional = build_manifest(
            _manifest_fields(plan, pool, verification, wall, twin_sha, report, {}, timings), onnx_bytes, twin)
        write_package(Path(tmp) / "pkg", provisional, onnx_bytes, twin, key)
        engine = LockedEngine.load(Path(tmp) / "pkg", trusted_keys={signing.key_id(key.public_key()): key.public_key()})
        validation = run_validation(engine, patients=plan.test_patients, base_seed=plan.seed, out=None, progress=None)
    metrics = validation["summary"]["metrics"]
    print(f"evaluation ({plan.test_patients} test patients): {time.perf_counter() - eval_started:.1f} s", flush=True)
    manifest = build_manifest(
        _manifest_fields(plan, pool, verification, wall, twin_sha, report, metrics, timings), onnx_bytes, twin)
    return write_package(Path(out_dir), manifest, onnx_bytes, twin, key)


def _demo_contract() -> dict:
    from device_ai.dicom.contract import DEMO_CONTRACT

    return DEMO_CONTRACT.model_dump(mode="json")
