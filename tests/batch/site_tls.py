"""A site's Dask TLS credentials for the batch tests (SRS-220): a CA, one certificate for the
scheduler and workers, one for the device's client; EC P-256 (fast), written owner-only into a
test's folder. ``other`` credentials come from another CA: an impostor or an unknown client."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class SiteCredentials:
    ca: Path
    node_cert: Path  # the scheduler's and the workers'
    node_key: Path
    client_cert: Path  # the device's
    client_key: Path

    def cluster_security(self):  # noqa: ANN201 - distributed.security.Security
        """The site cluster's side: mutual TLS required, its CA trusted."""
        from distributed.security import Security

        node = {"tls_scheduler_cert": str(self.node_cert), "tls_scheduler_key": str(self.node_key),
                "tls_worker_cert": str(self.node_cert), "tls_worker_key": str(self.node_key)}
        return Security(require_encryption=True, tls_ca_file=str(self.ca), tls_client_cert=str(self.node_cert),
                        tls_client_key=str(self.node_key), **node)

    def device_settings(self) -> dict[str, Path]:
        """The device's settings naming its client credentials and the site CA."""
        return {"batch_tls_ca_file": self.ca, "batch_tls_cert_file": self.client_cert,
                "batch_tls_key_file": self.client_key}

    def device_environment(self) -> dict[str, str]:
        return {f"DEVICE_AI_{name.upper()}": str(path) for name, path in self.device_settings().items()}


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _write(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def site_credentials(folder: Path, site: str = "site") -> SiteCredentials:
    """A fresh CA named after ``site`` and two leaf certificates it signed, under ``folder``."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name(f"{site} test CA")).issuer_name(_name(f"{site} test CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    def leaf(common_name: str) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name),
                                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    node_cert, node_key = leaf(f"{site}-dask-node")
    client_cert, client_key = leaf(f"{site}-device-client")
    return SiteCredentials(
        ca=_write(folder / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM)),
        node_cert=_write(folder / "node.pem", node_cert), node_key=_write(folder / "node.key", node_key),
        client_cert=_write(folder / "client.pem", client_cert), client_key=_write(folder / "client.key", client_key))
