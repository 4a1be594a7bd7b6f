"""Writes tests/dicom/vectors/deid_decisions.json: small data sets with hand-written expected
actions (never taken from the engine's output), checked by tests/dicom/test_deid_decisions.py.

    .venv/bin/python tests/dicom/vectors/build_deid_decisions.py
"""
import json
from pathlib import Path
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

def code(value, scheme, meaning, long=False, urn=False):
    item = Dataset()
    if urn:
        item.URNCodeValue = value
    elif long:
        item.LongCodeValue = value
    else:
        item.CodeValue = value
    if scheme is not None:
        item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item

def seq(ds, keyword, *items):
    setattr(ds, keyword, Sequence(list(items)))

vectors = []
def vector(name, ds, expected, options=(), note=""):
    vectors.append({"name": name, "note": note, "options": list(options), "dataset": ds.to_json_dict(),
                    "expected": expected})

A = "(0008,2218)"  # Anatomic Region Sequence, outside Table E.1-1: its items are processed
CV, CSD, CM, LCV, URN = "(0008,0100)", "(0008,0102)", "(0008,0104)", "(0008,0119)", "(0008,0120)"

ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("818981001", "SCT", "Abdomen"))
vector("public SNOMED CT code item in a kept sequence", ds,
       {A: "K", f"{A}[0]/{CV}": "K", f"{A}[0]/{CSD}": "K", f"{A}[0]/{CM}": "K"})
for scheme in ("DCM", "LN", "UCUM", "FMA", "RADLEX", "NCIt"):
    ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("C0001", scheme, "Some concept"))
    vector(f"public scheme {scheme}", ds, {f"{A}[0]/{CM}": "K", f"{A}[0]/{CV}": "K"})
for scheme in ("99FAKE", "99SDM", "L", "LOCAL", "FAKEHOSPCODES"):
    ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("FAKE123", scheme, "FAKE^PATIENT^CODED"))
    vector(f"private or local scheme {scheme}: coded text removed or replaced", ds,
           {f"{A}[0]/{CV}": "D", f"{A}[0]/{CSD}": "D", f"{A}[0]/{CM}": "D"},
           note="coded text outside a public code item is handled as X/Z/D; Code Value, Coding Scheme Designator "
                "and Code Meaning are Type 1 in the CT IOD's Anatomic Region Sequence, so each becomes a dummy (D)")
ds = Dataset(); item = Dataset(); item.CodeMeaning = "FAKE FREE TEXT"; seq(ds, "AnatomicRegionSequence", item)
vector("Code Meaning in a non-code item (no Code Value, no scheme)", ds, {f"{A}[0]/{CM}": "D"})
ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("FAKE123", None, "FAKE TEXT"))
vector("Code Value without Coding Scheme Designator is no code item", ds, {f"{A}[0]/{CV}": "D", f"{A}[0]/{CM}": "D"})
ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("urn:fake:123", None, "FAKE TEXT", urn=True))
vector("URN Code Value without Coding Scheme Designator is no code item", ds, {f"{A}[0]/{URN}": "D", f"{A}[0]/{CM}": "D"})
ds = Dataset(); seq(ds, "AnatomicRegionSequence", code("1234567890123456789", "SCT", "Some concept", long=True))
vector("Long Code Value of a public scheme", ds, {f"{A}[0]/{LCV}": "K", f"{A}[0]/{CM}": "K"})

# X/Z/U*: Referenced Image Sequence keeps its references, nothing of its coded text
R = "(0008,1140)"
ref = Dataset(); ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; ref.ReferencedSOPInstanceUID = "1.2.999.5.6.7"
seq(ref, "PurposeOfReferenceCodeSequence", code("121322", "DCM", "Source image for image processing operation"))
ds = Dataset(); seq(ds, "ReferencedImageSequence", ref)
P = f"{R}[0]/(0040,A170)"
vector("X/Z/U* sequence: UIDs remapped, public coded text inside not kept", ds,
       {R: "U", f"{R}[0]/(0008,1150)": "K", f"{R}[0]/(0008,1155)": "U", P: "K",
        f"{P}[0]/{CV}": "D", f"{P}[0]/{CSD}": "D", f"{P}[0]/{CM}": "D"},
       note="the coded purpose of reference is Type 1 in the CT IOD: replaced by dummies, never kept")
