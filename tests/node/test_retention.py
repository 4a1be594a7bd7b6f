"""The node's retention (SRS-150): a generation's received instances and results are deleted
node_retention_hours after its outcome, never while it may still be analysed or sent, once in
the trail, and nothing of it is analysed, announced or sent again. In process, with a folder
destination (the delivery confirmed by the file on disk) and the tiny signed test package."""

from __future__ import annotations

import json
import time

import pydicom
import pytest

from device_ai.node.outbound import Outbound
from device_ai.node.server import NodeServer
from device_ai.errors import InputRefused
from device_ai.node.worker import Worker, generation_state, key_of
from tests.node.conftest import (context, events, handed_off, node_env, pixel_variant, series_slices, spool,
                                 store_all)
from tests.node.pipeline_peers import tiny_model  # noqa: F401

ROWS = 256
HOUR = 3600.0


@pytest.fixture
def share(tmp_path):  # noqa: ANN001, ANN201
    folder = tmp_path / "share"
    folder.mkdir()
    return folder


@pytest.fixture
def backup(tmp_path):  # noqa: ANN001, ANN201
    folder = tmp_path / "backup"
    folder.mkdir()
    return folder


@pytest.fixture
def retaining_node(monkeypatch: pytest.MonkeyPatch, share, backup):  # noqa: ANN001, ANN201
    """A receiving node without worker threads (the test drives assembly, worker, sender and
    purge), retention 1 hour, two folder destinations."""
    node_env(monkeypatch, node_retention_hours=1, node_send_max_attempts=1,
             node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(share)},
                                           {"name": "backup", "kind": "folder", "path": str(backup)}]))
    server = NodeServer(context())
    server.port = server.start()[1]
    yield server
    server.stop()


def _pipeline(node) -> tuple[Worker, Outbound]:  # noqa: ANN001
    outbound = Outbound(spool(), context().settings, node.trail)
    return Worker(context(), spool(), outbound, node.trail), outbound


def _leftovers(ready) -> list[str]:  # noqa: ANN001
    """What of a generation is still in the spool (the series' counter excepted)."""
    key = key_of(ready)
    found = [str(p.relative_to(spool())) for p in spool().rglob("*") if key in p.name or p == ready.folder]
    return sorted(found + ([str(ready.folder)] if ready.folder.exists() else []))


def _state(ready) -> str | None:  # noqa: ANN001
    return generation_state(spool(), key_of(ready))


def _purges() -> list[dict]:
    return events("Received Series Purged")


@pytest.mark.req("SRS-150", "SRS-151")
def test_a_delivered_generation_is_purged_only_after_its_retention_once_and_its_numbers_are_never_reused(
        retaining_node, tiny_model, share) -> None:  # noqa: ANN001
    slices = series_slices(series="keep-then-purge", count=2, rows=ROWS)
    [first] = handed_off(retaining_node, slices)
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(first) and outbound.send_due() == 4
    delivered = sorted(p.relative_to(share) for p in share.rglob("*.dcm"))
    assert len(delivered) == 2
    seg_uid = str(pydicom.dcmread(share / delivered[0]).SOPInstanceUID)
    [sr_path] = [share / p for p in delivered if p.name == "measurements.dcm"]
    sr_uid = str(pydicom.dcmread(sr_path).SOPInstanceUID)
    now = time.time()
    # negative control: within the retention nothing goes
    assert retaining_node.runtime.purge_expired(now=now + HOUR - 60) == []
    assert first.folder.is_dir() and (spool() / "work" / key_of(first) / "result").is_dir() and _purges() == []
    [purged] = retaining_node.runtime.purge_expired(now=now + HOUR + 60)
    assert (purged.outcome.kind, purged.instances) == ("delivered", 2)
    assert _leftovers(first) == []
    assert (first.folder.parent / ".last-generation").read_text() == "1"
    [entry] = _purges()
    assert entry["action"] == "D" and entry["details"]["generation"] == "1"
    assert entry["details"]["instances_deleted"] == "2" and entry["details"]["result_files_deleted"] != "0"
    assert {o["kind"] for o in entry["objects"]} == {"study", "series"}
    assert sorted(p.relative_to(share) for p in share.rglob("*.dcm")) == delivered  # the destination's copy stays
    assert retaining_node.runtime.purge_expired(now=now + 10 * HOUR) == [] and len(_purges()) == 1
    # the same series sent again, byte for byte: nothing new (SRS-097), no generation
    assert store_all(retaining_node.port, slices) == [0, 0]
    [(_, last, _)] = retaining_node.spool.open_series()
    assert retaining_node.assemble_once(now=last + retaining_node.idle_s) == []
    assert retaining_node.spool.open_series() == [] and len(events("Series Ready")) == 1
    # the whole series sent again with one slice corrected: a new generation, new result UIDs
    [again] = handed_off(retaining_node, [slices[0], pixel_variant(slices[1])])
    assert again.generation == 2 and again.purged_missing == 0
    assert worker.process(again) and outbound.send_due() == 4
    second = [p for p in share.rglob("*.dcm") if p.relative_to(share) not in delivered]
    assert len(second) == 2 and seg_uid not in {str(pydicom.dcmread(p).SOPInstanceUID) for p in second}
    # it still says which result it replaces, though that result's files were purged (SRS-151)
    [sr2] = [pydicom.dcmread(p) for p in second if p.name == "measurements.dcm"]
    replaced = sr2.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert replaced.ReferencedSOPInstanceUID == sr_uid and sr2.SeriesDescription.endswith(" #2 replaces #1")


