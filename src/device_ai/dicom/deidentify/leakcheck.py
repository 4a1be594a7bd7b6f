"""The self-check after every file: no identifying value of the input may appear in the output.

It does not trust the engine and does not import its keep-lists. It walks the *input* on its
own (file meta, every nesting level, private attributes), decides for each element on its own
whether the profile keeps it (``decide``), and collects from the values it does not keep:

- **identifiers** (of the patient, the study or a person): person names (the whole name and
  each family, given and middle name of two characters or more, in every component group),
  dates (DA, DT; also written ``1961-07-04``, ``04.07.1961``, ``07/04/1961`` ...), UIDs other than
  those of the standard, and the values of the Table E.1-1 text attributes that identify rather
  than describe (patient and other IDs, accession and request numbers, addresses, telephone
  numbers: the rows that neither Clean Descriptors nor Retain Device Identity nor Retain
  Institution Identity lists);
- **descriptors**: text removed for safety that does not name the patient, the study or a
  person (the rows Clean Descriptors lists, such as Series Description; device, station and
  institution attributes; text outside the table; private and file meta text).

The search list is built from the input alone; nothing is dropped from it because the output
keeps a similar value. Identifiers are searched in every element of the output, kept ones
included; descriptors only in the output elements the profile does not keep (a removed Series
Description ``Scout`` recurring in the kept Scan Options ``SCOUT MODE`` or in Image Type is not
a leak, the same words in a value the engine failed to remove are).

Matching: values are normalised (Unicode NFKC, case folded) and split into tokens (runs of
letters and digits; a dotted number such as a UID or ``1961.07.04`` is one token). A needle
matches when its tokens occur as a contiguous run of whole tokens, whatever separates them
(``^``, spaces, punctuation): ``LEE`` matches ``Lee`` and ``DOE^LEE`` but not ``sleep``. A needle
of 8 letters and digits or more also matches inside a longer token, but not inside a UID or
other dotted number, and a UID matches whole values only (``1.2.3`` is not a leak inside
``1.2.3.4``; a date inside a UID kept by Retain UIDs is what that option keeps).
All-digit identifiers of fewer than 5 digits (dots aside) are searched only in the output
element in the place they came from (they occur by chance elsewhere: Study ID ``12``; left in
place, accession ``12.34`` is a leak); other identifiers of fewer than 3 letters and digits are
not searched; name parts of two characters or more are.

One part of a person's name (``PHANTOM`` of ``PHANTOM^TEST``, ``GE``) is not searched in the
equipment's identity (Manufacturer, Manufacturer's Model Name, the attributes Retain Device
Identity lists): vendor and product names are common words and surnames, and a match there is a
coincidence. The whole name, every other identifier and the parts everywhere else are searched.

Coverage: the output is parsed again (deflated data is inflated first); every element of the
file meta and the data set at every nesting level is searched, before and after Pixel Data,
private ones included, in every Specific Character Set declared in the input or output and in
UTF-8, Latin-1, UTF-16 and UTF-32. Binary values (OB, OW, UN, ...) are searched as text too: as
text when the bytes read as text, otherwise in their printable runs for identifiers of 4 letters
and digits or more. Not searched: the pixel data itself (Pixel
Data, Float and Double Float Pixel Data, at any level: burned-in text is handled by quarantine,
``burned_in.py``) and binary numbers (US, SS, UL, SL, UV, SV, FL, FD, AT), which cannot hold text.

Swapped VRs: Specific Character Set is kept whatever VR it carries (a swapped VR must not make
it a removed descriptor); a public attribute outside Table E.1-1 whose dictionary VR is text, a
name, a date, a time or a UID is judged by that VR whatever VR it carries (the engine removes it
when the VR it carries is one judged as not identifying); a value shaped as a decimal number
(``0.000000``, ``-2.2841``: a DS under a swapped VR) in a private attribute or one the dictionary
does not define as identifying (text, a name, a date, a time, a UID) is not a date, name or UID
needle; every other date value is, malformed ones included. A
UID of the standard is never a needle, whatever VR carries it.

Exempt: what the engine wrote (the ``written`` values: keyed pseudonyms and UIDs, shifted dates,
dummies, the de-identification marking) and the device's own constants (its Implementation
Class UID and Version Name, manufacturer and model name, version): an output value equal to one
of them is not searched, and an input value equal to one of them is not a needle (re-anonymizing
the device's own output is not a leak).

Per file: ``identifying_values(input)`` before the engine runs, ``find_leaks(output bytes, needles,
written)`` after it; the result is the list of :class:`Leak` of that one file (empty: it passed),
each naming the input attribute and the output attribute by tag path, never by value.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from pydicom import dcmread
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID_dictionary

from device_ai import __version__
from device_ai.dicom.deidentify import marking
from device_ai.dicom.deidentify.coding_schemes import is_public_scheme
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import RuleTable
from device_ai.dicom.deidentify.safe_private import load_safe_private
from device_ai.dicom.reader import InputBudget

MIN_LENGTH = 3  # letters and digits an identifier other than a name part needs to be searched
MIN_DIGITS = 5  # digits an all-digit identifier needs to be searched
MIN_NAME_PART = 2
MIN_BINARY = 4  # letters and digits an identifier needs to be searched in binary values
LONG = 8  # a needle this long also matches inside a longer token

_TOKEN = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")
_TEXT = frozenset({"AE", "LO", "LT", "SH", "ST", "UC", "UT", "UR"})
_DATES = frozenset({"DA", "DT"})
_BINARY_TEXT = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_NUMBERS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
_PIXELS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_SPECIFIC_CHARACTER_SET = 0x00080005
_RUN = re.compile(r"[^\x00-\x1f\x7f-\x9f\ufffd]{4,}")
_PIECE = re.compile(r"[^\\]+")  # the values of a rendering, as str.split("\\") gives them (empty ones aside)
# Memory (review 62: one file of 3 x 15 MiB random private bytes made millions of needles, 10 GB),
# charged to the file's budget when one is given (InputBudget, as the reader charges its parse):
# - rendering one value: at most its bytes again (rstrip), one rendering of up to 4 bytes a byte
#   (CPython's widest character) and one piece of it as long, made one rendering at a time;
_RENDERING_BYTES_PER_BYTE = 10
# - each needle, and what find_leaks makes of it (tokens, the joined form, its index entries):
#   measured (tracemalloc) 723 bytes per printable run of random bytes (13.7 characters), 12 bytes a
#   character of a 4 MiB value (its tokens tuple), 8.5 KiB per 2,000-character value.
NEEDLE_BYTES = 1024
NEEDLE_BYTES_PER_CHARACTER = 16

# The self-check's own list of technical text kept outside restricted items (by tag, written
# independently of the engine's ``values.TEXT_KEEP``; the decision vectors check they agree).
_TECHNICAL_TEXT = frozenset({
    0x00080070,  # Manufacturer
    0x00081090,  # Manufacturer's Model Name
    0x00181210,  # Convolution Kernel
    0x00181160,  # Filter Type
    0x00281054,  # Rescale Type
    0x00281055,  # Window Center & Width Explanation
    0x00283003,  # LUT Explanation
    0x00201040,  # Position Reference Indicator
    0x00620005,  # Segment Label
    0x00620009,  # Segment Algorithm Name
    0x00700080,  # Content Label
    0x00181250,  # Receive Coil Name
    0x00181251,  # Transmit Coil Name
    0x00180024,  # Sequence Name
    0x00080201,  # Timezone Offset From UTC
})
# Coded text: kept only in a code item of a public scheme outside restricted items.
_CODED_TEXT = frozenset({
    0x00080100,  # Code Value
    0x00080102,  # Coding Scheme Designator
    0x00080103,  # Coding Scheme Version
    0x00080104,  # Code Meaning
    0x00080119,  # Long Code Value
    0x00080120,  # URN Code Value
    0x00080117,  # Context UID
    0x0008010F,  # Context Identifier (CS: kept in a code item whatever text VR it carries, review 80 D2)
    0x00080105,  # Mapping Resource (CS, idem)
    0x00080122,  # Mapping Resource Name
    0x00080115,  # Coding Scheme Name
    0x00080114,  # Coding Scheme External ID
    0x0008010E,  # Coding Scheme URL
    0x00080112,  # Coding Scheme Registry
    0x00080116,  # Coding Scheme Responsible Organization
})
_CODE_VALUES = (0x00080100, 0x00080119, 0x00080120)
_CODING_SCHEME_DESIGNATOR = 0x00080102
_CODING_SCHEME_IDENTIFICATION = 0x00080110
_EQUIPMENT = frozenset({0x00080070, 0x00081090})  # Manufacturer, Manufacturer's Model Name
_META_KEPT = frozenset({0x00020001, 0x00020002, 0x00020010})  # version, SOP class, transfer syntax
_META_INSTANCE_UID = 0x00020003


@lru_cache(1)
def device_constants() -> frozenset[str]:
    """What the device writes into every output whatever the input (never a leak)."""
    return frozenset({marking.IMPLEMENTATION_CLASS_UID, marking.IMPLEMENTATION_VERSION_NAME, marking.MANUFACTURER,
                      marking.MODEL_NAME, __version__, "De-identifying Equipment"})


@lru_cache(1)
def _device_exempt() -> frozenset[str]:
    return frozenset(_norm(constant) for constant in device_constants())


_CACHED_TEXT = 256  # values up to this length have their tokens memoised (they recur from file to file)


def tokens(text: str) -> tuple[str, ...]:
    """The normalised tokens of ``text`` (NFKC, case folded; letters and digits, dotted numbers)."""
    if len(text) <= _CACHED_TEXT:
        return _short_tokens(text)
    return tuple(_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()))


@lru_cache(1 << 14)
def _short_tokens(text: str) -> tuple[str, ...]:
    # a series repeats most of its values in every file (names, dates, descriptions, codes)
    return tuple(_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()))


def _norm(text: str) -> str:
    return " ".join(tokens(text))


@dataclass(frozen=True)
class Needle:
    """One identifying value of the input and where it was found (no value in reports).

    ``kind``: ``identifier`` (searched everywhere), ``name-part`` (one part of a person name:
    searched everywhere but in the equipment's identity, see ``_equipment``) or ``descriptor``
    (free text removed for safety, searched in the output elements the profile does not keep)."""

    value: str
    where: str
    kind: str = "identifier"


@dataclass(frozen=True)
class Leak:
    """An identifying input value found in the output; ``where`` names its input attribute,
    ``found_in`` the output attribute it was found in (tag paths, never values)."""

    where: str
    length: int
    found_in: str = ""
    kind: str = "identifier"


class Needles(list):  # type: ignore[type-arg]
    """The needles of one input file, with what ``find_leaks`` needs to scope them."""

    def __init__(self, items: Iterable[Needle], table: RuleTable, options: frozenset[Option],
                 charsets: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.table = table
        self.options = frozenset(options)
        self.charsets = frozenset(charsets)


# -- the self-check's own decisions ------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    table: RuleTable
    options: frozenset[Option]
    restricted: bool = False  # inside an item of a D, X, Z or X/Z/U* sequence
    code_item: bool = False  # the item is a code item of a public scheme
    meta: bool = False


def _value_of(item: Dataset, tag: int) -> str:
    if tag not in item:
        return ""
    element = item.get_item(tag)
    value = element.value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1", errors="ignore").strip("\0 ")
    if isinstance(value, list | tuple | MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value or "").strip()


def _is_code_item(item: Dataset, parent: int | None) -> bool:
    if not is_public_scheme(_value_of(item, _CODING_SCHEME_DESIGNATOR)):
        return False
    return any(_value_of(item, tag) for tag in _CODE_VALUES) or parent == _CODING_SCHEME_IDENTIFICATION


def _vr(element: DataElement | RawDataElement) -> str:
    """The element's VR. For a public attribute known to the dictionary, no VR (implicit) or UN
    gives the dictionary's VR, as pydicom does when it converts the value; so does a binary VR
    (OB, OW) on an attribute the dictionary defines as text, a name, a date or a UID (a swapped
    VR must not turn a patient name into anonymous bytes)."""
    return _effective_vr(int(element.tag), str(element.VR or ""))


@lru_cache(1 << 12)
def _effective_vr(tag: int, vr: str) -> str:
    if tag >> 16 & 1 and vr:
        return vr
    try:
        known = dictionary_VR(tag)
    except KeyError:
        return vr or "UN"
    if not vr or vr == "UN" or (vr in ("OB", "OW") and known in _TEXT | _DATES | {"PN", "UI"}):
        return known.split(" or ")[0]
    return vr


_SENSITIVE = _TEXT | _DATES | frozenset({"TM", "PN", "UI"})


@lru_cache(1 << 12)
def _stored_vr(element_tag: int, stored: str | None, tag: int) -> tuple[str, str]:
    """(``_vr`` of an element of ``element_tag`` stored with VR ``stored``, ``_protective_vr`` of
    that VR at ``tag``): both looked up at once by the walk."""
    vr = _effective_vr(element_tag, str(stored or ""))
    return vr, _protective_vr(tag, vr)


@lru_cache(1 << 12)
def _dictionary_vr(tag: int) -> str:
    """The dictionary's (first) VR of public attribute ``tag``; '' for a private or unknown one."""
    if tag >> 16 & 1:
        return ""
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return ""


@lru_cache(1 << 12)
def _protective_vr(tag: int, vr: str) -> str:
    """For a public attribute outside Table E.1-1 whose dictionary VR is text, a name, a date, a
    time or a UID but which carries a VR judged as not identifying (CS, DS, IS, OB, a number...):
    the dictionary's VR, so that the attribute is judged (and its value searched) as what it is
    (review 80 D3: Secondary Review Date carried as CS left a date unnoticed). The engine removes
    such an attribute (``engine._vr_default``), so the two agree."""
    if vr in _SENSITIVE or vr == "SQ":
        return vr
    known = _dictionary_vr(tag)
    return known if known in _SENSITIVE else vr


def _private_kept(ds: Dataset, tag: int, ctx: _Context) -> bool:
    if ctx.restricted or Option.RETAIN_SAFE_PRIVATE not in ctx.options:
        return False
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:
        return False
    creator = _value_of(ds, (group << 16) | (element >> 8))
    return load_safe_private().is_safe(creator, group, element & 0xFF)


def _decide(ds: Dataset, tag: int, vr: str, ctx: _Context) -> str:
    """K: the profile keeps the value; C: it keeps the value cleaned (text); P: protected,
    the value must not appear in the output (removed, emptied, replaced)."""
    options = ctx.options
    if ctx.meta:
        if tag in _META_KEPT or (vr == "UI" and Option.RETAIN_UIDS in options):
            return "K"
        return "P"
    if tag >> 16 & 1:
        if (tag & 0xFFFF) < 0x0100 and (tag & 0xFFFF) >= 0x0010:  # private creator
            return "K" if _creator_kept(ds, tag, ctx) else "P"
        return "K" if _private_kept(ds, tag, ctx) else "P"
    if tag == _SPECIFIC_CHARACTER_SET:
        return "K"  # kept as its dictionary VR (CS) keeps it, whatever VR it carries (campaign 6: CS -> LO, UT, AE)
    action = ctx.table.action(tag, options)
    if action is not None:
        if action == "K":
            return "K"
        if action == "C":
            if vr in _TEXT or vr == "PN":
                return "C"
            if vr == "SQ":
                return "C"
            if vr in _DATES or vr == "UI" or vr in _BINARY_TEXT:
                return "P"
            return "K"  # times of day, numbers, code strings
        return "P"
    if vr == "SQ":
        return "K"
    if vr == "UI":
        if Option.RETAIN_UIDS in options:
            return "K"
        values = [v for v in _value_of(ds, tag).split("\\") if v]
        return "K" if all(v.strip("\0 ") in UID_dictionary for v in values) else "P"
    if vr in _DATES or vr == "TM":
        if Option.RETAIN_LONG_FULL_DATES in options:
            return "K"
        if Option.RETAIN_LONG_MODIFIED_DATES in options and vr == "TM":
            return "K"
        return "P"
    if vr == "PN" or vr == "UN":
        return "P"  # UN: a public attribute unknown to the dictionary, its content cannot be judged
    if vr in _TEXT:
        if tag in _CODED_TEXT:
            return "K" if ctx.code_item and not ctx.restricted else "P"
        if tag in _TECHNICAL_TEXT and not ctx.restricted:
            return "K"
        return "P"
    return "K"


def _creator_kept(ds: Dataset, tag: int, ctx: _Context) -> bool:
    """Whether the private creator ``tag`` stays: some element of its block is kept.

    Looks up the block's 256 possible tags, never every element of the data set (per creator,
    that scan made a data set of 99,000 private elements in 387 blocks cost 38 million steps)."""
    if ctx.restricted or Option.RETAIN_SAFE_PRIVATE not in ctx.options:
        return False  # no private element is kept (_private_kept)
    first = (tag >> 16) << 16 | (tag & 0xFF) << 8
    stored = ds.keys()
    return any(t in stored and _private_kept(ds, t, ctx) for t in range(first, first + 0x100))


def _child(ds: Dataset, tag: int, ctx: _Context) -> _Context:
    """The context of the items of sequence ``tag``."""
    action = ctx.table.action(tag, ctx.options) or "K"
    return _Context(ctx.table, ctx.options, restricted=ctx.restricted or action not in ("K", "C"))


@lru_cache(1 << 12)
def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _walk(ds: Dataset, where: str, ctx: _Context, parent: int | None = None, *, lazy: bool = False
          ) -> Iterator[tuple[Dataset, DataElement | RawDataElement, str, str, str | _Context]]:
    """(item, element, label, VR, decision) for every element at every level, raw values.

    ``lazy``: the decision is left to the caller (``_decision``): the element's context stands
    in its place, unless the walk itself decided (an unparsable sequence is protected, "P")."""
    ctx = _Context(ctx.table, ctx.options, ctx.restricted, _is_code_item(ds, parent), ctx.meta)
    for key, element in list(ds.items()):  # the elements as stored, raw or converted (no conversion)
        tag = int(key)
        if isinstance(element, RawDataElement) and element.value is None and element.length:
            element = ds.get_item(key)  # as get_item gives it (a deferred value is read; an empty one is empty)
        vr, protective = _stored_vr(int(element.tag), element.VR, tag)
        if protective != vr and not ctx.meta and ctx.table.lookup(tag) is None:  # the table asked only then
            vr = protective
        label = where + _tag_text(tag)
        decision: str | _Context = ctx if lazy else _decide(ds, tag, vr, ctx)
        if vr == "SQ":
            try:
                items = ds[key].value or []
            except Exception:  # noqa: BLE001 - an unparsable sequence: its bytes are searched as binary
                yield ds, element, label, "UN", "P"
                continue
            yield ds, element, label, vr, decision
            child = _child(ds, tag, ctx)
            for index, item in enumerate(items):
                yield from _walk(item, f"{label}[{index}]/", child, tag, lazy=lazy)
        else:
            yield ds, element, label, vr, decision


def _decision(item: Dataset, element: DataElement | RawDataElement, vr: str, decision: str | _Context) -> str:
    """The decision a lazy walk left to its caller."""
    return decision if isinstance(decision, str) else _decide(item, int(element.tag), vr, decision)


def _meta_walk(ds: Dataset, table: RuleTable, options: frozenset[Option], *, lazy: bool = False
               ) -> Iterator[tuple[Dataset, DataElement | RawDataElement, str, str, str | _Context]]:
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from _walk(meta, "meta", _Context(table, options, meta=True), lazy=lazy)


def decide(ds: Dataset, table: RuleTable, options: frozenset[Option]) -> dict[str, str]:
    """The self-check's decision (K, C or P) for every element of ``ds`` by tag path."""
    return {label: decision for _, _, label, _, decision in _walk(ds, "", _Context(table, frozenset(options)))}


# -- values as text ----------------------------------------------------------------------

def _raw_bytes(element: DataElement | RawDataElement) -> bytes | None:
    value = element.value
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return None


def _python_codecs(charsets: Iterable[str]) -> list[str]:
    codecs: list[str] = []
    for charset in charsets:
        try:
            codecs.extend(c for c in convert_encodings([charset]) if c not in codecs)
        except Exception:  # noqa: BLE001 - an unknown charset: the fixed renderings still apply
            continue
    return codecs


def _renderings(element: DataElement | RawDataElement, charsets: frozenset[str]) -> Iterator[str]:
    """Every text rendering of an element's value: its declared character sets, UTF-8, Latin-1,
    UTF-16 and UTF-32 (the latter two where the bytes hold NULs). Made one at a time (review 62:
    together they held up to 85 times the value's bytes); two may be equal (the same needles,
    which ``_Found`` keeps once, and the same leaks, keyed by value) or empty (no text)."""
    return _value_renderings(element.value, charsets)


def _value_renderings(value: object, charsets: frozenset[str]) -> Iterator[str]:
    """:func:`_renderings` of an element whose value is ``value``."""
    raw = bytes(value) if isinstance(value, bytes | bytearray) else None  # as _raw_bytes gives it
    if raw is None:
        if value is None:
            return
        yield _converted_text(value)
        return
    data = raw.rstrip(b"\0 ")
    if not data:
        return
    if data.isascii() and b"\0" not in data:
        yield data.decode("ascii")
        return
    yield data.decode("latin-1")
    yield data.decode("utf-8", errors="replace")
    declared = sorted(charsets)
    if declared:
        try:
            decoded = decode_bytes(data, _python_codecs(declared) or ["iso8859"], set(b"\\^="))
        except Exception:  # noqa: BLE001 - undecodable in the declared sets: the others remain
            decoded = ""
        yield decoded
        del decoded  # not held while the next rendering is made
        for codec in _python_codecs(declared):
            yield data.decode(codec, errors="replace")
    if b"\0" in data:
        yield data.replace(b"\0", b" ").decode("latin-1")
        for codec in ("utf-16-le", "utf-16-be"):
            yield raw.decode(codec, errors="replace")
            yield raw[1:].decode(codec, errors="replace")
        for codec in ("utf-32-le", "utf-32-be"):
            yield raw[: len(raw) - len(raw) % 4].decode(codec, errors="replace")


def _rendering_bytes(element: DataElement | RawDataElement) -> int:
    """What rendering ``element`` may hold at once (``_RENDERING_BYTES_PER_BYTE`` of its bytes; a
    converted value's text, 4 bytes a character, and a piece of it)."""
    raw = _raw_bytes(element)
    if raw is not None:
        return _RENDERING_BYTES_PER_BYTE * len(raw)
    value = element.value
    if isinstance(value, str | bytes):
        return 8 * len(value)
    if isinstance(value, list | tuple | MultiValue):
        return 8 * sum(len(str(v)) + 1 for v in value)
    return 0


def _converted_text(value: object) -> str:
    """The one rendering of a converted (not bytes) value: its values joined by backslashes."""
    return "\\".join(str(v) for v in value) if isinstance(value, list | tuple | MultiValue) else str(value)


def _short_source(value: object) -> bytes | str | None:
    """What the renderings of a value of up to ``_CACHED_TEXT`` bytes or characters are made
    from, as a memo key: its bytes (``bytes`` only: a bytearray is not hashable) or its one
    converted rendering; None for a longer value, an empty one or bytes in a bytearray (made
    one rendering at a time, not memoised: review 62)."""
    if type(value) is bytes:
        return value if len(value) <= _CACHED_TEXT else None
    if value is None or isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, list | tuple | MultiValue) and len(value) > _CACHED_TEXT:
        return None  # longer joined (not joined here only to be measured)
    text = _converted_text(value)
    return text if len(text) <= _CACHED_TEXT else None


