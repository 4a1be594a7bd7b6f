"""The explanation study's generalised segmentation Grad-CAM for the DINOv2 segmenter: every
configuration the study compared (reference/model.md §6.1, §6.6). Not part of the device: the
device computes only the released configuration, ``DEFAULT`` here, with
`device_ai.explain.gradcam.gradcam`; `tests/explain/test_study_variants.py` checks that both
give the same map.

Target: the sum of label ``c``'s logits over the region where the label is predicted (the
locked ORT mask when given). Layer (the "site"): the output of one transformer block, with
the CLS and register tokens dropped and the patch tokens reshaped to the grid; or, for the
study, ``"head"``: the head's input features (the normalised outputs of the blocks the head
consumes, concatenated along channels). Activations A and gradients G of the target there,
each (h, w, K).

Weightings:
- ``"gradcam"`` (Selvaraju et al. 2017): channel weights are the spatial means of G,
  map = ReLU(sum_k mean(G_k) A_k);
- ``"hirescam"`` (Draelos & Carin 2020): element-wise, map = ReLU(sum_k G_k A_k): gradient x
  activation summed over channels ("input x gradient at the token layer");
- ``"gradcam++"`` (Chattopadhay et al. 2018): channel weights sum_ij alpha_kij ReLU(G_kij),
  alpha = G^2 / (2 G^2 + sum_ij A G^3) (the closed form for an exponential score);
- ``"elementwise"`` (pytorch-grad-cam's GradCAMElementWise): map = sum_k ReLU(G_k A_k).

Options measured by the faithfulness study (`validation/explain/run_faithfulness.py`):
- ``baseline="air"``: tokens centred on the baseline, A := A(x) - A(air), with "air" the
  neutral input that occlusion and the faithfulness curves substitute for removed pixels
  (``preprocess.air_baseline``); ViT tokens are signed and carry an input-independent part
  (position embedding, biases) that classic Grad-CAM weights together with the evidence.
- ``integrated=True`` (needs the air baseline): G is averaged over the straight path from the
  air tokens to the image's tokens at the site (midpoint rule, ``INTEGRATION_STEPS`` passes),
  the path integral of Integrated Gradients (Sundararajan et al. 2017) taken in token space,
  in the spirit of Integrated Grad-CAM (Sattarzadeh et al. 2021, path integrals of Grad-CAM's
  gradient terms for CNNs); with ``"hirescam"`` weighting it is Integrated Gradients at the
  token layer, summed over channels.
Every map is bilinearly upsampled to the image and scaled to [0, 1].

Sites and centring added by the second study round:
- ``tap="mlp_input"``: the output of a block's second LayerNorm (norm2), the input of its MLP
  branch; the gradient there carries only the evidence that goes through that MLP (the
  residual stream bypasses it), on per-token normalised features;
- ``baseline="mean"``: tokens centred on the image's own average token. Grad-CAM weights are
  per channel, so this subtracts one constant from the classic map before the ReLU: the map
  shows where the weighted evidence is above the image's average (all zero only for a constant map).

Default (``DEFAULT``, the released configuration): Grad-CAM weighting, mean-centred, at the last
block's MLP input, chosen by the study on the phantom verification set (`validation/explain/results.md`,
`docs/explanations.md`); its faithfulness held on phantoms neither the model nor the study saw,
and it passes both sanity checks on 32 verification and 30 unseen slices as re-specified
(models retrained from scratch on permuted labels, Spearman inside the body;
`validation/explain/respecified_checks.md`). Heads retrained on the frozen backbone give maps
like the real ones (ANOM-012): the map reads the backbone's activations, which the true labels
shaped. At the block outputs no configuration met both the
faithfulness criterion and the sanity checks: maps that localise the lesion (element-wise or
path-integrated weights, the head's input) are shaped by the fixed target region for a
randomized model too (the decoder is local), and Grad-CAM's channel weights on the raw or
air-centred outputs point away from the small lesions or vanish. On the normalised MLP input
the channel-weighted map keeps Grad-CAM's global weights (which is what passes the
randomization check) and ranks the lesion first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from device_ai.inference.preprocess import air_baseline
from device_ai.model.segmenter import DinoSegmenter

WEIGHTINGS = ("gradcam", "hirescam", "gradcam++", "elementwise")
BASELINES = (None, "air", "mean")
TAPS = ("output", "mlp_input")
HEAD_INPUT = "head"
INTEGRATION_STEPS = 8

Site = int | str | tuple[int, str]  # block output, the head's input, or (block, "mlp_input")


@dataclass(frozen=True)
class Variant:
    """One Grad-CAM configuration. ``layer`` None is the last block; ``tap`` is where in the
    block: its output, or ``"mlp_input"``, the output of its second LayerNorm (norm2), which
    feeds the block's MLP."""

    layer: int | str | None = None
    weighting: str = "gradcam"
    baseline: str | None = None
    integrated: bool = False
    tap: str = "output"

    @property
    def site(self) -> Site:
        return self.layer if self.tap == "output" else (self.layer, self.tap)

    @property
    def key(self) -> str:
        """Name in the study records, e.g. ``gradcam_block3``, ``air_integrated_hirescam_block1``,
        ``mean_gradcam_block3_mlp_input``."""
        site = "head_input" if self.layer == HEAD_INPUT else f"block{self.layer}"
        site += "" if self.tap == "output" else f"_{self.tap}"
        prefix = (f"{self.baseline}_" if self.baseline else "") + ("integrated_" if self.integrated else "")
        return f"{prefix}{self.weighting.replace('++', 'pp')}_{site}"

    @property
    def description(self) -> str:
        site = "head input" if self.layer == HEAD_INPUT else f"block {self.layer}"
        site += "" if self.tap == "output" else " MLP input"
        how = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM", "gradcam++": "Grad-CAM++",
               "elementwise": "element-wise Grad-CAM"}[self.weighting]
        options = [o for o, on in (("air-centred", self.baseline == "air"), ("mean-centred", self.baseline == "mean"),
                                   ("path-integrated", self.integrated)) if on]
        return f"{how}, {site}" + (f" ({', '.join(options)})" if options else "")


