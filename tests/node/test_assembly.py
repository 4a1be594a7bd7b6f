"""Study assembly: the persisted per-series idle timer, generations, late instances
(issue 15 item 2). Assembly is driven with explicit clock values (``assemble_once(now=...)``)
except in the one test that lets the node's own thread do it."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pydicom
import pytest

from tests.node.conftest import (dataset_bytes, events, markers, pixel_variant, series_slices, spool, store_all,
                                 wait_for, wire_bytes)


def _open(node) -> tuple[str, float, str]:  # noqa: ANN001
    [(series, last, study)] = node.spool.open_series()
    return series, last, study


@pytest.mark.req("SRS-095")
def test_instances_over_two_associations_become_one_ready_series(node) -> None:
    slices = series_slices(count=4)
    assert store_all(node.port, slices[:2]) == [0, 0]
    assert store_all(node.port, slices[2:]) == [0, 0]  # a second association: the series stays open
    _, last, _ = _open(node)
    assert node.assemble_once(now=last + node.idle_s - 0.01) == []
    [ready] = node.assemble_once(now=last + node.idle_s)
    assert ready.generation == 1 and ready.supersedes is None and len(ready.instances) == 4
    assert sorted(pydicom.dcmread(f).SOPInstanceUID for f in ready.files()) == sorted(s.SOPInstanceUID for s in slices)
    assert [m["generation"] for m in markers()] == [1]
    assert not (spool() / "series" / ready.series / "open").exists()
    assert node.assemble_once(now=last + 10 * node.idle_s) == []  # ready once
    assert len(events("Series Ready")) == 1


@pytest.mark.req("SRS-095")
def test_each_instance_resets_the_persisted_idle_timer(node) -> None:
    first_slice, second_slice = series_slices(count=2)
    assert store_all(node.port, [first_slice]) == [0]
    series, first, _ = _open(node)
    timer = spool() / "series" / series / "open" / ".received"
    assert json.loads(timer.read_text())["last"] == first  # on disk, not in memory
    time.sleep(0.05)
    assert store_all(node.port, [second_slice]) == [0]
    _, second, _ = _open(node)
    assert second > first
    # Idle since the first instance, not since the second: not complete (without the reset it would be).
    assert node.assemble_once(now=first + node.idle_s + 0.01) == []
    [ready] = node.assemble_once(now=second + node.idle_s)
    assert len(ready.instances) == 2


@pytest.mark.req("SRS-095")
def test_the_node_thread_hands_off_a_series_sent_in_two_associations(make_node) -> None:
    node = make_node(node_series_idle_s=0.6)
    slices = series_slices(count=3)
    assert store_all(node.port, slices[:1]) == [0]
    time.sleep(0.2)
    assert store_all(node.port, slices[1:]) == [0, 0]
    wait_for(markers, timeout=10)
    time.sleep(0.7)  # longer than the idle time: nothing more becomes ready
    [marker] = markers()
    assert marker["generation"] == 1 and len(marker["instances"]) == 3


@pytest.mark.req("SRS-097")
def test_a_late_instance_opens_a_new_generation_and_an_identical_resend_changes_nothing(node) -> None:
    slices = series_slices(count=3)
    assert store_all(node.port, slices[:2]) == [0, 0]
    [first] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    # late instance: generation 2 = generation 1's instances + the new one
    assert store_all(node.port, slices[2:]) == [0]
    late = [e for e in events("DICOM Instances Transferred") if "late_after_generation" in e["details"]]
    assert [e["details"]["late_after_generation"] for e in late] == ["1"]
    [second] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    assert (second.generation, second.supersedes, len(second.instances)) == (2, 1, 3)
    assert len(first.instances) == 2 and all(f.exists() for f in first.files())  # generation 1 unchanged
    # an identical re-send (a sender retrying) is acknowledged and changes nothing
    assert store_all(node.port, slices[:1]) == [0]
    assert node.spool.open_series() == []
    assert node.assemble_once(now=time.time() + 10 * node.idle_s) == []
    # a changed instance with the same UIDs is a new generation again
    changed = pixel_variant(slices[0])
    assert store_all(node.port, [changed]) == [0]
    [third] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    assert (third.generation, third.supersedes, len(third.instances)) == (3, 2, 3)
    by_uid = {pydicom.dcmread(f).SOPInstanceUID: f for f in third.files()}
    assert dataset_bytes(by_uid[slices[0].SOPInstanceUID]) == wire_bytes(changed)
    old = {pydicom.dcmread(f).SOPInstanceUID: f for f in second.files()}
    assert dataset_bytes(old[slices[0].SOPInstanceUID]) == wire_bytes(slices[0])
    assert [m["generation"] for m in markers()] == [1, 2, 3]
    assert [e["details"].get("supersedes_generation") for e in events("Series Ready")] == [None, "1", "2"]


@pytest.mark.req("SRS-095", "SRS-093")
def test_concurrent_associations_lose_and_duplicate_nothing(node) -> None:
    # 8 associations at once, each sending 5 instances of the same series: one generation of 40.
    slices = series_slices(count=40)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: store_all(node.port, slices[i::8]), range(8)))
    assert statuses == [[0] * 5] * 8
    [ready] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    assert len(ready.instances) == 40
    assert sorted(dataset_bytes(f) for f in ready.files()) == sorted(wire_bytes(ds) for ds in slices)
    assert len([e for e in events("DICOM Instances Transferred") if e["outcome"] == 0]) == 40


@pytest.mark.req("SRS-096")
def test_a_hand_off_that_fails_half_way_is_completed_by_the_node(make_node, monkeypatch) -> None:
    from device_ai.node.spool import Spool

    mark, failures = Spool._mark, []

    def disk_full_once(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if not failures:
            failures.append(1)
            raise OSError(28, "No space left on device")
        return mark(self, *args, **kwargs)

    monkeypatch.setattr(Spool, "_mark", disk_full_once)
    node = make_node(node_series_idle_s=0.3)
    assert store_all(node.port, series_slices(count=2)) == [0, 0]
    wait_for(lambda: list((spool() / "ready").glob("*.announced")), timeout=10)  # the marker, then its entry
    [marker] = markers()
    assert failures == [1] and marker["generation"] == 1 and len(marker["instances"]) == 2
    [ready] = events("Series Ready")
    assert "recovered" in ready["details"]


@pytest.mark.req("SRS-097")
def test_a_series_sent_again_after_its_generations_were_purged_gets_the_next_number(node) -> None:
    # A worker that purges generation folders (keeping the markers) must not make a later
    # generation collide with an old marker name, which would never become ready.
    import shutil

    slices = series_slices(count=2)
    assert store_all(node.port, slices[:1]) == [0]
    [first] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    shutil.rmtree(first.folder)
    assert store_all(node.port, slices[1:]) == [0]
    [second] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    assert (second.generation, second.supersedes, len(second.instances)) == (2, 1, 1)
    assert [m["generation"] for m in markers()] == [1, 2]
    # folders and markers purged: the number still goes on
    shutil.rmtree(second.folder)
    for marker in (spool() / "ready").iterdir():
        marker.unlink()
    assert store_all(node.port, slices[:1]) == [0]
    [third] = node.assemble_once(now=_open(node)[1] + node.idle_s)
    assert third.generation == 3
