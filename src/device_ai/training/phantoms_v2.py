"""Synthetic CT phantoms, generator version 2 (``phantoms/2``): the phantom world, stated
completely, sampled over the whole of it (docs/phantom_world.md is the reader's version).

Every parameter of a phantom has a stated range in :data:`PHANTOM_WORLD_V2` (the intended
use: what verification and test cases are drawn from, and what a performance claim may
name) and in :data:`TRAINING_WORLD_V2` (a wider domain for training, domain randomization);
each range of the training domain contains the intended-use one. A case is drawn from one
*domain*, named explicitly (:data:`INTENDED_USE` or :data:`TRAINING`), and records its
generator version, its domain and every value it drew (:attr:`PhantomCase.parameters`,
:attr:`LesionSpec`, :attr:`StructureSpec`); :func:`recorded_values` gathers them by the
table's keys.

What changed against ``phantoms/1`` (which stays, bit-identical, in
:mod:`device_ai.training.phantoms`):

- the surrounding soft tissue is drawn over a wide range, darker or brighter than the organ
  (each with probability 1/2), always at least 15 HU away from it (v1: always 20-40 HU);
- structures that are not the organ and are never labelled: bone-like rings and blobs
  (300-1500 HU), vessels or other soft tissue (20-300 HU), one organ-like structure (the
  organ's HU +/- 10) outside the organ, air pockets inside the body;
- the lesion count is drawn uniformly from 0-5 and exactly that many lesions are placed
  (v1: a lesion was dropped when it did not fit, so counts leaned to 1);
- a lesion's diameter is its largest in-plane extent measured on the label map (farthest
  two pixel centres in one slice plus one pixel); the drawn radius is rescaled until the
  measured value matches the drawn target, and a lesion whose measured extent is outside
  the domain's range is never kept (v1: irregular outlines reached 44.8 mm);
- every lesion's centre lies in the slab and the whole lesion lies strictly inside the
  organ (every 6-neighbour of a lesion voxel is organ or lesion), 3 mm clear of the others;
- blur is stated in millimetres, noise may be spatially correlated (its standard deviation
  is still exactly the drawn sigma).

The ranges are marginal. Where parts must fit into each other the later draw is bounded by
the earlier ones (fat at most 30% of the body's short semi-axis; the organ's aspect and
offset so that it stays inside the body; structure sizes by the room left). The lesion
count and the lesions' diameters are drawn first; a case whose lesions or structures cannot
all be placed is redrawn from its acquisition onwards with the same count and diameters
(largest placed first). So counts and diameters keep their uniform distributions, while
the anatomy is conditioned on them: high counts and large lesions come with larger fields
of view and organs more often than few and small ones. Only after 100 such redraws may a
lesion that still does not fit shrink (not seen in 120 test cases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from scipy import ndimage
from scipy.spatial.distance import pdist

from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import (
    AIR_HU,
    LesionSpec,
    PhantomCase,
    StructureSpec,
    _radius_factor,
    seed_identity,
)

GENERATOR_VERSION = "phantoms/2"
INTENDED_USE = "intended-use"
TRAINING = "training"

# (low, high) of every parameter, both ends included; counts are integers. Keep in step
# with docs/phantom_world.md (a test compares the two).
PHANTOM_WORLD_V2: Mapping[str, tuple[float, float]] = MappingProxyType({
    # acquisition
    "matrix_px": (256, 512),
    "pixel_spacing_mm": (0.5, 1.0),
    "slice_thickness_mm": (1.0, 5.0),
    "slab_slices": (6, 16),
    "blur_mm": (0.3, 1.0),
    "noise_sigma_hu": (5.0, 25.0),
    "noise_correlation_px": (0.0, 1.0),
    # body
    "body_width_fov": (0.6, 0.9),
    "body_aspect": (0.6, 0.85),
    "body_irregularity": (0.0, 0.08),
    "fat_thickness_mm": (3.0, 25.0),
    "fat_hu": (-130.0, -70.0),
    "tissue_hu": (-10.0, 100.0),
    "tissue_organ_gap_hu": (15.0, 90.0),
    "tissue_side": (-1, 1),
    # organ
    "organ_hu": (40.0, 80.0),
    "organ_width_body": (0.3, 0.55),
    "organ_aspect": (0.6, 1.0),
    "organ_irregularity": (0.0, 0.21),
    "organ_taper": (0.0, 0.1),
    "organ_half_length_mm": (40.0, 90.0),
    "organ_offset_x": (-0.15, 0.15),
    "organ_offset_y": (-0.15, 0.15),
    "slab_position": (-0.75, 0.75),
    # lesions
    "lesion_count": (0, 5),
    "lesion_diameter_mm": (10.0, 40.0),
    "lesion_abs_contrast_hu": (20.0, 80.0),
    "lesion_irregularity": (0.0, 0.12),
    # structures that are not the organ (never labelled)
    "bone_count": (1, 3),
    "bone_hu": (300.0, 1500.0),
    "bone_size_mm": (8.0, 40.0),
    "bone_cortex_mm": (1.5, 4.0),
    "vessel_count": (1, 3),
    "vessel_hu": (20.0, 300.0),
    "vessel_diameter_mm": (4.0, 25.0),
    "mimic_count": (1, 1),
    "mimic_offset_hu": (-10.0, 10.0),
    "mimic_size_mm": (15.0, 50.0),
    "air_count": (1, 3),
    "air_hu": (-1000.0, -850.0),
    "air_size_mm": (4.0, 25.0),
    "structure_aspect": (0.5, 1.0),
    "structure_irregularity": (0.0, 0.15),
})

TRAINING_WORLD_V2: Mapping[str, tuple[float, float]] = MappingProxyType({
    **PHANTOM_WORLD_V2,
    "blur_mm": (0.2, 1.4),
    "noise_sigma_hu": (3.0, 30.0),
    "noise_correlation_px": (0.0, 1.5),
    "body_width_fov": (0.55, 0.95),
    "body_aspect": (0.55, 0.95),
    "body_irregularity": (0.0, 0.12),
    "fat_thickness_mm": (2.0, 30.0),
    "fat_hu": (-150.0, -50.0),
    "tissue_hu": (-30.0, 120.0),
    "tissue_organ_gap_hu": (15.0, 115.0),
    "organ_hu": (35.0, 85.0),
    "organ_width_body": (0.28, 0.6),
    "organ_aspect": (0.5, 1.0),
    "organ_irregularity": (0.0, 0.25),
    "organ_taper": (0.0, 0.12),
    "organ_half_length_mm": (35.0, 100.0),
    "slab_position": (-0.8, 0.8),
    "lesion_diameter_mm": (8.0, 44.0),
    "lesion_abs_contrast_hu": (15.0, 90.0),
    "lesion_irregularity": (0.0, 0.15),
    "bone_count": (0, 4),
    "bone_hu": (250.0, 1800.0),
    "bone_size_mm": (6.0, 50.0),
    "bone_cortex_mm": (1.0, 5.0),
    "vessel_count": (0, 4),
    "vessel_hu": (0.0, 350.0),
    "vessel_diameter_mm": (3.0, 30.0),
    "mimic_count": (0, 2),
    "mimic_offset_hu": (-12.0, 12.0),
    "mimic_size_mm": (10.0, 60.0),
    "air_count": (0, 4),
    "air_hu": (-1000.0, -800.0),
    "air_size_mm": (3.0, 30.0),
    "structure_aspect": (0.4, 1.0),
    "structure_irregularity": (0.0, 0.2),
})

DOMAINS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {INTENDED_USE: PHANTOM_WORLD_V2, TRAINING: TRAINING_WORLD_V2})

INTEGER_PARAMETERS = frozenset(
    {"matrix_px", "slab_slices", "tissue_side", "lesion_count", "bone_count", "vessel_count", "mimic_count", "air_count"})

# Fixed constraints (not drawn, the same in both domains); docs/phantom_world.md states them.
CONSTRAINTS_V2: Mapping[str, float] = MappingProxyType({
    "lesion_gap_mm": 3.0,  # lesions at least this far apart (3D), counting their irregular outlines
    "structure_organ_gap_mm": 3.0,  # non-organ structures at least this far from the organ (any slice)
    "structure_gap_mm": 2.0,  # ... and from each other
    "structure_fat_gap_mm": 1.0,  # ... and inside the soft tissue, clear of the fat layer
    "organ_body_fill": 0.85,  # the organ's outline stays within 85% of the soft-tissue semi-axes
    "max_fat_fraction": 0.3,  # fat at most 30% of the body's short semi-axis
})
_MAX_ATTEMPTS = 300
_RELAX_AFTER = 100  # draws with the drawn lesion diameters; then a lesion that does not fit may shrink
_SIX = ndimage.generate_binary_structure(3, 1)

# Which table keys each structure kind uses: (hu key, size key).
_STRUCTURE_KEYS = {
    "mimic": ("mimic_offset_hu", "mimic_size_mm"),
    "bone": ("bone_hu", "bone_size_mm"),
    "vessel": ("vessel_hu", "vessel_diameter_mm"),
    "air": ("air_hu", "air_size_mm"),
}


def v2_identity(seed: int) -> tuple[str, str, str]:
    """``(split, patient_id, patient_name)`` of a v2 case: ``PHANTOM2-TRAIN-000123``.

    The same seed names another phantom in v1 and v2, so v2 patients carry their own IDs;
    one patient ID never names two different phantoms.
    """
    split, patient_id, patient_name = seed_identity(seed)
    return split, patient_id.replace("PHANTOM-", "PHANTOM2-", 1), patient_name.replace("PHANTOM^", "PHANTOM2^", 1)


def largest_inplane_extent_mm(mask: np.ndarray, spacing_mm: float) -> float:
    """Lesion diameter as stated: over the slices of a (Z, R, C) or (R, C) mask, the largest
    distance between the centres of two pixels of one slice, plus one pixel (mm)."""
    planes = mask[None] if mask.ndim == 2 else mask
    best = 0.0
    for plane in planes:
        if not plane.any():
            continue
        points = np.argwhere(plane)
        if len(points) > 4:
            points = points[~ndimage.binary_erosion(plane)[tuple(points.T)]]  # the outline is enough
        extent = (float(pdist(points).max()) + 1.0) * spacing_mm if len(points) > 1 else spacing_mm
        best = max(best, extent)
    return best


def _uniform(rng: np.random.Generator, world: Mapping[str, tuple[float, float]], key: str,
             high: float | None = None, low: float | None = None) -> float:
    """Uniform over the stated range, narrowed to [low, high] where the parts must fit."""
    bottom, top = world[key]
    bottom = bottom if low is None else max(bottom, low)
    top = top if high is None else min(top, high)
    if bottom > top:
        raise _Infeasible
    return float(rng.uniform(bottom, top))


def _integer(rng: np.random.Generator, world: Mapping[str, tuple[float, float]], key: str) -> int:
    low, high = world[key]
    return int(rng.integers(int(low), int(high) + 1))


def _terms(rng: np.random.Generator, orders: tuple[int, ...], irregularity: float) -> list[tuple[int, float, float]]:
    """Harmonic outline terms whose amplitudes add up to ``irregularity``: the outline's
    radius stays within (1 +/- irregularity) times the nominal one."""
    weights = rng.dirichlet(np.ones(len(orders))) * irregularity
    signs = rng.choice([-1.0, 1.0], size=len(orders))
    phases = rng.uniform(0.0, 2 * np.pi, size=len(orders))
    return [(k, float(w * sg), float(ph)) for k, w, sg, ph in zip(orders, weights, signs, phases, strict=True)]


class _Infeasible(Exception):
    """This draw cannot hold its parts; the case is redrawn (same count, next random numbers)."""


def generate_case_v2(
    seed: int,
    *,
    split: str | None = None,
    n_slices: int | None = None,
    rows: int | None = None,
    domain: str = INTENDED_USE,
) -> PhantomCase:
    """One synthetic patient of generator ``phantoms/2``, fully determined by ``seed`` and
    ``domain`` (:data:`INTENDED_USE` or :data:`TRAINING`).

    Seeds and splits are those of :func:`device_ai.training.phantoms.split_seeds`; the IDs are
    :func:`v2_identity`'s. ``n_slices`` and ``rows`` replace the drawn slab depth and matrix
    size (recorded as drawn; ``rows`` below about 192 leaves no room for the anatomy and is
    refused).
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown phantom domain {domain!r}; use one of {tuple(DOMAINS)}")
    world = DOMAINS[domain]
    seed_split, patient_id, patient_name = v2_identity(seed)
    split = split or seed_split
    if split != seed_split:
        raise ValueError(f"seed {seed} belongs to split {seed_split!r}, not {split!r}")
    if n_slices is not None and n_slices < 1:
        raise ValueError("n_slices must be at least 1")
    if rows is not None and rows < 16:
        raise ValueError("rows must be at least 16")
    rng = np.random.default_rng([seed, 2])  # its own stream: v1's draws are not reused
    count = _integer(rng, world, "lesion_count")
    # The lesion diameters are drawn once, before the anatomy, and placed largest first: a
    # case is redrawn until its organ holds them, so the diameters stay uniform over the range.
    targets = sorted((_uniform(rng, world, "lesion_diameter_mm") for _ in range(count)), reverse=True)
    for attempt in range(_MAX_ATTEMPTS):
        try:
            drawn = _draw(rng, world, targets, n_slices, rows, relax=attempt >= _RELAX_AFTER)
        except _Infeasible:
            continue
        break
    else:
        raise ValueError(f"phantoms/2 could not fit the anatomy of seed {seed} in {_MAX_ATTEMPTS} draws "
                         f"(rows={rows}, n_slices={n_slices}): use a larger matrix")
    hu, labels, parameters, lesions, structures, spacing, thickness = drawn
    return PhantomCase(
        patient_id=patient_id,
        patient_name=patient_name,
        seed=seed,
        split=split,
        hu=hu,
        labels=labels,
        pixel_spacing_mm=spacing,
        slice_thickness_mm=thickness,
        lesions=lesions,
        noise_sigma_hu=parameters["noise_sigma_hu"],
        organ_hu=parameters["organ_hu"],
        generator=GENERATOR_VERSION,
        domain=domain,
        parameters=MappingProxyType(parameters),
        structures=structures,
    )


