"""Summaries of the pre-registered study's per-slice figures (strata, patients, distributions) and
the Markdown generated from results.json (the one source of every figure it shows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from validation.explain.preregistered import measures


def _summary(values: Sequence[float], patients: Sequence[int]) -> dict:
    values = np.asarray(values, dtype=np.float64)
    mean, low, high = measures.clustered_ci(values, patients)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(values.size), "patients": len(set(patients)), "mean": mean, "ci": [low, high],
            "median": float(median), "quartiles": [float(q1), float(q3)]}


def distributions(per_map: Mapping[str, Mapping[str, Sequence[float]]], patients: Sequence[int]) -> dict:
    return {name: {key: _summary(values, patients) for key, values in figures.items()}
            for name, figures in per_map.items()}


def strata(explained: Sequence[Mapping]) -> dict:
    """The default's gap and ROAD score by lesion density and by size (median split of the set)."""
    median_size = float(np.median([r["labelled_pixels"] for r in explained]))
    groups = {
        "hypodense": [r for r in explained if r["density"] == "hypodense"],
        "hyperdense": [r for r in explained if r["density"] == "hyperdense"],
        "small (<= median labelled pixels)": [r for r in explained if r["labelled_pixels"] <= median_size],
        "large (> median labelled pixels)": [r for r in explained if r["labelled_pixels"] > median_size],
    }
    out: dict = {"median_labelled_pixels": median_size, "groups": {}}
    for name, rows in groups.items():
        if not rows:
            out["groups"][name] = {"n": 0}
            continue
        patients = [r["patient"] for r in rows]
        out["groups"][name] = {key: _summary([r["maps"]["default"][key] for r in rows], patients)
                               for key in ("gap", "road")}
    filled = {name: g for name, g in out["groups"].items() if g.get("gap")}
    out["worst_by_gap"] = min(filled, key=lambda name: filled[name]["gap"]["mean"]) if filled else None
    out["worst_by_road"] = min(filled, key=lambda name: filled[name]["road"]["mean"]) if filled else None
    return out


def per_patient(explained: Sequence[Mapping]) -> dict:
    out: dict = {}
    for patient in sorted({r["patient"] for r in explained}):
        rows = [r for r in explained if r["patient"] == patient]
        out[str(patient)] = {"slices": len(rows),
                             "gap": float(np.mean([r["maps"]["default"]["gap"] for r in rows])),
                             "road": float(np.mean([r["maps"]["default"]["road"] for r in rows]))}
    return out


def _ci(item: Mapping) -> str:
    return f"{item['mean']:.3f} [{item['ci'][0]:.3f}, {item['ci'][1]:.3f}]"


def summary(results: Mapping) -> str:
    judgement = results["judgement"]
    lines = [f"slices explained {results['slices_explained']} of {results['slices_selected']} "
             f"({len(set(r['patient'] for r in results['slices'] if 'excluded' not in r))} patients)"]
    for name, verdict in judgement["verdicts"].items():
        lines.append(f"{name:16s} F1 share {verdict['F1']['share_gap_at_least']:.2f} gap {_ci(verdict['F1'])} "
                     f"{'pass' if verdict['F1']['passed'] else 'FAIL'}; ROAD {_ci(verdict['F2'])} "
                     f"{'pass' if verdict['F2']['passed'] else 'FAIL'}; faithful {verdict['faithful']}")
    for name, beat in judgement["default_beats"].items():
        lines.append(f"default vs {name}: AUC diff {_ci(beat['auc_difference'])}, ROAD diff "
                     f"{_ci(beat['road_difference'])}: {'beats' if beat['passed'] else 'does NOT beat'}")
    lines.append(f"credit allowed by the plan's decision rule: {judgement['credit_allowed']}")
    return "\n".join(lines)


