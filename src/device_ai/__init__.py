"""device_ai: DINOv2 segmentation of DICOM CT with a locked ONNX Runtime core.

Demonstration device software (IEC 62304 class B style). Not for clinical use.
"""

__version__ = "0.1.0"
