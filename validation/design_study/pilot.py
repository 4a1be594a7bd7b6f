"""The pilot of PLAN.md: each design trained for about the same wall time with the 2.1.0 recipe,
compared on the own generator's verification split (never the test split or the external set).

    .venv/bin/python validation/design_study/pilot.py --out validation/design_study/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from device_ai.inference.preprocess import normalize  # noqa: E402
from device_ai.training.data import SlicePool, build_pool  # noqa: E402
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN  # noqa: E402
from device_ai.training.train import TrainingPlan, train_model  # noqa: E402
from validation.design_study.designs import DESIGNS, build  # noqa: E402

# PLAN.md: steps per design for about 8 minutes of training each (measured step times 0.94/0.43/0.47 s)
STEPS = {"light": 500, "dwsep_half_3blocks": 1100, "light_168": 1000}
TRAIN_PATIENTS, EVAL_PATIENTS, SLICES = 200, 30, 8
GRID = 224  # endpoints are computed on this grid
CARRY_MARGIN = 0.01


def predict(model: torch.nn.Module, pool: SlicePool) -> np.ndarray:
    """Argmax labels on the GRID x GRID grid for every plane of ``pool`` (logits upsampled bilinearly)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(pool.planes), 16):
            logits = model(torch.from_numpy(normalize(np.ascontiguousarray(pool.planes[start:start + 16]))))
            if logits.shape[-1] != GRID:
                logits = F.interpolate(logits, size=(GRID, GRID), mode="bilinear", align_corners=False)
            out.append(logits.argmax(dim=1).numpy().astype(np.uint8))
    return np.concatenate(out)


def _dice(pred: np.ndarray, truth: np.ndarray) -> float | None:
    total = int(pred.sum() + truth.sum())
    return None if not truth.any() else 2.0 * float((pred & truth).sum()) / total


def _bootstrap(values: list[float], seed: int = 0, resamples: int = 2000) -> list[float]:
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def endpoints(pred: np.ndarray, truth: np.ndarray, patient_ids: list[str]) -> dict:
    organ, lesion = [], []
    ids = np.asarray(patient_ids)
    for patient in dict.fromkeys(patient_ids):
        rows = ids == patient
        p, t = pred[rows], truth[rows]
        organ.append(_dice(p == DEMO_ORGAN.value, t == DEMO_ORGAN.value))
        value = _dice(p == DEMO_LESION.value, t == DEMO_LESION.value)
        if value is not None:
            lesion.append(value)
    organ = [v for v in organ if v is not None]
    lesion_free = ~(truth == DEMO_LESION.value).any(axis=(1, 2))
    clean = ~(pred[lesion_free] == DEMO_LESION.value).any(axis=(1, 2))
    return {"organ_dice": round(float(np.mean(organ)), 4), "organ_dice_ci": _bootstrap(organ),
            "lesion_dice": round(float(np.mean(lesion)), 4), "lesion_dice_ci": _bootstrap(lesion),
            "patients": len(organ), "patients_with_lesion": len(lesion),
            "lesion_free_slices": int(lesion_free.sum()),
            "lesion_free_slices_clean": round(float(clean.mean()), 4) if clean.size else None}


