"""Independent re-review 153 (reviewer helper-153) of helper-151's fixes of review 149 D1-D3 (commit b0c3846;
SRS-196, SRS-197, SRS-198), of the lead's fix of review 149 D4 (053de2f; SRS-202's re-specification record,
ANOM-016), and the first independent review of SRS-233 (63d55d1, the lead's; node_tls_ca_file checked before it is
loaded), at d956d9d. helper-153 wrote none of the code, requirements or tests reviewed. Read: component_items.py,
loader.py (_check_components), yaml_lines.py, supply_chain.py, sbom.py, render/control.py, node/server.py
(tls_context), config.py (read_owned_file), node/transport_security.py, keystore.py, peer_authentication.py,
tests/regulatory/test_supply_chain_gate.py, tests/regulatory_render/test_sbom_524b.py, tests/node/test_tls_ca_file.py,
tests/review/test_review_149.py.

Verdicts:

- SRS-198 (review 149 D1) HOLDS (sbom.py:238/295/378/415 take render/control.py:38 MODEL_CARD_FILE). Every string of
  the built package's SBOM that names a file of the package - the model's documentation reference and its modelCard
  pointer are the only two - names a file the package holds and its manifest lists
  (test_d1_every_file_the_sbom_names_is_in_the_package); the genuine SBOM validates and one with a week date does not,
  the repository's components.yaml loads (test_controls_repository_components_load_and_sbom_validates). Note N1: other
  property values name repository files in prose (security/plan.yaml, traceability/anomalies.yaml,
  benchmarks/results/latency.json): not package files and not claimed to be.
- SRS-197 (review 149 D3) HOLDS, and D3 HOLDS for SRS-196 (loader.py:452-464): a second entry whose name is any PEP 503
  spelling of the first (case, '_', '.', '-' runs: NUMPY, NumPy, typing_extensions, Typing.Extensions,
  typing--extensions, TYPING_-.EXTENSIONS) and the same version is refused at its own file:line naming the first
  (test_d3_name_spellings). Versions are compared as written: '2.0', 'v2.0.0', '2.0.0.0' or '2.0.0 ' beside '2.0.0'
  load; the gate (supply_chain.py:77-84) and the SBOM (sbom.py:241) both take the entry whose name and version equal
  the runtime component's exactly, so they judge and publish the same entry and the other spelling is neither
  (test_d3_version_spellings: an end-of-life, exploitable 'v2.0.0' beside a clean '2.0.0' leaves the gate passing and
  the SBOM clean; control: the same entry at '2.0.0' alone is two gaps and is what the SBOM publishes). No duplicate the
  gate would judge as one component can pass: that needs the exact name and version twice, which the (stricter,
  normalized) loader refuses. Note N2: the other version spelling is silent - supply_chain.py:106-110 warns only about
  an entry whose name is no runtime component; a name with a trailing space loads and gets that warning.
- SRS-196 (review 149 D2): the fix HOLDS for every date that reaches the validator as text (component_items.py:47-59):
  full-width and Arabic-Indic digits, '+2026-11-05', '2026-W45-1', '20261105', '2026-11-05\\n', quoted '2026-02-29'
  and '0000-01-01' are refused at file:line; a date with a time (unquoted: YAML datetime) and an unquoted 20261105
  (int) are refused at file:line by the strict str type; '0001-01-01', '9999-12-31', !!str and unquoted valid dates
  load (test_d2_*). But DEFECT D1 below: an unquoted date that is no calendar day never reaches it.
- SRS-202 HOLDS (review 149 D4 fixed, requirements.yaml:2300): the record is the bare anomaly ID, the lead's note is in
  the rationale, the package's srs.html prints "(record ANOM-016)"; ANOM-016 (anomalies.yaml) keeps the original
  result ("... 5.5, 6,7)"), is open and relates to SRS-202 (test_srs202_*). Review 149's test_p15 and test_p16 (the
  re-specified bookmark check still fails a missing, moved, renamed and empty outline; overlap and edge checks) re-run
  at d956d9d: `pytest tests/review/test_review_149.py -k "p15 or p16 or d1 or d4"` 5 passed in 18 s.
- ANOM-016 HOLDS (as above).
- SRS-233 DEFECT (D2, D3, D4); otherwise holds: 0664/0666 targets behind a symlink and a target owned by another
  account are refused, a symlink to an owner-only file loads (test_srs233_symlinks); the bytes loaded are the bytes
  checked - a file swapped between the check and the load is not what the node trusts (test_srs233_no_window_
  between_check_and_load; control: the swap happened, a load by name sees the other CA); `device-ai serve` refuses a
  0664 CA with DAI-100 exit 2 naming node_tls_ca_file and the mode, no traceback, no listen() and no bind() of its
  port (recorded in the child by a sitecustomize), no spool folder; control: the same serve with 0644 listens
  (test_srs233_serve_*).

Defects (each a strict xfail beside a passing pin and a control):

D1 (SRS-196) yaml_lines.py:81-94 (load_yaml catches yaml.YAMLError only): an UNQUOTED end_of_support or vex.date that
   YAML's timestamp pattern matches but that is no day of the calendar (2026-02-29, 2026-13-01, 0000-01-01) makes
   PyYAML's constructor raise a bare ValueError: load_project raises it, and `device-ai trace build` ends with
   "error DAI-999: internal error (ValueError: day is out of range for month)", exit 70, no file:line. SRS-196: "Loading
   shall refuse with file:line an entry whose end-of-support date or assessment date is not a day of the calendar
   written YYYY-MM-DD". The same date quoted is refused at file:line (control). Every YAML file the loader reads has
   it. Fix: a timestamp constructor on _LineLoader that raises YamlLocatedError at the node's line. Pin test_d1_pin_*,
   xfail test_d1_*.
D2 (SRS-233) server.py:118 catches OSError and ssl.SSLError only: an EMPTY node_tls_ca_file makes
   load_verify_locations(cadata="") raise ValueError("Empty certificate data"): `device-ai serve` ends with DAI-999
   exit 70. The text: "A file that is not a certificate ... is a typed refusal naming the TLS settings" (control: a
   file holding one newline is that refusal). Pin test_d2_pin_*, xfail test_d2_*.
D3 (SRS-233) config.py:400 (read_owned_file: open() without O_NONBLOCK, no regular-file check; keystore's
   read_private_file has both): a FIFO at node_tls_ca_file blocks serve before it listens, forever, with no refusal
   (re-review 147 D2 was the same defect in self-check). Availability only: a writer can only feed it a CA if the
   FIFO passes the owner/mode check. Pin test_d3_pin_*, xfail test_d3_*.
D4 (SRS-233) server.py:113-116: a PEM file with non-ASCII explanatory text outside the certificate (RFC 7468 permits
   text there; e.g. "# Issuer: CN=Universitätsklinikum Demo CA", as CA bundles carry) fails the ASCII decode, is tried
   as DER and refused ("not enough data"), while OpenSSL by name - the code before 63d55d1 - loads its certificate: a
   regression, and the text says the file loads as PEM or DER (control: the same comment in ASCII loads). Pin
   test_d4_pin_*, xfail test_d4_*.

Notes (not defects against the texts as written):
N3 (SRS-233) The check is on the opened file, not its folder: whoever can write the folder can point the name at
   another file this account or root owns, e.g. the system trust store, and the node then accepts every client
   certificate any of those CAs signed as an authenticated peer (peer_authentication.py:42). test_n3 shows it
   (control: the file itself 0666 is refused). SRS-218 (config file) and SRS-232 (keys) have the same limit.
N4 Other files loaded by name without any owner/mode check: node_tls_cert_file (server.py:110) and a destination's
   transport.ca_bundle and client_certificate (transport_security.py:40, :53). The ca_bundle is the same class as
   SRS-233 for results sent out: whoever can rewrite it chooses which servers the device sends results to (THR-010,
   THR-011); SRS-216 does not ask for a check, so no text is contradicted - a requirement is missing
   (test_n4; control: node_tls_ca_file at 0666 refused). batch_tls_ca_file and batch_tls_cert_file are checked
   (batch/cluster_security.py:106). The keys are checked, then loaded again by name (server.py:106/110,
   transport_security.py:49/53; re-review 143 N2).

Mutation check (a copy of src/ from `git archive HEAD` at d956d9d in /tmp/h153src, PYTHONPATH; each fix undone
alone, this file run whole; 7 mutants, 7 killed; at the copy unchanged: 45 passed, 6 xfailed):
M1 _iso_date without the YYYY-MM-DD pattern: 14 failed - test_d2_forms_are_refused_with_file_line ('2026-W45-1',
   '20261105', '+2026-11-05' quoted and not, "2026-11-05\\n", full-width and Arabic-Indic digits; both fields)
M2 _iso_date without the calendar check: 5 failed - test_d2_forms_are_refused_with_file_line ('2026-02-29',
   '0000-01-01'; both fields), test_d1_pin_an_unquoted_impossible_date_is_an_internal_error (its quoted control)
M3 load_project without _check_components: test_d3_name_spellings
M4 sbom.py back to "model_card.html" (both places): test_d1_every_file_the_sbom_names_is_in_the_package
M5 server.py back to load_verify_locations(cafile=str(ca)), no check: 9 failed - test_srs233_symlinks,
   test_srs233_no_window_between_check_and_load, test_srs233_serve_refuses_before_listening, test_n3/test_n4 (their
   controls), test_d2/test_d4 pins and xfails (OpenSSL by name behaves otherwise)
M6 server.py checks with read_owned_file, then loads by name: 6 failed - test_srs233_no_window_between_check_and_load
   (the swapped-in CA is trusted), test_d2/test_d3/test_d4 pins and xfails
M7 server.py without the DER branch: test_srs233_no_window_between_check_and_load (its DER copy), test_d4_pin
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from device_ai.errors import ConfigError, TraceabilityError
from device_ai.regulatory import sbom
from device_ai.regulatory.component_items import RuntimeComponent
from device_ai.regulatory.items import normalize_package
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.package import build_package
from tests import fast_yaml
from tests.regulatory import test_supply_chain_gate as mini
from tests.regulatory.miniproject import default_items, write_project
from tests.regulatory_render.conftest import DATE, build_graph, copy_items, sample_results, write_run

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = "security/components.yaml"
PLACEHOLDER = "H153-PLACEHOLDER"
CLI = Path(sys.executable).with_name("device-ai")


# --- helpers --------------------------------------------------------------------------------------------------

def _with_raw_date(root: Path, field: str, raw: str) -> Path:
    """The mini project whose CMP-cpython ``field`` (vex.date or end_of_support) is ``raw`` as written in the file."""
    entries = mini.complete_entries()
    if field == "vex.date":
        entries[1]["vex"] = {**entries[1]["vex"], "date": PLACEHOLDER}
    else:
        entries[1]["end_of_support"] = PLACEHOLDER
    items = default_items()
    items[COMPONENTS] = {"components": entries}
    write_project(root, items)
    path = root / COMPONENTS
    text = path.read_text(encoding="utf-8")
    assert text.count(PLACEHOLDER) == 1
    path.write_text(text.replace(PLACEHOLDER, raw), encoding="utf-8")
    return root


def _line(root: Path, text: str, after: str | None = None) -> int:
    lines = (root / COMPONENTS).read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines, 1) if after in line) if after else 0
    return next(n for n, line in enumerate(lines, 1) if n > start and text in line)


def _field_line(root: Path, field: str) -> int:
    return _line(root, "date: " if field == "vex.date" else "end_of_support:", after="id: CMP-cpython")


def _problems(root: Path) -> list[str]:
    try:
        load_project(root)
    except TraceabilityError as refused:
        return list(refused.problems)
    return []


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "device_ai.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


# --- SRS-196 (review 149 D2): dates ---------------------------------------------------------------------------

REFUSED_AS_TEXT = {  # written in the file -> refused by _iso_date with this message ending
    "'２０２６-１１-０５'": "(expected YYYY-MM-DD)", "'٢٠٢٦-١١-٠٥'": "(expected YYYY-MM-DD)",
    "'+2026-11-05'": "(expected YYYY-MM-DD)", "+2026-11-05": "(expected YYYY-MM-DD)",
    "'2026-W45-1'": "(expected YYYY-MM-DD)", "'20261105'": "(expected YYYY-MM-DD)",
    '"2026-11-05\\n"': "(expected YYYY-MM-DD)",
    "'2026-02-29'": "(expected YYYY-MM-DD, a day of the calendar)",
    "'0000-01-01'": "(expected YYYY-MM-DD, a day of the calendar)",
}


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("field", ["vex.date", "end_of_support"])
@pytest.mark.parametrize("raw", list(REFUSED_AS_TEXT))
def test_d2_forms_are_refused_with_file_line(tmp_path: Path, raw: str, field: str) -> None:
    root = _with_raw_date(tmp_path, field, raw)
    [problem] = _problems(root)
    assert problem.startswith(f"{COMPONENTS}:{_field_line(root, field)}: CMP-cpython: {field}: ")
    assert problem.endswith(f"is not a date {REFUSED_AS_TEXT[raw]}")


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("raw", ["2026-11-05 10:00:00", "2026-11-05T00:00:00Z", "20261105"])
def test_d2_a_datetime_or_number_is_refused_with_file_line(tmp_path: Path, raw: str) -> None:
    root = _with_raw_date(tmp_path, "end_of_support", raw)
    [problem] = _problems(root)
    assert problem.startswith(f"{COMPONENTS}:{_field_line(root, 'end_of_support')}: CMP-cpython: end_of_support: "
                              "Input should be a valid string")


@pytest.mark.req("SRS-196")
@pytest.mark.parametrize("raw", ["2026-11-05", "'2026-11-05'", "!!str 2026-11-05", "'2024-02-29'", "'0001-01-01'",
                                 "'9999-12-31'"])
def test_d2_control_calendar_days_load(tmp_path: Path, raw: str) -> None:
    root = _with_raw_date(tmp_path, "vex.date", raw)
    assert load_project(root).items["CMP-cpython"].item.vex.date == raw.strip("'").removeprefix("!!str ")


# D1 (review 153): an unquoted date that is no calendar day never reaches the validator
NOT_A_DAY = ["2026-02-29", "2026-13-01", "0000-01-01"]


@pytest.mark.req("SRS-196")
def test_d1_fixed_an_unquoted_impossible_date_is_refused_at_file_line(tmp_path: Path) -> None:
    # lead, 2026-12-07 (not re-reviewed): yaml_lines refuses a timestamp PyYAML cannot build at its line; this
    # was the pin of the internal error (DAI-999, exit 70); it now asserts the located refusal, control kept
    for i, raw in enumerate(NOT_A_DAY):
        with pytest.raises(TraceabilityError):
            load_project(_with_raw_date(tmp_path / str(i), "end_of_support", raw))
    # through the CLI: DAI-999, exit 70, no file:line
    root = mini.project(tmp_path / "cli", mini.complete_entries())
    results = mini.write_results(root, mini.passing_results())
    path = root / COMPONENTS
    text = path.read_text(encoding="utf-8")
    line = _line(root, "end_of_support:", after="id: CMP-cpython")
    lines = text.splitlines()
    lines[line - 1] = lines[line - 1].split(":")[0] + ": 2026-02-29"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    build = ("trace", "build", "--root", str(root), "--results", str(results), "--out", str(root / "graph.json"))
    crashed_cli = _cli(*build)
    assert crashed_cli.returncode == 12 and "DAI-999" not in crashed_cli.stderr
    assert f"{COMPONENTS}:{line}:" in crashed_cli.stderr and "not a date or time" in crashed_cli.stderr
    # control: the same day quoted is a file:line refusal (DAI-900)
    lines[line - 1] = lines[line - 1].split(":")[0] + ": '2026-02-29'"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = _cli(*build)
    assert refused.returncode == 12
    assert f"{COMPONENTS}:{line}: CMP-cpython: end_of_support: '2026-02-29'" in refused.stderr


@pytest.mark.req("SRS-196")
# was a strict xfail (review 153 D1: yaml_lines.load_yaml let PyYAML's ValueError through); fixed by the lead
@pytest.mark.parametrize("raw", NOT_A_DAY)
def test_d1_an_unquoted_impossible_date_is_refused_with_file_line(tmp_path: Path, raw: str) -> None:
    root = _with_raw_date(tmp_path, "end_of_support", raw)
    problems = _problems(root)
    assert problems and all(p.startswith(f"{COMPONENTS}:") for p in problems)


# --- SRS-196/197 (review 149 D3): one entry per name and version ------------------------------------------------

@pytest.mark.req("SRS-196", "SRS-197")
def test_d3_name_spellings(tmp_path: Path) -> None:
    spellings = {"numpy": ["NUMPY", "NumPy"],
                 "typing-extensions": ["typing_extensions", "Typing.Extensions", "typing--extensions",
                                       "TYPING_-.EXTENSIONS"]}
    for first, others in spellings.items():
        for i, spelled in enumerate(others):
            entries = [*mini.complete_entries(), mini.entry("CMP-typing-extensions", "typing-extensions", "4.12.2")]
            entries.append(mini.entry(f"CMP-second-{i}", spelled, "2.0.0" if first == "numpy" else "4.12.2",
                                      support_level="end-of-life"))
            root = tmp_path / f"{first}-{i}"
            items = default_items()
            items[COMPONENTS] = {"components": entries}
            write_project(root, items)
            [problem] = _problems(root)
            second, earlier = _line(root, f"id: CMP-second-{i}"), _line(root, f"id: CMP-{first}")
            assert problem.startswith(f"{COMPONENTS}:{second}: CMP-second-{i}: {spelled} ")
            assert f"is assessed twice (first by CMP-{first} at {COMPONENTS}:{earlier})" in problem
    # control: a name that normalizes to another one (no separator) and another version each load
    root = tmp_path / "control"
    items = default_items()
    items[COMPONENTS] = {"components": [*mini.complete_entries(),
                                        mini.entry("CMP-typing-extensions", "typing-extensions", "4.12.2"),
                                        mini.entry("CMP-typingextensions", "typingextensions", "4.12.2"),
                                        mini.entry("CMP-numpy-1", "numpy", "1.26.4")]}
    write_project(root, items)
    assert _problems(root) == []


def _eol_exploitable(cmp_id: str, version: str) -> dict[str, Any]:
    return mini.entry(cmp_id, "numpy", version, support_level="end-of-life",
                      vex={"date": "2026-11-01", "assessor": "B", "sources": ["OSV"],
                           "vulnerabilities": [{"id": "CVE-2026-1530",
                                                "source": "https://example.invalid/CVE-2026-1530",
                                                "state": "exploitable", "detail": "Synthetic."}]})


def _sbom_numpy(entries: list[dict[str, Any]]) -> tuple[dict[str, list[str]], list[Any]]:
    document = sbom.build_sbom(sbom.closure(extras=()), [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0",
                               assessments=entries)
    props: dict[str, list[str]] = {}
    for p in next(c for c in document["components"] if c["name"] == "numpy").get("properties", []):
        props.setdefault(p["name"], []).append(p["value"])
    return props, document.get("vulnerabilities", [])


def _spelled(spelling: str, version: str) -> str:
    return spelling.format(version) if "{}" in spelling else spelling


@pytest.mark.req("SRS-196", "SRS-197")
@pytest.mark.parametrize("spelling", ["v{}", "{}.0", "{} ", "2.0"])
def test_d3_version_spellings(tmp_path: Path, spelling: str) -> None:
    def entries(version: str) -> list[dict[str, Any]]:  # numpy at ``version`` and the other spelling beside it
        clean = [{**e, "version": version} if e["id"] == "CMP-numpy" else e for e in mini.complete_entries()]
        return [*clean, _eol_exploitable("CMP-numpy-v", _spelled(spelling, version))]

    report = mini.check(mini.project(tmp_path / "both", entries("2.0.0")), release=True)  # loads: versions are text
    assert report.passed and mini.sbom_lines(report) == [] and mini.sbom_lines(report, "warning") == []
    installed = next(p.version for p in sbom.closure(extras=()) if p.name == "numpy")
    props, vulnerabilities = _sbom_numpy(entries(installed))
    assert props["device-ai:sbom:entry"] == ["CMP-numpy"] and vulnerabilities == []  # the entry the gate judged
    # controls: the same entry at the runtime version alone is judged (two gaps) and published
    alone = [e for e in mini.complete_entries() if e["id"] != "CMP-numpy"] + [_eol_exploitable("CMP-numpy-v", "2.0.0")]
    lines = mini.sbom_lines(mini.check(mini.project(tmp_path / "alone", alone), release=True))
    assert len(lines) == 2 and all(line.startswith("GAP CMP-numpy-v:") for line in lines)
    props, vulnerabilities = _sbom_numpy([_eol_exploitable("CMP-numpy-v", installed)])
    assert props["device-ai:support:support_level"] == ["end-of-life"] and len(vulnerabilities) == 1


# --- SRS-198 (review 149 D1) and the controls ---------------------------------------------------------------

@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("review153")
    root = copy_items(base / "project")
    write_run(root / "results.json", root, sample_results())
    build_package(build_graph(root, root / "results.json"), root=root, out=base / "package")
    return base / "package"


def _named_files(document: Any) -> list[str]:
    """Every string of the SBOM that names a file relative to it (no scheme, a file suffix, first word)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "://" not in value:
            word = value.split(" ", 1)[0]
            if re.fullmatch(r"[\w.-]+\.(html|json|pdf|sig|cdx\.json)", word):
                found.append(word)

    walk(document)
    return found


