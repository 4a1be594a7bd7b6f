"""A one-line progress display on stderr for long steps."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = int(100 * done / max(total, 1))
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {done}/{total} ({percent}%)")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif percent // 25 != self._last // 25 or done == total:
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)
        self._last = percent


def status_line(line: str) -> None:
    """A batch job's progress line (computed by device_ai.batch.progress), on stderr."""
    print(line, file=sys.stderr, flush=True)
