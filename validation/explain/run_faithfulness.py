"""Faithfulness study of the explanations on the phantom verification set (issue 7).

For each verification slice with a predicted lesion: Grad-CAM and HiResCAM weighting at every
block, occlusion
through the locked engine, and a random map; deletion and insertion AUC through the locked
engine. Writes `validation/explain/results.json`.

    python validation/explain/run_faithfulness.py [--patients 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from device_ai.config import default_model_path
from device_ai.explain.consistency import check_twin_agreement
from device_ai.explain.faithfulness import curves
from device_ai.explain.gradcam import gradcam
from device_ai.explain.occlusion import occlusion
from device_ai.inference.engine import LockedEngine
from device_ai.inference.preprocess import normalize
from device_ai.model.twin import load_twin
from device_ai.training.data import build_pool

LESION = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--max-cases", type=int, default=24)
    parser.add_argument("--out", default="validation/explain/results.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    engine = LockedEngine.load(default_model_path())
    twin = load_twin(engine.package)
    pool = build_pool("verification", args.patients, 224, base_seed=engine.manifest.training.seed)
    rng = np.random.default_rng(0)
    cases = []
    for index in range(len(pool.planes)):
        image = normalize(pool.planes[index : index + 1])
        logits = engine.run(image)
        region = logits[0].argmax(axis=0) == LESION
        if region.sum() < 30:
            continue
        check_twin_agreement(twin, logits, image)
        maps = {f"{weighting}_block{b}": gradcam(twin, image, LESION, layer=b, target_mask=region, weighting=weighting)
                for weighting in ("gradcam", "hirescam") for b in range(len(twin.backbone.blocks))}
        maps["occlusion"] = occlusion(engine.run, image, LESION, region)
        maps["random"] = rng.random(region.shape).astype(np.float32)
        result = {"slice": index}
        for name, saliency in maps.items():
            result[name] = dict(zip(("deletion_auc", "insertion_auc"), curves(engine.run, image, LESION, region, saliency)))
        cases.append(result)
        print(f"slice {index}: " + ", ".join(f"{k} del {v['deletion_auc']:.3f}" for k, v in result.items() if k != "slice"),
              flush=True)
        if len(cases) >= args.max_cases:
            break
    methods = [k for k in cases[0] if k != "slice"]
    summary = {
        name: {
            "deletion_auc_median": float(np.median([c[name]["deletion_auc"] for c in cases])),
            "insertion_auc_median": float(np.median([c[name]["insertion_auc"] for c in cases])),
            "beats_random_on_deletion": float(np.mean([c[name]["deletion_auc"] < c["random"]["deletion_auc"] for c in cases])),
        }
        for name in methods
    }
    report = {"model_manifest_sha256": engine.package.manifest_sha256, "label": "Lesion", "cases": len(cases),
              "summary": summary, "per_case": cases}
    Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for name, values in summary.items():
        print(f"{name:18s} deletion AUC {values['deletion_auc_median']:.3f}  insertion AUC "
              f"{values['insertion_auc_median']:.3f}  beats random on deletion in {values['beats_random_on_deletion']:.0%}")


if __name__ == "__main__":
    main()
