"""Independent re-review 171 (reviewer helper-171) of SRS-181 at bdca572, after the fixes of re-reviews 167 D1 (45e1f79),
168 D1 (e695cd0), 169 D1/N1 (c8e77ae) and 170 D1-D3 (e327185), where the lead approved SRS-181 subject to this review.
helper-171 wrote none of the code, texts or tests reviewed. Read: SRS-181's text, rationale and respecifications
(traceability/requirements.yaml), ANOM-018, ``git log`` of record_content.py and traceability/, record_content.py whole
(bdca572), the expressions of e695cd0^, _gunzip of e327185^, the docstrings of tests/review/test_review_167.py ..
test_review_170.py. Judged only against SRS-181's text and ANOM-018.

SRS-181 - HOLDS (no defect; two notes N1, N2 below, neither against the text).

Item 1 - holds: the re-specification is recorded (ANOM-018 describes the rule before it and the findings of 163-166; a
``respecifications`` entry on SRS-181 names ANOM-018; each re-review 167-170 and fix is in SRS-181's rationale; the
review files 163-170 keep their docstrings) and it is stricter: 300 random JSON/YAML documents with repeated, loaded-equal
and merge keys (seed 171) - the rule before 8a2224b refuses over 100, today's accepts none of them.

Item 2 - the code does what the text says. _NODE_ID, _OUTCOME_LINE and _CONSOLE (with e327185's possessive tail) agree
with e695cd0^, and _is_junit with the old _JUNIT, on 20,000 random texts each (seed 171; blanks, '=', \\v, \\r, marks):
no difference (and 40,000 more in a scratch run: none). _members (e327185) gives the same bytes as e327185^'s _gunzip on
3,000 random member compositions (valid, empty, truncated, false magic, nested; 6,000 in a scratch run: none). Every
expression and step on 1 MB hostile texts (a blank, '=' or mixed tail, repeated durations and counts, "Ran" with \\v,
outcome words, ANSI CSI/OSC, JUnit '<?'/'?>', '<!--'/'-->', '<!DOCTYPE' runs, '=' lines) in a 1-2 KB gzip: 0.03-0.43 s
each. Key building: !!python tags build nothing and print nothing, no exception escapes; keys one to the safe loader
(instants written two ways, .nan/.NaN, two !!binary, 1/1.0, 0/-0.0, 1_000/1000, ~/!!null '') are NOT_PLAIN; a non-text
key over 4,300 characters and an anchor defined again UNJUDGED. Repeats and merge keys (also ``? <<``, ``!!merge``) are
NOT_PLAIN at the top, nested, in block and flow sequences, in a later (third) document, JSON lines, gzip, UTF-16,
UTF-32, after a BOM. Aliases are judged (a node ID reached through an alias is found), billion laughs UNJUDGED.
Over-refusal: every record the risk files credit and every file of benchmarks/results, fuzz/results and validation/
(test_*.py aside) passes; yaml.dump with &id001 aliases, yaml.safe_dump and json.dump of measured data pass.

Item 3 - regressions: tests/regulatory/test_overclaim.py, test_overclaim_general.py, reviews 14x-17x (167-170 in), 74 on
-n 2 (shared 2 cores): 1168 passed, 36 xfailed (143 s).

Item 4 - cost (2 cores shared with the lead and other helpers): 20,000 measure cases as JSON and YAML, 200,000 repeats
JSON and YAML, billion laughs - together within 30 s (see the test). Ordinary figures in a scratch run: see N1.

N1 (a note, not against the text: linear, and refused unjudged as the text says) - the walk's bound of 200,000 values
applies only after libyaml has composed a whole document (record_content.py:177-179, yaml.compose_all builds every node
before _plain counts it). A flow sequence of n plain scalars, ``[a,a,...]``: 2 MB (a 2 KB gzip) 4-5 s / 310 MiB peak,
8 MB 24.6 s / 1.18 GB, 32 MiB (a 32,648-byte gzip) 57.8 s / 4.9 GB peak, then UNJUDGED - linear, but a 32 KB record
holds ``trace check`` about a minute and 5 GB, where a small runner could be killed first. Counting nodes as they are composed (or a bound on the
events read) would refuse it at 200,000. JSON of 2.6 million empty objects (a 7.6 KB gzip): 2.2 s / 400 MiB.

N2 (a note: outside the letter, which names JSON, JSON-lines or YAML *documents*; not a regression: 8a2224b^ and
e695cd0^ also accept it) - a pytest result document that does not parse as a whole is judged only line by line: a
pretty-printed --req-report JSON (node IDs and outcomes on separate lines) after one line of prose (``note: copied``),
or a yaml.safe_dump of it with a stray ``}`` line at the end, is accepted (None), where the same document alone is
refused, and after a ``#`` comment line too. A reader that skips the first line sees test output.

Holds are plain tests; the notes are pins of today's behaviour beside a control. Scratch files only in tmp_path; git
history is read for the old rules. Record (independent): written, as no defect was found.
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
    name = "old_record_content_171_" + commit.replace("^", "_")
    (tmp_path / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location(name, tmp_path / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# === Item 1 holds ===================================================================================================

def _random_document(rnd: random.Random) -> str:
    keys = ["run", "results", "outcome", "nodeid", "nodes", "edges", "runs", "kind", NODE, "1", "01", "~", "null",
            "yes", "true", "<<", "note", "0x1", "1.0", "1_0", "10", "!!str 1", "'1'"]
    scalars = ["passed", "failed", "test", "x", "tests/b.py::u", "1", "{}", "[]", "*a"]

    def value(depth: int) -> str:
        if depth > 3 or rnd.random() < 0.3:
            return rnd.choice(scalars)
        if rnd.random() < 0.7:
            return "{" + ", ".join(f"{rnd.choice(keys)}: {value(depth + 1)}" for _ in range(rnd.randint(1, 4))) + "}"
        return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(1, 3))) + "]"

    text = "a: &a {note: x}\nb: " + value(0) if rnd.random() < 0.3 else value(0)
    return text if rnd.random() < 0.7 else f"---\n{text}\n---\n{value(0)}\n---\n{value(0)}"


@pytest.mark.req("SRS-181")
def test_holds_stricter_nothing_the_rule_before_the_re_specification_refused_is_accepted(tmp_path: Path) -> None:
    old = _old_rule(tmp_path, "8a2224b^")
    rnd, refused, accepted_now = random.Random(171), 0, []
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
    assert "stricter" in requirement["respecifications"][0]["change"]
    assert all(f"re-review {n}" in requirement["rationale"] for n in (167, 168, 169, 170))
    anomaly = next(a for a in yaml.safe_load((ROOT / "traceability/anomalies.yaml").read_text())["anomalies"]
                   if a["id"] == "ANOM-018")
    assert all(f"{n}:" in anomaly["description"] for n in (163, 164, 165, 166))
    for number in range(163, 171):
        assert (ROOT / f"tests/review/test_review_{number}.py").read_text().startswith('"""Independent re-review')


