"""The node's accepted connections under node/accepted_connections.GuardedConnection (SRS-092, THR-008; re-review
141 defects D3 and D4): each limit next to a control that shows the behaviour without it.

- The PDU boundaries the guard follows are those of the stream, however the reads split it (a property test against
  a model of the stream); a stated length over the limit is refused before any byte of its body is read.
- A connection that trickles an association request is closed at the deadline; a peer that associates at once is
  not affected, and after the association the deadline no longer applies (a C-STORE slower than it is stored).
- A pynetdicom whose connection is not the class the guard extends: the connection is shut, not left unguarded.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_ai.node.accepted_connections import PDU_HEADER, ConnectionGuardError, GuardedConnection
from tests.node.conftest import associate, context, node_env, series_slices


class _Reader:
    """Only the guard's PDU follower, fed chunk by chunk (no socket)."""

    def __init__(self, limit: int) -> None:
        self.guarded = GuardedConnection.__new__(GuardedConnection)
        self.guarded.pdu_limit, self.guarded.header, self.guarded.body_left = limit, bytearray(), 0

    def feed(self, chunk: bytes) -> None:
        self.guarded._follow(chunk)


def _stream(lengths: list[int]) -> tuple[bytes, list[int]]:
    """PDUs of the given body lengths; and where each header ends in the stream."""
    stream, ends = bytearray(), []
    for n, length in enumerate(lengths):
        stream += PDU_HEADER.pack(1 + n % 7, 0, length)
        ends.append(len(stream))
        stream += bytes([n % 251]) * length
    return bytes(stream), ends


@pytest.mark.req("SRS-092")
@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(0, 300), min_size=1, max_size=8), too_long=st.integers(-1, 7),
       cuts=st.lists(st.integers(1, 97), min_size=1, max_size=40))
def test_the_guard_follows_pdu_boundaries_however_the_reads_split_them(lengths, too_long, cuts) -> None:  # noqa: ANN001
    limit = 200
    lengths = [min(length, limit) for length in lengths]
    if 0 <= too_long < len(lengths):
        lengths[too_long] = limit + 1 + too_long  # one PDU over the limit
    stream, header_ends = _stream(lengths)
    refused_at = next((end for end, length in zip(header_ends, lengths, strict=True) if length > limit), None)
    reader, at, cut = _Reader(limit), 0, 0
    while at < len(stream):
        chunk = stream[at:at + cuts[cut % len(cuts)]]
        cut += 1
        try:
            reader.feed(chunk)
        except ConnectionGuardError:
            # refused in the read that completed the long PDU's header, before any byte of its body was asked for
            assert refused_at is not None and at < refused_at <= at + len(chunk)
            return
        at += len(chunk)
    assert refused_at is None  # control: every PDU within the limit passes, whatever the split


def _node(monkeypatch: pytest.MonkeyPatch, **settings: object):  # noqa: ANN202 - NodeServer
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, **settings)
    node = NodeServer(context())
    node.port = node.start()[1]
    return node


def _trickle_then_peer(monkeypatch: pytest.MonkeyPatch) -> bool:
    """node_max_associations 1, ACSE timeout 0.4 s: a connection states a 1,000-byte A-ASSOCIATE-RQ and trickles it;
    whether an allowed peer gets in 1.2 s later."""
    node = _node(monkeypatch, node_max_associations=1, node_idle_timeout_s=0.4)
    connection = socket.create_connection(("127.0.0.1", node.port))
    try:
        connection.sendall(b"\x01\x00" + struct.pack(">L", 1000))
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            try:
                connection.sendall(b"\x00")
            except OSError:  # closed by the node
                break
            time.sleep(0.1)
        time.sleep(max(0.0, end - time.monotonic()))
        peer = associate(node.port)
        established = peer.is_established
        if established:
            peer.release()
        return established
    finally:
        connection.close()
        node.stop()


@pytest.mark.req("SRS-092")
@pytest.mark.parametrize("deadline", ["kept (the fix)", "undone (control)"])
def test_a_trickled_association_request_is_closed_at_the_deadline(monkeypatch, deadline) -> None:  # noqa: ANN001
    if deadline.startswith("undone"):
        monkeypatch.setattr(GuardedConnection, "_read_timeout", lambda self: self.timeout_s)
    assert _trickle_then_peer(monkeypatch) is deadline.startswith("kept")


@pytest.mark.req("SRS-092")
def test_after_the_association_the_deadline_no_longer_applies(monkeypatch) -> None:  # noqa: ANN001
    # ACSE timeout 0.3 s, idle 0.3 s: an association that lives 1 s, storing one instance every 0.2 s, is served
    # to the end (the deadline covers only the time before the association exists)
    node = _node(monkeypatch, node_idle_timeout_s=0.3)
    try:
        assoc = associate(node.port)
        assert assoc.is_established
        statuses = []
        for ds in series_slices("guard-after", 5):
            statuses.append(getattr(assoc.send_c_store(ds), "Status", None))
            time.sleep(0.2)
        assoc.release()
    finally:
        node.stop()
    assert statuses == [0] * 5


@pytest.mark.req("SRS-092")
@pytest.mark.parametrize("connection_class", ["pynetdicom's AssociationSocket", "another class (control)"])
def test_a_connection_that_cannot_be_guarded_is_shut(monkeypatch, caplog, connection_class) -> None:  # noqa: ANN001
    from device_ai.node import accepted_connections

    if connection_class.startswith("another"):
        monkeypatch.setattr(accepted_connections, "AssociationSocket", type("Renamed", (), {}))
    node = _node(monkeypatch, node_idle_timeout_s=2.0)
    try:
        assoc = associate(node.port)
        established = assoc.is_established
        if established:
            assoc.release()
    finally:
        node.stop()
    assert established is connection_class.startswith("pynetdicom")
    said = [r for r in caplog.records if "could not be guarded" in r.getMessage()]
    assert bool(said) is connection_class.startswith("another")


@pytest.mark.req("SRS-092")
@pytest.mark.parametrize("stop", ["the node's stop", "no stop (control)"])
def test_a_connection_still_negotiating_does_not_outlive_the_stop(monkeypatch, stop) -> None:  # noqa: ANN001
    """A connection that sends nothing waits for an A-ASSOCIATE-RQ for the ACSE timeout (30 s here). The stop ends
    it at once: it has nothing to finish, and waiting held every stop for 10 s per such connection (a port scan, a
    failed TLS handshake)."""
    node = _node(monkeypatch, node_idle_timeout_s=60)
    silent = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    try:
        deadline = time.monotonic() + 5
        while not node._ae.active_associations and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.02)
        [negotiating] = node._ae.active_associations  # noqa: SLF001
        assert not negotiating.is_established
        if stop == "the node's stop":
            node.stop()
        else:
            negotiating.join(timeout=1.0)
        assert negotiating.is_alive() is (stop != "the node's stop")
    finally:
        silent.close()
        node.stop()
