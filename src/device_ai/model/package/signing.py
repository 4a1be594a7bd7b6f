"""Ed25519 detached signatures over ``manifest.json`` (reference/audit_security.md §4.3).

The signature file holds one line: ``<key id> <base64 signature>``. The key id is the first
16 hex digits of SHA-256 over the raw 32-byte public key, so a verifier can pick the key.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from device_ai.errors import ConfigError, ModelIntegrityError


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_raw(key)).hexdigest()[:16]


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "a trusted model-signing key is not a base64 Ed25519 public key (32 bytes)",
            hint="copy the key exactly as printed by `device-ai model keygen`",
        ) from exc


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_raw(key)).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a PEM (PKCS#8, unencrypted) Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the signing key {path}: {exc}", hint="pass a PEM Ed25519 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key", hint="create one with `device-ai model keygen`")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def sign(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The signature file content for ``manifest_bytes``."""
    signature = base64.b64encode(key.sign(manifest_bytes)).decode("ascii")
    return f"{key_id(key.public_key())} {signature}\n".encode("ascii")


def verify(manifest_bytes: bytes, signature_file: bytes, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Return the id of the trusted key that signed ``manifest_bytes``, or raise."""
    try:
        text = signature_file.decode("ascii")
        kid, b64 = text.split()
        signature = base64.b64decode(b64, validate=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelIntegrityError(
            "the model package signature file is malformed",
            hint="reinstall the model package from the manufacturer's release",
        ) from exc
    # Canonical form only: base64 has spare bits, so a flipped bit could otherwise decode
    # to the same signature and an altered file would go unnoticed.
    if text != f"{kid} {b64}\n" or base64.b64encode(signature).decode("ascii") != b64 or len(signature) != 64:
        raise ModelIntegrityError(
            "the model package signature file is malformed",
            hint="reinstall the model package from the manufacturer's release",
        )
    key = trusted.get(kid)
    if key is None:
        raise ModelIntegrityError(
            f"the model package is signed by key {kid}, which is not trusted on this device",
            hint="install a released model, or have your administrator add the signer's public key "
            "to trusted_model_keys",
        )
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature as exc:
        raise ModelIntegrityError(
            "the model package signature does not match its manifest: the package was altered",
            hint="do not use this package; reinstall the model package from the manufacturer's release",
        ) from exc
    return kid
