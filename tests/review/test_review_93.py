"""Independent review (helper-93) of SRS-043 (the trace gate), status draft, at HEAD 0d086f5 (the gate's
code and SRS-043's text are those of 3ed9369: ``git diff 3ed9369 HEAD -- src/device_ai/regulatory
traceability/requirements.yaml`` is empty), after reviews 89, 90 and 92. helper-93 wrote none of the
gate code, the texts or the earlier tests. Focus: what 3ed9369 changed - records.py:72-159 (raw bytes
against HEAD's blob, git hash-object only where they differ, NOT_COMPARED, symlinks, ls-tree of the
item folders with os.fsdecode), graph.py:207/222-225 (_recorded), check.py:137-141 (NOT_COMPARED a
warning, a gap with --release). Real git work trees (tmp_path; git 2.39.5, Python 3.11.7, Linux).
Reviews 89, 90 and 92 re-run: 152 passed.

Clause by clause ("a graph built from item files that differ from the commit (compared by content,
ignored files included) or that does not record whether they do ... warnings, and gaps with --release"):

- a committed symlink (records.py:113-123): HOLDS for the item file's own link retargeted, its target
  edited, retargeted to a file in no commit, a regular file replaced by a link and the reverse (all
  listed; clean [], test_h01); a link to nothing or out of the project is listed (test_h02; note N2).
  But see defects 1, 3 and 4.
- a file in no commit (records.py:108-109): HOLDS (test_h07).
- raw bytes first, filters where they differ (records.py:124, 154-158): HOLDS - an LF blob checked out
  CRLF under core.autocrlf is []; a CRLF blob under a committed 'eol=lf' attribute (git status M, git
  hash-object differs) is [] because the bytes read are the blob's; an edit is listed (test_h03). No
  edit hides behind the raw comparison: equal bytes are the commit's content. The reverse (bytes differ,
  git's filters equalise them) hides an edit only through a lossy clean filter: note N1.
- SHA-256 repositories (records.py:101, 145): HOLDS - 64-digit ids, a committed link and a model
  manifest unchanged ([], --release exit 0), an edit and a deletion listed (exit 13) (test_h04).
- NOT_COMPARED (records.py:142-144, 154-157): HOLDS for a failing ls-tree or hash-object, in
  git_uncommitted and in the built graph (test_h05). But see defects 2 and 4: not every failure ends there.
- the graph's states (graph.py:222-225, check.py:132-149): HOLDS - a list sorted, NOT_COMPARED and
  None kept; [] silent; a list, NOT_COMPARED and an absent key a warning, a gap with --release, each in
  its own words; None beside no commit silent (test_h06). None beside a commit: defect 2.
- the sentence (test_t1).

Lead, 2026-12-06: defects 1-4 fixed by judging what the loader reads against what the commit
yields, both with symbolic links followed: records._blobs_at_head asks ``git cat-file
--batch-check --follow-symlinks`` for ``HEAD:./<path>`` (HEAD's own chain, inside the tree), the
work tree is read as the loader reads it (links followed; a folder or a loop is unreadable: listed);
trace.build compares only when git gives the commit and records NOT_COMPARED when git fails after
that (no second rev-parse); an object format git does not report falls back to SHA-1, which can
only make raw ids differ, and then git hash-object decides. The pins now assert the fixed
behaviour and the strict xfails are plain tests. Under this content rule three expectations of h01/
h02 changed: a file replaced by a link to a copy of itself, a link replaced by a copy of its
target, and a committed link to nothing (nothing on either side) read what the commit yields and
are not listed (review 93's N2 called the old listing conservative, not required).

Defects (each a strict xfail beside a passing pin and control):

1. An item file that reads other content than the commit is not listed when a link further along its
   chain is retargeted. records.py:116 compares only the item file's own link text; records.py:119-123
   compare the file the chain resolves to NOW with HEAD's copy of that same path, not with what HEAD's
   chain resolves to. risk/hazardous_situations.yaml -> ../shared/current.yaml -> p2.yaml (HEAD: S3 at
   P2, --release exit 13); shared/current.yaml pointed at the committed p1.yaml (or, the same, a linked
   folder data/current -> v2 pointed at v1): git status shows it, the loader reads P1, uncommitted_items
   is [] and --release exits 0. Control: the same P1 bytes written into HEAD's final target: listed,
   one GRAPH gap, exit 13 (test_d1_a_retargeted_link..., xfail test_d1_an_item_file_that_reads...).
   Fix: compare each link in the chain (its text at HEAD) step by step, or the resolved path at HEAD.
2. A failure of git_uncommitted's own ``rev-parse --verify HEAD`` (records.py:137-138) is taken for
   "outside git": None, though trace.py:49 has just read the commit. The graph names the commit with
   uncommitted_items None, which check.py:136-149 passes in silence, while the runs on that commit are
   evidence: review 89's O1 scenario (residual lowered in the work tree, re-reviewed) exits 0 with
   --release (git failing only that call, simulated by a wrapper on PATH; a time-out or fork failure,
   records.py:54-57, would do the same). Text: a graph "that does not record whether they do" is a gap
   with --release. Control: the real git, exit 13 (test_d2_a_failed_rev_parse..., xfail test_d2_a_graph_
   that_names_a_commit...). Fix: None beside a commit a warning, a gap with --release (check.py), or
   git_uncommitted told the commit.
3. Review 92 defect 2 fixed for a link and for an eol checkout alone, not for both: a committed link
   whose target is an LF blob checked out CRLF (core.autocrlf; git status clean) is listed and a gap
   with --release - records.py:123 passes the target's None up to the link, records.py:155 hashes the
   link's path (git follows it: the target's content) and records.py:158 compares that with the LINK's
   blob. Control: the same checkout as a regular file, [] exit 0 (test_d3_a_link_to_an_eol..., xfail
   test_d3_a_link_whose_target...).
4. What the comparison cannot read stops trace build with the internal error (exit 70, no graph;
   cli/__init__.py:71-76), like review 92 defect 3: a symlink loop behind an item link
   (Path.resolve raises RuntimeError on Python 3.11; records.py:119-120 catch OSError, ValueError),
   a committed item file replaced by a folder (records.py:124 read_bytes: IsADirectoryError; the loader,
   loader.py:190, reads it as absent), and a git that does not know --show-object-format and echoes it
   (as git 2.39 echoes any unknown rev-parse option, exit 0; simulated): records.py:145 takes the echo
   for the algorithm, hashlib.new raises ValueError (records.py:101). Control: the link unchanged, exit 0
   (test_d4_what_the_comparison..., xfail test_d4_trace_build_records...). Fail-closed, untyped.

Notes (not defects): N1 the ident attribute (a committed '*.yaml ident', no driver) lets an edit inside
an expanded '$Id: ... $' compare unchanged (records.py:155; test_n1, control without the attribute
listed) - like review 92's N1, git diff is empty and git would commit the same blob. N2 a committed link
out of the project or to nothing is listed though unchanged ("built from uncommitted changes" is then
inexact; the text does not name it); conservative and deliberate (records.py:121). N3 a failing ls-tree
for a link's target (records.py:122 'or {}') lists the file instead of NOT_COMPARED: conservative.
N4 trace.build(head=...) (API only, no CLI option) outside git records a commit beside None: defect 2's
state by another road.

Mutation check (one-line edits of 3ed9369's code in copies /tmp/h93/mut/Mxx/src on PYTHONPATH, by
/tmp/h93/mutate.py; this file only; M00 sanity - check.py raises - fails 12; M99 null copy: 37 passed,
7 xfailed): M01 new file not a difference (109): h07[True]. M02 deleted not a difference (112): h04[True].
M03 link text not compared (116): h01[link-retargeted]. M04 resolve strict=False (119):
h02[committed-dangling]. M05 link out/dangling not listed (121): h02[dangling, out-of-project]. M06
target's HEAD entry ignored (122): h01[clean], h02[inside], h04, d1 pins (and d1 xfails XPASS). M07
target not compared (123): h01[target-edited], d1 controls, d3 pin (d3 xfail XPASS). M08 no filters,
any byte difference listed (124): h03[lf-blob-crlf-checkout], h05[hash-object], n1, d3 control. M09
always through the filters (124): h03[crlf-blob-eol-lf-attribute], h01[clean], h04, d1. M10 no commit
-> [] (138): d2 pin[True]. M11 at_head folder not listed (141): h04[True]. M12 ls-tree failure -> None
(144): h05[ls-tree]. M13 algorithm fixed to sha1 (145): h04, d4 pin[unknown-object-format]. M14
hash-object failure -> [] (157): h05[hash-object]. M15 '==' for '!=' (158): h03[edited], h01, h05, n1,
d3. M16 NOT_COMPARED not recognised (check.py:137): h06. M17 NOT_COMPARED never a gap (check.py:138):
h06[True]. M18 graph.py:225 sorts NOT_COMPARED into letters: h05, h06. 18 mutants, 18 killed, no survivor.

NOT checked: Windows/macOS (core.symlinks false, case-insensitive or NFD file systems); submodules,
worktrees, sparse checkout, GIT_DIR/GIT_WORK_TREE; real git-lfs and a real 30 s time-out (simulated
failures only); a real older git (defect 4's echo is simulated; the version that added
--show-object-format not verified); hard links; the working-tree-encoding attribute; the real
repository's graph; clauses reviews 89, 90 and 92 covered that 3ed9369 did not touch (re-run only);
mutants outside the changed lines.

Verdict: SRS-043 is NOT approved; it stays draft (defects 1-4; defect 1 and defect 2 each let
--release pass on a risk file the commit does not hold).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from device_ai.cli import main
from device_ai.regulatory import records
from device_ai.regulatory.check import check_graph
from device_ai.regulatory.graph import build_graph
from device_ai.regulatory.loader import MODEL_MANIFEST, item_files, load_project
from tests.review.test_review_89 import GIT, _no_overall_conclusion, _situations, _text
from tests.review.test_review_92 import GRAPH_GAP, REVIEW_GAP, RISK, _append, _git, _head, _release, _repo

PLAN = "risk/plan.yaml"
REAL_GIT = shutil.which("git")


def _listed(root: Path) -> list[str] | str | None:
    """What trace build (trace.py:50) records for the item files at ``root``."""
    return records.git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST)


def _link(path: Path, target: str) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _linked_plan(root: Path) -> None:
    """risk/plan.yaml committed as a symlink to shared/plan.yaml (the same bytes)."""
    plan = root / PLAN
    (root / "shared").mkdir(exist_ok=True)
    (root / "shared" / "plan.yaml").write_bytes(plan.read_bytes())
    _link(plan, "../shared/plan.yaml")


def _fake_git(folder: Path, match: str, action: str) -> str:
    """A ``git`` on PATH that runs ``action`` (shell) when its arguments contain `` match ``, and
    the real git otherwise: a simulated failure (or an older git's answer) of one git call."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "git"
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in\n  *" {match} "*) {action} ;;\nesac\nexec "{REAL_GIT}" "$@"\n',
                       encoding="utf-8")
    wrapper.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def _build(root: Path) -> tuple[int, dict | None]:
    graph = root / "trace" / "graph.json"
    if graph.exists():
        graph.unlink()
    code = main(["trace", "build", "--root", str(root), "--out", str(graph)])
    return code, json.loads(graph.read_text(encoding="utf-8")) if graph.exists() else None


