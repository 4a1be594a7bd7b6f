"""``audit verify``: every record, the tree against every checkpoint, consistency between
checkpoints (SRS-028). Read-only: verification never cuts or repairs anything.

A checkpoint folder may be shared by several devices (a common off-site copy location): a
note that carries no signature of this log's key is another log's and is counted, not
checked; a note that carries one must verify. Roots and consistency proofs come from one
:class:`~device_ai.audit.merkle.MerkleTree` built over the log once, so verification is
near-linear in the log, however many checkpoints there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai.audit import merkle
from device_ai.audit.checkpoint import (Checkpoint, claimed_origin, parse_checkpoint, parse_verifier_key, signed_by,
                                        verify_note)
from device_ai.audit.log import CHECKPOINT_DIR, log_bytes, notes_in, read_note
from device_ai.audit.store import scan
from device_ai.errors import AuditIntegrityError


@dataclass
class VerifyReport:
    records: int
    root: bytes
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_ours: int = 0  # notes of other logs (or other keys) found beside ours, skipped
    not_ours_naming_us: int = 0  # of those, the ones whose origin line is this log's name

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
                     "do several devices share the origin name? give each its own audit_origin")
        return line


def _read_checkpoint(note: bytes, path: Path, name: str, key: Ed25519PublicKey) -> Checkpoint:
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


def verify_log(folder: Path, verifier_key: str, extra: list[Path] | None = None,
               other_logs: tuple[int, int] = (0, 0)) -> VerifyReport:
    """Check the log in ``folder``; problems are collected, the first bad record named.
    ``other_logs``: notes seen in other logs' subfolders of a copy location (all, naming our
    origin), counted as not ours without being read."""
    data = log_bytes(folder)  # a missing log is an empty one: checkpoints then show what was lost
    result = scan(data)
    tree = merkle.MerkleTree(merkle.hash_leaf(r.payload) for r in result.records)
    report = VerifyReport(records=len(tree), root=tree.root(), not_ours=other_logs[0], not_ours_naming_us=other_logs[1])
    if result.problem:
        report.problems.append(result.problem)
    elif result.torn_bytes:
        report.problems.append(f"record {len(tree)} at byte {result.good_end}: incomplete ({result.torn_bytes} "
                               "bytes; torn write, never acknowledged)")
    name, key = parse_verifier_key(verifier_key)
    for path in notes_in(Path(folder) / CHECKPOINT_DIR) + list(extra or []):
        try:
            note = read_note(path)
        except AuditIntegrityError as exc:  # unreadable, too large, not a file: a problem, never a crash
            report.problems.append(exc.message)
            continue
        try:
            if not signed_by(note, name, key):
                report.not_ours += 1
                report.not_ours_naming_us += claimed_origin(note) == name
                continue
            checkpoint = _read_checkpoint(note, path, name, key)
        except AuditIntegrityError as exc:
            report.problems.append(f"{path.name}: {exc.message}")
            continue
        except ValueError as exc:  # malformed (e.g. a root that is not base64): a problem, never a crash
            report.problems.append(f"{path}: cannot read the checkpoint ({exc})")
            continue
        report.checkpoints.append(checkpoint)
        if problem := _check_against_log(path, checkpoint, tree):
            report.problems.append(problem)
    _check_consistency(report, tree)
    return report
