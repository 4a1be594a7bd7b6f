"""Independent re-review 163 (reviewer helper-163) of the lead's fixes of re-review 162 - c0a420a (SRS-181 D1,
SRS-230 D2) - at 97beb26, where SRS-181 and SRS-230 were approved subject to this review. helper-163 wrote none of
the code, texts or tests reviewed. Read: ``git show c0a420a``, record_content.py, cli/__init__.py, cli/running.py,
cli/parser.py, cli/common.py, SRS-181, SRS-230 and the docstrings of tests/review/test_review_161.py and
test_review_162.py. All probes finished within the time box.

1. SRS-181 - DEFECT (D1 of this review). What c0a420a names holds: 162 D1 - YAML is composed, never constructed
   (record_content.py:172-174, _plain :185-206): a custom tag, a complex key, ``!!set``, ``!!bool maybe``,
   ``!!timestamp abc``, an impossible date beside a node ID are all walked and refused; a python/object/apply tag
   builds nothing; an unforeseen failure is caught (:282) and refuses unjudged. 161 D1a-c still hold (YAML 1,100
   deep flow, a 5,000-digit JSON integer, a false gzip header after a member). _plain's bound holds: a billion-laughs
   alias tree and a recursive alias (``&a [*a]``) are refused unjudged in < 0.1 s; a repeated key whose second value
   is a node ID is refused. JSON parse_float/parse_constant edges (1e400, -Infinity, NaN, 5,000 decimals, a lone
   surrogate escape) beside a node ID: refused. The credited record and every file of benchmarks/results,
   fuzz/results and risk/validation still pass.
   D1 - reading YAML as composed nodes drops two mapping semantics the safe loader applied, so a YAML trace graph or
   pytest result document whose shape is made by them is judged as prose (None); both refused at c0a420a~1
   (regression of c0a420a):
   (a) merge keys (``<<``, YAML 1.1's merge type, which yaml.safe_load - the project's own reader - applies):
       ``<<: {nodes: [], edges: []}`` + ``runs: []`` (a trace graph) and ``report: {<<: {run: ...}, results:
       {...outcomes}}`` (a pytest result document) - _plain keeps ``<<`` as a key (:200-205), so _mapping_kind
       never sees ``nodes``/``run`` beside the others;
   (b) a repeated key: ``nodes: []`` then ``nodes: [{kind: test}]`` (or ``results: {}`` then the outcomes) -
       _plain renames the second to ``"nodes "`` (:203-204); its docstring says "both are looked at", but
       _mapping_kind looks up ``nodes``/``results``/``run`` by exact name, so only the first is judged.
   (c) not new in c0a420a: a reused anchor (``a: &x 1`` / ``b: &x 2``; the YAML 1.1 and 1.2 specs let an anchor be
       reused, an alias meaning the most recent) beside a node ID is accepted: libyaml's composer raises
       "found duplicate anchor", a YAMLError caught at :181 as "not YAML" - a parser limit like 161 D1a's depth,
       judged as prose instead of unjudged.
   Controls: each document without the merge / repeat / reused anchor is refused.
   Notes, not defects against the text: (i) alias expansion is bounded per document (200,000 values), not per
   record: 100 documents of ~190,000 values each (19,600 bytes) take ~10 s to judge here (correct answer, None),
   so a 1 MB record could hold the trace commands for minutes (pre-existing). (ii) gzip followed by zero padding
   (which ``gzip -d`` ignores) is judged with the zeros, as the text says, so a JSON record + padding is not JSON
   and passes unless its lines say an outcome. (iii) ``%YAML 1.3`` (spec: "should be processed with a warning")
   is refused by libyaml and judged as prose. (iv) JSON with a repeated key keeps the last (json.loads).
2. SRS-230 - HOLDS. 162 D2: the fast path (cli/__init__.py:32-44) is argparse with the same global_options
   (cli/running.py:24-30, also used by the whole parser, cli/parser.py:26 and common.py:35). On every argv of 1-3
   tokens from 24 (abbreviations --conf/--deb/--d/--c, '--', '=' forms, --config=-x, -1, -, repeats, -h, --help,
   --version, ---config, --=x, -c, =; 14,424 shapes) the fast path takes a shape exactly when the whole parser reads
   it as self-check, with the same debug and config; '--' forms are a usage error in both (Python 3.11 argparse).
   For 11 shapes run in subprocesses (8 that run self-check, 3 with "--"; 3 kept below), fast path and
   parser.main give the same stdout, stderr and exit code, and the
   fast path leaves no module outside the standard library, device_ai and packaging imported (the whole parser
   imports 27 top-level packages: the control). The parser's -h/--version are not in the fast parser, so they go
   to the whole parser (prefixes --h/--v too). All 42 commands and sub-commands answer --help with exit 0;
   ``device-ai conformance --reference`` equals docs/dicom-conformance-statement.md. No new import or read before
   the check: the fast path imports only argparse and device_ai.cli.running (errors, dicom.paths) before
   self_check; --config is not loaded (using_file only sets an environment variable, and is not called).

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. Scratch files are written
into tmp_path; the repository and its environment are only read.
Records (independent): SRS-230. None for SRS-181 (D1).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from device_ai.cli import _self_check_only
from device_ai.cli.parser import build_parser
from device_ai.cli.parser import main as parser_main
from device_ai.regulatory.record_content import NOT_PLAIN, UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
OUTCOME = f"PASSED {NODE}\n".encode()


def _judge(tmp_path: Path, name: str, data: bytes | str) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


# === 1. SRS-181 =====================================================================================================

@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("value", ["!custom 1", "!!set {a}", "!!bool maybe", "!!timestamp abc", "2026-02-30",
                                   "!!int 0x" + "f" * 5000, "!!float nope", "!!binary '%%%'", "!!null x"])
def test_i1_162_d1_a_tagged_value_is_read_as_text_and_the_document_walked(tmp_path: Path, value: str) -> None:
    assert _judge(tmp_path, "t.yaml", f"x: {value}\n{NODE}: ran\n") not in (None, UNJUDGED)
    assert _judge(tmp_path, "p.yaml", f"x: {value}\ny: ran\n") is None  # control: prose-like YAML passes


@pytest.mark.req("SRS-181")
def test_i1_162_d1_a_complex_key_is_read_and_nothing_is_built(tmp_path: Path) -> None:
    assert _judge(tmp_path, "k.yaml", f"? {{a: [{NODE}]}}\n: 1\n") not in (None, UNJUDGED)
    marker = tmp_path / "built"
    assert _judge(tmp_path, "o.yaml", f"x: !!python/object/apply:os.mkdir [{str(marker)!r}]\n") is None
    assert not marker.exists()


@pytest.mark.req("SRS-181")
def test_i1_161_d1a_to_c_still_hold(tmp_path: Path) -> None:
    assert _judge(tmp_path, "deep.yaml", "[" * 1100 + NODE + "]" * 1100) == UNJUDGED
    assert _judge(tmp_path, "big.json", '{"%s": 1, "n": %s}' % (NODE, "1" * 5000)) not in (None, UNJUDGED)
    member = gzip.compress(OUTCOME, mtime=0)
    assert _judge(tmp_path, "t.gz", member + b"\x1f\x8b\x00garbage")
    assert _judge(tmp_path, "p.gz", gzip.compress(b"median 41 ms\n", mtime=0) + b"\x1f\x8b\x00garbage") is None


LAUGHS = ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True)))


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("text", [LAUGHS, f"a: &a [*a]\n{NODE}: ran\n", "a: &a [*a, *a]\n"])
def test_i1_aliases_are_bounded(tmp_path: Path, text: str) -> None:
    assert _judge(tmp_path, "alias.yaml", text) == UNJUDGED


@pytest.mark.req("SRS-181")
def test_i1_a_repeated_key_whose_second_value_names_a_node_is_refused(tmp_path: Path) -> None:
    # lead (re-specification ANOM-018): a repeated key refuses the record unjudged, whatever its values
    assert _judge(tmp_path, "dup.yaml", f"x: 1\nx: {NODE}\n") == NOT_PLAIN
    assert _judge(tmp_path, "ctl.yaml", "x: 1\nx: 2\n") == NOT_PLAIN
    assert _judge(tmp_path, "plain.yaml", "x: 1\ny: 2\n") is None


@pytest.mark.req("SRS-181")
def test_i1_json_float_and_constant_edges_are_walked(tmp_path: Path) -> None:
    text = ('{"a": "\\ud800", "f": 1e400, "g": -1e400, "h": -Infinity, "i": NaN, "j": 0.%s, "%s": 1}'
            % ("0" * 5000, NODE))
    assert _judge(tmp_path, "f.json", text) not in (None, UNJUDGED)
    assert _judge(tmp_path, "c.json", text.replace(NODE, "x")) is None


@pytest.mark.req("SRS-181")
def test_i1_control_the_records_the_repository_credits_pass() -> None:
    credited = {entry["record"] for path in (ROOT / "risk").glob("*.yaml")
                for item in (yaml.safe_load(path.read_text()) or {}).get("hazardous_situations", []) or []
                for entry in item.get("effectiveness") or [] if entry.get("record")}
    results = [p for folder in ("benchmarks/results", "fuzz/results", "risk/validation")
               for p in (ROOT / folder).rglob("*") if p.is_file()]
    assert credited and len(results) > 10
    assert {str(p): kind for p in [ROOT / r for r in credited] + results
            if (kind := generated_test_output(p)) is not None} == {}


MERGED = {
    "merge-graph.yaml": "<<: {nodes: [], edges: []}\nruns: []\n",
    "merge-results.yaml": "report:\n  <<: {run: {python: '3.11'}}\n  results: {test_a: {outcome: passed}}\n",
    "repeat-nodes.yaml": "nodes: []\nnodes:\n- {kind: test, id: T1}\n",
    "repeat-results.yaml": "run: {python: '3.11'}\nresults: {}\nresults: {test_a: {outcome: passed}}\n",
    "reused-anchor.yaml": f"a: &x 1\nb: &x 2\n{NODE}: ran\n",
}
PLAIN = {  # the same documents as yaml.safe_load reads them (the reused anchor renamed)
    "merge-graph.yaml": "nodes: []\nedges: []\nruns: []\n",
    "merge-results.yaml": "report:\n  run: {python: '3.11'}\n  results: {test_a: {outcome: passed}}\n",
    "repeat-nodes.yaml": "nodes:\n- {kind: test, id: T1}\n",
    "repeat-results.yaml": "run: {python: '3.11'}\nresults: {test_a: {outcome: passed}}\n",
    "reused-anchor.yaml": f"a: &x 1\nb: &y 2\n{NODE}: ran\n",
}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(MERGED))
def test_d1_pin_merged_repeated_or_reanchored_yaml_is_now_refused(tmp_path: Path, name: str) -> None:
    # lead: D1 fixed - an anchor defined again refused unjudged; since the re-specification (ANOM-018) a merge key or
    # a repeated key refuses the record unjudged in its own words (before it, each reading was judged)
    assert _judge(tmp_path, name, MERGED[name]) == (UNJUDGED if name.startswith("reused") else NOT_PLAIN)


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(MERGED))
def test_d1_control_the_same_document_without_it_is_refused(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, PLAIN[name]) not in (None, UNJUDGED)
    if not name.startswith("reused"):  # the project's own reader sees the test output shape in the merged text
        assert yaml.safe_load(MERGED[name]) == yaml.safe_load(PLAIN[name])


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("name", sorted(MERGED))
def test_d1_merged_repeated_or_reanchored_yaml_is_refused(tmp_path: Path, name: str) -> None:
    assert _judge(tmp_path, name, MERGED[name]) is not None


# === 2. SRS-230 =====================================================================================================

TOKENS = ["self-check", "--config", "--debug", "x", "-1", "-", "--", "--conf", "--deb", "--d", "--c", "--config=",
          "--config=-x", "-h", "--help", "--version", "--conf=y", "--debug=1", "-c", "---config", "--=x", "--c=z",
          "=", "self"]


def _whole(parser: argparse.ArgumentParser, argv: list[str]) -> tuple | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = parser.parse_args(argv)
    except SystemExit:
        return None
    return (args.debug, args.config) if args.command == "self-check" else None


@pytest.mark.req("SRS-230")
def test_i2_162_d2_the_fast_path_takes_exactly_what_the_parser_reads_as_self_check() -> None:
    parser = build_parser()
    differ, taken = [], 0
    for argv in (list(t) for k in (1, 2, 3) for t in itertools.product(TOKENS, repeat=k)):
        fast = _self_check_only(argv)
        fast = None if fast is None else (fast.debug, fast.config)
        taken += fast is not None
        if fast != _whole(parser, argv):
            differ.append(argv)
    assert differ == [] and taken > 100
    # control: the oracle tells them apart (a shape the parser refuses, one it takes)
    assert _whole(parser, ["self-check", "--config"]) is None
    assert _whole(parser, ["--conf", "-1", "--deb", "self-check"]) == (True, "-1")


_PROBE = """
import json, sys
which, argv = sys.argv[1], json.loads(sys.argv[2])
rc = None
try:
    if which == "fast":
        from device_ai.cli import main
    else:
        from device_ai.cli.parser import main
    rc = main(argv)