# --- holds: a committed symlink judged by its link text and its target (records.py:113-123) ----------------

LINK_STATES = ["clean", "link-retargeted", "target-edited", "target-untracked", "file-became-link", "link-became-file"]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("state", LINK_STATES)  # clean: the control
def test_h01_a_symlinked_item_file_is_compared_by_its_link_text_and_its_target(tmp_path: Path, state: str) -> None:
    """risk/plan.yaml committed as a link to shared/plan.yaml: its link text changed (to another
    committed file, shared/other.yaml, itself unchanged), its target edited, retargeted to a file in
    no commit, a committed regular file (risk/hazardous_situations.yaml) replaced by a link to a copy
    of itself, the link replaced by a regular copy of its target: each is listed; clean, []."""
    def prepare(root: Path) -> None:
        _linked_plan(root)
        (root / "shared" / "other.yaml").write_bytes((root / "shared" / "plan.yaml").read_bytes() + b"# other\n")

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    expected = [PLAN]
    if state == "link-retargeted":
        _link(root / PLAN, "../shared/other.yaml")
    elif state == "target-edited":
        _append(root / "shared" / "plan.yaml")
    elif state == "target-untracked":
        (root / "shared" / "new.yaml").write_bytes((root / "shared" / "other.yaml").read_bytes())
        _link(root / PLAN, "../shared/new.yaml")
    elif state == "file-became-link":  # Lead, 2026-12-06: the same content read: not listed
        (root / "shared" / "hs.yaml").write_bytes((root / RISK).read_bytes())
        _link(root / RISK, "../shared/hs.yaml")
        expected = []
    elif state == "link-became-file":  # the same content read: not listed
        data = (root / "shared" / "plan.yaml").read_bytes()
        (root / PLAN).unlink()
        (root / PLAN).write_bytes(data)
        expected = []
    else:
        expected = []
    assert _listed(root) == expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["inside", "dangling", "committed-dangling", "out-of-project"])  # inside: control
