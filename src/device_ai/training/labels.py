"""The demo model's labels and their codes (SNOMED CT; DICOM CID 7150 category, CID 7151 type),
as in pydicom's code dictionary (a test checks them against ``codes.cid7150``/``cid7151``)."""

from __future__ import annotations

from device_ai.model.package.manifest import CodedConcept, LabelDefinition

DEMO_LABELS = (
    LabelDefinition(
        value=1,
        name="Organ",
        category=CodedConcept(scheme="SCT", value="91723000", meaning="Anatomical Structure"),
        property_type=CodedConcept(scheme="SCT", value="91772007", meaning="Organ"),
        color_rgb=(0, 200, 255),
    ),
    LabelDefinition(
        value=2,
        name="Lesion",
        category=CodedConcept(scheme="SCT", value="49755003", meaning="Morphologically Abnormal Structure"),
        property_type=CodedConcept(scheme="SCT", value="52988006", meaning="Lesion"),
        color_rgb=(255, 60, 0),
    ),
)
