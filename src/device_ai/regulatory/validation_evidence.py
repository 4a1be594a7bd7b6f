"""The committed AI validation evidence, read and checked (FDA AI-enabled device software functions
draft guidance: performance validation, data management): the standalone study
(``validation/results/<package>.json``), the pre-registered external validation
(``external-<package>.json``), the INT8 study (``int8-<package>.json``) and the manufacturer's
statements (``validation/ai_validation.yaml``).

Pure reading, no layout: what the AI validation report shows comes from here. A file that is
absent is ``None`` (the page shows it as missing); a file that is not JSON or YAML, lacks a
field, names another model package, or whose stored verdict contradicts its own figures is a
:class:`~device_ai.errors.TraceabilityError` naming the file and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from device_ai.errors import TraceabilityError

RESULTS = "validation/results"
STATEMENTS = "validation/ai_validation.yaml"
STATEMENTS_SCHEMA = "device-ai/ai-validation-statements/1"
SUBGROUP_MIN_N = 5  # EXTERNAL_PROTOCOL.md §4-5: the worst subgroup and its criterion count bins with n >= 5
REGENERATE = "regenerate it with the tool that wrote it (validation/PROTOCOL.md §6, EXTERNAL_PROTOCOL.md §7)"

# each pre-registered criterion: its label, how the figure compares with the threshold, the metric it reads
# (PROTOCOL.md §5, EXTERNAL_PROTOCOL.md §5, in the protocol's order)
CRITERIA: Mapping[str, tuple[str, str, str]] = {
    "organ_dice": ("Organ Dice (mean over patients)", ">=", "organ_dice"),
    "lesion_dice": ("Lesion Dice (mean over patients with a lesion)", ">=", "lesion_dice"),
    "lesion_sensitivity": ("Lesion sensitivity (pooled)", ">=", "lesion_sensitivity"),
    "false_positives_per_slice": ("False-positive lesions per slice", "<=", "false_positives_per_slice"),
    "lesion_free_slices_clean": ("Lesion-free slices without Lesion pixels", ">=", "lesion_free_slices_clean"),
    "subgroup_lesion_dice": (f"Lesion Dice of every subgroup with n >= {SUBGROUP_MIN_N}", ">=", ""),
}


def evidence_error(relative: str, what: str, hint: str = REGENERATE) -> TraceabilityError:
    return TraceabilityError(f"{relative}: {what}", hint=hint)


def load_json(root: Path, relative: str) -> dict[str, Any] | None:
    """The JSON object at ``root/relative``; ``None`` when the file does not exist."""
    try:
        raw = (Path(root) / relative).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise evidence_error(relative, f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise evidence_error(relative, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise evidence_error(relative, "expected a JSON object")
    return data


def field(data: Any, relative: str, *keys: str | int) -> Any:
    """``data[k1][k2]...``, or a typed error naming the file and the missing field."""
    value = data
    for depth, key in enumerate(keys):
        found = (isinstance(value, Mapping) and key in value) or (
            isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value))
        if not found:
            raise evidence_error(relative, f"no field '{'.'.join(str(k) for k in keys[:depth + 1])}'")
        value = value[key]
    return value


def number(data: Any, relative: str, *keys: str | int) -> float:
    value = field(data, relative, *keys)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise evidence_error(relative, f"field '{'.'.join(str(k) for k in keys)}' is not a number ({value!r})")
    return float(value)


def check_package(data: Mapping[str, Any], relative: str, manifest_sha256: str, *keys: str) -> None:
    """A result file must name the package it is shown for (by its manifest's SHA-256)."""
    named = field(data, relative, *keys)
    if named != manifest_sha256:
        raise evidence_error(relative, f"names the package with manifest SHA-256 {named}, not {manifest_sha256}",
                             "rerun the study on the committed package, or remove the stale result file")


@dataclass(frozen=True)
class Figure:
    """One metric as the result file states it: point value, 95% CI (or None), and its counts."""

    value: float
    ci95: tuple[float, float] | None
    detail: str


def metric(metrics: Mapping[str, Any], name: str, relative: str) -> Figure:
    """A metric of a study's ``metrics``: a mean with ``n``, or a proportion with its counts."""
    entry = field(metrics, relative, name)
    where = ("metrics", name)
    value = number(entry, relative, "mean") if "mean" in entry else number(entry, relative, "value")
    ci = entry.get("ci95")
    interval = None if ci is None else (number(ci, relative, 0), number(ci, relative, 1))
    if "n" in entry:
        detail = f"n {entry['n']}"
    elif "successes" in entry or "detected" in entry:
        hits, total = ("successes", "trials") if "successes" in entry else ("detected", "evaluable")
        detail = f"{field(entry, relative, hits)} / {field(entry, relative, total)}"
    elif "false_positives" in entry:
        detail = f"{field(entry, relative, 'false_positives')} in {field(entry, relative, 'slices')} slices"
    else:
        raise evidence_error(relative, f"field '{'.'.join(where)}' has no n, counts or false positives")
    return Figure(value, interval, detail)


def worst_subgroup(subgroups: Sequence[Mapping[str, Any]], relative: str) -> Mapping[str, Any] | None:
    """The subgroup with the lowest Lesion Dice point estimate among those with n >= SUBGROUP_MIN_N."""
    eligible = [g for g in subgroups if number(g, relative, "n") >= SUBGROUP_MIN_N
                and field(g, relative, "lesion_dice") is not None]
    return min(eligible, key=lambda g: number(g, relative, "lesion_dice")) if eligible else None


@dataclass(frozen=True)
class Criterion:
    name: str
    label: str
    comparator: str
    threshold: float
    figure: Figure | None  # None for a criterion the report does not know how to read (its verdict is shown)
    met: bool


def judge(acceptance: Mapping[str, Any], metrics: Mapping[str, Any], relative: str,
          subgroups: Sequence[Mapping[str, Any]] | None = None) -> tuple[list[Criterion], bool]:
    """Every criterion of a study with its figure and verdict, and the study's verdict. Each verdict is
    recomputed from its figure and threshold; a stored verdict that contradicts it is refused, so the page
    never shows a verdict its own figures do not support."""
    criteria = field(acceptance, relative, "criteria")
    stored = field(acceptance, relative, "results")
    rows = []
    for name in [*(n for n in CRITERIA if n in criteria), *sorted(n for n in criteria if n not in CRITERIA)]:
        threshold = number(criteria, relative, name)
        met = field(stored, relative, name)
        if not isinstance(met, bool):
            raise evidence_error(relative, f"the verdict of criterion '{name}' is not true or false ({met!r})")
        label, comparator, source = CRITERIA.get(name, (name, "", ""))
        figure = None
        if name == "subgroup_lesion_dice" and subgroups is not None:
            worst = worst_subgroup(subgroups, relative)
            figure = None if worst is None else subgroup_figure(worst, relative)
        elif source:
            figure = metric(metrics, source, relative)
        if figure is not None:
            holds = figure.value <= threshold if comparator == "<=" else figure.value >= threshold
            if holds != met:
                raise evidence_error(relative, f"criterion '{name}' is stored as {'met' if met else 'not met'} but "
                                     f"its figure {figure.value:.6g} {'meets' if holds else 'misses'} "
                                     f"{comparator} {threshold:g}")
        rows.append(Criterion(name, label, comparator, threshold, figure, met))
    passed = field(acceptance, relative, "passed")
    if passed is not all(c.met for c in rows):
        raise evidence_error(relative, f"the study is stored as {'passed' if passed else 'failed'} but its criteria "
                             f"say {'passed' if all(c.met for c in rows) else 'failed'}")
    return rows, bool(passed)


def subgroup_figure(group: Mapping[str, Any], relative: str) -> Figure:
    ci = group.get("lesion_dice_ci95")
    interval = None if ci is None else (number(ci, relative, 0), number(ci, relative, 1))
    return Figure(number(group, relative, "lesion_dice"), interval,
                  f"{field(group, relative, 'subgroup')} {field(group, relative, 'bin')}, n {group['n']}")


def load_statements(root: Path) -> dict[str, Any] | None:
    """The manufacturer's statements (validation/ai_validation.yaml), checked for the fields the report
    reads; ``None`` when the file does not exist."""
    try:
        text = (Path(root) / STATEMENTS).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise evidence_error(STATEMENTS, f"cannot be read ({exc})", "check the file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise evidence_error(STATEMENTS, f"not valid YAML ({exc})", "fix the YAML") from None
    hint = f"the file must hold schema {STATEMENTS_SCHEMA} with pccp, data, standalone, sets and anomalies"
    if not isinstance(data, dict) or data.get("schema") != STATEMENTS_SCHEMA:
        raise evidence_error(STATEMENTS, f"not a {STATEMENTS_SCHEMA} document", hint)
    for keys in (("pccp", "position"), ("pccp", "statement"), ("pccp", "rationale"), ("pccp", "stated_by"),
                 ("pccp", "date"), ("data", "patient_data"), ("data", "training_source"),
                 ("standalone", "source"), ("standalone", "independence")):
        if not isinstance(field(data, STATEMENTS, *keys), str):
            raise evidence_error(STATEMENTS, f"field '{'.'.join(keys)}' must be text", hint)
    for keys in (("data", "synthetic_patient_id_prefixes"), ("data", "training_patient_id_prefixes"), ("anomalies",)):
        value = field(data, STATEMENTS, *keys)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise evidence_error(STATEMENTS, f"field '{'.'.join(keys)}' must be a non-empty list of text", hint)
    sets = field(data, STATEMENTS, "sets")
    if not isinstance(sets, dict) or not all(
            isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("source", "description",
                                                                                    "independence"))
            for entry in sets.values()):
        raise evidence_error(STATEMENTS, "field 'sets' must map each set to its source, description and "
                             "independence (text)", hint)
    return data
