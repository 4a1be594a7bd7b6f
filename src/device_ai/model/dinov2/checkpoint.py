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

from device_ai.errors import CheckpointMismatch, ModelIntegrityError
from device_ai.model.dinov2.configs import OFFICIAL_CONFIGS
from device_ai.model.dinov2.vision_transformer import DinoVisionTransformer, interpolate_pos_embed

# No official weights can be obtained where this device is built, so nothing is pinned here:
# the operator pins, through configuration, the SHA-256 of the ``*_pretrain.pth`` file they
# obtained from Meta (https://dl.fbaipublicfiles.com/dinov2/...), and loading always requires
# that explicit value. A value filled in here would only be a default for that setting.
PINNED_OFFICIAL_SHA256: dict[str, str | None] = {name: None for name in OFFICIAL_CONFIGS}

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_LISTED = 20  # key problems listed one per line; the rest counted


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
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, or objects weights_only refuses to unpickle
        raise ModelIntegrityError(
            f"checkpoint {path.name} cannot be read as a tensor state dict ({type(error).__name__}); it was not loaded",
            hint="use the official *_pretrain.pth (a plain state dict of tensors)",
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
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
    problems = layout_problems(model, state)
    if problems:  # checked first: a strict load that fails has already copied the matching keys
        raise CheckpointMismatch(
            f"checkpoint {path.name} does not match the {model.cfg.name} layout: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") + "; it was not loaded",
            problems=tuple(problems[:_MAX_LISTED]) + ((f"and {len(problems) - _MAX_LISTED} more",)
                                                      if len(problems) > _MAX_LISTED else ()),
            hint="use the official checkpoint of exactly this backbone configuration (e.g. a *_reg4 file for a "
                 "*_reg4 backbone)",
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # not expected after the check above; still a refusal
        raise CheckpointMismatch(
            f"checkpoint {path.name} does not match the {model.cfg.name} layout: {error}",
            hint="use the official checkpoint of exactly this backbone configuration",
        ) from error


def layout_problems(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Every missing, unexpected or misshapen key of ``state`` for ``model``, one line each
    (empty when ``load_state_dict(state, strict=True)`` would succeed)."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    given = {key: tuple(value.shape) for key, value in state.items()}
    problems = [f"missing key {key}" for key in expected if key not in given]
    problems += [f"unexpected key {key}" for key in given if key not in expected]
    problems += [f"key {key} has shape {list(given[key])}, the backbone needs {list(shape)}"
                 for key, shape in expected.items() if key in given and given[key] != shape]
    return problems
