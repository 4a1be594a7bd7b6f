"""Connected components (26-connectivity) of a label volume, a slab of slices at a time.

``scipy.ndimage.label`` on a whole (Z, R, C) volume returns an int32 label of every voxel:
4 bytes per voxel, four times the uint8 label volume itself (1 GiB at the input contract's
1000 slices of 512 x 512). Here each slab of ``SLAB_VOXELS`` voxels is labelled on its own;
components that touch across a slab boundary (any of the 9 neighbours in the next slice) are
joined afterwards (``scipy.sparse.csgraph.connected_components`` on the touching pairs), and
the joined components are numbered by their first voxel in C (raster) order, which is how
``ndimage.label`` numbers them on the whole volume. Passes that need each voxel's component
(removing one, measuring one) label each slab again: the same mask gives the same labels.

Memory: one slab's int32 labels and masks (``SLAB_VOXELS`` x ~14 bytes, about 28 MiB), plus a
few integers per component. The numbers, sizes and boxes are those of ``ndimage.label`` and
``ndimage.find_objects`` on the whole volume (tests/inference/test_postprocess_streaming.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
SLAB_VOXELS = 1 << 21  # 8 slices of 512 x 512 per slab
Select = Callable[[np.ndarray], np.ndarray]  # (slices of the volume) -> bool mask of the voxels to label


def slab_starts(shape: tuple[int, ...], slab_voxels: int | None = None) -> list[tuple[int, int]]:
    """(first, stop) slice of every slab of a (Z, R, C) volume (``SLAB_VOXELS`` by default)."""
    depth, rows, cols = shape
    slab_voxels = slab_voxels or SLAB_VOXELS
    step = max(1, slab_voxels // max(1, rows * cols))
    return [(z, min(depth, z + step)) for z in range(0, depth, step)]


def _touching(above: np.ndarray, below: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a, b) of nonzero labels in two adjacent planes whose voxels are 26-neighbours:
    ``above[y, x]`` and ``below[y + dy, x + dx]`` for dy, dx in -1..1, each pair once."""
    rows, cols = above.shape
    pairs = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            a = above[max(0, -dy) : rows - max(0, dy), max(0, -dx) : cols - max(0, dx)]
            b = below[max(0, dy) : rows - max(0, -dy), max(0, dx) : cols - max(0, -dx)]
            both = (a > 0) & (b > 0)
            if both.any():
                pairs.append(np.stack([a[both], b[both]]).astype(np.int64))
    if not pairs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    unique = np.unique(np.concatenate(pairs, axis=1), axis=1)
    return unique[0], unique[1]


@dataclass(frozen=True)
class Components:
    """The components of ``select(volume)``, numbered 1..count as ``ndimage.label`` numbers them."""

    count: int
    sizes: np.ndarray  # int64 (count + 1,): voxels of each component; [0] = 0
    slabs: tuple[tuple[int, int], ...]  # (first, stop) slice of each slab
    offsets: tuple[int, ...]  # the provisional number of each slab's label 0
    final: np.ndarray  # int32: provisional number (1-based, slab by slab) -> component; [0] = 0
    boxes: np.ndarray | None = None  # int64 (count + 1, 6): z, y, x start and stop, as find_objects
    sums: np.ndarray | None = None  # int64 (count + 1, 3): sum of the z, y, x of its voxels

    def lookup(self, slab: int, local_count: int) -> np.ndarray:
        """Slab ``slab``'s local label (0..local_count) -> component (0 = not selected)."""
        offset = self.offsets[slab]
        expected = (self.offsets[slab + 1] if slab + 1 < len(self.offsets) else self.final.size - 1) - offset
        if local_count != expected:  # the slab is not the one labelled in pass 1
            raise RuntimeError(f"slab {slab} holds {local_count} components, {expected} when first labelled")
        return np.concatenate([[0], self.final[offset + 1 : offset + local_count + 1]]).astype(np.int32)


