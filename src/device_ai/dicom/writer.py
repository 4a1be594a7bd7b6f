"""Writing DICOM Part 10 files the device produces (PS3.10 §7.1).

The 128-byte preamble is always zeros: a preamble can hold an executable header and make
the file a polyglot (CVE-2019-11687). Files are written atomically, private (0600) unless the
caller asks for ``Access.PUBLIC`` (``atomic_io.Access``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from pydicom.dataset import Dataset

from device_ai.atomic_io import Access, atomic_write_bytes


def part10_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.preamble = b"\0" * 128
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_dataset(ds: Dataset, path: Path, *, access: Access = Access.PRIVATE) -> Path:
    return atomic_write_bytes(Path(path), part10_bytes(ds), access=access)