def _draw(rng: np.random.Generator, world: Mapping[str, tuple[float, float]], targets: list[float],
          n_slices: int | None, rows: int | None, *, relax: bool):  # noqa: ANN202 - internal tuple
    p: dict[str, float] = {"lesion_count": len(targets)}
    size = int(rows) if rows is not None else _integer(rng, world, "matrix_px")
    depth = int(n_slices) if n_slices is not None else _integer(rng, world, "slab_slices")
    spacing = _uniform(rng, world, "pixel_spacing_mm")
    thickness = _uniform(rng, world, "slice_thickness_mm")
    p.update(matrix_px=size, slab_slices=depth, pixel_spacing_mm=spacing, slice_thickness_mm=thickness)
    coords = (np.arange(size) - (size - 1) / 2.0) * spacing
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    theta = np.arctan2(yy, xx)

    # Body: irregular ellipse in air, fat layer (thickness along the short axis), soft tissue.
    half_fov = size * spacing / 2.0
    p["body_width_fov"] = _uniform(rng, world, "body_width_fov")
    p["body_aspect"] = _uniform(rng, world, "body_aspect")
    p["body_irregularity"] = _uniform(rng, world, "body_irregularity")
    a = half_fov * p["body_width_fov"]
    b = a * p["body_aspect"]
    rho = np.sqrt((xx / a) ** 2 + (yy / b) ** 2) / _radius_factor(theta, _terms(rng, (2, 3, 5), p["body_irregularity"]))
    fat_cap = CONSTRAINTS_V2["max_fat_fraction"] * b
    fat = p["fat_thickness_mm"] = _uniform(rng, world, "fat_thickness_mm", fat_cap)
    body = rho < 1.0
    inner = rho < 1.0 - fat / b
    inner_a, inner_b = a * (1.0 - fat / b), b - fat
    p["fat_hu"] = _uniform(rng, world, "fat_hu")

    # Organ HU, then the surrounding tissue on a side drawn with probability 1/2 each, at
    # least the stated gap away from the organ.
    organ_hu = p["organ_hu"] = _uniform(rng, world, "organ_hu")
    gap = world["tissue_organ_gap_hu"][0]
    low, high = world["tissue_hu"]
    sides = {-1: (low, min(high, organ_hu - gap)), 1: (max(low, organ_hu + gap), high)}
    side = int(rng.choice([-1, 1]))
    if sides[side][0] > sides[side][1]:
        side = -side
    tissue_hu = float(rng.uniform(*sides[side]))
    p.update(tissue_side=side, tissue_hu=tissue_hu, tissue_organ_gap_hu=abs(tissue_hu - organ_hu))

    # Organ: a smooth irregular ellipsoid inside the soft tissue; the slab cuts it anywhere
    # from its middle to near one end.
    width = p["organ_width_body"] = _uniform(rng, world, "organ_width_body")
    irregularity = p["organ_irregularity"] = _uniform(rng, world, "organ_irregularity")
    taper = p["organ_taper"] = _uniform(rng, world, "organ_taper")
    max_factor = (1.0 + irregularity) * (1.0 + taper)
    rx = width * inner_a
    fill = CONSTRAINTS_V2["organ_body_fill"]
    room_x = fill - width * max_factor
    if room_x < 0:
        raise _Infeasible
    aspect_high = fill * inner_b / (rx * max_factor)
    if aspect_high < world["organ_aspect"][0]:
        raise _Infeasible
    aspect = p["organ_aspect"] = _uniform(rng, world, "organ_aspect", aspect_high)
    ry = rx * aspect
    room_y = (fill * inner_b - ry * max_factor) / inner_b
    offset_x = p["organ_offset_x"] = _uniform(rng, world, "organ_offset_x", room_x, -room_x)
    offset_y = p["organ_offset_y"] = _uniform(rng, world, "organ_offset_y", room_y, -room_y)
    cx, cy = offset_x * inner_a, offset_y * inner_b
    organ_terms = _terms(rng, (2, 3, 4), irregularity)
    z_term = (taper * float(rng.choice([-1.0, 1.0])), float(rng.uniform(0, 2 * np.pi)))
    rz = p["organ_half_length_mm"] = _uniform(rng, world, "organ_half_length_mm")
    p["slab_position"] = _uniform(rng, world, "slab_position")
    z_center = p["slab_position"] * rz
    zs = (np.arange(depth) - (depth - 1) / 2.0) * thickness
    oz = zs + z_center  # slice z in organ coordinates
    dx, dy = xx - cx, yy - cy
    ang = np.arctan2(dy / ry, dx / rx)
    plane_factor = _radius_factor(ang, organ_terms)
    plane_rho2 = (dx / rx) ** 2 + (dy / ry) ** 2
    elev = oz / rz
    z_factor = 1.0 + z_term[0] * np.cos(3.0 * elev + z_term[1])
    organ = np.stack([plane_rho2 + e**2 < (plane_factor * f) ** 2 for e, f in zip(elev, z_factor, strict=True)])
    organ &= inner[None]
    if not organ.any():
        raise _Infeasible

    lesions, lesion_mask, lesion_value = _place_lesions(
        rng, world, targets, organ, oz, coords, spacing, z_center, organ_hu, relax)

    # Structures that are not the organ, in the soft tissue around it (the same in every slice).
    structures, paints = _place_structures(rng, world, p, inner, organ.any(axis=0), coords, spacing, organ_hu)

    labels = np.zeros((depth, size, size), dtype=np.uint8)
    labels[organ] = DEMO_ORGAN.value
    labels[lesion_mask] = DEMO_LESION.value
    image = np.full((depth, size, size), AIR_HU, dtype=np.float32)
    image[:, body] = p["fat_hu"]
    image[:, inner] = tissue_hu
    for mask, value in paints:
        image[:, mask] = value
    image[organ] = organ_hu
    image[lesion_mask] = lesion_value[lesion_mask]
    blur = p["blur_mm"] = _uniform(rng, world, "blur_mm")
    image = ndimage.gaussian_filter(image, sigma=(0.0, blur / spacing, blur / spacing), mode="nearest")
    sigma = p["noise_sigma_hu"] = _uniform(rng, world, "noise_sigma_hu")
    correlation = p["noise_correlation_px"] = _uniform(rng, world, "noise_correlation_px")
    noise = rng.standard_normal(size=image.shape, dtype=np.float32)
    if correlation > 0.0:
        noise = ndimage.gaussian_filter(noise, sigma=(0.0, correlation, correlation), mode="wrap")
        noise /= np.float32(noise.std())  # correlated, still exactly sigma overall
    image += np.float32(sigma) * noise
    hu = np.clip(np.round(image), -2048, 3071).astype(np.int16)
    return hu, labels, p, tuple(lesions), tuple(structures), spacing, thickness


