"""Transport security of the result destinations (threats THR-010, THR-011, THR-014): C-STORE over
TLS to a Storage SCP whose certificate a test CA signed; a server certificate from another CA,
or one naming another host, refused with a typed error and the result not marked sent; STOW-RS
over plain http refused unless allowed; https with an untrusted certificate refused.

Certificates and keys are made here with ``cryptography`` under tmp_path (none is committed).
Every peer runs in this process on 127.0.0.1 on a free high port, with timeouts, and is stopped
at the end of its test."""

from __future__ import annotations

import contextlib
import datetime
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from device_ai.node import outbound as outbound_module
from tests.node.conftest import context, free_port, node_env, spool
from tests.node.test_destinations import _seg_file

INSTANCE = "2.25.4712"
REQ = "SRS-216"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (PEM): what the device's ca_bundle names
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _pki(folder: Path, name: str, server_host: str = "127.0.0.1") -> Pki:
    """A CA ``name`` and a server certificate for ``server_host`` (IP address SAN) and a client
    certificate, both signed by it; PEM files under ``folder``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def write_key(key, path: Path) -> Path:  # noqa: ANN001
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)  # a key others can read is refused (SRS-232)
        return path

    def write_cert(cert, path: Path) -> Path:  # noqa: ANN001
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Test CA {name} (fake)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(common_name: str, usage, san) -> tuple:  # noqa: ANN001
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    try:
        san = x509.IPAddress(ipaddress.ip_address(server_host))
    except ValueError:
        san = x509.DNSName(server_host)
    server, server_key = leaf(f"{server_host} (fake server)", ExtendedKeyUsageOID.SERVER_AUTH, san)
    client, client_key = leaf("DEVICEAI (fake client)", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return Pki(ca=write_cert(ca, folder / "ca.pem"), server_cert=write_cert(server, folder / "server.pem"),
               server_key=write_key(server_key, folder / "server.key"),
               client_cert=write_cert(client, folder / "client.pem"),
               client_key=write_key(client_key, folder / "client.key"))


def _server_context(pki: Pki, require_client_from: Pki | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    if require_client_from is not None:  # mutual TLS: the client's certificate must verify too
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(require_client_from.ca))
    return context


@contextlib.contextmanager
def _tls_storage_scp(server_context: ssl.SSLContext) -> Iterator[tuple[int, list[str]]]:
    """A pynetdicom Storage SCP (AE title DEST, SEG accepted, Success) over TLS."""
    from pynetdicom import AE, evt

    received: list[str] = []

    def on_store(event) -> int:  # noqa: ANN001
        received.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    ae = AE(ae_title="DEST")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_supported_context(outbound_module.SEG_STORAGE)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, ssl_context=server_context,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield port, received
    finally:
        server.shutdown()


def _dimse(port: int, host: str = "127.0.0.1"):  # noqa: ANN202 - Destination
    from device_ai.config import Destination

    return Destination(name="pacs", kind="dimse", ae_title="DEST", host=host, port=port, timeout_s=10)


def _security(**fields: object):  # noqa: ANN202 - TransportSecurity
    from device_ai.node.transport_security import TransportSecurity

    return TransportSecurity(**fields)


# --- C-STORE over TLS (THR-010, THR-011) ---

@pytest.mark.req(REQ)
def test_c_store_over_tls_reaches_a_server_the_ca_bundle_vouches_for(tmp_path: Path) -> None:
    """A Storage SCP with a certificate of the site's test CA receives the instance over TLS,
    also with mutual TLS (the SCP requires the device's client certificate). Control: the same
    SCP is not reachable by plain C-STORE (the TLS is real)."""
    from device_ai.node.outbound import SendFailed, send_dimse

    seg, pki = _seg_file(tmp_path), _pki(tmp_path / "site", "site")
    with _tls_storage_scp(_server_context(pki)) as (port, received):
        assert send_dimse(_dimse(port), seg, "DEVICEAI", _security(tls=True, ca_bundle=pki.ca)) \
            == "C-STORE status 0x0000"
        assert len(received) == 1
        with pytest.raises(SendFailed):
            send_dimse(_dimse(port), seg, "DEVICEAI")  # plain DICOM to a TLS port
        assert len(received) == 1
    with _tls_storage_scp(_server_context(pki, require_client_from=pki)) as (port, received):
        mutual = _security(tls=True, ca_bundle=pki.ca, client_certificate=pki.client_cert, client_key=pki.client_key)
        assert send_dimse(_dimse(port), seg, "DEVICEAI", mutual) == "C-STORE status 0x0000"
        with pytest.raises(SendFailed):  # control: without the client certificate the SCP refuses
            send_dimse(_dimse(port), seg, "DEVICEAI", _security(tls=True, ca_bundle=pki.ca))
        assert len(received) == 1


@pytest.mark.req(REQ)
def test_a_server_certificate_of_another_ca_or_host_is_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    """A host posing as the destination with a certificate from another CA, or a certificate of
    the right CA naming another host: CertificateRefused naming the verification failure, and the
    SCP never gets the C-STORE request."""
    from device_ai.node.outbound import CertificateRefused, send_dimse

    seg = _seg_file(tmp_path)
    site, impostor = _pki(tmp_path / "site", "site"), _pki(tmp_path / "impostor", "impostor")
    with _tls_storage_scp(_server_context(impostor)) as (port, received):
        with pytest.raises(CertificateRefused, match="TLS with DEST@127.0.0.1:[0-9]+ refused: .*certificate"):
            send_dimse(_dimse(port), seg, "DEVICEAI", _security(tls=True, ca_bundle=site.ca))
        assert received == []
    other_host = _pki(tmp_path / "other", "site-2", server_host="pacs.invalid")
    with _tls_storage_scp(_server_context(other_host)) as (port, received):
        with pytest.raises(CertificateRefused, match="IP address mismatch|hostname mismatch"):
            send_dimse(_dimse(port), seg, "DEVICEAI", _security(tls=True, ca_bundle=other_host.ca))
        assert received == []
        # the site switched the name check off for this destination: the CA still has to vouch
        assert send_dimse(_dimse(port), seg, "DEVICEAI",
                          _security(tls=True, ca_bundle=other_host.ca, check_hostname=False)) == "C-STORE status 0x0000"


@pytest.mark.req(REQ)
@pytest.mark.parametrize("from_config", [False, True], ids=["given", "configured"])
def test_through_the_queue_a_refused_certificate_is_a_failed_attempt_never_marked_sent(
        monkeypatch, tmp_path: Path, from_config: bool) -> None:  # noqa: ANN001
    """Through the outbound queue: the impostor's certificate leaves the entry pending with the
    reason (no sent/ entry); with the site's CA and SCP the same queue sends it (control). "configured":
    the destination's ``transport`` block of the node configuration, as a site sets it."""
    from device_ai.node.outbound import Outbound, ResultFile

    seg = _seg_file(tmp_path)
    site, impostor = _pki(tmp_path / "site", "site"), _pki(tmp_path / "impostor", "impostor")
    security = {"pacs": _security(tls=True, ca_bundle=site.ca)}
    for pki, stored in ((impostor, 0), (site, 1)):
        with _tls_storage_scp(_server_context(pki)) as (port, received):
            configured = {"transport": {"tls": True, "ca_bundle": str(site.ca)}} if from_config else {}
            node_env(monkeypatch, node_destinations=json.dumps([{
                "name": "pacs", "kind": "dimse", "ae_title": "DEST", "host": "127.0.0.1", "port": port,
                "timeout_s": 10, **configured}]), node_send_max_attempts=5)
            queue = (Outbound(spool(), context().settings) if from_config
                     else Outbound(spool(), context().settings, transport=security))
            result = spool() / "work" / "k" / "segmentation.dcm"
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_bytes(seg.read_bytes())
            queue.enqueue("k.gen-0001", study="s", series="x", generation=1,
                          files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, INSTANCE)])
            due = time.time() + 3600 if stored else None  # the retry: past the first failure's backoff
            assert queue.send_due(now=due) == stored
            assert len(received) == stored
        sent = list((spool() / "outbound" / "sent" / "pacs").glob("*.json"))
        pending = [json.loads(p.read_text()) for p in (spool() / "outbound" / "pending" / "pacs").glob("*.json")]
        if not stored:
            assert sent == []
            assert "certificate" in pending[0]["last_error"] and "internal error" not in pending[0]["last_error"]
        else:
            assert len(sent) == 1 and pending == []


