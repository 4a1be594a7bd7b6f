"""``config show`` and ``version``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import device_ai
from device_ai.cleartext import report as transport_report
from device_ai.cli.common import context
from device_ai.config import masked
from device_ai.peer_authentication import report as peers_report


def cmd_config_show(args: argparse.Namespace) -> int:
    from device_ai.keystore import key_locations

    settings = context(args).settings
    transport = {**transport_report(settings), "peers": peers_report(settings)}
    print(json.dumps({**masked(settings), "keys": key_locations(), "transport": transport}, indent=2, sort_keys=True))
    return 0


def cmd_version(args: argparse.Namespace) -> int:  # noqa: ARG001
    print(f"device_ai {device_ai.__version__}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    config = add("config", None, "configuration commands")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    add("show", cmd_config_show, "print the effective configuration (secrets masked)", config_sub)
    add("version", cmd_version, "print the software version (also: device-ai --version)")
