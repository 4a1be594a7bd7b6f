"""The training record and full architecture in the manifest (issue 14 item 3; ANOM-005,
ANOM-007), additive so the released 1.0.0 package keeps its bytes (SRS-079, SRS-007)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from device_ai.model.export import ParityReport
from device_ai.model.package import pinned
from device_ai.model.package.build import build_manifest
from device_ai.model.package.manifest import ModelManifest
from device_ai.model.package.verify import verify_package
from device_ai.model.segmenter import DEMO_SEGMENTER
from device_ai.training.data import PHANTOM_GENERATOR, PHANTOM_GENERATOR_V2, build_pool
from device_ai.training.train import TrainingPlan, _manifest_fields, backbone_record, head_record

ROOT = Path(__file__).resolve().parents[2]
RELEASED_1 = ROOT / "models" / "demo-dinov2-seg-1.0.0"
REPORT = ParityReport(cases=1, max_abs_logit_diff=1e-7, mask_agreement=1.0, pixels=1)


@pytest.mark.req("SRS-007")
def test_released_1_0_0_still_verifies_loads_and_reserialises_to_its_own_bytes() -> None:
    package = verify_package(RELEASED_1)
    assert package.pinned_release and package.manifest.identity == "demo-dinov2-seg 1.0.0"
    raw = (RELEASED_1 / "manifest.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() in pinned.RELEASED_MANIFESTS
    # New optional fields are not serialised when unset: the old manifest's bytes are unchanged.
    assert package.manifest.canonical_bytes() == raw
    assert package.manifest.backbone_config is None and package.manifest.training.generator is None
    assert package.manifest.architecture_mismatches(backbone_record(DEMO_SEGMENTER), head_record(DEMO_SEGMENTER)) == []
    from device_ai.inference.engine import LockedEngine

    assert LockedEngine.load(RELEASED_1).manifest.version == "1.0.0"


def _fields(plan: TrainingPlan) -> dict:
    plan = plan.resolved()
    domain = plan.domain if plan.generator_version != 1 else None
    pool = build_pool("train", 1, 224, slices_per_patient=1, version=plan.generator_version, domain=domain)
    verification = build_pool("verification", 1, 224, slices_per_patient=1, version=plan.generator_version)
    return _manifest_fields(plan, pool, verification, 1.0, "0" * 64, REPORT, {}, {"data": 0.5, "train": 0.5})


@pytest.mark.req("SRS-079")
def test_a_generator_2_manifest_carries_the_generator_domains_and_the_full_backbone_config() -> None:
    plan = TrainingPlan(steps=1, train_patients=1, generator_version=2, domain="training", package_version="2.0.0")
    manifest = build_manifest(_fields(plan), b"onnx", b"twin")
    again = ModelManifest.model_validate(json.loads(manifest.canonical_bytes()))
    assert again == manifest and again.version == "2.0.0"
    training = again.training
    assert (training.generator, training.domain) == (PHANTOM_GENERATOR_V2, "training")
    assert (training.verification_generator, training.verification_domain) == (PHANTOM_GENERATOR_V2, "intended-use")
    assert (training.batch_size, training.slices_per_patient, training.learning_rate) == (8, 8, 1.5e-3)
    backbone = again.backbone_config
    assert backbone is not None
    assert (backbone.name, backbone.embed_dim, backbone.depth, backbone.num_heads, backbone.num_register_tokens,
            backbone.patch_size, backbone.input_size, backbone.layers) == (
        "demo_vitt14_reg4", 192, 4, 3, 4, 14, 224, (1, 3))
    head = again.head_config
    assert head is not None
    assert (head.type, head.in_channels, head.num_classes, head.widths, head.token_channels) == (
        "light_decoder", 384, 3, (16, 32, 48), 64)
    assert again.architecture_mismatches(backbone_record(DEMO_SEGMENTER), head_record(DEMO_SEGMENTER)) == []


@pytest.mark.req("SRS-079")
def test_a_changed_named_config_is_reported_against_the_recorded_one() -> None:
    plan = TrainingPlan(steps=1, train_patients=1, generator_version=2)
    manifest = build_manifest(_fields(plan), b"onnx", b"twin")
    changed = {**backbone_record(DEMO_SEGMENTER), "depth": 6}
    assert manifest.architecture_mismatches(changed, head_record(DEMO_SEGMENTER)) == [
        "backbone.depth: package 4, code 6"]


def test_the_default_plan_keeps_the_1_0_0_record_shape() -> None:
    plan = TrainingPlan(steps=1, train_patients=1)
    assert (plan.generator_version, plan.domain, plan.package_version) == (1, None, "1.0.0")
    fields = _fields(plan)
    assert "backbone_config" not in fields and set(fields["training"]) == set(
        json.loads((RELEASED_1 / "manifest.json").read_text())["training"])
    manifest = build_manifest(fields, b"onnx", b"twin")
    assert b"generator" not in manifest.canonical_bytes() and PHANTOM_GENERATOR.endswith("/1")


def test_train_command_accepts_generator_version_and_domain() -> None:
    import argparse

    from device_ai.cli import analysis

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        sub = subparsers.add_parser(name, help=help_text)
        sub.set_defaults(func=func)
        return sub

    analysis.register(add)
    args = parser.parse_args(["train", "--out", "x", "--signing-key", "k", "--generator-version", "2",
                              "--domain", "training", "--package-version", "2.0.0", "--batch-size", "8",
                              "--slices-per-patient", "8"])
    assert (args.generator_version, args.domain, args.package_version) == (2, "training", "2.0.0")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--out", "x", "--signing-key", "k", "--generator-version", "3"])
