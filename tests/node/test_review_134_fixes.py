"""The fixes of review 134's defects T1, T3 and T4 (helper-136, 2026-12-07, not re-reviewed), beyond the review's
own tests (tests/review/test_review_134.py): each next to a control that shows the behaviour without the fix.

- T3 (THR-008): a connection that stalls part-way - inside the TLS handshake, or inside a PDU on a plain port -
  ends after node_idle_timeout_s (the accepted socket's timeout, node/accepted_connections.py); control: without
  that timeout the connection holds its association slot as long as it stays open.
- T1 (THR-005): a file of the hot folder seen changing for max(60 s, 12 settle intervals) is reported once, in the
  log and in one audit entry per such interval that names no file, and left in IN; control: a file that settles
  is taken and never reported. In turns, the files of a nested IN are listed in one order, round and round.
- T4 (THR-012): with the real audit log, each send is between its Result Send Started entry and its outcome's
  entry; with the log's writer stopped (as after a write error) nothing is sent, the queue entry is left as it was
  and the outbound thread says so once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.node.conftest import context, events, node_env, wait_for
from tests.node.test_hot_folder import drop, hot_folder  # noqa: F401 - hot_folder: the fixture

# --- T3: stalls inside a handshake or a PDU ---------------------------------------------------


def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "client", ca)
    return folder


@pytest.mark.req("SRS-092", "SRS-099")
@pytest.mark.parametrize("port", ["tls", "plain"])
@pytest.mark.parametrize("timeout", ["set (the fix)", "not set (control)"])
def test_a_connection_that_stalls_part_way_ends_after_the_idle_timeout(monkeypatch, tmp_path, port, timeout) -> None:  # noqa: ANN001
    from device_ai.node import server as module
    from device_ai.node.server import NodeServer

    if timeout.startswith("not"):
        monkeypatch.setattr(module, "guard_connection", lambda event, timeout_s, establish_s, pdu_limit: None)
    tls = {}
    if port == "tls":
        pki = _pki(tmp_path)
        tls = {"node_tls_cert_file": pki / "server.pem", "node_tls_key_file": pki / "server.key",
               "node_tls_ca_file": pki / "ca.pem"}
    node_env(monkeypatch, node_idle_timeout_s=0.5, **tls)
    node = NodeServer(context())
    node.port = node.start()[1]
    # the start of a TLS record (a ClientHello), or of an A-ASSOCIATE-RQ PDU: then nothing more
    start = b"\x16\x03\x01\x02\x00\x01" if port == "tls" else b"\x01\x00\x00"
    stalled = socket.create_connection(("127.0.0.1", node.port))
    try:
        stalled.sendall(start)
        wait_for(lambda: node._ae.active_associations, timeout=5)  # it holds an association's thread
        end = time.monotonic() + 3  # six idle timeouts
        while node._ae.active_associations and time.monotonic() < end:
            time.sleep(0.05)
        assert (not node._ae.active_associations) is timeout.startswith("set")
    finally:
        stalled.close()
        node.stop()
    if port == "plain" and timeout.startswith("set"):
        assert not events("DICOM Association")  # nothing was negotiated, nothing recorded


# --- T1: files that keep changing are reported --------------------------------------------------


@pytest.mark.req("SRS-136")
def test_a_file_that_keeps_changing_is_reported_once_and_left_in_in(hot_folder, caplog) -> None:  # noqa: ANN001
    folder = hot_folder(settle_s=1.0)
    assert folder.unsettled_report_s == 60.0  # max(60 s, 12 settle intervals)
    growing = drop(b"growing", folder.inbox / "a.dcm")
    settled = drop(b"not DICOM: refused once settled\n", folder.inbox / "b.txt")  # control: settles, never reported
    later = None
    with caplog.at_level(logging.WARNING, logger="device_ai.node.hot_folder"):
        for now in (0.0, 30.0, 59.0, 60.0, 61.0, 90.0, 119.0, 120.0, 121.0):
            if now == 30.0:
                later = drop(b"growing too", folder.inbox / "c.dcm")
            for path in (growing, later):
                if path is not None:
                    with open(path, "ab") as handle:
                        handle.write(b".")  # still being written before every pass
            folder.scan_once(now=now)
            reports = events("Hot Folder Files Not Settling")
            expected = 0 if now < 60 else 1 if now < 120 else 2  # a at 60 s; c at 90 s, held until 120 s
            assert len(reports) == expected, now
    assert growing.exists() and later.exists() and not settled.exists()  # left in IN; the junk was refused
    assert [r["details"]["files"] for r in reports] == ["1", "1"]
    assert all(r["details"]["changing_for_s"] == "60" and "a.dcm" not in str(r) for r in reports)
    warnings = [r.getMessage() for r in caplog.records if "kept changing" in r.getMessage()]
    assert len(warnings) == 2 and "a.dcm" not in warnings[0]


# --- T4: the real audit log ---------------------------------------------------------------------


def _queue(tmp_path: Path, trail):  # noqa: ANN001, ANN202
    from device_ai.config import Destination, Settings
    from device_ai.node.outbound import Outbound, ResultFile

    (tmp_path / "share").mkdir(parents=True, exist_ok=True)
    settings = Settings(node_destinations=[Destination(name="share", kind="folder", path=tmp_path / "share")])
    result = tmp_path / "node" / "work" / "segmentation.dcm"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(b"result")
    queue = Outbound(tmp_path / "node", settings, trail=trail)
    queue.enqueue("k", study="s", series="r", generation=1, files=[ResultFile("seg", result, "1.2", "2.25.1")])
    return queue


@pytest.mark.req("SRS-132")
@pytest.mark.parametrize("writer", ["working", "stopped after a write error"])
def test_a_send_is_made_only_after_its_start_is_in_the_audit_log(monkeypatch, tmp_path, caplog, writer) -> None:  # noqa: ANN001
    from device_ai.node import outbound
    from device_ai.node.outbound import SendsHeld
    from device_ai.node.trail import NodeTrail

    log = context().open_audit_log()
    sent: list[str] = []
    monkeypatch.setattr(outbound, "send", lambda dest, *args, **kwargs: sent.append(dest.name) or "stored")
    queue = _queue(tmp_path, NodeTrail(log))
    if writer == "working":
        assert queue.send_due() == 1 and sent == ["share"]
        started, transferred = events("Result Send Started"), events("DICOM Instances Transferred")
        assert [e["details"]["attempt"] for e in started] == [e["details"]["attempt"] for e in transferred] == ["1"]
        assert started[0]["seq"] < transferred[0]["seq"] and transferred[0]["details"]["response"] == "stored"
        return
    log.file.failed = OSError(28, "No space left on device")  # what the writer keeps after a failed write
    [pending] = queue.pending("share")
    before = pending.read_bytes()
    with pytest.raises(SendsHeld, match="not sent until it can") as raised:
        queue.send_due()
    assert raised.value.code == "DAI-700" and "restart" in raised.value.hint
    assert sent == [] and pending.read_bytes() == before  # nothing sent, the entry as it was
    stop = threading.Event()
    with caplog.at_level(logging.ERROR, logger="device_ai.node.outbound"):
        thread = threading.Thread(target=queue.run, args=(stop, 0.05))
        thread.start()
        time.sleep(0.5)  # about ten passes
        stop.set()
        thread.join(5)
    said = [r for r in caplog.records if "not sent until it can" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None and sent == []  # once, without a traceback


@pytest.mark.req("SRS-136")
def test_turns_go_round_every_file_of_a_nested_in_once(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    from device_ai.node import hot_folder as module

    folder = hot_folder(settle_s=1.0)
    names = ["z.dcm", "b/a.dcm", "a/c.dcm", "a/b/y.dcm", "a.dcm", "b/c/d/e.dcm", "m.dcm", "a/b/c/x.dcm"]
    for name in names:
        drop(b"x", folder.inbox / name)
    whole = folder.listing()  # one listing shows them all: the order itself
    assert [path for path, _ in folder.candidates()] == [Path(p) for p in whole]
    assert sorted(whole) == sorted(str(folder.inbox / n) for n in names)
    assert [folder.order(p) for p in whole] == sorted(folder.order(p) for p in whole)  # folder by folder, by name
    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)
    monkeypatch.setattr(folder.spool, "free_bytes", lambda: 0)  # settled files wait in IN (node_min_free_mb)
    seen = []
    for step in range(20):  # four turns of three files (one settle interval each): round once, then again
        folder.scan_once(now=step * 0.25)  # helper-145: a turn's files are fixed at its first pass
        if folder._turn is not None and folder._turn.started == step * 0.25:
            turn = folder._turn.files
            assert len(turn) == len(set(turn)) == 3
            seen += turn
    assert seen == (whole * 2)[:12]  # the same order, round and round: nothing skipped, nothing repeated
