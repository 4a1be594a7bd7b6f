"""What the cybersecurity documents show, computed from the trace graph (FDA premarket
cybersecurity guidance; FD&C 524B): the threat model and security risk report, the four
architecture views and the vulnerability and patch management plan.

Data first, like :mod:`.documents`: plain rows for the templates. A control's state is the
gate's own judgement (:func:`device_ai.regulatory.security.assess` on
:func:`device_ai.regulatory.check.gate_context`), so a page never shows a threat as mitigated
that ``trace check`` lists as open; a residual is shown as credited only when every control of
the threat is in effect, otherwise the initial risk stands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from device_ai.regulatory.check import gate_context
from device_ai.regulatory.render.documents import anchor, fields
from device_ai.regulatory.render.view import IMPLEMENTED_BY, VERIFIES, TraceView
from device_ai.regulatory.security import assess

STRIDE_NAMES = {"spoofing": "Spoofing", "tampering": "Tampering", "repudiation": "Repudiation",
                "information_disclosure": "Information disclosure", "denial_of_service": "Denial of service",
                "elevation_of_privilege": "Elevation of privilege"}


def _plan(view: TraceView) -> Mapping[str, Any]:
    nodes = view.of("security_plan")
    return fields(nodes[0]) if nodes else {}


def _control_row(view: TraceView, control: Mapping[str, Any]) -> dict[str, Any]:
    cid = str(control["id"])
    node = view.get(cid) or {}
    if node.get("kind") == "risk_control":
        requirements = [{"id": r, "verdict": view.verdict(r)} for r in view.targets(IMPLEMENTED_BY, cid)]
    else:
        requirements = [{"id": cid, "verdict": view.verdict(cid)}]
    return {"id": cid, "kind": node.get("kind"), "title": fields(node).get("title"),
            "in_effect": control["not_in_effect"] is None, "why_not": control["not_in_effect"],
            "requirements": requirements}


def threats(view: TraceView) -> list[dict[str, Any]]:
    """Every threat with its controls' states, evaluation and the residual actually credited."""
    assessed = assess(gate_context(view.graph, head=view.head))
    rows = []
    for node in view.of("threat"):
        tid = str(node["id"])
        f = fields(node)
        a = assessed[tid]
        evaluation = a["evaluation"] or {}
        rows.append({
            "id": tid, "title": f.get("title"), "interface": f.get("interface"), "stride": f.get("stride"),
            "stride_name": STRIDE_NAMES.get(str(f.get("stride")), f.get("stride")), "assets": f.get("assets", []),
            "attack": f.get("attack"), "rationale": f.get("rationale"), "multi_patient": f.get("multi_patient"),
            "related_risks": f.get("related_risks", []),
            "initial": evaluation.get("initial") or {}, "stated_residual": evaluation.get("residual") or {},
            "credited": a["credited"] or {}, "mitigated": a["mitigated"],
            "controls": [_control_row(view, c) for c in a["controls"]],
            "state": "mitigated" if a["mitigated"] else ("no control" if not a["controls"] else "controls not in effect"),
        })
    return rows


