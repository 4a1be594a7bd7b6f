"""The locked ONNX Runtime engine and the analyze pipeline. Imports no torch (DESIGN.md)."""
