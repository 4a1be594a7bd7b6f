"""The data manifest of a labelled DICOM folder and the split record, without identifiers.

The data manifest says exactly which data a package was trained and validated on: for each
series, its SOP Instance UIDs and the SHA-256 of each slice's HU (slice order), the SEG's SOP
Instance UID and file SHA-256 and the SHA-256 of the label map the SEG gave; series grouped by
patient and patients by split. Patients are named by a digest of their own entries, never by
Patient ID, name or any other attribute, and nothing else of the headers is copied. Its
SHA-256 (canonical JSON) is the package's ``training.data_manifest_sha256``; recomputing it
from the same folder and split gives the same value, and a changed pixel, label, instance or
split gives another.

The split record (``training.split`` in the package manifest) holds per split the counts, the
patients' digests and a digest of the split's entries, plus how the split was made.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from device_ai.training.dicom_dataset import LabelledDataset, LabelledSeries
from device_ai.training.dicom_splits import SPLITS, PatientSplit

DATA_MANIFEST_FORMAT = "device_ai.training.dicom_manifest/1"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def series_entry(item: LabelledSeries) -> dict[str, Any]:
    return {
        "sop_instance_uids": list(item.sop_instance_uids),
        "pixel_sha256": list(item.pixel_sha256()),
        "seg_sop_instance_uid": item.seg_sop_instance_uid,
        "seg_sha256": item.seg_sha256,
        "label_map_sha256": hashlib.sha256(np.ascontiguousarray(item.label_map).tobytes()).hexdigest(),
    }


def patient_entries(dataset: LabelledDataset) -> dict[str, dict[str, Any]]:
    """Patient ID (in memory only) -> {"patient": digest, "series": [entries sorted]}."""
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for item in dataset.series:
        by_patient.setdefault(item.patient_id, []).append(series_entry(item))
    result = {}
    for patient, entries in by_patient.items():
        entries = sorted(entries, key=lambda entry: entry["sop_instance_uids"][0])
        result[patient] = {"patient": _digest(entries), "series": entries}
    return result


def data_manifest(dataset: LabelledDataset, split: PatientSplit, input_size: int) -> dict[str, Any]:
    entries = patient_entries(dataset)
    return {
        "format": DATA_MANIFEST_FORMAT,
        "input_size": input_size,
        "labels": [{"value": label.value, "scheme": label.property_type.scheme, "code": label.property_type.value}
                   for label in dataset.labels],
        "split_method": split.method,
        "absent_means_empty": sorted(role.value for role in dataset.absent_empty),
        "splits": {name: sorted((entries[p] for p in split.of(name)), key=lambda e: e["patient"]) for name in SPLITS},
    }


def data_manifest_sha256(manifest: dict[str, Any]) -> str:
    return _digest(manifest)


def split_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the package manifest states about the split (no identifiers)."""
    record: dict[str, Any] = {"method": manifest["split_method"]}
    for name in SPLITS:
        patients = manifest["splits"][name]
        record[name] = {
            "patients": len(patients),
            "series": sum(len(p["series"]) for p in patients),
            "slices": sum(len(s["sop_instance_uids"]) for p in patients for s in p["series"]),
            "patient_digests": [p["patient"] for p in patients],
            "sha256": _digest(patients),
        }
    return record
