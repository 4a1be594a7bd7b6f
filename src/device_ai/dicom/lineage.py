"""A result that replaces an earlier result of the same series (issue 15 F3): the node analyses a
series again when an instance arrives after its results were made (a new *generation*), and the
new SEG and SR must not look like an unrelated second opinion beside the first.

The new results say which earlier result they replace, in terms a viewer shows: their Series
Description ends with ``#N replaces #M`` (N: this analysis of the series, M: the one replaced),
and the SR lists the replaced SR in its Predecessor Documents Sequence (PS3.3 C.17.2.1), which
viewers use to show an amended report. The earlier SR cannot be changed (it was delivered);
its UIDs are derived from the replaced generation's seed (:func:`device_ai.dicom.uids.derived_uid`),
so they are known even after its files were deleted by the node's retention.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import Comprehensive3DSRStorage

from device_ai.dicom.uids import derived_uid

LO_MAX = 64  # Series Description (LO): a longer value is cut before the suffix, never the suffix


@dataclass(frozen=True)
class Replaces:
    number: int  # this analysis of the series (the node's generation), > previous
    previous: int  # the analysis whose results this one replaces
    previous_seed: str  # the UID seed of the replaced results

    def __post_init__(self) -> None:
        if not 0 < self.previous < self.number:
            raise ValueError(f"result #{self.number} cannot replace #{self.previous}")

    def suffix(self) -> str:
        return f" #{self.number} replaces #{self.previous}"

    def predecessor(self, study_instance_uid: str) -> Dataset:
        """What highdicom needs of the replaced SR for the Predecessor Documents Sequence."""
        ds = Dataset()
        ds.StudyInstanceUID = study_instance_uid
        ds.SeriesInstanceUID = derived_uid(self.previous_seed, "sr-series")
        ds.SOPInstanceUID = derived_uid(self.previous_seed, "sr-instance")
        ds.SOPClassUID = Comprehensive3DSRStorage
        return ds


def describe(subject: str, role: str, replaces: Replaces | None) -> str:
    """``<subject> <role>[ #N replaces #M]`` in 64 characters: a long subject (the algorithm's
    name and version) is cut, never the role (SEG and SR stay told apart) nor the suffix."""
    tail = f" {role}" + (replaces.suffix() if replaces is not None else "")
    return subject[:max(0, LO_MAX - len(tail))] + tail
