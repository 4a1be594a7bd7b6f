"""Independent review 94 (reviewer helper-94) of SRS-043 (the trace gate), status draft, at HEAD 6ed875c
(``git log -1``; the gate's code is that commit's), after reviews 89, 90, 92 and 93. helper-94 wrote none
of the gate code, the texts or the earlier tests. Focus: what 6ed875c changed - records.py:99-121
(_blobs_at_head: ``git cat-file --batch-check --follow-symlinks`` on ``HEAD:./<path>``), records.py:124-136
(_work_tree_bytes), records.py:143-178 (git_uncommitted), trace.py:49-54. Real git work trees under
tmp_path (git 2.39.5, Python 3.11, Linux, ext4). Reviews 89+90+92+93 re-run first: 196 passed (the command
in the brief, without this file); with this file: 228 passed, 1 xfailed (54 s).

Clauses probed ("a graph built from item files that differ from the commit (compared by content, ignored
files included) or that does not record whether they do ... warnings, and gaps with --release"):

- cat-file's answers (records.py:113-120): HOLDS - a blob, a name with a space, with ' blob ' in it
  (a 'missing' answer echoes the name, but only a found blob is '<id> blob <n>'), a non-UTF-8 name
  (os.fsencode, records.py:104), a tree, 'missing', and the two-line symlink/dangling/loop/notdir answers
  are each read against their own name; a name after four two-line answers gets its own blob (test_h01).
  A name holding a newline or ending in CR: note N1.
- HEAD's chain against the work tree's (records.py:104-106, 165-172): HOLDS for a linked parent folder
  of the item path retargeted (listed), a link replaced by a real folder of the same content ([] - the
  content rule), a folder where an item file was (listed), a link dangling on both sides ([]), the
  folder link deleted (every item file behind it listed) (test_h02); a relative link behind a linked
  folder resolves as the kernel resolves it, not lexically, through two linked folders (test_h07);
  SHA-256 ids through a linked folder (test_h05). An absolute link: note N2. Case: not checked (Linux).
- a project below the repository top (HEAD:./, records.py:104): HOLDS - a risk file linked out of the
  project into the repository compares [] and --release exits 0; the target edited is listed, exit 13
  (test_h03). Mutant M01 (HEAD: without ./) fails it.
- git failures (records.py:110-112, 156-157, 161-162, 175; trace.py:51-52): HOLDS - cat-file exiting 1
  or 128, hash-object printing fewer ids than files: NOT_COMPARED, recorded by trace build, one GRAPH gap
  with --release (exit 13) on an edited risk file; a failing --show-object-format falls back to
  SHA-1 and still lists the edit alone (test_h04, test_h06). No path found to a silent list or an
  exception (what cannot be read is _UNREADABLE, records.py:132-135, and listed).
- the model manifests at HEAD (records.py:153-158): DEFECT 1.

Lead, 2026-12-06: defect 1 fixed: the model manifests at HEAD are the entries of models/ as the
commit yields it with links followed (records._entries_at_head: cat-file --follow-symlinks on
HEAD:./models, then ls-tree of that tree), each entry's manifest resolved the same way; the pin
asserts the fix and the strict xfail is a plain test. Notes N1-N5 left as judged.

Defect (a strict xfail beside a passing pin and control):

1. A model folder committed as a symbolic link (models/seg-1.0.0 -> ../store/seg-1.0.0, or models/ itself
   a link) and removed from the work tree is not listed. records.py:155 lists HEAD's manifests with
   ``git ls-tree -r HEAD -- models`` (records.py:88), which does not descend into a committed link, so
   records.py:158 finds no ``models/<name>/manifest.json``; the loader's glob (loader.py:94, 321) does
   follow the link, so HEAD's graph has the model and the work tree's does not. git status shows ' D',
   uncommitted_items is [], and ``trace check --release`` exits 0 where the commit as committed has
   'GAP CMP-seg' (an unassessed model, exit 13). Control: the same model as a real folder, removed:
   listed, one GRAPH gap, exit 13 (test_d1_a_model_folder..., xfail test_d1_a_removed_linked_model...).
   Before 6ed875c the same listing was used: not a regression, but a HEAD-chain/work-tree-chain
   disagreement of the kind the brief names (a linked parent folder). Fix: list HEAD's candidates by
   following links (e.g. ``git cat-file --follow-symlinks`` on HEAD:./models/<name>/manifest.json for
   each entry of HEAD's models/ tree, links included, or ls-tree of the resolved folder).

Notes (not defects, fail closed or need crafted content):
N1 names are sent one a line (records.py:104): a name holding a newline is two requests and every later
   name reads the answer of the one before (pinned: a.yaml gets b.yaml's blob; a.yaml edited to b.yaml's
   committed bytes is then not listed, test_n1); git also strips a trailing CR from a request ('a.yaml\r'
   gets a.yaml's blob, probed by a script). Only an item path with a newline (a model folder name) and
   crafted content hide an edit; ordinary content is listed. Fix: ``cat-file -z`` (git >= 2.38 only).
N2 an absolute link, even into the project, or a link out of the tree answers 'symlink' (None) and is
   listed though unchanged (test_n2, test_h01 out.yaml) - 'built from uncommitted changes' is inexact.
N3 a folder, a link loop or a 'notdir' path unchanged on both sides is listed (_UNREADABLE,
   records.py:168-170; test_h01): conservative; the text does not name these as differences.
N4 the commit compared is 'HEAD' read again, not the commit trace.py:50 recorded; a commit made between
   the two calls gives a graph naming the old commit: a stale-graph gap, fail closed.
N5 hash-object (records.py:174) applies the attributes of the item path, not of its link target's path,
   while HEAD's blob was cleaned with the target's: a false listing or, with a lossy clean filter on the
   link's name only, a hidden edit - not probed (exotic configuration).

Mutation check (one-line edits of 6ed875c's changed lines in copies /tmp/h94/mut/Mxx/src on PYTHONPATH, by
/tmp/h94/mutate.py, this file; M00 sanity - _git raises - fails everything; M99 null copy passes):
M01 HEAD: without ./ (104): h03. M02 no --follow-symlinks (106): h01, h02, h05, h07, n2. M03 second line of
a two-line answer not consumed (117): h01, h02[dangling-both], n2. M04 any answer with a rest taken as a
blob (120): h01, h02, h03, ... M05 cat-file exit status ignored (110): h04[cat-file], h06[True]. M06 OSError
read as absent (135): h01. M07 both-absent listed (169): h01, h02, ... M08 ls-tree failure -> {} (156):
SURVIVES this file, killed by review 93 test_h05[ls-tree]. M09 cat-file failure -> [] (162): h04[cat-file],
h06[True]. M10 algorithm fixed to sha1 (164): SURVIVES everything (equivalent by design: raw ids then
differ and hash-object decides; only slower). M11 '==' for '!=' raw (171): h01, h02, h03, h04, h07. M12
hash-object count not checked (175): h04[hash-object-short]. M13 '==' after hash-object (177): h01, h02,
h03, h04. M14 trace.py:52 [] instead of None outside git: SURVIVES this file, killed by review 92
test_h04[no-commit-yet]. M15 loop/notdir read as one-line answers (116): h01. M16 the two handlers
swapped, every OSError read as absent (132-134): h01. 16 mutants: 13 killed here, 2 killed by reviews 92/93, 1 equivalent.

NOT checked: Windows/macOS (core.symlinks false, case-insensitive or NFD file systems, core.ignorecase);
submodules, worktrees, sparse checkout, GIT_DIR/GIT_WORK_TREE; a real git < 2.38 or one without
--show-object-format (simulated failure only); a real 30 s time-out; git-lfs; hard links; N5; the real
repository's graph; clauses reviews 89, 90, 92 and 93 covered that 6ed875c did not touch (re-run only);
mutants outside the changed lines.

Verdict: SRS-043 is NOT approved; it stays draft (defect 1 lets --release pass on a graph the commit does
not yield; notes N1-N5 for the lead's judgement).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from device_ai.cli import main
from device_ai.regulatory import records
from device_ai.regulatory.loader import ITEM_PATHS
from tests.regulatory.miniproject import passing_results, write_results
from tests.review.test_review_89 import GIT, _no_overall_conclusion
from tests.review.test_review_92 import GRAPH_GAP, MANIFEST, REVIEW_GAP, RISK, _append, _git, _repo
from tests.review.test_review_93 import _build, _fake_git, _link, _listed


def _release(root: Path, head: str) -> tuple[int, list[str], dict]:
    """trace build + trace check --release on passing results recorded on ``head``."""
    import json

    write_results(root, passing_results(), commit=head)
    graph = root / "trace" / "graph.json"
    assert main(["trace", "build", "--root", str(root), "--out", str(graph)]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["trace", "check", "--root", str(root), "--graph", str(graph), "--release"])
    return code, [line for line in out.getvalue().splitlines() if line.startswith("GAP")], json.loads(
        graph.read_text(encoding="utf-8"))


def _plain_repo(top: Path, files: dict[str, bytes | str], links: dict[str, str]) -> Path:
    """A git repository at ``top`` holding ``files`` (bytes) and symbolic ``links`` (name -> target), committed."""
    top.mkdir(parents=True)
    for name, data in files.items():
        path = top / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    for name, target in links.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).symlink_to(target)
    subprocess.run(["git", "init", "-q"], cwd=top, check=True)
    _git(top, "add", "-A")
    subprocess.run([*GIT, "commit", "-q", "-m", "x"], cwd=top, check=True)
    return top


NON_UTF8 = os.fsdecode(b"n\xffu.yaml")
# name -> (HEAD yields a blob?, listed although unchanged?)
ANSWERS = {
    "plain.yaml": (True, False),
    "sp ace.yaml": (True, False),
    "x blob y.yaml": (True, False),  # a 'missing' answer would echo the name: 'HEAD:./x blob y.yaml missing'
    NON_UTF8: (True, False),
    "out.yaml": (False, True),  # 'symlink <n>' + the link text: a link out of the tree (note N2)
    "dangling.yaml": (False, False),  # 'dangling <n>' + the path: nothing on either side
    "loop1.yaml": (False, True),  # 'loop <n>' + the path; unreadable in the work tree (note N3)
    # Lead, 2026-12-06 (review 95 defect 1's fix): NotADirectoryError is nothing there, as 'notdir'
    # at HEAD: nothing on either side, not listed
    "plain.yaml/notdir": (False, False),  # 'notdir <n>' + the path
    "folder": (False, True),  # '<id> tree <n>'; a folder is unreadable (N3)
    "missing.yaml": (False, False),  # '<name> missing'
    "z-last.yaml": (True, False),  # after every two-line answer: still its own blob
}


def _answers_repo(tmp_path: Path) -> Path:
    return _plain_repo(tmp_path / "r", {"plain.yaml": "P\n", "sp ace.yaml": "S\n", "x blob y.yaml": "X\n",
                                        NON_UTF8: "N\n", "folder/f.yaml": "F\n", "z-last.yaml": "Z\n",
                                        "../outside.yaml": "O\n"},
                       {"out.yaml": "../outside.yaml", "dangling.yaml": "nothing.yaml", "loop1.yaml": "loop2.yaml",
                        "loop2.yaml": "loop1.yaml"})


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edited", [None, "plain.yaml", "sp ace.yaml", "x blob y.yaml", NON_UTF8, "z-last.yaml"],
                         ids=["control", "plain", "space", "blob-in-name", "non-utf8", "after-two-line-answers"])
def test_h01_each_batch_check_answer_is_read_for_its_own_name(tmp_path: Path, edited: str | None) -> None:
    """records.py:99-121: git cat-file --batch-check --follow-symlinks answers one line for a blob,
    a tree and 'missing', two for symlink/dangling/loop/notdir; every answer is read against its own
    name (the name after four two-line answers gets its own blob), a name with a space, with ' blob '
    in it or not UTF-8 is asked and answered exactly. Control: nothing edited, only the entries the
    work tree cannot read as HEAD yields them (N2, N3) listed; each edit adds exactly its name."""
    root = _answers_repo(tmp_path)
    names = list(ANSWERS)
    heads = records._blobs_at_head(root, names)
    assert heads is not None and list(heads) == names
    for name, (blob, _) in ANSWERS.items():
        if blob:
            assert heads[name] == records._blob_id((root / name).read_bytes(), "sha1"), name
        else:
            assert heads[name] is None, name
    if edited is not None:
        _append(root / edited, "edited\n")
    expected = sorted({n for n, (_, listed) in ANSWERS.items() if listed} | ({edited} if edited else set()))
    assert records.git_uncommitted(root, names) == expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["unchanged", "folder-retargeted", "file-in-place-of-link", "folder-for-file",
                                 "dangling-both", "link-deleted"])
def test_h02_a_linked_parent_folder_is_followed_on_both_sides(tmp_path: Path, how: str) -> None:
    """records.py:160-172: risk/ committed as a link to riskdata/v2 (P2); the link retargeted to the
    committed riskdata/v1 (P1) lists the item file (git follows HEAD's link, the loader the work
    tree's); a folder where the item file was is listed (records.py:132-138); a link dangling in
    HEAD and in the work tree is not (nothing on either side, records.py:169); the link removed
    lists every file behind it. Control: unchanged, []."""
    def prepare(root: Path) -> None:
        data = root / "riskdata"
        (data / "v2").mkdir(parents=True)
        for path in (root / "risk").iterdir():
            shutil.move(str(path), str(data / "v2" / path.name))
        (root / "risk").rmdir()
        shutil.copytree(data / "v2", data / "v1")
        (data / "v1" / "hazardous_situations.yaml").write_text("# P1 version\n" + (
            data / "v1" / "hazardous_situations.yaml").read_text(encoding="utf-8"), encoding="utf-8")
        (root / "risk").symlink_to("riskdata/v2")
        if how == "dangling-both":
            (root / "traceability" / "anomalies.yaml").unlink()
            (root / "traceability" / "anomalies.yaml").symlink_to("nothing.yaml")

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    expected: list[str] = []
    if how == "folder-retargeted":
        _link(root / "risk", "riskdata/v1")
        expected = [RISK]
    elif how == "file-in-place-of-link":
        (root / "risk").unlink()
        shutil.copytree(root / "riskdata" / "v2", root / "risk")  # the same content read: not listed
    elif how == "folder-for-file":
        (root / "riskdata" / "v2" / "hazardous_situations.yaml").unlink()
        (root / "riskdata" / "v2" / "hazardous_situations.yaml").mkdir()
        expected = [RISK]
    elif how == "link-deleted":
        (root / "risk").unlink()
        expected = sorted(p for p in ITEM_PATHS if p.startswith("risk/") and (root / "riskdata" / "v2" / p[5:]).exists())
    assert _listed(root) == expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edit", [False, True])  # False: the control
def test_h03_a_project_below_the_repository_top_and_a_link_out_of_the_project(tmp_path: Path, edit: bool) -> None:
    """records.py:104 asks HEAD:./<path> from the project folder: the project at top/proj with its
    risk file a link to ../shared/hs.yaml (outside the project, inside the repository) compares
    unchanged ([]), and the shared file edited is listed. HEAD:<path> (no ./) would ask the
    repository top's path and list everything."""
    top = tmp_path / "top"

    def prepare(root: Path) -> None:
        (top / "shared").mkdir(parents=True)
        shutil.move(str(root / RISK), str(top / "shared" / "hs.yaml"))
        (root / RISK).symlink_to("../../shared/hs.yaml")

    root, head = _repo(top / "proj", top=top, before_commit=prepare)
    if edit:
        _append(top / "shared" / "hs.yaml")
    assert _listed(root) == ([RISK] if edit else [])
    code, gaps, _ = _release(root, head)
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == ((13, [GRAPH_GAP]) if edit else (0, [])), gaps


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("failing", ["cat-file", "hash-object-short", "show-object-format", None])
def test_h04_every_git_failure_ends_in_not_compared_or_a_correct_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      failing: str | None) -> None:
    """records.py:111-112 (cat-file exits 1), records.py:175 (hash-object prints fewer ids than it was
    given files) end in NOT_COMPARED, recorded by trace build; a failing --show-object-format falls back
    to SHA-1 (records.py:164) and still lists the edit and only it. Control: the real git."""
    root, _ = _repo(tmp_path / "p")
    (root / "risk" / "controls.yaml").write_bytes((root / "risk" / "controls.yaml").read_bytes().replace(
        b"\n", b"\r\n"))  # bytes differ, hash-object needed
    _git(root, "config", "core.autocrlf", "true")
    _append(root / RISK)
    action = {"cat-file": "exit 1", "hash-object-short": "exit 0", "show-object-format": "exit 1"}.get(failing, ":")
    if failing is not None:
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", failing.split("-short")[0].replace(
            "show-object-format", "--show-object-format"), action))
    expected = records.NOT_COMPARED if failing in ("cat-file", "hash-object-short") else [RISK]
    assert _listed(root) == expected
    assert _build(root)[1]["head"]["uncommitted_items"] == expected


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["retargeted", "unchanged"])  # unchanged: the control
def test_h05_sha256_a_linked_folder_followed_by_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   how: str) -> None:
    """A SHA-256 repository (GIT_DEFAULT_HASH): cat-file answers 64-digit ids, raw ids compare with
    sha256 (records.py:163-164); risk/ as a link, retargeted to another committed folder, listed."""
    monkeypatch.setenv("GIT_DEFAULT_HASH", "sha256")

    def prepare(root: Path) -> None:
        shutil.move(str(root / "risk"), str(root / "v2"))
        shutil.copytree(root / "v2", root / "v1")
        _append(root / "v1" / "hazardous_situations.yaml", "# v1\n")
        (root / "risk").symlink_to("v2")

    root, head = _repo(tmp_path / "p", before_commit=prepare)
    assert len(head) == 64
    heads = records._blobs_at_head(root, [RISK])
    assert heads is not None and len(heads[RISK] or "") == 64
    if how == "retargeted":
        _link(root / "risk", "v1")
    assert _listed(root) == ([RISK] if how == "retargeted" else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("git_fails", [False, True])  # False: the control
def test_h06_trace_build_compares_only_beside_a_commit_and_records_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_fails: bool) -> None:
    """trace.py:49-52: with the commit known and cat-file failing, the graph records NOT_COMPARED and
    --release has the one GRAPH gap (exit 13); a residual lowered in the work tree is not passed.
    Control: the real git lists the risk file, the same gap."""
    def change(items: dict) -> None:
        _no_overall_conclusion(items)

    root, head = _repo(tmp_path / "p", change=change)
    _append(root / RISK)
    if git_fails:
        monkeypatch.setenv("PATH", _fake_git(tmp_path / "bin", "cat-file", "exit 128"))
    code, gaps, graph = _release(root, head)
    assert graph["head"]["commit"] == head
    assert graph["head"]["uncommitted_items"] == (records.NOT_COMPARED if git_fails else [RISK])
    # helper-126 (SRS-228): and the clause 9 review record, not complete (no benefit-risk conclusion)
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == (13, [GRAPH_GAP, REVIEW_GAP]), gaps


