"""Pilot (issue 14 study; not shipped): does giving the model narrower CT windows fix the
low-contrast organ errors found by organ_error_sources.py?

Hypothesis (from the 2.1.0 development-data study): the organ is confused with surrounding
tissue when they differ by 15-25 HU (mean organ Dice 0.813 there against 0.961 above
40 HU). Preprocessing ct-window-v1 feeds one soft-tissue window (centre 40, width 400)
replicated into the 3 input channels, so 15 HU is 3.75% of the input range; a narrow window
in a second channel makes it 12.5%.

Arms (everything else identical: DEMO_SEGMENTER, seed 0, AdamW 1.5e-3, warm-up 100, cosine,
batch 8, flips, CE + soft Dice, phantoms/2 training domain, the same training patients):
  A  ct-window-v1: (40, 400) in all three channels (the released preprocessing);
  B  three windows: (40, 400), (50, 120), (200, 1800).

Pre-registered before any result (committed with this file): both arms trained STEPS steps
on TRAIN_PATIENTS patients and evaluated in PyTorch (argmax at source resolution, no
postprocessing) on DEV_PATIENTS phantoms/2 intended-use development patients (train split
indices 990000+, in no training pool, not a test set). B is carried into the next candidate's
plan if its mean organ Dice in the 15-25 HU bin of |organ - surrounding| exceeds A's by at
least 0.03 AND its mean organ Dice over all development patients is not lower than A's.
Control: each arm's untrained model (step 0) is evaluated too and must score far below the
trained one (a pipeline that scores well without a model proves nothing). A pilot of this size
is under-trained against the 2600-step plans: it can rank the arms, not predict release figures.

Usage: python -m validation.model_errors.pilot_windows --out validation/model_errors/results/pilot_windows [--arms A]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from device_ai.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_plane
from device_ai.model.segmenter import DEMO_SEGMENTER, DinoSegmenter
from device_ai.training.data import nearest_labels
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import generate_case, split_seeds
from device_ai.training.train import soft_dice_loss
from validation.model_errors.organ_error_sources import FIRST_DEV_INDEX, GAP_BINS_HU, organ_contrast_hu

STEPS, TRAIN_PATIENTS, DEV_PATIENTS, SLICES, BATCH, SEED = 600, 200, 20, 8, 8, 0
ARMS = {"A": ((40.0, 400.0),) * 3, "B": ((40.0, 400.0), (50.0, 120.0), (200.0, 1800.0))}


def planes(hu: np.ndarray, windows, size: int) -> np.ndarray:  # noqa: ANN001
    """One HU slice -> (3, size, size) normalised input, one window per channel."""
    out = []
    for channel, (centre, width) in enumerate(windows):
        scaled = np.clip((hu.astype(np.float32) - (centre - width / 2)) / width, 0.0, 1.0)
        out.append((resize_plane(scaled, size, size) - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel])
    return np.stack(out).astype(np.float32)


def pool(windows, size: int):  # noqa: ANN001, ANN201
    images, labels = [], []
    for seed in split_seeds("train", TRAIN_PATIENTS):
        case = generate_case(seed, split="train", n_slices=SLICES, version=2, domain="training")
        for index in range(case.hu.shape[0]):
            images.append(planes(case.hu[index], windows, size))
            labels.append(nearest_labels(case.labels[index], size))
    return np.stack(images), np.stack(labels)


def train(images: np.ndarray, labels: np.ndarray, steps: int) -> DinoSegmenter:
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = DinoSegmenter(DEMO_SEGMENTER)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1.5e-3, weight_decay=1e-4)
    warmup = 100
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / warmup if s < warmup else
                                                  0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))))
    for _ in range(steps):
        index = rng.choice(len(images), size=BATCH, replace=False)
        x, y = images[index], labels[index]
        if rng.random() < 0.5:
            x, y = x[:, :, :, ::-1], y[:, :, ::-1]
        if rng.random() < 0.5:
            x, y = x[:, :, ::-1, :], y[:, ::-1, :]
        x = torch.from_numpy(np.ascontiguousarray(x))
        y = torch.from_numpy(np.ascontiguousarray(y).astype(np.int64))
        logits = model(x)
        loss = F.cross_entropy(logits, y) + soft_dice_loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model.eval()


def evaluate(model: DinoSegmenter, windows, size: int) -> dict:  # noqa: ANN001
    cases = []
    for seed in split_seeds("train", FIRST_DEV_INDEX + DEV_PATIENTS)[FIRST_DEV_INDEX:]:
        case = generate_case(seed, split="train", n_slices=SLICES, version=2, domain="intended-use")
        predicted = np.zeros(case.labels.shape, dtype=np.uint8)
        with torch.no_grad():
            for index in range(case.hu.shape[0]):
                logits = model(torch.from_numpy(planes(case.hu[index], windows, size)[None]))[0].numpy()
                rows, cols = case.hu.shape[1:]
                predicted[index] = np.argmax(np.stack([resize_plane(c, rows, cols) for c in logits]), axis=0)
        organ, lesion = case.labels == DEMO_ORGAN.value, case.labels == DEMO_LESION.value
        dice = lambda t, p: 2 * np.logical_and(t, p).sum() / max(1, t.sum() + p.sum())  # noqa: E731
        cases.append({"seed": seed, "organ_minus_surrounding_hu": organ_contrast_hu(case, organ, lesion),
                      "organ_dice": float(dice(organ, predicted == DEMO_ORGAN.value)),
                      "lesion_dice": float(dice(lesion, predicted == DEMO_LESION.value)) if lesion.any() else None})
    by_gap = {}
    for low, high in GAP_BINS_HU:
        inside = [c["organ_dice"] for c in cases if low <= abs(c["organ_minus_surrounding_hu"]) < high]
        by_gap[f"{low:g}-{high:g} HU"] = float(np.mean(inside)) if inside else None
    lesions = [c["lesion_dice"] for c in cases if c["lesion_dice"] is not None]
    return {"mean_organ_dice": float(np.mean([c["organ_dice"] for c in cases])),
            "mean_lesion_dice": float(np.mean(lesions)), "organ_dice_by_gap": by_gap, "cases": cases}


def run_arm(arm: str, size: int) -> dict:
    started = time.perf_counter()
    windows = ARMS[arm]
    images, labels = pool(windows, size)
    untrained = evaluate(train(images, labels, 0), windows, size)
    trained = evaluate(train(images, labels, STEPS), windows, size)
    return {"windows": windows, "wall_s": round(time.perf_counter() - started, 1),
            "untrained": {k: v for k, v in untrained.items() if k != "cases"}, "trained": trained}


def decide(arms: dict) -> dict:
    """The pre-registered decision rule and control, applied to both arms' results."""
    a, b = arms["A"]["trained"], arms["B"]["trained"]
    low = "15-25 HU"
    decision = {
        "criterion": "B - A >= 0.03 in the 15-25 HU bin and B's mean organ Dice >= A's",
        "low_gap_difference": None if a["organ_dice_by_gap"][low] is None or b["organ_dice_by_gap"][low] is None
        else b["organ_dice_by_gap"][low] - a["organ_dice_by_gap"][low],
        "mean_difference": b["mean_organ_dice"] - a["mean_organ_dice"]}
    decision["carry_B"] = bool(decision["low_gap_difference"] is not None and decision["low_gap_difference"] >= 0.03
                               and decision["mean_difference"] >= 0)
    control = all(arms[x]["untrained"]["mean_organ_dice"] < arms[x]["trained"]["mean_organ_dice"] - 0.3 for x in ARMS)
    return {"decision": decision, "control_passed": control}


def main() -> None:
    # Each arm is written to <out>-arm-<X>.json when it finishes (a long run can be done one arm
    # at a time); the decision is written to <out>.json once both arm files exist.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=sorted(ARMS))
    args = parser.parse_args()
    size = DEMO_SEGMENTER.input_size
    args.out.parent.mkdir(parents=True, exist_ok=True)
    arm_file = lambda arm: args.out.parent / f"{args.out.name}-arm-{arm}.json"  # noqa: E731
    for arm in args.arms:
        result = run_arm(arm, size)
        arm_file(arm).write_text(json.dumps(result, indent=1) + "\n")
        print(arm, json.dumps({k: v for k, v in result["trained"].items() if k != "cases"}), flush=True)
    if all(arm_file(arm).exists() for arm in ARMS):
        arms = {arm: json.loads(arm_file(arm).read_text()) for arm in ARMS}
        result = {"steps": STEPS, "train_patients": TRAIN_PATIENTS, "dev_patients": DEV_PATIENTS, "arms": arms,
                  **decide(arms)}
        (args.out.parent / (args.out.name + ".json")).write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["decision"]), "control passed:", result["control_passed"])


if __name__ == "__main__":
    main()
