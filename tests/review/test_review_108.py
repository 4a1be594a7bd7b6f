"""Independent review 108 (reviewer helper-108) of helper-104's two "behaviour unchanged" speed commits,
at HEAD db68921. helper-108 wrote none of the code under review. Line numbers are at HEAD.

f64f3ee - reader pre-scan: a VR's traits memoised (reader.py:88-107 _VrTraits, _vr_traits, _EXPLICIT_TRAITS),
_creator called for private tags only, _multiple_values/_wider only when the traits say they count (reader.py:486-492),
the file meta's traits from _vr_traits (reader.py:586).
5455560 - self-check: _Found.keep through _searched_as(value, kind) (leakcheck.py:550-580, lru 1<<14, values up to
256 characters only); _needle_vr (leakcheck.py:641) and _device_marking_values (leakcheck.py:746) memoised; _walk
asks the rule table only when _protective_vr changes the VR (leakcheck.py:406-409); renderings up to 256 characters
split at backslashes instead of _PIECE.finditer (leakcheck.py:517-530 _texts, 818-824 _pieces).

Items (each a probe below; the old code of the removed lines is restated here as the reference):

- H1 _searched_as key (leakcheck.py:571-580): HOLDS. It reads value, kind, UID_dictionary (pydicom's constant),
  tokens() (pure, memoised before), MIN_DIGITS / MIN_NAME_PART (module constants); not where, VR, tag, character
  set, options, the marking values or the budget. keep() builds the in-place needle with the CURRENT where
  (leakcheck.py:560), the budget is charged before keep (charged(), unchanged). Verdict equal to the old keep for
  adversarial values x kinds in any call order (test_h1_*); control: a cache keyed by value alone answers wrongly.
- H2 the 256/257 boundary (leakcheck.py:556): HOLDS - longer values go to __wrapped__ and are not cached;
  same verdicts either side (test_h2_*).
- H3 split vs regex (leakcheck.py:522, 824): HOLDS. str.split gives _PIECE's matches plus empty strings; _texts
  drops empties after strip("\\0 "), find_leaks drops pieces with no tokens (tokens('') == ()); the values and
  token tuples are the same for empty, '\\\\', 'a\\\\', '\\\\a', 'a\\\\\\\\b', NUL/space padding, PN '^'/'=', non-ASCII,
  255-258 characters with a backslash at the boundary, and hypothesis strings (test_h3_*); the binary path is
  unchanged. Control: a splitter that keeps a piece unsplit is caught.
- H4 _protective_vr gate (leakcheck.py:406-409): HOLDS - the same VR as the old gate for every public dictionary
  tag x 34 VRs, in meta and data set (test_h4_*); RuleTable.lookup has no side effect.
- H5 _needle_vr, _device_marking_values: HOLDS - pure functions of their arguments (dictionary, constant
  marking table); cached == __wrapped__ (test_h5_*).
- H6 cross-run reuse (one process, several runs, options or patients differing): HOLDS - the needles of a data set
  are the same whichever data set / option set ran before in the process (test_h6_*).
- H7 cache bounds: HOLDS - every lru_cache in leakcheck.py and reader.py has a maxsize (test_h7_*).
- H8 reader traits (reader.py:98-107, 486-492, 586): HOLDS - _vr_traits equals the old set logic for every VR
  string of pydicom's public and private dictionaries; _EXPLICIT_TRAITS is the traits of _parsed_vr's answer
  (the explicit VR as written); a VrTraits is always truthy (no `or` fall-through); _creator is a no-op for
  public tags; max_values still counts backslashes and binary numbers (test_h8_*, control: one value fewer passes).

No defect found. Offline (not committed: it loads the parent commits' modules from git): identifying_values and
find_leaks (on the output and on the input itself) of the old and new leakcheck over the canary data set and 60
ct_slices with adversarial values (backslashes, NUL, 255-257 characters, PN with '=') x 2 option sets: 122 runs,
0 differences; prescan of old and new reader over 4500 byte-mutated files (explicit and implicit VR): same
refusal text (default limits and max_values 50/500) and same budget value_bytes/elements/held/over_memory.

Notes: N1 the caches hold up to 16384 short input values (PHI) for the life of a process after the run, as
_short_tokens already did (not new). N2 a test that monkeypatches MIN_DIGITS / MIN_NAME_PART would now see stale
verdicts unless it clears _searched_as (none does today).
"""

from __future__ import annotations

import ast
import io
import random
import re
import string
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.datadict import DicomDictionary
from pydicom._private_dict import private_dictionaries

from device_ai.dicom import reader
from device_ai.dicom.deidentify import leakcheck, marking
from device_ai.dicom.deidentify.leakcheck import Needle, identifying_values
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import ReadLimitExceeded
from tests.dicom.deid_corpus import canary_dataset, ct_slice

