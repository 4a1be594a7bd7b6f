"""TLS private key files named by the settings are owner-only (SRS-232, THR-028; helper-137's fix of
review 138 D1, not re-reviewed): node_tls_key_file, a destination's transport.client_key and
batch_tls_key_file pass the key store's own check (a regular file neither its group nor other accounts
can reach, owned by this account or root). Each refusal has its control: the same key at 0600 loads.
Keys are made by the test PKI helpers under tmp_path (none is committed)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from device_ai.errors import ConfigError
from tests.node.test_tls import _certificate


def _pki(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "client", ca)
    return folder


def _node(pki: Path) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=pki / "server.pem",
                                                    node_tls_key_file=pki / "server.key", node_tls_ca_file=None))


def _another_account(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` look owned by another account (chown as root, else this process's uid moved)."""
    if os.geteuid() == 0:
        os.chown(path, 54321, -1)
    else:
        monkeypatch.setattr("device_ai.keystore.os.geteuid", lambda: path.stat().st_uid + 1)


@pytest.mark.req("SRS-232", "SRS-099")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o610])
def test_the_node_tls_key_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    (pki / "server.key").chmod(mode)
    with pytest.raises(ConfigError, match=f"node_tls_key_file .*server.key has mode {mode:04o}") as caught:
        tls_context(_node(pki))
    assert f"chmod 600 {pki / 'server.key'}" in (caught.value.hint or "")
    (pki / "server.key").chmod(0o600)
    assert tls_context(_node(pki)) is not None  # control: owner-only, it loads


@pytest.mark.req("SRS-232", "SRS-099")
def test_the_node_tls_key_owned_by_another_account_is_refused(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    _another_account(pki / "server.key", monkeypatch)
    with pytest.raises(ConfigError, match="node_tls_key_file .* is owned by another account"):
        tls_context(_node(pki))


@pytest.mark.req("SRS-232", "SRS-216")
def test_a_destinations_client_key_open_to_its_group_is_refused_at_start_and_send(tmp_path: Path) -> None:
    from device_ai.config import Destination, TransportSecurity
    from device_ai.node.transport_security import TransportSecurityError, check_transport_files, client_context

    pki = _pki(tmp_path)
    security = TransportSecurity(tls=True, ca_bundle=pki / "ca.pem", client_certificate=pki / "client.pem",
                                 client_key=pki / "client.key")
    pacs = Destination(name="pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=104, transport=security)
    (pki / "client.key").chmod(0o640)
    with pytest.raises(ConfigError, match="destination pacs: transport.client_key .* has mode 0640") as caught:
        check_transport_files([pacs])
    assert "chmod 600" in (caught.value.hint or "")
    with pytest.raises(TransportSecurityError, match="transport.client_key .* has mode 0640.*chmod 600"):
        client_context(security)
    (pki / "client.key").chmod(0o600)  # control: owner-only, both take it
    check_transport_files([pacs])
    assert client_context(security) is not None


@pytest.mark.req("SRS-232")
def test_the_node_does_not_start_with_a_client_key_others_can_read(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from device_ai.node.runtime import NodeRuntime
    from tests.node.conftest import context, node_env

    pki = _pki(tmp_path / "pki")
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    destination = {"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                   "transport": {"tls": True, "ca_bundle": str(pki / "ca.pem"),
                                 "client_certificate": str(pki / "client.pem"), "client_key": str(pki / "client.key")}}
    node_env(monkeypatch, node_destinations=json.dumps([destination]))
    monkeypatch.setattr(NodeRuntime, "_check_model_use", lambda self: None)  # no model needed for this check
    (pki / "client.key").chmod(0o644)
    runtime = NodeRuntime(context(), pipeline=True)
    with pytest.raises(ConfigError, match="transport.client_key"):
        runtime.open()
    assert not (tmp_path / "home" / "node" / "outbound").exists()  # nothing queued or audited
    (pki / "client.key").chmod(0o600)  # control: the node opens
    runtime.open()
    runtime.close()


@pytest.mark.req("SRS-232", "SRS-220")
@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_the_batch_key_open_to_group_or_others_is_refused_with_dai_124(tmp_path: Path, mode: int) -> None:
    from device_ai.batch.cluster_security import site_scheduler
    from device_ai.batch.errors import SchedulerNotSecured
    from device_ai.config import Settings
    from tests.batch.site_tls import site_credentials

    site = site_credentials(tmp_path / "tls")
    settings = Settings(**site.device_settings())
    site.client_key.chmod(mode)
    with pytest.raises(SchedulerNotSecured, match=f"batch_tls_key_file .* has mode {mode:04o}") as caught:
        site_scheduler("tls://127.0.0.1:8786", settings)
    assert caught.value.code == "DAI-124" and "chmod 600" in (caught.value.hint or "")
    site.client_key.chmod(0o600)
    assert site_scheduler("tls://127.0.0.1:8786", settings) is not None  # control
