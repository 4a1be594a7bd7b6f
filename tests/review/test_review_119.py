"""Independent review 119 (reviewer helper-119) of helper-114's four "behaviour unchanged" speed commits of the
de-identification (issue 16, ANOM-011): 1fdc6e4, 6f04b86, 01a5914, c5d835b, at HEAD 2187a7b. helper-119 wrote none
of the code under review. Line numbers are at HEAD.

Under review: leakcheck.py _short_value_needles (lru 2048, leakcheck.py:829-846) with its key (source, charsets,
tag, needle VR, strong, label) and _value_needles (leakcheck.py:793-817); _Found.charge_all (leakcheck.py:589-600);
_short_searched_texts (lru 2048, leakcheck.py:964-972) keyed (source, charsets, binary VR, marking values);
_short_source (leakcheck.py:532-544); _short_form (lru 4096, leakcheck.py:863-870); _stored_vr (leakcheck.py:286-291);
engine.py Engine._action's per-engine memo (engine.py:442-454, at most _ACTION_MEMO = 4096 entries) and _int_label.

Items (each a probe below):

- H1 needle memo key (leakcheck.py:829-846): HOLDS. The cached computation reads the value's renderings (source,
  charsets), _a_number_in_its_place (text, tag), _name_needles/_date_needles (text only: ``where`` is passed '' and
  only copied into the needles), the strong/kept verdict (strong, MIN_LENGTH), _kept/_searched_as (value, kind) and
  the label (the needles' ``where``); the key holds all of them. Probed with one value in many places (public
  strong identifier vs private LO vs PN vs SH/LO, a 2-character strong identifier charged but not kept, a number in
  Study Date vs a private DA, the same name in two character sets, values around the 16-needle cap) in one process
  across the 3 option sets in both orders, as read and as the reader gives them: needles, their order and the
  budget held equal the unmemoised path (test_h1_*). Control: a memo keyed without tag, strong and label is caught.
- H2 text memo key (leakcheck.py:964-972): HOLDS. _searched_texts reads the renderings, the binary VR flag, the
  element's marking values (passed in, in the key) and _text_like / _pieces / tokens (pure). Deduplication keeps the
  first occurrence's order and find_leaks records a leak once per (where, value) with the element's label, so the
  leaks are equal in order (test_h2_*). Control: a memo keyed without the marking values answers Patient Identity
  Removed's 'YES' (exempt there) for another element holding 'YES', and the comparison sees it.
- H3 batched charge (leakcheck.py:589-600): HOLDS. reader.InputBudget.reserve refuses iff held + n > max; with
  every size positive, held + total <= max implies each one-by-one reserve passes, and otherwise the one-by-one
  fallback is the old loop. 2,000 seeded random cases plus the boundaries (held + total == max, max + 1, total 0,
  held already over) give the same message, held and over_memory as the old one-by-one charge restated here; the
  refusal of identifying_values at 60 limits spread across one data set's needle cost equals the unmemoised
  path's (test_h3_*). Control: charging the total at once whatever fits is caught.
- H4 engine action memo (engine.py:442-454): HOLDS. _unmemoised_action reads the tag, the VR, the policy (fixed per
  engine), restricted, code_item, path and the SOP class (all in the key), and the values only in _vr_default's UI
  branches (VR UI outside the table, or a dictionary-UI attribute carried as another VR), which are not stored;
  RuleTable.action never answers None for a listed row, so a listed tag never reaches _vr_default. Every call of a
  shared engine over the probe series x 3 option sets equals _unmemoised_action (test_h4_*). Control: a memo that
  also stores UIDs outside the table is caught (a not-well-known Referenced SOP Class UID after a well-known one).
- H5 bounds: HOLDS. Every lru_cache in leakcheck.py and engine.py has an integer maxsize; Engine._actions stops
  adding at _ACTION_MEMO (probed with the limit lowered to 5: same outputs, 5 entries); a short value of more than
  _MEMO_ITEMS needles or texts is remembered as None (test_h5_*). Nothing else added grows with the number of files.

Side by side (offline, not committed: it loads 6cc19ba's src from ``git archive``): Deidentifier.run, workers=1, one
long-lived process per version, over 57 input folders (canary data set, a write_study series + SEG, 6 memo-probe
files, 120 pydicom test files, 53 fuzz mutants of seed 1190 without the expensive kinds) x 3 option sets = 171 runs,
1,101 output and quarantine files, 291 quarantined, 3 runs with self-check leaks: every file's SHA-256, quarantine
reasons, leaks, actions, written values and skipped entries identical between 6cc19ba and c5d835b (0 differences).

Mutation check on copies of src/ (PYTHONPATH): 3 behaviour mutants killed (_short_value_needles keeping needles
not kept; charge_all's fit test off by one byte; the action memo storing UIDs outside the table); a no-op mutant
(_ACTION_MEMO 4095) passes.

No defect found. Notes: N1 the memos hold short input values (PHI) and labels for the life of a process after a
run (as review 108 N1; now also the needles' labels). N2 _short_source's docstring says an empty value gives None;
b'' gives b'' (memoised, harmless: no renderings). N3 the first call of _short_value_needles makes up to 17 needles
before any is charged (at most 17 x 256 characters; the old code charged each needle before its tokens).
"""

