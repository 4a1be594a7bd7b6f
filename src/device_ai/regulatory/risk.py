"""Risk evaluation against the plan's acceptability policy (ISO 14971 4.4 d, 5.5, 7.1, 7.3).

Works on plain data (the plan's fields as in the trace graph), so ``trace check`` can evaluate a
graph without the YAML. The combined probability of harm is the plan's ``p_combination`` table
(ISO 14971 annex C: P from P1 and P2); acceptability is ``acceptability[severity][P]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ORDER = ("acceptable", "alara", "unacceptable")


def combined_probability(plan: Mapping[str, Any], p1: str, p2: str) -> str:
    """P for P1 and P2, looked up in the plan's ``p_combination`` table."""
    return str(plan["p_combination"][p1][p2])


def evaluate(plan: Mapping[str, Any], severity: str, p1: str, p2: str) -> dict[str, str]:
    """``{"severity", "p1", "p2", "p", "acceptability"}`` for one estimate."""
    p = combined_probability(plan, p1, p2)
    return {"severity": severity, "p1": p1, "p2": p2, "p": p, "acceptability": str(plan["acceptability"][severity][p])}


def evaluate_situation(plan: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Initial and residual risk of a hazardous situation (its fields as in the graph)."""
    initial = evaluate(plan, fields["severity"], fields["p1"], fields["p2"])
    residual_fields = fields.get("residual")
    residual = evaluate(plan, fields["severity"], residual_fields["p1"], residual_fields["p2"]) if residual_fields else initial
    return {"initial": initial, "residual": residual}


def probability_rank(p: str) -> int:
    """The rank of a probability level (``P1`` lowest), by its number."""
    return int(p.lstrip("P"))
