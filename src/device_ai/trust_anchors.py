"""Certificate-authority files as trust anchors of a TLS context, read only when no other account
could have changed them: whoever can rewrite a CA file chooses whom the device trusts - which
client certificates the node accepts as the site's peers (``node_tls_ca_file``, SRS-233), which
server a destination's results go to (a destination's ``transport.ca_bundle``, SRS-234). A CA is
no secret: others may read it.

The file is checked on the opened file and read once (:func:`device_ai.config.read_owned_file`);
OpenSSL then reads those bytes, not the path again, with its own CA-file reader (``cafile=``) from
an anonymous in-memory file. A hand-written PEM reader in front of OpenSSL trusted more or fewer
CAs than OpenSSL in one corner case after another (reviews 153, 175, 177, 178 and 180: trailing
bytes, byte-order marks, text before BEGIN, 254-byte line pieces, NUL lines); OpenSSL's reader is
the one the system's own ``cafile`` users get. A file OpenSSL does not read as PEM is read as DER
only when it is exactly one certificate: ``cadata``'s DER reader stops quietly at bytes it cannot
read as a header, so a DER CA followed by anything else loaded (review 181 D1)."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cryptography import x509

from device_ai.config import read_owned_file

Loaded = TypeVar("Loaded")
Load = Callable[[str | None, bytes | None], Loaded]  # (cafile, cadata) -> what loading them gives


def trusting_client_context(path: Path, what: str) -> ssl.SSLContext:
    """A default client context (``ssl.create_default_context``) that trusts exactly the CAs of
    the file at ``path``: never the system store, even for an empty file (review 173 D1).
    ConfigError naming ``what``, the file and its mode or owner when others could change it;
    ValueError when it holds no certificate OpenSSL reads."""
    return _loaded(read_owned_file(path, what), path,
                   lambda cafile, cadata: ssl.create_default_context(cafile=cafile, cadata=cadata))


def load_trust_anchors(context: ssl.SSLContext, path: Path, what: str) -> None:
    """``context.load_verify_locations`` with the CAs of the file at ``path`` (errors as
    :func:`trusting_client_context`)."""
    _loaded(read_owned_file(path, what), path,
            lambda cafile, cadata: context.load_verify_locations(cafile=cafile, cadata=cadata))


def _loaded(data: bytes, path: Path, load: Load[Loaded]) -> Loaded:
    if not data:  # create_default_context takes empty cadata as "none given": the system store
        raise ValueError(f"{path} holds no certificate")
    with _memory_file(data) as cafile:
        try:
            return load(cafile, None)  # OpenSSL's CA-file reader: PEM
        except ssl.SSLError as pem_error:
            if not _one_der_certificate(data):
                raise ValueError(f"{path} holds no certificate OpenSSL reads as PEM, nor is it one DER certificate "
                                 f"({pem_error.reason or pem_error})") from None
            return load(None, data)


def _one_der_certificate(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)  # the whole bytes, nothing after (ExtraData)
    except ValueError:
        return False
    return True


@contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path that reads ``data``: an anonymous memory file (Linux), else a private temporary file,
    removed afterwards. Nobody else can write either."""
    descriptor, path = None, None
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        descriptor = os.memfd_create("device-ai-trust-anchors", os.MFD_CLOEXEC)
    else:  # no memfd, or no /proc to name it by (review 181 N1: the error read as the user's file missing)
        descriptor, path = tempfile.mkstemp(prefix="device-ai-trust-anchors-")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        yield path or f"/proc/self/fd/{descriptor}"
    finally:
        os.close(descriptor)
        if path is not None:
            os.unlink(path)
