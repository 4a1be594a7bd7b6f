"""The demo labels carry the DICOM CID 7150/7151 codes (SNOMED CT) of pydicom's dictionary, and
the manifest derives each label's role from those codes."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydicom.sr.codedict import codes

from device_ai.config import default_model_path
from device_ai.model.package.manifest import (
    MANIFEST_NAME,
    ROLE_BY_PROPERTY_TYPE,
    LabelRole,
    ModelManifest,
    find_label,
)
from device_ai.model.package.pinned import RELEASED_MANIFESTS
from device_ai.training.labels import DEMO_LABELS, DEMO_LESION, DEMO_ORGAN


@pytest.mark.req("SRS-014", "SRS-074")
def test_label_codes_come_from_the_dicom_context_groups() -> None:
    categories = {(c.value, c.meaning) for c in (codes.cid7150.AnatomicalStructure,
                                                 codes.cid7150.MorphologicallyAbnormalStructure)}
    types = {(c.value, c.meaning) for c in (codes.cid7151.Organ, codes.cid7151.Lesion)}
    for label in DEMO_LABELS:
        assert (label.category.value, label.category.meaning) in categories
        assert (label.property_type.value, label.property_type.meaning) in types
        assert label.category.scheme == label.property_type.scheme == "SCT"


# --- label roles and lookups (issue 18: the manifest is the only source of label meaning) ---

def _released() -> tuple[bytes, ModelManifest]:
    data = (default_model_path() / MANIFEST_NAME).read_bytes()
    return data, ModelManifest.model_validate(json.loads(data))


@pytest.mark.req("SRS-074", "SRS-007")
def test_roles_come_from_the_released_manifest_whose_bytes_stay_pinned() -> None:
    """The released, signed manifest gives every role without a schema change: its bytes, and
    so its pinned digest, are what they were, and re-serialising it changes nothing."""
    data, manifest = _released()
    assert hashlib.sha256(data).hexdigest() in RELEASED_MANIFESTS
    assert manifest.canonical_bytes() == data  # roles are derived, not a field
    assert manifest.label_by_role(LabelRole.ORGAN).name == "Organ"
    assert manifest.label_by_role("lesion").name == "Lesion"
    assert manifest.label_value(LabelRole.LESION) == manifest.label_by_name("lesion").value
    assert manifest.label_by_value(manifest.label_value(LabelRole.ORGAN)).role is LabelRole.ORGAN
    # the generator's ground truth and the released model agree label by label
    assert [(d.value, d.name, d.role) for d in (DEMO_ORGAN, DEMO_LESION)] == \
        [(m.value, m.name, m.role) for m in (manifest.label_by_role("organ"), manifest.label_by_role("lesion"))]


@pytest.mark.req("SRS-074")
def test_roles_are_keyed_by_the_cid_7151_codes() -> None:
    assert ROLE_BY_PROPERTY_TYPE == {
        (codes.cid7151.Organ.scheme_designator, codes.cid7151.Organ.value): LabelRole.ORGAN,
        (codes.cid7151.Lesion.scheme_designator, codes.cid7151.Lesion.value): LabelRole.LESION,
    }


@pytest.mark.req("SRS-074")
def test_role_follows_the_property_type_code_not_the_value_or_name() -> None:
    swapped = tuple(label.model_copy(update={"value": 3 - label.value, "name": label.name.upper()})
                    for label in DEMO_LABELS)
    assert find_label(swapped, role=LabelRole.LESION).value == 1
    assert find_label(swapped, name="organ").value == 2
    other = DEMO_ORGAN.model_copy(update={"property_type": DEMO_ORGAN.category})
    assert other.role is None


@pytest.mark.req("SRS-074")
def test_missing_or_ambiguous_labels_are_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"no label with role 'lesion'; this model's labels are 1=Organ"):
        find_label((DEMO_ORGAN,), role=LabelRole.LESION)
    with pytest.raises(ValueError, match="2 labels with role 'organ'"):
        find_label((DEMO_ORGAN, DEMO_ORGAN.model_copy(update={"value": 2})), role="organ")
    with pytest.raises(ValueError, match="no label with name 'Liver'"):
        find_label(DEMO_LABELS, name="Liver")
    with pytest.raises(ValueError, match="exactly one"):
        find_label(DEMO_LABELS)
