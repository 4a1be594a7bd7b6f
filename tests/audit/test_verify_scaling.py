"""`audit verify` stays near-linear in the log however many checkpoints it has (issue 22
review; SRS-028). Counted in hash operations, never timed: speed is measured in
benchmarks/audit_verify.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, sign_note, verifier_key
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, checkpoint_name
from device_ai.audit.store import MAGIC, frame
from device_ai.audit.verify import verify_log

ORIGIN = "scaling.example/audit"
RECORDS, EVERY = 2048, 32  # 64 checkpoints


def _log_with_checkpoints(folder: Path, key: Ed25519PrivateKey, rewrite: int | None = None) -> None:
    """RECORDS records, a checkpoint every EVERY; ``rewrite``: that record is changed after signing."""
    payloads = [f'{{"seq": {i}}}'.encode() for i in range(RECORDS)]
    tree = merkle.MerkleTree(merkle.hash_leaf(p) for p in payloads)
    (folder / CHECKPOINT_DIR).mkdir(parents=True)
    for size in range(EVERY, RECORDS + 1, EVERY):
        head = Checkpoint(ORIGIN, size, tree.root(size))
        (folder / CHECKPOINT_DIR / checkpoint_name(head)).write_bytes(sign_note(head.body(), ORIGIN, key))
    if rewrite is not None:
        payloads[rewrite] = b'{"seq": "rewritten"}'
    (folder / LOG_NAME).write_bytes(MAGIC + b"".join(frame(p) for p in payloads))


def _node_hashes_of_verify(folder: Path, vkey: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    counted = {"nodes": 0}
    real = merkle.hash_children

    def counting(left: bytes, right: bytes) -> bytes:
        counted["nodes"] += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "hash_children", counting)
    report = verify_log(folder, vkey)
    monkeypatch.setattr(merkle, "hash_children", real)
    return report, counted["nodes"]


@pytest.mark.req("SRS-028")
def test_verify_hashes_each_node_about_once_however_many_checkpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key(ORIGIN, key.public_key())
    _log_with_checkpoints(tmp_path / "log", key)
    report, nodes = _node_hashes_of_verify(tmp_path / "log", vkey, monkeypatch)
    assert report.ok and len(report.checkpoints) == RECORDS // EVERY, report.problems
    # one tree over the log (RECORDS - 1 nodes) plus O(log^2 n) per checkpoint; recomputing each
    # checkpoint's root from the leaves costs sum(sizes) = 66,560 here
    assert nodes < 2 * RECORDS, f"{nodes} node hashes for {RECORDS} records and {RECORDS // EVERY} checkpoints"


@pytest.mark.req("SRS-028")
def test_negative_control_the_fast_path_still_finds_a_record_rewritten_under_every_later_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key(ORIGIN, key.public_key())
    _log_with_checkpoints(tmp_path / "log", key, rewrite=1000)
    report, _ = _node_hashes_of_verify(tmp_path / "log", vkey, monkeypatch)
    rewritten = [p for p in report.problems if "do not match the signed root" in p]
    assert len(rewritten) == RECORDS // EVERY - 1000 // EVERY  # every checkpoint from size 1024 on; none before
    assert all(int(p.split("-")[0]) > 1000 for p in rewritten)
