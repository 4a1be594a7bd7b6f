"""Standard exports of the audit trail.

- ``leaves``: one base64 line per entry holding the exact leaf bytes, so anyone can
  recompute the RFC 9162 root and compare it with a signed checkpoint.
- ``fhir``: one FHIR R4 ``AuditEvent`` JSON object per line.
- ``atna``: one DICOM PS3.15 A.5.1 ``AuditMessage`` XML document per line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

from device_ai.audit.log import log_bytes
from device_ai.audit.store import scan

_OUTCOME_FHIR = {0: "0", 4: "4", 8: "8", 12: "12"}


def _entries(folder: Path) -> Iterator[tuple[bytes, dict]]:
    for record in scan(log_bytes(folder)).records:
        yield record.payload, json.loads(record.payload)


def fhir_audit_event(entry: dict) -> dict:
    """FHIR R4 AuditEvent (https://hl7.org/fhir/R4/auditevent.html)."""
    event_type = entry["event"]
    resource = {
        "resourceType": "AuditEvent",
        "id": f"device-ai-{entry['seq']}",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM" if event_type["scheme"] == "DCM"
                 else "urn:device-ai:audit-event", "code": event_type["code"], "display": event_type["meaning"]},
        "action": entry["action"],
        "recorded": entry["time_utc"],
        "outcome": _OUTCOME_FHIR[entry["outcome"]],
        "agent": [{"who": {"display": entry["actor"]["user"]}, "requestor": True,
                   "altId": entry["actor"]["process"], "network": {"address": entry["actor"]["host"], "type": "1"}}],
        "source": {"observer": {"display": entry["actor"]["host"]}},
        "entity": [{"what": {"identifier": {"value": obj["id"]}}, "type": {"code": obj["kind"]},
                    **({"role": {"code": obj["role"]}} if obj.get("role") else {})} for obj in entry["objects"]],
    }
    if entry.get("event_type"):
        subtype = entry["event_type"]
        resource["subtype"] = [{"code": subtype["code"], "display": subtype["meaning"]}]
    if entry["details"]:
        resource["entity"].append({"detail": [{"type": k, "valueString": v} for k, v in sorted(entry["details"].items())]})
    return resource


def _coded(parent: ET.Element, tag: str, code: dict) -> ET.Element:
    # PS3.15 A.5.1.1 CodedValueType: csd-code, codeSystemName, originalText (= Code Meaning)
    return ET.SubElement(parent, tag, {"csd-code": code["code"], "codeSystemName": code["scheme"],
                                       "originalText": code["meaning"]})


def atna_message(entry: dict) -> str:
    """DICOM PS3.15 A.5.1 AuditMessage: EventIdentification, ActiveParticipant,
    AuditSourceIdentification, ParticipantObjectIdentification (validated against the
    A.5.1.1 schema in the tests)."""
    root = ET.Element("AuditMessage")
    event = ET.SubElement(root, "EventIdentification", EventActionCode=entry["action"],
                          EventDateTime=entry["time_utc"], EventOutcomeIndicator=str(entry["outcome"]))
    _coded(event, "EventID", entry["event"])
    if entry.get("event_type"):
        _coded(event, "EventTypeCode", entry["event_type"])
    if entry["details"]:
        ET.SubElement(event, "EventOutcomeDescription").text = json.dumps(entry["details"], sort_keys=True)
    ET.SubElement(root, "ActiveParticipant", UserID=entry["actor"]["user"], AlternativeUserID=entry["actor"]["process"],
                  UserIsRequestor="true", NetworkAccessPointID=entry["actor"]["host"], NetworkAccessPointTypeCode="1")
    source = ET.SubElement(root, "AuditSourceIdentification", AuditSourceID=entry["actor"]["host"])
    ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": "4"})  # application server process
    for obj in entry["objects"]:
        participant = ET.SubElement(root, "ParticipantObjectIdentification", ParticipantObjectID=obj["id"],
                                    ParticipantObjectTypeCode="2")
        if obj["kind"] == "study":
            _coded(participant, "ParticipantObjectIDTypeCode",
                   {"code": "110180", "scheme": "DCM", "meaning": "Study Instance UID"})
        else:
            _coded(participant, "ParticipantObjectIDTypeCode",
                   {"code": obj["kind"], "scheme": "99DEVAI", "meaning": obj["kind"]})
        # Study and series are named by keyed pseudonym, never by the real UID (no PHI).
        ET.SubElement(participant, "ParticipantObjectName").text = obj.get("role") or f"{obj['kind']} pseudonym"
    return ET.tostring(root, encoding="unicode")


def export_lines(folder: Path, fmt: str) -> Iterator[str]:
    for payload, entry in _entries(folder):
        if fmt == "leaves":
            yield base64.b64encode(payload).decode()
        elif fmt == "fhir":
            yield json.dumps(fhir_audit_event(entry), sort_keys=True)
        elif fmt == "atna":
            yield atna_message(entry)
        else:
            raise ValueError(f"unknown export format {fmt!r}")
