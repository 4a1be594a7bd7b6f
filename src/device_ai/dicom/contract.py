"""The input contract: what the model was validated for, checked on every input (SRS-011).

Stored in the model package manifest (``InputContract.model_dump(mode="json")``), so each
model carries its own intended use. Anything outside it is refused with a
:class:`ContractViolation` whose message names the attribute, the value found and what is
accepted, and whose hint says the input was not analyzed. Nothing is ever guessed: a missing
or malformed attribute is a refusal too. Attribute semantics from PS3.3 C.12.1 (SOP Common),
C.7.3.1 (General Series), C.7.6.2 (Image Plane), C.7.6.3 (Image Pixel), C.8.2.1 (CT Image),
C.11.1 (Modality LUT: Rescale Type).

Fields added after the first released manifest have defaults that keep the released
contract's meaning (``square_pixels`` was enforced before it became a field).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from device_ai.dicom.paths import printable
from device_ai.errors import ContractViolation

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_OUTSIDE = "the input is outside this model's intended use and was not analyzed"
_SQUARE_TOLERANCE = 1e-3  # relative difference of row and column spacing still called square
# Hounsfield units a CT image's declared stored value range may map to. Physical CT numbers lie
# from -1024 (air; lower values are padding) to about +30,700 (extended CT scales for metal), but
# the declared range (BitsStored, PixelRepresentation) is wider than the pixels use: signed 16 bits
# with intercept -1024 give -33,792..31,743, unsigned 16 bits with intercept -8192 (an extended
# scale) -8,192..57,343, signed 16 bits at slope 2 -67,584..63,486. Twice the 16-bit span, +-131,072
# (2**17), keeps these; a rescale mapping the range further (slope 1e38, intercept 1e30) does not
# give CT numbers, and overflows float32 where it goes on.
PLAUSIBLE_HU = (-131072.0, 131072.0)
# The stored range must spread over at least 1 HU: below that (slope 1e-320, 0 in float32) every
# pixel would become the intercept, an image without content that the model would still segment.
MIN_HU_SPAN = 1.0


class InputContract(BaseModel):
    """The model's intended input (JSON-serialisable; stored in the model manifest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str = "CT"
    sop_class_uids: tuple[str, ...] = (CT_IMAGE_STORAGE,)
    photometric: tuple[str, ...] = ("MONOCHROME2",)
    samples_per_pixel: int = 1
    bits_allocated: tuple[int, ...] = (16,)
    rows_range: tuple[int, int] = (256, 512)
    columns_range: tuple[int, int] = (256, 512)
    square_matrix: bool = True  # Rows == Columns
    square_pixels: bool = True  # PixelSpacing row == column (within 0.1 %)
    pixel_spacing_range_mm: tuple[float, float] = (0.5, 1.0)
    slice_thickness_range_mm: tuple[float, float] = (1.0, 5.0)
    # row and column direction cosines expected (axial, standard patient orientation); each
    # must be within orientation_min_cosine of the expected one, and so must the slice normal
    orientation: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    orientation_min_cosine: float = 0.99
    rescale_required: bool = True  # RescaleSlope and RescaleIntercept present; RescaleType HU if present
    max_slices: int = 1000


DEMO_CONTRACT = InputContract()


def _refuse(message: str) -> ContractViolation:
    return ContractViolation(message, hint=_OUTSIDE)


