"""Typed traceability and risk items, validated on construction.

One pydantic model per item kind of the device file:

- user needs and software requirements (IEC 62304 5.2.1, 5.2.2; design inputs, ISO 13485 7.3.3),
- software items with their safety class (IEC 62304 4.3, 5.3.1, 7.2.2 b),
- SOUP curation (IEC 62304 5.3.3, 5.3.4, 7.1.3, 8.1.2),
- known anomalies (IEC 62304 5.8.2, 5.8.3, 9.1),
- the ISO 14971 risk file: plan with the acceptability matrix (4.4), hazards (5.4),
  hazardous situations with P1, P2 and severity (5.4, 5.5), risk controls (7.1), residual risk
  (7.3) and the benefit-risk statement (7.4, 8),
- model artefacts, read from the locked model package manifest (FDA AI-DSF draft, model card),
- review records (suspect-link baseline; IEC 62304 8.2.4 style attribution).

Models are strict: a string is never coerced from a number (``version: 1.20`` is refused rather
than read as ``1.2``), and unknown keys are refused. Each kind declares the fields its fingerprint
covers (:data:`Item.FINGERPRINT_FIELDS`) and its links to other items (:meth:`Item.links`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Status = Literal["draft", "planned", "approved", "retired"]
Category = Literal["functional", "performance", "interface", "security", "safety", "usability", "data", "regulatory"]
SafetyClass = Literal["A", "B", "C"]
ControlType = Literal["inherent", "protective", "information"]
Acceptability = Literal["acceptable", "alara", "unacceptable"]
AnomalyStatus = Literal["open", "closed"]
AnomalyReviewState = Literal["complete", "partial", "pending"]
#: The overall residual risk verdict (ISO 14971 clause 8), typed: the record reads it, not the prose.
OverallVerdict = Literal["acceptable", "not_acceptable", "undecided"]
Factor = Literal["p1", "p2"]

#: ID pattern per prefix. Numbered IDs have at least three digits (``SRS-012``, ``SRS-1234``).
ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "UN": re.compile(r"UN-\d{3,}"),
    "SRS": re.compile(r"SRS-\d{3,}"),
    "SI": re.compile(r"SI-[A-Z0-9]+(?:-[A-Z0-9]+)*"),
    "SOUP": re.compile(r"SOUP-[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"),
    "ANOM": re.compile(r"ANOM-\d{3,}"),
    "HAZ": re.compile(r"HAZ-\d{3,}"),
    "RISK": re.compile(r"RISK-\d{3,}"),
    "RC": re.compile(r"RC-\d{3,}"),
    "MODEL": re.compile(r"MODEL-[A-Za-z0-9._-]+"),
    # the cybersecurity file (security/, :mod:`.security_items`)
    "ASSET": re.compile(r"ASSET-[A-Z0-9]+(?:-[A-Z0-9]+)*"),
    "IF": re.compile(r"IF-[A-Z0-9]+(?:-[A-Z0-9]+)*"),
    "THR": re.compile(r"THR-\d{3,}"),
    "SUC": re.compile(r"SUC-\d{3,}"),
    # a runtime component of the SBOM with its support and vulnerability assessment (security/components.yaml)
    "CMP": re.compile(r"CMP-[A-Za-z0-9](?:[A-Za-z0-9._+-]*[A-Za-z0-9])?"),
    # the regulatory wrapper (submission/, :mod:`.submission_items`): MDR Annex I GSPR numbering and
    # IEC 62304 clause numbers
    "GSPR": re.compile(r"GSPR-\d+(?:\.\d+)*"),
    "C62304": re.compile(r"C62304-\d+(?:\.\d+)*"),
}
_EXAMPLES = {"UN": "UN-001", "SRS": "SRS-012", "SI": "SI-INFERENCE", "SOUP": "SOUP-numpy", "ANOM": "ANOM-001",
             "HAZ": "HAZ-001", "RISK": "RISK-001", "RC": "RC-001", "MODEL": "MODEL-name-1.0.0",
             "ASSET": "ASSET-AUDIT-LOG", "IF": "IF-DICOM-SCP", "THR": "THR-001", "SUC": "SUC-001",
             "CMP": "CMP-numpy", "GSPR": "GSPR-17.2", "C62304": "C62304-5.1.1"}
SEVERITY_LEVEL = re.compile(r"S\d+")
PROBABILITY_LEVEL = re.compile(r"P\d+")


def id_prefix(item_id: str) -> str | None:
    """The kind prefix (``SRS``, ``RC``...) of a well-formed ID, else None."""
    for prefix, pattern in ID_PATTERNS.items():
        if pattern.fullmatch(item_id):
            return prefix
    return None


def _id_type(prefix: str) -> Any:
    pattern = ID_PATTERNS[prefix]

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {prefix} ID (expected the form {_EXAMPLES[prefix]})")
        return value

    return Annotated[str, AfterValidator(check)]


def _level_type(pattern: re.Pattern[str], example: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a level name (expected the form {example})")
        return value

    return Annotated[str, AfterValidator(check)]


UnId = _id_type("UN")
SrsId = _id_type("SRS")
SiId = _id_type("SI")
SoupId = _id_type("SOUP")
AnomId = _id_type("ANOM")
HazId = _id_type("HAZ")
RiskId = _id_type("RISK")
RcId = _id_type("RC")
SeverityLevel = _level_type(SEVERITY_LEVEL, "S3")
ProbabilityLevel = _level_type(PROBABILITY_LEVEL, "P2")
Text = Annotated[str, Field(min_length=1)]
#: Free prose in the plan and benefit files: one paragraph or a list of paragraphs.
Prose = Text | list[Text]


@dataclass(frozen=True)
class Link:
    """A trace link from the item that declares it to ``target`` (IEC 62304 5.1.1 c)."""

    kind: str
    field: str
    target: str
    allowed: tuple[str, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Item(_Strict):
    """Base of every identified item. ``KIND`` names the node kind in the trace graph."""

    KIND: ClassVar[str] = "item"
    #: Fields whose change makes linked items suspect (reference/regulatory.md §6.4).
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ()
    #: Fingerprinted only when not empty, so that adding such a field to the schema does not
    #: change the fingerprint (and the review state) of items that do not use it.
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ()

    id: str

    def links(self) -> Iterator[Link]:
        """Outgoing trace links declared by this item."""
        return iter(())

    def meaningful_fields(self) -> dict[str, Any]:
        """The fingerprinted fields as plain JSON data."""
        data = self.model_dump(mode="json")
        fields = {name: data[name] for name in self.FINGERPRINT_FIELDS}
        fields.update({name: data[name] for name in self.OPTIONAL_FINGERPRINT_FIELDS if data[name]})
        return fields


class UserNeed(Item):
    """A user need: the design input requirements trace to (ISO 13485 7.3.3; IEC 62304 5.2.6 e)."""

    KIND: ClassVar[str] = "user_need"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "text", "status")

    id: UnId
    title: Text
    text: Text
    status: Status
    stakeholder: Text


class Respecification(_Strict):
    """An acceptance criterion changed after results against it were seen (a post-hoc change):
    when, what changed, and the record (anomaly or study file) that holds the figures seen before."""

    date: Text
    change: Text
    record: Text


class SoftwareRequirement(Item):
    """A software requirement (IEC 62304 5.2.1, 5.2.2; risk control requirements 5.2.3)."""

    KIND: ClassVar[str] = "requirement"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "text", "status", "category")
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("respecifications",)

    id: SrsId
    title: Text
    text: Text
    status: Status
    category: Category
    satisfies: list[UnId] = Field(min_length=1)
    software_items: list[SiId] = Field(min_length=1)
    rationale: Text | None = None
    #: Each time the acceptance criterion changed after results against it were seen.
    respecifications: list[Respecification] = Field(default_factory=list)

    def links(self) -> Iterator[Link]:
        for target in self.satisfies:
            yield Link("satisfies", "satisfies", target, ("UN",))
        for target in self.software_items:
            yield Link("allocated_to", "software_items", target, ("SI",))


class SoftwareItem(Item):
    """A software item of the architecture with its safety class (IEC 62304 4.3, 5.3.1, 7.2.2 b)."""

    KIND: ClassVar[str] = "software_item"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "modules", "safety_class")

    id: SiId
    title: Text
    modules: list[Text] = Field(min_length=1)
    safety_class: SafetyClass
    rationale: Text
    parent: SiId | None = None

    def links(self) -> Iterator[Link]:
        if self.parent is not None:
            yield Link("part_of", "parent", self.parent, ("SI",))


#: SOUP fields the gate requires to be filled in (IEC 62304 5.3.3, 5.3.4, 7.1.3, 8.1.2).
SOUP_CURATED_FIELDS: tuple[str, ...] = (
    "version", "purpose", "functional_requirements", "performance_requirements",
    "hardware_software_requirements", "anomaly_review",
)


class SoupItem(Item):
    """A SOUP configuration item with its IEC 62304 curation.

    The curated prose fields may be absent here: an uncurated entry still loads, and
    ``trace check`` lists what it lacks as a gap (so the whole list of gaps shows at once).
    """

    KIND: ClassVar[str] = "soup"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "package", "version", "purpose", "functional_requirements", "performance_requirements",
        "hardware_software_requirements", "runtime",
    )

    id: SoupId
    package: Text
    version: Text | None = None
    purpose: Text | None = None
    runtime: bool
    software_items: list[SiId] = Field(default_factory=list)
    functional_requirements: Text | None = None
    performance_requirements: Text | None = None
    hardware_software_requirements: Text | None = None
    anomaly_review: Text | None = None
    #: Whether the supplier's anomaly list was reviewed in full (IEC 62304 7.1.3); absent = pending.
    anomaly_review_state: AnomalyReviewState | None = None
    related_risks: list[RiskId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _id_names_the_package(self) -> SoupItem:
        if normalize_package(self.id.removeprefix("SOUP-")) != normalize_package(self.package):
            raise ValueError(f"id {self.id} does not name the package {self.package!r} (expected SOUP-{self.package})")
        return self

    def links(self) -> Iterator[Link]:
        for target in self.software_items:
            yield Link("used_by", "software_items", target, ("SI",))
        for target in self.related_risks:
            yield Link("related_risk", "related_risks", target, ("RISK",))


def normalize_package(name: str) -> str:
    """PEP 503 normalized distribution name (``Pillow`` and ``pillow`` are one package)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Anomaly(Item):
    """A known anomaly (problem report) and its evaluation (IEC 62304 5.8.2, 5.8.3, 9.1, 9.2):
    ``criticality`` is 9.1's statement of criticality; links name the software items, the
    requirements and the hazardous situations concerned."""

    KIND: ClassVar[str] = "anomaly"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "description", "evaluation", "status", "criticality")

    id: AnomId
    title: Text
    description: Text
    evaluation: Text
    status: AnomalyStatus
    criticality: Text | None = None
    software_items: list[SiId] = Field(default_factory=list)
    requirements: list[SrsId] = Field(default_factory=list)
    related_risks: list[RiskId] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    reference: Text | None = None

    def links(self) -> Iterator[Link]:
        for target in self.software_items:
            yield Link("affects", "software_items", target, ("SI",))
        for target in self.requirements:
            yield Link("relates_to", "requirements", target, ("SRS",))
        for target in self.related_risks:
            yield Link("related_risk", "related_risks", target, ("RISK",))
        for target in self.related:
            yield Link("relates_to", "related", target, ("SRS", "RISK"))


