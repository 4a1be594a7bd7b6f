"""Independent review of the hand-written Part 10 encoder (``writer.part10_bytes_with_meta``).

Its contract is "the bytes ``part10_bytes`` (pydicom's ``dcmwrite(enforce_file_format=True)``)
writes". These tests try to break that contract with data sets the existing byte-compare tests
(test_writer_meta.py) do not draw: randomly generated values of every VR the encoder encodes
itself (text in five character sets, multiple values, backslashes, empty and odd lengths,
numbers at their limits), items with their own character set and undefined lengths, raw
(unread) elements, private blocks, values over 64 KiB, 4-byte-length VRs, group lengths and
encapsulated Pixel Data with a Basic Offset Table and several fragments; and they read the
outputs with dcmtk's dcmdump and dicom3tools' dciodvfy. Where the encoder and pydicom differ,
the case is kept as a strict xfail naming the difference.
"""

from __future__ import annotations

import copy
import io
import struct
import subprocess
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
)

from conftest import dciodvfy_errors, require_tool
from device_ai.dicom.deidentify.marking import new_file_meta
from device_ai.dicom.writer import part10_bytes, part10_bytes_with_meta
from tests.dicom.deid_corpus import ct_slice

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]
CHARSETS = [None, "ISO_IR 100", "ISO_IR 192", ["", "ISO 2022 IR 87"], "ISO_IR 144"]

# Standard tags whose dictionary VR is the one named (so that a data set read back in implicit VR
# converts to the same VR): the VRs the encoder writes itself, and some it hands to pydicom.
TAGS = {
    "AE": 0x00080054, "AS": 0x00101010, "CS": 0x00180015, "DA": 0x00080023, "DT": 0x0008002A,
    "TM": 0x00080033, "UI": 0x00200200, "UR": 0x00081190, "SH": 0x00081010, "LO": 0x00081030,
    "ST": 0x00080081, "LT": 0x00204000, "UC": 0x00080119, "UT": 0x0040A160, "PN": 0x00081070,
    "US": 0x00540081, "UL": 0x00080427, "SL": 0x00186020, "SS": 0x00189219, "FL": 0x00089459,
    "FD": 0x00189306, "SV": 0x00720082, "UV": 0x00720083, "AT": 0x00209165, "IS": 0x00200013,
    "DS": 0x00180050, "OB": 0x0008041B, "OW": 0x00660103, "OF": 0x00181638, "OD": 0x003A032E,
    "OL": 0x00660040, "OV": 0x00720081, "UN": 0x0072006D,
}
MULTI = {"AE", "CS", "DA", "DT", "TM", "UI", "SH", "LO", "UC", "PN", "IS", "DS"}  # VM 1-n in PS3.5 terms here
NUMBER_RANGES = {"US": (0, 2**16 - 1), "UL": (0, 2**32 - 1), "SL": (-(2**31), 2**31 - 1), "SS": (-(2**15), 2**15 - 1),
                 "SV": (-(2**63), 2**63 - 1), "UV": (0, 2**64 - 1)}
TEXT = "AZaz09 .-_^=\\éÅЖ山"  # ASCII, a backslash, Latin-1, Cyrillic and a CJK character
# pydicom writes AE, AS, CS, DA, DT, TM and UR in Latin-1 and refuses other characters there
LATIN_1 = "AZaz09 .-_^=\\éÅ"


@pytest.mark.req("SRS-065")
def test_the_tag_table_matches_the_dictionary() -> None:
    assert {vr: str(dictionary_VR(tag)) for vr, tag in TAGS.items()} == {vr: vr for vr in TAGS}


