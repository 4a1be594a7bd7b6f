"""Independent re-review 182 (reviewer helper-182) of SRS-234 and SRS-233 after the fix of review 181 (3f0765f):
a destination's CA bundle and the node's CA file, read only when no other account could change them, the checked
bytes given to OpenSSL's own CA-file reader from an anonymous memory file (memfd, ``cafile=``) and, when that reader
refuses them, read as DER only when the file is exactly one certificate (cryptography's
``load_der_x509_certificate``); without /proc a private temporary file replaces the memory file. helper-182 wrote
none of the code, texts or tests reviewed. Read: both texts, ``git show 1148b11 3f0765f``, trust_anchors.py,
node/transport_security.py, node/server.py (tls_context), the docstrings of reviews 178, 180 and 181. OpenSSL 3.0.19,
cryptography 50.0.2, Python 3.11. "cafile=" is ``ssl.create_default_context(cafile=...)`` on the same bytes.

SRS-234 - DEFECT (D1, D2, D3, all low). SRS-233 - DEFECT (D1, D2 and D3 reach the node's CA file by the same code).

D1 - an untyped error escapes at start, at send and in the node (new with 3f0765f): ``_one_der_certificate`` catches
ValueError only, but cryptography raises ``x509.InvalidVersion`` (a subclass of Exception, not ValueError) for a DER
certificate whose version field is not v1-v3. A one-certificate DER file with version INTEGER 5 (OpenSSL reads it:
``cadata=`` trusts it): ``device-ai serve`` exits 70 with DAI-999 "internal error (InvalidVersion ...)" and a
traceback, not 2/DAI-100 naming the file; a send records "internal error: InvalidVersion" (file not named);
tls_context raises InvalidVersion, not ConfigError. Fail-closed (nothing trusted), but the texts say "a typed refusal
naming the file". Fix: catch Exception (or ValueError and x509.InvalidVersion) in ``_one_der_certificate``.

D2 - a file that holds no certificate loads (texts vs behaviour): a PEM file holding only a CRL is read by
OpenSSL's reader (it counts CRLs), so start, send and the node accept it and trust nothing - the same as cafile=,
never the system store (fail-closed), but SRS-234 says "one that holds no certificate is a typed refusal naming the
file" and SRS-233 "a file that is not a certificate ... is a typed refusal"; the operator learns only from
handshakes failing. Review 181 noted it (N2) without a fix. Fix: refuse when ``cert_store_stats()["x509"]`` is 0
after loading, or say it in the texts.

D3 - without /proc the bytes loaded are not the bytes checked when TMPDIR is one other accounts can write (no sticky
bit): the temporary file is named by path and opened again by OpenSSL, in a folder the device never checks; whoever
can rename in that folder replaces it between the write and OpenSSL's open (simulated here by renaming another CA's
file over it right after the write, as another account of that folder could): the device trusts ["other-ca"] from a
bundle holding ["ca"] (fail-open against "the bytes checked being the bytes loaded"). Very low: needs /proc absent
AND such a TMPDIR. Fix: refuse (typed) when the temporary folder is writable by group/others without the sticky bit
or not owned by the device's account or root - or refuse without /proc.

What holds (this file's tests):
- DER: one certificate loads [ca] at start, send and node; DER + one byte, DER + DER, BER (indefinite outer length)
  and a truncated DER are typed refusals (no system store), as cafile= and a strict reading refuse them.
- PEM corners (CA + CRL, CRL + CA, TRUSTED CERTIFICATE, key + CA, CRLF, text around, truncated last block, truncated
  CRL, 2 MB of text before one CA; DER + PEM and PEM + DER read as cafile= reads them) trust exactly what cafile= trusts at start, send and node, or are refused where it refuses.
- Descriptors the same after every path including D1's exception; the temporary-file path
  (no memfd): mode 0600, in TMPDIR, removed after success, PEM failure + DER, both failing and an exception.
- Errors: a junk bundle - serve exits 2 DAI-100 naming the file; send a TransportSecurityError naming it.
- Both texts name OpenSSL's reader, memory and "exactly one certificate".

Figures: this file 26 passed, 7 xfailed (12.9 s, -n 2); brief's regression set (test_destination_ca_bundle,
test_tls_ca_file, test_tls, reviews 153, 156, 173, 175, 177, 178, 180, 181): 284 passed (31.5 s, -n 2).

Defects are strict xfails asserting the behaviour the texts give, beside a pin of today's behaviour and a control
that passes; holds are plain tests. Scratch files only in tmp_path. Record: not written (defects found).
"""

