"""Device configuration: one pydantic settings model (DESIGN.md, Conventions).

Sources, highest first: ``DEVICE_AI_*`` environment variables, then the YAML file named by
``--config`` or ``DEVICE_AI_CONFIG``, then the defaults below. ``device-ai config show``
prints the effective values with secrets masked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from device_ai.cleartext import check_reason, destination_refusal
from device_ai.errors import ConfigError
from device_ai.peer_authentication import check_peers_reason


SECRET_FIELDS: frozenset[str] = frozenset()
DEFAULT_PACKAGE_NAME = "demo-dinov2-seg-1.0.0"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def default_home() -> Path:
    return Path.home() / ".device_ai"


def default_model_path() -> Path:
    """The embedded demo model: ``models/`` of the source tree (editable install, `make demo`)."""
    return _SOURCE_ROOT / "models" / DEFAULT_PACKAGE_NAME


class TransportSecurity(BaseModel):
    """The transport security of one destination (:mod:`device_ai.node.transport_security`: TLS for
    C-STORE, certificate checks and the plain-http refusal for STOW-RS; threats THR-010/011/014)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tls: bool = False  # C-STORE over TLS (DICOM PS3.15 B.1); STOW-RS follows its URL's scheme
    ca_bundle: Path | None = None  # PEM certificates that verify the server; None: the system trust store
    client_certificate: Path | None = None  # PEM, for a destination that requires mutual TLS
    client_key: Path | None = None  # refused when its group or other accounts can reach it (THR-028)
    check_hostname: bool = True
    allow_insecure_http: bool = False  # STOW-RS over plain http: results readable on the network

    @model_validator(mode="after")
    def _pairs(self) -> TransportSecurity:
        if (self.client_certificate is None) != (self.client_key is None):
            raise ValueError("client_certificate and client_key go together (mutual TLS needs both)")
        return self


