"""Typed items of the cybersecurity file (``security/``; FDA premarket cybersecurity guidance,
FD&C section 524B): assets, interfaces, threats, security use cases and the security plan.

- an **asset** (``ASSET-...``) is what the device protects, with the security objectives it needs
  (confidentiality, integrity, availability);
- an **interface** (``IF-...``) is one way into or out of the device as built: who is on the other
  side (``peer``), the channel, the trust boundary it crosses, how the peer is authenticated, the
  assets it carries and the modules of ``src/`` that implement it;
- a **threat** (``THR-nnn``) is one STRIDE threat on one interface against named assets, with its
  impact and exploitability before and after its ``controls``: risk controls (``RC-nnn``) or the
  requirements (``SRS-nnn``) that implement them; a threat may name no control (nothing in the
  device mitigates it), which the release gate reports (:mod:`.security`);
- a **security use case** (``SUC-nnn``) is a workflow as the ordered interfaces it crosses (the
  guidance's security use case views);
- the **security plan** holds the impact and exploitability scales with the acceptability
  matrix, and the vulnerability and patch management plan (monitoring, coordinated disclosure,
  timelines, update paths per asset: the updatability/patchability view) and the security
  testing whose evidence is the verification of named requirements.

Models are strict and refuse unknown keys, as the other items (:mod:`.items`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from device_ai.regulatory.items import (
    Acceptability,
    Item,
    Level,
    Link,
    Prose,
    Text,
    _id_type,
    _Strict,
    id_prefix,
)

AssetId = _id_type("ASSET")
InterfaceId = _id_type("IF")
ThreatId = _id_type("THR")
UseCaseId = _id_type("SUC")
RiskRef = _id_type("RISK")
SrsRef = _id_type("SRS")
Objective = Literal["confidentiality", "integrity", "availability"]
Direction = Literal["in", "out", "in-out"]
#: STRIDE (Microsoft threat modelling), one category per threat.
Stride = Literal["spoofing", "tampering", "repudiation", "information_disclosure", "denial_of_service",
                 "elevation_of_privilege"]
STRIDE: tuple[str, ...] = ("spoofing", "tampering", "repudiation", "information_disclosure", "denial_of_service",
                           "elevation_of_privilege")
#: What a threat's ``controls`` may name: a risk control, or a requirement that implements one.
CONTROL_PREFIXES: tuple[str, ...] = ("RC", "SRS")


class SecurityAsset(Item):
    """What the device protects, and which security objectives it needs."""

    KIND: ClassVar[str] = "security_asset"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "description", "objectives")

    id: AssetId
    title: Text
    description: Text
    objectives: list[Objective] = Field(min_length=1)


class SecurityInterface(Item):
    """One way into or out of the device, as the code implements it (``modules``)."""

    KIND: ClassVar[str] = "security_interface"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "title", "description", "direction", "channel", "peer", "trust_boundary", "authentication", "modules", "assets",
    )

    id: InterfaceId
    title: Text
    description: Text
    direction: Direction
    channel: Text
    peer: Text
    trust_boundary: Text
    authentication: Text
    modules: list[Text] = Field(min_length=1)
    assets: list[AssetId] = Field(min_length=1)

    def links(self) -> Iterator[Link]:
        for target in self.assets:
            yield Link("carries", "assets", target, ("ASSET",))


class Threat(Item):
    """A STRIDE threat on one interface against named assets, and what mitigates it.

    ``impact`` and ``exploitability`` are levels of the security plan (checked by the loader);
    ``residual_exploitability`` is the exploitability with the controls in effect (the impact is
    not reduced by them), required when the threat names controls. ``multi_patient``: whether the
    threat, once realised, can harm many patients at once (the multi-patient harm view)."""

    KIND: ClassVar[str] = "threat"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "title", "interface", "stride", "assets", "attack", "controls", "impact", "exploitability",
        "residual_exploitability", "multi_patient",
    )
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("rationale", "related_risks")

    id: ThreatId
    title: Text
    interface: InterfaceId
    stride: Stride
    assets: list[AssetId] = Field(min_length=1)
    attack: Text
    controls: list[str] = Field(default_factory=list)
    impact: Text
    exploitability: Text
    residual_exploitability: Text | None = None
    multi_patient: bool
    rationale: Text | None = None
    related_risks: list[RiskRef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _controlled_means_residual(self) -> Threat:
        if self.controls and self.residual_exploitability is None:
            raise ValueError("a threat with controls needs residual_exploitability (the exploitability with them)")
        if not self.controls and self.residual_exploitability not in (None, self.exploitability):
            raise ValueError("a threat without controls keeps its exploitability (residual_exploitability would "
                             "credit nothing)")
        if len(set(self.controls)) != len(self.controls):
            raise ValueError("controls lists an ID twice")
        malformed = [c for c in self.controls if id_prefix(c) not in CONTROL_PREFIXES]
        if malformed:
            raise ValueError(f"controls {malformed} are not risk control or requirement IDs (expected the form RC-001 "
                             "or SRS-012)")
        return self

    def links(self) -> Iterator[Link]:
        yield Link("threatens", "interface", self.interface, ("IF",))
        for target in self.assets:
            yield Link("harms", "assets", target, ("ASSET",))
        for target in self.controls:
            yield Link("mitigated_by", "controls", target, CONTROL_PREFIXES)
        for target in self.related_risks:
            yield Link("related_risk", "related_risks", target, ("RISK",))


class SecurityUseCase(Item):
    """A workflow as the interfaces it crosses, in order (the security use case views)."""

    KIND: ClassVar[str] = "security_use_case"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "description", "actor", "interfaces")

    id: UseCaseId
    title: Text
    description: Text
    actor: Text
    interfaces: list[InterfaceId] = Field(min_length=1)

    def links(self) -> Iterator[Link]:
        for target in self.interfaces:
            yield Link("crosses", "interfaces", target, ("IF",))


class DisclosureTimeline(_Strict):
    """How fast a vulnerability of one class is assessed, fixed and communicated."""

    vulnerability: Text
    assess_within: Text
    fix_within: Text
    communicate: Text


class UpdatePath(_Strict):
    """How one part of the device is updated or patched in the field, and how the update is
    checked before it is used (the updatability/patchability view)."""

    component: Text
    assets: list[AssetId] = Field(min_length=1)
    how: Text
    integrity: Text
    who: Text
    verification: Text


class SecurityTest(_Strict):
    """One kind of security testing (fuzzing, tamper, leak...) and the requirements whose
    verification is its evidence: the package shows each requirement's verdict on the commit."""

    title: Text
    method: Text
    interfaces: list[InterfaceId] = Field(min_length=1)
    requirements: list[SrsRef] = Field(min_length=1)


