"""``audit verify | verify-results | show | export | verify-export | public-key``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from device_ai.app import audit_trail
from device_ai.cli.common import optional_path
from device_ai.dicom.paths import printable
from device_ai.errors import AuditIntegrityError

NO_ENTRIES = "no audit entries yet: this device has not recorded any action"


def cmd_audit_verify(args: argparse.Namespace) -> int:
    report = audit_trail.verify(optional_path(args.dir), args.key, [Path(p) for p in args.checkpoint])
    if report is None:
        print(f"OK: {NO_ENTRIES} (nothing to verify)")
        return 0
    for problem in report.problems:
        print(f"FAIL: {printable(problem)}")  # problems quote checkpoint notes kept in shared folders
    if skipped := report.skipped_line():
        print(printable(skipped))  # it names other logs' folders of a shared copy location (review 140 D4)
    if report.ok:
        print(f"OK: {report.records} records, root {report.root.hex()}, {len(report.checkpoints)} checkpoint(s) "
              "verified and consistent")
        return 0
    return AuditIntegrityError.exit_code


def cmd_audit_verify_results(args: argparse.Namespace) -> int:
    from device_ai.app.result_check import verify_results

    check = verify_results(Path(args.folder), audit_dir=optional_path(args.dir), key=args.key,
                           checkpoints=[Path(p) for p in args.checkpoint], only=args.only or None)
    print(f"OK: audit log verified ({check.records} records)")
    print(f"{check.folder}: published by audit entry {check.entry.seq} ({check.entry.event}, {check.entry.time_utc}), "
          f"which lists {len(check.entry.files)} file(s)")
    for state in check.states:
        # the folder's file names are anyone's: one that is not the device's may carry escape codes
        print(f"  {state.state:<12} {printable(state.name)}{f' ({printable(state.note)})' if state.note else ''}")
    if not check.ok:
        raise check.failure()
    print(f"OK: all {len(check.states)} file(s) are as the device published them")
    return 0


def _selection(args: argparse.Namespace) -> audit_trail.EntryFilter:
    return audit_trail.entry_filter(args.since, args.until, args.event, args.study)


def cmd_audit_show(args: argparse.Namespace) -> int:
    total, shown = audit_trail.entries(optional_path(args.dir), _selection(args))
    if not total:
        print(NO_ENTRIES)
        return 0
    print(f"{'seq':>6} {'time (UTC)':<27} {'event':<28} {'outcome':<15} {'user':<10} objects  details")
    for entry in shown:
        objects = " ".join(f"{o['kind']}={o['id'][:24]}" for o in entry["objects"])
        print(f"{entry['seq']:6d} {entry['time_utc']:<27} {entry['event']['meaning']:<28} "
              f"{audit_trail.outcome_text(entry['outcome']):<15} {entry['actor']['user']:<10} {objects} "
              f"{json.dumps(entry['details'], sort_keys=True)}")
    print(f"{len(shown)} of {total} entries shown", file=sys.stderr)
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from device_ai.app import audit_export

    if args.out is None and args.proof is None:
        for line in audit_export.export_lines(optional_path(args.dir), args.format, _selection(args)):
            print(line)
        return 0
    written = audit_export.write_proven_export(optional_path(args.dir), args.format, _selection(args),
                                               out=optional_path(args.out), proof=optional_path(args.proof))
    if written is None:
        print(f"{NO_ENTRIES} (nothing exported)", file=sys.stderr)
        return 0
    if written.export is None:
        for line in written.lines:
            print(line)
    where = f"{written.export} and its proof bundle " if written.export else "proof bundle "
    print(f"wrote {where}{written.proof}: {written.records} record(s), proven against the checkpoint of size "
          f"{written.size}; the receiver checks them with `device-ai audit verify-export "
          f"{written.export or 'EXPORT'} --proof {written.proof} --key <verifier key>`", file=sys.stderr)
    return 0


def cmd_audit_verify_export(args: argparse.Namespace) -> int:
    from device_ai.app import audit_export

    check = audit_export.verify_export(Path(args.export), optional_path(args.proof), args.key)
    head = check.checkpoint
    which = ("the whole log" if check.whole_log else
             f"the filter {', '.join(f'{k}={v}' for k, v in sorted(check.selection.items()))} (as the bundle states it; "
             "the checkpoint does not sign which records were chosen)")
    print(printable(f"OK: {len(check.indices)} {check.export_format} record(s) of {args.export} are, byte for byte, "
                    f"the device's rendering of leaves proven in the log {head.origin}, signed checkpoint of size "
                    f"{head.size}, root {head.root.hex()}; selection: {which}"))
    return 0


def cmd_audit_public_key(args: argparse.Namespace) -> int:  # noqa: ARG001
    from device_ai.audit.log import default_folder, device_verifier_key

    print(device_verifier_key(default_folder()))
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    audit = add("audit", None, "tamper-evident audit trail commands")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = add("verify", cmd_audit_verify, "verify every record, the tree and the signed checkpoints", sub)
    verify.add_argument("--checkpoint", action="append", default=[], help="a checkpoint note kept elsewhere, or a folder of them such as a copy location (its flat notes and this log's subfolder; repeatable); the configured audit_copy_dir is always checked for this device's own log; in a shared folder, notes of other logs are counted as not ours, not checked; in the log's own folders (and its subfolder) a note of another key or origin fails")
    verify.add_argument("--key", help="checkpoint verifier key (default: this device's; off-site, pass the one pinned when the log was made)")
    verify.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    results = add("verify-results", cmd_audit_verify_results,
                  "verify the audit log, then check a result folder against the entry that published it: each file "
                  "unchanged, altered, missing, or not published by the device (SRS-222)", sub)
    results.add_argument("folder", metavar="RESULT_FOLDER", help="the folder the results were written into")
    results.add_argument("--only", action="append", metavar="NAME",
                         help="the folder holds a copy of part of the result: this file must be there (repeatable), "
                              "the result's other files may be absent (compared when present); a node folder "
                              "destination holds segmentation.dcm and measurements.dcm only")
    results.add_argument("--checkpoint", action="append", default=[], help="as for `audit verify`")
    results.add_argument("--key", help="as for `audit verify` (off-site, the verifier key pinned when the log was made)")
    results.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    show = add("show", cmd_audit_show, "list entries, filtered by time, event or study pseudonym; outcome is "
               "PS3.15's: success, minor failure (refused input or arguments), serious failure", sub)
    show.add_argument("--since", help=f"from this time: {audit_trail.TIME_FORMS}")
    show.add_argument("--until", help="up to this time (same forms)")
    show.add_argument("--event", help="event code or meaning, e.g. DAI004 or 'Analysis Run'")
    show.add_argument("--study", help="study pseudonym")
    show.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    export = add("export", cmd_audit_export, "export entries: leaves (base64 leaf bytes), fhir, atna; with --out, "
                 "also a proof bundle that lets the receiver verify the export (audit verify-export)", sub)
    export.add_argument("--format", choices=("leaves", "fhir", "atna"), default="leaves")
    export.add_argument("--out", help="write the export to this file, and its proof bundle beside it as "
                                      "<file>.proof.json (default: standard output, without a bundle)")
    export.add_argument("--proof", help="write the proof bundle here (also for an export to standard output): the "
                                        "signed checkpoint and each record's leaf bytes and inclusion proof")
    export.add_argument("--since", help=f"from this time: {audit_trail.TIME_FORMS}")
    export.add_argument("--until", help="up to this time (same forms)")
    export.add_argument("--event", help="event code or meaning, e.g. DAI004 or 'Analysis Run'")
    export.add_argument("--study", help="study pseudonym")
    export.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    verify_export = add("verify-export", cmd_audit_verify_export,
                        "check an audit export against its proof bundle with the device's verifier key, off the "
                        "device: the checkpoint's signature, each record's inclusion proof, and that every line is "
                        "the device's rendering of its proven leaf (SRS-224)", sub)
    verify_export.add_argument("export", metavar="EXPORT", help="the export file (leaves, fhir or atna)")
    verify_export.add_argument("--proof", metavar="BUNDLE",
                               help="its proof bundle (default: EXPORT.proof.json, beside the export)")
    verify_export.add_argument("--key", required=True, metavar="VKEY",
                               help="the device's checkpoint verifier key, as `device-ai audit public-key` prints it "
                                    "(the one pinned when the log was made)")
    add("public-key", cmd_audit_public_key, "print the checkpoint verifier key (C2SP signed-note vkey)", sub)
