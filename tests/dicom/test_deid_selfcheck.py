"""The de-identification self-check: strict (no blind spot: every bypass class of issue 16
is planted and caught) and precise (no false hit on values that are not leaks); and the
extended canary corpus (a canary in a non-code item and in a private-scheme code item of
every sequence row) leaves nothing behind under the Basic Profile and each option.

Every "caught" test has its negative control: the same output without the plant passes."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian

from device_ai.dicom.deidentify import engine as engine_module
from device_ai.dicom.deidentify.leakcheck import find_leaks, identifying_values
from device_ai.dicom.deidentify.marking import IMPLEMENTATION_CLASS_UID
from device_ai.dicom.deidentify.options import Option, parse_options
from device_ai.dicom.deidentify.rules import effective_action, load_rule_table
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import canary_dataset, ct_slice

FAKE_ACCESSION = "FAKE-ACC-998877"  # ct_slice's Accession Number

SECRET = b"test-secret-not-for-use".ljust(32, b"!")
OPTIONS = [o for o in Option if o not in (Option.BASIC, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)]
BASIC = frozenset({Option.BASIC})


def _read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def _deidentify(ds: Dataset, *options: str) -> tuple[Dataset, bytes, list]:
    out, data, _, leaks = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET)).deidentify(
        _read(part10_bytes(ds)))
    return out, data, leaks


# -- the extended canary corpus ----------------------------------------------------------

@pytest.fixture(scope="module")
def canaries() -> tuple[Dataset, dict[str, str]]:
    ds, found = canary_dataset()
    return _read(part10_bytes(ds)), found


def _kept_by_definition(where: str, options: frozenset[Option]) -> bool:
    """A top-level canary whose row the options keep (K) or clean (C, non-identifying text)."""
    if " > " in where or not where.startswith("("):
        return False  # nested, private and file meta canaries are never kept
    table = load_rule_table()
    row = table.row(where)
    action = effective_action(row, options | BASIC)
    from pydicom.datadict import dictionary_VR

    vr = dictionary_VR(row.value_tag) if row.value_tag is not None else ""
    return action == "K" or (action == "C" and vr not in ("DA", "DT", "UI", "OB", "OW", "UN"))


@pytest.mark.req("SRS-112", "SRS-051", "SRS-058")
@pytest.mark.parametrize("option", [None, *OPTIONS], ids=lambda o: o.cli_name if o else "basic")
def test_no_canary_survives_in_any_sequence_item_or_private_scheme_code(canaries: tuple, option: Option | None) -> None:
    ds, found = canaries
    nested = [c for c, where in found.items() if "Code Meaning (no code)" in where]
    private_codes = [c for c, where in found.items() if "(private scheme)" in where]
    assert len(nested) >= 60 and len(private_codes) >= 120  # every sequence row carries them
    options = frozenset({option}) if option else frozenset()
    _, data, leaks = _deidentify(ds, *(o.cli_name for o in options))
    survivors = sorted(where for canary, where in found.items()
                       if canary.encode() in data and not _kept_by_definition(where, options))
    assert survivors == []
    assert leaks == []


@pytest.mark.req("SRS-112")
def test_negative_control_a_code_meaning_kept_anywhere_is_a_survivor(canaries: tuple,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus check can fail: an engine that keeps Code Meaning everywhere (the old
    keep-list) leaves the non-code and private-scheme canaries behind."""
    original = engine_module._vr_default

    def old_keep_list(element, policy, restricted=False, code_item=False):  # noqa: ANN001, ANN202
        if element.keyword == "CodeMeaning":
            return "K", "old keep-list"
        return original(element, policy, restricted, code_item)

    monkeypatch.setattr(engine_module, "_vr_default", old_keep_list)
    ds, found = canaries
    _, data, leaks = _deidentify(ds)
    survivors = [where for canary, where in found.items() if canary.encode() in data]
    assert any("Code Meaning (no code)" in w for w in survivors)
    assert any("Code Meaning (private scheme)" in w for w in survivors)


# -- bypass classes: planted and caught, with a negative control -------------------------

def _input(**changes: object) -> Dataset:
    ds = ct_slice(0)
    ds.PatientName = "DOE^JOHN"
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return _read(part10_bytes(ds))


def _clean_output(source: Dataset) -> Dataset:
    """The real de-identified output of ``source`` (a clean output: no hit)."""
    out, _, leaks = _deidentify(source)
    assert leaks == []
    return _read(part10_bytes(out))


def _hits(source: Dataset, output: bytes, written: set[str] | None = None) -> list:
    needles = identifying_values(source, load_rule_table(), BASIC)
    return find_leaks(output, needles, written or set())


@pytest.mark.req("SRS-114")
@pytest.mark.parametrize("tag, vr", [(0xFFFCFFFC, "OB"), (0x7FE00030, "UN"), (0x00091010, "OW")],
                         ids=["trailing-padding-OB", "public-UN-after-pixel-data", "private-OW"])
