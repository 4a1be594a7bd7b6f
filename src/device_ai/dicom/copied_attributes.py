"""The attributes a result copies from its source images, checked before inference.

SEG and SR objects repeat the source's Patient and General Study modules and reference its
UIDs (PS3.3 C.7.1.1, C.7.2.1). A value that is malformed there (a character set no decoder
knows, a date that is not a calendar date, a UID that is not a UID) would only surface when the
result is written, after inference, as a device defect; it is the input's problem, so it is
refused up front with the file and attribute named: every root attribute of the Patient and Study
modules (what highdicom copies), checked for its VR and for a single value where PS3.6 allows one.
``inference.analyze.preflight_outputs`` is the backstop for what only the writers know. A Type 2 attribute the source omits is
written empty in the result, as PS3.5 §7.4.2 allows for Type 2 (the source file is untouched).
"""

from __future__ import annotations

from functools import cache

from pydicom import config
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VM
from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM, validate_value

# Patient (C.7.1.1) and General Study (C.7.2.1) Type 2 attributes every result repeats.
TYPE2_COPIED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
)
# Values a result copies or references; each must be valid for its VR.
COPIED_VALUES = TYPE2_COPIED + (
    "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID", "SOPClassUID",
)
# Geometry read from every image (by the series and by the SEG's plane positions): one value each.
USED_SINGLE_VALUES = ("SpacingBetweenSlices", "SliceThickness", "RescaleSlope", "RescaleIntercept")
_PARSED = {"DA": DA, "TM": TM, "DT": DT}  # regular expressions pass 20261345; parsing does not


@cache
def repeated_by_results(sop_class_uid: str) -> tuple[str, ...]:
    """Every root attribute of the Patient and Study modules of ``sop_class_uid``'s IOD: what
    highdicom copies into a SEG or SR made from such an image (its own module tables decide, so
    this list follows highdicom; they are semi-private, hence the fallback)."""
    try:
        from highdicom._standard_utils import get_iod_module_map, get_module_attribute_map, get_sop_class_iod_map

        modules = [m["key"] for m in get_iod_module_map()[get_sop_class_iod_map()[sop_class_uid]]
                   if m["ie"] in ("Patient", "Study")]
        attributes = get_module_attribute_map()
        return tuple(dict.fromkeys(str(item["keyword"]) for key in modules
                                   for item in attributes[key] if not item["path"]))
    except (ImportError, KeyError):
        return COPIED_VALUES


def _value_problem(ds: Dataset, keyword: str) -> str | None:
    if keyword not in ds:
        return None
    element = ds.data_element(keyword)
    if element is None or element.value in (None, "") or element.VR == "SQ":
        return None
    if element.VM > 1 and dictionary_VM(element.tag) == "1":
        return f"{keyword} holds {element.VM} values; DICOM allows one (PS3.6)"
    values = element.value if element.VM > 1 else [element.value]
    for value in values:
        text = str(value)
        try:
            validate_value(element.VR, text, config.RAISE)
            if element.VR in _PARSED:
                _PARSED[element.VR](text)
        except (ValueError, TypeError, OverflowError):
            return f"{keyword} {text[:40]!r} is not a valid {element.VR} value"
    return None


def copied_attribute_problems(ds: Dataset) -> list[str]:
    """One line per malformed value a result would copy (empty when all are usable)."""
    problems = []
    charsets = ds.get("SpecificCharacterSet")
    if charsets is not None:
        for charset in [charsets] if isinstance(charsets, str) else list(charsets):
            if str(charset).strip() not in python_encoding:
                problems.append(f"SpecificCharacterSet {str(charset)[:40]!r} is not a DICOM character set "
                                "(PS3.3 C.12.1.1.2)")
    repeated = repeated_by_results(str(ds.get("SOPClassUID", "")))
    for keyword in dict.fromkeys(COPIED_VALUES + repeated + USED_SINGLE_VALUES):
        problem = _value_problem(ds, keyword)
        if problem:
            problems.append(problem)
    return problems


def fill_empty_type2(ds: Dataset) -> list[str]:
    """Add each omitted Type 2 attribute, empty, to the in-memory data set; returns their names."""
    missing = [keyword for keyword in TYPE2_COPIED if keyword not in ds]
    for keyword in missing:
        setattr(ds, keyword, "")
    return missing
