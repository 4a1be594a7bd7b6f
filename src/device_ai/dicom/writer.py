"""Writing DICOM Part 10 files the device produces (PS3.10 §7.1).

The 128-byte preamble is always zeros: a preamble can hold an executable header and make
the file a polyglot (CVE-2019-11687). Files are written atomically, private (0600) unless the
caller asks for ``Access.PUBLIC`` (``atomic_io.Access``).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.charset import convert_encodings, default_encoding
from pydicom.filewriter import write_data_element, write_sequence_item
from pydicom.filewriter import write_dataset as write_elements
from pydicom.tag import BaseTag, tag_in_exception
from pydicom.valuerep import AMBIGUOUS_VR
from pydicom.multival import MultiValue
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from device_ai.atomic_io import Access, atomic_write_bytes


def part10_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.preamble = b"\0" * 128
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# The File Meta Information elements ``part10_bytes_with_meta`` encodes itself: (tag, VR, padding)
_META_STRINGS = ((0x00020002, b"UI", "\0"), (0x00020003, b"UI", "\0"), (0x00020010, b"UI", "\0"),
                 (0x00020012, b"UI", "\0"), (0x00020013, b"SH", " "))
_META_VERSION = b"\x00\x01"


def part10_bytes_with_meta(ds: Dataset) -> bytes:
    """The bytes ``part10_bytes(ds)`` writes, for a data set whose ``file_meta`` holds exactly the
    Media Storage SOP Class and Instance UIDs, the Transfer Syntax UID and the Implementation
    Class UID and Version Name (what the de-identifier writes, ``marking.new_file_meta``), at a
    fraction of the cost: the File Meta Information group is encoded here (pydicom's generic
    path copies, validates and re-encodes it for every file), the data set by pydicom's own
    element writer in the transfer syntax's encoding (``_write_data_set`` encodes the plain
    values of the common VRs itself), except a Pixel Data element that ends the data set,
    which is appended here (pydicom copies its value twice more on the way; half a megabyte a
    CT slice). Anything else (other meta elements,
    values that are not short ASCII UIDs and names, a syntax pydicom cannot encode for, a
    command or meta element in the data set) takes ``part10_bytes``, so the result is
    always what pydicom writes, which the tests compare byte for byte."""
    meta = _plain_meta(ds)
    syntax = UID(meta[2]) if meta is not None else None
    if meta is None or syntax is None or syntax.is_private or not syntax.is_transfer_syntax or \
            any(tag >> 16 in (0, 2) for tag in ds.keys()) or \
            ds.original_encoding[1] not in (None, syntax.is_little_endian):  # save_as refuses to swap byte order
        return part10_bytes(ds)
    if "PixelData" in ds:  # as dcmwrite: encapsulated pixel data has an undefined length (PS3.5 A.4)
        ds["PixelData"].is_undefined_length = syntax.is_compressed
    ds.preamble = b"\0" * 128
    header = b"".join((ds.preamble, b"DICM", _meta_group(meta)))
    deflated = syntax == DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = syntax.is_implicit_VR, syntax.is_little_endian
    if not deflated:
        buffer.write(header)  # the data set follows in the same buffer: no copy of the whole file to join them
    pixels = _last_pixel_data(ds, syntax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pixels is None:
            _write_data_set(buffer, ds, syntax)
        else:
            del ds[_PIXEL_DATA]
            try:
                _write_data_set(buffer, ds, syntax)
            finally:
                ds[_PIXEL_DATA] = pixels
            _write_pixel_data(buffer, pixels, syntax)
    if not deflated:
        return buffer.getvalue()
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # PS3.5 A.5, as dcmwrite deflates it
    body = compressor.compress(buffer.getvalue()) + compressor.flush()
    return header + body + b"\0" * (len(body) % 2)


# What _plain_value encodes itself; every other element is written by pydicom's write_data_element.
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "UR"})  # pydicom: ASCII, not the charset
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT"})  # pydicom: the data set's character set
_PLAIN_CHARSETS = frozenset({"ISO_IR 6", "ISO_IR 100", "ISO_IR 192"})  # ASCII text is its own bytes in these
_NUMBER_FORMATS = {"US": "H", "UL": "L", "SL": "l", "SV": "q", "UV": "Q", "FL": "f", "FD": "d"}  # SS: LUT rule
_LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})


def _write_data_set(buffer: DicomBytesIO, ds: Dataset, syntax: UID) -> None:
    """pydicom's ``write_dataset(buffer, ds)``, the plain values of the common VRs encoded
    here: a string or list of strings of ASCII characters (AE, AS, CS, DA, DT, TM, UI, UR; text
    VRs where the character set leaves ASCII as it is), DS and IS numbers, binary numbers, and
    sequences of items made of such values. Names, raw and binary values and anything unusual
    go to pydicom's own ``write_data_element``, an item pydicom would correct to pydicom's
    ``write_sequence_item``, and the whole data set to pydicom when it would re-encode it
    (another byte order or VR encoding than it was read in, a changed character set)."""
    implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    if ds.original_encoding != (implicit, little) or \
            ds.original_character_set != getattr(ds, "_character_set", None):
        write_elements(buffer, ds)
        return
    charset = ds.get("SpecificCharacterSet", None)
    encodings = charset if charset is not None else default_encoding  # what write_dataset passes on
    buffer.write(_encoded(ds, _Encoding(implicit, little), encodings, _plain_charset(charset)))


@dataclass(frozen=True)
class _Encoding:
    implicit: bool
    little: bool

    @property
    def order(self) -> str:
        return "<" if self.little else ">"


def _plain_charset(charset: object) -> bool:
    """Whether text in this Specific Character Set value is encoded as its ASCII characters."""
    return not charset or (isinstance(charset, str) and charset in _PLAIN_CHARSETS)


def _encoded(ds: Dataset, encoding: _Encoding, encodings: object, plain_text: bool) -> bytes:
    """The elements of ``ds`` as pydicom's ``write_dataset`` encodes them (``encodings``: what it
    passes to ``write_data_element``)."""
    order = encoding.order
    parts = []
    for tag in sorted(ds.keys(), key=int):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # no retired group lengths (PS3.5 7.2), as write_dataset
        element = ds.get_item(tag)
        if isinstance(element, DataElement) and element.VR == "SQ" and not element.is_buffered:
            parts.append(_sequence(tag, element, encoding, encodings, plain_text))
            continue
        value = _plain_value(element, plain_text, order)
        if value is None or (not encoding.implicit and element.VR not in _LONG_LENGTH_VRS and len(value) > 0xFFFF):
            parts.append(_by_pydicom(lambda fp, element=element: write_data_element(fp, element, encodings),
                                     encoding, tag))
            continue
        if encoding.implicit:
            header = struct.pack(order + "HHI", tag >> 16, tag & 0xFFFF, len(value))
        elif element.VR in _LONG_LENGTH_VRS:
            header = struct.pack(order + "HH2s2xI", tag >> 16, tag & 0xFFFF, element.VR.encode(), len(value))
        else:
            header = struct.pack(order + "HH2sH", tag >> 16, tag & 0xFFFF, element.VR.encode(), len(value))
        parts.append(header + value)
    return b"".join(parts)


def _sequence(tag: int, element: DataElement, encoding: _Encoding, encodings: object, plain_text: bool) -> bytes:
    """A sequence as ``write_data_element`` and ``write_sequence`` encode it (PS3.5 7.5): an
    undefined length and a delimiter where the element has an undefined length, each item with
    its length or, where it had an undefined length, a delimiter."""
    order = encoding.order
    item_encodings = convert_encodings(encodings or [default_encoding])  # what write_sequence passes to items
    body = b"".join(_item(item, encoding, item_encodings, plain_text) for item in element.value) \
        if element.value else b""
    undefined = element.is_undefined_length
    length = 0xFFFFFFFF if undefined else len(body)
    if encoding.implicit:
        header = struct.pack(order + "HHI", tag >> 16, tag & 0xFFFF, length)
    else:
        header = struct.pack(order + "HH2s2xI", tag >> 16, tag & 0xFFFF, b"SQ", length)
    return header + body + (struct.pack(order + "HHI", 0xFFFE, 0xE0DD, 0) if undefined else b"")


def _item(item: Dataset, encoding: _Encoding, parent_encodings: list[str], parent_plain: bool) -> bytes:
    """One sequence item as ``write_sequence_item`` encodes it. Where pydicom would first correct
    the item (read in another encoding, or made in memory) and there is something to correct
    (a raw element, an ambiguous VR), pydicom writes it."""
    order = encoding.order
    corrected = item.original_encoding != (encoding.implicit, encoding.little) or \
        item.original_character_set != getattr(item, "_character_set", None)
    if corrected and not _nothing_to_correct(item):
        return _by_pydicom(lambda fp: write_sequence_item(fp, item, parent_encodings), encoding, 0xFFFEE000)
    charset = item.get("SpecificCharacterSet", None)
    encodings = charset if charset is not None else parent_encodings  # dataset.get(..., parent_encoding)
    plain_text = parent_plain if charset is None else _plain_charset(charset)
    body = _encoded(item, encoding, encodings, plain_text)
    undefined = getattr(item, "is_undefined_length_sequence_item", False)
    header = struct.pack(order + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF if undefined else len(body))
    return header + body + (struct.pack(order + "HHI", 0xFFFE, 0xE00D, 0) if undefined else b"")


def _nothing_to_correct(ds: Dataset) -> bool:
    """Whether pydicom's ``correct_ambiguous_vr`` leaves ``ds`` as it is and reading its
    elements converts nothing: every element, at every level, converted and of one VR."""
    for element in ds.values():
        if not isinstance(element, DataElement) or element.VR in AMBIGUOUS_VR:
            return False
        if element.VR == "SQ" and not all(_nothing_to_correct(item) for item in element.value or []):
            return False
    return True


def _by_pydicom(write: Callable[[DicomBytesIO], None], encoding: _Encoding, tag: int) -> bytes:
    """What one of pydicom's writers writes, in this encoding."""
    scratch = DicomBytesIO()
    scratch.is_implicit_VR, scratch.is_little_endian = encoding.implicit, encoding.little
    with tag_in_exception(BaseTag(tag)):
        write(scratch)
    return scratch.getvalue()


