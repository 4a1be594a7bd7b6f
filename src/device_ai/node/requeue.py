"""``device-ai requeue``: send dead-lettered results again once their destination is fixed
(issue 15 item 3). A result goes to the dead-letter folder after ``node_send_max_attempts``
failures and stays there, with every reason, until the operator acts: the retention never
deletes it (SRS-150). Re-queueing moves each entry back to ``pending/`` with its attempts
counted from zero (its errors are kept, and ``requeued`` says when and how often), so the
running node (``serve`` or ``watch``, which may keep running) sends it on its next pass.

Each move holds the queue's lock (:func:`device_ai.node.outbound.queue_lock`), so the sender
and the retention never see an entry in neither state and two requeues never move one twice.
Its Result Re-Queued audit entry (DAI013, action U, naming the study, series and result by keyed
pseudonym) is written first: a kill after it leaves the dead letter, which the next requeue
moves (the trail may then say it twice, never zero times). Dead letters of a destination no
longer configured are left (and named); ``--discard`` gives a destination's dead letters up
for good (Result Discarded, DAI014, action D), so that the retention can delete the series.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from device_ai.app.context import Context
from device_ai.atomic_io import fsync_directory
from device_ai.errors import ConfigError
from device_ai.node.hot_folder import WATCH_DESTINATION
from device_ai.node.outbound import _dump, queue_lock
from device_ai.node.spool import _create_once, _names, _private, utc_text


DESTINATION_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,31}")  # as config.Destination.name, never '.' or '..'


@dataclass(frozen=True)
class Requeued:
    destination: str
    result: str  # the entry's name without .json: <series>.gen-NNNN.<role>
    attempts: int  # failed attempts before it was dead-lettered


def requeue_dead(ctx: Context, destination: str | None = None) -> tuple[list[Requeued], list[str]]:
    """Move the dead letters of ``destination`` (or of every configured destination) back to
    pending; returns what moved and the destinations whose dead letters were left because they
    are no longer configured (``discard_dead`` removes those)."""
    base = Path(ctx.settings.home) / "node" / "outbound"
    known = _known(ctx)
    found = [d for d in _names(base / "dead") if (base / "dead" / d).is_dir()]
    if destination is not None:
        _check_named(destination, known)
        found = [d for d in found if d == destination]
    left = sorted(d for d in found if d not in known and _names(base / "dead" / d))
    done: list[Requeued] = []
    with ctx.open_audit_log() as log:
        from device_ai.node.trail import NodeTrail

        trail = NodeTrail(log)
        for dest in [d for d in found if d in known]:
            done += _move_entries(base, base / "dead" / dest, base / "pending" / dest, dest, _requeued,
                                  lambda entry, dest=dest: trail.result_requeued(
                                      entry, dest, attempts=int(entry.get("attempts", 0))))
    return done, left


def discard_dead(ctx: Context, destination: str) -> list[Requeued]:
    """Give up the dead letters of ``destination`` for good (and, for a destination no longer
    configured, its pending entries, which nothing would send): each moves to
    ``outbound/discarded/<D>/`` with a Result Discarded audit entry (DAI014, action D), so the
    retention may then delete the generation."""
    base = Path(ctx.settings.home) / "node" / "outbound"
    known = _known(ctx)
    queued = {d for state in ("dead", "pending") for d in _names(base / state) if (base / state / d).is_dir()}
    if not DESTINATION_NAME.fullmatch(destination) or destination not in known | queued:
        raise ConfigError(f"no destination named {destination!r} is configured or has results in the queue",
                          hint=f"use one of: {', '.join(sorted(known | queued))}")
    states = ["dead"] if destination in known else ["dead", "pending"]
    done: list[Requeued] = []
    with ctx.open_audit_log() as log:
        from device_ai.node.trail import NodeTrail

        trail = NodeTrail(log)
        for state in states:
            done += _move_entries(base, base / state / destination, base / "discarded" / destination, destination,
                                  lambda entry, state=state: {**entry, "discarded_utc": utc_text(time.time()),
                                                              "discarded_from": state},
                                  lambda entry, state=state: trail.result_discarded(entry, destination, state=state))
    return done


def _requeued(entry: dict) -> dict:
    """A dead letter as a pending entry again: attempts from zero, its errors kept, the re-queue noted."""
    return {**{k: v for k, v in entry.items() if k != "dead_utc"}, "attempts": 0, "next_attempt": 0.0,
            "requeued": [*entry.get("requeued", []), {"utc": utc_text(time.time()), "dead_utc": entry.get("dead_utc", ""),
                                                      "attempts": int(entry.get("attempts", 0))}]}


def _move_entries(base: Path, source: Path, target: Path, destination: str, rewrite, audit) -> list[Requeued]:  # noqa: ANN001
    """Move every entry of ``source`` to ``target`` (as ``rewrite(entry)``), each under the queue's
    lock, its audit entry (``audit(entry)``) written first: the trail never misses a move, a
    kill after it leaves the entry where it was, and an entry another requeue moved meanwhile
    is skipped."""
    moved: list[Requeued] = []
    for name in [n for n in _names(source) if n.endswith(".json")]:
        with queue_lock(base.parent):  # the sender's moves and another requeue wait
            try:
                entry = json.loads((source / name).read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue  # moved by a requeue running at the same time
            audit(entry)
            _private(target)
            _create_once(target / name, _dump(rewrite(entry)))
            (source / name).unlink()
            fsync_directory(source)
        moved.append(Requeued(destination, name[:-len(".json")], int(entry.get("attempts", 0))))
    return moved


def _known(ctx: Context) -> set[str]:
    return {d.name for d in ctx.settings.node_destinations} | {WATCH_DESTINATION}


def _check_named(destination: str, known: set[str]) -> None:
    if not DESTINATION_NAME.fullmatch(destination) or destination not in known:
        raise ConfigError(f"no destination named {destination!r} is configured",
                          hint=f"use one of: {', '.join(sorted(known))} (node_destinations; "
                               f"{WATCH_DESTINATION} is device-ai watch's OUT folder), or give up a removed "
                               "destination's results with --discard --destination NAME")
