"""Independent re-review 160 (reviewer helper-160) of the lead's fixes 7563c54 (re-review 158 D1/D2, 159 D3) and
7746094/7ccba1d (re-review 156 D1, 159 D1/D2), at 0943093, where SRS-181, SRS-183 and SRS-230 were approved subject
to this review. helper-160 wrote none of the code, texts or tests reviewed. Read: ``git show 7563c54 7746094 7ccba1d``,
record_content.py, overclaim.py (_OVERALL_SUBJECT, overall_acceptable, observed_state, benefit_claims),
installed_software.py, device_ai/__init__.py, pydantic/plugin/_loader.py, jpeg_ls/__init__.py, pydicom/_version.py,
risk/benefit.yaml, SRS-181/183/230 and THR-046, the docstrings of tests/review/test_review_156/158/159.py.

1. SRS-181 - DEFECT (D1 of this review). The fixes hold for what they name: pytest -rA summaries / -v lines /
   pytest-csv rows (_OUTCOME_LINE, record_content.py:57-58, :230), UTF-16 and UTF-32 JSON/JUnit with a BOM
   (_decoded, :195-202), gzip nested 5 deep (:174-179), a record over 32 MiB (:217-218), 65 levels and a YAML alias
   bomb (walk bounds, :111-112, :127-128) are refused; the records the repository credits (risk/hazardous_situations
   .yaml's only record, fuzz/results/campaign-5000-seed0-67d0ed3.md) and every file of benchmarks/results,
   fuzz/results and docs (97 files) are not refused. _OUTCOME_LINE refuses a genuine write-up line such as "the
   challenge run of bench.py::latency failed the 1.5x criterion", and a measurement CSV row "measure.py::main,mean
   error,2.1" ('error' there is a measured quantity, not an outcome): NOT a defect against the text, which makes "a
   line naming a pytest node ID with an outcome" test output and cannot tell the two apart; it fails closed, with the
   reason shown (a note for the IFU/rationale, not a pin).
   But "a record the bounded reading cannot judge whole ... being refused unjudged" still fails open where the
   bound is not one of the four the fix counts:
   (a) a JSON document nested deeper than Python's parsers recurse (3,000 levels) that names a node ID: json.loads
       raises RecursionError (:136-139), the JSON-lines and YAML tries fail too (:141-154), so no document is walked
       and the record is judged as text only - accepted (None) unless a line also holds an outcome word;
   (b) JSON lines: only the first 200,000 lines are parsed (:143 ``lines[:_WALK_LIMIT]``) and each document is walked
       with its own budget, so a node ID on line 200,002 is never looked at - accepted;
   (c) gzip followed by bytes that are not another member (:164 stops at them; ``gzip -d`` calls them trailing
       garbage): "PASSED tests/a.py::t" appended uncompressed to a gzip of prose is dropped unjudged - accepted,
       while the same line in a plain file is refused.
2. SRS-183 - HOLDS (_OVERALL_SUBJECT, overclaim.py:397-398). "risks/benefits", "benefit-to-risk", "benefits to
   risks", en-dash and em-dash forms, "benefit-risks", "benefits-risk" are read as the subject before or after
   'acceptable'; negated and hypothetical sentences and "the risk to the patient" are not; the repository's
   benefit-risk prose gives the same verdicts (none) with the regex before 7563c54 and after. Note: "risks and
   benefits" / "risks versus benefits" are not read (not forms the text names).
3. SRS-230 / THR-046 - DEFECT (D2 of this review). 7ccba1d holds for what it covers: with PYDANTIC_DISABLE_PLUGINS
   set by device_ai/__init__.py:14, no entry_points.txt is read at import any more (audit hook on 'open' during
   `device-ai self-check`: every .dist-info read outside installed_software.py is listed below); RECORD's own
   .dist-info lines only count as listing requires.txt/PKG-INFO (review 159's tests: their xfails now pass).
   Setting PYDANTIC_DISABLE_PLUGINS is safe: no distribution in the environment offers a 'pydantic' entry point, src/
   names no plugin, and device_ai is imported before any model is defined (the console script imports
   device_ai.cli). But an imported library still reads a file of the closure unchecked: at import of device_ai.cli
   (before any command runs) jpeg_ls/__init__.py:20 and pydicom/_version.py call importlib.metadata.version(),
   which reads pyjpegls' and pydicom's METADATA whole, blocking, without the regular-file check. A FIFO at
   pyjpegls-1.5.1.dist-info/METADATA holds `device-ai self-check` forever before anything is listed (8 s timeout);
   a link to /dev/zero there is a MemoryError traceback, exit 1, under a 1 GiB cap. SRS-230 ("a path that is not a
   regular file ... is not opened; METADATA included"; DAI-330 after the list, without a traceback) and THR-046
   (E3 found) are untrue for these two files - review 159 D1's class, one library over (159 saw the two reads and
   did not test them).
4. BENEFIT-RISK - HOLDS. The claim SRS-092 'verified' is reachable (SRS-092 is approved; observed_state gives
   verified / not verified) and the prose states no status for SRS-092. Measured: tests/node/test_connection_guard.py
   + test_scp.py --req-report (25 passed), with tests/node/test_destinations.py, tests/dicom/test_reader.py,
   test_deid_rules.py, test_deid_throughput_record.py, tests/inference/test_readable_outputs.py and
   verification/test_released_model.py (354 passed); `trace build --results` both (379 tests, 2 runs) ->
   `trace check`: no line for BENEFIT-RISK or RISK-025 with both results (with the first alone: only claims whose
   tests were not run - RC-012, RC-016, RC-034 via SRS-125, SRS-063, SRS-065 - and no line about SRS-092).

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. Scratch files are written
into tmp_path; the repository and its environment are only read.
Records (independent): SRS-183, BENEFIT-RISK. None for SRS-181, SRS-230, THR-046 (D1, D2).
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory.overclaim import _prose, overall_acceptable, prose_states
from device_ai.regulatory.record_content import TOO_LARGE, UNJUDGED, generated_test_output
from tests import fast_yaml

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
MiB = 2**20


def _judge(tmp_path: Path, name: str, data: bytes | str) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


# === 1. SRS-181 =====================================================================================================

@pytest.mark.req("SRS-181")
def test_i1_the_named_fixes_hold(tmp_path: Path) -> None:
    assert _judge(tmp_path, "rA.txt", f"short test summary info\nPASSED {NODE}\n")
    assert _judge(tmp_path, "v.txt", f"{NODE} PASSED  [100%]\n")
    assert _judge(tmp_path, "c.csv", f"id,module,name,status\n{NODE},tests.a,test_t,passed\n")
    assert _judge(tmp_path, "u16.json", json.dumps({NODE: {"outcome": "passed"}}).encode("utf-16"))
    assert _judge(tmp_path, "u32.xml", '<testsuite name="x"/>'.encode("utf-32"))
    nested = b"prose only\n"
    for _ in range(5):
        nested = gzip.compress(nested)
    assert _judge(tmp_path, "n5.gz", nested) == TOO_LARGE
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:
        handle.truncate(33 * MiB)
    assert generated_test_output(big) == UNJUDGED
    assert _judge(tmp_path, "d65.json", "[" * 70 + '"x"' + "]" * 70) == UNJUDGED
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join('*' + p for _ in range(10))}]\n" for p, c in zip("abcdef", "bcdefg"))
    assert _judge(tmp_path, "bomb.yaml", bomb) == UNJUDGED


@pytest.mark.req("SRS-181")
def test_i1_control_measured_records_pass(tmp_path: Path) -> None:
    assert _judge(tmp_path, "study.md", "Latency study\nMedian 41 ms, p95 63 ms over 500 runs; criterion met.\n") is None
    assert _judge(tmp_path, "m.csv", "run,latency_ms\n1,41\n2,44\n") is None
    credited = [entry for item in fast_yaml.safe_load((ROOT / "risk/hazardous_situations.yaml").read_text())
                ["hazardous_situations"] for entry in item.get("effectiveness") or [] if entry.get("record")]
    assert credited
    files = [ROOT / e["record"] for e in credited] + [
        p for folder in ("benchmarks/results", "fuzz/results") for p in (ROOT / folder).rglob("*") if p.is_file()]
    assert [p for p in files if generated_test_output(p)] == []


@pytest.mark.req("SRS-181")
def test_i1_note_outcome_line_refuses_a_write_up_line_as_the_text_says(tmp_path: Path) -> None:
    # not a defect: "a line naming a pytest node ID with an outcome" is test output by the text
    assert _judge(tmp_path, "w.md", "The challenge run of bench.py::latency failed the 1.5x criterion.\n")
    assert _judge(tmp_path, "m.csv", "script,metric,value\nmeasure.py::main,mean error,2.1\n")


def _deep() -> str:
    return "[" * 3000 + json.dumps(NODE) + "]" * 3000


def _jsonl(node_line: int) -> str:
    lines = ['{"a": 1}'] * 200_001
    lines.insert(node_line, json.dumps({"x": NODE}))
    return "\n".join(lines) + "\n"


def _trailing() -> bytes:
    return gzip.compress(b"A study: 10 of 10 measurements met the criterion.\n") + f"PASSED {NODE}\n".encode()


# lead, 2026-12-07 (not re-reviewed): D1a-c fixed - JSON deeper than the parser or JSON lines past the walk's limit
# are refused unjudged, bytes after the gzip members are judged with them. The pin is gone (the control below kept),
# the strict xfails are plain tests.
@pytest.mark.req("SRS-181")
def test_i1_d1_control_the_same_content_within_the_bounds_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "shallow.json", "[" * 30 + json.dumps(NODE) + "]" * 30)
    assert _judge(tmp_path, "early.jsonl", _jsonl(5))
    assert _judge(tmp_path, "plain.txt", f"A study.\nPASSED {NODE}\n")


@pytest.mark.req("SRS-181")
def test_i1_d1a_json_deeper_than_the_parser_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "deep.json", _deep()) is not None


@pytest.mark.req("SRS-181")
def test_i1_d1b_json_lines_past_the_limit_are_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "late.jsonl", _jsonl(200_001)) is not None


@pytest.mark.req("SRS-181")
def test_i1_d1c_bytes_after_gzip_are_judged_or_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "trail.gz", _trailing()) is not None


# === 2. SRS-183 =====================================================================================================

READ = ["The risks/benefits balance is acceptable.", "The benefit-to-risk ratio is acceptable.",
        "The benefits to risks ratio is acceptable.", "Risks\u2014benefits: acceptable.",
        "Acceptable: the risk to benefit ratio.", "The benefit\u2013to\u2013risk ratio is acceptable.",
        "The benefit-risks balance is acceptable.", "The benefits-risk balance is acceptable."]
NOT_READ = ["The benefit-to-risk ratio is not acceptable.", "The benefit-to-risk ratio would be acceptable.",
            "The risk to the patient is acceptable.", "The benefit of RISK-025 is acceptable."]


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("sentence", READ)
def test_i2_plural_and_to_forms_are_read(sentence: str) -> None:
    assert overall_acceptable(sentence, overall_field=False) == [sentence]


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("sentence", NOT_READ)
def test_i2_control_negated_hypothetical_and_other_subjects_are_not(sentence: str) -> None:
    assert overall_acceptable(sentence, overall_field=False) == []


@pytest.mark.req("SRS-183")
def test_i2_repository_prose_same_verdicts_before_and_after(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.regulatory import overclaim

    before = re.compile(r"\b(?:overall|residual\s+risks?|the\s+device|benefit\W+risk|risk\W+benefit)\b", re.I)
    fields = fast_yaml.safe_load((ROOT / "risk/benefit.yaml").read_text())["benefit_risk"]

    def verdicts() -> list[list[str]]:
        return [overall_acceptable(_prose(fields[n]), overall_field=n == "overall_residual_risk")
                for n in ("benefits", "statement", "overall_residual_risk")]

    after = verdicts()
    monkeypatch.setattr(overclaim, "_OVERALL_SUBJECT", before)
    assert verdicts() == after
    assert overall_acceptable(READ[0], overall_field=False) == []  # control: the old regex missed the plural


# === 3. SRS-230 / THR-046 ===========================================================================================

_SITE_PACKAGES = Path(importlib.util.find_spec("jpeg_ls").origin).parents[1]
_RUN = "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['device-ai', 'self-check']; " \
       "from device_ai.cli import main; sys.exit(main())"
_RUN_WHOLE_PARSER = _RUN.replace("from device_ai.cli import main", "from device_ai.cli.parser import main")


def _jpeg_ls_site(tmp_path: Path, metadata: str) -> Path:
    """pyjpegls (in the device's runtime closure, imported by device_ai.cli) copied first on sys.path, its METADATA
    a regular copy, a FIFO or a link to /dev/zero."""
    source = next(_SITE_PACKAGES.glob("pyjpegls-*.dist-info"))
    site = tmp_path / "site"
    for row in csv.reader((source / "RECORD").read_text(encoding="utf-8").splitlines()):  # every file pip installed
        (site / row[0]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_SITE_PACKAGES / row[0], site / row[0])
    target = site / source.name / "METADATA"
    if metadata != "regular":
        target.unlink()
        os.mkfifo(target) if metadata == "FIFO" else target.symlink_to("/dev/zero")
    return site


@functools.cache
def _self_check(tmp: str, metadata: str, run: str = _RUN) -> tuple[int | None, str]:
    """device-ai self-check with that site first, address space capped at 1 GiB: (exit, output), exit None when it
    did not end within 8 s."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1024 * MiB, 1024 * MiB))

    site = _jpeg_ls_site(Path(tmp), metadata)
    try:
        # lead: 8 s only where the command is expected to hang (a loaded CI machine took longer than 8 s to hash
        # the environment in the regular-copy control)
        hangs = metadata == "FIFO" and run == _RUN_WHOLE_PARSER
        done = subprocess.run([sys.executable, "-c", run, str(site)], capture_output=True, text=True,
                              timeout=8 if hangs else 180, preexec_fn=cap, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("h160"))


@pytest.mark.req("SRS-230")
def test_i3_no_pydantic_plugin_is_installed_or_used() -> None:
    from importlib.metadata import entry_points

    assert list(entry_points(group="pydantic")) == []
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") == "__all__"
    assert not re.search(r"pydantic\.plugin|PydanticPluginProtocol", "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py")))


