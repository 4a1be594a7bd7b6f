"""The lock file of the exact runtime closure (``runtime.lock``; issue 19 item 2; FDA 524B: the
SBOM describes what is shipped, the lock makes it reproducible; IEC 62304 8.1.2 SOUP
identification by exact version).

Every distribution of device-ai's runtime closure (:func:`.sbom.closure`, scope ``required``)
pinned to its installed version, one ``name==version`` line each, in pip requirements format
(``pip install --no-deps -r runtime.lock`` reinstalls exactly the closure), with the CPython
version in the header.

Each line carries, as a comment, the distribution's **installed-files digest**: the SHA-256 of the
sorted ``RECORD`` rows (path, hash, size) of the files its wheel installed, leaving out what the
installer writes (``INSTALLER``, ``REQUESTED``, ``direct_url.json``, scripts outside
site-packages, unhashed bytecode), so that two installs of one wheel give one digest. It
identifies the installed content; it is **not** the wheel's archive hash, so pip's
``--require-hashes`` cannot use it (archive hashes need the registry; not recorded here).

``device-ai report lock --out runtime.lock`` writes it; ``--check runtime.lock`` compares it with
the installed environment and lists every difference (a test does the same).
"""

from __future__ import annotations

import hashlib
import platform
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from device_ai.errors import TraceabilityError
from device_ai.regulatory.sbom import Package, closure

LOCK_FILE = "runtime.lock"
_INSTALLER_FILES = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")
_LINE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9.-]*)==(?P<version>\S+)\s+# installed-files sha256=(?P<digest>[0-9a-f]{64}|"
                   r"none)$")
_PYTHON = re.compile(r"^# python: (?P<version>\S+)$")


def installed_files_digest(name: str) -> str | None:
    """SHA-256 of the sorted hashed ``RECORD`` rows of the wheel's own files (see the module doc)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    rows = []
    for file in dist.files or []:
        path = str(file)
        if file.hash is None or path.startswith("../") or (".dist-info/" in path and path.rsplit("/", 1)[-1]
                                                              in _INSTALLER_FILES):
            continue
        rows.append(f"{path},{file.hash.mode}={file.hash.value},{file.size}")
    if not rows:
        return None
    return hashlib.sha256("\n".join(sorted(rows)).encode("utf-8")).hexdigest()


def lock_text(packages: Iterable[Package], python_version: str) -> str:
    """The lock file's text for the runtime distributions of ``packages``."""
    runtime = sorted((p for p in packages if p.scope == "required"), key=lambda p: p.name)
    lines = [
        "# The exact runtime closure of device-ai (every distribution its runtime requirements pull in,",
        "# no extras), pinned: pip install --no-deps -r runtime.lock",
        "# Written by `device-ai report lock --out runtime.lock` from the installed environment and",
        "# checked against it by `device-ai report lock --check runtime.lock` and the tests.",
        "# installed-files sha256: SHA-256 of the sorted RECORD rows of the files the wheel installed",
        "# (installer-written files excluded); it identifies the installed content and is NOT the",
        "# wheel's archive hash (pip --require-hashes cannot use it).",
        f"# python: {python_version}",
    ]
    for package in runtime:
        lines.append(f"{package.name}=={package.version}  # installed-files sha256="
                     f"{installed_files_digest(package.name) or 'none'}")
    return "\n".join(lines) + "\n"


def installed_lock_text() -> str:
    """The lock file the installed environment would give."""
    return lock_text(closure(extras=()), platform.python_version())


def parse(text: str, source: str) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """``(python version, {name: (version, digest)})`` of a lock file's text; a typed error naming
    the file and line of anything else."""
    python, pins, problems = None, {}, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _PYTHON.match(line)
        if match:
            python = match.group("version")
            continue
        if line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            problems.append(f"{source}:{number}: not a pin of the form name==version  # installed-files sha256=HEX")
            continue
        if match.group("name") in pins:
            problems.append(f"{source}:{number}: {match.group('name')} pinned twice")
        pins[match.group("name")] = (match.group("version"), match.group("digest"))
    if problems:
        raise TraceabilityError(f"{source} is not a runtime lock file", problems=tuple(problems),
                                hint="write it again: device-ai report lock --out runtime.lock")
    return python, pins


def differences(expected: str, actual: str, source: str = LOCK_FILE) -> list[str]:
    """What differs between a lock file's text (``expected``) and the installed one (``actual``)."""
    old_python, old = parse(expected, source)
    new_python, new = parse(actual, "the installed environment")
    found = []
    if old_python != new_python:
        found.append(f"python: locked {old_python}, installed {new_python}")
    for name in sorted(set(old) | set(new)):
        if name not in new:
            found.append(f"{name}: locked {old[name][0]}, not in the installed runtime closure")
        elif name not in old:
            found.append(f"{name}: installed {new[name][0]}, not in the lock file")
        elif old[name][0] != new[name][0]:
            found.append(f"{name}: locked {old[name][0]}, installed {new[name][0]}")
        elif old[name][1] != new[name][1]:
            found.append(f"{name} {new[name][0]}: installed files differ from the locked digest")
    return found


def check(path: Path) -> list[str]:
    """Differences between the lock file at ``path`` and the installed environment."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TraceabilityError(f"no lock file at {path}", hint="write it: device-ai report lock --out "
                                f"{LOCK_FILE}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceabilityError(f"cannot read the lock file {path}: {exc}") from exc
    return differences(text, installed_lock_text(), str(path))
