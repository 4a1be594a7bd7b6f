"""De-identification run: per-file isolation, output names and reports free of input names,
publication order (issue 16 items 2 (quarantine half), 3, 4, 6).

Each test has a negative control showing that its check can fail."""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement

from device_ai import app
from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.cli import main
from device_ai.config import Settings
from device_ai.dicom.deidentify import run as run_module
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.run import QUARANTINE_INDEX, REASON_CODES, REPORT_NAME, Deidentifier, RunConfig
from device_ai.dicom.writer import part10_bytes
from device_ai.errors import DeidentificationConfigError, OutputError
from tests.app.test_truthful_audit import truthfulness_problems
from tests.dicom.deid_corpus import FAKE_MRN, ct_slice, write_study

SECRET = b"test-secret-not-for-use".ljust(32, b"!")
PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # listed from disk, never downloaded


def _deidentifier(*names: str) -> Deidentifier:
    return Deidentifier(RunConfig(options=parse_options(names), secret=SECRET))


def _slice(index: int, **changes: object) -> bytes:
    ds = ct_slice(index)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.999.1.4.{index + 1}"
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return part10_bytes(ds)


def _found_in(folder: Path, needles: list[str]) -> list[str]:
    """Which needles (case-insensitive) occur in any file's bytes or any path under ``folder``."""
    found = []
    blobs = [(str(p.relative_to(folder)).lower().encode(), p.read_bytes().lower() if p.is_file() else b"")
             for p in folder.rglob("*")]
    for needle in needles:
        low = needle.lower().encode()
        if any(low in name or low in data for name, data in blobs):
            found.append(needle)
    return found


# -- item 3: no input name, path or folder name in the output or the report ------------------

IDENTIFYING_NAMES = ["MRN12345", "DOE_JOHN_MRN12345.dcm", "DOE_JOHN_MRN12345.txt", "DOE_JOHN_MRN12345",
                     "SMITH_JANE_1970-01-01", "DOE_JOHN"]


def _identifying_input(root: Path) -> Path:
    folder = root / "MRN12345" / "SMITH_JANE_1970-01-01"
    folder.mkdir(parents=True)
    (folder / "DOE_JOHN_MRN12345.dcm").write_bytes(_slice(0))
    (folder / "DOE_JOHN_MRN12345_2.dcm").write_bytes(_slice(1))
    (folder / "DOE_JOHN_MRN12345.txt").write_bytes(b"DOE_JOHN_MRN12345 notes, not DICOM" * 10)
    (folder / ".DOE_JOHN_MRN12345.swp").write_bytes(b"hidden")
    (folder / "DICOMDIR").write_bytes(b"file-set index")
    return root / "MRN12345"


