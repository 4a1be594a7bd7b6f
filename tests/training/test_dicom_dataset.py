"""Reading a folder of labelled DICOM as a user brings it (issue 14 item 6): CT series matched to
their SEG by referenced SOP Instance UIDs, segments mapped by code, the input contract, and every
refusal with its typed error. Each acceptance check has a negative control showing it can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from device_ai.errors import (
    ContractViolation,
    SegReferenceError,
    TrainingDataEmpty,
    TrainingDataRefused,
    UnknownSegmentCode,
)
from device_ai.training.dicom_dataset import read_labelled_folder
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from tests.training.labelled_dicom import (
    LESION,
    LESION_CODE,
    LIVER_CODE,
    ORGAN,
    ORGAN_CODE,
    Segment,
    write_patient,
    write_seg,
)


@pytest.fixture
def two_patients(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "data"
    cases = {}
    for number in range(2):
        pid = f"FAKE-PAT-{number + 1:03d}"
        cases[pid] = write_patient(root, number, pid)
    return root, cases


@pytest.mark.req("SRS-086")
def test_truth_is_mapped_by_segment_code_not_number(two_patients) -> None:  # noqa: ANN001
    root, cases = two_patients
    dataset = read_labelled_folder(root)  # the SEGs number Lesion 1 and Organ 2: not the model's order
    assert dataset.patients() == ("FAKE-PAT-001", "FAKE-PAT-002")
    for item in dataset.series:
        case, paths = cases[item.patient_id]
        assert item.series.paths == tuple(paths)
        assert np.array_equal(item.label_map, case.labels)  # exact, slice for slice
        assert (item.label_map == DEMO_LESION.value).any() and (item.label_map == DEMO_ORGAN.value).any()
    # Negative control: the same masks with their codes swapped give the swapped truth, so the
    # mapping follows the codes (a reader going by segment number would not change).
    case, paths = cases["FAKE-PAT-001"]
    swapped = (Segment("Lesion", ORGAN_CODE, DEMO_LESION.value), Segment("Organ", LESION_CODE, DEMO_ORGAN.value))
    write_seg(paths, case, root / "FAKE-PAT-001" / "seg.dcm", swapped)
    item = next(i for i in read_labelled_folder(root).series if i.patient_id == "FAKE-PAT-001")
    assert not np.array_equal(item.label_map, case.labels)
    assert np.array_equal(item.label_map == DEMO_ORGAN.value, case.labels == DEMO_LESION.value)


@pytest.mark.req("SRS-086")
def test_a_segment_with_an_unknown_code_is_refused(two_patients) -> None:  # noqa: ANN001
    root, cases = two_patients
    case, paths = cases["FAKE-PAT-002"]
    liver = Segment("Liver", LIVER_CODE, DEMO_ORGAN.value)
    write_seg(paths, case, root / "FAKE-PAT-002" / "seg.dcm", (LESION, ORGAN, liver))
    with pytest.raises(UnknownSegmentCode) as info:
        read_labelled_folder(root)
    assert info.value.code == "DAI-263"
    assert "FAKE-PAT-002/seg.dcm: segment 3 ('Liver') is coded SCT 10200004 (Liver)" in info.value.message
    assert "Organ = SCT 91772007" in (info.value.hint or "")
    # Control: the same folder with the known segments only is accepted.
    write_seg(paths, case, root / "FAKE-PAT-002" / "seg.dcm", (LESION, ORGAN))
    assert len(read_labelled_folder(root).series) == 2


@pytest.mark.req("SRS-085")
def test_a_seg_referencing_instances_not_in_the_folder_is_refused(two_patients, tmp_path: Path) -> None:  # noqa: ANN001
    root, cases = two_patients
    _, paths = cases["FAKE-PAT-001"]
    moved = tmp_path / "moved.dcm"
    shutil.move(paths[0], moved)  # the SEG still references this slice
    # (the series itself is still a consistent 2-slice series; only the reference is dangling)
    with pytest.raises(SegReferenceError) as info:
        read_labelled_folder(root)
    assert info.value.code == "DAI-262"
    uid = str(pydicom.dcmread(moved).SOPInstanceUID)
    assert "FAKE-PAT-001/seg.dcm: the SEG references 1 of its 3 source instance(s) that are not in the folder" in (
        info.value.message)
    assert uid in info.value.message
    shutil.move(moved, paths[0])  # control: with the slice back, the folder is accepted
    assert len(read_labelled_folder(root).series) == 2


@pytest.mark.req("SRS-085")
def test_a_ct_series_without_a_seg_or_with_two_is_refused(two_patients) -> None:  # noqa: ANN001
    root, cases = two_patients
    seg = root / "FAKE-PAT-002" / "seg.dcm"
    kept = seg.read_bytes()
    seg.unlink()
    with pytest.raises(SegReferenceError, match=r"FAKE-PAT-002/ct/CT000001\.dcm\): no SEG in the folder references it"):
        read_labelled_folder(root)
    seg.write_bytes(kept)
    case, paths = cases["FAKE-PAT-002"]
    write_seg(paths, case, root / "FAKE-PAT-002" / "seg-again.dcm")
    with pytest.raises(SegReferenceError, match="2 SEGs reference it"):
        read_labelled_folder(root)
    (root / "FAKE-PAT-002" / "seg-again.dcm").unlink()
    assert len(read_labelled_folder(root).series) == 2  # control


@pytest.mark.req("SRS-088")
def test_empty_missing_or_image_less_folders_are_refused(tmp_path: Path, two_patients) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "absent"):
        with pytest.raises(TrainingDataEmpty) as info:
            read_labelled_folder(folder)
        assert info.value.code == "DAI-261" and info.value.hint
    root, _ = two_patients
    only_segs = tmp_path / "segs"
    only_segs.mkdir()
    shutil.copy(root / "FAKE-PAT-001" / "seg.dcm", only_segs / "seg.dcm")
    with pytest.raises(TrainingDataEmpty, match="holds no CT series"):
        read_labelled_folder(only_segs)


@pytest.mark.req("SRS-088")
def test_training_series_pass_the_same_input_contract_and_junk_is_listed(two_patients) -> None:  # noqa: ANN001
    root, cases = two_patients
    _, paths = cases["FAKE-PAT-002"]
    for path in paths:  # a series outside the intended use: 2 mm pixels
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = ["2.0", "2.0"]
        ds.save_as(path)
    with pytest.raises(ContractViolation, match="PixelSpacing"):
        read_labelled_folder(root)
    (root / "notes.txt").write_text("not DICOM")
    with pytest.raises(TrainingDataRefused, match="notes.txt: no DICOM file header"):
        read_labelled_folder(root)


@pytest.mark.req("SRS-085")
def test_a_seg_naming_another_series_or_spanning_two_is_refused(two_patients) -> None:  # noqa: ANN001
    from pydicom.dataset import Dataset

    root, cases = two_patients
    seg_path = root / "FAKE-PAT-001" / "seg.dcm"
    original = seg_path.read_bytes()
    other = pydicom.dcmread(cases["FAKE-PAT-002"][1][0])
    seg = pydicom.dcmread(seg_path)
    seg.ReferencedSeriesSequence[0].SeriesInstanceUID = other.SeriesInstanceUID  # instances of 001, series of 002
    seg.save_as(seg_path)
    with pytest.raises(SegReferenceError, match="FAKE-PAT-001/seg.dcm: its Referenced Series Sequence names another"):
        read_labelled_folder(root)
    seg = pydicom.dcmread(pydicom.filebase.DicomBytesIO(original))
    item = Dataset()
    item.SeriesInstanceUID = other.SeriesInstanceUID
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = other.SOPClassUID, other.SOPInstanceUID
    item.ReferencedInstanceSequence = [reference]
    seg.ReferencedSeriesSequence.append(item)
    seg.save_as(seg_path)
    with pytest.raises(SegReferenceError, match="FAKE-PAT-001/seg.dcm: the SEG references instances of 2 different CT"):
        read_labelled_folder(root)
    seg_path.write_bytes(original)  # control
    assert len(read_labelled_folder(root).series) == 2


@pytest.mark.req("SRS-086")
def test_a_seg_without_a_lesion_segment_is_refused_unless_absent_means_empty(two_patients) -> None:  # noqa: ANN001
    from device_ai.model.package.manifest import LabelRole

    root, cases = two_patients
    case, paths = cases["FAKE-PAT-002"]
    write_seg(paths, case, root / "FAKE-PAT-002" / "seg.dcm", (ORGAN,))  # as a tool that drops empty segments
    with pytest.raises(TrainingDataRefused, match="FAKE-PAT-002/seg.dcm: no segment coded as lesion") as info:
        read_labelled_folder(root)
    assert "--absent-means-empty" in (info.value.hint or "")
    dataset = read_labelled_folder(root, absent_empty=(LabelRole.LESION,))
    item = next(i for i in dataset.series if i.patient_id == "FAKE-PAT-002")
    assert not (item.label_map == DEMO_LESION.value).any()
    assert np.array_equal(item.label_map == DEMO_ORGAN.value, case.labels == DEMO_ORGAN.value)
    other = next(i for i in dataset.series if i.patient_id == "FAKE-PAT-001")  # its Lesion segment still counts
    assert np.array_equal(other.label_map, cases["FAKE-PAT-001"][0].labels)


@pytest.mark.req("SRS-085")
def test_frames_omitted_for_empty_slices_map_by_instance(two_patients) -> None:  # noqa: ANN001
    import dataclasses

    root, cases = two_patients
    case, paths = cases["FAKE-PAT-001"]
    labels = case.labels.copy()
    labels[:2][labels[:2] == DEMO_LESION.value] = DEMO_ORGAN.value  # the lesion drawn on the last slice only
    write_seg(list(reversed(paths)), dataclasses.replace(case, labels=labels[::-1]), root / "FAKE-PAT-001" / "seg.dcm")
    seg = pydicom.dcmread(root / "FAKE-PAT-001" / "seg.dcm")
    assert seg.NumberOfFrames == 4  # Lesion frames of the two lesion-free slices were omitted (3 Organ + 1 Lesion)
    item = next(i for i in read_labelled_folder(root).series if i.patient_id == "FAKE-PAT-001")
    assert np.array_equal(item.label_map, labels)  # frames found by source instance, in the series' order
