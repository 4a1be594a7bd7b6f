"""Reading with limits: every malformed or hostile file is refused with a typed, one-line
error, within bounded memory and time (SRS-010); files read are then either inside the demo
contract or refused by it, never anything else (SRS-011)."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from device_ai.dicom import reader
from device_ai.dicom.contract import DEMO_CONTRACT, check_header
from device_ai.dicom.reader import ReadLimits, collect_input_files, read_dataset
from device_ai.errors import ContractViolation, DicomReadError, ReadLimitExceeded
from tests.dicom.synthetic import part10, valid_slice, write

DATA_ROOT = Path(pydicom.data.__file__).parent
# Everything pydicom ships, listed from its folder: get_testdata_files() also asks github.com
# for the list of downloadable files, a network call a test must not make.
PYDICOM_FILES = sorted(str(p) for p in (Path(pydicom.data.__file__).parent / "test_files").rglob("*"))
# pydicom's files that pass the demo contract (a 256-512 px axial CT with 0.5-1 mm pixels):
# none does. If a pydicom upgrade adds one, check it by eye and list it here.
PASSING_CONTRACT: set[str] = set()
MEMORY_BOUND = 64 * 1024 * 1024
TIME_BOUND_S = 2.0  # a hang detector, not a benchmark: each case takes milliseconds
EXPLICIT_LE, IMPLICIT_LE, DEFLATED = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"


def _bounded_refusal(path: Path, error: type[Exception] = DicomReadError, limits: ReadLimits = ReadLimits()) -> Exception:
    """Read ``path``, expect ``error``; memory and time stay bounded; the message is one line."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(error) as info:
            read_dataset(path, limits)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert peak < MEMORY_BOUND, f"peak memory {peak} bytes"
    assert elapsed < TIME_BOUND_S, f"{elapsed:.2f} s"
    message = str(info.value)
    assert "\n" not in message and path.name in message
    assert info.value.hint  # type: ignore[attr-defined]
    return info.value


def _meta_prefix(syntax: str, preamble: bytes = b"\0" * 128) -> bytes:
    """Preamble, DICM and a minimal explicit-VR LE file meta group naming ``syntax``."""
    uid = syntax.encode() + (b"\0" if len(syntax) % 2 else b"")
    element = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(uid)) + uid
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(element))
    return preamble + b"DICM" + group_length + element


def _patient_name() -> bytes:
    return struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 12) + b"PHANTOM^TEST"


# --- pydicom's own test files ---------------------------------------------------------------


@pytest.mark.req("SRS-010")
@pytest.mark.req("SRS-011")
@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: str(Path(p).relative_to(DATA_ROOT / "test_files")))
def test_pydicom_test_files_are_read_or_refused_with_typed_errors(path: str) -> None:
    name = str(Path(path).relative_to(DATA_ROOT / "test_files"))
    try:
        ds = read_dataset(Path(path))
    except DicomReadError as exc:  # ReadLimitExceeded is a DicomReadError
        assert "\n" not in str(exc) and exc.hint
        return
    try:
        check_header(ds, DEMO_CONTRACT)
    except ContractViolation as exc:
        assert "\n" not in str(exc) and "intended use" in (exc.hint or "")
        assert name not in PASSING_CONTRACT
        return
    assert name in PASSING_CONTRACT, f"{name} passed the demo contract"


@pytest.mark.req("SRS-010")
def test_known_bad_pydicom_files_are_refused() -> None:
    for name, error in [
        ("MR_truncated.dcm", ReadLimitExceeded),
        ("rtplan_truncated.dcm", ReadLimitExceeded),
        ("no_meta.dcm", DicomReadError),
        ("ExplVR_LitEndNoMeta.dcm", DicomReadError),
        ("meta_missing_tsyntax.dcm", DicomReadError),
    ]:
        _bounded_refusal(Path(pydicom.data.get_testdata_file(name, download=False)), error)


# --- synthetic hostile files ----------------------------------------------------------------


@pytest.mark.req("SRS-010")
def test_valid_file_reads(tmp_path: Path) -> None:
    ds = read_dataset(write(valid_slice(), tmp_path / "ok.dcm"))
    assert ds.Modality == "CT" and ds.PatientName == "PHANTOM^TEST"
    check_header(ds, DEMO_CONTRACT)
    assert "PixelData" not in read_dataset(tmp_path / "ok.dcm", stop_before_pixels=True)


