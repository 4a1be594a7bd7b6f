"""YAML loading that keeps line numbers, so every problem can name ``file:line``.

Mappings load as :class:`LineDict` (a dict that knows the line of each key) and sequences as
:class:`LineList` (a list that knows the line of each element). Duplicate keys, which plain
YAML loaders silently overwrite, are refused. Uses libyaml's parser when it is available.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping loaded from YAML: ``line`` of the mapping, ``key_lines`` of each key (1-based)."""

    __slots__ = ("line", "key_lines")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class LineList(list):  # type: ignore[type-arg]
    """A sequence loaded from YAML: ``line`` of the sequence, ``item_lines`` of each element."""

    __slots__ = ("line", "item_lines")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class YamlLocatedError(Exception):
    """A YAML problem at ``line`` (1-based) of the file being read."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _LineLoader(_Base):  # type: ignore[misc, valid-type]
    pass


def _mapping(loader: Any, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            raise YamlLocatedError(line, "a mapping key must be a plain value")
        if key in result:
            raise YamlLocatedError(line, f"duplicate key {key!r} (first at line {result.key_lines[key]})")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _sequence(loader: Any, node: yaml.SequenceNode) -> LineList:
    result = LineList(node.start_mark.line + 1)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    return result


def _timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    """A date or time as PyYAML reads it; one its pattern matches that is no day of the calendar
    (an unquoted 2026-02-29) is refused at its line, not a bare ValueError (review 153 D1)."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise YamlLocatedError(node.start_mark.line + 1, f"{node.value!r} is not a date or time ({exc}); "
                               "write a day of the calendar as YYYY-MM-DD") from exc


_LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _sequence)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file into :class:`LineDict` / :class:`LineList` / scalars.

    Raises :class:`YamlLocatedError` with the 1-based line of a syntax error or duplicate key.
    """
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlLocatedError(line, f"YAML syntax: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlLocatedError(1, f"YAML: {exc}") from exc


def line_of(data: Any, path: tuple[Any, ...], default: int) -> int:
    """The line of the deepest element of ``path`` (keys and indexes) found inside ``data``."""
    line, current = default, data
    for step in path:
        if isinstance(current, LineDict) and step in current:
            line = current.key_lines.get(step, line)
            current = current[step]
        elif isinstance(current, LineList) and isinstance(step, int) and 0 <= step < len(current):
            line = current.item_lines[step]
            current = current[step]
        else:
            break
    return line
