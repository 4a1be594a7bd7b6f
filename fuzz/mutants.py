"""Seeded, reproducible mutants of DICOM inputs (issue 22 item 5).

A mutant is a folder of 0..N entries (files, and for some kinds FIFOs, character devices,
symbolic links, folders) that can be passed as ``device-ai analyze IN --out OUT`` and
``device-ai anonymize IN OUT``. ``build(seed, mutant_id, folder)`` always makes the same folder:
the kind follows from the id (ids ``0..len(KINDS)-1`` are one of each kind, later ids draw a
kind by weight), everything else from ``random.Random("device_ai fuzz <seed> <id>")``.

Bases (synthetic only, no PHI): a 3-slice CT series written by ``tests/dicom/synthetic.py``
(with and without sequences), a 3-slice phantom series written by
``device_ai.training.ct_series``, and every file of pydicom's ``data/test_files`` folder listed
from disk (``get_testdata_files`` is never called: it may download). Large inputs (deflate and
multi-file bombs) are written by ``tests/dicom/test_input_budget.write_slice``, which streams
them, into a cache folder and hard-linked into the mutant.

    python -m fuzz.mutants --seed 0 --id 17 OUT_FOLDER     # build one mutant, print what it is
    python -m fuzz.mutants --list                          # the kinds and their weights
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import shutil
import stat
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from fuzz.dicom_bytes import (
    DEFLATED, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, LONG_VRS, PIXEL_DATA, SHORT_VRS, UNDEFINED, Part10, element, file_meta, put_length, remove_element, set_element, split_part10, top_level,
    value_of, walk,
)

MIB = 1024 * 1024
SERIES_SLICES = 3

# --------------------------------------------------------------------------------------------
# bases


@functools.lru_cache(maxsize=None)
def _synthetic(with_sequences: bool) -> tuple[tuple[str, bytes], ...]:
    from pydicom.dataset import Dataset

    from tests.dicom.synthetic import ct_slice, part10, phantom_hu, uid

    hu = phantom_hu(SERIES_SLICES, 256)
    files = []
    for i in range(SERIES_SLICES):
        ds = ct_slice(i, hu, series="fuzz-sq" if with_sequences else "series-1")
        if with_sequences:
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "FUZZ01", "99FUZZ", "phantom procedure"
            ds.ProcedureCodeSequence = [code]
            ref = Dataset()
            ref.ReferencedSOPClassUID = ds.SOPClassUID
            ref.ReferencedSOPInstanceUID = uid("fuzz-sq", "instance", (i + 1) % SERIES_SLICES)
            ds.ReferencedImageSequence = [ref]
            block = ds.private_block(0x0009, "FUZZ VENDOR", create=True)
            inner = Dataset()
            inner.add_new(0x00091010, "LO", "FUZZ VENDOR")
            inner.add_new(0x00091001, "LO", "nested private value")
            block.add_new(0x20, "SQ", [inner])
        files.append((f"slice{i:03d}.dcm", part10(ds)))
    return tuple(files)


@functools.lru_cache(maxsize=None)
def _phantom() -> tuple[tuple[str, bytes], ...]:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=SERIES_SLICES, rows=256)
    with tempfile.TemporaryDirectory(prefix="fuzz-phantom-") as tmp:
        paths = write_ct_series(case, Path(tmp) / "series")
        return tuple((p.name, p.read_bytes()) for p in paths)


SERIES_BASES: dict[str, Callable[[], tuple[tuple[str, bytes], ...]]] = {
    "synthetic": lambda: _synthetic(False),
    "synthetic-sq": lambda: _synthetic(True),
    "phantom": _phantom,
}
_NOT_DICOM_SUFFIXES = {".txt", ".json", ".dump", ".icc", ".gz", ".py", ".xml", ".npy"}


@functools.lru_cache(maxsize=None)
def pydicom_files() -> tuple[Path, ...]:
    """pydicom's bundled test files, listed from disk (never downloaded), sorted, under 4 MiB."""
    root = Path(pydicom.__file__).parent / "data" / "test_files"
    return tuple(sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in _NOT_DICOM_SUFFIXES
                        and p.stat().st_size < 4 * MIB))


def pydicom_relative(path: Path) -> str:
    return path.relative_to(Path(pydicom.__file__).parent / "data" / "test_files").as_posix()


# --------------------------------------------------------------------------------------------
# the mutant


@dataclass
class Mutant:
    seed: int
    id: int
    kind: str
    base: str = ""
    detail: str = ""
    entries: list[tuple] = field(default_factory=list)  # see materialize()

    @property
    def name(self) -> str:
        return f"m{self.id:06d}-{self.kind}"

    def describe(self) -> dict[str, object]:
        return {"id": self.id, "seed": self.seed, "kind": self.kind, "base": self.base, "detail": self.detail,
                "entries": len(self.entries)}


