"""The audit log: entries -> framed, fsynced records -> Merkle tree -> signed checkpoints.

``AuditLog.open(folder)`` recovers a torn tail (and records the cut as an entry), ``append``
acknowledges only durable entries, ``checkpoint`` signs the current tree head and copies it
to the second location (``DEVICE_AI_AUDIT_COPY_DIR``); checkpoints are written every
``checkpoint_every`` entries or ``checkpoint_seconds`` seconds, and by ``close``.

Checkpoints are append-only evidence: each is named by its size AND root and written once
(never replaced, here or in the copy location), so a record deleted or rewritten after a
checkpoint keeps failing verification for as long as that checkpoint exists, whatever is
appended later. In the copy location each log writes into its own subfolder, named by its
origin and key ID (``quote(origin)+keyid``), so that several devices can share one copy
location; notes written directly in the copy location (the layout before) are still read.
A log keeps one key and one origin for its whole life (recorded in ``signer.vkey``), and a key
signs one origin: opening a log under another key or origin, or with a key whose notes under
another origin are in the copy location, is refused before any work
(:mod:`device_ai.audit.identity`).
Recovery cuts a torn tail only when the cut keeps every record a signed
checkpoint covers and the tail holds no complete record (a forged length); otherwise the
writer stops and an operator decides.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai.atomic_io import atomic_write_bytes, write_once
from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, parse_checkpoint, sign_note, verifier_key, verify_note
from device_ai.audit.copyplace import copy_subfolder, origin_prefix
from device_ai.audit.entry import LOG_RECOVERED, Actor, AuditEntry, AuditObject, Code, Outcome, utc_now
from device_ai.audit.identity import SIGNER_NAME, refuse_another_signer
from device_ai.audit.notefiles import CHECKPOINT_DIR, LATEST_NAME, notes_in, read_note
from device_ai.audit.store import RecordFile, complete_frame_in, lengthened_record, scan
from device_ai.config import load_settings
from device_ai.errors import AuditCheckpointFailed, AuditError, AuditIntegrityError, DeviceAIError
from device_ai.keystore import AUDIT_KEY_NAME, device_home, ed25519_key, private_dir

LOG_NAME = "audit.log"
KEY_NAME = AUDIT_KEY_NAME
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


def checkpoint_name(checkpoint: Checkpoint) -> str:
    """Size and root in the name: two different tree heads never share a file."""
    return f"{checkpoint.size:012d}-{checkpoint.root.hex()[:16]}.note"


def origin_copy_notes(copy_dir: Path | None, origin: str) -> list[Path]:
    """Notes in a copy location that may be ``origin``'s, whatever key signed them (for when the
    key is not at hand): the flat layout's notes and those of every subfolder of that origin."""
    if copy_dir is None or not Path(copy_dir).is_dir():
        return []
    folders = [p for p in Path(copy_dir).glob(f"{glob_escape(origin_prefix(origin))}*") if p.is_dir()]
    return notes_in(copy_dir, *folders)


@dataclass(frozen=True)
class OtherLog:
    """Another log's subfolder of a copy location, known by its name only (never read)."""

    location: Path
    folder: str  # quote(origin)+keyid
    notes: int
    same_origin: bool  # named for the origin being verified, under another key

    def label(self) -> str:
        quoted, _, kid = self.folder.rpartition("+")
        return f"{unquote(quoted)} (key ID {kid}, {self.notes} note(s))"


def other_logs(copy_dir: Path | None, origin: str, ours: set[str]) -> list[OtherLog]:
    """The subfolders of a copy location other than ``ours`` (this log's, by name), with how many
    notes each holds: counted by name only, never read (they are other logs')."""
    if copy_dir is None or not Path(copy_dir).is_dir():
        return []
    prefix = origin_prefix(origin)
    return [OtherLog(Path(copy_dir), folder.name, sum(1 for _ in folder.glob("*.note")), folder.name.startswith(prefix))
            for folder in sorted(Path(copy_dir).iterdir()) if folder.name not in ours and folder.is_dir()]


def origin_name() -> str:
    return load_settings().audit_origin


