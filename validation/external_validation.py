"""External validation with subgroups (validation/EXTERNAL_PROTOCOL.md): one model package,
several phantom sets side by side, each judged separately by the pre-registered criteria.

Sets:
- ``own-v1``: the project's generator version 1 (what demo-dinov2-seg 1.0.0 was trained on), split test;
- ``own-v2``: the project's generator version 2, intended-use domain, split test;
- ``external``: the clean-room generator (validation/external_phantoms), truth read from its DICOM SEG.

Every case goes the clinical input path (``evaluate.segment_series``); the analysis is
``device_ai.training.subgroups``. Writes ``external-<model>-<version>.json`` and ``.md``.

    .venv/bin/python validation/external_validation.py --patients 60 --out validation/results
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `validation` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from device_ai.config import default_model_path  # noqa: E402
from device_ai.inference.analyze import series_spacing  # noqa: E402
from device_ai.inference.engine import LockedEngine  # noqa: E402
from device_ai.model.package.manifest import LabelRole  # noqa: E402
from device_ai.training.evaluate import segment_series  # noqa: E402
from device_ai.training.subgroups import CaseArrays, case_record, summarize_study  # noqa: E402

SETS = ("own-v1", "own-v2", "external")
Case = tuple[str, Path, Callable[[Any], dict[LabelRole, np.ndarray]]]  # (patient id, series folder, truth of series)


def _own_cases(version: int, patients: int, base_seed: int, work: Path) -> Iterator[Case]:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
    from device_ai.training.phantoms import generate_case, split_seeds

    for seed in split_seeds("test", patients, base_seed=base_seed):
        case = generate_case(seed, split="test", version=version) if version != 1 else generate_case(seed, split="test")
        folder = work / case.patient_id
        write_ct_series(case, folder)
        truth = {LabelRole.ORGAN: case.labels == DEMO_ORGAN.value, LabelRole.LESION: case.labels == DEMO_LESION.value}
        yield case.patient_id, folder, lambda series, truth=truth: truth


def _external_cases(patients: int, base_seed: int, work: Path) -> Iterator[Case]:
    from device_ai.training.seg_truth import read_truth
    from validation.external_phantoms.dicom_io import write_case
    from validation.external_phantoms.generator import generate, patient_id

    for seed in range(base_seed, base_seed + patients):
        folder = Path(write_case(generate(seed), work / patient_id(seed)))
        yield patient_id(seed), folder / "ct", lambda series, seg=folder / "seg.dcm": read_truth(seg, series)


def evaluate_set(engine: LockedEngine, name: str, patients: int, base_seed: int,
                 progress: Callable[[str], None] = print) -> dict[str, Any]:
    organ_role = engine.manifest.label_value(LabelRole.ORGAN)
    lesion_role = engine.manifest.label_value(LabelRole.LESION)
    records = []
    with tempfile.TemporaryDirectory(prefix=f"device-ai-{name}-") as tmp:
        cases = (_external_cases(patients, base_seed, Path(tmp)) if name == "external"
                 else _own_cases(int(name[-1]), patients, base_seed, Path(tmp)))
        for number, (pid, folder, truth_of) in enumerate(cases, start=1):
            series, labels = segment_series(engine, folder)
            truth = truth_of(series)
            arrays = CaseArrays(series.hu, truth[LabelRole.ORGAN], truth[LabelRole.LESION], labels == organ_role,
                                labels == lesion_role, series_spacing(series))
            records.append({"patient_id": pid, **case_record(arrays)})
            progress(f"{name}: {number}/{patients} {pid} lesion Dice {records[-1]['lesion_dice']}")
    return {"set": name, "base_seed": base_seed, **summarize_study(records), "cases": records}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# External validation of {report['model']} (generated; do not edit)", "",
             f"Manifest SHA-256 `{report['manifest_sha256']}`; protocol `validation/EXTERNAL_PROTOCOL.md`; "
             f"{report['elapsed_s']:.0f} s.", "",
             "| set | patients | Organ Dice | Lesion Dice | sensitivity | FP/slice | lesion-free slices clean | worst subgroup | passed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for result in report["sets"]:
        m = result["metrics"]
        worst = result["worst_subgroup"]
        worst_text = (f"{worst['subgroup'].replace('|', chr(92) + '|')} {worst['bin']}: {worst['lesion_dice']:.2f} "
                      f"[{worst['lesion_dice_ci95'][0]:.2f}, {worst['lesion_dice_ci95'][1]:.2f}] (n {worst['n']})"
                      if worst else "-")
        lines.append(
            f"| {result['set']} | {m['patients']} | {_ci(m['organ_dice']['mean'], m['organ_dice']['ci95'])} | "
            f"{_ci(m['lesion_dice']['mean'], m['lesion_dice']['ci95'])} | "
            f"{_ci(m['lesion_sensitivity']['value'], m['lesion_sensitivity']['ci95'])} | "
            f"{m['false_positives_per_slice']['value']:.3f} | "
            f"{_ci(m['lesion_free_slices_clean']['value'], m['lesion_free_slices_clean']['ci95'])} | {worst_text} | "
            f"{'yes' if result['acceptance']['passed'] else 'NO'} |")
    for result in report["sets"]:
        lines += ["", f"## {result['set']}: criteria", "",
                  "| criterion | threshold | met |", "|---|---|---|"]
        for key, met in result["acceptance"]["results"].items():
            lines.append(f"| {key} | {result['acceptance']['criteria'][key]} | {'yes' if met else 'NO'} |")
        lines += ["", f"## {result['set']}: subgroups", "",
                  "| subgroup | bin | n | Lesion Dice [95% CI] | sensitivity [95% CI] |", "|---|---|---|---|---|"]
        for row in result["subgroups"]:
            sens = row["sensitivity"]
            lines.append(f"| {row['subgroup'].replace('|', chr(92) + '|')} | {row['bin']} | {row['n']} | "
                         f"{_ci(row['lesion_dice'], row['lesion_dice_ci95'])} | "
                         f"{_ci(sens['value'], sens['ci95']) if sens['value'] is not None else '-'} |")
    return "\n".join(lines) + "\n"


def _ci(value: float | None, ci: tuple[float, float] | list[float] | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(default_model_path()), help="model package (default: the released one)")
    parser.add_argument("--patients", type=int, default=60, help="patients per set (protocol: at least 60)")
    parser.add_argument("--base-seed", type=int, default=0)
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--out", help="folder for external-<model>-<version>.json and .md")
    parser.add_argument("--render", metavar="JSON", help="only regenerate the .md beside a result JSON")
    args = parser.parse_args(argv)
    if args.render:
        source = Path(args.render)
        source.with_suffix(".md").write_text(markdown(json.loads(source.read_text(encoding="utf-8"))), encoding="utf-8")
        return 0
    if not args.out:
        parser.error("--out is required (or --render JSON)")
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    from device_ai.app.context import Context
    from device_ai.app.model import trusted_keys
    from device_ai.config import load_settings

    # Pinned releases, and packages signed by a key the site trusts (DEVICE_AI_TRUSTED_MODEL_KEYS).
    engine = LockedEngine.load(Path(args.model), trusted_keys=trusted_keys(Context(settings=load_settings())))
    started = time.perf_counter()
    results = [evaluate_set(engine, name, args.patients, args.base_seed) for name in sets]
    manifest = engine.manifest
    report = {"schema": "device_ai.external-validation/1", "model": manifest.identity,
              "manifest_sha256": engine.package.manifest_sha256, "protocol": "validation/EXTERNAL_PROTOCOL.md",
              "patients_per_set": args.patients, "elapsed_s": round(time.perf_counter() - started, 1), "sets": results}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"external-{manifest.name}-{manifest.version}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report).split("\n## ")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
