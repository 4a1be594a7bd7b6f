"""The PyTorch twin of a locked package: same weights as the ONNX graph, for gradients.

It is rebuilt from the verified package bytes only (manifest architecture + safetensors),
so an explanation is never computed on weights other than those that were verified.
"""

from __future__ import annotations

from safetensors.torch import load as load_safetensors

from device_ai.model.package.manifest import TWIN_NAME
from device_ai.model.package.verify import VerifiedPackage
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig


def load_twin(package: VerifiedPackage) -> DinoSegmenter:
    """The torch model of a verified package, in eval mode, loaded with strict key matching."""
    config = SegmenterConfig.from_config_dict(package.manifest.architecture)
    model = DinoSegmenter(config)
    model.load_state_dict(load_safetensors(package.files[TWIN_NAME]), strict=True)
    return model.eval()
