"""What every batch coordinator does the same way (``anonymize --batch``, ``analyze --batch``):
hand the units to an engine with retries of lost workers and progress, turn a worker's returned
error back into a typed one, and find the success entry a killed coordinator already wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from device_ai.batch.engines import Lost
from device_ai.batch.errors import WorkerLost
from device_ai.batch.progress import JobProgress
from device_ai.batch.units import Unit
from device_ai.errors import DeviceAIError, InputRefused


class UnitFailed(DeviceAIError):
    """A unit's typed failure as the worker returned it (code and class, not the object)."""


class UnitInputRefused(InputRefused):
    """A unit's refused input as the worker returned it."""


def unit_failure(code: str, input_refused: bool, message: str, exit_code: int) -> DeviceAIError:
    """The worker's error, recorded as such (its code and exit code; no exception object crosses the wire)."""
    error = (UnitInputRefused if input_refused else UnitFailed)(message)
    error.code, error.exit_code = code, exit_code
    return error


def run_units(engine, function: Callable[[Any], Any], units: list[Unit], task_of: Callable[[Unit], Any],  # noqa: ANN001
              take: Callable[[Any], None], lost: Callable[[str, WorkerLost], None], failed: Callable[[str], bool],
              progress: JobProgress, max_attempts: int) -> None:
    """Every unit through ``engine``: ``take(result)`` per result (in the coordinator, one at a
    time); a unit whose worker was lost is handed out again up to ``max_attempts`` times in this
    run, then ``lost(unit, error)``; ``failed(unit)`` says whether a finished unit failed."""
    by_id = {unit.id: unit for unit in units}
    tries: dict[str, int] = {}

    def handed(queue: list[Unit]):  # noqa: ANN202 - Iterator of tasks, made as the engine takes them
        for unit in queue:
            tries[unit.id] = tries.get(unit.id, 0) + 1
            yield task_of(unit)

    queue = list(units)
    while queue:
        retry: list[Unit] = []
        for outcome in engine.run(function, handed(queue)):
            if isinstance(outcome, Lost):
                unit = outcome.task.unit
                if tries[unit] < max_attempts:
                    retry.append(by_id[unit])
                    continue
                lost(unit, outcome.error)
            else:
                unit = outcome.unit
                take(outcome)
            progress.finished(unit, failed=failed(unit))
        queue = retry
    progress.end()


def logged_attempts(audit_folder: Path | None, event_code: str) -> dict[str, int]:
    """Attempt -> the sequence number of its success entry (``event_code``) in the log, for the
    attempts whose entry no later failure entry superseded."""
    from device_ai.app.audit_trail import EntryFilter, entries

    _, found = entries(audit_folder, EntryFilter(event=event_code))
    logged: dict[str, int] = {}
    for entry in found:
        details = entry.get("details", {})
        if details.get("batch_attempt") and "error" not in details:
            logged[details["batch_attempt"]] = entry["seq"]
        elif details.get("batch_attempt") and details.get("supersedes"):
            logged.pop(details["batch_attempt"], None)
    return logged
