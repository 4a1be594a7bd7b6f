"""Reading the audit trail: listing entries with filters, and verifying it. Read-only, and
a new DEVICE_AI_HOME (no entry yet) is an ordinary state, not an error."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device_ai.audit.entry import EVENTS, Outcome
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
    try:
        if value == "today":
            moment = midnight
        elif value == "yesterday":
            moment = midnight - timedelta(days=1)
        elif match := _RELATIVE.fullmatch(value):
            moment = now - timedelta(**{_UNITS[match[2]]: int(match[1])})
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # unreadable, or outside years 1-9999 once in UTC (review 140 D2)
        raise ConfigError(f"{option} {text!r} is not a time I can read (years 1 to 9999, UTC)",
                          hint=f"give {TIME_FORMS}") from None
    # written field by field: strftime's %Y drops the leading zeros of a year before 1000 on glibc, and the
    # log's times must sort as text (review 140 D1)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond:06d}Z")


#: The study ids the device writes into entries: a keyed pseudonym, or a keyed UID (a DICOM UI:
#: digits and dots, at most 64 characters) when de-identification names a study folder by it.
_STUDY_ID = re.compile(r"study-[0-9a-f]{16}|(?=[0-9.]{1,64}\Z)[0-9]+(?:\.[0-9]+)*")
_EVENT_NAMES = frozenset(name.lower() for c in EVENTS.values() for name in (c.code, c.meaning))


def filter_value_problem(key: str, value: str) -> str | None:
    """Why ``value`` is not one a filter of ``key`` holds as ``audit export`` states it in a proof
    bundle, or None: since/until in the form :func:`parse_time` writes, event a code or meaning of
    an event the device records (any case), study a study id the device writes. A value of another
    form chooses no entry or no other entries, and a receiver is shown the stated value
    (review 133 defect 1b: an unbounded one scrolled the OK line's filter off the screen)."""
    if key in ("since", "until"):
        try:
            canonical = parse_time(value, key) == value
        except ConfigError:
            canonical = False
        return None if canonical else f"{key} is not a UTC time as audit export writes it (2026-11-24T08:00:00.000000Z)"
    if key == "event":
        return None if value.lower() in _EVENT_NAMES else \
            "event is not the code or meaning of an audit event this device records (e.g. DAI004 or 'Analysis Run')"
    if key == "study":
        return None if _STUDY_ID.fullmatch(value) else \
            "study is not a study id the device records (study-<16 hex digits>, or a UID of at most 64 digits and dots)"
    return "a key that is not one of the filter's (since, until, event, study)"


def entry_filter(since: str | None, until: str | None, event: str | None, study: str | None) -> EntryFilter:
    """The filter of `audit show` and `audit export` options (times in any of :data:`TIME_FORMS`); a
    ConfigError naming the option whose value no entry can meet, so an export never states a filter
    its receiver's verify-export refuses."""
    selection = EntryFilter(since=parse_time(since, "--since") if since else None,
                            until=parse_time(until, "--until") if until else None,
                            event=event, study=study)
    for key in ("event", "study"):
        value = getattr(selection, key)
        if value is not None and (problem := filter_value_problem(key, value)):
            raise ConfigError(f"--{key} {value!r}: {problem}",
                              hint="`device-ai audit show` lists the entries with their events and study ids")
    return selection


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
