"""Explanation images as DICOM Secondary Capture (PS3.3 A.8.1) with highdicom.

Each object says plainly what it is: a derived explanation, not for diagnosis, in its
Series Description, Derivation Description, Image Comments and burned-in legend; Burned In
Annotation is YES (the legend is in the pixels); Image Type is DERIVED\\SECONDARY; the source
CT instance is referenced in the Source Image Sequence (PS3.3 C.7.6.1.1.4). The Series
Description (LO, at most 64 characters) always keeps its "NOT FOR DIAGNOSIS": a long label name
is shortened instead. The Image Comments repeat the burned-in title and reading line (what the
colours and the outline mean, what the map is not) for a viewer that shows text, each sentence
capitalised. The pixels are the whole explanation canvas (the slice with its legend above and
below it, ``explain.render.overlay``), so Rows is the slice's plus the banners'.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from device_ai.atomic_io import Access
from device_ai.dicom.writer import write_dataset

NOT_FOR_DIAGNOSIS = "DERIVED EXPLANATION - NOT FOR DIAGNOSIS"
LO_MAX = 64  # characters of a Long String (PS3.5 6.2), e.g. the Series Description


def series_description(method: str, label: str) -> str:
    """``"{method} {label} - DERIVED EXPLANATION - NOT FOR DIAGNOSIS"`` in at most 64
    characters; a label too long for the rest is cut and ends in ``..``."""
    suffix = f" - {NOT_FOR_DIAGNOSIS}"
    room = LO_MAX - len(method) - 1 - len(suffix)
    if room < 3:
        raise ValueError(f"the method name {method!r} leaves no room for a label in the Series Description")
    name = label if len(label) <= room else label[:room - 2] + ".."
    return f"{method} {name}{suffix}"


def build_explanation_sc(
    source: Dataset,
    rgb: np.ndarray,
    *,
    series_instance_uid: str,
    series_number: int,
    instance_number: int,
    method: str,
    label: str,
    model_identity: str,
    title: str | None = None,
    reading: str | None = None,
) -> hd.sc.SCImage:
    """An RGB Secondary Capture of ``rgb`` (rows, cols, 3; the canvas, taller than the slice) derived from one
    source CT slice;
    ``title`` and ``reading``: the burned-in legend's title and reading line, repeated in the
    Image Comments."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source,
            pixel_array=np.ascontiguousarray(rgb, dtype=np.uint8),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            # rows run to the patient's left, columns to posterior: standard axial
            # [1,0,0,0,1,0], the only orientation the input contract admits
            patient_orientation=("L", "P"),
            series_instance_uid=series_instance_uid,
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=instance_number,
            manufacturer="device_ai",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
        )
    sc.SeriesDescription = series_description(method, label)
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.BurnedInAnnotation = "YES"
    if "Laterality" not in sc:
        sc.Laterality = ""  # Type 2C (General Series): unpaired body part, so present and empty
    sc.DerivationDescription = (f"{method} explanation of label '{label}' for {model_identity}; relative map "
                                "(per slice, not a probability); derived image, not for diagnosis")[:1024]
    sc.ImageComments = " ".join(part[:1].upper() + part[1:] for part in (
        f"{NOT_FOR_DIAGNOSIS}. {method} heat map of '{label}' on the source slice, legend above and below it.",
        f"Title: {title}." if title else None, reading) if part)
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = Sequence([reference])
    return sc


def write_sc(sc: Dataset, path: Path, *, access: Access = Access.PRIVATE) -> Path:
    """Serialize with a zero preamble and write atomically, with the mode of ``access``."""
    return write_dataset(sc, path, access=access)
