"""Independent review 149 (reviewer helper-149, the first independent review) of issue 19's SBOM, lock file,
document-control and PDF requirements SRS-196, SRS-197, SRS-198, SRS-199, SRS-201, SRS-202 (draft) and SRS-203, at
b5d307b (their approved content; SRS-202 and its re-specification ANOM-016 at the draft content). helper-149 wrote
none of the code, the requirements or their tests (helper-71/73, author-side review only). Read: supply_chain.py,
component_items.py, runtime_components.py, sbom.py, lock.py, graph.py (sbom_components), render/control.py,
approvals.py, package.py, pdf.py, render/documents.py (collapse), base.html.j2, tests/regulatory/test_supply_chain_gate.py,
test_lock.py, tests/regulatory_render/test_sbom_524b.py, test_document_control.py, test_pdf.py, pdf_checks.py,
tests/docs/test_published_figures.py.

Verdicts:

- SRS-196 DEFECT (D2, D3); otherwise holds. Every runtime component the gate checks is exactly what the SBOM lists as
  required (43 distributions, CPython, 20 native libraries, the model; test_p01); the repository's release gate gives a
  gap for exactly the components an independent reading of security/components.yaml finds unassessed (test_p02); a
  native library whose version cannot be read gets a gap, never a made-up match (test_p03); a misspelt field is
  refused with file:line (test_p04).
- SRS-197 DEFECT (D3); otherwise holds: a mixed list gives one gap per unresolved vulnerability (test_p05); the
  90/91-day boundary and the run date are the project's tests (test_supply_chain_gate.py:175-194, they fail when
  mutated).
- SRS-198 DEFECT (D1); otherwise holds: each native file's SHA-256 equals the file on disk (test_p06); the SBOM
  validates with every socket refused (offline) and a broken one does not (test_p07); the model component carries the
  manifest digest and the manifest's figures (test_p08).
- SRS-199 HOLDS (lock.py:82-136; parse, differences, check): a removed python line, a digest set to none, a pin listed twice and an added
  comment-only edit behave as the text says (test_p10); the committed lock is the installed closure
  (test_lock.py:45, run here too).
- SRS-201 HOLDS (render/control.py:135-153): every manifest document has all five fields and distinct IDs, each HTML
  header the same (test_p11); .dirty only from a run on the head commit (test_p12); no approval is shown without
  signatures, and approvals.approval needs three valid signatures by different trusted people (test_p13).
- SRS-202: the behaviour HOLDS (pdf.py, base.html.j2:56-62); ANOM-016's re-specification is justified and its
  original result is visible in ANOM-016 (anomalies.yaml:295); the changed criterion still fails a missing, moved or
  renamed bookmark, and the overlap and edge checks are untouched by it (test_p15, test_p16). Stricter than the
  project's checker: the marks sit in the page margins, "page N of M" is matched as a whole with M = pdfinfo's count,
  both PDF dates are the run date (test_p14). But DEFECT D4 (text): no review record.
- SRS-203 HOLDS (render/documents.py:75-104): the worst outcome (an unknown one counts as worst) and the first case's
  V&V anchor, which exists (test_p17, test_p18); every document's print CSS keeps rows whole (test_p19). Measured
  separately (not in this file, 5 s of Chromium): CI run 8's matrix prints to 54 A4 pages (limit 60).
- Published figures (issue 19's last Done when): tests/docs/test_published_figures.py (SRS-209) checks the README
  blocks against the result files, the manifest and the CycloneDX model card against the standalone study, each with
  a negative control, so it can fail. It does not read the package's model-card.html or ai-validation.html; test_p20
  checks those pages against the manifest and the study file (control: the two sources' figures differ).

Defects (each a strict xfail beside a passing pin and a control):

D1 (SRS-198) sbom.py:293 (and :411) refer the model component to "model_card.html"; the package writes
   model-card.html (render/control.py:48), so the SBOM's "reference to the package's model card" names no file of the
   package. test_sbom_524b.py:63 asserts the wrong name. Pin test_d1_pin_*, xfail test_d1_*.
D2 (SRS-196) component_items.py:46-53 (_iso_date) accepts an ISO week date "2026-W45-1" (10 characters, Python 3.11's
   date.fromisoformat reads it) for vex.date and end_of_support: loading does not refuse it, the gate passes, and the
   package's SBOM then fails CycloneDX validation ("'2026-W45-1T00:00:00Z' is not a 'date-time'", a "report this as a
   defect" error instead of file:line). The text: "refuse with file:line an entry whose assessment has no date in
   YYYY-MM-DD form". Fix: a YYYY-MM-DD pattern. Pin test_d2_pin_*, xfail test_d2_*.
D3 (SRS-196, SRS-197) two entries of security/components.yaml for one name and version: supply_chain.py:77-84 judges
   the first by ID and ignores the other without a word (no warning: its name is a runtime component), while
   sbom.py:239 publishes the last entry's support and VEX properties and sbom.py:_vulnerabilities every entry's
   vulnerabilities. A second numpy entry saying end-of-life with an exploitable vulnerability passes --release, and
   the SBOM then lists numpy as end-of-life with that exploitable vulnerability. Fix: refuse a second entry for a
   name and version at load (file:line), or judge every entry. Pin test_d3_pin_*, xfail test_d3_*.
D4 (SRS-202, text) requirements.yaml:2290: b5d307b appended the lead's status note to the re-specification's
   ``record`` ("ANOM-016 Left in draft by the lead (2026-12-07) - ... (review 149).") instead of the rationale: every
   other record is a bare anomaly ID, the package's srs.html prints the note as the record, and it is in the review
   fingerprint, so correcting it later voids any review made now. Pin test_d4_pin_*, xfail test_d4_*.

Notes (not defects): runtime_components.py:33 lists a .libs file only when it has auditwheel's -<8 hex> name (all 28
here do); libonnxruntime_providers_shared.so (ORT's provider bridge, not in .libs) is not listed; a VEX dated after
the as-of date never ages (supply_chain.py:149); pdf_checks.missing_marks finds "page 1 of 12" inside "page 1 of
120" and accepts marks anywhere on the page (test_p14 is stricter); ANOM-016 now also affects risk-report's heading 7
("ISO 14971 9,10"), which the anomaly does not name.

helper-151, 2026-12-07 (fixer, not re-reviewed): D1-D3 fixed (D1: the SBOM takes the model card's file name from
render/control.py MODEL_CARD_FILE, model-card.html; D2: component_items._iso_date requires YYYY-MM-DD by pattern and a
calendar day; D3: loader._check_components refuses a second entry of one name (PEP 503) and version with file:line).
The D1-D3 pins assert the fixes (controls kept); their strict xfails are plain tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import socket
import subprocess
import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import require_tool
from device_ai.errors import TraceabilityError
from device_ai.regulatory import approvals, lock, sbom
from device_ai.regulatory.check import check_graph
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.package import build_package
from device_ai.regulatory.pdf import Printer, print_documents, set_dates
from device_ai.regulatory.render import DOCUMENTS, PrintPage, render_all
from device_ai.regulatory.render import control as doc_control
from device_ai.regulatory.render.documents import requirements_matrix
from device_ai.regulatory.render.view import TraceView
from tests import fast_yaml
from tests.regulatory import test_supply_chain_gate as mini
from tests.regulatory.miniproject import default_items, write_project
from tests.regulatory_render import pdf_checks as checks
from tests.regulatory_render.conftest import DATE, HEAD, build_graph, copy_items, sample_results, write_run

REPO = Path(__file__).resolve().parents[2]
MM = 72 / 25.4
PRINTED = ("risk-report.html", "model-card.html", "index.html")


# --- one package for the whole file -------------------------------------------------------------------

@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The repository's items with the synthetic run, their graph, the package (no PDF), and the PDFs of
    three of its documents plus two controls (margin boxes removed; overlapping text)."""
    base = tmp_path_factory.mktemp("review149")
    root = copy_items(base / "project")
    write_run(root / "results.json", root, sample_results())
    graph = build_graph(root, root / "results.json")
    package = base / "package"
    build_package(graph, root=root, out=package)
    return {"root": root, "graph": graph, "package": package, "base": base}


