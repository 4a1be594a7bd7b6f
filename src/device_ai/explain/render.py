"""A heat-map overlay with a burned-in legend, for the PNG and the Secondary Capture alike.

The overlay keeps the source slice's size (the Secondary Capture is the slice's derived
image). A black banner at the top carries the legend text, word-wrapped to the width with
the same measured layout as the previews; a banner at the bottom carries a colour bar from
low to high with its labels, and the reading line (what the colours mean, what the image is
not). Heat below ``SHOWN_FROM`` is not drawn, so the bar starts there.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from device_ai.inference.preprocess import window
from device_ai.inference.previews import MARGIN, draw_words, font_for_width, line_height, wrap
from device_ai.model.package.manifest import PreprocessingSpec

SHOWN_FROM = 0.1  # heat at or below this is left transparent
LEGEND_RGB = (255, 255, 0)
READING_RGB = (255, 255, 255)
BAR_LOW, BAR_HIGH = "low", "high"


def heat_colors(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB (dark blue -> red -> yellow), uint8."""
    v = np.clip(values, 0.0, 1.0)
    red = np.clip(2.0 * v, 0, 1)
    green = np.clip(2.0 * v - 1.0, 0, 1)
    blue = np.clip(1.0 - 2.0 * v, 0, 1) * 0.6
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def _split_legend(legend: str) -> tuple[str, str]:
    top, _, bottom = legend.partition("\n\n")
    return top, bottom


def overlay(hu: np.ndarray, heat: np.ndarray, mask: np.ndarray, preprocessing: PreprocessingSpec, legend: str) -> np.ndarray:
    """RGB (rows, cols, 3): grey slice, heat blended where it is above ``SHOWN_FROM``, the
    explained region's outline in white, the legend at the top and the colour bar at the bottom.

    ``legend``: the top banner's text (``\\n`` starts a new line); text after an empty line
    (``\\n\\n``) is the reading line, printed under the colour bar."""
    grey = np.repeat((window(hu, preprocessing) * 255.0)[:, :, None], 3, axis=2)
    alpha = np.where(heat > SHOWN_FROM, 0.5, 0.0)[:, :, None]
    rgb = grey * (1 - alpha) + heat_colors(heat) * alpha
    edge = mask & ~np.roll(mask, 1, axis=0) | mask & ~np.roll(mask, 1, axis=1)
    rgb[edge] = 255
    image = Image.fromarray(rgb.astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    font = font_for_width(width)
    step = line_height(font)
    top_text, reading = _split_legend(legend)

    top = wrap(draw, top_text, font, width)
    draw.rectangle((0, 0, width, step * len(top) + 3), fill=(0, 0, 0))
    for row, words in enumerate(top):
        draw_words(draw, MARGIN, 2 + row * step, words, font, LEGEND_RGB)

    below = wrap(draw, reading, font, width) if reading else []
    bar_height = max(step - 5, 6)
    bottom_height = step * len(below) + bar_height + 8
    y0 = height - bottom_height
    draw.rectangle((0, y0, width, height), fill=(0, 0, 0))
    low_w, high_w = draw.textlength(BAR_LOW, font=font), draw.textlength(BAR_HIGH, font=font)
    left = int(MARGIN + low_w + 4)
    right = int(width - MARGIN - high_w - 4)
    bar_top = y0 + 3
    draw.text((MARGIN, bar_top + (bar_height - step) / 2 + 1), BAR_LOW, font=font, fill=READING_RGB)
    draw.text((right + 4, bar_top + (bar_height - step) / 2 + 1), BAR_HIGH, font=font, fill=READING_RGB)
    if right > left:
        colours = heat_colors(np.linspace(SHOWN_FROM, 1.0, right - left))
        strip = np.repeat(colours[None, :, :], bar_height, axis=0)
        image.paste(Image.fromarray(strip, mode="RGB"), (left, bar_top))
    for row, words in enumerate(below):
        draw_words(draw, MARGIN, bar_top + bar_height + 2 + row * step, words, font, READING_RGB)
    return np.asarray(image)
