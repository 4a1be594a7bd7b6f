"""Sanity checks for saliency maps (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

- Model randomization: parameters re-drawn from the head down to the first block; a map that
  still looks the same does not depend on what the model learned.
- Data randomization: a model trained on permuted labels (each image gets another image's
  label map); its maps must differ from the real model's. The verification check retrains the
  whole model (`cases.train_permuted_label_model`, as Adebayo et al.); ``permuted_label_head``,
  a fresh head on the frozen backbone, is the study's first specification (ANOM-012).
Similarity is the Spearman rank correlation of the maps, over the cases where the real model's
map is not empty; optionally only at some pixels (the verification checks take the body).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from device_ai.model.segmenter import DinoSegmenter


def spearman(a: np.ndarray, b: np.ndarray, stride: int = 4, where: np.ndarray | None = None) -> float:
    """Rank correlation of two maps (subsampled; only at ``where`` if given); 0 when either map is constant."""
    keep = np.ones(a.shape, dtype=bool) if where is None else np.asarray(where, dtype=bool)
    keep = keep[::stride, ::stride]
    x, y = a[::stride, ::stride][keep], b[::stride, ::stride][keep]
    if x.size < 2:
        return 0.0
    if np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0
    return float(stats.spearmanr(x, y).statistic)


def compare(originals: list[np.ndarray], others: list[np.ndarray],
            where: list[np.ndarray] | None = None) -> list[float | None]:
    """Spearman of each original map with the other model's map; None where the original map is
    empty (all zero): it shows nothing, so there is nothing to check, and counting it as 0 would
    let an empty map pass. An empty *other* map against a non-empty original counts as 0."""
    masks = where if where is not None else [None] * len(originals)
    return [spearman(a, b, where=m) if a.any() else None for a, b, m in zip(originals, others, masks)]


MIN_CHECKED = 4  # a sanity check needs at least this many slices with a non-empty real map


def median_checked(rhos: list[float | None]) -> float:
    """Median over the cases that could be checked (NaN if none)."""
    values = [r for r in rhos if r is not None]
    return float(np.median(values)) if values else float("nan")


def randomize_cascading(model: DinoSegmenter, seed: int) -> DinoSegmenter:
    """A copy with every parameter re-drawn, from the head down to the embeddings."""
    clone = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    backbone = clone.backbone
    modules = [clone.head, backbone.norm, *reversed(list(backbone.blocks)), backbone.patch_embed]
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * max(float(param.std()), 1e-2))
        for name in ("pos_embed", "cls_token", "register_tokens"):
            param = getattr(backbone, name)
            if param is not None:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return clone.eval()


def permuted_label_head(model: DinoSegmenter, images: torch.Tensor, labels: torch.Tensor, *, steps: int,
                        seed: int = 0, batch: int = 8) -> DinoSegmenter:
    """A copy whose head is re-initialised and trained on permuted labels; backbone frozen."""
    torch.manual_seed(seed)
    clone = copy.deepcopy(model)
    clone.head = DinoSegmenter(model.cfg).head  # the same head architecture, freshly initialised
    generator = torch.Generator().manual_seed(seed)
    permuted = labels[torch.randperm(len(labels), generator=generator)]
    for param in clone.backbone.parameters():
        param.requires_grad_(False)
    optimizer = torch.optim.AdamW(clone.head.parameters(), lr=2e-3)
    clone.train()
    clone.backbone.eval()
    for step in range(steps):
        index = torch.randint(0, len(images), (batch,), generator=generator)
        loss = F.cross_entropy(clone(images[index]), permuted[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for param in clone.backbone.parameters():
        param.requires_grad_(True)
    return clone.eval()
