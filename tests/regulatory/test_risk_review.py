"""ISO 14971 clause 10 production and post-production plan (SRS-227) and the generated clause 9 risk
management review record (SRS-228): each test builds the mini project with one defect and sees the
record say not complete, naming it, and the release gate fail, next to a control that passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory.check import check_graph, risk_management_review
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.post_production import missing_parts
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.view import TraceView
from device_ai.regulatory.risk_review import COMPLETE, NOT_COMPLETE, REVIEW_ID, of_risk_file
from tests.regulatory.miniproject import (
    HEAD,
    TEST_A,
    TEST_B,
    baseline,
    build,
    default_items,
    gap_lines,
    passing_results,
    write_project,
    write_results,
)

PPP = "risk/post_production.yaml"
REPO = Path(__file__).resolve().parents[2]


def _plan(items: dict[str, Any]) -> dict[str, Any]:
    return items[PPP]["post_production_plan"]


def _project(root: Path, change: Callable[[dict[str, Any]], None] | None = None,
             drop: tuple[str, ...] = ()) -> Path:
    items = default_items()
    if change is not None:
        change(items)
    for rel in drop:
        del items[rel]
    write_project(root, items)
    baseline(root)
    return root


def _graph(root: Path, results: dict[str, Any] | None = None) -> dict[str, Any]:
    return build(root, write_results(root, passing_results() if results is None else results))


def _problems(root: Path) -> list[str]:
    with pytest.raises(TraceabilityError) as caught:
        load_project(root)
    return list(caught.value.problems)


def _line(root: Path, needle: str) -> int:
    lines = (root / PPP).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


# --- SRS-227: the production and post-production plan --------------------------------------------------------


@pytest.mark.req("SRS-227")
def test_the_repository_plan_loads_complete_and_says_it_is_not_in_effect() -> None:
    plan = load_project(REPO).post_production
    assert plan is not None and plan.where == f"{PPP}:7"
    fields = plan.item.model_dump(mode="json")
    assert missing_parts(fields, security_plan=True) == []
    assert fields["in_effect"] is False and "without a manufacturer" in str(fields["state"])
    vulnerabilities = [s for s in fields["sources"] if s["kind"] == "vulnerabilities"]
    assert vulnerabilities and vulnerabilities[0]["references"] == ["security/plan.yaml"]
    # control: the same plan without its literature source and its CAPA action misses both parts
    fields["sources"] = [s for s in fields["sources"] if s["kind"] != "literature"]
    fields["actions"] = [a for a in fields["actions"] if a["kind"] != "capa"]
    assert [p.split(" (")[0] for p in missing_parts(fields, security_plan=True)] == ["source literature", "action capa"]


@pytest.mark.req("SRS-227")
@pytest.mark.parametrize(("change", "needle", "message"), [
    (lambda p: p["sources"][1].pop("collected_by"), "kind: complaints",
     "POST-PRODUCTION-PLAN: missing field 'sources.1.collected_by'"),
    (lambda p: p.pop("records"), "scope:", "POST-PRODUCTION-PLAN: missing field 'records'"),
    (lambda p: p.update(owner="RA"), "owner: RA", "POST-PRODUCTION-PLAN: unknown field 'owner'"),
    (lambda p: p["actions"][0].update(kind="recall"), "kind: recall", "POST-PRODUCTION-PLAN: actions.0.kind: Input "
     "should be 'update_risk_file', 'capa', 'field_safety_notice' or 'model_withdrawal'"),
    (lambda p: p["actions"][2].update(decided_by="CEO"), "decided_by: CEO", "POST-PRODUCTION-PLAN: actions[2]."
     "decided_by names 'CEO', which is not a role of its responsibilities (RA)"),
    (lambda p: p["sources"][5].update(references=["security/plan.yml"]), "- security/plan.yml",
     "POST-PRODUCTION-PLAN: sources[5].references names security/plan.yml, which is not a file of the project"),
    (lambda p: p.update(in_effect="yes"), "in_effect: 'yes'", "POST-PRODUCTION-PLAN: in_effect: Input should be "
     "a valid boolean"),
])
def test_a_malformed_plan_is_refused_on_load_with_file_and_line(tmp_path: Path, change: Callable[[dict], Any],
                                                                needle: str, message: str) -> None:
    assert load_project(write_project(tmp_path / "control")).post_production is not None  # control
    items = default_items()
    change(_plan(items))
    root = write_project(tmp_path / "bad", items)
    problems = _problems(root)
    assert any(p.startswith(f"{PPP}:{_line(root, needle)}: {message}") for p in problems), problems


@pytest.mark.req("SRS-227")
@pytest.mark.parametrize(("change", "part"), [
    (lambda p: p["sources"].pop(6), "source literature (publicly available information"),
    (lambda p: p["review_criteria"].pop(3), "review criterion outside_validated_range"),
    (lambda p: p["actions"].pop(3), "action model_withdrawal"),
    (lambda p: p["sources"][5].pop("references"), "the vulnerabilities source refers to security/plan.yaml"),
])
def test_a_plan_missing_a_part_is_a_gap_in_every_run(tmp_path: Path, change: Callable[[dict], Any],
                                                     part: str) -> None:
    control = check_graph(_graph(_project(tmp_path / "control")), head=HEAD)
    assert control.passed and not [f for f in control.findings if f.item == "POST-PRODUCTION-PLAN"]
    root = _project(tmp_path / "bad", lambda items: change(_plan(items)))
    report = check_graph(_graph(root), head=HEAD)
    (line,) = [g for g in gap_lines(report) if g.startswith("GAP POST-PRODUCTION-PLAN: post-production plan")]
    assert "missing part(s) (ISO 14971 10): " + part in line


@pytest.mark.req("SRS-227")
def test_no_plan_is_open_and_a_gap_with_release(tmp_path: Path) -> None:
    root = _project(tmp_path, drop=(PPP,))
    graph = _graph(root)
    development, release = check_graph(graph, head=HEAD), check_graph(graph, head=HEAD, release=True)
    assert development.passed
    assert ("OPEN POST-PRODUCTION-PLAN: post-production plan: no production and post-production plan "
            "(risk/post_production.yaml; ISO 14971 10) (a gap with --release)") in development.lines()
    assert ("GAP POST-PRODUCTION-PLAN: post-production plan: no production and post-production plan "
            "(risk/post_production.yaml; ISO 14971 10)") in gap_lines(release)


@pytest.mark.req("SRS-227")
@pytest.mark.req("SRS-228")
def test_the_risk_report_section_7_shows_the_record_and_the_plan(tmp_path: Path) -> None:
    def page(root: Path) -> str:
        docs = [d for d in DOCUMENTS if d.file == "risk-report.html"]
        return render_all(TraceView.from_graph(_graph(root)), root=root, sbom={}, model_manifests={},
                          files=docs)["risk-report.html"]

    complete = page(_project(tmp_path / "complete"))
    section = complete[complete.index('id="review"'):]
    assert f'id="review-state"><span class="badge b-ok">complete</span> <strong>Conclusion: {COMPLETE}.' in section
    assert 'id="plan-state"><span class="badge b-ok">in effect</span>' in section
    for kind in ("device_records", "field_performance", "state_of_the_art", "outside_validated_range",
                 "model_withdrawal"):
        assert f"<strong>{kind}</strong>" in section
    assert "not done" not in complete
    # control: the same project with a plan that is not in effect and misses a source
    def change(items: dict) -> None:
        _plan(items).update(in_effect=False, state="Not in effect: no manufacturer.")
        _plan(items)["sources"].pop(0)

    broken = page(_project(tmp_path / "broken", change))
    section = broken[broken.index('id="review"'):]
    assert f'<span class="badge b-bad">not complete</span> <strong>Conclusion: {NOT_COMPLETE}.' in section
    assert ('id="plan-state"><span class="badge b-bad">not in effect</span> <span class="badge b-bad">incomplete'
            '</span>') in section
    assert "Not in effect: no manufacturer." in section and "source production (information from production" in section


# --- SRS-228: the generated clause 9 review record ------------------------------------------------------------


def _unacceptable_residual(items: dict) -> None:
    situation = items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]
    situation["residual"] = {"p1": "P2", "p2": "P3"}  # S3 with P2: unacceptable


def _anomaly(status: str) -> Callable[[dict], None]:
    def change(items: dict) -> None:
        items["traceability/anomalies.yaml"]["anomalies"] = [{
            "id": "ANOM-001", "title": "Some malformed inputs pass", "description": "A truncated file is read.",
            "evaluation": "Under investigation.", "status": status, "requirements": ["SRS-002"]}]
    return change


def _unanalysed_hazard(items: dict) -> None:
    items["risk/hazards.yaml"]["hazards"].append(
        {"id": "HAZ-002", "title": "Slow result", "description": "A result arrives late.", "category": "timing"})


def _not_in_effect(items: dict) -> None:
    _plan(items).update(in_effect=False, state="Not in effect: no manufacturer.")


def _missing_part(items: dict) -> None:
    _plan(items)["sources"].pop(6)  # literature


def _benefit_not_concluding(items: dict) -> None:
    items["risk/benefit.yaml"]["benefit_risk"].update(overall_residual_risk="Not acceptable while RC-001 is draft.",
                                                      overall_residual_risk_verdict="not_acceptable")


ONLY_A = {TEST_A: ("passed", ["SRS-001"]), TEST_B: ("failed", ["SRS-002"])}
#: (id, change, files dropped, results, question that fails, item the record names, text it says of it)
BROKEN = [
    # ONLY_A leaves SRS-002, which implements RC-001, unverified
    ("unverified control", None, (), ONLY_A, "a", "RC-001", "not verified"),
    ("unacceptable residual", _unacceptable_residual, (), None, "b", "RISK-001",
     "residual risk (S3, P=P2) is unacceptable"),
    ("open anomaly contributing", _anomaly("open"), (), None, "b", "ANOM-001",
     "open, contributes to RISK-001 (initial risk unacceptable, reduced by RC-001, which the anomaly affects)"),
    ("benefit statement missing", None, ("risk/benefit.yaml",), None, "b", "BENEFIT-RISK",
     "no benefit-risk statement (risk/benefit.yaml)"),
    ("benefit not concluding", _benefit_not_concluding, (), None, "b", "BENEFIT-RISK",
     "does not conclude that the overall residual risk is acceptable"),
    ("post-production plan missing a part", _missing_part, (), None, "c", "POST-PRODUCTION-PLAN",
     "missing part: source literature"),
    ("post-production plan not in effect", _not_in_effect, (), None, "c", "POST-PRODUCTION-PLAN",
     "the plan is not in effect: Not in effect: no manufacturer."),
    ("hazard not analysed", _unanalysed_hazard, (), None, "a", "HAZ-002",
     "no hazardous situation analyses this hazard"),
]


def _assert_agree(graph: dict[str, Any]) -> None:
    """The record and the gate cannot disagree: the release gate has the RISK-REVIEW gap exactly
    when the record is not complete, and a complete record leaves no open item of the risk file."""
    record = risk_management_review(graph, head=HEAD)
    release, development = check_graph(graph, head=HEAD, release=True), check_graph(graph, head=HEAD)
    review_gaps = [f for f in release.section("gap") if f.item == REVIEW_ID]
    assert bool(review_gaps) is (not record.complete)
    assert bool([f for f in development.section("open") if f.item == REVIEW_ID]) is (not record.complete)
    if record.complete:
        assert not [f for f in release.findings if f.section != "warning" and of_risk_file(_Ctx(graph), f.item)]
    else:
        assert not release.passed and review_gaps[0].message == record.summary()


class _Ctx:
    def __init__(self, graph: dict[str, Any]) -> None:
        self.nodes = {n["id"]: n for n in graph["nodes"]}


@pytest.mark.req("SRS-228")
def test_a_complete_mini_project_is_complete_for_release_and_passes_the_release_gate(root: Path) -> None:
    graph = _graph(root)
    record = risk_management_review(graph, head=HEAD)
    assert record.complete and record.conclusion == COMPLETE and record.open_items() == []
    assert [(q.key, q.holds) for q in record.questions] == [("a", True), ("b", True), ("c", True)]
    assert [c.holds for c in record.question("b").criteria] == [True, True, True, True]
    assert check_graph(graph, head=HEAD, release=True).passed
    _assert_agree(graph)


@pytest.mark.req("SRS-228")
@pytest.mark.parametrize(("change", "drop", "results", "question", "item", "text"),
                         [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_each_defect_makes_the_record_not_complete_naming_it_and_the_release_gate_fail(
        tmp_path: Path, change: Callable[[dict], None] | None, drop: tuple[str, ...], results: dict | None,
        question: str, item: str, text: str) -> None:
    control = _graph(_project(tmp_path / "control"))
    assert risk_management_review(control, head=HEAD).complete  # control: the same project without the defect
    graph = _graph(_project(tmp_path / "bad", change, drop), results)
    record = risk_management_review(graph, head=HEAD)
    assert not record.complete and record.conclusion == NOT_COMPLETE
    failing = record.question(question)
    assert not failing.holds
    named = [*failing.open_items, *(i for c in failing.criteria for i in c.open_items)]
    assert any(i.item == item and text in i.text for i in named), named
    release = check_graph(graph, head=HEAD, release=True)
    (gap,) = [f for f in release.section("gap") if f.item == REVIEW_ID]
    assert gap.message.startswith(NOT_COMPLETE + " (ISO 14971 9): ") and f"({question}) " in gap.message
    assert item in gap.message
    _assert_agree(graph)


def _verdict(verdict: str | None, prose: str) -> Callable[[dict], None]:
    def change(items: dict) -> None:
        benefit = items["risk/benefit.yaml"]["benefit_risk"]
        benefit["overall_residual_risk"] = prose
        if verdict is None:
            del benefit["overall_residual_risk_verdict"]
        else:
            benefit["overall_residual_risk_verdict"] = verdict
    return change


@pytest.mark.req("SRS-228")
def test_criterion_4_reads_the_typed_verdict_not_the_prose(tmp_path: Path) -> None:
    """helper-135 (review 133 defect 2): only overall_residual_risk_verdict: acceptable concludes; the prose beside
    it, whatever it says, is not read for the verdict; the field is required and typed (refused on load)."""
    for index, (verdict, prose) in enumerate([("undecided", "Acceptable."), ("not_acceptable", "Acceptable."),
                                              ("undecided", "Acceptable. Not acceptable.")]):
        graph = _graph(_project(tmp_path / f"n{index}", _verdict(verdict, prose)))
        record = risk_management_review(graph, head=HEAD)
        criterion = record.question("b").criteria[3]
        assert not record.complete and not criterion.holds, verdict
        assert any(f"overall_residual_risk_verdict: {verdict}" in i.text for i in criterion.open_items)
        assert [f.item for f in check_graph(graph, head=HEAD, release=True).section("gap")] == [REVIEW_ID]
    # control: the verdict acceptable holds whatever the prose, which the approvers judge
    for index, prose in enumerate(["Acceptable.", "The benefits outweigh the residual risks."]):
        assert risk_management_review(_graph(_project(tmp_path / f"c{index}", _verdict("acceptable", prose))),
                                      head=HEAD).complete, prose
    for index, verdict in enumerate([None, "Acceptable", "yes", True]):
        items = default_items()
        _verdict(verdict, "Acceptable.")(items)  # type: ignore[arg-type]
        problems = _problems(write_project(tmp_path / f"bad{index}", items))
        assert any("BENEFIT-RISK" in p and "overall_residual_risk_verdict" in p for p in problems), problems


@pytest.mark.req("SRS-228")
def test_an_anomaly_counts_only_while_open_and_linked_to_the_risk(tmp_path: Path) -> None:
    closed = _graph(_project(tmp_path / "closed", _anomaly("closed")))
    assert risk_management_review(closed, head=HEAD).complete
    assert check_graph(closed, head=HEAD, release=True).passed

    def unlinked(items: dict) -> None:
        _anomaly("open")(items)
        items["traceability/anomalies.yaml"]["anomalies"][0]["requirements"] = ["SRS-001"]

    other = _graph(_project(tmp_path / "unlinked", unlinked))  # SRS-001 implements no control
    criterion = risk_management_review(other, head=HEAD).question("b").criteria[2]
    assert criterion.holds and criterion.evidence == "1 open anomaly, 0 linked to a hazardous situation"
    _assert_agree(other)


@pytest.mark.req("SRS-228")
def test_the_record_is_generated_not_written(tmp_path: Path) -> None:
    """Nothing in the files states the record: the same project gives the same record, and a change
    to the graph alone (a test result) changes its conclusion."""
    root = _project(tmp_path)
    first, again = _graph(root), _graph(root)
    assert risk_management_review(first, head=HEAD) == risk_management_review(again, head=HEAD)
    edited = copy.deepcopy(first)
    for node in edited["nodes"]:
        if node["id"] == TEST_B:
            for result in node["results"]:
                result["outcome"] = "failed"
    assert not check_graph(edited, head=HEAD).passed
    assert risk_management_review(first, head=HEAD).complete
    assert not risk_management_review(edited, head=HEAD).complete
    _assert_agree(edited)
