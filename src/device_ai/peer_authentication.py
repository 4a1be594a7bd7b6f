"""Peers of a network listener are authenticated unless the site states why not (SRS-229; threat
THR-006, review 134 defect T2).

The node's listener checks the calling AE title against an allow-list, but AE titles are not
secrets: on an address other than loopback, any host that reaches the port and names an allowed
title can store studies, which are analysed and whose results are sent on. Only a client
certificate signed by the site's CA (``node_tls_ca_file``, mutual TLS) authenticates the peer.
So a listener on the network without it - TLS without a CA file, or clear text with
``node_cleartext_reason`` - needs the site's written statement of why unauthenticated peers are
acceptable on that network (``node_unauthenticated_peers_reason``), checked like a cleartext
reason (:func:`device_ai.cleartext.check_reason`). Loopback needs nothing: only this machine's
processes reach it.

The decisions are on plain values, so that the node (at start) and ``config show`` apply one rule;
this module imports nothing of the device but the clear-text rule and its errors.
"""

from __future__ import annotations

from typing import Any

from device_ai.cleartext import check_reason, needs_reason
from device_ai.errors import ConfigError

SETTING = "node_unauthenticated_peers_reason"
EXAMPLE = "modality VLAN 12, firewalled: only the CT scanners reach port 11112"
ABOUT = "peers that are not authenticated by a certificate are acceptable"
INSTEAD = "set node_tls_ca_file for mutual TLS"


def check_peers_reason(value: str | None) -> str | None:
    """``node_unauthenticated_peers_reason`` as kept (stripped), or None; one that states nothing
    is refused as a cleartext reason is (ValueError, for the settings' validator)."""
    return check_reason(value, SETTING, about=ABOUT, instead=INSTEAD, example=EXAMPLE)


def check_peers(bind_address: str, port: int, *, tls: bool, client_certificates: bool,
                reason: str | None) -> str | None:
    """The node's listener: None on loopback or when every peer must present a certificate of the
    site's CA, the site's reason when it listens on a network address without that and states one;
    otherwise ConfigError (serve refuses to start)."""
    if client_certificates or not needs_reason(bind_address):
        return None
    if reason:
        return reason
    missing = "node_tls_ca_file is not set" if tls else "no TLS, so no client certificate"
    raise ConfigError(
        f"node_bind_address {bind_address} is not a loopback address and the node does not authenticate its peers "
        f"({missing}): any host that reaches port {port} and names an allowed calling AE title (AE titles are not "
        "secrets) could store studies whose results are sent on; serve does not start",
        hint=f"set node_tls_ca_file to the CA that signed the modalities' and PACS' certificates (mutual TLS"
             f"{'' if tls else ', with node_tls_cert_file and node_tls_key_file'}), or set {SETTING} to the site's "
             f"statement of why unauthenticated peers are acceptable on that network (e.g. '{EXAMPLE}'), or "
             "listen on 127.0.0.1")


def peers_of(bind_address: str, *, client_certificates: bool, reason: str | None) -> str:
    """Who can reach the listener as a peer, for ``config show`` and the start banner."""
    if client_certificates:
        return "authenticated: a client certificate of node_tls_ca_file's CA is required (mutual TLS)"
    if not needs_reason(bind_address):
        return "loopback: only this machine's processes, by allowed calling AE title"
    if reason:
        return f"any host that reaches the port, by allowed calling AE title, accepted by the site: {reason}"
    return "any host that reaches the port, by allowed calling AE title, refused: no stated reason"


def report(settings: Any) -> str:  # noqa: ANN401 - device_ai.config.Settings (imports this module)
    """``config show``'s account of the listener's peers, from the settings as serve reads them."""
    tls = settings.node_tls_cert_file is not None and settings.node_tls_key_file is not None
    return peers_of(settings.node_bind_address, client_certificates=tls and settings.node_tls_ca_file is not None,
                    reason=settings.node_unauthenticated_peers_reason)


def accepted(address: str, reason: str | None) -> dict[str, str]:
    """The start's audit entry detail ``unauthenticated_peers_listener`` (address and the site's
    reason) when the site accepted unauthenticated peers, else nothing."""
    return {"unauthenticated_peers_listener": f"{address}: {reason}"} if reason else {}


__all__ = ["SETTING", "accepted", "check_peers", "check_peers_reason", "peers_of", "report"]
