"""The PS3.15 Annex E profile and options a de-identification run can select.

The Basic Application Level Confidentiality Profile (E.2) always applies; the options of E.3
are selected by name on top of it. Each member carries its command-line name, its section of
PS3.15 Annex E, its code and code meaning in CID 7050 "De-identification Method" (written into
De-identification Method Code Sequence (0012,0064)) and, for the ten options that are columns of
Table E.1-1, the column key of the rule table (``data/table_e1_1.json``). Clean Pixel Data and
Clean Recognizable Visual Features act on pixel data and have no column.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from device_ai.errors import DeidentificationConfigError


class Option(Enum):
    """A selection of PS3.15 Annex E: the Basic Profile or one of its options."""

    #                                   cli name,                            section,  CID 7050, column
    BASIC = ("basic", "E.2", "113100", "Basic Application Confidentiality Profile", None)
    CLEAN_PIXEL_DATA = ("clean-pixel-data", "E.3.1", "113101", "Clean Pixel Data Option", None)
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = (
        "clean-recognizable-visual-features", "E.3.2", "113102", "Clean Recognizable Visual Features Option", None)
    CLEAN_GRAPHICS = ("clean-graphics", "E.3.3", "113103", "Clean Graphics Option", "clean_graphics")
    CLEAN_STRUCTURED_CONTENT = (
        "clean-structured-content", "E.3.4", "113104", "Clean Structured Content Option", "clean_structured_content")
    CLEAN_DESCRIPTORS = ("clean-descriptors", "E.3.5", "113105", "Clean Descriptors Option", "clean_descriptors")
    RETAIN_LONG_FULL_DATES = (
        "retain-long-full-dates", "E.3.6", "113106",
        "Retain Longitudinal Temporal Information Full Dates Option", "retain_long_full_dates")
    RETAIN_LONG_MODIFIED_DATES = (
        "retain-long-modified-dates", "E.3.6", "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option", "retain_long_modified_dates")
    RETAIN_PATIENT_CHARACTERISTICS = (
        "retain-patient-characteristics", "E.3.7", "113108", "Retain Patient Characteristics Option",
        "retain_patient_characteristics")
    RETAIN_DEVICE_IDENTITY = (
        "retain-device-identity", "E.3.8", "113109", "Retain Device Identity Option", "retain_device_identity")
    RETAIN_UIDS = ("retain-uids", "E.3.9", "113110", "Retain UIDs Option", "retain_uids")
    RETAIN_SAFE_PRIVATE = (
        "retain-safe-private", "E.3.10", "113111", "Retain Safe Private Option", "retain_safe_private")
    RETAIN_INSTITUTION_IDENTITY = (
        "retain-institution-identity", "E.3.11", "113112", "Retain Institution Identity Option",
        "retain_institution_identity")

    def __init__(self, cli_name: str, section: str, code: str, meaning: str, column: str | None) -> None:
        self.cli_name = cli_name
        self.section = section
        self.code = code
        self.meaning = meaning
        self.column = column

    @property
    def scheme(self) -> str:
        """Coding scheme of :attr:`code` (CID 7050 codes are DICOM's own)."""
        return "DCM"


# The two Retain Longitudinal Temporal Information options exclude each other (PS3.15 E.3.6).
MUTUALLY_EXCLUSIVE: tuple[frozenset[Option], ...] = (
    frozenset({Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES}),
)
BY_CLI_NAME: dict[str, Option] = {option.cli_name: option for option in Option}
# The ten options that are columns of Table E.1-1, in the order of the table.
TABLE_OPTIONS: tuple[Option, ...] = (
    Option.RETAIN_SAFE_PRIVATE,
    Option.RETAIN_UIDS,
    Option.RETAIN_DEVICE_IDENTITY,
    Option.RETAIN_INSTITUTION_IDENTITY,
    Option.RETAIN_PATIENT_CHARACTERISTICS,
    Option.RETAIN_LONG_FULL_DATES,
    Option.RETAIN_LONG_MODIFIED_DATES,
    Option.CLEAN_DESCRIPTORS,
    Option.CLEAN_STRUCTURED_CONTENT,
    Option.CLEAN_GRAPHICS,
)


def parse_options(names: Iterable[str]) -> frozenset[Option]:
    """The selection named by ``names`` (command-line names such as ``retain-uids``).

    Names are matched without regard to case or surrounding blanks; ``basic`` may be given
    but need not be, because the Basic Profile always applies: the result always holds
    :attr:`Option.BASIC`. Raises :class:`DeidentificationConfigError` for a name that is not
    an option and for both Retain Longitudinal Temporal Information options together.
    """
    selected = {Option.BASIC}
    unknown: list[str] = []
    for name in names:
        option = BY_CLI_NAME.get(str(name).strip().lower())
        if option is None:
            unknown.append(str(name))
        else:
            selected.add(option)
    valid = ", ".join(option.cli_name for option in Option)
    if unknown:
        raise DeidentificationConfigError(
            f"unknown de-identification option(s): {', '.join(repr(name) for name in unknown)}",
            hint=f"choose from: {valid}",
        )
    for group in MUTUALLY_EXCLUSIVE:
        if group <= selected:
            names_in_group = " and ".join(sorted(option.cli_name for option in group))
            raise DeidentificationConfigError(
                f"options {names_in_group} exclude each other (PS3.15 E.3.6)",
                hint="select at most one of them",
            )
    return frozenset(selected)
