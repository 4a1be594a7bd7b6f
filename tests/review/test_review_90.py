"""Independent review (helper-90) of SRS-043 (the trace gate's evidence and risk rules), status draft,
at HEAD 841f4e0 (code and text of ed77ee5, unchanged since: ``git diff ed77ee5 HEAD -- src
traceability/requirements.yaml`` is empty), after review 89. helper-90 wrote none of the gate code,
the texts or the earlier tests. Focus: what ed77ee5 changed - the uncommitted-items rule
(check.py:130-140, records.py:71-77 git_uncommitted, loader.py:86 ITEM_PATHS, trace.py:50,
graph.py:206) and the two text fixes; review 89's clause probes re-run (75 passed, unchanged).
Git work trees are real (tmp_path, review 89's _git_project/_cli); git 2.39.5.

Clause by clause (what changed):

- uncommitted item files, a warning, a gap with --release (check.py:130-140): HOLDS for every file
  the loader names - each of loader.ITEM_FILES, traceability/reviews.yaml and a model manifest,
  edited or created alone, is listed, restored is not (test_u01); staged-not-committed, deleted,
  staged deletion, a staged rename of a model folder (the new path is listed), an untracked new
  model manifest, a path with a space (unquoted) (test_u02, control: clean); the exact lines, two
  files named, [] and an absent key neither warning nor gap (test_u05); the CLI: exit 13 with the
  one GAP GRAPH line for a staged edit, exit 0 and a WARNING without --release, the same edit
  committed and tested passes (test_u04). Edits to a document, pyproject.toml, an untracked
  risk/notes.yaml, a model's weights, an ignored results file are not listed (test_u03, control
  risk/plan.yaml). But see defects 1 and 2.
- outside git (records.py:75-76): the key is absent and the rule silent; ACCEPTABLE, the results
  then carry no commit and no run is evidence (evidence.py:31-32): every approved requirement is a
  gap in both runs, exit 13 (test_u06, control: the same project in git passes).
- hazardous situations but no risk management plan (text fix 1; check.py:180-185): HOLDS, a gap in
  both runs for an empty and a missing risk/plan.yaml, none without situations or with a plan
  (test_b1).
- results on this commit from a dirty or unknown work tree (text fix 2; check.py:293-305,
  evidence.py:26-39): HOLDS - a warning, with --release a gap and not evidence; on another commit
  stale, not evidence, not listed (test_b2, grid dirty True/None/False x HEAD/OTHER; control False).
- the sentence itself (test_the_text_names_the_uncommitted_items_rule).

Lead, 2026-12-06: defects 1 and 2 and O1 fixed (records.git_uncommitted compares each file read, and
each committed manifest matching loader.MODEL_MANIFEST, with HEAD's blob; trace.build passes
loader.item_files; check.py refuses a graph without the key with --release). The strict xfails are
plain tests; the pins of the defects, u02's rename (both names now), u05 (absent key), u06 (key
None outside git) and u07 now assert the fixed behaviour. SRS-043's text names the comparison.

Defects (each a strict xfail beside a passing pin and control):

1. The rule asks git status which item files changed (records.py:74: untracked-and-not-ignored,
   and only what the index reports), not whether the files read differ from the commit. An item file
   in no commit that git status does not show passes --release with uncommitted_items == []: (a) a
   new model manifest under a .gitignore'd models/ - read into the graph as MODEL-seg-1.0.0,
   reviewed, assessed, the rest committed and tested: exit 0; (b) review 89's O1 scenario
   (committed residual S3 at P2, a gap with --release) with risk/hazardous_situations.yaml marked
   --skip-worktree and lowered to P1 in the work tree: exit 0 though HEAD still says P2. Text: "a
   graph built from item files that differ from the commit ... gaps with --release". Control: the
   same manifest untracked and not ignored is the one GAP GRAPH line, exit 13
   (test_d1_item_files_git_status_does_not_show_pass_the_release_gate; xfail
   test_d1_a_graph_built_from_an_item_file_in_no_commit_is_a_gap_with_release[ignored,
   skip-worktree]). Fix: compare each file read with HEAD's blob (git ls-tree/hash-object; catches
   both), or at least add ``git ls-files --others --ignored --exclude-standard`` - or narrow the text.
2. The code refuses what the text does not say: ITEM_PATHS passes ``models/*/manifest.json`` to git
   as a pathspec (loader.py:86, records.py:74), where '*' also matches '/'; the loader's Path.glob
   (loader.py:313) reads one level. An uncommitted edit to models/seg-1.0.0/calibration/manifest.json,
   from which no item is read, is listed and a gap with --release ("built from uncommitted changes
   to ..." is then false). Control: the manifest the loader reads
   (test_d2_an_edit_to_a_nested_manifest...; xfail test_d2_an_edit_to_a_file_the_items_are_not_read_
   from_is_not_a_gap). Fix: ``:(glob)models/*/manifest.json`` (checked by hand: excludes the nested file).

Notes (not defects): N1 a non-ASCII path is listed C-quoted (models/mod\\303\\250le/manifest.json,
records.py:77 strips only the quotes); the gap still fires. N2 a staged rename lists only the new
path. Observation O1: a graph without head.uncommitted_items (written before ed77ee5, or when git
status fails while rev-parse works) is not refused with --release (check.py:132, test_u07) - unlike
results of unknown work-tree state; inside git the current build always writes the key, so the text
is not contradicted; recommended: treat an absent key as unknown (a gap with --release) when the
graph names a commit. O2: other work-tree inputs of the graph are outside "item files" and not
covered: pyproject.toml (runtime requirements, graph.py:70-72), class documents (documents.py:64),
source modules (graph.py:267), evidence hashes (graph.py:273); the text does not claim them.

Mutants: 19 one-line edits of ed77ee5's changed code plus M00 (sanity: _graph_freshness raises, 37
failures) and M99 (null copy: 39 passed, 3 xfailed), each a copy of src/device_ai under
/tmp/h90/mut/Mxx on PYTHONPATH (never src/), by /tmp/h90/mutate.py. Killers in this file (uNN,
dN: the tests named test_uNN_..., test_dN_...):
M01 rule never fires (check.py:133): u02, u03, u04, u05, u07, d1, d2 pin. M02 release/no release
swapped (135): u02, u04, u05, u07, d1. M03 release gap -> warning (136): same. M04 warning -> gap
(139): u02, u04, u05. M05 key misspelt (132): u02-u05, u07, d1, d2. M06 only the first file
listed (134): u05. M07 --untracked-files=no (records.py:74): u01, u02, d1, d2. M08 last pathspec
(models) dropped (74): u01, u02, d1, d2 (d2 xfail XPASS). M09 rename lists the old name (77): u02.
M10 quotes kept (77): u02. M11 outside git [] not None (76): u06. M12 only untracked lines (77):
u01-u04, u07, d2 (pin; xfail XPASS). M13 reviews.yaml dropped (loader.py:86): u01. M14 models
glob dropped (86): u01, u02, d1, d2. M15 last ITEM_FILES entry dropped (86): u01.
M16 never recorded (trace.py:50): u01-u04, u06, u07, d1, d2. M17 only the first path asked (50):
u01-u04, u07, d1, d2. M18 recorded list emptied (graph.py:206): u01-u04, u07, d1, d2.
M19 path cut at 2 not 3 (records.py:77): u01-u04, u07, d1, d2.
Against review 89 + tests/regulatory/test_gate.py alone 7 of 19 survive (M06-M10, M14, M15); with
this file 19 of 19 are killed. No survivor.

NOT checked: the real repository's graph (no trace build/check on it); submodules, worktrees and a
project root below the repository top (paths would be listed relative to the top); core.quotePath,
fsmonitor and other git configuration; git status failing (timeout) while rev-parse works; the
effect of O2's inputs on a verdict; clauses review 89 covered and ed77ee5 did not touch (re-run
only); mutants of check.py outside the rule, evidence.py, results.py; the pytest plugin.

Verdict: SRS-043 is NOT approved (defects 1 and 2); it stays draft.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from device_ai.cli import main
from device_ai.regulatory import loader
from device_ai.regulatory.check import check_graph
from tests.regulatory.miniproject import (
    HEAD,
    OTHER,
    TEST_A,
    build,
    gap_lines,
    gate,
    passing_results,
    write_results,
)
from tests.review.test_review_89 import (
    BOTH,
    GIT,
    _cli,
    _commit,
    _git_project,
    _lines,
    _no_overall_conclusion,
    _project,
    _situations,
    _text,
)

#: every file the loader reads items from, as the loader itself names them (not loader.ITEM_PATHS,
#: which is under test): the item files, the reviews file; model manifests are probed separately
LOADED = (*(spec.path for spec in loader.ITEM_FILES), loader.REVIEWS_FILE.path)
MANIFEST = "models/seg-1.0.0/manifest.json"
GRAPH_TOPIC = "uncommitted items"


def _git(root: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True)


def _uncommitted(root: Path) -> list[str] | None:
    """What trace build records for the item files at ``root`` (None: the key is absent)."""
    return build(root)["head"].get("uncommitted_items")


def _manifest(root: Path, rel: str = MANIFEST, name: str = "seg", version: str = "1.0.0") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": name, "version": version, "clinical_use": False}), encoding="utf-8")
    return path


def _append(path: Path, text: str = "\n# edited, not committed\n") -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _graph_findings(report) -> list[str]:  # noqa: ANN001
    return [f.line() for f in report.findings if f.item == "GRAPH" and f.topic == GRAPH_TOPIC]


def _assess_model(root: Path, name: str = "seg", version: str = "1.0.0") -> None:
    """A complete security/components.yaml entry for a model (so the SBOM rule passes)."""
    path = root / "security" / "components.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["components"].append({
        "id": f"CMP-{name}-{version}", "name": name, "version": version, "support_level": "actively-maintained",
        "support_source": "test", "end_of_support": "2099-12-31",
        "vex": {"date": "2026-11-30", "assessor": "Test", "sources": ["test"], "no_known_vulnerability": "none"}})
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


# --- (a) the uncommitted-items rule: which files it covers ------------------------------------------

@pytest.mark.req("SRS-043")
def test_u01_every_file_the_items_are_read_from_is_listed_when_it_differs(tmp_path: Path) -> None:
    """Each item file (loader.ITEM_FILES), the reviews file and a model manifest: edited (existing)
    or created (absent), each alone, is listed; restored, nothing is (the control, after each)."""
    root, _head = _git_project(tmp_path)
    assert _uncommitted(root) == []  # the control: committed, nothing listed
    assert "risk/hazardous_situations.yaml" in LOADED and "traceability/reviews.yaml" in LOADED
    for rel in (*LOADED, MANIFEST):
        path = root / rel
        existed = path.is_file()
        if rel == MANIFEST:
            _manifest(root)
        elif existed:
            _append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# nothing yet\n", encoding="utf-8")
        assert _uncommitted(root) == [rel], rel
        if existed:
            _git(root, "checkout", "--", rel)
        else:
            path.unlink()
        assert _uncommitted(root) == [], rel


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("state", ["staged", "deleted", "staged-deletion", "renamed-model", "untracked-model",
                                   "space-in-path", "clean"])  # clean: the control
def test_u02_staged_deleted_renamed_untracked_and_spaced_item_files_are_listed(tmp_path: Path, state: str) -> None:
    root, _head = _git_project(tmp_path)
    _manifest(root)
    _commit(root)  # a committed model manifest beside the items
    expected: list[str] = []
    if state == "staged":
        _append(root / "risk/hazardous_situations.yaml")
        _git(root, "add", "risk/hazardous_situations.yaml")
        expected = ["risk/hazardous_situations.yaml"]
    elif state == "deleted":
        (root / "risk/benefit.yaml").unlink()
        expected = ["risk/benefit.yaml"]
    elif state == "staged-deletion":
        _git(root, "rm", "-q", "risk/benefit.yaml")
        expected = ["risk/benefit.yaml"]
    elif state == "renamed-model":
        _git(root, "mv", "models/seg-1.0.0", "models/seg-1.0.1")
        # Lead, 2026-12-06 (after defect 1's fix, a comparison with HEAD): both names, the file now
        # read and the committed one gone
        expected = ["models/seg-1.0.0/manifest.json", "models/seg-1.0.1/manifest.json"]
    elif state == "untracked-model":
        _manifest(root, "models/seg-2.0.0/manifest.json", version="2.0.0")
        expected = ["models/seg-2.0.0/manifest.json"]
    elif state == "space-in-path":
        _manifest(root, "models/my model/manifest.json", name="my", version="0.1.0")
        expected = ["models/my model/manifest.json"]
    graph = build(root)
    assert graph["head"]["uncommitted_items"] == expected, state
    for release in BOTH:
        lines = _graph_findings(check_graph(graph, head=HEAD, release=release))
        assert len(lines) == bool(expected) and all(", ".join(expected) in line for line in lines), (state, lines)
        assert all(line.startswith("GAP" if release else "WARNING") for line in lines)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edit", ["docs/architecture.md", "pyproject.toml", "risk/notes.yaml",
                                  "models/seg-1.0.0/model.onnx", "test-results/extra.json", "risk/plan.yaml"])
def test_u03_an_edit_to_a_file_the_items_are_not_read_from_is_not_listed(tmp_path: Path, edit: str) -> None:
    """A document, pyproject.toml, an untracked YAML beside the risk files, a model's weights beside
    its manifest, an ignored results file: none is an item file. risk/plan.yaml: the control."""
    root, _head = _git_project(tmp_path)
    _manifest(root)
    (root / "models/seg-1.0.0/model.onnx").write_bytes(b"weights")
    _commit(root)
    path = root / edit
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text(encoding="utf-8") if path.is_file() else "") + "\n# changed\n", encoding="utf-8")
    expected = [edit] if edit == "risk/plan.yaml" else []
    graph = build(root)
    assert graph["head"]["uncommitted_items"] == expected
    assert bool(_graph_findings(check_graph(graph, head=HEAD, release=True))) is bool(expected)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("commit_it", [False, True])  # True: the control, the same edit committed and tested
def test_u04_the_cli_lists_a_staged_uncommitted_item_edit_as_a_warning_and_with_release_a_gap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], commit_it: bool) -> None:
    root, head = _git_project(tmp_path)
    write_results(root, passing_results(), commit=head)
    code, out = _cli(capsys, root, "--release")
    assert code == 0, out  # the committed project passes the release gate
    _append(root / "risk/plan.yaml")
    _git(root, "add", "risk/plan.yaml")  # staged, not committed
    if commit_it:
        write_results(root, passing_results(), commit=_commit(root))
    code, out = _cli(capsys, root, "--release")
    gaps = [line for line in out if line.startswith("GAP")]
    if commit_it:
        assert code == 0 and gaps == [], out
        return
    assert code == 13 and gaps == ["GAP GRAPH: uncommitted items: built from uncommitted changes to risk/plan.yaml: "
                                   "not evidence for a release (commit them, then run device-ai trace build again)"]
    code, out = _cli(capsys, root)
    assert code == 0 and "WARNING GRAPH: uncommitted items: built from uncommitted changes to risk/plan.yaml " \
        "(a gap with --release)" in out, out
    assert out[-1] == "trace check: 0 gap(s), 1 open, 1 warning(s)"


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("recorded", [["risk/controls.yaml", "traceability/reviews.yaml"], [], None, "absent"])
def test_u05_the_rule_lists_every_recorded_file_a_warning_and_with_release_a_gap(
        tmp_path: Path, recorded: list[str] | str | None) -> None:
    """Unit level (check.py:130-140): two files, both named; [] and None (not known: outside git) are
    neither warning nor gap. Lead, 2026-12-06 (O1 of this review): an absent key, a graph of an older
    version, is a warning and with --release a gap ("run device-ai trace build")."""
    root = _project(tmp_path)
    graph = build(root, write_results(root, passing_results()))
    graph["head"].pop("uncommitted_items", None)
    if recorded != "absent":
        graph["head"]["uncommitted_items"] = recorded
    development, release = check_graph(graph, head=HEAD), check_graph(graph, head=HEAD, release=True)
    if recorded == "absent":
        older = "uncommitted items: the graph does not record whether its item files match the commit: run device-ai trace build"
        assert _graph_findings(development) == [f"WARNING GRAPH: {older}"]
        assert _graph_findings(release) == [f"GAP GRAPH: {older}"]
        assert development.passed and not release.passed
        return
    if recorded:
        listed = "risk/controls.yaml, traceability/reviews.yaml"
        assert _graph_findings(development) == [
            f"WARNING GRAPH: uncommitted items: built from uncommitted changes to {listed} (a gap with --release)"]
        assert _graph_findings(release) == [
            f"GAP GRAPH: uncommitted items: built from uncommitted changes to {listed}: not evidence for a release "
            "(commit them, then run device-ai trace build again)"]
    else:
        assert _graph_findings(development) == [] and _graph_findings(release) == []
    assert development.passed and release.passed is not bool(recorded)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("in_git", [False, True])  # True: the control, the same project committed
def test_u06_outside_git_the_rule_is_silent_but_no_result_is_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], in_git: bool) -> None:
    """Outside git trace build records no uncommitted_items (records.py:75-76), and the results carry
    no commit: every run is excluded (evidence.py:31-32), so each approved requirement is a gap in
    both runs. The silence is acceptable: nothing built outside git can pass the gate."""
    if in_git:
        root, head = _git_project(tmp_path)
    else:
        root, head = _project(tmp_path), None
        (root / "pyproject.toml").write_text('[project]\nname = "device-ai"\ndependencies = ["numpy>=1.26"]\n')
        from tests.regulatory.test_cli_trace import assessed_components
        assessed_components(root, ["numpy"])
        from tests.regulatory.miniproject import baseline
        baseline(root)
    results = write_results(root, passing_results(), commit=head or HEAD)
    document = json.loads(results.read_text(encoding="utf-8"))
    document["run"]["git"] = {"commit": head, "dirty": False if in_git else None}
    results.write_text(json.dumps(document), encoding="utf-8")
    for extra in ((), ("--release",)):
        code, out = _cli(capsys, root, *extra)
        graph = json.loads((root / "trace" / "graph.json").read_text(encoding="utf-8"))
        assert (graph["head"]["uncommitted_items"] is not None) is in_git  # None: not known
        gaps = [line for line in out if line.startswith("GAP")]
        if in_git:
            assert code == 0 and gaps == [], out
        else:
            assert code == 13, out
            for item in ("SRS-001", "SRS-002"):
                assert any(line.startswith(f"GAP {item}: verification") and "no git commit to compare" in line
                           for line in gaps), (item, out)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("key", ["absent", "present"])  # present: the control
def test_u07_a_graph_without_the_record_older_generator_is_refused(tmp_path: Path, key: str) -> None:
    """Observation O1: a graph written before ed77ee5 (no head.uncommitted_items) of a work tree
    with an uncommitted item edit passed --release; the same graph with the record did not.
    Lead, 2026-12-06: O1 fixed (check.py: an absent key is a gap with --release); both refused."""
    root, _head = _git_project(tmp_path)
    _append(root / "risk/hazardous_situations.yaml")
    graph = build(root, write_results(root, passing_results()))
    assert graph["head"]["uncommitted_items"] == ["risk/hazardous_situations.yaml"]
    if key == "absent":
        del graph["head"]["uncommitted_items"]
    release = check_graph(graph, head=HEAD, release=True)
    assert len(_graph_findings(release)) == 1 and not release.passed
    assert ("does not record" in _graph_findings(release)[0]) is (key == "absent")


# --- (b) the two text fixes of ed77ee5 against check.py ---------------------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize(("plan", "situations"), [("empty", True), ("missing", True), ("empty", False),
                                                  ("keep", True)])  # keep: the control
def test_b1_hazardous_situations_without_a_plan_are_a_gap_in_every_run_as_the_text_says(
        tmp_path: Path, plan: str, situations: bool) -> None:
    """Text: 'there are hazardous situations but no risk management plan to evaluate them
    (risk/plan.yaml without a plan)'; check.py:180-185: a gap in both runs, and only when there are
    situations (an empty plan without situations is no RISK-PLAN gap)."""
    text = _text("SRS-043")
    assert "there are hazardous situations but no risk management plan to evaluate them (risk/plan.yaml " \
        "without a plan)" in text
    def change(items: dict) -> None:
        if not situations:
            items["risk/hazardous_situations.yaml"]["hazardous_situations"] = []
            items["traceability/soup.yaml"]["soup"][0]["related_risks"] = []
    root = _project(tmp_path, change)
    if plan == "empty":
        (root / "risk/plan.yaml").write_text("# to follow\n", encoding="utf-8")
    elif plan == "missing":
        (root / "risk/plan.yaml").unlink()
    expected = plan != "keep" and situations
    for release in BOTH:
        lines = _lines(gate(root, write_results(root, passing_results()), release=release), "RISK-PLAN", "gap")
        assert (lines == ["GAP RISK-PLAN: risk: no risk management plan: hazardous situations cannot be "
                          "evaluated"]) is expected, (release, lines)
        assert bool(lines) is expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("dirty", [True, None, False])  # False: the control
@pytest.mark.parametrize("commit", [HEAD, OTHER])
def test_b2_dirty_or_unknown_results_on_this_commit_are_a_warning_a_gap_with_release_and_then_no_evidence(
        tmp_path: Path, dirty: bool | None, commit: str) -> None:
    """Text: 'Results recorded on this commit from a dirty work tree or from one whose state is
    unknown ... are warnings, and gaps with --release (such results are then not evidence); results
    recorded on another commit are stale, not evidence, and not listed as dirty' (check.py:294-305,
    evidence.py:26-39). SRS-001's only test is in the probed run."""
    text = _text("SRS-043")
    assert "Results recorded on this commit from a dirty work tree or from one whose state is unknown" in text
    assert "results recorded on another commit are stale, not evidence, and not listed as dirty" in text
    root = _project(tmp_path)
    other = write_results(root, {"tests/test_b.py::test_b": ("passed", ["SRS-002"])})
    probed = write_results(root, {TEST_A: ("passed", ["SRS-001"])}, commit=commit, name="test-results/probed.json")
    document = json.loads(probed.read_text(encoding="utf-8"))
    document["run"]["git"]["dirty"] = dirty
    probed.write_text(json.dumps(document), encoding="utf-8")
    listed_expected = commit == HEAD and dirty is not False
    for release in BOTH:
        report = gate(root, other, probed, release=release)
        listed = [f for f in report.findings if f.topic == "dirty work tree"]
        assert bool(listed) is listed_expected, (release, listed)
        assert all(f.section == ("gap" if release else "warning") for f in listed)
        evidence = commit == HEAD and (dirty is False or not release)
        assert (_lines(report, "SRS-001", "gap") == []) is evidence, (release, gap_lines(report))
        if commit == OTHER:
            assert any("stale" in line for line in _lines(report, "SRS-001", "gap"))