def _outcome(write: Callable[[Dataset], bytes], ds: Dataset) -> bytes | str:
    """The bytes written, or the exception's type name where the writer refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return write(copy.deepcopy(ds))
        except Exception as exc:  # noqa: BLE001 - the outcome compared is which exception
            return type(exc).__name__


def _same_as_dcmwrite(ds: Dataset) -> tuple[bytes | str, bytes | str]:
    return _outcome(part10_bytes_with_meta, ds), _outcome(part10_bytes, ds)


def _encoded_here(ds: Dataset) -> bytes | str:
    """``part10_bytes_with_meta`` with its whole-file fallback to dcmwrite made to fail: the
    outcome of the hand-written encoder itself (pydicom's element writers still used inside)."""
    from device_ai.dicom import writer

    def no_fallback(_: Dataset) -> bytes:
        raise AssertionError("fell back to part10_bytes")

    real, writer.part10_bytes = writer.part10_bytes, no_fallback
    try:
        return _outcome(part10_bytes_with_meta, ds)
    finally:
        writer.part10_bytes = real


def _with_meta(ds: Dataset, syntax: UID) -> Dataset:
    ds.file_meta = new_file_meta(ds, syntax)
    return ds


def _as_read(ds: Dataset, syntax: UID) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pydicom.dcmread(io.BytesIO(part10_bytes(copy.deepcopy(_with_meta(ds, syntax)))))
    read.file_meta = new_file_meta(read, syntax)
    return read


# ---------------------------------------------------------------------------------------------
# Generated data sets


def _strings(vr: str) -> st.SearchStrategy:
    alphabet = "0123456789." if vr == "UI" else TEXT if vr in ("SH", "LO", "ST", "LT", "UC", "UT", "PN") else LATIN_1
    one = st.text(alphabet=alphabet, max_size=13)
    if vr in MULTI:
        return st.one_of(one, st.lists(one, min_size=0, max_size=3))
    return one


def _numbers(vr: str) -> st.SearchStrategy:
    if vr in NUMBER_RANGES:
        low, high = NUMBER_RANGES[vr]
        one = st.one_of(st.integers(low, high), st.sampled_from([low, high]))
    elif vr == "FL":
        one = st.floats(width=32, allow_nan=False)
    else:
        one = st.floats(allow_nan=False)
    return st.one_of(one, st.lists(one, min_size=0, max_size=4))


def _value(vr: str) -> st.SearchStrategy:
    if vr in ("US", "UL", "SL", "SS", "SV", "UV", "FL", "FD"):
        return _numbers(vr)
    if vr == "IS":
        return st.lists(st.integers(-(2**31), 2**31 - 1).map(str), min_size=1, max_size=3)
    if vr == "DS":
        decimals = ["0", "1.50", "-0.7", "1e3", " 12.5", "3.000000000001"]  # as read: the string is kept
        return st.lists(st.sampled_from(decimals), min_size=1, max_size=3)
    if vr == "AT":
        return st.lists(st.sampled_from([0x00100010, 0x7FE00010, 0x00091001]), min_size=1, max_size=3)
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        unit = {"OB": 1, "UN": 1, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}[vr]
        return st.integers(0, 5).map(lambda n, unit=unit: bytes(range(n * unit)))  # odd lengths for OB and UN
    return _strings(vr)


@st.composite
def _elements(draw: st.DrawFn, max_size: int) -> dict[str, object]:
    vrs = draw(st.lists(st.sampled_from(sorted(TAGS)), min_size=1, max_size=max_size, unique=True))
    return {vr: draw(_value(vr)) for vr in vrs}


def _fill(ds: Dataset, values: dict[str, object]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for vr, value in values.items():
            ds.add_new(TAGS[vr], vr, value)


@st.composite
def _data_sets(draw: st.DrawFn) -> tuple[Dataset, UID, bool]:
    syntax = draw(st.sampled_from(SYNTAXES))
    ds = ct_slice(draw(st.integers(0, 9)))
    charset = draw(st.sampled_from(CHARSETS))
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    _fill(ds, draw(_elements(8)))
    if draw(st.booleans()):  # a private block
        ds.add_new(0x00090010, "LO", "FAKE CREATOR")
        ds.add_new(0x00091001, "LO", draw(_strings("LO")))
        ds.add_new(0x00091002, "UN", b"\x01\x02\x03")
    items = []
    for _ in range(draw(st.integers(0, 2))):
        item = Dataset()
        own = draw(st.sampled_from([*CHARSETS, "absent"]))
        if own != "absent":
            item.add_new(0x00080005, "CS", own)
        _fill(item, draw(_elements(4)))
        if draw(st.booleans()):  # a nested sequence, possibly empty
            inner = Dataset()
            _fill(inner, draw(_elements(2)))
            item.add_new(0x0040A730, "SQ", Sequence([inner] if draw(st.booleans()) else []))
        items.append(item)
    ds.add_new(0x0040A730, "SQ", Sequence(items))
    as_read = draw(st.sampled_from([True, True, True, False]))  # made in memory: pydicom writes the top level
    return ds, syntax, as_read


@pytest.mark.req("SRS-065")
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_data_sets(), st.data())
def test_generated_data_sets_are_written_as_dcmwrite_writes_them(case: tuple[Dataset, UID, bool],
                                                                 data: st.DataObject) -> None:
    """Random values of every VR (also those pydicom writes for the encoder), in four syntaxes and
    five character sets, at the top level and in items with or without their own character set;
    made in memory, or read back from a file with some elements converted and the rest raw and
    some lengths made undefined (as a modality writes them). Same bytes, or the same refusal."""
    ds, syntax, as_read = case
    if as_read:
        try:
            ds = _as_read(ds, syntax)
        except Exception:  # noqa: BLE001 - a value pydicom cannot encode in this syntax: nothing to compare
            event("not encodable by pydicom either")
            return
        if data.draw(st.booleans(), label="everything converted"):  # as the engine leaves it
            for _ in ds.iterall():
                pass
        touched = data.draw(st.lists(st.sampled_from(sorted(TAGS)), max_size=6, unique=True), label="converted")
        for vr in touched:  # converted; the others stay raw unless converted above
            if TAGS[vr] in ds:
                ds[TAGS[vr]]  # noqa: B018
        if data.draw(st.booleans(), label="undefined lengths") and "ContentSequence" in ds:
            ds["ContentSequence"].is_undefined_length = True
            for item in ds.ContentSequence:
                item.is_undefined_length_sequence_item = True
        if data.draw(st.booleans(), label="an item made in memory added"):  # as the marking adds them
            added = Dataset()
            _fill(added, data.draw(_elements(4), label="added item"))
            ds.add_new(0x00082218, "SQ", Sequence([added]))
    else:
        _with_meta(ds, syntax)
    ours, reference = _same_as_dcmwrite(ds)
    if as_read and isinstance(reference, bytes):
        assert _encoded_here(ds) == reference  # the hand-written path, not the fallback, wrote it
    event(f"{'written' if isinstance(reference, bytes) else 'refused: ' + reference}, {syntax.name}, "
          f"{'as read' if as_read else 'in memory'}")
    assert ours == reference


# ---------------------------------------------------------------------------------------------
# Table-driven cases


def _big_values() -> Dataset:
    ds = ct_slice(1)
    ds.InstitutionAddress = "A" * 70_001  # ST: a 2-byte length in explicit VR: pydicom writes UN
    ds.add_new(0x00081030, "LO", ["B" * 40_000, "C" * 40_000])  # LO, two values, joined over 64 KiB
    ds.add_new(0x0040A160, "UT", "T" * 70_001)  # 4-byte lengths: stay as they are
    ds.add_new(0x00080119, "UC", "U" * 70_001)
    ds.add_new(0x00081190, "UR", "https://example.invalid/" + "r" * 70_000)
    ds.add_new(0x00189306, "FD", [1.5] * 9_000)  # FD: 72,000 bytes in a 2-byte-length VR
    return ds


def _four_byte_vrs() -> Dataset:
    ds = ct_slice(2)
    ds.add_new(0x00720082, "SV", [-(2**63), 2**63 - 1])
    ds.add_new(0x00720083, "UV", [0, 2**64 - 1])
    ds.add_new(0x00720081, "OV", bytes(range(16)))
    ds.add_new(0x0072006D, "UN", b"\x01\x02\x03")
    ds.add_new(0x00660040, "OL", bytes(8))
    return ds


def _group_lengths() -> Dataset:
    ds = ct_slice(3)
    ds.add_new(0x00080000, "UL", 1234)  # retired group lengths: not written (PS3.5 7.2)
    ds.add_new(0x00090000, "UL", 8)
    ds.add_new(0x00090010, "LO", "FAKE CREATOR")
    ds.add_new(0x00091001, "LO", "FAKE PRIVATE")
    ds.add_new(0x00040000, "UL", 4)  # group 4: written
    item = Dataset()
    item.add_new(0x00080000, "UL", 99)
    item.CodeValue = "1"
    ds.add_new(0x0040A730, "SQ", Sequence([item]))
    return ds


def _multi_numbers() -> Dataset:
    ds = ct_slice(4)
    ds.add_new(0x00209165, "AT", [0x00100010, 0x7FE00010])
    ds.add_new(0x00189306, "FD", [0.1, -2.5, float("inf"), float("-inf")])
    ds.add_new(0x00089459, "FL", 3)  # an int in a float VR
    ds.add_new(0x00186020, "SL", [-(2**31), 2**31 - 1])
    ds.add_new(0x00189219, "SS", [-(2**15), 2**15 - 1])
    ds.add_new(0x00540081, "US", [0, 65535])
    ds.add_new(0x00080427, "UL", [0, 2**32 - 1])
    ds.add_new(0x00200013, "IS", ["-0", "+7"])  # as read, signs kept
    ds.add_new(0x00180050, "DS", ["1.000", "-0.50"])
    return ds


def _text_in_charsets(charset: str | list[str]) -> Callable[[], Dataset]:
    def make() -> Dataset:
        ds = ct_slice(5)
        ds.SpecificCharacterSet = charset
        ds.PatientName = "Yamada^Tarou=山田^太郎" if "87" in str(charset) else "Müller^Jürgen"
        ds.StationName = "Stätion"
        ds.InstitutionName = "Hôpital\\Second"
        ds.add_new(0x00080081, "ST", "Ünï \\ backslash")
        ds.ImageComments = "plain ascii, odd"
        ds.add_new(0x0040A160, "UT", "текст")
        ds.add_new(0x00080119, "UC", "ü")
        item = Dataset()
        item.SpecificCharacterSet = "ISO_IR 100"  # an item with its own set
        item.CodeMeaning = "Über"
        plain = Dataset()
        plain.CodeMeaning = "inherits"  # an item without one
        ds.add_new(0x0040A730, "SQ", Sequence([item, plain]))
        return ds
    return make


def _nested_undefined() -> Dataset:
    ds = ct_slice(6)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "1", "99FAKE", "odd"
    middle = Dataset()
    middle.ConceptNameCodeSequence = Sequence([code])
    middle.TextValue = "ascii text, odd"  # UT: a 4-byte length in explicit VR
    middle.add_new(0x0040A730, "SQ", Sequence([]))  # empty, defined length
    top = Dataset()
    top.add_new(0x0040A730, "SQ", Sequence([middle, Dataset()]))  # and an empty item
    ds.add_new(0x0040A730, "SQ", Sequence([top]))
    ds.add_new(0x00081140, "SQ", Sequence([]))  # empty, made undefined below
    return ds


def _undefined_lengths(ds: Dataset) -> Dataset:
    for _ in ds.iterall():  # every element converted, as the de-identification engine leaves them
        pass
    ds["ContentSequence"].is_undefined_length = True
    ds.ContentSequence[0].is_undefined_length_sequence_item = True
    ds.ContentSequence[0].ContentSequence[0]["ContentSequence"].is_undefined_length = True
    ds["ReferencedImageSequence"].is_undefined_length = True
    return ds


def _raw(make: Callable[[], Dataset]) -> Callable[[UID], Dataset]:
    return lambda syntax: _as_read(make(), syntax)  # nothing accessed: every element raw


TABLE: dict[str, Callable[[UID], Dataset]] = {
    "over-64KiB": lambda s: _with_meta(_big_values(), s),
    "over-64KiB-as-read": lambda s: _as_read(_big_values(), s),
    "4-byte-length-VRs": lambda s: _with_meta(_four_byte_vrs(), s),
    "4-byte-length-VRs-raw": _raw(_four_byte_vrs),
    "group-lengths-and-private": lambda s: _with_meta(_group_lengths(), s),
    "group-lengths-raw": _raw(_group_lengths),
    "multi-valued-numbers": lambda s: _with_meta(_multi_numbers(), s),
    "multi-valued-numbers-as-read": lambda s: _as_read(_multi_numbers(), s),
    "utf-8": lambda s: _as_read(_text_in_charsets("ISO_IR 192")(), s),
    "iso-2022-jp": lambda s: _as_read(_text_in_charsets(["", "ISO 2022 IR 87"])(), s),
    "latin-1-made-in-memory": lambda s: _with_meta(_text_in_charsets("ISO_IR 100")(), s),
    "nested-undefined-lengths": lambda s: _undefined_lengths(_as_read(_nested_undefined(), s)),
    "nested-made-in-memory": lambda s: _with_meta(_nested_undefined(), s),
}


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
@pytest.mark.parametrize("name", sorted(TABLE))
def test_table_cases_are_written_as_dcmwrite_writes_them(name: str, syntax: UID) -> None:
    ds = TABLE[name](syntax)
    ours, reference = _same_as_dcmwrite(ds)
    assert isinstance(reference, bytes), f"dcmwrite refuses the case itself: {reference}"
    assert ours == reference


def _encapsulated(frames: list[bytes], *, bot: bool, fragments: int, odd_tail: bool = False) -> Dataset:
    ds = ct_slice(7)
    ds.NumberOfFrames = len(frames)
    value = encapsulate(frames, fragments_per_frame=fragments, has_bot=bot)
    ds.PixelData = value + (b"\x00" if odd_tail else b"")
    ds["PixelData"].VR = "OB"
    return ds


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, RLELossless], ids=lambda s: s.name)
@pytest.mark.parametrize("shape", ["bot-2-frames-2-fragments", "no-bot-1-fragment", "odd-total", "as-read"])
def test_encapsulated_pixel_data_is_written_as_dcmwrite_writes_it(syntax: UID, shape: str) -> None:
    frames = [b"\xff\xd8frame-one\xff\xd9", b"\xff\xd8frame-two-odd!\xff\xd9"]
    if shape == "bot-2-frames-2-fragments":
        ds = _with_meta(_encapsulated(frames, bot=True, fragments=2), syntax)
    elif shape == "no-bot-1-fragment":
        ds = _with_meta(_encapsulated(frames[:1], bot=False, fragments=1), syntax)
    elif shape == "odd-total":
        ds = _with_meta(_encapsulated(frames[:1], bot=True, fragments=1, odd_tail=True), syntax)
    else:
        ds = _as_read(_encapsulated(frames, bot=True, fragments=1), syntax)
    ours, reference = _same_as_dcmwrite(ds)
    assert isinstance(ours, bytes) and ours == reference
    again = pydicom.dcmread(io.BytesIO(ours))
    assert again["PixelData"].is_undefined_length
    assert ours.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # the sequence delimiter closes the file


