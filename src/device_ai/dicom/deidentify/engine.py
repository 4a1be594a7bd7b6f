"""The de-identification engine: PS3.15 Annex E applied to one data set.

Every element, at any depth of sequence nesting (E.1.1: "whether contained in the main
dataset or embedded in an Item of a Sequence of Items"), gets exactly one action:

- an attribute of Table E.1-1 gets the action of its row, the selected options overriding
  the Basic Profile (E.1.1);
- an attribute outside the table is handled by its VR, as E.1.1 allows: UI values are
  remapped unless they are well-known UIDs (SOP classes, transfer syntaxes, coding schemes);
  DA/DT/TM like the table's date rows; PN and free text like an X/Z/D row unless listed in
  ``values.TEXT_KEEP``; a public attribute of VR UN (unknown to the dictionary) removed;
  one the dictionary defines as text, a name, a date, a time or a UID but which carries a VR
  judged as not identifying (a swapped VR: a date as CS or OB) handled like an X/Z/D row (a
  table row the options clean, C, removed when its value carries such a VR);
  sequences recursed; everything else kept;
- coded text (Code Value, Code Meaning, ... ``values.CODED_TEXT``) is kept only inside a real
  code item (Code Value, Long Code Value or URN Code Value plus Coding Scheme Designator) of a
  public scheme (``coding_schemes``, PS3.16 Table 8-1); in an item of a private or local
  scheme (99*, L, LOCAL) it is handled like other free text (removed or replaced);
- inside the items of a sequence whose action is D, X, Z or X/Z/U* neither coded text nor
  ``values.TEXT_KEEP`` is kept: a D sequence keeps one dummy item (its first item, every
  value in it replaced or removed by the rules above without any keep-list), X removes and
  Z empties the sequence, and X/Z/U* keeps its items for the instance UIDs they reference
  (remapped) and nothing else of their text;
- private attributes are removed, unless Retain Safe Private is selected and the attribute
  is in Table E.3.10-1 (its private creator is kept with it).

The compound actions X/Z, X/D, Z/D and X/Z/D resolve by the attribute's Type in the IOD of
the instance (``iod_types``), so the output stays a valid instance: Type 1 gets a dummy (D),
Type 2 is emptied (Z), Type 3 is removed (X). X/Z/U* (Referenced Image Sequence, Source Image
Sequence) is always resolved to U: the references stay, with their UIDs remapped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID_dictionary

from device_ai.dicom.deidentify.coding_schemes import is_public_scheme
from device_ai.dicom.deidentify.dates import UnshiftableDate, shift_da, shift_dt
from device_ai.dicom.deidentify.iod_types import attribute_type
from device_ai.dicom.deidentify.keyed import KeyedReplacer
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import RuleTable, effective_action
from device_ai.dicom.deidentify.safe_private import SafePrivateTable
from device_ai.dicom.deidentify.values import CODED_TEXT, DATE_KEEP, DATE_VRS, TEXT_KEEP, TEXT_VRS, dummy_for

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_PATIENT_IDENTITY = frozenset({PATIENT_NAME, PATIENT_ID})
_REMOVED_MARK = "[REMOVED]"


@dataclass(frozen=True)
class Policy:
    """What one run applies: the rule table, the selected options, the safe private list."""

    table: RuleTable
    options: frozenset[Option]
    safe_private: SafePrivateTable

    @property
    def modified_dates(self) -> bool:
        return Option.RETAIN_LONG_MODIFIED_DATES in self.options

    @cached_property
    def cleans_text(self) -> bool:
        """Whether any row of the table is cleaned (C) under these options. Only then does the
        engine need the instance's identifying terms (``collect_clean_terms``, a walk of every
        element before anything changes); outside the table only dates get a C, and dates are
        shifted, not cleaned as text. The Basic Profile alone cleans nothing."""
        return any(effective_action(row, self.options) == "C" for row in self.table.rows)


@dataclass
class FileState:
    """Per-file context: the SOP class for Type lookups, the patient for keyed pseudonyms."""

    sop_class_uid: str
    original_patient_id: str
    replacer: KeyedReplacer
    policy: Policy
    # Identifying strings of this instance, used to clean descriptors (E.3.5) and free text,
    # in addition to those the engine collects itself from the instance (``clean_terms``).
    identifiers: tuple[str, ...] = ()
    actions: Counter = field(default_factory=Counter)
    written: set[str] = field(default_factory=set)
    # What happened to each element, by path ``(gggg,eeee)[i]/(gggg,eeee)``: K kept, C text
    # cleaned, X removed, Z emptied, D dummy or keyed pseudonym, U UIDs remapped, S date
    # shifted (the decision vectors of tests/dicom/vectors compare these).
    decisions: dict[str, str] = field(default_factory=dict)
    clean_terms: tuple[str, ...] = ()
    # Where the element being handled is: (tag path, inside a D/X/Z/X/Z/U* item, in a public
    # code item); set by the traversal before each element.
    context: tuple[str, bool, bool] = ("", False, False)


def _label(tag: BaseTag | int, name: str | None) -> str:
    # memoised on the tag as an int: pydicom's tag class compares in Python, an int in C
    return _int_label(int(tag), name)


@lru_cache(1 << 12)  # the same few hundred attributes in every file
def _int_label(tag: int, name: str | None) -> str:
    return f"{_tag_text(tag)} {name or keyword_for_tag(tag) or 'unknown'}"


@lru_cache(1 << 12)
def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@lru_cache(1 << 12)
def _keyword(tag: int) -> str:
    """``DataElement.keyword`` of a tag: its dictionary keyword, '' if the dictionary does not
    list it (private, unknown, repeating groups), looked up once per tag."""
    return dictionary_keyword(tag) if dictionary_has_tag(tag) else ""


_IDENTIFYING_VRS = TEXT_VRS | DATE_VRS | frozenset({"TM", "PN", "UI"})


def _cleaned_as(vr: str) -> str:
    """How ``_clean`` treats a value of ``vr``: dates are shifted, text and names cleaned, times
    kept, UIDs remapped, anything else kept or removed as binary."""
    if vr in DATE_VRS:
        return "date"
    if vr in TEXT_VRS or vr == "PN":
        return "text"
    return vr


@lru_cache(1 << 12)
def _dictionary_vr(tag: int) -> str:
    """The dictionary's (first) VR of a public attribute; '' for a private or unknown one."""
    if tag >> 16 & 1:
        return ""
    try:  # dictionary_VR also knows the repeating groups (review 81 B: Coefficient Coding (0028,0412))
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return ""


