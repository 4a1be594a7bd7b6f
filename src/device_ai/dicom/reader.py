"""Reading untrusted DICOM files with limits (reference/audit_security.md §6).

Before pydicom sees a byte:

- the file must be a regular file no larger than ``max_file_bytes`` (stat before reading);
- the bytes are read once into memory, asking for the stat'ed size only (``read(n)``
  allocates ``n`` up front, so a crafted length never drives an allocation from the file);
- the Part 10 header is required (PS3.10 §7.1: 128-byte preamble, ``DICM``, an explicit VR
  little endian File Meta group with a Transfer Syntax UID). **Decision:** files without it
  (raw datasets, pydicom's ``no_meta.dcm``) are refused rather than read with ``force=True``:
  without the meta the transfer syntax would have to be guessed, and a modality or PACS
  always exports Part 10 files. The preamble content is not interpreted: a preamble holding
  an executable header (CVE-2019-11687) is read like any other, and the device never writes
  one back (``writer.py`` zeroes it);
- deflated transfer syntaxes (PS3.5 A.5) are inflated with ``zlib.decompressobj`` and an
  output cap (``max_inflated_bytes``), never unbounded: the inflated size is counted first, a
  piece at a time, so a bomb is refused before its memory is allocated and a valid data set
  costs its size once; the JPIP deflated syntaxes are refused;
- the element stream is pre-scanned (PS3.5 §7.1 element encoding, §7.5 nesting of data sets,
  honouring the transfer syntax's VR and byte order): an unknown VR, a declared length larger
  than the bytes remaining, sequences nested deeper than ``max_sequence_depth``, more than
  ``max_elements`` elements or ``max_values`` values of multi-valued strings or binary numbers
  (each becomes an object when parsed; the VR counted is the one pydicom will use, private
  dictionary included), native top-level pixel data longer than Rows x Columns x frames x
  samples x bits (+1 padding byte), or a truncated item is refused; nothing of the file is copied;
- with an :class:`InputBudget`, what the input's files cost in memory is charged to one budget
  (``max_input_memory_bytes``): a file is read, inflated and parsed only if that fits beside
  what the input already holds.

Only then is the same byte string parsed with ``pydicom.dcmread(BytesIO(data))`` (never
``force``), every element is converted once (pydicom converts lazily, so a malformed value
would otherwise surface later, anywhere), and any parser exception becomes a
:class:`DicomReadError` with a one-line reason. KeyboardInterrupt and SystemExit pass through
(pydicom issue #2332: a Ctrl-C inside a truncated sequence item may still arrive as OSError).

Known limit: a valid deflated file is inflated three times (counted, then inflated here, bounded;
once by pydicom, whose inflation is then known to stay within the same cap and is charged twice).
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import sys
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pydicom
from pydicom.charset import CODES_TO_ENCODINGS
from pydicom.datadict import dictionary_VR, private_dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from device_ai.dicom.paths import path_hint, path_problem, shown, status
from device_ai.errors import DicomReadError, ReadLimitExceeded

UNDEFINED = 0xFFFFFFFF
# PS3.5 Table 6.2-1; VRs with a 4-byte length field in explicit VR (PS3.5 §7.1.2)
_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD",
    b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
    b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}
# VRs whose values pydicom splits at backslashes into one Python object each (PS3.5 6.4)
_SPLIT_VRS = {b"AE", b"AS", b"CS", b"DA", b"DS", b"DT", b"IS", b"LO", b"PN", b"SH", b"TM", b"UC", b"UI"}
_SPLIT_VR_NAMES = {vr.decode() for vr in _SPLIT_VRS}
# VRs that pydicom decodes with the data set's Specific Character Set (PS3.5 6.1.2.3): a str of 1, 2
# or 4 bytes per character (CPython stores the widest character's width), so at most 4 bytes per
# byte once decoded (a replacement character stands for one undecodable byte)
_CHARSET_TEXT = {"LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_WIDENS = re.compile(rb"[\x80-\xff\x1b]")  # only such bytes (or an escape sequence) decode wider than ASCII
_DECODED_WIDTH = 4
# The ISO 2022 escape sequences pydicom's decoder recognises (and drops from the decoded text)
_ESCAPES = re.compile(b"|".join(re.escape(code) for code in sorted(CODES_TO_ENCODINGS, key=len, reverse=True)))
# VRs that pydicom parses into one Python number per value (PS3.5 Table 6.2-1), and their size
_NUMBER_BYTES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "AT": 4, "FD": 8, "SV": 8, "UV": 8}


@dataclass(frozen=True)
class _VrTraits:
    """What the pre-scan charges for a value of a parsed VR (``"US or SS"`` names several)."""

    number_bytes: int  # the smallest binary number size among them (one object per value); 0: none
    splits: bool  # a string VR that pydicom splits at backslashes
    charset_text: bool  # text decoded with the Specific Character Set
    person_name: bool


@lru_cache(256)  # a few dozen VR names and their "X or Y" forms: memoised, not rebuilt per element
def _vr_traits(parsed: str) -> _VrTraits:
    kinds = set(parsed.replace(" or ", " ").split())  # e.g. "US or SS", "US or OW"
    sizes = [_NUMBER_BYTES[kind] for kind in kinds if kind in _NUMBER_BYTES]
    return _VrTraits(min(sizes) if sizes else 0, bool(kinds & _SPLIT_VR_NAMES), bool(kinds & _CHARSET_TEXT),
                     "PN" in kinds)


# an explicit VR other than UN is the VR pydicom parses (``_Scan._parsed_vr``): its traits by its bytes
_EXPLICIT_TRAITS = {vr: _vr_traits(vr.decode()) for vr in _VRS if vr != b"UN"}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_ITEM_BYTES = {b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00"}  # item tag, little / big endian
_PIXEL_DATA = 0x7FE00010
# Image Pixel module values that fix the native pixel data length (PS3.5 §8.1.1)
_GEOMETRY_US = {0x00280002: "SamplesPerPixel", 0x00280010: "Rows", 0x00280011: "Columns", 0x00280100: "BitsAllocated"}
_NUMBER_OF_FRAMES = 0x00280008
_DEFLATED = "1.2.840.10008.1.2.1.99"
_JPIP_DEFLATED = {"1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205"}
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
MAX_PROBLEM_LINES = 20  # lines of an InputRefused's problems, then one "and N more problems" line
_NOT_DICOM_HINT = "pass DICOM Part 10 files (as exported by a modality or PACS)"
_CRAFTED_HINT = "the file is corrupt, truncated or crafted; it was not parsed"
_LINK_HINT = "copy the files into the folder instead of linking them"
# What pydicom is known to raise on malformed input (its documentation names only
# InvalidDicomError/TypeError; issues #2330, #2332 and fuzzing harnesses show the rest).
_PARSER_ERRORS = (
    InvalidDicomError, OSError, EOFError, ValueError, TypeError, struct.error, NotImplementedError,
    KeyError, IndexError, AttributeError, RecursionError, MemoryError, UnicodeError, OverflowError,
    zlib.error, LookupError,
)


MIB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one input may cost to read (SRS-010), per file and per input (SRS-110).

    A CT slice is a few hundred elements and tens of KiB besides its pixel data; the bounds
    leave room for vendors' private blocks while keeping a crafted file (a private OB of
    600 MiB, a deflate bomb, a million tiny elements) from costing more than a refusal."""

    max_file_bytes: int = 512 * MIB
    max_sequence_depth: int = 12
    max_inflated_bytes: int = 256 * MIB
    max_files: int = 5000
    max_elements: int = 100_000  # per file, nested items included
    max_values: int = 1_000_000  # backslash-separated values per file (~0.45 KiB each once parsed)
    max_value_bytes: int = 16 * MIB  # any one value except the top-level PixelData
    max_input_value_bytes: int = 256 * MIB  # the same, summed over every file of one input
    max_input_elements: int = 1_000_000  # elements summed over one input: ~0.5 KiB each in memory; 1000 slices x 1000
    # What one input may make the analysis hold at once (InputBudget). Beside it the process costs
    # about 205 MiB (measured: 1000 slices of 512 x 512 with scanner headers charged 499 MiB and
    # peaked at 703 MiB, benchmarks/results/analyze_profile.json "realistic-after"), so an input
    # charged the whole 640 MiB peaks near 845 MiB: 1 GiB (issue 22) with a margin of 179 MiB. Measured
    # near the limit ("near-limit-after"): 1000 such slices with 36 more header items, charged 633 MiB, 772 MiB.
    max_input_memory_bytes: int = 640 * MIB


