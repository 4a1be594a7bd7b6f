"""Every audited action, run through ``device_ai.app`` with a failure injected at each step
(input, model, inference or processing, output, audit): the outcome recorded is the outcome
returned, a failure is recorded with its error code, and nothing is visible for a failure."""

from __future__ import annotations

import errno
import os
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
from tests.phantom_series import two_slice_phantom_series


@dataclass(frozen=True)
class Case:
    action: str  # analyze, explain, anonymize, validate
    step: str  # none (success), input, model, inference, output, commit, audit
    expected: type[DeviceAIError] | None


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_slice_phantom_series(tmp_path_factory)


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


def truthfulness_problems(recorded: list[dict], raised: BaseException | None, output_visible: bool) -> list[str]:
    """What is untrue in the entries of one event for one action run: for a success, exactly
    one success entry and a visible output; for a failure, one failure entry with the raised
    code, recorded after and superseding every success claim of that event, and no output."""
    problems = []
    claims = [e["seq"] for e in recorded if e["outcome"] == 0]
    failures = [e for e in recorded if e["details"].get("error")]
    if raised is None:
        if claims != [e["seq"] for e in recorded] or len(claims) != 1:
            problems.append(f"a success must be one success entry, found {[e['outcome'] for e in recorded]}")
        if not output_visible:
            problems.append("success recorded but no output visible")
        return problems
    if output_visible:
        problems.append("output visible for a failed action")
    code = raised.code if isinstance(raised, DeviceAIError) else "DAI-130"
    if isinstance(raised, AuditError) and not claims:
        # The trail failed before anything was claimed: at most failure entries, as far as it allowed.
        if any(not e["details"].get("error") for e in recorded):
            problems.append("the trail failed before anything was claimed, yet a non-failure entry exists")
        return problems
    if len(failures) != 1:
        problems.append(f"one failure entry expected, found {len(failures)}")
        return problems
    failure = failures[0]
    if failure["details"]["error"] != code and not isinstance(raised, AuditError):
        problems.append(f"failure recorded as {failure['details']['error']}, raised {code}")
    if failure["outcome"] not in (4, 8):
        problems.append(f"failure recorded with outcome {failure['outcome']}")
    superseded = [int(s) for s in failure["details"].get("supersedes", "").split(",") if s]
    if sorted(superseded) != sorted(claims):
        problems.append(f"success claims {claims} but the failure supersedes {superseded}")
    if claims and failure["seq"] < max(claims):
        problems.append("the failure entry comes before the success it supersedes")
    return problems


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
    if case.expected is not None:
        assert isinstance(raised, case.expected), f"{case}: raised {raised!r}"
    if case.step == "output":  # the existing folder keeps what it held, nothing added
        assert sorted(p.name for p in out.iterdir()) == (["earlier-result.txt"] if out.name == "out" else [])
        visible = False
    else:
        visible = out.exists()
    assert truthfulness_problems(recorded, raised, visible) == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".out", ".report"))]
    assert leftovers == []


@pytest.mark.req("SRS-083")
def test_the_truthfulness_check_flags_untrue_trails() -> None:
    """Negative controls of the check above: each untrue trail is flagged."""
    def entry(seq: int, outcome: int, **details: str) -> dict:
        return {"seq": seq, "outcome": outcome, "details": details}

    refused = InputRefused("x")
    assert truthfulness_problems([entry(0, 0)], None, True) == []
    assert truthfulness_problems([entry(0, 4, error="DAI-200")], refused, False) == []
    assert truthfulness_problems([entry(0, 0)], refused, False)  # success recorded, failure raised
    assert truthfulness_problems([entry(0, 4, error="DAI-210")], refused, False)  # wrong code
    assert truthfulness_problems([entry(0, 4, error="DAI-200"), entry(1, 4, error="DAI-200")], refused, False)
    assert truthfulness_problems([entry(0, 4, error="DAI-200")], refused, True)  # output visible
    assert truthfulness_problems([entry(0, 0), entry(1, 8, error="DAI-500")], OutputError("x"), False)  # not superseded
    assert truthfulness_problems([entry(0, 8, error="DAI-500", supersedes="1"), entry(1, 0)], OutputError("x"), False)
    assert truthfulness_problems([entry(0, 0), entry(1, 0)], None, True)  # two successes for one action
    assert truthfulness_problems([], None, True)  # success not recorded
    assert truthfulness_problems([entry(0, 0)], AuditError("x"), False)  # trail failed after a claim, not superseded
    assert truthfulness_problems([entry(0, 8, error="DAI-700")], AuditError("x"), False) == []  # as far as it allowed


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