@pytest.mark.req("SRS-150")
@pytest.mark.parametrize("state", ["sending", "dead-lettered", "never analysed"])
def test_what_is_not_delivered_is_never_purged(retaining_node, tiny_model, backup, state) -> None:  # noqa: ANN001
    [ready] = handed_off(retaining_node, series_slices(series=f"kept-{state}", count=2, rows=ROWS))
    worker, outbound = _pipeline(retaining_node)
    if state != "never analysed":
        assert worker.process(ready)
    if state == "dead-lettered":  # the share has it, the backup was unmounted: one failed attempt is the last
        backup.rmdir()
        assert outbound.send_due() == 2
        assert len(list((spool() / "outbound" / "dead" / "backup").glob("*.json"))) == 2
    assert retaining_node.runtime.purge_expired(now=time.time() + 1000 * HOUR) == []
    assert ready.folder.is_dir() and ready.marker.exists() and _purges() == []


@pytest.mark.req("SRS-150")
def test_a_refused_generation_is_purged_and_its_reason_kept(retaining_node, tiny_model,
                                                           monkeypatch) -> None:  # noqa: ANN001
    [ready] = handed_off(retaining_node, series_slices(series="refused-purge", count=2, rows=ROWS))
    worker, _ = _pipeline(retaining_node)

    def refused(self, ready, out) -> None:  # noqa: ANN001 - the input contract refuses the series
        raise InputRefused("the series is not what the model was validated for")

    monkeypatch.setattr(Worker, "analyze", refused)
    assert worker.process(ready) and _state(ready) == "refused"
    assert retaining_node.runtime.purge_expired(now=time.time() + HOUR - 60) == []  # negative control
    [purged] = retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)
    assert purged.outcome.kind == "refused" and not ready.folder.exists() and not ready.marker.exists()
    assert (spool() / "refused" / f"{key_of(ready)}.json").exists()  # the visible reason stays


@pytest.mark.req("SRS-150")
def test_the_newest_generation_of_a_series_receiving_again_is_kept_for_the_next_one(retaining_node, tiny_model,
                                                                                    share) -> None:  # noqa: ANN001
    slices = series_slices(series="late-after-delivery", count=2, rows=ROWS)
    [first] = handed_off(retaining_node, slices)
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(first) and outbound.send_due() == 4
    assert store_all(retaining_node.port, [pixel_variant(slices[0])]) == [0]  # a late, corrected instance
    assert retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR) == []
    [second] = retaining_node.assemble_once(now=time.time() + 2 * HOUR)
    assert second.generation == 2 and len(second.instances) == 2  # made from generation 1, which was kept
    [purged] = retaining_node.runtime.purge_expired(now=time.time() + 3 * HOUR)  # now it may go
    assert purged.ready.generation == 1 and second.folder.is_dir() and len(list(second.folder.glob("*.dcm"))) == 2


