"""Shared decision vectors of the de-identifier (issue 16 item 1): the engine and the
independent self-check must both agree with every vector of
``tests/dicom/vectors/deid_decisions.json``, like the Merkle vectors of the audit log."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

from device_ai.dicom.deidentify import leakcheck
from device_ai.dicom.deidentify.coding_schemes import is_public_scheme, public_designators
from device_ai.dicom.deidentify.engine import Engine, FileState, Policy
from device_ai.dicom.deidentify.keyed import KeyedReplacer
from device_ai.dicom.deidentify.options import Option, parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.deidentify.safe_private import load_safe_private

VECTORS = json.loads((Path(__file__).parent / "vectors" / "deid_decisions.json").read_text(encoding="utf-8"))
SECRET = b"vectors-secret-not-for-use".ljust(32, b"!")


def _dataset(vector: dict) -> Dataset:
    ds = Dataset.from_json(vector["dataset"])
    ds.SOPClassUID = vector.get("sop_class", CTImageStorage)
    ds.SOPInstanceUID = "1.2.999.9.9.9"
    return ds


def _options(vector: dict) -> frozenset[Option]:
    return frozenset(parse_options(vector["options"])) | {Option.BASIC}


def engine_decisions(ds: Dataset, options: frozenset[Option]) -> dict[str, str]:
    policy = Policy(load_rule_table(), options, load_safe_private())
    state = FileState(sop_class_uid=str(ds.SOPClassUID), original_patient_id=str(ds.get("PatientID", "")),
                      replacer=KeyedReplacer(SECRET), policy=policy)
    Engine(policy).apply(copy.deepcopy(ds), state)
    return state.decisions


def _engine_action(decisions: dict[str, str], path: str) -> str | None:
    """The engine's action for ``path``; an element inside a removed, emptied or dropped item
    takes the action of its nearest enclosing sequence that the engine recorded."""
    probe = path
    while probe:
        if probe in decisions:
            return decisions[probe]
        if "/" not in probe:
            return None
        probe = probe.rsplit("[", 1)[0]
    return None


@pytest.mark.req("SRS-112")
@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_engine_and_self_check_agree_with_every_vector(vector: dict) -> None:
    ds = _dataset(vector)
    options = _options(vector)
    engine = engine_decisions(ds, options)
    check = leakcheck.decide(ds, load_rule_table(), options)
    classes = VECTORS["self_check_classes"]
    wrong_engine = {p: (a, _engine_action(engine, p)) for p, a in vector["expected"].items()
                    if _engine_action(engine, p) != a}
    wrong_check = {p: (classes[a], check.get(p)) for p, a in vector["expected"].items() if check.get(p) != classes[a]}
    assert wrong_engine == {}
    assert wrong_check == {}


@pytest.mark.req("SRS-112")
@pytest.mark.parametrize("option", [None, *[o for o in Option if o.column is not None]],
                         ids=lambda o: o.cli_name if o else "basic")
def test_engine_and_self_check_agree_on_every_element_of_the_canary_corpus(option: Option | None) -> None:
    """Beyond the vectors: on every element of the canary corpus (every Table E.1-1 row, every
    sequence row with a non-code, a private-scheme and a public code item) the engine's
    outcome and the self-check's decision fall in the same class."""
    from tests.dicom.deid_corpus import canary_dataset

    ds, _ = canary_dataset()
    options = frozenset({Option.BASIC} | ({option} if option else set()))
    engine = engine_decisions(ds, options)
    check = leakcheck.decide(ds, load_rule_table(), options)
    classes = VECTORS["self_check_classes"]
    disagree = {path: (action, check.get(path)) for path, action in engine.items()
                if check.get(path) is not None and classes[action] != check[path]}
    assert disagree == {}
    assert len(engine) > 600


@pytest.mark.req("SRS-112")
def test_public_scheme_list_comes_from_ps3_16_and_excludes_private_and_local() -> None:
    designators = public_designators()
    assert {"DCM", "SCT", "LN", "UCUM", "FMA", "RADLEX", "NCIt", "SRT", "MDC", "UMLS"} <= designators
    assert not any(d.startswith("99") for d in designators)
    for private in ("99FAKE", "99SDM", "L", "LOCAL", "", "dcm", "FAKEHOSPCODES", "NPI"):
        assert not is_public_scheme(private)
    data = json.loads((Path(leakcheck.__file__).parent / "data" / "coding_schemes.json").read_text())
    assert "PS3.16" in data["source"] and "Table 8-1" in data["source"]


@pytest.mark.req("SRS-112")
def test_the_self_check_does_not_import_the_engine_or_its_keep_lists() -> None:
    tree = ast.parse(Path(leakcheck.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(m and (m.endswith(".engine") or m.endswith(".values")) for m in imported)


def test_vectors_file_is_well_formed() -> None:
    assert len(VECTORS["vectors"]) >= 25
    for vector in VECTORS["vectors"]:
        assert set(vector["expected"].values()) <= set(VECTORS["actions"])
        pydicom.Dataset.from_json(vector["dataset"])
