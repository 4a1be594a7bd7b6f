"""The locked ONNX Runtime engine (DESIGN.md: "ONNX Runtime is the only inference path").

The session is built from the verified bytes of the package (never from a path, so the
file cannot change between check and use), with a fixed thread count and sequential execution
so that repeated runs give bit-identical outputs. It runs on the CPU provider unless the site
configured CUDA (``inference_device: cuda``): then on ONNX Runtime's CUDA execution provider
with the settings that keep its results reproducible (a fixed cuDNN convolution algorithm
instead of a timing-dependent search, TF32 off so matrix products stay full FP32), or not at all:
ONNX Runtime falls back to the CPU without an error when the CUDA libraries do not load, and the
engine refuses that instead of running somewhere other than configured.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from device_ai.errors import AcceleratorUnavailable, InferenceError
from device_ai.inference.onnx_guard import check_onnx_bytes
from device_ai.model.package.manifest import ONNX_NAME, ModelManifest
from device_ai.model.package.verify import VerifiedPackage, verify_package

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SUPPORTED_PREPROCESSING = ("ct-window-v1",)
SUPPORTED_POSTPROCESSING = ("seg-post-v1",)


DEVICES = ("cpu", "cuda")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# Reproducible CUDA: cuDNN's default convolution algorithm (EXHAUSTIVE, ORT's default, picks by
# timing and may differ between runs), TF32 off (full FP32 matrix products).
CUDA_PROVIDER_OPTIONS = {"device_id": "0", "cudnn_conv_algo_search": "DEFAULT", "use_tf32": "0"}


@dataclass(frozen=True)
class EngineOptions:
    threads: int = 2
    device: str = "cpu"  # one of DEVICES


def execution_providers(device: str) -> list:
    """The provider list for ``device``: the CPU provider alone, or CUDA first (with the CPU
    provider for any node CUDA does not implement, as ONNX Runtime assigns them). Refused
    before any session is built when this ONNX Runtime has no CUDA provider."""
    if device == "cpu":
        return [CPU_PROVIDER]
    if device == "cuda":
        available = ort.get_available_providers()
        if CUDA_PROVIDER not in available:
            raise AcceleratorUnavailable(
                f"inference_device is cuda, but this ONNX Runtime {ort.__version__} has no CUDA execution provider "
                f"(available: {', '.join(available)}); nothing was run",
                hint="install the onnxruntime-gpu build matching the CUDA and cuDNN versions of this machine, or set "
                     "inference_device: cpu")
        return [(CUDA_PROVIDER, dict(CUDA_PROVIDER_OPTIONS)), CPU_PROVIDER]
    raise InferenceError(f"unknown inference device {device!r}; use one of {', '.join(DEVICES)}")


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
        providers = execution_providers(options.device)
        try:
            with warnings.catch_warnings():  # ORT warns of a provider it cannot use; the check below says it
                warnings.simplefilter("ignore")
                self._session = ort.InferenceSession(model_bytes, sess_options=session_options(options),
                                                     providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise InferenceError(f"ONNX Runtime could not load the verified model: {exc}") from exc
        wanted = CUDA_PROVIDER if options.device == "cuda" else CPU_PROVIDER
        if self.execution_provider != wanted:  # ORT's silent fallback when the CUDA libraries fail to load
            raise AcceleratorUnavailable(
                f"inference_device is {options.device}, but ONNX Runtime placed the model on "
                f"{self.execution_provider} (its libraries for {wanted} did not load); nothing was run",
                hint="check the CUDA and cuDNN libraries this onnxruntime-gpu build needs (ONNX Runtime's log names "
                     "the missing one), or set inference_device: cpu")
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
    def execution_provider(self) -> str:
        """The provider the model runs on (the session's first: the one its nodes were assigned to
        first)."""
        return self._session.get_providers()[0]

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
