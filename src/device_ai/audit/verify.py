"""``audit verify``: every record, the tree against every checkpoint, consistency between
checkpoints (SRS-028), and who signed them (SRS-156). Read-only: verification never cuts or
repairs anything.

The log's own folders (``checkpoints/``, ``checkpoint.note``, its own subfolder of a copy
location) hold its notes only: a note there that another key or another origin signed is a
problem (the key or origin changed, or the note was planted), never "another log's". A folder
shared by several devices (a common copy location, a --checkpoint folder) also holds other
logs' notes: there a note without a signature of this log's key is counted as not ours, and
a note that carries one must verify. The signer recorded beside the log (``signer.vkey``)
must be the key it is verified with; when it is not, that is a problem and the notes of the
recorded signer are verified too, so that a rewrite still shows against them. Roots and
consistency proofs come from one :class:`~device_ai.audit.merkle.MerkleTree` built over the
log once, so verification is near-linear in the log, however many checkpoints there are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai.audit import merkle
from device_ai.audit.checkpoint import (Checkpoint, claimed_origin, parse_checkpoint, parse_verifier_key, signed_by,
                                        signed_under_other_origin, verifier_key, verify_note)
from device_ai.audit.copyplace import OwnKeyElsewhere, own_key_under_other_origins
from device_ai.audit.identity import SIGNER_NAME, describe, foreign_signer, own_key_problem, read_signer
from device_ai.audit.log import (KEY_NAME, LOG_NAME, OtherLog, copy_subfolder, default_folder, device_verifier_key,
                                 log_bytes, origin_copy_notes, origin_name, other_logs)
from device_ai.audit.notefiles import CHECKPOINT_DIR, LATEST_NAME, notes_in, read_note
from device_ai.audit.store import scan
from device_ai.config import Settings, load_settings
from device_ai.errors import AuditIntegrityError, ConfigError
from device_ai.keystore import key_path

# Devices that never set audit_origin share this name: a note under it signed by another key may
# be another device's. A site-chosen origin names one log: another key under it is a problem.
DEFAULT_ORIGIN = Settings.model_fields["audit_origin"].default
CHANGED = ("the audit key file or the audit_origin setting changed since it was written, or the note was planted; "
           "a log is signed by one key under one origin (docs/key_custody.md)")


@dataclass
class VerifyReport:
    records: int
    root: bytes
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_ours: int = 0  # notes of other logs found in shared folders, skipped
    not_ours_naming_us: int = 0  # of those, the ones whose origin line is this log's name
    other_logs: list[OtherLog] = field(default_factory=list)  # the other logs' subfolders, by name

    @property
    def ok(self) -> bool:
        return not self.problems

    def skipped_line(self) -> str | None:
        """What was skipped, for the operator; None when every note was ours."""
        if not self.not_ours:
            return None
        line = (f"not ours: {self.not_ours} note(s) of other origins skipped (not signed by this log's key, or in "
                "another log's subfolder of a copy location)")
        if self.not_ours_naming_us:
            line += (f"; {self.not_ours_naming_us} of them name this log's origin but are signed by another key: "
                     "do several devices share the origin name? give each its own audit_origin; if not, this log's "
                     "key was replaced: verify with the pinned verifier key (--key)")
        if self.other_logs:
            shown = "; ".join(log.label() for log in self.other_logs[:5])
            more = f"; and {len(self.other_logs) - 5} more" if len(self.other_logs) > 5 else ""
            line += f". Other logs in the copy location (check that each is a known device): {shown}{more}"
        return line


def _read_checkpoint(note: bytes, name: str, key: Ed25519PublicKey) -> Checkpoint:
    checkpoint = parse_checkpoint(verify_note(note, name, key))
    if checkpoint.origin != name:
        raise AuditIntegrityError(f"checkpoint is for log {checkpoint.origin!r}, not {name!r}")
    return checkpoint


def _check_against_log(path: Path, checkpoint: Checkpoint, tree: merkle.MerkleTree) -> str | None:
    if checkpoint.size > len(tree):
        return (f"{path.name}: signed tree has {checkpoint.size} records but the log holds {len(tree)}: "
                f"records {len(tree)} to {checkpoint.size - 1} are missing (truncated)")
    if tree.root(checkpoint.size) != checkpoint.root:
        return f"{path.name}: the first {checkpoint.size} records do not match the signed root: the log was rewritten"
    return None


def _check_consistency(report: VerifyReport, tree: merkle.MerkleTree) -> None:
    ordered = sorted({(c.size, c.root) for c in report.checkpoints})
    for (size1, root1), (size2, root2) in zip(ordered, ordered[1:]):
        if size1 == 0 or size2 > len(tree) or size1 == size2:
            if size1 == size2 and root1 != root2:
                report.problems.append(f"two checkpoints of size {size1} disagree: the log forked")
            continue
        try:
            proof = tree.consistency_proof(size1, size2)
            merkle.verify_consistency(size1, size2, proof, root1, root2)
        except merkle.ProofError as exc:
            report.problems.append(f"checkpoints {size1} and {size2} are not consistent: {exc}")


def _signers(folder: Path, vkey: str) -> tuple[list[tuple[str, Ed25519PublicKey]], str | None]:
    """The key ``vkey`` names, then the signer recorded beside the log when it is another, with
    the problem that is (its notes are still verified, with its own key)."""
    name, key = parse_verifier_key(vkey)
    try:
        recorded = read_signer(folder)
    except AuditIntegrityError as exc:
        return [(name, key)], exc.message
    if recorded is None or recorded == verifier_key(name, key):
        return [(name, key)], None
    problem = (f"{Path(folder) / SIGNER_NAME}: this log is signed as {describe(recorded)}, but it is verified as "
               f"{describe(verifier_key(name, key))}: the audit key file or the audit_origin setting changed since "
               "(or this file was altered); verify with the pinned verifier key (--key) and restore the key or origin")
    return [(name, key), parse_verifier_key(recorded)], problem


def _foreign_problems(foreign: dict[tuple[Path, str], list[Path]]) -> list[str]:
    """One problem per folder and reason: each note named when there are few, else the first."""
    problems = []
    for (folder, reason), paths in foreign.items():
        if len(paths) <= 3:
            problems += [f"{path}: this log's own checkpoint {reason}: {CHANGED}" for path in paths]
        else:
            problems.append(f"{len(paths)} checkpoints in this log's own folder {folder} (the first: {paths[0].name}) "
                            f"each {reason}: {CHANGED}")
    return problems


def verify_log(folder: Path, verifier_key: str, extra: list[Path] | None = None,
               other_logs: list[OtherLog] | None = None, *, own: list[Path] | None = None,
               own_key_elsewhere: list[OwnKeyElsewhere] | None = None) -> VerifyReport:
    """Check the log in ``folder``; problems are collected, the first bad record named.

    Its ``checkpoints/``, ``checkpoint.note`` and ``own`` (its subfolder of a copy location)
    must hold its notes only; ``extra`` are notes from shared folders, where a note without a
    signature of this log's key is another log's, unless this log's key signed it under
    another origin (a problem, as is each folder of ``own_key_elsewhere``). ``other_logs``: the
    other logs' subfolders of the copy locations, counted as not ours without being read."""
    folder = Path(folder)
    data = log_bytes(folder)  # a missing log is an empty one: checkpoints then show what was lost
    result = scan(data)
    tree = merkle.MerkleTree(merkle.hash_leaf(r.payload) for r in result.records)
    report = VerifyReport(records=len(tree), root=tree.root(), other_logs=list(other_logs or []))
    if result.problem:
        report.problems.append(result.problem)
    elif result.torn_bytes:
        report.problems.append(f"record {len(tree)} at byte {result.good_end}: incomplete ({result.torn_bytes} "
                               "bytes; torn write, never acknowledged)")
    signers, signer_problem = _signers(folder, verifier_key)
    report.problems += [signer_problem] if signer_problem else []
    name, key = signers[0]
    report.problems += [own_key_problem(found, name, key) for found in own_key_elsewhere or []]
    checkpoints = folder / CHECKPOINT_DIR
    if os.path.lexists(checkpoints) and (checkpoints.is_symlink() or not checkpoints.is_dir()):
        report.problems.append(f"{checkpoints}: not a folder (a file or a link): this log's checkpoints are not "
                               "where they belong; restore the folder from its backup")
    latest = folder / LATEST_NAME
    local = [*notes_in(folder / CHECKPOINT_DIR), *([latest] if os.path.lexists(latest) else [])]
    sources = [(path, True) for path in [*local, *(own or [])]] + [(path, False) for path in extra or []]
    foreign: dict[tuple[Path, str], list[Path]] = {}
    naming_us_elsewhere = 0
    for path, must_be_ours in sources:
        try:
            note = read_note(path)
        except AuditIntegrityError as exc:  # unreadable, too large, not a file: a problem, never a crash
            report.problems.append(exc.message)
            continue
        try:
            signer = next(((n, k) for n, k in signers if signed_by(note, n, k)), None)
            if signer is None and must_be_ours:
                foreign.setdefault((path.parent, foreign_signer(note, name, key) or ""), []).append(path)
                continue
            if signer is None and (other := next(filter(None, (signed_under_other_origin(note, n, k)
                                                                for n, k in signers)), None)):
                report.problems.append(f"{path}: signed by this log's key under another origin {other!r}: {CHANGED}")
                continue
            if signer is None:
                report.not_ours += 1
                naming_us_elsewhere += claimed_origin(note) == name
                continue
            checkpoint = _read_checkpoint(note, *signer)
        except AuditIntegrityError as exc:
            report.problems.append(f"{path.name}: {exc.message}")
            continue
        except ValueError as exc:  # malformed (e.g. a root that is not base64): a problem, never a crash
            report.problems.append(f"{path}: cannot read the checkpoint ({exc})")
            continue
        if path == latest and any((c.size, c.root) == (checkpoint.size, checkpoint.root) for c in report.checkpoints):
            continue  # the copy of a note of checkpoints/, checked there
        report.checkpoints.append(checkpoint)
        if problem := _check_against_log(path, checkpoint, tree):
            report.problems.append(problem)
    report.problems += _foreign_problems(foreign)
    _count_other_logs(report, name, naming_us_elsewhere)
    _check_consistency(report, tree)
    return report


