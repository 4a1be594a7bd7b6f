"""The demo labels carry the DICOM CID 7150/7151 codes (SNOMED CT) of pydicom's dictionary."""

from __future__ import annotations

import pytest
from pydicom.sr.codedict import codes

from device_ai.training.labels import DEMO_LABELS


@pytest.mark.req("SRS-014", "SRS-074")
def test_label_codes_come_from_the_dicom_context_groups() -> None:
    categories = {(c.value, c.meaning) for c in (codes.cid7150.AnatomicalStructure,
                                                 codes.cid7150.MorphologicallyAbnormalStructure)}
    types = {(c.value, c.meaning) for c in (codes.cid7151.Organ, codes.cid7151.Lesion)}
    for label in DEMO_LABELS:
        assert (label.category.value, label.category.meaning) in categories
        assert (label.property_type.value, label.property_type.meaning) in types
        assert label.category.scheme == label.property_type.scheme == "SCT"
