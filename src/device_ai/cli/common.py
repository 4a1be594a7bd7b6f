"""What every command shares: the context built from the global options, and the helper that
registers a sub-command with the options accepted at every level (``--config``, ``--debug``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from device_ai.app.context import Context
from device_ai.cli.progress import Progress, status_line
from device_ai.cli.running import global_options
from device_ai.config import load_settings

Command = Callable[[argparse.Namespace], int]

# --scheduler of the batch commands (device_ai.batch.cluster_security)
SCHEDULER_HELP = ("--batch: an existing Dask scheduler, tls://HOST:PORT (mutual TLS only; tcp:// is refused), instead "
                  "of a local cluster; the device's client certificate, its key and the scheduler's CA are the "
                  "settings batch_tls_cert_file, batch_tls_key_file and batch_tls_ca_file (SRS-220)")


def context(args: argparse.Namespace) -> Context:
    return Context(settings=load_settings(Path(args.config) if args.config else None), progress=Progress,
                   status=status_line)


def optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def adder(root: argparse._SubParsersAction) -> Callable[..., argparse.ArgumentParser]:
    def add(name: str, func: Command, help_text: str, parent: argparse._SubParsersAction | None = None):  # noqa: ANN202
        command = (parent or root).add_parser(name, help=help_text, description=help_text)
        global_options(command, top=False)
        command.set_defaults(func=func)
        return command

    return add
