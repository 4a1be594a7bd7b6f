"""The explanation study's code, kept out of the device (IEC 62304 class B product code is
`src/device_ai/`; this package is not installed with it):

- `variants`: the generalised Grad-CAM with every configuration the study compared; its
  ``DEFAULT`` is the released configuration, `device_ai.explain.gradcam`;
- `cases`: the phantom verification cases, the sanity-check models (randomized twins, models
  trained on permuted labels) and the measures the verification tests and the scripts share;
- `sanity`: Spearman similarity of maps and the model randomizations (Adebayo et al. 2018);
- `faithfulness`: deletion and insertion curves; `imputation`: ROAD's removal of pixels;
- `occlusion`: occlusion sensitivity through the locked engine (a reference method).

Import it from the repository root (pytest does; the scripts in `validation/explain/` put the
root on the path themselves).
"""
