"""The submission package: every document, the SBOM and a hashed manifest in one folder
(IEC 62304 5.8.2-5.8.8 release documentation and reliable delivery; FDA premarket software
documentation; EU MDR Annex II).

``device-ai report package --out DIR [--baseline DIR]`` renders the trace graph into:

- ``index.html`` (every document with its clause and SHA-256) and the HTML documents of
  :data:`device_ai.regulatory.render.DOCUMENTS` (plus ``diff.html`` with a baseline);
- ``sbom.cdx.json``, the CycloneDX SBOM merged with the SOUP curation;
- ``trace-graph.json``, the graph itself (what a later package diffs against);
- ``manifest.json``: the SHA-256 and size of every other file and the control block (ID, revision,
  date, author, approval, the reviews it rests on, the signed SHA-256 approvals cover) of every
  document (:mod:`device_ai.regulatory.render.control`);
- with ``--pdf``, one PDF per HTML document printed by headless Chromium (:mod:`device_ai.regulatory.pdf`).

``device-ai review sign`` later adds ``approvals.json`` (document signatures) and ``manifest.sig``
(the seal), which the manifest does not list (:mod:`device_ai.regulatory.package_signing`).

Built twice from the same graph, repository and environment, the package is byte-identical:
no wall clock, sorted everything, the SBOM serial number derived from its content. The folder
appears in one rename when complete and an existing non-empty folder is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import device_ai
from device_ai.atomic_io import atomic_write_bytes, staged_directory
from device_ai.errors import TraceabilityError, TraceGateFailed
from device_ai.regulatory import approvals, runtime_components
from device_ai.regulatory import sbom as sbom_module
from device_ai.regulatory import trace
from device_ai.regulatory.graph import graph_json
from device_ai.regulatory.pdf import Printer, print_documents
from device_ai.regulatory.render import render_all, render_index
from device_ai.regulatory.render import control as doc_control
from device_ai.regulatory.render.documents import fields
from device_ai.regulatory.render.view import TraceView

MANIFEST = "manifest.json"
GRAPH = "trace-graph.json"
SBOM = "sbom.cdx.json"
SCHEMA = "device-ai/submission-package/1"


@dataclass(frozen=True)
class PackageResult:
    """What was written: the folder, ``{file: sha256}`` and the manifest's own SHA-256."""

    out: Path
    files: Mapping[str, str]
    manifest_sha256: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_graph(path: Path) -> dict[str, Any]:
    """A trace graph from a JSON file (:func:`device_ai.regulatory.trace.read_graph`), checked for
    the shape the renderers rely on; a typed error when it is missing, unreadable or another schema."""
    graph = trace.read_graph(Path(path))
    TraceView.from_graph(graph)
    return graph


