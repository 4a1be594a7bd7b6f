"""What an action needs from its front end: the settings, where to report progress, and the
audit folder (the device's own by default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_ai.config import Settings

Progress = Callable[[int, int], None]
ProgressFactory = Callable[[str], Progress | None]


def no_progress(label: str) -> Progress | None:  # noqa: ARG001 - the signature of a ProgressFactory
    return None


@dataclass(frozen=True)
class Context:
    settings: Settings
    progress: ProgressFactory = no_progress
    audit_folder: Path | None = None
    status: Callable[[str], None] | None = None  # a long job's progress lines (batch.progress), for the operator

    def open_audit_log(self):  # noqa: ANN201 - AuditLog, imported lazily with the log's key store
        from device_ai.audit.log import AuditLog

        return AuditLog.open(self.audit_folder)

    def result_access(self):  # noqa: ANN201 - atomic_io.Access
        """Who may read analysis and explanation results (THR-018): the owner, or its group too."""
        from device_ai.atomic_io import result_access

        return result_access(self.settings.results_group_readable)

    def read_limits(self):  # noqa: ANN201 - ReadLimits
        from device_ai.dicom.reader import ReadLimits

        from device_ai.dicom.reader import MIB

        settings = self.settings
        return ReadLimits(max_file_bytes=settings.max_file_mb * MIB, max_files=settings.max_files,
                          max_inflated_bytes=settings.max_inflated_mb * MIB, max_value_bytes=settings.max_value_mb * MIB,
                          max_elements=settings.max_elements, max_values=settings.max_values,
                          max_input_value_bytes=settings.max_input_value_mb * MIB,
                          max_input_elements=settings.max_input_elements)
