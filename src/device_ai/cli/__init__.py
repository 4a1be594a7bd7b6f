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
from typing import NoReturn

from device_ai.cli.running import global_options


class _NotSelfCheck(Exception):
    """What the self-check parser does not take: left to the whole parser."""


class _SelfCheckParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # no usage printed: the whole parser answers instead
        raise _NotSelfCheck(message)


def _self_check_only(argv: list[str]) -> argparse.Namespace | None:
    """The options when ``argv`` is ``self-check`` with nothing but the global options, read by argparse
    as the whole parser reads them (the same options, abbreviations, option-like values such as
    ``--config -1``; re-reviews 161 D3, 162 D2); None for anything else (help included), which the
    whole parser answers."""
    parser = _SelfCheckParser(prog="device-ai", add_help=False)
    global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True)
    global_options(commands.add_parser("self-check", add_help=False), top=False)
    try:
        return parser.parse_args(argv)
    except _NotSelfCheck:
        return None


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
