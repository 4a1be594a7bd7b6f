"""Postprocessing ``seg-post-v1``: model logits -> label map at source resolution (SRS-013).

1. Upsample the logits of each slice to the source matrix (Pillow bilinear, pixel-centre
   aligned) and take the argmax there, so boundaries are decided at source resolution.
2. Keep only the largest 3D connected component of the foreground (organ and lesions):
   the intended use has exactly one organ per image.
3. Lesion components smaller than the minimum volume are noise, far below the smallest
   lesion in the intended use (10 mm across, about 520 mm^3); they become organ.
4. Measure: voxel volume = row spacing x column spacing x slice spacing. A lesion is one
   26-connected component of the lesion label; its maximum in-plane diameter is the longest
   distance, in mm, between the centres of two of its pixels in one slice (the largest over
   its slices), with the row and column spacing applied (SRS-101).

Which label value is the organ and which the lesion comes from the model manifest's labels
(``LabelRole``, derived from each label's CID 7151 property type), never from literals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.distance import pdist

from device_ai.inference.components import FULL_CONNECTIVITY  # noqa: F401 - where training and validation take it
from device_ai.inference.components import Components, component_slabs, label_components, slab_starts
from device_ai.inference.preprocess import resize_plane
from device_ai.model.package.manifest import LabelDefinition, LabelRole, PostprocessingSpec, find_label

POSTPROCESSING_VERSION = "seg-post-v1"
# FULL_CONNECTIVITY (26-connectivity, defined in components and used from here by training and
# validation): what counts as one lesion, for the device and its validation alike

DEFAULT_POSTPROCESSING = PostprocessingSpec(
    version=POSTPROCESSING_VERSION, min_lesion_volume_mm3=100.0, keep_largest_foreground_component=True
)


@dataclass(frozen=True)
class LesionMeasurement:
    index: int
    volume_ml: float
    centroid_voxel: tuple[float, float, float]
    max_inplane_extent_mm: float
    slices: tuple[int, int]
    voxel_count: int = 0
    volume_mm3: float = 0.0  # voxel_count x voxel volume, not rounded
    max_inplane_diameter_mm: float = 0.0  # see max_inplane_diameter
    diameter_slice: int = 0  # the slice (index) where that diameter lies


@dataclass(frozen=True)
class Measurements:
    voxel_volume_mm3: float
    volumes_ml: dict[str, float]  # by label name, in the manifest's label order
    lesions: tuple[LesionMeasurement, ...]
    voxel_counts: dict[str, int] | None = None  # by label name, like volumes_ml

    @property
    def lesion_count(self) -> int:
        return len(self.lesions)


def _role_value(label_defs: Sequence[LabelDefinition], role: LabelRole) -> int:
    try:
        return find_label(label_defs, role=role).value
    except ValueError as exc:
        raise ValueError(f"postprocessing {POSTPROCESSING_VERSION} needs one {role.value} label: {exc}") from exc


def logits_to_labels(logits: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(C, h, w) logits of one slice -> (rows, cols) uint8 argmax at source resolution."""
    return first_argmax([resize_plane(channel, rows, cols) for channel in logits])


def first_argmax(planes: Sequence[np.ndarray]) -> np.ndarray:
    """``np.argmax(np.stack(planes), axis=0).astype(np.uint8)``, the first channel on ties, in a few
    passes over whole planes: numpy's argmax along the first axis walks the stack with a stride and
    cost as much as the upsampling itself. A NaN (which np.argmax takes as the maximum and no
    comparison sees) falls back to np.argmax."""
    with np.errstate(invalid="ignore", over="ignore"):  # a NaN or infinities: then np.argmax decides
        finite_sums = all(np.isfinite(np.sum(plane)) for plane in planes)
    if not finite_sums:
        return np.argmax(np.stack(planes), axis=0).astype(np.uint8)
    best = np.array(planes[0], dtype=np.float32, copy=True)
    index = np.zeros(best.shape, dtype=np.uint8)
    higher = np.empty(best.shape, dtype=bool)
    for channel, plane in enumerate(planes[1:], start=1):
        np.greater(plane, best, out=higher)
        np.copyto(best, plane, where=higher)
        np.copyto(index, channel, where=higher)
    return index


def clean_labels(labels: np.ndarray, voxel_volume_mm3: float, spec: PostprocessingSpec = DEFAULT_POSTPROCESSING,
                 *, label_defs: Sequence[LabelDefinition], in_place: bool = False) -> np.ndarray:
    """Apply steps 2 and 3 to a (Z, R, C) label volume; returns a new array (``labels`` itself,
    changed, with ``in_place``).

    ``label_defs``: the manifest's labels (``manifest.labels``), which say which value is the
    organ and which the lesion. Components are found slab by slab (:mod:`components`), with
    the result of ``ndimage.label`` on the whole volume and no int32 volume."""
    if spec.version != POSTPROCESSING_VERSION:
        raise ValueError(f"postprocessing {spec.version} is not implemented (this is {POSTPROCESSING_VERSION})")
    organ, lesion = _role_value(label_defs, LabelRole.ORGAN), _role_value(label_defs, LabelRole.LESION)
    out = labels if in_place else labels.copy()
    if spec.keep_largest_foreground_component:
        foreground = _equal_to(None)
        parts = label_components(out, foreground)
        if parts.count > 1:
            keep = int(np.argmax(parts.sizes))  # sizes[0] is 0; a tie keeps the first in raster order
            for z0, z1, component in component_slabs(out, foreground, parts):
                out[z0:z1][component != keep] = 0
    is_lesion = _equal_to(lesion)
    parts = label_components(out, is_lesion)
    if parts.count:
        small = parts.sizes * voxel_volume_mm3 < spec.min_lesion_volume_mm3
        small[0] = False
        if small.any():
            for z0, z1, component in component_slabs(out, is_lesion, parts):
                out[z0:z1][small[component]] = organ
    return out