class _Ctx:
    def __init__(self, rng: random.Random, cache: Path) -> None:
        self.rng, self.cache = rng, cache

    def series(self, *names: str) -> tuple[str, list[tuple[str, bytes]]]:
        name = self.rng.choice(names or tuple(SERIES_BASES))
        return name, list(SERIES_BASES[name]())

    def pydicom_file(self) -> tuple[str, list[tuple[str, bytes]]]:
        path = self.rng.choice(pydicom_files())
        return f"pydicom:{pydicom_relative(path)}", [(path.name if path.suffix else path.name + ".dcm", path.read_bytes())]

    def any_base(self, pydicom_share: float = 0.4) -> tuple[str, list[tuple[str, bytes]]]:
        return self.pydicom_file() if self.rng.random() < pydicom_share else self.series()

    def budget_slice(self, private_mib: int, deflate: bool, index: int) -> Path:
        """A slice with a private OB of ``private_mib`` MiB (zeros), streamed by the test helper,
        written once into the cache."""
        from tests.dicom.test_input_budget import write_slice

        path = self.cache / f"slice-{private_mib}mib-{'dfl' if deflate else 'raw'}-{index}.dcm"
        if not path.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache, prefix=".part-")
            os.close(fd)
            write_slice(Path(tmp), private_mib * MIB, deflate=deflate, index=index)
            os.replace(tmp, path)
        return path


    def pixel_bomb(self, pixel_mib: int, index: int) -> Path:
        """A deflated slice whose top-level PixelData (exempt from max_value_mb) inflates to
        ``pixel_mib`` MiB of zeros, streamed, written once into the cache."""
        import zlib

        from tests.dicom.test_input_budget import DEFLATED as DEFLATED_UID
        from tests.dicom.test_input_budget import _body, _meta

        path = self.cache / f"pixels-{pixel_mib}mib-dfl-{index}.dcm"
        if not path.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            body = _body(index)
            at = body.index(struct.pack("<HH", 0x7FE0, 0x0010))
            size = pixel_mib * MIB
            fd, tmp = tempfile.mkstemp(dir=self.cache, prefix=".part-")
            with os.fdopen(fd, "wb") as out:
                out.write(_meta(DEFLATED_UID))
                writer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
                out.write(writer.compress(body[:at] + struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0"
                                          + struct.pack("<I", size)))
                zeros = bytes(MIB)
                for _ in range(pixel_mib):
                    out.write(writer.compress(zeros))
                out.write(writer.flush())
            os.replace(tmp, path)
        return path


def _files(files: list[tuple[str, bytes]]) -> list[tuple]:
    return [("file", name, data) for name, data in files]


def _pick_file(ctx: _Ctx, files: list[tuple[str, bytes]]) -> int:
    return ctx.rng.randrange(len(files))


def _replace(files: list[tuple[str, bytes]], index: int, data: bytes) -> list[tuple[str, bytes]]:
    out = list(files)
    out[index] = (out[index][0], data)
    return out


def _mutate_some(ctx: _Ctx, files: list[tuple[str, bytes]], mutate: Callable[[bytes], bytes]) -> tuple[str, list]:
    """Apply ``mutate`` to every file (40 %) or one of them; returns (which, files)."""
    if len(files) > 1 and ctx.rng.random() < 0.4:
        return "all files", [(n, mutate(d)) for n, d in files]
    i = _pick_file(ctx, files)
    return f"file {files[i][0]}", _replace(files, i, mutate(files[i][1]))


# --------------------------------------------------------------------------------------------
# kinds: each returns (base, detail, entries)


def k_byte_flip(ctx: _Ctx):
    base, files = ctx.any_base()
    i = _pick_file(ctx, files)
    data = bytearray(files[i][1])
    count = ctx.rng.choice((1, 1, 2, 4, 8, 32))
    head = min(len(data), 132 + 400)
    where = []
    for _ in range(count):
        # half the flips land in the header and first elements, where structure lives
        pos = ctx.rng.randrange(head) if ctx.rng.random() < 0.5 else ctx.rng.randrange(len(data))
        data[pos] ^= ctx.rng.randrange(1, 256)
        where.append(pos)
    return base, f"{files[i][0]}: {count} byte(s) flipped at {sorted(where)[:8]}", _files(_replace(files, i, bytes(data)))


def k_truncate(ctx: _Ctx):
    base, files = ctx.any_base()
    i = _pick_file(ctx, files)
    data = files[i][1]
    at = ctx.rng.choice((0, 1, 127, 128, 131, 132, 140, ctx.rng.randrange(len(data)), ctx.rng.randrange(len(data)),
                         len(data) - 1, len(data) - ctx.rng.randrange(1, 9)))
    at = max(0, min(at, len(data) - 1))
    return base, f"{files[i][0]} cut to {at} of {len(data)} bytes", _files(_replace(files, i, data[:at]))


@functools.lru_cache(maxsize=None)
def _explicit_le_files() -> tuple[Path, ...]:
    return tuple(p for p in pydicom_files() if (s := split_part10(p.read_bytes())) and s.syntax == EXPLICIT_LE)


def _explicit_le(ctx: _Ctx, pydicom_share: float = 0.25) -> tuple[str, list[tuple[str, bytes]]]:
    """A base whose files are explicit VR little endian (the element-level mutations' domain)."""
    if ctx.rng.random() < pydicom_share:
        path = ctx.rng.choice(_explicit_le_files())
        return f"pydicom:{pydicom_relative(path)}", [(path.name, path.read_bytes())]
    return ctx.series()


_LENGTHS = ("zero", "one", "minus1", "plus1", "plus2", "odd", "undefined", "0xFFFFFFFE", "0x7FFFFFFF", "remaining+1",
            "double", "0xFFFF")


