"""The trace graph is typed, complete and byte-reproducible (SRS-042)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from device_ai.regulatory.graph import graph_json, write_graph
from tests.regulatory.miniproject import (
    TEST_A,
    TEST_B,
    build,
    default_items,
    passing_results,
    write_project,
    write_results,
)


@pytest.mark.req("SRS-042")
def test_two_builds_give_identical_bytes(root: Path) -> None:
    results = write_results(root, passing_results())
    first = write_graph(build(root, results), root / "trace" / "one.json").read_bytes()
    second = write_graph(build(root, results), root / "trace" / "two.json").read_bytes()
    assert first == second
    assert first.decode("utf-8") == graph_json(json.loads(first))  # canonical: sorted keys, fixed layout


@pytest.mark.req("SRS-042")
def test_no_wall_clock_only_recorded_dates(root: Path) -> None:
    text = graph_json(build(root, write_results(root, passing_results(), date="2026-01-02T03:04:05Z")))
    stamps = set(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text))
    assert stamps == {"2026-01-02T03:04:05Z", "2026-11-30T00:00:00Z"}  # the run's date, the reviews' date


@pytest.mark.req("SRS-042")
def test_order_of_items_in_the_yaml_does_not_matter(root: Path) -> None:
    results = write_results(root, passing_results())
    before = build(root, results)
    items = default_items()
    items["traceability/requirements.yaml"]["software_requirements"].reverse()
    items["traceability/requirements.yaml"]["software_requirements"] = [
        dict(reversed(list(req.items()))) for req in items["traceability/requirements.yaml"]["software_requirements"]]
    write_project(root, items)
    after = build(root, results)

    def without_sources(graph: dict) -> str:
        for node in graph["nodes"]:
            node["source"] = None
        return graph_json(graph)

    assert without_sources(before) == without_sources(after)


@pytest.mark.req("SRS-042")
def test_graph_holds_items_tests_runs_and_verdicts(root: Path) -> None:
    graph = build(root, write_results(root, passing_results()))
    assert graph["schema"] == "device-ai/trace-graph/1" and graph["safety_class"] == "B"
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert [n["kind"] for n in graph["nodes"]] == sorted(n["kind"] for n in graph["nodes"])
    srs = nodes["SRS-001"]
    assert srs["kind"] == "requirement" and srs["source"] == "traceability/requirements.yaml:2"
    assert len(srs["fingerprint"]) == 64 and srs["review"]["by"] == "Rev Iewer"
    assert srs["verification"] == {"status": "verified", "passed": [TEST_A], "failed": [], "not_evidence": []}
    (run,) = graph["runs"]
    assert nodes[TEST_B]["results"] == [{"run": run["id"], "outcome": "passed", "duration_s": 0.01, "message": None}]
    assert run["header"]["git"]["commit"] == graph["head"]["commit"] and run["header"]["tester"] == "Test Er"
    assert nodes["RISK-001"]["evaluation"]["initial"] == {"severity": "S3", "p1": "P3", "p2": "P3", "p": "P3",
                                                          "acceptability": "unacceptable"}
    assert nodes["RISK-001"]["evaluation"]["residual"]["acceptability"] == "alara"
    kinds = {(e["kind"], e["source"], e["target"]) for e in graph["edges"]}
    assert {("verifies", TEST_A, "SRS-001"), ("implemented_by", "RC-001", "SRS-002"),
            ("controlled_by", "RISK-001", "RC-001"), ("caused_by", "RISK-001", "HAZ-001"),
            ("satisfies", "SRS-001", "UN-001"), ("allocated_to", "SRS-001", "SI-CORE"),
            ("used_by", "SOUP-numpy", "SI-CORE"), ("evaluated_against", "RISK-001", "RISK-PLAN")} <= kinds
    assert graph["edges"] == sorted(graph["edges"], key=lambda e: (e["kind"], e["source"], e["target"]))
    assert graph["environment"]["runtime_requirements"] == ["numpy"]
    docs = {d["id"]: d for d in graph["documents"]}
    assert docs["DOC-ARCH"]["found"] == ["docs/architecture.md", "traceability/software_items.yaml"]
