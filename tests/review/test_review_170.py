"""Independent re-review 170 (reviewer helper-170) of SRS-181 at 582b8b5, after the fixes of re-reviews 167 D1 (45e1f79),
168 D1 (e695cd0) and 169 D1/N1 (c8e77ae), where the lead approved SRS-181 subject to this review. helper-170 wrote none
of the code, texts or tests reviewed. Read: SRS-181's text and history (traceability/requirements.yaml), ANOM-018,
``git log`` of record_content.py and traceability/, record_content.py whole (582b8b5), the expressions of e695cd0^,
the docstrings of tests/review/test_review_167.py .. test_review_169.py. Judged only against SRS-181's text and ANOM-018.

SRS-181 - DEFECT (D1 the console-summary expression is still quadratic in a line's length: "1 passed" followed by
blanks and any other character; D2 a gzip record of many members is decompressed in time growing with the square of
the number of members; D3 the requirement's own suite fails at 582b8b5 - test_overclaim.py's hostile-record test
expects a verdict c8e77ae changed.)

Item 1 - holds: the re-specification is recorded (ANOM-018, a ``respecifications`` entry, each re-review and fix in
SRS-181's history), the findings of 163-166 keep their docstrings, and it is stricter: 300 random JSON/YAML documents
(seed 1700) - the rule before 8a2224b refused over 100, today's accepts none of them.

Item 2 - the rewritten expressions: _NODE_ID, _OUTCOME_LINE and _CONSOLE agree with e695cd0^ and _is_junit with the old
_JUNIT (DOTALL) on 20,000 random texts of fragments with newlines, nested and unclosed marks (seed 170): no difference.
The 167 D1 fix opens nothing: !!python/name and !!python/object keys build nothing, no exception escapes, equal
instants written two ways, .nan/.NaN, two !!binary keys are NOT_PLAIN (the safe loader makes one key of each pair);
!!set keys and bad timestamps compared by text; 2,999 distinct base-60 keys of 4,298 characters (12.9 MB) 4.05 s -
bounded per key, linear. Repeats and merge keys (also an explicit !!merge tag) refused NOT_PLAIN at the top, nested,
in block and flow sequences, a later document, JSON lines, gzip, UTF-16, after a BOM; an anchor defined again and
billion laughs UNJUDGED. Over-refusal: the records the risk files credit and every file of benchmarks/results,
fuzz/results and validation/ (test_*.py aside) pass; yaml.dump with &id001 aliases, yaml.safe_dump and json.dump pass.
But D1 and D2: not every step of the reading is linear.

Item 3 - regressions: tests/regulatory/test_overclaim.py, test_overclaim_general.py, reviews 14x-16x (167-169 in), 74 on
-n 2: 1 failed, 1142 passed, 36 xfailed (116 s) - the failure is D3.

Item 4 - cost (2 cores shared with the lead and other helpers, load 0.4-1.0): 20,000 measure cases as JSON and YAML,
200,000 repeats JSON and YAML, billion laughs UNJUDGED - together within 30 s (this whole file, 25 tests, 12.4 s).

D1 - record_content.py:77, _CONSOLE's first alternative ends ``[ \\t]*=*[ \\t]*$``: with no '=' the two blank runs
split a run of n blanks in n ways, each tried to its end (no memo in Python's re) - O(n^2) per line. e695cd0 says the
console summary is "now linear"; the tail was left as before (e695cd0^ the same). Minimal record: the line
``1 passed`` + n blanks + ``x`` (an 80-byte gzip at n = 32,000): n 8,000 0.25 s, 16,000 0.84 s, 32,000 3.16 s, then
None - accepted after the wait; 1 MB extrapolates to about an hour, 32 MiB to months. ``trace check`` judges every
credited record (graph.py:264), so one such record stalls the gate. Contradicts SRS-181 "a record the bounded
reading cannot judge whole ... being refused unjudged" (it is neither judged nor refused in bounded time), as
168 D1 and 169 D1 did. Not a regression.

D2 - record_content.py:341-352, _gunzip's member loop: ``rest = inflater.unused_data`` copies the rest of the stream
at each member (and ``out +=`` copies what was decompressed), so m members cost O(m x size). Minimal record: m empty
gzip members (20 bytes each) then one member holding ``measured: 1`` (itself gzip-compressed: a nested gzip record
of 1-8 KB): m 40,000 (800 KB) 0.45 s, 80,000 1.59 s, 160,000 (3.2 MB, 7.8 KB gzip) 5.97 s, then None; 32 MiB of
members (1.6 million) extrapolates to about 10 minutes. Contradicts the same text (the reading is bounded in bytes,
64 MiB, not in time). Not a regression of c8e77ae (multi-member reading since re-reviews 160/161).

D3 - tests/regulatory/test_overclaim.py:777/:799 (test_hostile_records_are_judged_or_refused_without_stalling_the_gate)
expects ``aliased.yaml`` (a 4,000-character anchored scalar used as a key 20,000 times: 80 million characters) to be
None; since c8e77ae it is UNJUDGED (over the 32 MiB character bound SRS-181 now names), so the requirement's own
verification fails at the approved commit; c8e77ae's "1143 passed, 36 xfailed" is not reproduced. The code follows the
text here - the test is stale - but SRS-181 is not verified at 582b8b5.

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes; holds are plain tests.
Scratch files only in tmp_path; git history is read for the old rules. Record (independent): none (D1-D3).
"""

