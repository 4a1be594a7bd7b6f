"""The crosswalk of a batch job (``anonymize --batch --crosswalk FILE``).

No original identifier travels through the cluster: each worker encrypts its unit's part
(``dicom.deidentify.crosswalk.write_crosswalk`` under the crosswalk key of its own key store,
which must be the coordinator's) into the unit's quarantine folder, which stays in the hospital
and is published with the unit. The coordinator decrypts the parts of every published unit and
writes their union as one crosswalk in the device's format: the same content as a single run's
crosswalk of the same input (keyed values are the same in every unit that meets them).

FILE is written at the end of every run of the job, after the job's end entry (pending name,
then link or replace, as a single run does). It must not exist when the job starts, except as
the crosswalk this job wrote before (its SHA-256 is in the ledger), which a re-run replaces with
the crosswalk of every unit published so far.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from device_ai.atomic_io import atomic_write_bytes, fsync_directory
from device_ai.batch.unit_work import CROSSWALK_PART
from device_ai.errors import OutputError

_SECTIONS = ("patients", "uids", "date_offset_days")


def merged_content(parts: list[Path]) -> dict[str, dict]:
    """The union of the parts' contents (each decrypted and authenticated by the device's reader)."""
    from device_ai.dicom.deidentify.crosswalk import read_crosswalk

    merged: dict[str, dict] = {section: {} for section in _SECTIONS}
    for part in parts:
        content = read_crosswalk(part)
        for section in _SECTIONS:
            merged[section].update(content.get(section, {}))
    return {section: dict(sorted(values.items())) for section, values in merged.items()}


def write_content(path: Path, content: dict[str, dict]) -> str:
    """Encrypt ``content`` into ``path`` in the format of ``dicom.deidentify.crosswalk`` (the
    same header, AES-256-GCM under the crosswalk key, header authenticated); its SHA-256."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from device_ai.dicom.deidentify.crosswalk import KEY_NAME, MAGIC
    from device_ai.keystore import secret

    nonce = os.urandom(12)
    plaintext = json.dumps(content, sort_keys=True).encode("utf-8")
    data = MAGIC + nonce + AESGCM(secret(KEY_NAME)).encrypt(nonce, plaintext, MAGIC)
    atomic_write_bytes(Path(path), data)
    os.chmod(path, 0o600)
    return hashlib.sha256(data).hexdigest()


def part_of(quarantine: Path, label: str) -> Path:
    return Path(quarantine) / label / CROSSWALK_PART


def sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read the crosswalk {path}: {exc.strerror or exc}",
                          hint="check the crosswalk location") from exc


def put_in_place(pending: Path, final: Path) -> None:
    """The pending crosswalk becomes FILE: linked when FILE is new (a file that appeared since the
    check is never replaced), renamed over this job's earlier crosswalk otherwise."""
    try:
        if os.path.lexists(final):
            os.replace(pending, final)
        else:
            os.link(pending, final)
            os.unlink(pending)
        fsync_directory(Path(final).parent)
    except OSError as exc:
        raise OutputError(f"could not write the crosswalk {final}: {exc.strerror or exc}",
                          hint="check the crosswalk location, then run the command again") from exc
