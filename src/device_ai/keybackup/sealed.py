"""The key backup file: one JSON document of keys, sealed under a passphrase (SRS-223).

Layout: a fixed header (``MAGIC``, format version, scrypt cost parameters, a random 16-byte
salt and a random 12-byte nonce), then the AES-256-GCM ciphertext of the document and its tag.
The key is scrypt(passphrase, salt) (RFC 7914; N = 2^17, r = 8, p = 1 by default); the whole
header is the associated data, so a changed version, cost or salt fails authentication like a
changed ciphertext byte. A wrong passphrase and an altered or cut file are told apart from a
file that is not a backup at all, never from each other (GCM cannot), and every failure is a
:class:`KeyBackupUnreadable` naming the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from device_ai.errors import KeyBackupUnreadable

MAGIC = b"DEVICE-AI KEY BACKUP\n"
VERSION = 1
_PARAMS = struct.Struct(">BBBB")  # version, log2(N), r, p
SALT_BYTES, NONCE_BYTES, TAG_BYTES = 16, 12, 16
HEADER_BYTES = len(MAGIC) + _PARAMS.size + SALT_BYTES + NONCE_BYTES
LOG2_N, R, P = 17, 8, 1  # 128 MiB and a fraction of a second per derivation: slows guessing
LOG2_N_RANGE = range(14, 19)  # what a reader accepts: a forged header must not ask for more than 256 MiB
MAX_FILE_BYTES = 1 << 20  # four keys and a verifier key are a few kilobytes
DOCUMENT = "device-ai key backup"
REFUSE_HINT = ("check that FILE is the backup and --passphrase-file holds the passphrase it was written with; a "
               "backup that still fails was altered or damaged: use another copy")


@dataclass(frozen=True)
class BackedUpItem:
    """One file of the backup: a key of KEY_ROLES (by its name) or the log's verifier key."""

    name: str
    role: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class BackupContent:
    items: tuple[BackedUpItem, ...]
    audit_origin: str
    created_utc: str
    software_version: str
    file_sha256: str = ""  # of the backup file it was read from (its audit object); empty when written

    def item(self, name: str) -> BackedUpItem | None:
        return next((item for item in self.items if item.name == name), None)


def seal(content: BackupContent, passphrase: bytes) -> bytes:
    """The backup file's bytes: ``content`` encrypted under ``passphrase`` with a new salt and nonce."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = MAGIC + _PARAMS.pack(VERSION, LOG2_N, R, P) + salt + nonce
    return header + AESGCM(_derive(passphrase, salt, LOG2_N, R, P)).encrypt(nonce, _document(content), header)


def unseal(path: Path, passphrase: bytes) -> BackupContent:
    """The content of the backup file ``path``; KeyBackupUnreadable naming it for anything else."""
    data = _read(path)
    if not data.startswith(MAGIC):
        raise KeyBackupUnreadable(f"{path} is not a device-ai key backup (it does not start as one)",
                                  hint="give the file that `device-ai keys backup` wrote")
    if len(data) < HEADER_BYTES + TAG_BYTES:
        raise KeyBackupUnreadable(f"the key backup {path} is cut short ({len(data)} bytes)", hint=REFUSE_HINT)
    version, log2_n, r, p = _PARAMS.unpack_from(data, len(MAGIC))
    if version != VERSION:
        raise KeyBackupUnreadable(f"the key backup {path} has format version {version}; this software reads version "
                                  f"{VERSION}", hint="read it with the software version that wrote it, or "
                                                     + REFUSE_HINT)
    if log2_n not in LOG2_N_RANGE or not 1 <= r <= R or not 1 <= p <= 4:
        raise KeyBackupUnreadable(f"the key backup {path} asks for key derivation costs no backup of this device "
                                  "has (altered or damaged)", hint=REFUSE_HINT)
    salt_end = len(MAGIC) + _PARAMS.size + SALT_BYTES
    salt, nonce = data[len(MAGIC) + _PARAMS.size:salt_end], data[salt_end:HEADER_BYTES]
    try:
        plaintext = AESGCM(_derive(passphrase, salt, log2_n, r, p)).decrypt(nonce, data[HEADER_BYTES:],
                                                                            data[:HEADER_BYTES])
    except InvalidTag:
        raise KeyBackupUnreadable(f"the key backup {path} cannot be decrypted: the passphrase is not the one it was "
                                  "written with, or the file was altered or cut", hint=REFUSE_HINT) from None
    return _content(plaintext, path, hashlib.sha256(data).hexdigest())


def _derive(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase)


def _document(content: BackupContent) -> bytes:
    return json.dumps({
        "document": DOCUMENT, "version": VERSION, "created_utc": content.created_utc,
        "software_version": content.software_version, "audit_origin": content.audit_origin,
        "items": [{"name": item.name, "role": item.role, "sha256": item.sha256,
                   "data": base64.b64encode(item.data).decode("ascii")} for item in content.items],
    }, sort_keys=True).encode("utf-8")


def _content(plaintext: bytes, path: Path, file_sha256: str) -> BackupContent:
    """The authenticated document, checked: only this software's own writer makes one, so a
    mismatch is a defect or another version, still reported as an unreadable backup."""
    try:
        document = json.loads(plaintext)
        if document["document"] != DOCUMENT or document["version"] != VERSION:
            raise ValueError("another document")
        items = []
        for entry in document["items"]:
            item = BackedUpItem(str(entry["name"]), str(entry["role"]), base64.b64decode(entry["data"], validate=True))
            if item.sha256 != entry["sha256"]:
                raise ValueError(f"{item.name}: digest does not match")
            items.append(item)
        return BackupContent(tuple(items), str(document["audit_origin"]), str(document["created_utc"]),
                             str(document["software_version"]), file_sha256)
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyBackupUnreadable(f"the key backup {path} decrypts, but its content is not a key backup this "
                                  f"software reads ({exc})", hint="read it with the software version that wrote it") \
            from None


def _read(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES (a FIFO is refused before it can block)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise KeyBackupUnreadable(f"the key backup {path} is not a regular file", hint="give the backup file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise KeyBackupUnreadable(f"the key backup {path} is not a regular file", hint="give the backup file")
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyBackupUnreadable(f"cannot read the key backup {path}: {exc.strerror or exc}",
                                  hint="check the path and its permissions") from exc
    if len(data) > MAX_FILE_BYTES:
        raise KeyBackupUnreadable(f"{path} is larger than a key backup can be ({MAX_FILE_BYTES} bytes)",
                                  hint="give the file that `device-ai keys backup` wrote")
    return data