# A parsed data element or value in memory, with a margin: measured (tracemalloc, pydicom 3.0, every
# element converted) 490 bytes per element or value of a phantom slice's header (70, 34 KiB), 420 of a
# scanner's (445, 184 KiB; training.ct_headers) and 500 of the part of it a series keeps (series.py).
ELEMENT_BYTES = 640
# A sequence item (a pydicom Dataset of its own): measured 1.3 KiB besides its elements (2000 items of
# one PatientID each: 3.6 MiB), so an input of many one-element items is not charged less than it holds.
ITEM_BYTES = 3 * ELEMENT_BYTES
_MEMORY_HINT = ("split the series (fewer slices per input) or remove large private data before sending it; the limit "
                "keeps one analysis within the memory the device is specified for")


class InputBudget:
    """What one input (a folder or series) has cost so far; each file read is charged to it,
    so many files that are each within the per-file bounds cannot add up to a bomb.

    Memory (issue 22: one analysis stays under 1 GiB for any input): ``held`` estimates what
    the input's parsed data sets keep (their values and ``ELEMENT_BYTES`` per element or
    value; :meth:`settle` lowers a file's charge to the part of its header the caller keeps)
    plus what the caller reserves for the results (:meth:`reserve`: the label volume,
    the SEG frames). A file is read only if its bytes fit beside what is held, and parsed only
    if its parse (bytes, inflated data set, parsed values) fits too; anything over
    ``max_input_memory_bytes`` is refused before the memory is allocated, never after. What
    the process costs whatever the input (interpreter, libraries, ONNX Runtime session) is not
    counted here."""

    def __init__(self, limits: ReadLimits, hint: str = _MEMORY_HINT) -> None:
        self.limits = limits
        self.hint = hint  # what to do about a memory refusal
        self.value_bytes = 0
        self.elements = 0
        self.held = 0
        self.over_memory = False
        self.besides: list[str] = []  # what the caller holds besides the input, said in a refusal's hint

    def exhausted(self) -> bool:
        return (self.value_bytes > self.limits.max_input_value_bytes
                or self.elements > self.limits.max_input_elements
                or self.over_memory)

    def admit(self, name: str, transient: int, what: str) -> None:
        """Refuse if ``transient`` bytes more than what is held would pass the memory limit."""
        if self.held + transient > self.limits.max_input_memory_bytes:
            self.refuse(name, transient, what)

    def refuse(self, name: str, needed: int, what: str) -> None:
        """The memory refusal: the input as a whole is over its limit (reading stops)."""
        self.over_memory = True
        raise ReadLimitExceeded(
            f"{name}: {what} would need about {-(-needed // MIB)} MiB beside the {self.held // MIB} MiB this input "
            f"already holds, above the limit of {self.limits.max_input_memory_bytes // MIB} MiB for one input",
            hint=self.hint + (f"; the limit includes {'; '.join(self.besides)}" if self.besides else ""))

    def reserve(self, name: str, nbytes: int, what: str) -> None:
        """Hold ``nbytes`` more for this input (``what`` says for what), or refuse."""
        self.admit(name, nbytes, what)
        self.held += nbytes

    def settle(self, name: str, since: int, nbytes: int) -> None:
        """What was charged since ``held`` was ``since`` is now ``nbytes``: what the part of a
        parsed header that is kept holds (:func:`held_bytes`), never less (review 62: keeping the
        smaller of it and the pre-scan's charge left text wider than its bytes held at 4x its
        charge); refused if that no longer fits."""
        self.held = since
        self.reserve(name, nbytes, "the part of its header kept for the analysis")

    def hold_besides(self, what: str, nbytes: int) -> None:
        """Hold what the caller needs besides the input (e.g. the explanation model), first."""
        self.besides.append(f"{what}: {-(-nbytes // MIB)} MiB")
        self.reserve("the analysis", nbytes, what)

    def charge(self, name: str, value_bytes: int, elements: int, items: int = 0, wider: int = 0) -> None:
        """Count ``elements`` (sequence items among them) and ``value_bytes`` against the input's
        limits and hold what they cost parsed (``items`` at ``ITEM_BYTES`` each; ``wider``: what
        decoded text holds beyond its bytes)."""
        self.value_bytes += value_bytes
        self.elements += elements
        if self.value_bytes > self.limits.max_input_value_bytes:
            raise ReadLimitExceeded(
                f"{name}: the input's data elements besides pixel data reach {self.value_bytes // MIB} MiB, above "
                f"the limit of {self.limits.max_input_value_bytes // MIB} MiB for one input",
                hint="a CT series carries far less; if such files are expected, raise max_input_value_mb")
        if self.elements > self.limits.max_input_elements:
            raise ReadLimitExceeded(
                f"{name}: the input holds more than {self.limits.max_input_elements} data elements and values in all",
                hint="a CT series has a few hundred per slice; if such files are expected, raise max_input_elements")
        self.reserve(name, value_bytes + wider + elements * ELEMENT_BYTES + items * (ITEM_BYTES - ELEMENT_BYTES),
                     "its parsed data elements")


