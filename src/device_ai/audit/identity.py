"""Which key, under which origin, signs an audit log, and the check that neither changes (issue 22).

A log is signed by one key under one origin for its whole life. Its verifier key is written
beside it, once and never replaced (``signer.vkey``), when the log is made, or, for a log made
before that file existed, when it is first opened by the key its own checkpoints name. The
log's own checkpoint folder (``checkpoints/``, ``checkpoint.note``) and its own subfolder of a
copy location hold its notes only: a note there that another key or another origin signed
means that the key file or the ``audit_origin`` setting changed, or that the note was planted;
it is never "another log's". A key signs one origin: a subfolder of the copy location holding
notes this key signed under another origin means the origin changed while the key stayed
(that log's local evidence may have been removed). Opening a log under another key or origin,
or with such a subfolder, is refused before any work, and ``audit verify`` reports both.
In-place key rotation is not supported yet (docs/key_custody.md, Rotation).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai.atomic_io import write_once
from device_ai.audit.checkpoint import claimed_origin, key_id, parse_verifier_key, signed_by, signer_ids, verifier_key
from device_ai.audit.copyplace import OwnKeyElsewhere, own_key_under_other_origins
from device_ai.audit.notefiles import CHECKPOINT_DIR, LATEST_NAME, read_note
from device_ai.errors import AuditError, AuditIntegrityError

SIGNER_NAME = "signer.vkey"
RESTORE = ("restore the audit key file from its backup, or the audit_origin setting, to the ones that signed this "
           "log (docs/key_custody.md)")
NO_ROTATION = ("in-place rotation of the audit key or origin is not supported yet: to sign with another key or "
               "origin, archive this audit folder and start a new log under a new audit_origin "
               "(docs/key_custody.md, Rotation)")


def describe(vkey: str) -> str:
    """``origin 'name' with key ID 1a2b3c4d`` for a verifier key."""
    name, kid, _ = vkey.split("+", 2)
    return f"origin {name!r} with key ID {kid}"


def foreign_signer(note: bytes, origin: str, key: Ed25519PublicKey) -> str | None:
    """Why ``note`` is not signed by ``key`` under ``origin``, or None when it carries such a
    signature (whether that signature verifies is verify_note's to say). A malformed note is
    an AuditIntegrityError."""
    if signed_by(note, origin, key):
        return None
    claimed = claimed_origin(note)
    if claimed != origin:
        return f"names origin {claimed!r}, not this log's origin {origin!r}"
    ids = ", ".join(kid for name, kid in signer_ids(note) if name == origin) or "none"
    return f"is signed by another key (key ID {ids}), not by this log's key (key ID {key_id(origin, key).hex()})"


def read_signer(folder: Path) -> str | None:
    """The verifier key recorded beside the log in ``folder``; None when none is (a log made
    before the file existed). A damaged file is an AuditIntegrityError."""
    path = Path(folder) / SIGNER_NAME
    if not os.path.lexists(path):
        return None
    hint = "restore the audit folder from its backup, or have it investigated"
    data = read_note(path, "the log's signer file", hint=hint)
    try:
        text = data.decode("utf-8").strip()  # an origin may be any script (C2SP: UTF-8)
        parse_verifier_key(text)
    except (UnicodeDecodeError, AuditIntegrityError) as exc:
        raise AuditIntegrityError(f"{path}: the log's signer file is damaged: not a verifier key", hint=hint) from exc
    return text


def write_signer(folder: Path, vkey: str) -> None:
    """Record ``vkey`` as the signer of the log in ``folder`` (once: never replaced)."""
    try:
        write_once(Path(folder) / SIGNER_NAME, f"{vkey}\n".encode())
    except (OSError, ValueError) as exc:
        raise AuditError(f"could not record the audit log's signer in {folder}: {exc}",
                         hint="check free space and permissions of DEVICE_AI_HOME/audit") from exc


def _sample(folder: Path) -> list[Path]:
    """The latest note and the oldest and newest of ``checkpoints/`` (names sort by size):
    enough to see a changed key or origin, whose notes are all older than the change. One
    directory listing, no stat per note: a long-running device holds many thousands."""
    checkpoints = folder / CHECKPOINT_DIR
    try:
        with os.scandir(checkpoints) as entries:
            names = [e.name for e in entries if e.name.endswith(".note") and e.is_file()]
    except FileNotFoundError:
        names = []
    except OSError as exc:  # a file, a link loop, no permission: the evidence is not where it belongs
        raise AuditIntegrityError(
            f"{checkpoints}: cannot read this log's checkpoint folder ({exc.strerror or exc}): it must be a folder "
            "holding the log's signed checkpoints; the device stopped before doing anything",
            hint=f"move {checkpoints} aside and restore the checkpoints folder from its backup (or, if it never held "
                 "any, remove it), then run `device-ai audit verify`; keep what was there for investigation") from exc
    latest = folder / LATEST_NAME
    ends = sorted({min(names), max(names)}) if names else []
    return [*([latest] if latest.is_file() else []), *(folder / CHECKPOINT_DIR / name for name in ends)]


def refuse_another_signer(folder: Path, origin: str, key: Ed25519PublicKey, copy_dir: Path | None = None) -> None:
    """Before an audited command does anything: refuse the log in ``folder`` when its recorded
    signer or one of its own notes says that another key or another origin signed it, or when
    the copy location holds notes this key signed under another origin; then record the signer
    of a log that has none yet. Reads at most four small local files and lists the copy
    location (`audit verify` reads every note)."""
    folder = Path(folder)
    mine = verifier_key(origin, key)
    recorded = read_signer(folder)
    stopped = "the device stopped before doing anything"
    if recorded is not None and recorded != mine:
        raise AuditIntegrityError(
            f"the audit log in {folder} is signed as {describe(recorded)} ({folder / SIGNER_NAME}), but this device "
            f"now signs as {describe(mine)}: the audit key file or the audit_origin setting changed; {stopped}",
            hint=f"{RESTORE}; {NO_ROTATION}")
    for path in _sample(folder):
        try:
            reason = foreign_signer(read_note(path), origin, key)
        except AuditIntegrityError:
            continue  # unreadable or malformed: `audit verify` reports it
        if reason is not None:
            raise AuditIntegrityError(
                f"the audit log in {folder} was signed by another key or under another origin: its checkpoint "
                f"{path} {reason}; the audit key file or the audit_origin setting changed (or the note was planted); "
                f"{stopped}",
                hint=f"{RESTORE}; if neither changed, run `device-ai audit verify` and have the folder investigated; "
                     f"{NO_ROTATION}")
    refuse_own_key_under_another_origin(folder, origin, key, copy_dir)
    if recorded is None:
        write_signer(folder, mine)


def own_key_problem(found: OwnKeyElsewhere, origin: str, key: Ed25519PublicKey) -> str:
    """What a copy-location folder of this key under another origin means."""
    return (f"{found.folder}: the copy location holds notes signed by this log's key (key ID "
            f"{key_id(origin, key).hex()} under {origin!r}) under another origin {found.origin!r} (e.g. "
            f"{found.note.name}): a key signs one log under one origin, so the audit_origin setting changed while "
            "the key stayed, and that log's records may have been edited or deleted with its local checkpoints")


def refuse_own_key_under_another_origin(folder: Path, origin: str, key: Ed25519PublicKey,
                                        copy_dir: Path | None) -> None:
    """Refuse to sign under ``origin`` with a key that signed another origin's notes in the copy
    location: after an origin change with the local evidence removed, nothing else on the
    device names the old origin. The documented rotation uses a new key, which never matches."""
    for found in own_key_under_other_origins(copy_dir, origin, key)[:1]:
        raise AuditIntegrityError(
            f"the audit log in {folder} cannot be signed as {describe(verifier_key(origin, key))}: "
            f"{own_key_problem(found, origin, key)}; the device stopped before doing anything",
            hint=f"set audit_origin back to {found.origin!r} and restore that log's folder (and key) from its "
                 "backup, then run `device-ai audit verify --key <its pinned verifier key>`; to start a new log, "
                 "archive the old one and use a new origin AND a new key (docs/key_custody.md, Rotation)")
