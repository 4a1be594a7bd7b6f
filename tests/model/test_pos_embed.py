"""Fixed input size: the position embedding is interpolated once with the official formula
(facebookresearch/dinov2 ``interpolate_pos_encoding``; reference/model.md §1.3) and any other
size is rejected (SRS-003)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from device_ai.model.dinov2 import DinoVisionTransformer, get_config
from device_ai.model.dinov2.checkpoint import load_official_checkpoint, sha256_file

NAMES = [f"dinov2_vit{s}14{r}" for s in "sblg" for r in ("", "_reg4")]


def official_interpolation(pos_embed: torch.Tensor, height: int, width: int, offset: float,
                           antialias: bool) -> torch.Tensor:
    """The official call, written out for a 37 x 37 grid and patch 14."""
    grid = pos_embed[:, 1:].float().reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    h0, w0 = height // 14, width // 14
    if offset:
        out = F.interpolate(grid, scale_factor=((h0 + offset) / 37, (w0 + offset) / 37), mode="bicubic",
                            antialias=antialias)
    else:
        out = F.interpolate(grid, size=(h0, w0), mode="bicubic", antialias=antialias)
    return torch.cat([pos_embed[:, :1], out.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)], dim=1)


def small(name: str) -> DinoVisionTransformer:
    """The official config's interpolation settings and 37 x 37 grid, with a narrow, 1-block body."""
    return DinoVisionTransformer(dataclasses.replace(get_config(name), embed_dim=32, depth=1, num_heads=1))


@pytest.mark.req("SRS-003")
@pytest.mark.parametrize("name", NAMES)
def test_official_interpolation_settings(name: str) -> None:
    # hub/backbones.py: plain models offset 0.1, no antialias; _reg4 offset 0.0, antialias.
    cfg = get_config(name)
    expected = (0.0, True) if name.endswith("_reg4") else (0.1, False)
    assert (cfg.interpolate_offset, cfg.interpolate_antialias) == expected
    assert (cfg.patch_size, cfg.native_img_size) == (14, 518)


@pytest.mark.req("SRS-003")
@pytest.mark.parametrize("name", ["dinov2_vits14", "dinov2_vits14_reg4"])
@pytest.mark.parametrize(("height", "width"), [(224, 224), (224, 308), (644, 518)])
def test_position_embedding_is_interpolated_once_with_the_official_formula(name: str, height: int, width: int) -> None:
    model = small(name)
    original = model.pos_embed.detach().clone()
    cfg = model.cfg
    model.fix_input_size(height, width)
    expected = official_interpolation(original, height, width, cfg.interpolate_offset, cfg.interpolate_antialias)
    assert model.pos_embed.shape == expected.shape == (1, 1 + (height // 14) * (width // 14), 32)
    assert torch.allclose(model.pos_embed, expected, atol=1e-6, rtol=0)
    # The variants really differ here (so the comparison above can fail): the other formula
    # is far off.
    other = official_interpolation(original, height, width, 0.1 - cfg.interpolate_offset, not cfg.interpolate_antialias)
    assert (model.pos_embed - other).abs().max() > 1e-3
    assert isinstance(model.pos_embed, torch.nn.Parameter) and model.pos_embed.requires_grad
    assert model.input_size == (height, width)
    assert model.forward_features(torch.zeros(1, 3, height, width))["x_norm_patchtokens"].shape[1] == (
        height // 14) * (width // 14)


@pytest.mark.req("SRS-003")
def test_native_size_is_unchanged_and_other_sizes_are_refused() -> None:
    model = small("dinov2_vits14_reg4")
    original = model.pos_embed.detach().clone()
    assert model.input_size == (518, 518)
    model.fix_input_size(518, 518)
    assert torch.equal(model.pos_embed, original)
    with pytest.raises(ValueError, match=r"accepts exactly .*\(518, 518\)"):
        model(torch.zeros(1, 3, 224, 224))

    model.fix_input_size(224, 224)
    for bad in [(1, 3, 518, 518), (1, 3, 238, 224), (1, 3, 224, 238), (3, 224, 224)]:
        with pytest.raises(ValueError, match=r"accepts exactly .*\(224, 224\)"):
            model.forward_features(torch.zeros(bad))
        if len(bad) == 4:
            with pytest.raises(ValueError, match=r"\(224, 224\)"):
                model.get_intermediate_layers(torch.zeros(bad), n=1)
    with pytest.raises(ValueError, match="already fixed"):
        model.fix_input_size(336, 336)  # never re-sample an already re-sampled grid
    with pytest.raises(ValueError, match="multiple of the patch size"):
        small("dinov2_vits14").fix_input_size(225, 224)


@pytest.mark.req("SRS-003", "SRS-001")
@pytest.mark.parametrize("name", ["dinov2_vits14", "dinov2_vits14_reg4"])
def test_loading_a_native_checkpoint_into_a_fixed_model_equals_fixing_afterwards(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    native = small(name)
    path = tmp_path / "w.pth"
    torch.save(native.state_dict(), path)
    digest = sha256_file(path)

    fixed_first = small(name)
    fixed_first.fix_input_size(224, 308)
    load_official_checkpoint(fixed_first, path, digest)

    loaded_first = small(name)
    load_official_checkpoint(loaded_first, path, digest)
    loaded_first.fix_input_size(224, 308)

    expected = official_interpolation(native.pos_embed.detach(), 224, 308, native.cfg.interpolate_offset,
                                      native.cfg.interpolate_antialias)
    assert torch.equal(fixed_first.pos_embed, loaded_first.pos_embed)
    assert torch.allclose(fixed_first.pos_embed, expected, atol=1e-6, rtol=0)
