"""Building and signing a locked model package (the release step of the RA/QA process).

Writes ``model.onnx``, ``twin.safetensors``, the canonical ``manifest.json`` (with the
SHA-256 of both) and the detached Ed25519 ``manifest.sig`` into a staging folder that
becomes the package folder in one rename, so a half-built package never exists.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from safetensors.torch import save as save_safetensors

from device_ai.atomic_io import staged_directory
from device_ai.model.package import signing
from device_ai.model.package.manifest import (
    MANIFEST_NAME,
    ONNX_NAME,
    SIGNATURE_NAME,
    TWIN_NAME,
    ModelManifest,
)


def twin_bytes(model: torch.nn.Module) -> bytes:
    """Deterministic safetensors bytes of the model's state dict (contiguous CPU tensors)."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    return save_safetensors(state, metadata={"format": "pt"})


def build_manifest(fields: dict[str, Any], onnx_bytes: bytes, twin: bytes) -> ModelManifest:
    files = {ONNX_NAME: hashlib.sha256(onnx_bytes).hexdigest(), TWIN_NAME: hashlib.sha256(twin).hexdigest()}
    return ModelManifest.model_validate({**fields, "files": files})


def write_package(
    out_dir: Path, manifest: ModelManifest, onnx_bytes: bytes, twin: bytes, key: Ed25519PrivateKey
) -> Path:
    manifest_bytes = manifest.canonical_bytes()
    with staged_directory(Path(out_dir)) as stage:
        (stage / ONNX_NAME).write_bytes(onnx_bytes)
        (stage / TWIN_NAME).write_bytes(twin)
        (stage / MANIFEST_NAME).write_bytes(manifest_bytes)
        (stage / SIGNATURE_NAME).write_bytes(signing.sign(manifest_bytes, key))
    return Path(out_dir)
