"""Starting training from an official DINOv2 checkpoint (issue 14 item 6, SRS-089).

The checkpoint is synthetic but official in format: random tensors under the official
``dinov2_vits14_reg4_pretrain.pth`` key names and shapes (the table in
tests/model/test_dinov2_checkpoint.py, written from reference/model.md §1.4, not from our
model), saved with ``torch.save``, 37 x 37 position grid (518 px).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from device_ai.errors import CheckpointMismatch, ConfigError, ModelIntegrityError
from device_ai.model.dinov2 import get_config, interpolate_pos_embed
from device_ai.model.dinov2 import checkpoint as checkpoint_module
from device_ai.training.backbone_weights import BackboneStart, build_segmenter, segmenter_config
from device_ai.training.data import SlicePool
from device_ai.training.train import TrainingPlan, train_model
from tests.model.test_dinov2_checkpoint import official_key_shapes

SIZE = 56  # 4 x 4 patches: the checkpoint's 37 x 37 grid is re-sampled, the rest is the real ViT-S


def _official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) * 0.02
            for key, shape in official_key_shapes("s", registers=True).items()}


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, torch.Tensor]]:
    state = _official_state()
    path = tmp_path_factory.mktemp("weights") / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


def _cfg(head: str = "linear"):  # noqa: ANN202
    return segmenter_config("dinov2_vits14_reg4", head, SIZE, 3)


@pytest.mark.req("SRS-089")
def test_an_official_format_checkpoint_loads_strictly_into_the_segmenter(official) -> None:  # noqa: ANN001
    path, digest, state = official
    model = build_segmenter(_cfg(), BackboneStart("frozen", path, digest), seed=0)
    ours = model.backbone.state_dict()
    assert set(ours) == set(state)
    for key, value in state.items():
        if key != "pos_embed":
            assert torch.equal(ours[key], value), key
    vit = get_config("dinov2_vits14_reg4")
    expected_pos = interpolate_pos_embed(state["pos_embed"], SIZE, SIZE, 14, vit.interpolate_offset,
                                         vit.interpolate_antialias)
    assert tuple(ours["pos_embed"].shape) == (1, 1 + 4 * 4, 384)
    assert torch.equal(ours["pos_embed"], expected_pos)
    assert model.cfg.layers == (8, 9, 10, 11)  # the last four blocks feed the head
    assert not any(p.requires_grad for p in model.backbone.parameters())


@pytest.mark.req("SRS-089")
def test_a_wrong_sha256_is_refused_before_the_file_is_unpickled(official, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    path, digest, _ = official

    def must_not_unpickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called before the digest check")

    monkeypatch.setattr(checkpoint_module.torch, "load", must_not_unpickle)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(ModelIntegrityError, match="it was not loaded") as info:
        build_segmenter(_cfg(), BackboneStart("frozen", path, wrong), seed=0)
    assert info.value.code == "DAI-300" and digest in info.value.message


@pytest.mark.req("SRS-089")
def test_missing_or_unexpected_keys_are_refused_by_name_before_any_weight_is_copied(tmp_path: Path) -> None:
    from device_ai.model.dinov2.checkpoint import load_official_checkpoint
    from device_ai.model.segmenter import DinoSegmenter

    model = DinoSegmenter(_cfg())
    untouched = {key: value.clone() for key, value in model.backbone.state_dict().items()}
    state = _official_state()
    missing = {key: value for key, value in state.items() if key != "blocks.3.ls1.gamma"}
    extra = {**state, "head.weight": torch.zeros(1000, 384)}
    plain = {key: value for key, value in state.items() if key != "register_tokens"}  # a dinov2_vits14 file
    for variant, line in ((missing, "missing key blocks.3.ls1.gamma"), (extra, "unexpected key head.weight"),
                          (plain, "missing key register_tokens")):
        path = tmp_path / "checkpoint.pth"
        torch.save(variant, path)
        with pytest.raises(CheckpointMismatch) as info:
            load_official_checkpoint(model.backbone, path, hashlib.sha256(path.read_bytes()).hexdigest())
        assert info.value.code == "DAI-310"
        assert line in info.value.problems and line in info.value.message
        assert "does not match the dinov2_vits14_reg4 layout" in info.value.message
        # Nothing was copied (a strict load_state_dict that fails has already copied the matching keys).
        assert all(torch.equal(model.backbone.state_dict()[key], value) for key, value in untouched.items())


@pytest.mark.req("SRS-089")
def test_options_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs --backbone-weights"):
        BackboneStart("finetune")
    with pytest.raises(ConfigError, match="training from scratch"):
        BackboneStart("scratch", Path("x.pth"), "0" * 64)
    with pytest.raises(ConfigError, match="has no official checkpoint"):
        build_segmenter(segmenter_config("demo_vitt14_reg4", "linear", 224, 3),
                        BackboneStart("frozen", Path("x.pth"), "0" * 64), seed=0)


def _pool() -> SlicePool:
    rng = np.random.default_rng(0)
    planes = rng.random((4, SIZE, SIZE), dtype=np.float32)
    labels = (planes > 0.6).astype(np.uint8) + (planes > 0.9).astype(np.uint8)
    return SlicePool(planes, labels, ("FAKE-PAT-001",) * 4, "0" * 64, generator="test")


@pytest.mark.req("SRS-089")
@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_frozen_training_changes_only_the_head_and_finetuning_the_backbone_too(official, mode: str) -> None:  # noqa: ANN001
    path, digest, _ = official
    model = build_segmenter(_cfg(), BackboneStart(mode, path, digest), seed=0)
    before_backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    before_head = {k: v.clone() for k, v in model.head.state_dict().items()}
    plan = TrainingPlan(steps=2, batch_size=2, warmup_steps=1, segmenter=_cfg())
    trained = train_model(plan, _pool(), model=model, backbone_lr_factor=0.1 if mode == "finetune" else 1.0)
    changed_backbone = [k for k, v in trained.backbone.state_dict().items() if not torch.equal(v, before_backbone[k])]
    changed_head = [k for k, v in trained.head.state_dict().items() if not torch.equal(v, before_head[k])]
    assert changed_head  # the head always learns
    if mode == "frozen":
        assert changed_backbone == []
    else:  # negative control of the frozen check: fine-tuning does move the backbone
        assert "blocks.11.attn.qkv.weight" in changed_backbone and "pos_embed" in changed_backbone
