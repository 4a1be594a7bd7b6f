"""Ground truth from a DICOM Segmentation, as 3D Slicer, OHIF or highdicom write it.

Segments are mapped to roles by their coded Segmented Property Type (CID 7151), never by
segment number, and frames to the series' slices by their referenced SOP Instance UIDs, so a
SEG that orders frames or numbers segments differently gives the same truth. A SEG that
references an instance outside the series, lacks a required role or codes a role twice is
refused with a typed error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np

from device_ai.dicom.series import CTSeries
from device_ai.errors import InputRefused
from device_ai.model.package.manifest import ROLE_BY_PROPERTY_TYPE, LabelRole


def read_truth(seg_path: Path, series: CTSeries,
               roles: tuple[LabelRole, ...] = (LabelRole.ORGAN, LabelRole.LESION)) -> dict[LabelRole, np.ndarray]:
    """Boolean masks (Z, R, C), in the series' slice order, for each of ``roles``."""
    seg_path = Path(seg_path)
    try:
        seg = hd.seg.segread(seg_path)
    except Exception as exc:  # highdicom/pydicom raise many types for a file that is not a SEG
        raise InputRefused(f"{seg_path}: not a readable DICOM Segmentation ({type(exc).__name__}: {exc})",
                           hint="give the SEG written for this series (3D Slicer, OHIF, highdicom)") from exc
    numbers: dict[LabelRole, int] = {}
    for number in seg.get_segment_numbers():
        description = seg.get_segment_description(number)
        code = description.segmented_property_type
        role = ROLE_BY_PROPERTY_TYPE.get((code.scheme_designator, code.value))
        if role is None:
            continue
        if role in numbers:
            raise InputRefused(f"{seg_path}: segments {numbers[role]} and {number} are both coded as {role.value}",
                               hint="give each role one segment")
        numbers[role] = number
    missing = [role.value for role in roles if role not in numbers]
    if missing:
        raise InputRefused(f"{seg_path}: no segment coded as {', '.join(missing)} (CID 7151 Segmented Property Type)",
                           hint="code the segments with SNOMED CT property types (Organ 91772007, Lesion 52988006)")
    uids = [str(ds.SOPInstanceUID) for ds in series.datasets]
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    foreign = sorted(referenced - set(uids))
    if foreign:
        raise InputRefused(f"{seg_path}: references {len(foreign)} instance(s) that are not in the series "
                           f"(e.g. {foreign[0]})", hint="give the SEG and the CT series it was drawn on")
    try:
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids,
                                                   segment_numbers=[numbers[role] for role in roles],
                                                   combine_segments=False, assert_missing_frames_are_empty=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise InputRefused(f"{seg_path}: its frames do not map onto the series ({exc})",
                           hint="give the SEG and the CT series it was drawn on") from exc
    return {role: pixels[..., index].astype(bool) for index, role in enumerate(roles)}
