"""Structural checks before inference (issue 22 item 4; SRS-108): an input whose structure is
ambiguous or whose copied values are malformed is refused up front, with the file and the
attribute named; a source that omits a Type 2 attribute still gives a valid result."""

from __future__ import annotations

import struct
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from conftest import dciodvfy_errors
from device_ai.dicom.contract import DEMO_CONTRACT, header_problems
from device_ai.dicom.copied_attributes import TYPE2_COPIED, copied_attribute_problems
from device_ai.dicom.reader import read_dataset
from device_ai.dicom.seg import AlgorithmIdentity, SegmentSpec, build_seg, write_seg
from device_ai.dicom.series import load_series
from device_ai.errors import DicomReadError, InputRefused
from device_ai.training.labels import DEMO_LABELS
from tests.dicom.synthetic import part10, phantom_hu, valid_slice, write_series

SEGMENTS = tuple(SegmentSpec.from_label(label) for label in DEMO_LABELS)
ALGORITHM = AlgorithmIdentity("demo-dinov2-seg", "1.0.0", "Artificial Intelligence", "ab" * 32, "device_ai", "0.1.0")


def _series(folder: Path, change=None, slices: int = 3) -> list[Path]:  # noqa: ANN001
    paths = write_series(folder, phantom_hu(slices, 256))
    if change is not None:
        for path in paths:
            ds = pydicom.dcmread(path)
            change(ds)
            ds.save_as(path, enforce_file_format=True)
    return paths


def _refusal(paths: list[Path]) -> InputRefused:
    with pytest.raises(InputRefused) as refused:
        load_series(paths, DEMO_CONTRACT)
    return refused.value