@pytest.mark.req("SRS-010")
def test_truncated_files_are_refused_at_every_cut(tmp_path: Path) -> None:
    data = write(valid_slice(), tmp_path / "ok.dcm").read_bytes()
    read_refusals = 0
    cuts = list(range(0, 1400, 5)) + list(range(1400, len(data), 9973)) + [len(data) - 1]
    for cut in cuts:
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        try:
            ds = read_dataset(path)
        except DicomReadError as exc:
            assert "\n" not in str(exc)
            read_refusals += 1
            continue
        # A cut exactly between two elements is a well-formed, shorter file: the contract
        # must then refuse it for what it lacks (at the latest, the pixel data).
        with pytest.raises(ContractViolation):
            check_header(ds, DEMO_CONTRACT)
    assert read_refusals >= 0.9 * len(cuts)
    error = _bounded_refusal(tmp_path / f"cut{len(data) - 1}.dcm", ReadLimitExceeded)
    assert "(7FE0,0010) declares" in str(error)


@pytest.mark.req("SRS-010")
def test_file_without_meta_is_refused(tmp_path: Path) -> None:
    data = write(valid_slice(), tmp_path / "ok.dcm").read_bytes()
    (tmp_path / "raw.dcm").write_bytes(data[132:])
    assert "no DICOM file header" in str(_bounded_refusal(tmp_path / "raw.dcm"))
    (tmp_path / "nosyntax.dcm").write_bytes(b"\0" * 128 + b"DICM" + _patient_name())
    assert "no Transfer Syntax UID" in str(_bounded_refusal(tmp_path / "nosyntax.dcm"))


@pytest.mark.req("SRS-010")
@pytest.mark.parametrize("bad_vr", [b"\x01\x02", b"ZZ", b"cs"])
def test_invalid_vr_bytes_are_refused(tmp_path: Path, bad_vr: bytes) -> None:
    data = bytearray(write(valid_slice(), tmp_path / "ok.dcm").read_bytes())
    position = data.index(b"\x08\x00\x08\x00CS")  # ImageType, the first element after the meta group
    data[position + 4 : position + 6] = bad_vr
    (tmp_path / "vr.dcm").write_bytes(bytes(data))
    assert "invalid value representation" in str(_bounded_refusal(tmp_path / "vr.dcm"))


@pytest.mark.req("SRS-010")
def test_huge_declared_length_is_refused_without_allocating(tmp_path: Path) -> None:
    cases = {
        "explicit.dcm": _meta_prefix(EXPLICIT_LE) + struct.pack("<HH2sHI", 0x0010, 0x4000, b"UT", 0, 0xFFFFFFF0) + b"abc",
        "implicit.dcm": _meta_prefix(IMPLICIT_LE) + struct.pack("<HHI", 0x0010, 0x4000, 0xFFFFFFF0) + b"abc",
        "pixels.dcm": _meta_prefix(EXPLICIT_LE) + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, 0xFFFFFFF0) + b"ab",
        "item.dcm": _meta_prefix(EXPLICIT_LE) + struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF)
        + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFF0) + b"abcd",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert "4294967280 bytes" in str(_bounded_refusal(tmp_path / name, ReadLimitExceeded))


def _nested_undefined(depth: int) -> bytes:
    open_seq = struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_seq = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return open_seq * depth + _patient_name() + close_seq * depth


def _nested_defined(depth: int, explicit: bool, tag: tuple[int, int] = (0x0008, 0x1115)) -> bytes:
    inner = _patient_name() if explicit else struct.pack("<HHI", 0x0010, 0x0010, 12) + b"PHANTOM^TEST"
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        header = struct.pack("<HH2sHI", *tag, b"SQ", 0, len(item)) if explicit else struct.pack("<HHI", *tag, len(item))
        inner = header + item
    return inner


@pytest.mark.req("SRS-010")
@pytest.mark.parametrize(
    ("syntax", "body"),
    [
        (EXPLICIT_LE, _nested_undefined(500)),
        (EXPLICIT_LE, _nested_defined(500, explicit=True)),
        (IMPLICIT_LE, _nested_defined(500, explicit=False)),  # SQ known only from the dictionary
        (IMPLICIT_LE, _nested_defined(500, explicit=False, tag=(0x0009, 0x1010))),  # private, looks like SQ
    ],
    ids=["explicit-undefined", "explicit-defined", "implicit-defined", "implicit-private"],
)
def test_deep_sequence_nesting_is_refused(tmp_path: Path, syntax: str, body: bytes) -> None:
    path = tmp_path / "deep.dcm"
    path.write_bytes(_meta_prefix(syntax) + body)
    assert "nested deeper than 12" in str(_bounded_refusal(path, ReadLimitExceeded))


