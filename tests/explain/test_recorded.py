"""The engine outputs of an analysis are kept for its explanations, so that no slice is
inferred twice (analyze --explain; SRS-033: the gate compares with those very outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from device_ai.explain.recorded import SliceRecorder


def _logits(area1: int, area2: int) -> np.ndarray:
    """Logits predicting label 1 on ``area1`` pixels and label 2 on ``area2`` pixels."""
    labels = np.zeros(100, dtype=int)
    labels[:area1] = 1
    labels[area1 : area1 + area2] = 2
    logits = np.zeros((1, 3, 10, 10), dtype=np.float32)
    for value in range(3):
        logits[0, value] = (labels == value).reshape(10, 10)
    return logits


@pytest.mark.req("SRS-033")
def test_the_largest_slices_per_label_are_kept_with_their_inputs_and_outputs() -> None:
    areas1 = [0, 5, 9, 9, 2, 7, 0, 9]
    areas2 = [3, 0, 0, 1, 0, 0, 4, 0]
    recorder = SliceRecorder(keep=3)
    outputs = [_logits(a, b) for a, b in zip(areas1, areas2)]
    order = [3, 0, 7, 1, 6, 2, 5, 4]  # the observer is told each slice's index: arrival order does not matter
    for n in order:
        recorder(n, np.full((1, 3, 10, 10), n, dtype=np.float32), outputs[n])
    assert recorder.covers(len(areas1)) and not recorder.covers(len(areas1) + 1)
    # largest area first, ties by the lower slice index (as explain_series orders them)
    assert [s for s, _, _ in recorder.largest(1, 3)] == [2, 3, 7]
    assert [s for s, _, _ in recorder.largest(2, 3)] == [6, 0, 3]
    assert [s for s, _, _ in recorder.largest(2, 1)] == [6]
    for s, image, logits in recorder.largest(1, 3) + recorder.largest(2, 3):
        assert image[0, 0, 0, 0] == s and np.array_equal(logits, outputs[s])
    assert set(recorder._kept) == {0, 2, 3, 6, 7}  # nothing else is held
    assert recorder.largest(0, 3) == []  # the background is not recorded
    with pytest.raises(ValueError, match="only the 3 largest"):
        recorder.largest(1, 4)
    with pytest.raises(ValueError, match="recorded twice"):
        recorder(3, np.zeros((1, 3, 10, 10), dtype=np.float32), outputs[3])


@pytest.mark.req("SRS-033")
def test_a_label_found_nowhere_gives_no_slices() -> None:
    recorder = SliceRecorder(keep=2)
    for n in range(2):
        recorder(n, np.zeros((1, 3, 10, 10), dtype=np.float32), _logits(n + 1, 0))
    assert recorder.largest(2, 2) == []
