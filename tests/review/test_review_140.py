r"""Independent re-review 140 (reviewer helper-140) of the fixes of reviews 129 d3 and 133 (issue 19), at the approved
content c2effc8: helper-135's 4f21951 (SRS-224 d1a/d1b, SRS-228 d2) and the lead's a3b6286 (SRS-227, review 129 d3).
helper-140 wrote none of the code, texts or tests reviewed. Read: ``git show 4f21951 a3b6286 c2effc8``; cli/audit.py,
cli/common.py (message_line), cli/__init__.py (report_error), dicom/paths.py (printable, shortened), app/audit_trail.py
(parse_time, filter_value_problem, entry_filter), app/audit_export.py (_stated_filter), audit/export_verify.py,
audit/checkpoint.py (signer_ids), audit/verify.py (VerifyReport.skipped_line), audit/log.py (OtherLog.label),
app/result_check.py, regulatory/post_production.py, risk_review.py (_residuals, _benefit, _post_production),
render/risk_review.py, risk_report.html.j2, items.py (BenefitRisk), risk/benefit.yaml, cli/analysis.py,
cli/anonymize.py; the texts of SRS-224, SRS-227, SRS-228 and THR-035. Line numbers: HEAD's (c2effc8 + reviews).
Screens are judged with review 133's terminal model (test_review_133._screen, 80 x 24).

1. SRS-224 / THR-035: DEFECT (three), the rest HOLDS.
   Holds: genuine exports in the three formats, whole and filtered by each key, verify and are named (test_p01;
   control: one byte changed fails). Every time form audit export takes (a date, a time, a UTC offset, Z, 'today',
   'yesterday', 30m, 24h, 7d), event by code or meaning in any case and study by pseudonym or UID is stated in the
   form verify-export accepts (test_p02; control: a stated time not in parse_time's form, an unknown event and an
   uppercase pseudonym are refused naming the key). No line verify-export, audit verify (FAIL lines) or
   verify-results prints carries a terminal control from the files: ESC and CSI in a selection key or value, the
   software name, a pydantic loc, a FHIR key, a signer name, a note's name, a result file's name are shown as '?'
   (test_p03, test_p04; control: the genuine files pass).
   DEFECT 1 (export states what verify refuses): parse_time (app/audit_trail.py:52) writes a year before 1000
   without its leading zeros ('999-06-01T00:00:00.000000Z', strftime %Y), and entry_filter (:86-93) checks only
   event and study with filter_value_problem. `audit export --since 0999-06-01` exits 0 and writes a bundle whose
   receiver's verify-export refuses it (exit 8, "since is not a UTC time as audit export writes it"); the same
   text comparison also selects 0 of 7 entries, all of which are after the year 999 (--since 0001-01-01 selects
   all) (test_d1_pin; control: --since 1000-01-01 verifies). SRS-224's "audit export shall refuse such a filter
   too (DAI-100)" and entry_filter's docstring ("an export never states a filter its receiver's verify-export
   refuses") are untrue. Strict xfail test_d1_an_export_states_only_a_filter_its_receiver_accepts.
   DEFECT 2 (a stated time out of range is an internal error): filter_value_problem (app/audit_trail.py:67-71) calls
   parse_time on the bundle's text and catches only ConfigError; datetime.astimezone raises OverflowError for
   '9999-12-31T23:59:59.999999-01:00' or '0001-01-01T00:00:00+01:00', which _selection_test
   (audit/export_verify.py:110, TypeError/ValueError) does not catch: verify-export exits 70 "DAI-999 internal
   error" instead of DAI-712 exit 8 naming the key (new with 4f21951: the stated value was not parsed before).
   SRS-224: "or be refused with DAI-712 naming the key", "the receiver relies on the exit status (0 verified,
   8 not)". Fails closed (not 0). The export side: `audit export --since 99999999d` (or a time whose UTC is
   out of range) exits DAI-999 too, not DAI-100 (parse_time:45-51, older). Pins test_d2_pin; strict xfails
   test_d2_a_stated_time_out_of_range_is_refused_naming_the_key (verify side),
   test_d2_audit_export_refuses_a_time_out_of_range (export side); control: a stated time with an offset in range
   is refused with DAI-712 exit 8.
   DEFECT 3 (signer names quoted uncut): SRS-224 says every line verify-export prints quotes "a word of the bundle
   or the export cut short"; the failure line of a checkpoint the key did not sign lists every signature line's
   name in full (audit/export_verify.py:157-163, signer_ids at audit/checkpoint.py:103-116: a name is everything
   between the dash and the last blank, blanks included). One crafted signature line makes a 3,000-character
   error line (any length: one per signature line) that scrolls "error DAI-712" off an 80 x 24 screen and shows
   the genuine whole-log OK line's text, followed by the failure's tail "(key ID 00000000). It is another log's
   or another key's checkpoint ..." and its hint; exit 8 (test_d3_pin; control: a short name gives a short error
   that starts the screen). Weaker than review 133's d1a/d1b (the tail stays visible), but the text's claim is
   untrue and THR-035's "no file can redraw it as an OK line" rests on it. Strict xfail
   test_d3_a_failure_line_quotes_the_bundles_words_cut_short.
   Texts: SRS-224 DEFECT (the three claims above); THR-035 DEFECT (follows from 3; its other claims hold: the
   exit status, the stated values' type, the residual paths). No other text of either was found untrue.
2. SRS-228 / BENEFIT-RISK: HOLDS. The verdict is a strict Literal: 'Acceptable', 'yes', '', null, true and a
   missing verdict are refused on load naming risk/benefit.yaml (test_h10). A verdict acceptable beside an
   unacceptable residual (RISK-001 residual P2) does not complete the record: criterion 1 names RISK-001 (with the
   prose 'Acceptable.' and with 'Not acceptable.'), and the release gate fails with RISK-REVIEW (test_h11; control:
   the mini project complete). The repository's verdict not_acceptable is what its prose ('Not acceptable (ISO
   14971 clause 8 ...') and statement ('not acceptable for clinical use') say, and criterion 4 names it
   (test_h12). The verdict is fingerprinted: a verdict turned acceptable after the review makes BENEFIT-RISK
   changed since review, (a) names it and the record is not complete (test_h13; controls: reviewed as acceptable
   it completes; another verdict gives another fingerprint). The risk report shows "Verdict: <value>." in section
   6 (test_h14; control: the other value absent).
   Notes (no defect, by the texts' design): N1 a verdict acceptable beside prose "Not acceptable." in an otherwise
   complete project completes the record (the rationale leaves prose to the approvers; overclaim rule 4 reads the
   prose, so no gate finding either) (test_h11). N2 a threat whose residual is unacceptable does not enter
   criterion 1 (hazardous situations only; RISK_FILE_KINDS has no threat): the record completes while the release
   gate fails with the threat's gap (test_h11) - SRS-228 defines (a) over the risk file; ISO 14971 clause 8's
   "overall residual risk" read with the security risks is for RA. N3 review 133's helper-135 paragraph says
   "overclaim rule 4 counts the verdict acceptable as a conclusion"; 4f21951's message and the code say rule 4 is
   left on the prose (overclaim.py unchanged) - the paragraph is stale.
3. SRS-227 (review 129 d3 fix): HOLDS. The reference without a security plan is a missing part in the gate's gap
   (post_production.py:48-50), the record's (c) and section 7 of the risk report, naming "the security plan the
   vulnerabilities source refers to" (test_h23; control: with the plan none of the three). A security_plan that
   fails validation is refused on load naming security/plan.yaml (test_h20); a file that holds another key only
   is refused too. The reference spelled './security/plan.yaml', 'security//plan.yaml', 'security/./plan.yaml'
   with the plan present is a missing part in gate and record (test_h21; control: the exact spelling). A plan
   whose vulnerabilities source has no reference is a missing part in gate, record and report (test_h22).
4. Other CLI commands (message_line): HOLDS for what was asked. analyze of a file named with ESC, of a folder of
   two such files, and anonymize of them print the typed error line and each problem with '?' for ESC; the
   quarantine listing shows labels (file-000001), not names; nothing else printed raw from the files (test_h30;
   control: the names do hold ESC, and are shown escaped).
   DEFECT 4 (outside the items re-reviewed here: SRS-145/SRS-156, THR-034): `audit verify` prints its "not ours"
   line raw (cli/audit.py:26-27); it names other logs' subfolders of a copy location or of a --checkpoint folder
   by OtherLog.label (audit/log.py:91-93), which percent-decodes the folder name. A subfolder named
   '%1B[2J%1B[HOK: 7 records, root ..., 1 checkpoint(s) verified and consistent%1B[8m+deadbeef' holding one
   *.note makes `audit verify` of an altered log (exit 8, two FAIL lines) show on the screen only the genuine OK
   line (test_d4_pin; control: the same name without %1B shows the FAIL lines). 4f21951 escaped the FAIL lines
   only. Strict xfail test_d4_audit_verify_prints_no_terminal_control_from_a_shared_folder.
   Note N4: analyze/anonymize echo their own arguments raw on success lines (outputs in: OUT, into OUT, under IN);
   the operator typed them (a shell glob over a share would bring a file's name there).

Lead, 2026-12-07 (not re-reviewed): D1 fixed - parse_time writes each field with its width (a year before 1000 with
four digits), so audit export states 0999-...; D2 fixed - parse_time turns OverflowError (timedelta arithmetic,
astimezone out of years 1-9999) into its ConfigError, so export refuses with DAI-100 and verify-export with DAI-712
naming the key; D3 fixed - the unsigned-checkpoint failure lists at most 8 signers, each name cut to 64 characters;
D4 fixed - audit verify prints its "not ours" line through dicom/paths.printable. The four pins assert the fixes
and the xfails are plain tests.

Mutation check (copies of HEAD 2cb6fcd's src/ by git archive into /tmp/h140src/<name>/src by /tmp/h140src/mutate.py,
models/ linked beside, this file run with the copy first on PYTHONPATH; /work/main/src untouched; null copy: 25 passed,
5 xfailed). Fix undone: M01 report_error through shortened only (cli/__init__.py): p03, p04; M02 FAIL lines raw: p04;
M03 verify-results file lines raw: p04; M04 filter_value_problem accepts everything: p02, d1 pin, d2 pin (and d1's
xfail passes); M05 entry_filter checks no key: p02; M06 _cut returns its text: p03; M07 the verdict out of
BenefitRisk's fingerprint: h13; M08 criterion 4 reads the prose ('Acceptable.' first): h11, h12; M09 the report
without the verdict: h14; M10 missing_parts without the security-plan part: h23; M11/M12/M13 the report, the record,
the gate passing security_plan=True: h23 each; M14 the verdict a plain str: h10. 14 mutants, 14 killed. Fix
mutants: F1 parse_time writes the year with four digits, F2 parse_time turns OverflowError into a ConfigError, F3
signer names cut (_cut, at most 8), F4 the "not ours" line through printable: each flips only its pin and its
strict xfail(s) (2, 3, 2, 2 failures; 24 passed).

Records: SRS-227, SRS-228, BENEFIT-RISK, POST-PRODUCTION-PLAN (independent). None for SRS-224 and THR-035 (defects
1-3); none for SRS-145/156/THR-034 (not re-reviewed here, defect 4 reported).
NOT checked: real terminals (only the model); Windows consoles; the node's and watch's log lines.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai import cli
from tests import fast_yaml
from tests.regulatory.miniproject import default_items, write_project
from tests.review.test_review_129 import _mini, _named, _plan, _record, _release, _statement, _without_security_plan
from tests.review.test_review_133 import _screen

ROOT = Path(__file__).resolve().parents[2]
NAME = "audit.fhir"  # the receiver's file name: the OK line quotes it
ESC = "\x1b[2J\x1b[H"
C1 = "\x9b2J"  # the one-byte CSI: _is_text (checkpoint.py) refuses C0 in a note, not C1


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def _controls(text: str) -> list[str]:
    """The characters of ``text`` a terminal acts on (line ends aside)."""
    return [c for c in text if not (c.isprintable() or c == "\n")]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")
    monkeypatch.delenv("DEVICE_AI_AUDIT_COPY_DIR", raising=False)


# === set-up, shared: one log with a published result, its key, genuine exports ================================

@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from device_ai.audit.entry import ANALYSIS_RUN, APPLICATION_ACTIVITY, AuditObject
    from device_ai.audit.log import AuditLog
    from device_ai.audit.result_files import published_files

    root = tmp_path_factory.mktemp("h140")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVICE_AI_HOME", str(root / "home"))
        patch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")
        patch.delenv("DEVICE_AI_AUDIT_COPY_DIR", raising=False)
        log, result = root / "log", root / "result"
        result.mkdir()
        (result / "summary.json").write_text('{"lesion_count": 1}\n', encoding="utf-8")
        (result / "segmentation.dcm").write_bytes(b"synthetic, not DICOM")
        with AuditLog.open(log) as audit:
            audit.append(APPLICATION_ACTIVITY)
            for count in range(5):
                audit.append(ANALYSIS_RUN, action="C", objects=(AuditObject(kind="study", id=f"study-{count:016x}"),))
            audit.append(ANALYSIS_RUN, action="C", objects=published_files(result))
            audit.checkpoint()
        code, key, err = _cli("audit", "public-key")
        assert code == 0, err
        made = {"root": root, "log": log, "result": result, "key": key.strip()}
        made["whole"] = {fmt: _export(made, fmt) for fmt in ("fhir", "atna", "leaves")}
        leaves = json.loads(made["whole"]["leaves"][1])["records"]
        made["times"] = [json.loads(base64.b64decode(r["leaf"]))["time_utc"] for r in leaves]
        made["filtered"] = {"since": _export(made, "fhir", "--since", made["times"][2]),
                            "until": _export(made, "atna", "--until", made["times"][3]),
                            "event": _export(made, "leaves", "--event", "Analysis Run"),
                            "study": _export(made, "fhir", "--study", "study-0000000000000002")}
    return made


def _export(made: dict[str, Any], fmt: str, *extra: str) -> tuple[bytes, bytes]:
    code, out, err = _export_code(made, fmt, *extra)
    assert code == 0, err
    return out


def _export_code(made: dict[str, Any], fmt: str, *extra: str) -> tuple[int, tuple[bytes, bytes] | None, str]:
    root = made["root"]
    out = root / f"{fmt}-{len(list(root.iterdir()))}"
    with pytest.MonkeyPatch.context() as patch:  # the home that holds the log's signing key
        patch.setenv("DEVICE_AI_HOME", str(root / "home"))
        code, _, err = _cli("audit", "export", "--dir", str(made["log"]), "--format", fmt, "--out", str(out), *extra)
    if code != 0:
        return code, None, err
    return code, (out.read_bytes(), Path(f"{out}.proof.json").read_bytes()), err


def _verify(made: dict[str, Any], where: Path, export: bytes, bundle: bytes | dict) -> tuple[int, str, str]:
    where.mkdir(parents=True, exist_ok=True)
    path = where / NAME
    path.write_bytes(export)
    Path(f"{path}.proof.json").write_bytes(bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode())
    with contextlib.chdir(where):  # the receiver runs it where the files are: the OK line quotes NAME
        return _cli("audit", "verify-export", NAME, "--key", made["key"])


def _stated(bundle: bytes) -> dict[str, str]:
    return json.loads(bundle)["selection"]


# === 1. SRS-224 / THR-035 ======================================================================================

@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("case", ["fhir", "atna", "leaves", "since", "until", "event", "study"])
def test_p01_genuine_exports_verify_and_are_named(trail: dict[str, Any], tmp_path: Path, case: str) -> None:
    export, bundle = trail["whole"][case] if case in trail["whole"] else trail["filtered"][case]
    code, out, err = _verify(trail, tmp_path, export, bundle)
    assert code == 0 and err == "" and out.startswith("OK: "), err
    assert out.rstrip().endswith("selection: the whole log") if case in trail["whole"] else \
        f"selection: the filter {case}={_stated(bundle)[case]} (as the bundle states it" in out
    changed = export[:-2] + bytes([export[-2] ^ 1]) + export[-1:]  # control: one byte
    code, out, err = _verify(trail, tmp_path, changed, bundle)
    assert code == 8 and out == "" and "DAI-712" in err


@pytest.mark.req("SRS-224")
def test_p02_every_filter_form_audit_export_takes_is_stated_as_verify_export_accepts(trail: dict[str, Any],
                                                                                      tmp_path: Path) -> None:
    forms = [("--since", "2026-11-24"), ("--since", "2026-11-24T08:00:00"), ("--since", "2026-11-24 08:00"),
             ("--since", "2026-11-24T08:00:00+05:00"), ("--since", "2026-11-24T08:00:00.5Z"), ("--since", "today"),
             ("--since", "yesterday"), ("--since", "30m"), ("--until", "24h"), ("--since", "7d"),
             ("--until", "9999-12-31"), ("--event", "dai004"), ("--event", "ANALYSIS RUN"), ("--event", "110100"),
             ("--study", "study-0000000000000003"), ("--study", "1.2.826.0.1.3680043.99.1")]
    for index, (option, value) in enumerate(forms):
        code, made, err = _export_code(trail, "fhir", option, value)
        assert code == 0 and made is not None, (option, value, err)
        code, out, err = _verify(trail, tmp_path / f"f{index}", *made)
        assert code == 0 and f"selection: the filter {option[2:]}=" in out, (option, value, _stated(made[1]), err)
    # control: stated values not of their form are refused naming the key
    export, bundle = trail["filtered"]["since"]
    for key, value in (("since", "2026-11-24T08:00:00Z"), ("until", "2026-11-24"), ("event", "Analysis Runs"),
                       ("study", "study-00000000000000AB")):
        stated = {**json.loads(bundle), "selection": {key: value}}
        code, out, err = _verify(trail, tmp_path / f"c-{key}", export, stated)
        assert code == 8 and out == "" and f"{key} is not" in err, (key, err)
        if key in ("event", "study"):  # ... and audit export refuses them as options
            code, made, err = _export_code(trail, "fhir", f"--{key}", value)
            assert code == 2 and made is None and f"DAI-100: --{key}" in err, (key, err)


# --- defect 1: a year before 1000 is stated in a form verify-export refuses ---

@pytest.mark.req("SRS-224")
def test_d1_pin_an_export_since_a_year_before_1000_states_a_filter_its_receiver_accepts(trail: dict[str, Any],
                                                                                         tmp_path: Path) -> None:
    # lead's fix (parse_time writes the year with four digits): was "999-06-01..." chosing none, refused by verify
    code, made, err = _export_code(trail, "fhir", "--since", "0999-06-01")
    assert code == 0 and made is not None, err
    assert _stated(made[1]) == {"since": "0999-06-01T00:00:00.000000Z"}  # four digits
    assert len(made[0].splitlines()) == 7  # every entry is after the year 999
    code, out, err = _verify(trail, tmp_path / "999", *made)
    assert code == 0 and "since=0999-06-01T00:00:00.000000Z" in out, err
    code, made, _ = _export_code(trail, "fhir", "--since", "0001-01-01")
    assert code == 0 and made is not None and len(made[0].splitlines()) == 7
    assert _verify(trail, tmp_path / "1", *made)[0] == 0
    # control: a stated year without its leading zero is still refused by verify-export
    code, out, err = _verify(trail, tmp_path / "three-digits", *_stating(trail, "999-06-01T00:00:00.000000Z"))
    assert code == 8 and "since is not a UTC time as audit export writes it" in err, err
    # control: the year 1000 is written with four digits and verifies
    code, made, _ = _export_code(trail, "fhir", "--since", "1000-01-01")
    assert code == 0 and made is not None and _verify(trail, tmp_path / "1000", *made)[0] == 0


@pytest.mark.req("SRS-224")
def test_d1_an_export_states_only_a_filter_its_receiver_accepts(trail: dict[str, Any], tmp_path: Path) -> None:
    for value in ("0999-06-01", "0001-01-01"):
        code, made, err = _export_code(trail, "fhir", "--since", value)
        assert code == 2 and "DAI-100" in err if made is None else _verify(trail, tmp_path / value, *made)[0] == 0


# --- defect 2: a stated time out of range is an internal error, not a refusal ---

OUT_OF_RANGE = ["9999-12-31T23:59:59.999999-01:00", "0001-01-01T00:00:00+01:00"]


def _stating(trail: dict[str, Any], value: str) -> tuple[bytes, dict]:
    export, bundle = trail["whole"]["fhir"]
    return export, {**json.loads(bundle), "selection": {"since": value}}


@pytest.mark.req("SRS-224")
def test_d2_pin_a_time_out_of_range_is_refused_not_an_internal_error(trail: dict[str, Any], tmp_path: Path) -> None:
    # lead's fix (parse_time turns OverflowError into its ConfigError): was DAI-999, exit 70, on both sides
    for index, value in enumerate(OUT_OF_RANGE):
        code, out, err = _verify(trail, tmp_path / f"v{index}", *_stating(trail, value))
        assert code == 8 and out == "" and "DAI-999" not in err and "since is not a UTC time" in err, err
    for value in ("99999999d", "9999-12-31T23:59:59-01:00"):
        code, _, err = _export_code(trail, "fhir", "--since", value)
        assert code == 2 and "DAI-100" in err and "years 1 to 9999" in err, err
    # control: a stated time with an offset in range is refused, exit 8, naming the key; an export of it passes
    code, out, err = _verify(trail, tmp_path / "in-range", *_stating(trail, "2026-11-24T08:00:00+05:00"))
    assert code == 8 and out == "" and "DAI-712" in err and "since is not a UTC time" in err, err
    assert _export_code(trail, "fhir", "--since", "2026-11-24T08:00:00+05:00")[0] == 0


@pytest.mark.req("SRS-224")
def test_d2_a_stated_time_out_of_range_is_refused_naming_the_key(trail: dict[str, Any], tmp_path: Path) -> None:
    for index, value in enumerate(OUT_OF_RANGE):
        code, out, err = _verify(trail, tmp_path / f"v{index}", *_stating(trail, value))
        assert code == 8 and "DAI-712" in err and "since" in err, err


@pytest.mark.req("SRS-224")
def test_d2_audit_export_refuses_a_time_out_of_range(trail: dict[str, Any]) -> None:
    for value in ("99999999d", "9999-12-31T23:59:59-01:00"):
        code, _, err = _export_code(trail, "fhir", "--since", value)
        assert code == 2 and "DAI-100" in err and "--since" in err, err


# --- defect 3: signer names are quoted whole ---

def _unsigned(trail: dict[str, Any], name: str, lines: int = 1) -> tuple[bytes, dict]:
    """The whole-log export with its bundle's genuine signature replaced by ``lines`` signature lines of ``name``."""
    export, bundle = trail["whole"]["fhir"]
    proof = json.loads(bundle)
    body = proof["checkpoint"].rpartition("\n\n")[0]
    signature = base64.b64encode(b"\0" * 68).decode()
    proof["checkpoint"] = body + "\n\n" + "".join(f"\u2014 {name} {signature}\n" for _ in range(lines))
    return export, proof


