"""UIDs of the device's results (SEG, SR).

By default every result gets new random UIDs (highdicom's 2.25 UUID UIDs). The DICOM node
derives them instead from a seed naming what is analysed (the series' keyed pseudonym and its
generation), so that analysing the same generation again after a crash gives the same UIDs
(a receiver sees the same instances again, never a second, different result), while a new
generation (late instances) gets new ones. Derived UIDs are name-based UUIDs (RFC 4122
version 5) under the 2.25 root (PS3.5 B.2): they reveal nothing of the seed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import highdicom as hd

# the namespace of the device's derived result UIDs (a random UUID drawn once)
NAMESPACE = uuid.UUID("5f0b7a52-3c1e-4d63-9a6e-0f4a2b7c9d18")


def new_uid(role: str) -> str:  # noqa: ARG001 - the signature of a UID source
    return str(hd.UID())


def derived_uid(seed: str, role: str) -> str:
    return f"2.25.{uuid.uuid5(NAMESPACE, f'{seed}/{role}').int}"


def derived_uids(seed: str) -> Callable[[str], str]:
    """``uid(role)``: the same UID for the same (seed, role), a different one for any other."""
    if not seed:
        raise ValueError("a UID seed must not be empty")
    return lambda role: derived_uid(seed, role)