@pytest.mark.req("SRS-059", "SRS-118")
def test_no_output_or_report_byte_holds_an_input_name_path_or_folder(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    inp = _identifying_input(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["anonymize", str(inp), str(out)]) == 3  # the .txt file is quarantined
    printed = capsys.readouterr()
    needles = IDENTIFYING_NAMES + [str(inp), str(tmp_path / "in")]
    assert _found_in(out, needles) == []
    assert not any(n in printed.out + printed.err for n in IDENTIFYING_NAMES), "the CLI lists labels, not names"
    report = json.loads((out / REPORT_NAME).read_text())
    # every input entry is counted, and says what became of it
    assert report["input_entries"] == 5
    assert report["files_skipped"] == {"dicomdir": 1, "hidden": 1}
    assert report["files_processed"] == 3 == report["files_written"] + report["files_quarantined"]
    assert [(q["file"], q["code"]) for q in report["quarantined"]] == [("file-000002", "not-dicom")]  # sorted order
    assert report["quarantined"][0]["reason"] == REASON_CODES["not-dicom"]
    assert set(report["codes"]["actions"]) >= {"D", "Z", "X", "K", "C", "U"}
    assert {a for per in report["actions_per_attribute"].values() for a in per} <= set(report["codes"]["actions"])
    # the quarantine index (which stays with the originals) is where the sources are named
    index = json.loads((tmp_path / "out-quarantine" / QUARANTINE_INDEX).read_text())
    assert [Path(q["source"]).name for q in index["quarantined"]] == ["DOE_JOHN_MRN12345.txt"]
    # and the audit trail names none of them either
    _, recorded = entries(None, EntryFilter(event="De-identification"))
    assert not any(n in json.dumps(recorded) for n in IDENTIFYING_NAMES)


@pytest.mark.req("SRS-059", "SRS-118")
def test_negative_control_a_report_naming_an_input_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If quarantined files were labelled by their input name (the defect of issue 16), the
    check above would find it."""
    inp = _identifying_input(tmp_path / "in")
    monkeypatch.setattr(run_module.Quarantined, "label", property(lambda self: self.source.name))
    _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    assert "DOE_JOHN_MRN12345.txt" in _found_in(tmp_path / "out", IDENTIFYING_NAMES)


@pytest.mark.req("SRS-055", "SRS-059")
def test_the_report_documents_the_date_offset_direction(tmp_path: Path) -> None:
    write_study(tmp_path / "in")
    _deidentifier("retain-long-modified-dates").run([tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    offset = json.loads((tmp_path / "out" / REPORT_NAME).read_text())["date_offset"]
    assert offset["direction"].startswith("earlier") and 0 < offset["days_min"] < offset["days_max"]
    _deidentifier().run([tmp_path / "in"], tmp_path / "out2", tmp_path / "q2")
    assert json.loads((tmp_path / "out2" / REPORT_NAME).read_text())["date_offset"] is None  # negative control


# -- item 2 (quarantine half): a real leak withholds that file alone --------------------------

@pytest.mark.req("SRS-058", "SRS-119")
def test_a_planted_leak_withholds_that_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The patient's name planted in a kept attribute (Scan Options, CS, not in Table E.1-1)
    is found by the self-check: that file is quarantined, the clean ones published, exit 11."""
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        (inp / f"s{i}.dcm").write_bytes(_slice(i))
    (inp / "s3_planted.dcm").write_bytes(_slice(3, ScanOptions="TESTPATIENT"))  # FAKE^CANARY^TESTPATIENT
    assert main(["anonymize", str(inp), str(tmp_path / "out")]) == 11
    err = capsys.readouterr().err
    assert "held back" in err and "file-000004 [self-check]" in err
    out_files = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(out_files) == 3
    assert not any(b"testpatient" in p.read_bytes().lower() for p in out_files), "the leak never reaches OUT"
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert report["self_check"]["files_withheld"] == 1 and report["self_check"]["passed"] is False
    assert list(report["self_check"]["leaks"]) == ["file-000004"]
    assert "testpatient" not in (tmp_path / "out" / REPORT_NAME).read_text().lower()  # where, never what
    _, recorded = entries(None, EntryFilter(event="De-identification"))
    assert recorded[-1]["details"]["self_check"] == "withheld 1" and recorded[-1]["outcome"] == 4
    # negative control: the same file without the planted value is published with exit 0
    (inp / "s3_planted.dcm").write_bytes(_slice(3))
    assert main(["anonymize", str(inp), str(tmp_path / "out2")]) == 0
    assert len(list((tmp_path / "out2").rglob("*.dcm"))) == 4


@pytest.mark.req("SRS-061", "SRS-119")
def test_pydicom_test_files_never_block_the_whole_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """pydicom's whole test-file folder (read from disk) de-identifies with exit 0, 3 or 11:
    the outputs are published, every refused file is quarantined alone with a reason code, and
    every entry of the folder is counted."""
    on_disk = sum(len(names) for _, _, names in os.walk(PYDICOM_TEST_FILES))
    code = main(["anonymize", str(PYDICOM_TEST_FILES), str(tmp_path / "out")])
    assert code in (0, 3, 11), capsys.readouterr().err
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert report["input_entries"] == on_disk >= 100
    assert report["files_processed"] == report["files_written"] + report["files_quarantined"]
    assert report["files_written"] >= 20 and len(list((tmp_path / "out").rglob("*.dcm"))) == report["files_written"]
    assert {q["code"] for q in report["quarantined"]} <= set(REASON_CODES)
    names = [p.name for p in PYDICOM_TEST_FILES.rglob("*") if len(p.stem) > 6 and p.name != "DICOMDIR"]
    assert _found_in(tmp_path / "out", names) == []  # (DICOMDIR is a standard name the report's codes use)


# -- item 6: per-file isolation ---------------------------------------------------------------

@pytest.mark.req("SRS-061", "SRS-120")
def test_a_file_without_patient_id_is_quarantined_and_the_others_published(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(_slice(0))
    (inp / "b_no_patient_id.dcm").write_bytes(_slice(1, PatientID=None))
    (inp / "c_no_study.dcm").write_bytes(_slice(2, StudyInstanceUID=None))
    (inp / "d_empty_patient_id.dcm").write_bytes(_slice(3, PatientID=""))  # Type 2: empty is conformant
    result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    assert {q.source.name: q.code for q in result.quarantined} == {"b_no_patient_id.dcm": "missing-identity",
                                                                  "c_no_study.dcm": "missing-identity"}
    assert len(result.written) == 2  # negative control: the empty Patient ID is not refused


@pytest.mark.req("SRS-061", "SRS-120")
def test_a_value_that_makes_the_engine_fail_quarantines_that_file_alone(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """Patient's Name encoded with VR FD (a swapped VR) makes the engine raise; that file is
    quarantined with processing-error, no traceback, and the others are published."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(_slice(0))
    swapped = ct_slice(1)
    swapped.SOPInstanceUID = swapped.file_meta.MediaStorageSOPInstanceUID = "1.2.999.1.4.77"
    swapped[0x00100010] = DataElement(0x00100010, "FD", 1.5)
    (inp / "swapped_vr.dcm").write_bytes(part10_bytes(swapped))
    assert main(["anonymize", str(inp), str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "[processing-error]" in err
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 1
    # negative control: the engine really does fail on that file on its own
    with pytest.raises(Exception):  # noqa: B017, PT011 - whichever the engine raises
        _deidentifier().deidentify(pydicom.dcmread(inp / "swapped_vr.dcm"))


class _Hang(Exception):
    pass


@pytest.mark.req("SRS-061", "SRS-120")
def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(_slice(0))
    os.mkfifo(inp / "pipe.dcm")

    def hang(*_: object) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(30)  # opening a FIFO without a writer blocks: fail instead of hanging the suite
    try:
        result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [(q.source.name, q.code, q.sha256) for q in result.quarantined] == [("pipe.dcm", "not-regular-file", "")]
    assert len(result.written) == 1
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [QUARANTINE_INDEX]  # nothing copied from it
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind
    # negative control: the refusal comes from stat, before any open
    assert run_module._refuse_before_opening(inp / "pipe.dcm", RunConfig().limits)[0] == "not-regular-file"
    assert run_module._refuse_before_opening(inp / "a.dcm", RunConfig().limits) is None


@pytest.mark.req("SRS-120")
def test_a_symbolic_link_loop_is_quarantined_and_the_other_files_published(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(_slice(0))
    (inp / "loop1.dcm").symlink_to(inp / "loop2.dcm")
    (inp / "loop2.dcm").symlink_to(inp / "loop1.dcm")
    (inp / "inside.dcm").symlink_to(inp / "a.dcm")  # control: a link inside the input is followed
    result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    assert sorted((q.source.name, q.code) for q in result.quarantined) == [  # the link inside was read: a duplicate
        ("inside.dcm", "duplicate-instance"), ("loop1.dcm", "link-loop"), ("loop2.dcm", "link-loop")]
    assert len(result.written) == 1
    copies = [p for p in (tmp_path / "q").iterdir() if p.name != QUARANTINE_INDEX]
    assert len(copies) == 1  # the duplicate's copy; nothing was read from the loops


@pytest.mark.req("SRS-110", "SRS-120")
def test_an_over_limit_file_is_refused_by_its_size_and_never_read(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """anonymize reads within the configured limits (Context.read_limits, as analyze): with
    max_file_mb 1 a 1.3 MB slice is quarantined without being opened, hashed or copied."""
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(_slice(0))
    big = ct_slice(1, size=800)
    big.SOPInstanceUID = big.file_meta.MediaStorageSOPInstanceUID = "1.2.999.1.4.88"
    (inp / "big.dcm").write_bytes(part10_bytes(big))
    assert (inp / "big.dcm").stat().st_size > 1024 * 1024
    opened: list[str] = []
    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        real = getattr(module, name)

        def spy(path, *args, _real=real, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            opened.append(os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    result = app.anonymize(app.Context(settings=Settings(max_file_mb=1)),
                           app.AnonymizeRequest(inputs=[inp], out=tmp_path / "out"))
    monkeypatch.undo()
    assert [(q.source.name, q.code, q.sha256) for q in result.quarantined] == [("big.dcm", "over-size-limit", "")]
    assert not any(p.endswith("big.dcm") for p in opened), "the over-limit file is never opened"
    assert any(p.endswith("a.dcm") for p in opened)  # negative control: the spy sees files that are read
    assert len(result.written) == 1


@pytest.mark.req("SRS-120", "SRS-121")
def test_uids_never_make_a_path_outside_out(tmp_path: Path) -> None:
    """retain-uids keeps ../../ UIDs in the data set, but output names are keyed pseudonyms."""
    inp = tmp_path / "work" / "in"
    inp.mkdir(parents=True)
    ds = ct_slice(0)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "../../escaped"
    ds.StudyInstanceUID = "/tmp/abs"
    ds.SeriesInstanceUID = ".."
    (inp / "evil.dcm").write_bytes(part10_bytes(ds))
    (inp / "good.dcm").write_bytes(_slice(1))
    before = {p for p in tmp_path.rglob("*")}
    result = _deidentifier("retain-uids").run([inp], tmp_path / "work" / "out", tmp_path / "work" / "q")
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(tmp_path / "work" / "out") or p.is_relative_to(tmp_path / "work" / "q")
               for p in created)
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/abs").exists()
    assert len(result.written) == 2
    for name in result.written:
        assert all(run_module._NAME_PART.fullmatch(part) for part in name.removesuffix(".dcm").split("/"))
    kept = [pydicom.dcmread(p) for p in (tmp_path / "work" / "out").rglob("*.dcm")]
    assert "../../escaped" in {str(d.SOPInstanceUID) for d in kept}  # the option kept it, in the data only


@pytest.mark.req("SRS-120", "SRS-121")
def test_negative_control_a_name_leading_outside_out_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inp = tmp_path / "work" / "in"
    inp.mkdir(parents=True)
    (inp / "a.dcm").write_bytes(_slice(0))
    monkeypatch.setattr(Deidentifier, "output_name", lambda self, *ids: "../../escaped.dcm")
    with pytest.raises(OutputError):
        _deidentifier().run([inp], tmp_path / "work" / "out", tmp_path / "work" / "q")
    assert not (tmp_path / "escaped.dcm").exists() and not (tmp_path / "work" / "out").exists()
    assert not run_module._inside(tmp_path, "a/../../b.dcm") and run_module._inside(tmp_path, "a/b.dcm")


@pytest.mark.req("SRS-057", "SRS-122")
@pytest.mark.parametrize("encoding", ["YES\\NO", "OB", "maybe"])
def test_an_ambiguous_burned_in_annotation_is_quarantined(encoding: str, tmp_path: Path) -> None:
    ds = ct_slice(0)
    if encoding == "OB":
        ds[0x00280301] = DataElement(0x00280301, "OB", b"NO")
    elif encoding == "maybe":
        ds.BurnedInAnnotation = "MAYBE"
    else:
        ds.BurnedInAnnotation = ["YES", "NO"]
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.dcm").write_bytes(part10_bytes(ds))
    result = _deidentifier().run([inp], tmp_path / "out", tmp_path / "q")
    assert [q.code for q in result.quarantined] == ["burned-in"] and result.written == []
    # negative control: a single CS NO is published
    del ds[0x00280301]
    ds.BurnedInAnnotation = "NO"
    (inp / "a.dcm").write_bytes(part10_bytes(ds))
    assert len(_deidentifier().run([inp], tmp_path / "out2", tmp_path / "q2").written) == 1


# -- item 4: honest options -------------------------------------------------------------------

@pytest.mark.req("SRS-057", "SRS-122")
def test_clean_pixel_data_without_rules_is_refused_and_never_claimed(tmp_path: Path) -> None:
    write_study(tmp_path / "in")
    with pytest.raises(DeidentificationConfigError, match="needs --pixel-rules"):
        app.anonymize(app.Context(settings=Settings()),
                      app.AnonymizeRequest(inputs=[tmp_path / "in"], out=tmp_path / "out", options=["clean-pixel-data"]))
    assert not (tmp_path / "out").exists()
    # the library still accepts it, but never names it where nothing was cleaned
    result = _deidentifier("clean-pixel-data").run([tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert "clean-pixel-data" not in ds.DeidentificationMethod
        assert "113101" not in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert result.pixels_cleaned == 0
    # negative control: with a rule that runs, the option is named in both
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"name": "fake banner", "match": {"Manufacturer": "Synthetic Scanner Co"},
                                  "regions": [[0, 0, 4, 4]]}]))
    burned = ct_slice(0)
    burned.BurnedInAnnotation = "YES"
    (tmp_path / "in2").mkdir()
    (tmp_path / "in2" / "b.dcm").write_bytes(part10_bytes(burned))
    result = app.anonymize(app.Context(settings=Settings()),
                           app.AnonymizeRequest(inputs=[tmp_path / "in2"], out=tmp_path / "out2",
                                                options=["clean-pixel-data"], pixel_rules=rules))
    assert result.pixels_cleaned == 1
    ds = pydicom.dcmread(next((tmp_path / "out2").rglob("*.dcm")))
    assert "clean-pixel-data" in ds.DeidentificationMethod
    assert "113101" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


# -- item 6: publication order ------------------------------------------------------------------

@pytest.mark.req("SRS-064", "SRS-123")
def test_a_crosswalk_write_failure_publishes_nothing_and_is_recorded(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The crosswalk and the audit entry are durable before OUT is published: a crosswalk
    write failure leaves no OUT, no crosswalk, no quarantine copies, and one failure entry."""
    from device_ai.dicom.deidentify import crosswalk as crosswalk_module

    write_study(tmp_path / "in")
    (tmp_path / "in" / "junk.dcm").write_bytes(b"not dicom")

    def disk_full(path: Path, data: bytes, **kwargs: object) -> Path:
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(crosswalk_module, "atomic_write_bytes", disk_full)
    with pytest.raises(OutputError) as caught:
        app.anonymize(app.Context(settings=Settings()),
                      app.AnonymizeRequest(inputs=[tmp_path / "in"], out=tmp_path / "out",
                                           crosswalk=tmp_path / "walk.bin"))
    published = (tmp_path / "out").exists()
    assert not published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], "no output, quarantine or crosswalk"
    _, recorded = entries(None, EntryFilter(event="De-identification"))
    assert truthfulness_problems(recorded, caught.value, published) == []
    assert [e["outcome"] for e in recorded] == [8]  # never a success claim
    # negative control: the same check flags a run whose OUT was published before the failure
    assert truthfulness_problems(recorded, caught.value, True) != []


@pytest.mark.req("SRS-064", "SRS-123")
def test_the_entry_and_crosswalk_are_durable_before_out_appears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the moment the output folder is renamed into place, the success entry is in the
    trail and the crosswalk has its name."""
    write_study(tmp_path / "in")
    seen: dict[str, object] = {}
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst) == tmp_path / "out":
            _, recorded = entries(None, EntryFilter(event="De-identification"))
            seen["entries"] = [e["outcome"] for e in recorded]
            seen["crosswalk"] = (tmp_path / "walk.bin").is_file()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    app.anonymize(app.Context(settings=Settings()),
                  app.AnonymizeRequest(inputs=[tmp_path / "in"], out=tmp_path / "out", crosswalk=tmp_path / "walk.bin"))
    assert seen == {"entries": [0], "crosswalk": True}
    assert FAKE_MRN.encode() not in (tmp_path / "walk.bin").read_bytes()


# -- item 7: worker processes ---------------------------------------------------------------------

CLEAN_PROCESS = "DEVICE_AI_TEST_CLEAN_PROCESS"  # set when a test re-runs itself in a fresh interpreter

@pytest.mark.req("SRS-065", "SRS-120")
def test_worker_processes_give_the_same_run_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same files through a pool of 2 worker processes and through this process alone:
    the same output names and bytes, the same report, quarantine and crosswalk content."""
    from device_ai.dicom.deidentify.crosswalk import crosswalk_content

    if threading.active_count() > 1 and not os.environ.get(CLEAN_PROCESS):
        # An earlier test in this test process left a thread (Dask's offload executor, after the
        # batch tests): the pool rightly refuses to fork beside it and runs in one process. This
        # check needs a process of its own, so it runs itself again in a fresh interpreter.
        again = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                                f"{__file__}::test_worker_processes_give_the_same_run_as_one_process"],
                               env={**os.environ, CLEAN_PROCESS: "1"}, capture_output=True, text=True, timeout=900)
        assert again.returncode == 0 and " passed" in again.stdout, again.stdout[-3000:] + again.stderr[-2000:]
        return

    inp = tmp_path / "in"
    write_study(inp / "a", slices=12)
    write_study(inp / "b", patient_id="FAKE-MRN-2", uid_prefix="1.2.999.2", slices=12)
    (inp / "junk.dcm").write_bytes(b"not dicom")
    (inp / "planted.dcm").write_bytes(_slice(40, ScanOptions="TESTPATIENT"))
    runs = {}
    for workers in (1, 2):
        deidentifier = Deidentifier(RunConfig(options=parse_options(["retain-long-modified-dates"]), secret=SECRET,
                                              workers=workers))
        assert run_module.worker_count(deidentifier.config, 30) == workers
        result = deidentifier.run([inp], tmp_path / f"out{workers}", tmp_path / f"q{workers}")
        assert result.workers == workers  # the pool really ran (not this process alone)
        files = {p.relative_to(tmp_path / f"out{workers}").as_posix(): p.read_bytes()
                 for p in (tmp_path / f"out{workers}").rglob("*") if p.is_file()}
        runs[workers] = (files, [(q.label, q.code) for q in result.quarantined], crosswalk_content(result.replacer))
    assert len(runs[1][0]) == 2 * 13 + 1  # two studies of 12 CT slices and a SEG, and the report
    assert sorted(code for _, code in runs[1][1]) == ["not-dicom", "self-check"]
    assert len(runs[1][2]["patients"]) == 2  # one fake patient per study
    assert runs[2] == runs[1]  # the workers' keyed entries reach the crosswalk (made in this process: none)
    # negative control: a parent that drops the workers' keyed entries has an empty crosswalk
    real_take = Deidentifier._take

    def forgetful(self, outcome, *args):  # noqa: ANN001, ANN002, ANN202
        outcome.keyed = None
        return real_take(self, outcome, *args)

    monkeypatch.setattr(Deidentifier, "_take", forgetful)
    result = Deidentifier(RunConfig(options=parse_options(["retain-long-modified-dates"]), secret=SECRET,
                                    workers=2)).run([inp], tmp_path / "out3", tmp_path / "q3")
    assert result.workers == 2 and crosswalk_content(result.replacer) != runs[1][2]


