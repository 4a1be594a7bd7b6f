"""Model code: the DINOv2 ViT and heads (torch, in ``dinov2``, ``heads``, ``segmenter``) and the
locked model package (``package``, torch-free, used by the inference engine).

Importing this package imports no torch.
"""
