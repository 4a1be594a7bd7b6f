"""Independent re-review 165 (reviewer helper-165) of SRS-181 at a50fbdf, where the lead approved it subject to this
review after the fix of re-review 164 D1 (18b7053: a merge value that is no mapping kept under ``<<``, each reading of
a merged mapping merged in turn, readings as their own list type ``_Readings``; 2062b94: one-pass ``_readings``;
f6501eb / be80f3c: YAML merge keys, each reading of a repeated key judged in YAML and JSON, an anchor defined again
refused unjudged, one value bound per record). helper-165 wrote none of the code, texts or tests reviewed. Read: the
docstrings of tests/review/test_review_163.py and test_review_164.py, ``git show f6501eb be80f3c 2062b94 18b7053 --
src/device_ai/regulatory/record_content.py``, record_content.py whole, SRS-181's text. Judged only against that text.
All probes below finished within the time box.

SRS-181 - DEFECT (D1, a regression of f6501eb for YAML and be80f3c for JSON, open at a50fbdf).

Holds: 164 D1 (a)-(d) (a scalar merge value, one in a list, a repeated key in a merge source, a result document in an
earlier reading of a merged mapping: all refused; tests/review/test_review_164.py 33 passed) and 163 D1 (a)-(c) plus
its i1 checks (test_review_163.py -k "i1 or d1": 32 passed). Per-record bounds: 200 documents of aliased values are
refused unjudged in under 2 s, one passes. Neighbours that hold (refused): a merge inside a sequence item, an
explicit ``!!map`` tag on the result mappings, a ``%TAG`` directive with ``!e!x`` on a graph, an anchor on a key.
The credited records (risk/*.yaml effectiveness) and every file of benchmarks/results, fuzz/results and
risk/validation pass. Ordinary ~1 MB records judged here (2 cores shared with the lead): a JSON object of
20,000 measures 0.25 s, a JSON list of 25,000 0.18 s, a YAML mapping of 25,000 1.37 s, a YAML list of 30,000
1.5 s (all None).

D1 - record_content.py:244-259 with :78-79 and :86-96. A mapping that repeats a key is returned by ``_readings`` as a
``_Readings`` list of its readings (JSON objects through ``_json_object``, :134-135; YAML through ``_plain``). Each
reading is walked by itself, but the mapping *holding* it then sees a list where a mapping is: ``_mapping_kind`` asks
``isinstance(data.get("run"), dict)`` / ``isinstance(results, dict)`` (:94), ``_is_outcome_record`` asks
``isinstance(value, dict)`` (:79), the test-node check ``isinstance(n, dict)`` (:91). So a pytest result document or a
trace graph's test node in which one inner mapping repeats a key (valid YAML; JSON that ``json.loads`` reads, last
wins) is accepted (None), while json.loads / yaml.safe_load read it as the result document / graph:
``{"run": {"x": 1, "x": 2}, "results": {"t1": {"outcome": "passed"}}}``, the same with the outcome record
``{"outcome": "passed", "outcome": "passed"}`` or a results key repeated, in JSON, JSON lines and YAML;
``nodes: [{kind: test, kind: test}]``; and ``run: {<<: *a}`` where ``&a`` repeats a key. Refused at c0a420a (before
the repeated-key readings); accepted since f6501eb (YAML) and be80f3c (JSON), and at a50fbdf. SRS-181: "is by its
content ... generated test output (a pytest result document ... a trace graph, a JSON, JSON-lines or YAML document
...; ... each value of a repeated key looked at ... each value of a JSON key repeated in an object looked at, so the
document is walked". Looking at each value must not stop the document being the result document every reader reads.
Control: the same documents without the repeat are refused.

Notes, not defects against the text: (i) ``!!omap`` / ``!!pairs`` holding ``run`` and ``results`` as separate items
pass (as 164 noted): the text reads YAML composed whatever its tag, so a sequence stays a sequence. (ii) A merged
value overridden by an explicit key (``r: {<<: {a: tests/a.py::test_t}, a: z}``) passes; every reader gives ``a: z``
and the text says "merge keys applied" - not a repeated key. (iii) Over-refusal: a ``_Readings`` is a list, so
``nodes: [], edges: [], runs: {a: 1, a: 2}`` is refused as a trace graph though no reader gives ``runs`` a list (an
ordinary measured record with such keys could be refused). (iv) The readings bound is per mapping, not per record,
and JSON objects have no value count while they are parsed: a 1.0 MB JSON list of 130 objects of 440 keys each
repeated is refused unjudged (correct) after 0.8 s but holding 732 MB; growth is linear, so a record near the 32 MiB
parse limit would need ~20 GB before the walk's bound refuses it. YAML is bounded by the per-record node count.

D1 is a strict xfail beside a pin of today's behaviour and a control that passes. Scratch files are written into
tmp_path; the repository is only read. Record (independent): none (D1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory.record_content import NOT_PLAIN, UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"


def _judge(tmp_path: Path, name: str, data: str) -> str | None:
    path = tmp_path / name
    path.write_text(data)
    return generated_test_output(path)


# === Holds ==========================================================================================================

HOLDS = {
    "merge-scalar.yaml": f"x: 1\n<<: {NODE}\n",
    "merge-scalar-in-list.yaml": f"x: 1\n<<: [{NODE}]\n",
    "merge-source-repeat.yaml": f"x: 1\n<<: {{a: {NODE}, a: z}}\n",
    "merge-earlier-reading.yaml": "r:\n  <<: [{results: {t1: {outcome: passed}}, results: {}}]\n  run: {x: 1}\n",
    "merge-graph.yaml": "<<: {nodes: [], edges: []}\nruns: []\n",
    "merge-in-seq.yaml": "- <<: {nodes: [], edges: []}\n  runs: []\n",
    "repeat-first.yaml": "nodes: [{kind: test}]\nnodes: []\n",
    "repeat.json": '{"nodes": [{"kind": "test"}], "nodes": []}',
    "tagged-map.yaml": "!!map {run: !!map {x: 1}, results: {t1: {outcome: passed}}}\n",
    "tag-directive.yaml": "%TAG !e! tag:example.com,2000:\n---\n!e!x {nodes: [], edges: [], runs: []}\n",
    "anchor-key.yaml": "&k nodes: []\nedges: []\nruns: []\n",
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(HOLDS))
def test_holds_164_d1_163_d1_and_neighbours_are_refused(tmp_path: Path, name: str) -> None:
    yaml.compose_all(HOLDS[name], Loader=yaml.SafeLoader)  # valid YAML (JSON is YAML)
    assert _judge(tmp_path, name, HOLDS[name]) not in (None, UNJUDGED)


@pytest.mark.req("SRS-181")
def test_holds_an_anchor_defined_again_is_refused_unjudged(tmp_path: Path) -> None:
    assert _judge(tmp_path, "a.yaml", f"a: &x 1\nb: &x 2\n{NODE}: ran\n") == UNJUDGED
    assert _judge(tmp_path, "c.yaml", "a: &x 1\nb: &y 2\nc: ran\n") is None  # control


@pytest.mark.req("SRS-181")
def test_holds_the_value_bound_is_per_record(tmp_path: Path) -> None:
    document = ("a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                "c: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n")
    assert _judge(tmp_path, "many.yaml", "---\n".join([document] * 200)) == UNJUDGED
    assert _judge(tmp_path, "one.yaml", document) is None  # control


@pytest.mark.req("SRS-181")
def test_holds_ordinary_measured_records_pass_and_a_plain_repeat_passes(tmp_path: Path) -> None:
    cases = {f"case_{index:05d}": {"dice": 0.91, "hd95_mm": 1.5} for index in range(2000)}
    assert _judge(tmp_path, "m.json", json.dumps(cases)) is None
    assert _judge(tmp_path, "m.yaml", yaml.safe_dump(cases)) is None
    # lead (re-specification ANOM-018): a plain repeat is refused unjudged now, not judged
    assert _judge(tmp_path, "r.json", '{"a": 1, "a": 2}') == NOT_PLAIN
    assert _judge(tmp_path, "r.yaml", "run: {x: 1, x: 2}\nmeasure: {dice: 0.9}\n") == NOT_PLAIN


@pytest.mark.req("SRS-181")
def test_holds_the_records_the_repository_credits_pass() -> None:
    credited = {entry["record"] for path in (ROOT / "risk").glob("*.yaml")
                for item in (yaml.safe_load(path.read_text()) or {}).get("hazardous_situations", []) or []
                for entry in item.get("effectiveness") or [] if entry.get("record")}
    results = [p for folder in ("benchmarks/results", "fuzz/results", "risk/validation")
               for p in (ROOT / folder).rglob("*") if p.is_file()]
    assert credited and len(results) > 10
    assert {str(p): kind for p in [ROOT / r for r in credited] + results
            if (kind := generated_test_output(p)) is not None} == {}


# === D1: an inner mapping that repeats a key becomes a list, and the document around it is no longer seen ===========

REPEAT_INSIDE = {
    "run-repeat.json": '{"run": {"x": 1, "x": 2}, "results": {"t1": {"outcome": "passed"}}}',
    "outcome-repeat.json": '{"run": {"x": 1}, "results": {"t1": {"outcome": "passed", "outcome": "passed"}}}',
    "results-repeat.json": '{"run": {"x": 1}, "results": {"t1": {"outcome": "passed"}, "t1": {"outcome": "failed"}}}',
    "run-repeat.jsonl": '{"run": {"x": 1, "x": 2}, "results": {"t1": {"outcome": "passed"}}}\n{"a": 1}\n',
    "run-repeat.yaml": "run: {x: 1, x: 2}\nresults: {t1: {outcome: passed}}\n",
    "results-repeat.yaml": "run: {x: 1}\nresults: {t1: {outcome: passed}, t1: {outcome: failed}}\n",
    "test-node-repeat.yaml": "nodes: [{kind: test, kind: test}]\n",
    "merged-run-readings.yaml": "a: &a {x: 1, x: 2}\nrun: {<<: *a}\nresults: {t1: {outcome: passed}}\n",
}
WITHOUT_REPEAT = {
    "run-repeat.json": '{"run": {"x": 2}, "results": {"t1": {"outcome": "passed"}}}',
    "outcome-repeat.json": '{"run": {"x": 1}, "results": {"t1": {"outcome": "passed"}}}',
    "results-repeat.json": '{"run": {"x": 1}, "results": {"t1": {"outcome": "failed"}}}',
    "run-repeat.jsonl": '{"run": {"x": 2}, "results": {"t1": {"outcome": "passed"}}}\n{"a": 1}\n',
    "run-repeat.yaml": "run: {x: 2}\nresults: {t1: {outcome: passed}}\n",
    "results-repeat.yaml": "run: {x: 1}\nresults: {t1: {outcome: failed}}\n",
    "test-node-repeat.yaml": "nodes: [{kind: test}]\n",
    "merged-run-readings.yaml": "a: {x: 2}\nrun: {x: 1}\nresults: {t1: {outcome: passed}}\n",  # safe_load's merge
}


def _library_reads(name: str, text: str) -> list[object]:
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines()]
    return [json.loads(text)] if name.endswith(".json") else [yaml.safe_load(text)]


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(REPEAT_INSIDE))
def test_d1_pin_the_library_reads_the_result_document_and_the_judgement_accepts_it(tmp_path: Path, name: str) -> None:
    # what every reader builds is the repeat-free document (the last value kept), which is refused ...
    last_wins = _library_reads(name, REPEAT_INSIDE[name])
    assert last_wins == _library_reads(name, WITHOUT_REPEAT[name])
    # lead: D1 fixed, then re-specified (ANOM-018) - a repeated key or a merge key refuses the record unjudged
    assert _judge(tmp_path, name, REPEAT_INSIDE[name]) == NOT_PLAIN


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(REPEAT_INSIDE))
def test_d1_control_without_the_repeat_it_is_refused(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, WITHOUT_REPEAT[name]) not in (None, UNJUDGED)


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(REPEAT_INSIDE))
def test_d1_a_result_document_with_a_repeated_inner_key_is_refused(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, REPEAT_INSIDE[name]) not in (None, UNJUDGED)
