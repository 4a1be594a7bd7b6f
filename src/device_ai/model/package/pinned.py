"""What this software release trusts, pinned in code (DESIGN.md, "Locked model package").

``RELEASE_KEYS``: the manufacturer's model-release public keys (Ed25519, base64 raw bytes),
by key id. ``RELEASED_MANIFESTS``: SHA-256 of the ``manifest.json`` of every model package
released with this software version. A package signed by a release key must also have a
pinned manifest digest; a package signed by a key the site configured as trusted is accepted
on that signature alone (and is reported as such). The private release key is held by the
manufacturer's RA/QA release process and is never stored in the repository.
"""

from __future__ import annotations

RELEASE_KEYS: dict[str, str] = {
    "9eab672b897360bc": "y/zTS2aTg9yLVw6F5Oh3BBJIvkl6qAc07x5vDUncF0o=",
}

RELEASED_MANIFESTS: dict[str, str] = {
    "fba09e2dc3d13b6d92a44ae4cbd52bc393189fe0684a1bd41a60e21c8863f106": "demo-dinov2-seg 1.0.0",
}

