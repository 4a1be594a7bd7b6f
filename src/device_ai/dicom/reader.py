"""Reading untrusted DICOM files with limits (reference/audit_security.md §6).

Before pydicom sees a byte: the file size is capped; the bytes are read once into memory
(so a crafted length never makes Python allocate from the OS file); the Part 10 header is
required (PS3.10 §7.1: 128-byte preamble, "DICM", File Meta group); the element stream is
pre-scanned so that a declared length beyond the bytes remaining, or sequence nesting beyond
the limit (PS3.5 §7.5), is refused; deflated transfer syntaxes are inflated with an output
cap. Only then is the same byte string parsed with pydicom, and any pydicom exception becomes
a :class:`DicomReadError` with a one-line reason.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from device_ai.errors import DicomReadError, ReadLimitExceeded

UNDEFINED = 0xFFFFFFFF
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_DEFLATED = {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205"}
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_NOT_DICOM_HINT = "pass DICOM Part 10 files (as exported by a modality or PACS)"


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one input may cost to read."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_sequence_depth: int = 12
    max_inflated_bytes: int = 1024 * 1024 * 1024
    max_files: int = 5000


class _Scan:
    """Pre-scan of a dataset byte stream: lengths within bounds, nesting within the limit."""

    def __init__(self, data: bytes, explicit: bool, little: bool, limits: ReadLimits, name: str) -> None:
        self.data = data
        self.explicit = explicit
        self.endian = "<" if little else ">"
        self.limits = limits
        self.name = name

    def _u16(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "H", self.data, pos)[0]

    def _u32(self, pos: int) -> int:
        return struct.unpack_from(self.endian + "I", self.data, pos)[0]

    def _truncated(self, pos: int) -> DicomReadError:
        return DicomReadError(f"{self.name}: file is truncated (element at byte {pos} runs past the end)",
                              hint="the file is incomplete; export or copy it again")

    def _tag(self, pos: int) -> int:
        return (self._u16(pos) << 16) | self._u16(pos + 2)

    def dataset(self, pos: int, end: int, depth: int, explicit: bool, until_item_end: bool = False) -> int:
        while pos < end:
            if pos + 8 > end:
                raise self._truncated(pos)
            tag = self._tag(pos)
            if tag == _ITEM_END and until_item_end:
                return pos + 8
            if tag >> 16 == 0xFFFE:
                raise DicomReadError(f"{self.name}: unexpected delimiter ({tag >> 16:04X},{tag & 0xFFFF:04X}) at byte {pos}")
            vr = b""
            if explicit:
                vr = self.data[pos + 4 : pos + 6]
                if len(vr) < 2 or not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise DicomReadError(f"{self.name}: invalid value representation {vr!r} at byte {pos + 4}")
                if vr in _LONG_VRS:
                    if pos + 12 > end:
                        raise self._truncated(pos)
                    length, pos = self._u32(pos + 8), pos + 12
                else:
                    length, pos = self._u16(pos + 6), pos + 8
            else:
                length, pos = self._u32(pos + 4), pos + 8
            if length == UNDEFINED:
                if tag == _PIXEL_DATA:
                    pos = self.fragments(pos, end)
                else:  # SQ, UN or implicit-VR sequence of undefined length (PS3.5 §7.5.1)
                    implicit_inside = explicit and vr == b"UN"
                    pos = self.sequence(pos, end, depth + 1, explicit and not implicit_inside, undefined=True)
                continue
            if length > end - pos:
                raise ReadLimitExceeded(
                    f"{self.name}: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes "
                    f"but only {end - pos} remain",
                    hint="the file is corrupt or crafted; it was not parsed",
                )
            if vr == b"SQ":
                self.sequence(pos, pos + length, depth + 1, explicit, undefined=False)
            pos += length
        if until_item_end:
            raise self._truncated(pos)
        return pos

    def sequence(self, pos: int, end: int, depth: int, explicit: bool, undefined: bool) -> int:
        if depth > self.limits.max_sequence_depth:
            raise ReadLimitExceeded(
                f"{self.name}: sequences nested deeper than {self.limits.max_sequence_depth} levels",
                hint="the file is crafted or corrupt; it was not parsed",
            )
        while pos < end:
            if pos + 8 > end:
                raise self._truncated(pos)
            tag, length = self._tag(pos), self._u32(pos + 4)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise DicomReadError(f"{self.name}: sequence item expected at byte {pos - 8}")
            if length == UNDEFINED:
                pos = self.dataset(pos, end, depth, explicit, until_item_end=True)
            else:
                if length > end - pos:
                    raise ReadLimitExceeded(f"{self.name}: sequence item declares {length} bytes but only "
                                            f"{end - pos} remain", hint="the file is corrupt or crafted")
                self.dataset(pos, pos + length, depth, explicit)
                pos += length
        if undefined:
            raise self._truncated(pos)
        return pos

    def fragments(self, pos: int, end: int) -> int:
        """Encapsulated pixel data: items of defined length up to the sequence delimiter."""
        while pos + 8 <= end:
            tag, length = self._tag(pos), self._u32(pos + 4)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM or length == UNDEFINED or length > end - pos:
                raise DicomReadError(f"{self.name}: malformed encapsulated pixel data at byte {pos - 8}")
            pos += length
        raise self._truncated(pos)


def _file_meta(data: bytes, name: str) -> tuple[str, int]:
    """Transfer syntax UID and the offset where the dataset starts (PS3.10 §7.1)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise DicomReadError(f"{name}: no DICOM file header (preamble and 'DICM' prefix missing)", hint=_NOT_DICOM_HINT)
    pos, syntax = 132, None
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                break
            length, start = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        if length == UNDEFINED or start + length > len(data):
            raise DicomReadError(f"{name}: the file meta information is corrupt", hint=_NOT_DICOM_HINT)
        if element == 0x0010:
            syntax = data[start : start + length].decode("ascii", "replace").strip("\0 ")
        pos = start + length
    if not syntax:
        raise DicomReadError(f"{name}: the file meta information has no Transfer Syntax UID", hint=_NOT_DICOM_HINT)
    return syntax, pos


