"""Certificate-authority files as trust anchors of a TLS context (``load_verify_locations`` or
``create_default_context``'s ``cadata``), read only when no other account could have changed them:
whoever can rewrite a CA file chooses whom the device trusts - which client certificates the node
accepts as the site's peers (``node_tls_ca_file``, SRS-233), which server a destination's results
go to (a destination's ``transport.ca_bundle``, SRS-234). A CA is no secret: others may read it."""

from __future__ import annotations

import re
from pathlib import Path

from device_ai.config import read_owned_file

# A PEM block as OpenSSL reads one from a CA file; text around the blocks (RFC 7468 allows it, in
# any encoding: CA bundles carry issuer names) is ignored, as OpenSSL ignores it (review 153 D4).
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def trust_anchors(data: bytes) -> str | bytes:
    """``cadata`` for a CA file's bytes: its PEM blocks (ASCII text), or the bytes as DER when it
    holds none."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(data)]
    return b"\n".join(blocks).decode("ascii") if blocks else data


def read_trust_anchors(path: Path, what: str) -> str | bytes:
    """The ``cadata`` of the CA file at ``path``, checked on the opened file and the bytes checked
    being the bytes used (:func:`device_ai.config.read_owned_file`: ConfigError naming ``what``,
    the file and its mode or owner)."""
    return trust_anchors(read_owned_file(path, what))
