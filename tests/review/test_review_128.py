"""Independent review 128 (reviewer helper-128) of SRS-223, SRS-224 and SRS-225 (issue 19, all draft) and of the
lead's fixes of SRS-209, SRS-212 (04249a3, bab5c35; review 115) and SRS-214 (5bcd986; review 116), at HEAD 7a20d1f
(none of the reviewed files changed since 27d1afa). helper-128 wrote none of the code, texts or tests reviewed.
Read (``git show``): 62b8c77 (SRS-223: keybackup/sealed.py, keybackup/inventory.py, app/keys.py, cli/keys.py,
keystore.key_files, THR-030, IF-KEY-STORE, SI-KEYS, docs/key_custody.md Backup), 690ff56 (SRS-224:
audit/export_proof.py, audit/export_verify.py, app/audit_export.py, export.render_line, MerkleTree.inclusion_proof,
THR-035, IF-AUDIT-EXPORT), 0418a31 (SRS-225: submission/device.yaml, THR-003, the author's IFU test).

1. SRS-223 (key backup): DEFECT 1; the rest HOLDS.
   Construction (sealed.py:67-71, 87-98): scrypt N=2^17, r=8, p=1 in the header of a default file; a new random
   salt and nonce per file (so key and nonce never repeat); the whole header is the GCM associated data - the
   body does not decrypt without it (test_h01). Every header field is bound or refused: magic, version and a cost
   outside 2^14..2^18 before any derivation, cost, r, p, salt and nonce by the tag (test_h02, 8 cases, control:
   the file unseals). Nothing of the document is in clear: key names, roles, origin, software version and key
   bytes are only in the plaintext (test_h01, control: the plaintext holds every word looked for); the file's
   length does tell how many keys and roughly which (N1). verify-backup compares every file of the device: each
   of the five (four keys and signer.vkey) left out of a backup, or one byte changed, is named alone ("missing in
   backup" / "differs", exit 1, DAI-271), and another origin fails (test_h03; control: the complete backup, 6
   matches). Restore under umask 000 writes keys/ and audit/ 0700 and the five files 0600 (test_h04).
   Audit entries say what happened (app/keys.py:93-129, 159-184): a backup is one success entry naming the keys and
   the file's SHA-256; a refused backup a failure entry (DAI-501) and no success; a verification's entry carries the
   verdict and the statuses printed (test_h05); a home without an audit key is backed up unrecorded and no key or
   log is made (test_h06, control: with the key it is recorded); a restore names exactly the keys it wrote and
   those already there; a refused restore writes no key and no entry (test_h07). No key is printed by the three
   commands (test_h08).
2. SRS-224 (audit export proof): DEFECT 2; the rest HOLDS.
   Each alteration of a whole-log FHIR export fails with DAI-712 naming what failed (test_h20, control: intact
   passes): an edited field, a record removed (middle, and the last), two records swapped, a repeated record, a
   record of another log signed by the same key and origin with its valid proof against that log's checkpoint
   (export_verify.py:149-156), a genuine older checkpoint of the same log put in the newer bundle, and the same
   checkpoint body signed by another key under the same origin (108-132). Records swapped in both files of a
   filtered export fail on the order (141-144; test_h21); a forged leaf rendered into the export fails its proof
   (test_h22). Verification reads no setting, no home and no private key: with a 0666 DEVICE_AI_CONFIG, a missing
   home and every private-key reader of keystore replaced by one that fails, it passes and creates nothing
   (test_h23; control: audit public-key under that config is refused). The same log and request gave the same
   bytes (probe, two exports).
3. SRS-225 (IFU warning, THR-003): HOLDS. The warning is in the rendered warnings section of the repository's IFU
   with the four phrases in one item; moved to the precautions it is not (test_h30, control; the author's test
   covers removal and a split). The claim is honest: THR-003 keeps I3/E3/E3, plan.yaml rates I3 x E3 ALARA, and both
   THR-003's and SRS-225's rationales say the warning lowers neither impact nor exploitability (test_h30). N2.
4. SRS-209 fix (published_figures.py:436-455): HOLDS. Runs are compared as instants whatever their offsets:
   the same instant written -0530, +0900 or +01:00 beside 'after-preflight' (21:31:12+0000) is refused as a tie,
   one second later at -0800 is cited, one second earlier at +0530 (later as text) is not; a 'when' without
   offset is refused naming the run (test_h40, 6 cases). Review 115's pins and tests pass (22).
5. SRS-212 fix (ai_validation.html.j2:106): HOLDS. With every candidate passing, the sentence says none failed and
   names both as passing (test_h50; control: the committed candidates are said to have failed). N3.
6. SRS-214 fix (package_signing.py:216-222): HOLDS for page entries; DEFECT 3 beside it. In an unsealed manifest a
   signature removed, a date or key ID altered, a signature or a field added, or the block removed is each
   reported, alone (test_h60, 6 cases, control: the signed package has no problem); in a sealed one the change is
   reported and the seal fails (test_h61, control: sealed and clean). Review 116's tests pass (20).

Defects (each a strict xfail beside a passing pin and a control):

1. (SRS-223) A restore into a home that no longer exists (the log lost too, or not yet copied back) makes the home
   with the umask's mode: inventory.py:135 calls keystore.private_dir(file.path.parent), whose mkdir(mode=0o700,
   parents=True) (keystore.py:45) gives missing parents the umask's mode. Under umask 022 the home is 0755, and
   the next command (verify-backup, audit public-key, anonymize-crosswalk) is refused with DAI-100 "the device
   folder ... has mode 0755"; under umask 000 it is 0777 until then. SRS-223 says the restore writes "owner-only
   (folders 0700, files 0600)", THR-030 that crosswalks decrypt after it. Fails closed. Pin
   test_d1_a_restore_into_a_lost_home_leaves_it_open_and_the_device_refuses_it; control: a kept 0700 home
   restores and verifies (test_d1_control...). Strict xfail test_d1_a_restore_into_a_lost_home_makes_it_owner_only.
   Fix: keystore.device_home() (private_dir of the home) before the first write (shown by mutant FIX_d1), or
   mkdir each missing parent 0700.
2. (SRS-224, THR-035) Whether an export is "of the whole log", and so checked complete, is read from the bundle's
   selection (export_verify.py:56, 85, 145), which nothing signs, and the exported records are never checked
   against that selection. Whoever can edit both files removes a record from a whole-log export and writes any
   filter into the bundle - {"event": "DAI001"}, which none of the records even matches - and verify-export exits
   0 ("OK: 5 fhir record(s) ... selection: the filter event=DAI001"). THR-035's rationale (threats.yaml:611-613:
   "removing one from an export of the whole log now needs the device's signing key (E2)") and SRS-224's
   ("those of a whole-log export do not [go unnoticed]", requirements.yaml:2740) overstate: only a receiver who
   reads the selection line and knows it asked for the whole log sees it. The residual E3 stays right. Pin
   test_d2_a_record_removed_from_a_whole_log_export_passes_once_the_bundle_states_a_filter; control: the same
   removal under the whole-log statement fails. Strict xfail test_d2_a_record_removed_from_a_whole_log_export_is_
   detected. Fix: let the receiver state what it expects (e.g. --whole-log, or the filter it asked for) and check
   each proven leaf against the selection (mutant FIX_d2 does the second), or state the path in both rationales.
3. (SRS-214) check_signatures skips the manifest's own entry (package_signing.py:196), so its approval block -
   always the draft one, since no signature can approve DAI-DOC-MANIFEST (its approval is the seal;
   render/control.py:151) - can claim "approved" by three valid signatures in an unsealed manifest and --verify
   (verify_package with trusted signers) reports nothing; SRS-214 asks it to report "a page or manifest that shows
   another approval than its signatures give". The lead's fix of review 116 d1 compares page entries only. Pin
   test_d3_an_unsealed_manifest_approving_itself_passes_verify; control: the same block on sds.html's entry is
   reported. Strict xfail test_d3_an_unsealed_manifest_approving_itself_is_reported. Fix: compare the manifest's
   own block with approvals.draft_approval() (mutant FIX_d3), or show the seal's state there.

Lead, 2026-12-07 (not re-reviewed): defect 1 - keystore.private_dir makes every missing folder above the one
asked for 0700 too; defect 2 - verify-export checks every proven record against the selection the bundle states
(a relabelled, cut whole-log export fails; the receiver still sees the stated selection on the OK line, and
removal from a filtered export stays undetected, as THR-035 says); defect 3 - check_signatures reports a manifest
entry of the manifest itself that is not the draft block. The pins assert the fixes, the xfails are plain tests.

Notes (no xfail):
N1 (SRS-223) The backup's length is in clear (1,507 bytes for four keys and signer.vkey here): it tells how many
   keys and whether the audit key is passphrase-encrypted (a longer PEM); no name, role or origin. --out into a
   new folder makes that folder with the umask's mode (write_once, atomic_io.py:156), 0777 under umask 000, where
   another account may delete or replace the backup (a replacement fails to decrypt: DAI-270). docs say "by a
   rename"; write_once hard-links.
N2 (SRS-225) Once SRS-225 is approved the release gate counts THR-003 as mitigated by a control that lowers
   nothing; the ALARA residual with its rationale is what carries it, as the rationale says.
N3 (SRS-212) With no failed candidate the sentence reads "... passing it but not released (see its section)":
   "it" has no antecedent and "its" is singular for two.
N4 (SRS-224) Two records swapped in a whole-log export are reported as "records were removed" (the whole-log
   index check runs before the order check): detected, named by place, worded as a removal.
N5 (SRS-223) A restore that fails part-way (OSError) says what it restored before, but records nothing.

Mutation check (one edit per mutant in copies /tmp/h128/mut/<name>/src of src/ by /tmp/h128/mutate.py, this
file run with the copy first on PYTHONPATH; tools/published_figures.py mutants in a copy of the repository,
which the figures tests load by path; M0 null copy: 48 passed, 3 xfailed). K1 no associated data (sealed 71, 94):
h01; K2 fixed nonce: h01; K3 "missing in backup" counted complete (inventory 32): h03; K4 a differing key planned
for writing (118): h07; K5 restore 0644 (136): h04, h07; K6 origin ignored (keys 69): h03 (2); K7 the entry names
present keys as restored: h07; K8 the log opened without an audit key: h06; X1 checkpoint signature unchecked
(export_verify 114, 121): h20; X2 inclusion proof unchecked (152): h20 (2), h22; X3 order unchecked (141): h20, h21;
X4 whole-log tail unchecked (85): h20; X5 never whole log (56): h20 (3); S1 state only (package_signing 220): h60
(5), h61; S2 seal not judged: h61; F1 'when' as text: h40 (6); F2 tie taken: h40 (3); T1 every candidate "failed"
(template 106): h50; W1 IFU warnings not rendered (ifu.html.j2:15): h30. 19 behaviour mutants, 19 killed. FIX_d1,
FIX_d2, FIX_d3: each flips its pin (fails) and its xfail (XPASS, strict: fails); FIX_d2 breaks nothing else.

NOT checked: DEVICE-DESCRIPTION as a whole (only the THR-003 warning was read; no record); the encrypted audit key
path (audit_key_passphrase_file) through backup and restore beyond reading app/keys.py:226-227; ATNA and leaves
formats beyond the author's tests (FHIR probed here); the conformance statement's regenerated rows.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import stat
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_ai import cli, keystore
from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.audit.checkpoint import sign_note
from device_ai.audit.entry import ANALYSIS_RUN, APPLICATION_ACTIVITY, AuditObject
from device_ai.audit.export import render_line
from device_ai.audit.log import LOG_NAME, AuditLog
from device_ai.errors import KeyBackupUnreadable
from device_ai.keybackup import inventory, sealed
from device_ai.regulatory import approvals
from device_ai.regulatory.package import build_package, manifest_bytes, verify_package
from device_ai.regulatory.package_signing import check_signatures, sign_document
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.view import TraceView
from tests import fast_yaml
from tests.regulatory_render.conftest import build_graph, copy_items, sample_results, write_run
from tests.regulatory_render.test_ifu_security_warning import REQUIRED, missing_adversarial_warning

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "a fake backup passphrase of helper-128\n"
SECRETS = ("pseudonym-key", "deidentification-key", "crosswalk-key")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _home() -> Path:
    return Path(os.environ["DEVICE_AI_HOME"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def _events(meaning: str) -> list[dict[str, Any]]:
    return entries(None, EntryFilter(event=meaning))[1]


# === SRS-223 ================================================================================================

@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """A home with every key and a log's verifier key, and a backup of it. The backups of these probes are
    sealed with N = 2^14 (the smallest cost a reader accepts) for speed; test_h01 checks the default cost."""
    monkeypatch.setattr(sealed, "LOG2_N", 14)
    assert cli.main(["audit", "public-key"]) == 0  # makes the audit key and signer.vkey
    for name in SECRETS:
        keystore.secret(name)
    passphrase = _private(tmp_path / "backup-passphrase", PASSPHRASE)
    backup = tmp_path / "keys.backup"
    assert cli.main(["keys", "backup", "--out", str(backup), "--passphrase-file", str(passphrase)]) == 0
    capsys.readouterr()
    return {"passphrase": passphrase, "backup": backup}


def _live() -> tuple[list[inventory.KeyFile], list[sealed.BackedUpItem]]:
    files = inventory.key_files(_home() / "audit")
    return files, inventory.collect(files)


def _content(items: list[sealed.BackedUpItem], origin: str = "device-ai.local/audit") -> sealed.BackupContent:
    return sealed.BackupContent(tuple(items), origin, "2026-12-07T00:00:00Z", "0.1.0")


@pytest.mark.req("SRS-223")
def test_h01_the_default_construction_authenticates_its_header_and_hides_the_roles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default cost N = 2^17, r = 8, p = 1 in the header; the header is the GCM associated data (the body
    does not decrypt without it); salt and nonce are new for each file; nothing of the document is in
    clear (key names, roles, origin, software version)."""
    secret = sealed.BackedUpItem("crosswalk-key", "crosswalk key (encrypts re-identification crosswalks)",
                                 os.urandom(32))
    content = _content([secret])
    passphrase = PASSPHRASE.strip().encode()
    default = sealed.seal(content, passphrase)  # the one derivation at the default cost (~0.45 s)
    offset = len(sealed.MAGIC)
    assert default.startswith(sealed.MAGIC) and struct.unpack_from(">BBBB", default, offset) == (1, 17, 8, 1)
    monkeypatch.setattr(sealed, "LOG2_N", 14)
    first, second = sealed.seal(content, passphrase), sealed.seal(content, passphrase)
    salt = slice(offset + 4, offset + 4 + sealed.SALT_BYTES)
    nonce = slice(salt.stop, sealed.HEADER_BYTES)
    assert first[salt] != second[salt] and first[nonce] != second[nonce]
    header, body = first[:sealed.HEADER_BYTES], first[sealed.HEADER_BYTES:]
    aead = AESGCM(sealed._derive(passphrase, first[salt], 14, 8, 1))
    document = aead.decrypt(first[nonce], body, header)
    with pytest.raises(InvalidTag):
        aead.decrypt(first[nonce], body, None)  # the header is authenticated, not only the body
    # nothing of the document in clear; control: the plaintext holds every word looked for
    words = [b"crosswalk", b"device-ai.local", b"0.1.0", b"role", base64.b64encode(secret.data)[:16]]
    assert all(word in document for word in words)
    assert not any(word in first or word in default for word in words)


