"""Phantom CT series as DICOM: exact round trip, consistent geometry, synthetic identity,
deterministic UIDs, valid CT Image IOD (SRS-019)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from conftest import dciodvfy_errors
from device_ai.errors import OutputError
from device_ai.training.ct_series import write_ct_series
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds


@pytest.fixture(scope="module")
def case() -> PhantomCase:
    return generate_case(split_seeds("test", 1)[0], n_slices=4)


@pytest.fixture(scope="module")
def written(case: PhantomCase, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_ct_series(case, tmp_path_factory.mktemp("ct") / "series")


def _uids(ds: pydicom.Dataset) -> list[str]:
    return [ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID,
            ds.file_meta.MediaStorageSOPInstanceUID]


@pytest.mark.req("SRS-019")
def test_series_reads_back_to_exactly_the_phantom_hu(case: PhantomCase, written: list[Path]) -> None:
    assert [p.name for p in written] == [f"CT{i:06d}.dcm" for i in range(1, case.hu.shape[0] + 1)]
    assert sorted(p.name for p in written[0].parent.iterdir()) == [p.name for p in written]  # no temp files
    for index, path in enumerate(written):
        raw = path.read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
        assert ds.Modality == "CT" and list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel) == (16, 16, 15, 1)
        assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.RescaleType == "HU"
        stored = ds.pixel_array
        assert stored.dtype == (np.int16 if ds.PixelRepresentation == 1 else np.uint16)
        hu = stored.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(hu, case.hu[index].astype(np.float64))
        assert ds.InstanceNumber == index + 1


@pytest.mark.req("SRS-019")
def test_geometry_is_axial_contiguous_and_centred(case: PhantomCase, written: list[Path]) -> None:
    datasets = [pydicom.dcmread(p) for p in written]
    depth, rows, cols = case.hu.shape
    s, t = case.pixel_spacing_mm, case.slice_thickness_mm
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    for ds, position in zip(datasets, positions, strict=True):
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert (ds.Rows, ds.Columns) == (rows, cols)
        assert np.allclose([float(v) for v in ds.PixelSpacing], [s, s], atol=1e-6)
        assert abs(float(ds.SliceThickness) - t) < 1e-4 and abs(float(ds.SpacingBetweenSlices) - t) < 1e-4
        assert abs(float(ds.SliceLocation) - position[2]) < 1e-9
        # the image centre sits at patient x = y = 0, so LesionSpec.center_mm is in patient coordinates
        assert np.allclose(position[:2] + (np.array([cols, rows]) - 1) / 2 * s, 0.0, atol=1e-3)
    assert np.allclose(np.diff(positions[:, 2]), t, atol=2e-4)
    assert np.allclose(positions[:, 2], case.z_positions_mm(), atol=1e-4)
    assert np.allclose(positions[:, :2], positions[0, :2])


@pytest.mark.req("SRS-019")
def test_identity_is_synthetic_and_uids_are_deterministic_and_distinct(
    case: PhantomCase, written: list[Path], tmp_path: Path
) -> None:
    datasets = [pydicom.dcmread(p) for p in written]
    for ds in datasets:
        assert str(ds.PatientName) == case.patient_name and ds.PatientID == case.patient_id
        assert "PHANTOM" in str(ds.PatientName) and "PHANTOM" in ds.PatientID
        assert ds.PatientBirthDate == "" and ds.PatientSex == "O"
        assert ds.Manufacturer == "device_ai phantom generator"
        for uid in _uids(ds):
            assert uid.startswith("2.25.") and UID(uid).is_valid, uid
            as_uuid = uuid.UUID(int=int(uid[5:]))  # PS3.5 B.2: the integer of a UUID
            assert as_uuid.variant == uuid.RFC_4122 and as_uuid.version == 5, uid
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    for attribute in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({getattr(ds, attribute) for ds in datasets}) == 1
    # same case, same bytes
    again = write_ct_series(case, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]
    # another series of the same case: same study, new series and instances
    second = pydicom.dcmread(write_ct_series(case, tmp_path / "s2", series_number=2)[0])
    assert second.StudyInstanceUID == datasets[0].StudyInstanceUID
    assert second.SeriesInstanceUID != datasets[0].SeriesInstanceUID
    assert second.SOPInstanceUID not in {ds.SOPInstanceUID for ds in datasets}
    # the same seed with other overrides is another image, even at the same size: no UID shared
    ours = {uid for ds in datasets for uid in _uids(ds)}
    for other in (generate_case(case.seed, n_slices=2), generate_case(case.seed, n_slices=4, rows=case.hu.shape[1])):
        assert not np.array_equal(other.hu[:2], case.hu[:2])
        others = [pydicom.dcmread(p) for p in write_ct_series(other, tmp_path / f"other{other.hu.shape[0]}")]
        assert not {uid for ds in others for uid in _uids(ds)} & ours


@pytest.mark.req("SRS-019")
def test_dciodvfy_reports_no_errors(written: list[Path], dciodvfy: str) -> None:
    for path in (written[0], written[-1]):
        assert dciodvfy_errors(dciodvfy, path) == []


@pytest.mark.req("SRS-019")
def test_unrepresentable_hu_and_a_folder_with_a_longer_series_are_refused(case: PhantomCase, tmp_path: Path) -> None:
    hot = case.hu.copy()
    hot[0, 0, 0] = 32000  # 32000 + 1024 does not fit a signed 16-bit stored value
    with pytest.raises(ValueError, match="cannot hold"):
        write_ct_series(dataclasses.replace(case, hu=hot), tmp_path / "hot")
    folder = tmp_path / "reused"
    longer = write_ct_series(case, folder)
    before = {p.name: p.read_bytes() for p in longer}
    shorter = dataclasses.replace(case, hu=case.hu[:2], labels=case.labels[:2])
    with pytest.raises(OutputError, match="beyond this 2-slice series"):
        write_ct_series(shorter, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
