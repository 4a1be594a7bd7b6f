"""Independent re-review 185 (reviewer helper-185) of SRS-234 and SRS-233 after the fix of review 184 (7856c87):
files the configuration names read to 16 MiB at most (config.MAX_OWNED_FILE_BYTES), a larger one a typed refusal;
the checked bytes given to OpenSSL's own CA-file reader (``cafile=``) from an anonymous memory file, DER only when
the file is exactly one certificate, at least one certificate loaded, no /proc a typed refusal. helper-185 wrote
none of the code, texts or tests reviewed. Read: both texts, ``git show 077a6c1``, ``b3da890``, ``7856c87``,
trust_anchors.py, config._read_owned, node/transport_security.py, node/server.py (tls_context), reviews 180-184.
"cafile=" is ``ssl.create_default_context(cafile=...)`` on the same bytes.

SRS-234 - DEFECT (D1, low, fail-closed; text against behaviour). SRS-233 - DEFECT (D1, the same read and the same
words). Trust holds in every case tried: no fail-open, never the system store, descriptors closed.

D1 - "a file larger than 16 MiB" is not "refused without being read". Both texts: "A path that is not a regular
file (a FIFO, a device) is refused without being read, and so is a file larger than 16 MiB"; the refusal message
says "is larger than 16 MiB; it is not read", and 7856c87's own note in review 183 says "refused unread". But
config._read_owned reads MAX_OWNED_FILE_BYTES + 1 bytes first and only then compares fstat's st_size: a sparse
4 GiB CA file costs 16 MiB + 1 bytes of reads (the process's /proc/self/io rchar) before the refusal, at start, at
every send and at the node; review 184's suggested fix was "fstat before reading, so a sparse file is never read".
Control: a 32 MiB file writable by others, refused on fstat's mode, is read not at all. Fail-closed, the refusal is
typed; the consequence is the text (and the message) stating what does not happen, plus 16 MiB of reads per
refused send (and a read error or a stalled medium on such a file shows instead of the size refusal). Fix: refuse
on ``info.st_size > MAX_OWNED_FILE_BYTES`` before the read (keep the bounded read for a file that grows), or say
"refused after reading at most 16 MiB".

N1 (note, holds) - a DER file that is exactly one certificate carrying a PEM block of another CA inside an
extension is not "refused" by OpenSSL's PEM reader: it trusts the embedded CA, not the DER certificate - exactly as
cafile= does (equal stores at start, send and node). Only the file's owner or root can make such a file.

What holds (start = check_transport_files, send = client_context, node = tls_context):
- The whole store (cert_store_stats and every CA, DER) equals cafile='s at start, send and node for review 183's
  cases (leaf only, expired CA, not-yet-valid CA, CA + leaf, CA + CRL, 15 MB text then CA), a file of exactly
  16 MiB whose CA is its last bytes, and N1's DER.
- A file of 16 MiB + 1 bytes with a valid CA first is a typed refusal naming the file at start (ConfigError), at
  send (TransportSecurityError), at the node (ConfigError naming node_tls_ca_file); ``device-ai serve`` exits 2
  with DAI-100 naming the file, no traceback; a send is a failed attempt naming it, nothing sent.
- Descriptors unchanged after loads and refusals (16 MiB + 1, sparse 4 GiB, FIFO, folder, junk, DER, PEM).
- Texts: SRS-234 names the 16 MiB limit, OpenSSL's reader, the anonymous memory file, the /proc refusal, DER
  "only when it is exactly one certificate"; SRS-233 names the 16 MiB limit and reads "as SRS-234 reads a CA bundle".

Figures: this file 9 passed, 2 xfailed (-n 2, 9 s); with _read_owned refusing on st_size before the read (run in
a scratch process, the tree untouched) both xfails pass and the pin fails. The brief's regression set
(test_destination_ca_bundle, test_tls_ca_file, test_tls, reviews 153, 156, 173, 175, 177, 178, 180-184): 359 passed
(-n 2, 76 s).
Defects are strict xfails asserting what the texts say, beside a pin of today's state and a control that passes;
holds are plain tests. Scratch files only in tmp_path. Record: not written (defect found).
"""

