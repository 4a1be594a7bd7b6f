"""Independent re-review 131 (reviewer helper-131) of the lead's fixes of reviews 127 and 128 (issue 19):
64d8c99 (review 127 defects 2 and 3, and the texts of defect 1) and 1fdc97d (review 128 defects 1-3), at HEAD
0bfb677 (approvals; no src/ change since 1fdc97d; 3cbefde and 42824d7 after it touch no reviewed file). helper-131
wrote none of the code, texts or tests reviewed.
Read: ``git show 64d8c99 1fdc97d 0bfb677``, the requirement texts of SRS-214, SRS-219, SRS-220, SRS-222, SRS-223,
SRS-224, security/threats.yaml THR-004, THR-015, THR-035, THR-036, security/interfaces.yaml IF-BATCH-LOCAL,
IF-RESULT-FILES; app/result_check.py, audit/verify.py, audit/log.py, node/hot_folder.py, keystore.py, the callers
of keystore.private_dir, audit/export_verify.py, app/audit_export.py, regulatory/package_signing.py.
Line numbers are HEAD's.

1. Review 127 defect 2 (SRS-222, THR-015, IF-RESULT-FILES): DEFECT 1 - the fix keys "covered" on a number the
   appender writes. verify_results keeps the entries with ``entry.seq < covered`` (result_check.py:79) and refuses
   a folder an uncovered entry matches better (:137, :139); ``entry.seq`` is the "seq" field of the record's JSON
   payload (:157, e["seq"]), not the record's place in the log, and neither ``audit verify`` (audit/verify.py,
   verify_log) nor store.scan checks that the two agree. So a record appended without the key, as review 127's
   forgery, but stating the seq of the genuine entry (or 0) counts as covered and vouches for the altered SEG,
   locally and on a --dir copy checked with the pinned key, with no checkpoint after it (test_d1 pin; control:
   the same record stating its own place is refused, the lead's fix). THR-015 ("a forged entry needs write access
   to the audit folder and a checkpoint signed after it"), IF-RESULT-FILES ("checks a folder against the entries a
   signed checkpoint covers") and SRS-222's text ("among the entries a verified signed checkpoint covers"; its
   acceptance "an entry appended after the newest checkpoint (without the key) vouches for nothing") do not hold.
   Who can do it is unchanged (write access to the audit folder or to the copy: E2 locally), so the residual
   stays as rated; the claim of the fix does not. Strict xfail test_d1_an_appended_record_vouches_for_nothing_
   whatever_seq_it_states. Fix: take each entry's place from the scan (store.Record.seq / its index), not from
   its payload - shown by mutant FIX_D1 (pin fails, xfail XPASSes, every other test here passes) - and perhaps
   have audit verify report a record whose seq is not its place.
   What HOLDS of the fix: a record stating its true place is refused naming it, locally and on --dir (review
   127's d2 tests; test_d2 here); a fresh genuine result passes at once, since every audited command signs a
   checkpoint when it closes (log.py:302-308), and the node's analysis is the audited analyze action with a log of
   its own (worker.py:226-231, analysis.py:57), so its entry is covered when analyze returns although the node's
   long-lived log still holds uncovered entries (test_p02; control: those entries are past the covered size);
   two covered entries and an uncovered one that ties: not refused, the covered entry is chosen (test_p03;
   control: an uncovered one that matches better is refused); the residual THR-015 states - the device's next
   command signs an appended record, which then vouches - is true (test_p04; control: refused before).
2. Review 127 defect 3 (SRS-219, THR-004): HOLDS. candidates() (hot_folder.py:282-285) leaves any regular file
   with the other-write bit in IN (0666, 0646, 0602; 0664 and 0644 are taken: test_p10, full passes with
   the spool and the trail). A file seen at 0644 and made 0666 before it settles is not taken, and stays in IN
   (the chmod changes ctime, part of the settle signature; test_p11, control: the file left 0644 is taken). A link
   to a 0666 file is rejected as a link (DAI-201), never followed (test_p12; control: the same bytes as a 0644 file
   are taken). The warning is given once for all files and passes, apart from the folders' (test_p11).
3. Review 128 defect 1 (SRS-223): HOLDS. private_dir (keystore.py:46-53) creates each missing folder 0700 from the
   first existing ancestor down, under umask 000 too, and touches no existing folder: a 0755 ancestor keeps its
   mode, an existing 0755 target is still refused (test_p20; control: mkdir(parents=True) gives 0777 there).
   Callers: device_home, audit/log.py:54, 145, 280, keystore.py:173 (audit_key_file's folder), :255, node/
   runtime.py:34, keybackup/inventory.py:135. Every one names a device folder or the site's key folder, where
   owner-only ancestors made by the device are what SRS-223 and THR-030 want; a restore into a home whose
   parent is lost too makes all three 0700 and the next command accepts it (test_p21; control: the backup of the
   first home). N2.
4. Review 128 defect 2 (SRS-224, THR-035): the check HOLDS; DEFECT 2 in the texts. Every proven record is tested
   against the stated filter (export_verify.py:62, 74-77; app/audit_export.py:94-99): an unknown key and a value
   that is not text are DAI-712 (test_p31), genuine filtered exports (--since/--until as parse_time writes them,
   --event, --study) verify (test_p32; control: a record of the filter's complement added fails).
   DEFECT 2: any record can be cut from a whole-log export, not only the first or last, once the bundle states a
   filter every remaining record meets: since=<the first record's time>, until=<the last one's>, or event=""
   (an empty value matches every entry, EntryFilter.matches); verify-export exits 0 and its OK line names that
   filter (test_d2 pin; control: since=<the second record's time> fails on the first record). THR-035
   (threats.yaml:611-613: "removing one from the middle of an export of the whole log, now needs the device's
   signing key (E2)") and SRS-224's rationale (requirements.yaml:2741: "a whole-log export cut at its start or
   end") say a middle cut is detected. The residual E3 and the OK line's warning are right; the limitation is
   misstated. Strict xfail test_d2_a_record_cut_from_the_middle_of_a_whole_log_export_is_detected. Fix: say
   "a record cut anywhere" in both texts, or let the receiver state the selection it asked for.
5. Review 128 defect 3 (SRS-214): HOLDS. check_signatures compares the manifest's own block with the draft block
   (package_signing.py:195-199); a genuine package holds exactly that block unsealed and sealed, and both verify
   (test_p40); one field of it changed is reported, alone (test_p40); a block removed claims nothing and is not
   reported. Review 128's d3 tests and tests/regulatory_render/test_signed_approvals.py pass.
6. Review 127 defect 1 (SRS-220, THR-036, IF-BATCH-LOCAL, text only): HOLDS. The three texts now say what review
   127's d1 pin shows (/sitemap.json 200, listing only itself; every other page 404); its strict xfail stands as
   the lead said. test_review_127.py, test_review_128.py and the authors' tests around the fixes (test_result_
   digests, test_export_proofs, tests/keys, test_keystore, test_signed_approvals, test_hot_folder,
   test_local_threat_controls): 149 passed, 1 xfailed (127 d1) in 79 s.

Independent records (traceability/reviews.yaml, at HEAD's content): SRS-214, SRS-219, SRS-220, SRS-223, THR-004,
THR-036, IF-BATCH-LOCAL. None for SRS-222, THR-015, IF-RESULT-FILES (defect 1) nor SRS-224, THR-035 (defect 2).

Lead, 2026-12-07 (not re-reviewed): defect 1 fixed - result_check.py numbers entries by their place in the log
and takes no record whose stated seq is not its place (the d1 pin asserts the refusal, its xfail is a plain test);
defect 2 - THR-035 and SRS-224 now say any record can be cut from an export relabelled with a filter the rest
meet, the OK line naming it (the pin asserts the new text; the strict xfail stays, a limit of filtered exports);
an empty filter value is refused.

Notes (no xfail):
N1 (SRS-222) Superseding is read from every entry, covered or not (result_check.py:152-156): an appended failure
   entry whose details say supersedes=<the genuine entry's seq> makes a genuine result refused as a failed action's
   (test_p05; control: without it the result passes). Fails closed; same E2 access.
N2 (SRS-223) A site whose DEVICE_AI_HOME or audit_key_file lies under folders that do not yet exist now gets
   those folders 0700 (not the umask's): restrictive by design, stated in keystore.private_dir's docstring only.
N3 (SRS-214) A manifest whose own approval is not an object (a string or a list) raises AttributeError out of
   check_signatures (:199, own.get); the page entries have the same gap (listed.get), so not new in kind.
N4 THR-004, THR-015, THR-035 and THR-036 still say their control is draft; the lead's approval (0bfb677) did not
   touch them.

Mutation check (one edit each in a copy of HEAD's src/ by git archive into /tmp/h131src/<name>/src, models/ linked
beside it, by /tmp/h131src/mutate.py; this file run with the copy first on PYTHONPATH; null copy: 24 passed, 2
xfailed). Each fix undone: M1 every entry taken as covered (result_check.py:79-80): d2 control, p03, p04 (and review
127's two d2 tests; the authors' test_result_digests.py passes); M2 files with other-write taken (hot_folder.py:282):
p10 x3, p11; M3 private_dir back to mkdir(parents=True) (keystore.py:46-53): p20, p21; M4 no selection test
(audit_export.py:94): d2 control, p31[unknown key], p32; M5 the manifest's own block not compared
(package_signing.py:196): p40. 5 mutants, 5 killed. FIX_D1 (entries placed by their index in the scan,
result_check.py:157-158): the d1 pin fails and its xfail XPASSes (strict: fails); every other test here, review
127's and the authors' result-digest tests pass (24 passed).

NOT checked: POSIX ACLs on IN's files; an exporter that opens a file while it is 0666 and writes through that
descriptor after a chmod to 0644 (write access is checked at open; THR-004's residual); a Dask cluster (run in
test_review_127.py, not here); ATNA and leaves formats under a stated filter (FHIR probed).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import shutil
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.review.test_review_127 import _flip, _main, series  # noqa: F401 - series: the phantom fixture
from tests.review.test_review_128 import (_read, _run, _verify, _write, built, device, exported,  # noqa: F401
                                          graph, project, signed)

# === SRS-222: only covered entries vouch (review 127 defect 2) ==============================================


def _append(log: Path, genuine: str, forged: str, *, stated_seq: int | None = None,
            details: dict[str, str] | None = None) -> int:
    """Append to ``log``, framed as the device frames records and without any key, a copy of the newest entry
    listing ``genuine`` with that digest replaced by ``forged``; its "seq" field says ``stated_seq`` (its true
    place when None). Returns its true place."""
    from device_ai.audit.store import scan

    data = log.read_bytes()
    records = scan(data).records
    entry = json.loads(next(r for r in reversed(records) if genuine.encode() in r.payload).payload)
    entry["seq"] = len(records) if stated_seq is None else stated_seq
    entry["objects"] = [{**o, "id": forged} if o.get("id") == genuine else o for o in entry["objects"]]
    if details is not None:
        entry.update(outcome=8, details=details, objects=[])
    payload = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    log.write_bytes(data + struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)
    return len(records)


def _analyzed(series: Path, out: Path) -> tuple[str, int]:  # noqa: F811
    """(the SEG's digest, the seq of the entry that published it) of a fresh analyze --out OUT."""
    from device_ai.app.result_check import verify_results

    _main("analyze", str(series), "--out", str(out))
    check = verify_results(out)
    assert check.ok
    return hashlib.sha256((out / "segmentation.dcm").read_bytes()).hexdigest(), check.entry.seq


def _seg_digest(out: Path) -> str:
    return hashlib.sha256((out / "segmentation.dcm").read_bytes()).hexdigest()


def _forged_run(series: Path, tmp_path: Path, stated: str) -> tuple[Any, Any]:  # noqa: F811
    """An analyze result whose SEG is then altered, and one record appended (no key) to the device's log and to a
    copy of its audit folder, vouching for the altered SEG; its seq field states its own place ("own") or the
    genuine entry's ("genuine"). (local check or its error, --dir check with the pinned key or its error)."""
    from device_ai.app.audit_trail import verify
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder, device_verifier_key
    from device_ai.errors import DeviceAIError

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)
    _flip(out / "segmentation.dcm")
    forged = _seg_digest(out)
    assert not verify_results(out).ok  # the alteration is seen without the appended record
    pinned = device_verifier_key(default_folder(), only_existing=True)
    copy_dir = tmp_path / "audit-copy"
    shutil.copytree(default_folder(), copy_dir)
    for log in (default_folder() / LOG_NAME, copy_dir / LOG_NAME):
        _append(log, genuine, forged, stated_seq=seq if stated == "genuine" else None)
    assert verify(None, None, []).ok and verify(copy_dir, pinned, []).ok  # audit verify accepts both logs
    results = []
    for folder, key in ((None, None), (copy_dir, pinned)):
        try:
            results.append(verify_results(out, audit_dir=folder, key=key))
        except DeviceAIError as exc:
            results.append(exc)
    return results[0], results[1]