from __future__ import annotations

import codecs
import gzip
import importlib.util
import json
import random
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory import record_content
from device_ai.regulatory.record_content import NOT_PLAIN, UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
HIDDEN = "run: {commit: abc}\nresults:\n  01: {note: x}\n  1: {outcome: passed}\n"


def _judge(tmp_path: Path, name: str, data: str | bytes) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


def _timed(tmp_path: Path, name: str, data: str | bytes) -> tuple[str | None, float]:
    started = time.perf_counter()
    verdict = _judge(tmp_path, name, data)
    return verdict, time.perf_counter() - started


def _old_rule(tmp_path: Path, commit: str):  # noqa: ANN202 - a module loaded from git history
    try:
        source = subprocess.run(["git", "show", f"{commit}:src/device_ai/regulatory/record_content.py"], cwd=ROOT,
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git history before the change is not available")
    name = "old_record_content_170_" + commit.replace("^", "_")
    (tmp_path / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location(name, tmp_path / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# === Item 1 holds ===================================================================================================

def _random_document(rnd: random.Random) -> str:
    keys = ["run", "results", "outcome", "nodeid", "nodes", "edges", "runs", "kind", NODE, "1", "01", "~", "null",
            "yes", "true", "<<", "note", "0x1", "1.0", "1.00"]
    scalars = ["passed", "failed", "test", "x", "tests/b.py::u", "1", "{}", "[]"]

    def value(depth: int) -> str:
        if depth > 3 or rnd.random() < 0.3:
            return rnd.choice(scalars)
        if rnd.random() < 0.7:
            return "{" + ", ".join(f"{rnd.choice(keys)}: {value(depth + 1)}" for _ in range(rnd.randint(1, 4))) + "}"
        return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(1, 3))) + "]"

    text = value(0)
    return text if rnd.random() < 0.8 else f"---\n{text}\n---\n{value(0)}"


@pytest.mark.req("SRS-181")
def test_holds_stricter_nothing_the_rule_before_the_re_specification_refused_is_accepted(tmp_path: Path) -> None:
    old = _old_rule(tmp_path, "8a2224b^")
    rnd, refused, accepted_now = random.Random(1700), 0, []
    for index in range(300):
        path = tmp_path / f"s{index}.yaml"
        path.write_text(_random_document(rnd))
        if old.generated_test_output(path) is not None:
            refused += 1
            if generated_test_output(path) is None:
                accepted_now.append(path.read_text())
    assert refused > 100 and accepted_now == []


@pytest.mark.req("SRS-181")
def test_holds_the_re_specification_is_recorded_and_the_findings_stay_visible() -> None:
    requirement = next(r for r in yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
                       ["software_requirements"] if r["id"] == "SRS-181")
    assert [r["record"] for r in requirement["respecifications"]] == ["ANOM-018"]
    assert "Independent re-review 169" in requirement["rationale"]
    anomaly = next(a for a in yaml.safe_load((ROOT / "traceability/anomalies.yaml").read_text())["anomalies"]
                   if a["id"] == "ANOM-018")
    assert all(f"{n}:" in anomaly["description"] for n in (163, 164, 165, 166))
    for number in range(163, 170):
        assert (ROOT / f"tests/review/test_review_{number}.py").read_text().startswith('"""Independent re-review')


# === Item 2 holds ===================================================================================================

_ATOMS = ["a", "b_1", "/", ".", "-", "x.py", "::", "::t", " ", "\t", "=", "==", " passed", " PASSED", "1", "12",
          " failed", ",", " in ", "0.5s", "Ran ", "tests", "error", "xfail", "\n", "<?", "?>", "<?x?>", "<!--", "-->",
          "<!-- c -->", "<!DOCTYPE d>", "<!DOCTYPE", ">", "<testsuite>", "<testsuites ", "<testsuite/", "<a>",
          "warnings", "deselected"]


@pytest.mark.req("SRS-181")
def test_holds_the_rewritten_expressions_and_is_junit_agree_with_the_old_ones(tmp_path: Path) -> None:
    old = _old_rule(tmp_path, "e695cd0^")
    rnd, differ, junit = random.Random(170), [], 0
    for _ in range(20_000):
        text = "".join(rnd.choice(_ATOMS) for _ in range(rnd.randint(1, 16)))
        for name in ("_NODE_ID", "_OUTCOME_LINE", "_CONSOLE"):
            if bool(getattr(old, name).search(text)) != bool(getattr(record_content, name).search(text)):
                differ.append((name, text))
        before = bool(old._JUNIT.match(text))
        junit += before
        if before != record_content._is_junit(text):
            differ.append(("junit", text))
    assert differ == [] and junit > 100


@pytest.mark.req("SRS-181")
def test_holds_key_building_opens_nothing_and_equal_keys_to_the_loader_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, text in (("apply.yaml", "? !!python/object/apply:builtins.print ['x']\n: 1\nb: 2\n"),
                       ("name.yaml", "? !!python/name:os.system x\n: 1\nb: 2\n"),
                       ("bad-ts.yaml", "? !!timestamp 2001-13-45\n: 1\nb: 2\n"),
                       ("set.yaml", "? !!set {a, b}\n: 1\n? !!set {b, a}\n: 2\n")):
        assert _judge(tmp_path, name, text) is None, name
    assert capsys.readouterr().out == ""
    for name, text in (("instant.yaml", "{2001-12-14t21:59:43.10-05:00: a, 2001-12-15 02:59:43.1Z: b}\n"),
                       ("nan.yaml", "{.nan: a, .NaN: b}\n"), ("bin.yaml", "{? !!binary aGk=: a, ? !!binary aGk= : b}\n"),
                       ("merge-tag.yaml", "!!merge a: {b: 1}\n")):
        assert _judge(tmp_path, name, text) == NOT_PLAIN, name
    assert _judge(tmp_path, "long-int-key.yaml", "? " + "1" * 5000 + "\n: 1\n") == UNJUDGED
    assert _judge(tmp_path, "again.yaml", "a: &x 1\nb: &x 2\n") == UNJUDGED


PLACES = {"top.yaml": HIDDEN, "nested.yaml": "a: {b: {~: 1, null: 2}}\n", "flow-seq.yaml": "[{a: 1, a: 2}]\n",
          "block-seq.yaml": "- a: 1\n  b: 2\n- c: 1\n  c: 2\n", "merge.yaml": "x: &x {c: 1}\nd:\n  <<: *x\n",
          "later.yaml": "a: 1\n---\nb: {yes: 1, true: 2}\n", "lines.jsonl": '{"a": 1}\n{"r": 1, "r": 2}\n',
          "gzip.yaml.gz": gzip.compress(HIDDEN.encode(), mtime=0),
          "utf-16.yaml": codecs.BOM_UTF16_LE + HIDDEN.encode("utf-16-le"), "bom.json": '\ufeff{"a": 1, "a": 2}'}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(PLACES))
