"""Verification of the de-identification engine and run (PS3.15 Annex E) on synthetic data."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VR

from conftest import dciodvfy_errors
from device_ai.cli import main
from device_ai.dicom.deidentify.options import Option, parse_options
from device_ai.dicom.deidentify.rules import effective_action, load_rule_table
from device_ai.dicom.deidentify.run import REPORT_NAME, Deidentifier, RunConfig
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import FAKE_MRN, FAKE_PATIENT, canary_dataset, ct_slice, write_study

SECRET = b"test-secret-not-for-use".ljust(32, b"!")
OPTIONS = [o for o in Option if o not in (Option.BASIC, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES)]


def _deidentifier(*names: str, secret: bytes = SECRET) -> Deidentifier:
    return Deidentifier(RunConfig(options=parse_options(names), secret=secret))


@pytest.fixture(scope="module")
def canary_input() -> tuple[pydicom.Dataset, dict[str, str]]:
    ds, canaries = canary_dataset()
    return pydicom.dcmread(io.BytesIO(part10_bytes(ds))), canaries


def _allowed(canary_tag: str, options: frozenset[Option]) -> bool:
    """Whether the option set keeps this canary by definition: a K row, or a C row whose
    cleaning keeps non-identifying text (a canary has no identifier in it) or time of day."""
    table = load_rule_table()
    tag = canary_tag.split(" > ")[-1]
    if " > " in canary_tag:
        tag = {"Person Name": "(0040,A123)", "Text Value": "(0040,A160)"}[tag]
    if not tag.startswith("("):
        return False  # private and file meta canaries are never kept
    row = table.row(tag)
    action = effective_action(row, options)
    if action == "K":
        return True
    vr = dictionary_VR(row.value_tag) if row.value_tag is not None else ""
    return action == "C" and vr not in ("DA", "DT", "UI", "OB", "OW", "UN")


@pytest.mark.req("SRS-051", "SRS-058")
def test_no_canary_survives_the_basic_profile(canary_input: tuple) -> None:
    ds, canaries = canary_input
    assert len(canaries) > 550  # every encodable row of Table E.1-1, nested, private, meta
    _, data, _, leaks = _deidentifier().deidentify(ds)
    found = sorted(tag for canary, tag in canaries.items() if canary.encode() in data)
    assert found == []
    assert leaks == []


@pytest.mark.req("SRS-052")
@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.cli_name)
def test_each_option_keeps_only_what_it_keeps_by_definition(canary_input: tuple, option: Option) -> None:
    ds, canaries = canary_input
    deidentifier = _deidentifier(option.cli_name)
    _, data, _, leaks = deidentifier.deidentify(ds)
    options = deidentifier.policy.options
    found = {canary: tag for canary, tag in canaries.items() if canary.encode() in data}
    not_allowed = sorted(tag for tag in found.values() if not _allowed(tag, options))
    assert not_allowed == []
    # and the option is honoured: every top-level K row's canary is still there (the file
    # meta excepted: it is rebuilt from the instance, E.1.1)
    table = load_rule_table()
    kept = {c for c, t in canaries.items() if " > " not in t and t.startswith("(") and not t.startswith("(0002,")
            and effective_action(table.row(t), options) == "K"}
    assert kept <= set(found)
    assert leaks == []


@pytest.mark.req("SRS-056")
def test_required_marking_and_new_file_meta(canary_input: tuple) -> None:
    ds, _ = canary_input
    out, data, _, _ = _deidentifier("retain-long-modified-dates", "clean-descriptors").deidentify(ds)
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113107"]
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "Basic" in out.DeidentificationMethod
    equipment = out.ContributingEquipmentSequence[-1]
    assert equipment.PurposeOfReferenceCodeSequence[0].CodeValue == "109104"
    assert data[:128] == b"\0" * 128
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in out.file_meta
    assert "PrivateInformation" not in out.file_meta
    basic, _, _, _ = _deidentifier().deidentify(ds)
    assert basic.LongitudinalTemporalInformationModified == "REMOVED"
    # clean-pixel-data without a rule that ran is never claimed
    unclaimed, _, _, _ = _deidentifier("clean-pixel-data").deidentify(ds)
    assert "113101" not in [i.CodeValue for i in unclaimed.DeidentificationMethodCodeSequence]


@pytest.mark.req("SRS-053", "SRS-054", "SRS-055")
def test_study_references_resolve_and_intervals_survive(tmp_path: Path) -> None:
    paths = write_study(tmp_path / "in")
    before = {name: pydicom.dcmread(p) for name, p in paths.items()}
    result = _deidentifier("retain-long-modified-dates").run([tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    assert result.quarantined == [] and len(result.written) == 4
    after = [pydicom.dcmread(tmp_path / "out" / name) for name in result.written]
    cts = sorted((d for d in after if d.Modality == "CT"), key=lambda d: d.InstanceNumber)
    seg = next(d for d in after if d.Modality == "SEG")
    ct_uids = {d.SOPInstanceUID for d in cts}
    assert len({d.StudyInstanceUID for d in after}) == 1
    assert seg.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    assert {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence} == ct_uids
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == cts[0].SeriesInstanceUID
    for frame in seg.PerFrameFunctionalGroupsSequence:
        for source in frame.DerivationImageSequence[0].SourceImageSequence:
            assert source.ReferencedSOPInstanceUID in ct_uids
    # X/Z/U*: references kept with their UIDs remapped, so they still resolve
    assert cts[1].ReferencedImageSequence[0].ReferencedSOPInstanceUID == cts[0].SOPInstanceUID
    for uid in (*ct_uids, seg.SOPInstanceUID, seg.StudyInstanceUID):
        assert uid.startswith("2.25.") and len(uid) <= 64
    # intervals: study date to SEG content date, and birth date is gone
    import datetime as dt

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    original = day(before["seg"].ContentDate) - day(before["ct0"].StudyDate)
    shifted = day(seg.ContentDate) - day(cts[0].StudyDate)
    assert shifted == original
    assert day(cts[0].StudyDate) < day(before["ct0"].StudyDate)
    assert cts[0].StudyTime == before["ct0"].StudyTime  # date and time move together (whole days)
    assert seg.PatientID == cts[0].PatientID != FAKE_MRN
    assert str(seg.PatientName) == str(cts[0].PatientName) != FAKE_PATIENT


@pytest.mark.req("SRS-053", "SRS-054", "SRS-055")
def test_pseudonyms_are_keyed_and_stable_across_runs(tmp_path: Path) -> None:
    write_study(tmp_path / "in")
    names = {}
    for run, secret in (("a", SECRET), ("b", SECRET), ("c", b"another-secret".ljust(32, b"?"))):
        result = _deidentifier("retain-long-modified-dates", secret=secret).run(
            [tmp_path / "in"], tmp_path / run, tmp_path / f"q{run}")
        names[run] = sorted(result.written)
        first = pydicom.dcmread(tmp_path / run / names[run][0])
        names[run + "-date"] = first.get("StudyDate") or first.get("ContentDate")
    assert names["a"] == names["b"]
    assert names["a-date"] == names["b-date"]
    assert set(names["a"]).isdisjoint(names["c"])
    assert (tmp_path / "a" / names["a"][0]).read_bytes() == (tmp_path / "b" / names["b"][0]).read_bytes()


@pytest.mark.req("SRS-057", "SRS-061")
def test_burned_in_and_unreadable_files_are_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    write_study(inp)
    burned = ct_slice(5)
    burned.SOPInstanceUID = burned.file_meta.MediaStorageSOPInstanceUID = "1.2.999.1.4.99"
    burned.BurnedInAnnotation = "YES"
    (inp / "burned.dcm").write_bytes(part10_bytes(burned))
    (inp / "not_dicom.dcm").write_bytes(b"FAKE NOT DICOM" * 20)
    (inp / "truncated.dcm").write_bytes((inp / "FAKE_CANARY_ct0.dcm").read_bytes()[:700])
    result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    reasons = {q.source.name: q.reason for q in result.quarantined}
    assert set(reasons) == {"burned.dcm", "not_dicom.dcm", "truncated.dcm"}
    assert "Burned In Annotation" in reasons["burned.dcm"]
    assert len(result.written) == 4
    index = json.loads((tmp_path / "q" / "quarantine.json").read_text())
    assert len(index["quarantined"]) == 3
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert report["files_processed"] == 7 and report["files_written"] == 4
    assert len(report["quarantined"]) == 3
    assert FAKE_MRN not in (tmp_path / "out" / REPORT_NAME).read_text()  # the report names no input path


@pytest.mark.req("SRS-057")
def test_clean_pixel_data_rule_blanks_regions_and_is_then_claimed(tmp_path: Path) -> None:
    burned = ct_slice(0)
    burned.BurnedInAnnotation = "YES"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"name": "fake scanner banner", "match": {"Manufacturer": "Synthetic Scanner Co"},
                                  "regions": [[0, 0, 16, 4]]}]))
    from device_ai.dicom.deidentify.burned_in import load_pixel_rules

    deidentifier = Deidentifier(RunConfig(options=parse_options(["clean-pixel-data"]),
                                          pixel_rules=load_pixel_rules(rules), secret=SECRET))
    out, _, _, _ = deidentifier.deidentify(pydicom.dcmread(io.BytesIO(part10_bytes(burned))))
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert (out.pixel_array[:4] == 0).all() and (out.pixel_array[4:] != 0).any()


@pytest.mark.req("SRS-058")
def test_a_leak_withholds_every_leaking_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file of the study leaks: each one is quarantined by the self-check, none is
    published (the output folder holds the report only). Per-file isolation with some clean
    files: tests/dicom/test_deid_isolation.py."""
    write_study(tmp_path / "in")
    from device_ai.dicom.deidentify import engine

    # a faulty engine that forgets to handle Institution Name must be caught by the self-check
    original = engine.Engine._element

    def forgetful(self, ds, element, path, state):  # noqa: ANN001, ANN202
        if element.keyword == "InstitutionName":
            return None
        return original(self, ds, element, path, state)

    monkeypatch.setattr(engine.Engine, "_element", forgetful)
    result = _deidentifier().run([tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    assert result.written == [] and result.withheld_by_self_check == 4
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == [REPORT_NAME]
    index = json.loads((tmp_path / "q" / "quarantine.json").read_text())
    assert index["self_check"]["passed"] is False
    assert any("(0008,0080)" in leak for leaks in index["self_check"]["leaks"].values() for leak in leaks)


@pytest.mark.req("SRS-060", "SRS-062", "SRS-064", "SRS-059")
def test_anonymize_cli_writes_audits_and_leaves_input_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = write_study(tmp_path / "in")
    before = {p: p.read_bytes() for p in paths.values()}
    code = main(["anonymize", str(tmp_path / "in"), str(tmp_path / "out"), "--option", "retain-long-modified-dates",
                 "--crosswalk", str(tmp_path / "xwalk.bin")])
    assert code == 0
    assert {p: p.read_bytes() for p in paths.values()} == before
    assert "self-check passed" in capsys.readouterr().out
    crosswalk_bytes = (tmp_path / "xwalk.bin").read_bytes()
    assert FAKE_MRN.encode() not in crosswalk_bytes and b"1.2.999" not in crosswalk_bytes
    assert main(["anonymize-crosswalk", str(tmp_path / "xwalk.bin")]) == 0
    crosswalk = json.loads(capsys.readouterr().out)
    assert FAKE_MRN in crosswalk["patients"] and "1.2.999.1.1" in crosswalk["uids"]
    # every run is in the audit trail, and the secret is in none of the outputs
    from device_ai.dicom.deidentify.keyed import site_secret

    secret = site_secret()
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes() and secret.hex().encode() not in path.read_bytes()
    assert main(["audit", "show", "--event", "DAI001"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("De-identification") >= 2  # the run and the crosswalk read


@pytest.mark.req("SRS-060", "SRS-061")
def test_anonymize_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp = tmp_path / "in"
    write_study(inp)
    (inp / "junk.dcm").write_bytes(b"junk" * 100)
    assert main(["anonymize", str(inp), str(tmp_path / "out")]) == 3  # something was quarantined
    assert "quarantined" in capsys.readouterr().err
    assert main(["anonymize", str(inp), str(tmp_path / "out2"), "--option", "no-such-option"]) == 2
    assert main(["anonymize", str(inp), str(tmp_path / "out3"), "--option", "retain-long-full-dates",
                 "--option", "retain-long-modified-dates"]) == 2
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()
    assert main(["anonymize", str(tmp_path / "missing"), str(tmp_path / "out4")]) == 3


def _uid_free(lines: list[str]) -> set[str]:
    """dciodvfy lines with UID values masked: the same finding about a remapped UID is not new."""
    masked = (re.sub(r"\b\d+(\.\d+){2,}\b", "<UID>", line) for line in lines)
    return {re.sub(r"(UID) \S+$", r"\1 <UID>", line) for line in masked}


@pytest.mark.dicom_tools
@pytest.mark.req("SRS-051")
def test_dciodvfy_reports_no_new_errors(tmp_path: Path, dciodvfy: str) -> None:
    """Every pydicom test file that is written (the others are quarantined with a reason)
    and the synthetic study: dciodvfy reports no error on the output that it did not report
    on the input."""
    inp = tmp_path / "in"
    write_study(inp)
    # the files pydicom ships, read from its folder: get_testdata_files may try a download
    for source in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm")):
        if source.is_file():
            (inp / source.name).write_bytes(source.read_bytes())
    result = _deidentifier("retain-long-modified-dates").run([inp], tmp_path / "out", tmp_path / "q")
    assert len(result.written) >= 15  # 4 synthetic + the pydicom files not quarantined
    original_of = {new: old for old, new in result.replacer.uids.items()}
    inputs = {}
    for path in inp.iterdir():
        try:
            inputs.setdefault(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID), path)
        except Exception:  # noqa: BLE001 - unreadable inputs were quarantined
            continue
    for name in result.written:
        out_path = tmp_path / "out" / name
        original = inputs[original_of[out_path.stem]]
        new_errors = _uid_free(dciodvfy_errors(dciodvfy, out_path)) - _uid_free(dciodvfy_errors(dciodvfy, original))
        assert new_errors == set(), f"{original.name}: {sorted(new_errors)}"


@pytest.mark.req("SRS-061")
def test_unknown_transfer_syntax_and_malformed_sequence_are_quarantined(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    data = bytearray(part10_bytes(ct_slice(0)))
    at = data.find(b"1.2.840.10008.1.2.1\0")
    data[at:at + 20] = b"1.2.840.99999.1.2.1\0"
    (inp / "unknown_syntax.dcm").write_bytes(bytes(data))
    good = part10_bytes(ct_slice(1))
    at = good.find(b"\x40\x00\x75\x02SQ")  # Request Attributes Sequence: break its item length
    broken = bytearray(good)
    broken[at + 16:at + 20] = (0x7FFFFFF0).to_bytes(4, "little")
    (inp / "malformed_sequence.dcm").write_bytes(bytes(broken))
    (inp / "fine.dcm").write_bytes(part10_bytes(ct_slice(2)))
    result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    reasons = {q.source.name: q.reason for q in result.quarantined}
    assert reasons["unknown_syntax.dcm"] == "unknown transfer syntax 1.2.840.99999.1.2.1"
    assert "malformed_sequence.dcm" in reasons
    assert len(result.written) == 1


@pytest.mark.req("SRS-052", "SRS-057")
def test_visual_feature_cleaning_is_refused_rather_than_claimed() -> None:
    from device_ai.errors import DeidentificationConfigError

    with pytest.raises(DeidentificationConfigError):
        _deidentifier("clean-recognizable-visual-features")


@pytest.mark.req("SRS-058")
def test_values_the_marking_writes_are_not_taken_for_leaks(canary_input: tuple) -> None:
    """An input whose Software Versions equals this software's version is not a leak."""
    from device_ai import __version__

    ds = ct_slice(0)
    ds.SoftwareVersions = __version__
    ds = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
    _, _, _, leaks = _deidentifier().deidentify(ds)
    assert leaks == []


@pytest.mark.req("SRS-061")
def test_long_runs_write_in_batches_and_a_duplicate_instance_is_quarantined(tmp_path: Path) -> None:
    from device_ai.dicom.deidentify import run as run_module

    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(7):
        ds = ct_slice(i)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.999.1.4.{i + 1}"
        (inp / f"s{i}.dcm").write_bytes(part10_bytes(ds))
    (inp / "s_copy.dcm").write_bytes((inp / "s3.dcm").read_bytes())
    original = run_module._BATCH_FILES
    run_module._BATCH_FILES = 2
    try:
        result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    finally:
        run_module._BATCH_FILES = original
    assert len(result.written) == 7
    assert [q.reason for q in result.quarantined] == ["duplicate SOP Instance UID in this run"]
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.dcm")) == \
        sorted(result.written)


@pytest.mark.req("SRS-051")
@pytest.mark.parametrize("option", [None, *OPTIONS], ids=lambda o: o.cli_name if o else "basic")
def test_clean_terms_are_collected_exactly_when_the_options_clean_a_row(canary_input: tuple, option: Option | None,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk that collects the instance's identifying terms runs only when some row can be
    cleaned (C) under the options; the Basic Profile alone cleans nothing and skips it, and the
    canary corpus then reaches no text cleaning (which would refuse to run without the terms)."""
    from device_ai.dicom.deidentify import engine as engine_module

    names = [option.cli_name] if option else []
    deidentifier = _deidentifier(*names)
    cleans = any(effective_action(row, deidentifier.policy.options) == "C" for row in load_rule_table().rows)
    assert deidentifier.policy.cleans_text == cleans
    calls = []
    real = engine_module.collect_clean_terms
    monkeypatch.setattr(engine_module, "collect_clean_terms", lambda *a: calls.append(1) or real(*a))
    ds, _ = canary_input
    _, _, state, leaks = deidentifier.deidentify(ds)
    assert len(calls) == (1 if cleans else 0)
    assert ("C" in state.decisions.values()) <= cleans  # nothing cleaned where no terms were collected
    assert leaks == []
    if option is None:
        assert not cleans
    if option is Option.CLEAN_DESCRIPTORS:
        assert cleans and "C" in state.decisions.values()


@pytest.mark.req("SRS-051")
@pytest.mark.parametrize("names, pixels_cleaned", [((), False), (("retain-long-modified-dates",), False),
                                                   (("retain-long-full-dates", "clean-pixel-data"), True)])
def test_marking_elements_are_those_attribute_assignment_gives(names: tuple[str, ...], pixels_cleaned: bool) -> None:
    """``mark`` builds its elements directly (once validated here, not per file): the same tags,
    dictionary VRs and values as setting the attributes by keyword, and the same bytes."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from device_ai.dicom.deidentify import marking

    options = parse_options(list(names))
    marked = ct_slice(0)
    written = marking.mark(marked, options, "ed", pixels_cleaned)
    reference = ct_slice(0)
    applied = sorted(({Option.BASIC} | set(options)) - (set() if pixels_cleaned else {Option.CLEAN_PIXEL_DATA}),
                     key=lambda o: o.code)
    reference.PatientIdentityRemoved = "YES"
    reference.DeidentificationMethod = marking.method_text(frozenset(applied), "ed")
    codes = []
    for meaning, value in [(o.meaning, o.code) for o in applied]:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    reference.DeidentificationMethodCodeSequence = Sequence(codes)
    reference.LongitudinalTemporalInformationModified = (
        "UNMODIFIED" if "retain-long-full-dates" in names else "MODIFIED" if names else "REMOVED")
    if pixels_cleaned:
        reference.BurnedInAnnotation = "NO"
    equipment = Dataset()
    equipment.Manufacturer, equipment.ManufacturerModelName = marking.MANUFACTURER, marking.MODEL_NAME
    equipment.SoftwareVersions = marking.__version__
    purpose = Dataset()
    purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = "109104", "DCM", "De-identifying Equipment"
    equipment.PurposeOfReferenceCodeSequence = Sequence([purpose])
    reference.ContributingEquipmentSequence = Sequence([equipment])
    assert [(e.tag, e.VR, e.value if e.VR != "SQ" else None) for e in marked.iterall()] == \
        [(e.tag, e.VR, e.value if e.VR != "SQ" else None) for e in reference.iterall()]
    assert all(e.VR == dictionary_VR(e.tag) for e in marked.iterall() if e.tag >> 16 in (0x0008, 0x0012, 0x0018, 0x0028, 0x0040))
    assert part10_bytes(marked) == part10_bytes(reference)
    assert str(reference.DeidentificationMethod) in written
