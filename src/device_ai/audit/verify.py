"""``audit verify``: every record, the tree against every checkpoint, consistency between
checkpoints (SRS-028). Read-only: verification never cuts or repairs anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, parse_checkpoint, parse_verifier_key, verify_note
from device_ai.audit.log import CHECKPOINT_DIR, log_bytes, notes_in
from device_ai.audit.store import scan
from device_ai.errors import AuditIntegrityError


@dataclass
class VerifyReport:
    records: int
    root: bytes
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_checkpoint(path: Path, name: str, vkey_name: str, key: object) -> Checkpoint:
    body = verify_note(path.read_bytes(), vkey_name, key)  # type: ignore[arg-type]
    checkpoint = parse_checkpoint(body)
    if checkpoint.origin != name:
        raise AuditIntegrityError(f"{path.name}: checkpoint is for log {checkpoint.origin!r}, not {name!r}")
    return checkpoint


def verify_log(folder: Path, verifier_key: str, extra: list[Path] | None = None) -> VerifyReport:
    """Check the log in ``folder``; problems are collected, the first bad record named."""
    data = log_bytes(folder)  # a missing log is an empty one: checkpoints then show what was lost
    result = scan(data)
    leaves = [merkle.hash_leaf(r.payload) for r in result.records]
    report = VerifyReport(records=len(leaves), root=merkle.root(leaves))
    if result.problem:
        report.problems.append(result.problem)
    elif result.torn_bytes:
        report.problems.append(f"record {len(leaves)} at byte {result.good_end}: incomplete ({result.torn_bytes} "
                               "bytes; torn write, never acknowledged)")
    name, key = parse_verifier_key(verifier_key)
    paths = notes_in(Path(folder) / CHECKPOINT_DIR) + list(extra or [])
    for path in paths:
        try:
            checkpoint = _read_checkpoint(path, name, name, key)
        except AuditIntegrityError as exc:
            report.problems.append(f"{path.name}: {exc.message}")
            continue
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # unreadable: still a problem, never a crash
            report.problems.append(f"{path}: cannot read the checkpoint ({getattr(exc, 'strerror', None) or exc})")
            continue
        report.checkpoints.append(checkpoint)
        if checkpoint.size > len(leaves):
            report.problems.append(
                f"{path.name}: signed tree has {checkpoint.size} records but the log holds {len(leaves)}: "
                f"records {len(leaves)} to {checkpoint.size - 1} are missing (truncated)")
        elif merkle.root(leaves[: checkpoint.size]) != checkpoint.root:
            report.problems.append(f"{path.name}: the first {checkpoint.size} records do not match the signed root: "
                                   "the log was rewritten")
    ordered = sorted({(c.size, c.root) for c in report.checkpoints})
    for (size1, root1), (size2, root2) in zip(ordered, ordered[1:]):
        if size1 == 0 or size2 > len(leaves) or size1 == size2:
            if size1 == size2 and root1 != root2:
                report.problems.append(f"two checkpoints of size {size1} disagree: the log forked")
            continue
        try:
            proof = merkle.consistency_proof(size1, leaves[:size2])
            merkle.verify_consistency(size1, size2, proof, root1, root2)
        except merkle.ProofError as exc:
            report.problems.append(f"checkpoints {size1} and {size2} are not consistent: {exc}")
    return report
