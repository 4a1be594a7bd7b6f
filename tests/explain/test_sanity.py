"""Sanity-check statistics: an empty real map is not counted as passing (SRS-034, SRS-070)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.explain.study.sanity import compare, median_checked, spearman


@pytest.mark.req("SRS-034", "SRS-070")
def test_a_slice_whose_real_map_is_empty_is_not_counted() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((32, 32)), rng.random((32, 32))
    empty = np.zeros((32, 32))
    rhos = compare([a, empty, a], [a, b, empty])
    assert rhos[0] == pytest.approx(1.0)
    assert rhos[1] is None  # nothing to check: an empty map must not pass as "uncorrelated"
    assert rhos[2] == 0.0  # the other model shows nothing where the real one shows something: different
    assert median_checked(rhos) == pytest.approx(0.5)
    assert math.isnan(median_checked([None, None]))


@pytest.mark.req("SRS-034")
def test_spearman_inside_a_mask_uses_only_its_pixels() -> None:
    x = np.arange(64, dtype=float).reshape(8, 8)
    y = x.copy()
    y[:, 4:] = -y[:, 4:]  # anti-correlated on the right half only
    left = np.zeros((8, 8), dtype=bool)
    left[:, :4] = True
    assert spearman(x, y, stride=1, where=left) == pytest.approx(1.0)
    assert spearman(x, y, stride=1, where=~left) == pytest.approx(-1.0)
