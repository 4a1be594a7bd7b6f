"""Independent review 172 (reviewer helper-172) of the true-label control study of SRS-070's data-randomization check
(issue 21 item 4) at 837374b. helper-172 wrote none of the code, texts or tests reviewed.

SRS-070 true-label control - DEFECT (D1 SRS-070's rationale still says no true-label control exists; D2 the docs
generalise one control seed to "any model"; D3 RC-015 still concludes "the maps depend on the model and the data"; D4
the plan's learning figures of the permuted models are not produced by run.py). The study itself (registration, control,
script, figures, decision) holds; the defects are in the claims and one unrecorded omission. No review record written.

Read: PLAN.md (dded247), train.py, run.py, report.py (0ab686c), results.json/results.md (837374b), cases.py
(train_permuted_label_model, true_label_pool, train_true_label_control, sanity_cases, default_map_spearman),
sanity.spearman/compare, build_pool/split_seeds, verification/test_data_randomization_control.py, the fixture and its
record, SRS-070 (traceability/requirements.yaml), RC-015 (risk/controls.yaml), RISK-014
(risk/hazardous_situations.yaml), README.md (explanations section), docs/explanations.md (data randomization bullet),
``git log`` of these paths.

Item 1 (registration) - holds. PLAN.md committed 2026-12-07 19:20:41 (dded247) and unchanged since (its SHA-256 is the
one in results.json); the fixture was written 19:56:29 (working-tree mtime), 2,141 s of training after 19:20:48, i.e.
after the plan; committed in 837374b; run.py/report.py committed 19:57:01 (0ab686c) and unchanged at 837374b; the
registered run's provenance is 0ab686c, clean tree, dry_run false, no deviations. The dry run (base seed 23, twin copy
as control) is disclosed and matches its scratch output (twin copy +1.000, permuted +0.236 [+0.044, +0.473], noise
+0.001). run.py implements the plan: its 31 slices are exactly sanity_cases(engine, base_seed=29) with region >= 30
(none excluded), its per-slice control M1 equals default_map_spearman(..., in_body=True) exactly (max |diff| 0.0), noise
default_rng([29, position]), M2 own region >= 30, 2,000 patient-clustered resamples default_rng(29), the same draws for
the difference, C1 >= 0.5, C2 < 0.3, criterion control, decision. Base seed 29's patients meet no seed of base seeds 0,
3, 7, 11, 23 (split_seeds). Except D4.

Item 2 (the control) - holds. train_true_label_control calls train_model with TrainingPlan(seed=2, steps=800,
train_patients=12) and the sanity training pool with its own labels; train_permuted_label_model with the same plan but
seed and the same planes with permuted labels (checked by substituting train_model and the pool below). The fixture's
SHA-256 equals its record (c05032fd...). Rerunning ``run --out-dir /tmp/...`` (27 s) gives per_slice, summary and
control_record identical to results.json. verification/test_data_randomization_control.py: 4 passed (67 s, shared 2
cores).

Item 3 (criterion and its controls, my own maps and models on the 31 registered slices, M1 median): the released twin
itself +1.000 and the twin with 5% Gaussian noise on every parameter +0.989 (both pass C1: in the control's place,
summarise says "discriminates"); randomized twin (randomize_cascading seed 0) -0.317, sign-flipped released map -1.000,
constant map inside the body 0.000, the engine's Lesion region blurred (sigma 8 px) +0.241 - all fail C1. summarise
recomputes the recorded summary exactly; None (skipped) slices are left out of the medians and counted; an independent
patient-clustered bootstrap (another generator) gives CIs within 0.05 of the recorded ones. The verification test's
negative controls behave (noise in the control's place fails C1; 0.9 permuted fails C2).

Item 4 (claims) - SRS-070's first rationale sentences, RC-015's added sentence, README and docs cite +0.25 [+0.15,
+0.35], +0.24 [+0.15, +0.39], difference +0.01 [-0.07, +0.10], "does not discriminate" and no credit, as results.md;
RISK-014's residual equals its initial estimate (P4/P3) and its rationale starts "No reduction is credited". But:

D1 - traceability/requirements.yaml:913-916 (SRS-070 rationale, same field): "Meeting this text does not show ... and no
  true-label control with the same recipe exists (issue 21 item 4 says what would)". Since 837374b it exists and the
  same rationale's first sentence cites it (line 910): the rationale states something false and contradicts itself.
  Reproduction: ``yaml.safe_load(requirements.yaml)``, SRS-070 rationale contains both "True-label control 2026-12-07"
  and "no true-label control with the same recipe exists".
D2 - docs/explanations.md:130-131: "any model retrained this way gives maps unlike the released ones, whatever its
  labels, so passing the check shows nothing about what the map encodes". results.md shows ONE true-label model (seed 2)
  and two permuted ones; the plan's decision allows "a model retrained with the same recipe on the true labels gives
  maps as unlike ... as the permuted-label models do, so passing SRS-070 is no evidence that the map depends on what the
  model learnt" (PLAN.md, Decision), as SRS-070 and README say. A claim about any model / any labels is more than
  results.md shows (in the safe direction, but the brief asks for no more than the result).
D3 - risk/controls.yaml:110-111 (RC-015 text): "Model randomization and permuted-label training both drive the median
  Spearman ... below 0.3 on the verification set, so the maps depend on the model and the data." The control shows the
  permuted-label figure (+0.24) is what a true-label model of the recipe also gives (+0.25): the conclusion "the maps
  depend on ... the data" is not supported, and the text goes on to say the check "does not discriminate". 837374b
  edited this text and left the unsupported conclusion as its first sentence.
D4 - PLAN.md:61-62 ("Learning: each model's pixel accuracy and lesion recall / precision on its own training labels")
  and PLAN.md:83-84 ("the figures ... recorded in results.json / results.md (generated by run.py, one source)"): the
  permuted models' pixel accuracy (0.976, 0.975 in their records) is in neither results.json nor results.md, and their
  recall/precision are literal text in report.py:65-66, not read from any record or from results.json; no deviation is
  recorded (DEVIATIONS is empty). Minor: the written figures equal the records and nothing in the decision depends on
  them.

Notes (not defects): N1 the 31 slices come from 9 of the 12 pool patients (the bootstrap has 9 clusters; "31 fresh
slices of 12 verification patients" is true only of the pool). N2 a model-free map, the engine's region blurred, scores
M1 +0.24, as high as the control (+0.25) and the permuted models (+0.24): the registered criterion control (noise,
-0.00) is the weakest model-free map; it does not change the decision. N3 the verification test has no positive control
(no test shows summarise can say "discriminates"); test_holds_criterion_passes_a_twin_copy_and_fails_my_negative_maps
below is one. N4 PLAN.md says "Written ... about 19:30 UTC"; its commit is 19:20:41 (the plan names its commit as the
timestamp). N5 after 837374b the working tree holds an uncommitted change to run.py (torch.set_num_threads moved from
load_models to main); not part of this review.

Defects are strict xfails of the correct behaviour beside a pin of today's text and a passing control; holds are plain
tests. Nothing is retrained; scratch only in tmp_path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from validation.explain.data_randomization_control import run

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "validation" / "explain" / "data_randomization_control"
RESULTS = FOLDER / "results.json"

# M1 per registered slice (base seed 29, the 31 slices of results.json, in order) of maps and models that are not in
# the repository, computed by helper-172 with run.registered_slices, gradcam and sanity.spearman(where=body).
MINE = {
    "released itself": [1.0] * 31,
    "twin + 5% parameter noise": [0.921, 0.965, 0.972, 0.908, 0.981, 0.989, 0.988, 0.988, 0.985, 0.986, 0.587, 0.481,
                                  0.951, 1.0, 1.0, 1.0, 0.998, 0.997, 0.998, 1.0, 1.0, 0.999, 0.992, 0.996, 0.974,
                                  0.987, 0.985, 0.998, 0.999, 1.0, 1.0],
    "randomized twin seed 0": [-0.665, -0.648, -0.681, -0.623, -0.223, -0.231, -0.347, -0.374, -0.33, -0.317, 0.373,
                               0.48, 0.532, -0.575, -0.575, -0.576, -0.067, -0.191, -0.131, -0.125, -0.188, -0.18,
                               -0.165, -0.066, -0.632, -0.42, -0.711, -0.371, -0.376, -0.309, -0.302],
    "blurred engine region": [0.177, 0.266, -0.118, 0.033, 0.198, 0.083, 0.539, 0.587, 0.501, 0.49, 0.142, -0.02,
                              0.041, 0.23, 0.153, 0.239, 0.241, 0.285, 0.283, 0.296, 0.348, 0.377, 0.364, 0.355,
                              0.393, 0.132, 0.424, 0.279, 0.23, 0.201, 0.237],
    "sign-flipped released map": [-1.0] * 31,
    "constant map in the body": [0.0] * 31,
}


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _requirement(rid: str) -> dict:
    data = yaml.safe_load((ROOT / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))
    return next(r for r in data["software_requirements"] if r["id"] == rid)


def _control(rid: str) -> dict:
    data = yaml.safe_load((ROOT / "risk" / "controls.yaml").read_text(encoding="utf-8"))
    return next(r for r in data["risk_controls"] if r["id"] == rid)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git history is not available")


def _with_control(recorded: dict, values: list[float | None]) -> dict:
    per_slice = json.loads(json.dumps(recorded["per_slice"]))
    per_slice["models"]["true-label control"]["m1"] = list(values)
    return run.summarise(per_slice)


# === Item 1: registration ===========================================================================================

@pytest.mark.req("SRS-070")
def test_holds_plan_registered_before_the_control_and_unchanged(recorded: dict) -> None:
    def first_commit_time(path: str) -> int:
        return int(_git("log", "--diff-filter=A", "--format=%ct", "--", path).split()[-1])

    plan = first_commit_time("validation/explain/data_randomization_control/PLAN.md")
    fixture = first_commit_time("verification/fixtures/true_label_control/seed2.safetensors")
    script = first_commit_time("validation/explain/data_randomization_control/run.py")
    result = first_commit_time("validation/explain/data_randomization_control/results.json")
    # the plan's commit, minus the recorded training time, still precedes the fixture's commit
    assert plan + recorded["control_record"]["training_seconds"] < fixture
    assert plan < script <= result
    assert recorded["provenance"]["plan_sha256"] == hashlib.sha256((FOLDER / "PLAN.md").read_bytes()).hexdigest()
    # the registered run is of the committed script (unchanged at the reviewed 837374b), no deviation;
    # the dry run used another base seed
    commit = recorded["provenance"]["commit"]
    # lead, 2026-12-07: after this review's D4 the script was changed (the models' training fit read from their
    # records, torch threads set in main) and re-run; the measures' code (cases.py) is unchanged since 837374b and
    # the change is the one recorded deviation (was: no diff of run.py/report.py, no deviation)
    assert _git("diff", "--stat", commit, "837374b", "--", "validation/explain/study/cases.py").strip() == ""
    assert recorded["provenance"]["dry_run"] is False
    assert len(recorded["provenance"]["deviations"]) == 1 and "review 172" in recorded["provenance"]["deviations"][0]
    assert run.DRY_RUN_SEED != run.BASE_SEED == recorded["per_slice"]["base_seed"] == 29


@pytest.mark.req("SRS-070")
def test_holds_script_constants_are_the_plan_s() -> None:
    plan = _flat((FOLDER / "PLAN.md").read_text(encoding="utf-8"))
    assert "**base seed 29**" in plan and run.BASE_SEED == 29 and run.NOISE_KEY == 29
    assert "2,000 patient-clustered bootstrap" in plan and run.RESAMPLES == 2000
    assert "median M1 >= **0.5**" in plan and run.CONTROL_AT_LEAST == 0.5
    assert "median M1 < **0.3**" in plan and run.PERMUTED_BELOW == 0.3
    assert "12 patients x 4 slices" in plan and (run.PATIENTS, run.SLICES_PER_PATIENT) == (12, 4)
    assert "more than 50 ground-truth Lesion pixels" in plan and run.MIN_LABELLED == 50
    assert run.MIN_REGION_PIXELS == 30


@pytest.mark.req("SRS-070")
def test_holds_evaluation_patients_are_fresh() -> None:
    from device_ai.training.phantoms import split_seeds

    fresh = set(split_seeds("verification", 12, base_seed=29))
    for used in (0, 3, 7, 11, 23):
        assert not fresh & set(split_seeds("verification", 300, base_seed=used)), used


# === Item 2: the control ============================================================================================

@pytest.mark.req("SRS-070")
def test_holds_control_is_the_permuted_recipe_with_only_the_labels_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.training.data import SlicePool
    from validation.explain.study import cases

    rng = np.random.default_rng(172)
    labels = rng.integers(0, 3, size=(48, 4, 4)).astype(np.uint8)
    planes = rng.random((48, 4, 4)).astype(np.float32)
    pool = SlicePool(planes, labels, tuple(f"FAKE-{i // 4}" for i in range(48)), "fake")
    calls: list = []
    monkeypatch.setattr(cases, "_sanity_training_pool", lambda size: pool)
    monkeypatch.setattr(cases, "train_model", lambda plan, data: calls.append((plan, data)))
    cases.train_true_label_control(224)
    cases.train_permuted_label_model(0, 224)
    (control_plan, control_data), (permuted_plan, permuted_data) = calls
    assert control_plan.seed == cases.CONTROL_SEED == 2 and permuted_plan.seed == 0
    assert dataclasses.replace(control_plan, seed=0) == permuted_plan  # nothing but the seed
    assert control_plan.steps == 800 and control_plan.train_patients == 12
    assert control_data.planes is planes and permuted_data.planes is planes
    assert np.array_equal(control_data.labels, labels)
    assert np.array_equal(permuted_data.labels, labels[np.random.default_rng(0).permutation(48)])
    assert control_data.patient_ids == permuted_data.patient_ids


@pytest.mark.req("SRS-070")
def test_holds_fixture_matches_its_record(recorded: dict) -> None:
    record = json.loads((run.CONTROL_FIXTURE / "seed2.json").read_text(encoding="utf-8"))
    data = (run.CONTROL_FIXTURE / "seed2.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"] == recorded["control_record"]["sha256"]
    assert record["steps"] == 800 and record["seed"] == 2 and record["labels"] == "true (unpermuted)"
    assert record == recorded["control_record"]


# === Item 3: the criterion and the statistics =======================================================================

@pytest.mark.req("SRS-070")
def test_holds_recorded_summary_follows_from_the_per_slice_figures(recorded: dict) -> None:
    summary = run.summarise(recorded["per_slice"])
    assert json.loads(json.dumps(summary)) == recorded["summary"]
    models = recorded["per_slice"]["models"]
    control = [v for v in models["true-label control"]["m1"] if v is not None]
    pooled = [v for s in (0, 1) for v in models[f"permuted seed {s}"]["m1"] if v is not None]
    assert len(control) == 31 and len(pooled) == 62
    assert np.median(control) == pytest.approx(summary["m1"]["true-label control"][0])
    assert np.median(pooled) == pytest.approx(summary["m1"]["permuted (seeds 0, 1 pooled)"][0])
    assert round(np.median(control), 2) == 0.25 and round(np.median(pooled), 2) == 0.24


@pytest.mark.req("SRS-070")
def test_holds_an_independent_patient_clustered_bootstrap_agrees(recorded: dict) -> None:
    slices = recorded["per_slice"]["slices"]
    models = recorded["per_slice"]["models"]
    assert all(s["patient"] == s["position"] // 4 for s in slices)
    patients = sorted({s["patient"] for s in slices})
    assert len(patients) == 9  # N1: 31 slices of 9 patients

    def ci(names: list[str]) -> tuple[float, float]:
        rng = np.random.Generator(np.random.PCG64(172))
        medians = []
        for _ in range(2000):
            drawn = rng.choice(patients, size=len(patients), replace=True)
            medians.append(np.median([models[n]["m1"][i] for p in drawn for n in names
                                      for i, s in enumerate(slices) if s["patient"] == p]))
        return tuple(np.percentile(medians, [2.5, 97.5]))

    for key, names in (("true-label control", ["true-label control"]),
                       ("permuted (seeds 0, 1 pooled)", ["permuted seed 0", "permuted seed 1"])):
        low, high = ci(names)
        assert abs(low - recorded["summary"]["m1"][key][1]) < 0.05, key
        assert abs(high - recorded["summary"]["m1"][key][2]) < 0.05, key


@pytest.mark.req("SRS-070")
def test_holds_skipped_slices_are_left_out_and_counted(recorded: dict) -> None:
    values = list(recorded["per_slice"]["models"]["true-label control"]["m1"])
    values[:10] = [None] * 10
    summary = _with_control(recorded, values)
    assert summary["skipped"]["true-label control"]["m1"] == 10
    assert summary["m1"]["true-label control"][0] == pytest.approx(np.median(values[10:]))


@pytest.mark.req("SRS-070")
def test_holds_criterion_passes_a_twin_copy_and_fails_my_negative_maps(recorded: dict) -> None:
    assert len(recorded["per_slice"]["slices"]) == 31
    for name in ("released itself", "twin + 5% parameter noise"):
        verdict = _with_control(recorded, MINE[name])["verdict"]
        assert verdict["C1"] and verdict["discriminates"] and verdict["difference_ci_above_0"], name
    for name in ("randomized twin seed 0", "blurred engine region", "sign-flipped released map",
                 "constant map in the body"):
        verdict = _with_control(recorded, MINE[name])["verdict"]
        assert not verdict["C1"] and not verdict["discriminates"], name
    # the recorded control sits with the model-free blurred region, not with the twin (N2)
    assert abs(np.median(MINE["blurred engine region"]) - recorded["summary"]["m1"]["true-label control"][0]) < 0.05


# === Item 4: claims that hold =======================================================================================

@pytest.mark.req("SRS-070")
def test_holds_claims_cite_the_figures_and_take_no_credit(recorded: dict) -> None:
    rationale = _flat(_requirement("SRS-070")["rationale"])
    for text in ("median +0.25 [95% patient-clustered bootstrap CI +0.15, +0.35]", "median +0.24 [+0.15, +0.39]",
                 "difference +0.01 [-0.07, +0.10]", "the data-randomization check does not discriminate",
                 "no credit is taken for it", "validation/explain/data_randomization_control/results.md"):
        assert text in rationale, text
    assert _requirement("SRS-070")["status"] == "draft"
    rc = _flat(_control("RC-015")["text"])
    assert "median +0.25" in rc and "(+0.24)" in rc and "does not discriminate" in rc
    assert _control("RC-015")["status"] == "draft"
    readme = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "(median +0.25 inside the body) as the permuted-label models do (+0.24)" in readme
    assert "does not discriminate either, and takes no credit" in readme
    docs = _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))
    assert "+0.25 [95% CI +0.15, +0.35] on 31 fresh slices, against +0.24 [+0.15, +0.39]" in docs
    hazards = yaml.safe_load((ROOT / "risk" / "hazardous_situations.yaml").read_text(encoding="utf-8"))
    risk = next(r for r in next(iter(hazards.values())) if r["id"] == "RISK-014")
    assert risk["residual"] == {"p1": risk["p1"], "p2": risk["p2"]}
    assert risk["residual_rationale"].startswith("No reduction is credited")
    assert recorded["summary"]["verdict"]["discriminates"] is False


# === D1: SRS-070's rationale says no true-label control exists =====================================================

STALE = "no true-label control with the same recipe exists"


@pytest.mark.req("SRS-070")
# lead, 2026-12-07: fixed (the rationale says there was none until 2026-12-07); the xfail mark removed
def test_d1_rationale_does_not_deny_the_control_it_cites() -> None:
    assert STALE not in _flat(_requirement("SRS-070")["rationale"])


@pytest.mark.req("SRS-070")
def test_d1_pin_today_the_rationale_cites_the_control_and_denies_it() -> None:
    rationale = _flat(_requirement("SRS-070")["rationale"])
    # lead, 2026-12-07, after the fix: the pin of the reviewed text (STALE in it) now asserts the fixed one
    assert rationale.startswith("True-label control 2026-12-07") and STALE not in rationale


@pytest.mark.req("SRS-070")
def test_d1_control_the_control_exists() -> None:
    assert (run.CONTROL_FIXTURE / "seed2.safetensors").is_file() and RESULTS.is_file()


# === D2: docs generalise one control seed to any model ==============================================================

ANY = "any model retrained this way gives maps unlike the released ones, whatever its labels"


@pytest.mark.req("SRS-070")
# lead, 2026-12-07: fixed (the docs speak of the one model measured); the xfail mark removed
def test_d2_docs_claim_no_more_than_one_control_model_shows() -> None:
    assert ANY not in _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))


@pytest.mark.req("SRS-070")
def test_d2_pin_today_the_docs_say_any_model() -> None:
    # lead, 2026-12-07, after the fix: asserts the fixed text (was: ANY in the docs)
    assert ANY not in _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))


@pytest.mark.req("SRS-070")
def test_d2_control_one_true_label_model_was_measured(recorded: dict) -> None:
    names = [n for n in recorded["per_slice"]["models"] if "true-label" in n]
    assert names == ["true-label control"] and recorded["control_record"]["seed"] == 2


# === D3: RC-015 still concludes that the maps depend on the data ====================================================

DEPEND = "so the maps depend on the model and the data"


@pytest.mark.req("SRS-070")
# lead, 2026-12-07: fixed (RC-015 says what the check was meant to show and that it does not for the data)
def test_d3_rc015_does_not_conclude_the_maps_depend_on_the_data() -> None:
    assert DEPEND not in _flat(_control("RC-015")["text"])


@pytest.mark.req("SRS-070")
def test_d3_pin_today_rc015_concludes_it_and_says_the_check_does_not_discriminate() -> None:
    text = _flat(_control("RC-015")["text"])
    # lead, 2026-12-07, after the fix: asserts the fixed text (was: DEPEND in it)
    assert DEPEND not in text and "does not discriminate" in text


@pytest.mark.req("SRS-070")
def test_d3_control_the_true_label_model_is_as_low_as_the_permuted_ones(recorded: dict) -> None:
    m1 = recorded["summary"]["m1"]
    assert m1["true-label control"][0] < run.CONTROL_AT_LEAST and m1["permuted (seeds 0, 1 pooled)"][0] < 0.3
    low, high = recorded["summary"]["difference_m1_control_minus_permuted"][1:]
    assert low < 0 < high


# === D4: the permuted models' learning figures are not produced by run.py ===========================================

@pytest.mark.req("SRS-070")
# lead, 2026-12-07: fixed (every model's fit read from its record by run.py, re-run; a deviation recorded)
def test_d4_results_carry_every_model_s_learning_figures(recorded: dict) -> None:
    text = json.dumps(recorded) + (FOLDER / "results.md").read_text(encoding="utf-8")
    for seed in (0, 1):
        record = json.loads((run.PERMUTED_FIXTURE / f"seed{seed}.json").read_text(encoding="utf-8"))
        assert f"{record['memorised']['pixel_accuracy']:.4f}" in text or \
            str(record["memorised"]["pixel_accuracy"]) in text, seed
    assert "0.511 / 0.483" not in (FOLDER / "report.py").read_text(encoding="utf-8")


@pytest.mark.req("SRS-070")
def test_d4_pin_today_report_py_writes_the_permuted_recall_as_literal_text() -> None:
    # lead, 2026-12-07, after the fix: asserts the fixed state (was: the literal text in report.py, no deviation)
    assert "0.511 / 0.483, seed 1 0.433 / 0.440 (their records)" not in (FOLDER / "report.py").read_text(encoding="utf-8")
    assert len(run.DEVIATIONS) == 1 and "review 172" in run.DEVIATIONS[0]


@pytest.mark.req("SRS-070")
def test_d4_control_the_literal_figures_equal_the_records() -> None:
    for seed, want in ((0, (0.511, 0.483)), (1, (0.433, 0.440))):
        fit = json.loads((run.PERMUTED_FIXTURE / f"seed{seed}.json").read_text(encoding="utf-8"))["memorised"]
        assert (round(fit["lesion_recall"], 3), round(fit["lesion_precision"], 3)) == want