@pytest.mark.req("SRS-065")
def test_refusals_are_the_same_as_dcmwrites() -> None:
    """What dcmwrite refuses, the encoder refuses too, with the same exception type."""
    little = _as_read(ct_slice(8), ExplicitVRLittleEndian)
    little.file_meta = new_file_meta(little, ExplicitVRBigEndian)  # save_as does not swap byte order
    not_encapsulated = _with_meta(ct_slice(8), JPEGBaseline8Bit)
    not_encapsulated.PixelData = bytes(10)
    ambiguous = _as_read(ct_slice(8), ExplicitVRLittleEndian)
    ambiguous.add_new(0x00209165, "US or SS", [256, 0, 16])  # an ambiguous VR cannot be written explicitly
    for ds in (little, not_encapsulated, ambiguous):
        ours, reference = _same_as_dcmwrite(ds)
        assert isinstance(reference, str) and ours == reference
    negative = _with_meta(ct_slice(8), ExplicitVRLittleEndian)  # negative control: a plain case is written
    assert isinstance(_same_as_dcmwrite(negative)[0], bytes)


@pytest.mark.req("SRS-077")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
def test_preamble_prefix_and_meta_group_length_read_independently(syntax: UID) -> None:
    """Not by comparison with pydicom: 128 zero bytes, DICM, a File Meta group in explicit VR
    little endian whose group length is the size of the elements after it, and the data set
    starting right after (each element tag at the offset the length says)."""
    data = part10_bytes_with_meta(_as_read(ct_slice(9), syntax))
    assert data[:128] == bytes(128) and data[128:132] == b"DICM"
    group, element, vr, size, length = struct.unpack_from("<HH2sHI", data, 132)
    assert (group, element, vr, size) == (2, 0, b"UL", 4)
    end = 144 + length
    offset = 144
    while offset < end:  # every meta element in explicit VR LE, ending exactly at the group length
        group, element, vr = struct.unpack_from("<HH2s", data, offset)
        assert group == 2
        if vr in (b"OB", b"UN", b"UT"):
            offset += 12 + struct.unpack_from("<I", data, offset + 8)[0]
        else:
            offset += 8 + struct.unpack_from("<H", data, offset + 6)[0]
    assert offset == end
    body = zlib.decompress(data[end:], -zlib.MAX_WBITS) if syntax == DeflatedExplicitVRLittleEndian else data[end:]
    assert body[:2] == (b"\x00\x08" if syntax == ExplicitVRBigEndian else b"\x08\x00")  # group 0008 begins the data set


