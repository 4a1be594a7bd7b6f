"""Public coding schemes (PS3.16 Table 8-1), loaded from ``data/coding_schemes.json``.

Coded text (Code Value, Code Meaning, ...) is kept by the de-identifier only inside a code
item of a *public* scheme: one listed in PS3.16 Table 8-1. Private and local schemes
(designators beginning with ``99``, ``L``, ``LOCAL``, anything not listed) can carry
anything, including names and identifiers, so their coded text is removed or replaced.
The data file says where the list comes from and which Table 8-1 entries are left out.

This is reference data of the standard, shared by the engine and the self-check like the
rule table; each of them decides on its own what to keep with it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(1)
def public_designators() -> frozenset[str]:
    """The Coding Scheme Designators whose code items keep their coded text."""
    resource = resources.files("device_ai.dicom.deidentify") / "data" / "coding_schemes.json"
    data = json.loads(resource.read_text(encoding="utf-8"))
    return frozenset(str(d) for d in data["designators"])


def is_public_scheme(designator: object) -> bool:
    """Whether ``designator`` names a public coding scheme (exact, case-sensitive, PS3.16)."""
    text = str(designator or "").strip()
    if not text or text.startswith("99") or text.upper() in ("L", "LOCAL"):
        return False
    return text in public_designators()
