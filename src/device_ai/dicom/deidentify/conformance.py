"""The de-identification conformance statement, generated from the rule table.

Shaped after PS3.2 Annex N.11.2.6 "Attribute Confidentiality Details": Table N.11-6
"De-identified Elements and Actions" (the action per attribute under the Basic Profile and
each option, whether it is encrypted, comments), the scope of referential integrity, and the
methods the standard asks a conformance statement to describe (E.3.6: "The manner of date
modification shall be described in the Conformance Statement").

    python -m device_ai.dicom.deidentify.conformance --out docs/deidentification-conformance.md

A test regenerates the committed file and compares, so it cannot go stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

from device_ai.dicom.deidentify.coding_schemes import public_designators
from device_ai.dicom.deidentify.options import TABLE_OPTIONS, Option
from device_ai.dicom.deidentify.rules import ACTION_CODES, OPTION_COLUMNS, RuleTable, Row, load_rule_table

# Short column headings for Table N.11-6 (the legend below the table spells them out).
ABBREVIATIONS: dict[Option, str] = {
    Option.RETAIN_SAFE_PRIVATE: "RSP",
    Option.RETAIN_UIDS: "RU",
    Option.RETAIN_DEVICE_IDENTITY: "RDI",
    Option.RETAIN_INSTITUTION_IDENTITY: "RII",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "RPC",
    Option.RETAIN_LONG_FULL_DATES: "RLFD",
    Option.RETAIN_LONG_MODIFIED_DATES: "RLMD",
    Option.CLEAN_DESCRIPTORS: "CD",
    Option.CLEAN_STRUCTURED_CONTENT: "CSC",
    Option.CLEAN_GRAPHICS: "CG",
}

ACTION_MEANINGS: dict[str, str] = {
    "D": "replace with a non-zero length value that may be a dummy value and consistent with the VR",
    "Z": "replace with a zero length value, or a non-zero length value that may be a dummy value "
         "and consistent with the VR",
    "X": "remove",
    "K": "keep (unchanged for non-sequence attributes, cleaned for sequences)",
    "C": "clean, that is replace with values of similar meaning known not to contain identifying "
         "information and consistent with the VR",
    "U": "replace with a non-zero length UID that is internally consistent within a set of instances",
    "Z/D": "Z unless D is required to maintain IOD conformance (Type 2 versus Type 1)",
    "X/Z": "X unless Z is required to maintain IOD conformance (Type 3 versus Type 2)",
    "X/D": "X unless D is required to maintain IOD conformance (Type 3 versus Type 1)",
    "X/Z/D": "X unless Z or D is required to maintain IOD conformance (Type 3 versus Type 2 versus Type 1)",
    "X/Z/U*": "X unless Z or replacement of contained instance UIDs (U) is required to maintain IOD "
              "conformance (Type 3 versus Type 2 versus Type 1 sequences containing UID references)",
}

PATIENT_IDENTITY_COMMENT = "keyed pseudonym of the Patient ID (see Patient identity)"
ROW_COMMENTS: dict[str, str] = {
    "(0010,0010)": PATIENT_IDENTITY_COMMENT,
    "(0010,0020)": PATIENT_IDENTITY_COMMENT,
    "private": "see Private attributes",
    "(50xx,xxxx)": "even groups 5000-50FF, any element",
    "(60xx,3000)": "even groups 6000-60FF",
    "(60xx,4000)": "even groups 6000-60FF",
}

METHODS = """\
## Profile and options

The Basic Application Level Confidentiality Profile (PS3.15 E.2) always applies. The options
below are selected by name (`device-ai anonymize --option NAME`); each one used is recorded in
De-identification Method Code Sequence (0012,0064) with its CID 7050 code, after 113100.
Retain Longitudinal Temporal Information with Full Dates and with Modified Dates exclude each
other (E.3.6); selecting both is refused (error DAI-110), as is an unknown option name.

{options_table}

