"""``device-ai serve``: the Storage SCP of the DICOM node (issue 15 items 1 and 2; SRS-090 to
SRS-099).

One pynetdicom AE accepts Verification (C-ECHO) and the SOP classes and transfer syntaxes of
:mod:`device_ai.node.services`, from the calling AE titles of the allow-list only (pynetdicom's
``require_calling_aet``, checked while the association is negotiated, where the calling AE
title is known; the C-STORE handler checks it again), and the called AE title must be the
node's. Optional TLS (mutual when a CA file is configured), a limit on simultaneous
associations and an idle timeout; accepted connections are bounded in time (the TLS handshake
included) and in PDU length before an association exists (:mod:`device_ai.node.accepted_connections`). Without TLS it listens only on loopback, unless the site states
why clear text is acceptable on its network (``node_cleartext_reason``, SRS-226): refused before
anything is bound or spooled, and the stated reason is in the start's audit entry and banner. In the
same way, on an address other than loopback every peer must present a certificate of the site's CA
(``node_tls_ca_file``), unless the site states why unauthenticated peers are acceptable there
(``node_unauthenticated_peers_reason``, SRS-229, :mod:`device_ai.peer_authentication`).

While an instance arrives, its data set bytes are counted from the P-DATA fragments and the
association is aborted once they pass ``node_max_instance_mb`` (pynetdicom holds a message in
memory until it is complete: at most node_max_associations x node_max_instance_mb in all).

Each C-STORE, in the association's thread: size limit, free space on the spool's file system
(0xA700 below ``node_min_free_mb``, so senders retry later), the bytes as received written to
a temp file and fsynced, read back with the device's reader and its limits
(:func:`device_ai.dicom.reader.read_dataset`), UIDs checked against the request, then
:meth:`Spool.commit` (rename into the series, idle timer reset, folders fsynced), the receive
recorded in the audit trail, and only then the success status. Any failure is a status, never
an exception out of the handler: the server keeps serving.

A background thread hands each series that has been idle for ``node_series_idle_s`` to
analysis (:meth:`Spool.hand_off`). On start the spool is recovered first (:meth:`Spool.recover`).
Both, and the lock and the trail, are :class:`device_ai.node.runtime.NodeRuntime`, which
``device-ai watch`` (:mod:`device_ai.node.hot_folder`) shares. ``serve`` also runs the worker
and the outbound queue (:class:`device_ai.node.worker.Pipeline`) as two more threads of the
same process: one process holds the spool's lock and the audit log
handle, a SIGKILL stops everything at once (no orphaned child to race a restarted server), and
the work that matters is CPU-bound in ONNX Runtime and numpy, which release the GIL, or waits on
the network; every state they keep is on disk, so a restart resumes them.
"""

from __future__ import annotations

import logging
import ssl
import threading
import weakref
from pathlib import Path

from device_ai import cleartext, peer_authentication
from device_ai.app.context import Context
from device_ai.config import Settings
from device_ai.errors import ConfigError
from device_ai.keystore import read_private_key_file
from device_ai.node import services
from device_ai.node.accepted_connections import PDU_LENGTH_LIMIT, DeferredHandshakeContext, guard_connection
from device_ai.node.runtime import NodeRuntime
from device_ai.node.spool import InstanceKey
from device_ai.node.trail import NodeTrail
from device_ai.pseudonyms import pseudonym
from device_ai.trust_anchors import load_trust_anchors

LOG = logging.getLogger("device_ai.node")
MIB = 1024 * 1024
# A-ASSOCIATE-RJ (result, source, diagnostic) -> the reason recorded in the audit trail (and in the
# conformance statement). The first three are the node's own policies; the last is what pynetdicom
# sends when a User Identity handler refuses, which the node does not bind.
REJECT_REASONS = {
    (0x01, 0x01, 0x03): "calling AE title not in the allow-list",
    (0x01, 0x01, 0x07): "called AE title is not this node's",
    (0x02, 0x03, 0x02): "too many associations (node_max_associations)",
    (0x02, 0x02, 0x01): "user identity refused",
}