def _source_renderings(source: bytes | str, charsets: frozenset[str]) -> Iterator[str]:
    """The renderings of a value from its :func:`_short_source`."""
    return iter((source,)) if isinstance(source, str) else _value_renderings(source, charsets)


def _texts(element: DataElement | RawDataElement, charsets: frozenset[str]) -> Iterator[str]:
    """The values of every rendering (split at backslashes, stripped of NULs and spaces, empty
    ones left out), one at a time."""
    return _split_texts(_renderings(element, charsets))


def _split_texts(renderings: Iterable[str]) -> Iterator[str]:
    """:func:`_texts` of these renderings."""
    for rendering in renderings:
        # a short rendering is split (faster, its few values), a long one matched a value at a time
        for piece in rendering.split("\\") if len(rendering) <= _CACHED_TEXT else _values(rendering):
            text = piece.strip("\0 ")
            if text:
                yield text


def _values(rendering: str) -> Iterator[str]:
    """The non-empty values of a rendering, one at a time."""
    return (match[0] for match in _PIECE.finditer(rendering))


class _Found:
    """The searchable needles of one file, each kept once and charged to ``budget`` (when given)
    as it is found, so that a file whose values make more needles than fit is refused (the
    budget's ReadLimitExceeded, DAI-202: the run quarantines it) before they are made."""

    def __init__(self, budget: InputBudget | None, name: str) -> None:
        self.budget = budget
        self.name = name
        self.needles: dict[Needle, None] = {}  # an ordered set

    def charged(self, needle: Needle) -> Needle:
        """``needle``, charged before anything is made of it (its tokens)."""
        if self.budget is not None:
            self.budget.reserve(self.name, _needle_bytes(needle.value), _NEEDLE_CHARGE)
        return needle

    def charge_all(self, sizes: tuple[int, ...], total: int) -> None:
        """Charge needles of ``sizes`` (``_needle_bytes``; ``total``: their sum) as ``charged``
        does one by one: at once when all of them fit (each one-by-one check would pass, the
        sizes being positive), else one by one, so that the same needle is refused."""
        budget = self.budget
        if budget is None:
            return
        if budget.held + total <= budget.limits.max_input_memory_bytes:
            budget.reserve(self.name, total, _NEEDLE_CHARGE)
        else:
            for size in sizes:
                budget.reserve(self.name, size, _NEEDLE_CHARGE)

    def keep(self, needle: Needle) -> None:
        """Keep a charged needle if it is searched at all (``_kept``)."""
        kept = _kept(needle)
        if kept is not None:
            self.needles[kept] = None

    def add(self, needle: Needle) -> None:
        self.keep(self.charged(needle))

    def extend(self, needles: Iterable[Needle]) -> None:
        charged, keep = self.charged, self.keep  # (bound once: a file makes dozens of needles)
        for needle in needles:
            keep(charged(needle))


