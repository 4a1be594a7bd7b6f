"""Realistic CT slice headers for synthetic series (issue 22: the memory rule must hold for the
headers a scanner writes, not only for a phantom's ~60 elements).

A phantom slice (:func:`device_ai.training.ct_series.slice_dataset`) carries what the input
contract reads. A scanner's CT slice carries a few hundred elements: pydicom's own
``CT_small.dcm`` (a GE slice of 2004) has 260, 179 of them private in GE blocks; later scanners
add sequences (referenced images, procedure and protocol codes, CTDI phantom) and private blocks
of a few KiB (Siemens' CSA headers). :func:`realistic_header` pads a phantom slice to that: every
public element of ``CT_small.dcm`` the phantom does not set (except UIDs and pixel padding,
which would change what the slice is), all its private elements, four sequences as a current
scanner writes them, one private block of ``PRIVATE_BLOCK_BYTES`` in two OB values, then private
short strings until the slice holds ``REALISTIC_ELEMENTS`` elements, nested ones included.

**Decision (the size):** 400 elements and 6 KiB of private OB per slice, the upper end of what
CT slices of the scanners in use carry (CT_small's 260 plus the sequences and CSA-like block
of newer ones), so a budget that admits this admits ordinary series. Identifiers stay the
phantom's (obviously fake); every added text is synthetic.
"""

from __future__ import annotations

from functools import cache

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

REALISTIC_ELEMENTS = 400  # per slice, nested ones included
PRIVATE_BLOCK_BYTES = 6 * 1024  # one CSA-like private block, in two OB values
_SKIPPED_PUBLIC = {"PixelPaddingValue", "OtherPatientIDsSequence", "InstitutionName", "StudyDescription"}
_PADDING_GROUP, _BLOCK_GROUP = 0x0051, 0x0029


@cache
def _ct_small() -> Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)


def count_elements(ds: Dataset) -> int:
    """Elements of ``ds``, those in sequence items included (not the items themselves)."""
    return sum(1 + (sum(count_elements(item) for item in element.value) if element.VR == "SQ" else 0)
               for element in ds)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _sequences(ds: Dataset) -> None:
    """Four sequences as a current scanner writes them (synthetic values, fake UIDs)."""
    references = []
    for index in range(3):  # the localizer images this slice was planned on
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = f"2.25.{9000 + index}"
        references.append(item)
    ds.ReferencedImageSequence = Sequence(references)
    ds.ProcedureCodeSequence = Sequence([_code("SYN-0001", "99SYNTH", "Synthetic CT abdomen with contrast")])
    request = Dataset()
    request.RequestedProcedureID = "SYN-RP-1"
    request.ScheduledProcedureStepID = "SYN-SPS-1"
    request.ScheduledProtocolCodeSequence = Sequence([_code("SYN-P1", "99SYNTH", "Synthetic abdomen protocol")])
    ds.RequestAttributesSequence = Sequence([request])
    ds.CTDIPhantomTypeCodeSequence = Sequence([_code("113691", "DCM", "IEC Body Dosimetry Phantom")])


def realistic_header(ds: Dataset) -> Dataset:
    """``ds`` (a phantom slice) padded in place to a scanner's header (see the module doc)."""
    source = _ct_small()
    for element in source:
        if element.tag.is_private:
            ds.add(pydicom.DataElement(element.tag, element.VR, element.value))
        elif element.tag not in ds and element.VR not in ("UI", "SQ") and element.keyword not in _SKIPPED_PUBLIC:
            ds.add(pydicom.DataElement(element.tag, element.VR, element.value))
    _sequences(ds)
    block = ds.private_block(_BLOCK_GROUP, "SYNTHETIC CSA HEADER", create=True)
    half = PRIVATE_BLOCK_BYTES // 2
    block.add_new(0x10, "OB", bytes(range(256)) * (half // 256))
    block.add_new(0x20, "OB", bytes(reversed(range(256))) * (half // 256))
    padding = ds.private_block(_PADDING_GROUP, "SYNTHETIC PADDING", create=True)
    missing = REALISTIC_ELEMENTS - count_elements(ds)
    if missing < 0 or missing > 0xF0:
        raise ValueError(f"the phantom header holds {count_elements(ds)} elements; the template pads to "
                         f"{REALISTIC_ELEMENTS} with at most 240 more")
    for offset in range(missing):
        padding.add_new(0x10 + offset, "SH", f"SYN{offset:04d}")
    return ds
