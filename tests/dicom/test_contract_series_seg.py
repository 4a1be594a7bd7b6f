"""Input contract, series assembly and the SEG writer (SRS-011, SRS-014)."""

from __future__ import annotations

import random
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from conftest import dciodvfy_errors

from device_ai.dicom.contract import DEMO_CONTRACT, check_header
from device_ai.dicom.reader import collect_input_files
from device_ai.dicom.seg import AlgorithmIdentity, CodedTerm, SegmentSpec, build_seg, write_seg
from device_ai.dicom.series import load_series
from device_ai.errors import ContractViolation
from device_ai.training.ct_series import write_ct_series
from device_ai.training.labels import DEMO_LABELS
from tests.dicom.synthetic import small_case, valid_slice, write

MUTATIONS = [
    ("Modality", "MR", "Modality"),
    ("ImageOrientationPatient", [0, 1, 0, 0, 0, -1], "ImageOrientationPatient"),
    ("ImageOrientationPatient", [-1, 0, 0, 0, 1, 0], "ImageOrientationPatient"),
    ("PixelSpacing", ["2.0", "2.0"], "PixelSpacing"),
    ("PixelSpacing", ["0.7", "0.9"], "square pixels"),
    ("Rows", 128, "Rows"),
    ("Rows", 1024, "Rows"),
    ("Columns", 300, "square images"),
    ("RescaleSlope", None, "RescaleSlope"),
    ("RescaleIntercept", None, "RescaleIntercept"),
    ("RescaleType", "OD", "RescaleType"),
    ("PhotometricInterpretation", "RGB", "PhotometricInterpretation"),
    ("PhotometricInterpretation", "MONOCHROME1", "PhotometricInterpretation"),
    ("BitsAllocated", 8, "BitsAllocated"),
    ("SliceThickness", "7.0", "SliceThickness"),
    ("SliceThickness", None, "SliceThickness"),
    ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.2.1", "SOP Class"),
    ("ImagePositionPatient", None, "ImagePositionPatient"),
    ("PixelData", None, "pixel data"),
]


@pytest.mark.req("SRS-011")
def test_valid_slice_passes_the_contract() -> None:
    check_header(valid_slice(), DEMO_CONTRACT)


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("keyword", "value", "named"), MUTATIONS, ids=lambda v: str(v)[:20])
def test_each_attribute_outside_the_contract_is_refused_with_its_name(keyword: str, value: object, named: str) -> None:
    ds = valid_slice()
    if value is None:
        del ds[keyword]
    else:
        setattr(ds, keyword, value)
    with pytest.raises(ContractViolation) as info:
        check_header(ds, DEMO_CONTRACT)
    assert named in str(info.value)
    assert "intended use" in (info.value.hint or "")


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    case = small_case(slices=4)
    folder = tmp_path / "series"
    write_ct_series(case, folder)
    return folder


@pytest.mark.req("SRS-011")
def test_series_is_sorted_by_position_not_by_name(series_dir: Path, tmp_path: Path) -> None:
    files = collect_input_files(series_dir)
    shuffled = files[:]
    random.Random(3).shuffle(shuffled)
    # rename so file-name order disagrees with position order
    renamed = []
    for number, path in enumerate(shuffled):
        target = path.with_name(f"x{number}.dcm")
        path.rename(target)
        renamed.append(target)
    series = load_series(collect_input_files(series_dir), DEMO_CONTRACT)
    positions = [float(ds.ImagePositionPatient[2]) for ds in series.datasets]
    assert positions == sorted(positions)
    case = small_case(slices=4)
    assert np.array_equal(series.hu, case.hu.astype(np.float32))
    assert series.slice_spacing_mm == pytest.approx(case.slice_thickness_mm, abs=1e-3)


@pytest.mark.req("SRS-011")
def test_mixed_series_duplicates_and_gaps_are_refused(series_dir: Path, tmp_path: Path) -> None:
    files = collect_input_files(series_dir)
    other = valid_slice(index=0)
    other.SeriesInstanceUID = "2.25.1234"
    write(other, series_dir / "other.dcm")
    with pytest.raises(ContractViolation, match="2 series"):
        load_series(collect_input_files(series_dir), DEMO_CONTRACT)
    (series_dir / "other.dcm").unlink()
    duplicate = pydicom.dcmread(files[1])
    duplicate.SOPInstanceUID = "2.25.99"
    write(duplicate, series_dir / "dup.dcm")
    with pytest.raises(ContractViolation, match="same position"):
        load_series(collect_input_files(series_dir), DEMO_CONTRACT)
    (series_dir / "dup.dcm").unlink()
    files[1].unlink()
    with pytest.raises(ContractViolation, match="not evenly spaced"):
        load_series(collect_input_files(series_dir), DEMO_CONTRACT)


def _segments() -> list[SegmentSpec]:
    return [
        SegmentSpec(label.value, label.name,
                    CodedTerm(label.category.scheme, label.category.value, label.category.meaning),
                    CodedTerm(label.property_type.scheme, label.property_type.value, label.property_type.meaning),
                    label.color_rgb)
        for label in DEMO_LABELS
    ]


ALGORITHM = AlgorithmIdentity("demo-dinov2-seg", "1.0.0", "Artificial Intelligence", "ab" * 32, "device_ai", "0.1.0")



@pytest.mark.req("SRS-014")
def test_seg_references_sources_reproduces_labels_and_validates(series_dir: Path, tmp_path: Path, dciodvfy: str) -> None:
    series = load_series(collect_input_files(series_dir), DEMO_CONTRACT)
    case = small_case(slices=4)
    labels = case.labels.copy()
    labels[1, 10:20, 10:20] = 2  # make sure both labels occur
    path = write_seg(build_seg(series, labels, _segments(), ALGORITHM), tmp_path / "seg.dcm")
    assert path.read_bytes()[:128] == b"\0" * 128
    seg = hd.seg.segread(path)
    assert [seg.get_segment_description(n).segment_label for n in (1, 2)] == ["Organ", "Lesion"]
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {ds.SOPInstanceUID for ds in series.datasets}
    for index, ds in enumerate(series.datasets):
        for number in (1, 2):
            frames = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[ds.SOPInstanceUID], segment_numbers=[number],
                combine_segments=False, ignore_spatial_locations=True, assert_missing_frames_are_empty=True,
            )
            assert np.array_equal(frames[0, :, :, 0] > 0, labels[index] == number), (index, number)
    description = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert "ab" * 32 in description.AlgorithmParameters
    assert dciodvfy_errors(dciodvfy, path) == []


@pytest.mark.req("SRS-014")
def test_seg_with_no_findings_is_still_valid(series_dir: Path, tmp_path: Path, dciodvfy: str) -> None:
    series = load_series(collect_input_files(series_dir), DEMO_CONTRACT)
    path = write_seg(build_seg(series, np.zeros(series.hu.shape, np.uint8), _segments(), ALGORITHM), tmp_path / "e.dcm")
    assert hd.seg.segread(path).number_of_segments == 2
    assert dciodvfy_errors(dciodvfy, path) == []
