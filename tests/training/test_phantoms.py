"""Synthetic phantoms: the intended-use ranges hold, measured on the generated images and
label maps, not read back from the generator's own parameters (SRS-019)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import pdist

from device_ai.training.phantoms import SPLITS, PhantomCase, generate_case, seed_identity, split_seeds

SEEDS = split_seeds("train", 40, base_seed=5)
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)  # 4-neighbourhood within a slice
SIX = ndimage.generate_binary_structure(3, 1)  # 6-neighbourhood
TOUCHING = np.ones((3, 3, 3), dtype=bool)  # 26-neighbourhood: lesions must not even touch diagonally
IRREGULAR = 0.12  # lesion outline: at most 12% off the nominal radius (two terms of up to 6%)

# SHA-256 of (hu, labels) of the first train and test patients. The released model's training
# data digest and the committed standalone study are reproduced from this generator: if
# these change (code or numpy/scipy), the released evidence no longer reproduces.
PINNED = {
    0: "4a7bed241e17ce7877744ac68b2dbcad7d90420ccc106804fd233af90dd39973",
    2_000_000: "aa9f324fff3bc84c9908c0f48fb1494f34cb7bc8601a1bfb33f8e3280f11a00e",
}


@pytest.fixture(scope="module")
def cases() -> list[PhantomCase]:
    return [generate_case(seed) for seed in SEEDS]


def _digest(case: PhantomCase) -> str:
    return hashlib.sha256(case.hu.tobytes() + case.labels.tobytes()).hexdigest()


def _voxel(case: PhantomCase, center_mm: tuple[float, float, float]) -> tuple[int, int, int]:
    """Nearest voxel (k, i, j) of a point given in the case's (z, y, x) millimetres."""
    _, rows, cols = case.hu.shape
    z0, s = case.z_positions_mm()[0], case.pixel_spacing_mm
    z, y, x = center_mm
    return (
        int(round((z - z0) / case.slice_thickness_mm)),
        int(round(y / s + (rows - 1) / 2)),
        int(round(x / s + (cols - 1) / 2)),
    )


def _feret_mm(mask: np.ndarray, spacing: float) -> float:
    """Largest extent of a 2D mask in mm: farthest pixel centres plus one pixel."""
    points = np.argwhere(mask)
    if len(points) > 4:
        points = points[~ndimage.binary_erosion(mask)[tuple(points.T)]]  # the outline is enough
    return (float(pdist(points).max()) + 1.0) * spacing if len(points) > 1 else spacing


def _crossings(profile: np.ndarray) -> tuple[int, int]:
    """From the outside in: first sample above -550 HU (body edge), then first above -40 (soft tissue)."""
    edge = int(np.argmax(profile > -550))
    return edge, edge + int(np.argmax(profile[edge:] > -40))


@pytest.mark.req("SRS-019")
def test_same_seed_gives_identical_cases_and_other_seeds_differ() -> None:
    a, b = generate_case(SEEDS[0]), generate_case(SEEDS[0])
    assert a.hu.tobytes() == b.hu.tobytes() and a.labels.tobytes() == b.labels.tobytes()
    assert (a.pixel_spacing_mm, a.slice_thickness_mm, a.lesions, a.noise_sigma_hu) == (
        b.pixel_spacing_mm, b.slice_thickness_mm, b.lesions, b.noise_sigma_hu)
    others = [generate_case(seed, n_slices=a.hu.shape[0], rows=a.hu.shape[1]) for seed in SEEDS[1:3]]
    assert all(not np.array_equal(a.hu, other.hu) for other in others)
    assert all(not np.array_equal(a.labels, other.labels) for other in others)
    # overriding the size gives another, equally deterministic case
    small = generate_case(SEEDS[0], n_slices=2, rows=256)
    assert small.hu.shape == (2, 256, 256)
    assert np.array_equal(small.hu, generate_case(SEEDS[0], n_slices=2, rows=256).hu)


@pytest.mark.req("SRS-019")
@pytest.mark.parametrize("seed", sorted(PINNED))
def test_generator_output_is_pinned(seed: int) -> None:
    assert _digest(generate_case(seed)) == PINNED[seed], (
        "phantom output changed: the released model's training data and the committed "
        "validation study no longer reproduce; bump GENERATOR_VERSION and re-release instead")


