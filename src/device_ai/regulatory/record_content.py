"""What an effectiveness record's *content* shows it to be (SRS-181).

A record of effectiveness must be a measured outcome (a study, a validation, a benchmark, a
challenge run), not generated test output: a pass/fail verdict shows that a control is
implemented, not that it works (ISO 14971 7.2). :func:`.overclaim.is_test_artefact` judges the
path; a copy of a result file elsewhere has another path, so the content is judged too, by what
it holds rather than its name, bytes or one exact shape (an edited copy is still test output;
review 154 D1a). Before judging, a UTF-8 BOM is dropped, a gzip stream is decompressed (bounded:
over :data:`GZIP_LIMIT` decompressed is refused, not judged) and ANSI colour escapes are removed.
Then the record is test output when

- parsed as JSON, JSON lines or YAML (composed, not constructed: every scalar read as its text
  whatever its tag; JSON integers too long for Python kept as digits), any document holds (a bounded walk) a pytest
  node ID (``path.py::name``) as a key or a value, a ``nodes`` list with an item of kind
  ``test``, this project's ``--req-report`` shape (a run header and a ``results`` map of
  per-test outcomes), pytest-json-report's ``nodeid``/``outcome`` records, or a trace graph as
  ``trace build`` writes it (``nodes``, ``edges`` and ``runs``: every run header and each test's
  outcome, review 148 D1c);
- it is a JUnit XML report (root element ``testsuite`` or ``testsuites``, after any XML
  declaration, processing instruction, comment or doctype);
- it holds a test runner's console summary: a line of pytest counts ("10 passed",
  "1 failed, 9 passed in 0.05s", with or without the '=' rules), unittest's ``Ran 3 tests in 0.1s``;
- it is a Python test module (a top-level ``def test_...`` or ``class Test...``, a
  ``unittest.TestCase`` subclass, or ``import pytest``).

The graph builder calls :func:`generated_test_output` once per record and keeps the answer in the graph
(``effectiveness_test_output``); the gate reads only the graph.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

#: Records larger than this are not parsed (their head and tail are still read as text).
JSON_LIMIT = 32 * 1024 * 1024
#: A gzip record that decompresses to more than this is refused unjudged (a decompression bomb).
GZIP_LIMIT = 64 * 1024 * 1024
_EDGE = 64 * 1024  # bytes read from each end of a large text record
_WALK_LIMIT = 200_000  # values visited in one parsed record (YAML aliases can make a small file vast)
_DEPTH_LIMIT = 64
_GZIP_MAGIC = b"\x1f\x8b"
TOO_LARGE = f"a compressed file nested too deep or over {GZIP_LIMIT // (1024 * 1024)} MiB decompressed (not judged)"
#: Refused unjudged, never accepted (review 158 D1b): what the bounded reading could not look at whole.
UNJUDGED = "a record too large or too deeply nested to judge (not judged)"

_OUTCOMES = {"passed", "failed", "skipped", "error", "errors", "xfailed", "xpassed", "deselected"}
_NODE_ID = re.compile(r"[\w.\\/-]*\w\.py::\w")
# A line naming a test by node ID with its outcome: pytest -rA's short summary ("PASSED tests/a.py::t"),
# pytest-csv rows, -v lines ("tests/a.py::t PASSED") (review 158 D1a)
_OUTCOME_LINE = re.compile(r"^(?=.*\b(?:passed|failed|error|skipped|xfail(?:ed)?|xpass(?:ed)?)\b)"
                           r".*[\w.\\/-]*\w\.py::\w", re.MULTILINE | re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_JUNIT = re.compile(r"\A\s*(?:(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*<testsuites?[\s>/]", re.DOTALL)
_COUNT = r"\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)"
_CONSOLE = re.compile(
    rf"^[ \t]*(?:=+[ \t]*)?{_COUNT}(?:,[ \t]*{_COUNT})*(?:[ \t]+in[ \t]+\d+(?:\.\d+)?s\b[^=\n]*)?[ \t]*=*[ \t]*$"
    r"|^=+ (?:.*\b)?\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed)\b.* in \d+(?:\.\d+)?s\b.*=+\s*$"  # pytest
    r"|^Ran \d+ tests? in \d+(?:\.\d+)?s\s*$",                                                              # unittest
    re.MULTILINE)
_TEST_MODULE = re.compile(r"^(?:def test_\w*\s*\(|class Test\w*\s*[(:]|import pytest\b|from pytest\b)"
                          r"|^class \w+\(\s*(?:unittest\.)?(?:Isolated)?(?:Async)?TestCase\s*\)", re.MULTILINE)

_GRAPH = "a trace graph (test run headers and each test's outcome)"
_RESULTS = "a pytest result file (a run header and per-test outcomes)"
_BY_NODE_ID = "a pytest result file (per-test outcomes by node ID)"
_NODE_IDS = "test output (it names pytest node IDs, path.py::name)"
_TEST_NODES = "a trace graph's test nodes"


def _is_outcome_record(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("outcome", "")).lower() in _OUTCOMES


def _is_node_id(value: Any) -> bool:
    return isinstance(value, str) and _NODE_ID.search(value) is not None


def _mapping_kind(data: dict[Any, Any]) -> str | None:
    """The kind of test output one mapping is by its own keys, None when it is none."""
    if all(isinstance(data.get(key), list) for key in ("nodes", "edges", "runs")):
        return _GRAPH
    nodes = data.get("nodes")
    if isinstance(nodes, list) and any(isinstance(n, dict) and n.get("kind") == "test" for n in nodes[:10_000]):
        return _TEST_NODES
    results = data.get("results")
    if isinstance(data.get("run"), dict) and isinstance(results, dict) and results \
            and all(_is_outcome_record(v) for v in results.values()):
        return _RESULTS
    if any(_is_node_id(key) and _is_outcome_record(value) for key, value in data.items()):
        return _BY_NODE_ID
    if "nodeid" in data and _is_outcome_record(data):
        return _BY_NODE_ID
    if any(_is_node_id(key) for key in data):
        return _NODE_IDS
    return None


def _walk_kind(document: Any) -> str | None:
    """The test output anywhere in a parsed document, None otherwise. A bounded walk (at most
    :data:`_WALK_LIMIT` values, :data:`_DEPTH_LIMIT` levels, as :func:`_counted` counts them):
    past either it raises _Unjudged - refused, not passed (review 158 D1b)."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    visited = [0]
    while stack:
        value, depth = stack.pop()
        _counted(visited, depth, None)
        if isinstance(value, dict):
            kind = _mapping_kind(value)
            if kind:
                return kind
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            if _is_node_id(value):
                return _NODE_IDS
            continue
        children = list(children)
        if children and depth >= _DEPTH_LIMIT:
            raise _Unjudged  # deeper than the walk goes (review 158 D1b)
        stack.extend((child, depth + 1) for child in reversed(children[:_WALK_LIMIT + 1]))
    return None


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as written: its (key, value) pairs in order, a repeated key kept."""


def _json_int(digits: str) -> int | str:
    """A JSON integer as Python holds it, or its digits when Python will not convert so many
    (int_max_str_digits): the document is still walked, not taken for prose (re-review 161 D1b)."""
    try:
        return int(digits)
    except ValueError:
        return digits


class _Unjudged(Exception):
    """The record is deeper or longer than the parse looks at (re-review 160 D1a/D1b): refused unjudged."""


def _documents(text: str) -> Iterator[Any]:
    """The documents ``text`` holds as JSON, JSON lines or YAML (none when it parses as none);
    raises _Unjudged when JSON nests deeper than the parser goes or has more lines than the walk reads."""
    visited = [0]  # one bound for the whole record, however many documents it holds (re-review 163 note)
    try:
        document = json.loads(text, parse_int=_json_int, object_pairs_hook=_Pairs)
    except RecursionError as exc:
        raise _Unjudged from exc
    except ValueError:
        pass
    else:
        yield from _readings(_json_plain, document, visited)
        return
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].lstrip()[:1] in ("{", "["):
        parsed = []
        for line in lines[:_WALK_LIMIT]:
            try:
                parsed.append(json.loads(line, parse_int=_json_int, object_pairs_hook=_Pairs))
            except RecursionError as exc:
                raise _Unjudged from exc
            except ValueError:
                break
        else:
            if len(lines) > _WALK_LIMIT:
                raise _Unjudged
            for document in parsed:
                yield from _readings(_json_plain, document, visited)
            return
    try:
        for node in yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            yield from _readings(_plain, node, visited)
    except RecursionError as exc:  # the pure-Python parser's depth (re-review 161 D1a)
        raise _Unjudged from exc
    except yaml.MarkedYAMLError as exc:
        # YAML the library stops at, not prose: deeper than libyaml goes (re-review 161 D1a), an anchor defined again
        # (YAML allows it, PyYAML's composer does not; re-review 163 D1c)
        if "nesting depth" in str(exc.problem) or "duplicate anchor" in str(exc.context):
            raise _Unjudged from exc
        return
    except yaml.YAMLError:
        return


def _readings(plain: Any, document: Any, visited: list[int]) -> Iterator[Any]:
    """``document`` (a composed YAML node or a parsed JSON value) as plain data, as a parser reads it
    (the last value of a repeated key), then one more document if needed: each other reading of every
    mapping (:class:`_Mapping`: an earlier value of a repeated key, or another reading of a merged
    mapping, in its place) and the merge values no parser merges - so each value is looked at, in its
    mapping, however deep (re-reviews 163 D1b, 164 D1, 165 D1, 166 D1). Both share the record's value
    bound: past it the record is refused unjudged."""
    extras: list[Any] = []
    yield plain(document, 0, visited, extras)
    if extras:
        yield extras


def _counted(visited: list[int], depth: int, children: Any, count: int = 1) -> None:
    visited[0] += count
    if visited[0] > _WALK_LIMIT or (children and depth >= _DEPTH_LIMIT):
        raise _Unjudged


class _Mapping(dict):  # type: ignore[type-arg]
    """A mapping as a parser keeps it (the last value of a repeated key); ``readings``: the same mapping
    with each earlier value of a repeated key, or each reading of a mapping it merges, in its place."""

    readings: list[dict[str, Any]]


def _mapping(pairs: list[tuple[str, Any]], visited: list[int], merged: list[dict[str, Any]] | None = None) -> _Mapping:
    """The mapping of ``pairs`` over what the merged mappings give (the earlier one wins), with its
    readings (each a copy, counted against the value bound)."""
    def over(sources: list[dict[str, Any]], explicit: dict[str, Any], *, reading: bool = True) -> dict[str, Any]:
        base: dict[str, Any] = {}
        for source in reversed(sources):
            base.update(source)
        if reading:  # a copy beside the mapping a parser keeps
            _counted(visited, 0, None, len(base) + len(explicit))
        return {**base, **explicit}

    sources = merged or []
    explicit = dict(pairs)
    mapping = _Mapping(over(sources, explicit, reading=False))
    last = {key: index for index, (key, _) in enumerate(pairs)}
    mapping.readings = [over(sources, {**explicit, key: value}) for index, (key, value) in enumerate(pairs)
                        if last[key] != index]
    mapping.readings += [over([*sources[:index], reading, *sources[index + 1:]], explicit)
                         for index, source in enumerate(sources) for reading in getattr(source, "readings", ())]
    return mapping


def _json_plain(value: Any, depth: int, visited: list[int], extras: list[Any]) -> Any:
    """A parsed JSON value as plain data (see :func:`_readings`)."""
    _counted(visited, depth, value if isinstance(value, list) else None)
    if isinstance(value, _Pairs):
        mapping = _mapping([(key, _json_plain(item, depth + 1, visited, extras)) for key, item in value], visited)
        extras.extend(mapping.readings)
        return mapping
    if isinstance(value, list):
        return [_json_plain(item, depth + 1, visited, extras) for item in value]
    return value


_MERGE = "tag:yaml.org,2002:merge"


def _plain(node: yaml.Node, depth: int, visited: list[int], extras: list[Any]) -> Any:
    """A composed YAML node as plain data (see :func:`_readings`): every scalar its
    text, whatever its tag (a custom tag, !!set, !!bool maybe, an impossible date - nothing is
    constructed, so nothing fails to build; re-reviews 161 D1b, 162 D1), a key that is a collection
    as its text, merge keys (<<) applied as the safe loader applies them (re-review 163 D1a), a merge
    value that is no mapping kept aside and looked at (re-review 164 D1). Bounded like the walk
    (aliases can make a small file vast, or loop): raises _Unjudged past it."""
    _counted(visited, depth, node.value if isinstance(node, yaml.CollectionNode) else None)
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(child, depth + 1, visited, extras) for child in node.value]
    sources: list[dict[str, Any]] = []  # merged mappings, in order (the earlier wins)
    pairs: list[tuple[str, Any]] = []
    for key_node, value_node in node.value:
        value = _plain(value_node, depth + 1, visited, extras)
        if key_node.tag == _MERGE:  # <<: a mapping, or a sequence of them
            for source in value if isinstance(value, list) else [value]:
                if isinstance(source, dict):
                    sources.append(source)
                else:  # the safe loader refuses it; the walk looks at it
                    extras.append(source)
            continue
        key = _plain(key_node, depth + 1, visited, extras)
        pairs.append((key if isinstance(key, str) else json.dumps(key), value))
    mapping = _mapping(pairs, visited, sources)
    extras.extend(mapping.readings)
    return mapping


def _gunzip(raw: bytes) -> bytes | None:
    """``raw`` decompressed while it is gzip (nested streams too), None when over :data:`GZIP_LIMIT`.
    A stream that does not decompress is judged as it is."""
    for _level in range(4):
        if not raw.startswith(_GZIP_MAGIC):
            return raw
        out, rest = b"", raw
        while rest.startswith(_GZIP_MAGIC):  # each member of a multi-member stream
            inflater = zlib.decompressobj(wbits=31)
            try:
                out += inflater.decompress(rest, GZIP_LIMIT + 1 - len(out))
            except zlib.error:
                if not out:  # not gzip after all: judged as it is
                    return raw
                break  # bytes after a member that look like gzip and are not: judged as bytes (re-review 161 D1c)
            if len(out) > GZIP_LIMIT or inflater.unconsumed_tail:
                return None
            rest = inflater.unused_data
        raw = out + rest  # bytes after the last member are judged with it, not dropped (re-review 160 D1c)
    if raw.startswith(_GZIP_MAGIC):  # still gzip after 4 levels: refused (review 158 D1b), unless it is not gzip
        try:
            zlib.decompressobj(wbits=31).decompress(raw, 1)
        except zlib.error:
            return raw
        return None
    return raw


def _read(path: Path, size: int) -> tuple[bytes, bool]:
    """The record's bytes and whether they are all of it (a large text record: its two ends)."""
    with path.open("rb") as handle:
        if size <= JSON_LIMIT:
            return handle.read(JSON_LIMIT + 1), True
        head = handle.read(_EDGE)
        if head.startswith(_GZIP_MAGIC):
            return head, False
        handle.seek(size - _EDGE)
        return head + b"\n" + handle.read(), False


