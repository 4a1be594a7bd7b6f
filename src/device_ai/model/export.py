"""ONNX export with a fixed input shape and a pinned opset, and the ORT-vs-PyTorch parity check.

Decisions (reference/model.md §4): static shape (dynamic-size export of DINOv2 silently
bakes in one position embedding); opset 17 with the TorchScript exporter, whose output for
this graph was checked op by op; constant folding on; every weight inside the one file
(no external data). `onnx.checker.check_model(full_check=True)` must pass.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import torch

from device_ai.inference.engine import EngineOptions, session_options
from device_ai.inference.onnx_guard import _graph_tensors

OPSET = 17
EXPORTER = "torch.onnx.export(dynamo=False)"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def export_onnx(model: torch.nn.Module, input_size: int, *, opset: int = OPSET) -> bytes:
    """Serialized ONNX of ``model`` for a float32 (1, 3, input_size, input_size) input."""
    model = model.eval()
    example = torch.zeros(1, 3, input_size, input_size, dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    data = buffer.getvalue()
    check_exported(data)
    return data


def check_exported(data: bytes) -> None:
    """Full ONNX checker, and no tensor stored outside the file."""
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    for tensor in _graph_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"exported model stores {tensor.name!r} as external data")


@dataclass(frozen=True)
class ParityReport:
    """ORT FP32 vs PyTorch FP32 on the same inputs (SRS-006)."""

    cases: int
    max_abs_logit_diff: float
    mask_agreement: float
    pixels: int

    def passes(self, max_abs: float = 1e-4, min_agreement: float = 0.999) -> bool:
        return self.max_abs_logit_diff <= max_abs and self.mask_agreement >= min_agreement


def parity(model: torch.nn.Module, onnx_bytes: bytes, images: Iterable[np.ndarray], threads: int = 2) -> ParityReport:
    """Compare logits and argmax masks of ORT and PyTorch for preprocessed images (1, 3, H, W)."""
    session = ort.InferenceSession(
        onnx_bytes, sess_options=session_options(EngineOptions(threads=threads)), providers=["CPUExecutionProvider"]
    )
    model = model.eval()
    worst = 0.0
    agree = 0
    pixels = 0
    cases = 0
    with torch.no_grad():
        for image in images:
            (ort_logits,) = session.run(None, {INPUT_NAME: image})
            torch_logits = model(torch.from_numpy(image)).numpy()
            worst = max(worst, float(np.max(np.abs(ort_logits - torch_logits))))
            same = np.argmax(ort_logits, axis=1) == np.argmax(torch_logits, axis=1)
            agree += int(same.sum())
            pixels += same.size
            cases += 1
    return ParityReport(cases=cases, max_abs_logit_diff=worst, mask_agreement=agree / max(pixels, 1), pixels=pixels)