@pytest.mark.req("SRS-010")
def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "nested.dcm"
    path.write_bytes(_meta_prefix(IMPLICIT_LE) + _nested_defined(12, explicit=False))
    ds = read_dataset(path)
    for _ in range(12):
        ds = ds.ReferencedSeriesSequence[0]
    assert ds.PatientName == "PHANTOM^TEST"


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.req("SRS-010")
def test_deflate_bomb_is_refused_within_the_inflation_cap(tmp_path: Path) -> None:
    limits = ReadLimits(max_inflated_bytes=8 * 1024 * 1024)
    element = struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, 64 * 1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = compressor.compress(element)
    chunk = b"\0" * (1024 * 1024)
    for _ in range(64):
        payload += compressor.compress(chunk)
    payload += compressor.flush()
    assert len(payload) < 100_000  # a real bomb: > 600x amplification
    path = tmp_path / "bomb.dcm"
    path.write_bytes(_meta_prefix(DEFLATED) + payload)
    assert "inflates beyond" in str(_bounded_refusal(path, ReadLimitExceeded, limits))


@pytest.mark.req("SRS-010")
def test_deflated_files_read_when_valid_and_refused_when_corrupt(tmp_path: Path) -> None:
    ds = valid_slice()
    ds.file_meta.TransferSyntaxUID = DEFLATED
    path = write(ds, tmp_path / "deflated.dcm")
    assert read_dataset(path).PixelData == valid_slice().PixelData
    good = _meta_prefix(DEFLATED) + _deflate(_patient_name())
    (tmp_path / "cut.dcm").write_bytes(good[:-2])
    assert "truncated" in str(_bounded_refusal(tmp_path / "cut.dcm"))
    (tmp_path / "garbage.dcm").write_bytes(_meta_prefix(DEFLATED) + b"\xff" * 64)
    assert "corrupt" in str(_bounded_refusal(tmp_path / "garbage.dcm"))


@pytest.mark.req("SRS-010")
def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(valid_slice(), tmp_path / "ok.dcm")
    assert "above the limit" in str(_bounded_refusal(path, ReadLimitExceeded, ReadLimits(max_file_bytes=1024)))


@pytest.mark.req("SRS-010")
def test_too_many_elements_are_refused(tmp_path: Path) -> None:
    body = b"".join(struct.pack("<HH2sH", 0x0009, 0x1000 + i, b"SH", 0) for i in range(2000))
    (tmp_path / "many.dcm").write_bytes(_meta_prefix(EXPLICIT_LE) + body)
    assert "more than 1000 data elements" in str(
        _bounded_refusal(tmp_path / "many.dcm", ReadLimitExceeded, ReadLimits(max_elements=1000)))


@pytest.mark.req("SRS-010")
def test_folders_and_missing_files_are_refused(tmp_path: Path) -> None:
    assert "not a regular file" in str(_bounded_refusal(tmp_path))
    assert "cannot read" in str(_bounded_refusal(tmp_path / "missing.dcm"))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.dcm")
        assert "not a regular file" in str(_bounded_refusal(tmp_path / "pipe.dcm"))  # and does not block


@pytest.mark.req("SRS-010", "SRS-077")
@pytest.mark.parametrize("header", [b"MZ\x90\x00\x03\x00\x00\x00", b"\x7fELF\x02\x01\x01\x00"], ids=["PE", "ELF"])
def test_executable_preamble_is_read_but_not_trusted(tmp_path: Path, header: bytes) -> None:
    """CVE-2019-11687: the preamble is not interpreted; writer.py zeroes it on every output (test_seg)."""
    data = bytearray(write(valid_slice(), tmp_path / "ok.dcm").read_bytes())
    data[: len(header)] = header
    (tmp_path / "polyglot.dcm").write_bytes(bytes(data))
    ds = read_dataset(tmp_path / "polyglot.dcm")
    assert ds.Modality == "CT" and ds.preamble[: len(header)] == header


