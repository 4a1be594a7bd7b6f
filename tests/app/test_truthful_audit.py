"""Every audited action, run through ``device_ai.app`` with a failure injected at each step
(input, model, inference or processing, output, audit): the outcome recorded is the outcome
returned, a failure is recorded with its error code, and nothing is visible for a failure."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import app
from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.audit import log as log_module
from device_ai.config import Settings
from device_ai.errors import (AuditError, ConfigError, DeviceAIError, InferenceError, InputRefused, ModelIntegrityError,
                              OutputError, OutputRefused)
from device_ai.model.package import signing
from tests.package_factory import make_package


@dataclass(frozen=True)
class Case:
    action: str  # analyze, explain, anonymize, validate
    step: str  # none (success), input, model, inference, output, commit, audit
    expected: type[DeviceAIError] | None


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = tmp_path_factory.mktemp("in") / "series"
    write_ct_series(generate_case(split_seeds("test", 1)[0], n_slices=2), folder)
    return folder


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", signing.public_key_to_b64(key.public_key()))
    return make_package(tmp_path / "pkg", key)


EVENTS = {"analyze": "Analysis Run", "explain": "Explanation Produced", "anonymize": "De-identification",
          "validate": "Validation Run"}
STEPS = {
    "analyze": {"none": None, "input": InputRefused, "model": ModelIntegrityError, "inference": InferenceError,
                "output": OutputRefused, "commit": OutputError, "audit": AuditError},
    "explain": {"none": None, "input": InputRefused, "model": ModelIntegrityError, "inference": InferenceError,
                "output": OutputRefused, "commit": OutputError, "audit": AuditError},
    "anonymize": {"none": None, "input": InputRefused, "inference": OutputError, "output": OutputRefused,
                  "commit": OutputError, "audit": AuditError},
    "validate": {"none": None, "input": ConfigError, "model": ModelIntegrityError, "inference": InferenceError,
                 "output": OutputRefused, "commit": OutputError, "audit": AuditError},
}
CASES = [Case(action, step, expected) for action, steps in STEPS.items() for step, expected in steps.items()]


def _run(case: Case, tmp_path: Path, series: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the case's action; returns the output path it was asked to create."""
    ctx = app.Context(settings=Settings())
    out = tmp_path / "out"
    source = tmp_path / "missing" if case.step == "input" else series
    model = tiny if case.action != "explain" else None  # explanations need the released model's torch twin
    if case.step == "model":
        model = tiny
        (tiny / "model.onnx").write_bytes(b"tampered")
    if case.step == "output":
        out.mkdir()
        (out / "earlier-result.txt").write_text("kept")
    if case.action == "analyze":
        app.analyze(ctx, app.AnalysisRequest(input=source, out=out, model=model))
    elif case.action == "explain":
        app.explain(ctx, app.ExplainRequest(input=source, out=out, label="Organ", slices=1, model=model))
    elif case.action == "anonymize":
        app.anonymize(ctx, app.AnonymizeRequest(inputs=[source], out=out))
    else:
        out = tmp_path / "report.json"
        if case.step == "output":
            out.mkdir()
        app.validate(ctx, patients=5 if case.step == "input" else 20, seed=0, out=out, model=model)
    return out