SRC = Path(__file__).resolve().parents[2] / "src" / "device_ai" / "dicom"
_PIECE_OLD = re.compile(r"[^\\]+")  # leakcheck._PIECE before 5455560


# -- the removed code, restated as the reference ------------------------------------------

def _old_keep(needle: Needle) -> Needle | None:
    """_Found.keep before 5455560 (what it added to the needles, or None)."""
    if needle.value.strip("\0 ") in leakcheck.UID_dictionary:
        return None
    if leakcheck._searchable(needle):
        return needle
    if leakcheck._short_number(needle):
        return Needle(needle.value, needle.where, "in-place")
    return None


def _new_keep(needle: Needle) -> Needle | None:
    found = leakcheck._Found(None, "f")
    found.keep(needle)
    kept = list(found.needles)
    assert len(kept) <= 1
    return kept[0] if kept else None


def _old_texts(rendering: str) -> list[str]:
    return [t for t in (m[0].strip("\0 ") for m in _PIECE_OLD.finditer(rendering)) if t]


def _old_piece_tokens(rendering: str) -> list[tuple[str, ...]]:
    return [t for t in (leakcheck.tokens(m[0]) for m in _PIECE_OLD.finditer(rendering)) if t]


def _new_texts(rendering: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_renderings", lambda element, charsets: iter([rendering]))
        return list(leakcheck._texts(None, frozenset()))  # type: ignore[arg-type]


def _new_piece_tokens(rendering: str, pieces=None) -> list[tuple[str, ...]]:
    pieces = pieces or leakcheck._pieces  # looked up at call time
    return [t for t in (leakcheck.tokens(p) for p in pieces(rendering, False)) if t]


KINDS = ["identifier", "name-part", "descriptor", "in-place"]
VALUES = ["", " ", "\0", "1", "12", "1234", "12345", "1.2", "1.2.3", " 1234 ", "1234\0", "AB", "A", "Ab", "a.b",
          "0.0", "1.2.840.10008.5.1.4.1.1.2", " 1.2.840.10008.1.2.1\0", "1.2.840.10008.1.2.1.99", "DOE^JOHN",
          "^", "=", "ドウ^ジョン", "Ä", "ÄÖ", "１２３４", "x" * 256, "x" * 257, "1" * 4 + " " * 253, "12.34", "-5"]
_ALPHABET = "\\\0 ^=.-aZ19ÄßドЖ\u0301ﬁ"


# -- H1, H2: the memoised verdict -----------------------------------------------------------

@pytest.mark.req("SRS-113", "SRS-114")
@pytest.mark.parametrize("order", ["forward", "reverse", "shuffled"])
def test_h1_verdict_equals_the_old_keep_in_any_call_order(order: str) -> None:
    pairs = [(v, k) for v in VALUES for k in KINDS]
    if order == "reverse":
        pairs.reverse()
    elif order == "shuffled":
        random.Random(108).shuffle(pairs)
    leakcheck._searched_as.cache_clear()
    for where in ("(0010,0020)", "(0020,0010)"):  # the second pass is answered from the cache
        for value, kind in pairs:
            needle = Needle(value, where, kind)
            assert _new_keep(needle) == _old_keep(needle), (value, kind, where)


@pytest.mark.req("SRS-113", "SRS-114")
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET + string.digits, max_size=12), st.sampled_from(KINDS))
def test_h1_verdict_equals_the_old_keep_for_generated_values(value: str, kind: str) -> None:
    needle = Needle(value, "(0008,0050)", kind)
    assert _new_keep(needle) == _old_keep(needle)
    assert _new_keep(Needle(value, "(0020,0010)", kind)) == _old_keep(Needle(value, "(0020,0010)", kind))


@pytest.mark.req("SRS-113")
def test_h1_a_short_number_keeps_its_own_place_after_a_cached_verdict() -> None:
    """The in-place needle names the place it came from, not the first place the value was seen."""
    leakcheck._searched_as.cache_clear()
    found = leakcheck._Found(None, "f")
    found.keep(Needle("1234", "(0008,0050)"))
    found.keep(Needle("1234", "(0020,0010)"))
    assert list(found.needles) == [Needle("1234", "(0008,0050)", "in-place"), Needle("1234", "(0020,0010)", "in-place")]


@pytest.mark.req("SRS-113")
def test_h1_control_a_verdict_cached_by_value_alone_is_wrong() -> None:
    """Negative control: the kind matters (a short number is in-place as an identifier, nothing as a descriptor)."""
    by_value: dict[str, str | None] = {}

    def value_only(value: str, kind: str) -> str | None:
        return by_value.setdefault(value, leakcheck._searched_as.__wrapped__(value, kind))

    assert value_only("1234", "identifier") == "in-place"
    assert value_only("1234", "descriptor") != _old_keep(Needle("1234", "", "descriptor"))  # None expected
    assert leakcheck._searched_as("1234", "descriptor") is None


