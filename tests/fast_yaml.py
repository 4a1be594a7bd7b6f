"""The tests' reads of the repository's own YAML files (requirements, reviews, risk and security
files: thousands of lines, read again by many tests). PyYAML's ``safe_load`` parses them in Python
(about 0.6 s for traceability/requirements.yaml); libyaml's parser, with the same safe constructor,
gives the same documents about ten times faster. The product's own reading is not changed here."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream: Any) -> Any:
    """``yaml.safe_load(stream)`` through libyaml's parser when PyYAML was built with it."""
    return yaml.load(stream, Loader=_LOADER)  # noqa: S506 - a safe loader
