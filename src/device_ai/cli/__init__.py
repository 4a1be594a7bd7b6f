"""``device-ai``: the command line. It parses arguments, calls :mod:`device_ai.app` (or the
trace and report generators), and prints; it holds no behaviour of its own.

Expected errors print ``error DAI-xxx: reason``, every problem found (one per line) and a
hint on stderr, and exit with the error's code (SRS-017); unexpected ones print one line and
exit with :class:`~device_ai.errors.InternalError`'s code, the traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Sequence

import device_ai
from device_ai.cli import (analysis, anonymize, audit, conformance, keys, model, report, requeue, review, self_check,
                           serve, settings, status, trace, watch)
from device_ai.cli.common import adder, global_options, message_line
from device_ai.config import using_file
from device_ai.errors import DeviceAIError, InputRefused, InternalError, Interrupted


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


def report_error(exc: DeviceAIError) -> None:
    """The error's lines, each through :func:`~device_ai.cli.common.message_line`."""
    print(f"error {message_line(exc.one_line())}", file=sys.stderr)
    problems = getattr(exc, "problems", ())
    if len(problems) > 1 or (problems and not isinstance(exc, InputRefused)):
        for problem in problems:
            print(f"  {message_line(problem)}", file=sys.stderr)
    if exc.hint:
        print(f"  what to do: {message_line(exc.hint)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:
        # Library warnings (pydicom, highdicom) about odd input are not for the operator's screen;
        # every refusal is reported as one typed line instead.
        warnings.simplefilter("ignore")
    try:
        with using_file(args.config):
            return int(args.func(args))
    except DeviceAIError as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"error {Interrupted.code}: interrupted; nothing partial was kept", file=sys.stderr)
        return Interrupted.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # the last line of defence: one line, no traceback
        if args.debug:
            traceback.print_exc()
        print(f"error {InternalError.code}: internal error ({type(exc).__name__}: {message_line(str(exc))}); please "
              "report it with the output of the same command run with --debug", file=sys.stderr)
        return InternalError.exit_code
