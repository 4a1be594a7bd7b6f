"""Input contract (SRS-011), series assembly (SRS-011) and the SEG writer (SRS-014)."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.sr.codedict import codes

from conftest import dciodvfy_errors
from device_ai.atomic_io import Access
from device_ai.config import default_model_path
from device_ai.dicom.contract import DEMO_CONTRACT, InputContract, check_header
from device_ai.dicom.reader import collect_input_files
from device_ai.dicom.seg import (
    CONTENT_DESCRIPTION,
    AlgorithmIdentity,
    CodedTerm,
    SegmentSpec,
    build_seg,
    write_seg,
)
from device_ai.dicom.series import CTSeries, load_series
from device_ai.errors import ContractViolation, DicomReadError, OutputError
from device_ai.training.labels import DEMO_LABELS
from tests.dicom.synthetic import ct_slice, phantom_hu, valid_slice, write, write_series

REPO = Path(__file__).resolve().parents[2]
# The demo model's segments, built the way the analysis builds them from a manifest's labels.
DEMO_SEGMENTS = tuple(SegmentSpec.from_label(label) for label in DEMO_LABELS)

# (attribute, new value or None to delete, text the refusal must contain)
MUTATIONS = [
    ("Modality", "MR", "Modality is MR; this model accepts CT only"),
    ("Modality", None, "Modality is missing"),
    ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.2.1", "SOPClassUID is 1.2.840.10008.5.1.4.1.1.2.1"),
    ("SOPClassUID", None, "SOPClassUID is missing"),
    ("NumberOfFrames", 2, "NumberOfFrames is 2"),
    ("ImageOrientationPatient", [0, 1, 0, 0, 0, -1], "not axial"),  # sagittal
    ("ImageOrientationPatient", [1, 0, 0, 0, 0, -1], "not axial"),  # coronal
    ("ImageOrientationPatient", [-1, 0, 0, 0, 1, 0], "rotated or flipped"),
    ("ImageOrientationPatient", [1, 0, 0, 0, 2, 0], "orthogonal unit vectors"),
    ("ImageOrientationPatient", [1, 0, 0], "ImageOrientationPatient has 3 value(s); 6 expected"),
    ("PixelSpacing", [2.0, 2.0], "PixelSpacing (row) is 2 mm; this model accepts 0.5 to 1 mm"),
    ("PixelSpacing", [0.3, 0.3], "PixelSpacing (row) is 0.3 mm"),
    ("PixelSpacing", [0.7, 0.9], "pixels are not square"),
    ("PixelSpacing", None, "PixelSpacing is missing"),
    ("Rows", 128, "Rows is 128 px; this model accepts 256 to 512 px"),
    ("Rows", 1024, "Rows is 1024 px"),
    ("Columns", 300, "Rows x Columns is 256 x 300 px"),
    ("RescaleSlope", None, "RescaleSlope is missing"),
    ("RescaleSlope", 0, "RescaleSlope is 0"),
    ("RescaleIntercept", None, "RescaleIntercept is missing"),
    ("RescaleType", "OD", "RescaleType is OD"),
    ("PhotometricInterpretation", "RGB", "PhotometricInterpretation is RGB; this model accepts MONOCHROME2"),
    ("PhotometricInterpretation", "MONOCHROME1", "PhotometricInterpretation is MONOCHROME1"),
    ("SamplesPerPixel", 3, "SamplesPerPixel is 3"),
    ("BitsAllocated", 8, "BitsAllocated is 8; this model accepts 16"),
    ("BitsStored", 20, "BitsStored is 20"),
    ("PixelRepresentation", None, "PixelRepresentation is missing"),
    ("SliceThickness", 7.0, "SliceThickness is 7 mm; this model accepts 1 to 5 mm"),
    ("SliceThickness", None, "SliceThickness is missing"),
    ("ImagePositionPatient", None, "ImagePositionPatient is missing"),
    ("PixelData", None, "PixelData is missing"),
]


@pytest.mark.req("SRS-011")
def test_valid_slice_passes_the_contract() -> None:
    check_header(valid_slice(), DEMO_CONTRACT)
    ds = valid_slice()
    del ds.RescaleType  # optional; HU is then implied by the CT IOD
    check_header(ds, DEMO_CONTRACT)


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("keyword", "value", "named"), MUTATIONS, ids=lambda v: str(v)[:24])
def test_each_attribute_outside_the_contract_is_refused_with_its_name(keyword: str, value: object, named: str) -> None:
    ds = valid_slice()
    if value is None:
        del ds[keyword]
    else:
        setattr(ds, keyword, value)
    with pytest.raises(ContractViolation) as info:
        check_header(ds, DEMO_CONTRACT)
    assert named in str(info.value)
    assert "\n" not in str(info.value)
    assert "outside this model's intended use and was not analyzed" in (info.value.hint or "")


@pytest.mark.req("SRS-011")
def test_file_meta_disagreeing_with_the_sop_class_is_refused() -> None:
    ds = valid_slice()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    with pytest.raises(ContractViolation, match="MediaStorageSOPClassUID"):
        check_header(ds, DEMO_CONTRACT)


@pytest.mark.req("SRS-011")
def test_contract_is_frozen_json_and_reads_the_released_manifest_form() -> None:
    text = DEMO_CONTRACT.model_dump_json()
    assert InputContract.model_validate_json(text) == DEMO_CONTRACT
    with pytest.raises(Exception):
        DEMO_CONTRACT.modality = "MR"  # type: ignore[misc]
    manifest = json.loads((default_model_path() / "manifest.json").read_text())
    released = InputContract.model_validate(manifest["input_contract"])
    assert released == DEMO_CONTRACT  # the demo model's; fields added since default to the released meaning
    with pytest.raises(Exception):
        InputContract.model_validate({**manifest["input_contract"], "unknown_field": 1})
    narrow = DEMO_CONTRACT.model_copy(update={"rows_range": (512, 512), "columns_range": (512, 512)})
    with pytest.raises(ContractViolation, match="this model accepts 512 to 512 px"):
        check_header(valid_slice(), narrow)


# --- series ---------------------------------------------------------------------------------


@pytest.fixture
def hu() -> np.ndarray:
    return phantom_hu(slices=4)


@pytest.fixture
def series_dir(tmp_path: Path, hu: np.ndarray) -> Path:
    write_series(tmp_path / "series", hu)
    return tmp_path / "series"


@pytest.mark.req("SRS-011", "SRS-075")
def test_series_is_sorted_by_position_not_by_name_or_instance_number(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "shuffled"
    folder.mkdir()
    order = list(range(hu.shape[0]))
    random.Random(3).shuffle(order)
    for name_index, slice_index in enumerate(order):
        ds = ct_slice(slice_index, hu)
        ds.InstanceNumber = 100 - 7 * slice_index  # InstanceNumber runs against the position
        write(ds, folder / f"{name_index:02d}.dcm")
    assert order != sorted(order)
    series = load_series(collect_input_files(folder), DEMO_CONTRACT)
    positions = [float(ds.ImagePositionPatient[2]) for ds in series.datasets]
    assert positions == sorted(positions)
    assert [p.name for p in series.paths] == [f"{order.index(i):02d}.dcm" for i in range(hu.shape[0])]
    assert series.hu.dtype == np.float32 and series.hu.shape == hu.shape
    assert np.array_equal(series.hu, hu)
    assert not series.hu[0].flags.writeable and not np.asarray(series.hu).flags.writeable
    assert series.pixel_spacing_mm == (0.75, 0.75)
    assert series.slice_thickness_mm == 2.5 and series.slice_spacing_mm == pytest.approx(2.5)
    first = series.datasets[0]
    assert (series.study_instance_uid, series.series_instance_uid, series.frame_of_reference_uid) == (
        first.StudyInstanceUID, first.SeriesInstanceUID, first.FrameOfReferenceUID)


@pytest.mark.req("SRS-011")
def test_single_slice_spacing_is_its_thickness(series_dir: Path) -> None:
    series = load_series([series_dir / "slice000.dcm"], DEMO_CONTRACT)
    assert series.slice_spacing_mm == series.slice_thickness_mm == 2.5


@pytest.mark.req("SRS-011")
def test_rescale_is_applied_per_slice(tmp_path: Path, hu: np.ndarray) -> None:
    folder = tmp_path / "rescaled"
    for index in range(2):
        ds = ct_slice(index, hu)
        if index == 1:
            ds.RescaleSlope, ds.RescaleIntercept = 2, -2048
            stored = np.round((hu[index] + 2048) / 2).astype("<i2")
            ds.PixelData = stored.tobytes()
        folder.mkdir(exist_ok=True)
        write(ds, folder / f"{index}.dcm")
    series = load_series(collect_input_files(folder), DEMO_CONTRACT)
    assert np.allclose(series.hu[1], hu[1], atol=1.0) and np.array_equal(series.hu[0], hu[0])


def _refused(folder: Path, match: str, contract: InputContract = DEMO_CONTRACT) -> ContractViolation:
    with pytest.raises(ContractViolation, match=match) as info:
        load_series(collect_input_files(folder), contract)
    assert "\n" not in str(info.value) and info.value.hint
    return info.value


@pytest.mark.req("SRS-011", "SRS-075")
def test_two_series_mixed_are_refused(series_dir: Path, hu: np.ndarray) -> None:
    write(ct_slice(0, hu, series="series-2", z0_mm=-300.0), series_dir / "other.dcm")
    error = _refused(series_dir, "the input holds 2 series")
    assert "exactly one CT series" in (error.hint or "")


@pytest.mark.req("SRS-011", "SRS-075")
def test_duplicate_positions_and_duplicate_files_are_refused(series_dir: Path, hu: np.ndarray) -> None:
    duplicate = ct_slice(1, hu)
    duplicate.SOPInstanceUID = duplicate.file_meta.MediaStorageSOPInstanceUID = "2.25.99"
    write(duplicate, series_dir / "dup.dcm")
    _refused(series_dir, "same position")
    (series_dir / "dup.dcm").unlink()
    write(ct_slice(1, hu), series_dir / "copy.dcm")
    _refused(series_dir, "same SOPInstanceUID")


@pytest.mark.req("SRS-011", "SRS-075")
def test_missing_slice_and_uneven_spacing_are_refused(series_dir: Path) -> None:
    (series_dir / "slice001.dcm").unlink()
    _refused(series_dir, "not evenly spaced")


@pytest.mark.req("SRS-011", "SRS-075")
@pytest.mark.parametrize(
    ("index", "keyword", "value", "match"),
    [
        (2, "PixelSpacing", [0.8, 0.8], "slices disagree on PixelSpacing"),
        (2, "SliceThickness", 3.0, "slices disagree on SliceThickness"),
        (2, "FrameOfReferenceUID", "2.25.5", "different FrameOfReferenceUIDs"),
        (2, "StudyInstanceUID", "2.25.6", "different StudyInstanceUIDs"),
        (2, "ImagePositionPatient", [-95.625, -95.625 + 2.0, -95.0], "not stacked along the slice normal"),
        (0, "FrameOfReferenceUID", None, "FrameOfReferenceUID is missing"),
        (0, "SeriesInstanceUID", None, "SeriesInstanceUID is missing"),
    ],
)
def test_inconsistent_geometry_and_identity_are_refused(
    series_dir: Path, hu: np.ndarray, index: int, keyword: str, value: object, match: str
) -> None:
    ds = ct_slice(index, hu)
    if value is None:
        del ds[keyword]
    else:
        setattr(ds, keyword, value)
    write(ds, series_dir / f"slice{index:03d}.dcm")
    _refused(series_dir, match)


@pytest.mark.req("SRS-011")
def test_too_many_slices_are_refused_before_reading(series_dir: Path) -> None:
    _refused(series_dir, "at most 3 slices", DEMO_CONTRACT.model_copy(update={"max_slices": 3}))


@pytest.mark.req("SRS-011")
def test_a_file_outside_the_contract_refuses_the_whole_series(series_dir: Path, hu: np.ndarray) -> None:
    ds = ct_slice(3, hu)
    ds.Modality = "MR"
    write(ds, series_dir / "slice003.dcm")
    _refused(series_dir, "Modality is MR")


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(
    "syntax",
    [
        "1.2.840.10008.1.2.4.100",  # MPEG2: pydicom has no decoder at all
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1: needs gdcm or pylibjpeg-libjpeg
    ],
)
def test_compressed_syntax_without_decoder_is_refused_with_a_clear_message(
    tmp_path: Path, hu: np.ndarray, syntax: str
) -> None:
    from pydicom.pixels.decoders.base import get_decoder

    try:
        if get_decoder(syntax).is_available:
            pytest.skip(f"a decoder for {syntax} is installed here")
    except NotImplementedError:
        pass
    ds = ct_slice(0, hu)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\xff\xd8 not really compressed \xff\xd9"])
    ds["PixelData"].VR = "OB"
    folder = tmp_path / "compressed"
    folder.mkdir()
    write(ds, folder / "c.dcm")
    with pytest.raises(DicomReadError, match=f"transfer syntax .*{syntax.replace('.', '[.]')}") as info:
        load_series(collect_input_files(folder), DEMO_CONTRACT)
    assert "uncompressed" in (info.value.hint or "")


# --- SEG ------------------------------------------------------------------------------------


ALGORITHM = AlgorithmIdentity("demo-dinov2-seg", "1.0.0", "Artificial Intelligence", "ab" * 32, "device_ai", "0.1.0")


def _labelmap(hu: np.ndarray) -> np.ndarray:
    labels = np.zeros(hu.shape, np.uint8)
    labels[hu == 80] = 1
    labels[hu == 150] = 2
    return labels


@pytest.fixture
def series(series_dir: Path) -> CTSeries:
    return load_series(collect_input_files(series_dir), DEMO_CONTRACT)


def _dciodvfy_lines(tool: str, path: Path) -> list[str]:
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return (result.stdout + result.stderr).splitlines()


@pytest.mark.req("SRS-014", "SRS-074")
def test_demo_segment_codes_match_the_dicom_code_dictionaries() -> None:
    """Category from CID 7150, type from CID 7151, meanings as in pydicom's dictionary (PS3.16)."""
    expected = {
        "Organ": (codes.cid7150.AnatomicalStructure, codes.cid7151.Organ),
        "Lesion": (codes.cid7150.MorphologicallyAbnormalStructure, codes.cid7151.Lesion),
    }
    assert [(s.label_value, s.name) for s in DEMO_SEGMENTS] == [(1, "Organ"), (2, "Lesion")]
    for spec in DEMO_SEGMENTS:
        for term, code in zip((spec.category, spec.property_type), expected[spec.name]):
            assert (term.scheme, term.value, term.meaning) == (code.scheme_designator, code.value, code.meaning)


