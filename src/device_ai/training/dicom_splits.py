"""Train / test split of a labelled DICOM folder by patient (PatientID), never by slice or series.

Either the user's split file, JSON ``{"train": [PatientID, ...], "test": [PatientID, ...]}``
(every patient of the folder in exactly one split; a patient named in both, a patient the
folder does not hold, a folder patient the file does not list or an empty split is refused),
or a split drawn from the seed: patients ordered by SHA-256 of (seed, PatientID), the first
``test_fraction`` of them (at least one, and at least one left to train on) held out, so the
same folder and seed always give the same split, whatever order the files are found in.

Then the split is checked for leakage: no SOP Instance UID, Series Instance UID or slice pixel
data (SHA-256 of the HU) may be in both splits, as happens when a series was copied under two
patient IDs. Constant slices (no information, e.g. blank padding) are not compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device_ai.errors import SplitFileError, SplitOverlap, TrainingDataRefused
from device_ai.training.dicom_dataset import LabelledDataset, LabelledSeries

SPLITS = ("train", "test")
_FILE_HINT = 'write the split file as JSON {"train": [PatientID, ...], "test": [PatientID, ...]}, every patient once'


@dataclass(frozen=True)
class PatientSplit:
    train: tuple[str, ...]
    test: tuple[str, ...]
    method: dict[str, Any]  # how it was made: {"kind": "file", "sha256": ...} or {"kind": "seeded", ...}

    def of(self, name: str) -> tuple[str, ...]:
        return {"train": self.train, "test": self.test}[name]


def split_from_file(path: Path, patients: tuple[str, ...]) -> PatientSplit:
    """The user's split; SplitOverlap for a patient in both splits, SplitFileError otherwise."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise SplitFileError(f"split file {path} is not readable JSON ({type(exc).__name__}: {exc})",
                             hint=_FILE_HINT) from exc
    if not isinstance(data, dict) or set(data) - set(SPLITS) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in data.values()):
        raise SplitFileError(f"split file {path} must be an object with the lists {' and '.join(SPLITS)} "
                             f"(found keys {sorted(data) if isinstance(data, dict) else type(data).__name__})",
                             hint=_FILE_HINT)
    listed = {name: [str(p).strip() for p in data.get(name, [])] for name in SPLITS}
    both = sorted(set(listed["train"]) & set(listed["test"]))
    twice = sorted({p for name in SPLITS for p in listed[name] if listed[name].count(p) > 1})
    if both:
        raise SplitOverlap(f"split file {path.name}: patient {both[0]} is in both train and test"
                           + (f" (and {len(both) - 1} more)" if len(both) > 1 else ""),
                           problems=tuple(f"patient {p} is in both train and test" for p in both[:20]),
                           hint="a patient's series must all be in one split; list each patient once")
    problems = [f"patient {p} is listed twice" for p in twice]
    known = set(patients)
    problems += [f"patient {p} ({name}) is not in the training folder" for name in SPLITS for p in listed[name]
                 if p not in known]
    everyone = set(listed["train"]) | set(listed["test"])
    problems += [f"patient {p} of the training folder is in no split" for p in patients if p not in everyone]
    problems += [f"the {name} split is empty" for name in SPLITS if not listed[name]]
    if problems:
        raise SplitFileError(f"split file {path.name}: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             problems=tuple(problems[:20]), hint=_FILE_HINT)
    return PatientSplit(tuple(sorted(set(listed["train"]))), tuple(sorted(set(listed["test"]))),
                        {"kind": "file", "sha256": hashlib.sha256(raw).hexdigest()})


def seeded_split(patients: tuple[str, ...], seed: int, test_fraction: float) -> PatientSplit:
    """Hold out ``test_fraction`` of the patients (at least one), chosen by seed (module doc)."""
    if not 0.0 < test_fraction < 1.0:
        raise TrainingDataRefused(f"the held-out fraction must be between 0 and 1, got {test_fraction}",
                                  hint="pass --test-fraction such as 0.25")
    unique = sorted(set(patients))
    if len(unique) < 2:
        raise TrainingDataRefused(f"the training folder holds {len(unique)} patient(s); training needs at least 2 "
                                  "(one trained on, one held out for validation)",
                                  hint="add labelled series of more patients")
    order = sorted(unique, key=lambda p: hashlib.sha256(f"{seed}\x1f{p}".encode()).hexdigest())
    held_out = min(len(unique) - 1, max(1, round(len(unique) * test_fraction)))
    return PatientSplit(tuple(sorted(order[held_out:])), tuple(sorted(order[:held_out])),
                        {"kind": "seeded", "seed": seed, "test_fraction": test_fraction})


def _fingerprints(item: LabelledSeries) -> dict[str, str]:
    """What may not be in two splits: the series, each instance and each non-constant slice."""
    found = {f"series {item.series.series_instance_uid}": "Series Instance UID"}
    found |= {f"instance {uid}": "SOP Instance UID" for uid in item.sop_instance_uids}
    for plane, digest in zip(item.series.hu, item.pixel_sha256(), strict=True):
        if float(np.ptp(plane)) > 0:
            found[f"pixels {digest}"] = "slice pixel data"
    return found


def check_split(dataset: LabelledDataset, split: PatientSplit) -> None:
    """SplitOverlap if any series, instance or slice is in both splits (module doc)."""
    side = {p: name for name in SPLITS for p in split.of(name)}
    seen: dict[str, LabelledSeries] = {}
    problems: list[str] = []
    for item in dataset.series:
        for key, what in _fingerprints(item).items():
            other = seen.setdefault(key, item)
            if other is item or side[other.patient_id] == side[item.patient_id]:
                continue
            line = (f"the same {what} is in {side[other.patient_id]} (patient {other.patient_id}, "
                    f"{other.series.paths[0].name}) and in {side[item.patient_id]} (patient {item.patient_id}, "
                    f"{item.series.paths[0].name})")
            if line not in problems:
                problems.append(line)
    if problems:
        raise SplitOverlap(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                           problems=tuple(problems[:20]),
                           hint="the held-out patients must share no image with the training patients: remove the "
                                "copied series, or put both patient IDs in one split")