def _get(ds: Dataset, keyword: str) -> Any:
    """The attribute's value, or None if absent or empty; a value pydicom cannot convert is a refusal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ds.get(keyword)
    except Exception as exc:  # lazily converted values of data sets not read by reader.py
        raise _refuse(f"{keyword} is malformed ({' '.join(str(exc).split())[:100]})") from exc
    if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
        return None
    return value


def _value(ds: Dataset, keyword: str) -> Any:
    value = _get(ds, keyword)
    if value is None:
        raise _refuse(f"{keyword} is missing; this model needs it and does not guess it")
    return value


def _numbers(ds: Dataset, keyword: str, count: int) -> list[float]:
    value = _value(ds, keyword)
    values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise _refuse(f"{keyword} is not numeric ({str(value)[:60]!r})") from exc
    if len(numbers) != count:
        raise _refuse(f"{keyword} has {len(numbers)} value(s); {count} expected")
    if not all(math.isfinite(n) for n in numbers):
        raise _refuse(f"{keyword} is not a finite number ({str(value)[:60]})")
    return numbers


def _integer(ds: Dataset, keyword: str) -> int:
    number = _numbers(ds, keyword, 1)[0]
    if number != int(number):
        raise _refuse(f"{keyword} is {number:g}; an integer is expected")
    return int(number)


def _in_range(name: str, value: float, bounds: tuple[float, float], unit: str = "") -> None:
    low, high = bounds
    if not low <= value <= high:
        raise _refuse(f"{name} is {value:g}{unit}; this model accepts {low:g} to {high:g}{unit}")


def _printable_values(values: MultiValue) -> str:
    """At most three values, each cut to 64 characters, backslash-joined as DICOM writes them; one
    terminal line (control characters become '?')."""
    return printable("\\".join(str(v)[:64] for v in list(values)[:3]) + ("\\..." if len(values) > 3 else ""))


def _uid(ds: Dataset, keyword: str) -> str:
    return str(_get(ds, keyword) or "").strip()


def _check_orientation(ds: Dataset, contract: InputContract) -> None:
    """Axial slices in the contract's orientation (PS3.3 C.7.6.2.1.1)."""
    orientation = _numbers(ds, "ImageOrientationPatient", 6)
    found = "\\".join(f"{v:g}" for v in orientation)
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    if not (abs(np.linalg.norm(row) - 1) < 0.01 and abs(np.linalg.norm(column) - 1) < 0.01
            and abs(float(row @ column)) < 0.01):
        raise _refuse(f"ImageOrientationPatient is {found}: not two orthogonal unit vectors")
    expected_row, expected_column = np.array(contract.orientation[:3]), np.array(contract.orientation[3:])
    normal, expected_normal = np.cross(row, column), np.cross(expected_row, expected_column)
    alignment = abs(float(normal @ expected_normal))
    if alignment < contract.orientation_min_cosine:
        raise _refuse(
            f"ImageOrientationPatient is {found}: the slices are not axial (|normal . z| = {alignment:.3f}; "
            f"this model accepts >= {contract.orientation_min_cosine:g})"
        )
    if min(float(row @ expected_row), float(column @ expected_column)) < contract.orientation_min_cosine:
        raise _refuse(
            f"ImageOrientationPatient is {found}: axial but rotated or flipped; this model accepts "
            + "\\".join(f"{v:g}" for v in contract.orientation)
            + f" (direction cosines within {contract.orientation_min_cosine:g})"
        )


def _check_modality(ds: Dataset, contract: InputContract) -> None:
    modality = str(_value(ds, "Modality"))
    if modality != contract.modality:
        raise _refuse(f"Modality is {modality}; this model accepts {contract.modality} only")


def _check_sop_class(ds: Dataset, contract: InputContract) -> None:
    sop_class = _uid(ds, "SOPClassUID")
    if sop_class not in contract.sop_class_uids:
        raise _refuse(f"SOPClassUID is {sop_class or 'missing'}; this model accepts "
                      + ", ".join(contract.sop_class_uids) + " (CT Image Storage)")


def _check_file_meta(ds: Dataset, contract: InputContract) -> None:
    sop_class = _uid(ds, "SOPClassUID")
    file_meta = getattr(ds, "file_meta", None)
    media_class = _uid(file_meta, "MediaStorageSOPClassUID") if file_meta is not None else ""
    if media_class and media_class != sop_class:
        raise _refuse(f"MediaStorageSOPClassUID {media_class} disagrees with SOPClassUID {sop_class}; "
                      "the file is inconsistent")
    syntax = getattr(file_meta, "TransferSyntaxUID", None) if file_meta is not None else None
    if isinstance(syntax, MultiValue):  # a file has one encoding (PS3.10 7.1: VM 1)
        raise _refuse(f"TransferSyntaxUID holds {len(syntax)} values ({_printable_values(syntax)}); "
                      "a file has exactly one transfer syntax, so its encoding is ambiguous")
    if syntax is not None and not syntax.is_transfer_syntax:  # e.g. 1.2.3.4: the encoding is unknown
        raise _refuse(f"TransferSyntaxUID {syntax} is not a transfer syntax; the file's encoding is unknown")


def _check_frames(ds: Dataset, contract: InputContract) -> None:
    if _get(ds, "NumberOfFrames") is not None and _integer(ds, "NumberOfFrames") != 1:
        raise _refuse(f"NumberOfFrames is {_get(ds, 'NumberOfFrames')}; this model accepts single-frame slices")


