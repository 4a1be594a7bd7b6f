"""``anonymize`` (PS3.15 Annex E) and reading its crosswalk, each an audited action.

Order of a run: every file de-identified into the private staging folder (a file the
self-check or anything else refuses is quarantined alone), the quarantine copies and the
report written, then the crosswalk written under a pending name, then the De-identification
entry made durable, then the crosswalk linked to its name, and only then the output folder
published in one rename. A failure before the entry publishes nothing and is recorded as a
failure; a failure after it (the crosswalk link, the rename) is recorded as a failure that
supersedes the success. ``clean-pixel-data`` without ``--pixel-rules`` is refused (it would
clean nothing). Files are read within the configured limits (``Context.read_limits``, as for
``analyze``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from device_ai.app import preconditions
from device_ai.atomic_io import fsync_directory
from device_ai.app.audited import audited
from device_ai.app.context import Context
from device_ai.audit.entry import DEIDENTIFICATION, Outcome
from device_ai.errors import DeidentificationConfigError, DeidentificationFailed, OutputError, OutputRefused


@dataclass(frozen=True)
class AnonymizeRequest:
    inputs: list[Path]
    out: Path
    options: list[str] = field(default_factory=list)  # option names as on the command line
    crosswalk: Path | None = None
    quarantine: Path | None = None  # default: OUT-quarantine beside OUT
    pixel_rules: Path | None = None

    @property
    def quarantine_folder(self) -> Path:
        return Path(self.quarantine) if self.quarantine else Path(self.out).with_name(Path(self.out).name + "-quarantine")


def anonymize(ctx: Context, request: AnonymizeRequest):  # noqa: ANN201 - deidentify.run.RunResult
    """De-identify ``request.inputs`` into the new folder ``request.out``; returns the run's
    result (its ``quarantined`` list names the inputs that were not de-identified)."""
    from device_ai.dicom.deidentify.burned_in import load_pixel_rules
    from device_ai.dicom.deidentify.crosswalk import write_crosswalk
    from device_ai.dicom.deidentify.options import Option, parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig

    with ctx.open_audit_log() as log, audited(log, DEIDENTIFICATION) as action:
        options = parse_options(request.options)
        rules = load_pixel_rules(Path(request.pixel_rules)) if request.pixel_rules else ()
        if Option.CLEAN_PIXEL_DATA in options and not rules:
            # Without rules nothing would be cleaned: refused rather than selected and not done
            raise DeidentificationConfigError(
                "option clean-pixel-data needs --pixel-rules: without configured regions no pixel is cleaned",
                hint="pass --pixel-rules FILE with the regions to blank, or run without clean-pixel-data "
                     "(instances that may carry burned-in text are then quarantined)")
        preconditions.check_output_folder(request.out, "OUT")
        preconditions.check_output_place(request.quarantine_folder, "--quarantine")  # a link, a file, too long: refused
        if request.crosswalk is not None:
            _check_new_crosswalk(Path(request.crosswalk))
        deidentifier = Deidentifier(RunConfig(options=options, pixel_rules=rules, limits=ctx.read_limits()))
        action.details = {"options": ",".join(sorted(o.cli_name for o in deidentifier.policy.options)),
                          "table_edition": deidentifier.table.edition}
        crosswalk_written: list[Path] = []

        def before_commit(result) -> None:  # noqa: ANN001
            # The crosswalk is written under a hidden name and gets its own name only once the
            # entry is durable, so no crosswalk exists for a run the trail does not record.
            pending = None
            if request.crosswalk is not None:
                final = Path(request.crosswalk)
                pending = final.with_name(f".{final.name}.pending")
                crosswalk_written.append(pending)  # removed on failure even if the write is cut short
                try:
                    write_crosswalk(pending, result.replacer)
                except OSError as exc:  # (the atomic writer reports its own as OutputError)
                    raise OutputError(f"could not write the crosswalk {request.crosswalk}: {exc.strerror or exc}; "
                                      "nothing was published", hint="check the crosswalk location") from exc
            withheld = result.withheld_by_self_check
            action.succeeded({"files": str(result.files_in), "written": str(len(result.written)),
                              "quarantined": str(len(result.quarantined)), "skipped": str(len(result.skipped)),
                              "self_check": f"withheld {withheld}" if withheld else "passed",
                              "crosswalk": "yes" if request.crosswalk else "no"},
                             outcome=Outcome.MINOR_FAILURE if result.quarantined else Outcome.SUCCESS)
            if pending is not None:
                try:  # a link never replaces a file that appeared since the precondition check
                    os.link(pending, request.crosswalk)
                    crosswalk_written.append(Path(request.crosswalk))  # ours only once the link exists
                    os.unlink(pending)
                    fsync_directory(Path(request.crosswalk).parent)
                except OSError as exc:
                    raise OutputError(f"could not write the crosswalk {request.crosswalk}: {exc.strerror or exc}; "
                                      "nothing was published", hint="check the crosswalk location") from exc

        quarantine_existed = request.quarantine_folder.exists()
        try:
            return deidentifier.run([Path(p) for p in request.inputs], Path(request.out), request.quarantine_folder,
                                    progress=ctx.progress("de-identifying files"), before_commit=before_commit)
        except DeidentificationFailed:  # its quarantine is kept on purpose: it shows what leaked
            action.details["self_check"] = "failed"
            raise
        except BaseException:
            if not quarantine_existed:  # copies of identifiable originals of a run that was not published
                shutil.rmtree(request.quarantine_folder, ignore_errors=True)
            for path in crosswalk_written:  # the crosswalk of a run that was not published
                with contextlib.suppress(OSError):
                    path.unlink()
            raise


def _check_new_crosswalk(path: Path) -> None:
    preconditions.check_output_file(path, "--crosswalk")  # first: a name too long is refused, not an OSError
    if path.exists() or path.is_symlink():
        raise OutputRefused(f"--crosswalk {path} already exists; it may be the only way back from an earlier run",
                          hint="give --crosswalk a new file name")


def read_crosswalk(ctx: Context, path: Path) -> dict:
    """Decrypt a crosswalk (authorised re-identification): every attempt is audited, a refused
    one (altered file, another device's key) as a failure."""
    from device_ai.dicom.deidentify.crosswalk import read_crosswalk as decrypt

    with ctx.open_audit_log() as log, audited(log, DEIDENTIFICATION, action="R") as action:
        action.details = {"crosswalk_read": "yes"}
        content = decrypt(Path(path))
        action.succeeded({"patients": str(len(content.get("patients", {})))})
    return content
