"""`device-ai explain`: PNG and DICOM Secondary Capture per explained slice, labelled as derived
and not for diagnosis, valid per dciodvfy, audited (SRS-031, SRS-033); named by 1-based slice
number like the previews, each slice's position in `explanation.json`, files readable like the
analysis outputs (issue 18)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pydicom
import pytest

from conftest import dciodvfy_errors
from device_ai import cli
from device_ai.audit.log import LOG_NAME, default_folder
from device_ai.audit.store import scan
from device_ai.inference.previews import slice_file_stem
from device_ai.training.ct_series import write_ct_series
from device_ai.training.phantoms import generate_case, split_seeds


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.req("SRS-031", "SRS-033", "SRS-039", "SRS-066")
def test_explain_writes_labelled_valid_secondary_captures(released_package: Path, tmp_path: Path, dciodvfy: str) -> None:
    case = generate_case(split_seeds("test", 1, base_seed=6)[0], n_slices=12)
    write_ct_series(case, tmp_path / "in")
    out = tmp_path / "explained"
    assert cli.main(["explain", str(tmp_path / "in"), "--label", "Lesion", "--out", str(out), "--slices", "2"]) == 0
    report = json.loads((out / "explanation.json").read_text())
    assert report["method"] == "Grad-CAM" and len(report["slices"]) == 2
    assert all(item["twin_ort_mask_agreement"] >= 0.999 for item in report["slices"])
    by_instance = {int(pydicom.dcmread(p).InstanceNumber): p for p in (tmp_path / "in").iterdir()}
    for item in report["slices"]:  # 1-based names, the slice each explains recorded
        stem = slice_file_stem("explain", item["slice_number"])
        assert item["files"] == [f"{stem}.png", f"{stem}.dcm"] and item["slices"] == 12
        source = pydicom.dcmread(by_instance[item["instance_number"]])
        assert pydicom.dcmread(out / f"{stem}.dcm").SourceImageSequence[0].ReferencedSOPInstanceUID == \
            source.SOPInstanceUID
        assert item["z_mm"] == round(float(source.ImagePositionPatient[2]), 3)
    assert not (out / "explain_slice0000.png").exists()
    # owner-only whatever the umask (SRS-217, THR-018; before 6e3bef5 the umask's modes)
    assert {p.name: _mode(p) for p in out.iterdir()} == {p.name: 0o600 for p in out.iterdir()}
    sources = {pydicom.dcmread(p).SOPInstanceUID for p in (tmp_path / "in").iterdir()}
    for dcm in sorted(out.glob("*.dcm")):
        assert dciodvfy_errors(dciodvfy, dcm) == []
        ds = pydicom.dcmread(dcm)
        assert ds.BurnedInAnnotation == "YES"
        assert "NOT FOR DIAGNOSIS" in ds.SeriesDescription and list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID in sources
        assert (out / f"{dcm.stem}.png").is_file()
    entries = [json.loads(r.payload) for r in scan((default_folder() / LOG_NAME).read_bytes()).records]
    assert entries[-1]["event"]["meaning"] == "Explanation Produced"
    assert cli.main(["explain", str(tmp_path / "in"), "--label", "Spleen", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.req("SRS-031", "SRS-033", "SRS-066")
def test_analyze_explain_adds_explanations_to_the_result_without_a_second_inference(
        released_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.inference.engine import LockedEngine

    case = generate_case(split_seeds("test", 1, base_seed=6)[0], n_slices=6)
    write_ct_series(case, tmp_path / "in")
    calls = []
    original_run = LockedEngine.run
    monkeypatch.setattr(LockedEngine, "run", lambda self, image: calls.append(1) or original_run(self, image))
    out = tmp_path / "result"
    assert cli.main(["analyze", str(tmp_path / "in"), "--out", str(out), "--explain", "Organ"]) == 0
    assert len(calls) == 6  # one inference per slice: the explanations reuse the analysis's outputs
    summary = json.loads((out / "summary.json").read_text())
    assert "explanation.json" in summary["outputs"] and summary["outputs"][-1] == "summary.json"
    assert all((out / name).is_file() for name in summary["outputs"])
    assert any(name.startswith("explain_slice") and name.endswith(".dcm") for name in summary["outputs"])
    assert _mode(out) == 0o700  # the folder and every file owner-only (SRS-217, THR-018), whatever the umask
    assert {_mode(out / name) for name in summary["outputs"]} == {0o600}
    # the same slices and the same maps as `device-ai explain`, which runs the engine itself
    alone = tmp_path / "alone"
    assert cli.main(["explain", str(tmp_path / "in"), "--label", "Organ", "--out", str(alone)]) == 0
    assert len(calls) == 12
    report, reference = (json.loads((d / "explanation.json").read_text()) for d in (out, alone))
    assert report["slices"] == reference["slices"] and report["configuration"] == "Grad-CAM, block 3 MLP input (mean-centred)"
    for png in sorted(alone.glob("explain_slice*.png")):
        assert (out / png.name).read_bytes() == png.read_bytes()
