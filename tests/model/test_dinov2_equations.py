"""Our DINOv2 forward against an independent NumPy implementation of the published
equations (SRS-002): LayerNorm eps 1e-6, fused qkv split into heads, softmax attention,
proj, layerscale, erf-GELU MLP or SwiGLU, token order [CLS, registers, patches] with the
registers inserted after the position embedding (reference/model.md §1.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from device_ai.model.dinov2 import DinoVisionTransformer, ViTConfig
from device_ai.model.dinov2.block import Block

_erf = np.vectorize(math.erf)


def np_layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)  # biased variance, as LayerNorm
    return (x - mean) / np.sqrt(var + 1e-6) * w + b


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_block(x: np.ndarray, p: dict[str, np.ndarray], heads: int) -> np.ndarray:
    """One pre-norm block on tokens x [N, D]; ``p`` holds the official block-relative keys."""
    n, d = x.shape
    hd = d // heads
    h = np_layer_norm(x, p["norm1.weight"], p["norm1.bias"])
    qkv = h @ p["attn.qkv.weight"].T + p["attn.qkv.bias"]
    q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]  # stacked q, k, v
    out = np.concatenate(
        [np_softmax((q[:, s] * hd**-0.5) @ k[:, s].T) @ v[:, s]
         for s in (slice(i * hd, (i + 1) * hd) for i in range(heads))],
        axis=1,
    )
    x = x + (out @ p["attn.proj.weight"].T + p["attn.proj.bias"]) * p["ls1.gamma"]
    h = np_layer_norm(x, p["norm2.weight"], p["norm2.bias"])
    if "mlp.w12.weight" in p:  # SwiGLU: x1 (gate) = first half of w12's output
        u = h @ p["mlp.w12.weight"].T + p["mlp.w12.bias"]
        x1, x2 = np.split(u, 2, axis=-1)
        m = (x1 / (1.0 + np.exp(-x1)) * x2) @ p["mlp.w3.weight"].T + p["mlp.w3.bias"]
    else:
        u = h @ p["mlp.fc1.weight"].T + p["mlp.fc1.bias"]
        m = (0.5 * u * (1.0 + _erf(u / math.sqrt(2.0)))) @ p["mlp.fc2.weight"].T + p["mlp.fc2.bias"]
    return x + m * p["ls2.gamma"]


def randomize(module: torch.nn.Module, seed: int) -> dict[str, np.ndarray]:
    """Random values everywhere (layerscale, norms and biases included), returned as NumPy."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * 0.3)
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def block_params(p: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    prefix = f"blocks.{i}."
    return {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}


@pytest.mark.req("SRS-002")
@pytest.mark.parametrize(
    ("ffn", "dim", "heads", "dtype", "tol"),
    [
        ("mlp", 96, 3, torch.float64, 1e-10),  # ViT-S-like block (head dim 32), exact arithmetic
        ("mlp", 96, 3, torch.float32, 1e-5),  # the dtype the device runs in
        ("swiglufused", 96, 2, torch.float64, 1e-10),  # ViT-g-like block
        ("swiglufused", 96, 2, torch.float32, 1e-5),
    ],
)
def test_block_forward_matches_numpy(ffn: str, dim: int, heads: int, dtype: torch.dtype, tol: float) -> None:
    block = Block(dim, heads, 4.0, ffn).to(dtype)  # type: ignore[arg-type]
    p = randomize(block, 1)
    x = np.random.default_rng(0).normal(size=(2, 21, dim))
    actual = block(torch.from_numpy(x).to(dtype)).detach().double().numpy()
    params64 = {k: v.astype(np.float64) for k, v in p.items()}
    for b in range(2):
        expected = np_block(x[b], params64, heads)
        assert np.max(np.abs(actual[b] - expected)) < tol


@pytest.mark.req("SRS-002")
def test_swiglu_hidden_width_follows_the_official_rounding() -> None:
    # (int(h * 2/3) + 7) // 8 * 8 with h = 4 * D: 4096 for ViT-g (D 1536), 256 for D 96.
    with torch.device("meta"):
        assert Block(1536, 24, 4.0, "swiglufused").mlp.w3.in_features == 4096
    assert Block(96, 2, 4.0, "swiglufused").mlp.w12.out_features == 2 * 256


def np_forward(image: np.ndarray, p: dict[str, np.ndarray], depth: int, heads: int, registers: int,
               patch: int = 14) -> list[np.ndarray]:
    """Token sequence after every block (pre-norm), for one image [3, H, W]."""
    c, height, width = image.shape
    gh, gw = height // patch, width // patch
    # patch embedding = matrix product over 14 x 14 patches in row-major order
    patches = image.reshape(c, gh, patch, gw, patch).transpose(1, 3, 0, 2, 4).reshape(gh * gw, -1)
    w = p["patch_embed.proj.weight"]
    tokens = patches @ w.reshape(w.shape[0], -1).T + p["patch_embed.proj.bias"]
    x = np.concatenate([p["cls_token"][0], tokens]) + p["pos_embed"][0]
    if registers:  # inserted after the position embedding: registers get none
        x = np.concatenate([x[:1], p["register_tokens"][0], x[1:]])
    outputs = []
    for i in range(depth):
        x = np_block(x, block_params(p, i), heads)
        outputs.append(x)
    return outputs


@pytest.mark.req("SRS-002")
@pytest.mark.parametrize("registers", [4, 0])
def test_forward_features_token_order_matches_numpy(registers: int) -> None:
    cfg = ViTConfig("tiny", 32, 2, 2, num_register_tokens=registers, native_img_size=28, interpolate_offset=0.0)
    model = DinoVisionTransformer(cfg).double()
    p = randomize(model, 2)
    image = np.random.default_rng(1).normal(size=(1, 3, 28, 28))
    x = np_forward(image[0], p, depth=2, heads=2, registers=registers)[-1]
    x_norm = np_layer_norm(x, p["norm.weight"], p["norm.bias"])
    features = model.forward_features(torch.from_numpy(image))
    got = {k: v[0].detach().numpy() for k, v in features.items() if v is not None}
    assert np.max(np.abs(got["x_prenorm"] - x)) < 1e-10
    assert np.max(np.abs(got["x_norm_clstoken"] - x_norm[0])) < 1e-10
    assert got["x_norm_regtokens"].shape == (registers, 32)
    assert np.max(np.abs(got["x_norm_regtokens"] - x_norm[1 : 1 + registers]), initial=0.0) < 1e-10
    assert np.max(np.abs(got["x_norm_patchtokens"] - x_norm[1 + registers :])) < 1e-10
    assert np.max(np.abs(model(torch.from_numpy(image))[0].detach().numpy() - x_norm[0])) < 1e-10  # head = Identity


@pytest.mark.req("SRS-002", "SRS-003")
def test_get_intermediate_layers_matches_numpy_on_a_non_square_fixed_size() -> None:
    cfg = ViTConfig("tiny", 32, 3, 2, num_register_tokens=4, native_img_size=28, interpolate_offset=0.0)
    model = DinoVisionTransformer(cfg).double()
    randomize(model, 4)
    model.fix_input_size(28, 42)  # 2 x 3 patch grid: a height/width mix-up cannot pass
    p = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    image = np.random.default_rng(3).normal(size=(2, 3, 28, 42))
    per_block = [np_forward(image[b], p, 3, 2, 4) for b in range(2)]

    maps = model.get_intermediate_layers(torch.from_numpy(image), n=[0, 2], reshape=True)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 2, 3)] * 2
    for out, i in zip(maps, [0, 2], strict=True):
        for b in range(2):
            expected = np_layer_norm(per_block[b][i], p["norm.weight"], p["norm.bias"])[5:]  # drop CLS + 4 registers
            got = out[b].detach().numpy().transpose(1, 2, 0).reshape(6, 32)  # [D, h, w] -> row-major tokens
            assert np.max(np.abs(got - expected)) < 1e-10

    # n as an int: the last n blocks; norm=False: the raw block outputs; with the class token
    (last, cls), = model.get_intermediate_layers(torch.from_numpy(image), n=1, return_class_token=True, norm=False)
    assert np.max(np.abs(last[0].detach().numpy() - per_block[0][2][5:])) < 1e-10
    assert np.max(np.abs(cls[1].detach().numpy() - per_block[1][2][0])) < 1e-10
    with pytest.raises(ValueError, match="requested blocks"):
        model.get_intermediate_layers(torch.from_numpy(image), n=[1, 3])
