"""Loading official DINOv2 weights from a local file whose SHA-256 is pinned.

No hub download, ever (DESIGN.md). The digest is checked before the file is unpickled, and
``torch.load(weights_only=True)`` refuses arbitrary objects even then.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from device_ai.errors import ModelIntegrityError
from device_ai.model.dinov2.vision_transformer import DinoVisionTransformer, interpolate_pos_embed

# No official weights can be obtained on this device's build machines; the operator pins the
# SHA-256 of the file they obtained (configuration), and loading always requires one.
PINNED_OFFICIAL_SHA256: dict[str, str | None] = {
    name: None
    for name in (
        "dinov2_vits14", "dinov2_vits14_reg4", "dinov2_vitb14", "dinov2_vitb14_reg4",
        "dinov2_vitl14", "dinov2_vitl14_reg4", "dinov2_vitg14", "dinov2_vitg14_reg4",
    )
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_official_checkpoint(model: DinoVisionTransformer, path: Path, expected_sha256: str) -> None:
    """Load an official ``*_pretrain.pth`` state dict with ``strict=True`` after the digest check."""
    if not expected_sha256 or len(expected_sha256) != 64:
        raise ModelIntegrityError("no pinned SHA-256 given for the checkpoint", hint="pin the file's SHA-256 first")
    actual = sha256_file(Path(path))
    if actual != expected_sha256.lower():
        raise ModelIntegrityError(
            f"checkpoint {path} has SHA-256 {actual[:16]}..., the pinned value is {expected_sha256[:16]}...",
            hint="use the exact file whose digest was pinned; the file was not loaded",
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    height, width = model.input_size
    if "pos_embed" in state and state["pos_embed"].shape != model.pos_embed.shape:
        state["pos_embed"] = interpolate_pos_embed(
            state["pos_embed"], height, width, model.patch_size,
            model.cfg.interpolate_offset, model.cfg.interpolate_antialias,
        )
    model.load_state_dict(state, strict=True)
