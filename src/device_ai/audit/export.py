"""Standard exports of the audit trail.

- ``leaves``: one base64 line per entry holding the exact leaf bytes, so anyone can
  recompute the RFC 9162 root and compare it with a signed checkpoint.
- ``fhir``: one FHIR R4 ``AuditEvent`` JSON object per line.
- ``atna``: one DICOM PS3.15 A.5.1 ``AuditMessage`` XML document per line.

Each line is rendered from its entry's leaf bytes alone (no clock, host or setting), so a
receiver can re-render a line from the leaf bytes that a proof bundle carries and compare
bytes (:mod:`device_ai.audit.export_proof`, SRS-224).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

from device_ai.audit.log import log_bytes
from device_ai.audit.store import scan

FORMATS = ("leaves", "fhir", "atna")
# The version of the renderings below: change it with any change of what they write, so that a
# proof bundle of an earlier rendering is refused as such, not reported as an altered export.
RENDERING = 1

_OUTCOME_FHIR = {0: "0", 4: "4", 8: "8", 12: "12"}


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


def render_line(payload: bytes, fmt: str) -> str:
    """The export line of one entry, from its exact leaf bytes and nothing else."""
    if fmt == "leaves":
        return base64.b64encode(payload).decode()
    if fmt == "fhir":
        return json.dumps(fhir_audit_event(json.loads(payload)), sort_keys=True)
    if fmt == "atna":
        return atna_message(json.loads(payload))
    raise ValueError(f"unknown export format {fmt!r}")


def export_lines(folder: Path, fmt: str, selected: Callable[[dict], bool] | None = None) -> Iterator[str]:
    """The lines of the entries of the log in ``folder`` (those ``selected``, all by default)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    for record in scan(log_bytes(folder)).records:
        if selected is None or selected(json.loads(record.payload)):
            yield render_line(record.payload, fmt)
