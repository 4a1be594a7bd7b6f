"""A small, complete device file written into a temporary folder, for the trace engine's tests.

``write_project`` writes items whose gate passes once ``write_results`` records passing tests for
SRS-001 and SRS-002 on ``HEAD`` and ``baseline`` has reviewed everything. Tests then break one
thing at a time. Nothing here reads the real repository's items.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

from device_ai.regulatory.records import run_header

HEAD = "a" * 40
OTHER = "b" * 40
RUNTIME = ("numpy",)
TEST_A = "tests/test_core.py::test_core"
TEST_B = "tests/test_safety.py::test_refuses[case0]"

PLAN: dict[str, Any] = {
    "scope": "The mini device.",
    "responsibilities": [{"role": "RA", "duty": "Owns the file."}],
    "severity": [{"level": f"S{i}", "name": f"S{i}", "description": f"severity {i}"} for i in (1, 2, 3)],
    "p1": [{"level": f"P{i}", "name": f"P{i}", "description": f"p1 {i}"} for i in (1, 2, 3)],
    "p2": [{"level": f"P{i}", "name": f"P{i}", "description": f"p2 {i}"} for i in (1, 2, 3)],
    # P = the lower of P1 and P2 (a table: the rule is data).
    "p_combination": {f"P{a}": {f"P{b}": f"P{min(a, b)}" for b in (1, 2, 3)} for a in (1, 2, 3)},
    "acceptability": {
        "S1": {"P1": "acceptable", "P2": "acceptable", "P3": "acceptable"},
        "S2": {"P1": "acceptable", "P2": "alara", "P3": "unacceptable"},
        "S3": {"P1": "alara", "P2": "unacceptable", "P3": "unacceptable"},
    },
    "overall_residual_risk_criteria": "All residual risks acceptable or ALARA with a rationale.",
    "verification_of_controls": "Each control is implemented by a requirement verified by a passing test.",
}


#: A complete production and post-production plan in effect (ISO 14971 10): one source of each kind,
#: every review criterion and action; the vulnerabilities source refers to the security plan's file.
POST_PRODUCTION: dict[str, Any] = {
    "scope": "Production and post-production of the mini device.",
    "in_effect": True,
    "state": "In effect since release 1.0.",
    "responsibilities": [{"role": "RA", "duty": "Collects and reviews."}],
    "sources": [{"kind": kind, "information": f"{kind} information", "collected_by": "RA", "reviewed": "monthly",
                 **({"references": ["security/plan.yaml"]} if kind == "vulnerabilities" else {})}
                for kind in ("production", "complaints", "service", "device_records", "field_performance",
                             "vulnerabilities", "literature", "state_of_the_art")],
    "review_criteria": [{"kind": kind, "text": f"when {kind}"} for kind in (
        "new_hazard", "changed_probability", "residual_not_acceptable", "outside_validated_range",
        "state_of_the_art_changed")],
    "actions": [{"kind": kind, "text": f"do {kind}", "decided_by": "RA"} for kind in (
        "update_risk_file", "capa", "field_safety_notice", "model_withdrawal")],
    "records": "In the risk management file.",
}


SECURITY_PLAN: dict[str, Any] = {
    "scope": "The mini device's interfaces.",
    "impact": [{"level": f"I{i}", "name": f"I{i}", "description": f"impact {i}"} for i in (1, 2, 3)],
    "exploitability": [{"level": f"E{i}", "name": f"E{i}", "description": f"exploitability {i}"} for i in (1, 2, 3)],
    "acceptability": {
        "I1": {"E1": "acceptable", "E2": "acceptable", "E3": "acceptable"},
        "I2": {"E1": "acceptable", "E2": "alara", "E3": "unacceptable"},
        "I3": {"E1": "alara", "E2": "unacceptable", "E3": "unacceptable"},
    },
    "monitoring": "Advisories of every SBOM component, monthly.",
    "disclosure": "Reports to the security contact, acknowledged in 5 days.",
    "assessment": "Against the scales of this plan.",
    "timelines": [{"vulnerability": "Uncontrolled", "assess_within": "5 days", "fix_within": "60 days",
                   "communicate": "30 days"}],
    "update_paths": [{"component": "Mini software", "assets": ["ASSET-MODEL"], "how": "A new wheel.",
                      "integrity": "SHA-256 published.", "who": "The manufacturer.", "verification": "--version"}],
    "end_of_support": "24 months after the next release.",
    "testing": [{"title": "Fuzzing", "method": "Mutated inputs.", "interfaces": ["IF-FILES"],
                 "requirements": ["SRS-002"]}],
}


def interface(if_id: str, modules: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": if_id, "title": f"Interface {if_id}", "description": "Files in.", "direction": "in",
            "channel": "file system", "peer": "the operator", "trust_boundary": "untrusted files",
            "authentication": "none", "modules": modules or ["mini.core"], "assets": ["ASSET-MODEL"], **extra}


def threat(thr_id: str, interface_id: str = "IF-FILES", controls: list[str] | None = None, **extra: Any) -> dict:
    controls = ["RC-001"] if controls is None else controls
    found = {"id": thr_id, "title": f"Threat {thr_id}", "interface": interface_id, "stride": "tampering",
             "assets": ["ASSET-MODEL"], "attack": "A crafted file.", "controls": controls, "impact": "I2",
             "exploitability": "E3", "multi_patient": False}
    if controls:
        found["residual_exploitability"] = "E1"
    found.update(extra)
    return found


def requirement(req_id: str, status: str = "approved", **extra: Any) -> dict[str, Any]:
    return {"id": req_id, "title": f"Requirement {req_id}", "text": f"The device shall do {req_id}.",
            "status": status, "category": "functional", "satisfies": ["UN-001"], "software_items": ["SI-CORE"], **extra}


def default_items() -> dict[str, Any]:
    """The file contents of a mini project, as data (path -> YAML document)."""
    return {
        "traceability/user_needs.yaml": {"user_needs": [
            {"id": "UN-001", "title": "Segment", "text": "Clinicians need a segmentation.", "status": "approved",
             "stakeholder": "clinician"}]},
        "traceability/requirements.yaml": {"software_requirements": [
            requirement("SRS-001"), requirement("SRS-002", category="safety"), requirement("SRS-003", "planned")]},
        "traceability/software_items.yaml": {"software_items": [
            {"id": "SI-CORE", "title": "Core", "modules": ["mini.core"], "safety_class": "B", "rationale": "Can harm."}]},
        "traceability/soup.yaml": {"soup": [
            {"id": "SOUP-numpy", "package": "numpy", "version": ">=1.26", "purpose": "arrays", "runtime": True,
             "software_items": ["SI-CORE"], "functional_requirements": "array maths",
             "performance_requirements": "fast enough", "hardware_software_requirements": "CPython 3.11",
             "anomaly_review": "2026-11-01: no open issue affects us", "anomaly_review_state": "complete",
             "related_risks": ["RISK-001"]}]},
        "traceability/anomalies.yaml": {"anomalies": []},
        "risk/plan.yaml": {"risk_management_plan": copy.deepcopy(PLAN)},  # a test may edit its own copy
        "risk/hazards.yaml": {"hazards": [
            {"id": "HAZ-001", "title": "Wrong mask", "description": "A wrong mask is shown.", "category": "output"}]},
        "risk/hazardous_situations.yaml": {"hazardous_situations": [
            {"id": "RISK-001", "hazard": "HAZ-001", "sequence_of_events": ["bad input", "accepted"],
             "situation": "A clinician reads a wrong mask.", "harm": "Delayed diagnosis.", "severity": "S3",
             "p1": "P3", "p2": "P3", "controls": ["RC-001"], "residual": {"p1": "P1", "p2": "P3"},
             "residual_rationale": "Refusal of bad input.",
             "effectiveness": [{"controls": ["RC-001"], "reduces": ["p1"], "requirements": ["SRS-002"],
                                "measure": "12 of 12 malformed inputs refused"}]}]},
        "risk/controls.yaml": {"risk_controls": [
            {"id": "RC-001", "title": "Refuse bad input", "text": "Bad input is refused.", "type": "inherent",
             "implemented_by": ["SRS-002"], "status": "approved"}]},
        "risk/benefit.yaml": {"benefit_risk": {"benefits": "Faster reads.", "statement": "Benefits outweigh risks.",
                                               "overall_residual_risk": "Acceptable.",
                                               "overall_residual_risk_verdict": "acceptable"}},
        "risk/post_production.yaml": {"post_production_plan": copy.deepcopy(POST_PRODUCTION)},
        # a security file whose gate passes: one asset, one interface, one threat mitigated by RC-001 (approved,
        # implemented by SRS-002), and the security plan whose monitoring the vulnerabilities source refers to
        "security/assets.yaml": {"assets": [
            {"id": "ASSET-MODEL", "title": "Model", "description": "The locked model.", "objectives": ["integrity"]}]},
        "security/interfaces.yaml": {"interfaces": [interface("IF-FILES")]},
        "security/threats.yaml": {"threats": [threat("THR-001")]},
        "security/use_cases.yaml": {"security_use_cases": [
            {"id": "SUC-001", "title": "Analyse", "description": "The operator analyses files.", "actor": "operator",
             "interfaces": ["IF-FILES"]}]},
        "security/plan.yaml": {"security_plan": copy.deepcopy(SECURITY_PLAN)},
    }


def write_yaml(root: Path, rel: str, data: Any) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


#: The regulatory wrapper's files, written empty (no rows) unless the items give them: a project
#: without them fails ``trace check --release`` (documents.REGULATORY_WRAPPER; review 101 N4).
WRAPPER_STUBS = ("submission/gspr.yaml", "submission/iec62304.yaml", "submission/device.yaml")
#: The file the post-production plan refers to for vulnerability monitoring, written empty unless the
#: items give a security plan (the mini project has no security file by default).
SECURITY_PLAN_STUB = "security/plan.yaml"


def write_stub(root: Path, rel: str) -> Path:
    """An item file that holds no rows (a comment only)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# no rows in the mini project\n", encoding="utf-8")
    return path


