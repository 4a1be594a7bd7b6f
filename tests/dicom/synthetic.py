"""Small valid CT series for DICOM tests (obviously fake identifiers), via the phantom writer."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from device_ai.training.ct_series import dataset_bytes, slice_dataset
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds


def small_case(slices: int = 3, rows: int = 256) -> PhantomCase:
    return generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=slices, rows=rows)


def valid_slice(case: PhantomCase | None = None, index: int = 0) -> Dataset:
    return slice_dataset(case or small_case(), index)


def write(ds: Dataset, path: Path) -> Path:
    path.write_bytes(dataset_bytes(ds))
    return path
