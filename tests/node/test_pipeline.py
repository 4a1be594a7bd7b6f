"""The worker and the outbound queue (issue 15 items 3 and 7): each ready generation analysed
once through the audited analyze action, results sent by C-STORE to dcmtk storescp, retried
while the destination is down, dead-lettered after N failures, resumed after a restart, and a
refused series giving no result and a visible reason.

Model: the tiny signed test package (tests/package_factory.py, a 1x1 convolution) everywhere:
these tests are about the node, not the model, and the embedded model is slow on shared CPUs.
The node runs in this process (NodeServer(pipeline=True)) unless a test says otherwise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from device_ai.node import outbound as outbound_module
from device_ai.node.server import NodeServer
from tests.node.conftest import context, events, free_port, node_env, series_slices, spool, store_all, wait_for
from tests.node.pipeline_peers import (by_modality, destinations, referenced_sources, sr_evidence, storescp,  # noqa: F401
                                       tiny_model)

pytestmark = pytest.mark.dicom_tools
ROWS = 256  # the input contract's smallest matrix


@pytest.fixture
def pipeline_node(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``pipeline_node(**settings)``: a started node with worker and outbound threads."""
    started: list[NodeServer] = []

    def make(**settings: object) -> NodeServer:
        node_env(monkeypatch, **{"node_series_idle_s": 0.3, **settings})
        server = NodeServer(context(), pipeline=True)
        server.port = server.start()[1]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def _outbound(state: str, dest: str = "scp") -> list[dict]:
    folder = spool() / "outbound" / state / dest
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _delivered(scp, sent_uids: set[str]) -> str | None:  # noqa: ANN001
    """None when the destination holds exactly one SEG and one SR for the series, referencing
    every sent instance; else what is wrong."""
    received = scp.received()
    segs, srs = by_modality(received, "SEG"), by_modality(received, "SR")
    if len({s.SOPInstanceUID for s in segs}) != 1 or len({s.SOPInstanceUID for s in srs}) != 1:
        return f"{len(segs)} SEG and {len(srs)} SR received"
    if referenced_sources(segs[0]) != sent_uids:
        return "the SEG does not reference exactly the sent instances"
    if not sent_uids | {segs[0].SOPInstanceUID} <= sr_evidence(srs[0]):
        return "the SR's evidence misses a sent instance or the SEG"
    return None


@pytest.mark.req("SRS-124", "SRS-125", "SRS-132")
def test_a_received_series_is_analysed_once_and_its_seg_and_sr_stored_at_the_destination(
        pipeline_node, storescp, tiny_model, dciodvfy) -> None:  # noqa: ANN001
    from device_ai.dicom.uids import derived_uid
    from device_ai.node.worker import uid_seed
    from device_ai.node.spool import ready_markers
    from device_ai.pseudonyms import pseudonym

    scp = storescp()
    node = pipeline_node(node_destinations=destinations(scp.destination()))
    slices = series_slices(series="pipeline-1", count=3, rows=ROWS)
    assert store_all(node.port, slices) == [0, 0, 0]
    wait_for(lambda: _delivered(scp, {ds.SOPInstanceUID for ds in slices}) is None, timeout=60, step=0.2)
    wait_for(lambda: len(_outbound("sent")) == 2)
    for path in scp.files():
        from conftest import dciodvfy_errors

        assert dciodvfy_errors(dciodvfy, path) == [], path.name
    [ready] = ready_markers(spool())
    seg = by_modality(scp.received(), "SEG")[0]
    assert ready.series == pseudonym("series", slices[0].SeriesInstanceUID)
    assert seg.SOPInstanceUID == derived_uid(uid_seed(ready), "seg-instance")  # deterministic per (series, generation)
    runs = [e for e in events("Analysis Run") if e["outcome"] == 0]
    assert len(runs) == 1
    sends = [e for e in events("DICOM Instances Transferred") if e["action"] == "R"]
    assert len(sends) == 2 and all(e["outcome"] == 0 for e in sends)
    text = json.dumps(sends)  # pseudonyms only: no UID of the source or of the result in the trail
    assert slices[0].SeriesInstanceUID not in text and seg.SOPInstanceUID not in text
    time.sleep(1.0)  # nothing more comes: exactly once
    assert len(events("Analysis Run")) == 1 and len(scp.files()) == 2


