"""The node's worker (issue 15 item 3): each generation the spool made ready is analysed
exactly once through the device's audited analyze action (:func:`device_ai.app.analysis.analyze`:
input contract, locked engine, SEG + SR, Analysis Run entry), and its results are handed to
the outbound queue (:mod:`device_ai.node.outbound`).

State on disk under ``DEVICE_AI_HOME/node`` (owner-only), one key K = ``<S>.gen-NNNN`` per generation::

    work/K/claim.json        {"starts": n}: rewritten before each analysis start; after
                             node_analysis_max_attempts starts that never ended (the process died
                             each time: a poison input) the generation is refused
    work/K/result/           the analysis output (SEG, SR, summary, previews); appears in one rename
                             after its Analysis Run entry is durable, so it exists only complete
    work/K/done.json         created once after the results were queued for every destination
                             ("destinations": the names they were queued for; [] when none was
                             configured)
    work/K/late-queued.json  created once after a done generation queued for no destination was
                             queued at start for the destinations configured then (every entry made)
    work/K/superseded.json   created once when a newer generation of the series was ready first
                             (the older one is not analysed: its instances are all in the newer one)
    work/K/error.json        the last failure that is not the input's (model, output, audit): retried
    refused/K.json           created once: the typed error code and message of a refused generation
                             (no result); a Series Refused audit entry is written before it

A generation is *ready* (marker, not taken), *analyzing* (claim.json, no outcome), *done*,
*superseded* or *refused*. Restart after SIGKILL at any moment: a generation with a result but
no done.json is queued again (idempotent: entries are created once); one without a result is
analysed again with the same result UIDs, derived from (series pseudonym, generation), so a
re-run never produces a second, different result for one generation, and generation N+1 never
reuses generation N's UIDs. A result of generation N made after an earlier generation M of the
series produced one says it replaces it (:mod:`device_ai.dicom.lineage`: Series Descriptions
ending ``#N replaces #M``, M's SR in the SR's Predecessor Documents Sequence); the generations
with a result are kept in ``series/<S>/.results``, which the retention keeps like the counter.
Only announced markers are taken (their Series Ready entry is
durable), so the Analysis Run entry follows it in the trail.

Results made while no destination was configured stay in ``work/K/result/``; when the node
starts with destinations (:meth:`Worker.queue_never_queued`), every done generation that was
queued for no destination at all (done.json says ``"destinations": []``, or, written before that
field, no queue entry names it in any state) is queued for the destinations configured now. A
destination added later does not get the results already queued for another destination: adding
a destination sends from then on (sending a site's whole history to a new PACS is a decision for
the operator, not a side effect of a restart).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

from device_ai.app.context import Context
from device_ai.dicom.lineage import Replaces
from device_ai.errors import ContractViolation, DeviceAIError, InputRefused
from device_ai.node.outbound import COMPREHENSIVE_3D_SR_STORAGE, SEG_STORAGE, Outbound, ResultFile
from device_ai.node.spool import (Ready, _create_once, _make_dir, _names, _private, _write_durably, generation_name,
                                  ready_markers, utc_text)

LOG = logging.getLogger("device_ai.node.worker")
RETRY_AFTER_ERROR_S = 30.0
RESULTS = ".results"  # in the series' spool folder: the generations that produced a result (kept after a purge)


def key_of(ready: Ready) -> str:
    return f"{ready.series}.{generation_name(ready.generation)}"


def uid_seed(ready: Ready) -> str:
    """The seed of a generation's result UIDs: the series' keyed pseudonym and the generation."""
    return generation_seed(ready.series, ready.generation)


def generation_seed(series: str, generation: int) -> str:
    return f"device_ai node result/{series}/{generation}"


def generation_state(root: Path, key: str) -> str | None:
    """done, superseded, refused, analyzing, or None (not taken yet)."""
    work = Path(root) / "work" / key
    if (work / "done.json").exists():
        return "done"
    if (Path(root) / "refused" / f"{key}.json").exists():
        return "refused"
    if (work / "superseded.json").exists():
        return "superseded"
    if (work / "claim.json").exists():
        return "analyzing"
    return None


class Worker:
    def __init__(self, ctx: Context, root: Path, outbound: Outbound, trail=None) -> None:  # noqa: ANN001 - NodeTrail
        self.ctx = ctx
        self.root = Path(root)
        self.work = self.root / "work"
        self.refused_dir = self.root / "refused"
        self.outbound = outbound
        self.trail = trail
        self.max_starts = ctx.settings.node_analysis_max_attempts
        self._retry_after: dict[str, float] = {}
        for folder in (self.work, self.refused_dir):
            _private(folder)

    def waiting(self) -> list[Ready]:
        """Announced generations without an outcome, oldest first."""
        found = []
        for ready in ready_markers(self.root):
            if not ready.marker.with_suffix(".announced").exists():
                continue
            if generation_state(self.root, key_of(ready)) in ("done", "refused", "superseded"):
                continue
            found.append(ready)
        return found

    def run_once(self, stop: threading.Event | None = None) -> list[str]:
        """Take every waiting generation; returns the keys that reached an outcome."""
        finished = []
        waiting = self.waiting()
        newest: dict[str, int] = {}
        for ready in ready_markers(self.root):
            if ready.marker.with_suffix(".announced").exists():
                newest[ready.series] = max(newest.get(ready.series, 0), ready.generation)
        for ready in waiting:
            if stop is not None and stop.is_set():
                break
            key = key_of(ready)
            if time.monotonic() < self._retry_after.get(key, 0.0):
                continue
            if self.process(ready, newest=newest.get(ready.series, ready.generation)):
                finished.append(key)
        return finished

    def process(self, ready: Ready, *, newest: int | None = None) -> bool:
        """Bring one generation to an outcome; False when it must be tried again later."""
        key = key_of(ready)
        work = self.work / key
        _make_dir(work)
        result = work / "result"
        if not result.is_dir():
            # a newer generation holds every instance of this one: its result would be delivered after
            # a newer one and misread as the latest (also after a failed, retried analysis)
            if newest is not None and newest > ready.generation:
                _create_once(work / "superseded.json", json.dumps(
                    {"generation": ready.generation, "by_generation": newest, "utc": utc_text(time.time())}).encode())
                return True
            if ready.purged_missing:
                self.refuse(ready, ContractViolation.code,
                            f"{ready.purged_missing} instance(s) of this series were deleted by the node's retention "
                            f"(node_retention_hours) before these {len(ready.instances)} arrived; the series cannot be "
                            "analysed from the new instances alone",
                            "send the whole series again (every instance); identical instances change nothing")
                return True
            starts = _starts(work)
            if starts >= self.max_starts:
                self.refuse(ready, "DAI-999", f"the analysis of this series was interrupted {starts} times (the "
                            "process ended during it each time); not tried again",
                            "look for a crash in the service log; send the series again to retry")
                return True
            _write_durably(work / "claim.json", json.dumps({"starts": starts + 1, "utc": utc_text(time.time())}).encode())
            for name in _names(work):  # an analysis killed half-way leaves its staging folder
                if name.startswith(".result.") and (work / name).is_dir():
                    shutil.rmtree(work / name, ignore_errors=True)
            try:
                self.analyze(ready, result)
            except InputRefused as exc:
                self.refuse(ready, exc.code, exc.message, exc.hint)
                return True
            except DeviceAIError as exc:  # not the input's fault: keep it waiting, say why, retry later
                self._error(work, key, starts, exc.code, exc.one_line())
                return False
            except Exception as exc:  # a defect: the same
                LOG.exception("analysis of %s failed", key)
                self._error(work, key, starts, "DAI-999", f"internal error: {type(exc).__name__}")
                return False
        self._record_result(ready)
        files = self._result_files(result)
        self.outbound.enqueue(key, study=ready.study, series=ready.series, generation=ready.generation, files=files)
        _create_once(work / "done.json", json.dumps({"generation": ready.generation, "utc": utc_text(time.time()),
                                                     "queued": [f.role for f in files],
                                                     "destinations": sorted(self.outbound.destinations)}).encode())
        (work / "error.json").unlink(missing_ok=True)
        return True

    def _result_files(self, result: Path) -> list[ResultFile]:
        from device_ai.inference.analyze import SEG_NAME, SR_NAME

        return [ResultFile("seg", result / SEG_NAME, SEG_STORAGE, _sop_instance(result / SEG_NAME)),
                ResultFile("sr", result / SR_NAME, COMPREHENSIVE_3D_SR_STORAGE, _sop_instance(result / SR_NAME))]

    def queue_never_queued(self) -> list[str]:
        """Queue, for the destinations configured now, every done generation whose results were
        queued for no destination (made while none was configured); returns their keys. Run once
        when the node starts (see the module doc); idempotent (entries are created once)."""
        if not self.outbound.destinations:
            return []
        queued = []
        for ready in ready_markers(self.root):
            key = key_of(ready)
            work = self.work / key
            if generation_state(self.root, key) != "done" or not (work / "result").is_dir():
                continue
            try:
                done = json.loads((work / "done.json").read_bytes())
            except (OSError, ValueError):
                continue
            recorded = done.get("destinations")
            if recorded is None:  # done.json older than the field: any entry means it was queued then
                if self.outbound.has_entries(key):
                    continue
            elif recorded != [] or (work / "late-queued.json").exists():
                continue  # an entry alone does not mean all were made: a crash may have cut the loop
            try:
                files = self._result_files(work / "result")
            except Exception:  # a result folder damaged outside the node: said, not fatal
                LOG.exception("results of %s cannot be read; not queued", key)
                continue
            if self.outbound.enqueue(key, study=ready.study, series=ready.series, generation=ready.generation,
                                     files=files):
                queued.append(key)
            _create_once(work / "late-queued.json", json.dumps({"destinations": sorted(self.outbound.destinations),
                                                                "utc": utc_text(time.time())}).encode())
        return queued

    def analyze(self, ready: Ready, out: Path) -> None:
        """The device's audited analyze action on the generation's folder (hidden files skipped);
        a result made after an earlier generation's result says which one it replaces."""
        from device_ai.app.analysis import AnalysisRequest, analyze

        analyze(self.ctx, AnalysisRequest(input=ready.folder, out=out, uid_seed=uid_seed(ready),
                                          replaces=self.replaced_by(ready)))

    def replaced_by(self, ready: Ready) -> Replaces | None:
        """The newest earlier generation of the series that has a result (kept in the series'
        ``.results`` after its files are purged): the result ``ready``'s analysis replaces."""
        earlier = [n for n in result_generations(self.root, ready.series) if n < ready.generation]
        if not earlier:
            return None
        previous = max(earlier)
        return Replaces(number=ready.generation, previous=previous,
                        previous_seed=generation_seed(ready.series, previous))

    def _record_result(self, ready: Ready) -> None:
        """Add the generation to the series' ``.results`` (idempotent; before its results are queued)."""
        known = result_generations(self.root, ready.series)
        if ready.generation not in known:
            _write_durably(self.root / "series" / ready.series / RESULTS,
                           json.dumps(sorted({*known, ready.generation})).encode())

    def _error(self, work: Path, key: str, starts: int, code: str, message: str) -> None:
        # a handled failure is not a crash: give the start back
        _write_durably(work / "claim.json", json.dumps({"starts": starts, "utc": utc_text(time.time())}).encode())
        _write_durably(work / "error.json", json.dumps({"code": code, "message": message,
                                                        "utc": utc_text(time.time())}).encode())
        self._retry_after[key] = time.monotonic() + RETRY_AFTER_ERROR_S

    def refuse(self, ready: Ready, code: str, message: str, hint: str | None) -> None:
        """No result: the Series Refused entry (durable first), then ``refused/K.json``."""
        if self.trail is not None:
            self.trail.series_refused(ready, code=code, reason=message)
        _create_once(self.refused_dir / f"{key_of(ready)}.json", json.dumps(
            {"series": ready.series, "study": ready.study, "generation": ready.generation, "code": code,
             "message": message, "hint": hint or "", "utc": utc_text(time.time())}, indent=1, sort_keys=True).encode())

    def run(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        while not stop.is_set():
            try:
                self.run_once(stop)
            except Exception:
                LOG.exception("worker pass failed; retrying")
            stop.wait(poll_s)


def result_generations(root: Path, series: str) -> list[int]:
    """The generations of ``series`` that produced a result (``series/<S>/.results``)."""
    try:
        return [int(n) for n in json.loads((Path(root) / "series" / series / RESULTS).read_bytes())]
    except (OSError, ValueError, TypeError):
        return []


def _starts(work: Path) -> int:
    try:
        return int(json.loads((work / "claim.json").read_bytes())["starts"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _sop_instance(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)


class Pipeline:
    """The worker and the outbound queue (one sender per destination) as threads of the serving
    process (``start``/``stop``)."""

    def __init__(self, ctx: Context, root: Path, trail=None) -> None:  # noqa: ANN001
        self.outbound = Outbound(root, ctx.settings, trail)
        self.worker = Worker(ctx, root, self.outbound, trail)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        late = self.worker.queue_never_queued()
        if late:
            LOG.warning("queued the results of %d generation(s) made while no destination was configured",
                        len(late))
        threads = [threading.Thread(target=self.worker.run, args=(self._stop,), name="device-ai-worker", daemon=True)]
        for dest in self.outbound.destinations:  # one sender per destination
            threads.append(threading.Thread(target=self.outbound.run, args=(self._stop,), kwargs={"only": dest},
                                            name=f"device-ai-outbound-{dest}", daemon=True))
        for thread in threads:
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask both threads to stop and wait (an analysis in progress finishes, or is taken again
        after a restart: every state is on disk)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        self._threads.clear()