from __future__ import annotations

import ast
import copy
import io
import random
from functools import lru_cache
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from device_ai.dicom.deidentify import engine as engine_module
from device_ai.dicom.deidentify import leakcheck
from device_ai.dicom.deidentify.leakcheck import Needle, Needles, find_leaks, identifying_values
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.reader import InputBudget, ReadLimits, parse_dataset
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import ReadLimitExceeded
from tests.dicom.deid_corpus import canary_dataset, ct_slice

SRC = Path(__file__).resolve().parents[2] / "src" / "device_ai" / "dicom" / "deidentify"
SECRET = b"helper-119-fake-secret".ljust(32, b"#")
OPTION_SETS = [(), ("retain-safe-private", "clean-descriptors", "retain-device-identity", "retain-long-modified-dates"),
               ("retain-uids", "retain-long-full-dates", "retain-patient-characteristics", "retain-safe-private")]
SAME = "FAKEVALUE12345"  # one value in many places


def _clear() -> None:
    leakcheck._short_value_needles.cache_clear()
    leakcheck._short_searched_texts.cache_clear()


def _probe(i: int) -> Dataset:
    """A CT slice with one value in different attributes, VRs and public/private places, short strong
    identifiers, numbers as dates, UIDs outside the table well-known or not, and values around the cap."""
    ds = ct_slice(i)
    ds.add_new(0x00090010, "LO", "FAKE CREATOR")
    if i % 2:
        ds.add_new(0x00091010, "LO", SAME)  # private descriptor
        ds.OtherPatientIDs = "12"  # a strong identifier too short to be kept (still charged)
        ds.add_new(0x00180024, "LO", SAME)  # Sequence Name under another VR
        ds.add_new(0x00081150, "UI", CTImageStorage)  # outside the table, well-known
    else:
        ds.OtherPatientIDs = SAME  # strong identifier
        ds.add_new(0x00091010, "PN", SAME + "^FAKE")
        ds.add_new(0x00180024, "SH", SAME)
        ds.add_new(0x00081150, "UI", f"1.2.999.77.{i}")  # outside the table, not well-known
    ds.add_new(0x00091011, "DA", "12345.678")  # a number in a private DA
    ds.StudyDate = "12345.678" if i % 3 == 0 else "20240315"
    ds.PatientComments = " ".join(f"WORD{k}" for k in range(14 + i))
    ds.OtherPatientNames = [f"FAKE^NAME{k}^X" for k in range(3 + i)]  # 9 .. 24 needles: both sides of the cap
    ds.SpecificCharacterSet = "ISO_IR 100" if i % 2 else "ISO_IR 192"
    ds.InstitutionName = "Ünïversity FAKE"
    ds.ImageComments = "YES"
    return ds


def _encoded() -> list[bytes]:
    canary, _ = canary_dataset()
    return [part10_bytes(ds) for ds in (canary, *(_probe(i) for i in range(6)))]


