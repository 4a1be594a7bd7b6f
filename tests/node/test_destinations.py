"""Destinations of the outbound queue (issue 15 review findings F1, F6a, F4): a STOW-RS URL's
credentials never leave the configuration (audit log, queue files, dead letters, `device-ai
status`, `config show`) and are sent as HTTP Basic authentication; a C-STORE destination that
refuses the SEG presentation context or answers a failure status is a typed failed attempt.

Every peer is in this process on 127.0.0.1 (http.server, pynetdicom), on a free high port, with
timeouts, and is stopped at the end of its test."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from device_ai.node import outbound as outbound_module
from tests.node.conftest import context, free_port, home, node_env, spool
from tests.node.pipeline_peers import tiny_model  # noqa: F401 - fixture

USER, PASSWORD = "site-user", "S3cretPassw0rd"
INSTANCE = "2.25.4711"


def _files_holding(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``secret`` (also percent- or base64-encoded)."""
    needles = [secret.encode(), base64.b64encode(f"{USER}:{secret}".encode())]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def _queue(monkeypatch: pytest.MonkeyPatch, url: str, **destination: object):  # noqa: ANN202
    """An Outbound with one stow destination ``web`` writing to the device's audit log, one
    result queued; returns (queue, audit log)."""
    from device_ai.node.outbound import Outbound, ResultFile
    from device_ai.node.trail import NodeTrail

    node_env(monkeypatch, node_destinations=json.dumps([{"name": "web", "kind": "stow", "url": url, "timeout_s": 5,
                                                          "allow_plaintext_credentials": True, **destination}]),
             node_send_max_attempts=2, node_send_retry_base_s=0.01)
    ctx = context()
    log = ctx.open_audit_log()
    queue = Outbound(spool(), ctx.settings, NodeTrail(log))
    result = spool() / "work" / "k" / "segmentation.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"DICM-bytes-of-a-result")
    assert queue.enqueue("k.gen-0001", study="study-x", series="series-x", generation=1,
                         files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, INSTANCE)]) == 1
    return queue, log


def _shown(capsys: pytest.CaptureFixture) -> str:
    """What `device-ai status` and `device-ai config show` print."""
    from device_ai.cli import main

    capsys.readouterr()
    assert main(["status"]) == 0
    assert main(["config", "show"]) == 0
    return capsys.readouterr().out


