"""Run the pre-registered faithfulness study (PREREGISTRATION.md with its addendum 1) and write its results.

    python -m validation.explain.preregistered.run [--workers 2] [--limit N] [--base-seed 23 --out F]

Writes ``results.json`` (every per-slice figure, the verdicts, the deviations, the provenance) and
``results.md`` (generated from it) beside this file. The registered run (addendum A9) is the full set
at base seed 11 from a clean work tree; anything else is a dry run, must name ``--out`` elsewhere and
is marked as not the registered run (dry runs use base seed 23, addendum A1).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from scipy import ndimage

from validation.explain.preregistered import measures, report
from validation.explain.study.cases import LESION, MIN_REGION_PIXELS

HERE = Path(__file__).resolve().parent
BASE_SEED = 11
PATIENTS = 12
SLICES_PER_PATIENT = 4
MIN_LABELLED = 50  # ground-truth Lesion pixels, as sanity_cases
REFERENCE_RANDOM_MAPS = 10
DRY_RUN_SEED = 23  # addendum A1
RANDOM_CONTROL_KEY = 99
RING = (2, 5)  # px outside the ground-truth lesion, for its density stratum
MAPS = ("default", *measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE)
PLAN = HERE / "PREREGISTRATION.md"
EXCLUDED_SHARE_FLAG = 0.25  # addendum A7
# Departures from the plan, written here as they happen and printed with the results.
DEVIATIONS = (
    "2026-12-05 19:14 UTC, before the plan's independent review had finished: the lead dry-ran this script on "
    "the registered set's first slice (position 0, patient 0; --limit 1, written to /tmp) to test it, and saw "
    "its figures (default gap 0.741, ROAD 0.896; blurred target 0.653, 0.817; edges 0.704, 0.870; random ROAD "
    "0.212). The plan was not changed after it; later dry runs use base seed 23 (addendum 1, A1), and a "
    "sensitivity analysis without position 0 is reported beside the primary one.",
)

_STATE: dict = {}


def _load() -> None:
    import torch

    from device_ai.config import default_model_path
    from device_ai.inference.engine import LockedEngine
    from device_ai.model.twin import load_twin
    from validation.explain.study.sanity import randomize_cascading

    torch.set_num_threads(1)
    engine = LockedEngine.load(default_model_path())
    twin = load_twin(engine.package)
    _STATE.update(engine=engine, twin=twin,
                  randomized={name: randomize_cascading(twin, seed=seed)
                              for name, seed in zip(measures.RANDOMIZED_TWINS, measures.RANDOMIZATION_SEEDS)})


def density(plane: np.ndarray, lesion: np.ndarray) -> dict:
    """Hypo- or hyperdense: the pooled lesion pixels' mean window value against the ring 2-5 px outside
    them, the ring without any lesion pixel or air at the window's floor (addendum A6; equal counts as
    hyperdense, an empty ring as not estimable)."""
    inner = ndimage.binary_dilation(lesion, iterations=RING[0] - 1)
    outer = ndimage.binary_dilation(lesion, iterations=RING[1])
    ring = outer & ~inner & ~lesion & (plane != 0)
    lesion_mean = float(plane[lesion].mean())
    if not ring.any():
        return {"lesion_window_mean": lesion_mean, "ring_window_mean": None, "density": "not estimable"}
    ring_mean = float(plane[ring].mean())
    return {"lesion_window_mean": lesion_mean, "ring_window_mean": ring_mean,
            "density": "hypodense" if lesion_mean < ring_mean else "hyperdense"}


def slice_figures(position: int, index: int, patient: str, plane: np.ndarray, labels: np.ndarray) -> dict:
    """Every figure of one slice (runs in a worker)."""
    from device_ai.explain.gradcam import gradcam
    from device_ai.inference.preprocess import normalize
    from validation.explain.study.faithfulness import deletion_auc

    if not _STATE:
        _load()
    engine, twin, randomized = _STATE["engine"], _STATE["twin"], _STATE["randomized"]
    image = normalize(plane[None])
    region = engine.run(image)[0].argmax(axis=0) == LESION
    lesion = labels == LESION
    record = {"position": position, "pool_index": index, "patient": patient,
              "labelled_pixels": int(lesion.sum()), "region_pixels": int(region.sum()), **density(plane, lesion)}
    if region.sum() < MIN_REGION_PIXELS:
        record["excluded"] = "fewer than 30 pixels labelled Lesion by the locked engine"
        return record
    default = gradcam(twin, image, LESION, target_mask=region)
    maps = {"default": default, "inverted": measures.inverted(default),
            "random": measures.random_map(region.shape, BASE_SEED, position, RANDOM_CONTROL_KEY),
            **{name: gradcam(model, image, LESION, target_mask=region) for name, model in randomized.items()},
            "blurred target": measures.blurred_target(region), "edges": measures.edges(plane)}
    # Addendum A2: an all-zero map is scored as computed and listed; the default's counts as gap < 0.1.
    record["empty_maps"] = [name for name, saliency in maps.items() if not np.any(saliency > 0)]
    memo: dict = {}
    references = [deletion_auc(engine.run, image, LESION, region,
                               measures.random_map(region.shape, BASE_SEED, position, k), removal="imputed", memo=memo)
                  for k in range(REFERENCE_RANDOM_MAPS)]
    record["reference_random_aucs"] = references
    record["maps"] = {}
    for name, saliency in maps.items():
        auc = deletion_auc(engine.run, image, LESION, region, saliency, removal="imputed", memo=memo)
        road = measures.road_score(engine.run, image, LESION, region, saliency, memo=memo)
        record["maps"][name] = {"auc": auc, "gap": float(np.mean(references)) - auc, "road": road}
    return record


def selected_slices(base_seed: int = BASE_SEED) -> list[tuple[int, int, str, np.ndarray, np.ndarray]]:
    """(position, pool index, patient ID, plane, labels) of every slice with > 50 ground-truth Lesion pixels."""
    from device_ai.training.data import build_pool

    pool = build_pool("verification", PATIENTS, 224, slices_per_patient=SLICES_PER_PATIENT, base_seed=base_seed)
    picks = [i for i in range(len(pool.labels)) if (pool.labels[i] == LESION).sum() > MIN_LABELLED]
    return [(position, i, pool.patient_ids[i], pool.planes[i], pool.labels[i]) for position, i in enumerate(picks)]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance() -> dict:
    """What the registered run records about itself (addendum A9)."""
    from device_ai.config import default_model_path

    status = _git("status", "--porcelain")
    return {"commit": _git("rev-parse", "HEAD"), "clean_tree": status == "",
            "plan_commit": _git("log", "-1", "--format=%H", "--", PLAN.name), "plan_sha256": _sha256(PLAN),
            "model_manifest_sha256": _sha256(default_model_path() / "manifest.json"),
            "versions": {name: importlib.metadata.version(name) for name in ("onnxruntime", "torch", "numpy", "scipy")}}


def _figures(explained: list[dict]) -> tuple[dict, list[str]]:
    """Per map, the per-slice ``auc``, ``gap`` and ``road`` lists in slice order, and the slices' patients."""
    per_map = {name: {key: [r["maps"][name][key] for r in explained] for key in ("auc", "gap", "road")}
               for name in MAPS}
    return per_map, [r["patient"] for r in explained]


