"""The self-check's and the engine's speed memos (issue 16 speed criterion, ANOM-011) change
nothing: each memoised path gives what the path it short-cuts gives, on varied data sets,
with a negative control showing the comparison catches a memo keyed too coarsely.

- ``leakcheck._short_value_needles`` (the needles of a value of up to 256 bytes or characters)
  and ``leakcheck._short_searched_texts`` (the tokens of such an output value), against the
  unmemoised path (``_short_source`` answering None makes every value take it): the same
  needles in the same order, the same budget charges (the same refusal at the same needle; the
  memoised needles of one value are charged at once when all of them fit, else one by one), the
  same leaks in the same order.
- ``Engine._action``'s memo (the action of an attribute by tag, VR, place and SOP class, not
  for a UID outside the table, whose action depends on its values), against an engine that
  remembers nothing (``_ACTION_MEMO`` 0): the same output bytes, actions, decisions, written
  values and leaks for a run of files through one engine.
"""

from __future__ import annotations

import copy
import io
import tracemalloc
from functools import lru_cache

import pydicom
import pytest
from pydicom.dataset import Dataset

from device_ai.dicom.deidentify import engine as engine_module
from device_ai.dicom.deidentify import leakcheck
from device_ai.dicom.deidentify.keyed import KeyedReplacer
from device_ai.dicom.deidentify.leakcheck import find_leaks, identifying_values
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.reader import InputBudget, ReadLimits, parse_dataset
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import ReadLimitExceeded
from tests.dicom.deid_corpus import canary_dataset, ct_slice

SECRET = b"test-secret-not-for-use".ljust(32, b"!")
OPTION_SETS = [(), ("retain-safe-private", "clean-descriptors", "retain-device-identity", "retain-long-modified-dates"),
               ("retain-uids", "retain-long-full-dates", "retain-patient-characteristics", "retain-safe-private")]


def _clear_memos() -> None:
    leakcheck._short_value_needles.cache_clear()
    leakcheck._short_searched_texts.cache_clear()


def _adversarial(index: int) -> Dataset:
    """A CT slice whose values take every rendering path: non-ASCII names in a declared
    character set, NUL and space padding, several values, PN component groups, dates as numbers,
    binary values with printable runs and UTF-16 text, values at the 256-character boundary."""
    ds = ct_slice(index)
    ds.SpecificCharacterSet = ["ISO_IR 100", "ISO 2022 IR 87"] if index % 2 else "ISO_IR 192"
    ds.PatientName = "MÜLLER^JÖRG^Å=ミュラー^ヨルグ" if index % 2 else "DOE^JOHN^Q^^JR"
    ds.OtherPatientNames = ["FAKE^OTHER", "ÄLTER^NAME", ""]
    ds.StudyDescription = "FAKE STUDY\\SECOND VALUE\0"
    ds.SeriesDescription = "x" * (255 + index % 3) + "\\TAIL"
    ds.InstitutionName = "Ünïversity Hospital of Nowhere "
    ds.StudyDate = "12345.678" if index % 3 == 0 else "20240315"
    ds.AccessionNumber = "1234"
    ds.add_new(0x00091010, "DA", "12345.678")  # a number in a private attribute: not a date needle
    ds.add_new(0x00090010, "LO", "FAKE_VENDOR_MEMO")
    ds.add_new(0x00091011, "OB", b"\x01\x02\x03\x04\x05\x06\x07\x08 DOE" + b"\x00PRIVATE-RUN-NAME\x00")
    ds.add_new(0x00091012, "OB", "FAKE^UTF16^NAME".encode("utf-16-le"))
    ds.add_new(0x00091013, "UN", b"JOHN DOE\\1961-07-04\\FAKE-MRN-556677")
    ds.add_new(0x00091014, "OB", b"A" * 256)
    ds.add_new(0x00091015, "OB", b"B" * 257)
    return ds


def _inputs() -> list[Dataset]:
    """Fresh data sets (a search converts what it reads): as read, values raw, and as the
    reader gives them (public values converted, private ones raw: ``parse_dataset``)."""
    canary, _ = canary_dataset()
    encoded = [part10_bytes(ds) for ds in (canary, ct_slice(0), ct_slice(1), *(_adversarial(i) for i in range(6)))]
    return ([pydicom.dcmread(io.BytesIO(data)) for data in encoded]
            + [parse_dataset(data, "f.dcm", raw_private=True) for data in encoded])


def _outputs(datasets: list[Dataset], options: tuple[str, ...]) -> list[tuple[Dataset, bytes, set[str]]]:
    deidentifier = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET))
    outputs = []
    for ds in datasets:
        out, data, state, _ = deidentifier.deidentify(ds)
        outputs.append((out, data, state.written))
    return outputs