def _forged(ctx: _Ctx, node, remaining: int) -> tuple[str, int]:
    how = ctx.rng.choice(_LENGTHS)
    value = {"zero": 0, "one": 1, "minus1": node.length - 1, "plus1": node.length + 1, "plus2": node.length + 2,
             "odd": node.length | 1, "undefined": UNDEFINED, "0xFFFFFFFE": 0xFFFFFFFE, "0x7FFFFFFF": 0x7FFFFFFF,
             "remaining+1": remaining + 1, "double": 2 * node.length + 8, "0xFFFF": 0xFFFF}[how]
    return how, value


def _forge_length(ctx: _Ctx, kinds: tuple[str, ...], sequences_only: bool = False):
    base, files = (ctx.series("synthetic-sq") if kinds != ("element",) else _explicit_le(ctx))
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    assert part is not None
    nodes = [n for n in walk(part) if n.kind in kinds and (not sequences_only or n.is_sequence)]
    node = ctx.rng.choice(nodes)
    how, value = _forged(ctx, node, len(part.body) - node.value_pos)
    body = put_length(part.body, node, value)
    what = f"({node.tag >> 16:04X},{node.tag & 0xFFFF:04X}) {node.vr.decode(errors='replace')}" if node.kind == "element" else node.kind
    detail = f"{files[i][0]}: {what} at byte {node.pos} (depth {node.depth}) length {node.length} -> {how} ({value})"
    return base, detail, _files(_replace(files, i, part.join(body)))


def k_forged_length_element(ctx: _Ctx):
    return _forge_length(ctx, ("element",))


def k_forged_length_item(ctx: _Ctx):
    base, files = ctx.series("synthetic-sq")
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    assert part is not None
    nodes = [n for n in walk(part) if n.kind in ("item", "item_end")]
    node = ctx.rng.choice(nodes)
    if ctx.rng.random() < 0.25 and node.kind == "item":  # an undefined-length item without its delimiter
        body = put_length(part.body, node, UNDEFINED)
        return base, f"{files[i][0]}: item at byte {node.pos} made undefined length without delimiter", \
            _files(_replace(files, i, part.join(body)))
    how, value = _forged(ctx, node, len(part.body) - node.value_pos)
    body = put_length(part.body, node, value)
    return base, f"{files[i][0]}: {node.kind} at byte {node.pos} (depth {node.depth}) length {node.length} -> {how}", \
        _files(_replace(files, i, part.join(body)))


def _undefined_sequences(body: bytes, part: Part10) -> bytes:
    """The same data set with every defined-length sequence and item re-encoded with undefined
    length and delimiters (PS3.5 §7.5.1), as many writers do."""
    nodes = walk(Part10(part.header, body, part.syntax))
    inserts: list[tuple[int, bytes]] = []
    patches: list[tuple[int, bytes]] = []
    for n in nodes:
        if n.kind == "element" and n.vr == b"SQ" and n.length != UNDEFINED:
            patches.append((n.length_pos, struct.pack("<I", UNDEFINED)))
            inserts.append((n.end, struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)))
        elif n.kind == "item" and n.length != UNDEFINED and n.depth > 0:
            patches.append((n.length_pos, struct.pack("<I", UNDEFINED)))
            inserts.append((n.end, struct.pack("<HHI", 0xFFFE, 0xE00D, 0)))
    data = bytearray(body)
    for pos, raw in patches:
        data[pos : pos + 4] = raw
    for pos, raw in sorted(inserts, key=lambda x: -x[0]):  # items end before their sequence: insert items first
        data[pos:pos] = raw
    return bytes(data)


def k_forged_length_sequence(ctx: _Ctx):
    base, files = ctx.series("synthetic-sq")
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    assert part is not None
    if ctx.rng.random() < 0.5:
        part = Part10(part.header, _undefined_sequences(part.body, part), part.syntax)
    nodes = walk(part)
    choice = ctx.rng.choice(("length", "length", "drop-seq-delimiter", "drop-item-delimiter", "extra-seq-delimiter"))
    if choice.startswith("drop"):
        wanted = "seq_end" if choice == "drop-seq-delimiter" else "item_end"
        delims = [n for n in nodes if n.kind == wanted]
        if delims:
            d = ctx.rng.choice(delims)
            body = part.body[: d.pos] + part.body[d.end :]
            return base, f"{files[i][0]}: {wanted} at byte {d.pos} removed", _files(_replace(files, i, part.join(body)))
    if choice == "extra-seq-delimiter":
        top = [n for n in nodes if n.kind == "element" and n.depth == 0]
        n = ctx.rng.choice(top)
        body = part.body[: n.end] + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) + part.body[n.end :]
        return base, f"{files[i][0]}: stray sequence delimiter after ({n.tag >> 16:04X},{n.tag & 0xFFFF:04X})", \
            _files(_replace(files, i, part.join(body)))
    seqs = [n for n in nodes if n.kind == "element" and n.vr == b"SQ"]
    node = ctx.rng.choice(seqs)
    how, value = _forged(ctx, node, len(part.body) - node.value_pos)
    body = put_length(part.body, node, value)
    return base, f"{files[i][0]}: SQ ({node.tag >> 16:04X},{node.tag & 0xFFFF:04X}) depth {node.depth} length " \
        f"{node.length} -> {how} ({value})", _files(_replace(files, i, part.join(body)))


_ALL_VRS = sorted(LONG_VRS | SHORT_VRS)