@pytest.mark.req("SRS-113", "SRS-114")
@pytest.mark.parametrize("length", [255, 256, 257, 258])
def test_h2_the_cache_boundary_changes_no_verdict(length: int) -> None:
    leakcheck._searched_as.cache_clear()
    for value in ("x" * length, "1" * (length - 1) + "\\", " " * (length - 4) + "1234", "ジ" * length):
        for kind in KINDS:
            needle = Needle(value, "(0010,0010)", kind)
            assert _new_keep(needle) == _old_keep(needle)
    cached = leakcheck._searched_as.cache_info().currsize
    assert (cached > 0) is (length <= 256)  # longer values are judged without the cache


# -- H3: the backslash split ----------------------------------------------------------------

RENDERINGS = ["", "\\", "\\\\", "a\\", "\\a", "a\\\\b", " \\ ", "\0\\\0", " a \\ b ", "a\\ \\b", "\0a\0", "DOE^JOHN",
              "DOE^JOHN=ドウ^ジョン=", "Ä\\ß\\ø", "1\\2\\3", "FAKE-ACC-998877", "a" * 255 + "\\", "a" * 256 + "\\",
              "a" * 255 + "\\b", "\\" + "b" * 255, "\\" + "b" * 256, "b" * 256, "b" * 257, "\\" * 256, "\\" * 257,
              "ジ\\" * 128, "ジ\\" * 129, " " * 300 + "\\x", "x\\" + "\0" * 260]


@pytest.mark.req("SRS-114")
@pytest.mark.parametrize("rendering", RENDERINGS, ids=range(len(RENDERINGS)))
def test_h3_split_gives_the_regex_values_and_tokens(rendering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _new_texts(rendering, monkeypatch) == _old_texts(rendering)
    assert _new_piece_tokens(rendering) == _old_piece_tokens(rendering)


@pytest.mark.req("SRS-114")
@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=300))
def test_h3_split_equals_the_regex_for_generated_renderings(rendering: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _new_texts(rendering, monkeypatch) == _old_texts(rendering)
    assert _new_piece_tokens(rendering) == _old_piece_tokens(rendering)


@pytest.mark.req("SRS-114")
def test_h3_control_a_splitter_that_misses_a_backslash_is_caught() -> None:
    """Negative control: the comparison fails for a splitter that leaves a short rendering whole."""
    def whole(rendering: str, binary: bool):
        return iter([rendering])

    assert _new_piece_tokens("DOE\\JOHN", whole) != _old_piece_tokens("DOE\\JOHN")


# -- H4, H5: the table gate and the pure helpers ------------------------------------------------

VRS = sorted(vr.decode() for vr in reader._VRS)


@pytest.mark.req("SRS-114")
def test_h4_the_protective_gate_gives_the_old_vr_for_every_public_tag() -> None:
    table = load_rule_table()
    for tag in DicomDictionary:
        if tag >> 16 & 1 or tag > 0xFFFFFFFF:
            continue
        looked_up = table.lookup(tag)
        for vr in VRS + ["", "XX"]:
            old = leakcheck._protective_vr(tag, vr) if looked_up is None else vr
            protective = leakcheck._protective_vr(tag, vr)
            new = protective if protective != vr and table.lookup(tag) is None else vr
            assert new == old, (hex(tag), vr)


@pytest.mark.req("SRS-113", "SRS-114")
def test_h5_needle_vr_and_marking_values_are_pure() -> None:
    for tag in list(DicomDictionary)[::7]:
        for vr in VRS:
            assert leakcheck._needle_vr(tag, vr) == leakcheck._needle_vr.__wrapped__(tag, vr)
    labels = [leakcheck._tag_text(tag) for tag in marking.DEVICE_MARKING_VALUES]
    labels += [f"{label}[0]/(0008,0100)" for label in labels] + ["", "meta", "(0010,0010)"]
    for label in labels * 2:
        assert leakcheck._device_marking_values(label) == leakcheck._device_marking_values.__wrapped__(label)


# -- H6: one process, several runs ----------------------------------------------------------

def _needles(ds: pydicom.Dataset, options: tuple[str, ...]) -> list[tuple[str, str, str]]:
    src = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
    return sorted((n.value, n.where, n.kind) for n in identifying_values(src, load_rule_table(), parse_options(options)))


@pytest.mark.req("SRS-113", "SRS-114")
def test_h6_needles_do_not_depend_on_what_ran_before() -> None:
    canary, _ = canary_dataset()
    other = ct_slice(3, patient_name="OTHER^FAKE", patient_id="FAKE-1234")
    other.StudyID = "1234"
    runs = [(canary, ()), (canary, ("retain-safe-private", "clean-descriptors", "retain-device-identity")),
            (other, ()), (other, ("retain-long-modified-dates",))]
    fresh = []
    for ds, options in runs:
        for cache in (leakcheck._searched_as, leakcheck._needle_vr, leakcheck._device_marking_values):
            cache.cache_clear()
        fresh.append(_needles(ds, options))
    for order in (runs, runs[::-1]):
        for ds, options in order:
            assert _needles(ds, options) == fresh[runs.index((ds, options))]
    assert fresh[0] != fresh[1]  # control: the options do change the needles, so the comparison can fail


# -- H7: bounded caches -------------------------------------------------------------------

@pytest.mark.req("SRS-114", "SRS-010")
@pytest.mark.parametrize("module", ["deidentify/leakcheck.py", "reader.py"])
def test_h7_every_cache_is_bounded(module: str) -> None:
    tree = ast.parse((SRC / module).read_text())
    decorators = [d for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) for d in node.decorator_list
                  if "cache" in ast.unparse(d)]
    assert decorators
    for decorator in decorators:
        assert isinstance(decorator, ast.Call) and decorator.args, ast.unparse(decorator)  # lru_cache(N), never cache
        assert ast.unparse(decorator.args[0]) != "None"


