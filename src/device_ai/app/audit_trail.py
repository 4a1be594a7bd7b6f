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
    """The verification report, or None when there is nothing to verify: no log, no local
    checkpoint and none given (a new home). A missing log with checkpoints is verified, and
    fails: the checkpoints prove that records existed."""
    from device_ai.audit.checkpoint import parse_verifier_key
    from device_ai.audit.log import (CHECKPOINT_DIR, LOG_NAME, copy_notes, device_verifier_key, notes_in,
                                     origin_copy_notes, origin_name, other_logs_notes)
    from device_ai.audit.verify import verify_log
    from device_ai.config import load_settings

    own_log = folder is None
    folder = folder_of(folder)
    given = [Path(path) for path in checkpoints]
    for path in given:
        _refuse_non_note(path)
    nothing_here = not (folder / LOG_NAME).exists() and not notes_in(folder / CHECKPOINT_DIR)
    copies_of_ours = own_log and origin_copy_notes(load_settings().audit_copy_dir, origin_name())
    if nothing_here and not given and not copies_of_ours:  # a new home: no key is made just to verify nothing
        return None
    key = key or device_verifier_key(folder, only_existing=True)  # verifying never makes a key
    name, public = parse_verifier_key(key)
    # a folder may be a copy location shared by several devices: the notes directly in it (the
    # layout before per-log subfolders) and those in this log's own subfolder
    locations = [path for path in given if path.is_dir()]
    kept = [path for path in given if not path.is_dir()]
    if own_log:  # this device's own log: its checkpoints in the configured copy location count too
        locations.append(load_settings().audit_copy_dir)
    kept += [note for place in locations for note in copy_notes(place, name, public)]
    others = [other_logs_notes(place, name, public) for place in locations]
    return verify_log(folder, key, kept, (sum(o[0] for o in others), sum(o[1] for o in others)))


def _refuse_non_note(path: Path) -> None:
    """A checkpoint given on the command line: a note, or a folder of notes (an off-site copy)."""
    if not path.is_dir() and not path.is_file():
        raise ConfigError(f"--checkpoint {path} is neither a checkpoint note nor a folder of notes",
                          hint="pass a checkpoint note kept elsewhere, or the folder they are copied to")
