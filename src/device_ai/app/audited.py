"""Recording an audited action truthfully.

``with audited(log, EVENT) as action:`` wraps the whole action. The body calls
``action.succeeded(details)`` as its last step before the outputs are published; any
exception leaving the block is recorded as a failure of that event with its error code, and
re-raised. If the action fails after a success was recorded (the final rename, a nested step, a
checkpoint after the entry), the failure entry names the success entries it supersedes, one
failure entry per event that had claimed success: the log is append-only, so it can only
correct itself, never erase. Nested steps (``action.nested(EVENT)``) report their success
entries to the enclosing action for that purpose. Only when the trail itself cannot be written
is nothing more recorded; the action then fails with an AuditError that names how it ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from device_ai.audit.entry import AuditObject, Code, Outcome
from device_ai.errors import (AuditCheckpointFailed, AuditError, ConfigError, DeviceAIError, InputRefused,
                              InternalError, Interrupted, OutputRefused)


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


def describe(exc: BaseException) -> str:
    return exc.one_line() if isinstance(exc, DeviceAIError) else f"{error_code(exc)}: {type(exc).__name__}"


class AuditedAction:
    """One action's audit record in the making (see the module docstring)."""

    def __init__(self, log, event: Code, action: str, parent: AuditedAction | None = None,  # noqa: ANN001
                 refused_event: Code | None = None) -> None:
        self.log = log
        self.event = event
        self.refused_event = refused_event  # the event of a refusal (e.g. Model Refused), if it has its own
        self.action = action
        self.parent = parent
        self.objects: tuple[AuditObject, ...] = ()
        self.details: dict[str, str] = {}
        self.claims: list[tuple[Code, str, int]] = []  # (event, action, seq) of recorded successes, nested included

    def succeeded(self, details: dict[str, str] | None = None, outcome: Outcome = Outcome.SUCCESS,
                  published: tuple[AuditObject, ...] = ()) -> None:
        """Record the action's success (or a partial one: ``outcome``); durable on return.
        ``published``: the file objects of what it publishes (SRS-222), in this entry only."""
        # Claimed the moment it is durable: a checkpoint that then fails or is interrupted cannot
        # leave a success that a later failure entry does not supersede.
        self.log.append(self.event, action=self.action, outcome=outcome, objects=(*self.objects, *published),
                        details={**self.details, **(details or {})},
                        on_durable=lambda entry: self._claimed(self.event, self.action, entry.seq))

    def _claimed(self, event: Code, action: str, seq: int) -> None:
        self.claims.append((event, action, seq))
        if self.parent is not None:
            self.parent._claimed(event, action, seq)

    @property
    def recorded(self) -> bool:
        return bool(self.claims)

    def failed(self, exc: BaseException) -> None:
        """The failure entry of this action, superseding its success claims; then one for each
        nested step's event that had claimed success."""
        details = {**self.details, "error": error_code(exc)}
        own = [seq for event, _, seq in self.claims if event == self.event]
        if own:
            details["supersedes"] = ",".join(map(str, own))
        refused = self.refused_event is not None and isinstance(exc, Exception) and not isinstance(exc, AuditError)
        entries = [(self.refused_event if refused else self.event, self.action, details)]
        for event, action in dict.fromkeys((e, a) for e, a, _ in self.claims if e != self.event):
            seqs = [seq for e, a, seq in self.claims if (e, a) == (event, action)]
            entries.append((event, action, {"error": error_code(exc), "supersedes": ",".join(map(str, seqs)),
                                            "reason": f"the enclosing '{self.event.meaning}' failed"}))
        checkpoint_failure: AuditCheckpointFailed | None = None
        for event, action, entry_details in entries:
            try:
                self.log.append(event, action=action, outcome=outcome_of(exc), objects=self.objects,
                                details=entry_details)
            except AuditCheckpointFailed as failure:  # the entry is durable: write the others, then report it
                checkpoint_failure = checkpoint_failure or failure
        self._superseded({seq for _, _, seq in self.claims})
        if checkpoint_failure is not None:
            raise checkpoint_failure

    def _superseded(self, seqs: set[int]) -> None:
        """Claims corrected by a failure entry: no enclosing action supersedes them again."""
        self.claims = [claim for claim in self.claims if claim[2] not in seqs]
        if self.parent is not None:
            self.parent._superseded(seqs)

    @contextlib.contextmanager
    def nested(self, event: Code, action: str = "C") -> Iterator[AuditedAction]:
        with audited(self.log, event, action, parent=self) as step:
            step.objects = self.objects
            yield step


@contextlib.contextmanager
def audited(log, event: Code, action: str = "C", *, parent: AuditedAction | None = None,  # noqa: ANN001
            refused_event: Code | None = None) -> Iterator[AuditedAction]:
    record = AuditedAction(log, event, action, parent, refused_event)
    try:
        yield record
    except AuditError as exc:
        # The trail failed (a checkpoint, or this very append): record the failure as far as the
        # trail still allows, superseding any durable success claim.
        with contextlib.suppress(AuditError):
            record.failed(exc)
        raise AuditError(f"{exc.message}; the action '{event.meaning}' failed and published nothing",
                         hint=exc.hint) from exc
    except BaseException as exc:
        try:
            record.failed(exc)
        except AuditError as audit_exc:
            raise AuditError(f"{audit_exc.message}; the action had failed: {describe(exc)}",
                             hint=audit_exc.hint) from exc
        raise
    if not record.recorded:  # a defect of the action's code: say so in the trail too
        defect = InternalError(f"the action '{event.meaning}' ended without recording its outcome")
        record.failed(defect)
        raise defect