@pytest.mark.req("SRS-230")
def test_i3_control_a_regular_copy_lets_self_check_finish(scratch: str) -> None:
    code, out = _self_check(os.path.join(scratch, "r"), "regular")
    assert code == 14 and "DAI-330" in out and "Traceback" not in out and "pyjpegls" not in out


@pytest.mark.req("SRS-230")
def test_i3_d2_control_through_the_whole_parser_the_fifo_still_holds_the_command(scratch: str) -> None:
    """D2 fixed by the lead (device_ai.cli runs self-check before the parser imports the libraries), not
    re-reviewed. What this pinned before the fix still holds for every other command: the parser's imports read
    pyjpegls' METADATA blocking (THR-046 states it)."""
    assert _self_check(os.path.join(scratch, "fw"), "FIFO", run=_RUN_WHOLE_PARSER) == (None, "")
    code, out = _self_check(os.path.join(scratch, "zw"), "/dev/zero", run=_RUN_WHOLE_PARSER)
    assert code == 1 and "MemoryError" in out and "jpeg_ls" in out


@pytest.mark.req("SRS-230")
def test_i3_d2_fifo_at_an_imported_library_metadata_is_a_finding(scratch: str) -> None:
    code, out = _self_check(os.path.join(scratch, "f"), "FIFO")
    assert code == 14 and "METADATA" in out


@pytest.mark.req("SRS-230")
def test_i3_d2_dev_zero_at_an_imported_library_metadata_is_a_finding(scratch: str) -> None:
    code, out = _self_check(os.path.join(scratch, "z"), "/dev/zero")
    assert code == 14 and "Traceback" not in out


# === 4. BENEFIT-RISK ================================================================================================

@pytest.mark.req("SRS-183")
def test_i4_srs092_claim_is_reachable_and_the_prose_states_none() -> None:
    fields = fast_yaml.safe_load((ROOT / "risk/benefit.yaml").read_text())["benefit_risk"]
    claims = {c["item"]: c["state"] for c in fields["claims"]}
    srs = {r["id"]: r for r in fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
           ["software_requirements"]}
    assert srs["SRS-092"]["status"] == "approved" and claims["SRS-092"] in ("verified", "not verified")
    said = {i for n in ("benefits", "statement", "overall_residual_risk") for i, _s in prose_states(_prose(fields[n]))}
    assert "SRS-092" not in said
    # control: the prose reader does see a status given to SRS-092
    assert prose_states("SRS-092 is approved.") == [("SRS-092", "approved")]