# --- defect 1: item files that git status does not show are not listed ------------------------------

def _release_with_an_item_file_no_commit_holds(root: Path, capsys: pytest.CaptureFixture[str],
                                               how: str) -> tuple[int, list[str], dict]:
    """A committed project that passes --release; then an item file outside every commit is read:
    ``ignored``: a new model manifest under a .gitignore'd models/ (reviewed, assessed, the rest
    committed and tested); ``untracked``: the same, not ignored (the control); ``skip-worktree``:
    RISK-001's committed unacceptable residual (P2) lowered to P1 in a file git is told to skip
    (review 89's O1 scenario)."""
    if how == "skip-worktree":
        def change(items: dict) -> None:
            _no_overall_conclusion(items)
            _situations(items)[0]["residual"]["p1"] = "P2"
        root, head = _git_project(root, change)
        write_results(root, passing_results(), commit=head)
        assert _cli(capsys, root, "--release")[0] == 13  # the committed risk file fails the release
        _git(root, "update-index", "--skip-worktree", "risk/hazardous_situations.yaml")
        path = root / "risk/hazardous_situations.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("p1: P2", "p1: P1"), encoding="utf-8")
        assert main(["trace", "review", "RISK-001", "--by", "Some One", "--independent", "--root", str(root)]) == 0
    else:
        root, head = _git_project(root)
        if how == "ignored":
            _append(root / ".gitignore", "models/\n")
        _manifest(root)
        _assess_model(root)
        assert main(["trace", "review", "--all", "--by", "Some One", "--independent", "--root", str(root)]) == 0
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    if how == "untracked":
        _git(root, "rm", "-q", "--cached", MANIFEST)
    subprocess.run([*GIT, "commit", "-q", "-m", "reviews"], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    write_results(root, passing_results(), commit=head)
    code, out = _cli(capsys, root, "--release")
    graph = json.loads((root / "trace" / "graph.json").read_text(encoding="utf-8"))
    committed = subprocess.run(["git", "show", "HEAD:risk/hazardous_situations.yaml"], cwd=root,
                               capture_output=True, text=True).stdout
    assert ("p1: P2" in committed) is (how == "skip-worktree")
    assert not subprocess.run(["git", "ls-files", "models"], cwd=root, capture_output=True, text=True).stdout
    return code, out, graph


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["ignored", "skip-worktree", "untracked"])  # untracked: the control
def test_d1_item_files_git_status_does_not_show_pass_the_release_gate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
    """records.py:74 asks git status (untracked, not ignored): an ignored new model manifest, read
    into the graph (MODEL-seg-1.0.0), and a skip-worktree risk file are in no commit, yet
    uncommitted_items is [] and --release exits 0. The control, the same manifest untracked and not
    ignored, is listed and a gap. Lead, 2026-12-06: defect 1 fixed (records.git_uncommitted compares
    each file read with HEAD's blob): all three are listed and a gap."""
    code, out, graph = _release_with_an_item_file_no_commit_holds(tmp_path, capsys, how)
    if how != "skip-worktree":
        assert any(node["id"] == "MODEL-seg-1.0.0" for node in graph["nodes"])
    listed = "risk/hazardous_situations.yaml" if how == "skip-worktree" else MANIFEST
    assert graph["head"]["uncommitted_items"] == [listed]
    # helper-126 (SRS-228): skip-worktree's project concludes no benefit-risk (_no_overall_conclusion), so
    # the clause 9 review record is not complete either
    review = [x for x in out if x.startswith("GAP RISK-REVIEW:")]
    assert len(review) == (how == "skip-worktree"), out
    assert code == 13 and [x for x in out if x.startswith("GAP") and x not in review] == [
        f"GAP GRAPH: uncommitted items: built from uncommitted changes to {listed}: not evidence for a "
        "release (commit them, then run device-ai trace build again)"], out


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["ignored", "skip-worktree"])
# Lead, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
def test_d1_a_graph_built_from_an_item_file_in_no_commit_is_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
    code, out, graph = _release_with_an_item_file_no_commit_holds(tmp_path, capsys, how)
    assert code != 0 and any(line.startswith("GAP GRAPH: uncommitted items") for line in out), out


