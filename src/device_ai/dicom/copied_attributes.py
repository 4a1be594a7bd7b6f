"""The attributes a result copies from its source images, checked before inference.

SEG and SR objects repeat the source's Patient and General Study modules and reference its
UIDs (PS3.3 C.7.1.1, C.7.2.1). A value that is malformed there (a character set no decoder
knows, a date that is not a calendar date, a UID that is not a UID) would only surface when the
result is written, after inference, as a device defect; it is the input's problem, so it is
refused up front with the file and attribute named: every root attribute of the Patient and Study
modules (what highdicom copies), checked for its VR and for a single value where PS3.6 allows one.
``inference.analyze.preflight_outputs`` is the backstop for what only the writers know. A Type 2 attribute the source omits is
written empty in the result, as PS3.5 §7.4.2 allows for Type 2 (the source file is untouched).

**Decision (text the results repeat, issue 22 review item 4):** a text value (PN, LO, SH, UC,
ST, LT, UT, in sequences too) whose bytes are not valid in the declared Specific Character Set
is refused, not copied. pydicom decodes such bytes with U+FFFD replacement characters (or, for an
escape sequence the character set does not define, leaves the ESC in the text), and the writers
would encode that text into the SEG and SR: a result naming the patient differently from its
source (a patient-identification hazard). Copying the raw bytes instead would need a second
encoder beside pydicom's and highdicom's and could not be shown exact for every ISO 2022
combination; refusing is the conservative choice. Control characters are refused too: PS3.5
6.1.3 and Table 6.2-1 allow none in PN, LO, SH and UC (ESC only inside ISO 2022 code
extensions, which decoding consumes), and only TAB, LF, FF and CR in ST, LT and UT; trailing NUL
padding is dropped by pydicom and not a difference. A value decoded without replacement is
written back with the source's character set (highdicom copies it), so the results repeat it
character for character (byte for byte for the ISO_IR 100, ISO_IR 192 and ISO 2022 IR 87 values
of tests/dicom/test_copied_text.py; another ISO 2022 combination may get other escape sequences
for the same characters).
Without a Specific Character Set (or with ISO_IR 6 / ISO 2022 IR 6 alone) the repertoire is the
default one, ASCII (PS3.5 6.1.2.2); pydicom still decodes other bytes as Latin-1, so a byte above
0x7F there is not valid in the declared character set either and is refused by the same rule (the
results would otherwise carry a Latin-1 reading under no character set, which a reader may take
differently).
"""

from __future__ import annotations

from functools import cache

from pydicom import config
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VM, dictionary_VR
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
# The acquisition equipment highdicom repeats in a result's Contributing Equipment Sequence
# (ContributingEquipment.for_image_acquisition): each must carry its own VR (fuzz campaign 12:
# Manufacturer carried as SL, Institution Name as AT, stopped the SEG's writing: exit 70).
EQUIPMENT_COPIED = ("Manufacturer", "ManufacturerModelName", "SoftwareVersions", "DeviceSerialNumber",
                    "InstitutionName", "InstitutionalDepartmentName", "InstitutionAddress", "StationName")
# Geometry read from every image (by the series and by the SEG's plane positions): one value each.
USED_SINGLE_VALUES = ("SpacingBetweenSlices", "SliceThickness", "RescaleSlope", "RescaleIntercept")
_PARSED = {"DA": DA, "TM": TM, "DT": DT}  # regular expressions pass 20261345; parsing does not
_TEXT_VRS = {"PN", "LO", "SH", "UC", "ST", "LT", "UT"}  # decoded with the Specific Character Set
_FREE_TEXT_CONTROLS = {"ST": "\t\n\f\r", "LT": "\t\n\f\r", "UT": "\t\n\f\r"}  # PS3.5 6.1.3
_DEFAULT_REPERTOIRE = ("", "ISO_IR 6", "ISO 2022 IR 6")  # declared terms meaning ASCII only (PS3.5 6.1.2.2)
DEFAULT_CHARSET_NAME = "ISO_IR 6 (the default repertoire)"


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
    known = dictionary_VR(element.tag)
    if element.VR not in known.split(" or "):  # a result would write the value under the VR it carries
        return f"{keyword} carries VR {element.VR}; DICOM defines it as {known} (PS3.6)"
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


