"""Independent review (helper-76) of SRS-172 (memory bounded per input, after helper-75's fixes of
review 70 and the lead's test fix cd494dd) and of the lead's self-check fix 9071233 (SRS-113, SRS-111).

SRS-172: no defect found; approved by this review (traceability/reviews.yaml). Its probes were run
outside the suite (synthetic series and files only) and are summarised in the commit message.

9071233 (``leakcheck._searchable``: a dotted number of fewer than 5 digits, dots aside, is not
searched on its own). For identifiers this is what the module docstring says ("All-digit
identifiers of fewer than 5 digits (dots aside) ... are not searched on their own"), and it fixes
review 70's mutant 506 (Study Instance UID ``0.0`` equal to a kept Image Orientation value). The
boundary (5 digits, dots aside, searched) is pinned here; the lead's test pins only 3-4 digit
UIDs against a 17-digit one.

Defect (strict xfail beside a passing control): the digit rule is applied to every needle kind,
descriptors included, while the docstring gives it for identifiers only and says that the words
of a removed descriptor "in a value the engine failed to remove are" leaks (descriptors are
searched only in output elements the profile does not keep, where a chance match is no concern:
the rule's reason, "they occur by chance", is about kept elements). 9071233 extends that gap to
dotted numbers: a removed Patient Comments ``4.7.61`` (a date of birth, short form) or Series
Description ``1.5`` left in place by the engine was a leak before 9071233 and is not one after it
(probe: old vs new ``_searchable`` on the same output). The all-digit analogue (a removed Series
Description ``1234`` left in place, not found) predates 9071233.
"""

from __future__ import annotations

import pytest

from device_ai.dicom.deidentify.leakcheck import find_leaks, identifying_values
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.rules import load_rule_table
from device_ai.dicom.writer import part10_bytes
from tests.dicom.test_deid_selfcheck import _clean_output, _input

BASIC = parse_options(())


def _leaks_where(source_changes: dict[str, str], output_changes: dict[str, str]) -> list[str]:
    """The self-check's leaks (input attribute) when the real output of a synthetic slice with
    ``source_changes`` is altered by ``output_changes`` (what an engine fault would leave)."""
    source = _input(**source_changes)
    out = _clean_output(source)
    for keyword, value in output_changes.items():
        setattr(out, keyword, value)
    needles = identifying_values(source, load_rule_table(), BASIC)
    return [leak.where for leak in find_leaks(part10_bytes(out), needles, set())]


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("number, searched", [("12.34", False), ("12.345", True), ("1.2.34", False),
                                               ("1.2.345", True)])
def test_a_dotted_identifier_is_searched_from_5_digits_dots_aside(number: str, searched: bool) -> None:
    """Pin of the boundary 9071233 set: an accession number or UID copied into a kept attribute
    (Convolution Kernel) is a leak from 5 digits (dots aside), not below (the docstring's rule)."""
    for keyword, where in (("AccessionNumber", "(0008,0050)"), ("StudyInstanceUID", "(0020,000D)")):
        found = _leaks_where({keyword: number}, {"ConvolutionKernel": number})
        assert found == ([where] if searched else []), (keyword, number, found)


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("keyword, where, value", [("PatientComments", "(0010,4000)", "born 4.7.61"),
                                                   ("SeriesDescription", "(0008,103E)", "1.5 mm")])
def test_control_a_removed_descriptor_left_in_place_is_a_leak(keyword: str, where: str, value: str) -> None:
    """Control: a removed descriptor with words besides its number, left in place, is found; the
    clean output has no leak."""
    assert _leaks_where({keyword: value}, {}) == []
    assert _leaks_where({keyword: value}, {keyword: value}) == [where]


@pytest.mark.req("SRS-113")
@pytest.mark.parametrize("keyword, where, value", [("PatientComments", "(0010,4000)", "4.7.61"),
                                                   ("SeriesDescription", "(0008,103E)", "1.5")])
def test_a_removed_descriptor_that_is_a_short_dotted_number_left_in_place_is_a_leak(
        keyword: str, where: str, value: str) -> None:
    """Was a strict xfail (review 76); fixed by the lead: the dots-aside digit rule applies to identifiers only."""
    assert _leaks_where({keyword: value}, {keyword: value}) == [where]
