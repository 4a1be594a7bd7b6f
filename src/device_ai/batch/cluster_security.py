"""Who may talk to a batch job's Dask cluster (SRS-220; threats THR-036, THR-038, THR-039).

The local cluster that ``--batch`` and ``validate --workers`` start speaks mutual TLS only, with a
key and a self-signed certificate made for the job (Dask's ``Security.temporary()``): an account of
the host that does not hold them cannot complete a handshake with the cluster's scheduler, nannies
or workers, so it can neither submit tasks nor read the units' paths and results. The key is kept in
the coordinator's memory and reaches the workers through their nannies' process pipes; it is never
written under a name of its own, but Dask writes it for an instant into a private temporary folder
(0700, removed at once) each time it builds a TLS context (Python's ssl loads a certificate chain
from files only). The cluster's HTTP servers (Dask's dashboard, JSON, info and metrics pages, all
unauthenticated) serve no route.

A site's scheduler (``--scheduler tls://HOST:PORT``) is reached over mutual TLS only: any other
address is refused, as is a configuration without the device's credentials for it. They are named by
the device's own settings ``batch_tls_ca_file`` (the CA that signed the scheduler's and workers'
certificates), ``batch_tls_cert_file`` and ``batch_tls_key_file`` (the device's client certificate,
signed by a CA the scheduler trusts, and its key), in the configuration file or as
``DEVICE_AI_BATCH_TLS_*`` variables - not Dask's ``distributed.comm.tls.*`` settings, so that they
are read with the configuration's own checks (SRS-218) and shown by ``device-ai config show``. Each
file is refused when another account could have changed it, the key (as the key store's own keys) when
its group or other accounts can reach it or another account owns it; they are read once, here, and
handed to Dask as text. Dask checks the peer's certificate against
the CA, not its host name, and a scheduler lets any client it admits run code on its workers: the
site's CA should sign certificates for the device and the cluster's own processes only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_ai.batch.errors import SchedulerNotSecured
from device_ai.config import Settings, read_owned_file
from device_ai.errors import ConfigError
from device_ai.keystore import read_private_key_file

TLS_SETTINGS = ("batch_tls_ca_file", "batch_tls_cert_file", "batch_tls_key_file")

# Dask configuration while a local cluster starts (its worker processes inherit it): no HTTP route
# on the scheduler or the workers. `dashboard_address=None` alone still serves Dask's JSON and info
# pages (workers, task states, call stacks, logs) on 127.0.0.1:8787 to every account of the host.
NO_HTTP_ROUTES = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}

_HINT = ("run the site's Dask scheduler and workers with TLS and give --scheduler tls://HOST:PORT; set "
         "batch_tls_ca_file (the CA that signed the scheduler's certificate), batch_tls_cert_file and "
         "batch_tls_key_file (the device's client certificate, signed by a CA the scheduler trusts, and its key) in "
         "the configuration file or as DEVICE_AI_BATCH_TLS_CA_FILE, ..._CERT_FILE, ..._KEY_FILE")


@dataclass(frozen=True)
class SiteScheduler:
    """A site's Dask scheduler and the device's credentials for it."""

    address: str  # tls://HOST:PORT
    security: Any = field(repr=False)  # distributed.security.Security: holds the client key


def local_cluster_security() -> Any:  # noqa: ANN401 - distributed.security.Security, imported lazily
    """A job's own credentials: one in-memory key and certificate for the coordinator, the
    scheduler and every worker; TLS required on every connection."""
    from distributed.security import Security

    return Security.temporary()


def site_scheduler(address: str | None, settings: Settings) -> SiteScheduler | None:
    """``--scheduler ADDR`` with the device's credentials for it, or None without one. Refused
    (:class:`SchedulerNotSecured`) before anything connects or runs: an address that is not
    ``tls://``, credentials not set, not readable, not protected or not PEM."""
    if not address:
        return None
    if not address.startswith("tls://"):
        scheme = address.partition("://")[0] + "://" if "://" in address else "an address without a scheme (tcp://)"
        raise SchedulerNotSecured(
            f"--scheduler {address}: the device reaches a Dask scheduler over tls:// (mutual TLS) only; over "
            f"{scheme} anyone on the network could read the units' paths and results, pose as the scheduler or run "
            "code on its workers; nothing was run", hint=_HINT)
    missing = [name for name in TLS_SETTINGS if getattr(settings, name) is None]
    if missing:
        raise SchedulerNotSecured(
            f"--scheduler {address}: the device's TLS credentials for it are not configured ({', '.join(missing)} "
            "not set; Dask's own distributed.comm.tls settings are not used); nothing was run", hint=_HINT)
    ca, cert, key = (_pem(settings, name) for name in TLS_SETTINGS)
    from distributed.security import Security

    security = Security(require_encryption=True, tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key)
    try:  # the certificate, its key and the CA load together: refused here rather than as "unreachable"
        security.get_connection_args("client")
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise SchedulerNotSecured(
            f"--scheduler {address}: the TLS credentials of batch_tls_ca_file, batch_tls_cert_file and "
            f"batch_tls_key_file do not load together ({type(exc).__name__}: {exc}); nothing was run",
            hint="check that batch_tls_key_file is the (unencrypted) key of batch_tls_cert_file and that the "
                 "files hold PEM certificates") from exc
    return SiteScheduler(address, security)


def _pem(settings: Settings, name: str) -> str:
    path = Path(getattr(settings, name))
    try:
        if name == "batch_tls_key_file":  # owner-only, as the key store's keys (THR-028, review 138 D1)
            data = read_private_key_file(path, name)
        else:
            data = read_owned_file(path, name)
    except SchedulerNotSecured:
        raise
    except ConfigError as exc:  # refused for its mode or owner: SRS-220's code
        raise SchedulerNotSecured(f"{exc.message}; nothing was run", hint=exc.hint) from exc
    except OSError as exc:
        raise SchedulerNotSecured(f"cannot read {name} {path}: {exc.strerror or exc}; nothing was run",
                                  hint=f"set {name} to a readable PEM file") from exc
    text = data.decode("ascii", errors="replace")
    if "-----BEGIN " not in text:  # Dask takes text without a line break for a file name
        raise SchedulerNotSecured(f"{name} {path} is not a PEM file (no -----BEGIN line); nothing was run",
                                  hint=f"set {name} to a PEM file")
    return text
