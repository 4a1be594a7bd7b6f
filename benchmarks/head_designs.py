"""Cheaper segmenter designs: FLOPs, ONNX Runtime latency and training-step time, side by side with
demo-dinov2-seg 1.0.0 in one run (issue 20 items 4 and 6; groundwork for issue 14's next candidate).

Which design can be "at least 2x faster per slice than demo-dinov2-seg 1.0.0" at all is a question of
FLOPs and kernels, not of trained weights: every design here is built with random weights (seed 0),
exported like a release (``device_ai.model.export.export_onnx``, opset 17, static shape) and timed
through ONNX Runtime with the locked engine's session options (``session_options``), in quiet blocks
(``benchmarks/quiet_blocks.py``) interleaved with the released 1.0.0 package's own model.onnx. The
training-step time (forward + backward + AdamW, batch 8, the training threads) says how many steps
each design gets in the 60-minute training budget of issue 14.

The designs (study code only, ``validation/design_study/designs.py``; nothing is in the product package):
- ``released``: the 1.0.0 package's model.onnx (4-block 192-d ViT, light decoder 16/32/48, tokens 64);
- ``light``: the same architecture rebuilt from the code (random weights), to show the rebuild times like the release;
- ``dwsep``: the light decoder with each 3x3 fuse conv made depthwise-separable (3x3 depthwise, 1x1 pointwise);
- ``half``: no full-resolution stage (stem1/fuse1): logits at 1/2 resolution, upsampled bilinearly;
- ``dwsep_half``: both;
- ``dwsep_half_3blocks``: both, and a 3-block backbone (layers 1, 2);
- ``light_168``: the light decoder at a 168-px input (12 x 12 tokens);
- with ``--package PKG``: a trained candidate's own model.onnx (e.g. demo-dinov2-seg 2.2.0, the lite design).

A benchmark, not a test: the machine is shared; figures are for comparing designs in one run.

    .venv/bin/python benchmarks/head_designs.py [--rounds 8] [--out benchmarks/results/head_designs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from quiet_blocks import quiet_blocks  # noqa: E402

from device_ai.inference.engine import EngineOptions, session_options  # noqa: E402
from device_ai.model.export import export_onnx  # noqa: E402

sys.path.insert(0, str(ROOT))
from validation.design_study.designs import DESIGNS, build  # noqa: E402

RELEASED = ROOT / "models" / "demo-dinov2-seg-1.0.0"


def gflop(model: nn.Module, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def train_step_s(model: nn.Module, size: int, steps: int, threads: int) -> float:
    """Median seconds of one training step (batch 8, cross-entropy, AdamW), after 2 warm-up steps."""
    torch.set_num_threads(threads)
    model = model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(8, 3, size, size, generator=generator)
    labels = torch.randint(0, 3, (8, size, size), generator=generator)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    model.eval()
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "head_designs.json")
    parser.add_argument("--package", type=Path, action="append", default=[],
                        help="also time this package's model.onnx (a trained candidate) in the same run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = session_options(EngineOptions(threads=args.threads))
    sessions, sizes, flops, params, steps_s = {}, {}, {}, {}, {}
    sessions["released"] = ort.InferenceSession(str(RELEASED / "model.onnx"), options, providers=["CPUExecutionProvider"])
    sizes["released"] = 224
    for package in args.package:  # trained candidates: their own model.onnx, their manifest's input size
        manifest = json.loads((package / "manifest.json").read_text())
        label = f"{manifest['name']} {manifest['version']}"
        sessions[label] = ort.InferenceSession(str(package / "model.onnx"), options, providers=["CPUExecutionProvider"])
        sizes[label] = int(manifest["input"]["shape"][-1])
    for name in DESIGNS:
        model = build(name)
        size = DESIGNS[name]["input_size"]
        sizes[name] = size
        flops[name] = round(gflop(model, size), 4)
        params[name] = sum(p.numel() for p in model.parameters())
        sessions[name] = ort.InferenceSession(export_onnx(model, size), options, providers=["CPUExecutionProvider"])
        steps_s[name] = round(train_step_s(build(name), size, args.train_steps, args.threads), 4)
        print(f"{name}: {flops[name]} GFLOP, {params[name]} parameters, train step {steps_s[name]} s", flush=True)
    rng = np.random.default_rng(0)
    images = {size: [rng.random((1, 3, size, size), dtype=np.float32) for _ in range(8)] for size in set(sizes.values())}

    def runner(name):  # noqa: ANN001, ANN202
        session, size = sessions[name], sizes[name]
        input_name = session.get_inputs()[0].name
        return lambda index: session.run(None, {input_name: images[size][index]})

    times = quiet_blocks({name: runner(name) for name in sessions}, list(range(8)), args.rounds)
    median_ms = {name: round(1000 * float(np.median(values)), 3) for name, values in times.items()}
    released = median_ms["released"]
    result = {
        "benchmark": "benchmarks/head_designs.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": list(os.getloadavg())},
        "threads": args.threads, "rounds": args.rounds, "method": "quiet_blocks, 8 random inputs per block",
        "designs": {name: {**({"config": {k: list(v) if isinstance(v, tuple) else v for k, v in DESIGNS[name].items()}}
                              if name in DESIGNS else
                              {"package": "models/demo-dinov2-seg-1.0.0" if name == "released" else name}),
                           "gflop_torch": flops.get(name), "parameters": params.get(name),
                           "ort_ms_median": median_ms[name],
                           "speedup_over_released": round(released / median_ms[name], 3),
                           "train_step_s_batch8": steps_s.get(name)}
                    for name in sessions},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, row in result["designs"].items():
        print(f"{name:20s} {row['gflop_torch']!s:>7} GFLOP  ORT {row['ort_ms_median']:7.2f} ms  "
              f"x{row['speedup_over_released']:.2f}  train step {row['train_step_s_batch8']}")


if __name__ == "__main__":
    main()