def _inputs() -> list[Dataset]:
    encoded = _encoded()
    return ([pydicom.dcmread(io.BytesIO(d)) for d in encoded]
            + [parse_dataset(d, "f.dcm", raw_private=True) for d in encoded])


def _needles(order: list[tuple[str, ...]]) -> list[object]:
    """Needles (value, where, kind, in order) and the budget held for each input under each option set, in
    ``order`` (one process: memo entries made under one option set answer the next)."""
    table, found = load_rule_table(), []
    for options in order:
        for ds in _inputs():
            budget = InputBudget(ReadLimits())
            needles = identifying_values(ds, table, parse_options(options), budget=budget, name="f.dcm")
            found.append(([(n.value, n.where, n.kind) for n in needles], budget.held))
    return found


ORDER = OPTION_SETS + OPTION_SETS[::-1]


@pytest.mark.req("SRS-113", "SRS-114")
def test_h1_needle_memo_equals_unmemoised_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear()
    memoised = _needles(ORDER)
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = _needles(ORDER)
    assert memoised == unmemoised
    assert leakcheck._short_value_needles.cache_info().hits
    everywhere = {where for needles, _ in memoised for value, where, _kind in needles if value == SAME}
    assert {"(0010,1000)", "(0009,1010)"} <= everywhere  # public strong identifier and private descriptor


def _coarse(function, *kept: int):  # noqa: ANN001, ANN202 - a memo keyed on some of the arguments only
    @lru_cache(None)
    def by_key(key: tuple) -> object:
        return function.__wrapped__(*by_key.arguments)

    def memo(*arguments: object) -> object:
        by_key.arguments = arguments
        return by_key(tuple(arguments[i] for i in kept))
    return memo


@pytest.mark.req("SRS-113", "SRS-114")
def test_h1_control_needle_memo_without_the_attribute_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = _needles(OPTION_SETS[:1])
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_value_needles", _coarse(leakcheck._short_value_needles, 0, 1, 3))
        assert _needles(OPTION_SETS[:1]) != unmemoised


def _leaks() -> list[object]:
    """find_leaks of each input's needles in its output, in its own bytes and in its output with every
    private element planted back, under each option set in both orders."""
    table, found = load_rule_table(), []
    for options in ORDER:
        deidentifier = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET, workers=1))
        for ds in _inputs():
            needles = identifying_values(copy.deepcopy(ds), table, parse_options(options))
            _, data, state, _ = deidentifier.deidentify(copy.deepcopy(ds))
            planted = pydicom.dcmread(io.BytesIO(data))
            for tag, element in copy.deepcopy(ds).items():
                if tag.is_private:
                    planted[tag] = element
            for output in (data, part10_bytes(copy.deepcopy(ds)), part10_bytes(planted)):
                found.append(find_leaks(output, needles, state.written))
    return found


@pytest.mark.req("SRS-113", "SRS-114")
def test_h2_text_memo_equals_unmemoised_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear()
    memoised = _leaks()
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = _leaks()
    assert memoised == unmemoised
    assert any(memoised) and leakcheck._short_searched_texts.cache_info().hits


def _yes_leaks() -> list[object]:
    """A 'YES' needle against an output holding 'YES' in Image Comments and in Patient Identity Removed
    (the device's marking value there, exempt)."""
    ds = ct_slice(0)
    ds.ImageComments = "YES"
    ds.PatientIdentityRemoved = "YES"
    table = load_rule_table()
    needles = Needles([Needle("YES", "(0010,4000)", "identifier")], table, frozenset())
    return [(leak.found_in, leak.kind) for leak in find_leaks(part10_bytes(ds), needles, set())]


@pytest.mark.req("SRS-113", "SRS-114")
def test_h2_control_text_memo_without_marking_values_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear()
    reference = _yes_leaks()
    assert reference == [("(0020,4000)", "identifier")]  # found in Image Comments, exempt where the device wrote it
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_searched_texts", _coarse(leakcheck._short_searched_texts, 0, 1, 2))
        assert _yes_leaks() != reference


# -- H3 the batched charge ---------------------------------------------------------------------