# -- H8: the reader's traits -------------------------------------------------------------------

def _old_traits(parsed: str) -> tuple[int, bool, bool, bool]:
    kinds = set(parsed.replace(" or ", " ").split())
    sizes = [reader._NUMBER_BYTES[k] for k in kinds if k in reader._NUMBER_BYTES]
    return (min(sizes) if sizes else 0, bool(kinds & reader._SPLIT_VR_NAMES), bool(kinds & reader._CHARSET_TEXT),
            "PN" in kinds)


@pytest.mark.req("SRS-173", "SRS-010")
def test_h8_traits_equal_the_old_kinds_for_every_dictionary_vr() -> None:
    parsed = {entry[0] for entry in DicomDictionary.values()} | set(VRS) | {"", "UL", "US or SS or OW"}
    parsed |= {entry[0] for block in private_dictionaries.values() for entry in block.values()}
    for vr in sorted(parsed):
        t = reader._vr_traits(vr)
        assert (t.number_bytes, t.splits, t.charset_text, t.person_name) == _old_traits(vr), vr
        assert bool(t)  # ``_EXPLICIT_TRAITS.get(vr) or ...`` never falls through on a found entry
    scan = reader._Scan(b"", True, reader.ReadLimits(), "f")
    for vr, traits in reader._EXPLICIT_TRAITS.items():
        assert traits == reader._vr_traits(scan._parsed_vr(0x00100010, vr, 8, {})), vr


@pytest.mark.req("SRS-010")
def test_h8_creator_is_a_no_op_for_public_tags() -> None:
    data = b"FAKE CREATOR"
    scan = reader._Scan(data, True, reader.ReadLimits(), "f")
    creators: dict[int, str] = {}
    for tag in (0x00100010, 0x00080010, 0x001000FF, 0x7FE00010):
        scan._creator(tag, 0, len(data), creators)
    assert creators == {}
    scan._creator(0x00090010, 0, len(data), creators)
    assert creators == {0x0900 | 0x10: "FAKE CREATOR"}  # control: a private creator is noted


@pytest.mark.req("SRS-173", "SRS-010")
@pytest.mark.parametrize("keyword, value, values", [
    ("ImageType", "A\\B\\C\\D\\E", 4),  # CS: split at backslashes
    ("PatientName", "A^B\\C^D\\E^F", 2),  # PN: split, and decoded text
    ("PixelSpacing", "0\\0\\0\\0\\0\\0\\0", 6),  # DS
])
def test_h8_max_values_still_counts_what_pydicom_splits(keyword: str, value: str, values: int) -> None:
    ds = ct_slice(0)
    setattr(ds, keyword, value)
    data = part10_bytes(ds)
    base = _values_of(part10_bytes(_with(ct_slice(0), keyword, value.split("\\")[0])))
    reader.prescan(data, reader.ReadLimits(max_values=base + values), "f")
    with pytest.raises(ReadLimitExceeded):  # control: one value fewer allowed is refused
        reader.prescan(data, reader.ReadLimits(max_values=base + values - 1), "f")


def _with(ds: pydicom.Dataset, keyword: str, value: str) -> pydicom.Dataset:
    setattr(ds, keyword, value)
    return ds


def _values_of(data: bytes) -> int:
    """The smallest max_values the file passes (the values its other elements count)."""
    low, high = 0, 1 << 16
    while low < high:
        mid = (low + high) // 2
        try:
            reader.prescan(data, reader.ReadLimits(max_values=mid), "f")
            high = mid
        except ReadLimitExceeded:
            low = mid + 1
    return low
