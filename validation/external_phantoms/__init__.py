"""Clean-room external-validation phantoms (issue 14, item 4).

Plain modules on numpy/scipy/pydicom/highdicom; not part of the device, never imports
``device_ai``. Data made here are for external validation only: never for training or model
selection. See README.md.
"""

from .dicom_io import read_hu, write_case
from .generator import (GENERATOR_VERSION, LESION_LABEL, ORGAN_LABEL, STRUCTURE_CODES, ExternalCase, generate,
                        largest_inplane_extent)

__all__ = ["ExternalCase", "GENERATOR_VERSION", "LESION_LABEL", "ORGAN_LABEL", "STRUCTURE_CODES", "generate",
           "largest_inplane_extent", "read_hu", "write_case"]
