"""The released Grad-CAM configuration on a model known in closed form, and the twin-agreement
gate (SRS-031, SRS-033). The study's other configurations: `test_study_variants.py`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from device_ai.explain.consistency import ExplanationRefused, check_twin_agreement
from device_ai.explain.gradcam import DESCRIPTION, description, gradcam
from device_ai.inference.preprocess import normalize
from tests.explain.closed_form import (
    SIZE,
    closed_form_mlp_model,
    closed_form_model,
    inside,
    mass_inside,
    predicted,
    region_image,
)


@pytest.mark.req("SRS-031")
def test_gradcam_mass_lies_in_the_region_that_determines_the_logit() -> None:
    model, image = closed_form_mlp_model(), region_image()  # the released site is the last block's MLP input
    mask = predicted(model, image)
    # the logits are upsampled bilinearly: the label flips at the patch boundary, within a pixel
    assert (mask & inside()).sum() / (mask | inside()).sum() > 0.97
    cam = gradcam(model, image, 1, mask)
    assert cam.shape == (SIZE, SIZE) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert mass_inside(cam) >= 0.9


@pytest.mark.req("SRS-031")
def test_the_mlp_input_site_sees_only_what_passes_through_the_mlp() -> None:
    # In closed_form_model the MLP branch is switched off (layer scale 0): the logit does not depend
    # on the last block's MLP input, so the map there is empty, not a guess.
    image = region_image()
    model = closed_form_model()
    assert not gradcam(model, image, 1, predicted(model, image)).any()
    model = closed_form_mlp_model()
    assert gradcam(model, image, 1, predicted(model, image)).any()


@pytest.mark.req("SRS-031")
def test_empty_target_gives_an_empty_map() -> None:
    model = closed_form_model()
    image = normalize(np.zeros((1, SIZE, SIZE), dtype=np.float32))
    cam = gradcam(model, image, 1, np.zeros((SIZE, SIZE), dtype=bool))
    assert cam.shape == (SIZE, SIZE) and not cam.any()


@pytest.mark.req("SRS-031")
def test_a_target_mask_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="target mask"):
        gradcam(closed_form_model(), region_image(), 1, np.ones((SIZE // 2, SIZE), dtype=bool))


@pytest.mark.req("SRS-031")
def test_the_configuration_is_named_as_recorded_with_an_explanation() -> None:
    assert description(closed_form_model()) == "Grad-CAM, block 3 MLP input (mean-centred)"
    assert DESCRIPTION == "Grad-CAM, last block MLP input (mean-centred)"


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