def _plain_value(element: DataElement | object, plain_text: bool, order: str) -> bytes | None:
    """The value bytes pydicom's writer gives a plain element, padded; None: let pydicom write it."""
    if not isinstance(element, DataElement) or element.is_buffered:
        return None  # raw (written as read) or buffered
    vr, value = element.VR, element.value
    if vr not in _STRING_VRS and vr not in _TEXT_VRS and vr not in ("DS", "IS") and vr not in _NUMBER_FORMATS:
        return None
    if value is None or (isinstance(value, str) and not value) or (isinstance(value, MultiValue | list) and not value):
        return b""  # no value (VM 0): nothing is written
    if vr in _STRING_VRS or (plain_text and vr in _TEXT_VRS):
        text = _joined(value, lambda v: v if isinstance(v, str) else None)
        pad = "\0" if vr == "UI" else " "
    elif vr in ("DS", "IS"):  # as write_number_string: the string as read where there is one
        text = _joined(value, lambda v: (v.original_string if hasattr(v, "original_string") else str(v))
                       if isinstance(v, str | int | float) and not isinstance(v, bool) else None)
        pad = " "
    elif vr in _NUMBER_FORMATS:
        return _packed(value, _NUMBER_FORMATS[vr], order)
    else:
        return None
    if text is None or not text.isascii():
        return None
    return (text + pad if len(text) % 2 else text).encode("ascii")