def _well_known(uid: str) -> bool:
    return uid in UID_dictionary


def _values(element: DataElement) -> list:
    """The values of an element as a list, whatever its multiplicity."""
    return list(element.value) if element.VM > 1 else [element.value]


def _set_values(element: DataElement, values: list) -> None:
    element.value = values if len(values) > 1 else (values[0] if values else None)


def _resolve(code: str, tag_type: int) -> str:
    """The action a compound code (PS3.15 Table E.1-1a) means for an attribute of ``tag_type``."""
    if "/" not in code:
        return code
    if code == "X/Z/U*":
        # References to other instances are kept with every UID in them remapped (U), which
        # the code permits and which keeps a SEG's source images, a derived image's sources
        # and the Common Instance Reference module consistent; the keyed UIDs disclose nothing.
        return "U"
    allowed = code.split("/")
    needed = {1: "D", 2: "Z", 3: "X"}[tag_type]
    if needed in allowed:
        return needed
    if tag_type == 1:
        return "D"  # a Type 1 attribute must stay non-empty for the instance to remain valid
    return "Z" if "Z" in allowed else allowed[-1]


def _code_item(ds: Dataset, parent: str | None) -> bool:
    """Whether ``ds`` is a real code item of a public coding scheme: a Code Value, Long Code
    Value or URN Code Value plus a Coding Scheme Designator listed in PS3.16 Table 8-1 (or an
    item of Coding Scheme Identification Sequence describing such a scheme)."""
    if not is_public_scheme(ds.get("CodingSchemeDesignator")):
        return False
    if any(str(ds.get(keyword) or "").strip() for keyword in ("CodeValue", "LongCodeValue", "URNCodeValue")):
        return True
    return parent == "CodingSchemeIdentificationSequence"


