"""The model manifest is the only source of label meaning (DESIGN.md, "Layering"; issue 18):
no module of ``src/device_ai`` compares a label map with a literal value, indexes label names
by a literal, or defines its own organ/lesion value. Label values come from
``ModelManifest.label_by_role``/``label_by_name`` (roles derived from each label's CID 7151
property type) or, for the phantom generator's ground truth, from ``training/labels.py``.

Requirement: SRS-074 (segment codes from the DICOM context groups), the closest existing one:
the codes it fixes are what the roles are derived from. No requirement states the rule itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "device_ai"
# Where label values are defined: the manifest model (roles, lookups) and the phantom
# generator's ground-truth definition that the manifest is built from at release.
EXCLUDED = {"model/package/manifest.py", "training/labels.py"}
# Known remaining literal writes, each with its owner's reason; an entry excuses exactly that
# line and nothing else, and a fixed line simply stops matching.
ALLOWED: dict[tuple[str, str], str] = {}

_LABELISH = r"(?:\w*label\w*|\w*lesion\w*|\w*organ\w*|\w*argmax\([^()]*\)|predicted|prediction|truth|seg|target)"
PATTERNS = {
    "label compared with a literal": re.compile(rf"\b{_LABELISH}\s*(?:==|!=)\s*\d+\b|\b\d+\s*(?:==|!=)\s*{_LABELISH}",
                                                re.IGNORECASE),
    "label name or definition indexed by a literal": re.compile(r"\b\w*(?:label|name)s?\w*\s*\[\s*[1-9]\d*\s*\]",
                                                                re.IGNORECASE),
    "organ/lesion value defined as a literal": re.compile(
        r"^\s*\w*(?:ORGAN|LESION)\w*(?:\s*,\s*\w+)*\s*(?::\s*int\s*)?=\s*\(?\s*\d+(?![.\deE])", re.IGNORECASE),
    "label values listed as literals": re.compile(
        r"\b(?:classes|label_values|labels)\s*(?::[^=]+)?=\s*[(\[]\s*\d+\s*,|\bisin\([^()]*,\s*[(\[]\s*\d+\s*,",
        re.IGNORECASE),
    "label argument given a literal": re.compile(r"\b\w*label\w*\s*(?::\s*int\s*)?=\s*[1-9]\d*\b(?!\s*[.\w])",
                                                 re.IGNORECASE),
    "literal written into a label map": re.compile(r"\b\w*labels?\w*\[[^\]]*\]\s*=\s*[1-9]\d*\s*(?:#.*)?$",
                                                   re.IGNORECASE),
}


def literal_label_uses(text: str) -> list[tuple[int, str, str]]:
    """(line number, what, line) for every line of ``text`` that hard-codes a label value."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        for what, pattern in PATTERNS.items():
            if pattern.search(code):
                found.append((number, what, line.strip()))
                break
    return found


@pytest.mark.req("SRS-074")
def test_no_module_hard_codes_a_label_value() -> None:
    offending = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative in EXCLUDED:
            continue
        for number, what, line in literal_label_uses(path.read_text(encoding="utf-8")):
            if (relative, line) not in ALLOWED:
                offending.append(f"src/device_ai/{relative}:{number}: {what}: {line}")
    assert offending == [], "take label values from the manifest (label_by_role/label_by_name):\n" + "\n".join(offending)


@pytest.mark.req("SRS-074")
@pytest.mark.parametrize("snippet", [
    "lesion = labels == 2",
    "mask = labels != 1",
    "area = (logits[0].argmax(axis=0) == 2).sum()",
    "organ_dice = dice(case.labels == 1, predicted == 1)",
    "if 2 == label:",
    "volumes = {names[1]: a, names[2]: b}",
    "ORGAN, LESION = 1, 2",
    "LESION = 2",
    "def f(label: int = 2): pass",
    "labels[mask] = 1",
    "def soft_dice_loss(logits, target, classes: tuple[int, ...] = (1, 2)):",
    "hit = np.isin(pred, [1, 2])",
    "organ = seg == 1",
    "t = (target == 2).float()",
], ids=lambda s: s)
def test_the_check_flags_literal_label_values(snippet: str) -> None:
    """Negative control: each of these hard-codes a label value and must be reported."""
    assert literal_label_uses(snippet), snippet


@pytest.mark.req("SRS-074")
@pytest.mark.parametrize("snippet", [
    "lesion = labels == manifest.label_value(LabelRole.LESION)",
    "mask = labels == label.value",
    "if n == 1:",
    "if len(lesions) == 1:",
    "if group % 2 == 1:",
    "assert labels.ndim == 3",
    "labels = np.zeros(shape, np.uint8)",
    "# a comment saying labels == 2 is not code",
    "first = names[0]",
    "LESION_GAP_MM = 3.0",
    "STRUCTURE_ORGAN_GAP_MM = 3.0",
    "ORGAN_BODY_FILL = 0.85",
    "LESION_SCALE = 1e3",
    "t = (target == cls).float()",
], ids=lambda s: s)
def test_the_check_leaves_other_code_alone(snippet: str) -> None:
    assert not literal_label_uses(snippet), snippet
