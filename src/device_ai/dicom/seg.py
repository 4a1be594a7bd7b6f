"""DICOM Segmentation output (PS3.3 A.51, C.8.20) with highdicom.

A BINARY SEG with one segment per label, referencing every source CT instance, frames in
the series' sorted order (highdicom does not sort; reference/dicom.md §5.3), each segment
AUTOMATIC with its Algorithm Identification (PS3.3 C.8.20.2: name, version, family CID 7162)
whose parameters carry the full SHA-256 of the model manifest.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from device_ai.dicom.writer import write_dataset
from device_ai.dicom.series import CTSeries

CONTENT_DESCRIPTION = "demonstration model - not for clinical use"


@dataclass(frozen=True)
class CodedTerm:
    scheme: str
    value: str
    meaning: str

    def code(self) -> hd.sr.CodedConcept:
        return hd.sr.CodedConcept(value=self.value, scheme_designator=self.scheme, meaning=self.meaning)


@dataclass(frozen=True)
class SegmentSpec:
    label_value: int
    name: str
    category: CodedTerm
    property_type: CodedTerm
    color_rgb: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class AlgorithmIdentity:
    name: str
    version: str
    family: str
    model_digest: str
    manufacturer: str
    software_version: str


def build_seg(
    series: CTSeries,
    labelmap: np.ndarray,
    segments: Sequence[SegmentSpec],
    algorithm: AlgorithmIdentity,
    *,
    series_number: int = 300,
) -> hd.seg.Segmentation:
    """A BINARY Segmentation of ``labelmap`` (Z, R, C; values = label values) over ``series``."""
    if labelmap.shape != series.hu.shape:
        raise ValueError(f"label map {labelmap.shape} does not match the series {series.hu.shape}")
    values = [spec.label_value for spec in segments]
    if values != list(range(1, len(values) + 1)):
        raise ValueError("label values must be 1..N in order; they become segment numbers")
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.name,
        family=codes.cid7162.ArtificialIntelligence,
        version=algorithm.version,
        parameters={"manifest_sha256": algorithm.model_digest},
    )
    descriptions = []
    for spec in segments:
        kwargs = {}
        if spec.color_rgb is not None:
            kwargs["display_color"] = hd.color.CIELabColor.from_rgb(*spec.color_rgb)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=spec.label_value,
                segment_label=spec.name,
                segmented_property_category=spec.category.code(),
                segmented_property_type=spec.property_type.code(),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=identification,
                **kwargs,
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hd.seg.Segmentation(
            source_images=list(series.datasets),
            pixel_array=labelmap.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=algorithm.manufacturer,
            manufacturer_model_name=algorithm.name,
            software_versions=algorithm.software_version,
            device_serial_number="DEMO-0001",
            content_description=CONTENT_DESCRIPTION,
            content_label="DEVICE_AI",
            series_description=f"{algorithm.name} {algorithm.version} segmentation",
            omit_empty_frames=True,
        )


def write_seg(seg: hd.seg.Segmentation, path: Path) -> Path:
    """Serialize with a zero preamble and write atomically."""
    return write_dataset(seg, path)
