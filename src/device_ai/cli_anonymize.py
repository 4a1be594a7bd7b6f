"""``device-ai anonymize`` and ``device-ai anonymize-crosswalk``: the de-identification path
(PS3.15 Annex E), wired to the audit trail. Registered by ``cli.build_parser``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_QUARANTINED = 3  # the InputRefused family: some input was not de-identified


def cmd_anonymize(args: argparse.Namespace, progress: Callable[[int, int], None]) -> int:
    from device_ai.audit.entry import DEIDENTIFICATION, Outcome
    from device_ai.audit.log import AuditLog
    from device_ai.dicom.deidentify.burned_in import load_pixel_rules
    from device_ai.dicom.deidentify.crosswalk import write_crosswalk
    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
    from device_ai.errors import DeidentificationFailed

    options = parse_options(args.option or [])
    rules = load_pixel_rules(Path(args.pixel_rules)) if args.pixel_rules else ()
    out = Path(args.out)
    quarantine = Path(args.quarantine) if args.quarantine else out.with_name(out.name + "-quarantine")
    deidentifier = Deidentifier(RunConfig(options=options, pixel_rules=rules))
    with AuditLog.open() as log:
        details = {"options": ",".join(sorted(o.cli_name for o in deidentifier.policy.options)),
                   "table_edition": deidentifier.table.edition}
        try:
            result = deidentifier.run([Path(p) for p in args.input], out, quarantine, progress=progress)
        except DeidentificationFailed:
            log.append(DEIDENTIFICATION, outcome=Outcome.SERIOUS_FAILURE, action="C",
                       details={**details, "self_check": "failed"})
            raise
        if args.crosswalk:
            assert result.replacer is not None
            write_crosswalk(Path(args.crosswalk), result.replacer)
        log.append(DEIDENTIFICATION, action="C",
                   outcome=Outcome.MINOR_FAILURE if result.quarantined else Outcome.SUCCESS,
                   details={**details, "files": str(result.files_in), "written": str(len(result.written)),
                            "quarantined": str(len(result.quarantined)), "self_check": "passed",
                            "crosswalk": "yes" if args.crosswalk else "no"})
    print(f"de-identified {len(result.written)} of {result.files_in} file(s) into {out} "
          f"(PS3.15 {result.edition}; options: {', '.join(sorted(o.cli_name for o in result.options))}); "
          f"self-check passed")
    if result.quarantined:
        print(f"{len(result.quarantined)} file(s) quarantined in {quarantine}:", file=sys.stderr)
        for item in result.quarantined:
            print(f"  {item.source}: {item.reason}", file=sys.stderr)
        return EXIT_QUARANTINED
    return 0


def cmd_anonymize_crosswalk(args: argparse.Namespace) -> int:
    from device_ai.audit.entry import DEIDENTIFICATION
    from device_ai.audit.log import AuditLog
    from device_ai.dicom.deidentify.crosswalk import read_crosswalk

    content = read_crosswalk(Path(args.file))
    with AuditLog.open() as log:  # re-identification is itself an audited event
        log.append(DEIDENTIFICATION, action="R", details={"crosswalk_read": "yes",
                                                           "patients": str(len(content.get("patients", {})))})
    print(json.dumps(content, indent=2, sort_keys=True))
    return 0


def register(add: Callable[..., argparse.ArgumentParser], progress: Callable[[str], Callable[[int, int], None]]) -> None:
    """Add the de-identification commands to the main parser (``add`` is cli.build_parser's)."""
    from device_ai.dicom.deidentify.options import Option

    names = ", ".join(o.cli_name for o in Option if o is not Option.BASIC)
    anonymize = add("anonymize", lambda a: cmd_anonymize(a, progress("de-identifying files")),
                    "de-identify DICOM files or folders (PS3.15 Basic Profile + options)")
    anonymize.add_argument("input", nargs="+", help="DICOM files or folders (never modified)")
    anonymize.add_argument("out", help="output folder to create (must not exist or be empty)")
    anonymize.add_argument("--option", action="append", metavar="NAME", help=f"add an option (repeatable): {names}")
    anonymize.add_argument("--crosswalk", metavar="FILE", help="also write the encrypted original-to-pseudonym crosswalk")
    anonymize.add_argument("--quarantine", metavar="DIR", help="folder for refused originals (default: OUT-quarantine)")
    anonymize.add_argument("--pixel-rules", metavar="FILE", help="JSON regions to blank for --option clean-pixel-data")
    crosswalk = add("anonymize-crosswalk", cmd_anonymize_crosswalk,
                    "decrypt a crosswalk written by this device (authorised re-identification; audited)")
    crosswalk.add_argument("file")