def _genuine_ok(trail: dict[str, Any], tmp_path: Path) -> str:
    code, out, err = _verify(trail, tmp_path / "genuine", *trail["whole"]["fhir"])
    assert code == 0 and out.rstrip().endswith("selection: the whole log"), err
    return out.rstrip("\n")


@pytest.mark.req("SRS-224")
def test_d3_pin_a_failure_line_quotes_signer_names_cut_short(trail: dict[str, Any], tmp_path: Path) -> None:
    # lead's fix (each signer name cut to 64 characters, at most 8 listed): was every name whole
    genuine = _genuine_ok(trail, tmp_path)
    name = ". " * 1400 + genuine  # blanks between short words: neither one_line nor shortened cuts them
    code, out, err = _verify(trail, tmp_path / "long", *_unsigned(trail, name))
    assert code == 8 and out == "" and err.startswith("error DAI-712") and len(err) < 2000, len(err)
    assert _screen(err).startswith("error DAI-712")  # the refusal stays on the screen
    code, _, err = _verify(trail, tmp_path / "many", *_unsigned(trail, "x y", lines=2000))
    assert code == 8 and len(err) < 2000 and "and 1992 more" in err
    # control: a short name gives a short failure that starts the screen
    code, out, err = _verify(trail, tmp_path / "short", *_unsigned(trail, "other.example/log"))
    assert code == 8 and len(err) < 700 and _screen(err).startswith("error DAI-712"), err


