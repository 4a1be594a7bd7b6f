"""``audit export`` and ``audit verify-export`` (SRS-224, threat THR-035).

An export written to a file (``--out``) always gets its proof bundle beside it, named
``<export>.proof.json`` (or ``--proof``): an export without its bundle cannot be checked by its
receiver, and a bundle named after its export travels with it. An export to standard output (a
pipe into a SIEM importer) writes a bundle only with ``--proof``, since it has no place beside.

Verifying needs the export, its bundle and the verifier key only: no setting, no device home.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from device_ai.app import preconditions
from device_ai.app.audit_trail import EntryFilter, filter_value_problem, folder_of
from device_ai.atomic_io import atomic_write_bytes
from device_ai.audit.checkpoint import parse_verifier_key
from device_ai.errors import AuditIntegrityError, ConfigError

PROOF_SUFFIX = ".proof.json"


def proof_beside(export: Path) -> Path:
    return Path(export).with_name(Path(export).name + PROOF_SUFFIX)


@dataclass(frozen=True)
class WrittenExport:
    lines: list[str]  # printed by the caller when the export goes to standard output
    export: Path | None
    proof: Path
    records: int
    size: int  # of the signed checkpoint the records are proven against


def _selection(selection: EntryFilter) -> dict[str, str]:
    return {k: v for k, v in dataclasses.asdict(selection).items() if v is not None}


def export_lines(folder: Path | None, fmt: str, selection: EntryFilter) -> Iterator[str]:
    """The export without a bundle (standard output, no --proof): read-only, no key needed."""
    from device_ai.audit.export import export_lines as lines

    return lines(folder_of(folder), fmt, selection.matches if _selection(selection) else None)


def has_entries(folder: Path | None) -> bool:
    from device_ai.audit.log import log_bytes
    from device_ai.audit.store import scan

    return bool(scan(log_bytes(folder_of(folder))).records)


def write_proven_export(folder: Path | None, fmt: str, selection: EntryFilter, *, out: Path | None,
                        proof: Path | None) -> WrittenExport | None:
    """Write the export to ``out`` (unless None) and its proof bundle to ``proof`` (beside ``out``
    by default); None, writing nothing, when the log holds no entry (no key is made for it)."""
    from device_ai.audit.export_proof import proven_export

    proof = Path(proof) if proof is not None else proof_beside(Path(out))  # type: ignore[arg-type]
    for path, option in ((out, "--out"), (proof, "--proof")):
        if path is not None:
            preconditions.check_output_file(Path(path), option)
    if out is not None and Path(out).absolute() == proof.absolute():
        raise ConfigError(f"--out and --proof name the same file {out}",
                          hint=f"leave --proof out: the bundle is written to {proof_beside(Path(out))}")
    if not has_entries(folder):
        return None
    made = proven_export(folder_of(folder), fmt, selection.matches if _selection(selection) else None,
                         _selection(selection))
    if out is not None:
        atomic_write_bytes(Path(out), made.export_bytes())
    atomic_write_bytes(proof, made.bundle.to_bytes())
    return WrittenExport(made.lines, Path(out) if out is not None else None, proof, len(made.lines),
                         made.checkpoint.size)


def verify_export(export: Path, proof: Path | None, key: str):  # noqa: ANN201 - VerifiedExport
    """Check ``export`` against its bundle (beside it by default) with the verifier key ``key``."""
    from device_ai.audit.export_verify import verify_export as check

    proof = Path(proof) if proof is not None else proof_beside(Path(export))
    try:
        verifier = parse_verifier_key(key)
    except AuditIntegrityError as exc:
        raise ConfigError(f"--key is not a checkpoint verifier key ({exc.message})",
                          hint="pass the verifier key as `device-ai audit public-key` prints it on the device "
                               "(one line 'origin+keyID+key'), as text: --key \"$(cat FILE)\"") from exc
    return check(_read(export, "EXPORT"), _read(proof, "--proof"), verifier, export_name=str(export),
                 bundle_name=str(proof), selection_test=_stated_filter)


def _stated_filter(selection: dict[str, str]):  # noqa: ANN202 - Callable[[dict], bool]
    """The test of the filter a bundle states (keys of EntryFilter); a ValueError saying why it is not
    one an export makes. An empty value filters nothing, so it is no selection an export makes
    (review 131)."""
    keys = [field.name for field in dataclasses.fields(EntryFilter)]
    if set(selection) - set(keys):  # not quoted: the message quotes the selection, each key cut short
        raise ValueError(f"it holds a key that is not one of the filter's ({', '.join(keys)})")
    empty = sorted(key for key, value in selection.items() if not (isinstance(value, str) and value.strip()))
    if empty:
        raise ValueError(f"{', '.join(empty)} is empty")
    # the OK line shows the stated filter: a value a terminal would not print as written (CR, escape codes)
    # could redraw it as another line (review 132 defect 1)
    unreadable = sorted(key for key, value in selection.items() if not value.isprintable())
    if unreadable:
        raise ValueError(f"{', '.join(unreadable)} holds characters that are not printable")
    # ... and each value is of its key's type, as audit export writes it: the OK line shows it, and a
    # printable value of any length scrolled the filter off the screen (review 133 defect 1b)
    mistyped = [problem for key, value in sorted(selection.items()) if (problem := filter_value_problem(key, value))]
    if mistyped:
        raise ValueError("; ".join(mistyped))
    return EntryFilter(**selection).matches


def _read(path: Path, option: str) -> bytes:
    info = preconditions.check_input_path(Path(path), option)
    if info is None:
        raise ConfigError(f"{option} {path} does not exist",
                          hint="give the export file and its bundle (written beside it as <export>.proof.json)")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read it ({exc.strerror or exc})",
                          hint="give a readable file") from exc