@pytest.mark.req("SRS-127")
def test_results_wait_while_the_destination_is_down_and_arrive_when_it_is_back(
        pipeline_node, storescp, tiny_model) -> None:  # noqa: ANN001
    port = free_port()
    dest = {"name": "scp", "kind": "dimse", "ae_title": "TESTDEST", "host": "127.0.0.1", "port": port, "timeout_s": 5}
    node = pipeline_node(node_destinations=destinations(dest), node_send_retry_base_s=0.1, node_send_retry_max_s=0.4,
                         node_send_max_attempts=1000)
    slices = series_slices(series="pipeline-down", count=2, rows=ROWS)
    assert store_all(node.port, slices) == [0, 0]
    wait_for(lambda: all(e["attempts"] >= 3 for e in _outbound("pending")) and len(_outbound("pending")) == 2,
             timeout=60, step=0.1)
    entry = _outbound("pending")[0]
    assert "cannot connect" in entry["last_error"] or "no association" in entry["last_error"]
    scp = storescp(port=port)  # the destination comes back
    wait_for(lambda: _delivered(scp, {ds.SOPInstanceUID for ds in slices}) is None, timeout=30, step=0.2)
    wait_for(lambda: not _outbound("pending") and len(_outbound("sent")) == 2)
    failures = [e for e in events("DICOM Instances Transferred") if e["action"] == "R" and e["outcome"] != 0]
    assert len(failures) >= 6 and all(e["details"]["reason"] for e in failures)


@pytest.mark.req("SRS-127")
def test_backoff_doubles_up_to_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    node_env(monkeypatch, node_send_retry_base_s=2, node_send_retry_max_s=10)
    settings = context().settings
    assert [outbound_module.backoff_s(n, settings) for n in range(1, 6)] == [2, 4, 8, 10, 10]


@pytest.mark.req("SRS-128")
def test_a_result_goes_to_the_dead_letter_folder_with_its_reasons_after_n_failures(pipeline_node, tiny_model) -> None:  # noqa: ANN001
    dest = {"name": "scp", "kind": "dimse", "ae_title": "TESTDEST", "host": "127.0.0.1", "port": free_port(),
            "timeout_s": 2}
    # The series' two slices must make one generation: with the file's 0.3 s idle time a loaded machine (the suite on
    # three workers, 2026-12-08) split them into two, and the second generation's results were still pending when
    # the first's were dead-lettered. This test is about dead-lettering, not about when a series is complete.
    node = pipeline_node(node_destinations=destinations(dest), node_send_retry_base_s=0.05,
                         node_send_retry_max_s=0.1, node_send_max_attempts=3, node_series_idle_s=2.0)
    assert store_all(node.port, series_slices(series="pipeline-dead", count=2, rows=ROWS)) == [0, 0]
    wait_for(lambda: len(_outbound("dead")) == 2, timeout=60, step=0.1)
    assert _outbound("pending") == []
    for entry in _outbound("dead"):
        assert entry["attempts"] == 3 and len(entry["errors"]) == 3
        assert all(error["reason"] for error in entry["errors"])
    dead = events("Result Dead-Lettered")
    assert len(dead) == 2 and {e["details"]["result"] for e in dead} == {"seg", "sr"}
    assert all(e["details"]["attempts"] == "3" and e["details"]["reason"] for e in dead)