@contextlib.contextmanager
def _stow_server(user: str, password: str) -> Iterator[tuple[int, list[dict]]]:
    """A tiny DICOMweb STOW-RS server requiring HTTP Basic authentication: 401 without the right
    Authorization header, else the Store Instances Response listing INSTANCE as stored."""
    seen: list[dict] = []
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="dicom-web"')
                self.end_headers()
                return
            body = json.dumps({"00081199": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": [INSTANCE]}}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.req("SRS-126", "SRS-131", "SRS-132")
def test_a_stow_url_s_password_reaches_no_file_and_no_output_when_sends_fail(monkeypatch, capsys) -> None:  # noqa: ANN001
    """A destination URL with user name and password on a closed port: two failed attempts, a
    dead letter, audit entries; the password is in no file under DEVICE_AI_HOME and not in
    `device-ai status` or `config show`, while the failure and the address are."""
    port = free_port()
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/dicom-web/studies?access_token=T0kenSecret"
    queue, log = _queue(monkeypatch, url)
    try:
        now = time.time()
        queue.send_due(now=now)
        queue.send_due(now=now + 60)
    finally:
        log.close()
    [dead] = [json.loads(p.read_text()) for p in (spool() / "outbound" / "dead" / "web").glob("*.json")]
    assert dead["attempts"] == 2 and "cannot reach" in dead["last_error"]
    assert f"http://127.0.0.1:{port}/dicom-web/studies?access_token=********" in dead["last_error"]  # the address is there, for the operator
    assert _files_holding(home(), PASSWORD) == []
    assert _files_holding(home(), "T0kenSecret") == []
    assert b"site-user" not in (home() / "audit" / "audit.log").read_bytes()
    shown = _shown(capsys)
    assert "dead letters: web" in shown and "cannot reach" in shown
    assert PASSWORD not in shown and USER not in shown and "T0kenSecret" not in shown
    assert "********@127.0.0.1" in shown and "access_token=********" in shown  # config show: credentials set
    # negative control: the checks catch the password where it was before the fix
    planted = home() / "node" / "outbound" / "dead" / "web" / "planted.json"
    planted.write_text(json.dumps({"last_error": f"cannot reach {url}: refused"}))
    assert _files_holding(home(), PASSWORD) == [str(planted.relative_to(home()))]
    planted.unlink()


@pytest.mark.req("SRS-126", "SRS-132")
def test_a_stow_url_s_credentials_are_sent_as_basic_authentication(monkeypatch, capsys) -> None:  # noqa: ANN001
    """Against a server that requires Basic authentication, the result is stored; the request
    path carries no credentials, and the password is written nowhere. With a wrong password the
    attempt fails with the 401 and a hint (negative control: the server does refuse)."""
    with _stow_server(USER, PASSWORD) as (port, seen):
        queue, log = _queue(monkeypatch, f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/dicom-web/studies")
        try:
            assert queue.send_due() == 1
        finally:
            log.close()
        assert [s["path"] for s in seen] == ["/dicom-web/studies"]
        [sent] = [json.loads(p.read_text()) for p in (spool() / "outbound" / "sent" / "web").glob("*.json")]
        assert "stored-instances list" in sent["response"]
        assert _files_holding(home(), PASSWORD) == []
        assert PASSWORD not in _shown(capsys)

        # negative control: a wrong password is refused by this server, and said so
        monkeypatch.setenv("DEVICE_AI_HOME", str(home().parent / "other-home"))
        queue, log = _queue(monkeypatch, f"http://{USER}:wrong@127.0.0.1:{port}/dicom-web/studies")
        try:
            assert queue.send_due() == 0
        finally:
            log.close()
        [pending] = [json.loads(p.read_text()) for p in (spool() / "outbound" / "pending" / "web").glob("*.json")]
        assert "HTTP 401" in pending["last_error"] and "authentication refused" in pending["last_error"]


@pytest.mark.req("SRS-126")
def test_credentials_over_plain_http_are_refused_unless_allowed(monkeypatch) -> None:  # noqa: ANN001
    """A password would cross the network readable: DAI-100 naming the destination (without the
    password); https, or the explicit setting, is accepted."""
    from device_ai.config import load_settings
    from device_ai.errors import ConfigError

    def configure(url: str, **extra: object) -> None:
        monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS",
                           json.dumps([{"name": "web", "kind": "stow", "url": url, **extra}]))

    configure(f"http://{USER}:{PASSWORD}@pacs.example/dicom-web/studies")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.code == "DAI-100" and "destination web" in str(refused.value)
    assert "plain http" in str(refused.value) and PASSWORD not in str(refused.value)
    configure(f"https://{USER}:{PASSWORD}@pacs.example/dicom-web/studies")
    [https] = load_settings().node_destinations
    assert https.credentials == (USER, PASSWORD) and https.request_url == "https://pacs.example/dicom-web/studies"
    assert PASSWORD not in repr(https)
    configure(f"http://{USER}:{PASSWORD}@127.0.0.1/dicom-web/studies", allow_plaintext_credentials=True)
    assert load_settings().node_destinations[0].credentials == (USER, PASSWORD)
    # no credentials: http needs no allow_plaintext_credentials (to a network host, a stated reason: SRS-226)
    configure("http://pacs.example/dicom-web/studies", cleartext_reason="test network, isolated, no route out")
    assert load_settings().node_destinations[0].credentials is None


@contextlib.contextmanager
def _storage_scp(status: int, contexts: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """A pynetdicom Storage SCP (AE title DEST) supporting only ``contexts`` whose C-STORE
    handler answers ``status``; yields its port and the SOP Instance UIDs it was sent."""
    from pynetdicom import AE, evt

    received: list[str] = []

    def on_store(event) -> int:  # noqa: ANN001
        received.append(str(event.request.AffectedSOPInstanceUID))
        return status

    ae = AE(ae_title="DEST")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for sop_class in contexts:
        ae.add_supported_context(sop_class)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, received
    finally:
        server.shutdown()


def _seg_file(tmp_path: Path) -> Path:
    """A Part 10 file with the SEG SOP class (the transport does not look further)."""
    from pydicom.dataset import FileMetaDataset

    from tests.node.conftest import series_slices

    ds = series_slices("seg-transport", 1, rows=16)[0]
    ds.SOPClassUID = outbound_module.SEG_STORAGE
    ds.file_meta = FileMetaDataset(ds.file_meta) if hasattr(ds, "file_meta") else FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = outbound_module.SEG_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    path = tmp_path / "segmentation.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _dimse(port: int):  # noqa: ANN202 - Destination
    from device_ai.config import Destination

    return Destination(name="pacs", kind="dimse", ae_title="DEST", host="127.0.0.1", port=port, timeout_s=10)


@pytest.mark.req("SRS-125")
def test_a_destination_without_the_seg_context_is_a_typed_failed_attempt(tmp_path: Path) -> None:
    """An SCP accepting Comprehensive 3D SR but not Segmentation Storage: SendFailed with a
    reason naming the refused context (before: a ValueError escaped send_dimse, logged as an
    internal error with a traceback); nothing sent. Positive control: with SEG supported, stored."""
    from device_ai.node.outbound import SendFailed, send_dimse

    seg = _seg_file(tmp_path)
    with _storage_scp(0x0000, (outbound_module.COMPREHENSIVE_3D_SR_STORAGE,)) as (port, received):
        with pytest.raises(SendFailed, match="refused the Segmentation Storage presentation context"):
            send_dimse(_dimse(port), seg, "DEVICEAI")
        assert received == []
    with _storage_scp(0x0000, ("1.2.840.10008.5.1.4.1.1.2",)) as (port, received):  # CT only: nothing accepted
        with pytest.raises(SendFailed, match="refused every proposed presentation context .Comprehensive 3D SR "
                                             "Storage, Segmentation Storage."):
            send_dimse(_dimse(port), seg, "DEVICEAI")
    with _storage_scp(0x0000, (outbound_module.SEG_STORAGE,)) as (port, received):
        assert send_dimse(_dimse(port), seg, "DEVICEAI") == "C-STORE status 0x0000"
        assert len(received) == 1


@pytest.mark.req("SRS-125")
def test_the_queue_counts_the_refused_context_as_a_failure_without_an_internal_error(
        monkeypatch, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    """Through the queue: the reason is kept in the entry, and no 'internal error' or traceback
    is logged."""
    from device_ai.node.outbound import Outbound, ResultFile

    seg = _seg_file(tmp_path)
    with _storage_scp(0x0000, (outbound_module.COMPREHENSIVE_3D_SR_STORAGE,)) as (port, _received):
        node_env(monkeypatch, node_destinations=json.dumps([{"name": "pacs", "kind": "dimse", "ae_title": "DEST",
                                                              "host": "127.0.0.1", "port": port, "timeout_s": 10}]))
        queue = Outbound(spool(), context().settings)
        result = spool() / "work" / "k" / "segmentation.dcm"
        result.parent.mkdir(parents=True)
        result.write_bytes(seg.read_bytes())
        queue.enqueue("k.gen-0001", study="s", series="x", generation=1,
                      files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, "2.25.1")])
        assert queue.send_due() == 0
    [entry] = [json.loads(p.read_text()) for p in (spool() / "outbound" / "pending" / "pacs").glob("*.json")]
    assert "refused the Segmentation Storage presentation context" in entry["last_error"]
    assert "internal error" not in entry["last_error"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.req("SRS-125")
@pytest.mark.parametrize(("status", "stored"), [
    (0x0000, True), (0xB000, True), (0xB006, True), (0xB007, True),  # Success; Warning: stored (PS3.4 B.2.3)
    (0x0001, False), (0xA700, False), (0xA7FF, False), (0xA900, False), (0xC000, False), (0xC123, False)])
def test_only_success_and_the_storage_warnings_count_as_stored(tmp_path: Path, status: int, stored: bool) -> None:
    """A destination answering each status: Success and the Storage Warnings 0xB000, 0xB006,
    0xB007 (the SCP stored the instance) count as stored, every other status (failures 0xA7xx,
    0xA900, 0xCxxx, an unknown warning 0x0001) is a failed attempt naming the status."""
    from device_ai.node.outbound import SendFailed, send_dimse

    seg = _seg_file(tmp_path)
    with _storage_scp(status, (outbound_module.SEG_STORAGE,)) as (port, received):
        if stored:
            assert send_dimse(_dimse(port), seg, "DEVICEAI") == f"C-STORE status 0x{status:04X}"
        else:
            with pytest.raises(SendFailed, match=f"C-STORE status 0x{status:04X}"):
                send_dimse(_dimse(port), seg, "DEVICEAI")
        assert len(received) == 1  # the SCP did get the request: the status decides


@pytest.mark.req("SRS-125")
def test_results_made_without_a_destination_are_sent_after_a_restart_with_one(monkeypatch, tmp_path: Path,
                                                                               tiny_model) -> None:  # noqa: ANN001
    """serve without node_destinations warns at start and keeps the results in its work folder;
    started again with a (folder) destination, it queues and delivers them once; a destination
    added after that does not get them (adding a destination sends from then on)."""
    from device_ai.node.server import NodeServer, serve_until
    from device_ai.node.worker import Worker
    from tests.node.conftest import series_slices, store_all, wait_for

    node_env(monkeypatch, node_series_idle_s=0.3)
    said: list[str] = []
    stop = threading.Event()
    stop.set()  # serve_until announces, then stops at once
    assert serve_until(context(), stop, announce=lambda text, **_: said.append(text)) == 0
    assert any("warning: no destination configured" in line and "work" in line for line in said), said

    node = NodeServer(context(), pipeline=True)
    port = node.start()[1]
    try:
        assert store_all(port, series_slices("no-destination", 3, rows=256)) == [0, 0, 0]
        done = wait_for(lambda: list((spool() / "work").glob("*/done.json")), timeout=60, step=0.2)
    finally:
        node.stop()
    assert json.loads(done[0].read_text())["destinations"] == []
    assert not (spool() / "outbound" / "pending").exists() or not list((spool() / "outbound").rglob("*.json"))

    out = tmp_path / "share"
    out.mkdir()
    node_env(monkeypatch, node_series_idle_s=0.3,
             node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(out)}]))

    # killed after the first of the two entries was made (re-review F4-b): the next start must
    # still queue the second one, though an entry of the generation exists
    from device_ai.node.outbound import Outbound

    class Killed(BaseException):
        pass

    real_create = outbound_module._create_once
    made: list[Path] = []

    def create_then_die(path: Path, data: bytes) -> bool:
        if made:
            raise Killed
        made.append(path)
        return real_create(path, data)

    monkeypatch.setattr(outbound_module, "_create_once", create_then_die)
    with pytest.raises(Killed):
        Worker(context(), spool(), Outbound(spool(), context().settings)).queue_never_queued()
    monkeypatch.setattr(outbound_module, "_create_once", real_create)
    assert len(list((spool() / "outbound" / "pending" / "share").glob("*.json"))) == 1

    said.clear()
    assert serve_until(context(), stop, announce=lambda text, **_: said.append(text)) == 0  # queues, then stops
    assert not any("warning" in line for line in said)
    node = NodeServer(context(), pipeline=True)
    node.start()
    try:
        delivered = wait_for(lambda: sorted(p.name for p in out.rglob("*.dcm")) or None, timeout=30, step=0.2)
    finally:
        node.stop()
    assert delivered == ["measurements.dcm", "segmentation.dcm"]

    node_env(monkeypatch, node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(out)},
                                                         {"name": "later", "kind": "folder", "path": str(out)}]))
    settings = context().settings
    assert Worker(context(), spool(), Outbound(spool(), settings)).queue_never_queued() == []
    assert not list((spool() / "outbound" / "pending" / "later").glob("*.json"))


