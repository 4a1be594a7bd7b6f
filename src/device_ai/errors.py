"""One exception hierarchy with stable error codes (DESIGN.md, Conventions).

Every expected failure raises a :class:`DeviceAIError` child. The message says what was
wrong; ``hint`` says what the operator can do about it. The CLI prints ``code: message``
and the hint, never a traceback, and exits with ``exit_code``.
"""

from __future__ import annotations


class DeviceAIError(Exception):
    """Base of every expected error. ``code`` is stable across releases (documented)."""

    code = "DAI-000"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """``CODE: message`` on one line, for logs and the CLI."""
        return f"{self.code}: {' '.join(self.message.split())}"


class ConfigError(DeviceAIError):
    """The configuration or a command-line argument is invalid."""

    code = "DAI-100"
    exit_code = 2


class InputRefused(DeviceAIError):
    """The input was refused; nothing was written.

    ``problems`` holds every problem found, one line each, so one run shows every fix to
    make: ``<file>: <what is wrong>`` for a file, ``<file>, <file>, <file> and N more
    (M files): <what is wrong>`` for one problem shared by several files, ``series i of N:
    ...`` for each series of an input holding several, and a last ``and N more problems``
    line when the list was cut (``device_ai.dicom.series``). The message is a one-line
    summary; when ``problems`` holds a single line, the message states it in full (so a
    front end needs to list ``problems`` only when there are two or more). It may be empty
    for a refusal with a single cause (a reading limit, a missing input). File names are the
    user's own input, for the terminal: never copy ``message`` or ``problems`` into audit
    entries (the code only).
    """

    code = "DAI-200"
    exit_code = 3

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class DicomReadError(InputRefused):
    """The file is not a readable DICOM file within the reading limits."""

    code = "DAI-201"


class ReadLimitExceeded(DicomReadError):
    """The file exceeds a reading limit (size, depth, declared length, inflation)."""

    code = "DAI-202"


class ContractViolation(InputRefused):
    """The input is readable DICOM but outside the model's intended use (input contract)."""

    code = "DAI-210"


class TrainingDataRefused(InputRefused):
    """A folder of labelled DICOM given to ``device-ai train --data`` was refused before any
    training; nothing was trained or written. ``problems`` lists every problem found."""

    code = "DAI-260"


class TrainingDataEmpty(TrainingDataRefused):
    """The training folder holds no CT series (or no files at all)."""

    code = "DAI-261"


class SegReferenceError(TrainingDataRefused):
    """A DICOM SEG references instances that are not in the folder, or a CT series has no SEG
    (or more than one)."""

    code = "DAI-262"


class UnknownSegmentCode(TrainingDataRefused):
    """A SEG segment's Segmented Property Type code is not one of the labels the model is
    trained for (labels are mapped by code, never by segment number)."""

    code = "DAI-263"


class SplitOverlap(TrainingDataRefused):
    """A patient would be in two splits (split file), or the same images appear in two series
    or under two patients, so training data could leak into the held-out patients."""

    code = "DAI-264"


class SplitFileError(TrainingDataRefused):
    """The split file is not readable or does not match the folder (unknown split name, a
    patient that is not in the folder, a folder patient it does not list, an empty split)."""

    code = "DAI-265"


class KeyBackupUnreadable(InputRefused):
    """A key backup file (``keys verify-backup``, ``keys restore``) is not one this software can
    open: not a key backup, another format version, cut short, or its authentication failed (a
    wrong passphrase, or any byte altered); nothing was written (SRS-223)."""

    code = "DAI-270"


class KeyBackupIncomplete(DeviceAIError):
    """``keys verify-backup`` completed, and the backup does not hold every key of the device as
    it is now (a key differs, or is missing in the backup; the report says which, SRS-223)."""

    code = "DAI-271"
    exit_code = 1


class ModelIntegrityError(DeviceAIError):
    """The model package is missing, altered, unsigned or untrusted; it was not loaded."""

    code = "DAI-300"
    exit_code = 4


class NotForClinicalUse(ModelIntegrityError):
    """The package verified, but its manifest says it is not for clinical use (clinical_use
    false: the demonstration model) and the device is not in demonstration mode: it is not
    run on what may be patient data (RC-035)."""

    code = "DAI-320"


class CheckpointMismatch(ModelIntegrityError):
    """A backbone checkpoint's digest matched, but its keys or shapes are not those of the
    configured backbone (``problems`` names every missing, unexpected or misshapen key); it
    was not loaded."""

    code = "DAI-310"

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class InstalledSoftwareAltered(DeviceAIError):
    """``device-ai self-check``: a file of the installed device software or of a runtime
    dependency differs from its installer's RECORD, is missing or unreadable, or other accounts
    could write it or its folder, or a distribution cannot be verified (an editable install, no
    RECORD, not installed); SRS-230."""

    code = "DAI-330"
    exit_code = 14


