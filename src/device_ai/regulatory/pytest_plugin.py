"""pytest plugin: ``@pytest.mark.req("SRS-012")`` declares what a test verifies.

An ID that is not in ``traceability/*.yaml`` fails collection (DESIGN.md, Conventions).
With ``--req-report PATH`` the outcome of every tagged test is written to a JSON sidecar
that the trace-graph builder reads; the plugin keeps no global state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--req-report", default=None, help="write requirement-tagged outcomes to this JSON file")


def _known_ids(root: Path) -> set[str] | None:
    folder = root / "traceability"
    if not folder.is_dir():
        return None
    ids: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for items in data.values():
            if isinstance(items, list):
                ids.update(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)
    return ids


class _ReqPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.known = _known_ids(Path(config.rootpath))
        self.report_path = config.getoption("--req-report")
        self.outcomes: dict[str, dict[str, object]] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        unknown: list[str] = []
        for item in items:
            for mark in item.iter_markers("req"):
                if not mark.args:
                    unknown.append(f"{item.nodeid}: req marker without an ID")
                for req_id in mark.args:
                    if self.known is not None and req_id not in self.known:
                        unknown.append(f"{item.nodeid}: unknown requirement {req_id}")
        if unknown:
            raise pytest.UsageError("requirement tags do not resolve:\n  " + "\n  ".join(unknown))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.report_path is None:
            return
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            reqs = sorted({r for m in getattr(report, "req_marks", []) for r in m})
            self.outcomes[report.nodeid] = {"outcome": report.outcome, "requirements": reqs}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
        outcome = yield
        report = outcome.get_result()
        report.req_marks = [tuple(m.args) for m in item.iter_markers("req")]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_path is None:
            return
        path = Path(self.report_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.outcomes, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): requirement IDs this test verifies")
    config.pluginmanager.register(_ReqPlugin(config), "device_ai_req_plugin")
