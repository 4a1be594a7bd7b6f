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
    configure("http://pacs.example/dicom-web/studies")  # no credentials: http is fine
    assert load_settings().node_destinations[0].credentials is None
