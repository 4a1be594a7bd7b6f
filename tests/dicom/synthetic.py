"""A minimal valid CT series for DICOM tests, written with pydicom alone.

Obviously fake identifiers (PHANTOM^TEST); deterministic UIDs under the 2.25 root; CT Image
Storage (PS3.3 A.3) with the Type 1/2 attributes of the Patient, General Study, General
Series, Frame of Reference, General Equipment, General Image, Image Plane, Image Pixel, CT
Image and SOP Common modules, so that a SEG derived from it can be checked by dciodvfy.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

INTERCEPT = -1024.0


def uid(*parts: object) -> str:
    """A deterministic UUID-derived UID (PS3.5 B.2, root 2.25) of ``parts``."""
    digest = hashlib.sha256("\x1f".join(["device_ai tests/dicom", *map(str, parts)]).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def phantom_hu(slices: int = 4, rows: int = 256) -> np.ndarray:
    """Air, an elliptic body (40 HU), an 'organ' disc (80 HU) and a small dense 'lesion' (150 HU)."""
    z, r, c = np.mgrid[0:slices, 0:rows, 0:rows].astype(np.float32)
    hu = np.full((slices, rows, rows), -1000.0, np.float32)
    centre = rows / 2
    hu[((r - centre) / (0.4 * rows)) ** 2 + ((c - centre) / (0.45 * rows)) ** 2 <= 1] = 40.0
    hu[(r - centre) ** 2 + (c - centre * 0.8) ** 2 <= (0.15 * rows) ** 2] = 80.0
    hu[((r - centre) ** 2 + (c - centre * 0.8) ** 2 <= (0.04 * rows) ** 2) & (z >= slices // 2)] = 150.0
    return hu


def ct_slice(
    index: int,
    hu: np.ndarray,
    *,
    series: str = "series-1",
    spacing_mm: float = 0.75,
    thickness_mm: float = 2.5,
    z0_mm: float = -100.0,
) -> Dataset:
    """Slice ``index`` of ``hu`` (Z, R, C) as a CT Image Storage data set with file meta."""
    rows, columns = hu.shape[1:]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid(series, "instance", index)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "PHANTOM"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "PHANTOM TEST"
    ds.PatientName = "PHANTOM^TEST"
    ds.PatientID = "PHANTOM-0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.KVP = "120"
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid(series)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    ds.PatientOrientation = ""
    ds.ImagePositionPatient = [-spacing_mm * (columns - 1) / 2, -spacing_mm * (rows - 1) / 2, z0_mm + index * thickness_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = uid("frame of reference")
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = z0_mm + index * thickness_mm
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.SliceThickness = thickness_mm
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = INTERCEPT
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = (np.round(hu[index]) - INTERCEPT).astype("<i2").tobytes()
    return ds


def valid_slice(index: int = 0, slices: int = 4, rows: int = 256) -> Dataset:
    return ct_slice(index, phantom_hu(slices, rows))


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write(ds: Dataset, path: Path) -> Path:
    path.write_bytes(part10(ds))
    return path


def write_series(folder: Path, hu: np.ndarray, **kwargs: object) -> list[Path]:
    """One file per slice, named by slice index."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write(ct_slice(i, hu, **kwargs), folder / f"slice{i:03d}.dcm") for i in range(hu.shape[0])]
