"""The analyze path through the CLI with a tiny signed package: refusals write nothing,
every expected error is one line with a code and a non-zero exit, outputs appear whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.inference import analyze as analyze_module
from device_ai.model.package import signing
from tests.package_factory import make_package

# Everything pydicom ships, listed from its folder: get_testdata_files() also asks github.com
# for the list of downloadable files, a network call a test must not make.
PYDICOM_FILES = sorted(str(p) for p in (Path(pydicom.data.__file__).parent / "test_files").rglob("*"))


@pytest.fixture(scope="module")
def signed_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    path = make_package(tmp_path_factory.mktemp("pkg") / "tiny", key)
    return path, signing.public_key_to_b64(key.public_key())


@pytest.fixture
def env(signed_package: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", signed_package[1])
    monkeypatch.delenv("DEVICE_AI_CONFIG", raising=False)
    return signed_package[0]


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=3)
    folder = tmp_path_factory.mktemp("series") / "PHANTOM"
    write_ct_series(case, folder)
    return folder


@pytest.mark.req("SRS-010", "SRS-011", "SRS-016", "SRS-017")
@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: Path(p).name)
def test_every_pydicom_test_file_is_refused_with_one_error_line_and_nothing_written(
    path: str, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = cli.main(["analyze", path, "--out", str(out), "--model", str(env)])
    captured = capsys.readouterr()
    # None of pydicom's files is a 256-512 px axial CT series with the demo contract.
    assert code == 3, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines[0].startswith("error DAI-2"), captured.err
    assert "Traceback" not in captured.err
    # one error line; then every problem found, indented, each naming the file; then the hint
    assert lines[-1].startswith("  what to do: "), captured.err
    for line in lines[1:-1]:
        assert line.startswith("  "), captured.err
        if Path(path).is_file():
            assert Path(path).name in line, captured.err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.req("SRS-017")
def test_cli_process_refusal_has_no_traceback(env: Path, tmp_path: Path) -> None:
    mr = pydicom.data.get_testdata_file("MR_small.dcm")
    result = subprocess.run(
        [sys.executable, "-m", "device_ai.cli", "analyze", mr, "--out", str(tmp_path / "o"), "--model", str(env)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error DAI-2")
    assert "Modality" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.req("SRS-014", "SRS-015", "SRS-016")
def test_valid_series_gives_seg_summary_and_previews(env: Path, phantom_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "result"
    assert cli.main(["analyze", str(phantom_series), "--out", str(out), "--model", str(env)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "segmentation.dcm" in names and "summary.json" in names
    assert any(name.startswith("preview_slice") and name.endswith(".png") for name in names)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["name"] == "test-tiny"
    assert len(summary["model"]["manifest_sha256"]) == 64
    assert set(summary["volumes_ml"]) == {"Organ", "Lesion"}
    assert summary["lesion_count"] == len(summary["lesions"])
    assert summary["input"]["slices"] == 3
    seg = pydicom.dcmread(out / "segmentation.dcm")
    assert seg.Modality == "SEG"
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Organ", "Lesion"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging folder left behind"


@pytest.mark.req("SRS-016")
def test_failure_while_writing_leaves_nothing(env: Path, phantom_series: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(analyze_module, "render_preview", broken)
    out = tmp_path / "result"
    code = cli.main(["analyze", str(phantom_series), "--out", str(out), "--model", str(env)])
    assert code != 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.req("SRS-016")
def test_existing_non_empty_output_is_not_overwritten(env: Path, phantom_series: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result"
    out.mkdir()
    (out / "keep.txt").write_text("previous result")
    assert cli.main(["analyze", str(phantom_series), "--out", str(out), "--model", str(env)]) == 6
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.req("SRS-017")
@pytest.mark.parametrize("command", [[], ["analyze"], ["model"], ["model", "verify"], ["demo"], ["train"],
                                     ["validate"], ["phantom"], ["config", "show"]])
def test_every_sub_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: device-ai" in capsys.readouterr().out
