"""Certificate-authority files as trust anchors of a TLS context (``load_verify_locations`` or
``create_default_context``'s ``cadata``), read only when no other account could have changed them:
whoever can rewrite a CA file chooses whom the device trusts - which client certificates the node
accepts as the site's peers (``node_tls_ca_file``, SRS-233), which server a destination's results
go to (a destination's ``transport.ca_bundle``, SRS-234). A CA is no secret: others may read it."""

from __future__ import annotations

import bisect
import re
from pathlib import Path

from device_ai.config import read_owned_file

# PEM blocks, by the device's own rule, which follows OpenSSL's reading of a CA file where it can
# (OpenSSL's 254-byte line pieces and bytes >= 0x80 it strips are not followed: those BEGIN lines are
# text here, review 178 D2): a BEGIN line at the start of a line (text before
# it on the line, e.g. "#" switching a CA off, makes it no BEGIN line for OpenSSL: review 177 D2;
# any bytes up to 0x20 but the newline may end it, as OpenSSL strips them: reviews 175 D1, 177 D1),
# then everything up to the first END line of the same label. A UTF-8 byte-order mark may start the
# file's first BEGIN line and the line right after a block's END line, where OpenSSL strips it
# (pem_lib.c, the first line of each block it looks for; review 178 D1: a bundle saved "UTF-8 with BOM").
# Text around the blocks (in any encoding: CA bundles carry issuer names) is ignored (review 153 D4). END lines are found once, overlapping ones included, and each BEGIN
# looks its END up by bisection: a pattern searching from each BEGIN to its END took time growing
# with the square of the BEGIN lines that have none (review 175 N3: 20,000 in 360 KB, 53 s).
_BEGIN = re.compile(rb"(?m)^(\xef\xbb\xbf)?(-----BEGIN ([A-Z0-9 ]+)-----[\x00-\x09\x0b-\x20]*\n)")
_END = re.compile(rb"(?=-----END ([A-Z0-9 ]+)-----)")
_DASHES = len(b"-----END -----")


def pem_blocks(data: bytes) -> list[bytes]:
    """The PEM blocks of ``data`` in order, each from its BEGIN line to the end of its END line."""
    ends: dict[bytes, list[int]] = {}
    for match in _END.finditer(data):
        ends.setdefault(match.group(1), []).append(match.start())
    blocks, position, first_line = [], 0, 0  # first_line: where a byte-order mark may stand
    for begin in _BEGIN.finditer(data):
        if begin.start() < position:  # inside the block just taken
            continue
        if begin.group(1) and begin.start() != first_line:
            continue
        label = begin.group(3)
        starts = ends.get(label, [])
        index = bisect.bisect_left(starts, begin.end())
        if index < len(starts):
            position = starts[index] + _DASHES + len(label)
            blocks.append(data[begin.start(2):position])
            newline = data.find(b"\n", position)
            first_line = -1 if newline < 0 else newline + 1
    return blocks


def trust_anchors(data: bytes) -> str | bytes:
    """``cadata`` for a CA file's bytes: its PEM blocks (ASCII text), or the bytes as DER when it
    holds none."""
    blocks = pem_blocks(data)
    return b"\n".join(blocks).decode("ascii") if blocks else data


def read_trust_anchors(path: Path, what: str) -> str | bytes:
    """The ``cadata`` of the CA file at ``path``, checked on the opened file and the bytes checked
    being the bytes used (:func:`device_ai.config.read_owned_file`: ConfigError naming ``what``,
    the file and its mode or owner)."""
    return trust_anchors(read_owned_file(path, what))
