"""Certificate-authority files as trust anchors of a TLS context, read only when no other account
could have changed them: whoever can rewrite a CA file chooses whom the device trusts - which
client certificates the node accepts as the site's peers (``node_tls_ca_file``, SRS-233), which
server a destination's results go to (a destination's ``transport.ca_bundle``, SRS-234). A CA is
no secret: others may read it.

The file is checked on the opened file and read once (:func:`device_ai.config.read_owned_file`);
OpenSSL then reads those bytes, not the path again, with its own CA-file reader (``cafile=``) from
an anonymous memory file. A hand-written PEM reader in front of OpenSSL trusted more or fewer
CAs than OpenSSL in one corner case after another (reviews 153, 175, 177, 178 and 180: trailing
bytes, byte-order marks, text before BEGIN, 254-byte line pieces, NUL lines); OpenSSL's reader is
the one the system's own ``cafile`` users get. A file OpenSSL does not read as PEM is read as DER
only when it is exactly one certificate: ``cadata``'s DER reader stops quietly at bytes it cannot
read as a header, so a DER CA followed by anything else loaded (review 181 D1). Either way at
least one certificate must be loaded: a PEM file of CRLs alone trusts nobody (review 182 D2)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509

from device_ai.config import read_owned_file

Load = Callable[[str | None, bytes | None], ssl.SSLContext]  # (cafile, cadata) -> the context loaded
_FD_FOLDER = "/proc/self/fd"


def trusting_client_context(path: Path, what: str) -> ssl.SSLContext:
    """A default client context (``ssl.create_default_context``) that trusts exactly the CAs of
    the file at ``path``: never the system store, even for an empty file (review 173 D1).
    ConfigError naming ``what``, the file and its mode or owner when others could change it;
    ValueError when it holds no certificate OpenSSL reads."""
    return _loaded(read_owned_file(path, what), path,
                   lambda cafile, cadata: ssl.create_default_context(cafile=cafile, cadata=cadata))


def load_trust_anchors(context: ssl.SSLContext, path: Path, what: str) -> None:
    """``context.load_verify_locations`` with the CAs of the file at ``path`` (errors as
    :func:`trusting_client_context`); ``context`` holds no CA before."""
    def load(cafile: str | None, cadata: bytes | None) -> ssl.SSLContext:
        context.load_verify_locations(cafile=cafile, cadata=cadata)
        return context

    _loaded(read_owned_file(path, what), path, load)


def _loaded(data: bytes, path: Path, load: Load) -> ssl.SSLContext:
    if not data:  # create_default_context takes empty cadata as "none given": the system store
        raise ValueError(f"{path} holds no certificate")
    if not hasattr(os, "memfd_create") or not os.path.isdir(_FD_FOLDER):  # see _memory_file
        raise ValueError(f"{path} cannot be given to OpenSSL as checked: this system has no anonymous memory files "
                         f"({_FD_FOLDER}); the device needs Linux with /proc mounted")
    with _memory_file(data) as cafile:
        try:
            context = load(cafile, None)  # OpenSSL's CA-file reader: PEM
        except ssl.SSLError as pem_error:
            if not _one_der_certificate(data):
                raise ValueError(f"{path} holds no certificate OpenSSL reads as PEM, nor is it one DER certificate "
                                 f"({pem_error.reason or pem_error})") from None
            context = load(None, data)
    if not context.cert_store_stats()["x509"]:
        raise ValueError(f"{path} holds no certificate (only certificate revocation lists)")
    return context


def _one_der_certificate(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)  # the whole bytes, nothing after (ExtraData)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError (review 182 D1)
        return False
    return True


@contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A name that reads ``data``: an anonymous memory file under /proc/self/fd, closed afterwards.
    Nobody else can write it. Without memfd or /proc there is no such name, and the caller refuses
    the CA file: a file in a temporary folder would be opened again by its path, which an open
    TMPDIR lets others replace (review 182 D3)."""
    descriptor = os.memfd_create("device-ai-trust-anchors", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        yield f"{_FD_FOLDER}/{descriptor}"
    finally:
        os.close(descriptor)