def _inflate(payload: bytes, limits: ReadLimits, name: str) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, limits.max_inflated_bytes)
    except zlib.error as exc:
        raise DicomReadError(f"{name}: deflated dataset is corrupt ({exc})") from exc
    if inflater.unconsumed_tail:
        raise ReadLimitExceeded(
            f"{name}: deflated dataset inflates beyond {limits.max_inflated_bytes} bytes",
            hint="the file is a decompression bomb or far larger than any CT slice; it was not parsed",
        )
    return out


def prescan(data: bytes, limits: ReadLimits, name: str) -> None:
    """Refuse, before parsing, what would make the parser misbehave (see module doc)."""
    syntax, start = _file_meta(data, name)
    body = data[start:]
    explicit, little = syntax != _IMPLICIT_LE, syntax != _EXPLICIT_BE
    if syntax in _DEFLATED:
        body = _inflate(body, limits, name)
    _Scan(body, explicit, little, limits, name).dataset(0, len(body), 0, explicit)


def read_dataset(path: Path, limits: ReadLimits = ReadLimits(), *, stop_before_pixels: bool = False) -> Dataset:
    """Read one untrusted DICOM file; raise :class:`DicomReadError` (or a child) on anything wrong."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise ReadLimitExceeded(f"{name}: file is {size} bytes, above the limit of {limits.max_file_bytes}",
                                    hint="raise max_file_mb in the configuration if such files are expected")
        # read(n) allocates n bytes up front: ask for the stat'ed size, never the limit
        with open(path, "rb") as handle:
            data = handle.read(size)
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot read the file ({exc.strerror})") from exc
    prescan(data, limits, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    except Exception as exc:  # a closed set is not documented by pydicom; all mean "unreadable"
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise DicomReadError(f"{name}: not readable as DICOM ({reason})", hint=_NOT_DICOM_HINT) from exc


def collect_input_files(input_path: Path, limits: ReadLimits = ReadLimits()) -> list[Path]:
    """The files of an input: one file, or every non-hidden file under a folder (sorted).

    DICOMDIR files are skipped (file-set paths are never followed: CVE-2026-32711), and
    symbolic links that lead outside the folder are refused.
    """
    input_path = Path(input_path)
    if input_path.is_file():
        return [input_path]
    if not input_path.is_dir():
        raise DicomReadError(f"input {input_path} does not exist", hint="pass a DICOM file or a folder of one series")
    root = input_path.resolve()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(input_path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or filename.upper() == "DICOMDIR":
                continue
            path = Path(dirpath) / filename
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise DicomReadError(f"{path} is a link to a file outside the input folder",
                                     hint="copy the files into the folder instead of linking them")
            files.append(path)
            if len(files) > limits.max_files:
                raise ReadLimitExceeded(f"input holds more than {limits.max_files} files",
                                        hint="pass one series folder, or raise max_files in the configuration")
    if not files:
        raise DicomReadError(f"folder {input_path} holds no files", hint="pass a folder that holds one CT series")
    return files
