"""Outputs people can read (issue 18): previews with the statement legible in full at 256 px,
a colour legend from the manifest, the slice position and 1-based names; explanation images
with a colour bar and a reading line, named by the same rule; one access rule for every
output (``atomic_io.Access``): analysis and explanation folder and files owner-only by default or
group-readable when the site asks (THR-018, whatever the umask), private while staged; de-identified outputs and quarantine private as before."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset

from device_ai.atomic_io import Access, atomic_write_bytes, atomic_write_text, staged_directory
from device_ai.explain.render import SHOWN_FROM, bar_colors, overlay
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
    slice_file_stem,
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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


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
    assert rgb.shape[1] == 256 and rgb.shape[0] > 256  # the slice's width; the legend above and below it
    bottom = rgb[160:]
    scale = bar_colors(np.linspace(SHOWN_FROM, 1.0, 4096)[1:])  # the overlay's colours (heat above SHOWN_FROM)
    low_end = {tuple(c) for c in bar_colors(np.linspace(SHOWN_FROM, SHOWN_FROM + 0.02, 64)[1:])}
    assert low_end & {tuple(c) for c in bottom.reshape(-1, 3)} and (bottom == scale[-1]).all(axis=-1).any()
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
@pytest.mark.parametrize(("access", "file_mode", "folder_mode"),
                         [(None, 0o600, 0o700), (Access.GROUP, 0o640, 0o750)], ids=["default", "group"])
def test_analysis_outputs_share_one_mode_and_previews_say_which_slice(
        engine: LockedEngine, series_dir: Path, tmp_path: Path, umask: int, access: Access | None, file_mode: int,
        folder_mode: int) -> None:
    previous = os.umask(umask)
    try:
        result = analyze(series_dir, tmp_path / "out", engine, **({} if access is None else {"access": access}))
    finally:
        os.umask(previous)
    files = sorted(p for p in result.out_dir.iterdir() if p.is_file())
    modes = {p.name: p.stat().st_mode & 0o777 for p in files}
    assert set(modes.values()) == {file_mode}, modes  # one mode, the umask's 0644 no longer (THR-018)
    assert _mode(result.out_dir) == folder_mode
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted(p.name for p in files)  # nothing else
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


@pytest.mark.req("SRS-015")
def test_per_slice_outputs_share_one_naming_rule() -> None:
    assert slice_file_stem("explain", 1) == "explain_slice0001"
    assert preview_name(12) == f"{slice_file_stem('preview', 12)}.png" == "preview_slice0012.png"
    with pytest.raises(ValueError):
        slice_file_stem("explain", 0)


@pytest.mark.req("SRS-016")
@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_a_public_staging_folder_is_private_until_just_before_its_rename(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        with staged_directory(tmp_path / "public", access=Access.PUBLIC) as stage:
            while_staged = _mode(stage)
            public = atomic_write_bytes(stage / "a.bin", b"a", access=Access.PUBLIC)
            assert _mode(public) == 0o666 & ~umask
            private = atomic_write_text(stage / "b.txt", "b")
        with staged_directory(tmp_path / "private") as kept_private:
            atomic_write_bytes(kept_private / "c.bin", b"c")
    finally:
        os.umask(previous)
    assert while_staged == 0o700  # half-written outputs are never readable by others
    assert _mode(tmp_path / "public") == 0o777 & ~umask
    assert _mode(tmp_path / "public" / "a.bin") == 0o666 & ~umask
    assert _mode(tmp_path / "public" / private.name) == 0o600  # the default stays private
    assert _mode(tmp_path / "private") == 0o700 and _mode(tmp_path / "private" / "c.bin") == 0o600
    assert (tmp_path / "public" / "a.bin").read_bytes() == b"a"


@pytest.mark.req("SRS-016")
def test_a_staging_folder_whose_mode_cannot_be_set_is_not_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai import atomic_io
    from device_ai.errors import OutputError

    def refused(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted (injected)")

    monkeypatch.setattr(atomic_io.os, "chmod", refused)
    with pytest.raises(OutputError, match="could not set the mode"):
        with staged_directory(tmp_path / "out", access=Access.PUBLIC) as stage:
            atomic_write_bytes(stage / "a.bin", b"a", access=Access.PUBLIC)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging copy


@pytest.mark.req("SRS-039")
def test_explanation_files_are_named_by_slice_number_recorded_and_group_or_owner_only(
        engine: LockedEngine, series_dir: Path, tmp_path: Path) -> None:
    from device_ai.dicom.contract import InputContract
    from device_ai.dicom.reader import ReadLimits, collect_input_files
    from device_ai.dicom.series import load_series
    from device_ai.explain.outputs import SUMMARY_NAME, write_explanations
    from device_ai.explain.pipeline import SliceExplanation

    limits = ReadLimits()
    series = load_series(collect_input_files(series_dir, limits),
                         InputContract.model_validate(engine.manifest.input_contract), limits)
    shape = series.hu.shape[1:]
    items = [SliceExplanation(slice_index=index, agreement=1.0, heat=np.zeros(shape, np.float32),
                              rgb=np.full((*shape, 3), 10 * index, np.uint8), configuration="test")
             for index in (0, 2)]
    folder = tmp_path / "explained"
    folder.mkdir()
    private = tmp_path / "explained-private"
    private.mkdir()
    previous = os.umask(0o022)
    try:
        written = write_explanations(folder, engine, series, items, "Lesion", Access.GROUP)
        assert write_explanations(private, engine, series, items, "Lesion") == written
    finally:
        os.umask(previous)
    assert written == ["explain_slice0001.png", "explain_slice0001.dcm", "explain_slice0003.png",
                       "explain_slice0003.dcm", SUMMARY_NAME]
    assert {p.name: _mode(p) for p in folder.iterdir()} == {name: 0o640 for name in written}  # not the umask's 0644
    assert {p.name: _mode(p) for p in private.iterdir()} == {name: 0o600 for name in written}  # the default
    report = json.loads((folder / SUMMARY_NAME).read_text())
    assert "not the Instance Number" in report["numbering"]
    for item, entry in zip(items, report["slices"]):
        position = slice_position(series.datasets, item.slice_index)
        stem = slice_file_stem("explain", position.number)
        assert entry["files"] == [f"{stem}.png", f"{stem}.dcm"]
        assert {key: entry[key] for key in position.as_dict()} == position.as_dict()
        assert entry["instance_number"] is not None and entry["slices"] == 3
    assert [entry["slice_number"] for entry in report["slices"]] == [1, 3]
    assert np.array_equal(np.asarray(Image.open(folder / "explain_slice0003.png")), items[1].rgb)


@pytest.mark.req("SRS-057", "SRS-061")
def test_de_identified_outputs_and_quarantine_stay_private(tmp_path: Path) -> None:
    """The public access of analysis outputs does not reach de-identification: its folder and
    files stay owner-only, and so do the quarantined copies and their index."""
    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
    from tests.dicom.deid_corpus import write_study

    write_study(tmp_path / "in")
    (tmp_path / "in" / "not_dicom.dcm").write_bytes(b"FAKE NOT DICOM" * 20)
    previous = os.umask(0o022)
    try:
        result = Deidentifier(RunConfig(options=parse_options([]), secret=b"test-secret-not-for-use".ljust(32, b"!"))
                              ).run([tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    finally:
        os.umask(previous)
    assert len(result.written) == 4 and len(result.quarantined) == 1
    assert _mode(tmp_path / "out") == 0o700
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) == 5 and {_mode(p) for p in files} == {0o600}
    quarantined = list((tmp_path / "q").iterdir())
    assert len(quarantined) == 2 and {_mode(p) for p in quarantined} == {0o600}
