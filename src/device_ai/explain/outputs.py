"""Writing explanations: a PNG overlay for people and a DICOM Secondary Capture per slice,
plus `explanation.json`, into a (staging) folder."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
from PIL import Image

from device_ai.dicom.sc import build_explanation_sc, write_sc
from device_ai.dicom.series import CTSeries
from device_ai.explain.pipeline import METHOD, SliceExplanation
from device_ai.inference.engine import LockedEngine

SUMMARY_NAME = "explanation.json"


def write_explanations(folder: Path, engine: LockedEngine, series: CTSeries, explanations: list[SliceExplanation],
                       label_name: str) -> list[str]:
    """Write every explanation into ``folder``; returns the file names written."""
    series_uid = hd.UID()
    written = []
    for number, item in enumerate(explanations, start=1):
        stem = f"explain_slice{item.slice_index:04d}"
        Image.fromarray(item.rgb).save(folder / f"{stem}.png")
        sc = build_explanation_sc(series.datasets[item.slice_index], item.rgb, series_instance_uid=series_uid,
                                  series_number=301, instance_number=number, method=METHOD, label=label_name,
                                  model_identity=engine.manifest.identity)
        write_sc(sc, folder / f"{stem}.dcm")
        written += [f"{stem}.png", f"{stem}.dcm"]
    (folder / SUMMARY_NAME).write_text(json.dumps({
        "method": METHOD, "configuration": explanations[0].configuration if explanations else None,
        "label": label_name, "model_manifest_sha256": engine.package.manifest_sha256,
        "statement": "Derived explanation of the locked result. Not for diagnosis.",
        "slices": [{"index": e.slice_index, "twin_ort_mask_agreement": e.agreement, "empty_map": e.empty}
                   for e in explanations],
        "outputs": written,
    }, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return written + [SUMMARY_NAME]
