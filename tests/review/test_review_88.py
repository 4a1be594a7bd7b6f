"""Independent review (helper-88) of the pre-registered faithfulness study's script at 0ca3935
(validation/explain/preregistered/run.py, measures.py, report.py and the A8 tests at the end of
verification/test_explanations.py) against PREREGISTRATION.md with its addendum 1. helper-88 wrote
none of this code. The review is validation/explain/preregistered/REVIEW-SCRIPT.md; every test here
uses synthetic figures only (no engine run, no results of the registered run).

Defects (strict expected failures: each turns red once it is fixed; remove the mark then):
1. verification/test_explanations.py:284-286: the A8 test of the requirement and risk texts iterates
   the three YAML files as lists; they are mappings (``software_requirements:``, ``risk_controls:``,
   ``hazardous_situations:``), so it raises TypeError before it checks anything, whatever the result.
2. verification/test_explanations.py:290-299: even once it reads the files, it only looks for the
   failed conditions as substrings of SRS-068's text, the two statuses and RISK-014's residual: a
   text that quotes the conditions and still claims the default is faithful passes. RC-017's text,
   RISK-014's rationale and the README (the plan's Decision names all four) are not read.
3. report.py:102: the results' first line lists as "controls that pass although they must fail"
   only the discriminating ones; if the inverted or random map passes, it says "none" beside
   "Credit NOT allowed", and nowhere in that line says why.
4. measures.py:138/144/170: a non-finite figure makes a comparison false, so a control with a NaN
   slice "fails faithful as it must" and credit can be allowed (fail-open); beats() and the default
   fail closed.
5. run.py:199-201: addendum A1 says every later dry run uses base seed 23; the script accepts
   ``--limit N --out F`` at the registered seed 11 (it would show registered figures before the run).

Lead, 2026-12-06: all five fixed (the A8 test reads the mappings by key and requires the no-credit
statement in SRS-068, RC-017, RISK-014 and the README, with no positive faithfulness claim in any;
the first line lists every control that does not fail; a control with a non-finite figure does not
count as failing; a dry run must use base seed 23). The five strict xfails are plain tests; the
honest projects of controls 1 and 2 now carry the no-credit statement (see ``_project``).

Controls (plain tests) show that each probe tells right from wrong. Pins (plain tests) of what the
script does right, each checked against one-line edits made by hand in scratch copies under /tmp
(never in /work/main), each killed by the pin named:
- M1 measures.py:127 ``min(ci, t_ci)`` -> ``figure["ci"][0]`` (default judged on the percentile
  only): killed by test_pin_the_default_needs_both_intervals_a_control_only_the_percentile.
- M2 measures.py:127 ``if strict else figure["ci"][0]`` -> ``min(...)`` for controls too: killed by
  the same test.
- M3 measures.py:155 ``_governing_low(road, True)`` -> ``False``: killed by
  test_pin_beats_needs_both_differences_under_both_intervals.
- M4 measures.py:155 ``> 0`` -> ``>= 0`` (auc): killed by the same test (a zero difference beats).
- M5 measures.py:136 empty rule deleted: killed by test_pin_an_empty_default_is_a_slice_without_the_gap.
- M6 measures.py:168 ``empty=empty_default if strict else None`` -> ``empty=empty_default`` for
  every map (an empty default would make controls fail): killed by the same test.
- M7 run.py:77 ``& (plane != 0)`` deleted: killed by test_pin_density_ring_and_equality.
- M8 run.py:83 ``<`` -> ``<=`` (equality hypodense): killed by the same test.
- M9 run.py:181 ``>`` -> ``>=`` (exactly 25% flagged): not reachable by a pure-function pin
  (run() needs the engine); checked by reading only.
- M10 measures.py:173 ``controls`` -> ``DISCRIMINATING`` (inverted/random no longer required to
  fail): killed by test_pin_every_control_including_the_consistency_checks_must_fail.
- M11 measures.py:178 ``and all(b["passed"] for b in against.values())`` deleted (the decision
  ignores "beats"): SURVIVES tests/explain/test_preregistered_measures.py (its only non-beating
  baseline also passes "faithful"); killed by
  test_pin_a_faithful_default_that_does_not_beat_a_failing_baseline_earns_no_credit.
Each defect's strict xfail was also checked to turn red under a scratch fix (F1-F5 in the review).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from validation.explain.preregistered import measures, report, run

REPOSITORY = Path(__file__).resolve().parents[2]
YAMLS = {"traceability/requirements.yaml": "software_requirements", "risk/controls.yaml": "risk_controls",
         "risk/hazardous_situations.yaml": "hazardous_situations"}
TWELVE = list(range(12))
_SAFE_LOAD = yaml.safe_load  # the real loader, for the copies (some tests patch yaml.safe_load)


def _fig(gap: float, road: float, auc: float, n: int = 12) -> dict:
    return {"gap": [gap] * n, "road": [road] * n, "auc": [auc] * n}


def _maps(default: dict | None = None, **others: dict) -> dict:
    failing = _fig(0.0, 0.0, 0.9)
    per_map = {"default": default or _fig(0.6, 0.8, 0.2),
               **{name: failing for name in (*measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE)}}
    per_map.update({name.replace("_", " "): figures for name, figures in others.items()})
    return per_map


def _blob_passes() -> dict:
    """A registered-looking judgement in which the blurred target passes "faithful" and the default
    does not beat it: credit refused, two conditions that SRS-068's text must quote."""
    judgement = measures.judge(_maps(blurred_target=_fig(0.7, 0.85, 0.15)), TWELVE)
    assert not judgement["credit_allowed"]
    return {"judgement": judgement}


