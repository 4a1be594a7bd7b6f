"""Text the results repeat must reach them unaltered (independent review of issue 22, item 4;
SRS-108): a PatientName (or any Patient/Study text) whose bytes are not valid in the declared
Specific Character Set was decoded with U+FFFD replacement characters and written so into the
SEG and SR (exit 0), a result naming the patient differently from its source. Such values, an
escape sequence the character set does not define and control characters are now refused before
inference (exit 3, the file and attribute named, nothing published, the refusal audited); valid
ISO_IR 100, ISO_IR 192 and ISO 2022 IR 87 values reach the SEG and SR byte for byte (negative
control)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.cli import main
from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.series import load_series
from device_ai.errors import DicomReadError, InputRefused
from tests.dicom.synthetic import ct_slice, part10, phantom_hu

SLICES = 3


def _series(folder: Path, charset: str | list[str], raw: dict[str, bytes]) -> list[Path]:
    """A valid series whose ``raw`` attributes hold exactly the given bytes (written as
    same-length placeholders, then replaced in the file: pydicom would not encode invalid text)."""
    folder.mkdir(parents=True)
    hu = phantom_hu(SLICES, 256)
    paths = []
    for index in range(SLICES):
        ds = ct_slice(index, hu)
        ds.SpecificCharacterSet = charset
        for number, keyword in enumerate(raw):
            setattr(ds, keyword, f"Q{number}" + "Z" * (len(raw[keyword]) - 2))
        data = part10(ds)
        for number, (keyword, value) in enumerate(raw.items()):
            placeholder = (f"Q{number}" + "Z" * (len(value) - 2)).encode()
            assert data.count(placeholder) == 1, keyword
            data = data.replace(placeholder, value)
        path = folder / f"slice{index:03d}.dcm"
        path.write_bytes(data)
        paths.append(path)
    return paths


# (charset, attribute, raw bytes, what the refusal says)
ALTERED = [
    ("ISO_IR 192", "PatientName", b"PHANT\xffM^TEST", "PatientName cannot be decoded with character set ISO_IR 192"),
    ("ISO_IR 192", "PatientName", b"M\xc3LLER^TEST", "PatientName cannot be decoded with character set ISO_IR 192"),
    ("ISO_IR 100", "PatientName", b"PHANTOM\x1b(JTEST",
     "PatientName holds an escape sequence that character set ISO_IR 100 does not define"),
    ("ISO_IR 100", "PatientName", b"PHANTOM\x00TEST", "PatientName holds the control character U+0000"),
    ("ISO_IR 100", "PatientName", b"PHANTOM\x07TEST", "PatientName holds the control character U+0007"),
    ("ISO_IR 192", "PatientID", b"FAKE-\xc0\xaf-01", "PatientID cannot be decoded with character set ISO_IR 192"),
    ("ISO_IR 192", "StudyDescription", b"PHANTOM \xed\xa0\x80 STUDY",
     "StudyDescription cannot be decoded with character set ISO_IR 192"),
    ("ISO_IR 100", "AccessionNumber", b"ACC\x1b0001", "AccessionNumber holds an escape sequence"),
    ("ISO_IR 100", "ReferringPhysicianName", b"DOC\x85TOR^FAKE",
     "ReferringPhysicianName holds the control character U+0085"),
    (["ISO 2022 IR 6", "ISO 2022 IR 87"], "PatientName", b"\x1b$B;3ED\x1b(J^TEST",  # ESC ( J: IR 13, undeclared
     "PatientName holds an escape sequence that character set ISO 2022 IR 6\\ISO 2022 IR 87 does not define"),
]


@pytest.mark.req("SRS-108")
@pytest.mark.parametrize(("charset", "keyword", "raw", "said"), ALTERED,
                         ids=[f"{c[1]}-{c[2]!r}" for c in ALTERED])
def test_a_text_the_results_would_repeat_altered_is_refused_before_inference(
        charset: str, keyword: str, raw: bytes, said: str, tmp_path: Path) -> None:
    import warnings

    paths = _series(tmp_path / "in", charset, {keyword: raw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while decoding the bad value on purpose
        decoded = str(pydicom.dcmread(paths[0]).get(keyword))
        with pytest.raises(InputRefused) as refused:
            load_series(paths, DEMO_CONTRACT)
    if "cannot be decoded" in said:  # the hazard: what the writers were given is not the source's text
        assert "\ufffd" in decoded
    assert isinstance(refused.value, DicomReadError) and refused.value.exit_code == 3
    assert any(said in line and "slice000.dcm" in line for line in refused.value.problems), refused.value.problems
    assert "send the series again" in (refused.value.hint or "")


@pytest.mark.req("SRS-108")
def test_an_undecodable_text_in_a_copied_sequence_is_refused(tmp_path: Path) -> None:
    """Other Patient IDs Sequence (Patient module, copied whole by highdicom): its items' text too."""
    paths = _series(tmp_path / "good", "ISO_IR 192", {})
    for path in paths:
        ds = pydicom.dcmread(path)
        item = pydicom.Dataset()
        item.PatientID = "QZZZZZZZZZZZ"
        item.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = [item]
        data = part10(ds).replace(b"QZZZZZZZZZZZ", b"OTHER-\xff\xfe-ID0")
        path.write_bytes(data)
    with pytest.raises(DicomReadError) as refused:
        load_series(paths, DEMO_CONTRACT)
    assert any("OtherPatientIDsSequence > PatientID cannot be decoded" in line for line in refused.value.problems)


