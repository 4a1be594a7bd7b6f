"""Signed approvals of package documents (issue 19 item 3; 21 CFR 11.50, 11.70; IEC 62304 5.1.1,
ISO 13485 4.2.4 approval of documents).

An approval is an Ed25519 signature by a named person in a named role over one document's
*signed SHA-256* as the package manifest lists it (:func:`device_ai.regulatory.render.control.signed_sha256`:
the document's bytes with its approval region left out, so that showing a signature does not
change what was signed). The signed message binds the document ID, revision, that digest, the
role, the name and the date (:func:`message`): a signature moved to other bytes, another document,
revision, role, name or date no longer verifies (21 CFR 11.70).

A signature counts only when it verifies under a *trusted* key whose holder is the name it
carries and who may sign in its role (:func:`load_trusted`, ``traceability/signers.yaml`` by
default). A document is **approved** only when every role of :data:`REQUIRED_ROLES` has a
counting signature and those roles are held by different people; anything else is shown
with its reason and never counts (:func:`approval`).

Nothing here reads the wall clock or the package: callers pass the date and the digests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device_ai.errors import ConfigError, TraceabilityError
from device_ai.keystore import load_ed25519_private_key, read_passphrase

#: The roles a signer may sign in, with what the signature means (21 CFR 11.50(a)(3)).
ROLES: Mapping[str, str] = {
    "author": "author: responsible for the content",
    "reviewer": "reviewer: reviewed the content, independent of the author",
    "qa-ra": "QA/RA approver: releases the document",
}
#: The roles every document needs before it is approved; each held by a different person.
REQUIRED_ROLES: tuple[str, ...] = ("author", "reviewer", "qa-ra")

APPROVALS = "approvals.json"  # the package's document signatures, appended by `device-ai review sign`
SEAL = "manifest.sig"  # the signature over manifest.json, the package seal
SIGNATURE_FILES: tuple[str, ...] = (APPROVALS, SEAL)
APPROVALS_SCHEMA = "device-ai/approvals/1"
MESSAGE_CONTEXT = "device-ai document approval v1"
DEFAULT_TRUSTED = Path("traceability/signers.yaml")

APPROVED = "approved"
NOT_APPROVED = "not approved (draft)"
VALID = "valid"


@dataclass(frozen=True)
class Signature:
    """One signed approval as ``approvals.json`` (or ``manifest.sig``) holds it."""

    document: str
    revision: str
    sha256: str
    role: str
    name: str
    date: str
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature over message()

    def record(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class TrustedSigner:
    """A key the verifier trusts: whose it is and in which roles its holder signs."""

    name: str
    roles: frozenset[str]
    key: Ed25519PublicKey


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the raw public key (as the model package signatures)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def message(document: str, revision: str, sha256: str, role: str, name: str, date: str) -> bytes:
    """The bytes a signature covers: a context line, then the fields as canonical JSON."""
    fields = {"document": document, "revision": revision, "sha256": sha256, "role": role, "name": name, "date": date}
    return (MESSAGE_CONTEXT + "\n" + json.dumps(fields, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False)).encode("utf-8")


def clean_name(name: str) -> str:
    """The signer's name with runs of whitespace made one space; an empty name is refused."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise ConfigError("a signature needs the signer's printed name (21 CFR 11.50)", hint="pass --name NAME")
    return cleaned


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"{role!r} is not a signing role", hint=f"use one of: {', '.join(ROLES)}")
    return role


def sign(key: Ed25519PrivateKey, *, document: str, revision: str, sha256: str, role: str, name: str,
         date: str) -> Signature:
    """A signature by ``key`` over one document's signed digest, in ``role``, by ``name``, on ``date``."""
    role, name = check_role(role), clean_name(name)
    signed = key.sign(message(document, revision, sha256, role, name, date))
    return Signature(document, revision, sha256, role, name, date, key_id(key.public_key()),
                     base64.b64encode(signed).decode("ascii"))


def load_signing_key(path: Path, passphrase_file: Path | None = None) -> Ed25519PrivateKey:
    """The signer's private key: a PEM Ed25519 key in an owner-only file, decrypted with the
    passphrase in ``passphrase_file`` when given (the audit key's loading code, :mod:`device_ai.keystore`)."""
    passphrase = None if passphrase_file is None else read_passphrase(
        Path(passphrase_file), "the signing key passphrase file",
        fix="pass --passphrase-file with an owner-only regular file holding the key's passphrase")
    return load_ed25519_private_key(
        Path(path), passphrase, read_hint="pass --key with your own PEM Ed25519 private key (owner-only, chmod 600)",
        passphrase_hint="pass --passphrase-file for an encrypted key, and none for a plain one",
        damaged_hint="check the key file and the passphrase", wrong_kind_hint="signatures need an Ed25519 key")