def budget_beside(limits: ReadLimits, held: int) -> InputBudget:
    """A budget for reading one file again beside ``held`` bytes an input already holds (review 70:
    a checked slice decoded again costs its bytes and parse again)."""
    budget = InputBudget(limits)
    budget.held = held
    return budget


_EMPTY_STR_BYTES = sys.getsizeof("")


def _value_bytes(value: object) -> int:
    """What one value's payload holds in memory: a str 1, 2 or 4 bytes per character (CPython
    stores the widest character's width), a person name its text and its raw bytes beside it,
    bytes their length, a number or date its text (review 59: characters were counted)."""
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return sys.getsizeof(value) - _EMPTY_STR_BYTES
    if isinstance(value, PersonName):
        raw = value.original_string
        return sys.getsizeof(str(value)) - _EMPTY_STR_BYTES + (len(raw) if isinstance(raw, bytes) else 0)
    return len(str(value))


def held_bytes(ds: Dataset) -> int:
    """What a parsed data set keeps, by the budget's arithmetic (:meth:`InputBudget.charge`):
    ``ELEMENT_BYTES`` per element and value past the first, ``ITEM_BYTES`` per sequence item, and
    its text and bytes as they are held (:func:`_value_bytes`); its File Meta Information too
    (review 62: a kept header keeps it)."""
    meta = getattr(ds, "file_meta", None)
    total = held_bytes(meta) if meta is not None else 0
    for element in ds.values():
        value = element.value
        total += ELEMENT_BYTES
        if element.VR == "SQ":
            total += sum(ITEM_BYTES + held_bytes(item) for item in value or ())
        elif isinstance(value, (list, tuple, MultiValue)):
            total += ELEMENT_BYTES * max(0, len(value) - 1) + sum(_value_bytes(v) for v in value)
        elif value is not None:
            total += _value_bytes(value)
    return total


def _one_line(exc: BaseException, limit: int = 160) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