@pytest.mark.req("SRS-224")
def test_d3_a_failure_line_quotes_the_bundles_words_cut_short(trail: dict[str, Any], tmp_path: Path) -> None:
    for index, (name, lines) in enumerate(((". " * 1400 + "OK", 1), ("x y", 2000))):
        code, _, err = _verify(trail, tmp_path / f"n{index}", *_unsigned(trail, name, lines))
        assert code == 8 and len(err) < 2000, len(err)


# --- the lines of verify-export, audit verify and verify-results carry no terminal control ---

@pytest.mark.req("SRS-224")
def test_p03_no_line_of_verify_export_carries_a_terminal_control_from_the_files(trail: dict[str, Any],
                                                                                tmp_path: Path) -> None:
    export, bundle = trail["whole"]["fhir"]
    proof = json.loads(bundle)
    lines = export.decode().splitlines()
    edited = json.loads(lines[2])
    edited[f"k{ESC}{C1}"] = 1
    lines[2] = json.dumps(edited, ensure_ascii=False)
    vectors = {
        "selection key": (export, {**proof, "selection": {f"until{ESC}": "9"}}),
        "selection value": (export, {**proof, "selection": {"until": f"9{ESC}{C1}"}}),
        "software": (export, {**proof, "rendering": 99, "software": f"v{ESC}{C1}"}),
        "pydantic loc": (export, {**proof, "selection": {f"k{ESC}{C1}": 9}}),
        "FHIR key": ("".join(f"{line}\n" for line in lines).encode(), bundle),
        "signer name (C1)": _unsigned(trail, f"other{C1}name"),
        "not UTF-8": (export, f"{{\"bundle\": \"{ESC}\xff\"}}".encode("latin-1")),
        "long selection value": (export, {**proof, "selection": {"until": "9 " * 3000 + ESC}}),
    }
    for label, (made, stated) in vectors.items():
        code, out, err = _verify(trail, tmp_path / label.replace(" ", "-"), made, stated)
        assert code == 8 and out == "" and _controls(out + err) == [] and len(err) < 1500, (label, err)
        assert label in ("not UTF-8", "long selection value") or "?" in err, (label, err)  # quoted, escaped
    assert _verify(trail, tmp_path / "control", export, bundle)[0] == 0  # control: the genuine files pass


