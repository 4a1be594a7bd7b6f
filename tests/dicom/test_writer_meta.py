"""``writer.part10_bytes_with_meta`` (the de-identifier's fast Part 10 encoding) writes exactly
the bytes of ``writer.part10_bytes`` (pydicom's ``dcmwrite``), in every transfer syntax family
and for every value representation the canary corpus holds; what it does not handle itself it
hands to ``part10_bytes``."""

from __future__ import annotations

import copy
import io

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from device_ai.dicom.deidentify.marking import new_file_meta
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.writer import part10_bytes, part10_bytes_with_meta
from tests.dicom.deid_corpus import canary_dataset, ct_slice

SECRET = b"test-secret-not-for-use".ljust(32, b"!")
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]


def _both(ds: Dataset, fast_path: bool = True) -> tuple[bytes, bytes]:
    """(fast bytes, dcmwrite bytes); with ``fast_path`` also checks no fallback was taken."""
    from device_ai.dicom import writer

    real, calls = writer.part10_bytes, []

    def counting(dataset: Dataset) -> bytes:
        calls.append(1)
        return real(dataset)

    writer.part10_bytes = counting
    try:
        fast = part10_bytes_with_meta(copy.deepcopy(ds))
    finally:
        writer.part10_bytes = real
    assert (calls == []) == fast_path
    return fast, part10_bytes(copy.deepcopy(ds))


def _with_meta(ds: Dataset, syntax: UID) -> Dataset:
    ds.file_meta = new_file_meta(ds, syntax)
    return ds


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
def test_same_bytes_as_dcmwrite_for_a_ct_slice(syntax: UID) -> None:
    ds = _with_meta(ct_slice(3), syntax)
    fast, reference = _both(ds)
    assert fast == reference
    assert pydicom.dcmread(io.BytesIO(fast)).file_meta.TransferSyntaxUID == syntax


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian], ids=lambda s: s.name)
def test_same_bytes_as_dcmwrite_for_the_de_identified_canary_corpus(syntax: UID) -> None:
    """Every encodable attribute of Table E.1-1, nested items, private blocks: as the engine
    leaves them (dummies, keyed UIDs, emptied values, the marking sequences it adds)."""
    source, _ = canary_dataset()
    source.file_meta.TransferSyntaxUID = syntax
    source = pydicom.dcmread(io.BytesIO(part10_bytes(source)))
    out, data, _, _ = Deidentifier(RunConfig(options=parse_options(["retain-safe-private"]), secret=SECRET)
                                   ).deidentify(source)
    assert data == part10_bytes(copy.deepcopy(out))  # what the de-identifier wrote is dcmwrite's encoding
    fast, reference = _both(out)
    assert fast == reference
    untouched, _ = canary_dataset()  # and the input itself, every VR with its value
    fast, reference = _both(_with_meta(untouched, syntax))
    assert fast == reference


@pytest.mark.req("SRS-065")
def test_same_bytes_as_dcmwrite_for_encapsulated_pixel_data() -> None:
    ds = ct_slice(1)
    ds.PixelData = encapsulate([b"\xff\xd8fake-jpeg-frame\xff\xd9"])
    ds["PixelData"].VR = "OB"
    fast, reference = _both(_with_meta(ds, JPEGBaseline8Bit))
    assert fast == reference
    assert pydicom.dcmread(io.BytesIO(fast))["PixelData"].is_undefined_length


