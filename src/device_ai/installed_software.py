"""``device-ai self-check``: are the installed device software and its runtime dependencies the
files their installer wrote (SRS-230; threat THR-046, review 134 defect A1)?

When pip installs a wheel it writes a ``RECORD`` file into the distribution's ``.dist-info``
folder listing every file it installed with its SHA-256 (the wheel format's ``sha256=`` and
unpadded urlsafe base64). The check takes ``device-ai`` and every distribution in the closure of
its runtime requirements (extras left out, environment markers evaluated for this interpreter),
recomputes the hash of each file its ``RECORD`` lists, and reports each file that differs
(altered), is absent (missing) or cannot be read, by distribution and path. Files listed without
a hash - ``RECORD`` itself and the ``.pyc`` files compiled at install - are skipped and counted.
Each listed file and the folders that hold it (up to the installation folder, site-packages) must
also be writable by no account but its owner, and owned by root or by the account running the
check: otherwise another account of the host could change them (reported as open to others).

What it cannot do, and says so:

- ``RECORD`` is not signed. An account that can write site-packages can rewrite ``RECORD`` to match
  the files it changed; the check detects accidental or careless change (an edited file, a partly
  applied upgrade, a file removed by a clean-up), not a deliberate attacker with that access.
- A file that no ``RECORD`` lists (a ``.pth`` file or ``sitecustomize.py`` dropped into
  site-packages, a module added to a package folder) is not looked at.
- The Python interpreter and its standard library are not distributions and are not checked.
- An editable install (``pip install -e``; ``direct_url.json`` says ``editable``) lists only its
  ``.dist-info`` files and a path hook, not the source tree it imports from: such a distribution is
  reported as not verifiable, and the check fails. So does a distribution installed without a
  ``RECORD`` with hashes (by an OS package manager, or an old egg), and a required one that is
  not installed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from device_ai.errors import DependencyMissing, InstalledSoftwareAltered

MAIN = "device-ai"
CHUNK = 1024 * 1024

ALTERED = "altered"
MISSING = "missing"
UNREADABLE = "unreadable"
OPEN = "open to others"  # writable by the group or others, or owned by another account than root or this one


@dataclass(frozen=True)
class FileFinding:
    """One listed file that is not as its ``RECORD`` says."""

    distribution: str
    path: str  # as RECORD lists it, relative to the distribution's installation folder (a folder: with a /)
    state: str  # ALTERED, MISSING, UNREADABLE or OPEN


@dataclass(frozen=True)
class DistributionCheck:
    """The files of one distribution: how many were compared, how many had no hash to compare."""

    name: str
    version: str
    checked: int = 0
    skipped: int = 0
    findings: tuple[FileFinding, ...] = ()
    not_verifiable: str | None = None  # why its files cannot vouch for what is imported

    @property
    def ok(self) -> bool:
        return not self.findings and self.not_verifiable is None


@dataclass(frozen=True)
class SelfCheck:
    """The outcome over ``device-ai`` and its runtime closure."""

    distributions: tuple[DistributionCheck, ...] = field(default_factory=tuple)
    stopped: str | None = None  # why the runtime closure was not walked

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(d.ok for d in self.distributions)

    @property
    def checked(self) -> int:
        return sum(d.checked for d in self.distributions)

    @property
    def skipped(self) -> int:
        return sum(d.skipped for d in self.distributions)

    @property
    def findings(self) -> list[FileFinding]:
        return [f for d in self.distributions for f in d.findings]

    def failure(self) -> InstalledSoftwareAltered:
        findings = self.findings
        unverifiable = [d for d in self.distributions if d.not_verifiable is not None]
        parts = []
        if findings:
            parts.append(f"{len(findings)} file(s) not as installed ({', '.join(sorted({f.distribution for f in findings}))})")
        if unverifiable:
            parts.append(f"{len(unverifiable)} distribution(s) not verifiable ({', '.join(d.name for d in unverifiable)})")
        if self.stopped is not None:
            parts.append(self.stopped)
        return InstalledSoftwareAltered(
            f"the installed device software does not verify: {'; '.join(parts)}",
            hint="do not use the device until its environment is reinstalled from the release (pip install of the "
                 "released wheel and its dependencies into a new environment), then run device-ai self-check again")


# The .dist-info files self-check reads (RECORD, METADATA, direct_url.json) are read through
# importlib.metadata, which opens them blocking and reads them whole: a FIFO there would hold the
# check in open(), a link to /dev/zero would be read until memory runs out (re-review 152 D1, D2).
# Each is looked at first; one that is not a regular file, or larger than any real one, is not read.
METADATA_FILE_LIMIT = 64 * 1024 * 1024


def _metadata_file_problem(dist: metadata.Distribution, name: str) -> str | None:
    """Why ``dist``'s .dist-info file ``name`` must not be read, or None (absent files are left to
    importlib.metadata, which reads them as missing)."""
    folder = getattr(dist, "_path", None)  # PathDistribution's folder; another kind is read as it is
    if folder is None:
        return None
    try:
        info = os.stat(Path(str(folder)) / name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{name} cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(info.st_mode):
        return f"{name} is not a regular file"
    if info.st_size > METADATA_FILE_LIMIT:
        return f"{name} is larger than {METADATA_FILE_LIMIT // (1024 * 1024)} MiB"
    return None


def _readable(dist: metadata.Distribution, name: str) -> None:
    """Raise DamagedRecord when ``dist``'s ``name`` must not be read."""
    problem = _metadata_file_problem(dist, name)
    if problem is not None:
        raise DamagedRecord(problem)


