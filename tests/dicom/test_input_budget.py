"""What one input may cost (issue 22 item 3; SRS-110): a large value besides the pixel data, a
deflate bomb and many files that add up are refused, per file and per input, at a bounded cost."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.reader import MIB, ReadLimits, read_dataset
from device_ai.dicom.series import load_series
from device_ai.errors import ReadLimitExceeded
from tests.dicom.synthetic import part10, valid_slice

EXPLICIT, DEFLATED = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"


def _meta(syntax: str) -> bytes:
    meta = valid_slice().file_meta
    meta.TransferSyntaxUID = syntax
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buffer.getvalue()


def _body(index: int) -> bytes:
    """The data set of a valid explicit VR little endian slice (its file meta removed)."""
    data = part10(valid_slice(index))
    group_length = struct.unpack_from("<I", data, 132 + 8)[0]
    return data[132 + 12 + group_length :]


def _private_block(size: int) -> bytes:
    creator = b"FAKE VENDOR "
    return (struct.pack("<HH", 0x0009, 0x0010) + b"LO" + struct.pack("<H", len(creator)) + creator
            + struct.pack("<HH", 0x0009, 0x1010) + b"OB\0\0" + struct.pack("<I", size))


def write_slice(path: Path, private_bytes: int = 0, *, deflate: bool = False, index: int = 0) -> Path:
    """A valid slice, optionally with a private OB of zero bytes, streamed to disk (the value is
    never held in memory here) and optionally deflated (PS3.5 A.5)."""
    body = _body(index)
    at = body.index(struct.pack("<HH", 0x0010, 0x0010))
    head, tail = body[:at] + (_private_block(private_bytes) if private_bytes else b""), body[at:]
    zeros = bytes(MIB)
    with open(path, "wb") as out:
        out.write(_meta(DEFLATED if deflate else EXPLICIT))
        writer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS) if deflate else None

        def emit(data: bytes) -> None:
            out.write(writer.compress(data) if writer else data)

        emit(head)
        for start in range(0, private_bytes, MIB):
            emit(zeros[: min(MIB, private_bytes - start)])
        emit(tail)
        if writer:
            out.write(writer.flush())
    return path


@pytest.mark.req("SRS-110")
def test_negative_control_the_helper_writes_readable_slices(tmp_path: Path) -> None:
    for deflate in (False, True):
        ds = read_dataset(write_slice(tmp_path / f"{deflate}.dcm", 1024, deflate=deflate))
        assert ds.Modality == "CT" and len(ds[0x0009, 0x1010].value) == 1024


@pytest.mark.req("SRS-110")
def test_one_value_above_the_value_limit_is_refused_by_the_prescan(tmp_path: Path) -> None:
    path = write_slice(tmp_path / "big.dcm", 3 * MIB)
    with pytest.raises(ReadLimitExceeded, match=r"\(0009,1010\) holds 3 MiB"):
        read_dataset(path, ReadLimits(max_value_bytes=2 * MIB))
    assert read_dataset(path, ReadLimits(max_value_bytes=4 * MIB))  # within a larger limit: read


@pytest.mark.req("SRS-110")
def test_files_each_within_bounds_that_add_up_are_refused_for_the_input(tmp_path: Path) -> None:
    limits = ReadLimits(max_value_bytes=2 * MIB, max_input_value_bytes=5 * MIB)
    paths = [write_slice(tmp_path / f"s{i}.dcm", int(1.5 * MIB), index=i) for i in range(4)]
    with pytest.raises(ReadLimitExceeded, match="above the limit of 5 MiB for one input"):
        load_series(paths, DEMO_CONTRACT, limits)
    assert load_series(paths[:3], DEMO_CONTRACT, limits).hu.shape[0] == 3  # 4.5 MiB: within


@pytest.mark.req("SRS-110")
def test_many_elements_over_the_input_are_refused(tmp_path: Path) -> None:
    paths = [write_slice(tmp_path / f"s{i}.dcm", index=i) for i in range(3)]
    per_file = 0
    from device_ai.dicom.reader import InputBudget

    budget = InputBudget(ReadLimits())
    read_dataset(paths[0], budget=budget)
    per_file = budget.elements
    limits = ReadLimits(max_input_elements=per_file * 2 + 1)
    with pytest.raises(ReadLimitExceeded, match="data elements and values in all"):
        load_series(paths, DEMO_CONTRACT, limits)
    assert load_series(paths[:2], DEMO_CONTRACT, limits)


PEAK_RSS = """
import resource, sys
from pathlib import Path
from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.series import load_series
from device_ai.errors import InputRefused
try:
    load_series(sorted(Path(sys.argv[1]).iterdir()), DEMO_CONTRACT)
    print("ACCEPTED")
except InputRefused as exc:
    print("REFUSED", exc.message)
print("PEAK_MIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
@pytest.mark.req("SRS-110")
def test_the_probe_inputs_are_refused_under_1_gib_with_the_default_limits(tmp_path: Path) -> None:
    """The probe's inputs: four deflated slices of 600 MiB private OB each, and a 1,000 MiB bomb."""
    cases = {"four-600-mib-private": [600] * 4, "one-1000-mib-bomb": [1000]}
    for name, sizes in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        for i, size in enumerate(sizes):
            write_slice(folder / f"s{i}.dcm", size * MIB, deflate=True, index=i)
        result = subprocess.run([sys.executable, "-c", PEAK_RSS, str(folder)], capture_output=True, text=True,
                                timeout=600)
        lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
        assert "REFUSED" in lines, (name, result.stdout, result.stderr[-500:])
        assert int(lines["PEAK_MIB"]) < 1024, (name, lines)