def _joined(value: object, one: object) -> str | None:
    """The values of a single value or a list joined by backslashes (PS3.5 6.4), each given by
    ``one`` (None if any is not plain)."""
    items = list(value) if isinstance(value, MultiValue | list) else [value]
    texts = [one(v) for v in items]  # type: ignore[operator]
    return None if any(t is None for t in texts) else "\\".join(texts)


def _packed(value: object, code: str, order: str) -> bytes | None:
    """write_numbers: one number or a list of them (ints; floats also for FL and FD)."""
    kinds = (int, float) if code in "fd" else (int,)
    items = list(value) if isinstance(value, MultiValue | list) else [value]
    if not all(isinstance(v, kinds) and not isinstance(v, bool) for v in items):
        return None
    try:
        return struct.pack(f"{order}{len(items)}{code}", *items)
    except struct.error:
        return None  # out of range: pydicom raises its own error


_PIXEL_DATA = 0x7FE00010
_SEQUENCE_DELIMITER = 0xFFFEE0DD


def _last_pixel_data(ds: Dataset, syntax: UID) -> DataElement | None:
    """Pixel Data when it is the data set's last element, a converted OB or OW value of bytes
    (encapsulated where the syntax is compressed), so that ``_write_pixel_data`` writes what
    pydicom would; None otherwise (pydicom writes it, and refuses what it refuses)."""
    if _PIXEL_DATA not in ds or max(ds.keys()) != _PIXEL_DATA:
        return None
    element = ds.get_item(_PIXEL_DATA)
    if not isinstance(element, DataElement) or element.VR not in ("OB", "OW") or element.is_buffered:
        return None
    value = element.value
    if not isinstance(value, bytes) or not value:
        return None
    if syntax.is_compressed and not value.startswith(b"\xfe\xff\x00\xe0" if syntax.is_little_endian
                                                     else b"\xff\xfe\xe0\x00"):
        return None
    return element


