"""The engine outputs of an analysis are kept for its explanations, so that no slice is
inferred twice (analyze --explain; SRS-033: the gate compares with those very outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from device_ai.explain.recorded import RecordingEngine


class _FakeEngine:
    """Slice n predicts label 1 on ``areas1[n]`` pixels and label 2 on ``areas2[n]`` pixels."""

    manifest = "the manifest"

    def __init__(self, areas1: list[int], areas2: list[int]) -> None:
        self.areas1, self.areas2, self.calls = areas1, areas2, 0

    def run(self, image: np.ndarray) -> np.ndarray:
        n = self.calls
        self.calls += 1
        labels = np.zeros(100, dtype=int)
        labels[: self.areas1[n]] = 1
        labels[self.areas1[n] : self.areas1[n] + self.areas2[n]] = 2
        logits = np.zeros((1, 3, 10, 10), dtype=np.float32)
        for value in range(3):
            logits[0, value] = (labels == value).reshape(10, 10)
        return logits


@pytest.mark.req("SRS-033")
def test_the_largest_slices_per_label_are_kept_with_their_inputs_and_outputs() -> None:
    areas1 = [0, 5, 9, 9, 2, 7, 0, 9]
    areas2 = [3, 0, 0, 1, 0, 0, 4, 0]
    engine = _FakeEngine(areas1, areas2)
    recorder = RecordingEngine(engine, keep=3)
    outputs = [recorder.run(np.full((1, 3, 10, 10), n, dtype=np.float32)) for n in range(len(areas1))]
    assert engine.calls == len(areas1) and recorder.slices() == len(areas1)
    assert recorder.manifest == "the manifest"  # everything else passes through
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


@pytest.mark.req("SRS-033")
def test_a_label_found_nowhere_gives_no_slices() -> None:
    recorder = RecordingEngine(_FakeEngine([1, 2], [0, 0]), keep=2)
    for n in range(2):
        recorder.run(np.zeros((1, 3, 10, 10), dtype=np.float32))
    assert recorder.largest(2, 2) == []
