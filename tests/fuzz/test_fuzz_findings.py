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