def _check_photometric(ds: Dataset, contract: InputContract) -> None:
    photometric = str(_value(ds, "PhotometricInterpretation")).strip()
    if photometric not in contract.photometric:
        raise _refuse(f"PhotometricInterpretation is {photometric}; this model accepts " + ", ".join(contract.photometric))


def _check_samples(ds: Dataset, contract: InputContract) -> None:
    samples = _integer(ds, "SamplesPerPixel")
    if samples != contract.samples_per_pixel:
        raise _refuse(f"SamplesPerPixel is {samples}; this model accepts {contract.samples_per_pixel}")


def _check_bits(ds: Dataset, contract: InputContract) -> None:
    bits = _integer(ds, "BitsAllocated")
    if bits not in contract.bits_allocated:
        raise _refuse(f"BitsAllocated is {bits}; this model accepts " + ", ".join(map(str, contract.bits_allocated)))
    stored = _integer(ds, "BitsStored")
    if not 1 <= stored <= bits:
        raise _refuse(f"BitsStored is {stored}, inconsistent with BitsAllocated {bits}")


def _check_representation(ds: Dataset, contract: InputContract) -> None:
    representation = _integer(ds, "PixelRepresentation")
    if representation not in (0, 1):
        raise _refuse(f"PixelRepresentation is {representation}; 0 (unsigned) or 1 (signed) expected")


def _check_matrix(ds: Dataset, contract: InputContract) -> None:
    rows, columns = _integer(ds, "Rows"), _integer(ds, "Columns")
    _in_range("Rows", rows, contract.rows_range, " px")
    _in_range("Columns", columns, contract.columns_range, " px")
    if contract.square_matrix and rows != columns:
        raise _refuse(f"Rows x Columns is {rows} x {columns} px; this model accepts square images only")


def _check_spacing(ds: Dataset, contract: InputContract) -> None:
    row_spacing, column_spacing = _numbers(ds, "PixelSpacing", 2)
    _in_range("PixelSpacing (row)", row_spacing, contract.pixel_spacing_range_mm, " mm")
    _in_range("PixelSpacing (column)", column_spacing, contract.pixel_spacing_range_mm, " mm")
    if contract.square_pixels and abs(row_spacing - column_spacing) > _SQUARE_TOLERANCE * max(row_spacing, column_spacing):
        raise _refuse(f"PixelSpacing is {row_spacing:g}\\{column_spacing:g} mm: pixels are not square; "
                      "this model accepts square pixels only")


def _check_thickness(ds: Dataset, contract: InputContract) -> None:
    thickness = _numbers(ds, "SliceThickness", 1)[0]
    _in_range("SliceThickness", thickness, contract.slice_thickness_range_mm, " mm")


def _check_position(ds: Dataset, contract: InputContract) -> None:
    _numbers(ds, "ImagePositionPatient", 3)


def _stored_range(ds: Dataset) -> tuple[int, int, str] | None:
    """The lowest and highest stored value BitsStored and PixelRepresentation allow, and how
    they say so (None when they are unusable: their own checks say why)."""
    try:
        bits, signed = _integer(ds, "BitsStored"), _integer(ds, "PixelRepresentation")
    except ContractViolation:
        return None
    if not 1 <= bits <= 64 or signed not in (0, 1):
        return None
    label = f"BitsStored {bits}, {'signed' if signed else 'unsigned'}"
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1, label) if signed else (0, (1 << bits) - 1, label)


def _check_hu_range(slope: float, intercept: float, stored: tuple[int, int, str]) -> None:
    """The stored range mapped to HU as ``series._decode`` computes them (float32) must be finite,
    within ``PLAUSIBLE_HU`` and spread over at least ``MIN_HU_SPAN``."""
    with np.errstate(over="ignore", invalid="ignore"):
        ends = np.array(stored[:2], np.float32) * np.float32(slope) + np.float32(intercept)
    low, high = float(ends.min()), float(ends.max())
    found = (f"RescaleSlope {slope:g} and RescaleIntercept {intercept:g} map the stored values {stored[0]}..{stored[1]} "
             f"({stored[2]}) to {low:g}..{high:g} HU")
    if not (np.isfinite(ends).all() and PLAUSIBLE_HU[0] <= low and high <= PLAUSIBLE_HU[1]):
        raise _refuse(f"{found}; CT numbers lie within {PLAUSIBLE_HU[0]:g}..{PLAUSIBLE_HU[1]:g} HU")
    if high - low < MIN_HU_SPAN:
        raise _refuse(f"{found}: less than {MIN_HU_SPAN:g} HU between the lowest and highest value, the image "
                      "would hold no contrast; RescaleSlope is implausibly small")


