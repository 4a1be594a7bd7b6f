"""pytest plugin: ``@pytest.mark.req("SRS-012")`` declares which requirements a test verifies.

- A tag naming an ID that is not a software requirement in ``traceability/*.yaml``, or a
  ``retired`` one, fails collection (DESIGN.md, Conventions; IEC 62304 5.7.4 traceability).
  Only IDs and statuses are read here; ``device-ai trace build`` validates the items in full.
- With ``--req-report PATH`` every test's record is written to a JSON sidecar keyed by pytest
  node id (one record per parametrized case), with its outcome (passed, failed, skipped, xfailed,
  xpassed, error), duration, location and requirements, under a run header holding the IEC 62304
  5.7.5 fields (:mod:`device_ai.regulatory.records`).

The requirement IDs travel on each report's ``user_properties`` (``("req", ID)``), so they reach
the controller under pytest-xdist and are present on setup and teardown reports too; only the
controller (or a run without xdist) writes the file, atomically. The plugin keeps no global state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai.atomic_io import atomic_write_text
from device_ai.regulatory.records import git_dirty, git_head, run_header, utc_now

REQ_PROPERTY = "req"
_MESSAGE_LIMIT = 500


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--req-report", default=None, metavar="PATH",
                     help="write every test's record (outcome, requirements, IEC 62304 5.7.5 run fields) to PATH")


def requirement_statuses(root: Path) -> dict[str, str] | None:
    """``{SRS ID: status}`` from ``traceability/*.yaml``; None when the project has no such folder."""
    folder = root / "traceability"
    if not folder.is_dir():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    statuses: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
        except yaml.YAMLError as exc:
            raise pytest.UsageError(f"{path}: not valid YAML ({exc}); run `device-ai trace build` for details") from exc
        items = data.get("software_requirements") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and "id" in item:
                statuses[str(item["id"])] = str(item.get("status", "approved"))
    return statuses


def _message(report: pytest.TestReport) -> str | None:
    if report.passed and not hasattr(report, "wasxfail"):
        return None
    if hasattr(report, "wasxfail"):
        text = str(report.wasxfail)
    elif report.skipped and isinstance(report.longrepr, tuple):
        text = str(report.longrepr[2])
    else:
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("E ")]
        text = (errors or lines or [""])[-1]
    text = " ".join(text.split())
    return text[:_MESSAGE_LIMIT] or None


def _phase_outcome(report: pytest.TestReport, current: str | None) -> str | None:
    """The test's outcome after this phase (setup, call, teardown) is known."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.failed:
            return "error"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return current
    if report.when == "call":
        if report.failed:
            return "failed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "xpassed" if xfail else "passed"
    if report.failed and current != "failed":  # teardown error spoils any other outcome
        return "error"
    return current


class RequirementPlugin:
    """Checks ``req`` tags at collection and records every test's outcome."""

    def __init__(self, config: pytest.Config) -> None:
        self.root = Path(config.rootpath)
        self.statuses = requirement_statuses(self.root)
        self.report_path: str | None = config.getoption("--req-report")
        self.is_worker = hasattr(config, "workerinput")
        self.command = [str(arg) for arg in config.invocation_params.args]
        self.records: dict[str, dict[str, Any]] = {}
        self.started_utc = utc_now()
        self.git: dict[str, Any] = {}

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.report_path is not None and not self.is_worker:
            # Read before any test runs: tests may write files into the work tree.
            self.started_utc = utc_now()
            self.git = {"commit": git_head(self.root), "dirty": git_dirty(self.root)}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        problems: list[str] = []
        for item in items:
            ids: list[str] = []
            for mark in item.iter_markers("req"):
                if not mark.args:
                    problems.append(f"{item.nodeid}: req marker without an ID")
                ids.extend(str(arg) for arg in mark.args)
            for req_id in sorted(set(ids)):
                status = None if self.statuses is None else self.statuses.get(req_id, "unknown")
                if status == "unknown":
                    problems.append(f"{item.nodeid}: unknown requirement {req_id}")
                elif status == "retired":
                    problems.append(f"{item.nodeid}: retired requirement {req_id} (a retired requirement "
                                    "cannot be verified; tag the requirement that replaced it)")
                item.user_properties.append((REQ_PROPERTY, req_id))
        if problems:
            raise pytest.UsageError("requirement tags do not resolve:\n  " + "\n  ".join(problems))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.report_path is None or self.is_worker:
            return
        record = self.records.get(report.nodeid)
        if record is None:
            path, line, _name = report.location
            record = {"outcome": None, "duration_s": 0.0, "file": path, "line": None if line is None else line + 1,
                      "requirements": sorted({str(v) for k, v in report.user_properties if k == REQ_PROPERTY}),
                      "message": None}
            self.records[report.nodeid] = record
        before = record["outcome"]
        record["outcome"] = _phase_outcome(report, before)
        record["duration_s"] = round(record["duration_s"] + float(report.duration), 6)
        if record["outcome"] != before or (report.failed and record["message"] is None):
            record["message"] = _message(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.report_path is None or self.is_worker:
            return
        header = run_header(self.root, started_utc=self.started_utc, command=self.command,
                            git=self.git or None)
        header["finished_utc"] = utc_now()
        header["exit_status"] = int(exitstatus)
        for record in self.records.values():
            if record["outcome"] is None:  # setup passed, call never reported (interrupted)
                record["outcome"] = "error"
        document = {"run": header, "results": dict(sorted(self.records.items()))}
        atomic_write_text(Path(self.report_path), json.dumps(document, indent=1, sort_keys=True) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): requirement IDs (SRS-###) this test verifies")
    config.pluginmanager.register(RequirementPlugin(config), "device_ai_req_plugin")
