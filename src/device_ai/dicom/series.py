"""One CT series from its files: read with limits, checked, sorted, decoded to HU.

Every file is read (reader.py) and its header checked against the input contract before any
pixel data is decoded. The files must form exactly one series (PS3.3 C.7.3.1
SeriesInstanceUID) in one study and one frame of reference (C.7.4.1), with one geometry:
same Rows/Columns, PixelSpacing, ImageOrientationPatient and SliceThickness, positions
stacked along the slice normal (no gantry tilt), no two slices at one position and evenly
spaced. Slices are sorted by ImagePositionPatient projected on the slice normal (PS3.3
C.7.6.2.1.1: the normal is the cross product of the row and column direction cosines), never
by InstanceNumber. Pixel data are decoded only if this installation has a decoder for the
transfer syntax (PS3.5 §10, Annex A), then rescaled to HU (PS3.3 C.11.1.1.2).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from device_ai.dicom.contract import InputContract, check_header
from device_ai.dicom.reader import ReadLimits, read_dataset
from device_ai.errors import ContractViolation, DicomReadError

_OUTSIDE = "the input is outside this model's intended use and was not analyzed"
_ONE_SERIES = "pass a folder (or file) holding exactly one CT series"
_POSITION_TOLERANCE_MM = 1e-3  # two slices closer than this along the normal share a position
_SPACING_TOLERANCE = 0.01  # relative spread of slice steps still called uniform (at least 0.01 mm)
_TILT_TOLERANCE = 0.1  # in-plane drift of slice positions, as a fraction of the pixel spacing


@dataclass(frozen=True)
class CTSeries:
    """One checked CT series, slices sorted along the slice normal (index 0 = lowest position)."""

    datasets: tuple[Dataset, ...]
    paths: tuple[Path, ...]
    hu: np.ndarray  # float32 (Z, R, C), read-only
    pixel_spacing_mm: tuple[float, float]  # (row spacing, column spacing): PixelSpacing order
    slice_thickness_mm: float
    slice_spacing_mm: float  # from positions; = thickness for a single slice
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str


def _floats(ds: Dataset, keyword: str) -> np.ndarray:
    return np.atleast_1d(np.array([float(v) for v in np.atleast_1d(ds.get(keyword))], dtype=float))


def _normal(ds: Dataset) -> np.ndarray:
    cosines = _floats(ds, "ImageOrientationPatient")
    normal = np.cross(cosines[:3], cosines[3:])
    return normal / np.linalg.norm(normal)


def _check_decodable(ds: Dataset, name: str) -> None:
    """Refuse a transfer syntax whose pixel data this installation cannot decode."""
    from pydicom.pixels.decoders.base import get_decoder

    syntax = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    if not syntax:
        raise DicomReadError(f"{name}: the transfer syntax is unknown", hint="send Part 10 files")
    label = f"{syntax.name} ({syntax})" if syntax.name != syntax else str(syntax)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DicomReadError(f"{name}: pixel data in transfer syntax {label} cannot be decoded by this installation",
                             hint="send the series uncompressed or losslessly compressed (JPEG-LS, RLE)") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise DicomReadError(
            f"{name}: pixel data in transfer syntax {label} need a decoder that is not installed ({missing})",
            hint="send the series uncompressed, or install the decoder package named above",
        )


def _decode(ds: Dataset, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DicomReadError(
            f"{name}: pixel data cannot be decoded (transfer syntax {syntax}: {' '.join(str(exc).split())[:120]})",
            hint="the pixel data are corrupt; send the series again, uncompressed",
        ) from exc
    if pixels.shape != (ds.Rows, ds.Columns):
        raise DicomReadError(f"{name}: pixel data have shape {pixels.shape}, the header says {ds.Rows} x {ds.Columns}")
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def _required_uid(datasets: Sequence[Dataset], names: Sequence[str], keyword: str) -> list[str]:
    values = [str(ds.get(keyword, "") or "").strip() for ds in datasets]
    for value, name in zip(values, names):
        if not value:
            raise ContractViolation(f"{name}: {keyword} is missing; this model needs it and does not guess it",
                                    hint=_OUTSIDE)
    return values


def _same(datasets: Sequence[Dataset], keyword: str, tolerance: float = 1e-4) -> None:
    first = _floats(datasets[0], keyword)
    for ds in datasets[1:]:
        other = _floats(ds, keyword)
        if other.shape != first.shape or not np.allclose(other, first, atol=tolerance, rtol=0):
            raise ContractViolation(
                f"slices disagree on {keyword} ({'/'.join(f'{v:g}' for v in first)} and "
                f"{'/'.join(f'{v:g}' for v in other)}); a series must share one geometry", hint=_ONE_SERIES)


def load_series(paths: Sequence[Path], contract: InputContract, limits: ReadLimits = ReadLimits()) -> CTSeries:
    """Read, check and assemble one series; raise DicomReadError / ContractViolation otherwise."""
    if not paths:
        raise DicomReadError("no input files", hint=_ONE_SERIES)
    if len(paths) > contract.max_slices:
        raise ContractViolation(f"the input holds {len(paths)} files; this model accepts at most "
                                f"{contract.max_slices} slices", hint=_OUTSIDE)
    entries: list[tuple[Path, Dataset]] = []
    for path in paths:
        ds = read_dataset(Path(path), limits)
        check_header(ds, contract)
        _check_decodable(ds, Path(path).name)
        entries.append((Path(path), ds))
    names = [path.name for path, _ in entries]
    datasets = [ds for _, ds in entries]

    series_uids = _required_uid(datasets, names, "SeriesInstanceUID")
    if len(set(series_uids)) != 1:
        raise ContractViolation(f"the input holds {len(set(series_uids))} series (by SeriesInstanceUID); "
                                "this model analyzes one series at a time", hint=_ONE_SERIES)
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID"):
        if len(set(_required_uid(datasets, names, keyword))) != 1:
            raise ContractViolation(f"the slices of one series carry different {keyword}s", hint=_ONE_SERIES)
    instance_uids = _required_uid(datasets, names, "SOPInstanceUID")
    if len(set(instance_uids)) != len(instance_uids):
        raise ContractViolation("two files hold the same image (same SOPInstanceUID)",
                                hint="remove the duplicate copies and send the series once")
    for keyword in ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "SliceThickness"):
        _same(datasets, keyword)

    normal = _normal(datasets[0])
    points = np.array([_floats(ds, "ImagePositionPatient") for ds in datasets])
    positions = points @ normal
    order = np.argsort(positions, kind="stable")
    entries = [entries[i] for i in order]
    sorted_positions = positions[order]
    row_spacing, column_spacing = (float(v) for v in _floats(datasets[0], "PixelSpacing"))
    thickness = float(_floats(datasets[0], "SliceThickness")[0])
    spacing = thickness
    if len(entries) > 1:
        drift = points[order] - points[order][0] - np.outer(sorted_positions - sorted_positions[0], normal)
        if float(np.max(np.linalg.norm(drift, axis=1))) > _TILT_TOLERANCE * min(row_spacing, column_spacing):
            raise ContractViolation(
                "slice positions are not stacked along the slice normal (gantry tilt or shifted slices); "
                "this model accepts untilted axial series only", hint=_OUTSIDE)
        steps = np.diff(sorted_positions)
        if np.any(steps < _POSITION_TOLERANCE_MM):
            raise ContractViolation("two slices share the same position (duplicate or mixed acquisitions)",
                                    hint=_ONE_SERIES)
        if np.max(steps) - np.min(steps) > max(0.01, _SPACING_TOLERANCE * float(np.median(steps))):
            raise ContractViolation(
                f"slices are not evenly spaced (steps {np.min(steps):.3g} to {np.max(steps):.3g} mm): "
                "missing or extra slices", hint="send the complete series")
        spacing = float(np.mean(steps))

    hu = np.stack([_decode(ds, path.name) for path, ds in entries])
    hu.flags.writeable = False
    first = entries[0][1]
    return CTSeries(
        datasets=tuple(ds for _, ds in entries),
        paths=tuple(path for path, _ in entries),
        hu=hu,
        pixel_spacing_mm=(row_spacing, column_spacing),
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        study_instance_uid=str(first.StudyInstanceUID).strip(),
        series_instance_uid=series_uids[0],
        frame_of_reference_uid=str(first.FrameOfReferenceUID).strip(),
    )
