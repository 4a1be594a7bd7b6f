"""What an explanation image tells its reader (issue 21, item 8): a title that says the map is
relative and coarse, a colour bar whose meaning and uncoloured low end are written under it and
whose colours are the overlay's, a closed outline explained, and a legend drawn around the slice
so that no pixel of it is hidden. Each check is shown to fail on the image or words it replaced
(negative controls)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from scipy.ndimage import label as connected_regions

from conftest import dciodvfy_errors
from device_ai.dicom.sc import NOT_FOR_DIAGNOSIS, series_description
from device_ai.explain.gradcam import patch_grid
from device_ai.explain.pipeline import legend_for
from device_ai.explain.render import SHOWN_FROM, bar_colors, heat_colors, layout, overlay, slice_box, slice_rgb
from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, window
from device_ai.model.dinov2.configs import get_config
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig

# the legend before issue 21 (pipeline.py at 1cc7276): the negative control of every text check
OLD_LEGEND = ("Grad-CAM: why 'Lesion' (demo-dinov2-seg 1.0.0)\nDERIVED EXPLANATION - NOT FOR DIAGNOSIS\n\n"
              "red-yellow = regions that raised the model's score for Lesion; white outline = the Lesion result; "
              "not a segmentation; not for diagnosis")
GREY_HU = 40.0  # the window's centre: mid grey, so every banner pixel differs from the image under it


def title_problems(title: str, label: str, grid: int) -> list[str]:
    """What the title fails to say (empty when it says everything)."""
    wanted = {
        "the label asked for": f"'{label}'",
        "what is shown": "where evidence for",
        "relative to the slice": "exceeds the slice average",
        "relative": "relative",
        "the map's resolution": f"{grid}x{grid} patch resolution",
    }
    return [what for what, words in wanted.items() if words not in title]


def reading_problems(reading: str, label: str) -> list[str]:
    wanted = {
        "the colour bar": "Colour bar",
        "relative": "relative",
        "not a probability": "not a probability",
        "the uncoloured low end": f"under {SHOWN_FROM:.0%} not coloured",
        "not findings": "Coloured areas are not findings",
        "the outline": f"White outline: the predicted {label} region",
        "not evidence of correctness": "Not evidence that the result is correct",
    }
    return [what for what, words in wanted.items() if words not in reading]


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def colour_bar(rgb: np.ndarray, min_rows: int = 6, colors=bar_colors) -> tuple[int, int, int, int] | None:  # noqa: ANN001
    """(top, bottom, left, right), bottom and right exclusive, of a horizontal colour bar running from the lowest shown
    colour of ``colors`` (the overlay's colours by default) to its highest, low on the left, at least half the image
    wide and ``min_rows`` tall; None if there is none. Read from the pixels alone: a run of columns whose colours are
    on the colour map and follow it (red and green never fall, blue never rises), the same colour down each column."""
    height, width = rgb.shape[:2]
    on_scale = np.unique(_codes(colors(np.linspace(SHOWN_FROM, 1.0, 1 << 16)[1:])))
    low_end = np.unique(_codes(colors(np.linspace(SHOWN_FROM, SHOWN_FROM + 0.05, 1 << 12)[1:])))
    high = int(_codes(colors(np.array([1.0])))[0])
    pixels = rgb.astype(int)
    codes = _codes(rgb)
    for top in range(height - min_rows + 1):
        row = pixels[top]
        on_map = np.isin(codes[top], on_scale)
        start = None
        for col in range(width + 1):
            if col < width and on_map[col]:
                start = col if start is None else start
                continue
            if start is not None and col - start >= width // 2:
                run = row[start:col]
                steady = (np.diff(run[:, 0]) >= 0).all() and (np.diff(run[:, 1]) >= 0).all() \
                    and (np.diff(run[:, 2]) <= 0).all()
                ends = codes[top, start] in low_end and codes[top, col - 1] == high
                block = pixels[top:top + min_rows, start:col]
                if steady and ends and (block == run[None]).all():
                    bottom = top + min_rows
                    while bottom < height and (pixels[bottom, start:col] == run).all():
                        bottom += 1
                    return top, bottom, start, col
            start = None
    return None


def banner_rows(legend: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a legend's banners around a ``size`` x ``size`` slice, and the overlay of that legend on a plain grey
    slice with no heat and no outline (the banners do not depend on the slice)."""
    plain = overlay(np.full((size, size), GREY_HU, np.float32), np.zeros((size, size), np.float32),
                    np.zeros((size, size), bool), DEFAULT_PREPROCESSING, legend)
    grey = plain[size // 2, size // 2]
    rows = np.nonzero(~(plain == grey).all(axis=(1, 2)))[0]
    return rows, plain


@pytest.mark.req("SRS-039")
def test_the_title_says_relative_and_the_models_patch_grid() -> None:
    def twin(input_size: int) -> DinoSegmenter:
        return DinoSegmenter(SegmenterConfig(backbone="demo_vitt14_reg4", head="light_decoder", num_classes=3,
                                             layers=(1, 3), input_size=input_size))

    assert patch_grid(twin(224)) == 16 and patch_grid(twin(112)) == 8  # from the model, not a literal
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", patch_grid(twin(224)))
    assert legend.title == "where evidence for 'Lesion' exceeds the slice average (relative, 16x16 patch resolution)"
    assert title_problems(legend_for("Organ", "m 1", 8).title, "Organ", 8) == []
    assert NOT_FOR_DIAGNOSIS in legend.statement and "demo-dinov2-seg 1.0.0" in legend.statement
    # negative controls: the old title, another label, another model's grid
    assert title_problems(OLD_LEGEND.split("\n")[0], "Lesion", 16) == [
        "what is shown", "relative to the slice", "relative", "the map's resolution"]
    assert title_problems(legend.title, "Organ", 16) == ["the label asked for"]
    assert title_problems(legend.title, "Lesion", 8) == ["the map's resolution"]
    assert "map empty" in legend.text(empty=True) and "map empty" not in legend.text(empty=False)


@pytest.mark.req("SRS-039")
def test_the_reading_line_explains_the_colours_and_the_outline() -> None:
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", 16)
    assert reading_problems(legend.reading, "Lesion") == []
    assert legend.text(empty=False).split("\n\n")[1] == legend.reading  # printed under the bar
    old_reading = OLD_LEGEND.split("\n\n")[1]  # negative control
    assert reading_problems(old_reading, "Lesion") == [
        "the colour bar", "relative", "not a probability", "the uncoloured low end", "not findings", "the outline",
        "not evidence of correctness"]
    assert reading_problems(legend.reading, "Organ") == ["the outline"]
    # negative control: the reading line of 4d5a0b1-era images (no low end, no "not findings")
    before = ("Colour bar: relative to this slice's highest value, not a probability. White outline: the predicted "
              "Lesion region. Not evidence that the result is correct.")
    assert reading_problems(before, "Lesion") == ["the uncoloured low end", "not findings"]


def uncapitalised(text: str) -> list[str]:
    """The sentences of ``text`` (ended by ". ") that start with a small letter, by their first two words."""
    return [" ".join(sentence.split()[:2]) for sentence in text.split(". ") if sentence[:1].islower()]


def _disc_case(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mid-grey slice, a heat blob and a small disc to outline, both centred."""
    rows, cols = np.mgrid[0:size, 0:size]
    radius = np.hypot(rows - size / 2, cols - size / 2)
    heat = np.clip(1.0 - radius / (size / 4), 0, 1).astype(np.float32)
    return np.full((size, size), GREY_HU, np.float32), heat, radius < size / 16


@pytest.mark.req("SRS-039")
@pytest.mark.parametrize("size", [256, 512])
def test_the_image_has_a_colour_bar_low_to_high(size: int) -> None:
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", 16).text(empty=False)
    hu, heat, mask = _disc_case(size)
    rgb = overlay(hu, heat, mask, DEFAULT_PREPROCESSING, legend)
    bar = colour_bar(rgb)
    assert bar is not None
    top, bottom, left, right = bar
    box_top = slice_box(hu.shape, legend)[0]
    assert top >= box_top + size and right - left >= size // 2  # in the banner under the slice, most of the width
    band = rgb[max(top - 4, 0):bottom + 4].astype(int)
    light = (band.min(axis=-1) >= 160) & (np.ptp(band, axis=-1) < 40)  # white text, anti-aliased
    assert light[:, :left].sum() >= 10 and light[:, right:].sum() >= 10  # "10%" and "100%" beside it
    assert len({tuple(c) for c in rgb[top, left:right]}) >= 50  # a gradient, not a few swatches
    # negative controls: the heat map in the image is not taken for a bar; no bar; a bar reversed
    assert colour_bar(rgb[: top - 1]) is None
    blank = rgb.copy()
    blank[top:bottom, left:right] = 0
    assert colour_bar(blank) is None
    reversed_bar = rgb.copy()
    reversed_bar[top:bottom, left:right] = rgb[top:bottom, left:right][:, ::-1]
    assert colour_bar(reversed_bar) is None


@pytest.mark.req("SRS-039")
def test_the_bars_colours_are_the_overlays() -> None:
    """Each column of the bar has the colour the overlay gives that heat on a mid-grey slice
    (the same 50% blend), so a colour in the slice reads off the bar; the unblended colour map
    the bar had before does not match (negative control)."""
    size = 256
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", 16).text(empty=False)
    hu = np.full((size, size), GREY_HU, np.float32)
    no_outline = np.zeros((size, size), bool)
    rgb = overlay(hu, np.zeros((size, size), np.float32), no_outline, DEFAULT_PREPROCESSING, legend)
    top, _, left, right = colour_bar(rgb)
    shown = np.linspace(SHOWN_FROM, 1.0, right - left + 1)[1:]  # the heat of each bar column
    ramp = np.zeros((size, size), np.float32)
    ramp[:, :right - left] = shown[None, :]
    on_slice = slice_rgb(hu, ramp, no_outline, DEFAULT_PREPROCESSING)[0, :right - left]
    assert np.array_equal(rgb[top, left:right], on_slice)
    assert colour_bar(rgb, colors=heat_colors) is None  # negative control: the bar is not the unblended map
    unblended = rgb.copy()
    unblended[top, left:right] = heat_colors(shown)
    assert not np.array_equal(unblended[top, left:right], on_slice)
    # the low end: heat at SHOWN_FROM is left grey, just above it takes the bar's first colour
    edge = slice_rgb(np.full((1, 2), GREY_HU, np.float32), np.array([[SHOWN_FROM, shown[0]]], np.float32),
                     np.zeros((1, 2), bool), DEFAULT_PREPROCESSING)[0]
    assert len(set(edge[0])) == 1 and np.array_equal(edge[1], rgb[top, left])


def whole_slice_at(canvas: np.ndarray, slice_image: np.ndarray) -> tuple[int, int] | None:
    """(top, left) where ``canvas`` shows ``slice_image`` pixel for pixel; None if no pixel
    window of it does (some pixel of the slice is covered or changed)."""
    rows, cols = slice_image.shape[:2]
    for top in range(canvas.shape[0] - rows + 1):
        for left in range(canvas.shape[1] - cols + 1):
            if np.array_equal(canvas[top, left:left + cols], slice_image[0]) \
                    and np.array_equal(canvas[top:top + rows, left:left + cols], slice_image):
                return top, left
    return None


def painted_over(canvas: np.ndarray, legend: str, shape: tuple[int, int]) -> np.ndarray:
    """The layout before this change (render.py at 9d61e5e-era): the same banners painted over
    the slice's top and bottom rows, on a canvas of the slice's size."""
    top, _, rows, _ = slice_box(shape, legend)
    old = canvas[top:top + rows].copy()
    old[:top] = canvas[:top]
    below = canvas[top + rows:]
    old[rows - below.shape[0]:] = below
    return old


@pytest.mark.req("SRS-039")
@pytest.mark.parametrize("size", [256, 512])
def test_no_pixel_of_the_slice_is_covered(size: int) -> None:
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", 16).text(empty=False)
    hu, heat, mask = _disc_case(size)
    hu = hu + np.linspace(-200, 200, size, dtype=np.float32)[:, None]  # every row a different grey
    canvas = overlay(hu, heat, mask, DEFAULT_PREPROCESSING, legend)
    alone = slice_rgb(hu, heat, mask, DEFAULT_PREPROCESSING)
    box = slice_box(hu.shape, legend)
    assert whole_slice_at(canvas, alone) == box[:2]
    assert canvas.shape == (box[0] + size + layout(size, legend).bottom_height(), size, 3)
    # negative control: the banners painted over the slice hide rows of it
    old = painted_over(canvas, legend, hu.shape)
    assert old.shape == alone.shape and whole_slice_at(old, alone) is None
    hidden = (old != alone).any(axis=-1).any(axis=1).mean()
    assert hidden > 0.4  # the share of the slice's rows the old layout covered with this legend


@pytest.mark.req("SRS-039")
def test_the_outline_is_closed_on_every_side() -> None:
    size = 256
    hu, _, disc = _disc_case(size)
    rgb = slice_rgb(hu, np.zeros((size, size), np.float32), disc, DEFAULT_PREPROCESSING)
    drawn = (rgb == 255).all(axis=-1)

    def problems(line: np.ndarray) -> list[str]:
        found = []
        rows, cols = np.nonzero(disc)
        # the region's last pixel looking in from each side, along every row and column it spans
        top = [(rows[cols == c].min(), c) for c in np.unique(cols)]
        bottom = [(rows[cols == c].max(), c) for c in np.unique(cols)]
        left = [(r, cols[rows == r].min()) for r in np.unique(rows)]
        right = [(r, cols[rows == r].max()) for r in np.unique(rows)]
        sides = {"top": top, "bottom": bottom, "left": left, "right": right}
        found += [f"no outline at the {side}" for side, pixels in sides.items()
                  if not all(line[r, c] for r, c in pixels)]
        regions, _ = connected_regions(~line)  # 4-connected pixels off the line
        if regions[size // 2, size // 2] == regions[0, 0]:
            found.append("the inside reaches the outside")
        if (line & ~disc).any():
            found.append("outline outside the region")
        return found

    assert problems(drawn) == []
    # negative control: the outline before this change (top and left edges only)
    one_sided = disc & ~np.roll(disc, 1, axis=0) | disc & ~np.roll(disc, 1, axis=1)
    assert problems(one_sided) == ["no outline at the bottom", "no outline at the right",
                                   "the inside reaches the outside"]
    # a region on the image's edge is closed along the edge too
    edge = np.zeros((8, 8), bool)
    edge[:3, :3] = True
    assert (slice_rgb(np.full((8, 8), GREY_HU, np.float32), np.zeros((8, 8), np.float32), edge,
                      DEFAULT_PREPROCESSING)[:3, :3] == 255).all(axis=-1).sum() == 8


@pytest.mark.req("SRS-039")
def test_the_series_description_keeps_not_for_diagnosis_within_64_characters() -> None:
    assert series_description("Grad-CAM", "Lesion") == "Grad-CAM Lesion - DERIVED EXPLANATION - NOT FOR DIAGNOSIS"
    long_name = "Hepatocellular carcinoma, arterial phase"
    text = series_description("Grad-CAM", long_name)
    assert len(text) == 64 and text.endswith(f"- {NOT_FOR_DIAGNOSIS}") and text.startswith("Grad-CAM Hepato")
    old = f"Grad-CAM {long_name} - {NOT_FOR_DIAGNOSIS}"[:64]  # negative control: the cut it replaced
    assert "NOT FOR DIAGNOSIS" not in old


@pytest.mark.req("SRS-039")
def test_a_written_explanation_shows_the_title_bar_and_legend(released_package: Path, tmp_path: Path,
                                                              dciodvfy: str) -> None:
    """End to end on a phantom: `device-ai explain`'s PNG carries the title, the colour bar and
    the reading line in its pixels, the Secondary Capture says them in its Image Comments and
    stays valid; the grid is the released manifest's (input size / the backbone's patch size)."""
    from device_ai import cli
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    manifest = json.loads((released_package / "manifest.json").read_text())
    grid = manifest["architecture"]["input_size"] // get_config(manifest["architecture"]["backbone"]).patch_size
    case = generate_case(split_seeds("test", 1, base_seed=6)[0], n_slices=4, rows=256)
    write_ct_series(case, tmp_path / "in")
    out = tmp_path / "explained"
    assert cli.main(["explain", str(tmp_path / "in"), "--label", "Lesion", "--out", str(out), "--slices", "1"]) == 0
    report = json.loads((out / "explanation.json").read_text())
    expected = legend_for("Lesion", f"{manifest['name']} {manifest['version']}", grid)
    assert report["title"] == expected.title and title_problems(report["title"], "Lesion", 16) == []
    assert report["reading"] == expected.reading and "not a probability" in report["statement"]
    stem = Path(report["slices"][0]["files"][0]).stem
    png = np.asarray(Image.open(out / f"{stem}.png").convert("RGB"))
    text = expected.text(empty=report["slices"][0]["empty_map"])
    rows, plain = banner_rows(text, 256)
    assert png.shape == plain.shape and png.shape[0] > 256  # the legend around the 256 x 256 slice
    assert np.array_equal(png[rows], plain[rows])  # the title, statement, bar and reading line, pixel for pixel
    old_rows, old_plain = banner_rows(OLD_LEGEND, 256)
    assert old_plain.shape != png.shape or not np.array_equal(png[old_rows], old_plain[old_rows])  # the old legend
    assert colour_bar(png) is not None
    # the slice is all there: every uncoloured, unoutlined pixel is the source slice's windowed grey
    source = next(ds for ds in map(pydicom.dcmread, sorted((tmp_path / "in").glob("*.dcm")))
                  if ds.InstanceNumber == report["slices"][0]["instance_number"])
    hu = source.pixel_array * float(source.RescaleSlope) + float(source.RescaleIntercept)
    grey = (window(hu, DEFAULT_PREPROCESSING) * 255.0).astype(np.uint8)

    def shows_slice(image: np.ndarray) -> bool:
        top, left, height, width = slice_box(hu.shape, text)
        box = image[top:top + height, left:left + width].astype(int)
        plain_grey = (box[..., 0] == box[..., 1]) & (box[..., 1] == box[..., 2]) & (box[..., 0] < 255)
        return bool(plain_grey.mean() > 0.5 and (box[..., 0][plain_grey] == grey[plain_grey]).all())

    assert shows_slice(png)
    old = np.zeros_like(png)  # negative control: the banners painted over the slice, as before
    old[slice_box(hu.shape, text)[0]:][:256] = painted_over(png, text, hu.shape)
    assert not shows_slice(old)
    sc = pydicom.dcmread(out / f"{stem}.dcm")
    assert (sc.Rows, sc.Columns) == png.shape[:2]
    assert expected.title in sc.ImageComments and expected.reading in sc.ImageComments
    assert uncapitalised(sc.ImageComments) == []
    assert uncapitalised(sc.ImageComments.replace("Colour bar", "colour bar")) == ["colour bar:"]  # negative control
    assert len(sc.SeriesDescription) <= 64 and "NOT FOR DIAGNOSIS" in sc.SeriesDescription
    assert "relative map" in sc.DerivationDescription
    assert np.array_equal(sc.pixel_array, png)
    assert dciodvfy_errors(dciodvfy, out / f"{stem}.dcm") == []
