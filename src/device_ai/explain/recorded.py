"""The locked engine's outputs of an analysis, kept for explaining it afterwards (no torch).

`analyze --explain` passes a :class:`SliceRecorder` to the analysis as its per-slice observer:
the pipeline calls it with each slice's index, model input and ORT logits. For every label
(not the background, 0) the recorder keeps the per-slice predicted area and, for the ``keep``
slices with the largest area (ties: the lower slice index), the input and the logits.
Explaining then needs no second inference of the series: the slices are chosen from the
recorded areas and the twin-vs-ORT agreement gate compares the twin with the very logits of
the analysis.
"""

from __future__ import annotations

import numpy as np


class SliceRecorder:
    """Observer of an analysis: ``recorder(index, image, logits)`` for every slice."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = keep
        self.areas: dict[int, np.ndarray] = {}  # slice -> predicted pixels per class
        self._top: dict[int, list[tuple[int, int]]] = {}  # label -> [(-area, slice)], best first
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # slice -> (input, logits)

    def __call__(self, index: int, image: np.ndarray, logits: np.ndarray) -> None:
        if index in self.areas:
            raise ValueError(f"slice {index} was recorded twice")
        counts = np.bincount(logits[0].argmax(axis=0).ravel(), minlength=logits.shape[1])
        self.areas[index] = counts
        for label in np.flatnonzero(counts[1:]) + 1:  # the labels, not the background (0)
            top = sorted([*self._top.get(int(label), []), (-int(counts[label]), index)])[: self.keep]
            self._top[int(label)] = top
        wanted = {s for top in self._top.values() for _, s in top}
        if index in wanted:
            self._kept[index] = (np.array(image, copy=True), np.array(logits, copy=True))
        for stale in set(self._kept) - wanted:
            del self._kept[stale]

    def covers(self, slices: int) -> bool:
        """Whether every slice 0..slices-1, and no other, was recorded."""
        return set(self.areas) == set(range(slices))

    def largest(self, label: int, count: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(slice, input, logits) of the ``count`` slices with the largest predicted area of
        ``label`` (ties: the lower index), at most ``keep``; only slices where it was found."""
        if count > self.keep:
            raise ValueError(f"only the {self.keep} largest slices per label were kept, {count} asked")
        return [(s, *self._kept[s]) for _, s in self._top.get(label, [])[:count]]
