"""A refusal names the offending files and lists every problem and every series found
(SRS-011 input contract, SRS-075 one series, SRS-010 reading): ``InputRefused.problems``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device_ai.dicom import series as series_module
from device_ai.dicom.contract import DEMO_CONTRACT, check_header
from device_ai.dicom.reader import MAX_PROBLEM_LINES, collect_input_files
from device_ai.dicom.series import load_series
from device_ai.errors import ContractViolation, DicomReadError, InputRefused
from tests.dicom.synthetic import ct_slice, phantom_hu, valid_slice, write, write_series

MR = "Modality is MR; this model accepts CT only"


@pytest.fixture(scope="module")
def hu() -> np.ndarray:
    return phantom_hu(slices=6)


def _refusal(folder: Path, expected: type[InputRefused] = ContractViolation) -> InputRefused:
    with pytest.raises(InputRefused) as info:
        load_series(collect_input_files(folder), DEMO_CONTRACT)
    error = info.value
    assert type(error) is expected, error.one_line()
    assert "\n" not in error.message and error.hint
    assert error.problems and all("\n" not in line for line in error.problems)
    assert len(error.problems) <= MAX_PROBLEM_LINES + 1
    return error


@pytest.mark.req("SRS-011")
def test_one_mr_file_among_ct_slices_is_named(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu)
    ds = ct_slice(3, hu)
    ds.Modality = "MR"
    write(ds, folder / "slice003.dcm")
    error = _refusal(folder)
    assert error.code == "DAI-210"
    assert error.problems == (f"slice003.dcm: {MR}",)
    # one problem: the message states it in full, with the count of files
    assert error.message == f"1 of 6 files is outside this model's intended use: slice003.dcm: {MR}"
    assert "outside this model's intended use" in (error.hint or "")


@pytest.mark.req("SRS-011")
def test_a_single_file_input_is_named_too(tmp_path: Path) -> None:
    ds = valid_slice()
    ds.Modality = "MR"
    path = write(ds, tmp_path / "one.dcm")
    with pytest.raises(ContractViolation) as info:
        load_series([path], DEMO_CONTRACT)
    assert info.value.message == f"one.dcm: {MR}" and info.value.problems == (f"one.dcm: {MR}",)


@pytest.mark.req("SRS-011")
def test_two_problems_in_two_files_are_both_listed(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu)
    thick = ct_slice(1, hu)
    thick.SliceThickness = 7.0
    write(thick, folder / "slice001.dcm")
    coarse = ct_slice(4, hu)
    coarse.PixelSpacing = [2.0, 2.0]
    write(coarse, folder / "slice004.dcm")
    error = _refusal(folder)
    assert error.problems == (
        "slice001.dcm: SliceThickness is 7 mm; this model accepts 1 to 5 mm",
        "slice004.dcm: PixelSpacing (row) is 2 mm; this model accepts 0.5 to 1 mm",
    )
    assert error.message.startswith("2 of 6 files are outside this model's intended use: slice001.dcm: SliceThickness")
    assert error.message.endswith("(and 1 more problem)")


@pytest.mark.req("SRS-010", "SRS-011")
def test_unreadable_and_outside_files_together_are_all_listed(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:4])
    (folder / "notes.dcm").write_bytes(b"not a DICOM file")
    truncated = (folder / "slice002.dcm").read_bytes()
    (folder / "slice002.dcm").write_bytes(truncated[: len(truncated) // 2])
    ds = ct_slice(3, hu)
    ds.Modality = "MR"
    write(ds, folder / "slice003.dcm")
    error = _refusal(folder, InputRefused)  # two kinds: the common parent, DAI-200
    assert error.code == "DAI-200"
    assert [line.split(": ", 1)[0] for line in error.problems] == ["notes.dcm", "slice002.dcm", "slice003.dcm"]
    assert "no DICOM file header" in error.problems[0] and "only" in error.problems[1]  # cut in its pixel data
    assert error.problems[2] == f"slice003.dcm: {MR}"
    assert error.message.startswith("3 of 5 files are refused: notes.dcm: ")
    assert "fix or remove each file listed" in (error.hint or "")


@pytest.mark.req("SRS-010")
def test_only_unreadable_files_give_a_read_error_naming_each(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:3])
    (folder / "a.dcm").write_bytes(b"x" * 10)
    (folder / "b.dcm").write_bytes(b"y" * 10)
    error = _refusal(folder, DicomReadError)
    assert error.problems == ("a.dcm, b.dcm (2 files): no DICOM file header (preamble and 'DICM' prefix missing)",)
    assert error.message.startswith("2 of 5 files are not readable: a.dcm, b.dcm (2 files): no DICOM file header")


@pytest.mark.req("SRS-011")
def test_files_in_subfolders_are_named_by_their_path_below_the_input(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "study"
    write_series(folder / "sub1", hu[:2])
    (folder / "sub2").mkdir()
    for index, name in ((2, "slice000.dcm"), (3, "slice001.dcm")):
        write(ct_slice(index, hu), folder / "sub2" / name)
    for sub in ("sub1", "sub2"):
        ds = ct_slice(0 if sub == "sub1" else 2, hu)
        ds.Modality = "MR"
        write(ds, folder / sub / "slice000.dcm")
    error = _refusal(folder)
    assert error.problems == (f"sub1/slice000.dcm, sub2/slice000.dcm (2 files): {MR}",)


@pytest.mark.req("SRS-011", "SRS-075")
def test_two_series_are_both_listed_with_their_file_counts(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "study"
    write_series(folder / "a", hu[:4])
    second = folder / "b"
    second.mkdir()
    for index in range(3):
        ds = ct_slice(index, hu, series="series-2", z0_mm=-300.0)
        ds.SeriesNumber = 2
        ds.SeriesDescription = "FAKE SERIES B"
        write(ds, second / f"b{index}.dcm")
    error = _refusal(folder)
    assert error.message == ("the input holds 2 series (by SeriesInstanceUID); this model analyzes one series "
                             "at a time")
    assert error.problems == (
        f"series 1 of 2: Series Number 1, no description, CT, 4 files, e.g. {folder / 'a' / 'slice000.dcm'}",
        f'series 2 of 2: Series Number 2, "FAKE SERIES B", CT, 3 files, e.g. {second / "b0.dcm"}',
    )
    assert "exactly one CT series" in (error.hint or "") and "device-ai analyze" in (error.hint or "")
    # what the hint says works: one series' folder is accepted
    assert load_series(collect_input_files(second), DEMO_CONTRACT).hu.shape[0] == 3


@pytest.mark.req("SRS-011", "SRS-075")
def test_an_mr_series_mixed_in_is_listed_as_a_series_and_its_file_named(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:4])
    ds = ct_slice(0, hu, series="fake-mr")
    ds.Modality, ds.SeriesNumber = "MR", 7
    write(ds, folder / "mr.dcm")
    error = _refusal(folder)
    assert error.message.startswith("the input holds 2 series")
    assert error.message.endswith("; 1 of 5 files is also refused")
    assert error.problems[0].startswith("series 1 of 2: Series Number 7, no description, MR, 1 file, e.g. ")
    assert error.problems[1].startswith("series 2 of 2: Series Number 1, no description, CT, 4 files, e.g. ")
    assert error.problems[2] == f"mr.dcm: {MR}"


@pytest.mark.req("SRS-011")
def test_three_hundred_files_with_one_problem_give_one_grouped_line(tmp_path: Path) -> None:
    slice_hu = phantom_hu(slices=1)[0]
    hu = np.broadcast_to(slice_hu, (300, *slice_hu.shape))  # one image, 300 positions
    folder = tmp_path / "series"
    folder.mkdir()
    for index in range(300):
        write(ct_slice(index, hu, spacing_mm=1.5), folder / f"s{index:03d}.dcm")
    error = _refusal(folder)
    line = ("s000.dcm, s001.dcm, s002.dcm and 297 more (300 files): PixelSpacing (row) is 1.5 mm; "
            "this model accepts 0.5 to 1 mm")
    assert error.problems == (line,)
    assert error.message == f"300 of 300 files are outside this model's intended use: {line}"


@pytest.mark.req("SRS-011")
def test_many_different_problems_are_bounded(tmp_path: Path) -> None:
    hu = phantom_hu(slices=25)
    folder = tmp_path / "series"
    folder.mkdir()
    for index in range(25):
        write(ct_slice(index, hu, thickness_mm=6.0 + index), folder / f"s{index:02d}.dcm")
    error = _refusal(folder)
    assert len(error.problems) == MAX_PROBLEM_LINES + 1 == 21
    assert error.problems[0] == "s00.dcm: SliceThickness is 6 mm; this model accepts 1 to 5 mm"
    assert error.problems[-1] == "and 5 more problems"
    assert error.message.endswith("(and 24 more problems)")


@pytest.mark.req("SRS-011", "SRS-075")
def test_geometry_disagreement_names_the_odd_slice_not_the_first(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:4])
    ds = ct_slice(0, hu)
    ds.PixelSpacing = [0.8, 0.8]
    write(ds, folder / "slice000.dcm")
    error = _refusal(folder)
    assert error.problems == ("slice000.dcm: slices disagree on PixelSpacing: 0.8/0.8 here, 0.75/0.75 in 3 of 4 "
                              "slices; a series must share one geometry",)


@pytest.mark.req("SRS-011", "SRS-075")
def test_series_problems_name_their_files(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu)
    (folder / "slice002.dcm").unlink()
    error = _refusal(folder)
    assert error.problems == ("slice001.dcm, slice003.dcm (2 files): slices are not evenly spaced (steps 2.5 to 5 mm): "
                              "5 mm between these two, 2.5 mm usually; missing or extra slices",)
    write(ct_slice(2, hu), folder / "slice002.dcm")
    write(ct_slice(4, hu), folder / "copy.dcm")
    error = _refusal(folder)
    assert error.problems == (
        "copy.dcm, slice004.dcm (2 files): these files hold the same image (same SOPInstanceUID)",)


@pytest.mark.req("SRS-011")
def test_no_pixel_data_is_decoded_when_a_file_is_refused(tmp_path: Path, hu: np.ndarray,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:3])
    ds = ct_slice(1, hu)
    ds.Modality = "MR"
    write(ds, folder / "slice001.dcm")

    def no_decoding(ds: object) -> None:
        raise AssertionError("pixel data decoded although a file is refused")

    monkeypatch.setattr(series_module, "_decode", no_decoding)
    _refusal(folder)


@pytest.mark.req("SRS-011")
def test_check_header_lists_every_independent_problem_of_one_file() -> None:
    ds = valid_slice()
    ds.SliceThickness = 7.0
    ds.PixelSpacing = [2.0, 2.0]
    with pytest.raises(ContractViolation) as info:
        check_header(ds, DEMO_CONTRACT)
    assert info.value.problems == ("PixelSpacing (row) is 2 mm; this model accepts 0.5 to 1 mm",
                                   "SliceThickness is 7 mm; this model accepts 1 to 5 mm")
    assert info.value.message == "PixelSpacing (row) is 2 mm; this model accepts 0.5 to 1 mm (and 1 more problem)"
    ds = valid_slice()
    ds.Modality, ds.SliceThickness = "MR", 7.0  # another kind of object: its other attributes are not listed
    with pytest.raises(ContractViolation) as info:
        check_header(ds, DEMO_CONTRACT)
    assert info.value.problems == (MR,)


@pytest.mark.req("SRS-010")
def test_every_link_leaving_the_input_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    write(valid_slice(), folder / "b.dcm")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.dcm").write_text("x")
    (folder / "link1.dcm").symlink_to(outside / "x.dcm")
    (folder / "link2").symlink_to(outside)
    with pytest.raises(DicomReadError, match="outside the input folder") as info:
        collect_input_files(folder)
    assert info.value.problems == (f"{folder / 'link2'} is a link to a folder outside the input folder",
                                   f"{folder / 'link1.dcm'} is a link to a file outside the input folder")
    assert info.value.message.endswith("(and 1 more such link)")


@pytest.mark.req("SRS-011", "SRS-075")
def test_a_shifted_slice_is_named_not_the_lowest_one(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "series"
    write_series(folder, hu[:4])
    ds = ct_slice(0, hu)  # the lowest slice: the old check measured the drift from it
    ds.ImagePositionPatient = [-95.625, -95.625 + 2.0, -100.0]
    write(ds, folder / "slice000.dcm")
    error = _refusal(folder)
    assert error.problems == ("slice000.dcm: slice positions are not stacked along the slice normal (gantry tilt or "
                              "shifted slices); this model accepts untilted axial series only",)
