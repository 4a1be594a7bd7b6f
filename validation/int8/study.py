"""INT8 study of the embedded model (validation/int8/PROTOCOL.md, pre-registered; issue 20 item 5).

Builds the pre-registered variants of ``models/demo-dinov2-seg-1.0.0/model.onnx`` into a work
folder (not committed), times them against ORT FP32 in one interleaved run, evaluates each through
the full clinical input path (``training.evaluate.segment_series``) on the validation set (test
split, 60 patients) and the external clean-room set (seeds 0-59), and judges each with
:func:`acceptance`. Writes ``validation/results/int8-demo-dinov2-seg-1.0.0.json`` and renders the
``.md`` from it. Research code: nothing here is part of the product.

    nice .venv/bin/python validation/int8/study.py --work /tmp/int8-work
    .venv/bin/python validation/int8/study.py --render validation/results/int8-demo-dinov2-seg-1.0.0.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `validation` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

CRITERIA = {
    "min_speedup": 1.8,  # FP32 per-slice median / variant per-slice median, same run
    "max_dice_drop": 0.01,  # FP32 mean Dice - variant mean Dice, per label, per set
    "sensitivity_may_drop": False,  # variant lesion sensitivity >= FP32's, per set
}
SETS = ("validation", "external")
LABELS = ("organ", "lesion")
CALIBRATION_PATIENTS = 20
CALIB_MAX_INTERMEDIATE_OUTPUTS = 16  # memory bound of the MinMax calibrator; min/max are the same
SPEED_ROUNDS = 60
SPEED_WARMUP = 3
THREADS = 2
PATIENTS = 60
RESULT_STEM = "int8-demo-dinov2-seg-1.0.0"
TOLERANCE = 1e-12  # float noise in the comparisons, far below any figure's resolution
RESULTS = Path(__file__).resolve().parents[1] / "results"
CONTROLS = ("control-zero-calibrated-qdq", "control-2bit-weights")
CANDIDATES = ("int8-dynamic", "int8-static-qdq")


# --------------------------------------------------------------------------- acceptance
def acceptance(record: dict[str, Any], criteria: dict[str, Any] = CRITERIA) -> dict[str, Any]:
    """The pre-registered verdict of one variant (PROTOCOL.md §6).

    ``record``: ``{"speedup": float, "sets": {set: {"organ_dice_drop", "lesion_dice_drop",
    "lesion_sensitivity", "fp32_lesion_sensitivity"}}}`` for every set in :data:`SETS`.
    A missing set or figure fails (nothing is passed for want of a measurement)."""
    results: dict[str, bool] = {}
    speedup = record.get("speedup")
    results["speedup"] = speedup is not None and speedup >= criteria["min_speedup"]
    for name in SETS:
        figures = record.get("sets", {}).get(name) or {}
        for label in LABELS:
            drop = figures.get(f"{label}_dice_drop")
            results[f"{name}.{label}_dice_drop"] = drop is not None and drop <= criteria["max_dice_drop"] + TOLERANCE
        sens, ref = figures.get("lesion_sensitivity"), figures.get("fp32_lesion_sensitivity")
        results[f"{name}.lesion_sensitivity"] = (sens is not None and ref is not None
                                                  and (criteria["sensitivity_may_drop"] or sens >= ref - TOLERANCE))
    accuracy = {key: ok for key, ok in results.items() if key != "speedup"}
    return {"criteria": dict(criteria), "results": results, "accuracy_passed": all(accuracy.values()),
            "passed": all(results.values()),
            "failed": sorted(key for key, ok in results.items() if not ok)}


# --------------------------------------------------------------------------- variants
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def calibration_images(engine, patients: int = CALIBRATION_PATIENTS) -> tuple[list[np.ndarray], list[int]]:
    """Every slice of ``patients`` verification-split phantoms, preprocessed as the engine's input."""
    from device_ai.inference.preprocess import preprocess_slice
    from device_ai.training.phantoms import generate_case, split_seeds

    manifest = engine.manifest
    size = manifest.input.shape[-1]
    seeds = split_seeds("verification", patients)
    images = []
    for seed in seeds:
        case = generate_case(seed, split="verification")
        images += [preprocess_slice(case.hu[i].astype(np.float32), size, manifest.preprocessing)
                   for i in range(case.hu.shape[0])]
    return images, seeds


