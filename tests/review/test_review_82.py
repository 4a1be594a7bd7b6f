"""Independent review (helper-82) of 98865a3 (self-check: a decimal-shaped value is not a date,
name or UID needle unless the dictionary defines the attribute with that VR,
``leakcheck._a_number_in_its_place``; a UID of the standard is never a needle, ``_Found.keep``),
1ab52e2 (``engine._clean``: a Table E.1-1 row with action C whose value carries a non-identifying VR
is removed) and f435428 (``engine._vr_default``: coded text before the swapped-VR rule, a
dictionary-UI attribute carried as another VR keeps a UID of the standard; ``engine._dictionary_vr``
asks ``dictionary_VR``, repeaters included). SRS-111 (anonymize exits 0 or 3), SRS-113 (self-check).

Fixed by the lead after this review: R1 - the number rule applies only where the dictionary does not
define the attribute as identifying (private, unknown, or a number such as Slice Location); R2 -
``engine._clean`` removes a C row whose carried VR it would treat otherwise than its dictionary VR
(``_cleaned_as``: a date or a description carried as TM). The strict xfails below are ordinary
tests now; each failed on d0833ba.

Q1 (98865a3: can a real identifier escape as "a number in its place"?): yes, where an identifying
attribute carries a swapped identifying VR. The rule asks only "is the dictionary VR the carried
VR", so it also applies to attributes whose dictionary VR is itself identifying: Patient ID or
Accession Number (LO/SH) carried as PN or UI, Patient's Name carried as UI, Patient's Birth Date
carried as PN, each holding '12345.678' / '1961.0704', are no needle (they were before 98865a3:
the PN branch made name needles, the UI branch searched every non-standard UID). Defect R1 below.
A text attribute carried as its own VR (LO '12345.678') is unaffected (the rule is not in the text
branch), and a name attribute carried as PN is unaffected (dictionary PN == PN): controls. A
private DA '1961.0704' is no needle (private: no dictionary VR) - unchanged since 11b2296 (which
already skipped private decimal dates); such an attribute is removed unless Retain Safe Private
keeps it (then it is K, never a needle), so only a copy elsewhere would go unnoticed; DA is YYYYMMDD
and '1961.0704' is no DA value: PS3.15 treats a real date in a private attribute as identifying,
but this form is a number in practice - no defect. Patient ID / accession: PS3.15 (Table E.1-1, Z)
treats them as identifying whatever their form, so R1 is a real, if narrow, miss. The UID
exemption: every UID of pydicom's UID_dictionary (482) is under the NEMA root 1.2.840.10008
(probe below), which PS3.5 9.1 reserves for UIDs the standard defines; a patient-specific UID is
made under the maker's own root (ISO/IEC 9834-8), so it cannot equal one; a free-text value equal
to one names a public SOP class / transfer syntax, no one. The exemption is an exact match: an
unregistered UID under the same root stays a needle (probe).

Q2 (1ab52e2 / f435428): sweep (scratch, not a test: 2 minutes) of every single-tag table row whose
dictionary VR is text/PN/DA/DT/TM/UI, carried as CS, TM, DA, PN, UI, LO, OB (and DS for dates and
times), under basic and each option that changes the row (retain-long-modified-dates,
clean-descriptors, retain-uids, retain-device-identity, clean-graphics, clean-structured-content),
K rows skipped: no false exit 11 anywhere; 239 missed leaks, ALL of one class, R2 below: a C row
carried as TM (111 date rows under Modified Dates, 117 descriptor rows under Clean Descriptors, 11
AE rows under Retain Device Identity) is kept as it stands - ``engine._clean`` excludes every
identifying carried VR from 1ab52e2's rule and then keeps TM ("times of day"), and the self-check
(``_decide``, C with TM) keeps it too. Also nested (Referenced Image / Source Image / Derivation
Code Sequence items: same). Pre-existing (TM was kept before 1ab52e2), not introduced; 1ab52e2 is
incomplete for it. Other carried VRs: removed (CS/OB/DS), shifted (DT, DA), cleaned (LO/PN),
remapped (UI). Code items (f435428): Code Value / Code Meaning carried as CS, OB or UT in a public
code item kept, no leak; outside a code item removed (probes). SOP Class UID carried as CS with a
standard and a private value: quarantined (processing-error, exit 3, no traceback; CLI checked),
with two standard values: kept; Referenced SOP Class UID as CS/OB/LO in an item: no leak.

Q3 (valid, unmutated instances): 3-slice ``device-ai phantom`` series + pydicom's bundled files,
3 option sets (basic; dates+descriptors+graphics+structured content; uids+device+safe private+full
dates+characteristics), de-identified at 143da4c (worktree, PYTHONPATH) and at HEAD: 336 outputs
byte-identical (sha256), the other 201 runs refused identically at both (no file meta, quarantine);
the self-check's needles (2 option sets): none removed, 153 added (D4 in-place numbers, 11b2296).
Pinned below: 1ab52e2's condition fires on no C-row element of those files, 98865a3's number rule
on no public element.

Q4 (mutation, scratch pytest plugin outside the repo replacing one function by its source at the
parent commit, src untouched; on the 37 swapped/standard-uid/cleaned-row/sop-class/repeater/curve
tests of test_deid_selfcheck.py + test_review_81.py): number rule removed: 2 fail; UID exemption
(old ``keep``): 1; ``_clean`` at 1ab52e2^: 6 (2 of 1ab52e2's, 4 of review 81); ``_vr_default`` at
f435428^: 1 (review 81 A); ``_dictionary_vr`` at f435428^: 4 (review 81 B/B2). Gap: f435428's
coded-text-first branch is pinned by no repository test (57 code/coded/swapped tests of reviews
80/81, deid engine/isolation/selfcheck pass with ``_vr_default`` reverted); here it fails 2
(Code Meaning as CS/OB). On this file: number rule removed: the 6 R1 xfails XPASS and 3 fail;
UID exemption removed: 1; ``_clean`` reverted: 2 (CS controls).

Defects, each a strict xfail beside a passing control:
- R1 (low, SRS-113, introduced by 98865a3): a decimal-shaped identifier in an attribute whose
  dictionary VR is itself identifying but which carries another identifying VR is no needle: left
  in place by an engine fault, or also in a kept attribute (exit 0 where the LO one exits 11), it
  goes out unnoticed. Fix idea: apply the rule only where the dictionary VR is not identifying
  (Slice Location DS, private).
- R2 (medium, SRS-111/SRS-113, pre-existing, the class 1ab52e2 meant to close): a C row carried as
  TM is kept unshifted / uncleaned, unnoticed.

Not checked: DT/TM carried as DA under Retain Full Dates (K rows skipped), multi-frame/SR IODs,
Retain Institution Identity, private attributes under Retain Safe Private with swapped VRs,
dciodvfy (absent), a fuzz campaign.
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary

from device_ai.dicom.deidentify import engine as engine_module
from device_ai.dicom.deidentify import leakcheck
from device_ai.dicom.deidentify.options import Option, parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import ct_slice
from tests.dicom.test_deid_selfcheck import _clean_output, _deidentify, _hits, _read, _swapped
from tests.review.test_review_80 import _engine_forgets
from tests.review.test_review_81 import _acquisition_date, _study_description

NUMBER_ID = "12345.678"  # an identifier shaped as a decimal number (fake)
NUMBER_DATE = "1961.0704"


# -- Q1 / R1: decimal-shaped identifiers under a swapped identifying VR --------------------

def _left_in_place(monkeypatch: pytest.MonkeyPatch, keyword: str, vr: str, value: str) -> list[tuple[str, str]]:
    _engine_forgets(monkeypatch, keyword)
    source = _swapped(keyword, vr, value)
    _, data, leaks = _deidentify(source)
    assert value.encode() in data  # the fault did leave it
    return [(leak.where, leak.found_in) for leak in leaks]


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("keyword, vr, value", [("PatientID", "LO", NUMBER_ID), ("AccessionNumber", "SH", NUMBER_ID),
                                                ("PatientName", "PN", NUMBER_ID),
                                                ("PatientBirthDate", "DA", NUMBER_DATE)])
def test_control_a_decimal_shaped_identifier_in_its_own_vr_left_in_place_is_found(
        monkeypatch: pytest.MonkeyPatch, keyword: str, vr: str, value: str) -> None:
    """Unaffected by 98865a3: the text branch has no number rule, PN/DA by the dictionary are searched."""
    where = {"PatientID": "(0010,0020)", "AccessionNumber": "(0008,0050)", "PatientName": "(0010,0010)",
             "PatientBirthDate": "(0010,0030)"}[keyword]
    assert (where, where) in _left_in_place(monkeypatch, keyword, vr, value)


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("keyword, vr, value", [("PatientID", "PN", NUMBER_ID), ("PatientID", "UI", NUMBER_ID),
                                                ("AccessionNumber", "UI", NUMBER_ID),
                                                ("PatientName", "UI", NUMBER_ID),
                                                ("PatientBirthDate", "PN", NUMBER_DATE)])
def test_a_decimal_shaped_identifier_under_a_swapped_identifying_vr_left_in_place_is_found(
        monkeypatch: pytest.MonkeyPatch, keyword: str, vr: str, value: str) -> None:
    assert _left_in_place(monkeypatch, keyword, vr, value) != []


def _id_also_kept(vr: str) -> list[str]:
    source = _swapped("PatientID", vr, NUMBER_ID)
    out = _clean_output(source)
    out.ConvolutionKernel = NUMBER_ID  # the same value in a kept technical attribute
    return [leak.where for leak in _hits(source, part10_bytes(out))]


@pytest.mark.req("SRS-113")
def test_control_a_decimal_shaped_patient_id_as_lo_also_in_a_kept_attribute_is_found() -> None:
    assert _id_also_kept("LO") == ["(0010,0020)"]


@pytest.mark.req("SRS-113")
def test_a_decimal_shaped_patient_id_as_pn_also_in_a_kept_attribute_is_found() -> None:
    assert _id_also_kept("PN") == ["(0010,0020)"]


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("vr", ["UI", "PN"])
def test_the_campaign_7_number_in_a_number_attribute_stays_no_needle(vr: str) -> None:
    """What R1's fix must keep: Slice Location (dictionary DS) swapped to UI/PN holding '-2.2841'."""
    source = _swapped("SliceLocation", vr, "-2.2841")
    needles = leakcheck.identifying_values(source, load_rule_table(), frozenset({Option.BASIC}))
    assert [n for n in needles if n.where == "(0020,1041)"] == []
    control = _swapped("SliceLocation", vr, "1.2.826.0.1.3680043.2.1125.99.4242")
    needles = leakcheck.identifying_values(control, load_rule_table(), frozenset({Option.BASIC}))
    assert [n for n in needles if n.where == "(0020,1041)"] != []


