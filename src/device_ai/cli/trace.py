"""``device-ai trace build | check | review``: the trace graph and its gate (issue 6).

The work is in :mod:`device_ai.regulatory.trace`. Item problems are printed by the CLI under
the error line, one ``file:line: ID: problem`` each; gaps are printed one per line on stdout
before the gate's error line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device_ai.errors import ConfigError, TraceGateFailed


def cmd_trace_build(args: argparse.Namespace) -> int:
    from device_ai.app import preconditions
    from device_ai.regulatory.trace import build

    root = Path(args.root)
    preconditions.check_input_folder(root, "--root")  # before any work: a path the system cannot use is typed
    preconditions.check_output_file(Path(args.out), "--out")
    graph = build(root, [Path(p) for p in args.results], Path(args.out))
    tests = sum(1 for node in graph["nodes"] if node["kind"] == "test")
    print(f"trace graph: {len(graph['nodes'])} nodes ({tests} tests), {len(graph['edges'])} edges, "
          f"{len(graph['runs'])} run(s) -> {args.out}")
    return 0


def cmd_trace_check(args: argparse.Namespace) -> int:
    from device_ai.regulatory.trace import check

    report = check(Path(args.root), Path(args.graph), release=args.release)
    for line in report.lines():
        print(line)
    if not report.passed:
        raise TraceGateFailed(f"{len(report.section('gap'))} gap(s) in the evidence (listed above)",
                              hint="fix each GAP line; device-ai trace review ID --by NAME records a review")
    return 0


def cmd_trace_review(args: argparse.Namespace) -> int:
    from device_ai.regulatory.trace import review

    if bool(args.ids) == bool(args.all):
        raise ConfigError("give item IDs or --all, not both or neither", hint="device-ai trace review SRS-012 --by NAME")
    outcome = review(Path(args.root), None if args.all else args.ids, by=args.by, independent=args.independent)
    for record in outcome.added if not args.all else ():
        print(f"reviewed {record.id} at {record.fingerprint[:12]} by {record.by} ({record.date})")
    if outcome.unchanged and not args.all:
        print("already reviewed at their current content: " + ", ".join(outcome.unchanged))
    print(f"{len(outcome.added)} review(s) recorded in traceability/reviews.yaml")
    return 0


def register(add: Callable[..., Any]) -> None:
    """Add ``trace build | check | review`` with the CLI's ``add(name, func, help, parent)``."""
    from device_ai.regulatory.trace import DEFAULT_GRAPH, DEFAULT_RESULTS

    trace = add("trace", None, "requirement / risk / test trace graph and its gate (IEC 62304, ISO 14971)")
    trace_sub = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)

    build = add("build", cmd_trace_build, "build the trace graph (JSON) from the items and test results", trace_sub)
    build.add_argument("--results", action="append", default=[], metavar="PATH",
                       help=f"test-results file from pytest --req-report (repeatable; default {DEFAULT_RESULTS})")
    build.add_argument("--out", default=str(DEFAULT_GRAPH), help=f"graph file to write (default {DEFAULT_GRAPH})")
    build.add_argument("--root", default=".", help="project root (default: the current folder)")

    check = add("check", cmd_trace_check, "the gate: list every gap in the evidence, exit non-zero if any", trace_sub)
    check.add_argument("--graph", default=str(DEFAULT_GRAPH), help=f"graph file (default {DEFAULT_GRAPH})")
    check.add_argument("--root", default=".", help="project root whose HEAD commit is checked (default: .)")
    check.add_argument("--release", action="store_true",
                       help="release build: results from a dirty work tree are not evidence, and a SOUP "
                            "version that differs from the installed one, an unacceptable residual risk (without "
                            "--release listed as open: not releasable; SRS-186), an incomplete runtime SOUP anomaly "
                            "review, a threat without controls in effect or with an unacceptable residual, and an "
                            "unassessed runtime SBOM component are gaps")

    review = add("review", cmd_trace_review, "record a review of items (clears their suspect links)", trace_sub)
    review.add_argument("ids", nargs="*", metavar="ID", help="item IDs, e.g. SRS-012 RC-003")
    review.add_argument("--all", action="store_true", help="review every item not yet reviewed at its content")
    review.add_argument("--by", required=True, help="the reviewer's name")
    review.add_argument("--independent", action="store_true",
                        help="the reviewer is independent of the author (recorded as independent: true; default "
                             "false)")
    review.add_argument("--root", default=".", help="project root (default: the current folder)")
