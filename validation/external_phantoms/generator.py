"""Clean-room synthetic axial CT phantoms: one organ, 0-5 focal lesions, non-organ distractors.

Written from the intended-use statement of issue 14 (item 4) alone, without reading the device's
own phantom generator. Every quantity is drawn from a ``numpy.random.Generator`` seeded from the
case seed, so ``generate(seed)`` is a pure function of ``seed``.

Model
-----
Each structure is a continuous shape in patient millimetres (x to the patient's left = columns,
y posterior = rows, z superior = slices). Each slice is sampled on ``z_subsamples`` planes inside
its slab (odd count, >= 3); every sample point gets one tissue class (painter's order), the
slice's HU is the mean of the class values over the planes (partial volume along z), and the
ground truth of a voxel is the class that covers at least half of its planes:
Lesion where one lesion covers >= 1/2, else Organ where organ (lesions included) covers >= 1/2.
Then an in-plane Gaussian PSF, Gaussian noise (white or correlated), rounding to integer HU and
clipping to the stored range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage, signal

GENERATOR_NAME = "device_ai external phantom generator (clean-room, issue 14 item 4)"
GENERATOR_VERSION = "1.0.0"

# Ground-truth label values of this generator (the SEG segment numbers are the same).
ORGAN_LABEL = 1
LESION_LABEL = 2

# The ranges as implemented (README.md and the tests quote these).
MATRIX_CHOICES = tuple(range(256, 513, 32))
PIXEL_SPACING_MM = (0.5, 1.0)
MIN_FOV_MM = 210.0
SLICE_THICKNESS_MM = (1.0, 5.0)
SLICES = (4, 24)
NOISE_SIGMA_HU = (5.0, 25.0)
NOISE_CORRELATION_PX = (0.5, 1.2)
PSF_SIGMA_PX = (0.5, 1.5)
AIR_HU = -1000.0
FAT_HU = (-150.0, -50.0)
FAT_THICKNESS_MM = (3.0, 25.0)
TISSUE_HU = (-10.0, 60.0)
ORGAN_TISSUE_GAP_HU = 15.0
ORGAN_HU = (40.0, 80.0)
LESION_COUNT = (0, 5)
LESION_DIAMETER_MM = (10.0, 40.0)
LESION_CONTRAST_HU = (20.0, 80.0)
BONE_HU = (300.0, 1500.0)
SOFT_STRUCTURE_HU = (20.0, 300.0)
GAS_HU = (-1000.0, -700.0)
BODY_FOV_FILL = (0.5, 0.88)
ENCODINGS = (  # (PixelRepresentation, RescaleIntercept); RescaleSlope is 1
    (0, -1024.0),
    (1, -1024.0),
    (1, 0.0),
)
HU_CLIP = (-1024.0, 3071.0)

# Tissue classes of the sampling planes (internal; not the ground-truth values).
_AIR, _FAT, _TISSUE, _RIB, _SPINE_CORTEX, _SPINE_MARROW, _VESSEL, _KIDNEY = range(8)
_GAS0 = 8          # 8..11: air pockets
_ORGAN = 12
_LESION0 = 13      # 13..17: lesions
_MAX_GAS = 4

# Codes of the non-organ structure map (ExternalCase.structure_map).
STRUCTURE_CODES = {"spine": 1, "ribs": 2, "vessel": 3, "kidney_like": 4, "air_pockets": 5}
_CLASS_TO_STRUCTURE = {_SPINE_CORTEX: "spine", _SPINE_MARROW: "spine", _RIB: "ribs", _VESSEL: "vessel",
                       _KIDNEY: "kidney_like", **{_GAS0 + i: "air_pockets" for i in range(_MAX_GAS)}}


@dataclass
class ExternalCase:
    """One synthetic series: HU volume and ground truth at the source matrix, both (Z, R, C)."""

    seed: int
    hu: np.ndarray                 # float32, integer-valued HU exactly as written to DICOM
    labels: np.ndarray             # uint8: 0 background/other, ORGAN_LABEL, LESION_LABEL
    spacing: tuple[float, float, float]   # (slice spacing, row spacing, column spacing) in mm
    thickness: float               # slice thickness in mm (equal to the slice spacing)
    origin: tuple[float, float, float]    # (x, y, z) mm of voxel (0, 0, 0)
    parameters: dict[str, Any]
    lesion_instances: np.ndarray   # uint8: 0, or 1 + index of the lesion in parameters["lesions"]
    structure_map: np.ndarray      # uint8: STRUCTURE_CODES where a non-organ structure covers >= 1/2
    encoding: tuple[int, float] = field(default=(1, 0.0))  # (PixelRepresentation, RescaleIntercept)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _fmt(value: float, digits: int = 3) -> float:
    """A value that round-trips exactly through a DICOM DS string."""
    return float(f"{value:.{digits}f}")


def _superellipse_radius(theta: np.ndarray, a: float, b: float, p: float) -> np.ndarray:
    c = np.abs(np.cos(theta)) / a
    s = np.abs(np.sin(theta)) / b
    return (c ** p + s ** p) ** (-1.0 / p)


def _ellipse_radius(theta: np.ndarray, a: float, b: float, rot: float) -> np.ndarray:
    t = theta - rot
    return (a * b) / np.sqrt((b * np.cos(t)) ** 2 + (a * np.sin(t)) ** 2)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class _Grid:
    """Pixel-centre coordinates (mm) of the source matrix and the slab sampling planes."""

    def __init__(self, matrix: int, spacing: float, slices: int, thickness: float, n_sub: int) -> None:
        self.n = matrix
        self.ps = spacing
        self.slices = slices
        self.thickness = thickness
        self.n_sub = n_sub
        coords = (np.arange(matrix, dtype=np.float64) - (matrix - 1) / 2.0) * spacing
        self.x = coords          # columns
        self.y = coords          # rows
        self.z = (np.arange(slices, dtype=np.float64) - (slices - 1) / 2.0) * thickness
        offsets = ((np.arange(n_sub) + 0.5) / n_sub - 0.5) * thickness
        self.planes = self.z[:, None] + offsets[None, :]     # (slices, n_sub)
        self.half_extent = slices * thickness / 2.0

    def index_box(self, cx: float, cy: float, radius: float) -> tuple[slice, slice]:
        c0 = max(0, int(np.floor((cx - radius - self.x[0]) / self.ps)))
        c1 = min(self.n, int(np.ceil((cx + radius - self.x[0]) / self.ps)) + 1)
        r0 = max(0, int(np.floor((cy - radius - self.y[0]) / self.ps)))
        r1 = min(self.n, int(np.ceil((cy + radius - self.y[0]) / self.ps)) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------

def _draw_acquisition(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        matrix = int(rng.choice(MATRIX_CHOICES))
        spacing = _fmt(_u(rng, *PIXEL_SPACING_MM), 3)
        if matrix * spacing >= MIN_FOV_MM:
            break
    thickness = _fmt(round(_u(rng, *SLICE_THICKNESS_MM) / 0.05) * 0.05, 2)
    thickness = min(max(thickness, SLICE_THICKNESS_MM[0]), SLICE_THICKNESS_MM[1])
    slices = int(rng.integers(SLICES[0], SLICES[1] + 1))
    n_sub = max(3, int(np.ceil(thickness / 1.0)))
    n_sub += 1 - n_sub % 2
    correlated = bool(rng.random() < 0.5)
    encoding = ENCODINGS[int(rng.integers(len(ENCODINGS)))]
    return {
        "matrix": matrix,
        "pixel_spacing_mm": spacing,
        "fov_mm": _fmt(matrix * spacing, 3),
        "slice_thickness_mm": thickness,
        "slice_spacing_mm": thickness,
        "slices": slices,
        "z_extent_mm": _fmt(slices * thickness, 3),
        "z_subsamples": n_sub,
        "noise_sigma_hu": _u(rng, *NOISE_SIGMA_HU),
        "noise_correlated": correlated,
        "noise_correlation_sigma_px": _u(rng, *NOISE_CORRELATION_PX) if correlated else None,
        "psf_sigma_px": _u(rng, *PSF_SIGMA_PX),
        "pixel_representation": encoding[0],
        "rescale_intercept": encoding[1],
        "rescale_slope": 1.0,
    }


def _draw_body(rng: np.random.Generator, acq: dict[str, Any]) -> dict[str, Any]:
    fov = acq["fov_mm"]
    width = _u(rng, max(170.0, BODY_FOV_FILL[0] * fov), min(BODY_FOV_FILL[1] * fov, 450.0))
    depth = width * _u(rng, 0.62, 0.85)
    cx = _u(rng, -1, 1) * 0.3 * (fov - width) / 2.0
    cy = _u(rng, -1, 1) * 0.3 * (fov - depth) / 2.0
    harmonics = [(k, _u(rng, -0.02, 0.02), _u(rng, 0, 2 * np.pi)) for k in (2, 3, 4)]
    fat_mean = _u(rng, 4.0, min(22.0, 0.12 * width))
    fat_var = _u(rng, 0, 1) * min(fat_mean - FAT_THICKNESS_MM[0], FAT_THICKNESS_MM[1] - fat_mean, 0.5 * fat_mean)
    return {
        "width_mm": width,
        "depth_mm": depth,
        "fov_fill": width / fov,
        "center_mm": [cx, cy],
        "superellipse_exponent": _u(rng, 2.0, 3.0),
        "outline_harmonics": [[k, a, ph] for k, a, ph in harmonics],
        "z_taper_per_mm": _u(rng, -0.0005, 0.0005),
        "air_hu": AIR_HU,
        "fat_hu": _u(rng, *FAT_HU),
        "fat_thickness_mean_mm": fat_mean,
        "fat_thickness_variation_mm": fat_var,
        "fat_thickness_phase": _u(rng, 0, 2 * np.pi),
        "fat_thickness_mm": {"min": fat_mean - fat_var, "max": fat_mean + fat_var},
    }


def _draw_intensities(rng: np.random.Generator) -> dict[str, Any]:
    brighter = bool(rng.random() < 0.35)
    if brighter:
        organ = _u(rng, ORGAN_HU[0], TISSUE_HU[1] - ORGAN_TISSUE_GAP_HU - 2.0)
        lo, hi = organ + ORGAN_TISSUE_GAP_HU, TISSUE_HU[1]
    else:
        organ = _u(rng, *ORGAN_HU)
        lo, hi = TISSUE_HU[0], organ - ORGAN_TISSUE_GAP_HU
    base = _u(rng, lo, hi)
    amplitude = _u(rng, 0, 1) * min(base - lo, hi - base, 12.0)
    waves = [[_u(rng, 0.3, 1.5), _u(rng, 0, 2 * np.pi), _u(rng, 0, 2 * np.pi), _u(rng, 0.3, 1.0)] for _ in range(3)]
    return {
        "organ_hu": organ,
        "tissue_relative_to_organ": "brighter" if brighter else "darker",
        "tissue_hu_base": base,
        "tissue_hu_regional_amplitude": amplitude,
        "tissue_hu_bounds": {"min": base - amplitude, "max": base + amplitude},
        "tissue_waves": waves,   # cycles per body width, direction, phase, weight
    }


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------

class _Body:
    def __init__(self, grid: _Grid, body: dict[str, Any]) -> None:
        self.p = body
        cx, cy = body["center_mm"]
        self.cx, self.cy = cx, cy
        xx = grid.x[None, :] - cx
        yy = grid.y[:, None] - cy
        self.r = np.hypot(xx, yy).astype(np.float32)
        self.theta = np.arctan2(yy, xx)
        base = _superellipse_radius(self.theta, body["width_mm"] / 2, body["depth_mm"] / 2, body["superellipse_exponent"])
        mod = 1.0 + sum(a * np.cos(k * self.theta + ph) for k, a, ph in body["outline_harmonics"])
        self.r0 = (base * mod).astype(np.float32)
        self.fat = (body["fat_thickness_mean_mm"]
                    + body["fat_thickness_variation_mm"] * np.cos(self.theta - body["fat_thickness_phase"])).astype(np.float32)
        self.g = body["z_taper_per_mm"]
        zs = grid.planes.ravel()
        self.scale_min = float(np.min(1.0 + self.g * zs))
        self.scale_max = float(np.max(1.0 + self.g * zs))

    def outer(self, z: float) -> np.ndarray:
        return self.r0 * np.float32(1.0 + self.g * z)

    def inner(self, z: float) -> np.ndarray:
        return self.outer(z) - self.fat

    def inner_radius_at(self, angle: float, scale: float = 1.0) -> float:
        p = self.p
        base = float(_superellipse_radius(np.array(angle), p["width_mm"] / 2, p["depth_mm"] / 2, p["superellipse_exponent"]))
        mod = 1.0 + sum(a * np.cos(k * angle + ph) for k, a, ph in p["outline_harmonics"])
        fat = p["fat_thickness_mean_mm"] + p["fat_thickness_variation_mm"] * np.cos(angle - p["fat_thickness_phase"])
        return base * mod * scale - fat


class _Organ:
    """Union of 2-4 star-shaped lobes whose contours vary smoothly along z."""

    def __init__(self, lobes: list[dict[str, Any]]) -> None:
        self.lobes = lobes
        self._angles = np.linspace(-np.pi, np.pi, 2049)

    def lobe_radius(self, lobe: dict[str, Any], theta: np.ndarray, z: float) -> np.ndarray | None:
        u = (z - lobe["z_center"]) / lobe["z_half"]
        if abs(u) >= 1.0:
            return None
        m = lobe["profile_exponent"]
        s = (1.0 - abs(u) ** m) ** (1.0 / m)
        zz = z / 50.0
        mod = np.ones_like(theta)
        for k, a, b, ph, w in lobe["harmonics"]:
            mod += (a + b * zz) * np.cos(k * (theta - lobe["rotation"]) + ph + w * zz)
        mod = np.maximum(mod, 0.6)
        return s * lobe["scale"] * _ellipse_radius(theta, lobe["a"], lobe["b"], lobe["rotation"]) * mod

    def _cx(self, lobe: dict[str, Any], z: float) -> float:
        return self.anchor[0] + self.scale * (lobe["dx"]) + lobe["drift_x"] * z

    def _cy(self, lobe: dict[str, Any], z: float) -> float:
        return self.anchor[1] + self.scale * (lobe["dy"]) + lobe["drift_y"] * z

    def bound(self) -> float:
        """Upper bound (mm) of the distance of any organ point from the anchor."""
        out = 0.0
        for lobe in self.lobes:
            amp = sum(abs(a) + abs(b) * 1.3 for _k, a, b, _ph, _w in lobe["harmonics"])
            r = self.scale * max(lobe["a"], lobe["b"]) * (1.0 + amp)
            d = self.scale * np.hypot(lobe["dx"], lobe["dy"]) + np.hypot(lobe["drift_x"], lobe["drift_y"]) * 65.0
            out = max(out, r + d)
        return out + 2.0

    def plane(self, gx: np.ndarray, gy: np.ndarray, z: float) -> np.ndarray:
        """Boolean occupancy on the grid gx (1, w), gy (h, 1) at height z."""
        inside = np.zeros((gy.shape[0], gx.shape[1]), dtype=bool)
        for lobe in self.lobes:
            lobe_scaled = dict(lobe, scale=self.scale)
            table = self.lobe_radius(lobe_scaled, self._angles, z)
            if table is None:
                continue
            dx = gx - self._cx(lobe, z)
            dy = gy - self._cy(lobe, z)
            rad = np.interp(np.arctan2(dy, dx), self._angles, table)
            inside |= (dx * dx + dy * dy) < rad * rad
        return inside


def _draw_organ(rng: np.random.Generator, grid: _Grid, body: _Body) -> tuple[_Organ, dict[str, Any]]:
    p = body.p
    a_in = p["width_mm"] / 2 - p["fat_thickness_mean_mm"]
    b_in = p["depth_mm"] / 2 - p["fat_thickness_mean_mm"]
    lobulation = _u(rng, 0.01, 0.10)
    half = grid.half_extent

    def harmonics() -> list[list[float]]:
        return [[k, lobulation * _u(rng, -1, 1) * 2.0 / k, lobulation * _u(rng, -0.5, 0.5) * 2.0 / k,
                 _u(rng, 0, 2 * np.pi), _u(rng, -0.6, 0.6)] for k in range(2, 8)]

    main_half = _u(rng, 70.0, 130.0)
    room = max(0.0, 0.85 * main_half - half)
    main = {
        "role": "main", "dx": 0.0, "dy": 0.0,
        "a": a_in * _u(rng, 0.42, 0.62), "b": b_in * _u(rng, 0.42, 0.62), "rotation": _u(rng, 0, np.pi),
        "z_center": _u(rng, -1, 1) * room, "z_half": main_half, "profile_exponent": _u(rng, 2.5, 4.0),
        "drift_x": _u(rng, -0.08, 0.08), "drift_y": _u(rng, -0.08, 0.08), "harmonics": harmonics(),
    }
    lobes = [main]
    for _ in range(int(rng.integers(1, 4))):
        ang = _u(rng, 0, 2 * np.pi)
        dist = _u(rng, 0.35, 0.7) * min(main["a"], main["b"])
        lobes.append({
            "role": "secondary", "dx": dist * np.cos(ang), "dy": dist * np.sin(ang),
            "a": main["a"] * _u(rng, 0.35, 0.7), "b": main["b"] * _u(rng, 0.35, 0.7), "rotation": _u(rng, 0, np.pi),
            "z_center": _u(rng, -1, 1) * (half + 20.0), "z_half": _u(rng, 25.0, 80.0),
            "profile_exponent": _u(rng, 2.0, 3.5),
            "drift_x": _u(rng, -0.08, 0.08), "drift_y": _u(rng, -0.08, 0.08), "harmonics": harmonics(),
        })
    organ = _Organ(lobes)
    angle = _u(rng, np.deg2rad(-170), np.deg2rad(-10))   # anterior half (y < 0), either side
    radial = _u(rng, 0.15, 0.4)
    organ.anchor = (body.cx + radial * a_in * np.cos(angle), body.cy + radial * b_in * np.sin(angle))
    organ.scale = 1.0
    return organ, {"lobes": len(lobes), "lobulation": lobulation, "main_z_half_mm": main_half,
                   "anchor_mm": list(organ.anchor), "lobe_definitions": lobes}


# --------------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------------

def generate(seed: int) -> ExternalCase:
    """One phantom, fully determined by ``seed`` (a non-negative integer)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    seed = int(seed)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([0x45585450, seed]).spawn(7)]
    acq_rng, body_rng, int_rng, organ_rng, struct_rng, lesion_rng, noise_rng = streams

    acq = _draw_acquisition(acq_rng)
    body_p = _draw_body(body_rng, acq)
    ints = _draw_intensities(int_rng)
    grid = _Grid(acq["matrix"], acq["pixel_spacing_mm"], acq["slices"], acq["slice_thickness_mm"], acq["z_subsamples"])
    body = _Body(grid, body_p)

    # --- fixed skeleton: spine and ribs (z-invariant up to the body taper) ---------------------
    rib_offset = _u(struct_rng, 1.0, 4.0)
    rib_width = _u(struct_rng, 4.0, 8.0)
    wall_margin = rib_offset + rib_width + 4.0
    spine_rx = float(np.clip(body_p["width_mm"] * _u(struct_rng, 0.075, 0.11), 13.0, 24.0))
    spine_ry = spine_rx * _u(struct_rng, 0.75, 0.9)
    spine_gap = _u(struct_rng, 3.0, 8.0)
    spine_cx = body.cx + _u(struct_rng, -3.0, 3.0)
    spine_cy = body.cy + body.inner_radius_at(np.pi / 2, body.scale_min) - wall_margin - spine_gap - spine_ry
    spine = {
        "present": True, "center_mm": [spine_cx, spine_cy], "semi_axes_mm": [spine_rx, spine_ry],
        "drift_y_per_mm": _u(struct_rng, -0.08, 0.08),
        "cortex_thickness_mm": _u(struct_rng, 1.5, 3.0),
        "cortex_hu": _u(struct_rng, 700.0, BONE_HU[1]), "marrow_hu": _u(struct_rng, BONE_HU[0], 600.0),
    }
    n_ribs = int(struct_rng.integers(4, 11))
    rib_arcs = []
    for _ in range(n_ribs):
        while True:
            centre = _u(struct_rng, -np.pi, np.pi)
            if abs(np.angle(np.exp(1j * (centre - np.pi / 2)))) > np.deg2rad(35):
                break
        rib_arcs.append([centre, np.deg2rad(_u(struct_rng, 8.0, 25.0))])
    ribs = {"present": True, "count": n_ribs, "hu": _u(struct_rng, 400.0, 1200.0), "offset_from_muscle_wall_mm": rib_offset,
            "width_mm": rib_width, "arcs_rad": rib_arcs}
    dtheta = np.angle(np.exp(1j * (body.theta[None] - np.array([c for c, _w in rib_arcs])[:, None, None])))
    rib_angles = np.any(np.abs(dtheta) < (np.array([w for _c, w in rib_arcs]) / 2)[:, None, None], axis=0)
    del dtheta

    def spine_masks(z: float) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
        cy = spine_cy + spine["drift_y_per_mm"] * z
        box = grid.index_box(spine_cx, cy, spine_rx + 2)
        dx = (grid.x[box[1]][None, :] - spine_cx)
        dy = (grid.y[box[0]][:, None] - cy)
        outer = (dx / spine_rx) ** 2 + (dy / spine_ry) ** 2 < 1.0
        t = spine["cortex_thickness_mm"]
        inner = (dx / (spine_rx - t)) ** 2 + (dy / (spine_ry - t)) ** 2 < 1.0
        return outer, inner, box

    # --- organ: draw, then shrink until it clears the body wall and the spine ------------------
    allowed_r = body.r0 * np.float32(body.scale_min) - body.fat - np.float32(wall_margin)
    organ_allowed = body.r < allowed_r
    spine_zone = np.zeros((grid.n, grid.n), dtype=bool)
    for z in (grid.planes[0, 0], 0.0, grid.planes[-1, -1]):
        outer, _inner, box = spine_masks(z)
        spine_zone[box] |= outer
    spine_zone = ndimage.binary_dilation(spine_zone, iterations=max(1, int(np.ceil(4.0 / grid.ps))))
    organ_allowed &= ~spine_zone
    gxx = grid.x[None, :]
    gyy = grid.y[:, None]
    forbidden = (~organ_allowed).astype(np.float32)
    # "a substantial part of the body section": at least 12 % of it on the central slice, less
    # only where fat, the rib layer and the spine leave little room (a quarter of what is left)
    min_fraction = min(0.12, 0.25 * float(organ_allowed.sum()) / float(np.sum(body.r < body.outer(0.0))))
    body_area = float(np.sum(body.r < body.outer(float(grid.z[grid.slices // 2]))))
    check_planes = np.concatenate([grid.planes[:, grid.n_sub // 2], grid.planes[[0, -1], [0, -1]]])
    organ = None
    organ_info: dict[str, Any] = {}
    shifted = 0.0
    for attempt in range(60):
        if organ is None:
            organ, organ_info = _draw_organ(organ_rng, grid, body)
        # footprint on a local grid centred on the anchor's pixel (not clipped by the image)
        m = int(np.ceil(organ.bound() / grid.ps))
        ac = int(np.clip(np.rint((organ.anchor[0] - grid.x[0]) / grid.ps), 0, grid.n - 1))
        ar = int(np.clip(np.rint((organ.anchor[1] - grid.y[0]) / grid.ps), 0, grid.n - 1))
        organ.anchor = (float(grid.x[ac]), float(grid.y[ar]))
        local = (np.arange(-m, m + 1) * grid.ps)
        lx, ly = (organ.anchor[0] + local)[None, :], (organ.anchor[1] + local)[:, None]
        footprint = np.zeros((2 * m + 1, 2 * m + 1), dtype=bool)
        central = None
        present = 0
        for i, z in enumerate(check_planes):
            occ = organ.plane(lx, ly, float(z))
            footprint |= occ
            if i < grid.slices:
                present += bool(occ.sum() * grid.ps ** 2 >= 20.0)
                if i == grid.slices // 2:
                    central = occ
        fraction = float(central.sum()) / body_area
        if fraction < min_fraction or present < grid.slices - 1:
            organ = None     # too small, or missing on slices: draw a new organ
            continue
        if 2 * m + 1 > grid.n:
            organ.scale *= 0.92
            continue
        # overlap of the footprint with the forbidden zone for every placement of its box
        rows, cols = np.nonzero(footprint)
        fr0, fr1, fc0, fc1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        tight = footprint[fr0:fr1, fc0:fc1].astype(np.float32)
        overlap = signal.fftconvolve(forbidden, tight[::-1, ::-1], mode="valid")
        ok = np.argwhere(overlap < 0.5)
        if ok.size == 0:
            organ.scale *= 0.92
            continue
        # the anchor pixel for box top-left (i, j) is (i - fr0 + m, j - fc0 + m)
        anchors = ok + np.array([m - fr0, m - fc0])
        d2 = (anchors[:, 0] - ar) ** 2 + (anchors[:, 1] - ac) ** 2
        best = anchors[int(np.argmin(d2))]
        shifted = float(np.sqrt(d2.min())) * grid.ps
        organ.anchor = (float(grid.x[best[1]]), float(grid.y[best[0]]))
        break
    else:
        raise RuntimeError(f"seed {seed}: no organ fitted the body")
    assert organ is not None
    box = grid.index_box(organ.anchor[0], organ.anchor[1], organ.bound())
    bx, by = gxx[:, box[1]], gyy[box[0], :]

    # full organ occupancy on every sampling plane (inside the organ's box)
    obox = box
    oh, ow = obox[0].stop - obox[0].start, obox[1].stop - obox[1].start
    organ_occ = np.zeros((grid.slices, grid.n_sub, oh, ow), dtype=bool)
    for k in range(grid.slices):
        for j in range(grid.n_sub):
            organ_occ[k, j] = organ.plane(bx, by, float(grid.planes[k, j]))
    organ_foot = np.zeros((grid.n, grid.n), dtype=bool)
    organ_foot[obox] = organ_occ.any(axis=(0, 1))
    if np.any(organ_foot & ~organ_allowed):
        raise RuntimeError(f"seed {seed}: organ crosses the wall/spine margin between check planes")
    organ_truth_box = organ_occ.mean(axis=1) >= 0.5
    organ_area_central = float(organ_truth_box[grid.slices // 2].sum()) * grid.ps ** 2

    # --- vessel, kidney-like structure and air pockets in the free soft tissue ------------------
    occupied = ~organ_allowed | ndimage.binary_dilation(organ_foot, iterations=max(1, int(np.ceil(4.0 / grid.ps))))
    occupied |= spine_zone

    def place(radius: float) -> tuple[float, float] | None:
        free_mm = ndimage.distance_transform_edt(~occupied) * grid.ps
        rows, cols = np.nonzero(free_mm >= radius + 3.0)
        if rows.size == 0:
            return None
        i = int(struct_rng.integers(rows.size))
        return float(grid.x[cols[i]]), float(grid.y[rows[i]])

    def claim(cx: float, cy: float, radius: float) -> None:
        occupied[(gxx - cx) ** 2 + (gyy - cy) ** 2 < (radius + 3.0) ** 2] = True

    vessel_r = _u(struct_rng, 5.0, 13.0)
    vessel_drift = [_u(struct_rng, -0.08, 0.08), _u(struct_rng, -0.08, 0.08)]
    vessel_hu = _u(struct_rng, 120.0, SOFT_STRUCTURE_HU[1])
    reach = vessel_r + np.hypot(*vessel_drift) * grid.half_extent + 1.0
    at = place(reach)
    vessel = {"present": at is not None, "radius_mm": vessel_r, "hu": vessel_hu, "drift_per_mm": vessel_drift,
              "center_mm": list(at) if at else None}
    if at:
        claim(at[0], at[1], reach)

    kidney_wanted = bool(struct_rng.random() < 0.7)
    ka, kb = _u(struct_rng, 22.0, 35.0), _u(struct_rng, 13.0, 22.0)
    kscale = min(1.0, body_p["width_mm"] / 300.0)
    ka, kb = ka * kscale, kb * kscale
    kidney = {"present": False, "wanted": kidney_wanted, "semi_axes_mm": [ka, kb],
              "z_half_mm": _u(struct_rng, 30.0, 60.0), "z_center_mm": _u(struct_rng, -1, 1) * grid.half_extent,
              "rotation": _u(struct_rng, 0, np.pi),
              "hu": float(np.clip(ints["organ_hu"] + _u(struct_rng, -12.0, 12.0), *SOFT_STRUCTURE_HU)),
              "center_mm": None}
    if kidney_wanted:
        at = place(ka + 1.0)
        if at:
            kidney.update(present=True, center_mm=list(at))
            claim(at[0], at[1], ka + 1.0)

    gas_wanted = int(struct_rng.integers(0, _MAX_GAS + 1))
    pockets = []
    for _ in range(gas_wanted):
        rx, ry, rz = _u(struct_rng, 4.0, 14.0), _u(struct_rng, 4.0, 14.0), _u(struct_rng, 4.0, 14.0)
        hu = _u(struct_rng, *GAS_HU)
        zc = _u(struct_rng, -1, 1) * max(0.0, grid.half_extent - 0.5 * grid.thickness)
        at = place(max(rx, ry) + 1.0)
        if at is None:
            continue
        claim(at[0], at[1], max(rx, ry) + 1.0)
        pockets.append({"center_mm": [at[0], at[1], zc], "semi_axes_mm": [rx, ry, rz], "hu": hu})
    gas = {"present": bool(pockets), "wanted": gas_wanted, "count": len(pockets), "pockets": pockets}

    # --- lesions -------------------------------------------------------------------------------
    requested = int(lesion_rng.integers(LESION_COUNT[0], LESION_COUNT[1] + 1))
    organ_dist = ndimage.distance_transform_edt(organ_truth_box, sampling=(grid.thickness, grid.ps, grid.ps))
    lesions: list[dict[str, Any]] = []
    lesion_occ: list[tuple[tuple[slice, slice, slice], np.ndarray]] = []
    separation = max(3.0, grid.thickness + 2.0)
    size_cap = LESION_DIAMETER_MM[1]
    for cap in (LESION_DIAMETER_MM[1], 30.0, 22.0):   # crowded organ: start again with smaller lesions
        if len(lesions) == requested:
            break
        size_cap = cap
        lesions, lesion_occ, attempts = [], [], 0
        while len(lesions) < requested and attempts < 400:
            attempts += 1
            # shape first (axis ratios, irregularity), then a size the organ can hold
            ratios = np.array([1.0, _u(lesion_rng, 0.8, 1.0), _u(lesion_rng, 0.8, 1.1)])
            irregular = _u(lesion_rng, 0.03, 0.12)
            terms = []
            for _ in range(4):
                v = lesion_rng.standard_normal(3)
                terms.append((v / np.linalg.norm(v) * _u(lesion_rng, 1.5, 3.5), irregular * _u(lesion_rng, -1, 1),
                              _u(lesion_rng, 0, 2 * np.pi)))
            rot = _random_rotation(lesion_rng)
            spread = float(ratios.max() * (1.0 + sum(abs(a) for _w, a, _p in terms)))
            upper = min(size_cap, 2.0 * (float(organ_dist.max()) - 2.0) / spread)
            if upper < LESION_DIAMETER_MM[0]:
                continue
            if attempts > 60:   # crowded organ: make room by allowing only smaller lesions as attempts go on
                upper = max(LESION_DIAMETER_MM[0], min(upper, size_cap * (1.0 - (attempts - 60) / 200.0)))
            target = _u(lesion_rng, LESION_DIAMETER_MM[0], upper)
            r0 = target / 2.0
            axes = r0 * ratios
            rmax = r0 * spread
            sign = 1.0 if lesion_rng.random() < 0.5 else -1.0
            contrast = sign * _u(lesion_rng, *LESION_CONTRAST_HU)
            inhom = _u(lesion_rng, 0.0, min(6.0, 0.2 * abs(contrast)))
            gdir = lesion_rng.standard_normal(3)
            gdir /= np.linalg.norm(gdir)
            cand = np.argwhere(organ_dist >= rmax + 2.0)
            if cand.size:
                mm = np.stack([grid.x[obox[1].start + cand[:, 2]], grid.y[obox[0].start + cand[:, 1]],
                               grid.z[cand[:, 0]]], axis=1)
                keep = np.ones(len(cand), dtype=bool)
                for o in lesions:   # clear of the lesions already placed
                    keep &= np.linalg.norm(mm - np.array(o["center_mm"]), axis=1) >= rmax + o["_rmax"] + separation + grid.ps
                cand = cand[keep]
            if cand.size == 0:
                continue
            k, r, c = cand[int(lesion_rng.integers(len(cand)))]
            centre = np.array([grid.x[obox[1].start + c], grid.y[obox[0].start + r], grid.z[k]])
            centre[:2] += lesion_rng.uniform(-0.5, 0.5, 2) * grid.ps
            # occupancy on the sampling planes inside the lesion's box
            k0 = max(0, int(np.floor((centre[2] - rmax - grid.z[0]) / grid.thickness)) - 1)
            k1 = min(grid.slices, int(np.ceil((centre[2] + rmax - grid.z[0]) / grid.thickness)) + 2)
            lbox = grid.index_box(centre[0], centre[1], rmax + 1.0)
            lx = grid.x[lbox[1]][None, None, :] - centre[0]
            ly = grid.y[lbox[0]][None, :, None] - centre[1]
            occ = np.zeros((k1 - k0, grid.n_sub, lbox[0].stop - lbox[0].start, lbox[1].stop - lbox[1].start), dtype=bool)
            for kk in range(k0, k1):
                lz = (grid.planes[kk][:, None, None] - centre[2])
                px, py, pz = np.broadcast_arrays(lx, ly, lz)
                local = np.stack([px, py, pz], axis=-1) @ rot          # rotate into the lesion frame
                u = local / axes
                rho = np.linalg.norm(u, axis=-1)
                n = u / np.maximum(rho, 1e-9)[..., None]
                limit = np.ones_like(rho)
                for w, a, ph in terms:
                    limit += a * np.sin(n @ w + ph)
                occ[kk - k0] = rho < limit
            # the lesion must lie inside the organ on every sampling plane
            rr = slice(lbox[0].start - obox[0].start, lbox[0].stop - obox[0].start)
            cc = slice(lbox[1].start - obox[1].start, lbox[1].stop - obox[1].start)
            if rr.start < 0 or cc.start < 0 or rr.stop > oh or cc.stop > ow:
                continue
            if np.any(occ & ~organ_occ[k0:k1, :, rr, cc]):
                continue
            truth = occ.mean(axis=1) >= 0.5
            if not truth.any():
                continue
            around = ndimage.binary_dilation(truth)
            if np.any(around & ~organ_truth_box[k0:k1, rr, cc]):
                continue
            diameter = _largest_inplane_extent(truth, grid.ps)
            if not (LESION_DIAMETER_MM[0] <= diameter <= LESION_DIAMETER_MM[1]):
                continue
            lesions.append({
                "center_mm": [float(v) for v in centre], "_rmax": rmax,
                "target_diameter_mm": target, "diameter_mm": diameter,
                "volume_mm3": float(truth.sum()) * grid.ps ** 2 * grid.thickness,
                "contrast_hu": contrast, "type": "hyperdense" if contrast > 0 else "hypodense",
                "hu": ints["organ_hu"] + contrast, "inhomogeneity_hu": inhom, "gradient_direction": gdir.tolist(),
                "semi_axes_mm": axes.tolist(), "irregularity": irregular,
                "slices": [int(k0 + i) for i in np.nonzero(truth.any(axis=(1, 2)))[0]],
            })
            lesion_occ.append(((slice(k0, k1), lbox[0], lbox[1]), occ))

    # --- composition ---------------------------------------------------------------------------
    n = grid.n
    widths = ints["tissue_waves"]
    bw = body_p["width_mm"]
    field = np.zeros((n, n), dtype=np.float64)
    total = sum(w for *_x, w in widths)
    for cycles, direction, phase, weight in widths:
        kx, ky = np.cos(direction) * cycles / bw, np.sin(direction) * cycles / bw
        field += weight * np.cos(2 * np.pi * (kx * gxx + ky * gyy) + phase)
    tissue_map = (ints["tissue_hu_base"] + ints["tissue_hu_regional_amplitude"] * field / total).astype(np.float32)

    lut = np.zeros(_LESION0 + 5, dtype=np.float32)
    lut[_AIR] = AIR_HU
    lut[_FAT] = body_p["fat_hu"]
    lut[_RIB] = ribs["hu"]
    lut[_SPINE_CORTEX] = spine["cortex_hu"]
    lut[_SPINE_MARROW] = spine["marrow_hu"]
    lut[_VESSEL] = vessel_hu
    lut[_KIDNEY] = kidney["hu"]
    for i, pocket in enumerate(pockets):
        lut[_GAS0 + i] = pocket["hu"]
    lut[_ORGAN] = ints["organ_hu"]

    hu = np.zeros((grid.slices, n, n), dtype=np.float32)
    labels = np.zeros((grid.slices, n, n), dtype=np.uint8)
    instances = np.zeros((grid.slices, n, n), dtype=np.uint8)
    structure_map = np.zeros((grid.slices, n, n), dtype=np.uint8)
    cls = np.empty((grid.n_sub, n, n), dtype=np.uint8)
    for k in range(grid.slices):
        for j in range(grid.n_sub):
            z = float(grid.planes[k, j])
            c = cls[j]
            c.fill(_AIR)
            outer_r = body.outer(z)
            c[body.r < outer_r] = _FAT
            inner_r = outer_r - body.fat
            c[body.r < inner_r] = _TISSUE
            c[rib_angles & (body.r < inner_r - rib_offset) & (body.r >= inner_r - rib_offset - rib_width)] = _RIB
            outer, inner, box = spine_masks(z)
            sub = c[box]
            sub[outer] = _SPINE_CORTEX
            sub[inner] = _SPINE_MARROW
            if vessel["present"]:
                vx = vessel["center_mm"][0] + vessel_drift[0] * z
                vy = vessel["center_mm"][1] + vessel_drift[1] * z
                box = grid.index_box(vx, vy, vessel_r + 1)
                sub = c[box]
                sub[(grid.x[box[1]][None, :] - vx) ** 2 + (grid.y[box[0]][:, None] - vy) ** 2 < vessel_r ** 2] = _VESSEL
            if kidney["present"]:
                u = (z - kidney["z_center_mm"]) / kidney["z_half_mm"]
                if abs(u) < 1:
                    s = np.sqrt(1 - u * u)
                    kx, ky = kidney["center_mm"]
                    box = grid.index_box(kx, ky, ka + 1)
                    dx = grid.x[box[1]][None, :] - kx
                    dy = grid.y[box[0]][:, None] - ky
                    ct, st = np.cos(kidney["rotation"]), np.sin(kidney["rotation"])
                    e = ((dx * ct + dy * st) / (ka * s)) ** 2 + ((-dx * st + dy * ct) / (kb * s)) ** 2
                    c[box][e < 1.0] = _KIDNEY
            for i, pocket in enumerate(pockets):
                (px, py, pz), (rx, ry, rz) = pocket["center_mm"], pocket["semi_axes_mm"]
                u = (z - pz) / rz
                if abs(u) < 1:
                    s = np.sqrt(1 - u * u)
                    box = grid.index_box(px, py, max(rx, ry) + 1)
                    e = ((grid.x[box[1]][None, :] - px) / (rx * s)) ** 2 + ((grid.y[box[0]][:, None] - py) / (ry * s)) ** 2
                    c[box][e < 1.0] = _GAS0 + i
            c[obox][organ_occ[k, j]] = _ORGAN
            for i, ((ks, rs, cs), occ) in enumerate(lesion_occ):
                if ks.start <= k < ks.stop:
                    c[rs, cs][occ[k - ks.start, j]] = _LESION0 + i
        plane_hu = lut[cls]
        plane_hu[cls == _TISSUE] = np.broadcast_to(tissue_map, cls.shape)[cls == _TISSUE]
        # lesion values (organ + contrast + a mild linear gradient) at the slice's voxel centres
        for i, ((ks, rs, cs), _occ) in enumerate(lesion_occ):
            if not ks.start <= k < ks.stop:
                continue
            les = lesions[i]
            cx, cy, cz = les["center_mm"]
            g = np.array(les["gradient_direction"])
            r0 = les["semi_axes_mm"][0]
            ramp = np.clip(((grid.x[cs][None, :] - cx) * g[0] + (grid.y[rs][:, None] - cy) * g[1]
                            + (grid.z[k] - cz) * g[2]) / r0, -1.0, 1.0)
            value = (les["hu"] + les["inhomogeneity_hu"] * ramp).astype(np.float32)
            region = plane_hu[:, rs, cs]
            mask = cls[:, rs, cs] == _LESION0 + i
            region[mask] = np.broadcast_to(value, mask.shape)[mask]
        hu[k] = plane_hu.mean(axis=0)
        organ_frac = np.mean(cls >= _ORGAN, axis=0)
        labels[k][organ_frac >= 0.5] = ORGAN_LABEL
        for i in range(len(lesions)):
            hit = np.mean(cls == _LESION0 + i, axis=0) >= 0.5
            labels[k][hit] = LESION_LABEL
            instances[k][hit] = i + 1
        for code_class, name in _CLASS_TO_STRUCTURE.items():
            if name == "air_pockets" or name == "spine":
                continue
            structure_map[k][np.mean(cls == code_class, axis=0) >= 0.5] = STRUCTURE_CODES[name]
        spine_frac = np.mean((cls == _SPINE_CORTEX) | (cls == _SPINE_MARROW), axis=0)
        structure_map[k][spine_frac >= 0.5] = STRUCTURE_CODES["spine"]
        gas_frac = np.mean((cls >= _GAS0) & (cls < _GAS0 + _MAX_GAS), axis=0)
        structure_map[k][gas_frac >= 0.5] = STRUCTURE_CODES["air_pockets"]

    # --- image quality: PSF, noise, quantisation -----------------------------------------------
    for k in range(grid.slices):
        hu[k] = ndimage.gaussian_filter(hu[k], acq["psf_sigma_px"], mode="nearest")
    noise = noise_rng.standard_normal(hu.shape, dtype=np.float32)
    if acq["noise_correlated"]:
        for k in range(grid.slices):
            noise[k] = ndimage.gaussian_filter(noise[k], acq["noise_correlation_sigma_px"], mode="wrap")
        noise /= np.float32(noise.std())
    hu += noise * np.float32(acq["noise_sigma_hu"])
    np.clip(np.rint(hu, out=hu), *HU_CLIP, out=hu)

    # --- parameters ----------------------------------------------------------------------------
    voxel_mm3 = grid.ps ** 2 * grid.thickness
    tissue_inside = tissue_map[body.r < body.inner(0.0)]
    body_out = {k: v for k, v in body_p.items()}
    body_out.update({
        "tissue_hu": {"base": ints["tissue_hu_base"], "regional_amplitude": ints["tissue_hu_regional_amplitude"],
                      "min": ints["tissue_hu_bounds"]["min"], "max": ints["tissue_hu_bounds"]["max"],
                      "sampled_min": float(tissue_inside.min()), "sampled_max": float(tissue_inside.max())},
        "tissue_relative_to_organ": ints["tissue_relative_to_organ"],
        "tissue_waves": ints["tissue_waves"],
    })
    for les in lesions:
        les.pop("_rmax", None)
        les["volume_ml"] = les["volume_mm3"] / 1000.0
    organ_out = {
        "hu": ints["organ_hu"],
        "lobes": organ_info["lobes"], "lobulation": organ_info["lobulation"],
        "scale": organ.scale, "anchor_mm": list(organ.anchor), "placement_shift_mm": shifted,
        "main_z_half_mm": organ_info["main_z_half_mm"],
        "lobe_definitions": organ_info["lobe_definitions"],
        "volume_ml": float(np.sum(labels > 0)) * voxel_mm3 / 1000.0,
        "slices_present": int(np.sum(np.any(labels > 0, axis=(1, 2)))),
        "minimum_area_fraction": min_fraction,
        "area_fraction_central_slice": organ_area_central / (float(np.sum(body.r < body.outer(0.0))) * grid.ps ** 2),
    }
    structures = {
        "spine": spine, "ribs": ribs, "vessel": vessel, "kidney_like": kidney, "air_pockets": gas,
        "voxels": {name: int(np.sum(structure_map == code)) for name, code in STRUCTURE_CODES.items()},
    }
    parameters = _jsonable({
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "seed": seed,
        "patient_id": patient_id(seed),
        "patient_name": patient_name(seed),
        "label_values": {"Organ": ORGAN_LABEL, "Lesion": LESION_LABEL},
        "acquisition": acq,
        "body": body_out,
        "organ": organ_out,
        "lesions_requested": requested,
        "lesion_size_cap_mm": size_cap,
        "lesion_count": len(lesions),
        "lesions": lesions,
        "structures": structures,
    })
    origin = (float(grid.x[0]), float(grid.y[0]), float(grid.z[0]))
    return ExternalCase(seed=seed, hu=hu, labels=labels, spacing=(grid.thickness, grid.ps, grid.ps),
                        thickness=grid.thickness, origin=origin, parameters=parameters,
                        lesion_instances=instances, structure_map=structure_map,
                        encoding=(acq["pixel_representation"], acq["rescale_intercept"]))


def _largest_inplane_extent(mask: np.ndarray, spacing: float) -> float:
    """Largest in-plane extent (mm) of a (Z, R, C) mask: max distance between pixel centres on any
    slice, plus one pixel (the pixels' own width)."""
    best = 0.0
    for plane in mask:
        if not plane.any():
            continue
        edge = plane & ~ndimage.binary_erosion(plane)
        pts = np.argwhere(edge).astype(np.float64)
        if len(pts) == 1:
            best = max(best, spacing)
            continue
        d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        best = max(best, (float(np.sqrt(d2.max())) + 1.0) * spacing)
    return best


def largest_inplane_extent(mask: np.ndarray, spacing: float) -> float:
    """Public form of the lesion diameter measure (used by the tests on the written truth)."""
    return _largest_inplane_extent(np.asarray(mask, dtype=bool), float(spacing))


def patient_id(seed: int) -> str:
    return f"EXT-{seed:04d}"


def patient_name(seed: int) -> str:
    return f"EXTERNAL^PHANTOM^{seed:04d}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value
