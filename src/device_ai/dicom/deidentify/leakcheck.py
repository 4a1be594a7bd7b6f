"""The self-check after every file: no identifying value of the input may appear anywhere in
the output's bytes.

It does not trust the engine. It walks the *input* on its own (file meta, every nesting
level, private attributes), collects every identifying string (names and their parts, IDs,
dates, addresses, free text, UIDs, private text) whose rule does not keep it by definition,
and searches the bytes of the written file, case-insensitively, in UTF-8 and Latin-1. Values
shorter than ``MIN_LENGTH`` are skipped (they occur by chance); values the engine wrote as
replacements are exempt and blanked out before the search (a shifted date can equal another
original date; a short ID can occur inside a keyed UID). Pixel data is not
searched as text: burned-in text is handled by quarantine (``burned_in.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import RuleTable, effective_action
from device_ai.dicom.deidentify.values import DATE_KEEP, DATE_VRS, TEXT_KEEP, TEXT_VRS

MIN_LENGTH = 4
_PIXEL_TAG_LE = b"\xe0\x7f\x10\x00"
_SEARCHED_VRS = TEXT_VRS | DATE_VRS | {"PN", "UI"}


@dataclass(frozen=True)
class Needle:
    """One identifying value of the input and where it was found (no value in reports)."""

    value: str
    where: str


@dataclass(frozen=True)
class Leak:
    """An identifying input value found in the output; ``where`` names its input attribute."""

    where: str
    length: int


def _strings(element: DataElement) -> list[str]:
    value = element.value
    if value is None:
        return []
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("latin-1", errors="ignore")
        return [text.strip("\0 ")] if text.isprintable() else []
    values = list(value) if element.VM > 1 else [value]
    out: list[str] = []
    for v in values:
        text = str(v).strip("\0 ")
        out.append(text)
        if element.VR == "PN":  # components and component groups (PS3.5 6.2.1)
            out.extend(part.strip() for group in text.split("=") for part in group.split("^"))
    return out


def _kept_by_rule(element: DataElement, table: RuleTable, options: frozenset[Option]) -> bool:
    row = table.lookup(int(element.tag))
    if row is not None:
        action = effective_action(row, options)
        if action == "C" and element.VR not in DATE_VRS:
            return True  # cleaned text keeps its non-identifying words; the identifiers are needles themselves
        return action == "K"
    if element.VR == "UI":
        return Option.RETAIN_UIDS in options or all(str(v) in UID_dictionary for v in _strings(element))
    if element.VR in DATE_VRS:
        return element.keyword in DATE_KEEP or Option.RETAIN_LONG_FULL_DATES in options
    return element.keyword in TEXT_KEEP


def _walk(ds: Dataset, where: str) -> Iterator[tuple[DataElement, str]]:
    for element in ds:
        label = f"{where}({element.tag.group:04X},{element.tag.element:04X})"
        if element.VR == "SQ":
            for index, item in enumerate(element.value or []):
                yield from _walk(item, f"{label}[{index}]/")
        else:
            yield element, label


def _private_searched(element: DataElement) -> bool:
    """Private text is searched; private binary only where it decodes to text with a letter
    (numbers such as ``0.000000`` are not identifying and would match retained values)."""
    if element.VR in _SEARCHED_VRS:
        return True
    if element.VR in ("UN", "OB"):
        return any(s.isascii() and any(c.isalpha() for c in s) for s in _strings(element))
    return False


def identifying_values(ds: Dataset, table: RuleTable, options: frozenset[Option]) -> list[Needle]:
    """Every identifying string of the input that the profile does not keep.

    A value that also occurs inside a value the profile retains (e.g. an institution called
    "Here" and a manufacturer "name here") is left out: its presence in the output would not
    come from the de-identifier.
    """
    needles: list[Needle] = []
    kept: list[str] = []
    meta = getattr(ds, "file_meta", None) or Dataset()
    sources = [(e, f"meta({e.tag.group:04X},{e.tag.element:04X})") for e in meta
               if e.keyword not in ("TransferSyntaxUID", "MediaStorageSOPClassUID", "FileMetaInformationVersion")]
    for element, label in [*sources, *_walk(ds, "")]:
        if element.tag.is_private:
            searched = not element.tag.is_private_creator and _private_searched(element)
        else:
            searched = element.VR in _SEARCHED_VRS
            if searched and _kept_by_rule(element, table, options):
                kept.extend(v.lower() for v in _strings(element))
                continue
        if searched:
            needles.extend(Needle(v, label) for v in _strings(element) if len(v) >= MIN_LENGTH)
    retained = "\x00".join(kept)
    return [n for n in needles if n.value.lower() not in retained]


def _searchable(data: bytes) -> bytes:
    """The output bytes up to its (last) Pixel Data element, lower-cased."""
    cut = data.rfind(_PIXEL_TAG_LE)
    return (data[:cut] if cut > 0 else data).lower()


def find_leaks(output: bytes, needles: list[Needle], written: set[str]) -> list[Leak]:
    """The needles present in ``output`` (none is the only passing result)."""
    haystack = _searchable(output)
    exempt = {w.lower() for w in written}
    # Blank out what the engine wrote (keyed UIDs, pseudonyms, shifted dates, dummies), so an
    # input value that happens to be a substring of a replacement is not taken for a leak.
    for value in sorted(exempt, key=len, reverse=True):
        if value:
            haystack = haystack.replace(value.encode("utf-8", errors="ignore"), b"\0")
    leaks: list[Leak] = []
    seen: set[tuple[str, str]] = set()
    for needle in needles:
        value = needle.value.lower()
        if value in exempt or (needle.where, value) in seen:
            continue
        seen.add((needle.where, value))
        encodings = {value.encode("utf-8", errors="ignore"), value.encode("latin-1", errors="ignore")}
        if any(code and code in haystack for code in encodings):
            leaks.append(Leak(where=needle.where, length=len(needle.value)))
    return leaks
