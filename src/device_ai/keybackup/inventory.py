"""The files a key backup holds, where each one lives on the device now, how the device's
files compare with a backup, and putting missing ones back (SRS-223).

The files are the keys of :data:`device_ai.keystore.KEY_ROLES` where the current settings
keep them (the audit signing key at ``audit_key_file`` when set, as its file is: still
encrypted if it is), and the verifier key recorded beside the audit log (``signer.vkey``).
Keys are compared by the SHA-256 of their files' bytes; nothing here prints or returns a key
to a front end. A restore never replaces a file: an identical one is left as it is, a
different one refuses the whole restore before anything is written.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from device_ai import keystore
from device_ai.atomic_io import write_once
from device_ai.audit.identity import SIGNER_NAME
from device_ai.audit.notefiles import read_note
from device_ai.errors import ConfigError, OutputError, OutputRefused
from device_ai.keybackup.sealed import BackedUpItem, BackupContent

SIGNER_ROLE = "audit log verifier key (signer.vkey)"
MATCHES = "matches"
DIFFERS = "differs"
MISSING_IN_BACKUP = "missing in backup"
MISSING_ON_DEVICE = "missing on the device"
ABSENT = "neither on the device nor in the backup"
COMPLETE = (MATCHES, MISSING_ON_DEVICE, ABSENT)  # what verify-backup accepts: every live file is backed up as it is


@dataclass(frozen=True)
class KeyFile:
    """Where one backed-up file lives on this device; ``secret``: a key (owner-only), not the
    public verifier key."""

    name: str
    role: str
    path: Path
    secret: bool


def key_files(audit_folder: Path) -> list[KeyFile]:
    """The files a backup holds, at their places under the current settings (nothing is created)."""
    files = [KeyFile(name, role, path, True) for role, name, _kind, path in keystore.key_files()]
    return [*files, KeyFile(SIGNER_NAME, SIGNER_ROLE, Path(audit_folder) / SIGNER_NAME, False)]


def read_live(file: KeyFile) -> bytes | None:
    """The bytes of ``file`` on the device, None when it does not exist. A key must be an
    owner-only regular file (refused with the keystore's reasons otherwise)."""
    if not os.path.lexists(file.path):  # a dangling link is not missing: it is refused when read
        return None
    if file.secret:
        return keystore.read_private_file(file.path, "the key file", max_bytes=keystore.MAX_KEY_FILE_BYTES,
                                          too_long="a key file is a few hundred bytes",
                                          hint="make it an owner-only regular file (docs/key_custody.md)")
    return read_note(file.path, "the log's signer file", hint="restore the audit folder from its backup")


def collect(files: list[KeyFile]) -> list[BackedUpItem]:
    """What the device has of ``files`` now, in their order."""
    items = []
    for file in files:
        data = read_live(file)
        if data is not None:
            items.append(BackedUpItem(file.name, file.role, data))
    return items


@dataclass(frozen=True)
class Comparison:
    role: str
    name: str
    status: str  # MATCHES, DIFFERS, MISSING_IN_BACKUP, MISSING_ON_DEVICE or ABSENT


def compare(content: BackupContent, files: list[KeyFile]) -> list[Comparison]:
    """Each file of the device against the backup, by the SHA-256 of its bytes."""
    rows = []
    for file in files:
        live, kept = read_live(file), content.item(file.name)
        if live is None:
            status = ABSENT if kept is None else MISSING_ON_DEVICE
        elif kept is None:
            status = MISSING_IN_BACKUP
        else:
            status = MATCHES if hashlib.sha256(live).hexdigest() == kept.sha256 else DIFFERS
        rows.append(Comparison(file.role, file.name, status))
    return rows


@dataclass(frozen=True)
class RestorePlan:
    """What a restore writes (missing files), and what it leaves (identical files already there)."""

    write: tuple[tuple[KeyFile, BackedUpItem], ...]
    present: tuple[KeyFile, ...]


def plan_restore(content: BackupContent, files: list[KeyFile]) -> RestorePlan:
    """The restore of ``content``; an existing file that differs from its backup refuses it
    (OutputRefused naming each such file), before anything is written."""
    write, present, conflicts = [], [], []
    for file in files:
        kept = content.item(file.name)
        if kept is None:
            continue
        live = read_live(file)
        if live is None:
            write.append((file, kept))
        elif hashlib.sha256(live).hexdigest() == kept.sha256:
            present.append(file)
        else:
            conflicts.append(file)
    if conflicts:
        raise OutputRefused(
            "refusing to overwrite: " + "; ".join(f"the {file.role} {file.path} exists and differs from the backup's"
                                                  for file in conflicts) + "; nothing was restored",
            hint="restore into a device home (and audit_key_file location) where these keys are missing; a key that "
                 "exists is the one the device uses now: move it aside only if you know it is not needed "
                 "(docs/key_custody.md, Backup)")
    return RestorePlan(tuple(write), tuple(present))


def restore(plan: RestorePlan) -> list[KeyFile]:
    """Write the plan's files, owner-only (folders 0700, files 0600, as the keystore makes them);
    never over a file that appeared meanwhile. Returns the files written."""
    written = []
    for file, item in plan.write:
        try:
            keystore.private_dir(file.path.parent)  # refuses a folder open to others, as for every key
            write_once(file.path, item.data)
        except FileExistsError as exc:
            raise OutputRefused(f"the {file.role} {file.path} appeared during the restore; it was not overwritten"
                                + _so_far(written), hint="run the restore again: it restores what is missing") from exc
        except OSError as exc:
            raise OutputError(f"could not write the {file.role} {file.path}: {exc.strerror or exc}" + _so_far(written),
                              hint="check free space and permissions, then run the restore again") from exc
        except ConfigError as exc:
            raise ConfigError(exc.message + _so_far(written), hint=exc.hint) from exc
        written.append(file)
    return written


def _so_far(written: list[KeyFile]) -> str:
    return f" (restored before it: {', '.join(str(f.path) for f in written)})" if written else " (nothing restored)"
