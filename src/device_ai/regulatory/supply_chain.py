"""Gate rules of the SBOM's section 524B fields (issue 19 item 2): every runtime component the
device ships has a support level, an end-of-support date and a current vulnerability assessment
(``security/components.yaml``, :mod:`.component_items`).

The runtime components are those the trace graph recorded from the environment
(``environment.sbom_components``: the runtime Python distributions, CPython and the native
libraries inside the wheels, :mod:`.runtime_components`) and the model packages (``model`` nodes).
Each rule yields ``(section, item, topic, message)`` as :mod:`.security` does. As for the SOUP
anomaly review (SRS-184), a finding is a **gap with** ``--release`` and a **warning** otherwise:
development evidence keeps being recorded while the release is blocked.

1. **assessed** (SRS-196): a runtime component needs an entry of the same name assessed for the
   same version; one without, or assessed only for other versions, is reported; so is a list of
   runtime components the build could not determine.
2. **support** (SRS-196): the entry states a support level with the source it was read from, and
   an end-of-support date or, without one, a note saying why there is none (the supplier's
   policy cited). A component whose support level is end-of-life, or whose end-of-support date
   is before the as-of date, is reported: the device would ship an unsupported component.
3. **VEX** (SRS-196, SRS-197): the entry has a vulnerability assessment (SRS-196); one dated more than
   :data:`MAX_VEX_AGE_DAYS` before the as-of date is stale; a vulnerability still ``in_triage``
   or ``exploitable`` is reported (the assessment is not finished, or the release ships a known
   exploitable vulnerability) (SRS-197).

The **as-of date** is the newest test run recorded in the graph: the date the package and its SBOM
carry (``metadata.timestamp``), a recorded input, never the wall clock, so that the check is
reproducible. Without any run the age is not judged (the gate already reports that no run was
recorded). Limitation: a release built from old runs is judged at their date.

Entries that name no runtime component (left over after an upgrade) are warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

Raw = tuple[str, str, str, str]
#: The longest a vulnerability assessment may be old at the as-of date. Why 90 days: the
#: security plan checks every SBOM component's sources at least monthly and assesses a controlled
#: vulnerability within 30 days; 90 days lets one monthly cycle slip before the release gate
#: refuses, so an SBOM never reaches a reviewer with "no known vulnerability" a quarter out of date.
MAX_VEX_AGE_DAYS = 90
UNRESOLVED = ("in_triage", "exploitable")


def as_of(graph: Mapping[str, Any]) -> dt.date | None:
    """The newest recorded run date of the graph, None without runs."""
    dates = sorted(str((run.get("header") or {}).get("date_utc")) for run in graph.get("runs") or ()
                   if (run.get("header") or {}).get("date_utc"))
    if not dates:
        return None
    return dt.date.fromisoformat(dates[-1][:10])


def runtime_components(ctx: Any) -> list[dict[str, Any]] | None:
    """``{name, version, type}`` of every runtime component, None when the environment's are unknown."""
    recorded = ctx.graph["environment"].get("sbom_components")
    if recorded is None:
        return None
    models = [{"name": n["fields"]["name"], "version": n["fields"]["version"], "type": "machine-learning-model"}
              for n in ctx.of_kind("model")]
    return [*recorded, *sorted(models, key=lambda m: (m["name"], m["version"]))]


def _section(ctx: Any) -> tuple[str, str]:
    return ("gap", "") if ctx.release else ("warning", " (a gap with --release)")


def _entries(ctx: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for node in sorted(ctx.of_kind("sbom_component"), key=lambda n: n["id"]):
        found.setdefault(node["fields"]["name"], []).append(node)
    return found


def _matching(ctx: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]]:
    """Each runtime component with its entry (None) and the entries of the same name."""
    entries = _entries(ctx)
    for component in runtime_components(ctx) or ():
        named = entries.get(component["name"], [])
        entry = next((e for e in named if e["fields"]["version"] == component["version"]), None)
        yield component, entry, named


