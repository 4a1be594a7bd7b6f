"""Gate rules that keep the risk file from claiming more than the evidence shows (issue 19 item 6).

Each rule reads the checked graph (``check._Context``) and yields ``(section, item, topic,
message)``; :mod:`.check` turns them into findings. A hazardous situation is *reduced* when its
residual P1 is below its initial P1 or its residual P2 below its initial P2; those are its reduced
factors.

1. **risk reduction** (SRS-180; ISO 14971 7.2, 7.3): every control a reduced situation lists must
   be *in effect*: approved, implemented by at least one approved requirement, and every approved
   implementing requirement verified on this commit. A planned, draft, retired or unverified
   control on a reduced situation is a gap, not an open item: a reduction is credited only to
   controls implemented and verified. A situation that keeps its initial estimate may list
   controls not yet in effect (they stay open).
2. **effectiveness** (SRS-181; ISO 14971 7.2 verification of effectiveness, kept apart from
   verification of implementation): every reduced factor needs at least one ``effectiveness``
   entry that ``reduces`` it. An entry names only controls the situation lists; states in
   ``measure`` a figure (at least one digit: how many cases, what outcome); and rests on
   - a ``record``: a file that exists when the graph is built and is not a test module or a test
     result (nothing under ``tests/`` or ``test-results/``, no ``test_*.py``, ``*_test.py``,
     ``conftest.py``): a pass/fail verdict shows that a control is implemented, a measured
     outcome (study, validation, benchmark, challenge run) that it works; or
   - ``requirements``, each approved and verified on this commit, whose verification exercises
     the hazardous sequence itself over a challenge set (the reviewer judges that; the gate
     checks status and verdict).
   A control of type ``information`` is credited only by a ``record`` (a usability or other
   study): tests show the words are there, not that users read and follow them.
3. **re-specified** (SRS-182; IEC 62304 5.2.6, 8.2.3): a requirement whose acceptance criterion
   changed after results were seen (``respecifications``) is always listed with its dates and
   its independent review status: a gap when it is approved (or retired) without an independent
   review record at its current content (:func:`.review.is_independent`), a warning with the
   reviewers otherwise; while planned or draft it is open.
4. **benefit-risk claims** (SRS-183; ISO 14971 7.4, 8): every SRS, RC, RISK and ANOM ID named in
   the benefit-risk prose needs a ``claims`` entry, and each claim must equal the graph's state:
   for a requirement or a control ``verified`` or ``not verified`` when approved (a control:
   implemented by approved requirements all verified; effectiveness is rule 2's), else its
   status; for a hazardous
   situation its residual acceptability; for an anomaly ``open`` or ``closed``.
5. **soup anomaly review** (SRS-184; IEC 62304 7.1.3): a runtime SOUP entry whose
   ``anomaly_review_state`` is not ``complete`` (partial, pending, or not stated) is a gap with
   ``--release`` and a warning otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from device_ai.regulatory.risk import evaluate_situation

Raw = tuple[str, str, str, str]
NOT_YET = ("planned", "draft")
_NAMED_ID = re.compile(r"\b(?:SRS|RC|RISK|ANOM)-\d{3,}\b")


def reduced_factors(plan: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """The factors (``p1``, ``p2``) whose residual level is below the initial one."""
    if not fields.get("residual"):
        return []
    evaluated = evaluate_situation(plan, fields)
    initial, residual = evaluated["initial"], evaluated["residual"]
    return [f for f in ("p1", "p2") if int(residual[f].lstrip("P")) < int(initial[f].lstrip("P"))]


def control_gap(ctx: Any, control: str) -> str | None:
    """Why ``control`` is not in effect (implemented and verified), None when it is."""
    status = ctx.status(control)
    if status != "approved":
        return f"{control} is {status or 'unknown'}"
    implementers = ctx.nodes[control]["fields"]["implemented_by"]
    approved = [r for r in implementers if ctx.status(r) == "approved"]
    if not approved:
        return f"{control} is not implemented by an approved requirement"
    unverified = [r for r in approved if ctx.verdicts[r].status != "verified"]
    return f"{control} is not verified ({', '.join(unverified)})" if unverified else None


def is_test_artefact(path: str) -> bool:
    """A test module or a pytest result file: evidence of implementation, not of effectiveness."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (bool(parts) and parts[0] in ("tests", "test-results")) or name == "conftest.py" \
        or (name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")))


def _situations(ctx: Any) -> Iterator[tuple[dict[str, Any], list[str]]]:
    plan = next(ctx.of_kind("risk_plan"), None)
    if plan is None:
        return
    for node in ctx.of_kind("hazardous_situation"):
        yield node, reduced_factors(plan["fields"], node["fields"])


def credited_controls(ctx: Any) -> Iterator[Raw]:
    for node, reduced in _situations(ctx):
        if not reduced:
            continue
        reasons = [r for r in (control_gap(ctx, c) for c in node["fields"]["controls"]) if r]
        if reasons:
            yield ("gap", node["id"], "risk reduction", f"{'/'.join(reduced).upper()} reduced crediting controls not "
                   "in effect (ISO 14971 7.2): " + "; ".join(reasons) + ": withdraw the reduction or bring the "
                   "controls into effect")