def test_h02_a_committed_link_to_nothing_or_out_of_the_project_is_listed(tmp_path: Path, how: str) -> None:
    """records.py:118-121: a committed link whose target is gone (deleted from the work tree, or
    never committed), or lies outside the project (a commit does not pin it), is listed, unchanged
    as it is (conservative; see note N2)."""
    def prepare(root: Path) -> None:
        if how == "committed-dangling":
            _link(root / PLAN, "../shared/never.yaml")
        elif how == "out-of-project":
            outside = root.parent / "outside.yaml"
            outside.write_bytes((root / PLAN).read_bytes())
            _link(root / PLAN, str(outside))
        else:
            _linked_plan(root)

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    if how == "dangling":
        (root / "shared" / "plan.yaml").unlink()
    assert _git(root, "status", "--porcelain", "--", PLAN) == ""
    # Lead, 2026-12-06: a committed link to nothing yields nothing on either side: not listed
    assert _listed(root) == ([] if how in ("inside", "committed-dangling") else [PLAN])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("new", [False, True])  # False: the control
def test_h07_an_item_file_in_no_commit_is_listed(tmp_path: Path, new: bool) -> None:
    """records.py:108-109: a second model manifest the loader reads (models/*/manifest.json), in no
    commit, is listed (kills M01; only a link's change reached this line in h01). Control: clean, []."""
    from tests.review.test_review_92 import _manifest

    def prepare(root: Path) -> None:
        _manifest(root)

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    assert _listed(root) == []
    if new:
        _manifest(root, "models/seg-2.0.0/manifest.json")
        assert _listed(root) == ["models/seg-2.0.0/manifest.json"]