# What importlib.metadata reads for a distribution's requirements and version: METADATA, and
# requires.txt when METADATA has no Requires-Dist, PKG-INFO when METADATA is absent or empty
# (re-review 156 D1).
METADATA_SOURCES = ("METADATA", "requires.txt", "PKG-INFO")


def _metadata_readable(dist: metadata.Distribution) -> None:
    """Raise DamagedRecord when a file importlib.metadata reads for ``dist``'s metadata must not be read."""
    for name in METADATA_SOURCES:
        _readable(dist, name)


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirements(dist: metadata.Distribution) -> list[str]:
    """The names ``dist`` requires without extras, markers evaluated for this interpreter."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError as exc:  # packaging comes with dask, a runtime requirement
        raise DependencyMissing("device-ai self-check needs the 'packaging' package",
                                hint="reinstall the device with its dependencies") from exc
    names = []
    try:
        _metadata_readable(dist)
        texts = dist.requires or []
    except (ValueError, OSError):  # METADATA not UTF-8 or unreadable (reviews 144 D3, 147 D1): its hash reports it
        texts = []
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(_normalize(requirement.name))
    return names


def runtime_closure(main: str) -> Iterator[tuple[str, metadata.Distribution | None]]:
    """``main`` and every distribution its runtime requirements reach, by normalized name, each
    once, in order of discovery; None for a required distribution that is not installed."""
    queue, seen = [_normalize(main)], set()
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            yield name, None
            continue
        yield name, dist
        queue.extend(sorted(set(_requirements(dist)) - seen))


@dataclass(frozen=True)
class RecordEntry:
    """One line of a ``RECORD``: the path and, where the line gives one, the hash's algorithm and value."""

    path: str
    mode: str | None = None
    value: str | None = None


class DamagedRecord(ValueError):
    """A ``RECORD`` that is not UTF-8 CSV of path, hash and size lines."""


def record_entries(dist: metadata.Distribution) -> list[RecordEntry] | None:
    """The lines of ``dist``'s ``RECORD`` as written, or None without one. Read here, not through
    ``Distribution.files``: the importlib_metadata backport (imported by dask on Python < 3.12, and
    CPython 3.12+) drops the files that are absent, so a removed file would never be reported
    (review 142 N4). A damaged ``RECORD`` raises DamagedRecord (review 142 D3)."""
    _readable(dist, "RECORD")
    try:
        text = dist.read_text("RECORD")
    except UnicodeDecodeError as exc:
        raise DamagedRecord("RECORD is not UTF-8") from exc
    except OSError as exc:  # a read error or a link loop (re-review 147 D1); a missing RECORD is None
        raise DamagedRecord(f"RECORD cannot be read ({exc.strerror or exc})") from exc
    if text is None:
        return None
    entries = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a field past csv's limit, a NUL (review 144 D3)
        raise DamagedRecord(f"RECORD is not CSV ({exc})") from exc
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != 3 or not row[0] or "\0" in row[0]:
            raise DamagedRecord(f"RECORD line {number} is not path,hash,size")
        path, hashed, size = row
        if size and not size.isdigit():
            raise DamagedRecord(f"RECORD line {number} has a size that is not a number")
        if not hashed:
            entries.append(RecordEntry(path))
            continue
        mode, _, value = hashed.partition("=")
        if not value:
            raise DamagedRecord(f"RECORD line {number} has a hash without its algorithm")
        entries.append(RecordEntry(path, mode, value))
    return entries


