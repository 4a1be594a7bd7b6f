"""``keys backup``, ``keys verify-backup`` and ``keys restore``: the device's keys in one
encrypted file, checked against the live keys and put back into a home that lost them (SRS-223,
threat THR-030; docs/key_custody.md, Backup).

Each is an audit entry when an audit log can be opened without making a key:
- ``backup`` and ``verify-backup`` open the log, as every audited command does, when the audit
  signing key exists; without it, opening the log would make a new key (and start a new log),
  which a backup or a check must never do, so they then run unrecorded and say so;
- ``restore`` records itself after the restore, in the log found in the home then (the one the
  site copied back): a restore needs no log, and into a home without a log it writes no entry,
  since a first entry would start a new log under the restored key. A refused restore wrote
  nothing and records nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import device_ai
from device_ai.app import preconditions
from device_ai.app.audited import AuditedAction, audited
from device_ai.app.context import Context
from device_ai.atomic_io import write_once
from device_ai.audit.entry import KEY_BACKUP_VERIFIED, KEYS_BACKED_UP, KEYS_RESTORED, AuditObject, Code, utc_now
from device_ai.audit.identity import SIGNER_NAME
from device_ai.errors import (AuditError, ConfigError, DeviceAIError, KeyBackupIncomplete, OutputError,
                              OutputRefused)
from device_ai.keybackup import inventory, sealed
from device_ai.keystore import AUDIT_KEY_NAME, key_files, read_passphrase

MIN_PASSPHRASE_BYTES = 12
BACKUP_KIND = "key-backup"  # the audit object of a backup file: the SHA-256 of its bytes


@dataclass
class Trail:
    """Whether the command was recorded, and if not, why."""

    recorded: bool = False
    why_not: str = ""


@dataclass(frozen=True)
class BackupWritten:
    file: Path
    backed_up: tuple[str, ...]  # roles
    not_on_device: tuple[str, ...]  # roles
    audit_origin: str
    encrypted_role: str | None  # the audit signing key's role when its file is passphrase-encrypted
    trail: Trail


@dataclass(frozen=True)
class BackupVerdict:
    file: Path
    rows: tuple[inventory.Comparison, ...]
    backup_origin: str
    device_origin: str
    created_utc: str
    trail: Trail = field(default_factory=Trail)

    @property
    def complete(self) -> bool:
        return self.backup_origin == self.device_origin and all(r.status in inventory.COMPLETE for r in self.rows)

    def problem(self) -> KeyBackupIncomplete | None:
        """The typed error of an incomplete backup (None when it is complete)."""
        if self.complete:
            return None
        wrong = [f"{r.role}: {r.status}" for r in self.rows if r.status not in inventory.COMPLETE]
        if self.backup_origin != self.device_origin:
            wrong.append(f"audit origin: the backup's is {self.backup_origin!r}, the setting is {self.device_origin!r}")
        return KeyBackupIncomplete(
            f"the key backup {self.file} does not hold every key of this device as it is now: " + "; ".join(wrong),
            hint="write a new backup (device-ai keys backup --out NEW-FILE --passphrase-file P), verify it, and keep "
                 "it in place of this one; if a key changed that should not have, find out why before anything else")


@dataclass(frozen=True)
class Restored:
    file: Path
    restored: tuple[tuple[str, Path], ...]  # (role, path)
    present: tuple[tuple[str, Path], ...]  # identical, left as they were
    audit_key_encrypted: bool
    trail: Trail


def backup_keys(ctx: Context, out: Path, passphrase_file: Path) -> BackupWritten:
    """Write every key the device has (and the log's verifier key and origin) to ``out``,
    sealed under the passphrase of ``passphrase_file``; never over an existing file."""
    out = Path(out)
    files = inventory.key_files(_audit_folder(ctx))
    with _recorded_if_possible(ctx, KEYS_BACKED_UP, "C") as (action, trail):
        preconditions.check_output_file(out, "--out")  # first: a name too long is refused, not an OSError
        _refuse_existing(out)
        passphrase = _passphrase(passphrase_file)
        items = inventory.collect(files)
        if not any(item.name != SIGNER_NAME for item in items):
            raise ConfigError(f"there is no key to back up in {ctx.settings.home} (or audit_key_file)",
                              hint="back up after the device's first use; check DEVICE_AI_HOME and audit_key_file")
        content = sealed.BackupContent(tuple(items), ctx.settings.audit_origin, utc_now(), device_ai.__version__)
        data = sealed.seal(content, passphrase)
        action.objects = (AuditObject(kind=BACKUP_KIND, id=hashlib.sha256(data).hexdigest()),)
        action.succeeded({"keys": ",".join(item.name for item in items)})
        _publish(out, data)
    names = {item.name for item in items}
    encrypted = [f.role for f in files if f.name == AUDIT_KEY_NAME and _encrypted(content.item(f.name))]
    return BackupWritten(out, tuple(f.role for f in files if f.name in names),
                         tuple(f.role for f in files if f.name not in names), ctx.settings.audit_origin,
                         encrypted[0] if encrypted else None, trail)


def verify_backup(ctx: Context, file: Path, passphrase_file: Path) -> BackupVerdict:
    """Decrypt the backup ``file`` and compare each of its keys with the device's (SHA-256)."""
    file = Path(file)
    with _recorded_if_possible(ctx, KEY_BACKUP_VERIFIED, "R") as (action, trail):
        content = sealed.unseal(file, _passphrase(passphrase_file))
        action.objects = (AuditObject(kind=BACKUP_KIND, id=content.file_sha256),)
        verdict = BackupVerdict(file, tuple(inventory.compare(content, inventory.key_files(_audit_folder(ctx)))),
                                content.audit_origin, ctx.settings.audit_origin, content.created_utc, trail)
        action.succeeded({"verdict": "complete" if verdict.complete else "incomplete",
                          "audit_origin": inventory.MATCHES if verdict.backup_origin == verdict.device_origin
                          else inventory.DIFFERS, **{row.name: row.status for row in verdict.rows}})
    return verdict


def restore_keys(ctx: Context, file: Path, passphrase_file: Path) -> Restored:
    """Put the keys of the backup ``file`` where the device keeps them, where they are missing;
    then record the restore in the home's audit log, if it has one."""
    from device_ai.audit.log import vouched_for

    file = Path(file)
    content = sealed.unseal(file, _passphrase(passphrase_file))
    if content.item(AUDIT_KEY_NAME) is not None and content.audit_origin != ctx.settings.audit_origin:
        raise ConfigError(f"the audit signing key in {file} signed its log under the origin "
                          f"{content.audit_origin!r}, but audit_origin is {ctx.settings.audit_origin!r}: the device "
                          "would refuse that log; nothing was restored",
                          hint=f"set audit_origin: {content.audit_origin!r} in the configuration and restore again "
                               "(docs/key_custody.md, A key signs one origin)")
    folder = _audit_folder(ctx)
    plan = inventory.plan_restore(content, inventory.key_files(folder))
    has_log = vouched_for(folder) is not None  # before the restore: it may write signer.vkey there
    written = inventory.restore(plan)
    restored = tuple((f.role, f.path) for f in written)
    trail = Trail(why_not=f"no audit log in {folder}: a first entry would start a new log under the restored key; "
                          "copy the audit folder back from the site's backup before the next audited command "
                          "(docs/key_custody.md, Backup)")
    if has_log:
        trail = _record_restore(ctx, content, written, plan)
    return Restored(file, restored, tuple((f.role, f.path) for f in plan.present),
                    _encrypted(content.item(AUDIT_KEY_NAME)), trail)


def _record_restore(ctx: Context, content: sealed.BackupContent, written: list[inventory.KeyFile],
                    plan: inventory.RestorePlan) -> Trail:
    names = ",".join(f.name for f in written) or "none"
    try:
        with ctx.open_audit_log() as log, audited(log, KEYS_RESTORED, "C") as action:
            action.objects = (AuditObject(kind=BACKUP_KIND, id=content.file_sha256),)
            action.succeeded({"restored": names, "already_present": ",".join(f.name for f in plan.present) or "none"})
    except DeviceAIError as exc:  # the keys are back: say so, and that the trail does not show it
        raise AuditError(f"the keys were restored ({names}), but the restore could not be recorded in the audit "
                         f"log: {exc.one_line()}", hint=exc.hint) from exc
    return Trail(recorded=True)


@contextlib.contextmanager
def _recorded_if_possible(ctx: Context, event: Code,
                          action: str) -> Iterator[tuple[AuditedAction | _Unrecorded, Trail]]:
    """The audited action when the audit signing key exists; otherwise an unrecorded one (opening
    the log would make a key). Refusals of the log or the key refuse the command, as everywhere."""
    key = next(path for _role, name, _kind, path in key_files() if name == AUDIT_KEY_NAME)  # nothing made
    if not os.path.lexists(key):
        yield _Unrecorded(), Trail(why_not=f"there is no audit signing key ({key}); the audit log cannot be opened "
                                           "without making a new one")
        return
    trail = Trail(recorded=True)
    with ctx.open_audit_log() as log, audited(log, event, action) as record:
        yield record, trail


class _Unrecorded:
    """Stands in for an AuditedAction when no log can be opened: records nothing."""

    objects: tuple = ()

    def succeeded(self, details: dict[str, str] | None = None) -> None:
        pass


def _audit_folder(ctx: Context) -> Path:
    return Path(ctx.audit_folder) if ctx.audit_folder else ctx.settings.home / "audit"


def _passphrase(path: Path) -> bytes:
    fix = "an owner-only regular file (chmod 600) holding the backup passphrase; keep it apart from the backup"
    phrase = read_passphrase(Path(path), "the backup passphrase file (--passphrase-file)", fix=fix)
    if len(phrase) < MIN_PASSPHRASE_BYTES:
        raise ConfigError(f"the backup passphrase in {path} has {len(phrase)} bytes; a key backup needs at least "
                          f"{MIN_PASSPHRASE_BYTES}", hint="use a long random passphrase (e.g. openssl rand -base64 24)")
    return phrase


def _refuse_existing(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise OutputRefused(f"--out {out} exists; a key backup never replaces a file (it may be the only copy)",
                            hint="give --out a new file name")


def _publish(out: Path, data: bytes) -> None:
    try:
        write_once(out, data, mode=0o600)
    except FileExistsError as exc:
        raise OutputRefused(f"--out {out} appeared while the backup was written; it was not replaced",
                            hint="give --out a new file name") from exc
    except OSError as exc:
        raise OutputError(f"could not write the key backup {out}: {exc.strerror or exc}",
                          hint="check free space and permissions of the folder") from exc


def _encrypted(item: sealed.BackedUpItem | None) -> bool:
    return item is not None and b"ENCRYPTED" in item.data[:64]