@pytest.mark.req("SRS-065")
def test_what_it_does_not_encode_itself_goes_to_dcmwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.dicom import writer

    calls = []
    real = writer.part10_bytes
    monkeypatch.setattr(writer, "part10_bytes", lambda ds: calls.append(1) or real(ds))
    plain = _with_meta(ct_slice(0), ExplicitVRLittleEndian)
    writer.part10_bytes_with_meta(copy.deepcopy(plain))
    assert calls == []  # negative control: the plain meta is encoded here
    extra = copy.deepcopy(plain)
    extra.file_meta.SourceApplicationEntityTitle = "FAKE_AE"  # a meta element it does not write
    long_uid = copy.deepcopy(plain)
    long_uid.file_meta.MediaStorageSOPInstanceUID = "1." + "2" * 70  # longer than a UID may be
    for ds in (extra, long_uid):
        assert writer.part10_bytes_with_meta(copy.deepcopy(ds)) == real(copy.deepcopy(ds))
    assert len(calls) == 2
    meta_in_data_set = copy.deepcopy(plain)
    meta_in_data_set.add_new(0x00020016, "AE", "FAKE_AE")  # a meta element in the data set: dcmwrite refuses
    with pytest.raises(ValueError, match="File Meta Information"):
        writer.part10_bytes_with_meta(meta_in_data_set)


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", [*SYNTAXES, JPEGBaseline8Bit], ids=lambda s: s.name)
@pytest.mark.parametrize("case", ["even-OW", "odd-OB", "element-after", "raw"])
def test_pixel_data_appended_by_hand_is_what_dcmwrite_writes(syntax: UID, case: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Pixel Data that ends the data set is appended by hand (one copy of its value): the same
    bytes as dcmwrite, in every syntax, odd lengths padded, also as read from a file (converted
    on the way, as dcmwrite converts it); with an element after it pydicom writes it."""
    from device_ai.dicom import writer

    ds = ct_slice(2)
    frame = bytes(range(256)) * 2
    if case == "odd-OB":
        frame += b"\x07"
    if syntax.is_compressed:
        ds.PixelData = encapsulate([frame])
    else:
        ds.PixelData = frame
    ds["PixelData"].VR = "OB" if case == "odd-OB" or syntax.is_compressed else "OW"
    if case == "element-after":
        ds.add_new(0xFFFCFFFC, "OB", b"\0\0")  # Data Set Trailing Padding
    _with_meta(ds, syntax)
    if case == "raw":  # as read from a file, nothing converted yet
        ds = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
        ds.file_meta = new_file_meta(ds, syntax)
    by_hand = []
    real = writer._write_pixel_data
    monkeypatch.setattr(writer, "_write_pixel_data", lambda *args: by_hand.append(1) or real(*args))
    fast, reference = _both(ds)
    assert fast == reference
    assert len(by_hand) == (0 if case == "element-after" else 1)
    assert pydicom.dcmread(io.BytesIO(fast)).PixelData == pydicom.dcmread(io.BytesIO(reference)).PixelData


def _values_data_set(charset: str | list[str] | None) -> Dataset:
    """Plain and unusual values of every VR the encoder handles, and some it hands to pydicom."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import DSfloat

    ds = ct_slice(4)
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "X"]  # CS, 4 values, odd joined length
    ds.PatientSex = ""  # empty
    ds.Modality = "CT"
    ds.add_new(0x00080060, "CS", "CT")
    ds.StudyDate = "20240315"
    ds.StudyTime = "101530.5"  # odd length
    ds.AcquisitionDateTime = "20240315101530"
    ds.PatientAge = "063Y"
    ds.StationName = "AE7"  # SH, odd
    ds.InstitutionName = "Fake General Hospital"  # LO
    ds.StudyDescription = "Étude CT" if charset in ("ISO_IR 100", "ISO_IR 192") else "CT STUDY"
    ds.ImageComments = "x" * 71  # LT, odd
    ds.add_new(0x00081190, "UR", "https://example.invalid/x")  # Retrieve URL
    ds.add_new(0x00180015, "CS", ["", ""])  # two empty values
    ds.SliceThickness = DSfloat("1.50", auto_format=False)  # the string as read
    ds.PixelSpacing = ["0.7", "0.70"]
    ds.WindowCenter = MultiValue(DSfloat, ["40", "-600"])
    ds.InstanceNumber = 7
    ds.ImagePositionPatient = [-175.5, -175.5, 12.0]
    ds.Rows = ds.Columns = 4
    ds.add_new(0x00280106, "US", 0)  # Smallest Image Pixel Value
    ds.add_new(0x00181151, "IS", 120)  # X-Ray Tube Current
    ds.add_new(0x00189311, "FD", 1.5)  # Spiral Pitch Factor
    ds.add_new(0x00081163, "FD", [0.5, 0.625])  # Time Range
    ds.add_new(0x00089459, "FL", 2)  # an int in a float VR
    ds.add_new(0x00186020, "SL", -3)  # Reference Pixel X0
    ds.add_new(0x00280034, "IS", [1, 1])  # Pixel Aspect Ratio
    ds.add_new(0x00281101, "SS", [256, 0, 16])  # LUT descriptor: pydicom's own rule
    ds.add_new(0x00209165, "AT", [0x00100010])  # AT: pydicom
    ds.add_new(0x00091010, "LO", "PRIVATE TEXT")  # private
    ds.add_new(0x00090010, "LO", "FAKE CREATOR")
    ds.add_new(0x00080119, "UC", "A LONG CODE VALUE")  # UC: a 4-byte length
    ds.add_new(0x00080427, "UL", 70000)  # Number of Study Records in Instance
    ds.add_new(0x00540081, "US", 3)
    ds.PixelData = bytes(32)
    return ds


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO_IR 192", ["", "ISO 2022 IR 87"], "ISO_IR 144"],
                         ids=["default", "latin-1", "utf-8", "iso2022-jp", "cyrillic"])