class Level(_Strict):
    """One level of a severity or probability scale (ISO 14971 4.4 c, d)."""

    level: str
    name: Text
    description: Text


class Responsibility(_Strict):
    """A role and its duty in risk management (ISO 14971 4.4 b)."""

    role: Text
    duty: Text


class RiskManagementPlan(_Strict):
    """The risk management plan with its acceptability policy as data (ISO 14971 4.4).

    ``p_combination[P1][P2]`` is the combined probability of harm P (ISO 14971 annex C: the
    probability of the hazardous situation occurring, P1, times the probability that it leads
    to harm, P2, on ordinal levels). It is a table in the plan, so the rule is data, not code.
    ``acceptability[S][P]`` is the acceptability matrix over severity and combined probability.
    """

    id: ClassVar[str] = "RISK-PLAN"
    KIND: ClassVar[str] = "risk_plan"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("severity", "p1", "p2", "p_combination", "acceptability")

    scope: Prose
    responsibilities: Prose | list[Responsibility]
    severity: list[Level] = Field(min_length=1)
    p1: list[Level] = Field(min_length=1)
    p2: list[Level] = Field(min_length=1)
    p_combination: dict[ProbabilityLevel, dict[ProbabilityLevel, ProbabilityLevel]]
    acceptability: dict[SeverityLevel, dict[ProbabilityLevel, Acceptability]]
    overall_residual_risk_criteria: Prose
    verification_of_controls: Prose

    @model_validator(mode="after")
    def _tables_are_complete(self) -> RiskManagementPlan:
        severities = [x.level for x in self.severity]
        p1s, p2s = [x.level for x in self.p1], [x.level for x in self.p2]
        for name, levels, pattern in (("severity", severities, SEVERITY_LEVEL), ("p1", p1s, PROBABILITY_LEVEL),
                                      ("p2", p2s, PROBABILITY_LEVEL)):
            bad = [lv for lv in levels if not pattern.fullmatch(lv)]
            if bad or len(set(levels)) != len(levels):
                raise ValueError(f"{name} levels must be unique and named like {pattern.pattern}: {levels}")
        if sorted(self.acceptability) != sorted(severities):
            raise ValueError(f"acceptability rows {sorted(self.acceptability)} must be the severity levels {severities}")
        columns = {tuple(sorted(row)) for row in self.acceptability.values()}
        if len(columns) != 1:
            raise ValueError("every acceptability row must have the same probability columns")
        combined = set(next(iter(columns)))
        if sorted(self.p_combination) != sorted(p1s):
            raise ValueError(f"p_combination rows {sorted(self.p_combination)} must be the p1 levels {p1s}")
        for p1, row in self.p_combination.items():
            if sorted(row) != sorted(p2s):
                raise ValueError(f"p_combination[{p1}] columns {sorted(row)} must be the p2 levels {p2s}")
            outside = sorted(set(row.values()) - combined)
            if outside:
                raise ValueError(f"p_combination[{p1}] gives {outside}, not a column of the acceptability matrix")
        return self

    def combined_probability(self, p1: str, p2: str) -> str:
        """The combined probability of harm P for P1 and P2 (ISO 14971 annex C), from the table."""
        return self.p_combination[p1][p2]

    def acceptability_of(self, severity: str, p1: str, p2: str) -> Acceptability:
        """The matrix verdict for a severity and P1, P2 (ISO 14971 4.4 d, 5.5, 7.3)."""
        return self.acceptability[severity][self.combined_probability(p1, p2)]

    def meaningful_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        return {name: data[name] for name in self.FINGERPRINT_FIELDS}