@pytest.mark.req("SRS-126", "SRS-132")
@pytest.mark.parametrize("password", ["S3cret/Passw0rd", "1234/x", "pa?ss", "pa#ss"])
def test_a_password_with_an_unencoded_delimiter_is_refused_and_never_shown(monkeypatch, password: str) -> None:  # noqa: ANN001
    """'user:S3cret/Passw0rd@host' splits at the '/': the host part is 'user:S3cret' (port 'S3cret'),
    the password lands in the path, and it was neither sent as credentials nor hidden (independent
    re-review F1-b). Refused at configuration, without echoing it; the encoded form is accepted."""
    from urllib.parse import quote

    from device_ai.config import display_url, load_settings
    from device_ai.errors import ConfigError

    url = f"https://{USER}:{password}@pacs.example/dicom-web/studies"
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{"name": "web", "kind": "stow", "url": url}]))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "percent-encoded" in str(refused.value) and password not in str(refused.value)
    assert password not in display_url(url)
    encoded = f"https://{USER}:{quote(password, safe='')}@pacs.example/dicom-web/studies"  # control
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{"name": "web", "kind": "stow", "url": encoded}]))
    [destination] = load_settings().node_destinations
    assert destination.credentials == (USER, password) and password not in destination.address()


@pytest.mark.req("SRS-126")
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_basic_credentials_never_follow_a_redirect_to_another_server(monkeypatch, status: int) -> None:  # noqa: ANN001
    """A destination that redirects (misconfigured, or hostile) never receives the Authorization
    header at the redirect target, and a redirect is never counted as stored."""
    elsewhere: list[dict] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def _record(self) -> None:
            elsewhere.append({"auth": self.headers.get("Authorization"), "path": self.path})
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST = _record  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            pass

    target = ThreadingHTTPServer(("127.0.0.1", free_port()), Elsewhere)
    target_port = target.server_address[1]

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Location", f"http://127.0.0.1:{target_port}/collect")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    source = ThreadingHTTPServer(("127.0.0.1", free_port()), Redirect)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (target, source)]
    for thread in threads:
        thread.start()
    try:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{source.server_address[1]}/dicom-web/studies"
        queue, log = _queue(monkeypatch, url, allow_plaintext_credentials=True)
        try:
            assert queue.send_due() == 0, "a redirect was counted as stored"
        finally:
            log.close()
    finally:
        for server in (source, target):
            server.shutdown()
            server.server_close()
    if status in (301, 302, 303):  # followed (as a GET): the target was reached, without the header
        assert elsewhere, "the redirect was not followed: this case would show nothing"
    assert all(request["auth"] is None for request in elsewhere), elsewhere
