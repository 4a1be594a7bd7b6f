"""The de-identification rule table (PS3.15 Table E.1-1), the options and the conformance statement."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from pydicom.sr._cid_dict import cid_concepts
from pydicom.sr.codedict import codes

from device_ai.dicom.deidentify import conformance
from device_ai.dicom.deidentify.options import BY_CLI_NAME, TABLE_OPTIONS, Option, parse_options
from device_ai.dicom.deidentify.rules import (
    ACTION_CODES,
    OPTION_COLUMNS,
    OPTION_VALUES,
    Row,
    RuleTable,
    effective_action,
    load_rule_table,
)
from device_ai.errors import ConfigError, DeidentificationConfigError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.req("SRS-050")


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return load_rule_table()


@pytest.fixture(scope="module")
def raw() -> dict:
    resource = resources.files("device_ai.dicom.deidentify") / "data" / "table_e1_1.json"
    return json.loads(resource.read_text(encoding="utf-8"))


# -- the data ---------------------------------------------------------------------------

def test_edition_and_row_count_are_the_recorded_ones(table: RuleTable, raw: dict) -> None:
    assert table.edition == raw["edition"] == "current@2024-09-19"
    assert "later than 2024b" in table.edition_evidence and "earlier than 2026c" in table.edition_evidence
    assert len(table.rows) == len(raw["rows"]) == 623
    assert len({row.tag for row in table.rows}) == 623


def test_counts_per_column_are_pinned(table: RuleTable) -> None:
    """Counts of the recorded edition: the 2024b counts (reference dicom.md 2.2) plus one X row
    ((0010,2161) Ethnic Group Code Sequence) and one U row ((300A,0054) Table Top Position
    Alignment UID), which is how this edition differs from 2024b."""
    assert Counter(row.basic for row in table.rows) == {
        "X": 385, "D": 92, "U": 55, "Z": 42, "X/D": 22, "X/Z": 11, "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2}
    options = {column: Counter(a for row in table.rows if (a := row.option(column))) for column in OPTION_COLUMNS}
    assert options == {
        "retain_safe_private": {"C": 1},
        "retain_uids": {"K": 60},
        "retain_device_identity": {"K": 46, "C": 11},
        "retain_institution_identity": {"K": 10},
        "retain_patient_characteristics": {"K": 10, "C": 4},
        "retain_long_full_dates": {"K": 165},
        "retain_long_modified_dates": {"C": 165},
        "clean_descriptors": {"C": 125},
        "clean_structured_content": {"C": 3},
        "clean_graphics": {"C": 4},
    }


def test_every_action_code_is_one_of_the_eleven_of_table_e1_1a(raw: dict) -> None:
    assert len(ACTION_CODES) == 11
    assert {row["basic"] for row in raw["rows"]} <= set(ACTION_CODES)


def test_every_option_value_is_valid_for_its_column(raw: dict) -> None:
    assert raw["columns"] == ["basic", *OPTION_COLUMNS]
    for row in raw["rows"]:
        assert list(row["options"]) == list(OPTION_COLUMNS), row["tag"]
        for column, value in row["options"].items():
            assert value is None or value in OPTION_VALUES[column], (row["tag"], column, value)
    # Full Dates only keeps and Modified Dates only modifies, on exactly the same rows (E.3.6).
    full = {row["tag"] for row in raw["rows"] if row["options"]["retain_long_full_dates"]}
    modified = {row["tag"] for row in raw["rows"] if row["options"]["retain_long_modified_dates"]}
    assert full == modified


def test_rows_are_well_formed(raw: dict) -> None:
    patterns = {"(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)", "private"}
    seen_patterns = set()
    for row in raw["rows"]:
        if row["tag"] in patterns:
            seen_patterns.add(row["tag"])
            assert row["keyword"] is None
        else:
            assert re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", row["tag"]), row["tag"]
            assert row["keyword"], row["tag"]  # every single-tag row is in pydicom's dictionary
        assert row["name"] and row["in_std_comp_iod"] in (True, False, None)
    assert seen_patterns == patterns


@pytest.mark.parametrize(("tag", "name", "basic", "options"), [
    ("(0010,0010)", "Patient's Name", "Z", {}),
    ("(0010,0020)", "Patient ID", "Z/D", {}),
    ("(0010,0030)", "Patient's Birth Date", "Z", {}),
    ("(0008,0018)", "SOP Instance UID", "U", {"retain_uids": "K"}),
    ("(0020,000D)", "Study Instance UID", "U", {"retain_uids": "K"}),
    ("(0020,0052)", "Frame of Reference UID", "U", {"retain_uids": "K"}),
    ("(0008,0020)", "Study Date", "Z", {"retain_long_full_dates": "K", "retain_long_modified_dates": "C"}),
    ("(0008,0030)", "Study Time", "Z", {"retain_long_full_dates": "K", "retain_long_modified_dates": "C"}),
    ("(0008,0022)", "Acquisition Date", "X/Z", {"retain_long_full_dates": "K", "retain_long_modified_dates": "C"}),
    ("(0018,1000)", "Device Serial Number", "X/Z/D", {"retain_device_identity": "K"}),
    ("(0018,1002)", "Device UID", "U", {"retain_uids": "K", "retain_device_identity": "K"}),
    ("(0008,1010)", "Station Name", "X/Z/D", {"retain_device_identity": "K"}),
    ("(0008,0080)", "Institution Name", "X/Z/D", {"retain_institution_identity": "K"}),
    ("(0008,0081)", "Institution Address", "X", {"retain_institution_identity": "K"}),
    ("(0008,1140)", "Referenced Image Sequence", "X/Z/U*", {"retain_uids": "K"}),
    ("(0008,2112)", "Source Image Sequence", "X/Z/U*", {"retain_uids": "K"}),
    ("(0008,1030)", "Study Description", "X", {"clean_descriptors": "C"}),
    ("(0010,1010)", "Patient's Age", "X", {"retain_patient_characteristics": "K"}),
    ("(0010,0040)", "Patient's Sex", "Z", {"retain_patient_characteristics": "K"}),
    ("(0010,2110)", "Allergies", "X", {"retain_patient_characteristics": "C", "clean_descriptors": "C"}),
    ("(0040,A730)", "Content Sequence", "D", {"clean_structured_content": "C"}),
    ("(0070,0001)", "Graphic Annotation Sequence", "D", {"clean_graphics": "C"}),
    ("(0040,0241)", "Performed Station AE Title", "X", {"retain_device_identity": "C"}),
    ("(0010,2161)", "Ethnic Group Code Sequence", "X", {"retain_patient_characteristics": "K"}),
    ("(300A,0054)", "Table Top Position Alignment UID", "U", {"retain_uids": "K"}),
    ("(50xx,xxxx)", "Curve Data", "X", {"clean_graphics": "C"}),
    ("(60xx,3000)", "Overlay Data", "X", {"clean_graphics": "C"}),
    ("(60xx,4000)", "Overlay Comments", "X", {"clean_graphics": "C"}),
    ("private", "Private Attributes", "X", {"retain_safe_private": "C"}),
])
def test_spot_checks_against_the_standard(table: RuleTable, tag: str, name: str, basic: str,
                                          options: dict[str, str]) -> None:
    row = table.row(tag)
    assert (row.name, row.basic) == (name, basic)
    assert {column: value for column, value in row.options.items() if value} == options


def test_json_is_built_from_the_transcription() -> None:
    """The shipped JSON is exactly what tools/build_deid_table.py makes of tools/data (not edited by hand)."""
    spec = importlib.util.spec_from_file_location("build_deid_table", ROOT / "tools" / "build_deid_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.build()) == module.TARGET.read_text(encoding="utf-8")
    assert module.render(module.build_safe_private()) == module.SAFE_TARGET.read_text(encoding="utf-8")


# -- Table E.3.10-1 ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def safe_private() -> dict:
    resource = resources.files("device_ai.dicom.deidentify") / "data" / "safe_private.json"
    return json.loads(resource.read_text(encoding="utf-8"))


def test_safe_private_table_edition_and_rows(safe_private: dict) -> None:
    assert safe_private["edition"] == "2023b"
    rows = safe_private["rows"]
    assert len(rows) == 479
    assert len({row["creator"] for row in rows}) == 20
    keys = {(row["creator"].upper(), int(row["group"], 16), int(row["element_offset"], 16)) for row in rows}
    assert len(keys) == len(rows)  # no duplicate (creator, group, offset)
    for row in rows:
        group, offset = int(row["group"], 16), int(row["element_offset"], 16)
        assert group % 2 == 1 and 0 <= offset <= 0xFF, row
        assert row["data_element"] == f"({group:04X},xx{offset:02X})"


@pytest.mark.parametrize(("creator", "group", "offset", "vr", "meaning"), [
    ("GEMS_ACQU_01", 0x0019, 0x23, "DS", "Table Speed [mm/rotation]"),
    ("GEMS_PARM_01", 0x0043, 0x27, "SH", 'Scan Pitch Ratio in the form "n.nnn:1"'),
    ("Philips PET Private Group", 0x7053, 0x00, "DS",
     "SUV Factor - Multiplying Stored Pixel Values by Rescale Slope then this factor results in SUVbw in g/l"),
    ("SIEMENS MR HEADER", 0x0019, 0x0C, "IS", "B Value"),
    ("Philips MR Imaging DD 001", 0x2005, 0x0E, "FL", "Scale Slope"),
    ("ELSCINT1", 0x00E1, 0x21, "DS", "DLP"),
    ("SIEMENS SYNGO ULTRA-SOUND TOYON DATA STREAMING", 0x7FD1, 0x11, "OB", "After Payload"),
])
def test_safe_private_spot_checks(safe_private: dict, creator: str, group: int, offset: int, vr: str,
                                  meaning: str) -> None:
    matches = [row for row in safe_private["rows"] if row["creator"] == creator
               and int(row["group"], 16) == group and int(row["element_offset"], 16) == offset]
    assert len(matches) == 1
    assert (matches[0]["vr"], matches[0]["meaning"]) == (vr, meaning)


# -- lookup ------------------------------------------------------------------------------

def test_every_row_is_found_by_lookup(table: RuleTable) -> None:
    representative = {"(50xx,xxxx)": 0x50020030, "(60xx,3000)": 0x60023000, "(60xx,4000)": 0x60024000,
                      "private": 0x00091010}
    for row in table.rows:
        tag = row.value_tag if row.value_tag is not None else representative[row.tag]
        assert table.lookup(tag) is row, row.tag
        assert row.matches(tag)


@pytest.mark.parametrize(("tag", "expected"), [
    (0x00100010, "(0010,0010)"),
    (0x50000000, "(50xx,xxxx)"), (0x50003000, "(50xx,xxxx)"), (0x50FEFFFF, "(50xx,xxxx)"),
    (0x60003000, "(60xx,3000)"), (0x601E3000, "(60xx,3000)"), (0x60FE3000, "(60xx,3000)"),
    (0x60004000, "(60xx,4000)"), (0x60104000, "(60xx,4000)"),
    (0x00091010, "private"), (0x00290010, "private"), (0x50010010, "private"), (0x60013000, "private"),
    (0x60000010, None), (0x60001102, None),  # overlay rows/columns: not in the table
    (0x51000000, None), (0x4FFE0001, None), (0x61003000, None),  # outside the repeating ranges
    (0x00080016, None), (0x7FE00010, None),  # SOP Class UID, Pixel Data
])
def test_lookup_exact_tags_and_patterns(table: RuleTable, tag: int, expected: str | None) -> None:
    row = table.lookup(tag)
    assert (row.tag if row else None) == expected


# -- effective action ----------------------------------------------------------------------

def test_options_override_the_basic_profile(table: RuleTable) -> None:
    study_date = table.row("(0008,0020)")
    assert effective_action(study_date, parse_options([])) == "Z"
    assert effective_action(study_date, parse_options(["retain-long-modified-dates"])) == "C"
    assert effective_action(study_date, parse_options(["retain-long-full-dates"])) == "K"
    assert effective_action(study_date, parse_options(["retain-uids", "clean-descriptors"])) == "Z"
    serial = table.row("(0018,1000)")
    assert effective_action(serial, {Option.BASIC}) == "X/Z/D"
    assert effective_action(serial, {Option.RETAIN_DEVICE_IDENTITY}) == "K"
    assert effective_action(table.row("(0008,1140)"), {Option.RETAIN_UIDS}) == "K"
    assert effective_action(table.row("private"), {Option.RETAIN_SAFE_PRIVATE}) == "C"
    assert effective_action(table.row("(60xx,3000)"), {Option.CLEAN_GRAPHICS}) == "C"


def test_keep_wins_over_clean_when_options_disagree(table: RuleTable) -> None:
    row = Row(tag="(0018,1000)", name="test", keyword=None, in_std_comp_iod=None, basic="X",
              option_actions=(("retain_device_identity", "K"), ("clean_descriptors", "C")))
    assert effective_action(row, {Option.RETAIN_DEVICE_IDENTITY, Option.CLEAN_DESCRIPTORS}) == "K"
    assert effective_action(row, {Option.CLEAN_DESCRIPTORS}) == "C"
    # In the shipped table, options that may be selected together disagree only where Retain
    # Device Identity keeps (K) a device date or time that Modified Dates would shift (C).
    selectable = [o for o in TABLE_OPTIONS if o is not Option.RETAIN_LONG_FULL_DATES]
    disagreements = {}
    for row in table.rows:
        actions = {o: row.option(o.column or "") for o in selectable if row.option(o.column or "")}
        if len(set(actions.values())) > 1:
            disagreements[row.name] = actions
    assert len(disagreements) == 11
    assert "Date of Last Calibration" in disagreements
    for actions in disagreements.values():
        assert actions == {Option.RETAIN_DEVICE_IDENTITY: "K", Option.RETAIN_LONG_MODIFIED_DATES: "C"}
    calibration = table.row("(0018,1200)")
    both = parse_options(["retain-device-identity", "retain-long-modified-dates"])
    assert effective_action(calibration, both) == "C"  # Modified Dates wins for dates
    assert effective_action(calibration, parse_options(["retain-device-identity"])) == "K"
    assert effective_action(calibration, parse_options(["retain-long-modified-dates"])) == "C"



def test_memoised_action_is_the_effective_action_of_every_row_under_every_selection() -> None:
    """``RuleTable.action`` (memoised for speed) answers what ``effective_action`` answers, for
    every row, under each option alone and under combinations, asked twice (the second answer
    comes from the memo), and None for a tag the table does not list."""
    table = RuleTable.from_json(json.loads((resources.files("device_ai.dicom.deidentify") / "data" /
                                            "table_e1_1.json").read_text(encoding="utf-8")))  # a fresh memo
    representative = {"(50xx,xxxx)": 0x50020030, "(60xx,3000)": 0x60023000, "(60xx,4000)": 0x60024000,
                      "private": 0x00091010}
    selections = [parse_options([]), *(frozenset({Option.BASIC, o}) for o in TABLE_OPTIONS),
                  parse_options(["retain-device-identity", "retain-long-modified-dates"]),
                  parse_options(["retain-uids", "clean-descriptors", "retain-safe-private"])]
    for options in selections:
        for _ in range(2):
            for row in table.rows:
                tag = row.value_tag if row.value_tag is not None else representative[row.tag]
                assert table.action(tag, options) == effective_action(row, options), (row.tag, options)
        assert table.action(0x00080016, options) is None  # SOP Class UID: not in the table
    assert table.action(0x00100010, {Option.BASIC}) == effective_action(table.row("(0010,0010)"), {Option.BASIC})


# -- options ----------------------------------------------------------------------------

def test_the_thirteen_selections_and_their_cid_7050_codes() -> None:
    assert len(Option) == 13
    assert [o.code for o in Option] == [str(code) for code in range(113100, 113113)]
    cid7050 = [getattr(codes.DCM, name) for name in cid_concepts[7050]["DCM"]]  # pydicom's copy of CID 7050
    by_code = {concept.value: concept.meaning for concept in cid7050}
    assert set(by_code) == {option.code for option in Option}
    for option in Option:
        assert option.meaning == by_code[option.code], option
        assert option.scheme == "DCM"
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", option.cli_name)
    assert Option.BASIC.meaning == "Basic Application Confidentiality Profile"
    assert Option.CLEAN_PIXEL_DATA.meaning == "Clean Pixel Data Option"
    assert Option.RETAIN_LONG_MODIFIED_DATES.cli_name == "retain-long-modified-dates"
    assert Option.RETAIN_SAFE_PRIVATE.section == "E.3.10"


def test_table_options_are_the_ten_columns() -> None:
    assert tuple(o.column for o in TABLE_OPTIONS) == OPTION_COLUMNS
    assert {o for o in Option if o.column is None} == {
        Option.BASIC, Option.CLEAN_PIXEL_DATA, Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES}
    for option in TABLE_OPTIONS:
        assert option.cli_name == (option.column or "").replace("_", "-")
    assert BY_CLI_NAME["retain-uids"] is Option.RETAIN_UIDS


def test_parse_options() -> None:
    assert parse_options([]) == {Option.BASIC}
    assert parse_options(["basic"]) == {Option.BASIC}
    assert parse_options([" Retain-UIDs ", "clean-descriptors", "retain-uids"]) == {
        Option.BASIC, Option.RETAIN_UIDS, Option.CLEAN_DESCRIPTORS}
    every = [o.cli_name for o in Option if o is not Option.RETAIN_LONG_FULL_DATES]
    assert parse_options(every) == frozenset(Option) - {Option.RETAIN_LONG_FULL_DATES}


def test_parse_options_refuses_unknown_names() -> None:
    with pytest.raises(DeidentificationConfigError) as caught:
        parse_options(["retain-uids", "retain_everything"])
    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.code == "DAI-110" and error.exit_code == 2
    assert "'retain_everything'" in error.message and "retain-uids" not in error.message
    assert error.hint is not None and "retain-long-modified-dates" in error.hint


def test_parse_options_refuses_both_longitudinal_options() -> None:
    with pytest.raises(DeidentificationConfigError, match="exclude each other") as caught:
        parse_options(["retain-long-full-dates", "retain-long-modified-dates"])
    assert caught.value.code == "DAI-110"


# -- validation of the data file -------------------------------------------------------------

def _document(**row_changes: object) -> dict:
    row = {"tag": "(0010,0010)", "name": "Patient's Name", "keyword": "PatientName", "in_std_comp_iod": True,
           "basic": "Z", "options": {column: None for column in OPTION_COLUMNS}}
    row.update(row_changes)
    return {"edition": "test", "rows": [row]}


@pytest.mark.parametrize(("changes", "message"), [
    ({"basic": "Q"}, "not in Table E.1-1a"),
    ({"options": {"retain_uids": "C"}}, "cannot be"),
    ({"options": {"retain_everything": "K"}}, "unknown option column"),
    ({"tag": "(0010,00XX)"}, "neither a tag nor a pattern"),
])
def test_from_json_refuses_invalid_rows(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleTable.from_json(_document(**changes))


def test_from_json_refuses_duplicate_rows() -> None:
    document = _document()
    document["rows"] = document["rows"] * 2
    with pytest.raises(ValueError, match="twice"):
        RuleTable.from_json(document)


# -- conformance statement --------------------------------------------------------------------

@pytest.mark.req("SRS-063")
def test_conformance_statement_is_up_to_date(table: RuleTable) -> None:
    committed = (ROOT / "docs" / "deidentification-conformance.md").read_text(encoding="utf-8")
    assert committed == conformance.render(), (
        "regenerate: python -m device_ai.dicom.deidentify.conformance --out docs/deidentification-conformance.md")
    for row in table.rows:
        assert f"| `{row.tag}` | {row.basic} |" in committed, row.tag
    assert f"edition **{table.edition}**" in committed


@pytest.mark.req("SRS-063")
def test_conformance_main_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "statement.md"
    assert conformance.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == conformance.render()