def _equal_to(value: int | None):  # noqa: ANN202
    """The mask of a slab: voxels of ``value``, or every labelled voxel for None."""
    return (lambda slab: slab > 0) if value is None else (lambda slab: slab == value)


def _plane_diameter(plane: np.ndarray, row_mm: float, col_mm: float) -> float | None:
    """Longest distance (mm) between the centres of two boundary pixels of a 2D mask; None
    under two pixels. Only boundary pixels can be the farthest pair (an interior pixel lies
    inside the convex hull of its four neighbours), so only they are compared."""
    edge = plane & ~ndimage.binary_erosion(plane, border_value=0)
    rows, cols = np.nonzero(edge)
    if rows.size < 2:
        return None
    return float(pdist(np.column_stack((rows * float(row_mm), cols * float(col_mm)))).max())


def max_inplane_diameter(mask: np.ndarray, row_mm: float, col_mm: float) -> tuple[float, int]:
    """(diameter in mm, slice index) of the longest distance between the centres of two pixels of
    ``mask`` (Z, R, C) that lie in one slice, over all slices; (0.0, 0) for an empty mask and 0.0
    for a single pixel."""
    best, where = 0.0, 0
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
        longest = _plane_diameter(mask[z], row_mm, col_mm)
        if longest is not None and longest > best:
            best, where = longest, int(z)
    if not best and mask.any():
        where = int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])
    return best, where


def _lesion_diameters(labels: np.ndarray, is_lesion, parts: Components, row_mm: float,  # noqa: ANN001
                      col_mm: float) -> tuple[list[float], list[int]]:
    """:func:`max_inplane_diameter` of every component of ``parts`` (each in its own box, as
    ``ndimage.find_objects`` gives it), slab by slab: (diameters, absolute slice of each)."""
    boxes = parts.boxes
    best = [0.0] * (parts.count + 1)
    where = [int(boxes[index, 0]) for index in range(parts.count + 1)]  # no diameter: its first slice
    for z0, z1, component in component_slabs(labels, is_lesion, parts):
        for k in range(z1 - z0):
            plane = component[k]
            for index in np.flatnonzero(np.bincount(plane.ravel(), minlength=parts.count + 1)[1:]) + 1:
                _, y0, x0, _, y1, x1 = (int(v) for v in boxes[index])
                longest = _plane_diameter(plane[y0:y1, x0:x1] == index, row_mm, col_mm)
                if longest is not None and longest > best[index]:
                    best[index], where[index] = longest, z0 + k
    return best, where


def measure(labels: np.ndarray, spacing_zyx_mm: tuple[float, float, float], *,
            label_defs: Sequence[LabelDefinition]) -> Measurements:
    """Volume in mL of every label of ``label_defs`` (the manifest's labels) and per-lesion
    measurements of a cleaned (Z, R, C) label volume, slab by slab (no whole-volume temporaries)."""
    dz, dy, dx = spacing_zyx_mm
    voxel = float(dz * dy * dx)
    lesion = _role_value(label_defs, LabelRole.LESION)
    is_lesion = _equal_to(lesion)
    parts = label_components(labels, is_lesion, stats=True)
    diameters, diameter_slices = _lesion_diameters(labels, is_lesion, parts, dy, dx)
    lesions = []
    for index in range(1, parts.count + 1):
        start, stop = parts.boxes[index, :3].tolist(), parts.boxes[index, 3:].tolist()
        voxels = int(parts.sizes[index])
        # ndimage.center_of_mass of the component in its box, plus the box start: the sums of
        # integer coordinates are exact, so the same division gives the same value
        centroid = tuple(float(np.float64(int(total) - voxels * first) / voxels + first)
                         for total, first in zip(parts.sums[index].tolist(), start))
        extents_mm = [(b - a) * d for a, b, d in zip(start, stop, (dz, dy, dx))]
        lesions.append(
            LesionMeasurement(
                index=len(lesions) + 1,
                volume_ml=round(voxels * voxel / 1000.0, 4),
                centroid_voxel=centroid,
                max_inplane_extent_mm=round(float(max(extents_mm[1:])), 2),
                slices=(int(start[0]), int(stop[0] - 1)),
                voxel_count=voxels,
                volume_mm3=voxels * voxel,
                max_inplane_diameter_mm=diameters[index],
                diameter_slice=diameter_slices[index],
            )
        )
    counts = {label.name: 0 for label in label_defs}
    for z0, z1 in slab_starts(labels.shape):
        slab = labels[z0:z1]
        for label in label_defs:
            counts[label.name] += int(np.count_nonzero(slab == label.value))
    return Measurements(
        voxel_volume_mm3=voxel,
        volumes_ml={name: round(count * voxel / 1000.0, 4) for name, count in counts.items()},
        lesions=tuple(lesions),
        voxel_counts=counts,
    )
