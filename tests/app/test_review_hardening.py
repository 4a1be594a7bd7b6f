"""Independent review (helper-40) of issue 22 hardening items 3-5 (4302baa, 879c6ba, f48343b,
9486fda, f0821b7): defects found with inputs that are not in the reviewed tests, each kept as a
strict xfail (it fails today; it passes, and must then be turned into an ordinary test, once fixed)
beside a control that passes and shows the assertion can hold.

Found:
- a rescale check made on the declared stored range, not on the image: RescaleSlope 2e-5 gives an
  image of -0.66..0.66 HU (no contrast, what MIN_HU_SPAN was to refuse) and RescaleIntercept 100000
  one of 100,024..101,174 HU (no CT number at all); both are analyzed (exit 0) with lesions of
  102.6 and 275.4 mL published;
- stored values beyond BitsStored are masked by pydicom without a word (BitsStored 12, signed: a
  stored 2524 becomes -1572, so 1500 HU bone becomes -2596 HU) and the result changes;
- non-ASCII bytes with no Specific Character Set (the default repertoire is ASCII) are accepted;
- a series whose slices carry different Patient IDs is analyzed, the results naming the first;
- user paths with a name over NAME_MAX outside the reviewed places exit 70 (DAI-999);
- validate --out that is a symbolic link is not refused (SRS-109 says every --out);
- a refused hot-folder file whose place in the rejected folder would pass PATH_MAX: a logged
  traceback and a retry every 30 s, the file never moved aside (SRS-139);
- audit verify --dir of a folder that does not exist says OK (exit 0).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from device_ai.cli import main
from tests.dicom.synthetic import ct_slice, part10, phantom_hu

SLICES = 3
SLOPE, INTERCEPT = 0x00281053, 0x00281052
LONG_NAME = "x" * 300  # over NAME_MAX (255)


def _rescaled_series(folder: Path, slope: str, intercept: str, stored, *, bits: int = 16, signed: int = 1,
                     bone: bool = False) -> None:
    """3 phantom slices with BitsStored ``bits``, PixelRepresentation ``signed``, the rescale text as
    given and the stored values ``stored(hu)``; ``bone``: a ring of 1500 HU around the body."""
    folder.mkdir(parents=True)
    hu = phantom_hu(SLICES, 256)
    if bone:
        r, c = np.mgrid[0:256, 0:256]
        hu[:, np.abs(((r - 128) / (0.42 * 256)) ** 2 + ((c - 128) / (0.47 * 256)) ** 2 - 1) < 0.04] = 1500.0
    for index in range(SLICES):
        ds = ct_slice(index, hu)
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, signed
        ds.PixelData = np.asarray(stored(hu[index])).astype("<i2" if signed else "<u2").tobytes()
        ds = pydicom.dcmread(io.BytesIO(part10(ds)))
        for tag, text in ((SLOPE, slope), (INTERCEPT, intercept)):
            value = text.encode() + (b" " if len(text) % 2 else b"")
            ds._dict[Tag(tag)] = RawDataElement(Tag(tag), "DS", len(value), value, 0, False, True)
        (folder / f"slice{index:03d}.dcm").write_bytes(part10(ds))


def _analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["analyze", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- rescale (f48343b, SRS-011) ------------------------------------------------------------------

RESCALE_DEFECTS = [
    pytest.param("2e-5", "0", lambda hu: np.clip(np.round(hu / 2e-5), -32768, 32767), 16, 1,
                 id="slope 2e-5: -0.66..0.66 HU, no contrast"),
    pytest.param("1", "100000", lambda hu: np.clip(hu + 1024, 0, 4095), 12, 0,
                 id="intercept 100000: 100024..101174 HU, no CT number"),
    pytest.param("1", "-131072", lambda hu: (hu > -500).astype(int), 1, 0,
                 id="BitsStored 1, intercept -131072: no CT number"),
    pytest.param("-1", "-1024", lambda hu: np.round(hu + 1024), 12, 0, id="slope -1: tissue at -2088 HU"),
    pytest.param("0.001", "-1024", lambda hu: np.round(hu + 1024), 12, 0, id="slope 0.001: -1024..-1023 HU"),
    pytest.param("3", "-1024", lambda hu: np.round(hu + 1024), 12, 0, id="slope 3: muscle at 2168 HU"),
]


# Fixed (helper-44): the decoded HU of each slice are checked (contract.decoded_hu_problem) as the
# slice is decoded, at load and again during inference; refused DAI-210 (exit 3), audited, nothing published.
@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("slope", "intercept", "stored", "bits", "signed"), RESCALE_DEFECTS)
def test_a_rescale_giving_an_image_without_ct_content_is_refused(slope: str, intercept: str, stored, bits: int,
                                                                  signed: int, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _rescaled_series(tmp_path / "in", slope, intercept, stored, bits=bits, signed=signed)
    code, _, err = _analyze(tmp_path, capsys)
    assert code == 3 and "DAI-210" in err and not (tmp_path / "out").exists(), err
    assert "slice000.dcm" in err and "after RescaleSlope and RescaleIntercept" in err and "Traceback" not in err, err
    assert [(e["outcome"] != 0, e["details"].get("error")) for e in _recorded("Analysis Run")] == [(True, "DAI-210")]


def _recorded(event: str) -> list[dict]:
    from device_ai.app.audit_trail import EntryFilter, entries

    return entries(None, EntryFilter(event=event))[1]


@pytest.mark.req("SRS-011")
def test_an_implausible_slice_found_during_inference_is_refused_and_audited(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal when inference decodes a slice again (here the first slice decoded after load_series
    decoded and checked all three) is DAI-210, audited, nothing published. Since the analysis no
    longer repeats the value checks on bytes whose digest passed them (the same bytes give the same
    values), the refusal is planted in the decoder itself."""
    from device_ai.dicom import series as series_module
    from device_ai.errors import ContractViolation

    calls = []
    decode = series_module._decode

    def late(ds, **options):  # noqa: ANN001, ANN003, ANN202
        calls.append(options)
        if len(calls) > SLICES:
            raise ContractViolation("implausible during inference")
        return decode(ds, **options)

    monkeypatch.setattr(series_module, "_decode", late)
    _rescaled_series(tmp_path / "in", "1", "-1024", lambda hu: np.round(hu + 1024), bits=12, signed=0)
    code, _, err = _analyze(tmp_path, capsys)
    assert len(calls) > SLICES and code == 3 and "DAI-210" in err and "implausible during inference" in err, err
    assert "slice000.dcm" in err and not (tmp_path / "out").exists(), err
    assert [(e["outcome"] != 0, e["details"].get("error")) for e in _recorded("Analysis Run")] == [(True, "DAI-210")]


