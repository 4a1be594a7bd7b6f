"""Write a phantom as a DICOM CT series (CT Image Storage, PS3.3 A.3), one file per slice.

Synthetic patient with obviously fake identifiers; UIDs derived from the case (generator
version, seed, image digest; series number; slice) under the ``2.25.`` root (PS3.5 B.2), so
the same case always gets the same UIDs and two different images never share one; realistic
geometry (axial orientation, positions stepping by the slice thickness, image centred on the
isocentre); 16-bit signed pixels with RescaleIntercept -1024, so every HU value of a phantom
(-2048..3071) round-trips exactly. Files are named by instance number, never by UID, and
written atomically with a zero preamble.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

import device_ai
from device_ai.atomic_io import atomic_write_bytes
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import OutputError
from device_ai.training.phantoms import GENERATOR_VERSION as V1_GENERATOR
from device_ai.training.phantoms import PhantomCase

RESCALE_INTERCEPT = -1024
_STORED_MIN, _STORED_MAX = -32768, 32767  # PixelRepresentation 1, BitsStored 16
_FILE_NAME = re.compile(r"CT(\d{6})\.dcm")
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "phantoms.device-ai.invalid")


def case_key(case: PhantomCase) -> str:
    """What the UIDs are derived from: generator version, seed and the image itself.

    The same seed with ``n_slices``/``rows`` overrides is another image, so it must not
    reuse the UIDs; the same image always gets the same ones. The generator version is the
    case's own (``phantoms/1`` for v1 cases, so their UIDs are unchanged).
    """
    digest = hashlib.sha256(np.ascontiguousarray(case.hu).tobytes()).hexdigest()
    shape = "x".join(map(str, case.hu.shape))
    return "\x1f".join(["device_ai phantom", case.generator, str(case.seed), shape, digest])


def _uid(key: str, *parts: object) -> str:
    """``2.25.<UUID as integer>`` (PS3.5 B.2) with a name-based (version 5) UUID of ``key``
    and ``parts``: deterministic, unlike ``pydicom.uid.generate_uid(prefix=None)``, which
    ignores its entropy sources and returns a random UUID."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(0x1F).join([key, *map(str, parts)])).int}"


def slice_dataset(
    case: PhantomCase, index: int, *, study_date: str = "20260101", series_number: int = 1, key: str | None = None
) -> Dataset:
    """The dataset of slice ``index`` (0 = most inferior); ``key`` is :func:`case_key` if known."""
    depth, rows, cols = case.hu.shape
    key = key or case_key(case)
    if not 0 <= index < depth:
        raise IndexError(f"slice {index} of a {depth}-slice case")
    stored = case.hu[index].astype(np.int32) - RESCALE_INTERCEPT
    if stored.min() < _STORED_MIN or stored.max() > _STORED_MAX:
        raise ValueError(
            f"slice {index} has HU that 16-bit signed pixels with intercept {RESCALE_INTERCEPT} cannot hold")
    spacing = case.pixel_spacing_mm
    z = float(case.z_positions_mm()[index])
    sop_uid = _uid(key, "series", series_number, "sop", index)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "DEVICE_AI_01"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "device_ai phantom generator"
    ds.InstitutionName = "SYNTHETIC"
    ds.ReferringPhysicianName = ""
    ds.StationName = "PHANTOM"
    ds.StudyDescription = "SYNTHETIC PHANTOM STUDY"
    ds.SeriesDescription = "SYNTHETIC PHANTOM AXIAL"
    # the generator's identity; "phantoms" for v1 cases, as their series always said
    ds.ManufacturerModelName = "phantoms" if case.generator == V1_GENERATOR else case.generator
    ds.SoftwareVersions = device_ai.__version__
    ds.PatientName = case.patient_name
    ds.PatientID = case.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Synthetic phantom; no real patient"
    ds.BodyPartExamined = "ABDOMEN"
    ds.SliceThickness = f"{case.slice_thickness_mm:.4f}"
    ds.SpacingBetweenSlices = f"{case.slice_thickness_mm:.4f}"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid(key, "study")
    ds.SeriesInstanceUID = _uid(key, "series", series_number)
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    offset = -(np.array([cols, rows]) - 1) / 2.0 * spacing
    ds.ImagePositionPatient = [f"{offset[0]:.4f}", f"{offset[1]:.4f}", f"{z:.4f}"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = _uid(key, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{z:.4f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.PixelSpacing = [f"{spacing:.6f}", f"{spacing:.6f}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.ConvolutionKernel = "STANDARD"
    ds.PixelData = stored.astype("<i2").tobytes()
    return ds


def dataset_bytes(ds: Dataset) -> bytes:
    """DICOM Part 10 bytes with a zero preamble (CVE-2019-11687: no polyglot preamble)."""
    return part10_bytes(ds)


def write_ct_series(
    case: PhantomCase, out_dir: Path, *, study_date: str = "20260101", series_number: int = 1
) -> list[Path]:
    """Write every slice to ``out_dir/CT000001.dcm`` ...; returns the paths in slice order.

    Each file is written atomically; files of the same names are replaced. A folder that
    holds higher-numbered ``CT*.dcm`` files (an earlier, longer series) is refused: they
    would mix with this series.
    """
    out_dir = Path(out_dir)
    depth = case.hu.shape[0]
    if out_dir.is_dir():
        names = (p.name for p in out_dir.iterdir())
        extra = sorted(n for n in names if (m := _FILE_NAME.fullmatch(n)) and int(m[1]) > depth)
        if extra:
            raise OutputError(
                f"{out_dir} already holds {len(extra)} slice file(s) beyond this {depth}-slice series ({extra[0]} ...)",
                hint="write each phantom series into an empty folder",
            )
    key = case_key(case)
    paths = []
    for index in range(case.hu.shape[0]):
        ds = slice_dataset(case, index, study_date=study_date, series_number=series_number, key=key)
        paths.append(atomic_write_bytes(out_dir / f"CT{index + 1:06d}.dcm", dataset_bytes(ds)))
    return paths