@pytest.mark.req("SRS-222")
def test_d1_a_record_appended_without_the_key_stating_the_genuine_seq_no_longer_vouches_for_an_altered_seg(
        series: Path, tmp_path: Path) -> None:  # noqa: F811
    """Pin of defect 1, inverted by the lead's fix (result_check.py takes an entry's place in the log, and a
    record whose stated seq is not its place is no evidence): the appended record vouches for nothing."""
    local, copied = _forged_run(series, tmp_path, "genuine")
    assert not getattr(local, "ok", False) and not getattr(copied, "ok", False), (local, copied)


@pytest.mark.req("SRS-222")
def test_d2_control_the_same_record_stating_its_own_place_is_refused_naming_it(series: Path,
                                                                             tmp_path: Path) -> None:  # noqa: F811
    from device_ai.errors import NoPublishingEntry

    local, copied = _forged_run(series, tmp_path, "own")
    for refused in (local, copied):
        assert isinstance(refused, NoPublishingEntry) and "which no signed checkpoint covers yet" in str(
            refused.message), refused


@pytest.mark.req("SRS-222")
def test_d1_an_appended_record_vouches_for_nothing_whatever_seq_it_states(series: Path,
                                                                         tmp_path: Path) -> None:  # noqa: F811
    local, copied = _forged_run(series, tmp_path, "genuine")
    assert not getattr(local, "ok", False) and not getattr(copied, "ok", False)


