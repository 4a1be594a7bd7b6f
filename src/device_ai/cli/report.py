"""``device-ai report package | lock | docs``: documents rendered from the trace graph (issue 6).

The work is in :mod:`device_ai.regulatory.package` (the submission package) and
:mod:`device_ai.regulatory.render.myst` (the same package published on the Sphinx site in
``docs/``). Expected problems (no graph, a graph of another schema, an altered baseline, an
existing output folder) are typed errors with a hint, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cmd_report_package(args: argparse.Namespace) -> int:
    """Write the package (IEC 62304 5.8; FDA premarket software documentation) and say where;
    with ``--verify``, check an existing one instead."""
    if args.verify:
        return _verify_package(args)
    from device_ai.regulatory.package import build_package, gate_gaps, read_graph

    graph = read_graph(Path(args.graph))
    gaps = gate_gaps(Path(args.root), Path(args.graph), allow_gaps=args.allow_gaps)
    result = build_package(graph, root=Path(args.root), out=Path(args.out),
                           baseline=Path(args.baseline) if args.baseline else None, draft_gaps=gaps,
                           pdf=args.pdf, chromium=args.chromium)
    if gaps:
        print(f"warning: a DRAFT package with {len(gaps)} gap(s) in the evidence (--allow-gaps); it is not a "
              "submission, and its index.html and manifest.json say so", file=sys.stderr)
    print(f"submission package: {len(result.files)} files -> {result.out} "
          f"(manifest.json SHA-256 {result.manifest_sha256})")
    print(f"open {result.out / 'index.html'}")
    return 0


def _verify_package(args: argparse.Namespace) -> int:
    """Every file against the manifest, every signature against the trusted signers, the seal."""
    from device_ai.cli.review import trusted_path
    from device_ai.errors import TraceabilityError
    from device_ai.regulatory.approvals import load_trusted
    from device_ai.regulatory.package import verify_package
    from device_ai.regulatory.package_signing import check_signatures

    folder, trusted = Path(args.verify), load_trusted(trusted_path(args))
    altered = verify_package(folder)
    report = check_signatures(folder, trusted)
    for line in report.notes:
        print(f"note: {line}")
    approved = sorted(name for name, state in report.states.items() if state == "approved")
    print(f"{len(approved)} of {len(report.states)} documents approved"
          f"{': ' + ', '.join(approved) if approved else ''}; manifest: {report.seal}")
    problems = [*altered, *report.problems]
    if problems:
        raise TraceabilityError(f"{folder}: {len(problems)} problem(s) with the package's files or signatures",
                                problems=tuple(problems), hint="do not submit this package; rebuild and sign it again")
    print(f"{folder}: every file matches the manifest and no signature is altered")
    return 0


def cmd_report_docs(args: argparse.Namespace) -> int:
    """Write the package's documents and their MyST index for the Sphinx site (``make docs`` builds
    the site from them); with gaps in the evidence the published package is a draft and says so."""
    from device_ai.regulatory.package import gate_gaps, read_graph
    from device_ai.regulatory.render.myst import write_pages

    graph = read_graph(Path(args.graph))
    gaps = gate_gaps(Path(args.root), Path(args.graph), allow_gaps=True)
    written = write_pages(graph, Path(args.out), root=Path(args.root), draft_gaps=gaps)
    if gaps:
        print(f"warning: the published package is a DRAFT with {len(gaps)} gap(s) in the evidence (device-ai "
              "trace check --release lists them); its index.html and manifest.json say so", file=sys.stderr)
    print(f"documentation pages: {len(written)} files -> {args.out}")
    return 0


def cmd_report_lock(args: argparse.Namespace) -> int:
    """Write the runtime lock file, or check one against the installed environment."""
    from device_ai.atomic_io import atomic_write_text
    from device_ai.errors import TraceabilityError
    from device_ai.regulatory import lock

    if args.check:
        found = lock.check(Path(args.check))
        for line in found:
            print(line)
        if found:
            raise TraceabilityError(f"{args.check} does not match the installed runtime closure ({len(found)} "
                                    "difference(s), listed above)",
                                    hint="install the locked versions, or write the lock again: device-ai report "
                                         "lock --out runtime.lock (a SOUP change: re-curate it)")
        print(f"{args.check} matches the installed runtime closure")
        return 0
    atomic_write_text(Path(args.out), lock.installed_lock_text())
    print(f"runtime lock -> {args.out}")
    return 0


def register(add: Callable[..., Any]) -> None:
    """Add the ``report`` command group to the CLI (``add`` is :func:`device_ai.cli.parser.build_parser`'s helper)."""
    report = add("report", None, "regulatory documents rendered from the trace graph")
    sub = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    package = add("package", cmd_report_package, "write the submission package: HTML documents, SBOM, "
                  "trace graph and a SHA-256 manifest", sub)
    target = package.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="package folder to create (must not exist or be empty)")
    target.add_argument("--verify", metavar="DIR", help="check an existing package instead: every file against the "
                        "manifest, every signature against the trusted signers (--trusted), the manifest's seal")
    package.add_argument("--trusted", help="trusted signers YAML for --verify (default: "
                         "ROOT/traceability/signers.yaml)")
    package.add_argument("--graph", default="trace/graph.json", help="trace graph from device-ai trace build "
                         "(default: trace/graph.json)")
    package.add_argument("--baseline", help="an earlier package folder: adds diff.html (added, changed, removed "
                         "items and changed verdicts)")
    package.add_argument("--allow-gaps", action="store_true", help="build a draft package even when `trace check` "
                         "finds gaps (they are listed; default: refuse)")
    package.add_argument("--root", default=".", help="repository root holding docs/ and models/ (default: .)")
    package.add_argument("--pdf", action="store_true", help="also print every HTML document to PDF with headless "
                         "Chromium 131+ (document ID, revision and page N of M on every page, bookmarks)")
    package.add_argument("--chromium", help="Chromium binary for --pdf (default: chromium, chromium-browser, "
                         "google-chrome or google-chrome-stable on PATH)")
    lock = add("lock", cmd_report_lock, "write (--out) or check (--check) the lock file of the exact runtime "
               "closure: every runtime distribution pinned with its installed-files digest", sub)
    target = lock.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="lock file to write, e.g. runtime.lock")
    target.add_argument("--check", help="lock file to compare with the installed environment")
    docs = add("docs", cmd_report_docs, "publish the submission package's documents (the same bytes as report "
               "package --allow-gaps) with a MyST index page for the Sphinx site (make docs)", sub)
    docs.add_argument("--out", required=True, help="folder of generated pages, e.g. docs/generated (replaced whole; "
                      "a non-empty folder this command did not write is refused)")
    docs.add_argument("--graph", default="trace/graph.json", help="trace graph from device-ai trace build "
                      "(default: trace/graph.json)")
    docs.add_argument("--root", default=".", help="repository root holding docs/ and models/ (default: .)")
