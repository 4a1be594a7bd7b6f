"""What an audit entry names: studies and series by keyed pseudonym, the model by digest; and what
an Analysis Run entry says of a published analysis (``analyze``, ``analyze --batch``)."""

from __future__ import annotations

from device_ai.audit.entry import AuditObject
from device_ai.pseudonyms import pseudonym


def series_objects(series, engine) -> tuple[AuditObject, ...]:  # noqa: ANN001
    return (AuditObject(kind="study", id=pseudonym("study", series.study_instance_uid)),
            AuditObject(kind="series", id=pseudonym("series", series.series_instance_uid)),
            AuditObject(kind="model", id=engine.package.manifest_sha256))


def analysis_details(summary: dict) -> dict[str, str]:
    """The Analysis Run entry's details of a published analysis."""
    return {"slices": str(summary["input"]["slices"]), "lesion_count": str(summary["lesion_count"])}
