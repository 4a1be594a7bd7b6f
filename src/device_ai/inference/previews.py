"""PNG previews of a result: the windowed slice with the label outlines drawn on it.

A preview is for a quick look only; the DICOM SEG is the result of record. Every preview
carries, burned in because a PNG can travel without its context:

- above the slice: the "not for clinical use" statement and the model identity, word-wrapped
  to the image width with a font size chosen for that width (every line is measured with
  ``ImageDraw.textlength``, and words are set apart by a gap of at least a third of the font
  size: Pillow's small default font draws a space so narrow that "FOR CLINICAL" ran together);
- below the slice: where the slice is (slice k of N in series order, the Instance Number and
  the z position in mm when the file has them) and a colour legend, one filled swatch and the
  name in its colour for every label of the model manifest.

Header and footer are added around the slice, so no pixel of the image is covered. Preview
files are named by the 1-based slice number in series order (``preview_slice0001.png`` is
the slice at the lowest position along the slice normal, the SEG's first frame), which is
also what the footer and the summary's ``previews`` entry say; explanation files follow the
same rule (:func:`slice_file_stem`).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from scipy import ndimage

from device_ai.inference.components import slab_starts
from device_ai.inference.preprocess import window
from device_ai.model.package.manifest import LabelDefinition, LabelRole, PreprocessingSpec

SLICE_NUMBERING = ("slice number k of N in series order (1 = lowest position along the slice normal, "
                   "the SEG's first frame); not the Instance Number, which is given per file")
MARGIN = 4  # px left and right of every text line
STATEMENT_RGB = (255, 255, 0)
TEXT_RGB = (255, 255, 255)
BANNER_RGB = (0, 0, 0)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def slice_file_stem(prefix: str, slice_number: int) -> str:
    """File name stem of an output about the 1-based ``slice_number`` (series order):
    ``{prefix}_slice0001`` first. The one naming rule of per-slice outputs (previews, explanations)."""
    if slice_number < 1:
        raise ValueError(f"slice numbers start at 1, not {slice_number}")
    return f"{prefix}_slice{slice_number:04d}"


def preview_name(slice_number: int) -> str:
    """File name of the preview of the 1-based ``slice_number``: ``preview_slice0001.png`` first."""
    return f"{slice_file_stem('preview', slice_number)}.png"


@dataclass(frozen=True)
class SlicePosition:
    """Where a previewed slice lies, in terms a reader can find it by in a viewer."""

    number: int  # 1-based, series order (lowest position along the slice normal first)
    count: int
    instance_number: int | None  # (0020,0013), if the file has one
    z_mm: float | None  # ImagePositionPatient z (axial series: the table position), if present

    def text(self) -> str:
        parts = [f"slice {self.number} of {self.count}"]
        if self.instance_number is not None:
            parts.append(f"Instance {self.instance_number}")
        if self.z_mm is not None:
            parts.append(f"z = {self.z_mm:.1f} mm")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"slice_number": self.number, "slices": self.count, "instance_number": self.instance_number,
                "z_mm": self.z_mm}


def slice_position(datasets: Sequence[Dataset], index: int) -> SlicePosition:
    """Position of the 0-based ``index`` of a series in sorted order."""
    ds = datasets[index]
    instance = ds.get("InstanceNumber")
    position = ds.get("ImagePositionPatient")
    try:
        instance_number = int(instance) if instance not in (None, "") else None
    except (TypeError, ValueError):
        instance_number = None
    try:
        z_mm = round(float(position[2]), 3) if position is not None and len(position) == 3 else None
    except (TypeError, ValueError):
        z_mm = None
    return SlicePosition(index + 1, len(datasets), instance_number, z_mm)


def select_preview_slices(labels: np.ndarray, label_defs: Sequence[LabelDefinition], count: int = 3) -> list[int]:
    """Slices worth showing (0-based, distinct, sorted): the one with the most of each label of
    the manifest, lesion labels first, then the middle slice; at most ``count``."""
    chosen: list[int] = []
    ordered = sorted(label_defs, key=lambda label: (label.role is not LabelRole.LESION, label.value))
    areas = [np.zeros(labels.shape[0], np.int64) for _ in ordered]
    for z0, z1 in slab_starts(labels.shape):  # a slab at a time: no whole-volume mask
        for area, label in zip(areas, ordered):
            area[z0:z1] = np.count_nonzero(labels[z0:z1] == label.value, axis=(1, 2))
    for candidate in [int(np.argmax(area)) if area.max() > 0 else None for area in areas] + [labels.shape[0] // 2]:
        if candidate is not None and candidate not in chosen:
            chosen.append(candidate)
    return sorted(chosen[:count])


@functools.lru_cache(maxsize=16)
def font_for_width(width: int) -> Font:
    """Pillow's embedded font at a size that grows with the image (11 px at 256, 18 at 512)."""
    size = int(min(18, max(11, round(width / 24))))
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _font_size(font: Font) -> float:
    return float(getattr(font, "size", 11))


