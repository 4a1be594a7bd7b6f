"""Independent review (helper-80) of the self-check's needle rules changed by 9071233 + b7635ec
(a dotted number of fewer than 5 digits is not searched alone, identifiers only) and 10ec7ab +
c336c9c (Specific Character Set kept whatever VR it carries; a date value shaped as a decimal
number is not a date needle), SRS-113 and SRS-111, at 143da4c.

Mutation check (outside this file, by monkeypatching ``leakcheck`` in a pytest plugin, ``src/``
untouched): each rule reverted alone fails the tests that pin it - 9071233 reverted: 3 tests of
test_deid_selfcheck + 2 of review 76; b7635ec reverted: 2 of review 76; the Specific Character Set
rule removed: 3; the set's value left out of the search: 3 (the control); the decimal rule removed:
3; 10ec7ab's month rule back: 7; the decimal pattern without its 5-digit bound: 1.

Fixed by the lead after this review (D1-D4): the xfails below are ordinary tests now; each failed
on 143da4c (strict xfail) and passes on the fix. D1: the decimal rule applies only where the dictionary
does not define the attribute as a date; D2: both tags in ``_CODED_TEXT``; D3: the engine handles a
dictionary text/name/date/time/UID attribute carrying a non-identifying VR as X/Z/D and the self-check
judges it by the dictionary VR (``_protective_vr``); D4: short numbers are searched in their own place.

Defects as found, each a strict xfail beside a passing control (D1, D2 and D4 XPASS under a scratch fix:
the decimal rule removed, the two tags added to ``_CODED_TEXT``, 9071233 reverted):

- D1 (low, SRS-113, missed leak): the decimal-number rule is applied to every DA/DT value, also to
  a public attribute whose dictionary VR is a date. A Patient's Birth Date written ``1961.0704`` or
  ``1961.07`` (year and month; malformed, but a date; PS3.15 removes the attribute whatever its
  content) is no needle since 10ec7ab: an engine that leaves it in place is not caught (found before
  10ec7ab). The rule was needed for a private DS swapped to DA (mutant 2341) only; restricting it to
  values whose attribute is not a date by the dictionary (private, or a public non-date attribute
  carrying DA) keeps that fix. Forms with more than 5 digits before the dot (``19610704.0``) and
  dotted dates (``1961.07.04``) are still found (control).
- D2 (medium, SRS-111, false exit 11 - the class of campaign 6's Specific Character Set finding,
  on other attributes): Mapping Resource (0008,0105) and Context Identifier (0008,010F) are CS, in
  the engine's CODED_TEXT (kept in a public code item when they carry a text VR) but not in the
  self-check's ``_CODED_TEXT``. Swapped to LO/UT/AE in a code item (a VR swap the fuzz generator
  makes), the engine keeps ``DCMR`` and the self-check, judging a removed descriptor, finds it:
  file withheld, exit 11. With CS (control) both keep it and nothing is found. End to end:
  ``device-ai anonymize`` of the LO file exits 11 (DAI-550), of the CS file 0.
- D3 (medium, SRS-111 / low, SRS-113; engine and self-check both, not introduced by these commits):
  a public date attribute outside Table E.1-1 (Secondary Review Date (0014,0102), dictionary VR DA)
  is judged by the VR it carries by the engine, by the dictionary for OB/OW by the self-check.
  Carried as OB, the engine keeps the date ("not identifying by VR") and the self-check finds it:
  exit 11 (fail-safe, but SRS-111 allows 0 or 3; end to end ``anonymize`` exits 11). Carried as
  CS, DS or IS, both keep it: the date reaches the output unnoticed. Carried as DA or SH (control)
  the engine removes it.
- D4 (low, SRS-113, missed leak): an identifier of fewer than 5 digits dots aside (Accession Number
  ``12.34``) left in its own element by an engine fault is not found (found before 9071233; the
  all-digit ``1234`` was never found). Review 76's reasoning for descriptors holds here too: in an
  element the profile does not keep, a match is not a coincidence. ``12.345`` is found (control).
  Copied into a kept attribute, a short number is a coincidence by the documented rule: no defect.

Review 78's open point D3 (a nested Specific Character Set with a swapped VR in a restricted item:
the engine removes it, the self-check keeps it) was probed: the self-check's K makes no needle, so
it cannot raise a false exit 11; a missed leak would need the engine to keep the value, and the
identifiers of the input are still searched in a kept nested set (probe below). No defect.

Observations (no xfail): a Specific Character Set with a swapped text VR holding free text (the
institution's name, removed from Institution Name) is kept by both and not found: by the documented
rule a descriptor in a kept element is a coincidence (as in Convolution Kernel with a CS/SH VR), but
the engine keeps a value that names no character set. The decimal rule's residual false-alarm
room: a DS with more than 5 digits before the dot or leading zeros (``123456.5``, ``0000012.5``) in
a swapped private DA stays a needle (exit 11 if a kept attribute holds the same; not seen in CT).

Not checked: DT values, multi-valued DA values beyond the backslash split, the charset renderings of
a swapped set, other dictionary-CS attributes of the engine's keep-lists beyond those two (none
found: the other TEXT_KEEP entries are in ``_TECHNICAL_TEXT`` by tag or in the rebuilt file meta),
a fuzz campaign.
"""

