"""What the AI model validation report shows (issue 19 item 5; FDA AI-enabled device software
functions draft guidance: data management, performance validation with subgroups, known
limitations; the PCCP position), computed before any template runs.

For each released model package (a ``model`` node of the graph, i.e. ``models/*/manifest.json``):
the standalone study and the pre-registered external validation side by side, every set with
every criterion, its subgroups and its worst subgroup; the data sets with their sources, seeds,
patients and independence checks; the INT8 study. Then the candidates that were trained and
not released (result files without a package in ``models/``), known limitations derived from
the results, and the manufacturer's PCCP position. Every figure comes from the result files
(:mod:`device_ai.regulatory.validation_evidence`); the YAML statements hold prose only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from device_ai.regulatory import validation_evidence as ev
from device_ai.regulatory.render.documents import fields
from device_ai.regulatory.render.view import TraceView

STUDY = ev.RESULTS + "/{key}.json"
EXTERNAL = ev.RESULTS + "/external-{key}.json"
INT8 = ev.RESULTS + "/int8-{key}.json"
TRAINING_PLAN = "validation/training_plan_{version}.md"
STANDALONE = "standalone"
ROUNDING = 1e-9  # figures recomputed from per-patient values agree to floating-point rounding


def _sha256(root: Path, relative: str | None) -> str | None:
    if not relative:
        return None
    try:
        return hashlib.sha256((root / relative).read_bytes()).hexdigest()
    except OSError:
        return None


def _cases(data: Mapping[str, Any], relative: str, *keys: str) -> list[Mapping[str, Any]]:
    cases = ev.field(data, relative, *keys)
    if not isinstance(cases, list) or not all(isinstance(c, dict) and isinstance(c.get("patient_id"), str)
                                              for c in cases):
        raise ev.evidence_error(relative, f"field '{'.'.join(keys)}' must be a list of cases with a patient_id")
    return cases


def _identity_checks(cases: Sequence[Mapping[str, Any]], statements: Mapping[str, Any] | None) -> dict[str, Any]:
    """Patient IDs of a test set: first and last, how many are not synthetic or are training IDs."""
    ids = [str(c["patient_id"]) for c in cases]
    out: dict[str, Any] = {"patients": len(ids), "first": ids[0] if ids else None, "last": ids[-1] if ids else None}
    if statements is not None:
        synthetic = tuple(statements["data"]["synthetic_patient_id_prefixes"])
        training = tuple(statements["data"]["training_patient_id_prefixes"])
        out["not_synthetic"] = sorted(i for i in ids if not i.startswith(synthetic))
        out["training_ids"] = sorted(i for i in ids if i.startswith(training))
    return out


def _study(root: Path, key: str, manifest_sha256: str,
           statements: Mapping[str, Any] | None) -> dict[str, Any] | None:
    relative = STUDY.format(key=key)
    data = ev.load_json(root, relative)
    if data is None:
        return None
    ev.check_package(data, relative, manifest_sha256, "summary", "manifest_sha256")
    summary = ev.field(data, relative, "summary")
    metrics = ev.field(summary, relative, "metrics")
    criteria, passed = ev.judge(ev.field(summary, relative, "acceptance"), metrics, relative)
    cases = _cases(data, relative, "cases")
    seeds = [c["seed"] for c in cases if isinstance(c.get("seed"), int)]
    protocol = data.get("protocol")
    return {"file": relative, "protocol": protocol, "protocol_sha256": _sha256(root, protocol),
            "model": ev.field(summary, relative, "model"), "criteria": criteria, "passed": passed,
            "reported": [("False-positive lesions per slice",
                          ev.metric(metrics, "false_positives_per_slice", relative))],
            "seeds": (min(seeds), max(seeds), len(seeds)) if seeds else None,
            "ids": _identity_checks(cases, statements), "cases": cases}


def _subgroup_rows(subgroups: Sequence[Mapping[str, Any]], relative: str) -> list[dict[str, Any]]:
    rows = []
    for g in subgroups:
        sensitivity = g.get("sensitivity") or {}
        rows.append({"subgroup": ev.field(g, relative, "subgroup"), "bin": ev.field(g, relative, "bin"),
                     "level": g.get("level"), "n": ev.field(g, relative, "n"),
                     "dice": None if g.get("lesion_dice") is None else ev.subgroup_figure(g, relative),
                     "sensitivity": sensitivity.get("value"), "sensitivity_ci95": sensitivity.get("ci95"),
                     "counted": ev.number(g, relative, "n") >= ev.SUBGROUP_MIN_N})
    return rows


def _external(root: Path, key: str, manifest_sha256: str,
              statements: Mapping[str, Any] | None) -> dict[str, Any] | None:
    relative = EXTERNAL.format(key=key)
    data = ev.load_json(root, relative)
    if data is None:
        return None
    ev.check_package(data, relative, manifest_sha256, "manifest_sha256")
    sets = ev.field(data, relative, "sets")
    if not isinstance(sets, list) or not sets:
        raise ev.evidence_error(relative, "no sets")
    described = (statements or {}).get("sets", {})
    rows = []
    for index, entry in enumerate(sets):
        name = str(ev.field(entry, relative, "set"))
        subgroups = ev.field(entry, relative, "subgroups")
        criteria, passed = ev.judge(ev.field(entry, relative, "acceptance"), ev.field(entry, relative, "metrics"),
                                    relative, subgroups)
        worst = ev.worst_subgroup(subgroups, relative)
        stored_worst = ev.field(entry, relative, "worst_subgroup")
        if (worst or None) != (stored_worst or None):
            raise ev.evidence_error(relative, f"set {name}: the stored worst subgroup is not the one with the lowest "
                                    f"Lesion Dice among subgroups with n >= {ev.SUBGROUP_MIN_N}")
        version = re.fullmatch(r"own-v(\d+)", name)
        cases = _cases(entry, relative, "cases")
        rows.append({"name": name, "index": index, "statement": described.get(name),
                     "generator_version": int(version.group(1)) if version else None,
                     "base_seed": entry.get("base_seed"), "criteria": criteria, "passed": passed,
                     "subgroups": _subgroup_rows(subgroups, relative),
                     "worst": None if worst is None else ev.subgroup_figure(worst, relative),
                     "ids": _identity_checks(cases, statements), "cases": cases,
                     "metrics": ev.field(entry, relative, "metrics")})
    failed = [s["name"] for s in rows if not s["passed"]]
    protocol = data.get("protocol")
    return {"file": relative, "protocol": protocol, "protocol_sha256": _sha256(root, protocol),
            "model": ev.field(data, relative, "model"), "sets": rows, "failed": failed,
            "passed": not failed}


def _verdict(external: Mapping[str, Any] | None) -> dict[str, str]:
    """The overall verdict in words: the external validation judges the intended use."""
    if external is None:
        return {"state": "missing", "text": "No external validation result: the model's performance in the intended "
                                            "use is not shown."}
    sets, failed = external["sets"], external["failed"]
    if not failed:
        return {"state": "passes", "text": f"The model meets every pre-registered external criterion on all "
                                           f"{len(sets)} sets."}
    which = "every set" if len(failed) == len(sets) else f"{len(failed)} of {len(sets)} sets"
    return {"state": "fails", "text": f"The model fails the pre-registered external validation on {which} "
                                      f"({len(failed)} of {len(sets)}: {', '.join(failed)})."}


def _side_by_side(study: Mapping[str, Any] | None, external: Mapping[str, Any] | None) -> dict[str, Any]:
    """One row per criterion, one column per study (standalone first, then each external set)."""
    columns = ([{"name": STANDALONE, "passed": study["passed"], "criteria": {c.name: c for c in study["criteria"]}}]
               if study else [])
    columns += [{"name": s["name"], "passed": s["passed"], "criteria": {c.name: c for c in s["criteria"]}}
                for s in (external or {}).get("sets", [])]
    names = [n for n in ev.CRITERIA if any(n in col["criteria"] for col in columns)]
    names += sorted({n for col in columns for n in col["criteria"]} - set(names))
    rows = [{"name": n, "label": ev.CRITERIA.get(n, (n,))[0], "cells": [col["criteria"].get(n) for col in columns]}
            for n in names]
    return {"columns": columns, "rows": rows}


def _release_evaluation(manifest: Mapping[str, Any] | None, study: Mapping[str, Any] | None,
                        relative: str) -> dict[str, Any] | None:
    """The figures the signed manifest (and the model card) carry, and whether the standalone study's first
    patients reproduce them (the release evaluation uses the same test seeds from the start)."""
    metrics = (manifest or {}).get("metrics")
    if not metrics or study is None:
        return None
    where = f"{relative} (metrics)"
    n = int(ev.number(metrics, where, "test_patients"))
    cases = study["cases"][:n]
    lesion = [c.get("lesion_dice") for c in cases if c.get("truth_has_lesion")]
    figures = [(label, ev.metric(metrics, name, where)) for name, label in (
        ("organ_dice", "Organ Dice"), ("lesion_dice", "Lesion Dice"), ("lesion_sensitivity", "Lesion sensitivity"),
        ("false_positives_per_slice", "False-positive lesions per slice"))]
    try:
        own = (len(cases), sum(c["organ_dice"] for c in cases) / len(cases), sum(lesion) / len(lesion), len(lesion),
               sum(c["lesions_detected"] for c in cases), sum(c["lesions_evaluable"] for c in cases),
               sum(c["lesions_false_positives"] for c in cases), sum(c["slices"] for c in cases))
        fp = metrics["false_positives_per_slice"]
        stated = (n, metrics["organ_dice"]["mean"], metrics["lesion_dice"]["mean"], metrics["lesion_dice"]["n"],
                  metrics["lesion_sensitivity"]["detected"], metrics["lesion_sensitivity"]["evaluable"],
                  fp["false_positives"], fp["slices"])
        reproduced = all(abs(a - b) <= ROUNDING for a, b in zip(own, stated, strict=True))
    except (KeyError, TypeError, ZeroDivisionError):
        reproduced = False
    return {"patients": n, "figures": figures, "reproduced": reproduced}


def _same_cases(study: Mapping[str, Any] | None, external: Mapping[str, Any] | None) -> str | None:
    """The external set whose cases equal the standalone study's, patient by patient (same IDs and Dice)."""
    if study is None or external is None:
        return None
    def key(cases: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [(c.get("patient_id"), c.get("organ_dice"), c.get("lesion_dice")) for c in cases]
    return next((s["name"] for s in external["sets"] if key(s["cases"]) == key(study["cases"])), None)


def _limitations(external: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """From the results: every criterion a set misses, and per set and covariate the lowest counted subgroup
    whose Lesion Dice is below that set's Lesion Dice criterion."""
    rows: list[dict[str, Any]] = []
    for s in (external or {}).get("sets", []):
        for c in s["criteria"]:
            if not c.met:
                rows.append({"set": s["name"], "kind": "criterion not met", "what": c.label, "figure": c.figure,
                             "bound": f"{c.comparator} {c.threshold:g}"})
        bound = next((c.threshold for c in s["criteria"] if c.name == "lesion_dice"), None)
        lowest: dict[str, dict[str, Any]] = {}
        for g in s["subgroups"]:
            if g["counted"] and g["dice"] is not None and (g["subgroup"] not in lowest
                                                            or g["dice"].value < lowest[g["subgroup"]]["dice"].value):
                lowest[g["subgroup"]] = g
        for g in sorted(lowest.values(), key=lambda g: g["dice"].value):
            if bound is not None and g["dice"].value < bound:
                rows.append({"set": s["name"], "kind": "subgroup below the Lesion Dice criterion",
                             "what": f"{g['subgroup']} {g['bin']}", "figure": g["dice"], "bound": f">= {bound:g}"})
    return rows


def _int8(root: Path, key: str, manifest_sha256: str) -> dict[str, Any] | None:
    relative = INT8.format(key=key)
    data = ev.load_json(root, relative)
    if data is None:
        return None
    ev.check_package(data, relative, manifest_sha256, "manifest_sha256")
    acceptance = ev.field(data, relative, "acceptance")
    speedup = ev.field(data, relative, "speed", "speedup_over_fp32")
    variants = [{"name": name, "passed": ev.field(entry, relative, "passed") is True,
                 "failed": list(ev.field(entry, relative, "failed")), "speedup": speedup.get(name),
                 "criteria": ev.field(entry, relative, "criteria")} for name, entry in sorted(acceptance.items())]
    if any(v["passed"] == bool(v["failed"]) for v in variants):
        raise ev.evidence_error(relative, "a variant's 'passed' contradicts its list of failed criteria")
    protocol = data.get("protocol")
    return {"file": relative, "protocol": protocol, "protocol_sha256": _sha256(root, protocol),
            "verdict": ev.field(data, relative, "verdict"), "preregistration": data.get("preregistration_commit"),
            "variants": variants, "qualifies": [v["name"] for v in variants if v["passed"]]}


def _released(view: TraceView, root: Path, manifests: Mapping[str, Any],
              statements: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for node in view.of("model"):
        f = fields(node)
        key, sha = Path(str(f.get("package", ""))).name, str(f.get("manifest_sha256"))
        manifest = manifests.get(str(node["id"]))
        study = _study(root, key, sha, statements)
        external = _external(root, key, sha, statements)
        out.append({"id": str(node["id"]), "name": f.get("name"), "version": f.get("version"),
                    "package": f.get("package"), "key": key, "manifest_sha256": sha,
                    "clinical_use": f.get("clinical_use"), "intended_use": f.get("intended_use"),
                    "data_manifest_sha256": f.get("data_manifest_sha256"),
                    "training": (manifest or {}).get("training"), "manifest_present": manifest is not None,
                    "study": study, "study_file": STUDY.format(key=key), "external": external,
                    "external_file": EXTERNAL.format(key=key), "verdict": _verdict(external),
                    "side_by_side": _side_by_side(study, external),
                    "release": _release_evaluation(manifest, study, f"{f.get('package')}/manifest.json"),
                    "same_cases": _same_cases(study, external), "limitations": _limitations(external),
                    "int8": _int8(root, key, sha), "int8_file": INT8.format(key=key)})
    return out


def _candidates(root: Path, released: set[str], statements: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Packages with committed results but no ``models/<key>/``: trained, not released."""
    out = []
    for path in sorted((root / ev.RESULTS).glob("external-*.json")):
        key = path.name[len("external-"):-len(".json")]
        if key in released or (root / "models" / key / "manifest.json").is_file():
            continue
        relative = EXTERNAL.format(key=key)
        data = ev.load_json(root, relative)
        sha = str(ev.field(data, relative, "manifest_sha256"))
        model = str(ev.field(data, relative, "model"))
        study = _study(root, key, sha, statements)
        external = _external(root, key, sha, statements)
        plan = TRAINING_PLAN.format(version=model.rsplit(" ", 1)[-1])
        out.append({"key": key, "model": model, "manifest_sha256": sha, "study": study, "external": external,
                    "study_file": STUDY.format(key=key), "verdict": _verdict(external),
                    "side_by_side": _side_by_side(study, external),
                    "plan": plan if (root / plan).is_file() else None})
    return out


def _anomalies(view: TraceView, statements: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for anomaly_id in (statements or {}).get("anomalies", []):
        node = view.get(str(anomaly_id))
        if node is None:
            raise ev.evidence_error(ev.STATEMENTS, f"cites {anomaly_id}, which is not in the trace graph",
                                    "cite an anomaly of traceability/anomalies.yaml")
        rows.append({"id": str(anomaly_id), "title": fields(node).get("title"), "status": fields(node).get("status")})
    return rows


def report(view: TraceView, root: Path, manifests: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the AI validation report shows (``manifests``: parsed manifest by model node ID)."""
    root = Path(root)
    statements = ev.load_statements(root)
    released = _released(view, root, manifests, statements)
    return {"statements": statements, "statements_file": ev.STATEMENTS, "released": released,
            "candidates": _candidates(root, {m["key"] for m in released}, statements),
            "anomalies": _anomalies(view, statements), "subgroup_min_n": ev.SUBGROUP_MIN_N}
