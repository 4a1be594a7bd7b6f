"""Official checkpoint layout and pinned-SHA loading (SRS-001).

The expected key/shape table is written here from reference/model.md §1.2 and §1.4 (the
official ``*_pretrain.pth`` layout), not derived from our model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from device_ai.errors import ConfigError, ModelIntegrityError
from device_ai.model.dinov2 import DinoVisionTransformer, ViTConfig, get_config
from device_ai.model.dinov2 import checkpoint as checkpoint_module
from device_ai.model.dinov2.checkpoint import PINNED_OFFICIAL_SHA256, load_official_checkpoint, sha256_file

# model.md §1.2: embed dim, depth; the FFN widths of §1.4 (4D for s/b/l; g: w12 8192, w3 4096).
SIZES = {"s": (384, 12), "b": (768, 12), "l": (1024, 24), "g": (1536, 40)}
NAMES = [f"dinov2_vit{s}14{r}" for s in "sblg" for r in ("", "_reg4")]


def official_key_shapes(size: str, registers: bool) -> dict[str, tuple[int, ...]]:
    d, depth = SIZES[size]
    table: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1370, d),  # 1 CLS + 37 x 37
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, 14, 14),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
    }
    if registers:
        table["register_tokens"] = (1, 4, d)
    for i in range(depth):
        b = f"blocks.{i}."
        table |= {
            b + "norm1.weight": (d,), b + "norm1.bias": (d,),
            b + "attn.qkv.weight": (3 * d, d), b + "attn.qkv.bias": (3 * d,),
            b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,),
            b + "ls1.gamma": (d,), b + "ls2.gamma": (d,),
            b + "norm2.weight": (d,), b + "norm2.bias": (d,),
        }
        if size == "g":
            table |= {
                b + "mlp.w12.weight": (8192, 1536), b + "mlp.w12.bias": (8192,),
                b + "mlp.w3.weight": (1536, 4096), b + "mlp.w3.bias": (1536,),
            }
        else:
            table |= {
                b + "mlp.fc1.weight": (4 * d, d), b + "mlp.fc1.bias": (4 * d,),
                b + "mlp.fc2.weight": (d, 4 * d), b + "mlp.fc2.bias": (d,),
            }
    return table


def numbered_state(table: dict[str, tuple[int, ...]], device: str = "cpu") -> dict[str, torch.Tensor]:
    """A synthetic state dict whose every tensor holds its own index, so a mix-up shows."""
    return {k: torch.full(shape, float(i), device=device) for i, (k, shape) in enumerate(table.items())}


@pytest.mark.req("SRS-001")
@pytest.mark.parametrize("name", NAMES)
def test_official_state_dict_loads_strictly(name: str) -> None:
    size, registers = name[len("dinov2_vit")], name.endswith("_reg4")
    table = official_key_shapes(size, registers)
    device = "meta" if size in "lg" else "cpu"  # l/g: shapes only, no 300 M / 1.1 B floats
    with torch.device(device):
        model = DinoVisionTransformer(get_config(name))
    state = numbered_state(table, device)
    model.load_state_dict(state, strict=True, assign=device == "meta")
    ours = model.state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == table
    if device == "cpu":
        for k, value in state.items():
            assert torch.equal(ours[k], value), k


@pytest.mark.req("SRS-001")
def test_missing_extra_or_misshapen_keys_are_refused() -> None:
    model = DinoVisionTransformer(get_config("dinov2_vits14_reg4"))
    state = numbered_state(official_key_shapes("s", registers=True))
    missing = {k: v for k, v in state.items() if k != "blocks.3.ls1.gamma"}
    with pytest.raises(RuntimeError, match=r"Missing key.*blocks\.3\.ls1\.gamma"):
        model.load_state_dict(missing, strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key.*head\.weight"):
        model.load_state_dict(state | {"head.weight": torch.zeros(1000, 384)}, strict=True)
    with pytest.raises(RuntimeError, match=r"size mismatch.*blocks\.0\.attn\.qkv\.weight"):
        model.load_state_dict(state | {"blocks.0.attn.qkv.weight": torch.zeros(384, 384)}, strict=True)
    # A plain checkpoint (no registers) does not fit a _reg4 model, nor the other way round.
    with pytest.raises(RuntimeError, match="register_tokens"):
        model.load_state_dict(numbered_state(official_key_shapes("s", registers=False)), strict=True)


@pytest.mark.req("SRS-001")
def test_unknown_config_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_config("dinov2_vitx14")
    assert "dinov2_vitg14_reg4" in str(info.value) and "demo_vitt14_reg4" in (info.value.hint or "")


# --- loading from a file with a pinned SHA-256 ---

TINY = ViTConfig("tiny", 32, 2, 2, num_register_tokens=4, native_img_size=56, interpolate_offset=0.0,
                 interpolate_antialias=True)


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, str, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    state = DinoVisionTransformer(TINY).state_dict()
    path = tmp_path / "tiny_pretrain.pth"
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


@pytest.mark.req("SRS-001")
def test_checkpoint_with_the_pinned_sha256_loads(checkpoint: tuple[Path, str, dict[str, torch.Tensor]]) -> None:
    path, digest, state = checkpoint
    assert sha256_file(path) == digest
    torch.manual_seed(1)
    model = DinoVisionTransformer(TINY)
    load_official_checkpoint(model, path, digest.upper())  # hex case does not matter
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.req("SRS-001")
@pytest.mark.parametrize("pinned", ["0" * 64, "", "not-a-digest"])
def test_wrong_or_missing_pin_refuses_before_unpickling(
    checkpoint: tuple[Path, str, dict[str, torch.Tensor]], monkeypatch: pytest.MonkeyPatch, pinned: str
) -> None:
    path, _, _ = checkpoint

    def must_not_unpickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called before the digest check")

    monkeypatch.setattr(checkpoint_module.torch, "load", must_not_unpickle)
    model = DinoVisionTransformer(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ModelIntegrityError, match="not loaded") as info:
        load_official_checkpoint(model, path, pinned)
    assert info.value.hint
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


@pytest.mark.req("SRS-001")
def test_a_pinned_file_with_the_wrong_layout_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"cls_token": torch.zeros(1, 1, 32)}, path)
    with pytest.raises(ModelIntegrityError, match="does not match the tiny layout"):
        load_official_checkpoint(DinoVisionTransformer(TINY), path, sha256_file(path))


@pytest.mark.req("SRS-001")
def test_nothing_is_pinned_in_code() -> None:
    # No official weights are available offline; the operator pins the digest in configuration.
    assert sorted(PINNED_OFFICIAL_SHA256) == sorted(NAMES)
    assert set(PINNED_OFFICIAL_SHA256.values()) == {None}
