"""The study's imputer (`validation/explain/study/imputation.py`) against an independent
implementation of the published ROAD noisy linear imputer (issue 21, item 7).

Reference: Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022; code github.com/tleemann/road_evaluation, file
``road/imputations.py`` (``neighbors_weights``, ``NoisyLinearImputer.setup_sparse_system`` and
``__call__``), read at commit e6b9987ffbd79654125af2f581b5dae70e831b09 (2023-06-26). What it does:

- mask 1 = pixel kept, 0 = removed; one unknown per removed pixel, one equation each:
  ``-s_p x_p + sum(w_n x_n over removed neighbours) = -sum(w_n v_n over kept neighbours)``, with
  weights 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours, and ``s_p`` the sum of the
  weights of the neighbours inside the image (a neighbour outside the image is dropped, so a
  border pixel is the weighted mean of its neighbours inside);
- solved at once with ``scipy.sparse.linalg.spsolve`` on the CSC matrix;
- ``noise * randn`` added to every imputed value, independently per channel, ``noise=0.01``
  (``run_road``'s default), in the units of the image it is given: ROAD imputes before the
  normalisation (``transform_test`` is applied after the imputation), i.e. on 0..1 images.

The implementation below is written from that description, pixel by pixel, and shares no code
with the study's (which is vectorised). It runs on the windowed 0..1 plane, as ROAD does, and
the study's output is mapped back to that plane to be compared. The study documents two
deviations, and the tests below show that they are the only differences:

1. Outside the image is air (the bottom of the window) instead of dropped weights. Only removed
   regions connected (8-neighbourhood) to the image border differ; with the same outside rule
   the two agree there too. With every pixel removed the published system is singular (each
   row sums to zero) and has no solution; the study's gives the air image.
2. One noise draw per pixel shared by the three channels (the input stays one grey image),
   where ROAD draws per channel. Same standard deviation, 0.01 in window units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage, sparse
from scipy.sparse.linalg import MatrixRankWarning, spsolve

from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, normalize
from validation.explain.study.imputation import NEIGHBOURS, NOISE, impute

SIZE = 64
TOLERANCE = 1e-6  # window units (the 0..1 plane)
# road/imputations.py, neighbors_weights, in the reference's own order: ((row, column) offset, weight)
ROAD_WEIGHTS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
                ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))
ROAD_NOISE = 0.01
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def road_system(plane: np.ndarray, removed: np.ndarray, *, weights=ROAD_WEIGHTS, outside: float | None = None,
                ) -> tuple[sparse.csc_matrix, np.ndarray, list[tuple[int, int]]]:
    """ROAD's linear system for one (H, W) plane, built pixel by pixel: the matrix, the right-hand
    side and the removed pixels in unknown order. ``outside=None``: the published rule (weights
    of neighbours outside the image dropped); a number: the outside of the image has that value."""
    height, width = plane.shape
    missing = [(int(r), int(c)) for r, c in zip(*np.nonzero(removed))]
    unknown = {pixel: i for i, pixel in enumerate(missing)}
    matrix = sparse.dok_matrix((len(missing), len(missing)), dtype=np.float64)
    rhs = np.zeros(len(missing))
    for i, (r, c) in enumerate(missing):
        total = 0.0
        for (dr, dc), weight in weights:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < height and 0 <= nc < width):
                if outside is not None:
                    total += weight
                    rhs[i] -= weight * outside
                continue
            total += weight
            if (nr, nc) in unknown:
                matrix[i, unknown[(nr, nc)]] = weight
            else:
                rhs[i] -= weight * float(plane[nr, nc])
        matrix[i, i] = -total
    return matrix.tocsc(), rhs, missing


def road_impute(plane: np.ndarray, removed: np.ndarray, *, weights=ROAD_WEIGHTS, outside: float | None = None,
                noise: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """ROAD's noisy linear imputation of one (H, W) plane (see ``road_system``), float64; a
    singular system is an error here, not NaNs."""
    matrix, rhs, missing = road_system(plane, removed, weights=weights, outside=outside)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MatrixRankWarning)
        solution = np.atleast_1d(spsolve(matrix, rhs))
    result = plane.astype(np.float64).copy()
    jitter = noise * (rng or np.random.default_rng(0)).standard_normal(len(missing))
    for (r, c), value, extra in zip(missing, solution, jitter):
        result[r, c] = value + extra
    return result


def study_impute(plane: np.ndarray, removed: np.ndarray, **kwargs: object) -> np.ndarray:
    """The study's imputer on the model input of ``plane``, mapped back to window units:
    (3, H, W) float64."""
    image = impute(normalize(plane[None].astype(np.float32)), removed, **kwargs)[0].astype(np.float64)
    mean = np.asarray(DEFAULT_PREPROCESSING.mean)[:, None, None]
    std = np.asarray(DEFAULT_PREPROCESSING.std)[:, None, None]
    return image * std + mean


def difference(study: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference over the three channels of the study's output and one plane."""
    return float(np.abs(study - reference[None]).max())