@pytest.mark.req("SRS-224")
def test_p04_audit_verify_fail_lines_and_verify_results_file_lines_are_escaped(trail: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    import shutil

    log, result = tmp_path / "log", tmp_path / "result"
    shutil.copytree(trail["log"], log)
    shutil.copytree(trail["result"], result)
    key = ("--key", trail["key"])
    code, out, err = _cli("audit", "verify", "--dir", str(log), *key)
    assert code == 0 and out.startswith("OK: 7 records"), out + err  # control
    code, out, err = _cli("audit", "verify-results", str(result), "--dir", str(log), *key)
    assert code == 0 and "OK: all 2 file(s)" in out, out + err  # control
    (log / "checkpoints" / f"x{ESC}y.note").write_text("not a note\n", encoding="utf-8")
    (result / f"extra{ESC}.dcm").write_bytes(b"planted")
    code, out, err = _cli("audit", "verify", "--dir", str(log), *key)
    assert code == 8 and "FAIL: x?[2J?[Hy.note" in out and _controls(out + err) == [], out
    (log / "checkpoints" / f"x{ESC}y.note").unlink()
    code, out, err = _cli("audit", "verify-results", str(result), "--dir", str(log), *key)
    assert code == 8 and "extra?[2J?[H.dcm" in out and "DAI-711" in err and "extra?[2J?[H.dcm" in err, out + err
    assert _controls(out + err) == []


# --- defect 4 (SRS-145/SRS-156): audit verify's "not ours" line is printed raw ---

def _shared_folder_case(trail: dict[str, Any], tmp_path: Path, escape: bool) -> tuple[int, str, str, str]:
    """The log altered (its last record), and a --checkpoint folder holding another log's subfolder whose name
    (percent-encoded, as copy-location subfolders are) clears the screen and draws audit verify's genuine OK line."""
    import shutil

    log, copies = tmp_path / "log", tmp_path / "copies"
    shutil.copytree(trail["log"], log)
    copies.mkdir()
    code, genuine, err = _cli("audit", "verify", "--dir", str(log), "--checkpoint", str(copies), "--key", trail["key"])
    assert code == 0, err
    genuine = genuine.strip()
    escape_code = "%1B" if escape else "%3F"
    other = copies / f"{escape_code}[2J{escape_code}[H{genuine.replace('/', '%2F')}{escape_code}[8m+deadbeef"
    other.mkdir()
    (other / "1.note").write_text("another log's note\n", encoding="utf-8")
    data = bytearray((log / "audit.log").read_bytes())
    data[-10] ^= 1
    (log / "audit.log").write_bytes(bytes(data))
    code, out, err = _cli("audit", "verify", "--dir", str(log), "--checkpoint", str(copies), "--key", trail["key"])
    return code, out, err, genuine


@pytest.mark.req("SRS-156", "SRS-145")
def test_d4_pin_audit_verify_of_an_altered_log_shows_its_fail_lines(trail: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    # lead's fix (the "not ours" line printed through printable): was the genuine OK line alone on the screen
    code, out, err, genuine = _shared_folder_case(trail, tmp_path / "esc", escape=True)
    assert code == 8 and out.count("FAIL: ") == 2 and "\x1b[2J" not in out
    assert _screen(out + err).startswith("FAIL: "), _screen(out + err)
    # control: the same name without ESC leaves the FAIL lines on the screen
    code, out, err, genuine = _shared_folder_case(trail, tmp_path / "plain", escape=False)
    assert code == 8 and _screen(out + err).startswith("FAIL: ") and _controls(out + err) == []


@pytest.mark.req("SRS-156", "SRS-145")
def test_d4_audit_verify_prints_no_terminal_control_from_a_shared_folder(trail: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    code, out, err, _ = _shared_folder_case(trail, tmp_path, escape=True)
    assert code == 8 and _controls(out + err) == []


# === 2. SRS-228 / BENEFIT-RISK: the typed verdict ================================================================

def _benefit(items: dict) -> dict[str, Any]:
    return items["risk/benefit.yaml"]["benefit_risk"]


@pytest.mark.req("SRS-228")
def test_h10_the_verdict_is_a_typed_field_on_load(tmp_path: Path) -> None:
    from device_ai.errors import TraceabilityError
    from device_ai.regulatory.loader import load_project

    for index, value in enumerate(["Acceptable", "yes", "", None, True, "missing"]):
        items = copy.deepcopy(default_items())
        if value == "missing":
            del _benefit(items)["overall_residual_risk_verdict"]
        else:
            _benefit(items)["overall_residual_risk_verdict"] = value
        with pytest.raises(TraceabilityError) as refused:
            load_project(write_project(tmp_path / f"v{index}", items))
        assert any(p.startswith("risk/benefit.yaml") and "overall_residual_risk_verdict" in p
                   for p in refused.value.problems), (value, refused.value.problems)
    assert load_project(write_project(tmp_path / "good")).benefit is not None  # control: acceptable


def _unacceptable_residual(prose: str, verdict: str = "acceptable") -> Callable[[dict], None]:
    def change(items: dict) -> None:
        items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]["residual"]["p1"] = "P2"
        _statement(prose, verdict)(items)
    return change


def _unacceptable_threat(items: dict) -> None:
    threat = items["security/threats.yaml"]["threats"][0]
    threat.update(impact="I3", residual_exploitability="E3")


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("h140-mini")
    return {
        "complete": (root / "complete", _mini(root / "complete")),
        "acceptable beside RISK-001 (Acceptable.)": _mini(root / "r1", _unacceptable_residual("Acceptable.")),
        "acceptable beside RISK-001 (Not acceptable.)": _mini(root / "r2", _unacceptable_residual("Not acceptable.")),
        "acceptable beside prose Not acceptable.": _mini(root / "n1", _statement("Not acceptable.", "acceptable")),
        "acceptable beside an unacceptable threat": _mini(root / "t1", _unacceptable_threat),
        "not_acceptable": (root / "no", _mini(root / "no", _statement("Not acceptable.", "not_acceptable"))),
    }


@pytest.mark.req("SRS-228")
def test_h11_acceptable_beside_an_unacceptable_residual_does_not_complete_the_record(
        verdicts: dict[str, Any]) -> None:
    for case in ("acceptable beside RISK-001 (Acceptable.)", "acceptable beside RISK-001 (Not acceptable.)"):
        graph = verdicts[case]
        record = _record(graph)
        criteria = {c.number: c for c in record.question("b").criteria}
        assert not record.complete and not criteria[1].holds, case
        assert [i.item for i in criteria[1].open_items] == ["RISK-001"], case
        assert "RISK-REVIEW" in [f.item for f in _release(graph).section("gap")], case
    # N1: the prose is not read for the verdict: acceptable beside "Not acceptable." completes the record
    assert _record(verdicts["acceptable beside prose Not acceptable."]).complete
    # N2: a threat's unacceptable residual is the gate's, not criterion 1's
    graph = verdicts["acceptable beside an unacceptable threat"]
    assert _record(graph).complete and "THR-001" in [f.item for f in _release(graph).section("gap")]
    # control: the complete mini project; and the verdict not_acceptable fails criterion 4 only
    assert _record(verdicts["complete"][1]).complete and _release(verdicts["complete"][1]).passed
    record = _record(verdicts["not_acceptable"][1])
    assert [c.number for c in record.question("b").criteria if not c.holds] == [4]


@pytest.mark.req("SRS-228")
def test_h12_the_repository_verdict_is_true_of_its_statement() -> None:
    from device_ai.regulatory.loader import load_project
    from device_ai.regulatory.risk_review import _benefit as criterion_4

    benefit = load_project(ROOT).benefit.item
    prose = " ".join(str(benefit.overall_residual_risk).split())
    statement = " ".join(str(benefit.statement).split())
    assert benefit.overall_residual_risk_verdict == "not_acceptable"
    assert prose.startswith("Not acceptable (ISO 14971 clause 8") and "RISK-001 and RISK-022 are unacceptable" in prose
    assert "The device is therefore not acceptable for clinical use" in statement
    assert {(c.item, c.state) for c in benefit.claims} >= {("RISK-001", "unacceptable"), ("RISK-022", "unacceptable")}

    class Ctx:
        def of_kind(self, kind: str):  # noqa: ANN202
            yield {"id": "BENEFIT-RISK", "fields": benefit.model_dump(mode="json")}

    criterion = criterion_4(Ctx(), [])
    assert not criterion.holds and "overall_residual_risk_verdict: not_acceptable" in criterion.open_items[0].text
    acceptable = benefit.model_copy(update={"overall_residual_risk_verdict": "acceptable"})

    class Control(Ctx):
        def of_kind(self, kind: str):  # noqa: ANN202
            yield {"id": "BENEFIT-RISK", "fields": acceptable.model_dump(mode="json")}

    assert criterion_4(Control(), []).holds  # control: the same statement typed acceptable holds criterion 4


@pytest.mark.req("SRS-228")
def test_h13_a_verdict_turned_acceptable_after_its_review_leaves_the_record_not_complete(tmp_path: Path) -> None:
    from device_ai.regulatory.fingerprint import fingerprint
    from device_ai.regulatory.items import BenefitRisk

    fields = _benefit(default_items())
    assert fingerprint(BenefitRisk(**fields)) != fingerprint(BenefitRisk(**{**fields, "overall_residual_risk_verdict":
                                                                             "undecided"}))

    def turned(root: Path) -> None:
        path = root / "risk/benefit.yaml"
        text = path.read_text(encoding="utf-8")
        assert "overall_residual_risk_verdict: undecided" in text
        path.write_text(text.replace("overall_residual_risk_verdict: undecided",
                                     "overall_residual_risk_verdict: acceptable"), encoding="utf-8")

    graph = _mini(tmp_path / "turned", _statement("Acceptable.", "undecided"), after=turned)
    record = _record(graph)
    assert not record.complete and "BENEFIT-RISK" in _named(record, "a")
    assert all(c.holds for c in record.question("b").criteria)  # criterion 4 reads the new verdict
    assert "BENEFIT-RISK" in [f.item for f in _release(graph).section("gap")]

    def comment(root: Path) -> None:  # control: a change the fingerprint does not cover
        path = root / "risk/benefit.yaml"
        path.write_text("# reviewed\n" + path.read_text(encoding="utf-8"), encoding="utf-8")

    assert _record(_mini(tmp_path / "comment", after=comment)).complete


@pytest.mark.req("SRS-228")
def test_h14_the_risk_report_shows_the_verdict(verdicts: dict[str, Any]) -> None:
    from device_ai.regulatory.render import DOCUMENTS, render_all
    from device_ai.regulatory.render.view import TraceView

    pages = {}
    for case in ("complete", "not_acceptable"):
        root, graph = verdicts[case]
        page = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                          files=[d for d in DOCUMENTS if d.file == "risk-report.html"])["risk-report.html"]
        pages[case] = page[page.index('id="benefit"'):page.index('id="review"')]
    assert "Verdict: acceptable." in pages["complete"] and "Verdict: not_acceptable." not in pages["complete"]
    assert "Verdict: not_acceptable." in pages["not_acceptable"] and "Verdict: acceptable." not in \
        pages["not_acceptable"]


# === 3. SRS-227: the vulnerabilities source's reference needs the security plan ====================================

SECURITY_MISSING = "the security plan the vulnerabilities source refers to"
REFERENCE_MISSING = "the vulnerabilities source refers to security/plan.yaml"


def _vulnerabilities(items: dict) -> dict[str, Any]:
    return next(s for s in _plan(items)["sources"] if s["kind"] == "vulnerabilities")


@pytest.mark.req("SRS-227")
def test_h20_a_security_plan_that_fails_validation_is_refused_on_load(tmp_path: Path) -> None:
    from device_ai.errors import TraceabilityError
    from device_ai.regulatory.loader import load_project

    changes = {"no monitoring": lambda p: p["security_plan"].pop("monitoring"),
               "blank monitoring": lambda p: p["security_plan"].update(monitoring=""),
               "another key only": lambda p: p.update({"notes": p.pop("security_plan")["scope"]})}
    for label, change in changes.items():
        items = copy.deepcopy(default_items())
        change(items["security/plan.yaml"])
        with pytest.raises(TraceabilityError) as refused:
            load_project(write_project(tmp_path / label.replace(" ", "-"), items))
        assert any(p.startswith("security/plan.yaml") or "security/plan.yaml" in p for p in refused.value.problems), \
            (label, refused.value.problems)
    assert load_project(write_project(tmp_path / "good")).security_plan is not None  # control


@pytest.mark.req("SRS-227", "SRS-228")
def test_h21_the_reference_spelled_otherwise_beside_the_plan_is_a_missing_part(tmp_path: Path) -> None:
    for index, spelled in enumerate(["./security/plan.yaml", "security//plan.yaml", "security/./plan.yaml"]):
        graph = _mini(tmp_path / f"s{index}", lambda items, s=spelled: _vulnerabilities(items).update(references=[s]))
        gaps = [f.message for f in _release(graph).section("gap") if f.item == "POST-PRODUCTION-PLAN"]
        assert len(gaps) == 1 and REFERENCE_MISSING in gaps[0], (spelled, gaps)
        assert not _record(graph).question("c").holds, spelled
    assert _record(_mini(tmp_path / "control")).question("c").holds  # control: the exact spelling


def _section_7(root: Path, graph: dict[str, Any]) -> str:
    from device_ai.regulatory.render import DOCUMENTS, render_all
    from device_ai.regulatory.render.view import TraceView

    page = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file == "risk-report.html"])["risk-report.html"]
    return page[page.index('id="clause-10"'):]


