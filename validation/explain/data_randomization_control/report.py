"""results.md of the true-label control study, generated from results.json (one source)."""

from __future__ import annotations


def _figure(triple: list[float]) -> str:
    median, low, high = triple
    return f"{median:+.3f} [{low:+.3f}, {high:+.3f}]"


def render(result: dict) -> str:
    summary, per_slice = result["summary"], result["per_slice"]
    verdict, provenance = summary["verdict"], result.get("provenance", {})
    lines = [
        "# Results: true-label control for the data-randomization check (generated from results.json)",
        "",
        "Plan: `PLAN.md` in this folder (registered before the control existed). Reduced recipe only: 800 steps on",
        "48 training slices, not the released plan; no GPU was lent (see the plan).",
        "",
        f"- Slices: {len(per_slice['slices'])} kept (from {len({s['patient'] for s in per_slice['slices']})} patients; "
        f"phantoms v1, verification split, base seed {per_slice['base_seed']}), "
        f"{len(per_slice['excluded_positions'])} excluded (engine labels < 30 Lesion pixels): "
        f"positions {per_slice['excluded_positions']}.",
        f"- Provenance: commit {provenance.get('commit', '?')}, src/validation clean: "
        f"{provenance.get('work_tree_clean_src_validation', '?')}, plan SHA-256 "
        f"{str(provenance.get('plan_sha256', '?'))[:16]}…, control fixture SHA-256 "
        f"{result['control_record']['sha256'][:16]}….",
        "",
        "## Median Spearman with the released model's maps, inside the body (95% patient-clustered bootstrap CI)",
        "",
        "| model | M1: explaining the engine's region | M2: explaining its own region |",
        "|---|---|---|",
    ]
    for name in ("true-label control", "permuted (seeds 0, 1 pooled)", "model-free noise"):
        m2 = summary["m2"].get(name)
        lines.append(f"| {name} | {_figure(summary['m1'][name])} | {_figure(m2) if m2 else 'n/a'} |")
    lines += [
        "",
        f"Difference M1, control minus permuted: {_figure(summary['difference_m1_control_minus_permuted'])}.",
        "",
        "## Criteria (PLAN.md)",
        "",
        f"- C1, control median M1 >= 0.5: **{'met' if verdict['C1'] else 'NOT met'}**",
        f"- C2, permuted pooled median M1 < 0.3: **{'met' if verdict['C2'] else 'NOT met'}**",
        f"- Criterion control, the model-free noise map fails C1: "
        f"**{'yes' if verdict['criterion_control_fails_C1'] else 'NO (C1 void)'}**",
        f"- Reported only: the difference's CI lower bound above 0: {'yes' if verdict['difference_ci_above_0'] else 'no'}",
        "",
        f"**Decision: the check {'DISCRIMINATES' if verdict['discriminates'] else 'DOES NOT DISCRIMINATE'}** "
        "a model trained on the true labels from the permuted-label models at this recipe. "
        "No risk reduction is credited either way (PLAN.md, Decision).",
        "",
        "## Learning",
        "",
        "| model | lesion recall / precision vs the evaluation slices' truth |",
        "|---|---|",
    ]
    for name, model in per_slice["models"].items():
        if "lesion_recall_vs_truth" in model:
            lines.append(f"| {name} | {model['lesion_recall_vs_truth']:.3f} / {model['lesion_precision_vs_truth']:.3f} |")
    lines += [
        "",
        "| model | on its own training labels (fixture record): pixel accuracy, lesion recall / precision |",
        "|---|---|",
        *[f"| {name} | {fit['pixel_accuracy']:.4f}, {fit['lesion_recall']:.3f} / {fit['lesion_precision']:.3f} |"
          for name, fit in result["training_fit"].items()],
        "",
        f"The control trained in {result['control_record']['training_seconds']:.0f} s (true labels; the permuted "
        "models' own labels are permuted).",
        "",
        f"Skipped slices (released map empty, or own region < 30 pixels for M2): {summary['skipped']}.",
        "",
        "## Deviations from the plan",
        "",
        *([f"- {d}" for d in provenance.get("deviations", [])] or ["- none"]),
        "",
        "## Disclosed: seen before the registered run",
        "",
        *([f"- {d}" for d in provenance.get("disclosures", [])] or ["- nothing"]),
        "",
    ]
    if provenance.get("dry_run"):
        lines.insert(1, "\n**DRY RUN: not the registered run** (the released twin stands in for the control).\n")
    return "\n".join(lines)
