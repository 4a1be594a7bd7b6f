"""One CT series from its files: read with limits, checked, sorted, decoded to HU.

Every file is read (reader.py) and its header checked against the input contract before any
pixel data is decoded. The files must form exactly one series (PS3.3 C.7.3.1
SeriesInstanceUID) in one study and one frame of reference (C.7.4.1), with one geometry:
same Rows/Columns, PixelSpacing, ImageOrientationPatient and SliceThickness, positions
stacked along the slice normal (no gantry tilt), no two slices at one position and evenly
spaced. Slices are sorted by ImagePositionPatient projected on the slice normal (PS3.3
C.7.6.2.1.1: the normal is the cross product of the row and column direction cosines), never
by InstanceNumber. Pixel data are decoded only if this installation has a decoder for the
transfer syntax (PS3.5 §10, Annex A), then rescaled to HU (PS3.3 C.11.1.1.2).

Memory (issue 20 item 2, issue 22 item 3): a checked series keeps of each slice's header what
later steps read (``_kept_header``), not its private elements, other sequences or pixel data;
its HU are decoded a slice at a time from the files, whose bytes must still be the ones checked
(:class:`HUVolume`). What the caller will hold per voxel is charged to the input's memory budget
while the headers are read, before anything is decoded.

Every file is checked, and a refusal lists every problem found (``InputRefused.problems``),
not only the first: one line per problem naming the file(s), the files that share one
problem on one line (the first three named, then the count), at most ``MAX_PROBLEM_LINES``
lines. A file refused on reading or by the contract is dropped at once (its data set, pixel
data included, is not kept) but still counts for the series listing when its header was
readable. An input holding several series is refused with one line per series (Series
Number, Series Description, Modality, file count, an example file) so that the user can
point the command at one of them. Checks that only make sense on a consistent set are
skipped when an earlier one failed: positions when the identity or geometry disagree, even
spacing when a file was refused (its slice would look missing). Known limit: checking every
file means reading every file (each within the reading limits) even after the first refusal.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin
from pydicom.dataset import Dataset
from pydicom.uid import UID

from device_ai.dicom.contract import InputContract, decoded_hu_problem, header_problems, stored_values_problem
from device_ai.dicom.copied_attributes import copied_attribute_problems, fill_empty_type2, repeated_by_results
from device_ai.dicom.paths import printable
from device_ai.dicom.reader import (
    MAX_PROBLEM_LINES,
    InputBudget,
    ReadLimits,
    budget_beside,
    held_bytes,
    parse_dataset,
    read_file_bytes,
)
from device_ai.errors import ContractViolation, DicomReadError, InputRefused, ReadLimitExceeded

_OUTSIDE = "the input is outside this model's intended use and was not analyzed"
_ONE_SERIES = "pass a folder (or file) holding exactly one CT series"
_SERIES_HINT = (_ONE_SERIES + ": point `device-ai analyze` at the folder or a file of one series "
                "(each series is listed with an example file); move the files of the others out of the folder")
_MIXED_HINT = "the input was not analyzed; fix or remove each file listed, then run again"
_MALFORMED_HINT = ("the results would repeat this value; correct it where the series comes from (modality, PACS "
                   "or the tool that wrote the files) and send the series again")
_DUPLICATE_HINT = "remove the duplicate copies and send the series once"
_POSITION_TOLERANCE_MM = 1e-3  # two slices closer than this along the normal share a position
_SPACING_TOLERANCE = 0.01  # relative spread of slice steps still called uniform (at least 0.01 mm)
_TILT_TOLERANCE = 0.1  # in-plane drift of slice positions, as a fraction of the pixel spacing
_NAMED_FILES = 3  # files named on the line of a problem that several files share
_GEOMETRY = ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "SliceThickness")
_PIXEL_GROUP = 0x7FE0  # Pixel Data, Float and Double Float Pixel Data (PS3.6)


@dataclass(frozen=True, eq=False)
class HUVolume(NDArrayOperatorsMixin):
    """The HU of a checked series (float32, Z x R x C), decoded one slice at a time.

    ``volume[z]`` reads slice ``z``'s file again (within the same limits), checks that its
    bytes still have the SHA-256 they had when the series was checked, decodes and rescales
    it (read-only array), and keeps nothing. A file that changed or vanished is refused
    (:class:`DicomReadError` naming it), so the pixels analysed are the pixels checked.

    Decision (issue 20 item 2, issue 22 item 3): re-read and compare a digest rather than keep
    the checked pixel bytes. Kept bytes would cost Z x R x C x 2 bytes (500 MiB at the
    contract's 1000 slices of 512 x 512, half of the 1 GiB an analysis may use); re-reading
    costs one file at a time, and a digest of the whole file makes the re-read data set
    byte-identical to the checked one, so the same decoder gives the same HU.

    Whole-volume use (``np.asarray(volume)``, arithmetic, masks) materialises the volume once
    and keeps it: for training, validation and tests, never on the analysis path.
    """

    paths: tuple[Path, ...]
    digests: tuple[bytes, ...]  # SHA-256 of each file's bytes as checked
    rows: int
    columns: int
    limits: ReadLimits = ReadLimits()
    # what the checked series holds (its kept headers, the results' reservations): a slice is read
    # and parsed again only if that fits beside it, as at its first reading (review 70)
    held: int = 0

    dtype = np.dtype(np.float32)
    ndim = 3

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.paths), self.rows, self.columns)

    @property
    def size(self) -> int:
        return len(self.paths) * self.rows * self.columns

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):  # noqa: ANN204 - slices in order, one at a time
        return (self.plane(index) for index in range(len(self.paths)))

    def plane(self, index: int) -> np.ndarray:
        """HU of slice ``index`` (R, C), float32, read-only, from its file as checked."""
        try:
            # load_series decoded and checked every slice of these digests before this volume was
            # handed out: the same bytes give the same values, so the value checks are not repeated
            return self.decoded(index, value_checks=False)
        except (DicomReadError, ContractViolation) as exc:
            name = self.paths[index].name
            raise type(exc)(f"{name}: {_unnamed(name, exc.message)}", hint=exc.hint) from exc

    def decoded(self, index: int, *, value_checks: bool = True) -> np.ndarray:
        """:meth:`plane`, its DicomReadError or ContractViolation (stored values beyond BitsStored, HU
        that are not those of a body CT) without the file name (``load_series`` names it).
        ``value_checks=False`` skips those two checks (and only them): for bytes whose digest equals
        that of a slice that passed them."""
        path = self.paths[index]
        budget = budget_beside(self.limits, self.held)
        data = read_file_bytes(path, self.limits, budget)
        if hashlib.sha256(data).digest() != self.digests[index]:
            raise DicomReadError("the file changed after it was checked; the series was not analysed",
                                 hint="do not change or replace the input files while they are analysed; run again "
                                      "on the complete series")
        hu = _decode(parse_dataset(data, path.name, self.limits, budget=budget), value_checks=value_checks)
        if hu.shape != (self.rows, self.columns):
            raise DicomReadError(f"the slice is {hu.shape[0]} x {hu.shape[1]}, the series {self.rows} x {self.columns}")
        hu.flags.writeable = False
        return hu

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        if isinstance(key, (int, np.integer)):
            index = int(key)
            if not -len(self.paths) <= index < len(self.paths):
                raise IndexError(f"slice {index} of a series of {len(self.paths)}")
            return self.plane(index % len(self.paths))
        if isinstance(key, slice):  # a series of some of the slices, still decoded on demand
            return dataclasses.replace(self, paths=self.paths[key], digests=self.digests[key])
        if isinstance(key, tuple) and key and isinstance(key[0], (int, np.integer)):
            return self[key[0]][key[1:]]
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:  # noqa: ANN001
        whole = self.__dict__.get("_whole")
        if whole is None:
            whole = np.stack(list(self)) if self.paths else np.zeros(self.shape, np.float32)
            whole.flags.writeable = False
            object.__setattr__(self, "_whole", whole)
        if dtype is not None and np.dtype(dtype) != whole.dtype:
            return whole.astype(dtype)
        return whole.copy() if copy else whole

    def __repr__(self) -> str:
        return f"HUVolume(shape={self.shape}, files={len(self.paths)})"


@dataclass(frozen=True)
class CTSeries:
    """One checked CT series, slices sorted along the slice normal (index 0 = lowest position).

    ``datasets`` hold what later steps read of each header (:func:`_kept_header`: the public
    top-level elements and the Patient and Study modules' sequences; no private elements, other
    sequences or pixel data); ``hu`` gives the HU slice by slice (:class:`HUVolume`)."""

    datasets: tuple[Dataset, ...]
    paths: tuple[Path, ...]
    hu: HUVolume  # float32 (Z, R, C), decoded on demand
    pixel_spacing_mm: tuple[float, float]  # (row spacing, column spacing): PixelSpacing order
    slice_thickness_mm: float
    slice_spacing_mm: float  # from positions; = thickness for a single slice
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str


def _floats(ds: Dataset, keyword: str) -> np.ndarray:
    return np.atleast_1d(np.array([float(v) for v in np.atleast_1d(ds.get(keyword))], dtype=float))


def _normal(ds: Dataset) -> np.ndarray:
    cosines = _floats(ds, "ImageOrientationPatient")
    normal = np.cross(cosines[:3], cosines[3:])
    return normal / np.linalg.norm(normal)


def _text(ds: Dataset, keyword: str, limit: int = 64) -> str:
    return printable(" ".join(str(ds.get(keyword, "") or "").split())[:limit])


def _decoder_problem(ds: Dataset) -> tuple[str, str] | None:
    """Why this installation cannot decode the pixel data of ``ds`` (and the hint), or None."""
    from pydicom.pixels.decoders.base import get_decoder

    syntax = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    if not syntax:
        return "the transfer syntax is unknown", "send Part 10 files"
    label = f"{syntax.name} ({syntax})" if syntax.name != syntax else str(syntax)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return (f"pixel data in transfer syntax {label} cannot be decoded by this installation",
                "send the series uncompressed or losslessly compressed (JPEG-LS, RLE)")
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        return (f"pixel data in transfer syntax {label} need a decoder that is not installed ({missing})",
                "send the series uncompressed, or install the decoder package named above")
    return None


def _decode(ds: Dataset, *, value_checks: bool = True) -> np.ndarray:
    """HU of one slice; DicomReadError (message without the file name) if the pixel data are corrupt,
    ContractViolation if stored values do not fit BitsStored or the HU are not those of a body CT
    (those two only with ``value_checks``)."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # unmasked: pydicom would drop the bits above BitsStored without a word (stored_values_problem)
            ds.pixel_array_options(correct_unused_bits=False)
            pixels = ds.pixel_array
    except Exception as exc:
        raise DicomReadError(
            f"pixel data cannot be decoded (transfer syntax {syntax}: {' '.join(str(exc).split())[:120]})",
            hint="the pixel data are corrupt; send the series again, uncompressed",
        ) from exc
    if caught:
        # A decoder warning means the data do not match the header (e.g. an RLE segment longer
        # than Rows x Columns, silently cut by pydicom): the image shown would not be the one sent.
        raise DicomReadError(
            f"pixel data do not match the header (transfer syntax {syntax}: "
            f"{' '.join(str(caught[0].message).split())[:120]})",
            hint="the pixel data are corrupt; send the series again, uncompressed",
        )
    if pixels.shape != (ds.Rows, ds.Columns):
        raise DicomReadError(f"pixel data have shape {pixels.shape}, the header says {ds.Rows} x {ds.Columns}",
                             hint="the pixel data are corrupt; send the series again, uncompressed")
    ambiguous = stored_values_problem(pixels, ds) if value_checks else None
    if ambiguous:
        raise ContractViolation(ambiguous, hint=_OUTSIDE)
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    hu = (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)
    implausible = decoded_hu_problem(hu) if value_checks else None
    if implausible:
        raise ContractViolation(implausible, hint=_OUTSIDE)
    return hu


def _display_names(paths: Sequence[Path]) -> dict[Path, str]:
    """How each file is named in a problem line: its path below the folder all inputs share."""
    try:
        common = os.path.commonpath([str(path.parent) for path in paths])
    except ValueError:  # relative and absolute paths mixed, or different drives
        common = ""
    names = {}
    for path in paths:
        names[path] = printable(os.path.relpath(path, common) if common else str(path))
    return names


@dataclass
class _Problem:
    files: list[Path]
    what: str
    kind: type[InputRefused]
    hint: str
    shared: bool = False  # one problem of several files together (duplicates), never merged with another


@dataclass
class _Problems:
    """The problems found in an input, in the order found, rendered grouped and bounded."""

    paths: Sequence[Path]
    found: list[_Problem] = field(default_factory=list)

    def add(self, path: Path, what: str, kind: type[InputRefused] = ContractViolation, hint: str = _OUTSIDE) -> None:
        self.found.append(_Problem([path], what, kind, hint))

    def add_shared(self, paths: Sequence[Path], what: str, hint: str) -> None:
        self.found.append(_Problem(list(paths), what, ContractViolation, hint, shared=True))

    def __bool__(self) -> bool:
        return bool(self.found)

    def files(self) -> set[Path]:
        return {path for problem in self.found for path in problem.files}

    def _groups(self) -> list[tuple[list[Path], str]]:
        """(files, what) in the order found; one entry for the files that share one problem."""
        groups: dict[tuple[str, type], dict[Path, None]] = {}  # dict: an ordered set of files
        ordered: list[tuple[list[Path] | dict[Path, None], str]] = []
        for problem in self.found:
            if problem.shared:
                ordered.append((problem.files, problem.what))
                continue
            group = groups.get((problem.what, problem.kind))
            if group is None:
                group = groups[(problem.what, problem.kind)] = {}
                ordered.append((group, problem.what))
            group[problem.files[0]] = None
        return [(list(files), what) for files, what in ordered]

    def lines(self) -> list[str]:
        names = _display_names(list(self.paths))
        lines = []
        for files, what in self._groups():
            shown = [names.get(path, printable(str(path))) for path in files]
            if len(shown) == 1:
                who = shown[0]
            elif len(shown) <= _NAMED_FILES:
                who = f"{', '.join(shown)} ({len(shown)} files)"
            else:
                who = f"{', '.join(shown[:_NAMED_FILES])} and {len(shown) - _NAMED_FILES} more ({len(shown)} files)"
            lines.append(f"{who}: {what}")
        return lines

    def kind(self) -> type[InputRefused]:
        kinds = {problem.kind for problem in self.found}
        if len(kinds) == 1:
            return kinds.pop()
        if all(issubclass(kind, DicomReadError) for kind in kinds):
            return DicomReadError
        return InputRefused

    def hint(self) -> str:
        hints = {problem.hint for problem in self.found}
        return hints.pop() if len(hints) == 1 else _MIXED_HINT


def _bounded(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_PROBLEM_LINES:
        return tuple(lines)
    return (*lines[:MAX_PROBLEM_LINES], f"and {len(lines) - MAX_PROBLEM_LINES} more problems")


def _refusal(problems: _Problems) -> InputRefused:
    """One refusal carrying every problem: the message counts the files and states the first."""
    lines, kind, total = problems.lines(), problems.kind(), len(problems.paths)
    more = len(lines) - 1
    first = lines[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
    if total > 1:
        bad = len(problems.files())
        outside = kind is ContractViolation and problems.hint() == _OUTSIDE  # per-file contract problems only
        what = "outside this model's intended use" if outside else {
            DicomReadError: "not readable", ReadLimitExceeded: "not readable within the reading limits",
        }.get(kind, "refused")
        first = f"{bad} of {total} files {'is' if bad == 1 else 'are'} {what}: {first}"
    return kind(first, problems=_bounded(lines), hint=problems.hint())


@dataclass(frozen=True)
class _SeriesSeen:
    """What the listing of several series says about one (from any readable header)."""

    uid: str
    number: str
    description: str
    modality: str

    @classmethod
    def of(cls, ds: Dataset) -> _SeriesSeen:
        return cls(str(ds.get("SeriesInstanceUID", "") or "").strip(), _text(ds, "SeriesNumber"),
                   _text(ds, "SeriesDescription"), _text(ds, "Modality"))


def _series_lines(seen: Sequence[tuple[Path, _SeriesSeen]]) -> list[str]:
    by_uid: dict[str, list[tuple[Path, _SeriesSeen]]] = {}
    for path, info in seen:
        by_uid.setdefault(info.uid, []).append((path, info))
    lines = []
    for index, members in enumerate(by_uid.values(), 1):
        path, info = members[0]
        description = f'"{info.description}"' if info.description else "no description"
        count = f"{len(members)} file{'s' if len(members) > 1 else ''}"
        lines.append(f"series {index} of {len(by_uid)}: Series Number {info.number or 'none'}, {description}, "
                     f"{info.modality or 'no modality'}, {count}, e.g. {printable(str(path))}")
    return lines


def _check_identity(entries: Sequence[tuple[Path, Dataset]], problems: _Problems) -> None:
    """One study and frame of reference, no image twice (PS3.3 C.7.2.1, C.7.4.1, C.12.1)."""
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
        values = {}
        for path, ds in entries:
            value = str(ds.get(keyword, "") or "").strip()
            if value:
                values[path] = value
            else:
                problems.add(path, f"{keyword} is missing; this model needs it and does not guess it")
        if keyword == "SOPInstanceUID":
            by_value: dict[str, list[Path]] = {}
            for path, value in values.items():
                by_value.setdefault(value, []).append(path)
            for paths in by_value.values():
                if len(paths) > 1:
                    problems.add_shared(paths, "these files hold the same image (same SOPInstanceUID)", _DUPLICATE_HINT)
            continue
        if len(set(values.values())) > 1:
            common, count = Counter(values.values()).most_common(1)[0]
            for path, value in values.items():
                if value != common:
                    problems.add(path, f"the slices of one series carry different {keyword}s ({count} of "
                                 f"{len(entries)} slices share another one)", hint=_ONE_SERIES)
    _check_patient(entries, problems)


# The results (SEG, SR) name one patient, taken from the first slice: every slice must name the
# same one, its text decoded with its own Specific Character Set, under the same character set (the
# same bytes under another one are another name; copied to the results, they would be re-encoded).
_PATIENT = ("SpecificCharacterSet", "PatientID", "PatientName", "PatientBirthDate", "PatientSex")
_PATIENT_HINT = "the slices name different patients; send the slices of one patient's series only"


def _patient_value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if keyword == "SpecificCharacterSet":
        values = [value] if isinstance(value, str) else list(value or [])
        return "\\".join(str(v).strip().upper() for v in values)
    return str(value or "").strip()


def _check_patient(entries: Sequence[tuple[Path, Dataset]], problems: _Problems) -> None:
    """One patient (PS3.3 C.7.1.1) under one Specific Character Set: the slices off the most common
    value are named (empty Type 2 values must agree too)."""
    for keyword in _PATIENT:
        values = {path: _patient_value(ds, keyword) for path, ds in entries}
        if len(set(values.values())) < 2:
            continue
        common, count = Counter(values.values()).most_common(1)[0]
        for path, value in values.items():
            if value != common:
                problems.add(path, f"the slices of one series carry different {keyword}s ({count} of "
                             f"{len(entries)} slices share another one)", hint=_PATIENT_HINT)


def _check_geometry(entries: Sequence[tuple[Path, Dataset]], problems: _Problems, tolerance: float = 1e-4) -> None:
    """One geometry: the slices that differ from the most common value are named."""
    def near(value: np.ndarray, reference: np.ndarray) -> bool:
        return value.shape == reference.shape and bool(np.allclose(value, reference, atol=tolerance, rtol=0))

    for keyword in _GEOMETRY:
        values = [_floats(ds, keyword) for _, ds in entries]
        if all(near(v, values[0]) for v in values):  # the decision: every slice as the first one
            continue
        reference = np.array(Counter(tuple(v) for v in values).most_common(1)[0][0])
        alike = [near(v, reference) for v in values]  # named: the slices off the most common value
        if all(alike):  # (values spread around the most common one: fall back to the first)
            reference, alike = values[0], [near(v, values[0]) for v in values]
        shown = "/".join(f"{v:g}" for v in reference)
        for (path, _), value, same in zip(entries, values, alike):
            if not same:
                problems.add(path, f"slices disagree on {keyword}: {'/'.join(f'{v:g}' for v in value)} here, "
                             f"{shown} in {sum(alike)} of {len(entries)} slices; a series must share one geometry",
                             hint=_ONE_SERIES)


def _check_positions(entries: Sequence[tuple[Path, Dataset]], problems: _Problems, spacing_too: bool) -> np.ndarray:
    """Stacked along the normal, no shared position, evenly spaced; the sorting order."""
    normal = _normal(entries[0][1])
    points = np.array([_floats(ds, "ImagePositionPatient") for _, ds in entries])
    positions = points @ normal
    order = np.argsort(positions, kind="stable")
    if len(entries) < 2:
        return order
    row_spacing, column_spacing = (float(v) for v in _floats(entries[0][1], "PixelSpacing"))
    in_plane = points - np.outer(positions, normal)
    limit = _TILT_TOLERANCE * min(row_spacing, column_spacing)
    if float(np.max(np.linalg.norm(in_plane - in_plane[order[0]], axis=1))) > limit:  # drift from the lowest slice
        # named: the slices off the median in-plane offset by more than half the limit (at least one is)
        off = np.linalg.norm(in_plane - np.median(in_plane, axis=0), axis=1) > limit / 2
        for (path, _), shifted in zip(entries, off):
            if shifted:
                problems.add(path, "slice positions are not stacked along the slice normal (gantry tilt or shifted "
                             "slices); this model accepts untilted axial series only")
    sorted_positions = positions[order]
    steps = np.diff(sorted_positions)
    start = 0
    for index in range(1, len(order) + 1):  # runs of slices at one position
        if index == len(order) or steps[index - 1] >= _POSITION_TOLERANCE_MM:
            if index - start > 1:
                problems.add_shared([entries[i][0] for i in order[start:index]],
                                    f"these slices share the same position ({sorted_positions[start]:g} mm along "
                                    "the slice normal; duplicate or mixed acquisitions)", _ONE_SERIES)
            start = index
    if problems or not spacing_too:
        return order
    tolerance = max(0.01, _SPACING_TOLERANCE * float(np.median(steps)))
    if np.max(steps) - np.min(steps) > tolerance:
        # the usual step: the most common one (to 0.01 mm), the smallest on a tie
        usual = min(Counter(np.round(steps, 2).tolist()).most_common(), key=lambda item: (-item[1], item[0]))[0]
        for index, step in enumerate(steps):
            if abs(step - usual) > tolerance / 2:
                problems.add_shared([entries[order[index]][0], entries[order[index + 1]][0]],
                                    f"slices are not evenly spaced (steps {np.min(steps):.3g} to {np.max(steps):.3g} "
                                    f"mm): {step:.3g} mm between these two, {usual:.3g} mm usually; missing or extra "
                                    "slices", "send the complete series")
    return order


def _digest_and_parse(path: Path, limits: ReadLimits, budget: InputBudget) -> tuple[bytes, Dataset]:
    """One file's digest and data set; its bytes live in this frame only, so a refused file's
    bytes are gone before the next file is read (fuzz campaign e91fb5d: two 500 MiB files held)."""
    data = read_file_bytes(path, limits, budget)
    return hashlib.sha256(data).digest(), parse_dataset(data, path.name, limits, budget=budget)


def load_series(paths: Sequence[Path], contract: InputContract, limits: ReadLimits = ReadLimits(), *,
                held_per_voxel: float = 0.0, held_besides: dict[str, int] | None = None) -> CTSeries:
    """Read, check and assemble one series; raise DicomReadError / ContractViolation otherwise.

    Every file is checked; the refusal (an :class:`InputRefused`, or its child
    :class:`DicomReadError` / :class:`ContractViolation` when every problem is of that kind)
    carries every problem in ``problems`` (see the module doc).

    Memory: one file's bytes and pixels at a time. A file's pixel data and bytes are dropped
    once its header is checked; the SHA-256 of the bytes is kept for :class:`HUVolume`. When
    every header and the series as a whole pass, each slice is decoded once from its file
    (read again, digest compared), so a corrupt one is a refusal before any inference, and
    nothing is decoded for an input refused otherwise. The input's :class:`InputBudget` is
    charged with each parsed header (then with the part of it kept: ``held_bytes``) and, per
    slice, with ``held_per_voxel`` bytes per pixel (what the caller will hold per voxel: the
    analysis's label volume and SEG frames), after ``held_besides`` (what the caller holds
    whatever the input: what -> bytes), so an input too large for the memory limit is refused
    before anything grows with it.
    """
    if not paths:
        raise DicomReadError("no input files", hint=_ONE_SERIES)
    if len(paths) > contract.max_slices:
        raise ContractViolation(f"the input holds {len(paths)} files; this model accepts at most "
                                f"{contract.max_slices} slices", hint=_OUTSIDE)
    paths = [Path(path) for path in paths]
    problems = _Problems(paths)
    entries: list[tuple[Path, Dataset]] = []
    seen: list[tuple[Path, _SeriesSeen]] = []
    digests: dict[Path, bytes] = {}
    budget = InputBudget(limits)
    for what, nbytes in (held_besides or {}).items():
        budget.hold_besides(what, nbytes)
    for path in paths:
        held_before = budget.held
        ds = None  # a file refused after parsing goes now, not after the next file is parsed (review 59)
        try:
            digest, ds = _digest_and_parse(path, limits, budget)
        except DicomReadError as exc:
            if budget.exhausted():  # the input as a whole is over budget: stop reading now, not after every file
                raise _over_budget(exc, path, paths) from None
            problems.add(path, _unnamed(path.name, exc.message), type(exc), exc.hint or _MIXED_HINT)
            continue
        info = _SeriesSeen.of(ds)
        if info.uid:
            seen.append((path, info))
        refused = header_problems(ds, contract)
        for what in refused:
            problems.add(path, what)
        malformed = [] if refused else copied_attribute_problems(ds)
        for what in malformed:
            problems.add(path, what, DicomReadError, _MALFORMED_HINT)
        refused = refused or malformed
        no_decoder = None if refused else _decoder_problem(ds)
        if no_decoder:
            problems.add(path, no_decoder[0], DicomReadError, no_decoder[1])
        if not refused and not no_decoder:
            if info.uid:
                fill_empty_type2(ds)  # in memory only: the results carry them empty (Type 2)
                ds = _kept_header(ds)
                try:
                    budget.settle(path.name, held_before, held_bytes(ds))
                    budget.reserve(path.name, int(int(ds.Rows) * int(ds.Columns) * held_per_voxel),
                                   "its share of the results (label volume, SEG frames)")
                except ReadLimitExceeded as exc:
                    raise _over_budget(exc, path, paths) from None
                digests[path] = digest
                entries.append((path, ds))
            else:  # asked of files inside the contract only: for the others it would be noise
                problems.add(path, "SeriesInstanceUID is missing; this model needs it and does not guess it")
        # a refused file's data set (pixel data included) is not kept

    series_count = len({info.uid for _, info in seen})
    if series_count > 1:
        lead = (f"the input holds {series_count} series (by SeriesInstanceUID); this model analyzes one series "
                "at a time")
        if problems:
            bad = len(problems.files())
            lead += f"; {bad} of {len(paths)} files {'is' if bad == 1 else 'are'} also refused"
        lines = _series_lines(seen) + (problems.lines() if problems else [])
        raise ContractViolation(lead, problems=_bounded(lines), hint=_SERIES_HINT)
    order = np.arange(len(entries))
    if entries:
        dropped, before = bool(problems), len(problems.found)
        _check_identity(entries, problems)
        _check_geometry(entries, problems)
        if len(problems.found) == before:  # one identity and geometry: positions can be compared
            order = _check_positions(entries, problems, spacing_too=not dropped)
    if problems:
        raise _refusal(problems)

    entries = [entries[i] for i in order]
    first = entries[0][1]
    hu = HUVolume(paths=tuple(path for path, _ in entries), digests=tuple(digests[path] for path, _ in entries),
                  rows=int(first.Rows), columns=int(first.Columns), limits=limits, held=budget.held)
    for index, (path, _) in enumerate(entries):
        try:
            hu.decoded(index)  # decoded now to refuse a corrupt or implausible slice, again (same bytes) when analysed
        except ReadLimitExceeded as exc:  # its second reading does not fit beside what the series holds
            raise _over_budget(exc, path, paths) from None
        except (DicomReadError, ContractViolation) as exc:
            problems.add(path, _unnamed(path.name, exc.message), type(exc), exc.hint or _MIXED_HINT)
    if problems:
        raise _refusal(problems)
    row_spacing, column_spacing = (float(v) for v in _floats(first, "PixelSpacing"))
    thickness = float(_floats(first, "SliceThickness")[0])
    spacing = thickness
    if len(entries) > 1:
        normal = _normal(first)
        positions = [float(_floats(ds, "ImagePositionPatient") @ normal) for _, ds in entries]
        spacing = float(np.mean(np.diff(positions)))
    return CTSeries(
        datasets=tuple(ds for _, ds in entries),
        paths=tuple(path for path, _ in entries),
        hu=hu,
        pixel_spacing_mm=(row_spacing, column_spacing),
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        study_instance_uid=str(first.StudyInstanceUID).strip(),
        series_instance_uid=str(first.SeriesInstanceUID).strip(),
        frame_of_reference_uid=str(first.FrameOfReferenceUID).strip(),
    )


def _over_budget(exc: DicomReadError, path: Path, paths: Sequence[Path]) -> DicomReadError:
    """The refusal of an input over its memory budget, naming the file as a problem line does (its
    path below the folder all inputs share: the reader knows the file's name only)."""
    shown = _display_names(paths)[path]
    return type(exc)(f"{shown}: {_unnamed(path.name, exc.message)}", problems=exc.problems, hint=exc.hint)


def _unnamed(name: str, message: str) -> str:
    """A reader message without its leading file name (the problem line names the file)."""
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _kept_header(ds: Dataset) -> Dataset:
    """What a checked slice keeps of its header (issue 22: a scanner's header is ~400 elements, most of
    them private or in sequences that nothing after the checks reads): every public top-level element
    (identity, geometry, equipment: what the series, the previews and the SEG, SR and SC writers
    read or copy), with the sequences of the Patient and Study modules (which the results repeat:
    ``repeated_by_results``), the file meta and the original encoding; not the private elements, the
    other sequences nor the pixel data (``CTSeries`` doc). Measured on a scanner-like header
    (``training.ct_headers``): 85 of 400 elements kept, 49 KiB held instead of 184 KiB."""
    repeated = set(repeated_by_results(str(ds.get("SOPClassUID", ""))))
    kept = Dataset()
    for tag in sorted(ds.keys(), key=int):
        element = ds[tag]
        if tag.is_private or tag.group == _PIXEL_GROUP or (element.VR == "SQ" and element.keyword not in repeated):
            continue
        kept[tag] = element
    kept.file_meta = ds.file_meta
    kept.set_original_encoding(*ds.original_encoding, character_encoding=ds.original_character_set)
    return kept