class NotARegularFile(OSError):
    """A listed path that is a FIFO, a device or a socket: never read (re-review 147 D2)."""


def _digest(path: Path, mode: str) -> str:
    """The file's hash as RECORD writes it: urlsafe base64 without padding. Opened without
    blocking and read only when it is a regular file: a FIFO put at a listed path would otherwise
    hold the check in open() for as long as no one writes to it (re-review 147 D2)."""
    hasher = hashlib.new(mode)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(descriptor, "rb", closefd=True) as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")


def _editable(dist: metadata.Distribution) -> str | None:
    """Where an editable install imports from (its direct_url.json's url), or None."""
    _readable(dist, "direct_url.json")
    try:
        text = dist.read_text("direct_url.json")
        data = json.loads(text) if text else None
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deeply (review 144 D3)
        raise DamagedRecord("direct_url.json is not UTF-8 JSON") from exc
    except OSError as exc:  # a read error or a link loop (re-review 147 D1)
        raise DamagedRecord(f"direct_url.json cannot be read ({exc.strerror or exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable"):
        return str(data.get("url", "a source folder"))
    return None


def open_to_others(mode: int, uid: int) -> bool:
    """Whether a file or folder with this ``stat`` mode and owner could be changed by another
    account: writable by its group or by others, or owned by an account other than root and the
    one running the check."""
    return bool(stat.S_IMODE(mode) & (stat.S_IWGRP | stat.S_IWOTH)) or uid not in (0, os.geteuid())


def _folders(path: Path, base: Path) -> list[Path]:
    """The folders from ``path``'s own up to ``base`` (both included) when ``path`` is under it,
    else ``path``'s folder alone (a script in bin/)."""
    folders, folder = [], path.parent
    while True:
        folders.append(folder)
        if folder == base or folder.parent == folder or base not in folder.parents:
            return folders
        folder = folder.parent


def _shown(path: Path, base: Path) -> str:
    """A folder as the report names it: relative to the installation folder where it is under it."""
    try:
        return f"{path.relative_to(base)}/"
    except ValueError:
        return f"{path}/"


