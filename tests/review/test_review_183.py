"""Independent re-review 183 (reviewer helper-183) of SRS-234 and SRS-233 after the fixes of review 182 (077a6c1):
a destination's CA bundle and the node's CA file, checked on the opened file (read_owned_file), the checked bytes
given to OpenSSL's own CA-file reader (``cafile=``) from an anonymous memory file (memfd, /proc/self/fd/N), read as
DER (``cadata=``) only when the file is exactly one certificate (cryptography's DER reader), at least one
certificate loaded, and without memfd or /proc a typed refusal. helper-183 wrote none of the code, texts or tests
reviewed. Read: both texts, ``git show 077a6c1``, trust_anchors.py, node/transport_security.py, node/server.py
(tls_context), config.read_owned_file, the docstrings of reviews 180, 181 and 182. OpenSSL 3.0, cryptography 50,
Python 3.11. "cafile=" is ``ssl.create_default_context(cafile=...)`` on the same bytes; the trust compared is the
whole store (``cert_store_stats`` and every CA in it, DER), not only the subjects.

SRS-234 - DEFECT (D1 low: verification; D2 low: a descriptor leaked). SRS-233 - DEFECT (D1: the two failing tests
carry ``req("SRS-233")``; D2 reaches the node's CA file by the same read). Trust itself holds in every case tried
(below): no fail-open, never the system store, no traceback.

D1 - the brief's regression set fails at the approved content (2a978fc): 2 failed, 315 passed. 077a6c1 reworded
SRS-234's text ("from memory" -> "from an anonymous memory file - without one, on a system without /proc, the file
is refused"), and two review tests that assert the old wording now fail:
tests/review/test_review_181.py::test_both_texts_name_openssls_reader_from_memory_and_der and
tests/review/test_review_182.py::test_both_texts_name_openssls_reader_memory_and_exactly_one_der_certificate
(both ``req("SRS-233")``). 077a6c1's message says "reviews 153-182: 317 passed"; 317 is the count collected, 2 of
them fail. The requirements' verification evidence is red at the content approved. Fix: update the two assertions to
the new wording (e.g. "anonymous memory file"), or put "from memory" back in SRS-234's text; then rerun the set.

D2 - a folder at the name leaks one file descriptor per refusal (brief item 2, "descriptors closed on every path"):
config._read_owned opens the path (os.open works on a folder), then ``open(descriptor, "rb", closefd=True)`` raises
IsADirectoryError before the file object owns the descriptor, so it is never closed. The refusal is typed and names
the file ("[Errno 21] Is a directory: 13" - the number is the leaked descriptor), but start, every send and the node
each leave one descriptor open on the folder: a bundle replaced by a folder after start leaks one per send attempt,
towards EMFILE for the whole node (the same read serves the configuration file, SRS-218). Fail-closed. Fix: fstat
(and the S_ISREG refusal) on the raw descriptor before wrapping it, or close it when open() raises.

What holds (this file's tests; start = check_transport_files, send = client_context, node = tls_context):
- The whole store equals cafile='s (stats and CA list) at start, send and node for: a leaf only (non-CA, loads as
  cafile= loads it: it holds a certificate), an expired CA, a not-yet-valid CA, CA + leaf, CA + CRL, 20 MB of text
  before a CA; never the system store, also with SSL_CERT_FILE set to another CA (control: the default context
  takes it).
- A DER certificate cryptography reads but OpenSSL's DER reader refuses (a name's string tag changed) is a typed
  refusal naming the file at start, send (nothing sent) and node; ``device-ai serve`` exits 2 with DAI-100 naming it
  and no traceback; control: the same DER unchanged loads everywhere.
- Non-regular files (/dev/null, a FIFO with no writer) are typed refusals, not read, at start, send and node, no
  descriptor left (a folder: D2).
- Without /proc (``_FD_FOLDER`` absent) the CA file is a typed refusal at start, send and node saying why.
- Descriptors the same before and after every path of trust_anchors (PEM, DER, OpenSSL-refused DER, version 5
  DER - now refused, 182 D1 -, junk, CRL only, no /proc, FIFO, /dev/null); no named file in TMPDIR (a child process).
- Texts, word by word: SRS-234 names OpenSSL's reader, the anonymous memory file, the refusal without /proc,
  "exactly one certificate", "holds no certificate is a typed refusal"; SRS-233 reads "as SRS-234 reads a CA bundle".

Notes (no defect against the texts): N1 read_owned_file has no read limit: a CA file is read whole, copied into the
memfd and parsed at start and at every send (20 MB: well under a second; a multi-GB or sparse file exhausts memory;
only the device's own account or root can make one). N2 a DER CA with a serial that is not positive loads
(OpenSSL reads it) but cryptography prints a CryptographyDeprecationWarning to stderr at start and every send, and
says a future release will raise instead (then refused - typed, ValueError). N3 (review 153 N3, unchanged) the
file's folder is not checked: an account that can write the folder can point the name at any root-owned 0644 file.

Figures: this file 18 passed, 2 xfailed (about 6 s, -n 2); brief's regression set (test_destination_ca_bundle,
test_tls_ca_file, test_tls, reviews 153, 156, 173, 175, 177, 178, 180, 181, 182): 315 passed, 2 failed (D1; 48 s,
-n 2).
Defects are strict xfails asserting what the texts and the regression set need, beside a pin of today's state and a
control that passes; holds are plain tests. Scratch files only in tmp_path. Record: not written (defect found).
"""

