"""Where a log's notes go in a checkpoint copy location, and what the location says about its key.

Each log writes into its own subfolder, named by its origin and key ID (``quote(origin)+keyid``),
so that several devices can share one copy location. The key ID is derived from the origin
and the public key, so a subfolder's name alone says whether THIS device's key signed under
another origin there: the folder an origin change leaves behind when the key stays (issue 22
review helper-37). Another device's folder has another key and never matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai.audit.checkpoint import key_id, signed_under_other_origin
from device_ai.audit.notefiles import notes_in, read_note
from device_ai.errors import AuditError, AuditIntegrityError

QUOTED_ORIGIN_MAX = 200  # a subfolder's name must stay under NAME_MAX (255): the origin part is cut here


def origin_prefix(origin: str) -> str:
    return f"{quote(origin, safe='')[:QUOTED_ORIGIN_MAX]}+"


def copy_subfolder(copy_dir: Path, origin: str, key: Ed25519PublicKey) -> Path:
    """Where the log ``origin`` signed by ``key`` puts its notes in a (maybe shared) copy
    location: one subfolder per origin and key, so devices sharing the location (even under the
    default origin name) never mix their notes."""
    return Path(copy_dir) / f"{origin_prefix(origin)}{key_id(origin, key).hex()}"


@dataclass(frozen=True)
class OwnKeyElsewhere:
    """A subfolder of a copy location holding a note this device's key signed under another origin."""

    folder: Path
    origin: str  # the other origin
    note: Path  # a note there whose signature by this key, under that origin, verifies


def _candidate(name: str, origin: str, key: Ed25519PublicKey) -> bool | None:
    """Whether the subfolder ``name`` is ``key``'s under an origin other than ``origin``, by name
    alone; None when the name cannot tell (its origin part was cut: the notes must say)."""
    quoted, sep, kid = name.rpartition("+")
    if not sep or len(kid) != 8:
        return False
    if len(quoted) >= QUOTED_ORIGIN_MAX:
        return None
    other = unquote(quoted)
    return other != origin and key_id(other, key).hex() == kid


def own_key_under_other_origins(copy_dir: Path | None, origin: str, key: Ed25519PublicKey,
                                skip: set[str] | frozenset[str] = frozenset()) -> list[OwnKeyElsewhere]:
    """The subfolders of ``copy_dir`` (except those named in ``skip``) that hold a note ``key``
    signed, with a signature that verifies, under an origin other than ``origin``. A folder
    named like ours but holding no such note (empty, or planted notes) is not evidence: anyone
    who knows the public key can make the name. Lists the location once; reads notes only of
    folders whose name matches (or whose name was cut), newest first, until one verifies."""
    if copy_dir is None:
        return []
    try:
        entries = sorted(os.scandir(copy_dir), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []  # no copy yet (it is created with the first checkpoint copied)
    except OSError as exc:
        raise AuditError(f"cannot list the checkpoint copy location {copy_dir}: {exc.strerror or exc}",
                         hint="check that audit_copy_dir is mounted and readable by this service") from exc
    found = []
    for entry in entries:
        match = _candidate(entry.name, origin, key)
        if match is False or entry.name in skip or not entry.is_dir():
            continue
        notes = sorted(notes_in(Path(entry.path)), reverse=True)
        for path in notes[:1] if match is None else notes:
            try:
                other = signed_under_other_origin(read_note(path), origin, key)
            except (AuditIntegrityError, ValueError):
                continue  # unreadable or malformed: `audit verify` reports it
            if other is not None:
                found.append(OwnKeyElsewhere(Path(entry.path), other, path))
                break
    return found
