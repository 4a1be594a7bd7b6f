"""Read test-result sidecars written by the pytest plugin (``--req-report``).

A file holds one run: ``{"run": header, "results": {node id: record}}`` with the header of
:mod:`device_ai.regulatory.records` (IEC 62304 5.7.5 c-g) and per test its outcome, duration,
location and requirements (5.7.5 a, b). A malformed file is a
:class:`~device_ai.errors.TraceabilityError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from device_ai.errors import TraceabilityError
from device_ai.regulatory.fingerprint import canonical_json
from device_ai.regulatory.records import SCHEMA

Outcome = Literal["passed", "failed", "skipped", "xfailed", "xpassed", "error"]
#: The one outcome that is evidence of verification (reference/regulatory.md §5, §6.3).
EVIDENCE_OUTCOME: Outcome = "passed"
FAILING_OUTCOMES: frozenset[str] = frozenset({"failed", "error"})


class ResultRecord(BaseModel):
    """One test's record: 5.7.5 (a) procedure reference (node id, file, line), (b) result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Outcome
    duration_s: float = Field(ge=0)
    file: str | None = None
    line: int | None = None
    requirements: list[str] = Field(default_factory=list)
    message: str | None = None


class GitState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    commit: str | None
    dirty: bool | None


class RunHeader(BaseModel):
    """The run-level 5.7.5 fields; fields added by later plugin versions are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_: Literal["device-ai/test-results/1"] = Field(alias="schema")
    git: GitState
    date_utc: str
    software: dict[str, Any]
    tester: str | None


class ResultsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run: RunHeader
    results: dict[str, ResultRecord]


@dataclass(frozen=True)
class LoadedRun:
    """One results file: its ID (a digest of its header), where it came from and its content."""

    id: str
    source: str
    sha256: str
    header: dict[str, Any]
    results: dict[str, ResultRecord]

    @property
    def commit(self) -> str | None:
        return self.header["git"]["commit"]

    @property
    def dirty(self) -> bool | None:
        return self.header["git"]["dirty"]


def _line_of_key(text: str, key: object) -> int:
    if isinstance(key, str):
        index = text.find(json.dumps(key))
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return 1


def load_run(path: Path, source: str) -> LoadedRun:
    """Read one results file; ``source`` is how the graph names it (a path relative to the root)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TraceabilityError(f"cannot read test results {source}: {exc.strerror or exc}",
                                hint="run the tests with --req-report PATH first (make test does)") from exc
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"{source}:{exc.lineno}: not JSON: {exc.msg}"
        raise TraceabilityError(f"test results {source} are not JSON", problems=(problem,)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict) or data["run"].get("schema") != SCHEMA:
        raise TraceabilityError(
            f"{source} is not a device-ai test-results file (schema {SCHEMA})", problems=(f"{source}:1: wrong schema",),
            hint="write it with the current plugin: pytest --req-report PATH")
    try:
        document = ResultsDocument.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of_key(text, loc[1]) if len(loc) > 1 and loc[0] == "results" else _line_of_key(text, loc[-1])
            problems.append(f"{source}:{line}: {'.'.join(map(str, loc))}: {error['msg']}")
        raise TraceabilityError(f"{len(problems)} problem(s) in test results {source}", problems=tuple(problems)) from exc
    header = document.run.model_dump(mode="json", by_alias=True)
    run_id = "RUN-" + hashlib.sha256(canonical_json(header)).hexdigest()[:16]
    return LoadedRun(id=run_id, source=source, sha256=hashlib.sha256(raw).hexdigest(), header=header,
                     results=document.results)
