"""The run header records the version of every external program the tests call, "absent" when
it is not installed, and the V&V report shows them (IEC 62304 5.7.5 e; SRS-214)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from device_ai.regulatory import external_tools
from device_ai.regulatory.records import run_header
from device_ai.regulatory.render.documents import external_tools_text

ROOT = Path(__file__).resolve().parents[2]


def _plant(folder: Path, name: str, script: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.req("SRS-214")
def test_a_planted_tool_is_recorded_with_its_version_and_a_missing_one_as_absent(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    planted = _plant(bin_dir, "dciodvfy", 'echo "dicom3tools Version: 9.99.fake-$1"')
    _plant(bin_dir, "pdfinfo", 'echo "no version here"')
    header = run_header(tmp_path, started_utc="2026-12-06T00:00:00Z", git={"commit": None, "dirty": None},
                        env={"PATH": str(bin_dir), "DEVICE_AI_TESTER": "t"})
    tools = header["external_tools"]
    assert tools["dciodvfy"] == {"package": "dicom3tools", "path": str(planted),
                                 "version": "dicom3tools Version: 9.99.fake--version"}
    assert tools["pdfinfo"]["version"] == "unknown (no version in its output)"
    assert tools["storescu"] == {"package": "dcmtk", "path": None, "version": "absent"}  # negative control
    assert tools["chromium"]["version"] == "absent" and tools["git"]["version"] == "absent"
    assert set(tools) == set(external_tools.TOOLS)
    shown = external_tools_text(header)
    assert "dciodvfy: dicom3tools Version: 9.99.fake--version" in shown and "storescu: absent" in shown
    assert external_tools_text({}) == "not recorded (a run before external tool versions were recorded)"


@pytest.mark.req("SRS-214")
def test_every_tool_the_tests_require_is_in_the_list() -> None:
    """A tool the tests start calling by require_tool(...) or shutil.which(...) must be recorded."""
    called = set()
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8", errors="replace")
        called |= set(re.findall(r'require_tool\("([^"]+)"\)', text))
        called |= set(re.findall(r'shutil\.which\("([^"]+)"\)', text))
    called -= {"lint-imports"}  # a Python console script: its distribution is in the environment list
    names = {name for tool in external_tools.TOOLS.values() for name in tool.names}
    assert called and called - names == set()
    assert "pdftotext" in names and "pdftohtml" in names  # called through pdf_checks._run(tool, ...)