# === Item 2 holds ===================================================================================================

_ATOMS = ["a", "b_1", "/", ".", "-", "x.py", "::", "::t", " ", "\t", "\x0b", "\r", "=", "==", "====", " passed",
          " PASSED", "1", "12", "1 passed", "2 failed", "3 errors", " failed", ",", ", ", " in ", "0.5s", "1s", "Ran ",
          "Ran 3 tests in 0.1s", "tests", "error", "xfail", "\n", "<?", "?>", "<?x?>", "<!--", "-->", "<!-- c -->",
          "<!DOCTYPE d>", "<!DOCTYPE", ">", "<testsuite>", "<testsuites ", "<testsuite/", "<a>", "warnings",
          "deselected", "5 rerun", "a.py::t", "tests/a.py::t PASSED", "FAILED b.py::u"]


@pytest.mark.req("SRS-181")
def test_holds_the_rewritten_expressions_and_is_junit_agree_with_the_old_ones(tmp_path: Path) -> None:
    old = _old_rule(tmp_path, "e695cd0^")
    rnd, differ, found = random.Random(171), [], {"_NODE_ID": 0, "_OUTCOME_LINE": 0, "_CONSOLE": 0, "junit": 0}
    for _ in range(20_000):
        text = "".join(rnd.choice(_ATOMS) for _ in range(rnd.randint(1, 16)))
        for name in ("_NODE_ID", "_OUTCOME_LINE", "_CONSOLE"):
            before = bool(getattr(old, name).search(text))
            found[name] += before
            if before != bool(getattr(record_content, name).search(text)):
                differ.append((name, text))
        before = bool(old._JUNIT.match(text))
        found["junit"] += before
        if before != record_content._is_junit(text):
            differ.append(("junit", text))
    assert differ == [] and min(found.values()) > 50, found