@pytest.mark.req("SRS-108")
@pytest.mark.parametrize(("keyword", "value", "said"), [
    ("SpecificCharacterSet", "ISO_IR 999", "SpecificCharacterSet 'ISO_IR 999' is not a DICOM character set"),
    ("StudyDate", "2026-13-45", "StudyDate '2026-13-45' is not a valid DA value"),
    ("StudyDate", "20261345", "StudyDate '20261345' is not a valid DA value"),  # right form, no such date
    ("StudyTime", "256199", "StudyTime '256199' is not a valid TM value"),
    ("StudyInstanceUID", "1.2.abc..4", "StudyInstanceUID '1.2.abc..4' is not a valid UI value"),
    ("SeriesInstanceUID", "not a uid", "SeriesInstanceUID 'not a uid' is not a valid UI value"),
    # Type 3 values of the Patient and Study modules the results repeat (independent review, issue 22)
    ("PatientAge", "45", "PatientAge '45' is not a valid AS value"),
    ("StudyDescription", "X" * 100, "StudyDescription 'XXXX"),
    ("IssuerOfPatientID", "I" * 80, "IssuerOfPatientID 'IIII"),
    ("PatientBirthTime", "256199", "PatientBirthTime '256199' is not a valid TM value"),
    # one value where DICOM allows one (PS3.6 VM 1)
    ("FrameOfReferenceUID", ["1.2.3", "1.2.4"], "FrameOfReferenceUID holds 2 values; DICOM allows one"),
    ("SpacingBetweenSlices", [1.0, 2.0], "SpacingBetweenSlices holds 2 values; DICOM allows one"),
    ("StudyDate", ["20260101", "20260102"], "StudyDate holds 2 values; DICOM allows one"),
])
def test_a_malformed_value_the_result_would_copy_is_refused_before_inference(
        keyword: str, value: object, said: str, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while writing the bad value on purpose
        paths = _series(tmp_path / "in", lambda ds: setattr(ds, keyword, value))
        refused = _refusal(paths)
    assert isinstance(refused, DicomReadError) and refused.exit_code == 3
    assert any(said in line and "slice000.dcm" in line for line in refused.problems), refused.problems
    assert "send the series again" in (refused.hint or "")


def _swapped_vr(tag: int, vr: str, value: object):  # noqa: ANN202
    def change(ds: pydicom.Dataset) -> None:
        ds.add_new(tag, vr, value)
    return change


@pytest.mark.req("SRS-108")
@pytest.mark.parametrize(("tag", "vr", "value", "said"), [
    # fuzz campaign 12 (seed 7): highdicom repeats the acquisition equipment in the SEG's Contributing
    # Equipment Sequence; under a swapped VR its writing failed with a TypeError (exit 70)
    (0x00080070, "SL", 1, "Manufacturer carries VR SL; DICOM defines it as LO"),  # mutant 570
    (0x00080080, "AT", 0x00100010, "InstitutionName carries VR AT; DICOM defines it as LO"),  # mutant 3094
    (0x00100020, "SL", 7, "PatientID carries VR SL; DICOM defines it as LO"),  # a copied Patient value
])
def test_a_copied_value_under_a_swapped_vr_is_refused_before_inference(
        tag: int, vr: str, value: object, said: str, tmp_path: Path) -> None:
    refused = _refusal(_series(tmp_path / "in", _swapped_vr(tag, vr, value)))
    assert isinstance(refused, DicomReadError) and refused.exit_code == 3
    assert any(said in line and "slice000.dcm" in line for line in refused.problems), refused.problems


@pytest.mark.req("SRS-108")
def test_control_the_same_attributes_under_their_own_vr_are_read_and_written(tmp_path: Path) -> None:
    """Control: Manufacturer and Institution Name under their own VR pass the check and the
    series loads."""
    paths = _series(tmp_path / "in", lambda ds: (_swapped_vr(0x00080070, "LO", "FAKE VENDOR")(ds),
                                                 _swapped_vr(0x00080080, "LO", "FAKE HOSPITAL")(ds)))
    series = load_series(paths, DEMO_CONTRACT)
    assert all(copied_attribute_problems(ds) == [] for ds in series.datasets)


@pytest.mark.req("SRS-108")
def test_negative_control_valid_values_pass_the_copied_attribute_check() -> None:
    ds = valid_slice()
    assert copied_attribute_problems(ds) == []
    ds.StudyDate = "20261203"
    ds.StudyTime = "235959.5"
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    assert copied_attribute_problems(ds) == []


@pytest.mark.req("SRS-108", "SRS-014")
def test_omitted_type2_attributes_are_written_empty_and_the_seg_is_valid(tmp_path: Path, dciodvfy: str) -> None:
    def strip(ds: pydicom.Dataset) -> None:
        for keyword in TYPE2_COPIED:
            if keyword in ds:
                delattr(ds, keyword)

    series = load_series(_series(tmp_path / "in", strip), DEMO_CONTRACT)
    labels = np.zeros(series.hu.shape, np.uint8)
    labels[:, 100:150, 100:150] = 1
    path = write_seg(build_seg(series, labels, SEGMENTS, ALGORITHM), tmp_path / "seg.dcm")
    seg = pydicom.dcmread(path)
    for keyword in TYPE2_COPIED:
        assert keyword in seg and not seg.data_element(keyword).value, keyword
    assert dciodvfy_errors(dciodvfy, path) == []
    assert all(k not in pydicom.dcmread(p) for p in sorted((tmp_path / "in").iterdir()) for k in TYPE2_COPIED), \
        "the source files were changed"
    assert hd.seg.segread(path).number_of_segments == 2


@pytest.mark.req("SRS-108")
@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, True), (2, False), (1000, False), (-2, False)])
def test_pixel_data_must_match_rows_columns_and_bits(extra: int, accepted: bool) -> None:
    ds = valid_slice()
    data = ds.PixelData
    ds.PixelData = data + b"\0" * extra if extra >= 0 else data[:extra]
    problems = header_problems(ds, DEMO_CONTRACT)
    wrong = [p for p in problems if "PixelData holds" in p]
    assert (not wrong) is accepted, problems


