"""Generator phantoms/2: the stated phantom world (docs/phantom_world.md) is what is drawn,
over the whole of each range, with exact ground truth; measured on the generated images and
label maps where the claim is about them (SRS-019). phantoms/1 stays as it was."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import pdist

from device_ai.training import phantoms_v2 as v2
from device_ai.training.ct_series import case_key, slice_dataset
from device_ai.training.data import PHANTOM_GENERATOR, PHANTOM_GENERATOR_V2, build_pool
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

SEEDS = split_seeds("test", 40, base_seed=7)
DOC = Path(__file__).resolve().parents[2] / "docs" / "phantom_world.md"
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)
SIX = ndimage.generate_binary_structure(3, 1)
TOUCHING = np.ones((3, 3, 3), dtype=bool)
DERIVED = {"tissue_organ_gap_hu"}  # follows from organ_hu and tissue_hu; its top end is rare
# v1's data manifest digest for this small pool, computed with the code before phantoms/2.
V1_POOL_DIGEST = "20d62f2140f7f69d3aa5a7734bfb2438654ec03bb8b1703a5dee581e88602916"
V1_PINNED = {  # as tests/training/test_phantoms.py: SHA-256 of (hu, labels) of v1 seeds
    0: "4a7bed241e17ce7877744ac68b2dbcad7d90420ccc106804fd233af90dd39973",
    2_000_000: "aa9f324fff3bc84c9908c0f48fb1494f34cb7bc8601a1bfb33f8e3280f11a00e",
}


@pytest.fixture(scope="module")
def cases() -> list[PhantomCase]:
    return [generate_case(seed, version=2, domain=v2.INTENDED_USE) for seed in SEEDS]


def _feret_mm(mask: np.ndarray, spacing: float) -> float:
    """Largest extent of a 2D mask in mm: farthest pixel centres plus one pixel."""
    points = np.argwhere(mask)
    if len(points) > 4:
        points = points[~ndimage.binary_erosion(mask)[tuple(points.T)]]
    return (float(pdist(points).max()) + 1.0) * spacing if len(points) > 1 else spacing


def _document_table() -> dict[str, tuple[float, float, float, float]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`([a-z_]+)`\s*\|([^|]+)\|([^|]+)\|([^|]+)\|([^|]+)\|", line)
        if match:
            rows[match[1]] = tuple(float(match[i]) for i in range(2, 6))
    return rows


def _document_constraints() -> dict[str, float]:
    return {match[1]: float(match[2]) for line in DOC.read_text(encoding="utf-8").splitlines()
            if (match := re.match(r"\|[^|`]+\|\s*`([a-z_]+)`\s*\|\s*([-\d.]+)\s*\|\s*$", line))}


@pytest.mark.req("SRS-019")
def test_the_world_tables_are_the_documented_ones_and_training_contains_the_intended_use() -> None:
    table = _document_table()
    assert set(table) == set(v2.PHANTOM_WORLD_V2) == set(v2.TRAINING_WORLD_V2)
    assert _document_constraints() == dict(v2.CONSTRAINTS_V2)
    for key, (low, high, train_low, train_high) in table.items():
        assert v2.PHANTOM_WORLD_V2[key] == pytest.approx((low, high)), key
        assert v2.TRAINING_WORLD_V2[key] == pytest.approx((train_low, train_high)), key
        assert train_low <= low <= high <= train_high, key
    world = v2.PHANTOM_WORLD_V2
    # the ranges the intended use must state at least (issue 14)
    assert world["tissue_hu"][0] <= -10 and world["tissue_hu"][1] >= 60 and world["tissue_organ_gap_hu"][0] >= 15
    assert world["organ_hu"] == (40, 80) and world["lesion_diameter_mm"] == (10, 40)
    assert world["lesion_abs_contrast_hu"] == (20, 80) and world["lesion_count"] == (0, 5)
    assert world["noise_sigma_hu"] == (5, 25) and world["pixel_spacing_mm"] == (0.5, 1.0)
    assert world["slice_thickness_mm"] == (1, 5) and world["matrix_px"] == (256, 512)
    assert world["bone_hu"] == (300, 1500) and world["vessel_hu"] == (20, 300)
    assert min(world[f"{kind}_count"][0] for kind in ("bone", "vessel", "mimic", "air")) >= 1


@pytest.mark.req("SRS-019")
def test_every_drawn_value_lies_in_its_range_and_the_sample_covers_it(cases: list[PhantomCase]) -> None:
    values: dict[str, list[float]] = {key: [] for key in v2.PHANTOM_WORLD_V2}
    for case in cases:
        assert (case.generator, case.domain) == ("phantoms/2", "intended-use")
        recorded = v2.recorded_values(case)
        assert set(recorded) == set(v2.PHANTOM_WORLD_V2), case.patient_id
        for key, drawn in recorded.items():
            values[key] += drawn
    for key, (low, high) in v2.PHANTOM_WORLD_V2.items():
        drawn = np.array(values[key])
        assert drawn.size >= 20, key
        assert np.all((drawn >= low) & (drawn <= high)), (key, drawn.min(), drawn.max())
        if key in v2.INTEGER_PARAMETERS:
            assert np.all(drawn == np.round(drawn)), key
            if key == "tissue_side":
                assert set(drawn) == {-1, 1}
            elif high - low <= 5:  # counts: every value occurs
                assert set(np.arange(low, high + 1)) <= set(drawn), key
        near = 0.2 * (high - low)
        assert drawn.min() <= low + near, (key, drawn.min())
        assert drawn.max() >= high - (0.4 * (high - low) if key in DERIVED else near), (key, drawn.max())


@pytest.mark.req("SRS-019")
def test_surrounding_tissue_is_darker_or_brighter_than_the_organ_and_at_least_15_hu_away(
    cases: list[PhantomCase],
) -> None:
    differences = []
    for case in cases:
        hu, organ = case.hu.astype(np.float64), case.labels > 0
        s = case.pixel_spacing_mm
        inner = ndimage.binary_erosion(case.labels == 1, structure=IN_PLANE, iterations=3)
        organ_hu = np.median(hu[inner])
        # a thin band 2-2.5 mm outside the organ in each slice: soft tissue (structures keep 3 mm away)
        outside = np.stack([ndimage.distance_transform_edt(~plane) * s for plane in organ])
        band = (outside >= 2.0) & (outside <= 2.0 + max(0.5, s))
        tissue_hu = np.median(hu[band])
        assert abs(tissue_hu - case.parameters["tissue_hu"]) < 5.0, (case.patient_id, tissue_hu)
        assert abs(organ_hu - case.organ_hu) < 3.0, (case.patient_id, organ_hu)
        assert abs(case.parameters["tissue_hu"] - case.organ_hu) >= 15.0
        assert abs(tissue_hu - organ_hu) >= 12.0, (case.patient_id, tissue_hu, organ_hu)
        differences.append(tissue_hu - organ_hu)
    differences = np.array(differences)
    assert (differences < 0).sum() >= 8 and (differences > 0).sum() >= 8  # both sides, often
    tissue = [case.parameters["tissue_hu"] for case in cases]
    assert min(tissue) <= 0.0 and max(tissue) >= 60.0


@pytest.mark.req("SRS-019")
def test_lesions_lie_inside_the_organ_and_measure_10_to_40_mm_on_the_label_map(cases: list[PhantomCase]) -> None:
    measured = []
    for case in cases:
        lesion = case.labels == 2
        neighbours = ndimage.binary_dilation(lesion, structure=SIX) & ~lesion
        assert np.all(case.labels[neighbours] == 1), case.patient_id  # strictly inside the organ
        components, count = ndimage.label(lesion, structure=TOUCHING)
        assert count == len(case.lesions), case.patient_id  # separate, none lost
        s, z0 = case.pixel_spacing_mm, case.z_positions_mm()[0]
        _, rows, cols = case.hu.shape
        for spec in case.lesions:
            z, y, x = spec.center_mm
            k = int(round((z - z0) / case.slice_thickness_mm))
            assert 0 <= k < case.hu.shape[0], (case.patient_id, spec)  # the centre is in the slab
            number = components[k, int(round(y / s + (rows - 1) / 2)), int(round(x / s + (cols - 1) / 2))]
            assert number > 0, (case.patient_id, spec)
            extent = max(_feret_mm(plane, s) for plane in components == number if plane.any())
            assert 10.0 <= extent <= 40.0, (case.patient_id, spec, extent)
            assert extent == pytest.approx(spec.diameter_mm, abs=1e-9)
            assert 20.0 <= abs(spec.contrast_hu) <= 80.0
            measured.append(extent)
    assert len(measured) >= 40
    assert min(measured) < 14.0 and max(measured) > 36.0


@pytest.mark.req("SRS-019")
def test_lesion_counts_0_to_5_each_occur_about_equally_and_lesion_free_cases_have_no_lesion(
    cases: list[PhantomCase],
) -> None:
    counts = [len(case.lesions) for case in cases]
    assert set(counts) == set(range(6))
    assert min(counts.count(n) for n in range(6)) >= 3  # 40 cases: about 6.7 each
    for case in cases:
        assert case.parameters["lesion_count"] == len(case.lesions)
        assert (case.labels == 2).any() == bool(case.lesions)


@pytest.mark.req("SRS-019")
def test_structures_that_are_not_the_organ_are_present_and_never_labelled(cases: list[PhantomCase]) -> None:
    bone_pixels = air_pixels = mimics = valued = 0
    for case in cases:
        kinds = {spec.kind.split("-")[0] for spec in case.structures}
        assert kinds == {"bone", "vessel", "mimic", "air"}, case.patient_id
        hu, labels = case.hu.astype(np.float64), case.labels
        smooth = ndimage.gaussian_filter(hu, sigma=(0, 1.5, 1.5))
        bone = smooth > 250.0  # above any organ or lesion value plus noise
        assert np.all(labels[bone] == 0), case.patient_id
        bone_pixels += bone.sum()
        body = ndimage.binary_fill_holes(ndimage.gaussian_filter(hu.mean(axis=0), 1.5) > -500)
        air = (smooth < -500.0) & body[None]
        assert np.all(labels[air] == 0), case.patient_id
        air_pixels += air.sum()
        _, rows, cols = case.hu.shape
        s = case.pixel_spacing_mm
        yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        for spec in case.structures:
            y, x = spec.center_mm
            i, j = y / s + (rows - 1) / 2, x / s + (cols - 1) / 2
            radius = spec.size_mm / 2 * spec.aspect * (1 - spec.irregularity) / s  # inside the outline
            disk = (yy - i) ** 2 + (xx - j) ** 2 < radius**2
            assert disk.any() and np.all(labels[:, disk] == 0), (case.patient_id, spec)
            core_radius = max(radius - 2.0 / s - 1.0, 0.0)  # two blur sigmas (up to 1 mm) and a pixel in
            core = (yy - i) ** 2 + (xx - j) ** 2 < core_radius**2
            if spec.kind != "bone-ring" and core.sum() >= 20:
                value = hu[:, core].mean()
                tolerance = 5 * case.noise_sigma_hu / np.sqrt(core.sum() * case.hu.shape[0]) + 3.0
                assert abs(value - spec.hu) < tolerance + 0.05 * abs(spec.hu), (case.patient_id, spec, value)
                valued += 1
            if spec.kind == "mimic":  # organ-like HU, outside the organ
                assert abs(spec.hu - case.organ_hu) <= 10.0
                mimics += 1
    assert bone_pixels > 0 and air_pixels > 0 and mimics == len(cases)
    assert valued >= 100  # of 280 structures (rings and small ones are not measured), 139 are


@pytest.mark.req("SRS-019")
def test_organ_and_noise_measured_on_the_image(cases: list[PhantomCase]) -> None:
    for case in cases:
        hu = case.hu.astype(np.float64)
        sigma = case.noise_sigma_hu
        air = np.concatenate([hu[:, :16, :16], hu[:, :16, -16:], hu[:, -16:, :16], hu[:, -16:, -16:]], axis=None)
        assert abs(air.mean() + 1000.0) < 3.0, case.patient_id
        assert 0.85 * sigma <= air.std() <= 1.15 * sigma, (case.patient_id, air.std(), sigma)
        organ = hu[ndimage.binary_erosion(case.labels == 1, structure=IN_PLANE, iterations=3)]
        assert 40.0 - 2.0 <= organ.mean() <= 80.0 + 2.0, case.patient_id


@pytest.mark.req("SRS-019")
def test_same_seed_gives_identical_cases_and_another_seed_or_domain_differs() -> None:
    seed = SEEDS[0]
    a, b = generate_case(seed, version=2), generate_case(seed, version=2)
    assert a.hu.tobytes() == b.hu.tobytes() and a.labels.tobytes() == b.labels.tobytes()
    assert (dict(a.parameters), a.lesions, a.structures) == (dict(b.parameters), b.lesions, b.structures)
    other = generate_case(SEEDS[1], version=2, n_slices=a.hu.shape[0], rows=a.hu.shape[1])
    assert not np.array_equal(a.hu, other.hu) and not np.array_equal(a.labels, other.labels)
    training = generate_case(seed, version=2, domain=v2.TRAINING)
    assert training.domain == "training" and dict(training.parameters) != dict(a.parameters)
    small = generate_case(seed, version=2, n_slices=2, rows=256)
    assert small.hu.shape == (2, 256, 256)
    assert np.array_equal(small.hu, generate_case(seed, version=2, n_slices=2, rows=256).hu)
    assert a.patient_id.startswith("PHANTOM2-TEST-") and a.patient_name.startswith("PHANTOM2^TEST")
    with pytest.raises(ValueError, match="domain"):
        generate_case(seed, version=2, domain="clinical")
    with pytest.raises(ValueError, match="version"):
        generate_case(seed, version=3)
    with pytest.raises(ValueError, match="phantoms/1"):
        generate_case(seed, domain=v2.TRAINING)
    with pytest.raises(ValueError, match="belongs to split"):
        generate_case(seed, version=2, split="train")


@pytest.mark.req("SRS-019")
def test_the_training_domain_reaches_beyond_the_intended_use() -> None:
    beyond: set[str] = set()
    for seed in split_seeds("train", 12, base_seed=7):
        case = generate_case(seed, version=2, domain=v2.TRAINING, n_slices=3)
        for key, drawn in v2.recorded_values(case).items():
            if key in ("slab_slices", "matrix_px"):
                continue  # slab_slices given (3), matrix_px the same range in both domains
            low, high = v2.TRAINING_WORLD_V2[key]
            assert all(low <= value <= high for value in drawn), (key, drawn)
            i_low, i_high = v2.PHANTOM_WORLD_V2[key]
            if any(value < i_low or value > i_high for value in drawn):
                beyond.add(key)
    assert {"tissue_hu", "noise_sigma_hu", "blur_mm"} <= beyond, beyond
    assert len(beyond) >= 12, beyond


@pytest.mark.req("SRS-019")
def test_phantoms_1_is_unchanged_and_each_version_is_recorded_in_data_and_dicom_identity() -> None:
    for seed, digest in V1_PINNED.items():
        case = generate_case(seed)
        assert hashlib.sha256(case.hu.tobytes() + case.labels.tobytes()).hexdigest() == digest
        assert case.generator == "phantoms/1" and case.domain is None and not case.structures
    v1 = build_pool("verification", 2, 224, slices_per_patient=2)
    assert (v1.manifest_sha256, v1.generator, v1.domain) == (V1_POOL_DIGEST, PHANTOM_GENERATOR, None)
    assert PHANTOM_GENERATOR == "device_ai.training.phantoms/1"
    pools = {domain: build_pool("train", 1, 224, slices_per_patient=1, version=2, domain=domain)
             for domain in (None, v2.INTENDED_USE)}
    assert pools[None].generator == PHANTOM_GENERATOR_V2 == "device_ai.training.phantoms/2"
    assert pools[None].domain == v2.TRAINING  # training split: the training domain unless told
    assert pools[v2.INTENDED_USE].domain == v2.INTENDED_USE
    assert pools[None].manifest_sha256 != pools[v2.INTENDED_USE].manifest_sha256
    assert pools[None].patient_ids[0].startswith("PHANTOM2-TRAIN-")
    with pytest.raises(ValueError):
        build_pool("train", 1, 224, slices_per_patient=1, domain=v2.TRAINING)  # v1 has no domain
    old, new = generate_case(SEEDS[0], n_slices=1), generate_case(SEEDS[0], version=2, n_slices=1)
    assert "phantoms/1" in case_key(old) and "phantoms/2" in case_key(new)
    assert slice_dataset(old, 0).ManufacturerModelName == "phantoms"
    assert slice_dataset(new, 0).ManufacturerModelName == "phantoms/2"
    assert slice_dataset(old, 0).StudyInstanceUID != slice_dataset(new, 0).StudyInstanceUID