DEFAULT = Variant(layer=None, weighting="gradcam", baseline="mean", tap="mlp_input")


def resolve(model: DinoSegmenter, variant: Variant) -> Variant:
    """``variant`` with its layer made explicit and every option checked."""
    depth = len(model.backbone.blocks)
    layer = depth - 1 if variant.layer is None else variant.layer
    if layer != HEAD_INPUT and not (isinstance(layer, int) and 0 <= layer < depth):
        raise ValueError(f"layer {layer!r} is outside 0..{depth - 1} (or {HEAD_INPUT!r}, the head's input)")
    if variant.weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {variant.weighting!r}; use one of {', '.join(WEIGHTINGS)}")
    if variant.baseline not in BASELINES:
        raise ValueError(f"unknown baseline {variant.baseline!r}; use None, 'air' or 'mean'")
    if variant.integrated and variant.baseline != "air":
        raise ValueError("a path-integrated gradient needs the 'air' baseline (the path starts there)")
    if variant.tap not in TAPS or (variant.tap != "output" and layer == HEAD_INPUT):
        raise ValueError(f"unknown tap {variant.tap!r}; use one of {', '.join(TAPS)} (a block's, not the head's)")
    return Variant(layer, variant.weighting, variant.baseline, variant.integrated, variant.tap)


