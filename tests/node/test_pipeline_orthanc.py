"""Orthanc as the PACS end to end (issue 15 Done-when): Orthanc pushes a synthetic CT study to
the node (REST /modalities/{id}/store), the node analyses it and sends the SEG and SR back, by
C-STORE and, in a second test, by STOW-RS to Orthanc's DICOMweb plugin; QIDO-RS then finds both
in the study, they pass dciodvfy and their references resolve to the pushed instances. Plus the
STOW-RS response check against a local HTTP server (the stored-instances list decides, not the
HTTP status). Model: the tiny signed test package (tests/package_factory.py)."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
import pytest

from conftest import dciodvfy_errors
from device_ai.config import Destination
from device_ai.node.outbound import SendFailed, send_stow
from tests.dicom.synthetic import part10
from tests.node.conftest import NODE_AET, TIMEOUT, context, free_port, node_env, series_slices, wait_for
from tests.node.pipeline_peers import destinations, referenced_sources, sr_evidence, tiny_model  # noqa: F401
from tests.node.test_orthanc import PACS_AET, Orthanc, orthanc_binary

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ROWS = 256


class DicomWebOrthanc(Orthanc):
    """Orthanc with the DICOMweb plugin (same start and stop as tests/node/test_orthanc.py)."""

    def __init__(self, folder: Path) -> None:  # noqa: D107 - the parent's, with the plugin configured
        self.http, self.dicom = free_port(), free_port()
        config = {"Name": "TEST-PACS", "DicomAet": PACS_AET, "DicomPort": self.dicom, "HttpPort": self.http,
                  "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
                  "DicomAlwaysAllowStore": True, "DicomModalities": {}, "SaveJobs": False, "StableAge": 60,
                  "DicomScuTimeout": 10, "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.out", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([orthanc_binary(), f"--logdir={folder}", str(folder / "orthanc.json")],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=30, step=0.1)

    def _up(self) -> bool:
        assert self.process.poll() is None, "Orthanc exited at start"
        try:
            self.request("GET", "/system")
            return True
        except OSError:
            return False

    def qido(self, path: str) -> list[dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}/dicom-web{path}",
                                         headers={"Accept": "application/dicom+json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"[]")

    def instance_file(self, sop_instance_uid: str) -> bytes:
        [found] = self.request("POST", "/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}})
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}/instances/{found}/file")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read()


@pytest.fixture
def pacs(tmp_path: Path):  # noqa: ANN201
    if not PLUGIN.is_file():
        pytest.skip("orthanc-dicomweb not installed")
    orthanc = DicomWebOrthanc(tmp_path)
    try:
        yield orthanc
    finally:
        orthanc.stop()


@pytest.fixture
def pipeline_node(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    from device_ai.node.server import NodeServer

    started = []

    def make(**settings: object):  # noqa: ANN202
        node_env(monkeypatch, **{"node_series_idle_s": 0.3, "node_allowed_calling_aets": PACS_AET, **settings})
        server = NodeServer(context(), pipeline=True)
        server.port = server.start()[1]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def _results_in_orthanc(pacs: DicomWebOrthanc, study_uid: str, slices, dciodvfy: str, tmp_path: Path) -> None:  # noqa: ANN001
    def found() -> dict | None:
        modalities = {s["00080060"]["Value"][0]: s["0020000E"]["Value"][0]
                      for s in pacs.qido(f"/studies/{study_uid}/series")}
        return modalities if {"SEG", "SR"} <= set(modalities) else None

    series = wait_for(found, timeout=90, step=0.3)
    objects = {}
    for modality in ("SEG", "SR"):
        [instance] = pacs.qido(f"/studies/{study_uid}/series/{series[modality]}/instances")
        uid = instance["00080018"]["Value"][0]
        path = tmp_path / f"{modality}.dcm"
        path.write_bytes(pacs.instance_file(uid))
        assert dciodvfy_errors(dciodvfy, path) == [], modality
        objects[modality] = pydicom.dcmread(path)
    sent = {ds.SOPInstanceUID for ds in slices}
    assert referenced_sources(objects["SEG"]) == sent
    assert sent | {objects["SEG"].SOPInstanceUID} <= sr_evidence(objects["SR"])


def _push(pacs: DicomWebOrthanc, node, slices) -> str:  # noqa: ANN001
    studies = {pacs.request("POST", "/instances", part10(ds))["ParentStudy"] for ds in slices}
    [study] = studies
    pacs.request("PUT", "/modalities/aiscp", {"AET": NODE_AET, "Host": "127.0.0.1", "Port": node.port})
    job = pacs.request("POST", "/modalities/aiscp/store", {"Resources": [study], "Synchronous": True})
    assert (job["InstancesCount"], job["FailedInstancesCount"]) == (len(slices), 0)
    return study


@pytest.mark.dicom_tools
@pytest.mark.req("SRS-124", "SRS-125")
def test_orthanc_pushes_a_study_and_receives_its_seg_and_sr_by_c_store(pacs, pipeline_node, tiny_model, dciodvfy,
                                                                       tmp_path: Path) -> None:  # noqa: ANN001
    dest = {"name": "pacs", "kind": "dimse", "ae_title": PACS_AET, "host": "127.0.0.1", "port": pacs.dicom}
    node = pipeline_node(node_destinations=destinations(dest))
    slices = series_slices(series="orthanc-dimse", count=3, rows=ROWS)
    _push(pacs, node, slices)
    _results_in_orthanc(pacs, slices[0].StudyInstanceUID, slices, dciodvfy, tmp_path)


@pytest.mark.dicom_tools
@pytest.mark.req("SRS-124", "SRS-126")
def test_orthanc_pushes_a_study_and_receives_its_seg_and_sr_by_stow_rs(pacs, pipeline_node, tiny_model, dciodvfy,
                                                                       tmp_path: Path) -> None:  # noqa: ANN001
    dest = {"name": "web", "kind": "stow", "url": f"http://127.0.0.1:{pacs.http}/dicom-web/studies"}
    node = pipeline_node(node_destinations=destinations(dest))
    slices = series_slices(series="orthanc-stow", count=3, rows=ROWS)
    _push(pacs, node, slices)
    _results_in_orthanc(pacs, slices[0].StudyInstanceUID, slices, dciodvfy, tmp_path)
    sent = sorted((Path(node.spool.root) / "outbound" / "sent" / "web").glob("*.json"))
    assert len(sent) == 2 and all("stored-instances list" in json.loads(p.read_text())["response"] for p in sent)


class _Stow(BaseHTTPRequestHandler):
    answer: tuple[int, dict] = (200, {})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        code, body = self.answer
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def _listed(uid: str, tag: str = "00081199") -> dict:
    return {tag: {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [uid]},
                                         "00081197": {"vr": "US", "Value": [0xA700]}}]}}


@pytest.mark.req("SRS-126")
@pytest.mark.parametrize(("code", "body", "stored"), [
    (200, "listed", True),
    (200, "empty", False),  # negative control: an HTTP 200 alone is not a stored instance
    (400, "listed", True),  # Orthanc's partial failure: HTTP 400, yet the instance is stored
    (409, "failed", False),
])
def test_stow_counts_what_the_response_lists_not_the_http_status(tmp_path: Path, code: int, body: str,
                                                                 stored: bool) -> None:
    uid = "2.25.1234"
    path = tmp_path / "x.dcm"
    path.write_bytes(b"\0" * 132)
    _Stow.answer = (code, {"listed": _listed(uid), "empty": {}, "failed": _listed(uid, "00081198")}[body])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dest = Destination(name="web", kind="stow", url=f"http://127.0.0.1:{server.server_address[1]}/studies",
                           timeout_s=5)
        if stored:
            assert "stored-instances list" in send_stow(dest, path, uid)
        else:
            with pytest.raises(SendFailed) as failure:
                send_stow(dest, path, uid)
            assert f"HTTP {code}" in str(failure.value)
            if body == "failed":
                assert "0xa700" in str(failure.value)
    finally:
        server.shutdown()
        server.server_close()
