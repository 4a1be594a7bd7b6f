"""Transport security of one result destination (threats THR-010, THR-011, THR-014): TLS for
C-STORE (pynetdicom's ``tls_args``) and certificate checks and the plain-http refusal for STOW-RS.

A destination's :class:`TransportSecurity` says whether C-STORE goes over TLS, which certificate
authorities (a PEM bundle) vouch for the destination's server certificate, the device's own
client certificate and key where the destination asks for one (mutual TLS), and whether a STOW-RS
``http://`` URL may be used at all. The server's certificate is always verified and its name
checked against the configured host (unless ``check_hostname`` is switched off, for a
destination reached by an address its certificate does not name); TLS 1.2 is the minimum.
Nothing here switches verification off: a certificate that does not verify is refused with
:class:`CertificateRefused`, a failed attempt of the outbound queue, and nothing is marked sent.

Without a TransportSecurity (``None``) a destination is sent to as before: plain C-STORE (the
norm on a hospital LAN) and STOW-RS to the URL as written, https verified against Python's
default trust store.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from device_ai.config import Destination, TransportSecurity  # noqa: F401 - part of this module's interface
from device_ai.errors import ConfigError
from device_ai.keystore import read_private_key_file
from device_ai.trust_anchors import trusting_client_context


class TransportSecurityError(Exception):
    """A transport-security setting or check that refuses a send; the message says what and where."""


def client_context(security: TransportSecurity) -> ssl.SSLContext:
    """The TLS client context of a destination: the server's certificate required and verified
    (by ``ca_bundle``, else the system trust store), its name checked unless switched off, TLS 1.2
    at least, the client certificate loaded when configured. Raises TransportSecurityError naming
    the file that cannot be read."""
    try:
        context = _verifying_context(security.ca_bundle, "transport.ca_bundle")
    except ConfigError as exc:
        raise TransportSecurityError(f"{exc.message}; {exc.hint}") from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TransportSecurityError(f"cannot read the CA bundle {security.ca_bundle}: {exc}; give a PEM file "
                                     "of the certificate authorities that sign the destination's certificate") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = security.check_hostname
    context.verify_mode = ssl.CERT_REQUIRED  # never optional, whatever check_hostname says
    if security.client_certificate is not None:
        try:  # owner-only, as the key store's keys (THR-028); also checked when the node starts
            read_private_key_file(security.client_key, "transport.client_key")
        except ConfigError as exc:
            raise TransportSecurityError(f"{exc.message}; {exc.hint}") from exc
        try:
            context.load_cert_chain(str(security.client_certificate), str(security.client_key))
        except (OSError, ssl.SSLError) as exc:
            raise TransportSecurityError(f"cannot load the client certificate {security.client_certificate} "
                                         f"with its key {security.client_key}: {exc}; give matching PEM files") from exc
    return context


def _verifying_context(bundle: Path | None, what: str) -> ssl.SSLContext:
    """A default client context that trusts exactly the CAs of ``bundle`` (the system trust store
    when None): whoever could rewrite it would choose which server receives the results (SRS-234).
    How the bundle is checked and read, and why a bundle with no certificate is refused rather
    than leaving the system store in place: :func:`device_ai.trust_anchors.trusting_client_context`."""
    if bundle is None:
        return ssl.create_default_context()
    return trusting_client_context(bundle, what)


def check_transport_files(destinations: Iterable[Destination]) -> None:
    """Refuse (ConfigError naming the destination, the file, its mode and the fix) a destination
    whose transport's client key group or other accounts can reach or another account owns
    (THR-028, review 138 D1), or whose CA bundle another account could change (SRS-234): when the
    node starts, rather than as a failed attempt of every send."""
    for destination in destinations:
        transport = destination.transport
        if transport is not None and transport.client_key is not None:
            read_private_key_file(transport.client_key, f"destination {destination.name}: transport.client_key")
        if transport is not None and transport.ca_bundle is not None:
            what = f"destination {destination.name}: transport.ca_bundle"
            try:  # read and parsed as every send does: a bundle a send would refuse is refused now
                _verifying_context(transport.ca_bundle, what)  # its own ConfigError (mode, owner) passes through
            except (OSError, ssl.SSLError, ValueError) as exc:  # ValueError: no certificate OpenSSL reads
                raise ConfigError(f"{what} {transport.ca_bundle} cannot be read as certificates: {exc}",
                                  hint="give a PEM or DER file of the certificate authorities that sign the "
                                       "destination's certificate") from exc


def dimse_tls_args(security: TransportSecurity | None, host: str) -> tuple[ssl.SSLContext, str] | None:
    """pynetdicom's ``tls_args`` for a C-STORE association to ``host``, or None for plain DICOM."""
    if security is None or not security.tls:
        return None
    return client_context(security), host


def handshake_failure(host: str, port: int, context: ssl.SSLContext, timeout_s: float) -> str | None:
    """Why a TLS handshake with ``host:port`` fails certificate verification (the reason), or None
    when it verifies or fails otherwise (not reachable). pynetdicom logs a refused handshake and
    reports only "no association"; this probe, run after such a failure, tells the two apart."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        return exc.reason or str(exc)
    except OSError:
        return None


def check_stow_url(url: str, security: TransportSecurity | None, where: str) -> None:
    """Refuse a plain ``http://`` STOW-RS URL unless the destination's transport security allows
    it (``allow_insecure_http``); without a TransportSecurity nothing is refused (see module doc)."""
    if security is None or security.allow_insecure_http or urlsplit(url).scheme != "http":
        return
    raise TransportSecurityError(f"destination {where}: STOW-RS over plain http sends every result readable by anyone "
                                 "on the network; use an https URL, or set allow_insecure_http: true for this "
                                 "destination on a trusted, isolated network")


__all__ = ["TransportSecurity", "TransportSecurityError", "check_transport_files", "check_stow_url", "client_context",
           "dimse_tls_args", "handshake_failure"]
