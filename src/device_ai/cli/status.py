"""``status``: the DICOM node's queues, last errors and model identity. All behaviour is in
:mod:`device_ai.node.status`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from device_ai.cli.common import context


def cmd_status(args: argparse.Namespace) -> int:
    from device_ai.node.status import node_status, render

    status = node_status(context(args))
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        for line in render(status):
            print(line)
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    command = add("status", cmd_status, "show the DICOM node's state: series receiving, generations ready, analysing, "
                  "done and refused, results pending, sent and dead-lettered per destination, last errors, model")
    command.add_argument("--json", action="store_true", help="print the status as JSON")