def _outcome(charge, held: int, limit: int, sizes: tuple[int, ...]) -> tuple[str, int, bool]:  # noqa: ANN001
    budget = InputBudget(ReadLimits(max_input_memory_bytes=limit))
    budget.held = held
    found = leakcheck._Found(budget, "f.dcm")
    try:
        charge(found, sizes)
    except ReadLimitExceeded as exc:
        return exc.one_line(), budget.held, budget.over_memory
    return "", budget.held, budget.over_memory


def _old_one_by_one(found, sizes) -> None:  # noqa: ANN001 - 6cc19ba's _Found.charged, once per needle
    for size in sizes:
        found.budget.reserve(found.name, size, "the self-check's list of its identifying values")


def _new(found, sizes) -> None:  # noqa: ANN001
    found.charge_all(tuple(sizes), sum(sizes))


def _cases() -> list[tuple[int, int, tuple[int, ...]]]:
    rng = random.Random(119)
    cases = []
    for _ in range(2000):
        sizes = tuple(leakcheck._needle_bytes("x" * rng.randrange(0, 300)) for _ in range(rng.randrange(0, 18)))
        limit = rng.randrange(1000, 4 << 20)
        held = max(0, limit - rng.randrange(0, 2 * sum(sizes) + 2))  # near the limit: both outcomes
        cases.append((held, limit, sizes))
    sizes = tuple(leakcheck._needle_bytes("x" * n) for n in (3, 40, 7))
    for held in (0, 1000):
        for slack in (-1, 0, 1, -sizes[-1], -sizes[-1] - 1):
            cases.append((held, held + sum(sizes) + slack, sizes))
    cases += [(500, 500, ()), (501, 500, ()), (501, 500, sizes)]  # nothing to charge; held already over
    return cases


@pytest.mark.req("SRS-065", "SRS-114")
def test_h3_charge_all_refuses_as_one_by_one() -> None:
    refused = 0
    for held, limit, sizes in _cases():
        old = _outcome(_old_one_by_one, held, limit, sizes)
        assert _outcome(_new, held, limit, sizes) == old, (held, limit, sizes)
        refused += bool(old[0])
    assert 100 < refused < 2000  # both outcomes well represented


@pytest.mark.req("SRS-065", "SRS-114")
def test_h3_control_charging_the_total_at_once_is_caught() -> None:
    def at_once(found, sizes) -> None:  # noqa: ANN001
        found.budget.reserve(found.name, sum(sizes), "the self-check's list of its identifying values")

    assert any(_outcome(at_once, *case) != _outcome(_old_one_by_one, *case) for case in _cases())


def _refusal(ds: Dataset, limit: int) -> tuple[str, int]:
    budget = InputBudget(ReadLimits(max_input_memory_bytes=limit))
    try:
        identifying_values(ds, load_rule_table(), parse_options([]), budget=budget, name="f.dcm")
    except ReadLimitExceeded as exc:
        return exc.one_line(), budget.held
    return "", budget.held


