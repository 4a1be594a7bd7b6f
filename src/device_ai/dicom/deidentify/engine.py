"""The de-identification engine: PS3.15 Annex E applied to one data set.

Every element, at any depth of sequence nesting (E.1.1: "whether contained in the main
dataset or embedded in an Item of a Sequence of Items"), gets exactly one action:

- an attribute of Table E.1-1 gets the action of its row, the selected options overriding
  the Basic Profile (E.1.1);
- an attribute outside the table is handled by its VR, as E.1.1 allows: UI values are
  remapped unless they are well-known UIDs (SOP classes, transfer syntaxes, coding schemes);
  DA/DT/TM like the table's date rows; PN and free text like an X/Z/D row unless listed in
  ``values.TEXT_KEEP``; sequences recursed; everything else kept;
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

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID_dictionary

from device_ai.dicom.deidentify.dates import UnshiftableDate, shift_da, shift_dt
from device_ai.dicom.deidentify.iod_types import attribute_type
from device_ai.dicom.deidentify.keyed import KeyedReplacer
from device_ai.dicom.deidentify.options import Option
from device_ai.dicom.deidentify.rules import RuleTable, effective_action
from device_ai.dicom.deidentify.safe_private import SafePrivateTable
from device_ai.dicom.deidentify.values import DATE_KEEP, DATE_VRS, TEXT_KEEP, TEXT_VRS, dummy_for

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
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


@dataclass
class FileState:
    """Per-file context: the SOP class for Type lookups, the patient for keyed pseudonyms."""

    sop_class_uid: str
    original_patient_id: str
    replacer: KeyedReplacer
    policy: Policy
    # Identifying strings of this instance, used to clean descriptors (E.3.5) and free text.
    identifiers: tuple[str, ...] = ()
    actions: Counter = field(default_factory=Counter)
    written: set[str] = field(default_factory=set)


def _label(tag: BaseTag, name: str | None) -> str:
    return f"({tag.group:04X},{tag.element:04X}) {name or keyword_for_tag(tag) or 'unknown'}"


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


def _vr_default(element: DataElement, policy: Policy) -> tuple[str, str]:
    """(action, reason) for an attribute outside Table E.1-1 (E.1.1, handling by VR)."""
    vr = element.VR
    keyword = element.keyword
    if vr == "SQ":
        return "K", "sequence outside the table: items processed"
    if vr == "UI":
        values = _values(element)
        if all(_well_known(str(v)) for v in values if v):
            return "K", "well-known UID"
        return ("K", "UI by VR, Retain UIDs") if Option.RETAIN_UIDS in policy.options else ("U", "UI by VR")
    if vr in DATE_VRS or vr == "TM":
        if keyword in DATE_KEEP:
            return "K", "code set version"
        if Option.RETAIN_LONG_FULL_DATES in policy.options:
            return "K", "date/time by VR, Retain Full Dates"
        if policy.modified_dates:
            return "C", "date/time by VR, Modified Dates"
        return "X/Z/D", "date/time by VR"
    if vr == "PN":
        return "X/Z/D", "person name by VR"
    if vr in TEXT_VRS:
        if keyword in TEXT_KEEP:
            return "K", "non-identifying text attribute"
        return "X/Z/D", "free text outside the table"
    return "K", "not identifying by VR"


def _clean_text(value: str, identifiers: tuple[str, ...]) -> str:
    """Remove every known identifier of this instance from free text (E.3.5 Clean Descriptors).

    Deny-list cleaning with the instance's own identifying values (names and their parts,
    IDs, dates, institutions, addresses), case-insensitive; the run's leak check verifies
    the result, so cleaning that missed something fails the run rather than passing.
    """
    for identifier in identifiers:
        value = re.sub(re.escape(identifier), _REMOVED_MARK, value, flags=re.IGNORECASE)
    return value


def _drop_orphaned_overlays(ds: Dataset, state: FileState) -> None:
    """Remove what is left of an overlay whose data was removed.

    Overlay Data (60xx,3000) is Type 1 in the Overlay Plane module (PS3.3 C.9.2): the rest
    of a group that lost it would make the instance invalid, and carries no image content.
    """
    for group in {tag.group for tag in ds.keys() if 0x6000 <= tag.group <= 0x60FF and tag.group % 2 == 0}:
        if (group << 16 | 0x3000) in ds:
            continue
        for tag in [t for t in ds.keys() if t.group == group]:
            del ds[tag]
        state.actions[(f"({group:04X},xxxx) overlay group without data", "X")] += 1


class Engine:
    """Applies a :class:`Policy` to data sets (in place on a copy the caller owns)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    # -- entry point -------------------------------------------------------------------
    def apply(self, ds: Dataset, state: FileState) -> None:
        """De-identify ``ds`` in place (the caller passes a copy; the input is never touched)."""
        self._dataset(ds, (), state)

    # -- traversal ---------------------------------------------------------------------
    def _dataset(self, ds: Dataset, path: tuple[str, ...], state: FileState) -> None:
        kept_private_blocks: set[tuple[int, int]] = set()
        creators: list[BaseTag] = []
        for element in list(ds):
            tag = element.tag
            if tag.group == 0x0002:
                continue  # the file meta is rebuilt, never copied (marking.py)
            if tag.is_private:
                if tag.is_private_creator:
                    creators.append(tag)
                elif self._keep_private(ds, element, state):
                    kept_private_blocks.add((tag.group, tag.element >> 8))
                else:
                    del ds[tag]
                    state.actions[("private attribute", "X")] += 1
                continue
            self._element(ds, element, path, state)
        for tag in creators:
            if (tag.group, tag.element) not in kept_private_blocks:
                del ds[tag]
        _drop_orphaned_overlays(ds, state)

    def _keep_private(self, ds: Dataset, element: DataElement, state: FileState) -> bool:
        if Option.RETAIN_SAFE_PRIVATE not in self.policy.options:
            return False
        tag = element.tag
        creator_element = ds.get((tag.group, tag.element >> 8))
        creator = str(creator_element.value).strip() if creator_element is not None else ""
        if self.policy.safe_private.is_safe(creator, tag.group, tag.element & 0xFF):
            state.actions[(f"private {creator} ({tag.group:04X},xx{tag.element & 0xFF:02X})", "K")] += 1
            return True
        return False

    def _action(self, element: DataElement, path: tuple[str, ...], state: FileState) -> tuple[str, str]:
        row = self.policy.table.lookup(int(element.tag))
        if row is not None:
            code = effective_action(row, self.policy.options)
            name = row.name
        else:
            code, reason = _vr_default(element, self.policy)
            name = f"{keyword_for_tag(element.tag) or 'unknown'} [{reason}]"
        if "/" in code:
            code = _resolve(code, attribute_type(state.sop_class_uid, path, element.keyword))
        return code, name

    def _element(self, ds: Dataset, element: DataElement, path: tuple[str, ...], state: FileState) -> None:
        tag = element.tag
        if tag in (PATIENT_NAME, PATIENT_ID):
            self._patient_identity(ds, element, state)
            return
        code, name = self._action(element, path, state)
        state.actions[(_label(tag, name), code)] += 1
        if element.VR == "SQ":
            self._sequence(ds, element, code, path, state)
            return
        if code == "X":
            del ds[tag]
        elif code == "Z":
            element.value = None if element.VR not in ("OB", "OW", "UN") else b""
        elif code == "D":
            self._dummy(element, state)
        elif code == "U":
            self._remap_uids(element, state)
        elif code == "C":
            self._clean(ds, element, state)
        elif code != "K":
            raise AssertionError(f"unhandled action {code!r} for {_label(tag, name)}")

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

    def _sequence(self, ds: Dataset, element: DataElement, code: str, path: tuple[str, ...], state: FileState) -> None:
        if code == "X":
            del ds[element.tag]
            return
        if code == "Z":
            element.value = Sequence([])
            return
        # K, C, D, U on a sequence: keep its items and apply the profile inside them (E.1.1:
        # "K" on a sequence means recursing, e.g. to remap the UIDs it holds).
        for item in element.value:
            self._dataset(item, path + (element.keyword,), state)

    def _dummy(self, element: DataElement, state: FileState) -> None:
        vr = element.VR
        if vr == "UI":
            self._remap_uids(element, state)
            return
        if vr in DATE_VRS and self.policy.modified_dates:
            self._shift(element, state)
            return
        value = dummy_for(vr)
        element.value = value
        if isinstance(value, str):
            state.written.add(value)

    def _remap_uids(self, element: DataElement, state: FileState) -> None:
        if element.VR != "UI":  # a U row on a non-UI element (malformed input): remove the value
            element.value = None
            return
        new = [str(v) if _well_known(str(v)) else state.replacer.uid(str(v)) for v in _values(element) if v]
        state.written.update(new)
        _set_values(element, new)

    def _shift(self, element: DataElement, state: FileState) -> None:
        days = state.replacer.day_offset(state.original_patient_id)
        shift = shift_da if element.VR == "DA" else shift_dt
        try:
            new = [shift(str(v), days) for v in _values(element) if str(v).strip()]
        except UnshiftableDate:
            element.value = None  # cannot be shifted safely: emptied rather than kept
            state.actions[(_label(element.tag, None), "Z (unshiftable date)")] += 1
            return
        state.written.update(new)
        _set_values(element, new)

    def _clean(self, ds: Dataset, element: DataElement, state: FileState) -> None:
        vr = element.VR
        if vr in DATE_VRS:
            if self.policy.modified_dates:
                self._shift(element, state)
            else:
                del ds[element.tag]
        elif vr == "TM":
            pass  # whole-day shifts keep times of day: date and time move together (E.3.6)
        elif vr in TEXT_VRS or vr == "PN":
            cleaned = [_clean_text(str(v), state.identifiers) for v in _values(element) if v is not None]
            _set_values(element, cleaned)
        elif vr == "UI":
            self._remap_uids(element, state)
        elif vr in ("OB", "OW", "UN", "OF", "OD", "OL", "OV"):
            # Overlay and curve data cannot be cleaned here: removed, never claimed clean.
            del ds[element.tag]
            state.actions[(_label(element.tag, None), "X (binary cannot be cleaned)")] += 1
        # numeric and code-string values with C (e.g. patient characteristics) are kept