class Hazard(Item):
    """A hazard: a potential source of harm (ISO 14971 5.4)."""

    KIND: ClassVar[str] = "hazard"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "description", "category")

    id: HazId
    title: Text
    description: Text
    category: Text


class ResidualEstimate(_Strict):
    """P1 and P2 after the risk controls (ISO 14971 7.3); severity is not reduced by them."""

    p1: ProbabilityLevel
    p2: ProbabilityLevel


class EffectivenessEvidence(_Strict):
    """What shows that ``controls`` are effective for one hazardous situation, i.e. earn the
    reduction of the factors in ``reduces`` (ISO 14971 7.2: verification of effectiveness, kept
    apart from verification of implementation). ``record`` is a committed file with the measured
    result (study, validation, benchmark, challenge run); ``requirements`` are requirements whose
    verification exercises the hazardous sequence itself over a challenge set. ``measure`` says
    what was measured, over how many cases, with what outcome. Rules: :mod:`.overclaim`."""

    controls: list[RcId] = Field(min_length=1)
    reduces: list[Factor] = Field(min_length=1)
    measure: Text
    record: Text | None = None
    requirements: list[SrsId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_evidence(self) -> EffectivenessEvidence:
        if self.record is None and not self.requirements:
            raise ValueError("effectiveness evidence names a record (a committed results file) or requirements")
        if self.record is not None and (self.record.startswith("/") or ".." in self.record.split("/")):
            raise ValueError(f"record {self.record!r} must be a path inside the repository")
        return self


class HazardousSituation(Item):
    """Hazard, sequence of events, hazardous situation and harm with severity, P1 and P2
    (ISO 14971 5.4, 5.5; IEC 62304 7.1, 7.3.3 traceability to the controls)."""

    KIND: ClassVar[str] = "hazardous_situation"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "hazard", "sequence_of_events", "situation", "harm", "severity", "p1", "p2", "residual",
    )
    OPTIONAL_FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("effectiveness",)

    id: RiskId
    hazard: HazId
    sequence_of_events: list[Text] = Field(min_length=1)
    situation: Text
    harm: Text
    severity: SeverityLevel
    p1: ProbabilityLevel
    p2: ProbabilityLevel
    controls: list[RcId] = Field(default_factory=list)
    residual: ResidualEstimate | None = None
    residual_rationale: Text | None = None
    effectiveness: list[EffectivenessEvidence] = Field(default_factory=list)

    @model_validator(mode="after")
    def _controlled_means_residual(self) -> HazardousSituation:
        if self.controls and self.residual is None:
            raise ValueError("a controlled hazardous situation needs its residual estimate (residual: {p1, p2})")
        return self

    def links(self) -> Iterator[Link]:
        yield Link("caused_by", "hazard", self.hazard, ("HAZ",))
        for target in self.controls:
            yield Link("controlled_by", "controls", target, ("RC",))


