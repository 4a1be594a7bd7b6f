"""Gate rules of the cybersecurity file (``security/``; FDA 524B threat model and security risk
assessment), and the evaluation of a threat against the security plan's acceptability matrix.

Each rule reads the checked graph (``check._Context``) and yields ``(section, item, topic,
message)``, as :mod:`.overclaim` does; :mod:`.check` turns them into findings.

1. **interface without threat** (SRS-190): every interface of the security file names at least
   one threat (a threat's ``interface``); one that none names is a gap, whatever the rules: an
   interface nobody analysed is a hole in the threat model, not a pending item.
2. **threat controls** (SRS-191): a threat is *mitigated* when it names at least one control and
   every control it names is *in effect*, with the risk file's notion of in effect
   (:func:`.overclaim.control_gap`): a risk control (``RC``) approved, implemented by at least one
   approved requirement, and every approved implementing requirement verified on this commit; a
   requirement (``SRS``) approved and verified on this commit. A threat that names no control, or
   a control not in effect, is a gap with ``--release`` (the release gate: "a threat without a
   verified control") and open otherwise, naming why, as an unacceptable residual risk is
   (SRS-186): development evidence keeps being recorded while the device is not releasable.
3. **threat residual** (SRS-193): the threat's residual risk (impact x residual exploitability,
   or x exploitability without controls) read from the security plan's acceptability matrix; an
   ``unacceptable`` residual is a gap with ``--release`` and open otherwise; an ``alara`` residual
   without a ``rationale`` (or with one holding no letter or digit) is a gap (as for a hazardous situation,
   ISO 14971 7.4); a residual exploitability above the initial one is a warning. The residual
   is the one the threat states with its controls; whether those controls are in effect is rule
   2's (the documents show a residual as credited only when they are: :func:`assess`).

4. **interface code** (SRS-194): an interface names the modules of ``src/`` that implement it;
   one that names a module the source tree does not hold (``missing_modules``, recorded when the
   graph is built; a name that is not dotted identifiers, such as a path, is none) is a gap: the
   threat model must describe the device as built.

Dangling references (a threat on an interface that does not exist, a control that does not
exist) and levels outside the plan's scales are refused when the items are loaded
(:mod:`.loader`, SRS-192), so ``trace build`` fails with ``file:line`` before any graph exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from device_ai.regulatory.overclaim import control_gap

Raw = tuple[str, str, str, str]


def _says_something(text: object) -> bool:
    """Whether a rationale holds a word or a number: blanks, zero-width characters and
    punctuation alone say nothing."""
    return any(character.isalnum() for character in str(text or ""))


def _rank(plan: Mapping[str, Any], scale: str, level: str) -> int:
    return [x["level"] for x in plan[scale]].index(level)


def evaluate_threat(plan: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Initial and residual security risk of a threat (its fields as in the graph) under the plan's
    acceptability matrix: ``{"initial"|"residual": {"impact", "exploitability", "acceptability"}}``."""
    impact = str(fields["impact"])
    residual_level = str(fields.get("residual_exploitability") or fields["exploitability"])

    def one(exploitability: str) -> dict[str, str]:
        return {"impact": impact, "exploitability": exploitability,
                "acceptability": str(plan["acceptability"][impact][exploitability])}

    return {"initial": one(str(fields["exploitability"])), "residual": one(residual_level)}


def control_state(ctx: Any, control: str) -> str | None:
    """Why ``control`` (a risk control or a requirement) is not in effect, None when it is."""
    node = ctx.nodes.get(control)
    if node is None:
        return f"{control} does not exist"
    if node["kind"] == "risk_control":
        return control_gap(ctx, control)
    status = node["fields"]["status"]
    if status != "approved":
        return f"{control} is {status}"
    if ctx.verdicts[control].status != "verified":
        return f"{control} is not verified"
    return None


def _security_plan(ctx: Any) -> Mapping[str, Any] | None:
    node = next(ctx.of_kind("security_plan"), None)
    return None if node is None else node["fields"]