class InferenceError(DeviceAIError):
    """The locked engine failed while running a verified model."""

    code = "DAI-400"
    exit_code = 5


class AcceleratorUnavailable(InferenceError):
    """Inference on an accelerator (CUDA) was configured, but this ONNX Runtime cannot run the
    model there (no CUDA execution provider in the installed build, or its libraries did not
    load and ONNX Runtime fell back to another provider). Nothing ran: the device never runs
    silently on another provider than the one configured."""

    code = "DAI-401"


class OutputError(DeviceAIError):
    """An output could not be written; nothing partial was left behind."""

    code = "DAI-500"
    exit_code = 6


class OutputRefused(OutputError):
    """The output location was refused before any work was done (exists, is a file, is not
    writable); nothing was read or written."""

    code = "DAI-501"


class DependencyMissing(DeviceAIError):
    """An optional capability needs a package that is not installed (e.g. the [train] extra)."""

    code = "DAI-600"
    exit_code = 2


class AuditError(DeviceAIError):
    """The audit trail could not be written or read; the audited action fails with it."""

    code = "DAI-700"
    exit_code = 7


class AuditCheckpointFailed(AuditError):
    """An entry was appended and is durable, but the signed checkpoint after it (or its copy to
    the second location) could not be written; ``entry_seq`` is that durable entry."""

    code = "DAI-702"

    def __init__(self, message: str, *, entry_seq: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.entry_seq = entry_seq


class AuditIntegrityError(AuditError):
    """The audit log or a checkpoint does not verify."""

    code = "DAI-701"
    exit_code = 8


class NoPublishingEntry(AuditError):
    """``audit verify-results``: the audit log holds no success entry that lists the files of the
    folder as published (no log at all, or none of its entries names these files; SRS-222)."""

    code = "DAI-710"


class ResultsNotAsPublished(AuditIntegrityError):
    """``audit verify-results``: a file of the result folder is not as the device published it
    (altered, missing, unreadable, or not published by the device); ``problems`` names each."""

    code = "DAI-711"

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class ExportNotVerified(AuditIntegrityError):
    """``audit verify-export``: an audit export is not, record for record, what the device exported
    and proved: a record edited, removed, added or moved, a proof bundle whose leaf bytes or proofs
    were altered, or a checkpoint the verifier key did not sign. ``position`` is the first failing
    record's place in the export (1 = its first line), None when the checkpoint or the bundle as a
    whole fails (SRS-224)."""

    code = "DAI-712"

    def __init__(self, message: str, *, position: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.position = position


class TraceabilityError(DeviceAIError):
    """A requirement, risk or SOUP item, a review record or a test-result file is malformed
    or refers to an item that does not exist (IEC 62304 5.1.1 c, 5.2.6 e; ISO 14971 4.5).

    ``problems`` holds one ``file:line: ID: what is wrong`` line per problem, all of them,
    so one run shows every fix to make.
    """

    code = "DAI-900"
    exit_code = 12

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class TraceGateFailed(DeviceAIError):
    """``device-ai trace check`` found gaps in the evidence (each printed on its own line, or
    carried in ``problems``)."""

    code = "DAI-910"
    exit_code = 13

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class DeidentificationFailed(DeviceAIError):
    """The de-identification self-check found identifying input values in the output (PS3.15
    E.1.1). Its code and exit status report a run whose leaking files were held back
    (quarantined) while the others were published."""

    code = "DAI-550"
    exit_code = 11


class DeidentificationConfigError(ConfigError):
    """The de-identification options are invalid: an unknown option name, or options that
    exclude each other (PS3.15 E.3.6: the two Retain Longitudinal Temporal Information options)."""

    code = "DAI-110"


class ExplanationRefused(DeviceAIError):
    """No explanation: it would not explain the locked result (the torch twin disagrees with
    the locked engine for that input, SRS-033)."""

    code = "DAI-800"
    exit_code = 9


class AcceptanceNotMet(DeviceAIError):
    """``validate`` completed, and the study's acceptance criteria were not met (the report
    says which); the run itself is recorded as a completed action."""

    code = "DAI-920"
    exit_code = 1


class InternalError(DeviceAIError):
    """A defect of the device, not of the input: reported as ``DAI-999`` with exit 70 and the
    traceback only under ``--debug``. Raised directly for broken internal invariants; any other
    unexpected exception is reported under this code by the CLI."""

    code = "DAI-999"
    exit_code = 70


class Interrupted(DeviceAIError):
    """The operator interrupted the command (Ctrl-C); nothing partial was kept."""

    code = "DAI-130"
    exit_code = 130
