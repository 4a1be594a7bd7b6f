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


#: git_uncommitted's answer when git is there but a comparison failed (a clean filter that fails, a
#: time-out): the release gate refuses a graph that records it (review 92, defect 1)
NOT_COMPARED = "not compared"


def _git_bytes(root: Path, *args: str) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _committed(root: Path, *paths: str) -> dict[str, tuple[str, str]] | None:
    """``{path: (mode, blob id)}`` of the files under ``paths`` at HEAD; names as the file system
    gives them (os.fsdecode: a name that is not UTF-8 is no error, review 92 defect 3)."""
    listing = _git_bytes(root, "ls-tree", "-r", "-z", "HEAD", "--", *paths)
    if listing is None:
        return None
    found = {}
    for entry in filter(None, listing.split(b"\0")):
        meta, _, name = entry.partition(b"\t")
        mode, _kind, blob = meta.decode("ascii").split()
        found[os.fsdecode(name)] = (mode, blob)
    return found


def _blob_id(data: bytes, algorithm: str) -> str:
    """The id git gives a blob of ``data`` (no filter applied)."""
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()


def _differs(root: Path, name: str, entry: tuple[str, str] | None, algorithm: str) -> bool | None:
    """Whether the work-tree file ``name`` differs from HEAD's ``entry``; None when its bytes differ
    but git's filters (end-of-line conversion, a clean filter) may make them equal."""
    path = root / name
    if entry is None:
        return path.is_file()  # in no commit: a difference if the loader would read it
    mode, blob = entry
    if not os.path.lexists(path):
        return True  # deleted
    if path.is_symlink() != (mode == "120000"):
        return True  # a link became a file, or a file a link
    if path.is_symlink():  # the link as committed, and what the loader reads through it as committed
        if _blob_id(os.fsencode(os.readlink(path)), algorithm) != blob:
            return True
        try:
            target = path.resolve(strict=True).relative_to(root.resolve()).as_posix()
        except (OSError, ValueError):
            return True  # a link out of the project or to nothing: not something a commit pins
        committed = _committed(root, target) or {}
        return _differs(root, target, committed.get(target), algorithm)
    return None if _blob_id(path.read_bytes(), algorithm) != blob else False


def git_uncommitted(root: Path, paths: Sequence[str], *,
                    at_head: re.Pattern[str] | None = None) -> list[str] | str | None:
    """Which of the files ``paths`` (relative to ``root``), and of the files at HEAD whose path
    ``at_head`` matches (its first folder is listed), differ from HEAD's copy: changed, in no
    commit, or deleted, sorted. Compared by content, not by ``git status``: an ignored,
    skip-worktree or assume-unchanged file is judged like any other (review 90, defect 1). A file
    is unchanged when its bytes are HEAD's blob, or git's filters make them so (``git hash-object``:
    an LF blob checked out with CRLF); a symlink when the link and its target are (review 92,
    defect 2). None outside a git work tree or before the first commit; NOT_COMPARED when git is
    there but a comparison fails."""
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD") is None:
        return None
    folders = {Path(path).parts[0] for path in paths}
    if at_head is not None:
        folders.add(at_head.pattern.split("/", 1)[0])
    committed = _committed(root, *sorted(folders))
    if committed is None:
        return NOT_COMPARED
    algorithm = (_git(root, "rev-parse", "--show-object-format") or "sha1").strip() or "sha1"
    wanted = set(paths) | {name for name in committed if at_head is not None and at_head.fullmatch(name)}
    changed, filtered = [], []
    for name in sorted(wanted):
        differs = _differs(root, name, committed.get(name), algorithm)
        if differs is None:
            filtered.append(name)
        elif differs:
            changed.append(name)
    if filtered:
        hashes = _git_bytes(root, "hash-object", "--", *filtered)
        if hashes is None:
            return NOT_COMPARED
        changed += [name for name, blob in zip(filtered, hashes.split()) if blob.decode("ascii") != committed[name][1]]
    return sorted(changed)


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
