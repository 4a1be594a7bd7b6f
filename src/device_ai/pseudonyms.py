"""Keyed pseudonyms for logs and audit entries (DESIGN.md: HMAC-SHA256 with a site secret,
never a plain hash, which anyone could recompute from a guessed UID)."""

from __future__ import annotations

import hashlib
import hmac

from device_ai.keystore import secret

SECRET_NAME = "pseudonym-key"


def pseudonym(kind: str, value: str) -> str:
    """``kind-<16 hex>``: stable per site secret, unlinkable without it."""
    digest = hmac.new(secret(SECRET_NAME), f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:16]}"
