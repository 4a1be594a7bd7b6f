"""How every command runs: the global options (``--config`` for the one command, ``--debug``), library warnings kept off the
operator's screen, and every error reported as lines (SRS-017).

Expected errors print ``error DAI-xxx: reason``, every problem found (one per line) and a hint on
stderr, and exit with the error's code; unexpected ones print one line and exit with
:class:`~device_ai.errors.InternalError`'s code, the traceback only under ``--debug``.

Standard library and :mod:`device_ai.errors`/:mod:`device_ai.dicom.paths` only: ``self-check`` runs
through here before any library of the device is imported (:mod:`device_ai.cli`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable

from device_ai.dicom.paths import printable, shortened
from device_ai.errors import DeviceAIError, InputRefused, InternalError, Interrupted


def global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--config`` and ``--debug``, before or after the sub-command (``device-ai audit show
    --debug`` works as the internal-error hint says)."""
    default = None if top else argparse.SUPPRESS  # a sub-command's copy never hides the top-level value
    parser.add_argument("--config", default=default, help="YAML configuration file (default: $DEVICE_AI_CONFIG)")
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show tracebacks of unexpected errors")


def message_line(text: str) -> str:
    """One line of a message: long words (a path of thousands of bytes) shortened to their ends, and
    every character a terminal would act on shown as '?'. Messages quote file names and file contents;
    an escape sequence in one could redraw the screen as another line (review 133 defect 1a)."""
    return printable(shortened(text))


def report_error(exc: DeviceAIError) -> None:
    """The error's lines, each through :func:`message_line`."""
    print(f"error {message_line(exc.one_line())}", file=sys.stderr)
    problems = getattr(exc, "problems", ())
    if len(problems) > 1 or (problems and not isinstance(exc, InputRefused)):
        for problem in problems:
            print(f"  {message_line(problem)}", file=sys.stderr)
    if exc.hint:
        print(f"  what to do: {message_line(exc.hint)}", file=sys.stderr)


def run_reported(command: Callable[[], int], *, debug: bool, config: str | None) -> int:
    """``command()``'s exit code, every error reported as lines and turned into its exit code;
    ``config`` (``--config``) applies to this command only."""
    if not debug:
        # Library warnings (pydicom, highdicom) about odd input are not for the operator's screen;
        # every refusal is reported as one typed line instead.
        warnings.simplefilter("ignore")
    try:
        if not config:
            return int(command())
        from device_ai.config import using_file  # the environment is read and set in config.py only (SRS-038)

        with using_file(config):
            return int(command())
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
        if debug:
            traceback.print_exc()
        print(f"error {InternalError.code}: internal error ({type(exc).__name__}: {message_line(str(exc))}); please "
              "report it with the output of the same command run with --debug", file=sys.stderr)
        return InternalError.exit_code
