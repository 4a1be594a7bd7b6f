"""``serve``: run the DICOM node (Storage SCP, spool, series assembly) until SIGTERM or Ctrl-C.
All behaviour is in :mod:`device_ai.node`."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable

from device_ai.cli.common import context


def cmd_serve(args: argparse.Namespace) -> int:
    from device_ai.node.server import serve_until

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return serve_until(context(args), stop)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    add("serve", cmd_serve, "run the DICOM node: a Storage SCP (C-ECHO, C-STORE of CT) that spools what it receives "
        "and hands each complete series to analysis (settings: node_* in `device-ai config show`)")
