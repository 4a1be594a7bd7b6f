"""A typed, read-only view of the trace graph for the renderers (IEC 62304 5.1.1 c, 5.7.4, 7.3.3).

The graph (``device-ai trace build``, :mod:`device_ai.regulatory.graph`) is the only input of the
documents: this view indexes its nodes by kind and ID and its edges in both directions, and
answers the questions the documents ask ("which tests verify SRS-012?", "which controls does
RISK-004 rely on?"). It checks the shape it relies on once, so a graph of another schema is a
typed error rather than a template crash.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from device_ai.errors import TraceabilityError
from device_ai.regulatory.graph import SCHEMA
REQUIRED_KEYS = ("schema", "generator", "head", "nodes", "edges", "runs", "documents", "environment")

# edge kinds of the graph, source -> target
SATISFIES = "satisfies"  # requirement -> user need
ALLOCATED = "allocated_to"  # requirement -> software item
VERIFIES = "verifies"  # test -> requirement
CONTROLLED_BY = "controlled_by"  # hazardous situation -> risk control
IMPLEMENTED_BY = "implemented_by"  # risk control -> requirement
CAUSED_BY = "caused_by"  # hazardous situation -> hazard
USED_BY = "used_by"  # SOUP -> software item
RELATED_RISK = "related_risk"  # SOUP -> hazardous situation
RELATES_TO = "relates_to"  # anomaly -> requirement / hazardous situation
PART_OF = "part_of"  # software item -> software item


@dataclass(frozen=True)
class TraceView:
    """Indexes over one trace graph; never modifies it."""

    graph: Mapping[str, Any]
    nodes: Mapping[str, Mapping[str, Any]]
    by_kind: Mapping[str, Sequence[Mapping[str, Any]]]
    _out: Mapping[tuple[str, str], Sequence[str]] = field(repr=False)
    _in: Mapping[tuple[str, str], Sequence[str]] = field(repr=False)

    @classmethod
    def from_graph(cls, graph: Mapping[str, Any]) -> TraceView:
        """Index ``graph``; a :class:`TraceabilityError` when it is not a trace graph of this schema."""
        if not isinstance(graph, Mapping):
            raise TraceabilityError("the trace graph is not a JSON object", hint="rebuild it: device-ai trace build")
        missing = [key for key in REQUIRED_KEYS if key not in graph]
        if graph.get("schema") != SCHEMA or missing:
            raise TraceabilityError(
                f"not a trace graph of schema {SCHEMA} (schema {graph.get('schema')!r}, missing {missing or 'nothing'})",
                hint="rebuild it with this software version: device-ai trace build",
            )
        nodes: dict[str, Mapping[str, Any]] = {}
        by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for node in graph["nodes"]:
            if not isinstance(node, Mapping) or "id" not in node or "kind" not in node:
                raise TraceabilityError(f"malformed node in the trace graph: {str(node)[:80]}",
                                        hint="rebuild it: device-ai trace build")
            nodes[str(node["id"])] = node
            by_kind[str(node["kind"])].append(node)
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        inc: dict[tuple[str, str], list[str]] = defaultdict(list)
        for edge in graph["edges"]:
            try:
                kind, source, target = str(edge["kind"]), str(edge["source"]), str(edge["target"])
            except (KeyError, TypeError) as exc:
                raise TraceabilityError(f"malformed edge in the trace graph: {str(edge)[:80]}",
                                        hint="rebuild it: device-ai trace build") from exc
            out[(kind, source)].append(target)
            inc[(kind, target)].append(source)
        for index in (out, inc):
            for key in index:
                index[key] = sorted(set(index[key]))
        ordered = {kind: sorted(items, key=lambda n: _id_key(str(n["id"]))) for kind, items in by_kind.items()}
        return cls(graph, nodes, ordered, dict(out), dict(inc))

    # --- lookups
    def of(self, kind: str) -> Sequence[Mapping[str, Any]]:
        """Nodes of one kind, ordered by ID (numeric parts compared as numbers)."""
        return self.by_kind.get(kind, ())

    def get(self, node_id: str) -> Mapping[str, Any] | None:
        return self.nodes.get(node_id)

    def targets(self, kind: str, source: str) -> list[str]:
        """IDs that ``source`` points to by edges of ``kind``."""
        return list(self._out.get((kind, source), ()))

    def sources(self, kind: str, target: str) -> list[str]:
        """IDs that point to ``target`` by edges of ``kind``."""
        return list(self._in.get((kind, target), ()))

    # --- facts the documents share
    @property
    def head(self) -> str | None:
        return (self.graph.get("head") or {}).get("commit")

    @property
    def software_version(self) -> str:
        return str((self.graph.get("generator") or {}).get("version", "unknown"))

    @property
    def runs(self) -> Sequence[Mapping[str, Any]]:
        return self.graph.get("runs") or ()

    def current_runs(self) -> list[Mapping[str, Any]]:
        """Runs recorded on the graph's head commit (the only ones that count as evidence)."""
        return [run for run in self.runs if self.head and (run.get("header") or {}).get("git", {}).get("commit") == self.head]

    def recorded_date(self) -> str | None:
        """The newest recorded run date (a recorded input, never the wall clock)."""
        dates = sorted(str((run.get("header") or {}).get("date_utc")) for run in self.runs
                       if (run.get("header") or {}).get("date_utc"))
        return dates[-1] if dates else None

    def status(self, node_id: str) -> str | None:
        node = self.nodes.get(node_id)
        return None if node is None else (node.get("fields") or {}).get("status")

    def verdict(self, requirement_id: str) -> str:
        """``verified | failed | not_verified | no_tests`` (``planned`` etc. when not approved)."""
        node = self.nodes.get(requirement_id) or {}
        status = (node.get("fields") or {}).get("status")
        if status and status != "approved":
            return status
        return str((node.get("verification") or {}).get("status", "no_tests"))

    def test_outcome(self, test_id: str) -> str:
        """The outcome of a test on the head commit (``not run`` / ``stale`` when there is none)."""
        node = self.nodes.get(test_id) or {}
        current = {str(run["id"]) for run in self.current_runs()}
        outcomes = sorted({str(r["outcome"]) for r in node.get("results", ()) if str(r.get("run")) in current})
        if not outcomes:
            return "stale" if node.get("results") else "not run"
        for worst in ("error", "failed", "passed", "xfailed", "xpassed", "skipped"):
            if worst in outcomes:
                return worst
        return outcomes[0]

    def control_verdict(self, control_id: str) -> str:
        """A risk control is ``verified`` when every implementing requirement is verified."""
        node = self.nodes.get(control_id) or {}
        if (node.get("fields") or {}).get("status") != "approved":
            return str((node.get("fields") or {}).get("status", "unknown"))
        verdicts = [self.verdict(r) for r in self.targets(IMPLEMENTED_BY, control_id)]
        if not verdicts:
            return "not implemented"
        if all(v == "verified" for v in verdicts):
            return "verified"
        return "failed" if "failed" in verdicts else "not_verified"

    def evaluation(self, situation_id: str) -> Mapping[str, Any]:
        node = self.nodes.get(situation_id) or {}
        return node.get("evaluation") or {}


def _id_key(item_id: str) -> tuple[Any, ...]:
    """Sort key: ``SRS-9`` before ``SRS-10``; text parts compared as text."""
    key: list[Any] = []
    number = ""
    text = ""
    for char in item_id:
        if char.isdigit():
            if text:
                key.append((1, text))
                text = ""
            number += char
        else:
            if number:
                key.append((0, int(number)))
                number = ""
            text += char
    if number:
        key.append((0, int(number)))
    if text:
        key.append((1, text))
    return tuple(key)
