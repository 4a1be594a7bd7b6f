"""What the node's Storage SCP accepts and answers: the data its conformance statement is made of
(issue 15 items 1 and 6; SRS-090, SRS-091, SRS-094).

SOP classes: the model's intended-use inputs only. The input contract
(:mod:`device_ai.dicom.contract`) accepts CT Image Storage, single-frame; Enhanced CT Image
Storage (multi-frame) is outside it, so the node does not accept it either: a sender learns at
association time (presentation context rejected) instead of after analysis.

Transfer syntaxes: those the reader decodes in this installation without loss. Native
(implicit and explicit VR little endian), deflated explicit VR little endian (inflated with a
cap by the reader), and the lossless compressions whose pydicom decoder ships with the
device's dependencies: RLE Lossless (pydicom), JPEG-LS Lossless (pyjpegls, via highdicom) and
JPEG 2000 Lossless (Pillow). Not accepted: lossy syntaxes (the model was validated on
lossless pixel values), explicit VR big endian (retired), JPEG Lossless process 14 (no decoder
installed), JPIP and video syntaxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from device_ai.dicom.contract import CT_IMAGE_STORAGE
from device_ai.errors import DicomReadError
from device_ai.node.spool import InstanceKey

ACCEPTED_SOP_CLASSES: tuple[str, ...] = (str(CTImageStorage),)
assert ACCEPTED_SOP_CLASSES == (CT_IMAGE_STORAGE,)  # the contract's input, nothing else

ACCEPTED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    str(ImplicitVRLittleEndian),
    str(ExplicitVRLittleEndian),
    str(DeflatedExplicitVRLittleEndian),
    str(RLELossless),
    str(JPEGLSLossless),
    str(JPEG2000Lossless),
)

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"  # Verification SOP Class (C-ECHO)

# C-STORE response statuses (PS3.4 Table B.2-1; PS3.7 C.4.1.1.4 for 0x0124). The 0xCxxx codes
# below are this device's meanings inside the standard's "Error: Cannot understand" range.
SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124  # Refused: Not Authorized (calling AE title not allowed)
OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources (spool disk nearly full, write failed): retry later
DATASET_MISMATCH = 0xA900  # Error: Data Set Does Not Match SOP Class (class or instance UID differs)
CANNOT_UNDERSTAND = 0xC000  # Error: Cannot Understand (not readable within the reading limits, UIDs missing)
TOO_LARGE = 0xC001  # Error: Cannot Understand, device meaning: larger than node_max_instance_mb (usually
# the association is aborted before the instance is complete; this status when the last fragment crosses the limit)

STATUS_MEANINGS: dict[int, str] = {
    SUCCESS: "Success: the instance is durable in the spool",
    NOT_AUTHORIZED: "Refused: Not Authorized (calling AE title not in the allow-list)",
    OUT_OF_RESOURCES: "Refused: Out of Resources (spool disk nearly full or not writable); retry later",
    DATASET_MISMATCH: "Error: Data Set Does Not Match SOP Class (SOP Class or Instance UID differs from the request)",
    CANNOT_UNDERSTAND: "Error: Cannot Understand (not readable DICOM within the reading limits, or a required UID "
                       "missing or malformed)",
    TOO_LARGE: "Error: Cannot Understand (instance larger than the configured maximum)",
}


IDENTIFYING_UIDS = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")


@dataclass(frozen=True)
class Identified:
    """What an instance written to the spool's ``tmp/`` is (:func:`identify`): its UIDs and
    transfer syntax, or why it cannot be taken (``problem``, the device's fixed text, and the
    typed ``code``; ``error`` holds the reader's error, whose message names the file)."""

    uids: dict[str, str] = field(default_factory=dict)
    transfer_syntax: str = ""
    problem: str = ""
    code: str = ""
    error: DicomReadError | None = None

    def key(self) -> InstanceKey:
        from device_ai.pseudonyms import pseudonym

        return InstanceKey(study=pseudonym("study", self.uids["StudyInstanceUID"]),
                           series=pseudonym("series", self.uids["SeriesInstanceUID"]),
                           instance=pseudonym("instance", self.uids["SOPInstanceUID"]))


def identify(path: Path, limits) -> Identified:  # noqa: ANN001 - dicom.reader.ReadLimits
    """Read an instance back with the device's reader and its limits (pixel data pre-scanned,
    not decoded) and take its four identifying UIDs; what ``serve`` and ``watch`` both check
    before :meth:`Spool.commit`."""
    from device_ai.dicom.reader import read_dataset

    try:
        ds = read_dataset(path, limits, stop_before_pixels=True)
    except DicomReadError as exc:
        return Identified(problem=f"not readable ({exc.code})", code=exc.code, error=exc)
    uids = {}
    for keyword in IDENTIFYING_UIDS:
        value = UID(str(ds.get(keyword, "") or "").strip())
        if not value or not value.is_valid:
            return Identified(uids=uids, problem=f"{keyword} missing or not a valid UID", code="DAI-201")
        uids[keyword] = str(value)
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    return Identified(uids=uids, transfer_syntax=syntax)