@pytest.mark.req("SRS-065", "SRS-114")
def test_h3_identifying_values_refuses_at_the_same_needle(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _inputs()[6]  # a probe with names above the cap, as read
    _, total = _refusal(ds, 1 << 30)
    limits = [total * k // 60 for k in range(1, 60)] + [total - 1, total]
    _clear()
    memoised = [_refusal(ds, limit) for limit in limits]
    with monkeypatch.context() as m:
        m.setattr(leakcheck, "_short_source", lambda value: None)
        unmemoised = [_refusal(ds, limit) for limit in limits]
    assert memoised == unmemoised
    assert sum(bool(message) for message, _ in memoised) == len(limits) - 1 and not memoised[-1][0]
    assert "self-check's list of its identifying values" in "".join(message for message, _ in memoised)


# -- H4 the engine's action memo -------------------------------------------------------------

def _engine_run(options: tuple[str, ...]) -> tuple[list[bytes], list[object]]:
    deidentifier = Deidentifier(RunConfig(options=parse_options(options), secret=SECRET, workers=1))
    outputs, states = [], []
    for ds in _inputs():
        _, data, state, leaks = deidentifier.deidentify(ds)
        outputs.append(data)
        states.append((sorted(state.actions.items()), sorted(state.decisions.items()), sorted(state.written), leaks))
    return outputs, states


@pytest.mark.req("SRS-113", "SRS-114")
@pytest.mark.parametrize("options", OPTION_SETS)
def test_h4_every_memoised_action_equals_the_unmemoised_one(options: tuple[str, ...],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls, memoised_action = [], engine_module.Engine._action

    def checked(self, element, path, state, restricted=False, code_item=False):  # noqa: ANN001, ANN202
        found = memoised_action(self, element, path, state, restricted, code_item)
        calls.append(found == self._unmemoised_action(element, path, state, restricted, code_item))
        return found

    monkeypatch.setattr(engine_module.Engine, "_action", checked)
    _engine_run(options)
    assert len(calls) > 500 and all(calls)


@pytest.mark.req("SRS-113", "SRS-114")
def test_h4_control_a_memo_that_stores_uids_outside_the_table_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _engine_run(())

    def storing_all(self, element, path, state, restricted=False, code_item=False):  # noqa: ANN001, ANN202
        key = (int(element.tag), element.VR, restricted, code_item, path, state.sop_class_uid)
        if key not in self._actions:
            self._actions[key] = self._unmemoised_action(element, path, state, restricted, code_item)
        return self._actions[key]

    monkeypatch.setattr(engine_module.Engine, "_action", storing_all)
    assert _engine_run(()) != reference


# -- H5 bounds -----------------------------------------------------------------------------------

@pytest.mark.req("SRS-065")
@pytest.mark.parametrize("module", ["leakcheck.py", "engine.py"])
def test_h5_every_lru_cache_has_an_integer_bound(module: str) -> None:
    tree = ast.parse((SRC / module).read_text())
    decorated = [d for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) for d in node.decorator_list
                 if "lru_cache" in ast.unparse(d)]
    assert decorated
    for decorator in decorated:
        assert isinstance(decorator, ast.Call) and decorator.args, ast.unparse(decorator)  # bare @lru_cache: 128
        bound = decorator.args[0]
        assert ast.unparse(bound) != "None"
        assert isinstance(eval(compile(ast.Expression(bound), module, "eval"), vars(leakcheck) | vars(engine_module)),
                          int)


@pytest.mark.req("SRS-065")
def test_h5_the_action_memo_stops_at_its_bound_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _engine_run(())
    monkeypatch.setattr(engine_module, "_ACTION_MEMO", 5)
    engines = []
    original = engine_module.Engine.__init__

    def kept(self, policy):  # noqa: ANN001, ANN202
        original(self, policy)
        engines.append(self)

    monkeypatch.setattr(engine_module.Engine, "__init__", kept)
    assert _engine_run(()) == reference
    assert engines and all(len(e._actions) == 5 for e in engines)


@pytest.mark.req("SRS-065")
def test_h5_a_value_over_the_cap_is_remembered_as_none() -> None:
    _clear()
    many = "\\".join(f"FAKE^NAME{k}^X" for k in range(8))  # 3 needles a name: 24 > _MEMO_ITEMS
    few = "\\".join(f"FAKE^NAME{k}^X" for k in range(5))  # 15 needles
    label = "(0010,1001)"
    assert leakcheck._short_value_needles(many, frozenset(), 0x00101001, "PN", False, label) is None
    sizes, total, kept = leakcheck._short_value_needles(few, frozenset(), 0x00101001, "PN", False, label)
    assert len(sizes) == 15 <= leakcheck._MEMO_ITEMS and total == sum(sizes) and len(kept) <= 15
    words = " ".join(f"W{k}" for k in range(20)) + "\\" + "\\".join(f"T{k}" for k in range(20))
    assert leakcheck._short_searched_texts(words, frozenset(), False, frozenset()) is None
    assert leakcheck._short_value_needles.cache_info().maxsize == leakcheck._MEMO_ENTRIES
    assert leakcheck._short_searched_texts.cache_info().maxsize == leakcheck._MEMO_ENTRIES
