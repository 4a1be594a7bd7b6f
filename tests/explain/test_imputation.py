"""Noisy linear imputation (ROAD, Rong et al. 2022): the published behaviour of the imputer."""

from __future__ import annotations

import numpy as np
import pytest

from device_ai.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, air_baseline, normalize
from validation.explain.study.imputation import NOISE, impute

SIZE = 48


def _plane(image: np.ndarray, channel: int = 0) -> np.ndarray:
    return image[0, channel] * IMAGENET_STD[channel] + IMAGENET_MEAN[channel]


@pytest.mark.req("SRS-068")
def test_a_removed_patch_of_a_linear_ramp_is_filled_exactly() -> None:
    """Every pixel is the weighted mean of its neighbours on a linear ramp (the stencil is
    symmetric), so the noiseless imputation of an interior hole reproduces the ramp."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    plane = (0.2 + 0.01 * rows + 0.005 * cols).astype(np.float32)
    image = normalize(plane[None])
    removed = np.zeros((SIZE, SIZE), dtype=bool)
    removed[10:30, 15:35] = True
    filled = impute(image, removed, noise=0.0)
    assert np.abs(_plane(filled) - plane).max() < 1e-5
    assert np.array_equal(filled[0][:, ~removed], image[0][:, ~removed])  # kept pixels untouched


@pytest.mark.req("SRS-068")
def test_a_dark_lesion_removed_becomes_the_tissue_around_it() -> None:
    """Unlike air removal, which leaves a hypodense lesion a dark hole (ANOM-013)."""
    plane = np.full((SIZE, SIZE), 0.6, dtype=np.float32)
    lesion = np.zeros((SIZE, SIZE), dtype=bool)
    lesion[20:28, 20:28] = True
    plane[lesion] = 0.45
    filled = _plane(impute(normalize(plane[None]), lesion, noise=0.0))
    assert np.abs(filled[lesion] - 0.6).max() < 1e-5


@pytest.mark.req("SRS-068")
def test_everything_removed_gives_air_and_the_noise_is_as_specified() -> None:
    image = normalize(np.random.default_rng(1).random((1, SIZE, SIZE)).astype(np.float32))
    everything = np.ones((SIZE, SIZE), dtype=bool)
    assert np.abs(impute(image, everything, noise=0.0) - air_baseline(SIZE, SIZE)).max() < 1e-5
    noisy = _plane(impute(image, everything, seed=3))
    assert np.std(noisy) == pytest.approx(NOISE, rel=0.1)
    assert np.array_equal(impute(image, everything, seed=3), impute(image, everything, seed=3))


@pytest.mark.req("SRS-068")
def test_the_channels_stay_one_grey_image() -> None:
    image = normalize(np.random.default_rng(2).random((1, SIZE, SIZE)).astype(np.float32))
    removed = np.random.default_rng(3).random((SIZE, SIZE)) < 0.5
    filled = impute(image, removed)
    planes = [_plane(filled, channel) for channel in range(3)]
    assert np.abs(planes[0] - planes[1]).max() < 1e-5 and np.abs(planes[0] - planes[2]).max() < 1e-5


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="mask"):
        impute(normalize(np.zeros((1, SIZE, SIZE), dtype=np.float32)), np.zeros((SIZE, SIZE + 1), dtype=bool))


def test_every_pixel_removed_is_solved_once_and_is_the_same_for_any_image() -> None:
    """The all-removed imputation depends on no pixel of the image: its stored result is, bit for
    bit, what a fresh solve of another image gives."""
    from validation.explain.study import imputation

    everything = np.ones((SIZE, SIZE), dtype=bool)
    first = normalize(np.random.default_rng(3).random((1, SIZE, SIZE)).astype(np.float32))
    second = normalize(np.random.default_rng(4).random((1, SIZE, SIZE)).astype(np.float32))
    imputation._EVERY_PIXEL_REMOVED.clear()
    stored = impute(first, everything)
    imputation._EVERY_PIXEL_REMOVED.clear()
    fresh = impute(second, everything)
    assert np.array_equal(stored, fresh) and stored.dtype == fresh.dtype == np.float32
    assert len(imputation._EVERY_PIXEL_REMOVED) == 1
    again = impute(first, everything)
    assert np.array_equal(again, fresh) and again is not imputation._EVERY_PIXEL_REMOVED[next(iter(
        imputation._EVERY_PIXEL_REMOVED))]  # a copy: a caller cannot change the stored result
    assert not np.array_equal(impute(first, everything, seed=1), fresh)  # the key holds the noise's seed


@pytest.mark.req("SRS-068")
def test_the_nested_dissection_solve_gives_scipys_direct_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    """The imputer eliminates unknowns in a nested dissection order (twice as fast on 224 x 224
    planes); its images are those of SciPy's spsolve with its default ordering, to rounding, for a
    compact region and for scattered pixels, as a deletion curve removes them."""
    from scipy.sparse.linalg import spsolve

    import validation.explain.study.imputation as imputation

    rng = np.random.default_rng(3)
    image = normalize(rng.random((SIZE, SIZE)).astype(np.float32)[None])
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    compact = (rows - 20) ** 2 + (cols - 27) ** 2 < 15 ** 2
    scattered = rng.random((SIZE, SIZE)) < 0.6
    ordered = [impute(image, removed) for removed in (compact, scattered)]
    monkeypatch.setattr(imputation, "_solve", lambda system, rhs, rank: spsolve(system, rhs).reshape(rhs.shape))
    direct = [impute(image, removed) for removed in (compact, scattered)]
    for mine, scipys in zip(ordered, direct):
        assert np.abs(mine - scipys).max() < 1e-6
    # control: a solve that forgets to put the unknowns back in place gives other images
    def unplaced(system, rhs, rank):  # noqa: ANN001, ANN202
        order = np.argsort(rank, kind="stable")
        return spsolve(system.tocsr()[order][:, order].tocsc(), rhs[order]).reshape(rhs.shape)

    monkeypatch.setattr(imputation, "_solve", unplaced)
    assert np.abs(impute(image, compact) - ordered[0]).max() > 1e-2