def _replace_failing_for(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """os.replace fails for a target called ``name`` while the returned switch is on."""
    real_replace = os.replace
    switch = {"on": True}

    def replace(src: str, dst: str) -> None:
        if switch["on"] and Path(dst).name == name:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return switch


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_failed_publication_supersedes_the_explanation_too(tmp_path: Path, series: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _replace_failing_for("out", monkeypatch)
    with pytest.raises(OutputError):
        app.analyze(app.Context(settings=Settings()),
                    app.AnalysisRequest(input=series, out=tmp_path / "out", explain="Organ"))
    for event in ("Analysis Run", "Explanation Produced"):
        _, recorded = entries(None, EntryFilter(event=event))
        assert truthfulness_problems(recorded, OutputError("x"), False) == [], event
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_an_interruption_is_recorded_as_such(tmp_path: Path, series: Path, tiny: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.inference.engine import LockedEngine

    def interrupted(self: object, image: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LockedEngine, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        app.analyze(app.Context(settings=Settings()), app.AnalysisRequest(input=series, out=tmp_path / "out", model=tiny))
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert [(e["outcome"], e["details"]["error"]) for e in recorded] == [(8, "DAI-130")]
    assert recorded[0]["objects"], "the failure names the study and the model"
    _, refused = entries(None, EntryFilter(event="Model Refused"))
    assert refused == [], "an interruption is not a model refusal"
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
@pytest.mark.parametrize("interrupted", [False, True], ids=["checkpoint-fails", "checkpoint-interrupted"])
def test_a_checkpoint_failing_after_the_success_entry_is_superseded(interrupted: bool, tmp_path: Path, series: Path,
                                                                    tiny: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The success entry is durable but the checkpoint after it fails (from then on) or is
    interrupted (once): the action fails, its success is superseded, nothing is published, and
    a failure says the entry is durable."""
    real_checkpoint = log_module.AuditLog._checkpoint_locked
    state = {"armed": False}
    real_append = log_module.AuditLog.append

    def append(self, event, **kwargs):  # noqa: ANN001, ANN202
        if event.meaning == "Analysis Run" and kwargs.get("outcome", 0) == 0:
            state["armed"] = True
            self._since_checkpoint = self.checkpoint_every  # the checkpoint falls due on this entry
        return real_append(self, event, **kwargs)

    def checkpoint(self):  # noqa: ANN001, ANN202
        if state["armed"]:
            if interrupted:
                state["armed"] = False
                raise KeyboardInterrupt
            raise AuditError("cannot copy the checkpoint (injected)")
        return real_checkpoint(self)

    monkeypatch.setattr(log_module.AuditLog, "append", append)
    monkeypatch.setattr(log_module.AuditLog, "_checkpoint_locked", checkpoint)
    with pytest.raises(KeyboardInterrupt if interrupted else AuditError) as caught:
        app.analyze(app.Context(settings=Settings()), app.AnalysisRequest(input=series, out=tmp_path / "out", model=tiny))
    if not interrupted:
        assert "durable" in caught.value.message
    state["armed"] = False
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert truthfulness_problems(recorded, caught.value, False) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_failing_final_checkpoint_does_not_hide_a_refusal(tmp_path: Path, tiny: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def checkpoint(self):  # noqa: ANN001, ANN202
        raise AuditError("cannot copy the checkpoint (injected)")

    monkeypatch.setattr(log_module.AuditLog, "_checkpoint_locked", checkpoint)
    with pytest.raises(AuditError) as caught:
        app.analyze(app.Context(settings=Settings()),
                    app.AnalysisRequest(input=tmp_path / "missing", out=tmp_path / "out", model=tiny))
    assert "already failed: DAI-2" in caught.value.message
    assert isinstance(caught.value.__cause__, InputRefused)


@pytest.mark.req("SRS-030", "SRS-083")
def test_the_crosswalk_exists_only_for_a_published_run(tmp_path: Path, series: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = app.Context(settings=Settings())
    crosswalk = tmp_path / "walk.bin"
    failing = _replace_failing_for("out", monkeypatch)
    with pytest.raises(OutputError):
        app.anonymize(ctx, app.AnonymizeRequest(inputs=[series], out=tmp_path / "out", crosswalk=crosswalk))
    assert sorted(p.name for p in tmp_path.iterdir() if "walk" in p.name) == []
    failing["on"] = False  # (monkeypatch.undo() would also undo the test's own DEVICE_AI_HOME)
    app.anonymize(ctx, app.AnonymizeRequest(inputs=[series], out=tmp_path / "out", crosswalk=crosswalk))
    assert crosswalk.is_file() and app.read_crosswalk(ctx, crosswalk)["patients"]
    _, recorded = entries(None, EntryFilter(event="De-identification"))
    assert [(e["outcome"], e["details"].get("error"), e["details"].get("supersedes")) for e in recorded][:2] == [
        (0, None, None), (8, "DAI-500", str(recorded[0]["seq"]))]


@pytest.mark.req("SRS-030", "SRS-083")
def test_reading_an_altered_crosswalk_is_recorded_as_a_failure(tmp_path: Path, series: Path) -> None:
    ctx = app.Context(settings=Settings())
    crosswalk = tmp_path / "walk.bin"
    app.anonymize(ctx, app.AnonymizeRequest(inputs=[series], out=tmp_path / "out", crosswalk=crosswalk))
    data = bytearray(crosswalk.read_bytes())
    data[-1] ^= 1
    crosswalk.write_bytes(bytes(data))
    with pytest.raises(ConfigError) as caught:
        app.read_crosswalk(ctx, crosswalk)
    _, recorded = entries(None, EntryFilter(event="De-identification"))
    reads = [e for e in recorded if e["details"].get("crosswalk_read")]
    assert truthfulness_problems(reads, caught.value, False) == []


@pytest.mark.req("SRS-029", "SRS-083")
def test_model_verify_through_the_app(tiny: Path) -> None:
    ctx = app.Context(settings=Settings())
    assert app.verify_model(ctx, tiny).manifest_sha256
    (tiny / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError) as caught:
        app.verify_model(ctx, tiny)
    _, recorded = entries(None, EntryFilter())
    assert [(e["event"]["meaning"], e["outcome"], e["details"].get("error")) for e in recorded] == [
        ("Model Verified", 0, None), ("Model Refused", 8, caught.value.code)]


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_failed_demo_is_recorded_and_keeps_no_synthetic_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.training import ct_series

    def disk_full(case: object, folder: Path) -> None:
        Path(folder).mkdir(parents=True)
        (Path(folder) / "half.dcm").write_bytes(b"x")
        raise OutputError("disk full (injected)")

    monkeypatch.setattr(ct_series, "write_ct_series", disk_full)
    with pytest.raises(OutputError) as caught:
        app.demo(app.Context(settings=Settings()), tmp_path / "demo", seed=6, slices=2, announce=lambda line: None)
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert truthfulness_problems(recorded, caught.value, False) == []
    assert list((tmp_path / "demo").iterdir()) == [] if (tmp_path / "demo").exists() else True


def _checkpoint_writes_fail_from(event_meaning: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Every checkpoint write fails (disk full on audit/checkpoints, as OutputError from the
    atomic writer) from the first success entry of ``event_meaning`` on; the checkpoint is due
    on every entry from then on."""
    from device_ai import atomic_io

    state = {"armed": False}
    real_write = atomic_io.atomic_write_bytes
    real_append = log_module.AuditLog.append

    def write(path: Path, data: bytes, **kwargs: object) -> Path:
        if state["armed"] and path.suffix == ".note":
            raise OutputError(f"could not write {path}: No space left on device (injected)")
        return real_write(path, data, **kwargs)

    def append(self, event, **kwargs):  # noqa: ANN001, ANN202
        if event.meaning == event_meaning and kwargs.get("outcome", 0) == 0:
            state["armed"] = True
        if state["armed"]:
            self._since_checkpoint = self.checkpoint_every
        return real_append(self, event, **kwargs)

    monkeypatch.setattr(log_module, "atomic_write_bytes", write)
    monkeypatch.setattr(log_module.AuditLog, "append", append)
    return state


@pytest.mark.req("SRS-030", "SRS-083")
@pytest.mark.parametrize("from_event", ["Explanation Produced", "Analysis Run"])
def test_a_local_checkpoint_write_failing_after_the_success_is_superseded(from_event: str, tmp_path: Path,
                                                                          series: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With explanations: every success claim is superseded, nested ones too, although every
    further checkpoint fails (each failure entry is still durable)."""
    state = _checkpoint_writes_fail_from(from_event, monkeypatch)
    with pytest.raises(AuditError) as caught:
        app.analyze(app.Context(settings=Settings()),
                    app.AnalysisRequest(input=series, out=tmp_path / "out", explain="Organ"))
    state["armed"] = False
    assert "durable" in caught.value.message and "No space left" in caught.value.message
    for event in ("Analysis Run", "Explanation Produced"):
        _, recorded = entries(None, EntryFilter(event=event))
        assert truthfulness_problems(recorded, caught.value, False) == [], event
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_local_checkpoint_failure_at_close_does_not_hide_a_refusal(tmp_path: Path, tiny: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai import atomic_io

    real_write = atomic_io.atomic_write_bytes

    def write(path: Path, data: bytes, **kwargs: object) -> Path:
        if path.suffix == ".note":
            raise OutputError(f"could not write {path}: No space left on device (injected)")
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(log_module, "atomic_write_bytes", write)
    with pytest.raises(AuditError) as caught:
        app.analyze(app.Context(settings=Settings()),
                    app.AnalysisRequest(input=tmp_path / "missing", out=tmp_path / "out", model=tiny))
    assert "already failed: DAI-2" in caught.value.message and "checkpoint" in caught.value.message


@pytest.mark.req("SRS-030", "SRS-083")
def test_an_interruption_at_the_final_sync_unpublishes_and_is_recorded(tmp_path: Path, series: Path, tiny: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fsync_failing_for(tmp_path, monkeypatch, KeyboardInterrupt())  # the parent of --out, synced after the rename
    with pytest.raises(KeyboardInterrupt):
        app.analyze(app.Context(settings=Settings()), app.AnalysisRequest(input=series, out=tmp_path / "out", model=tiny))
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert truthfulness_problems(recorded, KeyboardInterrupt(), False) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_demo_with_no_slices_is_a_recorded_argument_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--slices 0"):
        app.demo(app.Context(settings=Settings()), tmp_path / "demo", seed=6, slices=0, announce=lambda line: None)
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert [(e["outcome"], e["details"]["error"]) for e in recorded] == [(4, "DAI-100")]
    assert not (tmp_path / "demo" / "input-series").exists()


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_crosswalk_appearing_during_the_run_is_never_deleted_or_replaced(tmp_path: Path, series: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.dicom.deidentify import crosswalk as crosswalk_module

    target = tmp_path / "walk.bin"
    real_write = crosswalk_module.write_crosswalk

    def write_and_race(path: Path, replacer: object) -> Path:
        written = real_write(path, replacer)
        target.write_bytes(b"someone else's crosswalk")  # appears after the precondition check
        return written

    monkeypatch.setattr(crosswalk_module, "write_crosswalk", write_and_race)
    with pytest.raises(OutputError):
        app.anonymize(app.Context(settings=Settings()),
                      app.AnonymizeRequest(inputs=[series], out=tmp_path / "out", crosswalk=target))
    assert target.read_bytes() == b"someone else's crosswalk"
    assert not (tmp_path / ".walk.bin.pending").exists() and not (tmp_path / "out").exists()


@pytest.mark.req("SRS-029", "SRS-083")
def test_an_interrupted_model_verification_is_recorded(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.inference.engine import LockedEngine

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LockedEngine, "load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        app.verify_model(app.Context(settings=Settings()), tiny)
    _, recorded = entries(None, EntryFilter())
    assert [(e["event"]["meaning"], e["outcome"], e["details"].get("error")) for e in recorded] == [
        ("Model Verified", 8, "DAI-130")]


@pytest.mark.req("SRS-030", "SRS-083")
def test_negative_seeds_are_recorded_argument_errors(tmp_path: Path) -> None:
    ctx = app.Context(settings=Settings())
    with pytest.raises(ConfigError, match="--seed -1"):
        app.demo(ctx, tmp_path / "demo", seed=-1, slices=2, announce=lambda line: None)
    with pytest.raises(ConfigError, match="--seed -1"):
        app.validate(ctx, patients=20, seed=-1)
    _, recorded = entries(None, EntryFilter())
    assert [(e["event"]["meaning"], e["outcome"], e["details"]["error"]) for e in recorded
            if e["event"]["meaning"] in ("Analysis Run", "Validation Run")] == [
        ("Analysis Run", 4, "DAI-100"), ("Validation Run", 4, "DAI-100")]



def _fsync_failing_for(folder: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    from device_ai import atomic_io

    real_fsync = atomic_io.fsync_directory

    def fsync(directory: Path) -> None:
        if Path(directory) == folder:
            raise error
        real_fsync(directory)

    monkeypatch.setattr(atomic_io, "fsync_directory", fsync)


@pytest.mark.req("SRS-030", "SRS-083")
@pytest.mark.parametrize("error", [OSError(5, "Input/output error (injected)"), KeyboardInterrupt()],
                         ids=["eio", "interrupt"])
def test_a_validation_report_whose_folder_sync_fails_is_not_left_visible(error: BaseException, tmp_path: Path,
                                                                         tiny: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.training import evaluate

    monkeypatch.setattr(evaluate, "run_validation",
                        lambda engine, **kw: {"summary": {"acceptance": {"passed": True}}, "cases": []})
    reports = tmp_path / "reports"
    reports.mkdir()
    _fsync_failing_for(reports, monkeypatch, error)
    with pytest.raises((OutputError, KeyboardInterrupt)) as caught:
        app.validate(app.Context(settings=Settings()), patients=20, seed=0, out=reports / "report.json", model=tiny)
    _, recorded = entries(None, EntryFilter(event="Validation Run"))
    assert truthfulness_problems(recorded, caught.value, False) == []
    assert list(reports.iterdir()) == []


@pytest.mark.req("SRS-030", "SRS-083")
def test_model_verify_supersedes_its_success_when_the_checkpoint_after_it_fails(tiny: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    state = _checkpoint_writes_fail_from("Model Verified", monkeypatch)
    with pytest.raises(AuditError) as caught:
        app.verify_model(app.Context(settings=Settings()), tiny)
    state["armed"] = False
    assert "failed and published nothing" in caught.value.message
    _, recorded = entries(None, EntryFilter(event="Model Verified"))
    assert truthfulness_problems(recorded, caught.value, False) == []


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_failed_anonymize_keeps_no_quarantine_copies_and_no_pending_crosswalk(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.dicom.deidentify import crosswalk as crosswalk_module

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "junk.dcm").write_bytes(b"not dicom")  # quarantined

    def cut_short(path: Path, replacer: object) -> Path:
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(crosswalk_module, "write_crosswalk", cut_short)
    with pytest.raises(KeyboardInterrupt):
        app.anonymize(app.Context(settings=Settings()),
                      app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "out", crosswalk=tmp_path / "walk.bin"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], "no output, quarantine or crosswalk file"


@pytest.mark.req("SRS-030", "SRS-083")
def test_an_interruption_at_the_final_checkpoint_after_success_says_so(tmp_path: Path, series: Path, tiny: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_close = log_module.AuditLog.close

    def close(self):  # noqa: ANN001, ANN202
        real_close(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(log_module.AuditLog, "close", close)
    with pytest.raises(AuditError, match="the action itself completed"):
        app.analyze(app.Context(settings=Settings()), app.AnalysisRequest(input=series, out=tmp_path / "out", model=tiny))
    assert (tmp_path / "out" / "summary.json").is_file()


@pytest.mark.req("SRS-030", "SRS-083")
def test_a_published_demo_keeps_its_study_when_only_the_close_fails(tmp_path: Path, tiny: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def close(self):  # noqa: ANN001, ANN202
        raise AuditError("cannot copy the checkpoint (injected)")

    monkeypatch.setattr(log_module.AuditLog, "close", close)
    with pytest.raises(AuditError, match="completed"):
        app.demo(app.Context(settings=Settings()), tmp_path / "demo", seed=6, slices=2, model=tiny,
                 announce=lambda line: None)
    assert (tmp_path / "demo" / "result" / "summary.json").is_file()
    assert (tmp_path / "demo" / "input-series").is_dir()
