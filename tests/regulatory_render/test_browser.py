"""The index and the trace matrices render in headless Chromium without console errors, and long
tables stay readable: no horizontal overflow at 1280 px, sticky headers, an anchor per row, a
screenshot taken (SRS-048). Under CI a missing Chromium fails the test (conftest.require_tool)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import require_tool
from device_ai.regulatory.package import build_package

from .chromium import LAYOUT_PROBE, Chromium, file_url
from .conftest import LONG_NODE

PAGES = ("index.html", "trace-requirements.html", "trace-risk.html", "trace-soup.html", "vv-report.html",
         "risk-report.html", "soup.html", "release-notes.html", "model-card.html", "sdp.html", "architecture.html")
MATRICES = ("trace-requirements.html", "trace-risk.html", "trace-soup.html")
WIDTH = 1280


def _screenshot_dir(tmp_path: Path) -> Path:
    """Screenshots go to test-results/screenshots when DEVICE_AI_SCREENSHOTS is set (CI keeps them)."""
    target = os.environ.get("DEVICE_AI_SCREENSHOTS")
    folder = Path(target) if target else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wide_graph(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph with a requirement whose title is one 400-character word and 300 extra verifying
    tests with long parametrized node ids: the worst case for table width and length."""
    wide = copy.deepcopy(graph)
    node = next(n for n in wide["nodes"] if n["id"] == "SRS-001")
    node["fields"]["title"] = "Unbreakable" + "x" * 400
    run = wide["runs"][0]["id"]
    for i in range(300):
        test_id = f"{LONG_NODE[:-1]}-{i:03d}]"
        wide["nodes"].append({"kind": "test", "id": test_id, "fingerprint": None, "source": None, "review": None,
                              "review_state": None, "suspect_because": [],
                              "fields": {"file": "tests/test_wide.py", "line": i + 1, "requirements": ["SRS-001"],
                                         "unresolved": []},
                              "results": [{"run": run, "outcome": "passed", "duration_s": 0.1, "message": None}]})
        wide["edges"].append({"kind": "verifies", "source": test_id, "target": "SRS-001",
                              "reviewed": {"source": None, "target": None}, "suspect": False})
    return wide


def _check(report: Any, name: str) -> dict[str, Any]:
    assert report.errors == [], f"{name}: {report.errors}"
    layout = json.loads(report.value)
    assert layout["scrollWidth"] <= layout["innerWidth"] == WIDTH, f"{name} overflows horizontally: {layout}"
    assert layout["external"] == 0
    assert layout["stickyHeads"] == layout["heads"], f"{name}: every table header must stay visible ({layout})"
    assert report.screenshot_png.startswith(b"\x89PNG\r\n\x1a\n") and len(report.screenshot_png) > 5000
    return layout


@pytest.mark.req("SRS-048")
def test_pages_render_without_console_errors_and_without_overflow(package_dir: Path, tmp_path: Path) -> None:
    binary = require_tool("chromium")
    shots = _screenshot_dir(tmp_path)
    with Chromium(binary, width=WIDTH, height=900) as browser:
        for name in PAGES:
            report = browser.load(file_url(package_dir / name), LAYOUT_PROBE)
            (shots / f"{name}.png").write_bytes(report.screenshot_png)
            layout = _check(report, name)
            if name in MATRICES:
                assert layout["rows"] > 0 and layout["rowAnchors"] == layout["rows"], f"{name}: a row without anchor"


@pytest.mark.req("SRS-048")
def test_a_wide_and_long_table_stays_readable(graph: dict[str, Any], project: Path, tmp_path: Path) -> None:
    binary = require_tool("chromium")
    out = tmp_path / "wide"
    build_package(_wide_graph(graph), root=project, out=out)
    shots = _screenshot_dir(tmp_path)
    with Chromium(binary, width=WIDTH, height=900) as browser:
        for name in ("trace-requirements.html", "vv-report.html"):
            report = browser.load(file_url(out / name), LAYOUT_PROBE)
            (shots / f"wide-{name}.png").write_bytes(report.screenshot_png)
            layout = _check(report, name)
            assert layout["rows"] >= (300 if name == "vv-report.html" else 99)  # 300 tests in one cell or 300 rows
        scrolled = browser.load(file_url(out / "vv-report.html") + "#records",
                                "JSON.stringify({y: window.scrollY, head: document.querySelector('#records + p + table "
                                "thead th').getBoundingClientRect().top})")
        assert scrolled.errors == []
        position = json.loads(scrolled.value)
        assert position["y"] > 0 and 0 <= position["head"] < 900  # the header row is on screen at the anchor


@pytest.mark.req("SRS-048")
def test_a_page_with_an_error_is_caught(tmp_path: Path) -> None:
    """The probe itself must see errors, or the two tests above prove nothing."""
    binary = require_tool("chromium")
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png"><script>console.error("boom")</script>'
                    '<div style="width:3000px">wide</div></body></html>')
    with Chromium(binary, width=WIDTH, height=900) as browser:
        report = browser.load(file_url(page), LAYOUT_PROBE)
    assert any("boom" in e for e in report.errors) and any("missing.png" in e for e in report.errors)
    assert json.loads(report.value)["scrollWidth"] > WIDTH