def _needles_and_leaks(options: tuple[str, ...], keep: object = None) -> list[object]:
    """Every needle (value, where, kind, in order), the character sets and every leak (in order)
    of each input (``keep``: those for which it is true): in its de-identified output, in its
    own bytes (an output that leaks everything) and in its output with its private elements
    planted back."""
    table, selected = load_rule_table(), parse_options(options)
    datasets = [ds for ds in _inputs() if keep is None or keep(ds)]
    outputs = _outputs([copy.deepcopy(ds) for ds in datasets], options)
    found: list[object] = []
    for ds, (_, data, written) in zip(datasets, outputs, strict=True):
        own = part10_bytes(copy.deepcopy(ds))
        needles = identifying_values(ds, table, selected)
        found.append([(n.value, n.where, n.kind) for n in needles])
        found.append(sorted(needles.charsets))
        planted = pydicom.dcmread(io.BytesIO(data))
        for tag, element in copy.deepcopy(ds).items():
            if tag.is_private:
                planted[tag] = element
        for output in (data, own, part10_bytes(planted)):
            found.append(find_leaks(output, needles, written))
    return found


@pytest.mark.req("SRS-113", "SRS-114", "SRS-065")
@pytest.mark.parametrize("options", OPTION_SETS)
def test_memoised_needles_and_leaks_equal_the_unmemoised_path(options: tuple[str, ...],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_memos()
    memoised = _needles_and_leaks(options)
    again = _needles_and_leaks(options)  # answered from the memos this time
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = _needles_and_leaks(options)
    assert memoised == unmemoised
    assert again == unmemoised
    assert any(leaks for leaks in memoised if isinstance(leaks, list) and leaks and isinstance(leaks[0], leakcheck.Leak))
    assert leakcheck._short_value_needles.cache_info().hits and leakcheck._short_searched_texts.cache_info().hits


def _refusal(ds: Dataset, limit: int) -> tuple[str, int]:
    budget = InputBudget(ReadLimits(max_input_memory_bytes=limit))
    try:
        identifying_values(ds, load_rule_table(), parse_options([]), budget=budget, name="f.dcm")
    except ReadLimitExceeded as exc:
        return exc.one_line(), budget.held
    return "", budget.held


@pytest.mark.req("SRS-065")
def test_memoised_needles_are_charged_one_by_one_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _inputs()[3]
    _, total = _refusal(ds, 1 << 30)
    for limit in (total // 3, total // 2, total - 1):  # refused after some needles were charged
        _clear_memos()
        memoised = [_refusal(ds, limit), _refusal(ds, limit)]
        with monkeypatch.context() as m:
            m.setattr(leakcheck, "_short_source", lambda value: None)
            unmemoised = _refusal(ds, limit)
        assert memoised == [unmemoised, unmemoised]
        assert unmemoised[0] and 0 < unmemoised[1] <= limit


@pytest.mark.req("SRS-065")
def test_control_charging_a_value_at_once_past_the_limit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value's needles charged at once even when they do not all fit: refused for the whole
    value's size, not at the needle that does not fit, and the comparison sees it."""
    ds = _inputs()[3]
    _, total = _refusal(ds, 1 << 30)
    limits = (total // 3, total // 2, total - 1)
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = [_refusal(ds, limit) for limit in limits]

    def at_once(self, sizes, total):  # noqa: ANN001, ANN202
        if self.budget is not None:
            self.budget.reserve(self.name, total, leakcheck._NEEDLE_CHARGE)

    with monkeypatch.context() as m:
        m.setattr(leakcheck._Found, "charge_all", at_once)
        _clear_memos()
        assert [_refusal(ds, limit) for limit in limits] != unmemoised


def _coarse(function, *kept: int):  # noqa: ANN001, ANN202 - a memo keyed on some of the arguments only
    @lru_cache(None)
    def by_key(key: tuple) -> object:
        return function.__wrapped__(*by_key.arguments)

    def memo(*arguments: object) -> object:
        by_key.arguments = arguments
        return by_key(tuple(arguments[i] for i in kept))
    return memo


@pytest.mark.req("SRS-065")
def test_control_a_needle_memo_without_the_attribute_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A memo keyed without the attribute (tag and label) answers '12345.678' in a private DA
    as in Study Date (a date needle there, a number here) and a Series Date's needles for the
    Acquisition Date of the same value: the comparison sees it."""
    def dates_as_numbers(ds: Dataset) -> bool:
        value = ds.get_item(0x00080020).value  # not converted (ds.StudyDate would convert it)
        return (value.decode() if isinstance(value, bytes) else str(value)).strip() == "12345.678"

    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = _needles_and_leaks((), dates_as_numbers)
    assert len(unmemoised) == 20  # two data sets as read, two as the reader gives them
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_value_needles", _coarse(leakcheck._short_value_needles, 0, 1, 3, 4))
        assert _needles_and_leaks((), dates_as_numbers) != unmemoised


@pytest.mark.req("SRS-065")
def test_control_a_text_memo_without_the_binary_flag_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bytes in an OB (searched by printable runs, name parts of 4 letters or more)
    and in an LT (searched as text): a memo keyed without the flag answers the LT as the OB."""
    needles = [leakcheck.Needle("QZX", "(0010,0010)", "name-part")]  # a name part of 3 letters
    out = ct_slice(1)
    value = b"\x01\x02\x03\x04\x05\x06\x07\x08 QZX"
    out.add_new(0x00091001, "OB", value)
    out.add_new(0x00091002, "LT", value.decode("latin-1"))
    output = part10_bytes(out)
    leaks = find_leaks(output, needles, set())
    assert [leak.found_in for leak in leaks] == ["(0009,1002)"]
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_searched_texts", _coarse(leakcheck._short_searched_texts, 0, 1, 3))
        assert find_leaks(output, needles, set()) != leaks


def _through_one_engine(datasets: list[Dataset], options: tuple[str, ...]) -> list[object]:
    """Each file's output bytes, actions, decisions, written values and leaks, all de-identified
    by one de-identifier (its engine remembers across files, as in a run)."""
    deidentifier = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET))
    results: list[object] = []
    for ds in datasets:
        _, data, state, leaks = deidentifier.deidentify(ds)
        results.append((data, sorted(state.actions.items()), state.decisions, sorted(state.written), leaks))
    return results


def _uid_references(*uids: str) -> list[Dataset]:
    """CT slices whose Referenced SOP Class UID (outside Table E.1-1) is each of ``uids``."""
    datasets = []
    for index, uid in enumerate(uids):
        ds = ct_slice(index)
        ds.add_new(0x00081150, "UI", uid)
        datasets.append(pydicom.dcmread(io.BytesIO(part10_bytes(ds))))
    return datasets


@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("options", OPTION_SETS)
def test_the_engine_memo_gives_what_the_engine_without_it_gives(options: tuple[str, ...],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def inputs() -> list[Dataset]:
        return _inputs() + _uid_references("1.2.840.10008.5.1.4.1.1.2", "1.2.999.5", "1.2.840.10008.5.1.4.1.1.2")

    memoised = _through_one_engine(inputs(), options)
    with monkeypatch.context() as m:
        m.setattr(engine_module, "_ACTION_MEMO", 0)
        unmemoised = _through_one_engine(inputs(), options)
    assert memoised == unmemoised
    engine = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET)).engine
    ds = inputs()[1]
    state = engine_module.FileState(sop_class_uid=str(ds.SOPClassUID), original_patient_id="x",
                                    replacer=KeyedReplacer(SECRET), policy=engine.policy)
    for element in ds:
        assert engine._action(element, (), state) == engine._action(element, (), state) \
            == engine._unmemoised_action(element, (), state)
    assert engine._actions  # remembered


