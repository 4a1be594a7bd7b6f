"""RC-035 (SRS-185): a model package that is not for clinical use (the embedded demonstration
model) is refused for analysis of what may be patient data unless the site switched
demonstration mode on; its own synthetic demo, verification and the validation study on the
device's phantoms need no setting. The suite's conftest switches the mode on (synthetic data
only); these tests take it away."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.cli import main
from device_ai.model.package import signing
from tests.node.conftest import events
from tests.package_factory import make_package, manifest_fields
from tests.phantom_series import two_slice_phantom_series


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_slice_phantom_series(tmp_path_factory)


@pytest.fixture
def no_demonstration_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVICE_AI_DEMONSTRATION_MODE", raising=False)


@pytest.mark.req("SRS-185")
def test_the_demonstration_model_is_refused_for_analysis_without_demonstration_mode(
        series, tmp_path, no_demonstration_mode, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "result"
    assert main(["analyze", str(series), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert "DAI-320" in err and "not for clinical use" in err and "demonstration_mode" in err
    assert "Traceback" not in err and not out.exists()  # nothing written
    [refused] = events("Model Refused")
    assert refused["details"]["error"] == "DAI-320"
    [run] = events("Analysis Run")
    assert run["outcome"] != 0 and run["details"]["error"] == "DAI-320"  # the trail says what happened
    assert events("Model Verified") == []


@pytest.mark.req("SRS-185")
def test_with_demonstration_mode_the_same_analysis_runs_and_the_trail_says_so(
        series, tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")  # control: the setting is what decides
    assert main(["analyze", str(series), "--out", str(tmp_path / "result")]) == 0
    [verified] = events("Model Verified")
    assert verified["details"]["demonstration_mode"] == "true"


@pytest.mark.req("SRS-185")
def test_a_package_for_clinical_use_needs_no_setting(series, tmp_path, no_demonstration_mode,
                                                     monkeypatch, capsys) -> None:  # noqa: ANN001
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", signing.public_key_to_b64(key.public_key()))
    clinical = make_package(tmp_path / "pkg", key, fields={**manifest_fields(), "clinical_use": True})
    demo = make_package(tmp_path / "demo-pkg", key, fields=manifest_fields())  # control: clinical_use false
    assert main(["analyze", str(series), "--out", str(tmp_path / "a"), "--model", str(clinical)]) == 0
    [verified] = events("Model Verified")
    assert "demonstration_mode" not in verified["details"]
    assert main(["analyze", str(series), "--out", str(tmp_path / "b"), "--model", str(demo)]) == 4
    assert "DAI-320" in capsys.readouterr().err


@pytest.mark.req("SRS-185")
def test_verification_and_the_synthetic_demo_need_no_setting(tmp_path, no_demonstration_mode, capsys) -> None:  # noqa: ANN001
    assert main(["model", "verify"]) == 0
    assert main(["demo", "--out", str(tmp_path / "demo"), "--slices", "2"]) == 0
    assert events("Model Refused") == []


@pytest.mark.req("SRS-185")
def test_explain_is_refused_too(series, tmp_path, no_demonstration_mode, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "explained"
    assert main(["explain", str(series), "--label", "Lesion", "--out", str(out)]) == 4
    assert "DAI-320" in capsys.readouterr().err and not out.exists()
    assert [e["details"]["error"] for e in events("Model Refused")] == ["DAI-320"]


@pytest.mark.req("SRS-185")
def test_a_node_that_analyses_refuses_to_start_with_the_demonstration_model(tmp_path, no_demonstration_mode,
                                                                            monkeypatch) -> None:  # noqa: ANN001
    # Review helper-55: the node accepted series and then refused each analysis, two serious-failure
    # entries every retry for as long as it ran; it now refuses to start (serve and watch open this runtime).
    from device_ai.app.context import Context
    from device_ai.config import load_settings
    from device_ai.errors import NotForClinicalUse
    from device_ai.node.runtime import NodeRuntime

    with pytest.raises(NotForClinicalUse, match="not for clinical use"):
        NodeRuntime(Context(settings=load_settings()), pipeline=True).open()
    assert events("Analysis Run") == [] and events("Model Refused") == []
    monkeypatch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")  # control: with the mode the runtime opens
    runtime = NodeRuntime(Context(settings=load_settings()), pipeline=True)
    runtime.open()
    runtime.close()


@pytest.mark.req("SRS-185")
def test_analyze_batch_is_refused_before_any_unit_runs(series, tmp_path, no_demonstration_mode, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "batch-out"
    assert main(["analyze", "--batch", str(series.parent), str(out), "--workers", "1"]) == 4
    assert "DAI-320" in capsys.readouterr().err and not out.exists()
    assert [e["details"]["error"] for e in events("Model Refused")] == ["DAI-320"]