def report(result: dict) -> str:
    """results.md, generated from results.json (never edited by hand)."""
    lines = ["# Pilot results: cheaper segmenter designs (generated from results.json; do not edit)", "",
             f"Plan: `{result['plan']}`. Control (untrained organ Dice < 0.5 < trained, every design): "
             f"{'passed' if result['control_passes'] else 'FAILED'}. Whole run {result['wall_s']} s.", "",
             "| design | steps | training s | s/step | Organ Dice [95% CI] | Lesion Dice [95% CI] | lesion-free slices clean "
             "| untrained Organ / Lesion Dice | carried forward |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["designs"].items():
        t, u = row["trained"], row["untrained_control"]
        carried = {True: "yes", False: "NO", None: "(baseline)"}[row.get("carried_forward")]
        lines.append(f"| {name} | {row['steps']} | {row['train_s']} | {row['train_s'] / row['steps']:.2f} | "
                     f"{t['organ_dice']:.3f} [{t['organ_dice_ci'][0]:.3f}, {t['organ_dice_ci'][1]:.3f}] | "
                     f"{t['lesion_dice']:.3f} [{t['lesion_dice_ci'][0]:.3f}, {t['lesion_dice_ci'][1]:.3f}] | "
                     f"{t['lesion_free_slices_clean']:.3f} of {t['lesion_free_slices']} | "
                     f"{u['organ_dice']:.3f} / {u['lesion_dice']:.3f} | {carried} |")
    base = result["designs"].get("light")
    if base:
        lines += ["", "Training times were meant to be about equal (steps fixed from step times measured on random "
                  "data); the measured times differ, each design's ratio to the baseline's:"]
        lines += [f"- {name}: {row['train_s'] / base['train_s']:.2f}x" for name, row in result["designs"].items()
                  if name != "light"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--designs", nargs="*", default=list(STEPS))
    parser.add_argument("--report-only", action="store_true", help="regenerate the .md from the .json")
    args = parser.parse_args()
    if args.report_only:
        args.out.with_suffix(".md").write_text(report(json.loads(args.out.read_text())))
        return
    started = time.perf_counter()
    sizes = sorted({DESIGNS[name]["input_size"] for name in args.designs} | {GRID})
    train = {size: build_pool("train", TRAIN_PATIENTS, size, base_seed=0, slices_per_patient=SLICES, version=2,
                              domain="training") for size in sizes}
    evaluation = {size: build_pool("verification", EVAL_PATIENTS, size, base_seed=0, slices_per_patient=SLICES,
                                   version=2, domain="intended-use") for size in sizes}
    truth = evaluation[GRID].labels
    data_s = round(time.perf_counter() - started, 1)
    print(f"data: {data_s} s", flush=True)
    result: dict = {"plan": "validation/design_study/PLAN.md", "data_s": data_s,
                    "train_data_sha256": {str(size): pool.manifest_sha256 for size, pool in train.items()},
                    "eval_data_sha256": {str(size): pool.manifest_sha256 for size, pool in evaluation.items()},
                    "designs": {}}
    for name in args.designs:
        size = DESIGNS[name]["input_size"]
        untrained = endpoints(predict(build(name).eval(), evaluation[size]), truth, evaluation[size].patient_ids)
        plan = TrainingPlan(seed=0, steps=STEPS[name], train_patients=TRAIN_PATIENTS, slices_per_patient=SLICES,
                            generator_version=2, domain="training")
        tic = time.perf_counter()
        model = train_model(plan, train[size], model=build(name))
        train_s = round(time.perf_counter() - tic, 1)
        trained = endpoints(predict(model, evaluation[size]), truth, evaluation[size].patient_ids)
        result["designs"][name] = {"steps": STEPS[name], "train_s": train_s, "trained": trained,
                                   "untrained_control": untrained}
        print(f"{name}: {train_s} s, {trained}", flush=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    base = result["designs"].get("light", {}).get("trained")
    if base:
        for name, row in result["designs"].items():
            if name != "light":
                row["carried_forward"] = bool(
                    row["trained"]["organ_dice"] >= base["organ_dice"] - CARRY_MARGIN
                    and row["trained"]["lesion_dice"] >= base["lesion_dice"] - CARRY_MARGIN)
    result["control_passes"] = all(row["untrained_control"]["organ_dice"] < 0.5 < row["trained"]["organ_dice"]
                                   for row in result["designs"].values())
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(report(result))
    print(json.dumps({name: {k: row.get(k) for k in ("train_s", "carried_forward")} for name, row in
                      result["designs"].items()}), flush=True)


if __name__ == "__main__":
    main()