def _decoded(raw: bytes) -> str:
    """The record as text: UTF-32 or UTF-16 when it starts with their byte-order mark (review 158
    D1a), else UTF-8 (undecodable bytes replaced)."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    return raw.decode("utf-8", errors="replace")


def generated_test_output(path: Path) -> str | None:
    """What generated test output ``path`` holds ("a JUnit XML test report", ...), None when its
    content is none (or it cannot be read: the gate reports a missing record by its digest)."""
    try:
        raw, whole = _read(path, path.stat().st_size)
    except OSError:
        return None
    if raw.startswith(_GZIP_MAGIC):
        inflated = _gunzip(raw) if whole else None
        if inflated is None:
            return TOO_LARGE
        raw, whole = inflated, len(inflated) <= JSON_LIMIT
    if not whole:
        return UNJUDGED  # over JSON_LIMIT: not parsed, so refused rather than passed (review 158 D1b)
    text = _ANSI.sub("", _decoded(raw)).lstrip("\ufeff")
    try:
        for document in _documents(text):
            # a text that parses as one YAML scalar (prose, CSV) is no structured document
            kind = _walk_kind(document) if isinstance(document, (dict, list)) else None
            if kind:
                return kind
    except _Unjudged:
        return UNJUDGED
    except Exception:  # noqa: BLE001 - a parser's unforeseen failure refuses the record, not the gate
        return UNJUDGED  # (re-review 162 D1b)
    if _JUNIT.match(text):
        return "a JUnit XML test report"
    if _CONSOLE.search(text):
        return "a test runner's console output"
    if _OUTCOME_LINE.search(text):
        return "test output (node IDs with their outcomes)"
    if path.suffix == ".py" and _TEST_MODULE.search(text):
        return "a Python test module"
    return None