def _interfaces(view: TraceView, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_interface: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_interface.setdefault(str(row["interface"]), []).append(row)
    found = []
    for node in view.of("security_interface"):
        iid = str(node["id"])
        on = by_interface.get(iid, [])
        found.append({"id": iid, **{k: fields(node).get(k) for k in (
            "title", "description", "direction", "channel", "peer", "trust_boundary", "authentication", "modules",
            "assets")},
            "threats": [t["id"] for t in on], "open": [t["id"] for t in on if not t["mitigated"]],
            "use_cases": view.sources("crosses", iid)})
    return found


def _testing(view: TraceView) -> list[dict[str, Any]]:
    rows = []
    for entry in _plan(view).get("testing", []):
        reqs = []
        for rid in entry.get("requirements", []):
            tests = [{"id": t, "anchor": anchor(t), "outcome": view.test_outcome(t)} for t in view.sources(VERIFIES, rid)]
            reqs.append({"id": rid, "title": fields(view.get(rid)).get("title"), "verdict": view.verdict(rid),
                         "tests": tests, "passed": sum(1 for t in tests if t["outcome"] == "passed")})
        rows.append({**entry, "rows": reqs})
    return rows


def _residual_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    credited = Counter(str(r["credited"].get("acceptability", "n/a")) for r in rows)
    states = Counter(str(r["state"]) for r in rows)
    return {"credited": dict(sorted(credited.items())), "states": dict(sorted(states.items())),
            "stride": dict(sorted(Counter(str(r["stride"]) for r in rows).items()))}


def security_report(view: TraceView) -> dict[str, Any]:
    """The threat model and security risk management report."""
    plan = _plan(view)
    rows = threats(view)
    return {
        "plan": plan, "impacts": [x["level"] for x in plan.get("impact", [])],
        "exploitabilities": [x["level"] for x in plan.get("exploitability", [])],
        "assets": [{"id": str(n["id"]), **fields(n), "interfaces": view.sources("carries", str(n["id"])),
                    "threats": view.sources("harms", str(n["id"]))} for n in view.of("security_asset")],
        "interfaces": _interfaces(view, rows), "threats": rows, "summary": _residual_summary(rows),
        "open": [r for r in rows if not r["mitigated"] or r["credited"].get("acceptability") != "acceptable"],
        "testing": _testing(view),
    }


def architecture_views(view: TraceView) -> dict[str, Any]:
    """The four architecture views of the FDA premarket cybersecurity guidance."""
    plan = _plan(view)
    rows = threats(view)
    by_id = {r["id"]: r for r in rows}
    interfaces = _interfaces(view, rows)
    use_cases = []
    for node in view.of("security_use_case"):
        f = fields(node)
        steps = [next((i for i in interfaces if i["id"] == iid), {"id": iid}) for iid in f.get("interfaces", [])]
        use_cases.append({"id": str(node["id"]), "title": f.get("title"), "description": f.get("description"),
                          "actor": f.get("actor"),
                          "steps": [{**s, "threat_rows": [by_id[t] for t in s.get("threats", [])]} for s in steps]})
    return {"interfaces": interfaces, "diagram": system_diagram(interfaces),
            "multi_patient": [r for r in rows if r["multi_patient"]],
            "update_paths": plan.get("update_paths", []), "use_cases": use_cases,
            "assets": {str(n["id"]): fields(n).get("title") for n in view.of("security_asset")}}


def vulnerability_plan(view: TraceView) -> Mapping[str, Any]:
    """The vulnerability and patch management plan, as the security plan states it."""
    return _plan(view)


# --- global system view as SVG: the device in the middle, interfaces in by the left, out by the right,
# both ways below; a box is red when a threat on it is not mitigated on this commit
_BOX_W, _BOX_H, _GAP, _DEVICE_W = 360, 46, 10, 200
_WIDTH = 2 * _BOX_W + _DEVICE_W + 2 * 90 + 20


def _box(x: int, y: int, interface: Mapping[str, Any]) -> str:
    colour = "#cf222e" if interface["open"] else ("#2da44e" if interface["threats"] else "#8c959f")
    title = str(interface.get("title") or "")
    short = title if len(title) <= 52 else title[:51] + "\u2026"
    count = f"{len(interface['threats'])} threat(s), {len(interface['open'])} open"
    return (f'<a href="#{escape(anchor(interface["id"]))}"><g><title>{escape(interface["id"] + ": " + title)}</title>'
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="5" fill="#fff" stroke="{colour}" '
            f'stroke-width="2"/><text x="{x + 8}" y="{y + 18}" font-size="13" font-weight="bold">'
            f'{escape(interface["id"])}</text><text x="{x + _BOX_W - 8}" y="{y + 18}" font-size="11" '
            f'text-anchor="end" fill="{colour}">{escape(count)}</text>'
            f'<text x="{x + 8}" y="{y + 36}" font-size="11.5">{escape(short)}</text></g></a>')


def _arrow(x1: int, x2: int, y: int) -> str:
    """A horizontal arrow from x1 to x2, its head drawn (no markers: the pages refer to nothing by url())."""
    back = 8 if x2 > x1 else -8
    return (f'<line x1="{x1}" y1="{y}" x2="{x2 - back}" y2="{y}" stroke="#57606a"/>'
            f'<polygon points="{x2},{y} {x2 - back},{y - 4} {x2 - back},{y + 4}" fill="#57606a"/>')


def system_diagram(interfaces: Sequence[Mapping[str, Any]]) -> str:
    """The global system view: every interface of the security file around the device (SVG)."""
    inbound = [i for i in interfaces if i.get("direction") == "in"]
    outbound = [i for i in interfaces if i.get("direction") == "out"]
    both = [i for i in interfaces if i.get("direction") not in ("in", "out")]
    left_x, device_x = 10, 10 + _BOX_W + 90
    right_x = device_x + _DEVICE_W + 90
    top = 30
    side_h = max(len(inbound), len(outbound), 1) * (_BOX_H + _GAP)
    device_y, device_h = top, side_h - _GAP
    rows_both = -(-len(both) // 2)
    both_y = top + side_h + 50
    height = both_y + rows_both * (_BOX_H + _GAP) + 20
    spine_x = device_x + _DEVICE_W // 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Global system view" '
             f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
             f'style="max-width:100%;height:auto" font-family="DejaVu Sans, Arial, sans-serif">',
             f'<text x="{left_x}" y="18" font-size="12" fill="#57606a">Into the device</text>',
             f'<text x="{right_x}" y="18" font-size="12" fill="#57606a">Out of the device</text>',
             f'<rect x="{device_x}" y="{device_y}" width="{_DEVICE_W}" height="{max(device_h, _BOX_H)}" rx="8" '
             'fill="#eef1f4" stroke="#0b3954" stroke-width="2"/>',
             f'<text x="{spine_x}" y="{device_y + 24}" font-size="14" font-weight="bold" '
             f'text-anchor="middle">device_ai</text>',
             f'<text x="{spine_x}" y="{device_y + 42}" font-size="11" text-anchor="middle" '
             'fill="#57606a">its own account on one host</text>']
    for index, interface in enumerate(inbound):
        y = top + index * (_BOX_H + _GAP)
        parts.append(_box(left_x, y, interface))
        parts.append(_arrow(left_x + _BOX_W, device_x - 2, y + _BOX_H // 2))
    for index, interface in enumerate(outbound):
        y = top + index * (_BOX_H + _GAP)
        parts.append(_box(right_x, y, interface))
        parts.append(_arrow(device_x + _DEVICE_W + 2, right_x - 2, y + _BOX_H // 2))
    if both:
        # one spine down from the device; each two-way interface joins it with a double arrow
        last_y = both_y + (rows_both - 1) * (_BOX_H + _GAP) + _BOX_H // 2
        parts.append(f'<text x="{left_x}" y="{both_y - 14}" font-size="12" fill="#57606a">Both ways (the device\'s '
                     'state, keys, audit trail and workers)</text>')
        parts.append(f'<line x1="{spine_x}" y1="{device_y + max(device_h, _BOX_H)}" x2="{spine_x}" y2="{last_y}" '
                     'stroke="#57606a"/>')
    for index, interface in enumerate(both):
        left = index % 2 == 0
        x = left_x if left else right_x
        y = both_y + (index // 2) * (_BOX_H + _GAP)
        parts.append(_box(x, y, interface))
        edge = x + _BOX_W + 2 if left else x - 2
        parts.append(_arrow(spine_x, edge, y + _BOX_H // 2))
    parts.append("</svg>")
    return "\n".join(parts)
