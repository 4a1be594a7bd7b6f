"""A checked series keeps headers only and gives its HU slice by slice, from the bytes that
were checked (issue 20 item 2, issue 22 item 3; SRS-170)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from device_ai.dicom import series as series_module
from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.reader import collect_input_files, read_dataset
from device_ai.dicom.series import HUVolume, load_series
from device_ai.errors import DicomReadError
from device_ai.inference import analyze as analyze_module
from device_ai.inference.engine import LockedEngine
from device_ai.model.package import signing
from tests.dicom.synthetic import ct_slice, phantom_hu, write, write_series
from tests.package_factory import make_package


@pytest.fixture(scope="module")
def hu() -> np.ndarray:
    return phantom_hu(slices=4)


def _write(folder: Path, hu: np.ndarray, syntax: str | None = None) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for index in range(hu.shape[0]):
        ds = ct_slice(index, hu)
        if syntax == RLELossless:
            ds.compress(RLELossless)
        elif syntax:
            ds.file_meta.TransferSyntaxUID = syntax
        paths.append(write(ds, folder / f"s{index}.dcm"))
    return paths


def _holds_pixels(ds: pydicom.Dataset) -> bool:
    return "PixelData" in ds or getattr(ds, "buffer", None) is not None or getattr(ds, "_pixel_array", None) is not None


@pytest.mark.req("SRS-170")
@pytest.mark.parametrize("syntax", [None, RLELossless, DeflatedExplicitVRLittleEndian],
                         ids=["explicit", "rle", "deflated"])
def test_a_checked_series_holds_headers_and_decodes_each_slice_on_demand(tmp_path: Path, hu: np.ndarray,
                                                                         syntax: str | None) -> None:
    paths = _write(tmp_path / "series", hu, syntax)
    series = load_series(paths, DEMO_CONTRACT)
    assert not any(_holds_pixels(ds) for ds in series.datasets)
    assert series.datasets[0].PatientName == "PHANTOM^TEST" and series.datasets[0].Rows == 256  # the headers stay
    assert isinstance(series.hu, HUVolume) and series.hu.shape == hu.shape
    for index in range(hu.shape[0]):
        plane = series.hu[index]
        assert plane.dtype == np.float32 and not plane.flags.writeable
        assert np.array_equal(plane, hu[index])
    assert [p.shape for p in series.hu] == [hu.shape[1:]] * hu.shape[0]
    assert np.array_equal(series.hu[-1], hu[-1]) and np.array_equal(series.hu[1:3][0], hu[1])
    # negative control: the reader's data set as read does hold the pixel data and the file's bytes
    assert _holds_pixels(read_dataset(paths[0]))


@pytest.mark.req("SRS-170")
def test_a_file_changed_after_the_check_is_refused_naming_it(tmp_path: Path, hu: np.ndarray) -> None:
    paths = write_series(tmp_path / "series", hu)
    series = load_series(collect_input_files(tmp_path / "series"), DEMO_CONTRACT)
    write(ct_slice(2, hu + 1.0), paths[2])  # same header, other pixels: a valid file, not the one checked
    with pytest.raises(DicomReadError) as info:
        series.hu[2]
    assert info.value.message.startswith("slice002.dcm: the file changed after it was checked")
    assert info.value.exit_code == 3 and info.value.code == "DAI-201" and info.value.hint
    assert np.array_equal(series.hu[1], hu[1])  # the others still read
    paths[1].unlink()
    with pytest.raises(DicomReadError, match=r"^slice001.dcm: cannot read the file"):
        series.hu[1]
    # negative control: the same bytes written again (a new modification time) are the checked ones
    data = paths[3].read_bytes()
    paths[3].unlink()
    paths[3].write_bytes(data)
    assert np.array_equal(series.hu[3], hu[3])


@pytest.mark.req("SRS-170")
def test_nothing_is_decoded_for_an_input_refused_otherwise_and_each_slice_once_when_checked(
        tmp_path: Path, hu: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real = series_module._decode

    def counting(ds: pydicom.Dataset, **options: bool) -> np.ndarray:
        decoded.append(int(ds.InstanceNumber))
        return real(ds, **options)

    monkeypatch.setattr(series_module, "_decode", counting)
    write_series(tmp_path / "good", hu)
    load_series(collect_input_files(tmp_path / "good"), DEMO_CONTRACT)
    assert sorted(decoded) == [1, 2, 3, 4]  # once each, while checking
    decoded.clear()
    write_series(tmp_path / "bad", hu)
    ds = ct_slice(3, hu)
    ds.Modality = "MR"
    write(ds, tmp_path / "bad" / "slice003.dcm")
    with pytest.raises(Exception):
        load_series(collect_input_files(tmp_path / "bad"), DEMO_CONTRACT)
    assert decoded == []


@pytest.mark.req("SRS-170")
def test_value_checks_run_at_load_and_are_not_repeated_on_the_same_bytes(tmp_path: Path, hu: np.ndarray,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored-value and HU checks run when load_series decodes each slice; the analysis's later
    decode of the same bytes (digest compared) skips them, and gives the same values as a checked one."""
    checks: list[bool] = []
    real = series_module._decode

    def recording(ds: pydicom.Dataset, **options: bool) -> np.ndarray:
        checks.append(options.get("value_checks", True))
        return real(ds, **options)

    monkeypatch.setattr(series_module, "_decode", recording)
    write_series(tmp_path / "good", hu)
    series = load_series(collect_input_files(tmp_path / "good"), DEMO_CONTRACT)
    assert checks == [True] * 4
    checks.clear()
    planes = [series.hu[index] for index in range(4)]
    assert checks == [False] * 4
    assert all(np.array_equal(plane, series.hu.decoded(index)) for index, plane in enumerate(planes))
    # control: a file changed after the check is refused before any decode, checks or not
    changed = sorted((tmp_path / "good").iterdir())[1]
    changed.write_bytes(changed.read_bytes()[:-2] + b"\x00\x01")
    checks.clear()
    with pytest.raises(DicomReadError, match="changed after it was checked"):
        series.hu[1]
    assert checks == []


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> LockedEngine:
    key = Ed25519PrivateKey.generate()
    path = make_package(tmp_path_factory.mktemp("pkg") / "tiny", key)
    return LockedEngine.load(path, trusted_keys={signing.key_id(key.public_key()): key.public_key()})


