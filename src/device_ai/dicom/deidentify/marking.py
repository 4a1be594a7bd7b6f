"""What a de-identifier must write into every instance it produces (PS3.15 E.1.1, E.2, E.3).

- Patient Identity Removed (0012,0062) = YES;
- De-identification Method (0012,0063), and its Code Sequence (0012,0064) with CID 7050
  code 113100 and one code per option applied (Clean Pixel Data only on an instance whose
  pixels a configured rule did clean, in both);
- Longitudinal Temporal Information Modified (0028,0303): REMOVED, MODIFIED or UNMODIFIED
  (E.2, E.3.6);
- the de-identifying equipment, as an item of Contributing Equipment Sequence (0018,A001)
  with Purpose of Reference (DCM 109104 "De-identifying Equipment") (PS3.3 C.7.5.1);
- a new File Meta Information group and an all-zero preamble (E.1.1: the originals can carry
  AE titles, implementation and private information).
"""

from __future__ import annotations

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from device_ai import __version__
from device_ai.dicom.deidentify.options import Option

IMPLEMENTATION_CLASS_UID = UID("2.25.229043189145473785409567262719127614121")
IMPLEMENTATION_VERSION_NAME = "DEVICE_AI_DEID1"  # SH, at most 16 characters
MANUFACTURER = "device_ai project"
MODEL_NAME = "device_ai de-identifier"


def _element(tag: int, vr: str, value: object) -> DataElement:
    # this module's own constants and texts, and UIDs the engine has written (keyed, or kept by
    # Retain UIDs as the input had them): not validated again per file (validation only warns)
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _item(*elements: DataElement) -> Dataset:
    return Dataset({element.tag: element for element in elements})


def _code(value: str, meaning: str) -> Dataset:
    return _item(_element(0x00080100, "SH", value), _element(0x00080102, "SH", "DCM"),
                 _element(0x00080104, "LO", meaning))


def method_text(options: frozenset[Option], edition: str) -> str:
    """The De-identification Method text (LO, at most 64 characters)."""
    others = sorted(o.cli_name for o in options if o is not Option.BASIC)
    names = "+".join(others)
    text = f"device_ai {__version__} PS3.15 {edition} Basic" + (f"+{names}" if names else "")
    return text if len(text) <= 64 else f"device_ai {__version__} PS3.15 {edition} Basic+{len(others)} options"


# What mark() writes into the PS3.15 marking attributes whatever the input, by the top-level
# attribute (the code sequence: its items' values); the leak self-check does not take these values
# there for the input's (campaign 11: Patient Identity Removed carried as PN 'YES' made a name
# needle that the 'YES' written here matched)
DEVICE_MARKING_VALUES: dict[int, frozenset[str]] = {
    0x00120062: frozenset({"YES"}),  # Patient Identity Removed
    0x00280303: frozenset({"UNMODIFIED", "MODIFIED", "REMOVED"}),  # Longitudinal Temporal Information Modified
    0x00120064: frozenset({"DCM", *(o.code for o in Option), *(o.meaning for o in Option)}),  # Method Code Sequence
}


def mark(ds: Dataset, options: frozenset[Option], edition: str, pixels_cleaned: bool) -> set[str]:
    """Write the de-identification attributes PS3.15 requires into ``ds``; returns the texts
    written, which the leak self-check must not mistake for input values (an input whose
    Software Versions happens to equal this software's version is not a leak)."""
    applied = {Option.BASIC} | set(options)
    if not pixels_cleaned:
        # never claim pixel cleaning that did not happen, in the text or the codes
        applied.discard(Option.CLEAN_PIXEL_DATA)
    ds[0x00120062] = _element(0x00120062, "CS", "YES")  # Patient Identity Removed
    ds[0x00120063] = _element(0x00120063, "LO", method_text(frozenset(applied), edition))  # De-identification Method
    ds[0x00120064] = _element(0x00120064, "SQ", Sequence(  # De-identification Method Code Sequence
        [_code(o.code, o.meaning) for o in sorted(applied, key=lambda o: o.code)]))
    if Option.RETAIN_LONG_FULL_DATES in options:
        modified = "UNMODIFIED"
    elif Option.RETAIN_LONG_MODIFIED_DATES in options:
        modified = "MODIFIED"
    else:
        modified = "REMOVED"
    ds[0x00280303] = _element(0x00280303, "CS", modified)  # Longitudinal Temporal Information Modified
    if pixels_cleaned:
        ds[0x00280301] = _element(0x00280301, "CS", "NO")  # Burned In Annotation
    equipment = _item(_element(0x00080070, "LO", MANUFACTURER), _element(0x00081090, "LO", MODEL_NAME),
                      _element(0x00181020, "LO", __version__),  # Software Versions
                      _element(0x0040A170, "SQ", Sequence([_code("109104", "De-identifying Equipment")])))
    contributing = list(ds.get("ContributingEquipmentSequence", Sequence([])))
    ds[0x0018A001] = _element(0x0018A001, "SQ", Sequence(contributing + [equipment]))  # Contributing Equipment Seq.
    return {str(ds.DeidentificationMethod), MANUFACTURER, MODEL_NAME, __version__, "De-identifying Equipment",
            *(o.meaning for o in applied)}


def new_file_meta(ds: Dataset, transfer_syntax: UID) -> FileMetaDataset:
    """A fresh File Meta group (PS3.10 7.1) naming this de-identifier, nothing of the source."""
    return FileMetaDataset({element.tag: element for element in (
        _element(0x00020002, "UI", ds.SOPClassUID),  # Media Storage SOP Class UID
        _element(0x00020003, "UI", ds.SOPInstanceUID),  # Media Storage SOP Instance UID
        _element(0x00020010, "UI", transfer_syntax),
        _element(0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        _element(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME))})
