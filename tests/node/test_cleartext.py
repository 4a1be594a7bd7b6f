"""Clear text only on loopback unless the site states why (SRS-226): the node's listener refused
before anything is bound or spooled, network destinations refused at load, and a stated reason
shown by config show and in the start's audit entry. No test listens on anything but 127.0.0.1:
the refusal comes before the bind, and the "starts" side binds loopback after the decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.node.conftest import context, events, home, node_env

REASON = "modality VLAN 12, isolated, no route to other networks"
# SRS-229: a network listener without client certificates also needs the peers' reason; stated where
# these tests are about the clear-text rule alone
PEERS = "modality VLAN 12, firewalled: only the CT scanners reach the port"
NETWORK = "192.0.2.10"  # TEST-NET-1 (RFC 5737): a network address, never this machine's


def _destinations(monkeypatch: pytest.MonkeyPatch, *destinations: dict) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps(list(destinations)))


def _load():  # noqa: ANN202 - Settings
    from device_ai.config import load_settings

    return load_settings()


def _dimse(host: str, **extra: object) -> dict:
    return {"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": host, "port": 104, **extra}


def _stow(url: str, **extra: object) -> dict:
    return {"name": "web", "kind": "stow", "url": url, **extra}


# --- the rule ---

@pytest.mark.req("SRS-226")
@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.0.3", "::1", "[::1]", "localhost", "LocalHost",
                                  "::ffff:127.0.0.1"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    from device_ai.cleartext import is_loopback, needs_reason

    assert is_loopback(host) and not needs_reason(host)


@pytest.mark.req("SRS-226")
@pytest.mark.parametrize("host", ["0.0.0.0", "::", NETWORK, "10.0.0.5", "128.0.0.1", "pacs", "localhost.example",
                                  "", " "])
def test_other_addresses_and_names_are_the_network(host: str) -> None:  # the negative controls of the above
    from device_ai.cleartext import is_loopback, needs_reason

    assert not is_loopback(host) and needs_reason(host)


@pytest.mark.req("SRS-226")
def test_the_listener_decision() -> None:
    from device_ai.cleartext import check_listener

    with pytest.raises(ConfigError) as refused:
        check_listener("0.0.0.0", tls=False, reason=None)
    message = f"{refused.value} {refused.value.hint}"
    for named in ("node_bind_address 0.0.0.0", "no TLS", "node_tls_cert_file", "node_tls_key_file",
                  "node_cleartext_reason"):
        assert named in message
    with pytest.raises(ConfigError):
        check_listener(NETWORK, tls=False, reason="")
    assert check_listener("0.0.0.0", tls=False, reason=REASON) == REASON  # the site accepted it: its reason
    assert check_listener("0.0.0.0", tls=True, reason=None) is None  # encrypted
    assert check_listener("127.0.0.1", tls=False, reason=None) is None  # loopback
    assert check_listener("::1", tls=False, reason=None) is None


@pytest.mark.req("SRS-226")
@pytest.mark.parametrize("reason", ["", "   ", "\t", "n/a", "trusted", "1234567890123", "isolated\nVLAN 12 network"])
def test_a_reason_that_states_nothing_is_refused_at_load(monkeypatch: pytest.MonkeyPatch, reason: str) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_CLEARTEXT_REASON", reason)
    with pytest.raises(ConfigError, match="node_cleartext_reason"):
        _load()
    _destinations(monkeypatch, _dimse(NETWORK, cleartext_reason=reason))
    monkeypatch.setenv("DEVICE_AI_NODE_CLEARTEXT_REASON", REASON)
    with pytest.raises(ConfigError, match="cleartext_reason"):
        _load()
    _destinations(monkeypatch, _dimse(NETWORK, cleartext_reason=f"  {REASON} "))  # control: a statement, kept stripped
    settings = _load()
    assert settings.node_cleartext_reason == REASON and settings.node_destinations[0].cleartext_reason == REASON


# --- the listener: serve refused before anything is bound or spooled ---

def _left_in_home() -> list[Path]:
    return sorted(home().rglob("*"))


@pytest.mark.req("SRS-226")
def test_serve_refuses_a_network_address_without_tls_before_anything_is_spooled(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from device_ai.cli import main
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_bind_address="0.0.0.0")
    with pytest.raises(ConfigError, match="node_bind_address 0.0.0.0"):
        NodeServer(context())
    assert _left_in_home() == []  # no spool, no audit log
    capsys.readouterr()
    assert main(["serve"]) == ConfigError.exit_code  # the command a site runs: refused, not listening
    err = capsys.readouterr().err
    assert "error DAI-100" in err and "node_bind_address 0.0.0.0" in err and "node_cleartext_reason" in err
    assert _left_in_home() == []  # nothing spooled, no start entry (as for serve's other refused starts)
    node_env(monkeypatch, node_bind_address=NETWORK)
    with pytest.raises(ConfigError, match=f"node_bind_address {NETWORK}"):
        NodeServer(context())
    # control: the same settings with a stated reason pass the check (the spool is then made)
    node_env(monkeypatch, node_bind_address="0.0.0.0", node_cleartext_reason=REASON,
             node_unauthenticated_peers_reason=PEERS)
    assert NodeServer(context()).cleartext_reason == REASON
    assert (home() / "node").is_dir()


@pytest.mark.req("SRS-226")
def test_serve_starts_on_a_network_address_with_tls_or_on_loopback(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    from device_ai.node.server import NodeServer
    from tests.node.test_tls import _certificate

    _certificate(tmp_path, "server", _certificate(tmp_path, "ca", ca=True))
    node_env(monkeypatch, node_bind_address="0.0.0.0", node_tls_cert_file=tmp_path / "server.pem",
             node_tls_key_file=tmp_path / "server.key", node_unauthenticated_peers_reason=PEERS)
    assert NodeServer(context()).cleartext_reason is None  # TLS: nothing to state
    monkeypatch.delenv("DEVICE_AI_NODE_TLS_CERT_FILE")
    monkeypatch.delenv("DEVICE_AI_NODE_TLS_KEY_FILE")
    with pytest.raises(ConfigError, match="node_bind_address"):  # control: the same without TLS
        NodeServer(context())
    node_env(monkeypatch, node_bind_address="127.0.0.1")
    server = NodeServer(context())
    assert server.cleartext_reason is None
    server.start()
    try:
        [started] = events("Application Activity")
        assert not any(key.startswith("cleartext_") for key in started["details"])  # loopback: nothing accepted
    finally:
        server.stop()


@pytest.mark.req("SRS-226")
def test_the_start_entry_and_banner_carry_the_stated_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from device_ai.node import server as server_module

    other = "results VLAN 30, firewalled to the PACS only"
    node_env(monkeypatch, node_bind_address="0.0.0.0", node_cleartext_reason=REASON,
             node_unauthenticated_peers_reason=PEERS)
    _destinations(monkeypatch, _dimse(NETWORK, cleartext_reason=other), _dimse("127.0.0.1", name="local"),
                  _stow(f"http://{NETWORK}:8042/dicom-web/studies", name="web", cleartext_reason=other),
                  _stow(f"https://{NETWORK}/dicom-web/studies", name="secure", cleartext_reason=other))
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
    details = started["details"]
    assert details["cleartext_listener"].endswith(f": {REASON}") and details["tls"] == "no"
    assert details["cleartext_destination_pacs"] == f"{NETWORK}: {other}"
    assert details["cleartext_destination_web"] == f"{NETWORK}: {other}"
    assert "cleartext_destination_local" not in details  # loopback: nothing to accept
    assert "cleartext_destination_secure" not in details  # https: its reason is not used
    said = [line for line in lines if "clear text" in line]
    assert len(said) == 1 and REASON in said[0] and "destination pacs" in said[0] and "destination web" in said[0]


@pytest.mark.req("SRS-226")
def test_the_watch_start_entry_carries_the_destinations_reasons(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from device_ai.node.hot_folder import HotFolder

    node_env(monkeypatch)
    _destinations(monkeypatch, _dimse(NETWORK, cleartext_reason=REASON), _dimse("127.0.0.1", name="local"))
    (tmp_path / "in").mkdir()
    folder = HotFolder(context(), tmp_path / "in", tmp_path / "out", settle_s=1.0, pipeline=False)
    folder.start()
    folder.stop()
    [started] = [e for e in events("Application Activity") if e["event_type"]["meaning"] == "Application Start"]
    assert started["details"]["cleartext_destination_pacs"] == f"{NETWORK}: {REASON}"
    assert not any(key.startswith("cleartext_") and key != "cleartext_destination_pacs" for key in started["details"])


# --- destinations: refused at load ---

@pytest.mark.req("SRS-226")
def test_a_dimse_destination_on_the_network_needs_tls_or_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    _destinations(monkeypatch, _dimse("10.0.0.5"))
    with pytest.raises(ConfigError) as refused:
        _load()
    assert "destination pacs" in str(refused.value) and "10.0.0.5" in str(refused.value)
    assert "tls: true" in str(refused.value) and "cleartext_reason" in str(refused.value)
    _destinations(monkeypatch, _dimse("10.0.0.5", transport={"tls": False}))  # a transport without tls is clear
    with pytest.raises(ConfigError, match="destination pacs"):
        _load()
    _destinations(monkeypatch, _dimse("10.0.0.5", transport={"tls": True}))
    assert _load().node_destinations[0].cleartext_host() is None
    _destinations(monkeypatch, _dimse("10.0.0.5", cleartext_reason=REASON))
    assert _load().node_destinations[0].cleartext_host() == "10.0.0.5"
    for loopback in ("127.0.0.1", "localhost", "::1"):
        _destinations(monkeypatch, _dimse(loopback))
        assert _load().node_destinations[0].host == loopback


@pytest.mark.req("SRS-226")
def test_a_stow_destination_over_http_to_the_network_needs_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    _destinations(monkeypatch, _stow("http://10.0.0.5/dicom-web/studies"))
    with pytest.raises(ConfigError) as refused:
        _load()
    assert "destination web" in str(refused.value) and "https" in str(refused.value)
    assert "cleartext_reason" in str(refused.value)
    # allow_insecure_http (SRS-216) alone does not state a reason
    _destinations(monkeypatch, _stow("http://10.0.0.5/dicom-web/studies", transport={"allow_insecure_http": True}))
    with pytest.raises(ConfigError, match="destination web"):
        _load()
    # a reason with a transport that refuses http would be refused at every send: refused now
    _destinations(monkeypatch, _stow("http://10.0.0.5/dicom-web/studies", transport={}, cleartext_reason=REASON))
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        _load()
    _destinations(monkeypatch, _stow("http://10.0.0.5/dicom-web/studies", transport={"allow_insecure_http": True},
                                     cleartext_reason=REASON))
    assert _load().node_destinations[0].cleartext_reason == REASON
    _destinations(monkeypatch, _stow("http://10.0.0.5/dicom-web/studies", cleartext_reason=REASON))
    assert _load().node_destinations[0].cleartext_host() == "10.0.0.5"
    _destinations(monkeypatch, _stow("https://10.0.0.5/dicom-web/studies"))
    assert _load().node_destinations[0].cleartext_host() is None
    _destinations(monkeypatch, _stow("http://127.0.0.1:8042/dicom-web/studies"))
    assert _load().node_destinations[0].cleartext_host() == "127.0.0.1"
    # plaintext credentials stay their own flag: a reason does not allow them
    _destinations(monkeypatch, _stow("http://u:pw@10.0.0.5/dicom-web/studies", cleartext_reason=REASON))
    with pytest.raises(ConfigError, match="user name or password over plain http"):
        _load()
    _destinations(monkeypatch, _stow("http://u:pw@10.0.0.5/dicom-web/studies", allow_plaintext_credentials=True))
    with pytest.raises(ConfigError, match="cleartext_reason"):  # ... nor does the flag replace the reason
        _load()
    _destinations(monkeypatch, _stow("http://u:pw@10.0.0.5/dicom-web/studies", allow_plaintext_credentials=True,
                                     cleartext_reason=REASON))
    assert _load().node_destinations[0].credentials == ("u", "pw")


@pytest.mark.req("SRS-226")
def test_a_folder_destination_is_not_network_transport(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _destinations(monkeypatch, {"name": "share", "kind": "folder", "path": str(tmp_path)})
    assert _load().node_destinations[0].cleartext_host() is None
    _destinations(monkeypatch, {"name": "share", "kind": "folder", "path": str(tmp_path), "cleartext_reason": REASON})
    with pytest.raises(ConfigError, match="not to a folder"):
        _load()


# --- config show ---

@pytest.mark.req("SRS-226")
def test_config_show_says_how_each_listener_and_destination_carries_data(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from device_ai.cli import main

    def shown() -> dict:
        capsys.readouterr()
        assert main(["config", "show"]) == 0
        return json.loads(capsys.readouterr().out)["transport"]

    _destinations(monkeypatch, _dimse("127.0.0.1", name="local"),
                  _dimse(NETWORK, transport={"tls": True}, name="secure"),
                  {"name": "share", "kind": "folder", "path": str(tmp_path)})
    transport = shown()
    assert "loopback" in transport["listener"]["transport"] and "accepted" not in json.dumps(transport)
    assert "loopback" in transport["destinations"]["local"] and "TLS" in transport["destinations"]["secure"]
    assert "share" not in transport["destinations"]
    monkeypatch.setenv("DEVICE_AI_NODE_BIND_ADDRESS", "0.0.0.0")
    assert "refused" in shown()["listener"]["transport"]  # config show still shows what serve would refuse
    monkeypatch.setenv("DEVICE_AI_NODE_CLEARTEXT_REASON", REASON)
    _destinations(monkeypatch, _stow(f"http://{NETWORK}/dicom-web/studies", cleartext_reason=REASON))
    transport = shown()
    assert transport["listener"] == {"address": "0.0.0.0:11112",
                                     "transport": f"clear text on the network, accepted by the site: {REASON}"}
    assert transport["destinations"]["web"] == f"clear text on the network, accepted by the site: {REASON}"
