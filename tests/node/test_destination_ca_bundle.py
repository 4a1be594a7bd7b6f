"""A destination's CA bundle (``transport.ca_bundle``) is read only when no other account could
change it (SRS-234): whoever could rewrite it would choose which server receives the results. The
check is made when the node starts and on every send, on the opened file, and the bytes checked are
the bytes loaded. Each refusal has its control (the same bundle at 0644 loads). Certificates are made
by the test PKI helpers under tmp_path (none is committed)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from device_ai.errors import ConfigError
from tests.node.test_tls_ca_file import _pki as _ca_file_pki
from tests.node.test_tls_ca_file import _trusted_subjects as _subjects


def _pki(folder: Path) -> Path:
    """The CA-file tests' PKI (ca, server, other-ca), ca.pem at 0644 whatever the umask."""
    pki = _ca_file_pki(folder)
    (pki / "ca.pem").chmod(0o644)
    return pki


def _destination(bundle: Path):  # noqa: ANN202 - (Destination, TransportSecurity)
    from device_ai.config import Destination, TransportSecurity

    security = TransportSecurity(tls=True, ca_bundle=bundle)
    return Destination(name="pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=104,
                       transport=security), security


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("mode", [0o664, 0o646, 0o620, 0o602])
def test_a_bundle_others_could_change_is_refused_at_start_and_at_send(tmp_path: Path, mode: int) -> None:
    from device_ai.node.transport_security import TransportSecurityError, check_transport_files, client_context

    pki = _pki(tmp_path)
    destination, security = _destination(pki / "ca.pem")
    (pki / "ca.pem").chmod(mode)
    with pytest.raises(ConfigError, match=f"destination pacs: transport.ca_bundle .*ca.pem is writable by other "
                                          f"accounts \\(mode {mode:04o}\\)") as caught:
        check_transport_files([destination])
    assert f"chmod go-w {pki / 'ca.pem'}" in (caught.value.hint or "")
    with pytest.raises(TransportSecurityError, match=f"transport.ca_bundle .* \\(mode {mode:04o}\\).*chmod go-w"):
        client_context(security)
    (pki / "ca.pem").chmod(0o644)  # control: others may read a CA, not write it
    check_transport_files([destination])
    assert _subjects(client_context(security)) == ["ca"]


@pytest.mark.req("SRS-234")
def test_a_bundle_owned_by_another_account_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.transport_security import TransportSecurityError, check_transport_files, client_context

    pki = _pki(tmp_path)
    destination, security = _destination(pki / "ca.pem")
    if os.geteuid() == 0:
        os.chown(pki / "ca.pem", 54321, -1)
    else:
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: (pki / "ca.pem").stat().st_uid + 1)
    with pytest.raises(ConfigError, match="transport.ca_bundle .* is owned by another account"):
        check_transport_files([destination])
    with pytest.raises(TransportSecurityError, match="is owned by another account"):
        client_context(security)
    if os.geteuid() == 0:
        os.chown(pki / "ca.pem", 0, -1)
    else:
        monkeypatch.undo()
    check_transport_files([destination])  # control: owned by this account (or root), it loads