@pytest.mark.req("SRS-113")
def test_every_uid_of_the_standard_is_under_the_dicom_root() -> None:
    """The UID exemption cannot hide a patient-specific UID: those are made under the maker's root."""
    assert len(UID_dictionary) > 400
    assert [uid for uid in UID_dictionary if not uid.startswith("1.2.840.10008.")] == []


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("uid, found", [("1.2.840.10008.5.1.4.1.1.2", False), ("1.2.840.10008.5.1.4.1.1.2.999", True)])
def test_the_uid_exemption_is_an_exact_match_not_the_root(uid: str, found: bool) -> None:
    assert (uid in UID_dictionary) is not found
    source = _swapped("ReferencedSOPClassUID", "PN", uid, nested=True)
    out = _clean_output(source)
    out.ConvolutionKernel = uid
    assert bool(_hits(source, part10_bytes(out))) is found


# -- Q2 / R2: a C row carried as TM --------------------------------------------------------

@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("row", ["date", "description"])
def test_control_a_c_row_carried_as_cs_is_removed(row: str) -> None:
    leaks, data = _acquisition_date("CS") if row == "date" else _study_description("CS")
    assert leaks == [] and (b"20010203" if row == "date" else b"FAKEVILLE") not in data


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("row", ["date", "description"])
def test_a_c_row_carried_as_tm_is_not_kept_unshifted_or_uncleaned_unnoticed(row: str) -> None:
    leaks, data = _acquisition_date("TM") if row == "date" else _study_description("TM")
    assert (b"20010203" if row == "date" else b"FAKEVILLE") not in data or leaks


