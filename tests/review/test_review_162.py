"""Independent re-review 162 (reviewer helper-162) of the lead's fixes of re-review 161 - c41e4fa (SRS-181 D1,
SRS-230 D2/D3 and the stray-packaging stop) - at dfb26d9, where SRS-181 and SRS-230 were approved subject to this
review. helper-162 wrote none of the code, texts or tests reviewed. Read: ``git show c41e4fa``, record_content.py,
cli/__init__.py, cli/conformance.py, installed_software.py (_reader_elsewhere, check_installed), SRS-181, SRS-230
and the docstring of tests/review/test_review_161.py. All probes finished within the time box.

1. SRS-181 - DEFECT (D1 of this review). The three fixes hold for what they name:
   D1a - YAML 1,100 levels deep is refused unjudged as a block mapping, a block sequence, a flow sequence and a flow
   mapping, with or without a node ID (libyaml's "nesting depth", record_content.py:195-197).
   D1b - a 5,000-digit integer (positive, negative, in JSON, in JSON lines, :134-140), in YAML as decimal, hex,
   octal or sexagesimal, a 5,000-digit YAML float or exponent, 2026-02-30, 0000-01-01, 25:00:00 and a +99:00
   zone beside a node ID: the document is walked and refused. JSON floats (1e99999, NaN, 5,000 decimals) too.
   D1c - after a gzip member, a false header (``\\x1f\\x8b\\x00...``), the two magic bytes alone, or a true
   header followed by bytes that do not inflate: the decompressed outcome is judged and refused (:214-217); prose
   followed by the same is still None. The lenient loader is safe: it wraps only the int, float and timestamp
   constructors of a CSafeLoader subclass (:152-159) and falls back to the scalar's text; ``!!python/object`` is
   still a ConstructorError (nothing built); yaml.SafeLoader and CSafeLoader are not changed. The credited
   record and every file of benchmarks/results, fuzz/results and risk/validation still pass (161's control).
   D1 - the same class (the parser cannot build the document, so nothing is walked and it is judged as prose) is
   open through the YAML constructors other than the three wrapped, and two of the wrapped ones fail with an
   exception the reading does not catch:
   (a) a YAML document naming a node ID, with one value the safe constructor cannot build - a local tag
       (``x: !custom 1``), a complex key (``? [a, b]``, "found unhashable key") or ``!!set [1]`` - is accepted
       (None): the ConstructorError is caught at :198 as "not YAML". Each is valid YAML (``yaml.compose`` reads
       it); SRS-181: "a JSON, JSON-lines or YAML document that names a pytest node ID". Control: without that
       value it is refused.
   (b) ``x: !!bool maybe`` raises KeyError and ``x: !!timestamp abc`` AttributeError out of
       generated_test_output (the lenient wrapper, :147, and :199 catch neither); graph.py:262 calls it without a
       guard, so a record holding either ends every trace command in running.py's DAI-999 (exit 70) instead of a
       gap. Not new in c41e4fa (the old except tuple lacked them too).
   Note, not a defect against the text: a gzip member with a bad CRC (alone, nested, or after a good member) is
   judged as its compressed bytes (zlib drops what that member inflated) - SRS-181 says "after the last member
   that decompresses", which this is not; ``gzip -dc`` prints it. JSON with a raw control character in a string
   is neither JSON (strict) nor YAML and is judged as text (RFC 8259: not JSON).
2. SRS-230 - DEFECT (D2 of this review). Holds: 161 D2 - ``device-ai conformance --reference`` exits 0 and its
   output equals docs/dicom-conformance-statement.md; all 42 commands and sub-commands answer ``--help`` with
   exit 0; tests/node/test_conformance.py and the packaging tests of tests/test_installed_software.py pass.
   161 D3 - ``--config --debug self-check``, ``self-check --config``, ``self-check --config -h`` give the parser's
   usage error. For 18 argv shapes the fast path's stdout+stderr and exit code equal the parser's (compared
   byte for byte in subprocesses). The stray-packaging stop: find_spec runs no code of packaging and is called
   after packaging's files are hashed; a folder or packaging.py earlier on the path stops the walk.
   D2 - the D3 fix over-corrects: cli/__init__.py:34 leaves every ``--config`` value that starts with '-' to the
   parser, but the parser takes ``-`` and negative-number-like values (``-1``) as --config's value
   (argparse treats them as arguments, not options) and runs self-check. ``device-ai --config -1 self-check`` and
   ``--config - self-check`` - self-check with only the global options written out in full - therefore import
   numpy, pydicom, pydantic and jpeg_ls before the check; SRS-230: "shall import no module outside the Python
   standard library and device_ai before every file has been looked at". Minor (an odd config name); control:
   ``--config x self-check`` imports none of them. Before c41e4fa the fast path took these.

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. Scratch files are written
into tmp_path; the repository and its environment are only read.
Records (independent): none (SRS-181 D1, SRS-230 D2).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from device_ai.cli import _self_check_only
from device_ai.cli.parser import build_parser
from device_ai.regulatory.record_content import UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
OUTCOME = f"PASSED {NODE}\n".encode()
PROSE = b"Latency study: median 41 ms over 500 runs; criterion met.\n"


def _judge(tmp_path: Path, name: str, data: bytes | str) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


def _deep_block(levels: int, leaf: str) -> str:
    return "".join("  " * i + "k:\n" for i in range(levels)) + "  " * levels + leaf + "\n"


# === 1. SRS-181 =====================================================================================================

@pytest.mark.req("SRS-181")
def test_i1_d1a_yaml_deeper_than_libyaml_is_refused_in_every_style(tmp_path: Path) -> None:
    shapes = {"block": _deep_block(1100, NODE), "block-prose": _deep_block(1100, "x"),
              "seq": "".join("  " * i + "-\n" for i in range(1100)) + "  " * 1100 + NODE + "\n",
              "flow": "[" * 1100 + NODE + "]" * 1100, "flowmap": "{k: " * 1100 + NODE + "}" * 1100}
    assert {name: _judge(tmp_path, f"{name}.yaml", text) for name, text in shapes.items()} == \
        dict.fromkeys(shapes, UNJUDGED)


BIG = "1" * 5000  # over Python's int_max_str_digits (4,300)


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize(("name", "text"), [
    ("neg.json", '{"%s": "ran", "n": -%s}' % (NODE, BIG)),
    ("big.jsonl", '{"n": %s}\n{"%s": 1}\n' % (BIG, NODE)),
    ("float.json", '{"%s": "ran", "n": 1.%s, "m": 1e99999, "o": NaN}' % (NODE, BIG)),
    ("hex.yaml", f"{NODE}: ran\nn: 0x{'f' * 5000}\n"),
    ("oct.yaml", f"{NODE}: ran\nn: 0o{'7' * 5000}\n"),
    ("sexa.yaml", f"{NODE}: ran\nn: 1:{BIG}\n"),
    ("float.yaml", f"{NODE}: ran\nn: 1.0e{'9' * 5000}\nm: {BIG}.5\n"),
    ("dates.yaml", f"{NODE}: ran\na: 0000-01-01\nb: 2026-01-01 25:00:00\nc: 2026-01-01 10:00:00 +99:00\n"),
])
def test_i1_d1b_values_a_parser_cannot_hold_are_walked(tmp_path: Path, name: str, text: str) -> None:
    assert _judge(tmp_path, name, text) not in (None, UNJUDGED)


@pytest.mark.req("SRS-181")
def test_i1_d1c_bytes_after_a_member_that_look_like_gzip(tmp_path: Path) -> None:
    member = gzip.compress(OUTCOME, mtime=0)
    true_header = gzip.compress(b"x", mtime=0)[:10] + b"\xff\xff\xff"
    for tail in (b"\x1f\x8b\x00garbage", b"\x1f\x8b", true_header):
        assert _judge(tmp_path, "t.gz", member + tail)
        assert _judge(tmp_path, "p.gz", gzip.compress(PROSE, mtime=0) + tail) is None  # control


@pytest.mark.req("SRS-181")
def test_i1_the_lenient_loader_builds_no_object_and_changes_no_other_loader(tmp_path: Path) -> None:
    # lead (fix of D1 below, not re-reviewed): the lenient loader is gone - YAML is composed, never constructed, so
    # a python/object tag is read as its text (nothing built) and the library's loaders are untouched
    from device_ai.regulatory.record_content import _documents

    marker = tmp_path / "built"
    documents = list(_documents(f"x: !!python/object/apply:os.mkdir [{str(marker)!r}]\nn: 2026-02-30\n"))
    assert documents == [{"x": [str(marker)], "n": "2026-02-30"}] and not marker.exists()
    for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        with pytest.raises(ValueError):
            yaml.load("n: 2026-02-30\n", Loader=loader)


@pytest.mark.req("SRS-181")
def test_i1_control_the_records_the_repository_credits_pass() -> None:
    credited = {entry["record"] for path in (ROOT / "risk").glob("*.yaml")
                for item in (yaml.safe_load(path.read_text()) or {}).get("hazardous_situations", []) or []
                for entry in item.get("effectiveness") or [] if entry.get("record")}
    assert credited
    results = [p for folder in ("benchmarks/results", "fuzz/results", "risk/validation")
               for p in (ROOT / folder).rglob("*") if p.is_file()]
    assert len(results) > 10
    assert {str(p): generated_test_output(p) for p in [ROOT / r for r in credited] + results
            if generated_test_output(p) is not None} == {}


UNBUILT = {"tag": "x: !custom 1\n", "complex-key": "? [a, b]\n: 1\n", "set": "x: !!set [1]\n"}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("shape", sorted(UNBUILT))
def test_d1a_pin_yaml_the_safe_constructor_cannot_build_is_refused(tmp_path: Path, shape: str) -> None:
    # lead: D1a fixed (not re-reviewed) - YAML is composed, not constructed; the safe constructor still fails on it
    text = f"{NODE}: ran\n{UNBUILT[shape]}"
    assert yaml.compose(text) is not None  # valid YAML: it composes
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    assert _judge(tmp_path, "r.yaml", text) is not None


@pytest.mark.req("SRS-181")
def test_d1a_control_without_the_unbuilt_value_it_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "r.yaml", f"{NODE}: ran\nx: 1\n") not in (None, UNJUDGED)
    assert _judge(tmp_path, "p.yaml", f"study: latency\n{UNBUILT['tag']}") is None


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("shape", sorted(UNBUILT))
def test_d1a_yaml_naming_a_node_id_with_an_unbuilt_value_is_refused(tmp_path: Path, shape: str) -> None:
    assert _judge(tmp_path, "r.yaml", f"{NODE}: ran\n{UNBUILT[shape]}") is not None


RAISING = {"bool": ("x: !!bool maybe\n", KeyError), "timestamp": ("x: !!timestamp abc\n", AttributeError)}


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("shape", sorted(RAISING))
def test_d1b_pin_an_explicit_tag_on_a_bad_scalar_raises_in_the_safe_loader(tmp_path: Path, shape: str) -> None:
    # lead: D1b fixed (not re-reviewed) - nothing is constructed, and an unforeseen failure refuses the record
    text, error = RAISING[shape]
    with pytest.raises(error):
        yaml.safe_load(f"{NODE}: ran\n{text}")
    assert _judge(tmp_path, "r.yaml", f"{NODE}: ran\n{text}") is not None


@pytest.mark.req("SRS-181")
def test_d1b_control_explicit_tags_on_good_scalars_are_read(tmp_path: Path) -> None:
    assert _judge(tmp_path, "r.yaml", f"{NODE}: ran\nx: !!bool yes\ny: !!timestamp 2026-01-01\n")
    assert _judge(tmp_path, "p.yaml", "study: latency\nx: !!int abc\n") is None


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("shape", sorted(RAISING))
def test_d1b_an_explicit_tag_on_a_bad_scalar_is_judged(tmp_path: Path, shape: str) -> None:
    assert _judge(tmp_path, "r.yaml", f"{NODE}: ran\n{RAISING[shape][0]}") is not None


# === 2. SRS-230 =====================================================================================================

_PROBE = """
import json, sys
rc = None
try:
    from device_ai.cli import main
    rc = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    rc = exc.code