def _everywhere(root: Path, graph: dict[str, Any], words: str) -> tuple[bool, bool, bool]:
    """Whether the gate's gap, the record's (c) and section 7 of the risk report each name ``words``."""
    gate = any(words in f.message for f in _release(graph).section("gap") if f.item == "POST-PRODUCTION-PLAN")
    record = any(words in i.text for i in _record(graph).question("c").open_items)
    return gate, record, words in _section_7(root, graph)


@pytest.mark.req("SRS-227", "SRS-228")
def test_h22_a_vulnerabilities_source_without_the_reference_is_a_missing_part(tmp_path: Path) -> None:
    root = tmp_path / "none"
    graph = _mini(root, lambda items: _vulnerabilities(items).pop("references"))
    assert _everywhere(root, graph, REFERENCE_MISSING) == (True, True, True)
    assert _everywhere(tmp_path / "control", _mini(tmp_path / "control"), REFERENCE_MISSING) == (False,) * 3


@pytest.mark.req("SRS-227", "SRS-228")
def test_h23_the_reference_without_a_security_plan_is_a_missing_part_in_gate_record_and_report(
        tmp_path: Path, verdicts: dict[str, Any]) -> None:
    root = tmp_path / "no-plan"
    graph = _mini(root, _without_security_plan)
    assert not [n for n in graph["nodes"] if n["kind"] == "security_plan"]
    assert _everywhere(root, graph, SECURITY_MISSING) == (True, True, True)
    assert not _record(graph).complete and not _release(graph).passed
    root, graph = verdicts["complete"]  # control: the mini project with its security plan
    assert _everywhere(root, graph, SECURITY_MISSING) == (False,) * 3