# --- holds: raw bytes first, git's filters only where they differ (records.py:124, 154-158) --------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["lf-blob-crlf-checkout", "crlf-blob-eol-lf-attribute", "edited"])  # edited: control
def test_h03_bytes_equal_to_the_blob_or_equal_after_eol_conversion_are_unchanged(tmp_path: Path, how: str) -> None:
    """An LF blob checked out with CRLF (core.autocrlf true, a real checkout): its bytes differ, git
    hash-object normalises them, []. A CRLF blob whose committed .gitattributes now says eol=lf:
    git status shows it modified and git hash-object differs from HEAD's blob, but its bytes are
    the blob's, so the content read is the commit's: []. Control: one line added, listed."""
    def prepare(root: Path) -> None:
        if how == "crlf-blob-eol-lf-attribute":
            (root / PLAN).write_bytes((root / PLAN).read_bytes().replace(b"\n", b"\r\n"))

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    if how == "lf-blob-crlf-checkout":
        _git(root, "config", "core.autocrlf", "true")
        (root / PLAN).unlink()
        _git(root, "checkout", "--", PLAN)
        assert b"\r\n" in (root / PLAN).read_bytes() and _git(root, "status", "--porcelain") == ""
    elif how == "crlf-blob-eol-lf-attribute":
        (root / ".gitattributes").write_text("*.yaml text eol=lf\n", encoding="utf-8")
        subprocess.run([*GIT, "add", ".gitattributes"], cwd=root, check=True)
        subprocess.run([*GIT, "commit", "-q", "-m", "attributes"], cwd=root, check=True)
        assert _git(root, "hash-object", "--", PLAN) != _git(root, "rev-parse", f"HEAD:{PLAN}")
        # git trusts a file whose stat matches its index entry (racy-git rule), so whether status
        # re-reads it under the new attribute depended on the clock (CI of e0dde28 saw ''): moving
        # the mtime on makes git compare content, as it would on any later touch of the file.
        stat = (root / PLAN).stat()
        os.utime(root / PLAN, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        assert _git(root, "status", "--porcelain") == f" M {PLAN}\n"
    else:
        _append(root / PLAN)
    assert _listed(root) == ([PLAN] if how == "edited" else [])


# --- holds: a SHA-256 repository (records.py:99-101, 145) ---------------------------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edit", [False, True])  # False: the control
def test_h04_a_sha256_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch, edit: bool) -> None:
    """git init with GIT_DEFAULT_HASH=sha256 (as --object-format=sha256): blob ids are 64 hex
    digits and records.py:101 hashes with sha256; a committed symlink and a model manifest compare
    unchanged (no git hash-object needed), --release exits 0; an edit and a deletion are listed
    and --release exits 13 with the one GRAPH gap."""
    monkeypatch.setenv("GIT_DEFAULT_HASH", "sha256")

    def prepare(root: Path) -> None:
        _linked_plan(root)

    root, head = _repo(tmp_path / "p", before_commit=prepare, model=True)
    assert _git(root, "rev-parse", "--show-object-format").strip() == "sha256" and len(head) == 64
    if edit:
        _append(root / RISK)
        (root / "models" / "seg-1.0.0" / "manifest.json").unlink()
    expected = [RISK, "models/seg-1.0.0/manifest.json"] if edit else []
    assert _listed(root) == sorted(expected)
    code, gaps, graph = _release(capsys, root, head)
    assert graph["head"]["uncommitted_items"] == sorted(expected)
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == ((13, [GRAPH_GAP]) if edit else (0, [])), gaps


