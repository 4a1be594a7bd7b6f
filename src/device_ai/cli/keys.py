"""``keys backup | verify-backup | restore``: the device's keys in one encrypted file (SRS-223;
docs/key_custody.md, Backup). All behaviour is in :mod:`device_ai.app.keys`; no key is printed."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from device_ai.app import keys
from device_ai.cli.common import context

PASSPHRASE_HELP = ("file holding the backup passphrase (owner-only, mode 0600; at least 12 bytes); keep it apart from "
                   "the backup. Never given on the command line")


def _trail_line(trail: keys.Trail) -> str:
    return "recorded in the audit trail" if trail.recorded else f"not recorded in the audit trail: {trail.why_not}"


def cmd_keys_backup(args: argparse.Namespace) -> int:
    written = keys.backup_keys(context(args), Path(args.out), Path(args.passphrase_file))
    print(f"key backup written: {written.file} (mode 0600; scrypt and AES-256-GCM under the passphrase)")
    for role in written.backed_up:
        note = " (still encrypted with its own passphrase)" if role == written.encrypted_role else ""
        print(f"  backed up: {role}{note}")
    for role in written.not_on_device:
        print(f"  not on this device (not made yet): {role}")
    print(f"  audit origin: {written.audit_origin}")
    print(_trail_line(written.trail))
    print(f"next: device-ai keys verify-backup {written.file} --passphrase-file <file>; keep the backup and its "
          "passphrase in different places")
    return 0


def cmd_keys_verify_backup(args: argparse.Namespace) -> int:
    verdict = keys.verify_backup(context(args), Path(args.file), Path(args.passphrase_file))
    print(f"key backup {verdict.file} (written {verdict.created_utc}) against this device:")
    for row in verdict.rows:
        print(f"  {row.role}: {row.status}")
    origin = "matches" if verdict.backup_origin == verdict.device_origin else \
        f"differs (backup {verdict.backup_origin!r}, setting {verdict.device_origin!r})"
    print(f"  audit origin: {origin}")
    print(_trail_line(verdict.trail))
    problem = verdict.problem()
    if problem is not None:
        raise problem
    print("OK: every key of this device is in the backup, identical")
    return 0


def cmd_keys_restore(args: argparse.Namespace) -> int:
    restored = keys.restore_keys(context(args), Path(args.file), Path(args.passphrase_file))
    print(f"keys restored from {restored.file}:")
    for role, path in restored.restored:
        print(f"  restored: {role} -> {path}")
    for role, path in restored.present:
        print(f"  already there, identical (left as it is): {role} {path}")
    if not restored.restored:
        print("  nothing was missing")
    if restored.audit_key_encrypted:
        print("  the audit signing key is encrypted: audit_key_passphrase_file must hold the passphrase it was made "
              "with")
    print(_trail_line(restored.trail))
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    group = add("keys", None, "back up, verify the backup of, and restore the device's keys")
    sub = group.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    backup = add("backup", cmd_keys_backup, "write every key of the device to one encrypted backup file (audited)", sub)
    backup.add_argument("--out", required=True, metavar="FILE", help="backup file to create (never replaced)")
    backup.add_argument("--passphrase-file", required=True, metavar="FILE", help=PASSPHRASE_HELP)
    verify = add("verify-backup", cmd_keys_verify_backup,
                 "decrypt a key backup and compare each key with the device's (exit 0 only when every key of the "
                 "device is in it, identical; audited)", sub)
    verify.add_argument("file", help="the backup file")
    verify.add_argument("--passphrase-file", required=True, metavar="FILE", help=PASSPHRASE_HELP)
    restore = add("restore", cmd_keys_restore,
                  "put the keys of a backup back where the device keeps them, where they are missing (never over an "
                  "existing key)", sub)
    restore.add_argument("file", help="the backup file")
    restore.add_argument("--passphrase-file", required=True, metavar="FILE", help=PASSPHRASE_HELP)