from __future__ import annotations

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from device_ai.dicom.deidentify import engine as engine_module
from device_ai.dicom.deidentify.leakcheck import decide, identifying_values
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import ct_slice
from tests.dicom.test_deid_selfcheck import _clean_output, _deidentify, _hits, _input, _read

BASIC = frozenset({Option.BASIC})


def _engine_forgets(monkeypatch: pytest.MonkeyPatch, keyword: str) -> None:
    """An engine fault: the attribute ``keyword`` is left as it came (the self-check must find it)."""
    original = engine_module.Engine._element

    def forgets(self, ds, element, path, state):  # noqa: ANN001, ANN202
        if element.keyword == keyword:
            return None
        return original(self, ds, element, path, state)

    monkeypatch.setattr(engine_module.Engine, "_element", forgets)


def _left_in_place(monkeypatch: pytest.MonkeyPatch, keyword: str, value: str) -> list[tuple[str, str]]:
    _engine_forgets(monkeypatch, keyword)
    _, data, leaks = _deidentify(_input(**{keyword: value}))
    assert value.encode() in data  # the fault did leave it
    return [(leak.where, leak.found_in) for leak in leaks]


# -- D1: decimal-shaped dates in a public date attribute -----------------------------------

@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("date", ["19610704", "1961.07.04", "19610704.0"])
def test_control_a_birth_date_left_in_place_is_found(monkeypatch: pytest.MonkeyPatch, date: str) -> None:
    assert _left_in_place(monkeypatch, "PatientBirthDate", date) == [("(0010,0030)", "(0010,0030)")]


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("date", ["1961.0704", "1961.07"])
def test_a_decimal_shaped_birth_date_left_in_place_is_found(monkeypatch: pytest.MonkeyPatch, date: str) -> None:
    assert _left_in_place(monkeypatch, "PatientBirthDate", date) == [("(0010,0030)", "(0010,0030)")]


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("date", ["19610704.0", "196107.04", "1961.07.04", "1961-07-04"])
def test_a_birth_date_not_shaped_as_a_ds_value_copied_into_a_kept_attribute_is_found(date: str) -> None:
    """The decimal rule's bound (at most 5 digits before the dot) keeps these date forms needles."""
    source = _input(PatientBirthDate=date)
    out = _clean_output(source)
    assert _hits(source, part10_bytes(out)) == []  # negative control: the clean output
    out.ConvolutionKernel = date
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0010,0030)"]


# -- decimal and date rules in a nested item ---------------------------------------------

def _nested_private_date(value: str) -> Dataset:
    ds = ct_slice(0)
    item = Dataset()
    item.add_new(0x00430010, "LO", "GEMS_PARM_01")
    item.add_new(0x00431031, "DA", value)
    ds.add_new(0x00082218, "SQ", Sequence([item]))  # Anatomic Region Sequence
    return _read(part10_bytes(ds))


@pytest.mark.req("SRS-113", "SRS-111")
def test_a_decimal_number_in_a_nested_swapped_date_is_not_a_date_a_real_date_is() -> None:
    source = _nested_private_date("0.000000")
    out = _clean_output(source)
    out.GantryDetectorTilt = "0.000000"
    assert _hits(source, part10_bytes(out)) == []
    source = _nested_private_date("19550312")
    out = _clean_output(source)
    out.ConvolutionKernel = "19550312"
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0008,2218)[0]/(0043,1031)"]


# -- D2: coded CS attributes with a swapped VR in a public code item -----------------------

