"""Independent review 106 (reviewer helper-106) of SRS-043 (the trace gate), status draft, at HEAD 2799843
(``git log -1``; src/device_ai/regulatory/records.py unchanged since 58b178a), after reviews 89-95.
helper-106 wrote none of the gate code, its texts or the earlier tests. Focus: the two commits no
independent reviewer had checked - 7c5410e (after review 95: records.py:127 ``ls-tree --full-tree``,
130-136 only folders (040000) and links (120000) of the commit's models/, 147 NotADirectoryError read as
nothing there) and 58b178a (records.py:77-82 ``_git_bytes`` takes ``stdin``; 91-94 the cat-file batch of
the item comparison goes through it instead of its own subprocess call). Real git work trees under
tmp_path (git 2.39.5, Python 3.11, Linux), end to end through ``trace build`` + ``trace check``.

Clauses probed ("a graph built from item files that differ from the commit (compared by content, ignored
files included) or that does not record whether they do ... warnings, and gaps with --release"):

- A clean repository with other entries in models/ (records.py:130-136, 147): HOLDS. models/README.md,
  .gitkeep, an executable, a link to a file (in and out of the repository), a dangling link, a folder
  without a manifest: --release exits 0, nothing listed, at the repository top and in top/proj; in the
  same repository the model removed is listed and refused (test_h01). _entries_at_head answers exactly
  the folders and links, names with a tab, a space or non-UTF-8 bytes as they are, none of the files,
  from a subfolder too and through models/ committed as a link (test_h08).
- A changed model (records.py:115-136, 169-175): HOLDS. Removed, edited (behind its link), replaced by a
  file, a new model beside it: listed and refused with --release, for a real folder, a model folder
  committed as a link and models/ itself a link, at the top and below it (test_h02; 30 cases).
- The project below the repository top (records.py:127): HOLDS (test_h01, h02, h03, h04, h08 'below'/'sub').
- git failing during the comparison (records.py:77-82, 91-93, 128-129): HOLDS. The cat-file batch
  exiting 128, cut short then exiting 1, timing out, git not found for it, and ls-tree failing: the graph
  records 'not compared'; --release exits 13 with the GRAPH gap only, without it exit 0 and a warning;
  no exception (test_h03). Control: git working, nothing.
- Item files of risk/, traceability/, security/ and submission/ (the wrapper, newer than reviews 89-95):
  HOLDS. Edited, edited and staged, deleted, removed from the index and edited (untracked), the same and
  ignored (.git/info/exclude): listed, --release exits 13 with the GRAPH gap (deleting
  traceability/requirements.yaml makes trace build refuse the project, exit 12); removed from the index
  or ignored with the commit's bytes: not listed (by content; controls), at the top and below (test_h04);
  a new item file in no commit, untracked or ignored, listed (test_h05).
- 58b178a changes no answer: HOLDS. _objects_at_head equals, name by name, the replaced call copied from
  58b178a^ for blobs, trees, links in and out of the tree, dangling, loop, notdir, missing, odd names, at
  the top and in a subfolder, and both are None when cat-file fails (test_h06; negative control: the old
  call without --follow-symlinks differs); ls-tree and hash-object still inherit stdin, the cat-file
  request passes its bytes (test_h07). This file run with records.py of 58b178a^ on PYTHONPATH: 145
  passed (all but test_h08/n1/n2, added later); with records.py of 7c5410e^: 19 failed (review 95's
  defects: h01 files and links in models/, h02 below the top), so the probes see them.

No defect found.

Notes (fail closed; no xfail):
N1 A link loop committed in models/ (models/loop -> loop) is listed on a clean repository (ELOOP is
   _UNREADABLE, records.py:149-150; the loader's glob skips it): a false --release gap. Review 94 N3
   noted loops as conservative; not new. A committed file replaced by such a loop is not listed (test_n1).
N2 A committed model folder without a manifest whose name holds ' blob ' (models/x blob y/) is listed on
   a clean repository: cat-file's '<name> missing' answer is split at the first space (records.py:97,
   102) and read as a blob with the id 'HEAD:./models/x'; a made-up id never equals a real one, so it
   can only list, never hide (test_n2). Older than 7c5410e (the parse of review 93/94).
N3 Outside SRS-043 (SRS-204, approved): the device description's performance_records must be "a file of
   the project" (loader.py:411-415, existence in the work tree); its docstring says "the committed result
   files", and a record only in the work tree is not compared with the commit. Not probed end to end.

Mutation check (one-line edits of the lines 7c5410e and 58b178a changed, in copies /tmp/h106/mut/Mxx/src
on PYTHONPATH, by /tmp/h106/mutate.py, this file; M00 null copy: 150 passed): M01 input=stdin -> None
(79): 132 tests. M02 the request sent empty (91): 132. M03 a failed batch read as an empty answer (92-93):
h03 (18). M04 exit status 1 accepted (82): h03[cat-file-partial] (4). M05 only OSError caught (80):
h03[time-out] (4). M06 no --full-tree (127): 16 (h01, h02, h08 below the top). M07 folders only (134):
h02 model-link (9). M08 links only (134): 28. M09 no mode filter (134): h08, n1[file-replaced-by-it]. M10
NotADirectoryError not caught (147): h01[link-to-file, link-out-of-the-repository]. M11 partition ->
rpartition (132): h08 (tab in a name). M12 type for mode (133): 33. M13 bytes.decode for os.fsdecode
(135): h08. M14 ls-tree failure -> [] (128-129): h03[ls-tree]. M15 answer split on any white space (94):
132. M16 every OSError read as nothing (147): n1[committed]. 16 mutants, 16 killed.

NOT checked: Windows/macOS (core.symlinks false, case-insensitive or NFD file systems); submodules as
model folders, worktrees, sparse checkout, GIT_DIR/GIT_WORK_TREE set (a git hook); a real 30 s time-out
(simulated); git-lfs; names holding a newline (review 94 N1); clauses reviews 89-95 covered that the two
commits did not touch (re-run: reviews 90-95 and tests/regulatory/test_gate.py pass).

Verdict: no open defect in SRS-043's evidence rules as of 2799843; independent review record written
(``trace review SRS-043 --independent``). N1-N3 for the lead's judgement.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from device_ai.cli import main
from device_ai.regulatory import records
from device_ai.regulatory.loader import MODEL_MANIFEST, item_files
from tests.regulatory.miniproject import passing_results, write_results
from tests.regulatory.test_submission_wrapper import wrapper_items
from tests.review.test_review_92 import GRAPH_GAP, MANIFEST, _git, _repo
from tests.review.test_review_93 import _fake_git
from tests.review.test_review_95 import _plain

SEG = MANIFEST  # models/seg-1.0.0/manifest.json
WHERE = ["top", "below"]  # the project at the repository top, or in top/proj


def _listed(root: Path) -> list[str] | str:
    """What trace build (trace.py:52) records for the item files at ``root``."""
    return records.git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST)


def _gate(root: Path, head: str, *, release: bool) -> tuple[int, list[str], list[str], dict]:
    """trace build + trace check (with or without --release) on passing results recorded on ``head``:
    exit code, GAP lines, WARNING lines, the graph."""
    write_results(root, passing_results(), commit=head)
    graph = root / "trace" / "graph.json"
    if graph.exists():
        graph.unlink()
    built = main(["trace", "build", "--root", str(root), "--out", str(graph)])
    if built != 0:  # refused before any graph is written
        return built, [], [], {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["trace", "check", "--root", str(root), "--graph", str(graph), *(["--release"] if release else [])])
    lines = out.getvalue().splitlines()
    return (code, [line for line in lines if line.startswith("GAP")], [line for line in lines if "WARN" in line],
            json.loads(graph.read_text(encoding="utf-8")))


def _project(tmp_path: Path, where: str, *, layout: str = "folder", model: bool = True, change=None,  # noqa: ANN001
             before_commit: Callable[[Path, Path], None] | None = None) -> tuple[Path, Path, str]:
    """The reviewed mini project (model seg committed and assessed when ``model``), at the top of its
    repository or in top/proj; ``layout``: the model folder a real folder, a link to store/seg-1.0.0
    ('model-link') or models/ itself a link to store/ ('models-link'). Returns (project, top, head)."""
    top = tmp_path / "top"
    top.mkdir()
    root = top if where == "top" else top / "proj"
    up = "" if where == "top" else "../"

    def arrange(project: Path) -> None:
        if layout == "model-link":
            (top / "store").mkdir()
            shutil.move(project / "models" / "seg-1.0.0", top / "store" / "seg-1.0.0")
            (project / "models" / "seg-1.0.0").symlink_to(f"../{up}store/seg-1.0.0")
        elif layout == "models-link":
            shutil.move(project / "models", top / "store")
            (project / "models").symlink_to(f"{up}store")
        if before_commit is not None:
            before_commit(project, top)

    root, head = _repo(root, top=top, model=model, change=change, before_commit=arrange)
    assert _git(top, "status", "--porcelain") == ""
    return root, top, head


# --- 7c5410e: entries of models/ at HEAD other than folders and links; the project below the top ----------

EXTRAS = ["README.md", ".gitkeep", "executable", "link-to-file", "dangling-link", "link-out-of-the-repository",
          "folder-without-manifest"]


def _extra(kind: str) -> Callable[[Path, Path], None]:
    def add(project: Path, top: Path) -> None:
        models = project / "models"
        if kind in ("README.md", ".gitkeep"):
            (models / kind).write_text("Model packages, one folder each.\n", encoding="utf-8")
        elif kind == "executable":
            (models / "fetch.sh").write_text("#!/bin/sh\n", encoding="utf-8")
            (models / "fetch.sh").chmod(0o755)
        elif kind == "link-to-file":
            (models / "current").symlink_to("seg-1.0.0/manifest.json")
        elif kind == "dangling-link":
            (models / "old-0.9.0").symlink_to("seg-0.9.0")
        elif kind == "link-out-of-the-repository":
            outside = top.parent / "outside.txt"
            outside.write_text("x\n", encoding="utf-8")
            (models / "outside").symlink_to(outside)
        else:
            (models / "notes").mkdir()
            (models / "notes" / "todo.md").write_text("x\n", encoding="utf-8")
    return add


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("extra", [*EXTRAS, None])  # None: the project as reviewed (control)
def test_h01_a_clean_repository_with_other_entries_in_models_passes_release(tmp_path: Path, where: str,
                                                                            extra: str | None) -> None:
    """records.py:130-136 (7c5410e): only the folders and links of HEAD's models/ give a candidate
    manifest; records.py:147: a file where a folder would be is nothing there. A committed file, an
    executable, a link to a file (in or out of the repository), a dangling link or a folder without a
    manifest in models/ leave a clean project passing --release, at the top and below it. Negative
    control in the same repository: the model folder removed is listed and refused."""
    root, _top, head = _project(tmp_path, where, before_commit=None if extra is None else _extra(extra))
    code, gaps, _, graph = _gate(root, head, release=True)
    assert (code, gaps, graph["head"]["uncommitted_items"]) == (0, [], [])
    shutil.rmtree(root / "models" / "seg-1.0.0")
    code, gaps, _, graph = _gate(root, head, release=True)
    assert graph["head"]["uncommitted_items"] == [SEG]
    assert code == 13 and [gap[:len(GRAPH_GAP)] for gap in gaps] == [GRAPH_GAP], gaps


MODEL_CHANGES = ["removed", "edited", "replaced-by-a-file", "new-model", None]  # None: the control


def _change_model(root: Path, top: Path, layout: str, change: str | None) -> list[str]:
    """Apply ``change`` to model seg (behind its link where it is one); the files expected listed."""
    real = (top / "store" / "seg-1.0.0") if layout != "folder" else root / "models" / "seg-1.0.0"
    if change == "removed":
        if layout == "model-link":
            (root / "models" / "seg-1.0.0").unlink()
        else:
            shutil.rmtree(real)
    elif change == "edited":
        path = real / "manifest.json"
        path.write_text(path.read_text(encoding="utf-8").replace('"clinical_use": false', '"clinical_use": true'),
                        encoding="utf-8")
    elif change == "replaced-by-a-file":
        if layout == "model-link":
            (root / "models" / "seg-1.0.0").unlink()
        else:
            shutil.rmtree(real)
        (root / "models" / "seg-1.0.0").write_text("moved\n", encoding="utf-8")
    elif change == "new-model":
        path = root / "models" / "new-2.0.0" / "manifest.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"name": "new", "version": "2.0.0", "clinical_use": False}), encoding="utf-8")
        return ["models/new-2.0.0/manifest.json"]
    return [] if change is None else [SEG]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("layout", ["folder", "model-link", "models-link"])
@pytest.mark.parametrize("change", MODEL_CHANGES)
def test_h02_a_changed_model_is_listed_and_refused_with_release(tmp_path: Path, where: str, layout: str,
                                                               change: str | None) -> None:
    """records.py:115-136 + 169-175 (ls-tree --full-tree, 7c5410e): a committed model removed, edited
    (behind its link where it is one), replaced by a file, or a new model beside it, is listed, at the
    top and below it, for a real folder, a model folder committed as a link and models/ itself a link;
    --release exits 13 with the GRAPH gap among its gaps (a new model is also an unassessed component).
    Control: unchanged, [] and exit 0."""
    root, top, head = _project(tmp_path, where, layout=layout)
    expected = _change_model(root, top, layout, change)
    code, gaps, _, graph = _gate(root, head, release=True)
    assert graph["head"]["uncommitted_items"] == expected
    if change is None:
        assert (code, gaps) == (0, [])
    else:
        assert code == 13 and any(gap.startswith(GRAPH_GAP) for gap in gaps), gaps


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("cwd", ["", "sub"])
@pytest.mark.parametrize("models", ["models", "linked-models"])
def test_h08_entries_at_head_are_the_folders_and_links_by_their_exact_names(tmp_path: Path, cwd: str,
                                                                           models: str) -> None:
    """records.py:127-136 (7c5410e): the entries of the commit's models/ (or a link to it) are exactly
    its folders and links - names with a tab, a space or bytes that are not UTF-8 kept as they are -
    and none of its files (plain, executable); the same from a subfolder (--full-tree). Control: the
    files are there in the tree ls-tree lists."""
    names = ["seg-1.0.0", "a\tb", "c d", NON_UTF8]
    files = {f"{cwd}/models/{name}/manifest.json".lstrip("/"): "M\n" for name in names}
    files.update({f"{cwd}/models/README.md".lstrip("/"): "r\n", f"{cwd}/models/fetch.sh".lstrip("/"): "x\n"})
    links = {f"{cwd}/models/current".lstrip("/"): "seg-1.0.0", f"{cwd}/models/file-link".lstrip("/"): "README.md",
             f"{cwd}/models/dangling".lstrip("/"): "nowhere", f"{cwd}/linked-models".lstrip("/"): "models"}
    root = _plain(tmp_path / "r", files, links) / cwd
    (root / "models" / "fetch.sh").chmod(0o755)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "executable")
    tree = subprocess.run(["git", "ls-tree", "-z", "--full-tree", "HEAD:./models"], cwd=root, capture_output=True).stdout
    assert b"100644 blob" in tree and b"100755 blob" in tree  # control: the files are committed
    expected = sorted(f"{models}/{name}" for name in [*names, "current", "file-link", "dangling"])
    assert sorted(records._entries_at_head(root, models)) == expected


# --- git failing during the comparison (cat-file batch through _git_bytes since 58b178a) -----------------

FAILURES = ["cat-file-exit-128", "cat-file-partial-then-1", "cat-file-time-out", "cat-file-not-found", "ls-tree",
            None]  # None: the control


def _fail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failing: str) -> None:
    if failing == "cat-file-exit-128":
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "cat-file", "exit 128"))
    elif failing == "cat-file-partial-then-1":  # a batch cut short: half an answer, then a failure
        from tests.review.test_review_93 import REAL_GIT

        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "cat-file", f'"{REAL_GIT}" "$@" | head -c 60; exit 1'))
    elif failing == "ls-tree":
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "ls-tree", "exit 128"))
    else:  # raised by subprocess.run for the cat-file request only
        real = subprocess.run
        error = subprocess.TimeoutExpired("git", 30) if failing == "cat-file-time-out" else FileNotFoundError("git")

        def run(args: Sequence[str], *a, **k):  # noqa: ANN002, ANN003, ANN202
            if "cat-file" in args:
                raise error
            return real(args, *a, **k)

        monkeypatch.setattr(records.subprocess, "run", run)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("release", [True, False])
@pytest.mark.parametrize("failing", FAILURES)
def test_h03_a_git_failure_during_the_comparison_is_not_compared_and_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, release: bool, failing: str | None) -> None:
    """records.py:77-82 + 91-93 (58b178a): the cat-file batch failing (exit status, a cut-short answer
    with a failing status, a time-out, git not found for it) or ls-tree failing is recorded as
    records.NOT_COMPARED: with --release a GRAPH gap (exit 13), without it a warning (exit 0). Never an
    exception, never a silent list. Control: git working: [] and no GRAPH finding."""
    root, _top, head = _project(tmp_path, where)
    if failing is not None:
        _fail(monkeypatch, tmp_path, failing)
    code, gaps, warnings, graph = _gate(root, head, release=release)
    if failing is None:
        assert (code, gaps, graph["head"]["uncommitted_items"]) == (0, [], [])
        assert not [w for w in warnings if "uncommitted items" in w]
        return
    assert graph["head"]["uncommitted_items"] == records.NOT_COMPARED
    if release:
        assert code == 13 and [gap[:len(GRAPH_GAP)] for gap in gaps] == [GRAPH_GAP], gaps
    else:
        assert code == 0 and gaps == [] and [w for w in warnings if "could not be compared" in w], warnings


# --- item files of each folder: edited, staged, untracked, ignored ----------------------------------------

ITEM_FILES = ["risk/plan.yaml", "traceability/requirements.yaml", "security/components.yaml", "submission/gspr.yaml"]
ITEM_STATES = ["edited", "staged", "deleted", "untracked-edited", "ignored-edited", "ignored-unchanged",
               "untracked-unchanged", None]  # the last two and None: controls (same bytes as the commit)


def _wrapper(items: dict) -> None:  # the mini project with the regulatory wrapper's submission/ files
    items.update({path: data for path, data in wrapper_items().items() if path.startswith("submission/")})


def _item_state(top: Path, root: Path, rel: str, state: str | None) -> None:
    path = root / rel
    in_top = os.path.relpath(path, top)
    if state and state.startswith(("untracked", "ignored")):
        _git(top, "rm", "-q", "--cached", "--", in_top)
        if state.startswith("ignored"):
            with (top / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
                exclude.write(f"/{in_top}\n")
    if state == "deleted":
        path.unlink()
    elif state is not None and state.endswith(("edited", "staged")):
        path.write_text(path.read_text(encoding="utf-8") + "# edited, not committed\n", encoding="utf-8")
        if state == "staged":
            _git(top, "add", "--", in_top)
    porcelain = _git(top, "status", "--porcelain", "--ignored", "--untracked-files=all")
    if state in ("untracked-edited", "untracked-unchanged"):
        assert f"?? {in_top}" in porcelain
    elif state in ("ignored-edited", "ignored-unchanged"):
        assert f"!! {in_top}" in porcelain
    elif state == "staged":
        assert f"M  {in_top}" in porcelain


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("rel", ITEM_FILES)
@pytest.mark.parametrize("state", ITEM_STATES)
def test_h04_an_item_file_of_each_folder_is_judged_by_content(tmp_path: Path, where: str, rel: str,
                                                              state: str | None) -> None:
    """records.py:158-195 via trace.py:52: an item file of risk/, traceability/, security/ and
    submission/ (the regulatory wrapper, newer than reviews 89-95) that differs from the commit -
    edited, edited and staged, deleted, removed from the index and edited (untracked), the same and
    ignored - is listed and --release exits 13 with the GRAPH gap (the only gap but for a deleted file); the same bytes as the commit
    (untracked or ignored but unchanged: a dirty status, not a different item) are not listed (controls)."""
    root, top, head = _project(tmp_path, where, model=False, change=_wrapper)
    _item_state(top, root, rel, state)
    code, gaps, _, graph = _gate(root, head, release=True)
    if state in (None, "untracked-unchanged", "ignored-unchanged"):
        assert (code, gaps, graph["head"]["uncommitted_items"]) == (0, [], [])
    else:
        if state == "deleted":  # what the file held is gone too: other gaps beside, or (the
            # requirements, which other items link to) trace build refuses the project (exit 12)
            assert code == 12 if rel == "traceability/requirements.yaml" else (
                graph["head"]["uncommitted_items"] == [rel] and code == 13
                and any(gap.startswith(GRAPH_GAP) for gap in gaps)), (code, gaps)
        else:
            assert graph["head"]["uncommitted_items"] == [rel]
            assert code == 13 and [gap[:len(GRAPH_GAP)] for gap in gaps] == [GRAPH_GAP], gaps


@pytest.mark.req("SRS-043")
# security/assets.yaml was the third case: the mini project holds every security file since the lead's fix of
# review 129 d3, and an empty security/components.yaml is not a file without gaps (the SBOM's components)
@pytest.mark.parametrize("rel", ["submission/gspr.yaml", "submission/iec62304.yaml"])
@pytest.mark.parametrize("ignored", [True, False])
def test_h05_a_new_item_file_in_no_commit_is_listed(tmp_path: Path, rel: str, ignored: bool) -> None:
    """An item file the commit does not hold, new in the work tree (untracked, or ignored), loads and
    is listed; --release exits 13 with the GRAPH gap only. Control: the same project before the file
    (test_h04[None])."""
    root, top, head = _project(tmp_path, "top", model=False)
    if ignored:
        (top / ".git" / "info" / "exclude").write_text(f"/{rel}\n", encoding="utf-8")
    key = {"submission/gspr.yaml": "gspr", "submission/iec62304.yaml": "iec62304"}[rel]
    (root / rel).parent.mkdir(exist_ok=True)
    (root / rel).write_text(f"{key}: []\n", encoding="utf-8")
    code, gaps, _, graph = _gate(root, head, release=True)
    assert graph["head"]["uncommitted_items"] == [rel]
    assert code == 13 and [gap[:len(GRAPH_GAP)] for gap in gaps] == [GRAPH_GAP], gaps


# --- 58b178a: the cat-file batch through _git_bytes answers as the call it replaced ----------------------

def _objects_before_58b178a(root: Path, names: Sequence[str], *, flags: Sequence[str] = ("--follow-symlinks",)
                            ) -> dict[str, tuple[str, str] | None] | None:
    """records._objects_at_head as of 58b178a^ (7c5410e), its own subprocess call, copied verbatim
    (``flags`` lets the negative control drop --follow-symlinks)."""
    request = b"".join(b"HEAD:./" + os.fsencode(name) + b"\n" for name in names)
    try:
        result = subprocess.run(["git", "cat-file", "--batch-check", *flags], cwd=root, input=request,
                                capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    lines = iter(result.stdout.split(b"\n"))
    found: dict[str, tuple[str, str] | None] = {}
    for name in names:
        first, _, rest = next(lines, b"").partition(b" ")
        if first in (b"symlink", b"dangling", b"loop", b"notdir"):
            next(lines, b"")
            found[name] = None
        else:
            kind = rest.split(b" ", 1)[0]
            found[name] = (kind.decode("ascii"), first.decode("ascii")) if kind in (b"blob", b"tree") else None
    return found


NON_UTF8 = os.fsdecode(b"n\xffu-1.0")
NAMES = ["a.yaml", "dir", "dir/b.yaml", "linked.yaml", "linked-dir/b.yaml", "dangling", "loop", "out",
         "a.yaml/notdir", "file-link/x", "missing.yaml", "dir/missing", "with space.yaml", f"{NON_UTF8}.yaml",
         "x blob y.yaml", "models", "models/seg/manifest.json", "models/current/manifest.json"]


def _rich(top: Path) -> Path:
    """A repository whose commit yields each kind of cat-file answer for NAMES (under sub/ as well)."""
    files = {"a.yaml": "a\n", "dir/b.yaml": "b\n", "with space.yaml": "s\n", f"{NON_UTF8}.yaml": "n\n",
             "x blob y.yaml": "x\n", "models/seg/manifest.json": "{}\n"}
    links = {"linked.yaml": "a.yaml", "linked-dir": "dir", "dangling": "nowhere", "loop": "loop",
             "out": "/etc/hostname", "file-link": "a.yaml", "models/current": "seg/manifest.json"}
    return _plain(top, {prefix + name: text for prefix in ("", "sub/") for name, text in files.items()},
                  {prefix + name: target for prefix in ("", "sub/") for name, target in links.items()})


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("cwd", ["", "sub"])
def test_h06_the_cat_file_batch_answers_as_before_58b178a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          cwd: str) -> None:
    """records.py:91 (58b178a): _git_bytes(..., stdin=request) gives the same answer, name by name, as
    the subprocess call it replaced, for blobs, trees, links in and out of the tree, dangling, loop,
    notdir, missing, odd names, at the top and in a subfolder; and None for both when cat-file fails.
    Negative control: the old call without --follow-symlinks answers differently (the comparison can fail)."""
    top = _rich(tmp_path / "r")
    root = top / cwd
    now = records._objects_at_head(root, NAMES)
    assert now == _objects_before_58b178a(root, NAMES)
    assert now["linked.yaml"] == now["a.yaml"] and now["a.yaml"][0] == "blob"  # a sanity check of the probe
    assert [name for name, found in now.items() if found is None] == [
        "dangling", "loop", "out", "a.yaml/notdir", "file-link/x", "missing.yaml", "dir/missing",
        "models/current/manifest.json"]
    assert _objects_before_58b178a(root, NAMES, flags=()) != now  # negative control
    monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "cat-file", "exit 128"))
    assert records._objects_at_head(root, NAMES) is None and _objects_before_58b178a(root, NAMES) is None


@pytest.mark.req("SRS-043")
def test_h07_git_bytes_without_stdin_leaves_stdin_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """records.py:77-79: the other git calls (ls-tree, hash-object) pass input=None, as before 58b178a
    (no stdin argument): subprocess.run is called with the same arguments it was; the cat-file request
    passes its bytes. Control: a recorded call list that is not empty."""
    calls: list[tuple[tuple[str, ...], object]] = []
    real = subprocess.run

    def run(args: Sequence[str], *a, **k):  # noqa: ANN002, ANN003, ANN202
        calls.append((tuple(args[1:3]), k.get("input", "absent")))
        return real(args, *a, **k)

    root = _plain(tmp_path / "r", {SEG: "M\n", "risk/plan.yaml": "p\n"}, {})
    (root / SEG).write_text("edited\n", encoding="utf-8")
    (root / "risk/plan.yaml").write_text("p\r\n", encoding="utf-8")  # not the blob's bytes: hash-object runs
    monkeypatch.setattr(records.subprocess, "run", run)
    assert _listed(root) == [SEG, "risk/plan.yaml"]
    inputs = {args[0]: given for args, given in calls}
    assert set(inputs) >= {"cat-file", "ls-tree", "hash-object"}
    assert inputs["ls-tree"] in (None, "absent") and inputs["hash-object"] in (None, "absent")  # stdin inherited
    requests = [given for args, given in calls if args[0] == "cat-file"]
    assert all(isinstance(given, bytes) for given in requests) and b"HEAD:./models\n" in requests


# --- notes ------------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("loop", ["committed", "file-replaced-by-it", None])  # None: the control
def test_n1_a_link_loop_in_models_is_listed_only_where_the_commit_has_a_link(tmp_path: Path,
                                                                           loop: str | None) -> None:
    """Note N1 (pin): a link loop committed in models/ (models/loop -> loop) is a link entry
    (records.py:134), its candidate manifest cannot be read (ELOOP: _UNREADABLE, records.py:149-150)
    and the commit yields nothing: listed on a clean repository, a false --release gap (fail closed;
    the loader's glob skips it). Review 94 N3 noted loops as conservative; not new in 7c5410e. A
    committed file (models/loop, a plain file) replaced by such a loop in the work tree is not listed:
    the file is no entry (records.py:134) and the glob skips the loop - nothing on either side."""
    files = {SEG: "M\n"} if loop != "file-replaced-by-it" else {SEG: "M\n", "models/loop": "a file\n"}
    root = _plain(tmp_path / "r", files, {"models/loop": "loop"} if loop == "committed" else {})
    if loop == "file-replaced-by-it":
        (root / "models" / "loop").unlink()
        (root / "models" / "loop").symlink_to("loop")
    else:
        assert _git(root, "status", "--porcelain") == ""
    assert "models/loop/manifest.json" not in item_files(root)
    assert _listed(root) == (["models/loop/manifest.json"] if loop == "committed" else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("name", ["x blob y", "x tree y", "plain"])  # the last two: controls
def test_n2_a_model_folder_without_a_manifest_named_with_blob_is_listed(tmp_path: Path, name: str) -> None:
    """Note N2 (pin): cat-file answers a name the commit does not hold with '<name> missing'; records.py:97
    and 102 take the word after the first space as the type, so for models/x blob y/manifest.json (a
    committed folder without a manifest) the answer reads as a blob with the id 'HEAD:./models/x' and the
    path, absent from the work tree, is listed on a clean repository: a false gap, fail closed (a made-up
    id never equals a real one). Not changed by 7c5410e or 58b178a; ' tree ' and other names: not listed."""
    root = _plain(tmp_path / "r", {SEG: "M\n", f"models/{name}/notes.md": "n\n"}, {})
    assert _git(root, "status", "--porcelain") == ""
    assert _listed(root) == ([f"models/{name}/manifest.json"] if name == "x blob y" else [])