def k_vr_swap(ctx: _Ctx):
    base, files = _explicit_le(ctx)
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    assert part is not None
    nodes = [n for n in walk(part) if n.kind == "element"]
    node = ctx.rng.choice(nodes)
    mode = ctx.rng.choice(("raw", "re-encoded", "invalid"))
    if mode == "invalid":
        vr = ctx.rng.choice((b"XX", b"\0\0", b"ob", b"  ", b"\xff\xff"))
        body = part.body[: node.pos + 4] + vr + part.body[node.pos + 6 :]
    else:
        vr = ctx.rng.choice([v for v in _ALL_VRS if v != node.vr])
        if mode == "raw":  # only the two VR bytes change: the length field is now read with the other layout
            body = part.body[: node.pos + 4] + vr + part.body[node.pos + 6 :]
        else:
            value = part.body[node.value_pos : node.end] if node.length != UNDEFINED else b""
            if vr not in LONG_VRS and len(value) > 0xFFFF:
                value = value[:0xFFFE]
            raw = element(node.tag, vr, value, pad=False)
            body = part.body[: node.pos] + raw + part.body[node.end :]
    detail = f"{files[i][0]}: ({node.tag >> 16:04X},{node.tag & 0xFFFF:04X}) {node.vr.decode(errors='replace')} -> " \
             f"{vr!r} ({mode}, depth {node.depth})"
    return base, detail, _files(_replace(files, i, part.join(body)))


# PS3.3 A.3 (CT Image IOD) modules: Type 1 and Type 2 attributes a CT slice carries
TYPE1 = {
    0x00080016: "SOPClassUID", 0x00080018: "SOPInstanceUID", 0x00080060: "Modality", 0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID", 0x00200052: "FrameOfReferenceUID", 0x00080008: "ImageType",
    0x00200032: "ImagePositionPatient", 0x00200037: "ImageOrientationPatient", 0x00280030: "PixelSpacing",
    0x00280002: "SamplesPerPixel", 0x00280004: "PhotometricInterpretation", 0x00280010: "Rows", 0x00280011: "Columns",
    0x00280100: "BitsAllocated", 0x00280101: "BitsStored", 0x00280102: "HighBit", 0x00280103: "PixelRepresentation",
    0x00281052: "RescaleIntercept", 0x00281053: "RescaleSlope", 0x7FE00010: "PixelData",
}
TYPE2 = {
    0x00100010: "PatientName", 0x00100020: "PatientID", 0x00100030: "PatientBirthDate", 0x00100040: "PatientSex",
    0x00080020: "StudyDate", 0x00080030: "StudyTime", 0x00080090: "ReferringPhysicianName", 0x00200010: "StudyID",
    0x00080050: "AccessionNumber", 0x00200011: "SeriesNumber", 0x00200013: "InstanceNumber", 0x00180060: "KVP",
    0x00200012: "AcquisitionNumber", 0x00200020: "PatientOrientation", 0x00201040: "PositionReferenceIndicator",
    0x00180050: "SliceThickness", 0x00080070: "Manufacturer", 0x00080005: "SpecificCharacterSet",
}


def _missing(ctx: _Ctx, table: dict[int, str]):
    base, files = ctx.series()
    tags = ctx.rng.sample(sorted(table), ctx.rng.choice((1, 1, 1, 2, 3)))
    names = ", ".join(table[t] for t in tags)

    def drop(data: bytes) -> bytes:
        part = split_part10(data)
        assert part is not None
        body = part.body
        for tag in tags:
            body = remove_element(Part10(part.header, body, part.syntax), tag)
        return part.join(body)

    which, out = _mutate_some(ctx, files, drop)
    if ctx.rng.random() < 0.15:  # or present but empty (zero length): Type 2 allows it, Type 1 does not
        def empty(data: bytes) -> bytes:
            part = split_part10(data)
            body = part.body
            for tag in tags:
                p = Part10(part.header, body, part.syntax)
                vr = next((n.vr for n in top_level(p) if n.tag == tag), b"")
                if vr:
                    body = set_element(p, tag, element(tag, vr, b""))
            return part.join(body)
        which, out = _mutate_some(ctx, files, empty)
        return base, f"{names} present with zero length in {which}", _files(out)
    return base, f"{names} removed from {which}", _files(out)


def k_missing_type1(ctx: _Ctx):
    return _missing(ctx, TYPE1)


def k_missing_type2(ctx: _Ctx):
    return _missing(ctx, TYPE2)


def k_duplicate_element(ctx: _Ctx):
    base, files = ctx.series()
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    nodes = [n for n in top_level(part) if n.tag != PIXEL_DATA] + [n for n in top_level(part) if n.tag == PIXEL_DATA][:1]
    node = ctx.rng.choice(nodes)
    raw = part.body[node.pos : node.end]
    if node.tag == 0x00080060 and ctx.rng.random() < 0.5:
        raw = element(node.tag, b"CS", b"MR")
    where = ctx.rng.choice(("after", "before"))
    body = part.body[: node.end] + raw + part.body[node.end :] if where == "after" else \
        part.body[: node.pos] + raw + part.body[node.pos :]
    return base, f"{files[i][0]}: ({node.tag >> 16:04X},{node.tag & 0xFFFF:04X}) repeated ({where}, value " \
        f"{raw[8:24]!r})", _files(_replace(files, i, part.join(body)))


