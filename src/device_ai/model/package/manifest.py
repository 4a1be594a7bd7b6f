"""The model package manifest (DESIGN.md, "Locked model package").

``manifest.json`` names the model, its intended use and input contract, its labels with
codes, the preprocessing and postprocessing versions, the SHA-256 of every other file of the
package, how it was trained (seed, data manifest digest) and exported (opset, versions), and
its validated metrics with confidence intervals. It is serialised canonically (sorted keys,
fixed separators) so its digest is reproducible; that digest is what the code pins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import Enum
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


class LabelRole(str, Enum):
    """What the software does with a label: postprocessing and measurements need to know
    which label is the organ (one per image, the volume the lesions lie in) and which are
    the lesions (counted, measured, removed below the minimum volume)."""

    ORGAN = "organ"
    LESION = "lesion"


# A label's role follows from its segmented property type (DICOM CID 7151, SNOMED CT;
# SRS-074), which every manifest already carries and signs; no schema field is added, so
# released manifests keep their bytes, digest and signature.
ROLE_BY_PROPERTY_TYPE: dict[tuple[str, str], LabelRole] = {
    ("SCT", "91772007"): LabelRole.ORGAN,  # Organ
    ("SCT", "52988006"): LabelRole.LESION,  # Lesion
}


class LabelDefinition(_Frozen):
    """One output label of the model and how it is coded in the DICOM SEG (CID 7150/7151)."""

    value: int = Field(ge=1, le=255)
    name: str
    category: CodedConcept
    property_type: CodedConcept
    color_rgb: tuple[int, int, int]

    @property
    def role(self) -> LabelRole | None:
        """The role this label plays, from its property type code; None for other concepts."""
        return ROLE_BY_PROPERTY_TYPE.get((self.property_type.scheme, self.property_type.value))


def find_label(labels: Iterable[LabelDefinition], *, role: LabelRole | str | None = None,
               name: str | None = None) -> LabelDefinition:
    """The one label with ``role`` or ``name`` (case-insensitive); ValueError naming the
    labels there are when there is none or more than one."""
    if (role is None) == (name is None):
        raise ValueError("give exactly one of role or name")
    labels = tuple(labels)
    if role is not None:
        wanted = LabelRole(role)
        found = [label for label in labels if label.role is wanted]
        what = f"role {wanted.value!r}"
    else:
        found = [label for label in labels if label.name.casefold() == str(name).casefold()]
        what = f"name {name!r}"
    if len(found) != 1:
        known = ", ".join(f"{label.value}={label.name}" for label in labels) or "none"
        count = "no label" if not found else f"{len(found)} labels"
        raise ValueError(f"{count} with {what}; this model's labels are {known}")
    return found[0]


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
    # Additive, optional (absent from 1.0.0, whose bytes must not change; None is never
    # serialised, see ModelManifest.canonical_bytes): which phantom generator and domain
    # drew the training and verification cases (ANOM-005) and the rest of the plan.
    generator: str | None = None
    domain: str | None = None
    verification_generator: str | None = None
    verification_domain: str | None = None
    slices_per_patient: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None
    dice_weight: float | None = None
    data_wall_time_s: float | None = None
    train_wall_time_s: float | None = None
    # Training on the user's labelled DICOM (``device-ai train --data``): what the data were
    # (counts and the data manifest's format; its digest is data_manifest_sha256), the split by
    # patient (counts, patient digests, how it was made) and where the backbone's weights came
    # from (mode, official checkpoint config and SHA-256). No identifiers.
    data_source: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    backbone_init: dict[str, Any] | None = None


class BackboneConfig(_Frozen):
    """The full ViT configuration a package was trained with (ANOM-007): everything the
    weights' shapes and the forward pass depend on, so a later change of a named config in
    code cannot silently change what an old package means."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    ffn: str
    num_register_tokens: int
    patch_size: int
    native_img_size: int
    interpolate_offset: float
    interpolate_antialias: bool
    in_chans: int
    input_size: int
    layers: tuple[int, ...]


class HeadConfig(_Frozen):
    """The segmentation head: type and every width (ANOM-007)."""

    type: str
    in_channels: int
    num_classes: int
    widths: tuple[int, ...] | None = None
    token_channels: int | None = None


# Optional fields added after 1.0.0: left out of the canonical bytes when unset.
_ADDITIVE_FIELDS = ("backbone_config", "head_config")
_ADDITIVE_TRAINING_FIELDS = (
    "generator", "domain", "verification_generator", "verification_domain", "slices_per_patient",
    "batch_size", "learning_rate", "weight_decay", "warmup_steps", "dice_weight",
    "data_wall_time_s", "train_wall_time_s", "data_source", "split", "backbone_init",
)


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
    backbone_config: BackboneConfig | None = None
    head_config: HeadConfig | None = None

    @property
    def identity(self) -> str:
        return f"{self.name} {self.version}"

    def label_by_name(self, name: str) -> LabelDefinition:
        """The label called ``name`` (case-insensitive), e.g. ``"Lesion"``; ValueError if none."""
        return find_label(self.labels, name=name)

    def label_by_role(self, role: LabelRole | str) -> LabelDefinition:
        """The one label with ``role`` (see :class:`LabelRole`); ValueError if none or several."""
        return find_label(self.labels, role=role)

    def label_value(self, role: LabelRole | str) -> int:
        """The label-map value of the label with ``role``."""
        return self.label_by_role(role).value

    def label_by_value(self, value: int) -> LabelDefinition:
        """The label whose label-map value is ``value``; ValueError if none."""
        for label in self.labels:
            if label.value == value:
                return label
        known = ", ".join(f"{label.value}={label.name}" for label in self.labels)
        raise ValueError(f"no label with value {value}; this model's labels are {known}")

    def canonical_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, two-space indent, LF, trailing newline). Optional fields
        added after schema 1's first release are omitted when unset, so a released manifest
        re-serialises to its own bytes."""
        data = self.model_dump(mode="json")
        for name in _ADDITIVE_FIELDS:
            if data.get(name) is None:
                data.pop(name, None)
        for name in _ADDITIVE_TRAINING_FIELDS:
            if data["training"].get(name) is None:
                data["training"].pop(name, None)
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    def architecture_mismatches(self, backbone: dict[str, Any], head: dict[str, Any]) -> list[str]:
        """Differences between the recorded full configuration and ``backbone``/``head`` as
        the running code would build them (empty when they agree, or when this manifest
        predates the record). A loader refuses a package with any difference."""
        found: list[str] = []
        for label, recorded, current in (("backbone", self.backbone_config, backbone),
                                         ("head", self.head_config, head)):
            if recorded is None:
                continue
            stored = recorded.model_dump(mode="json")
            now = json.loads(json.dumps(current))
            for key in sorted(set(stored) | set(now)):
                if stored.get(key) != now.get(key):
                    found.append(f"{label}.{key}: package {stored.get(key)!r}, code {now.get(key)!r}")
        return found
