"""analyze, model verify and demo write audit entries; a failed audit write fails the action (SRS-030)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.audit import log as log_module
from device_ai.audit.log import LOG_NAME, default_folder
from device_ai.audit.store import scan
from device_ai.errors import AuditError
from device_ai.model.package import signing
from tests.package_factory import make_package


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", signing.public_key_to_b64(key.public_key()))
    return make_package(tmp_path / "pkg", key)


@pytest.fixture
def series(tmp_path: Path) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = tmp_path / "series"
    write_ct_series(generate_case(split_seeds("test", 1)[0], n_slices=2), folder)
    return folder


def _entries() -> list[dict]:
    return [json.loads(r.payload) for r in scan((default_folder() / LOG_NAME).read_bytes()).records]


@pytest.mark.req("SRS-030", "SRS-029", "SRS-037")
def test_analyze_and_refusals_are_audited_by_pseudonym(tiny: Path, series: Path, tmp_path: Path) -> None:
    assert cli.main(["analyze", str(series), "--out", str(tmp_path / "out"), "--model", str(tiny)]) == 0
    assert cli.main(["analyze", str(tmp_path / "missing"), "--out", str(tmp_path / "o2"), "--model", str(tiny)]) == 3
    (tiny / "model.onnx").write_bytes(b"tampered")
    assert cli.main(["model", "verify", str(tiny)]) == 4
    events = [(e["event"]["meaning"], e["outcome"]) for e in _entries()]
    assert events == [("Model Verified", 0), ("Analysis Run", 0), ("Model Verified", 0), ("Analysis Run", 4),
                      ("Model Refused", 8)]
    analysis = _entries()[1]
    kinds = {o["kind"]: o["id"] for o in analysis["objects"]}
    assert kinds["study"].startswith("study-") and kinds["series"].startswith("series-")
    raw = (default_folder() / LOG_NAME).read_bytes()
    assert b"PHANTOM" not in raw and b"2.25." not in raw, "PHI or raw UIDs in the audit log"
    assert cli.main(["audit", "verify"]) == 0


@pytest.mark.req("SRS-030")
def test_a_failed_audit_write_fails_the_analysis_and_keeps_nothing(tiny: Path, series: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_append = log_module.AuditLog.append

    def append(self, event, **kwargs):  # noqa: ANN001, ANN202
        if event.meaning == "Analysis Run":
            raise AuditError("disk full (injected)")
        return real_append(self, event, **kwargs)

    monkeypatch.setattr(log_module.AuditLog, "append", append)
    out = tmp_path / "out"
    assert cli.main(["analyze", str(series), "--out", str(out), "--model", str(tiny)]) == 7
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