def check_distribution(name: str, dist: metadata.Distribution | None = None, *,
                       folders_seen: set[Path] | None = None) -> DistributionCheck:
    """Every file ``RECORD`` lists for the installed distribution ``name`` compared with its hash,
    and checked with its folders for access by other accounts (a folder once per ``folders_seen``)."""
    if dist is None:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return DistributionCheck(name=name, version="-", not_verifiable="required but not installed")
    # each file importlib.metadata reads for the version, looked at once (its problem reported below)
    problems = {source: _metadata_file_problem(dist, source) for source in METADATA_SOURCES}
    try:
        version = "-" if any(problems.values()) else (dist.version or "-")
    except (ValueError, OSError):  # METADATA not UTF-8 or unreadable (reviews 144 D3, 147 D1): its hash reports it
        version = "-"
    try:
        files = record_entries(dist)
    except DamagedRecord as exc:
        return DistributionCheck(name=name, version=version, findings=(FileFinding(name, f"RECORD ({exc})",
                                                                                   UNREADABLE),))
    if files is None:
        return DistributionCheck(name=name, version=version,
                                 not_verifiable="installed without a RECORD: its files cannot be compared")
    seen = set() if folders_seen is None else folders_seen
    base = Path(os.path.realpath(dist.locate_file("")))
    checked = skipped = 0
    findings = []
    for entry in files:
        path = Path(dist.locate_file(entry.path))
        for folder in _folders(Path(os.path.realpath(path)), base):
            if folder in seen:
                continue
            seen.add(folder)
            try:
                info = os.stat(folder)
            except OSError:
                continue  # a missing file's folder: the file is reported
            if open_to_others(info.st_mode, info.st_uid):
                findings.append(FileFinding(name, _shown(folder, base), OPEN))
        if entry.mode is None:  # RECORD itself, the .pyc compiled at install: no hash, but code all the same
            skipped += 1
            try:
                info = os.stat(path)
            except OSError:
                continue
            if open_to_others(info.st_mode, info.st_uid):  # review 142 D2: a writable .pyc runs
                findings.append(FileFinding(name, entry.path, OPEN))
            continue
        try:
            actual = _digest(path, entry.mode)
            info = os.stat(path)
        except FileNotFoundError:
            findings.append(FileFinding(name, entry.path, MISSING))
            continue
        except (OSError, ValueError, TypeError):  # unreadable; a hash hashlib does not know, or shake_* (no fixed size)
            findings.append(FileFinding(name, entry.path, UNREADABLE))
            continue
        checked += 1
        if actual != entry.value:
            findings.append(FileFinding(name, entry.path, ALTERED))
        if open_to_others(info.st_mode, info.st_uid):
            findings.append(FileFinding(name, entry.path, OPEN))
    # RECORD's lines for the .dist-info folder itself (a package data file of the same base name is not one:
    # re-review 159 D2)
    folder = PurePosixPath(str(getattr(dist, "_path", ""))).name
    listed = {str(PurePosixPath(entry.path)) for entry in files}
    for source, problem in problems.items():  # one importlib.metadata would read, RECORD does not list (156 D1)
        if problem is not None and f"{folder}/{source}" not in listed:
            findings.append(FileFinding(name, problem, UNREADABLE))
    reason = None
    try:
        editable = _editable(dist)
    except DamagedRecord as exc:
        editable = None
        findings.append(FileFinding(name, str(exc), UNREADABLE))
    if editable is not None:
        reason = (f"editable install from {editable}: RECORD lists no file of the source tree it imports, "
                  "which is not checked")
    elif checked == 0 and not findings:
        reason = "its RECORD lists no file with a hash: nothing to compare"
    return DistributionCheck(name=name, version=version, checked=checked, skipped=skipped,
                             findings=tuple(findings), not_verifiable=reason)


# The distribution whose code reads the requirements that lead the walk (runtime_closure). Its own
# files are compared before it is imported: a changed file of it would otherwise run, and a pipe at
# one hold the check, before anything is reported (re-review 160 D2).
REQUIREMENT_READER = "packaging"


def _reader_elsewhere() -> str | None:
    """Where ``import packaging`` would load code other than the checked distribution's, or None:
    a packaging folder without a .dist-info earlier on sys.path (the working directory under
    ``python -m``) would run instead (re-review 161 note). ``find_spec`` of a top-level name runs
    no code of it."""
    spec = importlib.util.find_spec(REQUIREMENT_READER)
    origin = getattr(spec, "origin", None)
    expected = metadata.distribution(REQUIREMENT_READER).locate_file(f"{REQUIREMENT_READER}/__init__.py")
    if origin is None or os.path.realpath(origin) != os.path.realpath(expected):
        return f"import {REQUIREMENT_READER} would load {origin or 'a module'}, not the checked distribution's files"
    return None


def check_installed(main: str | None = None) -> SelfCheck:
    """``main`` (default ``device-ai``) and its runtime closure, each distribution checked; the
    requirement reader first, and alone when it is not as installed or not what ``import`` would
    load (the closure is then not walked)."""
    folders_seen: set[Path] = set()
    reader = check_distribution(REQUIREMENT_READER, folders_seen=folders_seen)
    if not reader.ok:
        return SelfCheck((reader,), stopped=f"the runtime requirements were not read: {REQUIREMENT_READER}, "
                                            "which reads them, is not as installed")
    elsewhere = _reader_elsewhere()
    if elsewhere is not None:
        return SelfCheck((reader,), stopped=f"the runtime requirements were not read: {elsewhere}")
    checks = [reader if name == REQUIREMENT_READER else check_distribution(name, dist, folders_seen=folders_seen)
              for name, dist in runtime_closure(main or MAIN)]
    if reader not in checks:  # not a runtime requirement, but code the check ran
        checks.append(reader)
    return SelfCheck(tuple(checks))


__all__ = ["ALTERED", "MAIN", "MISSING", "OPEN", "REQUIREMENT_READER", "UNREADABLE", "DistributionCheck", "FileFinding",
           "SelfCheck", "check_distribution", "check_installed", "open_to_others", "runtime_closure"]