def word_gap(font: Font) -> float:
    """Space between words: the font's own space, but at least a third of the font size."""
    return max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(" ", font=font), _font_size(font) / 3.0)


def line_width(draw: ImageDraw.ImageDraw, words: Sequence[str], font: Font) -> float:
    """Width of ``words`` set with :func:`word_gap` between them (as :func:`draw_words` draws them)."""
    return sum(draw.textlength(word, font=font) for word in words) + word_gap(font) * max(len(words) - 1, 0)


def wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[list[str]]:
    """Greedy word wrap of each ``\\n``-separated paragraph of ``text`` into lines of words no
    wider than ``width - 2 * MARGIN``; a single word wider than that is split by characters."""
    room = width - 2 * MARGIN
    lines: list[list[str]] = []
    for paragraph in text.split("\n"):
        line: list[str] = []
        for word in paragraph.split():
            while draw.textlength(word, font=font) > room and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and draw.textlength(word[:cut], font=font) > room:
                    cut -= 1
                if line:
                    lines.append(line)
                    line = []
                lines.append([word[:cut]])
                word = word[cut:]
            if line and line_width(draw, [*line, word], font) > room:
                lines.append(line)
                line = []
            line.append(word)
        if line:
            lines.append(line)
    return lines


def line_height(font: Font) -> int:
    left, top, right, bottom = font.getbbox("ÅgjNy")
    return int(bottom) + 3


def draw_words(draw: ImageDraw.ImageDraw, x: float, y: float, words: Sequence[str], font: Font,
                fill: tuple[int, int, int]) -> None:
    gap = word_gap(font)
    for word in words:
        draw.text((x, y), word, font=font, fill=fill)
        x += draw.textlength(word, font=font) + gap


def _legend_rows(draw: ImageDraw.ImageDraw, label_defs: Sequence[LabelDefinition], font: Font,
                 width: int) -> list[list[tuple[LabelDefinition, float]]]:
    """Legend entries (label, x) laid out in rows that fit ``width``."""
    swatch = line_height(font) - 4
    rows: list[list[tuple[LabelDefinition, float]]] = [[]]
    x = float(MARGIN)
    for label in label_defs:
        entry = swatch + 4 + draw.textlength(label.name, font=font)
        if rows[-1] and x + entry > width - MARGIN:
            rows.append([])
            x = float(MARGIN)
        rows[-1].append((label, x))
        x += entry + 2 * word_gap(font)
    return rows


def render_preview(
    hu: np.ndarray,
    labels: np.ndarray,
    label_defs: Sequence[LabelDefinition],
    preprocessing: PreprocessingSpec,
    caption: str,
    position: str = "",
) -> bytes:
    """PNG bytes: ``caption`` (``\\n`` starts a new line) above the grey windowed slice with
    each label's outline in its colour, ``position`` and the colour legend below it."""
    grey = (window(hu, preprocessing) * 255.0).round().astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    for label in label_defs:
        mask = labels == label.value
        outline = mask & ~ndimage.binary_erosion(mask)
        rgb[outline] = label.color_rgb
    slice_image = Image.fromarray(rgb, mode="RGB")
    width = slice_image.width
    font = font_for_width(width)
    step = line_height(font)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    header = wrap(measure, caption, font, width)
    footer = wrap(measure, position, font, width) if position else []
    legend = _legend_rows(measure, label_defs, font, width)
    header_height = step * len(header) + 4
    footer_height = step * (len(footer) + len(legend)) + 4
    image = Image.new("RGB", (width, header_height + slice_image.height + footer_height), BANNER_RGB)
    image.paste(slice_image, (0, header_height))
    draw = ImageDraw.Draw(image)
    for row, words in enumerate(header):
        draw_words(draw, MARGIN, 2 + row * step, words, font, STATEMENT_RGB)
    y = header_height + slice_image.height + 2
    for row, words in enumerate(footer):
        draw_words(draw, MARGIN, y + row * step, words, font, TEXT_RGB)
    y += step * len(footer)
    swatch = step - 4
    for row, entries in enumerate(legend):
        top = y + row * step + 1
        for label, x in entries:
            draw.rectangle((x, top, x + swatch - 1, top + swatch - 1), fill=tuple(label.color_rgb))
            draw.text((x + swatch + 4, top - 1), label.name, font=font, fill=tuple(label.color_rgb))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