class _Reader:
    """onnxruntime.quantization CalibrationDataReader over a list of images."""

    def __init__(self, name: str, images: list[np.ndarray]) -> None:
        self._items = iter([{name: image} for image in images])

    def get_next(self):  # noqa: ANN201
        return next(self._items, None)


def two_bit_weights(fp32: bytes) -> bytes:
    """Negative control c2: every Conv/MatMul weight initializer rounded to 4 levels per tensor."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(fp32)
    initializers = {init.name: init for init in model.graph.initializer}
    weights = {node.input[1] for node in model.graph.node if node.op_type in ("Conv", "MatMul")
               and len(node.input) > 1 and node.input[1] in initializers}
    for name in sorted(weights):
        w = numpy_helper.to_array(initializers[name]).astype(np.float32)
        scale = float(np.abs(w).max()) / 1.5 or 1.0
        q = (np.clip(np.floor(w / scale), -2, 1) + 0.5) * scale  # {-1.5, -0.5, 0.5, 1.5} x scale
        initializers[name].CopyFrom(numpy_helper.from_array(q.astype(np.float32), name))
    if not weights:
        raise RuntimeError("no Conv/MatMul weight initializer found: the 2-bit control would equal FP32")
    return model.SerializeToString()


def build_variants(engine, work: Path, log: Callable[[str], None]) -> tuple[dict[str, bytes], dict[str, Any]]:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from device_ai.model.package.manifest import ONNX_NAME

    work.mkdir(parents=True, exist_ok=True)
    fp32 = engine.package.files[ONNX_NAME]
    (work / "fp32.onnx").write_bytes(fp32)
    quant_pre_process(str(work / "fp32.onnx"), str(work / "fp32-pre.onnx"))
    pre = str(work / "fp32-pre.onnx")
    input_name = engine.manifest.input.name
    log("quant_pre_process done; dynamic ...")
    quantize_dynamic(pre, str(work / "int8-dynamic.onnx"), per_channel=True, weight_type=QuantType.QInt8,
                     reduce_range=False)
    images, seeds = calibration_images(engine)
    static = dict(quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                  activation_type=QuantType.QUInt8, reduce_range=False, calibrate_method=CalibrationMethod.MinMax,
                  extra_options={"CalibMaxIntermediateOutputs": CALIB_MAX_INTERMEDIATE_OUTPUTS})
    log(f"static QDQ, calibrating on {len(images)} verification slices ...")
    quantize_static(pre, str(work / "int8-static-qdq.onnx"), _Reader(input_name, images), **static)
    log("control c1 (zero-calibrated QDQ) ...")
    zeros = [np.zeros_like(images[0]) for _ in images]
    quantize_static(pre, str(work / "control-zero-calibrated-qdq.onnx"), _Reader(input_name, zeros), **static)
    (work / "control-2bit-weights.onnx").write_bytes(two_bit_weights(fp32))
    variants = {"fp32": fp32, **{name: (work / f"{name}.onnx").read_bytes() for name in CANDIDATES + CONTROLS}}
    calibration = {
        "split": "verification", "generator_version": 1, "patients": len(seeds), "seeds": seeds,
        "slices": len(images), "method": "MinMax", "preprocessing": engine.manifest.preprocessing.version,
        "calib_max_intermediate_outputs": CALIB_MAX_INTERMEDIATE_OUTPUTS,
        "static_settings": {"quant_format": "QDQ", "per_channel": True, "weight_type": "QInt8",
                            "activation_type": "QUInt8", "reduce_range": False},
        "dynamic_settings": {"per_channel": True, "weight_type": "QInt8", "reduce_range": False,
                             "op_types_to_quantize": "default (all supported)"},
        "pre_process": "onnxruntime.quantization.shape_inference.quant_pre_process (defaults)",
        "control_c1": f"static settings, calibrated on {len(zeros)} constant-zero images",
        "control_c2": "FP32 graph, Conv/MatMul weight initializers rounded to {-1.5,-0.5,0.5,1.5} x max|w|/1.5",
    }
    return variants, calibration


def op_counts(model_bytes: bytes) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load_from_string(model_bytes).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


class VariantEngine:
    """What ``segment_series`` needs of a LockedEngine (manifest, package, run), with the session
    built from a variant's bytes under the engine's own SessionOptions. Study adapter only."""

    def __init__(self, engine, model_bytes: bytes) -> None:
        import onnxruntime as ort

        from device_ai.inference.engine import EngineOptions, session_options

        self.package = engine.package
        self.manifest = engine.manifest
        self._input_name = engine.manifest.input.name
        self.session = ort.InferenceSession(model_bytes, sess_options=session_options(EngineOptions(threads=THREADS)),
                                            providers=["CPUExecutionProvider"])

    def run(self, image: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {self._input_name: np.ascontiguousarray(image)})
        return logits


# --------------------------------------------------------------------------- speed
def speed(engines: dict[str, VariantEngine], images: list[np.ndarray], rounds: int) -> dict[str, Any]:
    names = list(engines)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        for image in images[:SPEED_WARMUP]:
            engines[name].run(image)
    for round_index in range(rounds):
        image = images[round_index % len(images)]
        start = round_index % len(names)
        for name in names[start:] + names[:start]:
            t0 = time.perf_counter()
            engines[name].run(image)
            times[name].append(time.perf_counter() - t0)
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    return {"rounds": rounds, "warmup": SPEED_WARMUP, "threads": THREADS,
            "median_ms": {name: round(value, 3) for name, value in medians.items()},
            "p10_p90_ms": {name: [round(float(np.percentile(v, 10)) * 1000, 3), round(float(np.percentile(v, 90)) * 1000, 3)]
                           for name, v in times.items()},
            "speedup_over_fp32": {name: round(medians["fp32"] / value, 4) for name, value in medians.items()}}


# --------------------------------------------------------------------------- accuracy
def _pair_dice(a: np.ndarray, b: np.ndarray) -> float | None:
    from device_ai.training.evaluate import dice

    return dice(a, b)


def _cases(set_name: str, patients: int, work: Path):
    """(patient id, series folder, truth_of(series) -> (organ, lesion)) for every case of a set."""
    from device_ai.model.package.manifest import LabelRole
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
    from device_ai.training.phantoms import generate_case, split_seeds
    from validation.external_validation import _external_cases

    if set_name == "validation":
        for seed in split_seeds("test", patients, base_seed=0):
            case = generate_case(seed, split="test")
            folder = work / case.patient_id
            write_ct_series(case, folder)
            truth = (case.labels == DEMO_ORGAN.value, case.labels == DEMO_LESION.value)
            yield case.patient_id, folder, (lambda series, truth=truth, hu=case.hu: _checked(series, hu, truth))
    else:
        for pid, folder, truth_of in _external_cases(patients, 0, work):
            yield pid, folder, (lambda series, truth_of=truth_of: tuple(truth_of(series)[role] for role in
                                                                        (LabelRole.ORGAN, LabelRole.LESION)))


def _checked(series, hu: np.ndarray, truth):  # noqa: ANN001, ANN202
    if not np.array_equal(series.hu, hu.astype(np.float32)):
        raise AssertionError("the DICOM round trip changed the image or slice order")
    return truth


def evaluate(engines: dict[str, Any], set_name: str, patients: int, log: Callable[[str], None]) -> dict[str, list]:
    """Per variant, per patient: the set's case record (evaluate.py / subgroups.py functions) and the
    mask agreement with FP32."""
    from device_ai.inference.analyze import series_spacing
    from device_ai.model.package.manifest import LabelRole
    from device_ai.training.evaluate import dice, lesion_detection, segment_series
    from device_ai.training.subgroups import CaseArrays, case_record

    manifest = engines["fp32"].manifest
    organ_value, lesion_value = manifest.label_value(LabelRole.ORGAN), manifest.label_value(LabelRole.LESION)
    records: dict[str, list] = {name: [] for name in engines}
    with tempfile.TemporaryDirectory(prefix=f"int8-{set_name}-") as tmp:
        for number, (pid, folder, truth_of) in enumerate(_cases(set_name, patients, Path(tmp)), start=1):
            reference = None
            for name, engine in engines.items():  # fp32 first
                series, labels = segment_series(engine, folder)
                truth_organ, truth_lesion = truth_of(series)
                organ, lesion = labels == organ_value, labels == lesion_value
                if set_name == "validation":  # evaluate.evaluate_case's comparison
                    detection = lesion_detection(truth_lesion, lesion, series_spacing(series)[1] ** 2)
                    row = {"patient_id": pid, "slices": int(labels.shape[0]),
                           "truth_has_lesion": bool(truth_lesion.any()),
                           "organ_dice": dice(truth_organ, organ), "lesion_dice": dice(truth_lesion, lesion),
                           **{f"lesions_{key}": value for key, value in detection.items()}}
                else:  # external_validation.evaluate_set's record
                    full = case_record(CaseArrays(series.hu, truth_organ, truth_lesion, organ, lesion,
                                                  series_spacing(series)))
                    row = {"patient_id": pid, **full}
                if reference is None:
                    reference = (organ, lesion)
                row["agreement_organ"] = dice(reference[0], organ)
                row["agreement_lesion"] = dice(reference[1], lesion)
                records[name].append(row)
            log(f"{set_name} {number}/{patients} {pid}: " + ", ".join(
                f"{name} L{_fmt(records[name][-1]['lesion_dice'])}" for name in engines))
    return records


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def summarize_set(set_name: str, records: dict[str, list], manifest_sha256: str, identity: str) -> dict[str, Any]:
    """Summary per variant (evaluate.summarize / subgroups.summarize_study) and its comparison with FP32."""
    from device_ai.training.evaluate import summarize
    from device_ai.training.subgroups import summarize_study

    out: dict[str, Any] = {}
    for name, rows in records.items():
        if set_name == "validation":
            summary = summarize(rows, manifest_sha256, identity)["metrics"]
            patients = summary["test_patients"]
        else:
            summary = summarize_study(rows)["metrics"]
            patients = summary["patients"]
        out[name] = {
            "patients": patients,
            "organ_dice": summary["organ_dice"]["mean"],
            "organ_dice_ci95": list(summary["organ_dice"]["ci95"]),
            "lesion_dice": summary["lesion_dice"]["mean"],
            "lesion_dice_ci95": list(summary["lesion_dice"]["ci95"]),
            "lesion_sensitivity": summary["lesion_sensitivity"]["value"],
            "lesions_detected": sum(row["lesions_detected"] for row in rows),
            "lesions_evaluable": sum(row["lesions_evaluable"] for row in rows),
            "false_positives_per_slice": summary["false_positives_per_slice"]["value"],
        }
    fp32 = out["fp32"]
    fp32_rows = {row["patient_id"]: row for row in records["fp32"]}
    for name, rows in records.items():
        entry = out[name]
        entry["organ_dice_drop"] = fp32["organ_dice"] - entry["organ_dice"]
        entry["lesion_dice_drop"] = fp32["lesion_dice"] - entry["lesion_dice"]
        entry["fp32_lesion_sensitivity"] = fp32["lesion_sensitivity"]
        for label in LABELS:
            agreement = [(row[f"agreement_{label}"], row["patient_id"]) for row in rows
                         if row[f"agreement_{label}"] is not None]
            entry[f"mask_agreement_{label}_mean"] = _mean([a for a, _ in agreement])
            low = min(agreement) if agreement else None
            entry[f"mask_agreement_{label}_min"] = None if low is None else {"value": low[0], "patient_id": low[1]}
            include = (lambda row: row["truth_has_lesion"]) if label == "lesion" else (lambda row: True)
            drops = [(fp32_rows[row["patient_id"]][f"{label}_dice"] - row[f"{label}_dice"], row["patient_id"])
                     for row in rows if include(row) and row[f"{label}_dice"] is not None
                     and fp32_rows[row["patient_id"]][f"{label}_dice"] is not None]
            worst = max(drops) if drops else None
            entry[f"worst_patient_{label}_dice_drop"] = (None if worst is None else
                                                         {"drop": worst[0], "patient_id": worst[1],
                                                          "fp32": fp32_rows[worst[1]][f"{label}_dice"],
                                                          "variant": next(r[f"{label}_dice"] for r in rows
                                                                          if r["patient_id"] == worst[1])})
    return out


def reproduces_committed(set_name: str, fp32: dict[str, Any], records: list[dict]) -> dict[str, Any]:
    """The FP32 figures of this run against the committed result files (one source of truth)."""
    if set_name == "validation":
        committed = json.loads((RESULTS / "demo-dinov2-seg-1.0.0.json").read_text())
        metrics = committed["summary"]["metrics"]
        cases = {c["patient_id"]: c for c in committed["cases"]}
        figures = {"organ_dice": metrics["organ_dice"]["mean"], "lesion_dice": metrics["lesion_dice"]["mean"],
                   "lesion_sensitivity": metrics["lesion_sensitivity"]["value"]}
        source = "validation/results/demo-dinov2-seg-1.0.0.json"
    else:
        committed = json.loads((RESULTS / "external-demo-dinov2-seg-1.0.0.json").read_text())
        external = next(s for s in committed["sets"] if s["set"] == "external")
        metrics = external["metrics"]
        cases = {c["patient_id"]: c for c in external["cases"]}
        figures = {"organ_dice": metrics["organ_dice"]["mean"], "lesion_dice": metrics["lesion_dice"]["mean"],
                   "lesion_sensitivity": metrics["lesion_sensitivity"]["value"]}
        source = "validation/results/external-demo-dinov2-seg-1.0.0.json (set external)"
    diffs = [abs(fp32[key] - value) for key, value in figures.items()]
    per_case = [abs((row[key] or 0.0) - (cases[row["patient_id"]][key] or 0.0))
                for row in records for key in ("organ_dice", "lesion_dice") if row["patient_id"] in cases]
    same_patients = sorted(cases) == sorted(row["patient_id"] for row in records)
    return {"source": source, "same_patients": same_patients, "max_abs_diff_summary": max(diffs),
            "max_abs_diff_per_case": max(per_case) if per_case else None,
            "reproduced": same_patients and max(diffs) < 1e-9 and (max(per_case) if per_case else 1) < 1e-9}


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    import onnx
    import onnxruntime

    flags = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    except OSError:
        pass
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "cpu": model, "cpu_count": __import__("os").cpu_count(),
            "cpu_flags_relevant": {flag: flag in flags for flag in wanted}}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --------------------------------------------------------------------------- report
def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in CANDIDATES + CONTROLS:
        record = {"speedup": report["speed"]["speedup_over_fp32"][name],
                  "sets": {s: report["accuracy"][s]["variants"][name] for s in SETS if s in report["accuracy"]}}
        out[name] = acceptance(record)
    return out


def markdown(report: dict[str, Any]) -> str:
    speed = report["speed"]
    lines = [f"# INT8 study of {report['model']} (generated from the JSON; do not edit)", "",
             f"Protocol `validation/int8/PROTOCOL.md` (pre-registered in {report['preregistration_commit']}); "
             f"FP32 manifest SHA-256 `{report['manifest_sha256']}`; onnxruntime {report['machine']['onnxruntime']}, "
             f"onnx {report['machine']['onnx']}; {report['machine']['cpu']}, "
             f"{speed['threads']} intra-op threads; load before `{report['load_before']}`, after "
             f"`{report['load_after']}`; {report['elapsed_s']:.0f} s.", "",
             f"**Verdict: {report['verdict']}**", "",
             "## Speed (per-slice median, interleaved rounds, same run)", "",
             "| variant | median ms | p10-p90 ms | speedup over FP32 |", "|---|---|---|---|"]
    for name, ms in speed["median_ms"].items():
        p = speed["p10_p90_ms"][name]
        lines.append(f"| {name} | {ms:.2f} | {p[0]:.2f}-{p[1]:.2f} | {speed['speedup_over_fp32'][name]:.2f}x |")
    if report.get("speed_exploratory_repeats"):
        lines += ["", "Exploratory repeats of the speed run after the accuracy runs (not the verdict): " + "; ".join(
            ", ".join(f"{name} {value:.2f}x" for name, value in rep["speedup_over_fp32"].items() if name != "fp32")
            + f" (FP32 {rep['median_ms']['fp32']:.2f} ms)" for rep in report["speed_exploratory_repeats"]) + "."]
    for set_name in SETS:
        if set_name not in report["accuracy"]:
            continue
        block = report["accuracy"][set_name]
        check = block["fp32_reproduces_committed"]
        lines += ["", f"## {set_name} set ({block['description']})", "",
                  f"FP32 reproduces {check['source']}: {'yes' if check['reproduced'] else 'NO'} "
                  f"(max abs diff summary {check['max_abs_diff_summary']:.2g}, per case "
                  f"{check['max_abs_diff_per_case'] if check['max_abs_diff_per_case'] is None else format(check['max_abs_diff_per_case'], '.2g')}).", "",
                  "| variant | Organ Dice | drop | Lesion Dice | drop | sensitivity | FP/slice | "
                  "agreement Organ mean (min) | agreement Lesion mean (min) | worst patient (Lesion drop) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, v in block["variants"].items():
            worst = v["worst_patient_lesion_dice_drop"]
            lines.append(
                f"| {name} | {v['organ_dice']:.4f} | {v['organ_dice_drop']:+.4f} | {v['lesion_dice']:.4f} | "
                f"{v['lesion_dice_drop']:+.4f} | {v['lesion_sensitivity']:.3f} ({v['lesions_detected']}/"
                f"{v['lesions_evaluable']}) | {v['false_positives_per_slice']:.3f} | "
                f"{_agree(v, 'organ')} | {_agree(v, 'lesion')} | "
                f"{_worst(worst)} |")
    lines += ["", "## Acceptance (PROTOCOL.md §6)", "",
              "| variant | " + " | ".join(report["acceptance"][CANDIDATES[0]]["results"]) + " | passed |",
              "|---" * (len(report["acceptance"][CANDIDATES[0]]["results"]) + 2) + "|"]
    for name, verdict in report["acceptance"].items():
        lines.append(f"| {name} | " + " | ".join("yes" if ok else "NO" for ok in verdict["results"].values())
                     + f" | {'yes' if verdict['passed'] else 'NO'} |")
    controls = report["controls_fail_on_accuracy"]
    lines += ["", "Negative controls fail an accuracy criterion: "
              + ", ".join(f"{name} {'yes' if failed else 'NO (finding against the check)'}"
                          for name, failed in controls.items()) + ".", "",
              "## Calibration", "", "| field | value |", "|---|---|",
              *(f"| {key} | {json.dumps(value)} |" for key, value in report["calibration"].items()), "",
              "## Outputs on the speed slices (model resolution)", "",
              "| variant | max abs logit diff vs FP32 | lowest per-slice argmax agreement with FP32 | "
              "bit-identical on repeat |", "|---|---|---|---|",
              *(f"| {name} | {diff:.4g} | {report['min_slice_argmax_agreement_vs_fp32_speed_slices'][name]:.5f} | "
                f"{'yes' if report['bit_identical_on_repeat_speed_slices'][name] else 'NO'} |"
                for name, diff in report["max_abs_logit_diff_vs_fp32_speed_slices"].items()), "",
              "## Variant bytes", "", "| variant | SHA-256 | bytes |", "|---|---|---|"]
    for name, info in report["variants"].items():
        lines.append(f"| {name} | `{info['sha256']}` | {info['bytes']} |")
    return "\n".join(lines) + "\n"


def _worst(worst: dict | None) -> str:
    return "-" if worst is None else f"{worst['patient_id']} {worst['drop']:+.3f}"


def _agree(v: dict, label: str) -> str:
    mean, low = v[f"mask_agreement_{label}_mean"], v[f"mask_agreement_{label}_min"]
    if mean is None:
        return "-"
    return f"{mean:.4f} ({low['value']:.3f} {low['patient_id']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=None, help="folder for the variant .onnx files (not committed)")
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--rounds", type=int, default=SPEED_ROUNDS)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--speed-repeats", type=int, default=2, help="exploratory repeats of the speed run (no verdict)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the JSON and the .md")
    parser.add_argument("--render", metavar="JSON", help="only regenerate the .md beside a result JSON")
    args = parser.parse_args(argv)
    if args.render:
        source = Path(args.render)
        source.with_suffix(".md").write_text(markdown(json.loads(source.read_text(encoding="utf-8"))), encoding="utf-8")
        return 0
    from device_ai.app.context import Context
    from device_ai.app.model import trusted_keys
    from device_ai.config import default_model_path, load_settings
    from device_ai.inference.engine import LockedEngine
    from device_ai.inference.preprocess import preprocess_slice
    from device_ai.training.phantoms import generate_case, split_seeds

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    started = time.perf_counter()
    load_before = uptime()
    engine = LockedEngine.load(default_model_path(), trusted_keys=trusted_keys(Context(settings=load_settings())))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="int8-work-"))
    variants, calibration = build_variants(engine, work, log)
    adapters = {name: VariantEngine(engine, data) for name, data in variants.items()}

    size = engine.manifest.input.shape[-1]  # benchmarks/latency.py's slices
    case = generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=8)
    images = [preprocess_slice(case.hu[i].astype(np.float32), size, engine.manifest.preprocessing) for i in range(8)]
    log("speed ...")
    speed_result = speed(adapters, images, args.rounds)
    log(f"speed: {speed_result['speedup_over_fp32']}")
    # Output agreement on the speed slices (max |logit diff| vs FP32): a cheap sanity figure.
    logit_diff = {name: float(max(np.abs(a.run(im) - adapters["fp32"].run(im)).max() for im in images))
                  for name, a in adapters.items()}
    # Repeatability (issue 20 item 3 asks for bit-identical outputs): each variant run twice per slice.
    repeat = {name: all(np.array_equal(a.run(im), a.run(im)) for im in images) for name, a in adapters.items()}
    # Per-slice argmax agreement with FP32 at the model's resolution (the twin-vs-ORT explanation gate,
    # explain/consistency.py, and the export parity check, model/export.py, ask >= 0.999 per slice).
    argmax_agreement = {name: [float(np.mean(a.run(im).argmax(axis=1) == adapters["fp32"].run(im).argmax(axis=1)))
                               for im in images] for name, a in adapters.items()}
    argmax_min = {name: min(values) for name, values in argmax_agreement.items()}

    accuracy_engines = {"fp32": engine, **{name: adapters[name] for name in CANDIDATES + CONTROLS}}
    accuracy: dict[str, Any] = {}
    descriptions = {"validation": f"test split, {args.patients} patients, base seed 0, generator v1",
                    "external": f"clean-room generator, seeds 0-{args.patients - 1}"}
    for set_name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        records = evaluate(accuracy_engines, set_name, args.patients, log)
        summary = summarize_set(set_name, records, engine.package.manifest_sha256, engine.manifest.identity)
        accuracy[set_name] = {"description": descriptions[set_name], "variants": summary,
                              "fp32_reproduces_committed": reproduces_committed(set_name, summary["fp32"],
                                                                                records["fp32"]),
                              "cases": {name: [{k: v for k, v in row.items() if k not in ("covariates", "lesions")}
                                               for row in rows] for name, rows in records.items()}}
    # Exploratory (not the verdict): the same speed measurement repeated after the accuracy runs, to show
    # how much the ratio moves between runs on this shared machine.
    repeats = []
    for _ in range(args.speed_repeats):
        again = speed(adapters, images, args.rounds)
        repeats.append({"load": uptime(), "median_ms": again["median_ms"], "speedup_over_fp32": again["speedup_over_fp32"]})
        log(f"speed repeat (exploratory): {again['speedup_over_fp32']}")
    prereg = subprocess.run(["git", "log", "--format=%h %cI", "--diff-filter=A", "--", "validation/int8/PROTOCOL.md"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    report: dict[str, Any] = {
        "schema": "device_ai.int8-study/1", "model": engine.manifest.identity,
        "manifest_sha256": engine.package.manifest_sha256, "protocol": "validation/int8/PROTOCOL.md",
        "preregistration_commit": prereg.splitlines()[-1] if prereg else "unknown",
        "machine": machine(), "load_before": load_before, "patients_per_set": args.patients,
        "variants": {name: {"sha256": sha256(data), "bytes": len(data), "ops": op_counts(data)}
                     for name, data in variants.items()},
        "calibration": calibration, "speed": speed_result, "speed_exploratory_repeats": repeats,
        "max_abs_logit_diff_vs_fp32_speed_slices": logit_diff,
        "bit_identical_on_repeat_speed_slices": repeat,
        "min_slice_argmax_agreement_vs_fp32_speed_slices": argmax_min,
        "accuracy": accuracy,
    }
    report["acceptance"] = verdicts(report)
    report["controls_fail_on_accuracy"] = {name: not report["acceptance"][name]["accuracy_passed"] for name in CONTROLS}
    qualifying = [name for name in CANDIDATES if report["acceptance"][name]["passed"]]
    complete = set(accuracy) == set(SETS) and args.patients >= PATIENTS
    report["verdict"] = ((f"qualifies: {', '.join(qualifying)}" if qualifying else
                          "no INT8 variant qualifies: " + "; ".join(
                              f"{name} fails {', '.join(report['acceptance'][name]['failed'])}" for name in CANDIDATES))
                         + ("" if complete else " (INCOMPLETE RUN: not the pre-registered data)"))
    report["load_after"] = uptime()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{RESULT_STEM}.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / f"{RESULT_STEM}.md").write_text(markdown(report), encoding="utf-8")
    log(report["verdict"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
