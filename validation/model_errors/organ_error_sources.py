"""Where a package's organ errors come from (issue 14 study; not shipped in the product).

Development data only: patients of the *train* split at indices 990,000 and above, which no
training pool has used (plans draw indices 0..599) and which are neither the verification
nor the test split; the clean-room external set is never touched. Each case goes the clinical
input path (DICOM written, read with limits, contract, locked engine, versioned
postprocessing) and its organ errors are split into:

- boundary: within 2 pixels (in-plane) of the true organ-plus-lesion outline;
- lesion: a true lesion pixel labelled organ (organ false positive) or a true organ pixel
  labelled lesion (organ false negative);
- away: false-positive organ pixels more than 2 pixels outside the outline; each such 3D
  component is attributed to the tissue class (surrounding tissue, the organ-like mimic,
  vessel, bone) whose drawn HU is nearest to the component's median image HU (an
  approximation: the generator does not record the structures' masks);
- interior: false-negative organ pixels deeper than 2 pixels inside, labelled background.

Usage: python -m validation.model_errors.organ_error_sources --model PKG --public-key PEM
         --generator 2 --patients 20 --out validation/model_errors/results/NAME
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from scipy import ndimage

from device_ai.inference.engine import LockedEngine
from device_ai.model.package import signing
from device_ai.model.package.manifest import LabelRole
from device_ai.training.ct_series import write_ct_series
from device_ai.training.evaluate import dice, segment_series
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

FIRST_DEV_INDEX = 990_000
GAP_BINS_HU = ((0, 15), (15, 25), (25, 40), (40, 1000))  # |organ - surrounding| measured on the image
BAND_PX = 2


def _public_key(path: Path):  # noqa: ANN202 - an Ed25519 public key
    data = path.read_bytes()
    try:
        return load_pem_public_key(data)
    except ValueError:
        return load_pem_private_key(data, None).public_key()


def _outline_band(whole: np.ndarray) -> np.ndarray:
    band = np.zeros_like(whole)
    for z in range(whole.shape[0]):
        band[z] = (ndimage.binary_dilation(whole[z], iterations=BAND_PX)
                   & ~ndimage.binary_erosion(whole[z], iterations=BAND_PX))
    return band


def _classes(case: PhantomCase) -> dict[str, float]:
    classes = {"surrounding tissue": float(case.parameters.get("tissue_hu", 30.0))}
    for spec in case.structures:
        classes.setdefault(spec.kind if spec.kind != "bone-ring" else "bone", float(spec.hu))
    return classes


def organ_contrast_hu(case: PhantomCase, organ: np.ndarray, lesion: np.ndarray) -> float:
    """Median image HU of the organ minus that of a ring 3-8 mm outside it, measured on the
    image (generator-agnostic: phantoms/1 records no tissue value)."""
    whole = organ | lesion
    near = ndimage.binary_dilation(whole, iterations=max(1, round(3 / case.pixel_spacing_mm)))
    far = ndimage.binary_dilation(whole, iterations=max(2, round(8 / case.pixel_spacing_mm)))
    ring = far & ~near & (case.hu > -50) & (case.hu < 150)  # soft tissue only: no fat, air or bone
    return float(np.median(case.hu[organ]) - np.median(case.hu[ring])) if ring.any() else float("nan")


def case_errors(engine: LockedEngine, case: PhantomCase, workdir: Path) -> dict:
    write_ct_series(case, workdir / "series")
    _, labels = segment_series(engine, workdir / "series")
    true_organ, true_lesion = case.labels == DEMO_ORGAN.value, case.labels == DEMO_LESION.value
    organ = labels == engine.manifest.label_value(LabelRole.ORGAN)
    lesion = labels == engine.manifest.label_value(LabelRole.LESION)
    false_pos, false_neg = organ & ~true_organ, true_organ & ~organ
    band = _outline_band(true_organ | true_lesion)
    away = false_pos & ~band & ~true_lesion
    attributed: dict[str, int] = {}
    components, count = ndimage.label(away)
    classes = _classes(case)
    for index, sl in enumerate(ndimage.find_objects(components), start=1):
        mask = components[sl] == index
        median = float(np.median(case.hu[sl][mask]))
        nearest = min(classes, key=lambda name: abs(classes[name] - median))
        attributed[nearest] = attributed.get(nearest, 0) + int(mask.sum())
    return {
        "seed": case.seed, "patient_id": case.patient_id, "matrix_px": int(case.hu.shape[1]),
        "organ_minus_surrounding_hu": organ_contrast_hu(case, true_organ, true_lesion),
        "organ_dice": dice(true_organ, organ), "true_organ_px": int(true_organ.sum()),
        "false_positive_px": {"boundary": int((false_pos & band & ~true_lesion).sum()),
                              "lesion": int((false_pos & true_lesion).sum()), "away": attributed},
        "false_negative_px": {"boundary": int((false_neg & band & ~lesion).sum()),
                              "lesion": int((false_neg & lesion).sum()),
                              "interior": int((false_neg & ~band & ~lesion).sum())},
    }


def summarize(cases: list[dict]) -> dict:
    total_fp: dict[str, int] = {"boundary": 0, "lesion": 0}
    away: dict[str, int] = {}
    total_fn = {"boundary": 0, "lesion": 0, "interior": 0}
    for case in cases:
        for key in ("boundary", "lesion"):
            total_fp[key] += case["false_positive_px"][key]
        for name, value in case["false_positive_px"]["away"].items():
            away[name] = away.get(name, 0) + value
        for key in total_fn:
            total_fn[key] += case["false_negative_px"][key]
    errors = sum(total_fp.values()) + sum(away.values()) + sum(total_fn.values())
    dices = [c["organ_dice"] for c in cases if c["organ_dice"] is not None]
    by_gap = {}
    for low, high in GAP_BINS_HU:
        inside = [c["organ_dice"] for c in cases if low <= abs(c["organ_minus_surrounding_hu"]) < high]
        by_gap[f"{low:g}-{high:g} HU"] = {"patients": len(inside),
                                          "mean_organ_dice": float(np.mean(inside)) if inside else None}
    return {"patients": len(cases), "mean_organ_dice": float(np.mean(dices)), "min_organ_dice": float(np.min(dices)),
            "mean_organ_dice_by_abs_organ_minus_surrounding": by_gap,
            "error_px": errors, "false_positive_px": {**total_fp, "away": away}, "false_negative_px": total_fn,
            "share": {**{f"fp {k}": v / errors for k, v in total_fp.items()},
                      **{f"fp away: {k}": v / errors for k, v in away.items()},
                      **{f"fn {k}": v / errors for k, v in total_fn.items()}}}


def markdown(result: dict) -> str:
    """The study's figures as Markdown, generated from OUT.json (the one source)."""
    s = result["summary"]
    lines = [f"# Organ error sources: {result['model']} on phantoms/{result['generator']} development patients "
             "(generated; do not edit)", "",
             f"Manifest SHA-256 `{result['model_manifest_sha256']}`; train-split seeds {result['dev_seeds'][0]}.."
             f"{result['dev_seeds'][1]} (never in a training pool, not a test set); method: "
             "`validation/model_errors/organ_error_sources.py`.", "",
             f"Patients {s['patients']}; mean organ Dice {s['mean_organ_dice']:.3f}, lowest {s['min_organ_dice']:.3f}; "
             f"{s['error_px']:,} organ error pixels.", "",
             "| share of organ error pixels | |", "|---|---|"]
    lines += [f"| {name} | {share:.1%} |" for name, share in sorted(s["share"].items(), key=lambda kv: -kv[1])]
    lines += ["", "| \\|organ - surrounding\\| (image) | patients | mean organ Dice |", "|---|---|---|"]
    for name, row in s["mean_organ_dice_by_abs_organ_minus_surrounding"].items():
        value = "-" if row["mean_organ_dice"] is None else f"{row['mean_organ_dice']:.3f}"
        lines.append(f"| {name} | {row['patients']} | {value} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--public-key", type=Path, help="the package signer's key (PEM); default: the keys the "
                        "device trusts (pinned releases, DEVICE_AI_TRUSTED_MODEL_KEYS)")
    parser.add_argument("--generator", type=int, choices=(1, 2), default=2)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json")
    parser.add_argument("--resummarize", action="store_true", help="rebuild OUT.json's summary from its cases")
    args = parser.parse_args()
    out = args.out.parent / (args.out.name + ".json")
    if args.resummarize:
        result = json.loads(out.read_text())
        result["summary"] = summarize(result["cases"])
        out.write_text(json.dumps(result, indent=1) + "\n")
        out.with_name(args.out.name + ".md").write_text(markdown(result))
        print(json.dumps(result["summary"], indent=1))
        return
    if args.public_key:
        key = _public_key(args.public_key)
        trusted = {signing.key_id(key): key}
    else:
        from device_ai.app.context import Context
        from device_ai.app.model import trusted_keys
        from device_ai.config import load_settings

        trusted = trusted_keys(Context(settings=load_settings()))
    engine = LockedEngine.load(args.model, trusted_keys=trusted)
    seeds = split_seeds("train", FIRST_DEV_INDEX + args.patients)[FIRST_DEV_INDEX:]
    cases = []
    for seed in seeds:
        options = {"version": args.generator} | ({"domain": "intended-use"} if args.generator == 2 else {})
        case = generate_case(seed, split="train", n_slices=8, **options)
        with tempfile.TemporaryDirectory() as tmp:
            cases.append(case_errors(engine, case, Path(tmp)))
        print(json.dumps({k: cases[-1][k] for k in ("seed", "organ_dice")}), flush=True)
    result = {"model": engine.manifest.name + " " + engine.manifest.version,
              "model_manifest_sha256": engine.package.manifest_sha256, "generator": args.generator, "dev_seeds": [seeds[0], seeds[-1]],
              "summary": summarize(cases), "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    out.with_name(args.out.name + ".md").write_text(markdown(result))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
