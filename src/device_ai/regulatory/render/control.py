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
- the **approval** is the state the document's signatures give (:mod:`device_ai.regulatory.approvals`):
  ``not approved (draft)`` in a package as built; ``device-ai review sign`` adds signatures to a package
  and rewrites only the document's *approval region*, which :func:`signed_sha256` leaves out of the
  digest the signatures cover (as a PDF signature's byte range leaves out the signature itself);
- the **reviews** it rests on: of the items the document shows (:data:`DOCUMENT_ITEMS`), how many were
  reviewed independently at their current content, how many by their author only, how many not at all
  (``traceability/reviews.yaml``, ``device-ai trace review [--independent]``).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from typing import Any

import device_ai
from device_ai.errors import TraceabilityError
from device_ai.regulatory import approvals
from device_ai.regulatory.render.view import TraceView

ID_PATTERN = re.compile(r"DAI-DOC-[A-Z0-9]+(?:-[A-Z0-9]+)*")

#: The file the package writes the model card to; the SBOM's model components refer to it (SRS-198).
MODEL_CARD_FILE = "model-card.html"
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
    MODEL_CARD_FILE: "DAI-DOC-MODEL-CARD",
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

NOT_APPROVED = approvals.NOT_APPROVED

# The item kinds each document shows: what its reviews line counts. A new document needs an entry.
_RISK = ("risk_plan", "hazard", "hazardous_situation", "risk_control", "benefit_risk", "post_production_plan")
_SECURITY = ("security_plan", "security_asset", "security_interface", "threat", "security_use_case")
_ALL = ("user_need", "requirement", "software_item", "soup", "anomaly", "model", "sbom_component",
        "device_description", "gspr", "iec62304_clause", *_RISK, *_SECURITY)
DOCUMENT_ITEMS: Mapping[str, tuple[str, ...]] = {
    "index.html": _ALL, "manifest.json": _ALL, "trace-graph.json": _ALL, "diff.html": _ALL,
    "trace-requirements.html": ("user_need", "requirement", "software_item", "risk_control"),
    "srs.html": ("user_need", "requirement", "software_item", "risk_control"),
    "trace-risk.html": ("hazard", "hazardous_situation", "risk_control", "requirement", "software_item"),
    "trace-soup.html": ("soup", "software_item", "hazardous_situation"),
    "vv-report.html": ("requirement", "anomaly"),
    "risk-report.html": (*_RISK, "requirement"),
    "soup.html": ("soup", "sbom_component"),
    "sbom.cdx.json": ("soup", "sbom_component", "model"),
    MODEL_CARD_FILE: ("model", "anomaly"),
    "ai-validation.html": ("model",),
    "sdp.html": ("software_item",),
    "architecture.html": ("software_item",),
    "sds.html": ("software_item", "requirement"),
    "revision-history.html": (),
    "release-notes.html": ("requirement", "anomaly", "model"),
    "security-risk.html": (*_SECURITY, "risk_control", "requirement"),
    "security-architecture.html": _SECURITY,
    "security-plan.html": ("security_plan",),
    "gspr.html": ("gspr",),
    "iec62304-conformity.html": ("iec62304_clause",),
    "device-description.html": ("device_description", "model"),
    "ifu.html": ("device_description",),
}

# The approval region: what `device-ai review sign` rewrites and signed_sha256 leaves out. Both
# markers hold "<", which the templates' escaping never lets through from content (HTML escapes it
# as &lt;, css_string as \3c), so no item text can open or close a region.
_REGIONS = (("<!--<dai-approval>-->", "<!--</dai-approval>-->"), ("/*<dai-approval>*/", "/*</dai-approval>*/"))


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
        "approval": approvals.draft_approval(),
        "reviews": reviews(view, name),
    }


def reviews(view: TraceView, name: str) -> dict[str, Any]:
    """Whose reviews the document rests on: of the items it shows, how many were reviewed
    independently at their current content, by their author only, or not at their current content."""
    try:
        kinds = DOCUMENT_ITEMS[name]
    except KeyError:
        raise TraceabilityError(f"the package document {name} does not say which items it shows",
                                hint="add it to DOCUMENT_ITEMS in device_ai/regulatory/render/control.py") from None
    counts = {"items": 0, "independent": 0, "author_only": 0, "not_reviewed": 0}
    for kind in kinds:
        for node in view.of(kind):
            counts["items"] += 1
            if node.get("independent_reviews"):
                counts["independent"] += 1
            elif node.get("review_state") == "reviewed":
                counts["author_only"] += 1
            else:
                counts["not_reviewed"] += 1
    return counts


def reviews_text(counts: Mapping[str, int]) -> str:
    """The reviews line of a control block."""
    if not counts["items"]:
        return "reviews it rests on: none (it shows no reviewed items)"
    shows = "the 1 item" if counts["items"] == 1 else f"the {counts['items']} items"
    return (f"reviews it rests on: of {shows} it shows, {counts['independent']} reviewed "
            f"independently, {counts['author_only']} by their author only, {counts['not_reviewed']} not reviewed "
            "at their current content (traceability/reviews.yaml)")


def approval_html(approval: Mapping[str, Any]) -> str:
    """What the approval region of a page shows: the state, every signature with its status, the note."""
    parts = [f'<strong data-field="approval">{html.escape(approval["state"])}</strong>']
    for s in approval["signatures"]:
        mark = "valid" if s["status"] == approvals.VALID else f"NOT COUNTED: {s['status']}"
        parts.append(f'<span class="signature" data-status="{html.escape(s["status"])}">{html.escape(s["role"])} '
                     f'{html.escape(s["name"])}, {html.escape(s["date"])}, key {html.escape(s["key_id"])} '
                     f'({html.escape(mark)})</span>')
    parts.append(f'<span class="small">({html.escape(approval["note"])})</span>')
    return " &middot; ".join(parts)


def _region_pattern(begin: str, end: str) -> re.Pattern[str]:
    return re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)


def _regions_checked(name: str, text: str) -> None:
    for begin, end in _REGIONS:
        if text.count(begin) != 1 or text.count(end) != 1:
            raise TraceabilityError(f"{name} does not hold its approval region exactly once",
                                    hint="the document was altered or not written by device-ai report package")


def signed_sha256(name: str, data: bytes) -> str:
    """The digest approvals sign: the SHA-256 of an HTML document with its approval region emptied
    (showing a signature must not change what it signed); of any other document, of its bytes."""
    if not name.endswith(".html"):
        return hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8")
    _regions_checked(name, text)
    for begin, end in _REGIONS:
        text = _region_pattern(begin, end).sub(lambda _m, b=begin, e=end: b + e, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_approval(name: str, data: bytes, approval: Mapping[str, Any]) -> bytes:
    """The HTML document ``data`` with its approval region showing ``approval`` (page and printed
    header); any other document unchanged. The signed digest stays the same."""
    if not name.endswith(".html"):
        return data
    from device_ai.regulatory.render import css_string

    text = data.decode("utf-8")
    _regions_checked(name, text)
    shown = {_REGIONS[0]: approval_html(approval), _REGIONS[1]: str(css_string(approval["state"]))}
    for (begin, end), content in shown.items():
        text = _region_pattern(begin, end).sub(lambda _m, b=begin, e=end, c=content: b + c + e, text)
    return text.encode("utf-8")