_NEEDLE_CHARGE = "the self-check's list of its identifying values"


def _needle_bytes(value: str) -> int:
    """What a needle of ``value`` is charged (``NEEDLE_BYTES`` and its characters)."""
    return NEEDLE_BYTES + NEEDLE_BYTES_PER_CHARACTER * len(value)


def _kept(needle: Needle) -> Needle | None:
    """The needle kept for ``needle`` if it is searched at all (a short number: in its own place
    only, as an ``in-place`` needle). A UID of the standard (a SOP class, a transfer syntax) names
    no one, whatever VR carries it (campaign 7: Referenced SOP Class UID swapped UI -> PN)."""
    value, kind = needle.value, needle.kind
    # the verdict depends on the value and kind only; short values recur in every file of a series
    searched = _searched_as(value, kind) if len(value) <= _CACHED_TEXT else _searched_as.__wrapped__(value, kind)
    if searched == kind:
        return needle
    return Needle(value, needle.where, searched) if searched is not None else None


@lru_cache(1 << 14)
def _searched_as(value: str, kind: str) -> str | None:
    """How a needle of ``value`` and ``kind`` is searched (``_Found.keep``): as its ``kind``,
    ``in-place`` (a short number) or not at all (None)."""
    if value.strip("\0 ") in UID_dictionary:
        return None
    needle = Needle(value, "", kind)
    if _searchable(needle):
        return kind
    return "in-place" if _short_number(needle) else None