@pytest.mark.req("SRS-198")
def test_d1_every_file_the_sbom_names_is_in_the_package(package: Path) -> None:
    document = json.loads((package / "sbom.cdx.json").read_text(encoding="utf-8"))
    named = _named_files(document)
    listed = json.loads((package / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert named == ["model-card.html", "model-card.html"]  # the reference and the modelCard pointer
    assert all((package / name).is_file() and name in listed for name in named)
    # control: the old spelling is found as a name no file of the package has
    broken = json.loads(json.dumps(document).replace("model-card.html", "model_card.html"))
    assert [n for n in _named_files(broken) if not (package / n).is_file()] == ["model_card.html"] * 2


@pytest.mark.req("SRS-196", "SRS-198")
def test_controls_repository_components_load_and_sbom_validates(package: Path) -> None:
    components = [x.item for x in load_project(REPO).of(RuntimeComponent)]
    keys = [(normalize_package(c.name), c.version) for c in components]
    assert len(components) > 40 and len(set(keys)) == len(keys)
    text = (package / "sbom.cdx.json").read_text(encoding="utf-8")
    sbom.validate(text)
    with pytest.raises(TraceabilityError):  # control: a week date in the document fails the schema
        sbom.validate(re.sub(r'"(\d{4}-\d{2}-\d{2})T00:00:00Z"', '"2026-W45-1T00:00:00Z"', text, count=1))


# --- SRS-202 / ANOM-016 (review 149 D4) ---------------------------------------------------------------------

@pytest.mark.req("SRS-202")
def test_srs202_the_record_is_the_bare_anomaly_and_anom_016_keeps_the_result(package: Path) -> None:
    items = fast_yaml.safe_load((REPO / "traceability/requirements.yaml").read_text(encoding="utf-8"))
    [srs202] = [r for r in items["software_requirements"] if r["id"] == "SRS-202"]
    records = [change["record"] for change in srs202["respecifications"]]
    assert records == ["ANOM-016"] and all(re.fullmatch(r"ANOM-\d{3}", r) for r in records)
    assert "record field, D4, moved here" in srs202["rationale"]
    assert not re.fullmatch(r"ANOM-\d{3}", "ANOM-016 Left in draft by the lead (2026-12-07)")  # control (D4's form)
    anomalies = fast_yaml.safe_load((REPO / "traceability/anomalies.yaml").read_text(encoding="utf-8"))["anomalies"]
    [anomaly] = [a for a in anomalies if a["id"] == "ANOM-016"]
    assert "5.5, 6,7)" in anomaly["description"] and "5.5, 6, 7)" in anomaly["description"]
    assert anomaly["status"] == "open" and "SRS-202" in anomaly["related"]
    assert "(record ANOM-016)</span>" in (package / "srs.html").read_text(encoding="utf-8")


# --- SRS-233 --------------------------------------------------------------------------------------------------

def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    folder.mkdir(parents=True, exist_ok=True)
    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "other-ca", ca=True)
    return folder


def _node(pki: Path, ca: Path) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=pki / "server.pem",
                                                    node_tls_key_file=pki / "server.key", node_tls_ca_file=ca))


