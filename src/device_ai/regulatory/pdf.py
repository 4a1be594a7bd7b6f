"""PDF copies of the package's HTML documents, printed by headless Chromium (issue 19 item 4).

Chromium is an external tool, like dciodvfy: found on PATH (or given), never a Python dependency.
Each document's own print stylesheet (``base.html.j2``: CSS page margin boxes, Chromium 131+)
puts the document ID, revision, approval state and "page N of M" on every page; Chromium's own
header and footer are off and ``--generate-pdf-document-outline`` turns the headings into
bookmarks. Printing is deterministic for the same HTML and Chromium build except for the two
dates Chromium writes, which are set to the graph's recorded run date (same length, so the
cross-reference offsets stay valid). Links to other documents are unlinked in the printed copy:
Chromium would resolve them to absolute ``file://`` paths of the temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from device_ai.errors import DependencyMissing, OutputError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MIN_MAJOR = 131  # CSS page margin boxes (@top-left ... @bottom-right) arrived in Chromium 131
TIMEOUT_S = 600.0  # one document; the requirements matrix of a large graph takes about a minute on 2 cores
INSTALL_HINT = ("install Chromium 131 or newer (Debian/Ubuntu: apt-get install chromium) or name its binary with "
                "--chromium PATH")
_EPOCH = "1970-01-01T00:00:00Z"
# a relative link to another file (not "#fragment", not "scheme:..."): unlinked in the printed copy
_RELATIVE_HREF = re.compile(r'(<a\b[^>]*?)\s+href="(?!#)(?![A-Za-z][A-Za-z0-9+.-]*:)[^"]*"')
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \((D:[0-9]{14}[^)]*)\)")


def find_chromium(configured: str | os.PathLike[str] | None = None) -> Path:
    """The Chromium binary: ``configured`` when given, else the first of :data:`NAMES` on PATH;
    a :class:`DependencyMissing` error when there is none."""
    if configured is not None:
        path = Path(configured)
        found = shutil.which(str(path))
        if found is None:
            raise DependencyMissing(f"the Chromium binary {path} does not exist or is not executable", hint=INSTALL_HINT)
        return Path(found)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise DependencyMissing(f"--pdf prints the documents with headless Chromium, and none was found on PATH "
                            f"({', '.join(NAMES)})", hint=INSTALL_HINT)


def chromium_version(binary: Path) -> str:
    """``binary --version`` (e.g. ``Chromium 156.0.8078.114 built on Debian ...``), checked to be 131
    or newer; a :class:`DependencyMissing` error when it does not run or is older."""
    try:
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DependencyMissing(f"{binary} --version did not run: {exc}", hint=INSTALL_HINT) from exc
    text = " ".join(result.stdout.split())
    match = re.search(r"(?:Chromium|Chrome)\D*(\d+)\.[\d.]+", text)
    if result.returncode != 0 or match is None:
        raise DependencyMissing(f"{binary} does not report a Chromium version ({text[:120] or 'no output'})",
                                hint=INSTALL_HINT)
    if int(match.group(1)) < MIN_MAJOR:
        raise DependencyMissing(f"{match.group(0)} cannot put page numbers on printed pages (CSS page margin boxes "
                                f"need Chromium {MIN_MAJOR} or newer)", hint=INSTALL_HINT)
    return match.group(0)


@dataclass(frozen=True)
class Printer:
    """A Chromium that can print the package: its binary and ``--version`` line (recorded in the manifest)."""

    binary: Path
    version: str

    @classmethod
    def find(cls, configured: str | os.PathLike[str] | None = None) -> Printer:
        binary = find_chromium(configured)
        return cls(binary, chromium_version(binary))


def print_copy(html: str) -> str:
    """The HTML as printed: links to other files unlinked (they stay text), in-document links kept."""
    return _RELATIVE_HREF.sub(r"\1", html)


def pdf_date(recorded_utc: str | None) -> bytes:
    """A PDF date string for an ISO 8601 UTC time (``2026-11-30T12:00:00Z`` -> ``D:20261130120000+00'00'``)."""
    digits = re.sub(r"\D", "", (recorded_utc or _EPOCH))[:14].ljust(14, "0")
    return f"D:{digits}+00'00'".encode("ascii")


def set_dates(pdf: bytes, date: bytes) -> bytes:
    """``pdf`` with its CreationDate and ModDate replaced by ``date`` (equal length, so every byte
    offset of the cross-reference table stays right); an :class:`OutputError` otherwise."""
    def replace(match: re.Match[bytes]) -> bytes:
        if len(match.group(2)) != len(date):
            raise OutputError(f"Chromium wrote a PDF date of an unexpected form ({match.group(2)!r})",
                              hint="report this Chromium version; the PDF would not be reproducible")
        return b"/" + match.group(1) + b" (" + date + b")"

    return _PDF_DATE.sub(replace, pdf)


def chromium_args(binary: Path, source: Path, target: Path, profile: Path, *, outline: bool = True) -> list[str]:
    """The command that prints ``source`` to ``target``. ``--no-sandbox``: the pages are the package's
    own, load nothing and run no script, and the sandbox cannot start as root or in most containers."""
    return [str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-sync", "--disable-background-networking", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--no-pdf-header-footer",
            *(["--generate-pdf-document-outline"] if outline else []),
            f"--print-to-pdf={target}", source.resolve().as_uri()]


def print_documents(documents: Mapping[str, str], *, binary: Path, recorded_utc: str | None,
                    timeout_s: float = TIMEOUT_S, outline: bool = True) -> dict[str, bytes]:
    """``{name.html: html}`` -> ``{name.pdf: bytes}``, every document printed or an :class:`OutputError`
    (nothing is returned half done). The copies are printed from one temporary folder, removed after."""
    date = pdf_date(recorded_utc)
    printed: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="device-ai-pdf-") as tmp:
        folder = Path(tmp)
        for name, html in sorted(documents.items()):
            if not name.endswith(".html") or "/" in name:
                raise OutputError(f"{name} is not an HTML document of the package", hint="report this as a defect")
            source, target = folder / name, folder / (name[:-5] + ".pdf")
            source.write_text(print_copy(html), encoding="utf-8")
            data = _print_one(chromium_args(binary, source, target, folder / "profile", outline=outline),
                              name, target, timeout_s)
            if tmp.encode("utf-8") in data:
                raise OutputError(f"the PDF of {name} holds a local path ({tmp})",
                                  hint="report this as a defect: the package would not be reproducible")
            printed[target.name] = set_dates(data, date)
    return printed


def _print_one(command: Sequence[str], name: str, target: Path, timeout_s: float) -> bytes:
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout_s,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise OutputError(f"Chromium did not print {name} within {timeout_s:.0f} s; nothing was written",
                          hint="check that Chromium runs headless on this machine (chromium --headless --version)") from exc
    except OSError as exc:
        raise OutputError(f"Chromium did not start to print {name}: {exc}; nothing was written",
                          hint=INSTALL_HINT) from exc
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        data = b""
    if result.returncode != 0 or not data.startswith(b"%PDF-"):
        last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["no message"]
        raise OutputError(f"Chromium failed to print {name} (exit {result.returncode}: {last[0][:200]}); "
                          "nothing was written", hint="run the same command with --pdf again, or without --pdf for "
                                                      "the HTML documents only")
    return data