def _charsets(walked: Iterable[tuple[Dataset, DataElement | RawDataElement, str, str, str | _Context]]) -> set[str]:
    """Every Specific Character Set declared at any level, from a walk of every element
    (``_walk`` reaches every item the parser can read: the same items the search walks)."""
    found: set[str] = set()
    for item, element, _label, _vr_name, _decision in walked:
        if int(element.tag) == _SPECIFIC_CHARACTER_SET:
            found.update(c.strip() for c in _value_of(item, _SPECIFIC_CHARACTER_SET).split("\\") if c.strip())
    return found


# -- needles -----------------------------------------------------------------------------

def _name_needles(text: str, where: str) -> list[Needle]:
    # A name of one word ("PHANTOM", or "PHANTOM^" + components no decoder can read) is one name
    # part: in the equipment's identity it is the same coincidence as the family name alone.
    single = len(tokens(text)) == 1 and len("".join(tokens(text))) >= MIN_NAME_PART
    needles = [Needle(text, where, "name-part" if single else "identifier")]
    for group in text.split("="):
        if group and group != text:
            needles.append(Needle(group, where))
        for part in group.split("^")[:3]:  # family, given, middle; not prefix and suffix
            if len("".join(tokens(part))) >= MIN_NAME_PART and _norm(part) != _norm(group):
                needles.append(Needle(part.strip(), where, "name-part"))
    return needles


