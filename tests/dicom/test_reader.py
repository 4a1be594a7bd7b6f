"""Reading with limits: every malformed or hostile file is refused with a typed, one-line
error, within bounded memory and time (SRS-010)."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from device_ai.dicom.contract import DEMO_CONTRACT, check_header
from device_ai.dicom.reader import ReadLimits, collect_input_files, read_dataset
from device_ai.errors import ContractViolation, DicomReadError, ReadLimitExceeded
from tests.dicom.synthetic import valid_slice, write

PYDICOM_FILES = sorted(pydicom.data.get_testdata_files())
MEMORY_BOUND = 64 * 1024 * 1024
TIME_BOUND_S = 5.0


def _bounded_refusal(path: Path, error: type[Exception] = DicomReadError, limits: ReadLimits = ReadLimits()) -> Exception:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(error) as info:
            read_dataset(path, limits)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak memory {peak} bytes"
    assert time.perf_counter() - started < TIME_BOUND_S
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return info.value


def _meta_prefix(syntax: str) -> bytes:
    """Preamble, DICM and a minimal explicit-VR LE file meta group naming ``syntax``."""
    uid = syntax.encode() + (b"\0" if len(syntax) % 2 else b"")
    element = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(uid)) + uid
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(element))
    return b"\0" * 128 + b"DICM" + group_length + element


@pytest.mark.req("SRS-010")
@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: Path(p).name)
def test_pydicom_test_files_are_read_or_refused_with_typed_errors(path: str) -> None:
    try:
        ds = read_dataset(Path(path))
    except DicomReadError as exc:
        assert "\n" not in str(exc)
        return
    try:
        check_header(ds, DEMO_CONTRACT)
    except (ContractViolation, DicomReadError) as exc:
        assert "\n" not in str(exc)
        return
    pytest.fail(f"{Path(path).name} passed the demo contract; none of pydicom's files is a 256-512 px CT")


@pytest.mark.req("SRS-010")
def test_valid_file_reads(tmp_path: Path) -> None:
    ds = read_dataset(write(valid_slice(), tmp_path / "ok.dcm"))
    assert ds.Modality == "CT" and ds.PatientID.startswith("PHANTOM")


@pytest.mark.req("SRS-010")
def test_truncated_files_are_refused_at_every_cut(tmp_path: Path) -> None:
    data = write(valid_slice(), tmp_path / "ok.dcm").read_bytes()
    read_refusals = 0
    for cut in list(range(0, 1200, 7)) + [len(data) // 2, len(data) - 1]:
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
    assert read_refusals > 100
    _bounded_refusal(tmp_path / f"cut{len(data) // 2}.dcm")


@pytest.mark.req("SRS-010")
def test_file_without_meta_is_refused(tmp_path: Path) -> None:
    data = write(valid_slice(), tmp_path / "ok.dcm").read_bytes()
    (tmp_path / "raw.dcm").write_bytes(data[132:])
    error = _bounded_refusal(tmp_path / "raw.dcm")
    assert "no DICOM file header" in str(error)
    _bounded_refusal(Path(pydicom.data.get_testdata_file("no_meta.dcm")))


@pytest.mark.req("SRS-010")
def test_invalid_vr_bytes_are_refused(tmp_path: Path) -> None:
    data = bytearray(write(valid_slice(), tmp_path / "ok.dcm").read_bytes())
    position = data.index(b"CS", 200)  # first explicit VR of the dataset after the meta group
    data[position : position + 2] = b"\x01\x02"
    (tmp_path / "vr.dcm").write_bytes(bytes(data))
    assert "value representation" in str(_bounded_refusal(tmp_path / "vr.dcm"))


@pytest.mark.req("SRS-010")
def test_huge_declared_length_is_refused_without_allocating(tmp_path: Path) -> None:
    body = struct.pack("<HH2sHI", 0x0010, 0x4000, b"UT", 0, 0xFFFFFFF0) + b"abc"
    path = tmp_path / "huge.dcm"
    path.write_bytes(_meta_prefix("1.2.840.10008.1.2.1") + body)
    assert "declares 4294967280 bytes" in str(_bounded_refusal(path, ReadLimitExceeded))


@pytest.mark.req("SRS-010")
def test_deep_sequence_nesting_is_refused(tmp_path: Path) -> None:
    depth = 500
    open_seq = struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close_seq = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    path = tmp_path / "deep.dcm"
    path.write_bytes(_meta_prefix("1.2.840.10008.1.2.1") + open_seq * depth + close_seq * depth)
    assert "nested deeper" in str(_bounded_refusal(path, ReadLimitExceeded))


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
    assert len(payload) < 200_000  # a real bomb: > 300x amplification
    path = tmp_path / "bomb.dcm"
    path.write_bytes(_meta_prefix("1.2.840.10008.1.2.1.99") + payload)
    assert "inflates beyond" in str(_bounded_refusal(path, ReadLimitExceeded, limits))


@pytest.mark.req("SRS-010")
def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(valid_slice(), tmp_path / "ok.dcm")
    limits = ReadLimits(max_file_bytes=1024)
    assert "above the limit" in str(_bounded_refusal(path, ReadLimitExceeded, limits))


@pytest.mark.req("SRS-010")
def test_executable_preamble_is_read_but_never_written_back(tmp_path: Path) -> None:
    data = bytearray(write(valid_slice(), tmp_path / "ok.dcm").read_bytes())
    data[:4] = b"MZ\x90\x00"
    (tmp_path / "mz.dcm").write_bytes(bytes(data))
    assert read_dataset(tmp_path / "mz.dcm").Modality == "CT"


@pytest.mark.req("SRS-010")
def test_collect_input_files_skips_hidden_and_dicomdir_and_refuses_escaping_links(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    write(valid_slice(), folder / "a.dcm")
    (folder / ".hidden").write_text("x")
    (folder / "DICOMDIR").write_text("x")
    assert [p.name for p in collect_input_files(folder)] == ["a.dcm"]
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (folder / "link.dcm").symlink_to(outside)
    with pytest.raises(DicomReadError, match="outside the input folder"):
        collect_input_files(folder)
    with pytest.raises(DicomReadError, match="does not exist"):
        collect_input_files(tmp_path / "missing")
    with pytest.raises(ReadLimitExceeded):
        collect_input_files(tmp_path, ReadLimits(max_files=1))
