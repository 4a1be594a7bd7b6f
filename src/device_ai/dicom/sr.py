"""TID 1500 Measurement Report in a Comprehensive 3D SR (PS3.3 A.35.13; PS3.16 TID 1500, TID 1411).

One SR per analysis, in the source study (same Study Instance UID, patient and study attributes
copied from the source images by highdicom), in a new series. Its content:

- Observer: the device (TID 1004 Device Observer Identifying Attributes: Device UID, name,
  manufacturer, model name, serial number); no person observer.
- Procedure reported: CT (LOINC 25045-6 "CT unspecified body region", CID 100).
- One Volumetric ROI measurement group (TID 1411) per SEG segment: its Volume (SCT 118565006)
  in mL (UCUM ``mL``). An empty segment (no organ found, no lesion found) still has its group,
  with volume 0: the report says "measured, nothing there", not "not measured".
- One group per lesion (a 26-connected component of the lesion label, as counted by the
  postprocessing): its Volume in mm3 (UCUM ``mm3``) and its maximum in-plane diameter, coded
  Long axis (SCT 103339001, CID 7470), in mm, referencing the slice where it lies. A result
  without lesions has no lesion groups.
- Every group references its SEG segment (ReferencedSegment: the SEG's SOP Class and Instance
  UID, the segment number) and its source images: all source images for a segment group, the
  slices the lesion spans for a lesion group. Finding type and category are the segment's
  Segmented Property Type and Category, so the group and the segment say the same thing. All
  lesion groups reference the one lesion segment; a lesion is told apart by its tracking
  identifier (``Lesion <n>``, a new UID each) and the slices it references.
- Algorithm Identification (TID 4019) on every group and measurement: the model's name and
  version, and the SHA-256 of its package manifest as an algorithm parameter, exactly as the
  SEG's Segmentation Algorithm Identification carries them.

Completion and verification (PS3.3 C.17.2): ``CompletionFlag`` COMPLETE, because the report
holds every measurement the device makes for this series (there is nothing left to add);
``VerificationFlag`` UNVERIFIED, because no person has checked it: it is a machine result that
a clinician must review, and an SR may only say VERIFIED with a Verifying Observer who accepts
legal responsibility for the content (C.17.2.1), which a device cannot be;
``PreliminaryFlag`` PRELIMINARY, because it is not the final clinical report.

No label values, names or codes live here: they come from the segments (the manifest's labels).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from device_ai.atomic_io import Access
from device_ai.dicom.seg import AlgorithmIdentity, SegmentSpec, _family
from device_ai.dicom.series import CTSeries
from device_ai.dicom.lineage import Replaces, describe
from device_ai.dicom.uids import new_uid
from device_ai.dicom.writer import write_dataset
from device_ai.errors import OutputError

# UCUM units (pydicom's code dictionary has no millilitre).
MILLILITER = hd.sr.CodedConcept("mL", "UCUM", "milliliter")
CUBIC_MILLIMETER = hd.sr.CodedConcept("mm3", "UCUM", "cubic millimeter")
MILLIMETER = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
VOLUME = codes.SCT.Volume  # SCT 118565006
MAX_INPLANE_DIAMETER = codes.SCT.LongAxis  # SCT 103339001, CID 7470 Size Descriptors
PROCEDURE_REPORTED = codes.LN.CTUnspecifiedBodyRegion  # LOINC 25045-6, CID 100
SR_SERIES_NUMBER = 301  # the SEG's series is 300
_LO_MAX = 64


@dataclass(frozen=True)
class DeviceIdentity:
    """The device as observer (PS3.16 TID 1004)."""

    uid: str
    name: str
    manufacturer: str
    model_name: str
    serial_number: str


# A fixed UID for this software product (2.25 root, PS3.5 B.2: the integer of a random UUID
# drawn once); an installation-specific Device UID would come from the site's configuration.
DEVICE_UID = "2.25.108498189351252310588935462763493413987"
DEVICE_SERIAL_NUMBER = "DEMO-0001"  # as on the SEG


def device_identity(algorithm: AlgorithmIdentity) -> DeviceIdentity:
    return DeviceIdentity(uid=DEVICE_UID, name="device_ai", manufacturer=algorithm.manufacturer,
                          model_name=algorithm.name[:_LO_MAX], serial_number=DEVICE_SERIAL_NUMBER)


@dataclass(frozen=True)
class SegmentVolume:
    """The volume of one SEG segment (all voxels of its label)."""

    segment: SegmentSpec
    volume_ml: float


@dataclass(frozen=True)
class LesionFinding:
    """One lesion: a connected component of the lesion label."""

    number: int  # 1-based, the order of the summary's lesions
    volume_mm3: float
    max_inplane_diameter_mm: float
    slices: tuple[int, ...]  # indices into the series (sorted), the slices it spans
    diameter_slice: int  # index of the slice where the maximum in-plane diameter lies


def _ds(value: float) -> float:
    """A value that fits a DS (16 characters) without losing what the measurement resolves."""
    return float(f"{value:.6g}")


def _algorithm(algorithm: AlgorithmIdentity) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name=algorithm.name, version=algorithm.version,
                                         parameters=[f"manifest_sha256={algorithm.model_digest}"],
                                         family=_family(algorithm.family))


def build_sr(
    series: CTSeries,
    seg: Dataset,
    volumes: Sequence[SegmentVolume],
    lesions: Sequence[LesionFinding],
    lesion_segment: SegmentSpec,
    algorithm: AlgorithmIdentity,
    *,
    series_number: int = SR_SERIES_NUMBER,
    uid: Callable[[str], str] | None = None,
    replaces: Replaces | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of one analysis (see the module docstring). ``seg`` is the SEG of the
    same analysis; every segment named must be one of its segments with the same codes.
    ``uid(role)`` gives the SR's Series, SOP Instance and tracking UIDs (new random UIDs by default).
    ``replaces``: the earlier result of the series this one replaces (:mod:`device_ai.dicom.lineage`:
    its SR in the Predecessor Documents Sequence, the Series Description says so)."""
    uid = uid or new_uid
    described = {int(item.SegmentNumber): item for item in seg.SegmentSequence}
    for spec in [*(v.segment for v in volumes), lesion_segment]:
        item = described.get(spec.label_value)
        if item is None or item.SegmentedPropertyTypeCodeSequence[0].CodeValue != spec.property_type.value:
            raise OutputError(f"SR not written: segment {spec.label_value} ({spec.name}) is not in the SEG as given",
                              hint="this is a defect of the device; report it with the log")
    depth = len(series.datasets)
    for lesion in lesions:
        if not lesion.slices or not all(0 <= z < depth for z in (*lesion.slices, lesion.diameter_slice)):
            raise OutputError(f"SR not written: lesion {lesion.number} names slices outside the series",
                              hint="this is a defect of the device; report it with the log")
    algo = _algorithm(algorithm)
    device = device_identity(algorithm)

    def sources(indices: Sequence[int]) -> list[hd.sr.SourceImageForSegmentation]:
        return [hd.sr.SourceImageForSegmentation.from_source_image(series.datasets[z]) for z in indices]

    def referenced(spec: SegmentSpec, indices: Sequence[int]) -> hd.sr.ReferencedSegment:
        return hd.sr.ReferencedSegment(sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
                                       segment_number=spec.label_value, source_images=sources(indices))

    try:
        groups = []
        for volume in volumes:
            spec = volume.segment
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=uid(f"sr-tracking-segment-{spec.label_value}"), identifier=f"{spec.name} segment"[:_LO_MAX]),
                referenced_segment=referenced(spec, range(depth)),
                finding_type=spec.property_type.code(),
                finding_category=spec.category.code(),
                algorithm_id=algo,
                measurements=[hd.sr.Measurement(name=VOLUME, value=_ds(volume.volume_ml), unit=MILLILITER,
                                                algorithm_id=algo)],
            ))
        for lesion in lesions:
            spot = hd.sr.SourceImageForMeasurement.from_source_image(series.datasets[lesion.diameter_slice])
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=uid(f"sr-tracking-lesion-{lesion.number}"),
                                                                 identifier=f"Lesion {lesion.number}"),
                referenced_segment=referenced(lesion_segment, lesion.slices),
                finding_type=lesion_segment.property_type.code(),
                finding_category=lesion_segment.category.code(),
                algorithm_id=algo,
                measurements=[
                    hd.sr.Measurement(name=VOLUME, value=_ds(lesion.volume_mm3), unit=CUBIC_MILLIMETER,
                                      algorithm_id=algo),
                    hd.sr.Measurement(name=MAX_INPLANE_DIAMETER, value=_ds(lesion.max_inplane_diameter_mm),
                                      unit=MILLIMETER, algorithm_id=algo, referenced_images=[spot]),
                ],
            ))
        observer = hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=device.uid, name=device.name, manufacturer_name=device.manufacturer,
                model_name=device.model_name, serial_number=device.serial_number),
        )
        report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_device_context=observer),
            procedure_reported=PROCEDURE_REPORTED,
            imaging_measurements=groups,
            title=codes.DCM.ImagingMeasurementReport,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hd.sr.Comprehensive3DSR(
                evidence=[*series.datasets, seg],
                content=report,
                series_instance_uid=uid("sr-series"),
                series_number=series_number,
                sop_instance_uid=uid("sr-instance"),
                instance_number=1,
                manufacturer=algorithm.manufacturer,
                manufacturer_model_name=algorithm.name[:_LO_MAX],
                software_versions=algorithm.software_version,
                device_serial_number=device.serial_number,
                series_description=describe(f"{algorithm.name} {algorithm.version}", "measurements", replaces),
                previous_versions=([replaces.predecessor(series.datasets[0].StudyInstanceUID)]
                                   if replaces is not None else None),
                is_complete=True,  # every measurement the device makes for this series
                is_verified=False,  # a machine result: no person has verified it
                is_final=False,  # not the final clinical report
            )
    except (ValueError, TypeError, AttributeError) as exc:  # highdicom's validation errors
        raise OutputError(f"SR not written: highdicom refused the content ({' '.join(str(exc).split())[:160]})",
                          hint="this is a defect of the device; report it with the log") from exc


def write_sr(sr: Dataset, path, *, access: Access = Access.PRIVATE):  # noqa: ANN001, ANN201 - Path in, Path out
    """Serialize as a Part 10 file (zero preamble) and write it atomically, with ``access``'s mode."""
    return write_dataset(sr, path, access=access)


__all__ = ["DeviceIdentity", "LesionFinding", "SegmentVolume", "build_sr", "device_identity",
           "write_sr"]
