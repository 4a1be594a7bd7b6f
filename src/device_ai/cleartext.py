"""Clear text only on loopback unless the site states why (SRS-226; threats THR-007, THR-010,
THR-011, THR-014).

Studies the node receives and results it sends carry patients' identities. Over a network they
go encrypted (the node's TLS, SRS-099; a destination's transport security or an https URL,
SRS-216), or in clear only where the site has written down why that is acceptable on that network
(``node_cleartext_reason`` for the listener, ``cleartext_reason`` per destination): a loopback
address (127.0.0.0/8, ::1, ``localhost``) never leaves the host and needs no reason. A host name
is not resolved to decide: a name other than ``localhost`` counts as the network.

The decisions are here, on plain values, so that the configuration (destinations, at load), the
node (its listener, at start) and ``config show`` apply one rule; this module imports nothing of
the device but its errors.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from typing import Any, Protocol

from device_ai.errors import ConfigError

REASON_MIN_CHARS = 12  # shorter than any statement of a network's isolation ("n/a", "yes", "trusted")
REASON_MAX_CHARS = 500
REASON_EXAMPLE = "modality VLAN 12, isolated, no route to other networks"


class CleartextDestination(Protocol):
    """What the rule needs of a destination (:class:`device_ai.config.Destination`)."""

    name: str
    kind: str
    cleartext_reason: str | None

    def cleartext_host(self) -> str | None: ...


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback: ``localhost``, 127.0.0.0/8, ::1 (also as
    an IPv4-mapped IPv6 address). Names are not resolved, and a name with a trailing dot
    (``localhost.``, ``127.0.0.1.``) is a DNS name, not loopback (review 129 defect 1)."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_reason(value: str | None, setting: str, *, about: str = "clear text is acceptable",
                 instead: str = "configure TLS", example: str = REASON_EXAMPLE) -> str | None:
    """A stated reason as kept (stripped), or None when unset; a reason that states nothing
    (empty, blank, too short, no letters) or would split an audit or log line is refused.
    ``about`` says what the reason must justify and ``instead`` what to configure without one
    (the node's unauthenticated peers, :mod:`device_ai.peer_authentication`, use the same rule)."""
    if value is None:
        return None
    text = value.strip()
    example = f"e.g. {setting}: '{example}'"
    if not text:
        raise ValueError(f"{setting} is empty; leave it unset (and {instead}), or state why {about} on that "
                         f"network, {example}")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in text):  # Zl, Zp: U+2028, U+2029
        raise ValueError(f"{setting} holds a control character (a new line or tab); write it on one line")
    if len(text) < REASON_MIN_CHARS or not any(c.isalpha() for c in text):
        raise ValueError(f"{setting} {text!r} does not say why {about} (at least "
                         f"{REASON_MIN_CHARS} characters with words); state the network and its isolation, {example}")
    if len(text) > REASON_MAX_CHARS:
        raise ValueError(f"{setting} is longer than {REASON_MAX_CHARS} characters; state it briefly")
    return text


def needs_reason(host: str | None) -> bool:
    """Whether sending or listening in clear on ``host`` (None: encrypted, or no network at all)
    needs a stated reason: it does unless ``host`` is loopback."""
    return host is not None and not is_loopback(host)


def check_listener(bind_address: str, *, tls: bool, reason: str | None) -> str | None:
    """The node's listener: None when it is encrypted or on loopback, the site's reason when it
    listens in clear on a network address with one; otherwise ConfigError (serve refuses to start)."""
    if tls or not needs_reason(bind_address):
        return None
    if reason:
        return reason
    raise ConfigError(
        f"node_bind_address {bind_address} is not a loopback address and the node has no TLS: every study "
        "received would cross the network in clear, readable and alterable by anyone on the path; serve does not start",
        hint="configure TLS (node_tls_cert_file and node_tls_key_file, PEM; node_tls_ca_file for mutual TLS), or "
             "set node_cleartext_reason to the site's statement of why clear text is acceptable on that network "
             f"(e.g. '{REASON_EXAMPLE}'), or listen on 127.0.0.1")


def destination_refusal(destination: CleartextDestination) -> str | None:
    """Why a destination's configuration is refused under the rule (for its validator), or None."""
    host = destination.cleartext_host()
    if not needs_reason(host) or destination.cleartext_reason:
        return None
    return (f"destination {destination.name}: results would be sent in clear to {host}, a network host, readable "
            "and alterable by anyone on the path; use TLS (kind dimse: transport with tls: true; kind stow: an https "
            f"url), or set cleartext_reason to the site's statement of why clear text is acceptable on that network "
            f"(e.g. '{REASON_EXAMPLE}')")


def transport_of(host: str | None, reason: str | None) -> str:
    """How one listener or destination carries data, for ``config show`` and the start banner."""
    if host is None:
        return "encrypted (TLS)"
    if not needs_reason(host):
        return "clear text on loopback (this machine only)"
    if reason:
        return f"clear text on the network, accepted by the site: {reason}"
    return "clear text on the network, refused: no stated reason"


def report(settings: Any) -> dict[str, Any]:  # noqa: ANN401 - device_ai.config.Settings (imports this module)
    """``config show``'s account of the transport of the listener and of each network destination."""
    tls = settings.node_tls_cert_file is not None and settings.node_tls_key_file is not None
    return {"listener": {"address": f"{settings.node_bind_address}:{settings.node_port}",
                         "transport": transport_of(None if tls else settings.node_bind_address,
                                                   settings.node_cleartext_reason)},
            "destinations": {d.name: transport_of(d.cleartext_host(), d.cleartext_reason)
                             for d in settings.node_destinations if d.kind != "folder"}}


def accepted(destinations: Iterable[CleartextDestination], *,
             listener: tuple[str, str] | None = None) -> dict[str, str]:
    """The clear text the site accepted with a reason, as audit entry details: ``cleartext_listener``
    (``listener`` = (address, reason)) and ``cleartext_destination_<name>``, each naming the reason."""
    details: dict[str, str] = {}
    if listener is not None:
        details["cleartext_listener"] = f"{listener[0]}: {listener[1]}"
    for destination in destinations:
        host = destination.cleartext_host()
        if needs_reason(host) and destination.cleartext_reason:
            details[f"cleartext_destination_{destination.name}"] = f"{host}: {destination.cleartext_reason}"
    return details


__all__ = ["REASON_EXAMPLE", "accepted", "check_listener", "check_reason", "destination_refusal", "is_loopback",
           "needs_reason", "report", "transport_of"]