# What the DECODED image of a body CT slice holds (SRS-011), checked on each slice as it is decoded
# (series.HUVolume): the header check above cannot see a rescale that is plausible for the declared
# range but wrong for the pixels (slope 2e-5, intercept 100000, a slope of -1, 0.001 or 3).
# - CT numbers: air is -1000 HU, water 0, cortical bone up to ~2000 and dense bone/contrast ~3000;
#   -1100..3100 HU leaves 100 HU of noise beyond both. Pixels outside it are padding outside the
#   reconstruction circle (-2048/-3024 HU; the circle leaves 1 - pi/4 = 21.5 % of a square image
#   outside) or metal: at least half of a slice's pixels must lie inside.
# - Soft tissue: a slice through a body holds fat (-100), water (0) or soft tissue (+40..+80), still
#   there with contrast (enhanced organs ~100..200 HU): at least 1 % of the pixels (a 5 x 5 cm patch
#   of a 50 cm field of view) within -200..300 HU. A wrong slope moves it away (x3: muscle at 2168 HU;
#   x-1: -2088 HU; x0.001: -1023 HU). Known limit: a slice of air only (above the vertex) is refused.
# - Contrast: the 1st to 99th percentile of a body slice spans at least the 140 HU between fat and
#   muscle (air against tissue: ~1000 HU); below 100 HU the image holds no anatomy the model could
#   segment (slope 2e-5: 1.3 HU). Plain noise of a uniform object (sigma 10 HU) spans ~47 HU.
CT_NUMBER_HU = (-1100.0, 3100.0)
MIN_CT_NUMBER_SHARE = 0.5
SOFT_TISSUE_HU = (-200.0, 300.0)
MIN_SOFT_TISSUE_SHARE = 0.01
MIN_SPREAD_HU = 100.0
SPREAD_PERCENTILES = (1.0, 99.0)


def decoded_hu_problem(hu: np.ndarray) -> str | None:
    """Why the decoded HU of one slice are not those of a body CT (the thresholds above), or None."""
    values = np.asarray(hu, dtype=np.float32).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        return "the image holds values that are not finite numbers after RescaleSlope and RescaleIntercept"
    share = float(np.count_nonzero((values >= CT_NUMBER_HU[0]) & (values <= CT_NUMBER_HU[1]))) / values.size
    low, high = (float(v) for v in np.percentile(values, SPREAD_PERCENTILES))
    tissue = float(np.count_nonzero((values >= SOFT_TISSUE_HU[0]) & (values <= SOFT_TISSUE_HU[1]))) / values.size
    found = (f"after RescaleSlope and RescaleIntercept the image spans {float(values.min()):g}..{float(values.max()):g}"
             f" HU (1st..99th percentile {low:g}..{high:g})")
    if share < MIN_CT_NUMBER_SHARE:
        return (f"{found}, {share:.0%} of the pixels within {CT_NUMBER_HU[0]:g}..{CT_NUMBER_HU[1]:g} HU (CT numbers "
                f"from air to bone); at least {MIN_CT_NUMBER_SHARE:.0%} expected: the rescale does not give HU")
    if high - low < MIN_SPREAD_HU:
        return (f"{found}: less than {MIN_SPREAD_HU:g} HU of contrast, no anatomy (air, fat, soft tissue) to "
                "analyse; the rescale is implausible")
    if tissue < MIN_SOFT_TISSUE_SHARE:
        return (f"{found}, {tissue:.1%} of the pixels within {SOFT_TISSUE_HU[0]:g}..{SOFT_TISSUE_HU[1]:g} HU (fat, "
                f"water, soft tissue); at least {MIN_SOFT_TISSUE_SHARE:.0%} expected in a slice of a body: the "
                "rescale is implausible or the slice shows no body")
    return None