def _place_lesions(rng, world, targets, organ, oz, coords, spacing, z_center, organ_hu, relax):  # noqa: ANN001, ANN202, PLR0913
    """One lesion per target diameter, each strictly inside the organ, its centre in the slab,
    its measured largest in-plane extent the target's (within half a pixel, and always within
    the domain's range), 3 mm from the others. A lesion that does not fit makes the draw
    infeasible, unless ``relax``: then, after 30 proposals, its target shrinks towards the
    range's low end."""
    count = len(targets)
    depth, size, _ = organ.shape
    lesion_mask = np.zeros_like(organ)
    lesion_value = np.zeros(organ.shape, dtype=np.float32)
    if count == 0:
        return [], lesion_mask, lesion_value
    interior = ndimage.binary_erosion(organ, structure=_SIX, border_value=1) & organ
    rows_any, cols_any = np.nonzero(interior.any(axis=(0, 2)))[0], np.nonzero(interior.any(axis=(0, 1)))[0]
    if rows_any.size == 0:
        raise _Infeasible
    r0, r1 = rows_any[0], rows_any[-1] + 1
    c0, c1 = cols_any[0], cols_any[-1] + 1
    # in-plane distance (mm) from each interior pixel to the nearest pixel outside the interior
    reach = np.stack([ndimage.distance_transform_edt(np.pad(plane[r0:r1, c0:c1], 1))[1:-1, 1:-1] * spacing
                      for plane in interior])
    ys, xs = coords[r0:r1], coords[c0:c1]
    dlo, dhi = world["lesion_diameter_mm"]
    gap = CONSTRAINTS_V2["lesion_gap_mm"]
    placed: list[tuple[np.ndarray, float]] = []  # (centre z, y, x in organ coordinates, outer radius)
    specs: list[LesionSpec] = []
    for wanted in targets:
        for proposal in range(60 if relax else 30):
            target = wanted
            if proposal >= 30:  # relaxed: aim smaller, the organ may not hold a large lesion here
                target = float(rng.uniform(dlo, dlo + (wanted - dlo) * (60 - proposal) / 30))
            irregularity = _uniform(rng, world, "lesion_irregularity")
            terms = _terms(rng, (2, 3), irregularity)
            cz = float(rng.uniform(oz[0], oz[-1]))
            bound = target / 2 * (1 + irregularity) * 1.15 + 0.75 * spacing
            ok = np.ones(reach.shape[1:], dtype=bool)
            for k in range(depth):
                dz = oz[k] - cz
                if abs(dz) < bound:
                    ok &= reach[k] > math.sqrt(bound**2 - dz**2)
            for centre, outer in placed:
                need = bound + outer + gap
                ok &= (ys[:, None] - centre[1]) ** 2 + (xs[None, :] - centre[2]) ** 2 >= need**2 - (cz - centre[0]) ** 2
            candidates = np.flatnonzero(ok)
            if candidates.size == 0:
                continue
            i, j = np.unravel_index(int(rng.choice(candidates)), ok.shape)
            cy = float(ys[i] + rng.uniform(-0.5, 0.5) * spacing)
            cx = float(xs[j] + rng.uniform(-0.5, 0.5) * spacing)
            radius, drawn = target / 2.0, None
            for _ in range(6):
                drawn = _lesion_mask(oz, coords, spacing, (cz, cy, cx), radius, terms)
                extent = largest_inplane_extent_mm(drawn[3], spacing)
                if extent == 0.0 or abs(extent - target) <= 0.5 * spacing:
                    break
                radius *= target / extent
            if drawn is None or extent == 0.0 or not dlo <= extent <= dhi:
                continue
            k0, k1, (i0, i1, j0, j1), shape = drawn
            if not np.all(interior[k0:k1, i0:i1, j0:j1][shape]):
                continue
            outer = radius * (1 + irregularity)
            centre = np.array([cz, cy, cx])
            if any(np.linalg.norm(centre - c) < outer + o + gap for c, o in placed):
                continue
            contrast = _uniform(rng, world, "lesion_abs_contrast_hu") * float(rng.choice([-1.0, 1.0]))
            lesion_mask[k0:k1, i0:i1, j0:j1] |= shape
            lesion_value[k0:k1, i0:i1, j0:j1][shape] = organ_hu + contrast
            placed.append((centre, outer))
            specs.append(LesionSpec((cz - z_center, cy, cx), extent, contrast, irregularity))
            break
        else:
            raise _Infeasible
    return specs, lesion_mask, lesion_value


