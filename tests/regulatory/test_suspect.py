"""Suspect links: a changed item marks its linked tests, controls and requirements suspect until a
recorded review (who, when, commit, fingerprint) clears it (SRS-044)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from device_ai.errors import ConfigError
from device_ai.regulatory.fingerprint import fingerprint
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.review import record_reviews
from tests import fast_yaml
from tests.regulatory.miniproject import (
    HEAD,
    TEST_B,
    baseline,
    build,
    default_items,
    gap_lines,
    gate,
    passing_results,
    write_project,
    write_results,
)

REQS = "traceability/requirements.yaml"


def _edit_requirement(root: Path, req_id: str, **changes: str) -> None:
    items = default_items()
    for req in items[REQS]["software_requirements"]:
        if req["id"] == req_id:
            req.update(changes)
    write_project(root, items)


@pytest.mark.req("SRS-044")
def test_changed_text_marks_tests_and_controls_suspect_until_reviewed(root: Path) -> None:
    results = write_results(root, passing_results())
    assert gate(root, results).passed

    _edit_requirement(root, "SRS-002", text="The device shall refuse more kinds of bad input.")
    gaps = gap_lines(gate(root, results))
    assert "GAP RC-001: suspect: linked to SRS-002, changed since review" in gaps
    assert ("GAP SRS-002: changed: changed since its review by Rev Iewer on 2026-11-30T00:00:00Z "
                       f"(commit {HEAD[:12]}); linked items suspect until it is reviewed: "
                       f"RC-001, SECURITY-PLAN, SI-CORE, UN-001, {TEST_B}") in gaps
    assert f"GAP {TEST_B}: suspect: linked to SRS-002, changed since review" in gaps
    assert len(gaps) == 6  # RC-001, SRS-002, SECURITY-PLAN (its testing names SRS-002), SI-CORE, UN-001, the test

    graph = build(root, results)
    node = {n["id"]: n for n in graph["nodes"]}
    assert node["SRS-002"]["review_state"] == "changed"
    assert node[TEST_B]["suspect_because"] == ["SRS-002"] and node["RC-001"]["suspect_because"] == ["SRS-002"]
    edge = next(e for e in graph["edges"] if e["kind"] == "implemented_by" and e["source"] == "RC-001")
    reviewed_at = fast_yaml.safe_load((root / "traceability/reviews.yaml").read_text())["reviews"]
    old = next(r["fingerprint"] for r in reviewed_at if r["id"] == "SRS-002")
    assert edge["suspect"] and edge["reviewed"]["target"] == old != node["SRS-002"]["fingerprint"]

    outcome = record_reviews(load_project(root), ["SRS-002"], by="Ann Other", date="2026-12-01T09:00:00Z", commit=HEAD)
    assert [r.id for r in outcome.added] == ["SRS-002"]
    assert gate(root, results).passed
    last = fast_yaml.safe_load((root / "traceability/reviews.yaml").read_text())["reviews"][-1]
    assert last == {"id": "SRS-002", "fingerprint": node["SRS-002"]["fingerprint"], "by": "Ann Other",
                    "date": "2026-12-01T09:00:00Z", "commit": HEAD, "independent": False}


@pytest.mark.req("SRS-044")
def test_status_change_is_meaningful_but_formatting_is_not(root: Path) -> None:
    before = fingerprint(load_project(root).items["SRS-001"].item)
    text = (root / REQS).read_text()
    (root / REQS).write_text("# a comment\n" + text.replace("  title: Requirement SRS-001", "  title:   'Requirement SRS-001'"))
    assert fingerprint(load_project(root).items["SRS-001"].item) == before
    _edit_requirement(root, "SRS-001", status="retired")
    assert fingerprint(load_project(root).items["SRS-001"].item) != before


@pytest.mark.req("SRS-044")
def test_changed_acceptability_matrix_makes_every_risk_evaluation_suspect(root: Path) -> None:
    items = default_items()
    items["risk/plan.yaml"]["risk_management_plan"]["acceptability"]["S3"]["P1"] = "acceptable"
    write_project(root, items)
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert any(line.startswith("GAP RISK-PLAN: changed:") for line in gaps)
    assert "GAP RISK-001: suspect: linked to RISK-PLAN, changed since review" in gaps


@pytest.mark.req("SRS-044")
def test_new_items_are_unreviewed_until_reviewed(tmp_path: Path) -> None:
    write_project(tmp_path)
    baseline(tmp_path, ["SRS-001"])
    gaps = gap_lines(gate(tmp_path, write_results(tmp_path, passing_results())))
    assert "GAP SRS-002: unreviewed: never reviewed: device-ai trace review SRS-002 --by NAME" in gaps
    assert not any(line.startswith("GAP SRS-001") for line in gaps)
    baseline(tmp_path)
    assert gate(tmp_path, write_results(tmp_path, passing_results())).passed


@pytest.mark.req("SRS-044")
def test_review_needs_a_name_and_known_ids_and_skips_unchanged(root: Path) -> None:
    project = load_project(root)
    with pytest.raises(ConfigError, match="reviewer's name"):
        record_reviews(project, ["SRS-001"], by="  ", date="d", commit=None)
    with pytest.raises(ConfigError, match="no such item: SRS-999"):
        record_reviews(project, ["SRS-999"], by="X", date="d", commit=None)
    outcome = record_reviews(project, None, by="X", date="d", commit=None)
    assert outcome.added == () and "SRS-001" in outcome.unchanged
    # a named item gets a second, independent reviewer at the same content, but never the same one twice
    outcome = record_reviews(project, ["SRS-001"], by="Independent QA", date="d2", commit=None)
    assert [r.id for r in outcome.added] == ["SRS-001"] and outcome.added[0].by == "Independent QA"
    again = record_reviews(load_project(root), ["SRS-001"], by="Independent QA", date="d3", commit=None)
    assert again.added == () and again.unchanged == ("SRS-001",)


@pytest.mark.req("SRS-215")
def test_a_release_needs_an_independent_review_of_every_item_at_its_current_content(tmp_path: Path) -> None:
    """Issue 19 item 3: with --release, an item reviewed at its current content only by its author (records
    without ``independent``) is a gap naming the reviewer; without --release it is not; an independent record
    at the same content clears it, and one at an earlier content does not."""
    write_project(tmp_path)
    baseline(tmp_path, independent=False)
    results = write_results(tmp_path, passing_results())
    author_only = [line for line in gap_lines(gate(tmp_path, results, release=True)) if ": author review only:" in line]
    assert "GAP SRS-001: author review only: reviewed at its current content only by Rev Iewer on " \
           "2026-11-30T00:00:00Z, not independently" in " ".join(author_only)
    assert not [line for line in gap_lines(gate(tmp_path, results)) if ": author review only:" in line]
    record_reviews(load_project(tmp_path), ["SRS-001"], by="Ann Other", date="2026-12-01T00:00:00Z", commit=HEAD,
                   independent=True)  # an independent record at the current content
    after = [line for line in gap_lines(gate(tmp_path, results, release=True)) if ": author review only:" in line]
    assert not any(line.startswith("GAP SRS-001:") for line in after) and any(l.startswith("GAP SRS-002:") for l in after)
    # control: SRS-001 changed after its independent review needs a new one (changed, then author-only again)
    _edit_requirement(tmp_path, "SRS-001", title="Requirement SRS-001, reworded")
    record_reviews(load_project(tmp_path), ["SRS-001"], by="The Author", date="2026-12-02T00:00:00Z", commit=HEAD)
    again = gap_lines(gate(tmp_path, results, release=True))
    assert any(line.startswith("GAP SRS-001: author review only: reviewed at its current content only by The Author")
               for line in again)