def storage_scp_ae(settings: Settings):  # noqa: ANN201 - pynetdicom.AE
    """The node's Application Entity as ``serve`` listens with it: AE title, association limit,
    calling-AE allow-list, called AE title checked, timeouts, and the presentation contexts of
    :mod:`device_ai.node.services` (Verification, then each accepted SOP class with every
    accepted transfer syntax). The conformance statement (:mod:`device_ai.node.conformance`)
    describes this very object, so the two cannot differ."""
    from pynetdicom import AE

    ae = AE(ae_title=settings.node_ae_title)
    ae.maximum_associations = settings.node_max_associations
    ae.require_calling_aet = sorted(frozenset(settings.node_allowed_calling_aets))
    ae.require_called_aet = True
    ae.network_timeout = settings.node_idle_timeout_s
    ae.acse_timeout = min(30.0, settings.node_idle_timeout_s)
    ae.dimse_timeout = settings.node_idle_timeout_s
    ae.add_supported_context(services.VERIFICATION_SOP_CLASS)
    for sop_class in services.ACCEPTED_SOP_CLASSES:
        ae.add_supported_context(sop_class, list(services.ACCEPTED_TRANSFER_SYNTAXES))
    return ae


def tls_context(ctx: Context) -> ssl.SSLContext | None:
    """The server's TLS context from the configured PEM files, or None when TLS is off; a key file
    that group or other accounts can reach, or another account owns, is refused (ConfigError), and
    so is a CA file another account could change (SRS-233): whoever can rewrite it chooses which
    client certificates the node accepts as the site's peers."""
    settings = ctx.settings
    cert, key, ca = settings.node_tls_cert_file, settings.node_tls_key_file, settings.node_tls_ca_file
    if cert is None and key is None and ca is None:
        return None
    if cert is None or key is None:
        raise ConfigError("TLS needs both node_tls_cert_file and node_tls_key_file",
                          hint="set both (PEM files), or neither to serve without TLS")
    read_private_key_file(key, "node_tls_key_file")  # owner-only, as the key store's keys (THR-028)
    context = DeferredHandshakeContext(ssl.PROTOCOL_TLS_SERVER)  # handshakes not in the accepting thread (THR-008)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
        if ca is not None:
            # checked on the opened file, then used as read
            load_trust_anchors(context, ca, "node_tls_ca_file")
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError, ValueError) as exc:  # ValueError: no certificate in it (review 153 D2)
        raise ConfigError(f"cannot load the node's TLS files: {exc}",
                          hint="check node_tls_cert_file, node_tls_key_file and node_tls_ca_file (PEM)") from exc
    return context


def _end_negotiation(assoc) -> None:  # noqa: ANN001 - pynetdicom Association
    """End an association still negotiating, as its ACSE timeout would, at once: its connection is
    closed (the state machine back to idle, so the DUL can stop), the DUL stopped, and the thread's
    wait for an A-ASSOCIATE-RQ woken with None (what that wait returns when it times out)."""
    if assoc.dul.socket is not None:
        assoc.dul.socket.close()
    assoc.kill()
    assoc.dul.to_user_queue.put(None)