from __future__ import annotations

import datetime
import json
import os
import ssl
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import CLI, _context, _free_port, _pki, _start, _subjects
from tests.review.test_review_177 import _write
from tests.review.test_review_180 import _node_subjects


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki182"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))


def _cafile(path: Path) -> list[str] | None:
    try:
        return _subjects(ssl.create_default_context(cafile=str(path)))
    except ssl.SSLError:
        return None


def _at_start_and_send(path: Path) -> list[str] | None:
    """What the device trusts from the bundle (None: refused at start and at send, both typed)."""
    from device_ai.node.transport_security import TransportSecurityError

    try:
        _start(path)
    except ConfigError as exc:
        assert path.name in exc.message
        with pytest.raises(TransportSecurityError, match=path.name):
            _context(path)
        return None
    return _subjects(_context(path))


def _node(tmp_path: Path, path: Path) -> list[str] | None:
    try:
        return _node_subjects(tmp_path, path)
    except ConfigError as exc:
        assert "node_tls_ca_file" in exc.hint
        return None


def _serve(tmp_path: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    destination = [{"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                    "transport": {"tls": True, "ca_bundle": str(bundle)}}]
    env = {**os.environ, "DEVICE_AI_HOME": str(tmp_path / "home"), "DEVICE_AI_NODE_PORT": str(_free_port()),
           "DEVICE_AI_NODE_ALLOWED_CALLING_AETS": "TESTSCU", "DEVICE_AI_NODE_MIN_FREE_MB": "0",
           "DEVICE_AI_DEMONSTRATION_MODE": "1", "DEVICE_AI_NODE_DESTINATIONS": json.dumps(destination)}
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "device_ai.cli"]
    return subprocess.run([*command, "serve"], env=env, capture_output=True, text=True, timeout=40, check=False)


def _send_error(tmp_path: Path, bundle: Path) -> str:
    """One send through the queue (nothing listens): the pending entry's last_error; nothing marked sent."""
    from device_ai.config import Settings
    from device_ai.node.outbound import Outbound, ResultFile
    from tests.review.test_review_173 import _destination

    destination, _security = _destination(bundle, "dimse", port=_free_port())
    root = tmp_path / "node"
    result = root / "work" / "segmentation.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"result")
    queue = Outbound(root, Settings(node_destinations=[destination], node_send_max_attempts=5))
    queue.enqueue("k", study="s", series="r", generation=1, files=[ResultFile("seg", result, "1.2", "2.25.182")])
    assert queue.send_due() == 0
    assert not list((root / "outbound" / "sent").rglob("*.json"))
    [entry] = [json.loads(p.read_text()) for p in (root / "outbound" / "pending").rglob("*.json")]
    return entry["last_error"]


# === D1: a DER certificate cryptography reads as an invalid version escapes untyped ===============================

def _version5(tmp_path: Path, ca: bytes, version: int = 5) -> Path:
    der = _der(ca)
    field = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3)
    assert der.count(field) >= 1 and der.index(field) < 12
    at = der.index(field)
    return _write(tmp_path / f"version{version}.der", der[:at] + b"\xa0\x03\x02\x01" + bytes([version]) + der[at + 5:])


@pytest.mark.req("SRS-234")
def test_d1_a_der_certificate_of_an_invalid_version_is_a_typed_refusal_at_start_and_send(
        tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    bundle = _version5(tmp_path, pems[0])
    assert _at_start_and_send(bundle) in (None, ["ca"])


@pytest.mark.req("SRS-234")
def test_d1_serve_with_it_exits_2_naming_the_file(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    served = _serve(tmp_path, _version5(tmp_path, pems[0]))
    assert served.returncode == 2 and "DAI-100" in served.stderr and "version5.der" in served.stderr


@pytest.mark.req("SRS-234")
def test_d1_a_send_with_it_is_a_failed_attempt_naming_the_file(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    assert "version5.der" in _send_error(tmp_path, _version5(tmp_path, pems[0]))


@pytest.mark.req("SRS-233")
def test_d1_the_node_refuses_it_typed(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    assert _node(tmp_path, _version5(tmp_path, pems[0])) in (None, ["ca"])


@pytest.mark.req("SRS-234")
def test_d1_pin_invalid_version_escapes_everywhere_and_serve_reports_an_internal_error(
        tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    # lead, 2026-12-07 (session 3): fixed - not one DER certificate cryptography reads, so a typed refusal
    # everywhere (was: x509.InvalidVersion escaped; the send said "internal error: InvalidVersion"; serve exit 70)
    bundle = _version5(tmp_path, pems[0])
    assert _at_start_and_send(bundle) is None and _node(tmp_path, bundle) is None
    assert "version5.der" in _send_error(tmp_path, bundle)
    served = _serve(tmp_path, bundle)
    assert served.returncode == 2 and "DAI-100" in served.stderr and "InvalidVersion" not in served.stderr


@pytest.mark.req("SRS-234")
def test_d1_control_openssl_reads_it_and_a_v3_der_copy_loads(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    bundle = _version5(tmp_path, pems[0])
    assert _cafile(bundle) is None  # not PEM
    assert _subjects(ssl.create_default_context(cadata=bundle.read_bytes())) == ["ca"]  # OpenSSL's DER reader
    v3 = _version5(tmp_path, pems[0], version=2)
    assert _at_start_and_send(v3) == ["ca"] and _node(tmp_path, v3) == ["ca"]


# === D2: a file with no certificate (a lone CRL) loads ==============================================================

def _crl_only(tmp_path: Path) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-crl-issuer")]))
           .last_update(now).next_update(now + datetime.timedelta(days=30))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    return _write(tmp_path / "crl-only.pem", crl.public_bytes(serialization.Encoding.PEM))


@pytest.mark.req("SRS-234")
def test_d2_a_bundle_with_no_certificate_is_a_typed_refusal_at_start_and_send(tmp_path: Path) -> None:
    assert _at_start_and_send(_crl_only(tmp_path)) is None


@pytest.mark.req("SRS-233")
def test_d2_a_node_ca_file_with_no_certificate_is_a_typed_refusal(tmp_path: Path) -> None:
    assert _node(tmp_path, _crl_only(tmp_path)) is None


@pytest.mark.req("SRS-234")
def test_d2_pin_a_crl_only_file_loads_and_trusts_nothing_as_cafile(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): fixed - at least one certificate must load (was: loaded, trusting nothing)
    bundle = _crl_only(tmp_path)
    assert _cafile(bundle) == [] and _at_start_and_send(bundle) is None and _node(tmp_path, bundle) is None


@pytest.mark.req("SRS-234")
def test_d2_control_a_key_only_or_junk_file_is_refused(tmp_path: Path) -> None:
    from tests.node.test_tls import _certificate

    _certificate(tmp_path, "leaf", _certificate(tmp_path, "leaf-ca", ca=True))
    key_only = _write(tmp_path / "key-only.pem", (tmp_path / "leaf.key").read_bytes())
    assert _at_start_and_send(key_only) is None and _node(tmp_path, key_only) is None
    assert _at_start_and_send(_write(tmp_path / "junk.pem", b"no certificate here\n")) is None


# === D3: without /proc, a TMPDIR other accounts can write ===========================================================

def _no_proc_with_a_replacement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other: bytes, *,
                                shared: bool = True) -> Path:
    """No memfd (so the temporary file is used), TMPDIR a folder open to all (0777, no sticky bit), and the file
    replaced by another CA's right after the device wrote it - what any account that can write there could do."""
    folder = tmp_path / "shared-tmp"
    folder.mkdir()
    folder.chmod(0o777)
    planted = folder / "planted"
    if shared:
        monkeypatch.delattr(os, "memfd_create")
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
    real = os.write

    def write_then_replace(descriptor: int, data: bytes) -> int:
        written = real(descriptor, data)
        name = os.readlink(f"/proc/self/fd/{descriptor}")
        if "trust-anchors" in name:  # the device's file: another account renames its own over it
            planted.write_bytes(other)
            if name.startswith(str(folder)):  # a named file in the open folder (a memfd has no such name)
                os.rename(planted, name)
        return written

    monkeypatch.setattr(os, "write", write_then_replace)
    return folder


@pytest.mark.req("SRS-234")
def test_d3_without_proc_an_open_tmpdir_cannot_change_what_is_trusted(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    bundle = _write(tmp_path / "ca.pem", pems[0])
    _no_proc_with_a_replacement(tmp_path, monkeypatch, pems[1])
    try:
        trusted = _subjects(_context(bundle))
    except TransportSecurityError:
        trusted = None  # refusing such a folder is a fix too
    assert trusted in (None, ["ca"])


@pytest.mark.req("SRS-234")
def test_d3_pin_the_device_trusts_the_replacement(tmp_path: Path, pems: tuple[bytes, bytes],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # lead, 2026-12-07 (session 3): fixed - without memfd the CA file is refused, no temporary file is made (was:
    # the replacement, ["other-ca"], trusted)
    from device_ai.node.transport_security import TransportSecurityError

    bundle = _write(tmp_path / "ca.pem", pems[0])
    folder = _no_proc_with_a_replacement(tmp_path, monkeypatch, pems[1])
    with pytest.raises(TransportSecurityError, match="no anonymous memory files"):
        _context(bundle)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 and not os.listdir(folder)


@pytest.mark.req("SRS-234")
def test_d3_control_with_the_memory_file_the_same_replacement_has_no_name_to_hit(
        tmp_path: Path, pems: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = _write(tmp_path / "ca.pem", pems[0])
    _no_proc_with_a_replacement(tmp_path, monkeypatch, pems[1], shared=False)
    assert _subjects(_context(bundle)) == ["ca"]


# === holds: DER ===================================================================================================

def _der_cases(ca: bytes, other: bytes) -> dict[str, bytes]:
    der = _der(ca)
    assert der[:2] == b"\x30\x82"
    body = der[4:]
    return {"der-plus-byte": der + b"\x00", "der-plus-der": der + _der(other), "der-truncated": der[:-1],
            "ber-indefinite": b"\x30\x80" + body + b"\x00\x00", "der-plus-pem": der + b"\n" + other,
            "pem-plus-der": ca + der}


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["der-plus-byte", "der-plus-der", "der-truncated", "ber-indefinite", "der-plus-pem",
                                  "pem-plus-der"])
def test_der_corners_trust_at_most_what_cafile_or_one_der_certificate_gives(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                             case: str) -> None:
    bundle = _write(tmp_path / f"{case}.pem", _der_cases(*pems)[case])
    expected = _cafile(bundle)  # cafile= reads the PEM parts (der-plus-pem: other-ca; pem-plus-der: ca)
    assert _at_start_and_send(bundle) == expected
    assert _node(tmp_path, bundle) == expected


@pytest.mark.req("SRS-233")
def test_one_der_certificate_loads_everywhere(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    bundle = _write(tmp_path / "ca.der", _der(pems[0]))
    assert _cafile(bundle) is None and _at_start_and_send(bundle) == ["ca"] and _node(tmp_path, bundle) == ["ca"]


# === holds: PEM corners against cafile= =============================================================================

def _pem_cases(tmp_path: Path, ca: bytes, other: bytes) -> dict[str, bytes]:
    from tests.node.test_tls import _certificate

    _certificate(tmp_path, "leaf", _certificate(tmp_path, "leaf-ca", ca=True))
    key = (tmp_path / "leaf.key").read_bytes()
    crl = _crl_only(tmp_path).read_bytes()
    trusted = ca.replace(b"BEGIN CERTIFICATE", b"BEGIN TRUSTED CERTIFICATE").replace(b"END CERTIFICATE",
                                                                                       b"END TRUSTED CERTIFICATE")
    return {"ca-crl": ca + crl, "crl-ca": crl + other, "trusted": trusted, "key-ca": key + ca,
            "crlf": (ca + other).replace(b"\n", b"\r\n"), "text-around": b"# site CAs\n" + ca + b"x\n" + other,
            "truncated-last": ca + other[: len(other) // 2], "big-text": b"y" * 2_000_000 + b"\n" + ca,
            "crl-truncated": ca + crl[: len(crl) // 2]}


_PEM = ["ca-crl", "crl-ca", "trusted", "key-ca", "crlf", "text-around", "truncated-last", "big-text", "crl-truncated"]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", _PEM)
def test_pem_corners_trust_exactly_what_cafile_trusts(tmp_path: Path, pems: tuple[bytes, bytes], case: str) -> None:
    bundle = _write(tmp_path / f"{case}.pem", _pem_cases(tmp_path, *pems)[case])
    expected = _cafile(bundle)
    assert _at_start_and_send(bundle) == expected
    assert _node(tmp_path, bundle) == expected


# === holds: memory file, temporary file, errors, texts ==============================================================

def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.req("SRS-234")
def test_descriptors_closed_and_nothing_left_on_every_path_also_d1s(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    import device_ai.trust_anchors as anchors

    ca, _other = pems
    temporary = set(os.listdir(tempfile.gettempdir()))
    before = _fds()
    cases = {"pem": ca, "der": _der(ca), "junk": b"junk", "v5": _version5(tmp_path, ca).read_bytes()}
    for name, data in cases.items():
        try:
            anchors.trusting_client_context(_write(tmp_path / f"{name}.pem", data), "x")
        except Exception:  # noqa: BLE001 - D1's InvalidVersion included
            pass
    assert _fds() == before
    assert not {name for name in set(os.listdir(tempfile.gettempdir())) - temporary if "trust-anchors" in name}


@pytest.mark.req("SRS-234")
def test_the_temporary_file_without_memfd_is_private_and_removed_on_every_path(
        tmp_path: Path, pems: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    # lead, 2026-12-07 (session 3): there is no temporary file any more (D3's fix): without memfd the CA file is a
    # typed refusal and nothing is written (was: a 0600 file in TMPDIR, removed on every path)
    import device_ai.trust_anchors as anchors

    folder = tmp_path / "private-tmp"
    folder.mkdir(mode=0o700)
    monkeypatch.delattr(os, "memfd_create")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    before = _fds()
    with pytest.raises(ValueError, match="a.pem cannot be given to OpenSSL as checked"):
        anchors.trusting_client_context(_write(tmp_path / "a.pem", pems[0]), "x")
    assert _fds() == before and not os.listdir(folder)


@pytest.mark.req("SRS-234")
def test_serve_with_a_junk_bundle_exits_2_and_a_send_names_the_file(tmp_path: Path) -> None:
    bundle = _write(tmp_path / "junk-bundle.pem", b"not a certificate\n")
    served = _serve(tmp_path, bundle)
    assert served.returncode == 2, served.stderr
    assert "DAI-100" in served.stderr and "junk-bundle.pem" in served.stderr and "Traceback" not in served.stderr
    assert "junk-bundle.pem" in _send_error(tmp_path, bundle)


@pytest.mark.req("SRS-233")
def test_both_texts_name_openssls_reader_memory_and_exactly_one_der_certificate() -> None:
    from tests.review.test_review_180 import _texts

    texts = _texts()
    assert "OpenSSL''s own CA-file reader" in texts["SRS-234"] or "OpenSSL's own CA-file reader" in texts["SRS-234"]
    # lead, 2026-12-07 (session 3): 077a6c1 says "from an anonymous memory file" (review 183 D1; was: "from memory")
    assert "from an anonymous memory file" in texts["SRS-234"] and "exactly one certificate" in texts["SRS-234"]
    assert "holds no certificate is a typed refusal" in texts["SRS-234"]  # what D2 contradicts
    assert "as SRS-234 reads a CA bundle" in texts["SRS-233"]