def _trusted(pki: Path, ca: Path) -> list[str]:
    from device_ai.node.server import tls_context

    context = tls_context(_node(pki, ca))
    return [dict(part[0] for part in cert["subject"])["commonName"] for cert in context.get_ca_certs()]


def _another_owner(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        os.chown(path, 54321, -1, follow_symlinks=True)
    else:
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: path.stat().st_uid + 1)


@pytest.mark.req("SRS-233")
def test_srs233_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = _pki(tmp_path / "pki")
    link = tmp_path / "ca-link.pem"
    link.symlink_to(pki / "ca.pem")
    assert _trusted(pki, link) == ["ca"]  # control: a link to an owner-only-writable CA loads it
    for mode in (0o666, 0o664, 0o646):
        (pki / "ca.pem").chmod(mode)
        refused = f"node_tls_ca_file {link} is writable by other accounts .mode {mode:04o}"
        with pytest.raises(ConfigError, match=refused):
            _trusted(pki, link)
    (pki / "ca.pem").chmod(0o644)
    _another_owner(pki / "ca.pem", monkeypatch)
    with pytest.raises(ConfigError, match="node_tls_ca_file .*ca-link.pem is owned by another account"):
        _trusted(pki, link)


@pytest.mark.req("SRS-233")
def test_srs233_no_window_between_check_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # lead, 2026-12-07: the CA file is read through device_ai.trust_anchors since SRS-234 (one reader for the
    # node's CA file and a destination's CA bundle); the swap is patched there
    from device_ai import trust_anchors as server

    pki = _pki(tmp_path / "pki")
    der = pki / "ca.der"
    der.write_bytes(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    checked = server.read_owned_file

    def check_then_swap(path: Path, what: str) -> bytes:
        data = checked(path, what)
        Path(path).write_bytes((pki / "other-ca.pem").read_bytes())  # replaced right after the check
        return data

    monkeypatch.setattr(server, "read_owned_file", check_then_swap)
    for ca in (pki / "ca.pem", der):
        assert _trusted(pki, ca) == ["ca"]  # the CA checked, not the one swapped in
        # control: the swap happened - a load by name now finds the other CA
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_verify_locations(cafile=str(ca))
        assert [dict(p[0] for p in c["subject"])["commonName"] for c in context.get_ca_certs()] == ["other-ca"]


SITECUSTOMIZE = '''
import os, socket
_log = os.environ["H153_SOCKET_LOG"]
for _name in ("bind", "listen"):
    def _wrap(original, name=_name):
        def recorded(self, *args):
            with open(_log, "a", encoding="utf-8") as sink:
                sink.write(name + " " + repr(args[0] if name == "bind" and args else "") + "\\n")
            return original(self, *args)
        return recorded
    setattr(socket.socket, _name, _wrap(getattr(socket.socket, _name)))
'''


def _serve_env(tmp_path: Path, pki: Path, ca: Path) -> tuple[dict[str, str], Path, Path, int]:
    site = tmp_path / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home, log = tmp_path / "home", tmp_path / "sockets.log"
    env = {"DEVICE_AI_HOME": str(home), "DEVICE_AI_NODE_PORT": str(port),
           "DEVICE_AI_NODE_ALLOWED_CALLING_AETS": "TESTSCU",
           "DEVICE_AI_NODE_MIN_FREE_MB": "0", "DEVICE_AI_DEMONSTRATION_MODE": "1", "PYTHONUNBUFFERED": "1",
           "DEVICE_AI_NODE_TLS_CERT_FILE": str(pki / "server.pem"),
           "DEVICE_AI_NODE_TLS_KEY_FILE": str(pki / "server.key"),
           "DEVICE_AI_NODE_TLS_CA_FILE": str(ca), "H153_SOCKET_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}
    return env, home, log, port


@pytest.mark.req("SRS-233")
def test_srs233_serve_refuses_before_listening(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    (pki / "ca.pem").chmod(0o664)
    env, home, log, port = _serve_env(tmp_path / "refused", pki, pki / "ca.pem")
    refused = _cli("serve", env=env)
    assert refused.returncode == 2, refused.stderr
    assert "error DAI-100: node_tls_ca_file" in refused.stderr and "mode 0664" in refused.stderr
    assert "chmod go-w" in refused.stderr and "Traceback" not in refused.stderr + refused.stdout
    assert "listening on" not in refused.stdout + refused.stderr
    sockets = log.read_text(encoding="utf-8") if log.exists() else ""
    # nothing listened and nothing bound the node's port (an import probes IPv6 with bind(('::1', 0)))
    assert "listen" not in sockets and f", {port})" not in sockets
    assert not (home / "node").exists()


@pytest.mark.req("SRS-233")
def test_srs233_serve_control_listens_with_an_owner_only_ca(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    env, home, log, port = _serve_env(tmp_path / "control", pki, pki / "ca.pem")
    output = tmp_path / "serve.out"
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "device_ai.cli"]
    with open(output, "wb") as sink:
        process = subprocess.Popen([*command, "serve"], env={**os.environ, **env}, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in output.read_text(encoding="utf-8", errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, output.read_text(encoding="utf-8")
            time.sleep(0.1)
        assert "(TLS)" in output.read_text(encoding="utf-8")
        assert f"bind ('127.0.0.1', {port})" in log.read_text(encoding="utf-8")
        assert "listen" in log.read_text(encoding="utf-8") and (home / "node").is_dir()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# D2 (review 153): an empty CA file
@pytest.mark.req("SRS-233")
def test_d2_fixed_an_empty_ca_file_is_refused_by_serve(tmp_path: Path) -> None:
    # lead, 2026-12-07 (not re-reviewed): the ValueError is a typed refusal; was the pin of DAI-999, control kept
    pki = _pki(tmp_path / "pki")
    empty = pki / "empty.pem"
    empty.write_bytes(b"")
    env, _home, _log, _port = _serve_env(tmp_path / "serve", pki, empty)
    refused = _cli("serve", env=env)
    assert refused.returncode == 2 and "DAI-100" in refused.stderr and "DAI-999" not in refused.stderr
    # control: a file of one newline is the typed refusal naming the TLS settings
    newline = pki / "newline.pem"
    newline.write_bytes(b"\n")
    with pytest.raises(ConfigError, match="cannot load the node's TLS files") as typed:
        _trusted(pki, newline)
    assert "node_tls_ca_file" in (typed.value.hint or "")


@pytest.mark.req("SRS-233")
# was a strict xfail (review 153 D2: ValueError('Empty certificate data') was not caught); fixed by the lead
def test_d2_an_empty_ca_file_is_a_typed_refusal(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    (pki / "empty.pem").write_bytes(b"")
    with pytest.raises(ConfigError):
        _trusted(pki, pki / "empty.pem")


# D3 (review 153): a FIFO
def _tls_context_within(pki: Path, ca: Path, seconds: float) -> tuple[bool, Any]:
    """(finished, outcome) of tls_context on ``ca`` within ``seconds``; a FIFO left blocked is then fed the CA."""
    outcome: list[Any] = []

    def attempt() -> None:
        try:
            outcome.append(_trusted(pki, ca))
        except Exception as exc:  # noqa: BLE001 - the outcome is what is judged
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(seconds)
    finished = not worker.is_alive()
    if not finished:  # unblock the reader: a writer opens the FIFO and gives it the CA
        with open(ca, "wb") as writer:
            writer.write((pki / "ca.pem").read_bytes())
        worker.join(10)
    return finished, outcome[0] if outcome else None


@pytest.mark.req("SRS-233")
def test_d3_control_a_regular_junk_file_is_refused_at_once(tmp_path: Path) -> None:
    # lead, 2026-12-07 (not re-reviewed): read_owned_file opens without blocking and reads regular files only;
    # the pin of the blocked FIFO is gone, its control kept
    pki = _pki(tmp_path / "pki")
    # control: a regular file that is no certificate is refused at once
    junk = pki / "junk.pem"
    junk.write_bytes(b"not a certificate\n")
    finished, outcome = _tls_context_within(pki, junk, 2.0)
    assert finished and isinstance(outcome, ConfigError)


@pytest.mark.req("SRS-233")
# was a strict xfail (review 153 D3: read_owned_file opened a FIFO and waited for a writer); fixed by the lead
def test_d3_a_fifo_ca_file_is_a_typed_refusal(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    os.mkfifo(pki / "ca-fifo.pem", 0o644)
    finished, outcome = _tls_context_within(pki, pki / "ca-fifo.pem", 2.0)
    assert finished and isinstance(outcome, ConfigError)


# D4 (review 153): a PEM file with non-ASCII text outside the certificate
def _commented(pki: Path, comment: str) -> Path:
    path = pki / "commented.pem"
    path.write_bytes(f"# Issuer: CN={comment}\n".encode() + (pki / "ca.pem").read_bytes())
    return path


@pytest.mark.req("SRS-233")
def test_d4_control_openssl_reads_the_commented_file_and_an_ascii_comment_loads(tmp_path: Path) -> None:
    # lead, 2026-12-07 (not re-reviewed): the PEM blocks are taken from the file, text around them ignored
    pki = _pki(tmp_path / "pki")
    commented = _commented(pki, "Universitätsklinikum Demo CA")
    by_name = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    by_name.load_verify_locations(cafile=str(commented))  # OpenSSL's PEM reader (the code before 63d55d1)
    assert len(by_name.get_ca_certs()) == 1
    assert _trusted(pki, _commented(pki, "University Demo CA")) == ["ca"]  # control: an ASCII comment loads


@pytest.mark.req("SRS-233")
# was a strict xfail (review 153 D4: non-ASCII text outside the PEM block sent the file to DER); fixed by the lead
def test_d4_a_pem_with_a_utf8_comment_loads(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    assert _trusted(pki, _commented(pki, "Universitätsklinikum Demo CA")) == ["ca"]


# --- notes -------------------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-233")
def test_n3_a_folder_others_can_write_redirects_the_name(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # a folder every account can write
    ca = shared / "ca.pem"
    ca.write_bytes((pki / "ca.pem").read_bytes())
    assert _trusted(pki, ca) == ["ca"]
    # another account replaces the name by a link to a file this account owns (e.g. a system trust store)
    ca.unlink()
    ca.symlink_to(pki / "other-ca.pem")
    assert _trusted(pki, ca) == ["other-ca"]
    (pki / "other-ca.pem").chmod(0o666)  # control: the file itself writable by others is refused
    with pytest.raises(ConfigError, match="writable by other accounts"):
        _trusted(pki, ca)


@pytest.mark.req("SRS-216", "SRS-233")
def test_n4_other_certificate_files_are_loaded_whatever_their_mode(tmp_path: Path) -> None:
    from device_ai.config import TransportSecurity
    from device_ai.node.transport_security import TransportSecurityError, client_context

    pki = _pki(tmp_path / "pki")
    for name in ("ca.pem", "server.pem", "other-ca.pem"):
        (pki / name).chmod(0o666)
    # the server's own certificate at 0666 (the CA file owner-only)
    (pki / "ca.pem").chmod(0o644)
    assert _trusted(pki, pki / "ca.pem") == ["ca"]
    # a destination's CA bundle at 0666 was the trust anchor of the results sent out; lead, 2026-12-07: refused
    # since SRS-234 (draft), this note's fix for the bundle
    with pytest.raises(TransportSecurityError, match=r"transport.ca_bundle .* \(mode 0666\)"):
        client_context(TransportSecurity(tls=True, ca_bundle=pki / "other-ca.pem"))
    (pki / "other-ca.pem").chmod(0o644)
    context = client_context(TransportSecurity(tls=True, ca_bundle=pki / "other-ca.pem"))
    assert [dict(p[0] for p in c["subject"])["commonName"] for c in context.get_ca_certs()] == ["other-ca"]
    # a destination's client certificate at 0666 (its key owner-only)
    context = client_context(TransportSecurity(tls=True, ca_bundle=pki / "other-ca.pem",
                                               client_certificate=pki / "server.pem", client_key=pki / "server.key"))
    assert context.verify_mode == ssl.CERT_REQUIRED
    # control: the node's CA file at the same mode is refused
    (pki / "other-ca.pem").chmod(0o666)
    with pytest.raises(ConfigError, match=r"node_tls_ca_file .* \(mode 0666\)"):
        _trusted(pki, pki / "other-ca.pem")
