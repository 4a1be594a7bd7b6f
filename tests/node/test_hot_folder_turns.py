"""The hot folder beyond one pass (SRS-136, THR-005; re-review 141 D1/D2, fixed by helper-145, 2026-12-07): turns
are taken from a queue of names (first listed first; a renamed or new file is a new name, at the back; a turn's
files go back to the end), not in name order.

- (a) A seeded adversary that renames, creates, grows and deletes files every pass, names chosen anywhere and its
  movers' names sorting first, cannot hide a junk file that stops changing (dropped whole, or written over 10
  settle intervals, so in one turn at least): it is taken (refused) within ceil(k / cap) + 1 turns of the first
  listing after its last change (k: the files before it in turn-key order then). Negative control: with the turn
  key back to name order only, the same adversary hides it. (A cursor over the same key without the turns' files
  going back to the queue, the first design, fails the slowly written case: new names keep the cursor from coming
  round again.)
- (b) A file that never changes is never counted in the DAI019 entry (Hot Folder Files Not Settling), in turns,
  among renames, new files and files pushed around; control: the same file appended before every pass is counted.
- (c) More than MAX_LISTED files: the files past the cap (in walk order) wait until others leave IN, said once in
  the log without a file name; control: at the cap, nothing is said.

Scans are driven with an injected clock (``scan_once(now=...)``), the cap monkeypatched small."""

from __future__ import annotations

import logging
import math
import os
import random
import string
from pathlib import Path

import pytest

from tests.node.conftest import events
from tests.node.test_hot_folder import drop, hot_folder  # noqa: F401 - hot_folder: the fixture

CAP = 4  # MAX_FILES_PER_PASS in these tests
SETTLE_S = 1.0
POLL_S = SETTLE_S / 4  # watch's poll


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 8))) + ".dcm"


class Adversary:
    """An account that may write IN. Before every pass it renames its movers (CAP + 2 files) to new names that sort
    first (the worst place for turns taken in name order), and, at random, renames another file, creates one,
    deletes one, and appends to its growing files; every name it chooses is new, the others anywhere."""

    def __init__(self, folder, seed: int) -> None:  # noqa: ANN001 - HotFolder
        self.folder, self.rng, self.serial = folder, random.Random(seed), 0
        self.protected: Path | None = None  # the junk file: never touched
        self.inbox = folder.inbox
        self.movers = [self._make(f"0{n}.dcm") for n in range(CAP + 2)]
        self.growing = [self._make(_random_name(self.rng)) for _ in range(3)]
        self.others = [self._make(_random_name(self.rng)) for _ in range(6)]

    def _free(self, name: str) -> Path:
        while (self.inbox / name).exists() or (self.protected is not None and self.protected.name == name):
            name = f"{Path(name).stem}{self.rng.choice(string.ascii_lowercase)}.dcm"
        return self.inbox / name

    def _make(self, name: str) -> Path:
        path = self._free(name)
        path.write_bytes(b"x")
        return path

    def act(self) -> None:
        self.others = [p for p in self.others if p.exists()]  # the settled ones were taken (refused)
        self.serial += 1
        moved = []
        for n, path in enumerate(self.movers):  # before every other name ("0" sorts before the letters)
            target = self._free(f"0{self.serial:06d}{n}.dcm")
            os.rename(path, target)
            moved.append(target)
        self.movers = moved
        for path in self.growing:
            with open(path, "ab") as handle:
                handle.write(b".")
        rng = self.rng
        if self.others and rng.random() < 0.5:  # a rename anywhere
            index = rng.randrange(len(self.others))
            target = self._free(_random_name(rng))
            os.rename(self.others[index], target)
            self.others[index] = target
        if rng.random() < 0.5:  # a new file anywhere
            self.others.append(self._make(_random_name(rng)))
        if self.others and rng.random() < 0.3:  # a deletion
            self.others.pop(rng.randrange(len(self.others))).unlink()