@pytest.mark.req("SRS-222")
def test_p02_a_node_analysis_is_covered_when_it_returns_though_the_nodes_own_log_is_not(
        series: Path, tmp_path: Path) -> None:  # noqa: F811
    """The node's worker runs the audited analyze action (its own AuditLog, closed with a checkpoint) while the
    runtime's long-lived log holds entries no checkpoint covers yet."""
    from device_ai.app.analysis import AnalysisRequest, analyze
    from device_ai.app.audit_trail import verify
    from device_ai.app.context import Context
    from device_ai.app.result_check import verify_results
    from device_ai.audit.entry import APPLICATION_ACTIVITY, APPLICATION_START
    from device_ai.config import load_settings

    ctx = Context(settings=load_settings())
    node_log = ctx.open_audit_log()  # as NodeRuntime.open does, held for the node's life
    try:
        node_log.append(APPLICATION_ACTIVITY, event_type=APPLICATION_START)
        covered = max((c.size for c in verify(None, None, []).checkpoints), default=0)
        assert covered < verify(None, None, []).records  # control: the node's entry is not covered
        analyze(ctx, AnalysisRequest(input=series, out=tmp_path / "result", uid_seed="h131-node"))
        check = verify_results(tmp_path / "result")
        assert check.ok and check.entry.event == "Analysis Run"
        node_log.append(APPLICATION_ACTIVITY, event_type=APPLICATION_START)  # the node goes on
        report = verify(None, None, [])
        assert max(c.size for c in report.checkpoints) < report.records and verify_results(tmp_path / "result").ok
    finally:
        node_log.close()