class Destination(BaseModel):
    """Where the node sends its results: a DICOM Storage SCP (``dimse``: C-STORE), a DICOMweb
    server (``stow``: STOW-RS to ``url``, e.g. http://pacs:8042/dicom-web/studies), or a folder
    (``folder``: each result file created once under ``path``, e.g. a share a workstation reads;
    ``device-ai watch`` writes its OUT folder this way).

    A stow ``url`` may carry a user name and password (``https://user:password@host/...``): they
    are sent as an HTTP Basic Authorization header (never forwarded on a redirect) and never shown,
    logged, audited or kept in the queue (:func:`display_url`). Over plain ``http`` the password
    would cross the network readable, so such a URL is refused unless the destination sets
    ``allow_plaintext_credentials: true`` (a trusted, isolated network; tests on 127.0.0.1).

    Results go to a host other than loopback in clear (dimse without transport tls, stow to an
    http URL) only when ``cleartext_reason`` states why the site accepts that on its network
    (SRS-226, :mod:`device_ai.cleartext`); ``allow_plaintext_credentials`` and a transport's
    ``allow_insecure_http`` stay their own flags and do not replace the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # a folder name in the outbound queue (outbound/<state>/<name>/): no leading dot, so never '.', '..' or hidden
    name: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
    kind: Literal["dimse", "stow", "folder"]
    ae_title: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    url: str | None = Field(default=None, repr=False)  # may hold credentials: see display_url
    path: Path | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    allow_plaintext_credentials: bool = False
    transport: TransportSecurity | None = None  # TLS / certificate checks; None: plain C-STORE as before
    cleartext_reason: str | None = None  # the site's statement of why clear text to a network host is acceptable

    @field_validator("cleartext_reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return check_reason(value, "cleartext_reason")

    def cleartext_host(self) -> str | None:
        """The host results go to in clear, or None: encrypted (dimse with transport tls, an https
        url) or no network transport (folder)."""
        if self.kind == "dimse":
            return None if self.transport is not None and self.transport.tls else self.host
        if self.kind == "stow" and urlsplit(str(self.url)).scheme == "http":
            return urlsplit(str(self.url)).hostname
        return None

    @property
    def credentials(self) -> tuple[str, str] | None:
        """User name and password of a stow URL's userinfo (percent-decoded), or None."""
        if self.kind != "stow" or not self.url:
            return None
        netloc = urlsplit(self.url).netloc
        if "@" not in netloc:
            return None
        user, _, password = netloc.rpartition("@")[0].partition(":")
        return unquote(user), unquote(password)

    @property
    def request_url(self) -> str:
        """The URL requested: ``url`` without its userinfo (the credentials go in a header)."""
        parts = urlsplit(str(self.url))
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def authorization(self) -> str | None:
        """The HTTP Basic Authorization header value for the URL's credentials, or None."""
        credentials = self.credentials
        if credentials is None:
            return None
        return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")

    def address(self) -> str:
        """Where the destination is, for people, logs, dead letters and the audit trail: never a
        password (:func:`display_url`)."""
        if self.kind == "dimse":
            return f"{self.ae_title}@{self.host}:{self.port}"
        if self.kind == "folder":
            return str(self.path)
        return display_url(str(self.url))

    @model_validator(mode="after")
    def _complete(self) -> Destination:
        if self.kind == "dimse":
            if not (self.ae_title and self.host and self.port):
                raise ValueError(f"destination {self.name}: kind dimse needs ae_title, host and port")
            _check_ae_title(self.ae_title)
        elif self.kind == "folder":
            if self.path is None or not self.path.is_absolute():
                raise ValueError(f"destination {self.name}: kind folder needs an absolute path")
        elif not (self.url and self.url.startswith(("http://", "https://"))):
            raise ValueError(f"destination {self.name}: kind stow needs an http(s) url")
        elif _misparsed_url(self.url):  # never echo the url: it may hold a password
            raise ValueError(f"destination {self.name}: the url does not parse as http(s)://[user:password@]host[:port]"
                             "/path (a '/', '?', '#' or '@' in a user name or password must be percent-encoded, "
                             "e.g. %2F)")
        elif (self.credentials is not None and self.url.startswith("http://")
              and not self.allow_plaintext_credentials):
            raise ValueError(f"destination {self.name}: the url carries a user name or password over plain http, "
                             "readable by anyone on the network; use https, or set allow_plaintext_credentials: "
                             "true for this destination on a trusted network")
        return self._cleartext()

    def _cleartext(self) -> Destination:
        """SRS-226: clear text to a network host only with a stated reason (see the class doc)."""
        if self.kind == "folder" and self.cleartext_reason is not None:
            raise ValueError(f"destination {self.name}: cleartext_reason applies to network destinations (dimse, "
                             "stow), not to a folder; remove it")
        refusal = destination_refusal(self)
        if refusal is not None:
            raise ValueError(refusal)
        if (self.cleartext_reason and self.kind == "stow" and self.cleartext_host() is not None
                and self.transport is not None and not self.transport.allow_insecure_http):
            raise ValueError(f"destination {self.name}: cleartext_reason is set for an http url, but its transport "
                             "refuses plain http (allow_insecure_http is false), so every send would be refused; "
                             "use an https url, or set allow_insecure_http: true in its transport as well")
        return self


def _misparsed_url(url: str) -> bool:
    """Whether ``url`` would not split into host and credentials as written: a password holding an
    unencoded '/', '?' or '#' ends the host part early and leaves '@' in the path, so it would be
    neither sent as credentials nor hidden. A url urlsplit refuses is misparsed too: its message
    quotes the netloc, password and all (a character NFKC turns into '@' or '/', re-review 147 D4)."""
    try:
        parts = urlsplit(str(url))
        parts.port  # noqa: B018 - raises on a port that is not a number (e.g. 'user:secret/x@host')
    except ValueError:
        return True
    return not parts.hostname or "@" in parts.path + parts.query + parts.fragment


