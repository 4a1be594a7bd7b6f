"""The node's TLS trust anchor is read only when no other account could change it (SRS-233, THR-006;
review 142 note N1): whoever can rewrite node_tls_ca_file chooses which client certificates the node
accepts as the site's modalities and PACS. Each refusal has its control: the same file, owner-only,
loads and the CA it holds is the one the node trusts. Keys and certificates are made under tmp_path."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from device_ai.errors import ConfigError
from tests.node.test_tls import _certificate


def _pki(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "other-ca", ca=True)
    return folder


def _node(pki: Path, ca: Path) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=pki / "server.pem",
                                                    node_tls_key_file=pki / "server.key", node_tls_ca_file=ca))


def _trusted_subjects(context: ssl.SSLContext) -> list[str]:
    return [dict(part[0] for part in cert["subject"])["commonName"] for cert in context.get_ca_certs()]


@pytest.mark.req("SRS-233")
@pytest.mark.parametrize("mode", [0o664, 0o646, 0o620, 0o602])
def test_a_ca_file_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    ca = pki / "ca.pem"
    ca.chmod(mode)
    with pytest.raises(ConfigError, match=f"node_tls_ca_file {ca} is writable by other accounts .mode {mode:04o}"):
        tls_context(_node(pki, ca))
    ca.chmod(0o644)  # control: readable by all, writable by its owner only - a CA is no secret
    context = tls_context(_node(pki, ca))
    assert context.verify_mode == ssl.CERT_REQUIRED and _trusted_subjects(context) == ["ca"]


@pytest.mark.req("SRS-233")
def test_a_ca_file_owned_by_another_account_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    ca = pki / "ca.pem"
    if os.geteuid() == 0:
        os.chown(ca, 54321, -1)
    else:
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: ca.stat().st_uid + 1)
    with pytest.raises(ConfigError, match="node_tls_ca_file .* is owned by another account"):
        tls_context(_node(pki, ca))
    if os.geteuid() == 0:
        os.chown(ca, 0, -1)
    else:
        monkeypatch.undo()
    assert _trusted_subjects(tls_context(_node(pki, ca))) == ["ca"]  # control


@pytest.mark.req("SRS-233")
def test_the_ca_the_node_trusts_is_the_file_it_checked(tmp_path: Path) -> None:
    """The bytes checked are the bytes used: a DER file loads too, and the node trusts exactly its CA
    (control: another CA's file gives another trust anchor); a file that is not a certificate is a
    typed refusal naming the setting."""
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    der = pki / "ca.der"
    der.write_bytes(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    assert _trusted_subjects(tls_context(_node(pki, der))) == ["ca"]
    assert _trusted_subjects(tls_context(_node(pki, pki / "other-ca.pem"))) == ["other-ca"]
    junk = pki / "junk.pem"
    junk.write_bytes(b"not a certificate\n\xff")
    with pytest.raises(ConfigError, match="cannot load the node's TLS files") as caught:
        tls_context(_node(pki, junk))
    assert "node_tls_ca_file" in (caught.value.hint or "")
    missing = pki / "missing.pem"
    with pytest.raises(ConfigError, match="cannot load the node's TLS files"):
        tls_context(_node(pki, missing))
