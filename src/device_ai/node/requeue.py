"""``device-ai requeue``: send dead-lettered results again once their destination is fixed
(issue 15 item 3). A result goes to the dead-letter folder after ``node_send_max_attempts``
failures and stays there, with every reason, until the operator acts: the retention never
deletes it (SRS-150). Re-queueing moves each entry back to ``pending/`` with its attempts
counted from zero (its errors are kept, and ``requeued`` says when and how often), so the
running node (``serve`` or ``watch``, which may keep running) sends it on its next pass.

Each entry is created in ``pending/`` before it is removed from ``dead/`` (a kill in between
leaves both; the next requeue finds the pending one and only removes the dead one), and each
re-queue is a Result Re-Queued audit entry (DAI013, action U) naming the study, series and
result by keyed pseudonym.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from device_ai.app.context import Context
from device_ai.atomic_io import fsync_directory
from device_ai.errors import ConfigError
from device_ai.node.hot_folder import WATCH_DESTINATION
from device_ai.node.outbound import _dump
from device_ai.node.spool import _create_once, _names, utc_text


@dataclass(frozen=True)
class Requeued:
    destination: str
    result: str  # the entry's name without .json: <series>.gen-NNNN.<role>
    attempts: int  # failed attempts before it was dead-lettered


def requeue_dead(ctx: Context, destination: str | None = None) -> list[Requeued]:
    """Move the dead letters of ``destination`` (or of every destination) back to pending."""
    root = Path(ctx.settings.home) / "node"
    base = root / "outbound"
    known = {d.name for d in ctx.settings.node_destinations} | {WATCH_DESTINATION}
    found = [d for d in _names(base / "dead") if (base / "dead" / d).is_dir()]
    if destination is not None:
        if destination not in known:
            raise ConfigError(f"no destination named {destination!r} is configured",
                              hint=f"use one of: {', '.join(sorted(known))} (node_destinations; "
                                   f"{WATCH_DESTINATION} is device-ai watch's OUT folder)")
        found = [d for d in found if d == destination]
    unknown = [d for d in found if d not in known]
    if unknown:  # a destination removed from the configuration: pending entries would never be sent
        raise ConfigError(f"dead letters of destinations no longer configured: {', '.join(unknown)}",
                          hint="configure them again, or name a configured one with --destination")
    done: list[Requeued] = []
    with ctx.open_audit_log() as log:
        from device_ai.node.trail import NodeTrail

        trail = NodeTrail(log)
        for dest in found:
            dead, pending = base / "dead" / dest, base / "pending" / dest
            for name in [n for n in _names(dead) if n.endswith(".json")]:
                entry = json.loads((dead / name).read_text(encoding="utf-8"))
                now = time.time()
                again = {k: v for k, v in entry.items() if k != "dead_utc"}
                again.update(attempts=0, next_attempt=0.0,
                             requeued=[*entry.get("requeued", []), {"utc": utc_text(now), "dead_utc": entry.get(
                                 "dead_utc", ""), "attempts": entry.get("attempts", 0)}])
                pending.mkdir(mode=0o700, parents=True, exist_ok=True)
                if _create_once(pending / name, _dump(again)) or (pending / name).exists():
                    trail.result_requeued(entry, dest, attempts=int(entry.get("attempts", 0)))
                    (dead / name).unlink()
                    fsync_directory(dead)
                    done.append(Requeued(dest, name[:-len(".json")], int(entry.get("attempts", 0))))
    return done
