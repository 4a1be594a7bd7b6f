"""The device's own state folder and key store (``DEVICE_AI_HOME``), owner-only.

Everything the device writes for itself (audit log, keys) lives under ``DEVICE_AI_HOME``
(default ``~/.device_ai``), created with mode 0700; key files are 0600 and created on
first use, atomically (O_EXCL), so two processes never end up with two different keys.
An existing folder or key file that others can read is refused with the reason, never
silently re-moded: the site decides. The audit checkpoint signing key can live elsewhere
(``audit_key_file``) and be passphrase-encrypted (``audit_key_passphrase_file``); roles,
rotation and backup: docs/key_custody.md.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.atomic_io import write_once
from device_ai.config import load_settings
from device_ai.errors import ConfigError

AUDIT_KEY_NAME = "audit-checkpoint"
# (role, key name, kind): the keys the device holds (docs/key_custody.md).
KEY_ROLES = (
    ("audit checkpoint signing key", AUDIT_KEY_NAME, "ed25519"),
    ("pseudonym key (audit object pseudonyms)", "pseudonym-key", "secret"),
    ("de-identification key (keyed replacement UIDs and dates)", "deidentification-key", "secret"),
    ("crosswalk key (encrypts re-identification crosswalks)", "crosswalk-key", "secret"),
)


def device_home() -> Path:
    """The configured ``home`` (``$DEVICE_AI_HOME``, default ``~/.device_ai``), created owner-only."""
    return private_dir(load_settings().home)


def private_dir(path: Path) -> Path:
    """``path``, created 0700 if missing; an existing folder open to others is refused."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot create the device folder {path}: {exc.strerror or exc}",
                          hint="set DEVICE_AI_HOME to a writable folder") from exc
    if mode & 0o077:
        raise ConfigError(
            f"the device folder {path} has mode {stat.S_IMODE(mode):04o}: others can reach the device's keys and "
            "audit trail", hint=f"make it owner-only (chmod 700 {path}) or set DEVICE_AI_HOME to another folder")
    return path


def _refuse_open_key(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"the key file {path} has mode {mode:04o}: others can read it",
                          hint=f"make it owner-only (chmod 600 {path}); if others did read it, rotate the key "
                               "(docs/key_custody.md)")


def _create_exclusive(path: Path, data: bytes) -> None:
    """Create a key file once (0600, O_EXCL-like via a hard link): if another process or thread
    created it first, theirs is kept, so everyone ends up with the same key."""
    try:
        write_once(path, data)
    except FileExistsError:
        pass  # another creator won: keep theirs
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror or exc}",
                          hint="check free space and permissions of the key folder") from exc


def key_path(name: str) -> Path:
    """Where the named Ed25519 key is kept: the audit key's configured file, else DEVICE_AI_HOME/keys."""
    configured = load_settings().audit_key_file if name == AUDIT_KEY_NAME else None
    return Path(configured) if configured is not None else device_home() / "keys" / f"{name}.pem"


def _passphrase(name: str) -> bytes | None:
    file = load_settings().audit_key_passphrase_file if name == AUDIT_KEY_NAME else None
    if file is None:
        return None
    try:
        phrase = Path(file).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read the audit key passphrase file {file}: {exc.strerror or exc}",
                          hint="check audit_key_passphrase_file in the configuration") from exc
    if not phrase:
        raise ConfigError(f"the audit key passphrase file {file} is empty", hint="put the passphrase in it")
    return phrase


def ed25519_key(name: str) -> Ed25519PrivateKey:
    """The device's named Ed25519 key, created on first use (encrypted when a passphrase is set)."""
    path = key_path(name)
    private_dir(path.parent)
    passphrase = _passphrase(name)
    if not path.exists():
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        _create_exclusive(path, pem)
    _refuse_open_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise ConfigError(f"the key {path} {'is not encrypted' if passphrase else 'is encrypted'}: {exc}",
                          hint="set or remove audit_key_passphrase_file to match the key") from exc
    except (ValueError, OSError) as exc:
        raise ConfigError(f"the key file {path} cannot be read as a PEM private key (wrong passphrase, or damaged)",
                          hint="restore the key from its backup, or check audit_key_passphrase_file") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key", hint="restore the key from its backup")
    return key


def key_locations() -> list[dict[str, object]]:
    """Where each key of the device is, whether it exists and is encrypted; never the key itself."""
    rows: list[dict[str, object]] = []
    for role, name, kind in KEY_ROLES:
        settings = load_settings()  # nothing is created here: `config show` only reports
        configured = settings.audit_key_file if name == AUDIT_KEY_NAME else None
        path = Path(configured) if configured else settings.home / "keys" / f"{name}.{'pem' if kind == 'ed25519' else 'bin'}"
        row: dict[str, object] = {"role": role, "path": str(path), "exists": path.is_file()}
        if kind == "ed25519" and path.is_file():
            try:
                row["encrypted"] = b"ENCRYPTED" in path.read_bytes()[:64]
            except OSError:
                row["encrypted"] = "unreadable"
        rows.append(row)
    return rows


def secret(name: str, size: int = 32) -> bytes:
    """The device's named random secret (e.g. the pseudonym key), created on first use."""
    path = private_dir(device_home() / "keys") / f"{name}.bin"
    if not path.exists():
        _create_exclusive(path, os.urandom(size))
    _refuse_open_key(path)
    data = path.read_bytes()
    if len(data) != size:
        raise ConfigError(f"secret {path} has the wrong size", hint="restore it from backup")
    return data
