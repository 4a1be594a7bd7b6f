"""Durable audit appends per second: our Merkle log vs SQLite (WAL, synchronous=FULL).

Both make every append durable before acknowledging it (fsync per append for ours, a
committed transaction with synchronous=FULL for SQLite), with one writer and with four
writer processes, side by side in one run, on the same disk. Prints appends/s and ratios.

    python benchmarks/audit_appends.py [--appends 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import tempfile
import time
from pathlib import Path

from device_ai.audit.entry import ANALYSIS_RUN, AuditObject
from device_ai.audit.log import AuditLog


def _ours(folder: str, count: int) -> None:
    log = AuditLog(Path(folder), checkpoint_every=10**9)
    for i in range(count):
        log.append(ANALYSIS_RUN, objects=(AuditObject(kind="study", id=f"study-{i:016x}"),), details={"i": str(i)})
    log.file.close()


def _sqlite(path: str, count: int) -> None:
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)")
    for i in range(count):
        entry = json.dumps({"event": "Analysis Run", "objects": [{"kind": "study", "id": f"study-{i:016x}"}],
                            "details": {"i": str(i)}})
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO audit (entry) VALUES (?)", (entry,))
        db.execute("COMMIT")
    db.close()


def _run(target, where: str, total: int, writers: int) -> float:  # noqa: ANN001
    per = total // writers
    processes = [mp.Process(target=target, args=(where, per)) for _ in range(writers)]
    start = time.perf_counter()
    for p in processes:
        p.start()
    for p in processes:
        p.join()
        assert p.exitcode == 0
    return per * writers / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=400)
    parser.add_argument("--out", default="benchmarks/results/audit_appends.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for writers in (1, 4):
            ours = _run(_ours, str(Path(tmp) / f"ours{writers}"), args.appends, writers)
            sqlite = _run(_sqlite, str(Path(tmp) / f"sqlite{writers}.db"), args.appends, writers)
            results[f"{writers}_writer"] = {"ours_per_s": round(ours, 1), "sqlite_wal_full_per_s": round(sqlite, 1),
                                            "ratio": round(ours / sqlite, 2)}
            print(f"{writers} writer(s): ours {ours:8.1f}/s  SQLite WAL FULL {sqlite:8.1f}/s  ratio {ours / sqlite:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"appends": args.appends, **results}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
