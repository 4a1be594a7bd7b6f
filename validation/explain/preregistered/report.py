"""Summaries of the pre-registered study's per-slice figures (strata, patients, distributions) and
the Markdown generated from results.json (the one source of every figure it shows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from validation.explain.preregistered import measures


def _summary(values: Sequence[float], patients: Sequence[int]) -> dict:
    values = np.asarray(values, dtype=np.float64)
    mean, low, high = measures.clustered_ci(values, patients)
    _, t_low, t_high = measures.patient_t_ci(values, patients)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(values.size), "patients": len(set(patients)), "mean": mean, "ci": [low, high],
            "t_ci": [t_low, t_high], "median": float(median), "quartiles": [float(q1), float(q3)]}


def distributions(per_map: Mapping[str, Mapping[str, Sequence[float]]], patients: Sequence[int]) -> dict:
    return {name: {key: _summary(values, patients) for key, values in figures.items()}
            for name, figures in per_map.items()}


MIN_STRATUM_PATIENTS = 3  # addendum A6: below this, no CI and never "worst"


def strata(explained: Sequence[Mapping]) -> dict:
    """The default's gap and ROAD score by lesion density and by size (median over the explained
    slices); a stratum with fewer than 3 patients has its n only (addendum A6)."""
    median_size = float(np.median([r["labelled_pixels"] for r in explained]))
    groups = {
        "hypodense": [r for r in explained if r["density"] == "hypodense"],
        "hyperdense": [r for r in explained if r["density"] == "hyperdense"],
        "small (<= median labelled pixels)": [r for r in explained if r["labelled_pixels"] <= median_size],
        "large (> median labelled pixels)": [r for r in explained if r["labelled_pixels"] > median_size],
    }
    out: dict = {"median_labelled_pixels": median_size,
                 "density_not_estimable": [r["position"] for r in explained if r["density"] == "not estimable"],
                 "groups": {}}
    for name, rows in groups.items():
        patients = [r["patient"] for r in rows]
        if len(set(patients)) < MIN_STRATUM_PATIENTS:
            out["groups"][name] = {"n": len(rows), "patients": len(set(patients)), "ci": "not estimable"}
            continue
        out["groups"][name] = {key: _summary([r["maps"]["default"][key] for r in rows], patients)
                               for key in ("gap", "road")}
    filled = {name: g for name, g in out["groups"].items() if g.get("gap")}
    out["worst_by_gap"] = min(filled, key=lambda name: filled[name]["gap"]["mean"]) if filled else None
    out["worst_by_road"] = min(filled, key=lambda name: filled[name]["road"]["mean"]) if filled else None
    return out


def per_patient(explained: Sequence[Mapping], maps: Sequence[str]) -> dict:
    """Per patient and per map: explained slices, mean gap, deletion AUC and ROAD (addendum A11)."""
    out: dict = {}
    for patient in sorted({r["patient"] for r in explained}):
        rows = [r for r in explained if r["patient"] == patient]
        out[str(patient)] = {"slices": len(rows), "maps": {
            name: {key: float(np.mean([r["maps"][name][key] for r in rows])) for key in ("gap", "auc", "road")}
            for name in maps}}
    return out


def patient_means(per_map: Mapping[str, Mapping[str, Sequence[float]]], patients: Sequence[str]) -> dict:
    """Per map and figure: the distribution of the patient means (median, range) and the clustered CI
    of the mean; a within-patient CI on 1-4 slices is not estimable and not given."""
    ids = sorted(set(patients))
    out: dict = {}
    for name, figures in per_map.items():
        out[name] = {}
        for key, values in figures.items():
            values = np.asarray(values, dtype=np.float64)
            means = [float(values[[p == i for p in patients]].mean()) for i in ids]
            mean, low, high = measures.clustered_ci(values, patients)
            out[name][key] = {"median": float(np.median(means)), "range": [min(means), max(means)],
                              "mean": mean, "ci": [low, high]}
    return out


def _ci(item: Mapping) -> str:
    text = f"{item['mean']:.3f} [{item['ci'][0]:.3f}, {item['ci'][1]:.3f}]"
    if "t_ci" in item:
        text += f" t [{item['t_ci'][0]:.3f}, {item['t_ci'][1]:.3f}]"
    return text


def _role(name: str) -> str:
    if name == "default":
        return "the device's explanation"
    if name in measures.CONSISTENCY_CHECKS:
        return "consistency check (cannot pass by construction)"
    if name in measures.RANDOMIZED_TWINS:
        return "negative control (randomized twin)"
    return "model-free baseline"


def _first_line(results: Mapping) -> str:
    judgement = results["judgement"]
    # Every control that does not fail as it must, consistency checks included (review 88, defect 3).
    failed_controls = [n for n, fails in judgement["fails_as_it_must"].items() if not fails]
    parts = []
    if results["excluded_over_25_percent"]:
        parts.append(f"MORE THAN 25% OF THE SELECTED SLICES WERE EXCLUDED ({len(results['excluded'])} of "
                     f"{results['slices_selected']}, missed lesions).")
    parts.append(f"Credit {'ALLOWED by the decision rule (after independent review)' if judgement['credit_allowed'] else 'NOT allowed'}: "
                 f"default faithful {judgement['verdicts']['default']['faithful']}; "
                 f"controls that pass although they must fail: {', '.join(failed_controls) or 'none'}; "
                 f"default beats " + ", ".join(f"{n}: {b['passed']}" for n, b in judgement["default_beats"].items()) + ".")
    return " ".join(parts)


def summary(results: Mapping) -> str:
    judgement = results["judgement"]
    lines = [_first_line(results),
             f"slices explained {results['slices_explained']} of {results['slices_selected']} "
             f"({len(set(r['patient'] for r in results['slices'] if 'excluded' not in r))} patients)"]
    for name, verdict in judgement["verdicts"].items():
        lines.append(f"{name:18s} F1 share {verdict['F1']['share_gap_at_least']:.2f} gap {_ci(verdict['F1'])} "
                     f"{'pass' if verdict['F1']['passed'] else 'FAIL'}; ROAD {_ci(verdict['F2'])} "
                     f"{'pass' if verdict['F2']['passed'] else 'FAIL'}; faithful {verdict['faithful']}")
    for name, beat in judgement["default_beats"].items():
        lines.append(f"default vs {name}: AUC diff {_ci(beat['auc_difference'])}, ROAD diff "
                     f"{_ci(beat['road_difference'])}: {'beats' if beat['passed'] else 'does NOT beat'}")
    lines.append(f"sensitivity without position 0: credit allowed "
                 f"{results['sensitivity_without_position_0']['credit_allowed']}")
    return "\n".join(lines)


def _verdict_rows(judgement: Mapping) -> list[str]:
    rows = ["| map | role | interval that decides | share of slices with gap >= 0.1 | mean gap [95% percentile] t [95% t] "
            "| F1 | mean ROAD [95% percentile] t [95% t] | F2 | faithful | as the plan requires |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, verdict in judgement["verdicts"].items():
        required = verdict["faithful"] if name == "default" else not verdict["faithful"]
        rows.append(f"| {name} | {_role(name)} | {verdict['interval']} | {verdict['F1']['share_gap_at_least']:.0%} | "
                    f"{_ci(verdict['F1'])} | {'pass' if verdict['F1']['passed'] else 'fail'} | {_ci(verdict['F2'])} | "
                    f"{'pass' if verdict['F2']['passed'] else 'fail'} | {'yes' if verdict['faithful'] else 'no'} | "
                    f"{'yes' if required else '**no**'} |")
    return rows


def _pair_rows(pairs: Mapping, judged: bool) -> list[str]:
    rows = ["| default against | other AUC - default AUC | default ROAD - other ROAD | "
            + ("beats (both lower bounds > 0 under both intervals) |" if judged else "(reported, not judged) |"),
            "|---|---|---|---|"]
    for name, pair in pairs.items():
        verdict = ("yes" if pair["passed"] else "**no**") if judged else ("both above 0" if pair["passed"] else "not both above 0")
        rows.append(f"| {name} | {_ci(pair['auc_difference'])} | {_ci(pair['road_difference'])} | {verdict} |")
    return rows


def markdown(results: Mapping) -> str:
    judgement = results["judgement"]
    sensitivity = results["sensitivity_without_position_0"]
    strata = results["strata"]
    stratum_rows = ["| stratum | slices | patients | default gap | default ROAD |", "|---|---|---|---|---|"]
    for name, group in strata["groups"].items():
        if "gap" not in group:
            stratum_rows.append(f"| {name} | {group['n']} | {group['patients']} | CI not estimable (< 3 patients) | - |")
            continue
        stratum_rows.append(f"| {name} | {group['gap']['n']} | {group['gap']['patients']} | {_ci(group['gap'])} | "
                            f"{_ci(group['road'])} |")
    maps = list(judgement["verdicts"])
    patient_rows = ["| patient | slices | " + " | ".join(f"{m}: gap / AUC / ROAD" for m in maps) + " |",
                    "|---|---|" + "---|" * len(maps)]
    for patient, figures in results["per_patient"].items():
        cells = [f"{figures['maps'][m]['gap']:.3f} / {figures['maps'][m]['auc']:.3f} / {figures['maps'][m]['road']:.3f}"
                 for m in maps]
        patient_rows.append(f"| {patient} | {figures['slices']} | " + " | ".join(cells) + " |")
    mean_rows = ["| map | patient-mean gap: median [range] | patient-mean ROAD: median [range] |", "|---|---|---|"]
    for name, figures in results["patient_means"].items():
        mean_rows.append(f"| {name} | {figures['gap']['median']:.3f} [{figures['gap']['range'][0]:.3f}, "
                         f"{figures['gap']['range'][1]:.3f}] | {figures['road']['median']:.3f} "
                         f"[{figures['road']['range'][0]:.3f}, {figures['road']['range'][1]:.3f}] |")
    distribution_rows = ["| map | deletion AUC median [q1, q3] | gap median [q1, q3] | ROAD median [q1, q3] |",
                         "|---|---|---|---|"]
    for name, figures in results["distributions"].items():
        cells = [f"{figures[k]['median']:.3f} [{figures[k]['quartiles'][0]:.3f}, {figures[k]['quartiles'][1]:.3f}]"
                 for k in ("auc", "gap", "road")]
        distribution_rows.append(f"| {name} | " + " | ".join(cells) + " |")
    excluded = ", ".join(f"position {e['position']} ({e['patient']})" for e in results["excluded"]) or "none"
    empty = "; ".join(f"position {e['position']}: {', '.join(e['maps'])}" for e in results["empty_maps"]) or "none"
    deviations = "\n".join(f"- {d}" for d in results["deviations"]) or "- none"
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    return "\n".join([
        "# Pre-registered faithfulness study: results",
        "",
        f"**{_first_line(results)}**",
        "",
        "Generated from `results.json` by `validation/explain/preregistered/run.py`; the plan is `PREREGISTRATION.md` "
        f"with its addendum 1 (plan commit {results['plan_commit'][:12]}, SHA-256 {results['plan_sha256'][:16]}...). "
        + ("" if results["registered_run"] else "**A DRY RUN, not the registered run.** ")
        + f"Code commit {results['commit'][:12]} ({'clean work tree' if results['clean_tree'] else 'DIRTY work tree'}); "
        f"model manifest SHA-256 {results['model_manifest_sha256'][:16]}...; {versions}. "
        f"Base seed {results['base_seed']}, {results['patients']} verification patients (phantoms v1): "
        f"{results['slices_explained']} slices explained of {results['slices_selected']} selected; "
        f"excluded (the engine labels fewer than 30 Lesion pixels): {excluded}. Empty maps: {empty}. "
        f"Run time {results['seconds']} s.",
        "",
        "Scope (addendum A7): the default map on the locked engine's Lesion region of detected lesions on phantoms of "
        "generator v1; nothing about false-positive regions, missed lesions, generator v2 or real CT. Sample size "
        "(A5): 12 patients x 4 slices, set by the compute available, not by a power calculation. Evidence that the "
        "criterion discriminates comes only from the randomized twins and the model-free baselines (A3); the "
        "inverted and random maps are consistency checks of the code.",
        "",
        "## Criteria (F1: gap >= 0.1 on 90% of slices and lower bound of the mean gap > 0.3; "
        "F2: lower bound of the mean ROAD score > 0.1; the default must pass under both the patient-clustered "
        "percentile bootstrap and the t-interval on patient means, a control fails only under the percentile one)",
        "", *_verdict_rows(judgement), "",
        "## Does the default beat the model-free baselines? (judged)",
        "", *_pair_rows(judgement["default_beats"], True), "",
        "## The default against each randomized twin (reported, not judged)",
        "", *_pair_rows(judgement["default_vs_randomized_twins"], False), "",
        f"**Decision rule of the plan: credit {'ALLOWED (after independent review)' if judgement['credit_allowed'] else 'NOT allowed'}.**",
        "",
        f"## Sensitivity analysis without position 0 (the dry-run slice, addendum A1): credit "
        f"{'allowed' if sensitivity['credit_allowed'] else 'not allowed'}",
        "", *_verdict_rows(sensitivity), "", *_pair_rows(sensitivity["default_beats"], True), "",
        "## Distributions over slices",
        "", *distribution_rows, "",
        "## Distribution of the patient means (a within-patient CI on 1-4 slices is not estimable)",
        "", *mean_rows, "",
        f"## Strata of the default (median labelled pixels of the explained slices {strata['median_labelled_pixels']:.0f}; "
        f"density not estimable: {strata['density_not_estimable'] or 'none'}); worst (>= 3 patients) by gap: "
        f"{strata['worst_by_gap']}, by ROAD: {strata['worst_by_road']}",
        "", *stratum_rows, "",
        "## Per patient and per map",
        "", *patient_rows, "",
        "## Deviations from the plan",
        "", deviations, "",
    ])
