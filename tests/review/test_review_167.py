"""Independent re-review 167 (reviewer helper-167) of SRS-181's re-specification (ANOM-018) at ba45c70, where the lead
approved SRS-181 subject to this review. helper-167 wrote none of the code, texts or tests reviewed. Read: SRS-181's
text and its ``respecifications`` entry (traceability/requirements.yaml), ANOM-018 (traceability/anomalies.yaml),
``git show 8a2224b`` (record_content.py, test_overclaim.py, reviews 163-166), record_content.py whole, the docstrings
of tests/review/test_review_158.py .. test_review_166.py. Judged only against that text and ANOM-018. record_content.py
is unchanged from ba45c70 to the commit this file was written on.

SRS-181 - DEFECT (D1 a key that the safe loader, and any YAML 1.1 or 1.2-core parser, takes as one key but written
in two texts (1 and 01, ~ and null, yes and true, 1.0 and 1.00) is no "repeated key" under the re-specified rule, so a
result document hidden by it is accepted; not a regression - the rule before ANOM-018 accepted it too).

The re-specification itself (item 1) holds: it is recorded as such (ANOM-018, open, with the four reviews that led to
it; a ``respecifications`` entry dated 2026-12-07; the rationale's last statements). The original results stay
visible: reviews 163-166 keep their docstrings, and each changed assertion carries a "lead (re-specification
ANOM-018)" comment saying what the review expected before (review 166 D2's "judged" expectation is named as
replaced). The new rule is stricter than the old one: the old record_content.py (8a2224b^) run beside the new one on
8,000 random small JSON / YAML documents made of result-shape keys, node IDs, repeats, merge keys and anchors (two
seeds): the old refused 6,052, the new accepted none of them; the test below repeats 300 of them from git history.

Holds (item 2): a repeated key or a merge key is refused as NOT_PLAIN at the top level, nested, inside sequences, in
flow and block style, in the second or third document of a YAML stream, in the third line of JSON lines, written as
``"\\u0061"`` beside ``"a"``, through an alias key, inside a complex key, with an explicit ``!!merge`` tag, in a
``!!set``, a merge of a scalar; and the same after gzip (nested twice), UTF-16 LE/BE, UTF-32, a UTF-8 BOM and ANSI
escapes. Keys of the same text but different values (``1`` and ``'1'``) are refused, as the text says. An anchor
defined again in one document is refused unjudged; in another document it is no redefinition (anchors are per
document) and the record is judged. Aliases are judged (an alias of a node-ID mapping refused as test output) and
bounded (9 levels of 9 aliases, a recursive alias: unjudged in 0.06 s). A quoted "<<" is no merge key (the safe
loader merges nothing either) and is judged. Over-refusal: every file of benchmarks/results, fuzz/results,
validation/, verification/ and docs/ (177 files, the credited record fuzz/results/campaign-5000-seed0-67d0ed3.md
among them) gets the same answer before and after; none in the record folders is refused (test modules aside);
yaml.dump / yaml.safe_dump output with shared values (``&id001`` / ``*id001``) and a string key "<<" (written
quoted) and json.dump output pass.

Regressions (item 3): tests/regulatory/test_overclaim.py, test_overclaim_general.py, reviews 14x-16x and 74 on -n 2:
1015 passed, 36 xfailed, 2 failed (205 s). The 2 failures are tests/review/test_review_152.py
``test_i3_n1_pin_environment_json_nested_too_deeply_is_exit_70`` (SRS-231, the environment's JSON): f10a700
(config.py, committed during this review, not SRS-181) changed what that pin pins; record_content.py is not involved.

Cost (item 4; the 2-core machine shared with the lead and other helpers, load average 3.4-3.8; each in its own
process, peak RSS including writing the file): a 1.55 MB JSON of 20,000 measure cases 0.39 s / 31 MiB (old code 0.36
s / 46 MiB); the same as a 1.35 MB YAML 1.62 s / 101 MiB (old 2.05 s / 115 MiB); a 0.83 MB yaml.dump of 10,000 cases
sharing one anchored mapping 0.88 s (old 1.17 s), all None; 200,000 repeats of one key: JSON 2.3 MB 0.08 s NOT_PLAIN
(old 0.22 s UNJUDGED), YAML 1.9 MB 2.10 s / 161 MiB NOT_PLAIN (libyaml composes the whole document before the walk
sees the repeat; old 1.90 s); 199,999 distinct keys and one repeat 2.98 MB 2.11 s UNJUDGED (the value bound comes
first); billion laughs (9 x 9 aliases) 0.06 s UNJUDGED.

D1 - record_content.py:247-250 (``key = _plain(key_node, ...)``, ``if key in mapping: raise _NotPlain``): a key is
compared by its text only, as SRS-181 now says ("YAML keys compared by their text"). But ``1`` and ``01`` (also
``0x1``, ``~`` and ``null``, ``yes`` and ``true``, ``1.0`` and ``1.00``) are one key to yaml.safe_load (the later
value wins) and to a YAML 1.2 core-schema parser; a failsafe reading - this code's - keeps both. So a mapping repeats
a key while the rule sees none, and the record is judged in the one reading where both entries stay:

    run: {commit: abc}
    results:
      01: {note: x}
      1: {outcome: passed}

yaml.safe_load reads ``{'run': {'commit': 'abc'}, 'results': {1: {'outcome': 'passed'}}}`` - the data that, written
without the repeat, generated_test_output refuses as "a pytest result file (a run header and per-test outcomes)" -
but the record is accepted (None): the composed ``results`` holds a value that is no outcome. Contradicts SRS-181 "is
by its content ... generated test output (a pytest result document ...)" and "JSON or YAML that repeats a key in a
mapping ... refused unjudged, as parsers read it differently", and ANOM-018 ("as no one reading shows what it is"):
this is the hiding ANOM-018 set out to end, and the rule's text is where it lies (the parenthetical compares text
only). The old rule (8a2224b^) accepted it too: not a regression of 8a2224b, not found by 163-166. JSON is not
affected (its keys are strings: ``"\\u0031"`` and ``"1"`` are one key and refused). A fix would compare a scalar key by
its text and also by the value the safe constructor gives it where it builds one.

Notes, not defects:
N1 (over-refusal, within the letter): a text record that is no JSON or YAML by intent but composes as a YAML mapping
- a .txt or .md report of "Label: value" lines repeating a label (``Reader: R1 / Sensitivity: 0.95 / Reader: R2 /
Sensitivity: 0.93``) - is refused as "a record with a repeated key or a YAML merge key"; the rule before ANOM-018
judged and accepted it. SRS-181 judges by content ("wherever it lives"), so the letter covers it; the message will
puzzle the author of such a report, and ANOM-018's account of the over-refusal names only JSON and YAML generators.
N2: ANOM-018 says no measured record json.dump or yaml.safe_dump writes repeats a key; json.dump of ``{1: 0.9, "1":
0.8}`` writes ``{"1": 0.9, "1": 0.8}`` (and ``True`` / ``"true"`` alike), and yaml.safe_dump writes ``1`` and
``'1'``: both refused, as the text says (mixed-type keys are rare in measured data).

The defect is a strict xfail beside a pin of today's behaviour and a control that passes; holds are plain tests.
Scratch files are written into tmp_path; the repository is only read (git history read for the old rule). Record
(independent): none (D1).
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

from device_ai.regulatory.record_content import NOT_PLAIN, UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
RESULT_FILE = "a pytest result file (a run header and per-test outcomes)"


def _judge(tmp_path: Path, name: str, data: str | bytes) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


# === Holds: repeated and merge keys anywhere are refused in their own words =========================================

NOT_PLAIN_RECORDS = {
    "top.yaml": "a: 1\na: 2\n",
    "nested.yaml": "a:\n  b: 1\n  b: 2\n",
    "in-sequence-flow.yaml": "- {x: 1}\n- {y: 1, y: 2}\n",
    "in-sequence-block.yaml": "- x: 1\n  x: 2\n",
    "deep-flow.yaml": "{a: [{b: {c: 1, c: 2}}]}\n",
    "second-document.yaml": "a: 1\n---\nb: 1\nb: 2\n",
    "third-document.yaml": "a: 1\n---\n- 1\n---\nz: {q: 1, q: 2}\n",
    "same-text-other-value.yaml": "a: 1\n'a': 2\n",
    "int-and-string-one.yaml": "1: 0.9\n'1': 0.8\n",
    "alias-key.yaml": "&k foo: 1\n*k : 2\n",
    "in-complex-key.yaml": "? {a: 1, a: 2}\n: v\n",
    "set.yaml": "!!set {a, a}\n",
    "merge-block.yaml": "base: &b {m: 1}\nx:\n  <<: *b\n  n: 2\n",
    "merge-flow.yaml": "base: &b {m: 1}\nx: {<<: *b}\n",
    "merge-list.yaml": "- &b {m: 1}\n- {<<: [*b]}\n",
    "merge-second-document.yaml": "a: 1\n---\nb: &b {m: 1}\nc: {<<: *b}\n",
    "merge-scalar.yaml": "x: {<<: 5}\n",
    "merge-explicit-tag.yaml": "x: {!!merge k: {m: 1}}\n",
    "merge-in-complex-key.yaml": "? {<<: {m: 1}}\n: v\n",
    "top.json": '{"a": 1, "a": 2}',
    "nested.json": '{"a": [{"b": {"c": 1, "c": 2}}]}',
    "escaped.json": '{"a": 1, "\\u0061": 2}',
    "third-line.jsonl": '{"a": 1}\n{"b": 2}\n{"c": 1, "c": 2}\n',
}

_INNER = "a: 1\nb:\n  c: 1\n  c: 2\n"
ENCODED = {
    "gzip": gzip.compress(_INNER.encode(), mtime=0),
    "gzip-twice": gzip.compress(gzip.compress(_INNER.encode(), mtime=0), mtime=0),
    "utf-16-le": codecs.BOM_UTF16_LE + _INNER.encode("utf-16-le"),
    "utf-16-be": codecs.BOM_UTF16_BE + _INNER.encode("utf-16-be"),
    "utf-32": codecs.BOM_UTF32_LE + _INNER.encode("utf-32-le"),
    "utf-8-bom": codecs.BOM_UTF8 + _INNER.encode(),
    "ansi": b"\x1b[31ma: 1\na: 2\x1b[0m\n",
    "merge-gzip-utf-16": gzip.compress(codecs.BOM_UTF16_LE + "b: &b {m: 1}\nc: {<<: *b}\n".encode("utf-16-le"),
                                       mtime=0),
    "json-utf-16-gzip": gzip.compress(codecs.BOM_UTF16_BE + '{"a": 1, "a": 2}'.encode("utf-16-be"), mtime=0),
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(NOT_PLAIN_RECORDS))
def test_holds_a_repeated_or_merge_key_anywhere_is_refused_as_not_plain(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, NOT_PLAIN_RECORDS[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(ENCODED))
def test_holds_a_repeat_is_refused_after_gzip_encodings_bom_and_escapes(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, ENCODED[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
def test_holds_anchors_and_aliases_are_judged_and_bounded(tmp_path: Path) -> None:
    assert _judge(tmp_path, "again.yaml", "a: &x 1\nb: &x 2\nc: *x\n") == UNJUDGED  # an anchor defined again
    assert _judge(tmp_path, "per-doc.yaml", "a: &x 1\n---\nb: &x 2\nc: *x\n") is None  # anchors are per document
    assert _judge(tmp_path, "per-doc-node.yaml", f"a: &x 1\n---\nb: &x {NODE}\n") not in (None, UNJUDGED, NOT_PLAIN)
    assert _judge(tmp_path, "alias.yaml", f"a: &x {{{NODE}: {{outcome: passed}}}}\nb: *x\n") \
        not in (None, UNJUDGED, NOT_PLAIN)
    assert _judge(tmp_path, "alias-plain.yaml", "a: &x {sens: 0.9}\nb: *x\n") is None
    laughs = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    laughs += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    started = time.perf_counter()
    assert _judge(tmp_path, "laughs.yaml", "\n".join(laughs) + "\n") == UNJUDGED
    assert _judge(tmp_path, "loop.yaml", "a: &a [*a]\n") == UNJUDGED
    assert time.perf_counter() - started < 5  # 0.06 s measured


@pytest.mark.req("SRS-181")
def test_holds_dumped_measured_data_with_shared_values_and_a_quoted_merge_key_passes(tmp_path: Path) -> None:
    shared, values = {"unit": "ratio", "site": "fake-site"}, [0.9, 0.8]
    data = {"a": {"m": shared, "v": values}, "b": {"m": shared, "v": values}, "c": [shared, shared], "<<": 1}
    dumped = yaml.dump(data)
    assert "&id001" in dumped and "*id001" in dumped and "'<<'" in dumped
    assert _judge(tmp_path, "dump.yaml", dumped) is None
    assert _judge(tmp_path, "safe-dump.yaml", yaml.safe_dump(data)) is None
    assert _judge(tmp_path, "dump.json", json.dumps(data)) is None
    assert _judge(tmp_path, "quoted.yaml", '"<<": {nodes: [], edges: []}\nruns: []\n') is None


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


def _old_rule(tmp_path: Path):  # noqa: ANN202 - a module loaded from git history
    try:
        source = subprocess.run(["git", "show", "8a2224b^:src/device_ai/regulatory/record_content.py"], cwd=ROOT,
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git history before the re-specification is not available")
    (tmp_path / "old_record_content.py").write_text(source)
    spec = importlib.util.spec_from_file_location("old_record_content", tmp_path / "old_record_content.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_document(rnd: random.Random) -> str:
    keys = ["run", "results", "nodes", "edges", "runs", "kind", "outcome", "nodeid", "x", "t1", NODE, "<<", "1"]
    scalars = ["passed", "failed", "test", NODE, "1", "0.9"]

    def value(depth: int) -> str:
        pick = rnd.random()
        if depth > 3 or pick < 0.35:
            return rnd.choice(scalars)
        if pick < 0.55:
            return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(0, 3))) + "]"
        return "{" + ", ".join(f"{rnd.choice(keys)}: {value(depth + 1)}" for _ in range(rnd.randint(1, 4))) + "}"

    text = "\n".join(f"{rnd.choice(keys)}: {value(1)}" for _ in range(rnd.randint(1, 4))) + "\n"
    return "base: &b {x: 1}\n" + text if rnd.random() < 0.2 else text


@pytest.mark.req("SRS-181")
def test_holds_stricter_nothing_the_old_rule_refused_is_accepted(tmp_path: Path) -> None:
    old = _old_rule(tmp_path)
    rnd, refused_before, accepted_now = random.Random(167), 0, []
    for index in range(300):
        text = _random_document(rnd)
        path = tmp_path / f"r{index}.yaml"
        path.write_text(text)
        if old.generated_test_output(path) is not None:
            refused_before += 1
            if generated_test_output(path) is None:
                accepted_now.append(text)
    assert refused_before > 100 and accepted_now == []


@pytest.mark.req("SRS-181")
def test_holds_cost_of_an_ordinary_1mb_record_and_of_hostile_repeats(tmp_path: Path) -> None:
    cases = [{"case": f"case-{i:05d}", "measure": "sensitivity", "value": 0.9 + (i % 10) / 100} for i in range(20_000)]
    started = time.perf_counter()
    assert _judge(tmp_path, "m.json", json.dumps({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "m.yaml", yaml.safe_dump({"study": "synthetic", "cases": cases})) is None
    assert _judge(tmp_path, "r.json", "{" + ",".join(f'"k": {i}' for i in range(200_000)) + "}") == NOT_PLAIN
    assert time.perf_counter() - started < 20  # 0.39 + 1.62 + 0.08 s measured on a shared machine


# === D1: one key to the safe loader, two texts: no repeat to the rule, and the result document is accepted ========

HIDDEN = {  # the repeat puts a value that is no outcome beside the outcome in the composed reading only
    "octal.yaml": "run: {commit: abc}\nresults:\n  01: {note: x}\n  1: {outcome: passed}\n",
    "hex.yaml": "run: {commit: abc}\nresults:\n  0x1: {note: x}\n  1: {outcome: passed}\n",
    "null.yaml": "run: {commit: abc}\nresults:\n  ~: {note: x}\n  null: {outcome: passed}\n",
    "bool.yaml": "run: {commit: abc}\nresults:\n  yes: {note: x}\n  true: {outcome: passed}\n",
    "float.yaml": "run: {commit: abc}\nresults:\n  1.0: {note: x}\n  1.00: {outcome: passed}\n",
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_d1_pin_the_safe_loader_reads_a_result_document_and_the_record_is_refused(tmp_path: Path, name: str) -> None:
    read = yaml.safe_load(HIDDEN[name])
    assert len(read["results"]) == 1 and list(read["results"].values()) == [{"outcome": "passed"}]  # one key
    assert _judge(tmp_path, "as-read-" + name, yaml.safe_dump(read)) == RESULT_FILE  # the data, written plainly
    # lead: D1 fixed (not re-reviewed) - keys compared by their text and by the value the safe loader makes of them
    assert _judge(tmp_path, name, HIDDEN[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_d1_control_the_same_key_in_one_text_is_refused(tmp_path: Path, name: str) -> None:
    text = HIDDEN[name]
    first, second = (line.split(":")[0].strip() for line in text.splitlines()[2:4])
    assert _judge(tmp_path, name, text.replace(f"  {first}:", f"  {second}:")) == NOT_PLAIN


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_d1_a_key_the_safe_loader_reads_as_repeated_refuses_the_record(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, HIDDEN[name]) is not None


# === Notes ==========================================================================================================

REPORT = "Study: synthetic reader study (fake data)\nReader: R1\nSensitivity: 0.95\nReader: R2\nSensitivity: 0.93\n"


@pytest.mark.req("SRS-181")
def test_n1_pin_a_text_report_repeating_a_label_is_refused_as_not_plain(tmp_path: Path) -> None:
    assert _judge(tmp_path, "report.md", REPORT) == NOT_PLAIN
    assert _judge(tmp_path, "report.txt", REPORT) == NOT_PLAIN
    # control: each label once, judged and accepted
    assert _judge(tmp_path, "once.md", "Study: synthetic\nReader: R1\nSensitivity: 0.95\n") is None


@pytest.mark.req("SRS-181")
def test_n2_pin_json_dump_of_mixed_type_keys_writes_a_repeat_and_is_refused(tmp_path: Path) -> None:
    written = json.dumps({1: 0.9, "1": 0.8})
    assert written == '{"1": 0.9, "1": 0.8}'
    assert _judge(tmp_path, "mixed.json", written) == NOT_PLAIN
    assert _judge(tmp_path, "mixed.yaml", yaml.safe_dump({1: 0.9, "1": 0.8})) == NOT_PLAIN
