"""Units of a de-identification job: one study each, found under the input folder.

A unit is every file under IN that carries the same Patient ID and Study Instance UID, the
two values a de-identified file's output folder ``<patient>/<study>`` is named by; so a unit
publishes exactly one folder (one rename), wherever its files lie in the tree (a PACS export
by patient, by date or flat). Its id is that keyed folder name (``DAI-<hex>/2.25.<n>``): free
of PHI, the same in every run under the same site secret, and fit for the ledger that lies
under OUT. Files whose header gives no such pair (not DICOM, unreadable, no Study Instance UID)
form the unit ``unassigned``, de-identified like any other (the worker quarantines them with
their reason codes, as a single run would).

Discovery is cheap: the walk is the single run's (``run.collect_entries``: hidden files and
DICOMDIR counted as skipped, links leading outside IN and folders that cannot be listed
quarantined unread), and each file's header is read from a bounded prefix (16 KiB, then 256 KiB
when the header is longer; never the pixel data of a CT slice), stopping after the Study
Instance UID. A file whose prefix does
not reach it, or whose transfer syntax is deflated, is read with the device's reader and its
limits (``reader.read_dataset``), pixel data left out.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import stat
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from device_ai.dicom.deidentify.run import Skipped, collect_entries
from device_ai.dicom.paths import status
from device_ai.dicom.reader import ReadLimits, read_dataset
from device_ai.errors import DicomReadError

UNASSIGNED = "unassigned"
# Bytes read for a header: a CT header is a few KiB; a larger prefix is tried before the reader
HEADER_PREFIXES = (16 * 1024, 256 * 1024)
HEADER_PREFIX = HEADER_PREFIXES[-1]
_PATIENT_ID, _STUDY_UID, _SERIES_UID = 0x00100020, 0x0020000D, 0x0020000E
# Deflated syntaxes: inflating a prefix is not bounded by the read limits; the reader's is
_DEFLATED = (b"1.2.840.10008.1.2.1.99", b"1.2.840.10008.1.2.4.95")
_META_BYTES = 4096  # where the transfer syntax of any real file lies


@dataclass(frozen=True)
class Unit:
    """One study (or the unassigned files): ``files`` in the order a single run reads them."""

    id: str
    files: tuple[Path, ...]
    input_digest: str  # keyed digest of the files' paths and sizes: the same unit on a re-run

    @property
    def label(self) -> str:
        """The unit id as one folder name (its quarantine folder)."""
        return self.id.replace("/", "_")


@dataclass
class Discovery:
    units: list[Unit]
    skipped: list[Skipped] = field(default_factory=list)
    unfollowable: dict[Path, tuple[str, str]] = field(default_factory=dict)  # path -> (code, reason), not read
    files: int = 0


def header_identity(path: Path, limits: ReadLimits) -> tuple[str, str] | None:
    """(Patient ID, Study Instance UID) as the de-identifier keys them, or None when the file
    gives no such pair (it is then the unassigned unit's)."""
    values = _read_header(path, limits, _prefix_identity, lambda ds: (
        ds[_PATIENT_ID].value if _PATIENT_ID in ds else None, ds.get("StudyInstanceUID"), _PATIENT_ID in ds))
    return _keyed_values(values) if values is not None else None


def header_series(path: Path, limits: ReadLimits) -> str | None:
    """The Series Instance UID of a file (``analyze --batch``'s unit), read as
    :func:`header_identity` reads; None when the file gives none."""
    value = _read_header(path, limits, _prefix_series, lambda ds: ds.get("SeriesInstanceUID"))
    if not isinstance(value, str) or not value.strip("\0 "):
        return None
    return value.strip("\0 ")


def _read_header(path: Path, limits: ReadLimits, from_prefix: Callable[[bytes], object | None],
                 from_dataset: Callable[[object], object]) -> object | None:
    """``from_prefix(prefix)`` of a bounded prefix of the file (None: not reached), else
    ``from_dataset`` of the reader's read (its limits, no pixel data); None when unreadable."""
    try:
        info = status(path, follow_links=True)
    except DicomReadError:
        return None
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size > limits.max_file_bytes:
        return None
    values, prefix = None, b""
    try:
        with open(path, "rb") as handle:
            for size in HEADER_PREFIXES:
                prefix += handle.read(min(info.st_size, size) - len(prefix))
                if any(uid in prefix[:_META_BYTES] for uid in _DEFLATED):
                    break
                values = from_prefix(prefix)
                if values is not None or len(prefix) >= info.st_size:
                    break
    except OSError:
        return None
    if values is None and (len(prefix) < info.st_size or any(uid in prefix[:_META_BYTES] for uid in _DEFLATED)):
        try:
            ds = read_dataset(path, limits, stop_before_pixels=True)
        except DicomReadError:
            return None
        values = from_dataset(ds)
    return values


def _prefix_series(prefix: bytes) -> str | None:
    """The Series Instance UID's value from the prefix, or None when the prefix does not reach it."""
    from pydicom.filereader import read_partial

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(io.BytesIO(prefix), stop_when=lambda tag, vr, length: tag > _SERIES_UID,
                              specific_tags=[_SERIES_UID])
            return ds[_SERIES_UID].value if _SERIES_UID in ds else None
    except Exception:  # noqa: BLE001 - any parser failure: the reader with its limits decides
        return None


def _prefix_identity(prefix: bytes) -> tuple[object, object, bool] | None:
    """(Patient ID value, Study Instance UID value, Patient ID present) from the prefix, or None
    when the prefix does not reach the Study Instance UID or does not parse."""
    from pydicom.filereader import read_partial

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(io.BytesIO(prefix), stop_when=lambda tag, vr, length: tag > _STUDY_UID,
                              specific_tags=[_PATIENT_ID, _STUDY_UID])
            if _STUDY_UID not in ds:
                return None
            return (ds[_PATIENT_ID].value if _PATIENT_ID in ds else None, ds[_STUDY_UID].value, _PATIENT_ID in ds)
    except Exception:  # noqa: BLE001 - any parser failure: the reader with its limits decides
        return None


def _keyed_values(values: tuple[object, object, bool]) -> tuple[str, str] | None:
    """The rule of ``run._identity`` for these two: Patient ID present (empty allowed), one UID."""
    patient, study, has_patient = values
    if not has_patient:
        return None
    if patient in (None, ""):
        patient = ""
    elif not isinstance(patient, str) or not patient.strip("\0 "):
        return None
    if not isinstance(study, str) or not study.strip("\0 "):
        return None
    return str(patient), study.strip("\0 ")


def discover(input_folder: Path, limits: ReadLimits, unit_id: Callable[[str, str], str], secret: bytes) -> Discovery:
    """The units under ``input_folder``: ``unit_id(patient, study)`` names a study's unit (the
    keyed folder name). The single run's limit on files per input applies per unit here
    (a unit above it is refused by the coordinator), not to the whole archive."""
    def unit_of(path: Path) -> str:
        identity = header_identity(path, limits)
        return UNASSIGNED if identity is None else unit_id(*identity)

    return discover_units(input_folder, limits, unit_of, secret)


def discover_units(input_folder: Path, limits: ReadLimits, unit_of: Callable[[Path], str], secret: bytes) -> Discovery:
    """The units under ``input_folder``, each file in the unit ``unit_of(path)`` names (read
    from its header), with the single run's walk."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    unfollowable: dict[Path, tuple[str, str]] = {}
    collect_entries(Path(input_folder), replace(limits, max_files=sys.maxsize), files, skipped, unfollowable)
    grouped: dict[str, list[Path]] = {}
    readable = [path for path in files if path not in unfollowable]
    for path in readable:
        grouped.setdefault(unit_of(path), []).append(path)
    root = Path(input_folder)
    units = [Unit(key, tuple(paths), input_digest(root, paths, secret)) for key, paths in sorted(grouped.items())]
    return Discovery(units=units, skipped=skipped, unfollowable=unfollowable, files=len(files))


def input_digest(root: Path, paths: list[Path], secret: bytes) -> str:
    """Keyed (HMAC-SHA256) digest of the unit's files, by path under IN and size: it tells a
    re-run whether a unit is the same, without the ledger holding input paths."""
    mac = hmac.new(secret, b"device-ai batch unit input\x1f", hashlib.sha256)
    for path in paths:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        mac.update(os.fsencode(os.path.relpath(path, root)) + b"\x00" + str(size).encode() + b"\n")
    return mac.hexdigest()
