"""Independent re-review 132 (reviewer helper-132) of the lead's fixes in 48734b0 (reviews 129 and 131), at the
approved content e72aa8c. helper-132 wrote none of the code, texts or tests reviewed.
Read: ``git show 48734b0 e72aa8c``; app/result_check.py, app/audit_trail.py (entries, EntryFilter), audit/verify.py
(verify_log), audit/log.py:226 (a record's seq is len(tree), its place), app/audit_export.py, audit/export_verify.py,
cli/audit.py (verify-export), cleartext.py, regulatory/risk_review.py (_benefit), overclaim.overall_acceptable; the
texts of SRS-222, SRS-224, SRS-226, THR-007, THR-010, THR-011, THR-014, THR-015, THR-035, IF-RESULT-FILES, the
matrix of security/plan.yaml, and of submission/device.yaml only the IFU lines added on 2026-12-07 (0418a31: the
THR-003 warning; 0701c79: the verify-results precaution; 48734b0: the cleartext precaution). Line numbers: HEAD's.

1. SRS-222 (review 131 d1; THR-015, IF-RESULT-FILES): HOLDS. result_check.py:160-163 takes each entry's place in
   the log (the scan's order) and drops a record whose stated seq is not its place. A record appended without the
   key, listing the altered SEG and stating seq 0, the genuine entry's seq, 10000 or its place as text, vouches for
   nothing: the folder is compared with the genuine entry and the SEG reported altered (test_p01); one stating its
   place as a float (12.0 == 12) is placed, and refused as not yet signed. A record inserted before the covered end
   fails audit verify ("rewritten") and the check (AuditIntegrityError) (test_p02; control: the same record appended
   verifies). The superseded map still reads stated seqs (:152-156): a forged failure entry stating any seq fails a
   genuine result closed (test_p04, N1); a forged copy of a superseded entry, stating its place or the superseded
   seq, cannot make it count again (test_p03; control: the superseded entry alone is refused). Genuine results pass:
   the authors' tests/audit/test_result_digests.py, tests/node/test_result_digests.py, tests/batch/
   test_batch_analyze.py::test_series_on_two_workers_are_published_once_with_the_single_runs_results (it checks every
   unit with verify_results) and reviews 129/131: 77 passed, 2 xfailed (129 d3, 131 d2 limit).
2. SRS-224 (review 131 d2; THR-035): the fix HOLDS, DEFECT 1 in what the texts rely on. An empty or blank value
   (spaces, tab, newline, U+3000) is refused (test_p10; control: since=<first time> passes, named); since after until
   fails on the first record, and an export with every record cut passes with 0 records, as "any record can be cut"
   says (test_p11); an unknown key, a key in another case, a value that is not text are refused (test_p12); since=0,
   until=9 filter nothing, are not what parse_time writes, and pass, named on the OK line (test_p13, N3). THR-035 and
   SRS-224 now say what is true of the cut itself.
   DEFECT 1: both texts make the OK line the receiver's control ("verify-export then names that filter on its OK
   line, which the receiver must compare with what it asked for", threats.yaml:617-618; "the OK line then names that
   filter, so only a receiver that checks it against what it asked for sees the cut", requirements.yaml:2741-2742),
   but cli/audit.py:99-104 prints the stated values raw and audit_export.py:100-103 refuses only blank ones. A bundle
   stating until="9<CR><ESC>[2K<the genuine whole-log OK line><ESC>[8m" (met by every record: "2026-..." < "9") for
   an export with a record cut passes, and on a terminal its OK line reads as the uncut export's, "selection: the
   whole log" (test_d1_pin; control: until=9999 is shown as a filter). Residual E3 unchanged; the stated control is
   defeatable. Strict xfail test_d1_a_stated_filter_the_receiver_cannot_read_is_refused_or_shown_escaped. Fix: refuse
   a stated value with a non-printable character (mutant F1) or print it escaped (as dicom/paths.py does).
3. SRS-226 (review 129 d1): HOLDS. cleartext.py:44 keeps the trailing dot ("127.0.0.1.", "localhost.", "::1." need a
   reason at load and at start; control: with a reason they load) (test_p20, test_p21). Zone ids: "::1%lo",
   "::1%eth0", "::1%1", "::ffff:127.0.0.1%lo", "[::1%lo]", "::1%lo." are loopback for the rule (ipaddress takes any
   zone); glibc gives ::1 for a numeric zone (Linux ignores it off link-local) and refuses a named zone on ::1
   (EAI_NONAME, from its source; no DNS here to tell otherwise), so none reaches the network (test_p20). "0x7f.1",
   "2130706433", "127.1", "0177.0.0.1" (inet_aton: 127.0.0.1) and a fullwidth digit are the network for the rule:
   fails closed; "[::1]:11112", "127.0.0.1:11112", "fe80::1%lo", "localhost%lo" too. Every character str.splitlines
   breaks on (Cc, U+2028, U+2029) is refused in a reason, also at load (test_p22; control: one line is kept, a break
   at the ends stripped). The rule's text ("127.0.0.0/8, ::1 or localhost; host names are not resolved") is true.
4. SRS-228 (review 129 d2): DEFECT 2, the fix does not hold. risk_review.py:300 needs "Acceptable" first and
   overall_acceptable, which reads negations and conditions before the word and conditions after it only:
   "Acceptable? Not yet.", "Acceptable: not yet decided.", "Acceptable, not yet." and "Acceptable or not is not yet
   decided." complete the record and pass --release (test_d2_pin; control: "Not yet decided whether acceptable."
   fails). What holds: "Acceptable only if ...", "Acceptable, once ...", markup, lower case and undecided prose fail
   criterion 4; leading blanks are accepted (test_p30). Strict xfail test_d2_a_verdict_taken_back_in_its_own_
   statement_leaves_the_record_not_complete. Fix: a typed verdict field (review 129's advice), or refuse a statement
   with a question mark or a negation anywhere (mutant F2). SRS-227/228 stay draft (129 d3); no record.
5. Texts: HOLD. THR-007/010/011/014 state the residual of record (E2 for the device as shipped, back at E3 -
   unacceptable at I4 on the plan's matrix - where a site states a reason, accepted by the site in writing) and the
   IFU precaution says the site that states a reason accepts that risk (test_p40). Honest: the texts do not claim the
   disclosure makes I4 x E3 acceptable. IFU lines added today: the THR-003 warning and the cleartext precaution are
   true; the verify-results precaution ("reports any file altered, replaced, missing or added") is true of the files
   of one result - a folder swapped whole for another genuine result passes (test_p05, N2), which THR-015 states and
   the patient/study/series precaution covers.

Lead, 2026-12-07 (not re-reviewed): defect 1 fixed - a stated filter value that is not printable is refused
(DAI-712), so the OK line shows what the bundle states; SRS-224 and THR-035 go back to draft/open. Defect 2 fixed -
criterion 4 needs "Acceptable." as a sentence of its own first (p30's second control now writes it so); SRS-228
stays draft (review 129 defect 3 open). The pins assert the fixes, the xfails are plain tests.

helper-135, 2026-12-07 (fixer of review 133, not re-reviewed): N3 closed - a stated value must be of its key's type
as audit export writes it (review 133 defect 1b), so since=0, until=9, until=~ are refused (test_p13 inverted; the
d1 control states until=9999-12-31T23:59:59.999999Z instead of 9999). Criterion 4 reads the typed verdict
overall_residual_risk_verdict (review 133 defect 2): test_review_129's _statement now types the verdict undecided
unless told, so p30's controls state acceptable.

Notes (no xfail):
N1 (SRS-222) Superseding is read from stated seqs of every record, covered or not (result_check.py:152-156): fails
   closed (test_p04), as review 131 N1.
N2 (IFU) "reports any file ... replaced" is per file; a whole-folder swap passes as the other result (test_p05).
N3 (SRS-224) The blank-value refusal is narrow: since=0 or until=9 select every record too (test_p13); the texts
   promise only "an empty filter value is refused".
N4 (SRS-222, not from the fix) A framed record that is not an entry (not JSON, no "event") passes audit verify and
   makes verify-results and audit show exit DAI-999 "internal error": fails closed, untyped (test_p06).
N5 Stale status words: THR-007/010/011/014 "SRS-226 (helper-125, 2026-12-07, draft)" (threats.yaml:132, 186, 208,
   257), THR-015 "SRS-222 is draft" (:291), THR-035 "SRS-224 is draft" (:624); all three are approved at e72aa8c.
N6 (SRS-222) verify_results reads the log twice, verified (:76) then parsed (:77): an account that can write the
   audit folder and swaps the log between the two reads has unverified entries used (a race, E2; not probed).

Mutation check (copies of HEAD's src/ by git archive into /tmp/h132src/<name>/src, models/ linked beside, by
/tmp/h132src/mutate.py; this file run with the copy first on PYTHONPATH; /work/main/src untouched; null copy: 33
passed, 2 xfailed). Fixes undone: U1 entries numbered by stated seq (result_check.py:160-163): p01 x4, p02; U2 no
blank-value refusal (audit_export.py:101): p10 x5; U3 rstrip(".") back (cleartext.py:44): p20, p21 x2; U4 Zl/Zp no
longer refused (cleartext.py:65): p22; U5 no verdict word (risk_review.py:300): p30. 5 mutants, 5 killed. Fix
mutants: F1 (a stated value with a non-printable character refused) and F2 (no "?" or "not" in a concluding
statement) each flip only their pin and strict xfail; reviews 129/131, test_export_proofs and test_risk_review pass
under them (65 passed 1 xfailed; 41 passed 1 xfailed).

Independent records: SRS-222, SRS-226, THR-007, THR-010, THR-011, THR-014, THR-015, IF-RESULT-FILES. None for SRS-224
and THR-035 (defect 1), nor DEVICE-DESCRIPTION (only its three new IFU lines were read).
NOT checked: a real DNS or a non-glibc resolver; terminals beyond CR, ESC[2K and ESC[8m (as xterm draws them), and
Windows consoles; the batch path beyond the one authors' test; the node's DIMSE/STOW paths with scoped hosts.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import socket
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import ConfigError as ConfigErrorType
from tests import fast_yaml
from tests.review.test_review_127 import _flip, _main, series  # noqa: F401 - series: the phantom fixture
from tests.review.test_review_128 import _read, _run, _verify, _write, exported  # noqa: F401
from tests.review.test_review_129 import REASON, _destinations, _dimse, _load, _mini, _record, _release, _statement
from tests.review.test_review_131 import _analyzed, _append, _leaves, _seg_digest

ROOT = Path(__file__).resolve().parents[2]


def _texts(*relative: str) -> str:
    return " ".join(" ".join((ROOT / rel).read_text(encoding="utf-8").split()) for rel in relative)


# === 1. SRS-222: an entry's place in the log, not its stated seq (review 131 defect 1) =======================

def _forge(log: Path, genuine: str, forged: str, seq: Any) -> int:
    """Append to ``log`` without any key, framed as the device frames records, a copy of the newest entry listing
    ``genuine`` with that digest replaced by ``forged`` and its "seq" field set to ``seq`` (any JSON value, or
    "place": its true place). Returns its true place."""
    from device_ai.audit.store import scan

    data = log.read_bytes()
    records = scan(data).records
    entry = json.loads(next(r for r in reversed(records) if genuine.encode() in r.payload).payload)
    entry["seq"] = len(records) if seq == "place" else seq
    entry["objects"] = [{**o, "id": forged} if o.get("id") == genuine else o for o in entry["objects"]]
    payload = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    log.write_bytes(data + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)
    return len(records)


@pytest.mark.req("SRS-222")
@pytest.mark.parametrize("stated", ["zero", "genuine", "past the end", "place as text", "place as float"])
def test_p01_an_appended_record_vouches_for_nothing_whatever_seq_it_states(series: Path, tmp_path: Path,  # noqa: F811
                                                                           stated: str) -> None:
    """The forged record (no key) lists the altered SEG's digest; whatever "seq" it states, verify-results compares
    the folder with the genuine entry and reports the SEG altered, or refuses the record as not yet signed."""
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.audit.store import scan
    from device_ai.errors import NoPublishingEntry

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)  # control: the genuine result passes (in _analyzed)
    _flip(out / "segmentation.dcm")
    log = default_folder() / LOG_NAME
    place = len(scan(log.read_bytes()).records)
    _forge(log, genuine, _seg_digest(out), {"zero": 0, "genuine": seq, "past the end": 10_000,
                                            "place as text": str(place), "place as float": float(place)}[stated])
    if stated == "place as float":  # 12.0 == 12: its place, so it is placed - and refused as not yet signed
        with pytest.raises(NoPublishingEntry, match="which no signed checkpoint covers yet"):
            verify_results(out)
        return
    check = verify_results(out)
    assert not check.ok and check.entry.seq == seq
    assert [s.name for s in check.states if s.state != "unchanged"] == ["segmentation.dcm"]


@pytest.mark.req("SRS-222")
def test_p02_a_record_inserted_before_the_covered_end_fails_audit_verify_and_the_check(
        series: Path, tmp_path: Path) -> None:  # noqa: F811
    from device_ai.app.audit_trail import verify
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.audit.store import scan
    from device_ai.errors import AuditIntegrityError

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)
    _flip(out / "segmentation.dcm")
    log = default_folder() / LOG_NAME
    before = log.read_bytes()
    place = _forge(log, genuine, _seg_digest(out), seq)  # the forged record, framed, at the end
    framed = log.read_bytes()[len(before):]
    assert verify(None, None, []).ok  # control: appended, audit verify accepts it (and the check ignores it)
    assert not verify_results(out).ok
    at = scan(before).records[seq].offset  # now put the same record in the genuine entry's place
    log.write_bytes(before[:at] + framed + before[at:])
    report = verify(None, None, [])
    assert not report.ok and "rewritten" in " ".join(report.problems) and place > seq
    with pytest.raises(AuditIntegrityError, match="does not verify"):
        verify_results(out)


@pytest.mark.req("SRS-222")
def test_p03_a_forged_record_cannot_make_a_superseded_entry_count_again(series: Path,
                                                                         tmp_path: Path) -> None:  # noqa: F811
    """A genuine entry superseded by a failure entry a checkpoint covers (made here by appending the failure entry
    and letting the next audited command sign it): a copy of the superseded entry appended without the key,
    stating its own place or the superseded entry's seq, makes the result pass in neither case."""
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, AuditLog, default_folder
    from device_ai.errors import NoPublishingEntry

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)
    log = default_folder() / LOG_NAME
    _append(log, genuine, genuine, details={"supersedes": str(seq)})
    AuditLog.open(default_folder()).close()  # a checkpoint covers the failure entry
    with pytest.raises(NoPublishingEntry, match="supersedes"):  # control: the superseded entry does not vouch
        verify_results(out)
    for stated in (None, seq):
        _append(log, genuine, genuine, stated_seq=stated)
        with pytest.raises(NoPublishingEntry, match="supersedes"):
            verify_results(out)