def _attack(folder, seed: int, passes: int, *, written_for: int) -> dict:  # noqa: ANN001 - HotFolder
    """The adversary acts before every pass; the junk file is dropped at a random pass and appended to before the
    next ``written_for - 1`` passes (a slow copy: its first turn may come while it is still written). Returns the
    turn of the first listing after its last change, k then (the files before it in turn-key order), and the turn
    during which it left IN."""
    adversary = Adversary(folder, seed)
    rng = random.Random(seed + 1000)
    drop_at = rng.randrange(6, 20)
    last_change = drop_at + written_for - 1
    junk: Path | None = None
    step = 0
    settled_listing: tuple[int, int] | None = None  # (turn, k) of the first listing after its last change
    turns, early_turns = 0, 0  # early: turns that held it while it was still written
    real = folder.next_turn

    def counted(listed: list[str]) -> list[str]:
        nonlocal settled_listing, turns, early_turns
        if junk is not None and settled_listing is None and step >= last_change and str(junk) in listed:
            key = folder.turn_key(str(junk))
            settled_listing = (turns, sum(folder.turn_key(p) < key for p in listed))
        turns += 1
        files = real(listed)
        early_turns += junk is not None and step < last_change and str(junk) in files
        return files

    folder.next_turn = counted
    taken_in: int | None = None
    for step in range(passes):
        if step == drop_at:
            junk = drop(b"not DICOM, refused once looked at\n", folder.inbox / f"m{_random_name(rng)}.txt")
            adversary.protected = junk
        elif junk is not None and step <= last_change:
            with open(junk, "ab") as handle:
                handle.write(b"still being written\n")
        adversary.act()
        folder.scan_once(now=step * POLL_S)
        if junk is not None and not junk.exists():
            taken_in = turns - 1
            break
    return {"junk": junk, "listing": settled_listing, "taken_in": taken_in, "turns": turns, "early": early_turns}


@pytest.mark.req("SRS-136", "SRS-139")
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("written_for", [1, 40], ids=["dropped whole", "written over 40 passes"])
@pytest.mark.parametrize("key", ["queue (as shipped)", "name order only (control: re-review 141 D1)"])
def test_an_adversary_that_renames_creates_grows_and_deletes_cannot_hide_a_stable_file(
        hot_folder, monkeypatch, seed, written_for, key) -> None:  # noqa: ANN001
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", CAP)
    if key.startswith("name order"):
        monkeypatch.setattr(module.HotFolder, "queued_since", lambda self, path: 0.0)  # turn key: name order only
    folder = hot_folder(settle_s=SETTLE_S)
    result = _attack(folder, seed, passes=200, written_for=written_for)  # 50 settle intervals
    junk = result["junk"]
    assert junk is not None and result["listing"] is not None  # dropped, and listed once written
    if key.startswith("name order"):
        assert result["taken_in"] is None and junk.exists() and result["turns"] >= 35  # hidden, turn after turn
        assert not list(folder.rejected.glob(f"{junk.name}*"))  # never looked at
        return
    assert result["taken_in"] is not None and (folder.rejected / junk.name).exists()  # refused: looked at
    first, k = result["listing"]
    assert result["early"] >= (1 if written_for > 1 else 0)  # a slow copy: looked at, not taken, back in the queue
    assert result["taken_in"] - first + 1 <= math.ceil(k / CAP) + 1, result  # within ceil(k / cap) + 1 turns


@pytest.mark.req("SRS-136")
def test_a_file_renamed_or_added_later_comes_after_every_file_already_known(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 2)
    folder = hot_folder(settle_s=SETTLE_S)
    for name in ("b.dcm", "d.dcm", "f.dcm"):
        drop(b"x", folder.inbox / name)
    folder.scan_once(now=0.0)  # the first listing: b d f known since 0; the turn is b d
    os.rename(folder.inbox / "f.dcm", folder.inbox / "a.dcm")  # renamed to the front by name
    drop(b"x", folder.inbox / "c.dcm")
    listed = folder.listing()
    folder._queued = {p: folder._queued.get(p, 1.0) for p in listed}  # as the next listing does
    names = [Path(p).name for p in sorted(listed, key=folder.turn_key)]
    assert names == ["b.dcm", "d.dcm", "a.dcm", "c.dcm"]  # known first, then new (a renamed file is new), by name
    assert [Path(p).name for p in sorted(listed, key=folder.order)] == ["a.dcm", "b.dcm", "c.dcm", "d.dcm"]  # control


