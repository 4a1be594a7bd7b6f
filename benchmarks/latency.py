"""Per-slice latency: locked ORT FP32 engine vs PyTorch eager twin, side by side in one run.

Both run the same verified package on the same preprocessed phantom slices with the same
thread count, interleaved round by round so that machine noise hits both alike. Reports
medians and the ratio (SRS-024: ORT at least 1.4x faster). A benchmark, not a test: timing
assertions do not belong in tests on a shared machine.

    python benchmarks/latency.py [--model PATH] [--rounds 40] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from device_ai.config import default_model_path
from device_ai.inference.engine import EngineOptions, LockedEngine
from device_ai.inference.preprocess import preprocess_slice
from device_ai.model.twin import load_twin
from device_ai.model.package import signing
from device_ai.training.phantoms import generate_case, split_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trusted-key", action="append", default=[], help="base64 public key of a site-trusted signer")
    parser.add_argument("--out", default="benchmarks/results/latency.json")
    args = parser.parse_args()

    keys = {signing.key_id(k): k for k in (signing.public_key_from_b64(t) for t in args.trusted_key)}
    engine = LockedEngine.load(Path(args.model), trusted_keys=keys, options=EngineOptions(threads=args.threads))
    torch.set_num_threads(args.threads)
    twin = load_twin(engine.package)
    size = engine.manifest.input.shape[-1]
    case = generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=8)
    images = [preprocess_slice(case.hu[i].astype(np.float32), size, engine.manifest.preprocessing) for i in range(8)]

    def ort_once(image: np.ndarray) -> float:
        start = time.perf_counter()
        engine.run(image)
        return time.perf_counter() - start

    def torch_once(image: np.ndarray) -> float:
        tensor = torch.from_numpy(image)
        start = time.perf_counter()
        with torch.inference_mode():
            twin(tensor)
        return time.perf_counter() - start

    for image in images[:3]:  # warm-up both
        ort_once(image)
        torch_once(image)
    ort_times, torch_times = [], []
    for round_index in range(args.rounds):
        image = images[round_index % len(images)]
        order = (ort_once, torch_once) if round_index % 2 == 0 else (torch_once, ort_once)
        for runner in order:
            (ort_times if runner is ort_once else torch_times).append(runner(image))
    ort_ms = statistics.median(ort_times) * 1000
    torch_ms = statistics.median(torch_times) * 1000
    result = {
        "model": engine.manifest.identity,
        "manifest_sha256": engine.package.manifest_sha256,
        "input_shape": list(engine.manifest.input.shape),
        "threads": args.threads,
        "rounds": args.rounds,
        "ort_fp32_ms_median": round(ort_ms, 2),
        "torch_eager_ms_median": round(torch_ms, 2),
        "speedup_ort_over_torch": round(torch_ms / ort_ms, 3),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {args.threads} threads",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"ORT FP32     : {ort_ms:8.2f} ms/slice (median of {args.rounds})")
    print(f"PyTorch eager: {torch_ms:8.2f} ms/slice (median of {args.rounds})")
    print(f"ratio        : ORT is {torch_ms / ort_ms:.2f}x faster than PyTorch eager")


if __name__ == "__main__":
    main()
