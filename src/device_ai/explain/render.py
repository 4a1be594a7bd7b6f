"""A heat-map overlay with a burned-in legend, for the PNG and the Secondary Capture alike."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from device_ai.inference.preprocess import window
from device_ai.model.package.manifest import PreprocessingSpec


def heat_colors(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB (dark blue -> red -> yellow), uint8."""
    v = np.clip(values, 0.0, 1.0)
    red = np.clip(2.0 * v, 0, 1)
    green = np.clip(2.0 * v - 1.0, 0, 1)
    blue = np.clip(1.0 - 2.0 * v, 0, 1) * 0.6
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def overlay(hu: np.ndarray, heat: np.ndarray, mask: np.ndarray, preprocessing: PreprocessingSpec, legend: str) -> np.ndarray:
    """RGB (rows, cols, 3): grey slice, heat blended where it is above 0.1, the explained
    region's outline in white, and a legend bar at the top."""
    grey = np.repeat((window(hu, preprocessing) * 255.0)[:, :, None], 3, axis=2)
    alpha = np.where(heat > 0.1, 0.5, 0.0)[:, :, None]
    rgb = grey * (1 - alpha) + heat_colors(heat) * alpha
    edge = mask & ~np.roll(mask, 1, axis=0) | mask & ~np.roll(mask, 1, axis=1)
    rgb[edge] = 255
    image = Image.fromarray(rgb.astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, 26), fill=(0, 0, 0))
    for line, text in enumerate(legend.split("\n")[:2]):
        draw.text((3, 2 + 12 * line), text, fill=(255, 255, 0))
    return np.asarray(image)