class RiskControl(Item):
    """A risk control measure, typed per ISO 14971 7.1 (inherent safety by design, protective
    measure, information for safety), implemented by software requirements (IEC 62304 5.2.3)."""

    KIND: ClassVar[str] = "risk_control"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "text", "type", "status")

    id: RcId
    title: Text
    text: Text
    type: ControlType
    implemented_by: list[SrsId] = Field(default_factory=list)
    status: Status

    def links(self) -> Iterator[Link]:
        for target in self.implemented_by:
            yield Link("implemented_by", "implemented_by", target, ("SRS",))


class Claim(_Strict):
    """``item`` is in ``state`` (see :mod:`.overclaim` for the states of each kind)."""

    item: Text
    state: Text


class BenefitRisk(_Strict):
    """The benefit-risk analysis and overall residual risk statement (ISO 14971 7.4, 8)."""

    id: ClassVar[str] = "BENEFIT-RISK"
    KIND: ClassVar[str] = "benefit_risk"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = ("benefits", "statement", "overall_residual_risk",
                                                     "overall_residual_risk_verdict")

    benefits: Prose
    statement: Prose
    overall_residual_risk: Prose
    #: The verdict the prose of ``overall_residual_risk`` explains; criterion 4 of the clause 9 review
    #: holds only for ``acceptable`` (review 133 defect 2: a verdict read from prose could be taken back).
    overall_residual_risk_verdict: OverallVerdict
    #: The state the prose gives each item it names; ``trace check`` compares them with the graph.
    claims: list[Claim] = Field(default_factory=list)

    def meaningful_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        fields = {name: data[name] for name in self.FINGERPRINT_FIELDS}
        if data["claims"]:
            fields["claims"] = data["claims"]
        return fields


