"""What an effectiveness record's *content* shows it to be (SRS-181).

A record of effectiveness must be a measured outcome (a study, a validation, a benchmark, a
challenge run), not generated test output: a pass/fail verdict shows that a control is
implemented, not that it works (ISO 14971 7.2). :func:`.overclaim.is_test_artefact` judges the
path; a copy of a result file elsewhere has another path, so the content is judged too, by its
structure rather than its name or bytes (an edited copy is still test output):

- a pytest result document in JSON: this project's ``--req-report`` file (a run header and a
  ``results`` map of per-test outcomes), pytest-json-report's ``tests`` list, or any JSON that
  maps pytest node IDs (``path::name``) to outcomes;
- a JUnit XML report (root element ``testsuite`` or ``testsuites``);
- a test runner's console summary (pytest's ``==== 3 passed in 0.12s ====``, unittest's
  ``Ran 3 tests in 0.1s``);
- a Python test module (a top-level ``def test_...`` or ``class Test...``, or ``import pytest``);
- a trace graph as ``trace build`` writes it (``nodes``, ``edges`` and ``runs``): it holds every
  run header and each test's outcome (review 148 D1c).

The graph builder calls :func:`generated_test_output` once per record and keeps the answer in the graph
(``effectiveness_test_output``); the gate reads only the graph.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: Records larger than this are not parsed as JSON (their head and tail are still read).
JSON_LIMIT = 32 * 1024 * 1024
_EDGE = 64 * 1024  # bytes read from each end of a large text record

_OUTCOMES = {"passed", "failed", "skipped", "error", "errors", "xfailed", "xpassed", "deselected"}
_JUNIT = re.compile(r"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<testsuites?[\s>/]", re.DOTALL)
_CONSOLE = re.compile(
    r"^=+ (?:.*\b)?\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed)\b.* in \d+(?:\.\d+)?s\b.*=+\s*$"  # pytest
    r"|^Ran \d+ tests? in \d+(?:\.\d+)?s\s*$",                                                              # unittest
    re.MULTILINE)
_TEST_MODULE = re.compile(r"^(?:def test_\w*\s*\(|class Test\w*\s*[(:]|import pytest\b|from pytest\b)", re.MULTILINE)


def _is_outcome_record(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("outcome", "")).lower() in _OUTCOMES


def _json_kind(data: Any, depth: int = 0) -> str | None:
    """A pytest result document anywhere in ``data`` (a few levels deep), None otherwise."""
    if depth > 4:
        return None
    if isinstance(data, dict):
        if all(isinstance(data.get(key), list) for key in ("nodes", "edges", "runs")):
            return "a trace graph (test run headers and each test's outcome)"
        results = data.get("results")
        if isinstance(data.get("run"), dict) and isinstance(results, dict) and results \
                and all(_is_outcome_record(v) for v in results.values()):
            return "a pytest result file (a run header and per-test outcomes)"
        if any("::" in str(key) and _is_outcome_record(value) for key, value in data.items()):
            return "a pytest result file (per-test outcomes by node ID)"
        if "nodeid" in data and _is_outcome_record(data):
            return "a pytest result file (per-test outcomes by node ID)"
        children = list(data.values())
    elif isinstance(data, list):
        children = data[:1000]
    else:
        return None
    for child in children:
        kind = _json_kind(child, depth + 1)
        if kind:
            return kind
    return None


def _text_of(path: Path, size: int) -> str:
    with path.open("rb") as handle:
        if size <= 2 * _EDGE:
            raw = handle.read()
        else:
            head = handle.read(_EDGE)
            handle.seek(size - _EDGE)
            raw = head + b"\n" + handle.read()
    return raw.decode("utf-8", errors="replace")


def generated_test_output(path: Path) -> str | None:
    """What generated test output ``path`` holds ("a JUnit XML test report", ...), None when its
    content is none (or it cannot be read: the gate reports a missing record by its digest)."""
    try:
        size = path.stat().st_size
        text = _text_of(path, size)
    except OSError:
        return None
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and size <= JSON_LIMIT:
        try:
            kind = _json_kind(json.loads(path.read_text(encoding="utf-8", errors="replace")))
        except (OSError, ValueError, RecursionError):
            kind = None
        if kind:
            return kind
    if _JUNIT.match(text):
        return "a JUnit XML test report"
    if _CONSOLE.search(text):
        return "a test runner's console output"
    if path.suffix == ".py" and _TEST_MODULE.search(text):
        return "a Python test module"
    return None

