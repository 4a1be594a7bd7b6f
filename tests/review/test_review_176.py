"""SRS-070 true-label control - DEFECT (D1 docs/explanations.md:133 says the verification test "recomputes the
figures from the fixtures", and run.py:6-8 that it "recomputes the figures from the fixtures and compares them with
results.json"; it recomputes per-slice M1 only and re-derives the verdict from the recorded per-slice figures: the same
over-statement review 174 D2 found in the deviation, fixed there and left in these two places). Review 174's D1 and
D2 are fixed honestly; the re-run's per-slice figures, summary and control record are identical to the registered
run's (837374b); results.md is report.render(results.json). The defect is minor and does not change the decision. No
review record is written.

Independent re-review 176 (reviewer helper-176) of the true-label control study of SRS-070's data-randomization
check, after the lead's fixes of review 174 (97f8d6c) and the re-run (906fd7a; reviewed at 1b9a04f). helper-176 wrote
none of the code, texts or tests reviewed. Brief's set (tests/review/test_review_172.py + test_review_174.py): 36
passed, 0 xfailed (9 s). This file: 6 passed, 1 xfailed (8 s).

Read: git show 97f8d6c 906fd7a; results.json/md at HEAD and at 837374b and 906fd7a^; run.py (registered_slices,
DEVIATIONS, docstring), report.py; SRS-070, RC-015, RISK-014, README explanations section, docs/explanations.md
(data-randomization bullet); verification/test_data_randomization_control.py; review 174's file and the lead's edits
to it.

Item 1. Holds:
- 174 D1: SRS-070's rationale now says "31 fresh slices of 9 verification patients ... the other 3 of the 12 drawn
  have no slice with more than 50 lesion pixels, so the CIs are over 9 patients". True: excluded_positions is [] and
  registered_slices skips only positions with <= 50 ground-truth Lesion pixels before the engine test, so every
  drawn slice of patients 4, 6 and 10 had <= 50 ("no slice" = none of the 4 drawn slices). results.md now says "from 9
  patients" (report.py counts them from results.json).
- 174 D2: the deviation now says the lead compared per-slice figures and summary with 837374b (true: == below) and
  that the verification test recomputes M1 and re-derives the verdict, "not the rest" (true).
- The re-run (906fd7a, provenance 97f8d6c, clean): per_slice, summary, control_record == 837374b's and == the first
  re-run's; training_fit == the first re-run's; provenance differs from the first re-run only in commit and
  deviations. results.md == report.render(results.json) up to the order of models (sort_keys), as review 174 found.
- The lead's edits to review 174's file each carry a "lead, 2026-12-07" comment and say what was asserted before;
  H2 is weakened to allow src changes between the fix commits (the SRS-234 files trust_anchors.py and
  transport_security.py, which the study does not import) - stated in its comment.
Item 2: SRS-070, RC-015, RISK-014 (no credit, residual = initial), README cite what results.md shows (review 174's H7
still passes). But:

D1 - docs/explanations.md:133-134: "(`verification/test_data_randomization_control.py` recomputes the figures from the
  fixtures and asserts a model-free noise map fails the control's criterion)", right after the medians, CIs and the
  difference; and run.py:6-8 (module docstring): "the verification test ... recomputes the figures from the fixtures
  and compares them with results.json". The test recomputes each model's per-slice M1 (and the noise M1) and compares
  them with results.json's per_slice; it then calls run.summarise(recorded per_slice) and compares only the verdict.
  The medians, CIs and difference the sentence cites (results.json summary), M2, the learning figures and
  training_fit are not recomputed or compared; a changed summary["m1"] median or CI would pass it. Review 174 D2 found
  this claim in the recorded deviation and the lead fixed it there ("not the rest"); these two places still say it.

Notes (not defects): N1 SRS-070's rationale still says "a model retrained with this recipe gives maps as unlike ...
whether its labels are true or permuted" from one control seed (docs was narrowed to "the one model" after 172 D2;
the rationale's "a model" reads as general). N2 review 174's D1 "fixed" test passes whenever TWELVE is absent, whatever
count is written; the pin checks TWELVE absent only. N3 the deviation still says "the script was re-run" once; it was
re-run twice (the second after 97f8d6c; provenance says which).

Defects are strict xfails of the correct state beside a pin of today's state and a passing control; holds are plain
tests. Nothing is retrained or re-run; git is read only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from validation.explain.data_randomization_control import report, run

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "validation" / "explain" / "data_randomization_control"
RESULTS = FOLDER / "results.json"
REGISTERED = "837374b"
FIRST_RERUN = "906fd7a^"  # results of the first re-run (after review 172)
VERIFICATION = ROOT / "verification" / "test_data_randomization_control.py"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git history is not available")


def _results_at(commit: str) -> dict:
    return json.loads(_git("show", f"{commit}:validation/explain/data_randomization_control/results.json"))


def _requirement(rid: str) -> dict:
    data = yaml.safe_load((ROOT / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))
    return next(r for r in data["software_requirements"] if r["id"] == rid)


# === Item 1 =========================================================================================================

@pytest.mark.req("SRS-070")
def test_holds_h1_rerun_identical_to_registered_and_first_rerun(recorded: dict) -> None:
    registered, first = _results_at(REGISTERED), _results_at(FIRST_RERUN)
    for key in ("per_slice", "summary", "control_record"):
        assert recorded[key] == registered[key] == first[key], key
    assert recorded["training_fit"] == first["training_fit"]
    changed = {k for k in first["provenance"] if first["provenance"][k] != recorded["provenance"][k]}
    assert changed == {"commit", "deviations"}
    assert recorded["provenance"]["commit"] == "97f8d6c" and recorded["provenance"]["dry_run"] is False
    assert recorded["provenance"]["work_tree_clean_src_validation"] is True
    assert tuple(recorded["provenance"]["deviations"]) == run.DEVIATIONS


@pytest.mark.req("SRS-070")
def test_holds_h2_results_md_is_the_render_up_to_model_order(recorded: dict) -> None:
    md = (FOLDER / "results.md").read_text(encoding="utf-8").splitlines()
    rendered = report.render(recorded).splitlines()
    assert sorted(line for line in md if not line.startswith("Skipped")) == \
        sorted(line for line in rendered if not line.startswith("Skipped"))
    assert "- Slices: 31 kept (from 9 patients;" in "\n".join(md)


@pytest.mark.req("SRS-070")
def test_holds_h3_174_d1_the_patient_count_and_its_reason_are_true(recorded: dict) -> None:
    slices = recorded["per_slice"]["slices"]
    patients = sorted({s["patient"] for s in slices})
    assert patients == [0, 1, 2, 3, 5, 7, 8, 9, 11] and len(slices) == 31
    # no position excluded by the engine rule, so the missing patients' drawn slices all had <= 50 truth pixels
    assert recorded["per_slice"]["excluded_positions"] == []
    assert run.MIN_LABELLED == 50 and run.SLICES_PER_PATIENT == 4 and run.PATIENTS == 12
    rationale = _flat(_requirement("SRS-070")["rationale"])
    assert "31 fresh slices of 9 verification patients" in rationale
    assert "the other 3 of the 12 drawn have no slice with more than 50 lesion pixels" in rationale
    assert "so the CIs are over 9 patients" in rationale
    assert _requirement("SRS-070")["status"] == "draft"


@pytest.mark.req("SRS-070")
def test_holds_h4_174_d2_the_deviation_says_what_was_compared(recorded: dict) -> None:
    text = _flat(" ".join(run.DEVIATIONS))
    assert "compared the re-run's per-slice figures and summary with 837374b's results.json (identical)" in text
    assert "the verification test recomputes M1 from the fixtures and re-derives the verdict, not the rest" in text
    assert "the verification test compares them with the fixtures" not in text
    # and what it says the lead compared is true
    registered = _results_at(REGISTERED)
    assert recorded["per_slice"] == registered["per_slice"] and recorded["summary"] == registered["summary"]


# === D1: docs and run.py's docstring still say the verification test recomputes "the figures" =======================

DOCS_CLAIM = "`verification/test_data_randomization_control.py` recomputes the figures from the fixtures"
RUN_CLAIM = "recomputes the figures from the fixtures and compares them with results.json"


def _claims_present() -> list[str]:
    docs = _flat((ROOT / "docs" / "explanations.md").read_text(encoding="utf-8"))
    doc = _flat(run.__doc__ or "")
    return [c for c, text in ((DOCS_CLAIM, docs), (RUN_CLAIM, doc)) if c in text]


def _verification_compares_summary() -> bool:
    source = _verification_source()
    return all(key in source for key in ('["m2"]', 'summary"]["m1"]', "difference_m1"))


def _verification_source() -> str:
    return VERIFICATION.read_text(encoding="utf-8")


@pytest.mark.req("SRS-070")
# lead, 2026-12-07: fixed (both texts say what the test recomputes); the xfail mark removed
def test_d1_no_text_says_the_verification_test_recomputes_every_figure() -> None:
    assert _claims_present() == [] or _verification_compares_summary()


@pytest.mark.req("SRS-070")
def test_d1_pin_today_both_texts_claim_it_and_the_test_compares_only_verdict() -> None:
    # lead, 2026-12-07, after the fix: asserts the fixed texts (was: both claims present)
    assert _claims_present() == []
    source = _verification_source()
    assert 'run.summarise(recorded["per_slice"])["verdict"] == recorded["summary"]["verdict"]' in source
    for key in ('["m2"]', "difference_m1", "training_fit", '["ci"]', "lesion_recall_vs_truth"):
        assert key not in source, key
    assert not _verification_compares_summary()


@pytest.mark.req("SRS-070")
def test_d1_control_the_test_does_recompute_per_slice_m1_from_the_fixtures() -> None:
    source = _verification_source()
    assert "gradcam(model" in source and 'recorded["per_slice"]["models"][name]["m1"]' in source
    assert "np.allclose" in source
