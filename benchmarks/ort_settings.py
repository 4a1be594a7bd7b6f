"""ONNX Runtime settings of the locked engine, chosen by measurement (issue 20 item 3).

Runs the verified embedded model under each candidate ``SessionOptions`` setting on the same
preprocessed phantom slices, rounds interleaved so that machine noise hits every setting alike,
and reports for each: the per-slice median and its ratio to the engine's own settings
(:func:`device_ai.inference.engine.session_options`), whether repeated runs give bit-identical
logits (determinism), and how far its logits and labels are from the engine's settings' (an
optimization level that fuses nodes may round differently; labels are what a user sees).

Candidates (one change from the engine's settings at a time; then, in a second interleaved pass
against the engine's settings, the combination of every single change that was at least 3% faster,
deterministic and changed no label):
graph optimization level (disabled, basic, extended, all), intra-op threads (1, 2), the CPU
memory arena off, memory pattern off, parallel execution mode, the intra-op threads not spinning after a
run (``session.intra_op.allow_spinning=0``), and IOBinding (inputs bound as
OrtValues and the output pre-allocated) instead of ``session.run``. Batching several slices per
run is not measured: the released graph's input is fixed at batch 1 (``[1, 3, 224, 224]``) and
re-exporting it with a dynamic batch is a new model package (the JSON says so).

Every setting is timed in quiet blocks (``quiet_blocks``: a pause before each setting's block, so that
another session's spinning threads do not share the cores with it; ANOM-017).

A benchmark, not a test: the machine is shared, figures compare settings side by side in one run.

    python benchmarks/ort_settings.py [--rounds 30] [--slices 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from quiet_blocks import QUIET_GAP_S, quiet_blocks

from device_ai.config import default_model_path
from device_ai.inference.engine import EngineOptions, session_options
from device_ai.inference.preprocess import preprocess_slice
from device_ai.model.package.verify import verify_package
from device_ai.training.phantoms import generate_case, split_seeds

LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def _options(threads: int, *, level: str = "all", arena: bool = True, mem_pattern: bool = True,
             parallel: bool = False, spinning: bool = True) -> ort.SessionOptions:
    so = session_options(EngineOptions(threads=threads))  # the engine's settings, then one change
    so.graph_optimization_level = LEVELS[level]
    so.enable_cpu_mem_arena = arena
    so.enable_mem_pattern = mem_pattern
    if parallel:
        so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        so.inter_op_num_threads = threads
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def candidates(threads: int) -> dict[str, dict]:
    """name -> keyword arguments of :func:`_options` (plus ``iobinding``); 'engine' is the baseline."""
    found: dict[str, dict] = {"engine": {}}
    for level in ("disabled", "basic", "extended"):
        found[f"opt={level}"] = {"level": level}
    for n in sorted({1, 2, threads} - {threads}):
        found[f"threads={n}"] = {"threads": n}
    found["arena=off"] = {"arena": False}
    found["mem_pattern=off"] = {"mem_pattern": False}
    found["parallel"] = {"parallel": True}
    found["spinning=off"] = {"spinning": False}
    found["iobinding"] = {"iobinding": True}
    return found


class Runner:
    """One session with a setting; ``once(image)`` returns logits, ``time(image)`` seconds."""

    def __init__(self, model_bytes: bytes, input_name: str, threads: int, spec: dict) -> None:
        spec = dict(spec)
        self.iobinding = spec.pop("iobinding", False)
        threads = spec.pop("threads", threads)
        self.session = ort.InferenceSession(model_bytes, sess_options=_options(threads, **spec),
                                            providers=["CPUExecutionProvider"])
        self.input_name = input_name
        self.output_name = self.session.get_outputs()[0].name
        shape = [int(d) for d in self.session.get_outputs()[0].shape]
        self._out = np.empty(shape, dtype=np.float32)

    def once(self, image: np.ndarray) -> np.ndarray:
        if not self.iobinding:
            return self.session.run(None, {self.input_name: image})[0]
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, image)
        binding.bind_output(self.output_name, "cpu", 0, np.float32, list(self._out.shape), self._out.ctypes.data)
        self.session.run_with_iobinding(binding)
        return self._out.copy()


def _interleaved(runners: dict[str, Runner], images: list[np.ndarray], rounds: int) -> dict[str, list[float]]:
    return quiet_blocks({name: runner.once for name, runner in runners.items()}, images, rounds)


def _agreement(reference: list[np.ndarray], other: list[np.ndarray]) -> dict:
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, other, strict=True))
    changed = sum(int(np.count_nonzero(a.argmax(1) != b.argmax(1))) for a, b in zip(reference, other, strict=True))
    pixels = sum(int(a.argmax(1).size) for a in reference)
    return {"max_abs_logit_diff": diff, "labels_changed": changed, "label_pixels": pixels}


def _deterministic(once: Callable[[np.ndarray], np.ndarray], images: list[np.ndarray], first: list[np.ndarray]) -> bool:
    return all(np.array_equal(once(image), out) for image, out in zip(images, first, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/ort_settings.json")
    args = parser.parse_args()

    package = verify_package(Path(args.model), None)
    manifest = package.manifest
    model_bytes = package.files["model.onnx"]
    size = manifest.input.shape[-1]
    case = generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=args.slices)
    images = [np.ascontiguousarray(preprocess_slice(case.hu[i].astype(np.float32), size, manifest.preprocessing))
              for i in range(args.slices)]
    runners = {name: Runner(model_bytes, manifest.input.name, args.threads, spec)
               for name, spec in candidates(args.threads).items()}
    outputs = {name: [runner.once(image) for image in images] for name, runner in runners.items()}
    load_before = os.getloadavg()
    times = _interleaved(runners, images, args.rounds)
    load_after = os.getloadavg()
    base = statistics.median(times["engine"])
    rows = {}
    for name, runner in runners.items():
        median = statistics.median(times[name])
        rows[name] = {"ms_median": round(median * 1000, 3), "speedup_over_engine": round(base / median, 3),
                      "deterministic_3_repeats": all(_deterministic(runner.once, images, outputs[name]) for _ in range(3)),
                      **_agreement(outputs["engine"], outputs[name])}
    specs = candidates(args.threads)
    winners = [n for n, row in rows.items() if n != "engine" and row["speedup_over_engine"] >= 1.03
               and row["deterministic_3_repeats"] and row["labels_changed"] == 0]
    combined = None
    if len(winners) > 1:
        spec = {k: v for n in winners for k, v in specs[n].items()}
        pair = {"engine": runners["engine"], "combined": Runner(model_bytes, manifest.input.name, args.threads, spec)}
        out = [pair["combined"].once(image) for image in images]
        pass_times = _interleaved(pair, images, args.rounds)
        median = statistics.median(pass_times["combined"])
        combined = {"of": winners, "ms_median": round(median * 1000, 3),
                    "speedup_over_engine": round(statistics.median(pass_times["engine"]) / median, 3),
                    "deterministic_3_repeats": all(_deterministic(pair["combined"].once, images, out) for _ in range(3)),
                    **_agreement(outputs["engine"], out)}
    fastest = min(rows, key=lambda n: rows[n]["ms_median"])
    result = {
        "model": f"{manifest.name} {manifest.version}",
        "input_shape": list(manifest.input.shape),
        "threads": args.threads, "rounds": args.rounds, "slices": args.slices,
        "method": f"quiet_blocks, {QUIET_GAP_S} s pause before each setting's block",
        "baseline": "engine = device_ai.inference.engine.session_options (the locked settings)",
        "settings": rows,
        "fastest": fastest,
        "combined": combined,
        "batching": "not measured: the released graph's input is fixed at batch 1; a dynamic-batch export is a new "
                    "model package",
        "load_average_1_5_15": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
        "onnxruntime": ort.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'cpu'}",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    width = max(map(len, rows))
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['ms_median']:8.2f} ms  x{row['speedup_over_engine']:.3f}  "
              f"deterministic={row['deterministic_3_repeats']}  max|dlogit|={row['max_abs_logit_diff']:.2e}  "
              f"labels changed {row['labels_changed']}/{row['label_pixels']}")
    if combined:
        print(f"combined {'+'.join(combined['of'])}: {combined['ms_median']:.2f} ms  x{combined['speedup_over_engine']:.3f}  "
              f"deterministic={combined['deterministic_3_repeats']}  labels changed {combined['labels_changed']}")
    print(f"fastest single change: {fastest}; wrote {args.out}")


if __name__ == "__main__":
    main()
