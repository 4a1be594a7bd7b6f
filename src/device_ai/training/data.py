"""Training data from phantoms: slices preprocessed exactly as the engine does (torch-free).

Images go through :func:`device_ai.inference.preprocess.windowed_plane`, the same function
the locked pipeline uses. Labels are sampled to the model grid at the same pixel centres
(nearest neighbour), so a target pixel is the exact label at that point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, windowed_plane
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

PHANTOM_GENERATOR = "device_ai.training.phantoms/1"


@dataclass(frozen=True)
class SlicePool:
    """Preprocessed slices: ``planes`` (N, S, S) float32 in [0, 1], ``labels`` (N, S, S) uint8."""

    planes: np.ndarray
    labels: np.ndarray
    patient_ids: tuple[str, ...]
    manifest_sha256: str


def nearest_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """(R, C) label slice -> (size, size) by the label at each model pixel's centre."""
    rows, cols = labels.shape
    r = np.clip(np.floor((np.arange(size) + 0.5) * rows / size).astype(int), 0, rows - 1)
    c = np.clip(np.floor((np.arange(size) + 0.5) * cols / size).astype(int), 0, cols - 1)
    return labels[np.ix_(r, c)]


def case_digest(case: PhantomCase) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(case.hu).tobytes())
    digest.update(np.ascontiguousarray(case.labels).tobytes())
    return digest.hexdigest()


def build_pool(
    split: str,
    patients: int,
    size: int,
    *,
    base_seed: int = 0,
    slices_per_patient: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SlicePool:
    """Generate ``patients`` phantoms of ``split`` and preprocess every slice.

    The data manifest (generator version, split, seeds, patient IDs and the SHA-256 of each
    case's image and labels) is hashed into ``manifest_sha256``, recorded in the model package.
    """
    planes, labels, ids, entries = [], [], [], []
    seeds = split_seeds(split, patients, base_seed=base_seed)
    for number, seed in enumerate(seeds, start=1):
        case = generate_case(seed, split=split, n_slices=slices_per_patient)
        for index in range(case.hu.shape[0]):
            planes.append(windowed_plane(case.hu[index].astype(np.float32), size, DEFAULT_PREPROCESSING))
            labels.append(nearest_labels(case.labels[index], size))
            ids.append(case.patient_id)
        entries.append({"seed": seed, "patient_id": case.patient_id, "sha256": case_digest(case)})
        if progress is not None:
            progress(number, len(seeds))
    manifest = {"generator": PHANTOM_GENERATOR, "split": split, "size": size, "cases": entries}
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()
    return SlicePool(np.stack(planes), np.stack(labels), tuple(ids), digest)
