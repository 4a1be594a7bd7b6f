r"""Independent re-review 133 (reviewer helper-133) of the lead's fix c3b2443 of review 132 (SRS-224, THR-035,
issue 19; and the SRS-228 criterion 4 fix of review 132 defect 2), at the approved content 4b201a3. helper-133 wrote
none of the code, texts or tests reviewed. Read: ``git show c3b2443 4b201a3``; app/audit_export.py, audit/
export_verify.py, audit/export_proof.py (ProofBundle), audit/checkpoint.py (note parsing, signer_ids), cli/audit.py
(verify-export), cli/__init__.py (report_error), dicom/paths.py (shortened, printable), app/audit_trail.py
(EntryFilter, parse_time), regulatory/risk_review.py (_benefit), overclaim.overall_acceptable; the texts of SRS-224,
SRS-228 and THR-035. Line numbers: HEAD's (7c532ca, approval 4b201a3).

What a receiver sees is judged with _screen, a small terminal model (80 x 24, wrapping; CR, LF, ESC[2J, ESC[H,
ESC[2K, ESC[nG, ESC[8m/ESC[0m, and the one-byte CSI U+009B); the screens of d1a and d1b were checked against pyte
0.8.2 (a VT emulator, installed under /tmp only, not a dependency).

1. SRS-224, the c3b2443 fix (audit_export.py:103-107): what it does HOLDS, the control it serves does not: DEFECT 1.
   Holds: a value with any character str.isprintable refuses (CR, LF, ESC, NUL, BEL, DEL, NEL, CSI U+009B, U+00A0,
   U+00AD, U+061C, U+200B, U+2028, U+2029, U+202E, U+2066-2069, U+FEFF) is refused with DAI-712 in every key (since,
   until, event, study), nothing on stdout (test_p02; control: the genuine filtered export of that key passes and is
   named); an all-blank value (space, U+3000, U+00A0) is refused (test_p03). The OK line's other fields are checked:
   export_format is a Literal, rendering a strict int, the origin must be the key's name, size and root come from
   the signed note (test_p04). Genuine exports in the three formats, whole and filtered by each key, verify and are
   named (test_p01; control: one byte changed fails).
   DEFECT 1a: the failure lines print text of the bundle and of the export raw. report_error (cli/__init__.py:44)
   only joins whitespace and shortens words of 121+ characters; ESC sequences pass. export_verify.py:111 quotes the
   refused selection (the very value c3b2443 refuses), :76 too; :136-138 and :88 print bundle.software (an
   unchecked str); :131 a pydantic loc (a selection key); :217-218 the keys of an edited FHIR line (the export
   alone, with the genuine bundle); :149-151 signer names (C1 only: _is_text refuses C0). So a refused export - a
   cut one, an edited one, any one - prints "\x1b[0m\x1b[2J\x1b[H<the genuine OK line>\x1b[8m": on a terminal the
   screen shows the genuine whole-log OK line and nothing else, exit status 8 (test_d1a_pin, 5 vectors; control:
   the same payload without ESC shows "error DAI-712", or, the stated value being then printable and met by every
   record, an OK line naming the filter). Wider than review 132 d1: editing a FHIR field needs no bundle change.
   Strict xfail test_d1a_no_failure_line_carries_a_terminal_control_from_the_files. Fix: print every message
   through dicom/paths.printable (or repr the file-given parts), in report_error or at each quote.
   DEFECT 1b: a stated value is not bounded (cli/audit.py:99-104). until = "9" + 3,000 blanks + the genuine OK line
   + blanks is printable, met by every record (text comparison, review 132 N3) and accepted: "selection: the filter
   until=9" scrolls off an 80x24 screen, which shows the genuine whole-log OK line, then "(as the bundle states it;
   ...)" (test_d1b_pin; control: until=9999 is shown as a filter). Strict xfail test_d1b_an_accepted_filter_is_
   named_on_the_screen. Fix: refuse a value longer than an export writes (since/until are 27 characters as
   parse_time writes them), or show it shortened (dicom/paths.shown).
2. Texts: DEFECT (follows from 1). THR-035 (threats.yaml:611-613): "editing, adding or reordering records now
   needs the device's signing key (E2)" is not true of a receiver who reads the screen (d1a: a FHIR edit shows as
   the genuine OK line); :617 "verify-export then names that filter on its OK line" relies on the line d1b scrolls
   away; :624 "SRS-224 is draft (author review only, helper-124 ...)" is stale (reviews 128-133; review 132 N5).
   SRS-224's limits (requirements.yaml:2739-2744: omitted records of a filtered export; a cut export relabelled)
   are true and stated, but neither text says a stated value must be printable or that the receiver must read the
   exit status rather than the screen; SRS-224's acceptance has no negative control for the refusal (test_p10).
3. SRS-228, review 132 d2 fix (risk_review.py:282, :300): DEFECT 2 (SRS-228 stays draft; no record). "ACCEPTABLE.",
   "acceptable.", "Acceptable? Not yet.", "Acceptable.Not yet." fail closed, "Acceptable." and "Acceptable. The
   benefits outweigh ..." hold (test_p20) - right. But the verdict can still be taken back after its sentence:
   "Acceptable.  Not yet decided.", "Acceptable.\n\nHowever not acceptable until the study ends.", "Acceptable. Not
   acceptable." complete the record and pass --release (test_d2_pin; control: "Not yet decided." alone fails):
   overall_acceptable needs one concluding sentence and reads none after it. Strict xfail test_d2_a_statement_that_
   takes_its_verdict_back_leaves_the_record_not_complete. Fix: a typed verdict field (review 129's advice), or no
   sentence after the verdict that negates or defers it.

helper-135, 2026-12-07 (fixer, not re-reviewed): d1a - every error line the CLI prints (report_error, the internal
error line, audit verify's FAIL lines, verify-results' file lines, verify-export's OK line) goes through
cli/common.message_line = dicom/paths.printable(shortened(...)); audit/export_verify.py (which may not import dicom)
cuts each bundle or export word it quotes (selection keys and values, software, a pydantic loc, FHIR field names) to
64 characters. d1b - app/audit_trail.filter_value_problem: a stated since/until must be parse_time's canonical
output, event a code or meaning of audit.entry.EVENTS (any case), study 'study-<16 hex>' or a UI of at most 64
digits and dots; verify-export refuses another with DAI-712 naming the key, and audit show/export refuse such
--event/--study with DAI-100 (entry_filter), so an export never states a filter its receiver refuses. d2 -
risk/benefit.yaml has a required typed overall_residual_risk_verdict (acceptable | not_acceptable | undecided; the
repository's: not_acceptable, as its prose says), criterion 4 holds only for acceptable, and overclaim rule 4 counts
the verdict acceptable as a conclusion. Pins inverted (d1a, d1b, d2), xfails made plain tests, p10 and p20 rewritten
for the new texts and the typed verdict; controls that stated until=9999 state 9999-12-31T23:59:59.999999Z; the
taken_back projects type their verdict undecided (tests/review/test_review_129._statement's default). Authors'
tests added: tests/audit/test_export_proofs.py (typed values per key with controls, export-side refusal, escaped
field names) and tests/regulatory/test_risk_review.py (the typed verdict).

Mutation check (copies of HEAD's src/ by git archive into /tmp/h133src/<name>/src by /tmp/h133src/mutate.py, models/
linked beside, this file run with the copy first on PYTHONPATH; /work/main/src untouched; null copy: 27 passed, 3
xfailed). Fix undone or narrowed: U1 no printable refusal (audit_export.py:106-107): p02 x4, d1a_pin; U2 only CR and
ESC refused: p02 x4; U3 no blank refusal (:101-102): p03; U4 printable refusal for since/until only: p02[event],
p02[study]; U5 verdict back to r"\s*Acceptable\b" (risk_review.py:282): p20; U6 verdict in any case: p20. 6 mutants,
6 killed. Fix mutants: F1 report_error prints through dicom/paths.printable, F2 the OK line shows each value through
dicom/paths.shown, F3 no "not/undecided/pending/however" in a concluding statement: each flips only its pin and its
strict xfail; the authors' tests/audit/test_export_proofs.py pass under F1 and F2 (16 passed) and at HEAD.

Records: none (SRS-224 and THR-035 have defects; SRS-228 stays draft).
NOT checked: real terminals other than via pyte; Windows consoles; bidi rendering of printable RTL letters.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from device_ai import cli
from tests import fast_yaml
from tests.review.test_review_129 import _mini, _record, _release, _statement

ROOT = Path(__file__).resolve().parents[2]
NAME = "audit.fhir"  # the receiver's file name: the OK line quotes it
FAR = "9999-12-31T23:59:59.999999Z"  # a stated 'until' every record meets, in the form audit export writes


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


# === set-up, shared: one log, its key, genuine exports (three formats; whole, and filtered by each key) ========

@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from device_ai.audit.entry import ANALYSIS_RUN, APPLICATION_ACTIVITY, AuditObject
    from device_ai.audit.log import AuditLog

    root = tmp_path_factory.mktemp("h133")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVICE_AI_HOME", str(root / "home"))
        patch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")
        patch.delenv("DEVICE_AI_AUDIT_COPY_DIR", raising=False)
        log = root / "log"
        with AuditLog.open(log) as audit:
            audit.append(APPLICATION_ACTIVITY)
            for count in range(5):
                audit.append(ANALYSIS_RUN, action="C", objects=(AuditObject(kind="study", id=f"study-{count:016x}"),),
                             details={"lesion_count": str(count)})
        code, key, err = _cli("audit", "public-key")
        assert code == 0, err
        whole = {fmt: _export(root, log, fmt) for fmt in ("fhir", "atna", "leaves")}
        times = [json.loads(base64.b64decode(r["leaf"]))["time_utc"] for r in json.loads(whole["leaves"][1])["records"]]
        filtered = {"since": _export(root, log, "fhir", "--since", times[2]),
                    "until": _export(root, log, "atna", "--until", times[3]),
                    "event": _export(root, log, "leaves", "--event", "Analysis Run"),
                    "study": _export(root, log, "fhir", "--study", "study-0000000000000002")}
    return {"key": key.strip(), "whole": whole, "filtered": filtered}


def _export(root: Path, log: Path, fmt: str, *extra: str) -> tuple[bytes, bytes]:
    out = root / f"{fmt}-{len(list(root.iterdir()))}"
    code, _, err = _cli("audit", "export", "--dir", str(log), "--format", fmt, "--out", str(out), *extra)
    assert code == 0, err
    return out.read_bytes(), Path(f"{out}.proof.json").read_bytes()


def _verify(made: dict[str, Any], where: Path, export: bytes, bundle: bytes | dict) -> tuple[int, str, str]:
    where.mkdir(parents=True, exist_ok=True)
    path = where / NAME
    path.write_bytes(export)
    Path(f"{path}.proof.json").write_bytes(bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode())
    with contextlib.chdir(where):  # the receiver runs it where the files are: the OK line quotes NAME
        return _cli("audit", "verify-export", NAME, "--key", made["key"])


def _cut(export: bytes, bundle: bytes, drop: int = 3) -> tuple[bytes, dict]:
    lines, proof = export.decode().splitlines(), json.loads(bundle)
    del lines[drop], proof["records"][drop]
    return "".join(f"{line}\n" for line in lines).encode(), proof


# === a terminal, as far as these probes need one ==========================================================

_CSI = re.compile(r"(?:\x1b\[|\x9b)([0-9;]*)([A-Za-z])")


def _screen(text: str, width: int = 80, height: int = 24) -> str:
    """What an 80x24 terminal shows after ``text``: lines wrap at ``width``; LF starts a new row (onlcr), CR goes
    to column 0, ESC[2J blanks the screen, ESC[H homes the cursor, ESC[2K blanks the row, ESC[nG moves to column n,
    ESC[8m draws what follows as blanks until ESC[0m; the top rows scroll away."""
    rows: list[list[str]] = [[]]
    row = column = at = 0
    hidden = False
    while at < len(text):
        if sequence := _CSI.match(text, at):
            params, final = sequence[1], sequence[2]
            top = max(0, len(rows) - height)
            if final == "J" and params == "2":
                rows[top:] = [[] for _ in rows[top:]]
            elif final == "H":
                row, column = top, 0
            elif final == "K" and params == "2":
                rows[row] = []
            elif final == "G":
                column = int(params or 1) - 1
            elif final == "m":
                hidden = "8" in params.split(";") or (hidden and params not in ("", "0"))
            at = sequence.end()
            continue
        char = text[at]
        at += 1
        if char == "\n":
            row, column = row + 1, 0
        elif char == "\r":
            column = 0
        elif char.isprintable():
            if column >= width:
                row, column = row + 1, 0
            rows.extend([] for _ in range(row + 1 - len(rows)))
            rows[row].extend(" " for _ in range(column + 1 - len(rows[row])))
            rows[row][column] = " " if hidden else char
            column += 1
        rows.extend([] for _ in range(row + 1 - len(rows)))
    shown = ["".join(cells).rstrip() for cells in rows][-height:]
    return "\n".join(shown).strip("\n")


@pytest.mark.req("SRS-224")
def test_p00_the_terminal_model_draws_what_it_is_given() -> None:
    """Control of the model itself: plain text wraps; ESC[2J ESC[H clears and homes; ESC[8m hides."""
    assert _screen("x" * 85) == "x" * 80 + "\n" + "x" * 5
    assert _screen("error\x1b[2J\x1b[HOK\x1b[8m secret\nmore") == "OK"
    assert _screen("line\r\x1b[2KOK") == "OK" and _screen("a\x1b[3Gb") == "a b"
    assert "\n".join(f"r{n}" for n in range(6, 30)) == _screen("\n".join(f"r{n}" for n in range(30)))


# === 1. SRS-224: the stated filter and the lines verify-export prints =====================================

@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("case", ["fhir", "atna", "leaves", "since", "until", "event", "study"])
def test_p01_genuine_exports_verify_and_are_named(made: dict[str, Any], tmp_path: Path, case: str) -> None:
    export, bundle = made["whole"][case] if case in made["whole"] else made["filtered"][case]
    code, out, err = _verify(made, tmp_path, export, bundle)
    assert code == 0 and err == "" and out.startswith("OK: "), err
    stated = json.loads(bundle)["selection"]
    assert out.rstrip().endswith("selection: the whole log") if case in made["whole"] else \
        f"selection: the filter {case}={stated[case]} (as the bundle states it" in out
    changed = export.replace(b"study-0000000000000002", b"study-0000000000000003", 1)  # control: one byte
    if changed == export:
        changed = export[:-2] + bytes([export[-2] ^ 1]) + export[-1:]
    code, out, err = _verify(made, tmp_path, changed, bundle)
    assert code == 8 and out == "" and "DAI-712" in err


UNPRINTABLE = {"CR": "\r", "LF": "\n", "ESC": "\x1b", "NUL": "\x00", "BEL": "\x07", "DEL": "\x7f", "NEL": "\x85",
               "CSI": "\x9b", "NBSP": "\u00a0", "SHY": "\u00ad", "ALM": "\u061c", "ZWSP": "\u200b", "LS": "\u2028",
               "PS": "\u2029", "RLO": "\u202e", "LRI": "\u2066", "RLI": "\u2067", "FSI": "\u2068", "PDI": "\u2069",
               "BOM": "\ufeff"}


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("key", ["since", "until", "event", "study"])
def test_p02_a_value_with_any_unprintable_character_is_refused_in_every_key(made: dict[str, Any], tmp_path: Path,
                                                                            key: str) -> None:
    export, bundle = made["filtered"][key]
    assert _verify(made, tmp_path / "control", export, bundle)[0] == 0  # control: the genuine value passes
    for label, char in UNPRINTABLE.items():
        proof = json.loads(bundle)
        value = proof["selection"][key]
        for placed in (char + value, value[:4] + char + value[4:], value + char):
            proof["selection"][key] = placed
            code, out, err = _verify(made, tmp_path / label, export, proof)
            assert code == 8 and out == "" and "not printable" in err, (label, err)


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("blank", [" ", "\t \t", "\u3000", "\u00a0\u00a0"])
def test_p03_an_all_blank_value_is_refused(made: dict[str, Any], tmp_path: Path, blank: str) -> None:
    export, bundle = _cut(*made["whole"]["fhir"])
    proof = {**bundle, "selection": {"until": blank}}
    code, out, err = _verify(made, tmp_path, export, proof)
    assert code == 8 and out == "" and ("is empty" in err or "not printable" in err), err
    # control (helper-135: the value must be a time as audit export writes it since the fix of d1b; was "9999")
    code, out, _ = _verify(made, tmp_path, export, {**bundle, "selection": {"until": FAR}})
    assert code == 0 and f"selection: the filter until={FAR} (" in out


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize(("field", "value"), [("export_format", "fhir\x1b[2J"), ("export_format", "FHIR"),
                                              ("rendering", "1"), ("rendering", 1.0), ("selection", ["until", "9"]),
                                              ("bundle_version", 2)])
def test_p04_the_ok_lines_other_fields_from_the_bundle_are_checked(made: dict[str, Any], tmp_path: Path,
                                                                  field: str, value: Any) -> None:
    """The OK line prints from the bundle only export_format (a Literal), the selection, and origin, size and root
    of the signed note (origin must be the verifier key's name); a different type or value is refused."""
    export, bundle = made["whole"]["fhir"]
    assert _verify(made, tmp_path, export, bundle)[0] == 0  # control
    code, out, err = _verify(made, tmp_path, export, {**json.loads(bundle), field: value})
    assert code == 8 and out == "" and "DAI-712" in err, err


def _genuine_ok(made: dict[str, Any], tmp_path: Path) -> str:
    code, out, err = _verify(made, tmp_path / "genuine", *made["whole"]["fhir"])
    assert code == 0 and out.rstrip().endswith("selection: the whole log"), err
    return out.rstrip("\n")


def _payload(genuine: str, escape: bool = True) -> str:
    """Show what follows, clear the screen, home the cursor, draw the genuine OK line, hide what follows (a message
    that quotes it twice draws it twice); without ``escape``, the same text with ESC replaced by '?' (the control)."""
    text = f"\x1b[0m\x1b[2J\x1b[H{genuine}\x1b[8m"
    return text if escape else text.replace("\x1b", "?")


def _vectors(made: dict[str, Any], payload: str) -> dict[str, tuple[bytes, bytes | dict]]:
    """Refused exports carrying ``payload`` where a failure line quotes it: the stated value (the fix's own
    refusal), a selection key, bundle.software with another rendering, a selection key of a non-string value (a
    pydantic loc), and a key added to an edited FHIR line of the export with the genuine bundle."""
    export, bundle = made["whole"]["fhir"]
    cut, proof = _cut(export, bundle)
    lines = export.decode().splitlines()
    edited = json.loads(lines[2])
    edited[payload] = 1
    lines[2] = json.dumps(edited)
    return {
        "stated value": (cut, {**proof, "selection": {"until": f"9{payload}"}}),
        "selection key": (cut, {**proof, "selection": {payload: "9"}}),
        "software": (export, {**json.loads(bundle), "rendering": 99, "software": payload}),
        "pydantic loc": (cut, {**proof, "selection": {payload: 9}}),
        "edited FHIR line": ("".join(f"{line}\n" for line in lines).encode(), bundle),
    }


@pytest.mark.req("SRS-224")
def test_d1a_pin_a_refused_export_no_longer_shows_the_genuine_ok_line(made: dict[str, Any], tmp_path: Path) -> None:
    """Pin of DEFECT 1a, inverted by helper-135's fix (every error line through dicom.paths.printable): every vector
    is refused (exit 8), no ESC reaches stderr, and the terminal does not show the genuine whole-log OK line alone."""
    genuine = _genuine_ok(made, tmp_path)
    for name, (export, bundle) in _vectors(made, _payload(genuine)).items():
        code, out, err = _verify(made, tmp_path / name.replace(" ", "-"), export, bundle)
        assert code == 8 and out == "" and "\x1b" not in err, (name, err)
        assert _screen(out + err) != _screen(genuine), (name, _screen(err))
    # control: the same payloads without ESC: the screen shows the refusal, or (a printable stated value every
    # record meets) the OK line naming the filter
    for name, (export, bundle) in _vectors(made, _payload(genuine, escape=False)).items():
        code, out, err = _verify(made, tmp_path / f"c-{name.replace(' ', '-')}", export, bundle)
        screen = _screen(out + err)
        assert screen != _screen(genuine) and (screen.startswith("error DAI-712") if code == 8 else
                                               name == "stated value" and "filter until=9?[0m" in screen), name


@pytest.mark.req("SRS-224")
def test_d1a_no_failure_line_carries_a_terminal_control_from_the_files(made: dict[str, Any], tmp_path: Path) -> None:
    genuine = _genuine_ok(made, tmp_path)
    shown = {}
    for name, (export, bundle) in _vectors(made, _payload(genuine)).items():
        code, out, err = _verify(made, tmp_path / name.replace(" ", "-"), export, bundle)
        shown[name] = (code, _screen(out + err).startswith("error DAI-712"),
                       any(not (c.isprintable() or c == "\n") for c in out + err))
    assert shown == {name: (8, True, False) for name in shown}


def _long(genuine: str) -> dict[str, str]:
    """A printable value every record meets (text comparison) that scrolls 'the filter until=9' off the screen: the
    OK line's start, blanks to the start of a row 40 rows on, the genuine OK line, blanks to the end of its row."""
    start = genuine.replace("OK: 6 ", "OK: 5 ", 1).split("selection: ")[0] + "selection: the filter until=9"
    return {"until": "9" + " " * (80 * 40 - len(start)) + genuine + " " * (80 - len(genuine) % 80)}


@pytest.mark.req("SRS-224")
def test_d1b_pin_a_long_printable_value_is_refused_and_quoted_short(made: dict[str, Any], tmp_path: Path) -> None:
    """Pin of DEFECT 1b, inverted by helper-135's fix (a stated value must be of its key's type: until a time as
    audit export writes it): the long value is refused (exit 8) naming the key, the message quotes it cut short,
    and the screen starts with the refusal, not the genuine OK line."""
    genuine = _genuine_ok(made, tmp_path)
    export, proof = _cut(*made["whole"]["fhir"])
    code, out, err = _verify(made, tmp_path / "long", export, {**proof, "selection": _long(genuine)})
    assert code == 8 and out == "" and "until is not a UTC time as audit export writes it" in err, err
    screen = _screen(err)
    assert screen.startswith("error DAI-712") and _screen(genuine) not in screen and len(err) < 1000, screen
    # control: a short value of its type is named on the screen
    code, out, _ = _verify(made, tmp_path / "short", export, {**proof, "selection": {"until": FAR}})
    assert code == 0 and f"selection: the filter until={FAR} (" in " ".join(_screen(out).split())


@pytest.mark.req("SRS-224")
def test_d1b_an_accepted_filter_is_named_on_the_screen(made: dict[str, Any], tmp_path: Path) -> None:
    genuine = _genuine_ok(made, tmp_path)
    export, proof = _cut(*made["whole"]["fhir"])
    code, out, _ = _verify(made, tmp_path / "long", export, {**proof, "selection": _long(genuine)})
    assert code == 8 or "filter" in _screen(out)


# === 2. Texts: SRS-224 and THR-035 ===========================================================================

def _text(kind: str, item: str) -> str:
    import yaml

    path, key = {"threat": ("security/threats.yaml", "threats"),
                 "requirement": ("traceability/requirements.yaml", "software_requirements")}[kind]
    data = fast_yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    node = next(n for n in data[key] if n["id"] == item)
    return " ".join(" ".join(str(node.get(f, "")) for f in ("text", "attack", "rationale")).split())


@pytest.mark.req("SRS-224")
def test_p10_what_the_texts_claim_and_leave_out(made: dict[str, Any], tmp_path: Path) -> None:
    """Inverted by helper-135: THR-035 no longer says an edit needs the signing key without the exit status (d1a),
    names the typed stated values, and drops the stale 'author review only'; SRS-224 states that stated values must
    be printable and of their type and that the receiver relies on the exit status; its limits stay. (Control: a
    phrase the texts do not hold is not found.)"""
    threat, requirement = _text("threat", "THR-035"), _text("requirement", "SRS-224")
    assert "editing, adding or reordering records now needs the device's signing key (E2)" not in threat
    assert "acts on its exit status (8: not verified; every failure line is printed with the characters" in threat
    assert "each stated value must be printable and of its type as audit export writes it" in threat
    assert "author review only" not in threat
    assert "records left out of both files of a filtered export go unnoticed" in requirement
    assert "any record can be cut from an export relabelled with a filter the remaining records meet" in requirement
    assert "shall be printable and of its type as audit export writes it" in requirement
    assert "the receiver relies on the exit status (0 verified, 8 not), not on what the screen shows" in requirement
    assert "fixed by helper-135" in requirement and "not re-reviewed" in requirement
    assert "THR-099" not in threat  # control


# === 3. SRS-228: criterion 4's verdict (review 132 defect 2 fix) ============================================

class _Ctx:
    """The one thing _benefit reads from the graph: the benefit-risk node."""

    def __init__(self, statement: Any, verdict: str) -> None:
        self.statement, self.verdict = statement, verdict

    def of_kind(self, kind: str):  # noqa: ANN201
        assert kind == "benefit_risk"
        yield {"id": "BENEFIT-RISK-001", "fields": {"overall_residual_risk": self.statement,
                                                    "overall_residual_risk_verdict": self.verdict}}


def _criterion_4(statement: Any, verdict: str) -> bool:
    from device_ai.regulatory.risk_review import _benefit

    return _benefit(_Ctx(statement, verdict), []).holds


@pytest.mark.req("SRS-228")
def test_p20_the_verdict_is_the_typed_field_not_the_prose() -> None:
    """helper-135: the prose reader this test judged (the verdict 'Acceptable.' as a sentence first) is replaced by
    the typed overall_residual_risk_verdict; no prose concludes without it, and none takes it back."""
    for text in ("ACCEPTABLE.", "acceptable.", "Acceptable? Not yet.", "Acceptable: not yet decided.",
                 "Acceptable.Not yet.", "Not acceptable.", "Acceptable, once the study ends.", "Acceptable."):
        assert not _criterion_4(text, "undecided") and not _criterion_4(text, "not_acceptable"), text
    for text in ("Acceptable.", "  Acceptable. The benefits outweigh the residual risks.", "Acceptable.\n"):
        assert _criterion_4(text, "acceptable"), text  # control


TAKEN_BACK = ["Acceptable.  Not yet decided.", "Acceptable.\n\nHowever not acceptable until the study ends.",
              "Acceptable. Not acceptable."]


@pytest.fixture(scope="module")
def taken_back(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("h133-mini")
    return [_mini(root / f"s{index}", _statement(text)) for index, text in enumerate(TAKEN_BACK)]


@pytest.mark.req("SRS-228")
def test_d2_pin_a_verdict_is_typed_and_the_prose_cannot_take_it_back(taken_back: list[dict[str, Any]],
                                                                     tmp_path: Path) -> None:
    """Pin of DEFECT 2, inverted by helper-135's fix (criterion 4 reads overall_residual_risk_verdict): each
    statement, its verdict typed undecided, leaves the record not complete and fails the release gate; 'Acceptable.'
    typed not_acceptable fails too."""
    for text, graph in zip(TAKEN_BACK, taken_back, strict=True):
        assert not _record(graph).complete and not _release(graph).passed, text
    graph = _mini(tmp_path / "typed-no", _statement("Acceptable.", "not_acceptable"))
    assert not _record(graph).complete and not _release(graph).passed
    graph = _mini(tmp_path / "control", _statement("Not yet decided.", "acceptable"))  # control: typed acceptable
    assert _record(graph).complete and _release(graph).passed


@pytest.mark.req("SRS-228")
def test_d2_a_statement_that_takes_its_verdict_back_leaves_the_record_not_complete(
        taken_back: list[dict[str, Any]]) -> None:
    assert not any(_record(graph).complete for graph in taken_back)
