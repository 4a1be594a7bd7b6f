"""Faithfulness and sanity study of the explanations on the phantom verification set (issue 7).

Every Grad-CAM configuration in ``VARIANTS`` (each block and the head's input; classic and
HiResCAM weighting on raw tokens; Grad-CAM, HiResCAM, Grad-CAM++ and element-wise weighting
on air-centred tokens; path-integrated Grad-CAM and HiResCAM on air-centred tokens; Grad-CAM on
mean-centred tokens; Grad-CAM at each block's MLP input, raw, air- and mean-centred), occlusion
through the locked engine and a random map:

- faithfulness on the faithfulness cases (`validation.explain.study.cases`): deletion and insertion
  AUC through the locked engine, and the share of cases beating the random map;
- sanity checks on every lesion slice of ``POPULATION_PATIENTS`` verification patients (the
  verification tests' set; occlusion on the first ``OCCLUSION_SANITY_SLICES`` only): median Spearman between the maps of the released twin
  and those of the cascading-randomized twins (one per randomization seed, pooled), and of the
  twins with a head trained on permuted labels (one per head seed, pooled) (the gates, over the
  whole image), plus the same inside the body (for information).
  Occlusion's sanity figures use the twin (the locked engine holds the released weights only).
  A slice where the released model's map is empty is not counted (nothing to check).

Also per map: whether it is empty and whether its top sixteenth of pixels misses the region.
Writes `validation/explain/results.json` and the table `validation/explain/results.md`.

    python validation/explain/run_faithfulness.py [--max-cases 24] [--out FILE] [--maps-only | --keep-curves]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):  # run as a file: the repository root on the path, for the study package
    sys.path.insert(0, str(ROOT))

from device_ai.config import default_model_path  # noqa: E402
from device_ai.explain.consistency import check_twin_agreement  # noqa: E402
from device_ai.inference.engine import LockedEngine  # noqa: E402
from device_ai.model.twin import load_twin  # noqa: E402
from validation.explain.study.cases import (  # noqa: E402
    LESION,
    PERMUTED_SEEDS,
    RANDOMIZATION_SEEDS,
    faithfulness_cases,
    permuted_models,
    randomized_models,
    sanity_cases,
    torch_runner,
)
from validation.explain.study.faithfulness import curves  # noqa: E402
from validation.explain.study.occlusion import occlusion  # noqa: E402
from validation.explain.study.sanity import MIN_CHECKED, compare, median_checked  # noqa: E402
from validation.explain.study.variants import DEFAULT, HEAD_INPUT, Variant, gradcam_maps, resolve  # noqa: E402

BLOCKS = (0, 1, 2, 3)
VARIANTS = [
    *(Variant(b, w) for b in (*BLOCKS, HEAD_INPUT) for w in ("gradcam", "hirescam")),
    *(Variant(b, w, "air") for b in (*BLOCKS, HEAD_INPUT) for w in ("gradcam", "hirescam")),
    *(Variant(b, w, "air") for b in BLOCKS for w in ("gradcam++", "elementwise")),
    *(Variant(b, w, "air", integrated=True) for b in BLOCKS for w in ("gradcam", "hirescam")),
    *(Variant(b, "gradcam", "mean") for b in BLOCKS),
    *(Variant(b, "gradcam", c, tap="mlp_input") for b in BLOCKS for c in (None, "air", "mean")),
]
DELETION_CRITERION = 0.9
SPEARMAN_CRITERION = 0.3
OCCLUSION_SANITY_SLICES = 6  # occlusion costs ~243 inferences per map: its sanity figures use the first 6 slices


def map_shape(saliency: np.ndarray, region: np.ndarray) -> dict:
    """Where a map puts its weight: empty (all zero), and the share of the explained region
    covered by the map's top sixteenth of pixels (the first deletion step)."""
    top = np.zeros(saliency.size, dtype=bool)
    top[np.argsort(-saliency.ravel(), kind="stable")[: saliency.size // 16]] = True
    return {"empty_map": bool(not saliency.any()),
            "region_in_top_sixteenth": float((top.reshape(region.shape) & region).sum() / region.sum())}


def faithfulness(engine: LockedEngine, twin: torch.nn.Module, variants: list[Variant], max_cases: int,
                 previous: list[dict] | None = None) -> list[dict]:
    """Deletion and insertion AUC and the map shape per case; with ``previous`` (records of an
    earlier run on the same cases), the recorded curves are kept, the curves of variants not
    recorded there are computed, and the map shapes of the Grad-CAM variants are (re)computed."""
    rng = np.random.default_rng(0)
    records = []
    for number, case in enumerate(faithfulness_cases(engine, max_cases=max_cases)):
        check_twin_agreement(twin, case.logits, case.image)
        maps = {v.key: m for v, m in gradcam_maps(twin, case.image, LESION, variants, case.region).items()}
        if previous is not None:
            record = previous[number]
            assert record["slice"] == case.slice_index, "the cases differ from the recorded ones"
            for name, saliency in maps.items():
                if name not in record:  # a variant added since: its curves are computed now
                    record[name] = dict(zip(("deletion_auc", "insertion_auc"),
                                            curves(engine.run, case.image, LESION, case.region, saliency)))
                record[name].update(map_shape(saliency, case.region))
            records.append(record)
            print(f"slice {case.slice_index}: {len(records)} cases", flush=True)
            continue
        maps["occlusion"] = occlusion(engine.run, case.image, LESION, case.region)
        maps["random"] = rng.random(case.region.shape).astype(np.float32)
        record = {"slice": case.slice_index}
        for name, saliency in maps.items():
            deletion, insertion = curves(engine.run, case.image, LESION, case.region, saliency)
            record[name] = {"deletion_auc": deletion, "insertion_auc": insertion, **map_shape(saliency, case.region)}
        records.append(record)
        print(f"slice {case.slice_index}: {len(records)} cases", flush=True)
    return records


def sanity(engine: LockedEngine, twin: torch.nn.Module, variants: list[Variant], cases: list) -> dict[str, dict]:
    """Spearman of each map with the same map of every sanity model on ``cases``, pooled per check
    (over ``RANDOMIZATION_SEEDS`` and ``PERMUTED_SEEDS``); per-model medians kept as well."""
    models = {"randomization": randomized_models(twin), "permuted_labels": permuted_models(twin)}
    result: dict[str, dict] = {}
    for index, case in enumerate(cases):
        with_occlusion = index < OCCLUSION_SANITY_SLICES
        original = {v.key: m for v, m in gradcam_maps(twin, case.image, LESION, variants, case.region).items()}
        if with_occlusion:
            original["occlusion"] = occlusion(engine.run, case.image, LESION, case.region)
        for check, others in models.items():
            for number, model in enumerate(others):
                other = {v.key: m for v, m in gradcam_maps(model, case.image, LESION, variants, case.region).items()}
                if with_occlusion:
                    other["occlusion"] = occlusion(torch_runner(model), case.image, LESION, case.region)
                for name in original:
                    entry = result.setdefault(name, {}).setdefault(
                        check, {"spearman": [], "spearman_in_body": [], "per_model": [[] for _ in others]})
                    rho = compare([original[name]], [other[name]])
                    entry["spearman"] += rho
                    entry["per_model"][number] += rho
                    entry["spearman_in_body"] += compare([original[name]], [other[name]], [case.body])
        print(f"sanity: slice {case.slice_index}", flush=True)
    for entry in result.values():
        for check in entry.values():  # None: the real map is empty on that slice (nothing to check)
            check["median"] = median_checked(check["spearman"])
            check["median_in_body"] = median_checked(check["spearman_in_body"])
            check["per_model_median"] = [median_checked(rhos) for rhos in check.pop("per_model")]
            check["cases_checked"] = sum(r is not None for r in check["spearman"])
            check["models"] = len(check["per_model_median"])
    return result


def summarize(records: list[dict], checks: dict[str, dict]) -> dict[str, dict]:
    summary = {}
    for name in (k for k in records[0] if k != "slice"):
        deletion = np.array([r[name]["deletion_auc"] for r in records])
        insertion = np.array([r[name]["insertion_auc"] for r in records])
        random_deletion = np.array([r["random"]["deletion_auc"] for r in records])
        random_insertion = np.array([r["random"]["insertion_auc"] for r in records])
        entry = {
            "deletion_auc_median": float(np.median(deletion)),
            "insertion_auc_median": float(np.median(insertion)),
            "beats_random_on_deletion": float(np.mean(deletion < random_deletion)),
            "beats_random_on_insertion": float(np.mean(insertion > random_insertion)),
        }
        if all("empty_map" in r[name] for r in records):
            empty = np.array([r[name]["empty_map"] for r in records])
            covered = np.array([r[name]["region_in_top_sixteenth"] for r in records])
            entry["empty_map_share"] = float(np.mean(empty))
            entry["misses_region_share"] = float(np.mean(~empty & (covered == 0)))
        if name in checks:
            entry["randomization_spearman_median"] = checks[name]["randomization"]["median"]
            entry["permuted_labels_spearman_median"] = checks[name]["permuted_labels"]["median"]
            entry["sanity_checks_pass"] = bool(
                all(checks[name][c]["median"] < SPEARMAN_CRITERION
                    and checks[name][c]["cases_checked"] >= MIN_CHECKED * checks[name][c]["models"]
                    for c in ("randomization", "permuted_labels")))
            entry["meets_all_criteria"] = bool(entry["beats_random_on_deletion"] >= DELETION_CRITERION
                                               and entry["sanity_checks_pass"])
        summary[name] = entry
    return summary


def table(report: dict, descriptions: dict[str, str]) -> str:
    lines = [
        "# Explanation study: faithfulness and sanity checks",
        "",
        f"Generated by `validation/explain/run_faithfulness.py` from `results.json` (model manifest "
        f"`{report['model_manifest_sha256'][:16]}…`, label {report['label']}, {report['cases']} faithfulness "
        f"slices, {report['sanity_cases']} sanity slices, occlusion's sanity figures on the first "
        f"{report.get('occlusion_sanity_cases', report['sanity_cases'])}). Default: **{report['default']}**.",
        "",
        f"Criteria: beats a random map on deletion AUC in at least {DELETION_CRITERION:.0%} of the slices; median "
        f"Spearman below {SPEARMAN_CRITERION} after cascading model randomization (pooled over the slices and the "
        f"randomization seeds {tuple(report['randomization_seeds'])}) and for heads trained on permuted labels on the "
        f"frozen backbone (pooled likewise over the head seeds {tuple(report['permuted_seeds'])}); whole image: the "
        "gates; the worst seed's own median in brackets. Empty map: the share of slices where the map is all zero (nothing "
        "shown); top 1/16 misses the region: the share where the map is not empty but its top sixteenth of pixels "
        "(the first deletion step) holds none of the explained region, i.e. it points elsewhere. The in-body "
        "columns repeat the Spearman medians over the body only (for information, not a gate). The Spearman medians "
        "are over the slices where the released model's map is not empty (checked/all shown when fewer; at least "
        f"{MIN_CHECKED} per model needed). Deletion AUC: lower is better; insertion AUC: higher is better.",
        "",
        "| method | key | beats random, deletion | beats random, insertion | deletion AUC (median) "
        "| insertion AUC (median) | empty map | top 1/16 misses the region | randomization ρ | permuted labels ρ "
        "| randomization ρ in body | permuted ρ in body | all criteria |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(report["summary"].items(),
                  key=lambda item: (-item[1].get("meets_all_criteria", False), -item[1]["beats_random_on_deletion"]))
    for name, s in rows:
        sanity_entry = report["sanity"].get(name)

        def gate(check: dict) -> str:
            checked = check["cases_checked"]
            fewer = f" ({checked}/{len(check['spearman'])})" if checked < len(check["spearman"]) else ""
            ok = check["median"] < SPEARMAN_CRITERION and checked >= MIN_CHECKED * check["models"]
            worst = f" [{max(check['per_model_median']):+.2f}]" if check["models"] > 1 else ""
            return f"{check['median']:+.2f}{worst}{fewer}" + ("" if ok else " ✗")

        cells = [descriptions.get(name, name), f"`{name}`",
                 f"{s['beats_random_on_deletion']:.0%}" + ("" if s["beats_random_on_deletion"] >= DELETION_CRITERION
                                                           or name == "random" else " ✗"),
                 f"{s['beats_random_on_insertion']:.0%}", f"{s['deletion_auc_median']:.3f}",
                 f"{s['insertion_auc_median']:.3f}",
                 f"{s['empty_map_share']:.0%}" if "empty_map_share" in s else "–",
                 f"{s['misses_region_share']:.0%}" if "misses_region_share" in s else "–"]
        if sanity_entry:
            cells += [gate(sanity_entry["randomization"]), gate(sanity_entry["permuted_labels"]),
                      f"{sanity_entry['randomization']['median_in_body']:+.2f}",
                      f"{sanity_entry['permuted_labels']['median_in_body']:+.2f}",
                      "yes" if s.get("meets_all_criteria") else "no"]
        else:
            cells += ["–"] * 4 + ["–"]
        lines.append("| " + " | ".join(cells) + " |")
    passing = [n for n, s in report["summary"].items() if s.get("meets_all_criteria")]
    sane = [n for n, s in report["summary"].items() if s.get("sanity_checks_pass")]
    lines += ["", "Configurations meeting all criteria: " + (", ".join(f"`{n}`" for n in passing) or "none") + "."]
    if sane:
        best = max(sane, key=lambda n: report["summary"][n]["beats_random_on_deletion"])
        lines.append(f"Most faithful configuration passing both sanity checks: `{best}`, beating random on deletion "
                     f"in {report['summary'][best]['beats_random_on_deletion']:.0%} of the slices.")
    lines += ["", "Reasons and the choice of the default: `docs/explanations.md`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-cases", type=int, default=24)
    parser.add_argument("--out", default="validation/explain/results.json")
    parser.add_argument("--maps-only", action="store_true",
                        help="keep the curves and sanity figures of --out; recompute the map shapes and the table")
    parser.add_argument("--keep-curves", action="store_true",
                        help="keep the curves of --out; recompute the sanity checks, the map shapes and the table")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    engine = LockedEngine.load(default_model_path())
    twin = load_twin(engine.package)
    cases = sanity_cases(engine)
    if args.maps_only or args.keep_curves:
        previous = json.loads(Path(args.out).read_text(encoding="utf-8"))
        assert previous["model_manifest_sha256"] == engine.package.manifest_sha256
        checks = sanity(engine, twin, VARIANTS, cases) if args.keep_curves else previous["sanity"]
        records = faithfulness(engine, twin, VARIANTS, args.max_cases, previous["per_case"])
    else:
        checks = sanity(engine, twin, VARIANTS, cases)
        records = faithfulness(engine, twin, VARIANTS, args.max_cases)
    default_key = resolve(twin, DEFAULT).key
    descriptions = {v.key: resolve(twin, v).description for v in VARIANTS}
    descriptions.update(occlusion="occlusion (locked engine)", random="random map")
    report = {
        "model_manifest_sha256": engine.package.manifest_sha256, "label": "Lesion", "default": default_key,
        "cases": len(records), "sanity_cases": len(cases),
        "occlusion_sanity_cases": OCCLUSION_SANITY_SLICES,
        "randomization_seeds": list(RANDOMIZATION_SEEDS), "permuted_seeds": list(PERMUTED_SEEDS),
        "criteria": {"beats_random_on_deletion_at_least": DELETION_CRITERION,
                     "spearman_median_below": SPEARMAN_CRITERION},
        "summary": summarize(records, checks), "sanity": checks, "per_case": records,
        "elapsed_s": round(time.time() - started, 1),  # of this invocation
    }
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(table(report, descriptions), encoding="utf-8")
    print(table(report, descriptions))


if __name__ == "__main__":
    main()
