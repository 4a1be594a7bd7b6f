"""Typed items: a malformed or dangling item is an error naming file, line and ID (SRS-040)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory.items import HazardousSituation, ModelArtefact, RiskManagementPlan, SoftwareRequirement
from device_ai.regulatory.loader import load_project
from tests.regulatory.miniproject import PLAN, default_items, requirement, write_project

REQS = "traceability/requirements.yaml"


def _problems(root: Path) -> list[str]:
    with pytest.raises(TraceabilityError) as caught:
        load_project(root)
    assert caught.value.code == "DAI-900"
    return list(caught.value.problems)


def _line(root: Path, rel: str, needle: str) -> int:
    """1-based line of the first line of ``rel`` that contains ``needle``."""
    lines = (root / rel).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


@pytest.mark.req("SRS-040")
def test_the_mini_project_loads_into_typed_items(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    assert isinstance(project.items["SRS-001"].item, SoftwareRequirement)
    assert project.items["SRS-001"].where == f"{REQS}:2"
    assert isinstance(project.items["RISK-001"].item, HazardousSituation)
    assert isinstance(project.plan.item, RiskManagementPlan)
    assert project.plan.item.acceptability_of("S3", "P3", "P1") == "alara"  # P = P1 by the plan's table


def _with_requirement(tmp_path: Path, **changes: object) -> Path:
    items = default_items()
    req = requirement("SRS-004")
    for key, value in changes.items():
        if value is None:
            req.pop(key)
        else:
            req[key] = value
    items[REQS]["software_requirements"].append(req)
    return write_project(tmp_path, items)


@pytest.mark.req("SRS-040")
@pytest.mark.parametrize(("changes", "needle", "message"), [
    ({"title": None}, "id: SRS-004", "SRS-004: missing field 'title'"),
    ({"status": "aproved"}, "status: aproved", "SRS-004: status: Input should be 'draft', 'planned', 'approved' or 'retired'"),
    ({"category": "misc"}, "category: misc", "SRS-004: category: Input should be"),
    ({"id": "SRS-4"}, "id: SRS-4", "SRS-4: id: 'SRS-4' is not a valid SRS ID (expected the form SRS-012)"),
    ({"satisfies": ["UN-999"]}, "- UN-999", "SRS-004: satisfies refers to UN-999, which does not exist"),
    ({"software_items": ["HAZ-001"]}, "- HAZ-001", "SRS-004: software_items.0: 'HAZ-001' is not a valid SI ID"),
    ({"owner": "me"}, "owner: me", "SRS-004: unknown field 'owner'"),
    ({"title": 12}, "title: 12", "SRS-004: title: Input should be a valid string"),
    ({"id": "SRS-001"}, "id: SRS-001", "SRS-001: duplicate ID (first defined at traceability/requirements.yaml:2)"),
], ids=["missing-field", "bad-status", "bad-category", "bad-id", "dangling", "wrong-kind", "unknown-field",
        "number-for-text", "duplicate"])
def test_malformed_requirement_names_file_line_and_id(tmp_path: Path, changes: dict, needle: str, message: str) -> None:
    root = _with_requirement(tmp_path, **changes)
    problems = _problems(root)
    # the last occurrence of the needle: the new item is appended after the valid ones
    lines = (root / REQS).read_text(encoding="utf-8").splitlines()
    line = max(i for i, text in enumerate(lines, 1) if needle in text)
    assert any(p.startswith(f"{REQS}:{line}: {message}") for p in problems), problems


@pytest.mark.req("SRS-040")
def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    items = default_items()
    items["risk/controls.yaml"]["risk_controls"][0]["type"] = "magic"
    items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]["severity"] = "S9"
    items[REQS]["software_requirements"][0]["satisfies"] = ["UN-002"]
    root = write_project(tmp_path, items)
    problems = _problems(root)
    assert len(problems) == 3, problems
    assert any(p.startswith(f"risk/controls.yaml:{_line(root, 'risk/controls.yaml', 'type: magic')}: RC-001: type")
               for p in problems)
    situations = "risk/hazardous_situations.yaml"
    assert f"{situations}:{_line(root, situations, 'severity: S9')}: RISK-001: severity S9 is not a level of the " \
           "risk management plan (S1, S2, S3)" in problems
    assert any("SRS-001: satisfies refers to UN-002, which does not exist" in p for p in problems)


@pytest.mark.req("SRS-040")
def test_yaml_syntax_error_and_duplicate_key_have_lines(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    path = root / REQS
    path.write_text(path.read_text() + "  - id: SRS-009\n    title: [unclosed\n")
    assert any(p.startswith(f"{REQS}:") and "YAML syntax" in p for p in _problems(root))
    path.write_text("software_requirements:\n  - id: SRS-001\n    title: a\n    title: b\n")
    assert f"{REQS}:4: duplicate key 'title' (first at line 3)" in _problems(root)


@pytest.mark.req("SRS-040")
def test_a_version_written_as_a_number_is_refused_not_coerced(tmp_path: Path) -> None:
    items = default_items()
    items["traceability/soup.yaml"]["soup"][0]["version"] = 1.20
    root = write_project(tmp_path, items)
    assert any("SOUP-numpy: version: Input should be a valid string (got 1.2)" in p for p in _problems(root))


@pytest.mark.req("SRS-040")
def test_an_incomplete_acceptability_matrix_is_refused(tmp_path: Path) -> None:
    items = default_items()
    plan = json.loads(json.dumps(PLAN))
    del plan["p_combination"]["P2"]
    items["risk/plan.yaml"] = {"risk_management_plan": plan}
    root = write_project(tmp_path, items)
    assert any("p_combination rows ['P1', 'P3'] must be the p1 levels" in p for p in _problems(root))


@pytest.mark.req("SRS-040")
def test_wrong_top_level_key_is_refused(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    (root / "risk/hazards.yaml").write_text("hazard: []\n")
    assert "risk/hazards.yaml:1: expected one top-level key 'hazards', found ['hazard']" in _problems(root)


@pytest.mark.req("SRS-040")
def test_model_manifest_is_a_traced_item(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    package = root / "models" / "demo-1.0.0"
    package.mkdir(parents=True)
    manifest = {"name": "demo", "version": "1.0.0", "files": {"model.onnx": "ab" * 32},
                "training": {"data_manifest_sha256": "cd" * 32}, "export": {"opset": 17},
                "metrics": {"organ_dice": {"mean": 0.97, "ci95": [0.96, 0.98]}},
                "postprocessing": {"version": "p1", "lesion_threshold": 0.5}}
    (package / "manifest.json").write_text(json.dumps(manifest))
    artefact = load_project(root).items["MODEL-demo-1.0.0"].item
    assert isinstance(artefact, ModelArtefact)
    assert artefact.files == {"model.onnx": "ab" * 32}
    assert artefact.data_manifest_sha256 == "cd" * 32
    assert artefact.metrics["organ_dice"]["ci95"] == [0.96, 0.98]
    assert artefact.thresholds == {"postprocessing.lesion_threshold": 0.5}
    (package / "manifest.json").write_text('{"name": "demo",\n "version": }')
    assert _problems(root) == ["models/demo-1.0.0/manifest.json:2: not JSON: Expecting value"]