def test_plain_values_encoded_here_are_what_dcmwrite_writes(syntax: UID, charset: str | list[str] | None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every VR the encoder writes itself, single and multiple values, empty values, odd lengths,
    DS strings as read, ints in float VRs, in four syntaxes and five character sets (ASCII text
    is encoded here only where the set leaves it as it is): the bytes of dcmwrite; and the
    encoder is used (only the sequences, names, AT, SS, binary values and non-plain text are
    left to pydicom)."""
    from device_ai.dicom import writer

    source = _with_meta(_values_data_set(charset), syntax)
    ds = pydicom.dcmread(io.BytesIO(part10_bytes(copy.deepcopy(source))))  # as a read file, converted
    for element in ds.iterall():
        pass
    ds.file_meta = new_file_meta(ds, syntax)
    delegated: list[str] = []
    real = writer.write_data_element
    monkeypatch.setattr(writer, "write_data_element",
                        lambda fp, element, encodings=None: delegated.append(element.VR) or real(fp, element, encodings))
    fast, reference = _both(ds)
    assert fast == reference
    assert not set(delegated) & {"CS", "DA", "TM", "DT", "AS", "UI", "UR", "DS", "IS", "US", "UL", "SL", "FL", "FD"}
    text_here = charset in (None, "ISO_IR 100", "ISO_IR 192")
    delegated_text = delegated.count("LO") + delegated.count("SH") + delegated.count("LT") + delegated.count("UC")
    if text_here:  # ASCII text here, only the non-ASCII description left to pydicom
        assert delegated_text == (1 if charset else 0)
    else:
        assert delegated_text >= 5


@pytest.mark.req("SRS-065")
def test_a_value_too_long_for_its_length_field_and_a_changed_charset_go_to_pydicom() -> None:
    source = _with_meta(_values_data_set(None), ExplicitVRLittleEndian)
    ds = pydicom.dcmread(io.BytesIO(part10_bytes(copy.deepcopy(source))))
    ds.file_meta = new_file_meta(ds, ExplicitVRLittleEndian)
    ds.add_new(0x00180015, "CS", "A" * 70_001)  # longer than a 2-byte length: pydicom writes it as UN
    fast, reference = _both(ds)
    assert fast == reference
    ds.SpecificCharacterSet = "ISO_IR 100"  # not what it was read with: pydicom re-encodes everything
    ds.StudyDescription = "Étude"
    fast, reference = _both(ds)
    assert fast == reference


def _sequences_data_set() -> Dataset:
    from pydicom.sequence import Sequence

    ds = ct_slice(5)
    nested = Dataset()
    nested.ConceptNameCodeSequence = Sequence([_code_item()])
    nested.TextValue = "Ünïcode in an item with its own character set"
    nested.SpecificCharacterSet = "ISO_IR 100"
    ds.ContentSequence = Sequence([nested, Dataset()])  # an empty item too
    ds.add_new(0x00081140, "SQ", Sequence([]))  # an empty sequence
    return ds


def _code_item() -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic Profile"
    return code


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
@pytest.mark.parametrize("as_read", [False, True], ids=["made-in-memory", "as-read"])
def test_sequences_encoded_here_are_what_dcmwrite_writes(syntax: UID, as_read: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested sequences, empty items and sequences, an item with its own character set, items
    and sequences of undefined length (as a modality writes them), items made in memory added
    to a data set read from a file (what the marking adds): the bytes of dcmwrite. Only the item
    pydicom must correct (an ambiguous VR) goes to pydicom; a data set made in memory goes to
    pydicom whole."""
    from pydicom.sequence import Sequence

    from device_ai.dicom import writer

    ds = _with_meta(_sequences_data_set(), syntax)
    if as_read:
        ds = pydicom.dcmread(io.BytesIO(part10_bytes(copy.deepcopy(ds))))
        ds.ContentSequence[0]  # noqa: B018 - converted
        ds["ContentSequence"].is_undefined_length = True  # as a modality writes them
        ds.ContentSequence[0].is_undefined_length_sequence_item = True
        ambiguous = Dataset()
        ambiguous.add_new(0x00281101, "US or SS", [256, 0, 16])  # pydicom corrects it: pydicom writes the item
        ds.add_new(0x00082112, "SQ", Sequence([ambiguous]))
        ds.DeidentificationMethodCodeSequence = Sequence([_code_item()])  # made in memory, nothing to correct
        ds.file_meta = new_file_meta(ds, syntax)
    items_by_pydicom = []
    real = writer.write_sequence_item
    monkeypatch.setattr(writer, "write_sequence_item",
                        lambda fp, item, encodings: items_by_pydicom.append(1) or real(fp, item, encodings))
    fast, reference = _both(ds)
    assert fast == reference
    assert len(items_by_pydicom) == (1 if as_read else 0)
    again = pydicom.dcmread(io.BytesIO(fast))
    assert again.ContentSequence[0].ConceptNameCodeSequence[0].CodeValue == "113100"
    assert again.ContentSequence[0].TextValue.startswith("Ünïcode")