def _inject(case: Case, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if case.action == "validate" and case.step not in ("input", "model", "inference"):
        from device_ai.training import evaluate

        monkeypatch.setattr(evaluate, "run_validation",
                            lambda engine, **kw: {"summary": {"acceptance": {"passed": True}}, "cases": []})
    if case.step == "inference":
        if case.action == "anonymize":  # a write of the de-identified files fails mid-run
            from device_ai.dicom.deidentify import run

            def disk_full(*args: object) -> None:
                raise OutputError("disk full (injected)")

            monkeypatch.setattr(run, "_write_staged", disk_full)
        else:
            from device_ai.inference.engine import LockedEngine

            def broken(self: object, image: object) -> None:
                raise InferenceError("inference failed (injected)")

            monkeypatch.setattr(LockedEngine, "run", broken)
    if case.step == "commit":  # the final rename (or the report's) fails after the success was recorded
        real_replace = os.replace

        def replace(src: str, dst: str) -> None:
            if Path(dst).name in ("out", "report.json"):
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    if case.step == "audit":
        real_append = log_module.AuditLog.append

        def append(self: object, event, **kwargs):  # noqa: ANN001, ANN202
            if event.meaning == EVENTS[case.action]:
                raise AuditError("audit disk full (injected)")
            return real_append(self, event, **kwargs)

        monkeypatch.setattr(log_module.AuditLog, "append", append)


@pytest.mark.req("SRS-030", "SRS-083")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.action}-{c.step}")
def test_the_recorded_outcome_is_the_returned_outcome(case: Case, tmp_path: Path, series: Path, tiny: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _inject(case, monkeypatch, tmp_path)
    out = tmp_path / ("report.json" if case.action == "validate" else "out")
    raised: DeviceAIError | None = None
    try:
        out = _run(case, tmp_path, series, tiny, monkeypatch)
    except DeviceAIError as exc:
        raised = exc
    _, recorded = entries(None, EntryFilter(event=EVENTS[case.action]))
    if case.expected is None:
        assert raised is None
        assert [e["outcome"] for e in recorded] == [0], "one success entry for one successful action"
        assert out.exists()
        return
    assert isinstance(raised, case.expected), f"{case}: raised {raised!r}"
    if case.step == "audit":
        assert recorded == [], "the trail could not be written: no entry may claim anything"
    else:
        failures = [e for e in recorded if e["details"].get("error")]
        assert len(failures) == 1 and failures[0]["details"]["error"] == raised.code
        assert failures[0]["outcome"] in (4, 8)
        claimed = [e["seq"] for e in recorded if e["outcome"] == 0]
        superseded = failures[0]["details"].get("supersedes", "")
        assert claimed == [int(s) for s in superseded.split(",") if s], "every success claim is superseded"
        assert failures[0]["seq"] > max(claimed, default=-1)
    if case.step == "output":
        assert sorted(p.name for p in out.iterdir()) == (["earlier-result.txt"] if out.name == "out" else [])
    else:
        assert not out.exists(), "nothing is visible for a failed action"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".out", ".report"))]
    assert leftovers == []


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_failed_explanation_fails_the_analysis_it_belongs_to(tmp_path: Path, series: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """analyze --explain: the explanation step fails after the analysis ran; nothing claims success."""
    from device_ai.app import analysis
    from device_ai.errors import ExplanationRefused

    def refused(*args: object, **kwargs: object) -> None:
        raise ExplanationRefused("the twin disagrees (injected)")

    monkeypatch.setattr(analysis, "explain_into", refused)
    ctx = app.Context(settings=Settings())
    with pytest.raises(ExplanationRefused):
        app.analyze(ctx, app.AnalysisRequest(input=series, out=tmp_path / "out", explain="Lesion"))
    _, recorded = entries(None, EntryFilter())
    actions = [(e["event"]["meaning"], e["outcome"], e["details"].get("error")) for e in recorded]
    assert actions[-1] == ("Analysis Run", 8, "DAI-800")
    assert ("Analysis Run", 0, None) not in actions
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_refusals_come_before_any_slice_is_inferred(tmp_path: Path, series: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing, file or unwritable --out and an unknown --explain label: each its own message,
    and the engine never ran."""
    from device_ai.inference.engine import LockedEngine

    calls: list[int] = []
    real_run = LockedEngine.run
    monkeypatch.setattr(LockedEngine, "run", lambda self, image: calls.append(1) or real_run(self, image))
    ctx = app.Context(settings=Settings())
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    messages = []
    for out, label in ((full, None), (a_file, None), (a_file / "below", None), (tmp_path / "new", "Tumor")):
        with pytest.raises((OutputRefused, ConfigError)) as caught:
            app.analyze(ctx, app.AnalysisRequest(input=series, out=out, explain=label))
        messages.append(caught.value.message)
    real_mkdtemp = __import__("tempfile").mkdtemp

    def read_only(*args: object, **kwargs: object) -> str:
        if str(kwargs.get("prefix", "")).startswith(".device-ai-probe"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkdtemp(*args, **kwargs)

    monkeypatch.setattr("tempfile.mkdtemp", read_only)
    with pytest.raises(OutputRefused) as caught:
        app.analyze(ctx, app.AnalysisRequest(input=series, out=tmp_path / "ro"))
    messages.append(caught.value.message)
    assert calls == [], "no slice may be inferred before a refusal"
    assert "not empty" in messages[0] and "is a file, not a folder" in messages[1]
    assert "is a file, so nothing can be created" in messages[2] and "'Tumor' is not a label" in messages[3]
    assert "not writable" in messages[4] and "Read-only" in messages[4]
    assert len(set(messages)) == 5
