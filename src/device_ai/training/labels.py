"""The demo model's labels and their codes (SNOMED CT; DICOM CID 7150 category, CID 7151 type),
as in pydicom's code dictionary (a test checks them against ``codes.cid7150``/``cid7151``).

This is the one place the phantom generator's ground-truth label values are defined: training
writes ``DEMO_LABELS`` into the manifest it signs, and from then on the runtime takes every
label's value, name, codes and colour from the manifest (``ModelManifest.label_by_role``),
never from literals. The evaluation compares the phantom truth (these values) with the
engine's output (the manifest's values).
"""

from __future__ import annotations

from device_ai.model.package.manifest import CodedConcept, LabelDefinition, LabelRole, find_label

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

# The phantom generator's ground truth, by role.
DEMO_ORGAN = find_label(DEMO_LABELS, role=LabelRole.ORGAN)
DEMO_LESION = find_label(DEMO_LABELS, role=LabelRole.LESION)
