"""Independent review (helper-81) of 11b2296, review 80's four fixes (SRS-111, SRS-113): D1 the
decimal-date rule only where the dictionary does not define a date; D2 Context Identifier and
Mapping Resource in the self-check's coded text; D3 a public attribute outside Table E.1-1 whose
dictionary VR is text, PN, DA/DT/TM or UI but which carries another VR is X/Z/D in the engine
(``engine._vr_default``) and judged by its dictionary VR in the self-check (``_protective_vr``);
D4 an identifier of fewer than 5 digits (dots aside) is searched in its own place ("in-place").

Mutation check (a pytest plugin outside the repository monkeypatching the fix away, ``src/``
untouched), on tests/review/test_review_80.py: D1 reverted: 2 tests fail; D2: 6; D4: 1; D3 engine
side alone: 1 (OB); D3 both sides: 4; D3 self-check side alone: none (the engine removes the value,
so "removed or found" passes) - pinned here by an engine fault the self-check must catch (3 fail
without it). On this file: the D4 rule removed: 2 fail; the engine's rule disabled: 8; A's scratch
fix (no rule for dictionary UI) and B's (the engine asks ``dictionary_VR``): their xfails XPASS.
98865a3 (campaign 7's fixes) landed during this review; its leakcheck ``_dictionary_vr`` resolves
repeaters, the engine's does not (B).

Q1 (does the rule fire on ordinary files?): no. pydicom's 178 readable bundled test files and a
2-slice ``device-ai phantom`` series (13,883 elements, 8,171 public ones outside the table): no
element carries a VR outside its dictionary entry (only the "US or SS" / "OB or OW" entries vary,
and their first VR is not identifying), so the rule fires nowhere (probe below, with a mutated
control). dciodvfy is not installed here: validity judged by re-reading the output with pydicom.
Fixed by the lead after this review (A, B, B2): the strict xfails below are ordinary tests; each
failed on e5c854a. A: a dictionary UI carried as another VR keeps a UID of the standard; B/B2: the
engine's dictionary lookup (``_dictionary_vr``) asks ``dictionary_VR``, which knows the repeaters.

Defects found, each a strict xfail beside a passing control:

- A (low/medium, SRS-111, introduced by 11b2296): the rule runs before the well-known-UID keep
  and its D writes the dummy of the CARRIED VR. SOP Class UID (outside the table, Type 1) carried as
  CS becomes ``DEIDENTIFIED`` (CS dummy), and so does the rebuilt Media Storage SOP Class UID: the
  output is no longer a CT Image instance, exit 0 (``anonymize`` end to end: exit 0, self-check
  passed). Before 11b2296 the UID was kept. A well-known UID identifies nothing; a Type 1 UI
  attribute given a D should get a value valid for its dictionary VR (a remapped or kept UID).
- B (low, SRS-111, false exit 11; CS/IS introduced by 11b2296, OB pre-existing): the engine's
  ``_dictionary_vr`` asks ``dictionary_has_tag``, which is False for pydicom's repeater entries
  ((0028,04x2) Coefficient Coding LO, 60xx overlay text), while the self-check's
  ``_protective_vr``/``_effective_vr`` ask ``dictionary_VR``, which resolves them. Coefficient
  Coding (0028,0412) carried as CS, IS or OB: engine keeps ("not identifying by VR"), self-check
  judges LO, P, finds it: ``anonymize`` exits 11 (checked end to end). Overlay groups are dropped
  whole (``_drop_orphaned_overlays``), so 60xx is not reachable. B2 (low, missed leak, same root
  cause, in 1ab52e2's ``_clean`` rule): Curve Description (5000,0022), a table pattern row (C under
  Clean Graphics), carried as CS is kept uncleaned and the self-check keeps it: an institution
  name in it goes out unnoticed (cleaned as LO).
- C (medium, SRS-111 / SRS-113, missed leak, pre-existing at 11b2296; the D3 class on TABLE rows,
  which 11b2296 does not cover): a row whose action is C (Retain Longitudinal Modified Dates:
  Acquisition Date; Clean Descriptors: Study Description) carried as CS or DS: ``engine._clean``
  kept it as it stood ("numbers, code strings") and the self-check's ``_decide`` keeps it too: an
  unshifted acquisition date, and an institution name in a Study Description carried as CS
  (removed from the LO one; a descriptor, so never searched in a kept element), went out
  unnoticed (probed on the tree at 11b2296 + 98865a3). Found independently while the lead fixed
  it (1ab52e2, committed during this review: ``_clean`` removes such a value): ordinary tests
  below, which fail with that change reverted (mutant "C"). The self-check still keeps such a value
  (K): only the engine's removal protects. Observation: 1ab52e2 removes (X) whatever the Type, so
  a Type 2 Study Date carried as CS leaves the instance without a Type 2 attribute (Z/D would not).

Q2 otherwise: outside the table the two agree but for B (both ask ``lookup(tag) is None``, both
skip private tags and SQ, OB/OW/UN map to the dictionary VR on both sides); in a public code item
a Code Value carried as CS (dictionary SH) becomes ``DEIDENTIFIED`` (probed: Anatomic Region
Sequence, no leak) while the self-check keeps it: privacy-safe, the code is lost (observation:
swapped VR only; no such file found in Q1).
Q3 (D4): no false exit 11 found: a value at the same label is either kept (then the self-check
decided K: no needle), or written by the engine (dummies, keyed UIDs, shifted dates: exempt); a D
sequence keeps items[:1], so no item index shifts. Limit (documented, no xfail): a short value that
an engine fault moved to another label or item index is a coincidence by the rule, not found.

Not checked: dciodvfy (absent), DT/TM swapped into C rows, Retain Safe Private, multi-frame or
SR IODs, the conformance statement text, a fuzz campaign.
"""

