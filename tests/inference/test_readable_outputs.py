"""Outputs people can read (issue 18): previews with the statement legible in full at 256 px,
a colour legend from the manifest, the slice position and 1-based names; explanation images
with a colour bar and a reading line; every analysis output file with the same mode."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from device_ai.explain.render import SHOWN_FROM, heat_colors, overlay
from device_ai.inference.analyze import analyze
from device_ai.inference.engine import LockedEngine
from device_ai.inference.preprocess import DEFAULT_PREPROCESSING
from device_ai.inference.previews import (
    MARGIN,
    font_for_width,
    line_width,
    preview_name,
    render_preview,
    select_preview_slices,
    slice_position,
    word_gap,
    wrap,
)
from device_ai.model.package import signing
from device_ai.model.package.manifest import LabelRole
from device_ai.training.labels import DEMO_LABELS
from tests.package_factory import make_package

CAPTION = "NOT FOR CLINICAL USE\ndemo-dinov2-seg 1.0.0"
STATEMENT = "NOT FOR CLINICAL USE"


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _draw() -> ImageDraw.ImageDraw:
    return ImageDraw.Draw(Image.new("RGB", (1, 1)))


@pytest.mark.req("SRS-015", "SRS-078")
@pytest.mark.parametrize("width", [256, 384, 512])
def test_the_statement_fits_the_image_width_with_visible_word_gaps(width: int) -> None:
    draw, font = _draw(), font_for_width(width)
    lines = wrap(draw, CAPTION, font, width)
    assert [" ".join(line) for line in lines] == [STATEMENT, "demo-dinov2-seg 1.0.0"]  # whole, one line each
    for line in lines:
        assert draw.textlength(" ".join(line), font=font) < width - 2 * MARGIN
        assert line_width(draw, line, font) <= width - 2 * MARGIN
    assert word_gap(font) >= 3.5  # the default font's 10 px space ran "FOR CLINICAL" together


@pytest.mark.req("SRS-015", "SRS-078")
def test_a_caption_too_long_for_one_line_wraps_and_keeps_every_word() -> None:
    draw, font = _draw(), font_for_width(256)
    text = "a-very-long-model-name-that-will-not-fit 12.3.4 - NOT FOR CLINICAL USE - demonstration only"
    lines = wrap(draw, text, font, 256)
    assert len(lines) > 1
    assert "".join(word for line in lines for word in line) == text.replace(" ", "")
    assert all(line_width(draw, line, font) <= 256 - 2 * MARGIN for line in lines)


@pytest.mark.req("SRS-015")
def test_the_legend_shows_every_manifest_label_in_its_colour() -> None:
    third = DEMO_LABELS[0].model_copy(update={"value": 3, "name": "Vessel", "color_rgb": (10, 250, 10)})
    hu = np.full((256, 256), 40.0, np.float32)
    labels = np.zeros((256, 256), np.uint8)  # nothing segmented: no outline adds a colour
    image = _png(render_preview(hu, labels, (*DEMO_LABELS, third), DEFAULT_PREPROCESSING, CAPTION, "slice 1 of 3"))
    assert image.shape[1] == 256 and image.shape[0] > 256
    # the slice is uniform grey: its rows are those all of that grey
    slice_rows = np.flatnonzero((image == image[image.shape[0] // 2, 128]).all(axis=(1, 2)))
    footer = image[slice_rows.max() + 1:]
    header = image[:slice_rows.min()]
    assert header.shape[0] > 0 and footer.shape[0] > 0 and slice_rows.size == 256
    for label in (*DEMO_LABELS, third):
        assert (footer == label.color_rgb).all(axis=2).sum() >= 16, label.name  # a filled swatch
        assert not (header == label.color_rgb).all(axis=2).any()
    without = _png(render_preview(hu, labels, DEMO_LABELS, DEFAULT_PREPROCESSING, CAPTION, "slice 1 of 3"))
    assert not (without == third.color_rgb).all(axis=2).any()  # the legend is the manifest's, not fixed
    assert (header == (255, 255, 0)).all(axis=2).any()  # the statement is drawn


@pytest.mark.req("SRS-015")
def test_preview_names_and_positions_are_one_based() -> None:
    assert preview_name(1) == "preview_slice0001.png"
    with pytest.raises(ValueError):
        preview_name(0)
    datasets = []
    for number in range(1, 4):
        ds = Dataset()
        ds.InstanceNumber = number + 10
        ds.ImagePositionPatient = [0.0, 0.0, -5.0 + 2.5 * number]
        datasets.append(ds)
    first = slice_position(datasets, 0)
    assert (first.number, first.count, first.instance_number, first.z_mm) == (1, 3, 11, -2.5)
    assert first.text() == "slice 1 of 3, Instance 11, z = -2.5 mm"
    bare = slice_position([Dataset()], 0)
    assert bare.text() == "slice 1 of 1"


@pytest.mark.req("SRS-015")
def test_preview_slices_follow_the_manifest_roles_not_the_values() -> None:
    swapped = tuple(label.model_copy(update={"value": 3 - label.value}) for label in DEMO_LABELS)
    lesion = next(label for label in swapped if label.role is LabelRole.LESION).value
    organ = next(label for label in swapped if label.role is LabelRole.ORGAN).value
    labels = np.zeros((9, 8, 8), np.uint8)
    labels[1, :4] = organ
    labels[1, 0, 0] = lesion  # one lesion pixel: slice 1 has the most lesion
    labels[6] = organ  # slice 6 has the most organ
    assert select_preview_slices(labels, swapped) == [1, 4, 6]


@pytest.mark.req("SRS-039")
def test_explanation_has_a_colour_bar_and_a_reading_line_that_fit() -> None:
    hu = np.full((256, 256), 40.0, np.float32)
    heat = np.zeros((256, 256), np.float32)
    mask = np.zeros((256, 256), bool)
    legend = ("Grad-CAM: why 'Lesion' (demo-dinov2-seg 1.0.0)\nDERIVED EXPLANATION - NOT FOR DIAGNOSIS\n\n"
              "red-yellow = regions that raised the model's score for Lesion; white outline = the Lesion "
              "result; not a segmentation; not for diagnosis")
    rgb = overlay(hu, heat, mask, DEFAULT_PREPROCESSING, legend)
    assert rgb.shape == (256, 256, 3)  # same geometry as the source slice (the SC is derived from it)
    bottom = rgb[160:]
    scale = heat_colors(np.linspace(SHOWN_FROM, 1.0, 200))
    assert (bottom == scale[0]).all(axis=-1).any() and (bottom == scale[-1]).all(axis=-1).any()
    present = {tuple(c) for c in bottom.reshape(-1, 3)} & {tuple(c) for c in scale}
    assert len(present) >= 50  # a gradient, low to high
    assert (bottom == 255).all(axis=-1).any()  # "low"/"high" and the reading line, in white
    draw, font = _draw(), font_for_width(256)
    reading = legend.split("\n\n")[1]
    assert all(line_width(draw, line, font) <= 256 - 2 * MARGIN for line in wrap(draw, legend.replace("\n\n", "\n"), font, 256))
    assert len(wrap(draw, reading, font, 256)) <= 4


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> LockedEngine:
    key = Ed25519PrivateKey.generate()
    path = make_package(tmp_path_factory.mktemp("pkg") / "tiny", key)
    return LockedEngine.load(path, trusted_keys={signing.key_id(key.public_key()): key.public_key()})


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = tmp_path_factory.mktemp("series") / "PHANTOM"
    write_ct_series(generate_case(split_seeds("test", 1)[0], split="test", n_slices=3), folder)
    return folder


@pytest.mark.req("SRS-015", "SRS-016")
@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_analysis_outputs_share_one_mode_and_previews_say_which_slice(
        engine: LockedEngine, series_dir: Path, tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        result = analyze(series_dir, tmp_path / "out", engine)
    finally:
        os.umask(previous)
    files = sorted(p for p in result.out_dir.iterdir() if p.is_file())
    modes = {p.name: p.stat().st_mode & 0o777 for p in files}
    assert set(modes.values()) == {0o666 & ~umask}, modes  # SEG was 0600 (mkstemp), PNG/JSON 0644
    summary = json.loads((result.out_dir / "summary.json").read_text())
    previews = summary["previews"]["files"]
    assert previews and "not the Instance Number" in summary["previews"]["numbering"]
    for entry in previews:
        assert entry["file"] == preview_name(entry["slice_number"]) and entry["slices"] == 3
        assert (result.out_dir / entry["file"]).is_file()
        assert entry["instance_number"] is not None and entry["z_mm"] is not None
    assert {p.name for p in files if p.suffix == ".png"} == {entry["file"] for entry in previews}
    assert "preview_slice0000.png" not in modes
    assert set(summary["volumes_ml"]) == {label.name for label in engine.manifest.labels}
