"""Independent re-review 161 (reviewer helper-161) of the lead's fixes of re-review 160 - 0038914 (SRS-181, D1)
and f1b7b46 (SRS-230 / THR-046, D2) - at 1fcb24f, where SRS-181 and SRS-230 were approved (11ee6b4) subject to
this review. helper-161 wrote none of the code, texts or tests reviewed. Read: ``git show 0038914 f1b7b46``,
record_content.py, cli/__init__.py, cli/running.py, cli/parser.py, cli/self_check.py, cli/conformance.py,
installed_software.py (check_installed, REQUIREMENT_READER, runtime_closure), SRS-181, SRS-230, THR-046 and the
docstring of tests/review/test_review_160.py. All probes finished within the time box.

1. SRS-181 - DEFECT (D1 of this review). The fix holds for what it names: JSON nested 3,000 deep (the parser's
   RecursionError, record_content.py:143-144) and 900 deep (the walk, :127-128) are refused unjudged, with or
   without a node ID; JSON lines past line 200,000 are refused (:158-159) while exactly 200,000 are judged; an
   outcome line appended uncompressed after a gzip member, after a second member, after a second member and
   garbage, and inside a gzip of (gzip + trailing line) is refused (:184). The record the repository credits
   (fuzz/results/campaign-5000-seed0-67d0ed3.md, the only ``record`` in risk/*.yaml) and every file of
   benchmarks/results, fuzz/results and risk/validation pass (204 files looked at with docs/ and verification/:
   only generated V&V pages, trace graphs and test modules are refused, correctly).
   But the same class - the parser cannot read the record, so nothing is walked and it is judged as prose - is
   still open one parser or one bound over:
   (a) YAML nested deeper than its parser goes: libyaml stops at 1,000 levels ("exceeded maximum nesting depth",
       a YAMLError, caught at :164 as "not YAML"), so a block YAML document 1,100 levels deep naming a node ID is
       accepted (None) - the text: "more ... levels than the walk looks at - being refused unjudged". 900 levels
       (parsed) are refused.
   (b) JSON holding an integer of more than 4,300 digits (Python's int_max_str_digits, a bound of the reading:
       json.loads raises ValueError, :145, the same for the JSON-lines try and YAML) beside a node ID: accepted;
       the same document with a small integer is refused. (Also a YAML document with an impossible date,
       ``when: 2026-02-30``, beside a node ID: PyYAML raises ValueError, accepted - noted, arguably not YAML.)
   (c) gzip of test output followed by bytes that start with gzip's magic but are not a member
       (``\\x1f\\x8b\\x00...``): the member's inflate raises zlib.error and _gunzip returns the *compressed* bytes
       (:179-180), so the test output is never looked at - accepted; ``gzip -dc`` prints the outcome line (then
       "unknown method 0"). Followed by other bytes it is refused.
2. SRS-230 / THR-046 - SRS-230 DEFECT (D2, D3 of this review); THR-046 HOLDS.
   Holds: an audit hook ('import', 'open') around ``device_ai.cli.main(['self-check'])`` and ``-X importtime`` of
   the console script ``.venv/bin/device-ai self-check`` and of ``python -m device_ai.cli self-check``: nothing
   outside the standard library, device_ai and packaging is imported (the only other names are the site's
   _distutils_hack .pth and sitecustomize, and copy.py's attempt at org.python.core - files no RECORD lists,
   THR-046's stated limitation); packaging is first imported after the last file of packaging is hashed; the
   .dist-info files importlib.metadata opens are opened after installed_software's regular-file check. A packaging
   (fake, first on sys.path) with a file missing, a FIFO at a code file, a FIFO or /dev/zero at its METADATA:
   listed, "stopped", exit 14 within seconds, never imported. Shapes: self-check with --debug / --config X /
   --config=X / --config= before or after gives the parser's stdout, stderr and exit code; abbreviations, -h and
   extra words take the parser (SRS-230 names only the global options written out in full). ``--version``,
   ``--help``, an unknown command and no command behave as before (exit 0/0/2/2, no traceback).
   D2 - the split of device_ai.cli breaks ``device-ai conformance``: cli/conformance.py:17 still imports
   build_parser from device_ai.cli, which f1b7b46 moved to device_ai.cli.parser; every ``device-ai conformance``
   ends in DAI-999 (ImportError), exit 70, and tests/node/test_conformance.py's
   test_committed_statement_is_up_to_date and test_cli_writes_the_statement_of_the_effective_configuration
   (SRS-142) fail at 1fcb24f (the commit's message lists only installed_software + reviews 142/144/147/160).
   D3 (minor) - the fast path's own argv reading (cli/__init__.py:33) takes any token after --config as its
   value; the parser refuses an option-like one. ``device-ai --config --debug self-check``, ``--config -h
   self-check`` and ``self-check --config --help`` run the check (exit 14 here) where the whole parser answers a
   usage error (exit 2): the fast path's exit code is not the parser's for a shape it takes.
   Notes, not defects against the text: a ``packaging`` folder without a .dist-info first on sys.path (e.g. the
   working directory under ``python -m``) is imported and runs while the installed packaging verifies - the check
   compares the distribution named packaging, the import takes the first module of that name (a file no RECORD
   lists: THR-046's limitation; ``importlib.util.find_spec('packaging').origin`` against its RECORD would close
   it). .pyc files of packaging are listed without a hash and skipped, as the text says, yet they are what runs.
   THR-046's rationale (self-check imports no library before the check, checks packaging first; every other
   command still imports the libraries first) is true as measured; D2/D3 do not touch it.

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. Scratch files are written
into tmp_path; the repository and its environment are only read.
Records (independent): THR-046. None for SRS-181 (D1) or SRS-230 (D2, D3).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory.record_content import UNJUDGED, generated_test_output

ROOT = Path(__file__).resolve().parents[2]
NODE = "tests/a.py::test_t"
OUTCOME = f"PASSED {NODE}\n".encode()
PROSE = b"Latency study: median 41 ms over 500 runs; criterion met.\n"


def _judge(tmp_path: Path, name: str, data: bytes | str) -> str | None:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return generated_test_output(path)


def _deep_yaml(levels: int, leaf: str) -> str:
    return "".join("  " * i + "k:\n" for i in range(levels)) + "  " * levels + leaf + "\n"


# === 1. SRS-181 =====================================================================================================

@pytest.mark.req("SRS-181")
def test_i1_the_fix_of_160_d1_holds(tmp_path: Path) -> None:
    assert _judge(tmp_path, "d3000.json", "[" * 3000 + json.dumps(NODE) + "]" * 3000) == UNJUDGED
    assert _judge(tmp_path, "d3000n.json", "[" * 3000 + "1" + "]" * 3000) == UNJUDGED
    assert _judge(tmp_path, "many.jsonl", "{}\n" * 200_000 + json.dumps({NODE: 1}) + "\n") == UNJUDGED
    # lead (fix of re-review 165 D1): one value bound for all of a record's documents - 200,000 lines of JSON are
    # past it (each line one value at least), so this record is refused unjudged rather than judged: refused either way
    assert _judge(tmp_path, "limit.jsonl", "{}\n" * 199_999 + json.dumps({NODE: 1}) + "\n") == UNJUDGED
    assert _judge(tmp_path, "under.jsonl", "{}\n" * 1_000 + json.dumps({NODE: 1}) + "\n") not in (None, UNJUDGED)
    assert _judge(tmp_path, "t1.gz", gzip.compress(PROSE, mtime=0) + b"\n" + OUTCOME)
    assert _judge(tmp_path, "t2.gz", gzip.compress(PROSE, mtime=0) + gzip.compress(OUTCOME, mtime=0) + b"garbage")
    assert _judge(tmp_path, "t3.gz", gzip.compress(gzip.compress(PROSE, mtime=0) + b"\n" + OUTCOME, mtime=0))


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


@pytest.mark.req("SRS-181")
def test_d1a_pin_libyaml_stops_at_its_nesting_depth(tmp_path: Path) -> None:
    # lead: D1a fixed (not re-reviewed) - the record is refused unjudged; libyaml's refusal stays what it was
    assert _judge(tmp_path, "deep.yaml", _deep_yaml(1100, NODE)) == UNJUDGED
    with pytest.raises(yaml.YAMLError, match="nesting depth"):
        yaml.load(_deep_yaml(1100, NODE), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.mark.req("SRS-181")
def test_d1a_control_yaml_the_parser_reads_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "deep.yaml", _deep_yaml(900, NODE)) == UNJUDGED


@pytest.mark.req("SRS-181")
def test_d1a_yaml_deeper_than_its_parser_goes_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "deep.yaml", _deep_yaml(1100, NODE)) is not None


BIG_INT = "1" * 5000  # over Python's int_max_str_digits (4,300): json.loads raises ValueError


@pytest.mark.req("SRS-181")
def test_d1b_pin_json_with_a_long_integer_naming_a_node_id_is_walked(tmp_path: Path) -> None:
    # lead: D1b fixed (not re-reviewed) - integers Python will not convert are kept as digits and the document walked
    assert _judge(tmp_path, "big.json", '{"%s": "ran", "n": %s}' % (NODE, BIG_INT)) is not None
    assert _judge(tmp_path, "big.yaml", "%s: ran\nn: %s\nwhen: 2026-02-30\n" % (NODE, BIG_INT)) is not None
    with pytest.raises(ValueError, match="4300"):
        json.loads('{"n": %s}' % BIG_INT)


@pytest.mark.req("SRS-181")
def test_d1b_control_the_same_document_with_a_short_integer_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "small.json", '{"%s": "ran", "n": 5}' % NODE) is not None
    assert _judge(tmp_path, "prose.json", '{"study": "latency", "n": %s}' % BIG_INT) is None


@pytest.mark.req("SRS-181")
def test_d1b_json_past_a_bound_of_its_parser_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "big.json", '{"%s": "ran", "n": %s}' % (NODE, BIG_INT)) is not None


NOT_A_MEMBER = b"\x1f\x8b\x00 not a gzip member"


@pytest.mark.req("SRS-181")
def test_d1c_pin_gzip_of_test_output_then_a_false_member_is_refused(tmp_path: Path) -> None:
    # lead: D1c fixed (not re-reviewed) - what decompressed is judged with the bytes after it
    data = gzip.compress(OUTCOME, mtime=0) + NOT_A_MEMBER
    assert _judge(tmp_path, "out.gz", data) is not None
    assert zlib.decompressobj(wbits=31).decompress(data) == OUTCOME  # what gzip -dc prints before its error


@pytest.mark.req("SRS-181")
def test_d1c_control_gzip_of_test_output_alone_or_with_other_bytes_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "a.gz", gzip.compress(OUTCOME, mtime=0))
    assert _judge(tmp_path, "b.gz", gzip.compress(OUTCOME, mtime=0) + b"garbage")
    assert _judge(tmp_path, "c.gz", gzip.compress(PROSE, mtime=0) + NOT_A_MEMBER) is None


@pytest.mark.req("SRS-181")
def test_d1c_gzip_of_test_output_then_a_false_member_is_refused(tmp_path: Path) -> None:
    assert _judge(tmp_path, "out.gz", gzip.compress(OUTCOME, mtime=0) + NOT_A_MEMBER) is not None


# === 2. SRS-230 / THR-046 ===========================================================================================

_HOOKED = """
import sys
events = []
def hook(event, args):
    if event == "import":
        events.append(("import", args[0]))
    elif event == "open" and isinstance(args[0], str) and "packaging" in args[0]:
        frames, f = [], sys._getframe(1)
        while f is not None:
            frames.append(f.f_code.co_name); f = f.f_back
        events.append(("digest" if "_digest" in frames else "open", args[0]))
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
from device_ai.cli import main
code = main(["self-check"])
print("EVENTS", repr(events))
print("MODULES", sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
                        - {"_distutils_hack", "__main__", "sitecustomize"}))
