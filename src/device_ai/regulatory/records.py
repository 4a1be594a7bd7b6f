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
(e)    ``test_tools`` (pytest, pytest-xdist, this plugin), ``external_tools`` (every program the
       tests call, with its version or ``absent``: :mod:`.external_tools`), ``command``
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
from device_ai.regulatory.external_tools import tool_versions

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


def _git_bytes(root: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    try:
        result = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _objects_at_head(root: Path, names: Sequence[str]) -> dict[str, tuple[str, str] | None] | None:
    """``(type, id)`` of the object the commit's tree yields for each of ``names`` with its symbolic
    links followed inside the tree, as the loader follows them in the work tree (``git cat-file
    --follow-symlinks``, review 93 defects 1 and 3); None for nothing (missing, a link out of the
    tree, dangling, a loop). None overall when git fails."""
    request = b"".join(b"HEAD:./" + os.fsencode(name) + b"\n" for name in names)  # ./: relative to root
    answer = _git_bytes(root, "cat-file", "--batch-check", "--follow-symlinks", stdin=request)
    if answer is None:
        return None
    lines = iter(answer.split(b"\n"))
    found: dict[str, tuple[str, str] | None] = {}
    for name in names:
        first, _, rest = next(lines, b"").partition(b" ")
        if first in (b"symlink", b"dangling", b"loop", b"notdir"):
            next(lines, b"")  # these answers take a second line: the path or the link's target
            found[name] = None
        else:
            kind = rest.split(b" ", 1)[0]
            found[name] = (kind.decode("ascii"), first.decode("ascii")) if kind in (b"blob", b"tree") else None
    return found


def _blobs_at_head(root: Path, names: Sequence[str]) -> dict[str, str | None] | None:
    """The blob id the commit yields for each of ``names`` (links followed); None for no blob."""
    objects = _objects_at_head(root, names)
    if objects is None:
        return None
    return {name: found[1] if found and found[0] == "blob" else None for name, found in objects.items()}


def _entries_at_head(root: Path, folder: str) -> list[str] | None:
    """The names in ``folder`` as the commit yields it, links followed (a model folder committed as
    a link, or the folder itself one: review 94 defect 1); [] when there is none; None when git fails."""
    objects = _objects_at_head(root, [folder])
    if objects is None:
        return None
    found = objects[folder]
    if found is None or found[0] != "tree":
        return []
    # --full-tree: from a project below the repository top, ls-tree would list only the project's
    # own path inside the tree, nothing (review 95, defect 2); folders and links only: a file there
    # (a README) holds no manifest (defect 1)
    listing = _git_bytes(root, "ls-tree", "-z", "--full-tree", found[1])
    if listing is None:
        return None
    entries = []
    for entry in filter(None, listing.split(b"\0")):
        meta, _, name = entry.partition(b"\t")
        mode = meta.split(b" ", 1)[0]
        if mode in (b"040000", b"120000"):
            entries.append(f"{folder}/{os.fsdecode(name)}")
    return entries


_UNREADABLE = object()


def _work_tree_bytes(path: Path) -> bytes | object | None:
    """What the loader reads at ``path`` (links followed): its bytes, None when there is nothing
    (absent, a dangling link), _UNREADABLE when it cannot be read (a folder, a link loop)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # nothing there (a file where a folder would be)
        return None
    except OSError:
        return _UNREADABLE


def _blob_id(data: bytes, algorithm: str) -> str:
    """The id git gives a blob of ``data`` (no filter applied)."""
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()


def git_uncommitted(root: Path, paths: Sequence[str], *, at_head: re.Pattern[str] | None = None) -> list[str] | str:
    """Which of the files ``paths`` (relative to ``root``, a git work tree with a commit), and of the
    files at HEAD whose path ``at_head`` matches (its first folder is listed), read other content
    than the commit yields for them: changed, in no commit, deleted, unreadable; sorted.

    Compared by content, not by ``git status``, so an ignored, skip-worktree or assume-unchanged
    file is judged like any other (review 90). Symbolic links are followed on both sides: in the
    work tree as the loader reads, in the commit's tree by git (review 93). A file is unchanged when
    its bytes are the commit's blob, or git's filters make them so (``git hash-object``: an LF blob
    checked out with CRLF; review 92). NOT_COMPARED when git fails."""
    names = set(paths)
    if at_head is not None:  # e.g. models/<name>/manifest.json: each entry of models/ at HEAD, links followed
        folder, _, leaf = at_head.pattern.partition("/")
        entries = _entries_at_head(root, folder)
        if entries is None:
            return NOT_COMPARED
        leaf = leaf.rsplit("/", 1)[-1].replace("\\", "")
        names |= {candidate for entry in entries if at_head.fullmatch(candidate := f"{entry}/{leaf}")}
    ordered = sorted(names)
    heads = _blobs_at_head(root, ordered)
    if heads is None:
        return NOT_COMPARED
    reported = (_git(root, "rev-parse", "--show-object-format") or "").strip()
    algorithm = reported if reported in ("sha1", "sha256") else "sha1"  # older git: SHA-1 only
    changed, filtered = [], []
    for name in ordered:
        data, blob = _work_tree_bytes(root / name), heads[name]
        if data is None or blob is None or data is _UNREADABLE:
            if not (data is None and blob is None):
                changed.append(name)
        elif _blob_id(data, algorithm) != blob:  # type: ignore[arg-type]
            filtered.append(name)
    if filtered:
        hashes = _git_bytes(root, "hash-object", "--", *filtered)
        if hashes is None or len(hashes.split()) != len(filtered):
            return NOT_COMPARED
        changed += [name for name, blob in zip(filtered, hashes.split()) if blob.decode("ascii") != heads[name]]
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
    ``env`` defaults to ``os.environ`` (CI run id, tester, and the PATH the external tools are
    looked up on).
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
        "external_tools": tool_versions(env.get("PATH")),
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "python_executable": sys.executable},
        "hardware": {"cpu_model": cpu_model(), "cpu_cores": os.cpu_count(), "memory_bytes": _memory_bytes()},
        "date_utc": started_utc,
        "ci_run_id": env.get("CI_RUN_ID") or env.get("GITHUB_RUN_ID") or None,
        "tester": env.get("DEVICE_AI_TESTER") or user,
        "command": list(command),
    }
