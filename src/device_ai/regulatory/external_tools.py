"""The external programs the tests call, and their versions as installed (IEC 62304 5.7.5 e: the
test tools of a run).

The tests reach beyond Python for DICOM conformance (dcmtk's storescu, storescp, echoscu,
dcmdump; dicom3tools' dciodvfy), a real PACS (Orthanc), printing and reading the PDFs
(Chromium; poppler's pdfinfo, pdftotext, pdftohtml), an encrypted key made by OpenSSL and
git. The list follows ``grep -rn "require_tool\\|shutil.which" tests/``; a tool the tests
start calling belongs here. A tool not installed is recorded as ``absent``: the tests that need
it were skipped (or, under CI, failed), and the record says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

ABSENT = "absent"
TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Tool:
    """An external program: the names it may have on PATH (the first found is used), the
    arguments that make it print its version, the package it comes from, extra folders to look in."""

    names: tuple[str, ...]
    version_args: tuple[str, ...]
    package: str
    also_in: tuple[str, ...] = ()


TOOLS: Mapping[str, Tool] = {
    "storescu": Tool(("storescu",), ("--version",), "dcmtk"),
    "storescp": Tool(("storescp",), ("--version",), "dcmtk"),
    "echoscu": Tool(("echoscu",), ("--version",), "dcmtk"),
    "dcmdump": Tool(("dcmdump",), ("--version",), "dcmtk"),
    "dciodvfy": Tool(("dciodvfy",), ("-version",), "dicom3tools"),
    "Orthanc": Tool(("Orthanc",), ("--version",), "orthanc", also_in=("/usr/sbin",)),  # as tests/node finds it
    "chromium": Tool(("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"), ("--version",),
                     "chromium"),
    "pdfinfo": Tool(("pdfinfo",), ("-v",), "poppler-utils"),
    "pdftotext": Tool(("pdftotext",), ("-v",), "poppler-utils"),
    "pdftohtml": Tool(("pdftohtml",), ("-v",), "poppler-utils"),
    "openssl": Tool(("openssl",), ("version",), "openssl"),
    "git": Tool(("git",), ("--version",), "git"),
}

_VERSION = re.compile(r"\d+\.\d+")


def version_line(output: str) -> str | None:
    """The first line of ``output`` that holds a version number (``x.y``), tidied to one line."""
    for line in output.splitlines():
        text = " ".join(line.replace("$", " ").split())
        if _VERSION.search(text):
            return text[:200]
    return None


def _find(tool: Tool, path: str | None) -> str | None:
    also = os.pathsep.join(tool.also_in)
    for name in tool.names:
        # path None: shutil.which reads $PATH itself (only config.py reads the environment, SRS-038)
        found = shutil.which(name, path=path) or (shutil.which(name, path=also) if also else None)
        if found:
            return found
    return None


def tool_version(tool: Tool, path: str | None = None) -> dict[str, str | None]:
    """``{package, path, version}`` of one tool as found on ``path`` (default: $PATH); version
    ``absent`` when it is not installed, ``unknown (...)`` when it runs but names no version."""
    found = _find(tool, path)
    if found is None:
        return {"package": tool.package, "path": None, "version": ABSENT}
    try:
        result = subprocess.run([found, *tool.version_args], capture_output=True, text=True, timeout=TIMEOUT_S,
                                stdin=subprocess.DEVNULL, errors="replace")
        line = version_line(result.stdout + "\n" + result.stderr)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"package": tool.package, "path": found, "version": f"unknown ({type(exc).__name__})"}
    return {"package": tool.package, "path": found, "version": line or "unknown (no version in its output)"}


def tool_versions(path: str | None = None) -> dict[str, dict[str, str | None]]:
    """Every tool of :data:`TOOLS` with its version (or ``absent``), by name."""
    return {name: tool_version(tool, path) for name, tool in sorted(TOOLS.items())}