def _project(tmp_path: Path, srs_text: str | None = None, shape: str = "mapping") -> Path:
    """Copies of the project's three YAML files; ``shape="list"`` rewrites each as the bare list the
    A8 test assumes; ``srs_text`` replaces SRS-068's text (and its rationale, which the fixed test
    reads too). Lead, 2026-12-06: RC-017, RISK-014 and a README say the fixed test's no-credit
    statement, so that only ``srs_text`` decides."""
    from verification.test_explanations import NO_CREDIT

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "README.md").write_text(f"Explanations: {NO_CREDIT}.\n", encoding="utf-8")
    for relative, key in YAMLS.items():
        data = _SAFE_LOAD((REPOSITORY / relative).read_text(encoding="utf-8"))
        for record in data[key]:
            if srs_text is not None and record["id"] == "SRS-068":
                record["text"], record["rationale"] = srs_text, "See the text."
            if record["id"] == "RC-017":
                record["text"] = f"Planned control, not in effect: {NO_CREDIT}."
            if record["id"] == "RISK-014":
                record["residual_rationale"] = f"No reduction: {NO_CREDIT}."
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(data[key] if shape == "list" else data), encoding="utf-8")
    return tmp_path


class _Both(dict):
    """A mapping read from the project's YAML that also iterates as its one list: the A8 test as
    written (iterating) and as it would be fixed (indexing the key) both read the records."""

    def __iter__(self):
        (records,) = self.values()
        return iter(records)


def _a8_test(monkeypatch: pytest.MonkeyPatch, results: dict, project: Path):
    from verification import test_explanations as vt

    monkeypatch.setattr(vt, "_registered", lambda: results)
    monkeypatch.setattr(vt, "REPOSITORY", project)
    return vt.test_the_requirement_and_risk_file_claim_no_more_than_the_registered_decision


# --- Defect 1: the A8 requirement/risk test cannot read the project's files -----------------------

@pytest.mark.req("SRS-068")
def test_defect_1_the_requirement_test_refuses_an_unquoted_failure_on_the_project_s_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check = _a8_test(monkeypatch, _blob_passes(), _project(tmp_path, "Not met."))
    with pytest.raises(AssertionError, match="SRS-068 does not say"):
        check()


