"""What the regulatory wrapper's documents show, computed from the trace graph (issue 19 item 7):
the GSPR checklist (MDR Annex II 4), the IEC 62304 conformity matrix, the device description
(Annex II 1) and the instructions for use (Annex II 2, Annex I 23.4).

Data first, like :mod:`.security`: plain rows for the templates. Each evidence reference's state
is the gate's own judgement (:func:`device_ai.regulatory.submission.assess` on
:func:`device_ai.regulatory.check.gate_context`), so a page never shows evidence as in effect, or
a clause as shown, that ``trace check`` lists as open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from device_ai.regulatory.check import gate_context
from device_ai.regulatory.items import id_prefix
from device_ai.regulatory.render.control import DOCUMENT_IDS, MODEL_CARD_FILE
from device_ai.regulatory.render.documents import anchor, fields
from device_ai.regulatory.render.view import TraceView
from device_ai.regulatory.submission import assess

#: The package document where each kind of evidence item has its row.
EVIDENCE_PAGES: Mapping[str, str] = {
    "SRS": "trace-requirements.html", "UN": "trace-requirements.html", "RC": "risk-report.html",
    "RISK": "risk-report.html", "THR": "security-risk.html", "IF": "security-architecture.html",
    "SOUP": "trace-soup.html", "ANOM": "release-notes.html", "MODEL": MODEL_CARD_FILE, "SI": "architecture.html",
}
_DOCUMENT_FILES = {doc_id: name for name, doc_id in DOCUMENT_IDS.items()}


def _href(ref: str) -> str:
    if ref in _DOCUMENT_FILES:
        return _DOCUMENT_FILES[ref]
    return f"{EVIDENCE_PAGES.get(id_prefix(ref) or '', '')}#{anchor(ref)}"


def _evidence(view: TraceView, assessed: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in assessed:
        node = view.get(str(e["id"])) or {}
        title = fields(node).get("title") if not e["document"] else _DOCUMENT_FILES.get(str(e["id"]))
        rows.append({**e, "href": _href(str(e["id"])), "title": title, "in_effect": e["not_in_effect"] is None})
    return rows


def _assessed(view: TraceView) -> dict[str, dict[str, Any]]:
    return assess(gate_context(view.graph, head=view.head))


def gspr(view: TraceView) -> dict[str, Any]:
    """The GSPR checklist: every row with its evidence states."""
    assessed = _assessed(view)
    rows = []
    for node in view.of("gspr"):
        gid = str(node["id"])
        a = assessed[gid]
        rows.append({"id": gid, **fields(node), "state": a["state"] if fields(node).get("applicable")
                     else "not applicable", "evidence": _evidence(view, a["evidence"])})
    return {"rows": rows, "counts": dict(sorted(Counter(r["state"] for r in rows).items()))}


def conformity(view: TraceView) -> dict[str, Any]:
    """The IEC 62304 conformity matrix: every clause with the gate's state of the row."""
    assessed = _assessed(view)
    safety = view.graph.get("safety_class")
    rows = []
    for node in view.of("iec62304_clause"):
        cid = str(node["id"])
        a = assessed[cid]
        rows.append({"id": cid, "clause": cid.removeprefix("C62304-"), **fields(node), "required": a["required"],
                     "state": a["state"], "evidence": _evidence(view, a["evidence"])})
    required = [r for r in rows if r["required"]]
    return {"rows": rows, "safety_class": safety,
            "stated": dict(sorted(Counter(str(r["status"]) for r in required).items())),
            "states": dict(sorted(Counter(r["state"] for r in required).items())),
            "required": len(required)}


def device(view: TraceView) -> dict[str, Any]:
    """The device description and IFU content with each variant's identity from its model node."""
    nodes = view.of("device_description")
    if not nodes:
        return {}
    f = dict(fields(nodes[0]))
    variants = []
    for mid in f.get("variants", []):
        m = fields(view.get(str(mid)))
        variants.append({"id": mid, "name": m.get("name"), "version": m.get("version"), "package": m.get("package"),
                         "manifest_sha256": m.get("manifest_sha256"), "intended_use": m.get("intended_use"),
                         "clinical_use": m.get("clinical_use")})
    f["variant_rows"] = variants
    f["label_rows"] = label_rows(view, f.get("label") or [])
    return f


#: What each form of a label particular is called on the page.
LABEL_STATES: Mapping[str, str] = {"value": "given", "value_from": "given", "not_defined": "not defined",
                                   "not_applicable": "not applicable"}


def label_rows(view: TraceView, label: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The label content (MDR Annex I 23.2) as the package states it: a value the package fills in
    (``value_from``: the software version of the graph's build) is resolved here, so the page shows
    the version the package was built with, never one typed by hand."""
    sources = {"software_version": view.software_version}
    rows = []
    for particular in label:
        form = next(name for name in LABEL_STATES if particular.get(name))
        text = sources[particular["value_from"]] if form == "value_from" else particular[form]
        rows.append({"point": particular["point"], "item": particular["item"], "state": LABEL_STATES[form],
                     "text": text, "from_package": form == "value_from"})
    return rows
