"""A batch job's progress (issue 17 item 5): units done, failed and in total, the rate and the
time left, as one line for the operator, at most once per ``interval_s`` and once at the end.

Computed here, printed by the front end: the job hands each line to ``report`` (the context's
``status``; nothing when it has none). The clock is a parameter so that a test can drive it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

REPORT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    done: int  # units finished with a result (published, or the figure computed)
    failed: int  # units finished with a typed error
    total: int  # units this run has to run
    elapsed_s: float
    not_run: int = 0  # of the failed: refused before running (above max_files), in no time

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Units run per second so far (0 before the first one); the units refused without
        running are left out, as they took no time."""
        ran = self.finished - self.not_run
        return ran / self.elapsed_s if ran > 0 and self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before a rate is known, 0 when finished."""
        left = max(self.total - self.finished, 0)
        if not left:
            return 0.0
        return left / self.rate if self.rate else None

    def line(self, what: str = "units") -> str:
        eta = self.eta_s
        return (f"{what}: {self.done} done, {self.failed} failed, {self.finished}/{self.total} "
                f"({self.rate:.2f}/s, ETA {'unknown' if eta is None else _duration(eta)})")


def _duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class JobProgress:
    """Counts a run's units as they finish and reports a line when one is due."""

    def __init__(self, total: int, report: Callable[[str], None] | None, *, what: str = "units",
                 clock: Callable[[], float] = time.monotonic, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.total, self.report, self.what, self.clock, self.interval_s = total, report, what, clock, interval_s
        self.started = clock()
        self._finished: dict[str, bool] = {}  # unit -> failed; a unit counted once (a retry, a duplicate)
        self._last: float | None = None
        self._not_run: set[str] = set()
        self._last_counts: tuple[int, int] | None = None  # (done, failed) of the last line

    def announce(self, engine: str, dashboard: str | None) -> None:
        """Where the run's units go, and the Dask dashboard when the cluster has one."""
        if self.report is not None:
            self.report(f"{self.what}: {self.total} to run on {engine}"
                        + (f"; Dask dashboard {dashboard}" if dashboard else ""))

    def refused(self, unit: str) -> None:
        """``unit`` was refused before running: a failed unit, no line of its own, not in the rate."""
        self._finished[unit] = True
        self._not_run.add(unit)

    def finished(self, unit: str, failed: bool = False) -> None:
        """``unit`` ended (its latest outcome counts); a line when one is due."""
        self._finished[unit] = failed
        self._not_run.discard(unit)
        now = self.clock()
        if self._last is None or now - self._last >= self.interval_s:
            self._emit(now)

    def snapshot(self, now: float | None = None) -> Snapshot:
        failed = sum(self._finished.values())
        return Snapshot(done=len(self._finished) - failed, failed=failed, total=self.total,
                        elapsed_s=(self.clock() if now is None else now) - self.started, not_run=len(self._not_run))

    def end(self) -> Snapshot:
        """The final line, whatever the interval (unless the last line said these counts already);
        returns the final counts."""
        now = self.clock()
        final = self.snapshot(now)
        if self._last_counts != (final.done, final.failed):
            self._emit(now)
        return final

    def _emit(self, now: float) -> None:
        snapshot = self.snapshot(now)
        self._last, self._last_counts = now, (snapshot.done, snapshot.failed)
        if self.report is not None:
            self.report(snapshot.line(self.what))