def test_an_identifier_after_pixel_data_or_in_binary_is_caught(tag: int, vr: str) -> None:
    source = _input()
    out = _clean_output(source)
    assert _hits(source, part10_bytes(out)) == []  # negative control
    if tag >> 16 & 1:
        out.private_block(0x0009, "FAKE_PLANT", create=True)
    out.add_new(tag, vr, b"\x01\x02DOE^JOHN\x00\x00")
    data = part10_bytes(out)
    assert data.rfind(b"DOE^JOHN") > data.find(b"\xe0\x7f\x10\x00") or tag >> 16 & 1
    assert {leak.where for leak in _hits(source, data)} >= {"(0010,0010)"}


@pytest.mark.req("SRS-114")
def test_an_identifier_in_a_deflated_output_is_caught() -> None:
    source = _input()
    out = _clean_output(source)
    out.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    clean = part10_bytes(out)
    assert _hits(source, clean) == []  # negative control
    out.Manufacturer = "Scanner of DOE JOHN"
    data = part10_bytes(out)
    assert b"DOE JOHN" not in data  # compressed: a byte search alone would miss it
    assert [leak.found_in for leak in _hits(source, data)] == ["(0008,0070)"] * len(_hits(source, data))
    assert _hits(source, data)


@pytest.mark.req("SRS-114")
def test_an_identifier_also_in_a_kept_input_value_stays_searched() -> None:
    """File-meta Implementation Version Name equal to the patient name, and the patient name
    inside a kept input value (Manufacturer): the name is still a needle."""
    source = _input(Manufacturer="DOE^JOHN imaging")
    source.file_meta.ImplementationVersionName = "DOE^JOHN"
    needles = identifying_values(source, load_rule_table(), BASIC)
    assert {"DOE^JOHN", "DOE", "JOHN"} <= {n.value for n in needles}
    out = _clean_output(_input())
    assert _hits(source, part10_bytes(out)) == []  # negative control
    out.ConvolutionKernel = "K JOHN"
    assert [leak.found_in for leak in _hits(source, part10_bytes(out))] == ["(0018,1210)"]


@pytest.mark.req("SRS-114")
def test_clean_descriptors_removes_the_patient_name_and_its_parts() -> None:
    source = _input(PatientName="LEE^KIM", StudyDescription="CT for LEE^KIM, Kim Lee and kim")
    out, data, leaks = _deidentify(source, "clean-descriptors")
    assert leaks == []
    assert "lee" not in str(out.StudyDescription).lower() and "kim" not in str(out.StudyDescription).lower()
    assert str(out.StudyDescription).startswith("CT for")
    negative = _input(PatientName="LEE^KIM", StudyDescription="CT for SKIMMER and FLEET")  # not whole tokens
    out, _, leaks = _deidentify(negative, "clean-descriptors")
    assert leaks == [] and str(out.StudyDescription) == "CT for SKIMMER and FLEET"


@pytest.mark.req("SRS-114")
def test_clean_descriptors_that_missed_the_name_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "_clean_text", lambda value, identifiers: value)
    _, _, leaks = _deidentify(_input(StudyDescription="CT for DOE^JOHN"), "clean-descriptors")
    assert {leak.found_in for leak in leaks} == {"(0008,1030)"}


@pytest.mark.req("SRS-114")
@pytest.mark.parametrize("part", ["LEE", "KIM", "Li"])
def test_short_name_parts_are_searched_as_whole_tokens(part: str) -> None:
    source = _input(PatientName="LEE^KIM^Li")
    out = _clean_output(source)
    out.ConvolutionKernel = "SKIMMER FLEET Lid"  # the parts inside words: no hit
    assert _hits(source, part10_bytes(out)) == []
    out.ConvolutionKernel = f"K {part.lower()} 2"
    assert [leak.found_in for leak in _hits(source, part10_bytes(out))] == ["(0018,1210)"]


@pytest.mark.req("SRS-114")
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_an_identifier_in_utf16_or_utf32_is_caught(encoding: str) -> None:
    source = _input()
    out = _clean_output(source)
    out.add_new(0xFFFCFFFC, "OB", "Scanner of DOE^JOHN".encode(encoding) + b"\0" * 4)
    assert _hits(source, part10_bytes(out))


@pytest.mark.req("SRS-114")
def test_an_identifier_in_a_declared_character_set_is_caught() -> None:
    """ISO-8859-5 (Cyrillic): the name is compared as text, not as UTF-8 or Latin-1 bytes."""
    source = ct_slice(0)
    source.SpecificCharacterSet = "ISO_IR 144"
    source.PatientName = "Иванов^Иван"
    source = _read(part10_bytes(source))
    out, _, leaks = _deidentify(source)
    assert leaks == []  # negative control
    out = _read(part10_bytes(out))
    out.ConvolutionKernel = "ядро Иванов"
    data = part10_bytes(out)
    assert "Иванов".encode("utf-8") not in data and "Иванов".encode("iso8859_5") in data
    assert {leak.found_in for leak in _hits(source, data)} == {"(0018,1210)"}


