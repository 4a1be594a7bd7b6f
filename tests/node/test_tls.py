"""Optional TLS on the node's port, mutual when a CA is configured (issue 15 item 1). Test
certificates are made here with `cryptography` (a throw-away CA, a server and a client)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_ai.errors import ConfigError
from tests.node.conftest import associate, context, events, node_env, series_slices


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(folder: Path, name: str, issuer=None, *, ca: bool = False):  # noqa: ANN001, ANN202
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer_key, signer_name = (issuer[0], issuer[1].subject) if issuer else (key, _name(name))
    builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(signer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    certificate = builder.sign(signer_key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    (folder / f"{name}.key").chmod(0o600)
    return key, certificate


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca = _certificate(tmp_path, "ca", ca=True)
    _certificate(tmp_path, "server", ca)
    _certificate(tmp_path, "client", ca)
    return tmp_path


def _client(pki: Path, *, certificate: bool) -> ssl.SSLContext:
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    if certificate:
        client.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return client


@pytest.mark.req("SRS-099")
def test_mutual_tls_only(make_node, pki) -> None:
    node = make_node(node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "server.key",
                     node_tls_ca_file=pki / "ca.pem")
    assoc = associate(node.port, tls_args=(_client(pki, certificate=True), "127.0.0.1"))
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0x0000
        assert assoc.send_c_store(series_slices(count=1)[0]).Status == 0x0000
    finally:
        assoc.release()
    assert not associate(node.port).is_established  # plain DICOM on the TLS port
    assert not associate(node.port, tls_args=(_client(pki, certificate=False), "127.0.0.1")).is_established
    accepted = [e for e in events("DICOM Association") if e["details"]["result"] == "accepted"]
    assert [e["details"]["tls"] for e in accepted] == ["yes"]


@pytest.mark.req("SRS-099")
def test_unreadable_or_half_tls_configuration_is_refused_at_start(monkeypatch, pki) -> None:
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_tls_cert_file=pki / "server.pem")
    with pytest.raises(ConfigError, match="both"):
        NodeServer(context())
    node_env(monkeypatch, node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "missing.key")
    with pytest.raises(ConfigError, match="cannot read node_tls_key_file .*missing.key"):  # checked first (SRS-232)
        NodeServer(context())
    node_env(monkeypatch, node_tls_cert_file=pki / "missing.pem", node_tls_key_file=pki / "server.key")
    with pytest.raises(ConfigError, match="TLS files"):
        NodeServer(context())


@pytest.mark.req("SRS-099")
def test_without_a_ca_file_tls_is_required_but_no_client_certificate(make_node, pki) -> None:
    node = make_node(node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "server.key")
    assoc = associate(node.port, tls_args=(_client(pki, certificate=False), "127.0.0.1"))
    assert assoc.is_established  # no CA file: the peer is not asked for a certificate
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
    assert not associate(node.port).is_established  # still TLS only


@pytest.mark.req("SRS-099")
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1_1", "TLSv1_2 (control)"])
def test_tls_below_1_2_is_refused(make_node, pki, version) -> None:  # noqa: ANN001
    node = make_node(node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "server.key")
    assert node.ssl_context.minimum_version >= ssl.TLSVersion.TLSv1_2
    client = _client(pki, certificate=False)
    client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    client.maximum_version = getattr(ssl.TLSVersion, version.split()[0])
    if version.startswith("TLSv1_1"):
        client.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that only the node's floor can refuse it (checked:
        # this client completes a TLS 1.1 handshake with a server whose floor is lower)
    assoc = associate(node.port, tls_args=(client, "127.0.0.1"))
    established = assoc.is_established
    if established:
        assoc.release()
    assert established == (version != "TLSv1_1")