class ModelArtefact(Item):
    """A locked model package as a traced item, taken from its ``manifest.json``: identity,
    file digests, training data manifest digest, metrics with confidence intervals and the
    thresholds found in the manifest (FDA AI-DSF draft: model description, performance)."""

    KIND: ClassVar[str] = "model"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "manifest_sha256", "files", "data_manifest_sha256", "metrics", "thresholds",
    )

    id: str
    name: Text
    version: Text
    package: Text
    manifest_sha256: Text
    files: dict[str, str]
    data_manifest_sha256: str | None
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    intended_use: str | None
    clinical_use: bool | None
    preprocessing_version: str | None
    postprocessing_version: str | None
    opset: int | None
    onnxruntime_version: str | None


class Review(_Strict):
    """One review record: who reviewed which item at which fingerprint, when, on which commit."""

    id: Text
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    by: Text
    date: Text
    commit: str | None
    #: Whether the reviewer is independent of the author (``trace review --independent``); absent
    #: on records written before the field existed (their ``by`` is read by a strict whitelist).
    independent: bool | None = None


#: Item kinds kept in lists, keyed by the prefix of their IDs.
ITEM_KINDS: dict[str, type[Item]] = {
    "UN": UserNeed, "SRS": SoftwareRequirement, "SI": SoftwareItem, "SOUP": SoupItem, "ANOM": Anomaly,
    "HAZ": Hazard, "RISK": HazardousSituation, "RC": RiskControl, "MODEL": ModelArtefact,
}