class NodeServer:
    """The node: spool, Storage SCP and assembly thread (:class:`NodeRuntime`). ``start()``, then ``stop()``."""

    def __init__(self, ctx: Context, *, pipeline: bool = False) -> None:
        settings = ctx.settings
        if not settings.node_allowed_calling_aets:
            raise ConfigError("no calling AE title is allowed to send to this node",
                              hint="set node_allowed_calling_aets (e.g. DEVICE_AI_NODE_ALLOWED_CALLING_AETS=PACS) "
                                   "to the AE titles of the PACS or modalities that send studies")
        self.ctx = ctx
        self.settings = settings
        self.allowed = frozenset(settings.node_allowed_calling_aets)
        self.ssl_context = tls_context(ctx)
        # SRS-226: refused here, before the spool (NodeRuntime creates its folders) and the port
        self.cleartext_reason = cleartext.check_listener(settings.node_bind_address, tls=self.ssl_context is not None,
                                                         reason=settings.node_cleartext_reason)
        # SRS-229: the same for peers no certificate authenticates (AE titles are not secrets)
        self.client_certificates = self.ssl_context is not None and self.ssl_context.verify_mode == ssl.CERT_REQUIRED
        self.unauthenticated_peers_reason = peer_authentication.check_peers(
            settings.node_bind_address, settings.node_port, tls=self.ssl_context is not None,
            client_certificates=self.client_certificates, reason=settings.node_unauthenticated_peers_reason)
        self.runtime = NodeRuntime(ctx, pipeline=pipeline)  # worker + outbound threads when pipeline
        self.spool = self.runtime.spool
        self.limits = ctx.read_limits()
        self.idle_s = settings.node_series_idle_s
        self._inflight: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # association -> data set bytes so far
        self._inflight_lock = threading.Lock()
        self._server = None

    @property
    def trail(self) -> NodeTrail | None:
        return self.runtime.trail

    @property
    def pipeline(self):  # noqa: ANN201 - device_ai.node.worker.Pipeline or None
        return self.runtime.pipeline

    # --- life cycle ---

    def start(self) -> tuple[str, int]:
        """Recover the spool, then listen; returns the address listened on."""
        from pynetdicom import evt

        self.runtime.open()
        try:
            ae = storage_scp_ae(self.settings)
            handlers = [(evt.EVT_C_ECHO, self._on_echo), (evt.EVT_C_STORE, self._on_store),
                        (evt.EVT_ACCEPTED, self._on_accepted), (evt.EVT_REJECTED, self._on_rejected),
                        (evt.EVT_PDU_RECV, self._on_pdu),
                        (evt.EVT_CONN_OPEN, guard_connection,
                         [self.settings.node_idle_timeout_s, ae.acse_timeout, max(PDU_LENGTH_LIMIT, ae.maximum_pdu_size)])]
            address = (self.settings.node_bind_address, self.settings.node_port)
            try:
                self._server = ae.start_server(address, block=False, evt_handlers=handlers,
                                               ssl_context=self.ssl_context)
            except OSError as exc:
                raise ConfigError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}",
                                  hint="another program uses the port, or the address is not this machine's: "
                                       "change node_port or node_bind_address") from exc
            self._ae = ae
            host, port = self._server.server_address[:2]
            self.trail.started({"ae_title": self.settings.node_ae_title, "address": f"{host}:{port}",
                                "tls": "yes" if self.ssl_context else "no",
                                "series_idle_s": f"{self.idle_s:g}", **self.cleartext_accepted(f"{host}:{port}"),
                                **peer_authentication.accepted(f"{host}:{port}", self.unauthenticated_peers_reason)})
            self.runtime.start()
            return host, port
        except BaseException:
            self.runtime.close()
            raise

    def cleartext_accepted(self, address: str) -> dict[str, str]:
        """The clear text the site accepted with a stated reason (listener, destinations): audit details."""
        listener = (address, self.cleartext_reason) if self.cleartext_reason else None
        return cleartext.accepted(self.settings.node_destinations, listener=listener)

    def stop(self) -> None:
        """Stop listening, let running associations end, stop assembling, record the stop (idempotent).
        A connection still negotiating (a TLS handshake or an A-ASSOCIATE that never completed, a port
        scan) has nothing to finish: it is ended at once instead of holding the stop until its ACSE
        timeout (10 s each, measured)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            for assoc in list(self._ae.active_associations):
                if not assoc.is_established:
                    _end_negotiation(assoc)
                assoc.join(timeout=10)
        self.runtime.stop()
        try:
            if self.trail is not None and server is not None:
                self.trail.stopped({"ae_title": self.settings.node_ae_title})
        finally:
            self.runtime.close()

    def assemble_once(self, now: float | None = None) -> list:
        """Hand off every series idle for ``node_series_idle_s``; returns what became ready."""
        return self.runtime.assemble_once(now)

    # --- event handlers (association threads) ---

    @staticmethod
    def _peer(assoc) -> str:  # noqa: ANN001
        return f"{assoc.requestor.address}:{assoc.requestor.port}"

    def _on_echo(self, event) -> int:  # noqa: ANN001
        return services.SUCCESS

    def _on_accepted(self, event) -> None:  # noqa: ANN001
        assoc = event.assoc
        try:
            self.trail.association(accepted=True, calling_ae=assoc.requestor.ae_title.strip(),
                                   called_ae=assoc.acceptor.ae_title.strip(), peer=self._peer(assoc),
                                   tls=self.ssl_context is not None)
        except Exception:
            LOG.exception("could not record an accepted association in the audit trail")

    def _on_rejected(self, event) -> None:  # noqa: ANN001
        assoc = event.assoc
        primitive = assoc.acceptor.primitive
        key = (primitive.result, primitive.result_source, primitive.diagnostic) if primitive is not None else None
        called = getattr(assoc.requestor.primitive, "called_ae_title", "") or ""
        try:
            self.trail.association(accepted=False, calling_ae=assoc.requestor.ae_title.strip(),
                                   called_ae=str(called).strip(), peer=self._peer(assoc),
                                   tls=self.ssl_context is not None,
                                   reason=REJECT_REASONS.get(key, f"rejected {key}"))
        except Exception:
            LOG.exception("could not record a rejected association in the audit trail")

    def _on_pdu(self, event) -> None:  # noqa: ANN001
        """Count the data set bytes of the message being received (P-DATA-TF fragments, PS3.8
        E.2) and abort the association once they pass ``node_max_instance_mb``: an oversized
        instance is never held whole in memory. (A message that crosses the limit in its last
        fragment is refused with 0xC001 by the C-STORE handler instead.)"""
        items = getattr(event.pdu, "presentation_data_value_items", None)
        if not items:
            return
        assoc = event.assoc
        with self._inflight_lock:
            received = self._inflight.get(assoc, 0)
        for item in items:
            value = item.presentation_data_value or b""
            if not value or value[0] & 1:  # a command fragment
                continue
            received += len(value) - 1
            if value[0] & 2:  # the last fragment of the data set: the handler checks it
                received = 0
            elif received > self.settings.node_max_instance_mb * MIB:
                with self._inflight_lock:
                    self._inflight.pop(assoc, None)
                assoc.abort(block=False)
                try:
                    self.trail.refused(status=services.TOO_LARGE, reason=f"association aborted: instance larger than "
                                       f"{self.settings.node_max_instance_mb} MiB while receiving",
                                       calling_ae=assoc.requestor.ae_title.strip(), peer=self._peer(assoc),
                                       sop_class="", instance=None, serious=False)
                except Exception:
                    LOG.exception("could not record an aborted oversized instance in the audit trail")
                return
        with self._inflight_lock:
            self._inflight[assoc] = received

    def _on_store(self, event) -> int:  # noqa: ANN001
        try:
            return self._store(event)
        except Exception:  # a defect, not a sender's fault: refuse so that the sender retries, keep serving
            LOG.exception("unexpected failure while receiving an instance")
            try:
                self.trail.refused(status=services.OUT_OF_RESOURCES, reason="internal error while receiving",
                                   calling_ae=event.assoc.requestor.ae_title.strip(), peer=self._peer(event.assoc),
                                   sop_class=str(event.request.AffectedSOPClassUID or ""), instance=None, serious=True)
            except Exception:
                LOG.exception("could not record a refused C-STORE in the audit trail")
            return services.OUT_OF_RESOURCES

    def _store(self, event) -> int:  # noqa: ANN001
        assoc, request = event.assoc, event.request
        calling, peer = assoc.requestor.ae_title.strip(), self._peer(assoc)
        sop_class = str(request.AffectedSOPClassUID or "")
        affected = str(request.AffectedSOPInstanceUID or "")

        def refuse(status: int, reason: str, *, serious: bool = False) -> int:
            try:
                self.trail.refused(status=status, reason=reason, calling_ae=calling, peer=peer, sop_class=sop_class,
                                   instance=pseudonym("instance", affected) if affected else None, serious=serious)
            except Exception:
                LOG.exception("could not record a refused C-STORE in the audit trail")
                return services.OUT_OF_RESOURCES
            return status

        if calling not in self.allowed:  # negotiation already refused it; never store for an unknown AE
            return refuse(services.NOT_AUTHORIZED, "calling AE title not in the allow-list")
        size = 0
        if request.DataSet is not None:
            with request.DataSet.getbuffer() as view:
                size = view.nbytes
        if size > self.settings.node_max_instance_mb * MIB:
            return refuse(services.TOO_LARGE, f"instance larger than {self.settings.node_max_instance_mb} MiB")
        try:
            free = self.spool.free_bytes()
        except OSError:
            free = 0
        if free - size < self.settings.node_min_free_mb * MIB:
            return refuse(services.OUT_OF_RESOURCES, "spool disk nearly full (node_min_free_mb)", serious=True)
        try:
            temp = self.spool.write_temp(event.encoded_dataset())
        except Exception:
            LOG.exception("could not write a received instance to the spool")
            return refuse(services.OUT_OF_RESOURCES, "spool not writable", serious=True)
        try:
            status, reason, key = self._identify(temp, sop_class, affected)
            if key is None:
                return refuse(status, reason)
            try:
                stored = self.spool.commit(temp, key)
            except Exception:
                LOG.exception("could not commit a received instance to the spool")
                return refuse(services.OUT_OF_RESOURCES, "spool not writable", serious=True)
            try:
                self.trail.received(key, calling_ae=calling, peer=peer, sop_class=sop_class,
                                    transfer_syntax=str(event.context.transfer_syntax), size=size,
                                    late_after=stored.late_after, duplicate=stored.duplicate)
            except Exception:  # durable but not recorded: the sender is told to retry (same name: idempotent)
                LOG.exception("could not record a receive in the audit trail")
                return services.OUT_OF_RESOURCES
            return services.SUCCESS
        finally:
            self.spool.discard(temp)

    def _identify(self, temp: Path, sop_class: str, affected: str) -> tuple[int, str, InstanceKey | None]:
        """Read the written file back with the device's reader; (status, reason, key or None)."""
        found = services.identify(temp, self.limits)
        if found.problem:
            return services.CANNOT_UNDERSTAND, found.problem, None
        if found.uids["SOPClassUID"] != sop_class:
            return services.DATASET_MISMATCH, "SOPClassUID differs from the request's Affected SOP Class UID", None
        if found.uids["SOPInstanceUID"] != affected:
            return services.DATASET_MISMATCH, "SOPInstanceUID differs from the request's Affected SOP Instance UID", None
        return services.SUCCESS, "", found.key()