@pytest.fixture(scope="session")
def printed(built: dict[str, Any]) -> Path:
    require_tool("pdftotext")
    binary = Printer.find(require_tool("chromium")).binary
    package = built["package"]
    html = {name: (package / name).read_text(encoding="utf-8") for name in PRINTED}
    # control: the same model card without its page margin boxes
    html["bare.html"] = re.sub(r"@(top|bottom)-(left|right) \{[^}]*\}", "", html["model-card.html"])
    # control: two absolutely positioned lines drawn over each other
    html["overlap.html"] = html["model-card.html"].replace(
        "</body>", '<div style="position:absolute;top:300px;left:80px;font-size:20px">OVERLAPPING SAMPLE TEXT</div>'
                   '<div style="position:absolute;top:304px;left:90px;font-size:20px">COLLIDING WORDS HERE</div></body>')
    out = built["base"] / "pdf"
    out.mkdir()
    for name, data in print_documents(html, binary=binary, recorded_utc=DATE).items():
        (out / name).write_bytes(data)
    return out


def _manifest(package: Path) -> dict[str, Any]:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))


def _sbom(package: Path) -> dict[str, Any]:
    return json.loads((package / "sbom.cdx.json").read_text(encoding="utf-8"))


def _props(component: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        found.setdefault(p["name"], []).append(p["value"])
    return found


def _sbom_gap_items(report: Any) -> set[str]:
    return {f.item for f in report.section("gap") if f.topic.startswith("sbom")}


# --- SRS-196 --------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-196")
def test_p01_the_gate_checks_exactly_the_components_the_sbom_lists_as_runtime(built: dict[str, Any]) -> None:
    graph, document = built["graph"], _sbom(built["package"])
    gate = {(c["name"], c["version"]) for c in graph["environment"]["sbom_components"]}
    gate |= {(n["fields"]["name"], n["fields"]["version"]) for n in graph["nodes"] if n["kind"] == "model"}
    listed = {(c["name"], c.get("version")) for c in document["components"] if c.get("scope") == "required"}
    assert gate == listed
    kinds = {c["type"] for c in document["components"] if c.get("scope") == "required"}
    assert kinds == {"library", "platform", "machine-learning-model"}
    # control: the optional ([train]) closure is in the SBOM but not a runtime component of the gate
    optional = {(c["name"], c.get("version")) for c in document["components"] if c.get("scope") == "optional"}
    assert optional and not optional & gate


def _expected_unassessed(root: Path, graph: dict[str, Any]) -> set[str]:
    """Runtime component names an independent reading of components.yaml finds not releasable."""
    entries = fast_yaml.safe_load((root / "security/components.yaml").read_text(encoding="utf-8"))["components"]
    as_of = max(r["header"]["date_utc"] for r in graph["runs"])[:10]
    components = [(c["name"], c["version"]) for c in graph["environment"]["sbom_components"]]
    components += [(n["fields"]["name"], n["fields"]["version"]) for n in graph["nodes"] if n["kind"] == "model"]
    bad = set()
    for name, version in components:
        same = [e for e in entries if e["name"] == name and str(e["version"]) == str(version)]
        if len(same) != 1:
            bad.add(name)
            continue
        e = same[0]
        vex = e.get("vex") or {}
        eos = str(e.get("end_of_support") or "")
        stale = bool(vex) and (dt.date.fromisoformat(as_of) - dt.date.fromisoformat(str(vex["date"]))).days > 90
        if (stale or not e.get("support_level") or not e.get("support_source") or not (eos or e.get("end_of_support_note"))
                or e.get("support_level") == "end-of-life" or (eos and eos < as_of) or not vex
                or any(v["state"] in ("in_triage", "exploitable") for v in vex.get("vulnerabilities") or [])):
            bad.add(name)
    return bad


@pytest.mark.req("SRS-196", "SRS-197")
def test_p02_the_repository_release_gate_flags_exactly_the_unassessed_components(built: dict[str, Any]) -> None:
    root, graph = built["root"], built["graph"]
    entries = fast_yaml.safe_load((root / "security/components.yaml").read_text(encoding="utf-8"))["components"]
    name_of = {e["id"]: e["name"] for e in entries}
    report = check_graph(graph, head=HEAD, release=True)
    flagged = {name_of.get(item, item.removeprefix("CMP-")) for item in _sbom_gap_items(report)}
    expected = _expected_unassessed(root, graph)
    assert flagged == expected
    # controls: the honest state the file's header states (CPython in triage, several without a VEX) and
    # components it assesses completely
    assert {"cpython", "numpy", "pynetdicom"} <= expected and {"pydicom", "pillow"}.isdisjoint(expected)
    development = check_graph(graph, head=HEAD, release=False)
    assert not _sbom_gap_items(development)  # warnings during development


@pytest.mark.req("SRS-196")
def test_p03_a_library_whose_version_cannot_be_read_is_a_gap(tmp_path: Path) -> None:
    root = mini.project(tmp_path, mini.complete_entries())
    unread = [*mini.COMPONENTS, {"name": "libmystery", "version": None, "type": "library"}]
    lines = mini.sbom_lines(mini.check(root, release=True, components=unread))
    assert lines == ["GAP CMP-libmystery: sbom component: runtime component libmystery (version not readable) "
                     "(library) has no entry in security/components.yaml (support level, end of support, VEX)"]
    # control: an entry cannot match a missing version ("None" is a text like any other)
    named = mini.project(tmp_path / "named", [*mini.complete_entries(), mini.entry("CMP-libmystery", "libmystery", "None")])
    assert mini.sbom_lines(mini.check(named, release=True, components=unread))
    assert mini.sbom_lines(mini.check(root, release=True)) == []


@pytest.mark.req("SRS-196")
def test_p04_a_misspelt_field_is_refused_with_file_and_line(tmp_path: Path) -> None:
    entries = mini.complete_entries()
    entries[1] = {**{k: v for k, v in entries[1].items() if k != "support_level"}, "suport_level": "actively-maintained"}
    items = default_items()
    items["security/components.yaml"] = {"components": entries}
    write_project(tmp_path, items)
    with pytest.raises(TraceabilityError) as caught:
        load_project(tmp_path)
    assert any(re.match(r"security/components\.yaml:\d+", p) and "suport_level" in p for p in caught.value.problems)
    items["security/components.yaml"] = {"components": mini.complete_entries()}  # control
    write_project(tmp_path / "ok", items)
    load_project(tmp_path / "ok")


# --- SRS-197 --------------------------------------------------------------------------------------------

def _vulnerability(vid: str, state: str) -> dict[str, Any]:
    found = {"id": vid, "source": f"https://example.invalid/{vid}", "state": state, "detail": "Synthetic."}
    return {**found, "justification": "code_not_reachable"} if state == "not_affected" else found


@pytest.mark.req("SRS-197")
def test_p05_each_unresolved_vulnerability_of_a_mixed_list_is_one_gap(tmp_path: Path) -> None:
    states = {"CVE-2026-0001": "resolved", "CVE-2026-0002": "in_triage", "CVE-2026-0003": "not_affected",
              "CVE-2026-0004": "exploitable", "CVE-2026-0005": "false_positive"}
    vex = {"date": "2026-11-01", "assessor": "A", "sources": ["OSV"],
           "vulnerabilities": [_vulnerability(v, s) for v, s in states.items()]}
    lines = mini.sbom_lines(mini.check(mini.project(tmp_path, mini.with_change(0, vex=vex)), release=True))
    assert [line.split(": ")[2].split(" is ")[0] for line in lines] == ["CVE-2026-0002", "CVE-2026-0004"]
    resolved = dict(vex, vulnerabilities=[_vulnerability(v, "resolved") for v in states])  # control
    assert mini.sbom_lines(mini.check(mini.project(tmp_path / "ok", mini.with_change(0, vex=resolved)),
                                      release=True)) == []


# --- D2 and D3 (SRS-196, SRS-197) --------------------------------------------------------------------------

WEEK = {"vex": {"date": "2026-W45-1", "assessor": "A", "sources": ["OSV"], "no_known_vulnerability": "none known"},
        "end_of_support": "2027-W01-1"}


def _load_with(tmp_path: Path, change: dict[str, Any]) -> None:
    items = default_items()
    items["security/components.yaml"] = {"components": [mini.complete_entries()[0], {**mini.complete_entries()[1],
                                                                                       **change}]}
    write_project(tmp_path, items)
    load_project(tmp_path)


# D2 fixed by helper-151: the pin asserted that an ISO week date loaded and passed the gate; it now asserts the refusal
@pytest.mark.req("SRS-196")
def test_d2_pin_an_iso_week_date_is_refused_at_load_and_never_reaches_the_gate(tmp_path: Path) -> None:
    with pytest.raises(TraceabilityError) as week:
        _load_with(tmp_path / "week", WEEK)
    assert {p.split(": ", 2)[2].split(":")[0] for p in week.value.problems} == {"vex.date", "end_of_support"}
    assert all(re.match(r"security/components\.yaml:\d+: CMP-cpython: ", p) and "not a date" in p
               for p in week.value.problems)
    with pytest.raises(TraceabilityError):  # the mini project's baseline loads it: the gate never sees it
        mini.check(mini.project(tmp_path / "gate", mini.with_change(1, **WEEK)), release=True)
    # control: another non-YYYY-MM-DD form is refused with file:line
    with pytest.raises(TraceabilityError) as caught:
        _load_with(tmp_path / "dotted", {"end_of_support": "31.10.2027"})
    assert any(p.startswith("security/components.yaml:") and "not a date" in p for p in caught.value.problems)
    # control: the same days as YYYY-MM-DD load and pass the gate
    same_days = {"vex": {**WEEK["vex"], "date": "2026-11-02"}, "end_of_support": "2027-01-04"}
    _load_with(tmp_path / "genuine", same_days)
    assert mini.sbom_lines(mini.check(mini.project(tmp_path / "genuine-gate", mini.with_change(1, **same_days)),
                                      release=True)) == []


# D2 fixed by helper-151: the SBOM still cannot carry a week date, which is why the load now refuses it
@pytest.mark.req("SRS-196")
def test_d2_pin_the_week_date_would_break_the_sbom_so_the_load_refuses_it(tmp_path: Path) -> None:
    packages = sbom.closure(extras=())
    numpy_version = next(p.version for p in packages if p.name == "numpy")
    entry = {"id": "CMP-numpy", "name": "numpy", "version": numpy_version, "support_level": "actively-maintained",
             "support_source": "x", "end_of_support": "2027-10-31",
             "vex": {"date": "2026-W45-1", "assessor": "A", "sources": ["OSV"],
                     "vulnerabilities": [_vulnerability("CVE-2026-0001", "resolved")]}}
    text = sbom.sbom_text(sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0",
                                          assessments=[entry]))
    with pytest.raises(TraceabilityError, match="is not a 'date-time'"):
        sbom.validate(text)
    with pytest.raises(TraceabilityError) as refused:  # the load refuses the entry first
        _load_with(tmp_path, {"vex": {**entry["vex"], "date": "2026-W45-1"}})
    assert [p.split(": ", 1)[1] for p in refused.value.problems] == [
        "CMP-cpython: vex.date: '2026-W45-1' is not a date (expected YYYY-MM-DD)"]
    entry["vex"]["date"] = "2026-11-02"  # control: the same day as YYYY-MM-DD validates
    sbom.validate(sbom.sbom_text(sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE,
                                                 tool_version="0.1.0", assessments=[entry])))


