"""``device-ai status`` (issue 15 item 7): the node's queues as found on disk, its last errors and
the configured model's identity. Read-only: it takes no lock and can run beside ``serve``
(counts taken while the node works may be one step apart)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from device_ai.app.context import Context
from device_ai.node import outbound
from device_ai.node.hot_folder import WATCH_DESTINATION
from device_ai.node.spool import OPEN, _names, ready_markers
from device_ai.node.worker import generation_state, key_of

LAST = 5  # how many of each kind of error are shown


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def node_status(ctx: Context) -> dict[str, Any]:
    root = Path(ctx.settings.home) / "node"
    series_root = root / "series"
    receiving = sum(1 for name in _names(series_root) if (series_root / name / OPEN).is_dir())
    states = {"ready": 0, "analyzing": 0, "done": 0, "superseded": 0, "refused": 0}
    for ready in ready_markers(root) if (root / "ready").is_dir() else []:
        states[generation_state(root, key_of(ready)) or "ready"] += 1
    refusals = sorted((_read(p) for p in (root / "refused").glob("*.json")), key=lambda r: r.get("utc", ""))
    analysis_errors = sorted((dict(_read(p), key=p.parent.name) for p in (root / "work").glob("*/error.json")),
                             key=lambda r: r.get("utc", ""))
    configured = {d.name for d in ctx.settings.node_destinations}
    queues = outbound.counts(root)
    for name in configured:
        queues.setdefault(name, {"pending": 0, "sent": 0, "dead": 0})
    send_errors, dead_letters = [], []
    base = root / "outbound"
    for dest in sorted(queues):
        for path in (base / "pending" / dest).glob("*.json"):
            entry = _read(path)
            if entry.get("last_error"):
                send_errors.append({"destination": dest, "result": path.stem, "attempts": entry.get("attempts"),
                                    "utc": entry["errors"][-1]["utc"], "reason": entry["last_error"]})
        for path in (base / "dead" / dest).glob("*.json"):
            entry = _read(path)
            dead_letters.append({"destination": dest, "result": path.stem, "attempts": entry.get("attempts"),
                                 "utc": entry.get("dead_utc", ""), "reason": entry.get("last_error", "")})
    return {
        "spool": str(root),
        "received_open": receiving,
        "generations": states,
        "outbound": {dest: {**queues[dest], "configured": dest in configured} for dest in sorted(queues)},
        "last_refusals": [{k: r.get(k) for k in ("series", "generation", "code", "message", "utc")}
                          for r in refusals[-LAST:]],
        "last_analysis_errors": analysis_errors[-LAST:],
        "last_send_errors": sorted(send_errors, key=lambda e: e["utc"])[-LAST:],
        "dead_letters": sorted(dead_letters, key=lambda e: e["utc"])[-LAST:],
        "model": model_identity(ctx),
    }


def model_identity(ctx: Context) -> dict[str, Any]:
    """Name, version and manifest SHA-256 of the configured model, verified as analysis would."""
    from device_ai.app.model import model_info
    from device_ai.errors import DeviceAIError

    try:
        package = model_info(ctx)
    except DeviceAIError as exc:
        return {"path": str(ctx.settings.model_path), "error": exc.one_line()}
    return {"name": package.manifest.name, "version": package.manifest.version,
            "manifest_sha256": package.manifest_sha256, "path": str(ctx.settings.model_path)}


def render(status: dict[str, Any]) -> list[str]:
    g = status["generations"]
    lines = [f"spool: {status['spool']}",
             f"series receiving (open): {status['received_open']}",
             f"generations: ready {g['ready']}, analyzing {g['analyzing']}, done {g['done']}, "
             f"superseded {g['superseded']}, refused {g['refused']}"]
    if not status["outbound"]:
        lines.append("outbound: no destination configured (node_destinations)")
    for dest, q in status["outbound"].items():
        note = "" if q["configured"] else (" (the OUT folder of device-ai watch)" if dest == WATCH_DESTINATION
                                            else " (no longer configured)")
        lines.append(f"outbound {dest}{note}: pending {q['pending']}, sent {q['sent']}, dead letters {q['dead']}")
    for title, key in (("last refusals", "last_refusals"), ("last analysis errors", "last_analysis_errors"),
                       ("last send errors", "last_send_errors"), ("dead letters", "dead_letters")):
        for item in status[key]:
            if key == "last_refusals":
                lines.append(f"{title}: {item['series']} generation {item['generation']} {item['code']}: "
                             f"{item['message']} ({item['utc']})")
            elif key == "last_analysis_errors":
                lines.append(f"{title}: {item['key']} {item.get('code')}: {item.get('message')} ({item.get('utc')})")
            else:
                lines.append(f"{title}: {item['destination']} {item['result']} after {item['attempts']} attempt(s): "
                             f"{item['reason']} ({item['utc']})")
    if status["dead_letters"]:
        lines.append("dead letters are kept until sent: once the destination works again, run "
                     "`device-ai requeue` (or `device-ai requeue --destination NAME`)")
    model = status["model"]
    if "error" in model:
        lines.append(f"model: {model['path']}: {model['error']}")
    else:
        lines.append(f"model: {model['name']} {model['version']} manifest sha256 {model['manifest_sha256']}")
    return lines
