"""Independent re-review 168 (reviewer helper-168) of SRS-181 after the fix of re-review 167 D1 (45e1f79), at 5df8ac2,
where the lead approved SRS-181 subject to this review. helper-168 wrote none of the code, texts or tests reviewed.
Read: SRS-181's text, rationale and ``respecifications`` entry (traceability/requirements.yaml), ANOM-018
(traceability/anomalies.yaml), ``git show 8a2224b`` and ``git show 45e1f79`` (record_content.py, anomalies,
requirements), record_content.py whole, graph.py's call of it, the docstrings of tests/review/test_review_158.py ..
test_review_167.py. Judged only against that text and ANOM-018.

SRS-181 - DEFECT (D1 the fix of 167 D1 builds every scalar YAML key with the safe constructor, whose sexagesimal
integer (``1:59:59:...``) costs time quadratic in the key's length: one key of a 1 KB gzip record holds the reading
27 s, a 32 MiB one hours - neither judged nor refused unjudged in a bounded time; a regression of 45e1f79).

Item 1 - the re-specification holds: it is recorded as such (ANOM-018, open, naming reviews 163-166; a
``respecifications`` entry dated 2026-12-07; the rationale says draft until an independent review). The original
results stay visible: tests/review/test_review_163..166 keep their docstrings, and each changed assertion carries a
"lead (re-specification ANOM-018)" comment. Stricter: the rule before the re-specification (8a2224b^) and the one
before 45e1f79 beside today's, on 6,000 random JSON / JSON-lines / YAML documents (seeds 168, 1680) of result-shape
keys, node IDs, repeats, keys one to the safe loader (01/1, ~/null, yes/true), merge keys, anchors and a second
document: 8a2224b^ refused 3,977, 45e1f79^ 4,236; today's accepts none of them (a 300-document sample below).
ANOM-018's acceptance of 167's N1/N2 is honest: both are refused in NOT_PLAIN's words, which now name the remedy
("give each key or 'Label:' once"); N1 is refused by the new rule only (judged before) - ANOM-018 says "over-refusals
accepted", not "as before". (Stale wording there: see N2 below.)

Item 2 - holds: keys the safe loader reads as one though written apart are refused NOT_PLAIN - 01/1, 0x1, 0b1, +1,
1_0/10, 1:00/60, 1.0/1, true/1, false/0, 0.0/-0.0, on/yes, Off/no, ~/null, !!int 1/1, !!float 1/1, a timestamp in two
zones, .nan/.NaN (PyYAML builds one nan object), .inf/.Inf - at the top level, nested, in a sequence, flow and block,
in a later document, through an alias key, inside a complex key, after gzip, UTF-16, a UTF-8 BOM and ANSI escapes;
keys the safe loader keeps apart (0:1/1, 0.5e0/0.5, 2001-12-14/2001-12-14 00:00:00, two !!binary) are no repeat and
the record is judged. On 8,000 random YAML documents that yaml.safe_load reads (seeds 1, 2), none was accepted whose
safe_load reading, written out by yaml.safe_dump, is refused as test output (NOT_PLAIN aside: 167 N2). The constructor
opens no tag that builds objects (SafeConstructor: python/* tags raise, caught; no side effect); unbuildable keys
(!!int abc, !!timestamp 1, !!map a, !!set a, !!bool maybe) raise nothing out of the reading. Merge keys, repeats by
text, an anchor defined again (UNJUDGED), aliases judged and bounded: as 167 found. Over-refusal: every record the
risk files credit and every file of benchmarks/results, fuzz/results, validation/ (test modules aside) is accepted;
yaml.dump / yaml.safe_dump / json.dump output of measured data with shared values (anchors / aliases) and number,
date and boolean keys passes.

Item 3 - regressions: tests/regulatory/test_overclaim.py, test_overclaim_general.py, reviews 14x-16x and 74 on -n 2:
1075 passed, 36 xfailed (106 s); tests/review/test_review_167.py: 54 passed.

Item 4 - cost (the 2-core machine shared with the lead and other helpers, load average 1.0-1.9; each in its own
process, peak RSS): a 1.35 MB JSON of 20,000 measure cases 0.33 s / 32 MiB; the same as a 1.17 MB YAML 1.51 s / 82 MiB
(167: 1.62 s before the fix); a 0.35 MB yaml.dump of 10,000 cases sharing one anchored mapping 0.52 s; all None.
200,000 repeats of one key: JSON 2.3 MB 0.07 s NOT_PLAIN, YAML 1.9 MB 1.76 s / 163 MiB NOT_PLAIN; 199,999 distinct
YAML keys 2.8 MB 2.64 s / 194 MiB UNJUDGED (the value bound); billion laughs (9 x 9 aliases) 0.06 s UNJUDGED. But D1.

D1 - record_content.py:252 and :268 (``loaded = _loaded_key(key_node)``;
``yaml.constructor.SafeConstructor().construct_object(node)``): every scalar key is built by PyYAML's
``construct_yaml_int``, which for a key resolved as a sexagesimal integer (``[1-9][0-9_]*(:[0-5]?[0-9])+``, any
length in an explicit ``?`` key) multiplies a growing integer by 60 once per part - quadratic. Measured (None each
time, the record accepted after the wait; the rules before 45e1f79 and before 8a2224b read the 360 KB one in 0.12 s
and 0.10 s):

    run: {commit: abc}
    ? 1:59:59:59:...          # ':59' 333,333 times
    : 1

1.0 MB decompressed, 1.0 KB gzip: 26.7 s / 63 MiB; 120,000 parts (360 KB) 3.2 s, 240,000 parts 12.3 s (x2 length,
x3.8 time); a 32 MiB record (the reading's own limit, a ~30 KB gzip) extrapolates to about 8 hours. An alias
multiplies it: one 30,000-part anchored key used as the key of 20 more mappings, a 208-byte gzip, 4.4 s (0.27 s
before 45e1f79); each use rebuilds it, up to the 200,000-value bound. ``trace check`` builds the graph and so reads
every credited record (graph.py:262-264): one such record named in a risk file stalls the gate. Contradicts SRS-181
"a record the bounded reading cannot judge whole - over 64 MiB decompressed, ... or more lines, values or levels than
the walk looks at - being refused unjudged" (the reading is bounded; a record it cannot read in bounded time is to be
refused, not read for hours), and ANOM-018's point of the re-specification (a check that a hostile record cannot
defeat). A fix might build only keys whose text is short, or compare a long key by its text, or refuse it unjudged.

Notes, not defects:
N1 (within the letter): SRS-181 compares YAML keys "by the value the safe loader reads" (YAML 1.1). A YAML 1.2
core-schema parser reads ``0o1`` and ``1`` (also ``1e3`` and ``1000.0``) as one key; the safe loader and this rule keep
them apart, so a result document hidden by them (``results: {0o1: {note: x}, 1: {outcome: passed}}``) is accepted -
what a 1.2 parser reads of it is a pytest result document. ANOM-018 does not state this residue.
N2: ANOM-018 still quotes NOT_PLAIN as "a record with a repeated key or a YAML merge key" (45e1f79 changed it to "a
record that, read as JSON or YAML, repeats a key ...") and says "SRS-181 stays draft until an independent review"
while SRS-181 is approved subject to this review.

The defect is a strict xfail beside a pin of today's behaviour and a control that passes; holds are plain tests.
Scratch files only in tmp_path; git history is read for the old rules. Record (independent): none (D1).
"""

