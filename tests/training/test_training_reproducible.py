"""Training is reproducible from its seed (SRS-020): same plan, same data -> same weights."""

from __future__ import annotations

import pytest
import torch

from device_ai.training.data import build_pool
from device_ai.training.train import TrainingPlan, train_model


@pytest.mark.req("SRS-020")
def test_same_seed_gives_identical_weights_and_another_seed_does_not() -> None:
    pool = build_pool("train", 2, 224, base_seed=0, slices_per_patient=2)
    again = build_pool("train", 2, 224, base_seed=0, slices_per_patient=2)
    assert pool.manifest_sha256 == again.manifest_sha256
    plan = TrainingPlan(seed=3, steps=2, train_patients=2, batch_size=2, warmup_steps=1)
    first = train_model(plan, pool).state_dict()
    second = train_model(plan, pool).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    other = train_model(TrainingPlan(seed=4, steps=2, train_patients=2, batch_size=2, warmup_steps=1), pool).state_dict()
    assert not all(torch.equal(first[key], other[key]) for key in first)
