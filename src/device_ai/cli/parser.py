"""The whole ``device-ai`` parser: every command registered, run under the reporting of
:func:`device_ai.cli.running.run_reported`. Importing it imports every command module and, through
them, the device's libraries (pydicom, numpy, pydantic, ...); :mod:`device_ai.cli` imports it only
for commands that need them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import device_ai
from device_ai.cli import (analysis, anonymize, audit, conformance, keys, model, report, requeue, review, self_check,
                           serve, settings, status, trace, watch)
from device_ai.cli.common import adder
from device_ai.cli.running import global_options, run_reported


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="device-ai",
        description="DINOv2 segmentation of CT series with a locked ONNX Runtime core. "
        "Demonstration software: not for clinical use.",
    )
    parser.add_argument("--version", action="version", version=f"device_ai {device_ai.__version__}")
    global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add = adder(sub)
    for module in (analysis, model, audit, keys, settings, anonymize, trace, report, review, serve, watch, status,
                   requeue, conformance, self_check):
        module.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_reported(lambda: args.func(args), debug=args.debug, config=args.config)