@pytest.mark.req(REQ)
def test_transport_settings_that_cannot_be_loaded_are_a_typed_refusal(tmp_path: Path) -> None:
    """A CA bundle that is not PEM and a client certificate without its key: typed errors naming
    the setting, never a send with verification off."""
    from pydantic import ValidationError

    from device_ai.node.outbound import InsecureTransportRefused, send_dimse

    bad = tmp_path / "not-a-bundle.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InsecureTransportRefused, match="cannot read the CA bundle .*not-a-bundle.pem"):
        send_dimse(_dimse(free_port()), _seg_file(tmp_path), "DEVICEAI", _security(tls=True, ca_bundle=bad))
    with pytest.raises(ValidationError, match="client_certificate and client_key go together"):
        _security(tls=True, client_certificate=bad)


# --- STOW-RS (THR-014) ---

@contextlib.contextmanager
def _stow_server(server_context: ssl.SSLContext | None) -> Iterator[tuple[str, list[int]]]:
    """A STOW-RS server on 127.0.0.1 (https with ``server_context``, else http) that stores
    INSTANCE; yields its base URL and the sizes of the bodies it received."""
    received: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(len(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"00081199": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": [INSTANCE]}}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.timeout = 5
    if server_context is not None:
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if server_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/dicom-web/studies", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _stow(url: str):  # noqa: ANN202 - Destination
    from device_ai.config import Destination

    return Destination(name="web", kind="stow", url=url, timeout_s=5)


@pytest.mark.req(REQ)
def test_plain_http_stow_is_refused_unless_the_destination_allows_it(tmp_path: Path) -> None:
    """With transport security configured, an http:// URL is refused before anything is sent;
    with allow_insecure_http the same server stores the instance (control)."""
    from device_ai.node.outbound import InsecureTransportRefused, send_stow

    seg = _seg_file(tmp_path)
    with _stow_server(None) as (url, received):
        with pytest.raises(InsecureTransportRefused, match="plain http .* allow_insecure_http: true"):
            send_stow(_stow(url), seg, INSTANCE, _security())
        assert received == []
        assert send_stow(_stow(url), seg, INSTANCE, _security(allow_insecure_http=True)).startswith("STOW-RS HTTP 200")
        assert len(received) == 1


@pytest.mark.req(REQ)
def test_https_stow_verifies_the_server_certificate(tmp_path: Path) -> None:
    """https to a server whose certificate another CA signed: CertificateRefused, nothing received
    (also with the system trust store: no CA bundle); with the server's own CA as the bundle the
    instance is stored (control)."""
    from device_ai.node.outbound import CertificateRefused, send_stow

    seg = _seg_file(tmp_path)
    site, impostor = _pki(tmp_path / "site", "site"), _pki(tmp_path / "impostor", "impostor")
    with _stow_server(_server_context(impostor)) as (url, received):
        for security in (_security(ca_bundle=site.ca), _security(), None):
            with pytest.raises(CertificateRefused, match="certificate"):
                send_stow(_stow(url), seg, INSTANCE, security)
        assert received == []
        assert send_stow(_stow(url), seg, INSTANCE, _security(ca_bundle=impostor.ca)).startswith("STOW-RS HTTP 200")
        assert len(received) == 1
