"""Explanation sanity checks and faithfulness of the default explanation on the phantom
verification set (SRS-034, SRS-070, SRS-067, SRS-068; Adebayo et al. 2018; issue 7).

The cases and the sanity models come from the study's `validation/explain/study/cases.py`, as in
the study (`validation/explain/run_faithfulness.py`); the maps are the device's own
(`device_ai.explain.gradcam`). Every check runs on every slice with a lesion of
``POPULATION_PATIENTS`` verification patients (32 slices), not on the study's 6: on 6 slices
the median is decided by which slices are drawn (ANOM-012).

Data randomization uses the released architecture trained from scratch on permuted labels
(Adebayo et al. §4.2), stored in ``fixtures/permuted_label_models`` with the record of their
training (`validation/explain/train_permuted_label_models.py`, 45 to 60 min a model); the
tests check that each stored model memorised its permuted labels and compute every figure
from it. Similarity is Spearman inside the body, faithfulness is deletion with imputed
removal (the reasons, measured, are in `validation/explain/respecified_checks.md`).

Every test here is slow (minutes; most of it the imputed deletion curves). What several tests
share, the sanity slices and the released twin's maps of them, is computed once per session:
under pytest-xdist the first worker computes it into the session's shared temporary folder,
under a file lock, and the others read it. The longest test comes first so that under `-n 2`
the other worker starts on the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from device_ai.model.twin import load_twin
from validation.explain.study.cases import (
    PERMUTED_MODEL_SEEDS,
    Case,
    beats_random_on_deletion,
    default_map_spearman,
    default_maps,
    faithfulness_cases,
    load_permuted_label_models,
    memorisation,
    permuted_label_pool,
    predictions,
    randomized_models,
    sanity_cases,
)
from validation.explain.study.sanity import MIN_CHECKED, compare, median_checked
from validation.explain.study.variants import DEFAULT, resolve

pytestmark = pytest.mark.slow

RESULTS = Path(__file__).resolve().parents[1] / "validation" / "explain" / "results.json"
PERMUTED_LABEL_MODELS = Path(__file__).resolve().parent / "fixtures" / "permuted_label_models"
SPEARMAN_BELOW = 0.3
BEATS_RANDOM_AT_LEAST = 0.9
LEARNT_FACTOR = 2  # a permuted-label model finds at least twice the permuted lesion pixels the released model finds


def _once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str,
                      compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()`` once per test session. Without xdist a session-scoped fixture already runs
    once; under xdist the workers share the session's temporary folder (the parent of each
    worker's own), and a file lock lets the first one compute and store the arrays while the
    others wait and read them. Without filelock every worker computes its own (same figures)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return compute()
    try:
        from filelock import FileLock
    except ImportError:
        return compute()
    path = tmp_path_factory.getbasetemp().parent / f"{name}.npz"
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            partial = path.with_name(f"{name}.partial.npz")
            np.savez(partial, **compute())
            partial.replace(path)
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}


@pytest.fixture(scope="session")
def twin(released_engine):  # noqa: ANN001, ANN201
    # Under pytest-xdist the two workers share the two cores: one torch thread each. Two each oversubscribed
    # them (cascading randomization 19 s alone, 47 s beside the deletion fixture in CI run 18; this file alone
    # on -n 2: 181 s with two threads, 148 s with one, the same verdicts and recorded figure).
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
    return load_twin(released_engine.package)


@pytest.fixture(scope="session")
def sanity_set(released_engine, twin, tmp_path_factory) -> tuple[list[Case], list[np.ndarray]]:  # noqa: ANN001
    """The sanity slices and the released twin's default map of each."""
    def compute() -> dict[str, np.ndarray]:
        picked = sanity_cases(released_engine)
        return {"slice_index": np.array([c.slice_index for c in picked]),
                **{field: np.stack([getattr(c, field) for c in picked]) for field in ("image", "logits", "region", "body")},
                "maps": np.stack(default_maps(twin, picked))}

    stored = _once_per_session(tmp_path_factory, f"sanity_set_{released_engine.package.manifest_sha256[:16]}", compute)
    picked = [Case(int(index), image, logits, region, body) for index, image, logits, region, body
              in zip(stored["slice_index"], stored["image"], stored["logits"], stored["region"], stored["body"])]
    assert len(picked) >= 20 and all(case.region.any() for case in picked)
    return picked, list(stored["maps"])


