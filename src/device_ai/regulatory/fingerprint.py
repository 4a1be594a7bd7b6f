"""Item fingerprints: SHA-256 over the canonical JSON of an item's meaningful fields.

A fingerprint changes when what an item *says* changes (title, text, status, category for a
requirement; see each kind's ``FINGERPRINT_FIELDS``), not when review metadata, comments,
formatting or the order of keys in the YAML change. It is the basis of suspect links
(reference/regulatory.md §6.4; IEC 62304 8.2.3 "verify changes", 8.2.4 traceability of changes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol


class Fingerprinted(Protocol):
    """Anything with meaningful fields: every item kind, the risk plan, the benefit statement."""

    def meaningful_fields(self) -> dict[str, Any]: ...


def canonical_json(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def fingerprint_of(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``fields``."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def fingerprint(item: Fingerprinted) -> str:
    """The fingerprint of one item over its meaningful fields."""
    return fingerprint_of(item.meaningful_fields())
