"""The node's audit entries (issue 15; SRS-098, SRS-139): associations, receives, refusals, files
taken or rejected by the hot folder, series hand-offs, start and stop, through the device's one
audit log (:class:`AuditLog`).

Conventions of the trail: studies, series and instances are named by keyed pseudonym
(:func:`device_ai.pseudonyms.pseudonym`), never by UID, and no DICOM value the sender wrote
(names, IDs, descriptions) is copied into an entry. The calling AE title and the peer's
address are recorded: they identify the sending system, not a patient. Each append is durable
before it returns; association threads share the log through one lock.
"""

from __future__ import annotations

import threading

from device_ai.audit.entry import (APPLICATION_ACTIVITY, APPLICATION_START, APPLICATION_STOP, DICOM_ASSOCIATION,
                                   HOT_FOLDER_UNSETTLED, INSTANCES_TRANSFERRED, RESULT_DEAD_LETTERED, RESULT_DISCARDED,
                                   RESULT_REQUEUED, RESULT_SEND_STARTED, SERIES_PURGED, SERIES_READY, SERIES_REFUSED,
                                   AuditObject, Outcome)
from device_ai.node.spool import InstanceKey, Ready

HOT_FOLDER = "hot folder"  # the source of what device-ai watch takes or rejects


class NodeTrail:
    def __init__(self, log) -> None:  # noqa: ANN001 - device_ai.audit.log.AuditLog
        self.log = log
        self._lock = threading.Lock()

    def _append(self, event, *, outcome: Outcome = Outcome.SUCCESS, action: str = "E",  # noqa: ANN001
                objects: tuple[AuditObject, ...] = (), details: dict[str, str] | None = None,
                event_type=None) -> None:  # noqa: ANN001
        with self._lock:
            self.log.append(event, outcome=outcome, action=action, objects=objects, details=details or {},
                            event_type=event_type)

    def started(self, details: dict[str, str]) -> None:
        self._append(APPLICATION_ACTIVITY, event_type=APPLICATION_START, details=details)

    def stopped(self, details: dict[str, str]) -> None:
        self._append(APPLICATION_ACTIVITY, event_type=APPLICATION_STOP, details=details)

    def association(self, *, accepted: bool, calling_ae: str, called_ae: str, peer: str, tls: bool,
                    reason: str = "") -> None:
        details = {"result": "accepted" if accepted else "rejected", "calling_ae": calling_ae,
                   "called_ae": called_ae, "peer": peer, "tls": "yes" if tls else "no"}
        if reason:
            details["reason"] = reason
        self._append(DICOM_ASSOCIATION, outcome=Outcome.SUCCESS if accepted else Outcome.MINOR_FAILURE,
                     details=details)

    def received(self, key: InstanceKey, *, calling_ae: str, peer: str, sop_class: str, transfer_syntax: str,
                 size: int, late_after: int | None, duplicate: bool) -> None:
        self._stored(key, {"status": "0x0000", "calling_ae": calling_ae, "peer": peer}, sop_class=sop_class,
                     transfer_syntax=transfer_syntax, size=size, late_after=late_after, duplicate=duplicate)

    def taken(self, key: InstanceKey, *, sop_class: str, transfer_syntax: str, size: int, late_after: int | None,
              duplicate: bool) -> None:
        """An instance taken from ``device-ai watch``'s IN folder (durable in the spool)."""
        self._stored(key, {"source": HOT_FOLDER}, sop_class=sop_class, transfer_syntax=transfer_syntax, size=size,
                     late_after=late_after, duplicate=duplicate)

    def _stored(self, key: InstanceKey, origin: dict[str, str], *, sop_class: str, transfer_syntax: str, size: int,
                late_after: int | None, duplicate: bool) -> None:
        details = {**origin, "sop_class": sop_class, "transfer_syntax": transfer_syntax, "bytes": str(size)}
        if late_after is not None:
            details["late_after_generation"] = str(late_after)
        if duplicate:
            details["duplicate"] = "identical to the instance already handed off; nothing changed"
        self._append(INSTANCES_TRANSFERRED, action="C", objects=_objects(key), details=details)

    def refused(self, *, status: int, reason: str, calling_ae: str, peer: str, sop_class: str,
                instance: str | None, serious: bool) -> None:
        """A C-STORE answered with a failure status; ``reason`` is the device's own fixed text."""
        objects = (AuditObject(kind="instance", id=instance, role="refused"),) if instance else ()
        self._append(INSTANCES_TRANSFERRED, action="C",
                     outcome=Outcome.SERIOUS_FAILURE if serious else Outcome.MINOR_FAILURE, objects=objects,
                     details={"status": f"0x{status:04X}", "reason": reason, "calling_ae": calling_ae, "peer": peer,
                              "sop_class": sop_class})

    def rejected(self, *, code: str, reason: str, sop_class: str, instance: str | None) -> None:
        """A file of ``device-ai watch``'s IN folder refused and moved to its rejected folder;
        ``reason`` is the device's own fixed text (never the file's name or a value from it)."""
        objects = (AuditObject(kind="instance", id=instance, role="refused"),) if instance else ()
        self._append(INSTANCES_TRANSFERRED, action="C", outcome=Outcome.MINOR_FAILURE, objects=objects,
                     details={"source": HOT_FOLDER, "error": code, "reason": reason, "sop_class": sop_class})

    def unsettled(self, *, count: int, seconds: float) -> None:
        """Files of ``device-ai watch``'s IN seen changing for ``seconds`` without settling; left in
        IN and looked at again (THR-005). No file is named."""
        self._append(HOT_FOLDER_UNSETTLED, outcome=Outcome.MINOR_FAILURE,
                     details={"source": HOT_FOLDER, "files": str(count), "changing_for_s": f"{seconds:g}",
                              "action": "left in IN, looked at again"})

    def series_ready(self, ready: Ready, *, announced_late: bool = False) -> None:
        details = {"generation": str(ready.generation), "instances": str(len(ready.instances)),
                   "last_received_utc": ready.last_received_utc}
        if ready.supersedes is not None:
            details["supersedes_generation"] = str(ready.supersedes)
        if ready.recovered:
            details["recovered"] = "hand-off completed after an interruption (restart or failed hand-off)"
        if announced_late:
            details["announced_late"] = "made ready before an interruption; announced now (may repeat an entry)"
        objects = ((AuditObject(kind="study", id=ready.study),) if ready.study else ()) + (
            AuditObject(kind="series", id=ready.series),)
        self._append(SERIES_READY, objects=objects, details=details)


    def series_refused(self, ready: Ready, *, code: str, reason: str) -> None:
        """The worker refused a generation: no result; ``reason`` is the device's typed error message."""
        objects = ((AuditObject(kind="study", id=ready.study),) if ready.study else ()) + (
            AuditObject(kind="series", id=ready.series),)
        self._append(SERIES_REFUSED, action="R", outcome=Outcome.MINOR_FAILURE, objects=objects,
                     details={"generation": str(ready.generation), "error": code, "reason": reason})

    def series_purged(self, ready: Ready, *, outcome: str, outcome_utc: str, instances: int, results: int,
                      retention_hours: float, kept: int = 0, resumed: bool = False) -> None:
        """A generation's received instances and results deleted after its retention (action D)."""
        objects = ((AuditObject(kind="study", id=ready.study),) if ready.study else ()) + (
            AuditObject(kind="series", id=ready.series),)
        details = {"generation": str(ready.generation), "outcome": outcome, "outcome_utc": outcome_utc,
                   "instances_deleted": str(instances), "instances_kept_by_later_generation": str(kept),
                   "result_files_deleted": str(results),
                   "retention_hours": f"{retention_hours:g}"}
        if resumed:
            details["resumed"] = "finished after an interruption (an entry for this purge may already exist)"
        self._append(SERIES_PURGED, action="D", objects=objects, details=details)

    def result_sending(self, entry: dict, destination) -> None:  # noqa: ANN001 - Destination
        """Attempt ``entry["attempts"] + 1`` to send a result is about to start: durable before
        anything goes to the destination, so every send has an entry even when the one with its
        outcome (:meth:`result_sent`, :meth:`result_dead_lettered`) cannot be written (THR-012)."""
        self._append(RESULT_SEND_STARTED, action="R", objects=_result_objects(entry),
                     details={"destination": destination.name, "kind": destination.kind,
                              "generation": str(entry["generation"]), "result": entry["role"],
                              "attempt": str(entry["attempts"] + 1), "sop_class": entry["sop_class_uid"],
                              "peer": _peer(destination)})

    def result_sent(self, entry: dict, destination, *, ok: bool, reason: str) -> None:  # noqa: ANN001 - Destination
        """One attempt to send a result file to a destination (action R: the node is the source)."""
        details = {"destination": destination.name, "kind": destination.kind, "generation": str(entry["generation"]),
                   "result": entry["role"], "attempt": str(entry["attempts"]), "sop_class": entry["sop_class_uid"],
                   "peer": _peer(destination)}
        details["response" if ok else "reason"] = reason
        self._append(INSTANCES_TRANSFERRED, action="R", outcome=Outcome.SUCCESS if ok else Outcome.MINOR_FAILURE,
                     objects=_result_objects(entry), details=details)

    def result_requeued(self, entry: dict, destination: str, *, attempts: int) -> None:
        """The operator sent a dead-lettered result again (``device-ai requeue``; action U)."""
        self._append(RESULT_REQUEUED, action="U", objects=_result_objects(entry),
                     details={"destination": destination, "generation": str(entry["generation"]),
                              "result": entry["role"], "failed_attempts": str(attempts),
                              "last_error": str(entry.get("last_error", ""))[:200]})

    def result_discarded(self, entry: dict, destination: str, *, state: str) -> None:
        """The operator gave up a result for a destination (``device-ai requeue --discard``; action D)."""
        self._append(RESULT_DISCARDED, action="D", objects=_result_objects(entry),
                     details={"destination": destination, "generation": str(entry["generation"]),
                              "result": entry["role"], "from": state, "failed_attempts": str(entry.get("attempts", 0))})

    def result_dead_lettered(self, entry: dict, destination, *, reason: str) -> None:  # noqa: ANN001
        self._append(RESULT_DEAD_LETTERED, action="R", outcome=Outcome.SERIOUS_FAILURE, objects=_result_objects(entry),
                     details={"destination": destination.name, "generation": str(entry["generation"]),
                              "result": entry["role"], "attempts": str(entry["attempts"]), "reason": reason,
                              "peer": _peer(destination)})


def _peer(destination) -> str:  # noqa: ANN001
    return destination.address()  # never a user name, password or query value from a URL in the trail


def _result_objects(entry: dict) -> tuple[AuditObject, ...]:
    from device_ai.pseudonyms import pseudonym

    objects = (AuditObject(kind="study", id=entry["study"]),) if entry.get("study") else ()
    return objects + (AuditObject(kind="series", id=entry["series"]),
                      AuditObject(kind="instance", id=pseudonym("instance", entry["sop_instance_uid"]), role="result"))


def _objects(key: InstanceKey) -> tuple[AuditObject, ...]:
    return (AuditObject(kind="study", id=key.study), AuditObject(kind="series", id=key.series),
            AuditObject(kind="instance", id=key.instance))
