"""Independent check (helper-91) of the pre-registered faithfulness criterion F1+F2 (issue 21, Done-when 2)
with model-free and degenerate maps that are NOT in the repository: do they pass it, and does the default
explanation beat them?

    nice python -m validation.explain.independent_check_91 [--positions 0,1,...] [--out-json F --out-md F]

Study code, not product. It reuses the registered study's measurement code unchanged
(``validation/explain/preregistered/run.py``: ``selected_slices``, ``BASE_SEED``, ``REFERENCE_RANDOM_MAPS``;
``measures.py``: ``random_map``, ``road_score``, ``f1``, ``f2``, ``beats``; ``study/faithfulness.py``:
``deletion_auc`` with ``removal="imputed"`` and one ``memo`` per slice), and builds the 10 reference random
maps exactly as ``slice_figures`` does, so its figures are comparable with ``preregistered/results.json``.
It recomputes the default map's figures on every slice it scores and compares them with ``results.json``
(tolerance 1e-9): the check that this harness is the study's.

The maps below are designed by helper-91 and appear nowhere else in the repository. A map is judged as the
plan judges a control or baseline (percentile interval only, addendum A5, ``strict=False``); "beats" is
``measures.beats(default, map)`` (both intervals, the stricter governs), as for the registered baselines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from validation.explain.preregistered import measures
from validation.explain.preregistered.run import BASE_SEED, REFERENCE_RANDOM_MAPS, selected_slices
from validation.explain.study.cases import LESION, MIN_REGION_PIXELS

HERE = Path(__file__).resolve().parent
OUT_JSON = HERE / "preregistered" / "INDEPENDENT-CHECK-91.json"
OUT_MD = HERE / "preregistered" / "INDEPENDENT-CHECK-91.md"
REGISTERED = HERE / "preregistered" / "results.json"
AGREEMENT_TOLERANCE = 1e-9
PATCH = 16  # px, for the shuffled-patch map (224 / 16 = 14 patches a side)
SHUFFLE_KEY = 91  # default_rng([91, slice position]) permutes the patches

# Written by helper-91 BEFORE any figure of this check was computed (and not changed afterwards).
EXPECTATIONS_WRITTEN = "2026-12-06 03:14 UTC (before the first slice was scored; committed with the script before the run)"
EXPECTATIONS = {
    "oracle": "ground-truth Lesion mask as 0/1 (no model at all). Expect: PASSES F1 and F2 (its most relevant "
              "pixels are the lesion; deleting them first removes the Lesion output in the first step); the "
              "default does NOT beat it (its AUC is expected at or below the default's).",
    "inverted oracle": "1 - ground-truth Lesion mask (must-fail control). Expect: FAILS F1 and F2 (lesion removed "
                       "last: negative gap, ROAD strongly negative); the default beats it.",
    "predicted region": "the locked engine's own Lesion region as 0/1 (a model OUTPUT, no explanation, unblurred). "
                        "Expect: PASSES F1 and F2; the default does NOT beat it.",
    "ground-truth distance": "1 / (1 + Euclidean distance to the nearest ground-truth Lesion pixel) (model-free; "
                             "a cone centred on every lesion). Expect: PASSES F1 and F2 (like the registered "
                             "blurred target); the default does NOT beat it.",
    "constant": "every pixel 0.5 (degenerate: every pixel tied, so the order is raster order, top row first). "
                "Expect: FAILS (F2 certainly: LeRF - MoRF depends only on whether the lesion lies in the lower or "
                "upper half, mean about 0; F1 probably too: the lesion is removed about when the raster reaches "
                "its row, a gap of roughly 0.3-0.4 that is not >= 0.1 on 90% of slices or whose lower bound is "
                "not > 0.3); the default beats it.",
    "hot pixel": "0 everywhere, 1 at the engine region's centroid (degenerate: one pixel, the rest tied). "
                 "Expect: as constant (FAILS, default beats it); its figures close to the constant map's.",
    "intensity contrast": "|plane - median of the body's plane values| inside the body (plane > 0), 0 outside "
                          "(model-free image statistic). Expect: FAILS (bone, air and fat boundaries outrank a lesion of moderate "
                          "contrast, so the lesion is not removed first on most slices); the default beats it. "
                          "Low confidence.",
    "shuffled default": "the default map with its 16x16 patches permuted (default_rng([91, position])): the "
                        "default's values and texture, its location destroyed. Expect: FAILS F1 and F2 (gap and "
                        "ROAD near a random map's, a little spread by the patch structure); the default beats it.",
}
OWN_MAPS = tuple(EXPECTATIONS)
MUST_FAIL_CONTROL = "inverted oracle"
# What was predicted, in the form the verdicts take (passes F1+F2, default beats it); None = not predicted.
PREDICTED = {"oracle": (True, False), "inverted oracle": (False, True), "predicted region": (True, False),
             "ground-truth distance": (True, False), "constant": (False, True), "hot pixel": (False, True),
             "intensity contrast": (False, True), "shuffled default": (False, True)}

# What the figures say (written after the run, from the JSON; the expectations above are not touched).
DISCUSSION: list[str] = [
    "## What this says about the criterion (written after the run, 2026-12-06 04:50 UTC)",
    "",
    "- **The recorded decision (no credit) is confirmed.** The default passes F1+F2 on the registered set (its figures "
    "equal results.json's exactly), but four of helper-91's eight maps pass F1+F2 as well: oracle, predicted region, "
    "ground-truth distance, and intensity contrast; the default beats **none** of the four. It beats the four that fail "
    "(inverted oracle, constant, hot pixel, shuffled default).",
    "- **The criterion does not tell the model's explanation from maps that hold nothing of the model, so this is a "
    "property of the criterion, not of the project's two baselines.** Intensity contrast (|plane - body median| inside "
    "the body; no model, no label, no region) passes with mean gap 0.824 [0.796, 0.848] and ROAD 0.929 [0.852, 0.994], "
    "above the default's 0.761 and 0.835. It is better than the default on 15 of 23 slices on both measures. Its paired "
    "advantage (default AUC - map AUC) is 0.063, percentile [0.011, 0.147] (t [-0.028, 0.216]), and (map ROAD - "
    "default ROAD) is 0.094, percentile [0.010, 0.228] (t [-0.132, 0.507]). Computed with measures.clustered_ci / "
    "patient_t_ci on the JSON's figures. So the percentile interval even favours this map over the default. The "
    "ground-truth distance map does the same: AUC advantage 0.077 [0.013, 0.156].",
    "- **F1 alone does not discriminate.** The constant map (every pixel tied, so raster order) and the hot-pixel map "
    "pass F1: gap >= 0.1 on 100% of slices, mean gap 0.384 with lower bound 0.345 > 0.3. The reason: the reference "
    "random maps' deletion AUC is high (mean 0.912, range 0.733-0.967 over the 23 slices), because scattered pixels "
    "removed by noisy linear imputation are restored from their neighbours. Any spatially coherent order therefore "
    "shows a 'gap'. The inverted oracle, which removes the lesion last, has a positive mean gap (0.183) and a gap >= "
    "0.1 on 57% of slices. Only F2 (ROAD) rejects the tied maps (constant ROAD 0.037, hot pixel 0.009).",
    "- **F2 does not discriminate between maps that put the lesion early and the air outside the body last.** Air "
    "is 73% of the image (the body is 27% of it on average), and removing air pixels and imputing them changes "
    "nothing, so the LeRF curve of such a map stays near the intact target up to about 70% removed. In the intensity "
    "contrast map the ground-truth lesion pixels have a median rank in the top 0.1%-17% of the image on every slice "
    "(computed from selected_slices(11), not by the engine). Its MoRF curve therefore loses the lesion within the "
    "first steps. ROAD is then close to 1 whether or not the map knows anything about the model.",
    "- Timing: one slice end to end first (position 0, 114 s for the slice, 1 min 59 s with loading, 03:51 UTC; "
    "figures equal results.json's), then the 23 slices in one process, 3,052 s (120-148 s a slice, the lead's fuzz "
    "campaign sharing the 2 cores), within the 75-minute budget; no slice cut.",
    "- My one wrong prediction was intensity contrast: I expected it to fail, and it passes and outperforms the "
    "default. Every other map came out as predicted. A map that merely locates the lesion (oracle, predicted region, "
    "ground-truth distance) passing was expected. It shows that the criterion measures localisation of the explained "
    "region's evidence, which maps without the model also achieve.",
    "",
    "## Limitations",
    "",
    "- One registered set: 23 slices of the 7 (of 12 generated) phantom patients (generator v1) that have a slice with > 50 lesion pixels, one run; the intervals are those of the plan "
    "(2,000 patient-clustered resamples) and are wide at this n (t-intervals wider still).",
    "- Independence is of the maps and the judgement, not of the data or measures: the harness is the study's own "
    "code (deliberately, to be comparable), so a defect shared by deletion_auc/road_score/impute would be shared "
    "here. The agreement check shows the harness is the study's, not that the study's measures are right.",
    "- I designed the maps after reading results.json (I knew that blurred target and edges pass), so the maps were "
    "chosen knowing the criterion is lenient. The expectations were committed (841f4e0, 03:14 UTC) before any figure. "
    "Before that, I restricted intensity contrast to the body and changed the distance map to 1/(1+d) (same order); "
    "no figure existed then.",
    "- Oracle, ground-truth distance and inverted oracle use the ground-truth labels, which a device does not have. "
    "Those maps test what the criterion can tell apart; they are not deployable baselines. Constant and hot pixel "
    "differ only in one pixel (the order of tied pixels is raster, addendum A2), so they are one finding, not two.",
    "- The explanation given for intensity contrast (air last, lesion early) is supported by the rank figures above. "
    "It was not tested by a further map (e.g. a body silhouette); that map is not measured here.",
    "- The run shared 2 CPU cores with the lead's fuzz campaign; that affects the time (51 min), not the figures "
    "(the engine is deterministic; agreement 0.0).",
]

# The full run: started 2026-12-06 03:53:15 UTC at HEAD 0d086f5 (git log: the commit before it is 03:48:39,
# the next 04:04:23), ended 04:44 at HEAD 2b2b744; commits between touched only src/device_ai/regulatory,
# src/device_ai/dicom/deidentify and reviews, none of the measured code (code_state() below, at render time).
RUN_NOTE = ("run started 03:53:15 UTC at HEAD 0d086f5, ended at HEAD 2b2b744; commits between touched no measured "
            "code; the first record's 'study code unchanged: False' came from this check's own untracked outputs "
            "and src/device_ai/regulatory/records.py (the lead's, not imported by the measurement)")

_STATE: dict = {}


def _load() -> None:
    import torch

    from device_ai.config import default_model_path
    from device_ai.inference.engine import LockedEngine
    from device_ai.model.twin import load_twin

    torch.set_num_threads(1)
    engine = LockedEngine.load(default_model_path())
    _STATE.update(engine=engine, twin=load_twin(engine.package))


def own_maps(position: int, plane: np.ndarray, labels: np.ndarray, region: np.ndarray,
             default: np.ndarray) -> dict[str, np.ndarray]:
    """helper-91's maps of one slice (each (H, W) float32)."""
    lesion = labels == LESION
    shape = region.shape
    oracle = lesion.astype(np.float32)
    distance = (1.0 / (1.0 + ndimage.distance_transform_edt(~lesion))).astype(np.float32)
    hot = np.zeros(shape, dtype=np.float32)
    row, col = (int(round(c)) for c in ndimage.center_of_mass(region))
    hot[row, col] = 1.0
    body = plane > 0
    contrast = np.zeros(shape, dtype=np.float32)
    if body.any():
        contrast[body] = np.abs(plane[body] - float(np.median(plane[body])))
    grid = (shape[0] // PATCH, shape[1] // PATCH)
    patches = default.reshape(grid[0], PATCH, grid[1], PATCH).transpose(0, 2, 1, 3).reshape(-1, PATCH, PATCH)
    permutation = np.random.default_rng([SHUFFLE_KEY, position]).permutation(len(patches))
    shuffled = patches[permutation].reshape(grid[0], grid[1], PATCH, PATCH).transpose(0, 2, 1, 3).reshape(shape)
    return {"oracle": oracle, "inverted oracle": (1.0 - oracle).astype(np.float32),
            "predicted region": region.astype(np.float32), "ground-truth distance": distance,
            "constant": np.full(shape, 0.5, dtype=np.float32), "hot pixel": hot,
            "intensity contrast": contrast, "shuffled default": np.ascontiguousarray(shuffled, dtype=np.float32)}


def slice_figures(position: int, index: int, patient: str, plane: np.ndarray, labels: np.ndarray) -> dict:
    """The default's and every own map's figures on one slice, measured as run.slice_figures measures."""
    from device_ai.explain.gradcam import gradcam
    from device_ai.inference.preprocess import normalize
    from validation.explain.study.faithfulness import deletion_auc

    if not _STATE:
        _load()
    engine, twin = _STATE["engine"], _STATE["twin"]
    started = time.time()
    image = normalize(plane[None])
    region = engine.run(image)[0].argmax(axis=0) == LESION
    record = {"position": position, "pool_index": index, "patient": patient,
              "labelled_pixels": int((labels == LESION).sum()), "region_pixels": int(region.sum())}
    if region.sum() < MIN_REGION_PIXELS:
        record["excluded"] = "fewer than 30 pixels labelled Lesion by the locked engine"
        return record
    default = gradcam(twin, image, LESION, target_mask=region)
    maps = {"default": default, **own_maps(position, plane, labels, region, default)}
    record["empty_maps"] = [name for name, saliency in maps.items() if not np.any(saliency > 0)]
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
    record["seconds"] = round(time.time() - started, 1)
    return record


def agreement(records: list[dict], registered: dict) -> dict:
    """Largest |difference| between this run's default figures (and reference AUCs) and results.json's."""
    by_position = {r["position"]: r for r in registered["slices"]}
    worst, compared = 0.0, 0
    for r in records:
        if "maps" not in r:
            continue
        theirs = by_position[r["position"]]
        assert theirs["pool_index"] == r["pool_index"] and theirs["patient"] == r["patient"]
        pairs = [(r["maps"]["default"][k], theirs["maps"]["default"][k]) for k in ("auc", "gap", "road")]
        pairs += list(zip(r["reference_random_aucs"], theirs["reference_random_aucs"], strict=True))
        worst = max(worst, *(abs(a - b) for a, b in pairs))
        compared += 1
    return {"slices_compared": compared, "max_abs_difference": worst, "tolerance": AGREEMENT_TOLERANCE,
            "agrees": compared > 0 and worst <= AGREEMENT_TOLERANCE}


def verdicts(records: list[dict]) -> dict:
    """Per map: F1 and F2 as the plan judges a control (percentile interval), and measures.beats(default, map);
    the default judged as the plan judges it (strict, empty default maps count as gap < 0.1)."""
    explained = [r for r in records if "maps" in r]
    patients = [r["patient"] for r in explained]
    figures = {name: {key: [r["maps"][name][key] for r in explained] for key in ("auc", "gap", "road")}
               for name in ("default", *OWN_MAPS)}
    empty_default = ["default" in r["empty_maps"] for r in explained]
    out = {"default": {"F1": measures.f1(figures["default"]["gap"], patients, strict=True, empty=empty_default),
                       "F2": measures.f2(figures["default"]["road"], patients, strict=True)}}
    out["default"]["passes"] = out["default"]["F1"]["passed"] and out["default"]["F2"]["passed"]
    for name in OWN_MAPS:
        first = measures.f1(figures[name]["gap"], patients, strict=False)
        second = measures.f2(figures[name]["road"], patients, strict=False)
        against = measures.beats(figures["default"], figures[name], patients)
        out[name] = {"F1": first, "F2": second, "passes": first["passed"] and second["passed"],
                     "default_beats": against, "predicted": dict(zip(("passes", "default_beats"), PREDICTED[name])),
                     "as_predicted": (first["passed"] and second["passed"], against["passed"]) == PREDICTED[name]}
    return out


# The code the measurement imports (device_ai modules loaded by a run: atomic_io, config, dicom (contract,
# paths), errors, explain, inference, model, training; and the study's measures), relative to HERE.
MEASURED_CODE = ("../../src/device_ai/__init__.py", "../../src/device_ai/atomic_io.py", "../../src/device_ai/config.py",
                 "../../src/device_ai/errors.py", "../../src/device_ai/dicom/contract.py",
                 "../../src/device_ai/dicom/paths.py", "../../src/device_ai/dicom/__init__.py",
                 "../../src/device_ai/explain", "../../src/device_ai/inference", "../../src/device_ai/model",
                 "../../src/device_ai/training", "preregistered/run.py", "preregistered/measures.py",
                 "preregistered/report.py", "study", "independent_check_91.py")
EXPECTATIONS_COMMIT = "841f4e0"


def code_state() -> dict:
    """HEAD, and whether the measured code has uncommitted changes or differs from the expectations' commit."""
    return {"commit": _git("rev-parse", "HEAD"),
            "measured_code_uncommitted": _git("status", "--porcelain", "--", *MEASURED_CODE),
            "measured_code_changed_since_expectations_commit": _git("diff", "--stat", EXPECTATIONS_COMMIT, "HEAD", "--",
                                                                    *MEASURED_CODE[:-1])}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ci(figure: dict) -> str:
    return f"{figure['mean']:.3f} [{figure['ci'][0]:.3f}, {figure['ci'][1]:.3f}]"


def markdown(result: dict) -> str:
    v, a = result["verdicts"], result["agreement"]
    lines = [
        "# Independent check 91: does the registered criterion F1+F2 reject maps not in the repository?",
        "",
        "Reviewer: **helper-91, independent** (wrote none of the study, its plan, its measures or its maps). Issue 21, "
        "Done-when 2. Generated from `INDEPENDENT-CHECK-91.json` by `validation/explain/independent_check_91.py`.",
        "",
        f"Code commit {result['commit']} ({result.get('commit_note', 'at the end of the run')}). "
        f"Record rendered at {result.get('render_commit', result['commit'])[:7]}; measured code "
        f"(MEASURED_CODE in the script) uncommitted changes then: {result['measured_code_uncommitted'] or 'none'} "
        f"(after the run only DISCUSSION, RUN_NOTE and the record's provenance lines of the script changed); changed "
        f"since the expectations' commit {EXPECTATIONS_COMMIT}: "
        f"{result['measured_code_changed_since_expectations_commit'] or 'nothing'}. Model manifest and data as the registered run (base seed {BASE_SEED}, "
        f"`selected_slices({BASE_SEED})`). Slices scored: {result['slices_scored']} of {result['slices_selected']} "
        f"selected ({result['patients_scored']} patients; positions {result['positions']}). Run time "
        f"{result['seconds']:.0f} s, one process, torch 1 thread, `nice`; {result['seconds_per_slice']:.0f} s per slice.",
        "",
        "## Expectations (written " + EXPECTATIONS_WRITTEN + ", not changed afterwards)",
        "",
        *[f"- **{name}**: {text}" for name, text in EXPECTATIONS.items()],
        "",
        "## Harness check: the default's figures against `results.json`",
        "",
        f"Default deletion AUC, gap, ROAD and the 10 reference random AUCs on {a['slices_compared']} slices: largest "
        f"|difference| {a['max_abs_difference']:.3g} (tolerance {a['tolerance']:g}): "
        f"**{'AGREES' if a['agrees'] else 'DOES NOT AGREE'}**.",
        "",
        "## Results (a map judged as the plan judges a control: percentile interval; beats: `measures.beats`, "
        "both intervals, stricter governs)",
        "",
        "| map | share gap >= 0.1 | mean gap [95% pct] | F1 | mean ROAD [95% pct] | F2 | passes F1+F2 | "
        "default beats it (AUC diff LB pct/t; ROAD diff LB pct/t) | as expected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    d = v["default"]
    lines.append(f"| default (strict, both intervals) | {d['F1']['share_gap_at_least']:.0%} | {_ci(d['F1'])} | "
                 f"{'pass' if d['F1']['passed'] else 'fail'} | {_ci(d['F2'])} | {'pass' if d['F2']['passed'] else 'fail'} | "
                 f"{'yes' if d['passes'] else 'no'} | - | - |")
    for name in OWN_MAPS:
        m = v[name]
        b = m["default_beats"]
        lows = (f"{b['auc_difference']['ci'][0]:+.3f}/{b['auc_difference']['t_ci'][0]:+.3f}; "
                f"{b['road_difference']['ci'][0]:+.3f}/{b['road_difference']['t_ci'][0]:+.3f}")
        lines.append(f"| {name} | {m['F1']['share_gap_at_least']:.0%} | {_ci(m['F1'])} | "
                     f"{'pass' if m['F1']['passed'] else 'fail'} | {_ci(m['F2'])} | {'pass' if m['F2']['passed'] else 'fail'} | "
                     f"**{'yes' if m['passes'] else 'no'}** | {'yes' if b['passed'] else 'no'} ({lows}) | "
                     f"{'yes' if m['as_predicted'] else 'NO'} |")
    lines += ["", *result.get("discussion", DISCUSSION), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", default=None, help="comma-separated slice positions (default: all 23)")
    parser.add_argument("--out-json", type=Path, default=OUT_JSON)
    parser.add_argument("--out-md", type=Path, default=OUT_MD)
    parser.add_argument("--render", action="store_true", help="only rewrite the record from the JSON (with DISCUSSION)")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.out_json.read_text(encoding="utf-8"))
        result["discussion"] = DISCUSSION
        if "study_code_unchanged" in result:  # the first record's check also caught unrelated files; replaced
            result.pop("study_code_unchanged")
            result["commit_note"] = RUN_NOTE
        if "commit_note" in result:  # rendered later: the run's own commit stays, the code state is the render's
            state = code_state()
            result["render_commit"] = state.pop("commit")
            result.update(state)
        args.out_json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        args.out_md.write_text(markdown(result), encoding="utf-8")
        return 0
    slices = all_slices = selected_slices(BASE_SEED)
    if args.positions:
        wanted = {int(p) for p in args.positions.split(",")}
        slices = [s for s in slices if s[0] in wanted]
    registered = json.loads(REGISTERED.read_text(encoding="utf-8"))
    started = time.time()
    records = []
    for s in slices:
        records.append(slice_figures(*s))
        print(f"position {s[0]} patient {s[2]}: {records[-1].get('seconds')} s", flush=True)
        partial = {"partial": True, "records": records}
        args.out_json.with_suffix(".partial.json").write_text(json.dumps(partial, indent=1) + "\n", encoding="utf-8")
    seconds = time.time() - started
    scored = [r for r in records if "maps" in r]
    result = {"reviewer": "helper-91, independent", "commit": _git("rev-parse", "HEAD"),
              **code_state(),
              "registered_results_commit": registered["commit"], "base_seed": BASE_SEED,
              "slices_selected": len(all_slices),
              "slices_scored": len(scored), "positions": [r["position"] for r in scored],
              "patients_scored": len({r["patient"] for r in scored}),
              "excluded": [r["position"] for r in records if "excluded" in r],
              "seconds": round(seconds, 1), "seconds_per_slice": round(seconds / max(len(records), 1), 1),
              "expectations_written": EXPECTATIONS_WRITTEN, "expectations": EXPECTATIONS,
              "predicted": {k: {"passes": p, "default_beats": b} for k, (p, b) in PREDICTED.items()},
              "own_maps": list(OWN_MAPS), "must_fail_control": MUST_FAIL_CONTROL,
              "agreement": agreement(records, registered), "verdicts": verdicts(records), "slices": records}
    args.out_json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    args.out_md.write_text(markdown(result), encoding="utf-8")
    args.out_json.with_suffix(".partial.json").unlink(missing_ok=True)
    print(json.dumps({k: result[k] for k in ("agreement", "seconds", "slices_scored")}))
    for name in OWN_MAPS:
        m = result["verdicts"][name]
        print(f"{name}: passes {m['passes']}, default beats {m['default_beats']['passed']}, as predicted {m['as_predicted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