_DATE_FORMATS = ("{y}-{m}-{d}", "{y}/{m}/{d}", "{y}.{m}.{d}", "{d}.{m}.{y}", "{d}/{m}/{y}", "{m}/{d}/{y}",
                 "{d}-{m}-{y}", "{m}-{d}-{y}")


def _date_needles(text: str, where: str) -> list[Needle]:
    return [Needle(text, where), *(Needle(form, where) for form in _date_forms(text.strip()[:8]))]


_DECIMAL_NUMBER = re.compile(r"[+-]?\d{1,5}\.\d*(?:[eE][+-]?\d+)?|[+-]?\d{1,5}[eE][+-]?\d+")


@lru_cache(1 << 10)  # a series repeats its dates in every file
def _date_forms(digits: str) -> tuple[str, ...]:
    """An 8-digit date as written and in the usual renderings; () for anything else."""
    if len(digits) != 8 or not digits.isdigit():
        return ()
    y, m, d = digits[:4], digits[4:6], digits[6:]
    return (digits, *(f.format(y=y, m=m, d=d) for f in _DATE_FORMATS))


def _a_number_in_its_place(text: str, tag: int) -> bool:
    """A value shaped as a decimal number, as a DS value is ('0.000000', '-2.2841', '1.5e-05'), in
    an attribute the dictionary does not define as identifying (text, a name, a date, a time, a
    UID): a private or unknown attribute, or a number under a swapped VR. It is a number, not a
    date, a name or a UID (campaign 6: a private DS as DA '0.000000' found in the kept Gantry/Detector
    Tilt; campaign 7: Slice Location as UI '-2.2841' found in the kept Image Position). In an
    identifying attribute (a Patient ID '12345.678' carried as UI, a birth date '1961.0704') every
    value stays a needle (reviews 80 D1 and 82 R1); so does every other form of a date, malformed
    ones included ('1961-7-4', '4/7/61'; review 78)."""
    return _dictionary_vr(tag) not in _SENSITIVE and _DECIMAL_NUMBER.fullmatch(text.strip()) is not None