vector("X/Z/U* sequence kept by Retain UIDs: public coded text kept", ds,
       {R: "K", f"{R}[0]/(0008,1155)": "K", f"{P}[0]/{CM}": "K", f"{P}[0]/{CV}": "K"}, options=["retain-uids"])

# D: Person Identification Code Sequence becomes one dummy item
I = "(0040,1101)"
ds = Dataset(); seq(ds, "PersonIdentificationCodeSequence", code("FAKE-BADGE-1", "DCM", "FAKE^OPERATOR"),
                    code("FAKE-BADGE-2", "99FAKE", "FAKE^OTHER"))
vector("D sequence: one dummy item, nothing kept", ds,
       {I: "D", f"{I}[0]/{CV}": "X", f"{I}[0]/{CSD}": "X", f"{I}[0]/{CM}": "X",
        f"{I}[1]/{CV}": "D", f"{I}[1]/{CM}": "D"},
       note="item 0 is processed without keep-lists; item 1 is dropped with the rest of the D sequence")

# Content Sequence: D under Basic, C under Clean Structured Content
C = "(0040,A730)"
content = Dataset(); content.RelationshipType = "CONTAINS"; content.ValueType = "TEXT"
seq(content, "ConceptNameCodeSequence", code("121071", "DCM", "Finding"))
content.TextValue = "FAKE FINDING FOR DOE^JOHN"
ds = Dataset(); seq(ds, "ContentSequence", content)
N = f"{C}[0]/(0040,A043)"
vector("Content Sequence under Basic (D): coded text and text not kept", ds,
       {C: "D", f"{C}[0]/(0040,A010)": "K", f"{N}[0]/{CM}": "X", f"{N}[0]/{CV}": "X", f"{C}[0]/(0040,A160)": "X"})
vector("Content Sequence under Clean Structured Content (C): public concept name kept, text removed", ds,
       {C: "C", f"{N}[0]/{CM}": "K", f"{N}[0]/{CV}": "K", f"{C}[0]/(0040,A160)": "X"},
       options=["clean-structured-content"])

# Institution Code Sequence (X/Z/D), kept by Retain Institution Identity
Q = "(0008,0082)"
ds = Dataset(); seq(ds, "InstitutionCodeSequence", code("FAKE-HOSP", "99FAKE", "Fake General Hospital"),
                    code("123", "DCM", "Some concept"))
vector("Institution Code Sequence kept by an option: private scheme meaning still removed", ds,
       {Q: "K", f"{Q}[0]/{CM}": "X", f"{Q}[0]/{CV}": "X", f"{Q}[1]/{CM}": "K"},
       options=["retain-institution-identity"])
vector("Institution Code Sequence under Basic (X/Z/D, Type 3 in CT): removed", ds, {Q: "X", f"{Q}[0]/{CM}": "X"})

# Coding Scheme Identification Sequence
S = "(0008,0110)"
pub = Dataset(); pub.CodingSchemeDesignator = "SCT"; pub.CodingSchemeName = "SNOMED CT"
priv = Dataset(); priv.CodingSchemeDesignator = "99FAKE"; priv.CodingSchemeName = "Fake General Hospital codes"
priv.CodingSchemeResponsibleOrganization = "Fake General Hospital"
ds = Dataset(); seq(ds, "CodingSchemeIdentificationSequence", pub, priv)
vector("Coding Scheme Identification: public scheme described, private scheme removed", ds,
       {f"{S}[0]/{CSD}": "K", f"{S}[0]/(0008,0115)": "K", f"{S}[1]/{CSD}": "D", f"{S}[1]/(0008,0115)": "X",
        f"{S}[1]/(0008,0116)": "X"})

