"""The job ledger: one SQLite file under the job's output root, written by the coordinator
alone (workers never open it).

Per unit: its state, attempts, the attempt folder being published, the output digest, the
typed error code of a failure, the audit entry's sequence number, and the unit's PHI-free
report. The job's identity (keyed digests of the input folder and the secret, the options)
is recorded once, so that a re-run under the same OUT is the same job or is refused.

States: ``pending`` (known, never finished), ``recording`` (the coordinator is writing the
unit's audit entry and publishing it: a crash here is resolved on the next run from the
attempt folder, the output and the audit log), ``published`` (its folder is in OUT with the
recorded digest; never run again), ``failed`` (typed error code; run again by the next run).

WAL journal, ``synchronous=FULL``: a state change is durable when ``set_*`` returns, so the
order "ledger says recording -> audit entry -> rename -> ledger says published" survives a
kill at any point.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from device_ai.errors import OutputError

PENDING, RECORDING, PUBLISHED, FAILED = "pending", "recording", "published", "failed"
LEDGER_FORMAT = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    unit TEXT PRIMARY KEY,
    files INTEGER NOT NULL,
    input_digest TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'recording', 'published', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    attempt TEXT NOT NULL DEFAULT '',
    output_digest TEXT NOT NULL DEFAULT '',
    error_code TEXT NOT NULL DEFAULT '',
    audit_seq INTEGER,
    report TEXT NOT NULL DEFAULT '',
    updated_utc TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class UnitRecord:
    unit: str
    files: int
    input_digest: str
    state: str
    attempts: int
    attempt: str
    output_digest: str
    error_code: str
    audit_seq: int | None
    report: dict


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """The coordinator's view of the job (the only writer)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # private, as its journal files then are
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise OutputError(f"cannot open the job ledger {self.path}: {exc}",
                              hint="check the output folder's permissions and free space") from exc

    def close(self) -> None:
        self.db.close()

    def _write(self, sql: str, args: tuple) -> None:
        try:
            with self.db:  # one transaction, committed (and synced) on return
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise OutputError(f"cannot write the job ledger {self.path}: {exc}",
                              hint="check free space of the output location, then run the command again") from exc

    # -- the job ------------------------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM job").fetchall())

    def set_identity(self, values: dict[str, str]) -> None:
        for key, value in {"ledger_format": LEDGER_FORMAT, **values}.items():
            self._write("INSERT OR REPLACE INTO job (key, value) VALUES (?, ?)", (key, value))

    # -- units --------------------------------------------------------------------------------

    def add_units(self, units: list[tuple[str, int, str]]) -> None:
        """(unit id, files, input digest) of units not yet known, as pending."""
        now = _now()
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR IGNORE INTO units (unit, files, input_digest, state, updated_utc) "
                                    "VALUES (?, ?, ?, 'pending', ?)", [(u, n, d, now) for u, n, d in units])
        except sqlite3.Error as exc:
            raise OutputError(f"cannot write the job ledger {self.path}: {exc}",
                              hint="check free space of the output location") from exc

    def units(self) -> dict[str, UnitRecord]:
        rows = self.db.execute("SELECT unit, files, input_digest, state, attempts, attempt, output_digest, "
                               "error_code, audit_seq, report FROM units ORDER BY unit").fetchall()
        return {row[0]: UnitRecord(*row[:9], json.loads(row[9]) if row[9] else {}) for row in rows}

    def unit(self, unit: str) -> UnitRecord:
        return self.units_where("unit = ?", (unit,))[0]

    def units_where(self, clause: str, args: tuple = ()) -> list[UnitRecord]:
        rows = self.db.execute("SELECT unit, files, input_digest, state, attempts, attempt, output_digest, "
                               f"error_code, audit_seq, report FROM units WHERE {clause} ORDER BY unit", args).fetchall()
        return [UnitRecord(*row[:9], json.loads(row[9]) if row[9] else {}) for row in rows]

    def started(self, unit: str) -> None:
        """One more attempt of ``unit`` handed to a worker."""
        self._write("UPDATE units SET attempts = attempts + 1, updated_utc = ? WHERE unit = ?", (_now(), unit))

    def recording(self, unit: str, attempt: str, output_digest: str, audit_seq: int, report: dict) -> None:
        """About to append the unit's audit entry (as ``audit_seq``) and publish ``attempt``."""
        self._write("UPDATE units SET state = 'recording', attempt = ?, output_digest = ?, audit_seq = ?, report = ?, "
                    "error_code = '', updated_utc = ? WHERE unit = ? AND state != 'published'",
                    (attempt, output_digest, audit_seq, json.dumps(report, sort_keys=True), _now(), unit))

    def published(self, unit: str, audit_seq: int) -> None:
        self._write("UPDATE units SET state = 'published', audit_seq = ?, updated_utc = ? WHERE unit = ?",
                    (audit_seq, _now(), unit))

    def failed(self, unit: str, error_code: str, audit_seq: int | None = None) -> None:
        self._write("UPDATE units SET state = 'failed', error_code = ?, audit_seq = ?, attempt = '', "
                    "updated_utc = ? WHERE unit = ? AND state != 'published'", (error_code, audit_seq, _now(), unit))

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM units GROUP BY state").fetchall())