def _lesion_mask(oz, coords, spacing, centre, radius, terms):  # noqa: ANN001, ANN202
    """The lesion (irregular sphere) over the slab, cropped: (k0, k1, (i0, i1, j0, j1), mask)."""
    cz, cy, cx = centre
    outer = radius * (1 + sum(abs(amp) for _, amp, _ in terms))
    size = len(coords)
    origin = coords[0]
    i0 = max(int(math.floor((cy - outer - origin) / spacing)) - 1, 0)
    i1 = min(int(math.ceil((cy + outer - origin) / spacing)) + 2, size)
    j0 = max(int(math.floor((cx - outer - origin) / spacing)) - 1, 0)
    j1 = min(int(math.ceil((cx + outer - origin) / spacing)) + 2, size)
    ks = np.nonzero(np.abs(oz - cz) < outer)[0]
    if ks.size == 0:
        ks = np.array([int(np.argmin(np.abs(oz - cz)))])
    k0, k1 = int(ks[0]), int(ks[-1]) + 1
    dz = (oz[k0:k1] - cz)[:, None, None]
    dy = (coords[i0:i1] - cy)[None, :, None]
    dx = (coords[j0:j1] - cx)[None, None, :]
    factor = _radius_factor(np.arctan2(dy, dx), terms)
    mask = dz**2 + dy**2 + dx**2 < (radius * factor) ** 2
    return k0, k1, (i0, i1, j0, j1), mask