# --- defect 2: git's pathspec for the model manifests matches files the loader does not read ---------

def _nested_manifest_listed(root: Path, rel: str) -> tuple[list[str], bool]:
    root, _head = _git_project(root)
    _manifest(root)
    nested = root / rel
    nested.parent.mkdir(parents=True, exist_ok=True)
    if nested.is_file():  # the control: the manifest the loader reads, a field edited
        _append(nested, " ")
    else:
        nested.write_text('{"calibration": 1}\n', encoding="utf-8")
        _commit(root)
        nested.write_text('{"calibration": 2}\n', encoding="utf-8")  # edited, not committed
    graph = build(root, write_results(root, passing_results()))
    read = {node["fields"].get("package") for node in graph["nodes"] if node["id"].startswith("MODEL-")}
    assert read == {"models/seg-1.0.0"}  # the loader reads models/*/manifest.json, one level only
    return graph["head"]["uncommitted_items"], bool(_graph_findings(check_graph(graph, head=HEAD, release=True)))


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("rel", ["models/seg-1.0.0/calibration/manifest.json", "models/seg-1.0.0/manifest.json"])
def test_d2_an_edit_to_a_nested_manifest_the_loader_does_not_read_is_listed_and_a_gap(tmp_path: Path, rel: str) -> None:
    """loader.py:84, :313 vs :86: Path.glob('models/*/manifest.json') reads one level; as a git pathspec
    (records.py:74) '*' also matches '/', so an edit to models/<m>/<sub>/manifest.json is listed and
    a gap with --release, though no item is read from it. The control: the manifest the loader reads.
    Lead, 2026-12-06: defect 2 fixed (the manifests are the files Path.glob reads, and at HEAD those
    matching loader.MODEL_MANIFEST, one folder deep): only the control is listed."""
    listed, gap = _nested_manifest_listed(tmp_path, rel)
    nested = "calibration" in rel
    assert listed == ([] if nested else [rel]) and gap is not nested


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 2 fixed; the strict xfail is a plain test.
def test_d2_an_edit_to_a_file_the_items_are_not_read_from_is_not_a_gap(tmp_path: Path) -> None:
    listed, gap = _nested_manifest_listed(tmp_path, "models/seg-1.0.0/calibration/manifest.json")
    assert listed == [] and not gap


@pytest.mark.req("SRS-043")
def test_the_text_names_the_uncommitted_items_rule() -> None:
    """The ed77ee5 sentence, and review 89's clause controls still in it."""
    text = _text("SRS-043")
    # Lead, 2026-12-06: the sentence after defect 1/2 and O1's fixes names the comparison and an older graph
    assert re.search(r"a graph built from item files that differ from the commit \(compared by content, ignored files "
                     r"included\) or that does not record whether they do, and a curated SOUP version that "
                     r"does not describe the installed one are warnings, and gaps with --release", text), text
    assert "built at another commit" in text and "class-specific document" in text
