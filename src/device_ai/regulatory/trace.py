"""The three trace operations behind ``device-ai trace build | check | review``.

Each takes the project root explicitly; the CLI only parses arguments and prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from device_ai.errors import TraceabilityError
from device_ai.regulatory.check import CheckReport, check_graph
from device_ai.regulatory.graph import SCHEMA, build_graph, write_graph
from device_ai.regulatory.loader import MODEL_MANIFEST, item_files, load_project
from device_ai.regulatory.records import git_head, git_uncommitted, utc_now
from device_ai.regulatory.results import LoadedRun, load_run
from device_ai.regulatory.review import ReviewOutcome, record_reviews

DEFAULT_RESULTS = Path("test-results/requirements.json")
DEFAULT_GRAPH = Path("trace/graph.json")


def _source_name(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def load_runs(root: Path, paths: Sequence[Path]) -> list[LoadedRun]:
    """The runs of the given result files; by default ``test-results/requirements.json`` if present."""
    if not paths:
        default = root / DEFAULT_RESULTS
        paths = [default] if default.is_file() else []
    runs = [load_run(path, _source_name(root, path)) for path in paths]
    return runs


def build(root: Path, results: Sequence[Path], out: Path | None = None, *, head: str | None = None,
          runtime: Sequence[str] | None = None, components: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Load the items and runs at ``root``, build the graph and (if ``out``) write it.

    ``head`` defaults to ``git rev-parse HEAD`` at ``root``; ``runtime`` to the installed
    device-ai's runtime dependencies.
    """
    project = load_project(root)
    checked_out = git_head(root)
    # the item files compared with the commit when there is one (outside git: not known, and no run
    # there is evidence); git failing after the commit is known is NOT_COMPARED (review 93, defect 2)
    uncommitted = None if checked_out is None else git_uncommitted(root, item_files(root), at_head=MODEL_MANIFEST)
    graph = build_graph(project, load_runs(root, results), head=checked_out if head is None else head,
                        runtime=runtime, components=components, uncommitted=uncommitted)
    if out is not None:
        write_graph(graph, out)
    return graph


def read_graph(path: Path) -> dict[str, Any]:
    """A graph written by :func:`build`; a typed error when it is missing or not a graph."""
    try:
        graph = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TraceabilityError(f"no trace graph at {path}", hint="run device-ai trace build first") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise TraceabilityError(f"cannot read the trace graph {path}: {exc}", hint="rebuild it: device-ai trace build") from exc
    if not isinstance(graph, dict) or graph.get("schema") != SCHEMA:
        raise TraceabilityError(f"{path} is not a trace graph ({SCHEMA})", hint="rebuild it: device-ai trace build")
    return graph


def check(root: Path, graph_path: Path, *, release: bool = False, head: str | None = None) -> CheckReport:
    """Judge the graph at ``graph_path`` against the commit checked out at ``root``."""
    return check_graph(read_graph(graph_path), head=git_head(root) if head is None else head,
                       release=release)


def review(root: Path, ids: Sequence[str] | None, *, by: str, independent: bool = False) -> ReviewOutcome:
    """Record reviews (``ids`` None: every item not reviewed at its current content)."""
    return record_reviews(load_project(root), ids, by=by, date=utc_now(), commit=git_head(root),
                          independent=independent)
