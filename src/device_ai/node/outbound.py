"""The node's outbound queue (issue 15 items 3 and 5): every result file (SEG, SR) is sent to
every configured destination (``node_destinations``), by C-STORE (pynetdicom), DICOMweb STOW-RS,
or written into a folder (``device-ai watch``'s OUT), with retries and exponential backoff,
persisted on disk so that a restart resumes it.

Layout under ``DEVICE_AI_HOME/node/outbound`` (owner-only)::

    pending/<D>/<S>.gen-NNNN.<role>.json   one entry per (destination D, result file): the file to
                                           send, attempts, next attempt (epoch s), the errors so far;
                                           rewritten atomically after each failure
    sent/<D>/<same name>                   created once after the destination confirmed the instance
    dead/<D>/<same name>                   created once after node_send_max_attempts failures, with
                                           every reason; the pending entry is then removed
    .lock                                  flock held while an entry changes state (:func:`queue_lock`)

An entry is created once (never over one that exists in pending/, sent/ or dead/), so a worker
that enqueues again after a crash adds nothing. Sending is at least once: a process killed
after the destination stored an instance and before ``sent/`` was written sends it again on
restart; the result's UIDs are the same (derived per series and generation), so the receiver
holds the same instance, never a second result. C-STORE Success and the Warning statuses
(0xB000, 0xB006, 0xB007) count as stored; STOW-RS counts an instance as stored only when the
response's Referenced SOP Sequence (0008,1199) names it (the HTTP status alone is ambiguous,
reference/integration.md §1), and reports the Failed SOP Sequence's reason otherwise.

A folder destination writes ``<path>/<study>/<series>.gen-NNNN/<file>`` (:func:`result_folder`:
keyed pseudonyms and the generation, no UID or patient value in a name; the file names are
analyze's own, ``segmentation.dcm`` and ``measurements.dcm``). Each file is created once, by a
hard link of a complete, fsynced temporary file (:func:`device_ai.atomic_io.write_once`), so a
reader of the folder never sees a partial file and a file is never replaced: a send repeated
after a crash finds the identical file and counts it as stored; a different file under that
name (the node's state was wiped, the folder was not) is a failed attempt, never overwritten.
Folders below ``path`` and the files are created with the modes of analyze's results whatever the
umask (SRS-217, THR-018): owner-only (0700, 0600), or 0750 and 0640 with
``results_group_readable``, so that a viewer's account reads them through the owner's group;
``path`` itself must exist (an unmounted share is a failed attempt, not a new local folder) and
keeps the modes the site gave it.

Every send, failure and dead letter is an audit entry (DICOM Instances Transferred, action R,
or Result Dead-Lettered), naming the study, series and result instance by keyed pseudonym.
Each attempt is preceded by a Result Send Started entry (THR-012, review 134 defect T4), durable
before anything goes to the destination: when it cannot be written nothing is sent, the entry
stays pending as it was, and the queue stops (:class:`SendsHeld`) until the trail takes entries
again - since the audit writer stops at its first write error, until the node is restarted. When
the entry with an attempt's outcome cannot be written, the queue still records the outcome in its
own files (sent/, pending/ or dead/: a stored result is not sent again) and then stops the same
way; that attempt's start is in the trail, its outcome only in the queue's files. So every send
has an entry, and no entry says a send happened that did not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from device_ai.atomic_io import Access, fsync_directory, make_dirs_durably, result_access, write_once
from device_ai.config import Destination, Settings
from device_ai.errors import AuditCheckpointFailed, AuditError
from device_ai.node.spool import _create_once, _names, _private, _write_durably, generation_name, utc_text
from device_ai.node.transport_security import (
    TransportSecurity,
    TransportSecurityError,
    check_stow_url,
    client_context,
    dimse_tls_args,
    handshake_failure,
)

LOG = logging.getLogger("device_ai.node.outbound")
STORED_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
COMPREHENSIVE_3D_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.34"
SOP_CLASS_NAMES = {SEG_STORAGE: "Segmentation Storage", COMPREHENSIVE_3D_SR_STORAGE: "Comprehensive 3D SR Storage"}
STOW_CONTENT_TYPE = 'multipart/related; type="application/dicom"'  # PS3.18 10.5.1.1; a boundary is added
STOW_ACCEPT = "application/dicom+json"  # the response: the Store Instances Response Module as DICOM JSON
MAX_ERRORS_KEPT = 20


@contextlib.contextmanager
def queue_lock(root: Path):  # noqa: ANN201 - a context manager
    """Held while an entry changes state (pending -> sent or dead, dead -> pending by ``device-ai
    requeue``) and while the retention looks at a generation's entries: across the node's
    threads and other processes (an flock on ``outbound/.lock``), so that no one ever sees an
    entry in neither state, or moves one that another is moving."""
    folder = Path(root) / "outbound"
    _private(folder)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


class SendsHeld(AuditError):
    """The audit trail cannot take an entry of the outbound queue: no further result is sent
    (the queue's entries stay on disk) until it can (THR-012)."""


class SendFailed(Exception):
    """A send that did not store the instance; the message is the reason kept and audited."""


class CertificateRefused(SendFailed):
    """The destination's TLS certificate did not verify (unknown authority, wrong name, expired):
    nothing was sent to it."""


class InsecureTransportRefused(SendFailed):
    """The destination's transport security refuses the send as configured (plain http, or a CA
    bundle or client certificate that cannot be loaded): nothing was sent."""


@dataclass(frozen=True)
class ResultFile:
    role: str  # "seg" or "sr"
    path: Path
    sop_class_uid: str
    sop_instance_uid: str


def backoff_s(attempts: int, settings: Settings) -> float:
    """Wait after the ``attempts``-th failure: base x 2^(attempts-1), at most the maximum."""
    return min(settings.node_send_retry_max_s, settings.node_send_retry_base_s * 2 ** max(0, attempts - 1))


class Outbound:
    def __init__(self, root: Path, settings: Settings, trail=None,  # noqa: ANN001 - NodeTrail
                 transport: dict[str, TransportSecurity] | None = None) -> None:
        self.root = Path(root)
        self.base = self.root / "outbound"
        self.settings = settings
        self.destinations = {d.name: d for d in settings.node_destinations}
        # per destination name, from the configuration unless given; absent: plain, as before
        self.transport = dict(transport if transport is not None else
                              {d.name: d.transport for d in settings.node_destinations if d.transport})
        self.trail = trail
        self._lock = threading.Lock()
        self._held: str | None = None  # why sends are held (the trail cannot be written), logged once
        for state in ("pending", "sent", "dead"):
            for name in self.destinations:
                _private(self.base / state / name)

    # --- enqueueing (the worker) ---

    def enqueue(self, key: str, *, study: str, series: str, generation: int, files: list[ResultFile]) -> int:
        """One pending entry per destination and file unless it exists in any state; returns how many
        were created. Idempotent."""
        created = 0
        with self._lock:
            for dest in self.destinations:
                for result in files:
                    name = f"{key}.{result.role}.json"
                    if any((self.base / state / dest / name).exists() for state in ("pending", "sent", "dead")):
                        continue
                    entry = {"format": 1, "destination": dest, "key": key, "role": result.role,
                             "file": str(result.path.relative_to(self.root)), "sop_class_uid": result.sop_class_uid,
                             "sop_instance_uid": result.sop_instance_uid, "study": study, "series": series,
                             "generation": generation, "attempts": 0, "next_attempt": 0.0, "errors": [],
                             "queued_utc": utc_text(time.time())}
                    if _create_once(self.base / "pending" / dest / name, _dump(entry)):
                        created += 1
        return created

    def has_entries(self, key: str) -> bool:
        """Whether any result of generation ``key`` has a queue entry, in any state, for any
        destination folder on disk (configured now or not)."""
        prefix = f"{key}."
        return any(name.startswith(prefix) and name.endswith(".json")
                   for state in ("pending", "sent", "dead") for dest in _names(self.base / state)
                   for name in _names(self.base / state / dest))

    # --- sending ---

    def pending(self, dest: str) -> list[Path]:
        folder = self.base / "pending" / dest
        return [folder / n for n in _names(folder) if n.endswith(".json")]

    def send_due(self, now: float | None = None, stop: threading.Event | None = None,
                 only: str | None = None) -> int:
        """Try every entry whose next attempt is due (of destination ``only``, or all); returns how
        many were stored."""
        stored = 0
        due_by = time.time() if now is None else now
        for dest in [only] if only is not None else list(self.destinations):
            for path in self.pending(dest):
                if stop is not None and stop.is_set():
                    return stored
                try:
                    entry = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue  # removed meanwhile
                if entry["next_attempt"] > due_by:
                    continue
                if self._attempt(dest, path, entry, now):
                    stored += 1
        return stored

    def _audit(self, write, what: str) -> SendsHeld | None:  # noqa: ANN001 - a call writing one entry
        """Write one entry of the queue; the error that holds further sends when it could not be."""
        if self.trail is None:
            return None
        try:
            write()
        except AuditCheckpointFailed:  # the entry itself is durable; only its checkpoint is missing
            LOG.exception("the audit checkpoint after %s could not be written", what)
        except (AuditError, OSError) as exc:
            reason = getattr(exc, "message", None) or getattr(exc, "strerror", None) or str(exc)
            return SendsHeld(f"the audit trail could not record {what} ({reason}); results are not sent until it "
                             "can, and stay queued in DEVICE_AI_HOME/node/outbound",
                             hint="free space on the disk holding DEVICE_AI_HOME (or fix the audit log's storage), "
                                  "then restart the node: the audit writer stops at its first write error")
        return None

    def _attempt(self, dest_name: str, path: Path, entry: dict, now: float | None) -> bool:
        dest = self.destinations[dest_name]
        file = self.root / entry["file"]
        # the start first, durable: a send that is not in the trail is never made (review 134 defect T4)
        if (held := self._audit(lambda: self.trail.result_sending(entry, dest), "the start of a send")) is not None:
            raise held
        try:
            detail = send(dest, file, entry, self.settings, self.transport.get(dest_name))
        except SendFailed as exc:
            self._failed(dest_name, path, entry, str(exc), now)
            return False
        except Exception as exc:  # a defect or an unreadable result file: counted like any failure
            LOG.exception("send to %s failed unexpectedly", dest_name)
            self._failed(dest_name, path, entry, f"internal error: {type(exc).__name__}", now)
            return False
        entry = {**entry, "attempts": entry["attempts"] + 1, "sent_utc": utc_text(time.time()), "response": detail}
        # the trail first: at least once, even if killed before sent/ is written
        held = self._audit(lambda: self.trail.result_sent(entry, dest, ok=True, reason=detail), "a send's outcome")
        with self._lock, queue_lock(self.root):
            _create_once(self.base / "sent" / dest_name / path.name, _dump(entry))
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            fsync_directory(path.parent)
        if held is not None:  # stored, and recorded in sent/: not sent again; nothing else is sent
            raise held
        return True

    def _failed(self, dest_name: str, path: Path, entry: dict, reason: str, now: float | None) -> None:
        """The next attempt is counted from the failure (``now`` given by a test: from that time)."""
        now = time.time() if now is None else now
        attempts = entry["attempts"] + 1
        errors = [*entry["errors"], {"utc": utc_text(now), "reason": reason}][-MAX_ERRORS_KEPT:]
        entry = {**entry, "attempts": attempts, "errors": errors, "last_error": reason}
        dest = self.destinations[dest_name]
        if attempts >= self.settings.node_send_max_attempts:
            held = self._audit(lambda: self.trail.result_dead_lettered(entry, dest, reason=reason), "a dead letter")
            with self._lock, queue_lock(self.root):
                _create_once(self.base / "dead" / dest_name / path.name,
                             _dump({**entry, "dead_utc": utc_text(now)}))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                fsync_directory(path.parent)
            if held is not None:
                raise held
            return
        entry["next_attempt"] = now + backoff_s(attempts, self.settings)
        held = self._audit(lambda: self.trail.result_sent(entry, dest, ok=False, reason=reason), "a failed send")
        with self._lock, queue_lock(self.root):
            if path.exists():
                _write_durably(path, _dump(entry))
        if held is not None:
            raise held

    # --- the thread ---

    def run(self, stop: threading.Event, poll_s: float = 0.2, only: str | None = None) -> None:
        """Send until ``stop``; the node runs one such thread per destination (``only``), so a
        destination that hangs until its timeout does not hold the others back."""
        while not stop.is_set():
            try:
                self.send_due(stop=stop, only=only)
                self._held = None
            except SendsHeld as exc:  # said once, without a traceback; each pass tries the trail again
                if self._held != exc.message:
                    self._held = exc.message
                    LOG.error("%s; %s", exc.message, exc.hint)
            except Exception:  # keep sending; the queue is on disk
                LOG.exception("outbound pass failed; retrying")
            stop.wait(poll_s)


def _dump(entry: dict) -> bytes:
    return json.dumps(entry, indent=1, sort_keys=True).encode()


def send(dest: Destination, file: Path, entry: dict, settings: Settings,
         security: TransportSecurity | None = None) -> str:
    """Send one Part 10 file of a queue ``entry`` (with the destination's transport ``security``,
    :mod:`.transport_security`); returns a short description of the confirmation, or raises
    SendFailed."""
    if dest.kind == "dimse":
        return send_dimse(dest, file, settings.node_ae_title, security)
    if dest.kind == "folder":
        return write_to_folder(dest, file, result_folder(entry), result_access(settings.results_group_readable))
    return send_stow(dest, file, entry["sop_instance_uid"], security)


def result_folder(entry: dict) -> Path:
    """Where a folder destination puts the results of one generation: ``<study>/<series>.gen-NNNN``
    (keyed pseudonyms, as in the audit trail and ``device-ai status``)."""
    return Path(entry["study"] or "study-unknown") / f"{entry['series']}.{generation_name(entry['generation'])}"


def write_to_folder(dest: Destination, file: Path, folder: Path, access: Access = Access.PRIVATE) -> str:
    """Create ``dest.path/folder/<file name>`` once with the bytes of ``file`` (see the module doc),
    the folders and the file with ``access``'s modes: the results' (SRS-217, THR-018)."""
    root = Path(dest.path)
    if not root.is_dir():
        raise SendFailed(f"folder {root} does not exist (not mounted?)")
    target = root / folder / file.name
    try:
        here = make_dirs_durably(root, folder, access=access)
        for leftover in here.glob(f".{file.name}.*.tmp"):  # a write interrupted by a crash
            leftover.unlink()
        created = write_once(target, file.read_bytes(), access.file_mode())
    except FileExistsError as exc:
        if target.is_file():
            raise SendFailed(f"a different file already has the name {folder / file.name} in the folder; "
                             "it is never replaced") from exc
        raise SendFailed(f"cannot write into {root}: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise SendFailed(f"cannot write into {root}: {exc.strerror or exc}") from exc
    return "written to the folder" if created else "already in the folder (identical file)"


def storage_scu_ae(calling_ae: str, timeout_s: float):  # noqa: ANN201 - pynetdicom.AE
    """The node's Application Entity as it sends results by C-STORE: its AE title as calling AE
    title, one timeout for connecting, ACSE, DIMSE and the network, and the presentation contexts
    it proposes (SEG and Comprehensive 3D SR, each with Explicit then Implicit VR Little Endian).
    The conformance statement (:mod:`device_ai.node.conformance`) describes this very object."""
    from pynetdicom import AE
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    for sop_class in (SEG_STORAGE, COMPREHENSIVE_3D_SR_STORAGE):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return ae


def send_dimse(dest: Destination, file: Path, calling_ae: str, security: TransportSecurity | None = None) -> str:
    import pydicom

    try:
        tls_args = dimse_tls_args(security, str(dest.host))
    except TransportSecurityError as exc:
        raise InsecureTransportRefused(f"destination {dest.name}: {exc}") from exc
    ds = pydicom.dcmread(file)
    ae = storage_scu_ae(calling_ae, dest.timeout_s)
    try:
        assoc = ae.associate(dest.host, dest.port, ae_title=dest.ae_title, tls_args=tls_args)
    except OSError as exc:
        raise SendFailed(f"cannot connect to {dest.host}:{dest.port}: {exc.strerror or exc}") from exc
    if not assoc.is_established:
        reason = None if tls_args is None else handshake_failure(str(dest.host), int(dest.port), tls_args[0],
                                                                  dest.timeout_s)
        if reason is not None:
            raise CertificateRefused(f"TLS with {dest.ae_title}@{dest.host}:{dest.port} refused: {reason}; the "
                                     "server's certificate must be signed by the destination's CA bundle and name "
                                     "its host")
        if assoc.is_rejected:
            raise SendFailed(f"association rejected by {dest.ae_title}@{dest.host}:{dest.port}")
        if assoc.rejected_contexts and not assoc.accepted_contexts:  # pynetdicom aborts: nothing to send with
            names = sorted({SOP_CLASS_NAMES.get(c.abstract_syntax, c.abstract_syntax) for c in assoc.rejected_contexts})
            raise SendFailed(f"destination {dest.ae_title}@{dest.host}:{dest.port} refused every proposed "
                             f"presentation context ({', '.join(names)}); configure it to accept the SOP classes "
                             "of the results, or remove it from node_destinations")
        raise SendFailed(f"no association with {dest.ae_title}@{dest.host}:{dest.port} (not reachable or aborted)")
    try:
        sop_class = str(ds.SOPClassUID)
        if not any(c.abstract_syntax == sop_class for c in assoc.accepted_contexts):
            raise SendFailed(f"destination {dest.ae_title}@{dest.host}:{dest.port} refused the "
                             f"{SOP_CLASS_NAMES.get(sop_class, sop_class)} presentation context; configure it to "
                             "accept that SOP class, or remove it from node_destinations")
        try:
            status = assoc.send_c_store(ds)
        except ValueError as exc:  # pynetdicom: no accepted context can carry the data set as encoded
            raise SendFailed(f"cannot send the {SOP_CLASS_NAMES.get(sop_class, sop_class)} instance to "
                             f"{dest.ae_title}@{dest.host}:{dest.port}: no accepted presentation context "
                             "fits its transfer syntax") from exc
    finally:
        if assoc.is_established:
            assoc.release()
    if status is None or "Status" not in status:
        raise SendFailed("no C-STORE response (timeout or association aborted)")
    code = int(status.Status)
    if code not in STORED_STATUSES:
        raise SendFailed(f"C-STORE status 0x{code:04X}")
    return f"C-STORE status 0x{code:04X}"


def send_stow(dest: Destination, file: Path, sop_instance: str, security: TransportSecurity | None = None) -> str:
    try:
        check_stow_url(dest.request_url, security, dest.name)
        context = client_context(security) if security is not None and dest.request_url.startswith("https:") \
            else None
    except TransportSecurityError as exc:
        raise InsecureTransportRefused(str(exc)) from exc
    data = file.read_bytes()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(dest.request_url, data=body, method="POST", headers={
        "Content-Type": f"{STOW_CONTENT_TYPE}; boundary={boundary}", "Accept": STOW_ACCEPT})
    authorization = dest.authorization()  # the URL's user name and password, HTTP Basic
    if authorization is not None:  # not forwarded if the server redirects elsewhere
        request.add_unredirected_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=dest.timeout_s,  # noqa: S310 - configured URL
                                    context=context) as response:
            code, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, payload = exc.code, exc.read() or b""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise CertificateRefused(f"TLS with {dest.address()} refused: {reason.verify_message or reason}; the "
                                     "server's certificate must be signed by a trusted CA (the destination's CA "
                                     "bundle) and name its host") from exc
        raise SendFailed(f"cannot reach {dest.address()}: {getattr(exc, 'reason', exc)}") from exc
    try:
        answer = json.loads(payload or b"{}")
    except ValueError:
        answer = {}
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    stored = {item.get("00081155", {}).get("Value", [None])[0]
              for item in answer.get("00081199", {}).get("Value", []) if isinstance(item, dict)}
    if sop_instance in stored:
        return f"STOW-RS HTTP {code}, instance in the stored-instances list"
    failed = [item for item in answer.get("00081198", {}).get("Value", [])
              if isinstance(item, dict) and item.get("00081155", {}).get("Value", [None])[0] == sop_instance]
    reason = " (authentication refused: check the user name and password of the destination's url)" \
        if code in (401, 403) else ""
    if failed:
        value = failed[0].get("00081197", {}).get("Value", [None])[0]
        reason = f", Failure Reason {value:#06x}" if isinstance(value, int) else ", in the Failed SOP Sequence"
    raise SendFailed(f"STOW-RS HTTP {code}: instance not in the stored-instances list{reason}")


def counts(root: Path) -> dict[str, dict[str, int]]:
    """Entries per state and destination folder found on disk (for ``status``)."""
    base = Path(root) / "outbound"
    found: dict[str, dict[str, int]] = {}
    for state in ("pending", "sent", "dead"):
        for dest in _names(base / state):
            found.setdefault(dest, {"pending": 0, "sent": 0, "dead": 0})[state] = len(
                [n for n in _names(base / state / dest) if n.endswith(".json")])
    return found


__all__ = ["CertificateRefused", "InsecureTransportRefused", "Outbound", "ResultFile", "SendFailed", "backoff_s",
           "counts", "queue_lock", "result_folder", "send", "storage_scu_ae"]