def model_manifests(view: TraceView, root: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of every model node, checked against the digest in the graph."""
    found: dict[str, Any] = {}
    for node in view.of("model"):
        f = fields(node)
        path = root / str(f.get("package", "")) / "manifest.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise TraceabilityError(f"cannot read {path}: {exc.strerror}", hint="check the file's permissions") from exc
        if sha256_hex(data) != f.get("manifest_sha256"):
            raise TraceabilityError(f"{path} is not the manifest the trace graph was built from",
                                    hint="rebuild the graph (device-ai trace build) after changing a model package")
        found[str(node["id"])] = json.loads(data)
    return found


def load_baseline(folder: Path) -> TraceView:
    """The trace graph of an earlier package, after checking the files against its manifest."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["files"]
        expected = listed[GRAPH]["sha256"]
        graph_bytes = (folder / GRAPH).read_bytes()
    except FileNotFoundError as exc:
        raise TraceabilityError(f"{folder} is not a submission package ({exc.filename} missing)",
                                hint="--baseline must name a folder written by device-ai report package") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TraceabilityError(f"cannot read the baseline package {folder}: {exc}",
                                hint="--baseline must name a folder written by device-ai report package") from exc
    if sha256_hex(graph_bytes) != expected:
        raise TraceabilityError(f"the baseline's {GRAPH} does not match its manifest",
                                hint="the baseline package was altered; use an intact copy")
    try:
        return TraceView.from_graph(json.loads(graph_bytes))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceabilityError(f"the baseline's {GRAPH} is not JSON: {exc}") from exc


def build_sbom_text(view: TraceView, manifests: Mapping[str, Any] | None = None) -> str:
    """The package's CycloneDX SBOM, validated against the schema (IEC 62304 8.1.2; FDA 524B): the
    installed closure, CPython and the native libraries of the runtime wheels, the model packages
    (``manifests``: parsed manifest by model node ID) and the support and VEX entries of
    ``security/components.yaml``."""
    soup = [{"id": str(n["id"]), **fields(n)} for n in view.of("soup")]
    packages = sbom_module.closure()
    extras = runtime_components.extra_components(p.name for p in packages if p.scope == "required")
    models = [{"id": str(n["id"]), **fields(n), "manifest": (manifests or {}).get(str(n["id"]))}
              for n in view.of("model")]
    assessments = [{"id": str(n["id"]), **fields(n)} for n in view.of("sbom_component")]
    document = sbom_module.build_sbom(packages, soup, main_version=view.software_version,
                                      timestamp=view.recorded_date(), tool_version=device_ai.__version__,
                                      extras=extras, models=models, assessments=assessments)
    text = sbom_module.sbom_text(document)
    sbom_module.validate(text)
    return text


def package_files(graph: Mapping[str, Any], *, root: Path, baseline: Path | None = None,
                  draft_gaps: Sequence[str] = (), printer: Printer | None = None) -> dict[str, bytes]:
    """Every file of the package, ``{relative name: bytes}``, the manifest last (IEC 62304 5.8.7, 5.8.8).
    ``draft_gaps``: the trace gate's gaps of a draft built despite them; the index and the
    manifest then say it is a draft and list them. ``printer``: also a PDF of every HTML document."""
    view = TraceView.from_graph(graph)
    old = load_baseline(baseline) if baseline is not None else None
    manifests = model_manifests(view, Path(root))
    sbom_text = build_sbom_text(view, manifests)
    sbom = json.loads(sbom_text)
    rendered = render_all(view, root=Path(root), sbom=sbom, model_manifests=manifests, baseline=old)
    files: dict[str, bytes] = {name: text.encode("utf-8") for name, text in rendered.items()}
    files[SBOM] = sbom_text.encode("utf-8")
    files[GRAPH] = graph_json(graph).encode("utf-8")
    # the index lists each document's signed digest: a signature added later leaves it true
    digests = {name: doc_control.signed_sha256(name, data) for name, data in files.items()}
    files["index.html"] = render_index(view, digests, has_diff=old is not None, draft_gaps=draft_gaps,
                                       pdf=printer is not None).encode("utf-8")
    documents = {name: doc_control.block(view, name) for name in [*files, MANIFEST]}
    for name, data in files.items():
        documents[name]["signed_sha256"] = doc_control.signed_sha256(name, data)
    if printer is not None:
        html = {name: data.decode("utf-8") for name, data in files.items() if name.endswith(".html")}
        files.update(print_documents(html, binary=printer.binary, recorded_utc=view.recorded_date()))
        for name in html:
            documents[name]["pdf"] = name[:-5] + ".pdf"
    manifest = {
        "schema": SCHEMA,
        "software": {"name": "device-ai", "version": view.software_version},
        "commit": view.head,
        "generator": {"name": "device-ai report package", "version": device_ai.__version__},
        "baseline": None if old is None else {"commit": old.head, "version": old.software_version},
        "status": "draft" if draft_gaps else "complete",
        "draft_gaps": list(draft_gaps),
        "sbom_serial_number": sbom.get("serialNumber"),
        "documents": dict(sorted(documents.items())),
        "pdf_printer": None if printer is None else printer.version,
        "files": {name: {"sha256": sha256_hex(data), "bytes": len(data)} for name, data in sorted(files.items())},
    }
    files[MANIFEST] = manifest_bytes(manifest)
    return dict(sorted(files.items()))


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """``manifest.json`` as written: sorted keys, one-space indent, UTF-8, a final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def build_package(graph: Mapping[str, Any], *, root: Path, out: Path, baseline: Path | None = None,
                  draft_gaps: Sequence[str] = (), pdf: bool = False,
                  chromium: str | Path | None = None) -> PackageResult:
    """Write the submission package to ``out`` (must not exist or be empty), in one rename; with
    ``pdf`` the PDFs too (Chromium from ``chromium`` or PATH, found before anything is rendered)."""
    printer = Printer.find(chromium) if pdf else None
    files = package_files(graph, root=root, baseline=baseline, draft_gaps=draft_gaps, printer=printer)
    out = Path(out)
    with staged_directory(out) as stage:
        for name, data in files.items():
            atomic_write_bytes(stage / name, data)
    return PackageResult(out, {name: sha256_hex(data) for name, data in files.items()}, sha256_hex(files[MANIFEST]))


def gate_gaps(root: Path, graph_path: Path, *, allow_gaps: bool) -> list[str]:
    """The trace gate's gap lines for a package of ``graph_path``, judged by the release rules (a
    submission package is a release: an unacceptable residual risk or an incomplete runtime SOUP
    review is a gap, SRS-184/SRS-186): refuses (TraceGateFailed, every gap in ``problems``) unless
    ``allow_gaps``; then the gaps make the package a draft."""
    from device_ai.regulatory.trace import check

    gaps = [finding.line() for finding in check(Path(root), Path(graph_path), release=True).section("gap")]
    if gaps and not allow_gaps:
        raise TraceGateFailed(f"{len(gaps)} gap(s) in the evidence: the package would present unverified items as "
                              "evidence; nothing was written", problems=tuple(gaps),
                              hint="fix each GAP line (device-ai trace check), or pass --allow-gaps for a draft")
    return gaps


def verify_package(folder: Path, trusted: Mapping[str, approvals.TrustedSigner] | None = None) -> list[str]:
    """Files of a package whose bytes differ from its manifest, or that are missing or unlisted.
    With ``trusted`` (the verifier's trusted signers), also every signature that does not verify,
    covers other bytes, or disagrees with what a page shows, and a manifest signature that does not
    verify (:func:`device_ai.regulatory.package_signing.check_signatures`; an unsigned manifest is no
    problem: a package is a draft until sealed)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed: Mapping[str, Mapping[str, Any]] = manifest["files"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TraceabilityError(f"cannot read the manifest of {folder}: {exc}") from exc
    problems = []
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for name in present:
        # the signature files are added after the manifest (review sign) and verify themselves
        if name != MANIFEST and name not in listed and name not in approvals.SIGNATURE_FILES:
            problems.append(f"{name}: not in the manifest")
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_hex(path.read_bytes()) != entry.get("sha256"):
            problems.append(f"{name}: SHA-256 differs from the manifest")
    if trusted is not None:
        from device_ai.regulatory.package_signing import check_signatures

        problems += check_signatures(folder, trusted).problems
    return problems