@pytest.mark.req("SRS-108")
def test_analyze_refuses_an_undecodable_patient_name_publishes_nothing_and_audits_the_refusal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _series(tmp_path / "in", "ISO_IR 192", {"PatientName": b"PHANT\xffM^TEST"})
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "in"), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "DAI-201" in err and "slice000.dcm" in err and "Traceback" not in err
    assert "PatientName cannot be decoded with character set ISO_IR 192" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no result, no staging folder
    recorded = entries(None, EntryFilter(event="Analysis Run"))[1]
    assert [(e["outcome"], e["details"].get("error")) for e in recorded] == [(4, "DAI-201")], recorded


VALID = [
    ("ISO_IR 100", {"PatientName": b"M\xfcLLER^J\xd6RG", "PatientID": b"FAKE-\xc5-01",
                    "StudyDescription": b"PHANTOM \xc9TUDE", "ReferringPhysicianName": b"DOC^\xc7A"}),
    ("ISO_IR 192", {"PatientName": b"M\xc3\xbcLLER^\xce\xa9\xce\xbc\xce\xad\xce\xb3\xce\xb1",
                    "PatientID": b"FAKE-\xe2\x82\xac-01", "StudyDescription": b"PHANTOM \xe6\xb8\xac\xe8\xa9\xa6",
                    "ReferringPhysicianName": b"DOC^\xc3\x85SA"}),
    (["ISO 2022 IR 6", "ISO 2022 IR 87"], {"PatientName": b"\x1b$B;3ED\x1b(B^TARO"}),  # PS3.5 H.3.1 style
]


@pytest.mark.req("SRS-108")
@pytest.mark.parametrize(("charset", "raw"), VALID, ids=["ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87"])
def test_negative_control_valid_text_reaches_the_seg_and_sr_byte_for_byte(
        charset: str, raw: dict[str, bytes], tmp_path: Path) -> None:
    paths = _series(tmp_path / "in", charset, raw)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "in"), "--out", str(out)]) == 0
    source = pydicom.dcmread(paths[0])
    for name in ("segmentation.dcm", "measurements.dcm"):
        result = pydicom.dcmread(out / name)
        assert result.SpecificCharacterSet == charset, name
        for keyword, value in raw.items():
            tag = pydicom.datadict.tag_for_keyword(keyword)
            if keyword == "StudyDescription" and tag not in result:
                continue  # Type 3: a result need not repeat it
            written = result.get_item(tag).value.rstrip(b" ")  # the raw bytes, as stored
            assert written == source.get_item(tag).value.rstrip(b" ") == value, (name, keyword, written)