def interfaces_without_threats(ctx: Any) -> Iterator[Raw]:
    analysed = {node["fields"]["interface"] for node in ctx.of_kind("threat")}
    for node in sorted(ctx.of_kind("security_interface"), key=lambda n: n["id"]):
        if node["id"] not in analysed:
            yield ("gap", node["id"], "threat model", "no threat names this interface: analyse it (STRIDE) in "
                   "security/threats.yaml")


def interfaces_with_missing_code(ctx: Any) -> Iterator[Raw]:
    for node in sorted(ctx.of_kind("security_interface"), key=lambda n: n["id"]):
        missing = node.get("missing_modules") or []
        if missing:
            yield ("gap", node["id"], "threat model", "names code that is not in the source tree: "
                   + ", ".join(missing) + " (describe the interface as built, or remove it)")


def _release_or_open(ctx: Any) -> tuple[str, str]:
    return ("gap", "") if ctx.release else ("open", ": the device is not releasable (a gap with --release)")


def threat_controls(ctx: Any) -> Iterator[Raw]:
    section, suffix = _release_or_open(ctx)
    for node in sorted(ctx.of_kind("threat"), key=lambda n: n["id"]):
        controls = node["fields"]["controls"]
        if not controls:
            yield (section, node["id"], "threat", f"no control mitigates it ({node['fields']['interface']}, "
                   f"{node['fields']['stride']}){suffix}")
            continue
        reasons = [r for r in (control_state(ctx, c) for c in controls) if r]
        if reasons:
            yield (section, node["id"], "threat", "mitigated by controls not in effect: " + "; ".join(reasons) + suffix)


def threat_residuals(ctx: Any) -> Iterator[Raw]:
    plan = _security_plan(ctx)
    if plan is None:
        return
    section, suffix = _release_or_open(ctx)
    for node in sorted(ctx.of_kind("threat"), key=lambda n: n["id"]):
        fields = node["fields"]
        evaluated = evaluate_threat(plan, fields)
        residual = evaluated["residual"]
        if residual["acceptability"] == "unacceptable":
            yield (section, node["id"], "security risk", f"residual security risk (impact {residual['impact']}, "
                   f"exploitability {residual['exploitability']}) is unacceptable{suffix}")
        elif residual["acceptability"] == "alara" and not _says_something(fields.get("rationale")):
            # a rationale of blanks, invisible characters or punctuation is no rationale (reviews 148 D4, 154 D3)
            yield ("gap", node["id"], "security risk", f"residual security risk (impact {residual['impact']}, "
                   f"exploitability {residual['exploitability']}) is ALARA and needs a rationale")
        if _rank(plan, "exploitability", residual["exploitability"]) > _rank(plan, "exploitability",
                                                                               fields["exploitability"]):
            yield ("warning", node["id"], "security risk", f"residual exploitability {residual['exploitability']} is "
                   f"above the initial {fields['exploitability']}")


RULES = (interfaces_without_threats, threat_controls, threat_residuals, interfaces_with_missing_code)


def assess(ctx: Any) -> dict[str, dict[str, Any]]:
    """Every threat as the documents show it, by ID: its controls with why each is not in effect
    (None when it is), whether it is mitigated (at least one control, all in effect), its
    evaluation, and the residual actually credited: the stated one when mitigated, else the
    initial risk (a reduction is never credited to controls not in effect)."""
    plan = _security_plan(ctx)
    found: dict[str, dict[str, Any]] = {}
    for node in sorted(ctx.of_kind("threat"), key=lambda n: n["id"]):
        fields = node["fields"]
        controls = [{"id": c, "not_in_effect": control_state(ctx, c)} for c in fields["controls"]]
        mitigated = bool(controls) and all(c["not_in_effect"] is None for c in controls)
        evaluation = evaluate_threat(plan, fields) if plan is not None else None
        credited = None if evaluation is None else evaluation["residual" if mitigated else "initial"]
        found[node["id"]] = {"controls": controls, "mitigated": mitigated, "evaluation": evaluation,
                             "credited": credited}
    return found