@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("what", "hu"), [
    ("a uniform image (no contrast)", np.full((256, 256), 40.0, np.float32)),
    ("no CT number (all 5000 HU)", np.full((256, 256), 5000.0, np.float32)),
    ("air and bone only, no soft tissue", np.where(np.arange(256 * 256).reshape(256, 256) % 2, -1000.0, 2000.0)),
    ("not finite", np.full((256, 256), np.inf, np.float32)),
])
def test_decoded_hu_check_refuses_images_without_body_ct_content(what: str, hu: np.ndarray) -> None:
    from device_ai.dicom.contract import decoded_hu_problem

    assert decoded_hu_problem(hu) is not None, what


@pytest.mark.req("SRS-011")
def test_control_decoded_hu_check_passes_body_slices() -> None:
    """Controls: the phantom, with noise (sigma 20 HU), with 21.5 % padding at -3024 HU outside the
    reconstruction circle, a small field of view inside the body (fat and muscle), with bone."""
    from device_ai.dicom.contract import decoded_hu_problem

    rng = np.random.default_rng(7)
    body = phantom_hu(1, 256)[0]
    r, c = np.mgrid[0:256, 0:256]
    padded = np.where((r - 127.5) ** 2 + (c - 127.5) ** 2 > 128 ** 2, -3024.0, body)
    inside = np.where(c < 100, -100.0, 40.0) + rng.normal(0, 20, (256, 256))
    for hu in (body, body + rng.normal(0, 20, body.shape), padded, inside, np.where(r < 20, 1800.0, body)):
        assert decoded_hu_problem(hu.astype(np.float32)) is None


@pytest.mark.req("SRS-011")
def test_control_a_usual_12_bit_rescale_is_analyzed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rescaled_series(tmp_path / "in", "1", "-1024", lambda hu: np.round(hu + 1024), bits=12, signed=0)
    code, out, err = _analyze(tmp_path, capsys)
    assert code == 0 and "Organ 18.3 mL, Lesion 1.1 mL" in out, err


