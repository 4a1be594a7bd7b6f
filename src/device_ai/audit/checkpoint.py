"""Signed checkpoints in the C2SP ``tlog-checkpoint`` / ``signed-note`` format (SRS-027).

Body: origin line, tree size (decimal), base64 root hash, each ending in a newline; then a
blank line and one signature line ``— <key name> base64(key ID || Ed25519 signature)``.
The key ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` and the verifier key is
``name+hex(key ID)+base64(0x01 || public key)`` (C2SP signed-note, Ed25519 type 0x01).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device_ai.errors import AuditIntegrityError

ED25519 = b"\x01"
DASH = "\u2014"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw(key)).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    return f"{name}+{key_id(name, key).hex()}+{base64.b64encode(ED25519 + _raw(key)).decode()}"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    parts = vkey.strip().split("+", 2)  # the name has no "+"; base64 may
    if len(parts) != 3 or not all(parts):
        raise AuditIntegrityError("not a signed-note verifier key: it must be three parts joined by '+' "
                                  "(name+keyID+key)")
    try:
        name, kid_hex, b64 = parts
        raw = base64.b64decode(b64, validate=True)
        if raw[:1] != ED25519 or len(raw) != 33:
            raise ValueError("not an Ed25519 note key")
        key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, TypeError) as exc:
        raise AuditIntegrityError(f"not a signed-note verifier key: {exc}") from exc
    if key_id(name, key).hex() != kid_hex:
        raise AuditIntegrityError("verifier key's ID does not match its name and key")
    return name, key


def sign_note(body: bytes, name: str, key: Ed25519PrivateKey) -> bytes:
    signature = key.sign(body)
    line = f"{DASH} {name} {base64.b64encode(key_id(name, key.public_key()) + signature).decode()}\n"
    return body + b"\n" + line.encode()


def _split_note(note: bytes) -> tuple[bytes, list[str]]:
    """(body, signature lines) of a signed note."""
    text = note.decode("utf-8", errors="strict") if _is_text(note) else None
    if text is None or "\n\n" not in text:
        raise AuditIntegrityError("checkpoint is not a signed note")
    body, _, signatures = text.rpartition("\n\n")
    return (body + "\n").encode(), signatures.splitlines()


def _signatures_by(lines: list[str], name: str, key: Ed25519PublicKey) -> list[bytes]:
    """The signatures in ``lines`` made under ``name`` with this key's ID (C2SP: a verifier
    ignores signatures by keys it does not know)."""
    prefix, wanted, found = f"{DASH} {name} ", key_id(name, key), []
    for line in lines:
        if not line.startswith(prefix):
            continue
        try:
            blob = base64.b64decode(line[len(prefix) :], validate=True)
        except ValueError as exc:
            raise AuditIntegrityError(f"the signature line of {name} is not base64: the checkpoint was altered") from exc
        if blob[:4] == wanted:
            found.append(blob[4:])
    return found


def signed_by(note: bytes, name: str, key: Ed25519PublicKey) -> bool:
    """Whether the note carries a signature of ``name`` under this key's ID, valid or not. A
    note without one belongs to another log (or another key): not evidence about ours."""
    _, lines = _split_note(note)
    return bool(_signatures_by(lines, name, key))


def signer_ids(note: bytes) -> list[tuple[str, str]]:
    """(key name, hex key ID) of each signature line that parses, unverified: to say which key
    signed a note that this log's key did not."""
    _, lines = _split_note(note)
    found = []
    for line in lines:
        name, _, encoded = line.removeprefix(f"{DASH} ").rpartition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError:
            continue
        if line.startswith(f"{DASH} ") and name and len(blob) > 4:
            found.append((name, blob[:4].hex()))
    return found


def signed_under_other_origin(note: bytes, origin: str, key: Ed25519PublicKey) -> str | None:
    """The name, other than ``origin``, under which ``key`` made a signature of ``note`` that
    verifies; None when there is none. A key signs one origin: such a note means the key was
    used for another log (the origin setting changed while the key stayed)."""
    for name, kid in signer_ids(note):
        if name != origin and kid == key_id(name, key).hex():
            try:
                verify_note(note, name, key)
            except AuditIntegrityError:
                continue  # a planted or altered note is not evidence of what this key signed
            return name
    return None


def claimed_origin(note: bytes) -> str:
    """The origin line of a signed note, unverified (to say whose a foreign note claims to be)."""
    body, _ = _split_note(note)
    return body.decode().split("\n", 1)[0]


def verify_note(note: bytes, name: str, key: Ed25519PublicKey) -> bytes:
    """The note body, if a signature line of ``name`` verifies; unknown signers are ignored."""
    body_bytes, lines = _split_note(note)
    signatures = _signatures_by(lines, name, key)
    if not signatures:
        raise AuditIntegrityError(f"checkpoint carries no signature by {name}")
    for signature in signatures:
        try:
            key.verify(signature, body_bytes)
        except InvalidSignature as exc:
            raise AuditIntegrityError("checkpoint signature does not verify: the checkpoint was altered") from exc
    return body_bytes


def _is_text(note: bytes) -> bool:
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch == "\n" or ord(ch) >= 0x20 for ch in text)


def parse_checkpoint(body: bytes) -> Checkpoint:
    lines = body.decode().split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise AuditIntegrityError("checkpoint body must have origin, size and root lines")
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise AuditIntegrityError(f"checkpoint size {size_text!r} is not a canonical decimal")
    root = base64.b64decode(root_b64, validate=True)
    if len(root) != 32:
        raise AuditIntegrityError("checkpoint root is not a 32-byte hash")
    return Checkpoint(origin, int(size_text), root)