def _unassessed_model(tmp_path: Path, linked: str | None) -> tuple[Path, str]:
    """The mini project with model seg 1.0.0 committed but NOT assessed in security/components.yaml
    (HEAD fails --release: GAP CMP-seg); its folder models/seg-1.0.0 a real folder or a committed
    link to ../store/seg-1.0.0 (model packages kept in a store, linked in)."""
    def prepare(root: Path) -> None:
        path = root / "security" / "components.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["components"] = [c for c in document["components"] if c["id"] != "CMP-seg-1.0.0"]
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        if linked == "model-folder":
            (root / "store").mkdir()
            shutil.move(str(root / "models" / "seg-1.0.0"), str(root / "store" / "seg-1.0.0"))
            (root / "models" / "seg-1.0.0").symlink_to("../store/seg-1.0.0")
        elif linked == "models-folder":
            shutil.move(str(root / "models"), str(root / "store"))
            (root / "models").symlink_to("store")

    return _repo(tmp_path / "p", model=True, before_commit=prepare)


def _remove_model(root: Path, linked: str | None) -> None:
    if linked == "model-folder":
        (root / "models" / "seg-1.0.0").unlink()
    elif linked == "models-folder":
        shutil.rmtree(root / "store" / "seg-1.0.0")
    else:
        shutil.rmtree(root / "models" / "seg-1.0.0")


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("linked", ["model-folder", "models-folder", None])  # None: the control
def test_d1_a_model_folder_committed_as_a_link_and_removed_is_not_listed(tmp_path: Path, linked: str | None) -> None:
    """Defect 1 (pin). records.py:154-158 name HEAD's manifests by `git ls-tree -r HEAD -- models`,
    which does not descend into a committed link; the loader's glob (loader.py:94, 321) does. A
    model folder committed as a link and removed from the work tree (git status: D) is in neither
    list: [] and --release exits 0, though the commit's graph has GAP CMP-seg (exit 13, asserted).
    The same when models/ itself is a committed link and the model's folder behind it is removed.
    Control: the same model as a real folder, removed: listed, the one GRAPH gap, exit 13."""
    root, head = _unassessed_model(tmp_path, linked)
    code, gaps, _ = _release(root, head)
    assert code == 13 and [g[:12] for g in gaps] == ["GAP CMP-seg:"], gaps  # the commit as committed
    _remove_model(root, linked)
    assert _git(root, "status", "--porcelain").startswith(" D ")
    code, gaps, graph = _release(root, head)
    # Lead, 2026-12-06: defect 1 fixed (the entries of models/ as the commit yields it, links
    # followed, each entry's manifest resolved by cat-file --follow-symlinks): listed every way
    assert _listed(root) == [MANIFEST] and graph["head"]["uncommitted_items"] == [MANIFEST]
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == (13, [GRAPH_GAP]), gaps


