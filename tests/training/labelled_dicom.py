"""Labelled DICOM folders written as a user brings them: CT series from the project's phantom ->
DICOM writer, ground truth as a DICOM SEG written with highdicom the way 3D Slicer or OHIF do
(MANUAL segments numbered in the annotator's order, SNOMED CT property types, per-frame
source image references). Synthetic patients with obviously fake identifiers only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from device_ai.training.ct_series import write_ct_series
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

ORGAN_CODE = ("SCT", "91772007", "Organ")
LESION_CODE = ("SCT", "52988006", "Lesion")
LIVER_CODE = ("SCT", "10200004", "Liver")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One annotated segment: its label, its code and which phantom truth value it holds."""

    label: str
    code: tuple[str, str, str]
    truth_value: int


ORGAN = Segment("Organ", ORGAN_CODE, DEMO_ORGAN.value)
LESION = Segment("Lesion", LESION_CODE, DEMO_LESION.value)


def phantom(number: int, patient_id: str, slices: int = 3) -> PhantomCase:
    seed = split_seeds("train", number + 1, base_seed=11)[number]
    case = generate_case(seed, split="train", n_slices=slices)
    return dataclasses.replace(case, patient_id=patient_id, patient_name=f"FAKE^{patient_id}")


def write_seg(ct_paths: Sequence[Path], case: PhantomCase, path: Path,
              segments: Sequence[Segment] = (LESION, ORGAN)) -> Path:
    """A BINARY SEG of ``case``'s truth on the CT files, segments numbered 1.. in the given order
    (Lesion first by default: not the model's label order), as an annotation tool writes it."""
    sources = [pydicom.dcmread(p) for p in ct_paths]
    masks = np.stack([(case.labels == segment.truth_value) for segment in segments], axis=-1).astype(np.uint8)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=segment.label,
            segmented_property_category=codes.SCT.AnatomicalStructure if segment.truth_value == DEMO_ORGAN.value
            else codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=hd.sr.CodedConcept(segment.code[1], segment.code[0], segment.code[2]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for number, segment in enumerate(segments, start=1)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=masks, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=300,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="Synthetic annotator (test)",
        manufacturer_model_name="test", software_versions="1", device_serial_number="0",
        omit_empty_frames=True)  # as highdicom and dcmqi do by default
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def write_patient(root: Path, number: int, patient_id: str, *, slices: int = 3,
                  segments: Sequence[Segment] = (LESION, ORGAN), seg: bool = True) -> tuple[PhantomCase, list[Path]]:
    """``root/<patient>/ct/CT000001.dcm ...`` and ``root/<patient>/seg.dcm``."""
    case = phantom(number, patient_id, slices)
    paths = write_ct_series(case, root / patient_id / "ct")
    if seg:
        write_seg(paths, case, root / patient_id / "seg.dcm", segments)
    return case, paths


def write_folder(root: Path, patients: int = 4, slices: int = 3) -> Path:
    for number in range(patients):
        write_patient(root, number, f"FAKE-PAT-{number + 1:03d}", slices=slices)
    return root
