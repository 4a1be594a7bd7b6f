"""The audit log: entries -> framed, fsynced records -> Merkle tree -> signed checkpoints.

``AuditLog.open(folder)`` recovers a torn tail (and records the cut as an entry), ``append``
acknowledges only durable entries, ``checkpoint`` signs the current tree head and copies it
to the second location (``DEVICE_AI_AUDIT_COPY_DIR``); checkpoints are written every
``checkpoint_every`` entries or ``checkpoint_seconds`` seconds, and by ``close``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from device_ai.atomic_io import atomic_write_bytes
from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, sign_note, verifier_key
from device_ai.audit.entry import LOG_RECOVERED, Actor, AuditEntry, AuditObject, Code, Outcome, utc_now
from device_ai.audit.store import RecordFile, scan
from device_ai.config import load_settings
from device_ai.errors import AuditCheckpointFailed, AuditError, AuditIntegrityError, DeviceAIError
from device_ai.keystore import device_home, ed25519_key, private_dir

LOG_NAME = "audit.log"
CHECKPOINT_DIR = "checkpoints"
KEY_NAME = "audit-checkpoint"
CHECKPOINT_EVERY = 100
CHECKPOINT_SECONDS = 300.0


def default_folder() -> Path:
    return private_dir(device_home() / "audit")


def log_bytes(folder: Path) -> bytes:
    """The raw log in ``folder``; empty when no entry was ever written there (a new home)."""
    try:
        return (Path(folder) / LOG_NAME).read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise AuditError(f"cannot read the audit log in {folder}: {exc.strerror or exc}",
                         hint="check the permissions of DEVICE_AI_HOME/audit") from exc


def origin_name() -> str:
    return load_settings().audit_origin


class AuditLog:
    def __init__(self, folder: Path, *, copy_dir: Path | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.folder = private_dir(Path(folder))
        self.copy_dir = copy_dir if copy_dir is not None else load_settings().audit_copy_dir
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self._last_checkpoint = time.monotonic()
        self.origin = origin_name()
        self.file = RecordFile(self.folder / LOG_NAME)
        self.actor = Actor.current()
        self.leaf_hashes: list[bytes] = []
        self._read_offset = 0
        self._since_checkpoint = 0
        with self.file.locked():
            self._refresh(recover=True)

    @classmethod
    def open(cls, folder: Path | None = None, **kwargs: object) -> AuditLog:
        return cls(folder or default_folder(), **kwargs)  # type: ignore[arg-type]

    def _refresh(self, recover: bool = False) -> None:
        """Read the records appended (by any process) since our last read; caller holds the lock."""
        result = scan(self.file.read_from(self._read_offset), self._read_offset, len(self.leaf_hashes))
        if result.problem:
            raise AuditIntegrityError(f"audit log {self.file.path}: {result.problem}",
                                      hint="run `device-ai audit verify`; keep the file for investigation")
        self.leaf_hashes.extend(merkle.hash_leaf(r.payload) for r in result.records)
        self._read_offset = result.good_end
        if result.torn_bytes:
            if not recover:
                raise AuditIntegrityError(f"audit log {self.file.path} has a torn record at byte {result.good_end}")
            self.file.cut(result.good_end)
            self._append_locked([self._entry(LOG_RECOVERED, "E", Outcome.MINOR_FAILURE, (), {
                "cut_at_byte": str(result.good_end), "cut_bytes": str(result.torn_bytes),
                "reason": "torn final record (never acknowledged) removed on open"})])

    def _entry(self, event: Code, action: str, outcome: Outcome, objects: tuple[AuditObject, ...],
               details: dict[str, str], event_type: Code | None = None) -> AuditEntry:
        return AuditEntry(seq=len(self.leaf_hashes), time_utc=utc_now(), event=event, event_type=event_type,
                          action=action, outcome=outcome, actor=self.actor, objects=objects, details=details)

    def _append_locked(self, entries: list[AuditEntry]) -> None:
        payloads = [e.leaf_bytes() for e in entries]
        self._read_offset = self.file.append(payloads)
        self.leaf_hashes.extend(merkle.hash_leaf(p) for p in payloads)
        self._since_checkpoint += len(entries)

    def append(self, event: Code, *, outcome: Outcome = Outcome.SUCCESS, action: str = "E",
               objects: tuple[AuditObject, ...] = (), details: dict[str, str] | None = None,
               event_type: Code | None = None, on_durable: Callable[[AuditEntry], None] | None = None) -> AuditEntry:
        """Append one entry; returns it only once it is durable. ``on_durable(entry)`` runs as
        soon as it is, before a checkpoint that falls due (which may fail or be interrupted)."""
        self.file.ensure_usable()
        with self.file.locked():
            self._refresh()
            entry = self._entry(event, action, outcome, objects, {k: str(v) for k, v in (details or {}).items()},
                                event_type)
            self._append_locked([entry])
            if on_durable is not None:
                on_durable(entry)
            due = time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds
            if self._since_checkpoint >= self.checkpoint_every or due:
                try:
                    self._checkpoint_locked()
                except AuditError as exc:  # the entry is durable: say which, so it is not lost
                    raise AuditCheckpointFailed(f"{exc.message} (after entry {entry.seq}, which is durable)",
                                                entry_seq=entry.seq, hint=exc.hint) from exc
        return entry

    @property
    def size(self) -> int:
        return len(self.leaf_hashes)

    def root(self) -> bytes:
        return merkle.root(self.leaf_hashes)

    def public_key(self) -> str:
        return verifier_key(self.origin, ed25519_key(KEY_NAME).public_key())

    def checkpoint(self) -> bytes:
        with self.file.locked():
            self._refresh()
            return self._checkpoint_locked()

    def _checkpoint_locked(self) -> bytes:
        """Sign the tree head and write it here and to the copy location. Any failure (key store,
        local write, copy) is an AuditError: a checkpoint is part of the audit trail."""
        name = f"{self.size:012d}.note"
        try:
            note = sign_note(Checkpoint(self.origin, self.size, self.root()).body(), self.origin, ed25519_key(KEY_NAME))
            folder = private_dir(self.folder / CHECKPOINT_DIR)
            atomic_write_bytes(folder / name, note)
            atomic_write_bytes(self.folder / "checkpoint.note", note)
        except AuditError:
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, DeviceAIError) else f"{type(exc).__name__}: {exc}"
            raise AuditError(f"could not write the signed checkpoint {name} in {self.folder}: {message}",
                             hint="check free space and permissions of DEVICE_AI_HOME/audit") from exc
        if self.copy_dir is not None:
            try:
                private_dir(Path(self.copy_dir))
                atomic_write_bytes(Path(self.copy_dir) / name, note)
            except Exception as exc:  # the copy elsewhere is part of the evidence
                raise AuditError(f"could not copy the checkpoint to {self.copy_dir}: {exc}") from exc
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        return note

    def close(self) -> None:
        try:
            if self.file.failed is None:
                self.checkpoint()
        finally:
            self.file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        """Close (a final checkpoint). A checkpoint failure here must not hide how the action
        ended: the error raised says it, and chains the action's own exception."""
        try:
            self.close()
        except KeyboardInterrupt as interruption:
            if exc is None:  # the action completed and is recorded; only its final checkpoint was cut short
                raise AuditError("interrupted while writing the final audit checkpoint; the action itself completed "
                                 "and its audit entry is durable", hint="run `device-ai audit verify`") from interruption
            raise
        except AuditError as close_error:
            if exc is None:
                raise AuditError(f"{close_error.message}; the action itself completed and its audit entry is durable",
                                 hint=close_error.hint) from close_error
            ended = exc.one_line() if isinstance(exc, DeviceAIError) else type(exc).__name__
            raise AuditError(f"{close_error.message}; the action had already failed: {ended}",
                             hint=close_error.hint) from exc
