"""Orthanc (the Debian package, a real PACS) pushes a synthetic CT study to the node by C-STORE
through its REST API (issue 15, "Real components in the tests"). Orthanc runs as a child
process on 127.0.0.1 with high free ports and a JSON configuration in a temp folder, and is
stopped by its PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_tool
from tests.dicom.synthetic import part10
from tests.node.conftest import NODE_AET, TIMEOUT, dataset_bytes, events, free_port, series_slices, wait_for, wire_bytes

PACS_AET = "TESTPACS"


def orthanc_binary() -> str:
    """Debian installs it in /usr/sbin, which a non-root PATH may lack."""
    installed = Path("/usr/sbin/Orthanc")
    return str(installed) if installed.is_file() else require_tool("Orthanc")


class Orthanc:
    def __init__(self, folder: Path) -> None:
        self.http = free_port()
        self.dicom = free_port()
        config = {"Name": "TEST-PACS", "DicomAet": PACS_AET, "DicomPort": self.dicom, "HttpPort": self.http,
                  "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
                  "DicomAlwaysAllowStore": True, "DicomModalities": {}, "SaveJobs": False, "StableAge": 60,
                  "DicomScuTimeout": 10}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.out", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([orthanc_binary(), f"--logdir={folder}", str(folder / "orthanc.json")],
                                        stdout=self.log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.process.poll() is None, "Orthanc exited at start"
            try:
                self.request("GET", "/system")
                return True
            except (urllib.error.URLError, ConnectionError):
                return False

        wait_for(up, timeout=30, step=0.1)

    def request(self, method: str, path: str, body: bytes | dict | None = None) -> dict:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"{}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=TIMEOUT)
        self.log.close()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    pacs = Orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield pacs
    finally:
        pacs.stop()


def _upload(orthanc: Orthanc, slices) -> str:  # noqa: ANN001
    """The slices stored in Orthanc; returns Orthanc's study id."""
    studies = {orthanc.request("POST", "/instances", part10(ds))["ParentStudy"] for ds in slices}
    [study] = studies
    return study


def _point_at(orthanc: Orthanc, node) -> None:  # noqa: ANN001
    orthanc.request("PUT", "/modalities/aiscp", {"AET": NODE_AET, "Host": "127.0.0.1", "Port": node.port})


@pytest.mark.req("SRS-090", "SRS-093", "SRS-095")
@pytest.mark.dicom_tools
def test_orthanc_pushes_a_study_that_becomes_one_ready_series(orthanc, make_node) -> None:
    node = make_node(node_allowed_calling_aets=PACS_AET)
    _point_at(orthanc, node)
    slices = series_slices(series="orthanc-push", count=4)
    study = _upload(orthanc, slices)
    orthanc.request("POST", "/modalities/aiscp/echo", {})
    job = orthanc.request("POST", "/modalities/aiscp/store", {"Resources": [study], "Synchronous": True})
    assert (job["InstancesCount"], job["FailedInstancesCount"]) == (4, 0)
    [(_, last, _)] = node.spool.open_series()
    [ready] = node.assemble_once(now=last + node.idle_s)
    assert sorted(dataset_bytes(f) for f in ready.files()) == sorted(wire_bytes(ds) for ds in slices)
    accepted = [e for e in events("DICOM Association") if e["details"]["result"] == "accepted"]
    assert {e["details"]["calling_ae"] for e in accepted} == {PACS_AET}


@pytest.mark.req("SRS-094")
@pytest.mark.dicom_tools
def test_orthanc_sees_the_out_of_resources_refusal(orthanc, make_node) -> None:
    node = make_node(node_allowed_calling_aets=PACS_AET, node_min_free_mb=10**9)
    _point_at(orthanc, node)
    study = _upload(orthanc, series_slices(series="orthanc-full", count=2))
    with pytest.raises(urllib.error.HTTPError) as failure:  # Orthanc's synchronous push reports the failure
        orthanc.request("POST", "/modalities/aiscp/store", {"Resources": [study], "Synchronous": True})
    assert failure.value.code == 500
    assert node.spool.open_series() == []
    assert [e["details"]["status"] for e in events("DICOM Instances Transferred")] == ["0xA700"]