@pytest.mark.req("SRS-014", "SRS-076", "SRS-077", "SRS-078")
def test_seg_references_sources_reproduces_labels_and_validates(
    series: CTSeries, hu: np.ndarray, tmp_path: Path, dciodvfy: str
) -> None:
    labels = _labelmap(hu)
    assert set(np.unique(labels).tolist()) == {0, 1, 2}
    assert (labels[0] == 1).any() and not (labels[0] == 2).any()  # a frame where one segment is empty (omitted)
    path = write_seg(build_seg(series, labels, DEMO_SEGMENTS, ALGORITHM), tmp_path / "seg.dcm")
    assert path.read_bytes()[:128] == b"\0" * 128 and path.read_bytes()[128:132] == b"DICM"

    seg = hd.seg.segread(path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.SegmentationType == "BINARY"
    assert [seg.get_segment_description(n).segment_label for n in (1, 2)] == ["Organ", "Lesion"]
    for number, spec in zip((1, 2), DEMO_SEGMENTS):
        item = seg.SegmentSequence[number - 1]
        assert item.SegmentAlgorithmType == "AUTOMATIC" and item.SegmentAlgorithmName == ALGORITHM.name
        assert item.SegmentedPropertyTypeCodeSequence[0].CodeValue == spec.property_type.value
        identification = item.SegmentationAlgorithmIdentificationSequence[0]
        assert identification.AlgorithmName == ALGORITHM.name and identification.AlgorithmVersion == "1.0.0"
        assert identification.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
        assert "ab" * 32 in identification.AlgorithmParameters
    assert seg.ContentDescription == CONTENT_DESCRIPTION and "not for clinical use" in seg.ContentDescription
    assert seg.ContentLabel == "DEVICE_AI" and str(seg.ContentCreatorName) == "device_ai^demo-dinov2-seg"
    assert (seg.Manufacturer, seg.ManufacturerModelName, seg.SoftwareVersions) == ("device_ai", ALGORITHM.name, "0.1.0")
    assert seg.DeviceSerialNumber and seg.SeriesNumber == 300
    assert seg.StudyInstanceUID == series.study_instance_uid and seg.FrameOfReferenceUID == series.frame_of_reference_uid
    assert seg.PatientName == "PHANTOM^TEST"

    source_uids = [ds.SOPInstanceUID for ds in series.datasets]
    referenced = [item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    assert sorted(referenced) == sorted(source_uids)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_instance_uid
    frame_sources = {item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                     for item in seg.PerFrameFunctionalGroupsSequence}
    assert frame_sources == set(source_uids)  # the organ is on every slice

    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=source_uids, combine_segments=True, assert_missing_frames_are_empty=True,
    )
    assert pixels.shape == labels.shape and np.array_equal(pixels, labels)

    lines = _dciodvfy_lines(dciodvfy, path)
    assert [line for line in lines if line.startswith("Error")] == []
    assert dciodvfy_errors(dciodvfy, path) == []


@pytest.mark.req("SRS-014")
def test_seg_with_an_empty_segment_and_with_no_findings_is_still_valid(
    series: CTSeries, hu: np.ndarray, tmp_path: Path, dciodvfy: str
) -> None:
    organ_only = _labelmap(hu)
    organ_only[organ_only == 2] = 0
    background = np.zeros(series.hu.shape, np.uint8)
    for name, labels in [("organ_only.dcm", organ_only), ("empty.dcm", background)]:
        path = write_seg(build_seg(series, labels, DEMO_SEGMENTS, ALGORITHM), tmp_path / name)
        seg = hd.seg.segread(path)
        assert seg.number_of_segments == 2  # the empty segment is still described
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[ds.SOPInstanceUID for ds in series.datasets],
            combine_segments=True, assert_missing_frames_are_empty=True,
        )
        assert np.array_equal(pixels, labels)
        assert dciodvfy_errors(dciodvfy, path) == [], name


