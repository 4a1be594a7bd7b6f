"""What an explanation image tells its reader (issue 21, item 8): a title that says the map is
relative and coarse, a colour bar whose meaning is written under it, and the outline explained.
Each check is shown to fail on the image or words it replaced (negative controls)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from conftest import dciodvfy_errors
from device_ai.dicom.sc import NOT_FOR_DIAGNOSIS, series_description
from device_ai.explain.gradcam import patch_grid
from device_ai.explain.pipeline import legend_for
from device_ai.explain.render import SHOWN_FROM, heat_colors, overlay
from device_ai.inference.preprocess import DEFAULT_PREPROCESSING
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
        "the colour bar": "colour bar",
        "relative": "relative",
        "not a probability": "not a probability",
        "the outline": f"White outline: the predicted {label} region",
        "not evidence of correctness": "Not evidence that the result is correct",
    }
    return [what for what, words in wanted.items() if words not in reading]


def colour_bar(rgb: np.ndarray, min_rows: int = 6) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom and right exclusive, of a horizontal colour bar running from the lowest shown
    colour to yellow, low on the left, at least half the image wide and ``min_rows`` tall;
    None if there is none. Read from the pixels alone: a run of columns whose colours follow
    the colour map (red and green never fall, blue never rises, green or blue is zero), the
    same colour down each column."""
    height, width = rgb.shape[:2]
    low, high = (tuple(int(v) for v in c) for c in heat_colors(np.array([SHOWN_FROM, 1.0])))
    pixels = rgb.astype(int)
    for top in range(height - min_rows + 1):
        row = pixels[top]
        on_map = ((row[:, 1] == 0) | (row[:, 2] == 0)) & (row.sum(axis=1) > 0) & ~(row == 255).all(axis=1)
        start = None
        for col in range(width + 1):
            if col < width and on_map[col]:
                start = col if start is None else start
                continue
            if start is not None and col - start >= width // 2:
                run = row[start:col]
                steady = (np.diff(run[:, 0]) >= 0).all() and (np.diff(run[:, 1]) >= 0).all() \
                    and (np.diff(run[:, 2]) <= 0).all()
                ends = tuple(run[0]) == low and tuple(run[-1]) == high
                block = pixels[top:top + min_rows, start:col]
                if steady and ends and (block == run[None]).all():
                    bottom = top + min_rows
                    while bottom < height and (pixels[bottom, start:col] == run).all():
                        bottom += 1
                    return top, bottom, start, col
            start = None
    return None


def banner_rows(legend: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a legend's banners cover, and the overlay of that legend on a plain grey slice
    with no heat and no outline (the banners are opaque: they do not depend on the slice)."""
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
        "the colour bar", "relative", "not a probability", "the outline", "not evidence of correctness"]
    assert reading_problems(legend.reading, "Organ") == ["the outline"]


@pytest.mark.req("SRS-039")
@pytest.mark.parametrize("size", [256, 512])
def test_the_image_has_a_colour_bar_low_to_high(size: int) -> None:
    legend = legend_for("Lesion", "demo-dinov2-seg 1.0.0", 16).text(empty=False)
    rows, cols = np.mgrid[0:size, 0:size]
    heat = np.clip(1.0 - np.hypot(rows - size / 2, cols - size / 2) / (size / 4), 0, 1).astype(np.float32)
    mask = np.hypot(rows - size / 2, cols - size / 2) < size / 16
    rgb = overlay(np.full((size, size), GREY_HU, np.float32), heat, mask, DEFAULT_PREPROCESSING, legend)
    bar = colour_bar(rgb)
    assert bar is not None
    top, bottom, left, right = bar
    assert top > size // 2 and right - left >= size // 2  # in the bottom banner, most of the width
    band = rgb[max(top - 4, 0):bottom + 4].astype(int)
    light = (band.min(axis=-1) >= 160) & (np.ptp(band, axis=-1) < 40)  # white text, anti-aliased
    assert light[:, :left].sum() >= 10 and light[:, right:].sum() >= 10  # "low" and "high" beside it
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
    rows, plain = banner_rows(expected.text(empty=report["slices"][0]["empty_map"]), png.shape[0])
    assert np.array_equal(png[rows], plain[rows])  # the title, statement, bar and reading line, pixel for pixel
    old_rows, old_plain = banner_rows(OLD_LEGEND, png.shape[0])
    assert not np.array_equal(png[old_rows], old_plain[old_rows])  # negative control: the old legend
    assert colour_bar(png) is not None
    sc = pydicom.dcmread(out / f"{stem}.dcm")
    assert expected.title in sc.ImageComments and expected.reading in sc.ImageComments
    assert len(sc.SeriesDescription) <= 64 and "NOT FOR DIAGNOSIS" in sc.SeriesDescription
    assert "relative map" in sc.DerivationDescription
    assert np.array_equal(sc.pixel_array, png)
    assert dciodvfy_errors(dciodvfy, out / f"{stem}.dcm") == []