def display_url(url: str, *, mark_credentials: bool = False) -> str:
    """A URL as shown to people and written to logs, dead letters and the audit trail: the
    user name and password (userinfo) removed, every query value masked (``?access_token=********``)
    and the fragment dropped. ``mark_credentials`` (``config show``) puts ``********@`` where the
    userinfo was, so that one sees credentials are configured. The one rendering used wherever a
    destination URL is printed, stored or audited."""
    if _misparsed_url(url):
        return "(a url that does not parse; hidden, it may hold a password)"
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    if mark_credentials and "@" in parts.netloc:
        host = "********@" + host
    query = "&".join(name + ("=********" if equals else "")
                     for name, equals, _value in (item.partition("=") for item in parts.query.split("&") if item))
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


class Settings(BaseSettings):
    """Effective configuration of this installation."""

    model_config = SettingsConfigDict(env_prefix="DEVICE_AI_", extra="forbid", frozen=True)

    model_path: Path = Field(default_factory=default_model_path, description="locked model package folder")
    trusted_model_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="base64 Ed25519 public keys of model signers this site trusts"
    )
    demonstration_mode: bool = Field(
        default=False, description="let analyze, explain and the node run a model package that is not for clinical "
        "use (the embedded demonstration model) - synthetic data only, never on a site that analyses patient data")
    inference_threads: int = Field(default=2, ge=1, le=256, description="ONNX Runtime intra-op threads (fixed)")
    inference_device: Literal["cpu", "cuda"] = Field(
        default="cpu", description="where ONNX Runtime runs the model: cpu, or cuda (refused, nothing run, when this "
        "ONNX Runtime cannot run it on CUDA; analyze --batch runs on the cpu only and refuses cuda)")
    max_file_mb: int = Field(default=512, ge=1, description="largest DICOM file read, MiB")
    max_files: int = Field(default=5000, ge=1, description="most files in one analyze input")
    max_inflated_mb: int = Field(default=256, ge=1, description="largest inflated size of a deflated file, MiB")
    max_value_mb: int = Field(default=16, ge=1, description="largest data element besides pixel data, MiB")
    max_elements: int = Field(default=100_000, ge=100, description="most data elements in one file")
    max_values: int = Field(default=1_000_000, ge=100,
                            description="most values of multi-valued data elements (e.g. DS 1\\2\\3) in one file")
    max_input_value_mb: int = Field(default=256, ge=1,
                                    description="data elements besides pixel data summed over one input, MiB")
    max_input_elements: int = Field(default=1_000_000, ge=100, description="data elements summed over one input "
                                    "(each costs about 0.5 KiB of memory while the series is assembled)")
    results_group_readable: bool = Field(
        default=False, description="analysis and explanation results readable by the owner's group too (files 0640, "
        "folders 0750); default owner-only (0600, 0700): results carry the patient's identity (THR-018)")
    home: Path = Field(default_factory=default_home,
                       description="where the device keeps its own state: audit log, checkpoints, keys (owner-only)")
    audit_copy_dir: Path | None = Field(default=None, description="second location for signed audit checkpoints")
    audit_origin: str = Field(default="device-ai.local/audit", min_length=1,
                              description="name of this device's audit log in its signed checkpoints")
    audit_key_file: Path | None = Field(
        default=None, description="the audit checkpoint signing key (PEM PKCS#8, Ed25519; created on first use, 0600); "
        "default DEVICE_AI_HOME/keys/audit-checkpoint.pem. Keep it apart from the log it signs")
    audit_key_passphrase_file: Path | None = Field(
        default=None, description="file holding the passphrase that encrypts the audit signing key; when set, a new "
        "key is created encrypted and an existing one is decrypted with it")
    # --- the DICOM node (`device-ai serve`, device_ai.node) ---
    node_ae_title: str = Field(default="DEVICEAI", description="the node's own AE title (called AE title checked)")
    node_bind_address: str = Field(default="127.0.0.1", min_length=1,
                                   description="address the Storage SCP listens on (0.0.0.0: every interface)")
    node_port: int = Field(default=11112, ge=1, le=65535, description="TCP port of the Storage SCP")
    node_allowed_calling_aets: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="calling AE titles allowed to associate (a JSON list, or comma or space "
        "separated); serve refuses to start with none")
    node_max_associations: int = Field(default=10, ge=1, le=200, description="most simultaneous associations")
    node_max_instance_mb: int = Field(default=64, ge=1, description="largest instance received, MiB")
    node_min_free_mb: int = Field(default=1024, ge=0, description="below this free space on the spool's file system, "
                                  "C-STORE is refused with 0xA700 (Out of Resources) so senders retry later")
    node_series_idle_s: float = Field(default=30.0, gt=0, le=86400,
                                      description="a series is complete when no instance arrived for this long, s")
    node_idle_timeout_s: float = Field(default=60.0, gt=0, le=3600,
                                       description="an association silent for this long is aborted, s")
    node_tls_cert_file: Path | None = Field(default=None, description="PEM certificate of the node; with "
                                            "node_tls_key_file, the SCP speaks TLS only")
    node_tls_key_file: Path | None = Field(default=None, description="PEM private key of node_tls_cert_file "
                                           "(refused when its group or other accounts can reach it)")
    node_tls_ca_file: Path | None = Field(default=None, description="PEM CA bundle; when set, peers must present a "
                                          "certificate it signed (mutual TLS)")
    node_cleartext_reason: str | None = Field(
        default=None, description="the site's statement of why the SCP may listen without TLS on an address other "
        "than loopback (e.g. 'modality VLAN 12, isolated, no route to other networks'); without it, or TLS, serve "
        "refuses to start on such an address. Audited with each start")
    node_unauthenticated_peers_reason: str | None = Field(
        default=None, description="the site's statement of why the SCP may accept peers that present no certificate "
        "of node_tls_ca_file's CA on an address other than loopback (e.g. 'modality VLAN 12, firewalled: only the CT "
        "scanners reach port 11112'); without it, or node_tls_ca_file (mutual TLS), serve refuses to start on such an "
        "address, since anyone may name an allowed AE title (SRS-229). Audited with each start")

    # --- a site's Dask scheduler (`--scheduler tls://HOST:PORT` of the batch commands; SRS-220) ---
    batch_tls_ca_file: Path | None = Field(
        default=None, description="PEM CA certificate(s) that signed the site Dask scheduler's and workers' "
        "certificates; --scheduler tls://HOST:PORT needs it with batch_tls_cert_file and batch_tls_key_file (Dask's "
        "own distributed.comm.tls settings are not used)")
    batch_tls_cert_file: Path | None = Field(
        default=None, description="PEM client certificate the device presents to the site Dask scheduler and its "
        "workers (mutual TLS; signed by a CA they trust)")
    batch_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of batch_tls_cert_file (refused when its group or other accounts "
        "can reach it, as node_tls_key_file and a destination's transport.client_key)")

    node_destinations: tuple[Destination, ...] = Field(
        default=(), description="where results (SEG, SR) are sent: a list of {name, kind: dimse, ae_title, host, "
        "port}, {name, kind: stow, url} or {name, kind: folder, path}; JSON in the environment")
    node_send_max_attempts: int = Field(default=8, ge=1, le=1000, description="failed sends of one result to one "
                                        "destination before it goes to the dead-letter folder")
    node_send_retry_base_s: float = Field(default=5.0, gt=0, le=3600, description="wait after the first failed "
                                          "send, s; doubled after each further failure")
    node_send_retry_max_s: float = Field(default=600.0, gt=0, le=86400, description="longest wait between sends, s")
    node_analysis_max_attempts: int = Field(default=5, ge=1, le=1000, description="analyses of one generation "
                                            "interrupted by the process ending (crash, kill) before it is refused as "
                                            "a poison input")
    node_retention_hours: float = Field(default=24.0, ge=0, le=87600, description="hours after a series' outcome "
                                       "(results confirmed by every destination, refused, or superseded) before "
                                       "the node deletes its received instances and results; 0: at once")
    node_watch_settle_s: float = Field(default=5.0, gt=0, le=3600, description="device-ai watch takes a file of its "
                                       "IN folder only once its size and times stayed unchanged for this long, s")

    @field_validator("node_destinations")
    @classmethod
    def _unique_destinations(cls, value: tuple[Destination, ...]) -> tuple[Destination, ...]:
        names = [d.name for d in value]
        if len(set(names)) != len(names):
            raise ValueError(f"destination names must be unique: {names}")
        return value

    @field_validator("trusted_model_keys", "node_allowed_calling_aets", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """A list from YAML as it is; a string (the environment) either a JSON list
        (``["PACS","ORTHANC"]``, items may hold spaces) or items separated by commas or spaces."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    items = json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"starts with '[' but is not a JSON list ({exc.msg}); write "
                                     '["A","B"] or A,B') from None
                if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                    raise ValueError('a JSON value here must be a list of strings, e.g. ["A","B"]')
                return tuple(items)
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("node_cleartext_reason")
    @classmethod
    def _cleartext_reason(cls, value: str | None) -> str | None:
        return check_reason(value, "node_cleartext_reason")

    @field_validator("node_unauthenticated_peers_reason")
    @classmethod
    def _unauthenticated_peers_reason(cls, value: str | None) -> str | None:
        return check_peers_reason(value)

    @field_validator("audit_origin")
    @classmethod
    def _audit_origin(cls, value: str) -> str:
        return _check_origin(value)

    @field_validator("node_ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return _check_ae_title(value)

    @field_validator("node_allowed_calling_aets")
    @classmethod
    def _ae_titles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_ae_title(v) for v in value)


ORIGIN_ALLOWED = ("letters, digits and punctuation such as '.', '/', '-', '_', ':' (any script, UTF-8), without '+', "
                  "spaces or control characters, e.g. site.example/ct1")


def _check_origin(value: str) -> str:
    """C2SP signed-note key names and tlog-checkpoint origins hold no '+' (it ends the name in a
    verifier key) and no Unicode space; a newline or other control character would split the
    note's lines. Refused here, at load, before a log is signed under it."""
    bad = sorted({c for c in value if c == "+" or c.isspace() or unicodedata.category(c) in ("Cc", "Cs")})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"{value!r} cannot name the audit log in its signed checkpoints: it holds {shown}; allowed: "
                         f"{ORIGIN_ALLOWED}")
    return value


