"""Our DINOv2 against the official checkpoint layout and the published equations
(SRS-001, SRS-002, SRS-003)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from device_ai.errors import ConfigError, ModelIntegrityError
from device_ai.model.dinov2 import OFFICIAL_CONFIGS, DinoVisionTransformer, get_config
from device_ai.model.dinov2 import checkpoint as checkpoint_module
from device_ai.model.dinov2.checkpoint import load_official_checkpoint
from device_ai.model.dinov2.configs import ViTConfig
from device_ai.model.dinov2.layers import Block

# Written from reference/model.md §1.2/§1.4 (the official *_pretrain.pth layout), not from our code.
OFFICIAL_SIZES = {"s": (384, 12), "b": (768, 12), "l": (1024, 24), "g": (1536, 40)}


def official_shapes(size: str, registers: bool) -> dict[str, tuple[int, ...]]:
    d, depth = OFFICIAL_SIZES[size]
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d), "pos_embed": (1, 1370, d), "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, 14, 14), "patch_embed.proj.bias": (d,),
        "norm.weight": (d,), "norm.bias": (d,),
    }
    if registers:
        shapes["register_tokens"] = (1, 4, d)
    for i in range(depth):
        p = f"blocks.{i}."
        shapes.update({
            p + "norm1.weight": (d,), p + "norm1.bias": (d,),
            p + "attn.qkv.weight": (3 * d, d), p + "attn.qkv.bias": (3 * d,),
            p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
            p + "ls1.gamma": (d,), p + "ls2.gamma": (d,),
            p + "norm2.weight": (d,), p + "norm2.bias": (d,),
        })
        if size == "g":
            shapes.update({p + "mlp.w12.weight": (8192, 1536), p + "mlp.w12.bias": (8192,),
                           p + "mlp.w3.weight": (1536, 4096), p + "mlp.w3.bias": (1536,)})
        else:
            shapes.update({p + "mlp.fc1.weight": (4 * d, d), p + "mlp.fc1.bias": (4 * d,),
                           p + "mlp.fc2.weight": (d, 4 * d), p + "mlp.fc2.bias": (d,)})
    return shapes


CONFIG_NAMES = [f"dinov2_vit{s}14{r}" for s in "sblg" for r in ("", "_reg4")]


@pytest.mark.req("SRS-001")
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_official_state_dict_loads_strictly(name: str) -> None:
    size, registers = name[len("dinov2_vit")], name.endswith("_reg4")
    expected = official_shapes(size, registers)
    device = torch.device("meta") if size in "lg" else torch.device("cpu")
    with device:
        model = DinoVisionTransformer(get_config(name))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    state = {k: torch.empty(shape, device=device) for k, shape in expected.items()}
    result = model.load_state_dict(state, strict=True, assign=device.type == "meta")
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.req("SRS-001")
def test_missing_extra_or_misshapen_keys_fail() -> None:
    model = DinoVisionTransformer(get_config("dinov2_vits14"))
    state = {k: torch.zeros(s) for k, s in official_shapes("s", False).items()}
    broken = dict(state)
    del broken["blocks.3.ls1.gamma"]
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict(broken, strict=True)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict({**state, "head.weight": torch.zeros(1)}, strict=True)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict({**state, "blocks.0.attn.qkv.weight": torch.zeros(384, 384)}, strict=True)


@pytest.mark.req("SRS-001")
def test_checkpoint_loads_only_with_the_pinned_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ViTConfig("tiny", 64, 2, 1, num_register_tokens=4, native_img_size=56, interpolate_offset=0.0)
    source = DinoVisionTransformer(cfg)
    path = tmp_path / "tiny_pretrain.pth"
    torch.save(source.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    target = DinoVisionTransformer(cfg)
    load_official_checkpoint(target, path, digest)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)

    def must_not_unpickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load called before the digest check")

    monkeypatch.setattr(checkpoint_module.torch, "load", must_not_unpickle)
    with pytest.raises(ModelIntegrityError, match="pinned value"):
        load_official_checkpoint(target, path, "0" * 64)
    with pytest.raises(ModelIntegrityError, match="no pinned"):
        load_official_checkpoint(target, path, "")


@pytest.mark.req("SRS-001")
def test_unknown_config_name_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_config("dinov2_vitx14")
    assert "dinov2_vits14" in (info.value.hint or "")


# --- the equations, in NumPy, written from the paper / official code, not from our module ---

def np_layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * w + b


def np_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def np_block(x: np.ndarray, p: dict[str, np.ndarray], heads: int, swiglu: bool) -> np.ndarray:
    n, d = x.shape
    h = np_layer_norm(x, p["norm1.weight"], p["norm1.bias"])
    qkv = h @ p["attn.qkv.weight"].T + p["attn.qkv.bias"]
    q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
    hd = d // heads
    out = np.zeros_like(x)
    for head in range(heads):
        s = slice(head * hd, (head + 1) * hd)
        logits = (q[:, s] * hd**-0.5) @ k[:, s].T
        logits -= logits.max(-1, keepdims=True)
        attn = np.exp(logits)
        attn /= attn.sum(-1, keepdims=True)
        out[:, s] = attn @ v[:, s]
    x = x + (out @ p["attn.proj.weight"].T + p["attn.proj.bias"]) * p["ls1.gamma"]
    h = np_layer_norm(x, p["norm2.weight"], p["norm2.bias"])
    if swiglu:
        u = h @ p["mlp.w12.weight"].T + p["mlp.w12.bias"]
        half = u.shape[-1] // 2
        m = (u[:, :half] / (1 + np.exp(-u[:, :half])) * u[:, half:]) @ p["mlp.w3.weight"].T + p["mlp.w3.bias"]
    else:
        m = np_gelu(h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]) @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
    return x + m * p["ls2.gamma"]


def _randomize(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


@pytest.mark.req("SRS-002")
@pytest.mark.parametrize(("ffn", "dim", "heads"), [("mlp", 96, 3), ("swiglufused", 96, 2)])
def test_block_forward_matches_numpy(ffn: str, dim: int, heads: int) -> None:
    block = Block(dim, heads, 4.0, ffn).double()
    _randomize(block, 1)
    x = np.random.default_rng(0).normal(size=(20, dim))
    params = {k: v.detach().numpy() for k, v in block.state_dict().items()}
    expected = np_block(x, params, heads, swiglu=ffn == "swiglufused")
    actual = block(torch.from_numpy(x)[None])[0].detach().numpy()
    assert np.max(np.abs(actual - expected)) < 1e-5


@pytest.mark.req("SRS-002")
def test_token_order_registers_after_position_embedding() -> None:
    cfg = ViTConfig("tiny", 64, 2, 2, num_register_tokens=4, native_img_size=28, interpolate_offset=0.0)
    model = DinoVisionTransformer(cfg).double()
    _randomize(model, 2)
    image = np.random.default_rng(1).normal(size=(1, 3, 28, 28))
    p = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    # patch embedding as a matrix product over 14x14 patches (row-major patch order)
    patches = image[0].reshape(3, 2, 14, 2, 14).transpose(1, 3, 0, 2, 4).reshape(4, -1)
    tokens = patches @ p["patch_embed.proj.weight"].reshape(64, -1).T + p["patch_embed.proj.bias"]
    x = np.concatenate([p["cls_token"][0], tokens]) + p["pos_embed"][0]
    x = np.concatenate([x[:1], p["register_tokens"][0], x[1:]])
    for i in range(2):
        block = {k[len(f"blocks.{i}.") :]: v for k, v in p.items() if k.startswith(f"blocks.{i}.")}
        x = np_block(x, block, 2, swiglu=False)
    x = np_layer_norm(x, p["norm.weight"], p["norm.bias"])
    features = model.forward_features(torch.from_numpy(image))
    assert np.max(np.abs(features["x_norm_clstoken"][0].detach().numpy() - x[0])) < 1e-5
    assert np.max(np.abs(features["x_norm_regtokens"][0].detach().numpy() - x[1:5])) < 1e-5
    assert np.max(np.abs(features["x_norm_patchtokens"][0].detach().numpy() - x[5:])) < 1e-5


@pytest.mark.req("SRS-003")
@pytest.mark.parametrize("name", ["dinov2_vits14", "dinov2_vits14_reg4"])
def test_position_embedding_is_interpolated_once_with_the_official_formula(name: str) -> None:
    model = DinoVisionTransformer(get_config(name))
    original = model.pos_embed.detach().clone()
    model.fix_input_size(224, 224)
    grid = original[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    if name.endswith("_reg4"):  # official: size-based, antialiased
        expected = F.interpolate(grid, size=(16, 16), mode="bicubic", antialias=True)
    else:  # official: scale factor with the 0.1 offset, no antialiasing
        expected = F.interpolate(grid, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic", antialias=False)
    expected = torch.cat([original[:, :1], expected.permute(0, 2, 3, 1).reshape(1, 256, -1)], dim=1)
    assert torch.allclose(model.pos_embed, expected, atol=1e-6)
    assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 384)
    with pytest.raises(ValueError, match=r"accepts exactly \(224, 224\)"):
        model(torch.zeros(1, 3, 518, 518))