def _place_structures(rng, world, p, inner, organ_plane, coords, spacing, organ_hu):  # noqa: ANN001, ANN202, PLR0913
    """Non-organ structures (extruded through the slab) in the soft tissue: the organ-like
    one first, then bones, vessels, air pockets. Returns their specs and (mask, HU) paints."""
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    to_fat = ndimage.distance_transform_edt(inner) * spacing
    to_organ = ndimage.distance_transform_edt(~organ_plane) * spacing
    occupied = np.zeros_like(inner)
    to_other = np.full(inner.shape, np.inf)
    fat_gap, organ_gap, other_gap = (
        CONSTRAINTS_V2[key] for key in ("structure_fat_gap_mm", "structure_organ_gap_mm", "structure_gap_mm"))
    specs: list[StructureSpec] = []
    paints: list[tuple[np.ndarray, float]] = []
    for kind in ("mimic", "bone", "vessel", "air"):
        number = p[f"{kind}_count"] = _integer(rng, world, f"{kind}_count")
        hu_key, size_key = _STRUCTURE_KEYS[kind]
        low, high = world[size_key]
        for _ in range(number):
            for proposal in range(40):
                top = high if proposal < 20 else low + (high - low) * (40 - proposal) / 20
                size = float(rng.uniform(low, top))
                aspect = _uniform(rng, world, "structure_aspect")
                irregularity = _uniform(rng, world, "structure_irregularity")
                outer = size / 2 * (1 + irregularity)
                ok = ((to_fat >= outer + fat_gap) & (to_organ >= outer + organ_gap) & (to_other >= outer + other_gap))
                candidates = np.flatnonzero(ok)
                if candidates.size == 0:
                    continue
                i, j = np.unravel_index(int(rng.choice(candidates)), ok.shape)
                cy, cx = float(coords[i]), float(coords[j])
                angle = float(rng.uniform(0.0, np.pi))
                terms = _terms(rng, (2, 3), irregularity)
                value = _uniform(rng, world, hu_key)
                hu = organ_hu + value if kind == "mimic" else value
                cortex = None
                shape = _ellipse(yy, xx, (cy, cx), size / 2, size / 2 * aspect, angle, terms)
                paint = shape
                # half the bones are rings (cortex around soft tissue) where the cortex fits in
                # half the short semi-axis
                ring_room = size / 2 * aspect / 2
                if kind == "bone" and rng.uniform() < 0.5 and ring_room >= world["bone_cortex_mm"][0]:
                    cortex = _uniform(rng, world, "bone_cortex_mm", ring_room)
                    hollow = _ellipse(yy, xx, (cy, cx), size / 2 - cortex, size / 2 * aspect - cortex, angle, terms)
                    paint = shape & ~hollow
                if not paint.any():
                    continue
                occupied |= shape
                to_other = ndimage.distance_transform_edt(~occupied) * spacing
                paints.append((paint, hu))
                specs.append(StructureSpec(
                    kind="bone-ring" if cortex is not None else kind, center_mm=(cy, cx), size_mm=size, hu=hu,
                    aspect=aspect, irregularity=irregularity, cortex_mm=cortex))
                break
            else:
                raise _Infeasible
    return specs, paints


