"""The append-only record file under the Merkle log (SRS-026).

File layout: an 8-byte header ``DAIAUD01``, then records framed as
``length (u32, big endian) | CRC-32 of payload (u32) | payload``. A record is acknowledged
only after ``fsync`` of the file (and of the folder when the file was created). Appends
from several processes are serialized with ``flock`` on a lock file; each writer first
reads the records others appended. On open, a torn final record (shorter than its declared
length: a write that never completed, hence never acknowledged) is cut and reported; a
complete record whose CRC fails is corruption and is refused, never cut. An fsync error
stops the writer for good (reference/audit_security.md §3: no retry after a failed fsync).
``fsync`` below means ``fdatasync`` for the record file and ``fsync`` for its folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from device_ai.atomic_io import fsync_directory
from device_ai.errors import AuditError

MAGIC = b"DAIAUD01"
FRAME = struct.Struct(">II")
MAX_RECORD = 1 << 20


@dataclass(frozen=True)
class Record:
    seq: int
    offset: int
    payload: bytes


@dataclass(frozen=True)
class ScanResult:
    records: list[Record]
    good_end: int
    torn_bytes: int
    problem: str | None  # corruption found (record named), or None


def scan(data: bytes, start: int = 0, first_seq: int = 0) -> ScanResult:
    """Walk the framed records of a file image; stop at the first problem.

    ``data`` is the file from byte ``start`` on (``start`` > 0: a tail read after the
    records already known, the first of which gets number ``first_seq``); offsets are
    absolute file offsets.
    """
    if start == 0:
        if len(data) < len(MAGIC):
            torn = len(data) if MAGIC.startswith(data) else 0
            problem = None if torn == len(data) else "file header is not DAIAUD01"
            return ScanResult([], 0, torn, problem)
        if data[: len(MAGIC)] != MAGIC:
            return ScanResult([], 0, 0, "file header is not DAIAUD01")
    records: list[Record] = []
    pos = len(MAGIC) if start == 0 else 0
    while pos < len(data):
        seq = first_seq + len(records)
        at = start + pos
        if len(data) - pos < FRAME.size:
            return ScanResult(records, at, len(data) - pos, None)
        length, crc = FRAME.unpack_from(data, pos)
        if length > MAX_RECORD:
            return ScanResult(records, at, 0, f"record {seq} at byte {at}: declared length {length} is impossible")
        end = pos + FRAME.size + length
        if end > len(data):
            return ScanResult(records, at, len(data) - pos, None)
        payload = data[pos + FRAME.size : end]
        if zlib.crc32(payload) != crc:
            return ScanResult(records, at, 0, f"record {seq} at byte {at}: checksum mismatch (altered)")
        records.append(Record(seq, at, payload))
        pos = end
    return ScanResult(records, start + pos, 0, None)


def complete_frame_in(tail: bytes) -> int | None:
    """Offset of the first complete, checksum-valid record frame that starts inside ``tail``
    after its first byte, or None. A genuinely torn write leaves a prefix of ONE frame (its
    payload is JSON text, whose bytes never read as a plausible length), so a complete frame
    inside a "torn" tail means a forged length hid acknowledged records."""
    for pos in range(1, max(0, len(tail) - FRAME.size) + 1):
        length, crc = FRAME.unpack_from(tail, pos)
        end = pos + FRAME.size + length
        if length and end <= len(tail) and zlib.crc32(tail[pos + FRAME.size : end]) == crc:
            return pos
    return None


def lengthened_record(tail: bytes) -> bool:
    """True when the "torn" record at the start of ``tail`` is complete and only its declared
    length was made larger: some prefix of what follows its frame header (bytes may have been
    appended after it) checks against its CRC. A torn write has a CRC over bytes that never
    reached the file, so no prefix checks (but by a 2**-32 chance per prefix, which only makes
    the device ask an operator instead of cutting)."""
    if len(tail) <= FRAME.size:
        return False
    _, stored = FRAME.unpack_from(tail, 0)
    body = memoryview(tail)[FRAME.size : FRAME.size + MAX_RECORD]
    crc = 0
    for end in range(len(body)):  # the CRC of every prefix, in one pass
        crc = zlib.crc32(body[end : end + 1], crc)
        if crc == stored:
            return True
    return False


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_RECORD:
        raise AuditError(f"audit entry of {len(payload)} bytes exceeds {MAX_RECORD}")
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


class RecordFile:
    """One writer's handle on the record file. Use :meth:`locked` around read-then-append."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.failed: BaseException | None = None
        created = not self.path.exists()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if created:
            with self.locked():
                if os.fstat(self.fd).st_size == 0:
                    self._write_durably(MAGIC)
                fsync_directory(self.path.parent)

    def close(self) -> None:
        for fd in (self.fd, self.lock_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    @contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def read_from(self, offset: int) -> bytes:
        size = os.fstat(self.fd).st_size
        return os.pread(self.fd, max(0, size - offset), offset)

    def cut(self, good_end: int) -> None:  # noqa: D401
        """Cut a torn tail (caller holds the lock and records the cut)."""
        os.ftruncate(self.fd, good_end)
        self._fsync()

    def _fsync(self) -> None:
        # fdatasync flushes the data and the metadata needed to read it back (the new file
        # size included), which is what an append needs; SQLite uses it the same way.
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            self.failed = exc
            raise AuditError(
                f"the audit log could not be made durable (fsync: {exc.strerror or exc}); the writer stopped",
                hint="check the disk holding DEVICE_AI_HOME; restart the device after fixing it",
            ) from exc

    def ensure_usable(self) -> None:
        if self.failed is not None:
            raise AuditError("the audit writer stopped after an earlier write error; nothing was recorded",
                             hint="restart the device after fixing the storage problem")

    def _write_durably(self, data: bytes) -> None:
        self.ensure_usable()
        before = os.fstat(self.fd).st_size
        try:
            written = os.write(self.fd, data)
        except OSError as exc:
            self.failed = exc
            raise AuditError(f"the audit log could not be written ({exc.strerror or exc}); the writer stopped",
                             hint="check free space and the disk holding DEVICE_AI_HOME") from exc
        if written != len(data):
            self.failed = OSError(errno.EIO, "short write")
            self._take_back(before)
            raise AuditError("short write to the audit log; the writer stopped")
        try:
            self._fsync()
        except AuditError:
            self._take_back(before)
            raise

    def _take_back(self, size: int) -> None:
        """Best effort: remove bytes whose durability is unknown, so no reader mistakes them
        for acknowledged entries (if this fails too, open() later sees them as ordinary records
        of an action that reported failure)."""
        try:
            os.ftruncate(self.fd, size)
        except OSError:
            pass

    def append(self, payloads: list[bytes]) -> int:
        """Write framed payloads with one write and one fsync (group commit); caller holds the
        lock. Returns the file size after the append."""
        self._write_durably(b"".join(frame(p) for p in payloads))
        return os.fstat(self.fd).st_size
