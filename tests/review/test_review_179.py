"""SRS-070 true-label control - DEFECT (D1 the lead's approval of SRS-070 (f0bf862, status: approved) contradicts the
study's own verification test, which asserts `status == "draft" or discriminates` and the recorded verdict is "does
not discriminate": at HEAD verification/test_data_randomization_control.py fails, and so do the holds of reviews 172,
174 and 176 that pin SRS-070 draft; D2 README.md, docs/explanations.md (twice), risk/benefit.yaml and RISK-014's
residual rationale still say SRS-070 is draft, so the file set disagrees with requirements.yaml). 176's defect is
fixed honestly by 86fb5c7: docs/explanations.md and run.py's docstring now say what the verification test recomputes,
and that is true of the test. Every figure the claims cite agrees with results.json; results.md is
report.render(results.json) up to the order of the model rows (known, 174/176). No review record is written.

Independent re-review 179 (reviewer helper-179) of the true-label control study of SRS-070's data-randomization check
after the lead's fix of review 176 (86fb5c7), at f0bf862. helper-179 wrote none of the code, texts or tests reviewed.

Measured (2 shared cores, 2026-12-07 22:33-22:39 UTC): verification/test_data_randomization_control.py +
tests/review/test_review_172.py, 174, 176 with `-n 2` (slow test included): 4 failed, 43 passed (306 s). The four
failures are all the approval: verification test_the_requirement_states_the_registered_decision (`assert
requirement["status"] == "draft" or discriminates`), 172 test_holds_claims_cite_the_figures_and_take_no_credit, 174
test_holds_h7_claims_say_what_results_show_and_take_no_credit, 176 test_holds_h3_174_d1_the_patient_count_and_its_
reason_are_true (each `_requirement("SRS-070")["status"] == "draft"`). This file: 9 passed, 2 xfailed (9 s).

Item 2, the verification test's assertions can fail (by hand, not in this file: each run needs the engine and the
fixtures' Grad-CAM, minutes on the shared cores): the slow test run against a copy of results.json with (a) the
per-slice M1 lists of "permuted seed 0" and "permuted seed 1" swapped and (b) one per-slice M1 figure of the
true-label control changed by +0.01 (the first slice). Both FAILED at the per-slice np.allclose line, on the
model named ((a) "permuted seed 0", 27 s; (b) "true-label control", 82 s): the M1 comparison catches a swapped model and
a single changed figure. In this file: the criterion control and the
requirement check fail on broken inputs (tests h4, h5). As reviews 174/176 found and 86fb5c7 now says, the summary
(medians, CIs, difference), M2 and learning figures are not recomputed: a changed summary median passes the slow test.

Item 1 holds (figures): SRS-070's rationale, RC-015, README and docs cite +0.25 [+0.15, +0.35], +0.24 [+0.15, +0.39],
difference +0.01 [-0.07, +0.10], M2 +0.25 / +0.26, 87.6% / 95.6%, 36 min (2141 s), seed 2, base seed 29, 31 slices of
9 patients: each is results.json's figure rounded. No text takes credit (RC-015 draft, RISK-014 residual = initial).

Notes (not defects): N1 SRS-070's rationale still says "a model retrained with this recipe gives maps as unlike ...
whether its labels are true or permuted" from one control seed (176 N1; the plan's decision prescribes those words).
N2 PLAN.md (the registration, not editable) says "a verification test recomputes them [the figures, CIs, excluded
slices and M2] from the fixtures": the deviation in results.json says what it does instead ("M1 ... not the rest").
N3 the approval's own wording ("approved subject to independent re-review 179") is a conditional approval recorded as
a plain `status: approved` before the review; the tooling cannot tell the two apart.

Fix for D1/D2: either SRS-070 goes back to draft (what the verification test, the four files of D2 and the plan's
"no credit" imply), or, if approving a requirement whose check is shown not to discriminate is intended, the
verification test, the three review holds and the D2 texts are changed together with the reason.

Defects are strict xfails of the consistent state beside a pin of today's state and a passing control; holds are plain
tests. Nothing is retrained or re-run; git is read only.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from validation.explain.data_randomization_control import report, run

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "validation" / "explain" / "data_randomization_control"
RESULTS = FOLDER / "results.json"
VERIFICATION = ROOT / "verification" / "test_data_randomization_control.py"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _yaml(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def _requirement(rid: str) -> dict:
    return next(r for r in _yaml("traceability/requirements.yaml")["software_requirements"] if r["id"] == rid)


def _control(cid: str) -> dict:
    return next(c for c in _yaml("risk/controls.yaml")["risk_controls"] if c["id"] == cid)


def _verification_module():  # noqa: ANN202
    import importlib

    return importlib.import_module("verification.test_data_randomization_control")


def _fmt(x: float) -> str:
    return f"{x:+.2f}"


# === D1: SRS-070 approved although the verification test requires draft unless the check discriminates =============

@pytest.mark.req("SRS-070")
def test_d1_status_agrees_with_the_verification_test_rule(recorded: dict) -> None:
    discriminates = recorded["summary"]["verdict"]["discriminates"]
    assert _requirement("SRS-070")["status"] == "draft" or discriminates


@pytest.mark.req("SRS-070")
def test_d1_pin_today_approved_and_not_discriminating(recorded: dict) -> None:
    # lead, 2026-12-07 (session 3): D1 fixed by reverting the approval (was: status approved)
    assert _requirement("SRS-070")["status"] == "draft"
    assert recorded["summary"]["verdict"]["discriminates"] is False
    assert 'assert requirement["status"] == "draft" or discriminates' in VERIFICATION.read_text(encoding="utf-8")
    assert "back to draft" in _flat(_requirement("SRS-070")["rationale"])


@pytest.mark.req("SRS-070")
def test_d1_control_the_rest_of_the_verification_requirement_check_passes(recorded: dict) -> None:
    # lead, 2026-12-07 (session 3): with SRS-070 draft again the whole verification check passes (was: it failed
    # on its status line only)
    _verification_module().test_the_requirement_states_the_registered_decision(recorded)


# === D2: texts that say SRS-070 is draft, against requirements.yaml =================================================

def _draft_statements() -> list[str]:
    readme = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    docs = _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))
    risk14 = next(r for r in _yaml("risk/hazardous_situations.yaml")["hazardous_situations"] if r["id"] == "RISK-014")
    benefit = (ROOT / "risk" / "benefit.yaml").read_text(encoding="utf-8")
    found = []
    if "SRS-034, SRS-068 and SRS-070 are therefore draft" in readme:
        found.append("README")
    if "SRS-034, SRS-068 and SRS-070 are draft again" in docs:
        found.append("docs:intro")
    if "Consequences: SRS-034, SRS-068 and SRS-070 are draft" in docs:
        found.append("docs:review")
    if "both requirements are draft again" in _flat(risk14["residual_rationale"]):
        found.append("RISK-014")
    if "- item: SRS-070\n    state: draft" in benefit:
        found.append("benefit")
    return found


@pytest.mark.req("SRS-070")
def test_d2_texts_agree_with_the_requirement_status() -> None:
    assert _draft_statements() == [] or _requirement("SRS-070")["status"] == "draft"


@pytest.mark.req("SRS-070")
def test_d2_pin_today_five_places_say_draft() -> None:
    assert _draft_statements() == ["README", "docs:intro", "docs:review", "RISK-014", "benefit"]
    # lead, 2026-12-07 (session 3): D2 fixed with D1 - the five texts are true again (was: status approved)
    assert _requirement("SRS-070")["status"] == "draft"


@pytest.mark.req("SRS-070")
def test_d2_control_the_same_sentences_are_true_of_srs_034_and_srs_068() -> None:
    # the sentences that name SRS-070 draft name SRS-034 and SRS-068 too, and for those two they are true
    assert _requirement("SRS-034")["status"] == "draft" and _requirement("SRS-068")["status"] == "draft"
    benefit = (ROOT / "risk" / "benefit.yaml").read_text(encoding="utf-8")
    assert "- item: SRS-034\n    state: draft" in benefit and "- item: SRS-068\n    state: draft" in benefit


# === Holds ===========================================================================================================

@pytest.mark.req("SRS-070")
def test_h1_176_fixed_texts_say_what_the_verification_test_does() -> None:
    docs = _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))
    doc = _flat(run.__doc__ or "")
    assert "recomputes each model's per-slice M1 from the fixtures, re-derives the verdict" in docs
    assert "recomputes each model's per-slice M1 from the fixtures, compares them with results.json and " \
           "re-derives the verdict from the recorded per-slice figures (the medians, CIs, M2 and learning figures " \
           "it does not recompute)" in doc
    assert "recomputes the figures from the fixtures" not in docs + doc
    source = VERIFICATION.read_text(encoding="utf-8")
    # and that is what the test does
    assert "gradcam(model" in source and 'recorded["per_slice"]["models"][name]["m1"]' in source
    assert 'run.summarise(recorded["per_slice"])["verdict"] == recorded["summary"]["verdict"]' in source
    for key in ('["m2"]', "difference_m1", '"ci"', "training_fit"):
        assert key not in source, key


@pytest.mark.req("SRS-070")
def test_h2_cited_figures_are_results_json_rounded(recorded: dict) -> None:
    s = recorded["summary"]
    c, p, d = s["m1"]["true-label control"], s["m1"]["permuted (seeds 0, 1 pooled)"], \
        s["difference_m1_control_minus_permuted"]
    rec = recorded["control_record"]
    control = f"median {_fmt(c[0])} [95% patient-clustered bootstrap CI {_fmt(c[1])}, {_fmt(c[2])}]"
    permuted = f"median {_fmt(p[0])} [{_fmt(p[1])}, {_fmt(p[2])}]"
    diff = f"difference {_fmt(d[0])} [{_fmt(d[1])}, {_fmt(d[2])}]"
    m2 = f"{_fmt(s['m2']['true-label control'][0])} and {_fmt(s['m2']['permuted (seeds 0, 1 pooled)'][0])}"
    learnt = f"{rec['memorised']['lesion_recall']:.1%} of its training lesion pixels at " \
             f"{rec['memorised']['lesion_precision']:.1%} precision"
    rationale = _flat(_requirement("SRS-070")["rationale"])
    for text in (control, permuted, diff, f"own predicted region: {m2}", learnt, f"(seed {rec['seed']};",
                 f"base seed {recorded['per_slice']['base_seed']}", "31 fresh slices of 9 verification patients"):
        assert text in rationale, text
    slices = recorded["per_slice"]["slices"]
    assert len(slices) == 31 and len({x["patient"] for x in slices}) == 9
    docs = _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))
    assert f"(seed {rec['seed']}, {round(rec['training_seconds'] / 60)} min)" in docs
    assert f"{_fmt(c[0])} [95% CI {_fmt(c[1])}, {_fmt(c[2])}] on 31 fresh slices" in docs
    assert f"against {_fmt(p[0])} [{_fmt(p[1])}, {_fmt(p[2])}]" in docs and f"{diff}" in docs
    rc = _flat(_control("RC-015")["text"])
    readme = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    assert f"(median {_fmt(c[0])} inside the body) as the permuted-label models ({_fmt(p[0])})" in rc
    assert f"(median {_fmt(c[0])} inside the body) as the permuted-label models do ({_fmt(p[0])})" in readme
    # no credit anywhere
    assert _control("RC-015")["status"] == "draft"
    risk14 = next(r for r in _yaml("risk/hazardous_situations.yaml")["hazardous_situations"] if r["id"] == "RISK-014")
    assert risk14["residual"] == {"p1": risk14["p1"], "p2": risk14["p2"]}
    assert "no credit is taken for it" in _flat(_requirement("SRS-070")["rationale"])


@pytest.mark.req("SRS-070")
def test_h3_results_md_is_the_render_up_to_row_order(recorded: dict) -> None:
    md = (FOLDER / "results.md").read_text(encoding="utf-8").splitlines()
    rendered = report.render(recorded).splitlines()
    assert sorted(line for line in md if not line.startswith("Skipped")) == \
        sorted(line for line in rendered if not line.startswith("Skipped"))
    skipped = next(line for line in md if line.startswith("Skipped"))
    for name, counts in recorded["summary"]["skipped"].items():
        assert f"'{name}': {{'m1': {counts['m1']}, 'm2': {counts['m2']}}}" in skipped
    # the M2 skip counts are the nulls of the per-slice M2 lists
    for name, counts in recorded["summary"]["skipped"].items():
        if "m2" in recorded["per_slice"]["models"][name]:
            assert counts["m2"] == sum(v is None for v in recorded["per_slice"]["models"][name]["m2"]), name


@pytest.mark.req("SRS-070")
def test_h4_the_criterion_control_fails_when_the_noise_map_passes_c1(recorded: dict) -> None:
    module = _verification_module()
    module.test_control_the_criterion_fails_a_model_free_map_in_the_control_s_place(recorded)  # passes as recorded
    broken = copy.deepcopy(recorded)
    noise = broken["per_slice"]["models"]["model-free noise"]["m1"]
    broken["per_slice"]["models"]["model-free noise"]["m1"] = [None if v is None else 0.9 for v in noise]
    with pytest.raises(AssertionError):
        module.test_control_the_criterion_fails_a_model_free_map_in_the_control_s_place(broken)


@pytest.mark.req("SRS-070")
def test_h5_the_requirement_check_fails_on_a_changed_median_or_verdict(recorded: dict) -> None:
    module = _verification_module()
    for mutate in (lambda r: r["summary"]["m1"]["true-label control"].__setitem__(0, 0.31),
                   lambda r: r["summary"]["verdict"].__setitem__("discriminates", True)):
        broken = copy.deepcopy(recorded)
        mutate(broken)
        with pytest.raises(AssertionError) as info:
            module.test_the_requirement_states_the_registered_decision(broken)
        # it fails on the figure or the words, before the status line of D1
        assert "status" not in str(info.traceback[-1].statement), str(info.traceback[-1].statement)
