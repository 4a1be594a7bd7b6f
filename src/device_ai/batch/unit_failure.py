"""A unit's own failure, returned typed instead of raised: what every batch worker task does
around its work, so that no exception object (which may carry a file name or PHI, and may not
unpickle on the coordinator) crosses the wire, and a defect in one unit fails that unit, not the job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from device_ai.errors import DeviceAIError, InputRefused, InternalError


class TypedOutcome(Protocol):
    """The fields a unit's result carries for its failure (empty code: it succeeded)."""

    error_code: str
    error_class: str
    error_exit: int
    error_input: bool


def run_unit(result: TypedOutcome, work: Callable[[], None], write_note: Callable[[str], None]) -> None:
    """Run ``work``; a failure is recorded in ``result`` (code, class, exit status, whether the
    input was refused) and its one-line message handed to ``write_note`` (the detail may name an
    input file, so it goes to a folder that stays with the coordinator, never into the result)."""
    try:
        work()
    except DeviceAIError as exc:
        result.error_code, result.error_class, result.error_exit = exc.code, type(exc).__name__, exc.exit_code
        result.error_input = isinstance(exc, InputRefused)
        write_note(exc.one_line())
    except Exception as exc:  # noqa: BLE001 - a defect in one unit fails that unit, not the job
        result.error_code, result.error_class, result.error_exit = InternalError.code, type(exc).__name__, \
            InternalError.exit_code
        write_note(f"{InternalError.code}: {type(exc).__name__}")