# Fixed (helper-44): the pixels are decoded without pydicom's masking of the bits above BitsStored
# and refused (DAI-210) when a stored value does not fit BitsStored / PixelRepresentation.
@pytest.mark.req("SRS-011")
@pytest.mark.parametrize(("bits", "signed", "bone"), [(12, 1, True), (12, 0, True), (10, 0, False)])
def test_stored_values_beyond_bits_stored_are_refused(bits: int, signed: int, bone: bool, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Signed 12 bits: bone stored 2524 (> 2047); unsigned 12 bits: stored -1 in the body would be
    65535; unsigned 10 bits: the body stored 1064 (> 1023)."""
    stored = (lambda hu: np.round(hu + 1024)) if signed or bits == 10 else (lambda hu: np.where(hu > 0, -1, 24))
    _rescaled_series(tmp_path / "in", "1", "-1024", stored, bits=bits, signed=signed, bone=bone)
    code, out, err = _analyze(tmp_path, capsys)
    assert code == 3 and "DAI-210" in err and f"do not fit BitsStored {bits}" in err, out + err
    assert "slice000.dcm" in err and not (tmp_path / "out").exists(), err


@pytest.mark.req("SRS-011")
def test_control_the_same_image_is_read_as_stored_in_16_bits_and_within_12(tmp_path: Path) -> None:
    """The 16-bit image keeps its 1500 HU bone; 12-bit values within the range (signed, negative
    values sign-extended as written) are read unchanged; the 12-bit image with bone is refused
    (pydicom alone would have read the bone as -2596 HU)."""
    from device_ai.dicom.contract import DEMO_CONTRACT
    from device_ai.dicom.series import load_series
    from device_ai.errors import ContractViolation

    _rescaled_series(tmp_path / "s16", "1", "-1024", lambda hu: np.round(hu + 1024), bone=True)
    _rescaled_series(tmp_path / "s12", "1", "-1024", lambda hu: np.round(hu + 1024), bits=12, signed=1, bone=True)
    _rescaled_series(tmp_path / "ok12", "1", "-1024", lambda hu: np.round(hu + 1024), bits=12, signed=1)
    _rescaled_series(tmp_path / "neg12", "1", "0", lambda hu: np.round(hu), bits=12, signed=1)
    hu16 = next(iter(load_series(sorted((tmp_path / "s16").iterdir()), DEMO_CONTRACT).hu))
    ok12 = next(iter(load_series(sorted((tmp_path / "ok12").iterdir()), DEMO_CONTRACT).hu))
    neg12 = next(iter(load_series(sorted((tmp_path / "neg12").iterdir()), DEMO_CONTRACT).hu))
    assert float(hu16.max()) == 1500.0
    assert (float(ok12.min()), float(ok12.max())) == (-1000.0, 80.0)
    assert (float(neg12.min()), float(neg12.max())) == (-1000.0, 80.0)
    with pytest.raises(ContractViolation, match="stored pixel values 24..2524 do not fit BitsStored 12, signed"):
        load_series(sorted((tmp_path / "s12").iterdir()), DEMO_CONTRACT)


# --- text and identity the results repeat (879c6ba, SRS-108, SRS-075) -----------------------------


def _text_series(folder: Path, charsets: list[str | None], raw: list[dict[str, bytes]]) -> None:
    """One slice per entry, each with its own Specific Character Set (None: absent) and raw values."""
    folder.mkdir(parents=True)
    hu = phantom_hu(SLICES, 256)
    for index, (charset, values) in enumerate(zip(charsets, raw)):
        ds = ct_slice(index, hu)
        if charset is None:
            del ds.SpecificCharacterSet
        else:
            ds.SpecificCharacterSet = charset
        for number, (keyword, value) in enumerate(values.items()):
            setattr(ds, keyword, f"Q{number}" + "Z" * (len(value) - 2))
        data = part10(ds)
        for number, value in enumerate(values.values()):
            data = data.replace((f"Q{number}" + "Z" * (len(value) - 2)).encode(), value)
        (folder / f"slice{index:03d}.dcm").write_bytes(data)


@pytest.mark.req("SRS-108")
def test_non_ascii_bytes_without_a_character_set_are_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", [None] * SLICES, [{"PatientName": b"M\xdcLLER^TEST"}] * SLICES)
    code, out, err = _analyze(tmp_path, capsys)
    assert code == 3 and "PatientName" in err and "slice000.dcm" in err and "Traceback" not in err, out + err
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-108")
def test_control_ascii_text_without_a_character_set_is_analyzed(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", [None] * SLICES, [{"PatientName": b"MUELLER^TEST"}] * SLICES)
    code, _, err = _analyze(tmp_path, capsys)
    assert code == 0, err
    assert pydicom.dcmread(tmp_path / "out" / "segmentation.dcm").PatientName == "MUELLER^TEST"


@pytest.mark.req("SRS-108")
def test_control_the_same_bytes_declared_latin_1_reach_the_results_unchanged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", ["ISO_IR 100"] * SLICES, [{"PatientName": b"M\xdcLLER^TEST"}] * SLICES)
    code, _, err = _analyze(tmp_path, capsys)
    assert code == 0, err
    assert pydicom.dcmread(tmp_path / "out" / "segmentation.dcm").PatientName == "M\u00dcLLER^TEST"


# Fixed (helper-44): series._check_patient refuses slices whose PatientID, PatientName,
# PatientBirthDate, PatientSex (decoded) or SpecificCharacterSet differ (DAI-210, exit 3).
PATIENT_DEFECTS = [
    pytest.param(["ISO_IR 100"] * SLICES, [{"PatientID": b"FAKE-0002"}] + [{"PatientID": b"FAKE-0001"}] * 2,
                 "PatientID", id="PatientID"),
    pytest.param(["ISO_IR 100"] * SLICES, [{"PatientName": b"FAKE^TWO"}] + [{"PatientName": b"FAKE^ONE"}] * 2,
                 "PatientName", id="PatientName"),
    pytest.param(["ISO_IR 100"] * SLICES, [{"PatientBirthDate": b"19010101"}] + [{"PatientBirthDate": b"19020202"}] * 2,
                 "PatientBirthDate", id="PatientBirthDate"),
    pytest.param(["ISO_IR 100"] * SLICES, [{"PatientSex": b"F "}] + [{"PatientSex": b"M "}] * 2,
                 "PatientSex", id="PatientSex"),
    pytest.param(["ISO_IR 144"] + ["ISO_IR 100"] * 2, [{"PatientName": b"M\xdcLLER^TEST"}] * SLICES,
                 "SpecificCharacterSet", id="same name bytes under another character set"),
]


@pytest.mark.req("SRS-075")
@pytest.mark.parametrize(("charsets", "raw", "keyword"), PATIENT_DEFECTS)
def test_slices_naming_different_patients_are_refused(charsets: list, raw: list, keyword: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", charsets, raw)
    code, out, err = _analyze(tmp_path, capsys)
    assert code == 3 and "DAI-210" in err and f"different {keyword}s" in err and "slice000.dcm" in err, out + err
    assert "slice001.dcm" not in err and "FAKE" not in err and not (tmp_path / "out").exists(), err


@pytest.mark.req("SRS-075")
def test_control_one_patient_id_is_analyzed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", ["ISO_IR 100"] * SLICES, [{"PatientID": b"FAKE-0001"}] * SLICES)
    code, _, err = _analyze(tmp_path, capsys)
    assert code == 0, err


@pytest.mark.req("SRS-075")
def test_control_one_patient_name_under_one_non_default_character_set_is_analyzed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _text_series(tmp_path / "in", ["ISO_IR 192"] * SLICES, [{"PatientName": b"M\xc3\x9cLLER^TEST"}] * SLICES)
    code, _, err = _analyze(tmp_path, capsys)
    assert code == 0, err


# --- user paths outside the reviewed places (4302baa, 9486fda; SRS-017, SRS-109) ------------------


def _path_commands(tmp_path: Path, given: Path) -> dict[str, list[str]]:
    from tests.dicom.synthetic import write_series

    series = tmp_path / "IN"
    if not series.exists():
        write_series(series, phantom_hu(SLICES, 256))
    return {
        "analyze --model": ["analyze", str(series), "--out", str(tmp_path / "o1"), "--model", str(given)],
        "explain --model": ["explain", str(series), "--label", "organ", "--out", str(tmp_path / "o2"),
                            "--model", str(given)],
        "model verify": ["model", "verify", str(given)],
        "model info": ["model", "info", str(given)],
        "audit verify --checkpoint": ["audit", "verify", "--checkpoint", str(given)],
        "audit verify --dir": ["audit", "verify", "--dir", str(given)],
        "trace build --root": ["trace", "build", "--root", str(given), "--out", str(tmp_path / "graph.json")],
        "watch IN": ["watch", str(given), str(tmp_path / "watch-out")],
        "phantom --out": ["phantom", "--out", str(given), "--count", "1", "--slices", "3"],
    }


COMMANDS = ["analyze --model", "explain --model", "model verify", "model info", "audit verify --checkpoint",
            "audit verify --dir", "trace build --root", "watch IN", "phantom --out"]


# Fixed (helper-42): each path is looked at through paths.status (app.preconditions), an input as the
# command's own input error, an output as DAI-501; the path shortened in the message.
EXPECTED = {"analyze --model": (4, "DAI-300"), "explain --model": (4, "DAI-300"), "model verify": (4, "DAI-300"),
            "model info": (4, "DAI-300"), "audit verify --checkpoint": (2, "DAI-100"),
            "audit verify --dir": (2, "DAI-100"), "trace build --root": (2, "DAI-100"), "watch IN": (2, "DAI-100"),
            "phantom --out": (6, "DAI-501")}


@pytest.mark.req("SRS-017")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_user_path_with_a_name_over_name_max_is_a_typed_error(command: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_path_commands(tmp_path, tmp_path / LONG_NAME)[command])
    err = capsys.readouterr().err
    assert code != 70 and "DAI-999" not in err and "Traceback" not in err, err
    assert code == EXPECTED[command][0] and err.startswith(f"error {EXPECTED[command][1]}: "), err
    assert "300 bytes long" in err and LONG_NAME not in err, err  # the limit named, the path shortened


@pytest.mark.req("SRS-017")
@pytest.mark.parametrize("command", COMMANDS)
def test_control_the_same_commands_with_a_short_missing_path_are_typed(command: str, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_path_commands(tmp_path, tmp_path / "missing")[command])
    err = capsys.readouterr().err
    assert code != 70 and "DAI-999" not in err and "Traceback" not in err, err


@pytest.mark.req("SRS-109")
def test_an_output_file_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    from device_ai.app.preconditions import check_output_file
    from device_ai.errors import OutputRefused

    target = tmp_path / "site.txt"
    target.write_text("a site file\n")
    (tmp_path / "report.json").symlink_to(target)
    with pytest.raises(OutputRefused):
        check_output_file(tmp_path / "report.json", "--out")


@pytest.mark.req("SRS-109")
def test_control_an_output_folder_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    from device_ai.app.preconditions import check_output_file, check_output_folder
    from device_ai.errors import OutputRefused

    (tmp_path / "target").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "target")
    with pytest.raises(OutputRefused, match="symbolic link"):
        check_output_folder(tmp_path / "out", "--out")
    check_output_file(tmp_path / "report.json", "--out")  # a plain new file name passes


@pytest.mark.req("SRS-028")
def test_audit_verify_of_a_folder_that_does_not_exist_fails(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "verify", "--dir", str(tmp_path / "no-such-audit-folder")])
    assert code != 0, capsys.readouterr().out


@pytest.mark.req("SRS-028")
def test_control_audit_verify_of_a_checkpoint_that_does_not_exist_fails(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "verify"]) == 0
    assert main(["audit", "verify", "--checkpoint", str(tmp_path / "no-such.note")]) == 2
    assert "DAI-100" in capsys.readouterr().err


# --- hot folder (node/hot_folder.py, SRS-139) -----------------------------------------------------


def _deep_file(top: Path, total: int, data: bytes) -> Path:
    """A file under folders of 200-byte names in ``top`` whose path is ``total`` bytes long (made
    relative to folder descriptors)."""
    name = "d" * 200
    fd, depth, levels = os.open(top, os.O_RDONLY | os.O_DIRECTORY), len(os.fsencode(top)), 0
    try:
        while total - depth - 201 > 20:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, depth, levels = inner, depth + 201, levels + 1
        leaf = "j" * (total - depth - 1 - 4) + ".bin"
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)
    return top.joinpath(*[name] * levels, leaf)


def _reject_deep_junk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, out_name: str):  # noqa: ANN202
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    node_env(monkeypatch)
    inbox = tmp_path / "in"
    inbox.mkdir()
    junk = _deep_file(inbox, 4000, b"not an image\n")  # legal in IN; + len(out_name) + 10 under OUT/rejected
    folder = HotFolder(context(), inbox, tmp_path / out_name, settle_s=0.5)
    folder.start()
    try:
        folder.scan_once(now=0.0)
        done = folder.scan_once(now=1.0)
    finally:
        folder.stop()
    return done, junk


@pytest.mark.req("SRS-139")
def test_a_refused_file_too_deep_for_the_rejected_folder_is_still_moved_aside(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    done, junk = _reject_deep_junk(monkeypatch, tmp_path, "o" * 200)
    assert done.rejected == 1 and not os.path.lexists(junk)


@pytest.mark.req("SRS-139")
def test_control_the_same_file_is_rejected_under_a_short_out(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    done, junk = _reject_deep_junk(monkeypatch, tmp_path, "o")
    assert done.rejected == 1 and not os.path.lexists(junk)
