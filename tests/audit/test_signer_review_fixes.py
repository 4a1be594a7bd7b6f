"""The fixes of the signer review (helper-37, helper-40; SRS-156, SRS-028), beyond the review's own
tests (tests/audit/test_review_signer.py), each with a negative control:

- a key signs one origin: the copy location's subfolder of this device's key under another
  origin fails `audit verify` even when the new origin's log was started elsewhere (the open
  refuses it otherwise), in the flat layout too; a folder that merely carries the name (anyone
  who knows the public key can make it) refuses nothing;
- the open checks the latest note, the oldest and the newest of checkpoints/, each on its own;
- audit_origin: what the signed-note format cannot carry is refused at load, the rest accepted;
- `audit verify`: --key and --dir are named when wrong; a deleted audit folder fails against
  the copy location under a pinned key whose origin is not the setting's.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.audit.checkpoint import Checkpoint, key_id, parse_verifier_key, sign_note
from device_ai.audit.copyplace import copy_subfolder
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.identity import SIGNER_NAME
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, default_folder, notes_in
from device_ai.audit.notefiles import LATEST_NAME
from device_ai.config import load_settings
from device_ai.errors import AuditIntegrityError, ConfigError
from device_ai.keystore import key_path

SITE_ORIGIN = "site.example/ct1"
FAILED = AuditIntegrityError.exit_code


def _device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: str | None = SITE_ORIGIN,
            copy: str = "offsite") -> Path:
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / copy))
    for variable in ("DEVICE_AI_AUDIT_KEY_FILE", "DEVICE_AI_CONFIG", "DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE"):
        monkeypatch.delenv(variable, raising=False)
    if origin is None:
        monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN", raising=False)
    else:
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", origin)
    return tmp_path / copy


def _record(count: int) -> str:
    with AuditLog.open(checkpoint_every=2) as log:
        for i in range(count):
            log.append(ANALYSIS_RUN, details={"i": str(i)})
        return log.public_key()


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _remove_local_evidence() -> None:
    folder = default_folder()
    (folder / SIGNER_NAME).unlink()
    shutil.rmtree(folder / CHECKPOINT_DIR)
    (folder / LATEST_NAME).unlink()


# --- a key signs one origin ---------------------------------------------------------------------

@pytest.mark.req("SRS-156")
def test_a_new_origins_log_started_away_from_the_copy_location_still_fails_verify_against_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The open refuses the same key under a new origin while the copy location holds the old
    origin's notes; an attacker who points audit_copy_dir elsewhere for that open gets a log
    going, but verification against the real copy location fails, on the device and off-site."""
    offsite = _device(tmp_path, monkeypatch)
    _record(3)
    _remove_local_evidence()
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "site.example/ct1-b")
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "elsewhere"))
    _record(1)  # accepted: nothing in this copy location names the old origin
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(offsite))
    code, out = _verify(capsys)
    assert code == FAILED, out
    assert "signed by this log's key" in out and "under another origin 'site.example/ct1'" in out, out
    code, out = _verify(capsys, "--dir", str(default_folder()), "--checkpoint", str(offsite))
    assert code == FAILED and "under another origin 'site.example/ct1'" in out, out
    # negative control: the same log against the copy location it was started with verifies
    code, out = _verify(capsys, "--dir", str(default_folder()), "--checkpoint", str(tmp_path / "elsewhere"))
    assert code == 0 and "OK: " in out, out


@pytest.mark.req("SRS-156")
def test_a_folder_named_for_this_key_under_another_origin_without_its_notes_refuses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Anyone who knows the public key can make the folder name: only a note that the key's
    signature verifies under the other origin counts (no denial of service by a planted folder)."""
    offsite = _device(tmp_path, monkeypatch)
    vkey = _record(2)
    _, public = parse_verifier_key(vkey)
    planted = copy_subfolder(offsite, "planted.example/x", public)
    planted.mkdir()
    body = Checkpoint("planted.example/x", 1, b"\0" * 32).body()
    another = sign_note(body, "planted.example/x", Ed25519PrivateKey.generate())  # another key's signature
    (planted / "000000000001-0000000000000000.note").write_bytes(another)
    kid = key_id("planted.example/x", public)  # this key's ID, which anyone can compute, with a made-up signature
    forged = body + f"\n\u2014 planted.example/x {base64.b64encode(kid + bytes(64)).decode()}\n".encode()
    (planted / "000000000001-1111111111111111.note").write_bytes(forged)
    (planted / "000000000001-2222222222222222.note").write_bytes(b"not a signed note")
    _record(1)  # opens: the folder holds nothing this key signed
    code, out = _verify(capsys)
    assert code == 0 and "planted.example/x (key ID" in out, out  # listed as another log, not failed
    # negative control: a note this key did sign under that origin, in the same folder, refuses
    theirs = Ed25519PrivateKey.from_private_bytes(_raw_private())
    (planted / "000000000002-0000000000000000.note").write_bytes(sign_note(body, "planted.example/x", theirs))
    with pytest.raises(AuditIntegrityError, match="under another origin 'planted.example/x'"):
        _record(1)
    code, out = _verify(capsys)
    assert code == FAILED and "under another origin 'planted.example/x'" in out, out


def _raw_private() -> bytes:
    """This device's signing key (the test plays the device itself signing under another origin)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_path("audit-checkpoint").read_bytes(), password=None)
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


