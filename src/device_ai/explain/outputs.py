"""Writing explanations: a PNG overlay for people and a DICOM Secondary Capture per slice,
plus `explanation.json`, into a (staging) folder.

Files are named by the 1-based slice number in series order, by the same rule as the analysis
previews (``explain_slice0001.png`` / ``.dcm`` explain the slice of ``preview_slice0001.png``,
the SEG's first frame), and ``explanation.json`` says for each which slice it is (slice number,
Instance Number, z position). Every file gets the caller's access, like the analysis outputs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image

from device_ai.atomic_io import Access, atomic_write_bytes, atomic_write_text
from device_ai.dicom.sc import build_explanation_sc, write_sc
from device_ai.dicom.series import CTSeries
from device_ai.explain.pipeline import METHOD, SliceExplanation
from device_ai.inference.engine import LockedEngine
from device_ai.inference.previews import SLICE_NUMBERING, slice_file_stem, slice_position

SUMMARY_NAME = "explanation.json"
FILE_PREFIX = "explain"
STATEMENT = ("Derived explanation of the locked result. Not for diagnosis. The map is relative (per slice, scaled "
             "to the slice's highest value, not a probability) at the model's patch resolution; it is not evidence "
             "that the result is correct and has not been validated as showing what drove the result.")


def _png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def write_explanations(folder: Path, engine: LockedEngine, series: CTSeries, explanations: list[SliceExplanation],
                       label_name: str, access: Access = Access.PRIVATE) -> list[str]:
    """Write every explanation into ``folder``; returns the file names written."""
    series_uid = hd.UID()
    written = []
    slices = []
    for number, item in enumerate(explanations, start=1):
        position = slice_position(series.datasets, item.slice_index)
        stem = slice_file_stem(FILE_PREFIX, position.number)
        atomic_write_bytes(folder / f"{stem}.png", _png_bytes(item.rgb), access=access)
        legend = item.legend
        sc = build_explanation_sc(series.datasets[item.slice_index], item.rgb, series_instance_uid=series_uid,
                                  series_number=301, instance_number=number, method=METHOD, label=label_name,
                                  model_identity=engine.manifest.identity,
                                  title=legend.title if legend else None, reading=legend.reading if legend else None)
        write_sc(sc, folder / f"{stem}.dcm", access=access)
        files = [f"{stem}.png", f"{stem}.dcm"]
        written += files
        slices.append({"files": files, **position.as_dict(), "twin_ort_mask_agreement": item.agreement,
                       "empty_map": item.empty})
    legend = explanations[0].legend if explanations else None
    atomic_write_text(folder / SUMMARY_NAME, json.dumps({
        "method": METHOD, "configuration": explanations[0].configuration if explanations else None,
        "label": label_name, "model_manifest_sha256": engine.package.manifest_sha256,
        "statement": STATEMENT,
        "title": legend.title if legend else None,
        "reading": legend.reading if legend else None,
        "numbering": SLICE_NUMBERING,
        "slices": slices,
        "outputs": written,
    }, indent=2, sort_keys=True) + "\n", access=access)
    return written + [SUMMARY_NAME]
