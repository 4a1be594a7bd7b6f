"""Differences between two trace graphs: the baseline diff of a submission package.

Items are compared by ID and fingerprint (the fields that carry meaning, :mod:`.fingerprint`),
tests by the requirements they verify; verdicts are compared separately: a requirement's
verification, a test's outcome on its graph's head commit, a risk control's verification and a
hazardous situation's residual acceptability (IEC 62304 8.2.3, 9.8 regression; ISO 14971 7.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from device_ai.regulatory.render.documents import anchor, fields
from device_ai.regulatory.render.view import TraceView


def _signature(node: Mapping[str, Any]) -> Any:
    if node.get("kind") == "test":
        return sorted(fields(node).get("requirements", []))
    return node.get("fingerprint") or fields(node)


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = fields(old), fields(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _verdict(view: TraceView, node: Mapping[str, Any]) -> str | None:
    node_id, kind = str(node["id"]), node.get("kind")
    if kind == "requirement":
        return view.verdict(node_id)
    if kind == "test":
        return view.test_outcome(node_id)
    if kind == "risk_control":
        return view.control_verdict(node_id)
    if kind == "hazardous_situation":
        return str((view.evaluation(node_id).get("residual") or {}).get("acceptability"))
    return None


def diff_graphs(old: TraceView, new: TraceView) -> dict[str, Any]:
    """``{"added", "removed", "changed", "verdicts", "baseline", "current"}``, each list sorted by kind and ID."""
    old_ids, new_ids = set(old.nodes), set(new.nodes)

    def row(view: TraceView, node_id: str) -> dict[str, Any]:
        node = view.nodes[node_id]
        f = fields(node)
        return {"id": node_id, "anchor": anchor(node_id), "kind": node.get("kind"),
                "title": f.get("title") or f.get("package") or f.get("situation") or f.get("file") or ""}

    def order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda r: (str(r["kind"]), str(r["id"])))

    added = order([row(new, i) for i in new_ids - old_ids])
    removed = order([row(old, i) for i in old_ids - new_ids])
    changed, verdicts = [], []
    for node_id in sorted(old_ids & new_ids):
        a, b = old.nodes[node_id], new.nodes[node_id]
        if _signature(a) != _signature(b):
            changed.append({**row(new, node_id), "fields": _changed_fields(a, b)})
        before, after = _verdict(old, a), _verdict(new, b)
        if before != after:
            verdicts.append({**row(new, node_id), "before": before, "after": after})
    return {"added": added, "removed": removed, "changed": order(changed), "verdicts": order(verdicts),
            "baseline": {"commit": old.head, "version": old.software_version},
            "current": {"commit": new.head, "version": new.software_version}}