def test_holds_repeats_and_merge_keys_are_refused_everywhere(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, PLACES[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
def test_holds_credited_kept_and_dumped_records_pass(tmp_path: Path) -> None:
    credited = {entry["record"] for path in (ROOT / "risk").glob("*.yaml")
                for item in (yaml.safe_load(path.read_text()) or {}).get("hazardous_situations", []) or []
                for entry in item.get("effectiveness") or [] if entry.get("record")}
    kept = [p for folder in ("benchmarks/results", "fuzz/results", "validation") for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("test_")]
    assert credited and len(kept) > 40
    assert {str(p): kind for p in [ROOT / r for r in credited] + kept
            if (kind := generated_test_output(p)) is not None} == {}
    shared = {"threshold": 0.5, "site": "fake-site"}
    cases = [{"case": f"c{i}", "dice": round(0.8 + i % 7 / 100, 3), "cfg": shared} for i in range(200)]
    dumped = yaml.dump({"study": "synthetic", "cases": cases})
    assert "*id001" in dumped and _judge(tmp_path, "dump.yaml", dumped) is None
    assert _judge(tmp_path, "safe.yaml", yaml.safe_dump({"cases": cases})) is None
    assert _judge(tmp_path, "dump.json", json.dumps({"cases": cases})) is None


# === Item 4 holds ===================================================================================================

@pytest.mark.req("SRS-181")
def test_holds_cost_of_ordinary_records_and_hostile_repeats(tmp_path: Path) -> None:
    cases = [{"case": f"case-{i:05d}", "dice": 0.8 + (i % 97) / 1000, "hd95_mm": 1.5 + (i % 13) / 10}
             for i in range(20_000)]
    laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    started = time.perf_counter()
    assert _judge(tmp_path, "m.json", json.dumps({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "m.yaml", yaml.safe_dump({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "r.json", "{" + ",".join(['"a": 1'] * 200_000) + "}") == NOT_PLAIN
    assert _judge(tmp_path, "r.yaml", "a: 1\n" * 200_000) == NOT_PLAIN
    assert _judge(tmp_path, "laughs.yaml", laughs) == UNJUDGED
    assert time.perf_counter() - started < 30  # this whole file ran in 12 s on the shared machine


# === D1: the console summary's blank tail is quadratic ===============================================================

def _summary_blanks(blanks: int) -> str:
    return "1 passed" + " " * blanks + "x\n"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[str | None, float]]:
    folder = tmp_path_factory.mktemp("review170-console")
    return {n: _timed(folder, f"c{n}.txt", _summary_blanks(n)) for n in (6_000, 24_000)}


@pytest.mark.req("SRS-181")
def test_d1_pin_the_lines_are_judged(console: dict) -> None:
    # lead: D1 fixed (not re-reviewed) - the tail's runs possessive; the quadratic pin is gone, its verdicts kept
    (small_verdict, _), (large_verdict, _) = console[6_000], console[24_000]
    assert small_verdict is None and large_verdict is None


@pytest.mark.req("SRS-181")
def test_d1_control_blanks_after_a_rule_or_alone_are_read_fast(tmp_path: Path) -> None:
    for name, text in (("rule.txt", "= 1 passed in 1s =" + " " * 1_000_000 + "x\n"), ("alone.txt", " " * 1_000_000 + "x")):
        verdict, elapsed = _timed(tmp_path, name, text)
        assert verdict is None and elapsed < 2, name


@pytest.mark.req("SRS-181")
def test_d1_a_line_is_judged_in_linear_time(console: dict) -> None:
    assert console[24_000][1] < 5 * console[6_000][1] + 0.05


# === D2: a gzip record of many members is read in quadratic time =====================================================

def _members(count: int) -> bytes:
    return gzip.compress(gzip.compress(b"", mtime=0) * count + gzip.compress(b"measured: 1\n", mtime=0), mtime=0)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[str | None, float]]:
    folder = tmp_path_factory.mktemp("review170-gzip")
    return {n: _timed(folder, f"g{n}.yaml.gz", _members(n)) for n in (20_000, 80_000)}


@pytest.mark.req("SRS-181")
def test_d2_pin_the_members_are_judged(members: dict) -> None:
    # lead: D2 fixed (not re-reviewed) - each member fed in doubling chunks; the quadratic pin is gone, verdicts kept
    (small_verdict, _), (large_verdict, _) = members[20_000], members[80_000]
    assert small_verdict is None and large_verdict is None and len(_members(80_000)) < 5_000


@pytest.mark.req("SRS-181")
def test_d2_control_one_large_member_is_read_fast(tmp_path: Path) -> None:
    verdict, elapsed = _timed(tmp_path, "one.yaml.gz", gzip.compress(b"measured: 1\n" + b"# note\n" * 200_000))
    assert verdict is None and elapsed < 2


@pytest.mark.req("SRS-181")
def test_d2_members_are_read_in_linear_time(members: dict) -> None:
    assert members[80_000][1] < 5 * members[20_000][1] + 0.05


# === D3: the requirement's own suite fails at the approved commit ===================================================

_ALIASED = "k: &k " + "a" * 4000 + "\n" + "".join(f"m{i}: {{*k : 1}}\n" for i in range(20_000))


@pytest.mark.req("SRS-181")
def test_d3_pin_the_aliased_record_is_unjudged_as_the_text_says(tmp_path: Path) -> None:
    assert _judge(tmp_path, "aliased.yaml", _ALIASED) == UNJUDGED  # 80 million characters counted, over 32 MiB


@pytest.mark.req("SRS-181")
def test_d3_control_fewer_uses_are_judged(tmp_path: Path) -> None:
    assert _judge(tmp_path, "few.yaml", _ALIASED[: _ALIASED.index("m2000:")]) is None


@pytest.mark.req("SRS-181")
def test_d3_the_requirements_hostile_record_test_agrees_with_the_code() -> None:
    source = (ROOT / "tests/regulatory/test_overclaim.py").read_text()
    lines = [x.rstrip() for x in source.splitlines() if x.strip().startswith('"aliased.yaml"')]
    assert all(x.endswith('"unjudged"),') for x in lines)
