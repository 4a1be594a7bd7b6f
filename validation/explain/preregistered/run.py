"""Run the pre-registered faithfulness study (PREREGISTRATION.md) and write its results.

    python -m validation.explain.preregistered.run [--workers 2] [--limit N]

Writes ``results.json`` (every per-slice figure, the verdicts, the deviations) and ``results.md``
(generated from it) beside this file. ``--limit`` runs only the first N slices, for a dry run; its
results are written to ``--out`` and marked as not the registered run.
"""

from __future__ import annotations

import argparse
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
RANDOM_CONTROL_KEY = 99
RANDOMIZATION_SEED = 0
RING = (2, 5)  # px outside the ground-truth lesion, for its density stratum
MAPS = ("default", *measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE)
# Departures from the plan, written here as they happen and printed with the results.
DEVIATIONS = (
    "2026-12-05 19:14 UTC, before the plan's independent review had finished: the lead dry-ran this script on "
    "the registered set's first slice (position 0, patient 0; --limit 1, written to /tmp) to test it, and saw "
    "its figures (default gap 0.741, ROAD 0.896; blurred target 0.653, 0.817; edges 0.704, 0.870; random ROAD "
    "0.212). The plan was not changed after it; later dry runs use another base seed.",
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
    _STATE.update(engine=engine, twin=twin, randomized=randomize_cascading(twin, seed=RANDOMIZATION_SEED))


def _density(plane: np.ndarray, lesion: np.ndarray) -> dict:
    inner = ndimage.binary_dilation(lesion, iterations=RING[0] - 1)
    outer = ndimage.binary_dilation(lesion, iterations=RING[1])
    ring = outer & ~inner
    lesion_mean, ring_mean = float(plane[lesion].mean()), float(plane[ring].mean())
    return {"lesion_window_mean": lesion_mean, "ring_window_mean": ring_mean,
            "density": "hypodense" if lesion_mean < ring_mean else "hyperdense"}


def slice_figures(position: int, index: int, plane: np.ndarray, labels: np.ndarray) -> dict:
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
    record = {"position": position, "pool_index": index, "patient": index // SLICES_PER_PATIENT,
              "labelled_pixels": int(lesion.sum()), "region_pixels": int(region.sum()), **_density(plane, lesion)}
    if region.sum() < MIN_REGION_PIXELS:
        record["excluded"] = "fewer than 30 pixels labelled Lesion by the locked engine"
        return record
    default = gradcam(twin, image, LESION, target_mask=region)
    maps = {"default": default, "inverted": measures.inverted(default),
            "randomized twin": gradcam(randomized, image, LESION, target_mask=region),
            "random": measures.random_map(region.shape, BASE_SEED, position, RANDOM_CONTROL_KEY),
            "blurred target": measures.blurred_target(region), "edges": measures.edges(plane)}
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


def selected_slices(base_seed: int = BASE_SEED) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(position, pool index, plane, labels) of every slice with > 50 ground-truth Lesion pixels."""
    from device_ai.training.data import build_pool

    pool = build_pool("verification", PATIENTS, 224, slices_per_patient=SLICES_PER_PATIENT, base_seed=base_seed)
    picks = [i for i in range(len(pool.labels)) if (pool.labels[i] == LESION).sum() > MIN_LABELLED]
    return [(position, i, pool.planes[i], pool.labels[i]) for position, i in enumerate(picks)]


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(workers: int, limit: int | None, base_seed: int = BASE_SEED) -> dict:
    slices = selected_slices(base_seed)[:limit]
    started = time.time()
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_load) as pool:
            records = list(pool.map(slice_figures, *zip(*slices)))
    else:
        records = [slice_figures(*s) for s in slices]
    explained = [r for r in records if "excluded" not in r]
    patients = [r["patient"] for r in explained]
    per_map = {name: {key: [r["maps"][name][key] for r in explained] for key in ("auc", "gap", "road")}
               for name in MAPS}
    return {"plan": "validation/explain/preregistered/PREREGISTRATION.md", "commit": _commit(),
            "registered_run": limit is None and base_seed == BASE_SEED, "base_seed": base_seed, "patients": PATIENTS,
            "slices_selected": len(records), "slices_explained": len(explained),
            "excluded": [{k: r[k] for k in ("position", "pool_index", "patient", "excluded")}
                         for r in records if "excluded" in r],
            "seconds": round(time.time() - started, 1), "slices": records,
            "judgement": measures.judge(per_map, patients),
            "strata": report.strata(explained), "per_patient": report.per_patient(explained),
            "distributions": report.distributions(per_map, patients), "deviations": list(DEVIATIONS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--base-seed", type=int, default=BASE_SEED, help="another seed only for a dry run")
    args = parser.parse_args(argv)
    dry = args.limit is not None or args.base_seed != BASE_SEED
    if dry and args.out == HERE / "results.json":
        parser.error("a dry run (--limit or another --base-seed) must not write the registered results: give --out")
    results = run(args.workers, args.limit, args.base_seed)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(report.markdown(results), encoding="utf-8")
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