@pytest.mark.req("SRS-111")
def test_control_a_time_row_carried_as_tm_is_kept_a_date_as_tm_without_the_option_is_removed() -> None:
    """What R2's fix must keep: Acquisition Time (TM) under Modified Dates is kept (E.3.6); and
    without the option a date row carried as TM is removed (X/Z/D, not the C path)."""
    ds = ct_slice(0)
    ds.AcquisitionTime = "101112"
    _, data, leaks = _deidentify(_read(part10_bytes(ds)), "retain-long-modified-dates")
    assert leaks == [] and _read(data).AcquisitionTime == "101112"
    ds.add(DataElement(0x00080022, "TM", "20010203"))
    _, data, leaks = _deidentify(_read(part10_bytes(ds)))
    assert leaks == [] and b"20010203" not in data


def _code_item(vr: str, scheme: str) -> tuple[bytes, list]:
    ds = ct_slice(0)
    item = Dataset()
    item.CodeValue = "T-D3000"
    item.add(DataElement(0x00080104, vr, b"FAKECHESTX" if vr == "OB" else "FAKECHESTX"))  # Code Meaning
    item.CodingSchemeDesignator = scheme
    ds.AnatomicRegionSequence = Sequence([item])
    _, data, leaks = _deidentify(_read(part10_bytes(ds)))
    return data, leaks