from __future__ import annotations

import codecs
import gzip
import importlib.util
import json
import random
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory.record_content import NOT_PLAIN, UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
RESULT_FILE = "a pytest result file (a run header and per-test outcomes)"
HIDDEN = "run: {commit: abc}\nresults:\n  %s: {note: x}\n  %s: {outcome: passed}\n"


def _judge(tmp_path: Path, name: str, data: str | bytes) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


# === Item 2 holds: keys the safe loader reads as one are a repeat, anywhere ========================================

ONE_TO_THE_SAFE_LOADER = [("01", "1"), ("0x1", "1"), ("0b1", "1"), ("+1", "1"), ("1_0", "10"), ("1:00", "60"),
                          ("1.0", "1"), ("true", "1"), ("false", "0"), ("0.0", "-0.0"), ("on", "yes"), ("Off", "no"),
                          ("~", "null"), ("!!int 1", "1"), ("!!float 1", "1"), (".nan", ".NaN"), (".inf", ".Inf"),
                          ("2001-12-14t21:59:43.10-05:00", "2001-12-15 2:59:43.10Z")]
TWO_TO_THE_SAFE_LOADER = [("0:1", "1"), ("0.5e0", "0.5"), ("2001-12-14", "2001-12-14 00:00:00"), ("0o1", "1"),
                          ("1e3", "1000")]


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize(("first", "second"), ONE_TO_THE_SAFE_LOADER)
def test_holds_keys_one_to_the_safe_loader_refuse_the_hidden_result_document(tmp_path: Path, first: str,
                                                                            second: str) -> None:
    text = HIDDEN % (first, second)
    assert len(yaml.safe_load(text)["results"]) == 1
    assert _judge(tmp_path, "r.yaml", text) == NOT_PLAIN


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize(("first", "second"), TWO_TO_THE_SAFE_LOADER)
def test_holds_keys_two_to_the_safe_loader_are_judged_as_it_reads_them(tmp_path: Path, first: str,
                                                                      second: str) -> None:
    text = HIDDEN % (first, second)
    read = yaml.safe_load(text)
    assert len(read["results"]) == 2
    # the same verdict as the safe loader's reading written plainly: no result document (one value is no outcome)
    assert _judge(tmp_path, "r.yaml", text) is None
    assert _judge(tmp_path, "as-read.yaml", yaml.safe_dump(read)) is None


