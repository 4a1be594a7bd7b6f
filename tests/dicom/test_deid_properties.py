"""Property tests (hypothesis) of the de-identification engine over generated data sets.

Deterministic: ``derandomize=True`` draws the same examples on every run (in CI and locally)
and no example database is read or written, so a run can neither pass nor fail by chance;
the examples are bounded (40 and 15)."""

from __future__ import annotations

import io

import pydicom
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.rules import effective_action, load_rule_table
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.deidentify.values import TEXT_KEEP
from device_ai.dicom.writer import part10_bytes
from tests.dicom.deid_corpus import ct_slice

VRS = ("PN", "DA", "DT", "LO", "SH", "UI")
_STRUCTURAL = {0x00080016, 0x00080018, 0x00020010}
CANDIDATE_TAGS = sorted(
    tag for tag, entry in DicomDictionary.items()
    if entry[0] in VRS and entry[1] == "1" and tag >> 16 not in (0x0000, 0x0002) and tag >> 16 < 0xFFFA
    and tag not in _STRUCTURAL
)
SEQUENCE_TAGS = (0x00400275, 0x00081110, 0x0040A730, 0x00081250)  # request, referenced study, content, related series
SECRET_A = b"a" * 32
SECRET_B = b"b" * 32
_alnum = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz", min_size=7, max_size=12)


@st.composite
def value_for(draw: st.DrawFn, vr: str) -> str:
    if vr == "PN":
        return f"{draw(_alnum)}^{draw(_alnum)}"
    if vr == "DA":
        return draw(st.dates(min_value=__import__("datetime").date(1901, 1, 1))).strftime("%Y%m%d")
    if vr == "DT":
        return draw(st.datetimes(min_value=__import__("datetime").datetime(1901, 1, 1))).strftime("%Y%m%d%H%M%S")
    if vr == "UI":
        return "1.2.999." + ".".join(str(draw(st.integers(1, 10**9))) for _ in range(3))
    return draw(_alnum)[: 16 if vr == "SH" else 64]


@st.composite
def generated(draw: st.DrawFn) -> tuple[Dataset, list[tuple[int, str, bool]]]:
    """A CT instance with random PN/DA/DT/LO/SH/UI attributes, some nested in a sequence."""
    ds = ct_slice(0)
    planted: list[tuple[int, str, bool]] = []
    tags = draw(st.lists(st.sampled_from(CANDIDATE_TAGS), min_size=3, max_size=25, unique=True))
    nested_item = Dataset()
    for tag in tags:
        vr = DicomDictionary[tag][0]
        value = draw(value_for(vr))
        nested = draw(st.booleans())
        (nested_item if nested else ds).add_new(tag, vr, value)
        planted.append((tag, value, nested))
    if len(nested_item):
        ds.add_new(draw(st.sampled_from(SEQUENCE_TAGS)), "SQ", Sequence([nested_item]))
    return pydicom.dcmread(io.BytesIO(part10_bytes(ds))), planted


def _on_keep_list(tag: int) -> bool:
    """Kept by definition under the Basic Profile: a K row, or a technical text attribute
    outside the table (``values.TEXT_KEEP``). Coded text and code-set versions are kept only
    inside a public code item, which a planted top-level value never is."""
    row = load_rule_table().lookup(tag)
    if row is not None:
        return effective_action(row, parse_options([])) == "K"
    return DicomDictionary[tag][4] in TEXT_KEEP


DEVICE_MARKING = (0x00120062, 0x00120063, 0x00120064)  # Patient Identity Removed, De-identification Method (+ Code Seq.)


def _without_device_marking(out: Dataset) -> Dataset:
    copy = pydicom.dcmread(io.BytesIO(part10_bytes(out)))
    for tag in DEVICE_MARKING:
        if tag in copy:
            del copy[tag]
    return copy


def _run(ds: Dataset, secret: bytes) -> tuple[Dataset, bytes]:
    out, data, _, leaks = Deidentifier(RunConfig(secret=secret)).deidentify(ds)
    assert leaks == []
    return out, data


def _accession_current() -> tuple[Dataset, list[tuple[int, str, bool]]]:
    """The example that made this test flaky (issue 16): Accession Number ``current``, a word
    the device writes itself into De-identification Method (``PS3.15 current@...``)."""
    ds = ct_slice(0)
    ds.AccessionNumber = "current"
    return pydicom.dcmread(io.BytesIO(part10_bytes(ds))), [(0x00080050, "current", False)]


@pytest.mark.req("SRS-051", "SRS-058", "SRS-113")
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(generated())
@example(_accession_current())
def test_no_value_outside_the_keep_list_survives(case: tuple[Dataset, list]) -> None:
    ds, planted = case
    out, _ = _run(ds, SECRET_A)
    # Searched without the marking the device writes itself: its method text ("PS3.15
    # current@2024-09-19 ...") holds planted words such as "current" by chance. The self-check
    # (``leaks == []`` in _run) exempts what the device wrote, so it no longer fails on them.
    data = part10_bytes(_without_device_marking(out))
    kept_values = {value for tag, value, _ in planted if _on_keep_list(tag)}
    survivors = [(f"{tag:08X}", value) for tag, value, _ in planted
                 if value.encode() in data and not _on_keep_list(tag) and value not in kept_values]
    assert survivors == []


@pytest.mark.req("SRS-053", "SRS-054")
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(generated())
def test_same_input_and_secret_same_output_other_secret_other_pseudonyms(case: tuple[Dataset, list]) -> None:
    ds, _ = case
    first, first_bytes = _run(ds, SECRET_A)
    again, again_bytes = _run(ds, SECRET_A)
    other, _ = _run(ds, SECRET_B)
    assert first_bytes == again_bytes
    assert other.PatientID != first.PatientID
    assert str(other.PatientName) != str(first.PatientName)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert getattr(other, keyword) != getattr(first, keyword)
        assert getattr(first, keyword).startswith("2.25.")