# --- holds: NOT_COMPARED when git fails after the commit is known (records.py:142-144, 154-157) ---------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("failing", ["ls-tree", "hash-object", None])  # None: the control
def test_h05_a_failing_ls_tree_or_hash_object_is_not_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               failing: str | None) -> None:
    """A git whose ls-tree or hash-object exits 1 (simulated by a wrapper on PATH) when the risk
    file was edited: git_uncommitted answers records.NOT_COMPARED, and trace build records it.
    Control: the real git, the edit listed."""
    # Lead, 2026-12-06 (review 94's fix): ls-tree now runs only on a models/ tree at HEAD, so the
    # ls-tree case commits a model manifest first
    from tests.review.test_review_92 import _manifest

    root, _ = _repo(tmp_path / "p", before_commit=_manifest if failing == "ls-tree" else None)
    _append(root / RISK)
    if failing is not None:
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", failing, "exit 1"))
    expected = [RISK] if failing is None else records.NOT_COMPARED
    assert _listed(root) == expected
    assert _build(root)[1]["head"]["uncommitted_items"] == expected


# --- holds: the graph's states in check.py:132-149 and graph.py:207, 222-225 --------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("release", [False, True])
def test_h06_the_states_of_the_record_in_the_gate(tmp_path: Path, release: bool) -> None:
    """build_graph records a list sorted, NOT_COMPARED and None as given (graph.py:222-225); the
    gate says nothing for [] (the control) and None beside no commit; a list and NOT_COMPARED are
    a warning, a gap with --release, each with its own words; an absent key the same."""
    from tests.regulatory.miniproject import HEAD, RUNTIME, write_project

    root = tmp_path / "p"
    write_project(root)
    project = load_project(root)
    graphs = {recorded: build_graph(project, [], head=HEAD, runtime=RUNTIME, uncommitted=given)
              for recorded, given in (("list", ["risk/b.yaml", "risk/a.yaml"]), ("empty", []),
                                      ("not-compared", records.NOT_COMPARED), ("none", None))}
    assert graphs["list"]["head"]["uncommitted_items"] == ["risk/a.yaml", "risk/b.yaml"]
    assert graphs["not-compared"]["head"]["uncommitted_items"] == "not compared"
    assert graphs["none"]["head"]["uncommitted_items"] is None
    graphs["absent"] = {**graphs["empty"], "head": {"commit": HEAD}}
    graphs["none-no-commit"] = {**graphs["none"], "head": {"commit": None, "uncommitted_items": None}}
    section = "gap" if release else "warning"
    expected = {
        "list": f"{section.upper()} GRAPH: uncommitted items: built from uncommitted changes to risk/a.yaml, "
                "risk/b.yaml",
        "not-compared": f"{section.upper()} GRAPH: uncommitted items: the item files could not be compared with "
                        "the commit (git failed",
        "absent": f"{section.upper()} GRAPH: uncommitted items: the graph does not record whether",
    }
    for name, graph in graphs.items():
        lines = [f.line() for f in check_graph(graph, head=graph["head"]["commit"], release=release).findings
                 if f.item == "GRAPH" and f.topic == "uncommitted items"]
        if name in expected:
            assert len(lines) == 1 and lines[0].startswith(expected[name]), (name, lines)
        elif name != "none":  # 'none' beside a commit: defect 2
            assert lines == [], (name, lines)


# --- defect 1: a link in the chain retargeted hides an edit (records.py:118-123) ---------------------------