def _count_other_logs(report: VerifyReport, name: str, naming_us_elsewhere: int) -> None:
    """Count the other logs' notes; under a site-chosen origin, another key's notes naming it
    are a problem (under the default name they may be another device's)."""
    report.not_ours += sum(log.notes for log in report.other_logs)
    same_origin = [log for log in report.other_logs if log.same_origin and log.notes]
    report.not_ours_naming_us = naming_us_elsewhere + sum(log.notes for log in same_origin)
    if report.not_ours_naming_us and name != DEFAULT_ORIGIN:
        where = "; ".join(f"{log.location / log.folder}: {log.label()}" for log in same_origin) or "given notes"
        report.problems.append(
            f"{report.not_ours_naming_us} checkpoint(s) name this log's origin {name!r} but are signed by another key "
            f"({where}): this log's signing key was replaced, or another device uses the same audit_origin (give "
            "each device its own)")


def verify_trail(folder: Path | None, key: str | None, checkpoints: list[Path]) -> VerifyReport | None:
    """`audit verify`: the report, or None when there is nothing to verify (a new home: no
    log, no local checkpoint or signer, none given). ``folder`` None: this device's own log,
    whose notes in the configured copy location count too. A missing log with checkpoints is
    verified, and fails: the checkpoints prove that records existed."""
    own_log = folder is None
    if folder is not None:
        _refuse_non_folder(Path(folder))
    folder = Path(folder) if folder is not None else default_folder()
    pinned = _given_key(key) if key is not None else None
    given = [Path(path) for path in checkpoints]
    for path in given:
        _refuse_non_note(path)
    copy_dir = load_settings().audit_copy_dir if own_log else None
    beside = [folder / LOG_NAME, folder / LATEST_NAME, folder / SIGNER_NAME]
    nothing_here = not any(os.path.lexists(path) for path in beside) and not notes_in(folder / CHECKPOINT_DIR)
    origins = {origin_name(), *([pinned[0]] if pinned else [])}  # a pinned key's origin may not be the setting's
    in_copy = own_log and any(origin_copy_notes(copy_dir, origin) for origin in origins)
    # the device's key exists once a log was made: its notes may be in the copy location under another origin
    key_made = own_log and pinned is None and os.path.lexists(key_path(KEY_NAME))
    if nothing_here and not given and not in_copy and not key_made:
        return None  # a new home: no key is made just to verify nothing
    key = key or device_verifier_key(folder, only_existing=True)  # verifying never makes a key
    signers, _ = _signers(folder, key)  # a problem with them is reported by verify_log
    # a folder of notes may be a copy location shared by several devices: its own notes (the
    # layout before per-log subfolders) may be anyone's; this log's subfolders are its own
    locations = [path for path in given if path.is_dir()] + ([copy_dir] if copy_dir is not None else [])
    shared = [path for path in given if not path.is_dir()] + notes_in(*locations)
    own, others, elsewhere = [], [], []
    for place in locations:
        ours = {copy_subfolder(place, name, public).name for name, public in signers}
        own += notes_in(*(Path(place) / sub for sub in sorted(ours)))
        others += other_logs(place, signers[0][0], ours)
        for name, public in signers:
            found = own_key_under_other_origins(place, name, public, skip=ours)
            elsewhere += [one for one in found if one.folder not in {e.folder for e in elsewhere}]
    report = verify_log(folder, key, shared, others, own=own, own_key_elsewhere=elsewhere)
    if nothing_here and report.ok and not report.records and not report.checkpoints and not given:
        return None  # only a key: nothing it signed was found
    return report


