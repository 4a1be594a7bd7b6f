"""Typed items of the regulatory wrapper (``submission/``; issue 19 item 7; EU MDR Annex II 1, 2
and 4; IEC 62304 conformity): the GSPR checklist, the IEC 62304 conformity matrix and the device
description with the instructions for use.

- a **GSPR row** (``GSPR-<n>[.<m>]``, MDR Annex I numbering) says whether the requirement applies
  to the device (a row that does not apply says why), by which methods and standards it is met,
  which ``evidence`` shows it, and its ``open_points`` (what the evidence does not show yet);
- a **conformity row** (``C62304-<clause>``) is one clause (or group of sub-clauses) of
  IEC 62304 with the software safety classes that need it, its ``evidence`` and a ``status``
  (``conforms``, ``partial``, ``not_conforming``, or ``not_applicable`` for a clause the system's
  class does not need) with a ``note`` saying what holds and what does not;
- the **device description** (one per project) holds the Annex II 1.1 description (intended
  purpose, users, principles of operation, inputs and outputs, classification rationale as the
  manufacturer's position, variants as model packages) and the content of the instructions for
  use (intended use, contraindications, warnings and precautions, how to read each output, what
  the device does not do) and the label content (Annex I 23.2: each particular with its value, or why
  the project has none, or why it does not apply).

``evidence`` names traced items (:data:`EVIDENCE_PREFIXES`) and/or package document IDs
(``DAI-DOC-...``, :data:`device_ai.regulatory.render.control.DOCUMENT_IDS`); the loader refuses an
ID that does not exist with ``file:line`` (:mod:`.loader`); the gate rules are in
:mod:`.submission`. Models are strict and refuse unknown keys, as the other items (:mod:`.items`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from device_ai.regulatory.items import Item, Link, Prose, SafetyClass, Text, _id_type, _Strict, id_prefix

GsprId = _id_type("GSPR")
ClauseId = _id_type("C62304")
ModelRef = _id_type("MODEL")
#: The traced items an evidence list may name.
EVIDENCE_PREFIXES: tuple[str, ...] = ("SRS", "RC", "RISK", "THR", "IF", "SOUP", "ANOM", "MODEL", "UN", "SI")
#: A package document ID (checked against the document table when the items are loaded).
DOCUMENT_ID = re.compile(r"DAI-DOC-[A-Z0-9]+(?:-[A-Z0-9]+)*")
ConformityStatus = Literal["conforms", "partial", "not_conforming", "not_applicable"]


def _check_evidence(evidence: list[str]) -> None:
    if len(set(evidence)) != len(evidence):
        raise ValueError("evidence lists an ID twice")
    malformed = [e for e in evidence if not DOCUMENT_ID.fullmatch(e) and id_prefix(e) not in EVIDENCE_PREFIXES]
    if malformed:
        raise ValueError(f"evidence {malformed} are neither item IDs ({', '.join(EVIDENCE_PREFIXES)}) nor package "
                         "document IDs (DAI-DOC-...)")


def document_evidence(evidence: list[str]) -> list[str]:
    """The package document IDs of an evidence list."""
    return [e for e in evidence if DOCUMENT_ID.fullmatch(e)]


def _evidence_links(evidence: list[str]) -> Iterator[Link]:
    for target in evidence:
        if not DOCUMENT_ID.fullmatch(target):
            yield Link("evidenced_by", "evidence", target, EVIDENCE_PREFIXES)


class GsprRow(Item):
    """One General Safety and Performance Requirement of MDR Annex I as it applies to the device."""

    KIND: ClassVar[str] = "gspr"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "applicable", "justification", "methods", "standards",
                                                     "evidence")
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("open_points",)

    id: GsprId
    title: Text
    applicable: bool
    justification: Text | None = None
    methods: Text | None = None
    standards: list[Text] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    #: What the evidence does not yet show for this requirement (shown on the checklist).
    open_points: Text | None = None

    @model_validator(mode="after")
    def _justified(self) -> GsprRow:
        if not self.applicable and not (self.justification or "").strip():
            raise ValueError("a GSPR that does not apply needs a justification (why not)")
        if self.applicable and not (self.methods or "").strip():
            raise ValueError("an applicable GSPR needs methods (how it is met)")
        _check_evidence(self.evidence)
        return self

    def links(self) -> Iterator[Link]:
        yield from _evidence_links(self.evidence)


class ConformityRow(Item):
    """One clause of IEC 62304 with the classes that need it, its evidence and a conformity status."""

    KIND: ClassVar[str] = "iec62304_clause"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "classes", "evidence", "status", "note")

    id: ClauseId
    title: Text
    classes: list[SafetyClass] = Field(min_length=1)
    evidence: list[str] = Field(default_factory=list)
    status: ConformityStatus
    note: Text

    @model_validator(mode="after")
    def _consistent(self) -> ConformityRow:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes lists a class twice")
        _check_evidence(self.evidence)
        return self

    @property
    def clause(self) -> str:
        return self.id.removeprefix("C62304-")

    def links(self) -> Iterator[Link]:
        yield from _evidence_links(self.evidence)


class OutputGuide(_Strict):
    """How to read one output of the device (instructions for use)."""

    output: Text
    what_it_is: Text
    how_to_read: Text
    limits: Text


class InstructionsForUse(_Strict):
    """What the instructions for use say (MDR Annex I 23.4, in the device's own words)."""

    intended_use: Prose
    contraindications: list[Text] = Field(min_length=1)
    warnings: list[Text] = Field(min_length=1)
    precautions: list[Text] = Field(min_length=1)
    outputs: list[OutputGuide] = Field(min_length=1)
    does_not: list[Text] = Field(min_length=1)
    residual_risks: Prose
    installation: Prose


#: Where a label value comes from when the project has it only at build time: the package's software version.
LabelSource = Literal["software_version"]
#: How a particular of the label is given, in the order a row is checked.
LABEL_FORMS: tuple[str, ...] = ("value", "value_from", "not_defined", "not_applicable")


class LabelParticular(_Strict):
    """One particular MDR Annex I 23.2 asks the label to carry (``point``: its letter, ``item``: our
    own short wording), given in exactly one form: the ``value`` the project has, ``value_from`` a
    value the package fills in when rendered (the software version), ``not_defined`` why the project
    has none yet (never an invented value), or ``not_applicable`` why the particular does not apply to
    this device."""

    point: Text
    item: Text
    value: Text | None = None
    value_from: LabelSource | None = None
    not_defined: Text | None = None
    not_applicable: Text | None = None

    @model_validator(mode="after")
    def _one_form(self) -> LabelParticular:
        given = [name for name in LABEL_FORMS if (getattr(self, name) or "").strip()]
        if len(given) != 1:
            raise ValueError(f"a label particular needs exactly one of {', '.join(LABEL_FORMS)} (got "
                             f"{', '.join(given) or 'none'})")
        return self


class DeviceDescription(_Strict):
    """The device description and specification (MDR Annex II 1.1) and the content of the
    instructions for use (Annex II 2; Annex I 23.4). ``variants`` are the locked model packages;
    ``performance_records`` the committed result files any performance statement refers to (the
    description states no figure of its own)."""

    id: ClassVar[str] = "DEVICE-DESCRIPTION"
    KIND: ClassVar[str] = "device_description"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "name", "intended_purpose", "users", "environment", "principles_of_operation", "inputs", "outputs",
        "classification", "variants", "performance_records", "ifu",
    )
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("label",)

    name: Text
    manufacturer_note: Text
    intended_purpose: Prose
    users: Prose
    environment: Prose
    principles_of_operation: Prose
    inputs: list[Text] = Field(min_length=1)
    outputs: list[Text] = Field(min_length=1)
    classification: Prose
    variants: list[ModelRef] = Field(min_length=1)
    novel_features: Prose
    performance_records: list[Text] = Field(min_length=1)
    ifu: InstructionsForUse
    #: The label content (MDR Annex I 23.2), fingerprinted only when given.
    label: list[LabelParticular] = Field(default_factory=list)

    @model_validator(mode="after")
    def _records_inside(self) -> DeviceDescription:
        for record in self.performance_records:
            if record.startswith("/") or ".." in record.split("/"):
                raise ValueError(f"performance record {record!r} must be a path inside the repository")
        return self

    def links(self) -> Iterator[Link]:
        for target in self.variants:
            yield Link("variant", "variants", target, ("MODEL",))

    def meaningful_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        fields = {name: data[name] for name in self.FINGERPRINT_FIELDS}
        fields.update({name: data[name] for name in self.OPTIONAL_FINGERPRINT_FIELDS if data[name]})
        return fields