# fixed by helper-151 (was a strict xfail, D2: component_items._iso_date accepted an ISO week date, 10 characters)
@pytest.mark.req("SRS-196")
def test_d2_a_date_not_in_yyyy_mm_dd_form_is_refused_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(TraceabilityError) as caught:
        _load_with(tmp_path, WEEK)
    assert any(p.startswith("security/components.yaml:") for p in caught.value.problems)


def _duplicate_entries() -> list[dict[str, Any]]:
    """The complete entries plus a second entry for numpy 2.0.0: end of life, an exploitable vulnerability."""
    second = mini.entry("CMP-numpy-2", "numpy", "2.0.0", support_level="end-of-life",
                        vex={"date": "2026-11-01", "assessor": "B", "sources": ["OSV"],
                             "vulnerabilities": [_vulnerability("CVE-2026-0009", "exploitable")]})
    return [*mini.complete_entries(), second]


# D3 fixed by helper-151: the pin asserted that the gate ignored the second entry; it now asserts the refusal at load
@pytest.mark.req("SRS-196", "SRS-197")
def test_d3_pin_a_second_entry_for_the_same_version_is_refused_before_the_gate(tmp_path: Path) -> None:
    with pytest.raises(TraceabilityError) as refused:
        mini.check(mini.project(tmp_path, _duplicate_entries()), release=True)
    [problem] = refused.value.problems
    assert re.match(r"security/components\.yaml:\d+: CMP-numpy-2: numpy 2\.0\.0 is assessed twice \(first by "
                    r"CMP-numpy at security/components\.yaml:\d+\)", problem)
    # control: the same entry alone is two gaps (end of life; exploitable)
    alone = [e for e in _duplicate_entries() if e["id"] != "CMP-numpy"]
    lines = mini.sbom_lines(mini.check(mini.project(tmp_path / "alone", alone), release=True))
    assert len(lines) == 2 and all(line.startswith("GAP CMP-numpy-2:") for line in lines)