def _p2_behind_a_link_chain(tmp_path: Path, where: str) -> tuple[Path, str]:
    """RISK-001's residual: HEAD's risk file is a link risk/hazardous_situations.yaml ->
    ../shared/current.yaml -> p2.yaml (S3 at P2, unacceptable), or -> ../data/current/hs.yaml with
    data/current -> v2 (a linked folder). Its P1 version (p1.yaml, data/v1/hs.yaml) is committed
    too, and was the one reviewed: HEAD fails --release."""
    def change(items: dict) -> None:
        _no_overall_conclusion(items)
        _situations(items)[0]["residual"]["p1"] = "P2"

    def prepare(root: Path) -> None:
        p2 = (root / RISK).read_bytes()
        p1 = p2.replace(b"p1: P2", b"p1: P1")
        if where == "link-to-link":
            (root / "shared").mkdir()
            (root / "shared" / "p2.yaml").write_bytes(p2)
            (root / "shared" / "p1.yaml").write_bytes(p1)
            _link(root / "shared" / "current.yaml", "p1.yaml")
            _link(root / RISK, "../shared/current.yaml")
        else:
            for version, data in (("v1", p1), ("v2", p2)):
                (root / "data" / version).mkdir(parents=True)
                (root / "data" / version / "hs.yaml").write_bytes(data)
            _link(root / "data" / "current", "v1")
            _link(root / RISK, "../data/current/hs.yaml")

    root, _ = _repo(tmp_path / "p", change=change, before_commit=prepare)  # reviewed at P1
    if where == "link-to-link":
        _link(root / "shared" / "current.yaml", "p2.yaml")
    else:
        _link(root / "data" / "current", "v2")
    subprocess.run([*GIT, "commit", "-q", "-a", "-m", "P2"], cwd=root, check=True)
    return root, _head(root)


def _lower_to_p1(root: Path, where: str, how: str) -> None:
    if how == "retarget":  # the same link chain, an intermediate link pointed back at the P1 file
        _link(root / "shared" / "current.yaml", "p1.yaml") if where == "link-to-link" else _link(
            root / "data" / "current", "v1")
    else:  # the control: the file HEAD's chain resolves to, edited to the same P1 bytes
        final = root / ("shared/p2.yaml" if where == "link-to-link" else "data/v2/hs.yaml")
        final.write_bytes(final.read_bytes().replace(b"p1: P2", b"p1: P1"))


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", ["link-to-link", "linked-folder"])
@pytest.mark.parametrize("how", ["retarget", "edit-final-target"])  # edit-final-target: the control
def test_d1_a_retargeted_link_in_the_chain_hides_a_lowered_residual(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, how: str) -> None:
    """records.py:116 compares only the item file's own link text, and records.py:119-123 compares
    the file the chain resolves to NOW with HEAD's copy of that same path, not with what HEAD's
    chain resolves to. Retarget an intermediate link (shared/current.yaml, or the folder link
    data/current) from the P2 file to the committed P1 file: git status shows the change, the
    loader reads P1, HEAD's risk file reads P2, and uncommitted_items is []: --release exits 0 on a
    residual no commit holds at risk/hazardous_situations.yaml. Control: the same P1 bytes written
    into the file HEAD's chain resolves to: listed, one GRAPH gap, exit 13."""
    root, head = _p2_behind_a_link_chain(tmp_path, where)
    code, gaps, _ = _release(capsys, root, head)
    assert code == 13 and any(g.startswith("GAP RISK-001: risk: residual risk (S3, P=P2)") for g in gaps), gaps
    _lower_to_p1(root, where, how)
    assert _git(root, "status", "--porcelain") != ""
    final = "shared/p2.yaml" if where == "link-to-link" else "data/v2/hs.yaml"
    assert "p1: P2" in _git(root, "show", f"HEAD:{final}")  # what HEAD's chain reads
    code, gaps, graph = _release(capsys, root, head)
    # Lead, 2026-12-06: defect 1 fixed; both ways listed
    assert graph["head"] == {"commit": head, "uncommitted_items": [RISK]}
    # helper-126 (SRS-228): and the clause 9 review record, not complete (no benefit-risk conclusion)
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == (13, [GRAPH_GAP, REVIEW_GAP]), gaps


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
@pytest.mark.parametrize("where", ["link-to-link", "linked-folder"])
def test_d1_an_item_file_that_reads_other_content_than_the_commit_is_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    root, head = _p2_behind_a_link_chain(tmp_path, where)
    _lower_to_p1(root, where, "retarget")
    code, gaps, graph = _release(capsys, root, head)
    assert graph["head"]["uncommitted_items"] == [RISK]
    assert code == 13 and any(g.startswith(GRAPH_GAP) for g in gaps), gaps


# --- defect 2: a failure of git_uncommitted's own rev-parse records None beside a known commit -------------