@pytest.mark.req("SRS-222")
def test_p04_a_forged_failure_entry_still_fails_a_genuine_result_closed(series: Path,
                                                                        tmp_path: Path) -> None:  # noqa: F811
    """N1: superseding is still read from stated seqs of every record, covered or not (result_check.py:154-156);
    an appended failure entry stating any seq makes a genuine result refused - fails closed, as review 131 N1."""
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.errors import NoPublishingEntry

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)  # control: passes
    _append(default_folder() / LOG_NAME, genuine, genuine, stated_seq=0, details={"supersedes": str(seq)})
    with pytest.raises(NoPublishingEntry, match="supersedes"):
        verify_results(out)


@pytest.mark.req("SRS-222")
def test_p06_an_appended_record_that_is_no_entry_makes_the_check_an_internal_error(
        series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """N4 (not from the fix): audit verify checks records' framing and the tree, not that a record is an entry; a
    record appended without the key that is not JSON, or lacks a field, makes verify-results (and audit show) exit
    DAI-999 'internal error' - fails closed, but untyped (SRS-222 lists typed errors only)."""
    from device_ai import cli
    from device_ai.audit.log import LOG_NAME, default_folder

    out = tmp_path / "out"
    _analyzed(series, out)
    log = default_folder() / LOG_NAME
    genuine = log.read_bytes()
    for payload in (b"not an entry", b'{"seq": 99}'):
        log.write_bytes(genuine + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)
        assert _run(capsys, "audit", "verify")[0] == 0  # control: the log verifies
        code, _, err = _run(capsys, "audit", "verify-results", str(out))
        assert code == 70 and "DAI-999" in err, err
    log.write_bytes(genuine)
    assert _run(capsys, "audit", "verify-results", str(out))[0] == 0  # control: without it the result passes


@pytest.mark.req("SRS-222")
def test_p05_a_folder_swapped_whole_for_another_genuine_result_passes_as_that_result(
        series: Path, tmp_path: Path) -> None:  # noqa: F811
    """N2: what THR-015 states ("a folder swapped whole for another genuine result passes, as it is one"); the IFU's
    verify-results precaution says the check "reports any file ... replaced", which holds for the files of one
    result, not for a whole folder swapped (the IFU's patient/study/series precaution covers that)."""
    from device_ai.app.result_check import verify_results

    first, second = tmp_path / "first", tmp_path / "second"
    _, seq_first = _analyzed(series, first)
    _, seq_second = _analyzed(series, second)
    shutil.copy2(second / "segmentation.dcm", first / "segmentation.dcm")  # control: one file swapped fails
    assert not verify_results(first).ok  # (which entry it is compared with depends on the SR's time: not asserted)
    shutil.rmtree(first)
    shutil.copytree(second, first)
    check = verify_results(first)
    assert check.ok and check.entry.seq == seq_second != seq_first
    assert "a folder swapped whole for another genuine result passes" in _texts("security/threats.yaml")


# === 2. SRS-224: the stated filter (review 131 defect 2) ====================================================

@pytest.fixture
def cut(exported: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:  # noqa: F811
    return {**exported, "capsys": capsys}


def _relabel(case: dict[str, Any], selection: dict[str, Any], *, drop: tuple[int, ...] = (3,)) -> tuple[int, str, str]:
    """Records ``drop`` (places in the export) removed from both files, the bundle relabelled; verify-export."""
    lines, bundle = _read(case)
    for at in sorted(drop, reverse=True):
        del lines[at], bundle["records"][at]
    bundle["selection"] = selection
    _write(case, lines, bundle)
    return _verify(case["capsys"], case["export"], case["key"])


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("selection", [{"event": "  "}, {"since": "\t"}, {"until": " \n "}, {"study": "\u3000"},
                                       {"event": "Analysis Run", "since": " "}])
def test_p10_a_blank_filter_value_is_refused_like_an_empty_one(cut: dict[str, Any], selection: dict) -> None:
    code, out, err = _relabel(cut, selection)
    assert code == 8 and "DAI-712" in err and "is empty" in err and out == "", err


@pytest.mark.req("SRS-224")
def test_p10_control_a_filter_the_remaining_records_meet_passes_and_is_named(cut: dict[str, Any]) -> None:
    first = _leaves(_read(cut)[1])[0]["time_utc"]
    code, out, err = _relabel(cut, {"since": first})
    assert code == 0 and f"selection: the filter since={first} (as the bundle states it" in out, err


@pytest.mark.req("SRS-224")
def test_p11_since_after_until_chooses_nothing_and_an_emptied_export_passes_as_the_texts_say(
        cut: dict[str, Any]) -> None:
    """A filter no record meets fails on the first record; every record cut from both files passes with 0 records
    (the texts: any record can be cut from an export relabelled with a filter the remaining records meet)."""
    leaves = _leaves(_read(cut)[1])
    upside_down = {"since": leaves[-1]["time_utc"], "until": leaves[0]["time_utc"]}
    code, _, err = _relabel(cut, upside_down, drop=())
    assert code == 8 and "is not chosen by the selection the bundle states" in err, err
    code, out, err = _relabel(cut, upside_down, drop=tuple(range(len(leaves))))
    assert code == 0 and out.startswith("OK: 0 fhir record(s)") and "selection: the filter since=" in out, err
    assert "any record can be cut from an export relabelled with a filter" in _texts("security/threats.yaml",
                                                                                   "traceability/requirements.yaml")


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("selection", [{"Since": "2000-01-01"}, {"since": "2000-01-01", "patient": "x"},
                                       {"event": None}])
def test_p12_an_unknown_key_or_a_value_that_is_not_text_is_refused(cut: dict[str, Any], selection: dict) -> None:
    code, out, err = _relabel(cut, selection)
    assert code == 8 and "DAI-712" in err and out == "", err


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("selection", [{"since": "0"}, {"until": "9"}, {"until": "~"}])
def test_p13_a_value_no_export_writes_that_filters_nothing_is_refused(cut: dict[str, Any], selection: dict) -> None:
    """N3, inverted by helper-135 (review 133 defect 1b): since=0 or until=9 are not what parse_time writes and are
    refused naming the key (they passed, named on the OK line)."""
    code, out, err = _relabel(cut, selection)
    (key, _), = selection.items()
    assert code == 8 and out == "" and f"{key} is not a UTC time as audit export writes it" in err, err


def _screen(text: str) -> str:
    """The one line a terminal shows for ``text``: CR returns to column 0, ESC[2K erases the line, ESC[8m
    conceals what follows (drawn as blanks) until ESC[0m; other characters are drawn in turn."""
    cells: list[str] = []
    column, hidden, at = 0, False, 0
    while at < len(text):
        char = text[at]
        if char == "\x1b" and (sequence := re.match(r"\x1b\[([0-9;]*[A-Za-z])", text[at:])):
            cells = [" "] * len(cells) if sequence[1] == "2K" else cells
            hidden = sequence[1] == "8m" or (hidden and sequence[1] not in ("0m", "m"))
            at += len(sequence[0])
            continue
        if char == "\r":
            column = 0
        elif char != "\n":
            cells += [" "] * (column + 1 - len(cells))
            cells[column] = " " if hidden else char
            column += 1
        at += 1
    return "".join(cells).rstrip()


def _spoofed(case: dict[str, Any]) -> tuple[str, tuple[int, str, str]]:
    """(the genuine whole-log OK line, verify-export of the export with its 4th record cut and the bundle relabelled
    with a filter every record meets whose value redraws the terminal line as that genuine line)."""
    code, genuine, err = _verify(case["capsys"], case["export"], case["key"])
    assert code == 0 and "selection: the whole log" in genuine, err
    return genuine.rstrip("\n"), _relabel(case, {"until": f"9\r\x1b[2K{genuine.rstrip()}\x1b[8m"})


@pytest.mark.req("SRS-224")
def test_d1_pin_a_cut_export_can_no_longer_show_the_genuine_whole_log_ok_line(cut: dict[str, Any]) -> None:
    """Pin of defect 1, inverted by the lead's fix (a stated filter value that is not printable is refused,
    DAI-712): the spoofed export fails."""
    genuine, (code, out, err) = _spoofed(cut)
    assert code == 8 and out == "" and "not printable" in err, (out, err)
    # control: a printable value that filters nothing is shown as a filter, and the emulator shows it
    far = "9999-12-31T23:59:59.999999Z"  # helper-135: a time as audit export writes it (was "9999")
    code, out, err = _relabel(cut, {"until": far}, drop=())
    assert code == 0 and f"selection: the filter until={far}" in _screen(out) and _screen(out) != _screen(genuine)


@pytest.mark.req("SRS-224")
def test_d1_a_stated_filter_the_receiver_cannot_read_is_refused_or_shown_escaped(cut: dict[str, Any]) -> None:
    genuine, (code, out, _) = _spoofed(cut)
    assert code == 8 or (_screen(out) != _screen(genuine) and "\x1b" not in out and "\r" not in out)


# === 3. SRS-226: spellings of loopback and reasons (review 129 defect 1) ===================================

# the rule's loopback (ipaddress takes any zone id); glibc's getaddrinfo either gives ::1 (a numeric zone, which
# Linux ignores on a non-link-local address) or refuses the string (a named zone on ::1: EAI_NONAME, no DNS query)
LOOPBACK_SCOPED = ["::1%lo", "::1%eth0", "::1%1", "::ffff:127.0.0.1%lo", "[::1%lo]", "::1%lo."]
# spellings the OS reads as 127.0.0.1 (inet_aton, IDNA) that the rule counts as the network: fails closed
OS_LOOPBACK_RULE_NETWORK = ["0x7f.1", "2130706433", "127.1", "0177.0.0.1", "127.0.0.\uff11"]
# not an address nor a name the OS resolves to loopback: the network for the rule
NETWORK = ["[::1]:11112", "127.0.0.1:11112", "127.0.0.1.", "localhost.", "::1.", "fe80::1%lo",
           "localhost%lo", "127.0.0.1/8", "::127.0.0.1", "localhost.localdomain"]


@pytest.mark.req("SRS-226")
def test_p20_zone_ids_ports_and_other_spellings() -> None:
    from device_ai.cleartext import is_loopback, needs_reason

    assert [h for h in LOOPBACK_SCOPED if not is_loopback(h)] == []
    for host in LOOPBACK_SCOPED:  # the address part is ::1 or IPv4-mapped 127.0.0.1
        address = ipaddress.IPv6Address(host.strip("[]").split("%")[0])
        assert address.is_loopback or address.ipv4_mapped == ipaddress.IPv4Address("127.0.0.1")
        try:
            found = {info[4][0] for info in socket.getaddrinfo(host.strip("[]"), 104, proto=socket.IPPROTO_TCP)}
        except socket.gaierror:
            found = set()
        assert found <= {"::1", "::ffff:127.0.0.1"}, (host, found)
    assert [h for h in OS_LOOPBACK_RULE_NETWORK + NETWORK if is_loopback(h) or not needs_reason(h)] == []
    assert {socket.inet_aton(h) for h in OS_LOOPBACK_RULE_NETWORK[:4]} == {socket.inet_aton("127.0.0.1")}
    # control: the plain spellings are loopback
    assert all(is_loopback(h) for h in ("::1", "[::1]", "127.0.0.1", "localhost"))


@pytest.mark.req("SRS-226")
@pytest.mark.parametrize("host", ["127.0.0.1.", "[::1]:11112", "0x7f.1", "localhost."])
def test_p21_each_network_spelling_needs_a_reason_at_load_and_at_start(monkeypatch: pytest.MonkeyPatch,
                                                                       host: str) -> None:
    from device_ai.cleartext import check_listener

    with pytest.raises(ConfigErrorType):
        check_listener(host, tls=False, reason=None)
    _destinations(monkeypatch, _dimse(host))
    with pytest.raises(ConfigErrorType, match="cleartext_reason"):
        _load()
    _destinations(monkeypatch, _dimse(host, cleartext_reason=REASON))  # control: with a reason it loads
    assert _load().node_destinations[0].cleartext_reason == REASON


@pytest.mark.req("SRS-226")
def test_p22_every_line_break_python_splits_on_is_refused_in_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.cleartext import check_reason

    breaks = [c for c in map(chr, range(0x110000)) if len(f"a{c}b".splitlines()) > 1]
    assert set(breaks) >= {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
    for char in breaks:
        with pytest.raises(ValueError, match="control character"):
            check_reason(f"modality VLAN 12{char}isolated network", "cleartext_reason")
    for char in ("\u2028", "\u2029"):  # also through the configuration
        _destinations(monkeypatch, _dimse("10.0.0.5", cleartext_reason=f"modality VLAN 12{char}isolated"))
        with pytest.raises(ConfigErrorType, match="cleartext_reason"):
            _load()
    # control: the same reason on one line is kept, and a break only at its ends is stripped away
    assert check_reason("modality VLAN 12 isolated network", "x") == "modality VLAN 12 isolated network"
    assert check_reason("\u2028modality VLAN 12 isolated\u2029", "x") == "modality VLAN 12 isolated"


# === 4. SRS-228: criterion 4 reads the verdict (review 129 defect 2) =======================================

NOT_A_VERDICT = ["Acceptable? Not yet.", "Acceptable: not yet decided.", "Acceptable, not yet.",
                 "Acceptable or not is not yet decided."]
FAILS_CLOSED = ["Acceptable only if the site configures TLS.", "Acceptable, once SRS-226 is verified.",
                "**Acceptable.**", "acceptable.",
                "Whether the overall residual risk is acceptable has not been decided."]


@pytest.mark.req("SRS-228")
def test_p30_conditions_markup_lower_case_and_undecided_prose_fail_criterion_4(tmp_path: Path) -> None:
    for index, text in enumerate(FAILS_CLOSED):
        assert not _record(_mini(tmp_path / f"f{index}", _statement(text))).question("b").criteria[3].holds, text
    # control: the verdict, also after leading blanks, holds
    # (lead, 2026-12-07: the verdict is "Acceptable." as a sentence of its own since the fix of defect 2; the
    # second control was "  Acceptable: the benefits outweigh the residual risks.", which that form refuses)
    # (helper-135: with the verdict typed acceptable, which criterion 4 reads since review 133 defect 2's fix)
    for index, text in enumerate(("Acceptable.", "  Acceptable. The benefits outweigh the residual risks.")):
        assert _record(_mini(tmp_path / f"c{index}", _statement(text, "acceptable"))).question("b").criteria[3].holds


@pytest.mark.req("SRS-228")
def test_d2_pin_a_question_or_a_negation_after_the_first_word_no_longer_completes_the_record(tmp_path: Path) -> None:
    """Pin of defect 2, inverted by the lead's fix (the verdict is "Acceptable." as a sentence of its own)."""
    for index, text in enumerate(NOT_A_VERDICT):
        graph = _mini(tmp_path / f"s{index}", _statement(text))
        assert not _record(graph).complete and not _release(graph).passed, text
    # control: the same words without the verdict first fail
    graph = _mini(tmp_path / "control", _statement("Not yet decided whether acceptable."))
    assert not _record(graph).complete and not _release(graph).passed


@pytest.mark.req("SRS-228")
def test_d2_a_verdict_taken_back_in_its_own_statement_leaves_the_record_not_complete(tmp_path: Path) -> None:
    assert not any(_record(_mini(tmp_path / f"s{index}", _statement(text))).complete
                   for index, text in enumerate(NOT_A_VERDICT))


# === 5. Texts: THR-007/010/011/014 and the IFU ================================================================

@pytest.mark.req("SRS-226")
def test_p40_the_four_threats_state_the_residual_of_record_and_the_ifu_says_the_site_accepts_it() -> None:
    import yaml

    threats = {t["id"]: " ".join(t["rationale"].split())
               for t in fast_yaml.safe_load((ROOT / "security/threats.yaml").read_text(encoding="utf-8"))["threats"]}
    plan = fast_yaml.safe_load((ROOT / "security/plan.yaml").read_text(encoding="utf-8"))
    said = ("The residual is rated for the device as shipped and configured without a reason - where a site states "
            "one, this threat is back at E3 on that network (I4 x E3, unacceptable on the plan's matrix)")
    assert [t for t in ("THR-007", "THR-010", "THR-011", "THR-014") if said not in threats[t]] == []
    matrix = json.dumps(plan)
    assert '"I4": {"E1": "acceptable", "E2": "alara", "E3": "unacceptable"' in matrix
    ifu = " ".join((ROOT / "submission/device.yaml").read_text(encoding="utf-8").split())
    assert ("Stating a cleartext reason (node_cleartext_reason, a destination's cleartext_reason) lets studies and "
            "results cross that network readable and alterable by anyone on its path; the site that states one "
            "accepts that risk (THR-007, THR-010, THR-011, THR-014)") in ifu
    assert "THR-099" not in ifu  # control: the search finds only what is there