def _vr_default(element: DataElement, policy: Policy, restricted: bool = False,
                code_item: bool = False) -> tuple[str, str]:
    """(action, reason) for an attribute outside Table E.1-1 (E.1.1, handling by VR).

    ``restricted``: the element is inside an item of a D, X, Z or X/Z/U* sequence (no
    keep-list applies there); ``code_item``: its item is a code item of a public scheme."""
    vr = element.VR
    keyword = _keyword(int(element.tag))
    if vr == "SQ":
        return "K", "sequence outside the table: items processed"
    known = _dictionary_vr(int(element.tag))
    if known == "SQ":
        # a sequence carried as another VR (fuzz campaign 12: Procedure Code Sequence as OL): its
        # items are opaque bytes, not processed, so nothing in them is judged: not kept
        return "X/Z/D", f"sequence carried as {vr or 'no VR'}: its items cannot be processed"
    swapped = known in _IDENTIFYING_VRS and vr not in _IDENTIFYING_VRS
    if keyword in CODED_TEXT and (vr in TEXT_VRS or (swapped and known in TEXT_VRS)):
        if code_item and not restricted:
            return "K", "coded text of a public code item"
        return "X/Z/D", "coded text outside a public code item"
    if swapped:
        # a date, time, name, UID or text attribute carrying a VR judged as not identifying (a
        # swapped VR: Secondary Review Date as CS or OB): judged as what the dictionary says it
        # is, never kept by the VR it carries (review 80 D3; the self-check judges it the same way);
        # a UID of the standard stays (review 81 A: SOP Class UID as CS)
        if known == "UI" and all(_well_known(str(v).strip("\0 ")) for v in _values(element) if v):
            return "K", "well-known UID carried as " + (vr or "no VR")
        return "X/Z/D", f"{known} attribute carried as {vr or 'no VR'}"
    if vr == "UI":
        values = _values(element)
        if all(_well_known(str(v)) for v in values if v):
            return "K", "well-known UID"
        return ("K", "UI by VR, Retain UIDs") if Option.RETAIN_UIDS in policy.options else ("U", "UI by VR")
    if vr in DATE_VRS or vr == "TM":
        if keyword in DATE_KEEP and code_item and not restricted:
            return "K", "code set version"
        if Option.RETAIN_LONG_FULL_DATES in policy.options:
            return "K", "date/time by VR, Retain Full Dates"
        if policy.modified_dates:
            return "C", "date/time by VR, Modified Dates"
        return "X/Z/D", "date/time by VR"
    if vr == "PN":
        return "X/Z/D", "person name by VR"
    if vr == "UN":
        # A public attribute the dictionary does not know (private ones are handled apart):
        # its content cannot be judged, so it is removed (E.1.1: the table may not be sufficient).
        return "X", "unknown attribute"
    if vr in TEXT_VRS:
        if keyword in TEXT_KEEP and not restricted:
            return "K", "non-identifying text attribute"
        return "X/Z/D", "free text outside the table"
    return "K", "not identifying by VR"


_TOKEN = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")
_DATE_FORMATS = ("{y}{m}{d}", "{y}-{m}-{d}", "{y}/{m}/{d}", "{y}.{m}.{d}", "{d}.{m}.{y}", "{d}/{m}/{y}",
                 "{m}/{d}/{y}", "{d}-{m}-{y}", "{m}-{d}-{y}")
LONG_TERM = 8  # a term of this many letters and digits or more is also removed inside longer words


