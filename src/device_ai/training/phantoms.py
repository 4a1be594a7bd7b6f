"""Synthetic CT phantoms with exact ground truth (the demo model's whole world).

Each case is one synthetic patient: a slab of contiguous axial slices through a body-like
ellipse in air, with a fat layer and soft tissue, one large organ of irregular smooth shape,
and 0 to 5 roughly round lesions inside it. Geometry is in millimetres, so physical sizes
hold whatever the pixel spacing. Labels are evaluated exactly at voxel centres from the
analytic shapes (lesion over organ); the image is the piecewise-constant HU map, mildly
blurred, plus Gaussian noise. Everything follows from the seed.

Intended use covered (issue #3): 256-512 px square, spacing 0.5-1.0 mm, thickness 1-5 mm,
organ 40-80 HU, lesions 10-40 mm across with +/-20-80 HU contrast, noise sigma 5-25 HU.

Known bias (generator phantoms/1, kept because the released model and the committed
study are reproduced from it): 0-5 lesions are wanted uniformly, but a lesion is kept only
if its centre falls in the thin slab and clear of the others, so fewer appear (over 210
seeds: 0: 15%, 1: 42%, 2: 22%, 3: 9%, 4: 8%, 5: 4%) and small ones are favoured; the
surrounding soft tissue is always 20-40 HU; nothing but body, organ and lesions is drawn.

Generator phantoms/2 (:mod:`device_ai.training.phantoms_v2`, ``generate_case(..., version=2)``)
states and samples the whole phantom world (docs/phantom_world.md); v1 stays here unchanged
and bit-identical, for the released 1.0.0 package's records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN

SPLITS = ("train", "verification", "test")
_PER_SPLIT = 1_000_000  # patients per split and base seed
_SPLIT_OFFSET = {"train": 0, "verification": 1_000_000, "test": 2_000_000}
_SPLIT_STRIDE = 10_000_000  # seeds per base seed
AIR_HU = -1000.0
GENERATOR_VERSION = "phantoms/1"


@dataclass(frozen=True)
class LesionSpec:
    """One lesion as drawn (nominal size; the outline is irregular by up to about 12%).

    ``center_mm`` is (z, y, x): z as :meth:`PhantomCase.z_positions_mm`, y down the rows
    and x along the columns, both from the image centre. The DICOM writer puts the image
    centre at patient x = y = 0 and slice k at z_positions_mm()[k], so these are the DICOM
    patient coordinates of the centre. ``contrast_hu`` is signed, relative to the organ.
    """

    center_mm: tuple[float, float, float]
    diameter_mm: float
    contrast_hu: float
    irregularity: float | None = None  # phantoms/2 only: outline within (1 +/- this) x radius


@dataclass(frozen=True)
class StructureSpec:
    """A structure that is not the organ and is never labelled (phantoms/2 only).

    ``kind``: ``mimic`` (soft tissue at organ-like HU), ``bone`` (blob), ``bone-ring``
    (cortex ``cortex_mm`` thick around soft tissue), ``vessel`` or ``air``. The same in every
    slice; ``center_mm`` is (y, x) from the image centre; ``size_mm`` is the nominal long
    axis of the irregular ellipse (short axis = ``aspect`` x long), ``hu`` its value.
    """

    kind: str
    center_mm: tuple[float, float]
    size_mm: float
    hu: float
    aspect: float
    irregularity: float
    cortex_mm: float | None = None


@dataclass(frozen=True)
class PhantomCase:
    """One synthetic patient: image, exact labels and the parameters they were drawn with.

    ``hu`` is int16 (Z, R, C) rounded HU; ``labels`` uint8 (Z, R, C): 0 background,
    1 organ, 2 lesion. Square pixels of ``pixel_spacing_mm``; contiguous slices, so the
    slice spacing equals ``slice_thickness_mm``. ``lesions`` lists only the lesions that
    appear in the volume. ``generator`` is the generator version that drew it; phantoms/2
    cases also record their ``domain`` (intended-use or training), every drawn value in
    ``parameters`` and the non-organ ``structures``.
    """

    patient_id: str
    patient_name: str
    seed: int
    split: str
    hu: np.ndarray
    labels: np.ndarray
    pixel_spacing_mm: float
    slice_thickness_mm: float
    lesions: tuple[LesionSpec, ...]
    noise_sigma_hu: float
    organ_hu: float
    generator: str = GENERATOR_VERSION
    domain: str | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    structures: tuple[StructureSpec, ...] = ()

    def z_positions_mm(self) -> np.ndarray:
        """Slice centre positions along z (mm), increasing with the slice index."""
        depth = self.hu.shape[0]
        return (np.arange(depth) - (depth - 1) / 2.0) * self.slice_thickness_mm


def split_seeds(split: str, count: int, base_seed: int = 0) -> list[int]:
    """Seeds of ``count`` patients of ``split``; the ranges of different splits never meet.

    Seed = ``base_seed * 10,000,000 + offset(split) + i`` with offsets 0, 1,000,000 and
    2,000,000 and ``i < 1,000,000``: no seed, and so no patient ID, is in two splits, and
    different base seeds never share a seed.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    if not 0 <= count <= _PER_SPLIT:
        raise ValueError(f"count must be between 0 and {_PER_SPLIT:,}")
    if base_seed < 0:
        raise ValueError("base_seed must be 0 or more")
    start = base_seed * _SPLIT_STRIDE + _SPLIT_OFFSET[split]
    return list(range(start, start + count))