class ForgetfulOutbound(outbound_module.Outbound):
    """Negative control: a queue that keeps its entries in memory only (forgets on restart)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        for dest in self.destinations:
            for path in self.pending(dest):
                path.unlink()


@pytest.mark.req("SRS-129")
@pytest.mark.parametrize("queue", ["durable", "forgetful (negative control)"])
def test_a_restart_resumes_the_queue(pipeline_node, storescp, tiny_model, monkeypatch, queue) -> None:  # noqa: ANN001
    port = free_port()
    dest = {"name": "scp", "kind": "dimse", "ae_title": "TESTDEST", "host": "127.0.0.1", "port": port, "timeout_s": 2}
    settings = {"node_destinations": destinations(dest), "node_send_retry_base_s": 0.1, "node_send_retry_max_s": 0.2,
                "node_send_max_attempts": 1000}
    first = pipeline_node(**settings)
    slices = series_slices(series="pipeline-restart", count=2, rows=ROWS)
    assert store_all(first.port, slices) == [0, 0]
    wait_for(lambda: len(_outbound("pending")) == 2 and all(e["attempts"] >= 1 for e in _outbound("pending")),
             timeout=60, step=0.1)
    first.stop()
    if queue != "durable":
        from device_ai.node import worker

        monkeypatch.setattr(worker, "Outbound", ForgetfulOutbound)
    scp = storescp(port=port)
    pipeline_node(**settings)
    delivered = {ds.SOPInstanceUID for ds in slices}
    if queue == "durable":
        wait_for(lambda: _delivered(scp, delivered) is None, timeout=30, step=0.2)
        assert len(events("Analysis Run")) == 1  # resumed, not analysed again
    else:
        time.sleep(2.0)
        assert _delivered(scp, delivered) is not None  # the check catches a queue that forgets


@pytest.mark.req("SRS-130", "SRS-131")
def test_a_refused_series_gives_no_result_and_a_visible_reason(pipeline_node, storescp, tiny_model) -> None:  # noqa: ANN001
    scp = storescp()
    node = pipeline_node(node_destinations=destinations(scp.destination()))
    assert store_all(node.port, series_slices(series="pipeline-small", count=2, rows=64)) == [0, 0]  # below the contract
    wait_for(lambda: list((spool() / "refused").glob("*.json")), timeout=60, step=0.1)
    [refused] = [json.loads(p.read_text()) for p in (spool() / "refused").glob("*.json")]
    assert refused["code"] == "DAI-210" and "Rows" in refused["message"]
    [entry] = events("Series Refused")
    assert entry["details"]["error"] == "DAI-210" and entry["outcome"] == 4
    assert [e["details"]["error"] for e in events("Analysis Run")] == ["DAI-210"]
    time.sleep(1.0)
    assert scp.files() == [] and _outbound("pending") == [] and _outbound("sent") == []
    assert not (spool() / "work" / f"{refused['series']}.gen-0001" / "result").exists()
    from device_ai.node.status import node_status, render

    status = node_status(context())  # visible to the operator
    assert status["generations"]["refused"] == 1 and status["last_refusals"][0]["code"] == "DAI-210"
    assert any(line.startswith("last refusals: ") and "DAI-210" in line for line in render(status))


@pytest.mark.req("SRS-132")
def test_a_destination_url_s_credentials_never_reach_the_trail() -> None:
    from device_ai.config import Destination
    from device_ai.node.trail import _peer

    dest = Destination(name="web", kind="stow", url="https://site-user:secret@pacs.example:8443/dicom-web/studies")
    assert _peer(dest) == "https://pacs.example:8443/dicom-web/studies"


@pytest.mark.req("SRS-127", "SRS-128")
def test_the_queue_waits_for_the_backoff_and_dead_letters_at_exactly_n_failures(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """In process, with a sender that always fails (no network): attempt k is made only once its
    backoff has passed, the entry stays pending after N-1 failures and is dead after N (a queue
    that dead-letters early or never is caught)."""
    from device_ai.node.outbound import Outbound, ResultFile, SendFailed

    node_env(monkeypatch, node_destinations=destinations({"name": "scp", "kind": "dimse", "ae_title": "X",
                                                          "host": "127.0.0.1", "port": 9}),
             node_send_max_attempts=4, node_send_retry_base_s=10, node_send_retry_max_s=25)
    calls: list[str] = []

    def refuse(*args, **kwargs) -> str:  # noqa: ANN002, ANN003
        calls.append("send")
        raise SendFailed("C-STORE status 0xA700")

    monkeypatch.setattr(outbound_module, "send", refuse)
    queue = Outbound(spool(), context().settings)
    result = spool() / "work" / "k" / "seg.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"")
    assert queue.enqueue("k", study="s", series="x", generation=1,
                         files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, "2.25.1")]) == 1
    assert queue.enqueue("k", study="s", series="x", generation=1,
                         files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, "2.25.1")]) == 0
    now = time.time()
    waits = []
    for attempt in range(1, 4):
        queue.send_due(now=now)
        [entry] = _outbound("pending")
        assert entry["attempts"] == attempt and len(calls) == attempt
        waits.append(entry["next_attempt"] - now)
        queue.send_due(now=entry["next_attempt"] - 0.5)  # not yet due: no attempt
        assert len(calls) == attempt
        now = entry["next_attempt"]
    assert [round(w) for w in waits] == [10, 20, 25]  # doubled, capped
    queue.send_due(now=now)
    assert _outbound("pending") == [] and len(calls) == 4
    [dead] = _outbound("dead")
    assert dead["attempts"] == 4 and [e["reason"] for e in dead["errors"]] == ["C-STORE status 0xA700"] * 4
    assert queue.enqueue("k", study="s", series="x", generation=1,
                         files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, "2.25.1")]) == 0  # never again