class SecurityPlan(_Strict):
    """The security risk method and the vulnerability and patch management plan (FDA 524B (b)(1):
    a plan to monitor, identify and address postmarket vulnerabilities, with coordinated
    vulnerability disclosure; (b)(2): updates and patches). The impact and exploitability scales
    are listed from the lowest level to the highest; ``acceptability[impact][exploitability]``
    is the security risk acceptability matrix."""

    id: ClassVar[str] = "SECURITY-PLAN"
    KIND: ClassVar[str] = "security_plan"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "scope", "impact", "exploitability", "acceptability", "monitoring", "disclosure", "assessment", "timelines",
        "update_paths", "end_of_support", "testing",
    )

    scope: Prose
    impact: list[Level] = Field(min_length=1)
    exploitability: list[Level] = Field(min_length=1)
    acceptability: dict[str, dict[str, Acceptability]]
    monitoring: Prose
    disclosure: Prose
    assessment: Prose
    timelines: list[DisclosureTimeline] = Field(min_length=1)
    update_paths: list[UpdatePath] = Field(min_length=1)
    end_of_support: Prose
    testing: list[SecurityTest] = Field(min_length=1)

    @model_validator(mode="after")
    def _matrix_is_complete(self) -> SecurityPlan:
        impacts = [x.level for x in self.impact]
        exploitabilities = [x.level for x in self.exploitability]
        for name, levels in (("impact", impacts), ("exploitability", exploitabilities)):
            if len(set(levels)) != len(levels):
                raise ValueError(f"{name} levels must be unique: {levels}")
        if sorted(self.acceptability) != sorted(impacts):
            raise ValueError(f"acceptability rows {sorted(self.acceptability)} must be the impact levels {impacts}")
        for impact, row in self.acceptability.items():
            if sorted(row) != sorted(exploitabilities):
                raise ValueError(f"acceptability[{impact}] columns {sorted(row)} must be the exploitability levels "
                                 f"{exploitabilities}")
        return self

    def links(self) -> Iterator[Link]:
        for path in self.update_paths:
            for target in path.assets:
                yield Link("updates", "update_paths", target, ("ASSET",))
        for test in self.testing:
            for target in test.interfaces:
                yield Link("tests_interface", "testing", target, ("IF",))
            for target in test.requirements:
                yield Link("tested_by", "testing", target, ("SRS",))

    def meaningful_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        return {name: data[name] for name in self.FINGERPRINT_FIELDS}
