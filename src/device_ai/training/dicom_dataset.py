"""A folder of labelled DICOM as a user brings it: CT series with DICOM SEG ground truth.

What 3D Slicer, OHIF or highdicom write: each CT series in its own files, each SEG in one file,
anywhere under the folder (one folder per patient, per series, or all files together). The
folder is read in three steps, each refusing with a typed error that names the file(s):

1. every file's header is read with the reading limits; SEGs (Segmentation Storage SOP class)
   are set apart, every other file is grouped by Series Instance UID and each group is
   assembled and checked as one CT series against the model's input contract
   (:func:`device_ai.dicom.series.load_series`, the same check ``analyze`` applies);
2. each SEG is matched to the CT series it was drawn on by the SOP Instance UIDs it references
   (Referenced Series Sequence and each frame's Source Image Sequence, PS3.3 C.8.20.1 and
   C.7.6.16.2.6), never by file location; a SEG referencing an instance that is not in the
   folder, or instances of two series, a CT series with no SEG or with two, is refused
   (:class:`~device_ai.errors.SegReferenceError`);
3. every segment is mapped to a label by its Segmented Property Type code (CID 7151), never by
   segment number; a code that is none of the model's labels is refused
   (:class:`~device_ai.errors.UnknownSegmentCode`), and the masks are read by
   :func:`device_ai.training.seg_truth.read_truth` in the series' slice order.

Where one label's segment overlaps another's (a lesion drawn inside the organ), the later
label in the manifest's order wins (the lesion): the label map holds one value per pixel.
Nothing is written; identifiers stay in memory for the split and the terminal, never in the
data manifest (``training.dicom_manifest``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import SegmentationStorage

from device_ai.dicom.contract import DEMO_CONTRACT, InputContract
from device_ai.dicom.reader import MAX_PROBLEM_LINES, ReadLimits, collect_input_files, read_dataset
from device_ai.dicom.series import CTSeries, load_series
from device_ai.errors import (
    DicomReadError,
    InputRefused,
    SegReferenceError,
    TrainingDataEmpty,
    TrainingDataRefused,
    UnknownSegmentCode,
)
from device_ai.model.package.manifest import LabelDefinition, LabelRole
from device_ai.training.labels import DEMO_LABELS
from device_ai.training.seg_truth import read_truth

LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"  # PS3.4 B.5, highdicom LABELMAP
SEG_SOP_CLASSES = (str(SegmentationStorage), LABEL_MAP_SEGMENTATION_STORAGE)
TRAINING_MAX_FILES = 200_000  # files listed under a training folder (each still read within the limits)
_SEG_HINT = "give each CT series exactly one SEG drawn on it (3D Slicer, OHIF, highdicom), both in the folder"


@dataclass(frozen=True)
class LabelledSeries:
    """One CT series with its ground truth: ``label_map`` (Z, R, C) uint8 in the labels' values."""

    patient_id: str
    series: CTSeries
    seg_path: Path
    label_map: np.ndarray
    seg_sha256: str
    seg_sop_instance_uid: str

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        return tuple(str(ds.SOPInstanceUID) for ds in self.series.datasets)

    def pixel_sha256(self) -> tuple[str, ...]:
        """SHA-256 of each slice's HU (float32), in slice order: what the model is trained on."""
        return tuple(hashlib.sha256(np.ascontiguousarray(plane).tobytes()).hexdigest() for plane in self.series.hu)


@dataclass(frozen=True)
class LabelledDataset:
    root: Path
    series: tuple[LabelledSeries, ...]
    labels: tuple[LabelDefinition, ...]
    absent_empty: tuple[LabelRole, ...] = ()

    def patients(self) -> tuple[str, ...]:
        return tuple(sorted({item.patient_id for item in self.series}))


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _bounded(lines: Sequence[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_PROBLEM_LINES:
        return tuple(lines)
    return (*lines[:MAX_PROBLEM_LINES], f"and {len(lines) - MAX_PROBLEM_LINES} more problems")


def _refuse(kind: type[InputRefused], lines: Sequence[str], hint: str) -> InputRefused:
    more = f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''})" if len(lines) > 1 else ""
    return kind(lines[0] + more, problems=_bounded(lines), hint=hint)


