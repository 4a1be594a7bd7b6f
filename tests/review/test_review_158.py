"""Independent re-review 158 (reviewer helper-158) of helper-155's fixes of re-review 154 D1 (SRS-181) and D2
(SRS-183), landed inside 7f738a1 (see d611d52), reviewed at 7746094. helper-158 wrote none of the code, requirements
or tests reviewed. Read: record_content.py, overclaim.py (is_item_file, _entry_problems, DASH_NOT_PD,
_OVERALL_SUBJECT), graph.py (_attach_risk_evaluations), loader.py (item_files), SRS-181/183 in requirements.yaml,
tests/review/test_review_154.py.

Verdicts (file:line at 7746094):

- SRS-181 DEFECT (D1 of this review). The fixes hold for what they name: a BOM (UTF-8), ANSI colour, gzip (up to 4
  nested streams, multi-member), a pytest result / trace graph as JSON, JSON lines or YAML, whole or in part (test
  nodes, edges, wrapped), JUnit after an xml-stylesheet instruction, comment or simple doctype, pytest summaries
  with and without '=' rules, unittest's Ran line are refused; a byte copy of any loaded item file (risk, security,
  submission, traceability/reviews.yaml) anywhere and risk/copy.YAML / .YML are refused; an empty file stays
  'empty'; the repository's credited record (fuzz/results/campaign-5000-seed0-67d0ed3.md, the only one in
  risk/hazardous_situations.yaml) and benchmarks/results/latency.json pass; a 60 MiB gzip bomb is refused unjudged
  in well under a second and 200,000-deep JSON/YAML does not hang or exit 70. But "by its content, wherever it
  lives, generated test output (a pytest result document, ..., a test runner's console summary, ..., a JSON,
  JSON-lines or YAML document that names a pytest node ID; also after a byte-order mark, ... or gzip-compressed,
  one over 64 MiB decompressed being refused unjudged)" is still judged by shape and fails open at its bounds:
  (a) shapes: pytest-csv's per-test CSV and pytest -rA's "short test summary info" (PASSED path.py::name lines)
  name node IDs with outcomes but parse as one YAML scalar, which record_content.py:192-196 skips; a UTF-16
  byte-order mark (JSON or JUnit saved as UTF-16) is decoded as UTF-8 (record_content.py:190), so nothing matches;
  (b) bounds accepted, not refused unjudged: gzip nested 5 times (record_content.py:149-163 stop after 4 and
  judge the compressed bytes), a node ID deeper than 64 levels or after 200,000 values (record_content.py:103-117),
  and a pytest result document over 32 MiB (record_content.py:169-175: only its ends are read as text) are all
  accepted as measured records. The gzip case shows the rule the code already follows (refuse unjudged); the others
  do not follow it.
  Notes (not defects against the text, which says "byte copy"): a gzip, BOM-prefixed or CRLF copy of the risk file
  is accepted; a JUnit root with a namespace prefix or a doctype with an internal subset is not read (not what
  pytest writes).
- SRS-183 DEFECT (D2). The fixes hold: "risk-benefit", "risk/benefit", "risk benefit", "risk:benefit",
  "risk<en dash>benefit" and with a soft hyphen are read as the overall subject in either place; negated,
  hypothetical and item-state sentences are not; the dash set is every Pd character plus all four Dash=Yes
  non-Pd characters of the running Unicode (14.0: U+2053, U+207B, U+208B, U+2212) and U+02D7, U+2796; '+', '~',
  '.', '/', U+00B1, U+2022, U+00AD are not read; the repository's benefit-risk prose gives the same verdicts as
  before the fix (7f738a1^). But "a sentence about ... the benefit-risk (or risk-benefit, risk/benefit)" misses
  the same words in plural or joined by "to": "The risks/benefits balance is acceptable.", "The benefit-to-risk
  ratio is acceptable." (_OVERALL_SUBJECT, overclaim.py:396, takes the singular words joined by non-word
  characters only), so the gate passes them while a residual is unacceptable.
  Note: U+2052 COMMERCIAL MINUS SIGN and the MINUS SIGN WITH ... operators (U+2A29-2A2C, U+2A3A) are not read;
  they are not dash-like glyphs, so not counted here.

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. Mini projects are
written into tmp_path (tests/regulatory/miniproject.py); the real repository's files are only read.

Mutation check: 13 of 13 mutants killed (MUTANTS at the end of this file).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai.regulatory.overclaim import _prose, is_item_file, named_ids, overall_acceptable
from device_ai.regulatory.record_content import TOO_LARGE, UNJUDGED, generated_test_output
from tests import fast_yaml
from tests.regulatory.miniproject import (
    baseline,
    default_items,
    gap_lines,
    gate,
    passing_results,
    write_project,
    write_results,
)

REPO = Path(__file__).resolve().parents[2]


def _project(root: Path, change: Callable[[dict], None] | None = None) -> Path:
    items = default_items()
    if change is not None:
        change(items)
    write_project(root, items)
    baseline(root)
    return root


def _gaps(root: Path) -> list[str]:
    return gap_lines(gate(root, write_results(root, passing_results())))


def _situation(items: dict) -> dict:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]


# ============================== SRS-181: records of effectiveness ==============================


def _record(record: str) -> Callable[[dict], None]:
    def change(items: dict) -> None:
        evidence = _situation(items)["effectiveness"][0]
        evidence.pop("requirements")
        evidence["record"] = record
    return change


def _with_record(root: Path, record: str, write: Callable[[Path], None] | None = None) -> list[str]:
    _project(root, _record(record))
    if write is not None:
        write(root)
    return [line for line in _gaps(root) if "RISK-001: effectiveness" in line]


def _writes(record: str, content: str | bytes) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        (root / record).parent.mkdir(parents=True, exist_ok=True)
        (root / record).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return write


def _judge(tmp_path: Path, content: str | bytes, name: str = "record") -> str | None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return generated_test_output(path)


NODE = "tests/test_safety.py::test_refuses[case0]"
RESULTS = {"run": {"commit": "a" * 40, "command": ["-q"]},
           "results": {NODE: {"outcome": "passed", "duration_s": 0.01, "requirements": ["SRS-001"]}}}
RESULTS_JSON = json.dumps(RESULTS)
JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="1">'
         '<testcase classname="tests.test_safety" name="test_refuses[case0]"/></testsuite></testsuites>\n')


def _gzip(data: bytes, times: int) -> bytes:
    for _ in range(times):
        data = gzip.compress(data)
    return data


#: Generated test output the fix refuses (what it names, in the shapes it names).
REFUSED: dict[str, Callable[[], str | bytes]] = {
    "results-json": lambda: RESULTS_JSON,
    "results-yaml": lambda: yaml.safe_dump(RESULTS),
    "results-jsonl": lambda: RESULTS_JSON + "\n" + json.dumps({"nodeid": NODE, "outcome": "passed"}) + "\n",
    "results-bom-utf8": lambda: "\ufeff" + RESULTS_JSON,
    "results-gzip-4-levels": lambda: _gzip(RESULTS_JSON.encode(), 4),
    "results-gzip-multi-member": lambda: gzip.compress(b'{"x": 1, ') + gzip.compress(RESULTS_JSON[1:].encode()),
    "node-ids-as-values": lambda: json.dumps({"evidence": {"tests": [NODE]}}),
    "node-ids-depth-60": lambda: '{"a":' * 60 + RESULTS_JSON + "}" * 60,
    "junit-comment-doctype": lambda: '<?xml version="1.0"?><!-- run --><!DOCTYPE testsuites>' + JUNIT[38:],
    "junit-bom-utf8": lambda: "\ufeff" + JUNIT,
    "junit-stylesheet": lambda: '<?xml-stylesheet type="text/xsl" href="j.xsl"?>\n' + JUNIT,
    "pytest-q": lambda: "." * 10 + " [100%]\n10 passed in 0.05s\n",
    "pytest-colour-crlf": lambda: "\x1b[32m==== \x1b[1m10 passed\x1b[0m\x1b[32m in 0.05s ====\x1b[0m\r\n",
    "unittest": lambda: "..........\n------\nRan 10 tests in 0.005s\n\nOK\n",
}

#: D1a: generated test output in shapes the fix does not read - accepted as a measured record.
UNREAD_SHAPES: dict[str, Callable[[], str | bytes]] = {
    # pytest-csv's columns (id, module, name, file, doc, markers, status, message, duration)
    "pytest-csv": lambda: ("id,module,name,file,doc,markers,status,message,duration\n"
                           f"{NODE},tests.test_safety,test_refuses[case0],tests/test_safety.py,,,passed,,0.01\n"),
    "pytest-rA-short-summary": lambda: ("=========================== short test summary info "
                                        "============================\n"
                                        f"PASSED {NODE}\nPASSED tests/test_core.py::test_core\n"),
    "results-utf16-bom": lambda: RESULTS_JSON.encode("utf-16"),
    "junit-utf16-bom": lambda: JUNIT.replace("utf-8", "utf-16").encode("utf-16"),
}

#: D1b: test output past a bound of the judgement - accepted, not refused unjudged as over 64 MiB gzip is.
UNJUDGED_BOUNDS: dict[str, Callable[[], str | bytes]] = {
    "gzip-5-levels": lambda: _gzip(RESULTS_JSON.encode(), 5),
    "node-id-depth-70": lambda: '{"a":' * 70 + RESULTS_JSON + "}" * 70,
    "node-id-after-200000-values": lambda: json.dumps({"pad": [0] * 200_001, "run": RESULTS}),
    "results-over-32-mib": lambda: RESULTS_JSON[:-1] + ', "pad": "' + " " * (33 * 1024 * 1024) + '"}',
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", list(REFUSED))
def test_181_control_test_output_in_the_named_shapes_is_refused(tmp_path: Path, name: str) -> None:
    assert generated_test_output(tmp_path / "missing") is None
    kind = _judge(tmp_path, REFUSED[name]())
    assert kind and kind != TOO_LARGE, name


@pytest.mark.req("SRS-181")
def test_181_control_test_output_is_refused_by_the_gate(tmp_path: Path) -> None:
    record = "docs/evidence/run-record.csv"
    gaps = _with_record(tmp_path, record, _writes(record, "\ufeff" + yaml.safe_dump(RESULTS)))
    assert len(gaps) == 1 and f"record {record} is by its content a pytest result file" in gaps[0], gaps


#: Measured records the repository credits (every effectiveness record of risk/hazardous_situations.yaml, and
#: the benchmark result review 154 used), and study shapes that resemble test output: none is test output.
def _credited() -> list[str]:
    situations = fast_yaml.safe_load((REPO / "risk/hazardous_situations.yaml").read_text(encoding="utf-8"))
    records = {entry["record"] for situation in situations["hazardous_situations"]
               for entry in situation.get("effectiveness") or [] if entry.get("record")}
    return sorted(records | {"benchmarks/results/latency.json"})


@pytest.mark.req("SRS-181")
def test_181_control_the_repositorys_credited_records_pass(tmp_path: Path) -> None:
    credited = _credited()
    assert "fuzz/results/campaign-5000-seed0-67d0ed3.md" in credited
    for record in credited:
        assert generated_test_output(REPO / record) is None, record
        assert not is_item_file(record), record
    record = credited[0]
    assert _with_record(tmp_path, record, lambda root: (root / record).parent.mkdir(parents=True, exist_ok=True)
                        or shutil.copy(REPO / record, root / record)) == []
    for study in ("id,reader,refused\nbad-1.dcm,R1,yes\nbad-2.dcm,R1,yes\n",
                  "Challenge run: 12 inputs, 12 refused in 0.05s (exit 3).\n",
                  json.dumps({"pad": [0] * 1000, "refused": "12 of 12"}).encode("utf-16"),
                  _gzip(b'{"refused": "12 of 12"}', 4)):  # lead (fix of D1b): 5 levels are refused unjudged
        assert _judge(tmp_path, study) is None, study[:40]


# lead, 2026-12-07 (not re-reviewed): D1a fixed - a line naming a node ID with an outcome is test output
# (record_content._OUTCOME_LINE), UTF-16/32 byte-order marks are decoded. The pins are inverted; controls kept.
@pytest.mark.req("SRS-181")
def test_181_d1a_control_the_same_outcomes_as_json_lines_are_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, json.dumps({"tests": [NODE], "outcome": "passed"}), "control")


@pytest.mark.req("SRS-181")
def test_181_d1a_through_the_gate(tmp_path: Path) -> None:
    record = "docs/evidence/outcomes.csv"
    assert _with_record(tmp_path / "csv", record, _writes(record, UNREAD_SHAPES["pytest-csv"]()))  # refused now
    lines = json.dumps({"nodeid": NODE, "outcome": "passed"}) + "\n"  # control: as JSON lines, refused too
    assert _with_record(tmp_path / "jsonl", record, _writes(record, lines))


# D1a: generated test output in shapes the fix does not read (record_content.py:190-196)
# was a strict xfail (review 158 D1a); fixed by the lead
@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", list(UNREAD_SHAPES))
def test_181_generated_test_output_in_these_shapes_is_no_record(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, UNREAD_SHAPES[name]())


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    return gzip.compress(b"\0" * (65 * 1024 * 1024), 9)


# lead, 2026-12-07 (not re-reviewed): D1b fixed - past a bound (gzip nesting, the walk's values or depth, the parse
# size) a record is refused unjudged (record_content.UNJUDGED). The pin is gone; its control kept.
@pytest.mark.req("SRS-181")
def test_181_d1b_control_a_gzip_bomb_is_refused_unjudged(tmp_path: Path) -> None:
    assert _judge(tmp_path, _bomb(), "bomb") == TOO_LARGE


# D1b: bounds of the judgement fail open (record_content.py:103-117, 149-163, 169-175)
# was a strict xfail (review 158 D1b); fixed by the lead
@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", list(UNJUDGED_BOUNDS))
def test_181_test_output_past_a_bound_is_refused(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, UNJUDGED_BOUNDS[name]())


@pytest.mark.req("SRS-181")
def test_181_cost_is_bounded(tmp_path: Path) -> None:
    """A 60 MiB gzip bomb file, nested bombs and 200,000-deep JSON/YAML: no hang, no exception."""
    bomb = tmp_path / "bomb.gz"
    with bomb.open("wb") as handle:  # 60 MiB of gzip members, each 1 GiB of zeros would decompress
        member = gzip.compress(b"\0" * (8 * 1024 * 1024), 9)
        while handle.tell() < 60 * 1024 * 1024:
            handle.write(member * 64)
    started = time.monotonic()
    assert generated_test_output(bomb) == TOO_LARGE
    assert _judge(tmp_path, _gzip(b"\0" * (200 * 1024 * 1024), 3), "nested") == TOO_LARGE
    # lead (fix of re-review 160 D1a): JSON deeper than the parser goes is refused unjudged, not passed
    assert _judge(tmp_path, "[" * 200_000 + "]" * 200_000, "deep.json") == UNJUDGED
    # lead (fix of re-review 161 D1a): YAML deeper than libyaml goes is refused unjudged, not passed as prose
    assert _judge(tmp_path, "- " * 20_000 + "x\n", "deep.yaml") == UNJUDGED
    assert _judge(tmp_path, "a: &a [" + ",".join(["*a"] * 0) + "1]\n" + "".join(
        f"b{i}: &b{i} [" + ",".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 9) + "]\n" for i in range(9)),
        "laughs.yaml") == UNJUDGED  # lead (fix of D1b): past the walk's bound it is refused unjudged, not passed
    assert time.monotonic() - started < 20
    gaps = _with_record(tmp_path / "gate", "docs/bomb.gz",
                        lambda root: (root / "docs").mkdir(exist_ok=True) or shutil.copy(bomb, root / "docs/bomb.gz"))
    assert len(gaps) == 1 and f"is by its content {TOO_LARGE}" in gaps[0], gaps


ITEM_COPIES = ("risk/hazardous_situations.yaml", "security/threats.yaml", "submission/gspr.yaml",
               "risk/benefit.yaml", "traceability/requirements.yaml")


@pytest.mark.req("SRS-181")
def test_181_a_byte_copy_of_any_loaded_item_file_is_refused(tmp_path: Path) -> None:
    def copy(source: str, to: str) -> Callable[[Path], None]:
        def write(root: Path) -> None:
            (root / to).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / source, root / to)
        return write

    for index, source in enumerate(ITEM_COPIES):
        to = f"docs/evidence/{index}/copy.txt"
        gaps = _with_record(tmp_path / str(index), to, copy(source, to))
        assert gaps == [f"GAP RISK-001: effectiveness: evidence 1 (RC-001): record {to} is the risk file or the "
                        f"trace items (a byte copy of {source}), not a measured outcome"], gaps
    for index, to in enumerate(("risk/copy.YML", "security/Copy.Yaml")):
        gaps = _with_record(tmp_path / f"case{index}", to, copy("risk/plan.yaml", to))
        assert len(gaps) == 1 and f"record {to} is the risk file or the trace items" in gaps[0], gaps
    assert is_item_file("submission/notes.YAML") and not is_item_file("docs/notes.YAML")
    # controls: one byte changed is no copy; an empty file is reported as empty
    def edited(root: Path) -> None:
        text = (root / "risk/hazardous_situations.yaml").read_text(encoding="utf-8")
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs/edited.txt").write_text(text + "# edited\n", encoding="utf-8")
    assert _with_record(tmp_path / "edited", "docs/edited.txt", edited) == []
    def empty(root: Path) -> None:  # and a loaded item file that is empty too: the record is no copy of it
        _writes("docs/empty.txt", b"")(root)
        _writes("security/components.yaml", b"")(root)
    gaps = _with_record(tmp_path / "empty", "docs/empty.txt", empty)
    assert len(gaps) == 1 and "empty" in gaps[0] and "trace items" not in gaps[0], gaps


# ============================== SRS-183: benefit-risk prose ==============================


def _unacceptable_with(statement: str) -> Callable[[dict], None]:
    def change(items: dict) -> None:
        situation = _situation(items)
        situation["residual"] = {"p1": "P3", "p2": "P3"}  # S3 x P3: unacceptable
        situation["effectiveness"] = []
        items["risk/benefit.yaml"]["benefit_risk"].update(statement=statement, overall_residual_risk="Weighed.",
                                                          overall_residual_risk_verdict="undecided")
    return change


def _benefit(root: Path) -> list[str]:
    return [line for line in _gaps(root) if "BENEFIT-RISK" in line]


CONCLUDED = "GAP BENEFIT-RISK: benefit-risk: concludes the overall residual risk acceptable while residual risks are " \
            "unacceptable: RISK-001"
READ = ("The risk-benefit balance is acceptable.", "The risk/benefit ratio is acceptable.",
        "The risk benefit balance is acceptable.", "The risk:benefit ratio is acceptable.",
        "Acceptable is the risk\u2013benefit balance.", "The risk\u00adbenefit balance is acceptable.",
        "We judge the Risk-Benefit acceptable.", "The benefit-risk ratio is acceptable.")
NOT_READ = ("The risk-benefit balance is not acceptable.", "The risk/benefit ratio would be acceptable.",
            "The risk-benefit balance, once verified, is acceptable.", "RISK-001's risk-benefit is acceptable.",
            "The risk-benefit of RISK-001 is acceptable.", "The risk of the benefit study is acceptable.")
#: D2: the same subject in plural or joined by "to" - not read.
UNREAD_SUBJECTS = ("The risks/benefits balance is acceptable.", "The benefits-risks balance is acceptable.",
                   "The benefit-to-risk ratio is acceptable.", "The risk-to-benefit ratio is acceptable.")


@pytest.mark.req("SRS-183")
def test_183_risk_benefit_wording_is_read_as_overall(tmp_path: Path) -> None:
    for sentence in READ:
        assert overall_acceptable(sentence, overall_field=False) == [sentence], sentence
    for sentence in NOT_READ:  # controls: negated, hypothetical, an item's own state, another subject
        assert overall_acceptable(sentence, overall_field=False) == [], sentence
    assert _benefit(_project(tmp_path / "read", _unacceptable_with(READ[1]))) == [CONCLUDED]
    assert CONCLUDED not in _benefit(_project(tmp_path / "item", _unacceptable_with(NOT_READ[3])))


# lead, 2026-12-07 (not re-reviewed): D2 fixed - the subject is read in plural and with "to"; pin inverted, control kept
@pytest.mark.req("SRS-183")
def test_183_d2_plural_and_to_forms_are_read_by_the_gate(tmp_path: Path) -> None:
    assert CONCLUDED in _benefit(_project(tmp_path / "fixed", _unacceptable_with(UNREAD_SUBJECTS[0])))
    assert _benefit(_project(tmp_path / "control", _unacceptable_with(READ[1]))) == [CONCLUDED]


# D2: "about ... the benefit-risk (or risk-benefit, risk/benefit)" in plural or with "to" (overclaim.py:396)
# was a strict xfail (review 158 D2); fixed by the lead
@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("sentence", UNREAD_SUBJECTS)
def test_183_the_benefit_risk_in_plural_or_with_to_is_read(sentence: str) -> None:
    assert overall_acceptable(sentence, overall_field=False) == [sentence]


#: Unicode's Dash property (PropList.txt) outside Pd, for Unicode 12-15; the running database decides the Pd part.
DASH_PROPERTY_NOT_PD = "\u2053\u207b\u208b\u2212"


@pytest.mark.req("SRS-183")
def test_183_every_dash_separates_an_id_and_the_controls_do_not() -> None:
    pd = [c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) == "Pd"]
    assert len(pd) >= 26
    for dash in (*pd, *DASH_PROPERTY_NOT_PD, "\u02d7", "\u2796"):
        assert named_ids(f"SRS{dash}001 is not verified") == [("SRS-001", 0, 7)], hex(ord(dash))
        assert named_ids(f"rc {dash} 012 is verified") == [("RC-012", 0, 8)], hex(ord(dash))
    for other in ("+", "~", ".", "/", "\u00b1", "\u2022", "\u00ad", "\u2052", "\u2014\u2014"):
        assert named_ids(f"SRS{other}001 is not verified") == [], hex(ord(other[0]))


@pytest.mark.req("SRS-183")
def test_183_a_dash_outside_pd_names_an_item_at_the_gate(tmp_path: Path) -> None:
    prose = _project(tmp_path, lambda items: items["risk/benefit.yaml"]["benefit_risk"].update(
        benefits="SRS\u208b001 and SRS\u2053002 are named."))
    assert _benefit(prose) == ["GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can "
                               "check: SRS-001, SRS-002"]


#: The overall-subject pattern before helper-155's fix (7f738a1^): the repository's prose must read the same.
_OLD_SUBJECT = re.compile(r"\b(?:overall|residual\s+risks?|the\s+device|benefit\W+risk)\b", re.IGNORECASE)


@pytest.mark.req("SRS-183")
def test_183_control_the_repositorys_benefit_risk_text_gives_the_same_verdicts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.regulatory import overclaim

    benefit = fast_yaml.safe_load((REPO / "risk/benefit.yaml").read_text(encoding="utf-8"))["benefit_risk"]
    texts = {field: _prose(benefit[field]) for field in ("benefits", "statement", "overall_residual_risk")}
    now = {field: (overall_acceptable(text, overall_field=field == "overall_residual_risk"), named_ids(text))
           for field, text in texts.items()}
    monkeypatch.setattr(overclaim, "_OVERALL_SUBJECT", _OLD_SUBJECT)
    monkeypatch.setattr(overclaim, "_NAMED_ID", re.compile(overclaim._NAMED_ID.pattern.replace(
        "".join(re.escape(c) for c in overclaim.DASH_NOT_PD), re.escape("\u2212\u2796")), re.IGNORECASE))
    before = {field: (overall_acceptable(text, overall_field=field == "overall_residual_risk"), named_ids(text))
              for field, text in texts.items()}
    assert now == before
    assert sum(len(ids) for _c, ids in now.values()) >= 10 and all(c == [] for c, _i in now.values())


#: Mutation check: a copy of src/ (git archive 7746094 into /tmp/h158src), each part of helper-155's fix undone
#: in the copy, this file run against it (PYTHONPATH) with -k; every one of the 13 was killed by the test named.
MUTANTS = """
M1  no BOM strip (record_content)           -> test_181_control_test_output_in_the_named_shapes_is_refused[junit-bom-utf8]
M2  no gunzip                               -> ..._named_shapes_is_refused[results-gzip-4-levels]
M3  no ANSI strip                           -> ..._named_shapes_is_refused[pytest-colour-crlf]
M4  node IDs as values not read             -> ..._named_shapes_is_refused[node-ids-as-values]
M5  no YAML documents                       -> ..._named_shapes_is_refused[results-yaml]
M6  JUnit only after an XML declaration     -> ..._named_shapes_is_refused[junit-comment-doctype]
M7  console count line needs '=' rules      -> ..._named_shapes_is_refused[pytest-q]
M8  gzip over 64 MiB judged, not refused    -> test_181_pin_d1b_test_output_past_a_bound_is_accepted (its bomb control)
M9  graph records no item copies            -> test_181_a_byte_copy_of_any_loaded_item_file_is_refused
M10 an empty item file's digest counted     -> test_181_a_byte_copy_of_any_loaded_item_file_is_refused (empty control)
M11 item YAML suffix case-sensitive         -> test_181_a_byte_copy_of_any_loaded_item_file_is_refused (risk/copy.YML)
M12 _OVERALL_SUBJECT without risk-benefit   -> test_183_risk_benefit_wording_is_read_as_overall
M13 DASH_NOT_PD back to U+2212, U+2796      -> test_183_every_dash_separates_an_id_and_the_controls_do_not
"""
