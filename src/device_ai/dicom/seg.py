"""DICOM Segmentation output (PS3.3 A.51 Segmentation IOD, C.8.20 Segmentation modules) with highdicom.

A BINARY SEG with one segment per label (segment number = label value, 1..N), referencing
every source CT instance, frames in the series' sorted order (highdicom does not sort;
reference/dicom.md §5.3). Each segment is AUTOMATIC with its Segmentation Algorithm
Identification (PS3.3 C.8.20.2 / C.17.3.1 (0066,002F): name, version, family from CID 7162)
whose Algorithm Parameters carry the SHA-256 of the model package manifest. The instance says
what made it: Manufacturer ``device_ai``, model name, software version, ContentLabel,
ContentCreatorName and a ContentDescription stating it is a demonstration model.

Empty frames are omitted (``omit_empty_frames``). A segment with no voxels at all is still
described in the SegmentSequence. For an all-background label map highdicom cannot omit
every frame (a SEG needs at least one), so it encodes all frames, empty: still a valid SEG
that says "nothing found" for every segment.

Segments come from the model manifest's labels (:meth:`SegmentSpec.from_label`); this module
holds no label values, names or codes of its own. Who may read the file is the caller's
choice (``atomic_io.Access``; the analysis asks for ``PUBLIC``, like its PNG and JSON outputs).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.valuerep import PersonName

from device_ai.atomic_io import Access
from device_ai.dicom.series import CTSeries
from device_ai.dicom.lineage import Replaces, describe
from device_ai.dicom.uids import new_uid
from device_ai.dicom.writer import write_dataset
from device_ai.errors import OutputError
from device_ai.model.package.manifest import LabelDefinition

CONTENT_DESCRIPTION = "demonstration model - not for clinical use"
CONTENT_LABEL = "DEVICE_AI"  # CS, at most 16 characters
_LO_MAX = 64


@dataclass(frozen=True)
class CodedTerm:
    """A coded concept (PS3.3 8.8 Code Sequence macro)."""

    scheme: str
    value: str
    meaning: str

    def code(self) -> hd.sr.CodedConcept:
        return hd.sr.CodedConcept(value=self.value, scheme_designator=self.scheme, meaning=self.meaning)


@dataclass(frozen=True)
class SegmentSpec:
    """One label of the label map as a segment (PS3.3 C.8.20.4 Segment Description)."""

    label_value: int
    name: str
    category: CodedTerm  # CID 7150 Segmentation Property Categories
    property_type: CodedTerm  # CID 7151 Segmentation Property Types
    color_rgb: tuple[int, int, int] | None = None

    @classmethod
    def from_label(cls, label: LabelDefinition) -> SegmentSpec:
        """The segment of one manifest label: value, name, CID 7150/7151 codes, colour."""
        return cls(
            label_value=label.value,
            name=label.name,
            category=CodedTerm(label.category.scheme, label.category.value, label.category.meaning),
            property_type=CodedTerm(label.property_type.scheme, label.property_type.value, label.property_type.meaning),
            color_rgb=tuple(label.color_rgb),
        )


@dataclass(frozen=True)
class AlgorithmIdentity:
    """What produced the segmentation (PS3.3 C.17.3.1 Algorithm Identification macro)."""

    name: str
    version: str
    family: str  # meaning of a CID 7162 code, e.g. "Artificial Intelligence"
    model_digest: str  # SHA-256 of the model package manifest
    manufacturer: str
    software_version: str


def _family(meaning: str) -> hd.sr.CodedConcept:
    for keyword in dir(codes.cid7162):
        code = getattr(codes.cid7162, keyword)
        if getattr(code, "meaning", None) == meaning:
            return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)
    raise OutputError(f"algorithm family {meaning!r} is not a CID 7162 concept; SEG not written",
                      hint="use a family from DICOM CID 7162, e.g. 'Artificial Intelligence'")


def _check_inputs(series: CTSeries, labelmap: np.ndarray, segments: Sequence[SegmentSpec]) -> None:
    if labelmap.shape != series.hu.shape:
        raise OutputError(f"SEG not written: the label map is {labelmap.shape}, the series {series.hu.shape}")
    if labelmap.dtype.kind not in "ui":
        raise OutputError(f"SEG not written: the label map has dtype {labelmap.dtype}; integer labels expected")
    values = [spec.label_value for spec in segments]
    if not values or values != list(range(1, len(values) + 1)):
        raise OutputError(f"SEG not written: label values {values} must be 1..N in order (they become segment numbers)")
    # Values are 0..N exactly when the minimum and maximum are (no sorted copy of the label map:
    # np.unique would take one, 250 MiB at 1000 slices of 512 x 512); the unknown values are
    # listed slice by slice only when there are some.
    if labelmap.size and (labelmap.min() < 0 or labelmap.max() > len(values)):
        unknown = sorted({int(v) for plane in labelmap for v in np.unique(plane[(plane < 0) | (plane > len(values))])})
        raise OutputError(f"SEG not written: the label map holds values {unknown} that no segment describes")


def build_seg(
    series: CTSeries,
    labelmap: np.ndarray,
    segments: Sequence[SegmentSpec],
    algorithm: AlgorithmIdentity,
    *,
    series_number: int = 300,
    device_serial_number: str = "DEMO-0001",
    uid: Callable[[str], str] | None = None,
    replaces: Replaces | None = None,
) -> hd.seg.Segmentation:
    """A BINARY Segmentation (PS3.3 A.51) of ``labelmap`` (Z, R, C; 0 = background) over ``series``.

    ``labelmap[z]`` belongs to ``series.datasets[z]``. Raises :class:`OutputError` if the
    label map does not fit the series or the segments, or highdicom refuses the content.
    ``uid(role)`` gives the SEG's Series and SOP Instance UIDs (roles ``seg-series``,
    ``seg-instance``; :func:`device_ai.dicom.uids.derived_uids` makes them deterministic); new
    random UIDs by default. ``replaces``: the earlier result of the series this one replaces
    (:mod:`device_ai.dicom.lineage`; its Series Description says so).
    """
    uid = uid or new_uid
    _check_inputs(series, labelmap, segments)
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.name,
        family=_family(algorithm.family),
        version=algorithm.version,
        parameters={"manifest_sha256": algorithm.model_digest},
    )
    try:
        descriptions = []
        for spec in segments:
            extra = {}
            if spec.color_rgb is not None:
                extra["display_color"] = hd.color.CIELabColor.from_rgb(*spec.color_rgb)
            descriptions.append(
                hd.seg.SegmentDescription(
                    segment_number=spec.label_value,
                    segment_label=spec.name,
                    segmented_property_category=spec.category.code(),
                    segmented_property_type=spec.property_type.code(),
                    algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                    algorithm_identification=identification,
                    **extra,
                )
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hd.seg.Segmentation(
                source_images=list(series.datasets),
                pixel_array=np.ascontiguousarray(labelmap, dtype=np.uint8),
                segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=descriptions,
                series_instance_uid=uid("seg-series"),
                series_number=series_number,
                sop_instance_uid=uid("seg-instance"),
                instance_number=1,
                manufacturer=algorithm.manufacturer,
                manufacturer_model_name=algorithm.name[:_LO_MAX],
                software_versions=algorithm.software_version,
                device_serial_number=device_serial_number,
                content_description=CONTENT_DESCRIPTION,
                content_label=CONTENT_LABEL,
                content_creator_name=PersonName.from_named_components(
                    family_name=algorithm.manufacturer, given_name=algorithm.name),
                series_description=describe(f"{algorithm.name} {algorithm.version}", "segmentation", replaces),
                omit_empty_frames=True,
            )
    except (ValueError, TypeError) as exc:  # highdicom's validation errors
        raise OutputError(f"SEG not written: highdicom refused the content ({' '.join(str(exc).split())[:160]})",
                          hint="this is a defect of the device; report it with the log") from exc


def write_seg(seg: hd.seg.Segmentation, path: Path, *, access: Access = Access.PRIVATE) -> Path:
    """Serialize as a Part 10 file with a zero preamble (PS3.10 §7.1) and write it atomically,
    with the mode of ``access``."""
    return write_dataset(seg, path, access=access)