from __future__ import annotations

import datetime
import os
import ssl
from pathlib import Path

import pytest
import yaml

from device_ai.config import MAX_OWNED_FILE_BYTES, read_owned_file
from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _pki, _start
from tests.review.test_review_177 import _write
from tests.review.test_review_183 import _cafile, _certificate, _everywhere, _fds, _node_cafile, _node_context, _store

ROOT = Path(__file__).resolve().parents[2]
_HUGE = 4 * 1024 ** 3  # sparse: no disk used


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki185"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _sparse(path: Path, size: int, mode: int = 0o644) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    path.chmod(mode)
    return path


def _rchar() -> int:
    with open("/proc/self/io") as handle:  # noqa: PTH123
        return next(int(line.split()[1]) for line in handle if line.startswith("rchar"))


def _bytes_read_refusing(path: Path) -> tuple[int, str]:
    before = _rchar()
    with pytest.raises(ConfigError) as refused:
        read_owned_file(path, "transport.ca_bundle")
    return _rchar() - before, refused.value.message


needs_io = pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/self/io")


# === D1: a file larger than 16 MiB is read (16 MiB + 1 bytes) before it is refused =================================

@needs_io
@pytest.mark.req("SRS-234")
def test_d1_a_file_larger_than_16_mib_is_refused_without_being_read(tmp_path: Path) -> None:
    read, message = _bytes_read_refusing(_sparse(tmp_path / "huge.pem", _HUGE))
    assert "larger than 16 MiB" in message
    assert read < 1024 * 1024


@needs_io
@pytest.mark.req("SRS-233")
def test_d1_the_node_refuses_a_large_ca_file_without_reading_it(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    _node_context(tmp_path, _write(tmp_path / "ca.pem", pems[0]))  # imports and the server's files made beforehand
    huge = _sparse(tmp_path / "huge.pem", _HUGE)
    before = _rchar()
    with pytest.raises(ConfigError, match="node_tls_ca_file"):
        _node_context(tmp_path, huge)
    assert _rchar() - before < 1024 * 1024


@needs_io
@pytest.mark.req("SRS-234")
def test_d1_pin_16_mib_and_more_read_while_the_message_says_not_read(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): fixed - refused on the size fstat gives, before any read (was: read >= 16 MiB)
    read, message = _bytes_read_refusing(_sparse(tmp_path / "huge.pem", _HUGE))
    assert message.endswith("is larger than 16 MiB; it is not read")
    assert read < MAX_OWNED_FILE_BYTES // 16


@needs_io
@pytest.mark.req("SRS-234")
def test_d1_control_a_large_file_refused_on_its_mode_is_not_read(tmp_path: Path) -> None:
    read, message = _bytes_read_refusing(_sparse(tmp_path / "open.pem", 32 * 1024 * 1024, 0o666))
    assert "writable by other accounts" in message
    assert read < 1024 * 1024


# === holds: the whole store equals cafile='s ======================================================================

def _der_with_embedded_pem(path: Path, inner: bytes) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-outer-ca")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(185).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.185"),
                                                             b"\n" + inner), critical=False)
                   .sign(key, hashes.SHA256()))
    return _write(path, certificate.public_bytes(serialization.Encoding.DER))


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["exactly-16-mib-ca-last", "der-with-embedded-pem"])
def test_the_whole_store_is_cafiles_at_start_send_and_node(tmp_path: Path, pems: tuple[bytes, bytes],
                                                            case: str) -> None:
    if case == "exactly-16-mib-ca-last":
        ca = pems[0]
        bundle = _write(tmp_path / f"{case}.pem", b"z" * (MAX_OWNED_FILE_BYTES - len(ca) - 1) + b"\n" + ca)
        assert bundle.stat().st_size == MAX_OWNED_FILE_BYTES
    else:
        bundle = _der_with_embedded_pem(tmp_path / f"{case}.der", _certificate("fake-embedded-ca", ca=True)[2])
    expected = _cafile(bundle)
    assert expected is not None and expected[0]["x509_ca"] == 1
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected
    assert node == _node_cafile(bundle)