@pytest.mark.req("SRS-112", "SRS-114")
def test_an_identifier_in_a_kept_public_code_meaning_is_caught() -> None:
    source = _input()
    out = _clean_output(source)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "818981001", "SCT", "Abdomen"
    out.AnatomicRegionSequence = Sequence([item])
    assert _hits(source, part10_bytes(out)) == []
    item.CodeMeaning = "Abdomen of John Doe"
    assert [leak.found_in for leak in _hits(source, part10_bytes(out))] == ["(0008,2218)[0]/(0008,0104)"] * 2


@pytest.mark.req("SRS-114")
@pytest.mark.parametrize("date", ["1961-07-04", "04.07.1961", "07/04/1961", "19610704"])
def test_a_date_in_another_rendering_is_caught(date: str) -> None:
    source = _input()
    out = _clean_output(source)
    out.ConvolutionKernel = f"K {date}"
    assert {leak.where for leak in _hits(source, part10_bytes(out))} == {"(0010,0030)"}


# -- precision: no false hit -------------------------------------------------------------

@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("description, kept", [
    ("Scout", {"ScanOptions": "SCOUT MODE"}),
    ("AXIAL", {"ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"]}),
    ("HELICAL", {"ScanOptions": "HELICAL"}),
], ids=["scout-in-scan-options", "axial-in-image-type", "whole-value-in-scan-options"])
def test_a_removed_description_in_a_kept_technical_attribute_is_not_a_leak(description: str, kept: dict) -> None:
    _, data, leaks = _deidentify(_input(SeriesDescription=description, **kept))
    assert leaks == []
    assert description.upper().encode() in data.upper()  # the kept attribute is still there


@pytest.mark.req("SRS-113")
def test_negative_control_a_removed_description_left_in_place_is_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    original = engine_module.Engine._element

    def forgets_series_description(self, ds, element, path, state):  # noqa: ANN001, ANN202
        if element.keyword == "SeriesDescription":
            return None
        return original(self, ds, element, path, state)

    monkeypatch.setattr(engine_module.Engine, "_element", forgets_series_description)
    _, _, leaks = _deidentify(_input(SeriesDescription="Scout", ScanOptions="SCOUT MODE"))
    assert [(leak.where, leak.found_in) for leak in leaks] == [("(0008,103E)", "(0008,103E)")]


@pytest.mark.req("SRS-113")
def test_the_patient_name_in_a_kept_technical_attribute_is_a_leak() -> None:
    """Precision does not open a hole: an identifier (not a description) is searched in kept
    attributes too, as whole tokens."""
    _, _, leaks = _deidentify(_input(ScanOptions="DOE JOHN"))
    assert {leak.where for leak in leaks} >= {"(0010,0010)"}
    assert {leak.found_in for leak in leaks} == {"(0018,0022)"}


@pytest.mark.req("SRS-113")
def test_re_anonymizing_the_devices_own_output_gives_no_false_hit() -> None:
    first, data, leaks = _deidentify(_input())
    assert leaks == [] and first.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    again = _read(data)
    _, _, leaks = _deidentify(again)
    assert leaks == []
    _, _, leaks = _deidentify(again, "retain-long-modified-dates", "clean-descriptors")
    assert leaks == []


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("value", ["current", "DEIDENTIFIED", "Basic", "device_ai"])
def test_an_input_value_equal_to_what_the_device_writes_is_not_a_leak(value: str) -> None:
    """Accession Number ``current`` once matched the table edition the device writes into
    De-identification Method (``PS3.15 current@...``): the flaky property test of issue 16."""
    _, _, leaks = _deidentify(_input(AccessionNumber=value))
    assert leaks == []


