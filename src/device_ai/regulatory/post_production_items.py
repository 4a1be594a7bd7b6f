"""The production and post-production plan of the risk file (``risk/post_production.yaml``;
ISO 14971:2019 clause 10, ISO/TR 24971 clause 10), typed and validated on load (SRS-227).

The plan says what information about the device in production and in use is collected
(``sources``, 10.2), by whom and how often it is reviewed, what sends it back into the risk
analysis (``review_criteria``, 10.3), what is done then (``actions``, 10.4), who is responsible
(roles, 4.4 b) and where the results are recorded; and whether it is *in effect*. A plan may be
written before anyone works to it (a development project without a manufacturer): ``in_effect``
says so and ``state`` says why and what brings it into effect.

The model is strict like the other items (:mod:`.items`): unknown or missing fields are refused
with ``file:line``. Whether the plan has every part clause 10 needs (every kind of source,
criterion and action in :data:`REQUIRED_SOURCES`, :data:`REQUIRED_CRITERIA`,
:data:`REQUIRED_ACTIONS`) is judged on the graph (:func:`device_ai.regulatory.post_production.missing_parts`),
so that the gate lists every missing part at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from device_ai.regulatory.items import Prose, Responsibility, Text, _Strict

SourceKind = Literal["production", "complaints", "service", "device_records", "field_performance",
                     "vulnerabilities", "literature", "state_of_the_art"]
CriterionKind = Literal["new_hazard", "changed_probability", "residual_not_acceptable", "outside_validated_range",
                        "state_of_the_art_changed"]
ActionKind = Literal["update_risk_file", "capa", "field_safety_notice", "model_withdrawal"]

#: The kinds of information clause 10.2 asks for, each with what it covers here; a plan names a
#: source of every kind.
REQUIRED_SOURCES: Mapping[str, str] = {
    "production": "information from production (for software: the release build and the installation; 10.2 a)",
    "complaints": "complaints and user feedback (10.2 b)",
    "service": "service and installation reports (10.2 c)",
    "device_records": "the device's own records of refusals and failures (its audit trail)",
    "field_performance": "field performance of the model against its validation figures",
    "vulnerabilities": "vulnerability monitoring (by reference to the vulnerability and patch management plan)",
    "literature": "publicly available information: literature and similar devices (10.2 e)",
    "state_of_the_art": "the generally acknowledged state of the art (10.2 f)",
}
#: What sends information back into the risk analysis (10.3); a plan names every one.
REQUIRED_CRITERIA: Mapping[str, str] = {
    "new_hazard": "a hazard or hazardous situation not yet recognised",
    "changed_probability": "an estimated probability (or severity) no longer holds",
    "residual_not_acceptable": "a residual risk or the overall residual risk no longer acceptable",
    "outside_validated_range": "a field figure outside the validated range",
    "state_of_the_art_changed": "the state of the art changed",
}
#: What may be done (10.4); a plan names every one.
REQUIRED_ACTIONS: Mapping[str, str] = {
    "update_risk_file": "update the risk management file",
    "capa": "corrective and preventive action",
    "field_safety_notice": "field safety notice",
    "model_withdrawal": "withdrawal of a model package",
}
#: The file whose monitoring part the vulnerabilities source refers to (not repeated here).
SECURITY_PLAN_FILE = "security/plan.yaml"


def _repository_path(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/") or "\\" in value:
        raise ValueError(f"{value!r} must be a path inside the repository (like security/plan.yaml)")
    return value


RepositoryPath = Annotated[str, Field(min_length=1), AfterValidator(_repository_path)]


class InformationSource(_Strict):
    """One kind of production or post-production information: what, who collects it, how often
    it is reviewed, and the project files that hold the part by reference."""

    kind: SourceKind
    information: Text
    collected_by: Text
    reviewed: Text
    references: list[RepositoryPath] = Field(default_factory=list)


class ReviewCriterion(_Strict):
    """When collected information goes back into the risk analysis (ISO 14971 10.3)."""

    kind: CriterionKind
    text: Text


class PostProductionAction(_Strict):
    """What is done when information is relevant to safety (ISO 14971 10.4), and which role decides."""

    kind: ActionKind
    text: Text
    decided_by: Text


class PostProductionPlan(_Strict):
    """The production and post-production plan (ISO 14971 10): every part is required, and each
    role a source or action names is one of ``responsibilities`` (checked by the loader)."""

    id: ClassVar[str] = "POST-PRODUCTION-PLAN"
    KIND: ClassVar[str] = "post_production_plan"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "scope", "in_effect", "state", "responsibilities", "sources", "review_criteria", "actions", "records",
    )

    scope: Prose
    #: Whether anyone collects and reviews the information yet; ``state`` says why (not) and what
    #: brings the plan into effect.
    in_effect: bool
    state: Prose
    responsibilities: list[Responsibility] = Field(min_length=1)
    sources: list[InformationSource] = Field(min_length=1)
    review_criteria: list[ReviewCriterion] = Field(min_length=1)
    actions: list[PostProductionAction] = Field(min_length=1)
    #: Where the results of each review are recorded (10.4: in the risk management file).
    records: Prose

    def roles(self) -> list[tuple[str, int, str]]:
        """``(list field, index, role)`` for each role a source or an action names."""
        return [*(("sources", i, s.collected_by) for i, s in enumerate(self.sources)),
                *(("actions", i, a.decided_by) for i, a in enumerate(self.actions))]

    def meaningful_fields(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        return {name: data[name] for name in self.FINGERPRINT_FIELDS}