@lru_cache(1 << 12)
def _needle_vr(tag: int, vr: str) -> str:
    """The VR whose needles a value makes: for a public attribute the dictionary defines as text or
    a name but which carries another identifying VR (a date, a time, a UID, a name), the
    dictionary's. Its value is a station, a description, a name, not a date or a UID, and as text
    it is an identifier or a descriptor as its Table E.1-1 row says, the same judgement the engine
    makes by the dictionary VR. Campaign 9: Station Name carried as DA 'PHANTOM' was searched as a
    date, that is an identifier, and found in the kept Manufacturer 'device_ai phantom generator';
    campaign 10: Study Description carried as UI 'Brain-MRA' was searched as a UID and found in the
    kept Position Reference Indicator 'Brain-MRA'. A Patient ID carried as TM made no needle at all
    before (no branch reads TM); judged as the LO it is, it is an identifier."""
    known = _dictionary_vr(tag)
    return known if known in _TEXT | {"PN"} and vr in _SENSITIVE else vr


def _short_number(needle: Needle) -> bool:
    """An identifier of fewer than MIN_DIGITS digits, dots aside (Study ID 1, accession 123, UID
    1.2.3): such numbers occur by chance elsewhere, so they are searched only in the place they
    came from (review 80 D4: an accession '12.34' the engine left in place is a leak)."""
    content = "".join(tokens(needle.value))
    digits = content.replace(".", "")
    return needle.kind == "identifier" and bool(digits) and digits.isdigit() and len(digits) < MIN_DIGITS


def _searchable(needle: Needle) -> bool:
    content = "".join(tokens(needle.value))
    if not content:
        return False
    # an identifier's dotted number is one token: its dots aside (review 70: UID '0.0'); a descriptor
    # is searched only where the output removes, so a short dotted one stays searched (review 76)
    digits = content.replace(".", "") if needle.kind == "identifier" else content
    if digits.isdigit() and len(digits) < MIN_DIGITS:
        return False  # Study ID 1, accession 123, UID 1.2.3: such numbers occur by chance
    return len(content) >= (MIN_NAME_PART if needle.kind == "identifier" else 2)


def _identifying_text(tag: int, ctx_table: RuleTable) -> bool:
    """Whether a text attribute identifies the patient, the study or a person: a row of Table
    E.1-1 that neither Clean Descriptors (descriptions, comments) nor Retain Device Identity or
    Retain Institution Identity (device, station, institution, department) lists."""
    row = ctx_table.lookup(tag)
    return row is not None and all(row.option(column) is None for column in
                                   ("clean_descriptors", "retain_device_identity", "retain_institution_identity"))


def identifying_values(ds: Dataset, table: RuleTable, options: frozenset[Option], *,
                       budget: InputBudget | None = None, name: str = "") -> Needles:
    """Every identifying value of the input that the profile does not keep (see the module
    docstring); never reduced by what the output keeps. With ``budget``, what the renderings and
    the needles cost is charged to it (``name``: the file, for its refusal)."""
    options = frozenset(options)
    needles = _Found(budget, name)
    charged, keep, found = needles.charged, needles.keep, needles.needles
    walks = [*_meta_walk(ds, table, options), *_walk(ds, "", _Context(table, options))]
    charsets = frozenset(_charsets(walks))
    for _item, element, label, vr, decision in walks:
        if decision != "P" or vr == "SQ" or int(element.tag) in _PIXELS:
            continue
        tag = int(element.tag)
        private = bool(tag >> 16 & 1)
        if budget is not None:
            budget.admit(name, _rendering_bytes(element), "the self-check's renderings of one of its values")
        vr = _needle_vr(tag, vr)
        if vr not in _NEEDLE_VRS:
            continue  # no needles (the renderings would be made for nothing)
        strong = vr in _TEXT and not private and not label.startswith("meta") and _identifying_text(tag, table)
        # A short value's needles are memoised (a series repeats most values in every file),
        # charged as before; a longer one's are made, charged and kept one rendering at a time.
        source = _short_source(element.value)
        made = _short_value_needles(source, charsets, tag, vr, strong, label) if source is not None else None
        if made is not None:
            sizes, total, kept_needles = made
            needles.charge_all(sizes, total)
            for needle in kept_needles:
                found[needle] = None
            continue
        for value, kind, kept in _value_needles(_texts(element, charsets), tag, vr, strong):
            needle = charged(Needle(value, label, kind))
            if kept:
                keep(needle)
    return Needles(found, table, options, charsets)


_NEEDLE_VRS = _TEXT | _DATES | _BINARY_TEXT | frozenset({"PN", "UI"})  # the VRs whose values make needles


def _value_needles(texts: Iterable[str], tag: int, vr: str, strong: bool) -> Iterator[tuple[str, str, bool]]:
    """(value, kind, kept) of each needle the texts of one value of ``tag`` make, in order; a
    needle not kept (a strong identifier of fewer than MIN_LENGTH letters and digits) is still
    charged. ``vr``: its needle VR (``_needle_vr``); ``strong``: an identifying text attribute."""
    if vr == "PN":
        for text in texts:
            if not _a_number_in_its_place(text, tag):
                for needle in _name_needles(text, ""):
                    yield needle.value, needle.kind, True
    elif vr in _DATES:
        for text in texts:
            if not _a_number_in_its_place(text, tag):
                for needle in _date_needles(text, ""):
                    yield needle.value, needle.kind, True
    elif vr == "UI":
        for text in texts:
            if not _a_number_in_its_place(text, tag):
                yield text, "identifier", True
    elif vr in _TEXT:
        for text in texts:
            yield text, "identifier" if strong else "descriptor", not strong or len("".join(tokens(text))) >= MIN_LENGTH
    elif vr in _BINARY_TEXT:
        for text in texts:
            for run in _RUN.finditer(text):
                if any(c.isalpha() for c in run[0]):
                    yield run[0].strip(), "descriptor", True


