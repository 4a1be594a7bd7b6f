"""What an audit entry names: studies and series by keyed pseudonym, the model by digest."""

from __future__ import annotations

from device_ai.audit.entry import AuditObject
from device_ai.pseudonyms import pseudonym


def series_objects(series, engine) -> tuple[AuditObject, ...]:  # noqa: ANN001
    return (AuditObject(kind="study", id=pseudonym("study", series.study_instance_uid)),
            AuditObject(kind="series", id=pseudonym("series", series.series_instance_uid)),
            AuditObject(kind="model", id=engine.package.manifest_sha256))