def seed_identity(seed: int) -> tuple[str, str, str]:
    """``(split, patient_id, patient_name)`` of a seed from :func:`split_seeds` (cheap).

    The patient number is ``base_seed * 1,000,000 + i``, unique over all base seeds (for
    base seed 0 it is ``i``: ``PHANTOM-TRAIN-000123``). Seeds that :func:`split_seeds` never
    returns are refused, so one patient ID never names two different phantoms.
    """
    if seed < 0 or seed % _SPLIT_STRIDE >= len(SPLITS) * _PER_SPLIT:
        raise ValueError(f"seed {seed} is not a phantom seed (use split_seeds)")
    base, within = divmod(seed, _SPLIT_STRIDE)
    split = SPLITS[within // _PER_SPLIT]
    number = base * _PER_SPLIT + within % _PER_SPLIT
    tag = split.upper()
    return split, f"PHANTOM-{tag}-{number:06d}", f"PHANTOM^{tag}{number:06d}"


def _modulation(rng: np.random.Generator, orders: tuple[int, ...], amplitude: float) -> list[tuple[int, float, float]]:
    return [(k, float(rng.uniform(-amplitude, amplitude)), float(rng.uniform(0, 2 * np.pi))) for k in orders]


def _radius_factor(theta: np.ndarray, terms: list[tuple[int, float, float]]) -> np.ndarray:
    factor = np.ones_like(theta)
    for order, amp, phase in terms:
        factor += amp * np.cos(order * theta + phase)
    return factor


def generate_case(
    seed: int,
    *,
    split: str | None = None,
    n_slices: int | None = None,
    rows: int | None = None,
    version: int = 1,
    domain: str | None = None,
) -> PhantomCase:
    """One synthetic patient, fully determined by ``seed`` (same seed, identical arrays).

    The split follows from the seed (:func:`split_seeds`); ``split``, when given, must agree.
    ``n_slices`` and ``rows`` replace the drawn slab depth and matrix size; the rest of the
    case then changes too (the random stream shifts), but stays deterministic.

    ``version=1`` (the default) is generator phantoms/1, below, unchanged. ``version=2`` is
    :func:`device_ai.training.phantoms_v2.generate_case_v2` with ``domain`` ``"intended-use"``
    (the default) or ``"training"``; phantoms/1 has no domain.
    """
    if version == 2:
        from device_ai.training.phantoms_v2 import INTENDED_USE, generate_case_v2

        return generate_case_v2(seed, split=split, n_slices=n_slices, rows=rows, domain=domain or INTENDED_USE)
    if version != 1:
        raise ValueError(f"unknown phantom generator version {version!r}; use 1 or 2")
    if domain is not None:
        raise ValueError("phantoms/1 has one domain: leave domain unset for version 1")
    seed_split, patient_id, patient_name = seed_identity(seed)
    split = split or seed_split
    if split != seed_split:
        raise ValueError(f"seed {seed} belongs to split {seed_split!r}, not {split!r}")
    if n_slices is not None and n_slices < 1:
        raise ValueError("n_slices must be at least 1")
    if rows is not None and rows < 16:
        raise ValueError("rows must be at least 16")
    rng = np.random.default_rng(seed)
    size = int(rows) if rows is not None else int(rng.integers(256, 513))
    depth = int(n_slices) if n_slices is not None else int(rng.integers(6, 17))
    spacing = float(rng.uniform(0.5, 1.0))
    thickness = float(rng.uniform(1.0, 5.0))
    coords = (np.arange(size) - (size - 1) / 2.0) * spacing
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    theta = np.arctan2(yy, xx)

    # Body: an irregular ellipse filling 60-90% of the field of view, fat layer, soft tissue.
    half_fov = size * spacing / 2.0
    a = half_fov * rng.uniform(0.6, 0.9)
    b = a * rng.uniform(0.6, 0.85)
    body_terms = _modulation(rng, (2, 3, 5), 0.03)
    rho = np.sqrt((xx / a) ** 2 + (yy / b) ** 2) / _radius_factor(theta, body_terms)
    fat_mm = rng.uniform(3.0, 20.0)
    body = rho < 1.0
    inner = rho < 1.0 - fat_mm / b
    fat_hu, tissue_hu = rng.uniform(-120.0, -80.0), rng.uniform(20.0, 40.0)

    # Organ: a smooth irregular ellipsoid, 30-55% of the body width, inside the soft tissue.
    organ_hu = float(rng.uniform(40.0, 80.0))
    inner_a, inner_b = a - fat_mm, b - fat_mm
    rx = a * rng.uniform(0.3, 0.55)
    cx = rng.uniform(-0.15, 0.15) * inner_a
    cy = rng.uniform(-0.15, 0.15) * inner_b
    organ_terms = _modulation(rng, (2, 3, 4), 0.07)
    max_factor = 1.0 + sum(abs(amp) for _, amp, _ in organ_terms)
    min_factor = 1.0 - sum(abs(amp) for _, amp, _ in organ_terms)
    rx = min(rx, (0.85 * inner_a - abs(cx)) / max_factor)
    ry = min(rx * rng.uniform(0.6, 1.0), (0.85 * inner_b - abs(cy)) / max_factor)
    rz = rng.uniform(40.0, 90.0)
    z_terms = (float(rng.uniform(-0.1, 0.1)), float(rng.uniform(0, 2 * np.pi)))
    # The slab sits anywhere from the organ's centre to near its top or bottom.
    z_center = rng.uniform(-0.75, 0.75) * rz
    zs = (np.arange(depth) - (depth - 1) / 2.0) * thickness
    oz = zs + z_center  # slice z in organ coordinates

    def organ_inside(dz: np.ndarray) -> np.ndarray:
        dx, dy = xx[None] - cx, yy[None] - cy
        ang = np.arctan2(dy / ry, dx / rx)
        elev = dz[:, None, None] / rz
        factor = _radius_factor(ang, organ_terms) * (1.0 + z_terms[0] * np.cos(3.0 * elev + z_terms[1]))
        return (dx / rx) ** 2 + (dy / ry) ** 2 + elev**2 < factor**2

    organ = organ_inside(oz) & inner[None]

    # Lesions: 0-5 irregular spheres strictly inside the organ, not touching each other.
    lesions: list[LesionSpec] = []
    centers: list[tuple[np.ndarray, float]] = []  # in organ coordinates, for the spacing check
    lesion_mask = np.zeros_like(organ)
    wanted = int(rng.integers(0, 6))
    fit = min_factor * 0.9
    for _ in range(wanted * 40):
        if len(lesions) == wanted:
            break
        diameter = float(rng.uniform(10.0, 40.0))
        r = diameter / 2.0
        axes = np.array([rz * fit - r - 2.0, ry * fit - r - 2.0, rx * fit - r - 2.0])
        if np.any(axes <= 0):
            continue
        # centre: inside the shrunken organ and, to be seen, within the slab's z range
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        point = direction * axes * rng.uniform(0.0, 1.0) ** (1 / 3)
        lz = point[0]
        if not (oz[0] - r * 0.5 <= lz <= oz[-1] + r * 0.5):
            continue
        center = np.array([lz, cy + point[1], cx + point[2]])
        # Irregular outlines reach 12% beyond the nominal radius: keep them 3 mm apart even then.
        if any(np.linalg.norm(center - placed) < 1.15 * (r + pr) + 3.0 for placed, pr in centers):
            continue
        contrast = float(rng.uniform(20.0, 80.0) * rng.choice([-1.0, 1.0]))
        lesion_terms = _modulation(rng, (2, 3), 0.06)
        dz = oz[:, None, None] - center[0]
        dy = yy[None] - center[1]
        dx = xx[None] - center[2]
        dist = np.sqrt(dz**2 + dy**2 + dx**2)
        shape = dist < r * _radius_factor(np.arctan2(dy, dx), lesion_terms)
        shape &= organ
        if not shape.any():
            continue
        lesion_mask |= shape
        centers.append((center, r))
        lesions.append(LesionSpec((float(center[0] - z_center), float(center[1]), float(center[2])), diameter, contrast))
        lesion_hu_map = np.where(shape, organ_hu + contrast, 0.0)
        if len(lesions) == 1:
            lesion_hu = lesion_hu_map
        else:
            lesion_hu = np.where(shape, lesion_hu_map, lesion_hu)

    labels = np.zeros((depth, size, size), dtype=np.uint8)
    labels[organ] = DEMO_ORGAN.value
    labels[lesion_mask] = DEMO_LESION.value
    image = np.full((depth, size, size), AIR_HU, dtype=np.float32)
    image[:, body] = fat_hu
    image[:, inner] = tissue_hu
    image[organ] = organ_hu
    if lesions:
        image[lesion_mask] = lesion_hu[lesion_mask]
    blur = float(rng.uniform(0.5, 1.0))
    image = ndimage.gaussian_filter(image, sigma=(0.0, blur, blur), mode="nearest")
    sigma = float(rng.uniform(5.0, 25.0))
    image += rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    hu = np.clip(np.round(image), -2048, 3071).astype(np.int16)
    return PhantomCase(
        patient_id=patient_id,
        patient_name=patient_name,
        seed=seed,
        split=split,
        hu=hu,
        labels=labels,
        pixel_spacing_mm=spacing,
        slice_thickness_mm=thickness,
        lesions=tuple(lesions),
        noise_sigma_hu=sigma,
        organ_hu=organ_hu,
    )
