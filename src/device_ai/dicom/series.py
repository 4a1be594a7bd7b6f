"""One CT series from its files: read with limits, checked, sorted, decoded to HU.

Slices are sorted by their position along the slice normal (PS3.3 C.7.6.2.1.1: the normal
is the cross product of the row and column direction cosines), never by InstanceNumber.
A set of files that is not exactly one consistent, evenly spaced series is refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from device_ai.dicom.contract import InputContract, check_header
from device_ai.dicom.reader import ReadLimits, read_dataset
from device_ai.errors import ContractViolation, DicomReadError

_OUTSIDE = "the input is outside this model's intended use and was not analyzed"
_ONE_SERIES = "pass a folder (or file) holding exactly one CT series"


@dataclass(frozen=True)
class CTSeries:
    datasets: tuple[Dataset, ...]
    paths: tuple[Path, ...]
    hu: np.ndarray  # float32 (Z, R, C)
    pixel_spacing_mm: tuple[float, float]  # (row spacing, column spacing)
    slice_thickness_mm: float
    slice_spacing_mm: float
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str


def _normal(ds: Dataset) -> np.ndarray:
    cosines = np.array([float(v) for v in ds.ImageOrientationPatient])
    return np.cross(cosines[:3], cosines[3:])


def _decode(ds: Dataset, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DicomReadError(
            f"{name}: pixel data cannot be decoded (transfer syntax {syntax}: {' '.join(str(exc).split())[:120]})",
            hint="send the series uncompressed or in a lossless syntax this installation can decode",
        ) from exc
    if pixels.shape != (ds.Rows, ds.Columns):
        raise DicomReadError(f"{name}: pixel data has shape {pixels.shape}, header says {ds.Rows} x {ds.Columns}")
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def _same(datasets: Sequence[Dataset], keyword: str, tolerance: float = 1e-4) -> None:
    first = np.atleast_1d(np.array(datasets[0].get(keyword), dtype=float))
    for ds in datasets[1:]:
        other = np.atleast_1d(np.array(ds.get(keyword), dtype=float))
        if other.shape != first.shape or not np.allclose(other, first, atol=tolerance, rtol=0):
            raise ContractViolation(f"slices disagree on {keyword}; a series must share its geometry", hint=_ONE_SERIES)


def load_series(paths: Sequence[Path], contract: InputContract, limits: ReadLimits = ReadLimits()) -> CTSeries:
    """Read, check and assemble one series; raise DicomReadError / ContractViolation otherwise."""
    if not paths:
        raise DicomReadError("no input files", hint=_ONE_SERIES)
    if len(paths) > contract.max_slices:
        raise ContractViolation(f"{len(paths)} files; this model accepts at most {contract.max_slices} slices",
                                hint=_OUTSIDE)
    entries: list[tuple[Path, Dataset]] = []
    for path in paths:
        ds = read_dataset(Path(path), limits)
        check_header(ds, contract)
        entries.append((Path(path), ds))
    series_uids = sorted({str(ds.get("SeriesInstanceUID", "")) for _, ds in entries})
    if len(series_uids) != 1 or not series_uids[0]:
        raise ContractViolation(f"the input holds {len(series_uids)} series (by SeriesInstanceUID); "
                                "this command analyzes one series at a time", hint=_ONE_SERIES)
    datasets = [ds for _, ds in entries]
    for keyword in ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "SliceThickness"):
        _same(datasets, keyword)
    normal = _normal(datasets[0])
    positions = [float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient])) for ds in datasets]
    order = np.argsort(positions, kind="stable")
    entries = [entries[i] for i in order]
    sorted_positions = np.array(positions)[order]
    thickness = float(datasets[0].SliceThickness)
    if len(entries) > 1:
        steps = np.diff(sorted_positions)
        if np.any(steps < 1e-3):
            raise ContractViolation("two slices share the same position (duplicate or mixed acquisitions)",
                                    hint=_ONE_SERIES)
        if np.max(steps) - np.min(steps) > max(0.01, 0.01 * float(np.median(steps))):
            raise ContractViolation(
                f"slices are not evenly spaced (steps {np.min(steps):.3g} to {np.max(steps):.3g} mm): "
                "missing or extra slices", hint="send the complete series",
            )
        spacing = float(np.mean(steps))
    else:
        spacing = thickness
    hu = np.stack([_decode(ds, path.name) for path, ds in entries])
    first = entries[0][1]
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    return CTSeries(
        datasets=tuple(ds for _, ds in entries),
        paths=tuple(path for path, _ in entries),
        hu=hu,
        pixel_spacing_mm=(row_spacing, column_spacing),
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        study_instance_uid=str(first.get("StudyInstanceUID", "")),
        series_instance_uid=series_uids[0],
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
    )
