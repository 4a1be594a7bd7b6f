"""The model package manifest (DESIGN.md, "Locked model package").

``manifest.json`` names the model, its intended use and input contract, its labels with
codes, the preprocessing and postprocessing versions, the SHA-256 of every other file of the
package, how it was trained (seed, data manifest digest) and exported (opset, versions), and
its validated metrics with confidence intervals. It is serialised canonically (sorted keys,
fixed separators) so its digest is reproducible; that digest is what the code pins.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
ONNX_NAME = "model.onnx"
TWIN_NAME = "twin.safetensors"
PACKAGE_FILES = (MANIFEST_NAME, SIGNATURE_NAME, ONNX_NAME, TWIN_NAME)
SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CodedConcept(_Frozen):
    """A coded concept (PS3.3 8.8 Code Sequence macro): scheme designator, value, meaning."""

    scheme: str
    value: str
    meaning: str


class LabelDefinition(_Frozen):
    """One output label of the model and how it is coded in the DICOM SEG (CID 7150/7151)."""

    value: int = Field(ge=1, le=255)
    name: str
    category: CodedConcept
    property_type: CodedConcept
    color_rgb: tuple[int, int, int]


class TensorSpec(_Frozen):
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


class PreprocessingSpec(_Frozen):
    """Versioned preprocessing; the engine refuses a manifest whose version it does not implement."""

    version: str
    window_center_hu: float
    window_width_hu: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: str


class PostprocessingSpec(_Frozen):
    version: str
    min_lesion_volume_mm3: float
    keep_largest_foreground_component: bool = True


class ExportInfo(_Frozen):
    opset: int
    exporter: str
    torch_version: str
    onnx_version: str
    onnxruntime_version: str
    parity_max_abs_logit_diff: float
    parity_mask_agreement: float
    parity_cases: int


class TrainingInfo(_Frozen):
    seed: int
    data_manifest_sha256: str
    train_patients: int
    verification_patients: int
    steps: int
    wall_time_s: float
    torch_threads: int
    twin_weights_sha256: str


class ModelManifest(_Frozen):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    description: str
    intended_use: str
    clinical_use: bool = False
    architecture: dict[str, Any]
    input_contract: dict[str, Any]
    input: TensorSpec
    output: TensorSpec
    labels: tuple[LabelDefinition, ...]
    preprocessing: PreprocessingSpec
    postprocessing: PostprocessingSpec
    files: dict[str, str]
    training: TrainingInfo
    export: ExportInfo
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_utc: str

    @property
    def identity(self) -> str:
        return f"{self.name} {self.version}"

    def canonical_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, two-space indent, LF, trailing newline)."""
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode("utf-8")