@pytest.mark.req("SRS-222")
def test_p03_two_covered_entries_and_an_uncovered_one_that_ties(series: Path, tmp_path: Path) -> None:  # noqa: F811
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.errors import NoPublishingEntry

    first, second = tmp_path / "first", tmp_path / "second"
    digest, seq = _analyzed(series, first)
    _analyzed(series, second)
    tie = _append(default_folder() / LOG_NAME, digest, digest)  # the first run's entry again, uncovered
    check = verify_results(first)
    assert check.ok and check.entry.seq == seq and tie > seq
    _flip(first / "segmentation.dcm")  # control: an uncovered entry that matches better is refused
    _append(default_folder() / LOG_NAME, digest, _seg_digest(first))
    with pytest.raises(NoPublishingEntry, match="which no signed checkpoint covers yet"):
        verify_results(first)


@pytest.mark.req("SRS-222")
def test_p04_the_stated_residual_the_next_command_signs_an_appended_record(series: Path,
                                                                           tmp_path: Path) -> None:  # noqa: F811
    """THR-015 and SRS-222's rationale: an account that can write the audit folder appends an entry that the
    device's next checkpoint signs - true, and why the residual is the device account's (E2)."""
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, AuditLog, default_folder
    from device_ai.errors import NoPublishingEntry

    out = tmp_path / "out"
    genuine, _ = _analyzed(series, out)
    _flip(out / "segmentation.dcm")
    _append(default_folder() / LOG_NAME, genuine, _seg_digest(out))
    with pytest.raises(NoPublishingEntry):  # control: not yet signed
        verify_results(out)
    AuditLog.open(default_folder()).close()  # any audited command: a checkpoint when it closes
    assert verify_results(out).ok


