"""Shifting DA and DT values by whole days (PS3.15 E.3.6, Modified Dates).

Only the date part moves; times of day, fractions and UTC offsets are kept, so "date and time
shifted together" holds for DA+TM pairs and for DT alike and every interval survives. Values
that are not valid dates (PS3.5 6.2: DA is YYYYMMDD, DT YYYY[MM[DD[...]]]) cannot be shifted
safely and are reported as such, so the caller removes them instead of keeping them.
"""

from __future__ import annotations

import datetime as dt


class UnshiftableDate(ValueError):
    """The value is not a DICOM date the shifter understands."""


def shift_da(value: str, days: int) -> str:
    """``YYYYMMDD`` moved back by ``days``; a DA range ``A-B`` shifts both ends."""
    value = value.strip()
    if "-" in value:
        return "-".join(shift_da(part, days) if part else "" for part in value.split("-"))
    try:
        day = dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise UnshiftableDate(f"not a DA value: {value!r}") from exc
    shifted = day - dt.timedelta(days=days)
    if shifted.year < 1:
        raise UnshiftableDate(f"date {value!r} would move before year 1")
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"


def shift_dt(value: str, days: int) -> str:
    """A DT value with its date part moved back by ``days``; precision and UTC offset kept."""
    text = value.strip()
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits >= 8:
        return shift_da(text[:8], days) + text[8:]
    if digits in (4, 6):  # year or year-month precision: shift from its first day
        return shift_da(text[:digits] + "0101"[: 8 - digits], days)[:digits] + text[digits:]
    raise UnshiftableDate(f"not a DT value: {value!r}")