def stored_values_problem(pixels: np.ndarray, ds: Dataset) -> str | None:
    """Why the stored values (decoded without masking the bits above BitsStored) do not fit the range
    BitsStored and PixelRepresentation declare, or None: a value beyond it would be read as another
    one (BitsStored 12, signed: 2524 as -1572), the image meant is ambiguous."""
    stored = _stored_range(ds)
    if stored is None or pixels.size == 0:
        return None
    low, high = int(pixels.min()), int(pixels.max())
    if low >= stored[0] and high <= stored[1]:
        return None
    return (f"stored pixel values {low}..{high} do not fit {stored[2]} ({stored[0]}..{stored[1]}); they would be "
            "read as other values: the image is ambiguous")


def _check_rescale(ds: Dataset, contract: InputContract) -> None:
    if contract.rescale_required:
        slope = _numbers(ds, "RescaleSlope", 1)[0]
        if slope == 0:
            raise _refuse("RescaleSlope is 0; a non-zero slope is needed to compute Hounsfield units")
        intercept = _numbers(ds, "RescaleIntercept", 1)[0]
        rescale_type = _get(ds, "RescaleType")
        if rescale_type is not None and str(rescale_type).strip() != "HU":
            raise _refuse(f"RescaleType is {rescale_type}; this model needs Hounsfield units (HU)")
        stored = _stored_range(ds)
        if stored is not None:
            _check_hu_range(slope, intercept, stored)


def _check_pixel_data(ds: Dataset, contract: InputContract) -> None:
    if "PixelData" not in ds:
        raise _refuse("PixelData is missing: the file holds no image")
    if not ds.PixelData:  # present with zero length: pydicom reads it as None
        raise _refuse("PixelData is empty: the file holds no image")


def _check_pixel_length(ds: Dataset, contract: InputContract) -> None:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_encapsulated:
        return  # compressed frames have no fixed length; decoding checks them
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        expected = int(ds.Rows) * int(ds.Columns) * frames * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    except (AttributeError, TypeError, ValueError):
        return  # the matrix and bits checks name what is missing
    held = len(ds.PixelData)
    if held not in (expected, expected + 1):  # PS3.5 §8.1.1: one padding byte to an even length
        raise _refuse(f"PixelData holds {held} bytes but Rows x Columns x frames x samples x BitsAllocated needs "
                      f"{expected}: the image size is ambiguous")


# A wrong modality or SOP class makes the object a different kind of object, and one without
# pixel data holds no image: the checks after these would only list consequences, so they
# stop there (_KIND). The others are independent: each reports its first failure, and all run.
_KIND = (_check_modality, _check_sop_class, _check_pixel_data)
_CHECKS = (
    _check_file_meta, _check_frames, _check_photometric, _check_samples, _check_bits, _check_representation,
    _check_matrix, _check_spacing, _check_thickness, _check_orientation, _check_position, _check_rescale,
)


def header_problems(ds: Dataset, contract: InputContract = DEMO_CONTRACT) -> list[str]:
    """Every way the header of ``ds`` is outside ``contract``, one line each (empty if inside).

    Checks, in this order: Modality, SOP Class, the presence of pixel data (when one of these
    fails the file is another kind of object, or holds no image, and nothing more is
    checked), the SOP Class's agreement with the file meta, single frame, photometric
    interpretation, samples per pixel, bits allocated/stored, pixel representation, matrix
    size, pixel spacing, slice thickness, orientation, position and rescale; when all of these
    pass, the native pixel data length. Each check reports its first failure.
    """
    for check in _KIND:
        try:
            check(ds, contract)
        except ContractViolation as exc:
            return [exc.message]
    problems: list[str] = []
    for check in _CHECKS:
        try:
            check(ds, contract)
        except ContractViolation as exc:
            if exc.message not in problems:
                problems.append(exc.message)
    if not problems:  # with a wrong matrix, frames or bits the length is only a consequence
        try:
            _check_pixel_length(ds, contract)
        except ContractViolation as exc:
            problems.append(exc.message)
    return problems


def check_header(ds: Dataset, contract: InputContract = DEMO_CONTRACT) -> None:
    """Raise :class:`ContractViolation` unless the header of ``ds`` is inside ``contract``.

    The message states the first problem (:func:`header_problems` gives the order) and how
    many more there are; ``problems`` lists all of them.
    """
    problems = header_problems(ds, contract)
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise ContractViolation(problems[0] + more, problems=tuple(problems), hint=_OUTSIDE)
