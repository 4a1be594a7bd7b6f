"""``device-ai``: the command line. It parses arguments, calls :mod:`device_ai.app` (or the
trace and report generators), and prints; it holds no behaviour of its own. The parser and every
command are in :mod:`device_ai.cli.parser`; errors are reported by :mod:`device_ai.cli.running`.

``device-ai self-check`` is run before the parser is built: building it imports every command and,
through them, the device's libraries, and some of them read files of the installed environment at
import (pydicom and pyjpegls read their own METADATA to learn their version). A pipe or /dev/zero
there held every command, the check that would have reported it included (re-review 160 D2). Run
this way the check imports nothing outside the standard library and device_ai until it has looked
at every file (SRS-230).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# The global options (device_ai.cli.common.global_options), accepted before or after the command.
_FLAG = "--debug"
_VALUED = "--config"


def _self_check_only(argv: list[str]) -> argparse.Namespace | None:
    """The global options when ``argv`` is ``self-check`` with nothing but global options, written
    out in full; None otherwise (help, abbreviations and anything else go to the whole parser)."""
    options = argparse.Namespace(command=None, debug=False, config=None)
    rest, index = [], 0
    while index < len(argv):
        token = argv[index]
        if token == _FLAG:
            options.debug = True
        elif token == _VALUED:
            if index + 1 == len(argv) or argv[index + 1].startswith("-"):
                return None  # the parser's usage error, as for an option-like value (re-review 161 D3)
            options.config, index = argv[index + 1], index + 1
        elif token.startswith(f"{_VALUED}="):
            options.config = token.partition("=")[2]
        else:
            rest.append(token)
        index += 1
    return options if rest == ["self-check"] else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = _self_check_only(arguments)
    if options is None:
        from device_ai.cli.parser import main as parse_and_run

        return parse_and_run(arguments)
    from device_ai.cli.running import run_reported
    from device_ai.cli.self_check import cmd_self_check

    # self-check reads no setting: --config is accepted, as by every command, and not loaded
    return run_reported(lambda: cmd_self_check(options), debug=options.debug, config=None)