@pytest.fixture(scope="session")
def cases(sanity_set) -> list[Case]:  # noqa: ANN001
    return sanity_set[0]


@pytest.fixture(scope="session")
def real_maps(sanity_set) -> list[np.ndarray]:  # noqa: ANN001
    """The released twin's default map of each sanity slice (``default_maps(twin, cases)``)."""
    return sanity_set[1]


@pytest.fixture(scope="session")
def permuted() -> dict:
    return load_permuted_label_models(PERMUTED_LABEL_MODELS)


def _median_spearman(twin, others, cases, real_maps) -> tuple[float, list[float | None]]:  # noqa: ANN001
    """Median over every other model and every slice where the real map is not empty (an empty
    map has nothing to check)."""
    rhos = [rho for per_model in default_map_spearman(twin, others, cases, originals=real_maps) for rho in per_model]
    assert sum(r is not None for r in rhos) >= MIN_CHECKED * len(others), rhos
    return median_checked(rhos), rhos


@pytest.fixture(scope="session")
def deletion_wins(released_engine, twin, cases, real_maps) -> list[bool]:  # noqa: ANN001
    """Per sanity slice: does the default map beat the study's random map on deletion AUC, with
    removed pixels imputed from their neighbours?"""
    return beats_random_on_deletion(released_engine, twin, cases, maps=real_maps)


@pytest.mark.req("SRS-068")
def test_the_default_explanation_beats_random_on_deletion_in_90_percent_of_cases(deletion_wins: list[bool]) -> None:
    share = float(np.mean(deletion_wins))
    print(f"default Grad-CAM beats random on deletion (imputed removal) in {share:.0%} of {len(deletion_wins)} slices")
    assert share >= BEATS_RANDOM_AT_LEAST, share


@pytest.mark.req("SRS-070")
def test_the_models_trained_on_permuted_labels_learnt_them(twin, permuted) -> None:  # noqa: ANN001
    """A data-randomization model that did not learn its permuted labels would be an untrained
    model, and the check would repeat model randomization. The yardstick is the released model,
    which never saw these labels: whatever it finds of them comes from what all label maps
    share (lesions lie in the organ; about one slice in ten kept a label map of its own patient)."""
    planes, released_predicted = None, None
    for seed, model in permuted.items():
        pool = permuted_label_pool(seed, model.cfg.input_size)
        if planes is None:  # the released model's label maps of these planes, computed once
            planes, released_predicted = pool.planes, predictions(twin, pool.planes)
        assert np.array_equal(pool.planes, planes)  # every seed permutes the labels of the same planes
        fit, released = memorisation(model, pool), memorisation(twin, pool, predicted=released_predicted)
        print(f"seed {seed}: permuted-label model {fit}; released model {released}")
        assert fit["pixel_accuracy"] > released["pixel_accuracy"], (seed, fit, released)
        assert fit["lesion_recall"] >= LEARNT_FACTOR * released["lesion_recall"], (seed, fit, released)
        assert fit["lesion_precision"] >= LEARNT_FACTOR * released["lesion_precision"], (seed, fit, released)


@pytest.mark.req("SRS-034")
def test_cascading_randomization_destroys_the_maps(twin, cases, real_maps) -> None:  # noqa: ANN001
    median, rhos = _median_spearman(twin, randomized_models(twin), cases, real_maps)
    print(f"model randomization, Spearman: {rhos}")
    assert median < SPEARMAN_BELOW, rhos


