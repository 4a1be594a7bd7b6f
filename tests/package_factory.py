"""Builds small, valid, signed model packages for tests (torch-free: the ONNX graph is
written with onnx.helper). The manifest uses the real schema and the demo contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper, numpy_helper

from device_ai.model.package.build import build_manifest, write_package

SIZE = 28


def tiny_onnx(size: int = SIZE, *, external: bool = False, opset: int = 17) -> bytes:
    """image (1,3,S,S) -> logits (1,3,S,S): a fixed 1x1 convolution plus bias."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(3, 3, 1, 1)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.array([0.1, -0.2, 0.3], dtype=np.float32), "b")
    if external:
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", "../../etc/passwd"
        weight.ClearField("raw_data")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, size, size])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def manifest_fields(size: int = SIZE) -> dict:
    from device_ai.dicom.contract import DEMO_CONTRACT
    from device_ai.inference.postprocess import DEFAULT_POSTPROCESSING
    from device_ai.inference.preprocess import DEFAULT_PREPROCESSING
    from device_ai.training.labels import DEMO_LABELS

    return {
        "name": "test-tiny",
        "version": "0.0.1",
        "description": "test package: a 1x1 convolution",
        "intended_use": "tests only",
        "architecture": {"kind": "tiny-conv"},
        "input_contract": DEMO_CONTRACT.model_dump(mode="json"),
        "input": {"name": "image", "shape": (1, 3, size, size)},
        "output": {"name": "logits", "shape": (1, 3, size, size)},
        "labels": [label.model_dump(mode="json") for label in DEMO_LABELS],
        "preprocessing": DEFAULT_PREPROCESSING.model_dump(mode="json"),
        "postprocessing": DEFAULT_POSTPROCESSING.model_dump(mode="json"),
        "training": {
            "seed": 0, "data_manifest_sha256": "0" * 64, "train_patients": 0, "verification_patients": 0,
            "steps": 0, "wall_time_s": 0.0, "torch_threads": 1, "twin_weights_sha256": "0" * 64,
        },
        "export": {
            "opset": 17, "exporter": "onnx.helper", "torch_version": "-", "onnx_version": onnx.__version__,
            "onnxruntime_version": "-", "parity_max_abs_logit_diff": 0.0, "parity_mask_agreement": 1.0,
            "parity_cases": 0,
        },
        "created_utc": "2026-01-01T00:00:00Z",
    }


def make_package(path: Path, key: Ed25519PrivateKey, *, onnx_bytes: bytes | None = None, fields: dict | None = None) -> Path:
    onnx_bytes = tiny_onnx() if onnx_bytes is None else onnx_bytes
    twin = b"twin weights placeholder for tests\n" * 8
    manifest = build_manifest(fields or manifest_fields(), onnx_bytes, twin)
    return write_package(path, manifest, onnx_bytes, twin, key)