def _signature_bytes(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    # canonical base64 only: spare bits would let a changed text decode to the same signature
    return raw if len(raw) == 64 and base64.b64encode(raw).decode("ascii") == text else None


def judge(signature: Signature, *, revision: str, sha256: str, trusted: Mapping[str, TrustedSigner]) -> str:
    """``valid``, or why the signature does not count: it was made over other bytes or another
    revision, it does not verify, its key is not trusted, or the key's holder is not the name it
    carries or may not sign in its role."""
    if signature.sha256 != sha256:
        return "signed other content (the document changed since it was signed)"
    if signature.revision != revision:
        return f"signed another revision ({signature.revision})"
    raw = _signature_bytes(signature.signature)
    if raw is None:
        return "malformed signature"
    signer = trusted.get(signature.key_id)
    if signer is None:
        return f"untrusted key {signature.key_id}"
    try:
        signer.key.verify(raw, message(signature.document, signature.revision, signature.sha256, signature.role,
                                       signature.name, signature.date))
    except InvalidSignature:
        return "invalid signature (does not verify)"
    if signer.name != signature.name:
        return f"key {signature.key_id} is {signer.name}'s, not {signature.name}'s"
    if signature.role not in signer.roles:
        return f"{signer.name} may not sign as {signature.role}"
    return VALID


def approval(document: str, *, revision: str, sha256: str, signatures: Iterable[Signature],
             trusted: Mapping[str, TrustedSigner]) -> dict[str, Any]:
    """The approval block of one document: its state, the roles it needs, every signature made on
    it with its status, the roles still missing and a note. ``approved`` only when every required
    role has a valid signature and different people hold them."""
    shown, holders = [], {}
    for signature in (s for s in signatures if s.document == document):
        status = judge(signature, revision=revision, sha256=sha256, trusted=trusted)
        if status == VALID and signature.role in REQUIRED_ROLES:
            holders.setdefault(signature.role, set()).add(signature.name)
        shown.append({"role": signature.role, "name": signature.name, "date": signature.date,
                      "key_id": signature.key_id, "status": status})
    missing = [role for role in REQUIRED_ROLES if role not in holders]
    distinct = _distinct_holders({role: holders[role] for role in REQUIRED_ROLES if role in holders})
    approved = not missing and distinct
    if approved:
        note = "every required role signed, by different people"
    elif missing:
        note = f"missing a valid signature as {', '.join(missing)} (device-ai review sign)"
    else:
        note = "the required roles are signed, but not by different people"
    return {"state": APPROVED if approved else NOT_APPROVED, "required_roles": list(REQUIRED_ROLES),
            "missing_roles": missing, "signatures": shown, "note": note}


def _distinct_holders(holders: Mapping[str, set[str]]) -> bool:
    """Whether each role can be given to a different person among its valid signers."""
    def assign(roles: Sequence[str], used: frozenset[str]) -> bool:
        if not roles:
            return True
        return any(assign(roles[1:], used | {name}) for name in sorted(holders[roles[0]]) if name not in used)

    return assign(list(holders), frozenset())


def draft_approval() -> dict[str, Any]:
    """The approval block of a document nobody has signed."""
    return approval("", revision="", sha256="", signatures=(), trusted={})


# --- files -------------------------------------------------------------------------------------------

def read_signatures(path: Path) -> list[Signature]:
    """The signatures of ``approvals.json`` (none when the file is absent); a typed error naming
    the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceabilityError(f"cannot read the signatures {path}: {exc}",
                                hint=f"restore {Path(path).name} from the signed package; it is written only by "
                                     "device-ai review sign") from exc
    listed = data.get("signatures") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("schema") != APPROVALS_SCHEMA or not isinstance(listed, list):
        raise TraceabilityError(f"{path} is not a {APPROVALS_SCHEMA} file",
                                hint="it is written only by device-ai review sign; restore it from the signed package")
    return [_signature(entry, Path(path)) for entry in listed]


def signatures_text(signatures: Sequence[Signature]) -> str:
    return json.dumps({"schema": APPROVALS_SCHEMA, "signatures": [s.record() for s in signatures]},
                      indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_seal(path: Path) -> Signature | None:
    """The manifest's signature (``manifest.sig``), None when the package is unsigned."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceabilityError(f"cannot read the manifest signature {path}: {exc}",
                                hint="restore it from the signed package, or sign the manifest again") from exc
    return _signature(data, path)


def seal_text(seal: Signature) -> str:
    return json.dumps(seal.record(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _signature(entry: Any, path: Path) -> Signature:
    names = list(Signature.__dataclass_fields__)
    if not isinstance(entry, dict) or sorted(entry) != sorted(names) or not all(isinstance(entry[k], str)
                                                                                for k in names):
        raise TraceabilityError(f"{path}: a signature entry is not {{{', '.join(names)}}} (all strings)",
                                hint="the file is written only by device-ai review sign; restore it")
    return Signature(**{k: entry[k] for k in names})


def load_trusted(path: Path) -> dict[str, TrustedSigner]:
    """The trusted signers of ``path`` by key ID: ``signers: [{name, roles, public_key}]`` with the
    raw 32-byte Ed25519 public key in base64. A missing file trusts nobody; a malformed one is a
    typed error naming the file and the entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the trusted signers {path}: {exc}",
                          hint="a YAML file: signers: [{name, roles, public_key}]") from exc
    entries = data.get("signers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path} does not hold a list 'signers'", hint="signers: [{name, roles, public_key}]")
    trusted: dict[str, TrustedSigner] = {}
    for number, entry in enumerate(entries, 1):
        where = f"{path}: signer {number}"
        if not isinstance(entry, dict) or set(entry) != {"name", "roles", "public_key"}:
            raise ConfigError(f"{where} is not {{name, roles, public_key}}", hint="list each signer with exactly these")
        roles = entry["roles"]
        if not isinstance(roles, list) or not roles or any(role not in ROLES for role in roles):
            raise ConfigError(f"{where}: roles must be a list of {', '.join(ROLES)}", hint="fix the signer's roles")
        try:
            raw = base64.b64decode(str(entry["public_key"]).strip(), validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{where}: public_key is not a base64 Ed25519 public key (32 bytes)",
                              hint="copy the key device-ai review sign prints (public key)") from exc
        kid = key_id(key)
        if kid in trusted:
            raise ConfigError(f"{where}: the key {kid} is listed twice", hint="list each key once")
        trusted[kid] = TrustedSigner(clean_name(str(entry["name"])), frozenset(roles), key)
    return trusted
