"""Versioned preprocessing (SRS-012) and postprocessing with measurements (SRS-013)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from device_ai.inference.postprocess import (
    DEFAULT_POSTPROCESSING,
    clean_labels,
    first_argmax,
    logits_to_labels,
    measure,
)
from device_ai.inference.preprocess import DEFAULT_PREPROCESSING, IMAGENET_MEAN, IMAGENET_STD, preprocess_slice
from device_ai.model.package.manifest import LabelRole, find_label
from device_ai.training.labels import DEMO_LABELS

ORGAN = find_label(DEMO_LABELS, role=LabelRole.ORGAN).value
LESION = find_label(DEMO_LABELS, role=LabelRole.LESION).value
# The same labels with their values swapped: postprocessing must follow the manifest, not literals.
SWAPPED = tuple(label.model_copy(update={"value": {ORGAN: LESION, LESION: ORGAN}[label.value]}) for label in DEMO_LABELS)


@pytest.mark.req("SRS-012")
def test_preprocessing_windows_resamples_and_normalizes() -> None:
    hu = np.full((300, 300), -1000.0, dtype=np.float32)
    hu[100:200, 100:200] = 240.0  # top of the 40/400 window
    hu[0:50, 0:50] = 40.0  # the window centre
    out = preprocess_slice(hu, 224)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    for channel in range(3):
        plane = out[0, channel] * IMAGENET_STD[channel] + IMAGENET_MEAN[channel]
        assert plane[112, 112] == pytest.approx(1.0, abs=1e-5)
        assert plane[10, 10] == pytest.approx(0.5, abs=1e-5)
        assert plane[223, 223] == pytest.approx(0.0, abs=1e-5)
    assert DEFAULT_PREPROCESSING.version == "ct-window-v1"


@pytest.mark.req("SRS-012")
def test_downsampling_is_antialiased() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(40.0, 100.0, size=(512, 512)).astype(np.float32)
    out = preprocess_slice(noise, 224)[0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    nearest = np.asarray(Image.fromarray(np.clip((noise + 160) / 400, 0, 1), mode="F").resize((224, 224), Image.Resampling.NEAREST))
    assert out.std() < 0.8 * nearest.std()  # averaging over the footprint lowers the noise


@pytest.mark.req("SRS-012")
def test_unknown_preprocessing_version_is_refused() -> None:
    spec = DEFAULT_PREPROCESSING.model_copy(update={"version": "ct-window-v9"})
    with pytest.raises(ValueError, match="not implemented"):
        preprocess_slice(np.zeros((256, 256), np.float32), 224, spec)


@pytest.mark.req("SRS-013")
def test_logits_are_upsampled_before_the_argmax() -> None:
    logits = np.zeros((3, 4, 4), dtype=np.float32)
    logits[1, :, 2:] = 5.0  # right half organ
    labels = logits_to_labels(logits, 8, 8)
    assert labels.shape == (8, 8)
    assert np.all(labels[:, :3] == 0) and np.all(labels[:, 5:] == 1)  # channel 1 wins: value 1


@pytest.mark.req("SRS-013")
@pytest.mark.parametrize("label_defs", [DEMO_LABELS, SWAPPED], ids=["demo", "swapped-values"])
def test_cleaning_keeps_the_largest_organ_and_drops_tiny_lesions(label_defs) -> None:
    organ = find_label(label_defs, role=LabelRole.ORGAN).value
    lesion = find_label(label_defs, role=LabelRole.LESION).value
    labels = np.zeros((4, 64, 64), dtype=np.uint8)
    labels[:, 10:40, 10:40] = organ
    labels[1:3, 20:28, 20:28] = lesion  # 2 x 8 x 8 voxels = 128 voxels
    labels[2, 30, 30] = lesion  # one stray voxel inside the organ
    labels[:, 55:60, 55:60] = organ  # a separate speck far away
    cleaned = clean_labels(labels, voxel_volume_mm3=1.0, spec=DEFAULT_POSTPROCESSING, label_defs=label_defs)
    assert np.all(cleaned[:, 55:60, 55:60] == 0)
    assert cleaned[2, 30, 30] == organ  # 1 mm^3 < 100 mm^3
    assert np.all(cleaned[1:3, 20:28, 20:28] == lesion)


@pytest.mark.req("SRS-013")
@pytest.mark.parametrize("label_defs", [DEMO_LABELS, SWAPPED], ids=["demo", "swapped-values"])
def test_volumes_and_lesion_count_use_the_voxel_size(label_defs) -> None:
    organ = find_label(label_defs, role=LabelRole.ORGAN).value
    lesion = find_label(label_defs, role=LabelRole.LESION).value
    labels = np.zeros((5, 40, 40), dtype=np.uint8)
    labels[:, 5:35, 5:35] = organ
    labels[1:4, 10:14, 10:14] = lesion
    labels[1:3, 25:30, 25:30] = lesion
    result = measure(labels, (2.0, 0.5, 0.5), label_defs=label_defs)
    voxel = 2.0 * 0.5 * 0.5
    assert result.lesion_count == 2
    assert list(result.volumes_ml) == [label.name for label in label_defs]
    assert result.volumes_ml["Lesion"] == pytest.approx((3 * 16 + 2 * 25) * voxel / 1000)
    assert result.volumes_ml["Organ"] == pytest.approx((5 * 900 - 3 * 16 - 2 * 25) * voxel / 1000)
    assert sorted(lesion.max_inplane_extent_mm for lesion in result.lesions) == [2.0, 2.5]


@pytest.mark.req("SRS-013")
def test_postprocessing_refuses_labels_without_an_organ_and_a_lesion() -> None:
    only_organ = tuple(label for label in DEMO_LABELS if label.role is LabelRole.ORGAN)
    with pytest.raises(ValueError, match="needs one lesion label"):
        clean_labels(np.zeros((1, 4, 4), np.uint8), 1.0, label_defs=only_organ)


@pytest.mark.req("SRS-013")
@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.data())
def test_first_argmax_equals_numpy_argmax_ties_nan_and_infinities_included(channels, rows, cols, data) -> None:
    """The label map's argmax (a faster equivalent of np.argmax over the channel axis) gives numpy's
    labels exactly: small integer logits make ties common; NaN and infinities are drawn too."""
    values = st.one_of(st.integers(-2, 2).map(float), st.sampled_from([np.nan, np.inf, -np.inf]))
    planes = [np.array(data.draw(st.lists(values, min_size=rows * cols, max_size=rows * cols)),
                       dtype=np.float32).reshape(rows, cols) for _ in range(channels)]
    assert np.array_equal(first_argmax(planes), np.argmax(np.stack(planes), axis=0).astype(np.uint8))


@pytest.mark.req("SRS-013")
def test_first_argmax_keeps_the_first_channel_on_ties_where_a_last_wins_variant_differs() -> None:
    planes = [np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)]
    assert np.all(first_argmax(planes) == 0)
    # control: the comparison a careless rewrite would use (>=) takes the last tied channel
    last_wins = np.where(planes[1] >= planes[0], 1, 0)
    assert not np.array_equal(first_argmax(planes), last_wins)
