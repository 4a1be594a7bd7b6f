"""The trace graph: every item, test and test run of the device file as one typed JSON document.

``device-ai trace build`` loads the items (:mod:`.loader`) and the test-result runs
(:mod:`.results`) and writes one graph (DESIGN.md: "the trace graph is data first"; IEC 62304
5.1.1 c, 5.7.4, 7.3.3 traceability; reference/regulatory.md §6.1):

- ``nodes``: ``{kind, id, fields, fingerprint, source, review, review_state, suspect_because,
  independent_reviews}`` (``independent_reviews``: the records at the current fingerprint that
  :func:`.review.counts_as_independent` accepts); requirements carry their ``verification`` verdict,
  hazardous situations their ``evaluation``, ``effectiveness_records`` (SHA-256 of each
  evidence record, None when missing), ``effectiveness_targets`` (the path each record resolves
  to inside the project, None outside it), ``effectiveness_test_output`` (the records whose
  content is generated test output: :mod:`.record_content`) and ``effectiveness_item_copies``
  (the records that are byte copies of a file the items are read from, with that file), threats
  their ``evaluation`` under the security plan, security interfaces their ``missing_modules``,
  tests their ``results`` per run;
- ``edges``: ``{kind, source, target, reviewed: {source, target}, suspect}`` where ``reviewed``
  holds the fingerprints each end had when last reviewed;
- ``runs`` (the 5.7.5 run headers), ``documents``, ``environment`` and the ``head`` commit.

The output is byte-reproducible: keys and lists are sorted (item fields keep their authored order),
and nothing depends on the wall clock except the recorded inputs (the runs' dates, the reviews).
Renderers and ``trace check`` read only this graph.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import device_ai
from device_ai.atomic_io import atomic_write_text
from device_ai.regulatory import evidence
from device_ai.regulatory.documents import document_status, system_class
from device_ai.regulatory.fingerprint import fingerprint
from device_ai.regulatory.items import HazardousSituation, Link, SoftwareItem, SoupItem, normalize_package
from device_ai.regulatory.loader import Located, Project, item_files
from device_ai.regulatory.overclaim import EMPTY_SHA256
from device_ai.regulatory.record_content import generated_test_output
from device_ai.regulatory.results import LoadedRun
from device_ai.regulatory.review import independent_reviews, last_reviews, review_state
from device_ai.regulatory.risk import evaluate_situation
from device_ai.regulatory.runtime_components import installed_runtime_components
from device_ai.regulatory.security import evaluate_threat
from device_ai.regulatory.security_items import SecurityInterface, Threat

SCHEMA = "device-ai/trace-graph/1"
PACKAGE = "device-ai"


def _requirement_name(requirement: str) -> str | None:
    """The normalized distribution name of a PEP 508 requirement, None if it applies to an extra only."""
    spec, _, marker = requirement.partition(";")
    if "extra" in marker:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return normalize_package(match.group(1)) if match else None


def runtime_requirements(root: Path, package: str = PACKAGE) -> tuple[str, list[str] | None]:
    """``(source, names)``: the runtime dependencies (no extras) that need SOUP entries.

    Read from ``pyproject.toml`` ``[project] dependencies`` at ``root`` when it declares
    ``package`` (the repository alone is the source), else from the installed package's metadata;
    None when neither is available (``trace check`` reports that as a gap).
    """
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if normalize_package(str(project.get("name", ""))) == normalize_package(package):
            names = {_requirement_name(r) for r in project.get("dependencies", [])}
            return "pyproject.toml", sorted(n for n in names if n)
    try:
        declared = metadata.requires(package) or []
    except metadata.PackageNotFoundError:
        return f"{package} is not installed and pyproject.toml does not declare it", None
    names = {_requirement_name(r) for r in declared}
    return f"installed metadata of {package}", sorted(n for n in names if n)


def installed_versions(names: Sequence[str]) -> dict[str, str | None]:
    """The installed version of each distribution name, None when not installed."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _item_node(located: Located[Any], item_id: str, kind: str, fp: str, review: Any, state: str) -> dict[str, Any]:
    fields = located.item.model_dump(mode="json")
    fields.pop("id", None)
    return {"kind": kind, "id": item_id, "fields": fields, "fingerprint": fp, "source": located.where,
            "review": None if review is None else review.model_dump(exclude={"id"}), "review_state": state,
            "suspect_because": []}


