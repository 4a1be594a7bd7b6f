"""ATNA export validates against the DICOM PS3.15 A.5.1.1 schema; FHIR export is AuditEvent-shaped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rnc2rng
from lxml import etree

from device_ai.audit.entry import ANALYSIS_RUN, APPLICATION_ACTIVITY, APPLICATION_START, AuditObject, Outcome
from device_ai.audit.export import export_lines
from device_ai.audit.log import AuditLog

SCHEMA = Path(__file__).parent / "schema" / "dicom-audit-message.rnc"


@pytest.fixture(scope="module")
def relaxng() -> etree.RelaxNG:
    text = SCHEMA.read_text().replace("##", "#")  # rnc2rng does not parse ## annotations
    return etree.RelaxNG(etree.fromstring(rnc2rng.dumps(rnc2rng.loads(text)).encode()))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with AuditLog.open(tmp_path / "log") as log:
        log.append(APPLICATION_ACTIVITY, event_type=APPLICATION_START)
        log.append(ANALYSIS_RUN, action="C", objects=(AuditObject(kind="study", id="study-0123456789abcdef"),
                                                      AuditObject(kind="model", id="ab" * 32, role="demo 1.0.0")),
                   details={"lesion_count": "2"})
        log.append(ANALYSIS_RUN, outcome=Outcome.MINOR_FAILURE, details={"refused": "DAI-210"})
    return tmp_path / "log"


@pytest.mark.req("SRS-029", "SRS-035")
def test_atna_messages_validate_against_the_dicom_schema(folder: Path, relaxng: etree.RelaxNG) -> None:
    messages = list(export_lines(folder, "atna"))
    assert len(messages) == 3
    for message in messages:
        document = etree.fromstring(message.encode())
        assert relaxng.validate(document), relaxng.error_log
    broken = etree.fromstring(messages[0].encode())
    broken.find("EventIdentification").set("EventOutcomeIndicator", "3")
    assert not relaxng.validate(broken)  # the schema check can fail


@pytest.mark.req("SRS-029", "SRS-035")
def test_fhir_export_is_one_audit_event_per_entry(folder: Path) -> None:
    events = [json.loads(line) for line in export_lines(folder, "fhir")]
    assert [e["resourceType"] for e in events] == ["AuditEvent"] * 3
    assert events[0]["type"]["code"] == "110100" and events[0]["subtype"][0]["code"] == "110120"
    assert events[2]["outcome"] == "4"
    assert any(entity.get("what", {}).get("identifier", {}).get("value") == "study-0123456789abcdef"
               for entity in events[1]["entity"])
