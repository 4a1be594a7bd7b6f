"""Document control: the ID, revision, date, author and approval state of every generated
document (issue 19 item 3; IEC 62304 5.1.1, 8.1; ISO 13485 4.2.4 control of documents).

Everything here is derived from the trace graph the package is built from, never from the wall
clock, so the package stays byte-reproducible:

- the **document ID** comes from :data:`DOCUMENT_IDS`, one per document kind. An ID is never
  reused: a document kind that is dropped moves its ID to :data:`RETIRED_IDS`, where it stays.
- the **revision** is ``<software version>+g<12 hex digits of the graph's head commit>``
  (``.dirty`` when a test run on that commit recorded a dirty work tree). No baseline tags exist
  yet, so a release counter would be invented; the commit names exactly what was rendered.
- the **date** is the graph's newest recorded test run.
- the **approval** is ``not approved (draft)`` with no signatures: signed approvals
  (``device-ai review sign``, issue 19 item 3) do not exist yet, and this field must not claim one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import device_ai
from device_ai.errors import TraceabilityError
from device_ai.regulatory.render.view import TraceView

ID_PATTERN = re.compile(r"DAI-DOC-[A-Z0-9]+(?:-[A-Z0-9]+)*")

# one ID per document kind, keyed by the file the package writes; never edit an ID in place
DOCUMENT_IDS: Mapping[str, str] = {
    "index.html": "DAI-DOC-INDEX",
    "manifest.json": "DAI-DOC-MANIFEST",
    "trace-requirements.html": "DAI-DOC-TRACE-REQ",
    "trace-risk.html": "DAI-DOC-TRACE-RISK",
    "trace-soup.html": "DAI-DOC-TRACE-SOUP",
    "vv-report.html": "DAI-DOC-VVR",
    "risk-report.html": "DAI-DOC-RMR",
    "soup.html": "DAI-DOC-SOUP",
    "sbom.cdx.json": "DAI-DOC-SBOM",
    "model-card.html": "DAI-DOC-MODEL-CARD",
    "ai-validation.html": "DAI-DOC-AI-VAL",
    "sdp.html": "DAI-DOC-SDP",
    "architecture.html": "DAI-DOC-SAD",
    "srs.html": "DAI-DOC-SRS",
    "sds.html": "DAI-DOC-SDS",
    "revision-history.html": "DAI-DOC-REVHIST",
    "release-notes.html": "DAI-DOC-RELNOTES",
    "security-risk.html": "DAI-DOC-SEC-RISK",
    "security-architecture.html": "DAI-DOC-SEC-ARCH",
    "security-plan.html": "DAI-DOC-SEC-PLAN",
    "gspr.html": "DAI-DOC-GSPR",
    "iec62304-conformity.html": "DAI-DOC-IEC62304",
    "device-description.html": "DAI-DOC-DEVICE",
    "ifu.html": "DAI-DOC-IFU",
    "trace-graph.json": "DAI-DOC-TRACE-GRAPH",
    "diff.html": "DAI-DOC-DIFF",
}
# documents the package writes only with an option, and which option: not every package holds them,
# so the regulatory wrapper may not cite them as evidence (SRS-204, SRS-206)
CONDITIONAL_DOCUMENTS: Mapping[str, str] = {"diff.html": "report package --baseline"}
# IDs of document kinds that no longer exist: never given to another kind
RETIRED_IDS: frozenset[str] = frozenset()

NOT_APPROVED = "not approved (draft)"
APPROVAL_NOTE = ("no signed approval exists: approvals are Ed25519 signatures by named roles "
                 "(device-ai review sign, issue 19 item 3), not yet built")


def table_problems(ids: Mapping[str, str] = DOCUMENT_IDS, retired: frozenset[str] = RETIRED_IDS) -> list[str]:
    """What is wrong with an ID table: a malformed ID, an ID given to two kinds, a retired ID reused."""
    problems = [f"{name}: {doc_id!r} is not of the form DAI-DOC-NAME" for name, doc_id in sorted(ids.items())
                if not ID_PATTERN.fullmatch(doc_id)]
    seen: dict[str, str] = {}
    for name, doc_id in sorted(ids.items()):
        if doc_id in seen:
            problems.append(f"{name}: {doc_id} is already the ID of {seen[doc_id]}")
        seen[doc_id] = name
        if doc_id in retired:
            problems.append(f"{name}: {doc_id} is retired and is never reused")
    return problems


def document_id(name: str) -> str:
    """The ID of the document written as ``name``; a typed error for a document without one."""
    try:
        return DOCUMENT_IDS[name]
    except KeyError:
        raise TraceabilityError(f"the package document {name} has no document ID",
                                hint="add it to DOCUMENT_IDS in device_ai/regulatory/render/control.py "
                                     "(a new ID, never a retired one)") from None


def revision(view: TraceView) -> str:
    """``<version>+g<commit[:12]>`` of the graph, ``.dirty`` when a run on that commit saw a dirty tree."""
    if not view.head:
        return f"{view.software_version}+unversioned"
    dirty = any(((run.get("header") or {}).get("git") or {}).get("dirty") for run in view.current_runs())
    return f"{view.software_version}+g{view.head[:12]}" + (".dirty" if dirty else "")


def block(view: TraceView, name: str) -> dict[str, Any]:
    """The control block of one document: what its header and the manifest show."""
    return {
        "id": document_id(name),
        "revision": revision(view),
        "date": view.recorded_date() or "no recorded test run",
        "author": f"generated by device-ai report package {device_ai.__version__} from the items and test records "
                  f"of commit {view.head or 'unknown'}",
        "approval": {"state": NOT_APPROVED, "signatures": [], "note": APPROVAL_NOTE},
    }