@pytest.mark.req("SRS-019")
def test_acquisition_parameters_cover_the_intended_use(cases: list[PhantomCase]) -> None:
    shapes = np.array([case.hu.shape for case in cases])
    spacing = np.array([case.pixel_spacing_mm for case in cases])
    thickness = np.array([case.slice_thickness_mm for case in cases])
    assert all(case.hu.dtype == np.int16 and case.labels.dtype == np.uint8 for case in cases)
    assert all(set(np.unique(case.labels)) <= {0, 1, 2} for case in cases)
    assert np.all(shapes[:, 1] == shapes[:, 2]) and np.all((shapes[:, 1] >= 256) & (shapes[:, 1] <= 512))
    assert np.all((spacing >= 0.5) & (spacing <= 1.0)) and np.all((thickness >= 1.0) & (thickness <= 5.0))
    assert np.all((shapes[:, 0] >= 6) & (shapes[:, 0] <= 16))
    # ... and the sample reaches towards both ends of every range
    assert shapes[:, 1].min() < 300 and shapes[:, 1].max() > 470
    assert spacing.min() < 0.6 and spacing.max() > 0.9
    assert thickness.min() < 1.5 and thickness.max() > 4.5
    assert all(5.0 <= case.noise_sigma_hu <= 25.0 and 40.0 <= case.organ_hu <= 80.0 for case in cases)


@pytest.mark.req("SRS-019")
def test_lesion_count_is_0_to_5_and_each_lesion_is_one_separate_component(cases: list[PhantomCase]) -> None:
    counts = [len(case.lesions) for case in cases]
    assert set(counts) <= set(range(6)) and {0, 5} <= set(counts)
    for case in cases:
        _, components = ndimage.label(case.labels == 2, structure=TOUCHING)
        assert components == len(case.lesions), case.patient_id
        for spec in case.lesions:
            assert 10.0 <= spec.diameter_mm <= 40.0 and 20.0 <= abs(spec.contrast_hu) <= 80.0
            k, i, j = _voxel(case, spec.center_mm)
            if 0 <= k < case.hu.shape[0]:
                assert case.labels[k, i, j] == 2, (case.patient_id, spec)


@pytest.mark.req("SRS-019")
def test_lesion_diameters_measured_on_the_label_map(cases: list[PhantomCase]) -> None:
    measured = []
    for case in cases:
        components, _ = ndimage.label(case.labels == 2, structure=TOUCHING)
        s = case.pixel_spacing_mm
        for spec in case.lesions:
            k, i, j = _voxel(case, spec.center_mm)
            if not 0 <= k < case.hu.shape[0]:
                continue  # centre outside the slab: only a cap is seen
            lesion = components == components[k, i, j]
            extent = max(_feret_mm(plane, s) for plane in lesion if plane.any())
            # Intended use: 10-40 mm across, up to pixel quantisation; the irregular outline of
            # a nominal 40 mm lesion can reach 44.8 mm (see the known deviation below).
            assert 10.0 - 2 * s <= extent <= 40.0 * (1 + IRREGULAR) + 2 * s, (case.patient_id, spec, extent)
            # And it is the lesion that was drawn: between the chord of the smallest outline
            # at the nearest slice and the largest outline.
            r, dz = spec.diameter_mm / 2, abs(case.z_positions_mm()[k] - spec.center_mm[0])
            low = 2 * np.sqrt(max(((1 - IRREGULAR) * r) ** 2 - dz**2, 0.0))
            assert low - 2 * s <= extent <= 2 * (1 + IRREGULAR) * r + 2 * s, (case.patient_id, spec, extent)
            measured.append(extent)
    assert len(measured) >= 30
    assert min(measured) < 15.0 and max(measured) > 35.0


@pytest.mark.req("SRS-019")
@pytest.mark.xfail(strict=True, reason="known deviation of phantoms/1: the irregular outline of a nominal "
                   "39.9 mm lesion measures 42.4 mm across, beyond the intended 40 mm (pixel 0.89 mm)")
def test_known_deviation_no_lesion_measures_more_than_40_mm_across() -> None:
    case = generate_case(split_seeds("train", 2, base_seed=3)[1])
    components, _ = ndimage.label(case.labels == 2, structure=TOUCHING)
    for number in range(1, components.max() + 1):
        extent = max(_feret_mm(plane, case.pixel_spacing_mm) for plane in components == number if plane.any())
        assert extent <= 40.0 + 2 * case.pixel_spacing_mm


