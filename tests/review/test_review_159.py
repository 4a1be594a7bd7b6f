"""Independent re-review 159 (reviewer helper-159) of the lead's SRS-230 fix 7746094 (re-review 156 D1), confirmation of
six requirements approved after re-review 156, and the first independent review of RISK-025 / BENEFIT-RISK as changed
in b0ed9e6; at 7746094. helper-159 wrote none of the code, texts or tests reviewed. Read: ``git show 7746094``,
installed_software.py, test_review_156.py, CPython 3.11.7 importlib/metadata/__init__.py (Distribution.metadata,
requires, entry_points), pydantic/plugin/_loader.py, device_ai/cli/__init__.py, risk/hazardous_situations.yaml
RISK-025, risk/benefit.yaml, risk/controls.yaml RC-034, regulatory/overclaim.py (observed_state, benefit_claims).
Run as root, as CI here.

1. SRS-230 / THR-046 (installed_software.py) - the fix HOLDS for what it covers; DEFECTS D1, D2 beside it.
   HOLDS: METADATA_SOURCES (:156) / _metadata_readable (:159-162), used at :178 (_requirements) and :333
   (check_distribution's version), and the finding for a source RECORD does not list (:384-388): requires.txt of a
   dependency and PKG-INFO of the device (METADATA kept, and METADATA emptied so that importlib.metadata goes on to
   PKG-INFO) as a FIFO, a character device, a folder, a 65 MiB sparse file or a link loop - each a finding naming the
   file within 2 s (test_i1_each_kind_at_requires_txt_and_pkg_info_is_a_finding_at_once); /dev/zero at each under a
   512 MiB cap: exit 14 (DAI-330), "is not a regular file", no DAI-999, no traceback (test_i1_dev_zero_...). Controls:
   the untouched install passes; regular requires.txt / PKG-INFO not in RECORD give no finding; the repository's own
   environment checked in-process: 44 distributions, 6177 files compared, no finding (test_i1_control_...).
   `.venv/bin/device-ai self-check` of this repository at 7746094 and at 7746094^ (a git archive of src/ first on
   PYTHONPATH): byte-identical output - "44 distribution(s) ... 6177 file(s) compared ..., 3863 ... skipped", the
   editable device-ai its only line (unverified), exit 14.
   What importlib.metadata really reads during `device-ai self-check` (an audit hook on "open", this repository's
   .venv): RECORD/METADATA/direct_url.json/requires.txt/PKG-INFO of the closure (checked), every listed file via
   _digest (non-blocking), and - at import of device_ai.cli, before the command runs - entry_points.txt of EVERY
   distribution on sys.path (115 reads) and METADATA of two packages that ask their own version at import.
   DEFECT D1 (cli/__init__.py:18 imports every command -> audit/entry.py:31 `class Code(BaseModel)` -> pydantic
     plugin/_loader.py:40 importlib.metadata.entry_points() -> PathDistribution.read_text('entry_points.txt'),
     blocking, read whole, unchecked): a FIFO as a distribution's entry_points.txt (the fake dependency's, not listed
     in RECORD; any distribution on sys.path does) holds `device-ai self-check` forever before anything is listed
     (15 s timeout measured); a link to /dev/zero there is a MemoryError traceback, exit 1, under a 512 MiB cap.
     SRS-230 (a path that is not a regular file is not opened; DAI-330 after the list, without a traceback) and
     THR-046 (an environment open to other accounts (E3) is found) are then untrue: whoever can write a .dist-info
     folder stops the check that should report the folder. Re-review 152 D1/D2 and 156 D1's class, one file over.
     Pins test_i1_d1_pin_* (control: a regular entry_points.txt passes), strict xfails test_i1_d1_*.
   DEFECT D2 (:384 `listed = {PurePosixPath(entry.path).name ...}` with :178-181): a source counts as listed when ANY
     RECORD line has its base name. A package data file named PKG-INFO or requires.txt (fake_device/data/PKG-INFO,
     listed with its hash) hides a FIFO at the .dist-info's own PKG-INFO/requires.txt: no finding, and because
     _metadata_readable refused, the device's requirements are taken as none - the closure stops at the device,
     an ALTERED dependency is never checked, check_installed().ok is True (exit 0) with version '-'. Pin
     test_i1_d2_pin_..., control (same data file, no FIFO: the altered dependency is reported), strict xfail
     test_i1_d2_... (it asks only that the check fail; F1, RECORD's own .dist-info lines only, makes it pass).
   NOTE N1: whenever a source is refused, _requirements (:178-181) takes the requirements as none, so the closure
     stops there and the dependencies' files are not checked; the check still fails on the source's finding.

2. SRS-231, SRS-126, SRS-196, SRS-233, SRS-193, SRS-194 - HOLD (confirmation). At HEAD each differs from its content at
   7f738a1 (re-review 156's records) only in status draft -> approved and one sentence appended to the rationale
   ("Independent re-review 156 (helper-156) found the fixes hold; approved by the lead ..."); git diff 7f738a1 HEAD
   touches src/ only in installed_software.py (none of theirs) (test_i2_status_and_one_sentence_only).

3. RISK-025 - HOLDS; BENEFIT-RISK - DEFECT (D3).
   RISK-025 (hazardous_situations.yaml:584-616): residual P2/P4 with one effectiveness entry (RC-034, reduces p1,
   SRS-092/094). Every claim of the measure has a test that exists, is not xfail-marked, and passes: tests/node/
   test_scp.py + test_connection_guard.py whole, review 141 t3_d4, 146 t3_d1, 152 i1, 156 i5 - 33 passed in 41 s
   (--req-report /tmp/h159.json); SRS-125 (RC-034) and SRS-010 (RC-003): tests/node/test_destinations.py +
   tests/dicom/test_reader.py, 246 passed (/tmp/h159b.json). `trace build --results both` -> `trace check`: no line
   for RISK-025 (no overclaim, no effectiveness gap); RC-034 verified. Without results the graph lists RISK-025's
   reduction as crediting controls not in effect, as every results-less graph does. Rationale true: 141's fixes
   (trickle, PDU length) held re-review 146, which found D1 (unknown PDU type), whose fix held 152 ("146 (after its
   D1 was fixed)" reads loosely; the facts are right). BENEFIT-RISK's ALARA list equals its claims in state alara
   (test_i3_alara_list_equals_the_alara_claims).
   DEFECT D3 (benefit.yaml:71-72 claim `SRS-092: approved`, prose :34 "so SRS-092 is approved"): trace check compares
     a claim about an approved requirement with observed_state (overclaim.py:330-333), which is 'verified' or 'not
     verified', never 'approved' - so the claim b0ed9e6 wrote is a GAP whatever the results: "GAP BENEFIT-RISK:
     benefit-risk: says SRS-092 is 'approved', the graph shows 'verified'" with this commit's results (before
     b0ed9e6 'draft' matched a draft SRS-092). Pin test_i3_d3_pin_..., control (SRS-034 claimed 'draft' matches),
     strict xfail test_i3_d3_....

Mutants (a copy of src/ from git archive HEAD at /tmp/h159src, PYTHONPATH=/tmp/h159src/src; -k "i1 and not d1"):
6 of 6 killed. M1 METADATA_SOURCES = ("METADATA",) -> each_kind (3), dev_zero (2); M2 no finding for an unlisted
source -> each_kind (3), dev_zero (2); M3 check_distribution's version guarded by METADATA only -> each_kind[METADATA
emptied], d2 pins; M4 _requirements guarded by METADATA only -> each_kind (2), dev_zero[requires.txt]; M5
METADATA_FILE_LIMIT 128 MiB -> each_kind (3, the 65 MiB file); M6 no S_ISREG -> each_kind (3), dev_zero (2).
F1 (a fix sketch for D2: only RECORD's lines in the .dist-info count as listed) -> the D2 pins fail, the D2 xfails
pass (strict: XPASS fails), the controls pass.
Records (independent): SRS-231, SRS-126, SRS-196, SRS-233, SRS-193, SRS-194, RISK-025. None for SRS-230/THR-046 (D1,
D2) or BENEFIT-RISK (D3).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests import fast_yaml
from tests.review.test_review_142 import DEPENDENCY
from tests.review.test_review_152 import DEVICE, DEVICE_INFO, _SELF_CHECK, _check, _make, _self_check_limited, site  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCY_INFO = f"{DEPENDENCY.replace('-', '_')}-1.0.dist-info"
MiB = 2**20


# === 1. SRS-230 / THR-046 =====================================================================================

def _put(path: Path, kind: str, keep: list) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "65 MiB sparse file":
        with open(path, "wb") as handle:
            handle.truncate(65 * MiB)
    else:
        _make(path, kind, keep)


def _clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()


SOURCES = {  # where importlib.metadata reads it: requires.txt for a distribution without Requires-Dist
    "requires.txt (dependency)": (DEPENDENCY_INFO, "requires.txt", False),
    "PKG-INFO (device)": (DEVICE_INFO, "PKG-INFO", False),
    "PKG-INFO (device, METADATA emptied)": (DEVICE_INFO, "PKG-INFO", True),
}
KINDS = ["FIFO", "character device node (null)", "folder", "65 MiB sparse file", "link loop"]


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("source", list(SOURCES))
def test_i1_each_kind_at_requires_txt_and_pkg_info_is_a_finding_at_once(site: Path, source: str) -> None:
    info, name, emptied = SOURCES[source]
    if emptied:
        (site / DEVICE_INFO / "METADATA").write_bytes(b"")
    keep: list = []
    for kind in KINDS:
        path = site / info / name
        _put(path, kind, keep)
        finished, out = _check(2.0, path if kind == "FIFO" else None)
        _clear(path)
        assert finished and isinstance(out, list), (kind, out)
        assert [f for f in out if name in str(f[1]) and f[2] == "unreadable"], (kind, out)


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("info,name", [(DEPENDENCY_INFO, "requires.txt"), (DEVICE_INFO, "PKG-INFO")])
def test_i1_dev_zero_at_requires_txt_and_pkg_info_is_dai_330(site: Path, info: str, name: str) -> None:
    (site / info / name).symlink_to("/dev/zero")
    code, out = _self_check_limited(site)
    assert code == 14 and f"{name} is not a regular file" in out and "DAI-999" not in out and "Traceback" not in out, out


@pytest.mark.req("SRS-230")
def test_i1_control_untouched_and_regular_sources_pass(site: Path) -> None:
    assert _check(5.0) == (True, [])
    (site / DEPENDENCY_INFO / "requires.txt").write_text("numpy>=1\n")
    (site / DEVICE_INFO / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: x\nVersion: 1.0\n")
    assert _check(5.0) == (True, [])  # regular files RECORD does not list: nothing to report


@pytest.mark.req("SRS-230")
def test_i1_control_the_repository_environment_has_no_finding() -> None:
    from device_ai.installed_software import check_installed

    check = check_installed()
    assert check.findings == [] and len(check.distributions) > 10 and check.checked > 1000
    assert [d.name for d in check.distributions if d.not_verifiable] == ["device-ai"]  # the editable install only


# D1: entry_points.txt of every distribution on sys.path is read at import of device_ai.cli (pydantic's plugin
# loader), before self-check runs and without its check.
def _entry_points(site: Path) -> Path:
    return site / DEPENDENCY_INFO / "entry_points.txt"


def _fifo_self_check(site: Path, wait_s: float) -> tuple[bool, int, str]:
    """self-check with a FIFO as the dependency's entry_points.txt: whether it ended within ``wait_s``; then the FIFO
    is freed (a writer opens and closes it) so that the process ends."""
    fifo = _entry_points(site)
    os.mkfifo(fifo)
    process = subprocess.Popen([sys.executable, "-c", _SELF_CHECK, str(site)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    end = time.monotonic() + wait_s
    while process.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    finished = process.poll() is not None
    while process.poll() is None:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        time.sleep(0.05)
    out = process.stdout.read() if process.stdout else ""
    return finished, process.returncode, out


@pytest.mark.req("SRS-230")
def test_i1_d1_control_a_regular_entry_points_txt_passes(site: Path) -> None:
    _entry_points(site).write_text("[console_scripts]\nfake-h159 = fake_dependency_h142:main\n")
    assert _self_check_limited(site)[0] == 0


# lead, 2026-12-07 (not re-reviewed): D1 fixed - device_ai sets PYDANTIC_DISABLE_PLUGINS=__all__ (unless the
# environment sets it), so pydantic reads no entry_points.txt; the pins are gone (control above), xfails plain.
@pytest.mark.req("SRS-230")
def test_i1_d1_a_fifo_as_entry_points_txt_is_answered_at_once(site: Path) -> None:
    finished, code, _out = _fifo_self_check(site, 4.0)
    assert finished and code in (0, 14)


@pytest.mark.req("SRS-230")
def test_i1_d1_dev_zero_as_entry_points_txt_is_no_traceback(site: Path) -> None:
    _entry_points(site).symlink_to("/dev/zero")
    code, out = _self_check_limited(site)
    assert code in (0, 14) and "Traceback" not in out, out


# D2: a source counts as listed when any RECORD line has its base name.
def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _data_file_named(site: Path, name: str, *, fifo: bool) -> None:
    """The device ships a data file named ``name`` (listed in RECORD with its hash); its dependency is altered; with
    ``fifo`` its .dist-info's own ``name`` is a FIFO."""
    package = DEVICE.replace("-", "_")
    (site / package / "data").mkdir()
    (site / package / "data" / name).write_bytes(b"x\n")
    with open(site / DEVICE_INFO / "RECORD", "a", encoding="utf-8") as record:
        record.write(f"{package}/data/{name},{_hash(b'x' + bytes([10]))},2" + "\n")
    (site / DEPENDENCY.replace("-", "_") / "__init__.py").write_bytes(b"THRESHOLD = 0.9\n")
    if fifo:
        os.mkfifo(site / DEVICE_INFO / name)


