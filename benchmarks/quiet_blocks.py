"""Timing several inference runtimes side by side without one disturbing the other.

ONNX Runtime's intra-op worker threads spin after a run returns, waiting for the next one; a run
of another runtime timed right after it shares the cores with those spinning threads. On the
2-core reference machine that made PyTorch eager 49 ms per slice instead of 29 ms
(benchmarks/results/model_limit.json as committed in 4eaa956, 'latency'), and the recorded ORT/eager ratio 3.5x instead
of about 1.7x (ANOM-017). So each runtime is timed in a block of consecutive slices (its own steady
state, as in a series), after a quiet gap long enough for the previous runtime's threads to stop
spinning and one untimed run that wakes its own; the order of the blocks alternates round by round
so that machine noise hits every runtime alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

QUIET_GAP_S = 0.25  # ORT's spin wait ends within milliseconds; a quarter second leaves a margin


def quiet_blocks(runners: dict[str, Callable[[np.ndarray], object]], images: list[np.ndarray], rounds: int,
                 gap_s: float = QUIET_GAP_S) -> dict[str, list[float]]:
    """Seconds per call of every runner: ``rounds`` rounds, each one block of ``len(images)`` calls per
    runner, the block order reversed every other round."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            run = runners[name]
            time.sleep(gap_s)
            run(images[0])  # untimed: wakes this runtime's threads
            for image in images:
                start = time.perf_counter()
                run(image)
                times[name].append(time.perf_counter() - start)
    return times


def back_to_back(runners: dict[str, Callable[[np.ndarray], object]], images: list[np.ndarray],
                 rounds: int) -> dict[str, list[float]]:
    """The method recorded before ANOM-017, kept to show its bias: one call of every runner per
    round, each right after the other's, the order alternating."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for round_index in range(rounds):
        image = images[round_index % len(images)]
        for name in names if round_index % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            runners[name](image)
            times[name].append(time.perf_counter() - start)
    return times