@pytest.mark.req("SRS-067")
def test_the_recorded_study_figure_of_the_default_reproduces(released_engine, twin) -> None:  # noqa: ANN001
    """The study ranked its configurations with air removal on its 24 faithfulness slices."""
    wins = beats_random_on_deletion(released_engine, twin, faithfulness_cases(released_engine), removal="air")
    record = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert record["model_manifest_sha256"] == released_engine.package.manifest_sha256
    assert record["default"] == resolve(twin, DEFAULT).key and record["cases"] == len(wins) == 24
    recorded = record["summary"][record["default"]]["beats_random_on_deletion"]
    assert float(np.mean(wins)) == pytest.approx(recorded)


@pytest.mark.req("SRS-034", "SRS-070")
def test_a_model_trained_on_permuted_labels_gives_different_maps(twin, cases, real_maps, permuted) -> None:  # noqa: ANN001
    median, rhos = _median_spearman(twin, list(permuted.values()), cases, real_maps)
    print(f"data randomization, Spearman inside the body: {rhos}")
    assert median < SPEARMAN_BELOW, rhos


@pytest.mark.req("SRS-034", "SRS-070")
def test_over_the_whole_image_a_body_silhouette_would_look_like_the_explanation(cases, real_maps) -> None:  # noqa: ANN001
    """Why the similarity is taken inside the body: a map with no model in it, uniform noise
    inside the body and zero outside, correlates with the real maps over the whole image (the
    shared block of air ranks alike in both), and not inside the body."""
    rng = np.random.default_rng(0)
    silhouettes = [np.where(case.body, rng.random(case.body.shape), 0.0).astype(np.float32) for case in cases]
    whole = median_checked(compare(real_maps, silhouettes))
    inside = median_checked(compare(real_maps, silhouettes, [case.body for case in cases]))
    print(f"body-silhouette noise against the real maps: whole image {whole:+.2f}, inside the body {inside:+.2f}")
    assert whole >= SPEARMAN_BELOW and abs(inside) < 0.1, (whole, inside)


# --- The pre-registered faithfulness study (issue 21; validation/explain/preregistered, addendum A8) ---
# The registered run's results.json is the evidence; these tests check that it is the plan's run,
# recompute its verdicts from its per-slice figures, and hold the requirement and risk texts to them.

PREREGISTERED = Path(__file__).resolve().parents[1] / "validation" / "explain" / "preregistered"
REPOSITORY = Path(__file__).resolve().parents[1]
# Controls that pass "faithful" in the registered run although the plan requires them to fail (A8):
# kept as strict expected failures, whose reasons quote the figures; filled in from the results.
_PASSES = ("passes 'faithful' in the registered run (validation/explain/preregistered/results.md): the criterion "
           "does not discriminate it from the default; ")
PASSING_CONTROLS: dict[str, str] = {
    "randomized twin 3": _PASSES + "gap 0.727 [0.641, 0.781], ROAD 0.815 [0.706, 0.898]",
    "randomized twin 4": _PASSES + "gap 0.787 [0.697, 0.849], ROAD 0.886 [0.753, 0.962]",
    "blurred target": _PASSES + "gap 0.793 [0.697, 0.864], ROAD 0.887 [0.780, 0.964]",
    "edges": _PASSES + "gap 0.692 [0.666, 0.719], ROAD 0.785 [0.753, 0.816]",
}


def _registered() -> dict:
    return json.loads((PREREGISTERED / "results.json").read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _explained(results: dict) -> list[dict]:
    return [r for r in results["slices"] if "excluded" not in r]


def _control_params() -> list:
    from validation.explain.preregistered import measures

    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=PASSING_CONTROLS[name]))
            if name in PASSING_CONTROLS else name for name in (*measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE)]