def _slab_stats(local: np.ndarray, count: int, z0: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (absolute z) and coordinate sums of a slab's local labels 1..count."""
    boxes = np.zeros((count, 6), np.int64)
    for index, box in enumerate(ndimage.find_objects(local, max_label=count)):
        boxes[index] = (box[0].start + z0, box[1].start, box[2].start, box[0].stop + z0, box[1].stop, box[2].stop)
    rows, cols = local.shape[1:]
    ys = np.repeat(np.arange(rows, dtype=np.float64), cols)  # the y and x of each voxel of a plane
    xs = np.tile(np.arange(cols, dtype=np.float64), rows)
    sums = np.zeros((count + 1, 3), np.float64)  # integers summed in float64: exact below 2**53
    for k in range(local.shape[0]):
        plane = local[k].ravel()
        sums[:, 0] += np.bincount(plane, minlength=count + 1) * float(z0 + k)
        sums[:, 1] += np.bincount(plane, weights=ys, minlength=count + 1)
        sums[:, 2] += np.bincount(plane, weights=xs, minlength=count + 1)
    return boxes, sums[1:].astype(np.int64)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``ndimage.label(mask, structure=FULL_CONNECTIVITY)`` of a slab, labelling only the box of rows
    and columns that holds selected voxels (a lesion's few, or the body's part of the image): the
    same components in the same raster order, so the same labels, placed back in a zero slab."""
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    local = np.zeros(mask.shape, np.int32)
    if rows.size == 0:
        return local, 0
    cols = np.flatnonzero(mask.any(axis=(0, 1)))
    box = (slice(None), slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    labelled, count = ndimage.label(mask[box], structure=FULL_CONNECTIVITY)
    local[box] = labelled
    return local, int(count)


def label_components(volume: np.ndarray, select: Select, *, stats: bool = False,
                     slab_voxels: int | None = None) -> Components:
    """Pass 1: label every slab, join across slab boundaries, number as ``ndimage.label``.
    ``stats``: also each component's box and coordinate sums (for measurements)."""
    slabs = slab_starts(volume.shape, slab_voxels)
    offsets, sizes, boxes, sums, edges = [], [], [], [], []
    total, last = 0, None
    for z0, z1 in slabs:
        local, count = _label(select(volume[z0:z1]))
        offsets.append(total)
        sizes.append(np.bincount(local.ravel(), minlength=count + 1)[1:].astype(np.int64))
        if stats:
            slab_boxes, slab_sums = _slab_stats(local, count, z0)
            boxes.append(slab_boxes)
            sums.append(slab_sums)
        if last is not None:
            a, b = _touching(last, np.where(local[0] > 0, local[0].astype(np.int64) + total, 0))
            edges.append((a, b))
        last = np.where(local[-1] > 0, local[-1].astype(np.int64) + total, 0)
        total += count
        del local
    sizes_all = np.concatenate(sizes) if sizes else np.empty(0, np.int64)
    if total == 0:
        return Components(0, np.zeros(1, np.int64), tuple(slabs), tuple(offsets), np.zeros(1, np.int32),
                          np.zeros((1, 6), np.int64) if stats else None, np.zeros((1, 3), np.int64) if stats else None)
    a = np.concatenate([e[0] for e in edges]) - 1 if edges else np.empty(0, np.int64)
    b = np.concatenate([e[1] for e in edges]) - 1 if edges else np.empty(0, np.int64)
    graph = coo_matrix((np.ones(a.size, np.int32), (a, b)), shape=(total, total))
    count, joined = connected_components(graph, directed=False)
    # number the joined components by their first provisional number: provisional numbers run
    # slab by slab, each slab's in raster order of first voxel, so this is raster order overall
    _, first = np.unique(joined, return_index=True)
    rank = np.empty(count, np.int32)
    rank[np.argsort(first, kind="stable")] = np.arange(1, count + 1, dtype=np.int32)
    final = np.concatenate([[0], rank[joined]]).astype(np.int32)
    component_sizes = np.zeros(count + 1, np.int64)
    np.add.at(component_sizes, final[1:], sizes_all)
    component_boxes = component_sums = None
    if stats:
        every_box, every_sum = np.concatenate(boxes), np.concatenate(sums)
        component_boxes = np.zeros((count + 1, 6), np.int64)
        component_boxes[:, :3] = np.iinfo(np.int64).max
        np.minimum.at(component_boxes[:, :3], final[1:], every_box[:, :3])
        np.maximum.at(component_boxes[:, 3:], final[1:], every_box[:, 3:])
        component_boxes[0] = 0
        component_sums = np.zeros((count + 1, 3), np.int64)
        np.add.at(component_sums, final[1:], every_sum)
    return Components(count, component_sizes, tuple(slabs), tuple(offsets), final, component_boxes, component_sums)


def component_slabs(volume: np.ndarray, select: Select,
                    components: Components) -> Iterator[tuple[int, int, np.ndarray]]:
    """Pass 2: (first, stop, component of every voxel of the slab), slab by slab, from the same
    ``select`` as :func:`label_components` on a volume whose slabs ahead are unchanged."""
    for index, (z0, z1) in enumerate(components.slabs):
        local, count = _label(select(volume[z0:z1]))
        yield z0, z1, components.lookup(index, count)[local]