def _lowered_in_the_work_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """Review 89's O1 scenario: committed S3 at P2 (a gap with --release), tested on HEAD, lowered to
    P1 in the work tree and re-reviewed (uncommitted)."""
    def change(items: dict) -> None:
        _no_overall_conclusion(items)
        _situations(items)[0]["residual"]["p1"] = "P2"

    root, head = _repo(tmp_path / "p", change=change)
    code, gaps, _ = _release(capsys, root, head)
    assert code == 13 and any(g.startswith("GAP RISK-001") for g in gaps), gaps
    path = root / RISK
    path.write_text(path.read_text(encoding="utf-8").replace("p1: P2", "p1: P1"), encoding="utf-8")
    assert main(["trace", "review", "RISK-001", "--by", "Some One", "--independent", "--root", str(root)]) == 0
    capsys.readouterr()
    return root, head


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("fails", [True, False])  # False: the control
def test_d2_a_failed_rev_parse_in_the_comparison_records_none_beside_the_commit_and_release_passes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fails: bool) -> None:
    """trace.py:49-50 asks git for HEAD (git_head), then git_uncommitted asks again
    (records.py:137-138) and takes any failure of that second rev-parse (a time-out, a fork
    failure: records.py:54-57) for 'outside git': None. The graph then names the commit with
    uncommitted_items None, which check.py:136-149 passes in silence, though the runs on that
    commit are evidence: --release exits 0 on a residual lowered in the work tree only. Simulated
    by a git that fails only 'rev-parse --verify'. Control: the real git, the one GRAPH gap, 13."""
    root, head = _lowered_in_the_work_tree(tmp_path, capsys)
    if fails:
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "--verify", "exit 1"))
    code, gaps, graph = _release(capsys, root, head)
    # Lead, 2026-12-06: defect 2 fixed (no second rev-parse); both ways compared and listed
    assert graph["head"] == {"commit": head, "uncommitted_items": [RISK, "traceability/reviews.yaml"]}
    # helper-126 (SRS-228): and the clause 9 review record, not complete (no benefit-risk conclusion)
    assert code == 13 and [g[:len(GRAPH_GAP)] for g in gaps] == [GRAPH_GAP, REVIEW_GAP], gaps


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 2 fixed; the strict xfail is a plain test.
def test_d2_a_graph_that_names_a_commit_but_records_no_comparison_is_a_gap_with_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root, head = _lowered_in_the_work_tree(tmp_path, capsys)
    monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "--verify", "exit 1"))
    code, gaps, _ = _release(capsys, root, head)
    assert code == 13 and any(g.startswith(GRAPH_GAP) for g in gaps), gaps


# --- defect 3: a committed link whose target is an eol-converted checkout is listed -----------------------

def _crlf_checkout(tmp_path: Path, linked: bool) -> Path:
    root, _ = _repo(tmp_path / "p", before_commit=_linked_plan if linked else None)
    _git(root, "config", "core.autocrlf", "true")
    target = "shared/plan.yaml" if linked else PLAN
    (root / target).unlink()
    _git(root, "checkout", "--", target)
    assert b"\r\n" in (root / target).read_bytes() and _git(root, "status", "--porcelain") == ""
    return root


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("linked", [True, False])  # False: the control, the same checkout as a regular file
def test_d3_a_link_to_an_eol_converted_checkout_is_listed_though_git_status_is_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: bool) -> None:
    """records.py:123 returns the target's None (bytes differ, filters may equalise them) for the
    link itself; records.py:155 then runs git hash-object on the link's path, which hashes the
    target's converted content, and records.py:158 compares that with the LINK's blob (its link
    text): never equal. An LF blob checked out with CRLF under core.autocrlf, reached through a
    committed link, is 'built from uncommitted changes' and a gap with --release, though git status
    is clean - review 92 defect 2 (a symlink; a CRLF/autocrlf checkout), fixed for each alone, not
    for both. Control: the same checkout as a regular file: [], exit 0."""
    root = _crlf_checkout(tmp_path, linked)
    code, gaps, graph = _release(capsys, root, _head(root))
    # Lead, 2026-12-06: defect 3 fixed; linked or not, nothing listed
    assert graph["head"]["uncommitted_items"] == [] and (code, gaps) == (0, []), gaps


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 3 fixed; the strict xfail is a plain test.
def test_d3_a_link_whose_target_git_holds_unchanged_is_not_listed(tmp_path: Path) -> None:
    assert _listed(_crlf_checkout(tmp_path, True)) == []


# --- defect 4: what the comparison cannot read stops trace build (internal error) --------------------------

CRASHES = ["symlink-loop", "directory-for-a-file", "unknown-object-format"]


