"""SRS-200 (issue 20 item 7, the part that needs no GPU): inference on CUDA is configured with
``inference_device: cuda``; where this ONNX Runtime cannot run the model there (the CPU-only
build installed here, or a GPU build whose CUDA libraries do not load, when ORT falls back to the
CPU with only a warning) the device refuses with DAI-401, runs nothing, writes nothing and its
trail says so; it never runs on another provider than configured. Controls: the default (cpu)
analyses and records the provider it ran on."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from device_ai.cli import main
from device_ai.inference import engine as engine_module
from device_ai.inference.engine import CUDA_PROVIDER, EngineOptions, LockedEngine, execution_providers
from device_ai.errors import AcceleratorUnavailable
from tests.node.conftest import events
from tests.phantom_series import two_slice_phantom_series


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_slice_phantom_series(tmp_path_factory)


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE_AI_INFERENCE_DEVICE", "cuda")


def _assert_refused(code: int, err: str, out: Path) -> None:
    assert code == 5, err
    assert "DAI-401" in err and "cuda" in err and "nothing was run" in err and "inference_device: cpu" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.req("SRS-200")
def test_control_the_default_runs_on_the_cpu_and_the_trail_names_the_provider(series, tmp_path, capsys) -> None:  # noqa: ANN001
    assert main(["analyze", str(series), "--out", str(tmp_path / "result")]) == 0
    [verified] = events("Model Verified")
    assert verified["details"]["execution_provider"] == "CPUExecutionProvider"


@pytest.mark.req("SRS-200")
def test_cuda_requested_on_an_onnx_runtime_without_it_is_refused_and_nothing_runs(series, tmp_path, cuda,
                                                                                 capsys) -> None:  # noqa: ANN001
    assert CUDA_PROVIDER not in ort.get_available_providers()  # the premise: the CPU-only build of this machine
    out = tmp_path / "result"
    _assert_refused(main(["analyze", str(series), "--out", str(out)]), capsys.readouterr().err, out)
    assert [e["details"]["error"] for e in events("Model Refused")] == ["DAI-401"]
    [run] = events("Analysis Run")
    assert run["outcome"] != 0 and run["details"]["error"] == "DAI-401"
    assert events("Model Verified") == []


@pytest.mark.req("SRS-200")
def test_a_silent_fallback_to_the_cpu_is_refused(series, tmp_path, cuda, monkeypatch, capsys) -> None:  # noqa: ANN001
    """A GPU build whose CUDA libraries fail to load lists the provider as available and then
    places the model on the CPU with a warning only; simulated here by a build that claims CUDA."""
    monkeypatch.setattr(engine_module.ort, "get_available_providers",
                        lambda: [CUDA_PROVIDER, "CPUExecutionProvider"])
    out = tmp_path / "result"
    code = main(["analyze", str(series), "--out", str(out)])
    err = capsys.readouterr().err
    _assert_refused(code, err, out)
    assert "placed the model on CPUExecutionProvider" in err
    with pytest.raises(AcceleratorUnavailable, match="placed the model on CPUExecutionProvider"):
        from device_ai.config import default_model_path

        LockedEngine.load(default_model_path(), options=EngineOptions(threads=1, device="cuda"))


@pytest.mark.req("SRS-200")
def test_the_cuda_settings_are_the_reproducible_ones(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(engine_module.ort, "get_available_providers", lambda: [CUDA_PROVIDER, "CPUExecutionProvider"])
    [(name, options), fallback] = execution_providers("cuda")
    assert name == CUDA_PROVIDER and fallback == "CPUExecutionProvider"
    assert options["cudnn_conv_algo_search"] == "DEFAULT" and options["use_tf32"] == "0"
    assert execution_providers("cpu") == ["CPUExecutionProvider"]


@pytest.mark.req("SRS-200")
def test_the_node_does_not_start_on_a_cuda_it_cannot_use(cuda) -> None:  # noqa: ANN001
    from device_ai.app.context import Context
    from device_ai.config import load_settings
    from device_ai.node.runtime import NodeRuntime

    with pytest.raises(AcceleratorUnavailable, match="no CUDA execution provider"):
        NodeRuntime(Context(settings=load_settings()), pipeline=True).open()
    assert events("Analysis Run") == []


@pytest.mark.req("SRS-200")
def test_analyze_batch_refuses_cuda_because_its_workers_run_on_the_cpu(series, tmp_path, cuda, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "batch-out"
    assert main(["analyze", "--batch", str(series.parent), str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "runs its workers on the CPU" in err and "DEVICE_AI_INFERENCE_DEVICE=cpu" in err
    assert "Traceback" not in err and not out.exists() and events("Model Verified") == []


@pytest.mark.req("SRS-200")
def test_config_show_names_the_device(cuda, capsys) -> None:  # noqa: ANN001
    assert main(["config", "show"]) == 0
    assert "inference_device" in capsys.readouterr().out
