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
