"""Checks made before an action does any work, so that a run that cannot finish is refused
before the first slice is read, each reason with its own message."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from device_ai.errors import ConfigError, DependencyMissing, OutputRefused


def check_path_names(path: Path, option: str) -> None:
    """Each component within the file system's name limit: an over-long name is the user's to
    fix, not an internal error when the first file is written."""
    absolute = Path(path).absolute()
    existing = absolute
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        name_max = os.pathconf(existing if existing.is_dir() else existing.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in absolute.parts:
        if len(os.fsencode(part)) > name_max:
            raise OutputRefused(f"{option}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long; this file "
                                f"system allows {name_max}", hint=f"choose a shorter {option} path")


def check_output_folder(out: Path, option: str = "--out") -> None:
    """``out`` must be a folder that does not exist yet or is empty, under a writable location;
    not a symbolic link (publication renames a new folder into place: it would replace the link)."""
    out = Path(out)
    check_path_names(out, option)
    if out.is_symlink():
        raise OutputRefused(f"{option} {out} is a symbolic link; results are published by renaming a new folder "
                            "into place, which would replace the link instead of writing where it points",
                            hint=f"give {option} the real folder path ({out.resolve()})")
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"{option} {out} is a file, not a folder",
                          hint=f"give {option} a folder path that does not exist yet")
    if out.is_dir() and any(out.iterdir()):
        raise OutputRefused(f"{option} folder {out} already exists and is not empty",
                          hint=f"choose a new {option} folder; results are never overwritten")
    check_writable_location(out.parent if out.parent != out else out, option)


def check_output_file(path: Path, option: str = "--out") -> None:
    """``path`` will be written (atomically): it must not be a folder, its location writable."""
    path = Path(path)
    check_path_names(path, option)
    if path.is_dir():
        raise OutputRefused(f"{option} {path} is a folder, not a file", hint=f"give {option} a file path")
    check_writable_location(path.parent, option)


def check_writable_location(folder: Path, option: str) -> None:
    """The nearest existing folder at or above ``folder`` accepts a new entry (probed, because
    permissions alone do not show a read-only file system, and root passes every access check)."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputRefused(f"{option}: {existing} is a file, so nothing can be created under it",
                          hint=f"give {option} a path under a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".device-ai-probe.", dir=existing)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputRefused(f"{option}: the location {existing} is not writable ({exc.strerror or exc})",
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
