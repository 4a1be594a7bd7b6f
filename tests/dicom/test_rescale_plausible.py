"""A rescale that cannot give CT numbers is refused (independent review of issue 22, item 5;
SRS-011): RescaleSlope 1e-320 (0 once the HU are computed in float32: every pixel the
intercept), 1e38 (the HU overflow float32) and RescaleIntercept 1e30 were analyzed with exit 0.
Now the declared stored range (BitsStored, PixelRepresentation) mapped to HU must be finite,
within contract.PLAUSIBLE_HU and spread over at least contract.MIN_HU_SPAN, else the input is
refused before inference (exit 3, the file and values named, nothing published, the refusal
audited); the rescales CT scanners write still pass (negative controls)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.cli import main
from device_ai.dicom.contract import DEMO_CONTRACT, header_problems
from device_ai.errors import ContractViolation
from tests.dicom.synthetic import ct_slice, part10, phantom_hu, valid_slice

SLICES = 3
SLOPE, INTERCEPT = 0x00281053, 0x00281052


def _rescale_problems(slope: str, intercept: str, bits: int = 16, signed: int = 1) -> list[str]:
    ds = valid_slice()
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, signed
    return [p for p in header_problems(ds, DEMO_CONTRACT) if "Rescale" in p]


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("slope", "intercept", "said"), [
    ("1e-320", "-1024", "less than 1 HU between the lowest and highest value"),  # 0 in float32
    ("1e-5", "-1024", "less than 1 HU between the lowest and highest value"),  # 65,535 values onto 0.66 HU
    ("1e38", "-1024", "to -inf..inf HU; CT numbers lie within -131072..131072 HU"),
    ("1", "1e30", "to 1e+30..1e+30 HU"),
    ("1", "-200000", "to -232768..-167233 HU"),
    ("4", "-1024", "to -132096..130044 HU"),
])
def test_a_rescale_that_cannot_give_ct_numbers_is_refused(slope: str, intercept: str, said: str) -> None:
    problems = _rescale_problems(slope, intercept)
    assert len(problems) == 1 and said in problems[0], problems
    assert "(BitsStored 16, signed)" in problems[0]


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("slope", "intercept", "bits", "signed"), [
    ("1", "-1024", 16, 1), ("0.5", "-1024", 16, 1), ("1", "-1024", 12, 0), ("1", "-1024", 16, 0),
    ("1", "-8192", 16, 0), ("1", "-32768", 16, 0), ("2", "-2048", 16, 1), ("1", "0", 16, 1),
])
def test_negative_control_the_rescales_ct_scanners_write_pass(slope: str, intercept: str, bits: int,
                                                              signed: int) -> None:
    assert _rescale_problems(slope, intercept, bits, signed) == []


def _series(folder: Path, slope: str, intercept: str) -> None:
    """A series with the given RescaleSlope/RescaleIntercept text as stored (also 'nan', which
    pydicom refuses to write) and pixel data stored for them where they are usable."""
    folder.mkdir(parents=True)
    hu = phantom_hu(SLICES, 256)
    try:
        usable = float(slope) != 0 and np.isfinite(float(slope)) and np.isfinite(float(intercept))
    except ValueError:
        usable = False
    for index in range(SLICES):
        ds = ct_slice(index, hu)
        if usable:
            stored = np.clip(np.round((hu[index] - float(intercept)) / float(slope)), -32768, 32767)
            ds.PixelData = stored.astype("<i2").tobytes()
        ds = pydicom.dcmread(io.BytesIO(part10(ds)))
        for tag, text in ((SLOPE, slope), (INTERCEPT, intercept)):
            value = text.encode() + (b" " if len(text) % 2 else b"")
            ds._dict[Tag(tag)] = RawDataElement(Tag(tag), "DS", len(value), value, 0, False, True)
        (folder / f"slice{index:03d}.dcm").write_bytes(part10(ds))


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("slope", "intercept", "said"), [
    ("1e-320", "-1024", "RescaleSlope 9.99989e-321 and RescaleIntercept -1024 map the stored values"),
    ("1e38", "-1024", "RescaleSlope 1e+38 and RescaleIntercept -1024 map the stored values"),
    ("1", "1e30", "RescaleSlope 1 and RescaleIntercept 1e+30 map the stored values"),
    ("1", "nan", "RescaleIntercept is not a finite number (nan)"),
    ("inf", "-1024", "RescaleSlope is not a finite number (inf)"),
])
def test_analyze_refuses_the_series_publishes_nothing_and_audits_the_refusal(
        slope: str, intercept: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _series(tmp_path / "in", slope, intercept)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "in"), "--out", str(out)]) == ContractViolation.exit_code == 3
    err = capsys.readouterr().err
    assert "DAI-210" in err and said in err and "slice000.dcm" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no result, no staging folder
    recorded = entries(None, EntryFilter(event="Analysis Run"))[1]
    assert [(e["outcome"], e["details"].get("error")) for e in recorded] == [(4, "DAI-210")], recorded


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("slope", "intercept"), [("1", "-1024"), ("0.5", "-1024")])
def test_negative_control_analyze_accepts_slope_1_and_0_5(slope: str, intercept: str, tmp_path: Path) -> None:
    _series(tmp_path / "in", slope, intercept)
    assert main(["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert [e["outcome"] for e in entries(None, EntryFilter(event="Analysis Run"))[1]] == [0]
    assert (tmp_path / "out" / "segmentation.dcm").is_file()
