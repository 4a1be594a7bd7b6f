"""Synthetic de-identification corpora (no real PHI: every identifier is an obvious fake).

- :func:`canary_dataset`: one CT instance with every attribute of Table E.1-1 that pydicom
  can encode set to a unique canary value, also inside a nested sequence, in private
  attributes and in the file meta.
- :func:`write_study`: a multi-series study (a small CT series plus a SEG that references
  it) of one fake patient, with dates, names, IDs and references to check after a run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.writer import part10_bytes

FAKE_PATIENT = "FAKE^CANARY^TESTPATIENT"
FAKE_MRN = "FAKE-MRN-000123"
CANARY_BASE_DATE = dt.date(1970, 1, 1)


def ct_slice(index: int, *, patient_name: str = FAKE_PATIENT, patient_id: str = FAKE_MRN,
             study_uid: str = "1.2.999.1.1", series_uid: str = "1.2.999.1.2", for_uid: str = "1.2.999.1.3",
             study_date: str = "20240315", size: int = 16) -> Dataset:
    """One small, valid CT Image Storage instance of the fake patient."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.999.1.4.{index + 1}"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = "1.2.999.77"
    ds.file_meta.SourceApplicationEntityTitle = "FAKE_MODALITY_AE"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"1.2.999.1.4.{index + 1}"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.AcquisitionDate = study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "101530"
    ds.AccessionNumber = "FAKE-ACC-998877"
    ds.Modality = "CT"
    ds.Manufacturer = "Synthetic Scanner Co"
    ds.InstitutionName = "Fake General Hospital"
    ds.InstitutionAddress = "1 Nowhere Lane, Faketown"
    ds.ReferringPhysicianName = "FAKE^REFERRER^DOCTOR"
    ds.StationName = "FAKESTATION7"
    ds.StudyDescription = "CT ABDOMEN FAKE^CANARY^TESTPATIENT"
    ds.SeriesDescription = "AXIAL 1MM"
    ds.OperatorsName = "FAKE^OPERATOR"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19610704"
    ds.PatientSex = "O"
    ds.PatientAge = "062Y"
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    ds.OtherPatientIDsSequence[0].PatientID = "FAKE-OTHER-ID-4455"
    ds.OtherPatientIDsSequence[0].TypeOfPatientID = "TEXT"
    ds.RequestAttributesSequence = Sequence([Dataset()])
    ds.RequestAttributesSequence[0].RequestedProcedureID = "FAKE-RP-3344"
    ds.RequestAttributesSequence[0].ScheduledProcedureStepID = "FAKE-SPS-5566"
    ds.DeviceSerialNumber = "FAKE-SERIAL-0042"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "FAKESTUDY1"
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [0.0, 0.0, float(index)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = float(index)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.PixelSpacing = [1.0, 1.0]
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.BurnedInAnnotation = "NO"
    block = ds.private_block(0x0009, "FAKE_VENDOR_PHI", create=True)
    block.add_new(0x01, "LO", "FAKE^PRIVATE^NAME MRN-PRIV-7788")
    block.add_new(0x02, "DA", "20240301")
    if index > 0:  # each slice references the first: references must still resolve afterwards
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = "1.2.999.1.4.1"
        ds.ReferencedImageSequence = Sequence([ref])
    pixels = (np.arange(size * size, dtype=np.int16).reshape(size, size) + 30 * index) % 2000
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def write_study(folder: Path, *, patient_id: str = FAKE_MRN, study_date: str = "20240315",
                uid_prefix: str = "1.2.999.1", slices: int = 3) -> dict[str, Path]:
    """A CT series and a SEG that references it; returns the written paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    cts = [ct_slice(i, patient_id=patient_id, study_date=study_date, study_uid=f"{uid_prefix}.1",
                    series_uid=f"{uid_prefix}.2", for_uid=f"{uid_prefix}.3") for i in range(slices)]
    for i, ds in enumerate(cts):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{uid_prefix}.4.{i + 1}"
        if "ReferencedImageSequence" in ds:
            ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = f"{uid_prefix}.4.1"
    paths = {}
    for i, ds in enumerate(cts):
        paths[f"ct{i}"] = folder / f"FAKE_CANARY_ct{i}.dcm"
        paths[f"ct{i}"].write_bytes(part10_bytes(ds))
    mask = np.zeros((slices, 16, 16), dtype=bool)
    mask[:, 4:10, 4:10] = True
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Organ",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("91772007", "SCT", "Organ"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=cts, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment], series_instance_uid=f"{uid_prefix}.5", series_number=2,
        sop_instance_uid=f"{uid_prefix}.6", instance_number=1, manufacturer="Synthetic Scanner Co",
        manufacturer_model_name="synthetic model", software_versions="0", device_serial_number="FAKE-SERIAL-0042",
        content_creator_name="FAKE^SEGMENTER")
    seg.ContentDate = study_date
    seg.ContentTime = "111500"
    paths["seg"] = folder / "FAKE_CANARY_seg.dcm"
    paths["seg"].write_bytes(part10_bytes(seg))
    return paths


# -- the canary corpus -------------------------------------------------------------------

def _canary_value(index: int, vr: str, date_index: int = 0) -> object | None:
    """A value unique to row ``index`` that is valid for ``vr`` (None: cannot be a canary).

    Dates are numbered apart (``date_index``) so that all of them fit within 300 days: the
    keyed shift (at least 365 days) then never lands one canary date on another.
    """
    if vr in ("LO", "SH", "LT", "ST", "UT", "UC", "AE", "CS"):
        text = f"CANARY{index:04d}{vr}"
        return text.upper() if vr in ("CS", "AE") else text
    if vr == "PN":
        return f"CANARY{index:04d}^PERSON"
    if vr == "DA":  # DA and DT canaries lie in separate years and within 300 days of each base
        return (CANARY_BASE_DATE + dt.timedelta(days=date_index)).strftime("%Y%m%d")
    if vr == "DT":
        return (CANARY_BASE_DATE.replace(year=1980) + dt.timedelta(days=date_index)).strftime("%Y%m%d") + "111111"
    if vr == "TM":
        return f"{index % 24:02d}{index % 60:02d}59.{index:06d}"
    if vr == "UI":
        return f"1.2.999.777.{index}.9"  # the .9 keeps one canary UID from prefixing another
    if vr in ("IS",):
        return str(700000 + index)
    if vr == "DS":
        return f"7{index:05d}.5"
    if vr == "UR":
        return f"http://canary{index:04d}.invalid/"
    if vr in ("OB", "UN"):
        return f"CANARY{index:04d}OB".encode()
    if vr == "AS":
        return None  # 4 characters: no unique canary fits
    return None


def canary_text(value: object) -> str | None:
    """The searchable text of a canary value."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value) if value is not None else None


def canary_dataset() -> tuple[Dataset, dict[str, str]]:
    """A CT instance carrying a unique canary in every encodable Table E.1-1 attribute.

    Returns the data set and ``{canary text: row tag}``. Every sequence row holds a non-code
    item with a canary Person Name, Text Value and Code Meaning, a code item of a private
    scheme with a canary Code Value and Code Meaning, and a public code item (recursion and
    coded-text checks); private attributes, a private-scheme code item in a kept sequence and
    the file meta carry canaries too. Group 0000 (command) rows cannot be stored in a file.
    """
    table = load_rule_table()
    ds = ct_slice(0)
    canaries: dict[str, str] = {}
    index = 0
    dates = 0
    for row in table.rows:
        tag = row.value_tag
        if row.is_pattern or tag is None or tag >> 16 == 0x0000:
            continue
        index += 1
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        if vr == "SQ":
            # item 1: a non-code item (no Code Value, no Coding Scheme Designator) holding a
            # person name, a text value and a Code Meaning; item 2: a code item of a private
            # scheme (99*); item 3: a code item of a public scheme with a fake meaning that is
            # no canary (kept where the sequence's content is kept).
            item = Dataset()
            item.PersonName = f"CANARY{index:04d}^NESTED"  # (0040,A123) PN, a row itself
            item.TextValue = f"CANARY{index:04d}NESTEDTEXT"
            item.CodeMeaning = f"CANARY{index:04d}NOCODEMEANING"
            private_code = Dataset()
            private_code.CodeValue = f"CANARY{index:04d}PCV"
            private_code.CodingSchemeDesignator = "99FAKE"
            private_code.CodeMeaning = f"CANARY{index:04d}PRIVATEMEANING"
            public_code = Dataset()
            public_code.CodeValue = "121322"
            public_code.CodingSchemeDesignator = "DCM"
            public_code.CodeMeaning = "Source image for image processing operation"
            ds.add_new(tag, "SQ", Sequence([item, private_code, public_code]))
            canaries[f"CANARY{index:04d}^NESTED"] = row.tag + " > Person Name"
            canaries[f"CANARY{index:04d}NESTEDTEXT"] = row.tag + " > Text Value"
            canaries[f"CANARY{index:04d}NOCODEMEANING"] = row.tag + " > Code Meaning (no code)"
            canaries[f"CANARY{index:04d}PCV"] = row.tag + " > Code Value (private scheme)"
            canaries[f"CANARY{index:04d}PRIVATEMEANING"] = row.tag + " > Code Meaning (private scheme)"
            continue
        if vr in ("DA", "DT"):
            dates += 1
        value = _canary_value(index, vr, dates)
        if value is None or keyword_for_tag(tag) in ("PatientName", "PatientID"):
            continue
        (ds.file_meta if tag >> 16 == 0x0002 else ds).add_new(tag, vr, value)
        canaries[canary_text(value)] = row.tag
    # overlay comments/data (60xx rows), a private block, the file meta
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60004000, "LT", "CANARY9001OVERLAYCOMMENT")
    ds.add_new(0x60003000, "OW", b"CANARY9002OVERLAYDATA" + b"\0" * 11)
    canaries["CANARY9001OVERLAYCOMMENT"] = "(60xx,4000)"
    canaries["CANARY9002OVERLAYDATA"] = "(60xx,3000)"
    block = ds.private_block(0x0011, "FAKE_CANARY_VENDOR", create=True)
    block.add_new(0x10, "LO", "CANARY9003PRIVATE")
    block.add_new(0x11, "UN", b"CANARY9004PRIVATEUN")
    canaries["CANARY9003PRIVATE"] = "private"
    canaries["CANARY9004PRIVATEUN"] = "private"
    # a code item of a private scheme and a Coding Scheme Identification item describing it,
    # in sequences outside Table E.1-1 that the profile keeps
    region = Dataset()
    region.CodeValue = "CANARY9008PCV"
    region.CodingSchemeDesignator = "99FAKE"
    region.CodeMeaning = "CANARY9009PRIVATEMEANING"
    ds.AnatomicRegionSequence = Sequence([region])
    scheme = Dataset()
    scheme.CodingSchemeDesignator = "99FAKE"
    scheme.CodingSchemeName = "CANARY9010SCHEMENAME"
    scheme.CodingSchemeResponsibleOrganization = "CANARY9011SCHEMEORG"
    ds.CodingSchemeIdentificationSequence = Sequence([scheme])
    for text, where in (("CANARY9008PCV", "(0008,2218) > Code Value (private scheme)"),
                        ("CANARY9009PRIVATEMEANING", "(0008,2218) > Code Meaning (private scheme)"),
                        ("CANARY9010SCHEMENAME", "(0008,0110) > Coding Scheme Name (private scheme)"),
                        ("CANARY9011SCHEMEORG", "(0008,0110) > Responsible Organization (private scheme)")):
        canaries[text] = where
    ds.file_meta.ReceivingApplicationEntityTitle = "CANARY9005META"
    ds.file_meta.PrivateInformationCreatorUID = "1.2.999.777.9006"
    ds.file_meta.PrivateInformation = b"CANARY9007METAPRIV"
    canaries["CANARY9005META"] = "meta"
    canaries["1.2.999.777.9006"] = "meta"
    canaries["CANARY9007METAPRIV"] = "meta"
    return ds, canaries