def _ellipse(yy, xx, centre, semi_major, semi_minor, angle, terms):  # noqa: ANN001, ANN202, PLR0913
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * math.cos(angle) + dy * math.sin(angle)
    v = -dx * math.sin(angle) + dy * math.cos(angle)
    factor = _radius_factor(np.arctan2(v / semi_minor, u / semi_major), terms)
    return (u / semi_major) ** 2 + (v / semi_minor) ** 2 < factor**2


def recorded_values(case: PhantomCase) -> dict[str, list[float]]:
    """Every drawn value of a v2 case by the key of its range in the world tables."""
    values: dict[str, list[float]] = {key: [float(value)] for key, value in case.parameters.items()}
    for key in ("lesion_diameter_mm", "lesion_abs_contrast_hu", "lesion_irregularity"):
        values[key] = []
    for spec in case.lesions:
        values["lesion_diameter_mm"].append(spec.diameter_mm)
        values["lesion_abs_contrast_hu"].append(abs(spec.contrast_hu))
        values["lesion_irregularity"].append(float(spec.irregularity or 0.0))
    for key in ("bone_hu", "bone_size_mm", "bone_cortex_mm", "vessel_hu", "vessel_diameter_mm", "mimic_offset_hu",
                "mimic_size_mm", "air_hu", "air_size_mm", "structure_aspect", "structure_irregularity"):
        values[key] = []
    for spec in case.structures:
        kind = "bone" if spec.kind.startswith("bone") else spec.kind
        hu_key, size_key = _STRUCTURE_KEYS[kind]
        values[hu_key].append(spec.hu - case.organ_hu if kind == "mimic" else spec.hu)
        values[size_key].append(spec.size_mm)
        values["structure_aspect"].append(spec.aspect)
        values["structure_irregularity"].append(spec.irregularity)
        if spec.cortex_mm is not None:
            values["bone_cortex_mm"].append(spec.cortex_mm)
    return values
