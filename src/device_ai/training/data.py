"""Training data from phantoms: slices preprocessed exactly as the engine does (torch-free).

Images go through :func:`device_ai.inference.preprocess.windowed_plane`, the same function
the locked pipeline uses. Labels are sampled to the model grid at the same pixel centres
(nearest neighbour), so a target pixel is the exact label at that point.

The data manifest names the generator that drew the cases (``PHANTOM_GENERATORS``): for
phantoms/1 it is exactly the manifest the released 1.0.0 package's digest was computed from;
for phantoms/2 it also names the domain the cases were drawn from and that domain's ranges.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, windowed_plane
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

PHANTOM_GENERATOR = "device_ai.training.phantoms/1"  # v1: in the 1.0.0 package's data digest
PHANTOM_GENERATOR_V2 = "device_ai.training.phantoms/2"
PHANTOM_GENERATORS = {1: PHANTOM_GENERATOR, 2: PHANTOM_GENERATOR_V2}


@dataclass(frozen=True)
class SlicePool:
    """Preprocessed slices: ``planes`` (N, S, S) float32 in [0, 1], ``labels`` (N, S, S) uint8."""

    planes: np.ndarray
    labels: np.ndarray
    patient_ids: tuple[str, ...]
    manifest_sha256: str
    generator: str = PHANTOM_GENERATOR
    domain: str | None = None


def default_domain(split: str) -> str:
    """phantoms/2 domain of a split: training cases from the wider training domain (domain
    randomization), verification and test cases from the intended use."""
    from device_ai.training.phantoms_v2 import INTENDED_USE, TRAINING

    return TRAINING if split == "train" else INTENDED_USE


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
    version: int = 1,
    domain: str | None = None,
) -> SlicePool:
    """Generate ``patients`` phantoms of ``split`` and preprocess every slice.

    The data manifest (generator version, split, seeds, patient IDs and the SHA-256 of each
    case's image and labels) is hashed into ``manifest_sha256``, recorded in the model package.
    ``version`` is the phantom generator (1 or 2); for version 2, ``domain`` is the domain the
    cases are drawn from (default :func:`default_domain` of the split), and the manifest also
    records it and its ranges. Version 1 has no domain.
    """
    if version not in PHANTOM_GENERATORS:
        raise ValueError(f"unknown phantom generator version {version!r}; use one of {sorted(PHANTOM_GENERATORS)}")
    if version == 1 and domain is not None:
        raise ValueError("phantoms/1 has one domain: leave domain unset for version 1")
    if version == 2:
        domain = domain or default_domain(split)
    planes, labels, ids, entries = [], [], [], []
    seeds = split_seeds(split, patients, base_seed=base_seed)
    for number, seed in enumerate(seeds, start=1):
        case = generate_case(seed, split=split, n_slices=slices_per_patient, version=version, domain=domain)
        for index in range(case.hu.shape[0]):
            planes.append(windowed_plane(case.hu[index].astype(np.float32), size, DEFAULT_PREPROCESSING))
            labels.append(nearest_labels(case.labels[index], size))
            ids.append(case.patient_id)
        entries.append({"seed": seed, "patient_id": case.patient_id, "sha256": case_digest(case)})
        if progress is not None:
            progress(number, len(seeds))
    manifest = {"generator": PHANTOM_GENERATORS[version], "split": split, "size": size, "cases": entries}
    if version == 2:
        from device_ai.training.phantoms_v2 import DOMAINS

        manifest["domain"] = domain
        manifest["ranges"] = {key: list(bounds) for key, bounds in DOMAINS[domain].items()}
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8")).hexdigest()
    return SlicePool(np.stack(planes), np.stack(labels), tuple(ids), digest, PHANTOM_GENERATORS[version], domain)