def _name(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _is_seg(ds: Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) in SEG_SOP_CLASSES or str(ds.get("Modality", "")) == "SEG"


def seg_references(ds: Dataset) -> tuple[set[str], set[str]]:
    """(referenced SOP Instance UIDs, referenced Series Instance UIDs) of a SEG: its Referenced
    Series Sequence and every frame's Derivation Image / Source Image Sequence."""
    instances: set[str] = set()
    series: set[str] = set()
    for item in ds.get("ReferencedSeriesSequence", []):
        if item.get("SeriesInstanceUID"):
            series.add(str(item.SeriesInstanceUID))
        for ref in item.get("ReferencedInstanceSequence", []):
            instances.add(str(ref.get("ReferencedSOPInstanceUID", "")))
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame.get("DerivationImageSequence", []):
            for source in derivation.get("SourceImageSequence", []):
                instances.add(str(source.get("ReferencedSOPInstanceUID", "")))
    for source in ds.get("SourceImageSequence", []):  # some writers put it at the top level
        instances.add(str(source.get("ReferencedSOPInstanceUID", "")))
    instances.discard("")
    return instances, series


def segment_codes(ds: Dataset) -> list[tuple[int, str, tuple[str, str, str] | None]]:
    """(segment number, segment label, (scheme, value, meaning) of the Segmented Property Type)."""
    found = []
    for item in ds.get("SegmentSequence", []):
        codes = item.get("SegmentedPropertyTypeCodeSequence", [])
        code = None
        if codes:
            first = codes[0]
            code = (str(first.get("CodingSchemeDesignator", "")), str(first.get("CodeValue", "")),
                    str(first.get("CodeMeaning", "")))
        found.append((int(item.get("SegmentNumber", 0)), str(item.get("SegmentLabel", "")), code))
    return found


def _headers(root: Path, limits: ReadLimits) -> tuple[dict[str, list[Path]], list[tuple[Path, Dataset]]]:
    """CT candidate files by Series Instance UID, and the SEG files with their data sets."""
    if not root.is_dir():
        raise TrainingDataEmpty(f"training folder {root} does not exist or is not a folder",
                                hint="pass --data a folder holding CT series and their DICOM SEG files")
    try:  # a training folder holds many series: the per-input file limit of analysis is raised for listing it
        files = collect_input_files(root, replace(limits, max_files=max(limits.max_files, TRAINING_MAX_FILES)))
    except DicomReadError as exc:
        if "holds no files" in exc.message:
            raise TrainingDataEmpty(f"training folder {root} holds no files",
                                    hint="pass --data a folder holding CT series and their DICOM SEG files") from exc
        raise
    groups: dict[str, list[Path]] = {}
    segs: list[tuple[Path, Dataset]] = []
    unreadable: list[str] = []
    for path in files:
        try:
            ds = read_dataset(path, limits, stop_before_pixels=True)
        except DicomReadError as exc:
            unreadable.append(f"{_name(path, root)}: {exc.message.removeprefix(path.name + ': ')}")
            continue
        if _is_seg(ds):
            segs.append((path, read_dataset(path, limits)))
        else:
            groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append(path)
    if unreadable:
        raise _refuse(TrainingDataRefused, unreadable,
                      "the training folder may hold only DICOM files: remove or fix each file listed")
    if not groups:
        raise TrainingDataEmpty(f"training folder {root} holds no CT series ({len(segs)} SEG file(s), no images)",
                                hint="put each CT series next to its SEG in the folder")
    return groups, segs


def _load_series(groups: dict[str, list[Path]], root: Path, contract: InputContract,
                 limits: ReadLimits) -> list[CTSeries]:
    loaded = []
    for uid, paths in sorted(groups.items(), key=lambda item: str(item[1][0])):
        if not uid:
            names = ", ".join(_name(p, root) for p in paths[:3])
            raise TrainingDataRefused(f"{names}{' ...' if len(paths) > 3 else ''}: SeriesInstanceUID is missing",
                                      hint="every CT file needs its Series Instance UID")
        loaded.append(load_series(paths, contract, limits))  # the input contract; refusals name the files
    return loaded


def _match(segs: list[tuple[Path, Dataset]], series: list[CTSeries], root: Path) -> dict[int, tuple[Path, Dataset]]:
    """Index of each CT series -> its one SEG; SegReferenceError listing every problem otherwise."""
    owner = {str(ds.SOPInstanceUID): index for index, item in enumerate(series) for ds in item.datasets}
    matched: dict[int, list[Path]] = {}
    chosen: dict[int, tuple[Path, Dataset]] = {}
    problems: list[str] = []
    for path, ds in segs:
        instances, referenced_series = seg_references(ds)
        name = _name(path, root)
        if not instances:
            problems.append(f"{name}: the SEG references no source image (no Referenced Series Sequence or "
                            "Source Image Sequence)")
            continue
        foreign = sorted(instances - set(owner))
        if foreign:
            problems.append(f"{name}: the SEG references {len(foreign)} of its {len(instances)} source instance(s) "
                            f"that are not in the folder (e.g. SOP Instance UID {foreign[0]})")
            continue
        targets = {owner[uid] for uid in instances}
        if len(targets) > 1:
            problems.append(f"{name}: the SEG references instances of {len(targets)} different CT series")
            continue
        index = targets.pop()
        if referenced_series and referenced_series != {series[index].series_instance_uid}:
            problems.append(f"{name}: its Referenced Series Sequence names another series than the one its "
                            "instances belong to")
            continue
        matched.setdefault(index, []).append(path)
        chosen[index] = (path, ds)
    for index, item in enumerate(series):
        example = _name(item.paths[0], root)
        found = matched.get(index, [])
        if not found:
            problems.append(f"CT series of {len(item.paths)} file(s) (e.g. {example}): no SEG in the folder "
                            "references it; every series needs its ground truth")
        elif len(found) > 1:
            problems.append(f"CT series of {len(item.paths)} file(s) (e.g. {example}): {len(found)} SEGs reference "
                            f"it ({', '.join(_name(p, root) for p in found)}); keep exactly one")
    if problems:
        raise _refuse(SegReferenceError, problems, _SEG_HINT)
    return chosen


def _check_codes(segs: list[tuple[Path, Dataset]], labels: Sequence[LabelDefinition], root: Path) -> None:
    known = {(label.property_type.scheme, label.property_type.value) for label in labels}
    problems = []
    for path, ds in segs:
        for number, label, code in segment_codes(ds):
            if code is None:
                problems.append(f"{_name(path, root)}: segment {number} ({label!r}) has no Segmented Property "
                                "Type code")
            elif code[:2] not in known:
                problems.append(f"{_name(path, root)}: segment {number} ({label!r}) is coded {code[0]} {code[1]} "
                                f"({code[2]}), which is not a label of this model")
    if problems:
        names = ", ".join(f"{label.name} = {label.property_type.scheme} {label.property_type.value}"
                          for label in labels)
        raise _refuse(UnknownSegmentCode, problems,
                      f"code every segment with one of this model's Segmented Property Types ({names}); "
                      "remove segments of other structures from the SEG")


def _label_map(truth: dict[LabelRole, np.ndarray], labels: Sequence[LabelDefinition]) -> np.ndarray:
    shape = next(iter(truth.values())).shape
    label_map = np.zeros(shape, dtype=np.uint8)
    for label in labels:  # later labels win where segments overlap (the lesion inside the organ)
        if label.role in truth:
            label_map[truth[label.role]] = label.value
    return label_map


def _roles_to_read(ds: Dataset, labels: Sequence[LabelDefinition], roles: tuple[LabelRole, ...],
                   absent_empty: Sequence[LabelRole]) -> tuple[LabelRole, ...]:
    """The roles read from this SEG: all of them, less those the user declared empty when the
    SEG has no segment for them (at least one role is always read)."""
    by_code = {(label.property_type.scheme, label.property_type.value): label.role for label in labels}
    present = {by_code.get(code[:2]) for _, _, code in segment_codes(ds) if code is not None}
    chosen = tuple(role for role in roles if role in present or role not in absent_empty)
    return chosen or roles


def read_labelled_folder(root: Path, *, labels: Sequence[LabelDefinition] = DEMO_LABELS,
                         contract: InputContract = DEMO_CONTRACT, limits: ReadLimits = ReadLimits(),
                         absent_empty: Sequence[LabelRole] = ()) -> LabelledDataset:
    """Every CT series under ``root`` with its SEG truth (see the module doc for the refusals).

    Every SEG must describe a segment for each label (an empty one says "none here"), except
    the roles in ``absent_empty``: the user's explicit statement that a SEG without a segment
    for that role means none is present (annotation tools that drop empty segments cannot
    write "no lesion" otherwise)."""
    root = Path(root)
    groups, segs = _headers(root, limits)
    series = _load_series(groups, root, contract, limits)
    chosen = _match(segs, series, root)
    _check_codes(segs, labels, root)
    roles = tuple(label.role for label in labels if label.role is not None)
    items = []
    for index, item in enumerate(series):
        path, ds = chosen[index]
        read = _roles_to_read(ds, labels, roles, absent_empty)
        try:
            truth = read_truth(path, item, read)
        except InputRefused as exc:  # no segment of a label, a label twice, frames off the series
            hint = exc.hint
            if "no segment coded as" in exc.message:
                hint = (f"{hint}; if a SEG without such a segment means the structure is absent (tools that drop "
                        "empty segments), say so with --absent-means-empty LABEL (e.g. Lesion)")
            raise TrainingDataRefused(exc.message.replace(str(path), _name(path, root)), hint=hint) from exc
        empty = np.zeros(item.hu.shape, dtype=bool)
        truth = {role: truth.get(role, empty) for role in roles}
        ids = {str(image.get("PatientID", "") or "").strip() for image in item.datasets}
        patient = ids.pop() if len(ids) == 1 else ""
        if ids:
            raise TrainingDataRefused(f"{_name(item.paths[0], root)}: the slices of one series carry different "
                                      "PatientIDs", hint="one series belongs to one patient; fix the Patient IDs")
        if not patient:
            raise TrainingDataRefused(f"{_name(item.paths[0], root)}: PatientID is empty; splits are by patient",
                                      hint="give every series its (pseudonymous) Patient ID")
        items.append(LabelledSeries(patient, item, path, _label_map(truth, labels), _sha256_file(path),
                                    str(ds.SOPInstanceUID)))
    return LabelledDataset(root, tuple(items), tuple(labels), tuple(absent_empty))
