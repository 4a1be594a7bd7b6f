"""Typed items of ``security/components.yaml``: each runtime component of the SBOM with the fields
FDA section 524B asks for beyond name and version (the premarket cybersecurity guidance's SBOM
elements E, F and G): its level of support, its end-of-support date, and a dated assessment of
its known vulnerabilities (a VEX: for each vulnerability affecting the version, CycloneDX's
``analysis`` state and justification; or an explicit statement that none is known in the named
sources as of the date).

Why a file of its own and not more fields in ``traceability/soup.yaml``: the SOUP file is the
IEC 62304 curation of the device's direct dependencies (17 items, functional and performance
requirements); the 524B fields apply to every component the device ships, transitive
dependencies, the interpreter, the native libraries inside wheels and the model included, and they
age on a different clock (monitoring, :mod:`.supply_chain`).

A component is named as the SBOM names it (``name`` and the exact ``version`` assessed); the ID is
``CMP-<name>`` (a suffix where one name has two versions). The support and VEX fields may be
absent so that an unassessed component still loads: ``trace check`` lists what it lacks
(:mod:`.supply_chain`), a gap with ``--release``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from device_ai.regulatory.items import Item, Text, _id_type, _Strict

ComponentId = _id_type("CMP")
#: The support the component's supplier gives the installed release line (guidance element E).
SupportLevel = Literal["actively-maintained", "security-fixes-only", "end-of-life", "manufacturer"]
#: CycloneDX 1.6 ``vulnerability.analysis.state`` and ``justification`` (the VEX vocabulary).
VexState = Literal["resolved", "resolved_with_pedigree", "exploitable", "in_triage", "false_positive", "not_affected"]
VexJustification = Literal[
    "code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency",
    "requires_environment", "protected_by_compiler", "protected_at_runtime", "protected_at_perimeter",
    "protected_by_mitigating_control",
]


def _date_text(value: Any) -> Any:
    # YAML reads an unquoted 2026-12-04 as a date: keep it as its ISO text
    return value.isoformat() if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else value


_YYYY_MM_DD = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _iso_date(value: str) -> str:
    # the form first: date.fromisoformat also reads week ("2026-W45-1"), ordinal ("2026-310") and
    # basic ("20261105") dates, which the SBOM's date-time does not accept (review 149 D2)
    if not _YYYY_MM_DD.fullmatch(value):
        raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD)")
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD, a day of the calendar)") from exc
    return value


IsoDate = Annotated[str, BeforeValidator(_date_text), AfterValidator(_iso_date)]


class KnownVulnerability(_Strict):
    """One published vulnerability that affects the assessed version, and its analysis."""

    id: Text  # CVE-..., GHSA-..., PYSEC-...
    source: Text  # where it is published (an advisory URL)
    state: VexState
    justification: VexJustification | None = None
    detail: Text

    @model_validator(mode="after")
    def _not_affected_says_why(self) -> KnownVulnerability:
        if self.state == "not_affected" and self.justification is None:
            raise ValueError(f"{self.id}: not_affected needs a justification (CycloneDX: why the device is not "
                             "affected)")
        return self


class VexAssessment(_Strict):
    """A dated vulnerability assessment of one component version: who, when, which sources, and
    every known vulnerability with its state; or, with none, the explicit statement that none is
    known in those sources as of the date."""

    date: IsoDate
    assessor: Text
    sources: list[Text] = Field(min_length=1)
    vulnerabilities: list[KnownVulnerability] = Field(default_factory=list)
    no_known_vulnerability: Text | None = None

    @model_validator(mode="after")
    def _statement_or_list(self) -> VexAssessment:
        if not self.vulnerabilities and self.no_known_vulnerability is None:
            raise ValueError("an assessment lists its vulnerabilities or states no_known_vulnerability (which "
                             "sources, as of the date)")
        if self.vulnerabilities and self.no_known_vulnerability is not None:
            raise ValueError("no_known_vulnerability contradicts the vulnerabilities listed")
        ids = [v.id for v in self.vulnerabilities]
        if len(set(ids)) != len(ids):
            raise ValueError("a vulnerability is listed twice")
        return self


class RuntimeComponent(Item):
    """A runtime component of the SBOM with its support level, end of support and VEX."""

    KIND: ClassVar[str] = "sbom_component"
    FINGERPRINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "name", "version", "supplier", "support_level", "support_source", "end_of_support", "end_of_support_note",
        "vex",
    )

    id: ComponentId
    name: Text
    version: Text
    supplier: Text | None = None
    support_level: SupportLevel | None = None
    #: Where the support level and end of support were read (a policy page, a release schedule).
    support_source: Text | None = None
    end_of_support: IsoDate | None = None
    #: Required without a date: why there is none ("no published date", with the policy cited).
    end_of_support_note: Text | None = None
    vex: VexAssessment | None = None
