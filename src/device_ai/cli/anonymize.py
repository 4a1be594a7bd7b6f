"""``anonymize`` and ``anonymize-crosswalk``: the de-identification path (PS3.15 Annex E)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from device_ai import app
from device_ai.cli.common import context, optional_path
from device_ai.errors import InputRefused


def cmd_anonymize(args: argparse.Namespace) -> int:
    request = app.AnonymizeRequest(inputs=[Path(p) for p in args.input], out=Path(args.out),
                                   options=args.option or [], crosswalk=optional_path(args.crosswalk),
                                   quarantine=optional_path(args.quarantine), pixel_rules=optional_path(args.pixel_rules))
    result = app.anonymize(context(args), request)
    print(f"de-identified {len(result.written)} of {result.files_in} file(s) into {args.out} "
          f"(PS3.15 {result.edition}; options: {', '.join(sorted(o.cli_name for o in result.options))}); "
          f"self-check passed")
    if result.quarantined:
        print(f"{len(result.quarantined)} file(s) quarantined in {request.quarantine_folder}:", file=sys.stderr)
        for item in result.quarantined:
            print(f"  {item.source}: {item.reason}", file=sys.stderr)
        return InputRefused.exit_code  # some input was not de-identified
    return 0


def cmd_anonymize_crosswalk(args: argparse.Namespace) -> int:
    print(json.dumps(app.read_crosswalk(context(args), Path(args.file)), indent=2, sort_keys=True))
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    from device_ai.dicom.deidentify.options import Option

    names = ", ".join(o.cli_name for o in Option if o is not Option.BASIC)
    anonymize = add("anonymize", cmd_anonymize, "de-identify DICOM files or folders (PS3.15 Basic Profile + options)")
    anonymize.add_argument("input", nargs="+", help="DICOM files or folders (never modified)")
    anonymize.add_argument("out", help="output folder to create (must not exist or be empty)")
    anonymize.add_argument("--option", action="append", metavar="NAME", help=f"add an option (repeatable): {names}")
    anonymize.add_argument("--crosswalk", metavar="FILE", help="also write the encrypted original-to-pseudonym crosswalk")
    anonymize.add_argument("--quarantine", metavar="DIR", help="folder for refused originals (default: OUT-quarantine)")
    anonymize.add_argument("--pixel-rules", metavar="FILE", help="JSON regions to blank for --option clean-pixel-data")
    crosswalk = add("anonymize-crosswalk", cmd_anonymize_crosswalk,
                    "decrypt a crosswalk written by this device (authorised re-identification; audited)")
    crosswalk.add_argument("file")
