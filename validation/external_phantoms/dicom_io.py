"""Writing an ExternalCase: CT Image Storage series, DICOM SEG ground truth, parameters.json.

Every UID is derived from the case seed (pydicom's ``generate_uid`` with its fixed root and the
seed as entropy source), dates and times are fixed, so the written bytes depend on the seed only.
"""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

from .generator import GENERATOR_VERSION, LESION_LABEL, ORGAN_LABEL, ExternalCase

UID_PREFIX = "1.2.826.0.1.3680043.8.498."   # pydicom's root; the suffix is a hash of the sources below
UID_NAMESPACE = "device_ai external phantom (clean-room)"
FIXED_DATE = "20000101"
FIXED_TIME = "120000"
MANUFACTURER = "device_ai validation (synthetic phantom, not a scanner)"
CT_FOLDER = "ct"
SEG_FILE = "seg.dcm"
PARAMETERS_FILE = "parameters.json"

ORGAN_CATEGORY = Code("91723000", "SCT", "Anatomical Structure")
ORGAN_TYPE = Code("91772007", "SCT", "Organ")
LESION_CATEGORY = Code("49755003", "SCT", "Morphologically Abnormal Structure")
LESION_TYPE = Code("52988006", "SCT", "Lesion")


def case_uid(seed: int, role: str) -> str:
    return str(generate_uid(prefix=UID_PREFIX, entropy_srcs=[UID_NAMESPACE, GENERATOR_VERSION, str(seed), role]))


def _ds(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def ct_datasets(case: ExternalCase) -> list[Dataset]:
    """The CT series as in-memory datasets (slice index 0 first, increasing z)."""
    p = case.parameters
    acq = p["acquisition"]
    seed = case.seed
    representation, intercept = case.encoding
    stored = np.rint(case.hu - intercept)
    dtype = np.int16 if representation == 1 else np.uint16
    info = np.iinfo(dtype)
    if stored.min() < info.min or stored.max() > info.max:
        raise ValueError("HU outside the stored value range of the chosen encoding")
    stored = stored.astype(dtype)
    rows, cols = case.hu.shape[1:]
    study_uid, series_uid, frame_uid = (case_uid(seed, r) for r in ("study", "ct-series", "frame-of-reference"))
    x0, y0, z0 = case.origin
    out = []
    for k in range(case.hu.shape[0]):
        sop_uid = case_uid(seed, f"ct-instance-{k}")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = FIXED_DATE
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = FIXED_TIME
        ds.AccessionNumber = ""
        ds.Modality = "CT"
        ds.Manufacturer = MANUFACTURER
        ds.InstitutionName = "SYNTHETIC"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "EXTERNAL PHANTOM (synthetic, validation only)"
        ds.SeriesDescription = f"EXTERNAL PHANTOM {seed:04d} (synthetic)"
        ds.ManufacturerModelName = "external_phantoms"
        ds.SoftwareVersions = GENERATOR_VERSION
        ds.PatientName = p["patient_name"]
        ds.PatientID = p["patient_id"]
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.BodyPartExamined = "ABDOMEN"
        ds.SliceThickness = _ds(case.thickness)
        ds.KVP = "120"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = f"EXT{seed:04d}"
        ds.SeriesNumber = 1
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        z = z0 + k * case.spacing[0]
        ds.ImagePositionPatient = [_ds(x0), _ds(y0), _ds(z)]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(z)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.PixelSpacing = [_ds(case.spacing[1]), _ds(case.spacing[2])]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = representation
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.BurnedInAnnotation = "NO"
        ds.PixelData = stored[k].tobytes()
        ds["PixelData"].VR = "OW"
        out.append(ds)
    del acq
    return out


def seg_dataset(case: ExternalCase, source: list[Dataset]) -> hd.seg.Segmentation:
    algorithm = hd.AlgorithmIdentificationSequence(
        name="external phantom ground truth (shape definition)",
        version=GENERATOR_VERSION,
        family=codes.cid7162.MorphologicalOperations,
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=ORGAN_LABEL, segment_label="Organ",
            segmented_property_category=ORGAN_CATEGORY, segmented_property_type=ORGAN_TYPE,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm),
        hd.seg.SegmentDescription(
            segment_number=LESION_LABEL, segment_label="Lesion",
            segmented_property_category=LESION_CATEGORY, segmented_property_type=LESION_TYPE,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm),
    ]
    descriptions.sort(key=lambda d: int(d.SegmentNumber))
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=case.labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=case_uid(case.seed, "seg-series"),
        series_number=2,
        sop_instance_uid=case_uid(case.seed, "seg-instance"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="external_phantoms",
        software_versions=GENERATOR_VERSION,
        device_serial_number="EXT-PHANTOM",
        content_description="Ground truth of a synthetic phantom",
        content_label="GROUND_TRUTH",
        omit_empty_frames=False,
    )
    # fixed times and UIDs: the file's bytes depend on the seed only
    _fix_times(seg)
    if "DimensionOrganizationSequence" in seg:
        fixed = case_uid(case.seed, "seg-dimension-organization")
        old = seg.DimensionOrganizationSequence[0].DimensionOrganizationUID
        seg.DimensionOrganizationSequence[0].DimensionOrganizationUID = fixed
        for item in seg.DimensionIndexSequence:
            if getattr(item, "DimensionOrganizationUID", None) == old:
                item.DimensionOrganizationUID = fixed
    return seg


def _fix_times(ds: Dataset) -> None:
    """Every date, time and date-time (creation, contribution, ...) set to the fixed instant."""
    fixed = {"DA": FIXED_DATE, "TM": FIXED_TIME, "DT": FIXED_DATE + FIXED_TIME}
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _fix_times(item)
        elif element.VR in fixed and element.value not in (None, ""):
            element.value = fixed[element.VR]


def write_case(case: ExternalCase, folder: str | Path) -> Path:
    """Write ``folder/ct/CT0001.dcm...``, ``folder/seg.dcm`` and ``folder/parameters.json``."""
    folder = Path(folder)
    ct_dir = folder / CT_FOLDER
    ct_dir.mkdir(parents=True, exist_ok=True)
    datasets = ct_datasets(case)
    for k, ds in enumerate(datasets):
        ds.save_as(ct_dir / f"CT{k + 1:04d}.dcm", enforce_file_format=True)
    seg = seg_dataset(case, datasets)
    seg.save_as(folder / SEG_FILE, enforce_file_format=True)
    (folder / PARAMETERS_FILE).write_text(json.dumps(case.parameters, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def read_hu(ct_dir: str | Path) -> np.ndarray:
    """HU volume (Z, R, C) of a written series, slices ordered by ImagePositionPatient z."""
    files = [pydicom.dcmread(p) for p in sorted(Path(ct_dir).glob("*.dcm"))]
    files.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in files])
