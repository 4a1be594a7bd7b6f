"""The optional encrypted crosswalk (original -> pseudonym) for authorised re-identification.

PS3.15 E.1.1 deprecates unencrypted hashes and recovery mechanisms in favour of encrypted
data, so the crosswalk is AES-256-GCM encrypted under a key in the device key store
(``crosswalk-key``, owner-only); the file is useless away from the device's key store, and
the file header is authenticated with the content. Reading it is a separate, audited
command (``device-ai anonymize-crosswalk FILE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from device_ai.atomic_io import atomic_write_bytes
from device_ai.dicom.deidentify.keyed import KeyedReplacer
from device_ai.errors import ConfigError
from device_ai.keystore import secret

MAGIC = b"DEVICE-AI-CROSSWALK-1\n"
KEY_NAME = "crosswalk-key"


def crosswalk_content(replacer: KeyedReplacer) -> dict[str, object]:
    """Original to pseudonym, for patients, UIDs and per-patient date offsets (days back)."""
    return {
        "patients": {original: replacer.patient_id(original) for original in sorted(replacer.patients)},
        "uids": dict(sorted(replacer.uids.items())),
        "date_offset_days": {replacer.patient_id(p): days for p, days in sorted(replacer.offsets.items())},
    }


def write_crosswalk(path: Path, replacer: KeyedReplacer) -> Path:
    """Encrypt the crosswalk of a run into ``path`` (atomic, mode 0600)."""
    nonce = os.urandom(12)
    plaintext = json.dumps(crosswalk_content(replacer), sort_keys=True).encode("utf-8")
    data = MAGIC + nonce + AESGCM(secret(KEY_NAME)).encrypt(nonce, plaintext, MAGIC)
    written = atomic_write_bytes(Path(path), data)
    os.chmod(written, 0o600)
    return written


def read_crosswalk(path: Path) -> dict[str, object]:
    """Decrypt a crosswalk written by this device; refuses anything else."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the crosswalk {path}: {exc.strerror or exc}",
                          hint="pass the file written by anonymize --crosswalk") from exc
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 12 + 16:
        raise ConfigError(f"{path} is not a device_ai crosswalk file", hint="pass the file written by anonymize --crosswalk")
    nonce = data[len(MAGIC):len(MAGIC) + 12]
    try:
        plaintext = AESGCM(secret(KEY_NAME)).decrypt(nonce, data[len(MAGIC) + 12:], MAGIC)
    except InvalidTag as exc:
        raise ConfigError(f"{path} does not decrypt with this device's crosswalk key (altered, or another device's)",
                          hint="read it on the device that wrote it") from exc
    return json.loads(plaintext)
