"""Cost of one explained slice as a multiple of one locked inference, side by side in one run.

Grad-CAM (the device's released configuration: twin forward + backward, after the agreement
check's forward) and occlusion (the study's reference method, `validation/explain/study/`; 256
engine runs) against one ORT inference of the same slice; medians over the slices.

    python benchmarks/explain_cost.py [--slices 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a file: the repository root on the path, for the study's occlusion
    sys.path.insert(0, str(ROOT))

from device_ai.config import default_model_path  # noqa: E402
from device_ai.explain.consistency import check_twin_agreement  # noqa: E402
from device_ai.explain.gradcam import gradcam  # noqa: E402
from device_ai.inference.engine import LockedEngine  # noqa: E402
from device_ai.inference.preprocess import normalize  # noqa: E402
from device_ai.model.twin import load_twin  # noqa: E402
from device_ai.training.data import build_pool  # noqa: E402
from validation.explain.study.occlusion import occlusion  # noqa: E402


def _timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/explain_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    engine = LockedEngine.load(default_model_path())
    twin = load_twin(engine.package)
    pool = build_pool("verification", 2, 224, slices_per_patient=args.slices // 2)
    images = [normalize(pool.planes[i : i + 1]) for i in range(len(pool.planes))]
    engine.run(images[0])
    inference, cam, occ = [], [], []
    for image in images:
        inference.append(_timed(lambda: engine.run(image)))
        logits = engine.run(image)
        mask = logits[0].argmax(0) == 1

        def explain() -> None:
            check_twin_agreement(twin, logits, image)
            gradcam(twin, image, 1, mask)

        cam.append(_timed(explain))
        occ.append(_timed(lambda: occlusion(engine.run, image, 1, mask)))
    base = statistics.median(inference)
    result = {
        "inference_ms": round(base * 1000, 2),
        "gradcam_ms": round(statistics.median(cam) * 1000, 2),
        "occlusion_ms": round(statistics.median(occ) * 1000, 2),
        "gradcam_over_inference": round(statistics.median(cam) / base, 1),
        "occlusion_over_inference": round(statistics.median(occ) / base, 1),
        "slices": len(images),
        "threads": 2,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