def _member(rnd: random.Random) -> bytes:
    kind = rnd.randint(0, 5)
    if kind == 0:
        return gzip.compress(b"", mtime=0)
    if kind == 1:
        return gzip.compress(rnd.randbytes(rnd.randint(1, 3000)), mtime=0)
    if kind == 2:
        return gzip.compress(b"measured: 1\n" * rnd.randint(1, 500), mtime=0)
    if kind == 3:
        whole = gzip.compress(rnd.randbytes(rnd.randint(1, 800)), mtime=0)
        return whole[:rnd.randint(1, len(whole))]
    if kind == 4:
        return b"\x1f\x8b" + rnd.randbytes(rnd.randint(0, 40))
    return gzip.compress(gzip.compress(b"x: 1", mtime=0), mtime=0)


@pytest.mark.req("SRS-181")
def test_holds_the_member_reading_gives_what_the_reading_before_e327185_gave(tmp_path: Path) -> None:
    old = _old_rule(tmp_path, "e327185^")
    rnd, differ = random.Random(1711), []
    for _ in range(3_000):
        raw = gzip.compress(b"a", mtime=0) + b"".join(_member(rnd) for _ in range(rnd.randint(0, 5)))
        if old._gunzip(raw) != record_content._gunzip(raw):
            differ.append(raw[:80])
    assert differ == []


_HOSTILE = {"blank-tail": "1 passed" + " " * 1_000_000 + "x", "eq-tail": "1 passed in 1s" + "=" * 1_000_000 + "x",
            "mixed-tail": "1 passed" + " =" * 500_000 + "x", "durations": "= 1 passed" + " in 1s" * 160_000 + "=x",
            "counts": "1 passed, " * 100_000 + "x", "ran": "Ran 1 tests in 1s" + "\x0b" * 1_000_000 + "x",
            "outcome": "passed " + "a.py" * 250_000, "csi": "\x1b[" + "0" * 1_000_000, "osc": "\x1b]" * 500_000,
            "pi": "<?" + "?>" * 500_000, "comment": "<!--" + " -->" * 250_000, "doctype": "<!DOCTYPE " * 100_000,
            "rules": ("=" * 1000 + "\n") * 1000}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_holds_hostile_1_mb_texts_are_read_at_once(tmp_path: Path, name: str) -> None:
    verdict, elapsed = _timed(tmp_path, f"{name}.txt.gz", gzip.compress(_HOSTILE[name].encode(), mtime=0))
    assert verdict in (None, "a test runner's console output") and elapsed < 3, (verdict, elapsed)


@pytest.mark.req("SRS-181")
def test_holds_key_building_opens_nothing_and_equal_keys_to_the_loader_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, text in (("apply.yaml", "? !!python/object/apply:builtins.print ['x']\n: 1\nb: 2\n"),
                       ("name.yaml", "? !!python/name:os.system x\n: 1\nb: 2\n"),
                       ("bad-ts.yaml", "? !!timestamp 2001-13-45\n: 1\nb: 2\n"),
                       ("bad-bool.yaml", "? !!bool maybe\n: 1\nb: 2\n"),
                       ("date-vs-time.yaml", "{2001-12-14: a, 2001-12-14 00:00:00: b}\n")):
        assert _judge(tmp_path, name, text) is None, name
    assert capsys.readouterr().out == ""
    for name, text in (("instant.yaml", "{2001-12-14t21:59:43.10-05:00: a, 2001-12-15 02:59:43.1Z: b}\n"),
                       ("nan.yaml", "{.nan: a, .NaN: b}\n"), ("bin.yaml", "{? !!binary aGk=: a, ? !!binary aGk= : b}\n"),
                       ("float.yaml", "{1: a, 1.0: b}\n"), ("zero.yaml", "{0: a, -0.0: b}\n"),
                       ("under.yaml", "{1_000: a, 1000: b}\n"), ("null.yaml", "{~: a, !!null '': b}\n"),
                       ("merge-tag.yaml", "!!merge a: {b: 1}\n"), ("explicit.yaml", "x: &x {c: 1}\nd: {? <<: *x}\n")):
        assert _judge(tmp_path, name, text) == NOT_PLAIN, name
    assert _judge(tmp_path, "long-int-key.yaml", "? " + "1" * 5000 + "\n: 1\n") == UNJUDGED
    assert _judge(tmp_path, "again.yaml", "a: &x 1\nb: &x 2\n") == UNJUDGED
    assert _judge(tmp_path, "alias.yaml", f"a: &n {NODE}\nb: [*n]\n") is not None  # aliases still judged