@pytest.mark.req("SRS-222")
def test_p05_an_uncovered_failure_entry_can_make_a_genuine_result_refused(series: Path,
                                                                          tmp_path: Path) -> None:  # noqa: F811
    """N1: superseding is read from every entry, covered or not; fails closed."""
    from device_ai.app.result_check import verify_results
    from device_ai.audit.log import LOG_NAME, default_folder
    from device_ai.errors import NoPublishingEntry

    out = tmp_path / "out"
    genuine, seq = _analyzed(series, out)  # control: the genuine result passes
    _append(default_folder() / LOG_NAME, genuine, genuine, details={"supersedes": str(seq)})
    with pytest.raises(NoPublishingEntry, match="supersedes"):
        verify_results(out)


# === SRS-219: a file every account can write stays in IN (review 127 defect 3) ==============================

@pytest.fixture
def watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a started HotFolder
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    node_env(monkeypatch)
    (tmp_path / "in").mkdir(mode=0o755)
    folder = HotFolder(context(), tmp_path / "in", tmp_path / "out", settle_s=1.0, pipeline=False)
    folder.start()
    yield folder
    folder.stop()


def _instance(series: str) -> bytes:
    from tests.dicom.synthetic import part10
    from tests.node.conftest import series_slices

    return part10(series_slices(series=series, count=1, rows=256)[0])