# D3 fixed by helper-151: build_sbom, handed two entries, still publishes the last; a loaded project never holds
# two since the load refuses them (test_d3_pin_a_second_entry_for_the_same_version_is_refused_before_the_gate)
@pytest.mark.req("SRS-196", "SRS-197")
def test_d3_pin_the_sbom_builder_would_publish_the_second_entry() -> None:
    packages = sbom.closure(extras=())
    numpy_version = next(p.version for p in packages if p.name == "numpy")
    entries = [{**e, "version": numpy_version} for e in _duplicate_entries() if e["name"] == "numpy"]
    document = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0",
                               assessments=entries)
    numpy = _props(next(c for c in document["components"] if c["name"] == "numpy"))
    assert numpy["device-ai:sbom:entry"] == ["CMP-numpy-2"]
    assert numpy["device-ai:support:support_level"] == ["end-of-life"]
    assert [v["analysis"]["state"] for v in document["vulnerabilities"]] == ["exploitable"]
    # control: with the first entry alone the SBOM shows it
    alone = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0",
                            assessments=entries[:1])
    assert _props(next(c for c in alone["components"] if c["name"] == "numpy"))["device-ai:sbom:entry"] == ["CMP-numpy"]
    assert "vulnerabilities" not in alone


# fixed by helper-151 (was a strict xfail, D3: supply_chain judged only the first entry of a name and version)
@pytest.mark.req("SRS-196", "SRS-197")
def test_d3_a_second_entry_for_the_same_version_is_refused_or_judged(tmp_path: Path) -> None:
    try:
        report = mini.check(mini.project(tmp_path, _duplicate_entries()), release=True)
    except TraceabilityError as refused:  # refused at load with file:line: also a fix
        assert any(p.startswith("security/components.yaml:") for p in refused.problems)
        return
    assert not report.passed and any("CVE-2026-0009" in line for line in mini.sbom_lines(report))


