"""``watch``: the DICOM node's hot folder (``device-ai watch IN OUT``) until SIGTERM or Ctrl-C.
All behaviour is in :mod:`device_ai.node.hot_folder`."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from device_ai.cli.common import context, optional_path


def cmd_watch(args: argparse.Namespace) -> int:
    from device_ai.node.hot_folder import watch_until

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return watch_until(context(args), Path(args.inbox), Path(args.out), stop, rejected=optional_path(args.rejected))


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    command = add("watch", cmd_watch, "run the DICOM node on a hot folder: take each DICOM file dropped into IN once "
                  "it stopped changing (node_watch_settle_s), analyse each complete series and write its SEG and SR "
                  "into OUT/<study>/<series>.gen-NNNN/; refused files go to the rejected folder with a reason file")
    command.add_argument("inbox", metavar="IN", help="folder files are dropped into (subfolders too); taken files are "
                         "removed from it")
    command.add_argument("out", metavar="OUT", help="folder the results are written into (created if missing)")
    command.add_argument("--rejected", metavar="DIR", help="where refused files go, each with a .reason.txt "
                         "(default OUT/rejected)")
