"""An explanation is given only for the very result the locked engine produced (SRS-033):
the torch twin's argmax mask must agree with the ORT mask on at least 99.9% of pixels."""

from __future__ import annotations

import numpy as np
import torch

from device_ai.errors import ExplanationRefused
from device_ai.model.segmenter import DinoSegmenter

__all__ = ["MIN_AGREEMENT", "ExplanationRefused", "check_twin_agreement"]

MIN_AGREEMENT = 0.999


def check_twin_agreement(twin: DinoSegmenter, ort_logits: np.ndarray, image: np.ndarray) -> float:
    """Agreement of the twin's mask with the ORT mask for ``image``; refuses below 99.9%."""
    with torch.no_grad():
        twin_logits = twin.eval()(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))).numpy()
    agreement = float(np.mean(twin_logits.argmax(axis=1) == ort_logits.argmax(axis=1)))
    if agreement < MIN_AGREEMENT:
        raise ExplanationRefused(
            f"the PyTorch twin agrees with the locked ONNX Runtime result on only {agreement:.4%} of pixels "
            f"(at least {MIN_AGREEMENT:.1%} needed); no explanation was produced",
            hint="the twin weights do not belong to this model package; reinstall the package",
        )
    return agreement
