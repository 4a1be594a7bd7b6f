"""Synthetic phantoms: the intended-use ranges hold, measured on the generated data (SRS-019)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import dciodvfy_errors
from scipy import ndimage

from device_ai.training.ct_series import write_ct_series
from device_ai.training.phantoms import SPLITS, generate_case, split_seeds

SEEDS = split_seeds("train", 40, base_seed=5)


@pytest.fixture(scope="module")
def cases() -> list:
    return [generate_case(seed) for seed in SEEDS]


@pytest.mark.req("SRS-019")
def test_same_seed_same_case_and_different_seeds_differ() -> None:
    a, b = generate_case(SEEDS[0]), generate_case(SEEDS[0])
    assert np.array_equal(a.hu, b.hu) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(generate_case(SEEDS[1]).hu.shape, a.hu.shape) or not np.array_equal(generate_case(SEEDS[1]).hu, a.hu)


@pytest.mark.req("SRS-019")
def test_geometry_and_lesion_counts_cover_the_intended_use(cases: list) -> None:
    counts = [len(c.lesions) for c in cases]
    assert all(256 <= c.hu.shape[1] == c.hu.shape[2] <= 512 for c in cases)
    assert all(0.5 <= c.pixel_spacing_mm <= 1.0 and 1.0 <= c.slice_thickness_mm <= 5.0 for c in cases)
    assert min(counts) == 0 and max(counts) == 5
    assert all(5.0 <= c.noise_sigma_hu <= 25.0 and 40.0 <= c.organ_hu <= 80.0 for c in cases)


@pytest.mark.req("SRS-019")
def test_lesions_measured_on_the_labels_are_inside_the_organ_and_in_size_range(cases: list) -> None:
    measured = 0
    for case in cases:
        lesion = case.labels == 2
        # every lesion voxel's in-plane 4-neighbourhood is organ or lesion: strictly inside
        grown = ndimage.binary_dilation(lesion, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool))
        assert np.all(case.labels[grown] > 0)
        for spec in case.lesions:
            z_index = (spec.center_mm[0] - case.z_positions_mm()[0]) / case.slice_thickness_mm
            if not 0 <= round(z_index) < case.hu.shape[0]:
                continue
            plane = lesion[int(round(z_index))]
            components, _ = ndimage.label(plane)
            cy = spec.center_mm[1] / case.pixel_spacing_mm + (case.hu.shape[1] - 1) / 2
            cx = spec.center_mm[2] / case.pixel_spacing_mm + (case.hu.shape[2] - 1) / 2
            label = components[int(round(cy)), int(round(cx))]
            if label == 0:
                continue
            rows, cols = np.nonzero(components == label)
            extent = max(np.ptp(rows) + 1, np.ptp(cols) + 1) * case.pixel_spacing_mm
            assert extent <= 40.0 * 1.2 + 2 * case.pixel_spacing_mm
            if abs(z_index - round(z_index)) < 0.5 and spec.diameter_mm >= 10.0:
                assert extent >= 0.5 * spec.diameter_mm
            measured += 1
    assert measured >= 30


@pytest.mark.req("SRS-019")
def test_intensities_match_the_specification(cases: list) -> None:
    for case in cases[:15]:
        organ = ndimage.binary_erosion(case.labels == 1, iterations=3)
        if organ.sum() < 500:
            continue
        assert abs(case.hu[organ].mean() - case.organ_hu) < 3.0
        assert 40 - 3 <= case.hu[organ].mean() <= 80 + 3
        noise = case.hu[organ].std()
        assert 0.5 * case.noise_sigma_hu <= noise <= case.noise_sigma_hu + 3.0  # blur is applied before noise
        corner = case.hu[:, :20, :20]
        assert abs(corner.mean() + 1000) < 5
        for spec in case.lesions:
            assert 20.0 <= abs(spec.contrast_hu) <= 80.0
        # a fat ring (about -100 HU) lies between air and soft tissue along the central row
        row = case.hu[0, case.hu.shape[1] // 2].astype(float)
        assert np.any((row > -140) & (row < -60))


@pytest.mark.req("SRS-019")
def test_lesion_contrast_is_visible_in_the_image() -> None:
    for seed in SEEDS:
        case = generate_case(seed)
        lesion = ndimage.binary_erosion(case.labels == 2, iterations=2)
        organ = ndimage.binary_erosion(case.labels == 1, iterations=3)
        if lesion.sum() > 200 and organ.sum() > 200 and len(case.lesions) == 1:
            measured = case.hu[lesion].mean() - case.hu[organ].mean()
            assert abs(measured - case.lesions[0].contrast_hu) < 8.0
            return
    pytest.fail("no single-lesion case with a measurable lesion in the sample")


@pytest.mark.req("SRS-019")
def test_splits_are_disjoint_by_seed_and_patient() -> None:
    sizes = {"train": 1000, "verification": 50, "test": 100}
    seeds = {split: set(split_seeds(split, sizes[split])) for split in SPLITS}
    assert not seeds["train"] & seeds["verification"] and not seeds["train"] & seeds["test"]
    assert not seeds["verification"] & seeds["test"]
    ids = {split: {generate_case(s, n_slices=1, rows=256).patient_id for s in sorted(seeds[split])[:20]} for split in SPLITS}
    assert all(split.upper() in pid for split in SPLITS for pid in ids[split])
    with pytest.raises(ValueError, match="belongs to split"):
        generate_case(split_seeds("test", 1)[0], split="train")


@pytest.mark.req("SRS-019")
def test_written_series_round_trips_and_is_valid_dicom(tmp_path: Path, dciodvfy: str) -> None:
    case = generate_case(split_seeds("test", 1)[0], n_slices=3)
    paths = write_ct_series(case, tmp_path / "s")
    datasets = [pydicom.dcmread(p) for p in paths]
    for index, ds in enumerate(datasets):
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(hu, case.hu[index].astype(np.float32))
        assert "PHANTOM" in str(ds.PatientName) and ds.PatientID.startswith("PHANTOM-")
        assert ds.SOPInstanceUID.startswith("2.25.") and ds.StudyInstanceUID.startswith("2.25.")
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    steps = np.diff([float(ds.ImagePositionPatient[2]) for ds in datasets])
    assert np.allclose(steps, case.slice_thickness_mm, atol=1e-3)
    assert paths[0].read_bytes()[:128] == b"\0" * 128
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert dciodvfy_errors(dciodvfy, paths[0]) == []


@pytest.mark.req("SRS-019")
def test_lesions_never_touch_so_each_is_one_component(cases: list) -> None:
    structure = np.ones((3, 3, 3), dtype=bool)
    for case in cases:
        _, components = ndimage.label(case.labels == 2, structure=structure)
        assert components == len(case.lesions), case.patient_id
