"""The explanation study's generalised Grad-CAM (`validation/explain/study/variants.py`) and
occlusion (`validation/explain/study/occlusion.py`) on models known in closed form; and the
study's default variant against the device's released map (SRS-031, SRS-032)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from device_ai.explain.gradcam import description
from device_ai.explain.gradcam import gradcam as released_gradcam
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig
from tests.explain.closed_form import (
    SIZE,
    closed_form_mlp_model,
    closed_form_model,
    inside,
    mass_inside,
    predicted,
    region_image,
)
from validation.explain.study.occlusion import occlusion
from validation.explain.study.variants import DEFAULT, HEAD_INPUT, Variant, gradcam, gradcam_maps, resolve


def _random_model(seed: int) -> DinoSegmenter:
    """A small segmenter with every parameter drawn at random (layer scales included, so every
    branch of every block carries evidence): a map nothing in closed form could fake."""
    torch.manual_seed(seed)
    model = DinoSegmenter(SegmenterConfig("demo_vitt14_reg4", "linear", 3, (3,), SIZE))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape) * max(float(param.std()), 0.05))
    return model.eval()


def _released_and_study(model: DinoSegmenter, image: np.ndarray, label: int, mask: np.ndarray,
                        other: Variant) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    study = gradcam_maps(model, image, label, [DEFAULT, other], mask)
    return released_gradcam(model, image, label, mask), study[DEFAULT], study[other]


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("seed", [0, 1])
def test_the_study_default_is_the_released_map_on_a_random_model(seed: int) -> None:
    """The study measured ``DEFAULT``; the device computes its own implementation of it. Both
    must give the same map, and the comparison must be able to fail: classic Grad-CAM at the
    same site (no centring) and mean-centred Grad-CAM at the block output are different maps."""
    model = _random_model(seed)
    image = np.random.default_rng(seed).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    mask = inside()
    for other in (Variant(None, "gradcam", None, tap="mlp_input"), Variant(None, "gradcam", "mean")):
        released, study, control = _released_and_study(model, image, 2, mask, other)
        assert released.any() and 0 < float(released.mean()) < 1  # a map with structure, not a constant
        assert np.allclose(released, study, rtol=0, atol=1e-6)
        # negative control: the same comparison fails for another variant, by far more than its tolerance
        assert not np.allclose(released, control, rtol=0, atol=1e-6), other.key
        assert float(np.abs(released - control).max()) > 1e-3, other.key
    assert resolve(model, DEFAULT).description == description(model)


@pytest.mark.req("SRS-031")
def test_the_study_default_is_the_released_map_on_the_closed_form_model() -> None:
    model, image = closed_form_mlp_model(), region_image()
    mask = predicted(model, image)
    # here every channel-weighted map is the region's indicator; HiResCAM's element-wise weights are not
    released, study, control = _released_and_study(model, image, 1, mask, Variant(3, "hirescam", "mean", tap="mlp_input"))
    assert released.any()
    assert np.allclose(released, study, rtol=0, atol=1e-6)
    # negative control: HiResCAM at the same site
    assert not np.allclose(released, control, rtol=0, atol=1e-6)
    assert float(np.abs(released - control).max()) > 1e-3


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("weighting", ["gradcam", "hirescam"])
def test_gradcam_mass_lies_in_the_region_that_determines_the_logit(weighting: str) -> None:
    model, image = closed_form_mlp_model(), region_image()  # the default tap is the last block's MLP input
    cam = gradcam(model, image, label=1, weighting=weighting)
    assert cam.shape == (SIZE, SIZE) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("variant", [
    Variant(3, "gradcam", "air"), Variant(3, "hirescam", "air"), Variant(3, "gradcam++", "air"),
    Variant(3, "elementwise", "air"), Variant(1, "gradcam", "air", integrated=True),
    Variant(3, "hirescam", "air", integrated=True), Variant(HEAD_INPUT, "gradcam"), Variant(HEAD_INPUT, "gradcam", "air"),
], ids=lambda v: v.key)
def test_study_variants_put_their_mass_in_the_region_that_determines_the_logit(variant: Variant) -> None:
    model, image = closed_form_model(), region_image()
    cam = gradcam_maps(model, image, 1, [variant])[variant]
    assert cam.shape == (SIZE, SIZE) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("variant", [
    DEFAULT, Variant(3, "gradcam", None, tap="mlp_input"), Variant(3, "gradcam", "air", tap="mlp_input"),
    Variant(3, "gradcam", "mean"), Variant(3, "gradcam", "air"),
], ids=lambda v: v.key)
def test_the_default_at_the_last_mlp_input_puts_its_mass_in_the_region(variant: Variant) -> None:
    model, image = closed_form_mlp_model(), region_image()
    mask = predicted(model, image)
    assert (mask & inside()).sum() / (mask | inside()).sum() > 0.97  # the closed form holds
    cam = gradcam_maps(model, image, 1, [variant])[variant]
    assert cam.shape == (SIZE, SIZE) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
def test_the_mlp_input_tap_sees_only_what_passes_through_the_mlp() -> None:
    model, image = closed_form_model(), region_image()
    assert not gradcam(model, image, 1, layer=3, tap="mlp_input").any()
    assert gradcam(closed_form_mlp_model(), image, 1, layer=3, tap="mlp_input").any()


@pytest.mark.req("SRS-031")
def test_mean_centring_ranks_tokens_above_the_image_average() -> None:
    # Grad-CAM weights are per channel, so centring on the mean token subtracts one constant from
    # the classic map before the ReLU: the mean-centred map is relu(classic_raw - its mean).
    model, image = closed_form_mlp_model(), region_image()
    both = [Variant(3, "gradcam", None, tap="mlp_input"), Variant(3, "gradcam", "mean", tap="mlp_input")]
    classic, centred = gradcam_maps(model, image, 1, both).values()
    assert np.corrcoef(classic[classic > 0].ravel(), centred[classic > 0].ravel())[0, 1] > 0.99
    assert (centred > 0).sum() <= (classic > 0).sum()


@pytest.mark.req("SRS-031")
def test_one_pass_for_many_variants_gives_the_maps_of_single_calls() -> None:
    model, image = closed_form_model(), region_image()
    variants = [Variant(2, "gradcam", "air"), Variant(3, "hirescam"), Variant(None, "gradcam")]
    together = gradcam_maps(model, image, 1, variants)
    for variant in variants:
        alone = gradcam(model, image, 1, layer=variant.layer, weighting=variant.weighting, baseline=variant.baseline,
                        tap=variant.tap)
        np.testing.assert_allclose(together[variant], alone, atol=1e-6)
    # the default is Grad-CAM on the last block's MLP input, mean-centred (validation/explain/results.md)
    assert resolve(model, DEFAULT) == Variant(3, "gradcam", "mean", False, "mlp_input")
    assert resolve(model, DEFAULT).key == "mean_gradcam_block3_mlp_input"
    np.testing.assert_allclose(gradcam(model, image, 1), gradcam_maps(model, image, 1, [DEFAULT])[DEFAULT], atol=1e-6)
    classic = gradcam(model, image, 1, baseline=None, tap="output")  # classic Grad-CAM: still selectable
    np.testing.assert_allclose(classic, together[Variant(None, "gradcam")], atol=1e-6)


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("options", [{"layer": 4}, {"layer": "norm"}, {"weighting": "scorecam"},
                                     {"baseline": "blur"}, {"integrated": True, "baseline": None},
                                     {"integrated": True, "baseline": "mean"}, {"tap": "attention"},
                                     {"layer": "head", "tap": "mlp_input"}])
def test_unknown_options_are_refused(options: dict) -> None:
    model, image = closed_form_model(), region_image()
    with pytest.raises(ValueError):
        gradcam(model, image, 1, **options)


@pytest.mark.req("SRS-032")
def test_occlusion_through_an_engine_function_finds_the_same_region() -> None:
    model, image = closed_form_model(), region_image()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    mask = run(image).argmax(1)[0] == 1
    cam = occlusion(run, image, 1, mask, patch=14, stride=14)
    assert mass_inside(cam) >= 0.9
