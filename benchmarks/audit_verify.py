"""How `audit verify` (verify_log) scales with the log: records x checkpoints.

Builds logs of N, 2N and 4N records with a signed checkpoint every K records (each one stored
locally and in a copy folder, as the device does), then times verify_log on each, side by
side in one run. Printed per size: seconds, the ratio to the previous size (about 2 when
verification is linear in the log, about 4 when it is quadratic) and the ratio to a floor
that only reads the log and hashes its leaves (what any verification must do at least).

    python benchmarks/audit_verify.py [--records 5000] [--every 100] [--repeat 3] [--no-reference] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, sign_note, verifier_key
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, checkpoint_name, log_bytes, notes_in
from device_ai.audit.store import MAGIC, frame, scan
from device_ai.audit.verify import verify_log

ORIGIN = "bench.example/audit"


def _payload(i: int) -> bytes:
    # about the size of a real Analysis Run entry's leaf bytes
    return json.dumps({"seq": i, "time_utc": "2026-01-01T00:00:00.000000Z", "event": {"code": "DAI004"},
                       "objects": [{"kind": "study", "id": f"study-{i:016x}"}], "details": {"i": str(i)},
                       "actor": {"user": "bench", "host": "bench"}, "pad": "x" * 120}).encode()


def build_log(folder: Path, copy_dir: Path, records: int, every: int, key: Ed25519PrivateKey) -> int:
    """A log of ``records`` entries with a checkpoint every ``every``, written without fsync
    (the benchmark times verification, not appends). Returns the number of notes written."""
    (folder / CHECKPOINT_DIR).mkdir(parents=True)
    copy_dir.mkdir(parents=True)
    leaves, chunks, notes = [], [MAGIC], 0
    for i in range(records):
        payload = _payload(i)
        chunks.append(frame(payload))
        leaves.append(merkle.hash_leaf(payload))
    (folder / LOG_NAME).write_bytes(b"".join(chunks))
    tree = merkle.MerkleTree(leaves)  # setup, not timed
    for size in range(every, records + 1, every):
        head = Checkpoint(ORIGIN, size, tree.root(size))
        note = sign_note(head.body(), ORIGIN, key)
        for place in (folder / CHECKPOINT_DIR, copy_dir):
            (place / checkpoint_name(head)).write_bytes(note)
            notes += 1
    return notes


def _floor(folder: Path) -> float:
    start = time.perf_counter()
    leaves = [merkle.hash_leaf(r.payload) for r in scan(log_bytes(folder)).records]
    assert leaves
    return time.perf_counter() - start


def _recomputing(folder: Path, copy_dir: Path) -> float:
    """What verify_log did before: the root of every checkpointed prefix and the consistency
    proof between consecutive checkpoints, each recomputed from the leaves."""
    from device_ai.audit.checkpoint import parse_checkpoint

    start = time.perf_counter()
    leaves = [merkle.hash_leaf(r.payload) for r in scan(log_bytes(folder)).records]
    heads = [parse_checkpoint(p.read_bytes().split(b"\n\n")[0] + b"\n")
             for p in notes_in(folder / CHECKPOINT_DIR, copy_dir)]
    assert all(merkle.root(leaves[: h.size]) == h.root for h in heads)
    ordered = sorted({(h.size, h.root) for h in heads})
    for (size1, root1), (size2, root2) in zip(ordered, ordered[1:]):
        merkle.verify_consistency(size1, size2, merkle.consistency_proof(size1, leaves[:size2]), root1, root2)
    return time.perf_counter() - start


def _verify(folder: Path, copy_dir: Path, vkey: str) -> float:
    start = time.perf_counter()
    report = verify_log(folder, vkey, notes_in(copy_dir))
    elapsed = time.perf_counter() - start
    assert report.ok, report.problems[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="the smallest log; then 2x and 4x")
    parser.add_argument("--every", type=int, default=100, help="records between checkpoints")
    parser.add_argument("--repeat", type=int, default=3, help="runs of verify and of the floor; the best is kept")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip timing the recomputing (quadratic) way verify worked before")
    parser.add_argument("--out", default="benchmarks/results/audit_verify.json")
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key(ORIGIN, key.public_key())
    rows, previous = [], None
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for factor in (1, 2, 4):
            records = args.records * factor
            folder, copy_dir = Path(tmp) / f"log{records}" / "audit", Path(tmp) / f"log{records}" / "copy"
            notes = build_log(folder, copy_dir, records, args.every, key)
            # best of --repeat: the cores are shared, the minimum is the least disturbed run
            floor = min(_floor(folder) for _ in range(args.repeat))
            seconds = min(_verify(folder, copy_dir, vkey) for _ in range(args.repeat))
            before = _recomputing(folder, copy_dir) if args.reference else None
            growth = seconds / previous if previous else None
            previous = seconds
            rows.append({"records": records, "notes": notes, "verify_s": round(seconds, 3), "floor_s": round(floor, 3),
                         "verify_over_floor": round(seconds / floor, 1),
                         "recomputing_s": round(before, 3) if before else None,
                         "recomputing_over_verify": round(before / seconds, 1) if before else None,
                         "growth_vs_previous": round(growth, 2) if growth else None})
            print(f"{records:7d} records {notes:5d} notes: verify {seconds:8.3f} s  floor {floor:6.3f} s  "
                  f"verify/floor {seconds / floor:5.1f}  growth {growth or float('nan'):5.2f}"
                  + (f"  recomputing (before) {before:7.3f} s, {before / seconds:6.1f}x verify" if before else ""))
    load_after = os.getloadavg()[0]
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"every": args.every, "repeat": args.repeat, "runs": rows, "load_before": load_before,
                                          "load_after": load_after}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
