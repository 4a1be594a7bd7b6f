"""Burned-in text: which instances may carry identity in their pixels, and the Clean Pixel
Data option (PS3.15 E.1.1, E.3.1).

Header rules cannot see pixels, so an instance that may carry burned-in text is quarantined
with a reason, unless the Clean Pixel Data option is selected AND a configured rule (regions
to blank, matched on the header: manufacturer, model, size, ...) covers it. Only then are the
regions blanked and Burned In Annotation set to NO; pixel cleaning that did not happen is
never claimed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from device_ai.errors import ConfigError

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"   # SC and multi-frame SC image storage
ENCAPSULATED_DOCUMENT_PREFIX = "1.2.840.10008.5.1.4.1.1.104"  # PDF, CDA, STL, OBJ, MTL
# Modalities whose images commonly carry burned-in demographics (screen captures, video,
# ultrasound, endoscopy, photographs).
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "XC", "ES", "GM", "SM", "OT", "DOC", "VL", "OP", "EPS"})


def burned_in_reason(ds: Dataset) -> str | None:
    """Why this instance may carry burned-in identity, or ``None`` when it cannot."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(ENCAPSULATED_DOCUMENT_PREFIX):
        return "encapsulated document: its content cannot be de-identified by header rules"
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return None
    element = ds.get(0x00280301)  # the element (a keyword would give its value)
    if element is not None and not _empty(element.value):
        # Only a single CS value YES or NO says anything; YES\NO, an OB or UN encoding, or any
        # other value is ambiguous, and an ambiguous answer about burned-in identity is a YES.
        value = element.value
        if element.VR != "CS" or not isinstance(value, str) or element.VM != 1:
            return "Burned In Annotation (0028,0301) is not a single CS value YES or NO"
        annotation = value.strip().upper()
        if annotation == "YES":
            return "Burned In Annotation (0028,0301) is YES"
        if annotation == "NO":
            return None
        return "Burned In Annotation (0028,0301) is neither YES nor NO"
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary capture without Burned In Annotation NO"
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in BURNED_IN_MODALITIES:
        return f"modality {modality} often carries burned-in text and Burned In Annotation is not NO"
    # ImageType SECONDARY alone is not a reason: reformats and other derived CT/MR images
    # carry none; screen captures come as Secondary Capture, caught above.
    return None


def _empty(value: object) -> bool:
    return value is None or value == "" or value == b"" or (isinstance(value, list | tuple) and not value)


@dataclass(frozen=True)
class PixelRule:
    """Regions to blank (x0, y0, x1, y1, pixel coordinates, end exclusive) for matching images."""

    name: str
    match: tuple[tuple[str, str], ...]
    regions: tuple[tuple[int, int, int, int], ...]

    def matches(self, ds: Dataset) -> bool:
        return all(str(ds.get(keyword, "")).strip() == value for keyword, value in self.match)


def load_pixel_rules(path: Path) -> tuple[PixelRule, ...]:
    """Rules from a JSON file: ``[{"name", "match": {"Manufacturer": ..., "Rows": "480"}, "regions": [[x0,y0,x1,y1]]}]``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rules = tuple(
            PixelRule(
                name=str(rule["name"]),
                match=tuple(sorted((str(k), str(v)) for k, v in rule["match"].items())),
                regions=tuple(tuple(int(c) for c in region) for region in rule["regions"]),  # type: ignore[misc]
            )
            for rule in data
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"pixel cleaning rules {path} are not readable: {exc}",
                          hint='give a JSON list of {"name", "match": {...}, "regions": [[x0, y0, x1, y1]]}') from exc
    for rule in rules:
        if not rule.match or any(len(r) != 4 or r[0] >= r[2] or r[1] >= r[3] for r in rule.regions):
            raise ConfigError(f"pixel cleaning rule {rule.name!r} needs a match and regions x0<x1, y0<y1",
                              hint="fix the rules file")
    return rules


def clean_pixels(ds: Dataset, rules: tuple[PixelRule, ...]) -> str | None:
    """Blank the regions of the first matching rule; returns its name, or ``None`` when no
    rule matches or the pixel data is compressed (then the caller quarantines)."""
    rule = next((r for r in rules if r.matches(ds)), None)
    if rule is None or ds.file_meta.TransferSyntaxUID.is_compressed:
        return None
    pixels = ds.pixel_array.copy()
    frames = pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[np.newaxis]
    for x0, y0, x1, y1 in rule.regions:
        frames[:, y0:y1, x0:x1, ...] = 0
    ds.PixelData = frames.reshape(pixels.shape).tobytes()
    return rule.name