def _code_item_with(keyword: str, value: str, vr: str) -> Dataset:
    ds = ct_slice(0)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "818981001", "SCT", "Abdomen"
    setattr(item, keyword, value)
    item[keyword].VR = vr
    ds.AnatomicRegionSequence = Sequence([item])
    source = _read(part10_bytes(ds))
    assert source.AnatomicRegionSequence[0][keyword].VR == vr
    return source


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("keyword, value", [("MappingResource", "DCMR"), ("ContextIdentifier", "CID4031X")])
def test_control_a_coded_cs_attribute_as_cs_is_kept_and_no_leak(keyword: str, value: str) -> None:
    _, data, leaks = _deidentify(_code_item_with(keyword, value, "CS"))
    assert leaks == [] and value.encode() in data


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("vr", ["LO", "UT", "AE"])
@pytest.mark.parametrize("keyword, value", [("MappingResource", "DCMR"), ("ContextIdentifier", "CID4031X")])
def test_a_coded_cs_attribute_with_a_swapped_text_vr_is_not_a_leak(keyword: str, value: str, vr: str) -> None:
    _, _, leaks = _deidentify(_code_item_with(keyword, value, vr))
    assert leaks == []


# -- D3: a public date outside Table E.1-1 with a swapped VR ------------------------------

SECONDARY_REVIEW_DATE = 0x00140102
FAKE_DATE = "20010203"


def _outside_date(vr: str) -> tuple[list, bytes]:
    assert load_rule_table().lookup(SECONDARY_REVIEW_DATE) is None and dictionary_VR(SECONDARY_REVIEW_DATE) == "DA"
    ds = ct_slice(0)
    ds.add(DataElement(SECONDARY_REVIEW_DATE, vr, FAKE_DATE.encode() if vr == "OB" else FAKE_DATE))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)))
    return leaks, data


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("vr", ["DA", "SH"])
def test_control_a_public_date_outside_the_table_is_removed(vr: str) -> None:
    leaks, data = _outside_date(vr)
    assert leaks == [] and FAKE_DATE.encode() not in data


@pytest.mark.req("SRS-111")
def test_a_public_date_outside_the_table_carried_as_ob_is_removed_not_withheld() -> None:
    leaks, data = _outside_date("OB")
    assert leaks == [] and FAKE_DATE.encode() not in data


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("vr", ["CS", "DS", "IS"])
def test_a_public_date_outside_the_table_with_a_number_vr_is_removed_or_found(vr: str) -> None:
    leaks, data = _outside_date(vr)
    assert FAKE_DATE.encode() not in data or leaks


# -- D4: short identifiers left in their own element --------------------------------------

@pytest.mark.req("SRS-113")
def test_control_an_accession_of_5_digits_dots_aside_left_in_place_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _left_in_place(monkeypatch, "AccessionNumber", "12.345") == [("(0008,0050)", "(0008,0050)")]


@pytest.mark.req("SRS-113")
def test_a_short_dotted_accession_left_in_place_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _left_in_place(monkeypatch, "AccessionNumber", "12.34") == [("(0008,0050)", "(0008,0050)")]


# -- review 78's D3: a nested Specific Character Set with a swapped VR --------------------

def _nested_charset(vr: str) -> Dataset:
    ds = ct_slice(0)
    ds.PatientName = "DOE^JOHN"
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 100"
    item[0x00080005].VR = vr
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.80.1"
    ds.ReferencedImageSequence = Sequence([item])  # X/Z/U*: a restricted item
    return _read(part10_bytes(ds))


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("vr", ["LO", "UT", "AE"])
def test_a_nested_charset_with_a_swapped_vr_makes_no_needle_and_no_leak(vr: str) -> None:
    """The self-check keeps it (no needle: no false exit 11 possible), the engine removes it."""
    source = _nested_charset(vr)
    assert decide(source, load_rule_table(), BASIC)["(0008,1140)[0]/(0008,0005)"] == "K"
    assert not [n for n in identifying_values(source, load_rule_table(), BASIC) if "(0008,0005)" in n.where]
    out = _clean_output(source)
    assert all(0x00080005 not in item for item in out.get("ReferencedImageSequence", []))


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("vr", ["LO", "CS"])
def test_the_patient_name_in_a_kept_nested_charset_is_found(vr: str) -> None:
    source = _nested_charset(vr)
    out = _clean_output(source)
    assert _hits(source, part10_bytes(out)) == []  # negative control
    item = Dataset()
    item.add(DataElement(0x00080005, vr, "DOE^JOHN"))
    out.AnatomicRegionSequence = Sequence([item])
    assert "(0010,0010)" in {leak.where for leak in _hits(source, part10_bytes(out))}
