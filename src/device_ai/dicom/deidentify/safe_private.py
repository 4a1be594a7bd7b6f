"""PS3.15 Table E.3.10-1: private attributes known to be safe (Retain Safe Private, E.3.10).

An entry is identified by its private creator, its (odd) group and the low byte of its
element (``(gggg,xxEE)``), because the block a creator reserves varies between files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class SafePrivateTable:
    """The safe private attributes, keyed by (creator, group, element low byte)."""

    edition: str
    entries: frozenset[tuple[str, int, int]]

    def is_safe(self, creator: str, group: int, element_offset: int) -> bool:
        return (creator.strip().upper(), group, element_offset) in self.entries


@lru_cache(1)
def load_safe_private() -> SafePrivateTable:
    """The bundled Table E.3.10-1 (empty when the package ships none: then nothing is safe)."""
    resource = resources.files("device_ai.dicom.deidentify") / "data" / "safe_private.json"
    if not resource.is_file():
        return SafePrivateTable(edition="none", entries=frozenset())
    data = json.loads(resource.read_text(encoding="utf-8"))
    entries = frozenset(
        (str(row["creator"]).strip().upper(), int(str(row["group"]), 16) if isinstance(row["group"], str)
         else int(row["group"]), int(str(row["element_offset"]), 16) if isinstance(row["element_offset"], str)
         else int(row["element_offset"]))
        for row in data["rows"]
    )
    return SafePrivateTable(edition=str(data.get("edition", "unknown")), entries=entries)
