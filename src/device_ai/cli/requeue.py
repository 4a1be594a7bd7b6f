"""``requeue``: send the node's dead-lettered results again. All behaviour is in
:mod:`device_ai.node.requeue`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from device_ai.cli.common import context


def cmd_requeue(args: argparse.Namespace) -> int:
    from device_ai.errors import ConfigError
    from device_ai.node.requeue import discard_dead, requeue_dead

    if args.discard:
        if not args.destination:
            raise ConfigError("--discard needs --destination NAME", hint="name the destination whose results to give up")
        gone = discard_dead(context(args), args.destination)
        for item in gone:
            print(f"discarded {item.result} for {item.destination} (after {item.attempts} attempt(s))")
        print(f"{len(gone)} result(s) given up for {args.destination}")
        return 0
    done, left = requeue_dead(context(args), args.destination)
    for item in done:
        print(f"requeued {item.result} for {item.destination} (dead-lettered after {item.attempts} attempt(s))")
    print(f"{len(done)} dead letter(s) requeued; the running node sends them on its next pass"
          if done else "no dead letters to requeue")
    for dest in left:
        print(f"left: dead letters of {dest}, which is no longer configured (configure it again, or give them up "
              f"with `device-ai requeue --discard --destination {dest}`)")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    command = add("requeue", cmd_requeue, "send the DICOM node's dead-lettered results again (after the destination "
                  "was fixed): each goes back to the outbound queue with its attempts counted from zero")
    command.add_argument("--destination", metavar="NAME", help="only this destination's dead letters (default: all "
                         "configured destinations)")
    command.add_argument("--discard", action="store_true", help="give up the named destination's dead letters (and, "
                         "for a destination no longer configured, its pending results) for good; audited")