@pytest.mark.req("SRS-234", "SRS-216")
def test_the_context_trusts_exactly_the_bundle_it_checked_pem_or_der(tmp_path: Path) -> None:
    from device_ai.node.transport_security import client_context

    pki = _pki(tmp_path)
    _, security = _destination(pki / "ca.pem")
    assert _subjects(client_context(security)) == ["ca"]
    _, other = _destination(pki / "other-ca.pem")  # control: another CA's file gives that CA
    (pki / "other-ca.pem").chmod(0o644)
    assert _subjects(client_context(other)) == ["other-ca"]
    der = pki / "ca.der"
    der.write_bytes(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    der.chmod(0o644)
    _, by_der = _destination(der)
    assert _subjects(client_context(by_der)) == ["ca"]
    framed = pki / "framed.pem"  # text around the PEM block, as CA bundles carry issuer names
    framed.write_bytes("Émetteur: ca\n".encode() + (pki / "ca.pem").read_bytes() + b"\n# end\n")
    framed.chmod(0o644)
    _, by_framed = _destination(framed)
    assert _subjects(client_context(by_framed)) == ["ca"]


@pytest.mark.req("SRS-234")
def test_without_proc_the_bundle_is_a_typed_refusal_and_a_der_ca_with_bytes_after_it_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without /proc the checked bytes have no name OpenSSL could open that others cannot replace (reviews 181 N1,
    182 D3): a typed refusal saying why, nothing written. A DER CA followed by other bytes is refused (review 181
    D1); one DER certificate loads (control)."""
    from device_ai import trust_anchors
    from device_ai.node.transport_security import TransportSecurityError, client_context

    pki = _pki(tmp_path)
    der = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(serialization.Encoding.DER)
    for name, data in (("one.der", der), ("tailed.der", der + b"\x1f" + b"\xff" * 10)):
        (pki / name).write_bytes(data)
        (pki / name).chmod(0o644)
    assert _subjects(client_context(_destination(pki / "one.der")[1])) == ["ca"]
    with pytest.raises(TransportSecurityError, match="tailed.der holds no certificate .* nor is it one DER certificate"):
        client_context(_destination(pki / "tailed.der")[1])
    real_isdir = os.path.isdir
    monkeypatch.setattr(trust_anchors.os.path, "isdir", lambda p: False if p == "/proc/self/fd" else real_isdir(p))
    with pytest.raises(TransportSecurityError, match="ca.pem cannot be given to OpenSSL as checked.*/proc"):
        client_context(_destination(pki / "ca.pem")[1])


@pytest.mark.req("SRS-234")
def test_a_bundle_over_16_mib_is_refused_unread_and_one_of_16_mib_loads(tmp_path: Path) -> None:
    """Review 184 D1: a file the configuration names is read to 16 MiB at most; a larger one is a typed refusal
    naming it at start and at send (it was read whole: MemoryError past the memory). Control: a bundle of exactly
    16 MiB (the CA, then blank lines) loads."""
    from device_ai.config import MAX_OWNED_FILE_BYTES
    from device_ai.node.transport_security import TransportSecurityError, check_transport_files, client_context

    pki = _pki(tmp_path)
    ca = (pki / "ca.pem").read_bytes()
    for name, size in (("limit.pem", MAX_OWNED_FILE_BYTES), ("over.pem", MAX_OWNED_FILE_BYTES + 1)):
        (pki / name).write_bytes(ca + b"\n" * (size - len(ca)))
        (pki / name).chmod(0o644)
    destination, security = _destination(pki / "limit.pem")
    check_transport_files([destination])
    assert _subjects(client_context(security)) == ["ca"]
    destination, security = _destination(pki / "over.pem")
    with pytest.raises(ConfigError, match="over.pem is larger than 16 MiB; it is not read"):
        check_transport_files([destination])
    with pytest.raises(TransportSecurityError, match="over.pem is larger than 16 MiB"):
        client_context(security)


@pytest.mark.req("SRS-234")
def test_a_fifo_missing_file_or_junk_is_a_typed_refusal_that_does_not_block(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError, check_transport_files, client_context

    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo)
    destination, security = _destination(fifo)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            check_transport_files([destination])
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "a FIFO at the bundle's name held the check"
    assert isinstance(outcome[0], ConfigError) and "is not a regular file" in outcome[0].message
    with pytest.raises(TransportSecurityError, match="is not a regular file"):
        client_context(security)
    _, missing = _destination(tmp_path / "absent.pem")
    with pytest.raises(TransportSecurityError, match="absent.pem"):
        client_context(missing)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate\n")
    junk.chmod(0o644)
    _, by_junk = _destination(junk)
    with pytest.raises(TransportSecurityError, match="junk.pem"):
        client_context(by_junk)


@pytest.mark.req("SRS-234")
def test_the_node_does_not_start_with_a_bundle_its_group_could_change(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.runtime import NodeRuntime
    from tests.node.conftest import context, node_env

    pki = _pki(tmp_path / "pki")
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    destination = {"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                   "transport": {"tls": True, "ca_bundle": str(pki / "ca.pem")}}
    node_env(monkeypatch, node_destinations=json.dumps([destination]))
    monkeypatch.setattr(NodeRuntime, "_check_model_use", lambda self: None)  # no model needed for this check
    (pki / "ca.pem").chmod(0o664)
    runtime = NodeRuntime(context(), pipeline=True)
    with pytest.raises(ConfigError, match="destination pacs: transport.ca_bundle"):
        runtime.open()
    assert not (tmp_path / "home" / "node" / "outbound").exists()  # nothing queued or audited
    (pki / "ca.pem").chmod(0o644)  # control: the node opens
    runtime.open()
    runtime.close()
