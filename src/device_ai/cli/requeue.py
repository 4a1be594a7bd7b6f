"""``requeue``: send the node's dead-lettered results again. All behaviour is in
:mod:`device_ai.node.requeue`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from device_ai.cli.common import context


def cmd_requeue(args: argparse.Namespace) -> int:
    from device_ai.node.requeue import requeue_dead

    done = requeue_dead(context(args), args.destination)
    for item in done:
        print(f"requeued {item.result} for {item.destination} (dead-lettered after {item.attempts} attempt(s))")
    print(f"{len(done)} dead letter(s) requeued; the running node sends them on its next pass"
          if done else "no dead letters to requeue")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    command = add("requeue", cmd_requeue, "send the DICOM node's dead-lettered results again (after the destination "
                  "was fixed): each goes back to the outbound queue with its attempts counted from zero")
    command.add_argument("--destination", metavar="NAME", help="only this destination's dead letters (default: all)")