def _crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str | None) -> Path:
    """risk/benefit.yaml committed as a link to shared/benefit.yaml. symlink-loop: the target made
    a link back (the loader sees no file: loader.py:190); directory-for-a-file: the regular
    risk/plan.yaml replaced by a folder (the same); unknown-object-format: a git that echoes the unknown option,
    as git does for any option it does not know (git 2.39: 'git rev-parse --no-such-option' prints
    it, exit 0), i.e. an older git without --show-object-format (simulated)."""
    def prepare(root: Path) -> None:
        benefit = root / "risk" / "benefit.yaml"
        (root / "shared").mkdir()
        (root / "shared" / "benefit.yaml").write_bytes(benefit.read_bytes())
        _link(benefit, "../shared/benefit.yaml")

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    if how == "symlink-loop":
        _link(root / "shared" / "benefit.yaml", "../risk/benefit.yaml")
    elif how == "directory-for-a-file":
        (root / PLAN).unlink()
        (root / PLAN).mkdir()
    elif how == "unknown-object-format":
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "--show-object-format",
                                             "echo --show-object-format; exit 0"))
    return root


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", [*CRASHES, None])  # None: the control
def test_d4_what_the_comparison_cannot_read_is_an_internal_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str | None) -> None:
    """Exceptions escape git_uncommitted: Path.resolve(strict=True) raises RuntimeError on a loop
    under Python 3.11 (records.py:119 catches OSError and ValueError only); read_bytes raises
    IsADirectoryError (records.py:124); hashlib.new raises ValueError for a format git_uncommitted
    does not check (records.py:145, 101). trace build exits 70 (internal error, cli/__init__.py),
    writes no graph: fail-closed, untyped, like review 92 defect 3. Control: the committed link
    unchanged, exit 0, []."""
    root = _crash(tmp_path, monkeypatch, how)
    code, graph = _build(root)
    err = capsys.readouterr().err
    # Lead, 2026-12-06: defect 4 fixed: no internal error; what cannot be read is listed, an
    # unreported object format falls back to SHA-1 and git hash-object decides (unchanged here)
    assert code == 0 and "internal error" not in err, err
    listed = graph["head"]["uncommitted_items"]
    assert listed == ([] if how in (None, "unknown-object-format") else ([PLAN] if how == "directory-for-a-file"
                                                                         else ["risk/benefit.yaml"])), listed


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 4 fixed; the strict xfail is a plain test.
@pytest.mark.parametrize("how", CRASHES)
def test_d4_trace_build_records_a_comparison_it_cannot_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           how: str) -> None:
    root = _crash(tmp_path, monkeypatch, how)
    code, graph = _build(root)
    recorded = graph["head"]["uncommitted_items"] if code == 0 else None
    if how == "unknown-object-format":  # Lead, 2026-12-06: compared (SHA-1 fallback, hash-object decides): []
        assert recorded == [], (code, recorded)
        return
    assert recorded == records.NOT_COMPARED or (isinstance(recorded, list) and recorded), (code, recorded)


# --- note N1 (not a defect): the ident attribute's clean filter hides an edit inside $Id: ...$ ------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("ident", [True, False])  # False: the control, the same edit listed
def test_n1_an_edit_inside_an_expanded_ident_is_not_listed(tmp_path: Path, ident: bool) -> None:
    """With '*.yaml ident' (a committed .gitattributes, no filter driver), the checkout expands
    '$Id$' to '$Id: <blob> $' and git's clean filter collapses whatever stands between '$Id:' and
    the next '$' on the line: the bytes differ, git hash-object (records.py:155) gives HEAD's blob,
    []. Judged a note, like review 92's N1: git diff is empty and git would commit the same blob."""
    def prepare(root: Path) -> None:
        (root / PLAN).write_bytes((root / PLAN).read_bytes() + b"# $Id$\n")
        if ident:
            (root / ".gitattributes").write_text("*.yaml ident\n", encoding="utf-8")

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    (root / PLAN).unlink()
    _git(root, "checkout", "--", PLAN)
    data = (root / PLAN).read_bytes()
    assert (b"$Id: " in data) is ident
    edited = re.sub(rb"\$Id(: [0-9a-f]+ )?\$", b"$Id: edited, not committed $", data)
    assert edited != data
    (root / PLAN).write_bytes(edited)
    assert _listed(root) == ([] if ident else [PLAN])


# --- the text ------------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-043")
def test_t1_the_text_names_the_content_comparison_and_the_missing_record() -> None:
    """The clause 3ed9369 relies on for NOT_COMPARED (control: words it does not contain)."""
    text = _text("SRS-043")
    assert "differ from the commit (compared by content, ignored files included) or that does not record " \
           "whether they do" in text
    assert "symlink" not in text and "filter" not in text
