"""Looking at a path the user named (an input, an output folder) without an internal error.

``os.stat``/``os.lstat``, and the ``pathlib`` predicates built on them (``is_symlink``,
``exists``, ``is_file``, ``is_dir`` on Python 3.11 ignore only ENOENT, ENOTDIR, EBADF and
ELOOP), raise for a path longer than the system allows (ENAMETOOLONG: PATH_MAX bytes in all, or
a name longer than NAME_MAX), a folder that may not be searched (EACCES), an embedded NUL byte
and more. Those are the user's to fix: :func:`status` turns each into a
:class:`~device_ai.errors.DicomReadError` whose one-line message names the path, shortened (a
4,000-byte path is not a message), and the limit it broke. ``os.walk`` silently skips a folder
it cannot list unless given ``onerror``: the callers pass one that records the folder.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from device_ai.errors import DicomReadError

SHOWN_HEAD, SHOWN_TAIL = 40, 60  # characters of a long path kept at each end in messages
_PATH_MAX, _NAME_MAX = 4096, 255  # Linux defaults, when pathconf cannot say
_SHORTER_HINT = "move or copy the files to a shorter path (fewer or shorter folder names), then run again"


def printable(text: str) -> str:
    """One line on a terminal: control characters (a crafted file name, a value) become '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def shown(path: object) -> str:
    """``path`` for a message: printable, and shortened to its two ends when long."""
    text = printable(os.fsdecode(os.fspath(path)))
    if len(text) <= SHOWN_HEAD + SHOWN_TAIL + 20:
        return text
    return f"{text[:SHOWN_HEAD]}...{text[-SHOWN_TAIL:]} ({len(os.fsencode(os.fspath(path)))} bytes)"


_LONG_WORD = re.compile(r"\S{%d,}" % (SHOWN_HEAD + SHOWN_TAIL + 21))


def shortened(text: str) -> str:
    """``text`` for a one-line message with every long word (a path, usually: an error's text may
    quote a 4,000-byte one) shortened to its two ends by :func:`shown`."""
    return _LONG_WORD.sub(lambda match: shown(match[0]), text)


def _limit(path: Path, name: str, default: int) -> int:
    """``pathconf`` of the nearest existing folder at or above ``path``."""
    existing = path
    while not os.path.isdir(existing) and existing != existing.parent:  # isdir never raises
        existing = existing.parent
    try:
        return int(os.pathconf(existing, name))
    except (OSError, ValueError):
        return default


def length_problem(path: object, *, room_inside: int = 0, sibling_extra: int = 0) -> str | None:
    """Why ``path`` is too long for this system (in all, or one of its names), or None.

    ``room_inside``: bytes that must still fit under it (what will be written inside);
    ``sibling_extra``: bytes a sibling named after its last name adds (a temporary name)."""
    absolute = Path(os.path.abspath(os.fspath(path)))
    size = len(os.fsencode(absolute))
    path_max = _limit(absolute, "PC_PATH_MAX", _PATH_MAX) - 1  # PATH_MAX counts the terminating NUL
    if size + room_inside > path_max:
        kept = f" with {room_inside} bytes kept for what is written inside it" if room_inside else ""
        return f"{shown(path)}: the path is {size} bytes long; this system allows {path_max - room_inside}{kept}"
    name_max = _limit(absolute, "PC_NAME_MAX", _NAME_MAX)
    for index, part in enumerate(absolute.parts):
        extra = sibling_extra if index == len(absolute.parts) - 1 else 0
        if len(os.fsencode(part)) + extra > name_max:
            kept = f" with {extra} bytes kept for the temporary name beside it" if extra else ""
            return (f"{shown(path)}: the name {printable(part)[:SHOWN_HEAD]}... is {len(os.fsencode(part))} bytes "
                    f"long; this file system allows {name_max - extra}{kept}")
    return None


def path_problem(path: object, exc: OSError | ValueError) -> str:
    """One line: why ``path`` could not be looked at (``exc`` from stat, lstat or a listing)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return length_problem(path) or f"{shown(path)}: a path or link target longer than this system allows"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())[:80]
    return f"{shown(path)}: cannot be examined ({reason or type(exc).__name__})"


def path_hint(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return _SHORTER_HINT
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return "check that this service may read the path, then run again"
    return "check the path, then run again"


def status(path: object, *, follow_links: bool = False) -> os.stat_result | None:
    """The status of ``path`` (of a link itself unless ``follow_links``), or None when nothing is
    there (ENOENT, ENOTDIR; a dangling link when following). Anything else that keeps the path
    from being looked at raises :class:`DicomReadError` (exit 3) saying why, naming the path."""
    try:
        return os.stat(path, follow_symlinks=follow_links)  # type: ignore[arg-type]
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL byte
        raise DicomReadError(path_problem(path, exc), hint=path_hint(exc)) from exc