# technical text kept only outside restricted items
ds = Dataset(); ds.Manufacturer = "Synthetic Scanner Co"; ds.ConvolutionKernel = "B30f"; ds.ScanOptions = "SCOUT MODE"
ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]; ds.SeriesDescription = "Scout"; ds.ProtocolName = "FAKE PROTOCOL"
vector("technical text and code strings kept, descriptors removed", ds,
       {"(0008,0070)": "K", "(0018,1210)": "K", "(0018,0022)": "K", "(0008,0008)": "K", "(0008,103E)": "X",
        "(0018,1030)": "X"})
vector("descriptors cleaned with Clean Descriptors", ds, {"(0008,103E)": "C", "(0018,1030)": "C", "(0008,0070)": "K"},
       options=["clean-descriptors"])
ref = Dataset(); ref.ReferencedSOPInstanceUID = "1.2.999.5.6.8"; ref.Manufacturer = "FAKE VENDOR"
ds = Dataset(); seq(ds, "SourceImageSequence", ref)
vector("technical text inside an X/Z/U* item is not kept", ds,
       {"(0008,2112)": "U", "(0008,2112)[0]/(0008,0070)": "X", "(0008,2112)[0]/(0008,1155)": "U"})

# identity, dates, UIDs
ds = Dataset(); ds.PatientName = "DOE^JOHN"; ds.PatientID = "FAKE-MRN-1"; ds.StudyDate = "20240315"
ds.AccessionNumber = "FAKE-ACC-1"; ds.StudyInstanceUID = "1.2.999.1.1"; ds.PatientSex = "O"
ds.add_new(0x00091010, "LO", "FAKE PRIVATE")
vector("identity, dates and UIDs under Basic", ds,
       {"(0010,0010)": "D", "(0010,0020)": "D", "(0008,0020)": "Z", "(0008,0050)": "Z", "(0020,000D)": "U",
        "(0010,0040)": "Z", "(0009,1010)": "X"})
vector("dates shifted with Modified Dates", ds, {"(0008,0020)": "S", "(0010,0010)": "D"},
       options=["retain-long-modified-dates"])
vector("dates and UIDs kept by their options", ds, {"(0008,0020)": "K", "(0020,000D)": "K"},
       options=["retain-long-full-dates", "retain-uids"])

# a public attribute the dictionary does not know, encoded UN: content cannot be judged
ds = Dataset(); ds.add_new(0x0018FF01, "UN", b"FAKE^DOE^UNKNOWN")
vector("public attribute unknown to the dictionary (UN): removed", ds, {"(0018,FF01)": "X"})

doc = {
    "description": ("De-identification decision vectors (issue 16 item 1): for each small data set (DICOM JSON "
                    "model, PS3.18 F.2) and option selection, the expected action per input element, by tag path "
                    "'(gggg,eeee)[item]/(gggg,eeee)'. Both the engine (its recorded decisions) and the self-check "
                    "(its independent walk, leakcheck.decide) must agree with every vector. The SOP Class is CT "
                    "Image Storage unless a vector says otherwise."),
    "actions": {"K": "kept as is", "C": "text kept, cleaned of identifiers", "X": "removed",
                "Z": "emptied", "D": "dummy value or keyed pseudonym (one dummy item for a sequence)",
                "U": "UIDs replaced by keyed UIDs", "S": "date shifted by the keyed per-patient offset"},
    "self_check_classes": {"K": "K", "C": "C", "X": "P", "Z": "P", "D": "P", "U": "P", "S": "P"},
    "sources": ["PS3.15 Table E.1-1 and E.1-1a", "PS3.16 Table 8-1 (public coding schemes)",
                "PS3.3 8.1-8.8 (Code Sequence Macro)", "HL7 v2 Table 0396 (99*, L: private or local schemes)"],
    "vectors": vectors,
}
with open(Path(__file__).parent / "deid_decisions.json", "w", encoding="utf-8") as f:
    json.dump(doc, f, indent=1, sort_keys=False)
    f.write("\n")
print(len(vectors), "vectors")