def _dcmdump(tool: str, data: bytes, path: Path) -> tuple[int, list[str]]:
    """dcmdump's exit status and its error and warning lines for these bytes."""
    path.write_bytes(data)
    result = subprocess.run([tool, "-q", "+E", str(path)], capture_output=True, text=True, errors="replace",
                            timeout=120)
    return result.returncode, [line for line in (result.stdout + result.stderr).splitlines()
                               if line.startswith(("E:", "W:"))]


def _encoding_errors(tool: str, path: Path) -> list[str]:
    """dciodvfy's errors that are not about the IOD's content (those name a Module)."""
    return [line for line in dciodvfy_errors(tool, path) if "Module=<" not in line]


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("syntax", [*SYNTAXES, RLELossless], ids=lambda s: s.name)
def test_dcmtk_and_dicom3tools_read_the_outputs(syntax: UID, tmp_path: Path) -> None:
    """dcmdump parses every output (nested, empty and undefined-length sequences; encapsulated
    Pixel Data) with no error or warning; dciodvfy reports no encoding error, only content errors
    of the synthetic data set (they name a Module). dciodvfy is not run on the deflated output:
    this build cannot inflate (a file deflated by dcmtk's dcmconv +td fails there alike).
    Negative controls: the padding byte of an odd value dropped is a read failure for dciodvfy;
    a truncated file is an error for dcmdump."""
    dcmdump, dciodvfy = require_tool("dcmdump"), require_tool("dciodvfy")
    if syntax.is_compressed:
        ds = _as_read(_encapsulated([bytes(8)], bot=True, fragments=1), syntax)
    else:
        ds = _undefined_lengths(_as_read(_nested_undefined(), syntax))
    data = part10_bytes_with_meta(ds)
    path = tmp_path / "out.dcm"
    assert _dcmdump(dcmdump, data, path) == (0, [])
    assert _dcmdump(dcmdump, data[:-3], path) != (0, [])  # negative control
    if syntax == DeflatedExplicitVRLittleEndian:
        return
    path.write_bytes(data)
    assert _encoding_errors(dciodvfy, path) == []
    at = data.find(b"Fake General Hospital")  # 21 characters: a pad byte follows
    assert at > 0 and data[at + 21:at + 22] == b" "
    length = struct.pack("<H" if syntax.is_little_endian else ">H", 21)
    path.write_bytes(data[:at - 2] + length + data[at:at + 21] + data[at + 22:])
    assert _encoding_errors(dciodvfy, path) != []  # negative control