def write_project(root: Path, items: dict[str, Any] | None = None) -> Path:
    """Write the mini project (``items`` overrides ``default_items()``) with its documents and, where
    ``items`` does not give them, the regulatory wrapper's files empty."""
    written = default_items() if items is None else items
    for rel, data in written.items():
        write_yaml(root, rel, data)
    module = root / "src/mini/core.py"  # the module the interface IF-FILES names
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text("# the mini device's code\n", encoding="utf-8")
    for doc in ("docs/software_development_plan.md", "docs/architecture.md"):
        (root / doc).parent.mkdir(parents=True, exist_ok=True)
        (root / doc).write_text("# mini\n", encoding="utf-8")
    for rel in WRAPPER_STUBS:  # the release gate needs the wrapper's files (DOC-WRAPPER); empty ones hold no rows
        if rel not in written and not (root / rel).exists():
            write_stub(root, rel)
    # the post-production plan's vulnerabilities source refers to the security plan's file (SRS-227)
    if SECURITY_PLAN_STUB not in written and not (root / SECURITY_PLAN_STUB).exists():
        write_stub(root, SECURITY_PLAN_STUB)
    return root


@functools.lru_cache(maxsize=8)
def _header(date: str) -> str:
    """run_header's fields (as JSON) for a run started at ``date``, once per process: it starts every
    external tool of the test environment to record its version and reads every installed
    distribution (about 0.3 s each time), and those do not change within a test session. The git
    fields are the caller's (``root`` only matters to run_header when it reads git, which it does not here)."""
    return json.dumps(run_header(Path("."), started_utc=date, command=["-q"], git={"commit": None, "dirty": None},
                                 env={"DEVICE_AI_TESTER": "Test Er"}))