@pytest.mark.req("SRS-150")
@pytest.mark.parametrize("killed", ["before the audit entry", "after the audit entry"])
def test_a_purge_killed_half_way_is_finished_once_and_nothing_is_analysed_again(retaining_node, tiny_model,
                                                                               monkeypatch, killed) -> None:  # noqa: ANN001
    [ready] = handed_off(retaining_node, series_slices(series=f"killed-{killed[:6]}", count=2, rows=ROWS))
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(ready) and outbound.send_due() == 4
    trail = retaining_node.trail
    real = type(trail).series_purged

    def dies(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003 - SIGKILL at this point
        if killed == "after the audit entry":
            real(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(type(trail), "series_purged", dies)
    with pytest.raises(KeyboardInterrupt):
        retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)
    monkeypatch.setattr(type(trail), "series_purged", real)
    assert not ready.folder.exists()  # the instances went first
    analyses = len(events("Analysis Run"))
    assert worker.run_once() == [] and len(events("Analysis Run")) == analyses  # not analysed again
    assert retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR) != []
    assert _leftovers(ready) == []
    entries = _purges()  # at least once; the resumed pass says it resumed, with the counts of the first
    assert len(entries) == (2 if killed == "after the audit entry" else 1)
    assert "resumed" in entries[-1]["details"] and entries[-1]["details"]["instances_deleted"] == "2"


@pytest.mark.req("SRS-150", "SRS-152")
def test_a_dead_letter_is_kept_until_requeued_then_delivered_and_purged(retaining_node, tiny_model, backup,
                                                                        capsys) -> None:  # noqa: ANN001
    from device_ai.cli import main

    [ready] = handed_off(retaining_node, series_slices(series="requeue-me", count=2, rows=ROWS))
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(ready)
    backup.rmdir()  # the backup share unmounted: its two results are dead-lettered after one attempt
    assert outbound.send_due() == 2
    dead = spool() / "outbound" / "dead" / "backup"
    assert len(list(dead.glob("*.json"))) == 2
    assert main(["requeue", "--destination", "nowhere"]) == 2  # a typed refusal, nothing moved
    assert "no destination named 'nowhere'" in capsys.readouterr().err and len(list(dead.glob("*.json"))) == 2
    backup.mkdir()  # fixed
    assert main(["requeue"]) == 0
    assert "2 dead letter(s) requeued" in capsys.readouterr().out and list(dead.glob("*.json")) == []
    requeued = events("Result Re-Queued")
    assert len(requeued) == 2 and all(e["action"] == "U" and e["details"]["destination"] == "backup"
                                      for e in requeued)
    for entry in requeued:  # named by keyed pseudonyms: the study, the series and the result instance
        kinds = {(o["kind"], o.get("role")) for o in entry["objects"]}
        assert {k for k, _ in kinds} == {"study", "series", "instance"} and ("instance", "result") in kinds
        assert ready.series in {o["id"] for o in entry["objects"]}
    entry = json.loads(next((spool() / "outbound" / "pending" / "backup").glob("*.json")).read_text())
    assert entry["attempts"] == 0 and entry["requeued"][0]["attempts"] == 1 and entry["errors"]  # history kept
    assert outbound.send_due() == 2 and len(list(backup.rglob("*.dcm"))) == 2
    assert main(["requeue"]) == 0 and "no dead letters to requeue" in capsys.readouterr().out
    [purged] = retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)
    assert purged.outcome.kind == "delivered" and _leftovers(ready) == []


