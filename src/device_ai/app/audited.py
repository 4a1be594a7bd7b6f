"""Recording an audited action truthfully.

``with audited(log, EVENT) as action:`` wraps the whole action. The body calls
``action.succeeded(details)`` as its last step before the outputs are published; any
exception leaving the block is recorded as a failure of that event with its error code, and
re-raised. If the action fails after a success was recorded (the final rename, a nested step),
the failure entry names the success entries it supersedes: the log is append-only, so it
can only correct itself, never erase. Nested steps (``action.nested(EVENT)``) report their
success entries to the enclosing action for that purpose.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from device_ai.audit.entry import AuditObject, Code, Outcome
from device_ai.errors import AuditError, ConfigError, DeviceAIError, InputRefused, InternalError, Interrupted, OutputRefused


def outcome_of(exc: BaseException) -> Outcome:
    """Refused input, arguments or output location: minor failure (nothing was done); anything
    else: serious."""
    if isinstance(exc, (InputRefused, ConfigError, OutputRefused)):
        return Outcome.MINOR_FAILURE
    return Outcome.SERIOUS_FAILURE


def error_code(exc: BaseException) -> str:
    if isinstance(exc, DeviceAIError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted.code
    return InternalError.code


class AuditedAction:
    """One action's audit record in the making (see the module docstring)."""

    def __init__(self, log, event: Code, action: str, parent: AuditedAction | None = None) -> None:  # noqa: ANN001
        self.log = log
        self.event = event
        self.action = action
        self.parent = parent
        self.objects: tuple[AuditObject, ...] = ()
        self.details: dict[str, str] = {}
        self.success_seqs: list[int] = []  # success entries of this action and its nested steps

    def succeeded(self, details: dict[str, str] | None = None, outcome: Outcome = Outcome.SUCCESS) -> None:
        """Record the action's success (or a partial one: ``outcome``); durable on return."""
        entry = self.log.append(self.event, action=self.action, outcome=outcome, objects=self.objects,
                                details={**self.details, **(details or {})})
        self._claimed(entry.seq)

    def _claimed(self, seq: int) -> None:
        self.success_seqs.append(seq)
        if self.parent is not None:
            self.parent._claimed(seq)

    @property
    def recorded(self) -> bool:
        return bool(self.success_seqs)

    def failed(self, exc: BaseException) -> None:
        details = {**self.details, "error": error_code(exc)}
        if self.success_seqs:
            details["supersedes"] = ",".join(str(seq) for seq in self.success_seqs)
        self.log.append(self.event, action=self.action, outcome=outcome_of(exc), objects=self.objects, details=details)

    @contextlib.contextmanager
    def nested(self, event: Code, action: str = "C") -> Iterator[AuditedAction]:
        with audited(self.log, event, action, parent=self) as step:
            step.objects = self.objects
            yield step


@contextlib.contextmanager
def audited(log, event: Code, action: str = "C", *, parent: AuditedAction | None = None) -> Iterator[AuditedAction]:  # noqa: ANN001
    record = AuditedAction(log, event, action, parent)
    try:
        yield record
    except AuditError:
        raise  # the trail itself failed: there is nowhere to record it
    except BaseException as exc:
        try:
            record.failed(exc)
        except AuditError as audit_exc:
            raise audit_exc from exc
        raise
    if not record.recorded:  # a defect of the action's code: say so in the trail too
        defect = InternalError(f"the action '{event.meaning}' ended without recording its outcome")
        record.failed(defect)
        raise defect
