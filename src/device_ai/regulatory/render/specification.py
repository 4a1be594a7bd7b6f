"""What the software requirements specification and the software design specification show
(IEC 62304 5.2, 5.3, 5.4; FDA premarket software guidance: SRS, SDS, architecture diagram),
computed from the trace graph (and, for the design, from the source under ``src/`` read
statically by :mod:`.source_design`) before any template runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from device_ai.regulatory.items import Category
from device_ai.regulatory.render import item_diagram
from device_ai.regulatory.render.documents import _tests_of, fields, software_items
from device_ai.regulatory.render.source_design import design
from device_ai.regulatory.render.view import ALLOCATED, IMPLEMENTED_BY, SATISFIES, TraceView

# "Acceptance:" starts the acceptance criterion inside a requirement's text (there is no separate field)
_ACCEPTANCE = re.compile(r"(?:^|(?<=[\s.;:]))Acceptance:\s*")


def split_acceptance(text: str) -> tuple[str, str | None]:
    """``(requirement, acceptance criterion)``: the text before and after its first ``Acceptance:``;
    the criterion is None when the text states none separately."""
    match = _ACCEPTANCE.search(text)
    if match is None:
        return text, None
    return text[:match.start()].rstrip(), text[match.end():].strip() or None


def _requirement(view: TraceView, node: Mapping[str, Any]) -> dict[str, Any]:
    rid = str(node["id"])
    f = fields(node)
    text = str(f.get("text") or "")
    _, acceptance = split_acceptance(text)
    tests = _tests_of(view, rid)
    return {
        "id": rid, "title": f.get("title"), "text": text, "acceptance": acceptance, "rationale": f.get("rationale"),
        "category": f.get("category"), "status": f.get("status"),
        "user_needs": [{"id": u, "title": fields(view.get(u)).get("title")} for u in view.targets(SATISFIES, rid)],
        "items": view.targets(ALLOCATED, rid), "controls": view.sources(IMPLEMENTED_BY, rid),
        "verdict": view.verdict(rid), "tests": len(tests), "cases": sum(t["cases"] for t in tests),
        "outcomes": sorted({t["outcome"] for t in tests}),
        "respecifications": [{k: str(r.get(k)) for k in ("date", "change", "record")}
                             for r in f.get("respecifications") or []],
        "independent": [{"by": str(r.get("by")), "date": str(r.get("date"))}
                        for r in node.get("independent_reviews") or []],
        "review_state": node.get("review_state"),
        "last_review": {"by": str((node.get("review") or {}).get("by")),
                        "date": str((node.get("review") or {}).get("date"))} if node.get("review") else None,
    }


def srs(view: TraceView) -> dict[str, Any]:
    """Every requirement with its full text, criterion, rationale and links, grouped by category
    (the order of the schema's categories, then any other), sorted by ID inside each group."""
    rows = [_requirement(view, node) for node in view.of("requirement")]  # view.of: ordered by ID
    known = list(get_args(Category))
    categories = known + sorted({str(r["category"]) for r in rows} - set(known))
    groups = [{"category": c, "rows": [r for r in rows if str(r["category"]) == c]} for c in categories]
    return {"groups": [g for g in groups if g["rows"]], "total": len(rows),
            "with_acceptance": sum(1 for r in rows if r["acceptance"]),
            "respecified": [r["id"] for r in rows if r["respecifications"]]}


def _tree(items: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """Items in tree order (each parent followed by its children, by ID) with their depth."""
    by_id = {str(i["id"]): i for i in items}
    ordered: list[tuple[Mapping[str, Any], int]] = []
    seen: set[str] = set()

    def add(iid: str, depth: int) -> None:
        if iid in seen:
            return
        seen.add(iid)
        ordered.append((by_id[iid], depth))
        for child in sorted(c for c in by_id if by_id[c].get("parent") == iid):
            add(child, depth + 1)

    for root in sorted(i for i in by_id if by_id[i].get("parent") not in by_id):
        add(root, 0)
    for iid in sorted(by_id):  # a cycle of parents (the gate refuses it): still every item
        add(iid, 0)
    return ordered


def sds(view: TraceView, root: Path) -> dict[str, Any]:
    """Per software item (tree order): class, rationale, its source files with their public interface,
    the requirements allocated to it and the items it imports and is imported by; the dependency
    edges with the imports behind them; the diagram and the matrix."""
    items = software_items(view)
    per_item, dependencies = design(Path(root), items)
    titles = {str(i["id"]): i.get("title") for i in items}
    uses: dict[str, list[dict[str, Any]]] = {}
    used_by: dict[str, list[str]] = {}
    for d in dependencies:
        uses.setdefault(d.source, []).append({"id": d.target, "title": titles.get(d.target), "imports": len(d.via)})
        used_by.setdefault(d.target, []).append(d.source)
    rows = []
    for item, depth in _tree(items):
        iid = str(item["id"])
        modules = per_item.get(iid, [])
        rows.append({**item, "depth": depth, "files": modules,
                     "requirements": [{"id": r, "title": fields(view.get(r)).get("title"), "status": view.status(r)}
                                      for r in item["requirements"]],
                     "uses": uses.get(iid, []), "used_by": sorted(used_by.get(iid, []))})
    sources_found = any(per_item.values())
    drawn = [{**i, "files": len(per_item.get(str(i["id"]), []))} for i in items]
    return {
        "items": rows, "dependencies": dependencies, "sources_found": sources_found,
        "files": sum(len(m) for m in per_item.values()),
        "members": sum(len(d.members) for m in per_item.values() for d in m),
        "diagram": architecture_diagram(drawn, dependencies, href="sds.html"),
        "matrix": item_diagram.matrix(drawn, [(d.source, d.target, len(d.via)) for d in dependencies],
                                      href="sds.html"),
    }


def architecture_diagram(items: Sequence[Mapping[str, Any]], dependencies: Sequence[Any], *, href: str) -> str:
    return item_diagram.diagram(items, [(d.source, d.target) for d in dependencies], href=href)


def architecture(design_: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture page's diagram and matrix: those of the SDS (``design_``, from :func:`sds`),
    whose boxes link to the SDS."""
    return {"diagram": design_["diagram"], "matrix": design_["matrix"], "sources_found": design_["sources_found"],
            "dependencies": len(design_["dependencies"])}
