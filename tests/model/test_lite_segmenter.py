"""The lite segmenter (SRS-235; issue 20 item 6): 3 blocks and the lite decoder, at most half the
demo segmenter's multiply-accumulates, exported like a release, selectable for phantom training and
recorded in full in the manifest."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from device_ai.cli.analysis import HEAD_NAMES, PHANTOM_ARCHITECTURE_NAMES
from device_ai.model.export import INPUT_NAME, export_onnx
from device_ai.model.heads import LightDecoderHead, LiteDecoderHead
from device_ai.model.segmenter import (
    DEMO_SEGMENTER,
    HEADS,
    LITE_SEGMENTER,
    PHANTOM_ARCHITECTURES,
    DinoSegmenter,
    SegmenterConfig,
)
from device_ai.training.train import TrainingPlan, _manifest_fields, backbone_record, head_record
from tests.model.test_heads import assert_shapes_and_gradients


def _conv_macs(head: nn.Module, features: list[torch.Tensor], image: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d of ``head`` (a grouped conv: in_channels / groups per output)."""
    macs = 0

    def count(module: nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += out.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]

    hooks = [module.register_forward_hook(count) for module in head.modules()]
    with torch.no_grad():
        head(features, image)
    for hook in hooks:
        hook.remove()
    return macs


def _model_flops(cfg: SegmenterConfig) -> int:
    torch.manual_seed(0)
    model = DinoSegmenter(cfg).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, cfg.input_size, cfg.input_size))
    return counter.get_total_flops()


@pytest.mark.req("SRS-235")
@pytest.mark.parametrize(("height", "width"), [(56, 56), (70, 98)])  # 70x98: odd sizes at 1/2 and 1/4
def test_lite_decoder_shapes_and_gradients_into_tokens_and_skips(height: int, width: int) -> None:
    torch.manual_seed(0)
    head = LiteDecoderHead(16, 3)
    assert_shapes_and_gradients(head, height, width, ["stem1", "stem2", "stem4", "project", "fuse4", "fuse2"])
    # no full-resolution stage: the first image conv already halves the resolution
    assert head.stem1[0].stride == (2, 2) and not hasattr(head, "fuse1")


@pytest.mark.req("SRS-235")
def test_lite_decoder_size_matches_its_docstring_and_is_a_quarter_of_the_light_decoders() -> None:
    torch.manual_seed(0)
    lite, light = LiteDecoderHead(2 * 192, 3).eval(), LightDecoderHead(2 * 192, 3).eval()
    features, image = [torch.zeros(1, 192, 16, 16)] * 2, torch.zeros(1, 3, 224, 224)
    assert sum(p.numel() for p in lite.parameters()) == 54_067
    lite_macs, light_macs = _conv_macs(lite, features, image), _conv_macs(light, features, image)
    assert round(lite_macs / 1e9, 3) == 0.246 and round(light_macs / 1e9, 3) == 0.990
    assert lite_macs <= light_macs / 4
    assert "54,067" in (LiteDecoderHead.__doc__ or "") and "0.246 G" in (LiteDecoderHead.__doc__ or "")


@pytest.mark.req("SRS-235")
def test_the_lite_segmenter_needs_at_most_half_the_demo_segmenters_flops() -> None:
    lite, demo = _model_flops(LITE_SEGMENTER), _model_flops(DEMO_SEGMENTER)
    assert lite <= demo / 2, (lite, demo)
    # control: a lite decoder on the 4-block backbone alone is not enough
    four_blocks = SegmenterConfig("demo_vitt14_reg4", "lite_decoder", 3, (1, 3), 224)
    assert _model_flops(four_blocks) > demo / 2


@pytest.mark.req("SRS-235")
def test_the_lite_segmenter_exports_with_parity() -> None:
    torch.manual_seed(0)
    model = DinoSegmenter(LITE_SEGMENTER).eval()
    for module in model.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    session = ort.InferenceSession(export_onnx(model, LITE_SEGMENTER.input_size), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(image)).numpy()
    got = session.run(None, {INPUT_NAME: image})[0]
    assert got.shape == (1, 3, 224, 224)
    assert float(np.abs(got - expected).max()) <= 1e-4


@pytest.mark.req("SRS-235")
def test_the_cli_names_are_the_segmenter_modules() -> None:
    assert PHANTOM_ARCHITECTURE_NAMES == tuple(PHANTOM_ARCHITECTURES)
    assert HEAD_NAMES == HEADS
    assert PHANTOM_ARCHITECTURES["demo"] == DEMO_SEGMENTER  # the default stays the 1.0.0 design


@pytest.mark.req("SRS-235")
def test_a_lite_package_records_its_whole_configuration_even_from_generator_1() -> None:
    plan = TrainingPlan(segmenter=LITE_SEGMENTER).resolved()  # generator 1, where the 1.0.0 plan records none

    class _Pool:
        manifest_sha256, patient_ids, generator, domain = "0" * 64, ["a"], None, None

    class _Report:
        max_abs_logit_diff, mask_agreement, cases = 0.0, 1.0, 1

    fields = _manifest_fields(plan, _Pool(), _Pool(), 1.0, "0" * 64, _Report(), {})
    assert fields["architecture"]["head"] == "lite_decoder" and fields["architecture"]["backbone"] == "demo_vitt14_reg4_d3"
    assert fields["backbone_config"] == backbone_record(LITE_SEGMENTER) and fields["backbone_config"]["depth"] == 3
    assert fields["head_config"] == head_record(LITE_SEGMENTER)
    assert fields["head_config"]["type"] == "lite_decoder" and fields["head_config"]["widths"] == [16, 32, 48]
    # control: the 1.0.0 plan (demo segmenter, generator 1) still records neither, so its manifest keeps its bytes
    demo_fields = _manifest_fields(TrainingPlan().resolved(), _Pool(), _Pool(), 1.0, "0" * 64, _Report(), {})
    assert "backbone_config" not in demo_fields and "head_config" not in demo_fields
