"""Ground truth read from a DICOM SEG by segment coding, not segment number (issue 14)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from device_ai.dicom.contract import InputContract
from device_ai.dicom.reader import collect_input_files
from device_ai.dicom.seg import AlgorithmIdentity, SegmentSpec, build_seg, write_seg
from device_ai.dicom.series import load_series
from device_ai.errors import InputRefused
from device_ai.model.package.manifest import LabelRole
from device_ai.training.ct_series import write_ct_series
from device_ai.training.labels import DEMO_LABELS, DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import generate_case, split_seeds
from device_ai.training.seg_truth import read_truth

ALGORITHM = AlgorithmIdentity("truth", "1", "Artificial Intelligence", "ab" * 32, "device_ai", "0.1.0")


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=3)
    folder = tmp_path_factory.mktemp("ct") / "series"
    write_ct_series(case, folder)
    series = load_series(collect_input_files(folder), InputContract.model_validate(_contract()))
    return case, series


def _contract() -> dict:  # the released model's input contract
    import json

    from device_ai.config import default_model_path

    return json.loads((default_model_path() / "manifest.json").read_text())["input_contract"]


def _write(series, labels: np.ndarray, specs: list[SegmentSpec], path: Path) -> Path:  # noqa: ANN001
    return write_seg(build_seg(series, labels, specs, ALGORITHM), path)


@pytest.mark.req("SRS-014")
def test_segments_are_mapped_by_their_codes_not_their_numbers(phantom, tmp_path: Path) -> None:  # noqa: ANN001
    case, series = phantom
    organ, lesion = case.labels == DEMO_ORGAN.value, case.labels == DEMO_LESION.value
    # Swap the numbering: the Lesion segment is number 1 and the Organ segment number 2.
    swapped = np.zeros_like(case.labels)
    swapped[lesion], swapped[organ] = 1, 2
    specs = [dataclasses.replace(SegmentSpec.from_label(DEMO_LESION), label_value=1),
             dataclasses.replace(SegmentSpec.from_label(DEMO_ORGAN), label_value=2)]
    truth = read_truth(_write(series, swapped, specs, tmp_path / "seg.dcm"), series)
    assert np.array_equal(truth[LabelRole.ORGAN], organ) and np.array_equal(truth[LabelRole.LESION], lesion)


@pytest.mark.req("SRS-014")
def test_a_seg_without_a_lesion_segment_or_of_another_series_is_refused(phantom, tmp_path: Path) -> None:  # noqa: ANN001
    case, series = phantom
    organ_only = (case.labels == DEMO_ORGAN.value).astype(np.uint8)
    path = _write(series, organ_only, [SegmentSpec.from_label(DEMO_ORGAN)], tmp_path / "organ.dcm")
    with pytest.raises(InputRefused, match="no segment coded as lesion"):
        read_truth(path, series)
    other_case = generate_case(split_seeds("test", 2)[1], split="test", n_slices=3)
    other_folder = tmp_path / "other"
    write_ct_series(other_case, other_folder)
    other = load_series(collect_input_files(other_folder), InputContract.model_validate(_contract()))
    path = _write(other, other_case.labels, [SegmentSpec.from_label(label) for label in DEMO_LABELS], tmp_path / "x.dcm")
    with pytest.raises(InputRefused, match="not in the series"):
        read_truth(path, series)
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    with pytest.raises(InputRefused, match="junk.dcm: not a readable DICOM Segmentation"):
        read_truth(tmp_path / "junk.dcm", series)