PLACES = {"top.yaml": HIDDEN, "nested.yaml": "a: {b: {~: 1, null: 2}}\n", "flow-seq.yaml": "[{a: 1, a: 2}]\n",
          "block-seq.yaml": "- a: 1\n  b: 2\n- c: 1\n  c: 2\n", "merge.yaml": "x: &x {c: 1}\nd:\n  <<: *x\n",
          "third.yaml": "a: 1\n---\nb: 2\n---\nc: {yes: 1, true: 2}\n", "lines.jsonl": '{"a": 1}\n{"r": 1, "r": 2}\n',
          "gzip.yaml.gz": gzip.compress(HIDDEN.encode(), mtime=0),
          "lines.jsonl.gz": gzip.compress(b'{"a": 1}\n{"r": 1, "r": 2}\n', mtime=0),
          "utf-16.yaml": codecs.BOM_UTF16_LE + HIDDEN.encode("utf-16-le"),
          "utf-32.yaml": codecs.BOM_UTF32_BE + HIDDEN.encode("utf-32-be"), "bom.json": '\ufeff{"a": 1, "a": 2}',
          "escaped.json": '{"a": 1, "\\u0061": 2}', "seq-in-map.yaml": "x:\n  - y: [{k: 1, 'k': 2}]\n"}


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
    cases = [{"case": f"c{i}", "dice": round(0.8 + i % 7 / 100, 3), "cfg": shared, "1": i, "01": i} for i in range(200)]
    dumped = yaml.dump({"study": "synthetic", "cases": cases, "again": shared})
    assert "*id001" in dumped and _judge(tmp_path, "dump.yaml", dumped) is None
    assert _judge(tmp_path, "safe.yaml", yaml.safe_dump({"cases": cases})) is None
    assert _judge(tmp_path, "dump.json", json.dumps({"cases": cases}, indent=1)) is None


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
    assert time.perf_counter() - started < 30


# === N1: a YAML document is composed whole before the walk's bound applies ===========================================

@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[str | None, float]]:
    folder = tmp_path_factory.mktemp("review171-compose")
    return {n: _timed(folder, f"f{n}.yaml.gz", gzip.compress(("[" + "a," * n + "a]\n").encode(), mtime=0))
            for n in (250_000, 1_000_000)}


@pytest.mark.req("SRS-181")
def test_n1_pin_a_small_gzip_of_many_scalars_is_refused_unjudged_after_composing_them_all(composed: dict) -> None:
    assert composed[1_000_000][0] == UNJUDGED and composed[250_000][0] == UNJUDGED
    assert len(gzip.compress(("[" + "a," * 1_000_000 + "a]\n").encode(), mtime=0)) < 5_000


@pytest.mark.req("SRS-181")
def test_n1_the_cost_is_linear_in_the_record(composed: dict) -> None:
    assert composed[1_000_000][1] < 6 * composed[250_000][1] + 0.1


@pytest.mark.req("SRS-181")
def test_n1_control_a_sequence_under_the_bound_is_judged(tmp_path: Path) -> None:
    assert _judge(tmp_path, "under.yaml", "[" + "a," * 150_000 + "a]\n") is None
    assert _judge(tmp_path, "under-node.yaml", "[" + "a," * 150_000 + NODE + "]\n") is not None


# === N2: a result document that does not parse whole is judged line by line ==========================================

_RESULT = {"run": {"commit": "abc", "python": "3.11"},
           "results": {NODE: {"outcome": "passed"}, "tests/b.py::test_u": {"outcome": "failed"}}}


@pytest.mark.req("SRS-181")
def test_n2_pin_a_result_document_after_a_line_of_prose_or_before_a_stray_brace_is_accepted(tmp_path: Path) -> None:
    assert _judge(tmp_path, "lead.json", "note: copied\n" + json.dumps(_RESULT, indent=2)) is None
    assert _judge(tmp_path, "trail.yaml", yaml.safe_dump(_RESULT) + "}\n") is None


@pytest.mark.req("SRS-181")
def test_n2_control_the_document_alone_or_after_a_comment_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "alone.json", json.dumps(_RESULT, indent=2)) is not None
    assert _judge(tmp_path, "comment.json", "# copied\n" + json.dumps(_RESULT, indent=2)) is not None
    assert _judge(tmp_path, "alone.yaml", yaml.safe_dump(_RESULT)) is not None
    assert _judge(tmp_path, "one-line.json", "note: copied\n" + json.dumps(_RESULT)) is not None  # outcome on the line
