"""Loading official DINOv2 weights from a local file whose SHA-256 is pinned.

No hub download, ever (DESIGN.md). The digest is checked *before* the file is unpickled, and
``torch.load(weights_only=True)`` refuses arbitrary Python objects even then. Keys must match
the official layout exactly (``load_state_dict(strict=True)``, as ``dinov2/hub/backbones.py``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from device_ai.errors import ModelIntegrityError
from device_ai.model.dinov2.configs import OFFICIAL_CONFIGS
from device_ai.model.dinov2.vision_transformer import DinoVisionTransformer, interpolate_pos_embed

# No official weights can be obtained where this device is built, so nothing is pinned here:
# the operator pins, through configuration, the SHA-256 of the ``*_pretrain.pth`` file they
# obtained from Meta (https://dl.fbaipublicfiles.com/dinov2/...), and loading always requires
# that explicit value. A value filled in here would only be a default for that setting.
PINNED_OFFICIAL_SHA256: dict[str, str | None] = {name: None for name in OFFICIAL_CONFIGS}

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path: str | Path) -> str:
    """Lower-case hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_official_checkpoint(model: DinoVisionTransformer, path: str | Path, expected_sha256: str) -> None:
    """Load an official ``dinov2_vit*14[_reg4]_pretrain.pth`` state dict into ``model``.

    Refuses (:class:`ModelIntegrityError`, file not unpickled) unless ``expected_sha256`` is a
    64-digit hex digest equal to the file's. If the model's input size was fixed, the
    checkpoint's native position embedding is interpolated with the same official function
    that :meth:`DinoVisionTransformer.fix_input_size` uses, then everything loads strictly.
    """
    path = Path(path)
    pinned = (expected_sha256 or "").strip().lower()
    if not _SHA256_HEX.match(pinned):
        raise ModelIntegrityError(
            f"no valid pinned SHA-256 given for checkpoint {path.name} (got {expected_sha256!r}); it was not loaded",
            hint="pin the 64-hex-digit SHA-256 of the checkpoint file you obtained in the configuration",
        )
    if not path.is_file():
        raise ModelIntegrityError(f"checkpoint {path} does not exist", hint="check the configured weights path")
    actual = sha256_file(path)
    if actual != pinned:
        raise ModelIntegrityError(
            f"checkpoint {path.name} has SHA-256 {actual}, but the pinned value is {pinned}; it was not loaded",
            hint="use the exact file whose digest was pinned, or re-pin after verifying the file's origin",
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ModelIntegrityError(f"checkpoint {path.name} is not a state dict", hint="use the official *_pretrain.pth")
    native_shape = (1, 1 + model.cfg.native_grid**2, model.embed_dim)
    pos = state.get("pos_embed")
    if (isinstance(pos, torch.Tensor) and tuple(pos.shape) == native_shape
            and tuple(model.pos_embed.shape) != native_shape):
        height, width = model.input_size
        state = dict(state)
        state["pos_embed"] = interpolate_pos_embed(
            pos, height, width, model.patch_size, model.cfg.interpolate_offset, model.cfg.interpolate_antialias
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # missing / unexpected keys or wrong shapes
        raise ModelIntegrityError(
            f"checkpoint {path.name} does not match the {model.cfg.name} layout: {error}",
            hint="use the official checkpoint of exactly this backbone configuration",
        ) from error