@pytest.mark.req("SRS-068")
def test_control_1_on_files_it_can_read_the_probe_tells_an_unquoted_from_a_quoted_failure(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for relative, key in YAMLS.items():  # the cause: the project's files are mappings, not lists
        data = _SAFE_LOAD((REPOSITORY / relative).read_text(encoding="utf-8"))
        assert isinstance(data, dict) and list(data) == [key]
    monkeypatch.setattr(yaml, "safe_load", lambda text: _Both(_SAFE_LOAD(text)))  # readable as written or fixed
    from verification.test_explanations import NO_CREDIT

    with pytest.raises(AssertionError, match="SRS-068 does not say"):
        # wrong: failures not quoted -> refused. Lead, 2026-12-06: an explicit text, since the
        # project's own SRS-068 now quotes the registered run's failures (which name the same maps).
        _a8_test(monkeypatch, _blob_passes(), _project(tmp_path / "a", f"Not met: {NO_CREDIT}."))()
    honest = ("Not met: blurred target passes the criterion, and the default does not beat blurred target; "
              "the pre-registered decision rule allows no credit.")
    _a8_test(monkeypatch, _blob_passes(), _project(tmp_path / "b", honest))()  # right: accepted


# --- Defect 2: a text that quotes the failures and still claims credit passes ---------------------

OVERCLAIM = ("The default explanation is verified faithful and RC-017 is effective; an early worry that "
             "blurred target passes, or that the default does not beat blurred target, was unfounded.")


@pytest.mark.req("SRS-068")
def test_defect_2_an_overclaiming_text_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    project = _project(tmp_path, OVERCLAIM)
    monkeypatch.setattr(yaml, "safe_load", lambda text: _Both(_SAFE_LOAD(text)))  # past defect 1, either way it is fixed
    check = _a8_test(monkeypatch, _blob_passes(), project)
    with pytest.raises(AssertionError):
        check()


@pytest.mark.req("SRS-068")
def test_control_2_the_probe_refuses_an_approved_status_and_a_missing_condition(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(yaml, "safe_load", lambda text: _Both(_SAFE_LOAD(text)))
    honest = ("Not met: blurred target passes the criterion, and the default does not beat blurred target; "
              "the pre-registered decision rule allows no credit.")
    _a8_test(monkeypatch, _blob_passes(), _project(tmp_path / "ok", honest))()  # right: accepted
    with pytest.raises(AssertionError, match="does not beat blurred target"):
        _a8_test(monkeypatch, _blob_passes(), _project(tmp_path / "half", "Not met: blurred target passes."))()
    approved = _project(tmp_path / "approved", honest)
    requirements = approved / "traceability/requirements.yaml"
    data = _SAFE_LOAD(requirements.read_text(encoding="utf-8"))
    next(r for r in data["software_requirements"] if r["id"] == "SRS-068")["status"] = "approved"
    requirements.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(AssertionError):
        _a8_test(monkeypatch, _blob_passes(), approved)()


# --- Defect 3: the first line hides a consistency check that passes ------------------------------

def _first_line(judgement: dict) -> str:
    return report._first_line({"judgement": judgement, "excluded_over_25_percent": False, "excluded": [],
                               "slices_selected": 12})


@pytest.mark.req("SRS-068")
def test_defect_3_the_first_line_names_a_consistency_check_that_passes() -> None:
    judgement = measures.judge(_maps(inverted=_fig(0.6, 0.8, 0.2)), TWELVE)
    assert not judgement["credit_allowed"]
    assert "inverted" in _first_line(judgement)


@pytest.mark.req("SRS-068")
def test_control_3_the_first_line_names_a_discriminating_control_that_passes() -> None:
    line = _first_line(measures.judge(_maps(blurred_target=_fig(0.7, 0.85, 0.15)), TWELVE))
    assert "NOT allowed" in line and "pass although they must fail: blurred target" in line
    assert "pass although they must fail: none" in _first_line(measures.judge(_maps(), TWELVE))


# --- Defect 4: a NaN makes a control fail as it must ----------------------------------------------

@pytest.mark.req("SRS-068")
def test_defect_4_a_non_finite_control_figure_does_not_earn_credit() -> None:
    twin = _fig(0.6, 0.8, 0.2)
    twin["gap"][-1] = twin["road"][-1] = math.nan
    try:
        judgement = measures.judge(_maps(randomized_twin_0=twin), TWELVE)
    except ValueError:
        return  # refusing non-finite figures is a fix too
    assert not judgement["credit_allowed"]


@pytest.mark.req("SRS-068")
def test_control_4_nan_fails_closed_for_the_default_and_a_finite_passing_twin_refuses_credit() -> None:
    assert measures.judge(_maps(), TWELVE)["credit_allowed"]
    assert not measures.judge(_maps(randomized_twin_0=_fig(0.6, 0.8, 0.2)), TWELVE)["credit_allowed"]
    default = _fig(0.6, 0.8, 0.2)
    default["gap"][-1] = math.nan
    try:
        assert not measures.judge(_maps(default), TWELVE)["credit_allowed"]
    except ValueError:
        pass  # a fix of defect 4 may refuse non-finite figures outright


# --- Defect 5: a dry run at the registered seed is accepted ---------------------------------------

def _stub_main(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> int:
    monkeypatch.setattr(run, "run", lambda workers, limit, base_seed: {"stub": True})
    monkeypatch.setattr(report, "markdown", lambda results: "stub\n")
    monkeypatch.setattr(report, "summary", lambda results: "stub")
    return run.main(argv)


@pytest.mark.req("SRS-068")
def test_defect_5_a_dry_run_on_the_registered_seed_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _stub_main(monkeypatch, ["--limit", "2", "--out", str(tmp_path / "dry.json")])


@pytest.mark.req("SRS-068")
def test_control_5_the_stubbed_main_refuses_a_dry_run_onto_the_registered_file_and_accepts_seed_23(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _stub_main(monkeypatch, ["--limit", "2"])
    assert _stub_main(monkeypatch, ["--limit", "2", "--base-seed", "23", "--out", str(tmp_path / "dry.json")]) == 0
    assert (tmp_path / "dry.md").read_text(encoding="utf-8") == "stub\n"


# --- Observation: the A8 negative control is refused by construction ------------------------------

@pytest.mark.req("SRS-068")
def test_observation_the_a8_negative_control_is_refused_for_any_figures() -> None:
    """verification/test_explanations.py:266-276: with a baseline's figures as the default, beats()
    compares a map with itself (every difference exactly 0, bounds 0, not > 0), and the default's
    strict verdict cannot pass where the same figures fail as a control. So credit is refused for
    any data: the control checks the decision's conjunction, not the criterion. It does kill a
    decision that ignores the controls and the baselines when the baseline passes (shown here)."""
    rng = np.random.default_rng(88)
    for _ in range(20):
        per_map = {name: {key: list(rng.uniform(-1, 1, 12)) for key in ("gap", "road", "auc")}
                   for name in ("default", *measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE)}
        per_map["default"] = dict(per_map["blurred target"])
        judged = measures.judge(per_map, TWELVE)
        assert not judged["credit_allowed"] and not judged["default_beats"]["blurred target"]["passed"]
    passing = _fig(0.7, 0.85, 0.15)
    judged = measures.judge(_maps(passing, blurred_target=passing), TWELVE)
    assert judged["verdicts"]["default"]["faithful"]  # a decision on the default alone would allow credit
    assert not judged["credit_allowed"]


# --- Pins of what the script does as the addendum says ---------------------------------------------

@pytest.mark.req("SRS-068")
def test_pin_the_default_needs_both_intervals_a_control_only_the_percentile() -> None:
    """A5. ROAD 0.9 on 9 patients and -0.6 on 3: percentile bound > 0.1, t bound <= 0.1."""
    skewed = [0.9] * 9 + [-0.6] * 3
    second = measures.f2(skewed, TWELVE)
    assert second["ci"][0] > measures.ROAD_MARGIN >= second["t_ci"][0]
    per_map = _maps(_fig(0.6, 0.8, 0.2))
    per_map["default"] = {**per_map["default"], "road": skewed}
    per_map["randomized twin 2"] = {**_fig(0.6, 0.8, 0.2), "road": skewed}
    judged = measures.judge(per_map, TWELVE)
    assert not judged["verdicts"]["default"]["F2"]["passed"]  # the stricter governs
    assert judged["verdicts"]["randomized twin 2"]["F2"]["passed"]  # a control does not fail on the t width
    assert judged["verdicts"]["default"]["interval"] == "both (the stricter)"
    assert judged["verdicts"]["randomized twin 2"]["interval"] == "percentile"


@pytest.mark.req("SRS-068")
def test_pin_beats_needs_both_differences_under_both_intervals() -> None:
    default = _fig(0.6, 0.8, 0.2)
    assert measures.beats(default, _fig(0.0, 0.0, 0.9), TWELVE)["passed"]
    assert not measures.beats(default, _fig(0.0, 0.8, 0.9), TWELVE)["passed"]  # ROAD tie: 0 is not > 0
    assert not measures.beats(default, _fig(0.0, 0.0, 0.2), TWELVE)["passed"]  # AUC tie
    skewed = {"auc": [0.0] * 12, "road": [0.8] * 12, "gap": [0.6] * 12}
    other = {"auc": [0.9] * 9 + [-0.8] * 3, "road": [0.0] * 12, "gap": [0.0] * 12}  # AUC diff: percentile 0.05, t -0.01
    result = measures.beats(skewed, other, TWELVE)
    assert result["auc_difference"]["ci"][0] > 0 >= result["auc_difference"]["t_ci"][0]
    assert not result["passed"]


@pytest.mark.req("SRS-068")
def test_pin_a_faithful_default_that_does_not_beat_a_failing_baseline_earns_no_credit() -> None:
    """The blurred target fails F2 (ROAD 0.05) but has a lower deletion AUC than the default: every
    control fails, the default is faithful, only "beats" refuses credit (the project's unit tests
    have no such case: M11 survived them)."""
    judged = measures.judge(_maps(blurred_target=_fig(0.7, 0.05, 0.15)), TWELVE)
    assert judged["verdicts"]["default"]["faithful"] and all(judged["fails_as_it_must"].values())
    assert not judged["default_beats"]["blurred target"]["passed"]
    assert not judged["credit_allowed"]
    assert measures.judge(_maps(blurred_target=_fig(0.7, 0.05, 0.25)), TWELVE)["credit_allowed"]  # control


@pytest.mark.req("SRS-068")
def test_pin_an_empty_default_is_a_slice_without_the_gap() -> None:
    empty = [False] * 10 + [True] * 2  # 10/12 = 83% < 90%
    judged = measures.judge(_maps(), TWELVE, empty_default=empty)
    assert not judged["verdicts"]["default"]["F1"]["passed"]
    assert judged["verdicts"]["default"]["F1"]["share_gap_at_least"] == pytest.approx(10 / 12)
    passing = _fig(0.6, 0.8, 0.2)
    judged = measures.judge(_maps(randomized_twin_1=passing), TWELVE, empty_default=empty)
    assert judged["verdicts"]["randomized twin 1"]["faithful"]  # the default's empty slices are not the control's


@pytest.mark.req("SRS-068")
def test_pin_every_control_including_the_consistency_checks_must_fail() -> None:
    for name in (*measures.NEGATIVE_CONTROLS, *measures.MODEL_FREE):
        judged = measures.judge(_maps(**{name.replace(" ", "_"): _fig(0.6, 0.8, 0.2)}), TWELVE)
        assert not judged["credit_allowed"], name
        assert judged["fails_as_it_must"][name] is False
    assert set(measures.judge(_maps(), TWELVE)["discrimination_evidence"]) == {*measures.RANDOMIZED_TWINS,
                                                                               *measures.MODEL_FREE}


@pytest.mark.req("SRS-068")
def test_pin_density_ring_and_equality() -> None:
    """A6: ring = city-block distance 2..5 from the lesion, no lesion pixel, no air (plane 0)."""
    plane = np.full((40, 40), 0.5, dtype=np.float32)
    lesion = np.zeros((40, 40), dtype=bool)
    lesion[18:22, 18:22] = True
    plane[:, :17] = 0.0  # air two pixels left of the lesion, inside the ring
    measured = run.density(plane, lesion)
    assert measured["ring_window_mean"] == pytest.approx(0.5) and measured["density"] == "hyperdense"  # equal
    plane[lesion] = 0.49
    assert run.density(plane, lesion)["density"] == "hypodense"


@pytest.mark.req("SRS-068")
def test_lead_an_overclaim_beside_the_no_credit_statement_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    """Lead, 2026-12-06 (defect 2's fix): the statement does not license a claim next to it."""
    from verification.test_explanations import NO_CREDIT

    quoted = "blurred target passes the criterion, and the default does not beat blurred target"
    for number, claim in enumerate(("The default explanation is verified faithful.", "RC-017 is effective.",
                                    "The map is faithful to the model.")):
        project = _project(tmp_path / str(number), f"Not met: {quoted}; {NO_CREDIT}. {claim}")
        with pytest.raises(AssertionError, match="claims what the registered decision does not give"):
            _a8_test(monkeypatch, _blob_passes(), project)()
    honest = _project(tmp_path / "honest", f"Not met: {quoted}; {NO_CREDIT}. The map is not faithful.")
    _a8_test(monkeypatch, _blob_passes(), honest)()  # control: a negated claim is fine
