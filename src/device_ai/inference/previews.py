"""PNG previews of a result: the windowed slice with the label outlines drawn on it.

A preview is for a quick look only; the DICOM SEG is the result of record. Every preview
carries the model identity and the "not for clinical use" statement burned in, because a
PNG can travel without its context.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from device_ai.inference.preprocess import window
from device_ai.model.package.manifest import LabelDefinition, PreprocessingSpec


def select_preview_slices(labels: np.ndarray, count: int = 3) -> list[int]:
    """Slices worth showing: most lesion, most organ, and the middle slice (distinct, sorted)."""
    chosen: list[int] = []
    lesion_area = (labels == 2).reshape(labels.shape[0], -1).sum(axis=1)
    organ_area = (labels == 1).reshape(labels.shape[0], -1).sum(axis=1)
    for candidate in (
        int(np.argmax(lesion_area)) if lesion_area.max() > 0 else None,
        int(np.argmax(organ_area)) if organ_area.max() > 0 else None,
        labels.shape[0] // 2,
    ):
        if candidate is not None and candidate not in chosen:
            chosen.append(candidate)
    return sorted(chosen[:count])


def render_preview(
    hu: np.ndarray,
    labels: np.ndarray,
    label_defs: tuple[LabelDefinition, ...],
    preprocessing: PreprocessingSpec,
    caption: str,
) -> bytes:
    """PNG bytes: grey windowed slice, label outlines in their colours, caption at the top."""
    grey = (window(hu, preprocessing) * 255.0).round().astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    for label in label_defs:
        mask = labels == label.value
        outline = mask & ~ndimage.binary_erosion(mask)
        rgb[outline] = label.color_rgb
    image = Image.fromarray(rgb, mode="RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, 14), fill=(0, 0, 0))
    draw.text((3, 2), caption, fill=(255, 255, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
