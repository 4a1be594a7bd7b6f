"""The locked engine in a worker process (``validate --workers``, ``analyze --batch``): loaded and
verified by the worker itself, once per process, and refused when its manifest digest is not
the one the coordinator verified (another package under the same path on that machine)."""

from __future__ import annotations

import os
from pathlib import Path

from device_ai.errors import ModelIntegrityError

_ENGINES: dict[tuple[str, str], object] = {}  # per worker process: the package loads and verifies once


def verified_engine(package: str, manifest_sha256: str, trusted_keys: tuple[str, ...]):  # noqa: ANN201 - LockedEngine
    from device_ai.inference.engine import EngineOptions, LockedEngine
    from device_ai.model.package import signing

    key = (package, manifest_sha256)
    if key not in _ENGINES:
        keys = [signing.public_key_from_b64(text) for text in trusted_keys]
        # one thread: the cluster's processes are the parallelism
        engine = LockedEngine.load(Path(package), trusted_keys={signing.key_id(k): k for k in keys},
                                   options=EngineOptions(threads=1))
        if engine.package.manifest_sha256 != manifest_sha256:
            raise ModelIntegrityError(
                f"worker process {os.getpid()} found another model package at {package} than the coordinator "
                "verified (its manifest digest differs)", hint="give every worker the same model package")
        _ENGINES[key] = engine
    return _ENGINES[key]
