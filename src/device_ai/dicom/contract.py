"""The input contract: what the model was validated for, checked on every input (SRS-011).

Stored in the model package manifest, so each model carries its own intended use. Anything
outside it is refused with a reason naming the attribute, the value found and what is
accepted; nothing is ever guessed (a missing attribute is a refusal). Attribute semantics
from PS3.3 C.7.6.2 (Image Plane), C.7.6.3 (Image Pixel) and C.8.2.1 (CT Image).
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydicom.dataset import Dataset

from device_ai.errors import ContractViolation, DicomReadError

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_OUTSIDE = "the input is outside this model's intended use and was not analyzed"


class InputContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str = "CT"
    sop_class_uids: tuple[str, ...] = (CT_IMAGE_STORAGE,)
    photometric: tuple[str, ...] = ("MONOCHROME2",)
    samples_per_pixel: int = 1
    bits_allocated: tuple[int, ...] = (16,)
    rows_range: tuple[int, int] = (256, 512)
    columns_range: tuple[int, int] = (256, 512)
    square_matrix: bool = True
    pixel_spacing_range_mm: tuple[float, float] = (0.5, 1.0)
    slice_thickness_range_mm: tuple[float, float] = (1.0, 5.0)
    orientation: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    orientation_min_cosine: float = 0.99
    rescale_required: bool = True
    max_slices: int = 1000


DEMO_CONTRACT = InputContract()


def _refuse(message: str) -> ContractViolation:
    return ContractViolation(message, hint=_OUTSIDE)


def _value(ds: Dataset, keyword: str) -> Any:
    """The attribute's value; missing or empty is a refusal, malformed is a read error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ds.get(keyword)
    except Exception as exc:
        raise DicomReadError(f"attribute {keyword} is malformed ({' '.join(str(exc).split())[:120]})") from exc
    if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
        raise _refuse(f"{keyword} is missing; this model needs it and does not guess it")
    return value


def _numbers(ds: Dataset, keyword: str, count: int) -> list[float]:
    value = _value(ds, keyword)
    values = list(value) if count > 1 else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise DicomReadError(f"attribute {keyword} is not numeric ({value!r})") from exc
    if len(numbers) != count:
        raise _refuse(f"{keyword} has {len(numbers)} values, {count} expected")
    return numbers


def _in_range(name: str, value: float, bounds: tuple[float, float], unit: str = "") -> None:
    low, high = bounds
    if not low <= value <= high:
        raise _refuse(f"{name} is {value:g}{unit}; this model accepts {low:g} to {high:g}{unit}")


def check_header(ds: Dataset, contract: InputContract = DEMO_CONTRACT) -> None:
    """Raise :class:`ContractViolation` unless the dataset's header is inside the contract."""
    sop_class = str(ds.get("SOPClassUID") or getattr(ds.get("file_meta", Dataset()), "MediaStorageSOPClassUID", "") or "")
    modality = str(_value(ds, "Modality"))
    if modality != contract.modality:
        raise _refuse(f"Modality is {modality}; this model accepts {contract.modality} only")
    if sop_class not in contract.sop_class_uids:
        raise _refuse(f"SOP Class {sop_class or 'missing'} is not supported; this model accepts "
                      + ", ".join(contract.sop_class_uids) + " (CT Image Storage)")
    if "NumberOfFrames" in ds and int(_numbers(ds, "NumberOfFrames", 1)[0]) != 1:
        raise _refuse("multi-frame images are not supported; this model accepts single-frame axial slices")
    photometric = str(_value(ds, "PhotometricInterpretation"))
    if photometric not in contract.photometric:
        raise _refuse(f"PhotometricInterpretation is {photometric}; this model accepts " + ", ".join(contract.photometric))
    samples = int(_numbers(ds, "SamplesPerPixel", 1)[0])
    if samples != contract.samples_per_pixel:
        raise _refuse(f"SamplesPerPixel is {samples}; this model accepts {contract.samples_per_pixel}")
    bits = int(_numbers(ds, "BitsAllocated", 1)[0])
    if bits not in contract.bits_allocated:
        raise _refuse(f"BitsAllocated is {bits}; this model accepts " + ", ".join(map(str, contract.bits_allocated)))
    stored = int(_numbers(ds, "BitsStored", 1)[0])
    if not 1 <= stored <= bits:
        raise _refuse(f"BitsStored is {stored}, inconsistent with BitsAllocated {bits}")
    _numbers(ds, "PixelRepresentation", 1)
    rows, columns = (int(_numbers(ds, k, 1)[0]) for k in ("Rows", "Columns"))
    _in_range("Rows", rows, contract.rows_range, " px")
    _in_range("Columns", columns, contract.columns_range, " px")
    if contract.square_matrix and rows != columns:
        raise _refuse(f"the image is {rows} x {columns} px; this model accepts square images only")
    row_spacing, column_spacing = _numbers(ds, "PixelSpacing", 2)
    _in_range("PixelSpacing", row_spacing, contract.pixel_spacing_range_mm, " mm")
    _in_range("PixelSpacing", column_spacing, contract.pixel_spacing_range_mm, " mm")
    if abs(row_spacing - column_spacing) > 1e-3 * max(row_spacing, column_spacing):
        raise _refuse(f"pixels are not square ({row_spacing:g} x {column_spacing:g} mm); this model accepts square pixels")
    thickness = _numbers(ds, "SliceThickness", 1)[0]
    _in_range("SliceThickness", thickness, contract.slice_thickness_range_mm, " mm")
    orientation = _numbers(ds, "ImageOrientationPatient", 6)
    row_cos = sum(a * b for a, b in zip(orientation[:3], contract.orientation[:3]))
    col_cos = sum(a * b for a, b in zip(orientation[3:], contract.orientation[3:]))
    if min(row_cos, col_cos) < contract.orientation_min_cosine:
        raise _refuse(
            "ImageOrientationPatient is " + "\\".join(f"{v:g}" for v in orientation)
            + "; this model accepts axial slices in standard orientation "
            + "\\".join(f"{v:g}" for v in contract.orientation)
        )
    _numbers(ds, "ImagePositionPatient", 3)
    if contract.rescale_required:
        _numbers(ds, "RescaleSlope", 1)
        _numbers(ds, "RescaleIntercept", 1)
        rescale_type = ds.get("RescaleType")
        if rescale_type not in (None, "", "HU"):
            raise _refuse(f"RescaleType is {rescale_type}; this model needs Hounsfield units (HU)")
    if "PixelData" not in ds:
        raise _refuse("the file holds no pixel data")