@pytest.mark.req("SRS-014")
def test_seg_refuses_label_maps_that_do_not_fit(series: CTSeries, hu: np.ndarray) -> None:
    labels = _labelmap(hu)
    with pytest.raises(OutputError, match="label map is"):
        build_seg(series, labels[:2], DEMO_SEGMENTS, ALGORITHM)
    with pytest.raises(OutputError, match=r"values \[3\]"):
        build_seg(series, np.where(labels == 2, 3, labels).astype(np.uint8), DEMO_SEGMENTS, ALGORITHM)
    with pytest.raises(OutputError, match="dtype float32"):
        build_seg(series, labels.astype(np.float32), DEMO_SEGMENTS, ALGORITHM)
    with pytest.raises(OutputError, match="1..N"):
        build_seg(series, labels, DEMO_SEGMENTS[1:], ALGORITHM)
    with pytest.raises(OutputError, match="CID 7162"):
        build_seg(series, labels, DEMO_SEGMENTS, AlgorithmIdentity("x", "1", "Magic", "00", "device_ai", "0"))


@pytest.mark.req("SRS-014")
def test_custom_segment_specs_are_written_as_given(series: CTSeries, hu: np.ndarray, tmp_path: Path) -> None:
    spec = SegmentSpec(1, "Body", CodedTerm("SCT", "91723000", "Anatomical Structure"),
                       CodedTerm("SCT", "85756007", "Tissue"), None)
    labels = (hu > -500).astype(np.uint8)
    seg = hd.seg.segread(write_seg(build_seg(series, labels, [spec], ALGORITHM, series_number=301), tmp_path / "b.dcm"))
    assert seg.SeriesNumber == 301 and seg.SegmentSequence[0].SegmentLabel == "Body"
    assert "RecommendedDisplayCIELabValue" not in seg.SegmentSequence[0]


