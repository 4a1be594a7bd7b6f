"""The revision history of the device file (FDA premarket software guidance: software version
history; IEC 62304 8.3 configuration status accounting): the commits, up to the graph's own
commit, that changed the items the package is rendered from.

Read with ``git log`` from the graph's commit (not from whatever is checked out), so two packages
of the same graph list the same history. Where that cannot be done the page says why and shows
what there is: no git work tree at the root (a source tarball), the graph's commit not in the
repository, or a shallow clone (only the commits the clone holds).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: what counts as the device file: the item folders and the model manifests
TRACKED: tuple[str, ...] = ("traceability", "risk", "security", "submission", "models/*/manifest.json")
_FIELD, _RECORD = "\x1f", "\x1e"


@dataclass(frozen=True)
class Revision:
    commit: str
    date: str  # committer date, YYYY-MM-DD
    subject: str
    areas: tuple[str, ...]  # which of TRACKED the commit changed (top-level folder names)


@dataclass(frozen=True)
class History:
    """The commits found (newest first), or none with ``note`` saying why; ``note`` also says when the
    list may be incomplete (a shallow clone)."""

    available: bool
    note: str
    revisions: tuple[Revision, ...] = field(default=())
    paths: tuple[str, ...] = TRACKED


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-c", "log.showSignature=false", "-c", "core.quotepath=off", *args],
                                cwd=root, capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None


def _pathspecs(paths: Sequence[str]) -> list[str]:
    return [f":(glob){p}" if "*" in p else p for p in paths]


def history(root: Path, commit: str | None, paths: Sequence[str] = TRACKED) -> History:
    """The revisions of ``paths`` reachable from ``commit`` in the git repository at ``root``."""
    root = Path(root)
    unavailable = "no history available: "
    if not commit:
        return History(False, unavailable + "the trace graph records no commit", paths=tuple(paths))
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != root.resolve():
        # a tarball, or a folder inside some other repository: that repository's history is not this one's
        return History(False, unavailable + "the package was built outside a git work tree of the repository",
                       paths=tuple(paths))
    if _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is None:
        return History(False, unavailable + f"the graph's commit {commit[:12]} is not in this repository",
                       paths=tuple(paths))
    out = _git(root, "log", "--no-color", "--no-decorate", "--no-renames", "--name-only",
               f"--format={_RECORD}%H{_FIELD}%cs{_FIELD}%s", commit, "--", *_pathspecs(paths))
    if out is None:
        return History(False, unavailable + "git log failed in the repository", paths=tuple(paths))
    revisions = []
    for record in out.split(_RECORD)[1:]:
        head, _, names = record.partition("\n")
        sha, date, subject = (head.split(_FIELD) + ["", ""])[:3]
        areas = sorted({name.split("/", 1)[0] for name in names.splitlines() if name.strip()})
        revisions.append(Revision(sha, date, subject, tuple(areas)))
    shallow = (_git(root, "rev-parse", "--is-shallow-repository") or "").strip() == "true"
    note = (f"{len(revisions)} commit(s) up to {commit[:12]} changed these paths"
            + ("; this clone is shallow, so commits before its shallow boundary are missing and the list is "
               "incomplete (a full clone gives the whole history), and git shows each boundary commit as adding every "
               "file, so it is listed whether or not it changed these paths" if shallow else ""))
    return History(True, note, tuple(revisions), tuple(paths))