from __future__ import annotations

import datetime
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _pki, _start
from tests.review.test_review_177 import _write
from tests.review.test_review_182 import _der, _send_error, _serve


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki183"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _store(context: ssl.SSLContext) -> tuple[dict[str, int], list[bytes]]:
    return context.cert_store_stats(), sorted(context.get_ca_certs(binary_form=True))


def _cafile(path: Path) -> tuple[dict[str, int], list[bytes]] | None:
    try:
        return _store(ssl.create_default_context(cafile=str(path)))
    except ssl.SSLError:
        return None


def _node_context(tmp_path: Path, ca_file: Path) -> ssl.SSLContext:
    from types import SimpleNamespace

    from device_ai.node.server import tls_context
    from tests.node.test_tls import _certificate

    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    if not (folder / "server.pem").exists():
        _certificate(folder, "server", _certificate(folder, "server-ca", ca=True))
    node = SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=folder / "server.pem",
                                                    node_tls_key_file=folder / "server.key", node_tls_ca_file=ca_file))
    return tls_context(node)


def _node_cafile(path: Path) -> tuple[dict[str, int], list[bytes]] | None:
    """What load_verify_locations(cafile=) gives a fresh server context (the node's reader before SRS-233)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=str(path))
    except ssl.SSLError:
        return None
    return _store(context)


def _everywhere(tmp_path: Path, path: Path) -> tuple[object, object, object]:
    """(start and send, node): the stores, or None where refused - typed and naming the file / the setting."""
    from device_ai.node.transport_security import TransportSecurityError

    try:
        _start(path)
    except ConfigError as exc:
        assert path.name in exc.message
        with pytest.raises(TransportSecurityError, match=path.name):
            _context(path)
        device = None
    else:
        device = _store(_context(path))
    try:
        node = _store(_node_context(tmp_path, path))
    except ConfigError as exc:
        assert "node_tls_ca_file" in exc.hint
        node = None
    return device, node, None


def _fds() -> set[str]:
    """The open descriptors with what they name (listdir's own, closed once listed, drops out)."""
    return {f"{fd}:{_target(fd)}" for fd in os.listdir("/proc/self/fd") if _target(fd) is not None}


def _target(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None  # listdir's own descriptor, closed since


def _certificate(name: str, *, ca: bool, days: tuple[int, int] = (-1, 1), issuer=None):  # noqa: ANN001, ANN202
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_key, signer_name = (issuer[0], issuer[1]) if issuer else (key, subject)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(signer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=days[0]))
                   .not_valid_after(now + datetime.timedelta(days=days[1]))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .sign(signer_key, hashes.SHA256()))
    return key, subject, certificate.public_bytes(serialization.Encoding.PEM)


# === D1: the brief's regression set fails at the approved content (two text checks) ===============================

@pytest.mark.req("SRS-233")
def test_d1_the_text_checks_of_reviews_181_and_182_pass_at_this_content() -> None:
    from tests.review import test_review_181, test_review_182

    test_review_181.test_both_texts_name_openssls_reader_from_memory_and_der()
    test_review_182.test_both_texts_name_openssls_reader_memory_and_exactly_one_der_certificate()


@pytest.mark.req("SRS-234")
def test_d1_pin_srs234_no_longer_says_from_memory() -> None:
    from tests.review.test_review_180 import _texts

    text = _texts()["SRS-234"]
    assert "from memory" not in text and "from an anonymous memory file" in text