# --- SRS-198 --------------------------------------------------------------------------------------------

# D1 fixed by helper-151: the pin asserted the reference to model_card.html; it now asserts model-card.html
@pytest.mark.req("SRS-198")
def test_d1_pin_the_model_refers_to_the_file_the_package_holds(built: dict[str, Any]) -> None:
    package = built["package"]
    [model] = [c for c in _sbom(package)["components"] if c["type"] == "machine-learning-model"]
    urls = [r["url"] for r in model["externalReferences"] if r["type"] == "documentation"]
    files = _manifest(package)["files"]
    assert urls == ["model-card.html"] and "model_card.html" not in files
    assert _props(model["modelCard"])["device-ai:model_card"][0].split()[0] == "model-card.html"
    # control: the package's model card exists under its document-ID table name
    assert "model-card.html" in files and doc_control.DOCUMENT_IDS["model-card.html"] == "DAI-DOC-MODEL-CARD"


# fixed by helper-151 (was a strict xfail, D1: sbom.py referred the model to model_card.html; the package has
# model-card.html)
@pytest.mark.req("SRS-198")
def test_d1_the_model_refers_to_the_packages_model_card(built: dict[str, Any]) -> None:
    package = built["package"]
    [model] = [c for c in _sbom(package)["components"] if c["type"] == "machine-learning-model"]
    urls = [r["url"] for r in model["externalReferences"] if r["type"] == "documentation"]
    assert urls and all(url in _manifest(package)["files"] for url in urls)


@pytest.mark.req("SRS-198")
def test_p06_every_native_file_digest_is_the_file_on_disk(built: dict[str, Any]) -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    seen = {}
    for component in _sbom(built["package"])["components"]:
        for value in _props(component).get("device-ai:native:file", []):
            path, _, digest = value.split(": ", 1)[1].partition(" sha256=")
            assert digest, value  # every shipped file with its SHA-256
            seen[path] = (digest, hashlib.sha256((site / path).read_bytes()).hexdigest())
    assert len(seen) >= 25 and any(p.startswith("onnxruntime/capi/libonnxruntime.so") for p in seen)
    assert any(p.startswith("numpy.libs/") for p in seen) and any(p.endswith("_rust.abi3.so") for p in seen)
    assert {p: d for p, (d, disk) in seen.items() if d != disk} == {}
    assert len({d for d, _ in seen.values()}) > 20  # control: the digests are per file, not one value


