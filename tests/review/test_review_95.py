"""Independent review 95 (reviewer helper-95) of SRS-043 (the trace gate), status draft, at HEAD 2b2b744
(``git log -1``), after reviews 89, 90, 92, 93 and 94. helper-95 wrote none of the gate code, the texts or
the earlier tests. Focus: what 6ed875c and 2b2b744 changed - records.py:85-108 (_objects_at_head),
records.py:119-129 (_entries_at_head, new in 2b2b744), records.py:135-143 (_work_tree_bytes),
records.py:151-186 (git_uncommitted; the at_head block 162-168 rewritten in 2b2b744). Real git work trees
under tmp_path (git 2.39.5, Python 3.11, Linux, ext4).

Clauses probed ("a graph built from item files that differ from the commit (compared by content, ignored
files included) or that does not record whether they do ... warnings, and gaps with --release"):

- HEAD's model manifests, links followed (records.py:119-129, 162-168), project at the repository top:
  HOLDS for a model folder committed as a link (edited behind the link: listed; removed: listed;
  retargeted to an identical copy: [] by the content rule, to a different manifest: listed), models/
  itself a link, model folder names with a space, ' blob ' and non-UTF-8 bytes (ls-tree -z,
  os.fsdecode/os.fsencode round trip), SHA-256 (test_h01 to test_h04, test_h06); _entries_at_head
  answers [] for models/ missing, a blob, dangling, out of the tree, and the entries of a linked tree.
- git failures on the new path (records.py:122-123, 128-129, 165-166): HOLDS - the models/ request
  failing alone, ls-tree failing, cat-file failing: NOT_COMPARED, never a silent list or an exception
  (test_h07).
- a clean, ordinary repository with a file in models/ (records.py:127-129, 168, 140-143): DEFECT 1.
- a project below the repository top (records.py:128): DEFECT 2.

Lead, 2026-12-06: defects 1 and 2 fixed (records._entries_at_head: ls-tree --full-tree, only the
folders and links of models/ at HEAD; records._work_tree_bytes: NotADirectoryError is nothing there).
The pins assert the fix, the strict xfails are plain tests. Not re-reviewed independently.

Defects (each a strict xfail beside passing pins and controls):

1. Any entry of HEAD's models/ that is not a folder - models/README.md, models/.gitkeep, a link to a file
   - makes a clean, fully committed project fail ``trace check --release`` (exit 13, 'GAP GRAPH:
   uncommitted items: ... models/README.md/manifest.json'). records.py:128-129 list every entry of the
   models tree (ls-tree --name-only, no type filter), records.py:168 turns each into a candidate
   ``models/README.md/manifest.json`` (the regex [^/]+ matches any entry name); cat-file answers 'notdir'
   (None) and the work tree's read raises NotADirectoryError, which records.py:142-143 read as
   _UNREADABLE, so records.py:178-180 list it though nothing differs. A regression of 2b2b744: before it
   (5f684fd records.py:88, 158) ``ls-tree -r`` only yielded real manifests. A false gap on an ordinary
   repository; git status is clean. Pins test_d1_a_file_in_models_is_listed_in_a_clean_repository,
   test_d1_a_models_readme_fails_release_in_a_clean_repository (controls: without the file: [], exit 0);
   strict xfail test_d1_a_clean_repository_with_a_models_readme_passes_release. Fix: keep only entries
   ls-tree reports as trees or links (mode 040000/120000), or read NotADirectoryError as absent in
   _work_tree_bytes (nothing on either side is no difference).
2. In a project below the repository top, a committed model removed from the work tree (a real folder
   or a link) is not listed and --release passes: records.py:128 runs ``git ls-tree -z --name-only <tree
   id>`` with cwd = the project, and ls-tree in a subdirectory restricts its output to that
   subdirectory's path inside the given tree (proj/ inside the models tree: nothing), so
   _entries_at_head answers [] for every project below the top. The mini project in top/proj with model
   seg committed but not assessed: HEAD's graph has GAP CMP-seg (exit 13); its folder removed (git
   status ' D'), uncommitted_items is [] and --release exits 0. A regression of 2b2b744 for real folders
   (5f684fd's ``ls-tree -r HEAD -- models`` takes a cwd-relative pathspec: probed from proj/, it
   names the committed model entry). Review 94's h03 probed the below-top case only for a risk file.
   Pins test_d2_a_model_removed_below_the_top_is_not_listed, test_d2_a_removed_model_below_the_top_passes
   _release (controls: not removed); strict xfail test_d2_a_model_removed_below_the_top_is_listed.
   Fix: ``ls-tree --full-tree`` (mutant M10 applies it: the pins fail, the xfail passes).

Notes (fail closed or exotic):
N1 a model folder committed as a link OUT of the repository (absolute, or ../ past the top) and removed
   from the work tree is not listed (test_n1): the commit yields nothing for it (cat-file 'symlink') and
   the work tree has nothing - consistent with the content rule, though the commit checked out elsewhere
   would read a manifest outside the repository. While the link is there it is listed (review 94 N2).
N2 review 94's N1 (a name holding a newline misaligns cat-file answers) now also reaches model folder
   names coming from ls-tree -z (records.py:89, 168); not re-probed.

Mutation check (one-line edits in copies /tmp/h95/mut/Mxx/src on PYTHONPATH, by /tmp/h95/mutate.py, this
file without the three end-to-end release tests; M00 null copy: 30 passed, 2 xfailed): M01 _entries_at_head
objects None -> [] (123): h07[models-request]. M02 'found[0] != "tree"' -> '== "blob"' (127): SURVIVES,
equivalent (_objects_at_head yields only blob, tree or None). M03 ls-tree of "HEAD:./models" instead of
the resolved id (128): h01, h02[models-folder]. M04 ls-tree failure -> [] (129): h07[ls-tree]. M05
entries None -> [] in git_uncommitted (166): h07[ls-tree, cat-file, models-request]. M06 partition ->
rpartition (163): d1, h04, h06, h07. M07 ls-tree without -z (128): 21 tests (d1, h01-h04, h06, h07).
M08 os.fsdecode -> bytes.decode (129): h01, h04[non-utf8]. M09 the d1 fix (NotADirectoryError read as
absent, 141): the d1 pins. M10 the d2 fix (--full-tree, 128): the d2 pins fail, the d2 xfails XPASS.
10 mutants: 9 killed, 1 equivalent.

NOT checked: Windows/macOS (case-insensitive or NFD file systems, core.symlinks false, core.ignorecase);
submodules as model folders, worktrees, sparse checkout, GIT_DIR/GIT_WORK_TREE; a real git without
--follow-symlinks; a real time-out; git-lfs; clauses the earlier reviews covered that 2b2b744 did not
touch (re-run only); mutants outside the changed lines.

Verdict: SRS-043 is NOT approved; it stays draft (defect 1: a false --release gap on an ordinary
repository with any file directly in models/; defect 2: below the repository top a removed model passes
--release where the commit has a gap).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory import records
from device_ai.regulatory.loader import MODEL_MANIFEST, item_files
from tests.review.test_review_89 import GIT
from tests.review.test_review_92 import GRAPH_GAP, _repo
from tests.review.test_review_93 import _fake_git
from tests.review.test_review_94 import _release

SEG = "models/seg-1.0.0/manifest.json"
NON_UTF8 = os.fsdecode(b"n\xffu-1.0")


def _listed(root: Path) -> list[str] | str:
    return records.git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST)


def _plain(top: Path, files: dict[str, str], links: dict[str, str]) -> Path:
    """A git repository at ``top`` with ``files`` and symbolic ``links`` (name -> target), committed."""
    top.mkdir(parents=True)
    for name, text in files.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text, encoding="utf-8")
    for name, target in links.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).symlink_to(target)
    subprocess.run(["git", "init", "-q"], cwd=top, check=True)
    subprocess.run(["git", "add", "-A"], cwd=top, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "x"], cwd=top, check=True)
    return top


def _readme(root: Path) -> None:
    (root / "models" / "README.md").write_text("Model packages, one folder each.\n", encoding="utf-8")


# --- defect 1 -------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("entry", ["README.md", ".gitkeep", "current", None])  # None: the control
def test_d1_a_file_in_models_is_listed_in_a_clean_repository(tmp_path: Path, entry: str | None) -> None:
    """Defect 1 (pin). records.py:128-129 + 168: every entry of HEAD's models/ gives a candidate
    manifest; for a file (or a link to one) the work tree's read raises NotADirectoryError, read as
    _UNREADABLE (records.py:142-143), and listed though git status is clean. Control: no such entry: []."""
    files = {SEG: '{"name": "seg"}\n'}
    links = {}
    if entry == "current":
        links["models/current"] = "seg-1.0.0/manifest.json"  # a link to a file
    elif entry is not None:
        files[f"models/{entry}"] = "x\n"
    root = _plain(tmp_path / "r", files, links)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout == ""
    # Lead, 2026-12-06: defect 1 fixed (only folders and links of models/ at HEAD; NotADirectoryError
    # is nothing there): nothing listed either way
    assert _listed(root) == []


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("readme", [True, False])  # False: the control
def test_d1_a_models_readme_fails_release_in_a_clean_repository(tmp_path: Path, readme: bool) -> None:
    """Defect 1 (pin, end to end): the reviewed mini project with its model committed; with a
    committed models/README.md --release exits 13 with one GRAPH gap; without it, 0 and no gap."""
    root, head = _repo(tmp_path / "p", model=True, before_commit=_readme if readme else None)
    code, gaps, graph = _release(root, head)
    # Lead, 2026-12-06: defect 1 fixed: a clean project passes with or without the README
    assert (code, gaps, graph["head"]["uncommitted_items"]) == (0, [], [])


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
def test_d1_a_clean_repository_with_a_models_readme_passes_release(tmp_path: Path) -> None:
    root, head = _repo(tmp_path / "p", model=True, before_commit=_readme)
    code, gaps, graph = _release(root, head)
    assert graph["head"]["uncommitted_items"] == []
    assert (code, gaps) == (0, [])


# --- holds ----------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-043")
def test_h01_entries_at_head_follow_links_and_answer_nothing_for_no_folder(tmp_path: Path) -> None:
    """records.py:119-129: the entries of the tree the commit yields for the folder, links followed;
    [] for missing, a blob, a dangling link, a link out of the tree. Control: the real folder's entries."""
    root = _plain(tmp_path / "r", {"store/a b/manifest.json": "1\n", f"store/{NON_UTF8}/manifest.json": "2\n",
                                   "blob": "b\n", "../outside/x/manifest.json": "o\n"},
                  {"linked": "store", "dangling": "nowhere", "out": "../outside"})
    expected = sorted([f"store/a b", f"store/{NON_UTF8}"])
    assert sorted(records._entries_at_head(root, "store")) == expected  # control
    assert sorted(records._entries_at_head(root, "linked")) == [e.replace("store", "linked") for e in expected]
    for nothing in ("missing", "blob", "dangling", "out"):
        assert records._entries_at_head(root, nothing) == [], nothing


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("linked", ["model-folder", "models-folder"])
@pytest.mark.parametrize("edited", [True, False])  # False: the control
def test_h02_a_linked_model_manifest_edited_behind_its_link_is_listed(tmp_path: Path, linked: str,
                                                                      edited: bool) -> None:
    links = {"models/seg-1.0.0": "../store/seg-1.0.0"} if linked == "model-folder" else {"models": "store"}
    root = _plain(tmp_path / "r", {"store/seg-1.0.0/manifest.json": '{"v": 1}\n'}, links)
    if edited:
        (root / "store/seg-1.0.0/manifest.json").write_text('{"v": 2}\n', encoding="utf-8")
    assert _listed(root) == ([SEG] if edited else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("retarget", ["identical", "different", None])  # None: the control
def test_h03_a_linked_model_folder_retargeted_is_judged_by_content(tmp_path: Path, retarget: str | None) -> None:
    root = _plain(tmp_path / "r", {"store/a/manifest.json": "A\n", "store/b/manifest.json": "B\n",
                                   "store/c/manifest.json": "A\n"}, {"models/seg-1.0.0": "../store/a"})
    if retarget is not None:
        link = root / "models/seg-1.0.0"
        link.unlink()
        link.symlink_to("../store/c" if retarget == "identical" else "../store/b")
    assert _listed(root) == ([SEG] if retarget == "different" else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("name", ["seg 1.0", NON_UTF8, "x blob y"])
@pytest.mark.parametrize("removed", [True, False])  # False: the control
def test_h04_odd_model_folder_names_removed_are_listed(tmp_path: Path, name: str, removed: bool) -> None:
    root = _plain(tmp_path / "r", {f"store/{name}/manifest.json": "M\n"}, {f"models/{name}": f"../store/{name}"})
    if removed:
        (root / "models" / name).unlink()
    assert _listed(root) == ([f"models/{name}/manifest.json"] if removed else [])


def _below_top(tmp_path: Path, linked: bool) -> Path:
    """A repository whose project is proj/ (below the top), its model folder a real folder or a link
    out of the project into the repository (../../store)."""
    if linked:
        top = _plain(tmp_path / "top", {"store/seg-1.0.0/manifest.json": "M\n", "proj/keep.txt": "k\n"},
                     {"proj/models/seg-1.0.0": "../../store/seg-1.0.0"})
    else:
        top = _plain(tmp_path / "top", {f"proj/{SEG}": "M\n"}, {})
    return top / "proj"


def _remove(root: Path, linked: bool) -> None:
    if linked:
        (root / "models/seg-1.0.0").unlink()
    else:
        shutil.rmtree(root / "models/seg-1.0.0")


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("linked", [True, False])
@pytest.mark.parametrize("removed", [True, False])  # False: the control
def test_d2_a_model_removed_below_the_top_is_not_listed(tmp_path: Path, linked: bool, removed: bool) -> None:
    """Defect 2 (pin). records.py:128 runs ``git ls-tree <tree id>`` with cwd = the project; in a
    subdirectory ls-tree limits its output to that subdirectory's path inside the given tree, so
    _entries_at_head answers [] for every project below the top, and a removed model (a real folder
    or a link) is in neither list. git status shows it deleted. Control: not removed: []."""
    root = _below_top(tmp_path, linked)
    # Lead, 2026-12-06: defect 2 fixed (ls-tree --full-tree): the commit's model is found, and
    # listed once removed
    assert records._entries_at_head(root, "models") == ["models/seg-1.0.0"]
    if removed:
        _remove(root, linked)
        assert " D " in subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                                       text=True).stdout
    assert _listed(root) == ([SEG] if removed else [])


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 2 fixed; the strict xfail is a plain test.
@pytest.mark.parametrize("linked", [True, False])
def test_d2_a_model_removed_below_the_top_is_listed(tmp_path: Path, linked: bool) -> None:
    root = _below_top(tmp_path, linked)
    _remove(root, linked)
    assert _listed(root) == [SEG]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("removed", [True, False])  # False: the control
def test_d2_a_removed_model_below_the_top_passes_release(tmp_path: Path, removed: bool) -> None:
    """Defect 2 (pin, end to end): the mini project in top/proj with model seg committed but not
    assessed: HEAD's graph has GAP CMP-seg (exit 13); its folder removed, --release exits 0 and
    nothing is recorded as uncommitted."""
    def unassessed(root: Path) -> None:
        path = root / "security" / "components.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["components"] = [c for c in document["components"] if c["id"] != "CMP-seg-1.0.0"]
        path.write_text(yaml.safe_dump(document), encoding="utf-8")

    (tmp_path / "top").mkdir()
    root, head = _repo(tmp_path / "top" / "proj", top=tmp_path / "top", model=True, before_commit=unassessed)
    code, gaps, _ = _release(root, head)
    assert code == 13 and [g[:12] for g in gaps] == ["GAP CMP-seg:"], gaps
    if removed:
        shutil.rmtree(root / "models" / "seg-1.0.0")
    code, gaps, graph = _release(root, head)
    if removed:  # Lead, 2026-12-06: defect 2 fixed: the removal is listed, a GRAPH gap
        assert graph["head"]["uncommitted_items"] == [SEG]
        assert code == 13 and [g[:len(GRAPH_GAP)] for g in gaps] == [GRAPH_GAP], gaps
    else:
        assert code == 13 and [g[:12] for g in gaps] == ["GAP CMP-seg:"], gaps


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("removed", [True, False])  # False: the control
def test_h06_sha256_a_removed_linked_model_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     removed: bool) -> None:
    monkeypatch.setenv("GIT_DEFAULT_HASH", "sha256")
    root = _plain(tmp_path / "r", {"store/seg-1.0.0/manifest.json": "M\n"}, {"models/seg-1.0.0": "../store/seg-1.0.0"})
    assert len(subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()) == 64
    if removed:
        (root / "models/seg-1.0.0").unlink()
    assert _listed(root) == ([SEG] if removed else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("failing", ["ls-tree", "cat-file", "models-request", None])  # None: the control
def test_h07_a_git_failure_on_the_models_path_is_not_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             failing: str | None) -> None:
    root = _plain(tmp_path / "r", {SEG: "M\n"}, {})
    if failing in ("ls-tree", "cat-file"):
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", failing, "exit 128"))
    elif failing == "models-request":  # only the request for models/ itself fails
        real = records._objects_at_head
        monkeypatch.setattr(records, "_objects_at_head",
                            lambda r, names: None if list(names) == ["models"] else real(r, names))
    assert _listed(root) == ([] if failing is None else records.NOT_COMPARED)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("removed", [True, False])
def test_n1_a_model_folder_linked_out_of_the_repository(tmp_path: Path, removed: bool) -> None:
    """Note N1 (pin): the link there: listed (the commit yields nothing for it, the loader reads a
    manifest: review 94 N2); removed: nothing on either side, not listed."""
    root = _plain(tmp_path / "r", {"keep.txt": "k\n", "../store/seg-1.0.0/manifest.json": "M\n"},
                  {"models/seg-1.0.0": str((tmp_path / "store" / "seg-1.0.0").resolve())})
    if removed:
        (root / "models/seg-1.0.0").unlink()
    assert _listed(root) == ([] if removed else [SEG])