# --- (b) DAI019 counts only files seen changing ------------------------------------------------------------------

@pytest.mark.req("SRS-136")
@pytest.mark.parametrize("stable", ["never changes", "appended before every pass (control)"])
def test_a_file_that_never_changes_is_never_counted_as_not_settling(hot_folder, monkeypatch, stable) -> None:  # noqa: ANN001
    """Cap 3 (also of the files followed), the spool's disk 'full' (every settled file waits in IN, so the stable
    files stay), a growing file, two stable ones, and files created, renamed and deleted at random, many named
    before the stable ones: 300 s of passes, each file seen in turn after turn, its first sighting in each."""
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)
    folder = hot_folder(settle_s=SETTLE_S)
    monkeypatch.setattr(folder.spool, "free_bytes", lambda: 0)  # files wait in IN (node_min_free_mb)
    rng = random.Random(7)
    growing = [drop(b"g", folder.inbox / "g1.dcm")]
    steady = [drop(b"s", folder.inbox / name) for name in ("m5.dcm", "z0.dcm")]
    others = [drop(b"o", folder.inbox / f"{_random_name(rng)}") for _ in range(20)]
    followed: set[str] = set()
    turns = 0
    for step in range(1200):
        for path in growing + (steady if stable.endswith("(control)") else []):
            with open(path, "ab") as handle:
                handle.write(b".")
        if rng.random() < 0.5:
            target = folder.inbox / f"a{_random_name(rng)}"  # before the stable ones by name
            if not target.exists():
                os.rename(others.pop(rng.randrange(len(others))), target)
                others.append(target)
        if rng.random() < 0.2 and len(others) > 10:
            others.pop(rng.randrange(len(others))).unlink()
        if rng.random() < 0.2:
            target = folder.inbox / _random_name(rng)
            if not target.exists():
                others.append(drop(b"o", target))
        folder.scan_once(now=step * POLL_S)
        followed |= {p.name for p in folder._unsettled}
        turns += folder._turn is not None and folder._turn.started == step * POLL_S
    assert turns >= 200  # it ran in turns
    counted = sum(int(e["details"]["files"]) for e in events("Hot Folder Files Not Settling"))
    if stable.endswith("(control)"):
        assert counted == 3 and followed == {"g1.dcm", "m5.dcm", "z0.dcm"}
    else:
        assert counted == 1 and followed == {"g1.dcm"}  # only the growing file
    assert all(p.exists() for p in growing + steady)  # left in IN


# --- (c) MAX_LISTED ------------------------------------------------------------------------------------------------

@pytest.mark.req("SRS-136", "SRS-139")
@pytest.mark.parametrize("files", [8, 5], ids=["past the cap", "at the cap (control)"])
def test_files_past_max_listed_wait_until_others_leave_in_said_once(hot_folder, monkeypatch, caplog, files) -> None:  # noqa: ANN001
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_LISTED", 5)
    folder = hot_folder(settle_s=SETTLE_S)
    names = [f"j{n}.txt" for n in range(files)]
    for name in names:
        drop(b"not DICOM\n", folder.inbox / name)
    with caplog.at_level(logging.WARNING, logger="device_ai.node.hot_folder"):
        assert [Path(p).name for p in folder.listing()] == names[:5]  # the first in walk order
        folder.scan_once(now=0.0)
        folder.scan_once(now=1.0)  # the five listed are refused
        assert sorted(p.name for p in folder.inbox.iterdir()) == names[5:]
        folder.scan_once(now=2.0)
        folder.scan_once(now=3.0)  # the rest, once the others left
    assert list(folder.inbox.iterdir()) == []
    said = [r.getMessage() for r in caplog.records if "not looked at until others leave" in r.getMessage()]
    if files > 5:
        assert len(said) == 1 and "more than 5 files" in said[0]
        assert not any(name in said[0] for name in names)  # no file name
    else:
        assert said == []