def vouched_for(folder: Path) -> str | None:
    """What the signing key of the log in ``folder`` already signed, or must sign: a checkpoint
    note of that log (by whichever key), a record in it, or its recorded signer. None only for a new log, the one case
    where the device makes the key (docs/key_custody.md, "When the device makes the signing key").
    The copy location does not count: it may be shared by devices with the same origin name, and
    a note there cannot be told apart without the key."""
    folder = Path(folder)
    latest = folder / LATEST_NAME
    notes = notes_in(folder / CHECKPOINT_DIR) + ([latest] if latest.is_symlink() or latest.exists() else [])
    if notes:
        return f"checkpoints of the audit log in {folder} exist (e.g. {notes[0]})"
    try:
        has_records = (folder / LOG_NAME).stat().st_size > 0
    except FileNotFoundError:
        has_records = False
    except OSError:
        has_records = True  # cannot tell: never assume a new log
    if has_records:
        return f"the audit log {folder / LOG_NAME} already holds records"
    signer = folder / SIGNER_NAME
    return f"the audit log in {folder} names its signer ({signer})" if os.path.lexists(signer) else None


def device_verifier_key(folder: Path, *, only_existing: bool = False) -> str:
    """The verifier key of this device's signing key for the log in ``folder``: the key is made
    only for a new log, and never with ``only_existing`` (`audit verify`, which only reads)."""
    def refusal() -> str | None:
        return vouched_for(folder) or ("there are checkpoints to verify" if only_existing else None)

    return verifier_key(origin_name(), ed25519_key(KEY_NAME, refuse_to_create=refusal).public_key())