def _check_ae_title(value: str) -> str:
    """PS3.5 6.2 (AE VR): 1 to 16 characters of the default repertoire, no backslash or control
    characters; leading and trailing spaces are not significant."""
    title = value.strip()
    if not 1 <= len(title) <= 16 or not all(32 < ord(c) < 127 or c == " " for c in title) or "\\" in title:
        raise ValueError(f"{value!r} is not an AE title (1-16 printable ASCII characters, no backslash)")
    return title


# The most a file the configuration names is read to (CA bundles, the configuration file): a system's
# whole CA bundle is about 0.2 MiB. A larger file was read whole, and one larger than memory ended in
# an untyped MemoryError (review 184 D1).
MAX_OWNED_FILE_BYTES = 16 * 1024 * 1024


def read_owned_file(path: Path, what: str) -> bytes:
    """The bytes of a file the configuration names, refused when another account could have changed
    it (THR-040): writable by its group or by others, or owned by an account other than this
    process's or root. The check is made on the file that is read (fstat of the open file), not on
    its name. ``what`` names the file in the messages (e.g. "configuration file", "batch_tls_ca_file").
    Private keys are read by :func:`device_ai.keystore.read_private_key_file` instead."""
    return _read_owned(path, what)[0]


def _read_owned(path: Path, what: str) -> tuple[bytes, int]:
    """:func:`read_owned_file`'s bytes and the permission bits of the file read. Opened without
    blocking and read only when it is a regular file: a FIFO at the name would otherwise hold the
    reader in open() for as long as no one writes to it (review 153 D3). The descriptor is checked
    before a file object wraps it: wrapping a folder's raised IsADirectoryError and left the
    descriptor open, one per refusal (review 183 D2)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} {path} is not a regular file; it is not read",
                              hint="name a regular file (not a pipe, device or socket)")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(f"{what} {path} is writable by other accounts (mode "
                              f"{stat.S_IMODE(info.st_mode):04o}); it is not read",
                              hint=f"make it writable by its owner only: chmod go-w {path}")
        if info.st_uid not in (os.geteuid(), 0):
            raise ConfigError(f"{what} {path} is owned by another account (uid {info.st_uid}); "
                              "it is not read",
                              hint="give it to the account that runs the device or to root (chown)")
        if info.st_size > MAX_OWNED_FILE_BYTES:  # refused before any byte is read (review 185 D1)
            raise _too_large(what, path)
        with open(descriptor, "rb", closefd=False) as handle:
            data = handle.read(MAX_OWNED_FILE_BYTES + 1)  # bounded even if it grows after the fstat
        if len(data) > MAX_OWNED_FILE_BYTES:
            raise _too_large(what, path)
        return data, stat.S_IMODE(info.st_mode)
    finally:
        os.close(descriptor)


def _too_large(what: str, path: Path) -> ConfigError:
    return ConfigError(f"{what} {path} is larger than {MAX_OWNED_FILE_BYTES // (1024 * 1024)} MiB; it is not read",
                       hint="name the right file: a CA bundle or configuration file takes a few KiB")


def _read_config_text(path: Path) -> tuple[str, int]:
    """The configuration file's text and mode, refused when another account could have changed it
    (THR-040, :func:`read_owned_file`), or when it is not UTF-8 (re-review 147 D3: never a traceback)."""
    data, mode = _read_owned(path, "configuration file")
    try:
        return data.decode("utf-8"), mode
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"configuration file {path} is not UTF-8 text (a byte that is not UTF-8 at line {line}); "
                          "it is not read",
                          hint="save it as UTF-8 (the line is not shown: it may hold a password); if it holds a "
                               "password, make it readable by its owner only: chmod 600") from exc


def secrets_in(values: dict[str, Any]) -> list[str]:
    """Where configuration values (as read from a file) hold a secret: each destination url with a
    user name or password, or a query value (which may be a token), as ``config show`` masks them
    (:func:`display_url`). The settings hold no other secret: keys are files of their own."""
    found = []
    # setting names are read in any case (NODE_DESTINATIONS, as the variable is spelled, too): review 143 D1
    lists = [value for key, value in values.items() if isinstance(key, str) and key.lower() == "node_destinations"]
    for destination in (d for destinations in lists if isinstance(destinations, list) for d in destinations):
        url = destination.get("url") if isinstance(destination, dict) else None
        if _may_hold_secret(url):
            found.append(f"the url of destination {destination.get('name', '?')}")
    return found


def _may_hold_secret(url: Any) -> bool:
    """Whether a destination url as read from a file holds a user name, password or query value,
    or cannot be split to tell (then it may hold anything: the safe side)."""
    if isinstance(url, bytes | bytearray):  # YAML !!binary: pydantic reads it as UTF-8 text (review 144 D4)
        url = bytes(url).decode("utf-8", "replace")
    if not isinstance(url, str):
        return False  # not a url at all: the settings refuse it
    try:
        parts = urlsplit(url)
        return _misparsed_url(url) or "@" in parts.netloc or bool(parts.query)
    except ValueError:  # urlsplit refuses it (an unclosed '['): review 144 D5
        return True


def _refuse_readable_secrets(path: Path, mode: int, values: dict[str, Any]) -> None:
    """THR-013 (review 134 T5): a configuration file that holds a secret is read only when no
    account but its owner can read it."""
    secrets = secrets_in(values)
    if secrets and mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigError(f"configuration file {path} holds a secret ({', '.join(secrets)}: a user name, password "
                          f"or query value) and other accounts can read it (mode {mode:04o}); it is not read",
                          hint=f"make it readable by its owner only: chmod 600 {path}; if others did read it, "
                               "change the password or token at the destination")


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from the file (``config_file``, else ``$DEVICE_AI_CONFIG``, if any) overlaid by
    the environment. Every part of the device reads its configuration through this function;
    no module reads a ``DEVICE_AI_*`` variable itself."""
    file_values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["DEVICE_AI_CONFIG"]) if os.environ.get("DEVICE_AI_CONFIG") else None)
    if path is not None:
        try:
            text, mode = _read_config_text(Path(path))
            file_values = yaml.safe_load(text) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}",
                              hint="fix or remove the file") from exc
        except RecursionError as exc:  # PyYAML's composer recurses per level (re-review 147 D3)
            raise ConfigError(f"cannot read configuration file {path}: values nested too deeply",
                              hint="settings nest a few levels at most: fix the file") from exc
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # a value YAML reads but its constructor cannot build: a date that is no day, a number past
            # int()'s digit limit, !!float many, !!bool on a url (whose KeyError quotes the value, password
            # and all - never shown) (re-review 152 D3)
            raise ConfigError(f"cannot read configuration file {path}: a value cannot be built ({type(exc).__name__})",
                              hint="fix the value (the line is not shown: it may hold a password); dates are "
                                   "YYYY-MM-DD days, numbers plain, tags such as !!bool only on their own kind") from exc
        except yaml.YAMLError as exc:  # its text quotes the line, which may hold a destination's password
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError(f"cannot read configuration file {path}: {problem}{where}",
                              hint="fix the YAML syntax there (the line is not shown: it may hold a password)") from exc
        if not isinstance(file_values, dict):
            raise ConfigError(f"configuration file {path} must be a mapping of setting: value")
        _refuse_readable_secrets(Path(path), mode, file_values)
        odd = [key for key in file_values if not isinstance(key, str)]
        if odd:  # YAML reads ~, yes, 1 or !!binary as null, bool, int, bytes (re-review 147 N3)
            raise ConfigError(f"configuration file {path} has a setting name that is not text "
                              f"({type(odd[0]).__name__})",
                              hint="setting names are words such as node_destinations; quote or fix it")
    env_names = {f"DEVICE_AI_{name.upper()}" for name in Settings.model_fields}
    for name in list(file_values):
        if f"DEVICE_AI_{name.upper()}" in env_names and f"DEVICE_AI_{name.upper()}" in os.environ:
            file_values.pop(name)  # the environment wins over the file
    try:
        return Settings(**file_values)
    except RecursionError as exc:  # json.loads of a DEVICE_AI_* value nested past the interpreter's stack
        raise ConfigError(f"invalid setting in the environment: {_deep_environment_value(env_names)} holds values "
                          "nested too deeply", hint="settings nest a few levels at most: fix the variable") from exc
    except SettingsError as exc:
        raise ConfigError(f"invalid setting in the environment: {exc}", hint="see `device-ai config show`") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}", hint="see `device-ai config show`") from exc


