"""Peers that no certificate authenticates reach a network listener only where the site states why
(SRS-229; threat THR-006, review 134 defect T2): refused before anything is bound or spooled, the
reason checked at load, shown by config show and carried by the start entry and banner. No test
listens on anything but 127.0.0.1: the refusal comes before the bind, and the "starts" side binds
loopback after the decision (as tests/node/test_cleartext.py)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.node.conftest import context, events, home, node_env

PEERS = "modality VLAN 12, firewalled: only the CT scanners reach the port"
CLEARTEXT = "modality VLAN 12, isolated, no route to other networks"
NETWORK = "192.0.2.10"  # TEST-NET-1 (RFC 5737): never this machine's


def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    _certificate(folder, "server", _certificate(folder, "ca", ca=True))
    return folder


def _tls(pki: Path, *, ca: bool) -> dict[str, object]:
    files: dict[str, object] = {"node_tls_cert_file": pki / "server.pem", "node_tls_key_file": pki / "server.key"}
    if ca:
        files["node_tls_ca_file"] = pki / "ca.pem"
    return files


def _left_in_home() -> list[Path]:
    return sorted(home().rglob("*"))


# --- the rule ---

@pytest.mark.req("SRS-229")
def test_the_peers_decision() -> None:
    from device_ai.peer_authentication import check_peers

    with pytest.raises(ConfigError) as refused:
        check_peers("0.0.0.0", 11112, tls=True, client_certificates=False, reason=None)
    message = f"{refused.value} {refused.value.hint}"
    for named in ("node_bind_address 0.0.0.0", "port 11112", "node_tls_ca_file is not set", "mutual TLS",
                  "node_unauthenticated_peers_reason", "127.0.0.1"):
        assert named in message
    with pytest.raises(ConfigError, match="no TLS, so no client certificate"):  # clear text: no certificate either
        check_peers(NETWORK, 104, tls=False, client_certificates=False, reason=None)
    assert check_peers("0.0.0.0", 104, tls=True, client_certificates=False, reason=PEERS) == PEERS  # the site's
    assert check_peers("0.0.0.0", 104, tls=True, client_certificates=True, reason=None) is None  # mutual TLS
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert check_peers(loopback, 104, tls=False, client_certificates=False, reason=None) is None


@pytest.mark.req("SRS-229")
@pytest.mark.parametrize("reason", ["", "   ", "n/a", "trusted", "1234567890123", "isolated\nVLAN 12 network"])
def test_a_reason_that_states_nothing_is_refused_at_load(monkeypatch: pytest.MonkeyPatch, reason: str) -> None:
    from device_ai.config import load_settings

    monkeypatch.setenv("DEVICE_AI_NODE_UNAUTHENTICATED_PEERS_REASON", reason)
    with pytest.raises(ConfigError, match="node_unauthenticated_peers_reason"):
        load_settings()
    monkeypatch.setenv("DEVICE_AI_NODE_UNAUTHENTICATED_PEERS_REASON", f"  {PEERS} ")  # control: kept, stripped
    assert load_settings().node_unauthenticated_peers_reason == PEERS


# --- serve ---

@pytest.mark.req("SRS-229")
@pytest.mark.parametrize("address", ["0.0.0.0", NETWORK])
def test_serve_refuses_tls_without_client_certificates_on_the_network_before_anything_is_spooled(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, address: str) -> None:
    from device_ai.cli import main
    from device_ai.node.server import NodeServer

    monkeypatch.setattr(signal, "signal", lambda *_: None)  # serve installs handlers; not in pytest
    pki = _pki(tmp_path)
    node_env(monkeypatch, node_bind_address=address, **_tls(pki, ca=False))
    with pytest.raises(ConfigError, match=f"node_bind_address {address} .* does not authenticate its peers"):
        NodeServer(context())
    assert _left_in_home() == []  # no spool, no audit log
    assert main(["serve"]) == ConfigError.exit_code  # the command a site runs: refused, not listening
    err = capsys.readouterr().err
    assert "error DAI-100" in err and "node_unauthenticated_peers_reason" in err and "node_tls_ca_file" in err
    assert "Traceback" not in err and _left_in_home() == []
    # controls: mutual TLS needs nothing; without it, a stated reason passes the check
    node_env(monkeypatch, node_bind_address=address, **_tls(pki, ca=True))
    mutual = NodeServer(context())
    assert mutual.client_certificates and mutual.unauthenticated_peers_reason is None
    monkeypatch.delenv("DEVICE_AI_NODE_TLS_CA_FILE")
    node_env(monkeypatch, node_bind_address=address, **_tls(pki, ca=False), node_unauthenticated_peers_reason=PEERS)
    stated = NodeServer(context())
    assert not stated.client_certificates and stated.unauthenticated_peers_reason == PEERS


@pytest.mark.req("SRS-229", "SRS-226")
def test_clear_text_on_the_network_needs_both_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_bind_address="0.0.0.0", node_cleartext_reason=CLEARTEXT)
    with pytest.raises(ConfigError, match="no TLS, so no client certificate"):
        NodeServer(context())
    assert _left_in_home() == []
    node_env(monkeypatch, node_bind_address="0.0.0.0", node_cleartext_reason=CLEARTEXT,
             node_unauthenticated_peers_reason=PEERS)
    node = NodeServer(context())  # control: both stated
    assert (node.cleartext_reason, node.unauthenticated_peers_reason) == (CLEARTEXT, PEERS)


@pytest.mark.req("SRS-229")
def test_loopback_starts_without_tls_and_without_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_bind_address="127.0.0.1")
    server = NodeServer(context())
    assert server.unauthenticated_peers_reason is None
    server.start()
    try:
        [started] = events("Application Activity")
        assert "unauthenticated_peers_listener" not in started["details"]
    finally:
        server.stop()


@pytest.mark.req("SRS-229")
def test_the_start_entry_and_banner_carry_the_stated_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from device_ai.node import server as server_module

    node_env(monkeypatch, node_bind_address="0.0.0.0", **_tls(_pki(tmp_path), ca=False),
             node_unauthenticated_peers_reason=PEERS)
    real = server_module.NodeServer

    class LoopbackAfterTheDecision(real):  # decided on 0.0.0.0, listens on 127.0.0.1: no port on the network
        def __init__(self, ctx, *, pipeline: bool = False) -> None:  # noqa: ANN001
            super().__init__(ctx, pipeline=False)
            self.settings = self.settings.model_copy(update={"node_bind_address": "127.0.0.1"})

    monkeypatch.setattr(server_module, "NodeServer", LoopbackAfterTheDecision)
    stop, lines = threading.Event(), []

    def announce(line: str, **_: object) -> None:
        lines.append(line)
        stop.set()

    assert server_module.serve_until(context(), stop, announce=announce) == 0
    [started] = [e for e in events("Application Activity") if e["event_type"]["meaning"] == "Application Start"]
    assert started["details"]["unauthenticated_peers_listener"].endswith(f": {PEERS}")
    said = [line for line in lines if "peers not authenticated" in line]
    assert len(said) == 1 and said[0].endswith(PEERS)


@pytest.mark.req("SRS-229")
def test_config_show_says_who_can_be_a_peer(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    from device_ai.cli import main

    def peers() -> str:
        assert main(["config", "show"]) == 0
        return json.loads(capsys.readouterr().out)["transport"]["peers"]

    node_env(monkeypatch)
    assert peers().startswith("loopback")
    monkeypatch.setenv("DEVICE_AI_NODE_BIND_ADDRESS", "0.0.0.0")
    for key, value in _tls(_pki(tmp_path), ca=False).items():
        monkeypatch.setenv(f"DEVICE_AI_{key.upper()}", str(value))
    assert peers().endswith("refused: no stated reason")  # config show shows what serve would refuse
    monkeypatch.setenv("DEVICE_AI_NODE_UNAUTHENTICATED_PEERS_REASON", PEERS)
    assert peers().endswith(f"accepted by the site: {PEERS}")
    monkeypatch.setenv("DEVICE_AI_NODE_TLS_CA_FILE", str(tmp_path / "ca.pem"))
    assert peers().startswith("authenticated")