# A series repeats most values in every file. The memos of a value's needles and texts keep at
# most _MEMO_ITEMS of them for a value of up to _CACHED_TEXT characters (at most ~10 KiB an entry:
# ~20 MiB per process at worst, ~1 MiB for a CT series); a value that makes more is remembered as
# None and made again each time, as without the memo (its needles charged, never held between files).
_MEMO_ENTRIES = 2048
_MEMO_ITEMS = 16


@lru_cache(_MEMO_ENTRIES)
def _short_value_needles(source: bytes | str, charsets: frozenset[str], tag: int, vr: str, strong: bool,
                         label: str) -> tuple[tuple[int, ...], int, tuple[Needle, ...]] | None:
    """What the needles of a value of up to ``_CACHED_TEXT`` bytes or characters (its
    :func:`_short_source`) at ``label`` cost and give, all of them (made before they are charged:
    at most ``_MEMO_ITEMS``): the size charged for each needle in order, their sum, and the
    needles kept (``_kept`` of those :func:`_value_needles` keeps), in order; None for a value
    that makes more needles (made, charged and kept one by one by the caller)."""
    sizes, kept_needles = [], []
    for value, kind, kept in _value_needles(_split_texts(_source_renderings(source, charsets)), tag, vr, strong):
        if len(sizes) == _MEMO_ITEMS:
            return None  # more than a memo entry keeps
        sizes.append(_needle_bytes(value))
        needle = _kept(Needle(value, label, kind)) if kept else None
        if needle is not None:
            kept_needles.append(needle)
    return tuple(sizes), sum(sizes), tuple(kept_needles)


# -- the search --------------------------------------------------------------------------

def _forms(needles: Iterable[Needle], exempt: set[str]) -> list[tuple[Needle, tuple[str, ...], str, bool]]:
    """(needle, its tokens, joined by spaces, matched inside longer words) of each needle with
    tokens that is not exempt."""
    out = []
    for needle in needles:
        value = needle.value
        form, joined, long = _short_form(value) if len(value) <= _CACHED_TEXT else _short_form.__wrapped__(value)
        if not form or joined in exempt:
            continue
        out.append((needle, form, joined, long))
    return out


@lru_cache(1 << 12)  # the needles of a series recur in every file
def _short_form(value: str) -> tuple[tuple[str, ...], str, bool]:
    """A needle value's tokens, the tokens joined by spaces, and whether it also matches inside
    longer words (LONG letters and digits or more, and no dotted number: a UID is matched as a
    whole value only)."""
    form = tuple(tokens(value))
    joined = " ".join(form)
    return form, joined, len(joined.replace(" ", "")) >= LONG and not any("." in t for t in form)


@lru_cache(1)
def _marking_by_label() -> dict[str, frozenset[str]]:
    return {_tag_text(tag): values for tag, values in marking.DEVICE_MARKING_VALUES.items()}


@lru_cache(1 << 12)  # the same labels in every output of a series
def _device_marking_values(label: str) -> frozenset[str]:
    """The values the device writes itself at ``label`` of the output (marking.DEVICE_MARKING_VALUES):
    a marking attribute's at its top level, the code sequence's inside its items; none elsewhere."""
    top = label.split("/", 1)[0].split("[", 1)[0]
    values = _marking_by_label().get(top, frozenset())
    return values if ("/" in label) is (top == _tag_text(0x00120064)) else frozenset()


def _device_marking(label: str, rendering: str) -> bool:
    """Whether ``rendering`` at ``label`` is exactly a value the device writes there itself."""
    return rendering.strip() in _device_marking_values(label)


def find_leaks(output: bytes, needles: list[Needle], written: set[str], *, table: RuleTable | None = None,
               options: frozenset[Option] | None = None) -> list[Leak]:
    """The needles present in the Part 10 file ``output`` (none is the only passing result)."""
    table = table if table is not None else getattr(needles, "table", None)
    options = frozenset(options if options is not None else getattr(needles, "options", frozenset()))
    if table is None:
        from device_ai.dicom.deidentify.rules import load_rule_table

        table = load_rule_table()
    exempt = {_norm(w) for w in written if w} | _device_exempt()
    forms = _forms(needles, exempt)
    by_first: dict[str, list[tuple[Needle, tuple[str, ...]]]] = {}
    long_forms = []
    for needle, form, joined, long in forms:
        by_first.setdefault(form[0], []).append((needle, form))
        if long:
            long_forms.append((needle, joined))  # a UID is matched as a whole value only
    search = _Search(by_first, long_forms)
    try:
        ds = dcmread(io.BytesIO(output), force=True)
    except Exception:  # noqa: BLE001 - an output that cannot be read again cannot be checked: fail closed
        return [Leak("output", 0, "the output could not be read again to be checked")]
    if 0x00080018 not in ds:
        return [Leak("output", 0, "the output read again holds no SOP Instance UID")]
    leaks: dict[tuple[str, str], Leak] = {}
    # decisions only where a descriptor is found: the search never needs the others
    walks = [*_meta_walk(ds, table, options, lazy=True), *_walk(ds, "", _Context(table, options), lazy=True)]
    charsets = frozenset(getattr(needles, "charsets", frozenset())) | _charsets(walks)
    for item, element, label, vr, decision in walks:
        tag = int(element.tag)
        if vr == "SQ" or tag in _PIXELS or vr in _NUMBERS:
            continue
        binary_vr = vr in _BINARY_TEXT
        marked = _device_marking_values(label)  # per element, not per rendering
        # A short value's texts are memoised (a series repeats most values in every file)
        source = _short_source(element.value)
        searched = _short_searched_texts(source, charsets, binary_vr, marked) if source is not None else None
        if searched is None:
            searched = _searched_texts(_renderings(element, charsets), binary_vr, marked)
        for toks, joined, binary in searched:
            if joined in exempt:
                continue
            for needle in search.hits(toks):
                if needle.kind == "descriptor" and _decision(item, element, vr, decision) != "P":
                    continue
                if needle.kind == "in-place" and label != needle.where:
                    continue
                if needle.kind == "name-part" and _equipment(tag, table) and not label.startswith("meta"):
                    continue
                if binary and len("".join(tokens(needle.value))) < MIN_BINARY:
                    continue
                key = (needle.where, needle.value.casefold())
                leaks.setdefault(key, Leak(needle.where, len(needle.value), label, needle.kind))
    return list(leaks.values())


