"""Train the true-label control of the data-randomization check (PLAN.md in this folder) and store
it as a verification fixture: the permuted-label recipe (`cases.train_permuted_label_model`), the
same 48 training slices with their own label maps, seed 2. About 60 min on 2 cores.

    python validation/explain/data_randomization_control/train.py [--out DIR] [--check]

``--check`` retrains and compares the SHA-256 with the stored record instead of writing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

ROOT = Path(__file__).resolve().parents[3]
if __package__ in (None, ""):  # run as a file: the repository root on the path, for the study package
    sys.path.insert(0, str(ROOT))

from device_ai.model.segmenter import DEMO_SEGMENTER  # noqa: E402
from validation.explain.study.cases import (  # noqa: E402
    CONTROL_SEED,
    PERMUTED_MODEL_STEPS,
    memorisation,
    true_label_pool,
    train_true_label_control,
)

FIXTURES = ROOT / "verification" / "fixtures" / "true_label_control"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--check", action="store_true", help="retrain and compare with the stored record; write nothing")
    args = parser.parse_args()
    start = time.perf_counter()
    model = train_true_label_control(DEMO_SEGMENTER.input_size)
    wall = time.perf_counter() - start
    fit = memorisation(model, true_label_pool(DEMO_SEGMENTER.input_size))
    data = save({k: v.contiguous() for k, v in model.state_dict().items()})  # the bytes of the fixture file
    digest = hashlib.sha256(data).hexdigest()
    name = f"seed{CONTROL_SEED}"
    if args.check:
        stored = json.loads((args.out / f"{name}.json").read_text(encoding="utf-8"))["sha256"]
        print(f"seed {CONTROL_SEED}: {'reproduces' if digest == stored else 'DIFFERS from'} the stored weights "
              f"({digest[:16]}…); fits its labels {fit}", flush=True)
        raise SystemExit(0 if digest == stored else 1)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / f"{name}.safetensors"
    partial = weights.with_suffix(".tmp")  # never leave a half-written fixture
    partial.write_bytes(data)
    partial.replace(weights)
    record = {"seed": CONTROL_SEED, "steps": PERMUTED_MODEL_STEPS, "labels": "true (unpermuted)",
              "architecture": DEMO_SEGMENTER.config_dict(), "memorised": fit, "sha256": digest,
              "training_seconds": round(wall, 1), "torch": torch.__version__, "numpy": np.__version__,
              "machine": platform.machine()}
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
