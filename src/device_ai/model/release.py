"""The torch side of a release: deterministic safetensors bytes of the twin weights.

Packaging itself is torch-free (:mod:`device_ai.model.package.build`).
"""

from __future__ import annotations

import torch
from safetensors.torch import save as save_safetensors


def twin_bytes(model: torch.nn.Module) -> bytes:
    """Deterministic safetensors bytes of the model's state dict (contiguous CPU tensors)."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    return save_safetensors(state, metadata={"format": "pt"})