sys.exit(code)
"""


def _self_check(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _HOOKED, str(site)], capture_output=True, text=True, timeout=60,
                          cwd=site)


def _lines(run: subprocess.CompletedProcess[str], tag: str):  # noqa: ANN202
    [line] = [line for line in run.stdout.splitlines() if line.startswith(tag + " ")]
    return eval(line.removeprefix(tag + " "))  # noqa: S307 - our own repr


@pytest.mark.req("SRS-230")
def test_i2_self_check_imports_packaging_only_after_hashing_it(tmp_path: Path) -> None:
    run = _self_check(tmp_path)
    assert run.returncode in (0, 14) and "Traceback" not in run.stderr, run.stderr
    assert set(_lines(run, "MODULES")) <= {"device_ai", "packaging"}
    events = _lines(run, "EVENTS")
    first_import = next(i for i, (kind, name) in enumerate(events) if kind == "import" and name == "packaging")
    hashed = [i for i, (kind, name) in enumerate(events) if kind == "digest" and "/packaging/" in name]
    assert hashed and max(hashed) < first_import


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _fake_packaging(site: Path, code: bytes) -> None:
    info = "packaging-1.0.dist-info"
    files = {"packaging/__init__.py": code, "packaging/requirements.py": code,
             f"{info}/METADATA": b"Metadata-Version: 2.1\nName: packaging\nVersion: 1.0\n"}
    lines = []
    for relative, data in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(data)
        lines.append(f"{relative},{_hash(data)},{len(data)}")
    (site / info / "RECORD").write_text("\n".join(lines + [f"{info}/RECORD,,"]) + "\n")


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("damage", ["fifo-code", "fifo-metadata", "zero-metadata", "control-untouched"])
def test_i2_a_damaged_packaging_is_listed_and_never_imported(tmp_path: Path, damage: str) -> None:
    marker = tmp_path / "ran"
    _fake_packaging(tmp_path, f"open({str(marker)!r}, 'w').close()\n".encode())
    metadata = tmp_path / "packaging-1.0.dist-info/METADATA"
    if damage == "fifo-code":
        (tmp_path / "packaging/requirements.py").unlink()
        os.mkfifo(tmp_path / "packaging/requirements.py")
    elif damage == "fifo-metadata":
        metadata.unlink()
        os.mkfifo(metadata)
    elif damage == "zero-metadata":
        metadata.unlink()
        metadata.symlink_to("/dev/zero")
    run = _self_check(tmp_path)
    if damage.startswith("control"):  # verifies, so it is imported: its code runs (and lacks Requirement: DAI-600)
        assert marker.exists() and "stopped" not in run.stdout
        return
    assert run.returncode == 14 and "Traceback" not in run.stderr, run.stderr
    assert "unreadable   packaging" in run.stdout and "stopped" in run.stdout
    assert not marker.exists() and "packaging" not in _lines(run, "MODULES")


@pytest.mark.req("SRS-142")
@pytest.mark.req("SRS-230")
def test_d2_pin_conformance_imports_the_parser_from_its_module() -> None:
    # lead: D2 fixed (not re-reviewed) - cli/conformance.py imports build_parser from device_ai.cli.parser
    import device_ai.cli

    assert not hasattr(device_ai.cli, "build_parser")
    assert "from device_ai.cli.parser import build_parser" in (ROOT / "src/device_ai/cli/conformance.py").read_text()


@pytest.mark.req("SRS-142")
@pytest.mark.req("SRS-230")
def test_d2_control_the_parser_still_has_the_commands() -> None:
    from device_ai.cli.parser import build_parser

    parser = build_parser()
    names = {name for action in parser._subparsers._group_actions for name in action.choices}  # noqa: SLF001
    assert {"watch", "conformance", "self-check"} <= names


@pytest.mark.req("SRS-142")
@pytest.mark.req("SRS-230")
def test_d2_conformance_lists_the_commands() -> None:
    from device_ai.cli.conformance import commands

    assert "watch" in commands()


OPTION_AS_VALUE = [["--config", "--debug", "self-check"], ["--config", "-h", "self-check"],
                   ["self-check", "--config", "--help"]]


def _parser_exit(argv: list[str]) -> int | None:
    from device_ai.cli.parser import build_parser

    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code
    return None


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", OPTION_AS_VALUE)
def test_d3_pin_the_parser_refuses_an_option_as_the_value_of_config(argv: list[str]) -> None:
    # lead: D3 fixed (not re-reviewed) - the fast path leaves these to the parser (test below)
    assert _parser_exit(argv) == 2


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", [["--config", "x.yaml", "self-check"], ["--config=--debug", "self-check"],
                                  ["self-check", "--config", "self-check"]])
def test_d3_control_shapes_both_take(argv: list[str]) -> None:
    from device_ai.cli import _self_check_only

    assert _self_check_only(argv) is not None and _parser_exit(argv) is None


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", OPTION_AS_VALUE)
def test_d3_the_fast_path_leaves_a_usage_error_to_the_parser(argv: list[str]) -> None:
    from device_ai.cli import _self_check_only

    assert _self_check_only(argv) is None