@pytest.mark.req("SRS-043")
# Lead, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
def test_d1_a_removed_linked_model_is_listed_and_a_gap_with_release(tmp_path: Path) -> None:
    root, head = _unassessed_model(tmp_path, "model-folder")
    _remove_model(root, "model-folder")
    code, gaps, _ = _release(root, head)
    assert _listed(root) == [MANIFEST]
    assert (code, [g[:len(GRAPH_GAP)] for g in gaps]) == (13, [GRAPH_GAP])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("newline", [True, False])  # False: the control
def test_n1_a_name_with_a_newline_shifts_every_later_answer(tmp_path: Path, newline: bool) -> None:
    """Note N1 (exotic, pinned): records.py:104 writes names one a line, so a name holding a newline
    is two requests and every later name reads the answer of the one before: 'a.yaml' gets
    b.yaml's blob. Ordinary content then fails closed (listed); only crafted content (an item
    file edited to equal its predecessor's committed bytes, behind a newline-named model folder)
    could hide an edit. Control: without that name, a.yaml gets its own blob. Fix: cat-file -z."""
    root = _plain_repo(tmp_path / "r", {"a.yaml": "A\n", "b.yaml": "B\n"}, {})
    names = (["0\nHEAD:./b.yaml"] if newline else []) + ["a.yaml"]
    heads = records._blobs_at_head(root, names)
    own, other = (records._blob_id(f"{c}\n".encode(), "sha1") for c in "AB")
    assert heads is not None and heads["a.yaml"] == (other if newline else own)
    (root / "a.yaml").write_text("B\n")  # a.yaml edited to b.yaml's committed bytes
    assert records.git_uncommitted(root, names[-1:]) == ["a.yaml"]  # alone: listed
    assert (records.git_uncommitted(root, names) == []) == newline  # behind the newline name: hidden


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("how", ["absolute", "relative"])  # relative: the control
def test_n2_an_absolute_link_into_the_project_is_listed_though_unchanged(tmp_path: Path, how: str) -> None:
    """Note N2 (fails closed): git follows only links inside the tree; an absolute link (even to a file
    of the project itself) answers 'symlink' (records.py:118-120: None), so an unchanged committed
    absolute link is listed ('built from uncommitted changes', inexact). Control: the relative link, []."""
    def prepare(root: Path) -> None:
        (root / "shared").mkdir()
        shutil.move(str(root / RISK), str(root / "shared" / "hs.yaml"))
        (root / RISK).symlink_to(str(root / "shared" / "hs.yaml") if how == "absolute" else "../shared/hs.yaml")

    root, _ = _repo(tmp_path / "p", before_commit=prepare)
    assert _listed(root) == ([RISK] if how == "absolute" else [])


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("edited", [None, "riskdata/common/hs.yaml", "common/hs.yaml"])  # None, common/: controls
def test_h07_a_relative_link_behind_a_linked_folder_resolves_as_the_kernel_does(tmp_path: Path,
                                                                                 edited: str | None) -> None:
    """risk -> riskdata/v2 and riskdata/v2/hs.yaml -> ../common/hs.yaml: the kernel reads
    riskdata/common/hs.yaml (not the lexical common/hs.yaml); git's --follow-symlinks yields the same
    blob (records.py:106), also through a second linked folder (sub/r -> ../risk). An edit of the file
    read is listed for both names; an edit of the lexical look-alike (not read) is not."""
    root = _plain_repo(tmp_path / "r", {"riskdata/common/hs.yaml": "REAL\n", "common/hs.yaml": "LEXICAL\n"},
                       {"risk": "riskdata/v2", "riskdata/v2/hs.yaml": "../common/hs.yaml", "sub/r": "../risk"})
    names = ["risk/hs.yaml", "sub/r/hs.yaml"]
    assert (root / names[0]).read_text() == "REAL\n"
    if edited is not None:
        _append(root / edited, "edited\n")
    assert records.git_uncommitted(root, names) == (names if edited == "riskdata/common/hs.yaml" else [])
