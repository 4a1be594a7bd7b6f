"""Gate rules of the SBOM's FDA 524B fields (issue 19 item 2): each test builds the mini project with a
``security/components.yaml`` carrying one defect and sees ``trace check --release`` fail (a warning
without --release), next to a control that passes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory import supply_chain, trace
from device_ai.regulatory.check import check_graph
from device_ai.regulatory.loader import load_project
from tests.regulatory.miniproject import (
    HEAD,
    RUNTIME,
    baseline,
    default_items,
    gap_lines,
    passing_results,
    write_project,
    write_results,
)

RUN_DATE = "2026-11-30T12:00:00Z"  # the as-of date of every check here (write_results' date)
COMPONENTS = [{"name": "numpy", "version": "2.0.0", "type": "library"},
              {"name": "cpython", "version": "3.11.7", "type": "platform"},
              {"name": "openblas", "version": "0.3.30", "type": "library"}]
MODEL = {"name": "mini-seg", "version": "1.0.0"}


def entry(cmp_id: str, name: str, version: str, **changes: Any) -> dict[str, Any]:
    """A complete entry: support level with its source, end of support, a VEX of 2026-11-01."""
    found: dict[str, Any] = {
        "id": cmp_id, "name": name, "version": version, "supplier": "Someone",
        "support_level": "actively-maintained", "support_source": "https://example.invalid/policy",
        "end_of_support": "2027-10-31",
        "vex": {"date": "2026-11-01", "assessor": "Ass Essor", "sources": ["OSV (example)"],
                "no_known_vulnerability": f"No known vulnerability affecting {name} {version} in OSV as of 2026-11-01."},
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def complete_entries() -> list[dict[str, Any]]:
    return [entry("CMP-numpy", "numpy", "2.0.0"), entry("CMP-cpython", "cpython", "3.11.7"),
            entry("CMP-openblas", "openblas", "0.3.30"), entry("CMP-mini-seg", "mini-seg", "1.0.0")]


def write_model(root: Path) -> None:
    folder = root / "models" / f"{MODEL['name']}-{MODEL['version']}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(MODEL), encoding="utf-8")


def project(root: Path, entries: list[dict[str, Any]] | None) -> Path:
    items = default_items()
    if entries is not None:
        items["security/components.yaml"] = {"components": entries}
    write_project(root, items)
    write_model(root)
    baseline(root)
    return root


def check(root: Path, *, release: bool, components: list[dict[str, Any]] | None = None, date: str = RUN_DATE):
    results = write_results(root, passing_results(), date=date)
    graph = trace.build(root, [results], head=HEAD, runtime=RUNTIME,
                        components=COMPONENTS if components is None else components)
    return check_graph(graph, head=HEAD, release=release)


def sbom_lines(report, section: str = "gap") -> list[str]:  # noqa: ANN001
    return [f.line() for f in report.section(section) if f.topic.startswith("sbom")]  # type: ignore[arg-type]


def with_change(index: int, **changes: Any) -> list[dict[str, Any]]:
    entries = complete_entries()
    base = copy.deepcopy(entries[index])
    base.update(changes)
    entries[index] = {k: v for k, v in base.items() if v is not None}
    return entries


@pytest.mark.req("SRS-196")
def test_control_every_runtime_component_assessed_passes_the_release_gate(tmp_path: Path) -> None:
    report = check(project(tmp_path, complete_entries()), release=True)
    assert report.passed, gap_lines(report)
    assert sbom_lines(report, "warning") == []


@pytest.mark.req("SRS-196")
def test_a_runtime_component_without_an_entry_fails_the_release(tmp_path: Path) -> None:
    entries = [e for e in complete_entries() if e["name"] != "cpython"]
    root = project(tmp_path, entries)
    released = check(root, release=True)
    assert sbom_lines(released) == ["GAP CMP-cpython: sbom component: runtime component cpython 3.11.7 (platform) has "
                                    "no entry in security/components.yaml (support level, end of support, VEX)"]
    develop = check(root, release=False)
    assert develop.passed and any("CMP-cpython" in line and "a gap with --release" in line
                                  for line in sbom_lines(develop, "warning"))


@pytest.mark.req("SRS-196")
def test_the_model_package_is_a_runtime_component(tmp_path: Path) -> None:
    entries = [e for e in complete_entries() if e["name"] != "mini-seg"]
    report = check(project(tmp_path, entries), release=True)
    assert any(line.startswith("GAP CMP-mini-seg:") and "machine-learning-model" in line for line in sbom_lines(report))


@pytest.mark.req("SRS-196")
def test_an_entry_for_another_version_does_not_assess_the_installed_one(tmp_path: Path) -> None:
    report = check(project(tmp_path, with_change(0, version="1.26.4")), release=True)
    assert sbom_lines(report) == ["GAP CMP-numpy: sbom component: runtime component numpy 2.0.0 is assessed only for "
                                  "version 1.26.4: assess the installed version (support, end of support, VEX)"]


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize(("changes", "missing"), [
    ({"support_level": None}, "support_level"),
    ({"support_source": None}, "support_source"),
    ({"end_of_support": None}, "end_of_support"),
])
def test_missing_support_fields_fail_the_release(tmp_path: Path, changes: dict[str, Any], missing: str) -> None:
    report = check(project(tmp_path, with_change(1, **changes)), release=True)
    lines = sbom_lines(report)
    assert len(lines) == 1 and lines[0].startswith("GAP CMP-cpython: sbom support: missing") and missing in lines[0]


@pytest.mark.req("SRS-196")
def test_no_end_of_support_date_needs_a_note_saying_why(tmp_path: Path) -> None:
    note = "No published date: the project supports only its latest release (policy at example.invalid)."
    report = check(project(tmp_path, with_change(1, end_of_support=None, end_of_support_note=note)), release=True)
    assert report.passed, gap_lines(report)


@pytest.mark.req("SRS-196")
def test_a_component_without_a_vex_fails_the_release(tmp_path: Path) -> None:
    report = check(project(tmp_path, with_change(2, vex=None)), release=True)
    assert sbom_lines(report) == ["GAP CMP-openblas: sbom vex: no vulnerability assessment (vex: date, assessor, "
                                  "sources, known vulnerabilities or no_known_vulnerability)"]


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("changes", [{"support_level": "end-of-life"}, {"end_of_support": "2026-11-29"}])
def test_an_unsupported_component_fails_the_release(tmp_path: Path, changes: dict[str, Any]) -> None:
    report = check(project(tmp_path, with_change(0, **changes)), release=True)
    lines = sbom_lines(report)
    assert len(lines) == 1 and lines[0].startswith("GAP CMP-numpy: sbom support:")


@pytest.mark.req("SRS-196")
def test_unknown_runtime_components_fail_the_release(tmp_path: Path) -> None:
    root = project(tmp_path, complete_entries())
    results = write_results(root, passing_results(), date=RUN_DATE)
    graph = trace.build(root, [results], head=HEAD, runtime=RUNTIME, components=COMPONENTS)
    graph["environment"]["sbom_components"] = None  # as when device-ai is not installed where it was built
    report = check_graph(graph, head=HEAD, release=True)
    assert [line for line in sbom_lines(report) if line.startswith("GAP SBOM:")]


@pytest.mark.req("SRS-196")
def test_an_entry_for_no_runtime_component_is_a_warning(tmp_path: Path) -> None:
    entries = [*complete_entries(), entry("CMP-left-over", "left-over", "1.0")]
    report = check(project(tmp_path, entries), release=True)
    assert report.passed
    assert sbom_lines(report, "warning") == ["WARNING CMP-left-over: sbom component: left-over 1.0 is not a runtime "
                                             "component of this environment: remove the entry or correct its name"]


@pytest.mark.req("SRS-197")
@pytest.mark.parametrize(("vex_date", "stale"), [("2026-09-01", False), ("2026-08-31", True), ("2025-01-01", True)])
def test_an_assessment_older_than_the_maximum_age_fails_the_release(tmp_path: Path, vex_date: str, stale: bool) -> None:
    assert supply_chain.MAX_VEX_AGE_DAYS == 90
    vex = dict(complete_entries()[0]["vex"], date=vex_date)
    report = check(project(tmp_path, with_change(0, vex=vex)), release=True)
    lines = sbom_lines(report)
    if stale:
        assert len(lines) == 1 and lines[0].startswith(f"GAP CMP-numpy: sbom vex: assessment of {vex_date} is")
        assert "(at most 90)" in lines[0]
    else:  # 2026-09-01 is 90 days before the run of 2026-11-30: still current
        assert lines == []


@pytest.mark.req("SRS-197")
def test_the_age_is_judged_at_the_recorded_run_date_not_the_wall_clock(tmp_path: Path) -> None:
    root = project(tmp_path, complete_entries())  # VEX of 2026-11-01
    assert sbom_lines(check(root, release=True, date="2027-01-30T00:00:00Z")) == []  # 90 days later
    late = sbom_lines(check(root, release=True, date="2027-01-31T00:00:00Z"))
    assert [line for line in late if "91 days old" in line]


@pytest.mark.req("SRS-197")
@pytest.mark.parametrize(("state", "gap"), [("in_triage", True), ("exploitable", True), ("not_affected", False),
                                            ("resolved", False), ("false_positive", False)])
def test_an_unresolved_vulnerability_fails_the_release(tmp_path: Path, state: str, gap: bool) -> None:
    vulnerability = {"id": "CVE-2026-0001", "source": "https://example.invalid/CVE-2026-0001", "state": state,
                     "detail": "Synthetic test vulnerability."}
    if state == "not_affected":
        vulnerability["justification"] = "code_not_reachable"
    vex = {"date": "2026-11-01", "assessor": "Ass Essor", "sources": ["OSV (example)"],
           "vulnerabilities": [vulnerability]}
    root = project(tmp_path, with_change(1, vex=vex))
    lines = sbom_lines(check(root, release=True))
    assert bool(lines) is gap
    if gap:
        assert lines[0].startswith(f"GAP CMP-cpython: sbom vex: CVE-2026-0001 is {state}")
        assert sbom_lines(check(root, release=False)) == []  # a warning during development


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize(("change", "message"), [
    ({"vex": {"date": "2026-11-01", "assessor": "A", "sources": ["OSV"]}}, "no_known_vulnerability"),
    ({"vex": {"date": "2026-11-01", "assessor": "A", "sources": ["OSV"], "vulnerabilities": [
        {"id": "CVE-1", "source": "https://x.invalid", "state": "not_affected", "detail": "d"}]}}, "justification"),
    ({"vex": {"date": "01.11.2026", "assessor": "A", "sources": ["OSV"], "no_known_vulnerability": "none"}},
     "not a date"),
    ({"support_level": "fine"}, "support_level"),
    ({"id": "CMP-"}, "not a valid CMP ID"),
])
def test_malformed_entries_are_refused_with_file_and_line(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    items = default_items()
    items["security/components.yaml"] = {"components": [complete_entries()[0], {**complete_entries()[1], **change}]}
    write_project(tmp_path, items)
    with pytest.raises(TraceabilityError) as caught:
        load_project(tmp_path)
    problems = "\n".join(caught.value.problems)
    assert "security/components.yaml:" in problems and message in problems


def _refusals(root: Path, entries: list[dict[str, Any]]) -> list[str]:
    """The problems loading the mini project with ``entries`` gives (none: it loads)."""
    items = default_items()
    items["security/components.yaml"] = {"components": entries}
    write_project(root, items)
    try:
        load_project(root)
    except TraceabilityError as refused:
        return list(refused.problems)
    return []


def _line_of(root: Path, text: str, after: int = 0) -> int:
    """The 1-based line of security/components.yaml where ``text`` first occurs after line ``after``."""
    lines = (root / "security/components.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if n > after and text in line)


# review 149 D2: date.fromisoformat also reads a week, an ordinal and a basic date; the SBOM does not
@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("field", ["vex.date", "end_of_support"])
@pytest.mark.parametrize("value", ["2026-W45-1", "2026-310", "20261105", "2026-11-5", "2026-02-30", "2026-11-05 "])
def test_a_date_not_in_yyyy_mm_dd_form_is_refused_with_file_line_and_entry(tmp_path: Path, field: str,
                                                                          value: str) -> None:
    vex = dict(complete_entries()[1]["vex"], date=value) if field == "vex.date" else complete_entries()[1]["vex"]
    changes = {"vex": vex} if field == "vex.date" else {"end_of_support": value}
    problems = _refusals(tmp_path, with_change(1, **changes))
    line = _line_of(tmp_path, "date: " if field == "vex.date" else "end_of_support:",
                    after=_line_of(tmp_path, "id: CMP-cpython"))
    assert problems == [f"security/components.yaml:{line}: CMP-cpython: {field}: {value!r} is not a date (expected "
                        "YYYY-MM-DD" + (", a day of the calendar)" if value == "2026-02-30" else ")")]


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("value", ["2026-11-05", "2024-02-29", "2027-12-31"])
def test_control_a_genuine_yyyy_mm_dd_date_loads(tmp_path: Path, value: str) -> None:
    vex = dict(complete_entries()[1]["vex"], date=value)
    assert _refusals(tmp_path, with_change(1, vex=vex, end_of_support=value)) == []
    # unquoted in the file, YAML reads it as a date: still the same day
    path = tmp_path / "security/components.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"'{value}'", value), encoding="utf-8")
    assert f"'{value}'" not in path.read_text(encoding="utf-8")
    project_items = load_project(tmp_path).items
    assert project_items["CMP-cpython"].item.end_of_support == value == project_items["CMP-cpython"].item.vex.date


# review 149 D3: the gate judged one entry of a name and version and the SBOM published another
@pytest.mark.req("SRS-196", "SRS-197")
@pytest.mark.parametrize("name", ["numpy", "NumPy"])  # PEP 503: one name
def test_a_name_and_version_listed_twice_is_refused_at_load(tmp_path: Path, name: str) -> None:
    second = entry("CMP-numpy-0", name, "2.0.0", support_level="end-of-life")
    problems = _refusals(tmp_path, [*complete_entries(), second])
    first_line, second_line = _line_of(tmp_path, "id: CMP-numpy"), _line_of(tmp_path, "id: CMP-numpy-0")
    assert second_line > first_line  # the second in the file, though its ID sorts first
    [problem] = problems
    assert problem == (f"security/components.yaml:{second_line}: CMP-numpy-0: {name} 2.0.0 is assessed twice (first "
                       f"by CMP-numpy at security/components.yaml:{first_line}): keep one entry per name and version")
    with pytest.raises(TraceabilityError):  # the gate never sees the file
        check(project(tmp_path / "gate", [*complete_entries(), second]), release=True)


@pytest.mark.req("SRS-196", "SRS-197")
def test_control_another_version_of_the_same_name_loads(tmp_path: Path) -> None:
    other = entry("CMP-numpy-1", "numpy", "1.26.4")
    assert _refusals(tmp_path, [*complete_entries(), other]) == []
    report = check(project(tmp_path / "gate", [*complete_entries(), other]), release=True)
    assert report.passed and sbom_lines(report) == []
