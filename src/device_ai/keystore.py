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
from collections.abc import Callable
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
    """``path``, created 0700 if missing (with any missing folder above it: mkdir's parents
    would take the umask's mode, e.g. a restore into a lost home, review 128 defect 1); an
    existing folder open to others is refused."""
    path = Path(path)
    try:
        missing = []
        above = path
        while not os.path.lexists(above) and above != above.parent:
            missing.append(above)
            above = above.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot create the device folder {path}: {exc.strerror or exc}",
                          hint="set DEVICE_AI_HOME to a writable folder") from exc
    if mode & 0o077:
        raise ConfigError(
            f"the device folder {path} has mode {stat.S_IMODE(mode):04o}: others can reach the device's keys and "
            "audit trail", hint=f"make it owner-only (chmod 700 {path}) or set DEVICE_AI_HOME to another folder")
    return path


MAX_PASSPHRASE_BYTES = 1023  # the most the `cryptography` backend (OpenSSL's PEM password callback) takes
MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM Ed25519 key is a few hundred bytes
_ROTATE = "if others did read it, rotate the key (docs/key_custody.md)"


def read_private_file(path: Path, what: str, *, max_bytes: int, too_long: str, hint: str,
                      owned: bool = False) -> bytes:
    """The bytes of ``path`` (a link is followed) if it is a regular file only its owner can
    reach, of at most ``max_bytes``; anything else is a ConfigError naming ``what`` and the file.
    ``owned``: also refused when owned by an account other than this process's or root (a key the
    configuration names, which another account could otherwise re-mode or replace).

    Special files are refused before they are read: a FIFO would block the open (or the read)
    forever, a device may never end. ``os.stat`` refuses them before opening; the open is
    non-blocking and the opened file is checked again (it may have been replaced meanwhile)."""
    try:
        _refuse_special_file(path, os.stat(path).st_mode, what, hint)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}", hint=hint) from exc
    try:
        info = os.fstat(fd)
        _refuse_special_file(path, info.st_mode, what, hint)
        _refuse_open_mode(path, info.st_mode, what)
        if owned and info.st_uid not in (os.geteuid(), 0):
            raise ConfigError(f"{what} {path} is owned by another account (uid {info.st_uid}); it is not used",
                              hint=f"give it to the account that runs the device (chown) with mode 600; {_ROTATE}")
        if info.st_size > max_bytes:
            raise ConfigError(f"{what} {path} holds {info.st_size} bytes; {too_long}", hint=hint)
        return _read_all(fd, info.st_size, path, what, hint)
    finally:
        os.close(fd)


def read_private_key_file(path: Path, setting: str) -> bytes:
    """The bytes of a TLS private key file a setting names (``node_tls_key_file``, a destination's
    ``transport.client_key``, ``batch_tls_key_file``), checked as the key store's own keys are
    (:func:`read_private_file`: a regular file only its owner can reach, refused, never re-moded)
    and owned by this process's account or root (THR-028, review 138 D1). ``setting`` names it in
    the ConfigError, with the file, its mode or owner and the fix."""
    return read_private_file(Path(path), setting, max_bytes=MAX_KEY_FILE_BYTES,
                             too_long="a PEM private key (with its certificates) is a few kilobytes",
                             hint=f"set {setting} to the PEM private key file", owned=True)


def _refuse_special_file(path: Path, mode: int, what: str, hint: str) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a special file")
        raise ConfigError(f"{what} {path} is not a regular file (it is {kind}); the device did not read it", hint=hint)


def _refuse_open_mode(path: Path, mode: int, what: str) -> None:
    mode = stat.S_IMODE(mode)
    if mode & 0o077:
        who = ("others can read it" if mode & 0o044 else "others can change it" if mode & 0o022
               else "others can reach it")
        raise ConfigError(f"{what} {path} has mode {mode:04o}: {who}",
                          hint=f"make it owner-only (chmod 600 {path}); {_ROTATE}")


def _read_all(fd: int, size: int, path: Path, what: str, hint: str) -> bytes:
    chunks: list[bytes] = []
    try:
        while size > 0 and (chunk := os.read(fd, size)):
            chunks.append(chunk)
            size -= len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}", hint=hint) from exc
    return b"".join(chunks)


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
    """The audit key's passphrase (``audit_key_passphrase_file``), checked before any key is made
    or read: the backend refuses more than 1023 bytes, and would say so only when signing."""
    file = load_settings().audit_key_passphrase_file if name == AUDIT_KEY_NAME else None
    if file is None:
        return None
    return read_passphrase(Path(file), "the audit key passphrase file (audit_key_passphrase_file)",
                           fix="check audit_key_passphrase_file in the configuration: an owner-only regular file "
                               "holding the passphrase")


