"""Connections ``device-ai serve`` accepts are bounded in time before an association exists
(THR-008, review 134 defect T3; SRS-092, SRS-099).

pynetdicom 3.0.4 accepts connections in one thread and, with TLS, wraps each accepted socket
there with ``ssl_context.wrap_socket(sock, server_side=True)`` (``AssociationServer.get_request``):
the handshake runs in that thread, on a socket without a timeout, so one TCP connection that sends
nothing stopped every later handshake for as long as it stayed open. pynetdicom has no option for
a handshake timeout, and its accepted sockets have no timeout at all (a peer that stops in the
middle of a PDU blocks its association's reads). Two supported hooks fix both without touching
pynetdicom's internals:

- :class:`DeferredHandshakeContext`, the server's :class:`ssl.SSLContext` (the one object
  pynetdicom takes for TLS): ``wrap_socket`` is the only call pynetdicom makes on it, and on the
  server side it no longer performs the handshake there (``do_handshake_on_connect=False``, a
  documented parameter of :meth:`ssl.SSLContext.wrap_socket`). The handshake then runs at the
  association's first read, in the association's own thread;
- :func:`bound_in_time`, bound to ``EVT_CONN_OPEN`` (triggered before the association's thread
  reads anything): the accepted socket gets ``node_idle_timeout_s`` as its timeout, so a
  handshake, and a PDU, that stalls longer ends the connection.

A connection that sends nothing is not read at all: it holds an association slot until
pynetdicom's ACSE timer ends it (``acse_timeout``: min(30 s, node_idle_timeout_s)), TLS or not.
"""

from __future__ import annotations

import ssl


class DeferredHandshakeContext(ssl.SSLContext):
    """An SSL context whose server-side sockets do their handshake at their first read or write
    (in the association's thread, under the socket's timeout), not when pynetdicom wraps them."""

    def wrap_socket(self, sock, server_side: bool = False, do_handshake_on_connect: bool = True,  # noqa: ANN001
                    suppress_ragged_eofs: bool = True, server_hostname: str | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        return super().wrap_socket(sock, server_side=server_side,
                                   do_handshake_on_connect=do_handshake_on_connect and not server_side,
                                   suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
                                   session=session)


def bound_in_time(event, timeout_s: float) -> None:  # noqa: ANN001 - pynetdicom.events.Event
    """``EVT_CONN_OPEN``: every blocking read or write of the accepted connection (the deferred
    TLS handshake included) ends after ``timeout_s`` without progress; pynetdicom then closes it."""
    connection = event.assoc.dul.socket
    if connection is not None and connection.socket is not None:
        connection.socket.settimeout(timeout_s)
