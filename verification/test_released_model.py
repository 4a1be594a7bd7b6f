"""System-level verification of the released model package (SRS-005..009, 014..018, 023)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import dciodvfy_errors

from device_ai import cli
from device_ai.errors import ModelIntegrityError
from device_ai.inference import engine as engine_module
from device_ai.inference import onnx_guard
from device_ai.inference.engine import EngineOptions, LockedEngine
from device_ai.inference.preprocess import normalize
from device_ai.model.package import pinned
from device_ai.model.package.manifest import PACKAGE_FILES
from device_ai.model.package.verify import sha256_hex, verify_package
from device_ai.training.data import build_pool


@pytest.mark.req("SRS-007", "SRS-023", "SRS-082")
def test_released_package_is_pinned_and_verifies(released_package: Path) -> None:
    verified = verify_package(released_package)
    assert verified.pinned_release
    assert verified.manifest_sha256 in pinned.RELEASED_MANIFESTS
    assert verified.signer_key_id in pinned.RELEASE_KEYS
    assert verified.manifest.clinical_use is False
    assert "Not for clinical use" in verified.manifest.intended_use


@pytest.mark.req("SRS-007")
def test_flipping_any_byte_of_the_released_package_is_refused_before_parsing(
    released_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "pkg"
    shutil.copytree(released_package, copy)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a parser saw bytes of an altered package")

    monkeypatch.setattr(engine_module.ort, "InferenceSession", forbidden)
    monkeypatch.setattr(onnx_guard.onnx, "load_model_from_string", forbidden)
    rng = np.random.default_rng(0)
    checked = 0
    for name in PACKAGE_FILES:
        original = (copy / name).read_bytes()
        if len(original) <= 256:  # the signature file: every byte
            offsets = set(range(len(original)))
        else:
            offsets = {0, len(original) - 1, len(original) // 2,
                       *rng.choice(len(original), size=60, replace=False).tolist()}
        for offset in sorted(offsets):
            corrupted = bytearray(original)
            corrupted[offset] ^= 1 << int(rng.integers(0, 8))
            (copy / name).write_bytes(bytes(corrupted))
            with pytest.raises(ModelIntegrityError):
                LockedEngine.load(copy)
            checked += 1
        (copy / name).write_bytes(original)
    assert checked >= 3 * 60 + 100


@pytest.mark.req("SRS-005")
def test_released_onnx_is_static_self_contained_and_checked(released_engine: LockedEngine) -> None:
    data = released_engine.package.files["model.onnx"]
    model = onnx.load_model_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain or "": o.version for o in model.opset_import}[""] == released_engine.manifest.export.opset == 17
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == list(released_engine.manifest.input.shape)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


@pytest.mark.req("SRS-006")
def test_export_parity_on_the_verification_set(released_engine: LockedEngine) -> None:
    import torch

    from device_ai.model.twin import load_twin

    twin = load_twin(released_engine.package)
    manifest = released_engine.manifest
    pool = build_pool("verification", manifest.training.verification_patients, manifest.input.shape[-1],
                      base_seed=manifest.training.seed)
    worst, agree, total = 0.0, 0, 0
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)  # as verification/test_explanations.py
    with torch.no_grad():
        for index in range(len(pool.planes)):
            image = normalize(pool.planes[index : index + 1], manifest.preprocessing)
            ort_logits = released_engine.run(image)
            torch_logits = twin(torch.from_numpy(image)).numpy()
            worst = max(worst, float(np.abs(ort_logits - torch_logits).max()))
            same = ort_logits.argmax(1) == torch_logits.argmax(1)
            agree += int(same.sum())
            total += same.size
    assert len(pool.planes) >= 100
    assert worst <= 1e-4
    assert agree / total >= 0.999


@pytest.mark.req("SRS-009")
def test_engine_is_bit_identical_over_repeated_runs_and_sessions(released_package: Path, released_engine: LockedEngine) -> None:
    image = np.random.default_rng(5).normal(size=tuple(released_engine.manifest.input.shape)).astype(np.float32)
    first = released_engine.run(image).tobytes()
    for _ in range(10):
        assert released_engine.run(image).tobytes() == first
    second_session = LockedEngine.load(released_package, options=EngineOptions(threads=2))
    assert second_session.run(image).tobytes() == first



@pytest.mark.req("SRS-014", "SRS-015", "SRS-018", "SRS-078")
def test_demo_writes_a_valid_seg_and_a_summary(released_package: Path, tmp_path: Path, dciodvfy: str) -> None:
    result = subprocess.run([sys.executable, "-m", "device_ai.cli", "demo", "--out", str(tmp_path / "demo")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "demo" / "result"
    assert str(out) in result.stdout and "NOT FOR CLINICAL USE" in result.stdout.upper()
    assert dciodvfy_errors(dciodvfy, out / "segmentation.dcm") == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["manifest_sha256"] == sha256_hex((released_package / "manifest.json").read_bytes())
    assert summary["model"]["pinned_release"] is True
    assert summary["volumes_ml"]["Organ"] > 0
    assert list(out.glob("preview_slice*.png"))


@pytest.mark.req("SRS-021", "SRS-013")
def test_analyze_finds_the_phantom_lesions(released_engine: LockedEngine, tmp_path: Path) -> None:
    from device_ai.inference.analyze import analyze
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    seeds = split_seeds("test", 30, base_seed=7)
    case = next(c for c in (generate_case(s, n_slices=10) for s in seeds) if len(c.lesions) >= 2)
    write_ct_series(case, tmp_path / "in")
    result = analyze(tmp_path / "in", tmp_path / "out", released_engine)
    assert result.summary["lesion_count"] == len(case.lesions)
    truth_organ = (case.labels == 1).sum() * case.pixel_spacing_mm**2 * case.slice_thickness_mm / 1000
    assert result.summary["volumes_ml"]["Organ"] == pytest.approx(truth_organ, rel=0.1)


@pytest.mark.req("SRS-023", "SRS-078")
def test_model_info_and_verify_commands(released_package: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["model", "verify", str(released_package)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: demo-dinov2-seg 1.0.0") and "pinned release" in out
    assert cli.main(["model", "info", str(released_package)]) == 0
    info = capsys.readouterr().out
    assert "NOT FOR CLINICAL USE" in info and "intended use" in info and "organ_dice" in info


TRAINING_LIMIT_S = 30 * 60  # SRS-020: within 30 minutes on the 2-core reference machine


def _training_time_problem(manifest: dict) -> str | None:
    """Why a manifest's own training record does not show SRS-020's time limit met, or None."""
    seconds = (manifest.get("training") or {}).get("wall_time_s")
    if not isinstance(seconds, (int, float)):
        return "the manifest records no training wall time"
    if seconds > TRAINING_LIMIT_S:
        return f"training took {seconds:.0f} s, over {TRAINING_LIMIT_S} s"
    return None


@pytest.mark.req("SRS-020")
def test_the_released_training_time_is_the_recorded_one_and_within_the_limit(released_package: Path) -> None:
    """SRS-020's time limit rests on the signed manifest's own record of the release training (issue 19: the
    requirement was 'verified' by a 2-step toy run alone). The record covers data generation and training; the
    export, parity check and release evaluation that follow in the same command are not recorded in it."""
    manifest = json.loads((released_package / "manifest.json").read_text(encoding="utf-8"))
    assert _training_time_problem(manifest) is None, _training_time_problem(manifest)
    assert manifest["training"]["seed"] == 0 and manifest["training"]["torch_threads"] == 2
    # controls: a record over the limit, and a manifest without the record, fail the same check
    slow = {**manifest, "training": {**manifest["training"], "wall_time_s": TRAINING_LIMIT_S + 1}}
    assert "over 1800 s" in _training_time_problem(slow)
    assert _training_time_problem({**manifest, "training": {}}) == "the manifest records no training wall time"