def textured_plane(seed: int = 0) -> np.ndarray:
    """A slice-like plane in 0..1 that no symmetric stencil reproduces exactly (a linear ramp
    would be filled exactly by any symmetric weights, so it could not tell weights apart)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    smooth = 0.5 + 0.2 * np.sin(rows / 3.0) * np.cos(cols / 5.0) + 0.1 * ((rows - 30) ** 2 + (cols - 20) ** 2 < 150)
    return (smooth + 0.05 * np.random.default_rng(seed).random((SIZE, SIZE))).astype(np.float32)


def interior_holes() -> np.ndarray:
    removed = np.zeros((SIZE, SIZE), dtype=bool)
    removed[5, 7] = True  # one pixel
    removed[10:13, 20:23] = True  # 3 x 3: a centre with no kept neighbour
    removed[30:45, 25:40] = True  # a block
    removed |= (np.mgrid[0:SIZE, 0:SIZE][0] - 48) ** 2 + (np.mgrid[0:SIZE, 0:SIZE][1] - 50) ** 2 < 40  # a disc
    removed[20:40, 5] = True  # a one-pixel-wide line
    return removed


def border_components(removed: np.ndarray) -> np.ndarray:
    """The removed pixels whose 8-connected removed region reaches the image border."""
    labels, _ = ndimage.label(removed, structure=EIGHT_CONNECTED)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


AIR = 0.0  # the bottom of the window: air in window units


@pytest.mark.req("SRS-068")
def test_the_constants_are_the_published_ones() -> None:
    assert dict(NEIGHBOURS) == pytest.approx(dict(ROAD_WEIGHTS), abs=0)
    assert NOISE == ROAD_NOISE
    control = dict(ROAD_WEIGHTS) | {(1, 1): 1 / 6}  # negative control: one weight changed
    assert dict(NEIGHBOURS) != pytest.approx(control, abs=1e-9)


@pytest.mark.req("SRS-068")
def test_interior_holes_agree_with_the_published_imputer() -> None:
    plane, removed = textured_plane(), interior_holes()
    study = study_impute(plane, removed, noise=0.0)
    reference = road_impute(plane, removed)
    assert not border_components(removed).any()
    assert difference(study, reference) < TOLERANCE
    kept = ~removed
    assert np.array_equal(study_impute(plane, removed, noise=0.0)[0][kept], study[0][kept])
    assert np.abs(study[0][kept] - plane[kept]).max() < TOLERANCE  # kept pixels untouched
    assert np.abs(reference[removed] - plane[removed]).max() > 0.01  # something was imputed


@pytest.mark.req("SRS-068")
def test_a_large_fully_removed_region_agrees() -> None:
    plane = textured_plane(1)
    removed = np.zeros((SIZE, SIZE), dtype=bool)
    removed[4:60, 6:58] = True  # 2,912 unknowns, most without a kept neighbour
    assert difference(study_impute(plane, removed, noise=0.0), road_impute(plane, removed)) < TOLERANCE


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_random_masks_agree_except_where_the_documented_outside_rule_applies(share: float) -> None:
    plane = textured_plane(2)
    removed = np.random.default_rng(int(share * 100)).random((SIZE, SIZE)) < share
    study = study_impute(plane, removed, noise=0.0)
    at_border = border_components(removed)
    published = road_impute(plane, removed)
    # away from the border regions the published rule and the study's agree
    assert np.abs(study[:, ~at_border] - published[None, ~at_border]).max() < TOLERANCE
    # everywhere, once the reference uses the study's outside rule (air)
    assert difference(study, road_impute(plane, removed, outside=AIR)) < TOLERANCE


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("where", ["corner", "edge", "frame"])
def test_masks_touching_the_border_differ_only_by_the_outside_rule(where: str) -> None:
    plane = textured_plane(3)
    removed = np.zeros((SIZE, SIZE), dtype=bool)
    if where == "corner":
        removed[:12, :10] = True
    elif where == "edge":
        removed[20:40, -6:] = True
    else:
        removed[:3] = removed[-3:] = removed[:, :3] = removed[:, -3:] = True
    study = study_impute(plane, removed, noise=0.0)
    assert difference(study, road_impute(plane, removed, outside=AIR)) < TOLERANCE
    published = road_impute(plane, removed)
    assert difference(study, published) > 0.01  # the deviation is real, and it is this one
    # pixels a step away from the border are pulled less towards air: the gap shrinks inwards
    gap = np.abs(study[0] - published)
    assert gap[removed & ~border_ring(1)].max() < gap[removed & border_ring(1)].max()


def border_ring(width: int) -> np.ndarray:
    ring = np.ones((SIZE, SIZE), dtype=bool)
    ring[width:-width, width:-width] = False
    return ring


@pytest.mark.req("SRS-068")
def test_everything_removed_has_no_published_solution_and_is_air_in_the_study() -> None:
    """The published system is singular when no pixel is kept: each row sums to zero, so every
    constant image solves it (and the right-hand side is zero). The study's outside rule makes
    the solution unique: the air image, the end point of a deletion curve."""
    plane = textured_plane(4)
    everything = np.ones((SIZE, SIZE), dtype=bool)
    matrix, rhs, _ = road_system(plane, everything)
    assert np.abs(matrix @ np.ones(matrix.shape[0])).max() < 1e-12 and not rhs.any()
    study = study_impute(plane, everything, noise=0.0)
    assert difference(study, road_impute(plane, everything, outside=AIR)) < TOLERANCE
    assert np.abs(study - AIR).max() < TOLERANCE
    control, _, _ = road_system(plane, everything, outside=AIR)  # not singular: rows sum to -1 at the border
    assert np.abs(control @ np.ones(control.shape[0])).max() > 0.1


@pytest.mark.req("SRS-068")
def test_the_noise_has_the_published_size_and_is_shared_by_the_channels() -> None:
    plane, removed = textured_plane(5), np.zeros((SIZE, SIZE), dtype=bool)
    removed[8:56, 8:56] = True  # 2,304 imputed pixels
    noiseless = study_impute(plane, removed, noise=0.0)
    jitter = study_impute(plane, removed, seed=11) - noiseless
    assert np.abs(jitter[:, ~removed]).max() == 0.0
    assert np.std(jitter[0][removed]) == pytest.approx(ROAD_NOISE, rel=0.06)
    assert abs(float(np.mean(jitter[0][removed]))) < 3 * ROAD_NOISE / np.sqrt(removed.sum())
    assert np.abs(jitter[1] - jitter[0]).max() < TOLERANCE and np.abs(jitter[2] - jitter[0]).max() < TOLERANCE
    published = road_impute(plane, removed, noise=ROAD_NOISE, rng=np.random.default_rng(11)) - road_impute(plane, removed)
    assert np.std(published[removed]) == pytest.approx(ROAD_NOISE, rel=0.06)


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("wrong", [
    {(1, 1): 1 / 6, (0, 1): 1 / 12},  # a diagonal and a direct weight swapped
    {(-1, 0): 1 / 6 + 1e-4, (1, 0): 1 / 6 - 1e-4},  # a slight asymmetry
])
def test_negative_control_a_wrong_weight_fails_the_comparison(wrong: dict) -> None:
    plane, removed = textured_plane(), interior_holes()
    study = study_impute(plane, removed, noise=0.0)
    weights = tuple((offset, wrong.get(offset, weight)) for offset, weight in ROAD_WEIGHTS)
    assert sum(weight for _, weight in weights) == pytest.approx(1.0)
    assert difference(study, road_impute(plane, removed, weights=weights)) > TOLERANCE
