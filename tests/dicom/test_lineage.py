"""What a result made again says about the result it replaces (SRS-151): the Series Description
suffix within 64 characters, the role word never cut, the predecessor's UIDs."""

from __future__ import annotations

import pytest

from device_ai.dicom.lineage import LO_MAX, Replaces, describe
from device_ai.dicom.uids import derived_uid


@pytest.mark.req("SRS-151")
@pytest.mark.parametrize("subject", ["demo-dinov2-seg 2.0.0", "a-very-long-algorithm-name-" * 3 + " 10.20.30"])
def test_the_description_keeps_its_role_and_suffix_within_64_characters(subject: str) -> None:
    replaces = Replaces(number=12, previous=9, previous_seed="seed/9")
    for role in ("segmentation", "measurements"):
        text = describe(subject, role, replaces)
        assert len(text) <= LO_MAX and text.endswith(f" {role} #12 replaces #9")
        assert subject.startswith(text[:-len(f" {role} #12 replaces #9")])
        plain = describe(subject, role, None)  # a first result: no suffix
        assert plain.endswith(f" {role}") and "replaces" not in plain and len(plain) <= LO_MAX
    # negative control: the cut of the whole text (what the writers did before) loses the suffix
    assert not f"{subject} segmentation #12 replaces #9"[:LO_MAX].endswith("#9") or len(subject) < 30


@pytest.mark.req("SRS-151")
def test_the_predecessor_is_the_replaced_sr_and_a_result_cannot_replace_a_later_one() -> None:
    ds = Replaces(number=3, previous=1, previous_seed="device_ai node result/S/1").predecessor("1.2.3")
    assert ds.SOPInstanceUID == derived_uid("device_ai node result/S/1", "sr-instance")
    assert ds.SeriesInstanceUID == derived_uid("device_ai node result/S/1", "sr-series")
    assert ds.StudyInstanceUID == "1.2.3" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"
    for number, previous in ((2, 2), (2, 3), (1, 0)):
        with pytest.raises(ValueError):
            Replaces(number=number, previous=previous, previous_seed="x")
