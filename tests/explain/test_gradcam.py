"""Grad-CAM and occlusion on a model known in closed form, and the twin-agreement gate
(SRS-031, SRS-032, SRS-033)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from device_ai.explain.consistency import ExplanationRefused, check_twin_agreement
from device_ai.explain.gradcam import DEFAULT, HEAD_INPUT, Variant, gradcam, gradcam_maps, resolve
from device_ai.explain.occlusion import occlusion
from device_ai.inference.preprocess import normalize
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig

SIZE = 224
REGION = (slice(56, 168), slice(70, 182))  # 8 x 8 patches, aligned to the 14-px grid


def closed_form_model() -> DinoSegmenter:
    """Blocks are identities (layer scale 0), no position embedding; token channel 0 is the
    patch mean of input channel 0; after the final LayerNorm it is +sqrt(D-1) where that mean
    is positive, so the label-1 logit at a pixel depends only on the input in its own patch."""
    model = DinoSegmenter(SegmenterConfig("demo_vitt14_reg4", "linear", 2, (3,), SIZE))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        backbone = model.backbone
        backbone.patch_embed.proj.weight[0, 0] = 1.0 / 196
        backbone.norm.weight.fill_(1.0)
        head = model.head
        head.bn.running_mean.zero_()
        head.bn.running_var.fill_(1.0)
        head.bn.weight.fill_(1.0)
        head.conv_seg.weight[1, 0, 0, 0] = 1.0
    return model.eval()


def closed_form_mlp_model() -> DinoSegmenter:
    """``closed_form_model`` with the label-1 logit routed through the last block's MLP: its
    hidden unit 0 reads the normalised channel 0 (+sqrt(D-1) where the patch mean is positive,
    -sqrt(D-1) elsewhere) and writes channel 1, which the head reads after the final LayerNorm
    (13.64 inside the region, 0.072 outside), scaled and offset to +1 inside and -1 outside. The
    logit still depends only on the input in the pixel's own patch, now through the MLP."""
    model = closed_form_model()
    inside, outside = 13.6405, 0.0724  # channel 1 after the final LayerNorm, measured
    with torch.no_grad():
        block = model.backbone.blocks[-1]
        block.norm2.weight.fill_(1.0)
        block.mlp.fc1.weight[0, 0] = 1.0
        block.mlp.fc2.weight[1, 0] = 1.0
        block.ls2.gamma[1] = 1.0
        head = model.head
        head.conv_seg.weight[1, 0, 0, 0] = 0.0
        head.conv_seg.weight[1, 1, 0, 0] = 2.0 / (inside - outside)
        head.conv_seg.bias[1] = -1.0 - outside * 2.0 / (inside - outside)
    return model.eval()


def region_image() -> np.ndarray:
    planes = np.zeros((1, SIZE, SIZE), dtype=np.float32)
    planes[0][REGION] = 1.0
    return normalize(planes)


def _mass_inside(cam: np.ndarray) -> float:
    return float(cam[REGION].sum() / cam.sum())


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("weighting", ["gradcam", "hirescam"])
def test_gradcam_mass_lies_in_the_region_that_determines_the_logit(weighting: str) -> None:
    model, image = closed_form_mlp_model(), region_image()  # the default tap is the last block's MLP input
    with torch.no_grad():
        predicted = model(torch.from_numpy(image)).argmax(1)[0].numpy()
    inside = np.zeros_like(predicted, dtype=bool)
    inside[REGION] = True
    # the logits are upsampled bilinearly: the label flips at the patch boundary, within a pixel
    assert (predicted.astype(bool) & inside).sum() / (predicted.astype(bool) | inside).sum() > 0.97
    cam = gradcam(model, image, label=1, weighting=weighting)
    assert cam.shape == (SIZE, SIZE) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert _mass_inside(cam) >= 0.9


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
    assert _mass_inside(cam) >= 0.9


def _predicted(model: DinoSegmenter, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(image)).argmax(1)[0].numpy().astype(bool)


@pytest.mark.req("SRS-031")
@pytest.mark.parametrize("variant", [
    DEFAULT, Variant(3, "gradcam", None, tap="mlp_input"), Variant(3, "gradcam", "air", tap="mlp_input"),
    Variant(3, "gradcam", "mean"), Variant(3, "gradcam", "air"),
], ids=lambda v: v.key)
def test_the_default_at_the_last_mlp_input_puts_its_mass_in_the_region(variant: Variant) -> None:
    model, image = closed_form_mlp_model(), region_image()
    inside = np.zeros((SIZE, SIZE), dtype=bool)
    inside[REGION] = True
    predicted = _predicted(model, image)
    assert (predicted & inside).sum() / (predicted | inside).sum() > 0.97  # the closed form holds
    cam = gradcam_maps(model, image, 1, [variant])[variant]
    assert cam.shape == (SIZE, SIZE) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert _mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
def test_the_mlp_input_tap_sees_only_what_passes_through_the_mlp() -> None:
    # In closed_form_model the MLP branch is switched off (layer scale 0): the logit does not depend
    # on the last block's MLP input, so the map there is empty, not a guess.
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
    assert _mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
def test_empty_target_gives_an_empty_map() -> None:
    model = closed_form_model()
    image = normalize(np.zeros((1, SIZE, SIZE), dtype=np.float32))
    assert not gradcam(model, image, label=1).any()


@pytest.mark.req("SRS-033")
def test_a_twin_that_disagrees_with_ort_is_refused(released_engine) -> None:  # noqa: ANN001
    from device_ai.model.twin import load_twin
    from device_ai.training.data import build_pool

    pool = build_pool("verification", 1, 224, slices_per_patient=3)
    image = normalize(pool.planes[1:2])
    ort_logits = released_engine.run(image)
    twin = load_twin(released_engine.package)
    assert check_twin_agreement(twin, ort_logits, image) >= 0.999
    with torch.no_grad():
        twin.head.classifier.weight.mul_(-1.0)  # a perturbed twin: not the released weights
    with pytest.raises(ExplanationRefused, match="agrees with the locked ONNX Runtime result on only"):
        check_twin_agreement(twin, ort_logits, image)