_ONE = "a: 1\nb:\n  - 1: 1\n    01: 2\n"
PLACES = {
    "top.yaml": "01: a\n1: b\n",
    "nested-block.yaml": "a:\n  b:\n    ~: 1\n    null: 2\n",
    "in-sequence-flow.yaml": "- {x: 1}\n- {yes: 1, true: 2}\n",
    "later-document.yaml": "a: 1\n---\n- 1\n---\nz: {1.0: 1, 1: 2}\n",
    "alias-key.yaml": "&k 01 : a\n1: b\n",
    "complex-key.yaml": "? {0x1: a, 1: b}\n: v\n",
    "gzip.yaml.gz": gzip.compress(_ONE.encode(), mtime=0),
    "utf-16.yaml": codecs.BOM_UTF16_LE + _ONE.encode("utf-16-le"),
    "utf-32-be.yaml": codecs.BOM_UTF32_BE + _ONE.encode("utf-32-be"),
    "bom.yaml": codecs.BOM_UTF8 + _ONE.encode(),
    "ansi.yaml": b"\x1b[32mon: 1\nyes: 2\x1b[0m\n",
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(PLACES))
def test_holds_a_loaded_repeat_is_refused_in_every_place_and_encoding(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, PLACES[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
def test_holds_building_a_key_opens_no_tag_and_raises_nothing_out(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    keys = ["!!python/name:builtins.print", "!!python/object/apply:builtins.print x", "!!int abc", "!!timestamp 1",
            "!!map a", "!!set a", "!!bool maybe", "!!binary '!!'", "!custom 1", "!!float x"]
    for index, key in enumerate(keys):
        assert _judge(tmp_path, f"k{index}.yaml", f"{key}: 1\nother: 2\n") is None, key
    assert capsys.readouterr().out == ""
    # unbuildable keys are still compared by their text
    assert _judge(tmp_path, "same-text.yaml", "!!bool maybe: 1\nmaybe: 2\n") == NOT_PLAIN
    # and the node IDs they hide are still seen
    assert _judge(tmp_path, "node.yaml", f"!!int abc: {NODE}\n") not in (None, UNJUDGED, NOT_PLAIN)


@pytest.mark.req("SRS-181")
def test_holds_merge_keys_text_repeats_anchors_and_aliases(tmp_path: Path) -> None:
    assert _judge(tmp_path, "merge.yaml", "b: &b {m: 1}\nc: {<<: *b}\n") == NOT_PLAIN
    assert _judge(tmp_path, "text.yaml", "a: 1\n'a': 2\n") == NOT_PLAIN
    assert _judge(tmp_path, "json.json", '{"a": 1, "\\u0061": 2}') == NOT_PLAIN
    assert _judge(tmp_path, "lines.jsonl", '{"a": 1}\n{"b": 1, "b": 2}\n') == NOT_PLAIN
    assert _judge(tmp_path, "again.yaml", "a: &x 1\nb: &x 2\n") == UNJUDGED
    assert _judge(tmp_path, "alias.yaml", f"a: &x {{{NODE}: {{outcome: passed}}}}\nb: *x\n") \
        not in (None, UNJUDGED, NOT_PLAIN)
    laughs = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    laughs += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    started = time.perf_counter()
    assert _judge(tmp_path, "laughs.yaml", "\n".join(laughs) + "\n") == UNJUDGED
    assert time.perf_counter() - started < 5  # 0.06 s measured


def _random_yaml(rnd: random.Random) -> str:
    keys = ["run", "results", "nodeid", "outcome", "x", "1", "01", "0x1", "+1", "1.0", "~", "null", "yes", "true",
            "'1'", NODE, "0o1", "1e3", "1000"]
    scalars = ["passed", "failed", "test", NODE, "1", "0.9"]

    def value(depth: int) -> str:
        pick = rnd.random()
        if depth > 3 or pick < 0.35:
            return rnd.choice(scalars)
        if pick < 0.5:
            return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
        return "{" + ", ".join(f"{rnd.choice(keys)}: {value(depth + 1)}" for _ in range(rnd.randint(1, 4))) + "}"

    return "\n".join(f"{rnd.choice(keys)}: {value(1)}" for _ in range(rnd.randint(1, 4))) + "\n"


@pytest.mark.req("SRS-181")
def test_holds_nothing_accepted_whose_safe_load_reading_is_test_output(tmp_path: Path) -> None:
    rnd, accepted, hidden = random.Random(1), 0, []
    for index in range(400):
        text = _random_yaml(rnd)
        if _judge(tmp_path, f"r{index}.yaml", text) is None:
            accepted += 1
            verdict = _judge(tmp_path, f"read{index}.yaml", yaml.safe_dump(yaml.safe_load(text)))
            if verdict not in (None, NOT_PLAIN):  # NOT_PLAIN: safe_dump writes 1 and '1' (167 N2)
                hidden.append((text, verdict))
    assert accepted > 30 and hidden == []


# === Item 1 holds: stricter than the rule it replaced ================================================================

def _old_rule(tmp_path: Path, commit: str):  # noqa: ANN202 - a module loaded from git history
    try:
        source = subprocess.run(["git", "show", f"{commit}:src/device_ai/regulatory/record_content.py"], cwd=ROOT,
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git history before the re-specification is not available")
    name = "old_record_content_" + commit.replace("^", "_")
    (tmp_path / f"{name}.py").write_text(source)
    spec = importlib.util.spec_from_file_location(name, tmp_path / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_document(rnd: random.Random) -> str:
    keys = ["run", "results", "nodes", "edges", "runs", "kind", "outcome", "nodeid", "x", "1", "01", "~", "null",
            "yes", "true", "'1'", NODE, "<<"]
    scalars = ["passed", "failed", "test", NODE, "1", "0.9", "*b", "{}", "[]"]

    def value(depth: int) -> str:
        pick = rnd.random()
        if depth > 3 or pick < 0.35:
            return rnd.choice(scalars)
        if pick < 0.55:
            return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
        return "{" + ", ".join(f"{rnd.choice(keys)}: {value(depth + 1)}" for _ in range(rnd.randint(1, 4))) + "}"

    text = "\n".join(f"{rnd.choice(keys)}: {value(1)}" for _ in range(rnd.randint(1, 5))) + "\n"
    if rnd.random() < 0.3:
        text = "b: &b {x: 1}\n" + text
    return "a: 1\n---\n" + text if rnd.random() < 0.1 else text


@pytest.mark.req("SRS-181")
def test_holds_stricter_nothing_an_earlier_rule_refused_is_accepted(tmp_path: Path) -> None:
    before_respecification, before_fix = _old_rule(tmp_path, "8a2224b^"), _old_rule(tmp_path, "45e1f79^")
    rnd, refused, accepted_now = random.Random(168), {"8a2224b^": 0, "45e1f79^": 0}, []
    for index in range(300):
        path = tmp_path / f"s{index}.yaml"
        path.write_text(_random_document(rnd))
        now = generated_test_output(path)
        for commit, old in (("8a2224b^", before_respecification), ("45e1f79^", before_fix)):
            if old.generated_test_output(path) is not None:
                refused[commit] += 1
                if now is None:
                    accepted_now.append((commit, path.read_text()))
    assert min(refused.values()) > 100 and accepted_now == []


@pytest.mark.req("SRS-181")
def test_holds_the_re_specification_is_recorded_and_the_findings_stay_visible() -> None:
    requirement = next(r for r in yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
                       ["software_requirements"] if r["id"] == "SRS-181")
    assert [r["record"] for r in requirement["respecifications"]] == ["ANOM-018"]
    assert "value the safe loader reads" in requirement["text"]
    anomaly = next(a for a in yaml.safe_load((ROOT / "traceability/anomalies.yaml").read_text())["anomalies"]
                   if a["id"] == "ANOM-018")
    assert all(f"{n}:" in anomaly["description"] for n in (163, 164, 165, 166))
    assert "N1, N2" in anomaly["evaluation"]
    for number in (163, 164, 165, 166):
        source = (ROOT / f"tests/review/test_review_{number}.py").read_text()
        assert source.startswith('"""Independent re-review') and "ANOM-018" in source


# === Item 2 holds: no over-refusal of what the repository credits or generators write ==============================

@pytest.mark.req("SRS-181")
def test_holds_the_records_the_repository_credits_and_keeps_pass() -> None:
    credited = {entry["record"] for path in (ROOT / "risk").glob("*.yaml")
                for item in (yaml.safe_load(path.read_text()) or {}).get("hazardous_situations", []) or []
                for entry in item.get("effectiveness") or [] if entry.get("record")}
    kept = [p for folder in ("benchmarks/results", "fuzz/results", "validation") for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("test_")]
    assert credited and len(kept) > 40
    assert {str(p): kind for p in [ROOT / r for r in credited] + kept
            if (kind := generated_test_output(p)) is not None} == {}


@pytest.mark.req("SRS-181")
def test_holds_dumped_measured_data_with_shared_values_and_typed_keys_passes(tmp_path: Path) -> None:
    shared = {"unit": "ratio", "site": "fake-site"}
    data = {"thresholds": {0.5: {"sens": 0.91, "m": shared}, 0.9: {"sens": 0.82, "m": shared}},
            "by_fold": {1: 0.9, 2: 0.8, 10: 0.85}, "by_day": {date(2026, 1, 2): 0.9, date(2026, 1, 3): 0.8},
            "flags": {True: "reader agreed", False: "reader disagreed"}, "python": {"3.10": 1.2, "3.11": 1.1},
            "cases": [shared, shared]}
    dumped = yaml.dump(data)
    assert "&id001" in dumped and "*id001" in dumped
    assert _judge(tmp_path, "dump.yaml", dumped) is None
    assert _judge(tmp_path, "safe-dump.yaml", yaml.safe_dump(data)) is None
    assert _judge(tmp_path, "dump.json", json.dumps({k: v for k, v in data.items() if k != "by_day"})) is None


# === Item 4 holds: cost of an ordinary 1 MB record and of hostile repeats ===========================================

@pytest.mark.req("SRS-181")
def test_holds_cost_of_an_ordinary_1mb_record_and_of_hostile_repeats(tmp_path: Path) -> None:
    cases = [{"case": f"case-{i:05d}", "measure": "sensitivity", "value": 0.9 + (i % 10) / 100} for i in range(20_000)]
    started = time.perf_counter()
    assert _judge(tmp_path, "m.json", json.dumps({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "m.yaml", yaml.safe_dump({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "r.json", "{" + ",".join(f'"k": {i}' for i in range(200_000)) + "}") == NOT_PLAIN
    assert time.perf_counter() - started < 20  # 0.33 + 1.51 + 0.07 s measured on a shared machine


# === D1: building a sexagesimal key is quadratic: the reading is not bounded =======================================

_PARTS = 100_000  # a 300 KB key: 2.2 s today, 0.1 s before 45e1f79


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[str | None, float]]:
    """The verdict and seconds for a gzip record whose one key is 1:59:59:... - as a plain key (False) and as the
    same text quoted, a string key (True)."""
    folder, key, answers = tmp_path_factory.mktemp("review168"), "1" + ":59" * _PARTS, {}
    for quoted in (True, False):
        path = folder / f"key-{quoted}.yaml.gz"
        path.write_bytes(gzip.compress(f"run: {{commit: abc}}\n? {repr(key) if quoted else key}\n: 1\n".encode(),
                                       mtime=0))
        started = time.perf_counter()
        verdict = generated_test_output(path)
        answers[quoted] = (verdict, time.perf_counter() - started)
    return answers


@pytest.mark.req("SRS-181")
def test_d1_pin_a_sexagesimal_key_is_refused_unjudged(timed: dict) -> None:
    # lead: D1 fixed (not re-reviewed) - a key over 4,300 characters that is not text is not built: refused unjudged
    verdict, _ = timed[False]
    assert verdict == UNJUDGED


@pytest.mark.req("SRS-181")
def test_d1_control_the_same_text_as_a_string_key_is_read_fast(timed: dict) -> None:
    verdict, elapsed = timed[True]
    assert verdict is None and elapsed < 2


@pytest.mark.req("SRS-181")
def test_d1_a_record_is_judged_or_refused_in_bounded_time_whatever_its_keys(timed: dict) -> None:
    assert timed[False][1] < 5 * timed[True][1] + 0.5


# === Notes ==========================================================================================================

@pytest.mark.req("SRS-181")
def test_n1_pin_keys_one_only_to_a_yaml_1_2_parser_hide_a_result_document(tmp_path: Path) -> None:
    text = HIDDEN % ("0o1", "1")  # YAML 1.2 core: 0o1 is the integer 1; the safe loader (YAML 1.1): the text "0o1"
    assert len(yaml.safe_load(text)["results"]) == 2
    assert _judge(tmp_path, "r.yaml", text) is None
    # control: what a YAML 1.2 parser reads (the later value of key 1), written plainly, is a result document
    assert _judge(tmp_path, "as-1.2.yaml", "run: {commit: abc}\nresults:\n  1: {outcome: passed}\n") == RESULT_FILE


@pytest.mark.req("SRS-181")
def test_n2_anomaly_018_quotes_the_message_of_45e1f79() -> None:
    anomaly = next(a for a in yaml.safe_load((ROOT / "traceability/anomalies.yaml").read_text())["anomalies"]
                   if a["id"] == "ANOM-018")
    # lead: N2 mended - ANOM-018 quotes the message NOT_PLAIN starts with
    assert "a record with a repeated key or a YAML merge key" not in anomaly["evaluation"]
    assert NOT_PLAIN.startswith(" ".join(anomaly["evaluation"].split()).split('its own message, "')[1].split('"')[0])
