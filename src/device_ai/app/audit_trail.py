"""Reading the audit trail: listing entries with filters, and verifying it. Read-only, and
a new DEVICE_AI_HOME (no entry yet) is an ordinary state, not an error."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device_ai.audit.entry import Outcome
from device_ai.errors import ConfigError

_RELATIVE = re.compile(r"(\d+)\s*([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
TIME_FORMS = "an ISO date or UTC time (2026-11-24, 2026-11-24T08:00:00), 'today', 'yesterday', or an age (30m, 24h, 7d)"


def folder_of(folder: Path | None) -> Path:
    from device_ai.audit.log import default_folder

    return Path(folder) if folder else default_folder()


def outcome_text(value: int) -> str:
    """PS3.15 A.5.1 outcome indicator in words: 0 success, 4 minor, 8 serious, 12 major failure."""
    try:
        return Outcome(value).name.lower().replace("_", " ")
    except ValueError:
        return f"outcome {value}"


def parse_time(text: str, option: str, now: datetime | None = None) -> str:
    """``text`` as the log's UTC time format (sortable as text), or a ConfigError saying which
    forms are accepted."""
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        moment = midnight
    elif value == "yesterday":
        moment = midnight - timedelta(days=1)
    elif match := _RELATIVE.fullmatch(value):
        moment = now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{option} {text!r} is not a time I can read", hint=f"give {TIME_FORMS}") from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class EntryFilter:
    since: str | None = None  # as parsed by parse_time
    until: str | None = None
    event: str | None = None  # code or meaning, any case
    study: str | None = None  # study pseudonym

    def matches(self, entry: dict) -> bool:
        event = entry["event"]
        if self.event and self.event.lower() not in (event["code"].lower(), event["meaning"].lower()):
            return False
        if self.since and entry["time_utc"] < self.since:
            return False
        if self.until and entry["time_utc"] > self.until:
            return False
        return not self.study or any(o["id"] == self.study for o in entry["objects"])


def entries(folder: Path | None, selection: EntryFilter) -> tuple[int, list[dict]]:
    """(entries in the log, the matching entries, oldest first)."""
    from device_ai.audit.log import log_bytes
    from device_ai.audit.store import scan

    records = scan(log_bytes(folder_of(folder))).records
    every = [json.loads(record.payload) for record in records]
    return len(every), [entry for entry in every if selection.matches(entry)]


def verify(folder: Path | None, key: str | None, checkpoints: list[Path]):  # noqa: ANN201 - VerifyReport | None
    """The verification report, or None when there is nothing to verify (a new home); see
    :func:`device_ai.audit.verify.verify_trail`."""
    from device_ai.app.preconditions import check_input_path
    from device_ai.audit.verify import verify_trail

    if folder is not None:  # a name too long for the system is the user's to fix, not an internal error
        check_input_path(folder, "--dir")
    for path in checkpoints:
        check_input_path(path, "--checkpoint")
    return verify_trail(folder, key, checkpoints)
