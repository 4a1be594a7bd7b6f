"""Checks made before an action does any work, so that a run that cannot finish is refused
before the first slice is read, each reason with its own message."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from device_ai.dicom.paths import length_problem, path_problem, shown, status
from device_ai.errors import ConfigError, DependencyMissing, DeviceAIError, DicomReadError, OutputRefused


# Room kept under an output folder for what the device writes inside it: one more name of the
# usual NAME_MAX (255) and its separator; the deepest output, anonymize's keyed
# <patient>/<study>/<series>/<instance>.dcm, takes at most 20+45+45+49 = 159 bytes.
ROOM_INSIDE_BYTES = 256
# Bytes the longest sibling named after an output adds to its name: the atomic temporary file of
# the crosswalk's pending name, ".{.NAME.pending}.XXXXXXXX.tmp" (23; a staging folder adds 18).
SIBLING_EXTRA_BYTES = 24


def check_path_names(path: Path, option: str, *, room_inside: int = 0, sibling_extra: int = 0) -> None:
    """The whole path and each of its names within the system's limits, with ``room_inside``
    bytes left for what is written under it and ``sibling_extra`` for a temporary name beside
    it (``paths.length_problem``): an over-long path is the user's to fix, refused before any
    work, not an internal error when the first file is written."""
    problem = length_problem(path, room_inside=room_inside, sibling_extra=sibling_extra)
    if problem is not None:
        raise OutputRefused(f"{option}: {problem}", hint=f"choose a shorter {option} path")


def _status(path: Path, option: str, *, follow_links: bool = False) -> os.stat_result | None:
    """``paths.status`` of an output path: what keeps it from being looked at is an output refusal."""
    try:
        return status(path, follow_links=follow_links)
    except DicomReadError as exc:
        raise OutputRefused(f"{option}: {exc.message}", hint=exc.hint) from exc


def check_input_path(path: Path, option: str, *, error: type[DeviceAIError] = ConfigError) -> os.stat_result | None:
    """The status of an input path the user named (links followed), or None when nothing is
    there (the caller says what that means). What keeps it from being looked at (a name or the
    whole path longer than the system allows, a folder that may not be searched, a NUL byte) is
    the command's own input error ``error``, naming ``option`` and the shortened path."""
    try:
        return status(path, follow_links=True)
    except DicomReadError as exc:
        raise error(f"{option} {exc.message}", hint=exc.hint) from exc


def check_input_folder(folder: Path, option: str, *, error: type[DeviceAIError] = ConfigError) -> None:
    """``folder`` (an input the user named) is a folder that can be looked at; else ``error``."""
    info = check_input_path(folder, option, error=error)
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise error(f"{option} {shown(folder)} does not exist or is not a folder",
                    hint=f"give {option} an existing folder")


def _refuse_link(path: Path, info: os.stat_result | None, option: str, how: str) -> None:
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise OutputRefused(f"{option} {shown(path)} is a symbolic link; {how}, which would replace the link or write "
                            "where it points instead of where the option says",
                            hint=f"give {option} the real path ({shown(Path(path).resolve())})")


def check_output_place(folder: Path, option: str) -> None:
    """An output folder that may exist and hold earlier output (watch's OUT and rejected folder,
    anonymize's quarantine, phantom --out): not a symbolic link, not a file, within the system's
    limits with room for what is written inside, and writable (created later by its writer)."""
    folder = Path(folder)
    check_path_names(folder, option, room_inside=ROOM_INSIDE_BYTES, sibling_extra=SIBLING_EXTRA_BYTES)
    info = _status(folder, option)
    _refuse_link(folder, info, option, "results are written under it by creating and renaming entries")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{option} {shown(folder)} is a file, not a folder", hint=f"give {option} a folder path")
    check_writable_location(folder if info is not None else folder.parent, option)


def check_output_folder(out: Path, option: str = "--out") -> None:
    """``out`` must be a folder that does not exist yet or is empty, under a writable location;
    not a symbolic link (publication renames a new folder into place: it would replace the link)."""
    out = Path(out)
    check_path_names(out, option, room_inside=ROOM_INSIDE_BYTES, sibling_extra=SIBLING_EXTRA_BYTES)
    info = _status(out, option)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise OutputRefused(f"{option} {shown(out)} is a symbolic link; results are published by renaming a new folder "
                            "into place, which would replace the link instead of writing where it points",
                            hint=f"give {option} the real folder path ({shown(out.resolve())})")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{option} {shown(out)} is a file, not a folder",
                          hint=f"give {option} a folder path that does not exist yet")
    if info is not None:
        try:
            empty = next(os.scandir(out), None) is None
        except OSError as exc:
            raise OutputRefused(f"{option}: {path_problem(out, exc)}", hint=f"choose a new {option} folder") from exc
        if not empty:
            raise OutputRefused(f"{option} folder {shown(out)} already exists and is not empty",
                              hint=f"choose a new {option} folder; results are never overwritten")
    check_writable_location(out.parent if out.parent != out else out, option)


def check_output_file(path: Path, option: str = "--out") -> None:
    """``path`` will be written (atomically, by renaming a new file into place): it must not be a
    symbolic link (the rename would replace the link) nor a folder, its location writable."""
    path = Path(path)
    check_path_names(path, option, sibling_extra=SIBLING_EXTRA_BYTES)
    info = _status(path, option)
    _refuse_link(path, info, option, "the file is written by renaming a new file into place")
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{option} {shown(path)} is a folder, not a file", hint=f"give {option} a file path")
    check_writable_location(path.parent, option)


def check_writable_location(folder: Path, option: str) -> None:
    """The nearest existing folder at or above ``folder`` accepts a new entry (probed, because
    permissions alone do not show a read-only file system, and root passes every access check)."""
    check_path_names(folder, option, room_inside=ROOM_INSIDE_BYTES)
    existing = Path(folder).absolute()
    while (info := _status(existing, option, follow_links=True)) is None:
        existing = existing.parent
    if not stat.S_ISDIR(info.st_mode):
        raise OutputRefused(f"{option}: {shown(existing)} is a file, so nothing can be created under it",
                          hint=f"give {option} a path under a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".device-ai-probe.", dir=existing)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputRefused(f"{option}: the location {shown(existing)} is not writable ({exc.strerror or exc})",
                          hint=f"choose a {option} location you can write to") from exc


def label_value(manifest, name: str, option: str) -> int:  # noqa: ANN001 - ModelManifest
    """The value of the label called ``name`` (any case) in the model's manifest."""
    try:
        return manifest.label_by_name(name).value
    except ValueError:
        names = ", ".join(label.name for label in manifest.labels)
        raise ConfigError(f"{option} {name!r} is not a label of {manifest.identity}; its labels are {names}",
                          hint=f"pass one of: {names}") from None


def require_explanations() -> None:
    """Explanations run Grad-CAM on the PyTorch twin: refuse early when torch is absent."""
    try:
        import torch  # noqa: F401

        import device_ai.explain.pipeline  # noqa: F401
    except ImportError as exc:
        raise DependencyMissing(
            f"explanations need PyTorch ({exc.name} is missing)",
            hint="install torch==2.13.0 and the [train] extra (the Makefile does this)",
        ) from exc


def check_patients(patients: int, minimum: int) -> None:
    if patients < minimum:
        raise ConfigError(f"--patients {patients}: the validation protocol needs at least {minimum} held-out patients",
                          hint=f"pass --patients {minimum} or more")


def check_seed(seed: int, option: str = "--seed") -> None:
    if seed < 0:
        raise ConfigError(f"{option} {seed}: seeds are whole numbers from 0", hint=f"pass {option} 0 or more")
