"""A released package's architecture cannot change silently under it (ANOM-007).

demo-dinov2-seg 1.0.0 predates the full configuration in the manifest (``backbone_config``,
``head_config``) and its bytes may not change, so its configuration is pinned here, from its
signed description ("192-d, 4 blocks, 3 heads, 4 registers, patch 14", light decoder head) and
the head widths its twin weights have. Packages trained later carry the record themselves and
are compared with :meth:`ModelManifest.architecture_mismatches`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from device_ai.model.package.manifest import ModelManifest
from device_ai.model.segmenter import SegmenterConfig
from device_ai.training.train import backbone_record, describe, head_record

ROOT = Path(__file__).resolve().parents[2]
RELEASED_1 = ROOT / "models" / "demo-dinov2-seg-1.0.0"

PINNED_1_0_0_BACKBONE = {
    "name": "demo_vitt14_reg4", "embed_dim": 192, "depth": 4, "num_heads": 3, "mlp_ratio": 4.0, "ffn": "mlp",
    "num_register_tokens": 4, "patch_size": 14, "native_img_size": 224, "interpolate_offset": 0.0,
    "interpolate_antialias": False, "in_chans": 3, "input_size": 224, "layers": [1, 3],
}
PINNED_1_0_0_HEAD = {"type": "light_decoder", "in_channels": 384, "num_classes": 3, "widths": [16, 32, 48],
                     "token_channels": 64}


@pytest.mark.req("SRS-079")
def test_the_code_still_builds_the_architecture_1_0_0_was_trained_with() -> None:
    manifest = ModelManifest.model_validate(json.loads((RELEASED_1 / "manifest.json").read_bytes()))
    segmenter = SegmenterConfig.from_config_dict(manifest.architecture)
    assert backbone_record(segmenter) == PINNED_1_0_0_BACKBONE
    assert head_record(segmenter) == PINNED_1_0_0_HEAD
    assert describe(segmenter) == manifest.description
    weights = load_file(str(RELEASED_1 / "twin.safetensors"))
    blocks = {key.split(".")[2] for key in weights if key.startswith("backbone.blocks.")}
    assert len(blocks) == PINNED_1_0_0_BACKBONE["depth"]
    assert weights["backbone.register_tokens"].shape == (1, 4, 192)
