"""Audit entries: who did what to which object, when, with which outcome (SRS-029).

Events use the DICOM PS3.15 A.5.3 audit event IDs (DCM codes), and, for the device's own
events, codes of the scheme ``99DEVAI``. Objects are named by pseudonym or digest, never by
PHI. Serialization is canonical (sorted keys, no whitespace, UTF-8; no floats in entries),
so the leaf bytes, and the tree, are reproducible from the entry values.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Outcome(IntEnum):
    """PS3.15 A.5.1 EventOutcomeIndicator."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


class Code(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    scheme: str
    meaning: str


def _dcm(code: str, meaning: str) -> Code:
    return Code(code=code, scheme="DCM", meaning=meaning)


def _dev(code: str, meaning: str) -> Code:
    return Code(code=code, scheme="99DEVAI", meaning=meaning)


APPLICATION_ACTIVITY = _dcm("110100", "Application Activity")
APPLICATION_START = _dcm("110120", "Application Start")
APPLICATION_STOP = _dcm("110121", "Application Stop")
INSTANCES_TRANSFERRED = _dcm("110104", "DICOM Instances Transferred")
EXPORT = _dcm("110106", "Export")
IMPORT = _dcm("110107", "Import")
QUERY = _dcm("110112", "Query")
SECURITY_ALERT = _dcm("110113", "Security Alert")
USER_AUTHENTICATION = _dcm("110114", "User Authentication")
DEIDENTIFICATION = _dev("DAI001", "De-identification")
MODEL_VERIFIED = _dev("DAI002", "Model Verified")
MODEL_REFUSED = _dev("DAI003", "Model Refused")
ANALYSIS_RUN = _dev("DAI004", "Analysis Run")
LOG_RECOVERED = _dev("DAI005", "Audit Log Torn Record Cut")
EXPLANATION = _dev("DAI006", "Explanation Produced")
VALIDATION_RUN = _dev("DAI007", "Validation Run")
DICOM_ASSOCIATION = _dev("DAI008", "DICOM Association")  # the node: accepted or rejected, calling AE, peer
SERIES_READY = _dev("DAI009", "Series Ready")  # the node: a received series handed to analysis (once per generation)
SERIES_REFUSED = _dev("DAI010", "Series Refused")  # the node's worker: a generation refused, no result (the reason)
RESULT_DEAD_LETTERED = _dev("DAI011", "Result Dead-Lettered")  # the node: a result given up for a destination
SERIES_PURGED = _dev("DAI012", "Received Series Purged")  # the node: a generation's instances and results deleted
RESULT_REQUEUED = _dev("DAI013", "Result Re-Queued")  # the operator: a dead-lettered result sent again
RESULT_DISCARDED = _dev("DAI014", "Result Discarded")  # the operator: a result given up for a destination
KEYS_BACKED_UP = _dev("DAI015", "Keys Backed Up")  # keys backup: the encrypted backup file written (SRS-223)
KEY_BACKUP_VERIFIED = _dev("DAI016", "Key Backup Verified")  # keys verify-backup: its verdict in the details
KEYS_RESTORED = _dev("DAI017", "Keys Restored")  # keys restore: recorded in the log found after the restore
RESULT_SEND_STARTED = _dev("DAI018", "Result Send Started")  # the node: durable before each send attempt (THR-012)
HOT_FOLDER_UNSETTLED = _dev("DAI019", "Hot Folder Files Not Settling")  # watch: files of IN that keep changing

EVENTS = {c.code: c for c in (
    APPLICATION_ACTIVITY, INSTANCES_TRANSFERRED, EXPORT, IMPORT, QUERY, SECURITY_ALERT, USER_AUTHENTICATION,
    DEIDENTIFICATION, MODEL_VERIFIED, MODEL_REFUSED, ANALYSIS_RUN, LOG_RECOVERED, EXPLANATION, VALIDATION_RUN,
    DICOM_ASSOCIATION, SERIES_READY, SERIES_REFUSED, RESULT_DEAD_LETTERED, SERIES_PURGED, RESULT_REQUEUED,
    RESULT_DISCARDED, KEYS_BACKED_UP, KEY_BACKUP_VERIFIED, KEYS_RESTORED, RESULT_SEND_STARTED, HOT_FOLDER_UNSETTLED,
)}


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    user: str
    process: str
    host: str
    ae_title: str | None = None

    @classmethod
    def current(cls, ae_title: str | None = None) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid-{os.getuid()}"
        return cls(user=user, process=f"device-ai[{os.getpid()}]", host=socket.gethostname(), ae_title=ae_title)


class AuditObject(BaseModel):
    """A participant object: ``kind`` study/series/model/file, ``id`` pseudonym or digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str
    id: str
    role: str | None = None


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int = Field(ge=0)
    time_utc: str
    event: Code
    event_type: Code | None = None
    action: str = Field(pattern="^[CRUDE]$")
    outcome: Outcome
    actor: Actor
    objects: tuple[AuditObject, ...] = ()
    details: dict[str, str] = Field(default_factory=dict)

    def leaf_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json"))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
