"""Explanations of the locked result: Grad-CAM on the torch twin (gated by agreement with the
ORT output) and occlusion sensitivity through the locked engine (reference/model.md §6)."""
