"""Writing DICOM Part 10 files the device produces (PS3.10 §7.1).

The 128-byte preamble is always zeros: a preamble can hold an executable header and make
the file a polyglot (CVE-2019-11687). Files are written atomically.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from pydicom.dataset import Dataset

from device_ai.atomic_io import atomic_write_bytes


def part10_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.preamble = b"\0" * 128
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_dataset(ds: Dataset, path: Path) -> Path:
    return atomic_write_bytes(Path(path), part10_bytes(ds))
