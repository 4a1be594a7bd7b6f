"""The run-level header of a test record: the IEC 62304 5.7.5 fields, filled in from the machine.

IEC 62304 5.7.5 asks a system test record for (a) a reference to the test procedure, (b) the
result and anomalies, (c) the software version tested, (d) the hardware and software test
configuration, (e) the test tools, (f) the date and (g) the person responsible. 5.6.7 and 9.8 ask
the same of integration and regression records. Per test, (a) is the pytest node id with its
file and line, and (b) its outcome and failure message; this header holds the run-wide rest:

=====  ==============================================================================
5.7.5  header field
=====  ==============================================================================
(c)    ``software`` (package name and version), ``git`` (commit, dirty working tree)
(d)    ``environment`` (hash and list of installed distributions), ``runtime``
       (Python, ONNX Runtime, torch, numpy versions), ``platform``, ``hardware``
(e)    ``test_tools`` (pytest, pytest-xdist, this plugin), ``command``
(f)    ``date_utc`` (start of the run), ``finished_utc``
(g)    ``tester``; ``ci_run_id`` ties the record to the CI run
=====  ==============================================================================

There is no lockfile in the repository, so the environment is pinned by what is installed:
``environment.installed_sha256`` is the SHA-256 over the sorted ``name==version`` lines of every
installed distribution (the same lines ``pip freeze`` prints for non-editable installs), and the
field says so in ``environment.kind``.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import device_ai

SCHEMA = "device-ai/test-results/1"
ENVIRONMENT_KIND = "installed-distributions (no lockfile in the repository)"


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_head(root: Path) -> str | None:
    """The commit checked out at ``root`` (``git rev-parse HEAD``), or None outside a git work tree."""
    out = _git(root, "rev-parse", "HEAD")
    return out.strip() if out else None


def git_dirty(root: Path) -> bool | None:
    """Whether the work tree has uncommitted changes or untracked, non-ignored files."""
    out = _git(root, "status", "--porcelain")
    return None if out is None else bool(out.strip())


def git_uncommitted(root: Path, paths: Sequence[str], *, at_head: re.Pattern[str] | None = None) -> list[str] | None:
    """Which of the files ``paths`` (relative to ``root``), and of the files at HEAD whose path
    ``at_head`` matches, differ from HEAD's copy: changed, in no commit, or deleted, sorted; None
    outside a git work tree or before the first commit. Compared by content (the work-tree file's
    blob id, ``git hash-object``, against HEAD's), not by ``git status``: an ignored, skip-worktree
    or assume-unchanged file is judged like any other (review 90, defect 1)."""
    folders = sorted({Path(path).parts[0] for path in paths} | ({"."} if at_head is not None else set()))
    listing = _git(root, "ls-tree", "-r", "-z", "HEAD", "--", *folders)
    if listing is None:
        return None
    committed = {}
    for entry in filter(None, listing.split("\0")):
        meta, _, name = entry.partition("\t")
        committed[name] = meta.split()[2]
    wanted = set(paths) | {name for name in committed if at_head is not None and at_head.fullmatch(name)}
    present = sorted(name for name in wanted if (root / name).is_file())
    hashes = _git(root, "hash-object", "--", *present) if present else ""
    if hashes is None:
        return None
    blobs = dict(zip(present, hashes.split()))
    return sorted(name for name in wanted if blobs.get(name) != committed.get(name))


def installed_distributions() -> dict[str, str]:
    """Every installed distribution, ``{normalized name: version}``."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(name.lower().replace("_", "-").replace(".", "-"), dist.version)
    return dict(sorted(found.items()))


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere), None if unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value and not value.isdigit():
                    return value
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes() -> int | None:
    """Physical memory in bytes, None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def environment_fields() -> dict[str, Any]:
    """5.7.5 (d): the software configuration, pinned by a hash of the installed distributions."""
    installed = installed_distributions()
    lines = "\n".join(f"{name}=={version}" for name, version in installed.items()) + "\n"
    return {
        "kind": ENVIRONMENT_KIND,
        "installed_sha256": hashlib.sha256(lines.encode("utf-8")).hexdigest(),
        "installed": installed,
    }


def run_header(root: Path, *, started_utc: str, command: Sequence[str] = (), git: dict[str, Any] | None = None,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    """The run-level IEC 62304 5.7.5 record fields for a test run at ``root``.

    ``git`` may be passed in when it was read before the tests ran (the tests may write files);
    ``env`` defaults to ``os.environ`` (CI run id, tester).
    """
    env = dict(os.environ) if env is None else env
    if git is None:
        git = {"commit": git_head(root), "dirty": git_dirty(root)}
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "schema": SCHEMA,
        "software": {"name": "device-ai", "version": device_ai.__version__},
        "git": git,
        "environment": environment_fields(),
        "runtime": {
            "python": f"{platform.python_version()} ({platform.python_implementation()})",
            "onnxruntime": _version("onnxruntime"),
            "torch": _version("torch"),
            "numpy": _version("numpy"),
        },
        "test_tools": {"pytest": _version("pytest"), "pytest-xdist": _version("pytest-xdist"),
                       "device_ai_req_plugin": device_ai.__version__},
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "python_executable": sys.executable},
        "hardware": {"cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "memory_bytes": _memory_bytes()},
        "date_utc": started_utc,
        "ci_run_id": env.get("CI_RUN_ID") or env.get("GITHUB_RUN_ID") or None,
        "tester": env.get("DEVICE_AI_TESTER") or user,
        "command": list(command),
    }