def _altered_dependency_reported(out: list) -> bool:
    return (DEPENDENCY, f"{DEPENDENCY.replace('-', '_')}/__init__.py", "altered") in out


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("name", ["PKG-INFO", "requires.txt"])
def test_i1_d2_control_the_data_file_alone_hides_nothing(site: Path, name: str) -> None:
    _data_file_named(site, name, fifo=False)
    finished, out = _check(3.0)
    assert finished and _altered_dependency_reported(out), out


# lead, 2026-12-07 (not re-reviewed): D2 fixed - only RECORD's lines for the .dist-info folder itself count as
# listed; the pin is gone (control above), the xfail plain.
@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("name", ["PKG-INFO", "requires.txt"])
def test_i1_d2_a_fifo_beside_a_data_file_of_its_name_fails_the_check(site: Path, name: str) -> None:
    _data_file_named(site, name, fifo=True)
    finished, out = _check(3.0, site / DEVICE_INFO / name)
    assert finished and isinstance(out, list) and out, out  # the check fails (a finding for the source would do)


# === 2. six requirements approved after re-review 156 ============================================================

def _requirements(commit: str) -> dict[str, dict]:
    text = subprocess.run(["git", "show", f"{commit}:traceability/requirements.yaml"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    return {item["id"]: item for item in fast_yaml.safe_load(text)["software_requirements"]}


APPENDED = (" Independent re-review 156 (helper-156) found the fixes hold; approved by the lead (2026-12-07), the record"
            " of an independent reviewer at the approved content to follow (status only changed).")


@pytest.mark.req("SRS-231", "SRS-126", "SRS-196", "SRS-233", "SRS-193", "SRS-194")
def test_i2_status_and_one_sentence_only() -> None:
    before, now = _requirements("7f738a1"), _requirements("7746094")
    for rid in ("SRS-231", "SRS-126", "SRS-196", "SRS-233", "SRS-193", "SRS-194"):
        old, new = before[rid], now[rid]
        assert (old["status"], new["status"]) == ("draft", "approved"), rid
        assert new["rationale"] == old["rationale"] + APPENDED, rid
        assert {k: v for k, v in old.items() if k not in ("status", "rationale")} == \
               {k: v for k, v in new.items() if k not in ("status", "rationale")}, rid
    assert now["SRS-230"]["rationale"] != before["SRS-230"]["rationale"] + APPENDED  # control: SRS-230's text moved


# === 3. RISK-025, BENEFIT-RISK ====================================================================================

def _benefit() -> dict:
    return fast_yaml.safe_load((ROOT / "risk/benefit.yaml").read_text(encoding="utf-8"))["benefit_risk"]


MEASURE_TESTS = [
    "tests/node/test_scp.py::test_unknown_calling_ae_and_wrong_called_ae_are_rejected",
    "tests/node/test_scp.py::test_associations_beyond_the_limit_are_rejected",
    "tests/node/test_scp.py::test_a_silent_association_is_ended_after_the_idle_timeout",
    "tests/node/test_connection_guard.py::test_a_trickled_association_request_is_closed_at_the_deadline",
    "tests/node/test_connection_guard.py::test_the_guard_follows_pdu_boundaries_however_the_reads_split_them",
    "tests/review/test_review_141.py::test_t3_d4_xfail_a_pdu_longer_than_the_node_accepts_is_not_held",
    "tests/review/test_review_146.py::test_t3_d1_an_unknown_pdu_type_does_not_let_a_16_mib_pdu_be_read",
    "tests/review/test_review_152.py::test_i1_no_state_lets_one_pdu_read_exceed_1_mib",
    "tests/node/test_scp.py::test_malformed_and_mismatched_instances_get_error_statuses_and_the_node_keeps_serving",
    "tests/node/test_scp.py::test_too_large_instance_is_refused_while_it_arrives",
    "tests/node/test_scp.py::test_nearly_full_spool_disk_answers_out_of_resources",
]


def _decorators(rel: str, name: str) -> str:
    lines = (ROOT / rel).read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith(("@", " ", ")")):
            break
        above.append(line)
    return "\n".join(above)


@pytest.mark.req("SRS-092", "SRS-094")
def test_i3_each_measure_test_exists_and_is_not_marked_xfail() -> None:
    for node in MEASURE_TESTS:
        rel, name = node.split("::")
        decorators = _decorators(rel, name)
        assert "req(" in decorators and "xfail" not in decorators, node
    # control: an xfail is seen (lead: this file's own xfails became plain tests when D1-D3 were fixed)
    assert "xfail" in _decorators("tests/review/test_review_131.py",
                                  "test_d2_a_record_cut_from_the_middle_of_a_whole_log_export_is_detected")


@pytest.mark.req("SRS-092")
def test_i3_alara_list_equals_the_alara_claims() -> None:
    benefit = _benefit()
    text = " ".join(benefit["overall_residual_risk"].split())
    alara = text.split("ALARA not claimed as reached")[1].split("Open items")[0]
    listed = {word.strip(",.():;") for word in alara.split() if word.startswith("RISK-")}
    claimed = {c["item"] for c in benefit["claims"] if c["state"] == "alara"}
    assert listed == claimed and "RISK-025" not in listed and "RISK-024" in listed  # control: RISK-024 still there


def _observed(item: str, status: str, verdict: str | None) -> str | None:
    from device_ai.regulatory.overclaim import observed_state

    ctx = SimpleNamespace(nodes={item: {"kind": "requirement", "fields": {"status": status}}},
                          verdicts={item: SimpleNamespace(status=verdict)})
    return observed_state(ctx, item)


@pytest.mark.req("SRS-092")
def test_i3_d3_control_a_draft_claim_matches_a_draft_requirement() -> None:
    claims = {c["item"]: c["state"] for c in _benefit()["claims"]}
    assert claims["SRS-034"] == "draft" == _observed("SRS-034", "draft", None)


# lead, 2026-12-07 (not re-reviewed): D3 fixed - BENEFIT-RISK claims SRS-092 'verified' and its prose no longer
# states a status; the pin is gone (its control above kept), the strict xfail is a plain test.
@pytest.mark.req("SRS-092")
def test_i3_d3_the_srs_092_claim_matches_the_graph_with_results() -> None:
    claims = {c["item"]: c["state"] for c in _benefit()["claims"]}
    assert claims["SRS-092"] == _observed("SRS-092", "approved", "verified")