@pytest.mark.req("SRS-019")
def test_lesions_lie_strictly_inside_the_organ(cases: list[PhantomCase]) -> None:
    for case in cases:
        lesion = case.labels == 2
        # every 6-neighbour of a lesion voxel (inside the volume) is organ or lesion
        neighbours = ndimage.binary_dilation(lesion, structure=SIX) & ~lesion
        assert np.all(case.labels[neighbours] == 1), case.patient_id


@pytest.mark.req("SRS-019")
def test_organ_and_air_intensities_and_noise_measured_on_the_image(cases: list[PhantomCase]) -> None:
    for case in cases:
        hu = case.hu.astype(np.float64)
        sigma = case.noise_sigma_hu
        air = np.concatenate([hu[:, :16, :16], hu[:, :16, -16:], hu[:, -16:, :16], hu[:, -16:, -16:]], axis=None)
        assert abs(air.mean() + 1000.0) < 2.0, case.patient_id
        organ = hu[ndimage.binary_erosion(case.labels == 1, structure=IN_PLANE, iterations=3)]
        assert organ.size > 1000, case.patient_id
        tolerance = 4 * sigma / np.sqrt(organ.size) + 1.0  # sampling error plus rounding
        assert 40.0 - tolerance <= organ.mean() <= 80.0 + tolerance, case.patient_id
        assert abs(organ.mean() - case.organ_hu) < tolerance, case.patient_id
        # noise is added after the blur, so flat regions show the full sigma
        for region in (air, organ):
            assert 0.9 * sigma <= region.std() <= 1.1 * sigma, case.patient_id
            assert 4.5 <= region.std() <= 27.5


@pytest.mark.req("SRS-019")
def test_lesion_contrast_measured_on_the_image(cases: list[PhantomCase]) -> None:
    measured = 0
    for case in cases:
        components, _ = ndimage.label(case.labels == 2, structure=TOUCHING)
        organ = case.hu[ndimage.binary_erosion(case.labels == 1, structure=IN_PLANE, iterations=3)].mean()
        for spec in case.lesions:
            k, i, j = _voxel(case, spec.center_mm)
            if not 0 <= k < case.hu.shape[0]:
                continue
            inner = ndimage.binary_erosion(components == components[k, i, j], structure=IN_PLANE, iterations=2)
            if inner.sum() < 50:
                continue
            contrast = case.hu[inner].mean() - organ
            tolerance = 4 * case.noise_sigma_hu / np.sqrt(inner.sum()) + 3.0  # sampling, blur tail
            assert abs(contrast - spec.contrast_hu) < tolerance, (case.patient_id, spec, contrast)
            assert 20.0 - tolerance <= abs(contrast) <= 80.0 + tolerance
            measured += 1
    assert measured >= 30