def read_passphrase(file: Path, what: str, *, fix: str) -> bytes:
    """The passphrase in ``file`` (an owner-only regular file; one trailing newline ignored), checked
    against the backend's limit; ``what`` names the file and ``fix`` says what to do in the errors."""
    too_long = (f"a passphrase may have at most {MAX_PASSPHRASE_BYTES} bytes (the limit of the cryptography "
                "backend)")
    phrase = read_private_file(Path(file), what, max_bytes=MAX_PASSPHRASE_BYTES + 2, too_long=too_long,
                               hint=fix).rstrip(b"\r\n")
    if len(phrase) > MAX_PASSPHRASE_BYTES:
        raise ConfigError(f"{what} {file} holds a passphrase of {len(phrase)} bytes; {too_long}",
                          hint=f"use a passphrase of at most {MAX_PASSPHRASE_BYTES} bytes")
    if not phrase:
        raise ConfigError(f"{what} {file} is empty", hint="put the passphrase in it")
    return phrase


def ed25519_key(name: str, *, refuse_to_create: Callable[[], str | None] = lambda: None) -> Ed25519PrivateKey:
    """The device's named Ed25519 key, created on first use (encrypted when a passphrase is set).

    ``refuse_to_create()`` is asked only when the key file is missing: a reason (what the key
    already vouches for, e.g. signed checkpoints) refuses to make a new one, since a new key
    would silently orphan that evidence (docs/key_custody.md)."""
    path = key_path(name)
    passphrase = _passphrase(name)  # before anything is created: a refused passphrase leaves no trace
    private_dir(path.parent)
    if not os.path.lexists(path):  # a dangling link is not missing: it is refused when read
        reason = refuse_to_create()
        if reason is not None:
            raise _missing_key(path, reason)
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        _create_exclusive(path, pem)
    return load_ed25519_private_key(
        path, passphrase, read_hint=f"restore the key from its backup (docs/key_custody.md){_setting_hint(name)}",
        passphrase_hint="set or remove audit_key_passphrase_file to match the key",
        damaged_hint="restore the key from its backup, or check audit_key_passphrase_file")


def load_ed25519_private_key(path: Path, passphrase: bytes | None, *, read_hint: str, passphrase_hint: str,
                             damaged_hint: str,
                             wrong_kind_hint: str = "restore the key from its backup") -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (an owner-only regular file, read as
    :func:`read_private_file` reads), decrypted with ``passphrase`` when given; every failure a
    ConfigError naming the file, with the hint that fits it."""
    data = read_private_file(path, "the key file", max_bytes=MAX_KEY_FILE_BYTES,
                             too_long="a PEM Ed25519 key is a few hundred bytes", hint=read_hint)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise ConfigError(f"the key {path} {'is not encrypted' if passphrase else 'is encrypted'}: {exc}",
                          hint=passphrase_hint) from exc
    except (ValueError, OSError) as exc:
        raise ConfigError(f"the key file {path} cannot be read as a PEM private key (wrong passphrase, or damaged)",
                          hint=damaged_hint) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key", hint=wrong_kind_hint)
    return key


def _setting_hint(name: str) -> str:
    return ", or correct audit_key_file in the configuration" if name == AUDIT_KEY_NAME else ""


def _missing_key(path: Path, reason: str) -> ConfigError:
    """The refusal to replace a lost signing key, with where the key may be found."""
    hint = (f"restore the key file from its backup to {path} (docs/key_custody.md, Backup); to verify without it: "
            "device-ai audit verify --key <verifier key>; if the key is lost for good, start a new one knowingly "
            "(docs/key_custody.md, Rotation)")
    default = load_settings().home / "keys" / f"{AUDIT_KEY_NAME}.pem"
    if default != path and default.is_file():
        hint = f"the key used so far may be {default} (the default place): move it to {path}; otherwise {hint}"
    return ConfigError(f"the audit checkpoint signing key {path} is missing, but {reason}: a new key would break "
                       "the chain of signatures, so the device does not make one", hint=hint)


def key_files() -> list[tuple[str, str, str, Path]]:
    """(role, name, kind, path) of each key of KEY_ROLES, where the device keeps it under the
    current settings; nothing is created (``config show`` and ``keys backup`` only look)."""
    settings = load_settings()
    rows = []
    for role, name, kind in KEY_ROLES:
        configured = settings.audit_key_file if name == AUDIT_KEY_NAME else None
        suffix = "pem" if kind == "ed25519" else "bin"
        path = Path(configured) if configured else settings.home / "keys" / f"{name}.{suffix}"
        rows.append((role, name, kind, path))
    return rows


def key_locations() -> list[dict[str, object]]:
    """Where each key of the device is, whether it exists and is encrypted; never the key itself."""
    rows: list[dict[str, object]] = []
    for role, _name, kind, path in key_files():
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
    data = read_private_file(path, "the key file", max_bytes=size, too_long=f"a {name} holds {size} bytes",
                             hint="restore it from backup")
    if len(data) != size:
        raise ConfigError(f"secret {path} has the wrong size", hint="restore it from backup")
    return data