@pytest.mark.req("SRS-170")
def test_the_analysis_never_holds_the_whole_hu_volume(engine: LockedEngine, tmp_path: Path, hu: np.ndarray,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_series(tmp_path / "series", hu)
    reads: dict[str, int] = {}
    real_read = series_module.read_file_bytes

    def counting(path: Path, *args, **kwargs) -> bytes:  # noqa: ANN002, ANN003
        reads[Path(path).name] = reads.get(Path(path).name, 0) + 1
        return real_read(path, *args, **kwargs)

    def whole(self, dtype=None, copy=None) -> np.ndarray:  # noqa: ANN001
        raise AssertionError("the whole HU volume was materialised")

    monkeypatch.setattr(series_module, "read_file_bytes", counting)
    monkeypatch.setattr(HUVolume, "__array__", whole)
    result = analyze_module.analyze(tmp_path / "series", tmp_path / "out", engine)
    assert (tmp_path / "out" / "summary.json").exists() and result.labels.shape == hu.shape
    # each file: read and checked, decoded to check it, decoded for inference, plus the previews' slices
    assert sorted(reads) == [f"slice{i:03d}.dcm" for i in range(4)]
    assert sum(reads.values()) == 3 * 4 + len(result.summary["previews"]["files"])
    with pytest.raises(AssertionError, match="materialised"):  # negative control: the guard trips on whole-volume use
        np.asarray(result.series.hu)


@pytest.mark.req("SRS-170")
def test_analysis_of_a_file_changed_during_the_analysis_is_refused_and_publishes_nothing(
        engine: LockedEngine, tmp_path: Path, hu: np.ndarray) -> None:
    paths = write_series(tmp_path / "series", hu)

    def change_one(series) -> None:  # noqa: ANN001 - runs once the series passed the checks
        write(ct_slice(1, hu - 5.0), paths[1])

    with pytest.raises(DicomReadError, match="slice001.dcm: the file changed after it was checked"):
        analyze_module.analyze(tmp_path / "series", tmp_path / "out", engine, loaded=change_one)
    assert not (tmp_path / "out").exists()
    # negative control: the same analysis of an unchanged series publishes its result
    write(ct_slice(1, hu), paths[1])
    analyze_module.analyze(tmp_path / "series", tmp_path / "out", engine, loaded=lambda series: None)
    assert (tmp_path / "out" / "summary.json").exists()
