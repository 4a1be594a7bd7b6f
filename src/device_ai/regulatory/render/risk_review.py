"""What section 7 of the risk management report shows (ISO 14971 9, 10): the generated risk
management review record and the production and post-production plan (SRS-227, SRS-228).

The record is :func:`device_ai.regulatory.check.risk_management_review` of the package's graph,
the same record the release gate judges (its ``RISK-REVIEW`` finding), so the page cannot
conclude otherwise than ``trace check --release``. The plan is shown as ``risk/post_production.yaml``
states it, with the parts the gate finds missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from device_ai.regulatory.check import risk_management_review
from device_ai.regulatory.post_production import missing_parts
from device_ai.regulatory.post_production_items import REQUIRED_ACTIONS, REQUIRED_CRITERIA, REQUIRED_SOURCES
from device_ai.regulatory.render.documents import anchor, fields
from device_ai.regulatory.render.view import TraceView

#: Project files the plan refers to that the package renders as a document of its own.
REFERENCE_PAGES: Mapping[str, str] = {"security/plan.yaml": "security-plan.html"}


#: Where an open item's ID has its row or section; anything else is shown without a link.
_ON_THIS_PAGE = {"hazard", "hazardous_situation", "risk_control"}
_SECTIONS = {"RISK-PLAN": "#plan", "BENEFIT-RISK": "#benefit", "POST-PRODUCTION-PLAN": "#clause-10"}
_PAGES = {"anomaly": "release-notes.html", "requirement": "trace-requirements.html"}


def _href(view: TraceView, item: str) -> str | None:
    if item in _SECTIONS:
        return _SECTIONS[item]
    kind = str((view.get(item) or {}).get("kind"))
    if kind in _ON_THIS_PAGE:
        return f"#{anchor(item)}"
    return f"{_PAGES[kind]}#{anchor(item)}" if kind in _PAGES else None


def review(view: TraceView) -> dict[str, Any]:
    """The clause 9 record as plain data (:meth:`device_ai.regulatory.risk_review.ReviewRecord.to_json`),
    each open item with the link to its row (None where it has none)."""
    record = risk_management_review(view.graph, head=view.head).to_json()
    for question in record["questions"]:
        for entry in (*question["open_items"], *(i for c in question["criteria"] for i in c["open_items"])):
            entry["href"] = _href(view, entry["item"])
    return record


def post_production(view: TraceView) -> dict[str, Any]:
    """The clause 10 plan as it states it, with the kind names spelled out and the missing parts."""
    nodes = view.of("post_production_plan")
    if not nodes:
        return {}
    plan = dict(fields(nodes[0]))
    plan["missing"] = missing_parts(plan, security_plan=bool(view.of("security_plan")))
    plan["source_rows"] = [{**s, "what": REQUIRED_SOURCES.get(str(s["kind"]), ""),
                            "links": [{"path": r, "page": REFERENCE_PAGES.get(r)} for r in s.get("references", [])]}
                           for s in plan.get("sources", [])]
    plan["criterion_rows"] = [{**c, "what": REQUIRED_CRITERIA.get(str(c["kind"]), "")}
                              for c in plan.get("review_criteria", [])]
    plan["action_rows"] = [{**a, "what": REQUIRED_ACTIONS.get(str(a["kind"]), "")} for a in plan.get("actions", [])]
    return plan