finally:
    print("@@" + json.dumps([rc, sorted(m for m in ("numpy", "pydicom", "pydantic", "jpeg_ls") if m in sys.modules)]),
          file=sys.stderr)
"""


def _self_check_imports(argv: list[str]) -> list[str]:
    run = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True,
                         timeout=120, cwd="/", check=False)
    return json.loads(run.stderr.rsplit("@@", 1)[1])[1]


@pytest.mark.req("SRS-230")
def test_i2_161_d2_conformance_and_every_help_answer() -> None:
    run = subprocess.run([sys.executable, "-m", "device_ai.cli", "conformance", "--reference"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (ROOT / "docs/dicom-conformance-statement.md").read_text()
    names = sorted(build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    assert len(names) > 10 and "conformance" in names and "self-check" in names


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", [["--config", "--debug", "self-check"], ["self-check", "--config"],
                                  ["self-check", "--config", "-h"]])
def test_i2_161_d3_option_like_values_go_to_the_parser(argv: list[str]) -> None:
    assert _self_check_only(argv) is None
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("value", ["-1", "-"])
def test_d2_pin_the_parser_takes_dash_values_the_fast_path_too(value: str) -> None:
    # lead: D2 fixed (not re-reviewed) - the fast path reads the command line with argparse, as the parser does
    argv = ["--config", value, "self-check"]
    assert build_parser().parse_args(argv).config == value
    assert _self_check_only(argv).config == value


@pytest.mark.req("SRS-230")
def test_d2_control_a_plain_config_value_imports_no_library_first() -> None:
    assert _self_check_imports(["--config", "x", "self-check"]) == []


@pytest.mark.req("SRS-230")
def test_d2_self_check_with_a_dash_config_value_imports_no_library_first() -> None:
    assert _self_check_imports(["--config", "-1", "self-check"]) == []