from __future__ import annotations

import copy

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from device_ai.dicom.deidentify.engine import Policy, _vr_default
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.safe_private import load_safe_private
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import ct_slice
from tests.dicom.test_deid_selfcheck import _deidentify, _hits, _read
from tests.review.test_review_80 import FAKE_DATE, SECONDARY_REVIEW_DATE, _engine_forgets, _outside_date

BASIC = frozenset({Option.BASIC})


# -- Q1: the swapped-VR rule on ordinary files ---------------------------------------------

def _swapped(ds: Dataset, policy: Policy, table, where: str = "") -> list[str]:  # noqa: ANN001
    """Every public element outside the table that the engine's swapped-VR rule catches."""
    found = []
    for element in ds:
        tag = int(element.tag)
        if element.VR == "SQ":
            for index, item in enumerate(element.value or []):
                found += _swapped(item, policy, table, f"{where}{element.tag}[{index}]/")
        elif not tag >> 16 & 1 and table.lookup(tag) is None and "carried as" in _vr_default(element, policy)[1]:
            found.append(f"{where}{element.tag} {element.VR}")
    return found


@pytest.mark.req("SRS-111")
def test_the_swapped_vr_rule_fires_on_no_attribute_of_ordinary_files() -> None:
    table = load_rule_table()
    policy = Policy(table, BASIC, load_safe_private())
    control = ct_slice(0)
    assert _swapped(control, policy, table) == []
    control.add(DataElement(SECONDARY_REVIEW_DATE, "CS", FAKE_DATE))  # negative control: a swapped VR
    assert _swapped(control, policy, table) == ["(0014,0102) CS"]
    fired, read = [], 0
    for path in get_testdata_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            fired += [f"{path.rsplit('/', 1)[-1]}: {hit}" for hit in _swapped(ds, policy, table)]
        except Exception:  # noqa: BLE001, S112 - a deliberately broken test file of pydicom's
            continue
        read += 1
    assert read >= 100 and fired == []


# -- D3's self-check side, alone -----------------------------------------------------------

@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("vr", ["CS", "DS", "IS"])
def test_a_swapped_vr_date_outside_the_table_left_by_an_engine_fault_is_found(
        monkeypatch: pytest.MonkeyPatch, vr: str) -> None:
    """Pins ``_protective_vr`` alone (review 80's tests pass without it: the engine removes)."""
    leaks, data = _outside_date(vr)
    assert leaks == [] and FAKE_DATE.encode() not in data  # control: the real engine
    _engine_forgets(monkeypatch, "SecondaryReviewDate")
    leaks, data = _outside_date(vr)
    assert FAKE_DATE.encode() in data
    assert [leak.where for leak in leaks] == ["(0014,0102)"]