def markdown(results: Mapping) -> str:
    judgement = results["judgement"]
    rows = ["| map | role | share of slices with gap >= 0.1 | mean gap [95% CI] | F1 | mean ROAD [95% CI] | F2 | "
            "faithful | as the plan requires |", "|---|---|---|---|---|---|---|---|---|"]
    for name, verdict in judgement["verdicts"].items():
        role = ("the device's explanation" if name == "default" else
                "negative control" if name in measures.NEGATIVE_CONTROLS else "model-free baseline")
        required = verdict["faithful"] if name == "default" else not verdict["faithful"]
        rows.append(f"| {name} | {role} | {verdict['F1']['share_gap_at_least']:.0%} | {_ci(verdict['F1'])} | "
                    f"{'pass' if verdict['F1']['passed'] else 'fail'} | {_ci(verdict['F2'])} | "
                    f"{'pass' if verdict['F2']['passed'] else 'fail'} | {'yes' if verdict['faithful'] else 'no'} | "
                    f"{'yes' if required else '**no**'} |")
    beats = ["| default against | baseline AUC - default AUC [95% CI] | default ROAD - baseline ROAD [95% CI] | beats |",
             "|---|---|---|---|"]
    for name, beat in judgement["default_beats"].items():
        beats.append(f"| {name} | {_ci(beat['auc_difference'])} | {_ci(beat['road_difference'])} | "
                     f"{'yes' if beat['passed'] else '**no**'} |")
    strata = results["strata"]
    stratum_rows = ["| stratum | slices | patients | default gap [95% CI] | default ROAD [95% CI] |",
                    "|---|---|---|---|---|"]
    for name, group in strata["groups"].items():
        if group.get("n") == 0:
            stratum_rows.append(f"| {name} | 0 | 0 | - | - |")
            continue
        stratum_rows.append(f"| {name} | {group['gap']['n']} | {group['gap']['patients']} | {_ci(group['gap'])} | "
                            f"{_ci(group['road'])} |")
    patient_rows = ["| patient | slices | mean gap | mean ROAD |", "|---|---|---|---|"]
    for patient, figures in results["per_patient"].items():
        patient_rows.append(f"| {patient} | {figures['slices']} | {figures['gap']:.3f} | {figures['road']:.3f} |")
    distribution_rows = ["| map | deletion AUC median [q1, q3] | gap median [q1, q3] | ROAD median [q1, q3] |",
                         "|---|---|---|---|"]
    for name, figures in results["distributions"].items():
        cells = [f"{figures[k]['median']:.3f} [{figures[k]['quartiles'][0]:.3f}, {figures[k]['quartiles'][1]:.3f}]"
                 for k in ("auc", "gap", "road")]
        distribution_rows.append(f"| {name} | " + " | ".join(cells) + " |")
    excluded = ", ".join(f"position {e['position']} (patient {e['patient']})" for e in results["excluded"]) or "none"
    deviations = "\n".join(f"- {d}" for d in results["deviations"]) or "- none"
    return "\n".join([
        "# Pre-registered faithfulness study: results",
        "",
        "Generated from `results.json` by `validation/explain/preregistered/run.py` "
        f"(commit {results['commit'][:12]}); the plan is `PREREGISTRATION.md`. "
        + ("" if results["registered_run"] else "**A DRY RUN (--limit), not the registered run.** ")
        + f"Base seed {results['base_seed']}, {results['patients']} verification patients: "
        f"{results['slices_explained']} slices explained of {results['slices_selected']} selected; "
        f"excluded (the engine labels fewer than 30 Lesion pixels): {excluded}. Run time {results['seconds']} s.",
        "",
        "## Criteria (F1: gap >= 0.1 on 90% of slices and CI lower bound of the mean gap > 0.3; "
        "F2: CI lower bound of the mean ROAD score > 0.1)",
        "", *rows, "",
        "## Does the default beat the model-free baselines? (both CI lower bounds above 0)",
        "", *beats, "",
        f"**Decision rule of the plan: credit {'ALLOWED (after independent review)' if judgement['credit_allowed'] else 'NOT allowed'}.**",
        "",
        "## Distributions over slices",
        "", *distribution_rows, "",
        f"## Strata of the default (median labelled pixels {strata['median_labelled_pixels']:.0f}); "
        f"worst by gap: {strata['worst_by_gap']}, worst by ROAD: {strata['worst_by_road']}",
        "", *stratum_rows, "",
        "## Per patient (the default)",
        "", *patient_rows, "",
        "## Deviations from the plan",
        "", deviations, "",
    ])