@pytest.mark.req("SRS-233")
def test_d1_control_the_behaviour_those_checks_stand_for_is_in_the_texts() -> None:
    from tests.review.test_review_180 import _texts

    texts = _texts()
    assert "OpenSSL's own CA-file reader" in texts["SRS-234"] and "read as DER" in texts["SRS-234"]
    assert "exactly one certificate" in texts["SRS-234"]
    assert "holds no certificate is a typed refusal" in texts["SRS-234"]
    assert "without /proc, the file is refused" in texts["SRS-234"]
    assert "from memory" in texts["SRS-233"] and "as SRS-234 reads a CA bundle" in texts["SRS-233"]


# === holds: the whole store equals cafile='s ======================================================================

def _cases(ca: bytes) -> dict[str, bytes]:
    issuer_key, issuer_name, issuer = _certificate("fake-issuing-ca", ca=True)
    return {"leaf-only": _certificate("fake-leaf", ca=False)[2],
            "expired-ca": _certificate("fake-expired-ca", ca=True, days=(-30, -1))[2],
            "not-yet-valid-ca": _certificate("fake-future-ca", ca=True, days=(1, 30))[2],
            "ca-and-leaf": issuer + _certificate("fake-leaf", ca=False, issuer=(issuer_key, issuer_name))[2],
            # lead, 2026-12-07 (session 3): 15 MB (was 20 MB): files over 16 MiB are refused unread since review 184
            "big-text-then-ca": b"z" * 15_000_000 + b"\n" + ca}


_CASES = ["leaf-only", "expired-ca", "not-yet-valid-ca", "ca-and-leaf", "ca-and-crl", "big-text-then-ca"]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", _CASES)
def test_the_whole_store_is_cafiles_at_start_send_and_node(tmp_path: Path, pems: tuple[bytes, bytes],
                                                            case: str) -> None:
    if case == "ca-and-crl":
        from tests.review.test_review_182 import _crl_only

        data = pems[0] + _crl_only(tmp_path).read_bytes()
    else:
        data = _cases(pems[0])[case]
    bundle = _write(tmp_path / f"{case}.pem", data)
    expected = _cafile(bundle)
    assert expected is not None and expected[0]["x509"] >= 1
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected
    assert node == _node_cafile(bundle)


