"""Assembling and signing a package folder from its parts (torch-free, so tests and tools
that never train can build packages too)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.atomic_io import staged_directory
from device_ai.model.package import signing
from device_ai.model.package.manifest import (
    MANIFEST_NAME,
    ONNX_NAME,
    SIGNATURE_NAME,
    TWIN_NAME,
    ModelManifest,
)


def build_manifest(fields: dict[str, Any], onnx_bytes: bytes, twin: bytes) -> ModelManifest:
    """The manifest for ``fields`` with the SHA-256 of the two payload files filled in."""
    files = {ONNX_NAME: hashlib.sha256(onnx_bytes).hexdigest(), TWIN_NAME: hashlib.sha256(twin).hexdigest()}
    return ModelManifest.model_validate({**fields, "files": files})


def write_package(
    out_dir: Path, manifest: ModelManifest, onnx_bytes: bytes, twin: bytes, key: Ed25519PrivateKey
) -> Path:
    """Write the four files into a staging folder that becomes ``out_dir`` in one rename."""
    manifest_bytes = manifest.canonical_bytes()
    with staged_directory(Path(out_dir)) as stage:
        (stage / ONNX_NAME).write_bytes(onnx_bytes)
        (stage / TWIN_NAME).write_bytes(twin)
        (stage / MANIFEST_NAME).write_bytes(manifest_bytes)
        (stage / SIGNATURE_NAME).write_bytes(signing.sign(manifest_bytes, key))
    return Path(out_dir)