@pytest.mark.req("SRS-156")
def test_a_flat_layout_note_of_this_key_under_another_origin_fails_verify(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before per-log subfolders, notes were written flat in the copy location."""
    offsite = _device(tmp_path, monkeypatch)
    _record(2)
    body = Checkpoint("site.example/old", 1, b"\1" * 32).body()
    stranger = offsite / "000000000001-stranger.note"
    stranger.write_bytes(sign_note(body, "site.example/old", Ed25519PrivateKey.generate()))
    code, out = _verify(capsys)
    assert code == 0 and "not ours: 1 note(s)" in out, out  # negative control: another key's flat note
    mine = offsite / "000000000001-mine.note"
    mine.write_bytes(sign_note(body, "site.example/old", Ed25519PrivateKey.from_private_bytes(_raw_private())))
    code, out = _verify(capsys)
    assert code == FAILED and f"{mine}: signed by this log's key under another origin 'site.example/old'" in out, out


# --- the open checks the latest, the oldest and the newest local note, each on its own --------

@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("where", ["latest", "oldest", "newest", "middle", "control-none"])
def test_the_open_checks_the_latest_oldest_and_newest_local_note(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A note of another key under this origin put in one place. The open reads three notes only
    (SRS-156): one in the middle of checkpoints/ is left to `audit verify`, which reads them all;
    with no such note the log opens (negative control)."""
    _device(tmp_path, monkeypatch)
    _record(5)  # checkpoints/ holds sizes 2, 4 and 5
    folder = default_folder()
    names = sorted(p.name for p in notes_in(folder / CHECKPOINT_DIR))
    assert [n[:12] for n in names] == ["000000000002", "000000000004", "000000000005"], names
    note = sign_note(Checkpoint(SITE_ORIGIN, 3, b"\2" * 32).body(), SITE_ORIGIN, Ed25519PrivateKey.generate())
    place = {"latest": folder / LATEST_NAME,
             "oldest": folder / CHECKPOINT_DIR / "000000000001-ffffffffffffffff.note",
             "newest": folder / CHECKPOINT_DIR / "999999999999-0000000000000000.note",
             "middle": folder / CHECKPOINT_DIR / "000000000003-0000000000000000.note"}.get(where)
    if place is not None:
        place.write_bytes(note)
    size = (folder / LOG_NAME).stat().st_size
    if where in ("latest", "oldest", "newest"):
        with pytest.raises(AuditIntegrityError, match=f"its checkpoint {place} is signed by another key"):
            AuditLog.open()
        assert (folder / LOG_NAME).stat().st_size == size  # refused before anything was written
    else:
        AuditLog.open().file.close()
    code, out = _verify(capsys)
    assert (code == 0) == (where == "control-none"), out


# --- audit_origin -----------------------------------------------------------------------------

@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("origin", ["site.example/ct+1", "site example", "site\tct1", "site\nct1", "site\x00ct1",
                                    "site\u00a0ct1", "site\u2028ct1", "site\x7fct1"])
def test_an_origin_the_signed_note_format_cannot_carry_is_refused_at_load(
        origin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the configuration file (the environment cannot hold a NUL byte)."""
    monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN", raising=False)
    config = tmp_path / "device-ai.yaml"
    config.write_text(yaml.safe_dump({"audit_origin": origin}), encoding="utf-8")
    monkeypatch.setenv("DEVICE_AI_CONFIG", str(config))
    with pytest.raises(ConfigError, match="invalid setting audit_origin: .*allowed: letters, digits") as refused:
        load_settings()
    assert refused.value.code == "DAI-100" and refused.value.exit_code == 2


@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("origin", [SITE_ORIGIN, "device-ai.local/audit", "klinik-\u00fc.example/ct_1:a~b",
                                    "https://site.example/ct1?x=1#y", "\u533b\u9662.example/ct"])
def test_negative_control_origins_c2sp_allows_are_accepted_and_sign(
        origin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch, origin)
    assert load_settings().audit_origin == origin
    _record(2)
    _record(1)
    code, out = _verify(capsys)
    assert code == 0 and "OK: 3 records" in out, out


# --- audit verify arguments and a deleted audit folder ----------------------------------------

@pytest.mark.req("SRS-028")
@pytest.mark.parametrize("given", ["garbage", "a+b", "/no/such/verifier.vkey",
                                   "site.example/ct1+00000000+AAAA"])
def test_a_wrong_key_argument_is_named_with_what_a_verifier_key_looks_like(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    pinned = _record(2)
    code, out = _verify(capsys, "--key", given)
    assert code == 2 and "DAI-100" in out and f"--key {given!r} is not a checkpoint verifier key" in out, out
    assert "origin+keyID+key" in out and "device-ai audit public-key" in out, out
    assert "not enough values" not in out and "Traceback" not in out, out
    code, out = _verify(capsys, "--key", pinned)  # negative control: the pinned key verifies
    assert code == 0 and "OK: 2 records" in out, out


@pytest.mark.req("SRS-028")
def test_a_dir_that_does_not_exist_or_is_a_file_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    code, out = _verify(capsys, "--dir", str(tmp_path / "no-such-audit"))
    assert code == 2 and f"--dir {tmp_path / 'no-such-audit'} does not exist" in out, out
    (tmp_path / "a-file").write_text("x")
    code, out = _verify(capsys, "--dir", str(tmp_path / "a-file"))
    assert code == 2 and "is not a folder" in out, out
    (tmp_path / "empty").mkdir()
    code, out = _verify(capsys, "--dir", str(tmp_path / "empty"))
    assert code == 0 and "nothing to verify" in out, out  # negative control: an existing empty folder


@pytest.mark.req("SRS-028")
@pytest.mark.parametrize("setting", ["default origin", "another origin"])
def test_a_deleted_audit_folder_fails_against_the_copy_location_with_a_pinned_key(
        setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """helper-40: with the pinned key's origin not the setting's, a deleted audit/ said 'nothing
    to verify' (exit 0)."""
    _device(tmp_path, monkeypatch)
    pinned = _record(3)
    shutil.rmtree(default_folder())
    if setting == "default origin":
        monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN")
    else:
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "other.example/ct9")
    code, out = _verify(capsys, "--key", pinned)
    assert code == FAILED and "records 0 to 2 are missing" in out, out
    code, out = _verify(capsys)  # without --key: the device's key, whose notes are under the old origin
    assert code == FAILED and "under another origin 'site.example/ct1'" in out, out


@pytest.mark.req("SRS-028")
def test_negative_control_a_new_home_with_a_shared_copy_location_has_nothing_to_verify(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Another device's notes in the copy location, and a new home (no key, no log) here."""
    _device(tmp_path, monkeypatch, "site.example/ct2")
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "other-home"))
    _record(2)
    _device(tmp_path, monkeypatch)
    assert not key_path("audit-checkpoint").exists()
    code, out = _verify(capsys)
    assert code == 0 and "nothing to verify" in out, out
    assert not key_path("audit-checkpoint").exists(), "verifying made a key"


@pytest.mark.req("SRS-156", "SRS-028")
def test_residual_risk_under_the_default_origin_a_replaced_key_passes_only_without_the_pin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/key_custody.md's table, 'key replaced, default origin kept': with the key in its
    default place, write access to DEVICE_AI_HOME alone passes the device's own verification
    (the old notes are reported, not failed); only the pinned key against the copy location fails."""
    from tests.audit.test_review_signer import _edit_record, _swap_key

    offsite = _device(tmp_path, monkeypatch, origin=None)
    pinned = _record(3)
    _edit_record(1)
    _swap_key()  # a file under DEVICE_AI_HOME/keys
    _remove_local_evidence()
    _record(1)
    code, out = _verify(capsys)
    assert code == 0 and "name this log's origin but are signed by another key" in out, out
    code, out = _verify(capsys, "--dir", str(default_folder()), "--checkpoint", str(offsite))
    assert code == 0, out
    code, out = _verify(capsys, "--key", pinned, "--dir", str(default_folder()), "--checkpoint", str(offsite))
    assert code == FAILED and "the log was rewritten" in out, out
