"""Gate rule of the production and post-production plan (ISO 14971 10; SRS-227).

The rule reads the checked graph (``check._Context``) and yields ``(section, item, topic,
message)``, as :mod:`.security` does:

- no plan (``risk/post_production.yaml`` absent) is a gap with ``--release`` and open otherwise;
- a plan missing a part (:func:`missing_parts`: a kind of source, review criterion or action that
  clause 10 needs, or a vulnerabilities source that does not refer to the security plan's
  monitoring) is a gap in every run, naming each part.

Fields missing from a source, criterion or action, unknown fields, and roles that are not the
plan's are refused when the items are loaded (:mod:`.loader`), with ``file:line``. Whether the plan
is *in effect* is not a rule of its own: the risk management review (:mod:`.risk_review`) judges it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from device_ai.regulatory.post_production_items import (
    REQUIRED_ACTIONS,
    REQUIRED_CRITERIA,
    REQUIRED_SOURCES,
    SECURITY_PLAN_FILE,
    PostProductionPlan,
)

Raw = tuple[str, str, str, str]
PLAN_ID = PostProductionPlan.id
PLAN_FILE = "risk/post_production.yaml"


def missing_parts(fields: Mapping[str, Any], *, security_plan: bool) -> list[str]:
    """The parts clause 10 needs that the plan (its fields as in the graph) lacks, in plan order.
    ``security_plan``: whether the project holds the security plan (its SECURITY-PLAN item) that a
    vulnerabilities source refers to; a reference to a file that holds none refers to no
    monitoring (review 129 defect 3)."""
    missing = []
    for name, required, label in (("sources", REQUIRED_SOURCES, "source"),
                                  ("review_criteria", REQUIRED_CRITERIA, "review criterion"),
                                  ("actions", REQUIRED_ACTIONS, "action")):
        present = {str(entry.get("kind")) for entry in fields.get(name) or []}
        missing.extend(f"{label} {kind} ({what})" for kind, what in required.items() if kind not in present)
    vulnerabilities = [s for s in fields.get("sources") or [] if s.get("kind") == "vulnerabilities"]
    if vulnerabilities and not any(SECURITY_PLAN_FILE in (s.get("references") or []) for s in vulnerabilities):
        missing.append(f"the vulnerabilities source refers to {SECURITY_PLAN_FILE} (its monitoring, not repeated)")
    elif vulnerabilities and not security_plan:
        missing.append(f"the security plan the vulnerabilities source refers to ({SECURITY_PLAN_FILE} holds no "
                       "security_plan, so no vulnerability monitoring)")
    return missing


def has_security_plan(ctx: Any) -> bool:
    """Whether the checked graph holds the security plan (SECURITY-PLAN)."""
    return next(ctx.of_kind("security_plan"), None) is not None


def plan_node(ctx: Any) -> dict[str, Any] | None:
    return next(ctx.of_kind(PostProductionPlan.KIND), None)


def plan_present(ctx: Any) -> Iterator[Raw]:
    node = plan_node(ctx)
    if node is None:
        yield ("gap" if ctx.release else "open", PLAN_ID, "post-production plan",
               f"no production and post-production plan ({PLAN_FILE}; ISO 14971 10)"
               + ("" if ctx.release else " (a gap with --release)"))
        return
    missing = missing_parts(node["fields"], security_plan=has_security_plan(ctx))
    if missing:
        yield ("gap", PLAN_ID, "post-production plan", "missing part(s) (ISO 14971 10): " + "; ".join(missing))


RULES = (plan_present,)