def assessed(ctx: Any) -> Iterator[Raw]:
    section, suffix = _section(ctx)
    if runtime_components(ctx) is None:
        yield (section, "SBOM", "sbom component", "the runtime components are unknown (device-ai is not installed "
               "where the graph was built): nothing can be checked for support and vulnerabilities" + suffix)
        return
    matched: set[str] = set()
    for component, entry, named in _matching(ctx):
        label = f"{component['name']} {component['version'] or '(version not readable)'}"
        if entry is not None:
            matched.add(entry["id"])
            continue
        if named:
            versions = ", ".join(sorted(str(e["fields"]["version"]) for e in named))
            yield (section, named[0]["id"], "sbom component", f"runtime component {label} is assessed only for "
                   f"version {versions}: assess the installed version (support, end of support, VEX){suffix}")
        else:
            yield (section, f"CMP-{component['name']}", "sbom component", f"runtime component {label} "
                   f"({component['type']}) has no entry in security/components.yaml (support level, end of "
                   f"support, VEX){suffix}")
    for node in sorted(ctx.of_kind("sbom_component"), key=lambda n: n["id"]):
        if node["id"] not in matched and not any(
                c["name"] == node["fields"]["name"] for c in runtime_components(ctx) or ()):
            yield ("warning", node["id"], "sbom component", f"{node['fields']['name']} {node['fields']['version']} "
                   "is not a runtime component of this environment: remove the entry or correct its name")


def support(ctx: Any) -> Iterator[Raw]:
    section, suffix = _section(ctx)
    today = as_of(ctx.graph)
    for _component, entry, _named in _matching(ctx):
        if entry is None:
            continue
        fields, missing = entry["fields"], []
        if not fields.get("support_level"):
            missing.append("support_level")
        if not fields.get("support_source"):
            missing.append("support_source")
        if not fields.get("end_of_support") and not fields.get("end_of_support_note"):
            missing.append("end_of_support (or end_of_support_note saying why there is no date)")
        if missing:
            yield (section, entry["id"], "sbom support", "missing " + ", ".join(missing) + suffix)
        if fields.get("support_level") == "end-of-life":
            yield (section, entry["id"], "sbom support", f"{fields['name']} {fields['version']} is end of life: "
                   f"replace it with a supported version{suffix}")
        elif fields.get("end_of_support") and today is not None \
                and dt.date.fromisoformat(fields["end_of_support"]) < today:
            yield (section, entry["id"], "sbom support", f"end of support {fields['end_of_support']} is before "
                   f"{today.isoformat()} (the SBOM's date): replace it with a supported version{suffix}")


def vex(ctx: Any) -> Iterator[Raw]:
    section, suffix = _section(ctx)
    today = as_of(ctx.graph)
    for _component, entry, _named in _matching(ctx):
        if entry is None:
            continue
        assessment = entry["fields"].get("vex")
        if not assessment:
            yield (section, entry["id"], "sbom vex", "no vulnerability assessment (vex: date, assessor, sources, "
                   f"known vulnerabilities or no_known_vulnerability){suffix}")
            continue
        if today is not None:
            age = (today - dt.date.fromisoformat(assessment["date"])).days
            if age > MAX_VEX_AGE_DAYS:
                yield (section, entry["id"], "sbom vex", f"assessment of {assessment['date']} is {age} days old at "
                       f"{today.isoformat()} (at most {MAX_VEX_AGE_DAYS}): assess again{suffix}")
        for vulnerability in assessment.get("vulnerabilities") or ():
            if vulnerability["state"] in UNRESOLVED:
                yield (section, entry["id"], "sbom vex", f"{vulnerability['id']} is {vulnerability['state']}: "
                       + ("finish its analysis" if vulnerability["state"] == "in_triage"
                          else "the release would ship a known exploitable vulnerability: update the component")
                       + suffix)


RULES = (assessed, support, vex)