def _entry_problems(ctx: Any, node: dict[str, Any], entry: dict[str, Any]) -> Iterator[str]:
    listed = node["fields"]["controls"]
    for control in entry["controls"]:
        if control not in listed:
            yield f"{control} is not a control of {node['id']}"
        elif ctx.nodes[control]["fields"]["type"] == "information" and not entry.get("record"):
            yield f"{control} is information for safety: its effectiveness needs a record (usability or other study)"
    if not re.search(r"\d", entry["measure"]):
        yield "measure states no figure (how many cases, what outcome)"
    record = entry.get("record")
    if record:
        if is_test_artefact(record):
            yield f"record {record} is a test or test result, not a measured outcome"
        elif node.get("effectiveness_records", {}).get(record) is None:
            yield f"record {record} does not exist"
    for requirement in entry.get("requirements", []):
        if ctx.status(requirement) != "approved":
            yield f"{requirement} is {ctx.status(requirement) or 'unknown'}"
        elif ctx.verdicts[requirement].status != "verified":
            yield f"{requirement} is not verified"


def effectiveness(ctx: Any) -> Iterator[Raw]:
    for node, reduced in _situations(ctx):
        entries = node["fields"].get("effectiveness") or []
        if not reduced:
            continue
        for factor in reduced:
            backed = [e for e in entries if factor in e["reduces"]]
            if not backed:
                yield ("gap", node["id"], "effectiveness", f"{factor.upper()} reduced without effectiveness evidence "
                       "(a measured record or challenge-tested requirements; ISO 14971 7.2)")
        for index, entry in enumerate(entries, 1):
            problems = list(_entry_problems(ctx, node, entry))
            if problems:
                yield ("gap", node["id"], "effectiveness", f"evidence {index} ({', '.join(entry['controls'])}): "
                       + "; ".join(problems))


def respecified(ctx: Any) -> Iterator[Raw]:
    for node in ctx.of_kind("requirement"):
        changes = node["fields"].get("respecifications") or []
        if not changes:
            continue
        when = ", ".join(f"{c['date']} ({c['record']})" for c in changes)
        reviews = node.get("independent_reviews") or []
        status = node["fields"]["status"]
        if reviews:
            by = "; ".join(f"{r['by']} on {r['date']}" for r in reviews)
            yield ("warning", node["id"], "re-specified", f"acceptance criterion changed after results were seen "
                   f"({when}); independently reviewed by {by}")
        elif status in NOT_YET:
            yield ("open", node["id"], "re-specified", f"acceptance criterion changed after results were seen ({when}); "
                   "no independent review at its current content")
        else:
            yield ("gap", node["id"], "re-specified", f"{status}, but its acceptance criterion changed after results "
                   f"were seen ({when}) and no independent review record exists at its current content")


def observed_state(ctx: Any, item: str) -> str | None:
    """The state a benefit-risk claim about ``item`` is compared with, None for an unknown item."""
    node = ctx.nodes.get(item)
    if node is None:
        return None
    kind, fields = node["kind"], node["fields"]
    if kind == "requirement":
        if fields["status"] != "approved":
            return str(fields["status"])
        return "verified" if ctx.verdicts[item].status == "verified" else "not verified"
    if kind == "risk_control":
        if fields["status"] != "approved":
            return str(fields["status"])
        return "not verified" if control_gap(ctx, item) else "verified"
    if kind == "hazardous_situation":
        plan = next(ctx.of_kind("risk_plan"), None)
        return None if plan is None else str(evaluate_situation(plan["fields"], fields)["residual"]["acceptability"])
    if kind == "anomaly":
        return str(fields["status"])
    return None


def _prose(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def benefit_claims(ctx: Any) -> Iterator[Raw]:
    node = next(ctx.of_kind("benefit_risk"), None)
    if node is None:
        return
    fields = node["fields"]
    text = " ".join(_prose(fields[name]) for name in ("benefits", "statement", "overall_residual_risk"))
    claims = {claim["item"]: claim["state"] for claim in fields.get("claims") or []}
    unclaimed = sorted(set(_NAMED_ID.findall(text)) - set(claims))
    if unclaimed:
        yield ("gap", node["id"], "benefit-risk", "names items without a claimed state the gate can check: "
               + ", ".join(unclaimed))
    for item, claimed in sorted(claims.items()):
        actual = observed_state(ctx, item)
        if actual is None:
            yield ("gap", node["id"], "benefit-risk", f"claims {item} is {claimed!r}, but the graph has no such item")
        elif actual != claimed:
            yield ("gap", node["id"], "benefit-risk", f"says {item} is {claimed!r}, the graph shows {actual!r}")


def soup_anomaly_reviews(ctx: Any) -> Iterator[Raw]:
    for node in ctx.of_kind("soup"):
        fields = node["fields"]
        state = fields.get("anomaly_review_state") or "not stated"
        if fields["runtime"] and state != "complete":
            yield ("gap" if ctx.release else "warning", node["id"], "soup anomaly review",
                   f"anomaly list review is {state} for a runtime component (IEC 62304 7.1.3; a gap with --release)")


RULES = (credited_controls, effectiveness, respecified, benefit_claims, soup_anomaly_reviews)