@pytest.mark.req("SRS-234")
def test_never_the_system_store_even_with_ssl_cert_file_set(tmp_path: Path, pems: tuple[bytes, bytes],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    other = _write(tmp_path / "other-ca.pem", pems[1])
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    other_der = _der(pems[1])
    assert other_der in ssl.create_default_context().get_ca_certs(binary_form=True)  # control: the default takes it
    bundle = _write(tmp_path / "ca.pem", pems[0])
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device is not None and device[1] == [_der(pems[0])] and node is not None and node[1] == [_der(pems[0])]
    for junk in (b"", b"\n", b"junk\n"):
        path = _write(tmp_path / "junk.pem", junk)
        assert _everywhere(tmp_path, path)[:2] == (None, None)


# === holds: a DER certificate OpenSSL refuses and cryptography reads ===============================================

def _openssl_refused_der(tmp_path: Path, ca: bytes) -> Path:
    der = _der(ca)
    field = b"\x06\x03\x55\x04\x03\x0c"  # commonName, UTF8String
    at = der.index(field) + len(field) - 1
    changed = der[:at] + b"\xf7" + der[at + 1:]
    from cryptography import x509

    x509.load_der_x509_certificate(changed)  # cryptography reads it (exactly one certificate)
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context(cadata=changed)
    return _write(tmp_path / "refused.der", changed)


@pytest.mark.req("SRS-234")
def test_a_der_certificate_openssl_refuses_is_a_typed_refusal_everywhere(tmp_path: Path,
                                                                           pems: tuple[bytes, bytes]) -> None:
    bundle = _openssl_refused_der(tmp_path, pems[0])
    assert _everywhere(tmp_path, bundle)[:2] == (None, None)
    assert "refused.der" in _send_error(tmp_path, bundle)


@pytest.mark.req("SRS-234")
def test_serve_with_it_exits_2_naming_the_file(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    bundle = _openssl_refused_der(tmp_path, pems[0])
    served = _serve(tmp_path, bundle)
    assert served.returncode == 2, served.stderr
    assert "DAI-100" in served.stderr and "refused.der" in served.stderr and "Traceback" not in served.stderr


@pytest.mark.req("SRS-233")
def test_control_the_unchanged_der_loads_everywhere(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    bundle = _write(tmp_path / "ca.der", _der(pems[0]))
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device is not None and device[1] == [_der(pems[0])] and node is not None and node[1] == [_der(pems[0])]


# === holds: non-regular files, no /proc, descriptors ================================================================

# === D2: a folder at the name leaks a descriptor on every refusal (start, send, node) ==============================

def _folder_refusals(tmp_path: Path) -> tuple[set[str], set[str], list[str]]:
    from device_ai.node.transport_security import TransportSecurityError

    path = tmp_path / "bundle-folder"
    path.mkdir(mode=0o755)
    before, messages = _fds(), []
    for attempt in (lambda: _start(path), lambda: _context(path), lambda: _node_context(tmp_path, path)):
        with pytest.raises((ConfigError, TransportSecurityError)) as refused:
            attempt()
        messages.append(str(refused.value))
    return before, _fds(), messages


@pytest.mark.req("SRS-234")
def test_d2_a_folder_is_refused_with_no_descriptor_left(tmp_path: Path) -> None:
    before, after, _messages = _folder_refusals(tmp_path)
    assert after == before


@pytest.mark.req("SRS-234")
def test_d2_pin_one_descriptor_per_refusal_each_open_on_the_folder(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): fixed - the descriptor is checked before a file object wraps it and closed on
    # every path; a folder is "not a regular file" (was: three descriptors left open, "Is a directory")
    before, after, messages = _folder_refusals(tmp_path)
    leaked = [entry.split(":")[0] for entry in after if entry.endswith(":" + str(tmp_path / "bundle-folder"))]
    assert leaked == [] and after == before
    assert all("is not a regular file" in message for message in messages)


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("kind", ["dev-null", "fifo"])
def test_d2_control_a_fifo_or_device_is_a_typed_refusal_not_read_no_descriptor_left(tmp_path: Path,
                                                                                   kind: str) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    if kind == "fifo":
        path = tmp_path / "bundle-fifo"
        os.mkfifo(path, 0o644)
    else:
        path = Path("/dev/null")
    before = _fds()
    with pytest.raises(ConfigError, match="not a regular file"):
        _start(path)
    with pytest.raises(TransportSecurityError, match="not a regular file"):
        _context(path)
    with pytest.raises(ConfigError):
        _node_context(tmp_path, path)
    assert _fds() == before


@pytest.mark.req("SRS-233")
def test_without_proc_the_ca_file_is_a_typed_refusal_everywhere(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import device_ai.trust_anchors as anchors
    from device_ai.node.transport_security import TransportSecurityError

    bundle = _write(tmp_path / "ca.pem", pems[0])
    _node_context(tmp_path, bundle)  # control: loads with /proc
    monkeypatch.setattr(anchors, "_FD_FOLDER", str(tmp_path / "no-proc" / "self" / "fd"))
    before = _fds()
    with pytest.raises(ConfigError, match="no anonymous memory files"):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="ca.pem cannot be given to OpenSSL"):
        _context(bundle)
    with pytest.raises(ConfigError, match="no anonymous memory files"):
        _node_context(tmp_path, bundle)
    assert _fds() == before


@pytest.mark.req("SRS-234")
def test_descriptors_closed_on_every_path(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    import device_ai.trust_anchors as anchors
    from tests.review.test_review_182 import _crl_only, _version5

    cases = {"pem": pems[0], "der": _der(pems[0]), "junk": b"junk", "crl": _crl_only(tmp_path).read_bytes(),
             "refused-der": _openssl_refused_der(tmp_path, pems[0]).read_bytes(),
             "v5": _version5(tmp_path, pems[0]).read_bytes()}
    before = _fds()
    outcomes = {}
    for name, data in cases.items():
        try:
            anchors.trusting_client_context(_write(tmp_path / f"{name}.pem", data), "x")
            outcomes[name] = "loaded"
        except (ssl.SSLError, ValueError) as exc:
            outcomes[name] = type(exc).__name__
    assert _fds() == before
    assert outcomes["pem"] == outcomes["der"] == "loaded" and outcomes["v5"] == "ValueError"  # 182 D1 fix
    assert outcomes["junk"] == outcomes["crl"] == "ValueError" and outcomes["refused-der"] == "SSLError"


@pytest.mark.req("SRS-234")
def test_a_second_process_sees_no_file_left(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    """No named copy anywhere: a child lists its own TMPDIR after loading (memfd only)."""
    bundle = _write(tmp_path / "ca.pem", pems[0])
    folder = tmp_path / "tmp"
    folder.mkdir()
    code = ("import sys, pathlib; from device_ai.trust_anchors import trusting_client_context as t; "
            "c = t(pathlib.Path(sys.argv[1]), 'x'); print(c.cert_store_stats()['x509'])")
    done = subprocess.run([sys.executable, "-c", code, str(bundle)], env={**os.environ, "TMPDIR": str(folder)},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
    assert not os.listdir(folder) and "Traceback" not in done.stderr