# ---------------------------------------------------------------------------------------------
# Divergences found (kept failing until decided)


@pytest.mark.req("SRS-065")
@pytest.mark.xfail(strict=True, reason="review finding: the File Meta SOP Class/Instance UIDs are written as given; "
                   "dcmwrite(enforce_file_format=True) replaces them by the data set's SOPClassUID/SOPInstanceUID "
                   "when they differ (not reachable from Deidentifier: new_file_meta is built from the data set "
                   "just before)")
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
def test_meta_uids_that_differ_from_the_data_set_are_replaced_as_dcmwrite_does(syntax: UID) -> None:
    ds = _with_meta(ct_slice(1), syntax)
    ds.SOPInstanceUID = "1.2.999.1.4.77"  # after the meta was made
    ours, reference = _same_as_dcmwrite(ds)
    assert ours == reference


@pytest.mark.req("SRS-065")
@pytest.mark.xfail(strict=True, reason="review finding: with the data set read in another encoding than the syntax "
                   "written and no Pixel Representation, the encoder removes Pixel Data before pydicom resolves a "
                   "'US or SS' VR, so pydicom takes US where dcmwrite (Pixel Data present) refuses with "
                   "AttributeError; not reachable from Deidentifier (its engine converts the element first and "
                   "fails the same way)")
