"""Gate rules of the regulatory wrapper (``submission/``; issue 19 item 7): the GSPR checklist
(MDR Annex I, Annex II 4) and the IEC 62304 conformity matrix, and the state of each evidence
reference as the gate judges it.

Each rule reads the checked graph (``check._Context``) and yields ``(section, item, topic,
message)``, as :mod:`.security` does; :mod:`.check` turns them into findings. A row is *required*
when it is an applicable GSPR, or an IEC 62304 clause whose ``classes`` include the software
system's safety class (the graph's ``safety_class``).

1. **row without evidence** (SRS-205): a required row that names no evidence is a gap in every
   run ("the gate fails on a row without evidence"); so is a clause the system's class needs that
   the matrix marks ``not_applicable``.
2. **evidence not in effect** (SRS-206): a required row whose evidence names an item that is not
   in effect on this commit (:func:`evidence_state`: a requirement approved and verified, a risk
   control approved with every approved implementing requirement verified, as the risk file judges
   it (:func:`.overclaim.control_gap` through :func:`.security.control_state`), a threat whose
   controls are all in effect,
   a hazardous situation whose controls are all in effect, a user need approved) is open, naming
   why, and a gap with ``--release``.
3. **conformity claim** (SRS-207): an IEC 62304 row the class needs that says ``conforms`` while
   any of its evidence is not in effect claims conformity the graph does not show; a row that says
   ``partial`` or ``not_conforming`` is a non-conformity. Both are open, and gaps with ``--release``.

Dangling evidence (an item that does not exist, a ``DAI-DOC`` ID that is not a package document,
or that names a document the package writes only with an option, such as ``diff.html``) is refused
when the items are loaded (:mod:`.loader`, SRS-204).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from device_ai.regulatory.security import control_state
from device_ai.regulatory.submission_items import DOCUMENT_ID

Raw = tuple[str, str, str, str]


def _release_or_open(ctx: Any) -> tuple[str, str]:
    return ("gap", "") if ctx.release else ("open", " (a gap with --release)")


def evidence_state(ctx: Any, ref: str) -> str | None:
    """Why the evidence ``ref`` is not in effect on the checked commit, None when it is.

    A package document (``DAI-DOC-...``) is in effect: the loader checked it is one of the
    documents every package writes (not one written only with an option, such as diff.html), and
    the package renders it from this graph. Software items, SOUP, security
    interfaces, anomalies and model packages are records: in effect when they exist."""
    if DOCUMENT_ID.fullmatch(ref):
        return None
    node = ctx.nodes.get(ref)
    if node is None:
        return f"{ref} does not exist"
    kind, fields = node["kind"], node["fields"]
    if kind in ("requirement", "risk_control"):
        return control_state(ctx, ref)
    if kind == "user_need":
        return None if fields["status"] == "approved" else f"{ref} is {fields['status']}"
    if kind in ("threat", "hazardous_situation"):
        controls = list(fields.get("controls") or [])
        if kind == "threat" and not controls:
            return f"{ref} has no control"
        reasons = [r for r in (control_state(ctx, c) for c in controls) if r]
        return f"{ref} relies on controls not in effect ({'; '.join(reasons)})" if reasons else None
    return None


def _required(ctx: Any, node: Mapping[str, Any]) -> bool:
    fields = node["fields"]
    if node["kind"] == "gspr":
        return bool(fields["applicable"])
    return ctx.graph["safety_class"] in fields["classes"]


def _rows(ctx: Any) -> list[dict[str, Any]]:
    return sorted((*ctx.of_kind("gspr"), *ctx.of_kind("iec62304_clause")), key=lambda n: (n["kind"], n["id"]))


def _topic(node: Mapping[str, Any]) -> str:
    return "GSPR checklist" if node["kind"] == "gspr" else "IEC 62304 conformity"


def rows_without_evidence(ctx: Any) -> Iterator[Raw]:
    for node in _rows(ctx):
        if not _required(ctx, node):
            continue
        fields = node["fields"]
        if node["kind"] == "iec62304_clause" and fields["status"] == "not_applicable":
            yield ("gap", node["id"], _topic(node), f"marked not applicable, but the system's class "
                   f"{ctx.graph['safety_class']} needs this clause (classes {', '.join(fields['classes'])})")
        if not fields["evidence"]:
            what = "applicable" if node["kind"] == "gspr" else f"needed for class {ctx.graph['safety_class']}"
            yield ("gap", node["id"], _topic(node), f"{what} and names no evidence: name the items or package "
                   "documents that show it in submission/")


def evidence_not_in_effect(ctx: Any) -> Iterator[Raw]:
    section, suffix = _release_or_open(ctx)
    for node in _rows(ctx):
        if not _required(ctx, node):
            continue
        reasons = [r for r in (evidence_state(ctx, e) for e in node["fields"]["evidence"]) if r]
        if reasons:
            yield (section, node["id"], _topic(node), "evidence not in effect on this commit: " + "; ".join(reasons)
                   + suffix)


def conformity_claims(ctx: Any) -> Iterator[Raw]:
    section, suffix = _release_or_open(ctx)
    for node in _rows(ctx):
        if node["kind"] != "iec62304_clause" or not _required(ctx, node):
            continue
        fields = node["fields"]
        status = fields["status"]
        if status == "conforms":
            reasons = [r for r in (evidence_state(ctx, e) for e in fields["evidence"]) if r]
            if reasons:
                yield (section, node["id"], "IEC 62304 conformity", "says conforms, but the graph does not show it: "
                       + "; ".join(reasons) + suffix)
        elif status in ("partial", "not_conforming"):
            yield (section, node["id"], "IEC 62304 conformity", f"{status.replace('_', ' ')}: {fields['note']}{suffix}")


RULES = (rows_without_evidence, evidence_not_in_effect, conformity_claims)

#: The state of a clause the system's class needs that the matrix marks not_applicable: a gap.
NEEDED_NOT_APPLICABLE = "marked not applicable, but needed"


def assess(ctx: Any) -> dict[str, dict[str, Any]]:
    """Every GSPR and IEC 62304 row as the documents show it, by ID: whether the row is required,
    each evidence reference with why it is not in effect (None when it is), and the row's state as
    the gate judges it: :data:`NEEDED_NOT_APPLICABLE` (a clause the class needs that the matrix
    marks not_applicable), ``no evidence``, ``evidence not in effect``, ``not shown`` (a conformity
    claimed that the graph does not show), the row's own status, ``shown, with open points`` (a GSPR
    whose evidence is in effect but that names what it does not show yet), or ``shown``."""
    found: dict[str, dict[str, Any]] = {}
    for node in _rows(ctx):
        fields = node["fields"]
        required = _required(ctx, node)
        evidence = [{"id": e, "document": bool(DOCUMENT_ID.fullmatch(e)), "not_in_effect": evidence_state(ctx, e)}
                    for e in fields["evidence"]]
        in_effect = all(e["not_in_effect"] is None for e in evidence)
        if not required:
            state = "not required"
        elif node["kind"] == "iec62304_clause" and fields["status"] == "not_applicable":
            state = NEEDED_NOT_APPLICABLE  # a gap in every run (rows_without_evidence), never a neutral state
        elif not evidence:
            state = "no evidence"
        elif node["kind"] == "iec62304_clause" and fields["status"] != "conforms":
            state = fields["status"].replace("_", " ")
        elif not in_effect:
            state = "not shown" if node["kind"] == "iec62304_clause" else "evidence not in effect"
        elif node["kind"] == "gspr" and fields.get("open_points"):
            state = "shown, with open points"
        else:
            state = "shown"
        found[node["id"]] = {"required": required, "evidence": evidence, "in_effect": in_effect, "state": state}
    return found
