"""``self-check``: the installed device software and its runtime dependencies compared with their
installers' RECORD files (SRS-230). All behaviour is in :mod:`device_ai.installed_software`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from device_ai.dicom.paths import printable


def cmd_self_check(args: argparse.Namespace) -> int:  # noqa: ARG001
    from device_ai.installed_software import check_installed

    check = check_installed()
    for dist in check.distributions:
        # paths come from files anyone who can write site-packages wrote: shown printable only
        for finding in dist.findings:
            print(f"  {finding.state:<12} {printable(dist.name)} {printable(dist.version)}: {printable(finding.path)}")
        if dist.not_verifiable is not None:
            print(f"  {'unverified':<12} {printable(dist.name)} {printable(dist.version)}: "
                  f"{printable(dist.not_verifiable)}")
    if check.stopped is not None:
        print(f"  {'stopped':<12} {printable(check.stopped)}")
    print(f"{len(check.distributions)} distribution(s) (device-ai and its runtime requirements): {check.checked} "
          f"file(s) compared with RECORD, {check.skipped} listed without a hash skipped (RECORD itself, .pyc compiled "
          "at install); RECORD is not signed: this detects accidental change, not an attacker who can write the "
          "environment")
    if not check.ok:
        raise check.failure()
    print(f"OK: all {check.checked} file(s) are as installed")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    add("self-check", cmd_self_check, "check that every file of the installed device software and of its runtime "
        "dependencies is as pip installed it (SHA-256 against each distribution's RECORD); run it after installing "
        "and after any change to the host")
