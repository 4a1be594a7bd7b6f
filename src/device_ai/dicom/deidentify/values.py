"""What the engine writes in place of a value, by Value Representation (PS3.5 6.2).

D ("replace with a non-zero length value that may be a dummy value and consistent with the
VR", PS3.15 Table E.1-1a) needs a dummy that is valid for the VR, or the output would no
longer be a valid instance. The dummies are fixed and obviously not real.
"""

from __future__ import annotations

DUMMY_TEXT = "DEIDENTIFIED"  # 12 characters: fits AE, SH and CS (16) as well as LO/LT/ST/UT/UC
DUMMY_BY_VR: dict[str, object] = {
    "AE": DUMMY_TEXT, "CS": DUMMY_TEXT, "SH": DUMMY_TEXT, "LO": DUMMY_TEXT, "LT": DUMMY_TEXT,
    "ST": DUMMY_TEXT, "UT": DUMMY_TEXT, "UC": DUMMY_TEXT, "PN": "DEIDENTIFIED^DEIDENTIFIED",
    "UR": "urn:oid:2.25.0",
    "DA": "19000101", "TM": "000000", "DT": "19000101000000",
    "AS": "000D", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
    "OB": b"\0\0", "OW": b"\0\0", "OD": b"\0" * 8, "OF": b"\0" * 4, "OL": b"\0" * 4, "OV": b"\0" * 8,
    "UN": b"\0\0",
}

TEXT_VRS = frozenset({"AE", "LO", "LT", "SH", "ST", "UC", "UT", "UR"})
DATE_VRS = frozenset({"DA", "DT"})

# Text attributes outside Table E.1-1 that are kept: device and technique descriptors that
# carry no identity. Every other free-text attribute outside the table is treated like an
# X/Z/D row (E.1.1: "the table may not be sufficient"), so an unknown text attribute never
# passes through unchecked. Inside an item of a sequence whose action is D, X, Z or X/Z/U*
# nothing of this list is kept either (the item is a dummy or only its references stay).
TEXT_KEEP = frozenset({
    "Manufacturer", "ManufacturerModelName", "ConvolutionKernel", "FilterType", "RescaleType",
    "WindowCenterWidthExplanation", "LUTExplanation", "PositionReferenceIndicator",
    "SegmentLabel", "SegmentAlgorithmName", "ContentLabel", "TransferSyntaxUID",
    "ReceiveCoilName", "TransmitCoilName", "SequenceName",
    "ImplementationVersionName", "SpecificCharacterSet", "TimezoneOffsetFromUTC",
})
# Coded text (PS3.3 8.1-8.8, the Code Sequence Macro, and Coding Scheme Identification
# Sequence items): kept only inside a real code item of a public scheme (``coding_schemes``),
# never in items of D, X, Z or X/Z/U* sequences; elsewhere handled like other free text.
CODED_TEXT = frozenset({
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning", "LongCodeValue",
    "URNCodeValue", "ContextIdentifier", "ContextUID", "MappingResource", "MappingResourceName",
    "CodingSchemeName", "CodingSchemeExternalID", "CodingSchemeURL", "CodingSchemeRegistry",
    "CodingSchemeResponsibleOrganization",
})
# Date attributes outside the table that version code sets rather than events (kept, like
# coded text, only inside a public code item).
DATE_KEEP = frozenset({"ContextGroupVersion", "ContextGroupLocalVersion", "MappingResourceUID"})


def dummy_for(vr: str) -> object:
    """A valid non-empty dummy value for ``vr`` (SQ is handled by the engine)."""
    return DUMMY_BY_VR.get(vr, DUMMY_TEXT)