@pytest.mark.req("SRS-068")
def test_the_preregistered_study_result_is_the_registered_run_of_the_plan() -> None:
    from device_ai.config import default_model_path
    from validation.explain.preregistered import run

    results = _registered()
    assert results["registered_run"] and results["clean_tree"], "not the registered run (addendum A9)"
    assert results["plan_sha256"] == _sha256(run.PLAN), "the plan changed after the registered run"
    assert results["model_manifest_sha256"] == _sha256(default_model_path() / "manifest.json")
    assert results["base_seed"] == run.BASE_SEED and results["patients"] == run.PATIENTS
    assert len(results["slices"]) == results["slices_selected"] == len(run.selected_slices())


@pytest.mark.req("SRS-068")
def test_the_recorded_verdicts_are_those_of_the_per_slice_figures() -> None:
    from validation.explain.preregistered import run

    results = _registered()
    explained = _explained(results)
    recomputed = json.loads(json.dumps(run.judged(explained)))
    assert recomputed == results["judgement"]
    without_first = json.loads(json.dumps(run.judged([r for r in explained if r["position"] != 0])))
    assert without_first == results["sensitivity_without_position_0"]


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("control", _control_params())
def test_each_control_and_model_free_baseline_fails_the_faithfulness_criterion(control: str) -> None:
    verdict = _registered()["judgement"]["verdicts"][control]
    print(f"{control}: F1 {verdict['F1']}, F2 {verdict['F2']}")
    assert not verdict["faithful"], f"{control} passes the criterion the default must pass: it does not discriminate"


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("baseline", ["blurred target", "edges"])
def test_a_model_free_map_in_the_default_s_place_earns_no_credit(baseline: str) -> None:
    """Negative control of the decision rule: the registered figures with a model-free baseline's in
    the default's place are refused credit."""
    from validation.explain.preregistered import run

    explained = _explained(_registered())
    for record in explained:
        record["maps"]["default"] = dict(record["maps"][baseline])
        record["empty_maps"] = [name for name in record["empty_maps"] if name != "default"]
    assert not run.judged(explained)["credit_allowed"]


# What every text that speaks for the explanation says when the decision gives no credit, and the
# positive claims none of them may make (review 88, defect 2: quoting the failures is not enough).
NO_CREDIT = "the pre-registered decision rule allows no credit"
OVERCLAIMS = (r"(?<!not )(?<!never )\b(?:verified|shown|demonstrated|proven|validated)\s+(?:to be\s+|as\s+)?faithful",
              r"(?<!not )\b(?:is|are)\s+faithful", r"\bRC-017\s+(?:is|was)\s+(?:verified\s+|now\s+)?effective")


def _records(path: Path, key: str) -> dict:
    import yaml

    return {record["id"]: record for record in yaml.safe_load(path.read_text(encoding="utf-8"))[key]}