def _ascii_only(ds: Dataset) -> bool:
    """Whether ``ds`` declares the default repertoire only (no Specific Character Set, an empty
    one, or ISO_IR 6 alone)."""
    charsets = ds.get("SpecificCharacterSet")
    values = [] if not charsets else [charsets] if isinstance(charsets, str) else list(charsets)
    return all(str(value).strip() in _DEFAULT_REPERTOIRE for value in values)


def _charset_name(ds: Dataset) -> str:
    charsets = ds.get("SpecificCharacterSet")
    if not charsets:
        return DEFAULT_CHARSET_NAME
    return "\\".join([str(charsets)] if isinstance(charsets, str) else [str(c) for c in charsets])


def _control(text: str, allowed: str) -> str | None:
    """The first C0 or C1 control character (or DEL) in ``text`` that is not ``allowed``."""
    return next((c for c in text if (c < " " or "\x7f" <= c <= "\x9f") and c not in allowed), None)


def _text_problem(element, keyword: str, charset: str, ascii_only: bool = False) -> str | None:  # noqa: ANN001
    """Why the results could not repeat the text of ``element`` (a DataElement) exactly (see the
    module's decision), in sequence items too; None when they can. ``ascii_only``: the default
    repertoire is declared, so any character beyond ASCII came from bytes it does not define."""
    if element.VR == "SQ":
        for item in element.value or ():
            for inner in item:
                problem = _text_problem(inner, f"{keyword} > {inner.keyword or inner.tag}", charset, ascii_only)
                if problem:
                    return problem
        return None
    if element.VR not in _TEXT_VRS or element.value in (None, ""):
        return None
    for value in element.value if element.VM > 1 else [element.value]:
        text = str(value)
        if "\ufffd" in text:
            return (f"{keyword} cannot be decoded with character set {charset}: it holds bytes that are not valid "
                    "in it, and the results would repeat it altered")
        if ascii_only and any(c > "\x7f" for c in text):
            return (f"{keyword} holds bytes above 0x7F but no Specific Character Set is declared: the default "
                    "repertoire is ASCII (PS3.5 6.1.2.2), so its characters cannot be known and the results would "
                    "repeat a guess")
        control = _control(text, _FREE_TEXT_CONTROLS.get(element.VR, ""))
        if control == "\x1b":
            return (f"{keyword} holds an escape sequence that character set {charset} does not define: its "
                    "characters cannot be known (PS3.5 6.1.2.5)")
        if control is not None:
            return (f"{keyword} holds the control character U+{ord(control):04X}, which {element.VR} values may "
                    "not contain (PS3.5 6.1.3)")
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
    charset = None if problems else _charset_name(ds)  # text is judged in a known character set only
    ascii_only = _ascii_only(ds)
    repeated = repeated_by_results(str(ds.get("SOPClassUID", "")))
    for keyword in dict.fromkeys(COPIED_VALUES + repeated + EQUIPMENT_COPIED + USED_SINGLE_VALUES):
        problem = _value_problem(ds, keyword)
        if problem is None and charset is not None and keyword in ds:
            problem = _text_problem(ds.data_element(keyword), keyword, charset, ascii_only)
        if problem:
            problems.append(problem)
    return problems


def fill_empty_type2(ds: Dataset) -> list[str]:
    """Add each omitted Type 2 attribute, empty, to the in-memory data set; returns their names."""
    missing = [keyword for keyword in TYPE2_COPIED if keyword not in ds]
    for keyword in missing:
        setattr(ds, keyword, "")
    return missing
