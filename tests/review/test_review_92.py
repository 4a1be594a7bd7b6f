"""Independent review (helper-92) of SRS-043 (the trace gate), status draft, at HEAD 7ed5a3a (the gate's
code and SRS-043's text are those of 4f208fa: ``git diff 4f208fa HEAD -- src/device_ai/regulatory
traceability/requirements.yaml`` is empty), after reviews 89 and 90. helper-92 wrote none of the gate
code, the texts or the earlier tests. Focus: what 4f208fa changed - records.py:72-92 git_uncommitted
(content of each file read against HEAD's blob: git ls-tree -r -z / git hash-object), loader.py:89-94
(MODEL_MANIFEST, item_files), trace.py:50, graph.py:206 (the key always written, None when unknown),
check.py:132-135 (a graph without the key: a warning, a gap with --release) and the text "(compared by
content, ignored files included) or that does not record whether they do". Real git work trees
(tmp_path; git 2.39.5, Python 3.11.7, Linux). Reviews 89 and 90 re-run: 118 passed.

Clause by clause:

- content against HEAD (records.py:78-92): HOLDS for an edited item file, a committed model manifest
  deleted from the work tree (the only one: found through the '.' listing alone), a new manifest under
  an ignored models/, an edit to an assume-unchanged or skip-worktree file (git status clean in both);
  a committed manifest.json.orig and a nested manifest, edited, are not listed (not read); clean: []
  (test_h01, 8 states).
- a project below the top of its repository (cwd = root, records.py:54): HOLDS - ls-tree without
  --full-name names and limits paths relative to the root, hash-object takes them the same way; an edit
  is listed root-relative and a gap with --release (exit 13), an edit to a same-named file above the
  root is not, clean exits 0 (test_h02).
- non-ASCII (UTF-8) names: HOLDS, models/modele-u with accents: [] clean, listed edited and deleted
  (test_h03). But see defect 3 for names that are not UTF-8.
- no commit yet / git not on PATH (records.py:80-81, 54-56): the graph records commit None and
  uncommitted_items None, the rule is silent; ACCEPTABLE - the results cannot name the commit, so no
  run is evidence (evidence.py:31-32) and --release exits 13 on every approved requirement (test_h04,
  control: committed, exit 0).
- cost of the '.' listing (records.py:78-79): 200,000 committed files (git mktree), git_uncommitted
  0.22 s measured (pytest -s -k h05); an edit among them is found (test_h05).
- the sentence (test_h06).
- older graph without the key (check.py:132-135): not re-probed; review 90 test_u05[absent]/u07 kill
  mutant M12 here.

Lead, 2026-12-06: defects 1-3 fixed (records.git_uncommitted: raw bytes against HEAD's blob first,
git hash-object with the filters only for files whose bytes differ, a failing git recorded as
records.NOT_COMPARED and refused like a missing record; a symlink judged by its link text and its
target; only the item folders listed, names decoded with os.fsdecode). The strict xfails are plain
tests, the pins assert the fixed behaviour; test_d1_fixed_... shows NOT_COMPARED at work.

Defects (each a strict xfail beside a passing pin and control):

1. A graph that names its commit but does not record the comparison passes --release. Any git failure
   after rev-parse - ls-tree or hash-object exiting non-zero (records.py:80-81, 88-90), e.g. a required
   clean filter whose command is missing (git-lfs configured, not installed), or the 30 s timeout
   (records.py:54) - becomes None; graph.py:206 writes it beside a known commit; check.py:136-137 treats
   None as "outside git" and says nothing, yet the runs on that commit are evidence. Review 89's O1
   scenario (residual lowered P2->P1 in the work tree after testing, re-reviewed) exits 0 with
   --release. Text: "a graph ... that does not record whether they do ... gaps with --release".
   Control: git working, one GAP GRAPH line, exit 13 (test_d1_a_failed_comparison..., xfail
   test_d1_a_graph_that_does_not_record...). Fix: with --release, None beside a commit is a gap.
2. The code refuses what the text does not say: an item file byte-identical to HEAD's blob (git status
   clean) is listed and a gap with --release, because git hash-object (records.py:88) (a) follows a
   committed symlink (HEAD holds the link text, mode 120000) and (b) applies eol conversion to a blob
   committed with CRLF under core.autocrlf=true (git status keeps a blob with CR). Control: the same
   file regular, LF: [] exit 0 (test_d2_a_committed_unchanged..., xfail test_d2_an_item_file_that...).
3. A file name that is not UTF-8 anywhere in the repository (docs/fixtures/caf\\xe9.txt, read by
   nothing) stops trace build: the '.' listing (records.py:78-79) is decoded strictly (records.py:54)
   and UnicodeDecodeError escapes to the CLI's internal error, exit 70 (cli/__init__.py:71-76); no
   graph, no gate (fail-closed, untyped). A regression of 4f208fa: without at_head the same call
   returns []. Control: an ASCII name, exit 0 (test_d3_a_non_utf8..., xfail test_d3_trace_build...).

Notes (not defects): N1 a clean filter configured locally to return HEAD's copy hides an edit ([]
while git status shows M; test_n1, control unfiltered); git would commit the filtered content too.
N2 a model manifest in a submodule, or under a symlinked models/<name> folder, is listed as "in no
commit" though clean (probed by a scratch script, not a test): conservative, like defect 2.

Mutation check (one-line edits of the changed code in scratch copies /tmp/m92/Mn/src on PYTHONPATH;
tests/review/test_review_92.py): M1 folders without '.' - h01[deleted-only-model], h03[True], d3 (and
the d3 xfail XPASSes); M2 meta.split()[1] - h01[clean] and 20 more; M3 match for fullmatch -
h01[edited-backup-not-read]; M4 present = sorted(wanted) - h01[clean]..; M5 '==' - h01[clean]..; M6
ls-tree failure -> [] - h04[no-commit-yet, git-not-on-path]; M7 ls-tree --full-name - h02 (3); M8
zip(sorted(wanted), ..) - h01[clean]..; M9 hash-object failure -> [] - d1 pin[True]; M10 item_files
without the glob - h01[new-ignored-model]; M11 MODEL_MANIFEST '.+' - h01[edited-nested-not-read]; M12
the absent-key finding always a warning - survives this file, killed by review 90 test_u05[absent] and
test_u07[absent]; M13 'if uncommitted is not None' - h02[clean], h04[committed], d1, d2[regular]; M14
graph.py sorted(uncommitted or []) - h04 (2), d1 pin[True]; M15 trace.py at_head=None - h01[deleted-
only-model], h03; M16 wanted = set(paths) - h01[deleted-only-model], h03; M17 only names in blobs -
h01[deleted-only-model], h03; M18 absent-or-None key a gap/warning (the defect-1 fix shape, too broad)
- h04 (2), d1 pins, and the d1 xfail XPASSes. 18 mutants, 18 killed (17 by this file).

Not checked: Windows/macOS (case-insensitive or NFD file systems, core.ignorecase, CRLF checkouts of
LF blobs - hash-object should normalise those); git-lfs itself (simulated by a failing filter);
sparse-checkout and worktrees; GIT_DIR/GIT_WORK_TREE in the environment; a real 30 s timeout; clauses
reviews 89 and 90 covered (not redone: the change does not touch them).

Verdict: SRS-043 NOT approved; it stays draft (defects 1-3, defect 1 a release passing on an
uncommitted risk file).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from device_ai.cli import main
from device_ai.regulatory import records
from device_ai.regulatory.check import check_graph
from device_ai.regulatory.loader import MODEL_MANIFEST, item_files
from tests.regulatory.miniproject import (
    baseline,
    build,
    default_items,
    passing_results,
    write_project,
    write_results,
)
from tests.review.test_review_89 import GIT, _cli, _no_overall_conclusion, _situations, _text

MANIFEST = "models/seg-1.0.0/manifest.json"
RISK = "risk/hazardous_situations.yaml"
GRAPH_GAP = "GAP GRAPH: uncommitted items"
REVIEW_GAP = "GAP RISK-REVIEW: risk manage"  # as long as GRAPH_GAP (helper-126, SRS-228)


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD").strip()


def _manifest(root: Path, rel: str = MANIFEST, body: str | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body or json.dumps({"name": "seg", "version": "1.0.0", "clinical_use": False}), encoding="utf-8")
    return path


def _assess_model(root: Path) -> None:
    import yaml

    path = root / "security" / "components.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["components"].append({
        "id": "CMP-seg-1.0.0", "name": "seg", "version": "1.0.0", "support_level": "actively-maintained",
        "support_source": "test", "end_of_support": "2099-12-31",
        "vex": {"date": "2026-11-30", "assessor": "Test", "sources": ["test"], "no_known_vulnerability": "none"}})
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def _repo(root: Path, *, top: Path | None = None, change=None, model: bool = False,  # noqa: ANN001
          before_commit=None) -> tuple[Path, str]:  # noqa: ANN001
    """The mini project at ``root``, committed in a git repository whose top is ``top`` (default
    ``root``: the project at the top of its repository); reviewed, so that --release passes once
    passing results are recorded on the returned commit."""
    from tests.regulatory.test_cli_trace import assessed_components

    top = root if top is None else top
    root.mkdir(parents=True, exist_ok=True)
    items = copy.deepcopy(default_items())
    if change is not None:
        change(items)
    write_project(root, items)
    assessed_components(root, ["numpy"])
    (root / "pyproject.toml").write_text('[project]\nname = "device-ai"\ndependencies = ["numpy>=1.26"]\n')
    (top / ".gitignore").write_text("test-results/\ntrace/\n")
    if model:
        _manifest(root)
        _assess_model(root)
    if before_commit is not None:
        before_commit(root)
    subprocess.run(["git", "init", "-q"], cwd=top, check=True)
    baseline(root)
    _git(top, "add", "-A")
    _git(top, "commit", "-q", "-m", "items")
    return root, _head(top)


def _recorded(root: Path) -> list[str] | None:
    """What trace build (trace.py:50) records for the item files at ``root``."""
    return build(root)["head"]["uncommitted_items"]


def _release(capsys: pytest.CaptureFixture[str], root: Path, head: str) -> tuple[int, list[str], dict]:
    write_results(root, passing_results(), commit=head)
    code, out = _cli(capsys, root, "--release")
    graph = json.loads((root / "trace" / "graph.json").read_text(encoding="utf-8"))
    return code, [line for line in out if line.startswith("GAP")], graph


def _append(path: Path, text: str = "\n# edited, not committed\n") -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# --- holds: content against HEAD for edited, deleted, new, ignored, flagged files ------------------------

STATES = ["clean", "edited", "deleted-only-model", "new-ignored-model", "assume-unchanged", "skip-worktree",
          "edited-backup-not-read", "edited-nested-not-read"]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("state", STATES)  # clean and the two *-not-read states: the controls (nothing listed)
def test_h01_each_item_file_is_compared_by_content_with_head(tmp_path: Path, state: str) -> None:
    """records.py:78-92 via trace.py:50: a file read that differs from HEAD's blob is listed,
    whatever git status says of it (ignored, assume-unchanged, skip-worktree); a committed model
    manifest deleted from the work tree (the only one: no models/ path among the files read, so only
    the at_head listing of '.' finds it) is listed; files the loader does not read (a committed
    manifest.json.orig beside the manifest, a nested manifest) are not, edited."""
    def extra(root: Path) -> None:
        _manifest(root, MANIFEST + ".orig", "{}")
        _manifest(root, "models/seg-1.0.0/calibration/manifest.json", "{}")

    root, _ = _repo(tmp_path / "p", model=state != "new-ignored-model", before_commit=extra)
    expected: list[str] = []
    if state == "edited":
        _append(root / RISK)
        expected = [RISK]
    elif state == "deleted-only-model":
        (root / MANIFEST).unlink()
        expected = [MANIFEST]
    elif state == "new-ignored-model":
        _append(root / ".gitignore", "models/\n")
        _manifest(root)
        assert _git(root, "status", "--porcelain") == " M .gitignore\n"  # git status does not show it
        expected = [MANIFEST]
    elif state in ("assume-unchanged", "skip-worktree"):
        _git(root, "update-index", f"--{state}", RISK)
        _append(root / RISK)
        assert _git(root, "status", "--porcelain") == ""  # git status does not show it
        expected = [RISK]
    elif state == "edited-backup-not-read":
        _append(root / (MANIFEST + ".orig"), " ")
    elif state == "edited-nested-not-read":
        _append(root / "models/seg-1.0.0/calibration/manifest.json", " ")
    assert _recorded(root) == expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", ["clean", "edited", "outside-root"])  # clean, outside-root: controls
def test_h02_a_project_below_the_top_of_its_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       where: str) -> None:
    """records.py:79-92 run with cwd = the project root: git ls-tree (without --full-name) names
    files relative to it and is limited to it, hash-object takes paths relative to it, so the paths
    line up. An edit in the project is listed root-relative and a gap with --release; an edit to a
    file of the same name above the project root is not (it is not read)."""
    top = tmp_path / "top"
    top.mkdir()
    (top / "risk").mkdir()
    (top / RISK).write_text("not the project's\n", encoding="utf-8")
    root, head = _repo(top / "device" / "proj", top=top)
    if where == "edited":
        _append(root / RISK)
    elif where == "outside-root":
        _append(top / RISK)
    code, gaps, graph = _release(capsys, root, head)
    assert graph["head"] == {"commit": head, "uncommitted_items": [RISK] if where == "edited" else []}
    assert (code, [g.split(":")[0] + ":" + g.split(":")[1] for g in gaps]) == (
        (13, [GRAPH_GAP]) if where == "edited" else (0, [])), gaps


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edit", [False, True])  # False: the control
def test_h03_a_model_folder_with_a_non_ascii_utf8_name(tmp_path: Path, edit: bool) -> None:
    """ls-tree -z gives names unquoted (records.py:79), Path.glob the same str (loader.py:94): a
    committed models/modèle-ü/manifest.json is [] clean and listed edited or deleted."""
    rel = "models/modèle-ü/manifest.json"
    root, _ = _repo(tmp_path / "p", before_commit=lambda r: _manifest(r, rel))
    assert _recorded(root) == []
    if edit:
        _append(root / rel, " ")
        assert _recorded(root) == [rel]
        (root / rel).unlink()
        assert _recorded(root) == [rel]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["no-commit-yet", "git-not-on-path", "committed"])  # committed: the control
def test_h04_before_the_first_commit_or_without_git_the_record_is_none_and_no_run_is_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """records.py:80-81 (ls-tree HEAD fails) and records.py:54-56 (git not found): the graph
    records commit None and uncommitted_items None; the rule is silent but the results cannot name
    this commit (evidence.py:31-32), so --release refuses every approved requirement (exit 13)."""
    root = tmp_path / "p"
    if how == "committed":
        root, head = _repo(root)
    else:
        _repo(root)
        head = _head(root)
        if how == "no-commit-yet":
            import shutil

            shutil.rmtree(root / ".git")
            subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        else:
            empty = tmp_path / "empty-bin"
            empty.mkdir()
            monkeypatch.setenv("PATH", str(empty))
    code, gaps, graph = _release(capsys, root, head)
    if how == "committed":
        assert graph["head"] == {"commit": head, "uncommitted_items": []} and code == 0, gaps
    else:
        assert graph["head"] == {"commit": None, "uncommitted_items": None}
        assert code == 13 and not any(g.startswith(GRAPH_GAP) for g in gaps)
        assert any(g.startswith("GAP SRS-001: verification") and "no git commit" in g for g in gaps), gaps


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edit", [False, True])  # True: the control (an edit among 200,000 files is found)
def test_h05_a_large_repository_costs_one_tree_listing(tmp_path: Path, edit: bool) -> None:
    """with at_head, records.py:78-79 lists the whole tree at HEAD ('.'); measured here on 200,000
    committed files (git mktree, no work-tree copies): about 0.3 s on this machine, well under the
    30 s git timeout (records.py:54) whose expiry would make the record None (defect 1)."""
    root, _ = _repo(tmp_path / "p")
    blob = _git(root, "hash-object", "-w", "--", "pyproject.toml").strip()
    inner = subprocess.run(["git", "mktree"], cwd=root, capture_output=True, text=True, check=True,
                           input="".join(f"100644 blob {blob}\tf{i}\n" for i in range(1000))).stdout.strip()
    bulk = subprocess.run(["git", "mktree"], cwd=root, capture_output=True, text=True, check=True,
                          input="".join(f"040000 tree {inner}\td{i}\n" for i in range(200))).stdout.strip()
    tree = subprocess.run(["git", "mktree"], cwd=root, capture_output=True, text=True, check=True,
                          input=_git(root, "ls-tree", "HEAD") + f"040000 tree {bulk}\tbulk\n").stdout.strip()
    _git(root, "update-ref", "HEAD", _git(root, "commit-tree", tree, "-p", "HEAD", "-m", "bulk").strip())
    assert _git(root, "ls-tree", "-r", "--name-only", "HEAD").count("\n") > 200_000
    if edit:
        _append(root / RISK)
    start = time.perf_counter()
    listed = records.git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST)
    elapsed = time.perf_counter() - start
    print(f"git_uncommitted over 200,000 files: {elapsed:.3f} s")
    assert listed == ([RISK] if edit else []) and elapsed < 10, elapsed


@pytest.mark.req("SRS-043")
def test_h06_the_text_names_the_comparison_and_the_missing_record() -> None:
    """The sentence SRS-043 gained in 4f208fa (control: a sentence it does not contain)."""
    text = _text("SRS-043")
    assert "a graph built from item files that differ from the commit (compared by content, ignored files " \
           "included) or that does not record whether they do" in text
    assert "compared by git status" not in text


# --- defect 1: a graph that names its commit but records None passes --release ----------------------------

def _lowered_after_testing(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, break_git: bool):
    """Review 89's O1 scenario: RISK-001's committed residual S3 at P2 (unacceptable) fails --release;
    tested clean on that commit, the risk file is lowered to P1 in the work tree and re-reviewed.
    ``break_git``: the model folder is filtered like git-lfs on a machine without git-lfs
    (filter.lfs.required, the clean command not found), so git hash-object fails at records.py:88."""
    def change(items: dict) -> None:
        _no_overall_conclusion(items)
        _situations(items)[0]["residual"]["p1"] = "P2"

    root, head = _repo(tmp_path / "p", change=change, model=True)
    code, gaps, _ = _release(capsys, root, head)
    assert code == 13 and any(g.startswith("GAP RISK-001") for g in gaps), gaps  # what HEAD says
    if break_git:
        _git(root, "config", "filter.lfs.clean", "git-lfs-not-installed clean -- %f")
        _git(root, "config", "filter.lfs.required", "true")
        (root / ".git" / "info" / "attributes").write_text("models/** filter=lfs diff=lfs merge=lfs -text\n")
    path = root / RISK
    path.write_text(path.read_text(encoding="utf-8").replace("p1: P2", "p1: P1"), encoding="utf-8")
    assert main(["trace", "review", "RISK-001", "--by", "Some One", "--independent", "--root", str(root)]) == 0
    code, out = _cli(capsys, root, "--release")
    graph = json.loads((root / "trace" / "graph.json").read_text(encoding="utf-8"))
    assert "p1: P2" in _git(root, "show", f"HEAD:{RISK}")
    return code, [line for line in out if line.startswith("GAP")], graph, head


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("break_git", [True, False])  # False: the control
def test_d1_a_failed_comparison_records_none_and_release_passes_an_uncommitted_risk_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], break_git: bool) -> None:
    """records.py:80-81/88-90 turn any git failure after rev-parse (a required clean filter that
    fails, the 30 s timeout of records.py:54) into None; graph.py:206 records it beside a known
    commit; check.py:136-137 treats None as 'outside git' and says nothing, though the runs on
    that commit are evidence: --release exits 0 on a residual lowered in the work tree only. The
    control, git working, is the one GAP GRAPH line, exit 13. Also at the unit level: a graph with
    a commit and uncommitted_items None is silent with --release (control: [] silent, a list a gap)."""
    code, gaps, graph, head = _lowered_after_testing(tmp_path, capsys, break_git=break_git)
    # Lead, 2026-12-06: defect 1 fixed. The model manifest's bytes are HEAD's blob, so the broken
    # filter is never run for it; the risk file is listed as in the control. A failure of git after
    # rev-parse is recorded as records.NOT_COMPARED and refused (test_d1_fixed_a_failing_filter_...).
    assert graph["head"] == {"commit": head, "uncommitted_items": [RISK, "traceability/reviews.yaml"]}
    # helper-126 (SRS-228): and the clause 9 review record, not complete (no benefit-risk conclusion)
    assert code == 13 and [g[:len(GRAPH_GAP)] for g in gaps] == [GRAPH_GAP, REVIEW_GAP], gaps
    for recorded, listed in ((None, False), ([], False), ([RISK], True), (records.NOT_COMPARED, True)):
        unit = {**graph, "head": {"commit": head, "uncommitted_items": recorded}}
        found = [f for f in check_graph(unit, head=head, release=True).findings if f.item == "GRAPH"]
        assert bool(found) is listed, (recorded, found)


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
def test_d1_a_graph_that_does_not_record_the_comparison_is_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, gaps, _, _ = _lowered_after_testing(tmp_path, capsys, break_git=True)
    assert code == 13 and any(g.startswith(GRAPH_GAP) for g in gaps), gaps


# --- defect 2: a committed, unchanged item file listed as uncommitted --------------------------------------

def _unchanged_committed(tmp_path: Path, how: str) -> tuple[Path, str]:
    def prepare(root: Path) -> None:
        plan = root / "risk" / "plan.yaml"
        if how == "symlink":
            (root / "shared").mkdir()
            (root / "shared" / "plan.yaml").write_bytes(plan.read_bytes())
            plan.unlink()
            plan.symlink_to("../shared/plan.yaml")
        elif how == "crlf-autocrlf":
            plan.write_bytes(plan.read_bytes().replace(b"\n", b"\r\n"))

    root, head = _repo(tmp_path / "p", before_commit=prepare)
    if how == "crlf-autocrlf":
        _git(root, "config", "core.autocrlf", "true")
    assert _git(root, "status", "--porcelain") == ""  # git: nothing differs from HEAD
    return root, head


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["symlink", "crlf-autocrlf", "regular"])  # regular: the control
def test_d2_a_committed_unchanged_item_file_is_listed_and_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
    """records.py:88 hashes with git hash-object: it opens the path (following a committed symlink:
    HEAD's blob is the link text, mode 120000) and applies the eol conversion (core.autocrlf true
    turns the committed CRLF blob to LF; git status, which keeps a blob with CR as it is, is clean).
    Either way risk/plan.yaml, byte for byte what HEAD holds, is 'built from uncommitted changes'
    and --release exits 13. Control: the same file as a regular LF file, [] and exit 0."""
    root, head = _unchanged_committed(tmp_path, how)
    code, gaps, graph = _release(capsys, root, head)
    # Lead, 2026-12-06: defect 2 fixed (raw bytes first, then git's filters; a symlink by its link
    # text and its target): all three unchanged, none listed
    assert graph["head"]["uncommitted_items"] == [] and (code, gaps) == (0, [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["symlink", "crlf-autocrlf"])
# Lead, 2026-12-06: defect 2 fixed; the strict xfail is a plain test.
def test_d2_an_item_file_that_does_not_differ_from_the_commit_is_not_listed(tmp_path: Path, how: str) -> None:
    root, _ = _unchanged_committed(tmp_path, how)
    assert _recorded(root) == []


# --- defect 3: a file name git cannot give as UTF-8 anywhere in the repository stops trace build ----------

def _latin1_name_elsewhere(tmp_path: Path, present: bool) -> Path:
    def fixture(root: Path) -> None:
        folder = root / "docs" / "fixtures"
        folder.mkdir(parents=True)
        name = b"caf\xe9.txt" if present else b"cafe.txt"
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(b"synthetic\n")

    root, _ = _repo(tmp_path / "p", before_commit=fixture)
    return root


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("present", [True, False])  # False: the control, an ASCII name
def test_d3_a_non_utf8_file_name_outside_the_item_files_stops_trace_build(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], present: bool) -> None:
    """records.py:78-79 lists the whole tree ('.') once at_head is given (trace.py:50), decoded as
    text (records.py:54, strict UTF-8): a committed docs/fixtures/caf\\xe9.txt, read by nothing,
    makes git_uncommitted raise UnicodeDecodeError, and trace build exits with the internal error
    (cli/__init__.py:71-76): no graph, so the gate cannot be run at all (fail-closed, no typed
    message). Before 4f208fa (git status with the item pathspecs) the name was never read."""
    root = _latin1_name_elsewhere(tmp_path, present)
    # Lead, 2026-12-06: defect 3 fixed (only the item folders are listed, names decoded as the file
    # system gives them): no error either way
    assert records.git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST) == []
    code = main(["trace", "build", "--root", str(root), "--out", str(root / "trace" / "graph.json")])
    assert code == 0, capsys.readouterr()


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 3 fixed; the strict xfail is a plain test.
def test_d3_trace_build_records_the_comparison_whatever_the_other_file_names(tmp_path: Path) -> None:
    root = _latin1_name_elsewhere(tmp_path, True)
    assert main(["trace", "build", "--root", str(root), "--out", str(root / "trace" / "graph.json")]) == 0
    assert json.loads((root / "trace" / "graph.json").read_text(encoding="utf-8"))["head"]["uncommitted_items"] == []


# --- note N1 (not a defect): the compared content is git's, after the clean filters ------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("filtered", [True, False])  # False: the control, the same edit listed
def test_n1_a_clean_filter_configured_to_return_heads_copy_hides_an_edit(tmp_path: Path, filtered: bool) -> None:
    """records.py:88 runs git hash-object with the attributes' filters (as git add would): a clean
    filter that returns HEAD's copy (local .git/config plus .git/info/attributes, nothing committed)
    makes an edited risk/plan.yaml compare unchanged ([]), though git status, going by size, shows
    it modified. Judged a note: it takes a deliberately configured local filter, and git would
    commit the same filtered content."""
    root, _ = _repo(tmp_path / "p")
    if filtered:
        _git(root, "config", "filter.hide.clean", "git show HEAD:%f")
        (root / ".git" / "info" / "attributes").write_text("risk/plan.yaml filter=hide\n")
    _append(root / "risk" / "plan.yaml")
    assert _git(root, "status", "--porcelain") == " M risk/plan.yaml\n"
    assert _recorded(root) == ([] if filtered else ["risk/plan.yaml"])


# --- Lead, 2026-12-06: the fix of defect 1 at work (git there, a comparison failing) ---------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edited", [True, False])  # False: the control, the file's bytes are HEAD's: no filter runs
def test_d1_fixed_a_failing_filter_on_an_edited_item_file_is_not_compared_and_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], edited: bool) -> None:
    """A required clean filter that cannot run (git-lfs configured, not installed) on the risk file:
    edited, its bytes differ from HEAD's and only git's filter could tell; git fails, the graph
    records NOT_COMPARED, a warning and with --release a gap. Unedited, no filter is needed: []."""
    root, head = _repo(tmp_path / "p")
    _git(root, "config", "filter.lfs.clean", "git-lfs-not-installed clean -- %f")
    _git(root, "config", "filter.lfs.required", "true")
    (root / ".git" / "info" / "attributes").write_text("risk/** filter=lfs diff=lfs merge=lfs -text\n")
    if edited:
        _append(root / "risk" / "plan.yaml")
    code, gaps, graph = _release(capsys, root, head)
    if edited:
        assert graph["head"]["uncommitted_items"] == records.NOT_COMPARED
        assert code == 13 and any(g.startswith(GRAPH_GAP) and "could not be compared" in g for g in gaps), gaps
    else:
        assert graph["head"]["uncommitted_items"] == [] and (code, gaps) == (0, []), gaps
