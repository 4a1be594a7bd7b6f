"""``anonymize`` and ``anonymize-crosswalk``: the de-identification path (PS3.15 Annex E)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from device_ai import app
from device_ai.cli.common import SCHEDULER_HELP, context, optional_path
from device_ai.errors import ConfigError, DeidentificationFailed, InputRefused


def cmd_anonymize(args: argparse.Namespace) -> int:
    """Exit 0: every file de-identified; 3: some quarantined (reason codes listed); 11: the
    self-check held back some files (quarantined), the others were published. With ``--batch``
    see :func:`cmd_anonymize_batch`."""
    from device_ai.dicom.deidentify.run import QUARANTINE_INDEX, REASON_CODES

    if args.batch:
        return cmd_anonymize_batch(args)
    if args.workers is not None or args.scheduler:
        raise ConfigError("--workers and --scheduler apply to --batch only", hint="add --batch, or leave them out")

    request = app.AnonymizeRequest(inputs=[Path(p) for p in args.input], out=Path(args.out),
                                   options=args.option or [], crosswalk=optional_path(args.crosswalk),
                                   quarantine=optional_path(args.quarantine), pixel_rules=optional_path(args.pixel_rules))
    result = app.anonymize(context(args), request)
    # Only labels, reason codes and counts: input names and paths stay in the quarantine index.
    withheld = result.withheld_by_self_check
    print(f"de-identified {len(result.written)} of {result.files_in} file(s) into {args.out} "
          f"(PS3.15 {result.edition}; options: {', '.join(sorted(o.cli_name for o in result.options))}); "
          + (f"self-check held back {withheld} file(s)" if withheld else "self-check passed"))
    if result.skipped:
        print(f"{len(result.skipped)} entry(ies) skipped (hidden files, DICOMDIR, links to folders); "
              f"listed in {request.quarantine_folder / QUARANTINE_INDEX}", file=sys.stderr)
    if result.quarantined:
        print(f"{len(result.quarantined)} file(s) quarantined in {request.quarantine_folder} "
              f"(sources in {QUARANTINE_INDEX}):", file=sys.stderr)
        for item in result.quarantined:
            print(f"  {item.label} [{item.code}]: {REASON_CODES[item.code]}", file=sys.stderr)
    if withheld:
        print(f"error {DeidentificationFailed.code}: the self-check found identifying input values in the output of "
              f"{withheld} file(s); those were held back (quarantined), the other files were published",
              file=sys.stderr)
        return DeidentificationFailed.exit_code
    if result.quarantined:
        return InputRefused.exit_code  # some input was not de-identified
    return 0


def cmd_anonymize_batch(args: argparse.Namespace) -> int:
    """A job over the studies under one folder (device_ai.batch); the exit code is the job's
    (``JobResult.exit_code``: 0, 3, 11, or a failed unit's error exit code)."""
    from device_ai.batch import BatchAnonymizeRequest, anonymize_batch

    if len(args.input) != 1:
        raise ConfigError(f"--batch takes one input folder and OUT, not {len(args.input)} inputs",
                          hint="device-ai anonymize --batch IN OUT")
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        raise ConfigError(f"--workers {args.workers}: give a number of local worker processes from 1, "
                          "and not with --scheduler (the cluster has its own)", hint="e.g. --workers 2")
    request = BatchAnonymizeRequest(input=Path(args.input[0]), out=Path(args.out), options=args.option or [],
                                    quarantine=optional_path(args.quarantine), pixel_rules=optional_path(args.pixel_rules),
                                    crosswalk=optional_path(args.crosswalk), workers=args.workers or 0,
                                    scheduler=args.scheduler)
    result = anonymize_batch(context(args), request)
    print(f"batch job {result.job}: {result.units} unit(s) (studies) under {args.input[0]}; "
          f"{result.published} published now, {result.already_published} published before (skipped), "
          f"{len(result.failed)} failed" + (f", {result.resumed} completed after an interrupted run" if result.resumed
                                            else "") + (f"; ran on {result.engine}" if result.engine else ""))
    print(f"files: {result.written} de-identified into {args.out}, {result.quarantined} quarantined in "
          f"{request.quarantine_folder}, {result.skipped} skipped (PS3.15 {result.edition}; options: {result.options})")
    if args.crosswalk:
        print(f"crosswalk of the {result.already_published + result.published} published unit(s): {args.crosswalk} "
              "(encrypted)")
    for unit, code in sorted(result.failed.items()):
        print(f"  unit {unit} [{code}]: not published; the ledger keeps it for the next run", file=sys.stderr)
    if result.withheld:
        print(f"error {DeidentificationFailed.code}: the self-check held back {result.withheld} file(s) (quarantined)",
              file=sys.stderr)
    return result.exit_code


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
    anonymize.add_argument("--batch", action="store_true",
                           help="IN is a folder of studies: de-identify them as a resumable job (one unit per study) "
                                "on a local Dask cluster; re-run the same command to resume")
    anonymize.add_argument("--workers", type=int, metavar="N", help="--batch: local worker processes (default: cores)")
    anonymize.add_argument("--scheduler", metavar="ADDR", help=SCHEDULER_HELP)
    crosswalk = add("anonymize-crosswalk", cmd_anonymize_crosswalk,
                    "decrypt a crosswalk written by this device (authorised re-identification; audited)")
    crosswalk.add_argument("file")