def write_results(root: Path, outcomes: dict[str, tuple[str, list[str]]], *, commit: str = HEAD, dirty: bool = False,
                  name: str = "test-results/requirements.json", date: str = "2026-11-30T12:00:00Z") -> Path:
    """A results file as the plugin writes it: ``{node id: (outcome, [requirement IDs])}``."""
    header = {**json.loads(_header(date)), "git": {"commit": commit, "dirty": dirty}}
    results = {node: {"outcome": outcome, "duration_s": 0.01, "file": node.split("::")[0], "line": 1,
                      "requirements": reqs, "message": None} for node, (outcome, reqs) in outcomes.items()}
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": header, "results": results}, indent=1, sort_keys=True), encoding="utf-8")
    return path


def passing_results() -> dict[str, tuple[str, list[str]]]:
    return {TEST_A: ("passed", ["SRS-001"]), TEST_B: ("passed", ["SRS-002"])}


def baseline(root: Path, ids: list[str] | None = None, *, independent: bool = True) -> None:
    """Review every item (or ``ids``) at its current content; ``independent`` records the reviews as
    independent (a release needs them: the gate's 'author review only' rule)."""
    from device_ai.regulatory.loader import load_project
    from device_ai.regulatory.review import record_reviews

    record_reviews(load_project(root), ids, by="Rev Iewer", date="2026-11-30T00:00:00Z", commit=HEAD,
                   independent=independent)


def build(root: Path, *results: Path, head: str = HEAD) -> dict[str, Any]:
    from device_ai.regulatory import trace

    return trace.build(root, list(results), head=head, runtime=RUNTIME)


def gate(root: Path, *results: Path, head: str = HEAD, release: bool = False):  # noqa: ANN201 - CheckReport
    """Build the graph of the mini project with ``results`` and judge it against ``head``."""
    from device_ai.regulatory.check import check_graph

    return check_graph(build(root, *results, head=head), head=head, release=release)


def gap_lines(report) -> list[str]:  # noqa: ANN001
    return [finding.line() for finding in report.section("gap")]