except SystemExit as exc:
    rc = exc.code
finally:
    other = {m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
    other -= {"device_ai", "packaging", "__main__", "_distutils_hack", "sitecustomize"}
    print("@@" + json.dumps([rc, sorted(other)]), file=sys.stderr)
"""


def _run(which: str, argv: list[str]) -> tuple[str, str, int, list[str]]:
    run = subprocess.run([sys.executable, "-c", _PROBE, which, json.dumps(argv)], capture_output=True, text=True,
                         timeout=120, cwd="/", check=False)
    stderr, _, tail = run.stderr.rpartition("@@")
    rc, imported = json.loads(tail)
    return run.stdout, stderr, rc, imported


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", [["--d", "self-check", "--c", "-"], ["--conf=-1", "self-check", "--debug", "--debug"],
                                  ["--config", "a", "self-check", "--config", "c"]])
def test_i2_fast_path_output_equals_the_parser_and_imports_no_library(argv: list[str]) -> None:
    fast, whole = _run("fast", argv), _run("whole", argv)
    assert fast[:3] == whole[:3]
    assert fast[3] == []
    assert "numpy" in whole[3]  # control: the probe sees the libraries the whole parser imports


@pytest.mark.req("SRS-230")
def test_i2_every_help_and_conformance_reference_answer(capsys: pytest.CaptureFixture[str]) -> None:
    def paths(parser: argparse.ArgumentParser, prefix: list[str]):  # noqa: ANN202
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for name, sub in action.choices.items():
                    yield [*prefix, name]
                    yield from paths(sub, [*prefix, name])

    commands = list(paths(build_parser(), []))
    assert len(commands) >= 42
    codes = {}
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*command, "--help"])
        codes[" ".join(command)] = exited.value.code
    assert set(codes.values()) == {0}
    capsys.readouterr()
    assert parser_main(["conformance", "--reference"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs/dicom-conformance-statement.md").read_text()