@pytest.mark.req("SRS-010")
def test_unexpected_parser_exceptions_become_read_errors_but_interrupts_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(valid_slice(), tmp_path / "ok.dcm")

    class Strange(Exception):
        pass

    def raise_(exc: BaseException):  # noqa: ANN202
        def fake(*args: object, **kwargs: object) -> None:
            raise exc
        return fake

    for exc, expected in [(RecursionError("deep"), "deep"), (struct.error("unpack"), "unpack"),
                          (Strange("odd"), "unexpected parser failure Strange")]:
        monkeypatch.setattr(reader.pydicom, "dcmread", raise_(exc))
        with pytest.raises(DicomReadError, match=expected):
            read_dataset(path)
    monkeypatch.setattr(reader.pydicom, "dcmread", raise_(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        read_dataset(path)


@pytest.mark.req("SRS-010")
def test_malformed_values_are_refused_at_read_time_not_later(tmp_path: Path) -> None:
    """pydicom converts lazily; read_dataset converts everything once, so no error surfaces later."""
    data = part10(valid_slice())
    position = data.index(b"\x28\x00\x30\x00DS")  # PixelSpacing
    length = struct.unpack_from("<H", data, position + 6)[0]
    value = b"a\\b".ljust(length, b" ")
    (tmp_path / "ds.dcm").write_bytes(data[: position + 8] + value + data[position + 8 + length :])
    try:
        ds = read_dataset(tmp_path / "ds.dcm")
    except DicomReadError as exc:
        assert "\n" not in str(exc)
        return
    with pytest.raises(ContractViolation, match="PixelSpacing"):
        check_header(ds, DEMO_CONTRACT)


# --- collecting the files of an input -------------------------------------------------------


@pytest.mark.req("SRS-010")
def test_collect_input_files_skips_hidden_and_dicomdir_and_refuses_escaping_links(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    write(valid_slice(), folder / "b.dcm")
    write(valid_slice(), folder / "sub" / "a.dcm")
    (folder / ".hidden").write_text("x")
    (folder / ".git" / "x.dcm").write_text("x")
    (folder / "DICOMDIR").write_text("x")
    assert collect_input_files(folder) == sorted([folder / "b.dcm", folder / "sub" / "a.dcm"])
    assert collect_input_files(folder / "b.dcm") == [folder / "b.dcm"]
    with pytest.raises(DicomReadError, match="DICOMDIR"):
        collect_input_files(folder / "DICOMDIR")
    (folder / "inside.dcm").symlink_to(folder / "b.dcm")
    assert folder / "inside.dcm" in collect_input_files(folder)

    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (folder / "link.dcm").symlink_to(outside / "secret.txt")
    with pytest.raises(DicomReadError, match="outside the input folder"):
        collect_input_files(folder)
    (folder / "link.dcm").unlink()
    (folder / "linked_dir").symlink_to(outside)
    with pytest.raises(DicomReadError, match="outside the input folder"):
        collect_input_files(folder)
    (folder / "linked_dir").unlink()

    with pytest.raises(DicomReadError, match="does not exist"):
        collect_input_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomReadError, match="holds no files") as info:
        collect_input_files(tmp_path / "empty")
    assert info.value.hint
    with pytest.raises(ReadLimitExceeded, match="more than 2 files"):
        collect_input_files(folder, ReadLimits(max_files=2))


@pytest.mark.req("SRS-010", "SRS-110")
@pytest.mark.parametrize(("extra", "refused"), [(0, False), (2, True), (64 * 1024 * 1024, True)])
def test_native_pixel_data_longer_than_the_image_is_refused_before_parsing(
        tmp_path: Path, extra: int, refused: bool) -> None:
    """Bytes past Rows x Columns x ... are no image (a bomb, or content no viewer shows); the
    pre-scan refuses them before pydicom copies the value, in both implicit and explicit VR."""
    ds = valid_slice()
    ds.PixelData = ds.PixelData + b"\0" * extra
    path = write(ds, tmp_path / "long.dcm")
    if not refused:  # control: the exact length reads
        assert len(read_dataset(path).PixelData) == len(ds.PixelData)
        return
    tracemalloc.start()
    try:
        with pytest.raises(DicomReadError, match="bytes past the image are not image data"):
            read_dataset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * path.stat().st_size  # read once; no copy of the data set, no parsed value


@pytest.mark.req("SRS-110")
@pytest.mark.parametrize("syntax", ["explicit", "implicit"])
def test_a_multi_valued_string_bomb_is_refused_by_its_value_count(tmp_path: Path, syntax: str) -> None:
    """8 MiB of "0\\0\\..." is within every byte limit but 4 million objects once parsed (1.8 GB
    measured); the pre-scan counts the values. A public DS in implicit VR (4-byte length) and a
    private UC in explicit VR carry it."""
    from pydicom.dataelem import DataElement

    ds = valid_slice()
    values = ["0"] * 2000
    if syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.add(DataElement(0x30060050, "DS", values))  # Contour Data (VM 3-3n) at the top level: 2000 values
    else:
        ds.add(DataElement(0x00110010, "LO", "FUZZ"))
        ds.add(DataElement(0x00111000, "UC", values))
    path = write(ds, tmp_path / "values.dcm")
    assert len(read_dataset(path).get_item(0x30060050 if syntax == "implicit" else 0x00111000).value) == 2000
    small = ReadLimits(max_values=1500)  # the same file over a lower bound: refused, with the hint
    refused = _bounded_refusal(path, ReadLimitExceeded, small)
    assert "more than 1500 values" in str(refused) and "max_values" in (refused.hint or "")
    budget = reader.InputBudget(ReadLimits(max_input_elements=1000))  # values charged per input too (~100 elements)
    with pytest.raises(ReadLimitExceeded, match="data elements and values"):
        read_dataset(path, budget=budget)
