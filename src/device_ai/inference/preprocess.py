"""Preprocessing ``ct-window-v1``: HU slice -> the model's fixed input tensor (SRS-012).

1. Window the HU values (default soft-tissue window, centre 40, width 400) and scale to [0, 1].
2. Resample to the fixed model input size with Pillow's bilinear filter, which widens its
   support when downsampling (antialiasing), so noise does not alias into the model input.
3. Replicate to 3 channels and normalise with the ImageNet mean/std the DINOv2 patch
   embedding was trained with (facebookresearch/dinov2 ``dinov2/data/transforms.py``).

Training uses this very function, so the model sees identical inputs in training and use.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from device_ai.model.package.manifest import PreprocessingSpec

PREPROCESSING_VERSION = "ct-window-v1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_PREPROCESSING = PreprocessingSpec(
    version=PREPROCESSING_VERSION,
    window_center_hu=40.0,
    window_width_hu=400.0,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    resample="pillow-bilinear-antialias",
)


def resize_plane(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Resize one float32 plane with Pillow's bilinear filter (pixel-centre aligned)."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(image.resize((cols, rows), resample=Image.Resampling.BILINEAR), dtype=np.float32)


def window(hu: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    low = spec.window_center_hu - spec.window_width_hu / 2.0
    scaled = (hu.astype(np.float32) - np.float32(low)) / np.float32(spec.window_width_hu)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def windowed_plane(hu: np.ndarray, size: int, spec: PreprocessingSpec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Steps 1-2: one HU slice (R, C) -> float32 (size, size) in [0, 1]."""
    if spec.version != PREPROCESSING_VERSION:
        raise ValueError(f"preprocessing {spec.version} is not implemented (this is {PREPROCESSING_VERSION})")
    return resize_plane(window(hu, spec), size, size)


def normalize(planes: np.ndarray, spec: PreprocessingSpec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Step 3: planes (N, H, W) in [0, 1] -> float32 (N, 3, H, W)."""
    mean = np.asarray(spec.mean, dtype=np.float32)[None, :, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[None, :, None, None]
    return ((planes[:, None, :, :] - mean) / std).astype(np.float32)


def air_baseline(height: int, width: int, spec: PreprocessingSpec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """The model input of an image at the bottom of the window ("air"), (1, 3, H, W): the
    neutral value that explanation methods substitute for removed pixels."""
    return normalize(np.zeros((1, height, width), dtype=np.float32), spec)


def preprocess_slice(hu: np.ndarray, size: int, spec: PreprocessingSpec = DEFAULT_PREPROCESSING) -> np.ndarray:
    """One HU slice (R, C) -> float32 (1, 3, size, size)."""
    return normalize(windowed_plane(hu, size, spec)[None], spec)