@pytest.mark.req("SRS-065")
def test_control_an_engine_memo_that_also_remembers_uids_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the table a well-known UID is kept and another remapped: an engine that
    remembered the first file's action for the second leaves the second's UID in place."""
    def inputs() -> list[Dataset]:
        return _uid_references("1.2.840.10008.5.1.4.1.1.2", "1.2.999.5")

    reference = _through_one_engine(inputs(), ())
    assert reference[1][4] == []  # the second file's UID remapped: no leak

    def remembers_all(self, element, path, state, restricted=False, code_item=False):  # noqa: ANN001, ANN202
        key = (int(element.tag), element.VR, restricted, code_item, path, state.sop_class_uid)
        if key not in self._actions:
            self._actions[key] = self._unmemoised_action(element, path, state, restricted, code_item)
        return self._actions[key]

    with monkeypatch.context() as m:
        m.setattr(engine_module.Engine, "_action", remembers_all)
        eager = _through_one_engine(inputs(), ())
    assert eager != reference
    assert eager[1][4]  # the kept UID is found by the self-check


@pytest.mark.req("SRS-065", "SRS-111")
def test_the_memos_stay_small_whatever_the_values() -> None:
    """Review 62's concern: a memo must not hold what the file's budget no longer charges. A value
    of more than _MEMO_ITEMS needles or texts is remembered as None (made again each time); the
    memos hold at most _MEMO_ENTRIES entries each, ~20 MiB in all at worst."""
    _clear_memos()
    charsets = frozenset({"ISO_IR 192"})
    many = "\\".join(f"AB{i:02d}^CD{i:02d}" for i in range(20)).encode()  # 20 names: 60 needles, 20 texts
    assert len(many) <= leakcheck._CACHED_TEXT
    assert leakcheck._short_value_needles(many, charsets, 0x00101001, "PN", False, "(0010,1001)") is None
    assert leakcheck._short_searched_texts(many, charsets, False, frozenset()) is None
    assert len(list(leakcheck._value_needles(leakcheck._split_texts([many.decode()]), 0x00101001, "PN", False))) == 60
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index in range(leakcheck._MEMO_ENTRIES + 500):  # the worst a small value can make: 16 long needles and texts
        parts = [f"{index:05d}{part:02d}" + "N" * 7 for part in range(16)]
        value = "\\".join(parts).encode()
        assert leakcheck._short_value_needles(value, charsets, 0x00081030, "LO", False, f"({index})") is not None
        assert leakcheck._short_searched_texts(value, charsets, False, frozenset()) is not None
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert leakcheck._short_value_needles.cache_info().currsize == leakcheck._MEMO_ENTRIES
    assert leakcheck._short_searched_texts.cache_info().currsize == leakcheck._MEMO_ENTRIES
    assert held < 24 * 1024 * 1024, held
    _clear_memos()
