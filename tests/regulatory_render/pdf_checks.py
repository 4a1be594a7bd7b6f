"""Checks of printed PDFs with poppler-utils (pdftotext, pdfinfo, pdftohtml), an extractor that
shares no code with the printer (Chromium/Skia), used by the SRS-202/SRS-203 tests.

- page marks: every page's text holds the document ID, the revision and "page N of M";
- overlap: no two word boxes of a page (pdftotext -bbox-layout) intersect by more than ``tol``
  points in both directions;
- right edge: no word box ends more than ``tol`` points past the right edge of the content area
  (Chromium clips overflowing content there, so text cut off leaves a clipped glyph behind);
- outline: the bookmark titles (pdftohtml -xml) against the HTML's h1-h6 headings.
"""

from __future__ import annotations

import html
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from conftest import require_tool

MM = 72 / 25.4  # points per millimetre
_WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>')
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)

Word = tuple[float, float, float, float, str]


def _run(tool: str, *args: str) -> str:
    return subprocess.run([require_tool(tool), *args], capture_output=True, text=True, check=True, timeout=300).stdout


def page_count(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", str(pdf)), re.M).group(1))


def info(pdf: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in _run("pdfinfo", str(pdf)).splitlines() if ":" in line)


def page_texts(pdf: Path) -> list[str]:
    """The text of each page (pdftotext -layout ends every page with a form feed)."""
    return _run("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


def missing_marks(pdf: Path, doc_id: str, revision: str) -> list[str]:
    """Pages without the ID, the revision or their "page N of M" (M from pdfinfo)."""
    texts = page_texts(pdf)
    total = page_count(pdf)
    problems = [f"pdftotext saw {len(texts)} pages, pdfinfo {total}"] if len(texts) != total else []
    for number, text in enumerate(texts, 1):
        flat = " ".join(text.split())
        for mark in (doc_id, revision, f"page {number} of {total}"):
            if mark not in flat:
                problems.append(f"page {number}: no {mark!r}")
    return problems


def word_pages(pdf: Path) -> list[tuple[float, float, list[Word]]]:
    """(width, height, word boxes) of every page, in points."""
    out = _run("pdftotext", "-bbox-layout", str(pdf), "-")
    return [(float(w), float(h), [(float(a), float(b), float(c), float(d), html.unescape(t))
                                  for a, b, c, d, t in _WORD.findall(body)])
            for w, h, body in _PAGE.findall(out)]


def overlaps(pdf: Path, tol: float = 1.0) -> list[str]:
    """Pairs of words on one page whose boxes intersect by more than ``tol`` pt in x and in y."""
    found = []
    for number, (_, _, words) in enumerate(word_pages(pdf), 1):
        words = sorted(words, key=lambda w: w[1])
        for i, a in enumerate(words):
            for b in words[i + 1:]:
                if b[1] >= a[3] - tol:  # sorted by top: no later word reaches into a's height
                    break
                dx = min(a[2], b[2]) - max(a[0], b[0])
                dy = min(a[3], b[3]) - max(a[1], b[1])
                if dx > tol and dy > tol:
                    found.append(f"page {number}: {a[4]!r} {a[:4]} overlaps {b[4]!r} {b[:4]}")
    return found


def past_right_edge(pdf: Path, right_margin_mm: float, tol: float = 1.0) -> list[str]:
    """Words ending more than ``tol`` pt past the right edge of the content area."""
    found = []
    for number, (width, _, words) in enumerate(word_pages(pdf), 1):
        edge = width - right_margin_mm * MM
        found += [f"page {number}: {w[4]!r} ends at {w[2]:.1f} pt, the content ends at {edge:.1f} pt"
                  for w in words if w[2] > edge + tol]
    return found


def outline(pdf: Path) -> list[str]:
    """The PDF's bookmark titles in document order (nesting flattened)."""
    out = _run("pdftohtml", "-xml", "-i", "-q", "-stdout", "-f", "1", "-l", "1", str(pdf))
    part = out[out.find("<outline>"):] if "<outline>" in out else ""
    return [" ".join(html.unescape(t).split()) for t in re.findall(r"<item[^>]*>(.*?)</item>", part, re.S)]


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[str] = []
        self._depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self._depth += 1
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag) and self._depth:
            self._depth -= 1
            self.headings.append(" ".join("".join(self._text).split()))

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._text.append(data)


def headings(text: str) -> list[str]:
    """The h1-h6 headings of an HTML document, in order, whitespace collapsed."""
    parser = _Headings()
    parser.feed(text)
    return parser.headings