@pytest.mark.req("SRS-223")
@pytest.mark.parametrize("field", ["magic", "version", "log2_n", "log2_n_out_of_range", "r", "p", "salt", "nonce"])
def test_h02_every_header_field_is_bound_or_refused(device: dict[str, Path], field: str) -> None:
    data = bytearray(device["backup"].read_bytes())
    passphrase = PASSPHRASE.strip().encode()
    assert sealed.unseal(device["backup"], passphrase).item("crosswalk-key") is not None  # control
    at = {"magic": 0, "version": len(sealed.MAGIC), "log2_n": len(sealed.MAGIC) + 1,
          "log2_n_out_of_range": len(sealed.MAGIC) + 1, "r": len(sealed.MAGIC) + 2, "p": len(sealed.MAGIC) + 3,
          "salt": len(sealed.MAGIC) + 4, "nonce": sealed.HEADER_BYTES - 1}[field]
    data[at] = {"log2_n": 15, "log2_n_out_of_range": 10, "r": 7, "p": 2}.get(field, data[at] ^ 0x01)
    altered = device["backup"].with_name("altered.backup")
    altered.write_bytes(bytes(data))
    with pytest.raises(KeyBackupUnreadable, match=str(altered)):
        sealed.unseal(altered, passphrase)


@pytest.mark.req("SRS-223")
@pytest.mark.parametrize("how", ["missing in backup", "differs"])
def test_h03_verify_backup_compares_every_key_and_the_verifier_key(device: dict[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   how: str) -> None:
    files, items = _live()
    assert len(items) == 5  # four keys and signer.vkey
    args = ("--passphrase-file", str(device["passphrase"]))
    code, out, _ = _run(capsys, "keys", "verify-backup", str(device["backup"]), *args)
    assert code == 0 and out.count(": matches") == 6  # control: the complete backup (five files and the origin)
    for index, file in enumerate(files):
        kept = [item for item in items if item.name != file.name]
        if how == "differs":
            data = items[index].data
            kept.insert(index, sealed.BackedUpItem(file.name, file.role, data[:-1] + bytes([data[-1] ^ 1])))
        backup = tmp_path / f"{how}-{file.name}.backup"
        backup.write_bytes(sealed.seal(_content(kept), PASSPHRASE.strip().encode()))
        code, out, err = _run(capsys, "keys", "verify-backup", str(backup), *args)
        assert code == 1 and "DAI-271" in err and f"{file.role}: {how}" in out, (file.name, out)
        assert out.count(": matches") == 5, file.name  # only that file is named
    other_origin = tmp_path / "other-origin.backup"
    other_origin.write_bytes(sealed.seal(_content(items, "site.example/other-log"), PASSPHRASE.strip().encode()))
    code, out, err = _run(capsys, "keys", "verify-backup", str(other_origin), *args)
    assert code == 1 and "audit origin: differs" in out and "DAI-271" in err


@pytest.mark.req("SRS-223")
def test_h04_restore_writes_owner_only_whatever_the_umask(device: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(_home() / "keys")
    (_home() / "audit" / "signer.vkey").unlink()
    umask = os.umask(0)
    try:
        code, out, err = _run(capsys, "keys", "restore", str(device["backup"]), "--passphrase-file",
                              str(device["passphrase"]))
    finally:
        os.umask(umask)
    assert code == 0 and out.count("restored: ") == 5, err
    assert _mode(_home() / "keys") == 0o700 and _mode(_home() / "audit") == 0o700
    written = [*(_home() / "keys").iterdir(), _home() / "audit" / "signer.vkey"]
    assert len(written) == 5 and {_mode(path) for path in written} == {0o600}
    # control: the mode check sees a file written under umask 000 without an explicit mode
    umask = os.umask(0)
    try:
        (_home() / "plain").write_bytes(b"x")
    finally:
        os.umask(umask)
    assert _mode(_home() / "plain") == 0o666


def _restore_into_a_lost_home(device: dict[str, Path], capsys: pytest.CaptureFixture[str], *,
                              keep_home: bool) -> tuple[int, str]:
    """The home deleted (its log lost too); keys restore under umask 022; then the next command."""
    shutil.rmtree(_home())
    if keep_home:
        _home().mkdir(mode=0o700)
    umask = os.umask(0o022)
    try:
        code, _, err = _run(capsys, "keys", "restore", str(device["backup"]), "--passphrase-file",
                            str(device["passphrase"]))
        assert code == 0, err
        code, _, err = _run(capsys, "keys", "verify-backup", str(device["backup"]), "--passphrase-file",
                            str(device["passphrase"]))
    finally:
        os.umask(umask)
    return code, err


@pytest.mark.req("SRS-223")
def test_d1_a_restore_into_a_lost_home_no_longer_leaves_it_open(
        device: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Pin of defect 1, inverted by the lead's fix (keystore.private_dir makes every missing folder above
    the one asked for 0700 too): the lost home comes back 0700 and the device accepts it."""
    code, err = _restore_into_a_lost_home(device, capsys, keep_home=False)
    assert _mode(_home()) == 0o700 and _mode(_home() / "keys") == 0o700
    assert code == 0 and "DAI-100" not in err, err


@pytest.mark.req("SRS-223")
def test_d1_control_a_restore_into_a_kept_home_works(device: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _restore_into_a_lost_home(device, capsys, keep_home=True)
    assert code == 0, err


@pytest.mark.req("SRS-223")
def test_d1_a_restore_into_a_lost_home_makes_it_owner_only(device: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _restore_into_a_lost_home(device, capsys, keep_home=False)
    assert _mode(_home()) == 0o700 and code == 0, err


@pytest.mark.req("SRS-223")
def test_h05_backup_and_verify_entries_say_what_happened(device: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--passphrase-file", str(device["passphrase"]))
    backed_up = _events("Keys Backed Up")
    digest = hashlib.sha256(device["backup"].read_bytes()).hexdigest()
    assert [(e["outcome"], e["objects"][0]["id"]) for e in backed_up] == [(0, digest)]
    assert backed_up[0]["details"]["keys"] == ",".join(f.name for f in _live()[0])
    # a refused backup (--out exists) is a failure entry, never a success
    code, _, _ = _run(capsys, "keys", "backup", "--out", str(device["backup"]), *args)
    assert code != 0
    last = _events("Keys Backed Up")[-1]
    assert last["outcome"] != 0 and last["details"] == {"error": "DAI-501"} and last["objects"] == []
    # verify: the entry's verdict and each status are the printed ones
    (_home() / "keys" / "pseudonym-key.bin").write_bytes(os.urandom(32))
    code, out, _ = _run(capsys, "keys", "verify-backup", str(device["backup"]), *args)
    assert code == 1
    details = _events("Key Backup Verified")[-1]["details"]
    printed = {line.split(": ")[0].strip(): line.split(": ")[1] for line in out.splitlines()[1:6]}
    assert details["verdict"] == "incomplete" and details["pseudonym-key"] == "differs"
    assert sorted(v for k, v in details.items() if k not in ("verdict", "audit_origin")) == sorted(printed.values())


@pytest.mark.req("SRS-223")
def test_h06_a_home_without_an_audit_key_is_backed_up_unrecorded_and_nothing_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sealed, "LOG2_N", 14)
    keystore.secret("crosswalk-key")
    passphrase = _private(tmp_path / "pp", PASSPHRASE)
    code, out, err = _run(capsys, "keys", "backup", "--out", str(tmp_path / "b"), "--passphrase-file",
                          str(passphrase))
    assert code == 0 and "not recorded in the audit trail" in out, err
    assert not (_home() / "keys" / "audit-checkpoint.pem").exists() and not (_home() / "audit").exists()
    # control: once the audit key exists the same command is recorded
    assert cli.main(["audit", "public-key"]) == 0
    code, out, _ = _run(capsys, "keys", "backup", "--out", str(tmp_path / "c"), "--passphrase-file", str(passphrase))
    assert code == 0 and "recorded in the audit trail" in out and len(_events("Keys Backed Up")) == 1


@pytest.mark.req("SRS-223")
def test_h07_restore_entries_name_exactly_what_was_restored_and_a_refusal_none(
        device: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ("keys", "restore", str(device["backup"]), "--passphrase-file", str(device["passphrase"]))
    (_home() / "keys" / "deidentification-key.bin").unlink()
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    restored = _events("Keys Restored")
    assert [e["details"] for e in restored] == [
        {"restored": "deidentification-key", "already_present": "audit-checkpoint,pseudonym-key,crosswalk-key,"
                                                                "signer.vkey"}]
    before = (_home() / "audit" / LOG_NAME).read_bytes()
    kept = os.urandom(32)
    (_home() / "keys" / "crosswalk-key.bin").write_bytes(kept)
    (_home() / "keys" / "pseudonym-key.bin").unlink()
    code, _, err = _run(capsys, *args)
    assert code != 0 and "DAI-501" in err
    assert (_home() / "audit" / LOG_NAME).read_bytes() == before  # no entry for a restore that did not happen
    assert (_home() / "keys" / "crosswalk-key.bin").read_bytes() == kept
    assert not (_home() / "keys" / "pseudonym-key.bin").exists()


@pytest.mark.req("SRS-223")
def test_h08_no_key_is_printed(device: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files, items = _live()
    (_home() / "keys" / "crosswalk-key.bin").unlink()
    outputs = ""
    for argv in (("keys", "backup", "--out", str(device["backup"].with_name("second"))),
                 ("keys", "verify-backup", str(device["backup"])), ("keys", "restore", str(device["backup"]))):
        code, out, err = _run(capsys, *argv, "--passphrase-file", str(device["passphrase"]))
        assert code == 0, err
        outputs += out + err
    forms = [form for item in items if item.name != "signer.vkey"
             for form in (item.data.hex()[:24], base64.b64encode(item.data).decode()[:16],
                          item.data.splitlines()[1][:16].decode() if item.data.startswith(b"-----") else None)
             if form]
    assert len(forms) == 9  # three forms of the PEM audit key, two of each secret key
    assert not [form for form in forms if form in outputs]
    assert [form for form in forms if form in outputs + forms[0]] == [forms[0]]  # control


# === SRS-224 ================================================================================================

def _log(folder: Path, lesions: int = 5) -> Path:
    with AuditLog.open(folder) as log:
        log.append(APPLICATION_ACTIVITY)
        for count in range(lesions):
            log.append(ANALYSIS_RUN, action="C", objects=(AuditObject(kind="study", id=f"study-{count:016x}"),),
                       details={"lesion_count": str(count)})
    return folder


@pytest.fixture
def exported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    log = _log(tmp_path / "log")
    code, key, _ = _run(capsys, "audit", "public-key")
    assert code == 0
    export = tmp_path / "audit.fhir"
    assert _run(capsys, "audit", "export", "--dir", str(log), "--format", "fhir", "--out", str(export))[0] == 0
    return {"log": log, "key": key.strip(), "export": export, "bundle": Path(f"{export}.proof.json")}


def _verify(capsys: pytest.CaptureFixture[str], export: Path, key: str) -> tuple[int, str, str]:
    return _run(capsys, "audit", "verify-export", str(export), "--key", key)


def _read(case: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    return case["export"].read_text().splitlines(), json.loads(case["bundle"].read_text())


def _write(case: dict[str, Any], lines: list[str], bundle: dict[str, Any]) -> None:
    case["export"].write_text("".join(f"{line}\n" for line in lines))
    case["bundle"].write_text(json.dumps(bundle))


def _export_of(capsys: pytest.CaptureFixture[str], log: Path, out: Path, *extra: str) -> tuple[list[str], dict]:
    assert _run(capsys, "audit", "export", "--dir", str(log), "--format", "fhir", "--out", str(out), *extra)[0] == 0
    return out.read_text().splitlines(), json.loads(Path(f"{out}.proof.json").read_text())


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("alteration", ["edit", "removal", "last removed", "reorder", "addition",
                                        "record of another log", "older checkpoint",
                                        "checkpoint signed by another key"])
def test_h20_every_alteration_of_a_whole_log_export_is_detected(exported: dict[str, Any], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                alteration: str) -> None:
    assert _verify(capsys, exported["export"], exported["key"])[0] == 0  # control
    lines, bundle = _read(exported)
    records = bundle["records"]
    if alteration == "edit":
        lines[2] = lines[2].replace('"action": "C"', '"action": "R"')
    elif alteration == "removal":  # from both files
        del lines[2], records[2]
    elif alteration == "last removed":  # from both files: nothing after it to show the gap
        del lines[-1], records[-1]
    elif alteration == "reorder":  # in both files
        lines[1], lines[2] = lines[2], lines[1]
        records[1], records[2] = records[2], records[1]
    elif alteration == "addition":  # a repeated record in both files
        lines.insert(3, lines[2])
        records.insert(3, records[2])
    elif alteration == "record of another log":  # same key and origin, valid proof against that log's checkpoint
        other_lines, other = _export_of(capsys, _log(tmp_path / "other", lesions=5), tmp_path / "other.fhir")
        assert other["records"][2]["leaf"] != records[2]["leaf"]
        lines[2], records[2] = other_lines[2], other["records"][2]
    elif alteration == "older checkpoint":  # the log's genuine checkpoint of the first export, before a record
        with AuditLog.open(exported["log"]) as log:
            log.append(ANALYSIS_RUN, details={"lesion_count": "9"})
        lines, newer = _export_of(capsys, exported["log"], tmp_path / "newer.fhir")
        assert len(newer["records"]) == len(records) + 1
        bundle = {**newer, "checkpoint": bundle["checkpoint"]}
        records = bundle["records"]
    else:  # the same checkpoint body signed by another key under the same origin
        note = bundle["checkpoint"].encode()
        body = note[: note.index(b"\n\n") + 1]
        bundle["checkpoint"] = sign_note(body, "device-ai.local/audit", Ed25519PrivateKey.generate()).decode()
    bundle["records"] = records
    _write(exported, lines, bundle)
    code, out, err = _verify(capsys, exported["export"], exported["key"])
    assert code == 8 and out == "" and "DAI-712" in err, (alteration, code, out, err)
    reason = {"edit": "field(s) action differ", "removal": "records were removed", "reorder": "records were removed",
              "last removed": "record 6 onwards were removed",
              "addition": "reordered or repeated", "record of another log": "inclusion proof does not lead",
              "older checkpoint": "inclusion proof does not lead",
              "checkpoint signed by another key": "not signed by the verifier key"}[alteration]
    assert reason in err.splitlines()[0], err


@pytest.mark.req("SRS-224")
def test_h21_records_reordered_in_both_files_of_a_filtered_export_are_detected(
        exported: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = {**exported, "export": tmp_path / "filtered.fhir", "bundle": tmp_path / "filtered.fhir.proof.json"}
    lines, bundle = _export_of(capsys, exported["log"], case["export"], "--event", "DAI004")
    assert len(lines) == 5 and bundle["selection"] == {"event": "DAI004"}
    assert _verify(capsys, case["export"], exported["key"])[0] == 0  # control
    lines[1], lines[3] = lines[3], lines[1]
    bundle["records"][1], bundle["records"][3] = bundle["records"][3], bundle["records"][1]
    _write(case, lines, bundle)
    code, _, err = _verify(capsys, case["export"], exported["key"])
    assert code == 8 and "reordered or repeated" in err


@pytest.mark.req("SRS-224")
def test_h22_a_forged_leaf_rendered_into_the_export_fails_its_inclusion_proof(
        exported: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    lines, bundle = _read(exported)
    leaf = json.loads(base64.b64decode(bundle["records"][3]["leaf"]))
    leaf["details"]["lesion_count"] = "0"
    forged = json.dumps(leaf, sort_keys=True, separators=(",", ":")).encode()
    bundle["records"][3]["leaf"] = base64.b64encode(forged).decode()
    lines[3] = render_line(forged, "fhir")
    assert lines[3] != _read(exported)[0][3]
    _write(exported, lines, bundle)
    code, _, err = _verify(capsys, exported["export"], exported["key"])
    assert code == 8 and "record 4 (leaf 3): its inclusion proof does not lead" in err


@pytest.mark.req("SRS-224")
def test_h23_verification_reads_no_setting_no_home_and_no_private_key(
        exported: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "open-config.yaml"
    config.write_text("audit_origin: site.example/other\n")
    config.chmod(0o666)  # refused by the settings (SRS-218) if they were read
    monkeypatch.setenv("DEVICE_AI_CONFIG", str(config))
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "no-home"))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a private key was read")
    for name in ("ed25519_key", "load_ed25519_private_key", "secret", "read_private_file"):
        monkeypatch.setattr(keystore, name, refuse)
    code, out, err = _verify(capsys, exported["export"], exported["key"])
    assert code == 0 and "OK: 6 fhir record(s)" in out, err
    assert not (tmp_path / "no-home").exists()
    code, _, err = _run(capsys, "audit", "public-key")  # control: a command that reads the settings is refused
    assert code == 2 and str(config) in err


def _drop_a_record_and_state_a_filter(exported: dict[str, Any], selection: dict[str, str]) -> None:
    lines, bundle = _read(exported)
    del lines[2], bundle["records"][2]
    bundle["selection"] = selection
    _write(exported, lines, bundle)


@pytest.mark.req("SRS-224")
def test_d2_a_record_removed_from_a_whole_log_export_no_longer_passes_once_the_bundle_states_a_filter(
        exported: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Pin of defect 2, inverted by the lead's fix (every proven record must meet the selection the bundle
    states): a filter written into the bundle that the records do not meet is reported."""
    _drop_a_record_and_state_a_filter(exported, {"event": "DAI001"})
    code, out, err = _verify(capsys, exported["export"], exported["key"])
    assert code == 8 and "is not chosen by the selection the bundle states (event=DAI001)" in err, (out, err)
    leaves = [json.loads(base64.b64decode(r["leaf"])) for r in _read(exported)[1]["records"]]
    assert [leaf["event"]["code"] for leaf in leaves] == ["110100"] + ["DAI004"] * 4  # none matches the filter


@pytest.mark.req("SRS-224")
def test_d2_control_the_same_removal_under_the_whole_log_statement_fails(exported: dict[str, Any],
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _drop_a_record_and_state_a_filter(exported, {})
    code, _, err = _verify(capsys, exported["export"], exported["key"])
    assert code == 8 and "records were removed" in err


@pytest.mark.req("SRS-224")
def test_d2_a_record_removed_from_a_whole_log_export_is_detected(exported: dict[str, Any],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _drop_a_record_and_state_a_filter(exported, {"event": "DAI001"})
    assert _verify(capsys, exported["export"], exported["key"])[0] == 8


# === SRS-225, SRS-214, SRS-212 (rendered from a copy of the repository's items) ===========================

@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_items(tmp_path_factory.mktemp("h128-project"))
    write_run(root / "results.json", root, sample_results())
    return root


@pytest.fixture(scope="module")
def graph(project: Path) -> dict[str, Any]:
    return build_graph(project, project / "results.json")


def _ifu(graph: dict[str, Any], root: Path) -> str:
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file == "ifu.html"])["ifu.html"]


def _section(page: str, anchor: str) -> str:
    return page.split(f'id="{anchor}"', 1)[1].split("</ul>", 1)[0]


@pytest.mark.req("SRS-225")
def test_h30_the_warning_is_in_the_warnings_section_and_claims_no_reduction(graph: dict[str, Any], project: Path,
                                                                            tmp_path: Path) -> None:
    page = _ifu(graph, project)
    assert "deliberately altered images" in _section(page, "warnings")
    threats = {t["id"]: t for t in fast_yaml.safe_load((ROOT / "security/threats.yaml").read_text())["threats"]}
    thr = threats["THR-003"]
    assert (thr["impact"], thr["exploitability"], thr["residual_exploitability"]) == ("I3", "E3", "E3")
    assert "I3: {E1: acceptable, E2: acceptable, E3: alara" in (ROOT / "security/plan.yaml").read_text()
    assert "lowers neither impact nor exploitability" in " ".join(thr["rationale"].split())
    requirement = next(r for r in fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
                       ["software_requirements"] if r["id"] == "SRS-225")
    assert "lowers neither the impact nor the exploitability" in " ".join(requirement["rationale"].split())
    # control: the same warning moved to the precautions is not found in the warnings
    moved = copy_items(tmp_path / "moved")
    path = moved / "submission" / "device.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ifu = data["device"]["ifu"]
    warning = next(w for w in ifu["warnings"] if "deliberately altered" in w)
    ifu["warnings"].remove(warning)
    ifu["precautions"].append(warning)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    moved_page = _ifu(build_graph(moved, write_run(tmp_path / "r.json", moved, sample_results())), moved)
    assert "deliberately altered images" not in _section(moved_page, "warnings")
    assert "deliberately altered images" in moved_page
    assert missing_adversarial_warning([warning]) == [] and len(REQUIRED) == 4


# --- SRS-214 ---

PEOPLE = {"author": "Alice Author", "reviewer": "Rita Reviewer", "qa-ra": "Quentin QA"}
DATE = "2026-12-07T10:00:00Z"


@pytest.fixture(scope="module")
def built(graph: dict[str, Any], project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("h128-packages") / "package"
    build_package(graph, root=project, out=out)
    return out


@pytest.fixture
def signed(built: Path, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the package with srs.html approved by three trusted people."""
    package = tmp_path / "package"
    shutil.copytree(built, package)
    keys = {role: Ed25519PrivateKey.generate() for role in PEOPLE}
    path = tmp_path / "signers.yaml"
    path.write_text(yaml.safe_dump({"signers": [
        {"name": PEOPLE[role], "roles": [role], "public_key": approvals.public_key_b64(key.public_key())}
        for role, key in keys.items()]}), encoding="utf-8")
    trusted = approvals.load_trusted(path)
    for role, key in keys.items():
        sign_document(package, "DAI-DOC-SRS", role=role, name=PEOPLE[role], key=key, date=DATE, trusted=trusted)
    return package, {"trusted": trusted, "keys": keys}


def _edit_manifest(package: Path, edit: Any) -> None:
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest["documents"])
    (package / "manifest.json").write_bytes(manifest_bytes(manifest))


def _approval_edit(how: str) -> Any:
    def edit(documents: dict[str, Any]) -> None:
        block = documents["srs.html"]["approval"]
        if how == "signature removed":
            del block["signatures"][1]
        elif how == "date altered":
            block["signatures"][0]["date"] = "2026-01-01T00:00:00Z"
        elif how == "key altered":
            block["signatures"][2]["key_id"] = "0" * 16
        elif how == "signature added":
            block["signatures"].append({**block["signatures"][0], "name": "Mallory"})
        elif how == "field added":
            block["approved_by"] = "a notified body"
        else:
            del documents["srs.html"]["approval"]
    return edit


@pytest.mark.req("SRS-214")
@pytest.mark.parametrize("how", ["signature removed", "date altered", "key altered", "signature added",
                                 "field added", "block removed"])
def test_h60_any_change_of_an_approval_block_of_an_unsealed_manifest_is_reported(signed: tuple[Path, dict],
                                                                                  how: str) -> None:
    package, ctx = signed
    report = check_signatures(package, ctx["trusted"])
    assert report.problems == () and report.states["srs.html"] == approvals.APPROVED  # control
    _edit_manifest(package, _approval_edit(how))
    problems = verify_package(package, ctx["trusted"])
    assert len(problems) == 1 and problems[0].startswith("srs.html: the manifest lists"), problems


@pytest.mark.req("SRS-214")
def test_h61_a_sealed_manifest_changed_afterwards_is_reported_twice(signed: tuple[Path, dict]) -> None:
    package, ctx = signed
    sign_document(package, "DAI-DOC-MANIFEST", role="qa-ra", name=PEOPLE["qa-ra"], key=ctx["keys"]["qa-ra"],
                  date=DATE, trusted=ctx["trusted"])
    report = check_signatures(package, ctx["trusted"])
    assert report.seal == "sealed" and report.problems == ()  # control
    _edit_manifest(package, _approval_edit("signature added"))
    report = check_signatures(package, ctx["trusted"])
    assert report.seal.startswith("not sealed")
    assert any(p.startswith("srs.html: the manifest lists") for p in report.problems)
    assert any(p.startswith("manifest.json: seal by") for p in report.problems)


def _manifest_claims_its_own_approval(documents: dict[str, Any]) -> None:
    documents["manifest.json"]["approval"] = copy.deepcopy(documents["srs.html"]["approval"])


@pytest.mark.req("SRS-214")
def test_d3_an_unsealed_manifest_approving_itself_no_longer_passes_verify(signed: tuple[Path, dict]) -> None:
    """Pin of defect 3, inverted by the lead's fix (check_signatures compares the manifest's own block with
    the draft one): the self-approving unsealed manifest is reported."""
    package, ctx = signed
    _edit_manifest(package, _manifest_claims_its_own_approval)
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["documents"]["manifest.json"]["approval"]["state"] == approvals.APPROVED
    assert not (package / approvals.SEAL).exists()
    found = verify_package(package, ctx["trusted"])
    assert len(found) == 1 and found[0].startswith("manifest.json: its own entry lists the approval 'approved'"), found


@pytest.mark.req("SRS-214")
def test_d3_control_the_same_block_on_a_page_entry_is_reported(signed: tuple[Path, dict]) -> None:
    package, ctx = signed

    def claim(documents: dict[str, Any]) -> None:
        documents["sds.html"]["approval"] = copy.deepcopy(documents["srs.html"]["approval"])
    _edit_manifest(package, claim)
    assert verify_package(package, ctx["trusted"]) == [
        "sds.html: the manifest lists the approval 'approved', its signatures give 'not approved (draft)'"]


@pytest.mark.req("SRS-214")
def test_d3_an_unsealed_manifest_approving_itself_is_reported(signed: tuple[Path, dict]) -> None:
    package, ctx = signed
    _edit_manifest(package, _manifest_claims_its_own_approval)
    assert verify_package(package, ctx["trusted"]) != []


# --- SRS-212 ---

@pytest.mark.req("SRS-212")
def test_h50_every_candidate_passing_is_never_said_to_have_failed(tmp_path: Path) -> None:
    from tests.review.test_review_115 import _all_pass, _applied, _candidate_verdicts, _candidates_page

    page = _candidates_page(tmp_path / "control", None)
    assert "after failing the same validation" in _applied(page)  # control: the committed candidates fail
    root = tmp_path / "both"
    _candidates_page(root, None)
    # lead, 2026-12-08: every candidate made to pass, 2.2.0 included (was: 2.0.0 and 2.1.0, the candidates then)
    for key in ("demo-dinov2-seg-2.0.0", "demo-dinov2-seg-2.1.0", "demo-dinov2-seg-2.2.0"):
        path = root / f"validation/results/external-{key}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        _all_pass(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    from tests.regulatory.miniproject import build

    view = TraceView.from_graph(build(root))
    page = render_all(view, root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file == "ai-validation.html"])["ai-validation.html"]
    assert _candidate_verdicts(page) == ["passes", "passes", "passes"]
    applied = _applied(page)
    assert "failing" not in applied
    assert "demo-dinov2-seg 2.0.0, demo-dinov2-seg 2.1.0, demo-dinov2-seg 2.2.0 passing it but not released" in applied


# --- SRS-209 ---

@pytest.mark.req("SRS-209")
@pytest.mark.parametrize(("when", "cited"), [
    ("2026-12-06T16:01:12-0530", None),  # the same instant as 'after-preflight' (21:31:12+0000): refused
    ("2026-12-07T06:31:12+0900", None),  # the same instant, east of UTC
    ("2026-12-06T22:31:12+01:00", None),  # the same instant, offset with a colon
    ("2026-12-06T13:31:13-0800", "other-run"),  # one second later, west of UTC
    ("2026-12-07T03:01:11+0530", "after-preflight"),  # one second earlier, east of UTC (later as text)
    ("2026-12-06T21:31:12", "malformed"),  # no offset: refused naming the run
])
def test_h40_profile_runs_are_compared_as_instants_whatever_their_offsets(tmp_path: Path, when: str,
                                                                         cited: str | None) -> None:
    from tests.review.test_review_115 import _profile_with_run, figures

    if cited in ("other-run", "after-preflight"):
        assert f"run '{cited}' of" in _profile_with_run(tmp_path, when)
    else:
        match = "run 'other-run' has 'when'" if cited == "malformed" else "share the newest time"
        with pytest.raises(figures.FiguresError, match=match):
            _profile_with_run(tmp_path, when)