@pytest.mark.req("SRS-065", "SRS-061")
def test_an_output_that_fails_the_self_check_is_never_written_and_nothing_else_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs are written into the staging folder by the process that de-identified them, only
    after they passed the self-check: the withheld file's bytes are never written anywhere, a
    duplicate's file is deleted, and the published folder holds the outputs and the report only."""
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        (inp / f"s{i}.dcm").write_bytes(_slice(i))
    (inp / "s_copy.dcm").write_bytes((inp / "s1.dcm").read_bytes())
    (inp / "z_planted.dcm").write_bytes(_slice(7, ScanOptions="TESTPATIENT"))  # its patient name, kept
    written: list[tuple[str, bytes]] = []
    real_write = run_module._write_file

    def recording(path: Path, data: bytes, durable: bool = True) -> None:
        written.append((path.name, data))
        real_write(path, data, durable)

    monkeypatch.setattr(run_module, "_write_file", recording)
    result = Deidentifier(RunConfig(options=parse_options([]), secret=SECRET, workers=1)).run(
        [inp], tmp_path / "out", tmp_path / "q")
    assert sorted(q.code for q in result.quarantined) == ["duplicate-instance", "self-check"]
    assert [name for name, _ in written] == ["000001.dcm", "000002.dcm", "000003.dcm", "000004.dcm"]
    assert not any(b"TESTPATIENT" in data for _, data in written)  # the withheld output (index 5) never written
    published = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    files = [p for p in published if (tmp_path / "out" / p).is_file()]
    assert sorted(files) == sorted([*result.written, REPORT_NAME])
    assert not any(".incoming" in p for p in published)
    # negative control: the same run with the self-check switched off writes the planted file
    monkeypatch.setattr(run_module, "find_leaks", lambda *args, **kwargs: [])
    written.clear()
    Deidentifier(RunConfig(options=parse_options([]), secret=SECRET, workers=1)).run(
        [inp], tmp_path / "out2", tmp_path / "q2")
    assert any(b"TESTPATIENT" in data for _, data in written)
