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

from device_ai.inference.preprocess import resize_plane
from device_ai.model.package.manifest import LabelDefinition, LabelRole, PostprocessingSpec, find_label

POSTPROCESSING_VERSION = "seg-post-v1"
# 26-connectivity: what counts as one lesion, for the device and its validation alike
FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)

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
    upsampled = np.stack([resize_plane(channel, rows, cols) for channel in logits])
    return np.argmax(upsampled, axis=0).astype(np.uint8)


def clean_labels(labels: np.ndarray, voxel_volume_mm3: float, spec: PostprocessingSpec = DEFAULT_POSTPROCESSING,
                 *, label_defs: Sequence[LabelDefinition]) -> np.ndarray:
    """Apply steps 2 and 3 to a (Z, R, C) label volume; returns a new array.

    ``label_defs``: the manifest's labels (``manifest.labels``), which say which value is the
    organ and which the lesion."""
    if spec.version != POSTPROCESSING_VERSION:
        raise ValueError(f"postprocessing {spec.version} is not implemented (this is {POSTPROCESSING_VERSION})")
    organ, lesion = _role_value(label_defs, LabelRole.ORGAN), _role_value(label_defs, LabelRole.LESION)
    out = labels.copy()
    if spec.keep_largest_foreground_component:
        components, count = ndimage.label(out > 0, structure=FULL_CONNECTIVITY)
        if count > 1:
            sizes = np.bincount(components.ravel())
            sizes[0] = 0
            out[components != int(np.argmax(sizes))] = 0
    lesions, count = ndimage.label(out == lesion, structure=FULL_CONNECTIVITY)
    if count:
        sizes = np.bincount(lesions.ravel())
        small = np.flatnonzero(sizes * voxel_volume_mm3 < spec.min_lesion_volume_mm3)
        small = small[small > 0]
        if small.size:
            out[np.isin(lesions, small)] = organ
    return out


def max_inplane_diameter(mask: np.ndarray, row_mm: float, col_mm: float) -> tuple[float, int]:
    """(diameter in mm, slice index) of the longest distance between the centres of two pixels of
    ``mask`` (Z, R, C) that lie in one slice, over all slices; (0.0, 0) for an empty mask and 0.0
    for a single pixel. Only boundary pixels can be the farthest pair (an interior pixel lies
    inside the convex hull of its four neighbours), so only they are compared."""
    best, where = 0.0, 0
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
        plane = mask[z]
        edge = plane & ~ndimage.binary_erosion(plane, border_value=0)
        rows, cols = np.nonzero(edge)
        if rows.size < 2:
            continue
        longest = float(pdist(np.column_stack((rows * float(row_mm), cols * float(col_mm)))).max())
        if longest > best:
            best, where = longest, int(z)
    if not best and mask.any():
        where = int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])
    return best, where


def measure(labels: np.ndarray, spacing_zyx_mm: tuple[float, float, float], *,
            label_defs: Sequence[LabelDefinition]) -> Measurements:
    """Volume in mL of every label of ``label_defs`` (the manifest's labels) and per-lesion
    measurements of a cleaned (Z, R, C) label volume."""
    dz, dy, dx = spacing_zyx_mm
    voxel = float(dz * dy * dx)
    lesion = _role_value(label_defs, LabelRole.LESION)
    lesions_map, count = ndimage.label(labels == lesion, structure=FULL_CONNECTIVITY)
    lesions = []
    for index, box in enumerate(ndimage.find_objects(lesions_map), start=1):
        if box is None:
            continue
        component = lesions_map[box] == index
        centroid = ndimage.center_of_mass(component)
        centroid = tuple(float(c + s.start) for c, s in zip(centroid, box))
        extents_mm = [(s.stop - s.start) * d for s, d in zip(box, (dz, dy, dx))]
        voxels = int(np.count_nonzero(component))
        diameter, diameter_slice = max_inplane_diameter(component, dy, dx)
        lesions.append(
            LesionMeasurement(
                index=len(lesions) + 1,
                volume_ml=round(voxels * voxel / 1000.0, 4),
                centroid_voxel=centroid,
                max_inplane_extent_mm=round(float(max(extents_mm[1:])), 2),
                slices=(int(box[0].start), int(box[0].stop - 1)),
                voxel_count=voxels,
                volume_mm3=voxels * voxel,
                max_inplane_diameter_mm=diameter,
                diameter_slice=int(box[0].start) + diameter_slice,
            )
        )
    counts = {label.name: int(np.count_nonzero(labels == label.value)) for label in label_defs}
    return Measurements(
        voxel_volume_mm3=voxel,
        volumes_ml={name: round(count * voxel / 1000.0, 4) for name, count in counts.items()},
        lesions=tuple(lesions),
        voxel_counts=counts,
    )
