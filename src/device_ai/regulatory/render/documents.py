"""What each document shows, computed from the trace graph before any template runs.

One function per document returns plain rows (dicts, lists, strings) so that the templates
only lay them out. Everything is sorted; nothing reads the wall clock.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from device_ai.regulatory.render.view import (
    ALLOCATED,
    CAUSED_BY,
    CONTROLLED_BY,
    IMPLEMENTED_BY,
    PART_OF,
    RELATED_RISK,
    RELATES_TO,
    SATISFIES,
    USED_BY,
    VERIFIES,
    TraceView,
)


def anchor(node_id: str) -> str:
    """A stable HTML id for a node: item IDs as they are, tests by a digest of their node id
    (pytest node ids may hold spaces and brackets)."""
    if "::" in node_id or "/" in node_id or " " in node_id:
        return "test-" + hashlib.sha256(node_id.encode("utf-8")).hexdigest()[:16]
    return node_id


def fields(node: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (node or {}).get("fields") or {}


def _verdict_counts(view: TraceView) -> dict[str, int]:
    counts = Counter(view.verdict(str(n["id"])) for n in view.of("requirement"))
    return dict(sorted(counts.items()))


def summary(view: TraceView) -> dict[str, Any]:
    """Counts shown on the index and in the reports."""
    reqs = view.of("requirement")
    status = Counter(str(fields(n).get("status")) for n in reqs)
    outcomes = Counter(view.test_outcome(str(n["id"])) for n in view.of("test"))
    residual = Counter(str((view.evaluation(str(n["id"])).get("residual") or {}).get("acceptability", "n/a"))
                       for n in view.of("hazardous_situation"))
    return {
        "user_needs": len(view.of("user_need")),
        "requirements": len(reqs),
        "requirement_status": dict(sorted(status.items())),
        "verdicts": _verdict_counts(view),
        "tests": len(view.of("test")),
        "test_outcomes": dict(sorted(outcomes.items())),
        "hazards": len(view.of("hazard")),
        "situations": len(view.of("hazardous_situation")),
        "controls": len(view.of("risk_control")),
        "residual": dict(sorted(residual.items())),
        "soup": len(view.of("soup")),
        "software_items": len(view.of("software_item")),
        "anomalies_open": sum(1 for n in view.of("anomaly") if fields(n).get("status") == "open"),
        "runs": len(view.runs),
        "current_runs": len(view.current_runs()),
        "suspect": sorted(str(n["id"]) for n in view.graph["nodes"] if n.get("suspect_because")),
        "safety_class": view.graph.get("safety_class"),
    }


# the order in which a collapsed entry's cases decide its outcome: the worst case shows
COLLAPSE_ORDER = ("error", "failed", "xpassed", "stale", "not run", "skipped", "xfailed", "passed")


def test_function(node_id: str) -> str:
    """The test function of a pytest node id: ``file::test_f[case]`` -> ``file::test_f`` (parameter
    ids may hold anything, so the first ``[`` after the first ``::`` starts them)."""
    start = node_id.find("::")
    bracket = node_id.find("[", start) if start >= 0 else -1
    return node_id[:bracket] if bracket > 0 and node_id.endswith("]") else node_id


def _tests_of(view: TraceView, requirement_id: str) -> list[dict[str, Any]]:
    """The verifying tests of a requirement, one entry per test function: parametrized cases collapsed
    into their count and an outcome summary (the V&V report keeps every record; SRS-203)."""
    functions: dict[str, list[str]] = {}
    for test_id in view.sources(VERIFIES, requirement_id):  # sorted: a function's cases are consecutive
        functions.setdefault(test_function(test_id), []).append(test_id)
    entries = []
    for function, cases in functions.items():
        outcomes = Counter(view.test_outcome(case) for case in cases)
        ranked = sorted(outcomes, key=lambda o: (COLLAPSE_ORDER.index(o) if o in COLLAPSE_ORDER else -1, o))
        summary = ", ".join(f"{outcomes[o]} {o}" for o in ranked)
        parametrized = any(case != function for case in cases)
        file, _, name = function.partition("::")
        entries.append({"id": function, "file": file, "name": name or function, "anchor": anchor(cases[0]),
                        "outcome": ranked[0], "cases": len(cases),
                        "parametrized": parametrized, "summary": summary,
                        "result": f"{len(cases)} case{'s' if len(cases) != 1 else ''}: {summary}" if parametrized
                        else ranked[0]})
    return entries


def requirements_matrix(view: TraceView) -> dict[str, Any]:
    """User need -> requirement -> test -> result (IEC 62304 5.1.1 c, 5.7.4)."""
    rows = []
    for node in view.of("requirement"):
        rid = str(node["id"])
        f = fields(node)
        rows.append({
            "id": rid, "title": f.get("title"), "status": f.get("status"), "category": f.get("category"),
            "user_needs": view.targets(SATISFIES, rid), "sis": view.targets(ALLOCATED, rid),
            "controls": view.sources(IMPLEMENTED_BY, rid), "tests": _tests_of(view, rid),
            "verdict": view.verdict(rid), "suspect": list(node.get("suspect_because") or []),
            # a criterion changed after results were seen: shown beside the verdict, with who reviewed it independently
            "respecified": [str(c["date"]) for c in f.get("respecifications") or []],
            "independent": [str(r["by"]) for r in node.get("independent_reviews") or []],
        })
    needs = []
    for node in view.of("user_need"):
        uid = str(node["id"])
        reqs = view.sources(SATISFIES, uid)
        verdicts = Counter(view.verdict(r) for r in reqs)
        needs.append({"id": uid, "title": fields(node).get("title"), "stakeholder": fields(node).get("stakeholder"),
                      "requirements": [{"id": r, "verdict": view.verdict(r)} for r in reqs],
                      "verified": verdicts.get("verified", 0), "total": len(reqs)})
    unresolved = sorted({u for n in view.of("test") for u in fields(n).get("unresolved", [])})
    return {"rows": rows, "needs": needs, "unresolved": unresolved}


def risk_matrix(view: TraceView) -> dict[str, Any]:
    """Hazard -> hazardous situation -> risk control -> verification (ISO 14971 7; IEC 62304 7.3.3)."""
    rows = []
    for node in view.of("hazardous_situation"):
        sid = str(node["id"])
        f = fields(node)
        evaluation = view.evaluation(sid)
        controls = []
        for cid in view.targets(CONTROLLED_BY, sid):
            control = fields(view.get(cid))
            controls.append({
                "id": cid, "title": control.get("title"), "type": control.get("type"), "status": control.get("status"),
                "verdict": view.control_verdict(cid),
                "requirements": [{"id": r, "verdict": view.verdict(r)} for r in view.targets(IMPLEMENTED_BY, cid)],
            })
        hazards = view.targets(CAUSED_BY, sid)
        rows.append({
            "id": sid, "hazards": [{"id": h, "title": fields(view.get(h)).get("title")} for h in hazards],
            "situation": f.get("situation"), "harm": f.get("harm"), "severity": f.get("severity"),
            "initial": evaluation.get("initial") or {}, "residual": evaluation.get("residual") or {},
            "controls": controls, "software_items": _situation_items(view, sid),
        })
    return {"rows": rows}


def _situation_items(view: TraceView, situation_id: str) -> list[str]:
    """Software items behind a hazardous situation: those implementing its controls (IEC 62304 7.3.3)."""
    items = set()
    for cid in view.targets(CONTROLLED_BY, situation_id):
        for rid in view.targets(IMPLEMENTED_BY, cid):
            items.update(view.targets(ALLOCATED, rid))
    return sorted(items)


def soup_matrix(view: TraceView) -> dict[str, Any]:
    """SOUP -> software items -> hazardous situations (IEC 62304 7.1.2 c, 7.1.3)."""
    rows = []
    for node in view.of("soup"):
        sid = str(node["id"])
        f = fields(node)
        risks = []
        for rid in view.targets(RELATED_RISK, sid):
            residual = view.evaluation(rid).get("residual") or {}
            risks.append({"id": rid, "harm": fields(view.get(rid)).get("harm"),
                          "acceptability": residual.get("acceptability")})
        installed = (view.graph.get("environment") or {}).get("installed", {}).get(f.get("package"))
        rows.append({"id": sid, "package": f.get("package"), "version": f.get("version"), "installed": installed,
                     "runtime": f.get("runtime"), "sis": view.targets(USED_BY, sid), "risks": risks,
                     "review_head": str(f.get("anomaly_review", "")).split(":")[0][:48]})
    return {"rows": rows}


def run_rows(view: TraceView) -> list[dict[str, Any]]:
    """The IEC 62304 5.7.5 header of every run, flattened for display."""
    head = view.head
    rows = []
    for run in view.runs:
        header = run.get("header") or {}
        git = header.get("git") or {}
        env = header.get("environment") or {}
        rows.append({
            "id": run.get("id"), "source": run.get("source"), "sha256": run.get("sha256"),
            "current": bool(head) and git.get("commit") == head,
            "fields": [
                ("(a) test procedures", "pytest node ids with file and line, per record below"),
                ("(c) software version", f"{(header.get('software') or {}).get('name')} "
                                         f"{(header.get('software') or {}).get('version')}"),
                ("(c) git commit", f"{git.get('commit')}{' (dirty work tree)' if git.get('dirty') else ''}"),
                ("(d) environment", f"{env.get('kind')}: SHA-256 {env.get('installed_sha256')}"),
                ("(d) runtime", ", ".join(f"{k} {v}" for k, v in sorted((header.get("runtime") or {}).items()))),
                ("(d) platform", ", ".join(f"{k} {v}" for k, v in sorted((header.get("platform") or {}).items()))),
                ("(d) hardware", ", ".join(f"{k} {v}" for k, v in sorted((header.get("hardware") or {}).items()))),
                ("(e) test tools", ", ".join(f"{k} {v}" for k, v in sorted((header.get("test_tools") or {}).items()))),
                ("(e) external tools", external_tools_text(header)),
                ("(e) command", " ".join(str(c) for c in header.get("command") or [])),
                ("(f) date (UTC)", f"{header.get('date_utc')} to {header.get('finished_utc', 'n/a')}"),
                ("(g) tester", str(header.get("tester"))),
                ("CI run", str(header.get("ci_run_id"))),
            ],
        })
    return rows


def external_tools_text(header: Mapping[str, Any]) -> str:
    """The external programs of a run header with their versions; said when the run did not record them."""
    tools = header.get("external_tools")
    if not isinstance(tools, Mapping):
        return "not recorded (a run before external tool versions were recorded)"
    return "; ".join(f"{name}: {(entry or {}).get('version') if isinstance(entry, Mapping) else entry}"
                     for name, entry in sorted(tools.items()))


def test_records(view: TraceView) -> list[dict[str, Any]]:
    """Every test record: (a) procedure reference, (b) result per run and message."""
    records = []
    for node in view.of("test"):
        tid = str(node["id"])
        f = fields(node)
        records.append({
            "id": tid, "anchor": anchor(tid), "file": f.get("file"), "line": f.get("line"),
            "requirements": list(f.get("requirements", [])), "outcome": view.test_outcome(tid),
            "results": [{"run": r.get("run"), "outcome": r.get("outcome"), "duration_s": r.get("duration_s"),
                         "message": r.get("message")} for r in node.get("results", [])],
        })
    return records


def deviations(view: TraceView) -> dict[str, Any]:
    """What keeps the verification from being complete: non-passing records and unverified requirements."""
    tests = [r for r in test_records(view) if r["outcome"] != "passed"]
    reqs = [{"id": str(n["id"]), "title": fields(n).get("title"), "verdict": view.verdict(str(n["id"])),
             "explain": (n.get("verification") or {})}
            for n in view.of("requirement") if fields(n).get("status") == "approved"
            and view.verdict(str(n["id"])) != "verified"]
    stale = [run for run in run_rows(view) if not run["current"]]
    missing_docs = [d for d in view.graph.get("documents", []) if d.get("required") and d.get("missing")]
    return {"tests": tests, "requirements": reqs, "stale_runs": stale, "missing_documents": missing_docs,
            "suspect": [{"id": str(n["id"]), "because": list(n.get("suspect_because") or [])}
                        for n in view.graph["nodes"] if n.get("suspect_because")]}


def anomalies(view: TraceView) -> list[dict[str, Any]]:
    return [{"id": str(n["id"]), **{k: fields(n).get(k) for k in ("title", "description", "evaluation", "status")},
             "related": view.targets(RELATES_TO, str(n["id"]))} for n in view.of("anomaly")]


def plan(view: TraceView) -> Mapping[str, Any]:
    nodes = view.of("risk_plan")
    return fields(nodes[0]) if nodes else {}


def risk_report(view: TraceView) -> dict[str, Any]:
    """ISO 14971 risk management report, sections 1-6: plan, analysis, evaluation, controls, residual risk,
    benefit-risk (section 7, clauses 9 and 10: :mod:`.risk_review`)."""
    p = plan(view)
    p_levels = [lvl["level"] for lvl in p.get("p1", [])]
    severities = [lvl["level"] for lvl in p.get("severity", [])]
    situations = []
    for node in view.of("hazardous_situation"):
        f = fields(node)
        sid = str(node["id"])
        situations.append({"id": sid, **{k: f.get(k) for k in ("sequence_of_events", "situation", "harm", "severity",
                                                                 "residual_rationale", "effectiveness")},
                           "hazards": view.targets(CAUSED_BY, sid), "evaluation": view.evaluation(sid),
                           "controls": [{"id": c, "title": fields(view.get(c)).get("title"),
                                         "type": fields(view.get(c)).get("type"),
                                         "verdict": view.control_verdict(c)} for c in view.targets(CONTROLLED_BY, sid)]})
    controls = []
    for node in view.of("risk_control"):
        cid = str(node["id"])
        f = fields(node)
        controls.append({"id": cid, "title": f.get("title"), "text": f.get("text"), "type": f.get("type"),
                         "status": f.get("status"), "verdict": view.control_verdict(cid),
                         "situations": view.sources(CONTROLLED_BY, cid),
                         "requirements": [{"id": r, "verdict": view.verdict(r)} for r in view.targets(IMPLEMENTED_BY, cid)]})
    open_items = [s for s in situations
                  if (s["evaluation"].get("residual") or {}).get("acceptability") != "acceptable"
                  or any(c["verdict"] != "verified" for c in s["controls"])]
    benefit = view.of("benefit_risk")
    return {"plan": p, "p_levels": p_levels, "severities": severities,
            "hazards": [{"id": str(n["id"]), **fields(n)} for n in view.of("hazard")],
            "situations": situations, "controls": controls, "open_items": open_items,
            "benefit": fields(benefit[0]) if benefit else {}}


def software_items(view: TraceView) -> list[dict[str, Any]]:
    rows = []
    for node in view.of("software_item"):
        iid = str(node["id"])
        f = fields(node)
        rows.append({"id": iid, "title": f.get("title"), "modules": f.get("modules", []),
                     "safety_class": f.get("safety_class"), "rationale": f.get("rationale"),
                     "parent": (view.targets(PART_OF, iid) or [None])[0],
                     "requirements": view.sources(ALLOCATED, iid), "soup": view.sources(USED_BY, iid)})
    return rows


def planned(view: TraceView) -> list[dict[str, Any]]:
    """Requirements and controls committed but not built (listed as open, outside the gate)."""
    return [{"id": str(n["id"]), "kind": n["kind"], "title": fields(n).get("title")}
            for kind in ("requirement", "risk_control") for n in view.of(kind)
            if fields(n).get("status") in ("planned", "draft")]


def models(view: TraceView) -> list[Mapping[str, Any]]:
    return [{"id": str(n["id"]), **fields(n)} for n in view.of("model")]


def sequence_text(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)
