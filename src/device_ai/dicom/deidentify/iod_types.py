"""Attribute Types per IOD, to resolve the compound actions of PS3.15 Table E.1-1a.

X/Z, X/D, Z/D, X/Z/D and X/Z/U* depend on whether the attribute is Type 1, 2 or 3 *in the
IOD of the instance being processed* (PS3.15 E.1.1). The IOD -> module -> attribute map is
the machine-readable copy of PS3.3 that ships inside highdicom (``highdicom/_standard``).
"""

from __future__ import annotations

import json
import pkgutil
from functools import lru_cache

from highdicom._standard_utils import get_iod_module_map, get_sop_class_iod_map

# Strength order: a Type 1 requirement anywhere in the IOD wins over 2, and 2 over 3.
_STRENGTH = {"1": 1, "1C": 1, "2": 2, "2C": 2, "3": 3}

Path = tuple[str, ...]


@lru_cache(1)
def _module_attributes() -> dict[str, list[dict]]:
    data = pkgutil.get_data("highdicom", "_standard/module_attribute_map.json")
    if data is None:  # pragma: no cover - part of the highdicom wheel
        raise FileNotFoundError("highdicom's module_attribute_map.json is missing")
    return json.loads(data.decode("utf-8"))


@lru_cache(64)
def _iod_types(sop_class_uid: str) -> dict[tuple[Path, str], int] | None:
    iod = get_sop_class_iod_map().get(sop_class_uid)
    if iod is None:
        return None
    modules = _module_attributes()
    types: dict[tuple[Path, str], int] = {}
    for module in get_iod_module_map()[iod]:
        for attribute in modules.get(module["key"], []):
            key = (tuple(attribute["path"]), attribute["keyword"])
            strength = _STRENGTH.get(attribute["type"], 3)
            types[key] = min(types.get(key, 3), strength)
    return types


@lru_cache(1 << 12)  # the same (class, path, keyword) recurs in every file of a series
def attribute_type(sop_class_uid: str, path: Path, keyword: str) -> int:
    """1, 2 or 3: the strictest Type of ``keyword`` at sequence ``path`` in the IOD.

    Conditional Types count as their base Type: the attribute is present in the input, so
    its condition is taken to hold. A path deeper than the tables list is looked up by its
    trailing part (recursive content items). An attribute the IOD does not define (or an unknown SOP
    class) is Type 3, i.e. it may be removed.
    """
    types = _iod_types(sop_class_uid)
    if types is None or not keyword:
        return 3
    # Recursive structures (SR Content Sequence within Content Sequence, nested references)
    # are listed by PS3.3 to one level only: a deeper item takes the Type of the nearest
    # enclosing path that the tables define.
    for start in range(len(path) + 1):
        found = types.get((path[start:], keyword))
        if found is not None and (start == 0 or path[start:]):
            return found
    return 3


def iod_known(sop_class_uid: str) -> bool:
    """Whether the bundled PS3.3 tables define the IOD of this SOP class."""
    return _iod_types(sop_class_uid) is not None