def _with_element_before_modality(ds: pydicom.Dataset, tag: int, vr: bytes, value: bytes) -> bytes:
    data = part10(ds)
    modality = struct.pack("<HH", 0x0008, 0x0060) + b"CS"
    at = data.index(modality)
    element = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + struct.pack("<H", len(value)) + value
    return data[:at] + element + data[at:]


@pytest.mark.req("SRS-108")
def test_a_duplicated_modality_mr_then_ct_is_refused_as_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "twice.dcm"
    path.write_bytes(_with_element_before_modality(valid_slice(), 0x00080060, b"CS", b"MR"))
    assert pydicom.dcmread(path).Modality == "CT", "pydicom keeps the last copy: the ambiguity is real"
    with pytest.raises(DicomReadError, match=r"\(0008,0060\) at byte \d+ appears twice"):
        read_dataset(path)


@pytest.mark.req("SRS-108")
def test_an_out_of_order_element_is_refused_and_an_ordered_file_is_read(tmp_path: Path) -> None:
    disordered = tmp_path / "disordered.dcm"
    disordered.write_bytes(_with_element_before_modality(valid_slice(), 0x00100010, b"PN", b"FAKE^PERSON "))
    with pytest.raises(DicomReadError, match="is out of order"):
        read_dataset(disordered)
    ordered = tmp_path / "ordered.dcm"  # negative control: the same file as written by pydicom
    ordered.write_bytes(part10(valid_slice()))
    assert read_dataset(ordered).Modality == "CT"


@pytest.mark.req("SRS-108")
def test_a_duplicated_file_meta_element_is_refused(tmp_path: Path) -> None:
    """Two Transfer Syntax UIDs in the file meta: the reader and pydicom could each believe another."""
    data = part10(valid_slice())
    at = data.index(struct.pack("<HH", 0x0002, 0x0010))
    length = struct.unpack_from("<H", data, at + 6)[0]
    element = data[at : at + 8 + length]
    other = struct.pack("<HH", 0x0002, 0x0010) + b"UI" + struct.pack("<H", 20) + b"1.2.840.10008.1.2.2\0"
    doubled = tmp_path / "doubled.dcm"
    doubled.write_bytes(data[: at + len(element)] + other + data[at + len(element):])
    with pytest.raises(DicomReadError, match=r"file meta element \(0002,0010\) appears twice"):
        read_dataset(doubled)
    single = tmp_path / "single.dcm"  # negative control: the same file with one Transfer Syntax UID
    single.write_bytes(data)
    assert read_dataset(single).Modality == "CT"


@pytest.mark.req("SRS-108")
def test_an_enumerated_value_highdicom_refuses_is_an_input_refusal_before_inference(tmp_path: Path) -> None:
    """PatientSex 'Q' is a valid CS but not one of M, F, O: only the writers know; the pre-flight
    builds a SEG and an SR of a one-voxel label map and turns their refusal into exit 3."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device_ai.inference.analyze import analyze
    from device_ai.inference.engine import LockedEngine
    from device_ai.model.package import signing
    from tests.package_factory import make_package

    key = Ed25519PrivateKey.generate()
    engine = LockedEngine.load(make_package(tmp_path / "pkg", key),
                               trusted_keys={signing.key_id(key.public_key()): key.public_key()})
    segmented = []
    inference = lambda *args, **kwargs: segmented.append(1)  # noqa: E731 - observe: must never run

    _series(tmp_path / "bad", lambda ds: setattr(ds, "PatientSex", "Q"))
    with pytest.raises(InputRefused, match="PatientSex") as refused:
        analyze(tmp_path / "bad", tmp_path / "out-bad", engine, observe=inference)
    assert refused.value.exit_code == 3 and not segmented and not (tmp_path / "out-bad").exists()

    _series(tmp_path / "good", lambda ds: setattr(ds, "PatientSex", "O"))  # control: a valid value
    result = analyze(tmp_path / "good", tmp_path / "out-good", engine)
    assert (result.out_dir / "segmentation.dcm").exists()
