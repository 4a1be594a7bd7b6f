"""The documents IEC 62304 asks for, per software safety class, and where each lives here.

The standard names activities, not files (reference/regulatory.md §3.1); this table is our split.
Each document lists the repository files that make it up; a document is present when every one of
its entries exists (an entry may name alternatives). The verification records are the test-result
runs, checked by ``trace check`` against the current commit rather than by file. A document marked
``release_only`` (the regulatory wrapper, EU MDR Annex II 1, 2, 4) is needed for a release:
``trace check --release`` lists it when missing, the check without ``--release`` does not (review 101
N4: before, nothing required the wrapper to exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLASS_ORDER = ("A", "B", "C")


@dataclass(frozen=True)
class Document:
    """One document of the software file: ID, title, clause, classes that need it, files."""

    id: str
    title: str
    clause: str
    classes: tuple[str, ...]
    entries: tuple[tuple[str, ...], ...]  # every entry must exist; an entry lists alternatives
    release_only: bool = False  # needed for a release (trace check --release), not for development


VERIFICATION_RECORDS = "DOC-VER"
REGULATORY_WRAPPER = "DOC-WRAPPER"

DOCUMENTS: tuple[Document, ...] = (
    Document("DOC-SDP", "Software development plan", "IEC 62304 5.1", ("A", "B", "C"),
             (("docs/software_development_plan.md", "docs/software_development_plan.rst"),)),
    Document("DOC-SRS", "Software requirements specification", "IEC 62304 5.2", ("A", "B", "C"),
             (("traceability/requirements.yaml",), ("traceability/user_needs.yaml",))),
    Document("DOC-ARCH", "Software architecture", "IEC 62304 5.3", ("B", "C"),
             (("docs/architecture.md", "docs/architecture.rst"), ("traceability/software_items.yaml",))),
    Document("DOC-DDS", "Detailed design", "IEC 62304 5.4", ("C",),
             (("docs/detailed_design.md", "docs/detailed_design.rst"),)),
    Document("DOC-RMF", "Risk management file", "ISO 14971 4.5; IEC 62304 7", ("A", "B", "C"),
             (("risk/plan.yaml",), ("risk/hazards.yaml",), ("risk/hazardous_situations.yaml",),
              ("risk/controls.yaml",), ("risk/benefit.yaml",))),
    Document("DOC-SOUP", "SOUP list", "IEC 62304 8.1.2, 5.3.3, 5.3.4, 7.1.3", ("A", "B", "C"),
             (("traceability/soup.yaml",),)),
    Document("DOC-ANOM", "Known residual anomalies", "IEC 62304 5.8.2, 5.8.3, 9", ("A", "B", "C"),
             (("traceability/anomalies.yaml",),)),
    Document(VERIFICATION_RECORDS, "Verification records (test runs on this commit)", "IEC 62304 5.7.5, 5.6.7",
             ("A", "B", "C"), ()),
    Document(REGULATORY_WRAPPER, "Regulatory wrapper: GSPR checklist, IEC 62304 conformity matrix, device "
             "description and IFU content (needed for a release)", "EU MDR Annex II 1, 2, 4; IEC 62304 conformity",
             ("A", "B", "C"), (("submission/gspr.yaml",), ("submission/iec62304.yaml",), ("submission/device.yaml",)),
             release_only=True),
)


def system_class(classes: list[str]) -> str:
    """The software system's class: the highest of its items; C when nothing is classified
    (IEC 62304 4.3 a: unclassified software is treated as class C)."""
    return max(classes, key=CLASS_ORDER.index) if classes else "C"


def document_status(root: Path, safety_class: str) -> list[dict[str, Any]]:
    """Every document with whether the class needs it and which files were found / are missing."""
    rows = []
    for doc in DOCUMENTS:
        found, missing = [], []
        for alternatives in doc.entries:
            hit = next((path for path in alternatives if (root / path).is_file()), None)
            if hit is None:
                missing.append(" or ".join(alternatives))
            else:
                found.append(hit)
        rows.append({"id": doc.id, "title": doc.title, "clause": doc.clause, "classes": list(doc.classes),
                     "required": safety_class in doc.classes, "release_only": doc.release_only, "found": found,
                     "missing": missing})
    return rows