@pytest.mark.req("SRS-198")
def test_p07_the_sbom_validates_offline_and_a_broken_one_does_not(built: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("review 149: no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    text = (built["package"] / "sbom.cdx.json").read_text(encoding="utf-8")
    sbom.validate(text)
    broken = json.loads(text)
    next(c for c in broken["components"] if c["name"] == "cpython")["type"] = "interpreter"
    with pytest.raises(TraceabilityError):
        sbom.validate(json.dumps(broken))


@pytest.mark.req("SRS-198")
def test_p08_the_model_component_is_the_locked_manifest(built: dict[str, Any]) -> None:
    [manifest_path] = sorted(built["root"].glob("models/*/manifest.json"))
    manifest = json.loads(manifest_path.read_bytes())
    [model] = [c for c in _sbom(built["package"])["components"] if c["type"] == "machine-learning-model"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(manifest_path.read_bytes()).hexdigest()}]
    metrics = {m["type"]: m["value"] for m in model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics["lesion_dice"] == repr(manifest["metrics"]["lesion_dice"]["mean"])
    study = json.loads((REPO / "validation/results/demo-dinov2-seg-1.0.0.json").read_text(encoding="utf-8"))
    assert metrics["lesion_dice"] != repr(study["summary"]["metrics"]["lesion_dice"]["mean"])  # control


# --- SRS-199 --------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _installed_lock() -> str:
    return lock.installed_lock_text()


@pytest.mark.req("SRS-199")
def test_p10_lock_edits_the_text_names_fail_and_a_comment_does_not() -> None:
    committed = (REPO / "runtime.lock").read_text(encoding="utf-8")
    installed = _installed_lock()
    assert lock.differences(committed, installed) == []  # control: the committed lock is the installed closure
    assert lock.differences(committed + "# a note\n\n", installed) == []  # comments and blank lines are no pins
    no_python = "".join(line for line in committed.splitlines(True) if not line.startswith("# python:"))
    assert lock.differences(no_python, installed) == [f"python: locked None, installed "
                                                      f"{installed.split('# python: ')[1].split()[0]}"]
    unhashed = re.sub(r"(\nzipp==\S+  # installed-files sha256=)[0-9a-f]{64}", r"\1none", committed)
    assert lock.differences(unhashed, installed) == [f"zipp {metadata.version('zipp')}: installed files differ from "
                                                     "the locked digest"]
    pin = next(line for line in committed.splitlines() if line.startswith("numpy=="))
    with pytest.raises(TraceabilityError) as twice:
        lock.differences(committed + pin + "\n", installed, "runtime.lock")
    assert twice.value.problems == (f"runtime.lock:{len(committed.splitlines()) + 1}: numpy pinned twice",)


# --- SRS-201 --------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-201")
def test_p11_every_document_has_all_five_fields_and_its_page_shows_them(built: dict[str, Any]) -> None:
    package = built["package"]
    documents = _manifest(package)["documents"]
    assert len({d["id"] for d in documents.values()}) == len(documents) >= 24
    for name, block in documents.items():
        assert re.fullmatch(r"DAI-DOC-[A-Z0-9-]+", block["id"]) and block["revision"] == "0.1.0+g" + HEAD[:12]
        assert block["date"] == DATE and block["author"].startswith("generated by device-ai report package")
        assert block["approval"]["state"] == approvals.NOT_APPROVED and block["approval"]["signatures"] == []
        if name.endswith(".html"):
            page = (package / name).read_text(encoding="utf-8")
            header = page[page.index('id="document-control"'):]
            header = header[:header.index("</div>")]
            for value in (block["id"], block["revision"], DATE, approvals.NOT_APPROVED):
                assert value in header, (name, value)
            assert "@top-left" in page and block["id"] in page[page.index("@top-left"):page.index("@top-right")]
            # the approval region of the page and of the printed header: the draft state, no signature
            region = page[page.index("<!--<dai-approval>-->"):page.index("<!--</dai-approval>-->")]
            assert approvals.NOT_APPROVED in region and "signature" not in region.replace("missing a valid signature", "")
            printed = page[page.index("/*<dai-approval>*/"):page.index("/*</dai-approval>*/")]
            assert "not approved" in printed
    # control: a document the table does not know has no block
    with pytest.raises(TraceabilityError, match="has no document ID"):
        doc_control.block(TraceView.from_graph(built["graph"]), "notes.html")


@pytest.mark.req("SRS-201")
def test_p12_dirty_only_from_a_run_on_the_head_commit(built: dict[str, Any]) -> None:
    graph = copy.deepcopy(built["graph"])
    other = copy.deepcopy(graph["runs"][0])
    other["id"] = "other-commit-run"
    other["header"]["git"] = {"commit": "e" * 40, "dirty": True}
    graph["runs"].append(other)
    assert doc_control.revision(TraceView.from_graph(graph)) == "0.1.0+g" + HEAD[:12]
    graph["runs"][0]["header"]["git"]["dirty"] = True  # control: a dirty run on the head commit
    assert doc_control.revision(TraceView.from_graph(graph)) == "0.1.0+g" + HEAD[:12] + ".dirty"


@pytest.mark.req("SRS-201")
def test_p13_an_approval_needs_three_valid_signatures_by_different_trusted_people() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    keys = {name: Ed25519PrivateKey.generate() for name in ("Ann Author", "Rob Reviewer", "Quinn QA")}
    trusted = {approvals.key_id(k.public_key()): approvals.TrustedSigner(n, frozenset(approvals.ROLES), k.public_key())
               for n, k in keys.items()}
    fields = {"document": "DAI-DOC-SRS", "revision": "0.1.0+gabc", "sha256": "0" * 64, "date": "2026-12-07"}

    def state(signatures: list[approvals.Signature], keyring: dict[str, Any] = trusted) -> str:
        return approvals.approval("DAI-DOC-SRS", revision="0.1.0+gabc", sha256="0" * 64, signatures=signatures,
                                  trusted=keyring)["state"]

    roles = dict(zip(approvals.REQUIRED_ROLES, keys, strict=True))
    distinct = [approvals.sign(keys[n], role=r, name=n, **fields) for r, n in roles.items()]
    assert state(distinct) == approvals.APPROVED  # control
    one_person = [approvals.sign(keys["Ann Author"], role=r, name="Ann Author", **fields) for r in roles]
    assert state(one_person) == approvals.NOT_APPROVED
    assert state(distinct, {}) == approvals.NOT_APPROVED  # nobody trusted
    claimed = [*distinct[:2], approvals.sign(keys["Rob Reviewer"], role="qa-ra", name="Quinn QA", **fields)]
    assert state(claimed) == approvals.NOT_APPROVED  # a name its key does not back
    assert approvals.draft_approval()["state"] == approvals.NOT_APPROVED


# --- SRS-202 --------------------------------------------------------------------------------------------

def _bands(pdf: Path) -> list[tuple[str, str, str]]:
    """(top margin text, body text, bottom margin text) of each page, from the word boxes."""
    top_mm, _, bottom_mm, _ = PrintPage().margins_mm
    pages = []
    for _width, height, words in checks.word_pages(pdf):
        ordered = sorted(words, key=lambda w: (round(w[1]), w[0]))
        top = " ".join(w[4] for w in ordered if w[3] <= top_mm * MM + 1)
        bottom = " ".join(w[4] for w in ordered if w[1] >= height - bottom_mm * MM - 1)
        body = " ".join(w[4] for w in ordered if top_mm * MM + 1 < w[3] and w[1] < height - bottom_mm * MM - 1)
        pages.append((top, body, bottom))
    return pages


def _strict_mark_problems(pdf: Path, doc_id: str, revision: str) -> list[str]:
    total, problems = checks.page_count(pdf), []
    bands = _bands(pdf)
    if len(bands) != total:
        problems.append(f"{len(bands)} pages of words, pdfinfo {total}")
    for number, (top, _body, bottom) in enumerate(bands, 1):
        if doc_id not in top.split() or revision not in top.split():
            problems.append(f"page {number}: no ID/revision in the top margin")
        if re.findall(r"\bpage (\d+) of (\d+)\b", bottom) != [(str(number), str(total))]:
            problems.append(f"page {number}: bottom margin says {bottom!r}")
    return problems


@pytest.mark.req("SRS-202")
def test_p14_marks_sit_in_the_margins_of_every_page_and_both_dates_are_the_run_date(built: dict[str, Any],
                                                                                     printed: Path) -> None:
    documents = _manifest(built["package"])["documents"]
    pages = 0
    for name in PRINTED:
        pdf = printed / (name[:-5] + ".pdf")
        assert _strict_mark_problems(pdf, documents[name]["id"], documents[name]["revision"]) == [], name
        info = checks.info(pdf)
        assert info["CreationDate"].strip() == info["ModDate"].strip() == "Mon Nov 30 12:00:00 2026 UTC", name
        assert b"file:" not in pdf.read_bytes()
        pages += checks.page_count(pdf)
    assert pages > 30
    # controls: the model card printed without its margin boxes fails on every page; other dates show
    bare = printed / "bare.pdf"
    assert len(_strict_mark_problems(bare, "DAI-DOC-MODEL-CARD", "0.1.0+g" + HEAD[:12])) == 2 * checks.page_count(bare)
    moved = printed / "moved.pdf"
    moved.write_bytes(set_dates((printed / "model-card.pdf").read_bytes(), b"D:20270101000000+00'00'"))
    assert checks.info(moved)["ModDate"].strip() == "Fri Jan  1 00:00:00 2027 UTC"


@pytest.mark.req("SRS-202")
def test_p15_no_overlap_and_nothing_past_the_edge_in_the_printed_documents(printed: Path) -> None:
    right = PrintPage().margins_mm[1]
    for name in PRINTED:
        pdf = printed / (name[:-5] + ".pdf")
        assert checks.overlaps(pdf) == [] and checks.past_right_edge(pdf, right) == [], name
    found = checks.overlaps(printed / "overlap.pdf")  # control
    assert any("COLLIDING" in line or "OVERLAPPING" in line for line in found)


@pytest.mark.req("SRS-202")
def test_p16_anom_016_only_drops_spaces_and_the_respecified_check_still_fails_wrong_bookmarks(
        built: dict[str, Any], printed: Path) -> None:
    def unspaced(titles: list[str]) -> list[str]:
        return ["".join(t.split()) for t in titles]

    for name in PRINTED:
        headings = checks.headings((built["package"] / name).read_text(encoding="utf-8"))
        outline = checks.outline(printed / (name[:-5] + ".pdf"))
        assert unspaced(outline) == unspaced(headings), name
        for got, want in zip(outline, headings, strict=True):  # ANOM-016: only spaces are lost, never a character
            assert got == want or (len(got) < len(want) and got.replace(" ", "") == want.replace(" ", "")), (got, want)
    # controls on the risk report's real bookmarks: a missing, a moved and a renamed heading each fail
    headings = checks.headings((built["package"] / "risk-report.html").read_text(encoding="utf-8"))
    outline = checks.outline(printed / "risk-report.pdf")
    assert len(outline) > 5
    for broken in (outline[:3] + outline[4:], [outline[1], outline[0], *outline[2:]],
                   [outline[0].swapcase(), *outline[1:]], []):
        assert unspaced(broken) != unspaced(headings)
    anomaly = next(a for a in fast_yaml.safe_load((REPO / "traceability/anomalies.yaml").read_text())["anomalies"]
                   if a["id"] == "ANOM-016")
    assert "5.5, 6,7)" in anomaly["description"] and anomaly["status"] == "open"  # the original result stays visible


def _respecification() -> dict[str, Any]:
    items = fast_yaml.safe_load((REPO / "traceability/requirements.yaml").read_text(encoding="utf-8"))
    [srs202] = [r for r in items["software_requirements"] if r["id"] == "SRS-202"]
    [change] = srs202["respecifications"]
    return change


# D4 fixed by the lead (the note moved to the rationale): the pin is gone, the xfail is a plain test
@pytest.mark.req("SRS-202")
def test_d4_the_respecification_record_is_the_anomaly() -> None:
    assert _respecification()["record"] == "ANOM-016"


# --- SRS-203 --------------------------------------------------------------------------------------------

def _with_cases(graph: dict[str, Any], function: str, outcomes: list[str]) -> dict[str, Any]:
    run = graph["runs"][0]["id"]
    for i, outcome in enumerate(outcomes):
        test_id = f"{function}[c{i}]"
        graph["nodes"].append({"kind": "test", "id": test_id, "fingerprint": None, "source": None, "review": None,
                               "review_state": None, "suspect_because": [],
                               "fields": {"file": function.split("::")[0], "line": 1, "requirements": ["SRS-001"],
                                          "unresolved": []},
                               "results": [{"run": run, "outcome": outcome, "duration_s": 0.1, "message": None}]})
        graph["edges"].append({"kind": "verifies", "source": test_id, "target": "SRS-001",
                               "reviewed": {"source": None, "target": None}, "suspect": False})
    return graph


@pytest.mark.req("SRS-203")
def test_p17_the_worst_case_decides_and_an_unknown_outcome_counts_as_worst(built: dict[str, Any]) -> None:
    graph = copy.deepcopy(built["graph"])
    for function, outcomes in (("tests/t.py::test_err", ["passed", "error", "skipped"]),
                               ("tests/t.py::test_odd", ["passed", "mystery"]),
                               ("tests/t.py::test_ok", ["passed"] * 4),
                               ("tests/t.py::TestK::test_m", ["xfailed", "skipped"])):
        graph = _with_cases(graph, function, outcomes)
    row = next(r for r in requirements_matrix(TraceView.from_graph(graph))["rows"] if r["id"] == "SRS-001")
    entries = {t["id"]: (t["outcome"], t["cases"]) for t in row["tests"]}
    assert entries["tests/t.py::test_err"] == ("error", 3) and entries["tests/t.py::test_odd"] == ("mystery", 2)
    assert entries["tests/t.py::TestK::test_m"] == ("skipped", 2)
    assert entries["tests/t.py::test_ok"] == ("passed", 4)  # control


@pytest.mark.req("SRS-203")
def test_p18_each_entry_links_to_its_first_cases_record_in_the_vv_report(built: dict[str, Any]) -> None:
    graph = _with_cases(copy.deepcopy(built["graph"]), "tests/t.py::test_many", ["passed"] * 12)
    docs = {d.file: d for d in DOCUMENTS}
    html = render_all(TraceView.from_graph(graph), root=built["root"], sbom={}, model_manifests={},
                      files=(docs["trace-requirements.html"], docs["vv-report.html"]))
    links = set(re.findall(r'href="vv-report\.html#([^"]+)"', html["trace-requirements.html"]))
    anchors = set(re.findall(r'id="([^"]+)"', html["vv-report.html"]))
    assert len(links) >= 7 and links <= anchors
    row = next(r for r in requirements_matrix(TraceView.from_graph(graph))["rows"] if r["id"] == "SRS-001")
    [many] = [t for t in row["tests"] if t["id"] == "tests/t.py::test_many"]
    assert many["anchor"] in links and many["result"] == "12 cases: 12 passed"
    assert html["vv-report.html"].count("tests/t.py::test_many[c") == 12  # the V&V report keeps every case
    assert "test-0000000000000000" not in anchors  # control: a made-up anchor is not there


@pytest.mark.req("SRS-203")
def test_p19_every_documents_print_css_keeps_table_rows_whole(built: dict[str, Any]) -> None:
    pages = sorted(built["package"].glob("*.html"))
    assert len(pages) >= 20
    for page in pages:
        style = page.read_text(encoding="utf-8")
        media = style[style.index("@media print {\n  body"):]
        assert "tr, .card { break-inside: avoid; }" in media[:media.index("\n}")], page.name


# --- issue 19's last Done when: published figures -----------------------------------------------------

@pytest.mark.req("SRS-209")
def test_p20_the_package_pages_show_the_manifests_and_the_studys_figures(built: dict[str, Any]) -> None:
    def text(name: str) -> str:
        raw = re.sub(r"<[^>]+>", " ", (built["package"] / name).read_text(encoding="utf-8"))
        return " ".join(raw.replace("&gt;", ">").replace("&lt;", "<").split())

    [manifest_path] = sorted(built["root"].glob("models/*/manifest.json"))
    released = json.loads(manifest_path.read_bytes())["metrics"]["lesion_dice"]
    study = json.loads((REPO / "validation/results/demo-dinov2-seg-1.0.0.json").read_text())["summary"]["metrics"]
    card, validation = text("model-card.html"), text("ai-validation.html")
    release_figure = f"{released['mean']:.3f} [{released['ci95'][0]:.3f}, {released['ci95'][1]:.3f}]"
    study_figure = f"{study['lesion_dice']['mean']:.3f} [{study['lesion_dice']['ci95'][0]:.3f}, "
    assert f"lesion_dice {release_figure} n: {released['n']}" in card
    assert f"Lesion Dice {release_figure} n {released['n']}" in validation
    assert study_figure in validation and study_figure.split()[0] in (REPO / "README.md").read_text()
    assert study_figure not in card  # control: the two sources differ and each page shows the right one
    assert "first 40 patients reproduce" in validation