def date_renderings(value: str) -> list[str]:
    """The usual ways of writing the date of a DA (or the date part of a DT) value."""
    digits = value.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:8]
    return [f.format(y=y, m=m, d=d) for f in _DATE_FORMATS]


@lru_cache(4096)
def _term_pattern(term: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern of ``term`` as whole tokens, any separators between them
    (``DOE^JOHN`` also matches ``Doe, John``); a long term also inside longer words."""
    tokens = _TOKEN.findall(term)
    if not tokens:
        return None
    body = r"[\W_]+".join(re.escape(t) for t in tokens)
    if len("".join(tokens)) >= LONG_TERM:
        return re.compile(body, re.IGNORECASE)
    return re.compile(r"(?<![^\W_])(?<!\d\.)" + body + r"(?![^\W_])(?!\.\d)", re.IGNORECASE)


def _clean_text(value: str, identifiers: tuple[str, ...] | list[str]) -> str:
    """Remove every known identifier of this instance from free text (E.3.5 Clean Descriptors).

    Deny-list cleaning with the instance's own identifying values (person names, each of
    their parts and the whole name, IDs, addresses, institutions, dates in the usual
    renderings, UIDs), as whole tokens, case-insensitive, whatever separates the parts of a
    name; a value of 8 letters and digits or more also inside longer words. The self-check
    verifies the result independently, so cleaning that missed something quarantines the file
    rather than passing it.
    """
    for identifier in sorted(set(identifiers), key=len, reverse=True):
        pattern = _term_pattern(identifier)
        if pattern is not None:
            value = pattern.sub(_REMOVED_MARK, value)
    return value


def _pn_terms(text: str) -> list[str]:
    """A person name and its parts (family, given, middle names of two characters or more, in
    every component group); prefixes and suffixes (Dr, Jr) are not names of the person."""
    terms = [text]
    for group in text.split("="):
        terms.append(group)
        terms.extend(part for part in group.split("^")[:3] if len(part.strip()) >= 2)
    return [t.strip() for t in terms if t.strip()]


_TERM_VRS = TEXT_VRS | DATE_VRS | {"PN", "UI"}


def collect_clean_terms(ds: Dataset, policy: Policy) -> tuple[str, ...]:
    """The identifying values of an instance that cleaning removes from text it keeps.

    Collected by the engine itself, before it changes anything: every person name and its
    parts, every date (in the usual renderings) and UID the profile does not keep, and the
    values of the Table E.1-1 text attributes that identify rather than describe (rows the
    Clean Descriptors option does not list) and that the profile does not keep.
    """
    terms: set[str] = set()
    retain_uids = Option.RETAIN_UIDS in policy.options
    for element in _iter_elements(ds):
        vr = element.VR
        if vr not in _TERM_VRS or element.value is None or (element.tag.is_private and vr in TEXT_VRS):
            continue  # private names, dates and UIDs are collected; private free text is not
        values = [str(v) for v in _values(element) if v is not None and str(v).strip()]
        if vr == "PN":
            for v in values:
                terms.update(_pn_terms(v))
            continue
        row = None if element.tag.is_private else policy.table.lookup(int(element.tag))
        action = policy.table.action(int(element.tag), policy.options) if row is not None else None
        if vr in DATE_VRS:
            if action == "K" or Option.RETAIN_LONG_FULL_DATES in policy.options:
                continue
            for v in values:
                terms.add(v)
                terms.update(date_renderings(v))
        elif vr == "UI":
            if not retain_uids:
                terms.update(v for v in values if not _well_known(v))
        elif vr in TEXT_VRS and row is not None and row.option("clean_descriptors") is None and action != "K":
            terms.update(v for v in values if len("".join(_TOKEN.findall(v))) >= 3)
    return tuple(sorted(terms, key=len, reverse=True))


def _in_tag_order(ds: Dataset) -> list[DataElement]:
    """``list(ds)``: the elements in tag order, raw ones converted, sorted on integer tags
    (pydicom sorts on its tag class, whose comparisons are Python calls)."""
    return [ds[tag] for tag in sorted(ds.keys(), key=int)]


def _stored_in_tag_order(ds: Dataset) -> list[tuple[BaseTag, DataElement | RawDataElement]]:
    """(tag, element) in tag order as ``_in_tag_order`` gives them, except private data elements
    ((gggg,xxyy), xx from 10), which are taken as stored: raw ones are not converted, since the
    profile removes them unread unless an option keeps them."""
    return [(tag, ds.get_item(tag, keep_deferred=True) if tag >> 16 & 1 and tag & 0xFFFF >= 0x1000 else ds[tag])
            for tag in sorted(ds.keys(), key=int)]


def _iter_elements(ds: Dataset):  # noqa: ANN202 - a generator of DataElement
    for element in _in_tag_order(ds):
        if element.VR == "SQ":
            for item in element.value or []:
                yield from _iter_elements(item)
        else:
            yield element


def _drop_orphaned_overlays(ds: Dataset, state: FileState) -> None:
    """Remove what is left of an overlay whose data was removed.

    Overlay Data (60xx,3000) is Type 1 in the Overlay Plane module (PS3.3 C.9.2): the rest
    of a group that lost it would make the instance invalid, and carries no image content.
    """
    groups = {tag >> 16 for tag in ds.keys() if 0x6000 <= tag >> 16 <= 0x60FF}  # tags are ints
    for group in {g for g in groups if g % 2 == 0}:
        if (group << 16 | 0x3000) in ds:
            continue
        for tag in [t for t in ds.keys() if t >> 16 == group]:
            del ds[tag]
        state.actions[(f"({group:04X},xxxx) overlay group without data", "X")] += 1


_ACTION_MEMO = 4096  # (attribute, VR, place, SOP class) actions an engine remembers


class Engine:
    """Applies a :class:`Policy` to data sets (in place on a copy the caller owns)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # _action's answers that do not depend on the value, by (tag, VR, restricted, code item,
        # sequence path, SOP class): every file of a series asks the same ones again
        self._actions: dict[tuple, tuple[str, str, str]] = {}

    # -- entry point -------------------------------------------------------------------
    def apply(self, ds: Dataset, state: FileState) -> None:
        """De-identify ``ds`` in place (the caller passes a copy; the input is never touched)."""
        state.clean_terms = collect_clean_terms(ds, self.policy) if self.policy.cleans_text else ()
        self._dataset(ds, (), state)

    # -- traversal ---------------------------------------------------------------------
    def _dataset(self, ds: Dataset, path: tuple[str, ...], state: FileState, where: str = "",
                 restricted: bool = False) -> None:
        kept_private_blocks: set[tuple[int, int]] = set()
        creators: list[BaseTag] = []
        code_item = _code_item(ds, path[-1] if path else None)
        for tag, element in _stored_in_tag_order(ds):
            group = tag >> 16
            if group == 0x0002:
                continue  # the file meta is rebuilt, never copied (marking.py)
            label = where + _tag_text(int(tag))  # (an int: the memo compares it in C)
            if group & 1:  # private (odd group)
                if 0x0010 <= tag & 0xFFFF <= 0x00FF:  # private creator
                    creators.append(tag)
                elif not restricted and self._keep_private(ds, tag, state):
                    ds[tag]  # noqa: B018 - converted if the reader left it raw (reader.parse_dataset raw_private)
                    kept_private_blocks.add((tag.group, tag.element >> 8))
                    state.decisions[label] = "K"
                else:
                    del ds[tag]  # removed as stored, raw or converted
                    state.actions[("private attribute", "X")] += 1
                    state.decisions[label] = "X"
                continue
            state.context = (label, restricted, code_item)
            self._element(ds, element, path, state)
        for tag in creators:
            if (tag.group, tag.element) not in kept_private_blocks:
                del ds[tag]
                state.decisions[f"{where}({tag.group:04X},{tag.element:04X})"] = "X"
            else:
                state.decisions[f"{where}({tag.group:04X},{tag.element:04X})"] = "K"
        _drop_orphaned_overlays(ds, state)

    def _keep_private(self, ds: Dataset, tag: BaseTag, state: FileState) -> bool:
        if Option.RETAIN_SAFE_PRIVATE not in self.policy.options:
            return False
        creator_element = ds.get((tag.group, tag.element >> 8))
        creator = str(creator_element.value).strip() if creator_element is not None else ""
        if self.policy.safe_private.is_safe(creator, tag.group, tag.element & 0xFF):
            state.actions[(f"private {creator} ({tag.group:04X},xx{tag.element & 0xFF:02X})", "K")] += 1
            return True
        return False

    def _action(self, element: DataElement, path: tuple[str, ...], state: FileState, restricted: bool = False,
                code_item: bool = False) -> tuple[str, str, str]:
        """(resolved action, label, declared action) of an element."""
        tag = int(element.tag)
        key = (tag, element.VR, restricted, code_item, path, state.sop_class_uid)
        found = self._actions.get(key)
        if found is None:
            found = self._unmemoised_action(element, path, state, restricted, code_item)
            # outside the table a UID's action depends on its values (well-known or not)
            if len(self._actions) < _ACTION_MEMO and (self.policy.table.lookup(tag) is not None or (
                    element.VR != "UI" and _dictionary_vr(tag) != "UI")):
                self._actions[key] = found
        return found

    def _unmemoised_action(self, element: DataElement, path: tuple[str, ...], state: FileState,
                           restricted: bool = False, code_item: bool = False) -> tuple[str, str, str]:
        """:meth:`_action` worked out (the memo's reference)."""
        tag = int(element.tag)
        row = self.policy.table.lookup(tag)
        action = self.policy.table.action(tag, self.policy.options)
        if row is not None and action is not None:
            code, name = action, row.name
        else:
            code, reason = _vr_default(element, self.policy, restricted, code_item)
            name = f"{keyword_for_tag(tag) or 'unknown'} [{reason}]"
        declared = code
        if "/" in code:
            code = _resolve(code, attribute_type(state.sop_class_uid, path, _keyword(tag)))
        return code, name, declared

    def _element(self, ds: Dataset, element: DataElement, path: tuple[str, ...], state: FileState) -> None:
        where, restricted, code_item = state.context
        tag = element.tag
        if int(tag) in _PATIENT_IDENTITY:
            self._patient_identity(ds, element, state)
            state.decisions[where] = "D"
            return
        code, name, declared = self._action(element, path, state, restricted, code_item)
        state.actions[(_label(tag, name), code)] += 1
        if element.VR == "SQ":
            state.decisions[where] = self._sequence(ds, element, code, declared, path, state, where, restricted)
            return
        outcome = code
        if code == "X":
            del ds[tag]
        elif code == "Z":
            element.value = None if element.VR not in ("OB", "OW", "UN") else b""
        elif code == "D":
            outcome = self._dummy(element, state)
        elif code == "U":
            self._remap_uids(element, state)
        elif code == "C":
            outcome = self._clean(ds, element, state)
        elif code != "K":
            raise AssertionError(f"unhandled action {code!r} for {_label(tag, name)}")
        state.decisions[where] = outcome

    # -- actions -----------------------------------------------------------------------
    def _patient_identity(self, ds: Dataset, element: DataElement, state: FileState) -> None:
        """Patient ID and Patient's Name become keyed pseudonyms (a non-empty Z dummy, E.1-1a)."""
        if element.tag == PATIENT_ID:
            value = state.replacer.patient_id(state.original_patient_id)
        else:
            value = state.replacer.patient_name(state.original_patient_id)
        element.value = value
        state.written.add(value)
        state.actions[(_label(element.tag, None), "keyed pseudonym")] += 1

    def _sequence(self, ds: Dataset, element: DataElement, code: str, declared: str, path: tuple[str, ...],
                  state: FileState, where: str, restricted: bool) -> str:
        """Apply ``code`` to a sequence; returns the outcome recorded for it.

        The items of a sequence whose action is anything but K or C (D, X, Z, X/Z/U* and the
        other compound actions) keep nothing by a keep-list: their coded and technical text is
        removed or replaced like any other text (PS3.15 E.1.1: the table's action applies to the
        whole sequence, and only K and C ask for its content to be kept or cleaned)."""
        if code == "X":
            del ds[element.tag]
            return "X"
        if code == "Z":
            element.value = Sequence([])
            return "Z"
        inner = restricted or declared not in ("K", "C")
        items = list(element.value or [])
        if code == "D":
            # D: one dummy item stands for the sequence, built from the first item with every
            # value in it replaced or removed; the other items are dropped.
            items = items[:1]
            element.value = Sequence(items)
            inner = True
        for index, item in enumerate(items):
            self._dataset(item, path + (element.keyword,), state, f"{where}[{index}]/", inner)
        return code

    def _dummy(self, element: DataElement, state: FileState) -> str:
        vr = element.VR
        if vr == "UI":
            self._remap_uids(element, state)
            return "U"
        if vr in DATE_VRS and self.policy.modified_dates:
            return self._shift(element, state)
        value = dummy_for(vr)
        element.value = value
        if isinstance(value, str):
            state.written.add(value)
        return "D"

    def _remap_uids(self, element: DataElement, state: FileState) -> None:
        if element.VR != "UI":  # a U row on a non-UI element (malformed input): remove the value
            element.value = None
            return
        new = [str(v) if _well_known(str(v)) else state.replacer.uid(str(v)) for v in _values(element) if v]
        state.written.update(new)
        _set_values(element, new)

    def _shift(self, element: DataElement, state: FileState) -> str:
        days = state.replacer.day_offset(state.original_patient_id)
        shift = shift_da if element.VR == "DA" else shift_dt
        try:
            new = [shift(str(v), days) for v in _values(element) if str(v).strip()]
        except UnshiftableDate:
            element.value = None  # cannot be shifted safely: emptied rather than kept
            state.actions[(_label(element.tag, None), "Z (unshiftable date)")] += 1
            return "Z"
        state.written.update(new)
        _set_values(element, new)
        return "S"

    def _clean(self, ds: Dataset, element: DataElement, state: FileState) -> str:
        vr = element.VR
        known = _dictionary_vr(int(element.tag))
        if known in _IDENTIFYING_VRS and _cleaned_as(known) != _cleaned_as(vr):
            # a date or text row carrying a swapped VR (a Study Date as CS or TM, a description as
            # TM) cannot be shifted or cleaned as what it carries, and keeping it would keep the
            # date or the text (reviews 81 C, 82 R2): removed
            del ds[element.tag]
            state.actions[(_label(element.tag, None), f"X ({known} carried as {vr})")] += 1
            return "X"
        if vr in DATE_VRS:
            if self.policy.modified_dates:
                return self._shift(element, state)
            del ds[element.tag]
            return "X"
        if vr == "TM":
            return "K"  # whole-day shifts keep times of day: date and time move together (E.3.6)
        if vr in TEXT_VRS or vr == "PN":
            if not self.policy.cleans_text:  # never: the terms were not collected (a defect, not an input problem)
                raise AssertionError("text cleaned under options that clean no row")
            terms = tuple(state.identifiers) + tuple(state.clean_terms)
            cleaned = [_clean_text(str(v), terms) for v in _values(element) if v is not None]
            _set_values(element, cleaned)
            return "C"
        if vr == "UI":
            self._remap_uids(element, state)
            return "U"
        if vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
            # Overlay and curve data cannot be cleaned here: removed, never claimed clean.
            del ds[element.tag]
            state.actions[(_label(element.tag, None), "X (binary cannot be cleaned)")] += 1
            return "X"
        return "K"  # numeric and code-string values with C (e.g. patient characteristics) are kept