# -- defect A: a well-known UID carried as CS gets a CS dummy ------------------------------

def _sop_class_carried_as(vr: str) -> tuple[Dataset, bytes, list]:
    ds = ct_slice(0)
    ds["SOPClassUID"].VR = vr
    source = _read(part10_bytes(ds))
    assert source["SOPClassUID"].VR == vr and source.SOPClassUID == CTImageStorage
    out, data, leaks = _deidentify(source)
    return _read(data), data, leaks


@pytest.mark.req("SRS-111")
def test_control_the_sop_class_uid_as_ui_is_kept() -> None:
    out, _, leaks = _sop_class_carried_as("UI")
    assert leaks == [] and out.SOPClassUID == CTImageStorage
    assert out.file_meta.MediaStorageSOPClassUID == CTImageStorage


@pytest.mark.req("SRS-111")
def test_the_sop_class_uid_carried_as_cs_stays_the_ct_image_storage_uid() -> None:
    out, _, leaks = _sop_class_carried_as("CS")
    assert leaks == []
    assert str(out.SOPClassUID) == CTImageStorage and out.file_meta.MediaStorageSOPClassUID == CTImageStorage


# -- defect B: a repeater-group text attribute with a swapped VR ---------------------------

COEFFICIENT_CODING = 0x00280412  # (0028,04x2), retired, LO; a repeater entry of the dictionary
FAKE_TEXT = "FAKECODINGX"
FAKE_NUMBER = "98765"  # an IS must parse as one


def _repeater(vr: str) -> tuple[list, bytes]:
    assert not dictionary_has_tag(COEFFICIENT_CODING) and dictionary_VR(COEFFICIENT_CODING) == "LO"
    assert load_rule_table().lookup(COEFFICIENT_CODING) is None
    value = {"OB": FAKE_TEXT.encode(), "IS": FAKE_NUMBER}.get(vr, FAKE_TEXT)
    ds = ct_slice(0)
    ds.add(DataElement(COEFFICIENT_CODING, vr, value))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)))
    return leaks, data


@pytest.mark.req("SRS-111", "SRS-113")
def test_control_a_repeater_text_attribute_as_lo_is_removed() -> None:
    leaks, data = _repeater("LO")
    assert leaks == [] and FAKE_TEXT.encode() not in data


@pytest.mark.req("SRS-111")
@pytest.mark.parametrize("vr", ["CS", "IS", "OB"])
def test_a_repeater_text_attribute_with_a_swapped_vr_is_removed_not_withheld(vr: str) -> None:
    leaks, data = _repeater(vr)
    assert leaks == [] and FAKE_TEXT.encode() not in data and FAKE_NUMBER.encode() not in data


CURVE_DESCRIPTION = 0x50000022  # (50xx,0022), retired, LO; the table's Curve Data pattern row (C: Clean Graphics)


def _curve_description(vr: str) -> tuple[list, bytes]:
    assert not dictionary_has_tag(CURVE_DESCRIPTION) and dictionary_VR(CURVE_DESCRIPTION) == "LO"
    assert load_rule_table().action(CURVE_DESCRIPTION, BASIC | {Option.CLEAN_GRAPHICS}) == "C"
    ds = ct_slice(0)
    ds.InstitutionName = "FAKEVILLE CLINIC"
    ds.add(DataElement(CURVE_DESCRIPTION, vr, "CT FAKEVILLE CLINIC"))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)), "clean-graphics")
    return leaks, data


@pytest.mark.req("SRS-111", "SRS-113")
def test_control_a_curve_description_as_lo_is_cleaned() -> None:
    leaks, data = _curve_description("LO")
    assert leaks == [] and b"FAKEVILLE" not in data


@pytest.mark.req("SRS-111", "SRS-113")
def test_a_curve_description_with_a_swapped_vr_is_not_kept_uncleaned_unnoticed() -> None:
    leaks, data = _curve_description("CS")
    assert b"FAKEVILLE" not in data or leaks


