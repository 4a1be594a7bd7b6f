"""Explanations of the locked result: the released Grad-CAM configuration on the torch twin,
given only where the twin agrees with the ORT output (reference/model.md §6). The study that
chose it (other configurations, sanity checks, faithfulness metrics, occlusion) is not part of
the device: `validation/explain/study/`."""
