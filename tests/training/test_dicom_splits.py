"""Splits by patient and the data manifest of a labelled DICOM folder (issue 14 item 6): a patient
in two splits, the same images in both splits and malformed split files are refused; the data
manifest digest is reproducible, changes with a pixel, and holds no identifier."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from device_ai.errors import SplitFileError, SplitOverlap, TrainingDataRefused
from device_ai.training.dicom_dataset import read_labelled_folder
from device_ai.training.dicom_manifest import data_manifest, data_manifest_sha256, split_record
from device_ai.training.dicom_splits import check_split, seeded_split, split_from_file
from tests.training.labelled_dicom import phantom, write_folder, write_seg

PATIENTS = ("FAKE-PAT-001", "FAKE-PAT-002", "FAKE-PAT-003", "FAKE-PAT-004")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder(tmp_path_factory.mktemp("labelled") / "data", patients=4)


def _split_file(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content))
    return path


@pytest.mark.req("SRS-087")
def test_a_patient_in_both_splits_of_the_split_file_is_refused(folder: Path, tmp_path: Path) -> None:
    good = {"train": list(PATIENTS[:3]), "test": [PATIENTS[3]]}
    split = split_from_file(_split_file(tmp_path / "split.json", good), PATIENTS)
    assert (split.train, split.test, split.method["kind"]) == (PATIENTS[:3], PATIENTS[3:], "file")
    leaking = {"train": list(PATIENTS[:3]), "test": [PATIENTS[3], PATIENTS[0]]}  # the negative case
    with pytest.raises(SplitOverlap) as info:
        split_from_file(_split_file(tmp_path / "leak.json", leaking), PATIENTS)
    assert info.value.code == "DAI-264"
    assert "patient FAKE-PAT-001 is in both train and test" in info.value.message


@pytest.mark.req("SRS-087")
@pytest.mark.parametrize(("content", "message"), [
    ({"train": list(PATIENTS[:3]), "test": ["FAKE-PAT-999"]}, "patient FAKE-PAT-999 (test) is not in the training folder"),
    ({"train": list(PATIENTS[:2]), "test": [PATIENTS[3]]}, "patient FAKE-PAT-003 of the training folder is in no split"),
    ({"train": list(PATIENTS), "test": []}, "the test split is empty"),
    ({"train": list(PATIENTS[:3]), "validation": [PATIENTS[3]]}, "must be an object with the lists train and test"),
    ("not json {", "is not readable JSON"),
])
def test_split_files_that_do_not_match_the_folder_are_refused(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "split.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SplitFileError, match=re.escape(message)) as info:
        split_from_file(path, PATIENTS)
    assert info.value.code == "DAI-265" and info.value.hint


@pytest.mark.req("SRS-087")
def test_the_seeded_split_holds_out_whole_patients_reproducibly() -> None:
    split = seeded_split(PATIENTS, seed=3, test_fraction=0.25)
    assert len(split.test) == 1 and sorted(split.train + split.test) == list(PATIENTS)
    assert seeded_split(PATIENTS, seed=3, test_fraction=0.25) == split
    assert seeded_split(tuple(reversed(PATIENTS)), seed=3, test_fraction=0.25) == split  # order of discovery
    assert len(seeded_split(PATIENTS, seed=3, test_fraction=0.9).train) == 1  # at least one trained on
    with pytest.raises(TrainingDataRefused, match="needs at least 2"):
        seeded_split(PATIENTS[:1], seed=0, test_fraction=0.25)


def _copy_series_as_patient(source: Path, target: Path, patient_id: str) -> list[Path]:
    """The same images under another patient ID with new UIDs: a copied, re-identified series."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for path in sorted(source.glob("CT*.dcm")):
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName = patient_id, f"FAKE^{patient_id}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        target.mkdir(parents=True, exist_ok=True)
        ds.save_as(target / path.name)
        paths.append(target / path.name)
    return paths


@pytest.mark.req("SRS-087")
def test_the_same_images_in_both_splits_are_refused(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", patients=2)
    copied = _copy_series_as_patient(root / "FAKE-PAT-001" / "ct", root / "FAKE-PAT-COPY" / "ct", "FAKE-PAT-COPY")
    write_seg(copied, phantom(0, "FAKE-PAT-COPY"), root / "FAKE-PAT-COPY" / "seg.dcm")
    dataset = read_labelled_folder(root)
    leaking = split_from_file(_split_file(tmp_path / "a.json", {"train": ["FAKE-PAT-001", "FAKE-PAT-002"],
                                                                "test": ["FAKE-PAT-COPY"]}), dataset.patients())
    with pytest.raises(SplitOverlap) as info:
        check_split(dataset, leaking)
    assert "the same slice pixel data is in train (patient FAKE-PAT-001" in info.value.message
    assert "and in test (patient FAKE-PAT-COPY" in info.value.message
    # Control: both copies on one side is no leakage into the held-out patients.
    together = split_from_file(_split_file(tmp_path / "b.json", {"train": ["FAKE-PAT-001", "FAKE-PAT-COPY"],
                                                                 "test": ["FAKE-PAT-002"]}), dataset.patients())
    check_split(dataset, together)


@pytest.mark.req("SRS-084")
def test_the_data_manifest_is_reproducible_changes_with_a_pixel_and_names_no_patient(folder: Path,
                                                                                    tmp_path: Path) -> None:
    dataset = read_labelled_folder(folder)
    split = seeded_split(dataset.patients(), seed=0, test_fraction=0.25)
    manifest = data_manifest(dataset, split, 224)
    digest = data_manifest_sha256(manifest)
    assert data_manifest_sha256(data_manifest(read_labelled_folder(folder), split, 224)) == digest
    text = json.dumps(manifest) + json.dumps(split_record(manifest))
    assert "FAKE" not in text  # no Patient ID or name, only digests
    entry = manifest["splits"]["train"][0]["series"][0]
    assert len(entry["sop_instance_uids"]) == len(entry["pixel_sha256"]) == 3
    record = split_record(manifest)
    assert (record["train"]["patients"], record["test"]["patients"], record["test"]["slices"]) == (3, 1, 3)
    # Negative control: one changed pixel value gives another digest.
    changed = tmp_path / "changed"
    import shutil

    shutil.copytree(folder, changed)
    path = sorted((changed / "FAKE-PAT-002" / "ct").glob("CT*.dcm"))[1]
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    pixels[10, 10] += 1
    ds.PixelData = pixels.tobytes()
    ds.save_as(path)
    assert data_manifest_sha256(data_manifest(read_labelled_folder(changed), split, 224)) != digest