def judged(explained: list[dict]) -> dict:
    """The plan's verdicts on these explained slices (the default's empty maps count as gap < 0.1)."""
    per_map, patients = _figures(explained)
    return measures.judge(per_map, patients, empty_default=["default" in r["empty_maps"] for r in explained])


def run(workers: int, limit: int | None, base_seed: int = BASE_SEED) -> dict:
    origin = provenance()
    slices = selected_slices(base_seed)[:limit]
    started = time.time()
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_load) as pool:
            records = list(pool.map(slice_figures, *zip(*slices)))
    else:
        records = [slice_figures(*s) for s in slices]
    explained = [r for r in records if "excluded" not in r]
    per_map, patients = _figures(explained)
    excluded = [{k: r[k] for k in ("position", "pool_index", "patient", "excluded")} for r in records if "excluded" in r]
    return {"plan": "validation/explain/preregistered/PREREGISTRATION.md", **origin,
            "registered_run": limit is None and base_seed == BASE_SEED and origin["clean_tree"],
            "base_seed": base_seed, "patients": PATIENTS,
            "slices_selected": len(records), "slices_explained": len(explained), "excluded": excluded,
            "excluded_share": len(excluded) / len(records) if records else 0.0,
            "excluded_over_25_percent": bool(records) and len(excluded) / len(records) > EXCLUDED_SHARE_FLAG,
            "empty_maps": [{"position": r["position"], "maps": r["empty_maps"]} for r in explained if r["empty_maps"]],
            "seconds": round(time.time() - started, 1), "slices": records,
            "judgement": judged(explained),
            "sensitivity_without_position_0": judged([r for r in explained if r["position"] != 0]),
            "strata": report.strata(explained), "per_patient": report.per_patient(explained, MAPS),
            "patient_means": report.patient_means(per_map, patients),
            "distributions": report.distributions(per_map, patients), "deviations": list(DEVIATIONS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--base-seed", type=int, default=BASE_SEED,
                        help=f"another seed only for a dry run ({DRY_RUN_SEED}, addendum A1)")
    args = parser.parse_args(argv)
    dry = args.limit is not None or args.base_seed != BASE_SEED
    if dry and args.base_seed != DRY_RUN_SEED:
        parser.error(f"a dry run uses base seed {DRY_RUN_SEED} (addendum A1): give --base-seed {DRY_RUN_SEED}")
    if dry and args.out == HERE / "results.json":
        parser.error("a dry run (--limit or another --base-seed) must not write the registered results: give --out")
    if args.out == HERE / "results.json" and _git("status", "--porcelain") != "":
        parser.error("the registered run needs a clean work tree (addendum A9): commit or stash first")
    results = run(args.workers, args.limit, args.base_seed)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(report.markdown(results), encoding="utf-8")
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
