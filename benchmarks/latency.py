"""Per-slice latency: locked ORT FP32 engine vs PyTorch eager twin, side by side in one run.

Both run the same verified package on the same preprocessed phantom slices with the same
thread count, each timed in quiet blocks (``quiet_blocks``: a runtime's block of consecutive
slices after a pause in which the other runtime's threads stop spinning, block order alternating)
so that neither runtime's thread pool takes the cores from the other's run (ANOM-017). Reports
medians and the ratio (SRS-024: ORT at least 1.4x faster), and in the same run:

- a control: the engine against a second session of the same engine, timed the same way; its
  ratio must stay near 1 (a method that favoured one runtime by itself would show it here);
- the earlier back-to-back method's figures (one call each, alternating, no pause), recorded only
  to show its bias: eager slowed by ORT's spinning threads.

A benchmark, not a test: timing assertions do not belong in tests on a shared machine.

    python benchmarks/latency.py [--model PATH] [--rounds 12] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from quiet_blocks import QUIET_GAP_S, back_to_back, quiet_blocks

from device_ai.config import default_model_path
from device_ai.inference.engine import EngineOptions, LockedEngine
from device_ai.inference.preprocess import preprocess_slice
from device_ai.model.twin import load_twin
from device_ai.model.package import signing
from device_ai.training.phantoms import generate_case, split_seeds


SLICES = 8  # slices per block: the verification phantom's slices
REQUIRED_SPEEDUP = 1.4  # SRS-024


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 2)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--rounds", type=int, default=12, help=f"rounds of one {SLICES}-slice block per runtime")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trusted-key", action="append", default=[], help="base64 public key of a site-trusted signer")
    parser.add_argument("--out", default="benchmarks/results/latency.json")
    args = parser.parse_args()

    keys = {signing.key_id(k): k for k in (signing.public_key_from_b64(t) for t in args.trusted_key)}
    options = EngineOptions(threads=args.threads)
    engine = LockedEngine.load(Path(args.model), trusted_keys=keys, options=options)
    control = LockedEngine.load(Path(args.model), trusted_keys=keys, options=options)  # a second session
    torch.set_num_threads(args.threads)
    twin = load_twin(engine.package)
    size = engine.manifest.input.shape[-1]
    case = generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=SLICES)
    images = [preprocess_slice(case.hu[i].astype(np.float32), size, engine.manifest.preprocessing)
              for i in range(SLICES)]

    def eager(image: np.ndarray) -> None:
        with torch.inference_mode():
            twin(torch.from_numpy(image))

    load_before = _uptime()
    runners = {"ort": engine.run, "eager": eager, "ort_second_session": control.run}
    for image in images[:3]:  # warm-up every runtime
        for run in runners.values():
            run(image)
    quiet = quiet_blocks(runners, images, args.rounds)
    biased = back_to_back({"ort": engine.run, "eager": eager}, images, args.rounds * SLICES)
    load_after = _uptime()

    ort_ms, torch_ms, second_ms = (_median_ms(quiet[name]) for name in ("ort", "eager", "ort_second_session"))
    biased_ort_ms, biased_torch_ms = _median_ms(biased["ort"]), _median_ms(biased["eager"])
    result = {
        "model": engine.manifest.identity,
        "manifest_sha256": engine.package.manifest_sha256,
        "input_shape": list(engine.manifest.input.shape),
        "threads": args.threads,
        "method": "quiet_blocks",
        "rounds": args.rounds,
        "slices_per_block": SLICES,
        "quiet_gap_s": QUIET_GAP_S,
        "samples_per_runtime": len(quiet["ort"]),
        "ort_fp32_ms_median": ort_ms,
        "torch_eager_ms_median": torch_ms,
        "speedup_ort_over_torch": round(torch_ms / ort_ms, 3),
        "required_speedup": REQUIRED_SPEEDUP,
        "control_second_ort_session": {
            "ms_median": second_ms,
            "ratio_to_engine": round(second_ms / ort_ms, 3),
            "note": "the engine timed against a second session of itself the same way: a ratio near 1 shows the "
                    "method favours neither side; it must fail the SRS-024 criterion",
        },
        "back_to_back_biased": {
            "ort_fp32_ms_median": biased_ort_ms,
            "torch_eager_ms_median": biased_torch_ms,
            "speedup_ort_over_torch": round(biased_torch_ms / biased_ort_ms, 3),
            "eager_slowdown_vs_quiet": round(biased_torch_ms / torch_ms, 3),
            "note": "the method recorded before ANOM-017 (one call each, no pause): ORT's spinning threads "
                    "slow the eager run that follows; not the result",
        },
        "load_before": load_before,
        "load_after": load_after,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPUs, {args.threads} threads",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"ORT FP32     : {ort_ms:8.2f} ms/slice (median of {len(quiet['ort'])}, quiet blocks)")
    print(f"PyTorch eager: {torch_ms:8.2f} ms/slice")
    print(f"ratio        : ORT is {torch_ms / ort_ms:.2f}x faster than PyTorch eager (SRS-024: >= {REQUIRED_SPEEDUP})")
    print(f"control      : a second ORT session {second_ms:.2f} ms, {second_ms / ort_ms:.2f}x the engine's")
    print(f"back to back : ORT {biased_ort_ms:.2f} ms, eager {biased_torch_ms:.2f} ms, "
          f"{biased_torch_ms / biased_ort_ms:.2f}x (biased: eager {biased_torch_ms / torch_ms:.2f}x slower than quiet)")


if __name__ == "__main__":
    main()
