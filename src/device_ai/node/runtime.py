"""What every front end of the node shares (``device-ai serve``'s Storage SCP, ``device-ai
watch``'s hot folder; issue 15 items 1, 2, 3 and 5): one process holds the spool of
``DEVICE_AI_HOME/node`` (:meth:`Spool.lock`) and the audit log, recovers the spool on start and
announces what became ready, hands each series idle for ``node_series_idle_s`` to analysis
(the assembly thread), and runs the worker and the outbound queue
(:class:`device_ai.node.worker.Pipeline`) as threads of the same process. A front end only adds
how instances arrive; whatever arrives goes through :meth:`Spool.commit`, so both follow the
same completion and exactly-once rules.

Order: :meth:`NodeRuntime.open` (lock, trail, recovery), the front end starts receiving and
records its start, :meth:`NodeRuntime.start` (threads); on the way out the front end stops
receiving, then :meth:`NodeRuntime.stop` (threads), its stop entry, :meth:`NodeRuntime.close`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from device_ai.app.context import Context
from device_ai.keystore import private_dir
from device_ai.node.spool import Spool
from device_ai.node.transport_security import check_transport_files
from device_ai.node.trail import NodeTrail
from device_ai.pseudonyms import pseudonym

LOG = logging.getLogger("device_ai.node")
PURGE_EVERY_S = 60.0  # how often the assembly thread looks for generations past their retention ...
PURGE_EVERY_MIN_S = 1.0  # ... or more often for a retention under an hour (1/60 of it, at least this)


def spool_root(ctx: Context) -> Path:
    return private_dir(private_dir(Path(ctx.settings.home)) / "node")


def purge_interval_s(retention_hours: float) -> float:
    """How often the assembly thread purges: every minute, more often for a retention under an
    hour (1/60 of it, at least PURGE_EVERY_MIN_S)."""
    return min(PURGE_EVERY_S, max(PURGE_EVERY_MIN_S, retention_hours * 60))


class NodeRuntime:
    def __init__(self, ctx: Context, *, pipeline: bool) -> None:
        self.ctx = ctx
        self.spool = Spool(spool_root(ctx))
        self.idle_s = ctx.settings.node_series_idle_s
        self.run_pipeline = pipeline  # worker + outbound queue threads
        self.pipeline = None
        self.trail: NodeTrail | None = None
        self._log = None
        self._stop = threading.Event()
        self._assembler: threading.Thread | None = None

    def open(self) -> None:
        """Hold the spool (one process per home), open the audit trail, recover the spool and
        announce every generation ready but not yet in the trail. A node that analyses refuses
        to start with a package that is not for clinical use outside demonstration mode
        (RC-035), with an inference device this ONNX Runtime lacks (SRS-200), instead of accepting
        patient series it would refuse, one entry pair per retry, or with a destination's client key
        that other accounts can reach (THR-028) or a CA bundle another account could change (SRS-234),
        instead of failing every send to it."""
        if self.run_pipeline:
            self._check_model_use()
            check_transport_files(self.ctx.settings.node_destinations)
        self.spool.lock()
        try:
            pseudonym("series", "0")  # create the site's pseudonym key now, not in racing threads
            self._log = self.ctx.open_audit_log()
            self.trail = NodeTrail(self._log)
            fresh = {ready.marker for ready in self.spool.recover()}
            for ready in self.spool.unannounced():  # made ready now, or before a crash and not yet audited
                self._announce(ready, late=ready.marker not in fresh)
        except BaseException:
            self.close()
            raise

    def _check_model_use(self) -> None:
        from device_ai.app.model import check_clinical_use, model_info
        from device_ai.errors import DeviceAIError

        try:
            manifest = model_info(self.ctx).manifest
        except DeviceAIError:
            return  # a package that does not verify is refused, and audited, by each analysis as before
        check_clinical_use(self.ctx, manifest)
        # SRS-200: a provider this ONNX Runtime lacks refuses the start, not every series after it
        from device_ai.inference.engine import execution_providers

        execution_providers(self.ctx.settings.inference_device)

    def start(self) -> None:
        """The assembly thread, and the worker and outbound threads when asked for."""
        self._assembler = threading.Thread(target=self._assemble_loop, name="device-ai-assembly", daemon=True)
        self._assembler.start()
        if self.run_pipeline:
            from device_ai.node.worker import Pipeline

            self.pipeline = Pipeline(self.ctx, self.spool.root, self.trail)
            self.pipeline.start()

    def stop(self) -> None:
        """Stop assembling, then the worker and the outbound queue (idempotent)."""
        self._stop.set()
        if self._assembler is not None:
            self._assembler.join(timeout=10)
            self._assembler = None
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None

    def close(self) -> None:
        try:
            if self._log is not None:
                self._log.close()
        finally:
            self._log = None
            self.spool.unlock()

    # --- assembly ---

    def assemble_once(self, now: float | None = None) -> list:
        """Hand off every series idle for ``node_series_idle_s``; returns what became ready."""
        now = time.time() if now is None else now
        done = []
        for series, last, _study in self.spool.open_series():
            if now - last >= self.idle_s:
                ready = self.spool.hand_off(series, idle_s=self.idle_s, now=now)
                if ready is not None:
                    done.append(ready)
                    self._announce(ready)
        return done

    def purge_expired(self, now: float | None = None) -> list:
        """Delete what is past ``node_retention_hours`` (:mod:`device_ai.node.retention`)."""
        from device_ai.node.retention import purge_expired

        return purge_expired(self.spool, self.ctx.settings.node_retention_hours * 3600, self.trail, now)

    def _announce(self, ready, *, late: bool = False) -> None:  # noqa: ANN001 - spool.Ready
        """The Series Ready audit entry, then the spool's note that it is durable."""
        self.trail.series_ready(ready, announced_late=late)
        self.spool.announced(ready)

    def _assemble_loop(self) -> None:
        poll = max(0.05, min(1.0, self.idle_s / 4))
        interrupted = False
        next_purge = 0.0  # the first pass purges what expired while the node was down
        purge_every = purge_interval_s(self.ctx.settings.node_retention_hours)
        while not self._stop.wait(poll):
            try:
                if interrupted:  # a hand-off failed half-way (disk full, I/O error): finish it first
                    fresh = {ready.marker for ready in self.spool.complete_hand_offs()}
                    for ready in self.spool.unannounced():
                        self._announce(ready, late=ready.marker not in fresh)
                    interrupted = False
                self.assemble_once()
            except Exception:  # keep assembling; the next pass retries (the hand-off is idempotent)
                interrupted = True
                LOG.exception("series assembly failed; retrying")
            # after the hand-offs (a generation being handed off is also protected by the purge itself)
            if self.run_pipeline and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + purge_every
                try:
                    self.purge_expired()
                except Exception:  # kept for the next pass; receiving and analysing go on
                    LOG.exception("purging the spool failed; retrying in %g s", purge_every)
