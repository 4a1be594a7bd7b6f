"""Train the permuted-label models of the data-randomization sanity check (SRS-070) and store
them as verification fixtures.

Adebayo et al. (2018, §4.2) retrain the *whole* model on permuted labels until it memorises
them; a map that still looks like the real model's then does not depend on the relation between
images and labels that the real model learnt. Each model here is the released architecture with
a reduced recipe, not the released training plan (1,600 steps on 300 patients; issue 21): the
plan's other settings, trained from scratch for ``cases.PERMUTED_MODEL_STEPS`` steps on 48 training
slices whose label maps were permuted across slices (``cases.train_permuted_label_model``,
`validation/explain/study/cases.py`: training is study code, not device code).

45 to 60 min per seed on 2 cores, too long for the test suite, so the trained weights are kept
under configuration control in ``verification/fixtures/permuted_label_models/`` with a record of
how they were made (seed, steps, how well they memorised the permuted labels, SHA-256, software
versions). The verification test computes its figures from them and checks that each stored
model memorised its permuted labels. ``--check`` retrains and compares the SHA-256 with the
stored record instead of writing (training is deterministic on a given machine and software
stack; on another CPU or torch build the bits may differ, the memorisation should not).

    python validation/explain/train_permuted_label_models.py [--seeds 0 1 2] [--out DIR] [--check]
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

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):  # run as a file: the repository root on the path, for the study package
    sys.path.insert(0, str(ROOT))

from device_ai.model.segmenter import DEMO_SEGMENTER  # noqa: E402
from validation.explain.study.cases import (  # noqa: E402
    PERMUTED_MODEL_SEEDS,
    PERMUTED_MODEL_STEPS,
    memorisation,
    permuted_label_pool,
    train_permuted_label_model,
)

FIXTURES = ROOT / "verification" / "fixtures" / "permuted_label_models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(PERMUTED_MODEL_SEEDS))
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--check", action="store_true", help="retrain and compare with the stored records; write nothing")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mismatches = 0
    for seed in args.seeds:
        start = time.perf_counter()
        model = train_permuted_label_model(seed, DEMO_SEGMENTER.input_size)
        wall = time.perf_counter() - start
        fit = memorisation(model, permuted_label_pool(seed, DEMO_SEGMENTER.input_size))
        data = save({k: v.contiguous() for k, v in model.state_dict().items()})  # the bytes of the fixture file
        digest = hashlib.sha256(data).hexdigest()
        if args.check:
            stored = json.loads((args.out / f"seed{seed}.json").read_text(encoding="utf-8"))["sha256"]
            mismatches += digest != stored
            print(f"seed {seed}: {'reproduces' if digest == stored else 'DIFFERS from'} the stored weights "
                  f"({digest[:16]}…); memorised {fit}", flush=True)
            continue
        weights = args.out / f"seed{seed}.safetensors"
        partial = weights.with_suffix(".tmp")  # never leave a half-written fixture
        partial.write_bytes(data)
        partial.replace(weights)
        record = {
            "seed": seed,
            "steps": PERMUTED_MODEL_STEPS,
            "architecture": DEMO_SEGMENTER.config_dict(),
            "memorised": fit,
            "sha256": digest,
            "training_seconds": round(wall, 1),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "machine": platform.machine(),
        }
        (args.out / f"seed{seed}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n",
                                                   encoding="utf-8")
        print(json.dumps(record), flush=True)
    raise SystemExit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
