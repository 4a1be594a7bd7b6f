"""Connections ``device-ai serve`` accepts are bounded in time and in memory before an
association exists (THR-008; review 134 defect T3, re-review 141 defects D3 and D4; SRS-092,
SRS-099).

pynetdicom 3.0.4 accepts connections in one thread and, with TLS, wraps each accepted socket
there with ``ssl_context.wrap_socket(sock, server_side=True)`` (``AssociationServer.get_request``):
the handshake ran in that thread, on a socket without a timeout, so one TCP connection that sent
nothing stopped every later handshake. Its reader then reads a PDU by ``recv`` calls until the
length the PDU's header states (``DULServiceProvider._read_pdu_data``, up to 4 GiB, held in
memory), so a peer that trickles a byte at a time, or states a huge length, held its association
slot, and that memory, for as long as it liked - before any AE title or certificate was checked.
Two supported hooks bound both:

- :class:`DeferredHandshakeContext`, the server's :class:`ssl.SSLContext` (the one object
  pynetdicom takes for TLS): ``wrap_socket`` is the only call pynetdicom makes on it, and on the
  server side it no longer performs the handshake there (``do_handshake_on_connect=False``, a
  documented parameter of :meth:`ssl.SSLContext.wrap_socket`). The handshake runs at the
  association's first read, in the association's own thread, under the guard below;
- :func:`guard_connection`, bound to ``EVT_CONN_OPEN`` (triggered before the association's thread
  reads anything): the connection's :class:`~pynetdicom.transport.AssociationSocket` becomes a
  :class:`GuardedConnection`, whose ``recv`` - the one method pynetdicom reads PDUs with - reads as
  pynetdicom's does, and besides (1) ends the connection when it has not become an association
  within ``establish_s`` of being accepted, however it trickles (the TLS handshake included), (2)
  ends any read that makes no progress for ``timeout_s``, and (3) refuses a PDU whose header states
  more than ``pdu_limit`` bytes before reading its body, and a PDU of a type PS3.8 does not define
  (whose body pynetdicom would not read, so the PDU boundaries would be lost). pynetdicom treats the error raised as a
  closed connection (Evt17): the association ends, the slot is free.

A connection that sends nothing is not read at all: it holds an association slot until
pynetdicom's ACSE timer ends it (``acse_timeout``, which is also ``establish_s``), TLS or not.
When the guard cannot be put in place (a pynetdicom whose connection class differs), the
connection is shut at once and the reason logged: fail closed, never an unguarded connection.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time

from pynetdicom.transport import AssociationSocket

LOG = logging.getLogger("device_ai.node.accepted_connections")
PDU_HEADER = struct.Struct(">BBL")  # PDU type, reserved, length of what follows (PS3.8 9.3)
PDU_LENGTH_LIMIT = 1 << 20  # an A-ASSOCIATE-RQ with 128 contexts and a user identity is far smaller
READ_SIZE = 4096  # what pynetdicom reads per call
# The PDU types of PS3.8 9.3. pynetdicom reads the header of any other type but not its body
# (Evt19, dul.py _read_pdu_data), so past such a header the guard could no longer tell where the
# next PDU starts (re-review 146 D1): that connection is ended at once.
PDU_TYPES = frozenset(range(0x01, 0x08))


class ConnectionGuardError(OSError):
    """The guard ended a connection (no association in time, or a PDU longer than the limit);
    an OSError, which pynetdicom's reader takes as a closed connection."""


class DeferredHandshakeContext(ssl.SSLContext):
    """An SSL context whose server-side sockets do their handshake at their first read or write
    (in the association's thread, under the connection's guard), not when pynetdicom wraps them."""

    def wrap_socket(self, sock, server_side: bool = False, do_handshake_on_connect: bool = True,  # noqa: ANN001
                    suppress_ragged_eofs: bool = True, server_hostname: str | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        return super().wrap_socket(sock, server_side=server_side,
                                   do_handshake_on_connect=do_handshake_on_connect and not server_side,
                                   suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
                                   session=session)


class GuardedConnection(AssociationSocket):
    """An accepted connection whose reads are bounded in time and PDU length (see the module)."""

    def guard(self, *, timeout_s: float, establish_s: float, pdu_limit: int) -> None:
        self.timeout_s, self.pdu_limit = timeout_s, pdu_limit
        self.establish_by: float | None = time.monotonic() + establish_s  # None once an association exists
        self.header = bytearray()  # the part of the next PDU header read so far
        self.body_left = 0  # bytes of the current PDU's body still to come

    def recv(self, nr_bytes: int) -> bytearray:
        """pynetdicom's ``AssociationSocket.recv`` (read until ``nr_bytes``, or fewer when the peer
        closes), each read under the guard's limits."""
        raw = self.socket
        data = bytearray()
        while len(data) < nr_bytes:
            raw.settimeout(self._read_timeout())
            chunk = raw.recv(min(READ_SIZE, nr_bytes - len(data)))
            if not chunk:
                return data
            self._follow(chunk)
            data += chunk
        return data

    def _read_timeout(self) -> float:
        if self.establish_by is None:
            return self.timeout_s
        if self.assoc.is_established:
            self.establish_by = None
            return self.timeout_s
        left = self.establish_by - time.monotonic()
        if left <= 0:
            raise ConnectionGuardError("the connection did not become an association in time; closed")
        return min(self.timeout_s, left)

    def _follow(self, chunk: bytes) -> None:
        """Follow the PDU boundaries in the bytes read; refuse a stated length over the limit
        before its body is read."""
        at = 0
        while at < len(chunk):
            if self.body_left:
                taken = min(self.body_left, len(chunk) - at)
                self.body_left -= taken
                at += taken
                continue
            wanted = PDU_HEADER.size - len(self.header)
            self.header += chunk[at:at + wanted]
            at += wanted
            if len(self.header) == PDU_HEADER.size:
                pdu_type, _, length = PDU_HEADER.unpack(self.header)
                self.header.clear()
                if pdu_type not in PDU_TYPES:
                    raise ConnectionGuardError(f"a PDU of unknown type 0x{pdu_type:02X}; closed")
                if length > self.pdu_limit:
                    raise ConnectionGuardError(f"a PDU stating {length} bytes, more than the {self.pdu_limit} "
                                               "the node reads; closed")
                self.body_left = length


def guard_connection(event, timeout_s: float, establish_s: float, pdu_limit: int) -> None:  # noqa: ANN001
    """``EVT_CONN_OPEN``: put the accepted connection under :class:`GuardedConnection`'s limits;
    shut it when that is not possible (an exception here would only be logged by pynetdicom,
    leaving the connection unguarded)."""
    connection = event.assoc.dul.socket
    try:
        if type(connection) is not AssociationSocket or connection.socket is None:
            raise TypeError(f"pynetdicom's connection is a {type(connection).__name__}, not the AssociationSocket "
                            "the guard extends")
        connection.__class__ = GuardedConnection  # the same object, its reads bounded from the first one
        connection.guard(timeout_s=timeout_s, establish_s=establish_s, pdu_limit=pdu_limit)
        connection.socket.settimeout(timeout_s)  # writes too
    except Exception as exc:
        LOG.error("an accepted connection could not be guarded and was closed (%s); check the pynetdicom version "
                  "against the one the device was verified with", exc)
        raw = getattr(connection, "socket", None)
        if raw is not None:
            try:
                socket.socket.shutdown(raw, socket.SHUT_RDWR)  # the OS socket, whatever wraps it
            except OSError:
                pass