# === 4. Other commands' refusals: a file name with ESC ==============================================================

@pytest.mark.req("SRS-224")
def test_h30_analyze_and_anonymize_refusals_show_file_names_escaped(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / f"a{ESC}b.dcm").write_bytes(b"not dicom")
    for name in (f"c{ESC}d.dcm", f"e\x1b[31mf.dcm"):
        (two / name).write_bytes(b"not dicom")
    assert any("\x1b" in n for n in os.listdir(one)) and all("\x1b" in n for n in os.listdir(two))  # control
    runs = {"analyze file": ("analyze", str(one / f"a{ESC}b.dcm"), "--out", str(tmp_path / "o1")),
            "analyze folder": ("analyze", str(two), "--out", str(tmp_path / "o2")),
            "anonymize folder": ("anonymize", str(two), str(tmp_path / "o3"))}
    for label, argv in runs.items():
        code, out, err = _cli(*argv)
        assert code == 3 and _controls(out + err) == [], (label, out + err)
        if label.startswith("analyze"):
            assert err.startswith("error DAI-201") and "?[2J?[H" in err, (label, err)  # shown, escaped
        else:
            assert "file-000001 [not-dicom]" in err and "?[" not in out + err, err  # labels, not names


# === texts ========================================================================================================

@functools.cache
def _yaml(path: str) -> Any:
    return fast_yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def _text(path: str, key: str, item: str) -> str:
    node = next(n for n in _yaml(path)[key] if n["id"] == item)
    return " ".join(" ".join(str(node.get(f, "")) for f in ("text", "attack", "rationale")).split())


@pytest.mark.req("SRS-224", "SRS-227", "SRS-228")
def test_p05_the_texts_claim_what_the_defects_refute_and_what_holds(tmp_path: Path) -> None:
    srs224 = _text("traceability/requirements.yaml", "software_requirements", "SRS-224")
    srs227 = _text("traceability/requirements.yaml", "software_requirements", "SRS-227")
    srs228 = _text("traceability/requirements.yaml", "software_requirements", "SRS-228")
    thr035 = _text("security/threats.yaml", "threats", "THR-035")
    assert "audit export shall refuse such a filter too (DAI-100)" in srs224  # defect 1
    assert "or be refused with DAI-712 naming the key" in srs224  # defect 2
    assert "quote a word of the bundle or the export cut short" in srs224  # defect 3
    assert "so no file can redraw it as an OK line" in thr035  # defect 3
    assert "refers to it in a project that holds no security plan there" in srs227  # holds (test_h23)
    assert "a verdict acceptable beside an unacceptable residual still fails criterion (1)" in srs228  # test_h11
    assert "one whose verdict is not_acceptable or undecided (whatever its prose says)" in srs228  # test_h11
    assert "SRS-999" not in srs224 + srs227 + srs228  # control
