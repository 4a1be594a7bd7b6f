"""The device's own state folder and key store (``DEVICE_AI_HOME``), owner-only.

Everything the device writes for itself (audit log, keys) lives under ``DEVICE_AI_HOME``
(default ``~/.device_ai``), created with mode 0700; key files are 0600 and created on
first use, atomically, so two processes never end up with two different keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.config import load_settings
from device_ai.errors import ConfigError


def device_home() -> Path:
    """The configured ``home`` (``$DEVICE_AI_HOME``, default ``~/.device_ai``), created owner-only."""
    return private_dir(load_settings().home)


def private_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create the device folder {path}: {exc.strerror}",
                          hint="set DEVICE_AI_HOME to a writable folder") from exc
    return path


def _create_exclusive(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key first: keep theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def ed25519_key(name: str) -> Ed25519PrivateKey:
    """The device's named Ed25519 key, created on first use."""
    path = private_dir(device_home() / "keys") / f"{name}.pem"
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _create_exclusive(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key", hint="remove it to have a new key created")
    return key


def secret(name: str, size: int = 32) -> bytes:
    """The device's named random secret (e.g. the pseudonym key), created on first use."""
    path = private_dir(device_home() / "keys") / f"{name}.bin"
    if not path.exists():
        _create_exclusive(path, os.urandom(size))
    data = path.read_bytes()
    if len(data) != size:
        raise ConfigError(f"secret {path} has the wrong size", hint="restore it from backup")
    return data
