"""The locked ONNX Runtime engine (DESIGN.md: "ONNX Runtime is the only inference path").

The session is built from the verified bytes of the package (never from a path, so the
file cannot change between check and use), on the CPU provider, with a fixed thread count
and sequential execution so that repeated runs give bit-identical outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from device_ai.errors import InferenceError
from device_ai.inference.onnx_guard import check_onnx_bytes
from device_ai.model.package.manifest import ONNX_NAME, ModelManifest
from device_ai.model.package.verify import VerifiedPackage, verify_package

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SUPPORTED_PREPROCESSING = ("ct-window-v1",)
SUPPORTED_POSTPROCESSING = ("seg-post-v1",)


@dataclass(frozen=True)
class EngineOptions:
    threads: int = 2


def session_options(options: EngineOptions) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if hasattr(so, "use_deterministic_compute"):
        so.use_deterministic_compute = True
    return so


class LockedEngine:
    """Runs a verified model package. Build with :meth:`load`."""

    def __init__(self, package: VerifiedPackage, options: EngineOptions) -> None:
        manifest = package.manifest
        if manifest.preprocessing.version not in SUPPORTED_PREPROCESSING:
            raise InferenceError(
                f"model needs preprocessing {manifest.preprocessing.version}, this software implements "
                f"{', '.join(SUPPORTED_PREPROCESSING)}",
                hint="install the software version this model was released with",
            )
        if manifest.postprocessing.version not in SUPPORTED_POSTPROCESSING:
            raise InferenceError(
                f"model needs postprocessing {manifest.postprocessing.version}, this software implements "
                f"{', '.join(SUPPORTED_POSTPROCESSING)}",
                hint="install the software version this model was released with",
            )
        model_bytes = package.files[ONNX_NAME]
        check_onnx_bytes(model_bytes, manifest)
        self.package = package
        self.options = options
        try:
            self._session = ort.InferenceSession(
                model_bytes, sess_options=session_options(options), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise InferenceError(f"ONNX Runtime could not load the verified model: {exc}") from exc
        self._input_name = manifest.input.name
        self._input_shape = tuple(manifest.input.shape)

    @classmethod
    def load(
        cls,
        package_path: Path,
        *,
        trusted_keys: dict[str, Ed25519PublicKey] | None = None,
        options: EngineOptions | None = None,
    ) -> LockedEngine:
        return cls(verify_package(Path(package_path), trusted_keys), options or EngineOptions())

    @property
    def manifest(self) -> ModelManifest:
        return self.package.manifest

    def run(self, image: np.ndarray) -> np.ndarray:
        """Logits for one preprocessed image of exactly the manifest's input shape."""
        if image.dtype != np.float32 or tuple(image.shape) != self._input_shape:
            raise InferenceError(
                f"engine input must be float32 {self._input_shape}, got {image.dtype} {tuple(image.shape)}"
            )
        try:
            (logits,) = self._session.run(None, {self._input_name: np.ascontiguousarray(image)})
        except Exception as exc:
            raise InferenceError(f"ONNX Runtime failed: {exc}") from exc
        return logits