def _test_nodes(runs: Sequence[LoadedRun], known: set[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """One node per pytest node id with its results in every run; ``verifies`` edges to known IDs."""
    tests: dict[str, dict[str, Any]] = {}
    requirements: dict[str, set[str]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        for node_id, record in run.results.items():
            node = tests.get(node_id)
            if node is None:
                node = tests[node_id] = {"kind": "test", "id": node_id, "fingerprint": None, "source": None,
                                         "review": None, "review_state": None, "suspect_because": [],
                                         "fields": {"file": record.file, "line": record.line}, "results": []}
                requirements[node_id] = set()
            requirements[node_id].update(record.requirements)
            node["results"].append({"run": run.id, "outcome": record.outcome, "duration_s": record.duration_s,
                                    "message": record.message})
    edges = []
    for node_id, node in tests.items():
        names = sorted(requirements[node_id])
        node["fields"]["requirements"] = names
        node["fields"]["unresolved"] = [r for r in names if r not in known]
        edges.extend(("verifies", node_id, r) for r in names if r in known)
    return list(tests.values()), edges


def build_graph(project: Project, runs: Sequence[LoadedRun], *, head: str | None,
                runtime: Sequence[str] | None = None, installed: Mapping[str, str | None] | None = None,
                components: Sequence[Mapping[str, Any]] | None = None,
                uncommitted: Sequence[str] | str | None = None) -> dict[str, Any]:
    """The trace graph of ``project`` with the test ``runs``, judged against commit ``head``.

    ``uncommitted``: the item files that differ from ``head`` in the work tree they were read from
    (None: not known, outside git; records.NOT_COMPARED: git failed); the release gate refuses a
    graph built from such edits, or that could not be compared.

    ``runtime`` are the runtime dependencies that need SOUP entries (default: those of the
    installed device-ai); ``installed`` their installed versions (default: looked up).
    ``components`` are the SBOM's runtime components (``{name, version, type}``) that need a
    support and vulnerability assessment (:mod:`.supply_chain`); by default the installed closure
    of the looked-up ``runtime`` requirements with CPython and their native libraries, none when
    the caller gives ``runtime`` (a synthetic environment gives both).
    """
    latest = last_reviews(project)
    nodes: dict[str, dict[str, Any]] = {}
    located_all: list[tuple[str, Located[Any]]] = sorted(project.items.items())
    for extra in (project.plan, project.benefit, project.post_production, project.security_plan, project.device):
        if extra is not None:
            located_all.append((extra.item.id, extra))
    for item_id, located in located_all:
        fp = fingerprint(located.item)
        review = latest.get(item_id)
        nodes[item_id] = _item_node(located, item_id, located.item.KIND, fp, review, review_state(fp, review))
        nodes[item_id]["independent_reviews"] = [r.model_dump(exclude={"id", "fingerprint"})
                                                 for r in independent_reviews(project, item_id, fp)]

    raw_edges: list[tuple[str, str, str]] = []
    for item_id, located in sorted(project.items.items()):
        link: Link
        for link in located.item.links():
            raw_edges.append((link.kind, item_id, link.target))
        if isinstance(located.item, HazardousSituation) and project.plan is not None:
            raw_edges.append(("evaluated_against", item_id, project.plan.item.id))
    for single in (project.security_plan, project.device):
        if single is not None:
            raw_edges.extend((link.kind, single.item.id, link.target) for link in single.item.links())
    test_nodes, test_edges = _test_nodes(runs, set(nodes))
    raw_edges.extend(test_edges)
    for node in test_nodes:
        nodes[node["id"]] = node

    changed = {node_id for node_id, node in nodes.items() if node["review_state"] == "changed"}
    edges = []
    suspects: dict[str, set[str]] = defaultdict(set)
    for kind, source, target in sorted(set(raw_edges)):
        reviewed = {end: (latest[node_id].fingerprint if node_id in latest else None)
                    for end, node_id in (("source", source), ("target", target))}
        suspect = source in changed or target in changed
        if source in changed:
            suspects[target].add(source)
        if target in changed:
            suspects[source].add(target)
        edges.append({"kind": kind, "source": source, "target": target, "reviewed": reviewed, "suspect": suspect})
    for node_id, because in suspects.items():
        nodes[node_id]["suspect_because"] = sorted(because)

    run_rows = sorted(({"id": run.id, "source": run.source, "sha256": run.sha256, "header": run.header} for run in runs),
                      key=lambda r: r["id"])
    _attach_verdicts(nodes, edges, run_rows, head)
    _attach_risk_evaluations(project, nodes)
    _attach_threat_evaluations(project, nodes)

    given = runtime is not None
    if runtime is None:
        runtime_source, runtime = runtime_requirements(project.root)
    else:
        runtime_source, runtime = "given", sorted({normalize_package(n) for n in runtime})
    if components is None:  # the closure of the same runtime requirements the SOUP rule checks
        components = [] if given else installed_runtime_components(runtime)
    soup_packages = sorted({normalize_package(x.item.package) for x in project.of(SoupItem)})
    names = sorted(set(runtime or ()) | set(soup_packages))
    versions = installed_versions(names) if installed is None else dict(installed)
    safety = system_class([x.item.safety_class for x in project.of(SoftwareItem)])
    return {
        "schema": SCHEMA,
        "generator": {"name": "device-ai trace build", "version": device_ai.__version__},
        "head": {"commit": head, "uncommitted_items": _recorded(uncommitted)},
        "safety_class": safety,
        "documents": document_status(project.root, safety),
        "environment": {"package": PACKAGE, "runtime_requirements": runtime,
                        "runtime_requirements_source": runtime_source,
                        "installed": {k: versions.get(k) for k in sorted(versions)},
                        "sbom_components": None if components is None else sorted(
                            ({"name": str(c["name"]), "version": c.get("version"), "type": str(c["type"])}
                             for c in components), key=lambda c: (c["name"], c["version"] or ""))},
        "runs": run_rows,
        "nodes": sorted(nodes.values(), key=lambda n: (n["kind"], n["id"])),
        "edges": edges,
    }


def _recorded(uncommitted: Sequence[str] | str | None) -> list[str] | str | None:
    """The item files that differ from the commit as the graph records them: a sorted list, None
    (not known: outside git) or records.NOT_COMPARED (git failed)."""
    return uncommitted if uncommitted is None or isinstance(uncommitted, str) else sorted(uncommitted)


def _attach_verdicts(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]], runs: list[dict[str, Any]],
                     head: str | None) -> None:
    exclusions = evidence.run_exclusions(runs, head, require_clean=False)
    results = {node_id: node["results"] for node_id, node in nodes.items() if node["kind"] == "test"}
    verifying: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        if edge["kind"] == "verifies":
            verifying[edge["target"]].append(edge["source"])
    for node in nodes.values():
        if node["kind"] == "requirement":
            node["verification"] = evidence.verdict(verifying.get(node["id"], ()), results, exclusions).to_json()


def _attach_risk_evaluations(project: Project, nodes: dict[str, dict[str, Any]]) -> None:
    if project.plan is None:
        return
    plan = nodes[project.plan.item.id]["fields"]
    # the files the items are read from, by digest (an empty file is reported as empty, not as a copy)
    loaded = {digest: path for path in reversed(item_files(project.root))
              if (digest := _file_sha256(project.root / path)) not in (None, EMPTY_SHA256)}
    for located in project.of(HazardousSituation):
        node = nodes[located.item.id]
        node["evaluation"] = evaluate_situation(plan, node["fields"])
        node["effectiveness_records"] = {evidence.record: _file_sha256(project.root / evidence.record)
                                         for evidence in located.item.effectiveness if evidence.record}
        # SRS-181: what each record resolves to inside the project (links and '..' followed; None
        # outside it), so that a link to the risk file is judged as the risk file (review 148 D1b)
        node["effectiveness_targets"] = {record: _inside(project.root, record)
                                         for record in node["effectiveness_records"]}
        # SRS-181: a record whose content is generated test output, wherever it lives
        node["effectiveness_test_output"] = {
            record: kind for record, target in node["effectiveness_targets"].items()
            if (kind := generated_test_output(project.root / (target or record)))}
        # SRS-181: a record that is a byte copy of a file the items are read from (review 154 D1b)
        node["effectiveness_item_copies"] = {record: loaded[digest] for record, digest
                                             in node["effectiveness_records"].items() if digest in loaded}


def _attach_threat_evaluations(project: Project, nodes: dict[str, dict[str, Any]]) -> None:
    """Each threat's initial and residual security risk under the security plan's matrix, and each
    interface's ``missing_modules``: the modules it names that are not in the source tree (the
    security file must describe the device as built; :mod:`.security`)."""
    for located in project.of(SecurityInterface):
        nodes[located.item.id]["missing_modules"] = [m for m in located.item.modules
                                                     if not _module_exists(project.root, m)]
    if project.security_plan is None:
        return
    plan = nodes[project.security_plan.item.id]["fields"]
    for located in project.of(Threat):
        node = nodes[located.item.id]
        node["evaluation"] = evaluate_threat(plan, node["fields"])


def _inside(root: Path, record: str) -> str | None:
    """``record`` as the path it resolves to (symlinks and ``..`` followed) relative to ``root``,
    None when it resolves outside ``root``."""
    base = root.resolve()
    try:
        return (base / record).resolve().relative_to(base).as_posix()
    except (ValueError, OSError, RuntimeError):  # outside the project; a link loop (RuntimeError)
        return None


def _module_exists(root: Path, module: str) -> bool:
    """Whether ``module`` (``a.b.c``) is a module or package under ``root/src`` or ``root``. A
    module name is dotted identifiers: an absolute path, a path with separators or ``..`` is none
    and is never joined onto the base (review 148 D5)."""
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    relative = Path(*parts)
    return any((base / relative).with_suffix(".py").is_file() or (base / relative / "__init__.py").is_file()
               or _namespace_package(base / relative) for base in (root / "src", root))


def _namespace_package(folder: Path) -> bool:
    """A folder without ``__init__.py`` that holds Python code: a PEP 420 namespace package, which
    imports as a package (review 154 D4: device_ai.dicom.deidentify is one). A folder without code
    (docs/) is no package."""
    return folder.is_dir() and next(folder.rglob("*.py"), None) is not None


def _file_sha256(path: Path) -> str | None:
    """SHA-256 of a committed evidence record, None when it does not exist (a gap in trace check)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _compact(value: Any) -> str:
    return _ENCODER.encode(value)


def graph_json(graph: Mapping[str, Any]) -> str:
    """The canonical text of a graph: sorted keys, UTF-8, one list element (node, edge, run...)
    per line so that diffs between builds stay readable, final newline. Still one JSON document.

    (Compact per element: the C JSON encoder, about ten times faster than ``indent=``.)
    """
    lines = ["{"]
    keys = sorted(graph)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        value = graph[key]
        if isinstance(value, list) and value:
            lines.append(f" {_compact(key)}: [")
            lines.extend(f"  {_compact(element)}," for element in value[:-1])
            lines.append(f"  {_compact(value[-1])}")
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {_compact(key)}: {_compact(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(graph: Mapping[str, Any], path: Path) -> Path:
    """Write the graph atomically."""
    return atomic_write_text(Path(path), graph_json(graph))
