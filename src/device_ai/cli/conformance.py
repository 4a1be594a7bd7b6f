"""``conformance``: write the DICOM Conformance Statement of the node (PS3.2 layout) from the
effective configuration, or the reference configuration of ``docs/``. All behaviour is in
:mod:`device_ai.node.conformance`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from device_ai.cli.common import context


def commands() -> set[str]:
    """The sub-commands of this CLI (the statement mentions the hot folder when ``watch`` is one)."""
    from device_ai.cli.parser import build_parser

    parser = build_parser()
    return {name for action in parser._subparsers._group_actions for name in action.choices}  # noqa: SLF001


def cmd_conformance(args: argparse.Namespace) -> int:
    from device_ai.node.conformance import reference_settings, statement_text, write_statement

    if args.out is not None:  # before any work (SRS-109): the statement is written by renaming a new file into place
        from device_ai.app.preconditions import check_output_file

        check_output_file(Path(args.out), "--out")
    fmt = args.format or ("html" if args.out and args.out.lower().endswith((".html", ".htm")) else "markdown")
    settings = reference_settings() if args.reference else context(args).settings
    text = statement_text(settings, fmt=fmt, hot_folder="watch" in commands(), reference=args.reference)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    written = write_statement(Path(args.out), text)
    print(f"DICOM conformance statement ({fmt}, {'reference' if args.reference else 'effective'} configuration) "
          f"-> {written}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    command = add("conformance", cmd_conformance, "write the node's DICOM Conformance Statement (PS3.2 layout) from "
                  "the effective configuration and the code's own tables, with the IOD contents of a SEG and SR made "
                  "by the device's writers (needs Jinja2 and markdown-it-py: pip install -e '.[dev]')")
    command.add_argument("--out", help="file to write (default: standard output); .html writes HTML")
    command.add_argument("--format", choices=("markdown", "html"), help="MyST Markdown (default) or a self-contained "
                         "HTML page (default for an --out ending in .html)")
    command.add_argument("--reference", action="store_true", help="the reference configuration (the defaults; "
                         "DEVICE_AI_* variables and configuration files ignored), as committed in docs/")