class AuditLog:
    def __init__(self, folder: Path, *, copy_dir: Path | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.folder = private_dir(Path(folder))
        self.copy_dir = copy_dir if copy_dir is not None else load_settings().audit_copy_dir
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self._last_checkpoint = time.monotonic()
        self.origin = origin_name()
        # The key is opened now, before the caller's action starts: a missing, damaged or exposed
        # key refuses the command while nothing was done, not after its work was published; the
        # key checked is the key that signs.
        self._key = ed25519_key(KEY_NAME, refuse_to_create=lambda: vouched_for(self.folder))
        # A log signed by another key or under another origin is refused here, before any work:
        # otherwise its old checkpoints would read as another log's and a rewrite would pass.
        refuse_another_signer(self.folder, self.origin, self._key.public_key(), self.copy_dir)
        self.file = RecordFile(self.folder / LOG_NAME)
        self.actor = Actor.current()
        self.tree = merkle.MerkleTree()  # keeps subtree hashes: a checkpoint's root costs O(log n)
        self._read_offset = 0
        self._since_checkpoint = 0
        with self.file.locked():
            self._refresh(recover=True)

    @classmethod
    def open(cls, folder: Path | None = None, **kwargs: object) -> AuditLog:
        return cls(folder or default_folder(), **kwargs)  # type: ignore[arg-type]

    def _refresh(self, recover: bool = False) -> None:
        """Read the records appended (by any process) since our last read; caller holds the lock."""
        result = scan(self.file.read_from(self._read_offset), self._read_offset, len(self.tree))
        if result.problem:
            raise AuditIntegrityError(f"audit log {self.file.path}: {result.problem}",
                                      hint="run `device-ai audit verify`; keep the file for investigation")
        self.tree.extend(merkle.hash_leaf(r.payload) for r in result.records)
        self._read_offset = result.good_end
        if result.torn_bytes:
            if not recover:
                raise AuditIntegrityError(f"audit log {self.file.path} has a torn record at byte {result.good_end}")
            self._refuse_unsafe_cut(self.file.read_from(result.good_end), result.good_end)
            self.file.cut(result.good_end)
            self._append_locked([self._entry(LOG_RECOVERED, "E", Outcome.MINOR_FAILURE, (), {
                "cut_at_byte": str(result.good_end), "cut_bytes": str(result.torn_bytes),
                "reason": "torn final record (never acknowledged) removed on open"})])

    def _refuse_unsafe_cut(self, tail: bytes, at: int) -> None:
        """Stop before cutting anything that may have been acknowledged (issue 22)."""
        hint = ("do not run other commands; keep the audit folder as it is, run `device-ai audit verify` and "
                "restore the log from its backup or have it investigated")
        inside = complete_frame_in(tail)
        if inside is not None:
            raise AuditIntegrityError(
                f"audit log {self.file.path}: the record at byte {at} declares a length past the end of the file, "
                f"but a complete record follows at byte {at + inside}: a length was altered, the tail is not a torn "
                "write; the device will not cut it and stopped writing", hint=hint)
        if lengthened_record(tail):
            raise AuditIntegrityError(
                f"audit log {self.file.path}: the record at byte {at} is complete (its checksum holds) but declares "
                "a length past the end of the file: a length was altered, the tail is not a torn write; the device "
                "will not cut it and stopped writing", hint=hint)
        signed = self._signed_size()
        if signed > len(self.tree):
            raise AuditIntegrityError(
                f"audit log {self.file.path}: the incomplete record at byte {at} is record {len(self.tree)}, "
                f"but a signed checkpoint covers {signed} records: cutting it would remove acknowledged records; "
                "the device stopped writing", hint=hint)

    def _signed_size(self) -> int:
        """The largest tree size signed by this device's checkpoint key in any stored checkpoint."""
        public = self._key.public_key()
        sizes = [0]
        copies = notes_in(self.copy_dir, copy_subfolder(self.copy_dir, self.origin, public)) if self.copy_dir else []
        places = notes_in(self.folder / CHECKPOINT_DIR) + copies
        for path in [*places, self.folder / LATEST_NAME]:
            try:
                checkpoint = parse_checkpoint(verify_note(read_note(path), self.origin, public))
            except (AuditIntegrityError, ValueError):
                continue  # not ours, unreadable or too large: `audit verify` reports it
            if checkpoint.origin == self.origin:
                sizes.append(checkpoint.size)
        return max(sizes)

    def _entry(self, event: Code, action: str, outcome: Outcome, objects: tuple[AuditObject, ...],
               details: dict[str, str], event_type: Code | None = None) -> AuditEntry:
        return AuditEntry(seq=len(self.tree), time_utc=utc_now(), event=event, event_type=event_type,
                          action=action, outcome=outcome, actor=self.actor, objects=objects, details=details)

    def _append_locked(self, entries: list[AuditEntry]) -> None:
        payloads = [e.leaf_bytes() for e in entries]
        self._read_offset = self.file.append(payloads)
        self.tree.extend(merkle.hash_leaf(p) for p in payloads)
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
        return len(self.tree)

    def root(self) -> bytes:
        return self.tree.root()

    def public_key(self) -> str:
        return verifier_key(self.origin, self._key.public_key())

    def checkpoint(self) -> bytes:
        with self.file.locked():
            self._refresh()
            return self._checkpoint_locked()

    def _checkpoint_locked(self) -> bytes:
        """Sign the tree head and write it here and to the copy location. Any failure (key store,
        local write, copy) is an AuditError: a checkpoint is part of the audit trail."""
        head = Checkpoint(self.origin, self.size, self.root())
        name = checkpoint_name(head)
        try:
            key = self._key
            note = sign_note(head.body(), self.origin, key)
            folder = private_dir(self.folder / CHECKPOINT_DIR)
            write_once(folder / name, note)
            atomic_write_bytes(self.folder / LATEST_NAME, note)  # the latest; the evidence is in checkpoints/
        except AuditError:
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, DeviceAIError) else f"{type(exc).__name__}: {exc}"
            raise AuditError(f"could not write the signed checkpoint {name} in {self.folder}: {message}",
                             hint="check free space and permissions of DEVICE_AI_HOME/audit") from exc
        if self.copy_dir is not None:
            try:
                # The site owns the copy location's permissions (notes are signed, not secret): create it
                # if missing, never re-mode it. Our notes go in our own subfolder (the location may be
                # shared by several devices).
                Path(self.copy_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
                own = copy_subfolder(self.copy_dir, self.origin, key.public_key())
                own.mkdir(mode=0o700, exist_ok=True)
                write_once(own / name, note)
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