def k_out_of_order(ctx: _Ctx):
    base, files = ctx.series()
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    nodes = top_level(part)
    a = ctx.rng.randrange(len(nodes) - 1)
    b = a + 1 if ctx.rng.random() < 0.7 else ctx.rng.randrange(a + 1, len(nodes))
    na, nb = nodes[a], nodes[b]
    body = part.body
    body = body[: na.pos] + body[nb.pos : nb.end] + body[na.end : nb.pos] + body[na.pos : na.end] + body[nb.end :]
    return base, f"{files[i][0]}: ({na.tag >> 16:04X},{na.tag & 0xFFFF:04X}) and ({nb.tag >> 16:04X}," \
        f"{nb.tag & 0xFFFF:04X}) swapped", _files(_replace(files, i, part.join(body)))


BAD_VALUES: dict[str, list[tuple[int, bytes, tuple[bytes, ...]]]] = {
    "charset": [
        (0x00080005, b"CS", (b"ISO_IR 999", b"ISO 2022 IR 87", b"\xff\xfe", b"ISO_IR 100\\ISO_IR 999", b"GB18030",
                             b"ISO_IR 192", b"ISO 2022 IR 6\\ISO 2022 IR 87", b"\\\\\\\\", b"ISO_IR\x00100")),
        (0x00100010, b"PN", (b"\xc3\x28^\xff", b"\x1b$B\x00\x1b(B", b"A" * 300, b"^^^^^^^", b"\xff\xfe\xfd\xfc",
                             b"=\\=\\=", b"\x1b%G\xe9")),
        (0x00081030, b"LO", (b"\x1b$)C\xff\xff", b"\x00" * 8, b"\xe9t\xe9" * 100)),
    ],
    "date_time": [
        (0x00080020, b"DA", (b"20261345", b"abcdefgh", b"2026-01-01", b"0", b"20260230", b"99999999", b"2026",
                             b"20260101\\20260102", b"\x00\x00\x00\x00\x00\x00\x00\x00")),
        (0x00100030, b"DA", (b"20261345", b"19000229", b"yesterday", b"00000000")),
        (0x00080030, b"TM", (b"256199", b"ab", b"12:00:00.0000000", b"999999.999999", b"-1")),
        (0x0008002A, b"DT", (b"2026010112000099", b"2026013112+2500", b"garbage")),
        (0x00080021, b"DA", (b"20261301", b"ABCDEFGH")),
    ],
    "uid": [
        (0x0020000D, b"UI", (b"1.2.abc", b"1.2.3.", b"0.01.2", b"1." * 40 + b"1", b"", b"1.2\x00\x003", b"\xff\xfe",
                             b"1..2", b"2.25.-1")),
        (0x0020000E, b"UI", (b"1.2.abc", b"1.2.3.", b"9" * 70, b"")),
        (0x00080018, b"UI", (b"1.2.abc", b"", b"1." * 40 + b"1", b"../../etc/passwd", b"/tmp/x")),
        (0x00200052, b"UI", (b"x", b"1.2.")),
        (0x00080016, b"UI", (b"1.2.840.10008.5.1.4.1.1.4", b"1.2.3", b"")),
    ],
    "number": [
        (0x00200032, b"DS", (b"1\\2", b"nan\\0\\0", b"1e999\\0\\0", b"abc", b"1\\2\\3\\4", b"inf\\-inf\\0")),
        (0x00200037, b"DS", (b"0\\0\\0\\0\\0\\0", b"1\\0\\0\\1\\0\\0", b"1\\0\\0", b"nan\\0\\0\\0\\1\\0")),
        (0x00280030, b"DS", (b"0\\0", b"-1\\-1", b"inf\\inf", b"0.7", b"1e-300\\1e-300", b"abc\\def")),
        (0x00180050, b"DS", (b"nan", b"0", b"-2.5", b"1e400")),
        (0x00281053, b"DS", (b"0", b"nan", b"1e308", b"-1")),
        (0x00281052, b"DS", (b"abc", b"1e308", b"nan")),
        (0x00200013, b"IS", (b"1.5", b"99999999999999", b"-0", b"x")),
        (0x00280010, b"US", (b"\0\0", b"\xff\xff", b"\x01\x00\x00", b"\x00\x01")),
        (0x00280011, b"US", (b"\0\0", b"\xff\xff", b"\x00\x02")),
        (0x00280100, b"US", (b"\0\0", b"\x0c\x00", b"\x40\x00", b"\x08\x00")),
        (0x00280101, b"US", (b"\x00\x00", b"\x11\x00", b"\x0c\x00")),
        (0x00280002, b"US", (b"\x03\x00", b"\x00\x00")),
        (0x00280103, b"US", (b"\x02\x00", b"\xff\xff")),
        (0x00281050, b"DS", (b"nan", b"1e999\\2")),
    ],
}


def _bad_value(ctx: _Ctx, family: str):
    base, files = ctx.series()
    tag, vr, choices = ctx.rng.choice(BAD_VALUES[family])
    value = ctx.rng.choice(choices)
    extra = b""
    if family == "charset" and tag == 0x00080005 and ctx.rng.random() < 0.5:
        extra = b" + PatientName in another encoding"

    def put(data: bytes) -> bytes:
        part = split_part10(data)
        body = set_element(part, tag, element(tag, vr, value, pad=vr != b"US"))
        if extra:
            p = Part10(part.header, body, part.syntax)
            body = set_element(p, 0x00100010, element(0x00100010, b"PN", "PHANTOM^ÄÖÜ".encode("utf-8")))
        return part.join(body)

    which, out = _mutate_some(ctx, files, put)
    return base, f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr.decode()} = {value[:40]!r}{extra.decode()} in {which}", \
        _files(out)


def k_bad_charset(ctx: _Ctx):
    return _bad_value(ctx, "charset")


