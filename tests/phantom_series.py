"""A two-slice CT series of the device's own phantom generator (test seed 0), written once per
module by the tests that need a small valid input for analyze."""

from __future__ import annotations

from pathlib import Path

import pytest


def two_slice_phantom_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = tmp_path_factory.mktemp("in") / "series"
    write_ct_series(generate_case(split_seeds("test", 1)[0], n_slices=2), folder)
    return folder
