"""Models whose label-1 logit is known in closed form, and their input, for the explanation tests."""

from __future__ import annotations

import numpy as np
import torch

from device_ai.inference.preprocess import normalize
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig

SIZE = 224
REGION = (slice(56, 168), slice(70, 182))  # 8 x 8 patches, aligned to the 14-px grid


def closed_form_model() -> DinoSegmenter:
    """Blocks are identities (layer scale 0), no position embedding; token channel 0 is the
    patch mean of input channel 0; after the final LayerNorm it is +sqrt(D-1) where that mean
    is positive, so the label-1 logit at a pixel depends only on the input in its own patch."""
    model = DinoSegmenter(SegmenterConfig("demo_vitt14_reg4", "linear", 2, (3,), SIZE))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        backbone = model.backbone
        backbone.patch_embed.proj.weight[0, 0] = 1.0 / 196
        backbone.norm.weight.fill_(1.0)
        head = model.head
        head.bn.running_mean.zero_()
        head.bn.running_var.fill_(1.0)
        head.bn.weight.fill_(1.0)
        head.conv_seg.weight[1, 0, 0, 0] = 1.0
    return model.eval()


def closed_form_mlp_model() -> DinoSegmenter:
    """``closed_form_model`` with the label-1 logit routed through the last block's MLP: its
    hidden unit 0 reads the normalised channel 0 (+sqrt(D-1) where the patch mean is positive,
    -sqrt(D-1) elsewhere) and writes channel 1, which the head reads after the final LayerNorm
    (13.64 inside the region, 0.072 outside), scaled and offset to +1 inside and -1 outside. The
    logit still depends only on the input in the pixel's own patch, now through the MLP."""
    model = closed_form_model()
    inside, outside = 13.6405, 0.0724  # channel 1 after the final LayerNorm, measured
    with torch.no_grad():
        block = model.backbone.blocks[-1]
        block.norm2.weight.fill_(1.0)
        block.mlp.fc1.weight[0, 0] = 1.0
        block.mlp.fc2.weight[1, 0] = 1.0
        block.ls2.gamma[1] = 1.0
        head = model.head
        head.conv_seg.weight[1, 0, 0, 0] = 0.0
        head.conv_seg.weight[1, 1, 0, 0] = 2.0 / (inside - outside)
        head.conv_seg.bias[1] = -1.0 - outside * 2.0 / (inside - outside)
    return model.eval()


def region_image() -> np.ndarray:
    planes = np.zeros((1, SIZE, SIZE), dtype=np.float32)
    planes[0][REGION] = 1.0
    return normalize(planes)


def inside() -> np.ndarray:
    """(SIZE, SIZE) bool: the region that determines the label-1 logit."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[REGION] = True
    return mask


def predicted(model: DinoSegmenter, image: np.ndarray, label: int = 1) -> np.ndarray:
    """The model's own mask of ``label`` (H, W) bool."""
    with torch.no_grad():
        return model(torch.from_numpy(image)).argmax(1)[0].numpy() == label


def mass_inside(cam: np.ndarray) -> float:
    return float(cam[REGION].sum() / cam.sum())