def k_bad_date_time(ctx: _Ctx):
    return _bad_value(ctx, "date_time")


def k_bad_uid(ctx: _Ctx):
    return _bad_value(ctx, "uid")


def k_bad_number(ctx: _Ctx):
    return _bad_value(ctx, "number")


def k_pixel_length(ctx: _Ctx):
    base, files = ctx.series()
    how = ctx.rng.choice(("short", "long", "odd", "empty", "rows", "half", "double", "undefined-native"))
    delta = ctx.rng.choice((1, 2, 3, 256, 512, 4096))

    def change(data: bytes) -> bytes:
        part = split_part10(data)
        pixels = value_of(part, PIXEL_DATA) or b""
        if how == "rows":
            return part.join(set_element(part, 0x00280010, element(0x00280010, b"US", struct.pack("<H", 256 + delta))))
        new = {"short": pixels[:-delta], "long": pixels + b"\0" * delta, "odd": pixels + b"\0",
               "empty": b"", "half": pixels[: len(pixels) // 2], "double": pixels * 2}.get(how)
        if how == "undefined-native":  # native pixel data with an undefined length (not encapsulated)
            raw = struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0" + struct.pack("<I", UNDEFINED) + pixels
            return part.join(set_element(part, PIXEL_DATA, raw))
        return part.join(set_element(part, PIXEL_DATA, element(PIXEL_DATA, b"OW", new, pad=False)))

    which, out = _mutate_some(ctx, files, change)
    return base, f"pixel data {how} (delta {delta}) in {which}", _files(out)


_SYNTAXES = (IMPLICIT_LE, EXPLICIT_BE, DEFLATED, "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5",
             "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205", "1.2.3.4.5.6", "1.2.840.10008.1.2.1\0\0",
             "", "1.2.840.10008.1.2.4.201")


def k_transfer_syntax_lie(ctx: _Ctx):
    """The File Meta claims another transfer syntax than the data set is encoded in."""
    base, files = ctx.any_base(pydicom_share=0.3)
    syntax = ctx.rng.choice(_SYNTAXES)

    def lie(data: bytes) -> bytes:
        part = split_part10(data)
        if part is None:
            return data
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        meta = file_meta(syntax, str(ds.file_meta.get("MediaStorageSOPClassUID") or "1.2.3"),
                         str(ds.file_meta.get("MediaStorageSOPInstanceUID") or "1.2.3.4")) if syntax else \
            file_meta("1.2.3", "1.2.3", "1.2.3.4").replace(b"1.2.3\0", b"\0" * 6, 1)
        return meta + part.body

    which, out = _mutate_some(ctx, files, lie)
    return base, f"meta says {syntax!r} in {which}", _files(out)


def k_deflate_bomb(ctx: _Ctx):
    """One deflated slice whose private OB inflates to N MiB (a few MB on disk)."""
    size = ctx.rng.choice((15, 200, 255, 257, 600, 1100, 2000))
    path = ctx.budget_slice(size, True, 0)
    extra = [("file", name, data) for name, data in SERIES_BASES["synthetic"]()[1:]] if ctx.rng.random() < 0.5 else []
    return "synthetic", f"deflated slice inflating a {size} MiB private OB{' + 2 valid slices' if extra else ''}", \
        [("link", "bomb.dcm", str(path))] + extra


def k_pixel_bomb(ctx: _Ctx):
    """Large top-level pixel data, which no value budget charges: deflated slices inflating to
    nearly the inflation cap (a few hundred KB on disk), or sparse files just under max_file_mb
    (no disk used) whose PixelData length is far above Rows x Columns."""
    if ctx.rng.random() < 0.5:
        mib, count = ctx.rng.choice((120, 250)), ctx.rng.choice((1, 3))
        return "synthetic", f"{count} deflated slice(s) with {mib} MiB of pixel data each", \
            [("link", f"p{i}.dcm", str(ctx.pixel_bomb(mib, i))) for i in range(count)]
    mib, count = ctx.rng.choice((200, 500)), ctx.rng.choice((1, 2))
    from tests.dicom.test_input_budget import EXPLICIT as EXPLICIT_UID
    from tests.dicom.test_input_budget import _body, _meta

    entries = []
    for i in range(count):
        body = _body(i)
        at = body.index(struct.pack("<HH", 0x7FE0, 0x0010))
        head = _meta(EXPLICIT_UID) + body[:at] + struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0" + \
            struct.pack("<I", mib * MIB)
        entries.append(("sparse", f"s{i}.dcm", head, len(head) + mib * MIB))
    return "synthetic", f"{count} sparse file(s) with {mib} MiB of (zero) pixel data each", entries


def k_multi_file_bomb(ctx: _Ctx):
    """Several files, each within every per-file limit, that together exceed the per-input ones."""
    mode = ctx.rng.choice(("deflated-values", "deflated-values", "raw-values", "elements"))
    if mode == "elements":
        count = ctx.rng.choice((21, 24))  # 21 x 99,000 > max_input_elements (1,000,000; 2,000,000 before c8457c0)
        data = _many_elements(99_000, "elements")
        return "synthetic", f"{count} files of 99,000 private elements each", \
            [("file", f"e{i:03d}.dcm", data) for i in range(count)]
    mib = ctx.rng.choice((15, 16)) if mode == "deflated-values" else 15
    count = ctx.rng.choice((12, 20, 40)) if mode == "deflated-values" else ctx.rng.choice((12, 18))
    deflate = mode == "deflated-values"
    # write_slice makes the 4 slices of valid_slice(): files 4 apart repeat a slice (same UIDs and
    # position); the budget is charged file by file, before any series-level check
    entries = [("link", f"s{i:03d}.dcm", str(ctx.budget_slice(mib, deflate, i % 4))) for i in range(count)]
    return "synthetic", f"{count} {'deflated ' if deflate else ''}slices with a {mib} MiB private OB each", entries


def _with_private(body_part: Part10, raw: bytes) -> bytes:
    """``raw`` (private group 0009 elements, creator included) inserted in tag order."""
    body = body_part.body
    for node in top_level(body_part):
        if node.tag > 0x0009FFFF:
            return body_part.join(body[: node.pos] + raw + body[node.pos :])
    return body_part.join(body + raw)


@functools.lru_cache(maxsize=16)
def _many_elements(count: int, mode: str) -> bytes:
    """A valid slice carrying ``count`` extra elements: empty items of one private sequence, or
    distinct private elements over many private groups."""
    part = split_part10(SERIES_BASES["synthetic"]()[0][1])
    creator = element(0x00090010, b"LO", b"FUZZ COUNT")
    if mode == "items":
        items = struct.pack("<HHI", 0xFFFE, 0xE000, 0) * count
        return _with_private(part, creator + element(0x00091010, b"SQ", items))
    chunks, made, group = [], 0, 0x0031
    while made < count:
        chunks.append(element(group << 16 | 0x0010, b"LO", b"FUZZ COUNT"))
        for e in range(min(256, count - made)):
            chunks.append(struct.pack("<HH", group, 0x1000 + e) + b"OB\0\0" + struct.pack("<I", 0))
        made += min(256, count - made)
        group += 2
    raw = b"".join(chunks)
    body = part.body
    nodes = top_level(part)
    at = next(n.pos for n in nodes if n.tag >> 16 > 0x0030)
    return part.join(body[:at] + raw + body[at:])


def k_huge_element_count(ctx: _Ctx):
    count = ctx.rng.choice((50_000, 99_990, 100_001, 400_000, 1_000_000))
    mode = ctx.rng.choice(("items", "elements"))
    data = _many_elements(count, mode)
    extra = list(SERIES_BASES["synthetic"]()[1:])
    return "synthetic", f"one slice with {count} extra {mode} ({len(data)} bytes) + 2 valid slices", \
        [("file", "slice000.dcm", data)] + _files(extra)


def _nested(depth: int, defined: bool) -> bytes:
    tag = struct.pack("<HH", 0x0008, 0x1140) + b"SQ\0\0"  # Referenced Image Sequence
    if not defined:
        head = tag + struct.pack("<I", UNDEFINED) + struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED)
        tail = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        return head * depth + tail * depth
    inner = b""
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = tag + struct.pack("<I", len(item)) + item
    return inner


def k_deep_nesting(ctx: _Ctx):
    depth = ctx.rng.choice((3, 11, 12, 13, 40, 260, 3000))
    defined = ctx.rng.random() < 0.5
    base, files = ctx.series("synthetic", "phantom")
    i = _pick_file(ctx, files)
    part = split_part10(files[i][1])
    body = set_element(part, 0x00081140, _nested(depth, defined))
    return base, f"{files[i][0]}: Referenced Image Sequence nested {depth} deep ({'defined' if defined else 'undefined'} " \
        "lengths)", _files(_replace(files, i, part.join(body)))


def k_special_files(ctx: _Ctx):
    variant = ctx.rng.choice(("fifo", "char-device", "symlink-loop", "symlink-outside", "symlink-dangling",
                              "dir-named-dcm", "unreadable", "symlink-to-dir-outside", "symlink-inside",
                              "oversize-sparse"))
    base, files = ctx.series("synthetic")
    entries = _files(files) if ctx.rng.random() < 0.7 else []
    special: list[tuple] = {
        "fifo": [("fifo", "zz.dcm")],
        "char-device": [("chardev", "zz.dcm")],
        "symlink-loop": [("symlink", "loop1.dcm", "loop2.dcm"), ("symlink", "loop2.dcm", "loop1.dcm")],
        "symlink-outside": [("symlink", "outside.dcm", "/etc/hostname")],
        "symlink-dangling": [("symlink", "dangling.dcm", "does-not-exist.dcm")],
        "dir-named-dcm": [("dir", "folder.dcm", [("file", "inner.dcm", files[0][1])] if ctx.rng.random() < 0.5 else [])],
        "unreadable": [("unreadable", "zz.dcm", files[0][1])],
        "symlink-to-dir-outside": [("symlink", "up", "..")],
        "symlink-inside": [("symlink", "again.dcm", files[0][0])] if entries else [("symlink", "self", ".")],
        # a valid slice's bytes, then holes up to a size above max_file_mb (512): no disk used
        "oversize-sparse": [("sparse", "big.dcm", files[0][1], ctx.rng.choice((600, 3000)) * MIB)],
    }[variant]
    return base, f"{variant}{' beside a valid series' if entries else ' alone'}", entries + special


def k_empty(ctx: _Ctx):
    variant = ctx.rng.choice(("empty-folder", "empty-file", "empty-files-beside-series", "header-only",
                              "hidden-only", "preamble-only", "dicm-only", "nested-empty-folders"))
    base, files = ctx.series("synthetic")
    header = files[0][1][:132]
    entries: list[tuple] = {
        "empty-folder": [],
        "empty-file": [("file", "empty.dcm", b"")],
        "empty-files-beside-series": _files(files) + [("file", "empty.dcm", b"")],
        "header-only": [("file", "header.dcm", split_part10(files[0][1]).header)],
        "hidden-only": [("file", ".hidden.dcm", files[0][1])],
        "preamble-only": [("file", "pre.dcm", header[:128])],
        "dicm-only": [("file", "dicm.dcm", header)],
        "nested-empty-folders": [("dir", "a", [("dir", "b", [])])],
    }[variant]
    return base, variant, entries


# weights: the structural kinds often, the expensive ones (bombs, counts) rarely
KINDS: dict[str, tuple[Callable[[_Ctx], tuple], int]] = {
    "byte_flip": (k_byte_flip, 12),
    "truncate": (k_truncate, 8),
    "forged_length_element": (k_forged_length_element, 8),
    "forged_length_item": (k_forged_length_item, 5),
    "forged_length_sequence": (k_forged_length_sequence, 5),
    "vr_swap": (k_vr_swap, 8),
    "missing_type1": (k_missing_type1, 6),
    "missing_type2": (k_missing_type2, 6),
    "duplicate_element": (k_duplicate_element, 5),
    "out_of_order": (k_out_of_order, 4),
    "bad_charset": (k_bad_charset, 4),
    "bad_date_time": (k_bad_date_time, 4),
    "bad_uid": (k_bad_uid, 4),
    "bad_number": (k_bad_number, 5),
    "pixel_length": (k_pixel_length, 5),
    "transfer_syntax_lie": (k_transfer_syntax_lie, 4),
    "deflate_bomb": (k_deflate_bomb, 1),
    "multi_file_bomb": (k_multi_file_bomb, 1),
    "huge_element_count": (k_huge_element_count, 1),
    "deep_nesting": (k_deep_nesting, 3),
    "special_files": (k_special_files, 4),
    "empty": (k_empty, 2),
    "pixel_bomb": (k_pixel_bomb, 1),
}
# what the runner runs in a fresh process each so its memory high-water mark is its own
EXPENSIVE_KINDS = frozenset({"deflate_bomb", "multi_file_bomb", "huge_element_count", "pixel_bomb"})


def kind_of(seed: int, mutant_id: int) -> str:
    names = list(KINDS)
    if mutant_id < len(names):
        return names[mutant_id]
    rng = random.Random(f"device_ai fuzz kind {seed} {mutant_id}")
    return rng.choices(names, weights=[w for _, w in KINDS.values()])[0]


def default_cache() -> Path:
    return Path(tempfile.gettempdir()) / "device-ai-fuzz-cache"


def generate(seed: int, mutant_id: int, cache: Path | None = None) -> Mutant:
    """Mutant ``mutant_id`` of ``seed`` (pure: the same arguments give the same entries)."""
    kind = kind_of(seed, mutant_id)
    rng = random.Random(f"device_ai fuzz {seed} {mutant_id}")
    with warnings.catch_warnings():  # pydicom's warnings about the values we break on purpose
        warnings.simplefilter("ignore")
        base, detail, entries = KINDS[kind][0](_Ctx(rng, cache or default_cache()))
    return Mutant(seed, mutant_id, kind, base, detail, entries)


def materialize(entries: list[tuple], folder: Path) -> None:
    """Write ``entries`` into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        kind, name = entry[0], entry[1]
        path = folder / name
        if kind == "file":
            path.write_bytes(entry[2])
        elif kind == "link":  # a large cached file: hard link (same file system) or copy
            try:
                os.link(entry[2], path)
            except OSError:
                shutil.copyfile(entry[2], path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "chardev":  # /dev/zero's numbers: reads never end
            try:
                os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
            except OSError:  # not permitted here (not root, or a restricted container): a FIFO instead
                os.mkfifo(path)
        elif kind == "symlink":
            os.symlink(entry[2], path)
        elif kind == "dir":
            materialize(entry[2], path)
        elif kind == "sparse":  # entry[2] then holes up to entry[3] bytes
            with open(path, "wb") as handle:
                handle.write(entry[2])
                handle.truncate(entry[3])
        elif kind == "unreadable":  # mode 0: still readable when the harness runs as root
            path.write_bytes(entry[2])
            path.chmod(0)
        else:
            raise ValueError(kind)


def build(seed: int, mutant_id: int, folder: Path, cache: Path | None = None) -> Mutant:
    mutant = generate(seed, mutant_id, cache)
    materialize(mutant.entries, folder)
    return mutant


def remove_tree(path: Path) -> None:
    """Remove a mutant folder whatever it holds (unreadable files, FIFOs, links, loops)."""
    if not os.path.lexists(path):
        return
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            try:
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build one mutant folder (reproducible from seed and id)")
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--id", type=int, default=0)
    parser.add_argument("--cache", help="folder for large generated files (default: a temp folder)")
    parser.add_argument("--list", action="store_true", help="print the kinds and their weights")
    args = parser.parse_args(argv)
    if args.list or not args.folder:
        for name, (_, weight) in KINDS.items():
            print(f"{name:24s} weight {weight}{'  (fresh process each)' if name in EXPENSIVE_KINDS else ''}")
        return 0
    mutant = build(args.seed, args.id, Path(args.folder), Path(args.cache) if args.cache else None)
    print(json.dumps(mutant.describe(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