@pytest.mark.req("SRS-150")
@pytest.mark.parametrize("sent", ["the corrected slice alone", "the whole series, corrected (control)"])
def test_after_a_purge_a_part_of_the_series_is_refused_not_analysed_alone(retaining_node, tiny_model, sent) -> None:  # noqa: ANN001
    slices = series_slices(series=f"after-purge-{sent[:5]}", count=3, rows=ROWS)
    [first] = handed_off(retaining_node, slices)
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(first) and outbound.send_due() == 4
    assert len(retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)) == 1
    corrected = pixel_variant(slices[2])
    [late] = handed_off(retaining_node, [corrected] if sent.startswith("the corrected") else [*slices[:2], corrected])
    analyses = len(events("Analysis Run"))
    assert worker.process(late)
    if sent.startswith("the corrected"):
        assert (late.purged_missing, _state(late)) == (2, "refused") and len(events("Analysis Run")) == analyses
        [refusal] = events("Series Refused")
        assert refusal["details"]["error"] == "DAI-210" and "retention" in refusal["details"]["reason"]
    else:
        assert (late.purged_missing, _state(late)) == (0, "done") and len(events("Analysis Run")) == analyses + 1


@pytest.mark.req("SRS-150")
def test_one_destination_confirmed_and_another_still_sending_is_not_purged_and_a_superseded_one_is(
        retaining_node, tiny_model, share) -> None:  # noqa: ANN001
    slices = series_slices(series="half-sent", count=2, rows=ROWS)
    [first] = handed_off(retaining_node, slices)
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(first)
    assert outbound.send_due(only="share") == 2  # the backup not yet
    assert retaining_node.runtime.purge_expired(now=time.time() + 100 * HOUR) == []
    assert first.folder.is_dir() and _purges() == []
    assert outbound.send_due(only="backup") == 2
    # a generation superseded before its analysis is purged too (its instances are in the next one)
    [second] = handed_off(retaining_node, [pixel_variant(slices[0])])
    [third] = handed_off(retaining_node, [pixel_variant(slices[1])])
    assert worker.run_once() and _state(second) == "superseded" and _state(third) == "done"
    assert outbound.send_due() == 4
    kinds = sorted(p.outcome.kind for p in retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR))
    assert kinds == ["delivered", "delivered", "superseded"]
    entries = {e["details"]["generation"]: e["details"] for e in _purges()}
    assert entries["1"]["instances_kept_by_later_generation"] == "1"  # the unchanged slice lives on in 2 and 3


@pytest.mark.req("SRS-150")
def test_the_purge_runs_at_least_every_minute_and_more_often_for_a_short_retention() -> None:
    from device_ai.node.runtime import PURGE_EVERY_MIN_S, purge_interval_s

    assert purge_interval_s(24) == 60 and purge_interval_s(87600) == 60
    assert purge_interval_s(0.5) == 30 and purge_interval_s(0) == PURGE_EVERY_MIN_S



@pytest.mark.req("SRS-152", "SRS-150")
def test_dead_letters_of_a_removed_destination_are_named_then_given_up_and_the_series_purged(
        retaining_node, tiny_model, share, backup, monkeypatch, capsys) -> None:  # noqa: ANN001
    from device_ai.cli import main
    from device_ai.node.status import node_status, render

    [ready] = handed_off(retaining_node, series_slices(series="removed-destination", count=2, rows=ROWS))
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(ready)
    backup.rmdir()
    assert outbound.send_due() == 2  # share has them; backup's two are dead letters
    assert any("device-ai requeue" in line for line in render(node_status(context())))
    node_env(monkeypatch, node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(share)}]))
    assert main(["requeue"]) == 0  # the backup is no longer configured: its dead letters are left, and named
    out = capsys.readouterr().out
    assert "no dead letters to requeue" in out and "left: dead letters of backup" in out
    assert retaining_node.runtime.purge_expired(now=time.time() + 100 * HOUR) == []  # still kept
    assert main(["requeue", "--discard"]) == 2 and "--discard needs --destination" in capsys.readouterr().err
    assert main(["requeue", "--discard", "--destination", "backup"]) == 0
    assert "2 result(s) given up for backup" in capsys.readouterr().out
    gone = events("Result Discarded")
    assert len(gone) == 2 and all(e["action"] == "D" and e["details"]["from"] == "dead" for e in gone)
    assert not any("device-ai requeue" in line for line in render(node_status(context())))
    [purged] = retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)
    assert purged.outcome.kind == "delivered" and _leftovers(ready) == []