def _write_pixel_data(buffer: DicomBytesIO, element: DataElement, syntax: UID) -> None:
    """Pixel Data as pydicom's ``write_data_element`` encodes it (PS3.5 7.1, A.4): OB and OW
    have a 4-byte length, a value of odd length gets a NUL, encapsulated data an undefined
    length and a sequence delimiter; the value is written once, not copied on the way."""
    value = element.value
    order = "<" if syntax.is_little_endian else ">"
    padded = len(value) + len(value) % 2
    length = 0xFFFFFFFF if syntax.is_compressed else padded
    if syntax.is_implicit_VR:
        buffer.write(struct.pack(order + "HHI", _PIXEL_DATA >> 16, _PIXEL_DATA & 0xFFFF, length))
    else:
        buffer.write(struct.pack(order + "HH2s2xI", _PIXEL_DATA >> 16, _PIXEL_DATA & 0xFFFF, element.VR.encode(),
                                 length))
    buffer.write(value)
    if len(value) % 2:
        buffer.write(b"\0")
    if syntax.is_compressed:
        buffer.write(struct.pack(order + "HHI", _SEQUENCE_DELIMITER >> 16, _SEQUENCE_DELIMITER & 0xFFFF, 0))


def _plain_meta(ds: Dataset) -> tuple[str, ...] | None:
    """The five string values of a plain de-identifier's file meta, or None."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or sorted(int(tag) for tag in meta.keys()) != [tag for tag, _, _ in _META_STRINGS]:
        return None
    values = []
    for tag, _, _ in _META_STRINGS:
        value = meta.get_item(tag).value
        if isinstance(value, MultiValue | list | tuple) or not isinstance(value, str) or not value or \
                len(value) > 64 or not value.isascii() or "\\" in value:
            return None
        values.append(value)
    return tuple(values)


def _meta_group(values: tuple[str, ...]) -> bytes:
    """File Meta Information (PS3.10 7.1), Explicit VR Little Endian, group length first."""
    elements = [struct.pack("<HH2s2xI", 0x0002, 0x0001, b"OB", len(_META_VERSION)) + _META_VERSION]
    for (tag, vr, padding), value in zip(_META_STRINGS, values, strict=True):
        if len(value) % 2:
            value += padding
        elements.append(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value.encode("ascii"))
    group = b"".join(elements)
    return struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(group)) + group


def write_dataset(ds: Dataset, path: Path, *, access: Access = Access.PRIVATE) -> Path:
    return atomic_write_bytes(Path(path), part10_bytes(ds), access=access)