class _Scan:
    """Pre-scan of a data set byte stream (PS3.5 §7): lengths within bounds, nesting within the limit."""

    def __init__(self, data: bytes, little: bool, limits: ReadLimits, name: str) -> None:
        self.data = data
        self.endian = "<" if little else ">"
        self.limits = limits
        self.name = name
        self.elements = 0
        self.values = 0  # values past the first of multi-valued strings: each a parsed object later
        self.items = 0  # sequence items: each a data set once parsed (ITEM_BYTES)
        self.value_bytes = 0  # every value except the top-level PixelData
        self.wider = 0  # what text decoded with the character set holds beyond its bytes
        self.geometry: dict[str, int] = {}  # top-level Image Pixel values read so far

    def _u16(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "H", self.data, pos)[0]

    def _u32(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "I", self.data, pos)[0]

    def _tag(self, pos: int) -> int:
        return (self._u16(pos) << 16) | self._u16(pos + 2)

    def _truncated(self, pos: int) -> DicomReadError:
        return DicomReadError(f"{self.name}: file is truncated (element at byte {pos} runs past the end)",
                              hint="the file is incomplete; export or copy it again")

    def _count(self) -> None:
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise ReadLimitExceeded(f"{self.name}: more than {self.limits.max_elements} data elements",
                                    hint=_CRAFTED_HINT)

    def _value(self, tag: int, length: int) -> None:
        self.value_bytes += length
        if length > self.limits.max_value_bytes:
            raise ReadLimitExceeded(
                f"{self.name}: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) holds {length // MIB} MiB; no value of a "
                f"CT slice besides its pixel data needs more than {self.limits.max_value_bytes // MIB} MiB",
                hint="the file is crafted or carries a large private block; if such files are expected, raise "
                     "max_value_mb")

    def _parsed_vr(self, tag: int, vr: bytes, length: int, creators: dict[int, str]) -> str:
        """The VR pydicom gives the value once parsed (its ``raw_element_vr`` hook): the explicit
        VR, else the public dictionary's, else the private dictionary's under the block's
        creator (PS3.5 7.8.1); "" when pydicom keeps the bytes (UN)."""
        if vr and vr != b"UN":
            return vr.decode()
        element = tag & 0xFFFF
        try:
            if tag >> 16 & 1:  # private
                if 0x10 <= element <= 0xFF:
                    return "LO"  # a private creator
                creator = creators.get((tag >> 16) << 8 | element >> 8)
                return private_dictionary_VR(tag, creator) if creator and element > 0xFF else ""
            if vr == b"UN" and length >= 0xFFFF:  # pydicom keeps a long explicit UN as bytes
                return ""
            return dictionary_VR(tag)
        except KeyError:
            return "UL" if element == 0 and not vr else ""  # a group length (implicit VR)

    def _multiple_values(self, tag: int, traits: _VrTraits, pos: int, length: int) -> None:
        """Charge the values of a multi-valued element: 8 MiB of "0\\0\\..." is 4 million objects
        (1.8 GB) once pydicom parses it, and 15 MiB of US (implicit VR, or a private tag under
        a creator pydicom knows) is 8 million integers (0.3 GB), within every byte limit."""
        if length < 2:
            return
        if traits.number_bytes:  # binary numbers: one Python object each, past the first
            self.values += max(0, length // traits.number_bytes - 1)
        elif traits.splits:
            self.values += self.data.count(b"\\", pos, pos + length)
        else:
            return
        if self.values > self.limits.max_values:
            raise ReadLimitExceeded(
                f"{self.name}: more than {self.limits.max_values} values in multi-valued data elements "
                f"(at ({tag >> 16:04X},{tag & 0xFFFF:04X}))",
                hint="a CT slice holds a few hundred; if such files are expected (an RT structure set with millions "
                     "of contour points), raise max_values")

    def _wider(self, traits: _VrTraits, pos: int, length: int) -> None:
        """What text decoded with the character set holds beyond its bytes (review 62): up to 3
        bytes more per byte when any byte may decode to a wider character (a 4-byte character
        makes the whole str 4 bytes per character), and a person name's raw bytes besides."""
        if traits.charset_text:
            if _WIDENS.search(self.data, pos, pos + length) is not None:
                self.wider += (_DECODED_WIDTH - 1) * length
            if traits.person_name:
                self.wider += length  # PersonName keeps the encoded bytes beside its text

    def _creator(self, tag: int, pos: int, length: int, creators: dict[int, str]) -> None:
        """Note a private creator (gggg,0010-00FF): the private dictionary is looked up under it."""
        if tag >> 16 & 1 and 0x10 <= tag & 0xFFFF <= 0xFF:
            # pydicom drops the ISO 2022 escape sequences it knows when it decodes the creator (review
            # 62; all of them here, even one whose character set is not declared: then more values are
            # counted than pydicom parses, never fewer), then strips trailing spaces and NULs and uses
            # it whatever its padding (review 59)
            text = _ESCAPES.sub(b"", bytes(self.data[pos : pos + length])).rstrip(b" \0")
            if len(text) <= 64:
                creators[(tag >> 16) << 8 | tag & 0xFF] = text.decode("latin-1")

    def _geometry(self, tag: int, pos: int, length: int) -> None:
        if tag in _GEOMETRY_US and length == 2:
            self.geometry[_GEOMETRY_US[tag]] = self._u16(pos)
        elif tag == _NUMBER_OF_FRAMES and 0 < length <= 12:
            text = self.data[pos : pos + length].decode("ascii", "replace").strip("\0 ")
            if text.isdigit():
                self.geometry["NumberOfFrames"] = int(text)

    def _pixel_length(self, length: int) -> None:
        """Native pixel data longer than its image are bytes no viewer shows (possibly a bomb,
        possibly hidden content): refused before they are parsed. Shorter or unknown geometry
        is left to the input contract, which names what is missing."""
        g = self.geometry
        if not all(k in g for k in ("Rows", "Columns", "BitsAllocated")):
            return
        bits = g["Rows"] * g["Columns"] * g.get("NumberOfFrames", 1) * g.get("SamplesPerPixel", 1) * g["BitsAllocated"]
        expected = (bits + 7) // 8
        if length > expected + 1:  # PS3.5 §8.1.1: one byte pads to an even length
            raise DicomReadError(
                f"{self.name}: PixelData holds {length} bytes but Rows x Columns x frames x samples x BitsAllocated "
                f"needs {expected}: the bytes past the image are not image data; it was not parsed",
                hint=_CRAFTED_HINT)

    def _holds_sequence(self, tag: int, pos: int, length: int) -> bool:
        """Whether pydicom will parse a defined-length implicit-VR (or UN) value as a sequence."""
        if length < 8:
            return False
        if tag >> 16 & 1:  # private: a sequence only if the private dictionary says so
            return bytes(self.data[pos : pos + 4]) in _ITEM_BYTES  # bytes: an inflated body is a bytearray
        try:
            return dictionary_VR(tag) == "SQ"
        except KeyError:
            return False

    def dataset(self, pos: int, end: int, depth: int, explicit: bool, until_item_end: bool = False) -> int:
        previous = -1
        creators: dict[int, str] = {}  # this data set's private creators, by group and block
        while pos < end:
            if pos + 8 > end:
                raise self._truncated(pos)
            self._count()
            tag = self._tag(pos)
            if tag == _ITEM_END and until_item_end:
                return pos + 8
            if tag >> 16 == 0xFFFE:
                raise DicomReadError(f"{self.name}: unexpected delimiter ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
                                     f"at byte {pos}", hint=_CRAFTED_HINT)
            if tag <= previous:  # PS3.5 §7.1: increasing tags, each at most once; else which value counts?
                what = "appears twice" if tag == previous else "is out of order"
                raise DicomReadError(f"{self.name}: data element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at byte {pos} "
                                     f"{what} (PS3.5 7.1 requires increasing tags, each once): the file is ambiguous",
                                     hint=_CRAFTED_HINT)
            previous = tag
            vr = b""
            if explicit:
                vr = bytes(self.data[pos + 4 : pos + 6])  # hashable, also from an inflated body (a bytearray)
                if vr not in _VRS:
                    raise DicomReadError(f"{self.name}: invalid value representation {vr!r} at byte {pos + 4}",
                                         hint=_CRAFTED_HINT)
                if vr in _LONG_VRS:
                    if pos + 12 > end:
                        raise self._truncated(pos)
                    length, pos = self._u32(pos + 8), pos + 12
                else:
                    length, pos = self._u16(pos + 6), pos + 8
            else:
                length, pos = self._u32(pos + 4), pos + 8
            if length == UNDEFINED:
                if tag == _PIXEL_DATA or vr in (b"OB", b"OW"):  # encapsulated (PS3.5 A.4)
                    start, pos = pos, self.fragments(pos, end)
                    if tag != _PIXEL_DATA or depth:  # pydicom keeps the fragments as one value (review 70)
                        self._value(tag, pos - start)
                else:  # SQ, UN or implicit-VR sequence of undefined length (PS3.5 §7.5.1)
                    inner_explicit = explicit and vr != b"UN"  # UN sequences are implicit VR (PS3.5 §6.2.2)
                    pos = self.sequence(pos, end, depth + 1, inner_explicit, undefined=True)
                continue
            if length > end - pos:
                raise ReadLimitExceeded(
                    f"{self.name}: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes "
                    f"but only {end - pos} remain", hint=_CRAFTED_HINT,
                )
            if depth == 0:
                self._geometry(tag, pos, length)
            if tag == _PIXEL_DATA and depth == 0:
                self._pixel_length(length)
            elif vr != b"SQ":
                self._value(tag, length)
                if tag >> 16 & 1:  # (only a private tag can be a creator: no call for the others)
                    self._creator(tag, pos, length, creators)
                traits = _EXPLICIT_TRAITS.get(vr) or _vr_traits(self._parsed_vr(tag, vr, length, creators))
                if traits.number_bytes or traits.splits:  # (the others have no values to count)
                    self._multiple_values(tag, traits, pos, length)
                if traits.charset_text:
                    self._wider(traits, pos, length)
            if vr == b"SQ":
                self.sequence(pos, pos + length, depth + 1, explicit, undefined=False)
            elif vr in (b"", b"UN") and self._holds_sequence(tag, pos, length):
                self._maybe_sequence(tag, pos, pos + length, depth + 1)
            pos += length
        if until_item_end:
            raise self._truncated(pos)
        return pos

    def _maybe_sequence(self, tag: int, pos: int, end: int, depth: int) -> None:
        """Scan a value that may be a sequence; only a public SQ must parse as one."""
        try:
            self.sequence(pos, end, depth, explicit=False, undefined=False)
        except ReadLimitExceeded:
            raise
        except DicomReadError:
            if not tag >> 16 & 1:
                raise  # a public SQ that is not a well-formed sequence

    def sequence(self, pos: int, end: int, depth: int, explicit: bool, undefined: bool) -> int:
        if depth > self.limits.max_sequence_depth:
            raise ReadLimitExceeded(f"{self.name}: sequences nested deeper than {self.limits.max_sequence_depth} "
                                    "levels", hint=_CRAFTED_HINT)
        while pos < end:
            if pos + 8 > end:
                raise self._truncated(pos)
            self._count()
            tag, length = self._tag(pos), self._u32(pos + 4)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise DicomReadError(f"{self.name}: sequence item expected at byte {pos - 8}", hint=_CRAFTED_HINT)
            self.items += 1
            if length == UNDEFINED:
                pos = self.dataset(pos, end, depth, explicit, until_item_end=True)
            else:
                if length > end - pos:
                    raise ReadLimitExceeded(f"{self.name}: sequence item declares {length} bytes but only "
                                            f"{end - pos} remain", hint=_CRAFTED_HINT)
                self.dataset(pos, pos + length, depth, explicit)
                pos += length
        if undefined:
            raise self._truncated(pos)
        return pos

    def fragments(self, pos: int, end: int) -> int:
        """Encapsulated data: items of defined length up to the sequence delimiter (PS3.5 A.4)."""
        while pos + 8 <= end:
            self._count()
            tag, length = self._tag(pos), self._u32(pos + 4)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM or length == UNDEFINED or length > end - pos:
                raise DicomReadError(f"{self.name}: malformed encapsulated pixel data at byte {pos - 8}",
                                     hint=_CRAFTED_HINT)
            pos += length
        raise self._truncated(pos)


def _file_meta(data: bytes, name: str, scan: _Scan | None = None) -> tuple[str, int]:
    """Transfer Syntax UID and the offset where the data set starts (PS3.10 §7.1); each element
    is counted in ``scan`` (a parsed header keeps its file meta: review 62)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise DicomReadError(f"{name}: no DICOM file header (preamble and 'DICM' prefix missing)", hint=_NOT_DICOM_HINT)
    pos, syntax, previous = 132, None, -1
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        if element <= previous:  # two Transfer Syntax UIDs: which one would the parser believe?
            what = "appears twice" if element == previous else "is out of order"
            raise DicomReadError(f"{name}: file meta element (0002,{element:04X}) {what} (PS3.5 7.1): the file is "
                                 "ambiguous", hint=_CRAFTED_HINT)
        previous = element
        vr = data[pos + 4 : pos + 6]
        if vr not in _VRS:
            raise DicomReadError(f"{name}: the file meta information is corrupt (invalid VR {vr!r})",
                                 hint=_NOT_DICOM_HINT)
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                break
            length, start = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        if length == UNDEFINED or start + length > len(data):
            raise DicomReadError(f"{name}: the file meta information is corrupt (element (0002,{element:04X}) "
                                 "runs past the end)", hint=_NOT_DICOM_HINT)
        if scan is not None:
            scan._count()
            scan._value(0x00020000 | element, length)
            # its binary numbers are parsed into one object each like the data set's (review 70)
            scan._multiple_values(0x00020000 | element, _vr_traits(vr.decode()), start, length)
        if element == 0x0010:
            syntax = data[start : start + length].decode("ascii", "replace").strip("\0 ")
        pos = start + length
    if not syntax:
        raise DicomReadError(f"{name}: the file meta information has no Transfer Syntax UID", hint=_NOT_DICOM_HINT)
    return syntax, pos


# Inflated a piece at a time: zlib's one-shot output grows in blocks joined at the end, so an
# inflated data set of N bytes peaked at 2N (independent set of helper-79: 16 deflated slices of
# 250 MiB each took a two-process run to 1.1 GiB); counted first, then written into one buffer.
_INFLATE_PIECE = MIB  # its output blocks are joined too: a piece costs about twice its size while inflated


def _inflate(payload: bytes, limits: ReadLimits, name: str, budget: InputBudget | None = None,
             beside: int = 0) -> bytearray:
    """Inflate a deflated data set (PS3.5 A.5, raw deflate) to at most ``max_inflated_bytes``,
    and to no more than fits in ``budget`` beside ``beside`` bytes (the file's own). Its size
    is counted first, a piece at a time (nothing kept), so a data set over either bound is
    refused before its memory is allocated, and one within them costs its size once."""
    cap = limits.max_inflated_bytes
    if budget is not None:
        cap = max(0, min(cap, budget.limits.max_input_memory_bytes - budget.held - beside))
    size = _inflated_size(payload, cap, name)
    if size is None:
        if cap < limits.max_inflated_bytes:  # within the per-file cap, but not beside what the input holds
            budget.refuse(name, beside + cap + 1, "inflating its deflated data set")
        raise ReadLimitExceeded(
            f"{name}: deflated data set inflates beyond {limits.max_inflated_bytes // MIB} MiB",
            hint="the file is a decompression bomb or far larger than any CT slice; it was not parsed",
        )
    body = bytearray(size)
    inflater, done = zlib.decompressobj(-zlib.MAX_WBITS), 0
    while done < size:  # the same stream again: _inflated_size has seen it whole and valid
        piece = inflater.decompress(inflater.unconsumed_tail if done else payload, min(_INFLATE_PIECE, size - done))
        if not piece:  # cannot happen for the stream just counted; never loop on it
            raise DicomReadError(f"{name}: deflated data set inflated differently the second time", hint=_CRAFTED_HINT)
        body[done : done + len(piece)] = piece
        done += len(piece)
    return body


def _inflated_size(payload: bytes, cap: int, name: str) -> int | None:
    """The inflated size of ``payload``, or None as soon as it passes ``cap``; DicomReadError if
    the stream is corrupt or ends early."""
    inflater, size, tail = zlib.decompressobj(-zlib.MAX_WBITS), 0, payload
    try:
        while not inflater.eof:
            piece = inflater.decompress(tail, _INFLATE_PIECE)
            size += len(piece)
            if size > cap:
                return None
            tail = inflater.unconsumed_tail
            if not piece and not tail:  # all input taken, nothing more comes out
                break
    except zlib.error as exc:
        raise DicomReadError(f"{name}: deflated data set is corrupt ({exc})", hint=_CRAFTED_HINT) from exc
    if not inflater.eof:
        raise DicomReadError(f"{name}: deflated data set is truncated", hint="the file is incomplete; copy it again")
    return size


def prescan(data: bytes, limits: ReadLimits, name: str, budget: InputBudget | None = None) -> None:
    """Refuse, before parsing, what would make the parser misbehave (see module doc), and
    charge the file's elements and non-pixel bytes to ``budget``, then refuse if parsing the
    file (its bytes, pydicom's own inflated copy, the values it copies out) would not fit
    beside what the input holds."""
    meta = _Scan(data, True, limits, name)
    syntax, start = _file_meta(data, name, meta)
    if syntax in _JPIP_DEFLATED:
        raise DicomReadError(f"{name}: transfer syntax {syntax} (JPIP referenced, deflated) is not supported",
                             hint="send the images with their pixel data, uncompressed or losslessly compressed")
    body, offset = data, start  # no copy of the data set: a file may be hundreds of MiB
    if syntax == _DEFLATED:
        body, offset = _inflate(memoryview(data)[start:], limits, name, budget, beside=len(data)), 0
    explicit, little = syntax != _IMPLICIT_LE, syntax != _EXPLICIT_BE
    scan = _Scan(body, little, limits, name)
    scan.values = meta.values  # max_values counts the file's values, its meta's among them
    scan.dataset(offset, len(body), 0, explicit)
    if budget is not None:  # each extra value costs about what an element does
        budget.charge(name, meta.value_bytes + scan.value_bytes, meta.elements + scan.elements + scan.values,
                      scan.items, scan.wider)
        inflated = len(body) if body is not data else 0
        budget.admit(name, len(data) + 2 * inflated if inflated else 2 * len(data), "parsing it")


def _convert_all(ds: Dataset, raw_private: bool = False) -> None:
    """Convert every raw element once (nesting is bounded by the pre-scan); with
    ``raw_private``, private data elements of an explicit VR other than SQ and UN stay as read."""
    for tag in sorted(ds.keys(), key=int):  # tag order, as iterating ds (without its Python-level tag comparisons)
        if raw_private and tag >> 16 & 1 and tag & 0xFFFF >= 0x1000 and \
                _explicit_plain(ds.get_item(tag, keep_deferred=True)):
            continue
        element = ds[tag]  # converts a raw element (pydicom 3)
        if element.VR == "SQ":
            for item in element.value:
                _convert_all(item, raw_private)


def _explicit_plain(element: object) -> bool:
    """A raw element whose VR was written (explicit VR) and needs no lookup (not UN) or parsing
    of items (not SQ): converting it would give the same VR and the value's own bytes."""
    return isinstance(element, RawDataElement) and element.VR not in (None, "UN", "SQ")


def read_file_bytes(path: Path, limits: ReadLimits = ReadLimits(), budget: InputBudget | None = None) -> bytes:
    """The bytes of one regular file within ``max_file_bytes`` (and, with ``budget``, only if
    they fit beside what the input holds), read once; DicomReadError naming the file otherwise."""
    path = Path(path)
    name = path.name
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DicomReadError(f"{name}: not a regular file (a folder, device or pipe)",
                                 hint="pass DICOM files or a folder holding them")
        size = info.st_size
        if size > limits.max_file_bytes:
            raise ReadLimitExceeded(f"{name}: file is {size} bytes, above the limit of {limits.max_file_bytes}",
                                    hint="raise max_file_mb in the configuration if such files are expected")
        if budget is not None:
            budget.admit(name, size, "reading the file")
        # read(n) allocates n bytes up front: ask for the stat'ed size, never more
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot read the file ({exc.strerror or _one_line(exc)})",
                             hint="check that the file exists and is readable by this service") from exc


def parse_dataset(data: bytes, name: str, limits: ReadLimits = ReadLimits(), *, stop_before_pixels: bool = False,
                  budget: InputBudget | None = None, raw_private: bool = False) -> Dataset:
    """Parse the bytes of one untrusted DICOM Part 10 file (``name`` for messages): prescan,
    then pydicom, every element converted; DicomReadError naming the file on anything wrong.

    ``raw_private`` (de-identification): private data elements ((gggg,xxyy) of an odd group,
    xx from 10) of an explicit VR other than SQ and UN are left as read; the profile removes
    them unconverted unless an option keeps them (converting 99,000 took 1 s of a file's 2.2 s)."""
    prescan(data, limits, name, budget)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
            _convert_all(ds, raw_private)
        return ds
    except _PARSER_ERRORS as exc:
        raise DicomReadError(f"{name}: not readable as DICOM ({_one_line(exc)})", hint=_NOT_DICOM_HINT) from exc
    except Exception as exc:  # not in the known set: still a refusal, flagged as unexpected
        raise DicomReadError(f"{name}: not readable as DICOM (unexpected parser failure "
                             f"{type(exc).__name__}: {_one_line(exc)})", hint=_NOT_DICOM_HINT) from exc


def read_dataset(path: Path, limits: ReadLimits = ReadLimits(), *, stop_before_pixels: bool = False,
                 budget: InputBudget | None = None, raw_private: bool = False) -> Dataset:
    """Read one untrusted DICOM Part 10 file (PS3.10 §7) within ``limits``.

    Raises :class:`DicomReadError` (or its child :class:`ReadLimitExceeded`) with a one-line
    message naming the file on anything wrong; never returns a partially parsed data set.
    """
    path = Path(path)
    return parse_dataset(read_file_bytes(path, limits, budget), path.name, limits,
                         stop_before_pixels=stop_before_pixels, budget=budget, raw_private=raw_private)


def _link_problem(path: Path, info: os.stat_result, root: Path, what: str) -> str | None:
    """Why ``path`` (whose ``lstat`` is ``info``) may not be read: a symbolic link that leads
    outside ``root``, or one that cannot be resolved at all (a link loop: ``resolve`` raises
    RuntimeError before Python 3.13)."""
    if not stat.S_ISLNK(info.st_mode):
        return None
    try:
        inside = path.resolve().is_relative_to(root)
    except (RuntimeError, OSError):
        return f"{shown(path)} is a symbolic link loop"
    return None if inside else f"{shown(path)} is a link to a {what} outside the input folder"


def collect_input_files(input_path: Path, limits: ReadLimits = ReadLimits()) -> list[Path]:
    """The files of an input: one file, or every non-hidden file under a folder, sorted.

    DICOMDIR files are skipped: file-set paths are never followed (PS3.10 §8;
    CVE-2026-32711). Symbolic links (files or folders) that lead outside the input folder are
    refused, every one of them named in ``problems``; links to folders inside it are not
    followed (their files are listed anyway). An entry that cannot be looked at, or a folder
    that cannot be listed (a path longer than the system allows, no permission:
    :func:`paths.status`), is refused the same way, never skipped: a slice left out would
    change the series. More than ``max_files`` files is refused.
    """
    input_path = Path(input_path)
    info = status(input_path, follow_links=True)
    if info is None:
        raise DicomReadError(f"input {shown(input_path)} does not exist",
                             hint="pass a DICOM file or a folder of one series")
    if not stat.S_ISDIR(info.st_mode):
        if input_path.name.upper() == "DICOMDIR":
            raise DicomReadError(f"{shown(input_path)} is a DICOMDIR (a file-set index, not an image)",
                                 hint="pass the folder that holds the series' image files")
        return [input_path]  # not a regular file: read_dataset says so
    root = input_path.resolve()
    files: list[Path] = []
    problems: list[str] = []
    hints: dict[str, None] = {}  # in the order found, once each

    def refuse(problem: str, hint: str) -> None:
        problems.append(problem)
        hints[hint] = None

    def looked_at(path: Path, what: str) -> bool:
        """Whether ``path`` may be read (else its problem is recorded)."""
        try:
            info = status(path)
        except DicomReadError as exc:
            refuse(exc.message, exc.hint or "")
            return False
        problem = _link_problem(path, info, root, what) if info is not None else None
        if problem:
            refuse(problem, _LINK_HINT)
        return problem is None

    def unlistable(exc: OSError) -> None:
        refuse(f"{path_problem(exc.filename, exc)} (a folder that cannot be listed)", path_hint(exc))

    for dirpath, dirnames, filenames in os.walk(input_path, onerror=unlistable):
        # a refused folder is not listed (one problem line each; walk never follows links anyway)
        dirnames[:] = [d for d in sorted(dirnames) if looked_at(Path(dirpath) / d, "folder")]
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in sorted(filenames):
            if filename.startswith(".") or filename.upper() == "DICOMDIR":
                continue
            path = Path(dirpath) / filename
            if not looked_at(path, "file"):
                continue
            files.append(path)
            if len(files) > limits.max_files:
                raise ReadLimitExceeded(f"input holds more than {limits.max_files} files",
                                        hint="pass one series folder, or raise max_files in the configuration")
    if problems:
        others = len(problems) - 1
        such = "link" if list(hints) == [_LINK_HINT] else "problem"
        more = f" (and {others} more such {such}{'s' if others > 1 else ''})" if others else ""
        cut = len(problems) - MAX_PROBLEM_LINES
        listed = tuple(problems[:MAX_PROBLEM_LINES]) + ((f"and {cut} more problems",) if cut > 0 else ())
        raise DicomReadError(problems[0] + more, problems=listed, hint="; ".join(hints))
    if not files:
        raise DicomReadError(f"folder {shown(input_path)} holds no files",
                             hint="pass a folder that holds one CT series")
    return sorted(files)