@pytest.mark.req("SRS-150")
def test_a_refused_part_purged_in_between_does_not_stop_the_whole_corrected_series(retaining_node, tiny_model) -> None:  # noqa: ANN001
    # Review helper-46: generation 1 (A, B, C) analysed and purged; C' alone refused (a part) and
    # purged too; then A, B, C' sent: it must be analysed (was: taken for 'unchanged', nothing made).
    slices = series_slices(series="part-then-whole", count=3, rows=ROWS)
    [first] = handed_off(retaining_node, slices)
    worker, outbound = _pipeline(retaining_node)
    assert worker.process(first) and outbound.send_due() == 4
    assert len(retaining_node.runtime.purge_expired(now=time.time() + 2 * HOUR)) == 1
    corrected = pixel_variant(slices[2])
    [part] = handed_off(retaining_node, [corrected])
    assert worker.process(part) and _state(part) == "refused"
    assert [p.outcome.kind for p in retaining_node.runtime.purge_expired(now=time.time() + 4 * HOUR)] == ["refused"]
    analyses = len(events("Analysis Run"))
    [whole] = handed_off(retaining_node, [*slices[:2], corrected])
    assert (whole.generation, whole.purged_missing) == (3, 0)
    assert worker.process(whole) and _state(whole) == "done" and len(events("Analysis Run")) == analyses + 1
    # and the original bytes of generation 1, sent again now, are a change against generation 3 (no shortcut)
    [reverted] = handed_off(retaining_node, [slices[2]])
    assert reverted.generation == 4 and reverted.purged_missing == 0


@pytest.mark.req("SRS-152")
@pytest.mark.parametrize("name", ["../pending/share", "..", "bakcup", "share (control)"])
def test_discard_refuses_a_name_that_is_not_a_destination_of_the_queue(retaining_node, tiny_model, backup, name,
                                                                       capsys) -> None:  # noqa: ANN001
    from device_ai.cli import main

    [ready] = handed_off(retaining_node, series_slices(series=f"discard-{len(name)}", count=2, rows=ROWS))
    worker, _ = _pipeline(retaining_node)
    assert worker.process(ready)  # 2 results pending for share and 2 for backup, none sent
    pending = sorted((spool() / "outbound" / "pending").rglob("*.json"))
    code = main(["requeue", "--discard", "--destination", name.split(" ")[0]])
    if name.endswith("(control)"):
        assert code == 0 and "0 result(s) given up for share" in capsys.readouterr().out  # no dead letters
    else:
        assert code == 2 and "DAI-100" in capsys.readouterr().err  # a typed refusal, nothing moved
    assert sorted((spool() / "outbound" / "pending").rglob("*.json")) == pending and events("Result Discarded") == []


@pytest.mark.req("SRS-152")
def test_discard_gives_up_a_removed_destinations_pending_results_but_never_a_configured_ones(
        retaining_node, tiny_model, share, monkeypatch, capsys) -> None:  # noqa: ANN001
    from device_ai.cli import main

    [ready] = handed_off(retaining_node, series_slices(series="discard-pending", count=2, rows=ROWS))
    worker, _ = _pipeline(retaining_node)
    assert worker.process(ready)  # two results pending for share and two for backup, none sent
    pending = spool() / "outbound" / "pending"
    assert main(["requeue", "--discard", "--destination", "share"]) == 0  # control: configured, pending kept
    assert len(list((pending / "share").glob("*.json"))) == 2 and events("Result Discarded") == []
    node_env(monkeypatch, node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(share)}]))
    assert main(["requeue", "--discard", "--destination", "backup"]) == 0  # backup removed from the configuration
    assert "2 result(s) given up for backup" in capsys.readouterr().out
    assert list((pending / "backup").glob("*.json")) == [] and len(list((pending / "share").glob("*.json"))) == 2
    gone = events("Result Discarded")
    assert len(gone) == 2 and {e["details"]["from"] for e in gone} == {"pending"}
    assert len(list((spool() / "outbound" / "discarded" / "backup").glob("*.json"))) == 2