@pytest.mark.req("SRS-019")
def test_body_is_an_ellipse_in_air_with_a_fat_layer_around_soft_tissue(cases: list[PhantomCase]) -> None:
    widths, aspects, thick = [], [], 0
    for case in cases:
        _, rows, cols = case.hu.shape
        s = case.pixel_spacing_mm
        mean = case.hu.astype(np.float64).mean(axis=0)  # the body is the same in every slice
        body = ndimage.gaussian_filter(mean, 1.5) > -500
        width = np.ptp(np.nonzero(body.any(axis=0))[0]) + 1
        height = np.ptp(np.nonzero(body.any(axis=1))[0]) + 1
        widths.append(width / cols)
        aspects.append(height / width)
        # Profiles from the four sides along the central row and column (7 lines averaged):
        # air, then a fat layer of about -100 HU, then soft tissue. Without fat the edge
        # would go from -550 to -40 HU within 1.7 blur sigmas (< 1.7 mm); the thinnest drawn
        # layer is 3 mm times the outline's wobble (0.91), measured to about a pixel.
        column = mean[:, cols // 2 - 3 : cols // 2 + 4].mean(axis=1)
        row = mean[rows // 2 - 3 : rows // 2 + 4].mean(axis=0)
        for profile, lateral in ((column, False), (column[::-1], False), (row, True), (row[::-1], True)):
            edge, tissue = _crossings(profile)
            assert abs(np.median(profile[: max(edge - 3, 1)]) + 1000) < 5, case.patient_id  # air
            thickness = (tissue - edge) * s
            assert thickness >= 2.0, (case.patient_id, thickness)
            if not lateral:  # along the short axis the layer is the drawn 3-20 mm (x boundary wobble)
                assert thickness <= 22.0, (case.patient_id, thickness)
            layer = profile[edge:tissue]
            assert np.any(np.abs(layer + 100) <= 40), case.patient_id  # passes through about -100 HU
            if thickness >= 6.0:  # a thin layer is mostly blur; a thick one reads fat throughout
                assert -130 <= np.median(layer) <= -70, case.patient_id
                thick += 1
    assert all(0.55 <= w <= 0.95 for w in widths) and min(widths) < 0.65 and max(widths) > 0.85
    assert all(0.5 <= a <= 0.95 for a in aspects)
    assert thick >= 40


@pytest.mark.req("SRS-019")
def test_organ_is_large_inside_the_body_and_varies_between_patients(cases: list[PhantomCase]) -> None:
    centres, fractions, edge_cases = [], [], 0
    for case in cases:
        _, rows, cols = case.hu.shape
        organ = case.labels > 0
        areas = organ.sum(axis=(1, 2))
        assert areas.max() > 0, case.patient_id
        edge_cases += areas.min() < 0.3 * areas.max()  # the slab reaches towards the organ's end
        mean = case.hu.astype(np.float64).mean(axis=0)  # the body is the same in every slice
        body = ndimage.gaussian_filter(mean, 1.5) > -500
        body_cols = np.nonzero(body.any(axis=0))[0]
        organ_cols = np.nonzero(organ.any(axis=(0, 1)))[0]
        # drawn at 30-55% of the body width, the irregular outline adds up to 21%; a slab
        # near the organ's end shows a smaller section
        fractions.append((np.ptp(organ_cols) + 1) / (np.ptp(body_cols) + 1))
        assert 0.15 <= fractions[-1] <= 0.7, case.patient_id
        centres.append((np.array(ndimage.center_of_mass(organ)[1:]) - (rows - 1) / 2) * case.pixel_spacing_mm)
        # inside the body, well clear of the air
        grown = ndimage.binary_dilation(organ.any(axis=0), iterations=5)
        assert np.all(body[grown]), case.patient_id
    assert np.std(centres, axis=0).min() > 4.0  # position varies in x and y (mm)
    assert edge_cases >= 2 and np.median(fractions) >= 0.35


@pytest.mark.req("SRS-019")
def test_splits_are_disjoint_by_seed_and_patient_id() -> None:
    sizes = {"train": 1000, "verification": 50, "test": 100}
    for base in (0, 1):
        seeds = {split: split_seeds(split, sizes[split], base_seed=base) for split in SPLITS}
        ids = {split: [seed_identity(seed)[1] for seed in seeds[split]] for split in SPLITS}
        for split in SPLITS:
            assert len(set(seeds[split])) == len(set(ids[split])) == sizes[split]
            assert all(seed_identity(seed)[0] == split for seed in seeds[split])
            assert all(pid.startswith(f"PHANTOM-{split.upper()}-") for pid in ids[split])
        for i, first in enumerate(SPLITS):
            for second in SPLITS[i + 1 :]:
                assert not set(seeds[first]) & set(seeds[second])
                assert not set(ids[first]) & set(ids[second])
    # one identity per patient across base seeds too
    train = [seed_identity(seed)[1] for base in (0, 1, 2) for seed in split_seeds("train", 1000, base_seed=base)]
    assert len(set(train)) == len(train)
    assert seed_identity(split_seeds("test", 1, base_seed=0)[0])[1:] == ("PHANTOM-TEST-000000", "PHANTOM^TEST000000")


@pytest.mark.req("SRS-019")
def test_generated_cases_carry_their_seed_identity_and_wrong_seeds_are_refused() -> None:
    for split in SPLITS:
        seed = split_seeds(split, 3, base_seed=2)[2]
        case = generate_case(seed, n_slices=1, rows=32)
        assert (case.split, case.patient_id, case.patient_name) == seed_identity(seed)
        assert "PHANTOM" in case.patient_id and "PHANTOM" in case.patient_name
    with pytest.raises(ValueError, match="belongs to split"):
        generate_case(split_seeds("test", 1)[0], split="train")
    for seed in (-1, 3_000_000, 10_000_000 + 5_000_000):
        with pytest.raises(ValueError, match="not a phantom seed"):
            seed_identity(seed)
    with pytest.raises(ValueError):
        split_seeds("validation", 1)
    with pytest.raises(ValueError):
        split_seeds("train", 1, base_seed=-1)
