"""Explaining an analyzed series: for the slices where the label was found, Grad-CAM on the
twin (only if it agrees with the locked ORT result) and its rendering at source resolution.

What the image says it is (issue 21, item 8): the map is relative (per slice, scaled to the
slice's own highest value, not a probability), coarse (one value per transformer patch, then
upsampled) and not validated as showing what drove the result (issue 21's independent review:
model-free maps of the target region do as well on the faithfulness check). The title, the
statement and the reading line under the colour bar say so in words a reader cannot skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_ai.dicom.sc import NOT_FOR_DIAGNOSIS
from device_ai.dicom.series import CTSeries
from device_ai.explain.consistency import check_twin_agreement
from device_ai.explain.gradcam import description, gradcam, patch_grid
from device_ai.explain.recorded import SliceRecorder
from device_ai.explain.render import SHOWN_FROM, overlay
from device_ai.inference.engine import LockedEngine
from device_ai.inference.postprocess import logits_to_labels
from device_ai.inference.preprocess import preprocess_slice, resize_plane
from device_ai.model.segmenter import DinoSegmenter

METHOD = "Grad-CAM"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Legend:
    """The words burned into an explanation image."""

    title: str  # what the colours show, first line of the top banner
    statement: str  # method, model, derived and not for diagnosis
    reading: str  # under the colour bar: what the colours and the outline mean, what the map is not

    def text(self, empty: bool) -> str:
        """The legend as ``render.overlay`` takes it (the reading line after an empty line)."""
        title = self.title + (" - map empty: nothing above the slice average" if empty else "")
        return f"{title}\n{self.statement}\n\n{self.reading}"


def legend_for(label_name: str, model_identity: str, grid: int) -> Legend:
    """The legend of an explanation of ``label_name`` (the label the user asked for) whose map
    has ``grid`` x ``grid`` values (``gradcam.patch_grid`` of the twin)."""
    return Legend(
        title=f"where evidence for '{label_name}' exceeds the slice average (relative, {grid}x{grid} patch resolution)",
        statement=f"{METHOD}, {model_identity} - {NOT_FOR_DIAGNOSIS}",
        reading=(f"Colour bar: relative to this slice's highest value (100%), not a probability; under "
                 f"{SHOWN_FROM:.0%} not coloured. Coloured areas are not findings. White outline: the predicted "
                 f"{label_name} region. Not evidence that the result is correct."),
    )


@dataclass(frozen=True)
class SliceExplanation:
    slice_index: int
    agreement: float
    heat: np.ndarray  # (rows, cols) in [0, 1]
    rgb: np.ndarray  # (banner + rows + banner, cols, 3): the slice with the legend around it
    configuration: str  # the Grad-CAM configuration, e.g. "Grad-CAM, block 3 MLP input (mean-centred)"
    empty: bool = False  # the map is all zero: no evidence above the mean token at that layer
    legend: Legend | None = None  # the words burned into ``rgb``


def _candidates(engine: LockedEngine, series: CTSeries, label: int, max_slices: int,
                recorded: SliceRecorder | None, progress: Progress | None) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(slice, input, ORT logits) of the ``max_slices`` slices with the largest predicted area of
    ``label``: from the analysis's own engine outputs when recorded for this series, else by
    running the engine over the series."""
    manifest = engine.manifest
    size = manifest.input.shape[-1]
    if recorded is not None and recorded.covers(series.hu.shape[0]) and recorded.keep >= max_slices:
        chosen = recorded.largest(label, max_slices)
        if all(np.array_equal(image, preprocess_slice(series.hu[index], size, manifest.preprocessing))
               for index, image, _ in chosen):
            return chosen
    candidates = []
    for index in range(series.hu.shape[0]):
        image = preprocess_slice(series.hu[index], size, manifest.preprocessing)
        logits = engine.run(image)
        area = int((logits[0].argmax(axis=0) == label).sum())
        if area:
            candidates.append((area, index, image, logits))
        if progress is not None:
            progress(index + 1, series.hu.shape[0])
    return [(index, image, logits) for _, index, image, logits in sorted(candidates, key=lambda c: (-c[0], c[1]))[:max_slices]]


def explain_series(
    engine: LockedEngine, twin: DinoSegmenter, series: CTSeries, label: int, *, max_slices: int = 3,
    recorded: SliceRecorder | None = None, progress: Progress | None = None, scan_progress: Progress | None = None,
) -> list[SliceExplanation]:
    """Explanations for the ``max_slices`` slices with the largest predicted area of ``label``.

    ``recorded``: the engine outputs of the analysis of this very series (``analyze --explain``);
    then no slice is inferred a second time; otherwise every slice is inferred to find them
    (``scan_progress``). ``progress`` counts the explained slices.
    """
    manifest = engine.manifest
    name = next(item.name for item in manifest.labels if item.value == label)
    configuration = description(twin)
    legend = legend_for(name, manifest.identity, patch_grid(twin))
    results = []
    rows, cols = series.hu.shape[1:]
    chosen = _candidates(engine, series, label, max_slices, recorded, scan_progress)
    for done, (index, image, logits) in enumerate(chosen, start=1):
        agreement = check_twin_agreement(twin, logits, image)
        cam = gradcam(twin, image, label, logits[0].argmax(axis=0) == label)
        heat = np.clip(resize_plane(cam, rows, cols), 0.0, 1.0)
        mask = logits_to_labels(logits[0], rows, cols) == label
        empty = not cam.any()  # no evidence above the mean token at this layer: say so, show nothing
        results.append(SliceExplanation(index, agreement, heat, overlay(series.hu[index], heat, mask,
                                                                          manifest.preprocessing, legend.text(empty)),
                                        configuration, empty, legend))
        if progress is not None:
            progress(done, len(chosen))
    return sorted(results, key=lambda r: r.slice_index)