@pytest.mark.req("SRS-014")
def test_seg_file_mode_is_the_callers_access(series: CTSeries, hu: np.ndarray, tmp_path: Path) -> None:
    """Private (0600) unless the caller asks for the public, umask-derived mode (issue 18)."""
    seg = build_seg(series, _labelmap(hu), DEMO_SEGMENTS, ALGORITHM)
    previous = os.umask(0o027)
    try:
        public = write_seg(seg, tmp_path / "public.dcm", access=Access.PUBLIC)
        private = write_seg(seg, tmp_path / "private.dcm")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(public.stat().st_mode) == 0o640
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_bytes()[128:] == private.read_bytes()[128:]


# --- layering -------------------------------------------------------------------------------


@pytest.mark.req("SRS-022")
def test_dicom_modules_import_without_torch() -> None:
    code = ("import device_ai.dicom.reader, device_ai.dicom.series, device_ai.dicom.contract, "
            "device_ai.dicom.seg, sys; assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr


@pytest.mark.req("SRS-010")
@pytest.mark.req("SRS-011")
def test_rle_frame_that_does_not_match_the_header_is_refused_not_cut(tmp_path: Path) -> None:
    """A frame encoded from a larger image decodes to more bytes than Rows x Columns; pydicom only
    warns and keeps the first bytes, which would analyze a different image than the one sent."""
    from pydicom import dcmread
    from pydicom.encaps import generate_frames
    from pydicom.uid import RLELossless

    def rle_series(folder: Path, size: int) -> list[Path]:
        paths = write_series(folder, phantom_hu(2, size))
        for path in paths:
            ds = dcmread(path)
            ds.compress(RLELossless)
            ds.save_as(path, enforce_file_format=True)
        return paths

    good = rle_series(tmp_path / "good", 256)
    uncompressed = load_series(write_series(tmp_path / "plain", phantom_hu(2, 256)), DEMO_CONTRACT)
    assert np.array_equal(load_series(good, DEMO_CONTRACT).hu, uncompressed.hu)  # control: valid RLE reads

    larger = rle_series(tmp_path / "larger", 300)
    for target, source in zip(good, larger):
        ds = dcmread(target)
        ds.PixelData = encapsulate(list(generate_frames(dcmread(source).PixelData, number_of_frames=1)))
        ds.save_as(target, enforce_file_format=True)
    with pytest.raises(DicomReadError, match="do not match the header") as info:
        load_series(good, DEMO_CONTRACT)
    assert "slice000.dcm" in info.value.message