@pytest.mark.req("SRS-113")
def test_short_identifiers_that_occur_by_chance_are_not_searched_alone() -> None:
    """Study ID ``1`` and a three-digit accession are not searched on their own (every
    instance number would match); longer ones are."""
    _, _, leaks = _deidentify(_input(StudyID="1", AccessionNumber="123"))
    assert leaks == []
    source = _input(AccessionNumber="99887766")
    out = _clean_output(source)
    out.ConvolutionKernel = "K 99887766"
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0008,0050)"]


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("short_uid", ["0.0", "1.2.3", "1.2.34"])
def test_a_dotted_number_of_few_digits_is_not_searched_alone_a_longer_uid_is(short_uid: str) -> None:
    """A Study Instance UID ``0.0`` (review 70, mutant 506) equals a kept Image Orientation value:
    a dotted number of fewer than 5 digits is not searched on its own, like an all-digit one;
    a longer UID copied into a kept attribute stays a leak (control)."""
    source = _input(StudyInstanceUID=short_uid)
    out = _clean_output(source)
    out.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    out.ConvolutionKernel = short_uid
    assert _hits(source, part10_bytes(out)) == []
    long_uid = "1.2.826.0.1.3680043.99.7"
    source = _input(StudyInstanceUID=long_uid)
    out = _clean_output(source)
    out.ConvolutionKernel = long_uid
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0020,000D)"]


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("vr", ["LO", "UT", "AE"])
def test_a_specific_character_set_with_a_swapped_vr_is_kept_not_a_leak(vr: str) -> None:
    """Fuzz campaign 6 (mutants 51, 1882, 4695): Specific Character Set written as LO, UT or AE
    was judged by that VR, became a removed descriptor, and the engine's kept value a leak (exit
    11). It is kept whatever its VR; the patient's name written into it is still found (control)."""
    ds = ct_slice(0)
    ds.PatientName = "DOE^JOHN"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds[0x00080005].VR = vr
    source = _read(part10_bytes(ds))
    assert source[0x00080005].VR == vr
    out = _clean_output(source)  # no leak in the real output
    out.SpecificCharacterSet = "DOE^JOHN"
    assert "(0010,0010)" in [leak.where for leak in _hits(source, part10_bytes(out))]


def _private_date(value: str) -> Dataset:
    ds = ct_slice(0)
    ds.add_new(0x00430010, "LO", "GEMS_PARM_01")
    ds.add_new(0x00431031, "DA", value)
    return _read(part10_bytes(ds))


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("number, kept", [("0.000000", "GantryDetectorTilt"), ("10.000000", "SliceThickness"),
                                          ("12.500000", "SliceThickness")])
def test_a_decimal_number_in_a_swapped_date_is_not_a_date(number: str, kept: str) -> None:
    """Fuzz campaign 6 (mutant 2341): a private DS swapped to DA holding '0.000000' was searched
    as a date and found in the kept Gantry/Detector Tilt '0.000000' (exit 11); a number shaped
    as a DS value is not a date needle (review 78: '10.000000', '12.500000' too)."""
    source = _private_date(number)
    out = _clean_output(source)
    setattr(out, kept, number)
    assert _hits(source, part10_bytes(out)) == []


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("date", ["19550312", "1955-3-12", "12.3.1955", "12/3/1955", "12/03/55", "551203",
                                  "19551203", "1955.31.03", "19550312101500.000"])
def test_a_date_even_malformed_in_a_date_element_stays_a_needle(date: str) -> None:
    """Control (review 78): a date in the same place, in any form the month positions would not
    tell, copied into a kept attribute is a leak."""
    source = _private_date(date)
    out = _clean_output(source)
    out.ConvolutionKernel = date
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0043,1031)"]


def _swapped(keyword: str, vr: str, value: str, *, nested: bool = False) -> Dataset:
    ds = ct_slice(0)
    tag = tag_for_keyword(keyword)
    if nested:  # an item of Referenced Image Sequence, as campaign 7's mutant 1305
        item = Dataset()
        item.add_new(tag, vr, value)
        item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.2.1125.99.7"
        ds.ReferencedImageSequence = Sequence([item])
    else:
        ds.add_new(tag, vr, value)
    source = _read(part10_bytes(ds))
    assert (source.ReferencedImageSequence[0] if nested else source)[tag].VR == vr
    return source


@pytest.mark.req("SRS-113", "SRS-111")
@pytest.mark.parametrize("vr", ["UI", "PN"])
def test_a_decimal_number_under_a_swapped_uid_or_name_vr_is_not_a_needle(vr: str) -> None:
    """Fuzz campaign 7 (seed 2, mutant 892): Slice Location '-2.2841' (DS) swapped to UI was
    searched as a UID and found in the kept Image Position (exit 11). A value shaped as a decimal
    number in an attribute the dictionary does not define as a UID or a name is a number."""
    source = _swapped("SliceLocation", vr, "-2.2841")
    out = _clean_output(source)
    out.ImagePositionPatient = [-120.5, -98.25, -2.2841]
    assert _hits(source, part10_bytes(out)) == []


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("vr, value", [("UI", "1.2.826.0.1.3680043.2.1125.99.123456"), ("PN", "DOE^JANE")])
def test_a_uid_or_a_name_under_the_same_swapped_vr_stays_a_needle(vr: str, value: str) -> None:
    """Control: a real UID or name in the same swapped place, copied into a kept attribute, is a leak."""
    source = _swapped("SliceLocation", vr, value)
    out = _clean_output(source)
    out.ConvolutionKernel = value
    assert {leak.where for leak in _hits(source, part10_bytes(out))} == {"(0020,1041)"}


