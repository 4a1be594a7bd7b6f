"""Defects the fuzz harness found, each fixed where it happened (issue 22 item 5; SRS-111)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_ai.dicom.contract import DEMO_CONTRACT, check_header
from device_ai.dicom.series import load_series
from device_ai.errors import ContractViolation, InputRefused
from fuzz.dicom_bytes import PIXEL_DATA, element, set_element, split_part10
from tests.dicom.synthetic import part10, valid_slice, write


@pytest.mark.req("SRS-111")
def test_zero_length_pixel_data_is_refused_not_an_internal_error(tmp_path: Path) -> None:
    """Fuzz mutant 14 of seed 0 (pixel_length, 'empty'): PixelData present with length 0 reads as
    None, and the pixel length check raised TypeError (exit 70) instead of refusing."""
    part = split_part10(part10(valid_slice(0)))
    empty = part.join(set_element(part, PIXEL_DATA, element(PIXEL_DATA, b"OW", b"")))
    paths = [tmp_path / "s0.dcm", write(valid_slice(1), tmp_path / "s1.dcm")]
    paths[0].write_bytes(empty)
    with pytest.raises(InputRefused, match="PixelData is empty"):
        load_series(paths, DEMO_CONTRACT)
    ds = valid_slice(0)
    ds.PixelData = b""
    with pytest.raises(ContractViolation, match="PixelData is empty"):
        check_header(ds, DEMO_CONTRACT)
    check_header(valid_slice(0), DEMO_CONTRACT)  # negative control: a slice with pixels passes


@pytest.mark.req("SRS-111")
def test_a_symbolic_link_loop_in_the_input_is_refused_not_an_internal_error(tmp_path: Path) -> None:
    """Fuzz mutant 327 of seed 0 (special_files, symlink-loop): Path.resolve raised RuntimeError
    ('Symlink loop') from collect_input_files, exit 70 for analyze."""
    from device_ai.dicom.reader import collect_input_files
    from device_ai.errors import DicomReadError

    folder = tmp_path / "in"
    folder.mkdir()
    write(valid_slice(0), folder / "s0.dcm")
    (folder / "loop1.dcm").symlink_to("loop2.dcm")
    (folder / "loop2.dcm").symlink_to("loop1.dcm")
    with pytest.raises(DicomReadError, match="symbolic link loop") as info:
        collect_input_files(folder)
    assert len(info.value.problems) == 2
    (folder / "loop1.dcm").unlink()
    (folder / "loop2.dcm").unlink()
    (folder / "again.dcm").symlink_to("s0.dcm")  # negative control: a link inside the folder is read
    assert [p.name for p in collect_input_files(folder)] == ["again.dcm", "s0.dcm"]


@pytest.mark.req("SRS-111")
def test_an_unknown_transfer_syntax_uid_is_refused_not_an_internal_error(tmp_path: Path) -> None:
    """Fuzz mutant 579 of seed 0 (transfer_syntax_lie, '1.2.3.4.5.6'): the reader parses the data set
    as explicit VR little endian, then the pixel length check's ``is_encapsulated`` raised
    ValueError ('UID is not a transfer syntax'), exit 70."""
    from fuzz.dicom_bytes import file_meta

    ds = valid_slice(0)
    part = split_part10(part10(ds))
    paths = [tmp_path / "s0.dcm", write(valid_slice(1), tmp_path / "s1.dcm")]
    paths[0].write_bytes(file_meta("1.2.3.4.5.6", str(ds.SOPClassUID), str(ds.SOPInstanceUID)) + part.body)
    with pytest.raises(InputRefused, match="TransferSyntaxUID 1.2.3.4.5.6 is not a transfer syntax"):
        load_series(paths, DEMO_CONTRACT)
    load_series([paths[1]], DEMO_CONTRACT)  # negative control: the known syntax passes


@pytest.mark.req("SRS-111", "SRS-172")
def test_a_refused_files_bytes_are_released_before_the_next_file_is_read(tmp_path: Path) -> None:
    """Campaign e91fb5d, analyze mutants 116/1550/3026/4573 (pixel_bomb: 2 sparse files of 500 MiB
    pixel data): each file is refused before parsing (pixel data longer than its image), but the
    loader kept the refused file's bytes bound until the next file's bytes were read, so two
    files' bytes were held at once (1.2 GiB peak; 0.7 GiB before streaming analysis, 18fdee5).
    Scaled down: 2 files of 24 MiB; traced allocations must stay under 1.5 files' bytes."""
    import tracemalloc

    part = split_part10(part10(valid_slice(0)))
    excess = 24 * 1024 * 1024
    bomb = part.join(set_element(part, PIXEL_DATA, element(PIXEL_DATA, b"OW", bytes(excess))))
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"s{i}.dcm")
        paths[-1].write_bytes(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(InputRefused, match="2 of 2 files are not readable"):
            load_series(paths, DEMO_CONTRACT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert excess < peak < 1.5 * excess  # one file's bytes at a time (the first bound: the file was read)


@pytest.mark.req("SRS-111")
def test_a_multi_valued_transfer_syntax_uid_is_refused_not_an_internal_error(tmp_path: Path) -> None:
    """Independent set of helper-79, mutants 265/487 (bad_ts, multi-valued): (0002,0010) holding
    two UIDs read as a MultiValue, and the file meta check's ``is_transfer_syntax`` raised
    AttributeError, exit 70 for analyze (anonymize quarantined the file)."""
    from fuzz.dicom_bytes import file_meta

    ds = valid_slice(0)
    part = split_part10(part10(ds))
    paths = [tmp_path / "s0.dcm", write(valid_slice(1), tmp_path / "s1.dcm")]
    two = "1.2.840.10008.1.2.1\\1.2.840.10008.1.2"
    paths[0].write_bytes(file_meta(two, str(ds.SOPClassUID), str(ds.SOPInstanceUID)) + part.body)
    with pytest.raises(InputRefused, match=r"s0\.dcm: TransferSyntaxUID holds 2 values "
                       r"\(1\.2\.840\.10008\.1\.2\.1\\1\.2\.840\.10008\.1\.2\); a file has exactly one"):
        load_series(paths, DEMO_CONTRACT)
    one = tmp_path / "one.dcm"  # negative control: the first of the two values alone passes
    one.write_bytes(file_meta("1.2.840.10008.1.2.1", str(ds.SOPClassUID), str(ds.SOPInstanceUID)) + part.body)
    load_series([one, paths[1]], DEMO_CONTRACT)