# -- defect C: a table row with action C and a swapped VR ----------------------------------

def _acquisition_date(vr: str) -> tuple[list, bytes]:
    assert load_rule_table().action(0x00080022, BASIC | {Option.RETAIN_LONG_MODIFIED_DATES}) == "C"
    ds = ct_slice(0)
    # a date of its own (Study Date differs, so no other needle finds it)
    ds.add(DataElement(0x00080022, vr, FAKE_DATE.encode() if vr == "OB" else FAKE_DATE))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)), "retain-long-modified-dates")
    return leaks, data


def _study_description(vr: str) -> tuple[list, bytes]:
    ds = ct_slice(0)
    ds.InstitutionName = "FAKEVILLE CLINIC"
    ds.add(DataElement(0x00081030, vr, b"CT FAKEVILLE CLINIC" if vr == "OB" else "CT FAKEVILLE CLINIC"))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)), "clean-descriptors")
    return leaks, data


@pytest.mark.req("SRS-111", "SRS-113")
def test_control_a_c_row_carried_as_its_own_vr_is_shifted_or_cleaned() -> None:
    leaks, data = _acquisition_date("DA")
    assert leaks == [] and FAKE_DATE.encode() not in data
    leaks, data = _study_description("LO")
    assert leaks == [] and b"FAKEVILLE" not in data


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("vr", ["CS", "DS", "OB"])
def test_a_modified_date_row_with_a_swapped_vr_is_not_kept_unshifted_unnoticed(vr: str) -> None:
    leaks, data = _acquisition_date(vr)
    assert FAKE_DATE.encode() not in data or leaks


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("vr", ["CS", "OB"])
def test_a_clean_descriptors_row_with_a_swapped_vr_is_not_kept_uncleaned_unnoticed(vr: str) -> None:
    """The institution name is a descriptor, searched only where the output removes: the self-check
    alone would not see it in a kept Study Description; only the engine's removal protects."""
    leaks, data = _study_description(vr)
    assert b"FAKEVILLE" not in data or leaks


# -- Q3: D4, short numbers in their own place, nested ----------------------------------------

SHORT_UID = "1.2.3"


def _referenced_short_uid() -> Dataset:
    ds = ct_slice(0)
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = SHORT_UID
    other = copy.deepcopy(item)
    other.ReferencedSOPInstanceUID = "1.2.4"
    ds.ReferencedImageSequence = Sequence([item, other])  # X/Z/U*: both items stay, UIDs remapped
    return _read(part10_bytes(ds))


@pytest.mark.req("SRS-113")
def test_control_short_nested_uids_remapped_are_no_leak() -> None:
    _, data, leaks = _deidentify(_referenced_short_uid())
    assert leaks == [] and SHORT_UID.encode() not in data


@pytest.mark.req("SRS-113")
def test_a_short_nested_uid_left_in_its_own_item_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_forgets(monkeypatch, "ReferencedSOPInstanceUID")
    _, data, leaks = _deidentify(_referenced_short_uid())
    assert SHORT_UID.encode() in data
    assert sorted((leak.where, leak.found_in) for leak in leaks) == [
        ("(0008,1140)[0]/(0008,1155)", "(0008,1140)[0]/(0008,1155)"),
        ("(0008,1140)[1]/(0008,1155)", "(0008,1140)[1]/(0008,1155)")]


@pytest.mark.req("SRS-113")
def test_a_short_uid_copied_to_another_item_is_a_coincidence() -> None:
    """The documented limit: in-place means the same label, item index included."""
    source = _referenced_short_uid()
    out, _, leaks = _deidentify(source)
    assert leaks == []
    out = _read(part10_bytes(out))
    out.ReferencedImageSequence[1].ReferencedSOPInstanceUID = SHORT_UID  # item 0's value, in item 1
    assert _hits(source, part10_bytes(out)) == []
    out.ReferencedImageSequence[0].ReferencedSOPInstanceUID = SHORT_UID  # in its own place: found
    assert [leak.found_in for leak in _hits(source, part10_bytes(out))] == ["(0008,1140)[0]/(0008,1155)"]