@pytest.mark.req("SRS-068")
def test_the_requirement_and_risk_file_claim_no_more_than_the_registered_decision() -> None:
    import re

    judgement = _registered()["judgement"]
    requirements = _records(REPOSITORY / "traceability" / "requirements.yaml", "software_requirements")
    controls = _records(REPOSITORY / "risk" / "controls.yaml", "risk_controls")
    risks = _records(REPOSITORY / "risk" / "hazardous_situations.yaml", "hazardous_situations")
    if judgement["credit_allowed"]:
        return  # credit still needs the independent review of the results (the plan's decision)
    assert requirements["SRS-068"]["status"] != "approved" and controls["RC-017"]["status"] != "approved"
    srs = " ".join(" ".join(str(requirements["SRS-068"].get(key, "")).split()) for key in ("text", "rationale"))
    failed = [f"{name} passes" for name, fails in judgement["fails_as_it_must"].items() if not fails]
    failed += [f"does not beat {name}" for name, beat in judgement["default_beats"].items() if not beat["passed"]]
    if not judgement["verdicts"]["default"]["faithful"]:
        failed.append("default fails")
    assert failed, "no credit, yet every condition holds: the decision rule is broken"
    for condition in failed:
        assert condition in srs, f"SRS-068 does not say that {condition!r} did not hold"
    risk = risks["RISK-014"]
    assert (risk["residual"]["p1"], risk["residual"]["p2"]) == (risk["p1"], risk["p2"]), "RC-017 credited without evidence"
    readme = REPOSITORY / "README.md"
    texts = {"SRS-068": srs, "RC-017": " ".join(f"{controls['RC-017']['title']} {controls['RC-017']['text']}".split()),
             "RISK-014": " ".join(str(risk.get("residual_rationale", "")).split()),
             "README": " ".join(readme.read_text(encoding="utf-8").split()) if readme.exists() else ""}
    for name, text in texts.items():
        assert NO_CREDIT in text, f"{name} does not say {NO_CREDIT!r}"
        claims = [m.group(0) for pattern in OVERCLAIMS for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
        assert not claims, f"{name} claims what the registered decision does not give: {claims}"


# --- Issue 21 item 6: the permuted-label fixtures against digests pinned outside their folder ------

_PIN = r"seed(\d+)\.safetensors\s+SHA-256\s+([0-9a-f]{64})"


def _pinned_fixture_digests() -> dict[int, str]:
    """The SHA-256 of each permuted-label fixture as ANOM-012's (reviewed) evaluation pins it."""
    import re

    evaluation = " ".join(_records(REPOSITORY / "traceability" / "anomalies.yaml", "anomalies")["ANOM-012"]["evaluation"].split())
    return {int(seed): digest for seed, digest in re.findall(_PIN, evaluation)}


def _fixture_mismatches(directory: Path, pins: dict[int, str]) -> list[str]:
    """What in ``directory`` differs from ``pins``: a weight file, or the record beside it."""
    found = []
    for seed, digest in sorted(pins.items()):
        if _sha256(directory / f"seed{seed}.safetensors") != digest:
            found.append(f"seed{seed}.safetensors")
        if json.loads((directory / f"seed{seed}.json").read_text(encoding="utf-8"))["sha256"] != digest:
            found.append(f"seed{seed}.json")
    return found


@pytest.mark.req("SRS-070")
def test_the_permuted_label_fixtures_are_the_ones_pinned_in_the_reviewed_anomaly_record() -> None:
    pins = _pinned_fixture_digests()
    assert set(pins) == set(PERMUTED_MODEL_SEEDS), f"ANOM-012 pins seeds {sorted(pins)}, the study uses {PERMUTED_MODEL_SEEDS}"
    assert _fixture_mismatches(PERMUTED_LABEL_MODELS, pins) == []


@pytest.mark.req("SRS-070")
def test_control_a_fixture_replaced_with_its_record_is_refused_by_the_pins(tmp_path: Path) -> None:
    """Control: the fixture folder's own check (a weight file against the record beside it) passes
    a fixture replaced together with its record; the pins outside the folder do not."""
    import shutil

    pins = _pinned_fixture_digests()
    copy = tmp_path / "fixtures"
    shutil.copytree(PERMUTED_LABEL_MODELS, copy)
    assert _fixture_mismatches(copy, pins) == []  # the unchanged copy passes
    seed = min(pins)
    weights = bytearray((copy / f"seed{seed}.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of the last weight
    (copy / f"seed{seed}.safetensors").write_bytes(bytes(weights))
    record = json.loads((copy / f"seed{seed}.json").read_text(encoding="utf-8"))
    record["sha256"] = _sha256(copy / f"seed{seed}.safetensors")  # the record replaced with it
    (copy / f"seed{seed}.json").write_text(json.dumps(record), encoding="utf-8")
    load_permuted_label_models(copy)  # the folder's own check is satisfied
    assert _fixture_mismatches(copy, pins) == [f"seed{seed}.safetensors", f"seed{seed}.json"]