def _deep_environment_value(env_names: set[str]) -> str:
    """The first DEVICE_AI_* variable whose JSON the decoder cannot nest through (its name only: a
    destination's value may hold a password)."""
    for name in sorted(env_names & set(os.environ)):
        try:
            json.loads(os.environ[name])
        except RecursionError:
            return name
        except ValueError:
            continue
    return "a DEVICE_AI_* variable"


def masked(settings: Settings) -> dict[str, Any]:
    """Settings as plain values with secrets masked, for display."""
    values = settings.model_dump(mode="json")
    for name in SECRET_FIELDS:
        if values.get(name):
            values[name] = "********"
    for destination in values.get("node_destinations") or ():
        if destination.get("url"):
            destination["url"] = display_url(destination["url"], mark_credentials=True)
    return values


@contextlib.contextmanager
def using_file(path: str | Path | None) -> Iterator[None]:
    """``--config FILE`` means ``DEVICE_AI_CONFIG=FILE`` for the one command, so that every part
    that reads the settings (key store, audit log) sees the same file; restored afterwards."""
    if not path:
        yield
        return
    before = os.environ.get("DEVICE_AI_CONFIG")
    os.environ["DEVICE_AI_CONFIG"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DEVICE_AI_CONFIG", None)
        else:
            os.environ["DEVICE_AI_CONFIG"] = before