def _given_key(key: str) -> tuple[str, Ed25519PublicKey]:
    """The verifier key given with --key, or a ConfigError that says what one looks like."""
    try:
        return parse_verifier_key(key)
    except AuditIntegrityError as exc:
        shown = key if len(key) <= 80 else f"{key[:77]}..."
        raise ConfigError(
            f"--key {shown!r} is not a checkpoint verifier key ({exc.message}); a verifier key is one line "
            "'origin+keyID+key', e.g. 'site.example/ct1+5eec3453+AR...' (C2SP signed-note, Ed25519)",
            hint="pass the verifier key pinned when the log was made (the output of `device-ai audit public-key` on "
                 "that device, kept in the site's key custody record), as text, not a file name: "
                 "--key \"$(cat FILE)\"") from exc


def _refuse_non_folder(folder: Path) -> None:
    """--dir: an audit folder that exists; a mistyped one must not verify as an empty log."""
    if not os.path.isdir(folder):  # False for any error (a name too long too): then say what it is
        what = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise ConfigError(f"--dir {folder} {what}: there is no audit log there to verify",
                          hint="give the audit folder (the one holding audit.log, checkpoints/ and signer.vkey), "
                               "or its copy; leave --dir out to verify this device's own log")


def _refuse_non_note(path: Path) -> None:
    """A checkpoint given on the command line: a note, or a folder of notes (an off-site copy)."""
    if not os.path.isdir(path) and not os.path.isfile(path):  # any error reads as neither
        raise ConfigError(f"--checkpoint {path} is neither a checkpoint note nor a folder of notes",
                          hint="pass a checkpoint note kept elsewhere, or the folder they are copied to")