"A requirement for an Option, when implemented, overrides any requirement for the underlying
Profile" (PS3.15 E.1.1): an attribute takes the Basic Profile action unless a selected option
has an entry for it in Table E.1-1. When two selected options have different entries for the
same attribute, K (keep) wins over C (clean), because an option that retains an attribute does
so by its definition, with one exception: Modified Dates (C) wins for the dates and times it
modifies. In the table of this edition two options disagree only on dates and times: the two
Retain Longitudinal options (K with Full Dates, C with Modified Dates), which cannot be
selected together, and Retain Device Identity (K) against Modified Dates (C) on the device
dates and times listed below; with both of these options selected those are shifted like every
other date, because a calibration or installation date kept unshifted next to shifted exam
dates would disclose the patient's offset.

{device_dates}

## Action codes (PS3.15 Table E.1-1a)

{actions_table}

## Compound actions

X/Z, X/D, Z/D, X/Z/D and X/Z/U* are resolved for each attribute by its Type *in the IOD of the
instance being processed*, at the sequence path where it occurs, as given by the IOD, module and
attribute tables of PS3.3 that ship inside highdicom (`highdicom/_standard`); a conditional Type
(1C, 2C) counts as its base Type because the attribute is present. Type 1 takes D; Type 2 takes
Z (D for X/D); Type 3, an attribute the IOD does not define, or an unknown SOP Class takes X (Z
for Z/D). X/Z/U* (Referenced Image Sequence, Source Image Sequence) always takes U: the
sequence is kept and every instance UID it contains is replaced as for U, so references between
the de-identified instances (a segmentation's source images, a derived image's sources, the
Common Instance Reference module) keep resolving and nothing of the original UIDs is disclosed. Where an IOD uses an attribute in several modules the strictest Type wins. The
de-identified instance therefore stays a valid instance of its IOD.

## Dummy values (action D)

A D value is a fixed, non-identifying value valid for the attribute's VR (for example a fixed
code string, number, date or person name); it never derives from the original value. A D on a
sequence (for example Content Sequence, Person Identification Code Sequence, Verifying Observer
Sequence under the Basic Profile) replaces the sequence by one dummy item: its first item with
every text, name and coded value in it replaced by a dummy or removed (no keep-list applies
inside it, see Coded text) and its UIDs replaced as for U; the other items are removed.

## Coded text

