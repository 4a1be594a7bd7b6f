"""Peers and helpers for the worker and outbound tests: dcmtk storescp as a destination, a tiny
signed model package (tests/package_factory.py: a 1x1 convolution, analysis in well under a
second), result files read back. Everything on 127.0.0.1, high free ports, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pydicom
import pytest

from conftest import require_tool
from tests.node.conftest import TIMEOUT, free_port, wait_for

DEST_AET = "TESTDEST"


class StoreSCP:
    """dcmtk ``storescp`` writing every received instance to ``folder`` (+B: bytes as received)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> StoreSCP:
        self.log = open(self.folder.parent / f"storescp-{self.port}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([require_tool("storescp"), "-aet", DEST_AET, "-od", str(self.folder), "+B",
                                         "+uf", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        import socket

        def listening() -> bool:
            assert self.process.poll() is None, "storescp exited"
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, timeout=TIMEOUT)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=TIMEOUT)
        if self.process is not None:
            self.log.close()
        self.process = None

    def received(self) -> list[pydicom.Dataset]:
        found = []
        for path in sorted(self.folder.iterdir()):
            try:
                found.append(pydicom.dcmread(path))
            except Exception:  # noqa: BLE001 - a file being written
                continue
        return found

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def destination(self, name: str = "scp") -> dict:
        return {"name": name, "kind": "dimse", "ae_title": DEST_AET, "host": "127.0.0.1", "port": self.port,
                "timeout_s": 5}


@pytest.fixture
def storescp(tmp_path: Path):  # noqa: ANN201
    started: list[StoreSCP] = []

    def make(port: int | None = None, folder: str = "received") -> StoreSCP:
        scp = StoreSCP(tmp_path / folder, port).start()
        started.append(scp)
        return scp

    yield make
    for scp in started:
        scp.stop()


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A signed tiny package, trusted and configured (speed: the embedded model takes seconds per slice here)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device_ai.model.package import signing
    from tests.package_factory import make_package

    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", signing.public_key_to_b64(key.public_key()))
    path = make_package(tmp_path / "tiny-model", key)
    monkeypatch.setenv("DEVICE_AI_MODEL_PATH", str(path))
    return path


def destinations(*items: dict) -> str:
    return json.dumps(list(items))


def by_modality(datasets: list[pydicom.Dataset], modality: str) -> list[pydicom.Dataset]:
    return [ds for ds in datasets if ds.Modality == modality]


def referenced_sources(seg: pydicom.Dataset) -> set[str]:
    return {item.ReferencedSOPInstanceUID for series in seg.ReferencedSeriesSequence
            for item in series.ReferencedInstanceSequence}


def sr_evidence(sr: pydicom.Dataset) -> set[str]:
    return {item.ReferencedSOPInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence}