def test_an_unresolvable_ambiguous_vr_is_refused_as_dcmwrite_refuses_it() -> None:
    ds = ct_slice(1)
    del ds.PixelRepresentation
    ds.add_new(0x00280106, "US", 5)
    read = _as_read(ds, ImplicitVRLittleEndian)  # raw, VR 'US or SS' in implicit VR
    read.PixelData  # noqa: B018 - converted, so that the encoder appends it by hand
    read.file_meta = new_file_meta(read, ExplicitVRLittleEndian)  # written in another encoding
    ours, reference = _same_as_dcmwrite(read)
    assert reference == "AttributeError"  # dcmwrite cannot resolve the VR
    assert ours == reference


@pytest.mark.req("SRS-065")
@pytest.mark.xfail(strict=True, reason="review finding: a float out of FL range raises OverflowError from the "
                   "encoder's struct.pack, pydicom's write_numbers raises OSError naming the tag; both refuse, the "
                   "quarantine reason differs ('processing-error: OverflowError')")
def test_an_out_of_range_float_is_refused_as_dcmwrite_refuses_it() -> None:
    read = _as_read(_multi_numbers(), ExplicitVRLittleEndian)
    read[0x00089459].value = 1e300
    ours, reference = _same_as_dcmwrite(read)
    assert reference == "OSError"
    assert ours == reference


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("mutation", ["UI padded with a space", "UT given a 2-byte length", "item delimiter dropped"])
def test_the_comparison_catches_a_broken_encoder(mutation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with the encoder broken in one small way, the table cases differ from
    dcmwrite (and without the break they do not)."""
    from device_ai.dicom import writer

    cases = [TABLE["utf-8"](ExplicitVRLittleEndian), TABLE["nested-undefined-lengths"](ExplicitVRLittleEndian),
             TABLE["multi-valued-numbers-as-read"](ExplicitVRLittleEndian)]
    assert all(_encoded_here(ds) == _outcome(part10_bytes, ds) for ds in cases)
    if mutation == "UI padded with a space":
        real_plain = writer._plain_value
        monkeypatch.setattr(writer, "_plain_value", lambda element, plain, order: (
            None if (value := real_plain(element, plain, order)) is None else
            value[:-1] + b" " if element.VR == "UI" and value.endswith(b"\0") else value))
    elif mutation == "UT given a 2-byte length":
        monkeypatch.setattr(writer, "_LONG_LENGTH_VRS", writer._LONG_LENGTH_VRS - {"UT"})
    else:
        real_item = writer._item
        monkeypatch.setattr(writer, "_item", lambda *args: real_item(*args).removesuffix(b"\xfe\xff\x0d\xe0\0\0\0\0"))
    assert any(_encoded_here(ds) != _outcome(part10_bytes, ds) for ds in cases)