@pytest.mark.req("SRS-113", "SRS-111")
def test_a_standard_uid_under_a_swapped_vr_is_not_a_needle() -> None:
    """Fuzz campaign 7 (seed 2, mutant 1305): Referenced SOP Class UID (CT Image Storage) swapped
    UI -> PN in a Referenced Image Sequence item became a name needle, found in the kept SOP Class
    UID (exit 11). A UID of the standard names no one, whatever VR carries it."""
    source = _swapped("ReferencedSOPClassUID", "PN", "1.2.840.10008.5.1.4.1.1.2", nested=True)
    out = _clean_output(source)
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert _hits(source, part10_bytes(out)) == []


@pytest.mark.req("SRS-113")
def test_a_private_uid_under_the_same_swapped_vr_stays_a_needle() -> None:
    """Control: a UID that is not the standard's, in the same place, copied into a kept attribute."""
    uid = "1.2.826.0.1.3680043.2.1125.99.654321"
    source = _swapped("ReferencedSOPClassUID", "PN", uid, nested=True)
    out = _clean_output(source)
    out.ConvolutionKernel = uid
    assert [leak.where for leak in _hits(source, part10_bytes(out))] == ["(0008,1140)[0]/(0008,1150)"]


def _planted(source: Dataset, **values: str) -> set[str]:
    """Where the self-check finds ``source``'s values in its real output with ``values`` written in
    (keywords of the output's attributes)."""
    out = _clean_output(source)
    for keyword, value in values.items():
        setattr(out, keyword, value)
    return {leak.where for leak in _hits(source, part10_bytes(out))}


def _published_clean(source: Dataset) -> Dataset:
    """The output of ``source``, asserting that the self-check found nothing in it (the mutant's
    false positive gone)."""
    _out, data, leaks = _deidentify(source)
    assert leaks == [] and _hits(source, data) == []
    return _read(data)


def _station_as_date(value: str) -> Dataset:
    """Fuzz campaign 9 (seed 4, mutant 528): Station Name (SH) carried as DA, the equipment named
    by the same word as the kept Manufacturer."""
    ds = ct_slice(0)
    ds.Manufacturer = "device_ai phantom generator"
    del ds.StationName
    ds.add_new(0x00081010, "DA", value)
    source = _read(part10_bytes(ds))
    assert source[0x00081010].VR == "DA"
    return source


@pytest.mark.req("SRS-113", "SRS-111")
def test_a_station_name_under_a_swapped_date_vr_is_judged_as_the_text_it_is() -> None:
    """Campaign 9, mutant 528: 'PHANTOM' was searched as a date (an identifier) and found in the
    kept Manufacturer (exit 11). Judged by its dictionary VR it is a device-identity descriptor:
    the engine removes it, and the word in the kept Manufacturer is no leak."""
    published = _published_clean(_station_as_date("PHANTOM"))
    assert 0x00081010 not in published and published.Manufacturer == "device_ai phantom generator"


@pytest.mark.req("SRS-113")
def test_control_the_swapped_station_name_is_still_found_where_the_output_removes() -> None:
    """Control: the same value copied into an attribute the profile removes is a leak, and a name
    written into Station Name under the same swapped VR still finds the patient's name."""
    assert _planted(_station_as_date("FAKESTATION7"), StudyDescription="FAKESTATION7") == {"(0008,1010)"}
    assert _planted(_swapped("PatientName", "DA", "DOE^JANE"), ConvolutionKernel="DOE^JANE") == {"(0010,0010)"}


_PROCEDURE_ITEM = (b"\xfe\xff\x00\xe0\x36\x00\x00\x00\x08\x00\x00\x01SH\x06\x00FUZZ01\x08\x00\x02\x01SH\x06\x00"
                   b"99FUZZ\x08\x00\x04\x01LO\x12\x00phantom procedure ")


@pytest.mark.req("SRS-111", "SRS-113")
def test_a_sequence_carried_as_binary_is_not_kept() -> None:
    """Fuzz campaign 12 (seed 7, mutant 4796): Procedure Code Sequence (outside Table E.1-1) carried
    as OL holds its item as bytes; the engine kept it unprocessed and the self-check found the
    patient's family name 'PHANTOM' in 'phantom procedure' (exit 11). Its items cannot be processed
    or judged: the attribute is not kept, and the output is clean."""
    source = _swapped("ProcedureCodeSequence", "OL", _PROCEDURE_ITEM)
    source.PatientName = "PHANTOM^TEST"
    assert 0x00081032 not in _published_clean(source)