class _Sites:
    """Forward hooks that keep (and optionally replace) the raw tensors at the sites."""

    def __init__(self, model: DinoSegmenter, sites: Iterable[Site], replace: dict[Site, object] | None = None) -> None:
        self.model, self.raw, self.replace = model, {}, replace or {}
        self.handles = []
        for site in set(sites):
            if site == HEAD_INPUT:
                self.handles.append(model.head.register_forward_pre_hook(self._head))
            elif isinstance(site, tuple):  # (block, "mlp_input"): the block's norm2 output
                self.handles.append(model.backbone.blocks[site[0]].norm2.register_forward_hook(self._block(site)))
            else:
                self.handles.append(model.backbone.blocks[site].register_forward_hook(self._block(site)))

    def _block(self, site: Site):  # noqa: ANN202
        def hook(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
            output = self.replace.get(site, output)
            if output.requires_grad:
                output.retain_grad()
            self.raw[site] = output
            return output
        return hook

    def _head(self, module: torch.nn.Module, args: tuple) -> tuple:
        features = list(self.replace.get(HEAD_INPUT, args[0]))
        for feature in features:
            if feature.requires_grad:
                feature.retain_grad()
        self.raw[HEAD_INPUT] = features
        return (features, *args[1:])

    def __enter__(self) -> _Sites:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


def _grid(model: DinoSegmenter, site: Site, raw: object, grad: bool) -> torch.Tensor:
    """(h, w, K) activations (or their gradients) from a site's raw tensor(s)."""
    if site == HEAD_INPUT:  # [1, D, h, w] maps
        return torch.cat([(f.grad if grad else f.detach())[0].permute(1, 2, 0) for f in raw], dim=-1)
    backbone = model.backbone
    side = model.cfg.input_size // backbone.patch_size  # square inputs only (SegmenterConfig)
    tokens = raw.grad if grad else raw.detach()
    return tokens[0, 1 + backbone.num_register_tokens:].reshape(side, side, -1)


def _forward(model: DinoSegmenter, image: np.ndarray, sites: Iterable[Site], label: int | None = None,
             region: torch.Tensor | None = None, replace: dict[Site, object] | None = None):  # noqa: ANN202
    """Raw site tensors, and with a label the target's backward pass done; also the region."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    with _Sites(model, sites, replace) as hooks:
        with torch.enable_grad() if label is not None else torch.no_grad():
            logits = model(tensor)
            if label is not None:
                if region is None:
                    region = logits.argmax(dim=1)[0] == label
                if bool(region.any()):
                    model.zero_grad(set_to_none=True)
                    logits[0, label][region].sum().backward()
    return hooks.raw, region


def _detached(raw: object) -> object:
    return [f.detach() for f in raw] if isinstance(raw, list) else raw.detach()


def _path_gradient(model: DinoSegmenter, image: np.ndarray, label: int, region: torch.Tensor, site: Site,
                   start: object, end: object) -> torch.Tensor:
    """Mean gradient of the target over the straight path from ``start`` to ``end`` at ``site``."""
    total = None
    for step in range(INTEGRATION_STEPS):
        alpha = (step + 0.5) / INTEGRATION_STEPS
        if site == HEAD_INPUT:
            point = [(s + alpha * (e - s)).requires_grad_(True) for s, e in zip(start, end)]
        else:
            point = (start + alpha * (end - start)).requires_grad_(True)
        raw, _ = _forward(model, image, [site], label, region, replace={site: point})
        gradient = _grid(model, site, raw[site], grad=True)
        total = gradient if total is None else total + gradient
    return total / INTEGRATION_STEPS


def _weigh(activations: torch.Tensor, gradients: torch.Tensor, weighting: str) -> torch.Tensor:
    if weighting == "gradcam":
        return F.relu((activations * gradients.mean(dim=(0, 1))).sum(dim=-1))
    if weighting == "hirescam":
        return F.relu((activations * gradients).sum(dim=-1))
    if weighting == "gradcam++":
        squared = gradients**2
        denominator = 2 * squared + (activations * gradients**3).sum(dim=(0, 1), keepdim=True)
        alpha = squared / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        return F.relu((activations * (alpha * F.relu(gradients)).sum(dim=(0, 1))).sum(dim=-1))
    if weighting == "elementwise":
        return F.relu(activations * gradients).sum(dim=-1)
    raise AssertionError(weighting)  # resolve() checked it


def _to_image(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    cam = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).numpy().astype(np.float32) if peak > 0 else np.zeros(size, dtype=np.float32)


def gradcam_maps(model: DinoSegmenter, image: np.ndarray, label: int, variants: Iterable[Variant],
                 target_mask: np.ndarray | None = None) -> dict[Variant, np.ndarray]:
    """Maps (H, W) in [0, 1] of several variants (keyed as given): one backward pass for all,
    one forward pass of the air baseline if any is centred, and ``INTEGRATION_STEPS`` backward
    passes per site of the path-integrated ones. An empty target gives all-zero maps."""
    requested = list(dict.fromkeys(variants))
    resolved = {v: resolve(model, v) for v in requested}
    size = (int(image.shape[-2]), int(image.shape[-1]))
    model.eval()
    region = None if target_mask is None else torch.from_numpy(np.asarray(target_mask, dtype=bool))
    sites = {v.site for v in resolved.values()}
    raw, region = _forward(model, image, sites, label, region)
    if not bool(region.any()):  # nothing to explain
        return {v: np.zeros(size, dtype=np.float32) for v in requested}
    centred = {v.site for v in resolved.values() if v.baseline == "air"}
    reference = _forward(model, air_baseline(*size), centred)[0] if centred else {}
    integrated = {}
    for site in {v.site for v in resolved.values() if v.integrated}:
        integrated[site] = _path_gradient(model, image, label, region, site, _detached(reference[site]),
                                          _detached(raw[site]))
    maps = {}
    for original, variant in resolved.items():
        site = variant.site
        activations = _grid(model, site, raw[site], grad=False)
        gradients = integrated[site] if variant.integrated else _grid(model, site, raw[site], grad=True)
        if variant.baseline == "air":
            activations = activations - _grid(model, site, reference[site], grad=False)
        elif variant.baseline == "mean":  # the image's own average token: evidence above the average
            activations = activations - activations.mean(dim=(0, 1), keepdim=True)
        maps[original] = _to_image(_weigh(activations, gradients, variant.weighting), size)
    return maps


def gradcam(
    model: DinoSegmenter,
    image: np.ndarray,
    label: int,
    layer: int | str | None = None,
    target_mask: np.ndarray | None = None,
    weighting: str = DEFAULT.weighting,
    baseline: str | None = DEFAULT.baseline,
    integrated: bool = DEFAULT.integrated,
    tap: str = DEFAULT.tap,
) -> np.ndarray:
    """Grad-CAM map (H, W) in [0, 1] for ``label`` on a preprocessed image (1, 3, H, W).

    ``layer``: a block index (default: the last block) or ``"head"``; ``tap``: the block's
    ``"output"`` or its ``"mlp_input"`` (default, see ``DEFAULT``); ``target_mask`` (H, W)
    bool: where the label's logits are summed, defaults to the model's own argmax; an empty
    target gives an all-zero map (nothing to explain). ``weighting``, ``baseline`` and
    ``integrated``: see the module text; the defaults are ``DEFAULT`` (mean-centred Grad-CAM
    at the last block's MLP input); ``baseline=None, tap="output"`` gives classic Grad-CAM.
    """
    variant = Variant(layer, weighting, baseline, integrated, tap)
    return gradcam_maps(model, image, label, [variant], target_mask)[variant]