def _put(folder: Path, name: str, data: bytes, mode: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    (folder / name).chmod(mode)
    return folder / name


def _spooled() -> list[bytes]:
    from tests.node.conftest import spool

    return sorted(p.read_bytes() for p in (spool() / "series").glob("*/open/*.dcm"))


@pytest.mark.req("SRS-219")
@pytest.mark.parametrize(("mode", "taken"), [(0o666, False), (0o646, False), (0o602, False), (0o664, True),
                                             (0o644, True)])
def test_p10_a_file_with_the_other_write_bit_is_left_in_in(watcher, mode: int, taken: bool) -> None:  # noqa: ANN001
    data = _instance(f"mode-{mode:o}")
    path = _put(watcher.inbox / "export", "IM1.dcm", data, mode)
    watcher.scan_once(now=0.0)
    done = watcher.scan_once(now=5.0)
    assert (done.taken, path.exists(), _spooled() == [data]) == ((1, False, True) if taken else (0, True, False))


@pytest.mark.req("SRS-219")
def test_p11_a_file_made_0666_after_it_was_seen_is_not_taken_and_the_warning_is_given_once(
        watcher, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    opened, kept = _instance("opened"), _instance("kept")
    later = _put(watcher.inbox, "later.dcm", opened, 0o644)
    control = _put(watcher.inbox, "kept.dcm", kept, 0o644)
    _put(watcher.inbox / "b", "also.dcm", _instance("also"), 0o666)
    with caplog.at_level(logging.WARNING):
        assert watcher.scan_once(now=0.0).waiting == 2  # both seen, neither settled
        later.chmod(0o666)
        for now in (5.0, 10.0, 15.0):
            watcher.scan_once(now=now)
    assert later.exists() and not control.exists() and _spooled() == [kept]
    said = [r.getMessage() for r in caplog.records if "files under" in r.getMessage()]
    assert len(said) == 1 and "every account can write are not taken" in said[0], said


@pytest.mark.req("SRS-219")
def test_p12_a_link_to_a_0666_file_is_rejected_as_a_link(watcher, tmp_path: Path) -> None:  # noqa: ANN001
    data = _instance("linked")
    target = _put(tmp_path / "elsewhere", "open.dcm", data, 0o666)
    (watcher.inbox / "linked.dcm").symlink_to(target)
    watcher.scan_once(now=0.0)
    done = watcher.scan_once(now=5.0)
    assert (done.taken, done.rejected) == (0, 1) and _spooled() == [] and target.read_bytes() == data
    reasons = " ".join(p.read_text() for p in watcher.rejected.rglob("*") if p.is_file() and not p.is_symlink())
    assert "symbolic link" in reasons
    _put(watcher.inbox, "copy.dcm", data, 0o644)  # control: the same bytes as the site's file are taken
    watcher.scan_once(now=10.0)
    assert watcher.scan_once(now=15.0).taken == 1 and _spooled() == [data]


# === SRS-223: keystore.private_dir (review 128 defect 1) ====================================================

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.req("SRS-223")
def test_p20_private_dir_makes_missing_folders_0700_and_touches_no_existing_one(tmp_path: Path) -> None:
    from device_ai.errors import ConfigError
    from device_ai.keystore import private_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    umask = os.umask(0)
    try:
        private_dir(shared / "a" / "b" / "c")
        (shared / "plain" / "b").mkdir(parents=True)  # control: what mkdir's parents give under this umask
    finally:
        os.umask(umask)
    assert [_mode(shared / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3 and _mode(shared) == 0o755
    assert _mode(shared / "plain") == 0o777
    with pytest.raises(ConfigError, match="has mode 0755"):  # an existing folder open to others: still refused
        private_dir(shared)
    assert _mode(shared) == 0o755


@pytest.mark.req("SRS-223")
def test_p21_a_restore_into_a_home_whose_parent_is_lost_too(device: dict[str, Path], tmp_path: Path,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(device["backup"]), "--passphrase-file", str(device["passphrase"])]
    assert _run(capsys, "keys", "verify-backup", *args)[0] == 0  # control: the first home matches its backup
    home = tmp_path / "gone" / "site" / "home"
    monkeypatch.setenv("DEVICE_AI_HOME", str(home))
    umask = os.umask(0)
    try:
        code, _, err = _run(capsys, "keys", "restore", *args)
        assert code == 0, err
        code, _, err = _run(capsys, "keys", "verify-backup", *args)
    finally:
        os.umask(umask)
    assert code == 0 and "DAI-100" not in err, err
    assert [_mode(p) for p in (home.parent.parent, home.parent, home, home / "keys")] == [0o700] * 4


# === SRS-224: every proven record meets the stated filter (review 128 defect 2) ============================

def _leaves(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(r["leaf"])) for r in bundle["records"]]


def _cut_and_state(exported: dict[str, Any], stated: str, cut: int = 3) -> tuple[int, str, str]:  # noqa: F811
    """A middle record removed from both files of the whole-log export, the bundle relabelled; verify-export."""
    lines, bundle = _read(exported)
    leaves = _leaves(bundle)
    selection = {"since": {"since": leaves[0]["time_utc"]}, "until": {"until": leaves[-1]["time_utc"]},
                 "empty event": {"event": ""}, "since the second": {"since": leaves[1]["time_utc"]}}[stated]
    del lines[cut], bundle["records"][cut]
    bundle["selection"] = selection
    _write(exported, lines, bundle)
    return _verify(exported["capsys"], exported["export"], exported["key"])


@pytest.fixture
def cut(exported: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:  # noqa: F811
    return {**exported, "capsys": capsys}


@pytest.mark.req("SRS-224")
def test_d2_an_empty_filter_value_is_refused(cut: dict[str, Any]) -> None:
    """Lead, 2026-12-07: an empty filter value filters nothing and is no selection an export makes."""
    code, _, err = _cut_and_state(cut, "empty event")
    assert code == 8 and "is not one audit export makes (event is empty)" in err, err


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("stated", ["since", "until"])
def test_d2_a_record_cut_from_the_middle_of_a_whole_log_export_passes_under_a_filter_all_others_meet(
        cut: dict[str, Any], stated: str) -> None:
    """Pin of defect 2: THR-035 says such a cut needs the signing key, SRS-224's rationale that only a cut at the
    start or end passes relabelled; the OK line names the stated filter (what the receiver must compare)."""
    code, out, err = _cut_and_state(cut, stated)
    assert code == 0 and "OK: 5 fhir record(s)" in out and "selection: the filter " in out, err
    # lead, 2026-12-07: the texts now state this limit instead of claiming the key is needed (the xfail below
    # stays: a filtered export cannot be checked complete, by design)
    texts = (Path(__file__).resolve().parents[2] / "security" / "threats.yaml").read_text(encoding="utf-8")
    assert "removing one from the middle" not in " ".join(texts.split())
    assert "any record can be cut from an export relabelled with a filter" in " ".join(texts.split())


@pytest.mark.req("SRS-224")
def test_d2_control_a_filter_the_first_record_does_not_meet_fails(cut: dict[str, Any]) -> None:
    code, _, err = _cut_and_state(cut, "since the second")
    assert code == 8 and "is not chosen by the selection the bundle states" in err, err


@pytest.mark.req("SRS-224")
@pytest.mark.xfail(strict=True, reason="defect 2: a middle cut of a whole-log export passes relabelled with a "
                                       "since filter (THR-035: 'needs the device's signing key')")
def test_d2_a_record_cut_from_the_middle_of_a_whole_log_export_is_detected(cut: dict[str, Any]) -> None:
    assert _cut_and_state(cut, "since")[0] == 8


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize(("selection", "said"), [({"patient": "x"}, "is not one audit export makes"),
                                                 ({"since": 5}, "selection.since"),
                                                 ({"event": ["DAI004"]}, "selection.event")])
def test_p31_a_stated_filter_the_device_never_writes_is_refused(cut: dict[str, Any], selection: dict,
                                                                said: str) -> None:
    lines, bundle = _read(cut)
    bundle["selection"] = selection
    _write(cut, lines, bundle)
    code, out, err = _verify(cut["capsys"], cut["export"], cut["key"])
    assert code == 8 and "DAI-712" in err and said in err and out == "", err


@pytest.mark.req("SRS-224")
def test_p32_genuine_filtered_exports_verify_and_an_added_record_does_not(cut: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    capsys = cut["capsys"]
    requests = {"since-until": ("--since", "1d", "--until", "2999-01-01"), "event": ("--event", "Analysis Run"),
                "study": ("--study", "study-0000000000000002")}
    for name, extra in requests.items():
        export = tmp_path / f"{name}.fhir"
        code, _, err = _run(capsys, "audit", "export", "--dir", str(cut["log"]), "--format", "fhir", "--out",
                            str(export), *extra)
        assert code == 0, err
        code, out, err = _verify(capsys, export, cut["key"])
        assert code == 0 and "selection: the filter" in out, (name, err)
    whole_lines, whole = _read(cut)  # control: the study export with another study's record added, in place
    case = {"export": tmp_path / "study.fhir", "bundle": tmp_path / "study.fhir.proof.json"}
    lines, bundle = _read(case)
    at = next(i for i, leaf in enumerate(_leaves(whole)) if leaf["seq"] == 4)
    lines.insert(1, whole_lines[at])
    bundle["records"].insert(1, whole["records"][at])
    _write(case, lines, bundle)
    code, _, err = _verify(capsys, case["export"], cut["key"])
    assert code == 8 and "DAI-712" in err, err


# === SRS-214: the manifest's own approval block (review 128 defect 3) =======================================

def _own_block(package: Path) -> Any:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))["documents"]["manifest.json"].get(
        "approval")


@pytest.mark.req("SRS-214")
def test_p40_a_genuine_package_holds_the_draft_block_sealed_or_not_and_any_change_is_reported(
        signed: tuple[Path, dict]) -> None:  # noqa: F811
    from device_ai.regulatory import approvals
    from device_ai.regulatory.package import manifest_bytes, verify_package
    from device_ai.regulatory.package_signing import check_signatures, sign_document

    package, ctx = signed
    draft = json.loads(json.dumps(approvals.draft_approval()))
    assert _own_block(package) == draft and verify_package(package, ctx["trusted"]) == []
    sealed = package.parent / "sealed"
    shutil.copytree(package, sealed)
    sign_document(sealed, "DAI-DOC-MANIFEST", role="qa-ra", name="Quentin QA", key=ctx["keys"]["qa-ra"],
                  date="2026-12-07T10:00:00Z", trusted=ctx["trusted"])
    report = check_signatures(sealed, ctx["trusted"])
    assert _own_block(sealed) == draft and report.seal == "sealed" and report.problems == ()

    def with_own(block: Any) -> list[str]:
        manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
        if block is None:
            del manifest["documents"]["manifest.json"]["approval"]
        else:
            manifest["documents"]["manifest.json"]["approval"] = block
        (package / "manifest.json").write_bytes(manifest_bytes(manifest))
        return verify_package(package, ctx["trusted"])

    changed = copy.deepcopy(draft)
    changed["missing_roles"] = []  # one field of the draft block, nothing claimed approved
    found = with_own(changed)
    assert len(found) == 1 and found[0].startswith("manifest.json: its own entry lists"), found
    assert with_own(None) == []  # no block claims nothing
    assert with_own(draft) == []  # control: the draft block again verifies