def serve_until(ctx: Context, stop: threading.Event, announce=print) -> int:  # noqa: ANN001
    """Run the node until ``stop`` is set (the CLI sets it on SIGTERM or SIGINT)."""
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    node = NodeServer(ctx, pipeline=True)
    host, port = node.start()
    announce(f"device-ai serve: AE {ctx.settings.node_ae_title} listening on {host}:{port}"
             f"{' (TLS)' if node.ssl_context else ''}; spool {node.spool.root}; series ready after "
             f"{node.idle_s:g} s idle", flush=True)
    accepted = node.cleartext_accepted(f"{host}:{port}")
    if accepted:  # said once, at start; the same is in the start's audit entry
        announce("device-ai serve: clear text on the network, accepted by the site (stated reason): "
                 + "; ".join(f"{key.removeprefix('cleartext_').replace('_', ' ', 1)} {value}"
                             for key, value in accepted.items()), flush=True)
    if node.unauthenticated_peers_reason:  # said once, at start; the same is in the start's audit entry (SRS-229)
        announce(f"device-ai serve: peers not authenticated by a certificate on {host}:{port}, accepted by the site "
                 f"(stated reason): {node.unauthenticated_peers_reason}", flush=True)
    if not ctx.settings.node_destinations:
        LOG.warning("no destination configured (node_destinations)")
        announce(f"device-ai serve: warning: no destination configured (node_destinations): results stay in the "
                 f"spool's work folder {node.spool.root / 'work'}; they are sent when serve is restarted with a "
                 "destination", flush=True)
    try:
        stop.wait()
    finally:
        node.stop()
    return 0