@pytest.mark.req("SRS-234")
def test_review_183s_cases_still_equal_cafile(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    from tests.review.test_review_182 import _crl_only
    from tests.review.test_review_183 import _cases

    cases = {**_cases(pems[0]), "ca-and-crl": pems[0] + _crl_only(tmp_path).read_bytes()}
    for name, data in cases.items():
        bundle = _write(tmp_path / f"{name}.pem", data)
        expected = _cafile(bundle)
        assert expected is not None and expected[0]["x509"] >= 1, name
        device, node, _ = _everywhere(tmp_path, bundle)
        assert device == expected, name
        assert node == _node_cafile(bundle), name


@pytest.mark.req("SRS-234")
def test_16_mib_and_one_byte_with_a_good_ca_is_a_typed_refusal_at_start_send_and_node(
        tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    bundle = _write(tmp_path / "over.pem", pems[0] + b"\n" + b"z" * (MAX_OWNED_FILE_BYTES - len(pems[0])))
    assert bundle.stat().st_size == MAX_OWNED_FILE_BYTES + 1
    with pytest.raises(ConfigError, match="over.pem is larger than 16 MiB"):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="over.pem is larger than 16 MiB"):
        _context(bundle)
    with pytest.raises(ConfigError, match="node_tls_ca_file .*over.pem is larger than 16 MiB"):
        _node_context(tmp_path, bundle)


@pytest.mark.req("SRS-234")
def test_serve_and_a_send_with_it_are_typed_and_name_the_file(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    from tests.review.test_review_182 import _send_error, _serve

    bundle = _write(tmp_path / "over.pem", pems[0] + b"\n" + b"z" * (MAX_OWNED_FILE_BYTES - len(pems[0])))
    (tmp_path / "serve").mkdir()
    done = _serve(tmp_path / "serve", bundle)
    assert done.returncode == 2 and "DAI-100" in done.stderr and "over.pem" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "send").mkdir()
    assert "over.pem is larger than 16 MiB" in _send_error(tmp_path / "send", bundle)


@pytest.mark.req("SRS-233")
def test_descriptors_closed_on_every_path(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    from device_ai.trust_anchors import trusting_client_context
    from tests.review.test_review_182 import _der

    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo, 0o644)
    (tmp_path / "folder.pem").mkdir()
    paths = [_write(tmp_path / "pem.pem", pems[0]), _write(tmp_path / "der.pem", _der(pems[0])),
             _write(tmp_path / "junk.pem", b"junk"), _sparse(tmp_path / "huge.pem", _HUGE),
             _write(tmp_path / "over.pem", b"z" * (MAX_OWNED_FILE_BYTES + 1)), fifo, tmp_path / "folder.pem"]
    before = _fds()
    outcomes = []
    for path in paths:
        try:
            outcomes.append(_store(trusting_client_context(path, "x"))[0]["x509_ca"])
        except (ConfigError, ValueError, ssl.SSLError) as exc:
            outcomes.append(type(exc).__name__)
        try:
            _node_context(tmp_path, path)
        except ConfigError:
            pass
    assert _fds() == before
    assert outcomes == [1, 1, "ValueError", "ConfigError", "ConfigError", "ConfigError", "ConfigError"]


# === holds: the texts ==============================================================================================

@pytest.mark.req("SRS-233")
def test_both_texts_say_what_is_refused_and_what_loads() -> None:
    requirements = yaml.safe_load((ROOT / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))[
        "software_requirements"]
    texts = {r["id"]: " ".join(r["text"].split()) for r in requirements if r["id"] in ("SRS-233", "SRS-234")}
    for text in texts.values():
        assert "is refused without being read, and so is a file larger than 16 MiB" in text
    assert "OpenSSL's own CA-file reader reads the bytes checked, from an anonymous memory file" in texts["SRS-234"]
    assert "without one, on a system without /proc, the file is refused" in texts["SRS-234"]
    assert "read as DER only when it is exactly one certificate" in texts["SRS-234"]
    assert "one that holds no certificate is a typed refusal naming the file" in texts["SRS-234"]
    assert "as SRS-234 reads a CA bundle" in texts["SRS-233"]
    assert MAX_OWNED_FILE_BYTES == 16 * 1024 * 1024
