"""device_ai: DINOv2 segmentation of DICOM CT with a locked ONNX Runtime core.

Demonstration device software (IEC 62304 class B style). Not for clinical use.
"""

import os

__version__ = "0.1.0"

# pydantic loads every installed "pydantic" entry-point plugin - code of any distribution - when a
# model is first defined, reading each distribution's entry_points.txt without a check (a FIFO there
# held every command; re-review 159 D1). The device uses no plugin and runs only code it was
# verified with, so they are off unless the environment says otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
