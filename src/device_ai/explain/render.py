"""A heat-map overlay with its legend drawn around the slice, never over it, for the PNG and
the Secondary Capture alike.

The canvas is the slice's width and taller than the slice: a black banner above it carries the
title and statement, a black banner below it a colour bar with its end labels and the reading
line (what the colours and the outline mean, what the image is not). Every pixel of the slice
stays visible (issue 21's review: banners painted over the slice hid most of its hottest
pixels). Text is word-wrapped with the same measured layout as the previews. Heat at or below
``SHOWN_FROM`` is not coloured, so the bar starts there; the bar shows each colour as the
overlay does, blended ``BLEND`` over the window's mid grey. The explained region gets a closed
white outline (the region minus its erosion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

from device_ai.inference.preprocess import window
from device_ai.inference.previews import MARGIN, draw_words, font_for_width, line_height, wrap
from device_ai.model.package.manifest import PreprocessingSpec

SHOWN_FROM = 0.1  # heat at or below this is left uncoloured
BLEND = 0.5  # weight of the heat colour over the grey slice
MID_GREY = 127.5  # the window's centre, the grey the bar's colours are blended over
LEGEND_RGB = (255, 255, 0)
READING_RGB = (255, 255, 255)
BAR_LOW, BAR_HIGH = f"{SHOWN_FROM:.0%}", "100%"  # of the slice's highest value (the reading line says so)


def heat_colors(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB (dark blue -> red -> yellow), uint8."""
    v = np.clip(values, 0.0, 1.0)
    red = np.clip(2.0 * v, 0, 1)
    green = np.clip(2.0 * v - 1.0, 0, 1)
    blue = np.clip(1.0 - 2.0 * v, 0, 1) * 0.6
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def _blend(grey: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Grey levels (...) with heat (...) blended where it is above ``SHOWN_FROM``: uint8 (..., 3)."""
    alpha = np.where(heat > SHOWN_FROM, BLEND, 0.0)[..., None]
    return (grey[..., None] * (1 - alpha) + heat_colors(heat) * alpha).astype(np.uint8)


def bar_colors(values: np.ndarray) -> np.ndarray:
    """The colour bar's colours for heat ``values`` (above ``SHOWN_FROM``): the overlay's
    colour of that heat over a mid-grey pixel, so the bar matches what the slice shows."""
    return _blend(np.full(np.shape(values), MID_GREY), np.asarray(values))


def outline(mask: np.ndarray) -> np.ndarray:
    """A closed outline of ``mask``: its pixels with a 4-neighbour outside it (the image edge
    counts as outside), so every side of a region is drawn."""
    return mask & ~binary_erosion(mask, border_value=0)


def slice_rgb(hu: np.ndarray, heat: np.ndarray, mask: np.ndarray, preprocessing: PreprocessingSpec) -> np.ndarray:
    """The slice alone, uint8 (rows, cols, 3): windowed grey, heat blended where it is above
    ``SHOWN_FROM``, the explained region's outline in white."""
    rgb = _blend(window(hu, preprocessing) * 255.0, heat)
    rgb[outline(mask)] = 255
    return rgb


def _split_legend(legend: str) -> tuple[str, str]:
    top, _, bottom = legend.partition("\n\n")
    return top, bottom


@dataclass(frozen=True)
class Layout:
    """Where things go on the canvas (pixel rows; the canvas is the slice's width)."""

    width: int
    top: list[list[str]]  # the top banner's lines of words
    below: list[list[str]]  # the reading line's lines of words, under the bar
    step: int  # line height
    bar_height: int

    @property
    def slice_top(self) -> int:
        return self.step * len(self.top) + 4

    def bottom_height(self) -> int:
        return self.step * len(self.below) + self.bar_height + 8


def layout(width: int, legend: str) -> Layout:
    """The layout of ``legend`` around a slice ``width`` pixels wide."""
    font = font_for_width(width)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    step = line_height(font)
    top_text, reading = _split_legend(legend)
    return Layout(width, wrap(draw, top_text, font, width), wrap(draw, reading, font, width) if reading else [],
                  step, max(step - 5, 6))


def slice_box(shape: tuple[int, int], legend: str) -> tuple[int, int, int, int]:
    """(top, left, rows, cols) of the slice inside the canvas ``overlay`` draws for it."""
    rows, cols = shape
    return layout(cols, legend).slice_top, 0, rows, cols


def overlay(hu: np.ndarray, heat: np.ndarray, mask: np.ndarray, preprocessing: PreprocessingSpec, legend: str) -> np.ndarray:
    """RGB canvas (top banner + rows + bottom banner, cols, 3): the title banner, the slice as
    :func:`slice_rgb` draws it (no pixel of it covered), then the colour bar and reading line.

    ``legend``: the top banner's text (``\\n`` starts a new line); text after an empty line
    (``\\n\\n``) is the reading line, printed under the colour bar."""
    rows, width = hu.shape
    plan = layout(width, legend)
    y0 = plan.slice_top + rows  # the bottom banner's first row
    image = Image.new("RGB", (width, y0 + plan.bottom_height()), (0, 0, 0))
    image.paste(Image.fromarray(slice_rgb(hu, heat, mask, preprocessing), mode="RGB"), (0, plan.slice_top))
    draw = ImageDraw.Draw(image)
    font = font_for_width(width)
    step = plan.step
    for row, words in enumerate(plan.top):
        draw_words(draw, MARGIN, 2 + row * step, words, font, LEGEND_RGB)

    low_w, high_w = draw.textlength(BAR_LOW, font=font), draw.textlength(BAR_HIGH, font=font)
    left = int(MARGIN + low_w + 4)
    right = int(width - MARGIN - high_w - 4)
    bar_top = y0 + 3
    text_y = bar_top + (plan.bar_height - step) / 2 + 1
    draw.text((MARGIN, text_y), BAR_LOW, font=font, fill=READING_RGB)
    draw.text((right + 4, text_y), BAR_HIGH, font=font, fill=READING_RGB)
    if right > left:
        colours = bar_colors(np.linspace(SHOWN_FROM, 1.0, right - left + 1)[1:])  # SHOWN_FROM itself is uncoloured
        strip = np.repeat(colours[None, :, :], plan.bar_height, axis=0)
        image.paste(Image.fromarray(strip, mode="RGB"), (left, bar_top))
    for row, words in enumerate(plan.below):
        draw_words(draw, MARGIN, bar_top + plan.bar_height + 2 + row * step, words, font, READING_RGB)
    return np.asarray(image)