Code Value, Code Meaning and the other coded text of the Code Sequence Macro (Coding Scheme
Designator and Version, Long and URN Code Value, Context UID, Mapping Resource Name) and of
Coding Scheme Identification Sequence items are kept only inside a real code item (a Code Value,
Long Code Value or URN Code Value together with a Coding Scheme Designator) of a public coding
scheme, listed in PS3.16 Table 8-1 ({schemes} designators, among them DCM, SCT, SRT, LN, UCUM,
FMA, RADLEX, NCIt, MDC and UMLS). Private and local schemes (designators beginning with 99,
"L", "LOCAL", any designator not in Table 8-1, and NPI, whose codes identify persons) can hold
anything, so their coded text is treated as other free text outside the table (X/Z/D by the
attribute's Type: replaced by a dummy or removed). Inside the items of a sequence whose action
is D, X, Z or X/Z/U* nothing is kept by a keep-list, coded or not: X removes and Z empties the
sequence, D keeps one dummy item, and X/Z/U* keeps its items only for the instance UIDs they
reference (replaced as for U), any coded purpose or text in them being replaced or removed.

## Cleaning (action C)

C (Clean Descriptors, Clean Structured Content, Clean Graphics, and the C entries of Retain
Device Identity, Retain Patient Characteristics and Retain Safe Private) is applied by VR. Text
and person names: every identifying value of the instance itself is removed from the text, as
whole words, case-insensitive and whatever separates the parts of a name: every person name,
the whole name and each family, given and middle name of two characters or more (so "CT for
DOE^JOHN" and "Lee Kim" lose the names), IDs, addresses, institution and station values, dates
in the usual renderings (19610704, 1961-07-04, 04.07.1961, 07/04/1961 ...) and UIDs; a value
of 8 letters and digits or more is removed inside longer words too. The self-check then verifies
independently that none of these values is left anywhere in the output. Dates: shifted as described
under Dates and times when Modified Dates is selected, otherwise removed. Times of day: kept.
UIDs: replaced as for U. Binary values (overlay and curve data) cannot be cleaned by header
rules and are removed instead (never claimed clean). Numbers and code strings are kept. A
sequence is kept and its items are processed by the same rules.

## Self-check

Every output file is checked before it is kept, by a walk of the input and of the re-read output
written independently of the engine (it uses none of the engine's keep-lists; shared decision
vectors check that both decide alike). Searched in every element of the output, kept ones
included: the identifiers of the patient, the study and persons (person names and their parts
of two characters or more, dates in the usual renderings, UIDs other than the standard's, and
the values of the Table E.1-1 text attributes that neither Clean Descriptors nor Retain Device
Identity nor Retain Institution Identity lists, such as IDs, accession numbers and addresses).
Searched in the output elements the profile does not keep: text removed for safety that names
no one (descriptions, device, station and institution text, private and file meta text), so a
removed Series Description "Scout" recurring in the kept Scan Options "SCOUT MODE" is not taken
for a leak. Values are compared as whole words after normalisation (case, separators, Unicode
compatibility forms); a value of 8 letters and digits or more also inside longer words but never
inside a UID or other dotted number (a UID kept by Retain UIDs may hold its creation date), UIDs
as whole values only; one part of a person name is not searched in the equipment identity
(Manufacturer, Manufacturer's Model Name, the Retain Device Identity attributes), where vendor
and product names match surnames by coincidence (GE), the whole name is; all-digit values of fewer than 5 digits and other values of fewer than 3
letters and digits (name parts excepted) are not searched on their own. The search list comes
from the input alone and is never reduced by what the output keeps. The output is searched
after decompression (deflated data is inflated), in its file meta and every element before and
after Pixel Data at any depth, private and binary ones included (binary values for values of 4
letters and digits or more), in every Specific Character Set declared and in UTF-8, Latin-1,
UTF-16 and UTF-32; not searched are the pixel data itself (burned-in text is handled by
quarantine) and binary numbers. Values the device wrote (pseudonyms, keyed UIDs, shifted dates,
dummies, the de-identification marking, its implementation identity) are exempt, so
de-identifying the device's own output again is not a leak. A file with a hit is not published.

## UID replacement (action U)

Every UID that the rules replace (action U, U within X/Z/U*, and UI attributes outside the
table, except SOP Class, Transfer Syntax and other well-known UIDs of the standard) becomes
`2.25.` followed by the first 128 bits of HMAC-SHA256(site secret, original UID) written as a
decimal integer (at most 39 digits, at most 44 characters; PS3.5 B.2). The site secret is a
random key created on first use in the device key store; it never appears in outputs, reports
or logs. The same original UID and secret give the same replacement in every file and every
run, so every reference (Referenced SOP Instance UID, Frame of Reference UID, Series and Study
Instance UID, nested or not) still resolves after de-identification. A keyed hash, unlike a
plain hash, cannot be recomputed by someone who guesses the original UID (E.1.1).

## Patient identity

Patient ID (0010,0020) becomes a keyed pseudonym of the original Patient ID (HMAC-SHA256 under
the site secret, written as `DAI-` and 16 hexadecimal digits), and Patient's Name (0010,0010)
becomes a person name made of that pseudonym. Both are non-zero-length values that Z allows
("or a non-zero length value that may be a dummy value"); the same patient gets the same
pseudonym in every file and every run with the same secret.

## Dates and times

Without a Retain Longitudinal option, dates and times take the actions of the table (mostly X,
Z or D) and Longitudinal Temporal Information Modified (0028,0303) is REMOVED. With Retain
Longitudinal Temporal Information with Full Dates (113106) they are kept and (0028,0303) is
UNMODIFIED. With Retain Longitudinal Temporal Information with Modified Dates (113107), every
date of a patient moves back by one keyed per-patient whole-day offset (HMAC-SHA256 of the
original Patient ID under the site secret, between 365 and 3650 days, never zero): the date part
of DA and DT values moves, the time of day, fractions and UTC offsets stay, so a date and its
time move together and every interval between two dates or times of the same patient is
preserved (E.3.6). A value that is not a valid DA or DT is removed rather than kept.
(0028,0303) is MODIFIED.

## Private attributes

Private attributes (odd groups) are removed (Basic Profile X). With Retain Safe Private (E.3.10)
only the private attributes listed as safe in PS3.15 Table E.3.10-1, identified by private
creator, group and element offset, are kept; every other private attribute is removed.
{safe_private}

## Attributes not in Table E.1-1

E.1.1 allows handling attributes by their Value Representation ("the table may not be
sufficient"). An attribute that Table E.1-1 does not list is handled by its VR: UI values are
replaced as for U (kept with Retain UIDs), except UIDs defined by the standard (SOP Classes,
Transfer Syntaxes and the like), which are kept; DA, DT and TM values are treated as X/Z/D (kept
with Full Dates, shifted with Modified Dates), except the versions of code sets; PN values are
treated as X/Z/D; free text (AE, LO, LT, SH, ST, UC, UT, UR) is treated as X/Z/D except a fixed
list of device and technique attributes that carry no identity (outside the items of D, X, Z and
X/Z/U* sequences) and coded text in public code items (see Coded text); the items of any sequence are
processed by the same rules; an attribute of VR UN that the data dictionary does not know is
removed (its content cannot be judged); an attribute the dictionary defines as text, a name, a
date, a time or a UID that carries another VR (a swapped VR, such as a date written as CS or OB)
is treated as X/Z/D, never kept by the VR it carries (a row of Table E.1-1 that an option
cleans, C, is removed when its value carries such a VR); other values (numbers, code strings,
pixel data) are kept.

## Burned-in annotation

An instance that may carry identifying text in its pixel data (Burned In Annotation (0028,0301)
YES, secondary capture, ultrasound and similar modalities, encapsulated documents) is not
written: it is quarantined with the reason. Only when Clean Pixel Data (113101) is selected
and a configured rule covers the instance are the rule's regions blanked, Burned In Annotation
set to NO and 113101 recorded; pixel cleaning that did not happen is never claimed. Clean
Recognizable Visual Features (113102) is not supported and selecting it is refused (error
DAI-110): nothing here removes or distorts faces, and head CT or MR volumes may still allow a
face to be reconstructed.

## Attributes written

Patient Identity Removed (0012,0062) YES; De-identification Method (0012,0063) naming the
profile, options and table edition; De-identification Method Code Sequence (0012,0064) with
113100 and one code per option applied; Longitudinal Temporal Information Modified (0028,0303);
an item of Contributing Equipment Sequence (0018,A001) with Purpose of Reference (109104, DCM,
"De-identifying Equipment") naming this software; a new File Meta Information group and an\nall-zero preamble, nothing of the originals (E.1.1).

## Encryption

Encrypted Attributes Sequence (0400,0500) is not written (the "Encrypted" column is N for
every attribute). An optional crosswalk from original to replacement values, encrypted under a
key of the device key store, can be written for authorised re-identification; it is not part of
the de-identified instances.

## Scope of referential integrity

Replacement values (UIDs, patient pseudonyms, date offsets) depend only on the original value
and the site secret. They are therefore consistent across all files of a run, across runs, and
when the same study is processed more than once, as long as the same site secret is used;
instances de-identified with different secrets do not reference each other.
"""


def _cell(value: str | None) -> str:
    return value if value else ""


def _comment(row: Row) -> str:
    if row.tag in ROW_COMMENTS:
        return ROW_COMMENTS[row.tag]
    if row.basic == "U":
        return "keyed UID"
    if row.basic == "D":
        return "dummy value"
    if "/" in row.basic:
        return "by Type in the IOD"
    return ""


def _options_table() -> str:
    lines = ["| CLI name | PS3.15 | CID 7050 code | Code meaning | Column in Table N.11-6 |",
             "|---|---|---|---|---|"]
    for option in Option:
        column = ABBREVIATIONS.get(option, "Basic" if option is Option.BASIC else "(pixel data, no column)")
        lines.append(f"| `{option.cli_name}` | {option.section} | "
                     f"{option.code} | {option.meaning} | {column} |")
    return "\n".join(lines)


def _actions_table() -> str:
    lines = ["| Code | Meaning |", "|---|---|"]
    lines += [f"| {code} | {ACTION_MEANINGS[code]} |" for code in ACTION_CODES]
    return "\n".join(lines)


def _counts_table(table: RuleTable) -> str:
    columns = ["Basic", *(ABBREVIATIONS[o] for o in TABLE_OPTIONS)]
    counts = [Counter(row.basic for row in table.rows)]
    counts += [Counter(a for row in table.rows if (a := row.option(o.column or ""))) for o in TABLE_OPTIONS]
    codes = [code for code in ACTION_CODES if any(c[code] for c in counts)]
    lines = ["| Action | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for code in codes:
        lines.append(f"| {code} | " + " | ".join(str(c[code]) if c[code] else "" for c in counts) + " |")
    lines.append("| rows | " + " | ".join(str(sum(c.values())) for c in counts) + " |")
    return "\n".join(lines)


def render(table: RuleTable | None = None) -> str:
    """The conformance statement (Markdown) for ``table`` (the shipped table by default)."""
    table = table or load_rule_table()
    assert OPTION_COLUMNS == tuple(o.column for o in TABLE_OPTIONS)
    heading = ["Attribute Name", "Tag", "Basic", *(ABBREVIATIONS[o] for o in TABLE_OPTIONS), "Encrypted", "Comments"]
    rows = ["| " + " | ".join(heading) + " |", "|" + "---|" * len(heading)]
    for row in table.rows:
        cells = [row.name, f"`{row.tag}`", row.basic, *(_cell(row.option(o.column or "")) for o in TABLE_OPTIONS),
                 "N", _comment(row)]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    legend = "; ".join(f"{ABBREVIATIONS[o]} = {o.meaning} ({o.code})" for o in TABLE_OPTIONS)
    parts = [
        "# De-identification conformance statement",
        "",
        "<!-- Generated by `python -m device_ai.dicom.deidentify.conformance --out "
        "docs/deidentification-conformance.md` from the rule table; do not edit by hand. -->",
        "",
        "This statement follows PS3.2 Annex N.11.2.6 \"Attribute Confidentiality Details\" for the",
        "de-identifier of device_ai (`device-ai anonymize`), which conforms to the DICOM PS3.15 Annex E",
        "Basic Application Level Confidentiality Profile with the options listed below.",
        "",
        "## Rule table edition",
        "",
        f"PS3.15 Table E.1-1, edition **{table.edition}**: {len(table.rows)} rows.",
        "",
        _evidence(table),
        "",
        "Number of rows per action in each column:",
        "",
        _counts_table(table),
        "",
        METHODS.format(options_table=_options_table(), actions_table=_actions_table(), safe_private=_safe_private(),
                      device_dates=_device_dates(table), schemes=len(public_designators())).rstrip(),
        "",
        "## De-identified elements and actions (Table N.11-6)",
        "",
        f"Columns after Tag: the action under the Basic Profile, then the action when each option is "
        f"selected (empty: the option leaves the Basic Profile action): {legend}.",
        "",
        *rows,
        "",
    ]
    return "\n".join(parts)


def _evidence(table: RuleTable) -> str:
    return "\n\n".join(text for text in (table.edition_evidence, f"Source: {table.source}" if table.source else "")
                       if text)


def _device_dates(table: RuleTable) -> str:
    rows = [row for row in table.rows
            if row.option("retain_device_identity") == "K" and row.option("retain_long_modified_dates") == "C"]
    return "\n".join(f"- {row.name} {row.tag}" for row in rows)


def _safe_private() -> str:
    """What the shipped Table E.3.10-1 holds (the statement must not promise more)."""
    resource = resources.files("device_ai.dicom.deidentify") / "data" / "safe_private.json"
    if not resource.is_file():
        return ("This release ships no copy of Table E.3.10-1, so with Retain Safe Private no private "
                "attribute is kept.")
    data = json.loads(resource.read_text(encoding="utf-8"))
    return (f"The shipped copy of Table E.3.10-1 is that of PS3.15 {data.get('edition', '(edition not recorded)')}: "
            f"{len(data['rows'])} private attributes of {len({row['creator'] for row in data['rows']})} private "
            "creators. The standard calls it a sample whose safety the vendors do not guarantee.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the de-identification conformance statement.")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = render()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