def _searched_texts(renderings: Iterable[str], binary_vr: bool, marked: frozenset[str]
                    ) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    """(tokens, tokens joined by spaces, searched as binary) of each text of an output value
    that has tokens, one at a time: ``renderings`` but those that are exactly a value the device
    writes there (``marked``), each split into values (a binary VR's bytes that do not read as
    text: into printable runs, searched for values of MIN_BINARY letters and digits or more)."""
    for rendering in renderings:
        if marked and rendering.strip() in marked:
            continue
        binary = binary_vr and not _text_like(rendering)
        for text in _pieces(rendering, binary):
            toks = tokens(text)
            if toks:
                yield toks, " ".join(toks), binary


@lru_cache(_MEMO_ENTRIES)
def _short_searched_texts(source: bytes | str, charsets: frozenset[str], binary_vr: bool,
                          marked: frozenset[str]) -> tuple[tuple[tuple[str, ...], str, bool], ...] | None:
    """:func:`_searched_texts` of a value of up to ``_CACHED_TEXT`` bytes or characters (its
    :func:`_short_source`), each text once: a text met again in the same value finds the same
    needles in the same output element, which ``find_leaks`` records once (the first time).
    None for a value of more than ``_MEMO_ITEMS`` texts (searched one at a time by the caller)."""
    texts = dict.fromkeys(_searched_texts(_source_renderings(source, charsets), binary_vr, marked))
    return tuple(texts) if len(texts) <= _MEMO_ITEMS else None  # None: more than a memo entry keeps


def _pieces(rendering: str, binary: bool) -> Iterator[str]:
    """The texts of a rendering searched one by one: printable runs of binary data, else its
    values (empty ones make no tokens). One at a time, not a list of them, except for a short
    rendering (a list of a few short values, split faster than matched)."""
    if binary:
        return (match[0] for match in _RUN.finditer(rendering))
    return iter(rendering.split("\\")) if len(rendering) <= _CACHED_TEXT else _values(rendering)


def _text_like(text: str) -> bool:
    """Whether a rendering of binary bytes reads as text (nearly all printable characters)."""
    if not text or len(text) > 1 << 20:
        return False
    printable = sum(1 for c in text if c.isprintable() and c != "\ufffd")
    return printable >= 0.95 * len(text)


def _equipment(tag: int, table: RuleTable) -> bool:
    """The identity of the equipment: Manufacturer, Manufacturer's Model Name and the attributes
    Retain Device Identity lists (PS3.15 E.3.8). Vendor, product and station names are common
    words and surnames (GE, Philips, Canon, PHANTOM): one part of a patient's name found there
    is a coincidence, not a leak. The whole name and every other identifier are searched there."""
    if tag in _EQUIPMENT:
        return True
    row = table.lookup(tag)
    return row is not None and row.option("retain_device_identity") is not None


@lru_cache(64)  # the files of one patient have the same long needles
def _any_of(forms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(form) for form in forms))


_REGEX_FORM_MAX = 1024  # characters of a long form that may go into the combined expression
_REGEX_TOTAL_MAX = 64 * 1024  # characters of all of them: more (thousands of long values) and each is tested alone


class _Search:
    """The needles of one file, ready to be matched against the tokens of each output text."""

    def __init__(self, by_first: dict[str, list[tuple[Needle, tuple[str, ...]]]],
                 long_forms: list[tuple[Needle, str]]) -> None:
        self.by_first = by_first
        # One pass over a text tells whether any long form occurs in it at all (a regular
        # expression search finds an alternative wherever one occurs); only then is each
        # long form tested, so the answer is the same as testing each of them every time.
        # Forms longer than _REGEX_FORM_MAX (a removed 15 MiB overlay value is one needle) stay
        # out of the expression: compiling it cost 1.4 GB and 30 s; they are tested with `in`.
        # So do all forms when together they exceed _REGEX_TOTAL_MAX (a file of thousands of long
        # values would compile into an expression as costly; the memo then holds small ones only).
        self.long_forms = [item for item in long_forms if len(item[1]) <= _REGEX_FORM_MAX]
        self.huge_forms = [item for item in long_forms if len(item[1]) > _REGEX_FORM_MAX]
        if sum(len(form) for _, form in self.long_forms) > _REGEX_TOTAL_MAX:
            self.long_forms, self.huge_forms = [], self.long_forms + self.huge_forms
        self.any_long = _any_of(tuple(form for _, form in self.long_forms)) if self.long_forms else None

    def hits(self, toks: tuple[str, ...]) -> list[Needle]:
        hits: list[Needle] = []
        by_first = self.by_first
        for index, token in enumerate(toks):
            for needle, form in by_first.get(token, ()):
                if toks[index:index + len(form)] == form:
                    hits.append(needle)
        if self.any_long is not None or self.huge_forms:
            # inside longer words, never inside a UID or other dotted number (a UID kept by Retain
            # UIDs may hold the date it was made: the option keeps it so)
            joined = " ".join("|" if "." in t else t for t in toks)
            if self.any_long is not None and self.any_long.search(joined) is not None:
                hits.extend(needle for needle, form in self.long_forms if form in joined)
            hits.extend(needle for needle, form in self.huge_forms if form in joined)
        return hits


def check_file(input_ds: Dataset, output: bytes, table: RuleTable, options: frozenset[Option],
               written: set[str]) -> list[Leak]:
    """The self-check of one file in one call (``input_ds`` must be the unmodified input)."""
    return find_leaks(output, identifying_values(input_ds, table, options), written, table=table, options=options)


def cleaning_terms(needles: Iterable[Needle]) -> tuple[str, ...]:
    """The needle values cleaning should remove from kept text (``FileState.identifiers``):
    identifiers and name parts, longest first. Descriptors (removed free text such as a
    private value ``AXIAL``) are left out: removing them from a kept description would only
    spoil it, and the engine collects the instance's identifiers itself anyway."""
    values = {n.value for n in needles if n.kind in ("identifier", "name-part")}
    return tuple(sorted(values, key=len, reverse=True))
