"""The software architecture diagram (IEC 62304 5.3.1, 5.3.2; FDA architecture diagram): every
software item as a box, the items it depends on by import as arrows, and the decomposition
(``parent``) as the frame of the system item around its parts, or as dashed lines below it.

Layout is a plain layered one, computed and therefore deterministic: an item sits above the items
it imports (longest path to an item that imports nothing; an import that closes a cycle is drawn
upwards, dashed, and does not count), a layer wider than :data:`PER_ROW` wraps onto more rows,
and within a row items are ordered by the mean position of the items they connect to in the row
above (ties by ID). The SVG is inline, has no script and refers to nothing outside itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

PER_ROW = 5
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, FRAME_PAD, HEADER = 200, 54, 26, 64, 14, 14, 46


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def _layers(ids: Sequence[str], deps: Mapping[str, Sequence[str]]) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """``{item: height}`` (0 for an item that imports nothing) and the edges left out to break cycles
    (found by a depth-first walk in ID order: an edge back to an item on the walk's path)."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str) -> None:
        state[node] = 1
        for target in deps.get(node, ()):
            if state.get(target) == 1:
                back.add((node, target))
            elif target not in state:
                walk(target)
        state[node] = 2

    for node in ids:
        if node not in state:
            walk(node)
    height: dict[str, int] = {}

    def measure(node: str) -> int:
        if node not in height:
            height[node] = 1 + max((measure(t) for t in deps.get(node, ()) if (node, t) not in back), default=-1)
        return height[node]

    for node in ids:
        measure(node)
    return height, back


def _reduced(ids: Sequence[str], deps: Mapping[str, Sequence[str]], back: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The imports drawn as arrows: an acyclic import is left out when a longer chain of acyclic imports
    already leads from its item to the same target (the transitive reduction); cycle-closing imports
    are always drawn."""
    forward = {i: [t for t in deps.get(i, ()) if (i, t) not in back] for i in ids}
    reach: dict[str, set[str]] = {}

    def reachable(node: str) -> set[str]:
        if node not in reach:
            found: set[str] = set()
            for target in forward[node]:
                found.add(target)
                found |= reachable(target)
            reach[node] = found
        return reach[node]

    drawn = set(back)
    for source in ids:
        for target in forward[source]:
            if not any(target in reachable(other) for other in forward[source] if other != target):
                drawn.add((source, target))
    return drawn


def _rows(ids: Sequence[str], deps: Mapping[str, Sequence[str]], height: Mapping[str, int]) -> list[list[str]]:
    """Rows top to bottom: the highest layer first, each wrapped at PER_ROW and ordered by barycentre."""
    neighbours: dict[str, set[str]] = {i: set(deps.get(i, ())) for i in ids}
    for source, targets in deps.items():
        for target in targets:
            neighbours.setdefault(target, set()).add(source)
    rows: list[list[str]] = []
    position: dict[str, float] = {}
    for level in sorted(set(height.values()), reverse=True):
        members = sorted(i for i in ids if height[i] == level)

        def key(item: str) -> tuple[float, str]:
            placed = [position[n] for n in neighbours.get(item, ()) if n in position]
            return (sum(placed) / len(placed) if placed else float("inf"), item)

        members.sort(key=key)
        for start in range(0, len(members), PER_ROW):
            row = members[start:start + PER_ROW]
            offset = (PER_ROW - len(row)) / 2
            for index, item in enumerate(row):
                position[item] = offset + index
            rows.append(row)
    return rows


def _box(item: Mapping[str, object], x: float, y: float, href: str, *, framed: bool) -> str:
    iid = str(item["id"])
    title = str(item.get("title") or "")
    klass = item.get("safety_class")
    files = item.get("files")
    parent = item.get("parent")
    detail = f"class {klass}" + (f" \u00b7 {files} file(s)" if files is not None else "")
    if parent and not framed:
        detail += f" \u00b7 part of {parent}"
    tip = f"{iid}: {title} (class {klass}" + (f", part of {parent}" if parent else "") + ")"
    return (f'<a href={quoteattr(href + "#" + iid)}><g><title>{escape(tip)}</title>'
            f'<rect x="{x:g}" y="{y:g}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="#fff" stroke="#0b3954" '
            f'stroke-width="1.5"/><text x="{x + 7:g}" y="{y + 16:g}" font-size="12" font-weight="bold">'
            f'{escape(iid)}</text><text x="{x + 7:g}" y="{y + 32:g}" font-size="10.5">'
            f'{escape(_short(title, 33))}</text><text x="{x + 7:g}" y="{y + 47:g}" font-size="9.5" '
            f'fill="#57606a">{escape(_short(detail, 38))}</text></g></a>')


def _arrow(x1: float, y1: float, x2: float, y2: float, *, back: bool) -> str:
    """A straight arrow with its head drawn as a polygon (the pages refer to nothing by url())."""
    dx, dy = x2 - x1, y2 - y1
    length = max((dx * dx + dy * dy) ** 0.5, 1.0)
    ux, uy = dx / length, dy / length
    bx, by = x2 - 7 * ux, y2 - 7 * uy
    colour = "#bf8700" if back else "#57606a"
    dash = ' stroke-dasharray="4 3"' if back else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{colour}" stroke-width="0.8" '
            f'stroke-opacity="0.75"{dash}/><polygon points="{x2:.1f},{y2:.1f} {bx - 3.5 * uy:.1f},{by + 3.5 * ux:.1f} '
            f'{bx + 3.5 * uy:.1f},{by - 3.5 * ux:.1f}" fill="{colour}"/>')


def diagram(items: Sequence[Mapping[str, object]], dependencies: Sequence[tuple[str, str]], *, href: str = "",
            label: str = "Software items and their dependencies") -> str:
    """The diagram as SVG text. ``items``: rows with ``id``, ``title``, ``safety_class``, ``parent``
    (and optionally ``files``, a count); ``dependencies``: ``(importing item, imported item)``;
    ``href``: the page the boxes link to (``""``: this page)."""
    by_id = {str(i["id"]): i for i in items}
    ids = sorted(by_id)
    deps: dict[str, list[str]] = {}
    for source, target in sorted(set(dependencies)):
        if source in by_id and target in by_id and source != target:
            deps.setdefault(source, []).append(target)
    roots = [i for i in ids if not by_id[i].get("parent") or by_id[i].get("parent") not in by_id]
    # one system item: its frame holds every item; otherwise the decomposition is drawn as dashed lines
    framed = len(roots) == 1
    height, back = _layers(ids, deps)
    rows = _rows(ids, deps, height)
    top = MARGIN + (HEADER if framed else 22)
    inner_x = MARGIN + (FRAME_PAD if framed else 0)
    width = inner_x * 2 + PER_ROW * BOX_W + (PER_ROW - 1) * GAP_X
    place: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        offset = (PER_ROW - len(row)) * (BOX_W + GAP_X) / 2
        for c, item in enumerate(row):
            place[item] = (inner_x + offset + c * (BOX_W + GAP_X), top + r * (BOX_H + GAP_Y))
    bottom = top + len(rows) * (BOX_H + GAP_Y) - GAP_Y
    total_h = bottom + (FRAME_PAD if framed else 0) + MARGIN + 34
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label={quoteattr(label)} '
             f'viewBox="0 0 {width:g} {total_h:g}" width="{width:g}" height="{total_h:g}" '
             'style="max-width:100%;height:auto" font-family="DejaVu Sans, Arial, sans-serif">']
    if framed:
        root = by_id[roots[0]]
        parts.append(f'<rect x="{MARGIN}" y="{MARGIN}" width="{width - 2 * MARGIN:g}" '
                     f'height="{bottom + FRAME_PAD - MARGIN:g}" rx="8" fill="#f6f8fa" stroke="#0b3954" '
                     'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{MARGIN + 10}" y="{MARGIN + 18}" font-size="12.5" font-weight="bold">'
                     f'{escape(roots[0])}: {escape(_short(str(root.get("title") or ""), 60))} (class '
                     f'{escape(str(root.get("safety_class")))})</text>')
        parts.append(f'<text x="{MARGIN + 10}" y="{MARGIN + 34}" font-size="10.5" fill="#57606a">every item inside '
                     f'this frame is part of {escape(roots[0])}; the box {escape(roots[0])} stands for its own '
                     'modules</text>')
    # edges first, boxes over them; each box spreads its outgoing and incoming ends along its edge
    outgoing: dict[str, list[str]] = {i: [] for i in ids}
    incoming: dict[str, list[str]] = {i: [] for i in ids}
    for source, target in sorted(_reduced(ids, deps, back)):
        outgoing[source].append(target)
        incoming[target].append(source)

    def spread(node: str, others: list[str], other: str) -> float:
        ordered = sorted(others, key=lambda o: (place[o][0], o))
        return place[node][0] + BOX_W * (ordered.index(other) + 1) / (len(ordered) + 1)

    for source in ids:
        for target in sorted(outgoing[source], key=lambda t: (place[t][0], t)):
            sx, sy = place[source]
            tx, ty = place[target]
            upward = ty < sy or (ty == sy and (source, target) in back)
            x1, x2 = spread(source, outgoing[source], target), spread(target, incoming[target], source)
            y1, y2 = (sy, ty + BOX_H) if upward else (sy + BOX_H, ty)
            parts.append(_arrow(x1, y1, x2, y2, back=(source, target) in back))
    if not framed:
        for iid in ids:
            parent = by_id[iid].get("parent")
            if parent in place:
                px, py = place[str(parent)]
                cx, cy = place[iid]
                parts.append(f'<line x1="{px + BOX_W / 2:g}" y1="{py + BOX_H / 2:g}" x2="{cx + BOX_W / 2:g}" '
                             f'y2="{cy + BOX_H / 2:g}" stroke="#0b3954" stroke-dasharray="2 3"/>')
    for iid in ids:
        parts.append(_box(by_id[iid], *place[iid], href, framed=framed))
    legend = ["Arrow: the item imports modules of the item it points to (read from the source, not run), drawn where",
              "no chain of arrows already leads there; dashed amber: an import that closes a cycle."
              + ("" if framed else " Dotted: part of.")]
    for index, line in enumerate(legend):
        parts.append(f'<text x="{MARGIN}" y="{bottom + (FRAME_PAD if framed else 0) + 20 + 14 * index:g}" '
                     f'font-size="10.5" fill="#57606a">{escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


CELL, NAME_COLUMN = 22, 250


def matrix(items: Sequence[Mapping[str, object]], dependencies: Sequence[tuple[str, str, int]], *, href: str = "",
           label: str = "Dependency matrix of the software items") -> str:
    """Every import between items as a matrix (SVG): row ``n`` imports column ``m`` where the cell holds
    the number of imports. ``dependencies``: ``(importing item, imported item, number of imports)``.
    Items are listed system item first, then the others by ID, children indented under their parent."""
    by_id = {str(i["id"]): i for i in items}
    order: list[tuple[str, int]] = []

    def add(iid: str, depth: int) -> None:
        order.append((iid, depth))
        for child in sorted(c for c in by_id if by_id[c].get("parent") == iid and c != iid):
            add(child, depth + 1)

    for root in sorted(i for i in by_id if by_id[i].get("parent") not in by_id):
        add(root, 0)
    placed = {iid for iid, _ in order}
    order += [(iid, 0) for iid in sorted(by_id) if iid not in placed]  # a parent cycle: still every item
    index = {iid: n for n, (iid, _) in enumerate(order)}
    counts = {(s, t): n for s, t, n in dependencies if s in index and t in index and s != t}
    top = 40
    width = NAME_COLUMN + len(order) * CELL + 2 * MARGIN
    height = top + len(order) * CELL + 2 * MARGIN
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label={quoteattr(label)} '
             f'viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" '
             'style="max-width:100%;height:auto" font-family="DejaVu Sans, Arial, sans-serif">',
             f'<text x="{MARGIN}" y="{MARGIN + 10}" font-size="10.5" fill="#57606a">Row imports column '
             '(number of imports); columns numbered as the rows</text>']
    for n, (iid, depth) in enumerate(order):
        x = MARGIN + NAME_COLUMN + n * CELL
        parts.append(f'<text x="{x + CELL / 2:g}" y="{MARGIN + top - 8:g}" font-size="9.5" text-anchor="middle" '
                     f'fill="#57606a">{n + 1}</text>')
        y = MARGIN + top + n * CELL
        parts.append(f'<a href={quoteattr(href + "#" + iid)}><text x="{MARGIN + 8 * depth:g}" y="{y + 15:g}" '
                     f'font-size="10.5"><tspan fill="#57606a">{n + 1:>2} </tspan>{escape(iid)}</text></a>')
        for m, (other, _) in enumerate(order):
            cx = MARGIN + NAME_COLUMN + m * CELL
            count = counts.get((iid, other))
            fill = "#d0d7de" if m == n else ("#0b3954" if count else ("#fff" if n % 2 else "#f6f8fa"))
            parts.append(f'<rect x="{cx:g}" y="{y:g}" width="{CELL}" height="{CELL}" fill="{fill}" '
                         'stroke="#d0d7de" stroke-width="0.5"/>')
            if count:
                parts.append(f'<text x="{cx + CELL / 2:g}" y="{y + 15:g}" font-size="9" text-anchor="middle" '
                             f'fill="#fff"><title>{escape(f"{iid} imports {other}: {count}")}</title>{count}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