@pytest.mark.req("SRS-111")
def test_control_the_same_sequence_as_a_sequence_is_kept_and_its_items_processed() -> None:
    """Control: as a sequence, its public code item is processed and kept."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "FUZZ01", "DCM", "phantom procedure"
    ds = ct_slice(0)
    ds.ProcedureCodeSequence = Sequence([item])
    published = _published_clean(_read(part10_bytes(ds)))
    assert published.ProcedureCodeSequence[0].CodeValue == "FUZZ01"


def _description_as_uid() -> Dataset:
    """Fuzz campaign 10 (seed 5, mutant 1842): Study Description (LO) carried as UI, its value the
    same word as the kept Position Reference Indicator (a public sample names both 'Brain-MRA')."""
    source = _swapped("StudyDescription", "UI", "Brain-MRA")
    source.PositionReferenceIndicator = "Brain-MRA"
    return source


@pytest.mark.req("SRS-113", "SRS-111")
def test_a_study_description_under_a_swapped_uid_vr_is_judged_as_the_text_it_is() -> None:
    """Campaign 10, mutant 1842: 'Brain-MRA' was searched as a UID (an identifier) and found in the
    kept Position Reference Indicator (exit 11). Judged by its dictionary VR it is a descriptor:
    the engine removes it, and the same word in an attribute the profile keeps is no leak."""
    published = _published_clean(_description_as_uid())
    assert 0x00081030 not in published and published.PositionReferenceIndicator == "Brain-MRA"


@pytest.mark.req("SRS-113")
def test_control_the_swapped_description_is_still_found_where_the_output_removes() -> None:
    """Control: the same value copied into an attribute the profile removes is a leak; a Patient ID
    under the same swapped VR is still an identifier found in a kept attribute."""
    assert _planted(_description_as_uid(), SeriesDescription="Brain-MRA") == {"(0008,1030)"}
    assert _planted(_swapped("PatientID", "UI", "ZQX448812"), ConvolutionKernel="ZQX448812") == {"(0010,0020)"}


@pytest.mark.req("SRS-113")
def test_a_patient_id_under_a_swapped_time_vr_is_still_a_needle() -> None:
    """No branch made needles of a TM value: a Patient ID carried as TM was searched for nowhere.
    Judged by its dictionary VR (LO) it is an identifier, found in a kept attribute."""
    source = _swapped("PatientID", "TM", "ZQX448812")
    assert _planted(source) == set()  # negative control: the real output is clean
    assert _planted(source, ConvolutionKernel="ZQX448812") == {"(0010,0020)"}


def _identity_removed_as_name() -> Dataset:
    """Fuzz campaign 11 (seed 6, mutant 4315): Patient Identity Removed (CS) carried as PN 'YES',
    the value the device itself writes there."""
    return _swapped("PatientIdentityRemoved", "PN", "YES")


@pytest.mark.req("SRS-113", "SRS-111")
def test_the_value_the_device_writes_into_a_marking_attribute_is_not_the_input_s() -> None:
    """Campaign 11, mutant 4315: the input's 'YES' under a swapped name VR is a name needle, and the
    'YES' the device writes into Patient Identity Removed matched it (exit 11). The device's own
    marking value there is not searched."""
    published = _published_clean(_identity_removed_as_name())
    assert published[0x00120062].VR == "CS" and published.PatientIdentityRemoved == "YES"


@pytest.mark.req("SRS-113")
def test_control_the_marking_exemption_covers_only_the_device_s_own_value_in_its_own_place() -> None:
    """Controls: the same needle copied into another attribute is still a leak; an input name in
    Patient Identity Removed (not a value the device writes) is still found there; a value the device
    writes in the code sequence is not exempt at the top level of another marking attribute."""
    assert _planted(_identity_removed_as_name(), ConvolutionKernel="YES") == {"(0012,0062)"}
    assert _planted(_swapped("PatientName", "PN", "ZQXNAME^JANE"), PatientIdentityRemoved="ZQXNAME") == {"(0010,0010)"}
    from device_ai.dicom.deidentify.leakcheck import _device_marking

    assert _device_marking("(0012,0062)", "YES") and _device_marking("(0012,0064)[0]/(0008,0100)", "113100")
    assert not _device_marking("(0012,0062)", "113100") and not _device_marking("(0012,0064)", "YES")
    assert not _device_marking("(0008,0080)", "YES")


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("keyword, value, option", [("StudyDate", "19550312", "retain-long-modified-dates"),
                                                     ("StudyDescription", "CHEST FAKE-MRN-000123", "clean-descriptors")])
@pytest.mark.parametrize("vr", ["CS", "OB"])
def test_a_cleaned_row_carrying_a_swapped_vr_is_removed_not_kept(keyword: str, value: str, option: str,
                                                                 vr: str) -> None:
    """A Table E.1-1 row that an option cleans (C: dates shifted, descriptions cleaned) but whose
    value carries a VR judged as not identifying was kept as it stood (the cleaning dispatched on
    the VR it carries): the date, or the patient ID in the description, went out. It is removed."""
    source = _swapped(keyword, vr, value.encode() if vr == "OB" else value)
    out, data, leaks = _deidentify(source, option)
    assert leaks == [] and keyword not in _read(data)


@pytest.mark.req("SRS-111", "SRS-113")
@pytest.mark.parametrize("keyword, value, option", [("StudyDate", "19550312", "retain-long-modified-dates"),
                                                     ("StudyDescription", "CHEST FAKE-MRN-000123", "clean-descriptors")])
def test_control_a_cleaned_row_with_its_own_vr_is_cleaned_and_kept(keyword: str, value: str, option: str) -> None:
    """Control: with its dictionary VR the same row is kept, shifted or cleaned (not removed)."""
    source = _swapped(keyword, "DA" if keyword == "StudyDate" else "LO", value)
    _, data, leaks = _deidentify(source, option)
    kept = str(_read(data)[keyword].value)
    assert leaks == [] and kept and kept != value


@pytest.mark.req("SRS-113")
def test_one_name_part_in_the_equipment_identity_is_a_coincidence_the_whole_name_is_not() -> None:
    """Patient PHANTOM^TEST scanned on "device_ai phantom generator", or a patient named Ge on
    a GE scanner: one part of the name in Manufacturer, Model Name or the Retain Device Identity
    attributes is not a leak; the whole name there is, and the part anywhere else is."""
    source = _input(PatientName="PHANTOM^TEST000000", Manufacturer="device_ai phantom generator",
                    ManufacturerModelName="PHANTOM 2")
    out, data, leaks = _deidentify(source)
    assert leaks == [] and b"phantom generator" in data
    _, _, leaks = _deidentify(source, "retain-device-identity")
    assert leaks == []
    out = _read(part10_bytes(out))
    out.Manufacturer = "PHANTOM TEST000000 scanners"
    assert {leak.found_in for leak in _hits(source, part10_bytes(out))} == {"(0008,0070)"}
    out.Manufacturer = "device_ai phantom generator"
    out.ScanOptions = "PHANTOM"
    assert {leak.found_in for leak in _hits(source, part10_bytes(out))} == {"(0018,0022)"}


@pytest.mark.req("SRS-113")
def test_a_one_word_name_in_the_equipment_identity_is_a_coincidence_like_a_name_part() -> None:
    """A name that is one word (or one word beside components the declared character set cannot
    decode, fuzz mutant 167: ISO 2022 IR 87 with Latin-1 bytes) in Manufacturer is the same
    coincidence as a family name alone; anywhere else it is still a leak."""
    for name in ("PHANTOM", "PHANTOM^"):
        source = _input(PatientName=name, Manufacturer="device_ai phantom generator")
        out, data, leaks = _deidentify(source)
        assert leaks == [] and b"phantom generator" in data, name
        out = _read(part10_bytes(out))
        out.ScanOptions = "PHANTOM"
        assert {leak.found_in for leak in _hits(source, part10_bytes(out))} == {"(0018,0022)"}, name


@pytest.mark.req("SRS-114")
def test_an_output_that_cannot_be_read_again_fails_closed() -> None:
    source = _input()
    out = _clean_output(source)
    assert _hits(source, part10_bytes(out)) == []  # negative control
    assert [leak.where for leak in _hits(source, b"\0" * 200)] == ["output"]


@pytest.mark.req("SRS-114")
def test_a_short_name_part_in_binary_that_reads_as_text_is_caught() -> None:
    source = _input(PatientName="LEE^KIM")
    out = _clean_output(source)
    out.add_new(0xFFFCFFFC, "OB", bytes(range(0, 256)) * 4)  # binary, not text: no hit
    assert _hits(source, part10_bytes(out)) == []
    out.add_new(0xFFFCFFFC, "OB", b"seen by KIM\0")
    assert [leak.found_in for leak in _hits(source, part10_bytes(out))] == ["(FFFC,FFFC)"]


@pytest.mark.req("SRS-113")
def test_a_date_inside_a_uid_kept_by_retain_uids_is_not_a_leak() -> None:
    """Many UIDs embed the date they were made; Retain UIDs keeps them by definition. The
    date is still caught anywhere else."""
    source = _input(StudyDate="20040119", SOPInstanceUID="1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
    source.file_meta.MediaStorageSOPInstanceUID = source.SOPInstanceUID
    out, _, leaks = _deidentify(source, "retain-uids")
    assert leaks == [] and out.SOPInstanceUID == source.SOPInstanceUID
    out = _read(part10_bytes(out))
    out.ConvolutionKernel = "K 20040119"
    needles = identifying_values(source, load_rule_table(), frozenset({Option.BASIC, Option.RETAIN_UIDS}))
    assert {leak.where for leak in find_leaks(part10_bytes(out), needles, set())} == {"(0008,0020)"}


@pytest.mark.req("SRS-114")
def test_a_patient_name_with_a_swapped_binary_vr_is_still_a_name() -> None:
    from pydicom.dataelem import DataElement

    ds = ct_slice(0)
    ds["PatientName"] = DataElement(0x00100010, "OB", b"LEE^KIM ")
    source = _read(part10_bytes(ds))
    needles = identifying_values(source, load_rule_table(), BASIC)
    assert {(n.value, n.kind) for n in needles if n.where == "(0010,0010)"} == {
        ("LEE^KIM", "identifier"), ("LEE", "name-part"), ("KIM", "name-part")}
    out = _clean_output(_input())
    assert find_leaks(part10_bytes(out), needles, set()) == []  # negative control
    out.ConvolutionKernel = "K KIM"
    assert [leak.where for leak in find_leaks(part10_bytes(out), needles, set())] == ["(0010,0010)"]


@pytest.mark.req("SRS-114")
def test_cleaning_terms_are_identifiers_and_name_parts_not_descriptors() -> None:
    from device_ai.dicom.deidentify.leakcheck import cleaning_terms

    source = _input(PatientName="LEE^KIM", SeriesDescription="AXIAL")
    terms = cleaning_terms(identifying_values(source, load_rule_table(), BASIC))
    assert {"LEE^KIM", "LEE", "KIM", FAKE_ACCESSION} <= set(terms)
    assert "AXIAL" not in terms


@pytest.mark.req("SRS-114")
def test_the_search_finds_what_testing_every_needle_on_every_text_finds() -> None:
    """The search tests the long needles only where one pass says that one of them occurs: the
    hits are those of testing each needle on each text, on whole-token and inside-word cases."""
    from device_ai.dicom.deidentify.leakcheck import LONG, Needle, _Search, tokens

    values = ["FAKEHOSPITAL", "doe^john", "Radiology Main Wing", "19610704", "1.2.826.0.1.3680043.2.1", "LEE",
              "mainwing", "HOSPITALS of Faketown", "SCOUT"]
    needles = [Needle(v, f"(0000,{i:04X})") for i, v in enumerate(values)]
    by_first: dict = {}
    long_forms = []
    for needle in needles:
        form = tokens(needle.value)
        by_first.setdefault(form[0], []).append((needle, form))
        if len("".join(form)) >= LONG and not any("." in t for t in form):
            long_forms.append((needle, " ".join(form)))
    search = _Search(by_first, long_forms)
    texts = ["THE FAKEHOSPITALWING", "Doe, John", "radiology main wing 2", "1961.07.04", "19610704X",
             "x1.2.826.0.1.3680043.2.1", "1.2.826.0.1.3680043.2.1", "sleep lee", "the mainwingroom", "",
             "hospitals OF faketown and FAKEHOSPITAL", "SCOUTMODE", "nothing here at all", "FAKEHOSPITA L"]
    found_any = 0
    for text in texts:
        toks = tokens(text)
        expected = [n for i, t in enumerate(toks) for n, form in by_first.get(t, ()) if toks[i:i + len(form)] == form]
        joined = " ".join("|" if "." in t else t for t in toks)
        expected += [n for n, form in long_forms if form in joined]
        assert search.hits(toks) == expected, text
        found_any += bool(expected)
    assert found_any >= 6  # the cases do reach both kinds of match


@pytest.mark.req("SRS-114")
def test_a_huge_needle_is_still_searched_outside_the_combined_expression() -> None:
    """A removed 15 MiB value is one needle; it stays out of the combined regular expression
    (compiling it cost 1.4 GB, independent review of b8107e2) and is still found by itself."""
    from device_ai.dicom.deidentify.leakcheck import _REGEX_FORM_MAX, Needle, _Search

    huge = "x" * (_REGEX_FORM_MAX * 4)
    short = "y" * 40
    search = _Search({}, [(Needle(huge, "(6000,3000)"), huge), (Needle(short, "(0010,0020)"), short)])
    assert search.huge_forms and all(len(form) <= _REGEX_FORM_MAX for _, form in search.long_forms)
    assert [n.where for n in search.hits((huge,))] == ["(6000,3000)"]
    assert [n.where for n in search.hits((short,))] == ["(0010,0020)"]
    assert search.hits(("z" * 50,)) == []  # control: neither occurs


@pytest.mark.req("SRS-114")
def test_many_long_needles_are_searched_without_the_combined_expression() -> None:
    """Thousands of long needles (a file of many long values) are not compiled into one
    expression (its cost grows with their total length); each is still found, and a file with
    few of them still gets the expression."""
    from device_ai.dicom.deidentify.leakcheck import _REGEX_TOTAL_MAX, Needle, _Search

    forms = [f"value{i:06d}xyz" for i in range(_REGEX_TOTAL_MAX // 10)]
    search = _Search({}, [(Needle(form, f"(0009,{i % 0xFFFF:04X})"), form) for i, form in enumerate(forms)])
    assert search.any_long is None and len(search.huge_forms) == len(forms)
    assert [n.value for n in search.hits(("a", forms[1234], "b"))] == [forms[1234]]
    assert search.hits(("value", "nothing")) == []
    few = _Search({}, [(Needle(form, "(0009,1000)"), form) for form in forms[:10]])
    assert few.any_long is not None and [n.value for n in few.hits((forms[3],))] == [forms[3]]