@pytest.mark.req("SRS-111")
@pytest.mark.parametrize("vr", ["LO", "CS", "OB", "UT"])
def test_a_code_meaning_with_a_swapped_vr_is_kept_in_a_public_code_item_removed_in_a_private_one(vr: str) -> None:
    """f435428: coded text first. Public scheme (SRT): kept, no leak; private scheme: removed."""
    data, leaks = _code_item(vr, "SRT")
    assert leaks == [] and b"FAKECHESTX" in data
    data, leaks = _code_item(vr, "99FAKE")
    assert leaks == [] and b"FAKECHESTX" not in data


# -- Q3: the new rules on ordinary files ----------------------------------------------------

CLEANING = parse_options(["retain-long-modified-dates", "clean-descriptors", "clean-graphics",
                          "clean-structured-content"])


def _fired(ds: Dataset, table, where: str = "") -> list[str]:  # noqa: ANN001
    """1ab52e2's condition on C rows, 98865a3's number rule on public PN/UI/DA elements."""
    found = []
    for element in ds:
        tag = int(element.tag)
        if element.VR == "SQ":
            for index, item in enumerate(element.value or []):
                found += _fired(item, table, f"{where}{element.tag}[{index}]/")
            continue
        if tag >> 16 & 1:
            continue
        known = engine_module._dictionary_vr(tag)
        if (table.action(tag, CLEANING) == "C" and known in engine_module._IDENTIFYING_VRS
                and engine_module._cleaned_as(known) != engine_module._cleaned_as(element.VR)):
            found.append(f"{where}{element.tag} C {element.VR}")
        if element.VR in ("PN", "UI", "DA") and element.value not in (None, ""):
            values = element.value if element.VM > 1 else [element.value]
            if any(leakcheck._a_number_in_its_place(str(v), tag) for v in values):
                found.append(f"{where}{element.tag} number {element.VR}")
    return found


@pytest.mark.req("SRS-111", "SRS-113")
def test_the_new_rules_fire_on_no_element_of_ordinary_files() -> None:
    table = load_rule_table()
    control = ct_slice(0)
    assert _fired(control, table) == []
    control.add(DataElement(0x00080022, "CS", "20010203"))  # negative controls: swapped VRs
    control.add(DataElement(0x00201041, "PN", "-2.2841"))
    assert _fired(control, table) == ["(0008,0022) C CS", "(0020,1041) number PN"]
    fired, read = [], 0
    for path in get_testdata_files():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            fired += [f"{path.rsplit('/', 1)[-1]}: {hit}" for hit in _fired(ds, table)]
        except Exception:  # noqa: BLE001, S112 - a deliberately broken test file of pydicom's
            continue
        read += 1
    assert read >= 100 and fired == []
